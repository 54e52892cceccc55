//! Matching a pattern against the text people read in a transcript, at the speed of the raw
//! bytes: the engine of `search`. It exists apart from the command so the scanning rules
//! (what is searchable text, how a JSON-escaped occurrence is still found, how lines are
//! numbered) live in one place, testable without a store.
//!
//! # Fast path
//!
//! A part is scanned as one buffer of whole lines, like ripgrep does: a byte-level finder
//! runs over the whole buffer, and only a line it hits is decoded as JSON. The finder must
//! never miss a line whose *decoded* text matches, so it searches for a fragment that JSON
//! never escapes: the longest run of the literal made of printable ASCII other than `"`,
//! `\` and `/`. A pattern like `fix the\nbug` (a newline) or `say "hi"` is found through
//! `fix the` or `say `, then confirmed on the decoded text, where `\n` is a newline and `\"`
//! a quote. A literal with no such fragment, and every `--regex`, decode every line.
//! `--raw` matches the stored bytes themselves, keys and ids included.
//!
//! # Searchable text
//!
//! A `user` line's prompt (string content or `text` items) is role `user`; its
//! `tool_result` items are role `tool` (named after the `tool_use` they answer); an
//! `assistant` line's `text` and `thinking` items are `assistant`; its `tool_use` items are
//! `tool`, one segment per string value of the input (values, never keys). Everything else
//! (ids, keys, system lines, file-history snapshots) is not searched.

use std::collections::HashMap;

use regex::bytes::Regex as BytesRegex;
use regex::Regex;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::base::error::{Error, Result};
use crate::base::util::parse_rfc3339;

/// Who a piece of text belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
    Tool,
}

impl Role {
    pub fn parse(s: &str) -> Result<Role> {
        match s {
            "user" => Ok(Role::User),
            "assistant" => Ok(Role::Assistant),
            "tool" => Ok(Role::Tool),
            _ => Err(Error::Invalid(format!("--role {s:?}: expected user, assistant or tool"))),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// What to look for and where.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub pattern: String,
    pub regex: bool,
    pub ignore_case: bool,
    pub word: bool,
    /// Match the stored bytes (keys, ids and escapes included).
    pub raw: bool,
    pub role: Option<Role>,
    /// Tool name (exact, case-insensitive).
    pub tool: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// Characters of context on each side of a match.
    pub context: usize,
}

/// A compiled query.
#[derive(Debug)]
pub struct Matcher {
    q: Query,
    /// On decoded text.
    text: Regex,
    /// On raw bytes: the whole pattern with `--raw`, else the unescaped fragment (if any).
    finder: Option<BytesRegex>,
}

/// One hit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// 1-based line of the session's replay (what `show ID --at LINE` takes).
    pub line: u64,
    pub time: Option<String>,
    pub role: Option<Role>,
    pub tool: Option<String>,
    /// The match with up to `context` characters on each side.
    pub text: String,
    /// Byte range of the match inside `text`.
    #[serde(rename = "match")]
    pub range: [usize; 2],
}

impl Matcher {
    pub fn new(q: Query) -> Result<Matcher> {
        if q.pattern.is_empty() {
            return Err(Error::Invalid("empty search pattern".into()));
        }
        let body = if q.regex { q.pattern.clone() } else { regex::escape(&q.pattern) };
        let body = if q.word { format!(r"\b(?:{body})\b") } else { body };
        let body = if q.ignore_case { format!("(?i){body}") } else { body };
        let bad = |e: regex::Error| Error::Invalid(format!("invalid pattern {:?}: {e}", q.pattern));
        let text = Regex::new(&body).map_err(bad)?;
        let finder = if q.raw {
            Some(BytesRegex::new(&body).map_err(bad)?)
        } else if q.regex {
            None
        } else {
            let frag = safe_fragment(&q.pattern);
            match frag {
                Some(f) => {
                    let f = regex::escape(f);
                    let f = if q.ignore_case { format!("(?i){f}") } else { f };
                    Some(BytesRegex::new(&f).map_err(bad)?)
                }
                None => None,
            }
        };
        Ok(Matcher { q, text, finder })
    }

