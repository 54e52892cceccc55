//! The real Claude Code CLI for the end-to-end tests (`tests/e2e_claude.rs`,
//! `tests/e2e_restore.rs`): the mock Messages API it talks to (`tests/e2e/mock_anthropic.py`
//! on 127.0.0.1), one headless `claude -p` run with a clean environment, and the count of
//! tracecraft-hook workers still running for a HOME.
//!
//! The CLI is found by [`super::tools`] (`TRACECRAFT_TEST_CLAUDE_BIN`, else where `.ci/test`
//! installs it); a missing one fails the test unless the run opted out (`claude`).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::tools::{self, Tool};

/// The product's binary.
pub const HOOK_BIN: &str = env!("CARGO_BIN_EXE_tracecraft-hook");
/// How long one `claude -p` may take.
pub const CLAUDE_TIMEOUT: Duration = Duration::from_secs(120);
/// The only PATH Claude Code and the hooks see.
pub const CLEAN_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The Claude Code CLI, or `None` when the run opted out of it (recorded); panics with the
/// install command when it is missing.
#[track_caller]
pub fn claude_bin() -> Option<PathBuf> {
    // The mock API runs on Python: needed too, whatever the run opted out of.
    let cli = tools::require(Tool::Claude)?;
    if tools::which("python3").is_none() {
        panic!("python3 is needed for the mock Messages API (tests/e2e/mock_anthropic.py)");
    }
    Some(cli)
}

/// A child process stopped (and reaped) when this goes out of scope, panics included. A
/// [`watchdog`] child is stopped by closing its stdin first.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(stdin) = self.0.stdin.take() {
            drop(stdin); // a `watchdog` command: it stops its program now
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

/// A command for a program that must not outlive the test process even when that is killed
/// outright (no Drop then): `sh` starts it and kills it as soon as its stdin, a pipe only this
/// process holds, is closed. Dropping the [`Proc`] closes it.
pub fn watchdog(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(r#"exec 3<&0; "$@" </dev/null 3<&- & s=$!; (read -r _ <&3; kill "$s" 2>/dev/null) & exec 3<&-; wait "$s""#)
        .arg("e2e-watchdog")
        .arg(program)
        .stdin(Stdio::piped());
    c
}

/// `tests/e2e/mock_anthropic.py` on a free port of 127.0.0.1, answering as scripted by the
/// `[[mock-...]]` markers of the prompt (or another mock of the same command line, see
/// [`Mock::start_script`]).
pub struct Mock {
    pub port: u16,
    /// Its stdout and stderr.
    pub log: PathBuf,
    /// One JSON line per request received.
    pub requests: PathBuf,
    _proc: Proc,
}

impl Mock {
    /// Start it with its files in `dir`.
    pub fn start(dir: &Path) -> Mock {
        Mock::start_script(dir, "tests/e2e/mock_anthropic.py")
    }

    /// Start the Python mock `script` (relative to the repository) with its files in `dir`:
    /// it takes `--port 0 --port-file F --log REQUESTS` and binds 127.0.0.1 only
    /// (`mock_anthropic.py`, `mock_responses.py`).
    pub fn start_script(dir: &Path, script: &str) -> Mock {
        let port_file = dir.join("mock.port");
        let log = dir.join("mock.log");
        let requests = dir.join("mock-requests.jsonl");
        let out = File::create(&log).expect("create mock.log");
        let child = watchdog("python3")
            .arg(tools::repo().join(script))
            .args(["--port", "0", "--port-file"])
            .arg(&port_file)
            .arg("--log")
            .arg(&requests)
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("start python3 {script}: {e}"));
        let mut proc = Proc(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        let port = loop {
            if let Some(p) = fs::read_to_string(&port_file).ok().and_then(|s| s.trim().parse::<u16>().ok()) {
                break p;
            }
            if let Ok(Some(st)) = proc.0.try_wait() {
                panic!("the mock exited ({st}): {}", fs::read_to_string(&log).unwrap_or_default());
            }
            assert!(
                Instant::now() < deadline,
                "the mock did not start: {}",
                fs::read_to_string(&log).unwrap_or_default()
            );
            thread::sleep(Duration::from_millis(20));
        };
        Mock { port, log, requests, _proc: proc }
    }

    /// Every request received so far (one JSON object each: `method`, `path`, `headers`, `body`).
    pub fn requests(&self) -> Vec<Value> {
        fs::read_to_string(&self.requests)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect()
    }

    /// The Messages API requests received so far.
    pub fn message_requests(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["path"].as_str().is_some_and(|p| p.split('?').next().unwrap_or("").ends_with("/v1/messages")))
            .collect()
    }
}

/// What one `claude ... --output-format json` returned.
pub struct Run {
    pub json: Value,
    pub wall: Duration,
    pub stderr: String,
}

impl Run {
    pub fn session_id(&self) -> String {
        self.json["session_id"].as_str().expect("session_id in Claude Code's result").to_string()
    }

    /// Claude Code's result is exactly what the mock was scripted to say: the hooks changed nothing.
    pub fn assert_result(&self, expected: &str) {
        assert_eq!(self.json["is_error"], json!(false), "Claude Code reported an error: {}", self.json);
        assert_eq!(self.json["result"], json!(expected), "unexpected result: {}", self.json);
        assert!(!self.stderr.contains("tracecraft"), "Claude Code's stderr mentions tracecraft: {}", self.stderr);
    }
}

/// One Claude Code installation: a HOME and a project directory, the hook binary run there
/// with a clean environment, and `claude` run there against the mock.
pub struct Machine {
    pub home: PathBuf,
    pub work: PathBuf,
}

