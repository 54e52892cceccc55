//! A small, safe Markdown renderer for assistant text: the subset Claude writes (paragraphs,
//! headings, fenced code blocks, lists, block quotes, tables, rules; inline code, bold,
//! italic, strikethrough, links, autolinks and bare URLs).
//!
//! Safe by construction: it writes only through [`Html`], so every byte of the text is
//! escaped; raw HTML in the Markdown is shown as text, never passed through; a link is made
//! only for `http(s)` URLs ([`safe_url`]), anything else (`javascript:`, `data:`...) stays
//! visible text; images are never loaded (shown as a link to their URL).
//!
//! Bounded work: nesting is capped ([`MAX_DEPTH`]) and a closing delimiter is looked for only
//! within [`WINDOW`] bytes, so hostile text costs linear time. Callers cap the text's size.

use super::escape::{safe_url, Html};

/// Deepest nesting of block quotes / lists / inline emphasis rendered as such.
pub const MAX_DEPTH: usize = 8;
/// How far ahead a closing delimiter (`**`, `` ` ``, `]`...) is looked for.
pub const WINDOW: usize = 4096;

/// Render `text` as Markdown.
pub fn render(h: &mut Html<'_>, text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    blocks(h, &lines, 0);
}

fn fence_of(t: &str) -> Option<(u8, usize)> {
    let c = *t.as_bytes().first()?;
    if c != b'`' && c != b'~' {
        return None;
    }
    let n = t.bytes().take_while(|&b| b == c).count();
    (n >= 3 && !(c == b'`' && t[n..].contains('`'))).then_some((c, n))
}

fn heading_of(t: &str) -> Option<(usize, &str)> {
    let n = t.bytes().take_while(|&b| b == b'#').count();
    if !(1..=6).contains(&n) {
        return None;
    }
    let rest = &t[n..];
    if !rest.is_empty() && !rest.starts_with(' ') && !rest.starts_with('\t') {
        return None;
    }
    let rest = rest.trim();
    let rest = rest.trim_end_matches('#');
    Some((n, rest.trim_end()))
}

fn is_hr(t: &str) -> bool {
    let t = t.trim_end();
    let Some(c) = t.chars().next() else { return false };
    matches!(c, '-' | '*' | '_') && t.chars().filter(|&x| x == c).count() >= 3 && t.chars().all(|x| x == c || x == ' ')
}

/// `(ordered, marker width including the space, start number)`
fn list_marker(t: &str) -> Option<(bool, usize, u64)> {
    let b = t.as_bytes();
    if matches!(b.first(), Some(b'-' | b'*' | b'+')) && matches!(b.get(1), Some(b' ' | b'\t')) {
        return Some((false, 2, 1));
    }
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if (1..=9).contains(&digits)
        && matches!(b.get(digits), Some(b'.' | b')'))
        && matches!(b.get(digits + 1), Some(b' ' | b'\t'))
    {
        return Some((true, digits + 2, t[..digits].parse().unwrap_or(1)));
    }
    None
}

fn is_table_sep(line: &str) -> bool {
    let t = line.trim();
    t.contains('-') && t.contains('|') && t.chars().all(|c| matches!(c, '|' | '-' | ':' | ' ' | '\t'))
}

fn table_cells(line: &str) -> Vec<&str> {
    let t = line.trim();
    let t = t.strip_prefix('|').unwrap_or(t);
    let t = t.strip_suffix('|').unwrap_or(t);
    t.split('|').map(str::trim).collect()
}

fn starts_block(line: &str, next: Option<&&str>) -> bool {
    let t = line.trim_start();
    let indent = line.len() - t.len();
    indent < 4
        && (fence_of(t).is_some()
            || heading_of(t).is_some()
            || is_hr(t)
            || t.starts_with('>')
            || list_marker(t).is_some()
            || (t.starts_with('|') && next.is_some_and(|n| is_table_sep(n))))
}

fn strip_indent(line: &str, n: usize) -> &str {
    let k = line.bytes().take(n).take_while(|&b| b == b' ').count();
    &line[k..]
}

