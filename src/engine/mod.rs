//! The flush engine: turns new transcript bytes into stored parts and meta.json exactly once
//! (`flush`), and keeps sessions' lifecycles (start, end, orphans) straight (`lifecycle`).

pub(crate) mod flush;
pub(crate) mod lifecycle;
