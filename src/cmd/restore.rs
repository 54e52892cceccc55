//! `tracecraft-hook restore`: bring a mirrored session back into Claude Code's store on this
//! machine, so that `claude --resume <ID>` continues it here and the hook goes on mirroring
//! it into the same session in the store, without uploading the restored history again.
//!
//! What it writes:
//! - `<claude dir>/projects/<slug of DIR>/<ID>.jsonl`: the session's replay (the catalog's
//!   replay plan, streamed part by part into a temp file beside the target, then renamed
//!   over it), i.e. the *redacted* transcript, byte for byte;
//! - with `--subagents`, every `<ID>.agent-<aid>` session of the store to
//!   `<projects>/<slug>/<ID>/subagents/agent-<aid>.jsonl`;
//! - the local state of each of those sessions for this destination ([`seed_state`]).
//!
//! A local file is never lost: equal to the replay or a strict prefix of it, it is completed;
//! holding the whole replay and more (lines not mirrored yet), it is left alone; anything else
//! is refused unless `--force`, which keeps it as `<file>.bak-<UTC time>` first.
//!
//! Why the state is seeded: redaction changes byte lengths, so offsets in the restored file
//! are not the source offsets that meta.json's `cursor_range`s and `source_sha256`s describe.
//! Left to itself, the flush engine would recover from meta.json, take the transcript for
//! rewritten and upload the whole history again. So, under the session lock, the state is
//! written as if this machine had uploaded the restored bytes itself: cursor = restored
//! length, next part = one above every seq in the store (compacted ranges included),
//! fingerprint of the restored file, meta cache = the store's meta.json with its ETag.
//!
//! A Codex CLI session (`--harness codex`, or an id found only among Codex's sessions) goes
//! back to `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<ID>.jsonl` (its existing rollout
//! file when there is one, else one named after the session's start), with its state in
//! `state/codex/`, so that `codex resume <ID>` continues it.
//!
//! Deliberately not done: reproducing Claude Code's hashed directory names for paths whose
//! slug exceeds 200 characters (a directory whose transcripts record DIR as their `cwd` is
//! used; otherwise the plain slug, with a warning), and protecting a session continued on two
//! machines at the same time (the two would fork it; restore again before switching back).

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use super::{emit, open, project_dir, thousands, Ctx};
use crate::base::error::{Error, Result};
use crate::base::fsutil::ensure_private_dir;
use crate::base::paths;
use crate::config::Config;
use crate::session::catalog::{Catalog, SessionObjects};
use crate::session::discover::{recorded_cwd, transcripts_in};
use crate::session::layout::{meta_key_in, validate_id, Harness};
use crate::session::meta::Meta;
use crate::session::state::{self, State, StatePaths};
use crate::session::transcript::Transcript;

/// Put a mirrored session back into Claude Code on this machine, to continue it there.
///
/// Writes the session from the store to Claude Code's directory for DIR
/// (~/.claude/projects/<DIR with every non-alphanumeric character as '-'>/<ID>.jsonl;
/// CLAUDE_CONFIG_DIR replaces ~/.claude), so that `claude --resume <ID>` run in DIR continues
/// it. The file is the stored copy byte for byte: secrets redacted at upload stay
/// [REDACTED:<rule>]. A local file holding the beginning of the session is completed; one that
/// differs is refused unless --force, which keeps it as <file>.bak-<time>. The restored lines
/// count as mirrored: what Claude Code adds next goes to the same session in the store, once.
/// `list --remote-only` shows the sessions that are not on this machine.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Session id, or a prefix that matches exactly one session.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Project directory to continue the session in (default: current directory). Its
    /// configuration also selects the store.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Replace a local transcript that differs from the stored copy; the local file is kept
    /// beside it as <ID>.jsonl.bak-<UTC time>.
    #[arg(long)]
    pub force: bool,
    /// Also restore the session's subagent transcripts (<ID>/subagents/agent-<id>.jsonl).
    #[arg(long)]
    pub subagents: bool,
    /// Whose session (default: Claude Code's, else Codex's with that id).
    #[arg(long, value_enum)]
    pub harness: Option<super::HarnessArg>,
}

/// How a subagent's session id is built from its parent's: `<parent>.agent-<agent id>`.
use crate::session::layout::MARK as AGENT_SEP;

/// Claude Code cuts project directory names longer than this and adds a hash.
pub const MAX_SLUG: usize = 200;

