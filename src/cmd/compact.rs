//! `tracecraft-hook compact`: merge a session's parts into one object, byte for byte, so a
//! long session stops costing one object (and one GET per replay) per flush.
//!
//! Algorithm, under the session lock (no flush of this session runs meanwhile here):
//! 1. read meta.json (our local copy if the store's lags) and list the session; the replay
//!    plan (`catalog`) says which objects make up the session and which are leftovers;
//! 2. targets = the plan's leading parts, minus the newest `--keep-tail N`, stopping after
//!    the last part meta.json lists (later ones may be a flush in flight), before the part
//!    the local state marks open (the next flush re-sends it under its key), and before a
//!    last part that ends inside a line (a later flush may re-send it);
//! 3. stream the targets into ONE new object at the seq of the first, with a deterministic
//!    hex8 (sha256 of "compact\n<sid>\n<first>\n<last>") that differs from the original's:
//!    multipart upload on S3, temp file + rename locally; memory stays bounded. Parts are
//!    not downloaded where the store can copy them itself (`Upload::copy_from`): on S3 a
//!    part of 5 MiB or more becomes an `UploadPartCopy` (only smaller parts come down, to
//!    be batched into uploaded parts of 5 MiB or more; a server that refuses copying gets
//!    everything the old way), locally a file-to-file copy in the kernel. Sealed parts
//!    (`encrypt`) are always downloaded: age files do not concatenate, the merged part is
//!    one new age file. A merged part made with copies has no `sha256` (its bytes never
//!    passed here) but `piece_sha256`, the `[bytes, sha256]` of each original in order,
//!    when every original had a sha256 (see `engine::flush::restored_prefix`);
//! 4. rewrite meta.json (conditional on the version read, when the store gives ETags):
//!    the merged entry (`compacted_from: <count>` as Python writes it,
//!    plus `compacted_seqs: [first, last]`, cursor_range when known, sha256) replaces the
//!    targets' entries; `last_compacted_at` is set; our local copy of meta follows;
//! 5. only then delete the originals and any leftovers of earlier interrupted compactions.
//!
//! An interruption leaves at most a duplicate that the replay plan ignores (before step 4
//! the merged object is unlisted and shares its seq with a listed original; after it the
//! originals are inside the merged range) and that the next `compact` deletes. A rerun
//! after an interruption at step 3 rewrites the same key with the same bytes.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{emit, open, project_dir, thousands};
use crate::base::age::Encryptor;
use crate::base::error::{test_point, Error, Result};
use crate::base::paths;
use crate::base::util::{hex, now_rfc3339};
use crate::session::catalog::{compacted_seqs, replay_plan, Catalog, Plan, PlanPart};
use crate::session::layout::{meta_key_in, part_name, session_prefix_in};
use crate::session::meta::{PartEntry, WRITER};
use crate::session::seal::{Keys, PartView};
use crate::session::state::{self, OpenPart, StatePaths};
use crate::store::{Cond, Store, Upload};

/// Merge a session's parts into one object; its replay stays byte-identical.
///
/// Many flushes leave many small parts; compact concatenates them (in order, byte for byte)
/// into one part, rewrites meta.json, and only then deletes the originals, so an
/// interruption never loses or repeats a byte in the replay (running compact again cleans
/// up). Works on sessions written by the Python `tracecraft` CLI too. Safe while the
/// session is live on this machine (it waits for the session lock and never merges the part
/// a flush may re-send); for a session still being written on ANOTHER machine, use
/// --keep-tail.
#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Session id, or a prefix that matches exactly one session.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Leave the newest N parts as they are.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_tail: usize,
    /// Project directory whose configuration selects the store (default: current directory).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Whose session (default: Claude Code's with that id, else Codex's).
    #[arg(long, value_enum)]
    pub harness: Option<super::HarnessArg>,
}

