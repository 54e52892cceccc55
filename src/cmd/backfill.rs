//! `backfill`: mirror the transcripts already on disk, before Claude Code deletes them
//! (it removes transcripts older than `cleanupPeriodDays`, 30 days by default).
//!
//! Every session goes through the same [`Mirror::flush`] as the hook, so a backfill is
//! exactly-once and resumable: what the local state or the destination's meta.json already
//! records is skipped, an interrupted run continues where it stopped, and a second run
//! sends nothing. Oldest transcripts go first: they are the closest to deletion.
//!
//! Codex CLI rollouts (`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl`) are backfilled
//! the same way into `sessions/codex/<id>/` (the cwd their `session_meta` records picks the
//! project); `--harness` keeps one of the two.
//!
//! Each session's subagent transcripts (`<session>/subagents/agent-*.jsonl`, and older
//! `agent-*.jsonl` files beside it whose first line names the session) go with it, to the
//! same destination, through `engine::subagents` (the hook's code and bucket layout):
//! subagents first, then the session's own flush, which lists them in its meta.json.
//!
//! What it deliberately does not do: guess a destination from the project directory's name
//! (Claude Code's slug is lossy; the `cwd` recorded in the transcript is used instead), or
//! take an `agent-*.jsonl` file for a session of its own.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::Args;
use serde_json::Value;

use super::{emit, project_dir, thousands};
use crate::base::error::{Error, Result};
use crate::base::paths;
use crate::config::Config;
use crate::engine::flush::{FlushOpts, Mirror};
use crate::engine::subagents::{self, AgentFile};
use crate::session::layout::{meta_key_in, validate_id, Harness};
use crate::session::meta::Meta;
use crate::session::state::{self, StatePaths};
use crate::session::Session;
use crate::store::{self, Limits, Store};

/// Mirror every transcript still on disk (exactly once; safe to re-run or interrupt).
///
/// Which transcripts: the top-level `<session-id>.jsonl` files of
/// `<claude>/projects/<project>/` (`<claude>` is $CLAUDE_CONFIG_DIR, else ~/.claude), for
/// the project of --cwd (default: the current directory), or for every project with
/// --all-projects. Each session's subagent transcripts (`<id>/subagents/agent-*.jsonl`) go
/// with it, as `<id>.agent-<agent-id>` (the hook's layout), and are counted as subagents.
///
/// Where each session goes: the `cwd` recorded in the transcript's first lines selects the
/// config, as for the hook: that directory's .tracecraft.json, else ~/.tracecraft/config.json,
/// else the embedded store (TRACECRAFT_CONFIG and TRACECRAFT_* variables override as usual).
/// A transcript without a recorded cwd uses the global config or the embedded store.
///
/// What is sent: complete lines only, like the hook's flushes. A transcript not modified
/// for 24 hours is taken as finished: its partial last line (if any) is sent too and its
/// meta.json gets `ended_at` (the time of the backfill); --no-finalize leaves every session
/// open. What the destination already holds is never sent again, even without local state
/// (it is recovered from meta.json). A failing session does not stop the others; the exit
/// status is 1 if any failed.
#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// Backfill the sessions of this project directory [default: current directory].
    #[arg(long, value_name = "DIR", conflicts_with = "all_projects")]
    pub cwd: Option<PathBuf>,
    /// Backfill every project under <claude>/projects/.
    #[arg(long)]
    pub all_projects: bool,
    /// List the sessions and bytes that would be sent, and what redaction would replace in them
    /// (per rule, as `scan` counts it), without sending anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not finalise sessions idle for 24 hours (no ended_at; a partial last line waits).
    #[arg(long)]
    pub no_finalize: bool,
    /// Only this agent's transcripts: claude-code (<claude>/projects) or codex
    /// ($CODEX_HOME/sessions rollouts). Default: both.
    #[arg(long, value_enum)]
    pub harness: Option<super::HarnessArg>,
}