fn blocks(h: &mut Html<'_>, lines: &[&str], depth: usize) {
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim_start();
        let indent = line.len() - t.len();
        if t.is_empty() {
            i += 1;
            continue;
        }
        if indent < 4 {
            if let Some((c, n)) = fence_of(t) {
                let info = t[n..].trim();
                let mut j = i + 1;
                let close = |l: &str| {
                    let lt = l.trim_start();
                    lt.bytes().take_while(|&b| b == c).count() >= n
                        && lt.trim_start_matches(c as char).trim().is_empty()
                };
                h.m("<div class=\"code\">");
                if let Some(lang) = info.split_whitespace().next() {
                    h.m("<span class=\"lang\">").t(lang).m("</span>");
                }
                h.m("<pre><code>");
                while j < lines.len() && !close(lines[j]) {
                    h.t(strip_indent(lines[j], indent)).m("\n");
                    j += 1;
                }
                h.m("</code></pre></div>");
                i = j + 1;
                continue;
            }
            if let Some((level, text)) = heading_of(t) {
                let (open, close) = match level {
                    1 => ("<h3>", "</h3>"),
                    2 => ("<h4>", "</h4>"),
                    3 => ("<h5>", "</h5>"),
                    _ => ("<h6>", "</h6>"),
                };
                h.m(open);
                inline(h, text, depth);
                h.m(close);
                i += 1;
                continue;
            }
            if is_hr(t) {
                h.m("<hr>");
                i += 1;
                continue;
            }
            if t.starts_with('>') {
                let mut inner = Vec::new();
                while i < lines.len() {
                    let lt = lines[i].trim_start();
                    let Some(rest) = lt.strip_prefix('>') else { break };
                    inner.push(rest.strip_prefix(' ').unwrap_or(rest));
                    i += 1;
                }
                h.m("<blockquote>");
                if depth < MAX_DEPTH {
                    blocks(h, &inner, depth + 1);
                } else {
                    plain_paragraph(h, &inner);
                }
                h.m("</blockquote>");
                continue;
            }
            if t.starts_with('|') && lines.get(i + 1).is_some_and(|n| is_table_sep(n)) {
                let head = table_cells(t);
                h.m("<div class=\"table\"><table><thead><tr>");
                for c in &head {
                    h.m("<th>");
                    inline(h, c, depth);
                    h.m("</th>");
                }
                h.m("</tr></thead><tbody>");
                i += 2;
                while i < lines.len() && lines[i].trim_start().starts_with('|') {
                    h.m("<tr>");
                    for c in table_cells(lines[i]) {
                        h.m("<td>");
                        inline(h, c, depth);
                        h.m("</td>");
                    }
                    h.m("</tr>");
                    i += 1;
                }
                h.m("</tbody></table></div>");
                continue;
            }
            if let Some((ordered, _, start)) = list_marker(t) {
                i = list(h, lines, i, indent, ordered, start, depth);
                continue;
            }
        }
        // A paragraph: up to a blank line or the start of another block.
        let mut j = i + 1;
        while j < lines.len() && !lines[j].trim().is_empty() && !starts_block(lines[j], lines.get(j + 1)) {
            j += 1;
        }
        h.m("<p>");
        for (k, l) in lines[i..j].iter().enumerate() {
            if k > 0 {
                h.m("<br>");
            }
            inline(h, l.trim(), depth);
        }
        h.m("</p>");
        i = j;
    }
}

fn plain_paragraph(h: &mut Html<'_>, lines: &[&str]) {
    h.m("<p class=\"plain\">");
    for l in lines {
        h.t(l).m("\n");
    }
    h.m("</p>");
}

/// A list starting at `lines[i]` (indentation `indent`); returns the index after it.
fn list(
    h: &mut Html<'_>,
    lines: &[&str],
    mut i: usize,
    indent: usize,
    ordered: bool,
    start: u64,
    depth: usize,
) -> usize {
    if ordered {
        if start == 1 {
            h.m("<ol>");
        } else {
            h.m("<ol start=\"").n(start).m("\">");
        }
    } else {
        h.m("<ul>");
    }
    while i < lines.len() {
        let t = lines[i].trim_start();
        let this_indent = lines[i].len() - t.len();
        let Some((o, width, _)) = list_marker(t).filter(|_| this_indent == indent) else { break };
        if o != ordered {
            break;
        }
        let content_indent = indent + width;
        let mut item: Vec<&str> = vec![&t[width..]];
        i += 1;
        while i < lines.len() {
            let l = lines[i];
            let lt = l.trim_start();
            let li = l.len() - lt.len();
            if lt.is_empty() {
                // A blank line continues the item only when indented content follows.
                match lines[i + 1..].iter().find(|x| !x.trim().is_empty()) {
                    Some(next) if next.len() - next.trim_start().len() >= content_indent.min(indent + 2) => {
                        item.push("");
                        i += 1;
                        continue;
                    }
                    _ => break,
                }
            }
            if li >= content_indent.min(indent + 2) {
                item.push(strip_indent(l, content_indent));
            } else if li <= indent && (list_marker(lt).is_some() || starts_block(l, lines.get(i + 1))) {
                break;
            } else {
                item.push(lt); // lazy continuation of the item's paragraph
            }
            i += 1;
        }
        h.m("<li>");
        if depth < MAX_DEPTH {
            // A one-paragraph item renders without <p>.
            if item.len() == 1 {
                inline(h, item[0].trim(), depth);
            } else {
                blocks(h, &item, depth + 1);
            }
        } else {
            plain_paragraph(h, &item);
        }
        h.m("</li>");
        // Blank lines between items.
        while i < lines.len() && lines[i].trim().is_empty() {
            let next = lines[i + 1..].iter().find(|x| !x.trim().is_empty());
            let same_list = next.is_some_and(|n| {
                let nt = n.trim_start();
                n.len() - nt.len() == indent && list_marker(nt).is_some_and(|(o, _, _)| o == ordered)
            });
            if !same_list {
                break;
            }
            i += 1;
        }
    }
    h.m(if ordered { "</ol>" } else { "</ul>" });
    i
}

