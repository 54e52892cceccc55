//! Client-side encryption of a session (`"encrypt": {"recipients": [...]}`): what the bucket
//! operator may see, and how every reader gets the plaintext back with the identity file.
//!
//! What is sealed (age v1, see `age`): every part, stored as `part-NNNNN-<hex8>.jsonl.age`
//! (the Python CLI's regex `part-(\d{5})-[a-f0-9]{8}\.jsonl$` does not take it for a plain
//! part), and every content-bearing field of meta.json, moved into `"sealed": {"format":
//! "age", "data": <base64 age file>}`. In the clear stays only what the layout and the
//! exactly-once machinery need without a key: ids, sizes, timestamps, part numbers and
//! source ranges, compaction bookkeeping and the writer tag (the allow-lists below; anything
//! else, including fields added later, is sealed). `source_path`, `cwd`, `agent_id` read
//! `null` and `redaction_counts` `{}` outside, so tracecraft still parses the document.
//!
//! Hashes: `sha256` is of the plaintext (redacted) part and `uploaded_bytes` its length, as
//! for plain parts, so a replay or a restored transcript is verified after decryption; both
//! are sealed (a hash of the plaintext would let the operator confirm a guess). age is
//! randomized: re-sending a part writes other bytes under the same key; nothing compares
//! stored bytes. A part re-sent after encryption was switched on or off gets another hex8
//! (`layout::sealed_part_hex`), so the two versions never share a (seq, hex8) identity; the
//! old one is deleted once the new one is stored.
//!
//! Reading needs the identity (`TRACECRAFT_AGE_IDENTITY`, else the config's `identity`, else
//! `~/.tracecraft/age.key`), loaded once, only when a sealed object is met: the hook's no-op
//! path never gets here. A writer without it still mirrors exactly (the clear skeleton of
//! meta.json is enough to resume), but the sealed fields it could not read (stats, hashes of
//! earlier parts) start over in the next meta.json it writes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{Map, Value};

use crate::base::age::{self, Decryptor, Identity, Opened, Recipient};
use crate::base::error::{Error, Result};
use crate::config::Config;
use crate::session::meta::Meta;
use crate::store::Store;

/// Suffix of a sealed part's key, after `.jsonl`.
pub const SUFFIX: &str = crate::session::layout::SEALED_SUFFIX;
/// meta.json's field holding the sealed fields.
pub const FIELD: &str = "sealed";
/// A part entry's marker: `"encryption": "age"`.
pub const PART_MARK: &str = crate::session::layout::SEALED_MARK;

/// meta.json fields the bucket operator may read.
const CLEAR_TOP: [&str; 11] = [
    "schema_version",
    "harness",
    "session_id",
    "started_at",
    "last_uploaded_at",
    "ended_at",
    "total_source_bytes",
    "total_uploaded_bytes",
    "parts",
    "last_compacted_at",
    "writer",
];
/// Fields tracecraft expects present: kept as `null` / `{}` outside.
const PLACEHOLDERS: [&str; 4] = ["source_path", "cwd", "agent_id", "redaction_counts"];
/// Part entry fields the bucket operator may read.
const CLEAR_PART: [&str; 9] = [
    "seq",
    "uuid",
    "cursor_range",
    "source_bytes",
    "uploaded_bytes",
    "uploaded_at",
    "compacted_from",
    "compacted_seqs",
    PART_MARK,
];

/// Whether a key names a sealed part.
pub fn is_sealed(key: &str) -> bool {
    key.ends_with(SUFFIX)
}

/// The keys of one destination: recipients to seal for (none: writes stay plain) and the
/// identity file to open sealed objects with, read on first use.
pub struct Keys {
    pub recipients: Vec<Recipient>,
    pub identity_file: PathBuf,
    loaded: OnceLock<std::result::Result<Vec<Identity>, String>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({} recipients, identity {})", self.recipients.len(), self.identity_file.display())
    }
}

impl Keys {
    /// The keys a config names (`encrypt`, `TRACECRAFT_AGE_IDENTITY`).
    pub fn for_config(cfg: &Config) -> Keys {
        Keys::new(cfg.encrypt.recipients.clone(), cfg.encrypt.identity.clone())
    }

    /// Seal for `recipients`, open with the identities in `identity_file`.
    pub fn new(recipients: Vec<Recipient>, identity_file: PathBuf) -> Keys {
        Keys { recipients, identity_file, loaded: OnceLock::new() }
    }

    /// Read-only keys from the environment alone (`TRACECRAFT_AGE_IDENTITY`, else the default file).
    pub fn from_env() -> Keys {
        Keys::new(Vec::new(), crate::config::default_identity_file(&|k| std::env::var(k).ok()))
    }

    /// Whether new objects are sealed.
    pub fn sealing(&self) -> bool {
        !self.recipients.is_empty()
    }

