//! Session insight (`stats` in meta.json): counts against hand-computed values on a realistic
//! fixture, and the incremental counting under everything the flush engine does (one flush
//! or one per line, partial lines, an open part re-sent whole, a repair, a session whose
//! meta.json has no stats yet). The real binary on the local store: counting does not depend
//! on the backend (the engine's own tests cover the backends).
//!
//! `tests/fixtures/insight/session.jsonl` (33 lines, shaped like Claude Code 2.1 writes them):
//!
//! | line | what | counts as |
//! |---|---|---|
//! | 1 | queue-operation (10:00:00, the earliest timestamp) | - |
//! | 2 | user prompt (string) | turn 1 |
//! | 3 | attachment | - |
//! | 4-6 | msg_01A, opus, thinking / text / tool_use Read, same usage 1200/45/3000/0 | message 1, Read |
//! | 7 | tool_result | - |
//! | 8-9 | msg_01B (one requestId), opus, tool_use Bash, tool_use Grep; output 80 then 120 (the first line counts, as ccusage does), 10/500/4200 | message 2, Bash, Grep |
//! | 10 | tool_result is_error | tool error 1 |
//! | 11 | tool_result | - |
//! | 12 | msg_01C, opus, 5/200/0/8000 (timestamp 10:05:10, later than the next lines) | message 3 |
//! | 13 | isMeta caveat | - |
//! | 14 | `<command-name>/model` | - |
//! | 15 | `<local-command-stdout>` | - |
//! | 16 | user prompt (text block), branch fix/parser | turn 2 |
//! | 17 | msg_01D, haiku, tool_use Edit, 50/60/0/1000 | message 4, Edit |
//! | 18 | tool_result | - |
//! | 19 | `[Request interrupted by user for tool use]` | - |
//! | 20 | `<synthetic>` "No response requested." | - |
//! | 21 | user prompt | turn 3 |
//! | 22 | system api_error (a retry) | - |
//! | 23 | `<synthetic>` isApiErrorMessage | API error 1 |
//! | 24 | system compact_boundary | compaction 1 |
//! | 25 | isCompactSummary right after it | - |
//! | 26 | user prompt, version 2.1.198 | turn 4 |
//! | 27 | msg_01E, opus, 20/30/100/9000 | message 5 |
//! | 28-29 | not JSON / truncated JSON | skipped |
//! | 30 | isCompactSummary alone (older versions) | compaction 2 |
//! | 31 | msg_01C again (a repeated message id) | - |
//! | 32 | last-prompt | - |
//! | 33 | mode (10:20:00, the latest timestamp) | - |
//!
//! Opus: input 1200+10+5+20 = 1235, output 45+80+200+30 = 355, cache creation
//! 3000+500+0+100 = 3600, cache read 0+4200+8000+9000 = 21200. Haiku: 50, 60, 0, 1000.

mod common;

use std::path::{Path, PathBuf};

use common::{Backend, Env};
use serde_json::{json, Value};

fn fixture() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/insight/session.jsonl")).expect("fixture")
}

fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.split_inclusive(|&b| b == b'\n').collect()
}

/// The stats the fixture must give (see the module documentation), without the bookkeeping.
fn expected() -> Value {
    json!({
        "turns": 4,
        "assistant_messages": 5,
        "tool_calls": {"Bash": 1, "Edit": 1, "Grep": 1, "Read": 1},
        "tokens": {
            "claude-haiku-4-5": {"input": 50, "output": 60, "cache_creation": 0, "cache_read": 1000},
            "claude-opus-4-8": {"input": 1235, "output": 355, "cache_creation": 3600, "cache_read": 21200}
        },
        "subagent_tokens": {},
        "days": {"2026-11-21": {
            "claude-haiku-4-5": {"input": 50, "output": 60, "cache_creation": 0, "cache_read": 1000},
            "claude-opus-4-8": {"input": 1235, "output": 355, "cache_creation": 3600, "cache_read": 21200}
        }},
        "compactions": 2,
        "api_errors": 1,
        "tool_errors": 1,
        "first_timestamp": "2026-11-21T10:00:00.000Z",
        "last_timestamp": "2026-11-21T10:20:00.000Z",
        "git_branch": "fix/parser",
        "version": "2.1.198",
        "lines": 31
    })
}

