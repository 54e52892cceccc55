//! `tracecraft-hook share`: render a session's page (see `html`) into the store, outside
//! the session layout, and hand out a link to it.
//!
//! Shared pages live at `<project>/shared/<session-id>-<random>.html` (never under
//! `sessions/`, which tracecraft reads as transcripts); `<session-id>-<random>` is the
//! share's name. On S3 the page is uploaded as it renders (`Content-Type: text/html;
//! charset=utf-8`) and the link is a presigned GET URL, valid for `--expires` (at most
//! 7 days, the SigV4 limit): anyone holding it can read the page until then, and deleting
//! the object (`--revoke`) kills it earlier. On the embedded local store the page is a file
//! under the store and the link is its `file://` URL (it does not expire).
//!
//! `--revoke ID` takes a share's name (or its key, or the link itself), or a session id,
//! which revokes every share of that session.

use std::io::{self, Write};
use std::time::Duration;

use clap::Args;

use super::page::{self, Options};
use super::{emit, open, project_dir};
use crate::base::error::{Error, Result};
use crate::session::catalog::Catalog;
use crate::session::layout::validate_id;
use crate::store::{Store, Upload};

/// The longest a presigned S3 URL can be valid (SigV4): 7 days.
pub const MAX_EXPIRES: Duration = Duration::from_secs(7 * 24 * 3600);
/// The Content-Type shared pages are stored with.
pub const CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// Share a session as a web page: upload it and print a link anyone can open.
///
/// Renders the session like `html`, uploads the page to
/// `<project>/shared/<session-id>-<random>.html` in the bucket (outside the session layout)
/// and prints a presigned URL valid for --expires (default and maximum 7 days). ANYONE WITH
/// THE LINK CAN READ THE (REDACTED) SESSION UNTIL IT EXPIRES; `share --revoke` deletes the
/// page, which kills the link at once. On the embedded local store the page is written under
/// the store and its file:// path is printed.
///
/// `--list` shows the shared pages (name, session, created, size, key). `--revoke ID` deletes
/// one: ID is a share's name as `--list` shows it (or its key, or the link), or a session
/// id, which deletes every share of that session.
#[derive(Debug, Args)]
pub struct ShareArgs {
    /// Session id, or a prefix that matches exactly one session.
    #[arg(value_name = "ID", required_unless_present_any = ["list", "revoke"], conflicts_with_all = ["list", "revoke"])]
    pub id: Option<String>,
    /// How long the link works: e.g. 30m, 12h, 3d (default and maximum: 7d).
    #[arg(long, value_name = "DURATION", conflicts_with_all = ["list", "revoke"])]
    pub expires: Option<String>,
    /// Include the session's subagents inside the tool calls that started them.
    #[arg(long, conflicts_with_all = ["list", "revoke"])]
    pub subagents: bool,
    /// List the shared pages.
    #[arg(long, conflicts_with = "revoke")]
    pub list: bool,
    /// Delete a shared page (its name, key or link) or every share of a session id.
    #[arg(long, value_name = "ID")]
    pub revoke: Option<String>,
    /// Project directory whose configuration selects the store (default: current directory).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBufArg>,
}

type PathBufArg = std::path::PathBuf;

/// Parse `30m`, `12h`, `3d`, `1w`, `90s` (or plain seconds); refuse more than 7 days.
pub fn parse_expires(s: &str) -> Result<Duration> {
    let t = s.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = t.split_at(digits);
    let mult: u64 = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1,
        "m" | "min" | "mins" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 7 * 86_400,
        _ => 0,
    };
    let n: u64 = num.parse().unwrap_or(0);
    if digits == 0 || mult == 0 || n == 0 {
        return Err(Error::Invalid(format!(
            "--expires {s:?}: give a duration like 30m, 12h or 3d (s, m, h, d, w; at most 7d)"
        )));
    }
    let secs = n.saturating_mul(mult);
    if secs > MAX_EXPIRES.as_secs() {
        return Err(Error::Invalid(format!(
            "--expires {s}: a shared link can be valid for at most 7 days (the longest a presigned \
             S3 URL lives); share again later for a new link"
        )));
    }
    Ok(Duration::from_secs(secs))
}

