//! CLI tests of `init`, `doctor` and `backfill`: the real binary with a temporary `HOME`,
//! and, where a bucket is needed, a real S3 server (s3s-fs, which verifies SigV4) started
//! by the test on a free 127.0.0.1 port and killed when the test ends.
//!
//! Each test owns its server (from the shared harness, `tests/common`) and its directories,
//! so they run in parallel.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use common::servers::{self, Kind, ServerProcess};
use common::{slug, Home};
use serde_json::{json, Value};

use common::home::BIN;
const ACCESS: &str = "tcaccesskey";
/// Must never appear in any output.
const SECRET: &str = "Zq9-s3cr3t-Pa55w0rd-7781";
const BUCKET: &str = "tc-bkt";

// ---------------------------------------------------------------------------------------
// Harness

/// s3s-fs on a free 127.0.0.1 port with bucket [`BUCKET`] and this file's credentials,
/// owned by the test; `None` when the run opted out of s3s-fs (recorded), a failure with the
/// install command when it is missing.
fn s3s() -> Option<ServerProcess> {
    if !servers::program_available(Kind::S3s) {
        return None;
    }
    let s3 = ServerProcess::spawn_with_keys(Kind::S3s, ACCESS, SECRET);
    fs::create_dir_all(s3.data_root().join(BUCKET)).unwrap();
    Some(s3)
}

/// How these tests run the binary in a [`Home`] (the shared temporary HOME).
trait Sandbox {
    /// The binary in `cwd` with a clean environment: HOME there, USER=tester.
    fn cmd_in(&self, cwd: &Path, args: &[&str]) -> Command;
    fn run(&self, cwd: &Path, args: &[&str]) -> Out;
}

impl Sandbox for Home {
    fn cmd_in(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut c = self.cmd(args);
        c.env("USER", "tester").current_dir(cwd);
        c
    }

