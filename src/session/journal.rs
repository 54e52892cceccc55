//! Finishing an interrupted `compact`. Before it uploads the merged part, compact records in
//! the state directory what it is about to do (`<id>.compact.json`: the merged key and the
//! originals). If it dies before deleting the originals, the next flush or compact of the
//! session (under the same lock) settles it: when meta.json lists the merged part the
//! originals go, otherwise the merged part goes. Either way the raw key-order replay that
//! the Python CLI shows is exact again, with no duplicate and no gap.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::fsutil::{atomic_write, read_optional};
use crate::session::layout::meta_key;
use crate::session::meta::Meta;
use crate::store::Store;

/// What an unfinished compaction was doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// Destination id it ran against.
    pub dest: String,
    /// The merged part's key.
    pub merged: String,
    /// The keys it replaces.
    pub originals: Vec<String>,
}

/// `<state dir>/<stem>@compact.json` (see `state::file_stem`)
pub fn path(state_dir: &Path, id: &str) -> PathBuf {
    crate::session::state::side_file(state_dir, id, "compact.json")
}

/// Record a compaction about to start.
pub fn begin(state_dir: &Path, id: &str, pending: &Pending) -> Result<()> {
    crate::base::fsutil::ensure_private_dir(state_dir)?;
    atomic_write(&path(state_dir, id), &serde_json::to_vec(pending).expect("serializes"), 0o600)
}

/// The compaction finished: forget it.
pub fn done(state_dir: &Path, id: &str) -> Result<()> {
    let p = path(state_dir, id);
    match std::fs::remove_file(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("delete", &p, e)),
    }
}

/// Settle an interrupted compaction of `id` against `store`, if one is recorded for `dest`.
/// Call with the session lock held. Returns whether anything was recorded.
pub fn settle(store: &dyn Store, project: &str, dest: &str, state_dir: &Path, id: &str) -> Result<bool> {
    let p = path(state_dir, id);
    let Some(bytes) = read_optional(&p)? else { return Ok(false) };
    let Ok(pending) = serde_json::from_slice::<Pending>(&bytes) else {
        done(state_dir, id)?; // unreadable: the next compact finds any leftover by itself
        return Ok(true);
    };
    if pending.dest != dest {
        return Ok(false); // another destination's; settled when that one is used again
    }
    // The merged part's folder is the session's (whichever harness it belongs to).
    let mkey = match pending.merged.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/meta.json"),
        None => meta_key(project, id),
    };
    let meta = match store.get(&mkey)? {
        Some(b) => Meta::parse(&b).map_err(|e| Error::Invalid(format!("{mkey} is not valid meta.json: {e}")))?,
        None => Meta::new(id),
    };
    let merged_name = pending.merged.rsplit('/').next().unwrap_or_default();
    if meta.parts.iter().any(|e| e.name() == merged_name) {
        for k in pending.originals.iter().filter(|k| **k != pending.merged) {
            store.delete(k)?;
        }
    } else {
        store.delete(&pending.merged)?;
    }
    done(state_dir, id)?;
    Ok(true)
}
