//! `tracecraft-hook follow`: a live mirror that runs in a terminal, for people who want
//! their sessions in the bucket while they work without relying on hooks (or as a safety net
//! beside them). Same engine as the hook: every flush goes through [`Mirror::flush`] and
//! its per-session lock, so `follow`, the hook and `flush` can run at the same time without
//! sending a byte twice.
//!
//! The loop is built to be left running: an idle cycle costs a `stat` and a small read per
//! session (`state::nothing_new`, no lock, no network) and prints nothing; a
//! store outage is reported once, retried with bounded, jittered backoff, and caught up on
//! when the store answers; Ctrl-C or SIGTERM ends it with a final flush.
//!
//! Signals without a signal crate: `signal(2)` from the C library std already links, with a
//! handler that only stores into an `AtomicBool` (async-signal-safe). The loop sleeps in
//! short steps and checks the flag, so it stops within about 100 ms (or after the flush in
//! flight). A second signal exits at once with `_exit`.
//!
//! `--all` stop policy: only sessions idle for longer than the orphan threshold get a final
//! flush and `ended_at`; active ones get a normal flush and stay open, because Claude Code
//! may still be running them (their own SessionEnd will end them). Python tracecraft marks
//! every followed session ended, which is wrong for sessions still in use.
//!
//! Subagents: each followed session's subagent transcripts (`engine::subagents`, the same
//! code and bucket layout as the hook's) are followed with it: checked every cycle, whether
//! or not the parent changed (a subagent writes while its parent waits), and ended with it.
//! The list of a session's subagent files is re-read only when its `subagents/` directory
//! or the project directory changed (two `stat`s per cycle otherwise).
//!
//! `--min-bytes N`, as Python tracecraft's `session mirror --min-bytes`: a transcript
//! (session or subagent, each on its own) with fewer than N bytes beyond what the store holds
//! is not flushed this cycle; the bytes wait for the next cycle that reaches N, or for the
//! stop flush, which always sends everything. A subagent's link in its parent's meta.json
//! waits for the parent's next flush when the parent has a few bytes below N.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use clap::Args;

use super::{emit, project_dir, resolve_session};
use crate::base::error::{Error, Result};
use crate::base::paths;
use crate::config::Config;
use crate::engine::flush::{FlushOpts, Mirror, Outcome};
use crate::engine::lifecycle::{self, describe_idle};
use crate::engine::subagents::{self, AgentFile};
use crate::session::discover::{self, Discoverer};
use crate::session::layout::Harness;
use crate::session::meta::extra::ChildRef;
use crate::session::state::nothing_new;
use crate::session::state::{self, StatePaths};
use crate::session::transcript;
use crate::session::Session;
use crate::store::{self, Limits};

/// Shortest and longest accepted `--interval`.
const MIN_INTERVAL: f64 = 0.01;
const MAX_INTERVAL: f64 = 86_400.0;
/// Longest wait between retries while the store is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long a cycle waits for another process's flush of the same session (then: next cycle).
const LOCK_WAIT: Duration = Duration::from_secs(2);
/// End reason of the final flush at stop.
const STOP_REASON: &str = "follow-stop";
/// Store timeouts: the loop does its own backoff, so each attempt gives up quickly.
const LIMITS: Limits =
    Limits { connect: Duration::from_secs(3), response: Duration::from_secs(10), retry_budget: Duration::from_secs(2) };

const AFTER_HELP: &str = "\
Stopping: Ctrl-C or SIGTERM ends the loop; a last flush then sends everything, a partial
last line too, and stamps ended_at (end reason follow-stop). A second Ctrl-C quits at once.

