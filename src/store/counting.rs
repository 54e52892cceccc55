//! A store that counts the requests made through it, so a command can say what it cost
//! (`TRACECRAFT_REQUESTS=1`: one line on stderr; the bench reads it). Counting is a few
//! atomic increments: it is always on for the commands that use it.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{Cond, ListBound, ObjectInfo, Store, Upload};
use crate::base::error::Result;

/// The variable that makes commands print their request counts.
pub const VAR: &str = "TRACECRAFT_REQUESTS";

/// `inner` with request counters.
pub struct Counting<'a> {
    inner: &'a dyn Store,
    list: AtomicU64,
    get: AtomicU64,
    put: AtomicU64,
    head: AtomicU64,
    delete: AtomicU64,
}

impl<'a> Counting<'a> {
    /// Count the requests made to `inner` through the result.
    pub fn wrap(inner: &'a dyn Store) -> Counting<'a> {
        Counting {
            inner,
            list: AtomicU64::new(0),
            get: AtomicU64::new(0),
            put: AtomicU64::new(0),
            head: AtomicU64::new(0),
            delete: AtomicU64::new(0),
        }
    }

    /// `LIST n GET n PUT n HEAD n DELETE n` (LIST counts calls, not pages).
    pub fn summary(&self) -> String {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "LIST {} GET {} PUT {} HEAD {} DELETE {}",
            n(&self.list),
            n(&self.get),
            n(&self.put),
            n(&self.head),
            n(&self.delete)
        )
    }

    /// With `TRACECRAFT_REQUESTS` set: `requests (<what>): <summary>` on stderr.
    pub fn report(&self, what: &str) {
        if std::env::var_os(VAR).is_some_and(|v| !v.is_empty() && v != "0") {
            let _ = writeln!(std::io::stderr(), "requests ({what}): {}", self.summary());
        }
    }
}

fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

impl Store for Counting<'_> {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn put(&self, key: &str, body: &[u8], cond: &Cond) -> Result<Option<String>> {
        bump(&self.put);
        self.inner.put(key, body, cond)
    }
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        bump(&self.get);
        self.inner.get(key)
    }
    fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Option<Vec<u8>>> {
        bump(&self.get);
        self.inner.get_range(key, start, end)
    }
    fn get_to(&self, key: &str, out: &mut dyn Write) -> Result<Option<u64>> {
        bump(&self.get);
        self.inner.get_to(key, out)
    }
    fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        bump(&self.head);
        self.inner.head(key)
    }
    fn delete(&self, key: &str) -> Result<()> {
        bump(&self.delete);
        self.inner.delete(key)
    }
    fn list_bounded(&self, prefix: &str, bound: ListBound) -> Result<Vec<ObjectInfo>> {
        bump(&self.list);
        self.inner.list_bounded(prefix, bound)
    }
    fn list_delimited(&self, prefix: &str, delimiter: &str) -> Result<(Vec<ObjectInfo>, Vec<String>)> {
        bump(&self.list);
        self.inner.list_delimited(prefix, delimiter)
    }
    fn check_bucket(&self) -> Result<()> {
        self.inner.check_bucket()
    }
    fn create_bucket(&self) -> Result<()> {
        self.inner.create_bucket()
    }
    fn upload<'s>(&'s self, key: &str) -> Result<Box<dyn Upload + 's>> {
        bump(&self.put);
        self.inner.upload(key)
    }
    fn presign_get(&self, key: &str, ttl: Duration) -> Option<String> {
        self.inner.presign_get(key, ttl)
    }
    fn local_path(&self, key: &str) -> Option<std::path::PathBuf> {
        self.inner.local_path(key)
    }
}
