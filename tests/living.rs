//! Living inside Claude Code: the real (detached) hook mode, the Stop race, install.sh.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{backends, Env};
use serde_json::json;

/// Run the hook as Claude Code does, detached worker included (no TRACECRAFT_HOOK_INLINE).
fn detached_hook(env: &Env, payload: &serde_json::Value) -> (std::process::Output, Duration) {
    let mut cmd = env.cmd(&["hook"]);
    cmd.env_remove("TRACECRAFT_HOOK_INLINE").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let t = Instant::now();
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(&serde_json::to_vec(payload).unwrap()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out, t.elapsed())
}

/// The tests here time a detached worker; run them one at a time so they do not load the
/// machine for each other.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn hook_log(env: &Env) -> String {
    fs::read_to_string(env.home().join(".tracecraft/hook.log")).unwrap_or_default()
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "{what} not true within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    t.elapsed()
}

/// The Stop race: when Stop fires, the turn's last assistant line is often not on disk
/// yet (it lands 12-120 ms later). Without any further event, the mirror must hold it
/// within 2 s of Stop.
#[test]
fn stop_race_last_line_lands_within_two_seconds_without_another_event() {
    let _serial = serial();
    for b in backends() {
        let Some(env) = Env::try_new(b, "stop-race") else { continue };
        let sid = "stop-race";
        env.write_transcript(sid, 3, 0);
        let (out, _) = detached_hook(&env, &env.payload("UserPromptSubmit", sid));
        assert!(out.status.success() && out.stdout.is_empty());
        let text = "All done: the build is green.";
        let last = common::transcript::transcript_line_with_text(sid, env.project_dir(), 3, text);
        let mut payload = env.payload("Stop", sid);
        payload["last_assistant_message"] = json!(text);
        // The line lands 120 ms after Stop fires, in two writes.
        let path = env.transcript_path(sid);
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(120));
            let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
            let (a, b) = last.as_bytes().split_at(last.len() / 2);
            f.write_all(a).unwrap();
            std::thread::sleep(Duration::from_millis(10));
            f.write_all(b).unwrap();
        });
        let (out, took) = detached_hook(&env, &payload);
        assert!(out.status.success() && out.stdout.is_empty());
        assert!(took < Duration::from_millis(500), "the hook returned after {took:?}");
        writer.join().unwrap();
        let mirrored = || env.replay(sid) == fs::read(env.transcript_path(sid)).unwrap();
        let t = Instant::now();
        while !mirrored() && t.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            mirrored(),
            "{}: last line not mirrored within 2 s of its write; hook log:\n{}",
            b.name(),
            hook_log(&env)
        );
        let waited = t.elapsed();
        println!("stop race ({}): hook returned in {took:?}, line mirrored {waited:?} after the write", b.name());
    }
}

/// Codex's Stop race: at Stop the turn's `task_complete` line is not on disk yet (every time
/// on Codex 0.171). Without any further event, the detached worker waits for it and the
/// mirror holds it within 2 s of its write.
#[test]
fn codex_stop_race_task_complete_lands_within_two_seconds_without_another_event() {
    let _serial = serial();
    for b in backends() {
        let Some(env) = Env::try_new(b, "codex-stop-race") else { continue };
        let env = env.in_harness(common::Harness::Codex);
        let sid = "codex-stop-race";
        env.write_transcript(sid, 8, 0); // up to the assistant message of turn 0
        let last = common::codex::rollout_line(sid, env.project_dir(), 8);
        assert!(last.contains("task_complete"));
        let payload = env.payload("Stop", sid);
        let path = env.transcript_path(sid);
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
            let (a, b) = last.as_bytes().split_at(last.len() / 2);
            f.write_all(a).unwrap();
            std::thread::sleep(Duration::from_millis(10));
            f.write_all(b).unwrap();
        });
        let (out, took) = detached_hook(&env, &payload);
        assert!(out.status.success() && out.stdout.is_empty());
        assert!(took < Duration::from_millis(500), "the hook returned after {took:?}");
        writer.join().unwrap();
        let mirrored = || env.replay(sid) == fs::read(env.transcript_path(sid)).unwrap();
        let t = Instant::now();
        while !mirrored() && t.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(mirrored(), "{}: task_complete not mirrored within 2 s; hook log:\n{}", b.name(), hook_log(&env));
        assert!(env.meta(sid).unwrap()["stats"]["turns"] == 1);
    }
}

