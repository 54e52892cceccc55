//! Command-line interface: no subcommand (or `hook`) is hook mode; everything else is a
//! command for people. Exit codes: 0 ok, 1 operational error, 2 usage error; hook mode
//! always 0; `scan` exits 1 when it found secrets (like a secret scanner in CI). A closed stdout pipe is success.

use clap::{Parser, Subcommand};

use crate::base::error::Error;
use crate::cmd;

/// Keep an exact, redacted copy of every Claude Code session in your own S3 bucket.
///
/// Run with no arguments (or `hook`) by Claude Code: reads one hook event as JSON on stdin,
/// mirrors the session's new transcript lines, prints nothing, always exits 0.
///
/// Configuration: `.tracecraft.json` in the project directory, else ~/.tracecraft/config.json
/// (same file as the Python `tracecraft` CLI). With none, sessions go to the embedded store
/// ~/.tracecraft/store/<project>/sessions/claude-code/<session-id>/.
///
/// A project's `.tracecraft.json` is honoured only once you approved its exact content with
/// `tracecraft-hook trust [DIR]` (`init` approves what it writes): a cloned repository could
/// ship one that sends your sessions elsewhere. Until then the hook ignores it and uses
/// ~/.tracecraft/config.json (or the embedded store).
#[derive(Debug, Parser)]
#[command(name = "tracecraft-hook", version, about, long_about, after_help = ENV_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
}

const ENV_HELP: &str = "\
Environment:
  TRACECRAFT_CONFIG        config file to use instead of .tracecraft.json / ~/.tracecraft/config.json
                           (yours, set in your environment: honoured without `trust`)
  TRACECRAFT_ENDPOINT      S3 endpoint URL (overrides the config file)
  TRACECRAFT_BUCKET        bucket (overrides the config file)
  TRACECRAFT_PROJECT       project prefix in the bucket (default for the local store: default)
  TRACECRAFT_AGENT         agent_id recorded in meta.json
  TRACECRAFT_REDACT        0 to disable redaction
  TRACECRAFT_HOOK_INLINE   1: the hook uploads itself instead of in a detached worker
  TRACECRAFT_CACHE_MAX     bound of the part cache ~/.tracecraft/cache used by search (default 1G)
  TRACECRAFT_INDEX_INTERVAL  seconds a running session's entry in the team index may lag (default 300)
  TRACECRAFT_ORPHAN_IDLE_SECS  idle time after which a session without SessionEnd is ended (default 1800)
  TRACECRAFT_AGE_IDENTITY  age identity file to read encrypted sessions with (default ~/.tracecraft/age.key)
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION
  CLAUDE_CONFIG_DIR        Claude Code's directory (default ~/.claude)
  HOME                     where ~/.tracecraft and ~/.claude are";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Handle one hook event from stdin (what Claude Code runs; Codex CLI runs `hook --harness codex`).
    Hook {
        /// Internal: run as the detached worker of a hook.
        #[arg(long, hide = true)]
        worker: bool,
        /// Which agent runs the hook (default: told by the payload's transcript_path).
        #[arg(long)]
        harness: Option<crate::session::layout::Harness>,
    },
    /// Mirror the new part of a session's transcript now.
    Flush(cmd::flush::FlushArgs),
    /// Keep mirroring a session, or every session of a project (--all), until Ctrl-C.
    Follow(cmd::follow::FollowArgs),
    /// Register the hook in a Claude Code settings file (idempotent; keeps a .bak).
    Install(cmd::install::InstallArgs),
    /// Remove exactly what `install` added from a Claude Code settings file.
    Uninstall(cmd::install::InstallArgs),
    Init(cmd::init::InitArgs),
    Trust(cmd::trust::TrustArgs),
    Untrust(cmd::trust::UntrustArgs),
    Doctor(cmd::doctor::DoctorArgs),
    Backfill(cmd::backfill::BackfillArgs),
    Show(cmd::show::ShowArgs),
    List(cmd::list::ListArgs),
    Stats(cmd::stats::StatsArgs),
    Reindex(cmd::reindex::ReindexArgs),
    Stop(cmd::stop::StopArgs),
    Compact(cmd::compact::CompactArgs),
    Restore(cmd::restore::RestoreArgs),
    Search(cmd::search::SearchArgs),
    /// Download every mirrored part of the project into the local cache (~/.tracecraft/cache).
    Sync(cmd::search::SyncArgs),
    Scan(cmd::scan::ScanArgs),
    Html(cmd::html::HtmlArgs),
    Share(cmd::share::ShareArgs),
    Keygen(cmd::keygen::KeygenArgs),
}

