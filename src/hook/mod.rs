//! Hook mode: what Claude Code runs on every event. It reads one payload, decides in
//! microseconds whether anything needs doing, and if so hands the work to a detached worker
//! (its own process group, so Claude Code's SIGTERM/SIGKILL of the hook's group at
//! SessionEnd does not reach it) and returns. It always exits 0 with empty stdout; every
//! failure goes to the hook log.
//!
//! `TRACECRAFT_HOOK_INLINE=1` does the work in the hook process itself (tests, debugging).
//!
//! Bounded: a worker exits after [`WORKER_DEADLINE`] whatever the endpoint does (every
//! flush is crash-safe, so stopping anywhere loses nothing). An event whose worker finds the
//! session lock still taken after its wait leaves its payload in `state/pending/`; whoever
//! holds the lock runs those events after its own (the note is written before the last
//! attempt at the lock, and read after the lock is let go, so none is missed). Transcript
//! paths from payloads are used only inside Claude Code's projects directory.
//!
//! Codex CLI runs the same hook (`tracecraft-hook hook --harness codex` in its hooks.json;
//! a payload whose transcript_path is under `$CODEX_HOME/sessions/` is taken for Codex's
//! too). A Codex session goes to `sessions/codex/<id>/`, its local files to
//! `state/codex/` (`state::dir_for`); everything else is the same path, with one difference
//! at Stop: Codex writes the turn's last line (`task_complete`) after Stop, so the worker
//! waits for that line (`rollout::turn_complete`) rather than for the assistant's text.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::base::error::{Error, Result};
use crate::base::log::log;
use crate::base::paths;
use crate::config::Config;
use crate::engine::flush::{FlushOpts, Mirror, StartInfo};
use crate::host::payload::{parse_event, read_one, Event};
use crate::session::layout::{validate_id, Harness};
use crate::session::rollout;
use crate::session::state::{nothing_new, StatePaths};
use crate::session::transcript;
use crate::session::transcript::tail_contains;
use crate::session::Session;
use crate::store::{self, Limits};

pub(crate) mod subagent;

/// How long the hook waits for its payload.
const STDIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long after Stop we wait for the turn's last assistant line to reach the disk.
const STOP_LINE_WAIT: Duration = Duration::from_millis(2500);
/// How long the SessionEnd worker keeps watching the transcript after its final flush.
const END_SETTLE: Duration = Duration::from_millis(1000);
/// How often it looks.
const END_POLL: Duration = Duration::from_millis(25);
/// How a hook tells its worker when the event reached us (nanoseconds since the epoch).
const FIRED_ENV: &str = "TRACECRAFT_HOOK_FIRED_NS";
/// A detached worker never lives longer than this (a hung endpoint, a huge delta on a dead
/// link): it logs one line and exits; the next event carries on from the saved cursor.
pub const WORKER_DEADLINE: Duration = Duration::from_secs(120);

/// Entry point of hook mode (`worker`: we are the detached worker). Never fails, never prints.
pub fn run(worker: bool) {
    run_as(worker, None);
}

/// [`run`] for a hook registered with `--harness` (`None`: told by the transcript path).
pub fn run_as(worker: bool, harness: Option<Harness>) {
    if worker {
        std::thread::spawn(|| {
            std::thread::sleep(WORKER_DEADLINE);
            log(
                "WARN",
                &format!("worker: still busy after {}s; exiting (the next event resumes)", WORKER_DEADLINE.as_secs()),
            );
            std::process::exit(0);
        });
    }
    let result = std::panic::catch_unwind(|| handle(worker, harness));
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => log("ERROR", &format!("hook: {e}")),
        Err(_) => log("ERROR", "hook: internal error (panic); nothing was lost, the next event retries"),
    }
}

