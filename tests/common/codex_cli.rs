//! The real Codex CLI (OpenAI, npm `@openai/codex`) for the end-to-end tests
//! (`tests/e2e_codex.rs`), fully offline:
//!
//! * [`codex_bin`]: the CLI, found by [`super::tools`] (`TRACECRAFT_TEST_CODEX_BIN`, else where
//!   `.ci/test` installs it); a missing one fails the test unless the run opted out (`codex`).
//! * [`offline`]: runs the calling test again in a child process inside a fresh network
//!   namespace whose only interface is loopback (`unshare -n`, or `unshare -rn` without
//!   privileges), so nothing in it (Codex, its hooks, the mock, the S3 servers, the Python CLI)
//!   can reach anything but 127.0.0.1. Where no namespace can be made, the scenario runs here
//!   and says so; every address it is given is 127.0.0.1 anyway.
//! * [`Codex`]: one Codex installation: a temporary HOME, a `CODEX_HOME` outside it with a
//!   `config.toml` that points the model at the mock Responses API
//!   (`tests/e2e/mock_responses.py`, started with [`super::claude::Mock::start_script`]) and
//!   turns off every remote feature, `hooks.json`, a work directory, and `codex exec` runs with
//!   a clean environment ([`Codex::exec`]); hooks run through `--dangerously-bypass-hook-trust`,
//!   or ([`Codex::bypass_trust`] off) through trust recorded in config.toml.
//!
//! What these rely on was observed with Codex CLI 0.171.0 (see tests/e2e/README.md): hooks are
//! read from `$CODEX_HOME/hooks.json` (Claude Code's shape) and skipped without a word in
//! `codex exec` unless trusted; the rollout is
//! `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl`; `--json` prints the thread id
//! on its first line; only `POST /v1/responses` is called.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::claude::{self, Mock, Proc, CLEAN_PATH, HOOK_BIN};
use super::tools::{self, Tool};

/// How long one `codex exec` may take.
pub const CODEX_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the child test inside the network namespace may take.
pub const CHILD_TIMEOUT: Duration = Duration::from_secs(900);
/// The hook command `install --codex` registers.
pub fn hook_command() -> String {
    format!("{HOOK_BIN} hook --harness codex")
}
/// Every hook event Codex 0.171.0 accepts (for the probe).
pub const ALL_EVENTS: &[&str] = &[
    "SessionStart",
    "SessionEnd",
    "UserPromptSubmit",
    "PreModelRequest",
    "PreToolUse",
    "PermissionRequest",
    "PostToolUse",
    "PreCompact",
    "PostCompact",
    "SubagentStart",
    "SubagentStop",
    "Stop",
    "Interrupt",
];
/// The flags of every `codex exec`: JSON events on stdout, no git repository needed, unknown
/// config keys are errors (so a typo in config.toml cannot quietly leave a remote feature on).
pub const EXEC_FLAGS: &[&str] = &["--json", "--skip-git-repo-check", "--strict-config"];
/// Runs hooks without a recorded trust (see [`Codex::bypass_trust`]).
pub const BYPASS_TRUST: &str = "--dangerously-bypass-hook-trust";
/// The command the mock asks for when a prompt contains `RUNTOOL` (Codex's `exec_command`).
pub const MOCK_TOOL_OUTPUT: &str = "hi-from-tool";

/// Set in the child test process running inside the network namespace.
const IN_NETNS_VAR: &str = "TRACECRAFT_TEST_CODEX_IN_NETNS";
/// `0` runs the scenarios on the host network even where a namespace could be made (to
/// watch them with host tools; the run says so).
pub const NETNS_VAR: &str = "TRACECRAFT_TEST_CODEX_NETNS";

/// The Codex CLI, or `None` when the run opted out of it (recorded); panics with the install
/// command when it is missing.
#[track_caller]
pub fn codex_bin() -> Option<PathBuf> {
    let cli = tools::require(Tool::Codex)?;
    if tools::which("python3").is_none() {
        panic!("python3 is needed for the mock Responses API (tests/e2e/mock_responses.py)");
    }
    Some(cli)
}

