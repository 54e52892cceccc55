//! `tracecraft-hook show`: print a mirrored session from the store.
//!
//! The bytes are streamed part by part (`Store::get_to`), so memory stays bounded whatever
//! the session's size; `--tail N` reads only the end of the last part(s) with ranged GETs,
//! growing the window until it has N lines. On a terminal the JSONL is rendered for people
//! (who said what, tool calls, folded tool results) under a header summing up the session
//! from its meta.json stats (see `insight`); anywhere else, or with `--raw`, the output is the
//! stored bytes exactly. Rendering is lenient: an unexpected line is shown as-is, never an
//! error. `--subagents` appends the session's subagents (their own sessions
//! `<id>.agent-<agent-id>`, found with one listing), each after a separator when rendered.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;
use serde_json::Value;

use super::{open, project_dir};
use crate::base::error::{Error, Result};
use crate::session::catalog::{Catalog, PartObject};
use crate::session::seal::{Keys, PartView};
use crate::store::Store;

/// Print a session mirrored in the store: the whole transcript, or its last lines.
///
/// On a terminal the JSONL is rendered for reading: a header with the session's numbers
/// (turns, tool calls, tokens per model, compactions, errors; from its meta.json; not with
/// --tail), then the
/// conversation (time, who said what, tool calls with a short summary of their input, tool
/// results folded to one line). Piped or redirected, or with --raw, the output is exactly the
/// stored bytes, so `show ID > copy.jsonl` restores the (redacted) transcript. The session is
/// given by its full id or a unique prefix of it; a subagent by its own id
/// (`<id>.agent-<agent-id>`, as `list --json` shows it).
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Session id, or a prefix that matches exactly one session.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Print only the last N lines; reads only the end of the session with ranged GETs.
    #[arg(long, value_name = "N")]
    pub tail: Option<u64>,
    /// Print the moment around line LINE (as `search` prints it): from 3 lines before it to
    /// 12 lines after it.
    #[arg(long, value_name = "LINE", conflicts_with_all = ["tail", "subagents"])]
    pub at: Option<u64>,
    /// Print the stored JSONL bytes exactly, even on a terminal.
    #[arg(long)]
    pub raw: bool,
    /// Also print the session's subagents, appended after it in the order its meta.json lists
    /// them. Rendered, each starts with a header line (agent id, type, description, numbers);
    /// raw, their JSONL simply follows the session's (each subagent line carries `agentId`),
    /// so the output is still JSONL but no longer the session's transcript alone.
    #[arg(long, conflicts_with = "tail")]
    pub subagents: bool,
    /// Project directory whose configuration selects the store (default: current directory).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Whose session (default: Claude Code's with that id, else Codex's).
    #[arg(long, value_enum)]
    pub harness: Option<super::HarnessArg>,
}