With --all: new sessions of the project are picked up as they appear (\"+ following <id>\").
At stop, only sessions idle for longer than the orphan threshold are marked ended; sessions
still active get a normal flush and stay open, since Claude Code may still be running them.
While running, --all also ends orphaned sessions of the project: idle past the threshold and
never given a SessionEnd (Claude Code was killed).

Subagents: the subagent transcripts of every followed session (<session>/subagents/agent-*.jsonl)
are mirrored with it, as the hook does, under <session-id>.agent-<agent-id> (\"+ following
<id>.agent-<agent> (subagent)\"), and ended with it.

--min-bytes N: a transcript with fewer than N new bytes (beyond what the store holds) is not
uploaded this interval; its bytes wait until N have accumulated, or for the stop flush, which
always sends everything. Each transcript counts on its own (a session, each of its subagents).
Python tracecraft's `session mirror --min-bytes` has the same meaning. Default 1: every change.

Output: one line per upload (\"uploaded <id>: N bytes in K part(s)\"); idle cycles print nothing.
A store outage is reported once on stderr; follow retries with backoff (up to 60s) and catches
up when the store answers. follow, the hook and `flush` share a per-session lock, so they can
run at the same time without duplicating anything.

Environment:
  TRACECRAFT_ORPHAN_IDLE_SECS  idle threshold in seconds (default 1800 = 30 minutes)";

/// Keep mirroring a session (or all sessions of a project) until stopped.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct FollowArgs {
    /// Seconds between flushes (a positive number, fractions allowed).
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = parse_interval, allow_negative_numbers = true)]
    pub interval: Duration,
    /// Follow this session (default: the most recently modified session of --cwd).
    #[arg(long, value_name = "ID", conflicts_with = "all")]
    pub session_id: Option<String>,
    /// Follow this transcript file (its name gives the session id unless --session-id is given).
    #[arg(long, value_name = "PATH", conflicts_with = "all")]
    pub transcript: Option<PathBuf>,
    /// Project directory whose sessions to follow (default: current directory). Also selects the config.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Mirror every session of the project, including ones that start while following
    /// (not with --session-id or --transcript).
    #[arg(long)]
    pub all: bool,
    /// Upload a transcript only once it has at least N new bytes (the stop flush always sends
    /// everything). Counted per transcript: the session, and each of its subagents.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub min_bytes: u64,
    /// Upload without redaction (only for buckets you fully trust).
    #[arg(long)]
    pub no_redact: bool,
    /// Whose sessions: claude-code (default) or codex (rollouts under $CODEX_HOME/sessions
    /// whose session_meta records --cwd).
    #[arg(long, value_enum)]
    pub harness: Option<super::HarnessArg>,
}

/// clap parser for `--interval`: a finite number of seconds in [0.01, 86400].
pub fn parse_interval(s: &str) -> std::result::Result<Duration, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !v.is_finite() || v <= 0.0 {
        return Err(format!("the interval must be a positive number of seconds, not {s}"));
    }
    if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&v) {
        return Err(format!("the interval must be between {MIN_INTERVAL} and {MAX_INTERVAL} seconds, not {s}"));
    }
    Duration::try_from_secs_f64(v).map_err(|e| e.to_string())
}

/// Run `follow`.
pub fn run(a: &FollowArgs) -> Result<()> {
    // First: a Ctrl-C / SIGTERM while the config loads and the redactor compiles (slow on a
    // loaded machine) still means "stop after a final flush", not death by signal.
    stop::install();
    let dir = project_dir(a.cwd.as_deref())?;
    let single = if a.all { None } else { Some(pick_session(a, &dir)?) };
    let cfg = Config::load_manual(&dir)?;
    for w in &cfg.warnings {
        eprintln!("warning: {}", crate::base::printable::escape(w));
    }
    let store = store::backend::open(&cfg, LIMITS)?;
    let mirror = Mirror::new(&cfg, store.as_ref(), paths::state_dir()?, a.no_redact.then_some(false))?;
    let mut f = Follower::new(mirror, a.interval);
    f.harness = a.harness.map_or(Harness::ClaudeCode, Harness::from);
    f.min_bytes = a.min_bytes;
    match single {
        Some(session) => f.follow_one(session),
        None => f.follow_all(&dir),
    }
}

