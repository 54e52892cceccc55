//! `follow`, session discovery and orphan finishing, through the real binary with `HOME` in
//! a temporary directory (no config: the embedded store under `$HOME/.tracecraft/store`),
//! plus one test against a real S3 server (s3s-fs) that is killed and restarted.
//!
//! Every wait polls with a generous deadline (loaded 2-core CI machines); every process a
//! test starts is killed by a `Drop` guard, also when the test panics.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use common::servers::{self, Kind, ServerProcess};
use common::{slug, Home};
use serde_json::{json, Value};

/// Upper bound for anything a test waits for; normally reached in well under a second.
const DEADLINE: Duration = Duration::from_secs(90);

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}
const SIGTERM: i32 = 15;

// ---------------------------------------------------------------- helpers

/// What these tests do in a [`Home`] (the shared temporary HOME; no config, so the embedded
/// store under `$HOME/.tracecraft/store`).
trait FollowHome {
    /// A project directory `$HOME/work/<rel>` (created).
    fn project(&self, rel: &str) -> PathBuf;
    fn run(&self, args: &[&str]) -> Output;
    fn spawn(&self, args: &[&str], cwd: &Path) -> Running;
    fn store_dir(&self, id: &str) -> PathBuf;
    fn replay(&self, id: &str) -> Vec<u8>;
    fn meta(&self, id: &str) -> Value;
}

impl FollowHome for Home {
    fn project(&self, rel: &str) -> PathBuf {
        self.dir(&format!("work/{rel}"))
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn spawn(&self, args: &[&str], cwd: &Path) -> Running {
        let mut c = self.cmd(args);
        c.current_dir(cwd);
        Running::spawn(c)
    }

    fn store_dir(&self, id: &str) -> PathBuf {
        self.path().join(".tracecraft/store/default/sessions/claude-code").join(id)
    }

    fn replay(&self, id: &str) -> Vec<u8> {
        replay_dir(&self.store_dir(id))
    }

    fn meta(&self, id: &str) -> Value {
        let p = self.store_dir(id).join("meta.json");
        serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
    }
}

/// Python tracecraft's (wrong) slug: runs of other characters collapse into one `-`.
fn collapsed_slug(p: &Path) -> String {
    let mut out = String::new();
    for c in p.to_string_lossy().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out
}

/// The concatenation of a session's parts in name order (tracecraft's replay).
fn replay_dir(dir: &Path) -> Vec<u8> {
    let re = regex::Regex::new(r"^part-\d{5}-[a-f0-9]{8}\.jsonl$").unwrap();
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => {
            rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| re.is_match(n)).collect()
        }
        Err(_) => Vec::new(),
    };
    names.sort();
    let mut out = Vec::new();
    for n in names {
        out.extend(std::fs::read(dir.join(n)).unwrap());
    }
    out
}

/// One transcript line recording `cwd` (nothing in it looks like a credential).
fn line(cwd: &Path, n: usize) -> String {
    let v = json!({
        "type": "user",
        "cwd": cwd,
        "uuid": format!("line-{n}"),
        "message": {"role": "user", "content": format!("hello number {n}")},
    });
    format!("{v}\n")
}

