//! Subagent transcripts, for everyone who mirrors them: the hook (`hook::subagent`, which adds
//! when to do it), `follow` and `backfill`. Finding a session's subagent files on disk,
//! flushing each with the ordinary engine as its own session, and listing them in the
//! parent's meta.json live here once; the callers decide when, and what to say about it.
//!
//! Claude Code writes a subagent's transcript to `<project-dir>/<session-id>/subagents/
//! agent-<agent-id>.jsonl` with a small `agent-<agent-id>.meta.json` sidecar (agent type,
//! description); older versions wrote `agent-<agent-id>.jsonl` beside the session file. Each
//! one is mirrored as the session `<session-id>.agent-<agent-id>` (`layout::child_id`):
//!
//! ```text
//! <project>/sessions/claude-code/<session-id>.agent-<agent-id>/part-NNNNN-<hex8>.jsonl
//! <project>/sessions/claude-code/<session-id>.agent-<agent-id>/meta.json
//! ```
//!
//! outside the parent's prefix, because tracecraft's `show <session-id>` concatenates every
//! object under `<session-id>/`. Its meta.json carries `parent_session_id`, `subagent:
//! {agent_id, agent_type}` and the sidecar's content as `sidecar`; the parent's meta.json
//! lists its subagents and rolls their tokens up (`session::meta::extra::annotate`).
//!
//! Deliberately not here: logging or printing (the hook logs, commands print), and any
//! policy on when to look (every parent event in the hook, every cycle in `follow`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::base::error::Result;
use crate::engine::flush::{FlushOpts, Mirror, Outcome};
use crate::session::layout::{child_id, validate_id};
use crate::session::meta::extra::{ChildRef, SubagentOf};
use crate::session::state::{nothing_new, StatePaths};
use crate::session::Session;

/// Largest sidecar read.
const SIDECAR_MAX: u64 = 64 * 1024;
/// How much of an older-layout agent file is read to see which session it belongs to.
const HEAD_MAX: u64 = 64 * 1024;

/// A subagent transcript on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentFile {
    pub agent_id: String,
    pub path: PathBuf,
    /// The agent type when the host said it (SubagentStop's payload); else the sidecar's.
    pub agent_type: Option<String>,
}

impl AgentFile {
    /// Its session id under `parent`.
    pub fn id(&self, parent: &str) -> String {
        child_id(parent, &self.agent_id)
    }
}

/// `agent-<id>.jsonl` -> `<id>`.
fn agent_id_of(name: &str) -> Option<&str> {
    let id = name.strip_prefix("agent-")?.strip_suffix(".jsonl")?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')).then_some(id)
}

/// `<dir of transcript>/<sid>/subagents`, where Claude Code 2.1 writes them.
pub fn subagents_dir(transcript: &Path, sid: &str) -> Option<PathBuf> {
    transcript.parent().map(|d| d.join(sid).join("subagents"))
}

/// The subagent transcripts of session `sid`, whose own transcript is `transcript`:
/// `<dir>/<sid>/subagents/agent-*.jsonl`, and older `<dir>/agent-*.jsonl` files whose first
/// line names `sid` (or that we mirrored for it before), sorted by agent id.
pub fn find(transcript: &Path, sid: &str, state_dir: &Path) -> Vec<AgentFile> {
    let beside = transcript.parent().map(Beside::scan).unwrap_or_default();
    find_with(transcript, sid, state_dir, &beside)
}

/// [`find`], with the older-layout files of the transcript's directory already read.
pub fn find_with(transcript: &Path, sid: &str, state_dir: &Path, beside: &Beside) -> Vec<AgentFile> {
    let mut out: Vec<AgentFile> = Vec::new();
    let add = |aid: &str, path: &Path, out: &mut Vec<AgentFile>, owned: &dyn Fn(&str) -> bool| {
        let child = child_id(sid, aid);
        if validate_id(&child).is_err() || out.iter().any(|f| f.agent_id == aid) || !owned(&child) {
            return;
        }
        out.push(AgentFile { agent_id: aid.to_string(), path: path.to_path_buf(), agent_type: None });
    };
    if let Some(Ok(rd)) = subagents_dir(transcript, sid).map(std::fs::read_dir) {
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(aid) = name.to_str().and_then(agent_id_of) else { continue };
            let path = e.path();
            if path.is_file() {
                add(aid, &path, &mut out, &|_| true);
            }
        }
    }
    for (aid, path, owners) in &beside.files {
        let owned = |child: &str| owners.iter().any(|o| o == sid) || StatePaths::new(state_dir, child).state.exists();
        add(aid, path, &mut out, &owned);
    }
    out.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
    out
}

/// The older-layout agent files (`<dir>/agent-*.jsonl`) of one project directory, with the
/// session ids their first line names, read once: `backfill` looks up every session of a
/// directory, and reading every file again for each session would be quadratic.
#[derive(Debug, Default)]
pub struct Beside {
    files: Vec<(String, PathBuf, Vec<String>)>,
}

impl Beside {
    /// Read `dir`'s `agent-*.jsonl` files (the first line of each).
    pub fn scan(dir: &Path) -> Beside {
        let Ok(rd) = std::fs::read_dir(dir) else { return Beside::default() };
        let mut files = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(aid) = name.to_str().and_then(agent_id_of) else { continue };
            let path = e.path();
            if path.is_file() {
                let owners = first_line_owners(&path);
                files.push((aid.to_string(), path, owners));
            }
        }
        Beside { files }
    }
}