fn is_word(c: Option<char>) -> bool {
    c.is_some_and(char::is_alphanumeric)
}

/// Find a closing `delim` in `s[from..limit]` that is not preceded by whitespace: `Ok(at)`,
/// or `Err(to)`: every candidate before `to` was rejected. A rejection does not depend on
/// the opener, so the caller skips `..to` for later openers of the same delimiter: hostile
/// lines (`**a **a **a ...`) stay linear.
fn find_close(s: &str, mut from: usize, limit: usize, delim: &str, underscore: bool) -> Result<usize, usize> {
    for _ in 0..64 {
        if from >= limit {
            return Err(limit);
        }
        let Some(rel) = s[from..limit].find(delim) else { return Err(limit) };
        let at = from + rel;
        let before = s[..at].chars().next_back();
        let after = s[at + delim.len()..].chars().next();
        let ok = before.is_some_and(|c| !c.is_whitespace()) && !(underscore && is_word(after));
        // `*` inside `**`: keep looking past a delimiter run longer than ours.
        let run_longer = delim.len() == 1 && s[at + 1..].starts_with(delim);
        if ok && !run_longer {
            return Ok(at);
        }
        from = at + delim.len();
    }
    Err(from)
}

/// Render inline Markdown of one line.
pub fn inline(h: &mut Html<'_>, s: &str, depth: usize) {
    let b = s.as_bytes();
    let mut plain = 0; // start of pending plain text
    let mut next_bracket: Option<Option<usize>> = None;
    let mut rejected = [0usize; 5]; // per delimiter: no closer before this offset
    let mut i = 0;
    let flush = |h: &mut Html<'_>, from: usize, to: usize| {
        if to > from {
            h.t(&s[from..to]);
        }
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'\\' if b.get(i + 1).is_some_and(u8::is_ascii_punctuation) => {
                flush(h, plain, i);
                plain = i + 1;
                i += 2;
            }
            b'`' => {
                let n = b[i..].iter().take_while(|&&x| x == b'`').count();
                let rest = &s[i + n..];
                let ticks = &s[i..i + n];
                let mut close = None;
                let mut from = 0;
                while let Some(rel) = rest[from..rest.len().min(WINDOW)].find(ticks) {
                    let at = from + rel;
                    let run = rest[at..].bytes().take_while(|&x| x == b'`').count();
                    if run == n {
                        close = Some(at);
                        break;
                    }
                    from = at + run;
                }
                match close {
                    Some(at) => {
                        flush(h, plain, i);
                        let code = &rest[..at];
                        let code = if code.len() > 1 && code.starts_with(' ') && code.ends_with(' ') {
                            &code[1..code.len() - 1]
                        } else {
                            code
                        };
                        h.m("<code>").t(code).m("</code>");
                        i += n + at + n;
                        plain = i;
                    }
                    None => i += n,
                }
            }
            b'*' | b'_' | b'~' if depth < MAX_DEPTH => {
                let double = b.get(i + 1) == Some(&c);
                if c == b'~' && !double {
                    i += 1;
                    continue;
                }
                let delim = if double { &s[i..i + 2] } else { &s[i..i + 1] };
                let underscore = c == b'_';
                let prev = s[..i].chars().next_back();
                let next = s[i + delim.len()..].chars().next();
                let opens = next.is_some_and(|x| !x.is_whitespace()) && !(underscore && is_word(prev));
                let kind = match (c, double) {
                    (b'*', false) => 0,
                    (b'*', true) => 1,
                    (b'_', false) => 2,
                    (b'_', true) => 3,
                    _ => 4,
                };
                let start = i + delim.len();
                // Not right after the opener (empty emphasis), nor where a search already failed.
                let mut from = (start + 1).max(rejected[kind]);
                while from < s.len() && !s.is_char_boundary(from) {
                    from += 1;
                }
                let limit = s.len().min(start + WINDOW);
                let found = if opens && from < limit {
                    find_close(s, from, limit, delim, underscore)
                        .map_err(|to| rejected[kind] = to)
                        .ok()
                        .map(|at| at - start)
                } else {
                    None
                };
                match found {
                    Some(at) if at > 0 => {
                        flush(h, plain, i);
                        let (open, close) = match (c, double) {
                            (b'~', _) => ("<del>", "</del>"),
                            (_, true) => ("<strong>", "</strong>"),
                            _ => ("<em>", "</em>"),
                        };
                        h.m(open);
                        inline(h, &s[i + delim.len()..i + delim.len() + at], depth + 1);
                        h.m(close);
                        i += delim.len() * 2 + at;
                        plain = i;
                    }
                    _ => {
                        // Skip the whole delimiter run so it is not retried char by char.
                        i += b[i..].iter().take_while(|&&x| x == c).count();
                    }
                }
            }
            b'!' | b'[' => {
                let image = c == b'!';
                if image && b.get(i + 1) != Some(&b'[') {
                    i += 1;
                    continue;
                }
                let open = if image { i + 1 } else { i };
                // The next `]` (cached: a run of `[` must not rescan the line each time).
                if next_bracket.is_none_or(|c| c.is_some_and(|p| p < open)) {
                    next_bracket = Some(s[open..].find(']').map(|r| open + r));
                }
                let close = next_bracket.flatten().filter(|&p| p - open < WINDOW);
                match close.and_then(|p| link_at(&s[open..], p - open)) {
                    Some((text, url, len)) => {
                        flush(h, plain, i);
                        let end = open + len;
                        if image {
                            h.m("<span class=\"img\">image: ");
                            if h.open_link(url) {
                                h.t(if text.is_empty() { url } else { text }).m("</a>");
                            } else {
                                h.t(&s[i..end]);
                            }
                            h.m("</span>");
                        } else if h.open_link(url) {
                            if depth < MAX_DEPTH {
                                inline(h, text, depth + 1);
                            } else {
                                h.t(text);
                            }
                            h.m("</a>");
                        } else {
                            // Not an http(s) URL: shown as the text it is.
                            h.t(&s[i..end]);
                        }
                        i = end;
                        plain = i;
                    }
                    None => i += 1,
                }
            }
            b'<' => {
                let end = s[i..s.len().min(i + 2048)].find('>');
                match end.map(|e| &s[i + 1..i + e]) {
                    Some(url) if safe_url(url) => {
                        flush(h, plain, i);
                        h.open_link(url);
                        h.t(url).m("</a>");
                        i += url.len() + 2;
                        plain = i;
                    }
                    _ => i += 1,
                }
            }
            b'h' | b'H' if !is_word(s[..i].chars().next_back()) => {
                let lower = s[i..].get(..8).map(str::to_ascii_lowercase).unwrap_or_default();
                if !(lower.starts_with("https://") || lower.starts_with("http://")) {
                    i += 1;
                    continue;
                }
                let mut end =
                    i + s[i..].find(|ch: char| ch.is_whitespace() || ch == '<' || ch == '"').unwrap_or(s.len() - i);
                // Trailing punctuation ends a sentence, not the URL; a `)` only when unbalanced.
                while end > i {
                    let last = s[..end].chars().next_back().unwrap_or(' ');
                    let url = &s[i..end];
                    let unbalanced = last == ')' && url.matches('(').count() < url.matches(')').count();
                    if matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '*' | '_' | '`') || unbalanced {
                        end -= last.len_utf8();
                    } else {
                        break;
                    }
                }
                let url = &s[i..end];
                if safe_url(url) {
                    flush(h, plain, i);
                    h.open_link(url);
                    h.t(url).m("</a>");
                    i = end;
                    plain = i;
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
        while i < b.len() && !s.is_char_boundary(i) {
            i += 1;
        }
    }
    flush(h, plain, b.len());
}

