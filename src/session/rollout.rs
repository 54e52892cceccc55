//! Codex CLI rollouts on disk: what we need to know of them to mirror them like Claude Code
//! transcripts. Codex writes one JSONL file per session (thread),
//! `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<YYYY-MM-DDThh-mm-ss>-<id>.jsonl`, appended to on
//! `codex resume`. Lines are `{"timestamp","ordinal","type","payload"[,"metadata"]}`; the first
//! is `session_meta` (its `payload.cwd` is where the session ran); a turn ends with
//! `event_msg` / `task_complete`, which is written after the Stop hook fired (every time on
//! 0.171: the Codex form of Claude Code's Stop race, see [`turn_complete`]).
//!
//! Codex does not group rollouts by project: finding a session's file by id, or a
//! project's sessions, walks the date folders (newest first, bounded by [`MAX_DAYS`]).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::session::discover::Found;
use crate::session::layout::validate_id;

/// How many date folders a search by id looks at (newest first): years of daily use.
pub const MAX_DAYS: usize = 5000;
/// How much of a rollout's start is read for its `session_meta` line.
const HEAD_MAX: u64 = 4 * 1024 * 1024;
/// How much of a rollout's end is read to see whether its last turn is complete.
const TAIL_MAX: u64 = 256 * 1024;

/// The session id in a rollout file name `rollout-<YYYY-MM-DDThh-mm-ss>-<id>.jsonl`.
pub fn id_of(file_name: &str) -> Option<&str> {
    let rest = file_name.strip_prefix("rollout-")?.strip_suffix(".jsonl")?;
    // "YYYY-MM-DDThh-mm-ss-": 20 bytes, digits, dashes and a T in place.
    let b = rest.as_bytes();
    if b.len() <= 20 || b[10] != b'T' || b[19] != b'-' {
        return None;
    }
    let shape_ok = b[..19].iter().enumerate().all(|(i, c)| match i {
        4 | 7 | 13 | 16 => *c == b'-',
        10 => *c == b'T',
        _ => c.is_ascii_digit(),
    });
    let id = &rest[20..];
    (shape_ok && validate_id(id).is_ok()).then_some(id)
}

/// The file name Codex would give a session `id` started at `ts` (RFC 3339; the time part of
/// the name is the rollout's start, `YYYY-MM-DDThh-mm-ss`) and its date folder `YYYY/MM/DD`.
pub fn file_name_for(id: &str, ts: &str) -> Option<(String, String)> {
    let b = ts.as_bytes();
    if b.len() < 19 || !b[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let (y, mo, d) = (&ts[0..4], &ts[5..7], &ts[8..10]);
    let (h, mi, s) = (&ts[11..13], &ts[14..16], &ts[17..19]);
    let all_digits = [mo, d, h, mi, s].iter().all(|p| p.bytes().all(|c| c.is_ascii_digit()));
    if !all_digits {
        return None;
    }
    Some((format!("rollout-{y}-{mo}-{d}T{h}-{mi}-{s}-{id}.jsonl"), format!("{y}/{mo}/{d}")))
}

/// The date folders `YYYY/MM/DD` under `sessions`, newest first.
fn day_dirs(sessions: &Path) -> Vec<PathBuf> {
    fn numbered(dir: &Path, width: usize) -> Vec<(String, PathBuf)> {
        let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
        let mut v: Vec<(String, PathBuf)> = rd
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().into_string().ok()?;
                (n.len() == width && n.bytes().all(|c| c.is_ascii_digit()) && e.path().is_dir()).then(|| (n, e.path()))
            })
            .collect();
        v.sort_by(|a, b| b.0.cmp(&a.0));
        v
    }
    let mut out = Vec::new();
    for (_, y) in numbered(sessions, 4) {
        for (_, m) in numbered(&y, 2) {
            for (_, d) in numbered(&m, 2) {
                out.push(d);
                if out.len() >= MAX_DAYS {
                    return out;
                }
            }
        }
    }
    out
}

