//! CLI tests of `show`, `list`, `stop` and `compact`, running the real binary with a
//! temporary HOME and no configuration, so sessions go to the embedded local store
//! ($HOME/.tracecraft/store/default/...). Everything backend-specific goes through
//! `Env::cmd` (the command to run) and `Env::put_object`/`Env::object_keys` (direct access
//! to the bucket), so the same tests can later run against S3 servers.
//!
//! Fixture text is plain prose: nothing shaped like a secret, so redaction keeps the bytes.
//!
//! Opt-in S3 run: `TRACECRAFT_TEST_S3S_FS=/path/to/s3s-fs cargo test --test cli_showlist`
//! starts one s3s-fs server per test (its data directory doubles as the bucket directory)
//! and writes a config pointing at it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const PROJECT: &str = "default";

struct Env {
    home: tempfile::TempDir,
    /// The s3s-fs server of an S3 run (killed on drop).
    server: Option<std::process::Child>,
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Env {
    fn new() -> Env {
        let mut env = Env { home: tempfile::tempdir().expect("temp dir"), server: None };
        if let Some(bin) = std::env::var_os("TRACECRAFT_TEST_S3S_FS").filter(|v| !v.is_empty()) {
            env.start_s3s_fs(Path::new(&bin));
        }
        env
    }

    fn start_s3s_fs(&mut self, bin: &Path) {
        let root = self.home().join("s3root");
        std::fs::create_dir_all(root.join("tcbucket")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", "K", "--secret-key", "S"])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        self.server = Some(child);
        let start = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < std::time::Duration::from_secs(10), "s3s-fs did not start");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let cfg = serde_json::json!({
            "backend": "s3", "endpoint": format!("http://127.0.0.1:{port}"), "bucket": "tcbucket",
            "project": PROJECT, "access_key": "K", "secret_key": "S"
        });
        let path = self.home().join(".tracecraft/config.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, cfg.to_string()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    /// How messages describe the destination ("local store <dir>" or "s3 <endpoint> bucket tcbucket").
    fn dest_word(&self) -> &'static str {
        if self.server.is_some() {
            "bucket tcbucket"
        } else {
            "local store"
        }
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    /// The binary with a clean environment: HOME set, no AWS_/TRACECRAFT_/CLAUDE_ variables.
    fn cmd(&self) -> Command {
        self.prepare(Command::new(env!("CARGO_BIN_EXE_tracecraft-hook")))
    }

    /// Any command (a shell pipeline...) with the same environment as `cmd`.
    fn prepare(&self, mut c: Command) -> Command {
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("AWS_") || k.starts_with("TRACECRAFT_") || k.starts_with("CLAUDE_") {
                c.env_remove(k);
            }
        }
        c.env("HOME", self.home()).env("NO_COLOR", "1").current_dir(self.home());
        c
    }

    /// Run and return the output, whatever the exit status.
    fn output(&self, args: &[&str], abort_at: Option<&str>) -> Output {
        let mut c = self.cmd();
        c.args(args);
        if let Some(p) = abort_at {
            c.env("TRACECRAFT_TEST_ABORT_AT", p);
        }
        c.output().expect("run binary")
    }

    /// Run, require success, return stdout.
    fn ok(&self, args: &[&str]) -> Vec<u8> {
        let out = self.output(args, None);
        assert!(
            out.status.success(),
            "{args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Run, require failure with exit code 1, return stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.output(args, None);
        assert_eq!(out.status.code(), Some(1), "{args:?} should fail: {}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn text(&self, args: &[&str]) -> String {
        String::from_utf8(self.ok(args)).expect("utf-8 output")
    }

    fn transcript(&self, id: &str) -> PathBuf {
        let dir = self.home().join("transcripts");
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(format!("{id}.jsonl"))
    }

    fn append(&self, path: &Path, bytes: &[u8]) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        f.write_all(bytes).unwrap();
    }

    fn flush(&self, path: &Path) {
        self.ok(&["flush", "--transcript", path.to_str().unwrap()]);
    }

    fn flush_final(&self, path: &Path) {
        self.ok(&["flush", "--final", "--transcript", path.to_str().unwrap()]);
    }

    /// The bucket as a directory (the local store, or the s3s-fs data directory).
    fn bucket(&self) -> PathBuf {
        if self.server.is_some() {
            self.home().join("s3root/tcbucket")
        } else {
            self.home().join(".tracecraft/store")
        }
    }

    fn session_prefix(&self, id: &str) -> String {
        format!("{PROJECT}/sessions/claude-code/{id}/")
    }

    fn put_object(&self, key: &str, body: &[u8]) {
        let p = self.bucket().join(key);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }

    fn get_object(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.bucket().join(key)).ok()
    }

    /// Object names (after the session prefix) of a session, sorted.
    fn object_names(&self, id: &str) -> Vec<String> {
        let dir = self.bucket().join(self.session_prefix(id));
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.retain(|n| !n.starts_with('.'));
        names.sort();
        names
    }

    fn part_names(&self, id: &str) -> Vec<String> {
        self.object_names(id).into_iter().filter(|n| n.starts_with("part-")).collect()
    }

    fn meta(&self, id: &str) -> Value {
        let bytes = self.get_object(&format!("{}meta.json", self.session_prefix(id))).expect("meta.json");
        serde_json::from_slice(&bytes).expect("meta.json is JSON")
    }

    fn show_raw(&self, id: &str) -> Vec<u8> {
        self.ok(&["show", "--raw", id])
    }
}

/// A transcript-like JSONL line; `len` sets its rough size. Plain prose, no secret shapes.
fn line(i: usize, len: usize) -> Vec<u8> {
    let mut filler = String::new();
    while filler.len() < len {
        filler.push_str(&format!("word{} ", filler.len() % 97));
    }
    let role = if i.is_multiple_of(2) { "user" } else { "assistant" };
    format!(
        "{{\"type\":\"{role}\",\"timestamp\":\"2026-01-01T00:{:02}:{:02}Z\",\"n\":{i},\"message\":{{\"role\":\"{role}\",\"content\":\"{filler}\"}}}}\n",
        (i / 60) % 60,
        i % 60
    )
    .into_bytes()
}

/// A session mirrored in `flushes` flushes of `per` lines each (sizes vary, some lines large).
fn mirrored(env: &Env, id: &str, flushes: usize, per: usize) -> Vec<u8> {
    let t = env.transcript(id);
    let mut all = Vec::new();
    let mut i = 0;
    for _ in 0..flushes {
        for _ in 0..per {
            let l = line(i, [80, 300, 40_000, 1200, 5][i % 5]);
            env.append(&t, &l);
            all.extend_from_slice(&l);
            i += 1;
        }
        env.flush(&t);
    }
    all
}

fn last_lines(all: &[u8], n: usize) -> Vec<u8> {
    let lines: Vec<&[u8]> = all.split_inclusive(|b| *b == b'\n').collect();
    lines[lines.len().saturating_sub(n)..].concat()
}

fn assert_same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
        panic!("{what}: {} bytes vs {} expected; first difference at byte {at}", got.len(), want.len());
    }
}

