//! `init`: write a tracecraft-compatible config file, but only after proving it works.
//!
//! The file is the one the Python `tracecraft` CLI reads (`.tracecraft.json` in the current
//! directory, or `~/.tracecraft/config.json` with `--global`), written atomically with mode
//! 600. Before anything is written the destination is checked end to end: the endpoint
//! answers, the credentials are accepted, the bucket exists (created only on request) and a
//! probe object can be written, read back and deleted. A failed check writes nothing and
//! says what is wrong, naming the endpoint and the bucket.
//!
//! The checks are shared with `doctor` ([`check_bucket`], [`probe_write`]). What `init`
//! deliberately does not do: register the hook in Claude Code (that is `install`), store
//! session tokens (temporary credentials expire; use long-lived keys), or write tracecraft's
//! `agents/<id>.json` record.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde_json::{Map, Value};

use super::{emit, project_dir};
use crate::base::error::{Error, Result};
use crate::base::fsutil::{atomic_write, ensure_private_dir, read_optional};
use crate::base::paths;
use crate::base::util::sha256_hex;
/// An endpoint as messages show it: without any `user:password@`.
pub(crate) use crate::config::display_endpoint as shown_endpoint;
use crate::config::validate_project;
use crate::config::{self, Backend, S3Config};
use crate::store::s3::S3Store;
use crate::store::{Cond, Limits, Store};

/// Write a tracecraft config file (`.tracecraft.json`) after checking that the bucket works.
///
/// Checks, in order, before writing anything: the endpoint answers, the credentials are
/// accepted, the bucket exists (or is created with --create-bucket), and a probe object
/// `<project>/.tracecraft-probe-<random>` can be written, read back and deleted. On any
/// failure nothing is written. Inside a git repository `.tracecraft.json` is added to the
/// repository's `.gitignore` unless it is already ignored. The secret key is never printed.
/// The file written is approved for the hook at once (see `tracecraft-hook trust --help`).
#[derive(Debug, Args)]
pub struct InitArgs {
    /// S3 endpoint URL, e.g. http://127.0.0.1:9000 or https://s3.eu-west-1.amazonaws.com.
    #[arg(long, value_name = "URL")]
    pub endpoint: String,
    /// Bucket name.
    #[arg(long, value_name = "BUCKET")]
    pub bucket: String,
    /// Project prefix in the bucket [default: the current directory's name, with characters
    /// other than A-Z a-z 0-9 . _ - replaced by -].
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,
    /// agent_id recorded in each session's meta.json [default: $USER].
    #[arg(long, value_name = "ID")]
    pub agent: Option<String>,
    /// Region used for signing [default: $AWS_REGION, else us-east-1]; written only if given.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Write ~/.tracecraft/config.json (every project) instead of ./.tracecraft.json.
    #[arg(long)]
    pub global: bool,
    /// Create the bucket if it does not exist.
    #[arg(long)]
    pub create_bucket: bool,
    /// Access key id [default: $AWS_ACCESS_KEY_ID].
    #[arg(long, value_name = "KEY")]
    pub access_key: Option<String>,
    /// Secret key [default: $AWS_SECRET_ACCESS_KEY]. Prefer the environment variable: a
    /// command-line argument is visible to other users in the process list.
    #[arg(long, value_name = "SECRET")]
    pub secret_key: Option<String>,
    /// Replace an existing config file.
    #[arg(long)]
    pub force: bool,
}

/// Timeouts for checks: one attempt each (no retry loop), so a wrong endpoint fails in
/// seconds instead of after the retry budget of a flush.
pub(crate) const CHECK_LIMITS: Limits =
    Limits { connect: Duration::from_secs(5), response: Duration::from_secs(10), retry_budget: Duration::ZERO };

/// What kind of problem a destination check found (lets `doctor` suggest the right fix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// No answer from the endpoint.
    Unreachable,
    /// The server refused the credentials (or their permissions).
    Credentials,
    /// The bucket does not exist.
    MissingBucket,
    /// Anything else (region, permissions on writes, odd server answers).
    Other,
}

/// A failed check: its kind and one sentence naming the endpoint or bucket.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub kind: Kind,
    pub msg: String,
}

