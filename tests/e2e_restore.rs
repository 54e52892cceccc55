//! End to end with the real Claude Code CLI: a session started on one machine is continued on
//! another through `tracecraft-hook restore`.
//!
//! Machine A (HOME=A) runs `claude -p` in project directory P1 with the hooks installed by
//! `tracecraft-hook install`; the session is mirrored into a store both machines share (the
//! embedded local store at a common path, `{"backend":"local","path":...}` in each HOME's
//! config). Its prompt carries a secret, so the stored copy is redacted and shorter or longer
//! than A's transcript. Machine B (HOME=B, hooks installed too) sees it in
//! `list --remote-only`, restores it into another project directory P2 and runs
//! `claude -p --resume <ID>` there against the mock Messages API. Checked:
//! - the request the mock received for B's turn carries A's turn (the history came back);
//! - B's transcript starts with exactly the restored bytes;
//! - afterwards the store replays to B's transcript, byte for byte (no byte repeated, A's parts
//!   untouched, only new parts added), and meta.json records the resume and the end.
//!
//! The CLI, the mock and the runner come from the shared harness (`tests/common/claude.rs`):
//! a missing CLI FAILS the test with its install command, unless the run opted out of it
//! (`TRACECRAFT_TEST_WITHOUT=claude`), which is recorded and listed.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use common::claude::{self, assert_same, claude_bin, Machine, Mock};
use common::Home;
use serde_json::{json, Value};

const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// One machine: a HOME with the hooks installed and a config pointing at the shared store.
fn machine(root: &Path, name: &str, work: &str, store: &Path) -> Machine {
    let m = Machine::new(root.join(name), root.join(name).join(work));
    let cfg = m.home.join(".tracecraft/config.json");
    fs::create_dir_all(cfg.parent().unwrap()).expect("mkdir ~/.tracecraft");
    fs::write(&cfg, serde_json::to_vec_pretty(&json!({"backend": "local", "path": store})).unwrap()).unwrap();
    fs::set_permissions(&cfg, fs::Permissions::from_mode(0o600)).unwrap();
    m.install_hooks();
    m
}

/// `claude <args> --output-format json` in `m`'s project directory; its result.
fn ask(m: &Machine, claude: &Path, mock: &Mock, args: &[&str]) -> Value {
    let (out, err) = (m.home.join("claude.out"), m.home.join("claude.err"));
    let v = claude::run(m.command(claude, mock, args, (&[], &[]), (&out, &err)), (&out, &err)).json;
    assert_eq!(v["is_error"], json!(false), "Claude Code reported an error: {v}");
    v
}

/// The shared store's view of one session.
struct Store {
    dir: PathBuf,
}

impl Store {
    fn session_dir(&self, sid: &str) -> PathBuf {
        self.dir.join("default/sessions/claude-code").join(sid)
    }

    /// (part name, bytes) in key order; panics on anything but parts and meta.json.
    fn parts(&self, sid: &str) -> Vec<(String, Vec<u8>)> {
        claude::stored_parts(&self.session_dir(sid))
    }

    fn replay(&self, sid: &str) -> Vec<u8> {
        self.parts(sid).into_iter().flat_map(|(_, b)| b).collect()
    }

    fn meta(&self, sid: &str) -> Option<Value> {
        serde_json::from_slice(&fs::read(self.session_dir(sid).join("meta.json")).ok()?).ok()
    }

    /// Wait until `m`'s workers are gone and meta.json says the session ended.
    fn settle(&self, m: &Machine, sid: &str) {
        let t0 = Instant::now();
        while !(self.meta(sid).is_some_and(|v| v["ended_at"].is_string()) && m.workers() == 0) {
            assert!(t0.elapsed() < SETTLE_TIMEOUT, "session {sid} did not settle: {:?}", self.meta(sid));
            thread::sleep(Duration::from_millis(25));
        }
    }
}

