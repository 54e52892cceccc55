//! Primitives: errors, atomic files, paths, the hook log, progress lines, small helpers and
//! the redaction engine. Nothing here knows what a session, a store or a config is.

pub(crate) mod error;
pub(crate) mod fsutil;
pub(crate) mod log;
pub(crate) mod paths;
pub(crate) mod progress;
pub mod redact;
pub mod util;