/// Turn a store error into a sentence a person can act on.
pub(crate) fn explain(e: &Error, s3: &S3Config) -> Failure {
    let endpoint = &shown_endpoint(&s3.endpoint);
    let bucket = &s3.bucket;
    match e {
        Error::Network { endpoint, msg, .. } => {
            Failure { kind: Kind::Unreachable, msg: format!("cannot reach {endpoint} ({})", network_reason(msg)) }
        }
        Error::NotFound(_) => {
            Failure { kind: Kind::MissingBucket, msg: format!("bucket {bucket} does not exist at {endpoint}") }
        }
        Error::NoSuchBucket { .. } => {
            Failure { kind: Kind::MissingBucket, msg: format!("bucket {bucket} does not exist at {endpoint}") }
        }
        Error::Http { status, code, .. } if code == "RequestTimeTooSkewed" => Failure {
            kind: Kind::Other,
            msg: format!(
                "{endpoint} rejects this machine's clock (HTTP {status} {code}): set the clock right \
                 (e.g. timedatectl set-ntp true)"
            ),
        },
        Error::Http { status, code, .. }
            if matches!(status, 301 | 307)
                || matches!(code.as_str(), "PermanentRedirect" | "AuthorizationHeaderMalformed") =>
        {
            Failure {
                kind: Kind::Other,
                msg: format!(
                    "bucket {bucket} at {endpoint} answered HTTP {status}{}: it is probably in another region \
                     (give --region)",
                    if code.is_empty() { String::new() } else { format!(" {code}") }
                ),
            }
        }
        Error::Http { status, code, .. } if code == "InvalidBucketName" => Failure {
            kind: Kind::Other,
            msg: format!(
                "{endpoint} refuses the bucket name {bucket} (HTTP {status} {code}): use 3-63 lowercase letters, \
                 digits, '-' and '.'"
            ),
        },
        Error::Http { status: status @ (401 | 403), code, .. } => {
            let what = match code.as_str() {
                "InvalidAccessKeyId" => "the access key is unknown",
                "SignatureDoesNotMatch" => "the secret key does not match the access key",
                _ => "check the access key, the secret key and that they may use this bucket",
            };
            let code = if code.is_empty() { String::new() } else { format!(" {code}") };
            Failure {
                kind: Kind::Credentials,
                msg: format!("credentials rejected by {endpoint} for bucket {bucket} (HTTP {status}{code}): {what}"),
            }
        }
        other => Failure { kind: Kind::Other, msg: other.to_string() },
    }
}

/// The useful core of a network error message.
fn network_reason(msg: &str) -> String {
    let l = msg.to_ascii_lowercase();
    if l.contains("refused") {
        "connection refused".into()
    } else if l.contains("timed out") || l.contains("timeout") {
        "no answer: timed out".into()
    } else if l.contains("host not found") || l.contains("dns") || l.contains("resolve") {
        "host not found".into()
    } else {
        msg.to_string()
    }
}

/// Check that the endpoint answers, the credentials work and the bucket exists. An error
/// answer to a HEAD carries no body (no error code), so a listing is asked for the code.
pub(crate) fn check_bucket(store: &S3Store, s3: &S3Config, project: &str) -> std::result::Result<(), Failure> {
    match store.check_bucket() {
        Ok(()) => Ok(()),
        Err(e @ Error::Http { .. }) => {
            let detailed = match store.list(&format!("{project}/.tracecraft-probe")) {
                Err(d @ (Error::Http { .. } | Error::NoSuchBucket { .. })) => d,
                _ => e,
            };
            Err(explain(&detailed, s3))
        }
        Err(e) => Err(explain(&e, s3)),
    }
}

/// A random-enough suffix for probe objects (no RNG dependency: time, pid and a counter).
fn probe_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let seed = format!("{now}\n{}\n{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    sha256_hex(seed.as_bytes())[..12].to_string()
}

/// Write, read back and delete `<project>/.tracecraft-probe-<random>`; messages name the
/// store. The probe lives outside `sessions/`, so tracecraft never lists it as a session.
pub(crate) fn probe_write(store: &dyn Store, project: &str) -> std::result::Result<(), String> {
    let key = format!("{project}/.tracecraft-probe-{}", probe_suffix());
    let body = b"tracecraft-hook write probe; safe to delete\n";
    let dest = store.describe();
    store.put(&key, body, &Cond::None).map_err(|e| format!("cannot write to {dest}: {e}"))?;
    let back = store.get(&key);
    let deleted = store.delete(&key);
    match back {
        Ok(Some(b)) if b == body => {}
        Ok(Some(_)) => return Err(format!("{dest} returned different bytes for the probe object {key}")),
        Ok(None) => return Err(format!("{dest} accepted the probe object {key} but cannot find it")),
        Err(e) => return Err(format!("cannot read back from {dest}: {e}")),
    }
    deleted.map_err(|e| format!("cannot delete from {dest} (the probe object {key} stays): {e}"))
}