/// The session to follow: as given, else the newest of the project.
fn pick_session(a: &FollowArgs, dir: &Path) -> Result<Session> {
    if a.harness == Some(super::HarnessArg::Codex) {
        if a.transcript.is_some() || a.session_id.is_some() {
            return super::resolve_codex_session(a.transcript.as_deref(), a.session_id.as_deref(), dir);
        }
        let sessions = paths::codex_sessions_dir()?;
        let newest =
            crate::session::rollout::of_project(&sessions, dir).into_iter().max_by(|a, b| a.modified.cmp(&b.modified));
        return match newest {
            Some(f) => Ok(Session {
                id: f.id,
                transcript: f.transcript,
                cwd: Some(dir.to_path_buf()),
                harness: Harness::Codex,
            }),
            None => Err(Error::NotFound(format!(
                "no Codex session of {} under {} (give --session-id, --transcript, or use --all to wait for one)",
                dir.display(),
                sessions.display()
            ))),
        };
    }
    if a.transcript.is_some() || a.session_id.is_some() {
        return resolve_session(a.transcript.as_deref(), a.session_id.as_deref(), dir);
    }
    match discover::latest(dir)? {
        Some(found) => Ok(Session { id: found.id, transcript: found.transcript, cwd: Some(dir.to_path_buf()), harness: Default::default() }),
        None => Err(Error::NotFound(format!(
            "no Claude Code session found for {} under {} (give --session-id, --transcript, or use --all to wait for one)",
            dir.display(),
            paths::claude_projects_dir()?.display()
        ))),
    }
}

/// One session being followed.
struct Tracked {
    session: Session,
    state: PathBuf,
    /// Last non-network error printed for it (printed again only when it changes).
    last_err: Option<String>,
    subs: Subs,
}

/// The subagents of a followed session.
#[derive(Default)]
struct Subs {
    /// Modification times of `<dir>/<sid>/subagents` and of `<dir>` at the last scan.
    sig: Option<(Option<SystemTime>, Option<SystemTime>)>,
    scanned_at: Option<SystemTime>,
    files: Vec<AgentFile>,
    /// Flushed, not yet listed in the parent's meta.json.
    unlinked: Vec<ChildRef>,
    /// Last non-network error printed per subagent id.
    errs: BTreeMap<String, String>,
}

/// A directory's modification time (`None`: it does not exist).
fn dir_mtime(p: Option<&Path>) -> Option<SystemTime> {
    std::fs::metadata(p?).ok()?.modified().ok()
}

impl Tracked {
    fn new(session: Session, state_dir: &Path) -> Self {
        let state = StatePaths::new(&state::dir_for(state_dir, session.harness), &session.id).state;
        Tracked { session, state, last_err: None, subs: Subs::default() }
    }

    /// Anything to send (the engine's cheap check: no lock, no network)? A transcript that
    /// does not exist (yet, or any more) has nothing to send until the final flush.
    fn changed(&self) -> bool {
        transcript::stat(&self.session.transcript).is_some()
            && !nothing_new(&self.state, &self.session.transcript, false)
    }

    /// How long the transcript has been unmodified (`None`: it is gone).
    fn idle_for(&self, now: SystemTime) -> Option<Duration> {
        let (_, ns) = transcript::stat(&self.session.transcript)?;
        let t = SystemTime::UNIX_EPOCH.checked_add(Duration::from_nanos(u64::try_from(ns).unwrap_or(0)))?;
        Some(lifecycle::idle_for(now, t))
    }

    fn ended(&self) -> bool {
        state::load(&self.state).is_some_and(|s| s.ended)
    }