/// The session ids the first line of `path` (its first [`HEAD_MAX`] bytes) names as
/// `"sessionId":"<sid>"`. Inside a JSON string those quotes would be escaped, so only the key
/// itself matches.
fn first_line_owners(path: &Path) -> Vec<String> {
    use std::io::Read;
    let Ok(f) = std::fs::File::open(path) else { return Vec::new() };
    let mut head = Vec::new();
    if f.take(HEAD_MAX).read_to_end(&mut head).is_err() {
        return Vec::new();
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    const KEY: &[u8] = b"\"sessionId\":\"";
    let mut owners = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.windows(KEY.len()).position(|w| w == KEY) {
        rest = &rest[i + KEY.len()..];
        let end = rest.iter().position(|&b| b == b'"').unwrap_or(rest.len());
        if let Ok(id) = std::str::from_utf8(&rest[..end]) {
            owners.push(id.to_string());
        }
        rest = &rest[end..];
    }
    owners
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

/// The engine's no-op test for a subagent file (one small read and one stat): false when
/// nothing changed since its last flush.
pub fn has_news(mirror: &Mirror<'_>, parent: &str, f: &AgentFile, final_: bool) -> bool {
    !nothing_new(&StatePaths::new(&mirror.state_dir, &f.id(parent)).state, &f.path, final_)
}

/// Flush one subagent transcript of `parent` (its meta.json records whose it is and the
/// sidecar). On success, also what the parent's meta.json should list about it ([`link`]).
pub fn flush_one(
    mirror: &Mirror<'_>,
    parent: &Session,
    f: &AgentFile,
    final_: bool,
    reason: Option<String>,
    lock_wait: Duration,
) -> Result<(Outcome, ChildRef)> {
    let sidecar = read_sidecar(&f.path);
    let text = |k: &str| sidecar.as_ref().and_then(|s| s.get(k)).and_then(Value::as_str).filter(|s| !s.is_empty());
    let agent_type = f.agent_type.clone().or_else(|| text("agentType").map(str::to_string));
    let description = text("description").map(str::to_string);
    let child =
        Session { id: f.id(&parent.id), transcript: f.path.clone(), cwd: parent.cwd.clone(), harness: parent.harness };
    let opts = FlushOpts {
        final_,
        reason: if final_ { reason } else { None },
        subagent: Some(SubagentOf {
            parent_session_id: parent.id.clone(),
            agent_id: f.agent_id.clone(),
            agent_type: agent_type.clone(),
            sidecar,
        }),
        lock_wait,
        ..FlushOpts::default()
    };
    let out = mirror.flush(&child, &opts)?;
    Ok((out, ChildRef { agent_id: f.agent_id.clone(), agent_type, description }))
}

/// One subagent flushed (or not) by [`catch_up`].
#[derive(Debug)]
pub struct Flushed {
    pub id: String,
    pub result: Result<Outcome>,
}

/// What [`catch_up`] did: each subagent it flushed, and the parent's flush listing them
/// (`None`: none to list).
#[derive(Debug, Default)]
pub struct CatchUp {
    pub children: Vec<Flushed>,
    pub link: Option<Result<Outcome>>,
}

impl CatchUp {
    /// Subagent transcripts flushed without error.
    pub fn flushed(&self) -> usize {
        self.children.iter().filter(|c| c.result.is_ok()).count()
    }
    /// Parts uploaded for subagents.
    pub fn parts(&self) -> usize {
        self.children.iter().filter_map(|c| c.result.as_ref().ok()).map(|o| o.parts.len()).sum()
    }
    /// Source bytes uploaded for subagents.
    pub fn bytes(&self) -> u64 {
        self.children.iter().filter_map(|c| c.result.as_ref().ok()).map(Outcome::source_bytes).sum()
    }
}

/// Flush each of `files` (subagents of `parent`) that has something new (a final flush for
/// each when `final_`), then list the ones flushed in the parent's meta.json with one more
/// flush of the parent (same `final_` and `reason`). A failing subagent does not stop the
/// others: every result is in the answer, for the caller to log or print.
pub fn catch_up(
    mirror: &Mirror<'_>,
    parent: &Session,
    files: &[AgentFile],
    final_: bool,
    reason: Option<String>,
    lock_wait: Duration,
) -> CatchUp {
    let mut done = CatchUp::default();
    let mut refs = Vec::new();
    for f in files {
        if !has_news(mirror, &parent.id, f, final_) {
            continue;
        }
        let result = flush_one(mirror, parent, f, final_, reason.clone(), lock_wait).map(|(out, r)| {
            refs.push(r);
            out
        });
        done.children.push(Flushed { id: f.id(&parent.id), result });
    }
    if !refs.is_empty() {
        done.link = Some(link(mirror, parent, refs, final_, reason, lock_wait));
    }
    done
}

/// List `refs` in `parent`'s meta.json: a flush of the parent that also sends whatever new
/// lines it has (a final one when `final_`).
pub fn link(
    mirror: &Mirror<'_>,
    parent: &Session,
    refs: Vec<ChildRef>,
    final_: bool,
    reason: Option<String>,
    lock_wait: Duration,
) -> Result<Outcome> {
    let opts = FlushOpts { final_, reason, subagents: refs, lock_wait, ..FlushOpts::default() };
    mirror.flush(parent, &opts)
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
