//! Local per-session state: the cursor (how many source bytes are safely in the store),
//! the next part number, a fingerprint of what was uploaded, and the session lock.
//!
//! Files, all under `~/.tracecraft/state/` (0700 dir, 0600 files):
//! - `<stem>.json`: small, read on every hook event for the no-op check;
//! - `<stem>@meta.json`: our copy of meta.json, read only when something is uploaded;
//! - `<stem>@lock`: the fs2 lock that serialises every flush of the session on this machine;
//! - `<stem>@end`, `<stem>@compact.json`: the hook's end marker, an unfinished compaction.
//!
//! `<stem>` is [`file_stem`] of the id: ids are `[A-Za-z0-9._-]`, so `@` (never in an id)
//! separates the suffixes and no id's file can be another id's (`x` and `x.meta` used to
//! share `x.meta.json`), and capitals are written `^c`, so two ids differing only in case
//! stay apart on a case-insensitive file system. Files of the earlier naming are moved on
//! first use ([`migrate_legacy`]).
//!
//! A Codex session's files are the same, in `~/.tracecraft/state/codex/` ([`dir_for`]).
//!
//! The state is bound to a destination id: a state for another bucket/project is ignored.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fs2::FileExt;
use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::fsutil::{atomic_write, ensure_private_dir, read_optional};
use crate::session::meta::Meta;
use crate::session::transcript::{self, Fingerprint};

/// A part whose bytes did not end with a newline (only a final flush sends those): the next
/// flush re-sends it from `from` under the same key, so the line is never split in two parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenPart {
    pub seq: u32,
    pub from: u64,
}

/// The small state file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub session_id: String,
    #[serde(with = "os_path")]
    pub transcript: PathBuf,
    /// Destination id (`Config::dest_id`).
    pub dest: String,
    /// Source bytes `[0, cursor)` are in the store.
    pub cursor: u64,
    /// Sequence number of the next new part (never reused).
    pub next_seq: u32,
    #[serde(default)]
    pub open_part: Option<OpenPart>,
    /// File length and mtime at the last flush: equal now means nothing new (no-op path).
    #[serde(default)]
    pub seen_len: u64,
    #[serde(default)]
    pub seen_mtime_ns: i128,
    #[serde(default)]
    pub fingerprint: Fingerprint,
    /// meta.json in the store lags our copy (a crash between part and meta upload).
    #[serde(default)]
    pub meta_dirty: bool,
    /// ETag of the meta.json we wrote last (conditional writes notice other writers).
    #[serde(default)]
    pub meta_etag: Option<String>,
    /// ended_at has been stamped.
    #[serde(default)]
    pub ended: bool,
    /// The project directory the session ran in (for finding its config later).
    #[serde(default, with = "os_path_opt")]
    pub cwd: Option<PathBuf>,
    /// RFC 3339 time of the last flush that did anything (for idle detection).
    #[serde(default)]
    pub last_activity: Option<String>,
}

/// Paths are kept exactly, even when they are not UTF-8: a JSON string when they are, else
/// an array of bytes.
mod os_path {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    use std::path::{Path, PathBuf};

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    pub(super) enum Repr {
        Text(String),
        Bytes(Vec<u8>),
    }

    pub(super) fn to_repr(p: &Path) -> Repr {
        match p.to_str() {
            Some(s) => Repr::Text(s.to_string()),
            None => Repr::Bytes(p.as_os_str().as_bytes().to_vec()),
        }
    }

    pub(super) fn from_repr(r: Repr) -> PathBuf {
        match r {
            Repr::Text(s) => PathBuf::from(s),
            Repr::Bytes(b) => PathBuf::from(std::ffi::OsString::from_vec(b)),
        }
    }

    pub fn serialize<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
        to_repr(p).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        Repr::deserialize(d).map(from_repr)
    }
}

mod os_path_opt {
    use std::path::PathBuf;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::os_path::{from_repr, to_repr, Repr};

