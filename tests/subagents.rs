//! Subagent transcripts through the real hook (`TRACECRAFT_HOOK_INLINE=1`, so the work is
//! done when the hook exits): each is mirrored exactly under `<sid>.agent-<agent-id>/`, linked
//! both ways in meta.json, caught up when SubagentStop was missed or came too early, and never
//! shown as a session of its own. Synthetic transcripts shaped like Claude Code 2.1's (the
//! real CLI's are checked in `e2e_claude.rs`, scenario 4).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::transcript::{subagent_transcript_path, transcript_line};
use common::{append, backends, Backend, Env};
use serde_json::{json, Value};

/// The agent id `common::payload` puts in SubagentStop payloads.
const AGENT: &str = "afac1088fbd81cb24";

/// Lines `start..start + n` of a subagent transcript of session `sid`, as Claude Code writes
/// them (the session's id, `isSidechain`, `agentId`).
fn agent_lines(sid: &str, agent: &str, cwd: &Path, start: u64, n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for i in start..start + n {
        let mut v: Value = serde_json::from_str(&transcript_line(sid, cwd, i)).unwrap();
        v["isSidechain"] = json!(true);
        v["agentId"] = json!(agent);
        if let Some(id) = v["message"]["id"].as_str() {
            v["message"]["id"] = json!(format!("{id}_{agent}"));
        }
        out.extend(serde_json::to_vec(&v).unwrap());
        out.push(b'\n');
    }
    out
}

struct T {
    e: Env,
    sid: String,
}

impl T {
    fn new(b: Backend, name: &str) -> T {
        T { e: Env::new(b, name), sid: common::transcript::fake_uuid(name, 7) }
    }

    fn transcript(&self) -> PathBuf {
        self.e.transcript_path(&self.sid)
    }

    fn agent_path(&self, agent: &str) -> PathBuf {
        subagent_transcript_path(&self.transcript(), &self.sid, agent)
    }

    fn child(&self, agent: &str) -> String {
        format!("{}.agent-{agent}", self.sid)
    }

    /// Append subagent lines and return them.
    fn agent_write(&self, agent: &str, start: u64, n: u64) -> Vec<u8> {
        let b = agent_lines(&self.sid, agent, self.e.project_dir(), start, n);
        append(&self.agent_path(agent), &b);
        b
    }

