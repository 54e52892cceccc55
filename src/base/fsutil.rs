//! Local file primitives every state write goes through: atomic replace (temp file in the
//! same directory, fsync, rename, fsync the directory), private directories (0700) and
//! private files (0600). Nothing here knows about sessions or S3.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::base::error::{Error, Result};

/// Create `dir` (and parents) with mode 0700 for the directories this call creates.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| Error::io("create directory", dir, e))
}

/// Like [`ensure_private_dir`], and also take group/other access away from `dir` itself
/// when it already exists (e.g. `~/.tracecraft` made 0755 by another tool): it holds
/// credentials, state and logs.
pub fn ensure_private_dir_strict(dir: &Path) -> Result<()> {
    ensure_private_dir(dir)?;
    let md = fs::metadata(dir).map_err(|e| Error::io("stat", dir, e))?;
    if md.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(md.permissions().mode() & 0o700))
            .map_err(|e| Error::io("chmod", dir, e))?;
    }
    Ok(())
}

/// Atomically replace `path` with `bytes`: write a temp file beside it with `mode`, fsync,
/// rename over the target, fsync the directory. The temp file is removed on error.
/// Readers see either the old or the new content, never a mix.
pub fn atomic_write(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}.{}", std::process::id(), unique()));
    let result = (|| -> io::Result<()> {
        let mut f = OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        // create_new honours the umask; make the mode exact.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io("write", path, e));
    }
    Ok(())
}

/// A per-process counter so two writers in one process never share a temp name.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Read a file, mapping "does not exist" to `Ok(None)`.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_sets_mode() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state.json");
        atomic_write(&p, b"one", 0o600).unwrap();
        atomic_write(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        // no temp files left behind
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn atomic_write_into_missing_dir_fails_cleanly() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("nope/state.json");
        let err = atomic_write(&p, b"x", 0o600).unwrap_err();
        assert!(err.to_string().contains("nope/state.json"), "{err}");
    }

    #[test]
    fn private_dir_is_0700() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b");
        ensure_private_dir(&p).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o700);
    }
}
