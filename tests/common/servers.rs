//! Real S3 servers on 127.0.0.1 for the integration tests: s3s-fs (verifies SigV4,
//! stores objects as plain files) and moto (accepts any signature).
//!
//! Lifetime: every server is started through a small `sh` watchdog whose stdin is a
//! pipe held by the test process. When the test process exits, however it exits, the
//! kernel closes the pipe; the watchdog reads EOF, kills the server and removes its
//! scratch directory. This matters because the shared servers live in statics, whose
//! destructors never run. [`ServerProcess`] also has a `Drop` that does the same at
//! once, for servers owned by one test.
//!
//! If `TRACECRAFT_TEST_S3S_ENDPOINT` / `TRACECRAFT_TEST_MOTO_ENDPOINT` are set (by
//! `.ci/run`), the shared servers are those, with bucket `tc-test` assumed to exist.
//! The programs are found by [`super::tools`] (one variable each); a missing one fails the
//! test with its install command unless the run opted out of it.

use std::fs;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use super::http;
use super::tools::{self, Tool};

/// The one bucket every test uses.
pub const BUCKET: &str = "tc-test";
/// Credentials when not given by `TRACECRAFT_TEST_ACCESS_KEY` / `_SECRET_KEY`.
pub const DEFAULT_ACCESS_KEY: &str = "tcaccess";
pub const DEFAULT_SECRET_KEY: &str = "tcsecret123456";
pub const REGION: &str = "us-east-1";
/// How long a server gets to answer HTTP after being started.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// The watchdog, run as `sh -c WATCHDOG watchdog <scratch-dir> <server argv…>`.
///
/// It starts the server in the background and a reader on its own stdin (a pipe from
/// the test process). When the reader gets a line (`ServerProcess::stop`) it kills
/// the server; when it gets EOF (the test process is gone, whatever the way it died)
/// it marks the scratch dir as orphaned and kills the server, and the watchdog then
/// removes the scratch dir. If the server exits on its own, the watchdog exits too
/// (so the harness notices early failures) and kills the reader. The server gets
/// /dev/null as stdin and never holds the pipe.
const WATCHDOG: &str = r#"
scratch=$1; shift
exec 3<&0
"$@" </dev/null 3<&- &
server=$!
(
  if ! read -r _ <&3; then : > "$scratch/.orphaned"; fi
  kill "$server" 2>/dev/null
) &
reader=$!
exec 3<&-
wait "$server"
status=$?
kill "$reader" 2>/dev/null
if [ -e "$scratch/.orphaned" ]; then rm -rf "$scratch"; fi
exit "$status"
"#;

/// Which S3 server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    S3s,
    Moto,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::S3s => "s3s-fs",
            Kind::Moto => "moto",
        }
    }

    fn endpoint_var(self) -> &'static str {
        match self {
            Kind::S3s => "TRACECRAFT_TEST_S3S_ENDPOINT",
            Kind::Moto => "TRACECRAFT_TEST_MOTO_ENDPOINT",
        }
    }

    /// The program behind it.
    pub fn tool(self) -> Tool {
        match self {
            Kind::S3s => Tool::S3s,
            Kind::Moto => Tool::Moto,
        }
    }
}

/// The access key the servers accept (env override or default).
pub fn access_key() -> String {
    std::env::var("TRACECRAFT_TEST_ACCESS_KEY").unwrap_or_else(|_| DEFAULT_ACCESS_KEY.into())
}

/// The secret key the servers accept (env override or default).
pub fn secret_key() -> String {
    std::env::var("TRACECRAFT_TEST_SECRET_KEY").unwrap_or_else(|_| DEFAULT_SECRET_KEY.into())
}

/// A running S3 server as the tests see it.
#[derive(Debug, Clone)]
pub struct Server {
    pub kind: Kind,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    pub addr: SocketAddr,
    /// s3s-fs only: the data root; bucket `tc-test` is `<root>/tc-test/`. `None` if
    /// the endpoint came from the environment without `TRACECRAFT_TEST_S3S_ROOT`.
    pub root: Option<PathBuf>,
}

impl Server {
    /// Path of the file holding `key` (s3s-fs stores `<root>/<bucket>/<key>`).
    pub fn object_path(&self, key: &str) -> Option<PathBuf> {
        self.root.as_ref().map(|r| r.join(BUCKET).join(key))
    }
}