    pub fn query(&self) -> &Query {
        &self.q
    }
}

/// The longest run of characters JSON writers never escape, when there is one.
fn safe_fragment(p: &str) -> Option<&str> {
    let safe = |b: u8| (0x20..0x7f).contains(&b) && !matches!(b, b'"' | b'\\' | b'/');
    let bytes = p.as_bytes();
    let (mut best, mut start) = ((0, 0), None);
    for i in 0..=bytes.len() {
        match (i < bytes.len() && safe(bytes[i]), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s > best.1 - best.0 {
                    best = (s, i);
                }
                start = None;
            }
            _ => {}
        }
    }
    (best.1 > best.0).then(|| &p[best.0..best.1])
}

/// Scans one session's lines, in order, and collects its hits.
///
/// Bytes go into a buffer of about `CHUNK` bytes (fed, or read straight into it by
/// [`Scanner::read_from`]), scanned whole lines at a time. Two buffers alternate: the one
/// just scanned stays as the context of the next (where the call of a tool result at the
/// start of a buffer usually is), so nothing is copied but the line cut between two
/// buffers, and a scanner reused for the next session ([`Scanner::reset`]) allocates nothing.
pub struct Scanner<'m> {
    m: &'m Matcher,
    /// Lines before the current buffer.
    line: u64,
    /// tool_use id -> tool name, from decoded assistant lines.
    names: HashMap<String, String>,
    pub hits: Vec<Hit>,
    /// Stop collecting hit details beyond this many (counting goes on).
    pub max_hits: usize,
    pub count: u64,
    /// The buffer being filled: `buf[..scanned]` are whole lines already scanned (the
    /// context of the next ones), `buf[scanned..filled]` bytes not scanned yet, of which
    /// `buf[scanned..nl_free]` are known to hold no newline.
    buf: Vec<u8>,
    scanned: usize,
    filled: usize,
    nl_free: usize,
    /// The buffer scanned before: `prev[..prev_len]` are its whole lines.
    prev: Vec<u8>,
    prev_len: usize,
}

/// Size of a scan buffer (each scanner holds two; a longer line grows one). Both together
/// stay within a core's L2 cache, so the kernel's copy of a read writes into cached lines
/// (with 1 MiB buffers the system time of a warm search was ~1.6x ripgrep's, whose 64 KiB
/// buffer is always hot).
pub const CHUNK: usize = 256 << 10;

/// Bytes read at once: what was just read is still in the core's cache when it is scanned.
const READ: usize = 64 << 10;

