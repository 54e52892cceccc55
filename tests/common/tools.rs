//! The outside programs the tests need, found one way each, and the rule that no test
//! passes by skipping.
//!
//! Each [`Tool`] is found through ONE environment variable (a path), else its usual place:
//!
//! | tool            | variable                        | else                                   |
//! |-----------------|---------------------------------|----------------------------------------|
//! | `s3s-fs`        | `TRACECRAFT_TEST_S3S_BIN`       | `PATH`, `$CARGO_HOME/bin`, `~/.cargo/bin` |
//! | `moto`          | `TRACECRAFT_TEST_PYTHON`        | `python3` (must import moto 5.2.5's server, flask, flask_cors) |
//! | `tracecraft-ai` | `TRACECRAFT_TEST_TRACECRAFT_PY` | `python3` (must import `tracecraft.cli`) |
//! | `claude`        | `TRACECRAFT_TEST_CLAUDE_BIN`    | `.ci/cache/npm/...` (where `.ci/test` installs it), `PATH` |
//! | `codex`         | `TRACECRAFT_TEST_CODEX_BIN`     | `.ci/cache/npm/...` (native binary of `@openai/codex`), `PATH` |
//! | `chromium`      | `TRACECRAFT_TEST_CHROMIUM_BIN`  | `chromium`, `chromium-browser` on `PATH` |
//! | `openssl`       | `TRACECRAFT_TEST_OPENSSL_BIN`   | `PATH`                                 |
//! | `ccusage`       | `TRACECRAFT_TEST_CCUSAGE_BIN`   | `.ci/cache/npm/node_modules/.bin/ccusage` (where `.ci/test` installs it), `PATH` |
//!
//! A test asks with [`require`]. A missing tool FAILS the test with a message naming the
//! tool and the command that installs it, unless the run opted out of that tool by name:
//! `TRACECRAFT_TEST_WITHOUT=claude,python` (names: `s3s-fs`, `moto`, `python` or
//! `tracecraft-ai`, `claude`, `codex`, `chromium`, `openssl`, `ccusage`). An opted-out tool is not used even
//! when installed; the test (or the part of it needing the tool) is skipped and recorded as
//! one line `<test binary>::<test name>\t<tool>` in `target/tmp/skipped.txt`, which
//! `.ci/test` lists at the end of the run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The variable naming the tools a run does without.
pub const WITHOUT_VAR: &str = "TRACECRAFT_TEST_WITHOUT";

/// An outside program some tests need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tool {
    /// s3s-fs 0.14.1, the SigV4-verifying S3 server.
    S3s,
    /// A Python 3 with moto 5.2.5's server (also runs the mock Messages API).
    Moto,
    /// A Python 3 with the Python CLI (PyPI `tracecraft-ai`).
    TracecraftPy,
    /// The Claude Code CLI (native binary).
    Claude,
    /// OpenAI's Codex CLI (native binary of npm `@openai/codex`).
    Codex,
    /// Headless Chromium.
    Chromium,
    /// The `openssl` command (certificates for the TLS test).
    Openssl,
    /// ccusage (npm), whose token totals `stats` must equal.
    Ccusage,
}

pub const ALL: [Tool; 8] = [
    Tool::S3s,
    Tool::Moto,
    Tool::TracecraftPy,
    Tool::Claude,
    Tool::Codex,
    Tool::Chromium,
    Tool::Openssl,
    Tool::Ccusage,
];

/// The ccusage version the equality test runs (the last pure-JavaScript release: later ones
/// ship a native binary per platform as an optional npm dependency).
pub const CCUSAGE_VERSION: &str = "17.2.1";

/// Where npm puts the native Claude Code binary under a prefix.
pub const NPM_CLAUDE: &str = "node_modules/@anthropic-ai/claude-code-linux-x64/claude";
/// The Codex CLI version the end-to-end tests are verified with (`.ci/tools.sh` installs it).
pub const CODEX_VERSION: &str = "0.171.0";
/// Where npm puts the native Codex binaries under a prefix (the optional platform package).
pub const NPM_CODEX: [&str; 2] = [
    "node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex",
    "node_modules/@openai/codex-linux-arm64/vendor/aarch64-unknown-linux-musl/bin/codex",
];