    /// The session's subagent files, re-read from disk only when a directory they live in
    /// changed (or changed within a second of the last scan: coarse timestamps).
    fn refresh_subs(&mut self, state_dir: &Path) -> Vec<String> {
        let t = &self.session.transcript;
        let sig = (dir_mtime(subagents::subagents_dir(t, &self.session.id).as_deref()), dir_mtime(t.parent()));
        let recent = |at: Option<SystemTime>| {
            let scanned = self.subs.scanned_at.unwrap_or(SystemTime::UNIX_EPOCH);
            at.is_some_and(|m| m + Duration::from_secs(1) >= scanned)
        };
        if self.subs.sig == Some(sig) && !recent(sig.0) && !recent(sig.1) {
            return Vec::new();
        }
        self.subs.scanned_at = Some(SystemTime::now());
        self.subs.sig = Some(sig);
        let found = subagents::find(t, &self.session.id, state_dir);
        let new: Vec<String> = found
            .iter()
            .filter(|f| !self.subs.files.iter().any(|o| o.agent_id == f.agent_id))
            .map(|f| f.id(&self.session.id))
            .collect();
        self.subs.files = found;
        new
    }

    /// Remember a subagent to list in the parent's meta.json (the newest facts win).
    fn unlinked(&mut self, r: ChildRef) {
        self.subs.unlinked.retain(|o| o.agent_id != r.agent_id);
        self.subs.unlinked.push(r);
    }
}

/// Whether a transcript with local state `state` has reached `min_bytes` new bytes beyond
/// the stored cursor for `dest` (no state here: everything counts as new; a transcript
/// shorter than the cursor was rewritten, which the engine repairs at once).
fn enough_new(state: &Path, transcript: &Path, dest: &str, min_bytes: u64) -> bool {
    if min_bytes <= 1 {
        return true;
    }
    let Some((len, _)) = transcript::stat(transcript) else { return false };
    let cursor = state::load(state).filter(|s| s.dest == dest).map_or(0, |s| s.cursor);
    len < cursor || len - cursor >= min_bytes
}

/// What a cycle found out about the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Ok,
    /// The store did not answer: back off before the next cycle.
    Outage,
}

/// The loop's state: the mirror, the outage/backoff bookkeeping, stdout.
struct Follower<'a> {
    mirror: Mirror<'a>,
    interval: Duration,
    dest: String,
    outage: Option<Instant>,
    backoff: Option<Duration>,
    orphan_err: Option<String>,
    /// Whose sessions `--all` follows.
    harness: Harness,
    /// `--min-bytes`: fewer new bytes than this in a transcript wait for a later cycle.
    min_bytes: u64,
}

impl<'a> Follower<'a> {
    fn new(mirror: Mirror<'a>, interval: Duration) -> Self {
        let dest = mirror.cfg.describe();
        Follower {
            mirror,
            interval,
            dest,
            outage: None,
            backoff: None,
            orphan_err: None,
            min_bytes: 1,
            harness: Harness::ClaudeCode,
        }
    }

    /// Print a line on stdout; a closed stdout stops the loop (with the usual final flush).
    fn say(&self, line: &str) {
        if emit(line).is_err() {
            stop::request();
        }
    }

    /// The wait before the next cycle.
    fn next_wait(&mut self, flow: Flow) -> Duration {
        match flow {
            Flow::Ok => {
                self.backoff = None;
                self.interval
            }
            Flow::Outage => {
                let next = match self.backoff {
                    None => self.interval.max(Duration::from_millis(500)),
                    Some(b) => (b * 2).min(MAX_BACKOFF),
                };
                self.backoff = Some(next);
                jitter(next).min(MAX_BACKOFF)
            }
        }
    }

    fn offline(&mut self, e: &Error) -> Flow {
        if self.outage.is_none() {
            eprintln!(
                "tracecraft-hook: the store is not reachable: {e}\n  \
                 retrying with backoff (up to {}s); nothing is lost, follow catches up when it answers",
                MAX_BACKOFF.as_secs()
            );
            self.outage = Some(Instant::now());
        }
        Flow::Outage
    }

    fn online(&mut self) {
        if let Some(since) = self.outage.take() {
            eprintln!(
                "tracecraft-hook: {} answers again (unreachable for {:.0}s); catching up",
                self.dest,
                since.elapsed().as_secs_f64()
            );
        }
    }

