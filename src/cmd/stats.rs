//! `tracecraft-hook stats`: numbers across the sessions of a project (or every project):
//! sessions, turns, tokens by model, cost in USD, the most used tools and the biggest
//! sessions, and team views grouped by day, week, month, session, model, agent or project.
//!
//! Cost model: the team index (`session::index`): one listing of `<project>/@index/` and
//! the GETs of its objects (about one per machine and month, cached locally by ETag), not one
//! GET per session. Without an index (or with a damaged one) it reads every session's
//! meta.json instead: same numbers, slower. Sessions mirrored before stats existed (or by
//! the Python CLI) have none until their next flush; they are counted as sessions and
//! reported as such, never guessed.
//!
//! Tokens are attributed to the UTC day of each message (as ccusage's `daily` with
//! `--timezone UTC` does), so `--since/--until` and `--by day|week|month` cut tokens by day;
//! the per-session numbers (turns, tools, errors) count for sessions that started in the
//! range. Stats written before per-day counting existed put their tokens on the session's
//! start day. Subagents' tokens count on their own days, shown apart as subagent tokens.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;
use time::OffsetDateTime;

use super::display::{describe_tokens, human};
use super::{emit, open, project_dir, thousands};
use crate::base::error::{Error, Result};
use crate::base::util::{hex, parse_rfc3339, rfc3339};
use crate::session::catalog::Catalog;
use crate::session::index::{self, day_of, tokens as quad_tokens, Entry, Source, Want};
use crate::session::insight::Tokens;
use crate::session::pricing::Pricing;

/// Sum up the mirrored sessions: sessions, turns, tokens and cost by model, the most used
/// tools and the biggest sessions; with --by, a table per day, week, month, session, model,
/// agent or project.
///
/// Reads the team index (see `reindex`), or every meta.json when there is none. Turns are
/// prompts a person typed; tokens are per model (input, output, cache writes, cache reads),
/// attributed to the UTC day of each message; the subagents' are shown apart. Cost is USD
/// from the built-in price table (config `"pricing"` overrides it); a model without a
/// price shows its tokens and no cost. Sessions without stats yet (mirrored by an older
/// version or the Python CLI) are counted but add no numbers until their next flush.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// From DATE on: `2026-11-01` (UTC midnight), an RFC 3339 time, or an age like `7d`,
    /// `12h`, `30m`. Tokens count by the day of each message; sessions by their start.
    #[arg(long, value_name = "DATE", value_parser = parse_since)]
    pub since: Option<OffsetDateTime>,
    /// Up to DATE's day, inclusive (same forms as --since).
    #[arg(long, value_name = "DATE", value_parser = parse_since)]
    pub until: Option<OffsetDateTime>,
    /// Group tokens and cost by day, week (starting Monday), month, session, model, agent
    /// or project.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub by: Option<By>,
    /// Only sessions of this agent (the `agent_id` of the machine or person that ran them).
    #[arg(long, value_name = "ID")]
    pub agent: Option<String>,
    /// Every project in the bucket, not only this directory's.
    #[arg(long)]
    pub all_projects: bool,
    /// Print one JSON object instead of text.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print the groups (--by, else by model) as CSV.
    #[arg(long)]
    pub csv: bool,
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

/// What `stats --by` groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    Day,
    Week,
    Month,
    Session,
    Model,
    Agent,
    Project,
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

/// Tokens and cost of one model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelCost {
    pub model: String,
    #[serde(flatten)]
    pub tokens: Tokens,
    pub total: u64,
    /// USD; `None` when the model has no price.
    pub cost_usd: Option<f64>,
}

/// One row of `--by`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub key: String,
    /// Sessions (and subagents) with tokens in this group.
    pub sessions: u64,
    #[serde(flatten)]
    pub tokens: Tokens,
    pub total: u64,
    /// USD of the priced models.
    pub cost_usd: f64,
    /// Tokens of models without a price (not in `cost_usd`).
    pub unpriced_tokens: u64,
    pub models: Vec<String>,
}

