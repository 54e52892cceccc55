//! CLI tests of `restore` and `list --remote-only`: the real binary, on every backend of the
//! shared harness (embedded local store, s3s-fs, moto; see `tests/common`).
//!
//! Each test has two machines sharing one store: machine A (the harness `Env`: its HOME and
//! project directory) runs and mirrors a session; machine B (another temp HOME, project
//! directory elsewhere, the same store through its own config file) restores it and goes on.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{backends, run_with_timeout, slug, transcript_line_with_text, transcript_lines, Env, RUN_TIMEOUT};
use serde_json::{json, Value};
use tempfile::TempDir;

/// A fake AWS access key: redaction turns its 20 bytes into `[REDACTED:aws_access_key]` (25).
const SECRET: &str = "AKIAIOSFODNN7EXAMPLE";

/// Run `f` on every backend, each time in a new pair of machines.
fn each(name: &str, f: impl Fn(&W)) {
    for b in backends() {
        eprintln!("--- {name} on {}", b.name());
        let a = Env::new(b, name);
        let home_b = tempfile::Builder::new().prefix("tc-home-b-").tempdir().unwrap();
        let proj_b = home_b.path().join("work").join("other_proj.v3");
        fs::create_dir_all(&proj_b).unwrap();
        let w = W { a, home_b, proj_b };
        // Machine B reaches the same store with its own config file.
        let cfg = match w.a.endpoint() {
            Some(_) => serde_json::from_slice(&fs::read(w.a.config_path()).unwrap()).unwrap(),
            None => json!({"backend": "local", "path": w.a.local_store()}),
        };
        let path = w.home_b.path().join(".tracecraft/config.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        f(&w);
    }
}

/// Two machines sharing a store.
struct W {
    a: Env,
    home_b: TempDir,
    proj_b: PathBuf,
}

impl W {
    fn run_a(&self, args: &[&str]) -> Output {
        run_with_timeout(self.a.cmd(args), None, true, RUN_TIMEOUT).expect("exits")
    }

    fn run_b_env(&self, args: &[&str], env: &[(&str, &Path)]) -> Output {
        let mut c = self.a.cmd(args);
        c.env("HOME", self.home_b.path()).current_dir(&self.proj_b);
        for (k, v) in env {
            c.env(k, v);
        }
        run_with_timeout(c, None, true, RUN_TIMEOUT).expect("exits")
    }

    fn run_b(&self, args: &[&str]) -> Output {
        self.run_b_env(args, &[])
    }

    fn ok_a(&self, args: &[&str]) -> String {
        ok(self.run_a(args), args)
    }

    fn ok_b(&self, args: &[&str]) -> String {
        ok(self.run_b(args), args)
    }

    fn fails_b(&self, args: &[&str]) -> String {
        let out = self.run_b(args);
        assert_eq!(out.status.code(), Some(1), "{args:?} should fail: {}", String::from_utf8_lossy(&out.stdout));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(err.starts_with("tracecraft-hook: ") && err.lines().count() == 1, "one error line: {err}");
        err
    }

    /// Machine A: append `text` lines (`start..`) to `sid`'s transcript and flush them.
    fn session_a(&self, sid: &str, texts: &[&str], start: u64) -> Vec<u8> {
        let mut bytes = Vec::new();
        for (k, t) in texts.iter().enumerate() {
            bytes.extend(transcript_line_with_text(sid, self.a.project_dir(), start + k as u64, t).into_bytes());
        }
        let path = self.a.transcript_path(sid);
        common::append(&path, &bytes);
        self.ok_a(&["flush", "--transcript", path.to_str().unwrap()]);
        bytes
    }

    /// Where machine B's Claude Code keeps `sid` for its project directory.
    fn path_b(&self, sid: &str) -> PathBuf {
        self.home_b.path().join(".claude/projects").join(slug(&self.proj_b)).join(format!("{sid}.jsonl"))
    }

    fn state_b(&self, sid: &str) -> Value {
        let p = self.home_b.path().join(format!(".tracecraft/state/{sid}.json"));
        serde_json::from_slice(&fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
    }

    fn part_count(&self, sid: &str) -> usize {
        self.a.part_keys(sid).len()
    }
}

fn ok(out: Output, args: &[&str]) -> String {
    assert!(
        out.status.success(),
        "{args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn assert_same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
        panic!("{what}: {} bytes vs {} expected; first difference at byte {at}", got.len(), want.len());
    }
}

/// A session of four lines, one with a secret, mirrored in two flushes on machine A.
fn two_flushes(w: &W, sid: &str) {
    w.session_a(sid, &[&format!("my key is {SECRET}, keep it"), "noted"], 0);
    w.session_a(sid, &["and now?", "done"], 2);
    assert_eq!(w.part_count(sid), 2);
}

#[test]
fn restore_writes_the_redacted_replay_and_seeds_the_state() {
    each("restore_absent", |w| {
        let sid = "5e551011-0000-4000-8000-00000000000a";
        two_flushes(w, sid);
        let replay = w.a.replay(sid);
        assert!(String::from_utf8_lossy(&replay).contains("[REDACTED:aws_access_key]"));

        let out = w.ok_b(&["restore", &sid[..8]]);
        let path = w.path_b(sid);
        assert_same(&fs::read(&path).unwrap(), &replay, "restored file");
        assert!(out.contains(&format!("restored {sid}")) && out.contains(path.to_str().unwrap()), "{out}");
        assert!(out.contains("redacted") && out.contains("aws_access_key 1"), "says it is redacted: {out}");
        assert!(out.contains(&format!("claude --resume {sid}")), "{out}");
        assert!(out.contains(&format!("it ran in {}", w.a.project_dir().display())), "{out}");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let names: Vec<String> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec![format!("{sid}.jsonl")], "no temp file left");

        let st = w.state_b(sid);
        assert_eq!(st["cursor"], json!(replay.len()));
        assert_eq!(st["next_seq"], json!(2));
        assert_eq!(st["seen_len"], json!(replay.len()));
        assert_eq!(st["transcript"], json!(path.to_str().unwrap()));
        let meta = fs::read(w.home_b.path().join(format!(".tracecraft/state/{sid}@meta.json"))).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&meta).unwrap(), w.a.meta(sid).unwrap(), "meta cache");
        if w.a.backend.is_s3() {
            assert!(st["meta_etag"].is_string(), "the ETag of meta.json: {st}");
        }

        // Nothing new: a flush on B uploads nothing and repairs nothing.
        let out = w.ok_b(&["flush", "--session-id", sid]);
        assert!(out.starts_with("nothing new"), "{out}");
        assert_eq!(w.part_count(sid), 2);
    });
}

