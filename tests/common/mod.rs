//! Shared harness for the integration tests (`mod common;` in each test file).
//!
//! * [`Backend`]/[`backends`]: the local store plus two REAL S3 servers on 127.0.0.1,
//!   s3s-fs (verifies SigV4) and moto (accepts any signature), started lazily once per
//!   test process and stopped by a watchdog when the process exits (see
//!   [`servers`]). `.ci/run` may start them instead and pass their endpoints in
//!   `TRACECRAFT_TEST_S3S_ENDPOINT` / `TRACECRAFT_TEST_MOTO_ENDPOINT`.
//! * [`Env`]: one isolated test world (temp HOME, temp project dir, unique project
//!   name, config file) with helpers to run the real binary and to read back what the
//!   bucket holds WITHOUT the product's code (files on disk for the local store and
//!   s3s-fs, unsigned HTTP for moto).
//! * [`home`]: a temporary HOME and the binary run in it with a clean environment (what
//!   `Env` builds on; CLI tests that need only a HOME use it directly).
//! * [`proxy`]: fault-injecting / counting and path-prefix proxies (also the slow S3
//!   endpoint of the end-to-end tests).
//! * [`transcript`]: Claude Code hook payloads and transcript lines.
//! * [`tools`]: the outside programs (s3s-fs, moto, tracecraft-ai, claude, chromium), one
//!   variable each; a missing one FAILS the test unless the run opted out of it by name.
//! * [`claude`]: the mock Messages API, a Claude Code installation ([`claude::Machine`]:
//!   HOME, project, hooks, `claude -p` runs) and the worker count of the end-to-end tests.
//! * [`codex`]: fake Codex CLI material (rollout lines, hook payloads, [`Harness`]) for the
//!   tests that run on both harnesses.
//! * [`codex_cli`]: the real Codex CLI offline: a fresh network namespace, a temporary
//!   `CODEX_HOME` pointed at the mock Responses API, `codex exec` runs.
//!
//! Every test file keeps its own name (other work adds files); none keeps a private copy of
//! these (`duplicates --repo tests` finds no repeated helper).
//!
//! Std only, plus crates the package already has (serde_json, tempfile, rusty-s3 for
//! the signing helpers in [`sign`]).

// Each test file uses a different subset of the harness.
#![allow(dead_code, unused_imports)]

pub mod claude;
pub mod codex;
pub mod codex_cli;
pub mod home;
pub mod http;
pub mod pages;
pub mod proxy;
pub mod servers;
pub mod sign;
pub mod tools;
pub mod transcript;

use std::collections::hash_map::RandomState;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

pub use codex::{Harness, HARNESSES};
pub use home::{clean_env, Home};
pub use proxy::{closed_port, Fault, FaultProxy, PrefixProxy, RequestRecord};
pub use servers::{Kind, Server, ServerProcess, BUCKET, REGION};
pub use tools::{require, Tool};
pub use transcript::{
    append, payload, slug, transcript_line, transcript_line_with_text, transcript_lines, write_transcript_lines,
};

/// Default time limit for one run of the binary.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a test's sessions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// No config file: the binary's embedded local store under `$HOME/.tracecraft/store`.
    Local,
    /// s3s-fs, a signature-verifying S3 server storing plain files.
    S3s,
    /// moto's S3 server (accepts any signature).
    Moto,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Local => "local",
            Backend::S3s => "s3s-fs",
            Backend::Moto => "moto",
        }
    }

    pub fn kind(self) -> Option<Kind> {
        match self {
            Backend::Local => None,
            Backend::S3s => Some(Kind::S3s),
            Backend::Moto => Some(Kind::Moto),
        }
    }

    pub fn is_s3(self) -> bool {
        self != Backend::Local
    }

    /// The shared server (started on first use). `None` for `Local`, or when the run
    /// opted out of it (`TRACECRAFT_TEST_WITHOUT`, recorded as a skip of this test).
    pub fn server(self) -> Option<&'static Server> {
        self.kind().and_then(servers::shared)
    }

    fn of_kind(kind: Kind) -> Backend {
        match kind {
            Kind::S3s => Backend::S3s,
            Kind::Moto => Backend::Moto,
        }
    }
}

/// Every backend to run a test against: `Local`, `S3s`, `Moto`. A missing server
/// program panics with its install command, unless the run opted out of it by name
/// (`TRACECRAFT_TEST_WITHOUT=s3s-fs`): then that backend is left out and the skip recorded.
pub fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Local];
    v.extend(s3_backends());
    v
}