impl<'m> Scanner<'m> {
    pub fn new(m: &'m Matcher) -> Scanner<'m> {
        Scanner {
            m,
            line: 0,
            names: HashMap::new(),
            hits: Vec::new(),
            max_hits: usize::MAX,
            count: 0,
            buf: Vec::new(),
            scanned: 0,
            filled: 0,
            nl_free: 0,
            prev: Vec::new(),
            prev_len: 0,
        }
    }

    /// Ready for another session, keeping the buffers (and `max_hits`).
    pub fn reset(&mut self) {
        self.line = 0;
        self.names.clear();
        self.hits = Vec::new();
        self.count = 0;
        self.scanned = 0;
        self.filled = 0;
        self.nl_free = 0;
        self.prev_len = 0;
    }

    /// Room to fill (at most `READ` bytes): when the buffer is full, its scanned lines
    /// become the context and the unscanned rest moves to the other buffer.
    fn room(&mut self) -> &mut [u8] {
        if self.buf.len() < CHUNK {
            self.buf.resize(CHUNK, 0);
        }
        if self.filled == self.buf.len() {
            if self.scanned == 0 {
                // One line longer than the buffer: grow it (the line must be whole to decode it).
                let n = self.buf.len() * 2;
                self.buf.resize(n, 0);
            } else {
                std::mem::swap(&mut self.buf, &mut self.prev);
                self.prev_len = self.scanned;
                let carry = self.filled - self.scanned;
                if self.buf.len() < carry.max(CHUNK) {
                    self.buf.resize(carry.max(CHUNK), 0);
                }
                self.buf[..carry].copy_from_slice(&self.prev[self.scanned..self.filled]);
                self.scanned = 0;
                self.filled = carry;
                self.nl_free = carry;
            }
        }
        let end = self.buf.len().min(self.filled + READ);
        &mut self.buf[self.filled..end]
    }

    /// Feed the next bytes of the session (any split).
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = self.room();
            let n = room.len().min(bytes.len());
            room[..n].copy_from_slice(&bytes[..n]);
            self.filled += n;
            bytes = &bytes[n..];
            self.process(false);
        }
    }

    /// Feed everything `r` holds, read straight into the scan buffer; returns the bytes read.
    pub fn read_from(&mut self, r: &mut dyn std::io::Read) -> std::io::Result<u64> {
        let mut total = 0u64;
        loop {
            let room = self.room();
            let n = match r.read(room) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.filled += n;
            total += n as u64;
            self.process(false);
        }
    }

    /// Scan the whole lines not scanned yet (every byte when `last`).
    fn process(&mut self, last: bool) {
        let end = if last {
            self.filled
        } else {
            let from = self.nl_free.max(self.scanned);
            let found = memchr::memrchr(b'\n', &self.buf[from..self.filled]).map(|i| from + i + 1);
            self.nl_free = self.filled;
            match found {
                Some(end) => end,
                None => return,
            }
        };
        if end > self.scanned {
            let buf = std::mem::take(&mut self.buf);
            let prev = std::mem::take(&mut self.prev);
            self.scan(&buf[..end], self.scanned, &prev[..self.prev_len], last);
            self.buf = buf;
            self.prev = prev;
            self.scanned = end;
        }
    }

    /// The end of the session: a last line without a newline is a line too.
    pub fn finish(&mut self) {
        self.process(true);
    }

    /// Scan the lines of `buf[from..]` (`buf[..from]` and `prev_tail` are the lines before
    /// them); the last lacks its newline only when `last`.
    fn scan(&mut self, buf: &[u8], from: usize, prev_tail: &[u8], last: bool) {
        let mut counted = from; // bytes of buf whose newlines are in self.line
        let mut at = from;
        while at < buf.len() {
            let (start, end) = match &self.m.finder {
                Some(f) => match f.find_at(buf, at) {
                    Some(mt) => {
                        let s = memchr::memrchr(b'\n', &buf[at..mt.start()]).map_or(at, |i| at + i + 1);
                        let e = memchr::memchr(b'\n', &buf[mt.start()..]).map_or(buf.len(), |i| mt.start() + i);
                        (s, e)
                    }
                    None => break,
                },
                None => (at, memchr::memchr(b'\n', &buf[at..]).map_or(buf.len(), |i| at + i)),
            };
            self.line += newlines(&buf[counted..start]);
            counted = start;
            let lineno = self.line + 1;
            self.line_hits(&buf[start..end], lineno, &buf[..start], prev_tail);
            at = end + 1;
        }
        self.line += newlines(&buf[counted.min(buf.len())..]);
        if last && buf.len() > from && buf.last().is_some_and(|b| *b != b'\n') {
            self.line += 1; // the unterminated last line
        }
    }

    fn push(&mut self, hit: Hit) {
        self.count += 1;
        if self.hits.len() < self.max_hits {
            self.hits.push(hit);
        }
    }

    fn line_hits(&mut self, line: &[u8], lineno: u64, before: &[u8], prev_tail: &[u8]) {
        let q = &self.m.q;
        let m = self.m;
        if q.raw {
            let text = String::from_utf8_lossy(line);
            if let Some(mt) = m.text.find(&text) {
                let (snip, range) = snippet(&text, mt.start(), mt.end(), q.context);
                self.push(Hit { line: lineno, time: None, role: None, tool: None, text: snip, range });
            }
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(line) else { return };
        let time = v.get("timestamp").and_then(Value::as_str).map(str::to_string);
        if q.since.is_some() || q.until.is_some() {
            let Some(t) = time.as_deref().and_then(parse_rfc3339) else { return };
            if q.since.is_some_and(|s| t < s) || q.until.is_some_and(|u| t > u) {
                return;
            }
        }
        let mut segs: Vec<(Role, Option<String>, &str)> = Vec::new();
        let ty = v.get("type").and_then(Value::as_str).unwrap_or("");
        let content = v.get("message").and_then(|m| m.get("content"));
        let mut unresolved: Vec<(usize, String)> = Vec::new();
        match (ty, content) {
            ("user", Some(Value::String(s))) => segs.push((Role::User, None, s)),
            ("assistant", Some(Value::String(s))) => segs.push((Role::Assistant, None, s)),
            ("user" | "assistant", Some(Value::Array(items))) => {
                let who = if ty == "user" { Role::User } else { Role::Assistant };
                for it in items {
                    match it.get("type").and_then(Value::as_str).unwrap_or("") {
                        "text" => {
                            if let Some(s) = it.get("text").and_then(Value::as_str) {
                                segs.push((who, None, s));
                            }
                        }
                        "thinking" => {
                            if let Some(s) = it.get("thinking").and_then(Value::as_str) {
                                segs.push((who, None, s));
                            }
                        }
                        "tool_use" | "server_tool_use" => {
                            let name = it.get("name").and_then(Value::as_str).unwrap_or("tool").to_string();
                            if let Some(id) = it.get("id").and_then(Value::as_str) {
                                self.names.insert(id.to_string(), name.clone());
                            }
                            let mut leaves = Vec::new();
                            if let Some(input) = it.get("input") {
                                string_leaves(input, &mut leaves);
                            }
                            for s in leaves {
                                segs.push((Role::Tool, Some(name.clone()), s));
                            }
                        }
                        "tool_result" => {
                            let id = it.get("tool_use_id").and_then(Value::as_str).unwrap_or("");
                            let name = self.names.get(id).cloned();
                            let first = segs.len();
                            match it.get("content") {
                                Some(Value::String(s)) => segs.push((Role::Tool, name.clone(), s)),
                                Some(Value::Array(blocks)) => {
                                    for b in blocks {
                                        if let Some(s) = b.get("text").and_then(Value::as_str) {
                                            segs.push((Role::Tool, name.clone(), s));
                                        }
                                    }
                                }
                                _ => {}
                            }
                            if name.is_none() && !id.is_empty() {
                                for i in first..segs.len() {
                                    unresolved.push((i, id.to_string()));
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => return,
        }
        // A result whose tool_use was not decoded (the fast path skipped its line): look
        // for the call in the bytes before this line.
        for (i, id) in unresolved {
            let name = self
                .names
                .get(&id)
                .cloned()
                .or_else(|| find_tool_name(before, &id))
                .or_else(|| find_tool_name(prev_tail, &id));
            if let Some(n) = &name {
                self.names.insert(id, n.clone());
            }
            segs[i].1 = name;
        }
        for (role, tool, text) in segs {
            if q.role.is_some_and(|r| r != role) {
                continue;
            }
            if let Some(want) = &q.tool {
                if !tool.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(want)) {
                    continue;
                }
            }
            if let Some(mt) = m.text.find(text) {
                let (snip, range) = snippet(text, mt.start(), mt.end(), q.context);
                self.push(Hit { line: lineno, time: time.clone(), role: Some(role), tool, text: snip, range });
            }
        }
    }
}

fn newlines(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}

fn string_leaves<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| string_leaves(x, out)),
        Value::Object(o) => o.values().for_each(|x| string_leaves(x, out)),
        _ => {}
    }
}

/// The name of the tool_use with `id`, from the last line of `before` that holds it.
fn find_tool_name(before: &[u8], id: &str) -> Option<String> {
    let needle = format!("\"{id}\"");
    let n = needle.as_bytes();
    let pos = memchr::memmem::rfind(before, n)?;
    let s = memchr::memrchr(b'\n', &before[..pos]).map_or(0, |i| i + 1);
    let e = memchr::memchr(b'\n', &before[pos..]).map_or(before.len(), |i| pos + i);
    let v: Value = serde_json::from_slice(&before[s..e]).ok()?;
    let items = v.get("message")?.get("content")?.as_array()?;
    items
        .iter()
        .find(|it| it.get("id").and_then(Value::as_str) == Some(id))
        .and_then(|it| it.get("name")?.as_str())
        .map(str::to_string)
}

/// The match `[s, e)` of `text` with up to `ctx` characters each side, and where the match
/// sits in it.
fn snippet(text: &str, s: usize, e: usize, ctx: usize) -> (String, [usize; 2]) {
    let from = text[..s].char_indices().rev().nth(ctx.saturating_sub(1)).map_or(0, |(i, _)| i);
    let from = if ctx == 0 { s } else { from };
    let to = text[e..].char_indices().nth(ctx).map_or(text.len(), |(i, _)| e + i);
    (text[from..to].to_string(), [s - from, e - from])
}

/// `--since`/`--until`: `YYYY-MM-DD` (midnight UTC; with `end_of_day`, the day's last
/// instant) or RFC 3339.
pub fn parse_date(s: &str, end_of_day: bool) -> Result<OffsetDateTime> {
    if let Some(t) = parse_rfc3339(s) {
        return Ok(t);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s, &fmt)
        .map_err(|_| Error::Invalid(format!("invalid date {s:?}: expected YYYY-MM-DD or an RFC 3339 time")))?;
    let t = if end_of_day { d.with_hms_nano(23, 59, 59, 999_999_999) } else { d.with_hms(0, 0, 0) };
    Ok(t.map_err(|_| Error::Invalid(format!("invalid date {s:?}")))?.assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn run(q: Query, input: &str, piece: usize) -> Vec<Hit> {
        let m = Matcher::new(q).unwrap();
        let mut s = Scanner::new(&m);
        for c in input.as_bytes().chunks(piece) {
            s.feed(c);
        }
        s.finish();
        s.hits
    }

    fn lit(p: &str) -> Query {
        Query { pattern: p.into(), context: 10, ..Default::default() }
    }

    const T: &str = concat!(
        r#"{"type":"user","timestamp":"2026-01-02T03:04:05Z","message":{"content":"fix the\nbug \"now\" caf\u00e9"}}"#,
        "\n",
        r#"{"type":"assistant","uuid":"needle-id","message":{"content":[{"type":"text","text":"ok"},{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"grep needle src"}}]}}"#,
        "\n",
        r#"{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"src/a.rs: needle"}]}}"#,
        "\n",
        "not json needle\n",
        r#"{"type":"user","message":{"content":"last needle"}}"#
    );

    #[test]
    fn escaped_text_is_found_unescaped_and_keys_are_not() {
        for piece in [1, 7, 1000] {
            let h = run(lit("the\nbug \"now\""), T, piece);
            assert_eq!(h.len(), 1, "{h:?}");
            assert_eq!((h[0].line, h[0].role), (1, Some(Role::User)));
            assert_eq!(run(lit("café"), T, piece).len(), 1);
            assert!(run(lit("content"), T, piece).is_empty(), "keys are not text");
            assert!(run(lit("needle-id"), T, piece).is_empty(), "ids are not text");
            let h = run(lit("needle"), T, piece);
            let got: Vec<_> = h.iter().map(|h| (h.line, h.role, h.tool.clone())).collect();
            assert_eq!(
                got,
                [
                    (2, Some(Role::Tool), Some("Bash".into())),
                    (3, Some(Role::Tool), Some("Bash".into())),
                    (5, Some(Role::User), None)
                ]
            );
            let raw = run(Query { raw: true, ..lit("needle") }, T, piece);
            assert_eq!(raw.iter().map(|h| h.line).collect::<Vec<_>>(), [2, 3, 4, 5]);
        }
    }

    #[test]
    fn flags() {
        assert_eq!(run(Query { ignore_case: true, ..lit("NEEDLE") }, T, 1000).len(), 3);
        assert!(run(lit("NEEDLE"), T, 1000).is_empty());
        assert!(run(Query { word: true, ..lit("need") }, T, 1000).is_empty());
        assert_eq!(run(Query { regex: true, ..lit("ne+dle$") }, T, 1000).len(), 2);
        assert_eq!(run(Query { role: Some(Role::User), ..lit("needle") }, T, 1000).len(), 1);
        assert_eq!(run(Query { tool: Some("bash".into()), ..lit("needle") }, T, 1000).len(), 2);
        let since = Some(parse_date("2026-01-02", false).unwrap());
        assert_eq!(run(Query { since, ..lit("bug") }, T, 1000).len(), 1);
        let until = Some(parse_date("2026-01-01", true).unwrap());
        assert!(run(Query { until, ..lit("bug") }, T, 1000).is_empty());
    }

    #[test]
    fn a_tool_result_in_the_next_part_is_named_after_its_call() {
        let m = Matcher::new(Query { tool: Some("Bash".into()), ..lit("src/a.rs") }).unwrap();
        let mut s = Scanner::new(&m);
        let cut = T.find("\n{\"type\":\"user\",\"message\"").unwrap() + 1;
        s.feed(&T.as_bytes()[..cut]);
        s.feed(&T.as_bytes()[cut..]);
        s.finish();
        assert_eq!(s.hits.iter().map(|h| (h.line, h.tool.as_deref())).collect::<Vec<_>>(), [(3, Some("Bash"))]);
    }

    /// Many buffers' worth: line numbers, hits and tool names across buffer boundaries are
    /// those of one pass over the whole text, however the bytes come (fed in odd pieces,
    /// read in odd pieces, one scanner reused for a second session).
    #[test]
    fn line_numbers_and_tool_names_survive_buffer_boundaries() {
        let filler = format!(r#"{{"type":"assistant","message":{{"content":"{}"}}}}"#, "lorem ipsum ".repeat(300));
        let mut text = String::new();
        let mut want = Vec::new();
        let mut n = 0u64;
        let mut i = 0;
        while text.len() < 3 * CHUNK + CHUNK / 3 {
            n += 1;
            i += 1;
            if i % 61 == 0 {
                let id = format!("toolu_{i}");
                text.push_str(&format!(
                    r#"{{"type":"assistant","message":{{"content":[{{"type":"tool_use","id":"{id}","name":"Grep{i}","input":{{}}}}]}}}}"#
                ));
                text.push('\n');
                // Half a buffer between call and result: now and then they are in two buffers.
                let gap = CHUNK / 2 / (filler.len() + 1);
                for _ in 0..gap {
                    text.push_str(&filler);
                    text.push('\n');
                }
                n += gap as u64 + 1;
                text.push_str(&format!(
                    r#"{{"type":"user","message":{{"content":[{{"type":"tool_result","tool_use_id":"{id}","content":"found wombat-{i}"}}]}}}}"#
                ));
                want.push((n, Some(format!("Grep{i}"))));
            } else {
                text.push_str(&filler);
            }
            text.push('\n');
        }
        // One line longer than a buffer, then a hit right after it.
        text.push_str(&format!(r#"{{"type":"user","message":{{"content":"{}"}}}}"#, "x".repeat(CHUNK * 2)));
        text.push('\n');
        text.push_str(r#"{"type":"user","message":{"content":"last wombat-0"}}"#);
        n += 2;
        want.push((n, None));
        let m = Matcher::new(lit("wombat-")).unwrap();
        let got = |s: &Scanner<'_>| s.hits.iter().map(|h| (h.line, h.tool.clone())).collect::<Vec<_>>();
        let mut s = Scanner::new(&m);
        for piece in [CHUNK / 3 + 7, 65_536, CHUNK * 3] {
            s.reset();
            for c in text.as_bytes().chunks(piece) {
                s.feed(c);
            }
            s.finish();
            assert_eq!(got(&s), want, "fed in pieces of {piece}");
            s.reset();
            let mut r = std::io::Cursor::new(text.as_bytes()).take(u64::MAX);
            assert_eq!(s.read_from(&mut r).unwrap(), text.len() as u64);
            s.finish();
            assert_eq!(got(&s), want, "read");
        }
    }

    #[test]
    fn snippet_context_and_fragment() {
        assert_eq!(snippet("0123456789abc", 5, 6, 2), ("34567".to_string(), [2, 3]));
        assert_eq!(snippet("é5é", 2, 3, 0), ("5".to_string(), [0, 1]));
        assert_eq!(safe_fragment("a\"bcd/ef"), Some("bcd"));
        assert_eq!(safe_fragment("\"\n"), None);
    }
}