/// Run `show`.
pub fn run(a: &ShowArgs) -> Result<()> {
    let dir = project_dir(a.cwd.as_deref())?;
    let ctx = open(&dir)?;
    let base = Catalog::new(ctx.store.as_ref(), &ctx.cfg.project, ctx.cfg.describe())
        .with_keys(crate::session::seal::Keys::for_config(&ctx.cfg));
    let (cat, session) = super::find_session(base, a.harness, &a.id)?;
    let (plan, meta) = cat.plan(&session)?;
    let parts: Vec<PartObject> = plan.parts.into_iter().map(|p| p.obj).collect();

    let stdout = io::stdout();
    let render = !a.raw && stdout.is_terminal();
    let color = render && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut sink = Sink { inner: io::BufWriter::with_capacity(64 * 1024, stdout.lock()), err: None };
    let result = match (a.tail, a.at) {
        (_, Some(at)) => {
            let from = at.saturating_sub(AT_BEFORE).max(1);
            let (r, done, lines) = if render {
                let mut r = Renderer::new(&mut sink, color);
                let mut window = Window { inner: &mut r, line: 1, from, to: at + AT_AFTER, done: false };
                let streamed = stream(ctx.store.as_ref(), &cat.keys, &parts, &mut window);
                let (done, lines) = (window.done, window.line);
                let finished = r.finish().map_err(|e| Error::io("write", "<stdout>", e));
                (streamed.and(finished), done, lines)
            } else {
                let mut window = Window { inner: &mut sink, line: 1, from, to: at + AT_AFTER, done: false };
                let streamed = stream(ctx.store.as_ref(), &cat.keys, &parts, &mut window);
                (streamed, window.done, window.line)
            };
            match r {
                Err(_) if done => Ok(()),
                Ok(()) if lines <= at => {
                    Err(Error::NotFound(format!("session {} has {} line(s), no line {at}", session.id, lines - 1)))
                }
                r => r,
            }
        }
        (Some(n), None) => {
            let bytes = sink.check(tail_bytes(ctx.store.as_ref(), &cat.keys, &parts, n))?;
            if render {
                let mut r = Renderer::new(&mut sink, color);
                r.write_all(&bytes).and_then(|()| r.finish())
            } else {
                sink.write_all(&bytes)
            }
            .map_err(|e| Error::io("write", "<stdout>", e))
        }
        (None, None) if render => header(&mut sink, meta.as_ref(), color).and_then(|()| {
            let mut r = Renderer::new(&mut sink, color);
            let streamed = stream(ctx.store.as_ref(), &cat.keys, &parts, &mut r);
            streamed.and_then(|()| r.finish().map_err(|e| Error::io("write", "<stdout>", e)))
        }),
        (None, None) => stream(ctx.store.as_ref(), &cat.keys, &parts, &mut sink),
    };
    let result = sink.check(result);
    result?;
    if a.subagents {
        let shown = subagents(&cat, &session.id, meta.as_ref(), &mut sink, render, color);
        sink.check(shown)?;
    }
    sink.flush().map_err(|e| Error::io("write", "<stdout>", e))
}

/// `--at LINE`: lines shown before and after it.
const AT_BEFORE: u64 = 3;
const AT_AFTER: u64 = 12;

/// Passes on lines `from..=to` (1-based) and stops the stream after them.
struct Window<'w> {
    inner: &'w mut dyn Write,
    /// The line the next byte belongs to.
    line: u64,
    from: u64,
    to: u64,
    done: bool,
}

