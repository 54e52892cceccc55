//! `doctor`: check everything a working mirror needs and say how to fix what is wrong.
//!
//! One line per check: `ok`, `WARN` (works, but worth a look) or `FAIL` (sessions are not
//! being mirrored, or credentials are exposed), with the fix on the same line. Exit 0 when
//! nothing failed (warnings allowed), 1 otherwise. Read-only except for one probe object
//! that is written and deleted again under `<project>/`.
//!
//! It never prints a credential: the secret key is only handed to the signer; the access
//! key id is shown masked (`AKIA…XYZW`), enough to tell which key is in use. It does not
//! fix anything itself. Every line is escaped (`printable`): paths and server text are input.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::Value;
use time::OffsetDateTime;

use super::init::{check_bucket, explain, probe_write, shown_endpoint, Kind, CHECK_LIMITS};
use super::{emit, project_dir, thousands};
use crate::base::error::{Error, Result};
use crate::base::paths;
use crate::config::{config_file, Backend, Config};
use crate::host::settings::{self, Scope};
use crate::session::state;
use crate::store::local::LocalStore;
use crate::store::s3::S3Store;

/// Check the configuration, the bucket, the clock, the hook registration and pending data.
///
/// Checks: which config file applies (and that a file holding credentials is mode 600),
/// which project config files are approved for the hook and which are not (`trust`),
/// the credentials (the access key id is shown masked, never the secret), that the endpoint
/// answers, the clock against the server's (SigV4 fails past 15 minutes of skew), that the
/// bucket exists and is writable (a probe object under `<project>/` is written, read and
/// deleted), that the hook is registered in Claude Code's settings (user, project and local
/// files) and not also as a plugin, that the registered binary exists, the last problems in
/// ~/.tracecraft/hook.log, and sessions with data not yet mirrored.
///
/// Exit status: 0 when nothing failed (warnings allowed), 1 when a check failed.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Project directory to check (selects the config file and the project settings)
    /// [default: current directory].
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warn,
    Fail,
}

/// Collects the report lines and counts problems.
#[derive(Default)]
struct Report {
    fails: usize,
    warns: usize,
}

impl Report {
    fn line(&mut self, level: Level, topic: &str, msg: impl fmt::Display, fix: Option<String>) -> Result<()> {
        let tag = match level {
            Level::Ok => "ok  ",
            Level::Warn => {
                self.warns += 1;
                "WARN"
            }
            Level::Fail => {
                self.fails += 1;
                "FAIL"
            }
        };
        let fix = fix.map(|f| format!("; fix: {f}")).unwrap_or_default();
        // Paths, endpoints, server messages and log lines are input: escaped.
        emit(&crate::base::printable::escape(&format!("{tag}  {topic:<12} {msg}{fix}")))
    }
    fn ok(&mut self, topic: &str, msg: impl fmt::Display) -> Result<()> {
        self.line(Level::Ok, topic, msg, None)
    }
    fn warn(&mut self, topic: &str, msg: impl fmt::Display, fix: impl Into<Option<String>>) -> Result<()> {
        self.line(Level::Warn, topic, msg, fix.into())
    }
    fn fail(&mut self, topic: &str, msg: impl fmt::Display, fix: impl Into<Option<String>>) -> Result<()> {
        self.line(Level::Fail, topic, msg, fix.into())
    }
}

/// Environment variables that override the config file (names only are ever printed).
const OVERRIDES: &[&str] = &[
    "TRACECRAFT_CONFIG",
    "TRACECRAFT_ENDPOINT",
    "TRACECRAFT_BUCKET",
    "TRACECRAFT_PROJECT",
    "TRACECRAFT_AGENT",
    "TRACECRAFT_REDACT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
];

fn env_set(k: &str) -> bool {
    std::env::var_os(k).is_some_and(|v| !v.is_empty())
}

