//! The flush engine: moves the new bytes of one transcript into the store, exactly once.
//!
//! Under the session lock, one flush: loads the local state (or recovers it from meta.json
//! and a listing), checks that the uploaded prefix was not rewritten (repairing the store
//! if it was), then for each chunk of whole new lines: redact, PUT the part under a key fixed
//! by (session, seq, start offset), record it, advance the cursor. meta.json goes up last.
//!
//! Why it is exactly-once: the cursor only moves after the server acknowledged the part,
//! and a retry after any crash re-derives the same key for the same start offset, so it
//! overwrites instead of adding. Parts that a crash left beyond what meta.json/state know
//! are deleted before anything new is written after them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::base::error::{test_point, Error, Result};
use crate::base::redact::Redactor;
use crate::base::util::{now_rfc3339, sha256_hex};
use crate::config::Config;
use crate::session::insight::Stats;
use crate::session::layout::{
    meta_key_in, parse_part_name, part_hex, part_name, session_prefix_in, validate_id, MAX_SEQ,
};
use crate::session::meta::extra::{merge_meta, ChildRef, SubagentOf};
use crate::session::meta::{Meta, PartEntry, WRITER};
use crate::session::state::{self, OpenPart, State, StatePaths};
use crate::session::transcript::Transcript;
use crate::session::Session;
use crate::store::{Cond, Store};

/// What SessionStart tells us.
#[derive(Debug, Clone, Default)]
pub struct StartInfo {
    pub source: Option<String>,
    pub model: Option<String>,
}

/// How to flush.
#[derive(Debug, Clone)]
pub struct FlushOpts {
    /// Send a partial last line too and stamp `ended_at`.
    pub final_: bool,
    /// SessionEnd's reason (with `final_`).
    pub reason: Option<String>,
    /// SessionStart data to record.
    pub start: Option<StartInfo>,
    /// How long to wait for another flush of the same session.
    pub lock_wait: Duration,
    /// This session is a subagent's transcript: what its meta.json records about it.
    pub subagent: Option<SubagentOf>,
    /// Subagents to list in this (parent) session's meta.json.
    pub subagents: Vec<ChildRef>,
}

impl Default for FlushOpts {
    fn default() -> Self {
        FlushOpts {
            final_: false,
            reason: None,
            start: None,
            lock_wait: Duration::from_secs(30),
            subagent: None,
            subagents: Vec::new(),
        }
    }
}

/// What a flush did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub parts: Vec<PartEntry>,
    pub cursor: u64,
    pub ended: bool,
    pub repaired: bool,
    pub meta_written: bool,
    pub transcript_missing: bool,
}

impl Outcome {
    /// Source bytes sent.
    pub fn source_bytes(&self) -> u64 {
        self.parts.iter().filter_map(|p| p.source_bytes).sum()
    }
    /// Bytes stored (after redaction).
    pub fn uploaded_bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.uploaded_bytes).sum()
    }
    /// Redactions made.
    pub fn redactions(&self) -> u64 {
        self.parts.iter().flat_map(|p| p.redactions.iter().flatten()).map(|(_, v)| v).sum()
    }
}

/// A configured destination ready to flush sessions into.
pub struct Mirror<'a> {
    pub cfg: &'a Config,
    pub store: &'a dyn Store,
    pub redactor: Option<Redactor>,
    pub state_dir: PathBuf,
    /// Show a progress line for big deltas (people's commands; never the hook).
    pub progress: bool,
    /// Client-side encryption: parts and meta.json are sealed when it has recipients.
    pub keys: crate::session::seal::Keys,
}

impl<'a> Mirror<'a> {
    /// Build a mirror; `redact` overrides the config's setting when given.
    pub fn new(cfg: &'a Config, store: &'a dyn Store, state_dir: PathBuf, redact: Option<bool>) -> Result<Self> {
        let redactor = if redact.unwrap_or(cfg.redact) { Some(Redactor::new(&cfg.extra_patterns)?) } else { None };
        Ok(Mirror {
            cfg,
            store,
            redactor,
            state_dir,
            progress: false,
            keys: crate::session::seal::Keys::for_config(cfg),
        })
    }

    fn prefix(&self, s: &Session) -> String {
        session_prefix_in(&self.cfg.project, s.harness, &s.id)
    }