/// The rollouts directly in one date folder.
fn rollouts_in(dir: &Path) -> Vec<Found> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut v = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(id) = name.to_str().and_then(id_of) else { continue };
        let Ok(md) = std::fs::metadata(e.path()) else { continue };
        if md.is_file() {
            v.push(Found { id: id.to_string(), transcript: e.path(), modified: md.modified().ok() });
        }
    }
    v
}

/// Every rollout under `sessions` (one per id: the most recently modified), sorted by id.
pub fn all(sessions: &Path) -> Vec<Found> {
    let mut by_id: std::collections::HashMap<String, Found> = std::collections::HashMap::new();
    for d in day_dirs(sessions) {
        for f in rollouts_in(&d) {
            match by_id.get(&f.id) {
                Some(old) if old.modified >= f.modified => {}
                _ => {
                    by_id.insert(f.id.clone(), f);
                }
            }
        }
    }
    let mut v: Vec<Found> = by_id.into_values().collect();
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

/// The rollouts under `sessions` that ran in `project_dir` (their `session_meta` cwd).
pub fn of_project(sessions: &Path, project_dir: &Path) -> Vec<Found> {
    all(sessions)
        .into_iter()
        .filter(|f| recorded_cwd(&f.transcript).is_some_and(|c| c.components().eq(project_dir.components())))
        .collect()
}

/// The rollout file of session `id` under `sessions` (the newest if several), if any.
pub fn find(sessions: &Path, id: &str) -> Option<PathBuf> {
    let suffix = format!("-{id}.jsonl");
    for d in day_dirs(sessions) {
        let hits: Vec<Found> = rollouts_in(&d).into_iter().filter(|f| f.id == id).collect();
        if let Some(f) = hits.into_iter().max_by_key(|f| f.modified.unwrap_or(SystemTime::UNIX_EPOCH)) {
            debug_assert!(f.transcript.to_string_lossy().ends_with(&suffix));
            return Some(f.transcript);
        }
    }
    None
}

/// The first line of a rollout, if it is a whole `session_meta` line: its `payload`.
pub fn session_meta(path: &Path) -> Option<serde_json::Value> {
    let mut f = File::open(path).ok()?;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        let start = buf.len();
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf[start..].iter().position(|&b| b == b'\n') {
            buf.truncate(start + i);
            break;
        }
        if buf.len() as u64 > HEAD_MAX {
            return None;
        }
    }
    let v: serde_json::Value = serde_json::from_slice(&buf).ok()?;
    (v.get("type").and_then(|t| t.as_str()) == Some("session_meta")).then(|| v.get("payload").cloned()).flatten()
}

/// The cwd a rollout records (`session_meta.payload.cwd`), when absolute.
pub fn recorded_cwd(path: &Path) -> Option<PathBuf> {
    let cwd = session_meta(path)?.get("cwd")?.as_str()?.to_string();
    let p = PathBuf::from(cwd);
    p.is_absolute().then_some(p)
}

/// Whether the rollout's last turn is finished on disk: among its last whole lines, an
/// `event_msg` `task_complete` (of `turn_id`, when given) comes after any `task_started`.
/// At Stop it is not there yet; the worker waits for it (bounded) before its last flush.
pub fn turn_complete(path: &Path, turn_id: Option<&str>) -> bool {
    let Ok(mut f) = File::open(path) else { return false };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let from = len.saturating_sub(TAIL_MAX);
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(from)).is_err() || f.read_to_end(&mut buf).is_err() {
        return false;
    }
    let Some(last_nl) = buf.iter().rposition(|&b| b == b'\n') else { return false };
    let lines = buf[..last_nl].split(|&b| b == b'\n');
    for line in lines.rev() {
        let kind = event_kind(line);
        match kind.as_deref() {
            Some("task_complete" | "turn_complete") => {
                let Some(want) = turn_id else { return true };
                let v: serde_json::Value = serde_json::from_slice(line).unwrap_or_default();
                match v.pointer("/payload/turn_id").and_then(|t| t.as_str()) {
                    Some(t) if t != want => {} // an earlier turn's end: keep looking
                    _ => return true,
                }
            }
            Some("task_started" | "turn_started") => return false,
            _ => {}
        }
    }
    false
}