    /// Print what a flush uploaded.
    fn report(&self, id: &str, out: &Outcome) {
        if out.parts.is_empty() && !out.repaired {
            return;
        }
        let n = out.parts.len();
        let mut line =
            format!("uploaded {id}: {} bytes in {n} part{}", out.source_bytes(), if n == 1 { "" } else { "s" });
        if out.repaired {
            line.push_str("; the transcript had been rewritten, the copy was repaired");
        }
        self.say(&line);
    }

    /// What a flush during the loop came to: the outcome (reported), or a wait for the next
    /// cycle (busy lock), an outage, or an error printed once until it changes.
    fn settle(&mut self, id: &str, r: Result<Outcome>, last_err: &mut Option<String>) -> (Flow, Option<Outcome>) {
        match r {
            Ok(out) => {
                self.online();
                *last_err = None;
                self.report(id, &out);
                (Flow::Ok, Some(out))
            }
            // Someone else (the hook, `flush`) is flushing it right now: next cycle.
            Err(Error::Busy(_)) => (Flow::Ok, None),
            Err(e) if e.is_transient() => (self.offline(&e), None),
            Err(e) => {
                let msg = e.to_string();
                if last_err.as_deref() != Some(msg.as_str()) {
                    eprintln!("tracecraft-hook: {id}: {msg}");
                    *last_err = Some(msg);
                }
                (Flow::Ok, None)
            }
        }
    }

    /// Whether a transcript has gathered `--min-bytes` new bytes.
    fn enough(&self, state: &Path, transcript: &Path) -> bool {
        enough_new(state, transcript, &self.mirror.cfg.dest_id(), self.min_bytes)
    }

    /// One cycle of one session: its subagents that changed (by `--min-bytes`), then the
    /// session itself, listing the subagents flushed in its meta.json.
    fn cycle_one(&mut self, t: &mut Tracked) -> Flow {
        for id in t.refresh_subs(&self.mirror.state_dir) {
            self.say(&format!("+ following {id} (subagent)"));
        }
        for f in t.subs.files.clone() {
            if stop::requested() {
                return Flow::Ok;
            }
            let id = f.id(&t.session.id);
            if !subagents::has_news(&self.mirror, &t.session.id, &f, false)
                || !self.enough(&StatePaths::new(&self.mirror.state_dir, &id).state, &f.path)
            {
                continue;
            }
            let r = subagents::flush_one(&self.mirror, &t.session, &f, false, None, LOCK_WAIT);
            let mut last = t.subs.errs.remove(&id);
            let (flow, link) = match r {
                Ok((out, link)) => (self.settle(&id, Ok(out), &mut last).0, Some(link)),
                Err(e) => (self.settle(&id, Err(e), &mut last).0, None),
            };
            if let Some(msg) = last {
                t.subs.errs.insert(id, msg);
            }
            if let Some(link) = link {
                t.unlinked(link);
            }
            if flow == Flow::Outage {
                return flow;
            }
        }
        let changed = t.changed();
        // The parent's flush also lists new subagents; when the parent has a few bytes below
        // --min-bytes, the listing waits for its next flush rather than send them early.
        let due = changed && self.enough(&t.state, &t.session.transcript);
        if !due && (changed || t.subs.unlinked.is_empty()) {
            return Flow::Ok;
        }
        let opts = FlushOpts { lock_wait: LOCK_WAIT, subagents: t.subs.unlinked.clone(), ..FlushOpts::default() };
        let r = self.mirror.flush(&t.session, &opts);
        let (flow, out) = self.settle(&t.session.id.clone(), r, &mut t.last_err);
        if out.is_some() {
            t.subs.unlinked.clear();
        }
        flow
    }

