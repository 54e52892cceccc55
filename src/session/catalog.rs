//! What the store holds for a project, as sessions: the shared read side of `show`, `list`,
//! `stop` and `compact`. It exists so that every command agrees on two things: which id a
//! user means (full id or unique prefix), and which part objects make up a session's replay.
//!
//! Sessions come from ONE paginated listing of `<project>/sessions/claude-code/` (or of one
//! session's prefix when the id is given in full): keys are grouped by their `<sid>/`
//! segment; sizes and LastModified come from the listing, so nothing here GETs an object
//! except `meta.json` when a caller asks for it.
//!
//! # The replay plan
//!
//! A session replays as the concatenation, in key order, of its part objects, minus the
//! ones an interrupted compaction or a crash left behind. Only direct children
//! `<sid>/part-NNNNN-<hex8>.jsonl` are parts. Without `meta.json` every part is in the plan
//! (what the Python CLI does). With `meta.json`, a part object is:
//!
//! 1. **in** when meta lists it (same seq and hex8);
//! 2. **out** when meta lists another object with the same seq that exists: the listed one
//!    wins. This drops a merged part uploaded by a compaction that crashed before rewriting
//!    meta (it sits at the seq of its first original), and an original left at the seq of a
//!    merged part after a compaction crashed while deleting;
//! 3. **out** when its seq falls in the range of a listed *merged* part that exists (one
//!    with `compacted_from`). The range of a merged part at seq `s` is `[s, hi]`. Let `n` be
//!    the next seq meta lists above `s`. For our merges (`"compacted_seqs": [first, last]`)
//!    `hi = min(last, n - 1)`. For a Python merge (always at seq 0; `compacted_from` = how
//!    many parts it merged) `hi = n - 1`: Python merges a key-order prefix of the parts and
//!    numbers new parts above every object it sees, so everything below `n` was merged.
//!    With nothing listed above, `hi = last` (ours) or `s + compacted_from - 1` (Python's:
//!    the least its last original can be). Capping at `n - 1` matters: after a compaction
//!    the Python CLI (and our flush after losing its local state) numbers the next part
//!    `max listed seq + 1`, reusing seqs inside the merged range, and lists it in meta;
//! 4. **in** otherwise: an unlisted part with a seq above the ranges is the next bytes of a
//!    flush in flight (part uploaded, meta.json not yet rewritten), or a part whose entry a
//!    writer dropped. Erring this way can show a leftover twice, never hide a real part
//!    (which `compact` would then delete).
//!
//! So an interrupted compaction of ours never shows a byte twice or loses one: before the
//! meta rewrite the merged object is ignored (rule 2), after it the originals are (rules 2,
//! 3). Python's are handled the same way, except one case rule 4 prefers to show: leftovers
//! above `compacted_from - 1` (its originals had gaps) while nothing is listed above them,
//! until the next part is listed. The objects a plan leaves out are `Plan::superseded`;
//! `compact` deletes them. What this deliberately does not do: guess from timestamps or
//! sizes, or read part contents.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use crate::base::error::{Error, Result};
use crate::base::util::{parse_rfc3339, rfc3339};
use crate::session::layout::{
    is_child, meta_key_in, parse_part_name, session_prefix_in, sessions_prefix_in, split_id, validate_id, Harness, MARK,
};
use crate::session::meta::extra::entries;
use crate::session::meta::{Meta, PartEntry};
use crate::session::state::State;
use crate::store::{ObjectInfo, Store};

/// One part object from a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartObject {
    pub key: String,
    pub seq: u32,
    pub hex8: String,
    pub size: u64,
    /// As the store reported it (S3: `2026-01-02T03:04:05.000Z`).
    pub last_modified: Option<String>,
    /// As the listing reported it (what `compact`'s server-side copy is conditional on).
    pub etag: Option<String>,
}

/// Everything the listing shows under one session's prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionObjects {
    pub id: String,
    /// Part objects, in key order.
    pub parts: Vec<PartObject>,
    /// `meta.json`, when present.
    pub meta: Option<ObjectInfo>,
    /// Anything else under the prefix (nested objects, unknown names).
    pub others: Vec<String>,
}

