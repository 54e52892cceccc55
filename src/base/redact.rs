//! Redaction: scrubs credential-shaped strings out of transcript bytes before they leave the
//! machine.
//!
//! A Claude Code transcript records everything the agent saw and typed: the `.env` file it
//! read, the `export` it ran, the diff it wrote. A mirror of it is therefore a copy of every
//! secret that passed through the session. [`Redactor::redact`] replaces credentials with
//! `[REDACTED:<rule>]` and counts the replacements per rule. Rule names are stable (they are
//! the keys of `redaction_counts` in `meta.json`); the Python `tracecraft` CLI's names are kept
//! for the rules it has.
//!
//! The rules are data ([`rules::SPECS`]): a name, literal keywords, a pattern, the group that is
//! the secret, and the checks a candidate must pass (word boundaries, entropy floor, character
//! classes, placeholder allowlist). Three rules are code because a regex cannot say them well:
//! PEM blocks, URL passwords and secret-named assignments (`DB_PASSWORD=...`,
//! `"apiKey": "..."`, in env, shell, YAML, JSON, TOML, INI, header and table shapes).
//!
//! How it stays fast: a SIMD (Teddy) prefilter finds keyword fingerprints in two passes over
//! the buffer (the 3-byte ones, then the others; a keyword is found through the shortest
//! other keyword or shared fragment it contains, so ~140 keywords need ~120 fingerprints); a
//! buffer without one costs those passes only. A fingerprint hit is checked against its full
//! keywords, then runs only those keywords' rules, each anchored at the hit on a bounded
//! window (`regex::bytes` with `^`), so a hit that is no secret fails within a few bytes. The
//! prefilter is built on the first redaction of a process, and each rule's pattern on the
//! first hit of one of its keywords (the hook's no-op path builds nothing). A buffer without a
//! match comes back borrowed.
//!
//! Transcript lines are JSON, so a file's content shows up JSON-escaped (`\n`, `\"`, `\/`),
//! sometimes twice (a JSON file printed by a tool). Patterns accept quotes with any number of
//! backslashes, `\/` inside base64, and a JSON escape or `%XX` before a token as a word start.
//!
//! Invariants: it works on raw bytes (lines may hold invalid UTF-8); a match never leaves the
//! JSON string it starts in and never cuts an escape (every span is clamped by [`JsonCursor`]),
//! so a valid JSON line stays valid; a raw line break inside a match (only possible in lines
//! that are not JSON) is written back after the replacement, so the line count never changes.
//!
//! What it deliberately does not do:
//! - It is a net, not a guarantee. It knows shapes, not secrets: a password in prose, a token
//!   with an unknown prefix and no telling name, a key split across two strings or encoded
//!   (base64, `%`-escaped entirely) passes through. Users add their own shapes with
//!   `redact_patterns` ([`ExtraPattern`]).
//! - It does not parse JSON (it only tracks string boundaries), and it does not remember: the
//!   caller owns the counts and decides what to upload.

mod rules;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use aho_corasick::packed;
use regex::bytes::Regex;

use self::rules::{Check, Find, Spec, PASSWORD_ASSIGNMENT, SPECS};
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

/// Names of the built-in rules, as they appear in counts and in `[REDACTED:<name>]`.
pub fn rule_names() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut names: Vec<&'static str> = Vec::new();
        for n in SPECS.iter().map(|s| s.name).chain([PASSWORD_ASSIGNMENT]) {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        names
    })
}

/// Longest PEM block we look at; a `BEGIN` without an `END` in this window never eats more.
const PEM_MAX: usize = 16 * 1024;
/// Longest user name and password we look at in a URL.
const URL_PART_MAX: usize = 1024;
/// Longest key name and value the assignment rule looks at.
const NAME_MAX: usize = 64;
const VALUE_MAX: usize = 512;

/// Fragments that several keywords share (case variants of the secret-name words mostly):
/// fingerprints for all of them at once. See `Core::build`.
/// (Only 4-byte ones: 3-byte fragments like `ass` or `uth` made the 3-byte pass 5x slower.)
const SHARED_FRAGMENTS: &[&str] = &["oken", "OKEN", "ecre", "ECRE", "wili", "WILI"];

/// One rule, its pattern compiled on the first hit of one of its keywords.
#[derive(Debug)]
struct Rule {
    spec: &'static Spec,
    /// The pattern anchored at the keyword hit with the index of its secret group (0: the
    /// whole match); `Find::Regex` rules only.
    re: OnceLock<(Regex, usize)>,
}

impl Rule {
    /// The compiled pattern and its secret group. Compiling all ~75 patterns up front cost
    /// ~66 ms on the first redaction of a process (the hook's flush path); most transcripts
    /// never hit most rules' keywords.
    fn regex(&self) -> Option<&(Regex, usize)> {
        let Find::Regex(p) = self.spec.find else { return None };
        Some(self.re.get_or_init(|| {
            let re = builtin_regex(&format!("^(?:{})", rules::expand(p)));
            let group = re.capture_names().position(|n| n == Some("s")).unwrap_or(0);
            (re, group)
        }))
    }
}

/// Compiles a built-in pattern (a test compiles every one, so this never panics at run time).
fn builtin_regex(re: &str) -> Regex {
    Regex::new(re).unwrap_or_else(|e| panic!("built-in redaction pattern {re:?}: {e}"))
}

/// The built-in rule set, compiled once per process.
#[derive(Debug)]
struct Core {
    /// The fingerprints, in two SIMD searchers (3-byte ones and the others), with the
    /// fingerprint index of each of their patterns.
    keywords: Vec<(packed::Searcher, Vec<usize>)>,
    /// For each fingerprint, the keywords found through it (index into `kws`) and how far
    /// before the fingerprint each starts (`sshpass` through `ass` at offset 4).
    targets: Vec<Vec<(u16, u8)>>,
    /// Every keyword with the rules it triggers.
    kws: Vec<(&'static str, Vec<u16>)>,
    rules: Vec<Rule>,
    pem_begin: Regex,
    pem_end: Regex,
}

fn core() -> &'static Core {
    static CORE: OnceLock<Core> = OnceLock::new();
    CORE.get_or_init(Core::build)
}