#[test]
fn show_raw_streams_the_transcript_byte_for_byte() {
    let env = Env::new();
    let all = mirrored(&env, "s-show-1", 4, 3);
    assert_eq!(env.part_names("s-show-1").len(), 4);
    assert_same(&env.show_raw("s-show-1"), &all, "show --raw");
    // Not a terminal: the default is raw too.
    assert_same(&env.ok(&["show", "s-show-1"]), &all, "show (piped)");
}

#[test]
fn tail_returns_the_last_lines_across_parts() {
    let env = Env::new();
    let all = mirrored(&env, "s-tail-1", 5, 4);
    let total = all.split_inclusive(|b| *b == b'\n').count();
    for n in [0, 1, 2, 3, 4, 5, 9, total - 1, total, total + 10] {
        let got = env.ok(&["show", "s-tail-1", "--tail", &n.to_string()]);
        assert_same(&got, &last_lines(&all, n), &format!("--tail {n}"));
    }
}

#[test]
fn tail_counts_a_partial_last_line() {
    let env = Env::new();
    let t = env.transcript("s-tail-partial");
    env.append(&t, b"{\"a\":1}\n{\"a\":2}\n");
    env.flush(&t);
    env.append(&t, b"{\"a\":3}");
    env.flush_final(&t);
    assert_same(&env.show_raw("s-tail-partial"), b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}", "show");
    assert_eq!(env.ok(&["show", "s-tail-partial", "--tail", "1"]), b"{\"a\":3}");
    assert_eq!(env.ok(&["show", "s-tail-partial", "--tail", "2"]), b"{\"a\":2}\n{\"a\":3}");
}

