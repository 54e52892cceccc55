//! The local cache of part objects under `~/.tracecraft/cache/`, so a second `search` reads
//! no part over the network. It exists because parts are immutable once complete: a part's
//! key fixes its content, except the open last part, which is re-sent whole under the same
//! key and whose meta.json entry (sha256) then changes.
//!
//! A cached file is identified by its *version*: meta.json's sha256 for the part when meta
//! lists one, else the listing's size and LastModified. A download is hashed while it is
//! streamed; it is kept only when it matches meta.json's sha256 (or meta has none), so the
//! cache never holds bytes the store did not serve under that version. `index.json` records,
//! for each file, its key, version, size, mtime and sha256: a file whose size or mtime
//! changed since it was written is re-hashed (a corrupted one is dropped and re-fetched).
//! Files are 0600 in a 0700 directory, written atomically (temp, rename) but not fsynced:
//! an fsync per part was most of the cost of a cold search. What stands in for it: the
//! entry records the boot it was written in (`/proc/sys/kernel/random/boot_id`), and a file
//! written in another boot is re-hashed once before it is trusted, so a crash that lost or
//! tore unsynced data is caught like any corruption. (Within one boot the page cache is the
//! file, whatever reached the disk. Without a boot id, files are fsynced as before.) The size
//! is bounded (`TRACECRAFT_CACHE_MAX`, bytes or with a K/M/G suffix, default 1 GiB): the
//! least recently used files go first.
//!
//! Besides parts, the cache keeps the last listing a search saw (`<hash>.listing`: keys,
//! sizes, times, ETags), so the next search can start scanning before its LIST returns.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::base::error::{Error, Result};
use crate::base::fsutil::{atomic_write, ensure_private_dir};
use crate::base::util::hex;

/// Default bound of the cache.
pub const DEFAULT_MAX: u64 = 1 << 30;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Entry {
    key: String,
    version: String,
    size: u64,
    mtime_ns: u128,
    sha256: String,
    /// Last use, nanoseconds since the epoch.
    used: u64,
    /// The boot the file was written in without fsync; `None`: known to be on disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    boot: Option<String>,
}

/// The cache of one destination.
pub struct Cache {
    dir: PathBuf,
    dest: String,
    max: u64,
    index: Mutex<BTreeMap<String, Entry>>,
    /// Whether the index changed enough to be written back.
    dirty: std::sync::atomic::AtomicBool,
}

/// A hit refreshes an entry's last use on disk only when it is older than this: a warm
/// search then writes nothing (the LRU order is kept to this precision).
const USE_PRECISION_NS: u64 = 600 * 1_000_000_000;

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// This boot's id (Linux), read once; `None` elsewhere.
fn boot_id() -> Option<&'static str> {
    static ID: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    })
    .as_deref()
}

fn mtime_ns(md: &fs::Metadata) -> u128 {
    md.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos())
}

/// `TRACECRAFT_CACHE_MAX`: `1073741824`, `500M`, `2G`.
pub fn parse_size(s: &str) -> Result<u64> {
    let s = s.trim();
    let (num, mul) = match s.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M') => (&s[..s.len() - 1], 1 << 20),
        Some('G') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.trim().parse::<u64>().ok().and_then(|n| n.checked_mul(mul)).ok_or_else(|| {
        Error::Invalid(format!("TRACECRAFT_CACHE_MAX={s:?}: expected a size like 1073741824, 500M or 2G"))
    })
}