fn handle(worker: bool, given: Option<Harness>) -> Result<()> {
    let (value, raw) = read_one(std::io::stdin(), STDIN_TIMEOUT)?;
    let event = parse_event(&value);
    let Some(common) = event.common() else {
        return Ok(()); // not an event we act on
    };
    validate_id(&common.session_id)?;
    let (transcript, harness) =
        resolve_transcript(given, common.transcript_path.as_deref(), common.cwd.as_deref(), &common.session_id)?;
    let state_dir = crate::session::state::dir_for(&paths::state_dir()?, harness);
    if let (Event::SubagentStop { agent_transcript_path: Some(p), .. }, Harness::ClaudeCode) = (&event, harness) {
        if !paths::in_claude_projects(p) {
            return Err(Error::Invalid(format!(
                "agent_transcript_path {} is outside Claude Code's projects directory {}; ignoring the event",
                p.display(),
                paths::claude_projects_dir()?.display()
            )));
        }
    }
    let fired = match std::env::var(FIRED_ENV).ok().and_then(|v| v.parse().ok()) {
        Some(ns) if worker => ns,
        _ => now_ns(),
    };

    if !worker {
        if let Event::SessionEnd { reason, .. } = &event {
            write_end_marker(&state_dir, &common.session_id, fired, reason.as_deref().unwrap_or("other"));
        }
        // Hot path: nothing new and nothing to record -> done, no config, no network.
        let final_ = matches!(event, Event::SessionEnd { .. });
        let state_path = StatePaths::new(&state_dir, &common.session_id).state;
        let needs_start = matches!(event, Event::SessionStart { .. });
        let waits_for_line = match &event {
            Event::Stop { turn_id, .. } if harness == Harness::Codex => {
                !rollout::turn_complete(&transcript, turn_id.as_deref())
            }
            Event::Stop { last_assistant_message: Some(m), .. } => !tail_contains(&transcript, m),
            _ => false,
        };
        // SubagentStop: the agent's own transcript too (the same no-op test on it).
        let agent_pending = subagent::announced_pending(&event, &state_dir);
        if !needs_start && !waits_for_line && !agent_pending && nothing_new(&state_path, &transcript, final_) {
            return Ok(());
        }
        if std::env::var_os("TRACECRAFT_HOOK_INLINE").is_none_or(|v| v.is_empty() || v == "0") {
            match spawn_worker(&raw, fired, harness) {
                Ok(()) => return Ok(()),
                Err(e) => log("WARN", &format!("could not start a background worker ({e}); flushing inline")),
            }
        }
    }
    let result = run_event(&event, &transcript, harness, worker, fired, &raw);
    record_outcome(&state_dir, &common.session_id, &result);
    result
}

/// A failed hook leaves its time and error in the session's `@failed` file
/// (`StatePaths::failed`): its new bytes stay pending and `doctor` reports it; the next
/// successful flush removes it. Best effort.
fn record_outcome(dir: &Path, id: &str, result: &Result<()>) {
    let Err(e) = result else { return };
    let line = format!("{} {}\n", crate::base::util::now_rfc3339(), e.to_string().replace('\n', " "));
    if crate::base::fsutil::ensure_private_dir(dir).is_ok() {
        let _ = crate::base::fsutil::atomic_write(&StatePaths::new(dir, id).failed, line.as_bytes(), 0o600);
    }
}

/// Do the event's work; when the session lock stays taken, leave the event for the holder.
/// Then run what other events left for us.
fn run_event(event: &Event, transcript: &Path, harness: Harness, worker: bool, fired: u128, raw: &[u8]) -> Result<()> {
    let id = &event.common().expect("acted-on event").session_id;
    let pending = crate::session::state::dir_for(&paths::state_dir()?, harness).join("pending");
    // Written before our (last) try at the lock: a holder that lets go after that try
    // failed finds it when it looks (see `drain_pending`).
    let note = note_pending(&pending, id, fired, raw);
    let result = work(event, transcript, harness, worker, fired);
    match (&result, &note) {
        (Err(Error::Busy(_)), Some(_)) => {
            log(
                "INFO",
                &format!(
                    "{} {id}: another flush holds the session; it will run this event after its own",
                    event.name()
                ),
            );
            return Ok(());
        }
        (_, Some(n)) => {
            let _ = std::fs::remove_file(n);
        }
        _ => {}
    }
    drain_pending(&pending, id, harness);
    result
}

