//! Subagent transcripts in hook mode: when to mirror them. Finding the files, flushing each
//! as its own session and listing them in the parent's meta.json is `engine::subagents`
//! (shared with `follow` and `backfill`, which documents the layout in the bucket); their
//! ids are named in `session::layout` (`child_id`), their meta.json fields are written by
//! `session::meta::extra::annotate`, and `session::catalog::children_in_store` finds them
//! in the store.
//!
//! When: after every flush of the parent in the hook (so on each of the parent's events that
//! changed its transcript, and at SessionEnd, where the subagents are finished too), every
//! subagent file of the session is checked with the engine's own no-op test
//! (`state::nothing_new`: one small read and one stat per file) and flushed when it changed. So a
//! missed SubagentStop is caught up on the parent's next event. SubagentStop itself waits
//! briefly for the agent's last line (usually not on disk yet when it fires), and an
//! announced file that never appears (the compaction agent writes none) costs one log line.
//!
//! Deliberately not done: the hook's hot path does not look at subagent files for other
//! events (a subagent only runs inside a parent turn, which changes the parent's transcript
//! too).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::base::error::Result;
use crate::base::log::log;
use crate::engine::flush::{FlushOpts, Mirror};
use crate::engine::subagents::{self, AgentFile};
use crate::host::payload::Event;
use crate::session::layout::{child_id, validate_id};
use crate::session::state::{nothing_new, StatePaths};
use crate::session::transcript::tail_contains;
use crate::session::Session;

/// How long SubagentStop waits for an announced transcript to appear.
const APPEAR_WAIT: Duration = Duration::from_millis(500);
/// How long SubagentStop waits for the agent's last line (as Stop does for the session's).
const LAST_LINE_WAIT: Duration = Duration::from_millis(2500);

/// The subagent a SubagentStop payload announces.
#[derive(Debug, Clone)]
pub struct Announced {
    pub agent_id: String,
    pub agent_type: Option<String>,
    pub path: PathBuf,
    pub last_message: Option<String>,
}

impl Announced {
    /// From a SubagentStop event with a usable agent id and absolute path.
    pub fn of(event: &Event) -> Option<Announced> {
        let Event::SubagentStop {
            common,
            agent_id: Some(aid),
            agent_type,
            agent_transcript_path: Some(path),
            last_assistant_message,
        } = event
        else {
            return None;
        };
        if !path.is_absolute() || validate_id(&child_id(&common.session_id, aid)).is_err() {
            return None;
        }
        Some(Announced {
            agent_id: aid.clone(),
            agent_type: agent_type.clone().filter(|t| !t.is_empty()),
            path: path.clone(),
            last_message: last_assistant_message.clone(),
        })
    }
}

/// The hook's hot-path check for SubagentStop: whether the announced transcript may have
/// something to mirror (the engine's no-op test on it: one small read and one stat).
pub fn announced_pending(event: &Event, state_dir: &Path) -> bool {
    let Some(a) = Announced::of(event) else { return false };
    let sid = &event.common().map(|c| c.session_id.clone()).unwrap_or_default();
    !nothing_new(&StatePaths::new(state_dir, &child_id(sid, &a.agent_id)).state, &a.path, false)
}

/// What a catch-up did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CatchUp {
    /// Subagent transcripts flushed.
    pub flushed: usize,
    pub parts: usize,
    pub bytes: u64,
    /// Flushes that failed (logged).
    pub failed: usize,
}

/// Mirror every subagent transcript of `parent` that has something new (a final flush for
/// each when `final_`), then list them in the parent's meta.json. A failing subagent is
/// logged and skipped; the others go on.
pub fn catch_up(
    mirror: &Mirror<'_>,
    parent: &Session,
    final_: bool,
    reason: Option<String>,
    announced: Option<&Announced>,
) -> Result<CatchUp> {
    let mut files = subagents::find(&parent.transcript, &parent.id, &mirror.state_dir);
    if let Some(a) = announced {
        match files.iter_mut().find(|f| f.agent_id == a.agent_id) {
            Some(f) => f.agent_type = a.agent_type.clone(),
            None if a.path.is_file() => files.push(AgentFile {
                agent_id: a.agent_id.clone(),
                path: a.path.clone(),
                agent_type: a.agent_type.clone(),
            }),
            None => {}
        }
    }
    let lock_wait = if final_ { Duration::from_secs(60) } else { Duration::from_secs(20) };
    let c = subagents::catch_up(mirror, parent, &files, final_, reason, lock_wait);
    let done =
        CatchUp { flushed: c.flushed(), parts: c.parts(), bytes: c.bytes(), failed: c.children.len() - c.flushed() };
    for f in &c.children {
        if let Err(e) = &f.result {
            log("WARN", &format!("subagent {}: {e}", f.id));
        }
    }
    if let Some(link) = c.link {
        link?;
    }
    Ok(done)
}

/// The hook's call after the parent's flush: for SubagentStop, wait briefly for the announced
/// transcript and its last line; then [`catch_up`]. Never fails; what it did goes to the log.
pub fn after_parent_flush(mirror: &Mirror<'_>, parent: &Session, event: &Event, opts: &FlushOpts) {
    let announced = Announced::of(event);
    if let Some(a) = &announced {
        wait_for(a, &parent.id);
    }
    match catch_up(mirror, parent, opts.final_, opts.reason.clone(), announced.as_ref()) {
        Ok(c) if c.flushed > 0 && (c.parts > 0 || opts.final_) => log(
            "INFO",
            &format!(
                "{} {}: {} subagent transcript(s): {} part(s), {} bytes",
                event.name(),
                parent.id,
                c.flushed,
                c.parts,
                c.bytes
            ),
        ),
        Ok(_) => {}
        Err(e) => log("WARN", &format!("{} {}: subagents: {e}", event.name(), parent.id)),
    }
}

/// Wait up to [`APPEAR_WAIT`] for an announced transcript to exist, then up to
/// [`LAST_LINE_WAIT`] for its last assistant line. One log line when either never comes.
fn wait_for(a: &Announced, sid: &str) {
    let deadline = Instant::now() + APPEAR_WAIT;
    while !a.path.is_file() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if !a.path.is_file() {
        log(
            "INFO",
            &format!(
                "SubagentStop {sid}: agent {} announced {}, which does not exist; nothing to mirror",
                a.agent_id,
                a.path.display()
            ),
        );
        return;
    }
    let Some(msg) = a.last_message.as_deref() else { return };
    let deadline = Instant::now() + LAST_LINE_WAIT;
    while !tail_contains(&a.path, msg) {
        if Instant::now() >= deadline {
            log(
                "INFO",
                &format!(
                    "SubagentStop {sid}: agent {}'s last line not on disk after {LAST_LINE_WAIT:?}; \
                     the session's next event sends it",
                    a.agent_id
                ),
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
