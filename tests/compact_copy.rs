//! `compact` lets the store copy what it can (issue 15): on S3, parts of 5 MiB or more
//! become `UploadPartCopy` requests (counted through a proxy) and only the small ones are
//! downloaded, batched into uploaded parts of 5 MiB or more; a server that refuses copying
//! gets the old download-and-upload path; the local store copies files. In every case the
//! merged object is byte for byte the concatenation it replaces, and the Python CLI reads it.

mod common;

use std::collections::HashMap;

use common::proxy::{Fault, FaultProxy};
use common::{backends, s3_backends, Backend, Env};

const MIB: usize = 1 << 20;

/// One transcript line of about `len` bytes (multi-line Unicode text, nothing to redact).
fn line(i: usize, len: usize) -> Vec<u8> {
    let mut text = String::new();
    while text.len() < len {
        text.push_str(&format!("ligne {i}: café – naïve résumé ✓ 日本語のテキスト\n"));
    }
    let v = serde_json::json!({"type": "user", "message": {"role": "user", "content": text}});
    let mut out = serde_json::to_vec(&v).unwrap();
    out.push(b'\n');
    out
}

/// A session whose parts have these sizes (about: whole lines of at most 512 KiB, one
/// flush per part), flushed; returns the transcript's bytes.
fn session_with_parts(env: &Env, sid: &str, sizes: &[usize]) -> Vec<u8> {
    let path = env.transcript_path(sid);
    let mut all = Vec::new();
    let mut n = 0;
    for &size in sizes {
        let mut part = Vec::new();
        while part.len() < size {
            n += 1;
            part.extend(line(n, (size - part.len()).clamp(200, MIB / 2)));
        }
        all.extend(&part);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &all).unwrap();
        // (Nothing to redact; --no-redact keeps the debug build quick.)
        let out = env.run(&["flush", "--session-id", sid, "--no-redact"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(env.part_keys(sid).len(), sizes.len(), "{}: one part per flush", env.backend.name());
    all
}

fn compact(env: &Env, sid: &str) -> String {
    let out = env.run(&["compact", sid]);
    assert!(out.status.success(), "{}: {}", env.backend.name(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Requests by operation, only those the server answered with a 2xx.
fn ok_ops(proxy: &FaultProxy) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in proxy.log() {
        if r.status.is_some_and(|s| (200..300).contains(&s)) {
            *m.entry(r.operation()).or_insert(0) += 1;
        }
    }
    m
}

/// GETs (whole or ranged) of the object whose key ends with `name`.
fn gets_of(proxy: &FaultProxy, name: &str) -> usize {
    proxy
        .log()
        .iter()
        .filter(|r| r.operation() == "GetObject" && r.target.split('?').next().unwrap().ends_with(name))
        .count()
}

/// Sizes chosen to take every path: two small parts (batched), a big part after 3 MiB of
/// small ones (its first 2 MiB top them up to 5 MiB, the rest is copied), a big part copied
/// whole, and small ones at the end (the last uploaded part).
const SIZES: [usize; 6] = [10 << 10, 3 * MIB, 7 * MIB + MIB / 2, 6 * MIB, 200 << 10, 1 << 10];

#[test]
fn compact_copies_big_parts_on_the_server_and_downloads_only_small_ones() {
    for b in s3_backends() {
        let Some(env) = Env::try_new(b, "compact-copy") else { continue };
        let sid = "c0c0c0c0-1111-4a2b-8c3d-0123456789ab";
        let transcript = session_with_parts(&env, sid, &SIZES);
        let before = env.replay(sid);
        assert_eq!(before, transcript);
        let names: Vec<String> = env.part_keys(sid).iter().map(|k| k.rsplit('/').next().unwrap().to_string()).collect();

        let proxy = FaultProxy::start(env.server_addr(), FaultProxy::mode(Fault::PassThrough));
        env.write_config(&proxy.endpoint());
        let said = compact(&env, sid);
        let ops = ok_ops(&proxy);
        assert_eq!(ops.get("UploadPartCopy"), Some(&2), "{}: {ops:?}\n{said}", b.name());
        // Small ones batched: 10 KiB + 3 MiB + 2 MiB of part 2, then 200 KiB + 1 KiB.
        assert_eq!(ops.get("UploadPart"), Some(&2), "{}: {ops:?}", b.name());
        assert_eq!(gets_of(&proxy, &names[2]), 1, "{}: only the top-up range of part 2", b.name());
        assert_eq!(gets_of(&proxy, &names[3]), 0, "{}: part 3 never downloaded", b.name());
        assert!(said.contains("2 copied by the store"), "{said}");

        let keys = env.part_keys(sid);
        assert_eq!(keys.len(), 1, "{}: {keys:?}", b.name());
        assert_eq!(env.replay(sid), before, "{}: byte-identical", b.name());
        let meta = env.meta(sid).unwrap();
        let part = &meta["parts"][0];
        assert_eq!(part["compacted_from"], 6, "{meta}");
        assert_eq!(part["uploaded_bytes"].as_u64(), Some(before.len() as u64));
        // No sha256 of bytes that never came through us; each original's instead.
        assert!(part.get("sha256").is_none_or(|s| s.is_null()), "{part}");
        let pieces = part["piece_sha256"].as_array().expect("piece_sha256");
        assert_eq!(pieces.len(), 6);
        let mut at = 0usize;
        for p in pieces {
            let size = p[0].as_u64().unwrap() as usize;
            assert_eq!(p[1].as_str().unwrap(), sha256_hex(&before[at..at + size]), "{part}");
            at += size;
        }
        assert_eq!(at, before.len());

        // Our `show` and the Python CLI read it back.
        let out = env.run(&["show", sid, "--raw"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, before, "{}: show --raw", b.name());
        if b == Backend::S3s {
            env.write_config(&env.endpoint().unwrap());
            if let Some(out) = env.tracecraft_py(&["session", "show", sid, "--tail", "1000"]) {
                let text = String::from_utf8_lossy(&out.stdout);
                let tail = text.split("--- tail ---\n").nth(1).expect("python show prints a tail");
                assert_eq!(tail.as_bytes(), &before[..], "python show");
            }
        }
    }
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn compact_falls_back_to_downloading_when_the_server_refuses_to_copy() {
    for b in s3_backends() {
        // 501 Not Implemented (a server without the operation), 403 (a policy refusing it).
        for status in [if b == Backend::S3s { 501u16 } else { 403 }] {
            let Some(env) = Env::try_new(b, "compact-nocopy") else { continue };
            let sid = "c0c0c0c0-2222-4a2b-8c3d-0123456789ab";
            let transcript = session_with_parts(&env, sid, &SIZES);
            let proxy = FaultProxy::start(env.server_addr(), FaultProxy::mode(Fault::RefuseCopy(status)));
            env.write_config(&proxy.endpoint());
            let said = compact(&env, sid);
            let refused = proxy.log().iter().filter(|r| r.operation() == "UploadPartCopy").count();
            assert_eq!(refused, 1, "{} {status}: asked once, then never again", b.name());
            assert_eq!(ok_ops(&proxy).get("UploadPartCopy"), None);
            let names: Vec<String> =
                env.part_keys(sid).iter().map(|k| k.rsplit('/').next().unwrap().to_string()).collect();
            assert_eq!(names.len(), 1, "{} {status}: compacted", b.name());
            assert_eq!(env.replay(sid), transcript, "{} {status}: byte-identical", b.name());
            let meta = env.meta(sid).unwrap();
            // Part 2 was topped up before the refusal: its rest came by ranged GETs, so the
            // merged part still has no sha256 of its own, but its pieces.
            assert!(meta["parts"][0]["piece_sha256"].is_array(), "{meta}");
            assert!(!said.contains("copied by the store"), "{said}");
        }
    }
}

#[test]
fn compact_of_small_parts_only_copies_nothing_and_keeps_its_sha256() {
    for b in backends() {
        let Some(env) = Env::try_new(b, "compact-small") else { continue };
        let sid = "c0c0c0c0-3333-4a2b-8c3d-0123456789ab";
        let transcript = session_with_parts(&env, sid, &[10 << 10, 20 << 10, 30 << 10]);
        let said = compact(&env, sid);
        assert_eq!(env.replay(sid), transcript, "{}", b.name());
        let meta = env.meta(sid).unwrap();
        let part = &meta["parts"][0];
        if b.is_s3() {
            assert!(!said.contains("copied by the store"), "{said}");
            assert_eq!(part["sha256"].as_str(), Some(sha256_hex(&transcript).as_str()), "{meta}");
        }
    }
}

#[test]
fn compact_on_the_local_store_copies_files() {
    let Some(env) = Env::try_new(Backend::Local, "compact-local") else { return };
    let sid = "c0c0c0c0-4444-4a2b-8c3d-0123456789ab";
    let transcript = session_with_parts(&env, sid, &SIZES);
    let said = compact(&env, sid);
    assert!(said.contains("6 copied by the store"), "{said}");
    assert_eq!(env.part_keys(sid).len(), 1);
    assert_eq!(env.replay(sid), transcript);
    let out = env.run(&["show", sid, "--raw"]);
    assert_eq!(out.stdout, transcript);
    let meta = env.meta(sid).unwrap();
    assert_eq!(meta["parts"][0]["piece_sha256"].as_array().map(Vec::len), Some(6), "{meta}");
}