impl Write for Window<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while !rest.is_empty() {
            if self.line > self.to {
                self.done = true;
                return Err(io::Error::other("shown"));
            }
            let (piece, ends) = match rest.iter().position(|b| *b == b'\n') {
                Some(i) => (&rest[..=i], true),
                None => (rest, false),
            };
            if self.line >= self.from {
                self.inner.write_all(piece)?;
            }
            if ends {
                self.line += 1;
            }
            rest = &rest[piece.len()..];
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The header above a rendered session: its meta.json numbers, dimmed, then a blank line.
fn header(out: &mut dyn Write, meta: Option<&crate::session::meta::Meta>, color: bool) -> Result<()> {
    let Some(meta) = meta else { return Ok(()) };
    let mut text = String::new();
    for (i, l) in super::display::summary_lines(meta).iter().enumerate() {
        let l = clean(l);
        text.push_str(&match (color, i) {
            (false, _) => l,
            (true, 0) => format!("\x1b[1m{l}\x1b[0m"),
            (true, _) => format!("\x1b[2m{l}\x1b[0m"),
        });
        text.push('\n');
    }
    text.push('\n');
    out.write_all(text.as_bytes()).map_err(|e| Error::io("write", "<stdout>", e))
}

/// `show --subagents`: every subagent of `parent` after it (see [`ShowArgs::subagents`]).
fn subagents(
    cat: &Catalog<'_>,
    parent: &str,
    meta: Option<&crate::session::meta::Meta>,
    out: &mut dyn Write,
    render: bool,
    color: bool,
) -> Result<()> {
    let entries = meta.map(crate::session::meta::extra::entries).unwrap_or_default();
    for child in crate::session::catalog::children_in_store(cat, parent, meta)? {
        let (plan, cmeta) = cat.plan(&child)?;
        let parts: Vec<PartObject> = plan.parts.into_iter().map(|p| p.obj).collect();
        if !render {
            stream(cat.store, &cat.keys, &parts, out)?;
            continue;
        }
        let agent = crate::session::layout::split_id(&child.id).map_or(child.id.as_str(), |(_, a)| a);
        let e = entries.iter().find(|e| e.session_id == child.id);
        let mut title = format!("subagent {agent}");
        if let Some(t) = e.and_then(|e| e.agent_type.as_deref()) {
            title.push_str(&format!(" · {t}"));
        }
        if let Some(d) = e.and_then(|e| e.description.as_deref()) {
            title.push_str(&format!(" · {d}"));
        }
        let bar = format!("\n══ {} ══\n", clean(&title));
        let bar = if color { format!("\x1b[1m{bar}\x1b[0m") } else { bar };
        out.write_all(bar.as_bytes()).map_err(|e| Error::io("write", "<stdout>", e))?;
        header(out, cmeta.as_ref(), color)?;
        let mut r = Renderer::new(out, color);
        stream(cat.store, &cat.keys, &parts, &mut r)?;
        r.finish().map_err(|e| Error::io("write", "<stdout>", e))?;
    }
    Ok(())
}

/// Copy every part, in order, into `out` (sealed parts decrypted).
fn stream(store: &dyn Store, keys: &Keys, parts: &[PartObject], out: &mut dyn Write) -> Result<()> {
    let total = parts.iter().map(|p| p.size).sum();
    let mut progress = crate::base::progress::Progress::new("reading", total);
    let mut done = 0;
    for p in parts {
        progress.update(done);
        if crate::session::seal::get_part_to(store, keys, &p.key, out)?.is_none() {
            return Err(vanished(store, &p.key));
        }
        done += p.size;
    }
    Ok(())
}

fn vanished(store: &dyn Store, key: &str) -> Error {
    Error::NotFound(format!(
        "{key} disappeared from {} while reading (compacted meanwhile?); run the command again",
        store.describe()
    ))
}

/// The last `n` lines of the concatenation of `parts`, reading backwards from the end with
/// ranged GETs (64 KiB first, the window doubling up to 8 MiB; a sealed part is decrypted
/// chunk by chunk, see `seal::PartView`). A final newline ends the last line; a partial last
/// line counts as a line.
pub fn tail_bytes(store: &dyn Store, keys: &Keys, parts: &[PartObject], n: u64) -> Result<Vec<u8>> {
    const FIRST: u64 = 64 * 1024;
    const MAX: u64 = 8 * 1024 * 1024;
    let mut chunks: Vec<Vec<u8>> = Vec::new(); // newest first
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut window = FIRST;
    let mut seen_last_byte = false;
    let mut newlines = 0u64;
    'parts: for p in parts.iter().rev() {
        let view = PartView::open(store, keys, &p.key, p.size)?;
        let mut end = view.len();
        while end > 0 {
            let start = end.saturating_sub(window);
            let bytes = view.read(start, end)?.ok_or_else(|| vanished(store, &p.key))?;
            if bytes.len() as u64 != end - start {
                return Err(Error::Invalid(format!(
                    "{} in {} changed size while reading; run the command again",
                    p.key,
                    store.describe()
                )));
            }
            for i in (0..bytes.len()).rev() {
                if !seen_last_byte {
                    // The very last byte never starts a line (a final newline ends the last one).
                    seen_last_byte = true;
                    continue;
                }
                if bytes[i] == b'\n' {
                    newlines += 1;
                    if newlines == n {
                        chunks.push(bytes[i + 1..].to_vec());
                        break 'parts;
                    }
                }
            }
            chunks.push(bytes);
            end = start;
            window = (window * 2).min(MAX);
        }
    }
    let mut out = Vec::with_capacity(chunks.iter().map(Vec::len).sum());
    for c in chunks.iter().rev() {
        out.extend_from_slice(c);
    }
    Ok(out)
}