/// Run `doctor`.
pub fn run(a: &DoctorArgs) -> Result<()> {
    let dir = project_dir(a.cwd.as_deref())?;
    let mut r = Report::default();

    let cfg = check_config(&mut r, &dir)?;
    if let Some(cfg) = &cfg {
        let fails = r.fails;
        check_store(&mut r, cfg)?;
        if r.fails == fails {
            check_index(&mut r, cfg)?;
        }
    }
    check_hooks(&mut r, &dir)?;
    check_codex_hooks(&mut r, &dir)?;
    check_log(&mut r)?;
    check_sessions(&mut r)?;

    if r.fails > 0 {
        return Err(Error::Invalid(format!(
            "doctor found {} problem{} ({} warning{})",
            r.fails,
            plural(r.fails),
            r.warns,
            plural(r.warns)
        )));
    }
    emit(&if r.warns == 0 {
        "all checks passed".to_string()
    } else {
        format!("no failures, {} warning{}", r.warns, plural(r.warns))
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Which file, its permissions, overrides; then the resolved config (None when unusable).
fn check_config(r: &mut Report, dir: &Path) -> Result<Option<Config>> {
    let mut file_ok = None;
    match config_file(dir) {
        Err(e) => {
            r.fail("config", e, "unset TRACECRAFT_CONFIG or point it at an existing file".to_string())?;
            return Ok(None);
        }
        Ok(None) => {
            let root = paths::tracecraft_dir()?.join("store");
            r.ok(
                "config",
                format!(
                    "none: embedded store at {} (no .tracecraft.json in {} and no {})",
                    root.display(),
                    dir.display(),
                    paths::tracecraft_dir()?.join("config.json").display()
                ),
            )?;
        }
        Ok(Some(p)) => {
            let mode = std::fs::metadata(&p).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
            let creds = file_holds_credentials(&p);
            if mode & 0o077 != 0 && creds {
                r.fail(
                    "config",
                    format!("{} holds credentials but is readable by others (mode {mode:o})", p.display()),
                    format!("chmod 600 {}", p.display()),
                )?;
            } else {
                // Said once the file has been read: one verdict per file.
                file_ok = Some(format!("{} (mode {mode:o})", p.display()));
            }
        }
    }
    let set: Vec<&str> = OVERRIDES.iter().copied().filter(|k| env_set(k)).collect();
    if !set.is_empty() {
        r.ok(
            "environment",
            format!("{} set here (hooks see them only if Claude Code is started with them)", set.join(", ")),
        )?;
    }
    for (path, st) in super::trust::overview(dir) {
        let shown = path.display();
        let dir_of = path.parent().unwrap_or(Path::new("/")).display().to_string();
        match st {
            Some(crate::base::trust::Status::Approved) => {
                r.ok("approved", format!("{shown} (honoured by the hook)"))?
            }
            Some(crate::base::trust::Status::Changed) => r.warn(
                "approval",
                format!("{shown} changed since you approved it: the hook ignores it"),
                format!("review it, then `tracecraft-hook trust {dir_of}`"),
            )?,
            Some(crate::base::trust::Status::Unapproved) => r.warn(
                "approval",
                format!("{shown} is not approved: the hook ignores it"),
                format!("review it, then `tracecraft-hook trust {dir_of}`"),
            )?,
            None => r.warn(
                "approval",
                format!("{shown} is approved but gone"),
                format!("`tracecraft-hook untrust {}`", shown),
            )?,
        }
    }
    match Config::load(dir) {
        Ok(cfg) if cfg.untrusted.is_some() && cfg.source.is_none() => {
            let u = cfg.untrusted.as_ref().map(|u| u.message()).unwrap_or_default();
            r.fail("destination", format!("the only config file is not approved: {u}"), None)?;
            Ok(None)
        }
        Ok(cfg) => {
            if let Some(msg) = file_ok {
                r.ok("config", msg)?;
            }
            r.ok("destination", cfg.describe())?;
            check_encryption(r, &cfg)?;
            Ok(Some(cfg))
        }
        Err(e) => {
            r.fail("config", e, "correct the file, or rewrite it with `tracecraft-hook init --force ...`".to_string())?;
            Ok(None)
        }
    }
}

/// Client-side encryption: on or off, and whether the identity file can read what is sealed.
fn check_encryption(r: &mut Report, cfg: &Config) -> Result<()> {
    let keys = crate::session::seal::Keys::for_config(cfg);
    if !keys.sealing() {
        return Ok(());
    }
    let n = keys.recipients.len();
    let on = format!("age, {n} recipient{}", if n == 1 { "" } else { "s" });
    match keys.identities("this destination") {
        Ok(ids) if ids.iter().any(|id| keys.recipients.contains(&id.recipient())) => {
            r.ok("encryption", format!("{on}; identity file {} reads it", keys.identity_file.display()))
        }
        Ok(_) => r.warn(
            "encryption",
            format!("{on}; the identity file {} holds none of their keys", keys.identity_file.display()),
            "sessions are still mirrored; to read them here, point TRACECRAFT_AGE_IDENTITY at a matching key"
                .to_string(),
        ),
        Err(_) => r.warn(
            "encryption",
            format!(
                "{on}; no usable identity file at {} (this machine can write, not read)",
                keys.identity_file.display()
            ),
            "copy the identity here, or set \"encrypt\": {\"identity\": PATH} or TRACECRAFT_AGE_IDENTITY".to_string(),
        ),
    }
}

/// Whether a config file has a non-empty `access_key`, `secret_key` or `session_token`.
fn file_holds_credentials(p: &Path) -> bool {
    let Ok(bytes) = std::fs::read(p) else { return false };
    let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&bytes) else { return false };
    ["access_key", "secret_key", "session_token"]
        .iter()
        .any(|k| m.get(*k).and_then(Value::as_str).is_some_and(|v| !v.is_empty()))
}

/// Credentials, endpoint, clock, bucket and a write probe.
fn check_store(r: &mut Report, cfg: &Config) -> Result<()> {
    let where_ = cfg.source.as_ref().map_or("the environment".to_string(), |p| p.display().to_string());
    match &cfg.backend {
        Backend::Local { root } => {
            if !root.exists() {
                return r.ok("store", format!("embedded store {} (created at the first session)", root.display()));
            }
            if !root.is_dir() {
                return r.fail(
                    "store",
                    format!("{} is not a directory", root.display()),
                    "move it away; the embedded store needs that path".to_string(),
                );
            }
            let store = LocalStore::new(root.clone());
            match probe_write(&store, &cfg.project) {
                Ok(()) => r.ok("store", format!("embedded store {} is writable", root.display())),
                Err(msg) => r.fail("store", msg, format!("check the permissions of {}", root.display())),
            }
        }
        Backend::S3(s3) => {
            let from = if env_set("AWS_ACCESS_KEY_ID") { "AWS_ACCESS_KEY_ID".to_string() } else { where_.clone() };
            r.ok(
                "credentials",
                format!("access key {} (from {from}), secret key set", crate::config::mask_key_id(&s3.access_key)),
            )?;
            let store = match S3Store::new(s3, CHECK_LIMITS) {
                Ok(s) => s,
                Err(e) => return r.fail("endpoint", e, format!("correct \"endpoint\" in {where_}")),
            };
            let date = match store.server_date() {
                Ok(d) => d,
                Err(e) => {
                    let f = explain(&e, s3);
                    return r.fail("endpoint", f.msg, format!("start the server, or correct \"endpoint\" in {where_}"));
                }
            };
            let endpoint = shown_endpoint(&s3.endpoint);
            r.ok("endpoint", format!("{endpoint} answers"))?;
            check_clock(r, date.as_deref())?;
            if let Err(f) = check_bucket(&store, s3, &cfg.project) {
                let fix = match f.kind {
                    Kind::Unreachable => format!("start the server, or correct \"endpoint\" in {where_}"),
                    Kind::Credentials => format!("correct access_key/secret_key in {where_} (or the AWS_* variables)"),
                    Kind::MissingBucket => format!(
                        "create it, or run `tracecraft-hook init --create-bucket --endpoint {} --bucket {} --force`",
                        endpoint, s3.bucket
                    ),
                    Kind::Other => format!("check \"endpoint\", \"bucket\" and \"region\" in {where_}"),
                };
                return r.fail("bucket", f.msg, fix);
            }
            match probe_write(&store, &cfg.project) {
                Ok(()) => r.ok(
                    "bucket",
                    format!(
                        "{} exists and is writable (probe under {}/ written, read, deleted)",
                        s3.bucket, cfg.project
                    ),
                ),
                Err(msg) => r.fail("bucket", msg, "give the key write and delete permission on the bucket".to_string()),
            }
        }
    }
}

/// The team index (`session::index`) against one listing of the project's sessions: a
/// missing, damaged or incomplete index is a warning (answers stay right, only slower).
fn check_index(r: &mut Report, cfg: &Config) -> Result<()> {
    let fix = || Some("tracecraft-hook reindex".to_string());
    let store = match crate::store::backend::open(cfg, crate::store::Limits::MANUAL) {
        Ok(s) => s,
        Err(e) => return r.warn("index", format!("not checked: {e}"), None),
    };
    let a = match crate::session::index::audit(store.as_ref(), &cfg.project) {
        Ok(a) => a,
        Err(e) => return r.warn("index", format!("not checked: {e}"), None),
    };
    let some = |v: &[String]| {
        let mut s: Vec<&str> = v.iter().take(3).map(String::as_str).collect();
        if v.len() > 3 {
            s.push("…");
        }
        s.join(", ")
    };
    if a.objects == 0 {
        if a.sessions == 0 {
            return r.ok("index", "no sessions yet");
        }
        return r.warn(
            "index",
            format!(
                "no team index for the {} sessions of {}: list and stats read every meta.json (slow)",
                a.sessions, cfg.project
            ),
            fix(),
        );
    }
    if !a.damaged.is_empty() {
        r.warn(
            "index",
            format!(
                "{} damaged index object{}: {} (list and stats fall back to meta.json)",
                a.damaged.len(),
                plural(a.damaged.len()),
                some(&a.damaged)
            ),
            fix(),
        )?;
    }
    if !a.missing.is_empty() {
        r.warn(
            "index",
            format!(
                "{} of {} sessions are not in the index (mirrored by the Python CLI or an older version: {}); list and stats do not show them",
                a.missing.len(),
                a.sessions,
                some(&a.missing)
            ),
            fix(),
        )?;
    }
    if !a.gone.is_empty() {
        r.warn(
            "index",
            format!(
                "{} index entr{} name sessions no longer in the store: {}",
                a.gone.len(),
                if a.gone.len() == 1 { "y" } else { "ies" },
                some(&a.gone)
            ),
            fix(),
        )?;
    }
    if a.damaged.is_empty() && a.missing.is_empty() && a.gone.is_empty() {
        r.ok("index", format!("team index covers all {} sessions ({} index objects)", a.sessions, a.objects))?;
    }
    Ok(())
}

/// Clock skew beyond which requests start failing soon (SigV4 allows 15 minutes).
const SKEW_FAIL_SECS: i64 = 5 * 60;
/// Skew worth a warning.
const SKEW_WARN_SECS: i64 = 60;

/// Parse an HTTP date (`Sat, 21 Nov 2026 20:06:47 GMT`).
fn parse_http_date(s: &str) -> Option<OffsetDateTime> {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(s.trim(), &fmt).ok().map(|t| t.assume_utc())
}

/// How far the local clock is from the server's, in seconds (positive: local is ahead).
fn skew_secs(server: OffsetDateTime, local: OffsetDateTime) -> i64 {
    (local - server).whole_seconds()
}

fn check_clock(r: &mut Report, date: Option<&str>) -> Result<()> {
    let Some(server) = date.and_then(parse_http_date) else {
        return r.warn("clock", "the server sent no readable Date header; cannot compare clocks", None);
    };
    let skew = skew_secs(server, OffsetDateTime::now_utc());
    let desc = format!("this machine is {}s {} the server", skew.abs(), if skew >= 0 { "ahead of" } else { "behind" });
    let fix = "sync the clock (e.g. `timedatectl set-ntp true`)".to_string();
    if skew.abs() > SKEW_FAIL_SECS {
        r.fail("clock", format!("{desc}; signed requests fail beyond 15 minutes"), fix)
    } else if skew.abs() > SKEW_WARN_SECS {
        r.warn("clock", desc, fix)
    } else {
        r.ok("clock", format!("within {}s of the server", skew.abs().max(1)))
    }
}

/// `SessionStart` -> `session_start`: how Codex names an event in a hook's trust key.
fn snake(event: &str) -> String {
    let mut out = String::new();
    for (i, c) in event.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Codex CLI: registration in `$CODEX_HOME/hooks.json` and `<project>/.codex/hooks.json`,
/// hooks not switched off in config.toml, and our handlers trusted (Codex skips untrusted
/// hooks without a word in `codex exec`). Nothing to check when Codex is not set up here.
fn check_codex_hooks(r: &mut Report, dir: &Path) -> Result<()> {
    use crate::host::codex_config;
    let home = paths::codex_home()?;
    let files = [home.join("hooks.json"), dir.join(".codex").join("hooks.json")];
    if !home.is_dir() && !files[1].exists() {
        return r.ok("codex", format!("no Codex CLI directory ({}): nothing to check", home.display()));
    }
    let config = std::fs::read_to_string(home.join("config.toml")).unwrap_or_default();
    if codex_config::hooks_disabled(&config) {
        r.fail(
            "codex",
            format!("{} switches Codex hooks off: Codex sessions are not mirrored", home.join("config.toml").display()),
            "tracecraft-hook install --codex".to_string(),
        )?;
    }
    let trusted = codex_config::trusted_keys(&config);
    let mut registered: Vec<String> = Vec::new();
    let mut untrusted: Vec<String> = Vec::new();
    for f in &files {
        let v: Value = match std::fs::read(f) {
            Ok(b) => match serde_json::from_slice(&b) {
                Ok(v) => v,
                Err(e) => {
                    r.warn("codex", format!("cannot parse {}: {e}", f.display()), None)?;
                    continue;
                }
            },
            Err(_) => continue,
        };
        let events = settings::registrations_in(settings::Flavor::Codex, &v);
        if events.is_empty() {
            continue;
        }
        r.ok("codex", format!("registered in {} for {}", f.display(), events.join(", ")))?;
        let Some(hooks) = v.get("hooks").and_then(Value::as_object) else { continue };
        for (event, groups) in hooks {
            for (gi, g) in groups.as_array().into_iter().flatten().enumerate() {
                for (hi, h) in g.get("hooks").and_then(Value::as_array).into_iter().flatten().enumerate() {
                    let ours = h.get("command").and_then(Value::as_str).is_some_and(settings::is_ours_codex);
                    let key = format!("{}:{}:{gi}:{hi}", f.display(), snake(event));
                    if ours && !trusted.contains(&key) {
                        untrusted.push(event.clone());
                    }
                }
            }
        }
        registered.extend(events);
    }
    if registered.is_empty() {
        return r.warn(
            "codex",
            format!("tracecraft-hook is not registered in {}: Codex sessions are not mirrored", files[0].display()),
            "tracecraft-hook install --codex".to_string(),
        );
    }
    let missing: Vec<&str> =
        settings::CODEX_EVENTS.iter().map(|(e, _)| *e).filter(|e| !registered.iter().any(|x| x == e)).collect();
    if !missing.is_empty() {
        r.warn(
            "codex",
            format!("not registered for {}", missing.join(", ")),
            "tracecraft-hook install --codex".to_string(),
        )?;
    }
    if untrusted.is_empty() {
        r.ok("codex", "our hooks are trusted in config.toml")
    } else {
        untrusted.dedup();
        r.warn(
            "codex",
            format!("not trusted yet for {}: `codex exec` skips untrusted hooks without a word", untrusted.join(", ")),
            crate::cmd::install::CODEX_TRUST_HELP.replace('\n', " "),
        )
    }
}

/// Registration in Claude Code settings (user, project, local), plugin double
/// registration, and the registered binaries.
fn check_hooks(r: &mut Report, dir: &Path) -> Result<()> {
    let home = paths::home()?;
    let cfg_dir = std::env::var_os("CLAUDE_CONFIG_DIR").filter(|v| !v.is_empty()).map(PathBuf::from);
    let mut layers: Vec<(PathBuf, Value)> = Vec::new();
    for scope in [Scope::User, Scope::Project, Scope::Local] {
        let p = settings::settings_path(scope, &home, cfg_dir.as_deref(), dir);
        match std::fs::read(&p) {
            Ok(b) if b.iter().all(u8::is_ascii_whitespace) => {}
            Ok(b) => match serde_json::from_slice::<Value>(&b) {
                Ok(v) => layers.push((p, v)),
                Err(e) => r.warn("hooks", format!("cannot parse {}: {e}", p.display()), None)?,
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => r.warn("hooks", format!("cannot read {}: {e}", p.display()), None)?,
        }
    }

    let mut all_events: Vec<String> = Vec::new();
    let mut commands: Vec<(String, PathBuf)> = Vec::new();
    for (p, v) in &layers {
        let events = settings::registrations(v);
        if !events.is_empty() {
            r.ok("hooks", format!("registered in {} for {}", p.display(), events.join(", ")))?;
        }
        for e in events {
            if !all_events.contains(&e) {
                all_events.push(e);
            }
        }
        for c in our_commands(v) {
            if !commands.iter().any(|(x, _)| *x == c) {
                commands.push((c, p.clone()));
            }
        }
    }
    let plugin_in: Vec<&PathBuf> = layers.iter().filter(|(_, v)| settings::plugin_enabled(v)).map(|(p, _)| p).collect();
    for p in &plugin_in {
        r.ok("hooks", format!("tracecraft-hook plugin enabled in {}", p.display()))?;
    }
    let user_path = settings::settings_path(Scope::User, &home, cfg_dir.as_deref(), dir);
    if all_events.is_empty() && plugin_in.is_empty() {
        r.warn(
            "hooks",
            format!(
                "tracecraft-hook is not registered in {} nor in {}'s .claude/ settings: sessions are not mirrored",
                user_path.display(),
                dir.display()
            ),
            "tracecraft-hook install".to_string(),
        )?;
    } else if !all_events.is_empty() {
        let missing: Vec<&str> =
            settings::EVENTS.iter().map(|(e, _)| *e).filter(|e| !all_events.iter().any(|x| x == e)).collect();
        if !missing.is_empty() {
            r.warn(
                "hooks",
                format!("not registered for {}", missing.join(", ")),
                "tracecraft-hook install".to_string(),
            )?;
        }
    }
    let layer_values: Vec<&Value> = layers.iter().map(|(_, v)| v).collect();
    let twice = settings::double_registrations(&layer_values);
    if !twice.is_empty() {
        r.warn(
            "hooks",
            format!(
                "registered in settings and enabled as a plugin: {} run twice (harmless, but twice the work)",
                twice.join(", ")
            ),
            "`tracecraft-hook uninstall` (keep the plugin) or disable the plugin".to_string(),
        )?;
    }

    for (cmd, file) in &commands {
        let Some(bin) = command_binary(cmd) else { continue };
        match std::fs::metadata(&bin) {
            Ok(md) if md.is_file() && md.permissions().mode() & 0o111 != 0 => {
                r.ok("hook binary", bin.display())?;
            }
            Ok(_) => r.fail(
                "hook binary",
                format!("{} (registered in {}) is not an executable file", bin.display(), file.display()),
                "`tracecraft-hook install` re-registers this binary".to_string(),
            )?,
            Err(_) => r.fail(
                "hook binary",
                format!("{} (registered in {}) does not exist: every hook event fails", bin.display(), file.display()),
                "`tracecraft-hook install` re-registers this binary".to_string(),
            )?,
        }
    }
    Ok(())
}

/// The commands of our handlers in one settings file.
fn our_commands(settings_value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(hooks) = settings_value.get("hooks").and_then(Value::as_object) else { return out };
    for groups in hooks.values() {
        for g in groups.as_array().into_iter().flatten() {
            for h in g.get("hooks").and_then(Value::as_array).into_iter().flatten() {
                if h.get("type").and_then(Value::as_str) != Some("command") {
                    continue;
                }
                if let Some(c) = h.get("command").and_then(Value::as_str) {
                    if settings::is_ours(c) && !out.iter().any(|x| x == c) {
                        out.push(c.to_string());
                    }
                }
            }
        }
    }
    out
}

/// The binary of a handler command `<bin> hook` (one shell word, quoting undone; `is_ours`
/// has already refused anything with expansions). A bare name is looked up in `PATH`.
fn command_binary(cmd: &str) -> Option<PathBuf> {
    let word = cmd.trim().strip_suffix("hook")?.trim_end();
    let mut bin = String::new();
    let mut chars = word.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    bin.push(c);
                }
            }
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => bin.extend(chars.next()),
                        c => bin.push(c),
                    }
                }
            }
            '\\' => bin.extend(chars.next()),
            c => bin.push(c),
        }
    }
    if bin.contains('/') {
        return Some(PathBuf::from(bin));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(&bin)).find(|p| p.is_file()).or(Some(PathBuf::from(bin)))
}