/// How long restore waits for a flush of the same session in progress.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// Run `restore`.
pub fn run(a: &RestoreArgs) -> Result<()> {
    let dir = project_dir(a.cwd.as_deref())?;
    // Claude Code names the directory after its physical cwd.
    let dir = fs::canonicalize(&dir).unwrap_or(dir);
    let ctx = open(&dir)?;
    let dest = ctx.cfg.describe();
    let mut found = None;
    for harness in super::harnesses(a.harness) {
        let cat = Catalog::new(ctx.store.as_ref(), &ctx.cfg.project, dest.clone())
            .with_keys(crate::session::seal::Keys::for_config(&ctx.cfg))
            .in_harness(harness);
        match resolve(&cat, &a.id) {
            Ok(s) => {
                found = Some((cat, s));
                break;
            }
            Err(Error::NotFound(_)) if a.harness.is_none() && harness != Harness::Codex => continue,
            Err(e) => return Err(e),
        }
    }
    let Some((cat, session)) = found else {
        return Err(Error::NotFound(format!("no session {:?} in {dest}", a.id)));
    };
    let id = session.id.clone();
    if cat.harness == Harness::Codex {
        return restore_codex(a, &ctx, &cat, &session, &dir);
    }

    let projects = paths::claude_projects_dir()?;
    let (project_dir, guessed) = claude_dir_for(&projects, &dir);
    if guessed {
        eprintln!(
            "warning: Claude Code names the directory of {} with a hash we cannot compute (its name is longer \
             than {MAX_SLUG} characters), and no directory under {} records it yet; restoring under the plain \
             name, where `claude --resume` may not look. If it does not find the session: run `claude` once in \
             that directory, then `restore` again.",
            dir.display(),
            projects.display()
        );
    }
    let target = project_dir.join(format!("{id}.jsonl"));
    let state_dir = paths::state_dir()?;
    let r = restore_one(&ctx, &cat, &session, &target, a.force, &state_dir)?;
    let ran_in = r.meta.as_ref().and_then(|m| m.cwd.clone()).filter(|c| Path::new(c) != dir);
    emit(&r.describe(&id, &dest, ran_in.as_deref()))?;
    if let Some(m) = &r.meta {
        let counts: Vec<String> =
            m.redaction_counts.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{k} {n}")).collect();
        if !counts.is_empty() {
            let n: u64 = m.redaction_counts.values().sum();
            emit(&format!(
                "note: this is the redacted copy: {n} secret{} became [REDACTED:<rule>] at upload ({}); \
                 the original values are not in the store",
                if n == 1 { "" } else { "s" },
                counts.join(", ")
            ))?;
        }
    }

    let agents = subagent_sessions(&cat, &id)?;
    if a.subagents {
        let sub_dir = project_dir.join(&id).join("subagents");
        for s in &agents {
            let aid = &s.id[id.len() + AGENT_SEP.len()..];
            let path = sub_dir.join(format!("agent-{aid}.jsonl"));
            let r = restore_one(&ctx, &cat, s, &path, a.force, &state_dir)?;
            emit(&format!("  subagent {aid}: {}", r.short()))?;
        }
        if agents.is_empty() {
            emit(&format!("no subagent transcripts of {id} in the store"))?;
        }
    } else if !agents.is_empty() {
        emit(&format!(
            "{} subagent transcript{} in the store: add --subagents to restore {}",
            agents.len(),
            if agents.len() == 1 { "" } else { "s" },
            if agents.len() == 1 { "it" } else { "them" }
        ))?;
    }
    emit(&format!("continue it with: cd {} && claude --resume {id}", shell_quote(&dir)))
}

/// Restore a Codex session into `$CODEX_HOME/sessions/` (see the module documentation).
fn restore_codex(a: &RestoreArgs, ctx: &Ctx, cat: &Catalog<'_>, s: &SessionObjects, dir: &Path) -> Result<()> {
    let sessions = paths::codex_sessions_dir()?;
    let target = match crate::session::rollout::find(&sessions, &s.id) {
        Some(p) => p,
        None => {
            let meta = cat.meta(&s.id).ok().flatten();
            let started = meta
                .as_ref()
                .and_then(|m| m.extra.get("stats"))
                .and_then(|st| st.get("first_timestamp"))
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
                .or_else(|| meta.as_ref().and_then(|m| m.started_at.clone()))
                .unwrap_or_else(crate::base::util::now_rfc3339);
            let (name, day) = crate::session::rollout::file_name_for(&s.id, &started).ok_or_else(|| {
                Error::Invalid(format!("cannot name a rollout for {} from its start time {started:?}", s.id))
            })?;
            sessions.join(day).join(name)
        }
    };
    let state_dir = state::dir_for(&paths::state_dir()?, Harness::Codex);
    let r = restore_one(ctx, cat, s, &target, a.force, &state_dir)?;
    let ran_in = r.meta.as_ref().and_then(|m| m.cwd.clone()).filter(|c| Path::new(c) != dir);
    emit(&r.describe(&s.id, &cat.dest, ran_in.as_deref()))?;
    let cwd = ran_in.map_or_else(|| dir.to_path_buf(), PathBuf::from);
    emit(&format!("continue it with: cd {} && codex resume {}", shell_quote(&cwd), s.id))
}

