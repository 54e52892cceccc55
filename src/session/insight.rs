//! Session insight: a few numbers about a session (turns, tool calls, tokens per model...),
//! kept in its meta.json under `"stats"` (read and written by `meta::extra`, shown by
//! `cmd::display`) and updated by the flush engine from the very bytes it uploads, so they
//! cost no extra read of the transcript and no extra request.
//!
//! # What is counted (decided from real Claude Code 2.1 transcripts)
//!
//! - `turns`: prompts a person typed. A `user` line whose `message.content` is a non-empty
//!   string, or a list with a text (or image) block and no `tool_result` block, and which is
//!   not `isMeta` (caveats, expanded skill prompts), not `isCompactSummary` /
//!   `isVisibleInTranscriptOnly` (the summary after a compaction), and whose text does not
//!   start with one of Claude Code's own markers ([`NOT_A_PROMPT`]: slash-command lines
//!   `<command-name>`, their output `<local-command-stdout>`, `!` shell lines `<bash-input>`,
//!   `[Request interrupted by user]`, background task notifications...). A subagent's
//!   transcript starts with the prompt its parent gave it: one turn.
//! - `assistant_messages`: distinct `message.id`s of `assistant` lines (Claude Code writes one
//!   API message as several lines, one per content block, sharing `message.id` and `usage`),
//!   without Claude Code's own `<synthetic>` messages.
//! - `tokens`: per model, `input`, `output`, `cache_creation`, `cache_read` from
//!   `message.usage`, by ccusage's rules so that totals equal what it reports for the same
//!   transcript: a line counts when it has a `timestamp` and a usage with numeric
//!   `input_tokens` and `output_tokens`; the lines of one API call (same `message.id` AND
//!   `requestId`) count once, the FIRST one (lines without either id all count);
//!   `<synthetic>` is skipped. `days`: the same tokens per UTC day of each counted line's
//!   `timestamp`, then per model (ccusage's `daily` with `--timezone UTC`).
//!   `subagent_tokens`: the session's subagents' tokens, rolled up by
//!   `meta::extra::annotate` (not from this transcript).
//! - `tool_calls`: `tool_use` / `server_tool_use` blocks of assistant lines by tool name
//!   (each block id once).
//! - `compactions`: `system` lines with subtype `compact_boundary`; an `isCompactSummary` line
//!   counts only when no boundary came just before it (older versions wrote only the summary).
//! - `api_errors`: assistant messages flagged `isApiErrorMessage` (the final failure, not
//!   each retry); `tool_errors`: `tool_result` blocks with `is_error: true`.
//! - `first_timestamp` / `last_timestamp`: earliest and latest `timestamp`; `git_branch`,
//!   `version` (Claude Code's): the last non-empty values seen.
//!
//! Lines that are not JSON objects, or of a shape we do not know, are skipped, never an error.
//!
//! # Incremental and exactly once
//!
//! The flush engine calls `meta::extra::record_chunk` with the source bytes (before redaction: counts
//! do not depend on secrets, and only counts, names, versions, branch and timestamps are
//! kept) of every chunk it uploads. Only whole lines are counted, and `counter.counted_to`
//! remembers the source offset they reach: a chunk that starts below it (an open part
//! re-sent whole after a final flush sent its partial last line) skips what was counted, so
//! nothing is counted twice. Message and tool-use ids of the last [`RECENT_MAX`] messages are
//! remembered (as short hashes) to count each once across flushes; the lines of one message
//! are adjacent, so that is plenty. A line longer than [`LONG_LINE`] that arrives in pieces
//! (only lines over the engine's 64 MiB line cap do) is skipped.
//!
//! Two rare paths read the transcript again, once: a repair (the transcript was rewritten;
//! [`recount`] streams it up to the repaired cursor, so the numbers describe what is mirrored
//! now), and a session whose meta.json has no stats yet (mirrored by an older version or by
//! the Python CLI), counted from the start on its next flush.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::session::claude_line::{self, Content, Line, Usage};

use crate::base::error::Result;
use crate::base::util::parse_rfc3339;
use crate::session::transcript::Transcript;

