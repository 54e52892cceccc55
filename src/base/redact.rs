//! Redaction: scrubs credential-shaped strings out of transcript bytes before they leave the
//! machine.
//!
//! A Claude Code transcript records everything the agent saw and typed: the `.env` file it
//! read, the `export` it ran, the diff it wrote. A mirror of it is therefore a copy of every
//! secret that passed through the session. [`Redactor::redact`] replaces the shapes of common
//! credentials with `[REDACTED:<rule>]` and counts the replacements per rule. Rule names are
//! those of the Python `tracecraft` CLI, so `redaction_counts` in `meta.json` read the same.
//!
//! How it stays fast: one literal prefilter (`AKIA`, `sk-`, `ghp_`, `-----BEGIN `, `://`, ...)
//! finds candidate spots in a single pass over the buffer, and a small hand-written matcher
//! checks the exact shape at each spot. A buffer without a match comes back borrowed.
//!
//! What it deliberately does not do:
//! - It is a net, not a guarantee. It knows shapes, not secrets: a password in prose, a token
//!   with an unknown prefix, a key split across two strings or encoded (base64, `%`-escapes)
//!   passes through. Users add their own shapes with `redact_patterns` ([`ExtraPattern`]).
//! - It does not parse JSON. It works on raw bytes (lines may hold invalid UTF-8) and keeps a
//!   valid JSON line valid by construction: no built-in match contains a quote, starts or
//!   ends inside a backslash escape, or crosses a line. User matches are trimmed to stay
//!   inside the JSON string they start in.
//! - It does not remember: the caller owns the counts and decides what to upload.

use std::borrow::Cow;
use std::collections::BTreeMap;

use regex::bytes::Regex;

use crate::base::error::{Error, Result};

/// A user-supplied extra rule from the config (`"redact_patterns"`).
///
/// The whole match is replaced, unless the pattern has a capture group named `secret`
/// (`(?P<secret>...)`): then only that group is, and the rest of the match is kept as context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraPattern {
    /// Name used in the counts and in `[REDACTED:<name>]`.
    pub name: String,
    /// A `regex` crate pattern.
    pub regex: String,
}

/// The built-in rules, in the order of [`rule_names`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    AwsAccessKey,
    AwsSessionToken,
    AwsSecretKey,
    AnthropicKey,
    OpenaiKey,
    HfToken,
    GithubPat,
    SlackToken,
    BearerToken,
    PrivateKey,
    UrlPassword,
}

impl Rule {
    fn name(self) -> &'static str {
        RULE_NAMES[self as usize]
    }
}

const RULE_NAMES: [&str; 11] = [
    "aws_access_key",
    "aws_session_token",
    "aws_secret_key",
    "anthropic_key",
    "openai_key",
    "hf_token",
    "github_pat",
    "slack_token",
    "bearer_token",
    "private_key",
    "url_password",
];

/// Names of the built-in rules, as they appear in counts and in `[REDACTED:<name>]`.
pub fn rule_names() -> &'static [&'static str] {
    &RULE_NAMES
}

/// Literals that start (or, for URLs, sit inside) every built-in match. One pass over the
/// buffer with all of them is the whole cost of a clean buffer.
const TRIGGERS: &[&str] = &[
    "AKIA",
    "ASIA",
    "sk-",
    "hf_",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "xoxa-",
    "xoxb-",
    "xoxp-",
    "xoxr-",
    "xoxs-",
    "Bearer",
    "bearer",
    "-----BEGIN ",
    "secret",
    "Secret",
    "SECRET",
    "://",
    r":\/\/",
];

/// Longest PEM block we look at; a `BEGIN` without an `END` in this window never eats more.
const PEM_MAX: usize = 16 * 1024;
/// Longest user name and password we look at in a URL.
const URL_PART_MAX: usize = 1024;
/// Longest key body we look at (real ones are under 200 bytes); a longer run is a blob.
const TOKEN_MAX: usize = 1024;
/// Longest bearer token we look at (JWTs with many claims run to a few KiB).
const BEARER_MAX: usize = 8 * 1024;
/// AWS secret access keys are exactly this long.
const AWS_SECRET_LEN: usize = 40;

/// Compiled rule set.
#[derive(Debug)]
pub struct Redactor {
    triggers: Regex,
    pem_begin: Regex,
    pem_end: Regex,
    aws_secret_name: Regex,
    aws_secret_sep: Regex,
    extras: Vec<Extra>,
}

#[derive(Debug)]
struct Extra {
    name: String,
    replacement: Vec<u8>,
    regex: Regex,
    /// Index of the `secret` capture group, when the pattern has one.
    group: Option<usize>,
}

/// Which rule a span belongs to.
#[derive(Debug, Clone, Copy)]
enum Label {
    Builtin(Rule),
    Extra(usize),
}

#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    label: Label,
}

