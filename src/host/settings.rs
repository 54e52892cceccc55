//! Registering tracecraft-hook in Claude Code's `settings.json` (and removing it again).
//!
//! Claude Code runs a command hook listed under `hooks.<Event>` of a settings file. This
//! module edits that block as a *pure function* over a `serde_json::Value` ([`install`],
//! [`uninstall`]), so every rule is tested without a disk, and wraps it in two thin file
//! operations ([`install_file`], [`uninstall_file`]) that read, back up and atomically
//! replace the file.
//!
//! Rules it keeps:
//! - Idempotent: a second install changes nothing and writes nothing (no new backup).
//! - Everything that is not ours stays as it was, in the same order (serde_json is built
//!   with `preserve_order`; removals use `shift_remove`).
//! - Uninstall removes exactly what install added: our handlers, the matcher groups and
//!   event arrays that became empty because of that, and the `hooks` object if it became
//!   empty. One thing a pure function cannot tell apart: an *empty* container the user
//!   already had (`"hooks": {}`, `"Stop": []`) that afterwards held only our handler is
//!   removed as if install had created it. Claude Code reads both forms the same way.
//! - A malformed `hooks` block is refused with its location, never "repaired".
//! - `<file>.bak` keeps the user's original: install writes it only from a file without our
//!   handlers. Uninstall of a file nothing else changed in since install writes the original
//!   bytes back exactly, and removes a file install created (no `{}` left behind).
//!
//! What it deliberately does not do: validate the rest of the settings file, follow
//! `managed-settings.json`, or guess at handlers it did not write. A handler is "ours" only
//! when its command is exactly `<path>/tracecraft-hook hook` (see [`is_ours`]); a user's own
//! wrapper around the binary is left alone.

use std::fmt;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::base::error::{Error, Result};
use crate::base::fsutil::{atomic_write, ensure_private_dir, read_optional};

/// The binary's file name; [`is_ours`] recognises a handler by it.
pub const BIN_NAME: &str = "tracecraft-hook";

/// The hook events we register, with each handler's `timeout` in seconds.
///
/// The binary answers in milliseconds (uploads go to a detached worker), so these are
/// safety nets for a wedged process, not budgets we expect to use. They stay short because
/// Claude Code waits for synchronous hooks: a hung UserPromptSubmit hook holds the prompt.
///
/// SessionEnd: Claude Code gives all SessionEnd hooks a shared 1.5 s budget, raised to the
/// largest SessionEnd `timeout` found in settings files (plugin timeouts do not count).
/// 10 s lets the final flush finish when a slow network makes it take longer than 1.5 s.
///
/// No `"async": true`: the binary already detaches its slow part, and in `-p` mode async
/// hooks still running at exit are killed, which would lose exactly the last upload.
pub const EVENTS: &[(&str, u64)] = &[
    ("SessionStart", 10),
    ("UserPromptSubmit", 10),
    ("Stop", 10),
    ("SubagentStop", 10),
    ("PreCompact", 10),
    ("SessionEnd", 10),
];

/// The events registered in Codex CLI's hooks.json (same shape as Claude Code's `hooks`).
/// Codex caps SessionEnd (and Interrupt) hook timeouts at 3 s; the hook returns in
/// milliseconds and leaves the upload to its detached worker, so 3 s is plenty. Codex has
/// no SubagentStop transcript of its own to mirror.
pub const CODEX_EVENTS: &[(&str, u64)] =
    &[("SessionStart", 10), ("UserPromptSubmit", 10), ("Stop", 10), ("PreCompact", 10), ("SessionEnd", 3)];

/// Which hooks file is edited: Claude Code's settings.json or Codex CLI's hooks.json. The
/// block is the same; the events and the command differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `hooks` of a Claude Code settings file; command `<bin> hook`.
    Claude,
    /// `hooks` of a Codex hooks.json; command `<bin> hook --harness codex`.
    Codex,
}

impl Flavor {
    /// The events registered, with their timeouts.
    pub fn events(self) -> &'static [(&'static str, u64)] {
        match self {
            Flavor::Claude => EVENTS,
            Flavor::Codex => CODEX_EVENTS,
        }
    }

    /// Whether `command` is a handler of ours for this file (see [`is_ours`]).
    pub fn is_ours(self, command: &str) -> bool {
        match self {
            Flavor::Claude => is_ours(command),
            Flavor::Codex => is_ours_codex(command),
        }
    }

    /// The command registered for the binary at `bin`.
    pub fn command(self, bin: &Path) -> String {
        match self {
            Flavor::Claude => hook_command(bin),
            Flavor::Codex => format!("{} --harness codex", hook_command(bin)),
        }
    }
}

/// True when `command` is a Codex handler install wrote: `<path>/tracecraft-hook hook
/// --harness codex`, with the same quoting rules as [`is_ours`].
pub fn is_ours_codex(command: &str) -> bool {
    let Some(words) = shell_words(command) else {
        return false;
    };
    let [bin, sub, flag, name] = words.as_slice() else {
        return false;
    };
    sub == "hook"
        && flag == "--harness"
        && name == "codex"
        && !bin.ends_with('/')
        && Path::new(bin).file_name().is_some_and(|n| n == BIN_NAME)
}

/// Settings-file mode when the file does not exist yet (what Claude Code creates).
const DEFAULT_MODE: u32 = 0o644;

/// The command string registered for every event: `<bin, shell-quoted if needed> hook`.
///
/// `bin` should be absolute (Claude Code runs hooks with `/bin/sh -c` in the project
/// directory). A path that is not valid UTF-8 is converted lossily; [`install`] then
/// refuses it unless it still names `tracecraft-hook`.
pub fn hook_command(bin: &Path) -> String {
    format!("{} hook", shell_quote(&bin.to_string_lossy()))
}