/// Leave `raw` (fired at `fired`) in `dir` for the holder of the session lock.
fn note_pending(dir: &Path, id: &str, fired: u128, raw: &[u8]) -> Option<PathBuf> {
    crate::base::fsutil::ensure_private_dir(dir).ok()?;
    let path = dir.join(format!("{}@{fired}.{}", crate::session::state::file_stem(id), std::process::id()));
    let mut bytes = format!("{fired}\n").into_bytes();
    bytes.extend_from_slice(raw);
    // Without fsync: cheap, never read half-written; a note lost in a power cut only loses
    // a re-run that the next event does anyway.
    let tmp = dir.join(format!(".{}.{}.tmp", crate::session::state::file_stem(id), std::process::id()));
    replace_unsynced(&tmp, &path, &bytes).ok()?;
    Some(path)
}

/// Write `bytes` to `path` through `tmp` (0600, then rename; no fsync), so a reader never
/// sees half a file. On failure `tmp` is removed.
fn replace_unsynced(tmp: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(tmp)
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|()| std::fs::rename(tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    written
}

/// Run the events other hooks of session `id` left while we held its lock, oldest first,
/// within the worker's deadline. One still blocked by a lock stays for that lock's holder.
///
/// A note is written before its hook's own try at the lock, so while that hook still runs
/// the event is its own: it removes the note when done, or exits leaving it (lock busy).
/// Running it here too would do the event twice (harmless for the bytes, but twice the
/// requests and log lines), so notes of a live process are waited for, not taken.
fn drain_pending(dir: &Path, id: &str, harness: Harness) {
    let started = Instant::now();
    let prefix = format!("{}@", crate::session::state::file_stem(id));
    let mut ran = 0;
    while ran < 64 {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        let mut notes: Vec<(u128, PathBuf, bool)> = rd
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let rest = name.strip_prefix(&prefix)?;
                let (fired, pid) = rest.split_once('.')?;
                let live = pid.parse::<u32>().is_ok_and(|p| p != std::process::id() && process_alive(p));
                Some((fired.parse().ok()?, e.path(), live))
            })
            .collect();
        if notes.is_empty() || started.elapsed() > WORKER_DEADLINE / 2 {
            return;
        }
        notes.sort();
        let Some(first) = notes.iter().position(|(_, _, live)| !live) else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let (_, path, _) = notes.swap_remove(first);
        ran += 1;
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let Some(nl) = bytes.iter().position(|&b| b == b'\n') else {
            let _ = std::fs::remove_file(&path);
            continue;
        };
        let fired = std::str::from_utf8(&bytes[..nl]).ok().and_then(|s| s.parse().ok()).unwrap_or_else(now_ns);
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes[nl + 1..]) else {
            let _ = std::fs::remove_file(&path);
            continue;
        };
        let event = parse_event(&value);
        let transcript = event
            .common()
            .filter(|c| c.session_id == id)
            .map(|c| resolve_transcript(Some(harness), c.transcript_path.as_deref(), c.cwd.as_deref(), id));
        let result = match transcript {
            Some(Ok((t, h))) => work(&event, &t, h, true, fired),
            _ => Ok(()),
        };
        match result {
            Err(Error::Busy(_)) => return, // its holder runs it
            Err(e) => log("ERROR", &format!("hook (left by an earlier event): {e}")),
            Ok(()) => {}
        }
        let _ = std::fs::remove_file(&path);
    }
}

/// Whether process `pid` still runs (Linux: its `/proc` entry; elsewhere it counts as gone,
/// and a note may then be run twice, which the cursor makes harmless).
fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The transcript path and the harness of the session: the payload's path (inside Claude
/// Code's projects directory, or Codex's sessions directory), else the harness's usual place
/// for this session. `harness`: what the hook was registered as (`--harness`), if said.
fn resolve_transcript(
    harness: Option<Harness>,
    given: Option<&Path>,
    cwd: Option<&Path>,
    id: &str,
) -> Result<(PathBuf, Harness)> {
    let codex_ok = |p: &Path| harness != Some(Harness::ClaudeCode) && paths::in_codex_sessions(p);
    match (harness, given) {
        // Claude Code first and unchanged: one check, as before Codex existed.
        (None | Some(Harness::ClaudeCode), Some(p)) if p.is_absolute() && paths::in_claude_projects(p) => {
            Ok((p.to_path_buf(), Harness::ClaudeCode))
        }
        (_, Some(p)) if p.is_absolute() && codex_ok(p) => Ok((p.to_path_buf(), Harness::Codex)),
        (Some(Harness::Codex), Some(p)) if p.is_absolute() => Err(Error::Invalid(format!(
            "transcript_path {} is outside Codex's sessions directory {}; ignoring the event",
            p.display(),
            paths::codex_sessions_dir()?.display()
        ))),
        (Some(Harness::Codex), None) => {
            let sessions = paths::codex_sessions_dir()?;
            rollout::find(&sessions, id).map(|p| (p, Harness::Codex)).ok_or_else(|| {
                Error::NotFound(format!("no rollout of Codex session {id} under {}", sessions.display()))
            })
        }
        (_, given) => resolve_claude(given, cwd, id).map(|p| (p, Harness::ClaudeCode)),
    }
}