    /// The error for an object that does not open with our identities.
    fn undecryptable(&self, what: &str, e: impl std::fmt::Display) -> Error {
        Error::Crypt(format!("could not decrypt {what} with the identity file {}: {e}", self.identity_file.display()))
    }

    /// The identities, read from the identity file once. `what` names the object that needs them.
    pub fn identities(&self, what: &str) -> Result<&[Identity]> {
        let loaded = self.loaded.get_or_init(|| load_identities(&self.identity_file));
        loaded.as_deref().map_err(|e| Error::Crypt(format!("{what} is encrypted (age): {e}")))
    }
}

fn load_identities(path: &Path) -> std::result::Result<Vec<Identity>, String> {
    let how = "set \"encrypt\": {\"identity\": PATH} in the config or TRACECRAFT_AGE_IDENTITY";
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("the identity file {} does not exist ({how})", path.display()))
        }
        Err(e) => return Err(format!("could not read the identity file {}: {e}", path.display())),
    };
    age::parse_identities(&text).map_err(|e| format!("the identity file {} is not usable: {e}", path.display()))
}

/// meta.json bytes as stored: sealed when `keys` seal, else plain.
pub fn meta_to_bytes(meta: &Meta, keys: &Keys) -> Result<Vec<u8>> {
    if !keys.sealing() {
        return Ok(meta.to_bytes());
    }
    let Value::Object(mut full) = serde_json::to_value(meta).expect("meta serializes") else {
        unreachable!("meta is an object")
    };
    full.remove(FIELD);
    let inner = serde_json::to_vec(&full).expect("meta serializes");
    let sealed = age::encrypt(&keys.recipients, &inner).map_err(|e| Error::Crypt(format!("sealing meta.json: {e}")))?;
    let mut outer = Map::new();
    for (k, v) in full {
        if k == "parts" {
            let parts = v.as_array().map(|ps| ps.iter().map(clear_part).collect()).unwrap_or_default();
            outer.insert(k, Value::Array(parts));
        } else if CLEAR_TOP.contains(&k.as_str()) {
            outer.insert(k, v);
        } else if k == "redaction_counts" {
            outer.insert(k, Value::Object(Map::new()));
        } else if PLACEHOLDERS.contains(&k.as_str()) {
            outer.insert(k, Value::Null);
        }
    }
    let mut env = Map::new();
    env.insert("format".into(), Value::String("age".into()));
    env.insert("data".into(), Value::String(B64.encode(sealed)));
    outer.insert(FIELD.into(), Value::Object(env));
    Ok(serde_json::to_vec_pretty(&Value::Object(outer)).expect("meta serializes"))
}

fn clear_part(p: &Value) -> Value {
    match p {
        Value::Object(m) => Value::Object(
            m.iter().filter(|(k, _)| CLEAR_PART.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect(),
        ),
        other => other.clone(),
    }
}

/// Read meta.json bytes; a sealed one is opened with the identity (an error naming `what`
/// and the identity file when it cannot be).
pub fn meta_from_bytes(bytes: &[u8], keys: &Keys, what: &str) -> Result<Meta> {
    let invalid = |e: String| Error::Invalid(format!("{what} is not valid meta.json: {e}"));
    let mut outer = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) if m.contains_key(FIELD) => m,
        _ => return Meta::parse(bytes).map_err(invalid),
    };
    let data = outer
        .remove(FIELD)
        .and_then(|env| env.get("data").and_then(Value::as_str).map(str::to_string))
        .ok_or_else(|| invalid("\"sealed\" has no \"data\"".into()))?;
    let ct = B64.decode(data.as_bytes()).map_err(|e| invalid(format!("\"sealed\" is not base64: {e}")))?;
    let ids = keys.identities(what)?;
    let inner = age::decrypt(ids, &ct).map_err(|e| keys.undecryptable(what, e))?;
    let Ok(Value::Object(inner)) = serde_json::from_slice::<Value>(&inner) else {
        return Err(invalid("its sealed fields are not a JSON object".into()));
    };
    for (k, v) in &inner {
        if k == "parts" || CLEAR_TOP.contains(&k.as_str()) {
            continue;
        }
        outer.insert(k.clone(), v.clone());
    }
    // Each part's sealed fields, matched by (seq, uuid): the clear list is the structure
    // (another writer may have changed it), the sealed copy only adds what it hides.
    let inner_parts = inner.get("parts").and_then(Value::as_array).cloned().unwrap_or_default();
    if let Some(Value::Array(parts)) = outer.get_mut("parts") {
        for p in parts.iter_mut().filter_map(Value::as_object_mut) {
            let same = inner_parts
                .iter()
                .filter_map(Value::as_object)
                .find(|q| q.get("seq") == p.get("seq") && q.get("uuid") == p.get("uuid"));
            for (k, v) in same.into_iter().flatten() {
                if !CLEAR_PART.contains(&k.as_str()) {
                    p.insert(k.clone(), v.clone());
                }
            }
        }
    }
    serde_json::from_value(Value::Object(outer)).map_err(|e| invalid(e.to_string()))
}

