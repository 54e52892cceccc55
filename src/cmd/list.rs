//! `tracecraft-hook list`: the sessions mirrored for this project (or every project).
//!
//! Cost model: the team index (`session::index`) says which sessions are the most recent:
//! one listing of `<project>/@index/` and the GETs of its newest month objects (cached
//! locally by ETag), however many sessions the bucket holds. The rows shown (at most
//! [`REFRESH_MAX`]) are then read from their meta.json, a few GETs at a time, so they are
//! exact even when meta.json changed behind the index (a Python compaction). Without an
//! index (a bucket only the Python CLI or an older version wrote) it falls back to one
//! listing of the sessions and a GET of every meta.json: same rows, slower. Subagents
//! (`<id>.agent-<agent-id>`) are shown under their session, never as sessions of their own.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;

use super::{emit, open, project_dir, thousands};
use crate::base::error::{Error, Result};
use crate::base::util::parse_rfc3339;
use crate::session::catalog::{Catalog, SessionObjects};
use crate::session::index::{self, Entry, Want};

/// At most this many rows are re-read from their meta.json.
pub const REFRESH_MAX: usize = 200;

/// List the sessions mirrored in the store for this project, most recent first.
///
/// Rows come from the team index (see `reindex`), then the rows shown are read from their
/// meta.json. TURNS counts the prompts a person typed; TOKENS is every token of every model
/// (input, output, cache writes and reads), the session's subagents included. A session's
/// subagents are listed under it, indented (`└ agent-<id> <type>`). Ids are printed in
/// full, so they can be pasted into `show`, `stop` and `compact` (which also accept a unique
/// prefix).
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show at most N sessions (0: all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    /// Order: `recent` (latest upload first) or `size` (largest first).
    #[arg(long, value_enum, default_value_t = SortBy::Recent)]
    pub sort: SortBy,
    /// Print one JSON array (fields: id, project, agent, harness, parts, bytes, first_upload,
    /// last_upload, started_at, ended_at, end_reason, turns, tokens, subagents: [{id,
    /// agent_id, agent_type, parts, bytes, first_upload, last_upload}]) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only sessions with no transcript on this machine (no <id>.jsonl under any
    /// ~/.claude/projects/*/): the ones to bring here with `restore`.
    #[arg(long)]
    pub remote_only: bool,
    /// Only sessions of this agent (the `agent_id` of the machine or person that ran them).
    #[arg(long, value_name = "ID")]
    pub agent: Option<String>,
    /// Every project in the bucket, not only this directory's (ids shown as project/id).
    #[arg(long)]
    pub all_projects: bool,
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
    pub project: String,
    /// The `agent_id` that ran it (meta.json).
    pub agent: Option<String>,
    /// `claude-code` | `codex`.
    pub harness: String,
    /// Parts in the replay.
    pub parts: usize,
    /// Bytes of the replay.
    pub bytes: u64,
    /// Earliest / latest upload of its parts.
    pub first_upload: Option<String>,
    pub last_upload: Option<String>,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub end_reason: Option<String>,
    /// Prompts a person typed (meta.json stats; `None` without them).
    pub turns: Option<u64>,
    /// All tokens of every model, subagents included (meta.json stats).
    pub tokens: Option<u64>,
    /// The session's subagents.
    pub subagents: Vec<SubRow>,
}

/// A subagent under its session's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubRow {
    pub id: String,
    pub agent_id: String,
    pub agent_type: Option<String>,
    pub parts: usize,
    pub bytes: u64,
    pub first_upload: Option<String>,
    pub last_upload: Option<String>,
}