/// How many recent message / tool-use ids are remembered.
pub const RECENT_MAX: usize = 64;
/// A partial line longer than this at the end of a chunk is taken for a giant line being
/// cut into pieces: it is skipped rather than waited for.
pub const LONG_LINE: u64 = 8 * 1024 * 1024;
/// Model name of the messages Claude Code writes itself (errors, "No response requested.").
pub const SYNTHETIC: &str = "<synthetic>";

/// User text that Claude Code writes itself, not a prompt (checked at the start of the text).
pub const NOT_A_PROMPT: &[&str] = &[
    "<command-name>",
    "<command-message>",
    "<command-args>",
    "<local-command-",
    "<bash-input>",
    "<bash-stdout>",
    "<bash-stderr>",
    "<user-memory-input>",
    "<task-notification>",
    "<system-reminder>",
    "[Request interrupted by user",
    "Caveat: The messages below were generated by the user while running local commands",
];

/// Token usage of one model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_creation: u64,
    pub cache_read: u64,
}

impl Tokens {
    /// All four together.
    pub fn total(&self) -> u64 {
        self.input + self.output + self.cache_creation + self.cache_read
    }

    /// Add `o` field by field.
    pub fn add(&mut self, o: &Tokens) {
        self.input += o.input;
        self.output += o.output;
        self.cache_creation += o.cache_creation;
        self.cache_read += o.cache_read;
    }

    /// From a line's `usage`: `None` unless `input_tokens` and `output_tokens` are there
    /// (ccusage skips such a line); absent cache fields count 0.
    fn from_usage(u: &Usage) -> Option<Tokens> {
        Some(Tokens {
            input: u.input_tokens?,
            output: u.output_tokens?,
            cache_creation: u.cache_creation_input_tokens.unwrap_or(0),
            cache_read: u.cache_read_input_tokens.unwrap_or(0),
        })
    }
}

/// Sum of the tokens of every model.
pub fn total(by_model: &BTreeMap<String, Tokens>) -> Tokens {
    let mut t = Tokens::default();
    for v in by_model.values() {
        t.add(v);
    }
    t
}

/// The message counted last, to merge the usage of its further lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LastMessage {
    pub id: String,
    pub model: String,
    pub usage: Tokens,
}

/// Where counting stands (internal bookkeeping, kept with the numbers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counter {
    /// Source bytes `[0, counted_to)` have been counted (always a line start).
    pub counted_to: u64,
    /// Inside a line longer than [`LONG_LINE`]: skip up to the next newline.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub in_long_line: bool,
    /// Short hashes of recent message ids (`m:`) and tool-use ids (`t:`), oldest first.
    pub recent: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_message: Option<LastMessage>,
    /// A compact boundary was just seen (its summary line must not count again).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub compact_pending: bool,
}

/// The numbers kept in meta.json `"stats"`. See the module documentation for definitions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    pub turns: u64,
    pub assistant_messages: u64,
    pub tool_calls: BTreeMap<String, u64>,
    pub tokens: BTreeMap<String, Tokens>,
    pub subagent_tokens: BTreeMap<String, Tokens>,
    pub compactions: u64,
    pub api_errors: u64,
    pub tool_errors: u64,
    pub first_timestamp: Option<String>,
    pub last_timestamp: Option<String>,
    pub git_branch: Option<String>,
    pub version: Option<String>,
    /// Tokens per UTC day (`YYYY-MM-DD`) of the lines that carried them, then per model.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub days: BTreeMap<String, BTreeMap<String, Tokens>>,
    /// JSON lines counted.
    pub lines: u64,
    pub counter: Counter,
}

/// Whether a user `message.content` is a prompt a person typed (see the module documentation).
fn is_prompt(content: &Content) -> bool {
    match content {
        Content::Text(s) => is_prompt_text(s),
        Content::Blocks(items) => items.iter().any(|b| match b.kind.as_deref() {
            Some("text") => b.text.as_deref().is_some_and(is_prompt_text),
            Some("image") => true,
            _ => false,
        }),
        Content::Other => false,
    }
}

fn is_prompt_text(s: &str) -> bool {
    let t = s.trim_start();
    !t.is_empty() && !NOT_A_PROMPT.iter().any(|m| t.starts_with(m))
}