/// A transcript untouched this long is taken as finished.
const FINALIZE_IDLE: Duration = Duration::from_secs(24 * 3600);
/// How much of a transcript's start is read to find its `cwd`.
const CWD_SCAN_BYTES: u64 = 4 * 1024 * 1024;
const CWD_SCAN_LINES: usize = 200;

/// One transcript found on disk.
#[derive(Debug, Clone)]
struct Candidate {
    id: String,
    transcript: PathBuf,
    len: u64,
    mtime: SystemTime,
    cwd: Option<PathBuf>,
    harness: Harness,
}

/// A destination with its store opened.
struct Dest {
    cfg: Config,
    store: Box<dyn Store>,
}

/// Per destination: sessions sent, source bytes sent, sessions already complete, errors,
/// subagent transcripts sent.
type Tally = [u64; 5];

/// How long a backfill waits for another flush of the same session.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// Run `backfill`.
pub fn run(a: &BackfillArgs) -> Result<()> {
    let projects = paths::claude_projects_dir()?;
    let only = if a.all_projects { None } else { Some(project_dir(a.cwd.as_deref())?) };
    let mut candidates = Vec::new();
    let mut looked = Vec::new();
    for h in super::harnesses(a.harness) {
        match h {
            Harness::ClaudeCode => {
                candidates.extend(discover(&projects, only.as_deref())?);
                looked.push(projects.display().to_string());
            }
            Harness::Codex => {
                let sessions = paths::codex_sessions_dir()?;
                candidates.extend(discover_codex(&sessions, only.as_deref()));
                looked.push(sessions.display().to_string());
            }
        }
    }
    candidates.sort_by(|a, b| a.mtime.cmp(&b.mtime).then_with(|| a.transcript.cmp(&b.transcript)));
    if candidates.is_empty() {
        let scope = only.map(|d| format!(" for {}", d.display())).unwrap_or_default();
        return emit(&format!("no transcripts found under {}{scope}", looked.join(" nor ")));
    }

    // Resolve each session's destination once per directory, and open each store once.
    let mut dests: Vec<Dest> = Vec::new();
    let mut by_dir: HashMap<PathBuf, std::result::Result<usize, String>> = HashMap::new();
    let mut assigned: Vec<std::result::Result<usize, String>> = Vec::with_capacity(candidates.len());
    for c in &candidates {
        let dir = c.cwd.clone().unwrap_or_else(|| PathBuf::from("/"));
        let slot = by_dir.entry(dir.clone()).or_insert_with(|| resolve(&dir, &mut dests)).clone();
        assigned.push(slot);
    }

    let state_dir = paths::state_dir()?;
    let mirrors: Vec<Result<Mirror<'_>>> =
        dests.iter().map(|d| Mirror::new(&d.cfg, d.store.as_ref(), state_dir.clone(), None)).collect();
    let mut tallies: Vec<Tally> = vec![[0; 5]; dests.len()];
    let mut down = vec![false; dests.len()];
    let mut unrouted = 0u64;
    let progress = std::io::stderr().is_terminal();
    let total = candidates.len();
    let mut would_redact: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    // Older-layout agent files per project directory, read once for all its sessions.
    let mut beside: HashMap<PathBuf, subagents::Beside> = HashMap::new();

    for (i, (c, slot)) in candidates.iter().zip(&assigned).enumerate() {
        if progress {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K[{}/{total}] {} {}", i + 1, c.id, human(c.len));
            let _ = err.flush();
        }
        let idx = match slot {
            Ok(idx) => *idx,
            Err(msg) => {
                report_error(progress, &c.id, &c.transcript, msg);
                unrouted += 1;
                continue;
            }
        };
        let mirror = match &mirrors[idx] {
            Ok(m) => m,
            Err(e) => {
                report_error(progress, &c.id, &c.transcript, &e.to_string());
                tallies[idx][3] += 1;
                continue;
            }
        };
        if down[idx] {
            tallies[idx][3] += 1; // already reported: the destination does not answer
            continue;
        }
        let final_ = !a.no_finalize && SystemTime::now().duration_since(c.mtime).is_ok_and(|d| d >= FINALIZE_IDLE);
        // Subagent transcripts are Claude Code's; a Codex rollout has none.
        let files = if c.harness == Harness::ClaudeCode {
            let dir = c.transcript.parent().unwrap_or(Path::new("/")).to_path_buf();
            let beside = beside.entry(dir).or_insert_with_key(|d| subagents::Beside::scan(d));
            subagents::find_with(&c.transcript, &c.id, &state_dir, beside)
        } else {
            Vec::new()
        };
        let session =
            Session { id: c.id.clone(), transcript: c.transcript.clone(), cwd: c.cwd.clone(), harness: c.harness };
        let outcome = if a.dry_run {
            // The session, then each subagent it would send.
            dry_run_one(mirror, c, final_, &state_dir, progress, &mut would_redact).and_then(|n| {
                for f in &files {
                    let Some(child) = Candidate::of_subagent(c, f) else { continue };
                    let sub = dry_run_one(mirror, &child, final_, &state_dir, progress, &mut would_redact)?;
                    if sub > 0 {
                        tallies[idx][4] += 1;
                        tallies[idx][1] += sub;
                    }
                }
                Ok(n)
            })
        } else {
            // Subagents first: the session's own flush then lists them in its meta.json.
            let done = subagents::catch_up(mirror, &session, &files, final_, None, LOCK_WAIT);
            for ch in &done.children {
                match &ch.result {
                    Ok(out) if out.source_bytes() > 0 => {
                        tallies[idx][4] += 1;
                        tallies[idx][1] += out.source_bytes();
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let path =
                            files.iter().find(|f| f.id(&c.id) == ch.id).map_or(c.transcript.as_path(), |f| &f.path);
                        report_error(progress, &ch.id, path, &e.to_string());
                        tallies[idx][3] += 1;
                        if matches!(e, Error::Network { .. }) {
                            down[idx] = true;
                        }
                    }
                }
            }
            match done.link {
                Some(linked) => linked,
                None => mirror.flush(&session, &FlushOpts { final_, lock_wait: LOCK_WAIT, ..FlushOpts::default() }),
            }
            .map(|out| out.source_bytes())
        };
        let t = &mut tallies[idx];
        match outcome {
            Ok(0) => t[2] += 1,
            Ok(n) => {
                t[0] += 1;
                t[1] += n;
            }
            Err(e @ Error::Io { .. }) if is_broken_pipe(&e) => return Err(e),
            Err(e) => {
                report_error(progress, &c.id, &c.transcript, &e.to_string());
                t[3] += 1;
                if matches!(e, Error::Network { .. }) {
                    // Retrying every remaining session against a dead server would take
                    // the retry budget each time.
                    down[idx] = true;
                    eprintln!(
                        "tracecraft-hook: {} does not answer; skipping its remaining sessions (re-run later)",
                        mirror.cfg.describe()
                    );
                }
            }
        }
    }
    if progress {
        eprint!("\r\x1b[K");
    }
    summarize(&dests, &tallies, unrouted, a.dry_run)?;
    if a.dry_run {
        let total: u64 = would_redact.values().sum();
        emit(&format!("would redact {total} secret{} in all", if total == 1 { "" } else { "s" }))?;
        let width = would_redact.keys().map(String::len).max().unwrap_or(0);
        for (rule, n) in &would_redact {
            emit(&format!("  {rule:<width$}  {n}"))?;
        }
    }
    Ok(())
}