#[test]
fn restore_then_continue_uploads_only_the_new_lines() {
    each("restore_continue", |w| {
        let sid = "5e551011-0000-4000-8000-00000000000b";
        two_flushes(w, sid);
        let before: Vec<(String, Vec<u8>)> =
            w.a.part_keys(sid).into_iter().map(|k| (k.clone(), w.a.get(&k).unwrap())).collect();
        w.ok_b(&["restore", sid]);
        let path = w.path_b(sid);
        let restored = fs::read(&path).unwrap();
        let a_len = fs::read(w.a.transcript_path(sid)).unwrap().len();
        assert_ne!(restored.len(), a_len, "redaction changed the length (the point of this test)");

        // Manual flush on B after Claude Code appended a turn.
        let new1 = transcript_lines(sid, &w.proj_b, 4, 2);
        common::append(&path, &new1);
        let out = w.ok_b(&["flush", "--session-id", sid]);
        assert!(out.starts_with(&format!("flushed {sid}: 1 part, ")), "{out}");
        assert!(!out.contains("repaired"), "{out}");

        // The hook on B (inline), as Claude Code runs it.
        let new2 = transcript_lines(sid, &w.proj_b, 6, 2);
        common::append(&path, &new2);
        let payload = common::payload("Stop", sid, &path, &w.proj_b);
        let mut c = w.a.cmd(&["hook"]);
        c.env("HOME", w.home_b.path()).current_dir(&w.proj_b);
        let out = run_with_timeout(c, Some(serde_json::to_vec(&payload).unwrap()), true, RUN_TIMEOUT).unwrap();
        assert!(out.status.success() && out.stdout.is_empty());

        let keys = w.a.part_keys(sid);
        assert_eq!(keys.len(), 4, "two parts from A, one per flush on B: {keys:?}");
        for (k, b) in &before {
            assert_eq!(w.a.get(k).as_ref(), Some(b), "A's part {k} unchanged");
        }
        assert_same(&w.a.get(&keys[2]).unwrap(), &new1, "first part from B");
        assert_same(&w.a.get(&keys[3]).unwrap(), &new2, "second part from B");
        assert!(keys[2].contains("part-00002-") && keys[3].contains("part-00003-"), "{keys:?}");
        assert_same(&w.a.replay(sid), &fs::read(&path).unwrap(), "replay = B's transcript");
        let meta = w.a.meta(sid).unwrap();
        assert_eq!(meta["parts"].as_array().unwrap().len(), 4, "{meta}");
        assert_eq!(meta["cwd"], json!(w.proj_b.to_str().unwrap()));
        assert_eq!(meta["redaction_counts"], json!({"aws_access_key": 1}));
        let log = fs::read_to_string(w.home_b.path().join(".tracecraft/hook.log")).unwrap_or_default();
        assert!(!log.contains("repaired"), "{log}");

        // Without the seeded state (`stop` forgets it; or a lost state directory) the engine
        // recognises the restored copy from the parts' sha256 and still sends only new lines.
        w.ok_b(&["stop", sid]);
        let new3 = transcript_lines(sid, &w.proj_b, 8, 2);
        common::append(&path, &new3);
        let out = w.ok_b(&["flush", "--session-id", sid]);
        assert!(out.starts_with(&format!("flushed {sid}: 1 part, ")) && !out.contains("repaired"), "{out}");
        let keys = w.a.part_keys(sid);
        assert_eq!(keys.len(), 5, "{keys:?}");
        assert_same(&w.a.get(&keys[4]).unwrap(), &new3, "the part after a lost state");
        assert_same(&w.a.replay(sid), &fs::read(&path).unwrap(), "replay = B's transcript");
        for (k, b) in &before {
            assert_eq!(w.a.get(k).as_ref(), Some(b), "A's part {k} unchanged");
        }
    });
}

