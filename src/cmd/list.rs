//! `tracecraft-hook list`: the sessions mirrored for this project.
//!
//! Cost model: ONE paginated listing of `<project>/sessions/claude-code/` gives every
//! session's id, part objects, sizes and upload times; sorting and `--limit` happen on that.
//! Only the rows displayed then cost a GET each (their meta.json, a few in parallel), which
//! gives `started`/`ended` and lets parts and bytes follow the replay plan (leftovers of an
//! interrupted compaction are not counted). So the price is one listing plus at most
//! `--limit` small GETs, whatever the number of sessions in the bucket. `--sort size` ranks
//! by the listing's total of part objects, leftovers included, before they are known.

use std::cmp::Reverse;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;

use super::{emit, open, project_dir, thousands};
use crate::catalog::{replay_plan, Catalog, SessionObjects};
use crate::error::{Error, Result};
use crate::meta::Meta;
use crate::util::parse_rfc3339;

/// List the sessions mirrored in the store for this project, most recent first.
///
/// Everything but the start and end times comes from one listing of the bucket; meta.json
/// is read only for the rows shown. Ids are printed in full, so they can be pasted into
/// `show`, `stop` and `compact` (which also accept a unique prefix).
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show at most N sessions (0: all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    /// Order: `recent` (latest upload first) or `size` (largest first).
    #[arg(long, value_enum, default_value_t = SortBy::Recent)]
    pub sort: SortBy,
    /// Print one JSON array (fields: id, parts, bytes, first_upload, last_upload,
    /// started_at, ended_at, end_reason) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Project directory whose configuration selects the store (default: current directory).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
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
}

/// How many meta.json GETs run at once.
const PARALLEL_GETS: usize = 6;

/// Run `list`.
pub fn run(a: &ListArgs) -> Result<()> {
    let dir = project_dir(a.cwd.as_deref())?;
    let ctx = open(&dir)?;
    let cat = Catalog::new(ctx.store.as_ref(), &ctx.cfg.project, ctx.cfg.describe());
    let mut sessions = cat.sessions()?;
    sort(&mut sessions, a.sort);
    if a.limit > 0 {
        sessions.truncate(a.limit);
    }
    let mut rows = rows(&cat, sessions)?;
    if a.sort == SortBy::Size {
        // Exact sizes are known now; keep the shown rows consistent with them.
        rows.sort_by_key(|r| Reverse(r.bytes));
    }
    if a.json {
        let text = serde_json::to_string_pretty(&rows).map_err(|e| Error::Invalid(e.to_string()))?;
        return emit(&text);
    }
    if rows.is_empty() {
        return emit(&format!("(no sessions in {})", ctx.cfg.describe()));
    }
    let idw = rows.iter().map(|r| r.id.len()).max().unwrap_or(7).max(7);
    emit(&format!(
        "{:<idw$}  {:>5}  {:>13}  {:<19}  {:<19}  ENDED",
        "SESSION", "PARTS", "BYTES", "FIRST UPLOAD", "LAST UPLOAD"
    ))?;
    for r in &rows {
        let ended = match (&r.ended_at, &r.end_reason) {
            (Some(t), Some(why)) => format!("{} ({why})", short_time(Some(t))),
            (Some(t), None) => short_time(Some(t)),
            (None, _) => "-".into(),
        };
        emit(&format!(
            "{:<idw$}  {:>5}  {:>13}  {:<19}  {:<19}  {ended}",
            r.id,
            r.parts,
            thousands(r.bytes),
            short_time(r.first_upload.as_deref()),
            short_time(r.last_upload.as_deref()),
        ))?;
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
fn rows(cat: &Catalog<'_>, sessions: Vec<SessionObjects>) -> Result<Vec<Row>> {
    let mut metas: Vec<Result<Option<Meta>>> = Vec::with_capacity(sessions.len());
    for batch in sessions.chunks(PARALLEL_GETS) {
        let fetched: Vec<Result<Option<Meta>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|s| scope.spawn(move || if s.meta.is_some() { cat.meta(&s.id) } else { Ok(None) }))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(Error::Invalid("a meta.json reader panicked".into()))))
                .collect()
        });
        metas.extend(fetched);
    }
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
        out.push(Row {
            parts: plan.parts.len(),
            bytes: plan.bytes(),
            first_upload: s.first_upload(),
            last_upload: s.last_upload(),
            started_at: meta.as_ref().and_then(|m| m.started_at.clone()),
            ended_at: meta.as_ref().and_then(|m| m.ended_at.clone()),
            end_reason: meta.as_ref().and_then(|m| m.end_reason.clone()),
            id: s.id,
        });
    }
    Ok(out)
}

/// `2026-11-21T19:15:12.167146+00:00` -> `2026-11-21 19:15:12` (UTC); `-` when absent.
fn short_time(t: Option<&str>) -> String {
    match t.and_then(parse_rfc3339) {
        Some(t) => {
            let t = t.to_offset(time::UtcOffset::UTC);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        }
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