impl Redactor {
    /// Built-in rules plus the user's extra patterns. Fails on an invalid pattern.
    pub fn new(extra: &[ExtraPattern]) -> Result<Self> {
        let alternation: Vec<String> = TRIGGERS.iter().map(|t| regex::escape(t)).collect();
        let builtin = |re: &str| Regex::new(re).expect("built-in redaction pattern compiles");
        let extras = extra
            .iter()
            .map(|p| {
                let regex = Regex::new(&p.regex)
                    .map_err(|e| Error::config(None, format!("redact_patterns: invalid pattern {:?}: {e}", p.name)))?;
                let group = regex.capture_names().position(|n| n == Some("secret"));
                Ok(Extra { name: p.name.clone(), replacement: replacement(&p.name), regex, group })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Redactor {
            triggers: builtin(&alternation.join("|")),
            pem_begin: builtin(r"^-----BEGIN (?:(?:RSA|EC|OPENSSH|DSA|ENCRYPTED|PGP) )?PRIVATE KEY(?: BLOCK)?-----"),
            pem_end: builtin(r"^-----END (?:(?:RSA|EC|OPENSSH|DSA|ENCRYPTED|PGP) )?PRIVATE KEY(?: BLOCK)?-----"),
            // `aws_secret_access_key`, `SecretAccessKey`, `aws-secret-key`, `secret_key`...
            // (the match starts at "secret": whatever comes before it is kept anyway).
            aws_secret_name: builtin(r"^(?i)secret[_-]?(?:access[_-]?)?key"),
            // `=`, `: `, `" = "`, `\":\"`, `=>`, `:=`, or plain blanks, with optional quotes
            // (escaped or not) on either side.
            aws_secret_sep: builtin(r#"^(?:\\*["'])?(?:[ \t]*(?:=>|:=|[=:])[ \t]*|[ \t]+)(?:\\*["'])?"#),
            extras,
        })
    }

    /// Redact whole JSONL lines; adds per-rule counts into `counts`.
    ///
    /// Returns the input itself (no copy) when nothing matched.
    pub fn redact<'a>(&self, input: &'a [u8], counts: &mut BTreeMap<String, u64>) -> Cow<'a, [u8]> {
        let mut spans = self.builtin_spans(input);
        spans.extend(self.extra_spans(input));
        let spans = merge_overlaps(spans);
        if spans.is_empty() {
            return Cow::Borrowed(input);
        }
        let mut out = Vec::with_capacity(input.len());
        let mut copied = 0;
        for span in spans {
            out.extend_from_slice(&input[copied..span.start]);
            let name = match span.label {
                Label::Builtin(rule) => {
                    out.extend_from_slice(b"[REDACTED:");
                    out.extend_from_slice(rule.name().as_bytes());
                    out.push(b']');
                    rule.name()
                }
                Label::Extra(i) => {
                    out.extend_from_slice(&self.extras[i].replacement);
                    self.extras[i].name.as_str()
                }
            };
            bump(counts, name);
            copied = span.end;
        }
        out.extend_from_slice(&input[copied..]);
        Cow::Owned(out)
    }

    /// Spans of the built-in rules, found from the trigger literals.
    fn builtin_spans(&self, input: &[u8]) -> Vec<Span> {
        // Every hit is checked, even inside an earlier match: a token glued to another
        // (`...AbCdAWS_SECRET_ACCESS_KEY=...`) must not hide it. Overlaps are merged later.
        self.triggers
            .find_iter(input)
            .filter_map(|hit| self.match_at(input, hit.start()))
            .map(|(start, end, rule)| Span { start, end, label: Label::Builtin(rule) })
            .collect()
    }

    /// Spans of the user's patterns, trimmed to stay inside one JSON string.
    fn extra_spans(&self, input: &[u8]) -> Vec<Span> {
        let mut spans = Vec::new();
        for (i, extra) in self.extras.iter().enumerate() {
            let mut cursor = JsonCursor::default();
            let mut push = |start: usize, end: usize| {
                if let Some((start, end)) = cursor.clamp(input, start, end) {
                    spans.push(Span { start, end, label: Label::Extra(i) });
                }
            };
            match extra.group {
                None => extra.regex.find_iter(input).for_each(|m| push(m.start(), m.end())),
                Some(g) => {
                    extra.regex.captures_iter(input).filter_map(|c| c.get(g)).for_each(|m| push(m.start(), m.end()))
                }
            }
        }
        spans
    }

    /// The built-in match that the trigger literal at `at` belongs to, if any:
    /// `(start, end, rule)` of the bytes to replace.
    fn match_at(&self, buf: &[u8], at: usize) -> Option<(usize, usize, Rule)> {
        let rest = &buf[at..];
        match rest.first()? {
            b'A' => aws_key_id(buf, at),
            b's' if rest.starts_with(b"sk-") => sk_key(buf, at),
            b's' | b'S' => self.aws_secret(buf, at),
            b'h' => token(buf, at, b"hf_", 30, Rule::HfToken),
            b'g' if rest.starts_with(b"github_pat_") => github_fine_grained(buf, at),
            b'g' => match rest.get(..4)? {
                prefix @ [b'g', b'h', b'p' | b'o' | b'u' | b's' | b'r', b'_'] => {
                    token(buf, at, prefix, 30, Rule::GithubPat)
                }
                _ => None,
            },
            b'x' => slack(buf, at),
            b'B' | b'b' if rest[1..].starts_with(b"earer") => self.bearer(buf, at),
            b'-' => self.private_key(buf, at),
            b':' => url_password(buf, at),
            _ => None,
        }
    }

    /// `Bearer <token>`: the token is replaced, the word `Bearer` kept. A token that another
    /// rule knows (`Bearer sk-ant-...`) is left to that rule and counted under its name.
    fn bearer(&self, buf: &[u8], at: usize) -> Option<(usize, usize, Rule)> {
        if !starts_word(buf, at) {
            return None;
        }
        let start = span_while(buf, at + 6, at + 6 + 16, |b| b == b' ' || b == b'\t');
        if start == at + 6 {
            return None;
        }
        if !matches!(buf.get(start), Some(b'B' | b'b')) && self.match_at(buf, start).is_some() {
            return None;
        }
        let body_end = token_span(buf, start, BEARER_MAX, |b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'~' | b'+' | b'/' | b'-')
        })?;
        let end = span_while(buf, body_end, body_end + 2, |b| b == b'=');
        let body = &buf[start..body_end];
        (body.len() >= 20 && mixed_classes(body)).then_some((start, end, Rule::BearerToken))
    }

    /// A 40-character AWS secret next to its key name: only the value is replaced.
    fn aws_secret(&self, buf: &[u8], at: usize) -> Option<(usize, usize, Rule)> {
        let window = &buf[at..buf.len().min(at + 64)];
        let name = self.aws_secret_name.find(window)?;
        let sep_start = at + name.end();
        let window = &buf[sep_start..buf.len().min(sep_start + 64)];
        let start = sep_start + self.aws_secret_sep.find(window)?.end();
        let end = span_while(buf, start, start + AWS_SECRET_LEN + 1, is_aws_secret_byte);
        (end - start == AWS_SECRET_LEN).then_some((start, end, Rule::AwsSecretKey))
    }

    /// A PEM private key block, `-----BEGIN ... PRIVATE KEY-----` to `-----END ...-----`,
    /// with real or JSON-escaped line breaks. Without an `END` in reach, the header and the
    /// key material that follows it are replaced, up to the end of the string.
    fn private_key(&self, buf: &[u8], at: usize) -> Option<(usize, usize, Rule)> {
        let limit = buf.len().min(at + PEM_MAX);
        let header = self.pem_begin.find(&buf[at..limit])?;
        let body_start = at + header.end();
        let body_end = pem_body_end(buf, body_start, limit);
        let body = &buf[body_start..body_end];
        let footer = body.windows(9).position(|w| w == b"-----END ").and_then(|i| {
            let m = self.pem_end.find(&buf[body_start + i..limit])?;
            Some((i, body_start + i + m.end()))
        });
        match footer {
            Some((i, end)) if longest_base64_run(&body[..i]) >= 40 => Some((at, end, Rule::PrivateKey)),
            None if longest_base64_run(body) >= 40 => Some((at, body_end, Rule::PrivateKey)),
            _ => None,
        }
    }
}