/// Quote `s` for `/bin/sh` when it holds anything but plainly safe characters.
fn shell_quote(s: &str) -> String {
    // `=` and `~` are left out on purpose: `a=b` as a first word is an assignment and a
    // leading `~` is expanded.
    let safe = |b: u8| b.is_ascii_alphanumeric() || b"/._-+,:@%".contains(&b);
    if !s.is_empty() && s.bytes().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// True when `command` is a tracecraft-hook handler that install wrote (now or with an
/// older binary path): exactly two shell words, the first a path whose file name is
/// `tracecraft-hook`, the second `hook`. Quoting is undone (`'…'`, `"…"`, `\x`) the way
/// `/bin/sh` would; any expansion, redirection, extra argument or variable assignment makes
/// it not ours, so user wrappers are never touched.
pub fn is_ours(command: &str) -> bool {
    let Some(words) = shell_words(command) else {
        return false;
    };
    let [bin, sub] = words.as_slice() else {
        return false;
    };
    sub == "hook" && !bin.ends_with('/') && Path::new(bin).file_name().is_some_and(|n| n == BIN_NAME)
}

/// Split a command line into words for the simple case only: plain words, single quotes,
/// double quotes without expansions, backslash escapes. `None` for anything else (`$`,
/// backquotes, operators, globs, comments, `~`, unquoted `=`, unbalanced quotes).
fn shell_words(s: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => cur.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '$' | '`' => return None,
                        '\\' => match chars.next()? {
                            c @ ('$' | '`' | '"' | '\\') => cur.push(c),
                            '\n' => {}
                            c => {
                                cur.push('\\');
                                cur.push(c);
                            }
                        },
                        c => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next()? {
                    '\n' => {}
                    c => cur.push(c),
                }
            }
            '$' | '`' | ';' | '&' | '|' | '<' | '>' | '(' | ')' | '*' | '?' | '[' | '\n' | '=' => return None,
            '#' | '~' if !in_word => return None,
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Some(words)
}

/// The handler install writes for one event.
fn handler(command: &str, timeout: u64) -> Value {
    let mut h = Map::new();
    h.insert("type".into(), "command".into());
    h.insert("command".into(), command.into());
    h.insert("timeout".into(), timeout.into());
    Value::Object(h)
}

/// A command handler's command, if `h` is one.
fn command_of(h: &Value) -> Option<&str> {
    if h.get("type").and_then(Value::as_str) != Some("command") {
        return None;
    }
    h.get("command").and_then(Value::as_str)
}

/// Check one event's matcher groups have the shape Claude Code documents:
/// `[{"matcher"?: "...", "hooks": [{"type": "...", ...}, ...]}, ...]`.
fn check_event(event: &str, value: &Value) -> Result<()> {
    let bad = |what: String| Err(Error::Invalid(format!("{what}: unexpected shape")));
    let Some(groups) = value.as_array() else {
        return bad(format!("hooks.{event} is not an array"));
    };
    for (gi, group) in groups.iter().enumerate() {
        let Some(group) = group.as_object() else {
            return bad(format!("hooks.{event}[{gi}] is not an object"));
        };
        let Some(handlers) = group.get("hooks").and_then(Value::as_array) else {
            return bad(format!("hooks.{event}[{gi}].hooks is missing or not an array"));
        };
        for (hi, h) in handlers.iter().enumerate() {
            let Some(h) = h.as_object() else {
                return bad(format!("hooks.{event}[{gi}].hooks[{hi}] is not an object"));
            };
            if h.get("command").is_some_and(|c| !c.is_string()) {
                return bad(format!("hooks.{event}[{gi}].hooks[{hi}].command is not a string"));
            }
        }
    }
    Ok(())
}

/// The root object, or a refusal.
fn root_mut(settings: &mut Value) -> Result<&mut Map<String, Value>> {
    settings
        .as_object_mut()
        .ok_or_else(|| Error::Invalid("the top level is not a JSON object: unexpected shape".into()))
}

/// The handlers of one matcher group (shape already checked).
fn handlers_mut(group: &mut Value) -> Option<&mut Vec<Value>> {
    group.get_mut("hooks").and_then(Value::as_array_mut)
}

/// Register `command` for every event in [`EVENTS`].
///
/// Per event: an identical handler (same command) already there is kept as is; otherwise
/// an older tracecraft-hook handler (another path, see [`is_ours`]) is replaced in place;
/// otherwise a new matcher group `{"hooks":[{"type":"command","command":…,"timeout":N}]}`
/// is appended. Any further handler of ours for that event is removed, so a moved binary
/// never fires twice. Returns the events it changed, in [`EVENTS`] order.
///
/// Refuses (and leaves `settings` untouched) when the root or `hooks` is not an object, an
/// event's value is not an array of matcher groups, or `command` is not one of ours.
#[cfg_attr(not(test), allow(dead_code))]
pub fn install(settings: &mut Value, command: &str) -> Result<Vec<String>> {
    install_in(Flavor::Claude, settings, command)
}

/// [`install`] into a file of `flavor`.
pub fn install_in(flavor: Flavor, settings: &mut Value, command: &str) -> Result<Vec<String>> {
    if !flavor.is_ours(command) {
        return Err(Error::Invalid(format!(
            "refusing to register {command:?}: the command must be `<path>/{BIN_NAME} hook`"
        )));
    }
    // Work on a copy so a refusal half-way leaves the caller's value as it was.
    let mut next = settings.clone();
    let changed = install_into(flavor, &mut next, command)?;
    if !changed.is_empty() {
        *settings = next;
    }
    Ok(changed)
}

fn install_into(flavor: Flavor, settings: &mut Value, command: &str) -> Result<Vec<String>> {
    let root = root_mut(settings)?;
    let hooks = root.entry("hooks").or_insert_with(|| Value::Object(Map::new()));
    let hooks =
        hooks.as_object_mut().ok_or_else(|| Error::Invalid("\"hooks\" is not an object: unexpected shape".into()))?;
    for &(event, _) in flavor.events() {
        if let Some(v) = hooks.get(event) {
            check_event(event, v)?;
        }
    }
    let mut changed = Vec::new();
    for &(event, timeout) in flavor.events() {
        let groups = hooks.entry(event).or_insert_with(|| Value::Array(Vec::new()));
        let Some(groups) = groups.as_array_mut() else {
            continue;
        };
        if install_event(flavor, groups, command, timeout) {
            changed.push(event.to_string());
        }
    }
    Ok(changed)
}

