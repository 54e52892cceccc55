//! The team index: small per-machine summaries of every session, so that `list` and `stats`
//! over a bucket of 100,000 sessions cost requests that grow with machines and days, not
//! with sessions. It is a CACHE of meta.json: every entry is derived from one session's
//! meta.json ([`Entry::from_meta`]), and a reader that finds it missing or damaged answers
//! from meta.json instead (slower, same numbers).
//!
//! # Layout (beside the sessions, never inside a `<session-id>/` prefix)
//!
//! ```text
//! <project>/@index/<agent>/<YYYY-MM>.json      month object: every entry the agent indexed
//!                                               that month, up to its "through" day
//! <project>/@index/<agent>/<YYYY-MM-DD>.json   day object: the entries it indexed that day
//! ```
//!
//! `@` cannot appear in a project name (`config::validate_project`) nor a session id, so
//! `<project>/@index/` is never a project or a session: the Python CLI lists only
//! `<project>/sessions/` (and its own folders), and our catalog only
//! `<project>/sessions/claude-code/`. `<agent>` is the writer's `agent_id` (the host name
//! when none is configured), made key-safe ([`agent_segment`]).
//!
//! # One writer per object
//!
//! Only the machine with that agent id writes under `<agent>/`, so machines never conflict.
//! On one machine, writers take a local lock (`~/.tracecraft/state/index/<h>/@lock`) around
//! read-modify-write of the local copy and the PUT, so two flushes of different sessions
//! never drop each other's entry. The local copy (one file per month) is authoritative for
//! this agent; it is seeded from the store only when this machine has no copy of the month
//! nor of the month before (a new machine, lost state).
//!
//! # One small request per flush
//!
//! A flush that changed meta.json calls [`Writer::record`] with the session's entry; when the
//! entry is what the local copy already holds, nothing is sent. Otherwise it PUTs ONE object:
//! the day object of today (the entries indexed today: small), except on the first update of
//! a day when the month already has earlier days: then it PUTs the month object instead
//! (`through` = today), which folds the earlier days in. A reader of a month thus needs the
//! month object and the day objects from its `through` day on: about one object per agent
//! and month, plus today's.
//!
//! # Reading
//!
//! One listing of `<project>/@index/` (a few pages a year), then GETs of the objects needed
//! (cached locally by key + ETag: an unchanged index costs the listing only). An entry may
//! appear in several objects (a session indexed on several days); the newest `rev` wins. A
//! session's newest entry lives in the month of its last update, which is never before its
//! last activity, so `--since` reads the months from the since-month on, and `list` stops at
//! the first month that cannot hold anything more recent than what it has.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::util::{hex, now_rfc3339, parse_rfc3339};
use crate::session::catalog::{Catalog, SessionObjects};
use crate::session::insight::{Stats, Tokens};
use crate::session::layout::split_id;
use crate::session::meta::Meta;
use crate::store::{Cond, ObjectInfo, Store};

/// The folder under a project that holds the index.
pub const DIR: &str = "@index";
/// Format version written in every object.
pub const VERSION: u32 = 1;

/// `<project>/@index/`
pub fn prefix(project: &str) -> String {
    format!("{project}/{DIR}/")
}

/// A key-safe agent folder name: the id itself when it is `[A-Za-z0-9._-]{1,64}` (not
/// starting with `.`), else a cleaned copy with a hash suffix (so two ids never share one).
pub fn agent_segment(agent: &str) -> String {
    let ok = !agent.is_empty()
        && agent.len() <= 64
        && !agent.starts_with('.')
        && agent.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        return agent.to_string();
    }
    let clean: String = agent
        .chars()
        .take(40)
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '-' })
        .collect();
    let h = hex(&<sha2::Sha256 as sha2::Digest>::digest(agent.as_bytes())[..4]);
    format!("{}{h}", if clean.is_empty() { String::new() } else { format!("{clean}-") })
}

/// How long this machine's index object may lag a running session's meta.json: 300 s,
/// `TRACECRAFT_INDEX_INTERVAL` (seconds) to change it (0: every flush updates the index).
/// New sessions and ended ones are always indexed at once.
pub fn interval() -> std::time::Duration {
    let secs = std::env::var("TRACECRAFT_INDEX_INTERVAL").ok().and_then(|v| v.trim().parse::<u64>().ok());
    std::time::Duration::from_secs(secs.unwrap_or(300))
}

/// The agent id of this machine for the index: the config's, else the host name.
pub fn this_agent(configured: Option<&str>) -> String {
    if let Some(a) = configured.filter(|a| !a.is_empty()) {
        return a.to_string();
    }
    for f in ["/proc/sys/kernel/hostname", "/etc/hostname"] {
        if let Ok(s) = std::fs::read_to_string(f) {
            let s = s.trim();
            if !s.is_empty() {
                return s.to_string();
            }
        }
    }
    "unknown-host".to_string()
}

/// Tokens as four numbers `[input, output, cache_creation, cache_read]` (compact on the wire).
pub type Quad = [u64; 4];

fn quad(t: &Tokens) -> Quad {
    [t.input, t.output, t.cache_creation, t.cache_read]
}

/// [`Quad`] back to [`Tokens`].
pub fn tokens(q: &Quad) -> Tokens {
    Tokens { input: q[0], output: q[1], cache_creation: q[2], cache_read: q[3] }
}

/// A small map kept as a vector of pairs (a JSON object on the wire): an entry holds a few
/// models, days and tools, and 100,000 entries in memory must stay well under 128 MB, which
/// a `BTreeMap` per field (one 11-slot node each) would not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pairs<T>(pub Vec<(String, T)>);