/// Run `compact`.
pub fn run(a: &CompactArgs) -> Result<()> {
    let dir = project_dir(a.cwd.as_deref())?;
    let ctx = open(&dir)?;
    let dest = ctx.cfg.describe();
    let store = ctx.store.as_ref();
    let project = ctx.cfg.project.as_str();
    let base = Catalog::new(store, project, dest.clone()).with_keys(crate::session::seal::Keys::for_config(&ctx.cfg));
    let (cat, found) = super::find_session(base, a.harness, &a.id)?;
    let id = found.id;
    let harness = cat.harness;

    let state_dir = state::dir_for(&paths::state_dir()?, harness);
    let sp = StatePaths::new(&state_dir, &id);
    let _lock = state::lock(&sp.lock, Duration::from_secs(30))?;
    crate::session::journal::settle(store, project, &ctx.cfg.dest_id(), &state_dir, &id)?;
    let mut local = state::load(&sp.state).filter(|st| st.dest == ctx.cfg.dest_id() && st.session_id == id);
    // The version we read: meta.json is rewritten only if nobody changed it meanwhile.
    let mkey = meta_key_in(project, harness, &id);
    let etag = store.head(&mkey)?.and_then(|o| o.etag);
    let Some(mut meta) = cat.freshest_meta(&id, local.as_ref(), &sp.meta)? else {
        return Err(Error::Invalid(format!(
            "session {id} has no meta.json in {dest}: nothing says which parts belong to it, so it is not compacted"
        )));
    };
    // A fresh listing, under the lock.
    let objects = cat.session(&id)?.unwrap_or_default();
    let plan = replay_plan(&objects.parts, Some(&meta));
    let k = mergeable(store, &cat.keys, &plan, a.keep_tail, local.as_ref().and_then(|st| st.open_part))?;

    if k < 2 {
        let cleaned = delete_all(store, plan.superseded.iter().map(|o| o.key.as_str()))?;
        let mut line = format!(
            "nothing to compact in {id}: {k} mergeable part{} of {}",
            if k == 1 { "" } else { "s" },
            plan.parts.len()
        );
        if cleaned > 0 {
            line.push_str(&format!("; deleted {cleaned} leftover object{}", plural(cleaned)));
        }
        line.push_str(&format!(" ({dest})"));
        return emit(&line);
    }

    let targets = &plan.parts[..k];
    let first = targets[0].obj.seq;
    let last = merged_last_seq(&plan, k);
    let avoid: HashSet<&str> = plan.parts.iter().filter(|p| p.obj.seq == first).map(|p| p.obj.hex8.as_str()).collect();
    let hex8 = compact_hex(&id, first, last, &avoid);
    // Sealed when the config seals; sealed parts are never merged into a plain one.
    let sealed = cat.keys.sealing();
    if !sealed && targets.iter().any(|t| crate::session::seal::is_sealed(&t.obj.key)) {
        return Err(Error::Crypt(format!(
            "session {id} has encrypted parts but the config ({dest}) has no \"encrypt\" recipients to re-encrypt \
             the merged part with; nothing was compacted"
        )));
    }
    let suffix = if sealed { crate::session::seal::SUFFIX } else { "" };
    let merged_key = format!("{}{}{suffix}", session_prefix_in(project, harness, &id), part_name(first, &hex8));

    // (a) Upload the merged part, having noted what we do, so that if we die before (c) the
    // next flush or compact settles it (see `session::journal`).
    let originals = targets.iter().map(|t| t.obj.key.clone()).chain(plan.superseded.iter().map(|o| o.key.clone()));
    let pending = crate::session::journal::Pending {
        dest: ctx.cfg.dest_id(),
        merged: merged_key.clone(),
        originals: originals.filter(|k| *k != merged_key).collect(),
    };
    crate::session::journal::begin(&state_dir, &id, &pending)?;
    let (total, sha, stored, copies) = upload_merged(store, &cat.keys, &merged_key, targets)?;
    if let Some(info) = store.head(&merged_key)? {
        if info.size != stored {
            return Err(Error::Invalid(format!(
                "{merged_key} in {dest} has {} bytes after upload, expected {stored}; originals kept",
                info.size
            )));
        }
    }
    test_point("compact_after_upload")?;

    // (b) Rewrite meta.json, then our local copy of it.
    let target_ids: HashSet<(u32, &str)> = targets.iter().map(|t| (t.obj.seq, t.obj.hex8.as_str())).collect();
    meta.parts.retain(|e| !target_ids.contains(&(e.seq, e.uuid.as_str())) && !(first..=last).contains(&e.seq));
    let mut entry = merged_entry(&plan, k, &hex8, last, total, sha);
    if entry.sha256.is_none() {
        if let Some(pieces) = piece_hashes(targets) {
            entry.extra.insert("piece_sha256".into(), json!(pieces));
        }
    }
    if sealed {
        entry.extra.insert(crate::session::seal::PART_MARK.into(), "age".into());
    }
    meta.parts.push(entry);
    meta.parts.sort_by(|x, y| (x.seq, &x.uuid).cmp(&(y.seq, &y.uuid)));
    meta.last_compacted_at = Some(now_rfc3339());
    meta.writer = Some(WRITER.to_string());
    let cond = etag.map_or(Cond::None, Cond::IfMatch);
    let new_etag = match store.put(&mkey, &crate::session::seal::meta_to_bytes(&meta, &cat.keys)?, &cond) {
        Err(Error::Precondition { .. }) => {
            return Err(Error::Busy(format!(
                "{mkey} in {dest} was rewritten by another writer during the compaction; nothing was deleted \
                 (the merged part is ignored until listed): run compact again"
            )))
        }
        other => other?,
    };
    if let Some(st) = local.as_mut() {
        // Our copy follows only once the store has it (a crash in between leaves an old
        // copy, which the flush's conditional write of meta.json detects and merges); the
        // flush's next conditional write expects this version.
        state::save_meta(&sp.meta, &meta)?;
        st.meta_etag = new_etag;
        st.meta_dirty = false;
        state::save(&sp.state, st)?;
    }
    test_point("compact_after_meta")?;

    // (c) Delete the originals and older leftovers; the merged object is never among them.
    let doomed = targets.iter().map(|t| t.obj.key.as_str()).chain(plan.superseded.iter().map(|o| o.key.as_str()));
    let deleted = delete_all(store, doomed.filter(|k| *k != merged_key))?;
    crate::session::journal::done(&state_dir, &id)?;
    let kept = plan.parts.len() - k;
    let how = if copies > 0 { format!(", {copies} copied by the store") } else { String::new() };
    emit(&format!(
        "compacted {id}: {k} parts ({} bytes{how}) merged into {}{suffix}, {kept} part{} kept, {deleted} object{} deleted ({dest})",
        thousands(total),
        part_name(first, &hex8),
        plural(kept),
        plural(deleted),
    ))
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// How many leading parts of the plan may be merged (see the module documentation).
fn mergeable(store: &dyn Store, keys: &Keys, plan: &Plan, keep_tail: usize, open: Option<OpenPart>) -> Result<usize> {
    let parts = &plan.parts;
    let mut k = parts.len().saturating_sub(keep_tail);
    // Unlisted parts after the last listed one may be a flush in flight; unlisted parts
    // before a listed one cannot be (a flush lists its parts in order), e.g. a merged part
    // whose meta.json entry a writer with an old copy of meta.json dropped.
    k = k.min(parts.iter().rposition(|p| p.entry.is_some()).map_or(0, |i| i + 1));
    if let Some(o) = open {
        if let Some(i) = parts.iter().position(|p| p.obj.seq >= o.seq) {
            k = k.min(i);
        }
    }
    // Never split a seq between merged and kept parts.
    while k > 0 && k < parts.len() && parts[k].obj.seq == parts[k - 1].obj.seq {
        k -= 1;
    }
    if k >= 2 && k == parts.len() {
        let p = &parts[k - 1].obj;
        let view = PartView::open(store, keys, &p.key, p.size)?;
        if !view.is_empty() {
            let end = view.read(view.len() - 1, view.len())?;
            if end.as_deref() != Some(b"\n".as_slice()) {
                k -= 1; // may be re-sent by a final flush under its key
            }
        }
    }
    Ok(k)
}

/// The last seq the merged part stands for: the targets' own seqs and ranges, and the
/// leftovers below the first kept part (so an interrupted delete stays covered).
fn merged_last_seq(plan: &Plan, k: usize) -> u32 {
    let targets = &plan.parts[..k];
    let first = targets[0].obj.seq;
    let next_kept = plan.parts.get(k).map(|p| p.obj.seq);
    let mut last = targets.iter().map(|t| t.obj.seq).max().unwrap_or(first);
    for t in targets {
        if let Some((_, hi)) = t.covers {
            last = last.max(hi);
        }
        if let Some((_, hi)) = t.entry.as_ref().and_then(compacted_seqs) {
            last = last.max(hi);
        }
    }
    for o in &plan.superseded {
        if o.seq >= first && next_kept.is_none_or(|n| o.seq < n) {
            last = last.max(o.seq);
        }
    }
    match next_kept {
        Some(n) if n > first => last.min(n - 1),
        _ => last,
    }
}

/// Deterministic hex8 of a merged part, different from any given one at that seq.
pub fn compact_hex(id: &str, first: u32, last: u32, avoid: &HashSet<&str>) -> String {
    let mut salt = 0u32;
    loop {
        let mut text = format!("compact\n{id}\n{first}\n{last}");
        if salt > 0 {
            text.push_str(&format!("\n{salt}"));
        }
        let h = hex(&Sha256::digest(text.as_bytes())[..4]);
        if !avoid.contains(h.as_str()) {
            return h;
        }
        salt += 1;
    }
}

/// Stream the targets' replay bytes, in order, into one new object at `key` (sealed when
/// `key` is a sealed part's: decrypted parts are re-encrypted as one age file on the way).
/// Returns (replay bytes, their sha256 unless the store copied some, bytes stored, parts
/// the store copied).
fn upload_merged(
    store: &dyn Store,
    keys: &Keys,
    key: &str,
    targets: &[PlanPart],
) -> Result<(u64, Option<String>, u64, usize)> {
    let mut up = store.upload(key)?;
    if !crate::session::seal::is_sealed(key) {
        let (n, sha, copies) = append_targets(store, keys, targets, &mut up)?;
        up.finish()?;
        return Ok((n, sha, n, copies));
    }
    let mut sink = UploadSink { up: &mut up, n: 0, err: None };
    let copied = if crate::session::seal::is_sealed(key) {
        let sealing = |e: io::Error| Error::Crypt(format!("sealing {key}: {e}"));
        match Encryptor::new(&keys.recipients, &mut sink) {
            Ok(mut enc) => {
                copy_targets(store, keys, targets, &mut enc).and_then(|v| enc.finish().map(|_| v).map_err(sealing))
            }
            Err(e) => Err(sealing(e)),
        }
    } else {
        copy_targets(store, keys, targets, &mut sink)
    };
    let (n, sha) = copied.map_err(|e| sink.err.take().unwrap_or(e))?;
    let stored = sink.n;
    up.finish()?;
    Ok((n, Some(sha), stored, 0))
}

/// The plain (not sealed) targets into `up`, in order: each copied by the store where it
/// can, the rest downloaded and written. Returns (bytes, their sha256 when none was
/// copied, parts copied whole or in part).
fn append_targets(
    store: &dyn Store,
    keys: &Keys,
    targets: &[PlanPart],
    up: &mut Box<dyn Upload + '_>,
) -> Result<(u64, Option<String>, usize)> {
    let mut hasher = Some(Sha256::new());
    let mut progress = crate::base::progress::Progress::new("compacting", targets.iter().map(|t| t.obj.size).sum());
    let mut total = 0u64;
    for t in targets {
        progress.update(total);
        let (key, size) = (t.obj.key.as_str(), t.obj.size);
        let copied = up.copy_from(key, size, t.obj.etag.as_deref())?;
        if copied > 0 {
            hasher = None;
        }
        // The rest (all of it when nothing was copied) comes through us.
        if copied == 0 {
            let mut sink = UploadSink { up: &mut *up, n: 0, err: None };
            let alive = hasher.is_some();
            let mut w = HashWriter { out: &mut sink, hasher: hasher.take().unwrap_or_default(), n: 0 };
            let got = crate::session::seal::get_part_to(store, keys, key, &mut w);
            let (h, n) = (w.hasher, w.n);
            if alive {
                hasher = Some(h);
            }
            let got = got.map_err(|e| sink.err.take().unwrap_or(e))?.map(|c| c.stored);
            check_size(store, t, got.map(|_| n))?;
        } else {
            let mut at = copied;
            while at < size {
                let to = size.min(at + (8 << 20));
                let Some(piece) = store.get_range(key, at, to)? else {
                    check_size(store, t, None)?; // always an error: the part is gone
                    break;
                };
                if piece.len() as u64 != to - at {
                    return Err(Error::Invalid(format!(
                        "{key} in {}: asked for bytes {at}..{to}, got {}; it changed meanwhile, nothing was compacted",
                        store.describe(),
                        piece.len()
                    )));
                }
                up.write(&piece)?;
                at = to;
            }
        }
        total += size;
    }
    Ok((total, hasher.map(|h| hex(&h.finalize())), up.store_copies()))
}

/// A target read whole (`Some(bytes)`) or found missing (`None`): its size must be the listed one.
fn check_size(store: &dyn Store, t: &PlanPart, got: Option<u64>) -> Result<()> {
    match got {
        Some(n) if n == t.obj.size => Ok(()),
        Some(n) => Err(Error::Invalid(format!(
            "{} in {} has {n} bytes, the listing said {}; it changed meanwhile, nothing was compacted",
            t.obj.key,
            store.describe(),
            t.obj.size
        ))),
        None => Err(Error::NotFound(format!(
            "{} disappeared from {} during compaction; nothing was compacted",
            t.obj.key,
            store.describe()
        ))),
    }
}

/// `[bytes, sha256]` of each target in order, from meta.json (a merged target contributes
/// its own pieces); `None` when one has no hash (a part written by the Python CLI).
fn piece_hashes(targets: &[PlanPart]) -> Option<Vec<(u64, String)>> {
    let mut out = Vec::new();
    for t in targets {
        let e = t.entry.as_ref()?;
        if e.uploaded_bytes != t.obj.size {
            return None;
        }
        match (&e.sha256, e.extra.get("piece_sha256")) {
            (Some(h), _) => out.push((e.uploaded_bytes, h.clone())),
            (None, Some(p)) => {
                let pieces: Vec<(u64, String)> = serde_json::from_value(p.clone()).ok()?;
                if pieces.iter().map(|(n, _)| n).sum::<u64>() != t.obj.size {
                    return None;
                }
                out.extend(pieces);
            }
            (None, None) => return None,
        }
    }
    Some(out)
}

/// Copy the targets' replay bytes into `out`, checking each against the listing. Returns
/// (bytes, sha256).
fn copy_targets(store: &dyn Store, keys: &Keys, targets: &[PlanPart], out: &mut dyn Write) -> Result<(u64, String)> {
    let mut w = HashWriter { out, hasher: Sha256::new(), n: 0 };
    let mut progress = crate::base::progress::Progress::new("compacting", targets.iter().map(|t| t.obj.size).sum());
    let mut read = 0;
    for t in targets {
        progress.update(read);
        match crate::session::seal::get_part_to(store, keys, &t.obj.key, &mut w)?.map(|c| c.stored) {
            Some(n) if n == t.obj.size => read += n,
            Some(n) => {
                return Err(Error::Invalid(format!(
                    "{} in {} has {n} bytes, the listing said {}; it changed meanwhile, nothing was compacted",
                    t.obj.key,
                    store.describe(),
                    t.obj.size
                )))
            }
            None => {
                return Err(Error::NotFound(format!(
                    "{} disappeared from {} during compaction; nothing was compacted",
                    t.obj.key,
                    store.describe()
                )))
            }
        }
    }
    Ok((w.n, hex(&w.hasher.finalize())))
}

/// Hashes and counts the replay bytes on their way to the upload.
struct HashWriter<'o> {
    out: &'o mut dyn Write,
    hasher: Sha256,
    n: u64,
}

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write_all(buf)?;
        self.hasher.update(buf);
        self.n += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Adapts an `Upload` to `io::Write`, counting what is stored; keeps the upload's own error