/// `<project>/shared/`
pub fn shared_prefix(project: &str) -> String {
    format!("{project}/shared/")
}

/// A shared page found in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub key: String,
    /// `<session-id>-<random>`
    pub name: String,
    pub session: String,
    pub size: u64,
    pub created: Option<String>,
}

/// Every shared page of the project.
pub fn list_shares(store: &dyn Store, project: &str) -> Result<Vec<Share>> {
    let prefix = shared_prefix(project);
    Ok(store
        .list(&prefix)?
        .into_iter()
        .filter_map(|o| {
            let name = o.key.strip_prefix(&prefix)?.strip_suffix(".html")?.to_string();
            let session = name.rsplit_once('-').map(|(s, _)| s.to_string())?;
            Some(Share {
                key: o.key.clone(),
                name,
                session,
                size: o.size,
                created: o.last_modified.as_deref().map(normalise_time),
            })
        })
        .collect())
}

fn normalise_time(t: &str) -> String {
    let parsed = crate::base::util::parse_rfc3339(t)
        .or_else(|| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc2822).ok());
    parsed.map_or_else(|| t.to_string(), |t| format!("{} UTC", crate::base::util::utc_stamp(t, "-", " ", ":")))
}

/// 12 random hex digits (from the OS; the link's secrecy rests on its signature, this only
/// keeps two shares of one session apart).
fn random_suffix() -> String {
    use std::io::Read;
    let mut b = [0u8; 6];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).is_ok();
    if !ok {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let h = crate::base::util::sha256_hex(format!("{nanos}-{}", std::process::id()).as_bytes());
        return h[..12].to_string();
    }
    crate::base::util::hex(&b)
}

/// A `file://` URL for a local path (bytes outside the unreserved set percent-encoded).
pub fn file_url(path: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut s = String::from("file://");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~') {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// Adapts a store upload to `Write` for the renderer, keeping the store's own error.
struct UploadWriter<'u> {
    up: Box<dyn Upload + 'u>,
    err: Option<Error>,
}