/// Sorts `spans` and merges overlapping ones, so that nothing any rule matched survives. A
/// merged span keeps the label of its leftmost part (built-in first at the same start).
/// Each part is JSON-safe on its own (no quote inside, no cut escape at either end), so
/// their union is too.
fn merge_overlaps(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by_key(|s| (s.start, matches!(s.label, Label::Extra(_))));
    let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start < last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    merged
}

/// `[REDACTED:<name>]`, with any byte that could break a JSON string replaced by `_`.
fn replacement(name: &str) -> Vec<u8> {
    let safe =
        name.bytes().map(|b| if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.') { b } else { b'_' });
    b"[REDACTED:".iter().copied().chain(safe).chain([b']']).collect()
}

fn bump(counts: &mut BTreeMap<String, u64>, name: &str) {
    match counts.get_mut(name) {
        Some(n) => *n += 1,
        None => {
            counts.insert(name.to_owned(), 1);
        }
    }
}

/// Bytes that continue an identifier.
fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// True when a token may start at `at`: start of buffer, a byte that is not part of an
/// identifier, or the end of a JSON escape (`\n`, `\t`, `\\n`, `\u00e9`), since a key on its
/// own line of a file shows up as `...\nsk-...` in the transcript.
fn starts_word(buf: &[u8], at: usize) -> bool {
    if at == 0 || !is_ident(buf[at - 1]) {
        return true;
    }
    if at >= 2 && buf[at - 2] == b'\\' && matches!(buf[at - 1], b'n' | b'r' | b't' | b'b' | b'f') {
        return true;
    }
    at >= 6 && buf[at - 6] == b'\\' && buf[at - 5] == b'u' && buf[at - 4..at].iter().all(u8::is_ascii_hexdigit)
}

/// True when a token ending at `end` does not run on into a longer identifier.
fn ends_word(buf: &[u8], end: usize) -> bool {
    buf.get(end).is_none_or(|&b| !is_ident(b))
}

/// End of the run of bytes from `start` (at most up to `limit`) that satisfy `pred`.
fn span_while(buf: &[u8], start: usize, limit: usize, pred: impl Fn(u8) -> bool) -> usize {
    let limit = buf.len().min(limit);
    if start >= limit {
        return start;
    }
    buf[start..limit].iter().position(|&b| !pred(b)).map_or(limit, |n| start + n)
}

/// End of a token's body from `start`: the run of bytes that satisfy `pred`, cut before any
/// `-----` (no token has one, and a PEM marker glued to a token must stay visible to its own
/// rule). `None` when the run goes on past `max`: that is a blob, not a token, and capping the
/// scan keeps a run of `sk-sk-sk-...` linear.
fn token_span(buf: &[u8], start: usize, max: usize, pred: impl Fn(u8) -> bool) -> Option<usize> {
    let end = span_while(buf, start, start + max, &pred);
    if end == start + max && buf.get(end).is_some_and(|&b| pred(b)) {
        return None;
    }
    Some(buf[start..end].windows(5).position(|w| w == b"-----").map_or(end, |i| start + i))
}

/// At least two of lower case, upper case and digits: random keys always are, words and
/// placeholders (`sk-thisisnotakeyjustaname`) usually are not.
fn mixed_classes(body: &[u8]) -> bool {
    let lower = body.iter().any(u8::is_ascii_lowercase) as u8;
    let upper = body.iter().any(u8::is_ascii_uppercase) as u8;
    let digit = body.iter().any(u8::is_ascii_digit) as u8;
    lower + upper + digit >= 2
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn is_aws_secret_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'/' | b'+' | b'=')
}

/// `AKIA` / `ASIA` + 16 upper-case letters or digits, as a whole word.
fn aws_key_id(buf: &[u8], at: usize) -> Option<(usize, usize, Rule)> {
    let rule = match buf.get(at..at + 4)? {
        b"AKIA" => Rule::AwsAccessKey,
        b"ASIA" => Rule::AwsSessionToken,
        _ => return None,
    };
    let end = at + 20;
    let body = buf.get(at + 4..end)?;
    let ok = body.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && starts_word(buf, at)
        && ends_word(buf, end);
    ok.then_some((at, end, rule))
}

/// `sk-ant-...` (Anthropic) and `sk-...`, `sk-proj-...`, `sk-svcacct-...` (OpenAI).
fn sk_key(buf: &[u8], at: usize) -> Option<(usize, usize, Rule)> {
    if !starts_word(buf, at) {
        return None;
    }
    let after = at + 3;
    if buf[after..].starts_with(b"ant-") {
        let body_start = after + 4;
        let end = token_span(buf, body_start, TOKEN_MAX, is_key_byte)?;
        let body = &buf[body_start..end];
        return (body.len() >= 20 && mixed_classes(body)).then_some((at, end, Rule::AnthropicKey));
    }
    let prefix = [&b"proj-"[..], b"svcacct-", b"admin-", b"None-"].into_iter().find(|p| buf[after..].starts_with(p));
    let body_start = after + prefix.map_or(0, <[u8]>::len);
    let end = token_span(buf, body_start, TOKEN_MAX, is_key_byte)?;
    let body = &buf[body_start..end];
    // Without a known prefix, the Python shape: 20 letters or digits before any `-` or `_`,
    // so that `sk-some-long-kebab-name` is not a key.
    let shaped = body.len() >= 20 && (prefix.is_some() || body[..20].iter().all(u8::is_ascii_alphanumeric));
    (shaped && mixed_classes(body)).then_some((at, end, Rule::OpenaiKey))
}

