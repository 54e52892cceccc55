//! End to end with the real Claude Code CLI: `claude -p` runs headless against a local mock of
//! the Messages API (`tests/e2e/mock_anthropic.py`, 127.0.0.1 only), with tracecraft-hook
//! installed the two ways users install it (`tracecraft-hook install` into settings.json, and
//! the plugin through `--plugin-dir <repo>`), so every hook fires for real. After Claude Code
//! exits and the detached workers are done, each test checks that
//! - the store replays (its parts concatenated in key order) to the redacted transcript, byte
//!   for byte, and holds nothing but parts and meta.json under the session prefix;
//! - meta.json has `ended_at` and the SessionEnd reason;
//! - Claude Code's own output is untouched (result JSON as scripted, no hook output in the
//!   transcript).
//!
//! The CLI, the mock and s3s-fs come from the shared harness (`tests/common`: `claude`,
//! `servers`, `tools`): a missing tool FAILS the test with its install command, unless the run
//! opted out of it by name (`TRACECRAFT_TEST_WITHOUT=claude`), which is recorded and listed.
//!
//! The tests take a file-wide lock and run one at a time (they start real processes and one of
//! them measures time). `TRACECRAFT_TEST_KEEP=1` keeps the scratch directories; a failing test keeps its
//! own and prints where it is. Notes on the real CLI: tests/e2e/README.md.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use common::claude::{self, claude_bin, Machine, Mock, Run, HOOK_BIN};
use common::proxy::{Fault, FaultProxy};
use common::servers::{self, Kind, ServerProcess};
use common::tools::repo;
use common::Home;
use serde_json::{json, Value};
use tracecraft_hook::base::redact::Redactor;

/// How long the workers get to finish after Claude Code exited (slow-S3 scenario: ~20 s).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The hook events `tracecraft-hook install` registers.
const OUR_EVENTS: &[&str] = &["SessionStart", "UserPromptSubmit", "Stop", "SubagentStop", "PreCompact", "SessionEnd"];
/// Events the probe hook records.
const PROBE_EVENTS: &[&str] = &[
    "SessionStart",
    "UserPromptSubmit",
    "Stop",
    "SubagentStart",
    "SubagentStop",
    "PreCompact",
    "PostCompact",
    "SessionEnd",
];
const S3_PROJECT: &str = "p";

// ---------------------------------------------------------------------------------------------
// Small utilities

fn e2e_dir() -> PathBuf {
    repo().join("tests/e2e")
}

/// Straight to file descriptor 2, past libtest's output capture: the timing figures must be
/// seen in a plain `cargo test`.
fn say(msg: &str) {
    let _ = std::io::stderr().write_all(format!("{msg}\n").as_bytes());
}

