//! Issue #12, item 3: nothing unredacted in metadata, nothing unescaped on a terminal or in
//! the log, transcript paths from payloads only inside Claude Code's projects directory,
//! no two session ids sharing a local file, and `doctor` never showing a whole access key.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Backend, Env};
use serde_json::{json, Value};

const AWS: &str = "AKIAABCDEFGHIJKLMNOP";
const ANTHROPIC: &str = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345";
const GITHUB: &str = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
const GITHUB2: &str = "ghp_ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210";
const SLACK: &str = "xoxb-1234567890-abcdefghij";
const HF: &str = "hf_abcdefghijklmnopqrstuvwxyzABCDEF";
const BEARER: &str = "Bearer abcdefghijklmnopqrstuvwxyz0123";
const ALL: [&str; 7] = [AWS, ANTHROPIC, GITHUB, GITHUB2, SLACK, HF, BEARER];

fn hook(env: &Env, payload: &Value, extra: &[(&str, &Path)]) {
    let mut c = env.cmd(&["hook"]);
    for (k, v) in extra {
        c.env(k, v);
    }
    let out = common::run_with_timeout(c, Some(serde_json::to_vec(payload).unwrap()), true, Duration::from_secs(60))
        .expect("hook exits");
    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
}

fn log_of(env: &Env) -> String {
    fs::read_to_string(env.home().join(".tracecraft/hook.log")).unwrap_or_default()
}

fn redacted(v: &Value, field: &str) {
    let s = v.as_str().unwrap_or_else(|| panic!("{field} missing: {v}"));
    assert!(s.contains("[REDACTED:"), "{field} is not redacted: {s}");
    for secret in ALL {
        assert!(!s.contains(secret), "{field} keeps {secret}: {s}");
    }
}

#[test]
fn every_metadata_field_copied_from_payloads_and_files_is_redacted() {
    let env = Env::new(Backend::Local, "meta-redact");
    // A project directory whose name holds a key: cwd and source_path (the slug keeps it).
    let cwd = env.home().join(format!("work-{AWS}"));
    fs::create_dir_all(&cwd).unwrap();
    let sid = "meta-redact";
    let projects = env.home().join(".claude/projects").join(common::slug(&cwd));
    fs::create_dir_all(&projects).unwrap();
    let transcript = projects.join(format!("{sid}.jsonl"));
    // Lines recording a git branch with a token in it (session insight keeps the branch).
    let mut bytes = Vec::new();
    for i in 0..4 {
        let line = common::transcript_line(sid, &cwd, i)
            .replace("\"gitBranch\":\"\"", &format!("\"gitBranch\":\"fix/{GITHUB}\""));
        bytes.extend(line.into_bytes());
        if !bytes.ends_with(b"\n") {
            bytes.push(b'\n');
        }
    }
    fs::write(&transcript, &bytes).unwrap();
    // A subagent with a sidecar whose description holds a token.
    let agent = "a1b2c3d4e5f60718";
    let sub = common::transcript::subagent_transcript_path(&transcript, sid, agent);
    fs::create_dir_all(sub.parent().unwrap()).unwrap();
    fs::write(&sub, common::transcript_lines(sid, &cwd, 0, 2)).unwrap();
    fs::write(
        sub.with_extension("meta.json"),
        json!({"agentType":"Explore","description":format!("use {GITHUB2} to push")}).to_string(),
    )
    .unwrap();

    let base = |event: &str| {
        let mut p = common::payload(event, sid, &transcript, &cwd);
        p["cwd"] = json!(cwd.to_string_lossy());
        p
    };
    let mut start = base("SessionStart");
    start["model"] = json!(ANTHROPIC);
    start["source"] = json!(SLACK);
    hook(&env, &start, &[]);
    hook(&env, &base("Stop"), &[]);
    let mut stop = base("SubagentStop");
    stop["agent_id"] = json!(agent);
    stop["agent_type"] = json!(BEARER);
    stop["agent_transcript_path"] = json!(sub.to_string_lossy());
    hook(&env, &stop, &[]);
    let mut end = base("SessionEnd");
    end["reason"] = json!(HF);
    hook(&env, &end, &[]);

    let meta = env.meta(sid).expect("meta.json");
    redacted(&meta["cwd"], "cwd");
    redacted(&meta["source_path"], "source_path");
    redacted(&meta["model"], "model");
    redacted(&meta["start_source"], "start_source");
    redacted(&meta["end_reason"], "end_reason");
    let text = meta.to_string();
    assert!(text.contains("fix/[REDACTED:github_pat]"), "git branch: {text}");
    let subs = meta["subagents"].as_array().unwrap_or_else(|| panic!("subagents listed: {text}"));
    redacted(&subs[0]["description"], "subagents[].description");
    for secret in ALL {
        assert!(!text.contains(secret), "parent meta.json keeps {secret}: {text}");
    }
    // The subagent's own meta.json: its sidecar, type and paths.
    let child_key = env
        .project_keys()
        .into_iter()
        .find(|k| k.contains(agent) && k.ends_with("meta.json"))
        .unwrap_or_else(|| panic!("subagent meta.json: {:?}", env.project_keys()));
    let child: Value = serde_json::from_slice(&env.get(&child_key).unwrap()).unwrap();
    redacted(&child["sidecar"]["description"], "sidecar.description");
    let text = child.to_string();
    for secret in ALL {
        assert!(!text.contains(secret), "subagent meta.json keeps {secret}: {text}");
    }
    // And nothing in any object of the project.
    for k in env.project_keys() {
        let body = String::from_utf8_lossy(&env.get(&k).unwrap()).into_owned();
        for secret in ALL {
            assert!(!body.contains(secret), "{k} keeps {secret}");
        }
    }
}

