//! Inputs and expectations for the page tests (`cli_html`, `html_browser`): the real Claude
//! Code session in `tests/fixtures/html/real/` (recorded with the real CLI against the mock:
//! Bash tool use, an Agent subagent, a failing tool, `/compact`), a hostile transcript, and
//! the numbers of messages and tool calls a page must show for a transcript, counted here
//! independently of the product's code.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::Env;

/// The real session's id.
pub const REAL_SID: &str = "63e71ffe-1322-41a9-a9be-8b7244e46f14";
/// Its subagent's agent id.
pub const REAL_AGENT: &str = "a4602e7024b8a4575";
/// The tool_use id of the Agent call that started the subagent.
pub const REAL_AGENT_CALL: &str = "toolu_mock_c8e19d72cab24726";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/html/real")
}

/// The real transcript's bytes.
pub fn real_transcript() -> Vec<u8> {
    fs::read(fixtures().join(format!("{REAL_SID}.jsonl"))).unwrap()
}

/// The real subagent transcript's bytes.
pub fn real_subagent() -> Vec<u8> {
    fs::read(fixtures().join(REAL_SID).join("subagents").join(format!("agent-{REAL_AGENT}.jsonl"))).unwrap()
}

/// Put the real session (and its subagent with its sidecar) where Claude Code keeps them in
/// `env`, then mirror it with a SessionEnd hook event (which mirrors the subagent too).
pub fn mirror_real_session(env: &Env) {
    let t = env.transcript_path(REAL_SID);
    fs::write(&t, real_transcript()).unwrap();
    let sub = t.with_extension("").join("subagents");
    fs::create_dir_all(&sub).unwrap();
    for e in fs::read_dir(fixtures().join(REAL_SID).join("subagents")).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), sub.join(e.file_name())).unwrap();
    }
    let mut p = env.payload("SessionEnd", REAL_SID);
    p["reason"] = json!("other");
    let out = env.run_hook(&p);
    assert!(out.status.success() && out.stdout.is_empty(), "hook: {}", String::from_utf8_lossy(&out.stderr));
    let meta = env.meta(REAL_SID).expect("the real session was mirrored");
    assert_eq!(meta["subagents"].as_array().map(Vec::len), Some(1), "the subagent was mirrored: {meta}");
}

/// Marker the hostile transcript's injected scripts would set if they ran.
pub const PWNED: &str = "__pwned";

