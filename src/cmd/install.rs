//! `install` / `uninstall`: register (or remove) the hook in a Claude Code settings file.
//! The editing itself is in `settings`; this only picks the file and prints the report.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::emit;
use crate::base::error::{Error, Result};
use crate::base::paths;
use crate::host::settings::{self, Scope};

/// Which settings file.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScopeArg {
    /// ~/.claude/settings.json (or $CLAUDE_CONFIG_DIR/settings.json): every project.
    User,
    /// <project>/.claude/settings.json: shared with the project's other users.
    Project,
    /// <project>/.claude/settings.local.json: this project on this machine.
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
}

fn target(a: &InstallArgs) -> Result<PathBuf> {
    let project = match &a.project_dir {
        Some(p) => super::project_dir(Some(p))?,
        None => match std::env::var_os("CLAUDE_PROJECT_DIR").filter(|v| !v.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => super::project_dir(None)?,
        },
    };
    let cfg_dir = std::env::var_os("CLAUDE_CONFIG_DIR").map(PathBuf::from);
    Ok(settings::settings_path(a.scope.into(), &paths::home()?, cfg_dir.as_deref(), &project))
}

/// Run `install`.
pub fn install(a: &InstallArgs) -> Result<()> {
    let exe = std::env::current_exe().map_err(|e| Error::io("locate", "current executable", e))?;
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
    let path = target(a)?;
    let report = settings::uninstall_file(&path, a.dry_run)?;
    emit(&report.to_string())?;
    if let Some(w) = &report.would_write {
        emit(w.trim_end())?;
    }
    Ok(())
}
