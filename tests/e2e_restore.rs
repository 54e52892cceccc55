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
//! The CLI comes from $CLAUDE_BIN, else `.ci/cache/npm/...`, else `/tmp/cc/...`; without it the
//! test skips loudly, except under CI (`CI` set) where it fails unless TRACECRAFT_E2E_SKIP=1.
//! The helpers are a small copy of `tests/e2e_claude.rs`'s (mock, watchdog, worker wait).

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const HOOK_BIN: &str = env!("CARGO_BIN_EXE_tracecraft-hook");
const NPM_CLAUDE: &str = "node_modules/@anthropic-ai/claude-code-linux-x64/claude";
const CLAUDE_TIMEOUT: Duration = Duration::from_secs(120);
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn env_set(k: &str) -> bool {
    std::env::var_os(k).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Past libtest's capture: a skip must be seen in a plain `cargo test`.
fn loud(msg: &str) {
    let bar = "!".repeat(90);
    let _ = std::io::stderr().write_all(format!("\n{bar}\n!!! e2e_restore: {msg}\n{bar}\n").as_bytes());
}

fn is_executable(p: &Path) -> bool {
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The real CLI, or `None` (after a loud message) when the test has to skip.
fn claude_bin() -> Option<PathBuf> {
    if env_set("TRACECRAFT_E2E_SKIP") {
        loud("TRACECRAFT_E2E_SKIP is set: the restore end-to-end test against the real CLI did NOT run");
        return None;
    }
    if let Some(p) = std::env::var_os("CLAUDE_BIN").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        assert!(is_executable(&p), "CLAUDE_BIN={} is not an executable file", p.display());
        return Some(p);
    }
    let candidates = [repo().join(".ci/cache/npm").join(NPM_CLAUDE), Path::new("/tmp/cc").join(NPM_CLAUDE)];
    if let Some(p) = candidates.iter().find(|p| is_executable(p)) {
        return Some(p.clone());
    }
    let msg = "Claude Code CLI not found (set CLAUDE_BIN, or `npm install @anthropic-ai/claude-code` \
               with prefix .ci/cache/npm or /tmp/cc)";
    if env_set("CI") {
        panic!("{msg}: under CI the end-to-end tests must run");
    }
    loud(&format!("{msg}: SKIPPING the restore end-to-end test"));
    None
}

/// A child process stopped (and reaped) when this goes out of scope, panics included.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(stdin) = self.0.stdin.take() {
            drop(stdin); // the watchdog stops the server now
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `tests/e2e/mock_anthropic.py` on a free port, stopped when its stdin pipe closes (so it dies
/// with this process even when that is killed outright).
struct Mock {
    port: u16,
    requests: PathBuf,
    _proc: Proc,
}

impl Mock {
    fn start(dir: &Path) -> Mock {
        let port_file = dir.join("mock.port");
        let log = File::create(dir.join("mock.log")).expect("create mock.log");
        let requests = dir.join("mock-requests.jsonl");
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec 3<&0; "$@" </dev/null 3<&- & s=$!; (read -r _ <&3; kill "$s" 2>/dev/null) & exec 3<&-; wait "$s""#)
            .arg("e2e-watchdog")
            .arg("python3")
            .arg(repo().join("tests/e2e/mock_anthropic.py"))
            .args(["--port", "0", "--port-file"])
            .arg(&port_file)
            .arg("--log")
            .arg(&requests)
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .spawn()
            .expect("start python3 tests/e2e/mock_anthropic.py");
        let mut proc = Proc(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        let port = loop {
            if let Some(p) = fs::read_to_string(&port_file).ok().and_then(|s| s.trim().parse::<u16>().ok()) {
                break p;
            }
            if let Ok(Some(st)) = proc.0.try_wait() {
                panic!("the mock exited ({st}): {}", fs::read_to_string(dir.join("mock.log")).unwrap_or_default());
            }
            assert!(Instant::now() < deadline, "the mock did not start");
            thread::sleep(Duration::from_millis(20));
        };
        Mock { port, requests, _proc: proc }
    }

    /// The Messages API requests received so far.
    fn message_requests(&self) -> Vec<Value> {
        fs::read_to_string(&self.requests)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| r["path"].as_str().is_some_and(|p| p.split('?').next().unwrap_or("").ends_with("/v1/messages")))
            .collect()
    }
}

/// One machine: a HOME with the hooks installed and a config pointing at the shared store.
struct Machine {
    home: PathBuf,
    work: PathBuf,
}

impl Machine {
    fn new(root: &Path, name: &str, work: &str, store: &Path) -> Machine {
        let home = root.join(name);
        let work = root.join(name).join(work);
        fs::create_dir_all(&work).expect("mkdir work");
        let cfg = home.join(".tracecraft/config.json");
        fs::create_dir_all(cfg.parent().unwrap()).expect("mkdir ~/.tracecraft");
        fs::write(&cfg, serde_json::to_vec_pretty(&json!({"backend": "local", "path": store})).unwrap()).unwrap();
        fs::set_permissions(&cfg, fs::Permissions::from_mode(0o600)).unwrap();
        let m = Machine { home, work };
        let out = m.hook(&["install"]);
        assert!(out.status.success(), "install: {}", String::from_utf8_lossy(&out.stderr));
        m
    }

    fn hook(&self, args: &[&str]) -> Output {
        Command::new(HOOK_BIN)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &self.home)
            .current_dir(&self.work)
            .output()
            .expect("run tracecraft-hook")
    }

    fn hook_ok(&self, args: &[&str]) -> String {
        let out = self.hook(args);
        assert!(
            out.status.success(),
            "tracecraft-hook {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `claude <args> --output-format json` in this machine's project directory.
    fn claude(&self, claude: &Path, mock: &Mock, args: &[&str]) -> Value {
        let out_path = self.home.join("claude.out");
        let err_path = self.home.join("claude.err");
        let mut child = Proc(
            Command::new(claude)
                .args(args)
                .args(["--output-format", "json"])
                .current_dir(&self.work)
                .env_clear()
                .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                .env("HOME", &self.home)
                .env("TERM", "dumb")
                .env("LANG", "C.UTF-8")
                .env("ANTHROPIC_BASE_URL", format!("http://127.0.0.1:{}", mock.port))
                .env("ANTHROPIC_API_KEY", "sk-ant-test-dummy")
                .env("DISABLE_TELEMETRY", "1")
                .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
                .env("DISABLE_AUTOUPDATER", "1")
                .env("CLAUDE_CODE_MAX_RETRIES", "0")
                .stdin(Stdio::null())
                .stdout(File::create(&out_path).expect("create .out"))
                .stderr(File::create(&err_path).expect("create .err"))
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", claude.display())),
        );
        let t0 = Instant::now();
        let status = loop {
            if let Some(st) = child.0.try_wait().expect("wait for claude") {
                break st;
            }
            assert!(t0.elapsed() < CLAUDE_TIMEOUT, "claude {args:?} did not finish in {CLAUDE_TIMEOUT:?}");
            thread::sleep(Duration::from_millis(5));
        };
        let stdout = fs::read_to_string(&out_path).unwrap_or_default();
        let stderr = fs::read_to_string(&err_path).unwrap_or_default();
        assert!(status.success(), "claude {args:?} failed ({status}):\nstdout: {stdout}\nstderr: {stderr}");
        let v: Value =
            serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not one JSON result ({e}): {stdout}"));
        assert_eq!(v["is_error"], json!(false), "Claude Code reported an error: {v}");
        v
    }

    fn transcript_path(&self, sid: &str) -> PathBuf {
        let slug: String =
            self.work.to_string_lossy().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        self.home.join(".claude/projects").join(slug).join(format!("{sid}.jsonl"))
    }

    /// Detached workers (`tracecraft-hook hook --worker`) of this HOME still running.
    fn workers(&self) -> usize {
        let home = format!("HOME={}", self.home.display());
        let Ok(rd) = fs::read_dir("/proc") else { return 0 };
        rd.flatten()
            .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
            .filter(|e| {
                let Ok(cmdline) = fs::read(e.path().join("cmdline")) else { return false };
                let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
                let ours = args.len() >= 3
                    && args[0].ends_with(b"tracecraft-hook")
                    && args[1] == b"hook"
                    && args[2] == b"--worker";
                ours && fs::read(e.path().join("environ"))
                    .is_ok_and(|env| env.split(|&b| b == 0).any(|kv| kv == home.as_bytes()))
            })
            .count()
    }
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
        let re = regex::Regex::new(r"^part-\d{5}-[a-f0-9]{8}\.jsonl$").unwrap();
        let mut v = Vec::new();
        for e in fs::read_dir(self.session_dir(sid)).expect("session prefix").flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name != "meta.json" {
                assert!(re.is_match(&name), "unexpected object {name}");
                v.push((name, fs::read(e.path()).unwrap()));
            }
        }
        v.sort();
        v
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

fn assert_same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
        let show = |b: &[u8]| String::from_utf8_lossy(&b[at.saturating_sub(60)..(at + 120).min(b.len())]).into_owned();
        panic!(
            "{what}: {} bytes vs {} expected, first difference at {at}:\n{}\n{}",
            got.len(),
            want.len(),
            show(got),
            show(want)
        );
    }
}

/// Keeps the scratch directory when the test fails (or with E2E_KEEP=1).
struct Scratch(Option<tempfile::TempDir>);

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            if thread::panicking() || env_set("E2E_KEEP") {
                eprintln!("---- e2e_restore: scratch kept at {}", t.keep().display());
            }
        }
    }
}

#[test]
fn continue_a_session_on_another_machine() {
    let Some(claude) = claude_bin() else { return };
    let tmp = tempfile::Builder::new().prefix("tc-e2e-restore-").tempdir().expect("tempdir");
    let root = tmp.path().canonicalize().unwrap();
    let _scratch = Scratch(Some(tmp));
    let mock = Mock::start(&root);
    let store = Store { dir: root.join("shared-store") };
    let a = Machine::new(&root, "home-a", "work/my_proj.v2", &store.dir);
    let b = Machine::new(&root, "home-b", "elsewhere/other_proj", &store.dir);

    // Machine A: one turn, with a secret in the prompt.
    let secret = format!("AKIA{}", "E2ERESTORETEST12");
    let run = a.claude(&claude, &mock, &["-p", &format!("remember {secret} [[mock-text first answer]]")]);
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
    let run = b.claude(&claude, &mock, &["-p", "[[mock-text second answer]]", "--resume", &sid]);
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