/// Parse arguments, run, and return the process exit code.
pub fn main() -> i32 {
    // Hook mode is the hot path (every event of every session): recognise it before clap
    // builds its command tree, so a no-op event costs little more than starting the process.
    let mut args = std::env::args_os().skip(1);
    match (args.next(), args.next(), args.next()) {
        (None, _, _) => {
            crate::hook::run(false);
            return 0;
        }
        (Some(a), None, _) if a == "hook" => {
            crate::hook::run(false);
            return 0;
        }
        (Some(a), Some(b), None) if a == "hook" && b == "--worker" => {
            crate::hook::run(true);
            return 0;
        }
        // Codex CLI's hooks.json command, and its worker: `hook [--worker] --harness codex`.
        (Some(a), Some(b), Some(c)) if a == "hook" && (b == "--harness" || b == "--worker") => {
            let (worker, name) = if b == "--worker" {
                match (c == "--harness", args.next(), args.next()) {
                    (true, Some(n), None) => (true, Some(n)),
                    _ => (true, None),
                }
            } else {
                (false, args.next().is_none().then_some(c))
            };
            if let Some(h) = name.and_then(|n| n.to_str().and_then(crate::session::layout::Harness::parse)) {
                crate::hook::run_as(worker, Some(h));
                return 0;
            }
        }
        _ => {}
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let result = match &cli.cmd {
        None => {
            crate::hook::run(false);
            return 0;
        }
        Some(Cmd::Hook { worker, harness }) => {
            crate::hook::run_as(*worker, *harness);
            return 0;
        }
        Some(Cmd::Flush(a)) => cmd::flush::run(a),
        Some(Cmd::Follow(a)) => cmd::follow::run(a),
        Some(Cmd::Install(a)) => cmd::install::install(a),
        Some(Cmd::Uninstall(a)) => cmd::install::uninstall(a),
        Some(Cmd::Init(a)) => cmd::init::run(a),
        Some(Cmd::Trust(a)) => cmd::trust::trust(a),
        Some(Cmd::Untrust(a)) => cmd::trust::untrust(a),
        Some(Cmd::Doctor(a)) => cmd::doctor::run(a),
        Some(Cmd::Backfill(a)) => cmd::backfill::run(a),
        Some(Cmd::Show(a)) => cmd::show::run(a),
        Some(Cmd::List(a)) => cmd::list::run(a),
        Some(Cmd::Stats(a)) => cmd::stats::run(a),
        Some(Cmd::Reindex(a)) => cmd::reindex::run(a),
        Some(Cmd::Stop(a)) => cmd::stop::run(a),
        Some(Cmd::Compact(a)) => cmd::compact::run(a),
        Some(Cmd::Restore(a)) => cmd::restore::run(a),
        Some(Cmd::Search(a)) => cmd::search::run(a),
        Some(Cmd::Sync(a)) => cmd::search::sync(a),
        Some(Cmd::Scan(a)) => match cmd::scan::run(a) {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
        Some(Cmd::Html(a)) => cmd::html::run(a),
        Some(Cmd::Share(a)) => cmd::share::run(a),
        Some(Cmd::Keygen(a)) => cmd::keygen::run(a),
    };
    match result {
        Ok(()) => 0,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("tracecraft-hook: {e}");
            1
        }
    }
}