impl SessionObjects {
    /// Sum of all part object sizes (leftovers included).
    pub fn part_bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.size).sum()
    }

    /// Earliest LastModified of the parts, normalised to RFC 3339.
    pub fn first_upload(&self) -> Option<String> {
        self.part_times().min().map(rfc3339)
    }

    /// Latest LastModified of the parts (or of meta.json when there are no parts).
    pub fn last_upload(&self) -> Option<String> {
        self.part_times()
            .max()
            .or_else(|| self.meta.as_ref().and_then(|m| time_of(m.last_modified.as_deref())))
            .map(rfc3339)
    }

    fn part_times(&self) -> impl Iterator<Item = time::OffsetDateTime> + '_ {
        self.parts.iter().filter_map(|p| time_of(p.last_modified.as_deref()))
    }
}

/// LastModified as S3 (`...Z`, RFC 3339) or an HTTP date (HEAD) gives it.
fn time_of(s: Option<&str>) -> Option<time::OffsetDateTime> {
    let s = s?;
    parse_rfc3339(s).or_else(|| {
        let fmt = time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        time::PrimitiveDateTime::parse(s, &fmt).ok().map(|t| t.assume_utc())
    })
}

/// One part of a replay plan, with its meta.json entry when meta lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanPart {
    pub obj: PartObject,
    pub entry: Option<PartEntry>,
    /// For a listed merged part: the seqs it stands for, `[seq, hi]` (see module doc).
    pub covers: Option<(u32, u32)>,
}

/// The ordered parts whose concatenation is the session, and the objects left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub parts: Vec<PlanPart>,
    /// Leftovers of an interrupted compaction (safe to delete).
    pub superseded: Vec<PartObject>,
}

/// `compacted_seqs: [first, last]` of a merged entry, when well formed.
pub fn compacted_seqs(e: &PartEntry) -> Option<(u32, u32)> {
    let arr = e.extra.get("compacted_seqs")?.as_array()?;
    let [a, b] = arr.as_slice() else { return None };
    let (a, b) = (u32::try_from(a.as_u64()?).ok()?, u32::try_from(b.as_u64()?).ok()?);
    (a <= b).then_some((a, b))
}

/// The highest seq a merged entry stands for, from the entry alone: `compacted_seqs[1]`
/// when we wrote it; for a Python merge, `seq + compacted_from - 1` (its originals were
/// `compacted_from` distinct seqs from `seq` up, so the last one is at least that: never
/// more than the merge replaced); just `seq` when neither is readable.
pub fn merged_upper_bound(e: &PartEntry) -> u32 {
    if let Some((_, b)) = compacted_seqs(e) {
        return b.max(e.seq);
    }
    let count = e.compacted_from.as_ref().and_then(serde_json::Value::as_u64).unwrap_or(1).max(1);
    u32::try_from(u64::from(e.seq) + count - 1).unwrap_or(u32::MAX)
}

/// The replay plan of one session (see the module documentation for the rule).
pub fn replay_plan(parts: &[PartObject], meta: Option<&Meta>) -> Plan {
    let mut sorted: Vec<&PartObject> = parts.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let Some(meta) = meta else {
        return Plan {
            parts: sorted.into_iter().map(|o| PlanPart { obj: o.clone(), entry: None, covers: None }).collect(),
            superseded: Vec::new(),
        };
    };
    let present: HashSet<(u32, &str)> = parts.iter().map(|o| (o.seq, o.hex8.as_str())).collect();
    let listed: HashMap<(u32, &str), &PartEntry> = meta.parts.iter().map(|e| ((e.seq, e.uuid.as_str()), e)).collect();
    let listed_present_seqs: HashSet<u32> =
        parts.iter().filter(|o| listed.contains_key(&(o.seq, o.hex8.as_str()))).map(|o| o.seq).collect();
    let mut listed_seqs: Vec<u32> = meta.parts.iter().map(|e| e.seq).collect();
    listed_seqs.sort_unstable();
    listed_seqs.dedup();

    // Ranges of the merged parts that exist.
    let mut covers: BTreeMap<(u32, &str), (u32, u32)> = BTreeMap::new();
    for e in meta.parts.iter().filter(|e| e.compacted_from.is_some()) {
        if !present.contains(&(e.seq, e.uuid.as_str())) {
            continue;
        }
        let next = listed_seqs.iter().find(|s| **s > e.seq).map(|n| n - 1);
        let hi = match (compacted_seqs(e), next) {
            // Ours: the seqs it merged, but never a listed part above.
            (Some(_), Some(n)) => merged_upper_bound(e).min(n),
            // Python's: it merged every part below the next one listed.
            (None, Some(n)) => n,
            (_, None) => merged_upper_bound(e),
        };
        covers.insert((e.seq, e.uuid.as_str()), (e.seq, hi));
    }

    let mut plan = Plan::default();
    for o in sorted {
        let id = (o.seq, o.hex8.as_str());
        if let Some(e) = listed.get(&id) {
            plan.parts.push(PlanPart { obj: o.clone(), entry: Some((*e).clone()), covers: covers.get(&id).copied() });
        } else if listed_present_seqs.contains(&o.seq) || covers.values().any(|(lo, hi)| (*lo..=*hi).contains(&o.seq)) {
            plan.superseded.push(o.clone());
        } else {
            plan.parts.push(PlanPart { obj: o.clone(), entry: None, covers: None });
        }
    }
    plan
}