    /// The local state directory of `s`'s harness (`state::dir_for`).
    pub fn state_dir_of(&self, s: &Session) -> PathBuf {
        state::dir_for(&self.state_dir, s.harness)
    }

    /// Flush one session. See the module documentation for the protocol.
    pub fn flush(&self, s: &Session, opts: &FlushOpts) -> Result<Outcome> {
        validate_id(&s.id)?;
        let sdir = self.state_dir_of(s);
        let paths = StatePaths::new(&sdir, &s.id);
        let _lock = state::lock(&paths.lock, opts.lock_wait)?;
        state::migrate_legacy(&sdir, &s.id);
        let dest = self.cfg.dest_id();
        crate::session::journal::settle(self.store, &self.cfg.project, &dest, &sdir, &s.id)?;

        let mut out = Outcome::default();
        let mut transcript = match Transcript::open(&s.transcript) {
            Ok(t) => Some(t),
            Err(e) if e.is_not_found() => {
                out.transcript_missing = true;
                None
            }
            Err(e) => return Err(e),
        };

        // Local state for this destination, or recover it from the store.
        let loaded = state::load(&paths.state).filter(|st| st.dest == dest && st.session_id == s.id);
        let (mut st, mut meta) = match loaded {
            Some(st) => {
                let meta = match state::load_meta(&paths.meta) {
                    Some(m) => m,
                    None => self.fetch_meta(s)?.unwrap_or_else(|| Meta::new_in(&s.id, s.harness)),
                };
                (st, meta)
            }
            None => {
                if transcript.is_none() && opts.start.is_none() && !opts.final_ {
                    return Ok(out); // nothing to record yet (transcript not created)
                }
                let (st, meta, repaired) = self.recover(s, &dest, transcript.as_mut())?;
                out.repaired = repaired;
                (st, meta)
            }
        };
        st.transcript = s.transcript.clone();
        // Before any chunk is counted: the harness decides how its lines are read.
        meta.harness = s.harness.dir().to_string();
        if s.cwd.is_some() {
            st.cwd = s.cwd.clone();
        }

        let mut meta_changed = st.meta_dirty;
        if meta.started_at.is_none() {
            meta.started_at = Some(now_rfc3339());
            meta_changed = true;
        }
        if let Some(start) = &opts.start {
            meta.start_source = start.source.clone().or(meta.start_source.take());
            meta.model = start.model.clone().or(meta.model.take());
            if matches!(start.source.as_deref(), Some("resume" | "compact" | "fork")) && meta.ended_at.is_some() {
                meta.ended_at = None;
                meta.end_reason = None;
                st.ended = false;
            }
            meta_changed = true;
        }

        if let Some(t) = transcript.as_mut() {
            if !t.prefix_intact(st.cursor, &st.fingerprint)? {
                self.repair(s, &paths, &mut st, &mut meta, t)?;
                out.repaired = true;
                meta_changed = true;
            }
            self.upload_chunks(s, &paths, &mut st, &mut meta, t, opts.final_, &mut out)?;
            if !out.parts.is_empty() {
                meta_changed = true;
                if !opts.final_ && meta.ended_at.is_some() {
                    // The session went on after being marked ended (e.g. resumed).
                    meta.ended_at = None;
                    meta.end_reason = None;
                    st.ended = false;
                }
            }
            st.seen_len = t.len;
            st.seen_mtime_ns = t.mtime_ns;
        }

        if opts.final_ && (meta.ended_at.is_none() || opts.reason.is_some() && meta.end_reason != opts.reason) {
            if meta.ended_at.is_none() {
                meta.ended_at = Some(now_rfc3339());
            }
            if opts.reason.is_some() {
                meta.end_reason = opts.reason.clone();
            }
            meta_changed = true;
        }
        if opts.final_ {
            st.ended = true;
        }
        meta_changed |= crate::session::meta::extra::annotate(
            &mut meta,
            opts.subagent.as_ref(),
            &opts.subagents,
            &self.cfg.project,
            |id| {
                state::load_meta(&StatePaths::new(&sdir, id).meta).as_ref().and_then(Stats::from_meta).map(|s| s.tokens)
            },
        );

        if meta_changed {
            meta.session_id = s.id.clone();
            meta.harness = s.harness.dir().to_string();
            meta.source_path = Some(s.transcript.to_string_lossy().into_owned());
            if let Some(cwd) = &s.cwd {
                meta.cwd = Some(cwd.to_string_lossy().into_owned());
            }
            if self.cfg.agent_id.is_some() {
                meta.agent_id = self.cfg.agent_id.clone();
            }
            meta.writer = Some(WRITER.to_string());
            // Paths, branch, model, subagent descriptions, sidecars...: copied from local
            // files and payloads, so redacted like the transcript before they leave.
            if let Some(r) = &self.redactor {
                redact_meta(r, &mut meta);
            }
            st.meta_dirty = true;
            state::save_meta(&paths.meta, &meta)?;
            self.save_state(&paths, &mut st)?;
            test_point("before_meta_put")?;
            self.put_meta(s, &mut meta, &mut st)?;
            state::save_meta(&paths.meta, &meta)?;
            test_point("after_meta_put")?;
            st.meta_dirty = false;
            out.meta_written = true;
            self.update_index(&meta);
        }
        self.save_state(&paths, &mut st)?;
        // Whatever a failed hook left pending has now been sent.
        let _ = std::fs::remove_file(&paths.failed);
        out.cursor = st.cursor;
        out.ended = st.ended;
        Ok(out)
    }