/// What `stats --json` prints.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub since: Option<String>,
    pub until: Option<String>,
    pub agent: Option<String>,
    pub projects: Vec<String>,
    /// `index` or `meta.json` (no index, or a damaged one).
    pub source: String,
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
    /// Every model (sessions and subagents together) with its cost.
    pub models: Vec<ModelCost>,
    /// USD of every priced model.
    pub cost_usd: f64,
    /// Models without a price: their tokens are not in `cost_usd`.
    pub unpriced_models: Vec<String>,
    pub by: Option<By>,
    pub groups: Vec<Group>,
    pub top_tools: Vec<ToolCount>,
    pub biggest_sessions: Vec<Big>,
}

/// Run `stats`.
pub fn run(a: &StatsArgs) -> Result<()> {
    let dir = project_dir(a.cwd.as_deref())?;
    let ctx = open(&dir)?;
    let store = crate::store::counting::Counting::wrap(ctx.store.as_ref());
    let projects = if a.all_projects { index::projects(&store)? } else { vec![ctx.cfg.project.clone()] };
    let cache = index::cache_dir(&ctx.cfg);
    let dest = if a.all_projects {
        format!("{} ({} projects)", ctx.cfg.describe(), projects.len())
    } else {
        ctx.cfg.describe()
    };
    // One listing of each project's index: it says whether the answer kept from last time
    // still holds (nothing listed changed), before any index object is read.
    let mut listings = Vec::with_capacity(projects.len());
    for project in &projects {
        listings.push(index::list(&store, project)?);
    }
    let answer =
        cache.as_deref().map(|c| c.join("stats").join(answer_key(a, &dest, &ctx.cfg.pricing, &projects, &listings)));
    if let Some(lines) = answer.as_deref().and_then(read_answer) {
        store.report("stats");
        return lines.iter().try_for_each(|l| emit(l));
    }
    let mut sources = BTreeSet::new();
    // The answer may be kept only when it rests on the index objects listed alone.
    let mut keep = true;
    let mut all: Vec<(String, Vec<Entry>)> = Vec::new();
    for (project, listing) in projects.iter().zip(listings) {
        let cat = Catalog::new(&store, project, format!("{} (project {project})", ctx.cfg.describe()))
            .with_keys(crate::session::seal::Keys::for_config(&ctx.cfg));
        let want = Want {
            from_month: a.since.map(index::month_of),
            listing: Some(listing),
            totals_only: true,
            ..Want::default()
        };
        let view = match index::view(&cat, cache.as_deref(), &want) {
            Ok(v) => v,
            // Another person's sealed sessions in a shared bucket: that project is passed over.
            Err(e @ Error::Crypt(_)) if a.all_projects => {
                eprintln!("warning: {project} skipped: {e}");
                keep = false;
                continue;
            }
            Err(e) => return Err(e),
        };
        keep &= view.sealed == 0 && view.unreadable == 0;
        match &view.source {
            Source::Index => sources.insert("index"),
            Source::Scan(why) => {
                keep = false;
                if view.entries.len() >= 500 {
                    eprintln!("note: {project}: {why}");
                }
                sources.insert("meta.json")
            }
        };
        all.push((project.clone(), view.entries));
    }
    let pricing = Pricing::new(&ctx.cfg.pricing);
    let mut report = build(a, &projects, all, &pricing);
    report.source = sources.into_iter().collect::<Vec<_>>().join("+");
    store.report("stats");
    let lines = if a.csv {
        vec![csv(&report).trim_end().to_string()]
    } else if a.json {
        vec![serde_json::to_string_pretty(&report).map_err(|e| Error::Invalid(e.to_string()))?]
    } else {
        print_text(&report, &dest)
    };
    if let Some(f) = answer.filter(|_| keep) {
        write_answer(&f, &lines);
    }
    lines.iter().try_for_each(|l| emit(l))
}

/// The name of the kept answer for these arguments, this configuration and these listings:
/// any change to an index object (key, size, ETag, time) names another file.
fn answer_key(
    a: &StatsArgs,
    dest: &str,
    pricing: &BTreeMap<String, crate::config::Price>,
    projects: &[String],
    listings: &[Vec<crate::store::ObjectInfo>],
) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(format!("{}\n{a:?}\n{dest}\n{pricing:?}\n", env!("CARGO_PKG_VERSION")).as_bytes());
    for (p, l) in projects.iter().zip(listings) {
        h.update(format!("project {p:?} {}\n", l.len()).as_bytes());
        for o in l {
            h.update(format!("{:?} {} {:?} {:?}\n", o.key, o.size, o.etag, o.last_modified).as_bytes());
        }
    }
    hex(&h.finalize()[..16])
}