/// Make `command` the one handler of ours in `groups`. True when anything changed.
fn install_event(flavor: Flavor, groups: &mut Vec<Value>, command: &str, timeout: u64) -> bool {
    // Where our handlers are, as (group, handler) positions in file order.
    let mut ours = Vec::new();
    for (gi, group) in groups.iter().enumerate() {
        let Some(hs) = group.get("hooks").and_then(Value::as_array) else {
            continue;
        };
        for (hi, h) in hs.iter().enumerate() {
            if let Some(c) = command_of(h).filter(|c| flavor.is_ours(c)) {
                ours.push((gi, hi, c == command));
            }
        }
    }
    let Some(&(kg, kh, exact)) = ours.iter().find(|o| o.2).or(ours.first()) else {
        groups.push(serde_json::json!({ "hooks": [handler(command, timeout)] }));
        return true;
    };
    let mut changed = false;
    if !exact {
        if let Some(slot) = handlers_mut(&mut groups[kg]).and_then(|hs| hs.get_mut(kh)) {
            *slot = handler(command, timeout);
            changed = true;
        }
    }
    // Remove every other handler of ours, last first so positions stay valid; drop the
    // groups this empties (and only those).
    for &(gi, hi, _) in ours.iter().rev() {
        if (gi, hi) == (kg, kh) {
            continue;
        }
        if let Some(hs) = handlers_mut(&mut groups[gi]) {
            hs.remove(hi);
            changed = true;
            if hs.is_empty() {
                groups.remove(gi);
            }
        }
    }
    changed
}

/// Remove every handler of ours (any event, any path), the matcher groups and event arrays
/// this leaves empty, and `hooks` itself if it ends up empty. Returns the events it removed
/// handlers from, in file order. A value without `hooks` is left alone. Refuses (and leaves
/// `settings` untouched) on the same malformed shapes as [`install`].
#[cfg_attr(not(test), allow(dead_code))]
pub fn uninstall(settings: &mut Value) -> Result<Vec<String>> {
    uninstall_in(Flavor::Claude, settings)
}

/// [`uninstall`] from a file of `flavor`.
pub fn uninstall_in(flavor: Flavor, settings: &mut Value) -> Result<Vec<String>> {
    let mut next = settings.clone();
    let changed = uninstall_from(flavor, &mut next)?;
    if !changed.is_empty() {
        *settings = next;
    }
    Ok(changed)
}

fn uninstall_from(flavor: Flavor, settings: &mut Value) -> Result<Vec<String>> {
    let root = root_mut(settings)?;
    let Some(hooks) = root.get_mut("hooks") else {
        return Ok(Vec::new());
    };
    let hooks =
        hooks.as_object_mut().ok_or_else(|| Error::Invalid("\"hooks\" is not an object: unexpected shape".into()))?;
    // Our events must be well-formed; another event we only clean when it is (install
    // never wrote there unless an older version did, and we do not guess).
    for &(event, _) in flavor.events() {
        if let Some(v) = hooks.get(event) {
            check_event(event, v)?;
        }
    }
    let mut changed = Vec::new();
    let mut emptied = Vec::new();
    for (event, v) in hooks.iter_mut() {
        if check_event(event, v).is_err() {
            continue;
        }
        let Some(groups) = v.as_array_mut() else {
            continue;
        };
        let mut removed_any = false;
        groups.retain_mut(|group| {
            let Some(hs) = handlers_mut(group) else {
                return true;
            };
            let before = hs.len();
            hs.retain(|h| !command_of(h).is_some_and(|c| flavor.is_ours(c)));
            let removed = hs.len() != before;
            removed_any |= removed;
            !(removed && hs.is_empty())
        });
        if removed_any {
            changed.push(event.clone());
            if groups.is_empty() {
                emptied.push(event.clone());
            }
        }
    }
    for event in &emptied {
        hooks.shift_remove(event);
    }
    if !changed.is_empty() && hooks.is_empty() {
        root.shift_remove("hooks");
    }
    Ok(changed)
}

/// Events for which a handler of ours is registered in `settings`, in file order.
/// Lenient: malformed parts are skipped (this only reports).
pub fn registrations(settings: &Value) -> Vec<String> {
    registrations_in(Flavor::Claude, settings)
}

/// [`registrations`] in a file of `flavor`.
pub fn registrations_in(flavor: Flavor, settings: &Value) -> Vec<String> {
    let Some(hooks) = settings.get("hooks").and_then(Value::as_object) else {
        return Vec::new();
    };
    hooks
        .iter()
        .filter(|(_, groups)| {
            groups.as_array().into_iter().flatten().any(|g| {
                g.get("hooks")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|h| command_of(h).is_some_and(|c| flavor.is_ours(c)))
            })
        })
        .map(|(event, _)| event.clone())
        .collect()
}

/// The `enabledPlugins` entries of one settings file that name the tracecraft-hook plugin
/// (`tracecraft-hook@<marketplace>`), with whether each is exactly `true`.
fn plugin_entries(settings: &Value) -> impl Iterator<Item = (&str, bool)> {
    settings
        .get("enabledPlugins")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(key, _)| key.strip_prefix(BIN_NAME).is_some_and(|rest| rest.starts_with('@')))
        .map(|(key, v)| (key.as_str(), v.as_bool() == Some(true)))
}

/// True when this settings file enables the tracecraft-hook plugin
/// (`enabledPlugins["tracecraft-hook@…"] == true`).
pub fn plugin_enabled(settings: &Value) -> bool {
    plugin_entries(settings).any(|(_, on)| on)
}

/// For `doctor`: the events that would fire twice because tracecraft-hook is registered in
/// a settings file *and* enabled as a plugin. Claude Code runs identical handlers from
/// several settings files once, but a plugin's handler is a different command and runs
/// again. `layers` are the settings files in Claude Code's precedence order, lowest first
/// (user, project, local); a later layer's `enabledPlugins` value overrides an earlier one.
/// Empty when there is no double registration.
pub fn double_registrations(layers: &[&Value]) -> Vec<String> {
    // Claude Code merges `enabledPlugins` key by key, a later layer winning.
    let mut state: Vec<(&str, bool)> = Vec::new();
    for layer in layers {
        for (key, on) in plugin_entries(layer) {
            match state.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = on,
                None => state.push((key, on)),
            }
        }
    }
    if !state.iter().any(|&(_, on)| on) {
        return Vec::new();
    }
    let mut events: Vec<String> = Vec::new();
    for layer in layers {
        for e in registrations(layer) {
            if !events.contains(&e) {
                events.push(e);
            }
        }
    }
    events
}

/// Which settings file to edit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `~/.claude/settings.json` (or `$CLAUDE_CONFIG_DIR/settings.json`): every project.
    User,
    /// `<project>/.claude/settings.json`: shared with the project's other users.
    Project,
    /// `<project>/.claude/settings.local.json`: this project, this machine only.
    Local,
}