impl<T> Default for Pairs<T> {
    fn default() -> Self {
        Pairs(Vec::new())
    }
}

impl<T> Pairs<T> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&String, &T)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.0.iter().map(|(_, v)| v)
    }
}

impl<T> FromIterator<(String, T)> for Pairs<T> {
    fn from_iter<I: IntoIterator<Item = (String, T)>>(it: I) -> Self {
        let mut v: Vec<(String, T)> = it.into_iter().collect();
        v.shrink_to_fit();
        Pairs(v)
    }
}

impl<'a, T> IntoIterator for &'a Pairs<T> {
    type Item = (&'a String, &'a T);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (String, T)>, fn(&'a (String, T)) -> (&'a String, &'a T)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<T: Serialize> Serialize for Pairs<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Pairs<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = Pairs<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> std::result::Result<Pairs<T>, A::Error> {
                let mut v = Vec::with_capacity(a.size_hint().unwrap_or(0).min(64));
                while let Some((k, x)) = a.next_entry::<String, T>()? {
                    v.push((k, x));
                }
                v.shrink_to_fit();
                Ok(Pairs(v))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One session's summary, as the index holds it (derived from its meta.json).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Entry {
    pub id: String,
    /// `claude-code` | `codex` (meta.json `harness`).
    pub harness: String,
    /// The session's `agent_id` (meta.json), the machine or person that ran it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// A subagent's parent session id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_upload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_upload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<String>,
    pub parts: u64,
    pub bytes: u64,
    /// meta.json had insight numbers (`stats`).
    #[serde(skip_serializing_if = "is_false")]
    pub counted: bool,
    #[serde(skip_serializing_if = "is_zero")]
    pub turns: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub messages: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub compactions: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub tool_errors: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub api_errors: u64,
    #[serde(skip_serializing_if = "Pairs::is_empty")]
    pub tools: Pairs<u64>,
    /// Tokens per model ([`Quad`]).
    #[serde(skip_serializing_if = "Pairs::is_empty")]
    pub tokens: Pairs<Quad>,
    /// Tokens per UTC day, then model.
    #[serde(skip_serializing_if = "Pairs::is_empty")]
    pub days: Pairs<Pairs<Quad>>,
    /// The subagents' tokens as the parent's meta.json rolled them up (used only when a
    /// subagent has no entry of its own).
    #[serde(skip_serializing_if = "Pairs::is_empty")]
    pub sub_tokens: Pairs<Quad>,
    /// When this entry was made (RFC 3339): the newest entry of a session wins.
    pub rev: String,
    /// The session is gone from the store (written by `reindex`).
    #[serde(skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// Its meta.json is sealed (client-side encryption): the entry holds only what the
    /// sealed meta.json shows in clear; readers open meta.json for the rest.
    #[serde(skip_serializing_if = "is_false")]
    pub sealed: bool,
}

impl Entry {
    /// The entry of a session from its meta.json (`rev` left empty: set by the writer).
    pub fn from_meta(meta: &Meta) -> Entry {
        let stats = Stats::from_meta(meta);
        let sub = meta.extra.get("subagent");
        let s = stats.clone().unwrap_or_default();
        // Upload times from the part records (a compaction keeps the originals' there).
        type At = Option<(time::OffsetDateTime, String)>;
        let (mut first, mut last): (At, At) = (None, None);
        for p in &meta.parts {
            let Some(l) = p.uploaded_at.as_deref() else { continue };
            let f = p.extra.get("first_uploaded_at").and_then(|v| v.as_str()).unwrap_or(l);
            if let Some(t) = parse_rfc3339(f) {
                if first.as_ref().is_none_or(|(ft, _)| t < *ft) {
                    first = Some((t, f.to_string()));
                }
            }
            if let Some(t) = parse_rfc3339(l) {
                if last.as_ref().is_none_or(|(lt, _)| t > *lt) {
                    last = Some((t, l.to_string()));
                }
            }
        }
        Entry {
            id: meta.session_id.clone(),
            harness: meta.harness.clone(),
            agent: meta.agent_id.clone(),
            parent: meta.extra.get("parent_session_id").and_then(|v| v.as_str()).map(str::to_string),
            agent_type: sub.and_then(|s| s.get("agent_type")).and_then(|v| v.as_str()).map(str::to_string),
            started: meta.started_at.clone(),
            first_upload: first.map(|(_, s)| s),
            last_upload: last.map(|(_, s)| s).or_else(|| meta.last_uploaded_at.clone()),
            ended: meta.ended_at.clone(),
            end_reason: meta.end_reason.clone(),
            parts: meta.parts.len() as u64,
            bytes: meta.parts.iter().map(|p| p.uploaded_bytes).sum(),
            counted: stats.is_some(),
            turns: s.turns,
            messages: s.assistant_messages,
            compactions: s.compactions,
            tool_errors: s.tool_errors,
            api_errors: s.api_errors,
            tools: s.tool_calls.into_iter().collect(),
            tokens: s.tokens.iter().map(|(m, t)| (m.clone(), quad(t))).collect(),
            days: s
                .days
                .iter()
                .map(|(d, by)| (d.clone(), by.iter().map(|(m, t)| (m.clone(), quad(t))).collect()))
                .collect(),
            sub_tokens: s.subagent_tokens.iter().map(|(m, t)| (m.clone(), quad(t))).collect(),
            rev: String::new(),
            deleted: false,
            sealed: false,
        }
    }

