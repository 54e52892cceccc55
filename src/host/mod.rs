//! Claude Code's wire formats: the hook payload on stdin and `settings.json`, read leniently
//! and kept separate from our own types.

pub(crate) mod payload;
pub(crate) mod settings;
