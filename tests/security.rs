//! Security and host-fidelity checks: the verbatim payloads Claude Code sends, private file
//! modes, credentials kept out of logs, errors and worker arguments, and secrets split
//! across two flushes.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{backends, Backend, Env};
use serde_json::Value;

/// The payloads captured from a real Claude Code run (tests/fixtures/example_payloads.json,
/// from the shared kit), with their paths rewritten to this test's HOME, in a real order.
#[test]
fn verbatim_claude_code_payloads() {
    for b in backends() {
        let Some(env) = Env::try_new(b, "verbatim") else { continue };
        let all: Value = serde_json::from_slice(
            &fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/example_payloads.json")).unwrap(),
        )
        .unwrap();
        let sid = "60d02b3f-e256-40f7-8986-d87f2eebff47";
        let fix = |name: &str| -> Value {
            let mut p = all[name].clone();
            p["session_id"] = Value::from(sid);
            p["transcript_path"] = Value::from(env.transcript_path(sid).to_str().unwrap());
            p["cwd"] = Value::from(env.project_dir().to_str().unwrap());
            p
        };
        let order = [
            ("SessionStart/startup", 0),
            ("UserPromptSubmit", 2),
            ("PreToolUse", 1),
            ("PostToolUse", 1),
            ("PostToolBatch", 0),
            ("SubagentStart", 0),
            ("SubagentStop", 2),
            ("PermissionRequest", 0),
            ("Stop", 1),
            ("PreCompact", 1),
            ("PostCompact", 0),
            ("SessionStart/compact", 0),
            ("Stop", 1),
            ("SessionEnd", 0),
            ("SessionStart/resume", 0),
            ("UserPromptSubmit", 2),
            ("SessionEnd", 0),
        ];
        let mut n = 0;
        for (name, lines) in order {
            if lines > 0 {
                env.write_transcript(sid, lines, n);
                n += lines;
            }
            let mut p = fix(name);
            if name == "Stop" {
                // The real payload names the last assistant text: take it from our transcript.
                p["last_assistant_message"] =
                    Value::from(common::transcript::last_assistant_text(&env.transcript_path(sid)));
            }
            let out = env.run_hook(&p);
            assert!(out.status.success() && out.stdout.is_empty(), "{name}");
        }
        assert_eq!(env.replay(sid), fs::read(env.transcript_path(sid)).unwrap(), "{}", b.name());
        let meta = env.meta(sid).unwrap();
        assert_eq!(meta["end_reason"], "other");
        assert!(meta["ended_at"].is_string());
        assert_eq!(meta["start_source"], "resume");
    }
}

#[test]
fn local_files_are_private() {
    let env = Env::new(Backend::S3s, "modes");
    env.write_transcript("modes", 2, 0);
    assert!(env.run_hook(&env.payload("Stop", "modes")).status.success());
    fs::write(env.project_dir().join(".tracecraft.json"), b"{broken").unwrap();
    assert!(env.run_hook(&env.payload("Stop", "modes")).status.success()); // logs an error
    let dir = env.home().join(".tracecraft");
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("state")), 0o700);
    for e in fs::read_dir(dir.join("state")).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
    }
    assert_eq!(mode(&dir.join("hook.log")), 0o600);
}

#[test]
fn credentials_never_reach_logs_errors_or_output() {
    let env = Env::new(Backend::S3s, "no-leak");
    let secret = common::servers::secret_key();
    env.write_transcript("leak", 2, 0);
    // A working run, a wrong-credential run, a dead endpoint run: hook and manual.
    assert!(env.run_hook(&env.payload("Stop", "leak")).status.success());
    let mut bad = env.config_value(&env.endpoint().unwrap());
    bad["secret_key"] = Value::from("wrong-secret-value-12345");
    env.write_config_value(&bad);
    env.write_transcript("leak", 1, 2);
    let mut outputs = vec![env.run_hook(&env.payload("Stop", "leak")), env.run(&["flush", "--session-id", "leak"])];
    outputs.push(env.run(&["doctor"]));
    let mut dead = env.config_value(&format!("http://{}", common::proxy::closed_port()));
    dead["secret_key"] = Value::from(secret.clone());
    env.write_config_value(&dead);
    outputs.push(env.run(&["flush", "--session-id", "leak"]));
    outputs.push(env.run(&["doctor"]));
    let log = fs::read_to_string(env.home().join(".tracecraft/hook.log")).unwrap_or_default();
    for s in [secret.as_str(), "wrong-secret-value-12345"] {
        assert!(!log.contains(s), "secret in hook.log");
        for o in &outputs {
            assert!(!String::from_utf8_lossy(&o.stdout).contains(s), "secret on stdout");
            assert!(!String::from_utf8_lossy(&o.stderr).contains(s), "secret on stderr");
        }
    }
    // The wrong secret is reported as such, naming the endpoint.
    let err = String::from_utf8_lossy(&outputs[1].stderr);
    assert!(err.contains("403") || err.contains("Signature"), "{err}");
}

/// A secret whose line is written in two steps, with a flush in between, is still caught:
/// only whole lines are sent, so the redactor always sees the whole secret.
#[test]
fn secret_split_across_two_flushes_is_redacted() {
    for b in backends() {
        let Some(env) = Env::try_new(b, "split-secret") else { continue };
        let sid = "split-secret";
        let p = env.transcript_path(sid);
        env.write_transcript(sid, 1, 0);
        common::append(&p, b"{\"type\":\"user\",\"message\":{\"content\":\"export OPENAI_API_KEY=sk-proj-Ab3dEf6hIj9k");
        assert!(env.run_hook(&env.payload("UserPromptSubmit", sid)).status.success());
        common::append(&p, b"Lm2NoPq5RsTu8VwXy1Z\"}}\n");
        assert!(env.run_hook(&env.payload("SessionEnd", sid)).status.success());
        let replay = String::from_utf8(env.replay(sid)).unwrap();
        assert!(!replay.contains("Ab3dEf6hIj9k") && !replay.contains("Lm2NoPq5RsTu8VwXy1Z"), "{replay}");
        assert!(replay.contains("[REDACTED:openai_key]"), "{replay}");
    }
}