/// `<prefix>` + at least `min` letters or digits, as a whole word (`hf_`, `ghp_`...).
fn token(buf: &[u8], at: usize, prefix: &[u8], min: usize, rule: Rule) -> Option<(usize, usize, Rule)> {
    if !buf[at..].starts_with(prefix) || !starts_word(buf, at) {
        return None;
    }
    let body_start = at + prefix.len();
    let end = token_span(buf, body_start, TOKEN_MAX, |b| b.is_ascii_alphanumeric())?;
    let body = &buf[body_start..end];
    let ok = body.len() >= min && mixed_classes(body) && ends_word(buf, end);
    ok.then_some((at, end, rule))
}

/// Fine-grained GitHub tokens: `github_pat_` + 22 or more letters, digits and `_`.
fn github_fine_grained(buf: &[u8], at: usize) -> Option<(usize, usize, Rule)> {
    if !starts_word(buf, at) {
        return None;
    }
    let body_start = at + b"github_pat_".len();
    let end = token_span(buf, body_start, TOKEN_MAX, is_ident)?;
    let body = &buf[body_start..end];
    (body.len() >= 22 && mixed_classes(body)).then_some((at, end, Rule::GithubPat))
}

/// `xox[abprs]-` + at least 10 letters, digits or `-`.
fn slack(buf: &[u8], at: usize) -> Option<(usize, usize, Rule)> {
    let prefix_ok = matches!(buf.get(at..at + 5), Some([b'x', b'o', b'x', b'a' | b'b' | b'p' | b'r' | b's', b'-']));
    if !prefix_ok || !starts_word(buf, at) {
        return None;
    }
    let body_start = at + b"xoxb-".len();
    let end = token_span(buf, body_start, TOKEN_MAX, |b| b.is_ascii_alphanumeric() || b == b'-')?;
    let body = &buf[body_start..end];
    let ok = body.len() >= 10 && mixed_classes(body) && ends_word(buf, end);
    ok.then_some((at, end, Rule::SlackToken))
}

/// Bytes that end the user name or the password of a URL: blanks, quotes, backslashes (a
/// JSON escape is never cut), path, query and fragment starts, brackets and braces (so
/// `[REDACTED:...]` and `{{password}}` templates are left alone).
fn is_url_stop(b: u8) -> bool {
    b <= b' ' || matches!(b, b'"' | b'\'' | b'\\' | b'/' | b'?' | b'#' | b'<' | b'>' | b'`' | b'[' | b'{' | b'}')
}

/// `scheme://user:password@host`: the password is replaced, the rest kept. The trigger is
/// the `://` (or the JSON-escaped `:\/\/`).
fn url_password(buf: &[u8], at: usize) -> Option<(usize, usize, Rule)> {
    let rest = &buf[at..];
    let sep = if rest.starts_with(b"://") {
        3
    } else if rest.starts_with(br":\/\/") {
        5
    } else {
        return None;
    };
    if at == 0 || !buf[at - 1].is_ascii_alphanumeric() {
        return None;
    }
    let user_start = at + sep;
    let user_end =
        span_while(buf, user_start, user_start + URL_PART_MAX, |b| !is_url_stop(b) && b != b':' && b != b'@');
    if buf.get(user_end) != Some(&b':') {
        return None;
    }
    let start = user_end + 1;
    let region_end = span_while(buf, start, start + URL_PART_MAX, |b| !is_url_stop(b));
    let end = start + buf[start..region_end].iter().rposition(|&b| b == b'@')?;
    let host_ok = buf.get(end + 1).is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'[');
    let password = &buf[start..end];
    let ok = !password.is_empty() && host_ok && !is_placeholder(password);
    ok.then_some((start, end, Rule::UrlPassword))
}

/// `$DB_PASSWORD`, `${db_password}`, `****`: not a password, a reference to one. (`$ecret1`
/// is a password: a bare `$` reference must look like an environment variable.)
fn is_placeholder(pw: &[u8]) -> bool {
    match pw {
        [b'$', b'{', name @ .., b'}'] => !name.is_empty() && name.iter().all(|&b| is_ident(b)),
        [b'$', name @ ..] => {
            !name.is_empty() && name.iter().all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        }
        _ => pw.iter().all(|&b| b == b'*'),
    }
}

/// End of a PEM body starting at `start`: base64, blanks, real line breaks, JSON escapes
/// (taken whole, so the body never ends inside one), header lines (`Proc-Type: 4,ENCRYPTED`),
/// line-number gutters of tool output and non-ASCII (`→`). Quotes and braces end it, so it
/// never leaves its JSON string, and it stops at the next `-----BEGIN `.
fn pem_body_end(buf: &[u8], start: usize, limit: usize) -> usize {
    let mut i = start;
    while i < limit {
        let b = buf[i];
        if b == b'\\' {
            let j = span_while(buf, i, limit, |b| b == b'\\');
            if j < limit && matches!(buf[j], b'n' | b'r' | b't' | b'/') {
                i = j + 1;
                continue;
            }
            break;
        }
        if b == b'-' && buf[i..].starts_with(b"-----BEGIN ") {
            // The next block: each header then scans only its own body, so a run of headers
            // stays linear.
            break;
        }
        let body_byte = b.is_ascii_alphanumeric()
            || b >= 0x80
            || matches!(
                b,
                b'+' | b'/' | b'=' | b' ' | b'\t' | b'\r' | b'\n' | b':' | b',' | b'-' | b'.' | b'(' | b')' | b'_'
            );
        if !body_byte {
            break;
        }
        i += 1;
    }
    i
}

/// Length of the longest run of base64 characters: real key material has long ones, prose
/// that mentions `-----BEGIN PRIVATE KEY-----` does not.
fn longest_base64_run(bytes: &[u8]) -> usize {
    bytes
        .split(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')))
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0)
}