    /// Run the hook; it must exit 0 and print nothing.
    fn hook(&self, payload: &Value) {
        let out = self.e.run_hook(payload);
        assert!(out.status.success(), "hook failed: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout.is_empty(), "hook printed {:?}", String::from_utf8_lossy(&out.stdout));
    }

    fn event(&self, name: &str) {
        self.hook(&self.e.payload(name, &self.sid));
    }

    fn run(&self, args: &[&str]) -> Vec<u8> {
        let out = self.e.run(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    /// Only parts and meta.json under a session's prefix (tracecraft's `show` prints the rest).
    fn assert_clean_prefix(&self, id: &str) {
        for k in self.e.list_keys(&self.e.session_prefix(id)) {
            assert!(common::is_part_key(&k) || k.ends_with("/meta.json"), "stray object {k}");
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.e.home().join(".tracecraft/hook.log")).unwrap_or_default()
    }
}

#[test]
fn subagent_mirror_is_exact_and_linked_on_every_backend() {
    for b in backends() {
        eprintln!("--- on {}", b.name());
        let t = T::new(b, "subagent-exact");
        let child = t.child(AGENT);
        t.event("SessionStart");
        let mut parent = t.e.write_transcript(&t.sid, 3, 0);
        let mut agent = t.agent_write(AGENT, 0, 4);
        std::fs::write(
            t.agent_path(AGENT).with_extension("meta.json"),
            br#"{"agentType":"general-purpose","description":"greet","toolUseId":"toolu_mock_1","spawnDepth":1}"#,
        )
        .unwrap();
        t.event("SubagentStop");
        assert_eq!(t.e.replay(&child), agent, "subagent mirror");
        assert_eq!(t.e.replay(&t.sid), parent, "parent mirror");
        let cm = t.e.meta(&child).expect("subagent meta.json");
        assert_eq!(cm["session_id"], json!(child));
        assert_eq!(cm["parent_session_id"], json!(t.sid));
        assert_eq!(cm["subagent"], json!({"agent_id": AGENT, "agent_type": "general-purpose"}));
        assert_eq!(cm["sidecar"]["description"], json!("greet"));
        assert_eq!(cm["source_path"], json!(t.agent_path(AGENT).to_string_lossy()));
        assert_eq!(cm["stats"]["turns"], json!(2));
        let pm = t.e.meta(&t.sid).unwrap();
        let subs = pm["subagents"].as_array().expect("subagents in the parent's meta.json");
        assert_eq!(subs.len(), 1);
        assert_eq!(subs[0]["agent_id"], json!(AGENT));
        assert_eq!(subs[0]["agent_type"], json!("general-purpose"));
        assert_eq!(subs[0]["description"], json!("greet"));
        assert_eq!(subs[0]["session_id"], json!(child));
        assert_eq!(subs[0]["key_prefix"], json!(t.e.session_prefix(&child)));

        // The agent goes on (SendMessage) while the parent's turn ends: caught up at Stop.
        parent.extend(t.e.write_transcript(&t.sid, 2, 3));
        agent.extend(t.agent_write(AGENT, 4, 2));
        t.event("Stop");
        assert_eq!(t.e.replay(&child), agent);
        t.event("SessionEnd");
        assert_eq!(t.e.replay(&child), agent);
        assert_eq!(t.e.replay(&t.sid), parent);
        let cm = t.e.meta(&child).unwrap();
        assert!(cm["ended_at"].is_string(), "the subagent ends with its session: {cm}");
        assert_eq!(cm["end_reason"], json!("other"));
        let pm = t.e.meta(&t.sid).unwrap();
        assert_eq!(pm["stats"]["subagent_tokens"], cm["stats"]["tokens"], "tokens rolled up");
        assert_eq!(pm["subagents"][0]["tokens"], cm["stats"]["tokens"]);
        t.assert_clean_prefix(&t.sid);
        t.assert_clean_prefix(&child);

        // list: the subagent is under its session, not a session of its own.
        let list: Value = serde_json::from_slice(&t.run(&["list", "--json"])).unwrap();
        let ids: Vec<&str> = list.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [t.sid.as_str()]);
        assert_eq!(list[0]["subagents"][0]["id"], json!(child));
        assert_eq!(list[0]["subagents"][0]["agent_type"], json!("general-purpose"));
        assert_eq!(list[0]["subagents"][0]["bytes"], json!(agent.len()));
        let table = String::from_utf8(t.run(&["list"])).unwrap();
        assert!(table.contains(&format!("  └ agent-{AGENT} general-purpose")), "{table}");
        // show: the session alone, or with its subagents appended (piped: raw JSONL).
        assert_eq!(t.run(&["show", &t.sid]), parent);
        assert_eq!(t.run(&["show", &t.sid[..8]]), parent, "a prefix means the session, not its subagent");
        assert_eq!(t.run(&["show", &t.sid, "--subagents"]), [parent.clone(), agent.clone()].concat());
        assert_eq!(t.run(&["show", &child]), agent);
    }
}

#[test]
fn subagent_stop_waits_for_the_agents_last_line() {
    let t = T::new(Backend::Local, "subagent-last-line");
    let child = t.child(AGENT);
    t.e.write_transcript(&t.sid, 1, 0);
    let mut agent = t.agent_write(AGENT, 0, 3);
    let last = agent_lines(&t.sid, AGENT, t.e.project_dir(), 3, 1);
    let mut p = t.e.payload("SubagentStop", &t.sid);
    let v: Value = serde_json::from_slice(&last).unwrap();
    p["last_assistant_message"] = v["message"]["content"][0]["text"].clone();
    let path = t.agent_path(AGENT);
    let late = last.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        append(&path, &late);
    });
    t.hook(&p);
    writer.join().unwrap();
    agent.extend(last);
    assert_eq!(t.e.replay(&child), agent, "the line written 300 ms after SubagentStop is mirrored");
}