/// A transcript written to break a page: script tags, `</textarea>`, raw HTML and
/// `javascript:` links in Markdown, hostile ids and tool names, control characters,
/// bidirectional overrides, a 1 MB single line, invalid UTF-8 and a line that is not JSON.
pub fn hostile_transcript(sid: &str) -> Vec<u8> {
    let base = |i: u64, ty: &str| {
        json!({
            "type": ty, "sessionId": sid, "cwd": "/tmp/<b>cwd</b>", "version": "2.1.197\"><script>window.__pwned=1</script>",
            "gitBranch": "<img src=x onerror=window.__pwned=1>", "uuid": format!("00000000-0000-4000-8000-{i:012}"),
            "timestamp": format!("2026-11-21T10:00:{:02}.000Z", i % 60),
        })
    };
    let with = |mut v: Value, k: &str, x: Value| {
        v[k] = x;
        v
    };
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut push = |v: Value| lines.push(serde_json::to_vec(&v).unwrap());
    push(with(
        base(1, "user"),
        "message",
        json!({"role": "user", "content": "<script>window.__pwned=1</script></textarea></title></style><img src=x onerror=\"window.__pwned=2\"> <iframe src=\"https://evil.example/\"></iframe>"}),
    ));
    push(with(
        base(2, "assistant"),
        "message",
        json!({"id": "msg_h1", "model": "claude-<i>x</i>", "role": "assistant", "content": [
            {"type": "text", "text": "# Title <script>window.__pwned=3</script>\n\nClick [me](javascript:window.__pwned=4) or [this](JaVaScRiPt:window.__pwned=4) or <a href=\"javascript:window.__pwned=5\">x</a>.\n\n![img](javascript:window.__pwned=6) <img src=x onerror=window.__pwned=6>\n\n<style>body{display:none}</style><meta http-equiv=\"refresh\" content=\"0;url=https://evil.example/\">\n\n```html\n</code></pre><script>window.__pwned=7</script>\n```\n\n- `</code><script>window.__pwned=8</script>`\n- **<b onmouseover=\"window.__pwned=9\">bold</b>**\n\n| a | <script>window.__pwned=10</script> |\n|---|---|\n| [x](data:text/html,<script>window.__pwned=11</script>) | y |\n"},
            {"type": "thinking", "thinking": "</details><script>window.__pwned=12</script>"},
            {"type": "tool_use", "id": "x\" onmouseover=\"window.__pwned=13", "name": "<b>Bash</b>", "input": {"command": "</pre><script>window.__pwned=14</script>", "description": "<img src=x onerror=window.__pwned=15>"}},
        ], "usage": {"input_tokens": 1, "output_tokens": 1}}),
    ));
    let big = "A<".repeat(512 * 1024); // a 1 MB single line
    push(with(
        base(3, "user"),
        "message",
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x\" onmouseover=\"window.__pwned=13", "is_error": true,
            "content": format!("\u{1b}[31mred\u{1b}[0m \u{0} bell\u{7} del\u{7f} bidi\u{202e}txt.exe\u{2066} c1\u{85} <script>window.__pwned=16</script>\n{big}")}]}),
    ));
    push(with(
        with(base(4, "system"), "subtype", json!("compact_boundary")),
        "content",
        json!("<script>window.__pwned=17</script>"),
    ));
    push(with(
        with(base(5, "user"), "isCompactSummary", json!(true)),
        "message",
        json!({"role": "user", "content": "Summary: <script>window.__pwned=18</script> [x](javascript:window.__pwned=19)"}),
    ));
    push(with(
        base(6, "user"),
        "message",
        json!({"role": "user", "content": "<command-name>/x<script>window.__pwned=20</script></command-name>\n<command-args>\"><svg onload=window.__pwned=21></command-args>"}),
    ));
    let mut v = with(base(7, "user"), "message", json!({"role": "user", "content": "hostile uuid"}));
    v["uuid"] = json!("\"><script>window.__pwned=22</script>");
    push(v);
    push(json!({"type": "summary", "summary": "<script>window.__pwned=23</script>", "leafUuid": "x"}));
    // Invalid UTF-8 inside a JSON string.
    let mut bad =
        serde_json::to_vec(&with(base(8, "user"), "message", json!({"role": "user", "content": "before AFTER"})))
            .unwrap();
    let at = bad.windows(6).position(|w| w == b"before").unwrap() + 6;
    bad.splice(at..at + 1, [0xff, 0xfe, b' ', 0xc3]);
    lines.push(bad);
    lines.push(b"<script>window.__pwned=24</script> not json".to_vec());
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(&l);
        out.push(b'\n');
    }
    out
}

/// Messages and tool calls a page must show for `jsonl`: JSON-object lines of type `user`,
/// `assistant`, `system` or `summary` (decoded lossily, as the page does), and the
/// `tool_use` / `server_tool_use` blocks of assistant lines.
pub fn expected_counts(jsonl: &[u8]) -> (u64, u64) {
    let (mut msgs, mut tools) = (0, 0);
    for line in jsonl.split(|&b| b == b'\n') {
        let Ok(v) = serde_json::from_str::<Value>(&String::from_utf8_lossy(line)) else { continue };
        let ty = v.get("type").and_then(Value::as_str).unwrap_or("");
        if !v.is_object() || !matches!(ty, "user" | "assistant" | "system" | "summary") {
            continue;
        }
        msgs += 1;
        if ty == "assistant" {
            if let Some(Value::Array(blocks)) = v.pointer("/message/content") {
                tools += blocks
                    .iter()
                    .filter(|b| matches!(b.get("type").and_then(Value::as_str), Some("tool_use" | "server_tool_use")))
                    .count() as u64;
            }
        }
    }
    (msgs, tools)
}

/// The `id="msg-..."` values a page must have for `jsonl` (counted lines with a `uuid`).
pub fn expected_uuids(jsonl: &[u8]) -> Vec<String> {
    jsonl
        .split(|&b| b == b'\n')
        .filter_map(|l| serde_json::from_str::<Value>(&String::from_utf8_lossy(l)).ok())
        .filter(|v| matches!(v.get("type").and_then(Value::as_str), Some("user" | "assistant" | "system")))
        .filter_map(|v| v.get("uuid").and_then(Value::as_str).map(str::to_string))
        .collect()
}