/// (an io::Error cannot carry it).
struct UploadSink<'u, 's> {
    up: &'u mut Box<dyn Upload + 's>,
    n: u64,
    err: Option<Error>,
}

impl Write for UploadSink<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.up.write(buf) {
            Ok(()) => {
                self.n += buf.len() as u64;
                Ok(buf.len())
            }
            Err(e) => {
                let msg = e.to_string();
                self.err = Some(e);
                Err(io::Error::other(msg))
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// meta.json's entry for the merged part.
fn merged_entry(plan: &Plan, k: usize, hex8: &str, last: u32, total: u64, sha: Option<String>) -> PartEntry {
    let targets = &plan.parts[..k];
    // The replay starts at source offset 0, so the plan's first part starts there.
    let from = targets[0].entry.as_ref().and_then(|e| e.cursor_range).map(|r| r[0]).or(Some(0));
    let to = targets[k - 1].entry.as_ref().and_then(|e| e.cursor_range).map(|r| r[1]);
    let cursor_range = match (from, to) {
        (Some(f), Some(t)) if f <= t => Some([f, t]),
        _ => None,
    };
    let listed: Vec<&BTreeMap<String, u64>> =
        targets.iter().filter_map(|t| t.entry.as_ref()?.redactions.as_ref()).collect();
    let redactions = (!listed.is_empty()).then(|| {
        let mut sum = BTreeMap::new();
        for (name, n) in listed.into_iter().flatten() {
            *sum.entry(name.clone()).or_insert(0) += n;
        }
        sum
    });
    let mut extra = serde_json::Map::new();
    extra.insert("compacted_seqs".into(), json!([targets[0].obj.seq, last]));
    // The merged part keeps when its bytes were first and last uploaded (what `list` shows as
    // FIRST/LAST UPLOAD); the compaction's own time is `compacted_at`.
    let now = now_rfc3339();
    let times: Vec<(&str, &str)> = targets
        .iter()
        .filter_map(|t| {
            let e = t.entry.as_ref()?;
            let last = e.uploaded_at.as_deref()?;
            let first = e.extra.get("first_uploaded_at").and_then(serde_json::Value::as_str).unwrap_or(last);
            Some((first, last))
        })
        .collect();
    let earliest = times.iter().filter_map(|(f, _)| Some((crate::base::util::parse_rfc3339(f)?, *f))).min();
    let latest = times.iter().filter_map(|(_, l)| Some((crate::base::util::parse_rfc3339(l)?, *l))).max();
    if let Some((_, f)) = earliest {
        extra.insert("first_uploaded_at".into(), json!(f));
    }
    extra.insert("compacted_at".into(), json!(now));
    let uploaded_at = latest.map_or(now, |(_, l)| l.to_string());
    PartEntry {
        seq: targets[0].obj.seq,
        uuid: hex8.to_string(),
        cursor_range,
        source_bytes: cursor_range.map(|[f, t]| t - f),
        uploaded_bytes: total,
        redactions,
        uploaded_at: Some(uploaded_at),
        compacted_from: Some(json!(k)),
        sha256: sha,
        source_sha256: None,
        extra,
    }
}

/// Delete keys (absent is fine); returns how many.
fn delete_all<'k>(store: &dyn Store, keys: impl Iterator<Item = &'k str>) -> Result<usize> {
    let mut n = 0;
    for key in keys {
        store.delete(key)?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_hex_is_deterministic_and_avoids_the_original() {
        let none = HashSet::new();
        let h = compact_hex("s", 0, 9, &none);
        assert_eq!(h, compact_hex("s", 0, 9, &none));
        assert_ne!(h, compact_hex("s", 0, 10, &none));
        let avoid: HashSet<&str> = [h.as_str()].into();
        let h2 = compact_hex("s", 0, 9, &avoid);
        assert_ne!(h, h2);
        assert_eq!(h2.len(), 8);
    }
}
