//! Our fields of meta.json, all kept in `Meta::extra` (tracecraft ignores them), and the
//! merge rule of every field ([`merge_meta`]): the insight numbers (`stats`, counted by
//! `insight`), and the subagent links (a subagent's `parent_session_id`, `subagent`,
//! `sidecar`; a parent's `subagents` list, see `hook::subagent`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Meta;
use crate::base::error::Result;
use crate::base::util::parse_rfc3339;
use crate::session::insight::{recount, Stats, Tokens};
use crate::session::layout::{child_id, session_prefix};
use crate::session::transcript::Transcript;

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
    let codex = is_codex(meta);
    let mut stats = Stats::from_meta(meta).unwrap_or_default();
    if stats.counter.counted_to < from {
        let sub = std::mem::take(&mut stats.subagent_tokens);
        stats = recount_any(codex, t, from)?;
        stats.subagent_tokens = sub;
    }
    let at = stats.counter.counted_to;
    let update = |stats: &mut Stats, at: u64, bytes: &[u8]| {
        if codex {
            crate::session::insight_codex::update_at(stats, at, bytes)
        } else {
            stats.update_at(at, bytes)
        }
    };
    if at < from {
        // The lines before `from` are counted; the line `from` falls in starts at `at`.
        let mut joined = t.read_at(at, from - at)?;
        joined.extend_from_slice(bytes);
        update(&mut stats, at, &joined);
    } else {
        update(&mut stats, from, bytes);
    }
    stats.store(meta);
    Ok(())
}

/// Whether `meta` is a Codex session's (its rollout is counted by `insight_codex`).
fn is_codex(meta: &Meta) -> bool {
    meta.harness == crate::session::layout::Harness::Codex.dir()
}

/// [`recount`] of the session's own format.
fn recount_any(codex: bool, t: &mut Transcript, to: u64) -> Result<Stats> {
    if codex {
        crate::session::insight_codex::recount(t, to)
    } else {
        recount(t, to)
    }
}

/// After a repair moved the cursor back to `to`: recount what is mirrored now (keeping the
/// subagents' roll-up, which does not come from this transcript).
pub fn recount_meta(meta: &mut Meta, t: &mut Transcript, to: u64) -> Result<()> {
    let sub = Stats::from_meta(meta).map(|s| s.subagent_tokens).unwrap_or_default();
    let mut stats = recount_any(is_codex(meta), t, to)?;
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
