//! `tracecraft-hook list`: the sessions mirrored for this project.
//!
//! Cost model: ONE paginated listing of `<project>/sessions/claude-code/` gives every
//! session's id, part objects, sizes and upload times; sorting and `--limit` happen on that.
//! Only the rows displayed then cost a GET each (their meta.json, a few in parallel), which
//! gives `started`/`ended` and lets parts and bytes follow the replay plan (leftovers of an
//! interrupted compaction are not counted), and the turns and tokens of its stats. So the
//! price is one listing plus at most `--limit` small GETs, whatever the number of sessions in
//! the bucket. `--sort size` ranks by the listing's total of part objects, leftovers
//! included, before they are known. Subagents (`<id>.agent-<agent-id>`) come from the same
//! listing and are shown under their session, never as sessions of their own.
//!
//! Codex CLI sessions (`sessions/codex/`) are listed with Claude Code's, one listing per
//! harness, with a HARNESS column (`--harness` keeps one).

use std::cmp::Reverse;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;

use super::{emit, open, project_dir, thousands};
use crate::base::error::{Error, Result};
use crate::base::util::parse_rfc3339;
use crate::session::catalog::{replay_plan, Catalog, SessionObjects};

/// List the sessions mirrored in the store for this project, most recent first.
///
/// Everything but the start and end times, turns and tokens comes from one listing of the
/// bucket; meta.json is read only for the rows shown. TURNS counts the prompts a person typed;
/// TOKENS is every token of every model (input, output, cache writes and reads), the
/// session's subagents included. A session's subagents are listed under it, indented
/// (`└ agent-<id> <type>`), with their own parts and bytes. Ids are printed in full, so they
/// can be pasted into `show`, `stop` and `compact` (which also accept a unique prefix).
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show at most N sessions (0: all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    /// Order: `recent` (latest upload first) or `size` (largest first).
    #[arg(long, value_enum, default_value_t = SortBy::Recent)]
    pub sort: SortBy,
    /// Print one JSON array (fields: id, parts, bytes, first_upload, last_upload,
    /// started_at, ended_at, end_reason, turns, tokens, subagents: [{id, agent_id, agent_type,
    /// parts, bytes, first_upload, last_upload}]) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only sessions with no transcript on this machine (no <id>.jsonl under any
    /// ~/.claude/projects/*/): the ones to bring here with `restore`.
    #[arg(long)]
    pub remote_only: bool,
    /// Project directory whose configuration selects the store (default: current directory).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Only this agent's sessions (default: Claude Code's and Codex's, in one list).
    #[arg(long, value_enum)]
    pub harness: Option<super::HarnessArg>,
}

/// Sort orders of `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortBy {
    /// Latest upload first.
    Recent,
    /// Most bytes first.
    Size,
}

/// One row of `list` (also its JSON shape).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub id: String,
    /// `claude-code` or `codex`.
    pub harness: String,
    /// Parts in the replay.
    pub parts: usize,
    /// Bytes of the replay.
    pub bytes: u64,
    /// Earliest / latest LastModified of the part objects.
    pub first_upload: Option<String>,
    pub last_upload: Option<String>,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub end_reason: Option<String>,
    /// Prompts a person typed (meta.json stats; `None` without them).
    pub turns: Option<u64>,
    /// All tokens of every model, subagents included (meta.json stats).
    pub tokens: Option<u64>,
    /// The session's subagents, from the same listing.
    pub subagents: Vec<SubRow>,
}

/// A subagent under its session's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubRow {
    pub id: String,
    pub agent_id: String,
    pub agent_type: Option<String>,
    /// Part objects (its meta.json is not read).
    pub parts: usize,
    pub bytes: u64,
    pub first_upload: Option<String>,
    pub last_upload: Option<String>,
}