/// The process-wide shared server of this kind, started on first use. `None` when the run
/// opted out of it (`TRACECRAFT_TEST_WITHOUT`, recorded as a skip); panics with the install
/// command when its program is missing.
pub fn shared(kind: Kind) -> Option<&'static Server> {
    static S3S: OnceLock<Server> = OnceLock::new();
    static MOTO: OnceLock<Server> = OnceLock::new();
    if !available(kind) {
        return None;
    }
    let cell = match kind {
        Kind::S3s => &S3S,
        Kind::Moto => &MOTO,
    };
    Some(cell.get_or_init(|| init_shared(kind)))
}

fn init_shared(kind: Kind) -> Server {
    if let Ok(endpoint) = std::env::var(kind.endpoint_var()) {
        let addr = endpoint_addr(&endpoint);
        let root = match kind {
            Kind::S3s => std::env::var_os("TRACECRAFT_TEST_S3S_ROOT").map(PathBuf::from),
            Kind::Moto => None,
        };
        return Server { kind, endpoint: endpoint.trim_end_matches('/').to_string(), addr, root };
    }
    // Leak the process: the watchdog stops the server when this process exits.
    let process = Box::leak(Box::new(ServerProcess::spawn(kind)));
    Server { kind, endpoint: process.endpoint(), addr: process.addr, root: process.root.clone() }
}

/// Whether the running test may use a server of `kind`: `false` (and the skip recorded)
/// when the run opted out of it; panics with the install command when it is missing (a
/// server given by `TRACECRAFT_TEST_*_ENDPOINT` needs no program).
#[track_caller]
pub fn available(kind: Kind) -> bool {
    if std::env::var_os(kind.endpoint_var()).is_some() {
        return tools::wanted(kind.tool());
    }
    tools::require(kind.tool()).is_some()
}

/// Like [`available`] for a test that starts its own server process: the endpoint of a
/// server started by `.ci/run` does not count.
#[track_caller]
pub fn program_available(kind: Kind) -> bool {
    tools::require(kind.tool()).is_some()
}

fn program(kind: Kind) -> PathBuf {
    kind.tool().find().unwrap_or_else(|| panic!("{}", tools::missing_message(kind.tool())))
}

/// Parse `http://host:port[/...]` into a socket address.
pub fn endpoint_addr(endpoint: &str) -> SocketAddr {
    let rest = endpoint
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("test endpoint must be http://HOST:PORT, got {endpoint:?}"));
    let hostport = rest.split('/').next().unwrap_or(rest);
    hostport
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| panic!("cannot resolve test endpoint {endpoint:?}"))
}

/// A free port on 127.0.0.1 (bound, then released for the server to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind 127.0.0.1:0").port()
}

/// A server process owned by whoever holds this value; stopped on drop (and by its
/// watchdog if this process dies first). Use it directly for tests that need to stop
/// or restart a server; most tests use the shared ones through [`shared`].
pub struct ServerProcess {
    pub kind: Kind,
    pub addr: SocketAddr,
    /// s3s-fs data root (kept across `stop`/`restart`).
    pub root: Option<PathBuf>,
    /// The credentials it accepts (s3s-fs verifies them).
    pub access_key: String,
    pub secret_key: String,
    /// Scratch dir holding the root and the log; removed when the server stops for
    /// good.
    scratch: PathBuf,
    watchdog: Option<(Child, ChildStdin)>,
}

impl ServerProcess {
    /// Start a new server of `kind` on a free port, with bucket `tc-test`.
    /// Panics (with the server log) if it does not come up.
    pub fn spawn(kind: Kind) -> ServerProcess {
        ServerProcess::spawn_with_keys(kind, &access_key(), &secret_key())
    }