/// `payload.type` of an `event_msg` line (cheap test first: most lines are not one).
fn event_kind(line: &[u8]) -> Option<String> {
    let needle = b"\"event_msg\"";
    if !line.windows(needle.len()).any(|w| w == needle) {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    if v.get("type")?.as_str()? != "event_msg" {
        return None;
    }
    Some(v.pointer("/payload/type")?.as_str()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_file_names() {
        assert_eq!(
            id_of("rollout-2026-11-29T21-13-17-01a22927-b313-7373-95c6-c356234b28ff.jsonl"),
            Some("01a22927-b313-7373-95c6-c356234b28ff")
        );
        assert_eq!(id_of("rollout-2026-11-29T21-13-17-.jsonl"), None);
        assert_eq!(id_of("rollout-2026-11-29-21-13-17-x.jsonl"), None);
        assert_eq!(id_of("rollout-2026-11-29T21-13-17-../x.jsonl"), None);
        assert_eq!(id_of("2026-11-29T21-13-17-x.jsonl"), None);
        let (name, day) = file_name_for("abc", "2026-11-29T21:13:17.353Z").unwrap();
        assert_eq!((name.as_str(), day.as_str()), ("rollout-2026-11-29T21-13-17-abc.jsonl", "2026/11/29"));
        assert_eq!(id_of(&name), Some("abc"));
        assert_eq!(file_name_for("abc", "garbage"), None);
    }

    #[test]
    fn finds_rollouts_by_id_and_project() {
        let d = tempfile::tempdir().unwrap();
        let day = d.path().join("2026/11/29");
        std::fs::create_dir_all(&day).unwrap();
        let p = day.join("rollout-2026-11-29T21-13-17-s1.jsonl");
        std::fs::write(
            &p,
            b"{\"timestamp\":\"t\",\"type\":\"session_meta\",\"payload\":{\"id\":\"s1\",\"cwd\":\"/w\"}}\n",
        )
        .unwrap();
        std::fs::write(day.join("notes.txt"), b"x").unwrap();
        assert_eq!(find(d.path(), "s1"), Some(p.clone()));
        assert_eq!(find(d.path(), "s2"), None);
        assert_eq!(recorded_cwd(&p), Some(PathBuf::from("/w")));
        assert_eq!(of_project(d.path(), Path::new("/w")).len(), 1);
        assert!(of_project(d.path(), Path::new("/other")).is_empty());
        assert_eq!(all(d.path()).len(), 1);
    }

    #[test]
    fn a_turn_is_complete_once_task_complete_is_on_disk() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.jsonl");
        let started = |t: &str| {
            format!("{{\"type\":\"event_msg\",\"payload\":{{\"type\":\"task_started\",\"turn_id\":\"{t}\"}}}}\n")
        };
        let done = |t: &str| {
            format!("{{\"type\":\"event_msg\",\"payload\":{{\"type\":\"task_complete\",\"turn_id\":\"{t}\"}}}}\n")
        };
        let msg = "{\"type\":\"response_item\",\"payload\":{\"type\":\"message\",\"role\":\"assistant\"}}\n";
        std::fs::write(&p, format!("{}{}{msg}", started("a"), done("a"))).unwrap();
        assert!(turn_complete(&p, None));
        std::fs::write(&p, format!("{}{}{}{msg}", started("a"), done("a"), started("b"))).unwrap();
        assert!(!turn_complete(&p, None), "turn b still runs");
        assert!(!turn_complete(&p, Some("b")));
        let partial = done("b");
        std::fs::write(&p, format!("{}{}{}{msg}{}", started("a"), done("a"), started("b"), &partial[..20])).unwrap();
        assert!(!turn_complete(&p, Some("b")), "a partial line does not count");
        std::fs::write(&p, format!("{}{}{}{msg}{}", started("a"), done("a"), started("b"), partial)).unwrap();
        assert!(turn_complete(&p, Some("b")));
        assert!(!turn_complete(&d.path().join("missing"), None));
    }
}
