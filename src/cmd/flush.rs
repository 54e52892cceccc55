//! `tracecraft-hook flush`: the hook's flush, by hand. Prints one line of what it did.

use std::path::PathBuf;

use clap::Args;

use super::{emit, open, project_dir, resolve_session, thousands};
use crate::base::error::Result;
use crate::base::paths;
use crate::engine::flush::{FlushOpts, Mirror};

/// Mirror the new part of one session's transcript now.
#[derive(Debug, Args)]
pub struct FlushArgs {
    /// The transcript file (its name gives the session id unless --session-id is given).
    #[arg(long, value_name = "PATH")]
    pub transcript: Option<PathBuf>,
    /// The session id; the transcript is looked up under ~/.claude/projects/<slug of --cwd>/.
    #[arg(long, value_name = "ID")]
    pub session_id: Option<String>,
    /// Project directory of the session (default: current directory). Also selects the config.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Also send a partial last line and stamp ended_at, as SessionEnd does.
    #[arg(long = "final")]
    pub final_: bool,
    /// Upload without redaction (only for buckets you fully trust).
    #[arg(long)]
    pub no_redact: bool,
    /// Whose session: claude-code, or codex (--session-id looks under $CODEX_HOME/sessions).
    /// Default: codex for a --transcript under $CODEX_HOME/sessions, else claude-code.
    #[arg(long, value_enum)]
    pub harness: Option<super::HarnessArg>,
}

/// Run `flush`.
pub fn run(a: &FlushArgs) -> Result<()> {
    let dir = project_dir(a.cwd.as_deref())?;
    let codex = match a.harness {
        Some(h) => h == super::HarnessArg::Codex,
        None => a.transcript.as_deref().is_some_and(|t| {
            let here = std::env::current_dir().unwrap_or_default();
            paths::in_codex_sessions(&paths::absolutize(t, &here))
        }),
    };
    let session = if codex {
        super::resolve_codex_session(a.transcript.as_deref(), a.session_id.as_deref(), &dir)?
    } else {
        resolve_session(a.transcript.as_deref(), a.session_id.as_deref(), &dir)?
    };
    let ctx = open(&dir)?;
    let mut mirror = Mirror::new(&ctx.cfg, ctx.store.as_ref(), paths::state_dir()?, a.no_redact.then_some(false))?;
    mirror.progress = true;
    let opts = FlushOpts { final_: a.final_, reason: a.final_.then(|| "flush".to_string()), ..FlushOpts::default() };
    let out = mirror.flush(&session, &opts)?;
    let dest = format!("{} ({})", ctx.store.describe(), ctx.cfg.project);
    let mut line = if out.parts.is_empty() {
        format!("nothing new for {}: {} source bytes already in {dest}", session.id, thousands(out.cursor))
    } else {
        let red = out.redactions();
        format!(
            "flushed {}: {} part{}, {} source bytes ({} stored){} to {dest}",
            session.id,
            out.parts.len(),
            if out.parts.len() == 1 { "" } else { "s" },
            thousands(out.source_bytes()),
            thousands(out.uploaded_bytes()),
            if red > 0 { format!(" ({red} redaction{})", if red == 1 { "" } else { "s" }) } else { String::new() },
        )
    };
    if out.repaired {
        line.push_str("; the transcript had been rewritten, the copy was repaired");
    }
    if out.transcript_missing {
        line.push_str(&format!("; transcript {} not found", session.transcript.display()));
    }
    if a.final_ {
        line.push_str("; marked ended");
    }
    emit(&line)
}
