//! Session insight for Codex CLI rollouts: the same [`Stats`] as Claude Code sessions (kept
//! in meta.json `"stats"`, shown by `list`, `show`, `stats`), counted from Codex's lines.
//!
//! # What is counted (from real Codex CLI 0.171 rollouts)
//!
//! - `turns`: `event_msg` `task_started` lines (one per prompt Codex worked on; a resumed
//!   session's turns add up in the same file).
//! - `assistant_messages`: `response_item` `message` lines with `role: assistant`.
//! - `tool_calls`: `response_item` `function_call` / `custom_tool_call` by `name`,
//!   `local_shell_call` as `local_shell`, `web_search_call` as `web_search`.
//! - `tokens`: per model (the `model` of the latest `turn_context`), from `event_msg`
//!   `token_count`: the growth of `info.total_token_usage` since the previous one (Codex
//!   repeats a `token_count` with the same totals, e.g. for rate-limit updates: counted
//!   once); when the total goes down (a new context after compaction) `info.last_token_usage`
//!   is taken. OpenAI's `input_tokens` include the cached ones: `input` is
//!   `input_tokens - cached_input_tokens`, `cache_read` is `cached_input_tokens`,
//!   `cache_creation` is `cache_write_input_tokens`, `output` is `output_tokens` (reasoning
//!   included).
//! - `compactions`: `compacted` lines; `api_errors`: `event_msg` `error`; `tool_errors`:
//!   `function_call_output` whose output says `Process exited with code N`, N != 0.
//! - `first_timestamp` / `last_timestamp` from each line's `timestamp`; `version`:
//!   `session_meta.cli_version`; `git_branch`: `session_meta.git.branch`.
//!
//! Exactly once across flushes as for Claude Code (`counter.counted_to`, whole lines only);
//! the previous total lives in `counter.last_message` (id [`TOTAL_ID`]).

use serde_json::Value;

use crate::base::error::Result;
use crate::base::util::parse_rfc3339;
use crate::session::insight::{LastMessage, Stats, Tokens, LONG_LINE};
use crate::session::transcript::Transcript;

/// `counter.last_message.id` of the running token total.
pub const TOTAL_ID: &str = "codex:total";

/// Count the whole lines of `bytes` (source bytes from offset `from`); like
/// `Stats::update_at`, for a Codex rollout.
pub fn update_at(s: &mut Stats, from: u64, bytes: &[u8]) {
    let end = from + bytes.len() as u64;
    if end <= s.counter.counted_to {
        return;
    }
    let skip = usize::try_from(s.counter.counted_to.saturating_sub(from)).unwrap_or(usize::MAX);
    let mut rest = &bytes[skip.min(bytes.len())..];
    let mut at = end - rest.len() as u64;
    if s.counter.in_long_line {
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                s.counter.in_long_line = false;
                rest = &rest[i + 1..];
                at += i as u64 + 1;
            }
            None => {
                s.counter.counted_to = end;
                return;
            }
        }
    }
    if let Some(nl) = rest.iter().rposition(|&b| b == b'\n') {
        for line in rest[..nl].split(|&b| b == b'\n') {
            count_line(s, line);
        }
        at += nl as u64 + 1;
    }
    s.counter.counted_to = at;
    if end - at > LONG_LINE {
        s.counter.in_long_line = true;
        s.counter.counted_to = end;
    }
}