/// `codex --version` (e.g. `codex-cli 0.171.0`).
pub fn version(codex: &Path) -> String {
    let out = Command::new(codex).arg("--version").env_clear().env("PATH", CLEAN_PATH).output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default()
}

/// Where the scenario runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    /// In a fresh network namespace: loopback only.
    Isolated,
    /// On the host's network (no namespace could be made); only 127.0.0.1 addresses are used.
    Host,
}

/// The `unshare` flags that make a network namespace here whose loopback can be brought up:
/// `-n` (root), else `-rn` (an unprivileged user namespace); `None` if neither works.
fn netns_flags() -> Option<&'static [&'static str]> {
    static FLAGS: OnceLock<Option<&'static [&'static str]>> = OnceLock::new();
    *FLAGS.get_or_init(|| {
        let candidates: [&'static [&'static str]; 2] = [&["-n"], &["-r", "-n"]];
        candidates.into_iter().find(|flags| {
            Command::new("unshare")
                .args(*flags)
                .args(["--", "sh", "-c", "ip link set lo up"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
    })
}

/// The network interfaces this process sees (`/proc/self/net/dev`, which follows the
/// namespace, unlike `/sys/class/net`).
pub fn interfaces() -> Vec<String> {
    fs::read_to_string("/proc/self/net/dev")
        .unwrap_or_default()
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(|n| n.trim().to_string()))
        .collect()
}

/// Run the calling test offline. In the test process as started, this runs the same test
/// (`<test binary> --exact <name>`) again in a child inside a fresh network namespace with only
/// loopback up, relays its output, fails if it failed, and returns `None`: the caller returns.
/// In that child it returns `Some(Net::Isolated)` (after checking that only `lo` is there) and
/// the caller runs its scenario. Where no namespace can be made (no `unshare`/`ip`, or neither
/// root nor unprivileged user namespaces), or with `TRACECRAFT_TEST_CODEX_NETNS=0`, it says so
/// and returns `Some(Net::Host)`.
///
/// The child starts its own servers: endpoints of servers started outside
/// (`TRACECRAFT_TEST_*_ENDPOINT`) are not passed on, they cannot be reached from inside.
#[track_caller]
pub fn offline() -> Option<Net> {
    if std::env::var_os(IN_NETNS_VAR).is_some() {
        let ifs = interfaces();
        assert_eq!(ifs, vec!["lo".to_string()], "the network namespace has other interfaces than lo");
        return Some(Net::Isolated);
    }
    if std::env::var_os(NETNS_VAR).is_some_and(|v| v == "0") {
        say(&format!("e2e codex: NOTE: {NETNS_VAR}=0: this test runs on the host network (127.0.0.1 only)"));
        return Some(Net::Host);
    }
    let Some(flags) = netns_flags() else {
        say("e2e codex: NOTE: no network namespace could be made here (`unshare -n` / `unshare -rn` with \
             `ip link set lo up` failed), so this test runs on the host network; everything it starts \
             is told 127.0.0.1 only");
        return Some(Net::Host);
    };
    let test = std::thread::current().name().expect("a libtest thread name").to_string();
    let exe = std::env::current_exe().expect("the test binary");
    let mut cmd = Command::new("unshare");
    cmd.args(flags)
        .args(["--", "sh", "-c", r#"ip link set lo up && exec "$@""#, "netns"])
        .arg(&exe)
        .args(["--exact", &test, "--nocapture", "--test-threads", "1"])
        .env(IN_NETNS_VAR, "1")
        .env_remove("TRACECRAFT_TEST_S3S_ENDPOINT")
        .env_remove("TRACECRAFT_TEST_S3S_ROOT")
        .env_remove("TRACECRAFT_TEST_MOTO_ENDPOINT")
        .env_remove("RUST_TEST_THREADS");
    let t0 = Instant::now();
    let out = super::run_with_timeout(cmd, None, true, CHILD_TIMEOUT)
        .unwrap_or_else(|| panic!("{test} in the network namespace did not finish within {CHILD_TIMEOUT:?}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{test} failed inside the network namespace (unshare {}):\n---- stdout:\n{stdout}\n---- stderr:\n{stderr}",
        flags.join(" ")
    );
    // libtest exits 0 when the filter matched nothing: the test must have run.
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{test} did not run inside the network namespace:\n{stdout}\n{stderr}"
    );
    for line in stderr.lines().filter(|l| l.starts_with("e2e ")) {
        say(line);
    }
    say(&format!(
        "e2e codex: {test} ran in a fresh network namespace (unshare {}) in {:.1?}",
        flags.join(" "),
        t0.elapsed()
    ));
    None
}

/// Straight to file descriptor 2, past libtest's output capture.
pub fn say(msg: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(format!("{msg}\n").as_bytes());
}

/// What one `codex exec --json` printed.
pub struct Exec {
    /// Its stdout, one JSON event per line.
    pub events: Vec<Value>,
    pub stderr: String,
    pub wall: Duration,
}

impl Exec {
    /// The session (thread) id: `thread_id` of the first event.
    pub fn thread_id(&self) -> String {
        self.events
            .iter()
            .find_map(|e| e["thread_id"].as_str())
            .unwrap_or_else(|| panic!("no thread_id in codex's --json output: {:?}", self.events))
            .to_string()
    }

    /// The `item.completed` items of `kind` (`agent_message`, `command_execution`, ...).
    pub fn items(&self, kind: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["type"] == json!("item.completed") && e["item"]["type"] == json!(kind))
            .map(|e| &e["item"])
            .collect()
    }

    /// The text of the last agent message.
    pub fn last_message(&self) -> String {
        let msgs = self.items("agent_message");
        msgs.last()
            .and_then(|m| m["text"].as_str())
            .unwrap_or_else(|| panic!("codex printed no agent message: {:?}", self.events))
            .to_string()
    }
}

/// One Codex installation (see the module documentation).
pub struct Codex {
    pub bin: PathBuf,
    /// HOME of Codex and of the hooks it runs.
    pub home: PathBuf,
    /// `CODEX_HOME`, deliberately not `~/.codex`: everything must honour the variable.
    pub codex_home: PathBuf,
    /// The directory Codex works in (`-C`); `_` and `.` in its name.
    pub work: PathBuf,
    /// Where run outputs go.
    pub root: PathBuf,
    pub mock: Mock,
    /// Pass `--dangerously-bypass-hook-trust` (default); off to rely on recorded trust.
    pub bypass_trust: bool,
    runs: usize,
}

impl Codex {
    /// Creates the directories under `root` (HOME is `home`), starts the mock and writes
    /// config.toml. No hooks.json yet.
    pub fn new(bin: &Path, root: &Path, home: &Path) -> Codex {
        let codex_home = root.join("codex-home");
        let work = root.join("work/my_proj.v2");
        for d in [home, &codex_home, &work] {
            fs::create_dir_all(d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
        }
        let mock = Mock::start_script(root, "tests/e2e/mock_responses.py");
        let c = Codex {
            bin: bin.to_path_buf(),
            home: home.to_path_buf(),
            codex_home,
            work,
            root: root.to_path_buf(),
            mock,
            bypass_trust: true,
            runs: 0,
        };
        c.write_config();
        c
    }

    /// `$CODEX_HOME/config.toml`: the mock as the model provider (API key from
    /// `MOCK_API_KEY`), no approvals, no sandbox, and no remote feature: without
    /// `[features] plugins = false` Codex runs `git ls-remote https://github.com/openai/plugins`,
    /// without `[analytics] enabled = false` it looks up ab.chatgpt.com.
    fn write_config(&self) {
        let toml = format!(
            r#"model = "mock-model"
model_provider = "mock"
approval_policy = "never"
sandbox_mode = "danger-full-access"
check_for_update_on_startup = false

[model_providers.mock]
name = "Mock Responses"
base_url = "http://127.0.0.1:{port}/v1"
wire_api = "responses"
env_key = "MOCK_API_KEY"

[analytics]
enabled = false

[feedback]
enabled = false

[otel]
exporter = "none"
metrics_exporter = "none"
trace_exporter = "none"

[features]
plugins = false
apps = false
remote_plugin = false
tool_suggest = false
"#,
            port = self.mock.port
        );
        fs::write(self.codex_home.join("config.toml"), toml).expect("write config.toml");
    }

    /// `$CODEX_HOME/hooks.json`
    pub fn hooks_path(&self) -> PathBuf {
        self.codex_home.join("hooks.json")
    }

    /// Write `$CODEX_HOME/hooks.json` running `command` on each of `events` (Claude Code's
    /// shape; `timeout` in seconds, Codex caps SessionEnd's at 3).
    pub fn write_hooks(&self, events: &[&str], command: &str) {
        let hooks: serde_json::Map<String, Value> = events
            .iter()
            .map(|ev| (ev.to_string(), json!([{"hooks": [{"type": "command", "command": command, "timeout": 10}]}])))
            .collect();
        fs::write(self.hooks_path(), serde_json::to_vec_pretty(&json!({ "hooks": hooks })).expect("json"))
            .expect("write hooks.json");
    }

    /// The hook binary with `args` in the work directory, a clean environment with this HOME
    /// and CODEX_HOME.
    pub fn hook(&self, args: &[&str]) -> std::process::Output {
        Command::new(HOOK_BIN)
            .args(args)
            .env_clear()
            .env("PATH", CLEAN_PATH)
            .env("HOME", &self.home)
            .env("CODEX_HOME", &self.codex_home)
            .current_dir(&self.work)
            .stdin(Stdio::null())
            .output()
            .expect("run tracecraft-hook")
    }

    /// The handlers registered for `event` in hooks.json (their `command`s; none when there
    /// is no hooks.json).
    pub fn hook_commands(&self, event: &str) -> Vec<String> {
        let Ok(bytes) = fs::read(self.hooks_path()) else { return Vec::new() };
        let v: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", self.hooks_path().display()));
        v["hooks"][event]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["hooks"].as_array().cloned().unwrap_or_default())
            .filter_map(|h| h["command"].as_str().map(str::to_string))
            .collect()
    }

    /// The environment of every Codex process: a clean one with this HOME and CODEX_HOME.
    fn codex_cmd(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.env_clear()
            .env("PATH", CLEAN_PATH)
            .env("HOME", &self.home)
            .env("CODEX_HOME", &self.codex_home)
            .env("MOCK_API_KEY", "dummy-key")
            .env("LANG", "C.UTF-8")
            .env("TERM", "dumb")
            .env("NO_COLOR", "1");
        cmd
    }

    /// `codex exec <EXEC_FLAGS> -C WORK <args>` (the prompt, or `resume <id> <prompt>`), run
    /// from the scratch root (so `-C` must carry the cwd), stdin closed, a clean environment.
    /// Panics when it fails or takes longer than [`CODEX_TIMEOUT`].
    pub fn exec(&mut self, args: &[&str]) -> Exec {
        self.runs += 1;
        let (out, err) =
            (self.root.join(format!("codex-{}.out", self.runs)), self.root.join(format!("codex-{}.err", self.runs)));
        let mut cmd = self.codex_cmd();
        cmd.arg("exec")
            .arg("-C")
            .arg(&self.work)
            .args(EXEC_FLAGS)
            .args(self.bypass_trust.then_some(BYPASS_TRUST))
            .args(args)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(File::create(&out).expect("create .out"))
            .stderr(File::create(&err).expect("create .err"));
        let t0 = Instant::now();
        let mut child = Proc(cmd.spawn().unwrap_or_else(|e| panic!("start {}: {e}", self.bin.display())));
        let status: ExitStatus = loop {
            if let Some(st) = child.0.try_wait().expect("wait for codex") {
                break st;
            }
            assert!(t0.elapsed() < CODEX_TIMEOUT, "codex exec {args:?} did not finish in {CODEX_TIMEOUT:?}");
            thread::sleep(Duration::from_millis(5));
        };
        let wall = t0.elapsed();
        let stdout = fs::read_to_string(&out).unwrap_or_default();
        let stderr = fs::read_to_string(&err).unwrap_or_default();
        assert!(status.success(), "codex exec {args:?} failed ({status}):\nstdout: {stdout}\nstderr: {stderr}");
        let events = stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("codex --json printed a non-JSON line ({e}): {l}"))
            })
            .collect();
        Exec { events, stderr, wall }
    }

    /// The rollout file of session `id`: `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl`.
    pub fn rollout(&self, id: &str) -> PathBuf {
        let mut found = Vec::new();
        let sessions = self.codex_home.join("sessions");
        for y in read_dirs(&sessions) {
            for m in read_dirs(&y) {
                for d in read_dirs(&m) {
                    for f in fs::read_dir(&d).into_iter().flatten().flatten() {
                        let name = f.file_name().to_string_lossy().into_owned();
                        if name.starts_with("rollout-") && name.ends_with(&format!("-{id}.jsonl")) {
                            found.push(f.path());
                        }
                    }
                }
            }
        }
        assert_eq!(found.len(), 1, "rollout files of {id} under {}: {found:?}", sessions.display());
        found.pop().unwrap()
    }

    /// `tracecraft-hook` processes (hooks and their detached workers) of this HOME still alive.
    pub fn hook_processes(&self) -> usize {
        claude::processes(&self.home, |_| true)
    }

    /// Wait (bounded by `limit`) until no `tracecraft-hook` process of this HOME is left:
    /// Codex has exited, so whatever the hooks started is then finished. Returns how long it took.
    pub fn wait_for_hooks(&self, limit: Duration) -> Duration {
        let t0 = Instant::now();
        while self.hook_processes() > 0 {
            assert!(
                t0.elapsed() < limit,
                "{} tracecraft-hook process(es) of this HOME still running after {limit:?}",
                self.hook_processes()
            );
            thread::sleep(Duration::from_millis(20));
        }
        t0.elapsed()
    }

    /// What to print when a test fails: the hook log, the mock's log, Codex's stderr.
    pub fn dump(&self) {
        eprintln!("---- e2e codex: scratch kept at {}", self.root.display());
        for f in [self.home.join(".tracecraft/hook.log"), self.mock.log.clone()] {
            eprintln!("---- {}:\n{}", f.display(), fs::read_to_string(&f).unwrap_or_else(|e| e.to_string()));
        }
        for i in 1..=self.runs {
            let err = fs::read_to_string(self.root.join(format!("codex-{i}.err"))).unwrap_or_default();
            if !err.trim().is_empty() {
                eprintln!("---- codex run {i} stderr:\n{err}");
            }
        }
    }
}

impl Drop for Codex {
    fn drop(&mut self) {
        if thread::panicking() {
            self.dump();
        }
    }
}

/// The subdirectories of `dir`, sorted (none if it cannot be read).
fn read_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    v.sort();
    v
}

/// The record kinds of a rollout's lines (`type` or `type/payload.type`), `?` for a line that
/// is not JSON.
pub fn rollout_kinds(rollout: &[u8]) -> Vec<String> {
    rollout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| match serde_json::from_slice::<Value>(l) {
            Ok(v) => {
                let t = v["type"].as_str().unwrap_or("?").to_string();
                match v["payload"]["type"].as_str() {
                    Some(p) => format!("{t}/{p}"),
                    None => t,
                }
            }
            Err(_) => "?".to_string(),
        })
        .collect()
}