#[test]
fn ids_resolve_by_unique_prefix_and_ambiguity_is_explained() {
    let env = Env::new();
    for id in ["aaa-111", "aaa-1112", "aab-222", "bbb-333"] {
        let t = env.transcript(id);
        env.append(&t, format!("{{\"id\":\"{id}\"}}\n").as_bytes());
        env.flush(&t);
    }
    assert_eq!(env.show_raw("bbb"), b"{\"id\":\"bbb-333\"}\n");
    assert_eq!(env.show_raw("aab"), b"{\"id\":\"aab-222\"}\n");
    // A full id wins even when it is the prefix of another id.
    assert_eq!(env.show_raw("aaa-111"), b"{\"id\":\"aaa-111\"}\n");
    let err = env.fails(&["show", "aa"]);
    assert!(err.contains("ambiguous"), "{err}");
    for id in ["aaa-111", "aaa-1112", "aab-222"] {
        assert!(err.contains(id), "full id {id} listed: {err}");
    }
    assert!(!err.contains("bbb-333"), "{err}");
    let err = env.fails(&["show", "zzz"]);
    assert!(err.starts_with("tracecraft-hook: "), "{err}");
    assert!(err.contains("zzz") && err.contains(env.dest_word()) && err.contains("project default"), "{err}");
    assert_eq!(err.lines().count(), 1, "one error line: {err}");
    let err = env.fails(&["show", "../x"]);
    assert!(err.contains("invalid session id"), "{err}");
}

#[test]
fn list_shows_full_ids_parts_and_sizes() {
    let env = Env::new();
    let empty = env.text(&["list"]);
    assert!(empty.starts_with("(no sessions in ") && empty.contains(env.dest_word()), "{empty}");
    assert_eq!(serde_json::from_str::<Value>(&env.text(&["list", "--json"])).unwrap(), serde_json::json!([]));

    let small = mirrored(&env, "0a1b2c3d-0000-4000-8000-000000000001", 2, 1);
    let big = mirrored(&env, "0a1b2c3d-0000-4000-8000-000000000002", 3, 3);
    env.ok(&["stop", "0a1b2c3d-0000-4000-8000-000000000001"]);

    let table = env.text(&["list"]);
    assert!(table.lines().next().unwrap().starts_with("SESSION"), "{table}");
    assert!(table.contains("0a1b2c3d-0000-4000-8000-000000000001"), "{table}");
    assert!(table.contains("0a1b2c3d-0000-4000-8000-000000000002"), "{table}");
    assert!(table.contains("(stop)"), "{table}");

    let rows: Value = serde_json::from_str(&env.text(&["list", "--json", "--sort", "size"])).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["id"], "0a1b2c3d-0000-4000-8000-000000000002");
    assert_eq!(rows[0]["parts"], 3);
    assert_eq!(rows[0]["bytes"], big.len() as u64);
    assert_eq!(rows[0]["ended_at"], Value::Null);
    assert_eq!(rows[1]["parts"], 2);
    assert_eq!(rows[1]["bytes"], small.len() as u64);
    assert!(rows[1]["ended_at"].is_string());
    assert_eq!(rows[1]["end_reason"], "stop");
    for r in rows {
        for f in ["first_upload", "last_upload", "started_at"] {
            assert!(r[f].is_string(), "{f} in {r}");
        }
    }
    let limited: Value = serde_json::from_str(&env.text(&["list", "--json", "--limit", "1"])).unwrap();
    assert_eq!(limited.as_array().unwrap().len(), 1);
}