fn write_file(p: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

fn append(p: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().append(true).open(p).unwrap();
    f.write_all(bytes).unwrap();
}

/// Pretend `p` was last modified `ago` ago.
fn age(p: &Path, ago: Duration) {
    let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
    f.set_modified(SystemTime::now() - ago).unwrap();
}

/// Poll `cond` until it holds; panic with `what` and `detail()` at the deadline.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool, detail: impl Fn() -> String) {
    let end = Instant::now() + DEADLINE;
    while !cond() {
        if Instant::now() > end {
            panic!("timed out waiting for {what}\n{}", detail());
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A child process with its stdout and stderr collected by threads; killed on drop.
struct Running {
    child: Child,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
    readers: Vec<thread::JoinHandle<()>>,
}

impl Running {
    fn spawn(mut c: Command) -> Running {
        let mut child = c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        let err = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        let so = child.stdout.take().unwrap();
        let o = out.clone();
        readers.push(thread::spawn(move || {
            for l in BufReader::new(so).lines().map_while(|l| l.ok()) {
                o.lock().unwrap().push_str(&format!("{l}\n"));
            }
        }));
        let mut se = child.stderr.take().unwrap();
        let e = err.clone();
        readers.push(thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = se.read(&mut buf) {
                if n == 0 {
                    break;
                }
                e.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }));
        Running { child, out, err, readers }
    }

    fn stdout(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }

    fn lines(&self) -> Vec<String> {
        self.stdout().lines().map(str::to_string).collect()
    }

    fn detail(&self) -> String {
        format!("--- stdout:\n{}--- stderr:\n{}", self.stdout(), self.stderr())
    }

    /// Wait until stdout has a line satisfying `pred`.
    fn wait_line(&self, what: &str, pred: impl Fn(&str) -> bool) {
        wait_for(what, || self.lines().iter().any(|l| pred(l)), || self.detail());
    }

    /// Wait until `n` stdout lines satisfy `pred`.
    fn wait_count(&self, what: &str, n: usize, pred: impl Fn(&str) -> bool) {
        wait_for(what, || self.lines().iter().filter(|l| pred(l)).count() >= n, || self.detail());
    }

    fn wait_stderr(&self, what: &str, needle: &str) {
        wait_for(what, || self.stderr().contains(needle), || self.detail());
    }

    /// SIGTERM, then wait for the exit (and the output readers).
    fn terminate(&mut self) -> ExitStatus {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            kill(self.child.id() as i32, SIGTERM);
        }
        let end = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > end {
                panic!("process did not stop after SIGTERM\n{}", self.detail());
            }
            thread::sleep(Duration::from_millis(20));
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        status
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `uploaded <id>: N bytes ...` -> N.
fn uploaded_bytes(l: &str, id: &str) -> Option<u64> {
    let rest = l.strip_prefix(&format!("uploaded {id}: "))?;
    rest.split(' ').next()?.parse().ok()
}

fn is_upload(id: &str) -> impl Fn(&str) -> bool + '_ {
    move |l: &str| uploaded_bytes(l, id).is_some()
}

// ---------------------------------------------------------------- tests

#[test]
fn follow_stops_on_sigterm_with_a_final_flush_and_ended_at() {
    let h = Home::new();
    let proj = h.project("proj");
    let id = "a1b2c3d4-0000-4000-8000-000000000001";
    let t = h.transcript_dir(&proj).join(format!("{id}.jsonl"));
    let mut body = String::new();
    for n in 0..3 {
        body.push_str(&line(&proj, n));
    }
    let complete = body.len() as u64;
    body.push_str("{\"type\":\"assistant\",\"text\":\"cut off mid"); // partial last line
    write_file(&t, body.as_bytes());

    // No session given: the most recent session of the current directory.
    let mut f = h.spawn(&["follow", "--interval", "0.2"], &proj);
    f.wait_line("the first upload", |l| uploaded_bytes(l, id) == Some(complete));
    let status = f.terminate();
    assert!(status.success(), "{status:?}\n{}", f.detail());

    assert_eq!(text(&h.replay(id)), body, "replay must equal the transcript, partial line included");
    let meta = h.meta(id);
    assert!(meta["ended_at"].is_string(), "{meta:#}");
    assert_eq!(meta["end_reason"], "follow-stop");
    let lines = f.lines();
    assert_eq!(lines.last().map(String::as_str), Some(format!("stopped: {id} marked ended").as_str()), "{lines:?}");
}

#[test]
fn follow_uploads_appended_lines_one_line_per_upload_and_is_silent_when_idle() {
    let h = Home::new();
    let proj = h.project("proj");
    let id = "sess-append";
    let t = h.transcript_dir(&proj).join(format!("{id}.jsonl"));
    write_file(&t, format!("{}{}", line(&proj, 0), line(&proj, 1)).as_bytes());

    let mut f = h.spawn(&["follow", "--interval", "0.2", "--session-id", id, "--cwd", proj.to_str().unwrap()], &proj);
    f.wait_count("upload 1", 1, is_upload(id));
    for n in 2..4 {
        append(&t, line(&proj, n).as_bytes());
        f.wait_count(&format!("the upload of line {n}"), n, is_upload(id));
    }
    // Several idle cycles: nothing printed.
    let before = f.lines().len();
    thread::sleep(Duration::from_millis(1200));
    assert_eq!(f.lines().len(), before, "idle cycles must print nothing\n{}", f.detail());

    assert!(f.terminate().success(), "{}", f.detail());
    let lines = f.lines();
    assert_eq!(lines.len(), 4, "3 uploads + the stop line: {lines:?}");
    assert!(lines[..3].iter().all(|l| is_upload(id)(l)), "{lines:?}");
    let total: u64 = lines[..3].iter().filter_map(|l| uploaded_bytes(l, id)).sum();
    assert_eq!(total, std::fs::metadata(&t).unwrap().len());
    assert_eq!(h.replay(id), std::fs::read(&t).unwrap());
}

#[test]
fn follow_all_picks_up_new_sessions_and_coexists_with_concurrent_flushes() {
    let h = Home::new();
    let proj = h.project("proj");
    let dir = h.transcript_dir(&proj);
    let (a, b) = ("sess-a", "sess-b");
    let ta = dir.join(format!("{a}.jsonl"));
    let tb = dir.join(format!("{b}.jsonl"));
    write_file(&ta, format!("{}{}", line(&proj, 0), line(&proj, 1)).as_bytes());

    let p = proj.to_str().unwrap();
    let mut f = h.spawn(&["follow", "--all", "--interval", "0.2", "--cwd", p], &proj);
    f.wait_line("following A", |l| l == format!("+ following {a}"));
    f.wait_line("upload of A", is_upload(a));

    // A session that starts while following.
    write_file(&tb, line(&proj, 100).as_bytes());
    f.wait_line("following B", |l| l == format!("+ following {b}"));

    // Lines keep coming while people run `flush` on the same sessions.
    let flusher = {
        let cmds: Vec<Command> =
            (0..16).map(|i| h.cmd(&["flush", "--session-id", if i % 2 == 0 { a } else { b }, "--cwd", p])).collect();
        thread::spawn(move || {
            cmds.into_iter()
                .map(|mut c| {
                    let o = c.stdin(Stdio::null()).output().unwrap();
                    (o.status, text(&o.stderr))
                })
                .collect::<Vec<_>>()
        })
    };
    for n in 2..42 {
        append(if n % 2 == 0 { &ta } else { &tb }, line(&proj, n).as_bytes());
        thread::sleep(Duration::from_millis(25));
    }
    for (status, err) in flusher.join().unwrap() {
        assert!(status.success(), "a concurrent flush failed: {err}");
    }
    for (id, t) in [(a, &ta), (b, &tb)] {
        wait_for(
            &format!("{id} fully mirrored"),
            || h.replay(id) == std::fs::read(t).unwrap(),
            || format!("{}\nreplay:\n{}", f.detail(), text(&h.replay(id))),
        );
    }
    assert!(f.terminate().success(), "{}", f.detail());

    for (id, t) in [(a, &ta), (b, &tb)] {
        assert_eq!(text(&h.replay(id)), text(&std::fs::read(t).unwrap()), "{id}: no byte lost or duplicated");
        let meta = h.meta(id);
        let parts = meta["parts"].as_array().unwrap().len();
        let files = std::fs::read_dir(h.store_dir(id)).unwrap().flatten().filter(|e| {
            let n = e.file_name();
            n.to_string_lossy().starts_with("part-")
        });
        assert_eq!(files.count(), parts, "{id}: every part file is in meta.json");
        // Stop policy: both were active, so both stay open.
        assert!(meta["ended_at"].is_null(), "{id} is active and must stay open: {meta:#}");
    }
    let last = f.lines().last().cloned().unwrap_or_default();
    assert!(last.starts_with("stopped: followed 2 sessions; 0 marked ended"), "{last}");
}

#[test]
fn follow_all_ends_idle_sessions_and_leaves_active_ones_open() {
    let h = Home::new();
    let proj = h.project("proj");
    let dir = h.transcript_dir(&proj);
    let (idle, active) = ("sess-idle", "sess-active");
    let ti = dir.join(format!("{idle}.jsonl"));
    let ta = dir.join(format!("{active}.jsonl"));
    write_file(&ti, format!("{}{{\"partial\":", line(&proj, 0)).as_bytes());
    write_file(&ta, line(&proj, 1).as_bytes());
    age(&ti, Duration::from_secs(2 * 3600));

    let mut f = h.spawn(&["follow", "--all", "--interval", "0.2", "--cwd", proj.to_str().unwrap()], &proj);
    f.wait_line("upload of the active session", is_upload(active));
    f.wait_line("the idle session ended", |l| l.starts_with(&format!("ended {idle}:")));
    assert!(f.terminate().success(), "{}", f.detail());

    let mi = h.meta(idle);
    assert!(mi["ended_at"].is_string(), "{mi:#}");
    assert_eq!(h.replay(idle), std::fs::read(&ti).unwrap(), "the idle session's partial line is sent when it ends");
    assert!(h.meta(active)["ended_at"].is_null());
}

#[test]
fn interval_must_be_a_positive_finite_number() {
    let h = Home::new();
    for bad in [
        &["--interval", "0"][..],
        &["--interval", "-1"],
        &["--interval=-1"],
        &["--interval", "nan"],
        &["--interval", "inf"],
    ] {
        let mut args = vec!["follow"];
        args.extend_from_slice(bad);
        let o = h.run(&args);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains("--interval"), "{bad:?}: {}", text(&o.stderr));
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn all_with_a_single_session_is_a_usage_error() {
    let h = Home::new();
    for args in [
        &["follow", "--all", "--session-id", "x"][..],
        &["follow", "--session-id", "x", "--all"],
        &["follow", "--all", "--transcript", "/tmp/x.jsonl"],
    ] {
        let o = h.run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains("--all"), "{}", text(&o.stderr));
    }
}

#[test]
fn discovery_uses_the_exact_slug_with_underscores_and_dots_not_the_collapsed_one() {
    let h = Home::new();
    let proj = h.project("my__proj.v2");
    let id = "sess-slug";
    let t = h.transcript_dir(&proj).join(format!("{id}.jsonl"));
    write_file(&t, line(&proj, 0).as_bytes());
    // Python tracecraft's collapsed slug is another directory, here another project's.
    let decoy_dir = h.claude_projects().join(collapsed_slug(&proj));
    assert_ne!(decoy_dir, h.transcript_dir(&proj));
    write_file(&decoy_dir.join("sess-decoy.jsonl"), line(Path::new("/somewhere/else"), 0).as_bytes());
    // An older session in the right directory: plain `follow` takes the newest.
    let old = h.transcript_dir(&proj).join("sess-older.jsonl");
    write_file(&old, line(&proj, 1).as_bytes());
    age(&old, Duration::from_secs(600));

    let mut f = h.spawn(&["follow", "--interval", "0.2"], &proj);
    f.wait_line("upload of the newest session", is_upload(id));
    assert!(f.terminate().success(), "{}", f.detail());
    assert!(!f.stdout().contains("sess-older"), "{}", f.detail());

    let mut f = h.spawn(&["follow", "--all", "--interval", "0.2"], &proj);
    f.wait_line("upload of the older one", is_upload("sess-older"));
    assert!(f.stdout().contains(&format!("+ following {id}\n")), "{}", f.detail());
    assert!(f.terminate().success(), "{}", f.detail());
    // Discovery lists every session of a pass before flushing any, so the decoy would show by now.
    assert!(!f.stdout().contains("sess-decoy"), "{}", f.detail());
    assert_eq!(h.replay(id), std::fs::read(&t).unwrap());
}

#[test]
fn discovery_finds_a_hash_suffixed_directory_by_the_recorded_cwd() {
    let h = Home::new();
    // A cwd whose slug is over 200 characters: Claude Code cuts it and adds a hash.
    let rel: Vec<String> = (0..6).map(|i| format!("a_rather_long_directory_name.{i}")).collect();
    let proj = h.project(&rel.join("/"));
    let full = slug(&proj);
    assert!(full.len() > 200);
    let dir = h.claude_projects().join(format!("{}-1a2b3c4d", &full[..200]));
    let id = "sess-long";
    let t = dir.join(format!("{id}.jsonl"));
    write_file(
        &t,
        format!("{{\"type\":\"summary\",\"summary\":\"x\"}}\n{}{}", line(&proj, 0), line(&proj, 1)).as_bytes(),
    );
    // Neither subagent transcripts nor agent-*.jsonl files are sessions of their own.
    write_file(&dir.join(id).join("subagents/agent-sub1.jsonl"), line(&proj, 2).as_bytes());
    write_file(&dir.join("agent-sub2.jsonl"), line(&proj, 3).as_bytes());

    let mut f = h.spawn(&["follow", "--all", "--interval", "0.2", "--cwd", proj.to_str().unwrap()], h.path());
    f.wait_line("following the session", |l| l == format!("+ following {id}"));
    f.wait_line("its upload", is_upload(id));
    assert!(f.terminate().success(), "{}", f.detail());
    assert!(!f.lines().iter().any(|l| l.starts_with("+ following agent-")), "{}", f.detail());
    assert_eq!(h.replay(id), std::fs::read(&t).unwrap());
    // The one in the session's subagents/ directory is mirrored as its subagent; the other
    // names no session and is left alone.
    let sub1 = dir.join(id).join("subagents/agent-sub1.jsonl");
    assert_eq!(h.replay(&format!("{id}.agent-sub1")), std::fs::read(sub1).unwrap(), "{}", f.detail());
    assert!(!h.store_dir(&format!("{id}.agent-sub2")).exists());
}

#[test]
fn an_orphaned_session_is_ended_at_the_next_session_start_of_its_project() {
    let h = Home::new();
    let proj = h.project("proj");
    let other = h.project("other");
    let p = proj.to_str().unwrap();
    let dir = h.transcript_dir(&proj);

    // Claude Code was killed: no SessionEnd, a partial last line, two hours of silence.
    let orphan = "sess-orphan";
    let to = dir.join(format!("{orphan}.jsonl"));
    write_file(&to, format!("{}{}{{\"cut\":", line(&proj, 0), line(&proj, 1)).as_bytes());
    // Recently active session of the same project, and an old one of another project.
    let live = "sess-live";
    let tl = dir.join(format!("{live}.jsonl"));
    write_file(&tl, line(&proj, 2).as_bytes());
    let elsewhere = "sess-elsewhere";
    let te = h.transcript_dir(&other).join(format!("{elsewhere}.jsonl"));
    write_file(&te, line(&other, 3).as_bytes());
    for (t, cwd) in [(&to, p), (&tl, p), (&te, other.to_str().unwrap())] {
        let o = h.run(&["flush", "--transcript", t.to_str().unwrap(), "--cwd", cwd]);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    age(&to, Duration::from_secs(2 * 3600));
    age(&te, Duration::from_secs(2 * 3600));
    assert!(h.meta(orphan)["ended_at"].is_null());

    // A new session starts in the same project (hook mode, synchronous).
    let new = "sess-new";
    let payload = json!({
        "session_id": new,
        "transcript_path": dir.join(format!("{new}.jsonl")),
        "cwd": proj,
        "hook_event_name": "SessionStart",
        "source": "startup",
    });
    let mut c = h.cmd(&[]);
    c.env("TRACECRAFT_HOOK_INLINE", "1").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child.stdin.take().unwrap().write_all(payload.to_string().as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty(), "hook mode prints nothing: {}", text(&o.stdout));

    let m = h.meta(orphan);
    assert!(m["ended_at"].is_string(), "{m:#}");
    assert_eq!(m["end_reason"], "orphaned");
    assert_eq!(h.replay(orphan), std::fs::read(&to).unwrap(), "the partial last line is sent when it ends");
    assert!(h.meta(live)["ended_at"].is_null(), "an active session stays open");
    assert!(h.meta(elsewhere)["ended_at"].is_null(), "another project's session is not touched");
    assert!(h.meta(new)["ended_at"].is_null());
}

// ---------------------------------------------------------------- real S3 server

#[test]
fn follow_survives_a_server_restart_and_catches_up() {
    // A missing s3s-fs fails here with its install command (unless opted out: recorded).
    if !servers::program_available(Kind::S3s) {
        return;
    }
    let h = Home::new();
    let mut server = ServerProcess::spawn(Kind::S3s);
    let root = server.data_root().to_path_buf();
    let cfg = json!({
        "backend": "s3",
        "endpoint": server.endpoint(),
        "bucket": common::BUCKET,
        "project": "p",
        "access_key": server.access_key,
        "secret_key": server.secret_key,
    });
    let cfg_path = h.path().join(".tracecraft/config.json");
    write_file(&cfg_path, cfg.to_string().as_bytes());
    std::fs::set_permissions(&cfg_path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();

    let proj = h.project("proj");
    let id = "sess-s3";
    let t = h.transcript_dir(&proj).join(format!("{id}.jsonl"));
    write_file(&t, line(&proj, 0).as_bytes());
    let bucket_dir = root.join(common::BUCKET).join("p/sessions/claude-code").join(id);

    let mut f = h.spawn(&["follow", "--interval", "0.2", "--session-id", id], &proj);
    f.wait_count("first upload", 1, is_upload(id));

    server.stop();
    append(&t, line(&proj, 1).as_bytes());
    f.wait_stderr("the outage report", "not reachable");
    append(&t, line(&proj, 2).as_bytes());
    // Let several retries fail: the outage is still reported once.
    thread::sleep(Duration::from_millis(1500));
    server.restart();

    wait_for("catch-up after the restart", || replay_dir(&bucket_dir) == std::fs::read(&t).unwrap(), || f.detail());
    f.wait_stderr("the recovery report", "answers again");
    assert!(f.terminate().success(), "{}", f.detail());

    let err = f.stderr();
    assert_eq!(err.matches("not reachable").count(), 1, "one report per outage:\n{err}");
    assert_eq!(replay_dir(&bucket_dir), std::fs::read(&t).unwrap());
    let meta: Value = serde_json::from_slice(&std::fs::read(bucket_dir.join("meta.json")).unwrap()).unwrap();
    assert!(meta["ended_at"].is_string(), "{meta:#}");
}

// ---------------------------------------------------------------- subagents and --min-bytes (issue 15)

/// A world on the real s3s-fs (`None`, the skip recorded, only when the run opted out of it).
fn s3s_env(name: &str) -> Option<common::Env> {
    common::Env::try_new(common::Backend::S3s, name)
}

fn spawn_env(e: &common::Env, args: &[&str]) -> Running {
    Running::spawn(e.cmd(args))
}

#[test]
fn follow_all_mirrors_a_subagent_that_appears_while_following() {
    let Some(e) = s3s_env("follow-all-subagent") else { return };
    let proj = e.project_dir().to_path_buf();
    let sid = "sess-with-agent";
    let t = e.transcript_path(sid);
    write_file(&t, format!("{}{}", line(&proj, 0), line(&proj, 1)).as_bytes());

    let mut f = spawn_env(&e, &["follow", "--all", "--interval", "0.2"]);
    f.wait_line("the parent's upload", is_upload(sid));

    // A subagent starts while its parent waits for it (the parent's transcript stays as is).
    let child = format!("{sid}.agent-a1b2c3");
    let ap = common::transcript::subagent_transcript_path(&t, sid, "a1b2c3");
    write_file(&ap.with_extension("meta.json"), br#"{"agentType":"Explore","description":"look around"}"#);
    write_file(&ap, line(&proj, 10).as_bytes());
    f.wait_line("the subagent picked up", |l| l == format!("+ following {child} (subagent)"));
    f.wait_line("the subagent's upload", is_upload(&child));
    for n in 11..16 {
        append(&ap, line(&proj, n).as_bytes());
        thread::sleep(Duration::from_millis(60));
    }
    wait_for("the subagent fully mirrored", || e.replay(&child) == std::fs::read(&ap).unwrap(), || f.detail());
    assert!(f.terminate().success(), "{}", f.detail());

    assert_eq!(e.replay(&child), std::fs::read(&ap).unwrap(), "replay equals the subagent file byte for byte");
    assert_eq!(e.replay(sid), std::fs::read(&t).unwrap());
    let cm = e.meta(&child).expect("the subagent's meta.json");
    assert_eq!(cm["parent_session_id"], json!(sid), "{cm:#}");
    assert_eq!(cm["subagent"]["agent_type"], json!("Explore"), "{cm:#}");
    assert_eq!(cm["sidecar"]["description"], json!("look around"));
    let pm = e.meta(sid).unwrap();
    assert_eq!(pm["subagents"][0]["session_id"], json!(child), "listed in the parent: {pm:#}");
    // Nothing but parts and meta.json under either prefix (tracecraft's `show` prints the rest).
    for id in [sid, child.as_str()] {
        for k in e.list_keys(&e.session_prefix(id)) {
            assert!(common::is_part_key(&k) || k.ends_with("/meta.json"), "stray object {k}");
        }
    }
    // Both active: left open at stop.
    assert!(cm["ended_at"].is_null() && pm["ended_at"].is_null());
    let last = f.lines().last().cloned().unwrap_or_default();
    assert!(last.starts_with("stopped: followed 1 session (and 1 subagent); 0 marked ended"), "{last}");
}

#[test]
fn follow_of_one_session_mirrors_its_subagents_and_ends_them_at_stop() {
    let Some(e) = s3s_env("follow-one-subagent") else { return };
    let proj = e.project_dir().to_path_buf();
    let sid = "sess-one";
    let t = e.transcript_path(sid);
    write_file(&t, line(&proj, 0).as_bytes());
    let child = format!("{sid}.agent-f00d");
    let ap = common::transcript::subagent_transcript_path(&t, sid, "f00d");
    write_file(&ap, format!("{}{}", line(&proj, 1), line(&proj, 2)).as_bytes());

    let mut f = spawn_env(&e, &["follow", "--session-id", sid, "--interval", "0.2"]);
    f.wait_line("the subagent's upload", is_upload(&child));
    // The agent is cut off mid-line; SIGTERM's final flush sends that too and ends it.
    append(&ap, format!("{}{{\"type\":\"assistant\",\"cut", line(&proj, 3)).as_bytes());
    append(&t, line(&proj, 4).as_bytes());
    assert!(f.terminate().success(), "{}", f.detail());

    assert_eq!(e.replay(&child), std::fs::read(&ap).unwrap(), "partial last line included");
    assert_eq!(e.replay(sid), std::fs::read(&t).unwrap());
    for id in [sid, child.as_str()] {
        let m = e.meta(id).unwrap();
        assert!(m["ended_at"].is_string(), "{id}: {m:#}");
        assert_eq!(m["end_reason"], json!("follow-stop"), "{id}");
    }
    assert_eq!(e.meta(sid).unwrap()["subagents"][0]["session_id"], json!(child));
    let last = f.lines().last().cloned().unwrap_or_default();
    assert_eq!(last, format!("stopped: {sid} marked ended with its 1 subagent"), "{}", f.detail());
}

#[test]
fn follow_min_bytes_holds_small_appends_until_the_threshold_and_stop_sends_the_rest() {
    let Some(e) = s3s_env("follow-min-bytes") else { return };
    // --help explains it; a negative count is a usage error.
    let help = text(&e.run(&["follow", "--help"]).stdout);
    assert!(help.contains("--min-bytes <N>") && help.contains("stop flush"), "{help}");
    let o = e.run(&["follow", "--min-bytes", "-5"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));

    let proj = e.project_dir().to_path_buf();
    let sid = "sess-chatty";
    let t = e.transcript_path(sid);
    write_file(&t, line(&proj, 0).as_bytes());
    let child = format!("{sid}.agent-beef");
    let ap = common::transcript::subagent_transcript_path(&t, sid, "beef");
    write_file(&ap, line(&proj, 1).as_bytes());
    const MIN: u64 = 1500;
    let len = |p: &Path| std::fs::metadata(p).unwrap().len();
    assert!(len(&t) < MIN / 3);

    let min = MIN.to_string();
    let mut f = spawn_env(&e, &["follow", "--session-id", sid, "--interval", "0.1", "--min-bytes", &min]);
    f.wait_stderr("the loop running", &format!("following {sid} every"));
    // Small appends: each interval sees fewer than MIN new bytes, so nothing is uploaded.
    let mut n = 2;
    while len(&t) + (line(&proj, n).len() as u64) < MIN {
        append(&t, line(&proj, n).as_bytes());
        n += 1;
        thread::sleep(Duration::from_millis(400));
        assert!(e.part_keys(sid).is_empty(), "a part below --min-bytes ({} bytes)\n{}", len(&t), f.detail());
    }
    assert!(n >= 5, "the test needs several small appends (only {n})");
    assert!(e.part_keys(&child).is_empty(), "the subagent is below the threshold too");
    assert!(!f.stdout().contains("uploaded"), "{}", f.detail());

    // The append that reaches MIN: one part with everything so far.
    append(&t, line(&proj, n).as_bytes());
    assert!(len(&t) >= MIN);
    f.wait_line("the upload at the threshold", is_upload(sid));
    assert_eq!(f.lines().iter().filter(|l| is_upload(sid)(l)).count(), 1, "{}", f.detail());
    assert_eq!(e.part_keys(sid).len(), 1, "one part");
    assert_eq!(e.replay(sid), std::fs::read(&t).unwrap(), "the part holds every byte so far");

    // A few more bytes (and a partial line) wait again; the stop flush sends them.
    append(&t, format!("{}{{\"cut", line(&proj, n + 1)).as_bytes());
    append(&ap, line(&proj, n + 2).as_bytes());
    thread::sleep(Duration::from_millis(800));
    assert_eq!(e.part_keys(sid).len(), 1, "{}", f.detail());
    assert!(e.part_keys(&child).is_empty(), "{}", f.detail());
    assert!(f.terminate().success(), "{}", f.detail());

    assert_eq!(e.replay(sid), std::fs::read(&t).unwrap(), "nothing lost at stop");
    assert_eq!(e.part_keys(sid).len(), 2);
    assert_eq!(e.replay(&child), std::fs::read(&ap).unwrap(), "the subagent's bytes sent at stop");
    assert_eq!(e.part_keys(&child).len(), 1);
    assert!(e.meta(sid).unwrap()["ended_at"].is_string());
    assert!(e.meta(&child).unwrap()["ended_at"].is_string());
}
