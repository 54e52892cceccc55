//! The Codex CLI harness (issue #17 items 1-3), without the real CLI (the end-to-end test with
//! it is `e2e_codex`): Codex hook payloads and rollouts shaped like Codex CLI 0.171's
//! (`tests/common/codex.rs`, a real rollout in `tests/fixtures/codex/`) are mirrored under
//! `sessions/codex/<id>/` exactly, on the embedded store, s3s-fs and moto; the Stop race
//! (`task_complete` after Stop) and a killed SessionEnd hook lose nothing; the Python CLI
//! reads what we write and we continue what it began; `install --codex` round-trips; the
//! commands take `--harness`; and the insight numbers of a real rollout are right.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{backends, Backend, Env, Harness, HARNESSES};
use serde_json::{json, Value};

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn clean_hook(out: &std::process::Output) {
    assert!(out.status.success() && out.stdout.is_empty(), "hook: {out:?}");
}

fn codex_env(b: Backend, name: &str) -> Option<Env> {
    Env::try_new(b, name).map(|e| e.in_harness(Harness::Codex))
}

fn hook_log(env: &Env) -> String {
    fs::read_to_string(env.home().join(".tracecraft/hook.log")).unwrap_or_default()
}

/// A whole Codex session through its hooks, as Codex 0.171 fires them: SessionStart
/// (rollout with its first lines), UserPromptSubmit, Stop (the turn's `task_complete` lands
/// 300 ms later), a resumed turn, SessionEnd. After each: the replay of `sessions/codex/<id>/`
/// equals the rollout byte for byte; meta.json says `"harness": "codex"`; nothing goes to
/// `sessions/claude-code/`; the local state is in `state/codex/`.
#[test]
fn codex_hook_events_mirror_the_rollout_exactly_on_every_backend() {
    for b in backends() {
        let Some(env) = codex_env(b, "codex-hooks") else { continue };
        let sid = "01a22927-b313-7373-95c6-c356234b28ff";
        let rollout = env.transcript_path(sid);
        let exact = |what: &str| {
            assert_eq!(
                String::from_utf8_lossy(&env.replay(sid)),
                String::from_utf8_lossy(&fs::read(&rollout).unwrap()),
                "{} {what}: replay differs; log:\n{}",
                b.name(),
                hook_log(&env)
            )
        };
        env.write_transcript(sid, 2, 0); // session_meta, task_started
        clean_hook(&env.run_hook(&env.payload("SessionStart", sid)));
        exact("after SessionStart");
        env.write_transcript(sid, 5, 2);
        clean_hook(&env.run_hook(&env.payload("UserPromptSubmit", sid)));
        exact("after UserPromptSubmit");
        // Stop fires with the assistant message on disk, task_complete not yet.
        env.write_transcript(sid, 1, 7);
        let stop = env.payload("Stop", sid);
        let late = common::codex::rollout_line(sid, env.project_dir(), 8);
        assert!(late.contains("task_complete"));
        let path = rollout.clone();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            common::append(&path, late.as_bytes());
        });
        let t = Instant::now();
        clean_hook(&env.run_hook(&stop));
        writer.join().unwrap();
        exact("after Stop (task_complete landed 300 ms after Stop)");
        assert!(t.elapsed() < Duration::from_secs(10));
        // codex resume: SessionStart(resume), another turn, then SessionEnd.
        clean_hook(&env.run_hook(&env.payload("SessionStart/resume", sid)));
        env.write_transcript(sid, 8, 9);
        clean_hook(&env.run_hook(&env.payload("Stop", sid)));
        exact("after the resumed turn");
        clean_hook(&env.run_hook(&env.payload("SessionEnd", sid)));
        exact("after SessionEnd");

        let meta = env.meta(sid).expect("meta.json");
        assert_eq!(meta["harness"], "codex");
        assert_eq!(meta["session_id"], sid);
        assert_eq!(meta["cwd"], env.project_dir().to_str().unwrap());
        assert_eq!(meta["source_path"], rollout.to_str().unwrap());
        assert!(meta["ended_at"].is_string(), "{meta}");
        assert_eq!(meta["end_reason"], "other");
        assert_eq!(meta["stats"]["turns"], 2, "{meta}");
        // Everything under the session's prefix, besides this machine's team index object
        // (`<project>/@index/`, issue 15).
        let keys: Vec<String> =
            env.project_keys().into_iter().filter(|k| !k.starts_with(&format!("{}/@index/", env.project))).collect();
        assert!(keys.iter().all(|k| k.starts_with(&format!("{}/sessions/codex/{sid}/", env.project))), "{keys:?}");
        let state = env.home().join(".tracecraft/state");
        assert!(state.join("codex").join(format!("{sid}.json")).is_file());
        assert!(!state.join(format!("{sid}.json")).exists(), "no Claude Code state for a Codex session");
    }
}

