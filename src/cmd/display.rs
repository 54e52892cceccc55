//! How numbers, times and a session's insight read on a terminal (for `list`, `show`,
//! `stats`): display only, the counting lives in `session::insight`.

use serde_json::Value;

use crate::base::util::parse_rfc3339;
use crate::session::insight::{total, Stats, Tokens};
use crate::session::meta::Meta;

/// `12345` -> `12.3k`, `1234567` -> `1.2M`.
pub fn human(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.1}G", n as f64 / 1e9),
    }
}

/// A few lines summing up a session's meta.json, for the top of `show`.
pub fn summary_lines(meta: &Meta) -> Vec<String> {
    let mut out = Vec::new();
    let mut first = format!("session {}", meta.session_id);
    if let Some(p) = meta.extra.get("parent_session_id").and_then(Value::as_str) {
        first.push_str(&format!(" (subagent of {p})"));
    }
    out.push(first);
    let mut when = Vec::new();
    if let Some(s) = &meta.started_at {
        when.push(format!("started {}", short_time(s)));
    }
    match (&meta.ended_at, &meta.end_reason) {
        (Some(e), Some(r)) => when.push(format!("ended {} ({r})", short_time(e))),
        (Some(e), None) => when.push(format!("ended {}", short_time(e))),
        (None, _) => when.push("not ended".into()),
    }
    out.push(when.join(" · "));
    let Some(s) = Stats::from_meta(meta) else {
        out.push("(no stats in meta.json yet: they are counted on the next flush)".into());
        return out;
    };
    let mut env = Vec::new();
    if let Some(v) = &s.version {
        env.push(format!("Claude Code {v}"));
    }
    if let Some(b) = &s.git_branch {
        env.push(format!("branch {b}"));
    }
    if let Some(c) = &meta.cwd {
        env.push(format!("in {c}"));
    }
    if !env.is_empty() {
        out.push(env.join(" · "));
    }
    let plural = |n: u64, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    let mut counts = vec![plural(s.turns, "turn"), plural(s.assistant_messages, "assistant message")];
    counts.push(plural(s.tool_calls.values().sum(), "tool call"));
    if s.compactions > 0 {
        counts.push(plural(s.compactions, "compaction"));
    }
    if s.tool_errors > 0 {
        counts.push(plural(s.tool_errors, "tool error"));
    }
    if s.api_errors > 0 {
        counts.push(plural(s.api_errors, "API error"));
    }
    out.push(counts.join(" · "));
    if !s.tool_calls.is_empty() {
        let tools: Vec<String> = s.top_tools().iter().take(8).map(|(k, n)| format!("{k} {n}")).collect();
        out.push(format!("tools: {}", tools.join(", ")));
    }
    for (model, t) in &s.tokens {
        out.push(format!("tokens {model}: {}", describe_tokens(t)));
    }
    let subs = meta.extra.get("subagents").and_then(Value::as_array).map_or(0, Vec::len);
    if subs > 0 || !s.subagent_tokens.is_empty() {
        let t = total(&s.subagent_tokens);
        out.push(format!(
            "{}: {} tokens (show them with --subagents)",
            plural(subs as u64, "subagent"),
            human(t.total())
        ));
    }
    out
}

/// `in 1.2k · out 300 · cache write 0 · cache read 45.0k`
pub fn describe_tokens(t: &Tokens) -> String {
    format!(
        "in {} · out {} · cache write {} · cache read {}",
        human(t.input),
        human(t.output),
        human(t.cache_creation),
        human(t.cache_read)
    )
}

/// `2026-11-21T19:15:12.167146+00:00` -> `2026-11-21 19:15:12 UTC`.
fn short_time(s: &str) -> String {
    match parse_rfc3339(s) {
        Some(t) => format!("{} UTC", crate::base::util::utc_stamp(t, "-", " ", ":")),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_numbers() {
        assert_eq!(human(12_345), "12.3k");
        assert_eq!(human(999), "999");
    }
}
