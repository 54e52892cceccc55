//! A mirrored session as one self-contained HTML page (`html`, `share`).
//!
//! The page is rendered while the session streams from the store, part by part and line by
//! line ([`render`]): memory stays bounded whatever the session's size (one line at a time,
//! lines over [`MAX_LINE`] are shown as a placeholder), and the page is written as it goes.
//!
//! What the page holds: a header with the session's numbers (from meta.json's stats, see
//! `insight`; counted while rendering when meta.json has none), then every line of the
//! transcript in order. Each `user`, `assistant`, `system` or `summary` line is one
//! `<article class="msg">` with `id="msg-<uuid>"`; each `tool_use` block one
//! `.tool-call` (a one-line summary of its input; the input and later the result
//! collapsed, outputs cut to [`SHOWN_OUTPUT`] with their full size noted); thinking is
//! collapsed; errors, compactions and slash commands are marked. Claude Code's bookkeeping
//! lines (`queue-operation`, `attachment`, `last-prompt`, `file-history-snapshot`...) are
//! not shown. With `subagents`, each subagent's transcript is rendered inside the tool call
//! that started it (found through its sidecar's `toolUseId`, else the tool result's
//! `agentId`), collapsed, with its own numbers; one never linked comes at the end.
//!
//! Safety: see `escape` (every byte of transcript content goes through one escaping
//! function; markup is `&'static str` only) and `markdown` (raw HTML shown as text, links
//! only `http(s)`). The page carries a Content-Security-Policy that allows no network access
//! and only its own inline script (by hash), see `head`.

pub mod escape;
pub mod head;
pub mod markdown;

use std::collections::HashMap;
use std::io::{self, Write};

use serde_json::Value;

use crate::base::error::{Error, Result};
use crate::base::util::parse_rfc3339;
use crate::cmd::display;
use crate::session::catalog::{Catalog, PartObject, SessionObjects};
use crate::session::insight::{self, Stats};
use crate::session::meta::Meta;
use escape::Html;
use head::{bytes as human_bytes, cut};

/// Longest line rendered; a longer one becomes a placeholder with its size.
pub const MAX_LINE: usize = 8 * 1024 * 1024;
/// Most of a tool's input or output shown (bytes, lines); the full size is noted.
pub const SHOWN_OUTPUT: (usize, usize) = (6 * 1024, 60);
/// Most of one text (prompt, answer, summary) shown.
pub const SHOWN_TEXT: usize = 64 * 1024;
/// Most of a thinking block shown.
pub const SHOWN_THINKING: usize = 16 * 1024;
/// Sessions bigger than this (transcript bytes) get lazy sections after the first
/// [`SECTION_BYTES`] of page: kept as inert text in the page and turned into elements by the
/// page's script when asked (a click, a link to a message in it, printing), so a browser
/// never has to lay out a whole huge session at once.
pub const LAZY_FROM: u64 = 16 * 1024 * 1024;
/// Page bytes per lazy section.
pub const SECTION_BYTES: u64 = 2 * 1024 * 1024;
/// Subagents inside subagents: deepest nesting rendered.
const MAX_NESTING: usize = 4;

/// What to render.
#[derive(Debug, Clone)]
pub struct Options {
    /// Render the session's subagents inside the tool calls that started them.
    pub subagents: bool,
    /// Lazy sections for sessions above this many bytes ([`LAZY_FROM`]).
    pub lazy_from: u64,
    /// Page bytes per lazy section ([`SECTION_BYTES`]).
    pub section_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options { subagents: false, lazy_from: LAZY_FROM, section_bytes: SECTION_BYTES }
    }
}

/// What was rendered (also written in the page's footer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    /// `.msg` articles (subagents' included).
    pub messages: u64,
    /// `.tool-call` blocks (subagents' included).
    pub tool_calls: u64,
    /// Subagent transcripts rendered.
    pub subagents: u64,
    /// Bytes of HTML written.
    pub bytes: u64,
}

/// A subagent of the session, read before the conversation streams.
struct Child {
    id: String,
    agent_id: String,
    agent_type: Option<String>,
    description: Option<String>,
    tool_use_id: Option<String>,
    meta: Option<Meta>,
    parts: Vec<PartObject>,
    placed: bool,
}