/// Quote for `/bin/sh`.
fn sh_quote(s: &Path) -> String {
    format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One test at a time (see the module documentation).
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// s3s-fs for one scenario (its own process, data under its own root), `None` when the run
/// opted out of s3s-fs.
fn s3s() -> Option<ServerProcess> {
    servers::program_available(Kind::S3s).then(|| ServerProcess::spawn(Kind::S3s))
}

// ---------------------------------------------------------------------------------------------
// One isolated Claude Code + tracecraft-hook installation

/// Where the mirror goes.
#[derive(Clone)]
enum Dest {
    /// The embedded store under `$HOME/.tracecraft/store/default/`.
    Local,
    /// s3s-fs's directory for the bucket.
    S3 { bucket_dir: PathBuf },
}

/// A scratch HOME, a project directory with `_` and `.` in its name, and a mock.
struct Env {
    name: &'static str,
    claude: PathBuf,
    root: PathBuf,
    /// HOME and the project directory.
    m: Machine,
    mock: Mock,
    dest: Dest,
    /// Extra environment for Claude Code (and so for its hooks).
    extra_env: Vec<(String, String)>,
    /// Extra arguments for every Claude Code run (`--plugin-dir`, `--settings`).
    extra_args: Vec<String>,
    runs: usize,
    /// The scratch directory (HOME at `home`), kept on failure or with TRACECRAFT_TEST_KEEP=1.
    _scratch: Home,
}

impl Env {
    fn new(name: &'static str, claude: &Path) -> Env {
        let scratch = Home::new();
        let root = scratch.scratch("");
        let home = scratch.path().to_path_buf();
        let work = scratch.scratch_dir("work/my_proj.v2");
        let mock = Mock::start(&root);
        Env {
            name,
            claude: claude.to_path_buf(),
            root,
            m: Machine::new(home, work),
            mock,
            dest: Dest::Local,
            extra_env: Vec::new(),
            extra_args: Vec::new(),
            runs: 0,
            _scratch: scratch,
        }
    }

    /// `tracecraft-hook html SID -o -` from the mirror: every message and tool call of
    /// `transcripts` (the session's, then its subagents') is on the page, each message with
    /// its `#msg-<uuid>` anchor, and the page carries its Content-Security-Policy.
    fn assert_page(&self, sid: &str, transcripts: &[Vec<u8>], subagents: bool) -> String {
        let mut args = vec!["html", sid, "-o", "-"];
        if subagents {
            args.push("--subagents");
        }
        let page = self.m.hook_ok(&args);
        let (mut msgs, mut tools) = (0, 0);
        for line in transcripts.iter().flat_map(|t| t.split(|&b| b == b'\n')) {
            let Ok(v) = serde_json::from_slice::<Value>(line) else { continue };
            let ty = v["type"].as_str().unwrap_or("");
            if !matches!(ty, "user" | "assistant" | "system" | "summary") {
                continue;
            }
            msgs += 1;
            if let Some(u) = v["uuid"].as_str() {
                assert!(page.contains(&format!("id=\"msg-{u}\"")), "no anchor for message {u}");
            }
            if let Some(blocks) = v["message"]["content"].as_array().filter(|_| ty == "assistant") {
                tools += blocks.iter().filter(|b| b["type"] == json!("tool_use")).count();
            }
        }
        assert_eq!(page.matches("<article class=\"msg ").count(), msgs, "messages on the page");
        assert_eq!(page.matches("<div class=\"tool-call\"").count(), tools, "tool calls on the page");
        assert!(page.contains("Content-Security-Policy\" content=\"default-src &#39;none&#39;"), "no CSP");
        page
    }

    /// Run the hook binary's `install` (user scope) with this HOME.
    fn install_settings(&self) {
        self.m.install_hooks();
        let settings: Value =
            serde_json::from_slice(&fs::read(self.m.home.join(".claude/settings.json")).expect("settings.json"))
                .expect("settings.json is JSON");
        for ev in OUR_EVENTS {
            let cmd = &settings["hooks"][ev][0]["hooks"][0]["command"];
            assert_eq!(cmd, &json!(format!("{HOOK_BIN} hook")), "{ev} handler in settings.json");
        }
    }

    /// Load the repository as a plugin for every run (hooks/hooks.json -> hooks/run.sh).
    fn use_plugin(&mut self) {
        self.extra_args.extend(["--plugin-dir".to_string(), repo().to_string_lossy().into_owned()]);
        self.extra_env.push(("TRACECRAFT_HOOK_BIN".into(), HOOK_BIN.into()));
    }

    /// Mirror into s3s-fs at `endpoint_port` (directly or through a proxy) instead of the local store.
    fn use_s3(&mut self, s3: &ServerProcess, endpoint: &str) {
        let dir = self.m.home.join(".tracecraft");
        fs::create_dir_all(&dir).expect("mkdir ~/.tracecraft");
        let cfg = json!({
            "backend": "s3", "endpoint": endpoint, "bucket": servers::BUCKET,
            "project": S3_PROJECT, "agent_id": "e2e", "access_key": s3.access_key, "secret_key": s3.secret_key,
        });
        let path = dir.join("config.json");
        fs::write(&path, serde_json::to_vec_pretty(&cfg).expect("json")).expect("write config.json");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod 600");
        self.dest = Dest::S3 { bucket_dir: s3.data_root().join(servers::BUCKET) };
    }

    /// Also run `tests/e2e/probe_hook.sh` on every interesting event (through `--settings`),
    /// to see which events fired and with what payload.
    fn use_probe(&mut self) {
        let dir = self.root.join("probe");
        fs::create_dir_all(&dir).expect("mkdir probe");
        let cmd = format!("sh {} {}", sh_quote(&e2e_dir().join("probe_hook.sh")), sh_quote(&dir));
        let hooks: serde_json::Map<String, Value> = PROBE_EVENTS
            .iter()
            .map(|ev| (ev.to_string(), json!([{"hooks": [{"type": "command", "command": cmd}]}])))
            .collect();
        let path = self.root.join("probe-settings.json");
        fs::write(&path, serde_json::to_vec_pretty(&json!({ "hooks": hooks })).expect("json")).expect("write");
        self.extra_args.extend(["--settings".to_string(), path.to_string_lossy().into_owned()]);
    }

    /// The payloads the probe saw, in order.
    fn probed(&self) -> Vec<Value> {
        let Ok(rd) = fs::read_dir(self.root.join("probe")) else { return Vec::new() };
        let mut files: Vec<PathBuf> =
            rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
        files.sort();
        files.iter().filter_map(|p| serde_json::from_slice(&fs::read(p).ok()?).ok()).collect()
    }

    /// The `claude <args> --output-format json` command in the project directory, with a clean
    /// environment, and the files its stdout and stderr go to.
    fn claude_command(&mut self, args: &[&str]) -> (Command, PathBuf, PathBuf) {
        self.runs += 1;
        let (out_path, err_path) =
            (self.root.join(format!("claude-{}.out", self.runs)), self.root.join(format!("claude-{}.err", self.runs)));
        let cmd =
            self.m.command(&self.claude, &self.mock, args, (&self.extra_args, &self.extra_env), (&out_path, &err_path));
        (cmd, out_path, err_path)
    }

    /// `claude <args> --output-format json` in the project directory, with a clean environment.
    fn claude(&mut self, args: &[&str]) -> Run {
        let (cmd, out_path, err_path) = self.claude_command(args);
        claude::run(cmd, (&out_path, &err_path))
    }

    fn transcript_path(&self, sid: &str) -> PathBuf {
        self.m.transcript_path(sid)
    }

    fn transcript(&self, sid: &str) -> Vec<u8> {
        let p = self.transcript_path(sid);
        fs::read(&p).unwrap_or_else(|e| panic!("transcript {}: {e}", p.display()))
    }

    fn session_dir(&self, sid: &str) -> PathBuf {
        let prefix = format!("sessions/claude-code/{sid}");
        match &self.dest {
            Dest::Local => self.m.home.join(".tracecraft/store/default").join(prefix),
            Dest::S3 { bucket_dir } => bucket_dir.join(S3_PROJECT).join(prefix),
        }
    }

    fn meta(&self, sid: &str) -> Option<Value> {
        serde_json::from_slice(&fs::read(self.session_dir(sid).join("meta.json")).ok()?).ok()
    }

    /// Detached workers (`tracecraft-hook hook --worker`) of this HOME still running.
    fn workers(&self) -> usize {
        self.m.workers()
    }

    /// Wait until every worker of this HOME is gone and `sid`'s meta.json has `ended_at`.
    /// Returns how long that took.
    fn settle(&self, sid: &str) -> Duration {
        let t0 = Instant::now();
        loop {
            let ended = self.meta(sid).is_some_and(|m| m["ended_at"].is_string());
            if ended && self.workers() == 0 {
                return t0.elapsed();
            }
            assert!(
                t0.elapsed() < SETTLE_TIMEOUT,
                "session {sid}: after {SETTLE_TIMEOUT:?} meta.json still has no ended_at ({}) or workers still run ({})",
                self.meta(sid).map_or("no meta.json".into(), |m| m["ended_at"].to_string()),
                self.workers()
            );
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// The central check: the store holds exactly the redacted transcript of `sid`, meta.json
    /// says it ended for `reason`, and no hook put anything into the conversation.
    fn assert_mirrored(&self, sid: &str, reason: &str) -> Mirrored {
        let tpath = self.transcript_path(sid);
        let transcript = self.transcript(sid);
        assert!(!transcript.is_empty(), "empty transcript {}", tpath.display());
        assert_no_hook_output(&transcript);
        let mut counts = BTreeMap::new();
        let expected = Redactor::new(&[]).expect("redactor").redact(&transcript, &mut counts).into_owned();

        let parts = claude::stored_parts(&self.session_dir(sid));
        let replay: Vec<u8> = parts.iter().flat_map(|(_, b)| b.iter().copied()).collect();
        let sizes: Vec<_> = parts.iter().map(|(n, b)| (n, b.len())).collect();
        claude::assert_same(&replay, &expected, &format!("session {sid}: replay of the parts {sizes:?}"));

        let meta = self.meta(sid).expect("meta.json");
        assert_eq!(meta["schema_version"], json!(1));
        assert_eq!(meta["harness"], json!("claude-code"));
        assert_eq!(meta["session_id"], json!(sid));
        assert!(meta["started_at"].is_string(), "started_at: {meta}");
        assert!(meta["ended_at"].is_string(), "ended_at: {meta}");
        assert_eq!(meta["end_reason"], json!(reason), "end_reason");
        assert_eq!(meta["total_source_bytes"], json!(transcript.len()), "total_source_bytes");
        assert_eq!(meta["source_path"], json!(tpath.to_string_lossy()), "source_path");
        assert_eq!(meta["cwd"], json!(self.m.work.to_string_lossy()), "cwd");
        let mut listed: Vec<String> = meta["parts"]
            .as_array()
            .expect("parts[]")
            .iter()
            .map(|p| format!("part-{:05}-{}.jsonl", p["seq"].as_u64().expect("seq"), p["uuid"].as_str().expect("uuid")))
            .collect();
        listed.sort();
        assert_eq!(listed, parts.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(), "meta.json parts vs objects");
        let recorded: BTreeMap<String, u64> = meta["redaction_counts"]
            .as_object()
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_u64()?))).filter(|(_, v)| *v > 0).collect())
            .unwrap_or_default();
        counts.retain(|_, v| *v > 0);
        assert_eq!(recorded, counts, "redaction_counts");
        Mirrored { parts, meta }
    }
}