/// Like [`meta_from_bytes`], for writers: a sealed meta.json whose identity is missing or
/// wrong reads as its clear skeleton (enough to continue exactly-once; see the module doc).
pub fn meta_from_bytes_lenient(bytes: &[u8], keys: &Keys, what: &str) -> Result<Meta> {
    match meta_from_bytes(bytes, keys, what) {
        Err(Error::Crypt(_)) => {
            let mut m =
                Meta::parse(bytes).map_err(|e| Error::Invalid(format!("{what} is not valid meta.json: {e}")))?;
            m.extra.remove(FIELD);
            Ok(m)
        }
        other => other,
    }
}

/// Bytes a part copy moved: as stored (ciphertext for a sealed part) and as replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    pub stored: u64,
    pub plain: u64,
}

struct Counting<'w> {
    inner: &'w mut dyn Write,
    n: u64,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Stream a part's replay bytes (decrypted when sealed) into `out`; `None` when it is absent.
pub fn get_part_to(store: &dyn Store, keys: &Keys, key: &str, out: &mut dyn Write) -> Result<Option<Copied>> {
    if !is_sealed(key) {
        return Ok(store.get_to(key, out)?.map(|n| Copied { stored: n, plain: n }));
    }
    let what = format!("{key} in {}", store.describe());
    let ids = keys.identities(&what)?;
    let mut counting = Counting { inner: out, n: 0 };
    let mut dec = Decryptor::new(ids, &mut counting);
    let got = store.get_to(key, &mut dec);
    let stored = match got {
        Ok(Some(n)) => n,
        Ok(None) => return Ok(None),
        Err(e) => {
            return Err(match dec.error.take() {
                Some(ae) => keys.undecryptable(&what, ae),
                None => e,
            })
        }
    };
    dec.finish().map_err(|e| keys.undecryptable(&what, e))?;
    Ok(Some(Copied { stored, plain: counting.n }))
}

/// A part read by plaintext ranges (`show --tail`, `compact`'s last-byte check): plain parts
/// directly, sealed ones by fetching only the header and the chunks a range touches.
pub struct PartView<'s> {
    store: &'s dyn Store,
    key: String,
    len: u64,
    sealed: Option<(Opened, u64)>,
}