/// Render `session` of `cat` as a page into `out` (see the module documentation).
pub fn render(cat: &Catalog<'_>, session: &SessionObjects, opts: &Options, out: &mut dyn Write) -> Result<Rendered> {
    let (plan, meta) = cat.plan(session)?;
    let parts: Vec<PartObject> = plan.parts.into_iter().map(|p| p.obj).collect();
    let children = if opts.subagents { load_children(cat, &session.id, meta.as_ref())? } else { Vec::new() };
    let stats = meta.as_ref().and_then(Stats::from_meta);
    let mut h = Html::new(out);
    head::head(&mut h, &format!("Claude Code session {}", short_id(&session.id)));
    h.m("<div class=\"wrap\">\n");
    header(&mut h, &session.id, meta.as_ref(), stats.as_ref(), cat.project, &children);
    h.m("<main>\n");
    let mut r = Renderer {
        h,
        cat,
        opts: opts.clone(),
        children,
        tool_names: HashMap::new(),
        counted: if stats.is_none() { Some((Stats::default(), 0)) } else { None },
        done: Rendered::default(),
        depth: 0,
        last_date: None,
        fatal: None,
        lazy: parts.iter().map(|p| p.size).sum::<u64>() > opts.lazy_from,
        section: None,
    };
    r.stream(&parts)?;
    r.close_section();
    let unplaced: Vec<usize> = (0..r.children.len()).filter(|&i| !r.children[i].placed).collect();
    if !unplaced.is_empty() {
        r.h.m("<section class=\"others\"><h2>Subagents not linked to a tool call</h2>\n");
        for i in unplaced {
            r.child(i)?;
        }
        r.h.m("</section>\n");
    }
    r.h.m("</main>\n");
    if let Some((s, _)) = r.counted.take() {
        // meta.json had no numbers: the ones counted while rendering, at the end.
        r.h.m("<section class=\"top\" id=\"numbers\"><h2>Numbers (counted from the transcript)</h2>");
        numbers(&mut r.h, None, &s);
        r.h.m("</section>\n");
    }
    let mut done = r.done.clone();
    r.h.m("<footer class=\"end\">Rendered by tracecraft-hook ")
        .t(env!("CARGO_PKG_VERSION"))
        .m(" from the mirrored, redacted copy of the session, ")
        .t(&crate::base::util::utc_stamp(time::OffsetDateTime::now_utc(), "-", " ", ":"))
        .m(" UTC · <span id=\"count-messages\">")
        .n(done.messages)
        .m("</span> messages · <span id=\"count-tool-calls\">")
        .n(done.tool_calls)
        .m("</span> tool calls</footer>\n</div>\n</body></html>\n");
    done.bytes = r.h.written();
    r.h.finish().map_err(|e| Error::io("write", "<page>", e))?;
    Ok(done)
}

fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// The subagents of `parent` in the store, with their meta.json and replay plan.
fn load_children(cat: &Catalog<'_>, parent: &str, meta: Option<&Meta>) -> Result<Vec<Child>> {
    let entries = meta.map(crate::session::meta::extra::entries).unwrap_or_default();
    let mut out = Vec::new();
    for s in crate::session::catalog::children_in_store(cat, parent, meta)? {
        let (plan, cmeta) = cat.plan(&s)?;
        let agent_id = crate::session::layout::split_id(&s.id).map_or(s.id.as_str(), |(_, a)| a).to_string();
        let entry = entries.iter().find(|e| e.session_id == s.id);
        let extra = |k: &str, f: &str| {
            cmeta
                .as_ref()
                .and_then(|m| m.extra.get(k))
                .and_then(|v| v.get(f))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        out.push(Child {
            agent_type: extra("subagent", "agent_type")
                .or_else(|| extra("sidecar", "agentType"))
                .or_else(|| entry.and_then(|e| e.agent_type.clone())),
            description: extra("sidecar", "description").or_else(|| entry.and_then(|e| e.description.clone())),
            tool_use_id: extra("sidecar", "toolUseId"),
            id: s.id,
            agent_id,
            meta: cmeta,
            parts: plan.parts.into_iter().map(|p| p.obj).collect(),
            placed: false,
        });
    }
    Ok(out)
}

/// The header: title and the session's numbers.
fn header(h: &mut Html<'_>, id: &str, meta: Option<&Meta>, stats: Option<&Stats>, project: &str, children: &[Child]) {
    h.m("<header class=\"top\"><h1>Claude Code session</h1><p class=\"sub\"><span class=\"mono\">").t(id).m("</span>");
    if let Some(cwd) = meta.and_then(|m| m.cwd.as_deref()) {
        h.m(" · ").t(cwd);
    }
    h.m(" · project ").t(project).m("</p>\n");
    match stats {
        Some(s) => numbers(h, meta, s),
        None => {
            h.m("<p class=\"note\">meta.json has no numbers for this session yet: <a href=\"#numbers\">counted from the transcript at the end of the page</a>.</p>");
        }
    }
    if !children.is_empty() {
        h.m("<p class=\"tools\">")
            .n(children.len() as u64)
            .m(" subagent transcript(s), shown inside the tool calls that started them.</p>");
    }
    h.m("</header>\n");
}

/// The numbers of a session (a `<dl>`, the tokens table and the tools line).
fn numbers(h: &mut Html<'_>, meta: Option<&Meta>, s: &Stats) {
    let mut items: Vec<(&'static str, String)> = Vec::new();
    let start = meta.and_then(|m| m.started_at.clone()).or_else(|| s.first_timestamp.clone());
    let first = s.first_timestamp.clone().or_else(|| start.clone());
    let last = s.last_timestamp.clone().or_else(|| meta.and_then(|m| m.ended_at.clone()));
    if let Some(t) = &first {
        items.push(("Start (UTC)", stamp(t)));
    }
    if let Some(t) = &last {
        items.push(("End (UTC)", stamp(t)));
    }
    if let (Some(a), Some(b)) = (first.as_deref().and_then(parse_rfc3339), last.as_deref().and_then(parse_rfc3339)) {
        items.push(("Duration", head::duration((b - a).whole_seconds())));
    }
    items.push(("Turns", s.turns.to_string()));
    items.push(("Assistant messages", s.assistant_messages.to_string()));
    items.push(("Tool calls", s.tool_calls.values().sum::<u64>().to_string()));
    let all = insight::total(&s.tokens);
    items.push(("Tokens", display::human(all.total())));
    items.push(("Compactions", s.compactions.to_string()));
    items.push(("Errors", format!("{} tool · {} API", s.tool_errors, s.api_errors)));
    if let Some(b) = &s.git_branch {
        items.push(("Git branch", b.clone()));
    }
    if let Some(v) = &s.version {
        items.push(("Claude Code", v.clone()));
    }
    if let Some(r) = meta.and_then(|m| m.end_reason.as_deref()) {
        items.push(("Ended by", r.to_string()));
    }
    h.m("<dl class=\"numbers\">");
    for (k, v) in &items {
        h.m("<div><dt>").t(k).m("</dt><dd>").t(v).m("</dd></div>");
    }
    h.m("</dl>\n");
    if !s.tokens.is_empty() || !s.subagent_tokens.is_empty() {
        h.m("<div class=\"table\"><table class=\"tokens\"><thead><tr><th>tokens</th><th class=\"n\">input</th><th class=\"n\">output</th><th class=\"n\">cache write</th><th class=\"n\">cache read</th></tr></thead><tbody>");
        let row = |h: &mut Html<'_>, label: &str, t: &insight::Tokens| {
            h.m("<tr><td>").t(label).m("</td>");
            for n in [t.input, t.output, t.cache_creation, t.cache_read] {
                h.m("<td class=\"n\">").t(&crate::cmd::thousands(n)).m("</td>");
            }
            h.m("</tr>");
        };
        for (model, t) in &s.tokens {
            row(h, model, t);
        }
        for (model, t) in &s.subagent_tokens {
            row(h, &format!("{model} (subagents)"), t);
        }
        h.m("</tbody></table></div>\n");
    }
    if !s.tool_calls.is_empty() {
        let tools: Vec<String> = s.top_tools().iter().map(|(k, n)| format!("{k} {n}")).collect();
        h.m("<p class=\"tools\">Tools: ").t(&tools.join(" · ")).m("</p>\n");
    }
}

/// `2026-11-21T19:15:12.167Z` -> `2026-11-21 19:15:12`.
fn stamp(ts: &str) -> String {
    parse_rfc3339(ts).map_or_else(|| ts.to_string(), |t| crate::base::util::utc_stamp(t, "-", " ", ":"))
}

/// Renders lines of one or more transcripts into the page.
struct Renderer<'c, 'w> {
    h: Html<'w>,
    cat: &'c Catalog<'c>,
    opts: Options,
    children: Vec<Child>,
    /// tool_use id -> tool name, to label results.
    tool_names: HashMap<String, String>,
    /// Numbers counted while rendering (when meta.json has none), with the byte offset.
    counted: Option<(Stats, u64)>,
    done: Rendered,
    depth: usize,
    last_date: Option<String>,
    /// A store error met while rendering a subagent inside a line.
    fatal: Option<Error>,
    /// A big session: later messages go into lazy sections.
    lazy: bool,
    /// The open lazy section: (where its markup started, messages in it, first time).
    section: Option<(u64, u64, Option<String>)>,
}

/// Splits streamed bytes into lines for a [`Renderer`].
struct Lines<'r, 'c, 'w> {
    r: &'r mut Renderer<'c, 'w>,
    line: Vec<u8>,
    /// Bytes of the current line beyond [`MAX_LINE`].
    dropped: u64,
}