/// The kept answer's lines (`None` when there is none or it is unreadable).
fn read_answer(f: &std::path::Path) -> Option<Vec<String>> {
    serde_json::from_slice(&std::fs::read(f).ok()?).ok()
}

/// Keep an answer (best effort: a failure only costs the next run its speed). At most
/// [`KEPT`] answers are kept; the oldest go.
fn write_answer(f: &std::path::Path, lines: &[String]) {
    const KEPT: usize = 16;
    let Some(dir) = f.parent() else { return };
    let _ = std::fs::create_dir_all(dir);
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut old: Vec<(std::time::SystemTime, std::path::PathBuf)> =
            rd.flatten().filter_map(|d| Some((d.metadata().ok()?.modified().ok()?, d.path()))).collect();
        if old.len() >= KEPT {
            old.sort();
            for (_, p) in &old[..old.len() + 1 - KEPT] {
                let _ = std::fs::remove_file(p);
            }
        }
    }
    if let Ok(bytes) = serde_json::to_vec(lines) {
        let _ = crate::base::fsutil::atomic_write(f, &bytes, 0o600);
    }
}

/// The group key of a day for `--by day|week|month`.
fn period_key(by: By, day: &str) -> String {
    match by {
        By::Month => day.get(..7).unwrap_or(day).to_string(),
        By::Week => {
            let fmt = time::macros::format_description!("[year]-[month]-[day]");
            match time::Date::parse(day, &fmt) {
                Ok(d) => {
                    let monday = d - time::Duration::days(i64::from(d.weekday().number_days_from_monday()));
                    format!("{:04}-{:02}-{:02}", monday.year(), u8::from(monday.month()), monday.day())
                }
                Err(_) => day.to_string(),
            }
        }
        _ => day.to_string(),
    }
}

#[derive(Default)]
struct Acc {
    tokens: BTreeMap<String, Tokens>,
    sessions: BTreeSet<String>,
}