    fn run(&self, cwd: &Path, args: &[&str]) -> Out {
        run(self.cmd_in(cwd, args))
    }
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

fn run(mut c: Command) -> Out {
    let o = c.output().unwrap();
    let out = Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(!out.all().contains(SECRET), "the secret key was printed:\n{out:?}");
    out
}

/// `1234` -> `1,234`, as the summaries print byte counts.
fn thousands(n: usize) -> String {
    common::thousands(n as u64)
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every regular file under `dir`, relative path -> bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.insert(p.strip_prefix(base).unwrap().to_string_lossy().into_owned(), fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The parts of a session (files under `session_dir` named like tracecraft parts),
/// concatenated in name order: what `tracecraft session show` replays.
fn replay(session_dir: &Path) -> Vec<u8> {
    let mut names: Vec<String> = fs::read_dir(session_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", session_dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("part-") && n.ends_with(".jsonl"))
        .collect();
    names.sort();
    names.iter().flat_map(|n| fs::read(session_dir.join(n)).unwrap()).collect()
}

fn write_config(dir: &Path, s3: &ServerProcess, project: &str) -> PathBuf {
    let p = dir.join(".tracecraft.json");
    let cfg = json!({"backend":"s3","endpoint":s3.endpoint(),"bucket":BUCKET,"project":project,
        "agent_id":"tester","access_key":ACCESS,"secret_key":SECRET});
    fs::write(&p, serde_json::to_string_pretty(&cfg).unwrap() + "\n").unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn init_args<'a>(endpoint: &'a str, bucket: &'a str) -> Vec<&'a str> {
    vec!["init", "--endpoint", endpoint, "--bucket", bucket, "--access-key", ACCESS, "--secret-key", SECRET]
}

// ---------------------------------------------------------------------------------------
// init

#[test]
fn init_writes_a_private_tracecraft_config_and_ignores_it_in_git_once() {
    let sb = Home::new();
    let Some(s3) = s3s() else { return };
    let repo = sb.scratch_dir("work/repo");
    fs::create_dir(repo.join(".git")).unwrap();
    fs::write(repo.join(".gitignore"), "target").unwrap(); // no trailing newline
    let proj = sb.scratch_dir("work/repo/my proj");

    // Credentials from the environment, project from the directory name, agent from $USER.
    let mut c = sb.cmd_in(&proj, &["init", "--endpoint", &s3.endpoint(), "--bucket", BUCKET]);
    c.env("AWS_ACCESS_KEY_ID", ACCESS).env("AWS_SECRET_ACCESS_KEY", SECRET);
    let out = run(c);
    assert_eq!(out.code, 0, "{out:?}");

    let file = proj.join(".tracecraft.json");
    let text = fs::read_to_string(&file).unwrap();
    assert!(text.ends_with("}\n") && text.contains("\n  \"backend\": \"s3\""), "pretty JSON + newline: {text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v,
        json!({"backend":"s3","endpoint":s3.endpoint(),"bucket":BUCKET,"project":"my-proj","agent_id":"tester",
            "access_key":ACCESS,"secret_key":SECRET})
    );
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["backend", "endpoint", "bucket", "project", "agent_id", "access_key", "secret_key"]);
    assert_eq!(mode(&file), 0o600);
    assert_eq!(fs::read_to_string(repo.join(".gitignore")).unwrap(), "target\n.tracecraft.json\n");
    assert!(out.stdout.contains(&file.display().to_string()), "{out:?}");
    assert!(out.stdout.contains(ACCESS), "the access key id is shown: {out:?}");

    // The probe object is gone again.
    let left: Vec<String> = snapshot(&s3.data_root().join(BUCKET)).into_keys().collect();
    assert!(left.is_empty(), "probe objects left behind: {left:?}");

    // --force rewrites, .gitignore is not touched twice; --region is written when given.
    let endpoint = s3.endpoint();
    let mut args = init_args(&endpoint, BUCKET);
    args.extend(["--force", "--project", "team/p1", "--agent", "bot", "--region", "us-east-1"]);
    let out = sb.run(&proj, &args);
    assert_eq!(out.code, 0, "{out:?}");
    let v: Value = serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        (v["project"].as_str(), v["agent_id"].as_str(), v["region"].as_str()),
        (Some("team/p1"), Some("bot"), Some("us-east-1"))
    );
    assert_eq!(fs::read_to_string(repo.join(".gitignore")).unwrap(), "target\n.tracecraft.json\n");
}

#[test]
fn init_global_writes_home_config() {
    let sb = Home::new();
    let Some(s3) = s3s() else { return };
    let proj = sb.scratch_dir("work/p");
    let endpoint = s3.endpoint();
    let mut args = init_args(&endpoint, BUCKET);
    args.push("--global");
    let out = sb.run(&proj, &args);
    assert_eq!(out.code, 0, "{out:?}");
    let file = sb.path().join(".tracecraft/config.json");
    assert_eq!(mode(&file), 0o600);
    assert!(!proj.join(".tracecraft.json").exists());
    assert!(!proj.join(".gitignore").exists());
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let sb = Home::new();
    let proj = sb.scratch_dir("work/p");
    fs::write(proj.join(".tracecraft.json"), "{\"keep\":true}\n").unwrap();
    let out = sb.run(&proj, &init_args("http://127.0.0.1:9", BUCKET));
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("already exists") && out.stderr.contains("--force"), "{out:?}");
    assert_eq!(fs::read_to_string(proj.join(".tracecraft.json")).unwrap(), "{\"keep\":true}\n");
}

#[test]
fn init_failures_name_the_problem_and_write_nothing() {
    let sb = Home::new();
    let Some(s3) = s3s() else { return };
    let proj = sb.scratch_dir("work/p");
    fs::create_dir(proj.join(".git")).unwrap();
    let nothing_written = |out: &Out| {
        assert_eq!(out.code, 1, "{out:?}");
        assert!(out.stderr.contains("nothing was written"), "{out:?}");
        assert!(!proj.join(".tracecraft.json").exists(), "config written despite: {out:?}");
        assert!(!proj.join(".gitignore").exists(), ".gitignore written despite: {out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "one error line: {out:?}");
    };

    // Nothing listens there.
    let dead = format!("http://127.0.0.1:{}", servers::free_port());
    let out = sb.run(&proj, &init_args(&dead, BUCKET));
    nothing_written(&out);
    assert!(out.stderr.contains(&format!("cannot reach {dead} (connection refused)")), "{out:?}");

    // Wrong secret: the server verifies the signature.
    let mut c = sb.cmd_in(&proj, &["init", "--endpoint", &s3.endpoint(), "--bucket", BUCKET]);
    c.env("AWS_ACCESS_KEY_ID", ACCESS).env("AWS_SECRET_ACCESS_KEY", "not-the-right-one");
    let out = run(c);
    nothing_written(&out);
    assert!(out.stderr.contains(&format!("credentials rejected by {}", s3.endpoint())), "{out:?}");
    assert!(out.stderr.contains("HTTP 403"), "{out:?}");

    // Missing bucket without --create-bucket.
    let out = sb.run(&proj, &init_args(&s3.endpoint(), "tc-missing"));
    nothing_written(&out);
    assert!(
        out.stderr.contains(&format!("bucket tc-missing does not exist at {} (use --create-bucket)", s3.endpoint())),
        "{out:?}"
    );
    assert!(!s3.data_root().join("tc-missing").exists());

    // No credentials at all.
    let out = sb.run(&proj, &["init", "--endpoint", &s3.endpoint(), "--bucket", BUCKET]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("AWS_ACCESS_KEY_ID"), "{out:?}");
    assert!(!proj.join(".tracecraft.json").exists());

    // With --create-bucket it works and the bucket exists afterwards.
    let endpoint = s3.endpoint();
    let mut args = init_args(&endpoint, "tc-missing");
    args.push("--create-bucket");
    let out = sb.run(&proj, &args);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("created"), "{out:?}");
    assert!(s3.data_root().join("tc-missing").is_dir());
    assert!(proj.join(".tracecraft.json").is_file());
    assert_eq!(fs::read_to_string(proj.join(".gitignore")).unwrap(), ".tracecraft.json\n");
}

// ---------------------------------------------------------------------------------------
// doctor

#[test]
fn doctor_passes_on_a_healthy_setup_and_fails_on_broken_ones() {
    let sb = Home::new();
    let Some(s3) = s3s() else { return };
    let endpoint = s3.endpoint();
    let mut s3 = Some(s3);
    let proj = sb.scratch_dir("work/p");
    let out = sb.run(&proj, &init_args(&endpoint, BUCKET));
    assert_eq!(out.code, 0, "{out:?}");
    let out = sb.run(&proj, &["install"]);
    assert_eq!(out.code, 0, "{out:?}");

    let out = sb.run(&proj, &["doctor"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!out.stdout.contains("FAIL") && !out.stdout.contains("WARN"), "{out:?}");
    // The access key id is shown masked, never whole (issue #12).
    assert!(!out.stdout.contains(ACCESS), "{out:?}");
    assert!(out.stdout.contains(&format!("access key {}…", &ACCESS[..4])), "{out:?}");
    assert!(out.stdout.contains("clock"), "{out:?}");
    assert!(out.stdout.contains("registered in"), "{out:?}");

    // World-readable config with credentials.
    let file = proj.join(".tracecraft.json");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let out = sb.run(&proj, &["doctor"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains(&format!("chmod 600 {}", file.display())), "{out:?}");
    assert!(out.stdout.lines().any(|l| l.starts_with("FAIL") && l.contains("readable by others")), "{out:?}");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();

    // Bucket missing.
    let mut v: Value = serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
    v["bucket"] = json!("tc-gone");
    fs::write(&file, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    // An edited project file needs approval again (issue #12): doctor says so.
    let out = sb.run(&proj, &["doctor"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("changed since you approved it"), "{out:?}");
    assert_eq!(sb.run(&proj, &["trust"]).code, 0);
    let out = sb.run(&proj, &["doctor"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains(&format!("bucket tc-gone does not exist at {endpoint}")), "{out:?}");
    assert!(out.stdout.contains("--create-bucket"), "{out:?}");
    v["bucket"] = json!(BUCKET);
    fs::write(&file, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    assert_eq!(sb.run(&proj, &["trust"]).code, 0);

    // Wrong secret.
    let mut c = sb.cmd_in(&proj, &["doctor"]);
    c.env("AWS_SECRET_ACCESS_KEY", "not-the-right-one");
    let out = run(c);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains(&format!("credentials rejected by {endpoint}")), "{out:?}");
    assert!(out.stdout.contains("AWS_SECRET_ACCESS_KEY"), "the override is named: {out:?}");

    // Server down.
    drop(s3.take());
    let out = sb.run(&proj, &["doctor"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains(&format!("cannot reach {endpoint}")), "{out:?}");
    assert!(out.stderr.contains("problem"), "{out:?}");
}

#[test]
fn doctor_warns_without_hooks_and_fails_on_a_missing_hook_binary() {
    let sb = Home::new();
    let proj = sb.scratch_dir("work/p");

    // No config, no settings: embedded store, a warning, still healthy.
    let out = sb.run(&proj, &["doctor"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("none: embedded store at"), "{out:?}");
    let warn = out.stdout.lines().find(|l| l.starts_with("WARN") && l.contains("hooks")).unwrap_or_default();
    assert!(warn.contains("not registered") && warn.contains("tracecraft-hook install"), "{out:?}");

    // A handler whose binary is gone.
    let settings = sb.scratch_dir("home/.claude").join("settings.json");
    let v =
        json!({"hooks":{"Stop":[{"hooks":[{"type":"command","command":"/nonexistent/bin/tracecraft-hook hook"}]}]}});
    fs::write(&settings, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let out = sb.run(&proj, &["doctor"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout.lines().any(|l| l.starts_with("FAIL") && l.contains("/nonexistent/bin/tracecraft-hook")),
        "{out:?}"
    );
    assert!(out.stdout.contains("not registered for SessionStart"), "{out:?}");

    // Registered in settings and enabled as a plugin: events run twice.
    let v = json!({"enabledPlugins":{"tracecraft-hook@tc":true},
        "hooks":{"Stop":[{"hooks":[{"type":"command","command":format!("{BIN} hook")}]}]}});
    fs::write(&settings, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let out = sb.run(&proj, &["doctor"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.lines().any(|l| l.starts_with("WARN") && l.contains("run twice")), "{out:?}");
}

// ---------------------------------------------------------------------------------------
// backfill

/// A transcript of `n` complete lines recording `cwd`, plus an optional partial last line.
fn transcript(cwd: &Path, id: &str, n: usize, partial: bool) -> String {
    let mut s = String::from("{\"type\":\"summary\",\"summary\":\"a chat\"}\n");
    for i in 0..n {
        s.push_str(
            &json!({"type":"user","cwd":cwd,"sessionId":id,"message":{"role":"user","content":format!("hello number {i}")}})
                .to_string(),
        );
        s.push('\n');
    }
    if partial {
        s.push_str("{\"type\":\"assistant\",\"message\":{\"content\":\"half a li");
    }
    s
}

/// Write `<projects>/<slug(cwd)>/<id>.jsonl`; returns its path.
fn put_transcript(projects: &Path, cwd: &Path, id: &str, body: &str) -> PathBuf {
    let dir = projects.join(slug(cwd));
    fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{id}.jsonl"));
    fs::write(&p, body).unwrap();
    p
}

fn age(p: &Path, days: u64) {
    let f = fs::File::options().write(true).open(p).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(days * 86_400)).unwrap();
}

#[test]
fn backfill_mirrors_every_session_once_to_its_own_destination() {
    let sb = Home::new();
    let Some(s3) = s3s() else { return };
    let alpha = sb.scratch_dir("work/alpha"); // has its own config -> s3s-fs, project alpha
    let beta = sb.scratch_dir("work/beta"); // no config -> embedded store, project default
    write_config(&alpha, &s3, "alpha");
    assert_eq!(sb.run(&alpha, &["trust"]).code, 0, "a project config needs approval (issue #12)");
    let projects = sb.path().join(".claude/projects");

    let a1 = transcript(&alpha, "a1", 3, false);
    let a2 = transcript(&alpha, "a2", 2, true); // live: the partial line waits
    let b1 = transcript(&beta, "b1", 4, false);
    let b2 = transcript(&beta, "b2", 2, true); // idle for days: finalised, partial line sent
    let pa1 = put_transcript(&projects, &alpha, "a1", &a1);
    put_transcript(&projects, &alpha, "a2", &a2);
    put_transcript(&projects, &beta, "b1", &b1);
    let pb2 = put_transcript(&projects, &beta, "b2", &b2);
    age(&pb2, 3);
    // A subagent transcript goes with its session (as `b1.agent-y`); an agent-*.jsonl file
    // that names no session is not a session of its own.
    put_transcript(&projects, &beta, "agent-x1", &transcript(&beta, "agent-x1", 1, false));
    let sub = projects.join(slug(&beta)).join("b1/subagents");
    fs::create_dir_all(&sub).unwrap();
    let y = transcript(&beta, "y", 1, false);
    fs::write(sub.join("agent-y.jsonl"), &y).unwrap();

    let s3_sessions = s3.data_root().join(BUCKET).join("alpha/sessions/claude-code");
    let local_root = sb.path().join(".tracecraft/store");
    let local_sessions = local_root.join("default/sessions/claude-code");
    let other = sb.scratch_dir("work/elsewhere");

    // Dry run: lists, sends nothing, writes nothing.
    let out = sb.run(&other, &["backfill", "--all-projects", "--dry-run"]);
    assert_eq!(out.code, 0, "{out:?}");
    for id in ["a1", "a2", "b1", "b2"] {
        assert!(out.stdout.contains(&format!("would send {id} ")), "{id}: {out:?}");
    }
    assert!(out.stdout.contains("would send b1.agent-y ("), "{out:?}");
    assert!(!out.stdout.contains("would send agent-"), "{out:?}");
    let a2_complete = a2.rfind('\n').unwrap() + 1;
    assert!(out.stdout.contains(&format!("would send a2 ({} bytes)", thousands(a2_complete))), "{out:?}");
    assert!(out.stdout.contains("would backfill 2 sessions"), "{out:?}");
    assert!(!local_root.exists() && !s3_sessions.exists(), "dry run wrote to a store");
    assert!(!sb.path().join(".tracecraft/state").exists(), "dry run wrote state");

    // The real run.
    let out = sb.run(&other, &["backfill", "--all-projects"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stderr, "", "no progress noise when stderr is not a terminal");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    assert!(
        lines.iter().any(|l| l.starts_with(&format!(
            "backfilled 2 sessions ({} bytes) to s3 {} bucket {BUCKET} project alpha; 0 already complete; 0 errors",
            thousands(a1.len() + a2_complete),
            s3.endpoint()
        ))),
        "{out:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with(&format!(
            "backfilled 2 sessions and 1 subagent ({} bytes) to local store",
            thousands(b1.len() + b2.len() + y.len())
        ))),
        "{out:?}"
    );
    assert_eq!(replay(&s3_sessions.join("a1")), a1.as_bytes());
    assert_eq!(replay(&s3_sessions.join("a2")), &a2.as_bytes()[..a2_complete]);
    assert_eq!(replay(&local_sessions.join("b1")), b1.as_bytes());
    assert_eq!(replay(&local_sessions.join("b2")), b2.as_bytes());
    assert!(!s3_sessions.join("b1").exists() && !local_sessions.join("a1").exists(), "wrong destination");
    assert!(!local_sessions.join("agent-x1").exists() && !local_sessions.join("y").exists());
    assert_eq!(replay(&local_sessions.join("b1.agent-y")), y.as_bytes());
    let meta = |p: PathBuf| -> Value { serde_json::from_slice(&fs::read(p).unwrap()).unwrap() };
    assert!(meta(local_sessions.join("b2/meta.json"))["ended_at"].is_string(), "idle session finalised");
    assert!(meta(local_sessions.join("b1/meta.json"))["ended_at"].is_null(), "fresh session left open");
    assert_eq!(meta(s3_sessions.join("a1/meta.json"))["cwd"], json!(alpha));

    let before = (snapshot(&s3.data_root().join(BUCKET)), snapshot(&local_root));

    // A second run sends nothing.
    let out = sb.run(&other, &["backfill", "--all-projects"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.matches("backfilled 0 sessions (0 bytes)").count(), 2, "{out:?}");
    assert_eq!((snapshot(&s3.data_root().join(BUCKET)), snapshot(&local_root)), before);

    // Without local state: recovered from meta.json, still nothing re-sent, no duplicate.
    fs::remove_dir_all(sb.path().join(".tracecraft/state")).unwrap();
    let out = sb.run(&other, &["backfill", "--all-projects"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.matches("backfilled 0 sessions (0 bytes)").count(), 2, "{out:?}");
    assert!(out.stdout.contains("2 already complete"), "{out:?}");
    assert_eq!((snapshot(&s3.data_root().join(BUCKET)), snapshot(&local_root)), before);

    // New lines: only they are sent.
    let more = transcript(&alpha, "a1", 5, false);
    let grown = format!("{a1}{}", &more[a1.len()..]);
    fs::write(&pa1, &grown).unwrap();
    let out = sb.run(&alpha, &["backfill"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains(&format!("backfilled 1 session ({} bytes)", thousands(grown.len() - a1.len()))),
        "{out:?}"
    );
    assert_eq!(replay(&s3_sessions.join("a1")), grown.as_bytes());
}

#[test]
fn backfill_honours_claude_config_dir_and_cwd_and_survives_a_bad_session() {
    let sb = Home::new();
    let cc = sb.scratch_dir("claude-cfg");
    let projects = cc.join("projects");
    let alpha = sb.scratch_dir("work/alpha");
    let beta = sb.scratch_dir("work/beta");
    let gamma = sb.scratch_dir("work/gamma");
    fs::write(gamma.join(".tracecraft.json"), "{not json").unwrap();
    let a = transcript(&alpha, "sa", 2, false);
    let b = transcript(&beta, "sb", 3, false);
    put_transcript(&projects, &alpha, "sa", &a);
    put_transcript(&projects, &beta, "sb", &b);
    put_transcript(&projects, &gamma, "sg", &transcript(&gamma, "sg", 1, false));
    let sessions = sb.path().join(".tracecraft/store/default/sessions/claude-code");
    let with_cc = |cwd: &Path, args: &[&str]| {
        let mut c = sb.cmd_in(cwd, args);
        c.env("CLAUDE_CONFIG_DIR", &cc);
        run(c)
    };

    // --cwd: only that project.
    let out = with_cc(&alpha, &["backfill", "--cwd", beta.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(replay(&sessions.join("sb")), b.as_bytes());
    assert!(!sessions.join("sa").exists());

    // Default: the current directory's project.
    let out = with_cc(&alpha, &["backfill"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(replay(&sessions.join("sa")), a.as_bytes());

    // A session whose config is broken fails alone; the others are fine; exit 1.
    let out = with_cc(&alpha, &["backfill", "--all-projects"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("sg") && out.stderr.contains(".tracecraft.json"), "{out:?}");
    assert!(
        out.stdout.contains("backfilled 0 sessions (0 bytes)") && out.stdout.contains("2 already complete"),
        "{out:?}"
    );
    assert!(!sessions.join("sg").exists());

    // Nothing to do for a directory without transcripts.
    let out = with_cc(&sb.scratch_dir("work/empty"), &["backfill"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("no transcripts found"), "{out:?}");
}

/// Issue 16: a config file that is not JSON gets one verdict (FAIL), not `ok config (mode
/// 600)` followed by `FAIL config: not valid JSON`.
#[test]
fn doctor_gives_one_verdict_for_a_broken_config_file() {
    let sb = Home::new();
    let proj = sb.scratch_dir("work/p");
    let cfg = sb.path().join(".tracecraft/config.json");
    fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    fs::write(&cfg, "{\"backend\": \"s3\", oops").unwrap();
    fs::set_permissions(&cfg, fs::Permissions::from_mode(0o600)).unwrap();
    let out = sb.run(&proj, &["doctor"]);
    assert_eq!(out.code, 1, "{out:?}");
    let verdicts: Vec<&str> =
        out.stdout.lines().filter(|l| l.split_whitespace().nth(1).is_some_and(|w| w.starts_with("config"))).collect();
    assert_eq!(verdicts.len(), 1, "one verdict for the file: {out:?}");
    assert!(verdicts[0].starts_with("FAIL"), "{out:?}");
}

// ---------------------------------------------------------------------------------------
// install / uninstall

/// Issue 16: with no settings.json before install, uninstall leaves neither `{}` nor a `.bak`.
#[test]
fn uninstall_removes_the_settings_file_install_created() {
    let sb = Home::new();
    let proj = sb.scratch_dir("work/p");
    let settings = sb.path().join(".claude/settings.json");
    let bak = sb.path().join(".claude/settings.json.bak");
    // A `.bak` from an earlier life must not be taken for this file's original.
    fs::create_dir_all(settings.parent().unwrap()).unwrap();
    fs::write(&bak, "{\"old\": true}\n").unwrap();
    let out = sb.run(&proj, &["install"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(settings.is_file());
    let out = sb.run(&proj, &["uninstall"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!settings.exists(), "uninstall left {:?}", fs::read_to_string(&settings));
    assert!(!bak.exists(), "uninstall left a stale .bak: {:?}", fs::read_to_string(&bak));
}

/// Issue 16: a hand-formatted settings.json comes back byte for byte, and its `.bak` holds the
/// user's original, never an installed version (also across a second install).
#[test]
fn uninstall_restores_a_hand_formatted_settings_file_exactly() {
    let sb = Home::new();
    let proj = sb.scratch_dir("work/p");
    let settings = sb.path().join(".claude/settings.json");
    let bak = sb.path().join(".claude/settings.json.bak");
    let original = "{\n    \"model\":   \"opus\",\n\t\"hooks\": { \"Stop\": [ { \"hooks\": [ {\"type\": \"command\", \
                    \"command\": \"echo mine\"} ] } ] } ,\n  \"theme\": \"dark\"   }\n";
    fs::create_dir_all(settings.parent().unwrap()).unwrap();
    fs::write(&settings, original).unwrap();
    assert_eq!(sb.run(&proj, &["install"]).code, 0);
    assert_ne!(fs::read_to_string(&settings).unwrap(), original);
    assert_eq!(fs::read_to_string(&bak).unwrap(), original, ".bak holds the user's original");
    // Installed again from another path (e.g. after a move): still the original in .bak.
    let moved = sb.scratch("bin/tracecraft-hook");
    fs::create_dir_all(moved.parent().unwrap()).unwrap();
    fs::copy(BIN, &moved).unwrap();
    // The same clean environment as `sb.cmd`, with the moved binary.
    let c = sb.cmd_in(&proj, &["install"]);
    let mut c2 = Command::new(&moved);
    c2.args(c.get_args()).current_dir(&proj).stdin(Stdio::null());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => c2.env(k, v),
            None => c2.env_remove(k),
        };
    }
    let out = run(c2);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(fs::read_to_string(&settings).unwrap().contains(moved.to_str().unwrap()), "{out:?}");
    assert_eq!(fs::read_to_string(&bak).unwrap(), original, ".bak still holds the user's original");
    let out = sb.run(&proj, &["uninstall"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(fs::read_to_string(&settings).unwrap(), original, "the user's exact bytes: {out:?}");
    assert_eq!(fs::read_to_string(&bak).unwrap(), original);
}

/// Issue 16: a session whose hook failed to upload is not "nothing pending" in `doctor`; once
/// a hook succeeds again, it is.
#[test]
fn doctor_reports_a_session_whose_hook_failed_to_upload() {
    let sb = Home::new();
    let proj = sb.scratch_dir("work/p");
    let cfg = sb.path().join(".tracecraft/config.json");
    fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    let dead = format!("http://127.0.0.1:{}", servers::free_port());
    let v =
        json!({"backend":"s3","endpoint":dead,"bucket":BUCKET,"project":"p","access_key":ACCESS,"secret_key":SECRET});
    fs::write(&cfg, v.to_string()).unwrap();
    fs::set_permissions(&cfg, fs::Permissions::from_mode(0o600)).unwrap();
    let id = "a1b2c3d4-0000-4000-8000-00000000f00d";
    let t = put_transcript(&sb.path().join(".claude/projects"), &proj, id, &transcript(&proj, id, 2, false));
    let hook = |sb: &Home| {
        let payload = json!({"session_id": id, "transcript_path": t, "cwd": proj, "hook_event_name": "Stop"});
        let mut c = sb.cmd_in(&proj, &["hook"]);
        c.env("TRACECRAFT_HOOK_INLINE", "1").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), payload.to_string().as_bytes()).unwrap();
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "hook mode always exits 0");
        assert!(o.stdout.is_empty());
    };
    hook(&sb);
    let out = sb.run(&proj, &["doctor"]);
    assert!(!out.stdout.contains("nothing pending"), "{out:?}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("sessions"))
        .unwrap_or_else(|| panic!("{out:?}"));
    assert!(line.starts_with("WARN") && line.contains("failed to upload"), "{out:?}");
    assert!(out.stdout.contains(&format!("{id}: ")) && out.stdout.contains("127.0.0.1"), "{out:?}");

    // The endpoint works again (here: the embedded store); the flush doctor suggests sends it.
    fs::remove_file(&cfg).unwrap();
    let out = sb.run(&proj, &["flush", "--session-id", id]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = sb.run(&proj, &["doctor"]);
    assert!(out.stdout.contains("1 tracked, nothing pending"), "{out:?}");
    // Failed again, then a hook that succeeds: reported, then clear.
    fs::write(&cfg, v.to_string()).unwrap();
    fs::set_permissions(&cfg, fs::Permissions::from_mode(0o600)).unwrap();
    fs::OpenOptions::new().append(true).open(&t).unwrap().write_all(b"{\"type\":\"user\"}\n").unwrap();
    hook(&sb);
    assert!(sb.run(&proj, &["doctor"]).stdout.contains("failed to upload"));
    fs::remove_file(&cfg).unwrap();
    hook(&sb);
    let out = sb.run(&proj, &["doctor"]);
    assert!(out.stdout.contains("1 tracked, nothing pending"), "{out:?}");
}
