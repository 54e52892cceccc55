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
    /// With --codex: also record in $CODEX_HOME/config.toml that you trust our handlers (the
    /// hashes come from `codex app-server`'s hooks/list), so that `codex exec` runs them.
    /// `uninstall --codex` removes those entries again.
    #[arg(long, requires = "codex")]
    pub trust: bool,
    /// The Codex CLI binary --trust asks (default: `codex` on PATH).
    #[arg(long, value_name = "PATH", requires = "trust")]
    pub codex_bin: Option<PathBuf>,
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
Codex runs a hook only once you trusted it (`codex exec` skips untrusted hooks without a word):
run `tracecraft-hook install --codex --trust` (asks `codex app-server` for the hashes and
records them in $CODEX_HOME/config.toml as [hooks.state.\"<hooks.json>:<event>:0:0\"]
trusted_hash = \"sha256:...\"), or approve the entries in an interactive `codex`, or pass
--dangerously-bypass-hook-trust to `codex exec`. `tracecraft-hook doctor` shows which of our
handlers are trusted.";

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
        if a.trust && !a.dry_run {
            trust_codex_hooks(a, &path)?;
        } else {
            emit(CODEX_TRUST_HELP)?;
        }
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
        // Trust entries `install --codex --trust` wrote (always in $CODEX_HOME/config.toml).
        let user_config = paths::codex_home()?.join("config.toml");
        if let Some(text) = read_optional(&user_config)?.and_then(|b| String::from_utf8(b).ok()) {
            let (next, keys) = codex_config::remove_trust(&text);
            if !keys.is_empty() && !a.dry_run {
                write_with_backup(&user_config, &text, &next)?;
                emit(&format!(
                    "{}: removed the trust of {} handler(s) that install recorded",
                    user_config.display(),
                    keys.len()
                ))?;
            }
        }
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

/// Ask `codex app-server` (JSON-RPC over stdio: initialize, hooks/list) for the key and
/// current hash of our handlers in `hooks_json`, and record them as trusted in
/// `$CODEX_HOME/config.toml` (as `codex-kit/hook_trust.py` does).
fn trust_codex_hooks(a: &InstallArgs, hooks_json: &Path) -> Result<()> {
    use serde_json::{json, Value};
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let bin = a.codex_bin.clone().unwrap_or_else(|| PathBuf::from("codex"));
    let cwd = project(a)?;
    let mut child = Command::new(&bin)
        .arg("app-server")
        .current_dir(&cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::io("run", &bin, e))?;
    let mut stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if tx.send(v).is_err() {
                    return;
                }
            }
        }
    });
    let requests = [
        (
            Some(1),
            json!({"id": 1, "method": "initialize", "params": {"clientInfo": {"name": "tracecraft-hook", "version": env!("CARGO_PKG_VERSION")}}}),
        ),
        (None, json!({"method": "initialized"})),
        (Some(2), json!({"id": 2, "method": "hooks/list", "params": {"cwds": [cwd.to_string_lossy()]}})),
    ];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut answer = Value::Null;
    let mut failed = None;
    'requests: for (want, r) in &requests {
        if let Err(e) = writeln!(stdin, "{r}").and_then(|()| stdin.flush()) {
            failed = Some(Error::io("write to", &bin, e));
            break;
        }
        let Some(want) = want else { continue };
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
                Ok(v) if v.get("id").and_then(Value::as_u64) == Some(*want) => {
                    answer = v;
                    break;
                }
                Ok(_) => {}
                Err(_) => {
                    failed =
                        Some(Error::Invalid(format!("`{} app-server` gave no answer to hooks/list", bin.display())));
                    break 'requests;
                }
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    if let Some(e) = failed {
        return Err(e);
    }
    if let Some(e) = answer.get("error") {
        return Err(Error::Invalid(format!("`{} app-server` hooks/list: {e}", bin.display())));
    }
    fn walk(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::Object(m) if m.contains_key("key") && m.contains_key("currentHash") => out.push(v.clone()),
            Value::Object(m) => m.values().for_each(|x| walk(x, out)),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut listed = Vec::new();
    walk(answer.get("result").unwrap_or(&Value::Null), &mut listed);
    let want_path = std::fs::canonicalize(hooks_json).unwrap_or_else(|_| hooks_json.to_path_buf());
    let mut entries: Vec<(String, String)> = Vec::new();
    for h in listed {
        let ours = h.get("command").and_then(Value::as_str).is_some_and(settings::is_ours_codex);
        let source = h.get("sourcePath").and_then(Value::as_str).map(PathBuf::from);
        let same_file = source.is_none_or(|s| std::fs::canonicalize(&s).unwrap_or(s) == want_path);
        let key = h.get("key").and_then(Value::as_str);
        let hash = h.get("currentHash").and_then(Value::as_str);
        if let (true, true, Some(k), Some(hash)) = (ours, same_file, key, hash) {
            if !entries.iter().any(|(ek, _)| ek == k) {
                entries.push((k.to_string(), hash.to_string()));
            }
        }
    }
    if entries.is_empty() {
        return Err(Error::Invalid(format!(
            "`{} app-server` does not list our handlers of {} (is it the Codex CLI that reads this CODEX_HOME?)",
            bin.display(),
            hooks_json.display()
        )));
    }
    let config = paths::codex_home()?.join("config.toml");
    let text = match read_optional(&config)? {
        Some(b) => String::from_utf8(b)
            .map_err(|_| Error::config(Some(&config), "is not UTF-8 text; left untouched".to_string()))?,
        None => String::new(),
    };
    let (next, keys) = codex_config::set_trust(&text, &entries);
    if keys.is_empty() {
        return emit(&format!("{}: our {} handler(s) already trusted", config.display(), entries.len()));
    }
    write_with_backup(&config, &text, &next)?;
    emit(&format!("{}: trusted our {} handler(s) ({})", config.display(), keys.len(), keys.join(", ")))
}

/// Replace `path` (whose current text is `old`) with `new`, keeping `old` as `<path>.bak`.
fn write_with_backup(path: &Path, old: &str, new: &str) -> Result<()> {
    let mode = std::fs::metadata(path)
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
        .unwrap_or(0o600);
    if let Some(dir) = path.parent() {
        crate::base::fsutil::ensure_private_dir(dir)?;
    }
    if std::fs::metadata(path).is_ok() {
        atomic_write(&settings::backup_path(path), old.as_bytes(), mode)?;
    }
    atomic_write(path, new.as_bytes(), mode)
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
    let backup = settings::backup_path(path);
    write_with_backup(path, &text, &next)?;
    emit(&format!("{}: {what}: {} (previous file saved as {})", path.display(), keys.join(", "), backup.display()))
}