/// Add up the entries (see the module documentation for what counts where).
pub fn build(a: &StatsArgs, projects: &[String], all: Vec<(String, Vec<Entry>)>, pricing: &Pricing) -> Report {
    let since_day = a.since.map(day_of);
    let until_day = a.until.map(day_of);
    let in_range =
        |day: &str| since_day.as_deref().is_none_or(|s| day >= s) && until_day.as_deref().is_none_or(|u| day <= u);
    let started_in_range = |e: &Entry| {
        if a.since.is_none() && a.until.is_none() {
            return true;
        }
        let t = e.started.as_deref().and_then(parse_rfc3339);
        match t {
            None => false,
            Some(t) => a.since.is_none_or(|s| t >= s) && until_day.as_deref().is_none_or(|u| day_of(t).as_str() <= u),
        }
    };
    let mut report = Report {
        since: a.since.map(rfc3339),
        until: a.until.map(rfc3339),
        agent: a.agent.clone(),
        projects: projects.to_vec(),
        by: a.by,
        ..Report::default()
    };
    let mut tools: BTreeMap<String, u64> = BTreeMap::new();
    let mut big = Vec::new();
    let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
    for (project, entries) in all {
        let (top, kids) = super::list::split(entries);
        for e in top {
            if a.agent.as_ref().is_some_and(|ag| e.agent.as_deref() != Some(ag.as_str())) {
                continue;
            }
            if a.harness.map(crate::session::layout::Harness::from).is_some_and(|h| e.harness != h.dir()) {
                continue;
            }
            let children = kids.get(&e.id).map(Vec::as_slice).unwrap_or_default();
            let counted_session = started_in_range(&e);
            // Tokens by day of this session and of its subagents.
            let mut add = |who: &Entry, by_day: Vec<(String, String, Tokens)>, sub: bool, report: &mut Report| {
                let mut any = false;
                for (day, model, t) in by_day {
                    if !in_range(&day) {
                        continue;
                    }
                    any = true;
                    let side = if sub { &mut report.subagent_tokens } else { &mut report.tokens };
                    side.entry(model.clone()).or_default().add(&t);
                    if let Some(by) = a.by {
                        let key = match by {
                            By::Day | By::Week | By::Month => period_key(by, &day),
                            By::Session => e.id.clone(),
                            By::Model => model.clone(),
                            By::Agent => e.agent.clone().unwrap_or_else(|| "-".into()),
                            By::Project => project.clone(),
                        };
                        let g = groups.entry(key).or_default();
                        g.tokens.entry(model).or_default().add(&t);
                        g.sessions.insert(format!("{project}/{}", who.id));
                    }
                }
                any
            };
            add(&e, days_of(&e), false, &mut report);
            if children.is_empty() {
                // Subagents without entries of their own: the parent's roll-up, on its day.
                let day = start_day(&e);
                let rolled = e.sub_tokens.iter().map(|(m, q)| (day.clone(), m.clone(), quad_tokens(q))).collect();
                add(&e, rolled, true, &mut report);
            } else {
                for c in children {
                    add(c, days_of(c), true, &mut report);
                }
            }
            if !counted_session {
                continue;
            }
            report.sessions += 1;
            report.subagents += children.len() as u64;
            if !e.counted {
                report.sessions_without_stats += 1;
                continue;
            }
            report.turns += e.turns;
            report.assistant_messages += e.messages;
            report.tool_calls += e.tools.values().sum::<u64>();
            report.compactions += e.compactions;
            report.tool_errors += e.tool_errors;
            report.api_errors += e.api_errors;
            for (k, n) in e.tools.iter() {
                *tools.entry(k.clone()).or_default() += n;
            }
            let sub_total: u64 = if children.is_empty() {
                e.sub_tokens.values().flatten().sum()
            } else {
                children.iter().flat_map(|c| c.tokens.values().flatten()).sum()
            };
            big.push(Big {
                id: if projects.len() > 1 { format!("{project}/{}", e.id) } else { e.id.clone() },
                started_at: e.started.clone(),
                turns: e.turns,
                tokens: e.tokens.values().flatten().sum::<u64>() + sub_total,
                bytes: e.bytes + children.iter().map(|c| c.bytes).sum::<u64>(),
            });
        }
    }
    // Models, cost.
    let mut models: BTreeMap<String, Tokens> = BTreeMap::new();
    for (m, t) in report.tokens.iter().chain(report.subagent_tokens.iter()) {
        models.entry(m.clone()).or_default().add(t);
    }
    for (m, t) in models {
        let cost = pricing.cost(&m, &t);
        match cost {
            Some(c) => report.cost_usd += c,
            None => report.unpriced_models.push(m.clone()),
        }
        report.models.push(ModelCost { total: t.total(), tokens: t, cost_usd: cost, model: m });
    }
    report.groups = groups
        .into_iter()
        .map(|(key, acc)| {
            let mut g = Group {
                key,
                sessions: acc.sessions.len() as u64,
                tokens: Tokens::default(),
                total: 0,
                cost_usd: 0.0,
                unpriced_tokens: 0,
                models: acc.tokens.keys().cloned().collect(),
            };
            for (m, t) in &acc.tokens {
                g.tokens.add(t);
                match pricing.cost(m, t) {
                    Some(c) => g.cost_usd += c,
                    None => g.unpriced_tokens += t.total(),
                }
            }
            g.total = g.tokens.total();
            g
        })
        .collect();
    if matches!(a.by, Some(By::Session | By::Model | By::Agent | By::Project)) {
        report.groups.sort_by(|x, y| y.total.cmp(&x.total).then(x.key.cmp(&y.key)));
    }
    let mut tools: Vec<(String, u64)> = tools.into_iter().collect();
    tools.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    tools.truncate(a.top);
    report.top_tools = tools.into_iter().map(|(name, calls)| ToolCount { name, calls }).collect();
    big.sort_by(|a, b| b.tokens.cmp(&a.tokens).then(b.bytes.cmp(&a.bytes)).then(a.id.cmp(&b.id)));
    big.truncate(a.top);
    report.biggest_sessions = big;
    report
}