/// The S3 backends only (see [`backends`]).
pub fn s3_backends() -> Vec<Backend> {
    [Backend::S3s, Backend::Moto].into_iter().filter(|b| servers::available(b.kind().unwrap())).collect()
}

/// A short random hex string (std only: RandomState is randomly seeded per process,
/// mixed with a counter, the time and the pid).
pub fn random_hex(len: usize) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut out = String::new();
    while out.len() < len {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
        h.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(len);
    out
}

/// `1234` -> `1,234`, as the commands print byte counts.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Whether `key` names a session part the way tracecraft recognises them:
/// `part-(\d{5})-[a-f0-9]{8}\.jsonl$` (searched, so only the end of the key matters).
pub fn is_part_key(key: &str) -> bool {
    let b = key.as_bytes();
    // "part-" + 5 digits + "-" + 8 hex + ".jsonl" = 25 bytes
    if b.len() < 25 {
        return false;
    }
    let s = &b[b.len() - 25..];
    s.starts_with(b"part-")
        && s[5..10].iter().all(u8::is_ascii_digit)
        && s[10] == b'-'
        && s[11..19].iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        && s.ends_with(b".jsonl")
}

/// One isolated test world. Temp dirs are removed on drop.
pub struct Env {
    pub backend: Backend,
    /// Unique project name `t-<test>-<random>`: the key prefix in the bucket.
    pub project: String,
    home: Home,
    project_dir: TempDir,
    /// The server this env's data lives on (S3 backends).
    server: Option<Server>,
    /// Whose sessions the helpers make: Claude Code's (default) or Codex's ([`Env::in_harness`]).
    pub harness: Harness,
}

impl Env {
    /// A new world for `test_name` on `backend`. For S3 backends, writes
    /// `~/.tracecraft/config.json` pointing at the shared server. Panics if the backend
    /// is opted out (iterate [`backends`] or use [`Env::try_new`]).
    pub fn new(backend: Backend, test_name: &str) -> Env {
        Env::try_new(backend, test_name)
            .unwrap_or_else(|| panic!("backend {} is opted out (TRACECRAFT_TEST_WITHOUT)", backend.name()))
    }

    /// Like [`Env::new`], `None` (the skip recorded) if the run opted out of the backend's
    /// server; panics with the install command if it is missing.
    pub fn try_new(backend: Backend, test_name: &str) -> Option<Env> {
        let server = match backend {
            Backend::Local => None,
            b => Some(b.server()?.clone()),
        };
        Some(Env::build(backend, test_name, server))
    }

    /// A world whose data lives on a server the test owns (e.g. a
    /// [`ServerProcess`] it stops and restarts): `Env::with_server(p.server(), "t")`.
    pub fn with_server(server: Server, test_name: &str) -> Env {
        Env::build(Backend::of_kind(server.kind), test_name, Some(server))
    }

