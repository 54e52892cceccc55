//! `tracecraft-hook stats`: numbers across the sessions of a project, from the `stats` each
//! session's meta.json carries (see `insight`).
//!
//! Codex CLI sessions (`sessions/codex/`) count with Claude Code's unless `--harness` picks one.
//!
//! Cost model: one listing of `<project>/sessions/claude-code/` (and one of `codex/`), then one GET of meta.json
//! per session (a few in parallel). Subagents are not fetched: their tokens are already
//! rolled up in their session's `stats.subagent_tokens`, and the listing counts them.
//! Sessions mirrored before stats existed (or by the Python CLI) have none until their next
//! flush; they are counted as sessions and reported as such, never guessed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;
use time::OffsetDateTime;

use super::display::{describe_tokens, human};
use super::{emit, open, project_dir, thousands};
use crate::base::error::{Error, Result};
use crate::base::util::{parse_rfc3339, rfc3339};
use crate::session::catalog::{Catalog, SessionObjects};
use crate::session::insight::{Stats, Tokens};
use crate::session::meta::Meta;

/// Sum up the mirrored sessions of this project: sessions, turns, tokens by model, the most
/// used tools and the biggest sessions.
///
/// Reads meta.json of every session (one GET each, a few at a time). Turns are prompts a
/// person typed; tokens are per model (input, output, cache writes, cache reads), the
/// subagents' shown apart. Sessions without stats yet (mirrored by an older version or the
/// Python CLI) are counted but add no numbers until their next flush.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Only sessions started at or after DATE: `2026-11-01` (UTC midnight), an RFC 3339 time,
    /// or an age like `7d`, `12h`, `30m`.
    #[arg(long, value_name = "DATE", value_parser = parse_since)]
    pub since: Option<OffsetDateTime>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// How many tools and sessions to list.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// Project directory whose configuration selects the store (default: current directory).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Only this agent's sessions (default: Claude Code's and Codex's together).
    #[arg(long, value_enum)]
    pub harness: Option<super::HarnessArg>,
}

/// `--since`: a date, an RFC 3339 time, or an age (`7d`, `12h`, `30m`) before now.
pub fn parse_since(s: &str) -> std::result::Result<OffsetDateTime, String> {
    let s = s.trim();
    if let Some(t) = parse_rfc3339(s) {
        return Ok(t);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(s, &fmt) {
        return Ok(d.midnight().assume_utc());
    }
    let (num, secs) = match s.char_indices().last() {
        Some((i, 'd')) => (&s[..i], 86_400),
        Some((i, 'h')) => (&s[..i], 3_600),
        Some((i, 'm')) => (&s[..i], 60),
        _ => ("", 0),
    };
    if let Some(n) = num.parse::<i64>().ok().filter(|n| *n >= 0 && secs > 0) {
        return Ok(OffsetDateTime::now_utc() - time::Duration::seconds(n.saturating_mul(secs)));
    }
    Err(format!("{s:?} is not a date (2026-11-01), an RFC 3339 time, or an age (7d, 12h, 30m)"))
}

/// One of the biggest sessions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Big {
    pub id: String,
    pub started_at: Option<String>,
    pub turns: u64,
    /// All tokens, subagents included.
    pub tokens: u64,
    /// Bytes of its part objects.
    pub bytes: u64,
}

/// A tool and how often it was called.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolCount {
    pub name: String,
    pub calls: u64,
}

/// What `stats --json` prints.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub since: Option<String>,
    pub sessions: u64,
    /// Sessions counted whose meta.json has no stats yet.
    pub sessions_without_stats: u64,
    /// Subagent transcripts of the sessions counted.
    pub subagents: u64,
    pub turns: u64,
    pub assistant_messages: u64,
    pub tool_calls: u64,
    pub compactions: u64,
    pub tool_errors: u64,
    pub api_errors: u64,
    pub tokens: BTreeMap<String, Tokens>,
    pub subagent_tokens: BTreeMap<String, Tokens>,
    pub top_tools: Vec<ToolCount>,
    pub biggest_sessions: Vec<Big>,
}

