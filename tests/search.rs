//! `search`, `sync` and `show --at`: the real binary on the embedded local store and on
//! s3s-fs (see `tests/common`). Every flag, JSON-escaped matches, two machines mirroring to
//! one bucket searched from a third, the part cache (reuse counted by a proxy, eviction, a
//! corrupted file), `--no-cache`.
//!
//! Fixture text is plain prose: nothing shaped like a secret, so redaction keeps the bytes.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Output;

use common::{run_with_timeout, Backend, Env, Fault, FaultProxy, RUN_TIMEOUT};
use serde_json::{json, Value};

const ALPHA: &str = "s-alpha-0001";
const BETA: &str = "s-beta-0002";
const SUB: &str = "s-alpha-0001.agent-abc";

fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Local];
    assert!(
        common::servers::available(common::Kind::S3s),
        "s3s-fs is needed: cargo install s3s-fs --version 0.14.1 --features binary"
    );
    v.push(Backend::S3s);
    v
}

fn run(e: &Env, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut c = e.cmd(args);
    for (k, v) in envs {
        c.env(k, v);
    }
    run_with_timeout(c, None, true, RUN_TIMEOUT).unwrap_or_else(|| panic!("{args:?} did not exit"))
}

fn ok(e: &Env, args: &[&str]) -> String {
    ok_env(e, args, &[])
}

