//! `tracecraft-hook stop`: declare a session over by hand (what SessionEnd does when it
//! fires): stamp `ended_at` in meta.json and forget this machine's local state for it.
//!
//! Forgetting the state is safe: the next flush of the session (a resumed session, a late
//! hook) recovers its cursor from meta.json and the listing, so it continues after the
//! bytes already stored and never uploads them again. Everything happens under the session
//! lock, so a flush in progress finishes first.
//!
//! A session's subagents (`<id>.agent-<agent-id>` in the store) are stopped with it, the same
//! way, each under its own lock: they cannot outlive their session.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use super::{emit, open, project_dir, Ctx};
use crate::base::error::{Error, Result};
use crate::base::paths;
use crate::base::util::now_rfc3339;
use crate::session::catalog::{children_in_store, Catalog};
use crate::session::layout::is_child;
use crate::session::meta::extra::merge_meta;
use crate::session::meta::WRITER;
use crate::session::state::{self, StatePaths};
use crate::store::Cond;

/// Mark a session and its subagents ended (ended_at, end_reason "stop") and clear their local state.
///
/// Use it for a session whose SessionEnd hook never ran (killed terminal, crash). If the
/// session is resumed later, its next flush picks up after what the store already has.
/// Waits for a flush of the same session that is in progress.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Session id, or a prefix that matches exactly one session.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Project directory whose configuration selects the store (default: current directory).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Whose session (default: Claude Code's with that id, else Codex's).
    #[arg(long, value_enum)]
    pub harness: Option<super::HarnessArg>,
}

/// Run `stop`.
pub fn run(a: &StopArgs) -> Result<()> {
    let dir = project_dir(a.cwd.as_deref())?;
    let ctx = open(&dir)?;
    let dest = ctx.cfg.describe();
    let base = Catalog::new(ctx.store.as_ref(), &ctx.cfg.project, dest.clone())
        .with_keys(crate::session::seal::Keys::for_config(&ctx.cfg));
    let (cat, found) = super::find_session(base, a.harness, &a.id)?;
    let id = found.id;
    let state_dir = state::dir_for(&paths::state_dir()?, cat.harness);
    let line = stop_one(&ctx, &cat, &state_dir, &id)?;
    emit(&format!("stopped {id}{line} ({dest})"))?;
    // Its subagents, listed from the store (a subagent itself has none).
    let children = if is_child(&id) { Vec::new() } else { children_in_store(&cat, &id, cat.meta(&id)?.as_ref())? };
    for child in children {
        let line = stop_one(&ctx, &cat, &state_dir, &child.id)?;
        emit(&format!("  stopped subagent {}{line}", child.id))?;
    }
    Ok(())
}

/// Stamp ended_at on session `id`'s meta.json (merged with our copy when it is ahead) and
/// forget its local state, under its lock; what happened, as `": ..."`.
fn stop_one(ctx: &Ctx, cat: &Catalog<'_>, state_dir: &Path, id: &str) -> Result<String> {
    let sp = StatePaths::new(state_dir, id);
    let _lock = state::lock(&sp.lock, Duration::from_secs(30))?;
    let local = state::load(&sp.state).filter(|st| st.dest == ctx.cfg.dest_id() && st.session_id == id);
    let mkey = crate::session::layout::meta_key_in(&ctx.cfg.project, cat.harness, id);
    // Our copy of meta.json when it is ahead of the store's (a flush stopped before its PUT).
    let ahead = local.as_ref().filter(|st| st.meta_dirty).and_then(|_| state::load_meta(&sp.meta));

    let mut line = String::new();
    let mut attempt = 0;
    loop {
        // Conditional on the version read: a concurrent writer's change is merged, not lost.
        let etag = ctx.store.head(&mkey)?.and_then(|o| o.etag);
        let mut m = match (cat.meta(id)?, &ahead) {
            (None, None) => {
                line.push_str(": no meta.json to mark ended");
                break;
            }
            (_, Some(ours)) if attempt == 0 => ours.clone(),
            (Some(theirs), Some(ours)) => merge_meta(theirs, ours),
            (Some(theirs), None) => theirs,
            (None, Some(ours)) => ours.clone(),
        };
        let stamp = m.ended_at.is_none();
        if stamp {
            m.ended_at = Some(now_rfc3339());
            m.end_reason = Some("stop".into());
        }
        if !stamp && ahead.is_none() {
            line.push_str(&format!(": already ended at {}", m.ended_at.as_deref().unwrap_or_default()));
            break;
        }
        m.writer = Some(WRITER.to_string());
        match ctx.store.put(
            &mkey,
            &crate::session::seal::meta_to_bytes(&m, &cat.keys)?,
            &etag.map_or(Cond::None, Cond::IfMatch),
        ) {
            Err(Error::Precondition { .. }) if attempt < 3 => attempt += 1,
            Err(e) => return Err(e),
            Ok(_) => {
                let t = m.ended_at.as_deref().unwrap_or_default();
                line.push_str(&if stamp {
                    format!(": marked ended at {t}")
                } else {
                    format!(": already ended at {t}")
                });
                break;
            }
        }
    }
    let had_state = sp.state.exists() || sp.meta.exists();
    state::forget(&sp)?;
    line.push_str(if had_state { "; local state cleared" } else { "; no local state" });
    Ok(line)
}