/// Count the complete lines of `t` in `[0, to)` (a Codex rollout).
pub fn recount(t: &mut Transcript, to: u64) -> Result<Stats> {
    let mut s = Stats::default();
    let mut pos = 0u64;
    while pos < to {
        let Some(c) = t.next_chunk(pos, false)? else { break };
        let n = (c.to.min(to) - pos) as usize;
        if n == 0 {
            break;
        }
        update_at(&mut s, pos, &c.bytes[..n]);
        pos += n as u64;
    }
    Ok(s)
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn count_line(s: &mut Stats, raw: &[u8]) {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    if raw.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    let Ok(v @ Value::Object(_)) = serde_json::from_slice::<Value>(raw) else { return };
    s.lines += 1;
    if let Some(ts) = v.get("timestamp").and_then(Value::as_str) {
        timestamp(s, ts);
    }
    let p = v.get("payload").unwrap_or(&Value::Null);
    let kind = p.get("type").and_then(Value::as_str).unwrap_or("");
    match v.get("type").and_then(Value::as_str).unwrap_or("") {
        "session_meta" => {
            if let Some(ver) = str_at(p, "/cli_version") {
                s.version = Some(ver.to_string());
            }
            if let Some(b) = str_at(p, "/git/branch") {
                s.git_branch = Some(b.to_string());
            }
        }
        "turn_context" => {
            if let Some(m) = str_at(p, "/model") {
                let last = s
                    .counter
                    .last_message
                    .get_or_insert_with(|| LastMessage { id: TOTAL_ID.into(), ..Default::default() });
                last.model = m.to_string();
            }
        }
        "compacted" => s.compactions += 1,
        "response_item" => match kind {
            "message" if p.get("role").and_then(Value::as_str) == Some("assistant") => s.assistant_messages += 1,
            "function_call" | "custom_tool_call" => {
                let name = str_at(p, "/name").unwrap_or("unknown");
                *s.tool_calls.entry(name.to_string()).or_default() += 1;
            }
            "local_shell_call" => *s.tool_calls.entry("local_shell".into()).or_default() += 1,
            "web_search_call" => *s.tool_calls.entry("web_search".into()).or_default() += 1,
            "function_call_output" | "custom_tool_call_output" if failed_output(p) => s.tool_errors += 1,
            _ => {}
        },
        "event_msg" => match kind {
            "task_started" | "turn_started" => s.turns += 1,
            "error" => s.api_errors += 1,
            "token_count" => tokens(s, p),
            _ => {}
        },
        _ => {}
    }
}

fn timestamp(s: &mut Stats, ts: &str) {
    let Some(t) = parse_rfc3339(ts) else { return };
    if s.first_timestamp.as_deref().and_then(parse_rfc3339).is_none_or(|c| t < c) {
        s.first_timestamp = Some(ts.to_string());
    }
    if s.last_timestamp.as_deref().and_then(parse_rfc3339).is_none_or(|c| t > c) {
        s.last_timestamp = Some(ts.to_string());
    }
}

/// A shell tool's output that reports a non-zero exit code.
fn failed_output(p: &Value) -> bool {
    let out = match p.get("output") {
        Some(Value::String(s)) => s.as_str(),
        Some(o) => o.get("output").and_then(Value::as_str).unwrap_or(""),
        None => "",
    };
    let Some(i) = out.find("Process exited with code ") else { return false };
    let code: String = out[i + 25..].chars().take_while(char::is_ascii_digit).collect();
    !code.is_empty() && code != "0"
}

/// OpenAI usage -> our four fields (see the module documentation).
fn usage(u: &Value) -> Tokens {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let cached = n("cached_input_tokens");
    Tokens {
        input: n("input_tokens").saturating_sub(cached),
        output: n("output_tokens"),
        cache_creation: n("cache_write_input_tokens"),
        cache_read: cached,
    }
}

fn tokens(s: &mut Stats, p: &Value) {
    let Some(info) = p.get("info").filter(|i| i.is_object()) else { return };
    let total = info.get("total_token_usage").map(usage);
    let last_turn = info.get("last_token_usage").map(usage);
    let prev =
        s.counter.last_message.clone().unwrap_or_else(|| LastMessage { id: TOTAL_ID.into(), ..Default::default() });
    let add = match (total, last_turn) {
        (Some(t), _) if ge(&t, &prev.usage) => minus(&t, &prev.usage),
        (_, Some(l)) => l,
        (Some(t), None) => t,
        (None, None) => return,
    };
    let model = if prev.model.is_empty() { "unknown".to_string() } else { prev.model.clone() };
    if add.total() > 0 {
        s.tokens.entry(model).or_default().add(&add);
    }
    let mut next = prev;
    next.id = TOTAL_ID.into();
    if let Some(t) = total {
        next.usage = t;
    }
    s.counter.last_message = Some(next);
}

fn ge(a: &Tokens, b: &Tokens) -> bool {
    a.input >= b.input && a.output >= b.output && a.cache_creation >= b.cache_creation && a.cache_read >= b.cache_read
}

fn minus(a: &Tokens, b: &Tokens) -> Tokens {
    Tokens {
        input: a.input - b.input,
        output: a.output - b.output,
        cache_creation: a.cache_creation - b.cache_creation,
        cache_read: a.cache_read - b.cache_read,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(text: &str) -> Stats {
        let mut s = Stats::default();
        update_at(&mut s, 0, text.as_bytes());
        s
    }

    #[test]
    fn counts_a_codex_session() {
        let tc = |t: u64, o: u64, lt: u64, lo: u64| {
            format!(
                r#"{{"timestamp":"2026-11-29T21:13:18.000Z","type":"event_msg","payload":{{"type":"token_count","info":{{"total_token_usage":{{"input_tokens":{t},"cached_input_tokens":10,"output_tokens":{o}}},"last_token_usage":{{"input_tokens":{lt},"cached_input_tokens":10,"output_tokens":{lo}}}}}}}}}"#
            )
        };
        let text = [
            r#"{"timestamp":"2026-11-29T21:13:17.403Z","type":"session_meta","payload":{"id":"s","cwd":"/w","cli_version":"0.171.0","git":{"branch":"main"}}}"#.to_string(),
            r#"{"timestamp":"2026-11-29T21:13:17.404Z","type":"event_msg","payload":{"type":"task_started","turn_id":"a"}}"#.into(),
            r#"{"timestamp":"2026-11-29T21:13:17.405Z","type":"turn_context","payload":{"turn_id":"a","model":"gpt-x"}}"#.into(),
            r#"{"timestamp":"2026-11-29T21:13:17.5Z","type":"response_item","payload":{"type":"function_call","name":"exec_command","arguments":"{}","call_id":"c1"}}"#.into(),
            r#"{"timestamp":"2026-11-29T21:13:17.6Z","type":"response_item","payload":{"type":"function_call_output","call_id":"c1","output":"Process exited with code 2\n"}}"#.into(),
            tc(100, 20, 100, 20),
            tc(100, 20, 100, 20), // repeated totals: counted once
            r#"{"timestamp":"2026-11-29T21:13:19Z","type":"response_item","payload":{"type":"message","role":"assistant","content":[]}}"#.into(),
            tc(250, 50, 150, 30),
            r#"{"timestamp":"2026-11-29T21:13:20Z","type":"event_msg","payload":{"type":"task_complete","turn_id":"a"}}"#.into(),
            "not json".into(),
        ]
        .join("\n")
            + "\n";
        let s = count(&text);
        assert_eq!(s.turns, 1);
        assert_eq!(s.assistant_messages, 1);
        assert_eq!(s.tool_calls.get("exec_command"), Some(&1));
        assert_eq!(s.tool_errors, 1);
        let t = s.tokens["gpt-x"];
        assert_eq!((t.input, t.cache_read, t.output), (240, 10, 50), "{t:?}");
        assert_eq!(s.version.as_deref(), Some("0.171.0"));
        assert_eq!(s.git_branch.as_deref(), Some("main"));
        assert_eq!(s.first_timestamp.as_deref(), Some("2026-11-29T21:13:17.403Z"));
        assert_eq!(s.lines, 10);
        // Split anywhere: the same numbers.
        for cut in [1, 200, 700, text.len() - 3] {
            let mut s2 = Stats::default();
            update_at(&mut s2, 0, &text.as_bytes()[..cut]);
            let at = s2.counter.counted_to as usize;
            update_at(&mut s2, at as u64, &text.as_bytes()[at..]);
            assert_eq!(s2, s, "cut at {cut}");
        }
    }
}