/// A main session by full id or unique prefix; subagent sessions are not candidates.
fn resolve(cat: &Catalog<'_>, query: &str) -> Result<SessionObjects> {
    validate_id(query)?;
    let s = match cat.session(query)? {
        Some(s) => s,
        None => cat.resolve(query)?,
    };
    if crate::session::layout::is_child(&s.id) {
        let parent = &s.id[..s.id.find(AGENT_SEP).unwrap_or(0)];
        return Err(Error::Invalid(format!(
            "{} is a subagent's transcript; restore its session with `restore {parent} --subagents`",
            s.id
        )));
    }
    Ok(s)
}

/// The subagent sessions of `id` (`<id>.agent-<aid>/` prefixes), from one listing.
fn subagent_sessions(cat: &Catalog<'_>, id: &str) -> Result<Vec<SessionObjects>> {
    crate::session::catalog::children_in_store(cat, id, None)
}

/// Claude Code's project directory for `cwd` under `projects`, and whether it is a guess:
/// the plain slug when it fits in [`MAX_SLUG`] characters; else an existing directory named
/// like the cut slug whose transcripts record `cwd`; else the plain slug (`true`: Claude Code
/// will use a hashed name we cannot compute).
pub fn claude_dir_for(projects: &Path, cwd: &Path) -> (PathBuf, bool) {
    let slug = paths::slug(cwd);
    if slug.len() <= MAX_SLUG {
        return (projects.join(slug), false);
    }
    let cut = &slug[..MAX_SLUG];
    let mut dirs: Vec<PathBuf> = fs::read_dir(projects)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with(cut)))
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    for d in dirs {
        let mut found = transcripts_in(&d);
        found.sort_by_key(|f| std::cmp::Reverse(f.modified));
        if found.iter().take(8).any(|f| recorded_cwd(&f.transcript).is_some_and(|c| c == cwd)) {
            return (d, false);
        }
    }
    (projects.join(slug), true)
}

/// Ids of the sessions that have a transcript on this machine: `<id>.jsonl` directly under
/// any `<claude dir>/projects/*/`.
pub fn local_session_ids_of(harness: Harness) -> Result<HashSet<String>> {
    match harness {
        Harness::ClaudeCode => local_session_ids(),
        Harness::Codex => {
            Ok(crate::session::rollout::all(&paths::codex_sessions_dir()?).into_iter().map(|f| f.id).collect())
        }
    }
}

/// Ids of the Claude Code sessions that have a transcript on this machine (see below).
pub fn local_session_ids() -> Result<HashSet<String>> {
    let projects = paths::claude_projects_dir()?;
    let Ok(rd) = fs::read_dir(&projects) else { return Ok(HashSet::new()) };
    Ok(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).flat_map(|d| transcripts_in(&d)).map(|f| f.id).collect())
}

/// What happened to the local file.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// There was none.
    Created,
    /// It held the first `had` bytes of the replay.
    Completed { had: u64 },
    /// It was the replay already.
    UpToDate,
    /// It holds the replay and `extra` bytes more (not mirrored yet): left alone.
    LocalAhead { extra: u64 },
    /// It differed (`--force`); the old file is at `backup`.
    Replaced { backup: PathBuf },
}

/// One restored transcript.
struct Restored {
    path: PathBuf,
    bytes: u64,
    parts: usize,
    outcome: Outcome,
    meta: Option<Meta>,
}

