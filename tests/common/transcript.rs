//! Fake Claude Code material: hook payloads shaped like
//! `/work/shared/claude-code-kit/example_payloads.json` (captured from the real CLI),
//! and transcript JSONL lines shaped like the ones Claude Code writes.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

/// Version string the fake lines and payloads claim.
pub const CLAUDE_VERSION: &str = "2.1.328";
pub const MODEL: &str = "claude-opus-5-5";

/// A hook payload for `event`, with the common fields (`session_id`,
/// `transcript_path`, `cwd`, `hook_event_name`) and the event's own fields as the real
/// CLI sends them. `event` may carry a variant after a slash, like the keys of
/// `example_payloads.json`: `SessionStart/resume` sets `source`, `SessionEnd/clear`
/// sets `reason`, `PreCompact/auto` sets `trigger`. Defaults: SessionStart `startup`,
/// SessionEnd `other`, PreCompact/PostCompact `manual`. For Stop and SubagentStop,
/// `last_assistant_message` is the text of the last assistant line of the (agent)
/// transcript if it exists, as the real CLI reports it (`hi from mock` otherwise).
///
/// Adjust further with `value["field"] = json!(...)`.
pub fn payload(event: &str, sid: &str, transcript: &Path, cwd: &Path) -> Value {
    let (name, variant) = match event.split_once('/') {
        Some((n, v)) => (n, Some(v)),
        None => (event, None),
    };
    let mut p = json!({
        "session_id": sid,
        "transcript_path": transcript.to_string_lossy(),
        "cwd": cwd.to_string_lossy(),
    });
    let m = p.as_object_mut().unwrap();
    let prompt_id = fake_uuid(sid, 0xF00D);
    let agent_id = "afac1088fbd81cb24";
    let turn = |m: &mut serde_json::Map<String, Value>| {
        m.insert("prompt_id".into(), json!(prompt_id));
        m.insert("permission_mode".into(), json!("default"));
    };
    match name {
        "SessionStart" => {
            let source = variant.unwrap_or("startup");
            if source != "startup" {
                m.insert("prompt_id".into(), json!(prompt_id));
            }
            m.insert("hook_event_name".into(), json!(name));
            m.insert("source".into(), json!(source));
            if source == "compact" {
                m.insert("model".into(), json!(MODEL));
            }
        }
        "UserPromptSubmit" => {
            turn(m);
            m.insert("hook_event_name".into(), json!(name));
            m.insert("prompt".into(), json!("say hi"));
        }
        "Stop" => {
            turn(m);
            m.insert("effort".into(), json!({"level": "medium"}));
            m.insert("hook_event_name".into(), json!(name));
            m.insert("stop_hook_active".into(), json!(false));
            m.insert("last_assistant_message".into(), json!(last_assistant_text(transcript)));
            m.insert("background_tasks".into(), json!([]));
            m.insert("session_crons".into(), json!([]));
        }
        "SubagentStart" => {
            m.insert("prompt_id".into(), json!(prompt_id));
            m.insert("agent_id".into(), json!(agent_id));
            m.insert("agent_type".into(), json!("general-purpose"));
            m.insert("hook_event_name".into(), json!(name));
        }
        "SubagentStop" => {
            turn(m);
            m.insert("agent_id".into(), json!(agent_id));
            m.insert("agent_type".into(), json!("general-purpose"));
            m.insert("effort".into(), json!({"level": "medium"}));
            m.insert("hook_event_name".into(), json!(name));
            m.insert("stop_hook_active".into(), json!(false));
            let agent_transcript = subagent_transcript_path(transcript, sid, agent_id);
            m.insert("agent_transcript_path".into(), json!(agent_transcript.to_string_lossy()));
            m.insert("last_assistant_message".into(), json!(last_assistant_text(&agent_transcript)));
            m.insert("background_tasks".into(), json!([]));
            m.insert("session_crons".into(), json!([]));
        }
        "PreCompact" => {
            m.insert("prompt_id".into(), json!(prompt_id));
            m.insert("hook_event_name".into(), json!(name));
            m.insert("trigger".into(), json!(variant.unwrap_or("manual")));
            m.insert("custom_instructions".into(), Value::Null);
        }
        "PostCompact" => {
            m.insert("prompt_id".into(), json!(prompt_id));
            m.insert("hook_event_name".into(), json!(name));
            m.insert("trigger".into(), json!(variant.unwrap_or("manual")));
            m.insert(
                "compact_summary".into(),
                json!("<analysis>mock analysis</analysis>\n<summary>Mock summary.</summary>"),
            );
        }
        "SessionEnd" => {
            m.insert("prompt_id".into(), json!(prompt_id));
            m.insert("hook_event_name".into(), json!(name));
            m.insert("reason".into(), json!(variant.unwrap_or("other")));
        }
        "PreToolUse" | "PostToolUse" => {
            turn(m);
            m.insert("effort".into(), json!({"level": "medium"}));
            m.insert("hook_event_name".into(), json!(name));
            m.insert("tool_name".into(), json!("Bash"));
            m.insert("tool_input".into(), json!({"command": "echo hi", "description": "Print hi"}));
            if name == "PostToolUse" {
                m.insert(
                    "tool_response".into(),
                    json!({"stdout": "hi", "stderr": "", "interrupted": false,
                           "isImage": false, "noOutputExpected": false}),
                );
            }
            m.insert("tool_use_id".into(), json!("toolu_mock_5362602d3e284fad"));
            if name == "PostToolUse" {
                m.insert("duration_ms".into(), json!(25));
            }
        }
        other => {
            m.insert("hook_event_name".into(), json!(other));
        }
    }
    p
}