/// The hook registered without `--harness` (an older hooks.json) still knows a Codex
/// session by its transcript_path under $CODEX_HOME/sessions (CODEX_HOME honoured); a Codex
/// path is refused when the hook was registered for Claude Code, and a path outside both
/// directories is refused.
#[test]
fn codex_is_recognised_by_its_transcript_path_and_codex_home_is_honoured() {
    let env = codex_env(Backend::Local, "codex-detect").unwrap();
    let sid = "detect-1";
    env.write_transcript(sid, 9, 0);
    // `Env::cmd` adds `--harness codex`; run the bare `hook` instead.
    let mut bare = env.home_dir().cmd(&["hook"]);
    bare.env("TRACECRAFT_PROJECT", &env.project).env("TRACECRAFT_HOOK_INLINE", "1").current_dir(env.project_dir());
    let input = serde_json::to_vec(&env.payload("Stop", sid)).unwrap();
    let out = common::run_with_timeout(bare, Some(input), true, common::RUN_TIMEOUT).unwrap();
    clean_hook(&out);
    assert_eq!(env.replay(sid), fs::read(env.transcript_path(sid)).unwrap(), "{}", hook_log(&env));
    assert_eq!(env.meta(sid).unwrap()["harness"], "codex");

    // CODEX_HOME elsewhere: its rollouts count, ~/.codex's do not.
    let other = env.home().join("elsewhere");
    let moved = common::codex::rollout_path(&other, "detect-2");
    common::append(&moved, &env.lines("detect-2", 0, 9));
    let mut p = env.payload("Stop", "detect-2");
    p["transcript_path"] = json!(moved.to_str().unwrap());
    let mut c = env.cmd(&["hook"]);
    c.env("CODEX_HOME", &other);
    let out = common::run_with_timeout(c, Some(serde_json::to_vec(&p).unwrap()), true, common::RUN_TIMEOUT).unwrap();
    clean_hook(&out);
    assert_eq!(env.replay("detect-2"), fs::read(&moved).unwrap());
    // Without CODEX_HOME that path is outside Codex's directory: refused, logged, exit 0.
    let out = env.run_hook(&env.payload("Stop", "detect-3")); // no rollout: nothing
    clean_hook(&out);
    let mut p = p.clone();
    p["session_id"] = json!("detect-4");
    let out = env.run_hook(&p);
    clean_hook(&out);
    assert!(env.part_keys("detect-4").is_empty());
    assert!(hook_log(&env).contains("outside Codex's sessions directory"), "{}", hook_log(&env));
    // A Claude Code hook (`hook`, no --harness) does not take /etc/passwd either.
    let mut p = env.payload("Stop", "detect-5");
    p["transcript_path"] = json!("/etc/passwd");
    clean_hook(&env.run_hook(&p));
    assert!(env.part_keys("detect-5").is_empty());
}

