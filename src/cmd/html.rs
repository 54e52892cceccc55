//! `tracecraft-hook html`: a mirrored session as one self-contained HTML page (see the
//! `page` module for what the page holds and why it is safe to open). The page is written
//! while the session streams from the store; to a file it goes through a temp file renamed
//! into place, so an interrupted run never leaves half a page under the name asked for.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::Args;

use super::page::{self, Options, Rendered};
use super::{emit, open, project_dir};
use crate::base::error::{Error, Result};
use crate::session::catalog::Catalog;

/// Write a mirrored session as one HTML page that opens offline.
///
/// The page is self-contained (no scripts, fonts or images from anywhere; a
/// Content-Security-Policy forbids any network access) and shows the stored, redacted
/// session: a header with its numbers, then the conversation in order (prompts, answers
/// rendered from Markdown, thinking and tool results collapsed, long outputs cut with their
/// full size, errors, compactions and slash commands marked). Every message has an anchor
/// `#msg-<uuid>`. Transcript text is always escaped: HTML in it shows as text.
#[derive(Debug, Args)]
pub struct HtmlArgs {
    /// Session id, or a prefix that matches exactly one session (a subagent by its own id).
    #[arg(value_name = "ID")]
    pub id: String,
    /// Where to write the page (default: ./<session-id>.html; `-` for stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Show the session's subagents inside the tool calls that started them (collapsed,
    /// with their own numbers).
    #[arg(long)]
    pub subagents: bool,
    /// Project directory whose configuration selects the store (default: current directory).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Sessions above this many bytes get lazy sections (tests).
    #[arg(long, hide = true, default_value_t = page::LAZY_FROM)]
    pub lazy_from: u64,
    /// Page bytes per lazy section (tests).
    #[arg(long, hide = true, default_value_t = page::SECTION_BYTES)]
    pub section_bytes: u64,
}

/// Run `html`.
pub fn run(a: &HtmlArgs) -> Result<()> {
    let dir = project_dir(a.cwd.as_deref())?;
    let ctx = open(&dir)?;
    let cat = Catalog::new(ctx.store.as_ref(), &ctx.cfg.project, ctx.cfg.describe())
        .with_keys(crate::session::seal::Keys::for_config(&ctx.cfg));
    let session = cat.resolve(&a.id)?;
    let opts = Options { subagents: a.subagents, lazy_from: a.lazy_from, section_bytes: a.section_bytes };
    if a.output.as_deref() == Some(Path::new("-")) {
        let stdout = io::stdout();
        let mut out = io::BufWriter::with_capacity(256 * 1024, stdout.lock());
        page::render(&cat, &session, &opts, &mut out).map_err(to_stdout)?;
        return out.flush().map_err(|e| Error::io("write", "<stdout>", e));
    }
    let path = a.output.clone().unwrap_or_else(|| PathBuf::from(format!("{}.html", session.id)));
    let path = crate::base::paths::absolutize(&path, &dir);
    let done = write_file(&path, |out| page::render(&cat, &session, &opts, out))?;
    emit(&format!(
        "wrote {} ({} messages, {} tool calls, {})",
        path.display(),
        done.messages,
        done.tool_calls,
        page::head::bytes(done.bytes)
    ))
}

/// A write error on the page is a write error on stdout (a closed pipe is then success).
fn to_stdout(e: Error) -> Error {
    match e {
        Error::Io { op: "write", source, .. } => Error::io("write", "<stdout>", source),
        e => e,
    }
}

/// Render into `path` through a temp file beside it (mode 0644: a page is meant to be
/// opened and passed on), renamed into place once complete.
pub fn write_file(path: &Path, render: impl FnOnce(&mut dyn Write) -> Result<Rendered>) -> Result<Rendered> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if path.is_dir() {
        return Err(Error::Invalid(format!("{} is a directory; give a file name with -o", path.display())));
    }
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        // A device or a pipe (`-o /dev/null`, `-o >(gzip > p.gz)`): written in place.
        let file = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| Error::io("open", path, e))?;
        let mut out = io::BufWriter::with_capacity(256 * 1024, file);
        let done = render(&mut out).map_err(|e| match e {
            Error::Io { op: "write", path: p, source } if p.as_os_str() == "<page>" => Error::io("write", path, source),
            e => e,
        })?;
        out.flush().map_err(|e| Error::io("write", path, e))?;
        return Ok(done);
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "page.html".into());
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let file = std::fs::File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    let mut out = io::BufWriter::with_capacity(256 * 1024, file);
    let result = render(&mut out).and_then(|done| {
        let file = out.into_inner().map_err(|e| Error::io("write", &tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io("sync", &tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io("rename to", path, e))?;
        Ok(done)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| match e {
        Error::Io { op: "write", path: p, source } if p.as_os_str() == "<page>" => Error::io("write", &tmp, source),
        e => e,
    })
}