    /// What a sealed session's entry may say: only the fields its sealed meta.json keeps in
    /// clear (ids, times, sizes); no agent, model, tokens or tools.
    pub fn sealed_from_meta(meta: &Meta) -> Entry {
        let full = Entry::from_meta(meta);
        Entry {
            id: full.id,
            harness: full.harness,
            started: full.started,
            first_upload: full.first_upload,
            last_upload: full.last_upload,
            ended: full.ended,
            parts: full.parts,
            bytes: full.bytes,
            sealed: true,
            ..Entry::default()
        }
    }

    /// From a session's listing alone (no meta.json).
    pub fn from_objects(s: &SessionObjects) -> Entry {
        Entry {
            id: s.id.clone(),
            harness: crate::session::layout::HARNESS.to_string(),
            parent: split_id(&s.id).map(|(p, _)| p.to_string()),
            first_upload: s.first_upload(),
            last_upload: s.last_upload(),
            parts: s.parts.len() as u64,
            bytes: s.part_bytes(),
            ..Entry::default()
        }
    }

    /// The parent session id: recorded, or from a subagent's id.
    pub fn parent_id(&self) -> Option<&str> {
        self.parent.as_deref().or_else(|| split_id(&self.id).map(|(p, _)| p))
    }

    /// The same summary, whatever `rev` says.
    fn same_as(&self, o: &Entry) -> bool {
        let mut a = self.clone();
        a.rev.clone_from(&o.rev);
        a == *o
    }

    /// The UTC day (`YYYY-MM-DD`) of its last upload (else start, else `rev`).
    fn activity_day(&self) -> Option<String> {
        [&self.last_upload, &self.started, &Some(self.rev.clone())]
            .into_iter()
            .flatten()
            .find_map(|s| parse_rfc3339(s))
            .map(day_of)
    }
}

/// `YYYY-MM-DD` of a time, in UTC.
pub fn day_of(t: time::OffsetDateTime) -> String {
    let d = t.to_offset(time::UtcOffset::UTC).date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// One index object.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Doc {
    pub v: u32,
    /// The writer's agent id (unsanitised).
    pub agent: String,
    /// `YYYY-MM` (month object) or `YYYY-MM-DD` (day object).
    pub period: String,
    /// Month object: it holds every entry indexed up to this day (inclusive, as of writing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub through: Option<String>,
    pub entries: Vec<Entry>,
}

/// What a key under `<project>/@index/` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexKey {
    pub agent: String,
    /// `YYYY-MM`
    pub month: String,
    /// `Some(YYYY-MM-DD)` for a day object.
    pub day: Option<String>,
}

/// Parse `<prefix><agent>/<YYYY-MM>[-DD].json`; `None` for anything else.
pub fn parse_key(prefix: &str, key: &str) -> Option<IndexKey> {
    let rest = key.strip_prefix(prefix)?;
    let (agent, name) = rest.split_once('/')?;
    let period = name.strip_suffix(".json")?;
    if agent.is_empty() || name.contains('/') {
        return None;
    }
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let b = period.as_bytes();
    let month_ok = b.len() >= 7 && digits(&period[..4]) && b[4] == b'-' && digits(&period[5..7]);
    match b.len() {
        7 if month_ok => Some(IndexKey { agent: agent.into(), month: period.into(), day: None }),
        10 if month_ok && b[7] == b'-' && digits(&period[8..]) => {
            Some(IndexKey { agent: agent.into(), month: period[..7].into(), day: Some(period.into()) })
        }
        _ => None,
    }
}

fn key_of(prefix: &str, agent_seg: &str, period: &str) -> String {
    format!("{prefix}{agent_seg}/{period}.json")
}

// ---------------------------------------------------------------------------------------
// Writing

/// This machine's local copy of one month of its index.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct LocalMonth {
    /// Entries by the day they were indexed, each session once (its newest).
    days: BTreeMap<String, BTreeMap<String, Entry>>,
    /// The day the month object was last written.
    month_put_on: Option<String>,
    /// A write of this month failed: the next write sends it even if nothing changed.
    dirty: bool,
}

impl LocalMonth {
    fn entry(&self, id: &str) -> Option<&Entry> {
        self.days.values().rev().find_map(|d| d.get(id))
    }

    fn insert(&mut self, day: &str, e: Entry) {
        for d in self.days.values_mut() {
            d.remove(&e.id);
        }
        self.days.retain(|_, d| !d.is_empty());
        self.days.entry(day.to_string()).or_default().insert(e.id.clone(), e);
    }

    fn all(&self) -> Vec<Entry> {
        let mut v: Vec<Entry> = self.days.values().flat_map(|d| d.values().cloned()).collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }
}

/// Writes this machine's index objects for one destination.
pub struct Writer<'a> {
    pub store: &'a dyn Store,
    pub project: &'a str,
    /// This machine's agent id ([`this_agent`]).
    pub agent: String,
    /// `~/.tracecraft/state/index/<hash of destination and agent>/`
    pub dir: PathBuf,
}

/// How long a writer waits for another one on this machine.
const LOCK_WAIT: Duration = Duration::from_secs(10);