/// Run `list`.
pub fn run(a: &ListArgs) -> Result<()> {
    let dir = project_dir(a.cwd.as_deref())?;
    let ctx = open(&dir)?;
    let store = crate::store::counting::Counting::wrap(ctx.store.as_ref());
    let projects = if a.all_projects { index::projects(&store)? } else { vec![ctx.cfg.project.clone()] };
    let cache = index::cache_dir(&ctx.cfg);
    let here = if a.remote_only {
        let mut ids = std::collections::HashSet::new();
        for h in crate::session::layout::Harness::ALL {
            ids.extend(super::restore::local_session_ids_of(h)?);
        }
        Some(ids)
    } else {
        None
    };
    let mut rows = Vec::new();
    for project in &projects {
        let cat = Catalog::new(&store, project, format!("{} (project {project})", ctx.cfg.describe()))
            .with_keys(crate::session::seal::Keys::for_config(&ctx.cfg));
        let want = Want {
            most_recent: if a.sort == SortBy::Recent && here.is_none() { a.limit } else { 0 },
            agent: a.agent.clone(),
            listing_will_do: a.limit > 0 && a.limit <= REFRESH_MAX && a.agent.is_none(),
            ..Want::default()
        };
        let view = match index::view(&cat, cache.as_deref(), &want) {
            Ok(v) => v,
            // Another person's sealed sessions in a shared bucket: that project is passed over.
            Err(e @ Error::Crypt(_)) if a.all_projects => {
                eprintln!("warning: {project} skipped: {e}");
                continue;
            }
            Err(e) => return Err(e),
        };
        if let index::Source::Scan(why) = &view.source {
            if view.entries.len() >= 500 {
                eprintln!("note: {project}: {why}");
            }
        }
        let (mut top, mut children) = split(view.entries);
        top.retain(|e| a.agent.as_ref().is_none_or(|ag| e.agent.as_deref() == Some(ag.as_str())));
        let harness = a.harness.map(crate::session::layout::Harness::from);
        top.retain(|e| harness.is_none_or(|h| e.harness == h.dir()));
        if let Some(here) = &here {
            top.retain(|e| !here.contains(&e.id));
        }
        rows.extend(top.into_iter().map(|e| {
            let kids = children.remove(&e.id).unwrap_or_default();
            (project.clone(), e, kids)
        }));
    }
    sort(&mut rows, a.sort);
    if a.limit > 0 {
        rows.truncate(a.limit);
    }
    if a.limit > 0 && a.limit <= REFRESH_MAX {
        refresh(&store, &ctx.cfg, &mut rows)?;
        if a.sort == SortBy::Size {
            rows.sort_by_key(|(_, e, _)| Reverse(e.bytes));
        }
    }
    let rows: Vec<Row> = rows.into_iter().map(|(p, e, kids)| row(p, e, kids)).collect();
    store.report("list");
    if a.json {
        let text = serde_json::to_string_pretty(&rows).map_err(|e| Error::Invalid(e.to_string()))?;
        return emit(&text);
    }
    if rows.is_empty() {
        let which = if a.remote_only { "sessions missing on this machine" } else { "sessions" };
        return emit(&format!("(no {which} in {})", ctx.cfg.describe()));
    }
    let shown = |r: &Row| if a.all_projects { format!("{}/{}", r.project, r.id) } else { r.id.clone() };
    let label = |s: &SubRow| match &s.agent_type {
        Some(t) => format!("  └ agent-{} {t}", s.agent_id),
        None => format!("  └ agent-{}", s.agent_id),
    };
    let idw = rows
        .iter()
        .map(|r| shown(r).len())
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
            shown(r),
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

type Listed = (String, Entry, Vec<Entry>);

/// Top-level sessions and the subagents of each (a subagent whose parent is not there
/// stays top-level, so it is never hidden).
pub fn split(entries: Vec<Entry>) -> (Vec<Entry>, BTreeMap<String, Vec<Entry>>) {
    let ids: HashSet<String> = entries.iter().map(|e| e.id.clone()).collect();
    let mut kids: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    // In place, order kept (a second vector of 100,000 entries would double the memory).
    let mut top = entries;
    top.retain_mut(|e| match e.parent_id().map(str::to_string) {
        Some(p) if p != e.id && ids.contains(&p) => {
            kids.entry(p).or_default().push(std::mem::take(e));
            false
        }
        _ => true,
    });
    (top, kids)
}

fn sort(rows: &mut [Listed], by: SortBy) {
    match by {
        SortBy::Recent => rows.sort_by_cached_key(|(p, e, _)| {
            (Reverse(e.last_upload.as_deref().and_then(parse_rfc3339)), p.clone(), e.id.clone())
        }),
        SortBy::Size => rows.sort_by_cached_key(|(p, e, _)| (Reverse(e.bytes), p.clone(), e.id.clone())),
    }
}

/// Re-read the shown rows from their meta.json (exact even when the index lags behind).
fn refresh(store: &dyn crate::store::Store, cfg: &crate::config::Config, rows: &mut [Listed]) -> Result<()> {
    let mut by_project: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, (p, _, _)) in rows.iter().enumerate() {
        by_project.entry(p.clone()).or_default().push(i);
    }
    for (project, idx) in by_project {
        let cat = Catalog::new(store, &project, format!("{} (project {project})", cfg.describe()))
            .with_keys(crate::session::seal::Keys::for_config(cfg));
        let objs: Vec<SessionObjects> = idx
            .iter()
            .map(|&i| SessionObjects {
                id: rows[i].1.id.clone(),
                meta: Some(crate::store::ObjectInfo { key: String::new(), size: 0, last_modified: None, etag: None }),
                ..Default::default()
            })
            .collect();
        for (&i, m) in idx.iter().zip(cat.metas(&objs)) {
            match m {
                Ok(Some(meta)) => {
                    // Subagent types the parent's meta.json lists (a child known only from
                    // the listing has none).
                    let listed = crate::session::meta::extra::entries(&meta);
                    for c in rows[i].2.iter_mut().filter(|c| c.agent_type.is_none()) {
                        c.agent_type = listed.iter().find(|l| l.session_id == c.id).and_then(|l| l.agent_type.clone());
                    }
                    let old = &rows[i].1;
                    let mut e = Entry::from_meta(&meta);
                    if e.parts == 0 {
                        (e.parts, e.bytes) = (old.parts, old.bytes);
                    }
                    e.first_upload = e.first_upload.or_else(|| old.first_upload.clone());
                    e.last_upload = e.last_upload.or_else(|| old.last_upload.clone());
                    e.id.clone_from(&old.id);
                    rows[i].1 = e;
                }
                Ok(None) => {}
                Err(e @ Error::Invalid(_)) => eprintln!("warning: {e}"),
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

fn row(project: String, e: Entry, kids: Vec<Entry>) -> Row {
    let counted = e.counted;
    let mut tokens: u64 = e.tokens.values().flatten().sum();
    let own_subs: u64 = kids.iter().flat_map(|k| k.tokens.values().flatten()).sum();
    tokens += if kids.is_empty() { e.sub_tokens.values().flatten().sum() } else { own_subs };
    Row {
        turns: counted.then_some(e.turns),
        tokens: counted.then_some(tokens),
        subagents: kids
            .into_iter()
            .map(|c| SubRow {
                agent_id: crate::session::layout::split_id(&c.id).map_or_else(String::new, |(_, a)| a.to_string()),
                agent_type: c.agent_type.clone(),
                parts: c.parts as usize,
                bytes: c.bytes,
                first_upload: c.first_upload.clone(),
                last_upload: c.last_upload.clone(),
                id: c.id,
            })
            .collect(),
        project,
        agent: e.agent,
        harness: e.harness,
        parts: e.parts as usize,
        bytes: e.bytes,
        first_upload: e.first_upload,
        last_upload: e.last_upload,
        started_at: e.started,
        ended_at: e.ended,
        end_reason: e.end_reason,
        id: e.id,
    }
}

/// `2026-11-21T19:15:12.167146+00:00` -> `2026-11-21 19:15:12` (UTC); `-` when absent.
fn short_time(t: Option<&str>) -> String {
    match t.and_then(parse_rfc3339) {
        Some(t) => crate::base::util::utc_stamp(t, "-", " ", ":"),
        None => t.map_or_else(|| "-".into(), |s| s.chars().take(19).collect()),
    }
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