/// Run `list`.
pub fn run(a: &ListArgs) -> Result<()> {
    let dir = project_dir(a.cwd.as_deref())?;
    let ctx = open(&dir)?;
    let mut rows = Vec::new();
    // Each harness's top rows, then the top of them all (the top N of the union is among them).
    for harness in super::harnesses(a.harness) {
        let cat = Catalog::new(ctx.store.as_ref(), &ctx.cfg.project, ctx.cfg.describe())
            .with_keys(crate::session::seal::Keys::for_config(&ctx.cfg))
            .in_harness(harness);
        let (mut sessions, mut children) = crate::session::catalog::split_children(cat.sessions()?);
        if a.remote_only {
            let here = super::restore::local_session_ids_of(harness)?;
            sessions.retain(|s| !here.contains(&s.id) && !crate::session::layout::is_child(&s.id));
        }
        sort(&mut sessions, a.sort);
        if a.limit > 0 {
            sessions.truncate(a.limit);
        }
        rows.extend(rows_of(&cat, sessions, &mut children)?);
    }
    match a.sort {
        // Exact sizes are known now; keep the shown rows consistent with them.
        SortBy::Size => rows.sort_by_key(|r| Reverse(r.bytes)),
        SortBy::Recent => rows.sort_by_cached_key(|r| {
            (Reverse(r.last_upload.as_deref().and_then(parse_rfc3339)), r.harness.clone(), r.id.clone())
        }),
    }
    if a.limit > 0 {
        rows.truncate(a.limit);
    }
    if a.json {
        let text = serde_json::to_string_pretty(&rows).map_err(|e| Error::Invalid(e.to_string()))?;
        return emit(&text);
    }
    if rows.is_empty() {
        let which = if a.remote_only { "sessions missing on this machine" } else { "sessions" };
        return emit(&format!("(no {which} in {})", ctx.cfg.describe()));
    }
    let label = |s: &SubRow| match &s.agent_type {
        Some(t) => format!("  └ agent-{} {t}", s.agent_id),
        None => format!("  └ agent-{}", s.agent_id),
    };
    let idw = rows
        .iter()
        .map(|r| r.id.len())
        .chain(rows.iter().flat_map(|r| r.subagents.iter().map(|s| label(s).chars().count())))
        .max()
        .unwrap_or(7)
        .max(7);
    let opt = |n: Option<u64>, f: fn(u64) -> String| n.map_or_else(|| "-".to_string(), f);
    emit(&format!(
        "{:<idw$}  {:<11}  {:>5}  {:>13}  {:>5}  {:>7}  {:<19}  {:<19}  ENDED",
        "SESSION", "HARNESS", "PARTS", "STORED BYTES", "TURNS", "TOKENS", "FIRST UPLOAD", "LAST UPLOAD"
    ))?;
    for r in &rows {
        let ended = match (&r.ended_at, &r.end_reason) {
            (Some(t), Some(why)) => format!("{} ({why})", short_time(Some(t))),
            (Some(t), None) => short_time(Some(t)),
            (None, _) => "-".into(),
        };
        emit(&format!(
            "{:<idw$}  {:<11}  {:>5}  {:>13}  {:>5}  {:>7}  {:<19}  {:<19}  {ended}",
            r.id,
            r.harness,
            r.parts,
            thousands(r.bytes),
            opt(r.turns, |n| n.to_string()),
            opt(r.tokens, super::display::human),
            short_time(r.first_upload.as_deref()),
            short_time(r.last_upload.as_deref()),
        ))?;
        for s in &r.subagents {
            let l = label(s);
            let pad = idw.saturating_sub(l.chars().count());
            emit(&format!(
                "{l}{:pad$}  {:<11}  {:>5}  {:>13}  {:>5}  {:>7}  {:<19}  {:<19}",
                "",
                "",
                s.parts,
                thousands(s.bytes),
                "",
                "",
                short_time(s.first_upload.as_deref()),
                short_time(s.last_upload.as_deref()),
            ))?;
        }
    }
    Ok(())
}

fn sort(sessions: &mut [SessionObjects], by: SortBy) {
    match by {
        SortBy::Recent => {
            sessions.sort_by_cached_key(|s| (Reverse(s.last_upload().and_then(|t| parse_rfc3339(&t))), s.id.clone()))
        }
        SortBy::Size => sessions.sort_by_cached_key(|s| (Reverse(s.part_bytes()), s.id.clone())),
    }
}