struct T {
    e: Env,
}

impl T {
    fn new(name: &str) -> T {
        T { e: Env::new(Backend::Local, name) }
    }

    fn path(&self, sid: &str) -> PathBuf {
        let dir = self.e.home().join("transcripts");
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(format!("{sid}.jsonl"))
    }

    fn append(&self, sid: &str, bytes: &[u8]) {
        common::append(&self.path(sid), bytes);
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.e.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn flush(&self, sid: &str, final_: bool) -> String {
        let p = self.path(sid);
        let mut args = vec!["flush", "--transcript", p.to_str().unwrap()];
        if final_ {
            args.push("--final");
        }
        self.run(&args)
    }

    fn stats(&self, sid: &str) -> Value {
        self.e.meta(sid).unwrap_or_else(|| panic!("no meta.json for {sid}"))["stats"].clone()
    }

    /// The stats without their bookkeeping (`counter`).
    fn numbers(&self, sid: &str) -> Value {
        let mut s = self.stats(sid);
        s.as_object_mut().expect("stats object").remove("counter");
        s
    }
}

#[test]
fn fixture_counts_match_hand_computed_values() {
    let t = T::new("insight-fixture");
    t.append("s1", &fixture());
    t.flush("s1", false);
    assert_eq!(t.numbers("s1"), expected());
    assert_eq!(t.stats("s1")["counter"]["counted_to"], json!(fixture().len()));
    assert_eq!(t.e.replay("s1"), fixture(), "counting changed nothing of the mirror");

    // list shows turns and tokens from the same stats.
    let list: Value = serde_json::from_str(&t.run(&["list", "--json"])).unwrap();
    assert_eq!(list[0]["turns"], json!(4));
    assert_eq!(list[0]["tokens"], json!(1235 + 355 + 3600 + 21200 + 50 + 60 + 1000));
    assert!(t.run(&["list"]).contains("TURNS"));
}

#[test]
fn flushed_line_by_line_or_in_odd_pieces_equals_one_flush() {
    let t = T::new("insight-incremental");
    let all = fixture();
    t.append("whole", &all);
    t.flush("whole", false);
    for l in lines(&all) {
        t.append("bylines", l);
        t.flush("bylines", false);
    }
    // Pieces that cut lines anywhere: only whole lines go, the rest waits.
    for piece in all.chunks(611) {
        t.append("pieces", piece);
        t.flush("pieces", false);
    }
    let whole = t.stats("whole");
    assert_eq!(t.stats("bylines"), whole, "line by line");
    assert_eq!(t.stats("pieces"), whole, "odd pieces");
    assert_eq!(t.e.replay("pieces"), all);
    assert!(t.e.meta("bylines").unwrap()["parts"].as_array().unwrap().len() > 30);
}

#[test]
fn open_part_resent_whole_is_not_counted_twice() {
    let t = T::new("insight-open-part");
    let all = fixture();
    let ls = lines(&all);
    let head: Vec<u8> = ls[..10].concat();
    let line27_half = ls[26].len() / 2;
    let mid: Vec<u8> = [ls[10..26].concat(), ls[26][..line27_half].to_vec()].concat();
    let rest: Vec<u8> = [ls[26][line27_half..].to_vec(), ls[27..].concat()].concat();

    t.append("s", &head);
    t.flush("s", false);
    // A final flush sends the partial line 27: part 1 stays open.
    t.append("s", &mid);
    t.flush("s", true);
    let before = t.numbers("s");
    assert_eq!(before["turns"], json!(4), "lines 1-26 hold all four prompts");
    assert_eq!(before["assistant_messages"], json!(4), "line 27 is not whole yet");
    // The next flush re-sends part 1 whole, under the same seq, from its start.
    t.append("s", &rest);
    t.flush("s", false);
    assert_eq!(t.numbers("s"), expected());
    assert_eq!(t.e.replay("s"), all);
    let seqs: Vec<u64> =
        t.e.meta("s").unwrap()["parts"].as_array().unwrap().iter().map(|p| p["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [0, 1], "the open part was re-sent whole under its seq, not added");

    // Same thing when the open part is the very first one (everything re-sent from 0).
    t.append("s0", &[head.clone(), mid.clone()].concat());
    t.flush("s0", true);
    t.append("s0", &rest);
    t.flush("s0", false);
    assert_eq!(t.numbers("s0"), expected());
}

#[test]
fn repair_recounts_what_is_mirrored_now() {
    let t = T::new("insight-repair");
    let all = fixture();
    let ls = lines(&all);
    t.append("s", &ls[..12].concat());
    t.flush("s", false);
    t.append("s", &ls[12..].concat());
    t.flush("s", false);
    assert_eq!(t.numbers("s"), expected());
    // Claude Code rewrites the file: the first 12 lines stay, the rest is different.
    let rewritten: Vec<u8> = [ls[..12].concat(), ls[15..22].concat()].concat();
    std::fs::write(t.path("s"), &rewritten).unwrap();
    let out = t.flush("s", false);
    assert!(out.contains("repaired"), "{out}");
    assert_eq!(t.e.replay("s"), rewritten);
    // The same as counting the rewritten file from scratch.
    t.append("fresh", &rewritten);
    t.flush("fresh", false);
    assert_eq!(t.stats("s"), t.stats("fresh"));
    assert_eq!(t.numbers("s")["turns"], json!(3), "lines 2, 16 and 21");
}

#[test]
fn a_session_without_stats_is_counted_on_its_next_flush() {
    let t = T::new("insight-missing");
    let all = fixture();
    let ls = lines(&all);
    t.append("s", &ls[..20].concat());
    t.flush("s", false);
    // As if an older version (or the Python CLI) had written meta.json, on another machine.
    let key = format!("{}meta.json", t.e.session_prefix("s"));
    let mut meta: Value = serde_json::from_slice(&t.e.get(&key).unwrap()).unwrap();
    meta.as_object_mut().unwrap().remove("stats");
    t.e.put(&key, &serde_json::to_vec_pretty(&meta).unwrap());
    std::fs::remove_dir_all(t.e.home().join(".tracecraft/state")).unwrap();
    t.append("s", &ls[20..].concat());
    t.flush("s", false);
    assert_eq!(t.numbers("s"), expected());
    assert_eq!(t.e.replay("s"), all);
}

#[test]
fn odd_lines_never_fail_a_flush() {
    let t = T::new("insight-odd");
    let odd = concat!(
        "\u{0}\u{1}binary\n",
        "{\"type\":\"assistant\",\"message\":{\"id\":5,\"model\":[\"x\"],\"usage\":{\"input_tokens\":-3}}}\n",
        "{\"type\":\"assistant\",\"message\":{\"usage\":{\"output_tokens\":1e400}}}\n",
        "{\"type\":\"user\",\"message\":{\"content\":{\"text\":\"an object\"}},\"timestamp\":\"not a time\"}\n",
        "{\"type\":\"user\",\"message\":{\"content\":[7,null,{\"type\":\"tool_result\",\"is_error\":\"yes\"}]}}\n",
        "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"tool_use\",\"name\":42}]}}\n",
        "{\"type\":null,\"gitBranch\":7,\"version\":{}}\n",
        "[]\n\"str\"\n12\n\n\r\n",
        "{\"type\":\"user\",\"message\":{\"content\":\"a real prompt after all that\"}}\n",
    );
    t.append("s", odd.as_bytes());
    t.flush("s", false);
    let n = t.numbers("s");
    assert_eq!(n["turns"], json!(1));
    assert_eq!(n["tool_calls"], json!({"unknown": 1}));
    assert_eq!(n["assistant_messages"], json!(2), "the 1e400 line is not JSON serde can read");
    assert_eq!(n["tool_errors"], json!(0));
    assert_eq!(t.e.replay("s"), odd.as_bytes());
}

#[test]
fn stats_command_sums_sessions_and_filters_by_start() {
    let t = T::new("insight-stats-cmd");
    t.append("a", &fixture());
    t.flush("a", false);
    let sid = "b";
    t.append(sid, &common::transcript_lines(sid, t.e.project_dir(), 0, 4));
    t.flush(sid, false);
    let r: Value = serde_json::from_str(&t.run(&["stats", "--json"])).unwrap();
    assert_eq!(r["sessions"], json!(2));
    assert_eq!(r["sessions_without_stats"], json!(0));
    assert_eq!(r["turns"], json!(4 + 2), "the generated lines alternate prompt / reply");
    assert_eq!(r["assistant_messages"], json!(5 + 2));
    assert_eq!(r["tokens"]["claude-haiku-4-5"]["output"], json!(60));
    assert_eq!(r["tokens"][common::transcript::MODEL]["input"], json!(101 + 103));
    assert_eq!(r["top_tools"].as_array().unwrap().len(), 4);
    assert_eq!(r["biggest_sessions"][0]["id"], json!("a"));
    let none: Value = serde_json::from_str(&t.run(&["stats", "--json", "--since", "2999-01-01"])).unwrap();
    assert_eq!(none["sessions"], json!(0));
    let recent: Value = serde_json::from_str(&t.run(&["stats", "--json", "--since", "1d"])).unwrap();
    assert_eq!(recent["sessions"], json!(2));
    let text = t.run(&["stats"]);
    assert!(text.contains("top tools:") && text.contains("claude-opus-4-8"), "{text}");
    let bad = t.e.run(&["stats", "--since", "last tuesday"]);
    assert_eq!(bad.status.code(), Some(2), "a bad --since is a usage error");
}

#[test]
fn stats_text_says_1_turn_not_1_turns() {
    let t = T::new("insight-stats-singular");
    let sid = "one";
    // One prompt and one reply: one turn.
    t.append(sid, &common::transcript_lines(sid, t.e.project_dir(), 0, 2));
    t.flush(sid, false);
    let text = t.run(&["stats"]);
    assert!(text.contains("1 session in"), "{text}");
    let row = text.lines().find(|l| l.trim_start().starts_with(sid)).unwrap_or_else(|| panic!("no row: {text}"));
    assert!(row.contains(" 1 turn ") && !row.contains("1 turns"), "{row}");
}

#[test]
fn a_restored_copy_keeps_counting_where_the_store_stopped() {
    let t = T::new("insight-restored");
    let all = fixture();
    let ls = lines(&all);
    // A prompt with a secret: redaction makes the stored copy shorter than the source, so
    // counting on from the source's offset would skip lines of the copy.
    let key = format!("gh{}_{}", "p", "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0");
    let secret = format!("{{\"type\":\"user\",\"message\":{{\"content\":\"use {key} for the bucket\"}}}}\n");
    let head: Vec<u8> = [ls[..5].concat(), secret.into_bytes(), ls[5..20].concat()].concat();
    t.append("s", &head);
    t.flush("s", false);
    let stored = t.e.replay("s");
    assert!(stored.len() < head.len(), "the secret was redacted");
    // Another machine: no local state, the transcript is the store's copy, the session goes on.
    std::fs::remove_dir_all(t.e.home().join(".tracecraft/state")).unwrap();
    std::fs::write(t.path("s"), &stored).unwrap();
    t.append("s", &ls[20..].concat());
    let out = t.flush("s", false);
    assert!(!out.contains("repaired"), "{out}");
    let mut want = expected();
    want["turns"] = json!(5);
    want["lines"] = json!(32);
    assert_eq!(t.numbers("s"), want);
}
