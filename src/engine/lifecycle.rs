//! Finishing orphaned sessions: sessions that will never get their SessionEnd.
//!
//! Claude Code does not run SessionEnd hooks when it is SIGKILLed (closed terminal, OOM,
//! crash), and some versions missed it. Such a session keeps `ended_at: null` forever and
//! its partial last line is never sent. We notice them later, from the outside: a session
//! of the same project whose local state is not ended and whose transcript has not changed
//! for longer than an idle threshold (default 30 minutes, `TRACECRAFT_ORPHAN_IDLE_SECS`)
//! gets a final flush with end reason `orphaned`, which also stamps `ended_at`.
//!
//! Who looks: the hook on every SessionStart (a new session in a project is the natural
//! moment to close the dead ones) and `follow --all` each cycle. Both go through
//! [`maybe_finish_orphans`], which scans at most once per [`SCAN_EVERY`] per project (the
//! times live in `~/.tracecraft/state/.orphan-scan`) and finishes at most [`MAX_PER_SCAN`]
//! sessions per scan, so a SessionStart never turns into a long backfill.
//!
//! Deliberately not done: sessions whose state belongs to another destination (another
//! bucket or project) are left alone; a session that only looks idle (the user is away
//! with Claude Code open) may be marked ended, and the next flush that uploads anything
//! for it clears `ended_at` again (see the flush engine), so the mistake heals itself.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::base::error::{Error, Result};
use crate::base::fsutil::{atomic_write, read_optional};
use crate::config::Config;
use crate::engine::flush::{FlushOpts, Mirror};
use crate::session::layout::{validate_id, Harness};
use crate::session::state::{self, State};
use crate::session::transcript;
use crate::session::Session;
use crate::store::Store;

/// A session idle this long with no SessionEnd is taken for dead.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(30 * 60);
/// Scan a project's states at most this often (or every idle threshold, if shorter).
pub const SCAN_EVERY: Duration = Duration::from_secs(5 * 60);
/// Finish at most this many sessions per scan; the rest wait for the next scan.
pub const MAX_PER_SCAN: usize = 25;
/// End reason recorded in meta.json.
pub const REASON: &str = "orphaned";
/// Marker file (in the state directory) with the last scan time per project.
pub const MARKER: &str = ".orphan-scan";
/// Forget marker entries older than this.
const MARKER_TTL: Duration = Duration::from_secs(24 * 3600);

/// The idle threshold: `TRACECRAFT_ORPHAN_IDLE_SECS` (seconds, > 0) or [`DEFAULT_IDLE`].
pub fn idle_threshold() -> Duration {
    std::env::var("TRACECRAFT_ORPHAN_IDLE_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .unwrap_or(DEFAULT_IDLE)
}

/// How long something last modified at `modified` has been idle at `now` (zero when the
/// time is in the future, e.g. after a clock step back: a recent-looking file is not idle).
pub fn idle_for(now: SystemTime, modified: SystemTime) -> Duration {
    now.duration_since(modified).unwrap_or(Duration::ZERO)
}

/// Whether a session with state `st` is an orphan of `project` at `now`: same project and
/// destination, not ended, not `exclude_id`, and its transcript (or, when the transcript is
/// gone, its state file) unmodified for longer than `idle`.
pub fn is_orphan(
    st: &State,
    project: &Path,
    dest: &str,
    exclude_id: &str,
    last_change: Option<SystemTime>,
    now: SystemTime,
    idle: Duration,
) -> bool {
    !st.ended
        && st.session_id != exclude_id
        && st.dest == dest
        && st.cwd.as_deref().is_some_and(|c| same_dir(c, project))
        && last_change.is_some_and(|t| idle_for(now, t) > idle)
}

/// Component-wise comparison (`/a/b/` equals `/a/b`).
fn same_dir(a: &Path, b: &Path) -> bool {
    a.components().eq(b.components())
}

/// When the session last changed: its transcript's mtime, else (transcript deleted) its
/// state file's mtime.
fn last_change(st: &State, state_file: &Path) -> Option<SystemTime> {
    match transcript::stat(&st.transcript) {
        Some((_, mtime_ns)) => system_time_from_ns(mtime_ns),
        None => std::fs::metadata(state_file).and_then(|m| m.modified()).ok(),
    }
}

fn system_time_from_ns(ns: i128) -> Option<SystemTime> {
    let ns = u64::try_from(ns).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_nanos(ns))
}

