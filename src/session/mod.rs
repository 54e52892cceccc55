//! The session model: ids and the bucket layout, meta.json, the local cursor state, reading
//! a transcript, insight counting, finding sessions on disk and in the store (catalog), and
//! the journal of an interrupted compaction, and what of a session is sealed (encrypted);
//! Codex CLI rollouts (`rollout`, `insight_codex`) beside Claude Code transcripts.

pub(crate) mod cache;
pub(crate) mod catalog;
pub(crate) mod claude_line;
pub(crate) mod discover;
pub(crate) mod index;
pub mod insight;
pub mod insight_codex;
pub(crate) mod journal;
pub mod layout;
pub mod meta;
pub(crate) mod pricing;
pub mod rollout;
pub(crate) mod seal;
pub(crate) mod search;
pub mod state;
pub mod transcript;

use std::path::PathBuf;

/// Which session, and where its transcript is.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub transcript: PathBuf,
    /// The project directory it ran in (recorded in meta.json).
    pub cwd: Option<PathBuf>,
    /// Which agent wrote it: where it goes in the store and where its local state is.
    pub harness: layout::Harness,
}