impl<'a> Writer<'a> {
    /// A writer for `project` in `store`; `dest` identifies the destination (`Config::dest_id`).
    pub fn new(store: &'a dyn Store, project: &'a str, dest: &str, agent: String, state_dir: &Path) -> Writer<'a> {
        let h = hex(&<sha2::Sha256 as sha2::Digest>::digest(format!("{dest}\n{project}\n{agent}").as_bytes())[..8]);
        Writer { store, project, agent, dir: state_dir.join("index").join(h) }
    }

    fn local_path(&self, month: &str) -> PathBuf {
        self.dir.join(format!("{month}.json"))
    }

    fn load(&self, month: &str) -> Option<LocalMonth> {
        let bytes = std::fs::read(self.local_path(month)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn save(&self, month: &str, m: &LocalMonth) -> Result<()> {
        let bytes = serde_json::to_vec(m).map_err(|e| Error::Invalid(e.to_string()))?;
        crate::base::fsutil::atomic_write(&self.local_path(month), &bytes, 0o600)
    }

    /// The local copy of `month`, seeded from the store when this machine has no copy of it
    /// nor of the month before (a fresh machine or lost state: once).
    fn month(&self, month: &str) -> Result<LocalMonth> {
        if let Some(m) = self.load(month) {
            return Ok(m);
        }
        // Months after the one this copy started in were all written from here.
        let origin = std::fs::read_to_string(self.dir.join("origin")).ok();
        if origin.as_deref().is_some_and(|o| month > o.trim()) {
            return Ok(LocalMonth::default());
        }
        let p = prefix(self.project);
        let seg = agent_segment(&self.agent);
        let mut m = LocalMonth::default();
        let listing = list_flat(self.store, &format!("{p}{seg}/{month}"))?;
        let keys: Vec<(IndexKey, &ObjectInfo)> = listing
            .iter()
            .filter_map(|o| parse_key(&p, &o.key).map(|k| (k, o)))
            .filter(|(k, _)| k.month == month)
            .collect();
        let through = keys.iter().find(|(k, _)| k.day.is_none()).and_then(|(_, o)| {
            let doc = self.store.get(&o.key).ok().flatten().and_then(|b| serde_json::from_slice::<Doc>(&b).ok())?;
            let through = doc.through.clone().unwrap_or_else(|| format!("{month}-01"));
            for e in doc.entries {
                m.insert(&through, e);
            }
            Some(through)
        });
        for (k, o) in &keys {
            let Some(day) = &k.day else { continue };
            if through.as_ref().is_some_and(|t| day < t) {
                continue;
            }
            if let Some(doc) = self.store.get(&o.key)?.and_then(|b| serde_json::from_slice::<Doc>(&b).ok()) {
                for e in doc.entries {
                    if m.entry(&e.id).is_none_or(|old| old.rev <= e.rev) {
                        m.insert(day, e);
                    }
                }
            }
        }
        m.month_put_on = through;
        Ok(m)
    }

    /// Record the entries of a flush (indexed today) and PUT at most one object. Entries
    /// equal to what the local copy holds send nothing.
    pub fn record(&self, entries: Vec<Entry>) -> Result<bool> {
        let _lock = crate::session::state::lock(&self.dir.join("@lock"), LOCK_WAIT)?;
        let now = now_rfc3339();
        let today = day_of(parse_rfc3339(&now).unwrap_or_else(time::OffsetDateTime::now_utc));
        let month = today[..7].to_string();
        self.send_held_month(&month)?;
        let mut m = self.month(&month)?;
        if !self.dir.join("origin").exists() {
            crate::base::fsutil::atomic_write(&self.dir.join("origin"), month.as_bytes(), 0o600)?;
        }
        let mut changed = m.dirty;
        // A session the index does not show yet, or one that just ended (or was deleted),
        // is sent now; a running session's progress waits for the next PUT of this machine
        // at least `interval()` after the last one (so a steady-state flush stays two
        // requests: the part and meta.json).
        let mut urgent = false;
        for mut e in entries {
            let old = m.entry(&e.id);
            if old.is_some_and(|old| e.same_as(old)) {
                continue;
            }
            urgent |= old.is_none_or(|old| old.ended != e.ended || old.deleted != e.deleted);
            e.rev.clone_from(&now);
            m.insert(&today, e);
            changed = true;
        }
        if !changed {
            return Ok(false);
        }
        let put_mark = self.dir.join("@put");
        let recent = std::fs::metadata(&put_mark)
            .and_then(|md| md.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age < interval());
        if !urgent && recent {
            m.dirty = true;
            self.save(&month, &m)?;
            crate::base::fsutil::atomic_write(&self.dir.join("@held"), month.as_bytes(), 0o600)?;
            return Ok(false);
        }
        let earlier = m.days.keys().any(|d| *d < today);
        let doc = if earlier && m.month_put_on.as_deref() != Some(today.as_str()) {
            m.month_put_on = Some(today.clone());
            Doc {
                v: VERSION,
                agent: self.agent.clone(),
                period: month.clone(),
                through: Some(today.clone()),
                entries: m.all(),
            }
        } else {
            let entries = m.days.get(&today).map(|d| d.values().cloned().collect()).unwrap_or_default();
            Doc { v: VERSION, agent: self.agent.clone(), period: today.clone(), through: None, entries }
        };
        m.dirty = true;
        self.save(&month, &m)?;
        self.put(&doc)?;
        m.dirty = false;
        self.save(&month, &m)?;
        crate::base::fsutil::atomic_write(&put_mark, now.as_bytes(), 0o600)?;
        Ok(true)
    }

    /// Entries held back in an earlier month (the last flushes of that month came within
    /// [`interval`] of a PUT): that month's object is sent whole before this month is touched.
    fn send_held_month(&self, month: &str) -> Result<()> {
        let held = self.dir.join("@held");
        let Ok(h) = std::fs::read_to_string(&held) else { return Ok(()) };
        let h = h.trim().to_string();
        if h == month {
            return Ok(());
        }
        if let Some(mut m) = self.load(&h).filter(|m| m.dirty) {
            let through = m.days.keys().next_back().cloned().unwrap_or_else(|| format!("{h}-01"));
            let doc = Doc {
                v: VERSION,
                agent: self.agent.clone(),
                period: h.clone(),
                through: Some(through.clone()),
                entries: m.all(),
            };
            self.put(&doc)?;
            m.dirty = false;
            m.month_put_on = Some(through);
            self.save(&h, &m)?;
        }
        let _ = std::fs::remove_file(&held);
        Ok(())
    }

    /// `reindex`: merge entries (each under the day of its last activity) into the local
    /// copies and PUT the month object of every month touched (`through` = its last day).
    /// Returns the objects written.
    pub fn record_history(&self, entries: Vec<Entry>) -> Result<usize> {
        let _lock = crate::session::state::lock(&self.dir.join("@lock"), LOCK_WAIT)?;
        let now = now_rfc3339();
        let today = day_of(parse_rfc3339(&now).unwrap_or_else(time::OffsetDateTime::now_utc));
        let mut by_month: BTreeMap<String, Vec<(String, Entry)>> = BTreeMap::new();
        for mut e in entries {
            let day = e.activity_day().filter(|d| *d <= today).unwrap_or_else(|| today.clone());
            e.rev.clone_from(&now);
            by_month.entry(day[..7].to_string()).or_default().push((day, e));
        }
        let mut written = 0;
        for (month, list) in by_month {
            let mut m = self.month(&month)?;
            for (day, e) in list {
                m.insert(&day, e);
            }
            let through = m.days.keys().next_back().cloned().unwrap_or_else(|| format!("{month}-01"));
            // Later day objects of this month (today's) must still be read after it.
            let through = m.month_put_on.clone().map_or(through.clone(), |p| p.max(through));
            m.month_put_on = Some(through.clone());
            let doc = Doc {
                v: VERSION,
                agent: self.agent.clone(),
                period: month.clone(),
                through: Some(through),
                entries: m.all(),
            };
            m.dirty = true;
            self.save(&month, &m)?;
            self.put(&doc)?;
            m.dirty = false;
            self.save(&month, &m)?;
            written += 1;
        }
        Ok(written)
    }

    fn put(&self, doc: &Doc) -> Result<()> {
        let key = key_of(&prefix(self.project), &agent_segment(&self.agent), &doc.period);
        let body = serde_json::to_vec(doc).map_err(|e| Error::Invalid(e.to_string()))?;
        self.store.put(&key, &body, &Cond::None).map(|_| ())
    }
}

// ---------------------------------------------------------------------------------------
// Reading

/// What a reader asks for.
#[derive(Debug, Clone, Default)]
pub struct Want {
    /// Only objects of months at or after this one (`YYYY-MM`).
    pub from_month: Option<String>,
    /// `list`: stop once this many top-level, live sessions (of `agent`, when given) are
    /// known to be the most recent (0: read everything).
    pub most_recent: usize,
    pub agent: Option<String>,
    /// Without an index, the listing alone is enough (`list` reads the rows it shows).
    pub listing_will_do: bool,
}

/// The index as read.
#[derive(Debug, Default)]
pub struct Read {
    /// Newest entry of every session seen (tombstones removed), by id.
    pub entries: Vec<Entry>,
    /// Index objects found in the listing.
    pub objects: usize,
    /// Objects fetched from the store (not from the local cache).
    pub fetched: usize,
    /// Keys of objects that could not be read (not JSON, wrong shape).
    pub damaged: Vec<String>,
}

impl Read {
    /// No index object at all: the project was never indexed (Python CLI, older versions).
    pub fn is_empty(&self) -> bool {
        self.objects == 0
    }
}

/// The local cache of index objects a reader fetched (`~/.tracecraft/cache/index/`).
fn cache_file(cache: &Path, info: &ObjectInfo) -> PathBuf {
    let tag = format!(
        "{}\n{}\n{}",
        info.key,
        info.size,
        info.etag.as_deref().or(info.last_modified.as_deref()).unwrap_or("")
    );
    cache.join(hex(&<sha2::Sha256 as sha2::Digest>::digest(tag.as_bytes())[..16]))
}

/// Read the index of `project` (see the module documentation for which objects).
pub fn read(store: &dyn Store, project: &str, cache: Option<&Path>, want: &Want) -> Result<Read> {
    let p = prefix(project);
    let listing = list_flat(store, &p)?;
    let mut out = Read::default();
    // agent -> month -> (month object, day objects)
    type Month<'l> = (Option<&'l ObjectInfo>, Vec<(String, &'l ObjectInfo)>);
    let mut tree: BTreeMap<String, BTreeMap<String, Month<'_>>> = BTreeMap::new();
    for o in &listing {
        let Some(k) = parse_key(&p, &o.key) else { continue };
        out.objects += 1;
        let slot = tree.entry(k.agent).or_default().entry(k.month).or_default();
        match k.day {
            None => slot.0 = Some(o),
            Some(d) => slot.1.push((d, o)),
        }
    }
    let months: Vec<String> = {
        let all: BTreeSet<String> = tree.values().flat_map(|m| m.keys().cloned()).collect();
        all.into_iter().rev().filter(|m| want.from_month.as_ref().is_none_or(|f| m >= f)).collect()
    };
    // `list` reads month by month from the newest and stops early; `stats` reads them all at
    // once (month objects first: they say which day objects are still needed).
    let rounds: Vec<&[String]> =
        if want.most_recent > 0 { months.chunks(1).collect() } else { vec![months.as_slice()] };
    let mut best: HashMap<String, Entry> = HashMap::new();
    for round in rounds {
        let month_objs: Vec<(&str, &ObjectInfo)> = round
            .iter()
            .flat_map(|m| {
                tree.iter().filter_map(move |(agent, ms)| ms.get(m).and_then(|(mo, _)| mo.map(|o| (agent.as_str(), o))))
            })
            .collect();
        let mut throughs: HashMap<(String, String), String> = HashMap::new();
        fetch_each(store, cache, &month_objs.iter().map(|(_, o)| *o).collect::<Vec<_>>(), |i, got| {
            let (agent, o) = month_objs[i];
            if let Some(t) = absorb(&mut best, o, got, &mut out) {
                let month = parse_key(&p, &o.key).map(|k| k.month).unwrap_or_default();
                throughs.insert((agent.to_string(), month), t);
            }
        });
        let day_objs: Vec<&ObjectInfo> = round
            .iter()
            .flat_map(|m| {
                let throughs = &throughs;
                tree.iter().filter_map(move |(agent, ms)| ms.get(m).map(|(_, days)| (agent, m, days))).flat_map(
                    move |(agent, m, days)| {
                        let t = throughs.get(&(agent.clone(), m.clone()));
                        days.iter().filter(move |(d, _)| t.is_none_or(|t| d >= t)).map(|(_, o)| *o)
                    },
                )
            })
            .collect();
        fetch_each(store, cache, &day_objs, |i, got| {
            absorb(&mut best, day_objs[i], got, &mut out);
        });
        if want.most_recent > 0 {
            // Entries in older months were all last updated before this month began.
            let start = parse_rfc3339(&format!("{}-01T00:00:00Z", round[0]));
            let recent = best
                .values()
                .filter(|e| !e.deleted && e.parent_id().is_none())
                .filter(|e| want.agent.as_ref().is_none_or(|a| e.agent.as_deref() == Some(a.as_str())))
                .filter(|e| match (e.last_upload.as_deref().and_then(parse_rfc3339), start) {
                    (Some(t), Some(s)) => t >= s,
                    _ => false,
                })
                .count();
            if recent >= want.most_recent {
                break;
            }
        }
    }
    out.entries = best.into_values().filter(|e| !e.deleted).collect();
    out.entries.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Merge a fetched object's entries into `best` (the newest `rev` of each session wins);
/// returns a month object's `through`.
fn absorb(
    best: &mut HashMap<String, Entry>,
    o: &ObjectInfo,
    got: std::result::Result<Fetched, String>,
    out: &mut Read,
) -> Option<String> {
    match got {
        Err(why) => {
            out.damaged.push(format!("{} ({why})", o.key));
            None
        }
        Ok(f) => {
            out.fetched += usize::from(f.from_store);
            for e in f.doc.entries {
                if !e.id.is_empty() && best.get(&e.id).is_none_or(|old| old.rev < e.rev) {
                    best.insert(e.id.clone(), e);
                }
            }
            f.doc.through
        }
    }
}

struct Fetched {
    doc: Doc,
    from_store: bool,
}

/// GET (or read from the local cache) and parse each object, [`PARALLEL`] at a time, handing
/// each result to `done(i, result)` as it arrives (on this thread), so only the objects in
/// flight are held in memory.
fn fetch_each(
    store: &dyn Store,
    cache: Option<&Path>,
    objs: &[&ObjectInfo],
    mut done: impl FnMut(usize, std::result::Result<Fetched, String>),
) {
    const PARALLEL: usize = 16;
    let one = |o: &ObjectInfo| -> std::result::Result<Fetched, String> {
        // A store that is a directory is its own cache.
        let cached = cache.filter(|_| store.local_path(&o.key).is_none()).map(|c| cache_file(c, o));
        if let Some(bytes) = cached.as_ref().and_then(|f| std::fs::read(f).ok()) {
            if let Ok(doc) = serde_json::from_slice::<Doc>(&bytes) {
                return Ok(Fetched { doc, from_store: false });
            }
        }
        let bytes = match store.get(&o.key) {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(Fetched { doc: Doc::default(), from_store: true }), // deleted since the listing
            Err(e) => return Err(e.to_string()),
        };
        let doc: Doc = serde_json::from_slice(&bytes).map_err(|e| format!("not an index object: {e}"))?;
        if doc.v != VERSION {
            return Err(format!("index format {} (this version reads {VERSION})", doc.v));
        }
        if let Some(f) = cached {
            if let Some(dir) = f.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = crate::base::fsutil::atomic_write(&f, &bytes, 0o600);
        }
        Ok(Fetched { doc, from_store: true })
    };
    if objs.is_empty() {
        return;
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, std::result::Result<Fetched, String>)>(PARALLEL);
    std::thread::scope(|s| {
        for _ in 0..PARALLEL.min(objs.len()) {
            let tx = tx.clone();
            let (next, one) = (&next, &one);
            s.spawn(move || loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(o) = objs.get(i) else { break };
                if tx.send((i, one(o))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (i, got) in rx {
            done(i, got);
        }
    });
}

/// Every object under `prefix` (index keys only). Asked with a delimiter that never occurs
/// in index keys, so the answer is the flat listing, while a server that walks directories
/// for a listing (s3s-fs) walks only the index's, not every session's.
fn list_flat(store: &dyn Store, prefix: &str) -> Result<Vec<ObjectInfo>> {
    store.list_delimited(prefix, "~").map(|(objects, _)| objects)
}

/// Where readers keep the index objects they fetched, by destination.
pub fn cache_dir(cfg: &crate::config::Config) -> Option<PathBuf> {
    crate::base::paths::tracecraft_dir().ok().map(|d| d.join("cache").join("index").join(cfg.dest_id()))
}

/// Folders of the Python CLI (and ours) under a project: never projects themselves.
const NOT_PROJECTS: &[&str] = &["sessions/", "@index/", "agents/", "steps/", "messages/", "memory/", "artifacts/"];

/// The projects of a bucket: the folders holding `sessions/` or `@index/`, found with
/// delimited listings, one per folder visited (nested projects `team/p` down to 4 levels).
pub fn projects(store: &dyn Store) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut queue: Vec<(String, usize)> = vec![(String::new(), 0)];
    while let Some((dir, depth)) = queue.pop() {
        let (_, subdirs) = store.list_delimited(&dir, "/")?;
        let names: Vec<&str> = subdirs.iter().filter_map(|d| d.strip_prefix(dir.as_str())).collect();
        if !dir.is_empty() && names.iter().any(|n| *n == "sessions/" || *n == "@index/") {
            out.push(dir.trim_end_matches('/').to_string());
        }
        if depth < 4 {
            for n in names {
                if !NOT_PROJECTS.contains(&n) && crate::config::validate_project(n.trim_end_matches('/')).is_ok() {
                    queue.push((format!("{dir}{n}"), depth + 1));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Where a view's entries came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The index objects.
    Index,
    /// Every session's meta.json (no index, or a damaged one): why.
    Scan(String),
}

/// The sessions of a project as summaries, from the index when there is a sound one, else
/// from meta.json (the answer is the same; only the cost differs).
#[derive(Debug)]
pub struct View {
    pub entries: Vec<Entry>,
    pub source: Source,
    /// Index objects listed.
    pub objects: usize,
    /// Sessions whose meta.json could not be read or opened (warnings, already printed).
    pub unreadable: usize,
}

/// The summaries of `cat`'s project (see [`View`]). `cache`: where fetched index objects
/// are kept by ETag.
pub fn view(cat: &Catalog<'_>, cache: Option<&Path>, want: &Want) -> Result<View> {
    let r = read(cat.store, cat.project, cache, want)?;
    if r.is_empty() {
        if want.listing_will_do {
            return listing(cat, "no index yet (run `tracecraft-hook reindex` once to make this fast)".into());
        }
        return scan(cat, "no index yet (run `tracecraft-hook reindex` once to make this fast)".into());
    }
    if !r.damaged.is_empty() {
        let why = format!(
            "damaged index object{} {}; run `tracecraft-hook reindex`",
            if r.damaged.len() == 1 { "" } else { "s" },
            r.damaged.join(", ")
        );
        let mut v = if want.listing_will_do { listing(cat, why)? } else { scan(cat, why)? };
        v.objects = r.objects;
        return Ok(v);
    }
    let mut v = View { objects: r.objects, entries: r.entries, source: Source::Index, unreadable: 0 };
    // Sealed sessions: their numbers are only in their (sealed) meta.json.
    let sealed: Vec<usize> = (0..v.entries.len()).filter(|&i| v.entries[i].sealed).collect();
    if !sealed.is_empty() {
        let objs: Vec<SessionObjects> = sealed
            .iter()
            .map(|&i| SessionObjects {
                id: v.entries[i].id.clone(),
                meta: Some(ObjectInfo { key: String::new(), size: 0, last_modified: None, etag: None }),
                ..Default::default()
            })
            .collect();
        for (&i, m) in sealed.iter().zip(cat.metas(&objs)) {
            match m {
                Ok(Some(meta)) => {
                    let mut e = Entry::from_meta(&meta);
                    e.rev = std::mem::take(&mut v.entries[i].rev);
                    v.entries[i] = e;
                }
                Ok(None) => {}
                Err(e @ Error::Invalid(_)) => {
                    eprintln!("warning: {e}");
                    v.unreadable += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(v)
}

/// Every session from one listing alone (ids, parts, sizes, upload times; no meta.json).
pub fn listing(cat: &Catalog<'_>, why: String) -> Result<View> {
    let entries = cat.sessions()?.iter().map(Entry::from_objects).collect();
    Ok(View { entries, source: Source::Scan(why), objects: 0, unreadable: 0 })
}

/// Every session's summary from its meta.json (one listing, one GET per session).
pub fn scan(cat: &Catalog<'_>, why: String) -> Result<View> {
    let sessions = cat.sessions()?;
    let metas = cat.metas(&sessions);
    let mut v =
        View { entries: Vec::with_capacity(sessions.len()), source: Source::Scan(why), objects: 0, unreadable: 0 };
    for (s, m) in sessions.iter().zip(metas) {
        let e = match m {
            Ok(Some(meta)) => {
                let mut e = Entry::from_meta(&meta);
                if e.first_upload.is_none() {
                    e.first_upload = s.first_upload();
                }
                if e.parts == 0 {
                    e.parts = s.parts.len() as u64;
                    e.bytes = s.part_bytes();
                }
                e.id.clone_from(&s.id);
                e
            }
            Ok(None) => Entry::from_objects(s),
            Err(e @ Error::Invalid(_)) => {
                eprintln!("warning: {e}");
                v.unreadable += 1;
                Entry::from_objects(s)
            }
            Err(e) => return Err(e),
        };
        v.entries.push(e);
    }
    Ok(v)
}

/// How the index compares with the sessions in the store (`doctor`, `reindex`).
#[derive(Debug, Default)]
pub struct Audit {
    pub objects: usize,
    pub damaged: Vec<String>,
    /// Sessions in the store (subagents included).
    pub sessions: usize,
    /// Sessions with no live entry.
    pub missing: Vec<String>,
    /// Live entries whose session has no object any more.
    pub gone: Vec<String>,
}

/// Compare the index of `project` with one listing of its sessions.
pub fn audit(store: &dyn Store, project: &str) -> Result<Audit> {
    let r = read(store, project, None, &Want::default())?;
    let listed: BTreeSet<String> = crate::session::catalog::group(
        &crate::session::layout::sessions_prefix(project),
        store.list(&crate::session::layout::sessions_prefix(project))?,
    )
    .into_iter()
    .map(|s| s.id)
    .collect();
    let indexed: BTreeSet<String> = r.entries.iter().map(|e| e.id.clone()).collect();
    Ok(Audit {
        objects: r.objects,
        damaged: r.damaged,
        sessions: listed.len(),
        missing: listed.difference(&indexed).cloned().collect(),
        gone: indexed.difference(&listed).cloned().collect(),
    })
}

/// `reindex`: every session's entry from its meta.json (sealed ones as [`Entry::sealed_from_meta`]
/// when `seal`), tombstones for entries whose session is gone, all written by this machine's
/// writer into its month objects. Returns (sessions, tombstones, objects written).
pub fn reindex(cat: &Catalog<'_>, w: &Writer<'_>, seal: bool) -> Result<(usize, usize, usize)> {
    let old = read(cat.store, cat.project, None, &Want::default())?;
    let sessions = cat.sessions()?;
    let metas = cat.metas(&sessions);
    let mut entries = Vec::with_capacity(sessions.len());
    for (s, m) in sessions.iter().zip(metas) {
        let mut e = match m {
            Ok(Some(meta)) if seal => Entry::sealed_from_meta(&meta),
            Ok(Some(meta)) => Entry::from_meta(&meta),
            Ok(None) => Entry::from_objects(s),
            Err(e @ Error::Invalid(_)) => {
                eprintln!("warning: {e}");
                Entry::from_objects(s)
            }
            Err(e) => return Err(e),
        };
        e.id.clone_from(&s.id);
        if e.first_upload.is_none() {
            e.first_upload = s.first_upload();
        }
        if e.last_upload.is_none() {
            e.last_upload = s.last_upload();
        }
        entries.push(e);
    }
    let live: BTreeSet<&str> = sessions.iter().map(|s| s.id.as_str()).collect();
    let gone: Vec<Entry> = old
        .entries
        .iter()
        .filter(|e| !live.contains(e.id.as_str()))
        .map(|e| Entry { id: e.id.clone(), last_upload: e.last_upload.clone(), deleted: true, ..Entry::default() })
        .collect();
    let (n, g) = (entries.len(), gone.len());
    entries.extend(gone);
    let written = w.record_history(entries)?;
    // Damaged objects are garbage: every session they named is in the objects just written.
    for d in &old.damaged {
        let key = d.split(" (").next().unwrap_or(d);
        cat.store.delete(key)?;
    }
    Ok((n, g, written))
}

/// The first instant of `YYYY-MM` of a time (for `Want::from_month`).
pub fn month_of(t: time::OffsetDateTime) -> String {
    day_of(t)[..7].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_never_look_like_sessions() {
        let p = prefix("team/p");
        assert_eq!(p, "team/p/@index/");
        assert_eq!(
            parse_key(&p, "team/p/@index/me/2026-03.json"),
            Some(IndexKey { agent: "me".into(), month: "2026-03".into(), day: None })
        );
        assert_eq!(parse_key(&p, "team/p/@index/me/2026-03-09.json").unwrap().day.as_deref(), Some("2026-03-09"));
        for bad in ["team/p/@index/me/2026-3.json", "team/p/@index/me/x/2026-03.json", "team/p/@index/2026-03.json"] {
            assert_eq!(parse_key(&p, bad), None, "{bad}");
        }
        assert!(crate::config::validate_project("team/p/@index").is_err());
        assert!(crate::session::layout::validate_id("@index").is_err());
    }

    #[test]
    fn agent_segments_are_key_safe_and_distinct() {
        assert_eq!(agent_segment("alice-laptop"), "alice-laptop");
        let a = agent_segment("alice/laptop");
        let b = agent_segment("alice?laptop");
        assert_ne!(a, b);
        assert!(a.starts_with("alice-laptop-"), "{a}");
        assert!(!agent_segment("..").contains(".."));
        assert!(!agent_segment("").is_empty());
    }

    #[test]
    fn a_running_sessions_progress_is_held_until_the_interval_and_ends_are_sent_at_once() {
        let tmp = std::env::temp_dir().join(format!("tc-index-held-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let store = crate::store::local::LocalStore::new(tmp.join("store"));
        let w = Writer::new(&store, "p", "local", "me".into(), &tmp.join("state"));
        let e = |parts: u64, ended: Option<&str>| Entry {
            id: "s1".into(),
            harness: "claude-code".into(),
            parts,
            ended: ended.map(String::from),
            ..Entry::default()
        };
        let stored = |period: &str| -> Option<Doc> {
            let b = store.get(&key_of(&prefix("p"), "me", period)).unwrap()?;
            Some(serde_json::from_slice(&b).unwrap())
        };
        let today = day_of(time::OffsetDateTime::now_utc());
        let month = today[..7].to_string();
        // A new session is indexed at once.
        assert!(w.record(vec![e(1, None)]).unwrap());
        assert_eq!(stored(&today).unwrap().entries[0].parts, 1);
        // Its progress within the interval is held locally (no request) ...
        assert!(!w.record(vec![e(2, None)]).unwrap());
        assert_eq!(stored(&today).unwrap().entries[0].parts, 1);
        assert!(w.dir.join("@held").exists());
        // ... and sent whole when a later month is first touched.
        w.send_held_month("2999-01").unwrap();
        assert_eq!(stored(&month).unwrap().entries.iter().find(|x| x.id == "s1").unwrap().parts, 2);
        assert!(!w.dir.join("@held").exists());
        // The end of a session is sent at once.
        assert!(w.record(vec![e(3, Some("2026-11-29T00:00:00+00:00"))]).unwrap());
        let doc = stored(&today).unwrap();
        assert_eq!(doc.entries[0].parts, 3);
        assert!(doc.entries[0].ended.is_some());
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
