//! Primitives: errors, atomic files, paths, the hook log, progress lines, small helpers and
//! the redaction engine. Nothing here knows what a session, a store or a config is.

pub mod error;
pub mod fsutil;
pub mod log;
pub mod paths;
pub mod progress;
pub mod redact;
pub mod util;