fn ok_env(e: &Env, args: &[&str], envs: &[(&str, &str)]) -> String {
    let out = run(e, args, envs);
    assert!(
        out.status.success(),
        "{args:?} failed on {}:\nstdout: {}\nstderr: {}",
        e.backend.name(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn transcript(e: &Env, id: &str) -> PathBuf {
    let dir = e.home().join("transcripts");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{id}.jsonl"))
}

/// Append JSON lines to a session's transcript and mirror them (one new part).
fn add(e: &Env, id: &str, lines: &[Value]) {
    add_as(e, id, lines, &[]);
}

fn add_as(e: &Env, id: &str, lines: &[Value], envs: &[(&str, &str)]) {
    let mut bytes = Vec::new();
    for l in lines {
        bytes.extend_from_slice(l.to_string().as_bytes());
        bytes.push(b'\n');
    }
    common::append(&transcript(e, id), &bytes);
    ok_env(e, &["flush", "--transcript", transcript(e, id).to_str().unwrap()], envs);
}

fn user(ts: &str, text: &str) -> Value {
    json!({"type": "user", "timestamp": ts, "uuid": "u-needle-id", "message": {"role": "user", "content": text}})
}

fn said(ts: &str, text: &str) -> Value {
    json!({"type": "assistant", "timestamp": ts, "message": {"role": "assistant", "content": [{"type": "text", "text": text}]}})
}

fn tool_use(ts: &str, id: &str, name: &str, input: Value) -> Value {
    json!({"type": "assistant", "timestamp": ts, "message": {"role": "assistant", "content": [
        {"type": "text", "text": "Let me look at the TLS config"},
        {"type": "tool_use", "id": id, "name": name, "input": input}]}})
}

fn result(ts: &str, id: &str, text: &str) -> Value {
    json!({"type": "user", "timestamp": ts, "message": {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": id, "content": text}]}})
}

/// ALPHA (2 parts, 4 lines; mirrored by machine `m1`), BETA (22 lines), SUB (a subagent
/// of ALPHA).
fn fixture(e: &Env) {
    add_as(
        e,
        ALPHA,
        &[
            user("2026-01-02T10:00:00Z", "where did I fix the\nTLS error \"handshake\" café"),
            tool_use("2026-01-02T10:00:05Z", "toolu_a1", "Bash", json!({"command": "grep -rn handshake src/"})),
        ],
        &[("TRACECRAFT_AGENT", "m1")],
    );
    add_as(
        e,
        ALPHA,
        &[
            result("2026-01-02T10:00:10Z", "toolu_a1", "src/tls.rs:12: handshake failed"),
            said("2026-01-05T09:00:00Z", "Fixed the handshake timeout in src/tls.rs"),
        ],
        &[("TRACECRAFT_AGENT", "m1")],
    );
    let mut beta = vec![
        user("2026-02-01T08:00:00Z", "unrelated talk about tlsish words"),
        said("2026-02-01T08:00:01Z", "TLS again"),
    ];
    for i in 0..20 {
        beta.push(said(&format!("2026-02-01T08:01:{i:02}Z"), &format!("filler line number {i}")));
    }
    add(e, BETA, &beta);
    add(e, SUB, &[user("2026-01-02T10:00:06Z", "subagent looked for the handshake too")]);
}

/// (session, line) of every hit, from `--json`.
fn hits(e: &Env, args: &[&str]) -> Vec<(String, u64)> {
    let mut a = vec!["search", "--json"];
    a.extend_from_slice(args);
    ok(e, &a)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"));
            (v["session"].as_str().unwrap().to_string(), v["line"].as_u64().unwrap())
        })
        .collect()
}

fn at(id: &str, lines: &[u64]) -> Vec<(String, u64)> {
    lines.iter().map(|l| (id.to_string(), *l)).collect()
}

#[test]
fn every_flag_on_local_and_s3() {
    for b in backends() {
        let e = Env::new(b, "search-flags");
        fixture(&e);
        let a = |l: &[u64]| at(ALPHA, l);
        // Literal, after JSON unescaping: a newline and quotes in the prompt, non-ASCII.
        assert_eq!(hits(&e, &["the\nTLS error \"handshake\""]), a(&[1]));
        assert_eq!(hits(&e, &["café"]), a(&[1]));
        // Keys and ids are not text; --raw searches the stored bytes.
        assert!(hits(&e, &["tool_use_id"]).is_empty());
        assert!(hits(&e, &["toolu_a1"]).is_empty());
        assert!(hits(&e, &["u-needle-id"]).is_empty());
        assert_eq!(hits(&e, &["--raw", "toolu_a1"]), a(&[2, 3]));
        assert_eq!(hits(&e, &["--raw", "the\\nTLS"]), a(&[1]), "raw sees the escape");
        // Every place people read: prompt, tool input, tool output, answer.
        assert_eq!(hits(&e, &["handshake"]), a(&[1, 2, 3, 4]));
        let mut with_sub = a(&[1, 2, 3, 4]);
        with_sub.extend(at(SUB, &[1]));
        assert_eq!(hits(&e, &["--subagents", "handshake"]), with_sub);
        // Case, words, regex.
        let mut lower = a(&[3, 4]); // src/tls.rs
        lower.extend(at(BETA, &[1]));
        assert_eq!(hits(&e, &["tls"]), lower);
        let mut words = a(&[1, 2, 3, 4]); // "src/tls.rs": tls is a word there
        words.extend(at(BETA, &[2]));
        assert_eq!(hits(&e, &["-w", "-i", "tls"]), words);
        assert_eq!(hits(&e, &["-i", "-w", "TLSISH"]), at(BETA, &[1]));
        assert_eq!(hits(&e, &["-e", "hand.hake (fail|time)"]), a(&[3, 4]));
        assert_eq!(hits(&e, &["--regex", "^subagent"]), Vec::new());
        // Filters.
        assert_eq!(hits(&e, &["--role", "user", "handshake"]), a(&[1]));
        assert_eq!(hits(&e, &["--role", "tool", "handshake"]), a(&[2, 3]));
        assert_eq!(hits(&e, &["--role", "assistant", "handshake"]), a(&[4]));
        assert_eq!(hits(&e, &["--tool", "Bash", "handshake"]), a(&[2, 3]));
        assert!(hits(&e, &["--tool", "Read", "handshake"]).is_empty());
        assert_eq!(hits(&e, &["--since", "2026-01-03", "handshake"]), a(&[4]));
        assert_eq!(hits(&e, &["--until", "2026-01-02", "handshake"]), a(&[1, 2, 3]));
        assert_eq!(
            hits(&e, &["--since", "2026-01-02T10:00:05Z", "--until", "2026-01-02T10:00:05Z", "handshake"]),
            a(&[2])
        );
        assert_eq!(hits(&e, &["--session", "s-beta", "-i", "TLS"]), at(BETA, &[1, 2]));
        assert_eq!(hits(&e, &["--agent", "m1", "-i", "tls"]), a(&[1, 2, 3, 4]), "BETA is another machine's");
        assert!(hits(&e, &["--agent", "no-such-machine", "handshake"]).is_empty());
        // Output forms.
        let text = ok(&e, &["search", "-C", "4", "handshake"]);
        let first = text.lines().next().unwrap();
        assert!(first.starts_with("s-alpha-0001:1  2026-01-02 10:00  user  "), "{first}");
        assert!(first.ends_with("or \"handshake\" ca"), "context of 4 characters: {first}");
        assert!(!text.contains("\x1b["), "no colour when piped");
        assert!(text.lines().nth(1).unwrap().contains("tool Bash"), "{text}");
        assert_eq!(ok(&e, &["search", "--count", "--subagents", "handshake"]), format!("{ALPHA}\t4\n{SUB}\t1\n"));
        assert_eq!(ok(&e, &["search", "-l", "-i", "tls"]), format!("{ALPHA}\n{BETA}\n"));
        let j: Value = serde_json::from_str(ok(&e, &["search", "--json", "-C", "0", "failed"]).trim()).unwrap();
        assert_eq!(j["text"], "failed");
        assert_eq!(
            (j["role"].as_str(), j["tool"].as_str(), j["match"].clone()),
            (Some("tool"), Some("Bash"), json!([0, 6]))
        );
        assert_eq!(j["time"], "2026-01-02T10:00:10Z");
        // The cache gives the same answers as no cache.
        assert_eq!(ok(&e, &["search", "--no-cache", "handshake"]), ok(&e, &["search", "handshake"]));
        // Bad input: a clear message, exit 1.
        for bad in
            [&["search", "-e", "("][..], &["search", "--role", "bot", "x"], &["search", "--since", "yesterday", "x"]]
        {
            let out = run(&e, bad, &[]);
            assert_eq!(out.status.code(), Some(1), "{bad:?}");
            assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
        }
        // show --at opens the moment: 3 lines before, 12 after.
        let shown = ok(&e, &["show", BETA, "--at", "10"]);
        let ns: Vec<&str> = shown.lines().collect();
        assert_eq!(ns.len(), 16, "{shown}");
        assert!(ns[0].contains("filler line number 4"), "{}", ns[0]);
        assert!(ns[3].contains("filler line number 7"), "line 10 is the 4th shown");
        let out = run(&e, &["show", ALPHA, "--at", "9"], &[]);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("no line 9"));
    }
}

#[test]
fn all_projects_finds_every_project_in_the_store() {
    for b in backends() {
        let e = Env::new(b, "search-projects");
        add(&e, ALPHA, &[user("2026-01-02T10:00:00Z", "the shared marker word")]);
        let other = format!("{}-other", e.project);
        let line = user("2026-01-02T10:00:00Z", "another shared marker word");
        common::append(&transcript(&e, BETA), format!("{line}\n").as_bytes());
        ok_env(
            &e,
            &["flush", "--transcript", transcript(&e, BETA).to_str().unwrap()],
            &[("TRACECRAFT_PROJECT", &other)],
        );
        assert_eq!(ok(&e, &["search", "-l", "marker"]), format!("{ALPHA}\n"));
        let all = ok(&e, &["search", "-l", "--all-projects", "marker"]);
        assert!(all.contains(&format!("{}/{ALPHA}\n", e.project)), "{all}");
        assert!(all.contains(&format!("{other}/{BETA}\n")), "{all}");
        let one = ok(&e, &["search", "-l", "--all-projects", "--session", "s-beta", "marker"]);
        assert_eq!(one, format!("{other}/{BETA}\n"));
    }
}

/// A second env on the same server and project, as another machine with its own HOME.
fn machine(first: &Env, name: &str) -> Env {
    let mut m = Env::new(first.backend, name);
    m.project = first.project.clone();
    let mut cfg = m.config_value(&first.endpoint().unwrap());
    cfg["agent_id"] = json!(name);
    m.write_config_value(&cfg);
    m
}

#[test]
fn two_machines_mirror_one_bucket_and_a_third_searches() {
    let a = Env::new(Backend::S3s, "search-machines");
    let laptop = machine(&a, "laptop");
    let desktop = machine(&a, "desktop");
    let third = machine(&a, "third");
    add(&laptop, "s-from-laptop", &[user("2026-03-01T00:00:00Z", "the flaky TLS handshake on the laptop")]);
    add(&desktop, "s-from-desktop", &[said("2026-03-02T00:00:00Z", "the TLS handshake fixed on the desktop")]);
    assert_eq!(
        hits(&third, &["TLS handshake"]),
        vec![("s-from-desktop".to_string(), 1), ("s-from-laptop".to_string(), 1)]
    );
    assert_eq!(hits(&third, &["--agent", "laptop", "handshake"]), at("s-from-laptop", &[1]));
    assert_eq!(hits(&third, &["--agent", "desktop", "handshake"]), at("s-from-desktop", &[1]));
}

fn cache_files(e: &Env) -> Vec<PathBuf> {
    let dir = e.home().join(".tracecraft/cache");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.flatten().map(|x| x.path()).filter(|p| p.extension().is_some_and(|x| x == "part")).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Part keys fetched (GETs that are not listings and not meta.json).
fn part_gets(p: &FaultProxy) -> BTreeSet<String> {
    p.log()
        .iter()
        .filter(|r| r.operation() == "GetObject" && !r.target.split('?').next().unwrap().ends_with("/meta.json"))
        .map(|r| r.target.split('?').next().unwrap().rsplit('/').next().unwrap().to_string())
        .collect()
}

fn other_ops(p: &FaultProxy) -> Vec<String> {
    p.log()
        .iter()
        .filter(|r| {
            !(r.operation() == "ListObjectsV2"
                || r.operation() == "GetObject" && r.target.split('?').next().unwrap().ends_with("/meta.json"))
        })
        .map(|r| format!("{} {}", r.method, r.target))
        .collect()
}

#[test]
fn cache_second_search_reads_only_listing_and_meta_then_only_new_parts() {
    let e = Env::new(Backend::S3s, "search-cache");
    let proxy = FaultProxy::start(e.server_addr(), FaultProxy::mode(Fault::PassThrough));
    e.write_config(&proxy.endpoint());
    fixture(&e);
    let want = ok(&e, &["search", "--no-cache", "handshake"]);
    assert_eq!(part_gets(&proxy).len(), 3, "--no-cache fetched ALPHA's two parts and BETA's");
    assert!(cache_files(&e).is_empty(), "--no-cache writes nothing");

    proxy.reset_counts();
    assert_eq!(ok(&e, &["search", "handshake"]), want);
    assert_eq!(part_gets(&proxy).len(), 3, "first search downloads");
    assert_eq!(cache_files(&e).len(), 3, "ALPHA's two parts and BETA's");
    assert!(e.home().join(".tracecraft/cache/index.json").is_file());
    let dir = e.home().join(".tracecraft/cache");
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    for f in cache_files(&e) {
        assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600, "{}", f.display());
    }

    proxy.reset_counts();
    assert_eq!(ok(&e, &["search", "handshake"]), want);
    assert!(other_ops(&proxy).is_empty(), "second search: only LIST and meta.json: {:?}", other_ops(&proxy));
    let ops = proxy.counts_by_operation();
    assert_eq!(ops.get("ListObjectsV2"), Some(&1), "{ops:?}");
    assert_eq!(ops.get("GetObject"), None, "unchanged meta.json is cached too: {ops:?}");

    // A new part: only it is fetched.
    add(&e, ALPHA, &[said("2026-01-06T00:00:00Z", "one more handshake")]);
    proxy.reset_counts();
    let now = ok(&e, &["search", "handshake"]);
    assert!(now.contains("one more handshake"), "{now}");
    let got = part_gets(&proxy);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got.iter().next().unwrap().starts_with("part-00002-"), "{got:?}");

    // A corrupted cache file (same size): detected, re-fetched, right answer.
    let files = cache_files(&e);
    let victim = files.iter().find(|f| std::fs::read(f).unwrap().windows(9).any(|w| w == b"handshake")).unwrap();
    let len = std::fs::metadata(victim).unwrap().len() as usize;
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(victim, vec![b'x'; len]).unwrap();
    proxy.reset_counts();
    assert_eq!(ok(&e, &["search", "handshake"]), now);
    assert_eq!(part_gets(&proxy).len(), 1, "the corrupted part is fetched again");
    proxy.reset_counts();
    assert_eq!(ok(&e, &["search", "handshake"]), now);
    assert!(part_gets(&proxy).is_empty(), "and cached again");

    // sync fills the cache of a fresh machine; its search then fetches no part.
    let fresh = machine(&e, "fresh");
    fresh.write_config(&proxy.endpoint());
    let mut cfg = fresh.config_value(&proxy.endpoint());
    cfg["project"] = json!(e.project);
    fresh.write_config_value(&cfg);
    ok(&fresh, &["sync"]);
    assert_eq!(cache_files(&fresh).len(), 5, "every part, the subagent's too");
    proxy.reset_counts();
    assert_eq!(ok(&fresh, &["search", "handshake"]), now);
    assert!(part_gets(&proxy).is_empty());
}

#[test]
fn cache_is_bounded_and_evicts_the_oldest() {
    let e = Env::new(Backend::S3s, "search-evict");
    let proxy = FaultProxy::start(e.server_addr(), FaultProxy::mode(Fault::PassThrough));
    e.write_config(&proxy.endpoint());
    let big = "lorem ipsum dolor ".repeat(200); // ~3.6 KB per line
    for i in 0..4 {
        add(&e, &format!("s-evict-{i}"), &[user("2026-01-01T00:00:00Z", &format!("needle {i} {big}"))]);
    }
    let size = |e: &Env| cache_files(e).iter().map(|f| std::fs::metadata(f).unwrap().len()).sum::<u64>();
    let max = ("TRACECRAFT_CACHE_MAX", "8K");
    let out = ok_env(&e, &["search", "-l", "needle"], &[max]);
    assert_eq!(out.lines().count(), 4);
    assert!(size(&e) <= 8192, "bounded: {}", size(&e));
    assert!(!cache_files(&e).is_empty() && cache_files(&e).len() < 4, "{}", cache_files(&e).len());
    proxy.reset_counts();
    ok_env(&e, &["search", "-l", "needle"], &[max]);
    assert!(!part_gets(&proxy).is_empty(), "evicted parts are fetched again");
    // Unbounded again: everything stays.
    ok(&e, &["search", "-l", "needle"]);
    assert_eq!(cache_files(&e).len(), 4);
    let out = run(&e, &["search", "x"], &[("TRACECRAFT_CACHE_MAX", "lots")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TRACECRAFT_CACHE_MAX"));
}

#[test]
fn encrypted_sessions_are_searched_and_never_cached() {
    for b in backends() {
        let e = Env::new(b, "search-sealed");
        let out = ok(&e, &["keygen"]);
        let r = out.lines().find_map(|l| l.strip_prefix("recipient: ")).unwrap_or_else(|| panic!("{out}")).to_string();
        let mut cfg = match e.endpoint() {
            Some(ep) => e.config_value(&ep),
            None => json!({"backend": "local"}),
        };
        cfg["encrypt"] = json!({"recipients": [r]});
        e.write_config_value(&cfg);
        add(&e, "s-sealed", &[user("2026-01-02T10:00:00Z", "the sealed quokka-marker prompt")]);
        assert!(e.list_keys(&e.session_prefix("s-sealed")).iter().any(|k| k.ends_with(".jsonl.age")));
        assert_eq!(hits(&e, &["quokka-marker"]), at("s-sealed", &[1]));
        assert_eq!(hits(&e, &["quokka-marker"]), at("s-sealed", &[1]), "and again");
        let dir = e.home().join(".tracecraft/cache");
        for f in
            std::fs::read_dir(&dir).map(|rd| rd.flatten().map(|x| x.path()).collect::<Vec<_>>()).unwrap_or_default()
        {
            let body = std::fs::read(&f).unwrap_or_default();
            assert!(!String::from_utf8_lossy(&body).contains("quokka"), "{} holds plaintext", f.display());
            assert!(f.extension().is_none_or(|x| x != "part"), "sealed parts are not cached: {}", f.display());
        }
    }
}

/// A warm search scans the cached parts of the last listing while the LIST is in flight;
/// what it prints must still be exactly what the bucket holds now: a session deleted from
/// the bucket after it was cached shows no hit, a part or a session added since does, in
/// the same order as a search that caches nothing.
#[test]
fn warm_search_shows_what_the_bucket_holds_after_sessions_changed() {
    for b in backends() {
        let e = Env::new(b, "search-changed");
        fixture(&e);
        add(&e, "s-gamma-0003", &[user("2026-01-03T00:00:00Z", "gamma handshake soon deleted")]);
        let first = ok(&e, &["search", "handshake"]);
        assert!(first.contains("gamma handshake"), "{first}");
        assert_eq!(ok(&e, &["search", "handshake"]), first, "warm, nothing changed");
        let dir = e.home().join(".tracecraft/cache");
        let listings = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|f| f.path().extension().is_some_and(|x| x == "listing"))
            .count();
        assert_eq!(listings, 1, "the listing is kept for the next search's head start");
        assert!(cache_files(&e).len() >= 4, "gamma's part is cached");

        // Deleted from the bucket after it was cached (its cached part stays).
        for k in e.list_keys(&e.session_prefix("s-gamma-0003")) {
            e.delete(&k);
        }
        // A part added to a cached session, and a new session.
        add(&e, ALPHA, &[said("2026-01-06T00:00:00Z", "one more handshake")]);
        add(&e, "s-delta-0004", &[user("2026-01-07T00:00:00Z", "delta handshake")]);
        let want = ok(&e, &["search", "--no-cache", "handshake"]);
        assert!(!want.contains("gamma"), "{want}");
        assert!(want.contains("one more handshake") && want.contains("delta handshake"), "{want}");
        assert_eq!(ok(&e, &["search", "handshake"]), want, "on {}", e.backend.name());
        assert_eq!(ok(&e, &["search", "handshake"]), want, "and again, from the new listing");
        for args in [&["--count"][..], &["-l"], &["--json"], &["--all-projects"], &["--subagents"], &["--agent", "m1"]]
        {
            let mut warm = vec!["search"];
            warm.extend_from_slice(args);
            warm.push("handshake");
            let mut cold = warm.clone();
            cold.insert(1, "--no-cache");
            assert_eq!(ok(&e, &warm), ok(&e, &cold), "{args:?} on {}", e.backend.name());
        }
        assert!(!ok(&e, &["search", "-l", "--all-projects", "gamma"]).contains("gamma"));
    }
}

/// A LIST that fails fails the search: nothing scanned ahead from the last listing is
/// printed.
#[test]
fn warm_search_prints_nothing_when_the_listing_fails() {
    let e = Env::new(Backend::S3s, "search-listfail");
    let proxy = FaultProxy::start(e.server_addr(), FaultProxy::mode(Fault::PassThrough));
    e.write_config(&proxy.endpoint());
    fixture(&e);
    assert!(!ok(&e, &["search", "handshake"]).is_empty());
    proxy.set(Fault::Status(403));
    let out = run(&e, &["search", "handshake"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    proxy.set(Fault::PassThrough);
    assert!(!ok(&e, &["search", "handshake"]).is_empty());
}