    pub fn serialize<S: Serializer>(p: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
        p.as_deref().map(to_repr).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
        Option::<Repr>::deserialize(d).map(|o| o.map(from_repr))
    }
}

/// The state directory of `harness`'s sessions inside the state directory `base`: `base`
/// itself for Claude Code (as always), `base/codex/` for Codex, so that no file of a Codex
/// session (state, lock, end marker, pending notes) can be taken for a Claude Code one.
pub fn dir_for(base: &Path, harness: crate::session::layout::Harness) -> PathBuf {
    match harness {
        crate::session::layout::Harness::ClaudeCode => base.to_path_buf(),
        h => base.join(h.dir()),
    }
}

/// Paths of one session's state files.
#[derive(Debug, Clone)]
pub struct StatePaths {
    pub state: PathBuf,
    pub meta: PathBuf,
    pub lock: PathBuf,
    /// The session's last hook failure (time and error), written by the hook, removed by the
    /// next successful flush; `doctor` reports it.
    pub failed: PathBuf,
}

impl StatePaths {
    /// For a validated id in `dir`.
    pub fn new(dir: &Path, id: &str) -> StatePaths {
        let stem = file_stem(id);
        StatePaths {
            state: dir.join(format!("{stem}.json")),
            meta: dir.join(format!("{stem}@meta.json")),
            lock: dir.join(format!("{stem}@lock")),
            failed: dir.join(format!("{stem}@failed")),
        }
    }
}

/// The file-name stem of a session id: the id with each capital `C` written `^c` (see the
/// module documentation). Injective, lower case only, never contains `@`.
pub fn file_stem(id: &str) -> String {
    let mut s = String::with_capacity(id.len() + 4);
    for c in id.chars() {
        if c.is_ascii_uppercase() {
            s.push('^');
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

/// `<dir>/<stem>@<what>`: another per-session file (end marker, compaction record...).
pub fn side_file(dir: &Path, id: &str, what: &str) -> PathBuf {
    dir.join(format!("{}@{what}", file_stem(id)))
}

/// Move a session's files of the earlier naming (`<id>.meta.json`, `<id>.compact.json`,
/// `<id>.end`) to the current names, when they really are that session's: a file of
/// another session with a dotted id (`<id>.meta`'s state) is left alone. Call under the
/// session lock. Best effort.
pub fn migrate_legacy(dir: &Path, id: &str) {
    let moves = [
        (format!("{id}.meta.json"), "meta.json"),
        (format!("{id}.compact.json"), "compact.json"),
        (format!("{id}.end"), "end"),
    ];
    for (old, what) in moves {
        let old = dir.join(old);
        let new = side_file(dir, id, what);
        if new.exists() || !old.is_file() {
            continue;
        }
        let ours = match what {
            "meta.json" => read_optional(&old)
                .ok()
                .flatten()
                .and_then(|b| Meta::parse(&b).ok())
                .is_some_and(|m| m.session_id == id),
            "compact.json" => read_optional(&old)
                .ok()
                .flatten()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .is_some_and(|v| v.get("originals").is_some()),
            _ => true,
        };
        if ours {
            let _ = std::fs::rename(&old, &new);
        }
    }
}

/// Read a state file; a missing or corrupt one reads as `None` (recovered from the store).
pub fn load(path: &Path) -> Option<State> {
    let bytes = read_optional(path).ok()??;
    serde_json::from_slice(&bytes).ok()
}

/// Atomically replace the state file.
pub fn save(path: &Path, st: &State) -> Result<()> {
    let bytes = serde_json::to_vec(st).expect("state serializes");
    atomic_write(path, &bytes, 0o600)
}

/// Our copy of meta.json, if readable.
pub fn load_meta(path: &Path) -> Option<Meta> {
    Meta::parse(&read_optional(path).ok()??).ok()
}

/// Atomically replace our copy of meta.json.
pub fn save_meta(path: &Path, meta: &Meta) -> Result<()> {
    atomic_write(path, &meta.to_bytes(), 0o600)
}

/// Forget a session's local state (its lock file stays: it may be held).
pub fn forget(paths: &StatePaths) -> Result<()> {
    for p in [&paths.state, &paths.meta, &paths.failed] {
        match std::fs::remove_file(p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("delete", p, e)),
        }
    }
    Ok(())
}

/// An exclusive lock on a session, released on drop.
#[derive(Debug)]
pub struct SessionLock {
    file: File,
}

impl Drop for SessionLock {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.file);
    }
}