/// Run `stats`.
pub fn run(a: &StatsArgs) -> Result<()> {
    let dir = project_dir(a.cwd.as_deref())?;
    let ctx = open(&dir)?;
    let mut report = Report { since: a.since.map(rfc3339), ..Report::default() };
    let mut tools: BTreeMap<String, u64> = BTreeMap::new();
    let mut big = Vec::new();
    for harness in super::harnesses(a.harness) {
        let cat = Catalog::new(ctx.store.as_ref(), &ctx.cfg.project, ctx.cfg.describe())
            .with_keys(crate::session::seal::Keys::for_config(&ctx.cfg))
            .in_harness(harness);
        let (sessions, children) = crate::session::catalog::split_children(cat.sessions()?);
        let metas = fetch_metas(&cat, &sessions)?;
        for (s, meta) in sessions.iter().zip(metas) {
            if let Some(since) = a.since {
                let started = meta.as_ref().and_then(|m| m.started_at.as_deref()).and_then(parse_rfc3339);
                if started.is_none_or(|t| t < since) {
                    continue;
                }
            }
            report.sessions += 1;
            report.subagents += children.get(&s.id).map_or(0, |c| c.len() as u64);
            let Some(st) = meta.as_ref().and_then(Stats::from_meta) else {
                report.sessions_without_stats += 1;
                continue;
            };
            report.turns += st.turns;
            report.assistant_messages += st.assistant_messages;
            report.tool_calls += st.tool_calls.values().sum::<u64>();
            report.compactions += st.compactions;
            report.tool_errors += st.tool_errors;
            report.api_errors += st.api_errors;
            for (m, t) in &st.tokens {
                report.tokens.entry(m.clone()).or_default().add(t);
            }
            for (m, t) in &st.subagent_tokens {
                report.subagent_tokens.entry(m.clone()).or_default().add(t);
            }
            for (k, n) in &st.tool_calls {
                *tools.entry(k.clone()).or_default() += n;
            }
            big.push(Big {
                id: s.id.clone(),
                started_at: meta.as_ref().and_then(|m| m.started_at.clone()),
                turns: st.turns,
                tokens: st.all_tokens().total(),
                bytes: s.part_bytes(),
            });
        }
    }
    let mut tools: Vec<(String, u64)> = tools.into_iter().collect();
    tools.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    tools.truncate(a.top);
    report.top_tools = tools.into_iter().map(|(name, calls)| ToolCount { name, calls }).collect();
    big.sort_by(|a, b| b.tokens.cmp(&a.tokens).then(b.bytes.cmp(&a.bytes)).then(a.id.cmp(&b.id)));
    big.truncate(a.top);
    report.biggest_sessions = big;
    if a.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| Error::Invalid(e.to_string()))?;
        return emit(&text);
    }
    print_text(&report, &ctx.cfg.describe())
}

fn print_text(r: &Report, dest: &str) -> Result<()> {
    let since = r.since.as_deref().map(|s| format!(", started since {}", minutes(s))).unwrap_or_default();
    let mut head = format!("{} session{}{since} in {dest}", r.sessions, if r.sessions == 1 { "" } else { "s" });
    if r.subagents > 0 {
        head.push_str(&format!("; {} subagent transcript{}", r.subagents, if r.subagents == 1 { "" } else { "s" }));
    }
    emit(&head)?;
    if r.sessions_without_stats > 0 {
        emit(&format!(
            "({} of them without stats yet: mirrored before stats existed; their next flush counts them)",
            r.sessions_without_stats
        ))?;
    }
    if r.sessions == 0 {
        return Ok(());
    }
    emit(&format!(
        "turns {} · assistant messages {} · tool calls {} · compactions {} · tool errors {} · API errors {}",
        thousands(r.turns),
        thousands(r.assistant_messages),
        thousands(r.tool_calls),
        thousands(r.compactions),
        thousands(r.tool_errors),
        thousands(r.api_errors)
    ))?;
    for (title, by_model) in [("tokens by model", &r.tokens), ("subagent tokens by model", &r.subagent_tokens)] {
        if by_model.is_empty() {
            continue;
        }
        emit(&format!("\n{title}:"))?;
        let w = by_model.keys().map(String::len).max().unwrap_or(0);
        for (m, t) in by_model {
            emit(&format!("  {m:<w$}  {}  (total {})", describe_tokens(t), human(t.total())))?;
        }
    }
    if !r.top_tools.is_empty() {
        emit("\ntop tools:")?;
        let w = r.top_tools.iter().map(|t| t.name.len()).max().unwrap_or(0);
        for t in &r.top_tools {
            emit(&format!("  {:<w$}  {}", t.name, thousands(t.calls)))?;
        }
    }
    if !r.biggest_sessions.is_empty() {
        emit("\nbiggest sessions (by tokens, subagents included):")?;
        for b in &r.biggest_sessions {
            let started = b.started_at.as_deref().map_or_else(|| "-".to_string(), minutes);
            let turns = if b.turns == 1 { "turn " } else { "turns" };
            let bytes = if b.bytes == 1 { "byte " } else { "bytes" };
            emit(&format!(
                "  {}  {started:<16}  {:>5} {turns}  {:>7} tokens  {:>13} {bytes}",
                b.id,
                b.turns,
                human(b.tokens),
                thousands(b.bytes)
            ))?;
        }
    }
    Ok(())
}

/// `2026-11-21T19:15:12.167146+00:00` -> `2026-11-21 19:15`.
fn minutes(s: &str) -> String {
    s.chars().take(16).collect::<String>().replace('T', " ")
}

/// meta.json of each session that has one, a few GETs at a time. An unreadable meta.json is
/// a warning (the session counts without stats); any other error stops.
fn fetch_metas(cat: &Catalog<'_>, sessions: &[SessionObjects]) -> Result<Vec<Option<Meta>>> {
    let mut out = Vec::with_capacity(sessions.len());
    for m in cat.metas(sessions) {
        match m {
            Ok(m) => out.push(m),
            Err(e @ Error::Invalid(_)) => {
                eprintln!("warning: {e}");
                out.push(None);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_forms() {
        assert_eq!(rfc3339(parse_since("2026-11-01").unwrap()), "2026-11-01T00:00:00.000000+00:00");
        assert_eq!(rfc3339(parse_since("2026-11-01T10:00:00+02:00").unwrap()), "2026-11-01T08:00:00.000000+00:00");
        let week = parse_since("7d").unwrap();
        let diff = OffsetDateTime::now_utc() - week;
        assert!((diff.whole_seconds() - 7 * 86_400).abs() < 5);
        for bad in ["", "yesterday", "7x", "-3d", "d", "é"] {
            assert!(parse_since(bad).is_err(), "{bad:?}");
        }
    }
}