#[test]
fn stop_then_flush_does_not_upload_twice() {
    let env = Env::new();
    let id = "s-stop-1";
    let mut all = mirrored(&env, id, 2, 3);
    let out = env.text(&["stop", "s-stop"]);
    assert!(out.contains("marked ended") && out.contains("local state cleared"), "{out}");
    let state = env.home().join(".tracecraft/state");
    assert!(!state.join(format!("{id}.json")).exists());
    assert!(!state.join(format!("{id}.meta.json")).exists());
    let meta = env.meta(id);
    assert!(meta["ended_at"].is_string());
    assert_eq!(meta["end_reason"], "stop");
    assert!(env.text(&["stop", id]).contains("already ended"));

    // Nothing new: nothing uploaded.
    let parts = env.part_names(id);
    env.flush(&env.transcript(id));
    assert_eq!(env.part_names(id), parts);
    // New lines: only they are uploaded.
    let more = line(99, 500);
    env.append(&env.transcript(id), &more);
    all.extend_from_slice(&more);
    env.flush(&env.transcript(id));
    assert_eq!(env.part_names(id).len(), parts.len() + 1);
    assert_same(&env.show_raw(id), &all, "replay after stop + flush");
}

#[test]
fn compact_is_byte_identical_and_later_flushes_continue() {
    let env = Env::new();
    let id = "s-compact-1";
    let mut all = mirrored(&env, id, 5, 2);
    assert_eq!(env.part_names(id).len(), 5);
    let out = env.text(&["compact", id]);
    assert!(out.contains("5 parts") && out.contains("merged"), "{out}");
    let parts = env.part_names(id);
    assert_eq!(parts.len(), 1, "{parts:?}");
    assert_same(&env.show_raw(id), &all, "after compact");

    let meta = env.meta(id);
    let p = &meta["parts"].as_array().unwrap()[0];
    assert_eq!(p["seq"], 0);
    assert_eq!(p["compacted_from"], 5);
    assert_eq!(p["compacted_seqs"], serde_json::json!([0, 4]));
    assert_eq!(p["cursor_range"], serde_json::json!([0, all.len()]));
    assert_eq!(format!("part-00000-{}.jsonl", p["uuid"].as_str().unwrap()), parts[0]);
    assert!(meta["last_compacted_at"].is_string());

    // The flush engine continues after the merged part (local state kept its cache in sync).
    let more = line(1000, 700);
    env.append(&env.transcript(id), &more);
    all.extend_from_slice(&more);
    env.flush(&env.transcript(id));
    assert_same(&env.show_raw(id), &all, "flush after compact");
    assert_eq!(env.part_names(id).len(), 2);
    assert_eq!(env.meta(id)["parts"].as_array().unwrap().len(), 2);

    // And after forgetting local state too.
    env.ok(&["stop", id]);
    let more = line(1001, 700);
    env.append(&env.transcript(id), &more);
    all.extend_from_slice(&more);
    env.flush(&env.transcript(id));
    assert_same(&env.show_raw(id), &all, "stop + flush after compact");

    // A second compaction merges the merged part with the new ones.
    env.ok(&["compact", id]);
    assert_eq!(env.part_names(id).len(), 1);
    assert_same(&env.show_raw(id), &all, "second compact");
    let out = env.text(&["compact", id]);
    assert!(out.contains("nothing to compact"), "{out}");
}

#[test]
fn compact_keep_tail_leaves_the_newest_parts() {
    let env = Env::new();
    let id = "s-keep-1";
    let all = mirrored(&env, id, 6, 1);
    let before = env.part_names(id);
    env.ok(&["compact", id, "--keep-tail", "2"]);
    let after = env.part_names(id);
    assert_eq!(after.len(), 3, "{after:?}");
    assert_eq!(after[1..], before[4..], "the two newest parts are untouched");
    assert_same(&env.show_raw(id), &all, "keep-tail");
    let out = env.text(&["compact", id, "--keep-tail", "2"]);
    assert!(out.contains("nothing to compact"), "{out}");
}

