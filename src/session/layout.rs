//! The bucket layout shared with the Python `tracecraft` CLI, and the id validation that keeps
//! every key inside `<project>/sessions/claude-code/<id>/`:
//!
//! ```text
//! <project>/sessions/claude-code/<session-id>/part-NNNNN-<hex8>.jsonl
//! <project>/sessions/claude-code/<session-id>/meta.json
//! ```
//!
//! A Codex CLI session lives beside them under `sessions/codex/<session-id>/` (the Python
//! CLI's `codex` harness), with the same parts and meta.json ([`Harness`]).
//!
//! A part's `<hex8>` is derived from (session, seq, start offset), so a retried upload of
//! the same range writes the same key and overwrites instead of adding a second part.

use sha2::{Digest, Sha256};

use crate::base::error::{Error, Result};
use crate::base::util::{hex, truncate_for_display};

/// The harness folder under `sessions/` of Claude Code sessions (the default).
pub const HARNESS: &str = "claude-code";

/// Which coding agent wrote a session: its folder under `sessions/`, its `harness` in
/// meta.json, and (`session::state::dir_for`) its own local state directory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Harness {
    /// Claude Code (`~/.claude/projects/<slug>/<id>.jsonl`).
    #[default]
    ClaudeCode,
    /// OpenAI's Codex CLI (`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl`).
    Codex,
}

impl Harness {
    /// Every harness, Claude Code first.
    pub const ALL: [Harness; 2] = [Harness::ClaudeCode, Harness::Codex];

    /// The folder under `sessions/` and meta.json's `harness`.
    pub fn dir(self) -> &'static str {
        match self {
            Harness::ClaudeCode => HARNESS,
            Harness::Codex => "codex",
        }
    }

    /// From a folder name or meta.json's `harness` (also `claude`): `None` for others.
    pub fn parse(s: &str) -> Option<Harness> {
        match s {
            "claude-code" | "claude" => Some(Harness::ClaudeCode),
            "codex" => Some(Harness::Codex),
            _ => None,
        }
    }
}

impl std::fmt::Display for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.dir())
    }
}

impl std::str::FromStr for Harness {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Harness, String> {
        Harness::parse(s).ok_or_else(|| format!("unknown harness {s:?}: expected claude-code or codex"))
    }
}

/// `<project>/sessions/<harness>/`
pub fn sessions_prefix_in(project: &str, h: Harness) -> String {
    format!("{project}/sessions/{}/", h.dir())
}

/// `<project>/sessions/<harness>/<id>/`
pub fn session_prefix_in(project: &str, h: Harness, id: &str) -> String {
    format!("{project}/sessions/{}/{id}/", h.dir())
}

/// `<project>/sessions/<harness>/<id>/meta.json`
pub fn meta_key_in(project: &str, h: Harness, id: &str) -> String {
    format!("{}meta.json", session_prefix_in(project, h, id))
}

/// tracecraft ignores parts whose sequence number does not fit five digits.
pub const MAX_SEQ: u32 = 99_999;

/// Check a session (or subagent) id before it becomes part of a key or a local path:
/// 1 to 128 characters of `[A-Za-z0-9._-]`, starting with a letter or digit, no `..`.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && !id.contains("..")
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid session id {:?}: expected 1-128 characters of A-Z a-z 0-9 . _ -",
            truncate_for_display(id)
        )))
    }
}

/// What joins a parent session id and an agent id into the subagent's session id.
pub const MARK: &str = ".agent-";

/// `<parent>.agent-<agent>`
pub fn child_id(parent: &str, agent_id: &str) -> String {
    format!("{parent}{MARK}{agent_id}")
}

/// `(parent, agent id)` of a subagent session id.
pub fn split_id(id: &str) -> Option<(&str, &str)> {
    id.split_once(MARK).filter(|(p, a)| !p.is_empty() && !a.is_empty())
}

/// Whether `id` is a subagent's session id.
pub fn is_child(id: &str) -> bool {
    split_id(id).is_some()
}

/// `<project>/sessions/claude-code/`
pub fn sessions_prefix(project: &str) -> String {
    format!("{project}/sessions/{HARNESS}/")
}

/// `<project>/sessions/claude-code/<id>/`
pub fn session_prefix(project: &str, id: &str) -> String {
    format!("{project}/sessions/{HARNESS}/{id}/")
}

/// `<session prefix>meta.json`
pub fn meta_key(project: &str, id: &str) -> String {
    format!("{}meta.json", session_prefix(project, id))
}