/// `[text](url)` or `[text](url "title")` at the start of `s`, whose first `]` is at
/// `close`: (text, url, length).
fn link_at(s: &str, close: usize) -> Option<(&str, &str, usize)> {
    let text = &s[1..close];
    let rest = s[close + 1..].strip_prefix('(')?;
    let end = rest[..rest.len().min(WINDOW)].find(')')?;
    let inner = rest[..end].trim();
    let url = inner.split_whitespace().next().unwrap_or("");
    let url = url.strip_prefix('<').and_then(|u| u.strip_suffix('>')).unwrap_or(url);
    Some((text, url, close + 2 + end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(s: &str) -> String {
        let mut out = Vec::new();
        let mut h = Html::new(&mut out);
        render(&mut h, s);
        h.finish().unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn blocks_render() {
        assert_eq!(
            md("# Title\n\nSome **bold** and *it* and `x<y`."),
            "<h3>Title</h3><p>Some <strong>bold</strong> and <em>it</em> and <code>x&lt;y</code>.</p>"
        );
        assert_eq!(
            md("```rust\nfn main() { println!(\"<hi>\"); }\n```"),
            "<div class=\"code\"><span class=\"lang\">rust</span><pre><code>fn main() { println!(&quot;&lt;hi&gt;&quot;); }\n</code></pre></div>"
        );
        assert_eq!(
            md("- a\n- b `c`\n\n1. one\n2. two"),
            "<ul><li>a</li><li>b <code>c</code></li></ul><ol><li>one</li><li>two</li></ol>"
        );
        assert_eq!(md("- a\n  - nested\n- b"), "<ul><li><p>a</p><ul><li>nested</li></ul></li><li>b</li></ul>");
        assert_eq!(md("> quoted\n> more"), "<blockquote><p>quoted<br>more</p></blockquote>");
        assert_eq!(
            md("| a | b |\n|---|:-:|\n| 1 | **2** |"),
            "<div class=\"table\"><table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td><strong>2</strong></td></tr></tbody></table></div>"
        );
        assert_eq!(md("line1\nline2\n\n---\n"), "<p>line1<br>line2</p><hr>");
        assert_eq!(md("3. three\n4. four"), "<ol start=\"3\"><li>three</li><li>four</li></ol>");
    }

    #[test]
    fn links_only_http() {
        assert_eq!(
            md("See [the guide](https://example.com/g) and <https://e.x/a> or https://e.x/b."),
            "<p>See <a href=\"https://example.com/g\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">the guide</a> and \
             <a href=\"https://e.x/a\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">https://e.x/a</a> or \
             <a href=\"https://e.x/b\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">https://e.x/b</a>.</p>"
        );
        assert_eq!(md("[click](javascript:alert(1))"), "<p>[click](javascript:alert(1))</p>");
        assert_eq!(md("[x](JAVASCRIPT:alert`1`)"), "<p>[x](JAVASCRIPT:alert`1`)</p>");
        assert_eq!(
            md("![pic](data:image/png;base64,AAAA)"),
            "<p><span class=\"img\">image: ![pic](data:image/png;base64,AAAA)</span></p>"
        );
        assert!(!md("<a href=\"javascript:alert(1)\">x</a>").contains("<a "));
    }

    #[test]
    fn raw_html_is_text() {
        let out = md("<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n</textarea><b>hi</b>");
        assert!(
            !out.contains("<script") && !out.contains("<img") && !out.contains("<b>") && !out.contains("</textarea"),
            "{out}"
        );
        assert!(out.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{out}");
    }

    #[test]
    fn snake_case_and_lone_stars_stay() {
        assert_eq!(md("a_b_c and 2 * 3 * 4 and **"), "<p>a_b_c and 2 * 3 * 4 and **</p>");
        assert_eq!(md("__init__ is _it_"), "<p><strong>init</strong> is <em>it</em></p>");
    }

    #[test]
    fn hostile_inputs_are_linear() {
        for s in [
            "*".repeat(200_000),
            "**a ".repeat(50_000),
            "[".repeat(100_000),
            "`".repeat(100_000),
            "<".repeat(100_000),
            "> ".repeat(5000) + "x",
            "- ".repeat(5000) + "x",
        ] {
            let t = std::time::Instant::now();
            let out = md(&s);
            assert!(!out.is_empty());
            assert!(t.elapsed() < std::time::Duration::from_secs(60), "{} took {:?}", &s[..10], t.elapsed());
        }
    }
}
