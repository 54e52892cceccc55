//! `meta.json`: the per-session summary the Python `tracecraft` CLI reads and writes.
//! Field names and order follow tracecraft; our additions (sha256 per part, writer,
//! end reason...) are extra fields tracecraft ignores, and fields we do not know are kept.
//!
//! Every field we add lives here with its merge rule ([`merge_meta`]): the insight numbers
//! (`stats`, counted by `insight`), and the subagent links (a subagent's `parent_session_id`,
//! `subagent`, `sidecar`; a parent's `subagents` list, see `hook::subagent`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::base::error::Result;
use crate::base::util::parse_rfc3339;
use crate::session::insight::{recount, Stats, Tokens};
use crate::session::layout::{child_id, session_prefix, HARNESS};
use crate::session::transcript::Transcript;

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
    /// The part's object name.
    pub fn name(&self) -> String {
        crate::session::layout::part_name(self.seq, &self.uuid)
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
    /// A fresh document for a session.
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

// ---- Fields beyond tracecraft's (kept in `extra`) and how they merge ----

/// The meta.json key of the session's insight numbers ([`Stats`]).
pub const STATS_KEY: &str = "stats";
/// The parent's meta.json key listing its subagents.
pub const SUBAGENTS_KEY: &str = "subagents";

/// The `extra` fields this program maintains: when our meta.json is merged into a newer
/// remote one ([`merge_meta`]), ours win (stats and the subagent links).
const LOCAL_EXTRA: &[&str] = &[STATS_KEY, SUBAGENTS_KEY, "parent_session_id", "subagent", "sidecar"];

/// Merge our meta.json into a newer one written by someone else: theirs wins for the parts it
/// lists (it may have compacted ours); our parts newer than all of theirs are added, our
/// newer version of a part they list under the same key replaces theirs, and the session
/// fields we maintain (end, start source, model...) are ours.
pub fn merge_meta(remote: Meta, local: &Meta) -> Meta {
    let mut m = remote;
    let remote_max = m.parts.iter().map(|p| p.seq).max();
    let compacted_at = m.last_compacted_at.as_deref().and_then(parse_rfc3339);
    for p in &local.parts {
        let same = m.parts.iter().any(|r| r.seq == p.seq && r.uuid == p.uuid);
        // A part of ours they do not list, uploaded before their compaction: merged away.
        let merged_away = match (compacted_at, p.uploaded_at.as_deref().and_then(parse_rfc3339)) {
            (Some(c), Some(u)) => u <= c,
            _ => false,
        };
        if same {
            // Our newer version of a part they list (an open part re-sent); a merged part
            // both sides list is theirs already.
            if p.compacted_from.is_none() {
                m.upsert_part(p.clone());
            }
        } else if !merged_away && remote_max.is_none_or(|mx| p.seq > mx) {
            m.upsert_part(p.clone());
        }
    }
    m.ended_at = local.ended_at.clone();
    m.end_reason = local.end_reason.clone();
    m.start_source = local.start_source.clone().or(m.start_source);
    m.model = local.model.clone().or(m.model);
    m.started_at = m.started_at.or_else(|| local.started_at.clone());
    m.source_path = local.source_path.clone().or(m.source_path);
    m.cwd = local.cwd.clone().or(m.cwd);
    m.agent_id = local.agent_id.clone().or(m.agent_id);
    m.writer = local.writer.clone();
    m.last_uploaded_at = local.last_uploaded_at.clone().max(m.last_uploaded_at);
    for k in LOCAL_EXTRA {
        if let Some(v) = local.extra.get(*k) {
            m.extra.insert(k.to_string(), v.clone());
        }
    }
    m
}

impl Stats {
    /// The stats recorded in a meta.json, if any (a malformed value reads as none).
    pub fn from_meta(meta: &Meta) -> Option<Stats> {
        meta.extra.get(STATS_KEY).and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// Record these stats in `meta`.
    pub fn store(&self, meta: &mut Meta) {
        if let Ok(v) = serde_json::to_value(self) {
            meta.extra.insert(STATS_KEY.to_string(), v);
        }
    }
}

/// The flush engine's hook: source bytes `[from, from + bytes.len())` of `t` were uploaded.
/// Updates `meta`'s stats; when they do not reach `from` (none yet, or lost), counts
/// `[0, from)` from the transcript first (once).
pub fn record_chunk(meta: &mut Meta, t: &mut Transcript, from: u64, bytes: &[u8]) -> Result<()> {
    let mut stats = Stats::from_meta(meta).unwrap_or_default();
    if stats.counter.counted_to < from {
        let sub = std::mem::take(&mut stats.subagent_tokens);
        stats = recount(t, from)?;
        stats.subagent_tokens = sub;
    }
    let at = stats.counter.counted_to;
    if at < from {
        // The lines before `from` are counted; the line `from` falls in starts at `at`.
        let mut joined = t.read_at(at, from - at)?;
        joined.extend_from_slice(bytes);
        stats.update_at(at, &joined);
    } else {
        stats.update_at(from, bytes);
    }
    stats.store(meta);
    Ok(())
}

/// After a repair moved the cursor back to `to`: recount what is mirrored now (keeping the
/// subagents' roll-up, which does not come from this transcript).
pub fn recount_meta(meta: &mut Meta, t: &mut Transcript, to: u64) -> Result<()> {
    let sub = Stats::from_meta(meta).map(|s| s.subagent_tokens).unwrap_or_default();
    let mut stats = recount(t, to)?;
    stats.subagent_tokens = sub;
    stats.store(meta);
    Ok(())
}

/// The transcript is a restored copy of the store (redacted, so its offsets are not the
/// source's) whose bytes `[0, end)` are what `meta` describes: move `counted_to` to the same
/// place in the copy (as far before `end` as it was before the source cursor: a partial last
/// line that was not counted yet stays to count).
pub fn rebase(meta: &mut Meta, end: u64) {
    if let Some(mut s) = Stats::from_meta(meta) {
        let uncounted = meta.cursor().saturating_sub(s.counter.counted_to);
        s.counter.counted_to = end.saturating_sub(uncounted);
        s.counter.in_long_line = false;
        s.store(meta);
    }
}

/// What a subagent's own flush records in its meta.json (`FlushOpts::subagent`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubagentOf {
    pub parent_session_id: String,
    pub agent_id: String,
    pub agent_type: Option<String>,
    /// The `agent-<id>.meta.json` sidecar: its JSON, or its text when it is not JSON.
    pub sidecar: Option<Value>,
}

/// A subagent to list in its parent's meta.json (`FlushOpts::subagents`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChildRef {
    pub agent_id: String,
    pub agent_type: Option<String>,
    pub description: Option<String>,
}

