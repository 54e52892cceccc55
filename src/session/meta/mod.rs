//! `meta.json`: the per-session summary the Python `tracecraft` CLI reads and writes.
//! Field names and order follow tracecraft; our additions (sha256 per part, writer,
//! end reason...) are extra fields tracecraft ignores, and fields we do not know are kept.
//!
//! The fields we keep in `extra` (insight numbers, subagent links) and the merge rule of
//! every field are in [`extra`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::session::layout::HARNESS;

pub mod extra;

/// One uploaded part as meta.json lists it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartEntry {
    pub seq: u32,
    /// The `<hex8>` of the part's key (tracecraft calls it uuid).
    pub uuid: String,
    /// Source byte range `[from, to)` of the transcript this part holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor_range: Option<[u64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_bytes: Option<u64>,
    #[serde(default)]
    pub uploaded_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redactions: Option<BTreeMap<String, u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<String>,
    /// Set on a part that replaced others in a compaction (tracecraft writes a count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compacted_from: Option<Value>,
    /// sha256 of the uploaded (redacted) bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// sha256 of the source bytes `cursor_range` covered (lets a new machine or lost state
    /// check that the transcript still starts with what was uploaded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_sha256: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl PartEntry {
    /// The part's object name (`.jsonl.age` when sealed).
    pub fn name(&self) -> String {
        let name = crate::session::layout::part_name(self.seq, &self.uuid);
        if self.sealed() {
            format!("{name}{}", crate::session::layout::SEALED_SUFFIX)
        } else {
            name
        }
    }

    /// Whether the part is stored sealed (`"encryption": "age"`, see `session::seal`).
    pub fn sealed(&self) -> bool {
        self.extra.get(crate::session::layout::SEALED_MARK).and_then(Value::as_str) == Some("age")
    }
}

/// The whole meta.json document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    #[serde(default = "one")]
    pub schema_version: u32,
    #[serde(default = "harness")]
    pub harness: String,
    pub session_id: String,
    #[serde(default)]
    pub source_path: Option<String>,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub last_uploaded_at: Option<String>,
    #[serde(default)]
    pub ended_at: Option<String>,
    #[serde(default)]
    pub total_source_bytes: u64,
    #[serde(default)]
    pub total_uploaded_bytes: u64,
    #[serde(default)]
    pub redaction_counts: BTreeMap<String, u64>,
    #[serde(default)]
    pub parts: Vec<PartEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_compacted_at: Option<String>,
    /// Who wrote the last version (`tracecraft-hook/<version>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer: Option<String>,
    /// SessionEnd's `reason` (clear, logout, prompt_input_exit, other...) or `stop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<String>,
    /// SessionStart's `source` (startup, resume, clear, compact, fork).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn one() -> u32 {
    1
}
fn harness() -> String {
    HARNESS.to_string()
}

/// Our writer tag.
pub const WRITER: &str = concat!("tracecraft-hook/", env!("CARGO_PKG_VERSION"));

impl Meta {
    /// A fresh document for a session of `harness`.
    pub fn new_in(session_id: &str, harness: crate::session::layout::Harness) -> Meta {
        Meta { harness: harness.dir().into(), ..Meta::new(session_id) }
    }

    /// A fresh document for a (Claude Code) session.
    pub fn new(session_id: &str) -> Meta {
        Meta {
            schema_version: 1,
            harness: HARNESS.into(),
            session_id: session_id.into(),
            source_path: None,
            cwd: None,
            agent_id: None,
            started_at: None,
            last_uploaded_at: None,
            ended_at: None,
            total_source_bytes: 0,
            total_uploaded_bytes: 0,
            redaction_counts: BTreeMap::new(),
            parts: Vec::new(),
            last_compacted_at: None,
            writer: None,
            end_reason: None,
            start_source: None,
            model: None,
            extra: Map::new(),
        }
    }

