//! CLI tests of `show`, `list`, `stop` and `compact`: the real binary, on every backend of
//! the shared harness (the embedded local store, s3s-fs and moto; see `tests/common`). Each
//! test runs once per backend in a fresh `Env` (temp HOME, unique project).
//!
//! Fixture text is plain prose: nothing shaped like a secret, so redaction keeps the bytes.

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Output, Stdio};

use common::{backends, run_with_timeout, Backend, Env, RUN_TIMEOUT};
use serde_json::Value;

/// A test world with the helpers these tests use.
struct T {
    e: Env,
}

/// Run `f` on every backend, each time in a new world.
fn each(name: &str, f: impl Fn(&T)) {
    for b in backends() {
        eprintln!("--- {name} on {}", b.name());
        f(&T { e: Env::new(b, name) });
    }
}

impl T {
    fn backend(&self) -> Backend {
        self.e.backend
    }

    /// Run and return the output, whatever the exit status.
    fn output(&self, args: &[&str], abort_at: Option<&str>) -> Output {
        let mut c = self.e.cmd(args);
        if let Some(p) = abort_at {
            c.env("TRACECRAFT_TEST_ABORT_AT", p);
        }
        run_with_timeout(c, None, true, RUN_TIMEOUT).unwrap_or_else(|| panic!("{args:?} did not exit"))
    }