    /// The stop flush of a session and its subagents: everything they have (a partial last
    /// line too when `final_`, which also stamps ended_at), whatever `--min-bytes` says.
    /// Tries every subagent, then the session; the first failure is the answer.
    fn finish(&mut self, t: &mut Tracked, final_: bool) -> Result<()> {
        t.refresh_subs(&self.mirror.state_dir);
        let reason = final_.then(|| STOP_REASON.to_string());
        let wait = Duration::from_secs(30);
        let mut errs: Vec<Error> = Vec::new();
        for f in t.subs.files.clone() {
            if !subagents::has_news(&self.mirror, &t.session.id, &f, final_) {
                continue;
            }
            let id = f.id(&t.session.id);
            match subagents::flush_one(&self.mirror, &t.session, &f, final_, reason.clone(), wait) {
                Ok((out, link)) => {
                    self.online();
                    self.report(&id, &out);
                    t.unlinked(link);
                }
                Err(e) => errs.push(not_finished(&id, &e)),
            }
        }
        let opts =
            FlushOpts { final_, reason, lock_wait: wait, subagents: t.subs.unlinked.clone(), ..FlushOpts::default() };
        match self.mirror.flush(&t.session, &opts) {
            Ok(out) => {
                self.online();
                self.report(&t.session.id, &out);
                t.subs.unlinked.clear();
            }
            Err(e) => errs.push(not_finished(&t.session.id, &e)),
        }
        // The first failure is the answer (printed by the caller); the others are printed here.
        let mut errs = errs.into_iter();
        let first = errs.next();
        for e in errs {
            eprintln!("tracecraft-hook: {e}");
        }
        first.map_or(Ok(()), Err)
    }

    /// `follow` of one session.
    fn follow_one(&mut self, session: Session) -> Result<()> {
        eprintln!("following {} every {}s into {}; Ctrl-C to stop", session.id, self.interval.as_secs_f64(), self.dest);
        if transcript::stat(&session.transcript).is_none() {
            eprintln!("transcript {} does not exist yet; waiting for it", session.transcript.display());
        }
        let mut t = Tracked::new(session, &self.mirror.state_dir);
        loop {
            let flow = self.cycle_one(&mut t);
            let wait = self.next_wait(flow);
            if stop::sleep(wait) {
                break;
            }
        }
        t.refresh_subs(&self.mirror.state_dir);
        if transcript::stat(&t.session.transcript).is_none()
            && state::load(&t.state).is_none()
            && t.subs.files.is_empty()
        {
            // Nothing was ever sent: do not create an empty session in the store.
            self.say(&format!("stopped: nothing to mirror for {} (its transcript never appeared)", t.session.id));
            return Ok(());
        }
        self.finish(&mut t, true)?;
        let subs = t.subs.files.len();
        let with = if subs == 0 { String::new() } else { format!(" with its {}", count(subs, "subagent")) };
        self.say(&format!("stopped: {} marked ended{with}", t.session.id));
        Ok(())
    }

    /// `follow --all`: every session of `dir`, re-discovered each cycle.
    fn follow_all(&mut self, dir: &Path) -> Result<()> {
        let idle = lifecycle::idle_threshold();
        eprintln!(
            "following every session of {} every {}s into {}; Ctrl-C to stop",
            dir.display(),
            self.interval.as_secs_f64(),
            self.dest
        );
        let mut disc = Discoverer::new();
        let mut tracked: BTreeMap<String, Tracked> = BTreeMap::new();
        let mut said_waiting = false;
        loop {
            let found_now = match self.harness {
                Harness::Codex => crate::session::rollout::of_project(&paths::codex_sessions_dir()?, dir),
                Harness::ClaudeCode => disc.sessions(dir)?,
            };
            for found in found_now {
                match tracked.get_mut(&found.id) {
                    Some(t) => t.session.transcript = found.transcript,
                    None => {
                        self.say(&format!("+ following {}", found.id));
                        let s = Session {
                            id: found.id.clone(),
                            transcript: found.transcript,
                            cwd: Some(dir.into()),
                            harness: self.harness,
                        };
                        tracked.insert(found.id, Tracked::new(s, &self.mirror.state_dir));
                    }
                }
            }
            if tracked.is_empty() && !said_waiting {
                eprintln!("nothing to follow yet in {}; waiting for a session", dir.display());
                said_waiting = true;
            }
            let mut flow = Flow::Ok;
            for t in tracked.values_mut() {
                if stop::requested() {
                    break;
                }
                flow = self.cycle_one(t);
                if flow == Flow::Outage {
                    break;
                }
            }
            if flow == Flow::Ok && !stop::requested() {
                flow = self.orphans(dir, idle);
            }
            let wait = self.next_wait(flow);
            if stop::sleep(wait) {
                break;
            }
        }
        self.stop_all(&mut tracked, idle)
    }