/// The default project: the directory's name with characters outside the allowed set
/// replaced by `-` (`default` when nothing usable is left).
pub(crate) fn default_project(dir: &Path) -> String {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' })
        .take(100)
        .collect();
    if s.is_empty() || s == "." || s == ".." {
        s = config::DEFAULT_PROJECT.to_string();
    }
    s
}

fn env_nonempty(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// Run `init`.
pub fn run(a: &InitArgs) -> Result<()> {
    let here = project_dir(None)?;
    let path = if a.global { paths::tracecraft_dir()?.join("config.json") } else { here.join(".tracecraft.json") };
    if path.exists() && !a.force {
        return Err(Error::Invalid(format!("{} already exists; use --force to replace it", path.display())));
    }
    if !(a.endpoint.starts_with("http://") || a.endpoint.starts_with("https://")) {
        return Err(Error::Invalid(format!("--endpoint {:?} must start with http:// or https://", a.endpoint)));
    }
    let (project, project_defaulted) = match &a.project {
        Some(p) => {
            validate_project(p)?;
            (p.clone(), false)
        }
        None => (default_project(&here), true),
    };
    let agent = a
        .agent
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| env_nonempty("USER"))
        .or_else(|| env_nonempty("LOGNAME"))
        .unwrap_or_else(|| "agent".into());
    let access_key = a.access_key.clone().filter(|s| !s.is_empty()).or_else(|| env_nonempty("AWS_ACCESS_KEY_ID"));
    let secret_key = a.secret_key.clone().filter(|s| !s.is_empty()).or_else(|| env_nonempty("AWS_SECRET_ACCESS_KEY"));
    let (Some(access_key), Some(secret_key)) = (access_key, secret_key) else {
        return Err(Error::Invalid(
            "S3 credentials required: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or pass --access-key and \
             --secret-key"
                .into(),
        ));
    };

    let mut obj = Map::new();
    obj.insert("backend".into(), "s3".into());
    obj.insert("endpoint".into(), a.endpoint.clone().into());
    obj.insert("bucket".into(), a.bucket.clone().into());
    obj.insert("project".into(), project.clone().into());
    obj.insert("agent_id".into(), agent.clone().into());
    obj.insert("access_key".into(), access_key.clone().into());
    obj.insert("secret_key".into(), secret_key.into());
    if let Some(r) = &a.region {
        obj.insert("region".into(), r.clone().into());
    }

    // Check with exactly what the file will say (only the region may come from the
    // environment, as it will when the hook runs).
    let env = |k: &str| match k {
        "AWS_REGION" | "AWS_DEFAULT_REGION" if a.region.is_none() => env_nonempty(k),
        _ => None,
    };
    let cfg = config::from_parts(None, Some(&obj), &env)?;
    let Backend::S3(s3) = &cfg.backend else {
        return Err(Error::Invalid("internal: init built a non-S3 config".into()));
    };
    let created =
        validate(s3, &project, a.create_bucket).map_err(|msg| Error::Invalid(format!("{msg}; nothing was written")))?;

    let mut bytes = serde_json::to_vec_pretty(&Value::Object(obj)).map_err(|e| Error::Invalid(e.to_string()))?;
    bytes.push(b'\n');
    if let Some(dir) = path.parent() {
        if a.global {
            ensure_private_dir(dir)?;
        }
    }
    atomic_write(&path, &bytes, 0o600)?;

    if project_defaulted {
        emit(&format!("using project {project:?} (the current directory's name; override with --project)"))?;
    }
    emit(&format!(
        "checked {}: reachable, access key {access_key} accepted, bucket {} {}, probe object written, read and deleted",
        shown_endpoint(&s3.endpoint),
        s3.bucket,
        if created { "created" } else { "exists" }
    ))?;
    emit(&format!("wrote {} (mode 600): project {project}, agent {agent}", path.display()))?;
    if !a.global {
        // You wrote it, so you approve it: the hook honours it without a `trust` step.
        crate::base::trust::approve(&path, &bytes)?;
        match ensure_gitignored(&here) {
            Ok(Some(gi)) => emit(&format!("added .tracecraft.json to {} (it holds credentials)", gi.display()))?,
            Ok(None) => {}
            Err(e) => eprintln!("warning: {e}; add .tracecraft.json to .gitignore yourself (it holds credentials)"),
        }
    }
    if let Some(v) = std::env::var_os("TRACECRAFT_CONFIG").filter(|v| !v.is_empty()) {
        eprintln!("warning: TRACECRAFT_CONFIG={} is set and takes precedence over this file", Path::new(&v).display());
    }
    emit("next: `tracecraft-hook install` registers the hook in Claude Code; `tracecraft-hook doctor` checks it all")
}