#[test]
fn a_copy_made_with_show_is_recognised_without_restore() {
    each("restore_show_copy", |w| {
        let sid = "5e551011-0000-4000-8000-000000000012";
        two_flushes(w, sid);
        let copy = w.home_b.path().join(format!("copies/{sid}.jsonl"));
        fs::create_dir_all(copy.parent().unwrap()).unwrap();
        fs::write(&copy, w.ok_b(&["show", "--raw", sid])).unwrap();
        let out = w.ok_b(&["flush", "--transcript", copy.to_str().unwrap()]);
        assert!(out.starts_with("nothing new") && !out.contains("repaired"), "{out}");
        common::append(&copy, &transcript_lines(sid, &w.proj_b, 4, 1));
        let out = w.ok_b(&["flush", "--transcript", copy.to_str().unwrap()]);
        assert!(out.starts_with(&format!("flushed {sid}: 1 part, ")), "{out}");
        assert_eq!(w.part_count(sid), 3);
        assert_same(&w.a.replay(sid), &fs::read(&copy).unwrap(), "replay = the copy");
    });
}

#[test]
fn restore_after_compact_numbers_new_parts_above_the_merged_range() {
    each("restore_compacted", |w| {
        let sid = "5e551011-0000-4000-8000-00000000000c";
        two_flushes(w, sid);
        w.session_a(sid, &["third", "turn"], 4);
        w.ok_a(&["compact", sid]);
        assert_eq!(w.part_count(sid), 1, "one merged part");
        w.ok_b(&["restore", sid]);
        assert_eq!(w.state_b(sid)["next_seq"], json!(3), "above compacted_seqs");
        let path = w.path_b(sid);
        common::append(&path, &transcript_lines(sid, &w.proj_b, 6, 2));
        w.ok_b(&["flush", "--session-id", sid]);
        let keys = w.a.part_keys(sid);
        assert_eq!(keys.len(), 2);
        assert!(keys[1].contains("part-00003-"), "{keys:?}");
        assert_same(&w.a.replay(sid), &fs::read(&path).unwrap(), "replay = B's transcript");
        assert_same(&w.ok_b(&["show", "--raw", sid]).into_bytes(), &fs::read(&path).unwrap(), "show");
    });
}

