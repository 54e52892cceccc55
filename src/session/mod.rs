//! The session model: ids and the bucket layout, meta.json, the local cursor state, reading
//! a transcript, insight counting, finding sessions on disk and in the store (catalog), and
//! the journal of an interrupted compaction.

pub mod catalog;
pub mod discover;
pub mod insight;
pub mod journal;
pub mod layout;
pub mod meta;
pub mod state;
pub mod transcript;