#[test]
fn compact_keeps_a_part_that_ends_inside_a_line() {
    let env = Env::new();
    let id = "s-open-1";
    let t = env.transcript(id);
    let mut all = mirrored(&env, id, 3, 1);
    env.append(&t, b"{\"partial\":");
    all.extend_from_slice(b"{\"partial\":");
    env.flush_final(&t); // sends the partial line; the next flush re-sends that part
    let before = env.part_names(id);
    assert_eq!(before.len(), 4);
    env.ok(&["compact", id]);
    let after = env.part_names(id);
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!(after[1], before[3], "the open part is kept");
    env.append(&t, b"true}\n");
    all.extend_from_slice(b"true}\n");
    env.flush(&t);
    assert_same(&env.show_raw(id), &all, "after re-sending the open part");
    assert_eq!(env.part_names(id).len(), 2);
}

/// A session as the Python CLI writes it: random hex8, seq from 0, meta.json with ranges.
fn python_session(env: &Env, id: &str, bodies: &[&[u8]], hexes: &[&str]) -> Vec<u8> {
    let prefix = env.session_prefix(id);
    let mut parts = Vec::new();
    let mut cursor = 0u64;
    for (seq, (body, hex)) in bodies.iter().zip(hexes).enumerate() {
        env.put_object(&format!("{prefix}part-{seq:05}-{hex}.jsonl"), body);
        let to = cursor + body.len() as u64;
        parts.push(serde_json::json!({
            "seq": seq, "uuid": hex, "cursor_range": [cursor, to], "source_bytes": body.len(),
            "uploaded_bytes": body.len(), "redactions": {}, "uploaded_at": "2026-11-21T19:15:13.167146+00:00"
        }));
        cursor = to;
    }
    let meta = serde_json::json!({
        "schema_version": 1, "harness": "claude-code", "session_id": id,
        "source_path": format!("/home/dev/.claude/projects/x/{id}.jsonl"), "cwd": "/home/dev/x",
        "agent_id": null, "started_at": "2026-11-21T19:15:12.167146+00:00",
        "last_uploaded_at": "2026-11-21T19:15:13.167146+00:00", "ended_at": null,
        "total_source_bytes": cursor, "total_uploaded_bytes": cursor, "redaction_counts": {},
        "parts": parts
    });
    env.put_object(&format!("{prefix}meta.json"), serde_json::to_string_pretty(&meta).unwrap().as_bytes());
    bodies.concat()
}

#[test]
fn python_written_sessions_replay_and_compact() {
    let env = Env::new();
    let id = "py-session-1";
    let bodies: [&[u8]; 4] = [b"{\"a\":0}\n", b"{\"a\":1}\n{\"a\":2}\n", b"{\"a\":3}\n", b"{\"a\":4}\n"];
    let all = python_session(&env, id, &bodies, &["9f3c2a10", "01ab77e2", "c0ffee00", "5e5e5e5e"]);
    assert_same(&env.show_raw(id), &all, "python session");
    assert_eq!(env.ok(&["show", id, "--tail", "2"]), b"{\"a\":3}\n{\"a\":4}\n");
    env.ok(&["compact", id, "--keep-tail", "1"]);
    let names = env.part_names(id);
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(names[1], "part-00003-5e5e5e5e.jsonl");
    assert_same(&env.show_raw(id), &all, "after compact");
    let meta = env.meta(id);
    assert_eq!(meta["parts"][0]["compacted_from"], 3);
    assert_eq!(meta["cwd"], "/home/dev/x", "Python fields are kept");
    // What Python's own replay (every part in key order) sees is the same.
    let mut concat = Vec::new();
    for n in &names {
        concat.extend(env.get_object(&format!("{}{n}", env.session_prefix(id))).unwrap());
    }
    assert_same(&concat, &all, "key-order concatenation");
}

