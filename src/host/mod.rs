//! The hosts' wire formats, read leniently and kept separate from our own types: Claude
//! Code's hook payload on stdin (Codex CLI sends the same shape) and `settings.json` (and
//! Codex's hooks.json, the same block), and Codex CLI's `config.toml` (edited as text).

pub(crate) mod codex_config;
pub(crate) mod payload;
pub(crate) mod settings;