    /// Run, require success, return stdout.
    fn ok(&self, args: &[&str]) -> Vec<u8> {
        let out = self.output(args, None);
        assert!(
            out.status.success(),
            "{args:?} failed on {} ({}):\nstdout: {}\nstderr: {}",
            self.backend().name(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Run, require exit code 1, return stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.output(args, None);
        assert_eq!(out.status.code(), Some(1), "{args:?} should fail: {}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn text(&self, args: &[&str]) -> String {
        String::from_utf8(self.ok(args)).expect("utf-8 output")
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.text(args)).expect("JSON output")
    }

    /// Transcripts live outside Claude's directory; `flush --transcript` names them.
    fn transcript(&self, id: &str) -> PathBuf {
        let dir = self.e.home().join("transcripts");
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(format!("{id}.jsonl"))
    }

    fn append(&self, id: &str, bytes: &[u8]) {
        common::append(&self.transcript(id), bytes);
    }

    fn flush(&self, id: &str) {
        self.ok(&["flush", "--transcript", self.transcript(id).to_str().unwrap()]);
    }

    fn flush_final(&self, id: &str) {
        self.ok(&["flush", "--final", "--transcript", self.transcript(id).to_str().unwrap()]);
    }

    /// How messages name the destination.
    fn dest_word(&self) -> &'static str {
        if self.backend().is_s3() {
            "bucket "
        } else {
            "local store"
        }
    }

    fn prefix(&self, id: &str) -> String {
        self.e.session_prefix(id)
    }

    fn put(&self, id: &str, name: &str, body: &[u8]) {
        self.e.put(&format!("{}{name}", self.prefix(id)), body);
    }

    /// Part object names of a session, in key order.
    fn part_names(&self, id: &str) -> Vec<String> {
        self.e.part_keys(id).into_iter().map(|k| k.rsplit('/').next().unwrap().to_string()).collect()
    }

    fn meta(&self, id: &str) -> Value {
        self.e.meta(id).expect("meta.json")
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
fn mirrored(env: &T, id: &str, flushes: usize, per: usize) -> Vec<u8> {
    let mut all = Vec::new();
    let mut i = 0;
    for _ in 0..flushes {
        for _ in 0..per {
            let l = line(i, [80, 300, 40_000, 1200, 5][i % 5]);
            env.append(id, &l);
            all.extend_from_slice(&l);
            i += 1;
        }
        env.flush(id);
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
    each("show_raw", |t| {
        let all = mirrored(t, "s-show-1", 4, 3);
        assert_eq!(t.part_names("s-show-1").len(), 4);
        assert_same(&t.show_raw("s-show-1"), &all, "show --raw");
        // Not a terminal: the default is raw too.
        assert_same(&t.ok(&["show", "s-show-1"]), &all, "show (piped)");
    });
}

#[test]
fn tail_returns_the_last_lines_across_parts() {
    each("tail_lines", |t| {
        let all = mirrored(t, "s-tail-1", 5, 4);
        let total = all.split_inclusive(|b| *b == b'\n').count();
        for n in [0, 1, 2, 3, 4, 5, 9, total - 1, total, total + 10] {
            let got = t.ok(&["show", "s-tail-1", "--tail", &n.to_string()]);
            assert_same(&got, &last_lines(&all, n), &format!("--tail {n}"));
        }
    });
}

#[test]
fn tail_counts_a_partial_last_line() {
    each("tail_partial", |t| {
        let id = "s-tail-partial";
        t.append(id, b"{\"a\":1}\n{\"a\":2}\n");
        t.flush(id);
        t.append(id, b"{\"a\":3}");
        t.flush_final(id);
        assert_same(&t.show_raw(id), b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}", "show");
        assert_eq!(t.ok(&["show", id, "--tail", "1"]), b"{\"a\":3}");
        assert_eq!(t.ok(&["show", id, "--tail", "2"]), b"{\"a\":2}\n{\"a\":3}");
    });
}

#[test]
fn ids_resolve_by_unique_prefix_and_ambiguity_is_explained() {
    each("prefixes", |t| {
        for id in ["aaa-111", "aaa-1112", "aab-222", "bbb-333"] {
            t.append(id, format!("{{\"id\":\"{id}\"}}\n").as_bytes());
            t.flush(id);
        }
        assert_eq!(t.show_raw("bbb"), b"{\"id\":\"bbb-333\"}\n");
        assert_eq!(t.show_raw("aab"), b"{\"id\":\"aab-222\"}\n");
        // A full id wins even when it is the prefix of another id.
        assert_eq!(t.show_raw("aaa-111"), b"{\"id\":\"aaa-111\"}\n");
        let err = t.fails(&["show", "aa"]);
        assert!(err.contains("ambiguous"), "{err}");
        for id in ["aaa-111", "aaa-1112", "aab-222"] {
            assert!(err.contains(id), "full id {id} listed: {err}");
        }
        assert!(!err.contains("bbb-333"), "{err}");
        let err = t.fails(&["show", "zzz"]);
        assert!(err.starts_with("tracecraft-hook: "), "{err}");
        assert!(err.contains("\"zzz\"") && err.contains(t.dest_word()) && err.contains(&t.e.project), "{err}");
        assert_eq!(err.lines().count(), 1, "one error line: {err}");
        let err = t.fails(&["show", "../x"]);
        assert!(err.contains("invalid session id"), "{err}");
    });
}

#[test]
fn list_shows_full_ids_parts_and_sizes() {
    each("list", |t| {
        let empty = t.text(&["list"]);
        assert!(empty.starts_with("(no sessions in ") && empty.contains(t.dest_word()), "{empty}");
        assert_eq!(t.json(&["list", "--json"]), serde_json::json!([]));

        let (one, two) = ("0a1b2c3d-0000-4000-8000-000000000001", "0a1b2c3d-0000-4000-8000-000000000002");
        let small = mirrored(t, one, 2, 1);
        let big = mirrored(t, two, 3, 3);
        t.ok(&["stop", one]);

        let table = t.text(&["list"]);
        assert!(table.lines().next().unwrap().starts_with("SESSION"), "{table}");
        assert!(table.contains(one) && table.contains(two), "full ids: {table}");
        assert!(table.contains("(stop)"), "{table}");

        let rows = t.json(&["list", "--json", "--sort", "size"]);
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["id"], two);
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
        assert_eq!(t.json(&["list", "--json", "--limit", "1"]).as_array().unwrap().len(), 1);
    });
}

#[test]
fn stop_then_flush_does_not_upload_twice() {
    each("stop_flush", |t| {
        let id = "s-stop-1";
        let mut all = mirrored(t, id, 2, 3);
        let out = t.text(&["stop", "s-stop"]);
        assert!(out.contains("marked ended") && out.contains("local state cleared"), "{out}");
        let state = t.e.home().join(".tracecraft/state");
        assert!(!state.join(format!("{id}.json")).exists());
        assert!(!state.join(format!("{id}@meta.json")).exists());
        let meta = t.meta(id);
        assert!(meta["ended_at"].is_string());
        assert_eq!(meta["end_reason"], "stop");
        assert!(t.text(&["stop", id]).contains("already ended"));

        // Nothing new: nothing uploaded.
        let parts = t.part_names(id);
        t.flush(id);
        assert_eq!(t.part_names(id), parts);
        // New lines: only they are uploaded.
        let more = line(99, 500);
        t.append(id, &more);
        all.extend_from_slice(&more);
        t.flush(id);
        assert_eq!(t.part_names(id).len(), parts.len() + 1);
        assert_same(&t.show_raw(id), &all, "replay after stop + flush");
    });
}

#[test]
fn compact_is_byte_identical_and_later_flushes_continue() {
    each("compact", |t| {
        let id = "s-compact-1";
        let mut all = mirrored(t, id, 5, 2);
        assert_eq!(t.part_names(id).len(), 5);
        let out = t.text(&["compact", id]);
        assert!(out.contains("5 parts") && out.contains("merged"), "{out}");
        let parts = t.part_names(id);
        assert_eq!(parts.len(), 1, "{parts:?}");
        assert_same(&t.show_raw(id), &all, "after compact");

        let meta = t.meta(id);
        let p = &meta["parts"].as_array().unwrap()[0];
        assert_eq!(p["seq"], 0);
        assert_eq!(p["compacted_from"], 5);
        assert_eq!(p["compacted_seqs"], serde_json::json!([0, 4]));
        assert_eq!(p["cursor_range"], serde_json::json!([0, all.len()]));
        assert_eq!(format!("part-00000-{}.jsonl", p["uuid"].as_str().unwrap()), parts[0]);
        assert!(meta["last_compacted_at"].is_string());

        // The flush engine continues after the merged part (its local copy of meta.json was updated).
        let more = line(1000, 700);
        t.append(id, &more);
        all.extend_from_slice(&more);
        t.flush(id);
        assert_same(&t.show_raw(id), &all, "flush after compact");
        assert_eq!(t.part_names(id).len(), 2);
        assert_eq!(t.meta(id)["parts"].as_array().unwrap().len(), 2, "{}", t.meta(id));

        // And after forgetting local state too.
        t.ok(&["stop", id]);
        let more = line(1001, 700);
        t.append(id, &more);
        all.extend_from_slice(&more);
        t.flush(id);
        assert_same(&t.show_raw(id), &all, "stop + flush after compact");

        // A second compaction merges the merged part with the new ones.
        t.ok(&["compact", id]);
        assert_eq!(t.part_names(id).len(), 1);
        assert_same(&t.show_raw(id), &all, "second compact");
        let out = t.text(&["compact", id]);
        assert!(out.contains("nothing to compact"), "{out}");
        assert_same(&t.e.replay(id), &all, "key-order concatenation (what Python replays)");
    });
}

#[test]
fn compact_keep_tail_leaves_the_newest_parts() {
    each("keep_tail", |t| {
        let id = "s-keep-1";
        let all = mirrored(t, id, 6, 1);
        let before = t.part_names(id);
        t.ok(&["compact", id, "--keep-tail", "2"]);
        let after = t.part_names(id);
        assert_eq!(after.len(), 3, "{after:?}");
        assert_eq!(after[1..], before[4..], "the two newest parts are untouched");
        assert_same(&t.show_raw(id), &all, "keep-tail");
        let out = t.text(&["compact", id, "--keep-tail", "2"]);
        assert!(out.contains("nothing to compact"), "{out}");
    });
}

#[test]
fn compact_keeps_a_part_that_ends_inside_a_line() {
    each("open_part", |t| {
        let id = "s-open-1";
        let mut all = mirrored(t, id, 3, 1);
        t.append(id, b"{\"partial\":");
        all.extend_from_slice(b"{\"partial\":");
        t.flush_final(id); // sends the partial line; the next flush re-sends that part
        let before = t.part_names(id);
        assert_eq!(before.len(), 4);
        t.ok(&["compact", id]);
        let after = t.part_names(id);
        assert_eq!(after.len(), 2, "{after:?}");
        assert_eq!(after[1], before[3], "the open part is kept");
        t.append(id, b"true}\n");
        all.extend_from_slice(b"true}\n");
        t.flush(id);
        assert_same(&t.show_raw(id), &all, "after re-sending the open part");
        assert_eq!(t.part_names(id).len(), 2);
    });
}

/// A session as the Python CLI writes it: random hex8, seq from 0, meta.json with ranges.
fn python_session(t: &T, id: &str, bodies: &[&[u8]], hexes: &[&str]) -> Vec<u8> {
    let mut parts = Vec::new();
    let mut cursor = 0u64;
    for (seq, (body, hex)) in bodies.iter().zip(hexes).enumerate() {
        t.put(id, &format!("part-{seq:05}-{hex}.jsonl"), body);
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
    t.put(id, "meta.json", serde_json::to_string_pretty(&meta).unwrap().as_bytes());
    bodies.concat()
}

#[test]
fn python_written_sessions_replay_and_compact() {
    each("python_written", |t| {
        let id = "py-session-1";
        let bodies: [&[u8]; 4] = [b"{\"a\":0}\n", b"{\"a\":1}\n{\"a\":2}\n", b"{\"a\":3}\n", b"{\"a\":4}\n"];
        let all = python_session(t, id, &bodies, &["9f3c2a10", "01ab77e2", "c0ffee00", "5e5e5e5e"]);
        assert_same(&t.show_raw(id), &all, "python session");
        assert_eq!(t.ok(&["show", id, "--tail", "2"]), b"{\"a\":3}\n{\"a\":4}\n");
        t.ok(&["compact", id, "--keep-tail", "1"]);
        let names = t.part_names(id);
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(names[1], "part-00003-5e5e5e5e.jsonl");
        assert_same(&t.show_raw(id), &all, "after compact");
        let meta = t.meta(id);
        assert_eq!(meta["parts"][0]["compacted_from"], 3);
        assert_eq!(meta["cwd"], "/home/dev/x", "Python fields are kept");
        assert_same(&t.e.replay(id), &all, "key-order concatenation (what Python replays)");
    });
}

#[test]
fn python_compaction_leftovers_are_ignored_and_cleaned() {
    each("python_leftovers", |t| {
        let id = "py-compacted-1";
        // Python merged seqs 0..2 into part-00000-<random> (no cursor_range, no compacted_seqs),
        // kept seq 3, and crashed while deleting: originals 0 (other hex), 1 and 2 remain.
        let merged = b"{\"a\":0}\n{\"a\":1}\n{\"a\":2}\n";
        let kept = b"{\"a\":3}\n";
        t.put(id, "part-00000-77777777.jsonl", merged);
        t.put(id, "part-00000-11111111.jsonl", b"{\"a\":0}\n");
        t.put(id, "part-00001-22222222.jsonl", b"{\"a\":1}\n");
        t.put(id, "part-00002-33333333.jsonl", b"{\"a\":2}\n");
        t.put(id, "part-00003-44444444.jsonl", kept);
        let meta = serde_json::json!({
            "schema_version": 1, "harness": "claude-code", "session_id": id, "ended_at": null,
            "total_source_bytes": 32, "total_uploaded_bytes": 32, "redaction_counts": {},
            "parts": [
                {"seq": 0, "uuid": "77777777", "compacted_from": 3, "uploaded_bytes": 24, "uploaded_at": "2026-11-21T19:16:00.000000+00:00"},
                {"seq": 3, "uuid": "44444444", "cursor_range": [24, 32], "source_bytes": 8, "uploaded_bytes": 8, "redactions": {}}
            ],
            "last_compacted_at": "2026-11-21T19:16:00.000000+00:00"
        });
        t.put(id, "meta.json", meta.to_string().as_bytes());
        let all = [&merged[..], &kept[..]].concat();
        assert_same(&t.show_raw(id), &all, "leftovers ignored");
        let rows = t.json(&["list", "--json"]);
        assert_eq!(rows[0]["parts"], 2);
        assert_eq!(rows[0]["bytes"], all.len() as u64);
        t.ok(&["compact", id]);
        assert_eq!(t.part_names(id).len(), 1, "{:?}", t.part_names(id));
        assert_same(&t.show_raw(id), &all, "after compact");
        assert_same(&t.e.replay(id), &all, "key-order concatenation (what Python replays)");
    });
}

#[test]
fn stale_meta_written_back_by_a_flush_after_a_python_compaction() {
    // Our flush keeps a local copy of meta.json; when the Python CLI compacts meanwhile, the
    // next flush may put back (or merge with) the old list naming deleted originals.
    each("stale_meta", |t| {
        let id = "s-stale-1";
        let mut all = mirrored(t, id, 3, 1);
        for key in t.e.part_keys(id) {
            t.e.delete(&key);
        }
        t.put(id, "part-00000-abcabc12.jsonl", &all);
        let mut meta = t.meta(id);
        meta["parts"] =
            serde_json::json!([{"seq": 0, "uuid": "abcabc12", "compacted_from": 3, "uploaded_bytes": all.len()}]);
        let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
        meta["last_compacted_at"] = serde_json::json!(now);
        t.put(id, "meta.json", meta.to_string().as_bytes());
        assert_same(&t.show_raw(id), &all, "after the Python compaction");

        let more = line(77, 100);
        t.append(id, &more);
        all.extend_from_slice(&more);
        t.flush(id);
        assert_same(&t.show_raw(id), &all, "flush with an old copy of meta.json");
        t.ok(&["compact", id]);
        assert_eq!(t.part_names(id).len(), 1, "{:?}", t.part_names(id));
        assert_same(&t.show_raw(id), &all, "compacted");
        assert_eq!(t.meta(id)["parts"].as_array().unwrap().len(), 1, "{}", t.meta(id));
    });
}

#[test]
fn interrupted_compaction_never_changes_the_replay() {
    for point in ["compact_after_upload", "compact_after_meta"] {
        each(point, |t| {
            let id = "s-interrupt-1";
            let mut all = mirrored(t, id, 4, 2);
            let out = t.output(&["compact", id], Some(point));
            assert!(!out.status.success(), "{point}: the process was aborted");
            let names = t.part_names(id);
            assert_eq!(names.len(), 5, "{point}: originals and the merged part coexist: {names:?}");
            assert_same(&t.show_raw(id), &all, &format!("show after abort at {point}"));
            assert_eq!(t.json(&["list", "--json"])[0]["bytes"], all.len() as u64, "{point}");
            assert_eq!(t.ok(&["show", id, "--tail", "3"]), last_lines(&all, 3), "{point}");

            // The flush engine carries on over the leftovers.
            let more = line(500, 300);
            t.append(id, &more);
            all.extend_from_slice(&more);
            t.flush(id);
            assert_same(&t.show_raw(id), &all, &format!("flush after abort at {point}"));

            // A second compaction finishes the job and removes the duplicate.
            t.ok(&["compact", id]);
            assert_eq!(t.part_names(id).len(), 1, "{point}: {:?}", t.part_names(id));
            assert_same(&t.show_raw(id), &all, &format!("second compact after {point}"));
        });
    }
}

#[test]
fn interrupted_compaction_then_stop_and_flush_recover_from_the_store() {
    each("interrupt_stop", |t| {
        let id = "s-interrupt-2";
        let mut all = mirrored(t, id, 3, 2);
        let out = t.output(&["compact", id], Some("compact_after_meta"));
        assert!(!out.status.success());
        t.ok(&["stop", id]);
        let more = line(600, 200);
        t.append(id, &more);
        all.extend_from_slice(&more);
        t.flush(id);
        assert_same(&t.show_raw(id), &all, "stop + flush after interrupted compaction");
        t.ok(&["compact", id]);
        assert_same(&t.show_raw(id), &all, "compact again");
        assert_eq!(t.part_names(id).len(), 1);
    });
}

#[test]
fn compact_of_a_large_session_streams() {
    // Over 17 MB: on S3 the merged part is a multipart upload of 8 MiB parts.
    each("large", |t| {
        let id = "s-large-1";
        let mut all = Vec::new();
        for f in 0..3 {
            for i in 0..60 {
                let l = line(f * 100 + i, 100_000);
                t.append(id, &l);
                all.extend_from_slice(&l);
            }
            t.flush(id);
        }
        assert!(all.len() > 17 * 1024 * 1024);
        t.ok(&["compact", id]);
        assert_eq!(t.part_names(id).len(), 1);
        assert_same(&t.show_raw(id), &all, "large compact");
        assert_eq!(t.ok(&["show", id, "--tail", "1"]), last_lines(&all, 1));
    });
}

#[test]
fn show_into_a_closed_pipe_exits_zero() {
    each("closed_pipe", |t| {
        let id = "s-pipe-1";
        for i in 0..40 {
            t.append(id, &line(i, 50_000));
        }
        t.flush(id);
        for args in [&["show", id][..], &["show", id, "--tail", "30"], &["show", id, "--raw", "--tail", "30"]] {
            // Like `show | head -c 100`: read a little, close the pipe, expect exit 0 and no message.
            let mut child = t.e.cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
            let mut stdout = child.stdout.take().unwrap();
            let mut first = [0u8; 100];
            stdout.read_exact(&mut first).unwrap();
            drop(stdout);
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            let status = child.wait().unwrap();
            assert!(status.success(), "{args:?}: status {status}, stderr: {err}");
            assert!(err.is_empty(), "{args:?}: {err}");
        }
    });
}

#[test]
fn errors_name_the_session_and_the_store() {
    each("errors", |t| {
        for cmd in ["show", "stop", "compact"] {
            let err = t.fails(&[cmd, "nope"]);
            assert!(err.contains("\"nope\"") && err.contains(t.dest_word()), "{cmd}: {err}");
        }
        // A session with parts but no meta.json (Python in flight) is shown, not compacted.
        let id = "no-meta-1";
        t.put(id, "part-00000-abcdef01.jsonl", b"{}\n");
        t.put(id, "part-00001-abcdef02.jsonl", b"[]\n");
        assert_eq!(t.show_raw(id), b"{}\n[]\n");
        let err = t.fails(&["compact", id]);
        assert!(err.contains(id) && err.contains("no meta.json"), "{err}");
    });
}

/// Run the Python CLI (PyPI tracecraft-ai) in the env; `None` when it is not installed.
fn tracecraft(t: &T, args: &[&str]) -> Option<Output> {
    t.e.tracecraft_py(args)
}

/// The lines after "--- tail ---" in `tracecraft session show --tail N`.
fn python_tail(t: &T, id: &str, n: usize) -> Option<Vec<u8>> {
    let out = tracecraft(t, &["session", "show", id, "--tail", &n.to_string()])?;
    let text = String::from_utf8(out.stdout).unwrap();
    let (_, tail) = text.split_once("--- tail ---\n").expect("a tail section");
    Some(tail.as_bytes().to_vec())
}

#[test]
fn python_cli_reads_our_compaction_and_we_read_its_compaction() {
    let Some(e) = Env::try_new(Backend::S3s, "py_compact") else { return };
    let t = T { e };
    let id = "7c0e4c1a-1111-4222-8333-444455556666";
    let mut all = mirrored(&t, id, 3, 1);
    t.ok(&["compact", id, "--keep-tail", "1"]);
    let Some(tail) = python_tail(&t, id, 100) else { return };
    assert_same(&tail, &all, "Python's show of our compaction");
    let more = line(40, 100);
    t.append(id, &more);
    all.extend_from_slice(&more);
    t.flush(id);
    tracecraft(&t, &["session", "compact", id]);
    assert_eq!(t.part_names(id).len(), 1);
    assert_same(&t.show_raw(id), &all, "our show of Python's compaction");
    let more = line(41, 100);
    t.append(id, &more);
    all.extend_from_slice(&more);
    t.flush(id);
    assert_same(&t.show_raw(id), &all, "our flush after Python's compaction");
    t.ok(&["compact", id]);
    assert_same(&t.show_raw(id), &all, "our compaction of Python's compaction");
    assert_same(&python_tail(&t, id, 100).unwrap(), &all, "Python's show at the end");
}

/// Issue 16: byte counts say what they count; meta.json (and so `show`'s header) gives the
/// transcript's own `cwd`, not the directory `flush` ran in; `compact` keeps FIRST/LAST UPLOAD.
#[test]
fn flush_and_list_label_bytes_cwd_is_the_transcripts_and_compact_keeps_upload_times() {
    let t = T { e: Env::new(Backend::Local, "labels") };
    let id = "s-labels-1";
    let elsewhere = std::path::Path::new("/home/dev/where_it_ran");
    // A secret: the stored copy is shorter than the source.
    let key = format!("AKIA{}", "LABELSTEST123456");
    t.append(
        id,
        format!("{{\"type\":\"user\",\"cwd\":\"{}\",\"message\":{{\"content\":\"{key}\"}}}}\n", elsewhere.display())
            .as_bytes(),
    );
    let mut source = std::fs::read(t.transcript(id)).unwrap().len();
    let out = t.text(&["flush", "--transcript", t.transcript(id).to_str().unwrap()]);
    let stored = t.e.replay(id).len();
    assert_ne!(stored, source, "redaction changed the length");
    let th = |n: usize| common::thousands(n as u64);
    assert!(out.contains(&format!("{} source bytes ({} stored)", th(source), th(stored))), "{out}");
    assert_eq!(t.e.meta(id).unwrap()["cwd"], elsewhere.to_str().unwrap(), "the transcript's cwd, not the flush dir");

    for i in 0..2 {
        t.append(id, &common::transcript_lines(id, elsewhere, i, 1));
        t.flush(id);
    }
    source = std::fs::read(t.transcript(id)).unwrap().len();
    let text = t.text(&["list"]);
    assert!(text.lines().next().unwrap().contains("STORED BYTES"), "{text}");
    let stored = t.e.replay(id).len() as u64;
    assert!(source as u64 != stored && text.contains(&format!(" {} ", common::thousands(stored))), "{text}");
    let before = t.json(&["list", "--json"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    t.ok(&["compact", id]);
    assert_eq!(t.part_names(id).len(), 1);
    let after = t.json(&["list", "--json"]);
    for k in ["first_upload", "last_upload"] {
        assert!(before[0][k].is_string(), "{before}");
        assert_eq!(after[0][k], before[0][k], "{k} moved to the compaction time");
    }
}