impl Tool {
    /// The name used in messages and in `TRACECRAFT_TEST_WITHOUT`.
    pub fn name(self) -> &'static str {
        match self {
            Tool::S3s => "s3s-fs",
            Tool::Moto => "moto",
            Tool::TracecraftPy => "tracecraft-ai",
            Tool::Claude => "claude",
            Tool::Codex => "codex",
            Tool::Chromium => "chromium",
            Tool::Openssl => "openssl",
            Tool::Ccusage => "ccusage",
        }
    }

    /// Other names accepted in `TRACECRAFT_TEST_WITHOUT`.
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Tool::S3s => &["s3s"],
            Tool::TracecraftPy => &["python", "tracecraft"],
            Tool::Claude => &["claude-code"],
            Tool::Codex => &["codex-cli"],
            _ => &[],
        }
    }

    /// The one variable that points at this tool.
    pub fn var(self) -> &'static str {
        match self {
            Tool::S3s => "TRACECRAFT_TEST_S3S_BIN",
            Tool::Moto => "TRACECRAFT_TEST_PYTHON",
            Tool::TracecraftPy => "TRACECRAFT_TEST_TRACECRAFT_PY",
            Tool::Claude => "TRACECRAFT_TEST_CLAUDE_BIN",
            Tool::Codex => "TRACECRAFT_TEST_CODEX_BIN",
            Tool::Chromium => "TRACECRAFT_TEST_CHROMIUM_BIN",
            Tool::Openssl => "TRACECRAFT_TEST_OPENSSL_BIN",
            Tool::Ccusage => "TRACECRAFT_TEST_CCUSAGE_BIN",
        }
    }

    /// The command that installs it.
    pub fn install(self) -> &'static str {
        match self {
            Tool::S3s => "cargo install s3s-fs --version 0.14.1 --features binary --locked",
            Tool::Moto => "python3 -m pip install \"moto[s3]==5.2.5\" flask flask-cors",
            Tool::TracecraftPy => "python3 -m pip install tracecraft-ai",
            Tool::Claude => "npm install --prefix .ci/cache/npm --no-audit --no-fund @anthropic-ai/claude-code",
            Tool::Codex => "npm install --prefix .ci/cache/npm --no-audit --no-fund --save-exact @openai/codex@0.171.0",
            Tool::Chromium => {
                "apt-get install -y chromium && npm install --prefix .ci/cache/npm --no-audit --no-fund playwright-core"
            }
            Tool::Openssl => "apt-get install -y openssl curl",
            Tool::Ccusage => "npm install --prefix .ci/cache/npm --no-audit --no-fund ccusage@17.2.1",
        }
    }

    /// Whether the run opted out of this tool (`TRACECRAFT_TEST_WITHOUT`).
    pub fn opted_out(self) -> bool {
        std::env::var_os(WITHOUT_VAR).is_some_and(|v| self.named_in(&v.to_string_lossy()))
    }

    /// Whether a `TRACECRAFT_TEST_WITHOUT` value (`claude,python`, `all`) names this tool.
    pub fn named_in(self, list: &str) -> bool {
        let list = list.to_ascii_lowercase();
        list.split([',', ' ']).map(str::trim).any(|w| w == "all" || w == self.name() || self.aliases().contains(&w))
    }

    /// The tool's path (a program; for the Python tools, the interpreter), `None` when not
    /// installed. No policy: see [`require`]. Looked up once per test process.
    pub fn find(self) -> Option<PathBuf> {
        static FOUND: OnceLock<Vec<Option<PathBuf>>> = OnceLock::new();
        let found = FOUND.get_or_init(|| ALL.iter().map(|t| t.locate()).collect());
        found[ALL.iter().position(|t| *t == self).unwrap()].clone()
    }

    fn locate(self) -> Option<PathBuf> {
        if let Some(p) = std::env::var_os(self.var()).filter(|v| !v.is_empty()) {
            // Named explicitly: that one or none (a wrong path must not fall back quietly).
            let p = PathBuf::from(p);
            let p = if p.components().count() == 1 { which(&p.to_string_lossy())? } else { p };
            return self.works(&p).then_some(p);
        }
        let candidates: Vec<PathBuf> = match self {
            Tool::S3s => {
                let mut v: Vec<PathBuf> = which("s3s-fs").into_iter().collect();
                if let Some(c) = std::env::var_os("CARGO_HOME") {
                    v.push(PathBuf::from(c).join("bin/s3s-fs"));
                }
                if let Some(h) = std::env::var_os("HOME") {
                    v.push(PathBuf::from(h).join(".cargo/bin/s3s-fs"));
                }
                v
            }
            Tool::Moto | Tool::TracecraftPy => which("python3").into_iter().collect(),
            Tool::Claude => {
                let mut v = vec![repo().join(".ci/cache/npm").join(NPM_CLAUDE)];
                v.extend(which("claude"));
                v
            }
            Tool::Codex => {
                let mut v: Vec<PathBuf> = NPM_CODEX.iter().map(|p| repo().join(".ci/cache/npm").join(p)).collect();
                v.extend(which("codex"));
                v
            }
            Tool::Chromium => {
                ["chromium", "chromium-browser", "google-chrome"].iter().filter_map(|n| which(n)).collect()
            }
            Tool::Openssl => which("openssl").into_iter().collect(),
            Tool::Ccusage => {
                let mut v = vec![repo().join(".ci/cache/npm/node_modules/.bin/ccusage")];
                v.extend(which("ccusage"));
                v
            }
        };
        candidates.into_iter().find(|p| self.works(p))
    }

    /// Whether `p` is this tool, ready to use.
    fn works(self, p: &Path) -> bool {
        if !is_executable(p) {
            return false;
        }
        let probe = |code: &str| {
            Command::new(p)
                .args(["-c", code])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        match self {
            Tool::Moto => probe("import moto.server, flask, flask_cors"),
            Tool::TracecraftPy => probe("import tracecraft.cli"),
            _ => true,
        }
    }
}

