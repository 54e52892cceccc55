//! `install` / `uninstall`: register (or remove) the hook in a Claude Code settings file, or
//! with `--codex` in Codex CLI's hooks.json (plus, when the user had switched Codex hooks off
//! in config.toml, that switch). The editing itself is in `host::settings` and
//! `host::codex_config`; this only picks the files and prints the report.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::emit;
use crate::base::error::{Error, Result};
use crate::base::fsutil::{atomic_write, read_optional};
use crate::base::paths;
use crate::host::codex_config;
use crate::host::settings::{self, Flavor, Scope};

/// Which settings file.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScopeArg {
    /// ~/.claude/settings.json (or $CLAUDE_CONFIG_DIR/settings.json): every project.
    /// With --codex: $CODEX_HOME/hooks.json (default ~/.codex/hooks.json).
    User,
    /// <project>/.claude/settings.json: shared with the project's other users.
    /// With --codex: <project>/.codex/hooks.json.
    Project,
    /// <project>/.claude/settings.local.json: this project on this machine (not with --codex).
    Local,
}

impl From<ScopeArg> for Scope {
    fn from(s: ScopeArg) -> Scope {
        match s {
            ScopeArg::User => Scope::User,
            ScopeArg::Project => Scope::Project,
            ScopeArg::Local => Scope::Local,
        }
    }
}

/// Options shared by install and uninstall.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Which settings file to edit.
    #[arg(long, value_enum, default_value = "user")]
    pub scope: ScopeArg,
    /// Show what would change without writing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Project directory for --scope project|local (default: $CLAUDE_PROJECT_DIR, else the current directory).
    #[arg(long, value_name = "DIR")]
    pub project_dir: Option<PathBuf>,
    /// Codex CLI instead of Claude Code: its hooks.json ($CODEX_HOME, default ~/.codex, or
    /// <project>/.codex with --scope project), and config.toml when it switched hooks off.
    #[arg(long)]
    pub codex: bool,
}

fn project(a: &InstallArgs) -> Result<PathBuf> {
    match &a.project_dir {
        Some(p) => super::project_dir(Some(p)),
        None => match std::env::var_os("CLAUDE_PROJECT_DIR").filter(|v| !v.is_empty()) {
            Some(p) => Ok(PathBuf::from(p)),
            None => super::project_dir(None),
        },
    }
}

fn target(a: &InstallArgs) -> Result<PathBuf> {
    let project = project(a)?;
    let cfg_dir = std::env::var_os("CLAUDE_CONFIG_DIR").map(PathBuf::from);
    Ok(settings::settings_path(a.scope.into(), &paths::home()?, cfg_dir.as_deref(), &project))
}

/// Codex's directory for the scope: `$CODEX_HOME` (user) or `<project>/.codex`.
pub fn codex_dir(scope: ScopeArg, project_dir: &Path) -> Result<PathBuf> {
    match scope {
        ScopeArg::User => paths::codex_home(),
        ScopeArg::Project => Ok(project_dir.join(".codex")),
        ScopeArg::Local => Err(Error::Invalid(
            "--scope local is Claude Code's settings.local.json; Codex has user ($CODEX_HOME/hooks.json) \
             and project (<project>/.codex/hooks.json)"
                .into(),
        )),
    }
}

/// How to make Codex run the hook (it skips untrusted hooks without a word in `codex exec`).
pub const CODEX_TRUST_HELP: &str = "\
Codex runs a hook only once you trusted it: start `codex` in a terminal and approve the
tracecraft-hook entries when it asks about new hooks (or review them with /hooks), or pass
--dangerously-bypass-hook-trust to `codex exec`. Trust is recorded in $CODEX_HOME/config.toml
as [hooks.state.\"<hooks.json>:<event>:0:0\"] trusted_hash = \"sha256:...\"; `tracecraft-hook doctor`
shows which of our handlers are trusted.";

/// Run `install`.
pub fn install(a: &InstallArgs) -> Result<()> {
    let exe = std::env::current_exe().map_err(|e| Error::io("locate", "current executable", e))?;
    if a.codex {
        let dir = codex_dir(a.scope, &project(a)?)?;
        let path = dir.join("hooks.json");
        let report = settings::install_file_in(Flavor::Codex, &path, &Flavor::Codex.command(&exe), a.dry_run)?;
        emit(&report.to_string())?;
        if let Some(w) = &report.would_write {
            emit(w.trim_end())?;
        }
        edit_codex_config(&dir.join("config.toml"), a.dry_run, true)?;
        emit(CODEX_TRUST_HELP)?;
        return Ok(());
    }
    let path = target(a)?;
    let report = settings::install_file(&path, &settings::hook_command(&exe), a.dry_run)?;
    emit(&report.to_string())?;
    if let Some(w) = &report.would_write {
        emit(w.trim_end())?;
    }
    Ok(())
}

/// Run `uninstall`.
pub fn uninstall(a: &InstallArgs) -> Result<()> {
    if a.codex {
        let dir = codex_dir(a.scope, &project(a)?)?;
        let report = settings::uninstall_file_in(Flavor::Codex, &dir.join("hooks.json"), a.dry_run)?;
        emit(&report.to_string())?;
        if let Some(w) = &report.would_write {
            emit(w.trim_end())?;
        }
        edit_codex_config(&dir.join("config.toml"), a.dry_run, false)?;
        return Ok(());
    }
    let path = target(a)?;
    let report = settings::uninstall_file(&path, a.dry_run)?;
    emit(&report.to_string())?;
    if let Some(w) = &report.would_write {
        emit(w.trim_end())?;
    }
    Ok(())
}

/// Install: switch Codex hooks back on where config.toml turned them off. Uninstall: put
/// those switches back as they were. A missing file, or one with nothing to change, is left
/// alone (not created). Written atomically, the previous text kept as `config.toml.bak`.
fn edit_codex_config(path: &Path, dry_run: bool, install: bool) -> Result<()> {
    let Some(bytes) = read_optional(path)? else { return Ok(()) };
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::config(Some(path), "is not UTF-8 text; left untouched".to_string()))?;
    let (next, keys) = if install { codex_config::enable_hooks(&text) } else { codex_config::restore(&text) };
    if keys.is_empty() {
        return Ok(());
    }
    let what = if install { "turned Codex hooks back on" } else { "put back" };
    if dry_run {
        return emit(&format!("{}: would change {} ({what})", path.display(), keys.join(", ")));
    }
    let mode = std::fs::metadata(path)
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
        .unwrap_or(0o600);
    let backup = settings::backup_path(path);
    atomic_write(&backup, text.as_bytes(), mode)?;
    atomic_write(path, next.as_bytes(), mode)?;
    emit(&format!("{}: {what}: {} (previous file saved as {})", path.display(), keys.join(", "), backup.display()))
}