/// One id, two harnesses: a Claude Code session and a Codex session with the same id keep
/// apart (store prefixes and local state), both exact.
#[test]
fn the_same_id_in_both_harnesses_does_not_collide() {
    let claude = Env::new(Backend::Local, "same-id");
    let sid = "same-id-1";
    claude.write_transcript(sid, 4, 0);
    clean_hook(&claude.run_hook(&claude.payload("UserPromptSubmit", sid)));
    let codex = claude.in_harness(Harness::Codex);
    codex.write_transcript(sid, 9, 0);
    clean_hook(&codex.run_hook(&codex.payload("Stop", sid)));
    codex.write_transcript(sid, 8, 9);
    clean_hook(&codex.run_hook(&codex.payload("SessionEnd", sid)));
    assert_eq!(codex.replay(sid), fs::read(codex.transcript_path(sid)).unwrap());
    let claude = codex.in_harness(Harness::ClaudeCode);
    claude.write_transcript(sid, 2, 4);
    clean_hook(&claude.run_hook(&claude.payload("Stop", sid)));
    assert_eq!(claude.replay(sid), fs::read(claude.transcript_path(sid)).unwrap());
    assert!(claude.meta(sid).unwrap()["ended_at"].is_null(), "the Codex SessionEnd did not end the Claude session");
    assert_eq!(claude.meta(sid).unwrap()["harness"], "claude-code");
}

/// Claude Code's SessionEnd budget and Codex's 3 s cap kill the hook's process group; the
/// detached worker (its own group) still sends the last bytes and stamps ended_at, on both
/// harnesses, with a slow store.
#[test]
fn session_end_hook_killed_with_its_process_group_loses_nothing_on_both_harnesses() {
    for h in HARNESSES {
        let Some(env) = Env::try_new(Backend::S3s, "end-kill") else { return };
        let env = env.in_harness(h);
        let proxy = common::FaultProxy::start(env.server_addr(), common::FaultProxy::mode(common::Fault::PassThrough));
        env.write_config(&proxy.endpoint());
        let sid = "end-kill";
        env.write_transcript(sid, 9, 0);
        clean_hook(&env.run_hook(&env.payload("UserPromptSubmit", sid)));
        env.write_transcript(sid, 8, 9);
        common::append(
            &env.transcript_path(sid),
            b"{\"timestamp\":\"2026-11-29T21:14:00Z\",\"type\":\"event_msg\",\"payl",
        );
        proxy.set(common::Fault::Slow(Duration::from_millis(800)));
        // The hook in a process group of its own, killed (SIGKILL to the group) as soon as it
        // returns its answer, like Codex/Claude Code do at their SessionEnd cap.
        let mut cmd = env.cmd(&["hook"]);
        cmd.env_remove("TRACECRAFT_HOOK_INLINE").stdin(Stdio::piped()).stdout(Stdio::piped());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(&serde_json::to_vec(&env.payload("SessionEnd", sid)).unwrap()).unwrap();
        let pid = child.id();
        let out = child.wait_with_output().unwrap();
        clean_hook(&out);
        let _ = std::process::Command::new("kill").args(["-KILL", &format!("-{pid}")]).status();
        let t = Instant::now();
        loop {
            let done = env.meta(sid).is_some_and(|m| m["ended_at"].is_string())
                && env.replay(sid) == fs::read(env.transcript_path(sid)).unwrap();
            if done {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(40), "{}: not finished; log:\n{}", h.dir(), hook_log(&env));
            std::thread::sleep(Duration::from_millis(50));
        }
        proxy.set(common::Fault::PassThrough);
    }
}

/// The Python CLI (`tracecraft session show`) replays a Codex session we wrote, and our hook
/// continues a Codex session the Python CLI began (`session mirror --harness codex`) without
/// sending its bytes again.
#[test]
fn python_reads_our_codex_sessions_and_we_continue_its_own() {
    let Some(env) = codex_env(Backend::S3s, "py-codex") else { return };
    let ours = "0c0dec5e-0000-4000-8000-000000000001";
    env.write_transcript(ours, 17, 0);
    clean_hook(&env.run_hook(&env.payload("Stop", ours)));
    clean_hook(&env.run_hook(&env.payload("SessionEnd", ours)));
    let Some(out) = env.tracecraft_py(&["session", "show", ours, "--tail", "1000"]) else { return };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("codex"), "{text}");
    let tail = text.split("--- tail ---\n").nth(1).unwrap_or_else(|| panic!("{text}"));
    assert_eq!(tail.as_bytes(), &fs::read(env.transcript_path(ours)).unwrap()[..]);
    let listed = env.tracecraft_py(&["session", "list", "--harness", "codex"]).unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&ours[..8]));

    // Begun by Python (it reads ~/.codex/sessions), continued by our hook.
    let theirs = "0c0dec5e-0000-4000-8000-000000000002";
    env.write_transcript(theirs, 9, 0);
    let cwd = env.project_dir().to_str().unwrap().to_string();
    env.tracecraft_py(&["session", "mirror", "--harness", "codex", "--session-id", theirs, "--cwd", &cwd]).unwrap();
    assert_eq!(env.part_keys(theirs).len(), 1, "Python wrote part 0");
    env.write_transcript(theirs, 8, 9);
    clean_hook(&env.run_hook(&env.payload("Stop", theirs)));
    assert_eq!(env.replay(theirs), fs::read(env.transcript_path(theirs)).unwrap(), "continued exactly");
    let keys = env.part_keys(theirs);
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys[1].contains("/part-00001-"), "{keys:?}");
    let meta = env.meta(theirs).unwrap();
    assert_eq!(meta["harness"], "codex");
    assert_eq!(meta["parts"].as_array().unwrap().len(), 2, "{meta}");
}