/// The tool's path when the test may go on; `None` when the run opted out of it (the
/// skip is then recorded, see the module documentation). Panics with the install command
/// when it is missing.
#[track_caller]
pub fn require(tool: Tool) -> Option<PathBuf> {
    if tool.opted_out() {
        record_skip(tool);
        return None;
    }
    Some(tool.find().unwrap_or_else(|| panic!("{}", missing_message(tool))))
}

/// Like [`require`] for a tool the caller reaches some other way (e.g. a server given by
/// endpoint): `false` (recorded) when opted out, else `true`.
pub fn wanted(tool: Tool) -> bool {
    if tool.opted_out() {
        record_skip(tool);
        return false;
    }
    true
}

/// What a test says when `tool` is missing.
pub fn missing_message(tool: Tool) -> String {
    let given = match std::env::var_os(tool.var()).filter(|v| !v.is_empty()) {
        Some(v) => format!(" ({}={} is not it)", tool.var(), v.to_string_lossy()),
        None => String::new(),
    };
    format!(
        "MISSING TEST TOOL: {name}{given} is needed by this test and was not found.\n\
         Install it with:\n    {install}\n\
         or point {var} at it; `bash .ci/test` installs every test tool and runs the suite.\n\
         To run without it on purpose, set {WITHOUT_VAR}={name} (the skipped tests are then listed).",
        name = tool.name(),
        install = tool.install(),
        var = tool.var(),
    )
}

/// The file skips are recorded in (`target/tmp/skipped.txt`).
pub fn skip_file() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("skipped.txt")
}

/// `<test binary>::<test name>` of the running test (libtest names each test's thread).
pub fn current_test() -> String {
    let exe = std::env::current_exe().ok();
    let binary = exe
        .as_deref()
        .and_then(Path::file_stem)
        .map(|s| s.to_string_lossy().into_owned())
        .map(|s| match s.rsplit_once('-') {
            Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_string(),
            _ => s,
        })
        .unwrap_or_else(|| "?".into());
    let thread = std::thread::current();
    let test = match thread.name() {
        Some(n) if n != "main" => n.to_string(),
        _ => format!("<unnamed test at {}>", std::panic::Location::caller()),
    };
    format!("{binary}::{test}")
}

/// Record that the running test skipped what needs `tool` (one line per test and tool).
#[track_caller]
pub fn record_skip(tool: Tool) {
    let line = format!("{}\t{}\n", current_test(), tool.name());
    let path = skip_file();
    let _ = std::fs::create_dir_all(path.parent().unwrap());
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(&path) {
        let _ = f.write_all(line.as_bytes());
    }
    // Past libtest's capture, so a plain `cargo test` shows it too.
    let _ = std::io::stderr()
        .write_all(format!("SKIPPED (opted out by {WITHOUT_VAR}): {}", line.replace('\t', " needs ")).as_bytes());
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `name` on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|c| is_executable(c)))
}
