//! tracecraft-hook: keeps an exact, redacted copy of every Claude Code session in your own
//! S3-compatible bucket (or in the embedded local store when no bucket is configured).
//!
//! The binary is a thin shell over this library: `main.rs` parses arguments and maps the
//! result to an exit code; everything else lives in one module per concern.

pub mod catalog;
pub mod cleanup;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod discover;
pub mod error;
pub mod flush;
pub mod fsutil;
pub mod hook;
pub mod insight;
pub mod layout;
pub mod lifecycle;
pub mod log;
pub mod meta;
pub mod paths;
pub mod payload;
pub mod printable;
pub mod progress;
pub mod redact;
pub mod settings;
pub mod state;
pub mod store;
pub mod subagent;
pub mod transcript;
pub mod trust;
pub mod util;

pub use error::{Error, Result};