impl Cache {
    /// Open (creating) the cache in `dir` for destination `dest` (`Config::dest_id`).
    pub fn open(dir: &Path, dest: &str, max: u64) -> Result<Cache> {
        ensure_private_dir(dir)?;
        let index = read_index(&dir.join("index.json"));
        Ok(Cache {
            dir: dir.to_path_buf(),
            dest: dest.to_string(),
            max,
            index: Mutex::new(index),
            dirty: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// `<hash of destination and key>.part` (or `.meta` for a meta.json).
    fn name(&self, key: &str) -> String {
        let ext = if key.ends_with("/meta.json") { "meta" } else { "part" };
        format!("{}.{ext}", hex(&Sha256::digest(format!("{}\n{key}", self.dest).as_bytes())[..16]))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The cached file of `key` at `version`, when present and intact.
    pub fn lookup(&self, key: &str, version: &str) -> Option<PathBuf> {
        let name = self.name(key);
        let path = self.path(&name);
        let mut index = self.index.lock().ok()?;
        let e = index.get(&name).filter(|e| e.key == key && e.version == version)?.clone();
        let md = fs::metadata(&path).ok();
        // Written unsynced in another boot: what reached the disk is checked once.
        let other_boot = e.boot.as_deref().is_some_and(|b| Some(b) != boot_id());
        let intact = match &md {
            Some(md) if md.len() == e.size && mtime_ns(md) == e.mtime_ns && !other_boot => true,
            Some(md) if md.len() == e.size => hash_file(&path).is_some_and(|h| h == e.sha256),
            _ => false,
        };
        if !intact {
            index.remove(&name);
            let _ = fs::remove_file(&path);
            self.mark();
            return None;
        }
        let e = index.get_mut(&name)?;
        if other_boot {
            e.boot = None; // read back from the disk: it is there
            self.mark();
        }
        let t = now();
        if t.saturating_sub(e.used) > USE_PRECISION_NS {
            e.used = t;
            self.mark();
        }
        if let Some(md) = md {
            if e.mtime_ns != mtime_ns(&md) {
                e.mtime_ns = mtime_ns(&md);
                self.mark();
            }
        }
        Some(path)
    }

    fn mark(&self) {
        self.dirty.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the index lists `key` at `version` (nothing read from the disk).
    pub fn contains(&self, key: &str, version: &str) -> bool {
        let name = self.name(key);
        self.index.lock().is_ok_and(|i| i.get(&name).is_some_and(|e| e.key == key && e.version == version))
    }

    /// A small object (meta.json) from the cache, when present at `version`.
    pub fn get_bytes(&self, key: &str, version: &str) -> Option<Vec<u8>> {
        fs::read(self.lookup(key, version)?).ok()
    }

    /// Keep a small object (meta.json) at `version`; a failure only means it is not cached.
    pub fn put_bytes(&self, key: &str, version: &str, bytes: &[u8]) {
        if let Ok(mut w) = self.writer(key, version, None) {
            w.write(bytes);
            w.commit();
        }
    }

    /// Start writing `key` at `version`; `expect` is meta.json's sha256 for it, if any.
    pub fn writer(&self, key: &str, version: &str, expect: Option<&str>) -> Result<CacheWriter<'_>> {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = self.dir.join(format!(".tmp.{}.{n}", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| Error::io("create", &tmp, e))?;
        Ok(CacheWriter {
            cache: self,
            key: key.to_string(),
            version: version.to_string(),
            expect: expect.map(str::to_string),
            tmp,
            file: Some(std::io::BufWriter::with_capacity(256 * 1024, file)),
            hasher: Sha256::new(),
            size: 0,
            failed: false,
        })
    }

    /// Evict the least recently used files beyond the bound, then save the index
    /// (merged with what another process saved meanwhile).
    pub fn save(&self) -> Result<()> {
        let path = self.dir.join("index.json");
        let mut index = self.index.lock().map_err(|_| Error::Invalid("cache index lock poisoned".into()))?;
        if !self.dirty.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        for (k, e) in read_index(&path) {
            match index.get(&k) {
                Some(mine) if mine.used >= e.used || mine.version != e.version => {}
                _ if self.path(&k).exists() => {
                    index.insert(k, e);
                }
                _ => {}
            }
        }
        index.retain(|k, _| self.path(k).exists());
        let mut total: u64 = index.values().map(|e| e.size).sum();
        if total > self.max {
            let mut by_age: Vec<(u64, String)> = index.iter().map(|(k, e)| (e.used, k.clone())).collect();
            by_age.sort();
            for (_, k) in by_age {
                if total <= self.max {
                    break;
                }
                if let Some(e) = index.remove(&k) {
                    let _ = fs::remove_file(self.path(&k));
                    total -= e.size;
                }
            }
        }
        let bytes = serde_json::to_vec(&*index).map_err(|e| Error::Invalid(format!("cache index: {e}")))?;
        atomic_write(&path, &bytes, 0o600)
    }

    /// The listing the last search of `scope` saw (`put_listing`), if any: a search scans
    /// the cached parts it names while the new LIST is in flight.
    pub fn get_listing(&self, scope: &str) -> Option<Vec<crate::store::ObjectInfo>> {
        let b = fs::read(self.listing_path(scope)).ok()?;
        let rows: Vec<(String, u64, Option<String>, Option<String>)> = serde_json::from_slice(&b).ok()?;
        Some(
            rows.into_iter()
                .map(|(key, size, last_modified, etag)| crate::store::ObjectInfo { key, size, last_modified, etag })
                .collect(),
        )
    }

    /// Keep the listing of `scope` for the next search (object keys and versions only: what
    /// the store shows anyway). A failure only costs the next search its head start.
    pub fn put_listing(&self, scope: &str, listing: &[crate::store::ObjectInfo]) {
        let rows: Vec<(&str, u64, Option<&str>, Option<&str>)> =
            listing.iter().map(|o| (o.key.as_str(), o.size, o.last_modified.as_deref(), o.etag.as_deref())).collect();
        if let Ok(b) = serde_json::to_vec(&rows) {
            let path = self.listing_path(scope);
            if fs::read(&path).ok().as_deref() != Some(b.as_slice()) {
                let _ = atomic_write(&path, &b, 0o600);
            }
        }
    }

    fn listing_path(&self, scope: &str) -> PathBuf {
        let h = hex(&Sha256::digest(format!("{}\nlisting:{scope}", self.dest).as_bytes())[..16]);
        self.path(&format!("{h}.listing"))
    }

    /// Bytes and files held.
    pub fn usage(&self) -> (u64, usize) {
        let index = self.index.lock().map(|i| i.clone()).unwrap_or_default();
        (index.values().map(|e| e.size).sum(), index.len())
    }
}

fn read_index(path: &Path) -> BTreeMap<String, Entry> {
    fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

fn hash_file(path: &Path) -> Option<String> {
    let mut f = File::open(path).ok()?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Some(hex(&h.finalize()))
}

/// A download being written into the cache (see [`Cache::writer`]). Writing never fails
/// the caller: a local write error just means the part is not cached.
pub struct CacheWriter<'c> {
    cache: &'c Cache,
    key: String,
    version: String,
    expect: Option<String>,
    tmp: PathBuf,
    file: Option<std::io::BufWriter<File>>,
    hasher: Sha256,
    size: u64,
    failed: bool,
}

impl CacheWriter<'_> {
    pub fn write(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        if let Some(f) = self.file.as_mut() {
            if f.write_all(bytes).is_err() {
                self.failed = true;
                self.file = None;
            }
        }
    }

    /// Keep the file when its hash is the expected one; returns whether it was kept.
    pub fn commit(mut self) -> bool {
        let sha = hex(&self.hasher.clone().finalize());
        let ok = !self.failed && self.expect.as_deref().is_none_or(|e| e == sha);
        let file = self.file.take().and_then(|f| f.into_inner().ok());
        // No fsync when the boot id stands in for it (module doc).
        let boot = boot_id();
        let kept = ok && file.is_some_and(|f| boot.is_some() || f.sync_all().is_ok()) && {
            let name = self.cache.name(&self.key);
            let dest = self.cache.path(&name);
            fs::rename(&self.tmp, &dest).is_ok()
                && match (fs::metadata(&dest), self.cache.index.lock()) {
                    (Ok(md), Ok(mut index)) => {
                        index.insert(
                            name,
                            Entry {
                                key: self.key.clone(),
                                version: self.version.clone(),
                                size: self.size,
                                mtime_ns: mtime_ns(&md),
                                sha256: sha,
                                used: now(),
                                boot: boot.map(str::to_string),
                            },
                        );
                        self.cache.mark();
                        true
                    }
                    _ => false,
                }
        };
        if !kept {
            let _ = fs::remove_file(&self.tmp);
        }
        kept
    }
}

impl Drop for CacheWriter<'_> {
    fn drop(&mut self) {
        if self.file.is_some() {
            self.file = None;
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_checks_and_evicts() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::open(d.path(), "dest", 10).unwrap();
        let sha = crate::base::util::sha256_hex(b"hello");
        let mut w = c.writer("k1", "v1", Some(&sha)).unwrap();
        w.write(b"hel");
        w.write(b"lo");
        assert!(w.commit());
        let p = c.lookup("k1", "v1").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"hello");
        assert!(c.lookup("k1", "v2").is_none(), "another version is a miss");
        // A wrong hash is not kept.
        let mut w = c.writer("k2", "v", Some(&sha)).unwrap();
        w.write(b"HELLO");
        assert!(!w.commit());
        assert!(c.lookup("k2", "v").is_none());
        // Corrupted in place (same size, new mtime): detected and dropped.
        let mut w = c.writer("k3", "v", None).unwrap();
        w.write(b"world");
        assert!(w.commit());
        let p3 = c.lookup("k3", "v").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&p3, b"WORLD").unwrap();
        assert!(c.lookup("k3", "v").is_none());
        assert!(!p3.exists());
        // Bound: 10 bytes; the least recently used goes.
        let mut w = c.writer("k4", "v", None).unwrap();
        w.write(b"12345678");
        assert!(w.commit());
        c.save().unwrap();
        assert_eq!(c.usage(), (8, 1));
        assert!(c.lookup("k1", "v1").is_none());
        let mode = fs::metadata(c.lookup("k4", "v").unwrap()).unwrap().permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);
        assert_eq!(parse_size("2K").unwrap(), 2048);
    }