fn write(p: &Path, s: &str) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, s).unwrap();
}

/// `install --codex` / `uninstall --codex`, user and project scope: hooks.json gets our five
/// events (SessionEnd's timeout within Codex's 3 s cap) beside the user's own hooks, twice
/// changes nothing, config.toml's switched-off hooks come back on with every comment kept, and
/// uninstall puts both files back byte for byte.
#[test]
fn install_codex_round_trip_keeps_everything_else() {
    let home = common::Home::new();
    let codex = home.path().join(".codex");
    let config = "# my codex\nmodel = \"gpt-5.5\"   # the best\n\n[features]\nhooks = false # hooks off for now\nplugins = false\n\n[model_providers.x]\nbase_url = \"http://127.0.0.1:1/v1\" # local\n";
    let hooks = "{\n  \"hooks\": {\n    \"Stop\": [\n      {\n        \"hooks\": [\n          {\n            \"type\": \"command\",\n            \"command\": \"/usr/local/bin/notify --done\",\n            \"timeout\": 5\n          }\n        ]\n      }\n    ]\n  }\n}\n";
    write(&codex.join("config.toml"), config);
    write(&codex.join("hooks.json"), hooks);
    let run = |args: &[&str]| ok(&home.cmd(args).output().unwrap());
    let said = run(&["install", "--codex"]);
    assert!(
        said.contains("registered tracecraft-hook for SessionStart, UserPromptSubmit, Stop, PreCompact, SessionEnd"),
        "{said}"
    );
    assert!(said.contains("trust"), "install says how to trust the hook: {said}");
    let v: Value = serde_json::from_slice(&fs::read(codex.join("hooks.json")).unwrap()).unwrap();
    let bin = fs::canonicalize(env!("CARGO_BIN_EXE_tracecraft-hook")).unwrap();
    for (event, timeout) in
        [("SessionStart", 10), ("UserPromptSubmit", 10), ("Stop", 10), ("PreCompact", 10), ("SessionEnd", 3)]
    {
        let handlers: Vec<&Value> =
            v["hooks"][event].as_array().unwrap().iter().flat_map(|g| g["hooks"].as_array().unwrap()).collect();
        let ours: Vec<&&Value> =
            handlers.iter().filter(|h| h["command"].as_str().unwrap().ends_with("hook --harness codex")).collect();
        assert_eq!(ours.len(), 1, "{event}: {v}");
        assert!(
            ours[0]["command"].as_str().unwrap().starts_with(bin.to_str().unwrap())
                || ours[0]["command"].as_str().unwrap().contains("tracecraft-hook hook")
        );
        assert_eq!(ours[0]["timeout"], timeout, "{event}");
    }
    assert_eq!(
        v["hooks"]["Stop"][0]["hooks"][0]["command"], "/usr/local/bin/notify --done",
        "the user's hook stays first"
    );
    let toml = fs::read_to_string(codex.join("config.toml")).unwrap();
    assert!(toml.contains("hooks = true"), "{toml}");
    assert!(toml.contains("# hooks off for now") && toml.contains("# my codex") && toml.contains("# local"), "{toml}");
    let (h1, c1) = (fs::read(codex.join("hooks.json")).unwrap(), toml.clone());
    let again = run(&["install", "--codex"]);
    assert!(again.contains("already registered"), "{again}");
    assert_eq!(fs::read(codex.join("hooks.json")).unwrap(), h1, "idempotent");
    assert_eq!(fs::read_to_string(codex.join("config.toml")).unwrap(), c1, "idempotent");
    // doctor sees the registration and that it is not trusted yet.
    let doc = home.cmd(&["doctor"]).output().unwrap();
    let doc = String::from_utf8_lossy(&doc.stdout).into_owned() + &String::from_utf8_lossy(&doc.stderr);
    assert!(doc.contains("registered in") && doc.contains("not trusted yet"), "{doc}");
    run(&["uninstall", "--codex"]);
    assert_eq!(fs::read_to_string(codex.join("hooks.json")).unwrap(), hooks, "hooks.json back byte for byte");
    assert_eq!(fs::read_to_string(codex.join("config.toml")).unwrap(), config, "config.toml back byte for byte");
    let twice = run(&["uninstall", "--codex"]);
    assert!(twice.contains("not registered"), "{twice}");

    // Project scope: <repo>/.codex/hooks.json, created and removed again.
    let repo = home.dir("repo");
    run(&["install", "--codex", "--scope", "project", "--project-dir", repo.to_str().unwrap()]);
    assert!(repo.join(".codex/hooks.json").is_file());
    run(&["uninstall", "--codex", "--scope", "project", "--project-dir", repo.to_str().unwrap()]);
    assert!(!repo.join(".codex/hooks.json").exists(), "install created it, uninstall removed it");
    let bad = home.cmd(&["install", "--codex", "--scope", "local"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    // Trust recorded in config.toml (as codex-kit/hook_trust.py writes it) satisfies doctor.
    run(&["install", "--codex"]);
    let hooks_json = codex.join("hooks.json");
    let mut trusted = fs::read_to_string(codex.join("config.toml")).unwrap();
    for (e, i) in [("session_start", 0), ("user_prompt_submit", 0), ("stop", 1), ("pre_compact", 0), ("session_end", 0)]
    {
        trusted.push_str(&format!(
            "\n[hooks.state.\"{}:{e}:{i}:0\"]\ntrusted_hash = \"sha256:00\"\n",
            hooks_json.display()
        ));
    }
    fs::write(codex.join("config.toml"), trusted).unwrap();
    let doc = home.cmd(&["doctor"]).output().unwrap();
    let doc = String::from_utf8_lossy(&doc.stdout).into_owned();
    assert!(doc.contains("our hooks are trusted"), "{doc}");
}

/// `--harness` on the commands, and the HARNESS column of `list`.
#[test]
fn commands_take_harness() {
    let env = codex_env(Backend::Local, "harness-cmds").unwrap();
    let (cx, cc) = ("cx-0001", "cc-0001");
    env.write_transcript(cx, 17, 0);
    ok(&env.run(&["flush", "--session-id", cx])); // `--harness codex` added by Env
    let env = env.in_harness(Harness::ClaudeCode);
    env.write_transcript(cc, 4, 0);
    ok(&env.run(&["flush", "--session-id", cc]));
    let env = env.in_harness(Harness::Codex);

    let table = ok(&env.run(&["list"]));
    let head = table.lines().next().unwrap();
    assert!(head.contains("HARNESS"), "{table}");
    let row =
        |id: &str| table.lines().find(|l| l.starts_with(id)).unwrap_or_else(|| panic!("{id}: {table}")).to_string();
    assert!(row(cx).contains(" codex "), "{table}");
    assert!(row(cc).contains(" claude-code "), "{table}");
    let rows: Value = serde_json::from_str(&ok(&env.run(&["list", "--json", "--harness", "codex"]))).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0]["id"].as_str(), rows[0]["harness"].as_str()), (Some(cx), Some("codex")));
    assert_eq!(rows[0]["turns"], 2);
    let rows: Value = serde_json::from_str(&ok(&env.run(&["list", "--json", "--harness", "claude-code"]))).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);

    // show: raw replay, found with or without --harness.
    let rollout = fs::read(env.transcript_path(cx)).unwrap();
    assert_eq!(env.run(&["show", cx, "--raw"]).stdout, rollout);
    assert_eq!(env.run(&["show", cx, "--raw", "--harness", "codex"]).stdout, rollout);
    let out = env.run(&["show", cx, "--harness", "claude-code"]);
    assert_eq!(out.status.code(), Some(1), "not a Claude Code session");

    // stats: only Codex's numbers with --harness codex.
    let st: Value = serde_json::from_str(&ok(&env.run(&["stats", "--json", "--harness", "codex"]))).unwrap();
    assert_eq!(st["sessions"], 1);
    assert_eq!(st["turns"], 2);
    assert_eq!(st["tool_calls"], 2);
    assert_eq!(st["tokens"][common::codex::MODEL]["output"], 100, "{st}");
    let both: Value = serde_json::from_str(&ok(&env.run(&["stats", "--json"]))).unwrap();
    assert_eq!(both["sessions"], 2);

    // search finds text of a Codex session only with --harness codex.
    let found = ok(&env.run(&["search", "all tests pass", "--harness", "codex", "--count"]));
    assert!(found.contains(cx), "{found}");

    // backfill --harness codex: the rollouts already on disk, exactly once.
    let old = "cx-0002";
    env.write_transcript(old, 9, 0);
    ok(&env.run(&["backfill", "--harness", "codex"]));
    assert_eq!(env.replay(old), fs::read(env.transcript_path(old)).unwrap());
    let again = ok(&env.run(&["backfill", "--harness", "codex"]));
    assert_eq!(env.replay(old), fs::read(env.transcript_path(old)).unwrap(), "{again}");

    // stop and compact of a Codex session.
    env.write_transcript(cx, 8, 17);
    ok(&env.run(&["flush", "--session-id", cx]));
    ok(&env.run(&["compact", cx]));
    assert_eq!(env.part_keys(cx).len(), 1);
    assert_eq!(env.replay(cx), fs::read(env.transcript_path(cx)).unwrap());
    ok(&env.run(&["stop", cx, "--harness", "codex"]));
    assert_eq!(env.meta(cx).unwrap()["end_reason"], "stop");
}