/// The transcript path: the payload's, else Claude Code's usual place for this session.
fn resolve_claude(given: Option<&Path>, cwd: Option<&Path>, id: &str) -> Result<PathBuf> {
    match given {
        Some(p) if p.is_absolute() && paths::in_claude_projects(p) => Ok(p.to_path_buf()),
        Some(p) if p.is_absolute() => Err(Error::Invalid(format!(
            "transcript_path {} is outside Claude Code's projects directory {}; ignoring the event \
             (`tracecraft-hook flush --transcript` mirrors any file)",
            p.display(),
            paths::claude_projects_dir()?.display()
        ))),
        Some(p) => Err(Error::Invalid(format!("transcript_path {} is not absolute; ignoring the event", p.display()))),
        None => {
            let cwd = cwd
                .filter(|c| c.is_absolute())
                .ok_or_else(|| Error::Invalid("payload has neither transcript_path nor an absolute cwd".into()))?;
            Ok(paths::claude_projects_dir()?.join(paths::slug(cwd)).join(format!("{id}.jsonl")))
        }
    }
}

/// Start `tracecraft-hook hook --worker` in its own process group with the payload on stdin.
fn spawn_worker(raw: &[u8], fired: u128, harness: Harness) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(|e| Error::io("locate", "current executable", e))?;
    let mut cmd = Command::new(&exe);
    cmd.args(["hook", "--worker"]);
    if harness != Harness::ClaudeCode {
        cmd.args(["--harness", harness.dir()]);
    }
    let mut child = cmd
        .env(FIRED_ENV, fired.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| Error::io("start worker", &exe, e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(raw).map_err(|e| Error::io("write", "worker stdin", e))?;
    }
    // Not waited for: it is reparented to init when we exit.
    Ok(())
}

/// Do what the event asks: flush, record the start, or finish the session. `worker`: we are
/// the detached worker, so waiting costs Claude Code nothing; `fired`: when the event reached
/// the hook (ns since the epoch).
fn work(event: &Event, transcript: &Path, harness: Harness, worker: bool, fired: u128) -> Result<()> {
    let limits = if worker { Limits::WORKER } else { Limits::HOOK };
    let common = event.common().expect("acted-on event");
    let cwd = common.cwd.clone().filter(|c| c.is_absolute());
    let project_dir = cwd.clone().unwrap_or_else(|| PathBuf::from("/"));
    let cfg = Config::load(&project_dir)?;
    if let Some(u) = &cfg.untrusted {
        // Mirrored by the user's own config (or the embedded store); the file is ignored.
        log("WARN", &u.message());
    }
    for w in &cfg.warnings {
        log("WARN", w);
    }
    let store = store::backend::open(&cfg, limits)?;
    let mirror = Mirror::new(&cfg, store.as_ref(), paths::state_dir()?, None)?;
    let session = Session { id: common.session_id.clone(), transcript: transcript.to_path_buf(), cwd, harness };
    let mut opts = FlushOpts { lock_wait: Duration::from_secs(20), ..FlushOpts::default() };
    match event {
        Event::SessionStart { source, model, .. } => {
            opts.start = Some(StartInfo { source: source.clone(), model: model.clone() });
        }
        Event::SessionEnd { reason, .. } => {
            opts.final_ = true;
            opts.reason = reason.clone().or_else(|| Some("other".into()));
            opts.lock_wait = Duration::from_secs(60);
        }
        _ => {}
    }
    let out = mirror.flush(&session, &opts)?;
    if let (Event::SessionStart { .. }, Some(dir)) = (event, &session.cwd) {
        // SessionEnd never comes for a killed Claude Code: end this project's dead sessions.
        crate::engine::lifecycle::on_session_start(&cfg, store.as_ref(), &mirror.state_dir, dir, &session.id, harness);
    }
    if !out.parts.is_empty() || out.repaired {
        log(
            "INFO",
            &format!(
                "{} {}: {} part(s), {} bytes{}",
                event.name(),
                session.id,
                out.parts.len(),
                out.source_bytes(),
                if out.repaired { " (repaired a rewritten transcript)" } else { "" }
            ),
        );
    }
    after_upload(&mirror, &session, event, &opts, worker, fired)?;
    // At SessionStart(startup) and the first UserPromptSubmit the file is not written yet.
    let may_be_unwritten = matches!(event, Event::SessionStart { .. } | Event::UserPromptSubmit { .. });
    if transcript::stat(transcript).is_none() && !may_be_unwritten {
        log("WARN", &format!("{} {}: transcript {} not found", event.name(), session.id, transcript.display()));
    }
    Ok(())
}