impl Env {
    /// The subagent session `child` holds exactly the redacted transcript at `path`, with only
    /// parts and meta.json under its prefix; returns its meta.json.
    fn assert_subagent_mirrored(&self, child: &str, path: &Path) -> Value {
        let transcript = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!transcript.is_empty(), "empty subagent transcript {}", path.display());
        let expected = Redactor::new(&[]).expect("redactor").redact(&transcript, &mut BTreeMap::new()).into_owned();
        let replay: Vec<u8> = claude::stored_parts(&self.session_dir(child)).into_iter().flat_map(|(_, b)| b).collect();
        claude::assert_same(&replay, &expected, &format!("subagent {child}: replay vs redacted transcript"));
        let meta = self.meta(child).expect("subagent meta.json");
        assert_eq!(meta["session_id"], json!(child));
        assert_eq!(meta["total_source_bytes"], json!(transcript.len()));
        assert_eq!(meta["source_path"], json!(path.to_string_lossy()));
        meta
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("---- e2e {}: scratch kept at {}", self.name, self.root.display());
            for f in [self.m.home.join(".tracecraft/hook.log"), self.mock.log.clone()] {
                eprintln!("---- {}:\n{}", f.display(), fs::read_to_string(&f).unwrap_or_else(|e| e.to_string()));
            }
            for i in 1..=self.runs {
                let err = fs::read_to_string(self.root.join(format!("claude-{i}.err"))).unwrap_or_default();
                if !err.trim().is_empty() {
                    eprintln!("---- claude run {i} stderr:\n{err}");
                }
            }
        }
    }
}