impl Restored {
    fn describe(&self, id: &str, dest: &str, ran_in: Option<&str>) -> String {
        let (path, bytes) = (self.path.display(), thousands(self.bytes));
        let from = match ran_in {
            Some(c) => format!("{dest} (it ran in {c})"),
            None => dest.to_string(),
        };
        match &self.outcome {
            Outcome::Created => format!(
                "restored {id}: {bytes} bytes ({} part{}) from {from} to {path}",
                self.parts,
                if self.parts == 1 { "" } else { "s" }
            ),
            Outcome::Completed { had } => format!(
                "restored {id}: completed {path} ({} bytes were there, {} added from {from})",
                thousands(*had),
                thousands(self.bytes - had)
            ),
            Outcome::UpToDate => format!("{path} already holds session {id} as stored ({bytes} bytes); unchanged"),
            Outcome::LocalAhead { extra } => format!(
                "{path} already holds session {id} as stored ({bytes} bytes) and {} bytes more that are not \
                 mirrored yet; unchanged",
                thousands(*extra)
            ),
            Outcome::Replaced { backup } => format!(
                "restored {id}: replaced {path} with {bytes} bytes from {from}; the previous local file is kept at {}",
                backup.display()
            ),
        }
    }

    fn short(&self) -> String {
        let (path, bytes) = (self.path.display(), thousands(self.bytes));
        match &self.outcome {
            Outcome::Created => format!("{bytes} bytes to {path}"),
            Outcome::Completed { had } => format!("completed {path} (+{} bytes)", thousands(self.bytes - had)),
            Outcome::UpToDate => format!("{path} already up to date"),
            Outcome::LocalAhead { extra } => format!("{path} holds it and {} bytes more; unchanged", thousands(*extra)),
            Outcome::Replaced { backup } => format!("replaced {path} (previous file kept at {})", backup.display()),
        }
    }
}

/// Restore session `s` into `target` and seed its local state, under the session lock.
fn restore_one(
    ctx: &Ctx,
    cat: &Catalog<'_>,
    s: &SessionObjects,
    target: &Path,
    force: bool,
    state_dir: &Path,
) -> Result<Restored> {
    let sp = StatePaths::new(state_dir, &s.id);
    let _lock = state::lock(&sp.lock, LOCK_WAIT)?;
    // The ETag before the document: if someone rewrites meta.json in between, our first
    // conditional write of it fails and merges instead of overwriting what we did not see.
    let etag = match &s.meta {
        Some(_) => ctx.store.head(&meta_key_in(&ctx.cfg.project, cat.harness, &s.id))?.and_then(|o| o.etag),
        None => None,
    };
    let (plan, meta) = cat.plan(s)?;
    if plan.parts.is_empty() {
        return Err(Error::NotFound(format!("session {} has no part in {}: nothing to restore", s.id, cat.dest)));
    }
    let dir = target.parent().unwrap_or(Path::new("."));
    ensure_private_dir(dir)?;
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut tmp = TempFile::create(dir.join(format!(".{name}.restore.{}", std::process::id())))?;
    let mut out = BufWriter::with_capacity(256 * 1024, tmp.file()?);
    let mut replay_len = 0u64;
    for p in &plan.parts {
        let got = crate::session::seal::get_part_to(ctx.store.as_ref(), &cat.keys, &p.obj.key, &mut out)?;
        let Some(copied) = got.filter(|c| c.stored == p.obj.size) else {
            return Err(Error::Invalid(format!(
                "{} in {} changed while it was read (compacted or rewritten meanwhile); run restore again",
                p.obj.key, cat.dest
            )));
        };
        replay_len += copied.plain;
    }
    out.flush().map_err(|e| Error::io("write", &tmp.path, e))?;
    drop(out);
    tmp.sync()?;

    let local_len = match fs::metadata(target) {
        Ok(md) if md.is_file() => Some(md.len()),
        Ok(_) => return Err(Error::Invalid(format!("{} exists and is not a regular file", target.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("stat", target, e)),
    };
    let outcome = match local_len {
        None => {
            tmp.persist(target, 0o600)?;
            Outcome::Created
        }
        Some(len) => match first_difference(target, &tmp.path)? {
            None if len == replay_len => Outcome::UpToDate,
            None if len < replay_len => {
                let mode = fs::metadata(target).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o600);
                tmp.persist(target, mode)?;
                Outcome::Completed { had: len }
            }
            None => Outcome::LocalAhead { extra: len - replay_len },
            Some(at) if !force => {
                return Err(Error::Invalid(format!(
                    "{} differs from session {} in {} at byte {at} (local {} bytes, stored {} bytes); it was not \
                     changed. To replace it (the local file is kept as a backup), add --force",
                    target.display(),
                    s.id,
                    cat.dest,
                    thousands(len),
                    thousands(replay_len)
                )))
            }
            Some(_) => {
                let backup = backup_path(target);
                // A hard link keeps the target in place until the rename replaces it.
                if fs::hard_link(target, &backup).is_err() {
                    fs::copy(target, &backup).map_err(|e| Error::io("back up", &backup, e))?;
                }
                let mode = fs::metadata(target).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o600);
                tmp.persist(target, mode)?;
                Outcome::Replaced { backup }
            }
        },
    };

    // A state of this destination stays when the local file was left as it was: it is the
    // record of a writer on this machine (this may be where the session ran).
    let dest = ctx.cfg.dest_id();
    let keep = matches!(outcome, Outcome::UpToDate | Outcome::LocalAhead { .. })
        && state::load(&sp.state).is_some_and(|st| st.dest == dest && st.session_id == s.id);
    if !keep {
        seed_state(&sp, &ctx.cfg, &s.id, target, replay_len, s, meta.as_ref(), etag)?;
    }
    Ok(Restored { path: target.to_path_buf(), bytes: replay_len, parts: plan.parts.len(), outcome, meta })
}

