//! tracecraft-hook: keeps an exact, redacted copy of every Claude Code session in your own
//! S3-compatible bucket (or in the embedded local store when no bucket is configured).
//!
//! The binary is a thin shell over this library: `main.rs` parses arguments and maps the
//! result to an exit code; everything else lives in one module per concern, in layers that
//! only import downwards (ARCHITECTURE.md; `tests/architecture.rs` checks it):
//! `cli` > `cmd`, `hook` > `engine` > `session` > `store` > `config` > `host` > `base`.
//! Public only what the integration tests and benches use.

pub mod base;
pub mod cli;
pub(crate) mod cmd;
pub(crate) mod config;
pub(crate) mod engine;
pub(crate) mod hook;
pub(crate) mod host;
pub mod session;
pub(crate) mod store;

pub use base::error::{Error, Result};