    /// End the project's orphaned sessions (throttled inside `lifecycle`).
    fn orphans(&mut self, dir: &Path, idle: Duration) -> Flow {
        let m = &self.mirror;
        match lifecycle::maybe_finish_orphans(m.cfg, m.store, &m.state_dir, dir, "", idle, self.harness) {
            Ok(ids) => {
                self.orphan_err = None;
                for id in ids.unwrap_or_default() {
                    self.say(&format!(
                        "ended {id}: idle for more than {}, its SessionEnd never came",
                        describe_idle(idle)
                    ));
                }
                Flow::Ok
            }
            Err(e) if e.is_transient() && !matches!(e, Error::Busy(_)) => self.offline(&e),
            Err(e) => {
                let msg = e.to_string();
                if self.orphan_err.as_deref() != Some(msg.as_str()) {
                    eprintln!("tracecraft-hook: finishing orphaned sessions: {msg}");
                    self.orphan_err = Some(msg);
                }
                Flow::Ok
            }
        }
    }

    /// The `--all` stop policy: final flush for sessions idle past `idle` (or whose
    /// transcript is gone), a normal flush for the others; their subagents go with them.
    /// Tries every session, then reports the first failure.
    fn stop_all(&mut self, tracked: &mut BTreeMap<String, Tracked>, idle: Duration) -> Result<()> {
        let now = SystemTime::now();
        let (mut ended, mut open, mut subs) = (0usize, 0usize, 0usize);
        let mut first_err: Option<Error> = None;
        for t in tracked.values_mut() {
            t.refresh_subs(&self.mirror.state_dir);
            subs += t.subs.files.len();
            let is_idle = t.idle_for(now).is_none_or(|d| d > idle);
            let subs_news =
                || t.subs.files.iter().any(|f| subagents::has_news(&self.mirror, &t.session.id, f, is_idle));
            let result = if is_idle {
                if t.ended() && !t.changed() && !subs_news() {
                    continue; // already ended (by its SessionEnd or as an orphan)
                }
                if transcript::stat(&t.session.transcript).is_none() && state::load(&t.state).is_none() {
                    continue; // gone before we ever sent anything
                }
                self.finish(t, true).map(|()| {
                    ended += 1;
                    self.say(&format!("ended {}: idle for more than {}", t.session.id, describe_idle(idle)));
                })
            } else {
                open += 1;
                if t.changed() || subs_news() || !t.subs.unlinked.is_empty() {
                    self.finish(t, false)
                } else {
                    Ok(())
                }
            };
            if let Err(e) = result {
                eprintln!("tracecraft-hook: {e}");
                first_err.get_or_insert(e);
            }
        }
        let with = if subs == 0 { String::new() } else { format!(" (and {})", count(subs, "subagent")) };
        self.say(&format!(
            "stopped: followed {}{with}; {ended} marked ended (idle for more than {}), {open} left open (active)",
            count(tracked.len(), "session"),
            describe_idle(idle)
        ));
        first_err.map_or(Ok(()), Err)
    }
}

/// `1 session`, `2 sessions`.
fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn not_finished(id: &str, e: &Error) -> Error {
    // A subagent is caught up with its session (`flush` takes no subagent id).
    let how = match crate::session::layout::split_id(id) {
        Some((parent, _)) => {
            format!("the next hook event of {parent} or `tracecraft-hook follow --session-id {parent}`")
        }
        None => format!("the next hook event or `tracecraft-hook flush --final --session-id {id}`"),
    };
    Error::Invalid(format!("could not finish {id}: {e}\n  nothing is lost: {how} catches up"))
}