impl Machine {
    /// Creates both directories.
    pub fn new(home: PathBuf, work: PathBuf) -> Machine {
        fs::create_dir_all(&home).expect("mkdir home");
        fs::create_dir_all(&work).expect("mkdir work");
        Machine { home, work }
    }

    /// The hook binary with `args` in the project directory, a clean environment.
    pub fn hook(&self, args: &[&str]) -> Output {
        Command::new(HOOK_BIN)
            .args(args)
            .env_clear()
            .env("PATH", CLEAN_PATH)
            .env("HOME", &self.home)
            .current_dir(&self.work)
            .stdin(Stdio::null())
            .output()
            .expect("run tracecraft-hook")
    }

    /// [`hook`](Self::hook), which must succeed; its stdout.
    pub fn hook_ok(&self, args: &[&str]) -> String {
        let out = self.hook(args);
        assert!(
            out.status.success(),
            "tracecraft-hook {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `tracecraft-hook install` (user scope).
    pub fn install_hooks(&self) {
        self.hook_ok(&["install"]);
    }

    /// `claude <args> --output-format json <extra_args>` in the project directory, a clean
    /// environment pointing at `mock` (plus `extra_env`), stdout and stderr to `out`/`err`.
    pub fn command(
        &self,
        claude: &Path,
        mock: &Mock,
        args: &[&str],
        extra: (&[String], &[(String, String)]),
        (out, err): (&Path, &Path),
    ) -> Command {
        let (extra_args, extra_env) = extra;
        let mut cmd = Command::new(claude);
        cmd.args(args)
            .args(["--output-format", "json"])
            .args(extra_args)
            .current_dir(&self.work)
            .env_clear()
            .env("PATH", CLEAN_PATH)
            .env("HOME", &self.home)
            .env("TERM", "dumb")
            .env("LANG", "C.UTF-8")
            .env("ANTHROPIC_BASE_URL", format!("http://127.0.0.1:{}", mock.port))
            .env("ANTHROPIC_API_KEY", "sk-ant-test-dummy")
            .env("DISABLE_TELEMETRY", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .env("CLAUDE_CODE_MAX_RETRIES", "0")
            .envs(extra_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(File::create(out).expect("create .out"))
            .stderr(File::create(err).expect("create .err"));
        cmd
    }

    /// Where Claude Code writes session `sid`'s transcript.
    pub fn transcript_path(&self, sid: &str) -> PathBuf {
        self.home.join(".claude/projects").join(super::slug(&self.work)).join(format!("{sid}.jsonl"))
    }

    /// Detached workers (`tracecraft-hook hook --worker`) of this HOME still running.
    pub fn workers(&self) -> usize {
        workers(&self.home)
    }
}

/// Run a [`command`] to its end (panics after [`CLAUDE_TIMEOUT`] or on failure) and parse
/// its one JSON result.
pub fn run(mut cmd: Command, (out, err): (&Path, &Path)) -> Run {
    let t0 = Instant::now();
    let mut child = Proc(cmd.spawn().unwrap_or_else(|e| panic!("start {:?}: {e}", cmd.get_program())));
    let status: ExitStatus = loop {
        if let Some(st) = child.0.try_wait().expect("wait for claude") {
            break st;
        }
        assert!(t0.elapsed() < CLAUDE_TIMEOUT, "claude {:?} did not finish in {CLAUDE_TIMEOUT:?}", cmd.get_args());
        thread::sleep(Duration::from_millis(5));
    };
    let wall = t0.elapsed();
    let stdout = fs::read_to_string(out).unwrap_or_default();
    let stderr = fs::read_to_string(err).unwrap_or_default();
    assert!(status.success(), "claude {:?} failed ({status}):\nstdout: {stdout}\nstderr: {stderr}", cmd.get_args());
    let json = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("claude's stdout is not one JSON result ({e}): {stdout}"));
    Run { json, wall, stderr }
}

/// Detached workers (`tracecraft-hook hook --worker`) of HOME `home` still running.
pub fn workers(home: &Path) -> usize {
    processes(home, |args| args.len() >= 3 && args[1] == b"hook" && args[2] == b"--worker")
}

/// `tracecraft-hook` processes whose environment has HOME = `home` and whose arguments
/// (`args[0]` is the program) satisfy `pick`.
pub fn processes(home: &Path, pick: impl Fn(&[&[u8]]) -> bool) -> usize {
    let home = format!("HOME={}", home.display());
    let Ok(rd) = fs::read_dir("/proc") else { return 0 };
    rd.flatten()
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter(|e| {
            let Ok(cmdline) = fs::read(e.path().join("cmdline")) else { return false };
            let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
            let ours = args[0].ends_with(b"tracecraft-hook") && pick(&args);
            ours && fs::read(e.path().join("environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|kv| kv == home.as_bytes()))
        })
        .count()
}

/// The parts (`part-NNNNN-xxxxxxxx.jsonl`) under a session's directory in a files-backed
/// store, `(name, bytes)` in key order; panics on any other object but meta.json.
pub fn stored_parts(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut parts = Vec::new();
    for e in fs::read_dir(dir).unwrap_or_else(|e| panic!("session prefix {}: {e}", dir.display())).flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "meta.json" {
            continue;
        }
        assert!(super::is_part_key(&name), "unexpected object {name:?} under the session prefix {}", dir.display());
        parts.push((name, fs::read(e.path()).expect("read part")));
    }
    parts.sort();
    parts
}

/// Panics with the first difference when `got != want`.
pub fn assert_same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
        let show = |b: &[u8]| String::from_utf8_lossy(&b[at.saturating_sub(80)..(at + 160).min(b.len())]).into_owned();
        panic!(
            "{what}: {} bytes vs {} expected, first difference at byte {at}:\n  got:  {}\n  want: {}",
            got.len(),
            want.len(),
            show(got),
            show(want)
        );
    }
}
