//! Approval of config files the user did not write through us (anchors: direnv `allow`,
//! mise `trust`, git `safe.directory`). The hook runs by itself in every project Claude
//! Code opens, so a `.tracecraft.json` shipped inside a cloned repository is input: it
//! could send the user's sessions (signed with the user's own `AWS_*` credentials) to its
//! author's endpoint, unredacted. Such a file counts only once the user approved that exact
//! content with `tracecraft-hook trust`; any change needs a new approval.
//!
//! Record: `~/.tracecraft/trusted.json` (atomic write, 0600), one entry per canonical file
//! path with the sha256 of the approved bytes. The bytes that are hashed are the bytes that
//! are parsed (no window between check and use). This module only answers "is this content
//! approved"; which files need approval is `config`'s business.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::fsutil::{atomic_write, ensure_private_dir_strict, read_optional};
use crate::base::paths;
use crate::base::util::{now_rfc3339, sha256_hex};

/// One approved file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// sha256 (hex) of the approved content.
    pub sha256: String,
    /// When it was approved (RFC 3339).
    #[serde(default)]
    pub approved_at: Option<String>,
}

/// The whole record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trusted {
    #[serde(default)]
    pub version: u32,
    /// Canonical path -> approval.
    #[serde(default)]
    pub files: BTreeMap<String, Entry>,
}

/// What the record says about one file's current content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// This exact content was approved.
    Approved,
    /// The file was approved, but its content changed since.
    Changed,
    /// Never approved.
    Unapproved,
}

/// `~/.tracecraft/trusted.json`
pub fn record_path() -> Result<PathBuf> {
    Ok(paths::tracecraft_dir()?.join("trusted.json"))
}

/// The key a file is recorded under: its canonical path (symlinks and `..` resolved), or
/// the path as given when it cannot be resolved (a file that is gone).
pub fn key_of(file: &Path) -> String {
    std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf()).to_string_lossy().into_owned()
}

/// Read the record; a missing one is empty. A corrupt one approves nothing (and says so
/// to whoever asks to change it).
pub fn load() -> Result<Trusted> {
    let p = record_path()?;
    match read_optional(&p)? {
        None => Ok(Trusted::default()),
        Some(b) => serde_json::from_slice(&b).map_err(|e| {
            Error::config(Some(&p), format!("unreadable approval record ({e}); delete it and approve again"))
        }),
    }
}

fn save(t: &Trusted) -> Result<()> {
    let p = record_path()?;
    if let Some(dir) = p.parent() {
        ensure_private_dir_strict(dir)?;
    }
    let mut bytes = serde_json::to_vec_pretty(t).expect("trust record serializes");
    bytes.push(b'\n');
    atomic_write(&p, &bytes, 0o600)
}

impl Trusted {
    /// Status of `file` whose current content is `bytes`.
    pub fn status(&self, file: &Path, bytes: &[u8]) -> Status {
        match self.files.get(&key_of(file)) {
            Some(e) if e.sha256 == sha256_hex(bytes) => Status::Approved,
            Some(_) => Status::Changed,
            None => Status::Unapproved,
        }
    }
}

/// Status of `file` with content `bytes` (an unreadable record approves nothing).
pub fn status(file: &Path, bytes: &[u8]) -> Status {
    load().map_or(Status::Unapproved, |t| t.status(file, bytes))
}

/// Record `bytes` as the approved content of `file`; returns the key it is recorded under.
pub fn approve(file: &Path, bytes: &[u8]) -> Result<String> {
    let mut t = load().unwrap_or_default();
    t.version = 1;
    let key = key_of(file);
    t.files.insert(key.clone(), Entry { sha256: sha256_hex(bytes), approved_at: Some(now_rfc3339()) });
    save(&t)?;
    Ok(key)
}

/// Remove the approval of `file`; `false` when it had none.
pub fn revoke(file: &Path) -> Result<bool> {
    let mut t = load()?;
    let removed =
        t.files.remove(&key_of(file)).is_some() | t.files.remove(&file.to_string_lossy().into_owned()).is_some();
    if removed {
        t.version = 1;
        save(&t)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_the_exact_content() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join(".tracecraft.json");
        std::fs::write(&f, b"{}").unwrap();
        let mut t = Trusted::default();
        assert_eq!(t.status(&f, b"{}"), Status::Unapproved);
        t.files.insert(key_of(&f), Entry { sha256: sha256_hex(b"{}"), approved_at: None });
        assert_eq!(t.status(&f, b"{}"), Status::Approved);
        assert_eq!(t.status(&f, b"{ }"), Status::Changed);
        // Another path to the same file (symlink, `..`) is the same file.
        let link = d.path().join("link.json");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert_eq!(t.status(&link, b"{}"), Status::Approved);
        let dotdot = d.path().join("sub/../.tracecraft.json");
        std::fs::create_dir(d.path().join("sub")).unwrap();
        assert_eq!(t.status(&dotdot, b"{}"), Status::Approved);
    }
}