#[test]
fn payload_transcript_paths_outside_claude_projects_are_refused_and_logged_escaped() {
    let env = Env::new(Backend::Local, "outside");
    let secret = env.home().join("secret.jsonl");
    fs::write(&secret, "{\"type\":\"user\",\"message\":\"root:x:0:0\"}\n").unwrap();
    let inside = env.transcript_path("outside");
    let link = inside.with_file_name("link.jsonl");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    let dotdot = env.claude_project_dir().join("../../../secret.jsonl");
    let escape = PathBuf::from("/tmp/\u{1b}[2Jevil\rFAKE.jsonl");
    for (i, p) in [&secret, &link, &dotdot, &escape].into_iter().enumerate() {
        let sid = format!("outside{i}");
        let mut pl = env.payload("Stop", &sid);
        pl["transcript_path"] = json!(p.to_string_lossy());
        hook(&env, &pl, &[]);
        assert!(env.project_keys().is_empty() && env.replay(&sid).is_empty(), "{}: mirrored", p.display());
    }
    // A subagent path outside.
    env.write_transcript("outside-sub", 2, 0);
    let mut pl = env.payload("SubagentStop", "outside-sub");
    pl["agent_transcript_path"] = json!(secret.to_string_lossy());
    hook(&env, &pl, &[]);
    let keys = env.project_keys();
    assert!(keys.iter().all(|k| !k.contains("agent")), "{keys:?}");
    let log = log_of(&env);
    assert!(log.matches("outside Claude Code's projects directory").count() >= 5, "{log}");
    assert!(!log.contains('\u{1b}') && !log.contains('\r'), "raw control characters in the log: {log:?}");
    assert!(log.contains("\\e[2Jevil\\rFAKE"), "{log}");

    // CLAUDE_CONFIG_DIR moves the projects directory, and is honoured.
    let cc = env.home().join("cc");
    let t = cc.join("projects/-x/moved.jsonl");
    fs::create_dir_all(t.parent().unwrap()).unwrap();
    fs::write(&t, common::transcript_lines("moved", env.project_dir(), 0, 2)).unwrap();
    let pl = common::payload("Stop", "moved", &t, env.project_dir());
    hook(&env, &pl, &[("CLAUDE_CONFIG_DIR", &cc)]);
    assert_eq!(env.replay("moved"), fs::read(&t).unwrap());

    // A person's `flush --transcript` stays free.
    let out = env.run(&["flush", "--transcript", secret.to_str().unwrap(), "--session-id", "by-hand"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(env.replay("by-hand"), fs::read(&secret).unwrap());
    let odd = env.home().join("dir\u{1b}[31mred\u{7}.jsonl");
    fs::create_dir_all(&odd).unwrap();
    let bad = env.run(&["flush", "--transcript", odd.to_str().unwrap(), "--session-id", "x1"]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{err}");
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}') && err.contains("\\e[31m"), "{err:?}");
}

#[test]
fn session_ids_never_share_a_local_file() {
    let env = Env::new(Backend::Local, "collide");
    let ids = ["x", "x.meta", "x.lock", "x.compact", "X"];
    for round in 0..2u64 {
        for id in ids {
            env.write_transcript(id, 2, round * 2);
            hook(&env, &env.payload("Stop", id), &[]);
        }
    }
    for id in ids {
        assert_eq!(env.replay(id), fs::read(env.transcript_path(id)).unwrap(), "{id}");
        let meta = env.meta(id).unwrap();
        assert_eq!(meta["session_id"], json!(id), "{id}: {meta}");
        assert_eq!(
            meta["total_source_bytes"],
            json!(fs::metadata(env.transcript_path(id)).unwrap().len()),
            "{id}: {meta}"
        );
    }
    let log = log_of(&env);
    assert!(!log.contains("ERROR"), "{log}");
}

#[test]
fn doctor_shows_a_masked_access_key_and_escapes_what_it_prints() {
    let Some(env) = Env::try_new(Backend::S3s, "doctor-mask") else { panic!("s3s-fs is required") };
    // A log line an older version wrote raw.
    fs::create_dir_all(env.home().join(".tracecraft")).unwrap();
    fs::write(env.home().join(".tracecraft/hook.log"), "2026-01-01T00:00:00+00:00 ERROR boom \u{1b}[2J\u{9b}1m\n")
        .unwrap();
    let out = env.run(&["doctor"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let key = common::servers::access_key();
    assert!(!stdout.contains(&key), "the whole access key id is shown: {stdout}");
    assert!(stdout.contains(&format!("access key {}…", &key[..4])), "masked key id: {stdout}");
    assert!(!stdout.contains('\u{1b}') && !stdout.contains('\u{9b}'), "{stdout:?}");
}