/// Final-flush (reason `orphaned`, stamping `ended_at`) every orphan of `project_cwd` whose
/// state is in `state_dir`; returns the ids finished. A session whose lock is held is being
/// flushed by someone, hence alive, and is skipped. Stops at the first other error (the
/// store is probably unreachable; the next scan retries).
pub fn finish_orphans(
    cfg: &Config,
    store: &dyn Store,
    state_dir: &Path,
    project_cwd: &Path,
    exclude_id: &str,
    idle: Duration,
    harness: Harness,
) -> Result<Vec<String>> {
    let own = crate::session::state::dir_for(state_dir, harness);
    let candidates = orphans(&own, project_cwd, &cfg.dest_id(), exclude_id, idle, SystemTime::now());
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let mirror = Mirror::new(cfg, store, state_dir.to_path_buf(), None)?;
    let mut done = Vec::new();
    for st in candidates.into_iter().take(MAX_PER_SCAN) {
        let session = Session {
            id: st.session_id.clone(),
            transcript: st.transcript.clone(),
            cwd: Some(project_cwd.into()),
            harness,
        };
        let opts = FlushOpts {
            final_: true,
            reason: Some(REASON.to_string()),
            lock_wait: Duration::from_millis(500),
            ..FlushOpts::default()
        };
        match mirror.flush(&session, &opts) {
            Ok(_) => done.push(st.session_id),
            Err(Error::Busy(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// The states in `state_dir` that are orphans of `project` (oldest activity first).
fn orphans(
    state_dir: &Path,
    project: &Path,
    dest: &str,
    exclude_id: &str,
    idle: Duration,
    now: SystemTime,
) -> Vec<State> {
    let Ok(rd) = std::fs::read_dir(state_dir) else { return Vec::new() };
    let mut found: Vec<(Option<SystemTime>, State)> = Vec::new();
    for entry in rd.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".json") else { continue };
        if stem.contains('@') || stem.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let Some(st) = state::load(&path) else { continue };
        if validate_id(&st.session_id).is_err() || state::file_stem(&st.session_id) != stem {
            continue;
        }
        let changed = last_change(&st, &path);
        if is_orphan(&st, project, dest, exclude_id, changed, now, idle) {
            found.push((changed, st));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.session_id.cmp(&b.1.session_id)));
    found.into_iter().map(|(_, st)| st).collect()
}

/// [`finish_orphans`], at most once per [`SCAN_EVERY`] (or per `idle`, if shorter) per
/// project. `Ok(None)`: not due. Creates nothing when there is no state directory.
pub fn maybe_finish_orphans(
    cfg: &Config,
    store: &dyn Store,
    state_dir: &Path,
    project_cwd: &Path,
    exclude_id: &str,
    idle: Duration,
    harness: Harness,
) -> Result<Option<Vec<String>>> {
    let own = crate::session::state::dir_for(state_dir, harness);
    if !own.is_dir() || !claim_scan(&own, project_cwd, SCAN_EVERY.min(idle), SystemTime::now())? {
        return Ok(None);
    }
    finish_orphans(cfg, store, state_dir, project_cwd, exclude_id, idle, harness).map(Some)
}

/// Whether a scan of `project` is due at `now`; if so, record it (before scanning, so that
/// concurrent hooks do not all scan). A lost update between two writers only costs a scan.
pub fn claim_scan(state_dir: &Path, project: &Path, every: Duration, now: SystemTime) -> Result<bool> {
    let marker = state_dir.join(MARKER);
    let mut times: BTreeMap<String, f64> = read_optional(&marker)?
        .and_then(|b| serde_json::from_slice::<BTreeMap<String, f64>>(&b).ok())
        .unwrap_or_default();
    let now_s = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
    let key = project.to_string_lossy().into_owned();
    if let Some(&last) = times.get(&key) {
        // A time in the future (clock stepped back) does not block scanning.
        if last <= now_s && now_s - last < every.as_secs_f64() {
            return Ok(false);
        }
    }
    times.retain(|_, t| *t <= now_s && now_s - *t < MARKER_TTL.as_secs_f64());
    times.insert(key, now_s);
    let bytes = serde_json::to_vec(&times).map_err(|e| Error::Invalid(format!("orphan scan marker: {e}")))?;
    atomic_write(&marker, &bytes, 0o600)?;
    Ok(true)
}

/// The hook's SessionStart call: finish the orphans of `project` except `starting_id`.
/// Never fails; results and errors go to the hook log.
pub fn on_session_start(
    cfg: &Config,
    store: &dyn Store,
    state_dir: &Path,
    project: &Path,
    starting_id: &str,
    harness: Harness,
) {
    match maybe_finish_orphans(cfg, store, state_dir, project, starting_id, idle_threshold(), harness) {
        Ok(Some(ids)) if !ids.is_empty() => crate::base::log::log(
            "INFO",
            &format!("SessionStart {starting_id}: finished orphaned session(s) {}", ids.join(", ")),
        ),
        Ok(_) => {}
        Err(e) => {
            crate::base::log::log("WARN", &format!("SessionStart {starting_id}: finishing orphaned sessions: {e}"))
        }
    }
}

/// A threshold for messages: `30m`, `2h`, `1.5s`.
pub fn describe_idle(idle: Duration) -> String {
    let s = idle.as_secs();
    if s >= 3600 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{:.1}s", idle.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn st(id: &str, cwd: &str, ended: bool) -> State {
        State {
            version: 1,
            session_id: id.into(),
            dest: "d".into(),
            cwd: Some(cwd.into()),
            ended,
            transcript: PathBuf::from(format!("/nonexistent/{id}.jsonl")),
            ..Default::default()
        }
    }

    #[test]
    fn idle_for_is_zero_for_future_times() {
        let now = UNIX_EPOCH + Duration::from_secs(1000);
        assert_eq!(idle_for(now, UNIX_EPOCH + Duration::from_secs(400)), Duration::from_secs(600));
        assert_eq!(idle_for(now, UNIX_EPOCH + Duration::from_secs(2000)), Duration::ZERO);
    }

    #[test]
    fn orphan_needs_idle_longer_than_threshold() {
        let now = UNIX_EPOCH + Duration::from_secs(10_000);
        let idle = Duration::from_secs(1800);
        let s = st("a", "/p", false);
        let p = Path::new("/p");
        assert!(is_orphan(&s, p, "d", "x", Some(now - Duration::from_secs(1801)), now, idle));
        assert!(!is_orphan(&s, p, "d", "x", Some(now - Duration::from_secs(1800)), now, idle));
        assert!(!is_orphan(&s, p, "d", "x", Some(now - Duration::from_secs(10)), now, idle));
        assert!(!is_orphan(&s, p, "d", "x", Some(now + Duration::from_secs(9999)), now, idle));
        assert!(!is_orphan(&s, p, "d", "x", None, now, idle));
    }

    #[test]
    fn orphan_excludes_ended_other_projects_other_dests_and_the_starting_session() {
        let now = UNIX_EPOCH + Duration::from_secs(10_000);
        let old = Some(UNIX_EPOCH);
        let idle = Duration::from_secs(60);
        let p = Path::new("/p");
        assert!(is_orphan(&st("a", "/p/", false), p, "d", "x", old, now, idle));
        assert!(!is_orphan(&st("a", "/p", true), p, "d", "x", old, now, idle));
        assert!(!is_orphan(&st("a", "/q", false), p, "d", "x", old, now, idle));
        assert!(!is_orphan(&st("a", "/p/sub", false), p, "d", "x", old, now, idle));
        assert!(!is_orphan(&st("a", "/p", false), p, "other", "x", old, now, idle));
        assert!(!is_orphan(&st("a", "/p", false), p, "d", "a", old, now, idle));
        let mut no_cwd = st("a", "/p", false);
        no_cwd.cwd = None;
        assert!(!is_orphan(&no_cwd, p, "d", "x", old, now, idle));
    }

    #[test]
    fn orphans_scans_state_files_and_uses_state_mtime_without_transcript() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        let t = dir.join("live.jsonl");
        std::fs::write(&t, b"{}\n").unwrap();
        let mut live = st("live", "/p", false);
        live.transcript = t;
        state::save(&dir.join("live.json"), &live).unwrap();
        state::save(&dir.join("gone.json"), &st("gone", "/p", false)).unwrap();
        state::save(&dir.join("done.json"), &st("done", "/p", true)).unwrap();
        std::fs::write(dir.join("junk.json"), b"{not json").unwrap();
        std::fs::write(dir.join(MARKER), b"{}").unwrap();
        // Files just written: nothing is idle yet.
        let now = SystemTime::now();
        let idle = Duration::from_secs(60);
        assert!(orphans(dir, Path::new("/p"), "d", "", idle, now).is_empty());
        // An hour later both unended sessions are idle; the ended one never is.
        let later = now + Duration::from_secs(3600);
        let ids: Vec<String> =
            orphans(dir, Path::new("/p"), "d", "", idle, later).into_iter().map(|s| s.session_id).collect();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&"live".to_string()) && ids.contains(&"gone".to_string()));
        assert!(orphans(dir, Path::new("/p"), "d", "live", idle, later).iter().all(|s| s.session_id == "gone"));
    }

    #[test]
    fn scans_are_throttled_per_project() {
        let d = tempfile::tempdir().unwrap();
        let every = Duration::from_secs(300);
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert!(claim_scan(d.path(), Path::new("/p"), every, t0).unwrap());
        assert!(!claim_scan(d.path(), Path::new("/p"), every, t0 + Duration::from_secs(10)).unwrap());
        assert!(claim_scan(d.path(), Path::new("/q"), every, t0 + Duration::from_secs(10)).unwrap());
        assert!(claim_scan(d.path(), Path::new("/p"), every, t0 + Duration::from_secs(301)).unwrap());
        // Clock stepped back: the future entry does not block.
        assert!(claim_scan(d.path(), Path::new("/p"), every, t0).unwrap());
        // A corrupt marker is replaced.
        std::fs::write(d.path().join(MARKER), b"garbage").unwrap();
        assert!(claim_scan(d.path(), Path::new("/p"), every, t0).unwrap());
    }

    #[test]
    fn idle_threshold_describes_itself() {
        assert_eq!(describe_idle(DEFAULT_IDLE), "30m");
        assert_eq!(describe_idle(Duration::from_secs(7200)), "2h");
        assert_eq!(describe_idle(Duration::from_millis(1500)), "1.5s");
    }
}
