//! Subagent transcripts: mirrored like sessions, each under its own prefix, and linked both
//! ways through meta.json. This module is the hook's part (finding the files, when to flush
//! them); their ids are named in `session::layout` (`child_id`), their meta.json fields are
//! written by `session::meta::extra::annotate`, and `session::catalog::children_in_store` finds them
//! in the store.
//!
//! Claude Code writes a subagent's transcript to `<project-dir>/<session-id>/subagents/
//! agent-<agent-id>.jsonl` with a small `agent-<agent-id>.meta.json` sidecar (agent type,
//! description); older versions wrote `agent-<agent-id>.jsonl` beside the session file. Each
//! one is mirrored by the ordinary flush engine as the session `<session-id>.agent-<agent-id>`:
//!
//! ```text
//! <project>/sessions/claude-code/<session-id>.agent-<agent-id>/part-NNNNN-<hex8>.jsonl
//! <project>/sessions/claude-code/<session-id>.agent-<agent-id>/meta.json
//! ```
//!
//! outside the parent's prefix, because tracecraft's `show <session-id>` concatenates every
//! object under `<session-id>/`. Its meta.json carries `parent_session_id`, `subagent:
//! {agent_id, agent_type}` and the sidecar's content as `sidecar` (inside meta.json rather
//! than as another object, which tracecraft's `show` would print with the parts). The
//! parent's meta.json lists its subagents (`subagents: [{agent_id, agent_type, description,
//! session_id, key_prefix, tokens}]`) and rolls their tokens up into `stats.subagent_tokens`.
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
//! too); `follow` and `backfill` do not mirror subagents.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::base::error::Result;
use crate::base::log::log;
use crate::engine::flush::{FlushOpts, Mirror};
use crate::host::payload::Event;
use crate::session::layout::{child_id, validate_id};
use crate::session::meta::extra::{ChildRef, SubagentOf};
use crate::session::state::{nothing_new, StatePaths};
use crate::session::transcript::tail_contains;
use crate::session::Session;

/// How long SubagentStop waits for an announced transcript to appear.
const APPEAR_WAIT: Duration = Duration::from_millis(500);
/// How long SubagentStop waits for the agent's last line (as Stop does for the session's).
const LAST_LINE_WAIT: Duration = Duration::from_millis(2500);
/// Largest sidecar read.
const SIDECAR_MAX: u64 = 64 * 1024;
/// How much of an older-layout agent file is read to see which session it belongs to.
const HEAD_MAX: u64 = 64 * 1024;

/// A subagent transcript on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentFile {
    pub agent_id: String,
    pub path: PathBuf,
}

/// `agent-<id>.jsonl` -> `<id>`.
fn agent_id_of(name: &str) -> Option<&str> {
    let id = name.strip_prefix("agent-")?.strip_suffix(".jsonl")?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')).then_some(id)
}

/// The subagent transcripts of session `sid`, whose own transcript is `transcript`:
/// `<dir>/<sid>/subagents/agent-*.jsonl`, and older `<dir>/agent-*.jsonl` files whose first
/// line names `sid` (or that we mirrored for it before), sorted by agent id.
pub fn find(transcript: &Path, sid: &str, state_dir: &Path) -> Vec<AgentFile> {
    let Some(dir) = transcript.parent() else { return Vec::new() };
    let mut out: Vec<AgentFile> = Vec::new();
    let scan = |d: &Path, check_owner: bool, out: &mut Vec<AgentFile>| {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(aid) = name.to_str().and_then(agent_id_of) else { continue };
            let child = child_id(sid, aid);
            if validate_id(&child).is_err() || out.iter().any(|f| f.agent_id == aid) {
                continue;
            }
            let path = e.path();
            if !path.is_file() {
                continue;
            }
            if check_owner && !StatePaths::new(state_dir, &child).state.exists() && !first_line_names(&path, sid) {
                continue;
            }
            out.push(AgentFile { agent_id: aid.to_string(), path });
        }
    };
    scan(&dir.join(sid).join("subagents"), false, &mut out);
    scan(dir, true, &mut out);
    out.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
    out
}