/// The checks before writing. Returns whether the bucket was created.
fn validate(s3: &S3Config, project: &str, create: bool) -> std::result::Result<bool, String> {
    let store = S3Store::new(s3, CHECK_LIMITS).map_err(|e| e.to_string())?;
    let mut created = false;
    if let Err(f) = check_bucket(&store, s3, project) {
        if f.kind != Kind::MissingBucket {
            return Err(f.msg);
        }
        if !create {
            return Err(format!("{} (use --create-bucket)", f.msg));
        }
        store.create_bucket().map_err(|e| format!("could not create bucket {}: {}", s3.bucket, explain(&e, s3).msg))?;
        created = true;
        check_bucket(&store, s3, project).map_err(|f| f.msg)?;
    }
    probe_write(&store, project)?;
    Ok(created)
}

/// The git working tree `dir` is in: the nearest ancestor (or `dir`) holding `.git`.
fn git_root(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().find(|d| d.join(".git").exists()).map(Path::to_path_buf)
}

/// Inside a git working tree, make sure `.tracecraft.json` is ignored: ask git when it can
/// answer, else look for a matching line in the `.gitignore` files from `dir` up to the
/// root. When not ignored, append the line to the root's `.gitignore` (created if needed).
/// Returns the file changed, if any.
fn ensure_gitignored(dir: &Path) -> Result<Option<PathBuf>> {
    let Some(root) = git_root(dir) else { return Ok(None) };
    let by_git = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["check-ignore", "-q", "--no-index", ".tracecraft.json"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()
        .and_then(|s| s.code());
    let ignored = match by_git {
        Some(0) => true,
        Some(1) => false,
        _ => ignored_by_lines(dir, &root)?,
    };
    if ignored {
        return Ok(None);
    }
    let gi = root.join(".gitignore");
    let existing = read_optional(&gi)?.unwrap_or_default();
    let mut add = Vec::new();
    if !existing.is_empty() && !existing.ends_with(b"\n") {
        add.push(b'\n');
    }
    add.extend_from_slice(b".tracecraft.json\n");
    let mut f =
        std::fs::OpenOptions::new().create(true).append(true).open(&gi).map_err(|e| Error::io("open", &gi, e))?;
    f.write_all(&add).map_err(|e| Error::io("append to", &gi, e))?;
    Ok(Some(gi))
}

/// Whether a `.gitignore` between `dir` and `root` has a line that ignores `.tracecraft.json`
/// in `dir` (exact entries only: `.tracecraft.json`, `**/.tracecraft.json`, or
/// `/.tracecraft.json` in `dir` itself).
fn ignored_by_lines(dir: &Path, root: &Path) -> Result<bool> {
    for d in dir.ancestors() {
        if let Some(text) = read_optional(&d.join(".gitignore"))? {
            let text = String::from_utf8_lossy(&text);
            let hit = text.lines().map(str::trim).any(|l| {
                l == ".tracecraft.json" || l == "**/.tracecraft.json" || (d == dir && l == "/.tracecraft.json")
            });
            if hit {
                return Ok(true);
            }
        }
        if d == root {
            break;
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_project_is_sanitised() {
        assert_eq!(default_project(Path::new("/home/me/my proj")), "my-proj");
        assert_eq!(default_project(Path::new("/home/me/café.v2")), "caf-.v2");
        assert_eq!(default_project(Path::new("/")), "default");
        validate_project(&default_project(Path::new("/x/a b+c"))).unwrap();
    }

    #[test]
    fn gitignore_lines_are_found_up_to_the_root() {
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        assert!(!ignored_by_lines(&sub, d.path()).unwrap());
        std::fs::write(d.path().join(".gitignore"), "target\n.tracecraft.json\n").unwrap();
        assert!(ignored_by_lines(&sub, d.path()).unwrap());
        std::fs::write(d.path().join(".gitignore"), "/.tracecraft.json\n").unwrap();
        assert!(!ignored_by_lines(&sub, d.path()).unwrap(), "anchored at the root: not the subdir's file");
        assert!(ignored_by_lines(d.path(), d.path()).unwrap());
    }

    #[test]
    fn endpoints_are_shown_without_userinfo() {
        assert_eq!(shown_endpoint("https://u:p@host:9000"), "https://host:9000");
        assert_eq!(shown_endpoint("http://127.0.0.1:9000/x@y"), "http://127.0.0.1:9000/x@y");
    }

    #[test]
    fn network_reasons_are_short() {
        assert_eq!(network_reason("io: Connection refused (os error 111)"), "connection refused");
        assert_eq!(network_reason("timed out (connect)"), "no answer: timed out");
        assert_eq!(network_reason("something else"), "something else");
    }
}