/// Text of the last complete assistant line of a transcript (`hi from mock` if none).
pub fn last_assistant_text(transcript: &Path) -> String {
    let Ok(bytes) = fs::read(transcript) else {
        return "hi from mock".into();
    };
    bytes
        .split(|&b| b == b'\n')
        .rev()
        .filter_map(|l| serde_json::from_slice::<Value>(l).ok())
        .find(|v| v["type"] == "assistant")
        .and_then(|v| {
            let content = &v["message"]["content"];
            match content {
                Value::String(s) => Some(s.clone()),
                Value::Array(items) => {
                    let texts: Vec<&str> = items.iter().filter_map(|i| i["text"].as_str()).collect();
                    Some(texts.join("\n"))
                }
                _ => None,
            }
        })
        .unwrap_or_else(|| "hi from mock".into())
}

/// Where Claude Code keeps a subagent's transcript:
/// `<project-dir>/<session-id>/subagents/agent-<id>.jsonl`, beside the main transcript.
pub fn subagent_transcript_path(transcript: &Path, sid: &str, agent_id: &str) -> std::path::PathBuf {
    transcript.parent().unwrap_or(Path::new(".")).join(sid).join("subagents").join(format!("agent-{agent_id}.jsonl"))
}

/// Claude Code's project-dir slug: every non-alphanumeric char of `cwd` becomes `-`
/// (no collapsing). Long-slug hashing is not modelled (tests use short temp paths).
pub fn slug(cwd: &Path) -> String {
    cwd.to_string_lossy().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

/// A deterministic UUID-shaped string from (`seed`, `n`).
pub fn fake_uuid(seed: &str, n: u64) -> String {
    // FNV-1a over the seed, mixed with n: stable across runs and platforms.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in seed.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h ^= n.wrapping_mul(0x9E3779B97F4A7C15);
    h = h.wrapping_mul(0x100000001b3);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (h >> 32) as u32,
        (h >> 16) as u16,
        (h & 0xfff) as u16,
        (n & 0xfff) as u16,
        (h ^ n) & 0xffff_ffff_ffff
    )
}

/// RFC 3339 timestamp `2026-11-21T19:15:12.167Z` + `n` seconds (within one day).
fn timestamp(n: u64) -> String {
    let secs = 19 * 3600 + 15 * 60 + 12 + n;
    format!("2026-11-21T{:02}:{:02}:{:02}.167Z", (secs / 3600) % 24, (secs / 60) % 60, secs % 60)
}

/// Transcript line number `i` (0-based) of session `sid`, newline-terminated. Even
/// lines are user prompts, odd lines assistant replies; `text` is the message text.
/// Lines chain by `parentUuid` like Claude Code's.
pub fn transcript_line_with_text(sid: &str, cwd: &Path, i: u64, text: &str) -> String {
    let uuid = fake_uuid(sid, i + 1);
    let parent = if i == 0 { Value::Null } else { json!(fake_uuid(sid, i)) };
    let mut line = json!({
        "parentUuid": parent,
        "isSidechain": false,
        "userType": "external",
        "cwd": cwd.to_string_lossy(),
        "sessionId": sid,
        "version": CLAUDE_VERSION,
        "gitBranch": "",
    });
    let m = line.as_object_mut().unwrap();
    if i.is_multiple_of(2) {
        m.insert("type".into(), json!("user"));
        m.insert("message".into(), json!({"role": "user", "content": text}));
    } else {
        m.insert(
            "message".into(),
            json!({
                "id": format!("msg_mock_{:016x}", i),
                "type": "message",
                "role": "assistant",
                "model": MODEL,
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": null,
                "usage": {"input_tokens": 100 + i, "output_tokens": 10 + i % 7}
            }),
        );
        m.insert("requestId".into(), json!(format!("req_mock_{:016x}", i)));
        m.insert("type".into(), json!("assistant"));
    }
    m.insert("uuid".into(), json!(uuid));
    m.insert("timestamp".into(), json!(timestamp(i)));
    let mut s = serde_json::to_string(&line).unwrap();
    s.push('\n');
    s
}

/// Line `i` with a default text (`prompt #i` / `reply #i …`).
pub fn transcript_line(sid: &str, cwd: &Path, i: u64) -> String {
    let text = if i.is_multiple_of(2) {
        format!("prompt #{i}: please continue with the task")
    } else {
        format!("reply #{i}: done, here is what I changed and why.")
    };
    transcript_line_with_text(sid, cwd, i, &text)
}

/// Lines `start..start + n` of session `sid`, concatenated.
pub fn transcript_lines(sid: &str, cwd: &Path, start: u64, n: u64) -> Vec<u8> {
    (start..start + n).flat_map(|i| transcript_line(sid, cwd, i).into_bytes()).collect()
}

/// Append lines `start..start + n` to the transcript at `path` (created with its
/// parent dirs if missing) and return the bytes appended. The session id is the file
/// stem, the `cwd` field `/home/dev/work/my_proj.v2`; use [`transcript_lines`] +
/// [`append`] to choose them.
pub fn write_transcript_lines(path: &Path, n: u64, start: u64) -> Vec<u8> {
    let sid = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let bytes = transcript_lines(&sid, Path::new("/home/dev/work/my_proj.v2"), start, n);
    append(path, &bytes);
    bytes
}

/// Append raw bytes (e.g. a partial last line) to `path`, creating it and its parents.
pub fn append(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    f.write_all(bytes).unwrap();
    f.flush().unwrap();
}