#[test]
fn existing_local_files_are_completed_kept_or_refused() {
    each("restore_local", |w| {
        let sid = "5e551011-0000-4000-8000-00000000000d";
        two_flushes(w, sid);
        let replay = w.a.replay(sid);
        let path = w.path_b(sid);
        w.ok_b(&["restore", sid]);

        // Equal: nothing written.
        let out = w.ok_b(&["restore", sid]);
        assert!(out.contains("unchanged"), "{out}");
        assert_same(&fs::read(&path).unwrap(), &replay, "equal");

        // A strict prefix: completed.
        let first_line = replay.iter().position(|b| *b == b'\n').unwrap() + 1;
        fs::write(&path, &replay[..first_line]).unwrap();
        let out = w.ok_b(&["restore", sid]);
        assert!(out.contains("completed") && out.contains(&format!("{first_line} bytes were there")), "{out}");
        assert_same(&fs::read(&path).unwrap(), &replay, "completed");
        assert_eq!(w.state_b(sid)["cursor"], json!(replay.len()));

        // More than the store has (lines not mirrored yet): left alone, flushed later.
        let extra = transcript_lines(sid, &w.proj_b, 4, 1);
        common::append(&path, &extra);
        let out = w.ok_b(&["restore", sid]);
        assert!(out.contains(&format!("{} bytes more", extra.len())) && out.contains("unchanged"), "{out}");
        w.ok_b(&["flush", "--session-id", sid]);
        assert_same(&w.a.replay(sid), &fs::read(&path).unwrap(), "the extra line mirrored once");

        // Diverging: refused, untouched.
        let mut local = fs::read(&path).unwrap();
        local[10] = b'X';
        fs::write(&path, &local).unwrap();
        let err = w.fails_b(&["restore", sid]);
        assert!(err.contains("differs") && err.contains("at byte 10") && err.contains("--force"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), local, "not changed");

        // --force: replaced, the old file kept beside it.
        let out = w.ok_b(&["restore", sid, "--force"]);
        let backup = out.split("kept at ").nth(1).map(|s| PathBuf::from(s.lines().next().unwrap().trim())).unwrap();
        assert_eq!(backup.parent(), path.parent(), "{out}");
        assert!(backup.file_name().unwrap().to_str().unwrap().starts_with(&format!("{sid}.jsonl.bak-")), "{out}");
        assert_eq!(fs::read(&backup).unwrap(), local, "backup holds the local file");
        assert_same(&fs::read(&path).unwrap(), &w.a.replay(sid), "replaced");
        let out = w.ok_b(&["flush", "--session-id", sid]);
        assert!(out.starts_with("nothing new"), "{out}");
    });
}