impl Core {
    fn build() -> Core {
        let builtin = builtin_regex;
        let rules: Vec<Rule> = SPECS.iter().map(|spec| Rule { spec, re: OnceLock::new() }).collect();
        // The prefilter searches fingerprints, not keywords: each keyword is found through the
        // shortest other keyword or shared fragment it contains (`sshpass` through `ass`,
        // `access_token$` through `oken`), so that no fingerprint contains another (leftmost-first
        // matching would hide it) and there are few of them. A hit is then checked against the
        // full keywords of its fingerprint before any rule runs.
        let mut kws: Vec<(&'static str, Vec<u16>)> = Vec::new();
        for (i, spec) in SPECS.iter().enumerate() {
            for &k in spec.keywords {
                match kws.iter_mut().find(|(w, _)| *w == k) {
                    Some((_, rules)) => rules.push(i as u16),
                    None => kws.push((k, vec![i as u16])),
                }
            }
        }
        let candidates: Vec<&'static str> =
            kws.iter().map(|(k, _)| *k).chain(SHARED_FRAGMENTS.iter().copied()).collect();
        let fold = |k: &'static str| -> (&'static str, usize) {
            let (mut fp, mut off) = (k, 0);
            while let Some((c, o)) = candidates
                .iter()
                .filter(|c| c.len() < fp.len())
                .filter_map(|c| fp.find(c).map(|o| (*c, o)))
                .min_by_key(|(c, _)| c.len())
            {
                (fp, off) = (c, off + o);
            }
            (fp, off)
        };
        let mut words: Vec<&'static str> = Vec::new();
        let mut targets: Vec<Vec<(u16, u8)>> = Vec::new();
        for (ki, (k, _)) in kws.iter().enumerate() {
            let (fp, off) = fold(k);
            let idx = words.iter().position(|w| *w == fp).unwrap_or_else(|| {
                words.push(fp);
                targets.push(Vec::new());
                words.len() - 1
            });
            targets[idx].push((ki as u16, off as u8));
        }
        // Teddy (SIMD) fingerprints the first min(4, shortest) bytes of its patterns: the
        // 3-byte fingerprints get their own searcher (slim Teddy, few enough to keep its masks
        // tight: ~5 GB/s), and the others one fat Teddy pass told apart on 4 bytes. Measured
        // alternatives (bench/README.md): slim passes of 32 (4 passes) and one fat pass in
        // other orders were slower. Within a searcher, neighbours in case-insensitive order are
        // spread so that Teddy's buckets (pattern i goes to bucket B-1 - i % B) hold patterns
        // that share bytes, which keeps its masks tight.
        let mut order: Vec<usize> = (0..words.len()).collect();
        order.sort_by_key(|&i| (words[i].len() >= 4, words[i].to_ascii_lowercase()));
        let split = order.iter().position(|&i| words[i].len() >= 4).unwrap_or(order.len());
        let (short, long) = order.split_at(split);
        let keywords = [short, long]
            .into_iter()
            .filter(|group| !group.is_empty())
            .map(|group| {
                let rows = group.len().div_ceil(8);
                let ids: Vec<usize> =
                    (0..rows).flat_map(|r| (0..8).filter_map(move |b| group.get(b * rows + r))).copied().collect();
                let searcher = packed::Config::new()
                    .heuristic_pattern_limits(false)
                    .builder()
                    .extend(ids.iter().map(|&i| words[i]))
                    .build()
                    .expect("redaction keywords build");
                (searcher, ids)
            })
            .collect();
        Core {
            keywords,
            targets,
            kws,
            rules,
            pem_begin: builtin(r"^-----BEGIN (?:(?:RSA|EC|OPENSSH|DSA|ENCRYPTED|PGP) )?PRIVATE KEY(?: BLOCK)?-----"),
            pem_end: builtin(r"^-----END (?:(?:RSA|EC|OPENSSH|DSA|ENCRYPTED|PGP) )?PRIVATE KEY(?: BLOCK)?-----"),
        }
    }

    /// Every built-in match in `buf`, unsorted, possibly overlapping.
    fn spans(&self, buf: &[u8]) -> Vec<Span> {
        let mut spans = Vec::new();
        // Per rule, the end of its last pattern match: a hit inside it would match a suffix
        // of the same run, so it is skipped (this keeps `sk-sk-sk-...` linear).
        let mut done: Vec<(u16, usize)> = Vec::new();
        // Every keyword start is visited (not only non-overlapping ones): a token glued to
        // another must not hide it.
        let mut hits: Vec<(usize, usize, usize)> = Vec::new();
        for (searcher, ids) in &self.keywords {
            let mut pos = 0;
            while pos < buf.len() {
                let Some(m) = searcher.find_in(buf, aho_corasick::Span::from(pos..buf.len())) else { break };
                hits.push((m.start(), m.end(), ids[m.pattern().as_usize()]));
                pos = m.start() + 1;
            }
        }
        hits.sort_unstable();
        for (start, _, fp) in hits {
            for &(k, off) in &self.targets[fp] {
                let Some(at) = start.checked_sub(off as usize) else { continue };
                let (word, rules) = &self.kws[k as usize];
                if !buf[at..].starts_with(word.as_bytes()) {
                    continue;
                }
                let kw_end = at + word.len();
                for &r in rules {
                    let slot = done.iter().position(|&(x, _)| x == r);
                    if slot.is_some_and(|i| at < done[i].1) {
                        continue;
                    }
                    let mut matched_to = 0;
                    if let Some(span) = self.try_rule(buf, r as usize, at, kw_end, &mut matched_to) {
                        spans.push(span);
                    }
                    if matched_to > 0 {
                        match slot {
                            Some(i) => done[i].1 = matched_to,
                            None => done.push((r, matched_to)),
                        }
                    }
                }
            }
        }
        spans
    }

    /// Rule `r` at the keyword hit `[at, kw_end)`. `matched_to` is set to the end of the
    /// rule's pattern match, whether or not its checks then pass.
    fn try_rule(&self, buf: &[u8], r: usize, at: usize, kw_end: usize, matched_to: &mut usize) -> Option<Span> {
        let rule = &self.rules[r];
        let spec = rule.spec;
        let label = Label::Builtin(r as u16);
        let (start, end, name_override) = match spec.find {
            Find::Pem => self.private_key(buf, at).map(|(s, e)| (s, e, None))?,
            Find::UrlPassword => url_password(buf, at, matched_to).map(|(s, e)| (s, e, None))?,
            Find::Assignment => assignment(buf, at, kw_end)
                .map(|(s, e, pw)| (s, e, pw.then_some(())))
                .map(|(s, e, pw)| (s, e, pw.map(|_| PASSWORD_ASSIGNMENT)))?,
            Find::Regex(_) => {
                // Cheap checks first: most hits are words like `task-` or `monkey`.
                if spec.left_word && spec.before == 0 && !starts_word(buf, at) {
                    return None;
                }
                let (re, group) = rule.regex()?;
                let from = at.checked_sub(spec.before)?;
                let to = buf.len().min(kw_end + spec.after);
                let hay = &buf[from..to];
                let (m_start, start, end) = if *group == 0 {
                    let m = re.find(hay)?;
                    (from + m.start(), from + m.start(), from + m.end())
                } else {
                    let c = re.captures(hay)?;
                    let m = c.get(0)?;
                    let g = c.get(*group)?;
                    (from + m.start(), from + g.start(), from + g.end())
                };
                *matched_to = end;
                if spec.left_word && (!starts_word(buf, m_start) || in_blob(buf, m_start)) {
                    return None;
                }
                let start = match spec.grow {
                    Some((class, min, max)) => {
                        let lo = start.saturating_sub(max as usize);
                        let s = start - buf[lo..start].iter().rev().take_while(|&&b| class.accepts(b)).count();
                        // Telegram's API URLs glue the token to `bot`: `/bot<id>:AA...`.
                        if start - s < min as usize || !(starts_word(buf, s) || buf[..s].ends_with(b"/bot")) {
                            return None;
                        }
                        s
                    }
                    None => start,
                };
                (start, end, None)
            }
        };
        if start >= end {
            return None;
        }
        let secret = &buf[start..end];
        if spec.right_word && !ends_word(buf, end) {
            return None;
        }
        // A token's literal prefix (`sk-proj-`) says nothing about its randomness.
        let body = if start == at { &buf[kw_end.min(end)..end] } else { secret };
        if spec.classes > 0 && classes(body) < spec.classes {
            return None;
        }
        if is_template(body) {
            return None;
        }
        if spec.entropy > 0.0 && entropy(secret) < spec.entropy {
            return None;
        }
        let ok = match spec.check {
            Check::None => true,
            Check::OpenAi => openai_shaped(secret),
            Check::Base64Pem => base64_pem(secret),
            Check::Base64UserPass => base64_user_pass(secret),
            Check::QueryParam => query_param(buf, at),
            Check::NotPlaceholder => !is_placeholder(secret),
        };
        ok.then_some(Span { start, end, label, rank: spec.rank, name: name_override })
    }