/// Whether ccusage (17.x `usageDataSchema`) reads this line, as far as the fields
/// `claude_line` reads tell: a `timestamp` like `2026-11-21T10:00:00.000Z` (UTC, `Z`, no or 3
/// fraction digits), a `version` starting `N.N.N` when there is one, non-empty `requestId`,
/// `message.model` and `message.id` when present, `message.content` not a plain string, and
/// `input_tokens` and `output_tokens` in the usage.
fn ccusage_reads(v: &Line) -> bool {
    let ts_ok = v.timestamp.as_deref().is_some_and(|t| {
        let b = t.as_bytes();
        let d = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
        let head = b.len() >= 20
            && d(0..4)
            && b[4] == b'-'
            && d(5..7)
            && b[7] == b'-'
            && d(8..10)
            && b[10] == b'T'
            && d(11..13)
            && b[13] == b':'
            && d(14..16)
            && b[16] == b':'
            && d(17..19);
        head && (b.len() == 20 && b[19] == b'Z' || b.len() == 24 && b[19] == b'.' && d(20..23) && b[23] == b'Z')
    });
    let version_ok = v.version.as_deref().is_none_or(|s| {
        let mut it = s.splitn(4, '.');
        let num = |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
        let (a, b) = (it.next(), it.next());
        let c = it.next().map(|c| c.split(|ch: char| !ch.is_ascii_digit()).next().unwrap_or(""));
        num(a) && num(b) && num(c)
    });
    let nonempty = |x: Option<&str>| x.is_none_or(|s| !s.is_empty());
    let Some(msg) = v.message.as_ref() else { return false };
    ts_ok
        && version_ok
        && nonempty(v.request_id.as_deref())
        && nonempty(msg.model.as_deref())
        && nonempty(msg.id.as_deref())
        && !matches!(msg.content, Content::Text(_))
        && msg.usage.is_some_and(|u| u.input_tokens.is_some() && u.output_tokens.is_some())
}

