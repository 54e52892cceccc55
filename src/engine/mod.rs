//! The flush engine: turns new transcript bytes into stored parts and meta.json exactly once
//! (`flush`), keeps sessions' lifecycles (start, end, orphans) straight (`lifecycle`), and
//! mirrors a session's subagent transcripts beside it (`subagents`).

pub(crate) mod flush;
pub(crate) mod lifecycle;
pub(crate) mod subagents;