/// `restore --harness codex` writes the stored copy back to $CODEX_HOME/sessions/YYYY/MM/DD/
/// (where `codex resume` finds it) with its state seeded: the next turn's hook sends only the
/// new lines.
#[test]
fn restore_codex_session_back_into_codex_home() {
    for b in [Backend::Local, Backend::S3s] {
        let Some(env) = codex_env(b, "restore-codex") else { continue };
        let sid = "0c0dec5e-0000-4000-8000-0000000000aa";
        env.write_transcript(sid, 17, 0);
        clean_hook(&env.run_hook(&env.payload("SessionEnd", sid)));
        let stored = env.replay(sid);
        // Another machine: the rollout and local state are gone.
        fs::remove_dir_all(env.codex_home()).unwrap();
        fs::remove_dir_all(env.home().join(".tracecraft/state")).unwrap();
        let said = ok(&env.run(&["restore", sid, "--harness", "codex"]));
        assert!(said.contains("codex resume"), "{said}");
        let back = env.transcript_path(sid);
        assert_eq!(fs::read(&back).unwrap(), stored, "{said}");
        let parts = env.part_keys(sid).len();
        env.write_transcript(sid, 8, 17);
        clean_hook(&env.run_hook(&env.payload("SessionStart/resume", sid)));
        clean_hook(&env.run_hook(&env.payload("Stop", sid)));
        assert_eq!(env.replay(sid), fs::read(&back).unwrap());
        assert_eq!(env.part_keys(sid).len(), parts + 1, "only the new turn was sent");
    }
}