/// stdout that remembers the first write error, so an error surfacing from a store call
/// (which wraps our writer) is reported as a write to `<stdout>` (a closed pipe is success).
struct Sink<W: Write> {
    inner: W,
    err: Option<io::Error>,
}

impl<W: Write> Sink<W> {
    fn check<T>(&mut self, r: Result<T>) -> Result<T> {
        match self.err.take() {
            Some(e) if r.is_err() => Err(Error::io("write", "<stdout>", e)),
            _ => r,
        }
    }
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).inspect_err(|e| {
            if self.err.is_none() {
                self.err = Some(io::Error::new(e.kind(), e.to_string()));
            }
        })
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().inspect_err(|e| {
            if self.err.is_none() {
                self.err = Some(io::Error::new(e.kind(), e.to_string()));
            }
        })
    }
}

/// Longest line kept for rendering; the rest of a longer line is skipped.
const MAX_LINE: usize = 4 * 1024 * 1024;

/// Turns JSONL bytes (in arbitrary pieces) into readable text, line by line.
struct Renderer<'w> {
    out: &'w mut dyn Write,
    line: Vec<u8>,
    /// Bytes dropped from the current line (beyond MAX_LINE).
    dropped: u64,
    color: bool,
    last_date: Option<String>,
}

impl<'w> Renderer<'w> {
    fn new(out: &'w mut dyn Write, color: bool) -> Self {
        Renderer { out, line: Vec::new(), dropped: 0, color, last_date: None }
    }

    /// Render a last line without newline, then flush.
    fn finish(&mut self) -> io::Result<()> {
        if !self.line.is_empty() || self.dropped > 0 {
            self.render_line()?;
        }
        self.out.flush()
    }

    fn render_line(&mut self) -> io::Result<()> {
        let line = std::mem::take(&mut self.line);
        let dropped = std::mem::take(&mut self.dropped);
        let text = if dropped > 0 {
            format!("{}\n", self.dim(&format!("[a line of {} bytes, too long to render]", line.len() as u64 + dropped)))
        } else {
            self.render(&line)
        };
        self.out.write_all(text.as_bytes())
    }

