//! `tracecraft-hook stop`: declare a session over by hand (what SessionEnd does when it
//! fires): stamp `ended_at` in meta.json and forget this machine's local state for it.
//!
//! Forgetting the state is safe: the next flush of the session (a resumed session, a late
//! hook) recovers its cursor from meta.json and the listing, so it continues after the
//! bytes already stored and never uploads them again. Everything happens under the session
//! lock, so a flush in progress finishes first.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{emit, open, project_dir};
use crate::catalog::Catalog;
use crate::error::Result;
use crate::layout::meta_key;
use crate::meta::WRITER;
use crate::paths;
use crate::state::{self, StatePaths};
use crate::store::Cond;
use crate::util::now_rfc3339;

/// Mark a session ended (ended_at, end_reason "stop") and clear its local state.
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
}

/// Run `stop`.
pub fn run(a: &StopArgs) -> Result<()> {
    let dir = project_dir(a.cwd.as_deref())?;
    let ctx = open(&dir)?;
    let dest = ctx.cfg.describe();
    let cat = Catalog::new(ctx.store.as_ref(), &ctx.cfg.project, dest.clone());
    let id = cat.resolve(&a.id)?.id;
    let sp = StatePaths::new(&paths::state_dir()?, &id);
    let _lock = state::lock(&sp.lock, Duration::from_secs(30))?;
    let local = state::load(&sp.state).filter(|st| st.dest == ctx.cfg.dest_id() && st.session_id == id);
    let meta = cat.freshest_meta(&id, local.as_ref(), &sp.meta)?;

    let mut line = format!("stopped {id}");
    match meta {
        None => line.push_str(": no meta.json to mark ended"),
        Some(mut m) => {
            let dirty = local.as_ref().is_some_and(|st| st.meta_dirty);
            let stamp = m.ended_at.is_none();
            if let Some(t) = &m.ended_at {
                line.push_str(&format!(": already ended at {t}"));
            } else {
                let t = now_rfc3339();
                line.push_str(&format!(": marked ended at {t}"));
                m.ended_at = Some(t);
                m.end_reason = Some("stop".into());
            }
            if dirty || stamp {
                m.writer = Some(WRITER.to_string());
                ctx.store.put(&meta_key(&ctx.cfg.project, &id), &m.to_bytes(), &Cond::None)?;
            }
        }
    }
    let had_state = sp.state.exists() || sp.meta.exists();
    state::forget(&sp)?;
    line.push_str(if had_state { "; local state cleared" } else { "; no local state" });
    line.push_str(&format!(" ({dest})"));
    emit(&line)
}