impl Scope {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Project => "project",
            Scope::Local => "local",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "user" => Ok(Scope::User),
            "project" => Ok(Scope::Project),
            "local" => Ok(Scope::Local),
            _ => Err(Error::Invalid(format!("unknown scope {s:?}: expected user, project or local"))),
        }
    }
}

/// The settings file for `scope`. `claude_config_dir` is `$CLAUDE_CONFIG_DIR` (an empty
/// value counts as unset); it replaces `~/.claude` for the user scope only.
pub fn settings_path(scope: Scope, home: &Path, claude_config_dir: Option<&Path>, project_dir: &Path) -> PathBuf {
    match scope {
        Scope::User => match claude_config_dir.filter(|d| !d.as_os_str().is_empty()) {
            Some(dir) => dir.join("settings.json"),
            None => home.join(".claude").join("settings.json"),
        },
        Scope::Project => project_dir.join(".claude").join("settings.json"),
        Scope::Local => project_dir.join(".claude").join("settings.local.json"),
    }
}

/// Which edit a [`Report`] describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Install,
    Uninstall,
}

/// What [`install_file`] or [`uninstall_file`] did (or, in a dry run, would do).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub action: Action,
    /// The settings file, as given.
    pub path: PathBuf,
    /// Events whose handlers changed; empty when the file was already as wanted.
    pub events: Vec<String>,
    /// Where the previous content was copied before the write (`<path>.bak`).
    pub backup: Option<PathBuf>,
    /// True when nothing was written because of `dry_run`.
    pub dry_run: bool,
    /// Dry run only: the complete file that would be written (when something changes).
    pub would_write: Option<String>,
    /// Uninstall: the file went back to how it was before install, rather than being rewritten.
    pub outcome: Option<Outcome>,
}

/// How an uninstall left the file, when not simply rewritten.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Install had created it: removed.
    Removed,
    /// Its bytes before install, from this `.bak` (kept), written back exactly.
    Restored(PathBuf),
}

impl Report {
    /// True when the file was (or in a dry run would be) rewritten.
    pub fn changed(&self) -> bool {
        !self.events.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        if !self.changed() {
            return match self.action {
                Action::Install => write!(f, "{path}: tracecraft-hook already registered"),
                Action::Uninstall => write!(f, "{path}: tracecraft-hook not registered"),
            };
        }
        let verb = match (self.action, self.dry_run) {
            (Action::Install, false) => "registered tracecraft-hook for",
            (Action::Install, true) => "would register tracecraft-hook for",
            (Action::Uninstall, false) => "removed tracecraft-hook from",
            (Action::Uninstall, true) => "would remove tracecraft-hook from",
        };
        write!(f, "{path}: {verb} {}", self.events.join(", "))?;
        if let Some(b) = &self.backup {
            write!(f, " (previous file saved as {})", b.display())?;
        }
        match &self.outcome {
            Some(Outcome::Removed) => write!(f, "; removed the file, which install had created")?,
            Some(Outcome::Restored(b)) => {
                write!(f, "; restored it byte for byte as it was before install ({})", b.display())?
            }
            None => {}
        }
        Ok(())
    }
}

/// The backup written before a change: `<path>.bak`, overwritten by each later change, so
/// it always holds the file as it was just before tracecraft-hook last edited it.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".bak");
    PathBuf::from(name)
}

/// Register `command` in the settings file at `path` (see [`install`]). A missing or blank
/// file counts as `{}`; its directory is created (0700) when missing.
pub fn install_file(path: &Path, command: &str, dry_run: bool) -> Result<Report> {
    install_file_in(Flavor::Claude, path, command, dry_run)
}

/// [`install_file`] for a file of `flavor` (Codex: `$CODEX_HOME/hooks.json`).
pub fn install_file_in(flavor: Flavor, path: &Path, command: &str, dry_run: bool) -> Result<Report> {
    edit_file(flavor, path, dry_run, Action::Install, |v| install_in(flavor, v, command))
}

/// Remove our handlers from the settings file at `path` (see [`uninstall`]). A missing file
/// is a no-op.
pub fn uninstall_file(path: &Path, dry_run: bool) -> Result<Report> {
    uninstall_file_in(Flavor::Claude, path, dry_run)
}

/// [`uninstall_file`] for a file of `flavor`.
pub fn uninstall_file_in(flavor: Flavor, path: &Path, dry_run: bool) -> Result<Report> {
    edit_file(flavor, path, dry_run, Action::Uninstall, |v| uninstall_in(flavor, v))
}

/// Read, edit, back up, atomically replace. Writes nothing when the edit changes nothing.
/// A symlinked settings file (dotfile managers) is edited through the link: the link stays
/// and its target is replaced.
fn edit_file(
    flavor: Flavor,
    path: &Path,
    dry_run: bool,
    action: Action,
    edit: impl FnOnce(&mut Value) -> Result<Vec<String>>,
) -> Result<Report> {
    let mut report = Report {
        action,
        path: path.to_path_buf(),
        events: Vec::new(),
        backup: None,
        dry_run,
        would_write: None,
        outcome: None,
    };
    let target = write_target(path)?;
    let old_bytes = read_optional(&target)?;
    if old_bytes.is_none() && action == Action::Uninstall {
        return Ok(report);
    }
    let mut value = parse(path, old_bytes.as_deref())?;
    report.events = edit(&mut value).map_err(|e| match e {
        Error::Invalid(msg) => Error::config(Some(path), format!("{msg}; left untouched")),
        e => e,
    })?;
    if report.events.is_empty() {
        return Ok(report);
    }
    let mut text = serde_json::to_string_pretty(&value)
        .map_err(|e| Error::config(Some(path), format!("cannot serialize: {e}")))?;
    text.push('\n');
    if dry_run {
        report.would_write = Some(text);
        return Ok(report);
    }
    let mode = match fs::metadata(&target) {
        Ok(m) => m.permissions().mode() & 0o7777,
        Err(_) => DEFAULT_MODE,
    };
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        ensure_private_dir(dir)?;
    }
    let backup = backup_path(path);
    match action {
        Action::Install => match &old_bytes {
            // The user's own file (none of our handlers yet): that is what `.bak` keeps.
            Some(old) if registrations_in(flavor, &parse(path, Some(old))?).is_empty() => {
                atomic_write(&backup, old, mode)?;
                report.backup = Some(backup);
            }
            // Already installed once (e.g. another binary path): `.bak` keeps the original.
            Some(_) => {}
            // A file install creates: a `.bak` left from an earlier life is not its original.
            None => remove_if_present(&backup)?,
        },
        Action::Uninstall => {
            let original = read_optional(&backup)?;
            let original_value = original.as_deref().and_then(|b| parse(path, Some(b)).ok());
            if original.is_none() && value == Value::Object(Map::new()) {
                // Install created the file and nothing else was added since: remove it.
                remove_if_present(&target)?;
                report.outcome = Some(Outcome::Removed);
                return Ok(report);
            }
            if let (Some(bytes), Some(v)) = (&original, original_value) {
                if v == value {
                    // Nothing else changed since install: the user's exact bytes come back.
                    atomic_write(&target, bytes, mode)?;
                    report.outcome = Some(Outcome::Restored(backup));
                    return Ok(report);
                }
            }
            if original.is_none() {
                if let Some(old) = &old_bytes {
                    atomic_write(&backup, old, mode)?;
                    report.backup = Some(backup);
                }
            }
        }
    }
    atomic_write(&target, text.as_bytes(), mode)?;
    Ok(report)
}

fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("remove", path, e)),
        _ => Ok(()),
    }
}

/// The file to replace: `path` itself, or the file a symlink at `path` points to (renaming
/// over the link would turn it into a regular file).
fn write_target(path: &Path) -> Result<PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path).map_err(|e| {
            Error::config(Some(path), format!("is a symlink whose target cannot be resolved ({e}); left untouched"))
        }),
        _ => Ok(path.to_path_buf()),
    }
}

/// Parse settings bytes; missing or blank is `{}`.
fn parse(path: &Path, bytes: Option<&[u8]>) -> Result<Value> {
    match bytes {
        None => Ok(Value::Object(Map::new())),
        Some(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(Value::Object(Map::new())),
        Some(b) => serde_json::from_slice(b)
            .map_err(|e| Error::config(Some(path), format!("not valid JSON: {e}; left untouched"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CMD: &str = "/home/you/.local/bin/tracecraft-hook hook";
    const OLD: &str = "/opt/old/tracecraft-hook hook";

    /// Serialized form: `Value`'s `==` ignores key order, this does not.
    fn s(v: &Value) -> String {
        serde_json::to_string(v).unwrap()
    }

    fn ours(command: &str, timeout: u64) -> Value {
        json!({"hooks": [{"type": "command", "command": command, "timeout": timeout}]})
    }

    fn all_events() -> Vec<String> {
        EVENTS.iter().map(|(e, _)| e.to_string()).collect()
    }

    #[test]
    fn events_have_sane_timeouts_and_are_unique() {
        for (i, (e, t)) in EVENTS.iter().enumerate() {
            assert!((1..=60).contains(t), "{e}: {t}");
            assert!(!EVENTS[..i].iter().any(|(o, _)| o == e), "{e} twice");
        }
        // Must stay above the 1.5 s default so it raises the SessionEnd budget.
        assert!(EVENTS.iter().any(|&(e, t)| e == "SessionEnd" && t >= 2));
    }

    #[test]
    fn hook_command_quotes_only_when_needed() {
        assert_eq!(hook_command(Path::new("/usr/local/bin/tracecraft-hook")), "/usr/local/bin/tracecraft-hook hook");
        assert_eq!(hook_command(Path::new("/home/a b/tracecraft-hook")), "'/home/a b/tracecraft-hook' hook");
        assert_eq!(hook_command(Path::new("/home/o'neil/tracecraft-hook")), r"'/home/o'\''neil/tracecraft-hook' hook");
        assert_eq!(hook_command(Path::new("/x=y/tracecraft-hook")), "'/x=y/tracecraft-hook' hook");
        for p in [
            "/usr/bin/tracecraft-hook",
            "/a b/tracecraft-hook",
            "/o'n/$x/tracecraft-hook",
            "/x=y/tracecraft-hook",
            "/a\"b/tracecraft-hook",
        ] {
            assert!(is_ours(&hook_command(Path::new(p))), "{p}");
        }
    }

    #[test]
    fn is_ours_recognises_our_command_in_any_quoting() {
        for c in [
            "tracecraft-hook hook",
            "/usr/bin/tracecraft-hook hook",
            "  /usr/bin/tracecraft-hook   hook  ",
            "'/home/a b/tracecraft-hook' hook",
            "\"/home/a b/tracecraft-hook\" hook",
            "/home/a\\ b/tracecraft-hook hook",
            "/home/a' b'/tracecraft-hook 'hook'",
            r"'/home/o'\''neil/tracecraft-hook' hook",
        ] {
            assert!(is_ours(c), "{c}");
        }
        for c in [
            "",
            "tracecraft-hook",
            "/usr/bin/tracecraft-hook hook --verbose",
            "/usr/bin/tracecraft-hook flush",
            "/usr/bin/tracecraft-hook-dev hook",
            "/usr/bin/my-tracecraft-hook hook",
            "/usr/bin/tracecraft-hook/ hook",
            "FOO=1 /usr/bin/tracecraft-hook hook",
            "FOO=/usr/bin/tracecraft-hook hook",
            "$HOME/bin/tracecraft-hook hook",
            "\"$HOME/bin/tracecraft-hook\" hook",
            "~/bin/tracecraft-hook hook",
            "/usr/bin/tracecraft-hook hook; rm -rf x",
            "/usr/bin/tracecraft-hook hook >/dev/null",
            "/usr/bin/tracecraft-hook hook # note",
            "'/usr/bin/tracecraft-hook hook",
            "sh -c '/usr/bin/tracecraft-hook hook'",
            "\"${CLAUDE_PLUGIN_ROOT}/hooks/run.sh\"",
        ] {
            assert!(!is_ours(c), "{c}");
        }
    }

    #[test]
    fn install_into_empty_object() {
        let mut v = json!({});
        assert_eq!(install(&mut v, CMD).unwrap(), all_events());
        let hooks = v["hooks"].as_object().unwrap();
        assert_eq!(hooks.keys().cloned().collect::<Vec<_>>(), all_events());
        for &(e, t) in EVENTS {
            assert_eq!(s(&hooks[e]), s(&json!([ours(CMD, t)])), "{e}");
        }
        assert_eq!(registrations(&v), all_events());
    }

    #[test]
    fn install_keeps_other_keys_and_user_hooks_in_order() {
        let original = json!({
            "model": "opus",
            "hooks": {
                "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "guard.sh"}]}],
                "Stop": [{"hooks": [{"type": "command", "command": "notify-send done", "timeout": 5}]}],
                "SessionEnd": [{"matcher": "", "hooks": [{"type": "prompt", "prompt": "bye"}]}]
            },
            "permissions": {"allow": ["Bash(ls)"]},
            "env": {"B": "2", "A": "1"}
        });
        let mut v = original.clone();
        assert_eq!(install(&mut v, CMD).unwrap(), all_events());
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["model", "hooks", "permissions", "env"]);
        let hook_keys: Vec<_> = v["hooks"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            hook_keys,
            ["PreToolUse", "Stop", "SessionEnd", "SessionStart", "UserPromptSubmit", "SubagentStop", "PreCompact"]
        );
        assert_eq!(s(&v["hooks"]["PreToolUse"]), s(&original["hooks"]["PreToolUse"]));
        // The user's Stop handler stays first; ours comes after it.
        assert_eq!(s(&v["hooks"]["Stop"]), s(&json!([original["hooks"]["Stop"][0], ours(CMD, 10)])));
        assert_eq!(s(&v["hooks"]["SessionEnd"][0]), s(&original["hooks"]["SessionEnd"][0]));
        assert_eq!(s(&v["env"]), r#"{"B":"2","A":"1"}"#);
    }

    #[test]
    fn install_is_idempotent() {
        let mut v = json!({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "x"}]}]}});
        install(&mut v, CMD).unwrap();
        let once = s(&v);
        assert!(install(&mut v, CMD).unwrap().is_empty());
        assert_eq!(s(&v), once);
    }

    #[test]
    fn install_keeps_an_existing_identical_handler_as_is() {
        // Same command with a user-tuned timeout and inside a matcher group: not touched.
        let mut v = json!({"hooks": {"Stop": [{"matcher": "", "hooks": [
            {"type": "command", "command": "true"},
            {"type": "command", "command": CMD, "timeout": 42}
        ]}]}});
        let stop_before = s(&v["hooks"]["Stop"]);
        let changed = install(&mut v, CMD).unwrap();
        assert!(!changed.contains(&"Stop".to_string()));
        assert_eq!(changed.len(), EVENTS.len() - 1);
        assert_eq!(s(&v["hooks"]["Stop"]), stop_before);
    }

    #[test]
    fn install_replaces_an_older_path_in_place() {
        let mut v = json!({"hooks": {
            "Stop": [
                {"hooks": [{"type": "command", "command": "before"}]},
                {"hooks": [{"type": "command", "command": OLD, "timeout": 30}]},
                {"hooks": [{"type": "command", "command": "after"}]}
            ],
            "SessionEnd": [{"hooks": [
                {"type": "command", "command": "'/a b/tracecraft-hook' hook"},
                {"type": "command", "command": "keep-me"}
            ]}]
        }});
        assert_eq!(install(&mut v, CMD).unwrap(), all_events());
        assert_eq!(
            s(&v["hooks"]["Stop"]),
            s(&json!([
                {"hooks": [{"type": "command", "command": "before"}]},
                ours(CMD, 10),
                {"hooks": [{"type": "command", "command": "after"}]}
            ]))
        );
        assert_eq!(
            s(&v["hooks"]["SessionEnd"]),
            s(&json!([{"hooks": [
                {"type": "command", "command": CMD, "timeout": 10},
                {"type": "command", "command": "keep-me"}
            ]}]))
        );
        assert!(install(&mut v, CMD).unwrap().is_empty());
    }

    #[test]
    fn install_collapses_duplicates_to_one_handler() {
        let mut v = json!({"hooks": {"Stop": [
            {"hooks": [{"type": "command", "command": OLD}]},
            {"hooks": [{"type": "command", "command": "x"}, {"type": "command", "command": CMD, "timeout": 10}]},
            {"hooks": [{"type": "command", "command": "tracecraft-hook hook"}]}
        ]}});
        install(&mut v, CMD).unwrap();
        // The exact one is kept where it was; the old ones and the group they emptied go.
        assert_eq!(
            s(&v["hooks"]["Stop"]),
            s(
                &json!([{"hooks": [{"type": "command", "command": "x"}, {"type": "command", "command": CMD, "timeout": 10}]}])
            )
        );
    }

    #[test]
    fn install_refuses_bad_shapes_and_leaves_value_untouched() {
        let cases = [
            json!([]),
            json!("x"),
            json!({"hooks": []}),
            json!({"hooks": null}),
            json!({"hooks": {"Stop": {"hooks": []}}}),
            json!({"hooks": {"Stop": ["cmd"]}}),
            json!({"hooks": {"Stop": [{"matcher": "*"}]}}),
            json!({"hooks": {"Stop": [{"hooks": {}}]}}),
            json!({"hooks": {"Stop": [{"hooks": ["cmd"]}]}}),
            json!({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": 1}]}]}}),
            // A later event malformed: nothing earlier may have been added either.
            json!({"hooks": {"SessionEnd": 3}}),
        ];
        for original in cases {
            let mut v = original.clone();
            let err = install(&mut v, CMD).unwrap_err();
            assert!(matches!(err, Error::Invalid(_)), "{err}");
            assert!(err.to_string().contains("unexpected shape"), "{err}");
            assert_eq!(s(&v), s(&original));
            let mut v = original.clone();
            if original.get("hooks").is_some() || !original.is_object() {
                assert!(uninstall(&mut v).is_err(), "{original}");
                assert_eq!(s(&v), s(&original));
            }
        }
        let err = install(&mut json!({"hooks": {"Stop": [{"hooks": [1]}]}}), CMD).unwrap_err();
        assert!(err.to_string().contains("hooks.Stop[0].hooks[0]"), "{err}");
    }

    #[test]
    fn install_ignores_malformed_events_it_does_not_touch() {
        let original = json!({"hooks": {"Notification": "weird", "PreToolUse": [1]}});
        let mut v = original.clone();
        assert_eq!(install(&mut v, CMD).unwrap().len(), EVENTS.len());
        assert_eq!(v["hooks"]["Notification"], "weird");
        assert_eq!(uninstall(&mut v).unwrap().len(), EVENTS.len());
        assert_eq!(s(&v), s(&original));
    }

    #[test]
    fn install_refuses_a_command_that_is_not_ours() {
        let mut v = json!({});
        assert!(install(&mut v, "/usr/bin/other hook").is_err());
        assert!(install(&mut v, "tracecraft-hook hook --x").is_err());
        assert_eq!(v, json!({}));
    }

    #[test]
    fn uninstall_restores_the_original_exactly() {
        let originals = [
            json!({}),
            json!({"model": "opus"}),
            json!({"hooks": {"Notification": [{"hooks": [{"type": "command", "command": "n"}]}]}, "z": 1}),
            json!({
                "a": 1,
                "hooks": {
                    "Stop": [{"hooks": [{"type": "command", "command": "user-stop", "timeout": 5}]}],
                    "SessionEnd": [{"matcher": "", "hooks": [{"type": "command", "command": "bye"}]}],
                    "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "g"}]}]
                },
                "b": [1, 2]
            }),
            // Our handler added to an existing group must go without taking the group along.
            json!({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "s"}]}]}}),
        ];
        for original in originals {
            let mut v = original.clone();
            install(&mut v, CMD).unwrap();
            let removed = uninstall(&mut v).unwrap();
            assert_eq!(removed.len(), EVENTS.len(), "{original}");
            assert_eq!(s(&v), s(&original));
            assert!(uninstall(&mut v).unwrap().is_empty());
        }
    }

    #[test]
    fn uninstall_of_an_empty_hooks_object_the_user_had() {
        // Not distinguishable from a `hooks` object install created: it is removed. With
        // any other content in it, it stays exactly as it was.
        let mut v = json!({"a": 1, "hooks": {}});
        install(&mut v, CMD).unwrap();
        uninstall(&mut v).unwrap();
        assert_eq!(s(&v), s(&json!({"a": 1})));

        let original = json!({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "s"}]}]}});
        let mut v = original.clone();
        install(&mut v, CMD).unwrap();
        uninstall(&mut v).unwrap();
        assert_eq!(s(&v), s(&original));
    }

    #[test]
    fn uninstall_keeps_empty_containers_it_did_not_empty() {
        let original = json!({"hooks": {"Stop": [], "Notification": [{"hooks": []}]}, "x": {}});
        let mut v = original.clone();
        assert!(uninstall(&mut v).unwrap().is_empty());
        assert_eq!(s(&v), s(&original));
    }

    #[test]
    fn uninstall_removes_any_path_of_ours_and_nothing_else() {
        let mut v = json!({"hooks": {
            "PostToolUse": [{"matcher": "*", "hooks": [
                {"type": "command", "command": OLD},
                {"type": "command", "command": "tracecraft-hook hook --verbose"},
                {"type": "command", "command": "/x/tracecraft-hook flush"}
            ]}],
            "Stop": [{"hooks": [{"type": "command", "command": "'/a b/tracecraft-hook' hook"}]}]
        }});
        assert_eq!(uninstall(&mut v).unwrap(), ["PostToolUse", "Stop"]);
        assert_eq!(
            s(&v),
            s(&json!({"hooks": {"PostToolUse": [{"matcher": "*", "hooks": [
                {"type": "command", "command": "tracecraft-hook hook --verbose"},
                {"type": "command", "command": "/x/tracecraft-hook flush"}
            ]}]}}))
        );
    }

    #[test]
    fn uninstall_without_hooks_is_a_no_op() {
        let mut v = json!({"hooks_x": 1});
        assert!(uninstall(&mut v).unwrap().is_empty());
        assert!(uninstall(&mut json!([])).is_err());
    }

    #[test]
    fn plugin_detection_and_double_registration() {
        let user = json!({"enabledPlugins": {"tracecraft-hook@tracecraft-hook": true, "other@x": true}});
        let off = json!({"enabledPlugins": {"tracecraft-hook@tracecraft-hook": false}});
        let mut registered = json!({});
        install(&mut registered, CMD).unwrap();
        assert!(plugin_enabled(&user));
        assert!(!plugin_enabled(&off));
        assert!(!plugin_enabled(&json!({"enabledPlugins": {"tracecraft-hook-x@y": true}})));
        assert!(!plugin_enabled(&json!({"enabledPlugins": ["tracecraft-hook@y"]})));
        assert!(!plugin_enabled(&registered));

        assert_eq!(double_registrations(&[&user, &registered]), all_events());
        assert_eq!(double_registrations(&[&registered, &user]), all_events());
        assert!(double_registrations(&[&user, &registered, &off]).is_empty());
        assert!(double_registrations(&[&off, &registered]).is_empty());
        assert!(double_registrations(&[&user]).is_empty());
        // Per key: another marketplace's entry does not switch this one off.
        let other_off = json!({"enabledPlugins": {"tracecraft-hook@elsewhere": false}});
        assert_eq!(double_registrations(&[&user, &registered, &other_off]), all_events());
        assert!(double_registrations(&[&registered]).is_empty());
    }

    #[test]
    fn registrations_are_lenient() {
        let v = json!({"hooks": {
            "Stop": [{"hooks": [{"type": "command", "command": CMD}]}],
            "Bad": "x",
            "Worse": [1, {"hooks": 2}],
            "SessionEnd": [{"hooks": [{"type": "command", "command": "other"}]}]
        }});
        assert_eq!(registrations(&v), ["Stop"]);
        assert!(registrations(&json!([])).is_empty());
    }

    #[test]
    fn settings_paths() {
        let home = Path::new("/home/u");
        let proj = Path::new("/p");
        assert_eq!(settings_path(Scope::User, home, None, proj), Path::new("/home/u/.claude/settings.json"));
        assert_eq!(settings_path(Scope::User, home, Some(Path::new("/cfg")), proj), Path::new("/cfg/settings.json"));
        assert_eq!(
            settings_path(Scope::User, home, Some(Path::new("")), proj),
            Path::new("/home/u/.claude/settings.json")
        );
        assert_eq!(
            settings_path(Scope::Project, home, Some(Path::new("/cfg")), proj),
            Path::new("/p/.claude/settings.json")
        );
        assert_eq!(settings_path(Scope::Local, home, None, proj), Path::new("/p/.claude/settings.local.json"));
        for s in [Scope::User, Scope::Project, Scope::Local] {
            assert_eq!(s.as_str().parse::<Scope>().unwrap(), s);
        }
        assert!("global".parse::<Scope>().is_err());
    }

    #[test]
    fn example_settings_is_what_install_writes() {
        let mut v = json!({});
        install(&mut v, CMD).unwrap();
        let text = serde_json::to_string_pretty(&v).unwrap() + "\n";
        assert_eq!(text, include_str!("../../examples/settings.json"));
    }

    #[test]
    fn plugin_hooks_json_registers_the_same_events() {
        let v: Value = serde_json::from_str(include_str!("../../hooks/hooks.json")).unwrap();
        let hooks = v["hooks"].as_object().unwrap();
        assert_eq!(hooks.keys().cloned().collect::<Vec<_>>(), all_events());
        for &(e, t) in EVENTS {
            let h = &hooks[e][0]["hooks"][0];
            assert_eq!(h["timeout"], t, "{e}");
            assert_eq!(h["command"], "sh \"${CLAUDE_PLUGIN_ROOT}/hooks/run.sh\"", "{e}");
            // The plugin's command is not ours: uninstall never touches a plugin entry.
            assert!(!is_ours(h["command"].as_str().unwrap()));
        }
    }

    // ---- file wrappers ----

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        v.sort();
        v
    }

    #[test]
    fn install_file_creates_a_missing_file_and_dir() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(".claude/settings.json");
        let r = install_file(&p, CMD, false).unwrap();
        assert_eq!(r.events, all_events());
        assert_eq!(r.backup, None);
        assert!(r.to_string().contains("registered tracecraft-hook for SessionStart"), "{r}");
        let text = fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("{\n  \"hooks\": {\n    \"SessionStart\": ["), "{text}");
        assert!(text.ends_with("}\n"));
        assert_eq!(mode(&p), 0o644);
        assert_eq!(names(p.parent().unwrap()), ["settings.json"]);
    }

    #[test]
    fn install_file_backs_up_keeps_mode_and_is_idempotent() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("settings.json");
        let original = "{\"model\":\"opus\",\"env\":{\"Z\":\"1\",\"A\":\"2\"}}";
        fs::write(&p, original).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();

        let r = install_file(&p, CMD, false).unwrap();
        assert_eq!(r.backup.as_deref(), Some(d.path().join("settings.json.bak").as_path()));
        assert_eq!(fs::read_to_string(d.path().join("settings.json.bak")).unwrap(), original);
        assert_eq!(mode(&p), 0o600);
        assert_eq!(mode(&d.path().join("settings.json.bak")), 0o600);
        let after = fs::read_to_string(&p).unwrap();
        assert!(after.starts_with("{\n  \"model\": \"opus\",\n  \"env\": {\n    \"Z\": \"1\""), "{after}");

        // Second run: no change, no write, no new backup.
        fs::remove_file(d.path().join("settings.json.bak")).unwrap();
        let r = install_file(&p, CMD, false).unwrap();
        assert!(!r.changed() && r.backup.is_none());
        assert!(r.to_string().contains("already registered"), "{r}");
        assert_eq!(fs::read_to_string(&p).unwrap(), after);
        assert_eq!(names(d.path()), ["settings.json"]);

        // Uninstall restores the content (pretty-printed).
        let r = uninstall_file(&p, false).unwrap();
        assert_eq!(r.events, all_events());
        let v: Value = serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(s(&v), original);
        assert_eq!(mode(&p), 0o600);
        assert_eq!(fs::read_to_string(d.path().join("settings.json.bak")).unwrap(), after);
    }

    #[test]
    fn dry_run_writes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/settings.json");
        let r = install_file(&p, CMD, true).unwrap();
        assert!(r.dry_run && r.changed() && r.backup.is_none());
        assert!(r.to_string().starts_with(&format!("{}: would register", p.display())), "{r}");
        let would: Value = serde_json::from_str(r.would_write.as_deref().unwrap()).unwrap();
        assert_eq!(registrations(&would), all_events());
        assert!(!d.path().join("sub").exists());

        let p = d.path().join("settings.json");
        fs::write(&p, "{\"a\":1}").unwrap();
        install_file(&p, CMD, true).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "{\"a\":1}");
        install_file(&p, CMD, false).unwrap();
        let installed = fs::read_to_string(&p).unwrap();
        let r = uninstall_file(&p, true).unwrap();
        assert!(r.changed() && r.would_write.as_deref() == Some("{\n  \"a\": 1\n}\n"));
        assert_eq!(fs::read_to_string(&p).unwrap(), installed);
    }

    #[test]
    fn invalid_json_is_left_untouched() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("settings.json");
        fs::write(&p, "{\"a\": 1,}").unwrap();
        for err in [install_file(&p, CMD, false).unwrap_err(), uninstall_file(&p, false).unwrap_err()] {
            let msg = err.to_string();
            assert!(msg.contains("not valid JSON") && msg.contains("left untouched"), "{msg}");
            assert!(msg.contains(&p.display().to_string()), "{msg}");
        }
        fs::write(&p, "{\"hooks\": []}").unwrap();
        let msg = install_file(&p, CMD, false).unwrap_err().to_string();
        assert!(msg.contains("settings.json") && msg.contains("left untouched"), "{msg}");
        assert_eq!(fs::read_to_string(&p).unwrap(), "{\"hooks\": []}");
        assert_eq!(names(d.path()), ["settings.json"]);
    }

    #[test]
    fn uninstall_file_of_a_missing_file_is_a_no_op() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("nope/settings.json");
        let r = uninstall_file(&p, false).unwrap();
        assert!(!r.changed());
        assert!(!d.path().join("nope").exists());
    }

    #[test]
    fn blank_file_counts_as_empty_object() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("settings.json");
        fs::write(&p, "\n").unwrap();
        assert!(!uninstall_file(&p, false).unwrap().changed());
        assert_eq!(install_file(&p, CMD, false).unwrap().events, all_events());
    }

    #[test]
    fn a_symlinked_settings_file_stays_a_symlink() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("dotfiles-settings.json");
        fs::write(&real, "{}").unwrap();
        let link = d.path().join("settings.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        install_file(&link, CMD, false).unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        let v: Value = serde_json::from_str(&fs::read_to_string(&real).unwrap()).unwrap();
        assert_eq!(registrations(&v), all_events());
        assert_eq!(fs::read_to_string(d.path().join("settings.json.bak")).unwrap(), "{}");
    }
}