    /// [`spawn`](Self::spawn) with credentials of the test's choosing.
    pub fn spawn_with_keys(kind: Kind, access: &str, secret: &str) -> ServerProcess {
        let scratch = tempfile::Builder::new()
            .prefix(&format!("tc-{}-", kind.name()))
            .tempdir()
            .expect("create scratch dir")
            .keep();
        let root = match kind {
            Kind::S3s => {
                // s3s-fs maps buckets to directories: creating one creates the bucket.
                let root = scratch.join("root");
                fs::create_dir_all(root.join(BUCKET)).expect("create s3s-fs bucket dir");
                Some(root)
            }
            Kind::Moto => None,
        };
        let mut p = ServerProcess {
            kind,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            root,
            access_key: access.to_string(),
            secret_key: secret.to_string(),
            scratch,
            watchdog: None,
        };
        // The port is found by bind-and-release, so another process could take it in
        // between: retry on a new port if the server exits early.
        let mut last_err = String::new();
        for _ in 0..3 {
            p.addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            match p.launch() {
                Ok(()) => {
                    if kind == Kind::Moto {
                        p.create_moto_bucket();
                    }
                    return p;
                }
                Err(e) => last_err = e,
            }
        }
        panic!("could not start {}: {last_err}", kind.name());
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// s3s-fs's data root: bucket `b` is the directory `<root>/b` (creating one creates
    /// the bucket). Panics for moto.
    pub fn data_root(&self) -> &Path {
        self.root.as_deref().expect("only s3s-fs keeps its data in files")
    }

    /// As a [`Server`] value, e.g. for [`super::Env::with_server`].
    pub fn server(&self) -> Server {
        Server { kind: self.kind, endpoint: self.endpoint(), addr: self.addr, root: self.root.clone() }
    }

    /// The server's log so far (stdout + stderr).
    pub fn log(&self) -> String {
        fs::read_to_string(self.scratch.join("server.log")).unwrap_or_default()
    }

    /// Kill the server and wait for it to be gone; its data is kept (s3s-fs), the port
    /// is free again. Moto keeps data in memory, so a restarted moto is empty (the
    /// bucket is re-created).
    pub fn stop(&mut self) {
        if let Some((child, stdin)) = self.watchdog.take() {
            stop_watchdog(child, stdin);
        }
    }

    /// Start again on the same port after [`stop`](Self::stop).
    pub fn restart(&mut self) {
        assert!(self.watchdog.is_none(), "restart() needs stop() first");
        let mut last_err = String::new();
        // The old socket may take a moment to be released.
        for _ in 0..20 {
            match self.launch() {
                Ok(()) => {
                    if self.kind == Kind::Moto {
                        self.create_moto_bucket();
                    }
                    return;
                }
                Err(e) => last_err = e,
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!("could not restart {}: {last_err}", self.kind.name());
    }

    fn command_line(&self) -> Vec<String> {
        let port = self.addr.port().to_string();
        match self.kind {
            Kind::S3s => vec![
                program(self.kind).to_string_lossy().into_owned(),
                "--host".into(),
                "127.0.0.1".into(),
                "--port".into(),
                port,
                "--access-key".into(),
                self.access_key.clone(),
                "--secret-key".into(),
                self.secret_key.clone(),
                self.root.as_ref().unwrap().to_string_lossy().into_owned(),
            ],
            Kind::Moto => {
                vec![
                    program(self.kind).to_string_lossy().into_owned(),
                    "-m".into(),
                    "moto.server".into(),
                    "-H".into(),
                    "127.0.0.1".into(),
                    "-p".into(),
                    port,
                ]
            }
        }
    }

    /// Start the watchdog + server and wait until it answers HTTP.
    fn launch(&mut self) -> Result<(), String> {
        let _ = fs::remove_file(self.scratch.join(".orphaned"));
        let log_path = self.scratch.join("server.log");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("open {}: {e}", log_path.display()))?;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(WATCHDOG)
            .arg("watchdog")
            .arg(&self.scratch)
            .args(self.command_line())
            .stdin(Stdio::piped())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        // Keep the test's AWS settings (proxies, profiles) away from the servers.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("AWS_") || k.to_ascii_lowercase().ends_with("_proxy") {
                cmd.env_remove(&*k);
            }
        }
        let mut child = cmd.spawn().map_err(|e| format!("spawn sh watchdog: {e}"))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "{} exited early ({status}) on port {}; log:\n{}",
                    self.kind.name(),
                    self.addr.port(),
                    self.log()
                ));
            }
            if http::request(self.addr, "GET", "/", &[], &[], Duration::from_secs(2)).is_ok() {
                self.watchdog = Some((child, stdin));
                return Ok(());
            }
            if Instant::now() > deadline {
                stop_watchdog(child, stdin);
                return Err(format!(
                    "{} did not answer HTTP on {} within {READY_TIMEOUT:?}; log:\n{}",
                    self.kind.name(),
                    self.addr,
                    self.log()
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn create_moto_bucket(&self) {
        let r = http::request(
            self.addr,
            "PUT",
            &format!("/{BUCKET}"),
            &[("Authorization", &moto_dummy_authorization())],
            &[],
            Duration::from_secs(10),
        )
        .expect("moto: create bucket");
        assert_eq!(r.status, 200, "moto: create bucket: {}", r.text());
    }
}

/// Ask a watchdog to kill its server (a line on stdin: keep the scratch dir) and wait
/// until both are gone.
fn stop_watchdog(mut child: Child, mut stdin: ChildStdin) {
    let _ = stdin.write_all(b"stop\n");
    let _ = stdin.flush();
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.scratch);
    }
}