    /// A PEM private key block, `-----BEGIN ... PRIVATE KEY-----` to `-----END ...-----`,
    /// with real or JSON-escaped line breaks. Without an `END` in reach, the header and the
    /// key material that follows it are replaced, up to the end of the string.
    fn private_key(&self, buf: &[u8], at: usize) -> Option<(usize, usize)> {
        let limit = buf.len().min(at + PEM_MAX);
        let header = self.pem_begin.find(&buf[at..limit])?;
        let body_start = at + header.end();
        let body_end = pem_body_end(buf, body_start, limit);
        let body = &buf[body_start..body_end];
        let footer = memchr::memmem::find(body, b"-----END ").and_then(|i| {
            let m = self.pem_end.find(&buf[body_start + i..limit])?;
            Some((i, body_start + i + m.end()))
        });
        match footer {
            Some((i, end)) if longest_base64_run(&body[..i]) >= 40 => Some((at, end)),
            None if longest_base64_run(body) >= 40 => Some((at, body_end)),
            _ => None,
        }
    }
}

/// Compiled rule set: the built-ins (shared, compiled once per process) and the user's.
#[derive(Debug)]
pub struct Redactor {
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
    Builtin(u16),
    Extra(usize),
}

#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    label: Label,
    /// Lower wins at the same start (built-ins by their spec, user rules last).
    rank: u8,
    /// A name other than the rule's (the assignment rule's password flavour).
    name: Option<&'static str>,
}

/// One match, as `scan` reports it: the rule, where, and the secret's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: String,
    /// Byte range of the replaced text in the input.
    pub start: usize,
    pub end: usize,
}

impl Redactor {
    /// Built-in rules plus the user's extra patterns. Fails on an invalid pattern.
    pub fn new(extra: &[ExtraPattern]) -> Result<Self> {
        let extras = extra
            .iter()
            .map(|p| {
                let regex = Regex::new(&p.regex)
                    .map_err(|e| Error::config(None, format!("redact_patterns: invalid pattern {:?}: {e}", p.name)))?;
                let group = regex.capture_names().position(|n| n == Some("secret"));
                Ok(Extra { name: p.name.clone(), replacement: replacement(&p.name), regex, group })
            })
            .collect::<Result<Vec<_>>>()?;
        // The built-in set is compiled on the first redaction of the process, not here: a
        // mirror that finds nothing new never pays for it.
        Ok(Redactor { extras })
    }