impl Candidate {
    /// A subagent transcript of session `parent`, as a candidate of its own (`None`: gone).
    fn of_subagent(parent: &Candidate, f: &AgentFile) -> Option<Candidate> {
        let md = std::fs::metadata(&f.path).ok()?;
        Some(Candidate {
            id: f.id(&parent.id),
            transcript: f.path.clone(),
            len: md.len(),
            mtime: md.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            cwd: parent.cwd.clone(),
            harness: parent.harness,
        })
    }
}

/// Dry run of one transcript: print what would be sent and redacted; the bytes it would send.
fn dry_run_one(
    mirror: &Mirror<'_>,
    c: &Candidate,
    final_: bool,
    state_dir: &Path,
    progress: bool,
    would_redact: &mut std::collections::BTreeMap<String, u64>,
) -> Result<u64> {
    let (from, to) = pending(mirror, c, final_, state_dir)?;
    let n = to - from;
    if n == 0 {
        return Ok(0);
    }
    if progress {
        eprint!("\r\x1b[K");
    }
    emit(&format!(
        "would send {} ({} bytes{}) from {} to {}",
        c.id,
        thousands(n),
        if final_ { ", idle: would be marked ended" } else { "" },
        c.transcript.display(),
        mirror.cfg.describe()
    ))?;
    match &mirror.redactor {
        Some(r) => {
            let found = redaction_counts(r, &c.transcript, from, to)?;
            if !found.is_empty() {
                emit(&format!("  would redact: {}", super::scan::describe_counts(&found)))?;
            }
            for (k, v) in found {
                *would_redact.entry(k).or_default() += v;
            }
        }
        None => emit("  redaction is off for this destination")?,
    }
    Ok(n)
}