/// Walks JSON lines left to right to tell whether an offset is inside a JSON string, so a
/// user pattern's match can be kept inside the string it starts in. Lines that do not start
/// with `{` or `[` are not JSON and matches in them are left as they are.
#[derive(Debug, Default)]
struct JsonCursor {
    /// Next byte to read.
    pos: usize,
    /// The state at `pos` (a line start when `pos` is 0 or follows a `\n`).
    in_string: bool,
    line_kind: LineKind,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    /// Before the first non-blank byte of a line.
    #[default]
    Unknown,
    Json,
    Text,
}

impl JsonCursor {
    /// Trim the match `[start, end)` so that it lies inside one JSON string and does not cut a
    /// backslash escape; `None` when nothing is left (a match outside strings, on a quote).
    /// Calls must come with non-decreasing `start`.
    fn clamp(&mut self, buf: &[u8], start: usize, end: usize) -> Option<(usize, usize)> {
        if start >= end {
            return None;
        }
        let start = self.advance(buf, start)?;
        if self.line_kind != LineKind::Json {
            return Some((start, end));
        }
        let mut i = start;
        while i < end {
            match buf[i] {
                b'\\' => i = (i + escape_len(buf, i)).min(buf.len()),
                b'"' | b'\n' => return (start < i).then_some((start, i)),
                _ => i += 1,
            }
        }
        Some((start, i))
    }

    /// Read up to `target`. Returns where a match at `target` may start (moved back to the
    /// start of an escape it would cut), or `None` when `target` is outside any JSON string.
    fn advance(&mut self, buf: &[u8], target: usize) -> Option<usize> {
        while self.pos < target {
            let b = buf[self.pos];
            if b == b'\n' {
                self.in_string = false;
                self.line_kind = LineKind::Unknown;
                self.pos += 1;
                continue;
            }
            if self.line_kind == LineKind::Unknown && !b.is_ascii_whitespace() {
                self.line_kind = if b == b'{' || b == b'[' { LineKind::Json } else { LineKind::Text };
            }
            if self.line_kind != LineKind::Json {
                self.pos += 1;
                continue;
            }
            if self.in_string && b == b'\\' {
                let len = escape_len(buf, self.pos);
                if self.pos + len > target {
                    // `target` is inside this escape: start the match at its backslash.
                    return Some(self.pos);
                }
                self.pos += len;
                continue;
            }
            if b == b'"' {
                self.in_string = !self.in_string;
            }
            self.pos += 1;
        }
        if self.line_kind == LineKind::Unknown {
            if let Some(&b) = buf.get(target) {
                if !b.is_ascii_whitespace() {
                    self.line_kind = if b == b'{' || b == b'[' { LineKind::Json } else { LineKind::Text };
                }
            }
        }
        match self.line_kind {
            LineKind::Json if !self.in_string => None,
            _ => Some(target),
        }
    }
}