    fn dim(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[2m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    fn bold(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// One JSONL line as text (ending in a newline), or nothing for noise.
    fn render(&mut self, raw: &[u8]) -> String {
        let trimmed = raw.strip_suffix(b"\r").unwrap_or(raw);
        if trimmed.iter().all(u8::is_ascii_whitespace) {
            return String::new();
        }
        let v: Value = match serde_json::from_slice(trimmed) {
            Ok(v @ Value::Object(_)) => v,
            _ => return format!("{} {}\n", self.dim("?"), clean(&preview(&String::from_utf8_lossy(trimmed), 200))),
        };
        let mut out = String::new();
        let (date, time) = split_ts(v.get("timestamp").and_then(Value::as_str));
        if let Some(d) = date {
            if self.last_date.as_deref() != Some(d.as_str()) {
                out.push_str(&self.dim(&format!("── {d} ──")));
                out.push('\n');
                self.last_date = Some(d);
            }
        }
        let ts = self.dim(&format!("{:<8}", time.unwrap_or_default()));
        let ty = v.get("type").and_then(Value::as_str).unwrap_or("");
        let content = v.get("message").and_then(|m| m.get("content"));
        match ty {
            "user" | "assistant" => {
                let who = if ty == "user" { "user" } else { "assistant" };
                match content {
                    Some(Value::String(s)) => out.push_str(&self.said(&ts, who, s)),
                    Some(Value::Array(items)) => {
                        for it in items {
                            out.push_str(&self.item(&ts, who, it));
                        }
                    }
                    _ => out.push_str(&format!("{ts} {}\n", self.dim(&format!("({who}, no content)")))),
                }
            }
            "system" => {
                let text = v
                    .get("content")
                    .and_then(Value::as_str)
                    .or_else(|| v.get("subtype").and_then(Value::as_str))
                    .unwrap_or("");
                out.push_str(&format!("{ts} {}\n", self.dim(&format!("system: {}", clean(&preview(text, 300))))));
            }
            "summary" => {
                let text = v.get("summary").and_then(Value::as_str).unwrap_or("");
                out.push_str(&format!("{ts} {}\n", self.dim(&format!("summary: {}", clean(text)))));
            }
            "file-history-snapshot" => {}
            "" => out.push_str(&format!("{ts} {}\n", self.dim(&clean(&preview(&v.to_string(), 120))))),
            other => out.push_str(&format!("{ts} {}\n", self.dim(&format!("· {}", clean(other))))),
        }
        out
    }

    /// A message text: first line after the speaker, the others indented.
    fn said(&self, ts: &str, who: &str, text: &str) -> String {
        let text = clean(text.trim_end());
        let mut out = format!("{ts} {}:", self.bold(who));
        for (i, l) in text.lines().enumerate() {
            if i == 0 {
                out.push(' ');
            } else {
                out.push_str("\n         ");
            }
            out.push_str(l);
        }
        out.push('\n');
        out
    }

    fn item(&self, ts: &str, who: &str, it: &Value) -> String {
        let kind = it.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "text" => self.said(ts, who, it.get("text").and_then(Value::as_str).unwrap_or("")),
            "thinking" | "redacted_thinking" => {
                let n = it.get("thinking").and_then(Value::as_str).map_or(0, str::len);
                format!("{ts} {}\n", self.dim(&format!("({who} thinking, {n} chars)")))
            }
            "tool_use" | "server_tool_use" => {
                let name = it.get("name").and_then(Value::as_str).unwrap_or("tool");
                let input = it.get("input").map(input_summary).unwrap_or_default();
                format!("{ts} {} {}\n", self.bold(&format!("→ {}", clean(name))), clean(&input))
            }
            "tool_result" => {
                let text = result_text(it.get("content"));
                let lines = text.lines().count();
                let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                let err = it.get("is_error").and_then(Value::as_bool).unwrap_or(false);
                let head = if err { "⎿ error:" } else { "⎿" };
                format!(
                    "{ts}   {} {} {}\n",
                    head,
                    clean(&preview(first.trim(), 100)),
                    self.dim(&format!("({lines} line{}, {} bytes)", if lines == 1 { "" } else { "s" }, text.len()))
                )
            }
            "image" => format!("{ts} {}\n", self.dim(&format!("({who} image)"))),
            other => format!("{ts} {}\n", self.dim(&format!("({who} {})", clean(other)))),
        }
    }
}

impl Write for Renderer<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(i) = rest.iter().position(|b| *b == b'\n') {
            self.push(&rest[..i]);
            self.render_line()?;
            rest = &rest[i + 1..];
        }
        self.push(rest);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Renderer<'_> {
    fn push(&mut self, bytes: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.line.len());
        let take = bytes.len().min(room);
        self.line.extend_from_slice(&bytes[..take]);
        self.dropped += (bytes.len() - take) as u64;
    }
}

/// ("2026-11-21", "19:15:12") from an RFC 3339 timestamp, leniently.
fn split_ts(ts: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(ts) = ts else { return (None, None) };
    let date = ts.get(..10).filter(|d| d.as_bytes().get(4) == Some(&b'-')).map(str::to_string);
    let time = ts.get(11..19).filter(|t| t.as_bytes().get(2) == Some(&b':')).map(str::to_string);
    (date, time)
}