/// Per-rule counts of what redaction would replace in `[from, to)` of a transcript, read in
/// pieces of whole lines.
fn redaction_counts(
    r: &crate::base::redact::Redactor,
    path: &Path,
    from: u64,
    to: u64,
) -> Result<std::collections::BTreeMap<String, u64>> {
    let mut f = File::open(path).map_err(|e| Error::io("open transcript", path, e))?;
    f.seek(SeekFrom::Start(from)).map_err(|e| Error::io("seek", path, e))?;
    let mut f = f.take(to - from);
    let mut counts = std::collections::BTreeMap::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut piece = vec![0u8; 8 * 1024 * 1024];
    loop {
        let n = f.read(&mut piece).map_err(|e| Error::io("read", path, e))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&piece[..n]);
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            for (k, v) in super::scan::counts(r, &buf[..=i]) {
                *counts.entry(k).or_default() += v;
            }
            buf.drain(..=i);
        }
    }
    for (k, v) in super::scan::counts(r, &buf) {
        *counts.entry(k).or_default() += v;
    }
    Ok(counts)
}

/// Print one summary line per destination (sessions of the same destination merged).
fn summarize(dests: &[Dest], tallies: &[Tally], unrouted: u64, dry_run: bool) -> Result<()> {
    let mut lines: Vec<(String, Tally)> = Vec::new();
    for (d, t) in dests.iter().zip(tallies) {
        let key = d.cfg.describe();
        match lines.iter_mut().find(|(k, _)| *k == key) {
            Some((_, acc)) => acc.iter_mut().zip(t).for_each(|(a, b)| *a += b),
            None => lines.push((key, *t)),
        }
    }
    let verb = if dry_run { "would backfill" } else { "backfilled" };
    let mut errors = unrouted;
    for (dest, [sent, bytes, complete, errs, subs]) in &lines {
        errors += errs;
        let subs = match subs {
            0 => String::new(),
            1 => " and 1 subagent".to_string(),
            n => format!(" and {n} subagents"),
        };
        emit(&format!(
            "{verb} {sent} session{}{subs} ({} bytes) to {dest}; {complete} already complete; {errs} error{}",
            if *sent == 1 { "" } else { "s" },
            thousands(*bytes),
            if *errs == 1 { "" } else { "s" }
        ))?;
    }
    if unrouted > 0 {
        emit(&format!("{unrouted} session{} without a usable config", if unrouted == 1 { "" } else { "s" }))?;
    }
    if errors > 0 {
        return Err(Error::Invalid(format!(
            "backfill: {errors} session{} failed (see the messages above); re-run to retry them",
            if errors == 1 { "" } else { "s" }
        )));
    }
    Ok(())
}

fn is_broken_pipe(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
}