/// The hook returns at once even with a 1 MB delta: the upload continues in the worker.
#[test]
fn detached_hook_returns_fast_and_worker_finishes() {
    let _serial = serial();
    for b in backends() {
        let Some(env) = Env::try_new(b, "detached") else { continue };
        let sid = "detached";
        let line = format!("{{\"type\":\"user\",\"message\":{{\"content\":\"{}\"}}}}\n", "z".repeat(1000));
        fs::write(env.transcript_path(sid), line.repeat(1000)).unwrap();
        let (out, took) = detached_hook(&env, &env.payload("UserPromptSubmit", sid));
        assert!(out.status.success() && out.stdout.is_empty() && out.stderr.is_empty());
        println!("detached hook with a 1 MB delta ({}): returned in {took:?}", b.name());
        wait_until("1 MB mirrored", Duration::from_secs(20), || {
            env.replay(sid) == fs::read(env.transcript_path(sid)).unwrap()
        });
        // SessionEnd: final flush and ended_at, done by the detached worker.
        common::append(&env.transcript_path(sid), b"{\"type\":\"system\",\"partial\":");
        let (out, _) = detached_hook(&env, &env.payload("SessionEnd", sid));
        assert!(out.status.success() && out.stdout.is_empty());
        wait_until("ended_at", Duration::from_secs(20), || {
            env.meta(sid).is_some_and(|m| m["ended_at"].is_string())
                && env.replay(sid) == fs::read(env.transcript_path(sid)).unwrap()
        });
    }
}

fn sh(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// install.sh: installs the binary and the hooks, a second run changes nothing, and
/// --uninstall restores the user's settings exactly.
#[test]
fn install_sh_is_idempotent_and_uninstall_restores_settings() {
    let _serial = serial();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let bin_dir = tmp.path().join("bin");
    // --no-build uses $CARGO_TARGET_DIR/release/tracecraft-hook: give it the test build.
    let target = tmp.path().join("target");
    fs::create_dir_all(target.join("release")).unwrap();
    fs::copy(env!("CARGO_BIN_EXE_tracecraft-hook"), target.join("release/tracecraft-hook")).unwrap();
    let settings = home.join(".claude/settings.json");
    fs::create_dir_all(settings.parent().unwrap()).unwrap();
    let original = "{\n  \"model\": \"opus\",\n  \"hooks\": {\n    \"Stop\": [\n      {\n        \"hooks\": [\n          {\n            \"type\": \"command\",\n            \"command\": \"echo mine\"\n          }\n        ]\n      }\n    ]\n  }\n}\n";
    fs::write(&settings, original).unwrap();
    let run = |args: &[&str]| {
        let mut c = Command::new("sh");
        c.arg(root.join("install.sh"))
            .args(args)
            .env("HOME", &home)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("CLAUDE_CONFIG_DIR")
            .current_dir(tmp.path())
            .stdin(Stdio::null());
        sh(&mut c)
    };
    let bin_arg = bin_dir.to_str().unwrap();
    run(&["--yes", "--no-build", "--bin-dir", bin_arg]);
    let installed = fs::read_to_string(&settings).unwrap();
    let v: serde_json::Value = serde_json::from_str(&installed).unwrap();
    assert_eq!(v["model"], "opus");
    assert_eq!(v["hooks"]["Stop"][0]["hooks"][0]["command"], "echo mine", "the user's hook stays first");
    for ev in ["SessionStart", "UserPromptSubmit", "Stop", "SubagentStop", "PreCompact", "SessionEnd"] {
        let cmds: Vec<String> = v["hooks"][ev]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["hooks"].as_array().unwrap().iter().map(|h| h["command"].as_str().unwrap().to_string()))
            .collect();
        let ours = format!("{}/tracecraft-hook hook", bin_dir.display());
        assert_eq!(cmds.iter().filter(|c| **c == ours).count(), 1, "{ev}: {cmds:?}");
    }
    assert!(bin_dir.join("tracecraft-hook").is_file());
    let mtime = fs::metadata(bin_dir.join("tracecraft-hook")).unwrap().modified().unwrap();
    // Second run: nothing changes.
    run(&["--yes", "--no-build", "--bin-dir", bin_arg]);
    assert_eq!(fs::read_to_string(&settings).unwrap(), installed);
    assert_eq!(fs::metadata(bin_dir.join("tracecraft-hook")).unwrap().modified().unwrap(), mtime);
    // The installed binary works from its new place.
    let out = sh(Command::new(bin_dir.join("tracecraft-hook")).arg("--version"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("tracecraft-hook"));
    // Uninstall: the settings are the user's again, the binary is gone.
    run(&["--yes", "--uninstall", "--bin-dir", bin_arg]);
    let back: serde_json::Value = serde_json::from_str(&fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(back, serde_json::from_str::<serde_json::Value>(original).unwrap());
    assert!(!bin_dir.join("tracecraft-hook").exists());
}