    /// Redact whole JSONL lines; adds per-rule counts into `counts`.
    ///
    /// Returns the input itself (no copy) when nothing matched.
    pub fn redact<'a>(&self, input: &'a [u8], counts: &mut BTreeMap<String, u64>) -> Cow<'a, [u8]> {
        let spans = self.spans(input);
        if spans.is_empty() {
            return Cow::Borrowed(input);
        }
        let mut out = Vec::with_capacity(input.len());
        let mut copied = 0;
        for span in spans {
            out.extend_from_slice(&input[copied..span.start]);
            let name = self.name(&span);
            match span.label {
                Label::Builtin(_) => {
                    out.extend_from_slice(b"[REDACTED:");
                    out.extend_from_slice(name.as_bytes());
                    out.push(b']');
                }
                Label::Extra(i) => out.extend_from_slice(&self.extras[i].replacement),
            }
            // A raw line break inside a match (a PEM block in a line that is not JSON) is
            // written back: the line count never changes.
            let breaks = input[span.start..span.end].iter().filter(|&&b| b == b'\n').count();
            out.resize(out.len() + breaks, b'\n');
            bump(counts, name);
            copied = span.end;
        }
        out.extend_from_slice(&input[copied..]);
        Cow::Owned(out)
    }

    /// What [`redact`](Self::redact) would replace, in order, without building the output.
    pub fn findings(&self, input: &[u8]) -> Vec<Finding> {
        self.spans(input)
            .into_iter()
            .map(|s| Finding { rule: self.name(&s).to_string(), start: s.start, end: s.end })
            .collect()
    }

    fn name<'s>(&'s self, span: &Span) -> &'s str {
        match span.label {
            Label::Builtin(r) => span.name.unwrap_or(core().rules[r as usize].spec.name),
            Label::Extra(i) => self.extras[i].name.as_str(),
        }
    }

    /// Every span to replace: sorted, JSON-safe, merged.
    fn spans(&self, input: &[u8]) -> Vec<Span> {
        let mut builtin = core().spans(input);
        if builtin.is_empty() && self.extras.is_empty() {
            return builtin;
        }
        builtin.sort_by_key(|s| (s.start, s.rank));
        let mut cursor = JsonCursor::default();
        let mut spans: Vec<Span> = builtin
            .into_iter()
            .filter_map(|s| {
                let (start, end) = cursor.clamp(input, s.start, s.end)?;
                Some(Span { start, end, ..s })
            })
            .collect();
        spans.extend(self.extra_spans(input));
        merge_overlaps(spans)
    }

    /// Spans of the user's patterns, trimmed to stay inside one JSON string.
    fn extra_spans(&self, input: &[u8]) -> Vec<Span> {
        let mut spans = Vec::new();
        for (i, extra) in self.extras.iter().enumerate() {
            let mut cursor = JsonCursor::default();
            let mut push = |start: usize, end: usize| {
                if let Some((start, end)) = cursor.clamp(input, start, end) {
                    spans.push(Span { start, end, label: Label::Extra(i), rank: u8::MAX, name: None });
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
}

/// Sorts `spans` and merges overlapping ones, so that nothing any rule matched survives. A
/// merged span keeps the label of its leftmost part (the lowest rank at the same start).
/// Each part is JSON-safe on its own (inside one string, no cut escape at either end), so
/// their union is too.
fn merge_overlaps(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by_key(|s| (s.start, s.rank));
    let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start < last.end => {
                // A vendor token inside a secret-named value counts under the vendor's name.
                // (and a password-named value inside a secret-named one under password).
                if span.rank < last.rank || (span.rank == last.rank && span.name.is_some() && last.name.is_none()) {
                    (last.label, last.rank, last.name) = (span.label, span.rank, span.name);
                }
                last.end = last.end.max(span.end);
            }
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

/// True when the byte at `i` is the letter of a JSON escape (`n` of `\n`): preceded by an
/// odd run of backslashes.
fn escaped_at(buf: &[u8], i: usize) -> bool {
    buf[..i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

/// True when a token may start at `at`: start of buffer, a byte that is not part of an
/// identifier, the end of a JSON escape (`\n`, `\t`, `\\n`, `\u00e9`), since a key on its
/// own line of a file shows up as `...\nsk-...` in the transcript, or a `%XX` escape (a
/// token in a URL-encoded query: `%3Dghp_...`).
fn starts_word(buf: &[u8], at: usize) -> bool {
    if at == 0 || !is_ident(buf[at - 1]) {
        return true;
    }
    if at >= 2 && buf[at - 2] == b'\\' && matches!(buf[at - 1], b'n' | b'r' | b't' | b'b' | b'f') {
        return true;
    }
    if at >= 3 && buf[at - 3] == b'%' && buf[at - 2].is_ascii_hexdigit() && buf[at - 1].is_ascii_hexdigit() {
        return true;
    }
    at >= 6 && buf[at - 6] == b'\\' && buf[at - 5] == b'u' && buf[at - 4..at].iter().all(u8::is_ascii_hexdigit)
}

/// True when a token ending at `end` does not run on into a longer identifier.
fn ends_word(buf: &[u8], end: usize) -> bool {
    buf.get(end).is_none_or(|&b| !is_ident(b))
}

/// True when the token at `at` sits at the end of a long base64 run (an image, a blob): a
/// token shape there is chance, not a token.
fn in_blob(buf: &[u8], at: usize) -> bool {
    let lo = at.saturating_sub(64);
    at - lo == 64
        && buf[lo..at].iter().all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        && buf[lo..at].iter().any(|&b| b == b'+' || b == b'/')
}

/// End of the run of bytes from `start` (at most up to `limit`) that satisfy `pred`.
fn span_while(buf: &[u8], start: usize, limit: usize, pred: impl Fn(u8) -> bool) -> usize {
    let limit = buf.len().min(limit);
    if start >= limit {
        return start;
    }
    buf[start..limit].iter().position(|&b| !pred(b)).map_or(limit, |n| start + n)
}

/// Number of character classes (lower case, upper case, digits) in `s`.
fn classes(s: &[u8]) -> u8 {
    let lower = s.iter().any(u8::is_ascii_lowercase) as u8;
    let upper = s.iter().any(u8::is_ascii_uppercase) as u8;
    let digit = s.iter().any(u8::is_ascii_digit) as u8;
    lower + upper + digit
}

/// Shannon entropy of `s` in bits per byte.
fn entropy(s: &[u8]) -> f32 {
    if s.is_empty() {
        return 0.0;
    }
    let mut freq = [0u32; 256];
    for &b in s {
        freq[b as usize] += 1;
    }
    let n = s.len() as f32;
    freq.iter().filter(|&&c| c > 0).map(|&c| c as f32 / n).map(|p| -p * p.log2()).sum()
}

/// `sk-` + a known kind (`proj-`, `svcacct-`, `admin-`...) or 20 letters or digits first:
/// `sk-some-long-kebab-name` is not a key, and `sk-ant-` is Anthropic's.
fn openai_shaped(s: &[u8]) -> bool {
    let body = &s[3..];
    if [&b"proj-"[..], b"svcacct-", b"admin-", b"None-", b"or-v1-"].iter().any(|p| body.starts_with(p)) {
        return true;
    }
    body.len() >= 20 && body[..20].iter().all(u8::is_ascii_alphanumeric)
}

/// Decodes standard or URL-safe base64 (ignoring `\` of a JSON-escaped `\/`), up to `max`
/// output bytes.
fn b64_decode(s: &[u8], max: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(max.min(s.len()));
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in s {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'\\' => continue,
            _ => break,
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
            if out.len() >= max {
                break;
            }
        }
    }
    out
}

/// Base64 of a PEM private key (not of a certificate or a public key).
fn base64_pem(s: &[u8]) -> bool {
    let head = b64_decode(s, 64);
    head.windows(11).any(|w| w == b"PRIVATE KEY")
}

/// Base64 of `user:password` (HTTP Basic credentials, Docker's `auth`).
fn base64_user_pass(s: &[u8]) -> bool {
    if s.len() % 4 == 1 {
        return false;
    }
    let d = b64_decode(s, 4096);
    match d.iter().position(|&b| b == b':') {
        Some(i) => i > 0 && i + 1 < d.len() && d.iter().all(|&b| (0x20..0x7f).contains(&b)),
        None => false,
    }
}

/// A query parameter at `at`: preceded by `?`, `&`, `;`, `\u0026` or `&amp;`.
fn query_param(buf: &[u8], at: usize) -> bool {
    let before = &buf[..at];
    matches!(before.last(), Some(b'?' | b'&' | b';')) || before.ends_with(br"\u0026")
}

/// Placeholders, references and code: what a key name is set to when it holds no secret.
/// `$DB_PASSWORD`, `${x}`, `$(cmd)`, `%(password)s`, `{{ secret }}`, `<token>`, `****`,
/// `xxxx`, `changeme`, `YOUR_API_KEY`, `REDACTED`, `example`, `dummy`, `test`,
/// `process.env.X`... (`$ecret1` is a password: a bare `$` reference must look like an
/// environment variable.)
fn is_placeholder(v: &[u8]) -> bool {
    if v.is_empty() {
        return true;
    }
    match v {
        [b'$', b'{' | b'(', ..] | [b'%', b'(' | b's', ..] | [b'{', ..] | [b'<', ..] | [b'[', ..] => return true,
        [b'$', name @ ..] if name.iter().all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') => {
            return true
        }
        [b'$', b'e' | b'E', b'n', b'v', b':', ..] => return true,
        _ => {}
    }
    // `****`, `xxxx`, `•••`, a YAML tag (`!vault |`).
    if (v.len() >= 3 && v.iter().all(|&b| b == v[0]))
        || !v.iter().any(u8::is_ascii_alphanumeric)
        || (v[0] == b'!' && v.len() > 1 && v[1..].iter().all(|&b| b.is_ascii_alphabetic() || b == b'_'))
    {
        return true;
    }
    let lower = v.to_ascii_lowercase();
    const WORDS: &[&str] = &[
        "password",
        "passwd",
        "pass",
        "pwd",
        "secret",
        "token",
        "test",
        "testing",
        "changeme",
        "example",
        "dummy",
        "null",
        "none",
        "nil",
        "undefined",
        "true",
        "false",
        "string",
        "str",
        "&str",
        "bytes",
        "bool",
        "boolean",
        "int",
        "number",
        "any",
        "optional",
        "required",
        "hidden",
        "masked",
        "empty",
        "default",
        "foo",
        "bar",
        "baz",
        "secretstr",
        "value",
        "apikey",
        "api_key",
        "n/a",
        "tbd",
        "todo",
        "redacted",
        "sensitive",
        "unknown",
        "yes",
        "no",
        "on",
        "off",
        "self",
        "object",
        "dict",
        "map",
        "text",
        "char",
        "option<string>",
        "option<&str>",
        "string?",
        "secretstring",
        "securestring",
        "credentials",
        "mypassword",
        "yourpassword",
        "password123",
        "secret123",
    ];
    if WORDS.iter().any(|w| lower == w.as_bytes()) {
        return true;
    }
    const PARTS: &[&str] = &[
        "example",
        "placeholder",
        "changeme",
        "change_me",
        "change-me",
        "your_",
        "your-",
        "yourapi",
        "yourtoken",
        "yoursecret",
        "yourpass",
        "your.",
        "redacted",
        "xxxx",
        "****",
        "....",
        "…",
        "dummy",
        "{{",
        "}}",
        "fixme",
        "replace_me",
        "replace-me",
        "replaceme",
        "insert_",
        "insert-",
        "<your",
        "process.env",
        "os.environ",
        "getenv",
        "env[",
        "env(",
        "env.",
        "secrets.",
        "vars.",
        "inputs.",
        "params.",
        "config.",
        "settings.",
        "self.",
        "this.",
        "options.",
        "opts.",
        "args.",
    ];
    PARTS.iter().any(|p| memchr::memmem::find(&lower, p.as_bytes()).is_some())
}

/// Placeholders written in a token's shape (`sk-proj-YOUR-KEY-HERE`, `ghp_xxxxxxxx...`,
/// `<token>`): a documentation example key with real-looking characters
/// (`AKIAIOSFODNN7EXAMPLE`) is not one, and is redacted.
fn is_template(body: &[u8]) -> bool {
    const PARTS: &[&[u8]] =
        &[b"your_", b"your-", b"xxxxxxxx", b"<", b"...", b"{{", b"${", b"placeholder", b"redacted", b"insert_"];
    let lower = body.to_ascii_lowercase();
    PARTS.iter().any(|p| memchr::memmem::find(&lower, p).is_some())
}

/// Bytes of a key name (`DB_PASSWORD`, `X-Api-Key`, `spring.datasource.password`).
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// What a key name says its value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameKind {
    Password,
    Secret,
}

/// Splits a key name into lower-case words (`X-Api-Key` -> x, api, key; `clientSecret` ->
/// client, secret) and says whether it names a password or another secret.
fn classify_name(name: &[u8]) -> Option<NameKind> {
    let mut words: Vec<Vec<u8>> = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut prev_lower = false;
    for &b in name {
        if matches!(b, b'_' | b'-' | b'.') {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if b.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        prev_lower = b.is_ascii_lowercase() || b.is_ascii_digit();
        cur.push(b.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    let whole = name.to_ascii_lowercase();
    if whole == b"pwd" || whole == b"oldpwd" {
        return None; // the shell's working directory
    }
    // Trailing words that do not change what the value is (`SECRET_KEY_BASE`, `token_value`).
    const IGNORED: &[&str] =
        &["value", "str", "string", "b64", "base64", "raw", "hex", "plain", "base", "enc", "encoded"];
    while words.len() > 1 && words.last().is_some_and(|w| IGNORED.iter().any(|i| w == i.as_bytes())) {
        words.pop();
    }
    let last = words.last()?.as_slice();
    let prev = if words.len() >= 2 { Some(words[words.len() - 2].as_slice()) } else { None };
    if matches!(last, b"password" | b"passwd" | b"pass" | b"pwd" | b"passphrase" | b"pw")
        || (last.len() > 8 && (last.ends_with(b"password") || last.ends_with(b"passwd")))
    {
        return Some(NameKind::Password);
    }
    let secret_word =
        matches!(
            last,
            b"secret"
                | b"token"
                | b"apikey"
                | b"credential"
                | b"credentials"
                | b"creds"
                | b"auth"
                | b"authtoken"
                | b"accesstoken"
                | b"refreshtoken"
                | b"privatekey"
                | b"secretkey"
                | b"accesskey"
                | b"authorization"
        ) || (last.len() > 6 && (last.ends_with(b"secret") || last.ends_with(b"token")) && !last.ends_with(b"tokens"));
    if secret_word {
        return Some(NameKind::Secret);
    }
    if last == b"key" {
        const NOT_SECRET: &[&str] = &[
            "public",
            "pub",
            "primary",
            "foreign",
            "sort",
            "partition",
            "cache",
            "hash",
            "idempotency",
            "dedup",
            "object",
            "file",
            "map",
            "row",
            "lookup",
            "unique",
            "composite",
            "group",
            "routing",
            "shard",
            "index",
            "ssh",
            "gpg",
            "host",
            "translation",
            "i18n",
            "list",
            "dict",
            "item",
            "redis",
            "s3",
            "bucket",
            "form",
            "field",
            "env",
            "config",
            "registry",
            "meta",
            "the",
            "a",
            "this",
            "my",
            "your",
            "sequence",
            "search",
            "storage_path",
            "column",
            "table",
            "record",
            "event",
            "message",
            "query",
            "state",
            "store",
            "data",
            "json",
            "yaml",
            "dynamo",
            "hotkey",
            "shortcut",
            "keyboard",
            "press",
            "music",
            "publishable",
            "anon",
            "site",
        ];
        return match prev {
            Some(p) if !NOT_SECRET.iter().any(|n| p == n.as_bytes()) && !p.iter().all(u8::is_ascii_digit) => {
                Some(NameKind::Secret)
            }
            _ => None,
        };
    }
    None
}

/// A secret-named assignment around the keyword hit `[at, kw_end)`: `NAME<sep>VALUE` where
/// NAME says password/secret/token/key and VALUE is a literal that is not a placeholder
/// (and, for names that do not say password, long and random enough). Returns the value's
/// span and whether the name says password.
fn assignment(buf: &[u8], at: usize, kw_end: usize) -> Option<(usize, usize, bool)> {
    // The whole name around the keyword.
    let lo = at.saturating_sub(NAME_MAX);
    let mut ns = at;
    while ns > lo && is_name_byte(buf[ns - 1]) && !escaped_at(buf, ns - 1) {
        ns -= 1;
    }
    let ne = span_while(buf, kw_end, kw_end + NAME_MAX, is_name_byte);
    // A name ending in `.` or `-` is prose or a flag's tail.
    let name = &buf[ns..ne];
    if name.len() >= NAME_MAX || name.last().is_some_and(|&b| b == b'.') {
        return None;
    }
    // A reference, not an assignment: `$DB_PASSWORD`, `${DB_PASSWORD}`, `%(password)s`.
    if ns > 0 && matches!(buf[ns - 1], b'$' | b'(' | b'{' | b'%') {
        return None;
    }
    let flag = name.starts_with(b"-");
    let xml = ns > 0 && buf[ns - 1] == b'<';
    let mut i = ne;
    // Closing quote of the key.
    let quoted_name = skip_quote(buf, i);
    i = quoted_name.unwrap_or(i);
    let ws_start = i;
    i = skip_blanks(buf, i);
    let had_blank = i > ws_start;
    match buf.get(i)? {
        b'=' => {
            if matches!(buf.get(i + 1), Some(b'=' | b'~')) || (i > 0 && matches!(buf[i - 1], b'!' | b'<' | b'>')) {
                return None;
            }
            i += 1;
            if buf.get(i) == Some(&b'>') {
                i += 1;
            }
        }
        b':' => {
            if buf.get(i + 1) == Some(&b':') {
                return None;
            }
            i += 1;
            if buf.get(i) == Some(&b'=') {
                i += 1;
            }
        }
        b'|' => i += 1,
        b'>' if xml => i += 1,
        // .NET appSettings: `<add key="ApiKey" value="..." />`.
        b'v' if quoted_name.is_some() && had_blank && buf[i..].starts_with(b"value=") => i += 6,
        _ if flag && had_blank => {}
        _ => return None,
    }
    // Only now the name's words (most keyword hits are prose, not assignments).
    let kind = classify_name(name)?;
    i = skip_blanks(buf, i);
    let open = skip_quote(buf, i);
    let quoted = open.is_some();
    let vs = open.unwrap_or(i);
    let quote = if quoted { buf[vs - 1] } else { 0 };
    let mut ve = vs;
    let limit = buf.len().min(vs + VALUE_MAX);
    while ve < limit {
        let b = buf[ve];
        if b == b'\\' {
            // `\/` (JSON-escaped once or more) is part of the value.
            let run = span_while(buf, ve, ve + 8, |b| b == b'\\');
            if buf.get(run) == Some(&b'/') {
                ve = run + 1;
                continue;
            }
            break;
        }
        let stop = if quoted {
            b == quote || b < 0x20 || (quote != b'`' && b == b'`')
        } else {
            b <= b' ' || matches!(b, b'"' | b'\'' | b'`' | b';' | b'&' | b'|' | b'<' | b'>' | b',' | b')' | b'}' | b']')
        };
        if stop {
            break;
        }
        ve += 1;
    }
    if ve >= limit && limit - vs >= VALUE_MAX {
        return None; // a blob, not a value
    }
    let value = &buf[vs..ve];
    if value.is_empty() || is_placeholder(value) {
        return None;
    }
    // The value repeats the name (`password=password`, `token: TOKEN`).
    let lower = value.to_ascii_lowercase();
    let lname = name.to_ascii_lowercase();
    if lname.ends_with(&lower) {
        return None;
    }
    // A path (`PRIVATE_KEY=/etc/ssl/key.pem`, `PWD=/home/me`), a structure or a call.
    // (A base64 value may start with `/` too: a path is less random.)
    let pathy = matches!(value[0], b'/' | b'~') || value.starts_with(b"./") || value.starts_with(b"..");
    if matches!(value[0], b'(' | b'[' | b'{') || (pathy && (classes(value) < 3 || entropy(value) < 4.3)) {
        return None;
    }
    if !quoted {
        let ident = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
        let code = value[0].is_ascii_alphabetic() || value[0] == b'_';
        // `self.password`, `get_token()`, `config["x"]`, `password -> str`.
        if code
            && (value.contains(&b'(')
                || value.contains(&b'[')
                || (value.contains(&b'.')
                    && !value.iter().any(u8::is_ascii_digit)
                    && value.split(|&b| b == b'.').all(|p| !p.is_empty() && p.iter().all(ident))))
        {
            return None;
        }
        // `password = user_password` in code: a variable, not a literal. An env line
        // (`DB_PASSWORD=hunter`) or a YAML value (`password: hunter`) is a literal.
        let screaming = name.iter().all(|&b| !b.is_ascii_lowercase());
        let variable = value.iter().all(|&b| b.is_ascii_lowercase() || b == b'_')
            && (value.contains(&b'_') || !screaming)
            && buf.get(ws_start..i).is_some_and(|sep| !sep.contains(&b':'));
        if variable {
            return None;
        }
    }
    match kind {
        NameKind::Password => (value.len() >= 4).then_some((vs, ve, true)),
        NameKind::Secret => {
            let wordy =
                value.iter().all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'))
                    && value.iter().filter(|b| b.is_ascii_digit()).count() * 4 < value.len()
                    && value.iter().any(|&b| matches!(b, b'-' | b'_' | b'.'));
            let ok = value.len() >= 8
                && classes(value) >= 2
                && entropy(value) >= 3.0
                && !wordy
                && !value.contains(&b' ')
                && !value.windows(3).any(|w| w == b"://");
            ok.then_some((vs, ve, false))
        }
    }
}

/// Past a quote at `i` (`"`, `'`, `` ` ``, with any JSON-escaping backslashes before it).
fn skip_quote(buf: &[u8], i: usize) -> Option<usize> {
    let j = span_while(buf, i, i + 8, |b| b == b'\\');
    matches!(buf.get(j), Some(b'"' | b'\'' | b'`')).then_some(j + 1)
}

/// Past blanks and JSON-escaped tabs.
fn skip_blanks(buf: &[u8], mut i: usize) -> usize {
    loop {
        match buf.get(i) {
            Some(b' ' | b'\t') => i += 1,
            Some(b'\\') if buf.get(i + 1) == Some(&b't') => i += 2,
            _ => return i,
        }
    }
}

/// Bytes that end the user name or the password of a URL: blanks, quotes, backslashes (a
/// JSON escape is never cut), brackets and braces (so `[REDACTED:...]` and `{{password}}`
/// templates are left alone).
fn is_url_stop(b: u8) -> bool {
    b <= b' ' || matches!(b, b'"' | b'\'' | b'\\' | b'<' | b'>' | b'`' | b'[' | b'{' | b'}')
}

/// `scheme://user:password@host`: the password is replaced, the rest kept. The trigger is
/// the `://` (or the JSON-escaped `:\/\/`). The password may hold `/ ? #` and `%` escapes;
/// a `host:port/path?x=a@b` is told apart by its all-digit port.
fn url_password(buf: &[u8], at: usize, scanned_to: &mut usize) -> Option<(usize, usize)> {
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
    let user_end = span_while(buf, user_start, user_start + URL_PART_MAX, |b| {
        !is_url_stop(b) && !matches!(b, b':' | b'@' | b'/' | b'?' | b'#')
    });
    if buf.get(user_end) != Some(&b':') {
        return None;
    }
    let start = user_end + 1;
    // The password region: up to a stop byte, `\/` escapes taken whole.
    let mut region_end = start;
    let limit = buf.len().min(start + URL_PART_MAX);
    while region_end < limit {
        let b = buf[region_end];
        if b == b'\\' && buf.get(region_end + 1) == Some(&b'/') {
            region_end += 2;
            continue;
        }
        if is_url_stop(b) {
            break;
        }
        region_end += 1;
    }
    let Some(at_sign) = buf[start..region_end].iter().rposition(|&b| b == b'@') else {
        // No `@` up to here: a `://` inside this region has none either (keeps
        // `a://b:a://b:...` linear).
        *scanned_to = region_end;
        return None;
    };
    let end = start + at_sign;
    let host_ok = buf.get(end + 1).is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'[');
    let password = &buf[start..end];
    // `host:8080/path?email=a@b`: an all-digit port before the first `/ ? #` is no password.
    if let Some(cut) = password.iter().position(|&b| matches!(b, b'/' | b'?' | b'#' | b'\\')) {
        if password[..cut].iter().all(u8::is_ascii_digit) {
            return None;
        }
    }
    let ok = !password.is_empty() && host_ok && !is_placeholder(password);
    ok.then_some((start, end))
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
        // Lines are independent: start from the last line break before `target`.
        if self.pos < target {
            if let Some(k) = memchr::memrchr(b'\n', &buf[self.pos..target]) {
                self.pos += k + 1;
                self.in_string = false;
                self.line_kind = LineKind::Unknown;
            }
        }
        // No line break is left before `target`: jump from quote to backslash to quote.
        while self.pos < target {
            if self.line_kind == LineKind::Unknown {
                let b = buf[self.pos];
                if b.is_ascii_whitespace() {
                    self.pos += 1;
                    continue;
                }
                self.line_kind = if b == b'{' || b == b'[' { LineKind::Json } else { LineKind::Text };
            }
            if self.line_kind != LineKind::Json {
                self.pos = target;
                break;
            }
            let Some(k) = memchr::memchr2(b'"', b'\\', &buf[self.pos..target]) else {
                self.pos = target;
                break;
            };
            let p = self.pos + k;
            if buf[p] == b'"' {
                self.in_string = !self.in_string;
                self.pos = p + 1;
            } else if self.in_string {
                let len = escape_len(buf, p);
                if p + len > target {
                    // `target` is inside this escape: start the match at its backslash.
                    self.pos = p;
                    return Some(p);
                }
                self.pos = p + len;
            } else {
                self.pos = p + 1;
            }
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
/// An escape never takes a line break (a torn line may end in a backslash).
fn escape_len(buf: &[u8], i: usize) -> usize {
    let len = if buf.get(i + 1) == Some(&b'u') { 6 } else { 2 };
    buf.get(i + 1..(i + len).min(buf.len())).and_then(|t| t.iter().position(|&b| b == b'\n')).map_or(len, |p| p + 1)
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
        assert!(names.len() > 40, "{}", names.len());
        let passes = core().keywords.len();
        let fps: usize = core().keywords.iter().map(|(_, ids)| ids.len()).sum();
        assert!(passes <= 2, "{passes} keyword passes over {fps} fingerprints");
    }

    #[test]
    fn every_builtin_pattern_compiles() {
        // Patterns compile lazily, on their keyword's first hit: compile them all here.
        let n = core().rules.iter().filter_map(Rule::regex).count();
        assert!(n > 60, "{n} regex rules");
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
        // Raw line breaks inside the block are written back: the line count stays.
        check(&format!("x\n{real}y"), "x\n[REDACTED:private_key]\n\n\n\ny", "private_key");
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
        check(&pgp, "[REDACTED:private_key]\n\n\n\n\n", "private_key");
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
            // Quadratic would take many minutes; bounded scans take about a second even in a
            // debug build on a loaded machine. The bound only catches a hang, it times nothing.
            assert!(t.elapsed() < std::time::Duration::from_secs(60), "{unit:?}: {:?}", t.elapsed());
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
            ExtraPattern { name: "pw".into(), regex: r"pin=(?P<secret>[^&\s]+)".into() },
        ])
        .expect("valid patterns");
        let (out, c) = redact_with(&r, &format!("INT-123456 and pin=hunter2&x=1 {AKIA}"));
        assert_eq!(out, "[REDACTED:internal] and pin=[REDACTED:pw]&x=1 [REDACTED:aws_access_key]");
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

    /// Property: for random lines built from secrets of many families, JSON escapes,
    /// quotes and backslashes, escaped once or twice (a file's content, a JSON file printed by
    /// a tool), and some lines broken on purpose: the output parses as JSON exactly when the
    /// input did, has the same number of lines, and no secret body survives in a valid line.
    #[test]
    fn property_json_validity_and_line_count_survive_redaction() {
        let secrets: Vec<(&str, String)> = vec![
            ("aws", format!("AWS_SECRET_ACCESS_KEY={AWS_SECRET}")),
            ("aws", format!("<SecretAccessKey>{AWS_SECRET}</SecretAccessKey>")),
            ("gh", format!("url=https://x.io/?t%3D{GHP}")),
            ("gl", "glpat-Ab1Cd2Ef3Gh4Ij5Kl6Mn".to_string()),
            ("slack", "https://hooks.slack.com/services/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".to_string()),
            ("stripe", "sk_live_Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr".to_string()),
            ("jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTYifQ.Ab1Cd2Ef3Gh4Ij5Kl6Mn7".to_string()),
            ("pw", "DB_PASSWORD=Hunter2-Zq9".to_string()),
            ("pw", "\"password\": \"Zq9-Hunter2\"".to_string()),
            ("pw", "mysql -uroot -pZq9Hunter2x shop".to_string()),
            ("url", "postgres://app:Zq9/Hu?n#t@db:5432/app".to_string()),
            ("basic", "Authorization: Basic YWRtaW46WnE5SHVudGVyMg==".to_string()),
            ("pem", format!("-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----")),
            ("pem", format!("-----BEGIN PRIVATE KEY-----\n{PEM_BODY}{PEM_BODY}")),
            ("age", "AGE-SECRET-KEY-1QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7LQPZRY9X8GF2TVDW0S3JN54KHCE".to_string()),
            ("assign", "export API_KEY='Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8'".to_string()),
        ];
        let noise = [
            "\"",
            "\\",
            "\\\"",
            "\n",
            "\r\n",
            "\t",
            "é",
            "\u{1}",
            "\u{2028}",
            " ",
            "=",
            ":",
            "'",
            "`",
            "/",
            "\\/",
            "%3D",
            "{",
            "}",
            "[",
            "]",
            "sk-",
            "-----END PRIVATE KEY-----",
            "Bearer ",
            "password",
            "token=",
            "://",
            "@",
            "|",
        ];
        let r = Redactor::new(&[ExtraPattern { name: "x".into(), regex: r"[a-z]{3}\W+[a-z]".into() }])
            .expect("valid pattern");
        let mut rng = Lcg(7);
        let mut input = String::new();
        for i in 0..3000 {
            let mut s = String::new();
            for _ in 0..(rng.next() % 8) {
                if rng.next().is_multiple_of(3) {
                    // A secret stands as a word: glued to other letters, a token is no token.
                    let (_, secret) = &secrets[rng.next() as usize % secrets.len()];
                    s.push(' ');
                    s.push_str(secret);
                    s.push(' ');
                } else {
                    s.push_str(noise[rng.next() as usize % noise.len()]);
                }
            }
            let once = serde_json::json!({"type": "user", "message": {"content": s}}).to_string();
            let twice = serde_json::json!({"toolUseResult": {"stdout": once.clone()}}).to_string();
            let mut line = if i % 2 == 0 { once } else { twice };
            // Some lines are not JSON to begin with (a torn write, a stray quote).
            let mut half = line.len() / 2;
            while !line.is_char_boundary(half) {
                half -= 1;
            }
            match i % 11 {
                3 => line.truncate(half),
                7 => line.insert(half, '"'),
                _ => {}
            }
            input.push_str(&line.replace('\n', "\\n"));
            input.push('\n');
        }
        let mut c = BTreeMap::new();
        let out = r.redact(input.as_bytes(), &mut c);
        assert!(c.len() > 8, "{c:?}");
        let out = std::str::from_utf8(&out).expect("utf-8 in, utf-8 out");
        assert_eq!(out.lines().count(), input.lines().count());
        let mut prev = ("", "");
        for (line, orig) in out.lines().zip(input.lines()) {
            let was = serde_json::from_str::<serde_json::Value>(orig).is_ok();
            let is = serde_json::from_str::<serde_json::Value>(line).is_ok();
            assert_eq!(was, is, "validity changed:\n{orig}\n{line}\nafter\n{}\n{}", prev.0, prev.1);
            prev = (orig, line);
            if was {
                for needle in
                    [&AWS_SECRET[..20], &GHP[6..], "Ij5Kl6Mn7Op8", PEM_BODY, "Hunter2", "QPZRY9X8GF2TVDW0S3JN"]
                {
                    assert!(!line.contains(needle), "leak of {needle}: {line}\nfrom {orig}");
                }
            }
        }
    }

    #[test]
    fn issue_11_shapes() {
        // One case per family of the issue, as its tools print it; `rule` is the count's key.
        for (input, rule) in [
            ("AWS Secret Access Key [None]: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_key"),
            ("AKIAZ2Q3W4E5R6T7Y8U9,wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_key"),
            ("<SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY</SecretAccessKey>", "aws_secret_key"),
            ("| aws_secret_access_key | wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY |", "aws_secret_key"),
            ("glrt-Ab1Cd2Ef3Gh4Ij5Kl6Mn", "gitlab_token"),
            ("xapp-1-A0AB12CD3EF-1234567890123-ab12cd34ef56ab12cd34ef56ab12cd34", "slack_token"),
            ("rk_live_Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8", "stripe_key"),
            ("AIzaSyAb1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uvw", "google_api_key"),
            ("ya29.a0Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0UvWx", "google_oauth"),
            ("npm_Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0UvWx12", "npm_token"),
            ("dckr_pat_Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9", "docker_token"),
            ("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", "sendgrid_key"),
            ("dapi0123456789abcdef0123456789abcdef", "databricks_token"),
            ("hvs.CAESIAb1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0UvWx", "vault_token"),
            ("1234567890:AAEAb1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv", "telegram_bot_token"),
            ("PMAK-0123456789abcdef01234567-0123456789abcdef0123456789abcdef01", "postman_key"),
            ("r8_Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0UvWx12z", "replicate_token"),
            ("mysql -u root -p'Zq9Hunter2x' shop", "cli_password"),
            ("curl -u admin:Zq9Hunter2x https://ci", "basic_auth"),
            ("AUTHORIZATION: BEARER Ab1Cd2Ef3", "bearer_token"),
            ("Authorization: Token Ab1Cd2Ef3Gh4Ij5Kl6", "bearer_token"),
            ("PGPASSWORD=Zq9Hunter2x psql", "password_assignment"),
            ("sshpass -p 'Zq9Hunter2x' ssh h", "cli_password"),
            // Shapes added with the speed work: s3fs's password file, a %-encoded secret key, a
            // %-encoded webhook URL, .NET appSettings, a .ppk read with the Read tool's gutter.
            ("AKIAZ2Q3W4E5R6T7Y8U9:wJalrXUtnFEMI/K7MDENG/bPxRfiCYzABCDEFKZZ", "aws_secret_key"),
            ("aws_secret_access_key=wJalrXUtnFEMI%2FK7MDENG%2FbPxRfiCYzABCDEFKZZ&x=1", "aws_secret_key"),
            (
                "https%3A%2F%2Fhooks.slack.com%2Fservices%2FT0123ABCD%2FB0123ABCDEF%2FAb1Cd2Ef3Gh4Ij5Kl6Mn7Op8",
                "slack_webhook",
            ),
            ("<add key=\"ApiKey\" value=\"Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8\" />", "secret_assignment"),
            (
                "Private-Lines: 1\n     9\u{2192}Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0UvWx1y2z3A4b5c6D7e8F9g0H1i2J3k4L5m6N",
                "private_key",
            ),
        ] {
            let (out, c) = red(input);
            assert_eq!(c.get(rule).copied(), Some(1), "{input} -> {out} {c:?}");
        }
        for lookalike in [
            "mysql://ro:%(password)s@replica/shop",
            "password: String",
            "os.environ[\"API_KEY\"]",
            "getenv(\"SECRET_KEY\")",
            "process.env.TOKEN",
            "password=password",
            "token = get_token()",
            "DB_PASSWORD=${DB_PASSWORD}",
            "secret: {{ secret }}",
            "API_KEY=YOUR_API_KEY",
            "token: <token>",
            "SECRET=xxxxxxxxxxxxxxxxxxxx",
            "password=changeme",
            "\"integrity\": \"sha512-Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0UvWx1y2z3A4b5c6/+==\"",
            "\"id\": \"toolu_01Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op\"",
            "<add key=\"ApiKeyHeader\" value=\"X-Api-Key\" />",
            "<add key=\"Environment\" value=\"Production\" />",
        ] {
            untouched(lookalike);
        }
    }
}