/// Whether the first line of `path` (its first [`HEAD_MAX`] bytes) says `"sessionId":"<sid>"`.
/// Inside a JSON string those quotes would be escaped, so only the key itself matches.
fn first_line_names(path: &Path, sid: &str) -> bool {
    use std::io::Read;
    let Ok(f) = std::fs::File::open(path) else { return false };
    let mut head = Vec::new();
    if f.take(HEAD_MAX).read_to_end(&mut head).is_err() {
        return false;
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let needle = format!("\"sessionId\":\"{sid}\"");
    line.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The sidecar of an agent transcript (`agent-<id>.meta.json`): its JSON, or its text.
pub fn read_sidecar(agent_path: &Path) -> Option<Value> {
    let p = agent_path.with_extension("meta.json");
    let md = std::fs::metadata(&p).ok()?;
    if !md.is_file() || md.len() > SIDECAR_MAX {
        return None;
    }
    let bytes = std::fs::read(&p).ok()?;
    Some(serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into())))
}

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
    let mut files = find(&parent.transcript, &parent.id, &mirror.state_dir);
    if let Some(a) = announced {
        if !files.iter().any(|f| f.agent_id == a.agent_id) && a.path.is_file() {
            files.push(AgentFile { agent_id: a.agent_id.clone(), path: a.path.clone() });
        }
    }
    let lock_wait = if final_ { Duration::from_secs(60) } else { Duration::from_secs(20) };
    let mut done = CatchUp::default();
    let mut refs = Vec::new();
    for f in files {
        let id = child_id(&parent.id, &f.agent_id);
        if nothing_new(&StatePaths::new(&mirror.state_dir, &id).state, &f.path, final_) {
            continue;
        }
        let sidecar = read_sidecar(&f.path);
        let text = |k: &str| sidecar.as_ref().and_then(|s| s.get(k)).and_then(Value::as_str).filter(|s| !s.is_empty());
        let agent_type = announced
            .filter(|a| a.agent_id == f.agent_id)
            .and_then(|a| a.agent_type.clone())
            .or_else(|| text("agentType").map(str::to_string));
        let description = text("description").map(str::to_string);
        let child =
            Session { id: id.clone(), transcript: f.path.clone(), cwd: parent.cwd.clone(), harness: parent.harness };
        let opts = FlushOpts {
            final_,
            reason: if final_ { reason.clone() } else { None },
            subagent: Some(SubagentOf {
                parent_session_id: parent.id.clone(),
                agent_id: f.agent_id.clone(),
                agent_type: agent_type.clone(),
                sidecar,
            }),
            lock_wait,
            ..FlushOpts::default()
        };
        match mirror.flush(&child, &opts) {
            Ok(out) => {
                done.flushed += 1;
                done.parts += out.parts.len();
                done.bytes += out.source_bytes();
                refs.push(ChildRef { agent_id: f.agent_id, agent_type, description });
            }
            Err(e) => {
                done.failed += 1;
                log("WARN", &format!("subagent {id}: {e}"));
            }
        }
    }
    if !refs.is_empty() {
        let opts = FlushOpts { final_, reason, subagents: refs, lock_wait, ..FlushOpts::default() };
        mirror.flush(parent, &opts)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_file_names() {
        assert_eq!(agent_id_of("agent-a1b2.jsonl"), Some("a1b2"));
        assert_eq!(agent_id_of("agent-a1b2.meta.json"), None);
        assert_eq!(agent_id_of("agent-.jsonl"), None);
        assert_eq!(agent_id_of("agent-a.b.jsonl"), None);
    }

    #[test]
    fn find_both_layouts_and_only_this_sessions_old_ones() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("s1.jsonl");
        std::fs::write(&t, b"{}\n").unwrap();
        let sub = d.path().join("s1/subagents");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("agent-new1.jsonl"), b"{}\n").unwrap();
        std::fs::write(sub.join("agent-new1.meta.json"), br#"{"agentType":"Explore"}"#).unwrap();
        std::fs::write(d.path().join("agent-old1.jsonl"), b"{\"sessionId\":\"s1\",\"x\":1}\n").unwrap();
        std::fs::write(d.path().join("agent-old2.jsonl"), b"{\"sessionId\":\"s2\"}\n").unwrap();
        std::fs::write(d.path().join("agent-old3.jsonl"), b"{\"text\":\"\\\"sessionId\\\":\\\"s1\\\"\"}\n").unwrap();
        let found: Vec<String> = find(&t, "s1", &d.path().join("state")).into_iter().map(|f| f.agent_id).collect();
        assert_eq!(found, ["new1", "old1"]);
        assert_eq!(read_sidecar(&sub.join("agent-new1.jsonl")).unwrap()["agentType"], "Explore");
        assert_eq!(read_sidecar(&d.path().join("agent-old1.jsonl")), None);
    }
}