/// One entry of the parent's `subagents` list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub agent_id: String,
    #[serde(default)]
    pub agent_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The subagent's session id (`<parent>.agent-<agent id>`).
    #[serde(default)]
    pub session_id: String,
    /// Its key prefix (`<project>/sessions/claude-code/<session id>/`).
    #[serde(default)]
    pub key_prefix: String,
    /// Its tokens per model, as its own meta.json counted them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tokens: BTreeMap<String, Tokens>,
}

/// The subagents a parent's meta.json lists (malformed entries are skipped).
pub fn entries(meta: &Meta) -> Vec<Entry> {
    meta.extra
        .get(SUBAGENTS_KEY)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| serde_json::from_value(v.clone()).ok()).collect())
        .unwrap_or_default()
}

/// The flush engine's hook, run on every flush before it decides whether meta.json changed:
/// records `subagent` in a subagent's meta.json, or upserts `subagents` into a parent's
/// list, refreshing every listed subagent's tokens with `child_tokens(session id)` (the
/// engine reads its local meta.json copy under the parent's lock, so the last writer has the
/// newest numbers) and their sum in `stats.subagent_tokens`. Returns whether `meta` changed.
pub fn annotate(
    meta: &mut Meta,
    subagent: Option<&SubagentOf>,
    subagents: &[ChildRef],
    project: &str,
    child_tokens: impl Fn(&str) -> Option<BTreeMap<String, Tokens>>,
) -> bool {
    if subagent.is_none() && subagents.is_empty() {
        return false;
    }
    let before = meta.extra.clone();
    if let Some(of) = subagent {
        meta.extra.insert("parent_session_id".into(), Value::String(of.parent_session_id.clone()));
        let old_type = meta.extra.get("subagent").and_then(|s| s.get("agent_type")).cloned();
        let agent_type = of.agent_type.clone().map(Value::String).or(old_type).unwrap_or(Value::Null);
        meta.extra.insert("subagent".into(), serde_json::json!({"agent_id": of.agent_id, "agent_type": agent_type}));
        if let Some(side) = &of.sidecar {
            meta.extra.insert("sidecar".into(), side.clone());
        }
    }
    if !subagents.is_empty() {
        let mut list = entries(meta);
        for r in subagents {
            let id = child_id(&meta.session_id, &r.agent_id);
            let i = match list.iter().position(|e| e.agent_id == r.agent_id) {
                Some(i) => i,
                None => {
                    list.push(Entry { agent_id: r.agent_id.clone(), ..Default::default() });
                    list.len() - 1
                }
            };
            let e = &mut list[i];
            e.agent_type = r.agent_type.clone().or(e.agent_type.take());
            e.description = r.description.clone().or(e.description.take());
            e.key_prefix = session_prefix(project, &id);
            e.session_id = id;
        }
        let mut sum: BTreeMap<String, Tokens> = BTreeMap::new();
        for e in &mut list {
            if let Some(t) = child_tokens(&e.session_id) {
                e.tokens = t;
            }
            for (model, t) in &e.tokens {
                sum.entry(model.clone()).or_default().add(t);
            }
        }
        if let Ok(v) = serde_json::to_value(&list) {
            meta.extra.insert(SUBAGENTS_KEY.into(), v);
        }
        let mut stats = Stats::from_meta(meta).unwrap_or_default();
        stats.subagent_tokens = sum;
        stats.store(meta);
    }
    meta.extra != before
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

    #[test]
    fn stats_round_trip_through_meta() {
        let mut m = Meta::new("s");
        let mut s = Stats::default();
        s.update_at(
            0,
            b"{\"type\":\"user\",\"message\":{\"content\":\"hi\"},\"timestamp\":\"2026-01-01T00:00:00Z\"}\n",
        );
        assert_eq!(s.turns, 1);
        s.store(&mut m);
        let back = Meta::parse(&m.to_bytes()).unwrap();
        assert_eq!(Stats::from_meta(&back), Some(s));
    }

    #[test]
    fn annotate_lists_children_and_rolls_up_tokens() {
        let mut child = Meta::new("p.agent-a1");
        let mut s = Stats::default();
        s.tokens.insert("m".into(), Tokens { input: 3, output: 4, cache_creation: 0, cache_read: 1 });
        s.store(&mut child);
        let mut parent = Meta::new("p");
        let tokens = |id: &str| (id == "p.agent-a1").then(|| Stats::from_meta(&child).unwrap().tokens);
        let refs = vec![ChildRef { agent_id: "a1".into(), agent_type: Some("Explore".into()), description: None }];
        assert!(annotate(&mut parent, None, &refs, "proj", tokens));
        assert!(!annotate(&mut parent, None, &refs, "proj", tokens), "idempotent");
        let e = entries(&parent);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].key_prefix, "proj/sessions/claude-code/p.agent-a1/");
        assert_eq!(Stats::from_meta(&parent).unwrap().subagent_tokens["m"].output, 4);
        // A later ref without a type keeps the known one.
        let refs = vec![ChildRef { agent_id: "a1".into(), ..Default::default() }];
        assert!(!annotate(&mut parent, None, &refs, "proj", tokens));
        assert_eq!(entries(&parent)[0].agent_type.as_deref(), Some("Explore"));
    }
}
