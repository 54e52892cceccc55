//! The embedded default store: the bucket layout as plain files under a root directory
//! (`~/.tracecraft/store/<project>/sessions/...`). It makes the tool work with no bucket at
//! all and keeps transcripts after Claude Code deletes them. Writes are atomic; the ETag of
//! an object is the sha256 of its bytes, so conditional writes behave like S3's.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{Cond, ObjectInfo, Store, Upload};
use crate::base::error::{Error, Result};
use crate::base::fsutil::{atomic_write, ensure_private_dir, read_optional};
use crate::base::util::{rfc3339, sha256_hex};

/// A directory that looks like a bucket.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: PathBuf) -> Self {
        LocalStore { root }
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        // Keys are built from validated ids, but refuse anything that could leave the root.
        if key.is_empty() || key.starts_with('/') || key.split('/').any(|s| s == ".." || s == "." || s.is_empty()) {
            return Err(Error::Invalid(format!("refusing unsafe key {key:?}")));
        }
        Ok(self.root.join(key))
    }

    fn walk(&self, dir: &Path, rel: &str, out: &mut Vec<ObjectInfo>) -> Result<()> {
        let rd = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io("list", dir, e)),
        };
        for entry in rd {
            let entry = entry.map_err(|e| Error::io("list", dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue; // temp files of atomic writes
            }
            let key = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            let ft = entry.file_type().map_err(|e| Error::io("stat", entry.path(), e))?;
            if ft.is_dir() {
                self.walk(&entry.path(), &key, out)?;
            } else if ft.is_file() {
                let md = entry.metadata().map_err(|e| Error::io("stat", entry.path(), e))?;
                out.push(ObjectInfo {
                    key,
                    size: md.len(),
                    last_modified: md.modified().ok().map(|t| rfc3339(t.into())),
                    etag: None,
                });
            }
        }
        Ok(())
    }
}

impl Store for LocalStore {
    fn describe(&self) -> String {
        format!("local store {}", self.root.display())
    }

    fn put(&self, key: &str, body: &[u8], cond: &Cond) -> Result<Option<String>> {
        let path = self.path(key)?;
        match cond {
            Cond::None => {}
            Cond::IfMatch(etag) => {
                let cur = read_optional(&path)?.map(|b| format!("\"{}\"", sha256_hex(&b)));
                if cur.as_deref() != Some(etag.as_str()) {
                    return Err(Error::Precondition { key: key.to_string() });
                }
            }
        }
        if let Some(dir) = path.parent() {
            ensure_private_dir(dir)?;
        }
        atomic_write(&path, body, 0o600)?;
        Ok(Some(format!("\"{}\"", sha256_hex(body))))
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        read_optional(&self.path(key)?)
    }

    fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Option<Vec<u8>>> {
        let path = self.path(key)?;
        let mut f = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("open", &path, e)),
        };
        let len = f.metadata().map_err(|e| Error::io("stat", &path, e))?.len();
        let (s, e) = (start.min(len), end.min(len));
        let mut buf = vec![0u8; (e.saturating_sub(s)) as usize];
        f.seek(SeekFrom::Start(s)).map_err(|e| Error::io("seek", &path, e))?;
        f.read_exact(&mut buf).map_err(|e| Error::io("read", &path, e))?;
        Ok(Some(buf))
    }

    fn get_to(&self, key: &str, out: &mut dyn Write) -> Result<Option<u64>> {
        let path = self.path(key)?;
        let mut f = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("open", &path, e)),
        };
        let n = std::io::copy(&mut f, out).map_err(|e| Error::io("copy", &path, e))?;
        Ok(Some(n))
    }

    fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        let path = self.path(key)?;
        match fs::metadata(&path) {
            Ok(md) if md.is_file() => Ok(Some(ObjectInfo {
                key: key.to_string(),
                size: md.len(),
                last_modified: md.modified().ok().map(|t| rfc3339(t.into())),
                etag: None,
            })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("stat", &path, e)),
        }
    }

    fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("delete", &path, e)),
        }
    }

    fn list_bounded(&self, prefix: &str, _bound: super::ListBound) -> Result<Vec<ObjectInfo>> {
        // Walk only the directory that contains the prefix.
        let dir_rel = match prefix.rfind('/') {
            Some(i) => &prefix[..i],
            None => "",
        };
        let dir = if dir_rel.is_empty() { self.root.clone() } else { self.path(dir_rel)? };
        let mut out = Vec::new();
        self.walk(&dir, dir_rel, &mut out)?;
        out.retain(|o| o.key.starts_with(prefix));
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn check_bucket(&self) -> Result<()> {
        ensure_private_dir(&self.root)
    }

    fn create_bucket(&self) -> Result<()> {
        ensure_private_dir(&self.root)
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.path(key).ok()
    }

    fn upload<'s>(&'s self, key: &str) -> Result<Box<dyn Upload + 's>> {
        let dest = self.path(key)?;
        let dir = dest.parent().map(Path::to_path_buf).unwrap_or_else(|| self.root.clone());
        ensure_private_dir(&dir)?;
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // A leading dot keeps the temp file out of listings.
        let tmp = dir.join(format!(".{name}.upload.{}.{}", std::process::id(), upload_counter()));
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| Error::io("create", &tmp, e))?;
        Ok(Box::new(LocalUpload {
            root: self.clone(),
            copies: 0,
            tmp,
            dest,
            file: Some(std::io::BufWriter::with_capacity(256 * 1024, file)),
        }))
    }
}