fn check_log(r: &mut Report) -> Result<()> {
    let problems = crate::base::log::recent_problems(5);
    let log = paths::log_path()?;
    if problems.is_empty() {
        return r.ok("hook log", format!("no warnings or errors in {}", log.display()));
    }
    r.warn(
        "hook log",
        format!("last {} warning/error line{} of {}:", problems.len(), plural(problems.len()), log.display()),
        None,
    )?;
    for p in &problems {
        emit(&format!("      {p}"))?;
    }
    Ok(())
}

/// Sessions whose transcript grew since the last flush looked at it, or whose meta.json
/// upload is pending. A transcript that only has a partial last line beyond the cursor was
/// already seen (`seen_len`) and does not count: a non-final flush cannot send it yet.
fn check_sessions(r: &mut Report) -> Result<()> {
    let dir = paths::state_dir()?;
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return r.ok("sessions", "none tracked yet");
    };
    let (mut tracked, mut pending, mut bytes) = (0usize, Vec::new(), 0u64);
    let mut failed: Vec<(String, String)> = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix("@failed").filter(|s| !s.starts_with('.')) {
            // The stem writes each capital `C` as `^c` (state::file_stem): undo that.
            let mut id = String::new();
            let mut chars = stem.chars();
            while let Some(c) = chars.next() {
                match c {
                    '^' => id.extend(chars.next().map(|c| c.to_ascii_uppercase())),
                    c => id.push(c),
                }
            }
            let why = std::fs::read_to_string(e.path()).unwrap_or_default();
            failed.push((id, why.trim().to_string()));
            continue;
        }
        if !name.ends_with(".json") || name.contains('@') || name.starts_with('.') {
            continue;
        }
        let Some(st) = state::load(&e.path()) else { continue };
        tracked += 1;
        let (len, mtime) = crate::session::transcript::stat(&st.transcript).unwrap_or((st.seen_len, st.seen_mtime_ns));
        let grew = (len, mtime) != (st.seen_len, st.seen_mtime_ns) && len > st.cursor;
        if grew || st.meta_dirty {
            bytes += len.saturating_sub(st.cursor);
            pending.push(st.session_id);
        }
    }
    if !failed.is_empty() {
        failed.sort();
        let ids: Vec<&str> = failed.iter().map(|(id, _)| id.as_str()).collect();
        pending.retain(|p| !ids.contains(&p.as_str()));
        r.warn(
            "sessions",
            format!(
                "the last hook of {} session{} failed to upload; their new bytes are still pending:",
                failed.len(),
                plural(failed.len())
            ),
            None,
        )?;
        for (id, why) in failed.iter().take(5) {
            emit(&format!("      {id}: {why}"))?;
        }
        emit(&format!(
            "      fix: correct the problem, then `tracecraft-hook flush --session-id {}` (or \
             `tracecraft-hook backfill --all-projects`)",
            failed[0].0
        ))?;
    }
    if pending.is_empty() {
        if !failed.is_empty() {
            return Ok(());
        }
        return r.ok("sessions", format!("{tracked} tracked, nothing pending"));
    }
    pending.sort();
    let shown: Vec<&str> = pending.iter().take(3).map(String::as_str).collect();
    r.warn(
        "sessions",
        format!(
            "{} of {tracked} tracked have unsent data ({} bytes): {}{} (normal for a session running right now)",
            pending.len(),
            thousands(bytes),
            shown.join(", "),
            if pending.len() > shown.len() { ", ..." } else { "" }
        ),
        "`tracecraft-hook backfill --all-projects`".to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse_and_skew_is_signed() {
        let t = parse_http_date("Sat, 21 Nov 2026 20:06:47 GMT").unwrap();
        assert_eq!(t, time::macros::datetime!(2026-11-21 20:06:47 UTC));
        assert_eq!(skew_secs(t, t + time::Duration::minutes(6)), 360);
        assert_eq!(skew_secs(t, t - time::Duration::seconds(3)), -3);
        assert!(parse_http_date("yesterday").is_none());
    }

    #[test]
    fn command_binary_undoes_quoting() {
        assert_eq!(command_binary("/usr/bin/tracecraft-hook hook"), Some(PathBuf::from("/usr/bin/tracecraft-hook")));
        assert_eq!(
            command_binary("'/opt/my dir/tracecraft-hook' hook"),
            Some(PathBuf::from("/opt/my dir/tracecraft-hook"))
        );
        assert_eq!(command_binary(r"/a\ b/tracecraft-hook hook"), Some(PathBuf::from("/a b/tracecraft-hook")));
    }

    #[test]
    fn our_commands_only() {
        let v = serde_json::json!({"hooks":{"Stop":[{"hooks":[
            {"type":"command","command":"/x/tracecraft-hook hook"},
            {"type":"command","command":"echo hi"}]}],
            "SessionEnd":[{"hooks":[{"type":"command","command":"/x/tracecraft-hook hook"}]}]}});
        assert_eq!(our_commands(&v), vec!["/x/tracecraft-hook hook".to_string()]);
    }
}