/// A short stable hash (FNV-1a, 64 bits, hex) of an id.
fn short(id: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl Stats {
    /// Count the whole lines of `bytes`, which are source bytes starting at offset `from`.
    /// Bytes below `counter.counted_to` are skipped (already counted); a partial last line
    /// is left for the next call. `from` must not be above `counted_to` (see `meta::extra::record_chunk`).
    pub fn update_at(&mut self, from: u64, bytes: &[u8]) {
        let end = from + bytes.len() as u64;
        if end <= self.counter.counted_to {
            return;
        }
        let skip = usize::try_from(self.counter.counted_to.saturating_sub(from)).unwrap_or(usize::MAX);
        let mut rest = &bytes[skip.min(bytes.len())..];
        let mut at = end - rest.len() as u64;
        if self.counter.in_long_line {
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.counter.in_long_line = false;
                    rest = &rest[i + 1..];
                    at += i as u64 + 1;
                }
                None => {
                    self.counter.counted_to = end;
                    return;
                }
            }
        }
        let last_nl = rest.iter().rposition(|&b| b == b'\n');
        if let Some(nl) = last_nl {
            for line in rest[..nl].split(|&b| b == b'\n') {
                self.line(line);
            }
            at += nl as u64 + 1;
        }
        self.counter.counted_to = at;
        if end - at > LONG_LINE {
            self.counter.in_long_line = true;
            self.counter.counted_to = end;
        }
    }

    /// Count one line (without its newline). Only the counted fields are read
    /// (`claude_line`: borrowed, no `Value` tree).
    fn line(&mut self, raw: &[u8]) {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let Some(v) = claude_line::parse(raw) else { return };
        self.lines += 1;
        if let Some(ts) = v.timestamp.as_deref() {
            self.timestamp(ts);
        }
        if let Some(b) = v.git_branch.as_deref().filter(|s| !s.is_empty()) {
            if self.git_branch.as_deref() != Some(b) {
                self.git_branch = Some(b.to_string());
            }
        }
        if let Some(ver) = v.version.as_deref().filter(|s| !s.is_empty()) {
            if self.version.as_deref() != Some(ver) {
                self.version = Some(ver.to_string());
            }
        }
        match v.kind.as_deref().unwrap_or("") {
            "user" => self.user(&v),
            "assistant" => self.assistant(&v),
            "system" if v.subtype.as_deref() == Some("compact_boundary") => {
                self.compactions += 1;
                self.counter.compact_pending = true;
            }
            _ => {}
        }
    }

    fn timestamp(&mut self, ts: &str) {
        let Some(t) = parse_rfc3339(ts) else { return };
        let earlier = |cur: &Option<String>| cur.as_deref().and_then(parse_rfc3339).is_none_or(|c| t < c);
        let later = |cur: &Option<String>| cur.as_deref().and_then(parse_rfc3339).is_none_or(|c| t > c);
        if earlier(&self.first_timestamp) {
            self.first_timestamp = Some(ts.to_string());
        }
        if later(&self.last_timestamp) {
            self.last_timestamp = Some(ts.to_string());
        }
    }

    fn user(&mut self, v: &Line) {
        if v.is_compact_summary.unwrap_or(false) {
            if !self.counter.compact_pending {
                self.compactions += 1;
            }
            self.counter.compact_pending = false;
            return;
        }
        self.counter.compact_pending = false;
        let content = v.message.as_ref().map(|m| &m.content);
        if let Some(Content::Blocks(items)) = content {
            let results = items.iter().filter(|b| b.kind.as_deref() == Some("tool_result"));
            let mut any = false;
            for r in results {
                any = true;
                if r.is_error == Some(true) {
                    self.tool_errors += 1;
                }
            }
            if any {
                return;
            }
        }
        if v.is_meta.unwrap_or(false) || v.is_visible_in_transcript_only.unwrap_or(false) {
            return;
        }
        if content.is_some_and(is_prompt) {
            self.turns += 1;
        }
    }

    fn assistant(&mut self, v: &Line) {
        self.counter.compact_pending = false;
        let Some(msg) = v.message.as_ref() else { return };
        let model = msg.model.as_deref().unwrap_or("unknown");
        let synthetic = model == SYNTHETIC;
        let id = msg.id.as_deref().filter(|s| !s.is_empty());
        let same_as_last = id.is_some_and(|id| self.counter.last_message.as_ref().is_some_and(|l| l.id == short(id)));
        let new = match id {
            Some(id) => !same_as_last && self.remember(&format!("m:{id}")),
            None => true,
        };
        if new {
            if !synthetic {
                self.assistant_messages += 1;
            }
            if v.is_api_error_message == Some(true) {
                self.api_errors += 1;
            }
        }
        if new && !synthetic {
            self.counter.last_message =
                id.map(|id| LastMessage { id: short(id), model: model.to_string(), usage: Tokens::default() });
        }
        // Tokens: ccusage's rules (module documentation), the one place usage is added up.
        let usage = msg.usage.as_ref().filter(|_| !synthetic && ccusage_reads(v)).and_then(Tokens::from_usage);
        let day = v.timestamp.as_deref().and_then(parse_rfc3339).map(|t| {
            let d = t.to_offset(time::UtcOffset::UTC).date();
            format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
        });
        if let (Some(t), Some(day)) = (usage, day) {
            let first = match (id, v.request_id.as_deref()) {
                (Some(id), Some(r)) => self.remember(&format!("u:{id}:{r}")),
                _ => true,
            };
            if first {
                self.tokens.entry(model.to_string()).or_default().add(&t);
                self.days.entry(day).or_default().entry(model.to_string()).or_default().add(&t);
            }
        }
        if let Content::Blocks(blocks) = &msg.content {
            for b in blocks {
                let kind = b.kind.as_deref().unwrap_or("");
                if kind != "tool_use" && kind != "server_tool_use" {
                    continue;
                }
                let first = match b.id.as_deref() {
                    Some(tid) => self.remember(&format!("t:{tid}")),
                    None => true,
                };
                if first {
                    let name = b.name.as_deref().filter(|s| !s.is_empty()).unwrap_or("unknown");
                    *self.tool_calls.entry(name.to_string()).or_default() += 1;
                }
            }
        }
    }

    /// Remember `key`; false when it was already among the recent ones.
    fn remember(&mut self, key: &str) -> bool {
        let h = short(key);
        if self.counter.recent.contains(&h) {
            return false;
        }
        self.counter.recent.push(h);
        if self.counter.recent.len() > RECENT_MAX {
            let excess = self.counter.recent.len() - RECENT_MAX;
            self.counter.recent.drain(..excess);
        }
        true
    }

    /// Tokens of the session and of its subagents together.
    pub fn all_tokens(&self) -> Tokens {
        let mut t = total(&self.tokens);
        t.add(&total(&self.subagent_tokens));
        t
    }

    /// Tool names by number of calls, most used first.
    pub fn top_tools(&self) -> Vec<(&str, u64)> {
        let mut v: Vec<(&str, u64)> = self.tool_calls.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v
    }
}