    /// Upload meta.json. When we know the version we wrote last, the write is conditional
    /// on it: if someone else rewrote meta.json meanwhile (tracecraft's `compact`, `stop` on
    /// another machine), their version is merged with ours instead of being overwritten.
    /// Servers that ignore `If-Match` just get the plain overwrite: the parts, not
    /// meta.json, are what replay reads, so correctness never depends on this.
    fn put_meta(&self, s: &Session, meta: &mut Meta, st: &mut State) -> Result<()> {
        let key = meta_key_in(&self.cfg.project, s.harness, &s.id);
        let mut cond = st.meta_etag.clone().map_or(Cond::None, Cond::IfMatch);
        for attempt in 0..4 {
            match self.store.put(&key, &crate::session::seal::meta_to_bytes(meta, &self.keys)?, &cond) {
                Ok(etag) => {
                    st.meta_etag = etag;
                    return Ok(());
                }
                Err(Error::Precondition { .. }) if attempt < 3 => {
                    let etag = self.store.head(&key)?.and_then(|o| o.etag);
                    match self.fetch_meta(s)? {
                        Some(remote) => {
                            *meta = merge_meta(remote, meta);
                            cond = etag.map_or(Cond::None, Cond::IfMatch);
                        }
                        None => cond = Cond::None,
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::Precondition { key })
    }

    /// The team index (`session::index`), after meta.json is durable: at most one small PUT,
    /// none when the session's summary did not change. A failure is logged, never the
    /// flush's: the index is a cache of meta.json, and the next update sends it again.
    fn update_index(&self, meta: &Meta) {
        use crate::session::index::{this_agent, Entry, Writer};
        let agent = this_agent(self.cfg.agent_id.as_deref());
        let w = Writer::new(self.store, &self.cfg.project, &self.cfg.dest_id(), agent, &self.state_dir);
        let entry = if self.keys.sealing() { Entry::sealed_from_meta(meta) } else { Entry::from_meta(meta) };
        if let Err(e) = w.record(vec![entry]) {
            crate::base::log::log("WARN", &format!("index of {} not updated: {e}", meta.session_id));
        }
    }

    fn save_state(&self, paths: &StatePaths, st: &mut State) -> Result<()> {
        st.version = 1;
        state::save(&paths.state, st)
    }

    fn fetch_meta(&self, s: &Session) -> Result<Option<Meta>> {
        let key = meta_key_in(&self.cfg.project, s.harness, &s.id);
        match self.store.get(&key)? {
            None => Ok(None),
            Some(bytes) => {
                let what = format!("{key} in {}", self.store.describe());
                crate::session::seal::meta_from_bytes_lenient(&bytes, &self.keys, &what).map(Some)
            }
        }
    }

    /// Rebuild local state from meta.json and a listing (first flush here, lost state, new
    /// destination). Parts a crash left beyond meta.json are deleted; parts whose recorded
    /// source hash no longer matches the transcript are repaired.
    fn recover(&self, s: &Session, dest: &str, t: Option<&mut Transcript>) -> Result<(State, Meta, bool)> {
        let meta = self.fetch_meta(s)?;
        let listing = self.store.list_bounded(&self.prefix(s), crate::store::ListBound::SESSION)?;
        let mut meta = meta.unwrap_or_else(|| Meta::new_in(&s.id, s.harness));
        let known: std::collections::HashSet<String> = meta.parts.iter().map(PartEntry::name).collect();
        let meta_max = meta.max_seq();
        let mut max_seq = meta_max;
        for obj in &listing {
            let Some((seq, _)) = parse_part_name(&obj.key) else { continue };
            let name = obj.key.rsplit('/').next().unwrap_or_default();
            let orphan = !known.contains(name) && meta_max.is_none_or(|m| seq > m);
            if orphan {
                self.store.delete(&obj.key)?;
            } else {
                max_seq = Some(max_seq.map_or(seq, |m| m.max(seq)));
            }
        }
        let mut st = State {
            version: 1,
            session_id: s.id.clone(),
            transcript: s.transcript.clone(),
            dest: dest.to_string(),
            cursor: meta.cursor(),
            next_seq: max_seq.map_or(0, |m| m + 1),
            ended: meta.ended_at.is_some(),
            cwd: s.cwd.clone(),
            ..Default::default()
        };
        let mut repaired = false;
        if let Some(t) = t {
            let verified = self.prefix_verified(&meta, t, st.cursor)?;
            let restored = if verified { None } else { restored_prefix(&meta, t)? };
            if let Some(end) = restored {
                // A copy of the store itself (`restore`, `show > file`): its bytes are all there.
                st.cursor = end;
                st.fingerprint = t.fingerprint(end)?;
                crate::session::meta::extra::rebase(&mut meta, end);
            } else if !verified {
                let paths = StatePaths::new(&self.state_dir_of(s), &s.id);
                self.repair(s, &paths, &mut st, &mut meta, t)?;
                repaired = true;
            } else {
                st.fingerprint = t.fingerprint(st.cursor)?;
                // The last part ended inside a line (a final flush): reopen it.
                if st.cursor > 0 && st.cursor <= t.len {
                    if let Some(last) = meta.parts.iter().filter(|p| p.cursor_range.is_some()).max_by_key(|p| p.seq) {
                        let [from, to] = last.cursor_range.unwrap_or_default();
                        if to == st.cursor && last.compacted_from.is_none() && !ends_with_newline(t, to)? {
                            st.open_part = Some(OpenPart { seq: last.seq, from });
                        }
                    }
                }
            }
        }
        Ok((st, meta, repaired))
    }

    /// Whether every part with a recorded source hash still matches the transcript, and the
    /// transcript is at least as long as the cursor.
    fn prefix_verified(&self, meta: &Meta, t: &mut Transcript, cursor: u64) -> Result<bool> {
        if t.len < cursor {
            return Ok(false);
        }
        for p in &meta.parts {
            if let (Some([a, b]), Some(h)) = (p.cursor_range, &p.source_sha256) {
                if t.hash_range(a, b)?.as_deref() != Some(h.as_str()) {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// The transcript no longer starts with what was uploaded. Keep the longest run of parts
    /// that still matches, delete every other part (and any stray part after them), and move
    /// the cursor back so the next chunks rebuild the rest. Deletes happen before the state
    /// moves back, so a crash in between only repeats the repair.
    fn repair(
        &self,
        s: &Session,
        paths: &StatePaths,
        st: &mut State,
        meta: &mut Meta,
        t: &mut Transcript,
    ) -> Result<()> {
        let mut keep_to = 0u64;
        let mut first_bad: Option<u32> = None;
        let mut parts = meta.parts.clone();
        parts.sort_by_key(|p| p.seq);
        for p in &parts {
            let ok = match (p.cursor_range, &p.source_sha256) {
                (Some([a, b]), Some(h)) if a == keep_to && p.compacted_from.is_none() => {
                    t.hash_range(a, b)?.as_deref() == Some(h.as_str()) && (b <= t.len)
                }
                _ => false,
            };
            if ok {
                keep_to = p.cursor_range.map_or(keep_to, |r| r[1]);
            } else {
                first_bad = Some(p.seq);
                break;
            }
        }
        let cut = first_bad.unwrap_or(st.next_seq.max(meta.max_seq().map_or(0, |m| m + 1)));
        // Everything at or after the first bad part goes, including strays meta never knew.
        for obj in self.store.list_bounded(&self.prefix(s), crate::store::ListBound::SESSION)? {
            if let Some((seq, _)) = parse_part_name(&obj.key) {
                let listed_good = parts.iter().any(|p| p.seq == seq && p.seq < cut && obj.key.ends_with(&p.name()));
                if !listed_good {
                    test_point("repair_delete")?;
                    self.store.delete(&obj.key)?;
                }
            }
        }
        meta.truncate_from_seq(cut);
        meta.parts.retain(|p| p.seq < cut);
        // The stats described the old bytes: count what is kept, once (rare path).
        crate::session::meta::extra::recount_meta(meta, t, keep_to)?;
        st.cursor = keep_to;
        st.open_part = None;
        st.next_seq = st.next_seq.max(cut).max(parts.last().map_or(0, |p| p.seq + 1));
        st.fingerprint = t.fingerprint(keep_to)?;
        st.meta_dirty = true;
        state::save_meta(&paths.meta, meta)?;
        self.save_state(paths, st)
    }

    #[allow(clippy::too_many_arguments)]
    fn upload_chunks(
        &self,
        s: &Session,
        paths: &StatePaths,
        st: &mut State,
        meta: &mut Meta,
        t: &mut Transcript,
        final_: bool,
        out: &mut Outcome,
    ) -> Result<()> {
        let prefix = self.prefix(s);
        let start = st.open_part.map_or(st.cursor, |o| o.from);
        let mut progress = self
            .progress
            .then(|| crate::base::progress::Progress::new(format!("uploading {}", s.id), t.len.saturating_sub(start)));
        loop {
            let from = st.open_part.map_or(st.cursor, |o| o.from);
            if let Some(p) = progress.as_mut() {
                p.update(from - start);
            }
            let Some(chunk) = t.next_chunk(from, final_)? else { break };
            if st.open_part.is_some() && chunk.to <= st.cursor {
                break; // the open part has not grown
            }
            let seq = st.open_part.map_or(st.next_seq, |o| o.seq);
            if seq > MAX_SEQ {
                return Err(Error::Invalid(format!(
                    "session {} has reached part {MAX_SEQ}; run `tracecraft-hook compact {}`",
                    s.id, s.id
                )));
            }
            let sealed = self.keys.sealing();
            let hex8 = if sealed {
                crate::session::layout::sealed_part_hex(&s.id, seq, from)
            } else {
                part_hex(&s.id, seq, from)
            };
            let name = format!("{}{}", part_name(seq, &hex8), if sealed { crate::session::seal::SUFFIX } else { "" });
            let key = format!("{prefix}{name}");
            let mut counts = BTreeMap::new();
            let body: std::borrow::Cow<'_, [u8]> = match &self.redactor {
                Some(r) => r.redact(&chunk.bytes, &mut counts),
                None => std::borrow::Cow::Borrowed(&chunk.bytes[..]),
            };
            test_point("before_part_put")?;
            // The part's other CPU work, most of a big flush's CPU (two sha256, the insight
            // counts), runs on a second thread while the PUT waits on the network and the
            // server (bench/README.md, 50 MB row). Inline if no thread can be started.
            let (put, side) = std::thread::scope(|sc| {
                let side = std::thread::Builder::new()
                    .spawn_scoped(sc, || {
                        let counted = crate::session::meta::extra::record_chunk(meta, t, from, &chunk.bytes);
                        (part_hashes(&body, &chunk.bytes), counted)
                    })
                    .ok();
                let put = if sealed {
                    crate::base::age::encrypt(&self.keys.recipients, &body)
                        .map_err(|e| Error::Crypt(format!("sealing {key}: {e}")))
                        .and_then(|sealed| self.store.put(&key, &sealed, &Cond::None))
                } else {
                    self.store.put(&key, &body, &Cond::None)
                };
                (put, side.map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))))
            });
            put?;
            // The open part re-sent in the other format (encryption switched on or off since):
            // its old object would replay the same bytes twice in key order.
            if let Some(old) =
                meta.parts.iter().find(|p| p.seq == seq && p.compacted_from.is_none() && p.name() != name)
            {
                self.store.delete(&format!("{prefix}{}", old.name()))?;
            }
            let (sha256, source_sha256) = match side {
                Some((hashes, counted)) => counted.map(|()| hashes)?,
                None => {
                    crate::session::meta::extra::record_chunk(meta, t, from, &chunk.bytes)?;
                    part_hashes(&body, &chunk.bytes)
                }
            };
            test_point("after_part_put")?;
            let mut entry = PartEntry {
                seq,
                uuid: hex8,
                cursor_range: Some([from, chunk.to]),
                source_bytes: Some(chunk.to - from),
                uploaded_bytes: body.len() as u64,
                redactions: Some(counts),
                uploaded_at: Some(now_rfc3339()),
                sha256: Some(sha256),
                source_sha256: Some(source_sha256),
                ..Default::default()
            };
            if sealed {
                entry.extra.insert(crate::session::seal::PART_MARK.into(), "age".into());
            }
            meta.upsert_part(entry.clone());
            out.parts.retain(|p| p.seq != seq);
            out.parts.push(entry);
            st.cursor = chunk.to;
            st.open_part = if chunk.complete() { None } else { Some(OpenPart { seq, from }) };
            st.next_seq = st.next_seq.max(seq + 1);
            st.fingerprint = t.fingerprint(st.cursor)?;
            st.meta_dirty = true;
            st.last_activity = Some(now_rfc3339());
            state::save_meta(&paths.meta, meta)?;
            self.save_state(paths, st)?;
            test_point("after_state_save")?;
            if !chunk.complete() {
                break;
            }
        }
        Ok(())
    }
}

/// Top-level meta.json fields that are ours alone (ids, hashes, counts, our timestamps):
/// never rewritten by redaction (a user's own `redact_patterns` could match a hash).
const META_OWN_FIELDS: &[&str] = &[
    "schema_version",
    "harness",
    "session_id",
    "parts",
    "writer",
    "started_at",
    "last_uploaded_at",
    "ended_at",
    "last_compacted_at",
    "total_source_bytes",
    "total_uploaded_bytes",
    "redaction_counts",
];

/// Run every other string of meta.json (values and object keys, at any depth) through the
/// same redaction as the transcript: whatever a future field copies from a local file or a
/// payload is covered without a list to keep up to date.
pub fn redact_meta(r: &Redactor, meta: &mut Meta) {
    fn walk(r: &Redactor, v: &mut serde_json::Value) {
        use serde_json::Value;
        let clean = |s: &str| -> Option<String> {
            let mut counts = BTreeMap::new();
            match r.redact(s.as_bytes(), &mut counts) {
                std::borrow::Cow::Borrowed(_) => None,
                std::borrow::Cow::Owned(b) => Some(String::from_utf8_lossy(&b).into_owned()),
            }
        };
        match v {
            Value::String(s) => {
                if let Some(c) = clean(s) {
                    *s = c;
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(r, x)),
            Value::Object(m) => {
                let old = std::mem::take(m);
                for (k, mut x) in old {
                    walk(r, &mut x);
                    m.insert(clean(&k).unwrap_or(k), x);
                }
            }
            _ => {}
        }
    }
    let parts = std::mem::take(&mut meta.parts);
    let Ok(serde_json::Value::Object(mut obj)) = serde_json::to_value(&*meta) else {
        meta.parts = parts;
        return;
    };
    for (k, v) in obj.iter_mut() {
        if !META_OWN_FIELDS.contains(&k.as_str()) {
            walk(r, v);
        }
    }
    if let Ok(m) = serde_json::from_value::<Meta>(serde_json::Value::Object(obj)) {
        *meta = m;
    }
    meta.parts = parts;
}

/// sha256 (hex) of a part's uploaded bytes and of its source bytes, hashed once when
/// redaction changed nothing (the body is then the source itself).
fn part_hashes(body: &[u8], source: &[u8]) -> (String, String) {
    let sha = sha256_hex(body);
    let same = std::ptr::eq(body.as_ptr(), source.as_ptr()) && body.len() == source.len();
    let source_sha = if same { sha.clone() } else { sha256_hex(source) };
    (sha, source_sha)
}

/// Where the transcript stops being what the store holds, when it starts with the stored
/// (redacted) copy rather than with the source bytes, as a `restore`d file does: redaction
/// changes lengths, so `cursor_range` and `source_sha256` describe another machine's file.
/// Walking the parts in seq order from offset 0, each must match either its source bytes
/// (`source_sha256` over `cursor_range`, starting where the walk is: parts uploaded from this
/// very file) or its stored bytes (`sha256` over `uploaded_bytes`, where the walk is). `None`
/// as soon as one matches neither (or has no hash: Python-written parts), or with no parts.
pub fn restored_prefix(meta: &Meta, t: &mut Transcript) -> Result<Option<u64>> {
    let mut parts: Vec<&PartEntry> = meta.parts.iter().collect();
    parts.sort_by_key(|p| p.seq);
    let mut pos = 0u64;
    for p in &parts {
        if let (Some([a, b]), Some(h)) = (p.cursor_range, &p.source_sha256) {
            if a == pos && b >= a && t.hash_range(a, b)?.as_deref() == Some(h.as_str()) {
                pos = b;
                continue;
            }
        }
        match &p.sha256 {
            Some(h) if t.hash_range(pos, pos + p.uploaded_bytes)?.as_deref() == Some(h.as_str()) => {
                pos += p.uploaded_bytes
            }
            None if pieces_match(p, t, pos)? => pos += p.uploaded_bytes,
            _ => return Ok(None),
        }
    }
    Ok((!parts.is_empty()).then_some(pos))
}

/// A part that `compact` merged with server-side copies has no sha256 of its own, but the
/// `[bytes, sha256]` of each original in `piece_sha256`: whether they all match from `pos`.
fn pieces_match(p: &PartEntry, t: &mut Transcript, mut pos: u64) -> Result<bool> {
    let Some(v) = p.extra.get("piece_sha256") else { return Ok(false) };
    let Ok(pieces) = serde_json::from_value::<Vec<(u64, String)>>(v.clone()) else { return Ok(false) };
    if pieces.is_empty() || pieces.iter().try_fold(0u64, |a, (n, _)| a.checked_add(*n)) != Some(p.uploaded_bytes) {
        return Ok(false);
    }
    for (n, h) in &pieces {
        if t.hash_range(pos, pos + n)?.as_deref() != Some(h.as_str()) {
            return Ok(false);
        }
        pos += n;
    }
    Ok(true)
}

fn ends_with_newline(t: &mut Transcript, to: u64) -> Result<bool> {
    if to == 0 {
        return Ok(true);
    }
    let h = t.hash_range(to - 1, to)?;
    Ok(h.as_deref() == Some(NEWLINE_SHA))
}

/// sha256 of "\n".
const NEWLINE_SHA: &str = "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_hashes_hash_once_only_when_nothing_was_redacted() {
        let source = b"{\"a\":\"AKIA...\"}\n".to_vec();
        let (sha, source_sha) = part_hashes(&source, &source);
        assert_eq!((sha.as_str(), source_sha.as_str()), (sha256_hex(&source).as_str(), sha256_hex(&source).as_str()));
        let body = b"{\"a\":\"[REDACTED:aws_access_key]\"}\n".to_vec();
        assert_eq!(part_hashes(&body, &source), (sha256_hex(&body), sha256_hex(&source)));
    }

    #[test]
    fn a_copy_compacted_part_is_recognised_in_a_restored_file_by_its_pieces() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("t.jsonl");
        let (a, b) = (b"{\"a\":1}\n".as_slice(), b"{\"b\":22}\n".as_slice());
        std::fs::write(&path, [a, b].concat()).unwrap();
        let mut t = Transcript::open(&path).unwrap();
        let mut meta = Meta::new("s");
        let mut part = PartEntry {
            seq: 0,
            uuid: "deadbeef".into(),
            uploaded_bytes: (a.len() + b.len()) as u64,
            compacted_from: Some(serde_json::json!(2)),
            ..Default::default()
        };
        let pieces = serde_json::json!([[a.len(), sha256_hex(a)], [b.len(), sha256_hex(b)]]);
        part.extra.insert("piece_sha256".into(), pieces);
        meta.parts.push(part.clone());
        assert_eq!(restored_prefix(&meta, &mut t).unwrap(), Some((a.len() + b.len()) as u64));
        // A piece that does not match, or pieces that do not add up: not recognised.
        part.extra
            .insert("piece_sha256".into(), serde_json::json!([[a.len(), sha256_hex(b)], [b.len(), sha256_hex(b)]]));
        meta.parts = vec![part.clone()];
        assert_eq!(restored_prefix(&meta, &mut t).unwrap(), None);
        part.extra.insert("piece_sha256".into(), serde_json::json!([[a.len(), sha256_hex(a)]]));
        meta.parts = vec![part];
        assert_eq!(restored_prefix(&meta, &mut t).unwrap(), None);
    }

    #[test]
    fn newline_sha_is_right() {
        assert_eq!(sha256_hex(b"\n"), NEWLINE_SHA);
    }
}