/// Every flush after the event's own, in one place: the Stop re-check (the turn's last line
/// lands after Stop fires), the session's subagent transcripts, and then either the
/// SessionEnd worker's settle window or the check for a SessionEnd that fired before this
/// worker ran. Each is a no-op (no request) when nothing changed.
fn after_upload(
    mirror: &Mirror<'_>,
    session: &Session,
    event: &Event,
    opts: &FlushOpts,
    worker: bool,
    fired: u128,
) -> Result<()> {
    if let (Event::Stop { turn_id, .. }, Harness::Codex) = (event, session.harness) {
        // Codex's Stop race: the turn's `task_complete` line is written after Stop fires
        // (every time on 0.171). Wait for it, then flush again.
        let deadline = Instant::now() + STOP_LINE_WAIT;
        while Instant::now() < deadline && !rollout::turn_complete(&session.transcript, turn_id.as_deref()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        mirror.flush(session, opts)?;
        if !rollout::turn_complete(&session.transcript, turn_id.as_deref()) {
            log("WARN", &format!("Stop {}: task_complete not on disk after {:?}", session.id, STOP_LINE_WAIT));
        }
    } else if let Event::Stop { last_assistant_message: Some(msg), .. } = event {
        // The Stop race: the turn's last line often lands 12-120 ms after Stop fires. Wait for
        // it, then flush again (also when it was already there: it may have landed after the
        // flush above read the file; with nothing new this costs no request).
        let deadline = Instant::now() + STOP_LINE_WAIT;
        while Instant::now() < deadline && !tail_contains(&session.transcript, msg) {
            std::thread::sleep(Duration::from_millis(20));
        }
        mirror.flush(session, opts)?;
        if !tail_contains(&session.transcript, msg) {
            log("WARN", &format!("Stop {}: last assistant line not on disk after {:?}", session.id, STOP_LINE_WAIT));
        }
    }
    // Subagent transcripts of this session (SubagentStop waits for the announced one).
    if session.harness == Harness::ClaudeCode {
        subagent::after_parent_flush(mirror, session, event, opts);
    }
    if matches!(event, Event::SessionEnd { .. }) {
        if worker {
            settle_after_end(mirror, session, opts)?;
        }
    } else {
        finish_if_ended_since(mirror, session, fired)?;
    }
    Ok(())
}

/// Claude Code can still append to a transcript after SessionEnd reached the hooks: on the
/// real CLI (2.1.197), `/clear` wrote the command's two `queue-operation` lines to the old
/// transcript about 40 ms after SessionEnd(clear) fired, and no later event ever names that
/// session again. So the detached worker watches the file for [`END_SETTLE`] after its final
/// flush and sends whatever lands (another final flush: `ended_at` stays). It stops early if
/// the session was resumed meanwhile (SessionStart cleared `ended`): its own hooks take over.
fn settle_after_end(mirror: &Mirror<'_>, session: &Session, opts: &FlushOpts) -> Result<()> {
    let state_path = StatePaths::new(&mirror.state_dir_of(session), &session.id).state;
    let deadline = Instant::now() + END_SETTLE;
    while Instant::now() < deadline {
        std::thread::sleep(END_POLL);
        // Compared with what the last flush saw (not with a stat taken after it), so bytes
        // that landed while it ran are not missed.
        if transcript::stat(&session.transcript).is_none() || nothing_new(&state_path, &session.transcript, true) {
            continue;
        }
        if !crate::session::state::load(&state_path).is_some_and(|st| st.ended) {
            break;
        }
        let out = mirror.flush(session, opts)?;
        if !out.parts.is_empty() {
            log(
                "INFO",
                &format!("SessionEnd {}: {} late part(s), {} bytes", session.id, out.parts.len(), out.source_bytes()),
            );
        }
    }
    Ok(())
}

/// Workers of one session can run out of order: they queue on the session lock, which is not
/// first come, first served. Seen on the real CLI with `-p /compact --resume`: SessionStart
/// (source compact) fired before SessionEnd, but its worker got the lock after the SessionEnd
/// worker and, as a SessionStart of a resumed session must, cleared `ended_at`, leaving the
/// session open for good. So every SessionEnd hook leaves a marker with the moment it fired,
/// and any other worker whose own event fired before that puts the end back after its flush.
/// A real resume fires after the marker and is left alone.
fn finish_if_ended_since(mirror: &Mirror<'_>, session: &Session, fired: u128) -> Result<()> {
    let sdir = mirror.state_dir_of(session);
    let Some((ended, reason)) = read_end_marker(&sdir, &session.id) else { return Ok(()) };
    let state_path = StatePaths::new(&sdir, &session.id).state;
    if ended <= fired || nothing_new(&state_path, &session.transcript, true) {
        return Ok(());
    }
    let opts = FlushOpts {
        final_: true,
        reason: Some(reason.clone()),
        lock_wait: Duration::from_secs(60),
        ..FlushOpts::default()
    };
    let out = mirror.flush(session, &opts)?;
    log(
        "INFO",
        &format!(
            "{}: SessionEnd ({reason}) fired before this worker ran; ended it again ({} part(s), {} bytes)",
            session.id,
            out.parts.len(),
            out.source_bytes()
        ),
    );
    Ok(())
}

fn now_ns() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

fn end_marker_path(state_dir: &Path, id: &str) -> PathBuf {
    crate::session::state::side_file(state_dir, id, "end")
}

/// `<state>/<id>.end` = "<ns> <reason>": when the session's last SessionEnd fired. Best effort
/// and cheap (this runs in the hook's hot path): no fsync; a torn or missing marker reads as none.
fn write_end_marker(state_dir: &Path, id: &str, fired: u128, reason: &str) {
    if crate::base::fsutil::ensure_private_dir(state_dir).is_err() {
        return;
    }
    let path = end_marker_path(state_dir, id);
    let tmp = state_dir.join(format!(".{}.end.{}", crate::session::state::file_stem(id), std::process::id()));
    if let Err(e) = replace_unsynced(&tmp, &path, format!("{fired} {reason}\n").as_bytes()) {
        log("WARN", &format!("could not write {}: {e}", path.display()));
    }
}

fn read_end_marker(state_dir: &Path, id: &str) -> Option<(u128, String)> {
    let text = std::fs::read_to_string(end_marker_path(state_dir, id)).ok()?;
    let (ns, reason) = text.trim_end().split_once(' ')?;
    let (ns, reason) = (ns.parse().ok()?, reason.trim());
    if reason.is_empty() {
        return None;
    }
    Some((ns, reason.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_marker_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let state = d.path().join("state");
        assert_eq!(read_end_marker(&state, "s1"), None);
        write_end_marker(&state, "s1", 1_795_291_683_244_586_200, "clear");
        assert_eq!(read_end_marker(&state, "s1"), Some((1_795_291_683_244_586_200, "clear".into())));
        std::fs::write(end_marker_path(&state, "s1"), "garbage").unwrap();
        assert_eq!(read_end_marker(&state, "s1"), None);
    }
}
