//! Commands a person runs. Each lives in its own file with its clap `Args` and a `run`
//! function; this module holds what they share: opening the configured store, finding a
//! session's transcript, and printing without treating a closed pipe as an error.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::base::error::{Error, Result};
use crate::base::paths;
use crate::config::Config;
use crate::session::layout::{validate_id, Harness};
use crate::session::Session;
use crate::store::{self, Limits, Store};

pub(crate) mod backfill;
pub(crate) mod compact;
pub(crate) mod display;
pub(crate) mod doctor;
pub(crate) mod flush;
pub(crate) mod follow;
pub(crate) mod html;
pub(crate) mod init;
pub(crate) mod install;
pub(crate) mod keygen;
pub(crate) mod list;
pub(crate) mod page;
pub(crate) mod reindex;
pub(crate) mod restore;
pub(crate) mod scan;
pub(crate) mod search;
pub(crate) mod share;
pub(crate) mod show;
pub(crate) mod stats;
pub(crate) mod stop;
pub(crate) mod trust;

/// A configured destination.
pub struct Ctx {
    pub cfg: Config,
    pub store: Box<dyn Store>,
}

/// Load the config for `project_dir` and open its store with people-command limits.
pub fn open(project_dir: &Path) -> Result<Ctx> {
    let cfg = Config::load_manual(project_dir)?;
    for w in &cfg.warnings {
        eprintln!("warning: {}", crate::base::printable::escape(w));
    }
    let store = store::backend::open(&cfg, Limits::MANUAL)?;
    Ok(Ctx { cfg, store })
}

/// The current directory, or `--cwd` made absolute.
pub fn project_dir(cwd: Option<&Path>) -> Result<PathBuf> {
    let here = std::env::current_dir().map_err(|e| Error::io("read", "current directory", e))?;
    Ok(match cwd {
        Some(c) => paths::absolutize(c, &here),
        None => here,
    })
}

/// Where the session ran: the `cwd` its transcript records (what `show` and meta.json report),
/// else the project directory the command was given or run in.
fn session_cwd(transcript: &Path, project_dir: &Path) -> PathBuf {
    crate::session::discover::recorded_cwd(transcript).unwrap_or_else(|| project_dir.to_path_buf())
}

/// Find a session from `--transcript PATH` or `--session-id ID` (+ project dir).
/// By id: `<claude>/projects/<slug>/<id>.jsonl`, else any project directory holding it.
pub fn resolve_session(transcript: Option<&Path>, session_id: Option<&str>, project_dir: &Path) -> Result<Session> {
    let here = std::env::current_dir().map_err(|e| Error::io("read", "current directory", e))?;
    match (transcript, session_id) {
        (Some(t), id) => {
            let t = paths::absolutize(t, &here);
            let id = match id {
                Some(id) => id.to_string(),
                None => t
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .ok_or_else(|| Error::Invalid(format!("cannot take a session id from {}", t.display())))?,
            };
            validate_id(&id)?;
            let cwd = session_cwd(&t, project_dir);
            Ok(Session { id, transcript: t, cwd: Some(cwd), harness: Default::default() })
        }
        (None, Some(id)) => {
            validate_id(id)?;
            let projects = paths::claude_projects_dir()?;
            let direct = projects.join(paths::slug(project_dir)).join(format!("{id}.jsonl"));
            if direct.is_file() {
                let cwd = session_cwd(&direct, project_dir);
                return Ok(Session { id: id.into(), transcript: direct, cwd: Some(cwd), harness: Default::default() });
            }
            if let Ok(rd) = std::fs::read_dir(&projects) {
                for e in rd.flatten() {
                    let p = e.path().join(format!("{id}.jsonl"));
                    if p.is_file() {
                        let cwd = session_cwd(&p, project_dir);
                        return Ok(Session {
                            id: id.into(),
                            transcript: p,
                            cwd: Some(cwd),
                            harness: Default::default(),
                        });
                    }
                }
            }
            Err(Error::NotFound(format!(
                "no transcript for session {id} under {} (expected {})",
                projects.display(),
                direct.display()
            )))
        }
        (None, None) => Err(Error::Invalid("give --transcript PATH or --session-id ID".into())),
    }
}

