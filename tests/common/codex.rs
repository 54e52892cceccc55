//! Fake Codex CLI material, shaped like what Codex CLI 0.171 writes and sends
//! (`/work/shared/codex-kit/README.md`; a real rollout is in `tests/fixtures/codex/`):
//! rollout lines `{"timestamp","ordinal","type","payload"}` and hook payloads.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// The model the fake lines claim.
pub const MODEL: &str = "gpt-5.5-codex";

/// Which agent a test session belongs to (the test side of `layout::Harness`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Harness {
    ClaudeCode,
    Codex,
}

impl Harness {
    /// The folder under `sessions/` (and meta.json's `harness`).
    pub fn dir(self) -> &'static str {
        match self {
            Harness::ClaudeCode => "claude-code",
            Harness::Codex => "codex",
        }
    }
}

/// Both harnesses, Claude Code first.
pub const HARNESSES: [Harness; 2] = [Harness::ClaudeCode, Harness::Codex];

/// `$CODEX_HOME/sessions/2026/11/29/rollout-2026-11-29T21-13-17-<sid>.jsonl`
pub fn rollout_path(codex_home: &Path, sid: &str) -> PathBuf {
    codex_home.join("sessions/2026/11/29").join(format!("rollout-2026-11-29T21-13-17-{sid}.jsonl"))
}

fn ts(i: u64) -> String {
    let ms = 17_403 + i * 37;
    format!("2026-11-29T21:13:{:02}.{:03}Z", (ms / 1000) % 60, ms % 1000)
}

/// The turn (0-based) line `i` belongs to: line 0 is `session_meta`, then turns of
/// [`TURN_LINES`] lines.
pub fn turn_of(i: u64) -> u64 {
    i.saturating_sub(1) / TURN_LINES
}

/// Lines per turn: task_started, turn_context, user message, function_call,
/// function_call_output, token_count, assistant message, task_complete.
pub const TURN_LINES: u64 = 8;

/// The turn id of turn `t` of session `sid`.
pub fn turn_id(sid: &str, t: u64) -> String {
    format!("turn-{sid}-{t}")
}

/// Rollout line `i` (0-based) of session `sid` in `cwd`, newline-terminated; every line is
/// unique (it names the session and its ordinal).
pub fn rollout_line(sid: &str, cwd: &Path, i: u64) -> String {
    let t = turn_of(i);
    let tid = turn_id(sid, t);
    let (kind, payload) = if i == 0 {
        (
            "session_meta",
            json!({"session_id": sid, "id": sid, "timestamp": ts(0), "cwd": cwd.to_string_lossy(),
                   "originator": "codex_exec", "cli_version": "0.171.0", "source": "exec",
                   "model_provider": "mock", "git": {"branch": "main"}}),
        )
    } else {
        match (i - 1) % TURN_LINES {
            0 => ("event_msg", json!({"type": "task_started", "turn_id": tid})),
            1 => ("turn_context", json!({"turn_id": tid, "cwd": cwd.to_string_lossy(), "model": MODEL})),
            2 => (
                "response_item",
                json!({"type": "message", "role": "user", "id": format!("msg-u-{i}"),
                       "content": [{"type": "input_text", "text": format!("prompt #{i} of {sid}: run the tests")}]}),
            ),
            3 => (
                "response_item",
                json!({"type": "function_call", "name": "exec_command", "call_id": format!("call_{sid}_{i}"),
                       "arguments": format!("{{\"cmd\": \"cargo test # {i}\"}}")}),
            ),
            4 => (
                "response_item",
                json!({"type": "function_call_output", "call_id": format!("call_{sid}_{}", i - 1),
                       "output": format!("Chunk ID: {i:06x}\nProcess exited with code 0\nOutput:\nok {i}\n")}),
            ),
            5 => {
                let n = t + 1;
                (
                    "event_msg",
                    json!({"type": "token_count", "info": {
                        "total_token_usage": {"input_tokens": 1000 * n, "cached_input_tokens": 400 * n, "output_tokens": 50 * n, "reasoning_output_tokens": 0, "total_tokens": 1050 * n},
                        "last_token_usage": {"input_tokens": 1000, "cached_input_tokens": 400, "output_tokens": 50, "reasoning_output_tokens": 0, "total_tokens": 1050}},
                        "seq": i}),
                )
            }
            6 => (
                "response_item",
                json!({"type": "message", "role": "assistant", "status": "completed", "id": format!("msg-a-{i}"),
                       "content": [{"type": "output_text", "text": assistant_text(sid, i)}]}),
            ),
            _ => (
                "event_msg",
                json!({"type": "task_complete", "turn_id": tid, "last_agent_message": assistant_text(sid, i - 1)}),
            ),
        }
    };
    let line = json!({"timestamp": ts(i), "ordinal": i, "type": kind, "payload": payload});
    let mut s = serde_json::to_string(&line).unwrap();
    s.push('\n');
    s
}

/// The assistant's text on line `i`.
pub fn assistant_text(sid: &str, i: u64) -> String {
    format!("reply #{i} of {sid}: all tests pass.")
}

/// Lines `start..start + n`, concatenated.
pub fn rollout_lines(sid: &str, cwd: &Path, start: u64, n: u64) -> Vec<u8> {
    (start..start + n).flat_map(|i| rollout_line(sid, cwd, i).into_bytes()).collect()
}

/// A Codex hook payload for `event` (`SessionStart/resume` sets the source), as Codex
/// 0.171 sends it: `session_id`, `transcript_path`, `cwd`, `hook_event_name`, `model`,
/// `permission_mode`; `turn_id` on UserPromptSubmit and Stop; Stop's
/// `last_assistant_message` is the text of the rollout's last assistant message.
pub fn payload(event: &str, sid: &str, rollout: &Path, cwd: &Path) -> Value {
    let (name, variant) = event.split_once('/').map_or((event, None), |(n, v)| (n, Some(v)));
    let mut p = json!({
        "session_id": sid,
        "transcript_path": rollout.to_string_lossy(),
        "cwd": cwd.to_string_lossy(),
        "hook_event_name": name,
        "model": MODEL,
        "permission_mode": "bypassPermissions",
    });
    let lines = std::fs::read(rollout).map(|b| b.iter().filter(|&&c| c == b'\n').count() as u64).unwrap_or(0);
    let turn = turn_id(sid, turn_of(lines.saturating_sub(1)));
    match name {
        "SessionStart" => p["source"] = json!(variant.unwrap_or("startup")),
        "UserPromptSubmit" => {
            p["turn_id"] = json!(turn);
            p["prompt"] = json!("run the tests");
        }
        "Stop" => {
            p["turn_id"] = json!(turn);
            p["stop_hook_active"] = json!(false);
            p["last_assistant_message"] = json!(last_assistant(rollout).unwrap_or_else(|| "done".into()));
        }
        "SessionEnd" => p["reason"] = json!(variant.unwrap_or("other")),
        _ => {}
    }
    p
}

/// The text of the last assistant message in a rollout.
pub fn last_assistant(rollout: &Path) -> Option<String> {
    let bytes = std::fs::read(rollout).ok()?;
    bytes.split(|&b| b == b'\n').rev().find_map(|l| {
        let v: Value = serde_json::from_slice(l).ok()?;
        (v["payload"]["role"] == "assistant")
            .then(|| v["payload"]["content"][0]["text"].as_str().map(str::to_string))?
    })
}