/// Write the local state of session `id` for this destination as if this machine had uploaded
/// the first `cursor` bytes of `transcript` itself (see the module documentation). The caller
/// holds the session lock. The meta cache is written first, the state (the commit) last.
#[allow(clippy::too_many_arguments)]
pub fn seed_state(
    sp: &StatePaths,
    cfg: &Config,
    id: &str,
    transcript: &Path,
    cursor: u64,
    objects: &SessionObjects,
    meta: Option<&Meta>,
    meta_etag: Option<String>,
) -> Result<State> {
    let mut t = Transcript::open(transcript)?;
    // One above every seq in the store: listed, compacted away, or left over.
    let next_seq = objects.parts.iter().map(|p| p.seq).chain(meta.and_then(Meta::max_seq)).max().map_or(0, |m| m + 1);
    let st = State {
        version: 1,
        session_id: id.to_string(),
        transcript: transcript.to_path_buf(),
        dest: cfg.dest_id(),
        cursor,
        next_seq,
        open_part: None,
        // Lines beyond the cursor (not mirrored yet) make the hook's no-op check fail.
        seen_len: cursor,
        seen_mtime_ns: t.mtime_ns,
        fingerprint: t.fingerprint(cursor)?,
        meta_dirty: false,
        meta_etag: meta.and(meta_etag),
        ended: meta.is_some_and(|m| m.ended_at.is_some()),
        // Unknown until Claude Code runs it here (the hook records it): a session only
        // restored is not this machine's to declare orphaned.
        cwd: None,
        last_activity: None,
    };
    let fresh;
    let meta = match meta {
        Some(m) => m,
        None => {
            fresh = Meta::new(id);
            &fresh
        }
    };
    state::save_meta(&sp.meta, meta)?;
    state::save(&sp.state, &st)?;
    Ok(st)
}

/// The offset of the first byte where `a` and `b` differ within their common length, or
/// `None` when one is a prefix of the other (or they are equal).
fn first_difference(a: &Path, b: &Path) -> Result<Option<u64>> {
    let mut fa = File::open(a).map_err(|e| Error::io("open", a, e))?;
    let mut fb = File::open(b).map_err(|e| Error::io("open", b, e))?;
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    let mut pos = 0u64;
    loop {
        let na = read_full(&mut fa, &mut ba).map_err(|e| Error::io("read", a, e))?;
        let nb = read_full(&mut fb, &mut bb).map_err(|e| Error::io("read", b, e))?;
        let n = na.min(nb);
        if let Some(i) = ba[..n].iter().zip(&bb[..n]).position(|(x, y)| x != y) {
            return Ok(Some(pos + i as u64));
        }
        if na < ba.len() || nb < bb.len() {
            return Ok(None);
        }
        pos += n as u64;
    }
}

/// Fill `buf` unless the end of the file comes first; returns the bytes read.
fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// `<file>.bak-<UTC time>`, with `-2`, `-3`... when taken.
fn backup_path(target: &Path) -> PathBuf {
    let stamp = format!("{}Z", crate::base::util::utc_stamp(time::OffsetDateTime::now_utc(), "", "T", ""));
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut p = target.with_file_name(format!("{name}.bak-{stamp}"));
    let mut n = 2;
    while p.exists() {
        p = target.with_file_name(format!("{name}.bak-{stamp}-{n}"));
        n += 1;
    }
    p
}