impl<'s> PartView<'s> {
    /// Open a part of `size` stored bytes (from the listing).
    pub fn open(store: &'s dyn Store, keys: &Keys, key: &str, size: u64) -> Result<PartView<'s>> {
        if !is_sealed(key) {
            return Ok(PartView { store, key: key.to_string(), len: size, sealed: None });
        }
        let what = format!("{key} in {}", store.describe());
        let ids = keys.identities(&what)?;
        let mut want = 4096u64;
        loop {
            let head = store.get_range(key, 0, want.min(size))?.ok_or_else(|| gone(store, key))?;
            match age::open_header(ids, &head).map_err(|e| keys.undecryptable(&what, e))? {
                Some(o) => {
                    let payload = size.saturating_sub(o.data_start as u64);
                    let len = age::plain_len(payload).ok_or_else(|| {
                        Error::Crypt(format!("could not decrypt {what}: its size is not a valid age file's"))
                    })?;
                    return Ok(PartView { store, key: key.to_string(), len, sealed: Some((o, payload)) });
                }
                None if want < size && want < 64 * 1024 => want *= 4,
                None => return Err(Error::Crypt(format!("could not decrypt {what}: the age header is truncated"))),
            }
        }
    }

    /// Replay bytes in the part.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the part replays to nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Replay bytes `start..end` (clamped to the part); `None` when the part is gone.
    pub fn read(&self, start: u64, end: u64) -> Result<Option<Vec<u8>>> {
        let Some((o, payload)) = &self.sealed else { return self.store.get_range(&self.key, start, end) };
        let (start, end) = (start.min(self.len), end.min(self.len));
        if start >= end {
            return Ok(Some(Vec::new()));
        }
        let (c, ct) = (age::CHUNK as u64, age::CHUNK_CT as u64);
        let chunks = payload.div_ceil(ct);
        let (first, last) = (start / c, (end - 1) / c);
        let from = o.data_start as u64 + first * ct;
        let to = (o.data_start as u64 + (last + 1) * ct).min(o.data_start as u64 + payload);
        let Some(mut bytes) = self.store.get_range(&self.key, from, to)? else { return Ok(None) };
        if bytes.len() as u64 != to - from {
            return Err(Error::Invalid(format!(
                "{} in {} changed while reading; run the command again",
                self.key,
                self.store.describe()
            )));
        }
        let mut out = Vec::with_capacity((end - start) as usize);
        for (i, piece) in bytes.chunks_mut(age::CHUNK_CT).enumerate() {
            let idx = first + i as u64;
            let plain = o.open_chunk(idx, idx + 1 == chunks, piece).map_err(|e| {
                Error::Crypt(format!("could not decrypt {} in {}: {e}", self.key, self.store.describe()))
            })?;
            let base = idx * c;
            let lo = start.saturating_sub(base) as usize;
            let hi = ((end - base) as usize).min(plain.len());
            out.extend_from_slice(&plain[lo.min(hi)..hi]);
        }
        Ok(Some(out))
    }
}

fn gone(store: &dyn Store, key: &str) -> Error {
    Error::NotFound(format!("{key} disappeared from {} while reading; run the command again", store.describe()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::meta::PartEntry;
    use crate::store::local::LocalStore;
    use crate::store::Cond;

    fn keys_with_file(dir: &Path) -> (Keys, Identity) {
        let id = Identity::generate().unwrap();
        let file = dir.join("age.key");
        std::fs::write(&file, format!("{}\n", id.to_secret_string())).unwrap();
        (Keys::new(vec![id.recipient()], file), id)
    }

    fn sample_meta() -> Meta {
        let mut m = Meta::new("s1");
        m.source_path = Some("/home/dev/secret-project/s1.jsonl".into());
        m.cwd = Some("/home/dev/secret-project".into());
        m.model = Some("claude-opus-secret".into());
        m.extra.insert("stats".into(), serde_json::json!({"tokens": {"claude-opus-secret": 5}}));
        let mut e = PartEntry {
            seq: 0,
            uuid: "0a1b2c3d".into(),
            cursor_range: Some([0, 10]),
            source_bytes: Some(10),
            uploaded_bytes: 10,
            redactions: Some([("aws_access_key".to_string(), 1)].into()),
            sha256: Some("ab".repeat(32)),
            source_sha256: Some("cd".repeat(32)),
            ..Default::default()
        };
        e.extra.insert(PART_MARK.into(), "age".into());
        m.upsert_part(e);
        m
    }

    #[test]
    fn meta_seals_all_but_the_skeleton_and_opens_back_exactly() {
        let d = tempfile::tempdir().unwrap();
        let (keys, _) = keys_with_file(d.path());
        let m = sample_meta();
        let bytes = meta_to_bytes(&m, &keys).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        for secret in ["secret-project", "claude-opus-secret", "aws_access_key", &"ab".repeat(32), "stats"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        let outer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(outer["cwd"], Value::Null);
        assert_eq!(outer["parts"][0]["cursor_range"], serde_json::json!([0, 10]));
        assert_eq!(outer["parts"][0][PART_MARK], "age");
        assert_eq!(meta_from_bytes(&bytes, &keys, "m").unwrap(), m);
        // The skeleton alone parses (cleanup, backfill) and names the part.
        let skel = meta_from_bytes_lenient(&bytes, &Keys::new(vec![], d.path().join("none")), "m").unwrap();
        assert_eq!(skel.parts[0].name(), "part-00000-0a1b2c3d.jsonl.age");
        assert_eq!((skel.cwd, skel.parts[0].sha256.clone()), (None, None));
        // Strict reading without the identity names the file.
        let e = meta_from_bytes(&bytes, &Keys::new(vec![], d.path().join("none.key")), "m").unwrap_err().to_string();
        assert!(e.contains("none.key") && e.contains("does not exist"), "{e}");
    }

    #[test]
    fn part_views_read_sealed_ranges() {
        let d = tempfile::tempdir().unwrap();
        let (keys, _) = keys_with_file(d.path());
        let store = LocalStore::new(d.path().join("store"));
        let plain: Vec<u8> = (0..200_000u32).map(|i| (i % 97) as u8).collect();
        let key = "p/sessions/claude-code/s/part-00000-aaaaaaaa.jsonl.age";
        let ct = age::encrypt(&keys.recipients, &plain).unwrap();
        store.put(key, &ct, &Cond::None).unwrap();
        let v = PartView::open(&store, &keys, key, ct.len() as u64).unwrap();
        assert_eq!(v.len(), plain.len() as u64);
        for (a, b) in [(0, 1), (65_530, 65_542), (131_072, 200_000), (199_999, 200_000), (5, 5), (0, 200_000)] {
            assert_eq!(v.read(a, b).unwrap().unwrap(), plain[a as usize..b as usize], "{a}..{b}");
        }
        let mut out = Vec::new();
        let c = get_part_to(&store, &keys, key, &mut out).unwrap().unwrap();
        assert_eq!((out, c.plain, c.stored), (plain, 200_000, ct.len() as u64));
    }
}