/// Length of the JSON escape starting with the backslash at `i` (`\n` is 2, `\u00e9` is 6).
fn escape_len(buf: &[u8], i: usize) -> usize {
    if buf.get(i + 1) == Some(&b'u') {
        6
    } else {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AKIA: &str = "AKIAIOSFODNN7EXAMPLE";
    const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const ANTHROPIC: &str = "sk-ant-api03-Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0LzXcVbNm_aB-cD1eF2gH3iJ4kL5mN6oP7qR8sT9uV0wXAA";
    const OPENAI: &str = "sk-Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0UvWxYzAb1Cd2Ef3Gh4";
    const OPENAI_PROJ: &str = "sk-proj-Ab1_Cd2-Ef3Gh4Ij5Kl6Mn7Op8Qr9St0UvWxYz_T3BlbkFJ-Ab1Cd2Ef3";
    const GHP: &str = "ghp_Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0UvWxY";
    const PEM_BODY: &str = "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi7x4R1mXgbtgbxj5HtJDH6y8kj";

    fn redact_with(r: &Redactor, input: &str) -> (String, BTreeMap<String, u64>) {
        let mut counts = BTreeMap::new();
        let out = r.redact(input.as_bytes(), &mut counts);
        (String::from_utf8(out.into_owned()).expect("utf-8 in, utf-8 out"), counts)
    }

    fn red(input: &str) -> (String, BTreeMap<String, u64>) {
        redact_with(&Redactor::new(&[]).expect("built-ins compile"), input)
    }

    fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    /// Redacts `input` and checks it against `expected` and the single rule that fired.
    #[track_caller]
    fn check(input: &str, expected: &str, rule: &str) {
        let (out, c) = red(input);
        assert_eq!(out, expected, "input: {input}");
        assert_eq!(c, counts(&[(rule, 1)]), "input: {input}");
    }

    #[track_caller]
    fn untouched(input: &str) {
        let mut c = BTreeMap::new();
        let r = Redactor::new(&[]).expect("built-ins compile");
        let out = r.redact(input.as_bytes(), &mut c);
        assert!(matches!(out, Cow::Borrowed(_)), "changed: {input} -> {:?}", String::from_utf8_lossy(&out));
        assert!(c.is_empty());
    }

    #[test]
    fn rule_names_are_the_python_ones_plus_three() {
        let names = rule_names();
        for n in [
            "aws_access_key",
            "aws_session_token",
            "anthropic_key",
            "openai_key",
            "hf_token",
            "github_pat",
            "slack_token",
            "bearer_token",
            "aws_secret_key",
            "private_key",
            "url_password",
        ] {
            assert!(names.contains(&n), "{n}");
        }
        assert_eq!(names.len(), 11);
    }

    #[test]
    fn clean_input_is_borrowed_and_uncounted() {
        untouched(r#"{"type":"user","message":{"content":"fix the task-queue in src/disk.rs"}}"#);
        untouched("");
        let r = Redactor::new(&[]).expect("built-ins compile");
        let mut c = counts(&[("openai_key", 3)]);
        let input = b"nothing to see\n";
        assert!(matches!(r.redact(input, &mut c), Cow::Borrowed(b) if std::ptr::eq(b, input)));
        assert_eq!(c, counts(&[("openai_key", 3)]));
    }

    #[test]
    fn aws_access_key_and_session_token() {
        check(&format!("id={AKIA}\n"), "id=[REDACTED:aws_access_key]\n", "aws_access_key");
        check("ASIAY34FZKBOKMUTVV7A.", "[REDACTED:aws_session_token].", "aws_session_token");
        // Part of a longer word, lower case, or too short: not a key.
        untouched(&format!("X{AKIA}"));
        untouched(&format!("{AKIA}X"));
        untouched(&format!("{AKIA}_1"));
        untouched("akiaiosfodnn7example");
        untouched("AKIAIOSFODNN7EXAMPL");
        untouched("ASIAN-PACIFIC regions");
    }

    #[test]
    fn aws_secret_key_keeps_the_name_in_every_notation() {
        for (input, expected) in [
            (format!("AWS_SECRET_ACCESS_KEY={AWS_SECRET}"), "AWS_SECRET_ACCESS_KEY=[REDACTED:aws_secret_key]"),
            (
                format!("export AWS_SECRET_ACCESS_KEY=\"{AWS_SECRET}\""),
                "export AWS_SECRET_ACCESS_KEY=\"[REDACTED:aws_secret_key]\"",
            ),
            (
                format!("aws_secret_access_key = {AWS_SECRET}\\n"),
                "aws_secret_access_key = [REDACTED:aws_secret_key]\\n",
            ),
            (
                format!(r#"\"SecretAccessKey\": \"{AWS_SECRET}\","#),
                r#"\"SecretAccessKey\": \"[REDACTED:aws_secret_key]\","#,
            ),
            (
                format!(r#"\"SecretAccessKey\":\"{AWS_SECRET}\""#),
                r#"\"SecretAccessKey\":\"[REDACTED:aws_secret_key]\""#,
            ),
            (format!("secretAccessKey: '{AWS_SECRET}'"), "secretAccessKey: '[REDACTED:aws_secret_key]'"),
            (format!("\"aws_secret_key\": \"{AWS_SECRET}\""), "\"aws_secret_key\": \"[REDACTED:aws_secret_key]\""),
            (
                format!("aws configure set aws_secret_access_key {AWS_SECRET}"),
                "aws configure set aws_secret_access_key [REDACTED:aws_secret_key]",
            ),
            (format!("--aws-secret-access-key {AWS_SECRET}"), "--aws-secret-access-key [REDACTED:aws_secret_key]"),
            (format!("secret_access_key => '{AWS_SECRET}'"), "secret_access_key => '[REDACTED:aws_secret_key]'"),
        ] {
            check(&input, expected, "aws_secret_key");
        }
        // 41 characters, no key name, or a name that goes on: not an AWS secret.
        untouched(&format!("AWS_SECRET_ACCESS_KEY={AWS_SECRET}x"));
        untouched(&format!("value: {AWS_SECRET}"));
        untouched(&format!("AWS_SECRET_ACCESS_KEY_ID={AWS_SECRET}"));
        untouched("the secret key is kept in the vault; AWS_SECRET_ACCESS_KEY=$SECRET");
    }

    #[test]
    fn anthropic_and_openai_keys() {
        check(&format!("key: {ANTHROPIC}"), "key: [REDACTED:anthropic_key]", "anthropic_key");
        check(&format!("OPENAI_API_KEY={OPENAI}"), "OPENAI_API_KEY=[REDACTED:openai_key]", "openai_key");
        check(&format!("'{OPENAI_PROJ}'"), "'[REDACTED:openai_key]'", "openai_key");
        check("sk-svcacct-Zq_3xYkLmN0pQrStUvWx-yZaBcDeFgHiJkLmNoPq", "[REDACTED:openai_key]", "openai_key");
        // A key on its own line of a file: preceded by a JSON `\n`, `\\n` or `\t`.
        for sep in ["\\n", "\\\\n", "\\t", "\\u0020"] {
            check(&format!("a{sep}{OPENAI}"), &format!("a{sep}[REDACTED:openai_key]"), "openai_key");
        }
    }

    #[test]
    fn identifiers_ending_in_sk_are_not_keys() {
        for w in ["task", "mask", "disk", "desk", "risk", "ask", "tsk"] {
            untouched(&format!("{w}-abcdefghijklmnopqrstuvwx"));
            untouched(&format!("{w}-AbCdEfGhIjKlMnOpQrStUvWx12"));
        }
        untouched("sk-some-long-kebab-case-name-for-a-thing");
        untouched("sk-abcdefghijklmnopqrstuvwxyz");
        untouched("sk-ant-not-a-real-key-just-some-words");
        untouched("skeleton-key-AbCdEfGhIjKlMnOpQrStUvWx12");
        untouched("the sk-learn package");
    }

    #[test]
    fn hf_github_slack_tokens() {
        check("HF_TOKEN=hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567", "HF_TOKEN=[REDACTED:hf_token]", "hf_token");
        for p in ["ghp", "gho", "ghu", "ghs", "ghr"] {
            let tok = format!("{p}{}", &GHP[3..]);
            check(&format!("token {tok} ok"), "token [REDACTED:github_pat] ok", "github_pat");
        }
        check(
            "github_pat_11ABCDEFG0123456789abc_DefGhiJklMnoPqrStuVwxYz0123456789abcdefGHIJKLmnopqrstuvwx",
            "[REDACTED:github_pat]",
            "github_pat",
        );
        check(
            "SLACK=xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
            "SLACK=[REDACTED:slack_token]",
            "slack_token",
        );
        untouched("self.hf_abcdefghijklmnopqrstuvwxyzabcdef");
        untouched(&format!("my{GHP}"));
        untouched(&format!("{GHP}_suffix"));
        untouched("xoxb-short");
        untouched("use ghp_ prefixed tokens");
    }

    #[test]
    fn bearer_token_keeps_the_word() {
        check(
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abc-DEF_123",
            "Authorization: Bearer [REDACTED:bearer_token]",
            "bearer_token",
        );
        check(
            "-H 'authorization: bearer AbCdEf0123456789AbCdEf=='",
            "-H 'authorization: bearer [REDACTED:bearer_token]'",
            "bearer_token",
        );
        untouched("Bearer token");
        untouched("Bearer authentication_is_described_here");
        untouched("the Bearer ${API_TOKEN_FROM_THE_ENVIRONMENT}");
        untouched("Bearerabcdefghij0123456789ABCDEFGHIJ");
        // A known key behind Bearer counts under its own rule.
        check(
            &format!("Authorization: Bearer {ANTHROPIC}"),
            "Authorization: Bearer [REDACTED:anthropic_key]",
            "anthropic_key",
        );
    }

    #[test]
    fn url_password_keeps_scheme_user_and_host() {
        check(
            "DATABASE_URL=postgres://app:s3cr3t-P4ss@db:5432/app",
            "DATABASE_URL=postgres://app:[REDACTED:url_password]@db:5432/app",
            "url_password",
        );
        check(r"redis:\/\/:hunter2@[::1]:6379", r"redis:\/\/:[REDACTED:url_password]@[::1]:6379", "url_password");
        check(
            "mongodb+srv://u:p@ss@cluster0.example.net",
            "mongodb+srv://u:[REDACTED:url_password]@cluster0.example.net",
            "url_password",
        );
        untouched("http://localhost:3000/path?x=a@b");
        untouched("ssh://git@github.com:22/owner/repo.git");
        untouched("git@github.com:owner/repo.git");
        untouched("postgres://app:${DB_PASSWORD}@db/app");
        untouched("postgres://app:$DB_PASSWORD@db/app");
        check("postgres://app:$ecret1@db/app", "postgres://app:[REDACTED:url_password]@db/app", "url_password");
        untouched("postgres://app:****@db/app");
        untouched("postgres://app:{{password}}@db/app");
        untouched("postgres://app:[REDACTED:url_password]@db/app");
        untouched("see https://example.com:8443/login for details");
    }

    #[test]
    fn url_user_name_is_scanned_for_tokens() {
        let (out, c) = red(&format!("https://{GHP}:x-oauth-basic@github.com/o/r"));
        assert_eq!(out, "https://[REDACTED:github_pat]:[REDACTED:url_password]@github.com/o/r");
        assert_eq!(c, counts(&[("github_pat", 1), ("url_password", 1)]));
    }

    #[test]
    fn private_key_blocks() {
        let real = format!("-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----\n");
        check(&format!("x\n{real}y"), "x\n[REDACTED:private_key]\ny", "private_key");
        let escaped = format!(
            r#"{{"content":"-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY}\n{PEM_BODY}==\n-----END OPENSSH PRIVATE KEY-----\n"}}"#
        );
        check(&escaped, r#"{"content":"[REDACTED:private_key]\n"}"#, "private_key");
        // A service-account JSON read by a tool: the key is escaped twice.
        let twice = format!(
            r#"{{"content":"{{\"private_key\": \"-----BEGIN PRIVATE KEY-----\\n{PEM_BODY}\\n-----END PRIVATE KEY-----\\n\"}}"}}"#
        );
        check(&twice, r#"{"content":"{\"private_key\": \"[REDACTED:private_key]\\n\"}"}"#, "private_key");
        // Read-tool output with a line-number gutter.
        let gutter = format!(
            r#"{{"content":"     1\t-----BEGIN EC PRIVATE KEY-----\n     2\t{PEM_BODY}\n     3\t-----END EC PRIVATE KEY-----\n"}}"#
        );
        check(&gutter, r#"{"content":"     1\t[REDACTED:private_key]\n"}"#, "private_key");
        let pgp = format!(
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\n\n{PEM_BODY}\n=AbCd\n-----END PGP PRIVATE KEY BLOCK-----"
        );
        check(&pgp, "[REDACTED:private_key]", "private_key");
    }

    #[test]
    fn private_key_without_end_stops_at_the_string_end() {
        let line = format!(r#"{{"content":"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n{PEM_BODY}\n","x":1}}"#);
        check(&line, r#"{"content":"[REDACTED:private_key]","x":1}"#, "private_key");
        // A backslash before the closing quote is not cut from its escape.
        let line = format!(r#"{{"c":"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\\"}}"#);
        let (out, _) = red(&line);
        assert_eq!(out, r#"{"c":"[REDACTED:private_key]\\"}"#);
        // Not a key: prose about the markers, a public key, a certificate.
        untouched("put it between -----BEGIN PRIVATE KEY----- and -----END PRIVATE KEY----- lines");
        untouched(&format!("-----BEGIN PUBLIC KEY-----\n{PEM_BODY}\n-----END PUBLIC KEY-----"));
        untouched(&format!("-----BEGIN CERTIFICATE-----\n{PEM_BODY}\n-----END CERTIFICATE-----"));
    }

    #[test]
    fn pem_block_never_crosses_a_jsonl_line() {
        let a = r#"{"c":"-----BEGIN RSA PRIVATE KEY----- is how it starts"}"#;
        let b = format!(r#"{{"c":"{PEM_BODY}\n-----END RSA PRIVATE KEY-----"}}"#);
        untouched(&format!("{a}\n{b}\n"));
    }

    #[test]
    fn pathological_runs_stay_linear() {
        let r = Redactor::new(&[]).expect("built-ins compile");
        for unit in [
            "sk-",
            "xoxb-",
            "github_pat_",
            "-----BEGIN PRIVATE KEY----- a ",
            "a://b:",
            "Bearer AbCdEf0123456789AbCdEfGh ",
            "AWS_SECRET_ACCESS_KEY=",
        ] {
            let input = unit.repeat(100_000 / unit.len());
            let t = std::time::Instant::now();
            r.redact(input.as_bytes(), &mut BTreeMap::new());
            // Quadratic would take minutes; bounded scans take well under a second.
            assert!(t.elapsed() < std::time::Duration::from_secs(5), "{unit:?}: {:?}", t.elapsed());
        }
    }

    #[test]
    fn counts_accumulate_across_calls_and_rules() {
        let r = Redactor::new(&[]).expect("built-ins compile");
        let mut c = BTreeMap::new();
        let line = format!("{AKIA} {AKIA} {OPENAI} {ANTHROPIC}\n");
        r.redact(line.as_bytes(), &mut c);
        r.redact(line.as_bytes(), &mut c);
        assert_eq!(c, counts(&[("anthropic_key", 2), ("aws_access_key", 4), ("openai_key", 2)]));
    }

    #[test]
    fn redaction_is_idempotent() {
        let input = format!(
            "AWS_SECRET_ACCESS_KEY={AWS_SECRET} {AKIA} {OPENAI} Bearer {GHP} postgres://a:b@c \
             aws_secret_key={AWS_SECRET}"
        );
        let (once, _) = red(&input);
        untouched(&once);
    }

    #[test]
    fn invalid_utf8_is_fine() {
        let r = Redactor::new(&[]).expect("built-ins compile");
        let mut input = b"\xff\xfe ".to_vec();
        input.extend_from_slice(AKIA.as_bytes());
        input.extend_from_slice(b" \xc3");
        let mut c = BTreeMap::new();
        let out = r.redact(&input, &mut c);
        assert_eq!(&*out, b"\xff\xfe [REDACTED:aws_access_key] \xc3");
    }

    #[test]
    fn extra_patterns_whole_match_and_secret_group() {
        let r = Redactor::new(&[
            ExtraPattern { name: "internal".into(), regex: r"INT-[0-9]{6}".into() },
            ExtraPattern { name: "pw".into(), regex: r"password=(?P<secret>[^&\s]+)".into() },
        ])
        .expect("valid patterns");
        let (out, c) = redact_with(&r, &format!("INT-123456 and password=hunter2&x=1 {AKIA}"));
        assert_eq!(out, "[REDACTED:internal] and password=[REDACTED:pw]&x=1 [REDACTED:aws_access_key]");
        assert_eq!(c, counts(&[("aws_access_key", 1), ("internal", 1), ("pw", 1)]));
    }

    #[test]
    fn extra_pattern_name_cannot_break_json() {
        let r = Redactor::new(&[ExtraPattern { name: "a\"b\\c".into(), regex: "zz+".into() }]).expect("valid pattern");
        let (out, c) = redact_with(&r, r#"{"x":"zzz"}"#);
        assert_eq!(out, r#"{"x":"[REDACTED:a_b_c]"}"#);
        assert_eq!(c, counts(&[("a\"b\\c", 1)]));
    }

    #[test]
    fn extra_pattern_matches_stay_inside_their_string() {
        let r = Redactor::new(&[
            ExtraPattern { name: "greedy".into(), regex: r"token=\S+".into() },
            ExtraPattern { name: "escape".into(), regex: r"n[A-Z]{3}".into() },
            ExtraPattern { name: "structural".into(), regex: r#"":\s*1"#.into() },
        ])
        .expect("valid patterns");
        let line = r#"{"a":"token=abc\"def","b":1,"c":"x\nABC\u00e9"}"#;
        let (out, c) = redact_with(&r, line);
        serde_json::from_str::<serde_json::Value>(&out).expect("still JSON");
        assert_eq!(out, r#"{"a":"[REDACTED:greedy]","b":1,"c":"x[REDACTED:escape]\u00e9"}"#);
        assert_eq!(c, counts(&[("escape", 1), ("greedy", 1)]));
    }

    #[test]
    fn invalid_extra_pattern_is_a_config_error() {
        let err = Redactor::new(&[ExtraPattern { name: "bad".into(), regex: "(".into() }]).expect_err("invalid regex");
        let msg = err.to_string();
        assert!(msg.starts_with("config: redact_patterns: invalid pattern \"bad\": "), "{msg}");
        assert!(matches!(err, Error::Config { path: None, .. }));
    }

    /// Tiny deterministic generator for the JSON-validity property test.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.next() as usize % items.len()]
        }
    }

    #[test]
    fn redacted_lines_stay_valid_json() {
        let pem = format!("-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----");
        let pem_open = format!("-----BEGIN PRIVATE KEY-----\n{PEM_BODY}{PEM_BODY}");
        let aws_pair = format!("AWS_SECRET_ACCESS_KEY={AWS_SECRET} ");
        let aws_json = format!("{{\"SecretAccessKey\": \"{AWS_SECRET}\"}}");
        // Secrets stand as words (glued to other text, a token is no token).
        let secrets: Vec<String> =
            [AKIA, ANTHROPIC, OPENAI, OPENAI_PROJ, GHP].iter().map(|s| format!(" {s} ")).collect();
        let pieces: Vec<&str> = vec![
            &secrets[0],
            &secrets[1],
            &secrets[2],
            &secrets[3],
            &secrets[4],
            &pem,
            &pem_open,
            &aws_pair,
            &aws_json,
            "postgres://u:pw@h/db",
            "Bearer AbCdEf0123456789AbCdEf",
            "\"",
            "\\",
            "\n",
            "\t",
            "é",
            "\u{1}",
            " ",
            "=",
            ":",
            "'",
            "task-",
            "@",
            "/",
            "sk-",
            "-----END PRIVATE KEY-----",
        ];
        let r = Redactor::new(&[ExtraPattern { name: "x".into(), regex: r"[a-z]{3}\W+[a-z]".into() }])
            .expect("valid pattern");
        let mut rng = Lcg(42);
        let mut input = String::new();
        for _ in 0..2000 {
            let mut s = String::new();
            for _ in 0..(rng.next() % 12) {
                s.push_str(rng.pick(&pieces));
            }
            let inner = serde_json::json!({"k": s.clone()}).to_string();
            let value = serde_json::json!({
                "type": "user",
                "message": {"content": [{"type": "tool_result", "content": s}]},
                "toolUseResult": {"stdout": inner},
            });
            input.push_str(&value.to_string());
            input.push('\n');
        }
        let mut c = BTreeMap::new();
        let out = r.redact(input.as_bytes(), &mut c);
        assert!(!c.is_empty());
        let out = std::str::from_utf8(&out).expect("utf-8");
        assert_eq!(out.lines().count(), 2000);
        for (line, orig) in out.lines().zip(input.lines()) {
            if let Err(e) = serde_json::from_str::<serde_json::Value>(line) {
                panic!("{e}: {line}");
            }
            for secret in [AKIA, AWS_SECRET, &ANTHROPIC[10..], &OPENAI[5..], &GHP[5..], PEM_BODY] {
                assert!(!line.contains(secret), "leak of {secret}: {line}\nfrom {orig}");
            }
        }
    }
}
