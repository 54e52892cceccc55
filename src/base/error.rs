//! One error type for the whole crate, with the context a person needs to act on it:
//! which file, which key, which endpoint. Secrets never reach `Display` or `Debug`:
//! nothing here stores a credential, and server bodies are trimmed before they are kept.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Crate-wide result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every way an operation can fail. Variants carry the object they were about.
#[derive(Debug)]
pub enum Error {
    /// A local file operation failed.
    Io { path: PathBuf, op: &'static str, source: io::Error },
    /// A configuration problem (bad JSON, wrong type, missing field, bad permission).
    Config { path: Option<PathBuf>, msg: String },
    /// A request to the store could not be sent or got no answer.
    Network { endpoint: String, key: String, op: &'static str, msg: String },
    /// The store answered, but with something we refuse to take (a body over its cap, an
    /// endless listing, a redirect): not retried, since asking again gets the same.
    Protocol { endpoint: String, key: String, op: &'static str, msg: String },
    /// The store answered with an HTTP error status.
    Http { endpoint: String, key: String, op: &'static str, status: u16, code: String, msg: String },
    /// The bucket itself does not exist (S3 `NoSuchBucket`): the destination is missing, not
    /// the object, so this is neither "not found" nor worth a retry.
    NoSuchBucket { endpoint: String, bucket: String, key: String, op: &'static str },
    /// A conditional write lost its race (HTTP 412 / 409).
    Precondition { key: String },
    /// Input we refuse to act on (a session id with `/`, a transcript that is a directory...).
    Invalid(String),
    /// Something the user asked for does not exist (session, transcript, object).
    NotFound(String),
    /// A flush could not take the session lock in time.
    Busy(String),
    /// Client-side encryption: a missing or wrong identity, an object that does not decrypt.
    Crypt(String),
    /// A test-only abort point was reached (`TRACECRAFT_TEST_ABORT_AT`).
    Aborted(&'static str),
}

impl Error {
    /// Wrap an `io::Error` with the path and the operation that failed.
    pub fn io(op: &'static str, path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io { path: path.as_ref().to_path_buf(), op, source }
    }

    /// A configuration error about a file (or no file when it came from the environment).
    pub fn config(path: Option<&Path>, msg: impl Into<String>) -> Self {
        Error::Config { path: path.map(Path::to_path_buf), msg: msg.into() }
    }

    /// True when the object or file simply does not exist.
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::NotFound(_) => true,
            Error::Io { source, .. } => source.kind() == io::ErrorKind::NotFound,
            Error::Http { status, .. } => *status == 404,
            _ => false,
        }
    }

    /// True when retrying later may succeed (network trouble, 5xx, throttling).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Network { .. } | Error::Busy(_) => true,
            Error::Http { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    /// Every message is passed through [`crate::base::printable::escape`]: paths, keys, session
    /// ids and server text are input, and must not drive the terminal they are shown on.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.write_raw(&mut s)?;
        f.write_str(&crate::base::printable::escape(&s))
    }
}

impl Error {
    fn write_raw(&self, f: &mut impl fmt::Write) -> fmt::Result {
        match self {
            Error::Io { path, op, source } => write!(f, "could not {op} {}: {source}", path.display()),
            Error::Config { path: Some(p), msg } => write!(f, "config {}: {msg}", p.display()),
            Error::Config { path: None, msg } => write!(f, "config: {msg}"),
            Error::Network { endpoint, key, op, msg } | Error::Protocol { endpoint, key, op, msg } => {
                write!(f, "{op} {key} at {endpoint}: {msg}")
            }
            Error::Http { endpoint, key, op, status, code, msg } => {
                write!(f, "{op} {key} at {endpoint}: HTTP {status}")?;
                if !code.is_empty() {
                    write!(f, " {code}")?;
                }
                if !msg.is_empty() {
                    write!(f, ": {msg}")?;
                }
                Ok(())
            }
            Error::NoSuchBucket { endpoint, bucket, key, op } => write!(
                f,
                "{op} {key} at {endpoint}: bucket {bucket} does not exist \
                 (create it or run `tracecraft-hook init --create-bucket`)"
            ),
            Error::Precondition { key } => {
                write!(f, "{key} was changed by another writer (precondition failed)")
            }
            Error::Invalid(msg) | Error::NotFound(msg) | Error::Busy(msg) | Error::Crypt(msg) => f.write_str(msg),
            Error::Aborted(point) => write!(f, "aborted at test point {point}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Abort at a named step when `TRACECRAFT_TEST_ABORT_AT` names it. Lets tests kill a flush
/// between any two steps (`kill` mode: the process dies at once, as with SIGKILL).
pub fn test_point(name: &'static str) -> Result<()> {
    match std::env::var_os("TRACECRAFT_TEST_ABORT_AT") {
        Some(v) if v == name => {
            if std::env::var_os("TRACECRAFT_TEST_ABORT_MODE").is_some_and(|m| m == "error") {
                Err(Error::Aborted(name))
            } else {
                // Same effect as SIGKILL: no destructors, no flushes.
                std::process::abort()
            }
        }
        _ => Ok(()),
    }
}