/// The sessions of one project in one store.
pub struct Catalog<'a> {
    pub store: &'a dyn Store,
    pub project: &'a str,
    /// "local store /x project p": for messages.
    pub dest: String,
    /// To open sealed meta.json and parts (`seal`); from the environment unless `with_keys`.
    pub keys: crate::session::seal::Keys,
    /// Whose sessions: `sessions/<harness>/` (Claude Code unless `in_harness`).
    pub harness: Harness,
}

impl<'a> Catalog<'a> {
    /// A catalog over `store`; `dest` describes store and project for messages.
    pub fn new(store: &'a dyn Store, project: &'a str, dest: String) -> Self {
        Catalog { store, project, dest, keys: crate::session::seal::Keys::from_env(), harness: Harness::ClaudeCode }
    }

    /// The same catalog over another harness's sessions (`sessions/codex/`).
    pub fn in_harness(mut self, harness: Harness) -> Self {
        self.harness = harness;
        self
    }

    /// The same catalog opening sealed objects with `keys` (a config's).
    pub fn with_keys(mut self, keys: crate::session::seal::Keys) -> Self {
        self.keys = keys;
        self
    }

    /// Every session of the project, from one (paginated) listing, in id order.
    pub fn sessions(&self) -> Result<Vec<SessionObjects>> {
        let prefix = sessions_prefix_in(self.project, self.harness);
        Ok(group(&prefix, self.store.list(&prefix)?))
    }

    /// One session by exact id, from a listing of its prefix; `None` when it has no object.
    pub fn session(&self, id: &str) -> Result<Option<SessionObjects>> {
        validate_id(id)?;
        let prefix = sessions_prefix_in(self.project, self.harness);
        let listing = self
            .store
            .list_bounded(&session_prefix_in(self.project, self.harness, id), crate::store::ListBound::SESSION)?;
        Ok(group(&prefix, listing).into_iter().find(|s| s.id == id))
    }

    /// A session by full id or unique prefix of one.
    pub fn resolve(&self, query: &str) -> Result<SessionObjects> {
        validate_id(query)?;
        if let Some(s) = self.session(query)? {
            return Ok(s);
        }
        // A subagent (`<id>.agent-<agent>`) starts with its parent's id: it matches a prefix
        // only when the query names it as one.
        let subagents = query.contains(MARK);
        let mut found: Vec<SessionObjects> = self
            .sessions()?
            .into_iter()
            .filter(|s| s.id.starts_with(query) && (subagents || !is_child(&s.id)))
            .collect();
        match found.len() {
            0 => Err(Error::NotFound(format!("no session {query:?} (nor one starting with it) in {}", self.dest))),
            1 => Ok(found.remove(0)),
            n => {
                let mut ids: Vec<&str> = found.iter().map(|s| s.id.as_str()).take(10).collect();
                if n > 10 {
                    ids.push("…");
                }
                Err(Error::Invalid(format!(
                    "session prefix {query:?} is ambiguous in {}: {n} sessions match: {}",
                    self.dest,
                    ids.join(", ")
                )))
            }
        }
    }