fn report_error(progress: bool, id: &str, transcript: &Path, msg: &str) {
    if progress {
        eprint!("\r\x1b[K");
    }
    let line = format!("tracecraft-hook: backfill {id} ({}): {msg}", transcript.display());
    eprintln!("{}", crate::base::printable::escape(&line));
}

/// The destination for sessions recorded in `dir`: an index into `dests` (added if new).
fn resolve(dir: &Path, dests: &mut Vec<Dest>) -> std::result::Result<usize, String> {
    let cfg = Config::load_manual(dir).map_err(|e| e.to_string())?;
    let key = (cfg.source.clone(), cfg.dest_id());
    if let Some(i) = dests.iter().position(|d| (d.cfg.source.clone(), d.cfg.dest_id()) == key) {
        return Ok(i);
    }
    for w in &cfg.warnings {
        eprintln!("warning: {}", crate::base::printable::escape(w));
    }
    let store = store::backend::open(&cfg, Limits::MANUAL).map_err(|e| e.to_string())?;
    dests.push(Dest { cfg, store });
    Ok(dests.len() - 1)
}

/// Transcripts under `projects`: top-level `<id>.jsonl` of each project directory, oldest
/// first. With `only`, the project directory named after its slug or whose transcripts
/// record it as their cwd.
fn discover(projects: &Path, only: Option<&Path>) -> Result<Vec<Candidate>> {
    let rd = match std::fs::read_dir(projects) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list", projects, e)),
    };
    let slug = only.map(paths::slug);
    let mut out = Vec::new();
    for project in rd.flatten() {
        let pdir = project.path();
        if !pdir.is_dir() {
            continue;
        }
        let slug_match = slug.as_deref().is_some_and(|s| project.file_name().to_string_lossy() == s);
        let Ok(files) = std::fs::read_dir(&pdir) else { continue };
        for f in files.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".jsonl") else { continue };
            if id.starts_with("agent-") || validate_id(id).is_err() {
                continue;
            }
            let path = f.path();
            let Ok(md) = std::fs::metadata(&path) else { continue };
            if !md.is_file() {
                continue;
            }
            let cwd = recorded_cwd(&path);
            if let Some(dir) = only {
                if !slug_match && cwd.as_deref() != Some(dir) {
                    continue;
                }
            }
            out.push(Candidate {
                id: id.to_string(),
                transcript: path,
                len: md.len(),
                mtime: md.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                cwd,
                harness: Harness::ClaudeCode,
            });
        }
    }
    out.sort_by(|a, b| a.mtime.cmp(&b.mtime).then_with(|| a.transcript.cmp(&b.transcript)));
    Ok(out)
}

/// Codex rollouts under `sessions` (with `only`: those whose session_meta records it).
fn discover_codex(sessions: &Path, only: Option<&Path>) -> Vec<Candidate> {
    let mut out = Vec::new();
    for f in crate::session::rollout::all(sessions) {
        let Ok(md) = std::fs::metadata(&f.transcript) else { continue };
        let cwd = crate::session::rollout::recorded_cwd(&f.transcript);
        if only.is_some_and(|dir| cwd.as_deref() != Some(dir)) {
            continue;
        }
        out.push(Candidate {
            id: f.id,
            transcript: f.transcript,
            len: md.len(),
            mtime: md.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            cwd,
            harness: Harness::Codex,
        });
    }
    out
}

/// The first absolute `cwd` recorded in the transcript's first lines.
fn recorded_cwd(path: &Path) -> Option<PathBuf> {
    let f = File::open(path).ok()?;
    let mut r = BufReader::new(f.take(CWD_SCAN_BYTES));
    let mut line = Vec::new();
    for _ in 0..CWD_SCAN_LINES {
        line.clear();
        if r.read_until(b'\n', &mut line).ok()? == 0 {
            break;
        }
        if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&line) {
            if let Some(c) = m.get("cwd").and_then(Value::as_str).filter(|c| c.starts_with('/')) {
                return Some(PathBuf::from(c));
            }
        }
    }
    None
}