#[test]
fn python_compaction_leftovers_are_ignored_and_cleaned() {
    let env = Env::new();
    let id = "py-compacted-1";
    let prefix = env.session_prefix(id);
    // Python merged seqs 0..2 into part-00000-<random> (no cursor_range, no compacted_seqs),
    // kept seq 3, and crashed while deleting: originals 0 (other hex), 1 and 2 remain.
    let merged = b"{\"a\":0}\n{\"a\":1}\n{\"a\":2}\n";
    let kept = b"{\"a\":3}\n";
    env.put_object(&format!("{prefix}part-00000-77777777.jsonl"), merged);
    env.put_object(&format!("{prefix}part-00000-11111111.jsonl"), b"{\"a\":0}\n");
    env.put_object(&format!("{prefix}part-00001-22222222.jsonl"), b"{\"a\":1}\n");
    env.put_object(&format!("{prefix}part-00002-33333333.jsonl"), b"{\"a\":2}\n");
    env.put_object(&format!("{prefix}part-00003-44444444.jsonl"), kept);
    let meta = serde_json::json!({
        "schema_version": 1, "harness": "claude-code", "session_id": id, "ended_at": null,
        "total_source_bytes": 32, "total_uploaded_bytes": 32, "redaction_counts": {},
        "parts": [
            {"seq": 0, "uuid": "77777777", "compacted_from": 3, "uploaded_bytes": 24, "uploaded_at": "2026-11-21T19:16:00.000000+00:00"},
            {"seq": 3, "uuid": "44444444", "cursor_range": [24, 32], "source_bytes": 8, "uploaded_bytes": 8, "redactions": {}}
        ],
        "last_compacted_at": "2026-11-21T19:16:00.000000+00:00"
    });
    env.put_object(&format!("{prefix}meta.json"), meta.to_string().as_bytes());
    let all = [&merged[..], &kept[..]].concat();
    assert_same(&env.show_raw(id), &all, "leftovers ignored");
    let rows: Value = serde_json::from_str(&env.text(&["list", "--json"])).unwrap();
    assert_eq!(rows[0]["parts"], 2);
    assert_eq!(rows[0]["bytes"], all.len() as u64);
    env.ok(&["compact", id]);
    assert_eq!(env.part_names(id).len(), 1, "{:?}", env.part_names(id));
    assert_same(&env.show_raw(id), &all, "after compact");
}

#[test]
fn stale_meta_written_back_by_a_flush_after_a_python_compaction() {
    // Our flush keeps a local copy of meta.json; when the Python CLI compacts meanwhile, the
    // next flush puts back the old list (naming deleted originals, not the merged part).
    let env = Env::new();
    let id = "s-stale-1";
    let mut all = mirrored(&env, id, 3, 1);
    let prefix = env.session_prefix(id);
    for n in env.part_names(id) {
        std::fs::remove_file(env.bucket().join(format!("{prefix}{n}"))).unwrap();
    }
    env.put_object(&format!("{prefix}part-00000-abcabc12.jsonl"), &all);
    let mut meta = env.meta(id);
    meta["parts"] =
        serde_json::json!([{"seq": 0, "uuid": "abcabc12", "compacted_from": 3, "uploaded_bytes": all.len()}]);
    env.put_object(&format!("{prefix}meta.json"), meta.to_string().as_bytes());
    assert_same(&env.show_raw(id), &all, "after the Python compaction");

    let more = line(77, 100);
    env.append(&env.transcript(id), &more);
    all.extend_from_slice(&more);
    env.flush(&env.transcript(id));
    // (Whether the flush wrote its old list back or re-read meta.json, the replay holds.)
    assert_same(&env.show_raw(id), &all, "stale meta");
    env.ok(&["compact", id]);
    assert_eq!(env.part_names(id).len(), 1, "{:?}", env.part_names(id));
    assert_same(&env.show_raw(id), &all, "compacted");
    let parts = env.meta(id)["parts"].clone();
    assert_eq!(parts.as_array().unwrap().len(), 1, "stale entries dropped: {parts}");
}