impl Write for Lines<'_, '_, '_> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let n = buf.len();
        while !buf.is_empty() {
            let (piece, end) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], Some(i)),
                None => (buf, None),
            };
            let room = MAX_LINE.saturating_sub(self.line.len());
            if piece.len() <= room {
                self.line.extend_from_slice(piece);
            } else {
                self.line.extend_from_slice(&piece[..room]);
                self.dropped += (piece.len() - room) as u64;
            }
            match end {
                Some(i) => {
                    self.end_line();
                    buf = &buf[i + 1..];
                }
                None => buf = &[],
            }
            if self.r.fatal.is_some() || self.r.h.failed() {
                return Err(io::Error::other("rendering stopped"));
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Lines<'_, '_, '_> {
    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        let dropped = std::mem::take(&mut self.dropped);
        if dropped > 0 {
            self.r.too_long(&line, line.len() as u64 + dropped);
        } else {
            self.r.line(&line);
        }
        if self.line.capacity() < 64 * 1024 {
            self.line = line;
            self.line.clear();
        }
    }
}

impl<'c, 'w> Renderer<'c, 'w> {
    /// Stream `parts` through the line renderer.
    fn stream(&mut self, parts: &[PartObject]) -> Result<()> {
        let (store, cat) = (self.cat.store, self.cat);
        let mut lines = Lines { r: self, line: Vec::new(), dropped: 0 };
        for p in parts {
            match crate::session::seal::get_part_to(store, &cat.keys, &p.key, &mut lines) {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Err(Error::NotFound(format!(
                        "{} disappeared from {} while reading (compacted meanwhile?); run the command again",
                        p.key,
                        store.describe()
                    )))
                }
                Err(e) => {
                    if let Some(f) = lines.r.fatal.take() {
                        return Err(f);
                    }
                    if lines.r.h.failed() {
                        let w = lines.r.h.finish().err().unwrap_or_else(|| io::Error::other("write failed"));
                        return Err(Error::io("write", "<page>", w));
                    }
                    return Err(e);
                }
            }
        }
        if !lines.line.is_empty() || lines.dropped > 0 {
            lines.end_line();
        }
        if let Some(e) = self.fatal.take() {
            return Err(e);
        }
        Ok(())
    }

    /// In a big session: start a lazy section when the current one (or the first, eager,
    /// part of the page) holds [`SECTION_BYTES`]. A section's markup is written inside a
    /// `<script type="text/plain">` data block, which browsers neither run nor parse; it is
    /// safe there because transcript text never contains a raw `<` (escaped) and our own
    /// markup never contains `</script`.
    fn maybe_new_section(&mut self, ts: Option<&str>) {
        let start = self.section.as_ref().map_or(0, |s| s.0);
        if self.h.written() - start < self.opts.section_bytes.max(1) {
            if let Some(s) = self.section.as_mut() {
                s.1 += 1;
            }
            return;
        }
        self.close_section();
        self.h.m("<section class=\"lazy\"><script type=\"text/plain\">");
        let time = ts.and_then(parse_rfc3339).map(|t| crate::base::util::utc_stamp(t, "-", " ", ":"));
        self.section = Some((self.h.written(), 1, time));
    }

    fn close_section(&mut self) {
        let Some((_, n, time)) = self.section.take() else { return };
        self.h.m("</script><button type=\"button\" class=\"load\">Show ").n(n).m(" more message(s)");
        if let Some(t) = time {
            self.h.m(" from ").t(&t).m(" UTC");
        }
        self.h.m("</button></section>\n");
        self.last_date = None;
    }

    /// A line over [`MAX_LINE`]: a placeholder keeping its anchor when one is found.
    fn too_long(&mut self, head: &[u8], size: u64) {
        let text = String::from_utf8_lossy(&head[..head.len().min(64 * 1024)]);
        let find = |k: &str| {
            let pat = format!("\"{k}\":\"");
            text.find(&pat).map(|i| {
                let rest = &text[i + pat.len()..];
                rest[..rest.find('"').unwrap_or(rest.len()).min(100)].to_string()
            })
        };
        let ty = find("type").unwrap_or_default();
        let counted = matches!(ty.as_str(), "user" | "assistant" | "system" | "summary");
        if counted {
            self.open_msg("raw", find("uuid").as_deref(), None, "line too long");
            self.h.m("</header><div class=\"body\">");
        } else {
            self.h.m("<div class=\"raw\">");
        }
        self.h.m("<p class=\"cut\">A ").t(&ty).m(" line of ").t(&human_bytes(size)).m(", too long to render here.</p>");
        self.h.m(if counted { "</div></article>\n" } else { "</div>\n" });
    }

    fn line(&mut self, raw: &[u8]) {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        if let Some((s, off)) = self.counted.as_mut() {
            let mut l = raw.to_vec();
            l.push(b'\n');
            s.update_at(*off, &l);
            *off += l.len() as u64;
        }
        let text = String::from_utf8_lossy(raw);
        let v: Value = match serde_json::from_str(&text) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                let (shown, was_cut) = cut(&text, 300, 3);
                self.h
                    .m("<div class=\"raw\">Not a JSON line (")
                    .t(&human_bytes(raw.len() as u64))
                    .m("): <code>")
                    .t(shown);
                if was_cut {
                    self.h.m("…");
                }
                self.h.m("</code></div>\n");
                return;
            }
        };
        let ty = v.get("type").and_then(Value::as_str).unwrap_or("");
        if self.lazy && self.depth == 0 && matches!(ty, "user" | "assistant" | "system" | "summary") {
            self.maybe_new_section(v.get("timestamp").and_then(Value::as_str));
        }
        match ty {
            "user" => self.user(&v),
            "assistant" => self.assistant(&v),
            "system" => self.system(&v),
            "summary" => {
                self.open_msg("compact-summary", None, v.get("timestamp"), "Summary");
                self.h.m("</header><div class=\"body\"><details><summary>Conversation summary (from an earlier compaction)</summary>");
                self.markdown(v.get("summary").and_then(Value::as_str).unwrap_or(""), SHOWN_TEXT);
                self.h.m("</details></div></article>\n");
            }
            _ => {} // Claude Code's bookkeeping lines
        }
    }

    fn date_line(&mut self, ts: Option<&Value>) -> Option<(String, String)> {
        let s = ts.and_then(Value::as_str)?;
        let t = parse_rfc3339(s)?;
        let full = crate::base::util::utc_stamp(t, "-", " ", ":");
        let (date, time) = full.split_once(' ')?;
        if self.depth == 0 && self.last_date.as_deref() != Some(date) {
            self.h.m("<div class=\"date\">").t(date).m("</div>\n");
            self.last_date = Some(date.to_string());
        }
        Some((time.to_string(), format!("{full} UTC")))
    }

    /// `<article class="msg CLASS" id="msg-UUID"><header>…</header><div class="body">`
    fn open_msg(&mut self, class: &'static str, uuid: Option<&str>, ts: Option<&Value>, who: &str) {
        self.done.messages += 1;
        let when = self.date_line(ts);
        self.h.m("<article class=\"msg ").m(class).m("\"");
        if let Some(u) = uuid.filter(|u| !u.is_empty()) {
            self.h.m(" id=\"msg-").t(u).m("\"");
        }
        self.h.m("><header>");
        match (uuid.filter(|u| !u.is_empty()), &when) {
            (Some(u), Some((time, full))) => {
                self.h.m("<a class=\"time\" href=\"#msg-").t(u).m("\" title=\"").t(full).m("\">").t(time).m("</a>");
            }
            (Some(u), None) => {
                self.h.m("<a class=\"time\" href=\"#msg-").t(u).m("\">#</a>");
            }
            (None, Some((time, full))) => {
                self.h.m("<span class=\"time\" title=\"").t(full).m("\">").t(time).m("</span>");
            }
            (None, None) => {}
        }
        self.h.m("<span class=\"who\">").t(who).m("</span>");
    }

    fn markdown(&mut self, text: &str, max: usize) {
        let (shown, was_cut) = cut(text, max, usize::MAX);
        markdown::render(&mut self.h, shown);
        if was_cut {
            self.h.m("<p class=\"cut\">… cut here: ").t(&human_bytes(text.len() as u64)).m(" in all.</p>");
        }
    }

    /// Preformatted text cut to `SHOWN_OUTPUT`.
    fn pre(&mut self, text: &str) {
        let (shown, was_cut) = cut(text, SHOWN_OUTPUT.0, SHOWN_OUTPUT.1);
        self.h.m("<pre>").t(shown).m("</pre>");
        if was_cut {
            self.h
                .m("<p class=\"cut\">Showing ")
                .t(&human_bytes(shown.len() as u64))
                .m(" of ")
                .t(&human_bytes(text.len() as u64))
                .m(" (")
                .t(&crate::cmd::thousands(text.lines().count() as u64))
                .m(" lines).</p>");
        }
    }

    fn user(&mut self, v: &Value) {
        let uuid = v.get("uuid").and_then(Value::as_str);
        let ts = v.get("timestamp");
        let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
        let content = v.get("message").and_then(|m| m.get("content"));
        if flag("isCompactSummary") {
            self.open_msg("compact-summary", uuid, ts, "Compaction summary");
            self.h.m("</header><div class=\"body\"><details><summary>What the conversation before the compaction was about</summary>");
            self.markdown(&plain_text(content), SHOWN_TEXT);
            self.h.m("</details></div></article>\n");
            return;
        }
        let blocks: Vec<&Value> = match content {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(c) => vec![c],
            None => Vec::new(),
        };
        let results = blocks.iter().any(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"));
        let meta = flag("isMeta");
        let text = plain_text(content);
        let marker = text.trim_start();
        let (class, who): (&'static str, &str) = if results {
            ("result", "Tool result")
        } else if meta {
            ("meta", "Claude Code")
        } else if marker.starts_with("<command-name>") || marker.starts_with("<command-message>") {
            ("command", "Slash command")
        } else if marker.starts_with('<') && insight::NOT_A_PROMPT.iter().any(|m| marker.starts_with(m)) {
            ("meta", "Claude Code")
        } else if self.depth > 0 {
            ("user", "Prompt")
        } else {
            ("user", "User")
        };
        let error = blocks.iter().any(|b| b.get("is_error").and_then(Value::as_bool) == Some(true));
        self.open_msg(if error { "result error" } else { class }, uuid, ts, who);
        if error {
            self.h.m("<span class=\"badge err\">error</span>");
        }
        self.h.m("</header><div class=\"body\">");
        for b in blocks {
            let kind = b.get("type").and_then(Value::as_str).unwrap_or(if b.is_string() { "text" } else { "" });
            match kind {
                "tool_result" => self.tool_result(b, v.get("toolUseResult")),
                "image" => {
                    self.h.m("<p><span class=\"badge\">image</span> ").t(image_label(b).as_str()).m("</p>");
                }
                "text" => {
                    let t = b.as_str().or_else(|| b.get("text").and_then(Value::as_str)).unwrap_or("");
                    self.user_text(t, class, meta);
                }
                _ => {
                    self.h.m("<details><summary>").t(kind).m(" block</summary>");
                    self.pre(&b.to_string());
                    self.h.m("</details>");
                }
            }
        }
        self.h.m("</div></article>\n");
    }

    fn user_text(&mut self, t: &str, class: &str, meta: bool) {
        let tag = |name: &str| -> Option<&str> {
            let open = format!("<{name}>");
            let s = t.find(&open)? + open.len();
            let e = t[s..].find(&format!("</{name}>")).map_or(t.len(), |e| s + e);
            Some(&t[s..e])
        };
        if class == "command" {
            let name = tag("command-name").or_else(|| tag("command-message")).unwrap_or("").trim();
            let args = tag("command-args").unwrap_or("").trim();
            self.h.m("<p><code class=\"cmd\">");
            if !name.starts_with('/') {
                self.h.m("/");
            }
            self.h.t(name);
            if !args.is_empty() {
                self.h.m(" ").t(args);
            }
            self.h.m("</code></p>");
            return;
        }
        let outputs = [
            ("local-command-stdout", "output"),
            ("local-command-stderr", "error output"),
            ("bash-input", "! shell command"),
            ("bash-stdout", "shell output"),
            ("bash-stderr", "shell error output"),
        ];
        for (name, label) in outputs {
            if let Some(body) = tag(name).filter(|_| t.trim_start().starts_with(&format!("<{name}>"))) {
                self.h.m("<details open><summary>").t(label).m("</summary>");
                self.pre(body);
                self.h.m("</details>");
                return;
            }
        }
        if meta || class == "meta" {
            let (first, _) = cut(t.trim(), 120, 1);
            self.h.m("<details><summary>").t(first).m("</summary>");
            self.pre(t);
            self.h.m("</details>");
            return;
        }
        let (shown, was_cut) = cut(t, SHOWN_TEXT, usize::MAX);
        self.h.m("<div class=\"prompt\">").t(shown).m("</div>");
        if was_cut {
            self.h.m("<p class=\"cut\">… cut here: ").t(&human_bytes(t.len() as u64)).m(" in all.</p>");
        }
    }

    fn tool_result(&mut self, b: &Value, extra: Option<&Value>) {
        let id = b.get("tool_use_id").and_then(Value::as_str).unwrap_or("");
        let name = self.tool_names.get(id).cloned().unwrap_or_else(|| "tool".into());
        let error = b.get("is_error").and_then(Value::as_bool) == Some(true);
        let text = plain_text(b.get("content"));
        self.h.m(if error {
            "<details class=\"tool-result error\"><summary>"
        } else {
            "<details class=\"tool-result\"><summary>"
        });
        self.h.m("result of <span class=\"tname\">").t(&name).m("</span> · ").t(&human_bytes(text.len() as u64));
        if error {
            self.h.m(" · <span class=\"badge err\">error</span>");
        }
        if !id.is_empty() {
            self.h.m(" · <a href=\"#tool-").t(id).m("\">call</a>");
        }
        self.h.m("</summary>");
        self.pre(&text);
        self.h.m("</details>");
        // A subagent not linked by its sidecar: at the result that names its agent id.
        if let Some(aid) = extra.and_then(|x| x.get("agentId")).and_then(Value::as_str) {
            if let Some(i) = self.children.iter().position(|c| !c.placed && c.agent_id == aid) {
                if let Err(e) = self.child(i) {
                    self.fatal.get_or_insert(e);
                }
            } else if !self.opts.subagents {
                self.h
                    .m("<p class=\"cut\">Subagent <code>")
                    .t(aid)
                    .m("</code>: render with --subagents to include its transcript here.</p>");
            }
        }
    }

    fn assistant(&mut self, v: &Value) {
        let uuid = v.get("uuid").and_then(Value::as_str);
        let msg = v.get("message");
        let model = msg.and_then(|m| m.get("model")).and_then(Value::as_str).unwrap_or("");
        let api_error = v.get("isApiErrorMessage").and_then(Value::as_bool) == Some(true);
        self.open_msg(if api_error { "assistant error" } else { "assistant" }, uuid, v.get("timestamp"), "Claude");
        if !model.is_empty() && model != insight::SYNTHETIC {
            self.h.m("<span class=\"model\">").t(model).m("</span>");
        }
        if api_error {
            self.h.m("<span class=\"badge err\">API error</span>");
        }
        self.h.m("</header><div class=\"body\">");
        match msg.and_then(|m| m.get("content")) {
            Some(Value::String(s)) => self.markdown(s, SHOWN_TEXT),
            Some(Value::Array(blocks)) => {
                for b in blocks {
                    self.assistant_block(b);
                }
            }
            _ => {}
        }
        self.h.m("</div></article>\n");
    }

    fn assistant_block(&mut self, b: &Value) {
        let kind = b.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "text" => self.markdown(b.get("text").and_then(Value::as_str).unwrap_or(""), SHOWN_TEXT),
            "thinking" => {
                let t = b.get("thinking").and_then(Value::as_str).unwrap_or("");
                let (shown, was_cut) = cut(t, SHOWN_THINKING, usize::MAX);
                self.h
                    .m("<details class=\"thinking\"><summary>Thinking · ")
                    .t(&human_bytes(t.len() as u64))
                    .m("</summary><div class=\"text\">")
                    .t(shown);
                if was_cut {
                    self.h.m("…");
                }
                self.h.m("</div></details>");
            }
            "redacted_thinking" => {
                self.h.m("<p class=\"cut\">(redacted thinking)</p>");
            }
            "tool_use" | "server_tool_use" => self.tool_call(b),
            _ => {
                self.h.m("<details class=\"tool-result\"><summary>").t(kind).m("</summary>");
                self.pre(&b.to_string());
                self.h.m("</details>");
            }
        }
    }

    fn tool_call(&mut self, b: &Value) {
        self.done.tool_calls += 1;
        let id = b.get("id").and_then(Value::as_str).unwrap_or("");
        let name = b.get("name").and_then(Value::as_str).filter(|s| !s.is_empty()).unwrap_or("tool");
        let input = b.get("input").cloned().unwrap_or(Value::Null);
        if !id.is_empty() {
            if self.tool_names.len() > 100_000 {
                self.tool_names.clear();
            }
            self.tool_names.insert(id.to_string(), name.to_string());
        }
        self.h.m("<div class=\"tool-call\"");
        if !id.is_empty() {
            self.h.m(" id=\"tool-").t(id).m("\"");
        }
        self.h.m("><details><summary><span class=\"tname\">").t(name).m("</span> <span class=\"tsum\">");
        let summary = tool_summary(name, &input);
        let (shown, was_cut) = cut(&summary, 160, 1);
        self.h.t(shown);
        if was_cut {
            self.h.m("…");
        }
        self.h.m("</span></summary>");
        let full = match &input {
            Value::Object(m) if m.len() == 1 => m.values().next().and_then(Value::as_str).map(str::to_string),
            Value::Object(m) if name == "Bash" => m.get("command").and_then(Value::as_str).map(str::to_string),
            _ => None,
        }
        .unwrap_or_else(|| serde_json::to_string_pretty(&input).unwrap_or_default());
        self.pre(&full);
        self.h.m("</details>");
        if let Some(i) =
            self.children.iter().position(|c| !c.placed && c.tool_use_id.as_deref() == Some(id) && !id.is_empty())
        {
            if let Err(e) = self.child(i) {
                self.fatal.get_or_insert(e);
            }
        }
        self.h.m("</div>");
    }

    fn system(&mut self, v: &Value) {
        let uuid = v.get("uuid").and_then(Value::as_str);
        let subtype = v.get("subtype").and_then(Value::as_str).unwrap_or("");
        let content = v.get("content").and_then(Value::as_str).unwrap_or("");
        match subtype {
            "compact_boundary" => {
                self.open_msg("compact", uuid, v.get("timestamp"), "Compaction");
                self.h
                    .m("</header><div class=\"body\"><strong>")
                    .t(if content.is_empty() { "Conversation compacted" } else { content })
                    .m("</strong>");
                if let Some(m) = v.get("compactMetadata") {
                    if let Some(t) = m.get("trigger").and_then(Value::as_str) {
                        self.h.m(" · ").t(t);
                    }
                    if let Some(n) = m.get("preTokens").and_then(Value::as_u64) {
                        self.h.m(" · ").t(&display::human(n)).m(" tokens before");
                    }
                }
                self.h.m("</div></article>\n");
            }
            _ => {
                let error = subtype.contains("error") || v.get("level").and_then(Value::as_str) == Some("error");
                self.open_msg(if error { "system error" } else { "system" }, uuid, v.get("timestamp"), "System");
                if !subtype.is_empty() {
                    self.h.m("<span class=\"badge").m(if error { " err" } else { "" }).m("\">").t(subtype).m("</span>");
                }
                self.h.m("</header><div class=\"body\">");
                let text = if content.is_empty() {
                    v.get("error").map(Value::to_string).unwrap_or_default()
                } else {
                    content.to_string()
                };
                if !text.is_empty() {
                    self.pre(&text);
                }
                self.h.m("</div></article>\n");
            }
        }
    }

    /// Render child `i` (a subagent) here, collapsed, with its numbers.
    fn child(&mut self, i: usize) -> Result<()> {
        self.children[i].placed = true;
        if self.depth >= MAX_NESTING {
            return Ok(());
        }
        self.done.subagents += 1;
        let parts = std::mem::take(&mut self.children[i].parts);
        let c = &self.children[i];
        let mut title = format!("Subagent {}", c.agent_id);
        if let Some(t) = &c.agent_type {
            title.push_str(&format!(" · {t}"));
        }
        if let Some(d) = &c.description {
            title.push_str(&format!(" · {d}"));
        }
        let stats = c.meta.as_ref().and_then(Stats::from_meta);
        let id = c.id.clone();
        self.h
            .m("<details class=\"subagent\" id=\"agent-")
            .t(&c.agent_id)
            .m("\"><summary>")
            .t(&title)
            .m("</summary><div class=\"subnums\">");
        if let Some(s) = stats {
            let t = insight::total(&s.tokens);
            self.h.t(&format!(
                "{} assistant message(s) · {} tool call(s) · {} tokens ({}) · {} tool error(s)",
                s.assistant_messages,
                s.tool_calls.values().sum::<u64>(),
                display::human(t.total()),
                display::describe_tokens(&t),
                s.tool_errors
            ));
            if let (Some(a), Some(b)) = (
                s.first_timestamp.as_deref().and_then(parse_rfc3339),
                s.last_timestamp.as_deref().and_then(parse_rfc3339),
            ) {
                self.h.m(" · ").t(&head::duration((b - a).whole_seconds()));
            }
        }
        self.h.m(" · <span class=\"mono\">").t(&id).m("</span></div>\n");
        let (saved_date, saved_counted) = (self.last_date.take(), self.counted.take());
        self.depth += 1;
        let streamed = self.stream(&parts);
        self.depth -= 1;
        self.last_date = saved_date;
        self.counted = saved_counted;
        self.h.m("</details>");
        streamed
    }
}