/// `--harness claude-code|codex`: which agent's sessions a command works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HarnessArg {
    /// Claude Code (`sessions/claude-code/`, transcripts under ~/.claude/projects).
    ClaudeCode,
    /// OpenAI Codex CLI (`sessions/codex/`, rollouts under $CODEX_HOME/sessions).
    Codex,
}

impl From<HarnessArg> for Harness {
    fn from(h: HarnessArg) -> Harness {
        match h {
            HarnessArg::ClaudeCode => Harness::ClaudeCode,
            HarnessArg::Codex => Harness::Codex,
        }
    }
}

/// The harnesses a command looks at: the one given, else all (Claude Code first).
pub fn harnesses(h: Option<HarnessArg>) -> Vec<Harness> {
    match h {
        Some(h) => vec![h.into()],
        None => Harness::ALL.to_vec(),
    }
}

/// A session of the store by full id or unique prefix: in `harness` when given, else in
/// Claude Code's sessions, then Codex's (the first harness that has it). Returns the
/// catalog it was found in (its `harness` says which).
pub fn find_session<'a>(
    base: crate::session::catalog::Catalog<'a>,
    harness: Option<HarnessArg>,
    query: &str,
) -> Result<(crate::session::catalog::Catalog<'a>, crate::session::catalog::SessionObjects)> {
    let list = harnesses(harness);
    let mut first_err = None;
    let mut cat = base;
    for (i, h) in list.iter().enumerate() {
        cat = cat.in_harness(*h);
        match cat.resolve(query) {
            Ok(s) => return Ok((cat, s)),
            Err(e @ Error::NotFound(_)) if i + 1 < list.len() => {
                first_err.get_or_insert(e);
            }
            Err(e) => return Err(first_err.filter(|_| matches!(e, Error::NotFound(_))).unwrap_or(e)),
        }
    }
    Err(first_err.unwrap_or_else(|| Error::NotFound(format!("no session {query:?}"))))
}

/// Find a Codex session from `--transcript PATH` or `--session-id ID`: by id, its rollout
/// under `$CODEX_HOME/sessions/YYYY/MM/DD/`. Its cwd is the one the rollout records.
pub fn resolve_codex_session(
    transcript: Option<&Path>,
    session_id: Option<&str>,
    project_dir: &Path,
) -> Result<Session> {
    let here = std::env::current_dir().map_err(|e| Error::io("read", "current directory", e))?;
    let t = match (transcript, session_id) {
        (Some(t), _) => paths::absolutize(t, &here),
        (None, Some(id)) => {
            validate_id(id)?;
            let sessions = paths::codex_sessions_dir()?;
            crate::session::rollout::find(&sessions, id).ok_or_else(|| {
                Error::NotFound(format!(
                    "no rollout of Codex session {id} under {} (YYYY/MM/DD/rollout-*-{id}.jsonl)",
                    sessions.display()
                ))
            })?
        }
        (None, None) => return Err(Error::Invalid("give --transcript PATH or --session-id ID".into())),
    };
    let id = match session_id {
        Some(id) => id.to_string(),
        None => t
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(crate::session::rollout::id_of)
            .map(str::to_string)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "cannot take a session id from {} (expected rollout-<time>-<id>.jsonl)",
                    t.display()
                ))
            })?,
    };
    validate_id(&id)?;
    let cwd = crate::session::rollout::recorded_cwd(&t).unwrap_or_else(|| project_dir.to_path_buf());
    Ok(Session { id, transcript: t, cwd: Some(cwd), harness: Harness::Codex })
}

/// Print a line on stdout. A closed pipe surfaces as an `Io` error that `main` treats as success.
/// Control characters (from meta.json, paths, ids: input) are escaped; newlines stay.
pub fn emit(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", crate::base::printable::escape_text(line)).map_err(|e| Error::io("write", "<stdout>", e))
}

/// `1234567` -> `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