    /// Parse meta.json bytes.
    pub fn parse(bytes: &[u8]) -> Result<Meta, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }

    /// Pretty JSON, 2-space indent, like tracecraft's `json.dumps(indent=2)`.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("meta serializes")
    }

    /// The source offset everything before which is mirrored: the largest end of a part's
    /// `cursor_range`, or `total_source_bytes` when parts carry no ranges (tracecraft's
    /// compacted parts).
    pub fn cursor(&self) -> u64 {
        let ranged = self.parts.iter().filter_map(|p| p.cursor_range.map(|r| r[1])).max();
        match ranged {
            Some(c) if self.parts.iter().all(|p| p.cursor_range.is_some()) => c,
            Some(c) => c.max(self.total_source_bytes),
            None => self.total_source_bytes,
        }
    }

    /// Highest sequence number listed.
    pub fn max_seq(&self) -> Option<u32> {
        // A merged part covers up to the last seq it replaced (`compacted_seqs: [first, last]`).
        self.parts
            .iter()
            .map(|p| {
                let last = p.extra.get("compacted_seqs").and_then(|v| v.get(1)).and_then(serde_json::Value::as_u64);
                last.map_or(p.seq, |l| p.seq.max(u32::try_from(l).unwrap_or(p.seq)))
            })
            .max()
    }

    /// Add or replace (same seq) a part entry and keep the totals consistent.
    pub fn upsert_part(&mut self, entry: PartEntry) {
        if let Some(i) = self.parts.iter().position(|p| p.seq == entry.seq && p.compacted_from.is_none()) {
            let old = self.parts.remove(i);
            self.total_source_bytes = self.total_source_bytes.saturating_sub(old.source_bytes.unwrap_or(0));
            self.total_uploaded_bytes = self.total_uploaded_bytes.saturating_sub(old.uploaded_bytes);
            for (k, v) in old.redactions.iter().flatten() {
                if let Some(t) = self.redaction_counts.get_mut(k) {
                    *t = t.saturating_sub(*v);
                }
            }
            self.redaction_counts.retain(|_, v| *v > 0);
        }
        self.total_source_bytes += entry.source_bytes.unwrap_or(0);
        self.total_uploaded_bytes += entry.uploaded_bytes;
        for (k, v) in entry.redactions.iter().flatten() {
            *self.redaction_counts.entry(k.clone()).or_insert(0) += v;
        }
        self.last_uploaded_at = entry.uploaded_at.clone();
        let pos = self.parts.iter().position(|p| p.seq > entry.seq).unwrap_or(self.parts.len());
        self.parts.insert(pos, entry);
    }

    /// Drop the entries of parts at or after `seq` (a repair deleted them); fix totals.
    pub fn truncate_from_seq(&mut self, seq: u32) {
        let (keep, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut self.parts).into_iter().partition(|p| p.seq < seq);
        self.parts = keep;
        for old in gone {
            self.total_source_bytes = self.total_source_bytes.saturating_sub(old.source_bytes.unwrap_or(0));
            self.total_uploaded_bytes = self.total_uploaded_bytes.saturating_sub(old.uploaded_bytes);
            for (k, v) in old.redactions.iter().flatten() {
                if let Some(t) = self.redaction_counts.get_mut(k) {
                    *t = t.saturating_sub(*v);
                }
            }
        }
        self.redaction_counts.retain(|_, v| *v > 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PYTHON_META: &str = r#"{
  "schema_version": 1,
  "harness": "claude-code",
  "session_id": "abc",
  "source_path": "/home/dev/.claude/projects/x/abc.jsonl",
  "cwd": "/home/dev/x",
  "agent_id": "me",
  "started_at": "2026-11-21T19:15:12.167146+00:00",
  "last_uploaded_at": "2026-11-21T19:15:13.167146+00:00",
  "ended_at": null,
  "total_source_bytes": 30,
  "total_uploaded_bytes": 30,
  "redaction_counts": {"openai_key": 1},
  "parts": [
    {"seq": 0, "uuid": "0a1b2c3d", "compacted_from": 2, "uploaded_bytes": 20, "uploaded_at": "2026-11-21T19:15:13.167146+00:00"},
    {"seq": 2, "uuid": "deadbeef", "cursor_range": [20, 30], "source_bytes": 10, "uploaded_bytes": 10, "redactions": {}, "uploaded_at": "x"}
  ],
  "last_compacted_at": "2026-11-21T19:16:00.000000+00:00",
  "future_field": [1, 2]
}"#;

    #[test]
    fn reads_python_meta_and_keeps_unknown_fields() {
        let m = Meta::parse(PYTHON_META.as_bytes()).unwrap();
        assert_eq!(m.cursor(), 30);
        assert_eq!(m.max_seq(), Some(2));
        assert_eq!(m.parts[0].compacted_from, Some(serde_json::json!(2)));
        let back: Value = serde_json::from_slice(&m.to_bytes()).unwrap();
        assert_eq!(back["future_field"], serde_json::json!([1, 2]));
        assert_eq!(back["ended_at"], Value::Null, "tracecraft expects the key present");
        assert!(String::from_utf8(m.to_bytes()).unwrap().starts_with("{\n  \"schema_version\": 1,\n  \"harness\""));
    }

    #[test]
    fn upsert_replaces_same_seq_and_keeps_totals() {
        let mut m = Meta::new("s");
        let e = |seq, from, to, up| PartEntry {
            seq,
            uuid: "00000000".into(),
            cursor_range: Some([from, to]),
            source_bytes: Some(to - from),
            uploaded_bytes: up,
            redactions: Some(BTreeMap::from([("aws_access_key".to_string(), 1)])),
            ..Default::default()
        };
        m.upsert_part(e(0, 0, 10, 10));
        m.upsert_part(e(1, 10, 15, 5));
        m.upsert_part(e(1, 10, 20, 9));
        assert_eq!((m.parts.len(), m.total_source_bytes, m.total_uploaded_bytes), (2, 20, 19));
        assert_eq!(m.redaction_counts["aws_access_key"], 2);
        assert_eq!(m.cursor(), 20);
        m.truncate_from_seq(1);
        assert_eq!((m.parts.len(), m.total_source_bytes, m.cursor()), (1, 10, 10));
        assert_eq!(m.redaction_counts["aws_access_key"], 1);
    }
}