/// Build the rows, fetching meta.json of each (those that have one), a few at a time.
fn rows_of(
    cat: &Catalog<'_>,
    sessions: Vec<SessionObjects>,
    children: &mut std::collections::BTreeMap<String, Vec<SessionObjects>>,
) -> Result<Vec<Row>> {
    let metas = cat.metas(&sessions);
    let mut out = Vec::with_capacity(sessions.len());
    for (s, meta) in sessions.into_iter().zip(metas) {
        let meta = match meta {
            Ok(m) => m,
            Err(e @ Error::Invalid(_)) => {
                eprintln!("warning: {e}");
                None
            }
            Err(e) => return Err(e),
        };
        let plan = replay_plan(&s.parts, meta.as_ref());
        let stats = meta.as_ref().and_then(crate::session::insight::Stats::from_meta);
        let entries = meta.as_ref().map(crate::session::meta::extra::entries).unwrap_or_default();
        let subagents = children
            .remove(&s.id)
            .unwrap_or_default()
            .into_iter()
            .map(|c| {
                let agent_id = crate::session::layout::split_id(&c.id).map_or_else(String::new, |(_, a)| a.to_string());
                SubRow {
                    agent_type: entries.iter().find(|e| e.session_id == c.id).and_then(|e| e.agent_type.clone()),
                    parts: replay_plan(&c.parts, None).parts.len(),
                    bytes: c.part_bytes(),
                    first_upload: c.first_upload(),
                    last_upload: c.last_upload(),
                    agent_id,
                    id: c.id,
                }
            })
            .collect();
        out.push(Row {
            turns: stats.as_ref().map(|s| s.turns),
            tokens: stats.as_ref().map(|s| s.all_tokens().total()),
            subagents,
            parts: plan.parts.len(),
            bytes: plan.bytes(),
            first_upload: upload_times(&s, meta.as_ref()).0,
            last_upload: upload_times(&s, meta.as_ref()).1,
            started_at: meta.as_ref().and_then(|m| m.started_at.clone()),
            ended_at: meta.as_ref().and_then(|m| m.ended_at.clone()),
            end_reason: meta.as_ref().and_then(|m| m.end_reason.clone()),
            harness: cat.harness.dir().to_string(),
            id: s.id,
        });
    }
    Ok(out)
}

/// `2026-11-21T19:15:12.167146+00:00` -> `2026-11-21 19:15:12` (UTC); `-` when absent.
fn short_time(t: Option<&str>) -> String {
    match t.and_then(parse_rfc3339) {
        Some(t) => crate::base::util::utc_stamp(t, "-", " ", ":"),
        None => t.map_or_else(|| "-".into(), |s| s.chars().take(19).collect()),
    }
}

/// When a session's bytes were first and last uploaded: from meta.json's part records (a
/// compaction keeps the original times there: `first_uploaded_at`, `uploaded_at`), else from
/// the objects' LastModified (which a compaction resets).
fn upload_times(s: &SessionObjects, meta: Option<&crate::session::meta::Meta>) -> (Option<String>, Option<String>) {
    type At = Option<(time::OffsetDateTime, String)>;
    let (mut first, mut last): (At, At) = (None, None);
    for e in meta.map(|m| m.parts.as_slice()).unwrap_or_default() {
        let Some(l) = e.uploaded_at.as_deref() else { continue };
        let f = e.extra.get("first_uploaded_at").and_then(serde_json::Value::as_str).unwrap_or(l);
        if let Some(t) = parse_rfc3339(f) {
            if first.as_ref().is_none_or(|(ft, _)| t < *ft) {
                first = Some((t, f.to_string()));
            }
        }
        if let Some(t) = parse_rfc3339(l) {
            if last.as_ref().is_none_or(|(lt, _)| t > *lt) {
                last = Some((t, l.to_string()));
            }
        }
    }
    (first.map(|(_, s)| s).or_else(|| s.first_upload()), last.map(|(_, s)| s).or_else(|| s.last_upload()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_times() {
        assert_eq!(short_time(Some("2026-11-21T19:15:12.167146+00:00")), "2026-11-21 19:15:12");
        assert_eq!(short_time(Some("2026-11-21T20:15:12+01:00")), "2026-11-21 19:15:12");
        assert_eq!(short_time(None), "-");
        assert_eq!(short_time(Some("yesterday")), "yesterday");
    }
}
