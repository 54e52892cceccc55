//! The hook's diagnostics: one line per event outcome in `~/.tracecraft/hook.log` (0600 in a
//! 0700 directory), rotated to `hook.log.1` past 1 MiB so it never grows without bound.
//! Never stdout (Claude Code would read it) and never credentials (errors carry none).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use crate::base::fsutil::ensure_private_dir_strict;
use crate::base::paths;
use crate::base::util::now_rfc3339;

/// Rotate past this size.
pub const MAX_LOG: u64 = 1024 * 1024;

/// Append one line to the hook log. Failures to log are ignored: logging must never
/// break the hook.
pub fn log(level: &str, msg: &str) {
    let Ok(path) = paths::log_path() else { return };
    if let Some(dir) = path.parent() {
        if ensure_private_dir_strict(dir).is_err() {
            return;
        }
    }
    if std::fs::metadata(&path).map(|m| m.len() > MAX_LOG).unwrap_or(false) {
        let _ = std::fs::rename(&path, path.with_extension("log.1"));
    }
    // Escaped: ids, paths and server text in `msg` are input (a newline would forge a line).
    let line = format!("{} {level} {}\n", now_rfc3339(), crate::base::printable::escape(msg));
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).mode(0o600).open(&path) {
        let _ = f.write_all(line.as_bytes());
    }
}

/// The last `n` lines of the log that are warnings or errors (for `doctor`).
pub fn recent_problems(n: usize) -> Vec<String> {
    let Ok(path) = paths::log_path() else { return Vec::new() };
    let Ok(text) = std::fs::read_to_string(&path) else { return Vec::new() };
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| l.contains(" ERROR ") || l.contains(" WARN "))
        .map(|l| crate::base::printable::escape(l).into_owned())
        .collect();
    let skip = v.len().saturating_sub(n);
    v.drain(..skip);
    v
}