    /// Files are not fsynced: one written in another boot (the machine crashed or restarted
    /// since) is re-hashed before it is trusted, even with its size and mtime unchanged, so
    /// data torn by the crash is dropped and re-fetched; an intact one is kept and trusted
    /// from then on.
    #[test]
    fn a_file_written_unsynced_in_another_boot_is_checked_once() {
        assert!(boot_id().is_some() || !cfg!(target_os = "linux"), "Linux has a boot id");
        if boot_id().is_none() {
            return; // elsewhere files are fsynced: nothing to check
        }
        let d = tempfile::tempdir().unwrap();
        let c = Cache::open(d.path(), "dest", 1 << 20).unwrap();
        for (k, body) in [("torn", b"hello".as_slice()), ("fine", b"world".as_slice())] {
            let mut w = c.writer(k, "v", None).unwrap();
            w.write(body);
            assert!(w.commit());
        }
        let torn = c.lookup("torn", "v").unwrap();
        let fine = c.lookup("fine", "v").unwrap();
        {
            let mut i = c.index.lock().unwrap();
            for e in i.values_mut() {
                assert_eq!(e.boot.as_deref(), boot_id(), "written unsynced in this boot");
                e.boot = Some("an-earlier-boot".into());
            }
        }
        // What a crash can leave: the size and mtime on disk, not the data.
        let mtime = fs::metadata(&torn).unwrap().modified().unwrap();
        fs::write(&torn, b"\0\0\0\0\0").unwrap();
        File::options().write(true).open(&torn).unwrap().set_modified(mtime).unwrap();
        assert_eq!(mtime_ns(&fs::metadata(&torn).unwrap()), c.index.lock().unwrap()[&c.name("torn")].mtime_ns);
        assert!(c.lookup("torn", "v").is_none(), "torn data is detected");
        assert!(!torn.exists());
        assert_eq!(c.lookup("fine", "v").unwrap(), fine);
        assert_eq!(c.index.lock().unwrap()[&c.name("fine")].boot, None, "checked once, then trusted");
        c.save().unwrap();
        let again = Cache::open(d.path(), "dest", 1 << 20).unwrap();
        assert_eq!(fs::read(again.lookup("fine", "v").unwrap()).unwrap(), b"world");
        assert!(parse_size("lots").is_err());
    }
}