/// The text of a `content` value: a string, or the text blocks of a list joined by newlines
/// (other blocks named in brackets).
fn plain_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => {
            let mut out = String::new();
            for b in items {
                if !out.is_empty() {
                    out.push('\n');
                }
                match (b.get("type").and_then(Value::as_str), b) {
                    (_, Value::String(s)) => out.push_str(s),
                    (Some("text"), _) => out.push_str(b.get("text").and_then(Value::as_str).unwrap_or("")),
                    (Some("image"), _) => out.push_str(&format!("[{}]", image_label(b))),
                    (Some(t), _) => out.push_str(&format!("[{t}]")),
                    (None, _) => out.push_str(&b.to_string()),
                }
            }
            out
        }
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn image_label(b: &Value) -> String {
    let src = b.get("source");
    let mt = src.and_then(|s| s.get("media_type")).and_then(Value::as_str).unwrap_or("image");
    let size = src.and_then(|s| s.get("data")).and_then(Value::as_str).map_or(0, |d| d.len() as u64 * 3 / 4);
    format!("{mt}, {} (not shown)", human_bytes(size))
}

/// A one-line summary of a tool call's input.
pub fn tool_summary(name: &str, input: &Value) -> String {
    let s = |k: &str| input.get(k).and_then(Value::as_str).unwrap_or("");
    let first_line = |t: &str| t.lines().next().unwrap_or("").to_string();
    let out = match name {
        "Bash" => {
            let cmd = s("command");
            let more = if cmd.lines().count() > 1 { " …" } else { "" };
            match s("description") {
                "" => format!("{}{more}", first_line(cmd)),
                d => format!("{}{more}  # {d}", first_line(cmd)),
            }
        }
        "Read" | "Write" | "Edit" | "MultiEdit" | "NotebookEdit" | "NotebookRead" => {
            let p = if s("file_path").is_empty() { s("notebook_path") } else { s("file_path") };
            p.to_string()
        }
        "Grep" => match s("path") {
            "" => s("pattern").to_string(),
            p => format!("{} in {p}", s("pattern")),
        },
        "Glob" => s("pattern").to_string(),
        "WebFetch" => s("url").to_string(),
        "WebSearch" => s("query").to_string(),
        "Task" | "Agent" => match s("subagent_type") {
            "" => s("description").to_string(),
            t => format!("{} ({t})", s("description")),
        },
        "TodoWrite" => {
            let n = input.get("todos").and_then(Value::as_array).map_or(0, Vec::len);
            format!("{n} todo(s)")
        }
        _ => String::new(),
    };
    if !out.trim().is_empty() {
        return out;
    }
    match input {
        Value::Object(m) => m
            .iter()
            .find_map(|(k, v)| v.as_str().map(|s| format!("{k}: {}", first_line(s))))
            .unwrap_or_else(|| input.to_string()),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{local::LocalStore, Cond, Store};
    use serde_json::json;

    fn page_of(parts: &[&[u8]], opts: &Options) -> (String, Rendered) {
        let d = tempfile::tempdir().unwrap();
        let store = LocalStore::new(d.path().to_path_buf());
        for (i, p) in parts.iter().enumerate() {
            let key = format!("p/sessions/claude-code/s1/{}", crate::session::layout::part_name(i as u32, "aaaaaaaa"));
            store.put(&key, p, &Cond::None).unwrap();
        }
        let cat = Catalog::new(&store, "p", "test".into());
        let s = cat.resolve("s1").unwrap();
        let mut out = Vec::new();
        let done = render(&cat, &s, opts, &mut out).unwrap();
        assert_eq!(done.bytes, out.len() as u64);
        (String::from_utf8(out).unwrap(), done)
    }

    fn line(ty: &str, uuid: &str, text: &str) -> String {
        json!({"type": ty, "uuid": uuid, "timestamp": "2026-11-21T10:00:00Z", "message": {"role": ty, "content": text}})
            .to_string()
            + "\n"
    }

    #[test]
    fn lines_split_across_parts_and_giant_lines() {
        let a = line("user", "u1", "first prompt");
        let giant = format!(
            "{{\"type\":\"assistant\",\"uuid\":\"u2\",\"message\":{{\"content\":\"{}\"}}}}\n",
            "x".repeat(MAX_LINE + 10)
        );
        let c = line("assistant", "u3", "last **answer**");
        let all = [a.as_bytes(), giant.as_bytes(), c.as_bytes()].concat();
        // Cut in the middle of the first and of the last line.
        let (p1, rest) = all.split_at(10);
        let (p2, p3) = rest.split_at(rest.len() - 7);
        let (page, done) = page_of(&[p1, p2, p3], &Options::default());
        assert_eq!((done.messages, done.tool_calls), (3, 0));
        assert!(page.contains("id=\"msg-u1\"") && page.contains("first prompt"));
        assert!(
            page.contains("id=\"msg-u2\"") && page.contains("too long to render here"),
            "placeholder keeps the anchor"
        );
        assert!(page.contains("id=\"msg-u3\"") && page.contains("last <strong>answer</strong>"));
        assert!(page.len() < 100_000);
        // No meta.json: the numbers are counted while rendering, at the end.
        assert!(page.contains("Numbers (counted from the transcript)") && page.contains("<dt>Turns</dt><dd>1</dd>"));
    }

    #[test]
    fn lazy_sections_hold_later_messages_as_inert_text() {
        let lines: String = (0..50)
            .map(|i| line("user", &format!("u{i}"), &format!("prompt {i} </script><script>x()</script>")))
            .collect();
        let opts = Options { lazy_from: 0, section_bytes: 2000, ..Options::default() };
        let (page, done) = page_of(&[lines.as_bytes()], &opts);
        assert_eq!(done.messages, 50);
        let sections = page.matches("<section class=\"lazy\"><script type=\"text/plain\">").count();
        assert!(sections >= 5, "{sections}");
        assert_eq!(page.matches("</script>").count(), 1 + sections, "nothing in a section closes its data block");
        assert!(page.contains("more message(s) from 2026-11-21 10:00:00 UTC</button>"));
    }

    #[test]
    fn tool_summaries() {
        assert_eq!(
            tool_summary("Bash", &json!({"command": "ls -la\necho", "description": "List"})),
            "ls -la …  # List"
        );
        assert_eq!(tool_summary("Read", &json!({"file_path": "/a/b.rs"})), "/a/b.rs");
        assert_eq!(tool_summary("Grep", &json!({"pattern": "fn x", "path": "src"})), "fn x in src");
        assert_eq!(
            tool_summary("Agent", &json!({"description": "greet", "subagent_type": "general-purpose"})),
            "greet (general-purpose)"
        );
        assert_eq!(tool_summary("mcp__x__y", &json!({"n": 1, "q": "hello\nworld"})), "q: hello");
        assert_eq!(tool_summary("Other", &json!({"n": 1})), "{\"n\":1}");
    }

    #[test]
    fn plain_text_of_blocks() {
        let c = json!([{"type": "text", "text": "a"}, {"type": "image", "source": {"media_type": "image/png", "data": "AAAA"}}, {"type": "tool_reference"}]);
        assert_eq!(plain_text(Some(&c)), "a\n[image/png, 3 bytes (not shown)]\n[tool_reference]");
        assert_eq!(plain_text(Some(&json!("x"))), "x");
    }
}