#[test]
fn interrupted_compaction_never_changes_the_replay() {
    for point in ["compact_after_upload", "compact_after_meta"] {
        let env = Env::new();
        let id = "s-interrupt-1";
        let mut all = mirrored(&env, id, 4, 2);
        let out = env.output(&["compact", id], Some(point));
        assert!(!out.status.success(), "{point}: the process was aborted");
        let names = env.part_names(id);
        assert_eq!(names.len(), 5, "{point}: originals and the merged part coexist: {names:?}");
        assert_same(&env.show_raw(id), &all, &format!("show after abort at {point}"));
        let rows: Value = serde_json::from_str(&env.text(&["list", "--json"])).unwrap();
        assert_eq!(rows[0]["bytes"], all.len() as u64, "{point}");
        assert_eq!(env.ok(&["show", id, "--tail", "3"]), last_lines(&all, 3), "{point}");

        // The flush engine carries on over the leftovers.
        let more = line(500, 300);
        env.append(&env.transcript(id), &more);
        all.extend_from_slice(&more);
        env.flush(&env.transcript(id));
        assert_same(&env.show_raw(id), &all, &format!("flush after abort at {point}"));

        // A second compaction finishes the job and removes the duplicate.
        env.ok(&["compact", id]);
        assert_eq!(env.part_names(id).len(), 1, "{point}: {:?}", env.part_names(id));
        assert_same(&env.show_raw(id), &all, &format!("second compact after {point}"));
    }
}

#[test]
fn interrupted_compaction_then_stop_and_flush_from_another_state() {
    // Local state lost after an interrupted compaction: the flush recovers from meta.json.
    let env = Env::new();
    let id = "s-interrupt-2";
    let mut all = mirrored(&env, id, 3, 2);
    let out = env.output(&["compact", id], Some("compact_after_meta"));
    assert!(!out.status.success());
    env.ok(&["stop", id]);
    let more = line(600, 200);
    env.append(&env.transcript(id), &more);
    all.extend_from_slice(&more);
    env.flush(&env.transcript(id));
    assert_same(&env.show_raw(id), &all, "stop + flush after interrupted compaction");
    env.ok(&["compact", id]);
    assert_same(&env.show_raw(id), &all, "compact again");
    assert_eq!(env.part_names(id).len(), 1);
}

#[test]
fn compact_of_a_large_session_streams() {
    let env = Env::new();
    let id = "s-large-1";
    let t = env.transcript(id);
    let mut all = Vec::new();
    for f in 0..3 {
        for i in 0..60 {
            let l = line(f * 100 + i, 100_000);
            env.append(&t, &l);
            all.extend_from_slice(&l);
        }
        env.flush(&t);
    }
    assert!(all.len() > 17 * 1024 * 1024);
    env.ok(&["compact", id]);
    assert_same(&env.show_raw(id), &all, "large compact");
    assert_eq!(env.ok(&["show", id, "--tail", "1"]), last_lines(&all, 1));
}

#[test]
fn show_into_a_closed_pipe_exits_zero() {
    let env = Env::new();
    let id = "s-pipe-1";
    let t = env.transcript(id);
    for i in 0..40 {
        env.append(&t, &line(i, 50_000));
    }
    env.flush(&t);
    let mut child = env.cmd().args(["show", id]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 100];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout); // like `| head -c 100`
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "status {status}, stderr: {err}");
    assert!(err.is_empty(), "{err}");
    for args in [&["show"][..], &["show", "--tail", "30"], &["show", "--raw", "--tail", "30"]] {
        let bin = env!("CARGO_BIN_EXE_tracecraft-hook");
        let sh = format!("set -o pipefail; '{bin}' {} {id} | head -1 >/dev/null", args.join(" "));
        let st = env.prepare(Command::new("bash")).args(["-c", &sh]).status().unwrap();
        assert!(st.success(), "{sh}: {st}");
    }
}

#[test]
fn errors_name_the_session_and_the_store() {
    let env = Env::new();
    for cmd in ["show", "stop", "compact"] {
        let err = env.fails(&[cmd, "nope"]);
        assert!(err.contains("\"nope\"") && err.contains(env.dest_word()), "{cmd}: {err}");
    }
    // A session with parts but no meta.json (Python in flight) is shown, not compacted.
    let env = Env::new();
    let id = "no-meta-1";
    env.put_object(&format!("{}part-00000-abcdef01.jsonl", env.session_prefix(id)), b"{}\n");
    env.put_object(&format!("{}part-00001-abcdef02.jsonl", env.session_prefix(id)), b"[]\n");
    assert_eq!(env.show_raw(id), b"{}\n[]\n");
    let err = env.fails(&["compact", id]);
    assert!(err.contains(id) && err.contains("no meta.json"), "{err}");
}