#[test]
fn missed_subagent_stop_is_caught_up_on_the_next_event_and_at_session_end() {
    for b in backends() {
        eprintln!("--- on {}", b.name());
        let t = T::new(b, "subagent-catch-up");
        let child = t.child("a0b1c2d3e4f5a6b7c");
        t.event("SessionStart");
        t.e.write_transcript(&t.sid, 2, 0);
        let mut agent = t.agent_write("a0b1c2d3e4f5a6b7c", 0, 2);
        // No SubagentStop: the parent's next event mirrors it.
        t.e.write_transcript(&t.sid, 2, 2);
        t.event("Stop");
        assert_eq!(t.e.replay(&child), agent);
        assert_eq!(t.e.meta(&t.sid).unwrap()["subagents"][0]["session_id"], json!(child));
        assert_eq!(t.e.meta(&child).unwrap()["subagent"]["agent_type"], Value::Null, "no sidecar, no payload");
        // More agent lines and nothing else: SessionEnd sends them and ends the subagent.
        agent.extend(t.agent_write("a0b1c2d3e4f5a6b7c", 2, 3));
        t.event("SessionEnd");
        assert_eq!(t.e.replay(&child), agent);
        assert!(t.e.meta(&child).unwrap()["ended_at"].is_string());
        t.assert_clean_prefix(&child);
    }
}

#[test]
fn announced_path_that_never_appears_costs_one_log_line() {
    let t = T::new(Backend::Local, "subagent-never-created");
    let parent = t.e.write_transcript(&t.sid, 2, 0);
    // Claude Code's compaction agent: announced, empty type, never written.
    let ghost = "a2dda41437eda292e";
    let mut p = t.e.payload("SubagentStop", &t.sid);
    p["agent_id"] = json!(ghost);
    p["agent_type"] = json!("");
    p["agent_transcript_path"] = json!(t.agent_path(ghost).to_string_lossy());
    p["last_assistant_message"] = json!("<summary>Mock summary.</summary>");
    let t0 = Instant::now();
    t.hook(&p);
    assert!(t0.elapsed() < Duration::from_secs(5), "took {:?}", t0.elapsed());
    assert_eq!(t.e.replay(&t.sid), parent);
    assert!(t.e.list_keys(&t.e.session_prefix(&t.child(ghost))).is_empty());
    assert!(t.e.meta(&t.sid).unwrap().get("subagents").is_none());
    let log = t.log();
    assert_eq!(log.lines().filter(|l| l.contains(ghost)).count(), 1, "{log}");
    assert!(!log.contains("ERROR") && !log.contains("WARN"), "{log}");
    // Announced again: still no error, one more line at most.
    t.hook(&p);
    assert_eq!(t.log().lines().filter(|l| l.contains(ghost)).count(), 2);
}

#[test]
fn older_layout_agent_files_beside_the_session_are_mirrored_when_they_are_its_own() {
    let t = T::new(Backend::Local, "subagent-old-layout");
    let dir = t.transcript().parent().unwrap().to_path_buf();
    t.e.write_transcript(&t.sid, 2, 0);
    let mine = agent_lines(&t.sid, "old01", t.e.project_dir(), 0, 3);
    append(&dir.join("agent-old01.jsonl"), &mine);
    let other_sid = "0b9f4e2a-5c1d-4f3e-8a7b-6c5d4e3f2a1b";
    append(&dir.join("agent-old02.jsonl"), &agent_lines(other_sid, "old02", t.e.project_dir(), 0, 3));
    t.e.write_transcript(&t.sid, 2, 2);
    t.event("Stop");
    assert_eq!(t.e.replay(&t.child("old01")), mine);
    assert!(t.e.list_keys(&t.e.session_prefix(&t.child("old02"))).is_empty(), "another session's agent");
    assert!(t.e.list_keys(&t.e.session_prefix(&format!("{other_sid}.agent-old02"))).is_empty());
}