    fn build(backend: Backend, test_name: &str, server: Option<Server>) -> Env {
        let clean: String = test_name
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(40)
            .collect();
        let project = format!("t-{}-{}", clean.trim_matches('-'), random_hex(8));
        let home = Home::new();
        // Under HOME, like a real project checkout, but away from ~/.tracecraft.
        let project_dir = tempfile::Builder::new().prefix("proj-").tempdir_in(home.path()).expect("temp project dir");
        let env = Env { backend, project, home, project_dir, server, harness: Harness::ClaudeCode };
        if let Some(endpoint) = env.endpoint() {
            env.write_config(&endpoint);
        }
        env
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// The same world making `harness`'s sessions: with Codex, `transcript_path` is a rollout
    /// under `$HOME/.codex/sessions/`, `write_transcript` writes rollout lines, `payload` is
    /// Codex's, `session_prefix` is `sessions/codex/`, and `cmd` adds `--harness codex` to
    /// `hook`, `flush`, `follow` and `compact`.
    pub fn in_harness(mut self, harness: Harness) -> Env {
        self.harness = harness;
        self
    }

    /// `$HOME/.codex` (Codex's default `CODEX_HOME`).
    pub fn codex_home(&self) -> PathBuf {
        self.home().join(".codex")
    }

    /// Lines `start..start + n` of session `sid` in this env's harness format.
    pub fn lines(&self, sid: &str, start: u64, n: u64) -> Vec<u8> {
        lines_for(self.harness, sid, self.project_dir(), start, n)
    }

    /// The HOME (for [`Home`]'s helpers).
    pub fn home_dir(&self) -> &Home {
        &self.home
    }

    /// The project directory (cwd of every run).
    pub fn project_dir(&self) -> &Path {
        self.project_dir.path()
    }

    pub fn server(&self) -> Option<&Server> {
        self.server.as_ref()
    }

    /// `http://127.0.0.1:PORT` of the S3 server (`None` for `Local`).
    pub fn endpoint(&self) -> Option<String> {
        self.server.as_ref().map(|s| s.endpoint.clone())
    }

    /// The S3 server's socket address, e.g. as the upstream of a proxy. Panics for
    /// `Local`.
    pub fn server_addr(&self) -> SocketAddr {
        self.server.as_ref().expect("server_addr() needs an S3 backend").addr
    }

    /// The config tracecraft would write for this env, pointing at `endpoint`.
    pub fn config_value(&self, endpoint: &str) -> Value {
        json!({
            "backend": "s3",
            "endpoint": endpoint,
            "bucket": BUCKET,
            "project": self.project,
            "agent_id": "test",
            "access_key": servers::access_key(),
            "secret_key": servers::secret_key(),
            "region": REGION,
        })
    }

    /// `~/.tracecraft/config.json`
    pub fn config_path(&self) -> PathBuf {
        self.home().join(".tracecraft/config.json")
    }

    /// (Re)write `~/.tracecraft/config.json` (mode 600) pointing at `endpoint`, e.g. a
    /// proxy in front of the server.
    pub fn write_config(&self, endpoint: &str) {
        self.write_config_value(&self.config_value(endpoint));
    }

    /// Write an arbitrary `~/.tracecraft/config.json` (mode 600).
    pub fn write_config_value(&self, config: &Value) {
        write_private_json(&self.config_path(), config);
    }

    /// Write `<project>/.tracecraft.json` (mode 600), which takes precedence over the
    /// home config.
    pub fn write_project_config(&self, config: &Value) {
        write_private_json(&self.project_dir().join(".tracecraft.json"), config);
    }

    /// Remove the home config (the binary then falls back to the local store).
    pub fn remove_config(&self) {
        let _ = fs::remove_file(self.config_path());
    }

    /// `~/.claude/projects/<slug of project dir>/`, where Claude Code keeps the
    /// transcripts of this project.
    pub fn claude_project_dir(&self) -> PathBuf {
        self.home().join(".claude/projects").join(slug(self.project_dir()))
    }

    /// `~/.claude/projects/<slug>/<sid>.jsonl` (parent dir created; file not).
    pub fn transcript_path(&self, sid: &str) -> PathBuf {
        if self.harness == Harness::Codex {
            let p = codex::rollout_path(&self.codex_home(), sid);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            return p;
        }
        let dir = self.claude_project_dir();
        fs::create_dir_all(&dir).unwrap();
        dir.join(format!("{sid}.jsonl"))
    }

    /// Append lines `start..start + n` to session `sid`'s transcript (cwd = project
    /// dir); returns the bytes appended.
    pub fn write_transcript(&self, sid: &str, n: u64, start: u64) -> Vec<u8> {
        let bytes = self.lines(sid, start, n);
        append(&self.transcript_path(sid), &bytes);
        bytes
    }

    /// A hook payload for `event` (see [`transcript::payload`]) for session `sid`
    /// with this env's transcript path and project dir.
    pub fn payload(&self, event: &str, sid: &str) -> Value {
        if self.harness == Harness::Codex {
            return codex::payload(event, sid, &self.transcript_path(sid), self.project_dir());
        }
        payload(event, sid, &self.transcript_path(sid), self.project_dir())
    }

    /// The real binary, isolated: `HOME` = temp home, cwd = project dir, no `AWS_*`,
    /// `TRACECRAFT_*`, `CLAUDE_*`, proxy or XDG variables from the outer environment,
    /// `TRACECRAFT_PROJECT` = this env's project and `TRACECRAFT_HOOK_INLINE=1` (upload
    /// inline instead of in a detached worker, so tests can assert right after exit).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut args: Vec<&str> = args.to_vec();
        if self.harness == Harness::Codex
            && matches!(args.first(), Some(&("hook" | "flush" | "follow" | "compact")))
            && !args.contains(&"--harness")
        {
            args.extend(["--harness", "codex"]);
        }
        let mut cmd = self.home.cmd(&args);
        cmd.env("TRACECRAFT_PROJECT", &self.project).env("TRACECRAFT_HOOK_INLINE", "1").current_dir(self.project_dir());
        cmd
    }