/// `'dir'` when the path needs quoting for a POSIX shell.
fn shell_quote(p: &Path) -> String {
    let s = p.to_string_lossy();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%".contains(&b)) {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A temp file beside its target, removed unless it was renamed over the target.
struct TempFile {
    path: PathBuf,
    file: Option<File>,
}

impl TempFile {
    fn create(path: PathBuf) -> Result<TempFile> {
        let _ = fs::remove_file(&path); // our own leftover from a killed run (same pid reused)
        let file = OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        Ok(TempFile { path, file: Some(file) })
    }

    fn file(&self) -> Result<File> {
        let f = self.file.as_ref().expect("open temp file");
        f.try_clone().map_err(|e| Error::io("open", &self.path, e))
    }

    fn sync(&self) -> Result<()> {
        self.file.as_ref().expect("open temp file").sync_all().map_err(|e| Error::io("write", &self.path, e))
    }

    /// Give it `mode` and rename it over `target` (then fsync the directory).
    fn persist(&mut self, target: &Path, mode: u32) -> Result<()> {
        let f = self.file.take().expect("open temp file");
        f.set_permissions(fs::Permissions::from_mode(mode)).map_err(|e| Error::io("chmod", &self.path, e))?;
        drop(f);
        fs::rename(&self.path, target).map_err(|e| Error::io("write", target, e))?;
        if let Some(d) = target.parent().and_then(|d| File::open(d).ok()) {
            let _ = d.sync_all();
        }
        self.path = PathBuf::new();
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_difference_finds_prefixes_and_divergence() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(&a, &big).unwrap();
        fs::write(&b, &big).unwrap();
        assert_eq!(first_difference(&a, &b).unwrap(), None);
        fs::write(&a, &big[..70_000]).unwrap();
        assert_eq!(first_difference(&a, &b).unwrap(), None, "a prefix");
        assert_eq!(first_difference(&b, &a).unwrap(), None, "an extension");
        let mut other = big.clone();
        other[131_073] ^= 1;
        fs::write(&a, &other).unwrap();
        assert_eq!(first_difference(&a, &b).unwrap(), Some(131_073));
        fs::write(&a, b"").unwrap();
        assert_eq!(first_difference(&a, &b).unwrap(), None);
    }

    #[test]
    fn long_slugs_use_a_directory_that_records_the_cwd() {
        let d = tempfile::tempdir().unwrap();
        let projects = d.path().join("projects");
        let short = Path::new("/home/me/my_proj.v2");
        assert_eq!(claude_dir_for(&projects, short), (projects.join("-home-me-my-proj-v2"), false));

        let long = PathBuf::from(format!("/home/me/{}", "deep_dir/".repeat(30)).trim_end_matches('/'));
        let slug = paths::slug(&long);
        assert!(slug.len() > MAX_SLUG);
        assert_eq!(claude_dir_for(&projects, &long), (projects.join(&slug), true), "nothing there yet: a guess");
        // Claude Code's hashed directory, recognised by the cwd its transcripts record.
        let hashed = projects.join(format!("{}-1x2y3z", &slug[..MAX_SLUG]));
        fs::create_dir_all(&hashed).unwrap();
        let line = serde_json::json!({"type": "user", "cwd": long.to_str().unwrap()}).to_string();
        fs::write(hashed.join("s1.jsonl"), format!("{{\"type\":\"summary\"}}\n{line}\n")).unwrap();
        // Another long cwd sharing the first 200 characters does not match.
        let other = projects.join(format!("{}-0a0a0a", &slug[..MAX_SLUG]));
        fs::create_dir_all(&other).unwrap();
        fs::write(other.join("s2.jsonl"), "{\"cwd\":\"/elsewhere\"}\n").unwrap();
        assert_eq!(claude_dir_for(&projects, &long), (hashed, false));
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote(Path::new("/home/me/my_proj.v2")), "/home/me/my_proj.v2");
        assert_eq!(shell_quote(Path::new("/tmp/it's here")), r"'/tmp/it'\''s here'");
    }

    #[test]
    fn backups_never_overwrite() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("s.jsonl");
        let first = backup_path(&t);
        assert!(first.file_name().unwrap().to_str().unwrap().starts_with("s.jsonl.bak-"));
        fs::write(&first, b"x").unwrap();
        let second = backup_path(&t);
        assert_ne!(first, second);
    }

    #[test]
    fn subagent_ids() {
        assert!(crate::session::layout::is_child("60d02b3f.agent-a1b2"));
        assert!(!crate::session::layout::is_child("60d02b3f-e256-40f7-8986-d87f2eebff47"));
    }
}
