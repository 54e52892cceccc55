//! Primitives: errors, atomic files, paths, the hook log, progress lines, small helpers, the
//! redaction engine, escaping for terminals (`printable`), the record of approved files
//! (`trust`: paths and hashes) and the age file format (client-side encryption). Nothing here
//! knows what a session, a store or a config is.

pub mod age;
pub(crate) mod error;
pub(crate) mod fsutil;
pub(crate) mod log;
pub(crate) mod paths;
pub(crate) mod printable;
pub(crate) mod progress;
pub mod redact;
pub(crate) mod trust;
pub mod util;
