//! Where things live on disk: our own directory (`~/.tracecraft`), Claude Code's
//! (`~/.claude` or `CLAUDE_CONFIG_DIR`), Codex CLI's (`~/.codex` or `CODEX_HOME`), and the
//! project-slug rule Claude Code uses.
//! Every path is computed from the environment at call time; nothing is created here.

use std::path::{Path, PathBuf};

use crate::base::error::{Error, Result};

/// The user's home directory (`HOME`).
pub fn home() -> Result<PathBuf> {
    match std::env::var_os("HOME") {
        Some(h) if !h.is_empty() => Ok(PathBuf::from(h)),
        _ => Err(Error::config(None, "HOME is not set")),
    }
}

/// `~/.tracecraft`: config, state, log and the embedded store.
pub fn tracecraft_dir() -> Result<PathBuf> {
    Ok(home()?.join(".tracecraft"))
}

/// Per-session cursor state and locks.
pub fn state_dir() -> Result<PathBuf> {
    Ok(tracecraft_dir()?.join("state"))
}

/// The hook's log file.
pub fn log_path() -> Result<PathBuf> {
    Ok(tracecraft_dir()?.join("hook.log"))
}

/// Claude Code's directory: `CLAUDE_CONFIG_DIR`, else `~/.claude`.
pub fn claude_dir() -> Result<PathBuf> {
    match std::env::var_os("CLAUDE_CONFIG_DIR") {
        Some(d) if !d.is_empty() => Ok(PathBuf::from(d)),
        _ => Ok(home()?.join(".claude")),
    }
}

/// `<claude dir>/projects`, where transcripts live.
pub fn claude_projects_dir() -> Result<PathBuf> {
    Ok(claude_dir()?.join("projects"))
}

/// Whether `p` is inside Claude Code's projects directory ([`claude_projects_dir`]) once
/// symlinks and `..` are resolved (for a file that does not exist yet: its directory, or
/// failing that the path itself with no `..` in it). Transcript paths from hook payloads are
/// used only when this holds: a payload naming `/etc/passwd` must not get it mirrored.
pub fn in_claude_projects(p: &Path) -> bool {
    claude_projects_dir().is_ok_and(|root| is_inside(p, &root))
}

/// Codex CLI's directory: `CODEX_HOME`, else `~/.codex`.
pub fn codex_home() -> Result<PathBuf> {
    match std::env::var_os("CODEX_HOME") {
        Some(d) if !d.is_empty() => Ok(PathBuf::from(d)),
        _ => Ok(home()?.join(".codex")),
    }
}

/// `<codex home>/sessions`, where Codex writes its rollouts (`YYYY/MM/DD/rollout-*.jsonl`).
pub fn codex_sessions_dir() -> Result<PathBuf> {
    Ok(codex_home()?.join("sessions"))
}

/// Whether `p` is inside Codex's sessions directory (the same rule as [`in_claude_projects`]).
pub fn in_codex_sessions(p: &Path) -> bool {
    codex_sessions_dir().is_ok_and(|root| is_inside(p, &root))
}

/// Whether `p` resolves to a path strictly inside `root` (see [`in_claude_projects`]).
pub fn is_inside(p: &Path, root: &Path) -> bool {
    use std::path::Component;
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    if !p.is_absolute() {
        return false;
    }
    let resolved = match std::fs::canonicalize(p) {
        Ok(r) => r,
        Err(_) => match (p.parent().map(std::fs::canonicalize), p.file_name()) {
            (Some(Ok(dir)), Some(name)) => dir.join(name),
            _ => {
                if p.components().any(|c| matches!(c, Component::ParentDir | Component::CurDir)) {
                    return false;
                }
                p.to_path_buf()
            }
        },
    };
    resolved != root && resolved.starts_with(&root)
}

/// Claude Code's project directory name for `cwd`: every character that is not an ASCII
/// letter or digit becomes `-` (one per UTF-16 unit, as the JavaScript regex does; no
/// collapsing). Slugs over 200 characters get a hash suffix from Claude Code that we do
/// not reproduce: callers fall back to matching the `cwd` recorded in transcripts.
pub fn slug(cwd: &Path) -> String {
    let s = cwd.to_string_lossy();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            for _ in 0..c.len_utf16() {
                out.push('-');
            }
        }
    }
    out
}

/// Make `p` absolute against `base` without touching the disk.
pub fn absolutize(p: &Path, base: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_inside_the_projects_dir_count() {
        let d = tempfile::tempdir().unwrap();
        let cfg = d.path().join("claude");
        std::fs::create_dir_all(cfg.join("projects/-p")).unwrap();
        std::fs::write(cfg.join("projects/-p/s.jsonl"), b"x").unwrap();
        std::fs::write(d.path().join("secret"), b"x").unwrap();
        std::os::unix::fs::symlink(d.path().join("secret"), cfg.join("projects/-p/link.jsonl")).unwrap();
        let root = cfg.join("projects");
        let ok = |p: PathBuf| is_inside(&p, &root);
        assert!(ok(cfg.join("projects/-p/s.jsonl")));
        assert!(ok(cfg.join("projects/-p/not-yet.jsonl")), "a transcript not created yet");
        assert!(ok(cfg.join("projects/-p/s/subagents/agent-a.jsonl")), "a subagent dir not created yet");
        assert!(!ok(cfg.join("projects/-p/../../../secret")), "..");
        assert!(!ok(cfg.join("projects/-p/link.jsonl")), "a symlink out of the tree");
        assert!(!ok(PathBuf::from("/etc/passwd")));
        assert!(!ok(cfg.join("projects")), "the directory itself");
        assert!(!ok(cfg.join("projects/x/../../../../etc/passwd")), ".. through a missing dir");
    }

    #[test]
    fn slug_replaces_every_non_alphanumeric() {
        assert_eq!(slug(Path::new("/home/me/my_proj.v2")), "-home-me-my-proj-v2");
        assert_eq!(slug(Path::new("/a//b")), "-a--b");
        assert_eq!(slug(Path::new("/tmp/café")), "-tmp-caf-");
        assert_eq!(slug(Path::new("/x/😀")), "-x---");
    }
}