/// Take the session lock, waiting up to `wait`. The directory is created (0700) if needed.
pub fn lock(path: &Path, wait: Duration) -> Result<SessionLock> {
    if let Some(dir) = path.parent() {
        if let Some(top) = dir.parent() {
            crate::base::fsutil::ensure_private_dir_strict(top)?;
        }
        ensure_private_dir(dir)?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io("open lock", path, e))?;
    let start = Instant::now();
    let mut delay = Duration::from_millis(5);
    loop {
        match file.try_lock_exclusive() {
            Ok(()) => return Ok(SessionLock { file }),
            Err(_) if start.elapsed() < wait => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(100));
            }
            Err(_) => {
                return Err(Error::Busy(format!(
                    "session is being flushed by another process (lock {} held for {:.1}s)",
                    path.display(),
                    wait.as_secs_f64()
                )))
            }
        }
    }
}

/// The no-op check of the hook's hot path: true when the transcript is exactly as the last
/// flush left it and the event needs nothing else. Reads one small file and stats another.
pub fn nothing_new(state_path: &Path, transcript: &Path, final_: bool) -> bool {
    let Some(st) = load(state_path) else { return false };
    if st.meta_dirty || st.transcript != transcript || (final_ && !st.ended) {
        return false;
    }
    match transcript::stat(transcript) {
        Some((len, mtime)) => len == st.seen_len && mtime == st.seen_mtime_ns,
        None => !final_,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_ids_share_a_file() {
        let d = Path::new("/s");
        let ids = ["x", "x.meta", "X", "x.lock", "x.compact", "x.end", "a-b", "A-b", "x.json", "x.meta.json"];
        let mut seen = std::collections::HashMap::new();
        for id in ids {
            let p = StatePaths::new(d, id);
            let files = [p.state, p.meta, p.lock, side_file(d, id, "end"), side_file(d, id, "compact.json")];
            for f in files {
                // Compared case-folded, as a case-insensitive file system would.
                let k = f.to_string_lossy().to_lowercase();
                if let Some(other) = seen.insert(k.clone(), id) {
                    assert_eq!(other, id, "{k} is shared by ids {other:?} and {id:?}");
                }
            }
        }
    }

    #[test]
    fn lock_excludes_and_times_out() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state/s.lock");
        let l = lock(&p, Duration::from_millis(10)).unwrap();
        let e = lock(&p, Duration::from_millis(50)).unwrap_err();
        assert!(matches!(e, Error::Busy(_)));
        drop(l);
        lock(&p, Duration::from_millis(10)).unwrap();
    }

    #[test]
    fn state_round_trip_and_corrupt_reads_as_none() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.json");
        let st = State { version: 1, session_id: "s".into(), cursor: 5, next_seq: 2, ..Default::default() };
        save(&p, &st).unwrap();
        assert_eq!(load(&p), Some(st));
        std::fs::write(&p, b"{garbage").unwrap();
        assert_eq!(load(&p), None);
        // Non-UTF-8 paths survive exactly.
        use std::os::unix::ffi::OsStrExt;
        let odd = PathBuf::from(std::ffi::OsStr::from_bytes(b"/tmp/\xff.jsonl"));
        let st = State { transcript: odd.clone(), cwd: Some(odd.clone()), ..Default::default() };
        save(&p, &st).unwrap();
        assert_eq!(load(&p).unwrap().transcript, odd);
    }
}