#[test]
fn slugs_of_unusual_directories_and_claude_config_dir() {
    each("restore_slug", |w| {
        let sid = "5e551011-0000-4000-8000-00000000000e";
        two_flushes(w, sid);
        let odd = w.home_b.path().join("a_b.c é😀");
        fs::create_dir_all(&odd).unwrap();
        let cc = w.home_b.path().join("cc-config");
        w.ok_b(&["restore", sid, "--cwd", odd.to_str().unwrap()]);
        let want = w
            .home_b
            .path()
            .join(".claude/projects")
            .join(format!("{}-a-b-c----", slug(w.home_b.path())))
            .join(format!("{sid}.jsonl"));
        assert_same(&fs::read(&want).unwrap(), &w.a.replay(sid), "one '-' per UTF-16 unit");

        let out = w.run_b_env(&["restore", sid], &[("CLAUDE_CONFIG_DIR", &cc)]);
        ok(out, &["restore (CLAUDE_CONFIG_DIR)"]);
        let want = cc.join("projects").join(slug(&w.proj_b)).join(format!("{sid}.jsonl"));
        assert_same(&fs::read(&want).unwrap(), &w.a.replay(sid), "under CLAUDE_CONFIG_DIR");
        assert!(!w.path_b(sid).exists());
    });
}

#[test]
fn subagents_come_back_beside_the_session() {
    each("restore_subagents", |w| {
        let sid = "5e551011-0000-4000-8000-00000000000f";
        two_flushes(w, sid);
        let agent = format!("{sid}.agent-a1b2c3");
        let prefix = w.a.session_prefix(&agent);
        w.a.put(&format!("{prefix}part-00000-0000abcd.jsonl"), b"{\"agent\":1}\n");
        w.a.put(&format!("{prefix}part-00001-0000abce.jsonl"), b"{\"agent\":2}\n");

        let out = w.ok_b(&["restore", &sid[..12]]);
        assert!(out.contains("1 subagent transcript in the store: add --subagents"), "{out}");
        let agent_file = w.path_b(sid).with_extension("").join("subagents/agent-a1b2c3.jsonl");
        assert!(!agent_file.exists());

        let out = w.ok_b(&["restore", sid, "--subagents"]);
        assert!(out.contains("subagent a1b2c3"), "{out}");
        assert_eq!(fs::read(&agent_file).unwrap(), b"{\"agent\":1}\n{\"agent\":2}\n");
        let st = w.state_b(&agent);
        assert_eq!((st["cursor"].clone(), st["next_seq"].clone()), (json!(24), json!(2)));

        let err = w.fails_b(&["restore", &agent]);
        assert!(err.contains("subagent") && err.contains("--subagents"), "{err}");
    });
}

#[test]
fn list_remote_only_shows_what_this_machine_lacks() {
    each("restore_list", |w| {
        let (one, two) = ("5e551011-0000-4000-8000-000000000010", "5e551011-0000-4000-8000-000000000011");
        w.session_a(one, &["first"], 0);
        w.session_a(two, &["second"], 0);
        w.a.put(&format!("{}part-00000-0000abcd.jsonl", w.a.session_prefix(&format!("{one}.agent-x1"))), b"{}\n");

        let out = w.ok_a(&["list", "--remote-only"]);
        assert!(out.starts_with("(no sessions missing on this machine in "), "A has both: {out}");
        let ids = |v: Value| -> Vec<String> {
            let mut ids: Vec<String> =
                v.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
            ids.sort();
            ids
        };
        let rows = w.ok_b(&["list", "--remote-only", "--json"]);
        assert_eq!(ids(serde_json::from_str(&rows).unwrap()), vec![one.to_string(), two.to_string()]);
        w.ok_b(&["restore", one]);
        let rows = w.ok_b(&["list", "--remote-only", "--json"]);
        assert_eq!(ids(serde_json::from_str(&rows).unwrap()), vec![two.to_string()]);
        let table = w.ok_b(&["list", "--remote-only"]);
        assert!(table.contains(two) && !table.contains(one), "{table}");
    });
}

#[test]
fn unknown_sessions_fail_with_one_line() {
    each("restore_unknown", |w| {
        let err = w.fails_b(&["restore", "nope"]);
        assert!(err.contains("\"nope\""), "{err}");
        let err = w.fails_b(&["restore", "../x"]);
        assert!(err.contains("invalid session id"), "{err}");
    });
}