/// Dry run: the byte range `[from, to)` a flush would send (without sending or writing anything). The
/// mirrored length comes from the local state for this destination, else from meta.json.
fn pending(mirror: &Mirror<'_>, c: &Candidate, final_: bool, state_dir: &Path) -> Result<(u64, u64)> {
    let st = state::load(&StatePaths::new(&state::dir_for(state_dir, c.harness), &c.id).state)
        .filter(|st| st.dest == mirror.cfg.dest_id() && st.session_id == c.id);
    let cursor = match st {
        Some(st) => st.cursor,
        None => {
            let key = meta_key_in(&mirror.cfg.project, c.harness, &c.id);
            match mirror.store.get(&key)? {
                None => 0,
                Some(b) => Meta::parse(&b)
                    .map_err(|e| {
                        Error::Invalid(format!("{key} in {} is not valid meta.json: {e}", mirror.store.describe()))
                    })?
                    .cursor(),
            }
        }
    };
    let end = if final_ { c.len } else { complete_lines_end(&c.transcript, cursor, c.len)? };
    Ok((cursor.min(end), end))
}

/// The offset just after the last newline in `[from, len)`, or `from` when there is none.
fn complete_lines_end(path: &Path, from: u64, len: u64) -> Result<u64> {
    let mut f = File::open(path).map_err(|e| Error::io("open transcript", path, e))?;
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > from {
        let start = end.saturating_sub(buf.len() as u64).max(from);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start)).map_err(|e| Error::io("seek", path, e))?;
        f.read_exact(&mut buf[..n]).map_err(|e| Error::io("read", path, e))?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(from)
}

/// `1234567` -> `1.2 MB`.
fn human(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cwd_is_taken_from_the_first_line_that_has_one() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.jsonl");
        std::fs::write(&p, "{\"type\":\"summary\"}\nnot json\n{\"cwd\":\"/home/me/p\",\"type\":\"user\"}\n").unwrap();
        assert_eq!(recorded_cwd(&p), Some(PathBuf::from("/home/me/p")));
        std::fs::write(&p, "{\"cwd\":\"relative\"}\n").unwrap();
        assert_eq!(recorded_cwd(&p), None);
    }

    #[test]
    fn complete_lines_end_stops_after_the_last_newline() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.jsonl");
        std::fs::write(&p, "a\nbb\nccc").unwrap();
        assert_eq!(complete_lines_end(&p, 0, 8).unwrap(), 5);
        assert_eq!(complete_lines_end(&p, 5, 8).unwrap(), 5);
        std::fs::write(&p, "x".repeat(70_000) + "\n" + &"y".repeat(70_000)).unwrap();
        assert_eq!(complete_lines_end(&p, 0, 140_001).unwrap(), 70_001);
    }

    #[test]
    fn discover_skips_subagents_and_filters_by_project() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("-work-a");
        std::fs::create_dir_all(a.join("s1/subagents")).unwrap();
        std::fs::write(a.join("s1.jsonl"), "{\"cwd\":\"/work/a\"}\n").unwrap();
        std::fs::write(a.join("agent-x.jsonl"), "{\"cwd\":\"/work/a\"}\n").unwrap();
        std::fs::write(a.join("s1/subagents/agent-y.jsonl"), "{}\n").unwrap();
        let b = d.path().join("-work-b");
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(b.join("s2.jsonl"), "{\"cwd\":\"/work/b\"}\n").unwrap();
        let ids = |v: Vec<Candidate>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
        let mut all = ids(discover(d.path(), None).unwrap());
        all.sort();
        assert_eq!(all, ["s1", "s2"]);
        assert_eq!(ids(discover(d.path(), Some(Path::new("/work/b"))).unwrap()), ["s2"]);
        assert!(discover(&d.path().join("missing"), None).unwrap().is_empty());
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(999), "999 B");
        assert_eq!(human(1_234_567), "1.2 MB");
    }
}