fn upload_counter() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A streaming write into a temp file beside the object, renamed into place by `finish`.
struct LocalUpload {
    /// The store, to find the files `copy_from` copies.
    root: LocalStore,
    /// Files copied by `copy_from`.
    copies: usize,
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<std::io::BufWriter<fs::File>>,
}

impl Upload for LocalUpload {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        match self.file.as_mut() {
            Some(f) => f.write_all(bytes).map_err(|e| Error::io("write", &self.tmp, e)),
            None => Err(Error::Invalid(format!("upload to {} already finished", self.dest.display()))),
        }
    }

    /// A file-to-file copy (`io::copy` of two files: `copy_file_range` on Linux, so the
    /// bytes never come up to this process), of exactly `size` bytes: a file that is
    /// shorter now than listed is an error naming it.
    fn copy_from(&mut self, key: &str, size: u64, _etag: Option<&str>) -> Result<u64> {
        let Some(w) = self.file.as_mut() else {
            return Err(Error::Invalid(format!("upload to {} already finished", self.dest.display())));
        };
        let path = self.root.path(key)?;
        let src = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(format!("{key} disappeared from {}", self.root.describe())))
            }
            Err(e) => return Err(Error::io("open", &path, e)),
        };
        let n = std::io::copy(&mut std::io::Read::take(src, size), w).map_err(|e| Error::io("copy", &path, e))?;
        if n != size {
            return Err(Error::Invalid(format!(
                "{key} in {} has {n} bytes, the listing said {size}; it changed meanwhile",
                self.root.describe()
            )));
        }
        self.copies += 1;
        Ok(n)
    }

    fn store_copies(&self) -> usize {
        self.copies
    }

    fn finish(mut self: Box<Self>) -> Result<Option<String>> {
        let Some(w) = self.file.take() else {
            return Err(Error::Invalid(format!("upload to {} already finished", self.dest.display())));
        };
        let result = (|| -> std::io::Result<()> {
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            drop(f);
            fs::rename(&self.tmp, &self.dest)?;
            if let Some(dir) = self.dest.parent() {
                if let Ok(d) = fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&self.tmp);
            return Err(Error::io("write", &self.dest, e));
        }
        Ok(None)
    }
}

impl Drop for LocalUpload {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_list_delete_and_conditions() {
        let d = tempfile::tempdir().unwrap();
        let s = LocalStore::new(d.path().join("store"));
        let etag = s.put("p/sessions/claude-code/s/meta.json", b"{}", &Cond::None).unwrap().unwrap();
        s.put("p/sessions/claude-code/s/meta.json", b"{1}", &Cond::IfMatch(etag.clone())).unwrap();
        assert!(matches!(
            s.put("p/sessions/claude-code/s/meta.json", b"{2}", &Cond::IfMatch(etag)),
            Err(Error::Precondition { .. })
        ));
        s.put("p/sessions/claude-code/s/part-00000-aaaaaaaa.jsonl", b"line\n", &Cond::None).unwrap();
        let keys: Vec<_> = s.list("p/sessions/claude-code/s/").unwrap().into_iter().map(|o| o.key).collect();
        assert_eq!(keys, ["p/sessions/claude-code/s/meta.json", "p/sessions/claude-code/s/part-00000-aaaaaaaa.jsonl"]);
        assert_eq!(s.list("p/sessions/claude-code/").unwrap().len(), 2);
        assert_eq!(s.get_range("p/sessions/claude-code/s/part-00000-aaaaaaaa.jsonl", 1, 3).unwrap().unwrap(), b"in");
        s.delete("p/sessions/claude-code/s/meta.json").unwrap();
        s.delete("p/sessions/claude-code/s/meta.json").unwrap();
        assert_eq!(s.get("p/sessions/claude-code/s/meta.json").unwrap(), None);
        assert!(s.put("../x", b"", &Cond::None).is_err());
    }

    #[test]
    fn streaming_upload_appears_only_at_finish_and_abandon_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let s = LocalStore::new(d.path().join("store"));
        let key = "p/sessions/claude-code/s/part-00000-aaaaaaaa.jsonl";
        let mut up = s.upload(key).unwrap();
        up.write(b"one\n").unwrap();
        up.write(b"two\n").unwrap();
        assert_eq!(s.list("p/").unwrap().len(), 0, "temp file is not listed");
        up.finish().unwrap();
        assert_eq!(s.get(key).unwrap().unwrap(), b"one\ntwo\n");
        let mut up = s.upload(key).unwrap();
        up.write(b"partial").unwrap();
        drop(up);
        assert_eq!(s.get(key).unwrap().unwrap(), b"one\ntwo\n");
        let names: Vec<_> = std::fs::read_dir(d.path().join("store/p/sessions/claude-code/s")).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file left behind");
    }
}