/// The text of a tool result's `content` (a string or a list of text blocks).
fn result_text(c: Option<&Value>) -> String {
    match c {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i.get("text").and_then(Value::as_str) {
                Some(t) => t.to_string(),
                None => format!("({})", i.get("type").and_then(Value::as_str).unwrap_or("?")),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// A short one-line view of a tool's input: its most telling field, else compact JSON.
fn input_summary(input: &Value) -> String {
    const KEYS: [&str; 9] =
        ["command", "file_path", "path", "pattern", "url", "query", "description", "prompt", "notebook_path"];
    if let Some(obj) = input.as_object() {
        for k in KEYS {
            if let Some(s) = obj.get(k).and_then(Value::as_str) {
                let first = s.lines().next().unwrap_or("");
                let more = if s.lines().nth(1).is_some() { " …" } else { "" };
                return format!("{k}: {}{more}", preview(first, 100));
            }
        }
    }
    preview(&input.to_string(), 100)
}

/// At most `max` characters of `s`, with an ellipsis when cut.
fn preview(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Make text safe for a terminal: control characters (escape sequences...) are shown as
/// `\u{..}` instead of being interpreted. Newlines and tabs stay.
fn clean(s: &str) -> String {
    crate::base::printable::escape_text(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::local::LocalStore;
    use crate::store::Cond;

    fn render_all(input: &[u8], pieces: usize) -> String {
        let mut out = Vec::new();
        {
            let mut r = Renderer::new(&mut out, false);
            for c in input.chunks(pieces.max(1)) {
                r.write_all(c).unwrap();
            }
            r.finish().unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn renders_claude_code_lines_and_survives_odd_ones() {
        let input = concat!(
            r#"{"type":"user","timestamp":"2026-11-21T19:15:12.167Z","message":{"role":"user","content":"hello\nthere"}}"#,
            "\n",
            r#"{"type":"assistant","timestamp":"2026-11-21T19:15:13Z","message":{"content":[{"type":"text","text":"hi"},{"type":"tool_use","name":"Bash","input":{"command":"ls -la","description":"list"}}]}}"#,
            "\n",
            r#"{"type":"user","timestamp":"2026-11-21T19:15:14Z","message":{"content":[{"type":"tool_result","content":"a\nb\nc","is_error":false}]}}"#,
            "\n",
            "not json at all \x1b[31m\n",
            "[1,2]\n",
            r#"{"type":"weird"}"#,
            "\n\n",
            r#"{"type":"summary","summary":"did things"}"#,
        );
        let once = render_all(input.as_bytes(), usize::MAX);
        assert_eq!(once, render_all(input.as_bytes(), 7), "piece boundaries do not matter");
        assert!(once.contains("── 2026-11-21 ──"), "{once}");
        assert!(once.contains("19:15:12 user: hello\n         there"), "{once}");
        assert!(once.contains("assistant: hi"), "{once}");
        assert!(once.contains("→ Bash command: ls -la"), "{once}");
        assert!(once.contains("⎿ a (3 lines, 5 bytes)"), "{once}");
        assert!(once.contains("? not json at all \\e[31m"), "{once}");
        assert!(once.contains("· weird"), "{once}");
        assert!(once.contains("summary: did things"), "{once}");
    }

    #[test]
    fn tail_reads_backwards_across_parts() {
        let d = tempfile::tempdir().unwrap();
        let store = LocalStore::new(d.path().to_path_buf());
        let bodies: [&[u8]; 4] = [b"l1\nl2\n", b"", b"l3\nl4", b"\nl5\n"];
        let mut parts = Vec::new();
        for (i, b) in bodies.iter().enumerate() {
            let key = format!("p/sessions/claude-code/s/part-{i:05}-aaaaaaaa.jsonl");
            store.put(&key, b, &Cond::None).unwrap();
            parts.push(PartObject {
                key,
                seq: i as u32,
                hex8: "aaaaaaaa".into(),
                size: b.len() as u64,
                last_modified: None,
                etag: None,
            });
        }
        let all: Vec<u8> = bodies.concat();
        for n in 0..8u64 {
            let want: Vec<u8> = {
                let lines: Vec<&[u8]> = all.split_inclusive(|b| *b == b'\n').collect();
                lines[lines.len().saturating_sub(n as usize)..].concat()
            };
            assert_eq!(tail_bytes(&store, &Keys::from_env(), &parts, n).unwrap(), want, "n={n}");
        }
        // Without a final newline the partial line is the last line.
        let last = parts.len() - 1;
        store.put(&parts[last].key, b"\nl5", &Cond::None).unwrap();
        parts[last].size = 3;
        assert_eq!(tail_bytes(&store, &Keys::from_env(), &parts, 2).unwrap(), b"l4\nl5");
    }
}