    /// Run the binary with `args`, no stdin; panics after [`RUN_TIMEOUT`].
    pub fn run(&self, args: &[&str]) -> Output {
        let cmd = self.cmd(args);
        run_with_timeout(cmd, None, true, RUN_TIMEOUT)
            .unwrap_or_else(|| panic!("tracecraft-hook {args:?} did not exit within {RUN_TIMEOUT:?}"))
    }

    /// Run `tracecraft-hook hook` the way Claude Code does: payload on stdin (then
    /// closed), cwd = project dir, `CLAUDE_PROJECT_DIR` and `CLAUDE_CODE_SESSION_ID` set.
    /// Panics after [`RUN_TIMEOUT`].
    pub fn run_hook(&self, payload: &Value) -> Output {
        self.run_hook_opts(payload, true, RUN_TIMEOUT)
            .unwrap_or_else(|| panic!("hook did not exit within {RUN_TIMEOUT:?}"))
    }

    /// Like [`run_hook`](Self::run_hook) but stdin stays open after the JSON (some
    /// Claude Code versions never close it). `None` if the binary did not exit within
    /// `timeout` (it is then killed).
    pub fn run_hook_stdin_open(&self, payload: &Value, timeout: Duration) -> Option<Output> {
        self.run_hook_opts(payload, false, timeout)
    }

    fn run_hook_opts(&self, payload: &Value, close_stdin: bool, timeout: Duration) -> Option<Output> {
        let mut cmd = self.cmd(&["hook"]);
        cmd.env("CLAUDE_PROJECT_DIR", self.project_dir());
        if let Some(sid) = payload.get("session_id").and_then(Value::as_str) {
            cmd.env("CLAUDE_CODE_SESSION_ID", sid);
        }
        let input = serde_json::to_vec(payload).unwrap();
        run_with_timeout(cmd, Some(input), close_stdin, timeout)
    }

    /// Run the Python CLI (PyPI `tracecraft-ai`) with this env's HOME and cwd; panics when it
    /// fails or is not installed. `None` (the skip recorded) when the run opted out of it
    /// (`TRACECRAFT_TEST_WITHOUT=python`).
    pub fn tracecraft_py(&self, args: &[&str]) -> Option<Output> {
        tracecraft_py(self.home(), self.project_dir(), args)
    }

    // ---- reading back (and seeding) the store, bypassing the product ----

    /// `$HOME/.tracecraft/store` (the local backend's bucket).
    pub fn local_store(&self) -> PathBuf {
        self.home().join(".tracecraft/store")
    }

    /// Directory holding the bucket's objects as files (Local and s3s-fs).
    fn files_root(&self) -> PathBuf {
        match self.backend {
            Backend::Local => self.local_store(),
            Backend::S3s => self
                .server
                .as_ref()
                .and_then(|s| s.root.clone())
                .expect(
                    "s3s-fs data root unknown: set TRACECRAFT_TEST_S3S_ROOT along with \
                     TRACECRAFT_TEST_S3S_ENDPOINT",
                )
                .join(BUCKET),
            Backend::Moto => unreachable!("moto keeps objects in memory"),
        }
    }

    /// Every key starting with `prefix` (full keys, project prefix included), sorted.
    pub fn list_keys(&self, prefix: &str) -> Vec<String> {
        match self.backend {
            Backend::Moto => servers::moto::list(self.server.as_ref().unwrap(), prefix),
            _ => servers::files_under(&self.files_root()).into_iter().filter(|k| k.starts_with(prefix)).collect(),
        }
    }

    /// Every key of this env's project.
    pub fn project_keys(&self) -> Vec<String> {
        self.list_keys(&format!("{}/", self.project))
    }