/// The day a session's undated tokens go to: its start (else first upload, else last).
fn start_day(e: &Entry) -> String {
    [&e.started, &e.first_upload, &e.last_upload]
        .into_iter()
        .flatten()
        .find_map(|s| parse_rfc3339(s))
        .map_or_else(|| "1970-01-01".to_string(), day_of)
}

/// `(day, model, tokens)` of an entry: its per-day numbers, or all on its start day when it
/// has none (stats written before per-day counting).
fn days_of(e: &Entry) -> Vec<(String, String, Tokens)> {
    if e.days.is_empty() {
        let day = start_day(e);
        return e.tokens.iter().map(|(m, q)| (day.clone(), m.clone(), quad_tokens(q))).collect();
    }
    e.days.iter().flat_map(|(d, by)| by.iter().map(move |(m, q)| (d.clone(), m.clone(), quad_tokens(q)))).collect()
}

/// The groups (or, without --by, the models) as CSV.
fn csv(r: &Report) -> String {
    let q = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    if r.by.is_some() {
        out.push_str("key,sessions,input,output,cache_creation,cache_read,total,cost_usd,unpriced_tokens\n");
        for g in &r.groups {
            let t = &g.tokens;
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{:.6},{}\n",
                q(&g.key),
                g.sessions,
                t.input,
                t.output,
                t.cache_creation,
                t.cache_read,
                g.total,
                g.cost_usd,
                g.unpriced_tokens
            ));
        }
    } else {
        out.push_str("model,input,output,cache_creation,cache_read,total,cost_usd\n");
        for m in &r.models {
            let t = &m.tokens;
            let cost = m.cost_usd.map(|c| format!("{c:.6}")).unwrap_or_default();
            out.push_str(&format!(
                "{},{},{},{},{},{},{cost}\n",
                q(&m.model),
                t.input,
                t.output,
                t.cache_creation,
                t.cache_read,
                m.total
            ));
        }
    }
    out
}

fn print_text(r: &Report, dest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut emit = |s: &str| -> Result<()> {
        out.push(s.to_string());
        Ok(())
    };
    let _ = print_lines(r, dest, &mut emit);
    out
}

fn print_lines(r: &Report, dest: &str, emit: &mut impl FnMut(&str) -> Result<()>) -> Result<()> {
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
    if r.sessions == 0 && r.models.is_empty() {
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
    if !r.models.is_empty() {
        let unpriced = if r.unpriced_models.is_empty() {
            String::new()
        } else {
            format!(" (no price for {}: tokens only)", r.unpriced_models.join(", "))
        };
        emit(&format!("\ncost: {}{unpriced}", usd(r.cost_usd)))?;
    }
    if let Some(by) = r.by {
        let name = serde_json::to_value(by).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        emit(&format!("\nby {name}:"))?;
        let w = r.groups.iter().map(|g| g.key.len()).max().unwrap_or(0).max(name.len());
        emit(&format!(
            "  {:<w$}  {:>8}  {:>9}  {:>9}  {:>11}  {:>11}  {:>11}  {:>10}",
            name.to_uppercase(),
            "SESSIONS",
            "INPUT",
            "OUTPUT",
            "CACHE WRITE",
            "CACHE READ",
            "TOTAL",
            "COST"
        ))?;
        for g in &r.groups {
            let t = &g.tokens;
            let cost = if g.unpriced_tokens > 0 { format!("{}+?", usd(g.cost_usd)) } else { usd(g.cost_usd) };
            emit(&format!(
                "  {:<w$}  {:>8}  {:>9}  {:>9}  {:>11}  {:>11}  {:>11}  {:>10}",
                g.key,
                thousands(g.sessions),
                human(t.input),
                human(t.output),
                human(t.cache_creation),
                human(t.cache_read),
                human(g.total),
                cost
            ))?;
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

/// `$12.34` (`$0.0012` below a cent).
fn usd(x: f64) -> String {
    if x > 0.0 && x < 0.01 {
        format!("${x:.4}")
    } else {
        format!("${x:.2}")
    }
}

/// `2026-11-21T19:15:12.167146+00:00` -> `2026-11-21 19:15`.
fn minutes(s: &str) -> String {
    s.chars().take(16).collect::<String>().replace('T', " ")
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