#[test]
fn continue_a_session_on_another_machine() {
    let Some(claude) = claude_bin() else { return };
    // Kept on failure (or with TRACECRAFT_TEST_KEEP=1).
    let scratch = Home::new();
    let root = scratch.scratch("");
    let mock = Mock::start(&root);
    let store = Store { dir: root.join("shared-store") };
    let a = machine(&root, "home-a", "work/my_proj.v2", &store.dir);
    let b = machine(&root, "home-b", "elsewhere/other_proj", &store.dir);

    // Machine A: one turn, with a secret in the prompt.
    let secret = format!("AKIA{}", "E2ERESTORETEST12");
    let run = ask(&a, &claude, &mock, &["-p", &format!("remember {secret} [[mock-text first answer]]")]);
    assert_eq!(run["result"], json!("first answer"));
    let sid = run["session_id"].as_str().expect("session_id").to_string();
    store.settle(&a, &sid);
    let parts_a = store.parts(&sid);
    let replay_a = store.replay(&sid);
    let text = String::from_utf8_lossy(&replay_a);
    assert!(text.contains("[REDACTED:aws_access_key]") && !text.contains(&secret), "the stored copy is redacted");
    assert_ne!(replay_a.len(), fs::read(a.transcript_path(&sid)).unwrap().len(), "redaction changed the length");

    // Machine B: not there yet; restore it into P2.
    let listed = b.hook_ok(&["list", "--remote-only", "--json"]);
    assert!(listed.contains(&sid), "list --remote-only on B: {listed}");
    let out = b.hook_ok(&["restore", &sid]);
    assert!(out.contains("redacted"), "{out}");
    let path_b = b.transcript_path(&sid);
    assert_same(&fs::read(&path_b).expect("restored transcript"), &replay_a, "restored = replay");
    assert!(!b.hook_ok(&["list", "--remote-only", "--json"]).contains(&sid));

    // Continue it there.
    let asked = mock.message_requests().len();
    let run = ask(&b, &claude, &mock, &["-p", "[[mock-text second answer]]", "--resume", &sid]);
    assert_eq!(run["result"], json!("second answer"));
    assert_eq!(run["session_id"], json!(sid), "--resume continued another session");
    store.settle(&b, &sid);

    // The history came back: B's turn was asked with A's turn in its messages.
    let turn = mock
        .message_requests()
        .into_iter()
        .skip(asked)
        .find(|r| r["body"]["messages"].to_string().contains("[[mock-text second answer]]"))
        .expect("the mock saw B's turn");
    let messages = turn["body"]["messages"].to_string();
    assert!(messages.contains("first answer"), "A's answer missing from B's request: {messages}");
    assert!(messages.contains("[REDACTED:aws_access_key]"), "A's (redacted) prompt missing: {messages}");

    // The store holds A's parts unchanged, then B's new lines, once.
    let transcript_b = fs::read(&path_b).unwrap();
    assert_same(&transcript_b[..replay_a.len()], &replay_a, "B's transcript starts with the restored bytes");
    assert_same(&store.replay(&sid), &transcript_b, "replay = B's transcript");
    let parts = store.parts(&sid);
    assert!(parts.len() > parts_a.len(), "B's turn added no part");
    assert_eq!(&parts[..parts_a.len()], &parts_a[..], "A's parts changed");
    let meta = store.meta(&sid).unwrap();
    assert_eq!(meta["start_source"], json!("resume"), "{meta}");
    assert_eq!(meta["end_reason"], json!("other"), "{meta}");
    assert_eq!(meta["cwd"], json!(b.work.to_string_lossy()), "{meta}");
    let listed: Vec<String> = meta["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("part-{:05}-{}.jsonl", p["seq"].as_u64().unwrap(), p["uuid"].as_str().unwrap()))
        .collect();
    assert_eq!(listed, parts.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(), "meta.json lists the parts");
    let log = fs::read_to_string(b.home.join(".tracecraft/hook.log")).unwrap_or_default();
    assert!(!log.contains("repaired") && !log.contains("ERROR"), "B's hook log: {log}");
}