    /// The object's bytes, `None` if absent.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.backend {
            Backend::Moto => servers::moto::get(self.server.as_ref().unwrap(), key),
            _ => match fs::read(self.files_root().join(key)) {
                Ok(b) => Some(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => panic!("read {key}: {e}"),
            },
        }
    }

    /// Store an object directly (e.g. to seed a session "started by tracecraft").
    /// s3s-fs serves files placed in its root like uploaded ones.
    pub fn put(&self, key: &str, bytes: &[u8]) {
        match self.backend {
            Backend::Moto => servers::moto::put(self.server.as_ref().unwrap(), key, bytes),
            _ => servers::write_file(&self.files_root().join(key), bytes),
        }
    }

    /// Delete an object directly (absent is fine).
    pub fn delete(&self, key: &str) {
        match self.backend {
            Backend::Moto => servers::moto::delete(self.server.as_ref().unwrap(), key),
            _ => {
                let _ = fs::remove_file(self.files_root().join(key));
            }
        }
    }

    /// `<project>/sessions/claude-code/<sid>/`
    pub fn session_prefix(&self, sid: &str) -> String {
        format!("{}/sessions/{}/{sid}/", self.project, self.harness.dir())
    }

    /// Keys under the session's prefix that tracecraft takes for parts, in key order.
    pub fn part_keys(&self, sid: &str) -> Vec<String> {
        self.list_keys(&self.session_prefix(sid)).into_iter().filter(|k| is_part_key(k)).collect()
    }

    /// What `tracecraft session show` replays: the parts concatenated in key order.
    pub fn replay(&self, sid: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for key in self.part_keys(sid) {
            out.extend(self.get(&key).unwrap_or_else(|| panic!("part {key} listed but not readable")));
        }
        out
    }

    /// The session's `meta.json`, parsed; `None` if absent.
    pub fn meta(&self, sid: &str) -> Option<Value> {
        let key = format!("{}meta.json", self.session_prefix(sid));
        self.get(&key).map(|b| {
            serde_json::from_slice(&b)
                .unwrap_or_else(|e| panic!("{key} is not JSON ({e}): {}", String::from_utf8_lossy(&b)))
        })
    }
}

/// Run the Python CLI (PyPI `tracecraft-ai`) with HOME `home` in `cwd`, a clean environment;
/// panics when it fails or is not installed. `None` (the skip recorded) when the run opted out
/// of it (`TRACECRAFT_TEST_WITHOUT=python`).
#[track_caller]
pub fn tracecraft_py(home: &Path, cwd: &Path, args: &[&str]) -> Option<Output> {
    let python = tools::require(Tool::TracecraftPy)?;
    let mut c = Command::new(python);
    c.args(["-c", "import sys; from tracecraft.cli import main; sys.argv = ['tracecraft'] + sys.argv[1:]; main()"]);
    c.args(args);
    clean_env(&mut c).env("HOME", home).current_dir(cwd);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "tracecraft {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out)
}

/// Lines `start..start + n` of session `sid` (cwd `cwd`) in `harness`'s format.
pub fn lines_for(harness: Harness, sid: &str, cwd: &Path, start: u64, n: u64) -> Vec<u8> {
    match harness {
        Harness::ClaudeCode => transcript_lines(sid, cwd, start, n),
        Harness::Codex => codex::rollout_lines(sid, cwd, start, n),
    }
}

/// Write pretty JSON to `path` with mode 600 (parents created).
fn write_private_json(path: &Path, value: &Value) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

/// Run `cmd` with optional stdin bytes, collecting stdout/stderr. If `close_stdin` is
/// false the pipe stays open until the process exits or is killed. Returns `None` (after
/// killing the process) if it runs longer than `timeout`.
pub fn run_with_timeout(
    mut cmd: Command,
    input: Option<Vec<u8>>,
    close_stdin: bool,
    timeout: Duration,
) -> Option<Output> {
    cmd.stdin(if input.is_some() || !close_stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child: Child = cmd.spawn().expect("spawn tracecraft-hook");
    // Feed stdin from a thread (a child that never reads must not block us). With
    // `close_stdin == false` the thread keeps the pipe open until told to stop.
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let writer = child.stdin.take().map(|mut stdin| {
        thread::spawn(move || {
            if let Some(bytes) = input {
                let _ = stdin.write_all(&bytes);
                let _ = stdin.flush();
            }
            if !close_stdin {
                let _ = stop_rx.recv();
            }
            drop(stdin);
        })
    });
    // Readers report through channels so a stuck pipe cannot hang the test.
    let pipe_reader = |r: Option<Box<dyn Read + Send>>| {
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            let _ = tx.send(buf);
        });
        rx
    };
    let out = pipe_reader(child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let err = pipe_reader(child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(5));
    };
    drop(stop_tx);
    if let Some(w) = writer {
        let _ = w.join();
    }
    // EOF on stdout/stderr comes once every process holding them has exited. A
    // process the binary left behind with our pipes open would make Claude Code wait
    // too: report it instead of hanging.
    let collect = |rx: std::sync::mpsc::Receiver<Vec<u8>>, what: &str| {
        rx.recv_timeout(Duration::from_secs(10)).unwrap_or_else(|_| {
            panic!(
                "tracecraft-hook exited but its {what} stayed open for 10 s: a process it \
                 spawned inherited the pipe (Claude Code would wait for it as well)"
            )
        })
    };
    // Timed out: do not wait for the pipes, the caller only learns "no exit".
    let status = status?;
    let stdout = collect(out, "stdout");
    let stderr = collect(err, "stderr");
    Some(Output { status, stdout, stderr })
}