    /// meta.json of a session; `None` when absent, an error naming the key when unreadable.
    pub fn meta(&self, id: &str) -> Result<Option<Meta>> {
        let key = meta_key_in(self.project, self.harness, id);
        match self.store.get(&key)? {
            None => Ok(None),
            Some(bytes) => {
                crate::session::seal::meta_from_bytes(&bytes, &self.keys, &format!("{key} in {}", self.dest)).map(Some)
            }
        }
    }

    /// meta.json of each session that has one, fetched a few at a time in parallel, in order.
    pub fn metas(&self, sessions: &[SessionObjects]) -> Vec<Result<Option<Meta>>> {
        /// How many meta.json GETs run at once.
        const PARALLEL_GETS: usize = 6;
        let mut out = Vec::with_capacity(sessions.len());
        for batch in sessions.chunks(PARALLEL_GETS) {
            let fetched: Vec<Result<Option<Meta>>> = std::thread::scope(|scope| {
                let handles: Vec<_> = batch
                    .iter()
                    .map(|s| scope.spawn(move || if s.meta.is_some() { self.meta(&s.id) } else { Ok(None) }))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(Error::Invalid("a meta.json reader panicked".into()))))
                    .collect()
            });
            out.extend(fetched);
        }
        out
    }

    /// meta.json as the writer on this machine knows it: our local copy when the local state
    /// (already checked to be for this destination) says the store's copy lags behind (a
    /// flush stopped between uploading a part and meta.json), else the store's.
    pub fn freshest_meta(&self, id: &str, local: Option<&State>, cache: &Path) -> Result<Option<Meta>> {
        if local.is_some_and(|st| st.meta_dirty) {
            if let Some(m) = crate::session::state::load_meta(cache) {
                return Ok(Some(m));
            }
        }
        self.meta(id)
    }

    /// The replay plan of a session, reading its meta.json. An unreadable meta.json is
    /// reported on stderr and the plan falls back to every part in key order.
    pub fn plan(&self, s: &SessionObjects) -> Result<(Plan, Option<Meta>)> {
        let meta = if s.meta.is_some() {
            match self.meta(&s.id) {
                Ok(m) => m,
                Err(e @ Error::Invalid(_)) => {
                    eprintln!("warning: {e}; replaying every part in key order");
                    None
                }
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        Ok((replay_plan(&s.parts, meta.as_ref()), meta))
    }
}

/// Group a listing under `prefix` (`<project>/sessions/claude-code/`) by session id.
pub fn group(prefix: &str, listing: Vec<ObjectInfo>) -> Vec<SessionObjects> {
    let mut by_id: BTreeMap<String, SessionObjects> = BTreeMap::new();
    for o in listing {
        let Some(rest) = o.key.strip_prefix(prefix) else { continue };
        let Some((id, name)) = rest.split_once('/') else { continue };
        if id.is_empty() || validate_id(id).is_err() {
            continue;
        }
        let s =
            by_id.entry(id.to_string()).or_insert_with(|| SessionObjects { id: id.to_string(), ..Default::default() });
        if name == "meta.json" {
            s.meta = Some(o);
        } else if let Some((seq, hex8)) = parse_part_name(name).filter(|_| !name.contains('/')) {
            s.parts.push(PartObject {
                seq,
                hex8: hex8.to_string(),
                size: o.size,
                last_modified: o.last_modified.clone(),
                etag: o.etag.clone(),
                key: o.key,
            });
        } else {
            s.others.push(o.key);
        }
    }
    let mut out: Vec<SessionObjects> = by_id.into_values().collect();
    for s in &mut out {
        s.parts.sort_by(|a, b| a.key.cmp(&b.key));
    }
    out
}

/// The subagent sessions of `parent` in the store, from one listing of
/// `<project>/sessions/claude-code/<parent>.agent-`, ordered as the parent's meta.json lists
/// them (then by id).
pub fn children_in_store(cat: &Catalog<'_>, parent: &str, meta: Option<&Meta>) -> Result<Vec<SessionObjects>> {
    let prefix = sessions_prefix_in(cat.project, cat.harness);
    let listing = cat.store.list(&format!("{prefix}{parent}{MARK}"))?;
    let mut found: Vec<SessionObjects> =
        group(&prefix, listing).into_iter().filter(|s| split_id(&s.id).is_some_and(|(p, _)| p == parent)).collect();
    let order: Vec<String> = meta.map(entries).unwrap_or_default().into_iter().map(|e| e.session_id).collect();
    found.sort_by_key(|s| (order.iter().position(|o| *o == s.id).unwrap_or(usize::MAX), s.id.clone()));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(seq: u32, hex8: &str) -> PartObject {
        PartObject {
            key: format!("p/sessions/claude-code/s/{}", crate::session::layout::part_name(seq, hex8)),
            seq,
            hex8: hex8.into(),
            size: 10,
            last_modified: None,
            etag: None,
        }
    }

    fn entry(seq: u32, hex8: &str) -> PartEntry {
        PartEntry { seq, uuid: hex8.into(), ..Default::default() }
    }

    fn merged(seq: u32, hex8: &str, from: u64, seqs: Option<(u32, u32)>) -> PartEntry {
        let mut e = entry(seq, hex8);
        e.compacted_from = Some(json!(from));
        if let Some((a, b)) = seqs {
            e.extra.insert("compacted_seqs".into(), json!([a, b]));
        }
        e
    }

    fn meta(parts: Vec<PartEntry>) -> Meta {
        let mut m = Meta::new("s");
        m.parts = parts;
        m
    }

    fn plan_seqs(objs: &[PartObject], m: Option<&Meta>) -> (Vec<String>, Vec<String>) {
        let p = replay_plan(objs, m);
        (
            p.parts.iter().map(|x| format!("{}-{}", x.obj.seq, x.obj.hex8)).collect(),
            p.superseded.iter().map(|x| format!("{}-{}", x.seq, x.hex8)).collect(),
        )
    }

    const A: &str = "aaaaaaaa";
    const B: &str = "bbbbbbbb";
    const C: &str = "cccccccc";
    const M: &str = "0000000f";

    #[test]
    fn without_meta_every_part_in_key_order() {
        let objs = [obj(1, A), obj(0, B), obj(0, A)];
        assert_eq!(plan_seqs(&objs, None).0, ["0-aaaaaaaa", "0-bbbbbbbb", "1-aaaaaaaa"]);
    }

    #[test]
    fn unlisted_parts_above_meta_are_in_flight() {
        let objs = [obj(0, A), obj(1, B), obj(2, C)];
        let m = meta(vec![entry(0, A)]);
        assert_eq!(plan_seqs(&objs, Some(&m)).0, ["0-aaaaaaaa", "1-bbbbbbbb", "2-cccccccc"]);
    }

    #[test]
    fn merged_part_not_in_meta_is_ignored() {
        // Our compaction crashed after uploading the merge (at seq 0), before meta.
        let objs = [obj(0, A), obj(0, M), obj(1, B), obj(2, C)];
        let m = meta(vec![entry(0, A), entry(1, B), entry(2, C)]);
        assert_eq!(
            plan_seqs(&objs, Some(&m)),
            (vec!["0-aaaaaaaa".into(), "1-bbbbbbbb".into(), "2-cccccccc".into()], vec!["0-0000000f".into()])
        );
    }

    #[test]
    fn originals_after_meta_rewrite_are_superseded() {
        let objs = [obj(0, A), obj(0, M), obj(1, B), obj(2, C), obj(3, A), obj(4, A)];
        let m = meta(vec![merged(0, M, 3, Some((0, 2))), entry(3, A)]);
        let (p, s) = plan_seqs(&objs, Some(&m));
        // seq 4 is an in-flight flush above everything meta lists.
        assert_eq!(p, ["0-0000000f", "3-aaaaaaaa", "4-aaaaaaaa"]);
        assert_eq!(s, ["0-aaaaaaaa", "1-bbbbbbbb", "2-cccccccc"]);
        // Without compacted_seqs the range still ends below the next listed seq.
        let m = meta(vec![merged(0, M, 3, None), entry(3, A)]);
        assert_eq!(plan_seqs(&objs, Some(&m)).0, ["0-0000000f", "3-aaaaaaaa", "4-aaaaaaaa"]);
    }

    #[test]
    fn everything_merged_and_in_flight_part_above_range() {
        let objs = [obj(0, M), obj(1, B), obj(2, C), obj(3, A)];
        let m = meta(vec![merged(0, M, 3, Some((0, 2)))]);
        assert_eq!(plan_seqs(&objs, Some(&m)).0, ["0-0000000f", "3-aaaaaaaa"]);
    }

    #[test]
    fn python_merge_with_nothing_above_covers_as_many_seqs_as_it_merged() {
        let objs = [obj(0, M), obj(1, B), obj(2, C), obj(3, A)];
        let m = meta(vec![merged(0, M, 3, None)]);
        // Originals 1 and 2 are leftovers; 3 may be new (in flight, or its entry dropped).
        assert_eq!(plan_seqs(&objs, Some(&m)).0, ["0-0000000f", "3-aaaaaaaa"]);
        // Once a later part is listed, everything below it is covered.
        let objs = [obj(0, M), obj(1, B), obj(5, C), obj(6, A)];
        let m = meta(vec![merged(0, M, 2, None), entry(6, A)]);
        assert_eq!(plan_seqs(&objs, Some(&m)).0, ["0-0000000f", "6-aaaaaaaa"]);
        // An unreadable count covers the merged seq only.
        let mut e = merged(0, M, 0, None);
        e.compacted_from = Some(json!("many"));
        assert_eq!(plan_seqs(&[obj(0, M), obj(0, A), obj(1, B)], Some(&meta(vec![e]))).0, ["0-0000000f", "1-bbbbbbbb"]);
    }

    #[test]
    fn seqs_reused_after_a_merge_are_kept_once_listed() {
        // Python mirror after a Python compaction numbers the next part max+1 = 1.
        let objs = [obj(0, M), obj(1, B)];
        let m = meta(vec![merged(0, M, 5, Some((0, 4))), entry(1, B)]);
        assert_eq!(plan_seqs(&objs, Some(&m)).0, ["0-0000000f", "1-bbbbbbbb"]);
    }

    #[test]
    fn listed_merge_whose_object_is_missing_hides_nothing() {
        let objs = [obj(0, A), obj(1, B)];
        let m = meta(vec![merged(0, M, 2, Some((0, 1)))]);
        assert_eq!(plan_seqs(&objs, Some(&m)).0, ["0-aaaaaaaa", "1-bbbbbbbb"]);
    }

    #[test]
    fn stale_meta_listing_deleted_originals_keeps_the_merge() {
        // Another writer put back a meta.json that predates the compaction.
        let objs = [obj(0, M), obj(3, C)];
        let m = meta(vec![entry(0, A), entry(1, B), entry(2, C)]);
        assert_eq!(plan_seqs(&objs, Some(&m)).0, ["0-0000000f", "3-cccccccc"]);
    }

    #[test]
    fn grouping_and_times() {
        let info = |key: &str, size, lm: &str| ObjectInfo {
            key: key.into(),
            size,
            last_modified: Some(lm.into()),
            etag: None,
        };
        let listing = vec![
            info("p/sessions/claude-code/a1/meta.json", 5, "2026-01-01T00:00:09.000Z"),
            info("p/sessions/claude-code/a1/part-00000-aaaaaaaa.jsonl", 3, "2026-01-01T00:00:01.000Z"),
            info("p/sessions/claude-code/a1/part-00001-bbbbbbbb.jsonl", 4, "2026-01-01T00:00:02.000Z"),
            info("p/sessions/claude-code/a1/sub/part-00002-bbbbbbbb.jsonl", 4, "2026-01-01T00:00:02.000Z"),
            info("p/sessions/claude-code/b2/part-00000-aaaaaaaa.jsonl", 7, "Thu, 01 Jan 2026 00:00:05 GMT"),
        ];
        let g = group("p/sessions/claude-code/", listing);
        assert_eq!(g.len(), 2);
        assert_eq!((g[0].id.as_str(), g[0].parts.len(), g[0].part_bytes()), ("a1", 2, 7));
        assert_eq!(g[0].others, ["p/sessions/claude-code/a1/sub/part-00002-bbbbbbbb.jsonl"]);
        assert_eq!(g[0].first_upload().as_deref(), Some("2026-01-01T00:00:01.000000+00:00"));
        assert_eq!(g[0].last_upload().as_deref(), Some("2026-01-01T00:00:02.000000+00:00"));
        assert_eq!(g[1].last_upload().as_deref(), Some("2026-01-01T00:00:05.000000+00:00"));
    }
}