/// moto ignores signatures, but without any `Authorization` it treats requests as
/// anonymous: GET of an object is then 403, and a body sent without a Content-Type is
/// parsed as a form and stored empty. A syntactically valid dummy header avoids both.
pub fn moto_dummy_authorization() -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={}/20260101/{REGION}/s3/aws4_request, \
         SignedHeaders=host, Signature=0000000000000000000000000000000000000000000000000000000000000000",
        access_key()
    )
}

/// Raw, unsigned access to moto (reads and seeding), bypassing the product.
pub mod moto {
    use super::*;

    fn call(server: &Server, method: &str, target: &str, body: &[u8]) -> http::Response {
        let auth = moto_dummy_authorization();
        http::request(
            server.addr,
            method,
            target,
            &[("Authorization", auth.as_str()), ("Content-Type", "application/octet-stream")],
            body,
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("moto {method} {target}: {e}"))
    }

    /// Every key under `prefix`, in listing (byte) order; follows continuation tokens.
    pub fn list(server: &Server, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut target = format!("/{BUCKET}?list-type=2&prefix={}", http::encode_query(prefix));
            if let Some(t) = &token {
                target.push_str(&format!("&continuation-token={}", http::encode_query(t)));
            }
            let r = call(server, "GET", &target, &[]);
            assert_eq!(r.status, 200, "moto list {prefix}: {}", r.text());
            let xml = r.text();
            // Keys only appear inside <Contents>; <Key> is not used elsewhere here.
            keys.extend(http::xml_all(&xml, "Key"));
            if http::xml_first(&xml, "IsTruncated").as_deref() == Some("true") {
                token = http::xml_first(&xml, "NextContinuationToken");
                assert!(token.is_some(), "truncated listing without a token");
            } else {
                return keys;
            }
        }
    }

    /// The object's bytes, `None` if it does not exist.
    pub fn get(server: &Server, key: &str) -> Option<Vec<u8>> {
        let r = call(server, "GET", &format!("/{BUCKET}/{}", http::encode_path(key)), &[]);
        match r.status {
            200 => Some(r.body),
            404 => None,
            s => panic!("moto GET {key}: status {s}: {}", r.text()),
        }
    }

    /// Store an object.
    pub fn put(server: &Server, key: &str, bytes: &[u8]) {
        let r = call(server, "PUT", &format!("/{BUCKET}/{}", http::encode_path(key)), bytes);
        assert_eq!(r.status, 200, "moto PUT {key}: {}", r.text());
    }

    /// Delete an object (absent is fine).
    pub fn delete(server: &Server, key: &str) {
        let r = call(server, "DELETE", &format!("/{BUCKET}/{}", http::encode_path(key)), &[]);
        assert!(r.status == 204 || r.status == 200, "moto DELETE {key}: {}", r.text());
    }
}

/// Walk `dir` and return every regular file as a `/`-joined path relative to `dir`,
/// skipping names that start with `.` (temp files of atomic writes, s3s-fs internals).
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => walk(base, &path, out),
                Ok(t) if t.is_file() => {
                    let rel = path.strip_prefix(base).unwrap();
                    let parts: Vec<_> =
                        rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
                    out.push(parts.join("/"));
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Write `bytes` to `path`, creating parent directories.
pub fn write_file(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    let mut f = fs::File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    f.write_all(bytes).unwrap();
}