// ---------------------------------------------------------------- backfill and stop (issue 15)

/// Pretend `p` was last modified `days` ago.
fn age_days(p: &Path, days: u64) {
    let f = std::fs::File::options().write(true).open(p).unwrap();
    f.set_modified(std::time::SystemTime::now() - Duration::from_secs(days * 86_400)).unwrap();
}

/// `1234567` -> `1,234,567`, as the binary prints byte counts.
fn thousands(n: usize) -> String {
    common::thousands(n as u64)
}

#[test]
fn backfill_mirrors_old_sessions_with_their_subagents_exactly() {
    let Some(e) = Env::try_new(Backend::S3s, "backfill-subagents") else { return };
    let t = T { e, sid: common::transcript::fake_uuid("backfill-old", 1) };
    let new_sid = common::transcript::fake_uuid("backfill-new", 2);
    let new_child = format!("{new_sid}.agent-cc33");
    let new_agent_path = subagent_transcript_path(&t.e.transcript_path(&new_sid), &new_sid, "cc33");
    let new_agent_write = |start: u64, n: u64| {
        let b = agent_lines(&new_sid, "cc33", t.e.project_dir(), start, n);
        append(&new_agent_path, &b);
        b
    };

    // An old session (idle for days) with a subagent in today's layout (with its sidecar)
    // and one in the older layout beside the session file; a fresh session with one subagent.
    let old_parent = t.e.write_transcript(&t.sid, 3, 0);
    let a = t.agent_write("aa11", 0, 4);
    std::fs::write(
        t.agent_path("aa11").with_extension("meta.json"),
        br#"{"agentType":"Explore","description":"look"}"#,
    )
    .unwrap();
    let dir = t.transcript().parent().unwrap().to_path_buf();
    let b = agent_lines(&t.sid, "old01", t.e.project_dir(), 0, 3);
    append(&dir.join("agent-old01.jsonl"), &b);
    for p in [t.transcript(), t.agent_path("aa11"), dir.join("agent-old01.jsonl")] {
        age_days(&p, 3);
    }
    let new_parent = t.e.write_transcript(&new_sid, 2, 0);
    let c = new_agent_write(0, 2);
    let total = old_parent.len() + a.len() + b.len() + new_parent.len() + c.len();

    // Dry run: every transcript listed, the subagents counted, nothing written.
    let out = String::from_utf8(t.run(&["backfill", "--dry-run"])).unwrap();
    for id in [t.child("aa11"), t.child("old01"), new_child.clone(), t.sid.clone(), new_sid.clone()] {
        assert!(out.contains(&format!("would send {id} (")), "{id} missing:\n{out}");
    }
    assert!(out.contains(&format!("would backfill 2 sessions and 3 subagents ({} bytes)", thousands(total))), "{out}");
    assert!(t.e.project_keys().is_empty(), "a dry run wrote {:?}", t.e.project_keys());

    let out = String::from_utf8(t.run(&["backfill"])).unwrap();
    assert!(out.contains(&format!("backfilled 2 sessions and 3 subagents ({} bytes)", thousands(total))), "{out}");
    assert_eq!(t.e.replay(&t.sid), old_parent);
    assert_eq!(t.e.replay(&t.child("aa11")), a, "subagent mirror, byte for byte");
    assert_eq!(t.e.replay(&t.child("old01")), b, "older-layout subagent mirror");
    assert_eq!(t.e.replay(&new_sid), new_parent);
    assert_eq!(t.e.replay(&new_child), c);
    for (p, child) in [(&t.sid, t.child("aa11")), (&t.sid, t.child("old01")), (&new_sid, new_child.clone())] {
        let m = t.e.meta(&child).expect("subagent meta.json");
        assert_eq!(m["parent_session_id"], json!(p), "{m:#}");
        t.assert_clean_prefix(&child);
    }
    assert_eq!(t.e.meta(&t.child("aa11")).unwrap()["sidecar"]["description"], json!("look"));
    let listed = |sid: &str| -> Vec<String> {
        let m = t.e.meta(sid).unwrap();
        m["subagents"]
            .as_array()
            .map_or(Vec::new(), |a| a.iter().map(|s| s["session_id"].as_str().unwrap().into()).collect())
    };
    let mut old_listed = listed(&t.sid);
    old_listed.sort();
    assert_eq!(old_listed, [t.child("aa11"), t.child("old01")]);
    assert_eq!(listed(&new_sid), vec![new_child.clone()]);
    // The idle session is finished, its subagents with it; the fresh one stays open.
    for id in [t.sid.clone(), t.child("aa11"), t.child("old01")] {
        assert!(t.e.meta(&id).unwrap()["ended_at"].is_string(), "{id} should be ended");
    }
    assert!(t.e.meta(&new_child).unwrap()["ended_at"].is_null());

    // A second run sends nothing; a subagent that grew sends only its new lines.
    let keys = t.e.project_keys();
    let out = String::from_utf8(t.run(&["backfill"])).unwrap();
    assert!(out.contains("backfilled 0 sessions (0 bytes)"), "{out}");
    assert_eq!(t.e.project_keys(), keys);
    let more = new_agent_write(2, 2);
    let out = String::from_utf8(t.run(&["backfill"])).unwrap();
    assert!(out.contains(&format!("backfilled 0 sessions and 1 subagent ({} bytes)", thousands(more.len()))), "{out}");
    assert_eq!(t.e.replay(&new_child), [c, more].concat());
}