/// `d` scaled by a random factor in [0.8, 1.2], so many followers do not retry in step.
fn jitter(d: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded randomly per process and differs per instance: a std-only RNG.
    let r = std::collections::hash_map::RandomState::new().build_hasher().finish();
    d.mul_f64(0.8 + (r % 4001) as f64 / 10_000.0)
}

/// Stop requests: SIGINT, SIGTERM, or a closed stdout.
mod stop {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    static STOP: AtomicBool = AtomicBool::new(false);

    const SIGINT: i32 = 2;
    const SIGTERM: i32 = 15;
    const SIG_IGN: usize = 1;
    const SIG_ERR: usize = usize::MAX;

    extern "C" {
        // From the C library std links anyway. `signal` in glibc and musl installs a
        // persistent handler with SA_RESTART (BSD semantics).
        fn signal(signum: i32, handler: usize) -> usize;
        fn _exit(status: i32) -> !;
    }

    /// The handler: only an atomic store (async-signal-safe); a second signal exits at once.
    extern "C" fn on_signal(sig: i32) {
        if STOP.swap(true, Ordering::SeqCst) {
            // SAFETY: _exit is async-signal-safe; the user asked twice.
            unsafe { _exit(128 + sig) }
        }
    }

    /// Route SIGINT and SIGTERM to the flag (a SIGINT ignored by our parent stays ignored,
    /// as for background jobs of a shell).
    pub fn install() {
        let handler = on_signal as extern "C" fn(i32) as usize;
        // SAFETY: `signal` is called with valid signal numbers and a handler of the C
        // signature `void (*)(int)` that only touches an atomic or calls `_exit`.
        unsafe {
            let old = signal(SIGINT, handler);
            if old == SIG_IGN {
                signal(SIGINT, SIG_IGN);
            }
            if old == SIG_ERR {
                return;
            }
            signal(SIGTERM, handler);
        }
    }

    /// Ask the loop to stop (closed stdout).
    pub fn request() {
        STOP.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was requested.
    pub fn requested() -> bool {
        STOP.load(Ordering::SeqCst)
    }

    /// Sleep for `d` in short steps; true as soon as a stop is requested.
    pub fn sleep(d: Duration) -> bool {
        let end = Instant::now() + d;
        loop {
            if requested() {
                return true;
            }
            let now = Instant::now();
            if now >= end {
                return false;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(100)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_must_be_positive_finite_and_sane() {
        assert_eq!(parse_interval("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_interval("0.2"), Ok(Duration::from_millis(200)));
        for bad in ["0", "-1", "nan", "NaN", "inf", "-inf", "", "x", "1e300", "0.001", "1e-300"] {
            assert!(parse_interval(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        for _ in 0..200 {
            let j = jitter(Duration::from_secs(10));
            assert!(j >= Duration::from_secs(8) && j <= Duration::from_secs(12), "{j:?}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let cfg = crate::config::from_parts(None, None, &|_| None).unwrap();
        let store = crate::store::local::LocalStore::new(PathBuf::from("/nonexistent"));
        let mirror = Mirror::new(&cfg, &store, PathBuf::from("/nonexistent"), Some(false)).unwrap();
        let mut f = Follower::new(mirror, Duration::from_secs(5));
        let waits: Vec<Duration> = (0..8).map(|_| f.next_wait(Flow::Outage)).collect();
        assert!(waits[0] >= Duration::from_secs(4) && waits[0] <= Duration::from_secs(6));
        assert!(waits[1] >= Duration::from_secs(8) && waits[1] <= Duration::from_secs(12));
        assert!(waits.iter().all(|w| *w <= MAX_BACKOFF));
        assert!(waits[7] >= Duration::from_secs(48));
        assert_eq!(f.next_wait(Flow::Ok), Duration::from_secs(5));
        assert!(f.next_wait(Flow::Outage) <= Duration::from_secs(6));
    }
}