impl Write for UploadWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.up.write(buf) {
            Ok(()) => Ok(buf.len()),
            Err(e) => {
                let msg = e.to_string();
                self.err.get_or_insert(e);
                Err(io::Error::other(msg))
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Run `share`.
pub fn run(a: &ShareArgs) -> Result<()> {
    let dir = project_dir(a.cwd.as_deref())?;
    let ctx = open(&dir)?;
    let store = ctx.store.as_ref();
    let project = ctx.cfg.project.as_str();
    if a.list {
        return list(store, project);
    }
    if let Some(id) = &a.revoke {
        return revoke(store, project, id);
    }
    let ttl = match &a.expires {
        Some(e) => parse_expires(e)?,
        None => MAX_EXPIRES,
    };
    let cat =
        Catalog::new(store, project, ctx.cfg.describe()).with_keys(crate::session::seal::Keys::for_config(&ctx.cfg));
    let session = cat.resolve(a.id.as_deref().unwrap_or_default())?;
    let name = format!("{}-{}", session.id, random_suffix());
    let key = format!("{}{name}.html", shared_prefix(project));
    let mut w = UploadWriter { up: store.upload_typed(&key, CONTENT_TYPE)?, err: None };
    let rendered = page::render(&cat, &session, &Options { subagents: a.subagents, ..Options::default() }, &mut w);
    let done = match rendered {
        Ok(d) => d,
        Err(e) => return Err(w.err.take().unwrap_or(e)),
    };
    w.up.finish()?;
    let summary =
        format!("{} messages, {} tool calls, {}", done.messages, done.tool_calls, page::head::bytes(done.bytes));
    let mut err = io::stderr().lock();
    if cat.keys.sealing() || session.parts.iter().any(|p| crate::session::seal::is_sealed(&p.key)) {
        // Client-side encryption keeps the bucket's operator out; a shared page cannot.
        let _ = writeln!(err, "note: the shared page is NOT encrypted: the bucket's operator can read it too");
    }
    if let Some(url) = store.presign_get(&key, ttl) {
        let until = time::OffsetDateTime::now_utc() + ttl;
        let _ = writeln!(err, "Shared session {} as {key} ({summary}).", session.id);
        emit(&url)?;
        let _ = writeln!(
            err,
            "ANYONE WITH THIS LINK CAN READ THE SESSION (its redacted copy) until it expires, {} UTC (in {}).\n\
             Revoke it earlier with: tracecraft-hook share --revoke {name}",
            crate::base::util::utc_stamp(until, "-", " ", ":"),
            page::head::duration(ttl.as_secs() as i64)
        );
        if matches!(&ctx.cfg.backend, crate::config::Backend::S3(s) if s.session_token.is_some()) {
            let _ = writeln!(
                err,
                "note: temporary credentials (session token) are configured: the link stops working when they expire, \
                 possibly sooner."
            );
        }
    } else if let Some(path) = store.local_path(&key) {
        let _ = writeln!(err, "Wrote session {} to the local store ({summary}):", session.id);
        emit(&file_url(&path))?;
        let _ = writeln!(
            err,
            "Anyone who can read this file, or a copy of it, can read the session (its redacted copy). \
             A local file does not expire{}; delete it with: tracecraft-hook share --revoke {name}",
            if a.expires.is_some() { " (--expires applies to bucket links only)" } else { "" }
        );
    } else {
        return Err(Error::Invalid(format!("{} cannot hand out links to {key}", store.describe())));
    }
    Ok(())
}

fn list(store: &dyn Store, project: &str) -> Result<()> {
    let shares = list_shares(store, project)?;
    if shares.is_empty() {
        eprintln!("no shared pages in {} (prefix {})", store.describe(), shared_prefix(project));
        return Ok(());
    }
    let w = shares.iter().map(|s| s.name.len()).max().unwrap_or(4).max(4);
    let ws = shares.iter().map(|s| s.session.len()).max().unwrap_or(7).max(7);
    emit(&format!("{:<w$}  {:<ws$}  {:<23}  {:>10}  KEY", "NAME", "SESSION", "CREATED", "SIZE"))?;
    for s in &shares {
        emit(&format!(
            "{:<w$}  {:<ws$}  {:<23}  {:>10}  {}",
            s.name,
            s.session,
            s.created.as_deref().unwrap_or("-"),
            page::head::bytes(s.size),
            s.key
        ))?;
    }
    Ok(())
}

fn revoke(store: &dyn Store, project: &str, id: &str) -> Result<()> {
    // A link or a key: take the name from its last path segment.
    let raw = id.split(['?', '#']).next().unwrap_or(id);
    let name = raw.rsplit('/').next().unwrap_or(raw);
    let name = name.strip_suffix(".html").unwrap_or(name);
    validate_id(name)
        .map_err(|_| Error::Invalid(format!("--revoke {id:?}: not a share name, key, link or session id")))?;
    let shares = list_shares(store, project)?;
    let hits: Vec<&Share> = match shares.iter().find(|s| s.name == name) {
        Some(s) => vec![s],
        None => shares.iter().filter(|s| s.session == name).collect(),
    };
    if hits.is_empty() {
        return Err(Error::NotFound(format!(
            "no shared page {name:?} (nor shares of a session with that id) under {} in {}; see `tracecraft-hook share --list`",
            shared_prefix(project),
            store.describe()
        )));
    }
    for s in hits {
        store.delete(&s.key)?;
        emit(&format!("revoked {} (deleted {}): its link no longer works", s.name, s.key))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries() {
        assert_eq!(parse_expires("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_expires("12h").unwrap(), Duration::from_secs(43_200));
        assert_eq!(parse_expires("3d").unwrap(), Duration::from_secs(259_200));
        assert_eq!(parse_expires("7d").unwrap(), MAX_EXPIRES);
        assert_eq!(parse_expires("1w").unwrap(), MAX_EXPIRES);
        assert_eq!(parse_expires("90").unwrap(), Duration::from_secs(90));
        for bad in ["8d", "169h", "2w", "604801"] {
            let e = parse_expires(bad).unwrap_err().to_string();
            assert!(e.contains("at most 7 days"), "{bad}: {e}");
        }
        for bad in ["", "0d", "d", "3x", "-1h", "1.5h", "99999999999999999999d"] {
            assert!(parse_expires(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_urls() {
        assert_eq!(file_url(std::path::Path::new("/a b/ü.html")), "file:///a%20b/%C3%BC.html");
    }
}