/// What the store held for one session.
struct Mirrored {
    /// (object name, bytes), in key order.
    parts: Vec<(String, Vec<u8>)>,
    meta: Value,
}

/// No hook added anything to the conversation: Claude Code records a hook's stdout (and
/// errors) as `attachment` lines with a `hookEvent`; ours must never produce one with output.
fn assert_no_hook_output(transcript: &[u8]) {
    for line in transcript.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(v) = serde_json::from_slice::<Value>(line) else { continue };
        let att = &v["attachment"];
        if att["hookEvent"].is_string() || att["type"].as_str().is_some_and(|t| t.starts_with("hook_")) {
            let quiet = att["stdout"].as_str().unwrap_or("").is_empty()
                && att["stderr"].as_str().unwrap_or("").is_empty()
                && att["content"].as_str().unwrap_or("").is_empty()
                && !att["type"].as_str().unwrap_or("").contains("error");
            assert!(quiet, "a hook put something into the conversation: {att}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// (1) One turn, hooks registered by `tracecraft-hook install`. The prompt carries a
/// secret-shaped string: once the real redaction rules are in, it must not reach the store.
#[test]
fn one_turn_via_settings_install() {
    let _serial = serial();
    let Some(claude) = claude_bin() else { return };
    let mut env = Env::new("one-turn", &claude);
    env.install_settings();
    let secret = format!("gh{}_{}", "p", "E2eFakeTokenForRedactionCheck0123456789");
    let run = env.claude(&["-p", &format!("keep this safe: {secret} [[mock-text hello from mock]]")]);
    run.assert_result("hello from mock");
    let sid = run.session_id();
    env.settle(&sid);
    let m = env.assert_mirrored(&sid, "other");
    assert_eq!(m.meta["start_source"], json!("startup"));

    let redacting = Redactor::new(&[]).expect("redactor").redact(secret.as_bytes(), &mut BTreeMap::new()).as_ref()
        != secret.as_bytes();
    let stored: Vec<u8> = m.parts.iter().flat_map(|(_, b)| b.clone()).collect();
    let stored = String::from_utf8_lossy(&stored);
    if redacting {
        assert!(!stored.contains(&secret), "the secret reached the store");
        assert!(stored.contains("[REDACTED:github_pat]"), "no [REDACTED:github_pat] in the store");
    } else {
        say("e2e: note: redaction is still the placeholder; the secret-in-prompt check only compared with it");
    }
}

/// (2) Two turns (`--resume`): the same session, new parts appended after the old ones, which
/// stay exactly as they were. Runs against S3 (s3s-fs); against the local store when the run
/// opted out of s3s-fs (recorded as a skip).
#[test]
fn two_turns_resume_appends() {
    let _serial = serial();
    let Some(claude) = claude_bin() else { return };
    let mut env = Env::new("two-turns", &claude);
    let s3 = s3s();
    if let Some(s3) = &s3 {
        env.use_s3(s3, &s3.endpoint());
    }
    env.install_settings();
    let run1 = env.claude(&["-p", "[[mock-text first answer]]"]);
    run1.assert_result("first answer");
    let sid = run1.session_id();
    env.settle(&sid);
    let first = env.assert_mirrored(&sid, "other");

    let run2 = env.claude(&["-p", "[[mock-text second answer]]", "--resume", &sid]);
    run2.assert_result("second answer");
    assert_eq!(run2.session_id(), sid, "--resume continued another session");
    env.settle(&sid);
    let second = env.assert_mirrored(&sid, "other");
    assert_eq!(second.meta["start_source"], json!("resume"));
    for (name, bytes) in &first.parts {
        let now = second.parts.iter().find(|(n, _)| n == name);
        assert_eq!(now.map(|(_, b)| b), Some(bytes), "part {name} of the first turn changed or vanished");
    }
    assert!(second.parts.len() > first.parts.len(), "the second turn added no part");
    let transcript = env.transcript(&sid);
    let text = String::from_utf8_lossy(&transcript);
    assert!(text.contains("first answer") && text.contains("second answer"), "both turns in one transcript");
}

/// Two Claude Code processes on one session at once (`--resume` in two terminals): their
/// lines interleave in one transcript and both fire every hook; the copy must still equal
/// the file, with nothing repeated.
#[test]
fn two_processes_resume_the_same_session_at_once() {
    let _serial = serial();
    let Some(claude) = claude_bin() else { return };
    let mut env = Env::new("two-processes", &claude);
    env.install_settings();
    let run1 = env.claude(&["-p", "[[mock-text opening]]"]);
    let sid = run1.session_id();
    env.settle(&sid);
    let (mut a, a_out, _) =
        env.claude_command(&["-p", "[[mock-sleep 1]] [[mock-text from terminal A]]", "--resume", &sid]);
    let (mut b, b_out, _) =
        env.claude_command(&["-p", "[[mock-sleep 1]] [[mock-text from terminal B]]", "--resume", &sid]);
    let (mut pa, mut pb) = (claude::Proc(a.spawn().unwrap()), claude::Proc(b.spawn().unwrap()));
    let t0 = Instant::now();
    for p in [&mut pa, &mut pb] {
        loop {
            if let Some(st) = p.0.try_wait().unwrap() {
                assert!(st.success(), "a concurrent claude failed");
                break;
            }
            assert!(t0.elapsed() < claude::CLAUDE_TIMEOUT, "concurrent claude runs did not finish");
            thread::sleep(Duration::from_millis(10));
        }
    }
    for out in [a_out, b_out] {
        let v: Value = serde_json::from_str(fs::read_to_string(out).unwrap().trim()).unwrap();
        assert_eq!(v["is_error"], json!(false), "{v}");
    }
    env.settle(&sid);
    env.assert_mirrored(&sid, "other");
    let text = String::from_utf8_lossy(&env.transcript(&sid)).into_owned();
    assert!(text.contains("from terminal A") && text.contains("from terminal B"), "both turns in one transcript");
}

/// (3) A turn that runs a tool (Bash).
#[test]
fn tool_use_turn() {
    let _serial = serial();
    let Some(claude) = claude_bin() else { return };
    let mut env = Env::new("tool-use", &claude);
    env.install_settings();
    let run = env.claude(&[
        "-p",
        r#"run it [[mock-tool Bash {"command":"echo hi-from-bash"}]] [[mock-text tool done]]"#,
        "--allowedTools",
        "Bash",
    ]);
    run.assert_result("tool done (after 1 tool step(s))");
    let sid = run.session_id();
    env.settle(&sid);
    env.assert_mirrored(&sid, "other");
    let text = String::from_utf8_lossy(&env.transcript(&sid)).into_owned();
    assert!(text.contains("\"tool_use\"") && text.contains("hi-from-bash"), "no Bash tool use in the transcript");
    assert!(text.contains("\"tool_result\""), "no tool result in the transcript");
    let page = env.assert_page(&sid, &[env.transcript(&sid)], false);
    assert!(page.contains("<span class=\"tsum\">echo hi-from-bash</span>"), "the call's one-line summary");
}

/// (4) A turn that runs a subagent (Agent tool): SubagentStop fires; the parent session is
/// mirrored exactly and nothing of the subagent lands under the parent's prefix; the subagent's
/// own transcript is mirrored exactly under `<sid>.agent-<agent id>/`, its meta.json points
/// back to the parent, and the parent's meta.json lists it and counts its tokens.
#[test]
fn subagent_turn() {
    let _serial = serial();
    let Some(claude) = claude_bin() else { return };
    let mut env = Env::new("subagent", &claude);
    env.install_settings();
    env.use_probe();
    let run = env.claude(&[
        "-p",
        r#"delegate [[mock-tool Agent {"description":"greet","prompt":"say hello","subagent_type":"general-purpose"}]] [[mock-text parent done]]"#,
        "--allowedTools",
        "Bash,Write,Agent",
    ]);
    run.assert_result("parent done (after 1 tool step(s))");
    let sid = run.session_id();
    env.settle(&sid);
    env.assert_mirrored(&sid, "other");
    let stops: Vec<Value> =
        env.probed().into_iter().filter(|p| p["hook_event_name"] == json!("SubagentStop")).collect();
    assert_eq!(stops.len(), 1, "SubagentStop payloads: {stops:?}");
    let agent_path = PathBuf::from(stops[0]["agent_transcript_path"].as_str().expect("agent_transcript_path"));
    assert!(agent_path.is_file(), "subagent transcript {} missing", agent_path.display());
    assert!(
        agent_path.starts_with(env.transcript_path(&sid).with_extension("").join("subagents")),
        "subagent transcript at an unexpected place: {}",
        agent_path.display()
    );
    let agent_id = stops[0]["agent_id"].as_str().expect("agent_id");
    let child = format!("{sid}.agent-{agent_id}");
    let cm = env.assert_subagent_mirrored(&child, &agent_path);
    assert_eq!(cm["parent_session_id"], json!(sid));
    assert_eq!(cm["subagent"], json!({"agent_id": agent_id, "agent_type": "general-purpose"}));
    assert_eq!(cm["sidecar"]["agentType"], json!("general-purpose"), "the agent-<id>.meta.json sidecar: {cm}");
    assert!(cm["ended_at"].is_string(), "the subagent ended with its session: {cm}");
    assert_eq!(cm["stats"]["turns"], json!(1), "the subagent's prompt from its parent");
    let pm = env.meta(&sid).expect("parent meta.json");
    assert_eq!(pm["subagents"].as_array().map(Vec::len), Some(1), "{pm}");
    assert_eq!(pm["subagents"][0]["session_id"], json!(child));
    assert_eq!(pm["subagents"][0]["agent_type"], json!("general-purpose"));
    assert_eq!(pm["stats"]["subagent_tokens"], cm["stats"]["tokens"]);
    assert_eq!(pm["stats"]["tool_calls"]["Agent"], json!(1));
    assert_eq!(pm["stats"]["turns"], json!(1));
    // The page shows the subagent inside the Agent call that started it.
    let page = env.assert_page(&sid, &[env.transcript(&sid), fs::read(&agent_path).unwrap()], true);
    let call = page.find("<span class=\"tname\">Agent</span>").expect("the Agent call on the page");
    let sub = page.find(&format!("id=\"agent-{agent_id}\"")).expect("the subagent on the page");
    assert!(call < sub && sub < call + page[call..].find("</article>").unwrap(), "subagent outside its call");
}

/// (5) `/compact` (headless: `-p /compact --resume <id>`, after two turns; after one turn
/// Claude Code says "Not enough messages to compact."). PreCompact fires; compaction appends to
/// the transcript, so every part uploaded before it stays as it was.
#[test]
fn compact() {
    let _serial = serial();
    let Some(claude) = claude_bin() else { return };
    let mut env = Env::new("compact", &claude);
    env.install_settings();
    env.use_probe();
    let run = env.claude(&["-p", "[[mock-text one]]"]);
    run.assert_result("one");
    let sid = run.session_id();
    env.claude(&["-p", "[[mock-text two]]", "--resume", &sid]).assert_result("two");
    env.settle(&sid);
    let before = env.assert_mirrored(&sid, "other");

    let run = env.claude(&["-p", "/compact", "--resume", &sid]);
    assert_eq!(run.json["is_error"], json!(false), "{}", run.json);
    assert_eq!(run.session_id(), sid);
    env.settle(&sid);
    let after = env.assert_mirrored(&sid, "other");
    let text = String::from_utf8_lossy(&env.transcript(&sid)).into_owned();
    assert!(text.contains("\"compact_boundary\""), "no compact_boundary line: did /compact run?");
    assert!(text.contains("Mock summary"), "the mock's summary is not in the transcript");
    let pre: Vec<Value> = env.probed().into_iter().filter(|p| p["hook_event_name"] == json!("PreCompact")).collect();
    assert_eq!(pre.len(), 1, "PreCompact payloads: {pre:?}");
    assert_eq!(pre[0]["trigger"], json!("manual"));
    for (name, bytes) in &before.parts {
        assert_eq!(
            after.parts.iter().find(|(n, _)| n == name).map(|(_, b)| b),
            Some(bytes),
            "part {name} changed: compaction rewrote the transcript?"
        );
    }
    // Compaction runs as a subagent whose announced transcript is never written: one log
    // line, no error, nothing listed.
    assert_eq!(after.meta["stats"]["compactions"], json!(1), "{}", after.meta);
    assert!(after.meta.get("subagents").is_none(), "{}", after.meta);
    let log = fs::read_to_string(env.m.home.join(".tracecraft/hook.log")).unwrap_or_default();
    assert!(!log.contains(" ERROR ") && !log.contains(" WARN "), "{log}");
    // At most one line per SubagentStop event (each is run, by its own hook or, when the
    // session lock was taken, by the lock's holder from `state/pending/`).
    let stops = env.probed().into_iter().filter(|p| p["hook_event_name"] == json!("SubagentStop")).count();
    let absent = log.lines().filter(|l| l.contains("does not exist; nothing to mirror")).count();
    assert!(absent <= stops.max(1), "{absent} 'does not exist' lines for {stops} SubagentStop events:\n{log}");
    let page = env.assert_page(&sid, &[env.transcript(&sid)], false);
    assert!(page.contains("<article class=\"msg compact\""), "the compaction is marked on the page");
    assert!(page.contains("<code class=\"cmd\">/compact</code>"), "the slash command is shown as such");
}

/// (6) The plugin (`--plugin-dir <repo>`: hooks/hooks.json -> hooks/run.sh -> the binary via
/// TRACECRAFT_HOOK_BIN) instead of settings; then plugin and settings together, where both
/// handlers run on every event and must still not duplicate anything.
#[test]
fn plugin_dir_install() {
    let _serial = serial();
    let Some(claude) = claude_bin() else { return };
    let mut env = Env::new("plugin", &claude);
    env.use_plugin();
    assert!(!env.m.home.join(".claude/settings.json").exists());
    let run = env.claude(&["-p", "[[mock-text via plugin]]"]);
    run.assert_result("via plugin");
    let sid = run.session_id();
    env.settle(&sid);
    env.assert_mirrored(&sid, "other");

    env.install_settings();
    let run = env.claude(&["-p", "[[mock-text plugin and settings]]"]);
    run.assert_result("plugin and settings");
    let sid = run.session_id();
    env.settle(&sid);
    env.assert_mirrored(&sid, "other");
}

/// (7) A slow S3 server (every response held ~2 s) while the session ends. The hooks come from
/// the plugin, whose timeouts do not raise Claude Code's 1.5 s SessionEnd budget, and the
/// SessionEnd work (part + meta.json = 2 responses at least) cannot fit in it: the final flush
/// and `ended_at` must still land, because the worker left the hook's process group.
#[test]
fn slow_s3_during_session_end() {
    let _serial = serial();
    let Some(claude) = claude_bin() else { return };
    let mut env = Env::new("slow-s3", &claude);
    let Some(s3) = s3s() else { return };
    // Every request held 2 s before it is forwarded: a slow endpoint.
    let proxy = FaultProxy::start(s3.addr, FaultProxy::mode(Fault::Slow(Duration::from_secs(2))));
    env.use_s3(&s3, &proxy.endpoint());
    env.use_plugin();
    let run = env.claude(&["-p", "[[mock-text slow bucket]]"]);
    run.assert_result("slow bucket");
    let sid = run.session_id();
    let ended_at_exit = env.meta(&sid).is_some_and(|m| m["ended_at"].is_string());
    assert!(!ended_at_exit, "ended_at was already there when Claude Code exited: the bucket was not slow enough");
    let took = env.settle(&sid);
    env.assert_mirrored(&sid, "other");
    say(&format!(
        "e2e: slow S3: claude -p took {} ms; the mirror finished {} ms after it exited ({} delayed responses)",
        run.wall.as_millis(),
        took.as_millis(),
        proxy.requests()
    ));
}

/// Control for (7), not run by default (`cargo test --test e2e_claude -- --ignored`): the same
/// slow bucket with `TRACECRAFT_HOOK_INLINE=1`, i.e. the upload inside the hook process itself.
/// Claude Code kills the hook's process group after its 1.5 s SessionEnd budget, so the end is
/// lost; this shows that (7) tests the detaching, not luck.
#[test]
#[ignore = "control experiment, ~25 s"]
fn slow_s3_control_inline_hook_is_killed() {
    let _serial = serial();
    let Some(claude) = claude_bin() else { return };
    let mut env = Env::new("slow-s3-inline", &claude);
    let Some(s3) = s3s() else { return };
    // Every request held 2 s before it is forwarded: a slow endpoint.
    let proxy = FaultProxy::start(s3.addr, FaultProxy::mode(Fault::Slow(Duration::from_secs(2))));
    env.use_s3(&s3, &proxy.endpoint());
    env.use_plugin();
    env.extra_env.push(("TRACECRAFT_HOOK_INLINE".into(), "1".into()));
    let run = env.claude(&["-p", "[[mock-text slow bucket]]"]);
    run.assert_result("slow bucket");
    let sid = run.session_id();
    thread::sleep(Duration::from_secs(8)); // longer than any inline hook could still be running
    let meta = env.meta(&sid);
    say(&format!(
        "e2e: control (inline, slow S3): claude -p took {} ms; ended_at after it exited: {}",
        run.wall.as_millis(),
        meta.as_ref().map_or("no meta.json".into(), |m| m["ended_at"].to_string())
    ));
    assert!(meta.is_none_or(|m| m["ended_at"].is_null()), "the inline SessionEnd upload was not cut off");
}

/// (8) `/clear`, headless: `-p /clear --resume <id>` fires SessionEnd(old id, reason clear),
/// then SessionStart(new id, source clear), then SessionEnd(new id, other). Both sessions are
/// mirrored exactly; the old one includes the lines Claude Code writes after SessionEnd(clear).
#[test]
fn clear() {
    let _serial = serial();
    let Some(claude) = claude_bin() else { return };
    let mut env = Env::new("clear", &claude);
    env.install_settings();
    env.use_probe();
    let run = env.claude(&["-p", "[[mock-text before clear]]"]);
    run.assert_result("before clear");
    let old = run.session_id();
    env.settle(&old);

    let run = env.claude(&["-p", "/clear", "--resume", &old]);
    run.assert_result("");
    let new = run.session_id();
    assert_ne!(new, old, "/clear did not start a new session");
    env.settle(&old);
    env.settle(&new);
    let o = env.assert_mirrored(&old, "clear");
    assert_eq!(o.meta["start_source"], json!("resume"));
    let n = env.assert_mirrored(&new, "other");
    assert_eq!(n.meta["start_source"], json!("clear"));

    let seq: Vec<(String, String, String)> = env
        .probed()
        .iter()
        .filter(|p| matches!(p["hook_event_name"].as_str(), Some("SessionStart" | "SessionEnd")))
        .map(|p| {
            let detail = p["source"].as_str().or(p["reason"].as_str()).unwrap_or("").to_string();
            (
                p["hook_event_name"].as_str().unwrap_or("").to_string(),
                p["session_id"].as_str().unwrap_or("").into(),
                detail,
            )
        })
        .collect();
    let expected_tail = [
        ("SessionStart".to_string(), old.clone(), "resume".to_string()),
        ("SessionEnd".to_string(), old.clone(), "clear".to_string()),
        ("SessionStart".to_string(), new.clone(), "clear".to_string()),
        ("SessionEnd".to_string(), new.clone(), "other".to_string()),
    ];
    assert!(seq.ends_with(&expected_tail), "session events: {seq:?}");
}

/// Speed is measured, not asserted: the same one-turn `claude -p` without hooks, with no-op
/// hooks (`true`, for Claude Code's own cost of running a hook) and with ours (settings
/// install), interleaved in rotating order, medians; then the hook's own return time, taken by
/// a timing shell around `tracecraft-hook hook` (a debug build, as `cargo test` builds it).
#[test]
fn measure_added_wall_time_per_turn() {
    let _serial = serial();
    let Some(claude) = claude_bin() else { return };
    const K: usize = 7;
    const TIMED_RUNS: usize = 3;
    let mut envs = [Env::new("time-plain", &claude), Env::new("time-noop", &claude), Env::new("time-hooked", &claude)];
    write_hook_settings(&envs[1].m.home, "true");
    envs[2].install_settings();
    let mut timed = Env::new("time-timed", &claude);
    let log = timed.root.join("hook-times.log");
    write_hook_settings(
        &timed.m.home,
        &format!(
            "sh {} {} {}",
            sh_quote(&e2e_dir().join("timed_hook.sh")),
            sh_quote(Path::new(HOOK_BIN)),
            sh_quote(&log)
        ),
    );

    // Warm up (the first run in a fresh HOME does one-time setup).
    for env in envs.iter_mut().chain([&mut timed]) {
        let sid = env.claude(&["-p", "[[mock-text warm]]"]).session_id();
        if env.name != "time-plain" && env.name != "time-noop" {
            env.settle(&sid);
        }
    }
    let _ = fs::remove_file(&log);
    let mut walls: [Vec<f64>; 3] = Default::default();
    for i in 0..K {
        for j in 0..envs.len() {
            let k = (i + j) % envs.len();
            let r = envs[k].claude(&["-p", "[[mock-text t]]"]);
            r.assert_result("t");
            walls[k].push(r.wall.as_secs_f64() * 1000.0);
            if k == 2 {
                envs[k].settle(&r.session_id()); // keep its background uploads out of the next run
            }
        }
    }
    for _ in 0..TIMED_RUNS {
        let r = timed.claude(&["-p", "[[mock-text t]]"]);
        r.assert_result("t");
        timed.settle(&r.session_id());
    }
    let raw = format!("{walls:.0?}");
    let [plain, noop, ours] = walls.map(|mut v| median(&mut v));
    say(&format!(
        "e2e: added wall time per turn: {:.0} ms (median of {K}: {ours:.0} ms with tracecraft-hook, {plain:.0} ms \
         without hooks; no-op hooks alone: {noop:.0} ms, so {:.0} ms is Claude Code running any hook and {:.0} ms is \
         ours) raw [none, no-op, ours]: {raw}",
        ours - plain,
        noop - plain,
        ours - noop
    ));
    let mut times: Vec<f64> = fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse::<f64>().ok())
        .map(|us| us / 1000.0)
        .collect();
    assert!(!times.is_empty(), "the timing wrapper recorded nothing");
    let n = times.len();
    let max = times.iter().cloned().fold(0.0, f64::max);
    say(&format!(
        "e2e: hook return time: median {:.1} ms, max {max:.1} ms over {n} invocations (4 per `claude -p` turn; \
         debug build, timed by a shell wrapper)",
        median(&mut times)
    ));
}

/// `$home/.claude/settings.json` running `command` on each of our events.
fn write_hook_settings(home: &Path, command: &str) {
    let hooks: serde_json::Map<String, Value> = OUR_EVENTS
        .iter()
        .map(|ev| (ev.to_string(), json!([{"hooks": [{"type": "command", "command": command, "timeout": 10}]}])))
        .collect();
    fs::create_dir_all(home.join(".claude")).expect("mkdir ~/.claude");
    fs::write(home.join(".claude/settings.json"), serde_json::to_vec_pretty(&json!({ "hooks": hooks })).expect("json"))
        .expect("write settings.json");
}
