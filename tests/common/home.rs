//! A temporary HOME, and the real binary run in it with a clean environment.
//!
//! Layout: a scratch directory (removed on drop) with the HOME at `<scratch>/home`, so a
//! test can put things outside HOME too ([`Home::scratch`]). [`clean_env`] strips what the
//! outer environment could leak into a run (`AWS_*`, `TRACECRAFT_*`, `CLAUDE_*`, `XDG_*`,
//! proxies). Used by [`super::Env`] and by the CLI tests that need a bare HOME.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

/// The product's binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_tracecraft-hook");

/// Remove from `cmd`'s environment every variable of the outer one that could change what
/// the binary (or a tool it starts) does.
pub fn clean_env(cmd: &mut Command) -> &mut Command {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        let lower = k.to_ascii_lowercase();
        if k.starts_with("AWS_")
            || k.starts_with("TRACECRAFT_")
            || k.starts_with("CLAUDE_")
            || k.starts_with("CODEX_")
            || k.starts_with("XDG_")
            || lower.ends_with("_proxy")
        {
            cmd.env_remove(&*k);
        }
    }
    cmd
}

/// A temporary HOME (see the module documentation).
/// Removed on drop, except when the test is failing or `TRACECRAFT_TEST_KEEP=1` (then its
/// path is printed).
pub struct Home {
    dir: Option<TempDir>,
    home: PathBuf,
}

impl Home {
    pub fn new() -> Home {
        let dir = tempfile::Builder::new().prefix("tc-home-").tempdir().expect("temp HOME");
        // Canonical, so paths the binary records compare equal to ours.
        let home = dir.path().canonicalize().expect("canonical temp dir").join("home");
        fs::create_dir_all(&home).expect("create HOME");
        Home { dir: Some(dir), home }
    }

    /// The HOME directory.
    pub fn path(&self) -> &Path {
        &self.home
    }

    /// `<scratch>/<rel>`, outside HOME (not created).
    pub fn scratch(&self, rel: &str) -> PathBuf {
        self.home.parent().unwrap().join(rel)
    }

    /// A directory `<scratch>/<rel>`, outside HOME (created).
    pub fn scratch_dir(&self, rel: &str) -> PathBuf {
        let p = self.scratch(rel);
        fs::create_dir_all(&p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        p
    }

    /// A directory `$HOME/<rel>` (created).
    pub fn dir(&self, rel: &str) -> PathBuf {
        let p = self.home.join(rel);
        fs::create_dir_all(&p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        p
    }

    /// Claude Code's `~/.claude/projects`.
    pub fn claude_projects(&self) -> PathBuf {
        self.home.join(".claude/projects")
    }

    /// Where Claude Code keeps the transcripts of `project` (slug rule computed by the
    /// harness, independently of the crate).
    pub fn transcript_dir(&self, project: &Path) -> PathBuf {
        self.claude_projects().join(super::slug(project))
    }

    /// The binary with `args`, a clean environment, HOME here, cwd = HOME, no stdin.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        clean_env(&mut c).args(args).env("HOME", &self.home).current_dir(&self.home).stdin(Stdio::null());
        c
    }

    /// Keep the directory, returning where it is.
    pub fn keep(mut self) -> PathBuf {
        self.dir.take().map(TempDir::keep).unwrap_or_default()
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let keep = std::thread::panicking()
            || std::env::var_os("TRACECRAFT_TEST_KEEP").is_some_and(|v| !v.is_empty() && v != "0");
        if let Some(dir) = self.dir.take().filter(|_| keep) {
            eprintln!("---- scratch kept at {}", dir.keep().display());
        }
    }
}

impl Default for Home {
    fn default() -> Self {
        Home::new()
    }
}
