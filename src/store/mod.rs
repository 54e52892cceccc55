//! The storage interface every command writes through, with two implementations: an S3
//! client (presigned requests signed by `rusty-s3`, sent by `ureq`) and the embedded local
//! directory store. Code above this line never knows which one it talks to.

use std::io::Write;
use std::time::Duration;

use crate::base::error::Result;

pub(crate) mod backend;
pub(crate) mod local;
pub(crate) mod s3;

/// One object from a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub last_modified: Option<String>,
    pub etag: Option<String>,
}

/// A conditional write. Servers may ignore conditions: correctness never rests on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    None,
    /// Only replace this version (`If-Match: <etag>`).
    IfMatch(String),
}

/// Timeouts and retries; the hook uses short ones, people's commands longer ones.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// TCP connect.
    pub connect: Duration,
    /// Waiting for a response (headers) after the request was sent.
    pub response: Duration,
    /// Time budget for one operation with its retries: a retry is only started when a
    /// whole new attempt (up to `response`) still fits in it.
    pub retry_budget: Duration,
}

impl Limits {
    /// For the hook when it uploads inline (`TRACECRAFT_HOOK_INLINE=1`): Claude Code waits,
    /// so every operation gives up within about 2 s; the next event catches up.
    pub const HOOK: Limits = Limits {
        connect: Duration::from_secs(1),
        response: Duration::from_secs(2),
        retry_budget: Duration::from_millis(2500),
    };
    /// For the hook's detached worker: nobody waits for it, so it rides out a slow or
    /// briefly unavailable server (this is what lets SessionEnd's final flush land).
    pub const WORKER: Limits = Limits {
        connect: Duration::from_secs(3),
        response: Duration::from_secs(10),
        retry_budget: Duration::from_secs(25),
    };
    /// For commands a person runs: a few retries with backoff, bounded.
    pub const MANUAL: Limits = Limits {
        connect: Duration::from_secs(3),
        response: Duration::from_secs(8),
        retry_budget: Duration::from_secs(12),
    };
}

/// How much of a listing we accept before calling the server broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListBound {
    /// Objects.
    pub keys: usize,
    /// Bytes of key, ETag and date text held in memory.
    pub bytes: usize,
}

impl ListBound {
    /// One session's prefix: at most 100,000 parts (five-digit sequence numbers), plus
    /// room for meta.json and strays.
    pub const SESSION: ListBound = ListBound { keys: 110_000, bytes: 24 << 20 };
    /// Anything else (a whole project).
    pub const ANY: ListBound = ListBound { keys: 2_000_000, bytes: 256 << 20 };
}

/// What a store can do. Keys are full keys (`<project>/sessions/...`).
pub trait Store: Send + Sync {
    /// "s3 http://host bucket b" or "local store /path": for messages.
    fn describe(&self) -> String;
    /// Store `body` at `key`; returns the new ETag when the server gave one.
    fn put(&self, key: &str, body: &[u8], cond: &Cond) -> Result<Option<String>>;
    /// The whole object, or `None` when it does not exist.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Bytes `start..end` (end exclusive) of an object, or `None` when it does not exist.
    fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Option<Vec<u8>>>;
    /// Stream the object into `out`; returns bytes written (`None` when absent).
    fn get_to(&self, key: &str, out: &mut dyn Write) -> Result<Option<u64>>;
    /// Size and ETag, or `None` when absent.
    fn head(&self, key: &str) -> Result<Option<ObjectInfo>>;
    /// Delete (absent is fine).
    fn delete(&self, key: &str) -> Result<()>;
    /// Every object under `prefix`, in key order (paginated as needed). A remote store
    /// bounds what it accepts (pages, keys, memory): see [`ListBound`].
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        self.list_bounded(prefix, ListBound::ANY)
    }
    /// [`Store::list`] with an explicit bound: more objects than it allows is an error
    /// naming the endpoint (a server that lists forever must not exhaust memory or time).
    fn list_bounded(&self, prefix: &str, bound: ListBound) -> Result<Vec<ObjectInfo>>;
    /// Check that the bucket exists and answers (for `init`/`doctor`).
    fn check_bucket(&self) -> Result<()>;
    /// Create the bucket (for `init --create-bucket`).
    fn create_bucket(&self) -> Result<()>;
    /// Start a streaming upload to `key`: nothing appears at `key` before `finish`. Both
    /// stores override this with bounded memory (S3: multipart upload, local: temp file and
    /// rename); the default buffers the whole object and PUTs it at `finish`.
    fn upload<'s>(&'s self, key: &str) -> Result<Box<dyn Upload + 's>> {
        Ok(Box::new(BufferedUpload { store: self, key: key.to_string(), buf: Vec::new() }))
    }
    /// Like `upload`, with the object's `Content-Type` (a shared page); stores that keep no
    /// metadata ignore it.
    fn upload_typed<'s>(&'s self, key: &str, content_type: &str) -> Result<Box<dyn Upload + 's>> {
        let _ = content_type;
        self.upload(key)
    }
    /// A URL that lets anyone GET `key` until `ttl` has passed (S3: a presigned URL);
    /// `None` for stores without one.
    fn presign_get(&self, key: &str, ttl: Duration) -> Option<String> {
        let _ = (key, ttl);
        None
    }
    /// The local file holding `key`, for stores that are a directory.
    fn local_path(&self, key: &str) -> Option<std::path::PathBuf> {
        let _ = key;
        None
    }
}

/// An object being written piece by piece (see `Store::upload`). Dropping it without
/// `finish` abandons the upload (best effort cleanup: temp file, multipart upload).
pub trait Upload {
    /// Append bytes.
    fn write(&mut self, bytes: &[u8]) -> Result<()>;
    /// Make the object visible at its key; returns its ETag when the server gave one.
    fn finish(self: Box<Self>) -> Result<Option<String>>;
    /// Append the `size` bytes of the object `key` of the same store without
    /// passing them through this process where the store can (S3: `UploadPartCopy` of a part
    /// of at least [`COPY_MIN`], conditional on the listed ETag; local: a file-to-file copy
    /// in the kernel; `etag`: the version listed). Returns how many of its leading bytes were appended: the caller
    /// writes the rest itself (0: none, e.g. too small to be a multipart part, or the server
    /// refused to copy; it is then not asked to copy again). The default copies nothing.
    fn copy_from(&mut self, key: &str, size: u64, etag: Option<&str>) -> Result<u64> {
        let _ = (key, size, etag);
        Ok(0)
    }
    /// How many `copy_from` calls the store carried out itself (server-side copies, file
    /// copies), for the report.
    fn store_copies(&self) -> usize {
        0
    }
}

/// The smallest object an S3 upload copies on the server's side: every part of a multipart
/// upload but the last must be at least 5 MiB.
pub const COPY_MIN: u64 = 5 << 20;

struct BufferedUpload<'s, S: Store + ?Sized> {
    store: &'s S,
    key: String,
    buf: Vec<u8>,
}

impl<S: Store + ?Sized> Upload for BufferedUpload<'_, S> {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.buf.extend_from_slice(bytes);
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<Option<String>> {
        self.store.put(&self.key, &self.buf, &Cond::None)
    }
}