/// The deterministic `<hex8>` of a part: first 8 hex digits of
/// sha256("<session-id>\n<seq>\n<start offset>").
pub fn part_hex(id: &str, seq: u32, from: u64) -> String {
    let mut h = Sha256::new();
    h.update(format!("{id}\n{seq}\n{from}").as_bytes());
    hex(&h.finalize()[..4])
}

/// Suffix of a sealed (encrypted, `session::seal`) part's key, after `.jsonl`: tracecraft's
/// regex, anchored at `.jsonl$`, skips it.
pub const SEALED_SUFFIX: &str = ".age";
/// A sealed part's meta.json entry carries `"encryption": "age"`.
pub const SEALED_MARK: &str = "encryption";

/// The `<hex8>` of a sealed part (`seal`): first 8 hex digits of
/// sha256("age\n<session-id>\n<seq>\n<start offset>"), so a part re-sent after encryption
/// was switched on or off never shares its (seq, hex8) with the other version.
pub fn sealed_part_hex(id: &str, seq: u32, from: u64) -> String {
    part_hex(&format!("age\n{id}"), seq, from)
}

/// `part-NNNNN-<hex8>.jsonl`
pub fn part_name(seq: u32, hex8: &str) -> String {
    format!("part-{seq:05}-{hex8}.jsonl")
}

/// Parse a key or file name ending in `part-NNNNN-<hex8>.jsonl` (tracecraft's regex
/// `part-(\d{5})-[a-f0-9]{8}\.jsonl$`) or, sealed, `part-NNNNN-<hex8>.jsonl.age` (which that
/// regex skips). Returns (seq, hex8).
pub fn parse_part_name(key: &str) -> Option<(u32, &str)> {
    let name = key.rsplit('/').next()?;
    let name = name.strip_suffix(SEALED_SUFFIX).unwrap_or(name);
    let rest = name.strip_prefix("part-")?.strip_suffix(".jsonl")?;
    let (seq, hex8) = rest.split_once('-')?;
    if seq.len() != 5 || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if hex8.len() != 8 || !hex8.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    Some((seq.parse().ok()?, hex8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_could_escape_are_refused() {
        for bad in ["", "a/b", "..", "a..b", ".hidden", "a\0b", "a\nb", "é", &"x".repeat(129)] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
        for good in ["60d02b3f-e256-40f7-8986-d87f2eebff47", "abc.agent-a1b2", "A_b-9"] {
            validate_id(good).unwrap();
        }
    }

    #[test]
    fn part_names_round_trip_and_match_tracecraft_regex() {
        let h = part_hex("s", 3, 100);
        assert_eq!(h.len(), 8);
        assert_eq!(h, part_hex("s", 3, 100), "deterministic");
        assert_ne!(h, part_hex("s", 3, 101));
        let name = part_name(3, &h);
        assert_eq!(parse_part_name(&format!("p/sessions/claude-code/s/{name}")), Some((3, h.as_str())));
        assert_eq!(parse_part_name("part-100000-abcdef01.jsonl"), None);
        assert_eq!(parse_part_name("part-00001-ABCDEF01.jsonl"), None);
        assert_eq!(parse_part_name("meta.json"), None);
    }

    #[test]
    fn sealed_parts_parse_here_but_not_with_tracecraft_regex() {
        let python = regex::Regex::new(r"part-(\d{5})-[a-f0-9]{8}\.jsonl$").unwrap();
        let h = sealed_part_hex("s", 3, 100);
        assert_ne!(h, part_hex("s", 3, 100));
        let name = format!("{}{}", part_name(3, &h), SEALED_SUFFIX);
        assert_eq!(parse_part_name(&format!("p/sessions/claude-code/s/{name}")), Some((3, h.as_str())));
        assert!(!python.is_match(&name), "{name}");
        assert!(python.is_match(&part_name(3, &h)));
        assert_eq!(parse_part_name("part-00001-abcdef01.jsonl.age.age"), None);
    }

    #[test]
    fn subagent_ids() {
        let id = child_id("60d02b3f-e256", "a615c8674836d14bb");
        assert_eq!(id, "60d02b3f-e256.agent-a615c8674836d14bb");
        validate_id(&id).unwrap();
        assert_eq!(split_id(&id), Some(("60d02b3f-e256", "a615c8674836d14bb")));
        assert!(!is_child("60d02b3f-e256"));
    }
}