#[test]
fn stop_ends_the_sessions_subagents_too() {
    let Some(e) = Env::try_new(Backend::S3s, "stop-subagents") else { return };
    let t = T { e, sid: common::transcript::fake_uuid("stop-subagents", 7) };
    t.event("SessionStart");
    t.e.write_transcript(&t.sid, 2, 0);
    let mut a = t.agent_write("aa11", 0, 3);
    let b = t.agent_write("bb22", 0, 2);
    t.e.write_transcript(&t.sid, 2, 2);
    t.event("Stop");
    assert_eq!(t.e.replay(&t.child("aa11")), a);
    assert_eq!(t.e.replay(&t.child("bb22")), b);
    let state = t.e.home().join(".tracecraft/state");
    assert!(state.join(format!("{}.json", t.child("aa11"))).exists());

    let out = String::from_utf8(t.run(&["stop", &t.sid])).unwrap();
    assert!(out.starts_with(&format!("stopped {}: marked ended at ", t.sid)), "{out}");
    for id in [t.sid.clone(), t.child("aa11"), t.child("bb22")] {
        let m = t.e.meta(&id).unwrap();
        assert!(m["ended_at"].is_string(), "{id}: {m:#}");
        assert_eq!(m["end_reason"], json!("stop"), "{id}");
        assert!(!state.join(format!("{id}.json")).exists(), "{id}: local state left");
    }
    assert!(out.contains(&format!("  stopped subagent {}: marked ended at ", t.child("aa11"))), "{out}");
    assert!(out.contains(&format!("  stopped subagent {}: marked ended at ", t.child("bb22"))), "{out}");
    // Stopping again says so, for the subagents too.
    let out = String::from_utf8(t.run(&["stop", &t.sid])).unwrap();
    assert_eq!(out.matches(": already ended at ").count(), 3, "{out}");

    // The agent goes on after all (a resumed session): its next flush continues after what
    // the store holds, no byte twice.
    a.extend(t.agent_write("aa11", 3, 2));
    t.e.write_transcript(&t.sid, 1, 4);
    t.event("Stop");
    assert_eq!(t.e.replay(&t.child("aa11")), a);
}