/// Insight of a real Codex CLI 0.171 rollout (a tool-call turn and a resumed turn): turns,
/// tool calls, tokens per model from `token_count`.
#[test]
fn codex_insight_counts_a_real_rollout() {
    let env = codex_env(Backend::Local, "codex-insight").unwrap();
    let sid = "01a22927-b313-7373-95c6-c356234b28ff";
    let real =
        fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/codex/rollout-tool-resume.jsonl")).unwrap();
    common::append(&env.transcript_path(sid), &real);
    clean_hook(&env.run_hook(&env.payload("SessionEnd", sid)));
    assert_eq!(env.replay(sid), real);
    let st = &env.meta(sid).unwrap()["stats"];
    assert_eq!(st["turns"], 2, "{st}");
    assert_eq!(st["assistant_messages"], 2, "{st}");
    assert_eq!(st["tool_calls"], json!({"exec_command": 1}), "{st}");
    // The last token_count's total_token_usage: input 309 (none cached), output 39.
    assert_eq!(
        st["tokens"]["mock-model"],
        json!({"input": 309, "output": 39, "cache_creation": 0, "cache_read": 0}),
        "{st}"
    );
    assert_eq!(st["version"], "0.171.0");
    assert_eq!(st["git_branch"], "master");
}

/// `install --codex --trust` asks `codex app-server` (here a stand-in speaking its JSON-RPC:
/// initialize, hooks/list answering like Codex 0.171) for our handlers' keys and hashes and
/// records them in config.toml; doctor then says they are trusted; `uninstall --codex` removes
/// exactly those entries. A missing codex binary is one clear error.
#[test]
fn install_codex_trust_records_what_codex_app_server_lists() {
    let home = common::Home::new();
    let codex = home.path().join(".codex");
    let config = "model = \"m\" # mine\n";
    write(&codex.join("config.toml"), config);
    let fake = home.path().join("fake-codex");
    write(
        &fake,
        r#"#!/usr/bin/env python3
import json, os, sys, hashlib
assert sys.argv[1:] == ["app-server"], sys.argv
hooks_json = os.path.join(os.environ["HOME"], ".codex", "hooks.json")
for line in sys.stdin:
    m = json.loads(line)
    if m.get("id") == 1:
        print(json.dumps({"id": 1, "result": {"userAgent": "fake"}}), flush=True)
    elif m.get("id") == 2:
        doc = json.load(open(hooks_json))
        out = []
        for ev, groups in doc["hooks"].items():
            snake = "".join("_" + c.lower() if c.isupper() else c for c in ev).lstrip("_")
            for gi, g in enumerate(groups):
                for hi, h in enumerate(g["hooks"]):
                    out.append({"key": "%s:%s:%d:%d" % (hooks_json, snake, gi, hi), "eventName": ev, "command": h["command"],
                                "sourcePath": hooks_json, "currentHash": "sha256:" + hashlib.sha256(h["command"].encode()).hexdigest(),
                                "trustStatus": "untrusted"})
        print(json.dumps({"method": "noise"}), flush=True)
        print(json.dumps({"id": 2, "result": {"data": [{"cwd": m["params"]["cwds"][0], "hooks": out}]}}), flush=True)
"#,
    );
    fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = |args: &[&str]| ok(&home.cmd(args).output().unwrap());
    let said = run(&["install", "--codex", "--trust", "--codex-bin", fake.to_str().unwrap()]);
    assert!(said.contains("trusted our 5 handler(s)"), "{said}");
    let toml = fs::read_to_string(codex.join("config.toml")).unwrap();
    assert!(toml.starts_with(config), "{toml}");
    assert_eq!(toml.matches("trusted_hash = \"sha256:").count(), 5, "{toml}");
    let doc = home.cmd(&["doctor"]).output().unwrap();
    assert!(String::from_utf8_lossy(&doc.stdout).contains("our hooks are trusted"), "{doc:?}");
    let again = run(&["install", "--codex", "--trust", "--codex-bin", fake.to_str().unwrap()]);
    assert!(again.contains("already trusted"), "{again}");
    run(&["uninstall", "--codex"]);
    assert_eq!(fs::read_to_string(codex.join("config.toml")).unwrap(), config, "back byte for byte");
    let missing = home.cmd(&["install", "--codex", "--trust", "--codex-bin", "/nonexistent/codex"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(1));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("/nonexistent/codex") && err.lines().count() == 1, "{err}");
}