/// Count the complete lines of `t` in `[0, to)`, streaming in the flush engine's chunks.
pub fn recount(t: &mut Transcript, to: u64) -> Result<Stats> {
    let mut s = Stats::default();
    let mut pos = 0u64;
    while pos < to {
        let Some(c) = t.next_chunk(pos, false)? else { break };
        let n = (c.to.min(to) - pos) as usize;
        if n == 0 {
            break;
        }
        s.update_at(pos, &c.bytes[..n]);
        pos += n as u64;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(text: &str) -> Stats {
        let mut s = Stats::default();
        s.update_at(0, text.as_bytes());
        s
    }

    #[test]
    fn prompts_and_not_prompts() {
        let s = count(concat!(
            r#"{"type":"user","message":{"role":"user","content":"hello"}}"#,
            "\n",
            r#"{"type":"user","message":{"content":[{"type":"text","text":"look"},{"type":"image"}]}}"#,
            "\n",
            r#"{"type":"user","message":{"content":[{"type":"tool_result","content":"x","is_error":true}]}}"#,
            "\n",
            r#"{"type":"user","isMeta":true,"message":{"content":"<local-command-caveat>Caveat</local-command-caveat>"}}"#,
            "\n",
            r#"{"type":"user","message":{"content":"<command-name>/compact</command-name>"}}"#,
            "\n",
            r#"{"type":"user","message":{"content":[{"type":"text","text":"[Request interrupted by user]"}]}}"#,
            "\n",
            r#"{"type":"user","message":{"content":"   "}}"#,
            "\n",
        ));
        assert_eq!((s.turns, s.tool_errors, s.lines), (2, 1, 7));
    }

    #[test]
    fn one_message_in_several_lines_counts_once_with_the_first_usage() {
        let l = |block: &str, out: u64| {
            format!(
                r#"{{"type":"assistant","requestId":"req_1","timestamp":"2026-01-01T23:59:59Z","message":{{"id":"msg_1","model":"m","content":[{block}],"usage":{{"input_tokens":5,"output_tokens":{out},"cache_read_input_tokens":7}}}}}}"#
            ) + "\n"
        };
        let text = [
            l(r#"{"type":"thinking","thinking":"t"}"#, 1),
            l(r#"{"type":"text","text":"a"}"#, 3),
            l(r#"{"type":"tool_use","id":"tu1","name":"Bash","input":{}}"#, 3),
        ]
        .concat();
        let s = count(&text);
        assert_eq!(s.assistant_messages, 1);
        // ccusage's rule: the first line of (message.id, requestId) counts.
        assert_eq!(s.tokens["m"], Tokens { input: 5, output: 1, cache_creation: 0, cache_read: 7 });
        assert_eq!(s.days["2026-01-01"]["m"], s.tokens["m"]);
        assert_eq!(s.tool_calls["Bash"], 1);
        // Fed line by line, the same.
        let mut inc = Stats::default();
        let mut at = 0;
        for line in text.split_inclusive('\n') {
            inc.update_at(at, line.as_bytes());
            at += line.len() as u64;
        }
        assert_eq!(inc, s);
    }

    #[test]
    fn tokens_follow_ccusage_rules_and_days_are_utc() {
        let l = |ts: &str, id: &str, req: Option<&str>, usage: &str| {
            let req = req.map(|r| format!(r#""requestId":"{r}","#)).unwrap_or_default();
            format!(
                r#"{{"type":"assistant",{req}"timestamp":"{ts}","message":{{"id":"{id}","model":"claude-x","content":[],"usage":{usage}}}}}"#
            ) + "\n"
        };
        let u = r#"{"input_tokens":10,"output_tokens":2,"cache_creation_input_tokens":3}"#;
        let text = [
            // Same id and request: once.
            l("2026-03-01T23:30:00Z", "m1", Some("r1"), u),
            l("2026-03-01T23:30:01.000Z", "m1", Some("r1"), u),
            // Same id, another request (a retry): counted again.
            l("2026-03-02T00:10:00Z", "m1", Some("r2"), u),
            // No requestId: every line counts (ccusage does not deduplicate it).
            l("2026-03-02T00:11:00Z", "m3", None, u),
            l("2026-03-02T00:11:00Z", "m3", None, u),
            // ccusage reads only `...Z` timestamps: an offset one is not counted.
            l("2026-03-03T01:00:00+02:00", "m4", Some("r4"), u),
            // Seconds fraction of 3 digits or none, `Z`.
            l("2026-03-01T23:59:59.999Z", "m7", Some("r7"), u),
            // No output_tokens, or no timestamp: not counted.
            l("2026-03-02T00:12:00Z", "m5", Some("r5"), r#"{"input_tokens":10}"#),
            r#"{"type":"assistant","requestId":"r6","message":{"id":"m6","model":"claude-x","usage":{"input_tokens":1,"output_tokens":1}}}"#.to_string() + "\n",
        ]
        .concat();
        let s = count(&text);
        let t = |n: u64| Tokens { input: 10 * n, output: 2 * n, cache_creation: 3 * n, cache_read: 0 };
        assert_eq!(s.tokens["claude-x"], t(5));
        assert_eq!(s.days["2026-03-01"]["claude-x"], t(2));
        assert_eq!(s.days["2026-03-02"]["claude-x"], t(3));
        assert_eq!(s.days.len(), 2);
    }

    #[test]
    fn odd_lines_are_skipped() {
        let s = count("not json\n[1,2]\n{\"type\":7}\n{\"type\":\"assistant\",\"message\":\"x\"}\n\n\u{0}\n");
        assert_eq!((s.lines, s.assistant_messages), (2, 0));
        let s = count(r#"{"type":"assistant","message":{"usage":{"input_tokens":"many"},"content":"x"}}"#);
        assert_eq!(s.lines, 0, "no newline: not a whole line yet");
    }

    #[test]
    fn partial_lines_wait_and_counted_bytes_are_skipped() {
        let line = r#"{"type":"user","message":{"content":"hi"}}"#.to_string() + "\n";
        let two = line.repeat(2);
        let mut s = Stats::default();
        s.update_at(0, &two.as_bytes()[..line.len() + 5]);
        assert_eq!((s.turns, s.counter.counted_to), (1, line.len() as u64));
        // The same part re-sent whole from 0: only the second line is new.
        s.update_at(0, two.as_bytes());
        assert_eq!((s.turns, s.counter.counted_to), (2, two.len() as u64));
        s.update_at(0, two.as_bytes());
        assert_eq!(s.turns, 2);
    }

    #[test]
    fn giant_lines_in_pieces_are_skipped() {
        let mut s = Stats::default();
        let big = vec![b'x'; LONG_LINE as usize + 1];
        s.update_at(0, &big);
        assert!(s.counter.in_long_line);
        let rest = b"yyy\n{\"type\":\"user\",\"message\":{\"content\":\"hi\"}}\n";
        s.update_at(big.len() as u64, rest);
        assert_eq!(
            (s.turns, s.counter.counted_to, s.counter.in_long_line),
            (1, (big.len() + rest.len()) as u64, false)
        );
    }

    #[test]
    fn recent_ids_are_bounded() {
        let mut s = Stats::default();
        for i in 0..200 {
            assert!(s.remember(&format!("m:{i}")));
        }
        assert_eq!(s.counter.recent.len(), RECENT_MAX);
        assert!(!s.remember("m:199"));
    }
}
