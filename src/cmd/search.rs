//! `tracecraft-hook search` and `sync`: find text in every mirrored session of the project
//! (or of every project in the bucket), through the local part cache.
//!
//! This file is command glue: which sessions (listing, `--session`, `--agent` from each
//! meta.json, `--subagents`), which bytes (a cached file, or a GET streamed into the scanner
//! and the cache at once), sessions scanned in parallel, hits printed in session order. A
//! warm search does not wait for the LIST: it scans the cached sessions of the last listing
//! meanwhile and keeps only the results of sessions the new listing shows unchanged
//! (`search_with_head_start`). What matches and how fast is `session::search`; what is
//! cached and when it is trusted is `session::cache`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use clap::Args;
use serde_json::json;

use super::{open, project_dir};
use crate::base::error::{Error, Result};
use crate::base::paths;
use crate::session::cache::{parse_size, Cache, DEFAULT_MAX};
use crate::session::catalog::{group, replay_plan, Catalog, PlanPart, SessionObjects};
use crate::session::layout::{is_child, meta_key_in, sessions_prefix_in, Harness};
use crate::session::meta::Meta;
use crate::session::seal::{self, Keys};
use crate::session::search::{parse_date, Hit, Matcher, Query, Role, Scanner};
use crate::store::Store;

/// Search the text of every mirrored session of the project (prompts, answers, tool input
/// and output), on every machine that mirrors to the store.
///
/// The pattern is a literal unless -e; it matches the text as people read it (a `\n` in a
/// prompt is a newline, `\"` a quote), never JSON keys or ids (unless --raw). Each hit is
/// one line: session id and line (open it with `show ID --at LINE`), time, role (and tool),
/// the match with context. Parts are cached in ~/.tracecraft/cache/ (bounded by
/// TRACECRAFT_CACHE_MAX, default 1G), so a second search reads only new parts.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// What to look for (a literal, or a regex with -e).
    #[arg(value_name = "PATTERN")]
    pub pattern: String,
    /// PATTERN is a regular expression (Rust regex syntax).
    #[arg(short = 'e', long)]
    pub regex: bool,
    /// Ignore case.
    #[arg(short = 'i', long)]
    pub ignore_case: bool,
    /// Match whole words only.
    #[arg(short = 'w', long)]
    pub word: bool,
    /// Search the stored JSONL bytes themselves (keys, ids and escapes included).
    #[arg(long)]
    pub raw: bool,
    /// Only lines at or after DATE (YYYY-MM-DD, or an RFC 3339 time).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only lines at or before DATE (YYYY-MM-DD includes that whole day).
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Only this session (full id or unique prefix).
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// Only text of this role: user, assistant or tool.
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
    /// Only inside this tool's input or output (e.g. Bash).
    #[arg(long, value_name = "NAME")]
    pub tool: Option<String>,
    /// Only sessions mirrored by this machine (meta.json's agent_id).
    #[arg(long, value_name = "AGENT_ID")]
    pub agent: Option<String>,
    /// Also search subagent sessions.
    #[arg(long)]
    pub subagents: bool,
    /// Every project in the bucket, not just this one.
    #[arg(long)]
    pub all_projects: bool,
    /// Whose sessions to search: claude-code (default) or codex (matched on the stored
    /// bytes, as with --raw).
    #[arg(long, value_enum)]
    pub harness: Option<super::HarnessArg>,
    /// Characters of context on each side of a match.
    #[arg(short = 'C', long, value_name = "N", default_value_t = 40)]
    pub context: usize,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// The number of hits per session.
    #[arg(long, conflicts_with = "files")]
    pub count: bool,
    /// Only the ids of sessions with a hit.
    #[arg(short = 'l', long = "files-with-matches", id = "files")]
    pub files: bool,
    /// Neither read nor fill the local cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Project directory whose configuration selects the store (default: current directory).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
}

/// Download every part of the project's sessions (subagents included) into the local
/// cache, so searches read no part over the network.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Every project in the bucket.
    #[arg(long)]
    pub all_projects: bool,
    /// Project directory whose configuration selects the store (default: current directory).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
}

/// One session to scan.
struct Job {
    /// Index into the projects (`Targets::projects`).
    project: usize,
    session: SessionObjects,
    /// Whether the cache holds its meta.json at the listed version (the worker reads it
    /// from there, else GETs it).
    meta_cached: bool,
    /// Whether its meta.json may be cached (never a sealed session's, in the clear).
    cache_meta: bool,
    /// Scanned ahead of the listing, from the last one: from the cache alone (anything
    /// not cached fails the job, which the scan after the listing then does).
    offline: bool,
}

/// The sessions to scan, in (project, id) order, and their projects.
struct Targets {
    projects: Vec<String>,
    jobs: Vec<Job>,
}

/// What became of one job.
enum Outcome {
    Found(Found),
    /// Not searched: another machine's (--agent).
    Skipped,
    /// meta.json sealed for someone else (passed over, said once per project).
    Sealed(Error),
    Failed(Error),
}

/// What scanning a session gave.
#[derive(Default)]
struct Found {
    hits: Vec<Hit>,
    count: u64,
}

/// Sessions fetched and scanned at once when some bytes come over the network (GETs
/// overlap across sessions); when every part is cached, one per core.
const PARALLEL: usize = 8;

/// Run `search`.
pub fn run(a: &SearchArgs) -> Result<()> {
    let role = a.role.as_deref().map(Role::parse).transpose()?;
    let q = Query {
        pattern: a.pattern.clone(),
        regex: a.regex,
        ignore_case: a.ignore_case,
        word: a.word,
        // Searchable text is read from Claude Code's line shapes; Codex rollouts are
        // matched on their stored bytes (as `--raw` does).
        raw: a.raw || a.harness == Some(super::HarnessArg::Codex),
        role,
        tool: a.tool.clone(),
        since: a.since.as_deref().map(|s| parse_date(s, false)).transpose()?,
        until: a.until.as_deref().map(|s| parse_date(s, true)).transpose()?,
        context: a.context,
    };
    let matcher = Matcher::new(q)?;
    let dir = project_dir(a.cwd.as_deref())?;
    let ctx = open(&dir)?;
    let cache = if a.no_cache { None } else { Some(open_cache(&ctx.cfg.dest_id())?) };
    let keys = Keys::for_config(&ctx.cfg);
    let dest = ctx.cfg.describe();
    let lean = a.count || a.files;
    let setup = |s: &mut Scanner<'_>| {
        if lean {
            s.max_hits = 0;
        }
    };
    let (t, results) = if a.session.is_some() && !a.all_projects {
        // --session resolves a prefix and finds children: no head start.
        let t = targets(ctx.store.as_ref(), &ctx.cfg, cache.as_ref(), &dest, a.all_projects, a, &matcher)?;
        let all: Vec<usize> = (0..t.jobs.len()).collect();
        let r =
            scan_all(ctx.store.as_ref(), &ctx.cfg, &keys, cache.as_ref(), &dest, &t, &all, a, setup, Some(&matcher));
        (t, r.into_iter().map(|o| o.unwrap_or(Outcome::Skipped)).collect::<Vec<_>>())
    } else {
        search_with_head_start(ctx.store.as_ref(), &ctx.cfg, &keys, cache.as_ref(), &dest, a, setup, &matcher)?
    };
    if let Some(c) = &cache {
        if let Err(e) = c.save() {
            eprintln!("warning: {e}");
        }
    }
    let color = !a.json && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut first_err = None;
    for (job, r) in t.jobs.iter().zip(results) {
        let project = &t.projects[job.project];
        let id = &job.session.id;
        let found = match r {
            Outcome::Found(f) => f,
            Outcome::Skipped | Outcome::Sealed(_) => continue,
            Outcome::Failed(e) => {
                eprintln!("tracecraft-hook: session {id}: {e}");
                first_err.get_or_insert(e);
                continue;
            }
        };
        if found.count == 0 {
            continue;
        }
        let shown_id = if a.all_projects { format!("{project}/{id}") } else { id.clone() };
        let line = if a.files {
            if a.json {
                json!({"project": project, "session": id}).to_string()
            } else {
                shown_id
            }
        } else if a.count {
            if a.json {
                json!({"project": project, "session": id, "count": found.count}).to_string()
            } else {
                format!("{shown_id}\t{}", found.count)
            }
        } else {
            let mut s = String::new();
            for h in &found.hits {
                if a.json {
                    let mut v = serde_json::to_value(h).unwrap_or_default();
                    v["project"] = json!(project);
                    v["session"] = json!(id);
                    s.push_str(&v.to_string());
                } else {
                    s.push_str(&format_hit(project, id, h, a.all_projects, color));
                }
                s.push('\n');
            }
            s.pop();
            s
        };
        writeln!(out, "{line}").map_err(|e| Error::io("write", "<stdout>", e))?;
    }
    out.flush().map_err(|e| Error::io("write", "<stdout>", e))?;
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Run `sync`.
pub fn sync(a: &SyncArgs) -> Result<()> {
    let dir = project_dir(a.cwd.as_deref())?;
    let ctx = open(&dir)?;
    let cache = open_cache(&ctx.cfg.dest_id())?;
    let args = SearchArgs {
        pattern: String::new(),
        regex: false,
        ignore_case: false,
        word: false,
        raw: false,
        since: None,
        until: None,
        session: None,
        role: None,
        tool: None,
        agent: None,
        subagents: true,
        all_projects: a.all_projects,
        context: 0,
        json: false,
        count: false,
        files: false,
        no_cache: false,
        cwd: None,
        harness: None,
    };
    let keys = Keys::for_config(&ctx.cfg);
    let dest = ctx.cfg.describe();
    let t = targets(ctx.store.as_ref(), &ctx.cfg, Some(&cache), &dest, a.all_projects, &args, &NO_MATCH)?;
    let all: Vec<usize> = (0..t.jobs.len()).collect();
    let results: Vec<Outcome> =
        scan_all(ctx.store.as_ref(), &ctx.cfg, &keys, Some(&cache), &dest, &t, &all, &args, |_| {}, None)
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::Skipped))
            .collect();
    cache.save()?;
    let mut synced = 0;
    let mut failed = None;
    for (job, r) in t.jobs.iter().zip(results) {
        match r {
            Outcome::Found(_) => synced += 1,
            Outcome::Skipped | Outcome::Sealed(_) => {}
            Outcome::Failed(e) => {
                eprintln!("tracecraft-hook: session {}: {e}", job.session.id);
                failed.get_or_insert(e);
            }
        }
    }
    let (bytes, files) = cache.usage();
    eprintln!("cache: {files} part(s), {} bytes, {synced} session(s) synced", super::thousands(bytes));
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `sync` filters nothing: a placeholder matcher for `targets` (never used to scan).
static NO_MATCH: std::sync::LazyLock<Matcher> =
    std::sync::LazyLock::new(|| Matcher::new(Query { pattern: "x".into(), ..Default::default() }).expect("literal"));

fn open_cache(dest: &str) -> Result<Cache> {
    let max = match std::env::var("TRACECRAFT_CACHE_MAX") {
        Ok(v) if !v.is_empty() => parse_size(&v)?,
        _ => DEFAULT_MAX,
    };
    Cache::open(&paths::tracecraft_dir()?.join("cache"), dest, max)
}

/// The sessions to scan, in (project, id) order, from the listing alone: meta.json is taken
/// from the cache when the listing shows the version cached, else fetched by the worker that
/// scans the session (so meta.json GETs overlap the part GETs of other sessions).
fn targets(
    store: &dyn Store,
    cfg: &crate::config::Config,
    cache: Option<&Cache>,
    dest: &str,
    all_projects: bool,
    a: &SearchArgs,
    m: &Matcher,
) -> Result<Targets> {
    let harness = a.harness.map_or(Harness::ClaudeCode, Harness::from);
    let by_project = match (&a.session, all_projects) {
        (Some(q), false) => {
            let project = &cfg.project;
            let cat =
                Catalog::new(store, project, dest.to_string()).with_keys(Keys::for_config(cfg)).in_harness(harness);
            let s = cat.resolve(q)?;
            let mut v = vec![s.clone()];
            if a.subagents && !is_child(&s.id) {
                v.extend(crate::session::catalog::children_in_store(&cat, &s.id, None)?);
            }
            vec![(project.to_string(), v)]
        }
        _ => by_project(list_scope(store, cfg, all_projects, harness)?, cfg, all_projects, harness),
    };
    Ok(jobs_from(by_project, cfg, cache, a, m))
}

/// The raw listing a search of every session covers: the project's sessions prefix, or
/// every project's sessions of the harness (--all-projects).
fn list_scope(
    store: &dyn Store,
    cfg: &crate::config::Config,
    all_projects: bool,
    harness: Harness,
) -> Result<Vec<crate::store::ObjectInfo>> {
    if all_projects {
        let marker = format!("/sessions/{}/", harness.dir());
        Ok(store.list("")?.into_iter().filter(|o| o.key.contains(&marker)).collect())
    } else {
        store.list(&sessions_prefix_in(&cfg.project, harness))
    }
}

/// A listing (`list_scope`) grouped into sessions, per project in order.
fn by_project(
    listing: Vec<crate::store::ObjectInfo>,
    cfg: &crate::config::Config,
    all_projects: bool,
    harness: Harness,
) -> Vec<(String, Vec<SessionObjects>)> {
    if !all_projects {
        return vec![(cfg.project.to_string(), group(&sessions_prefix_in(&cfg.project, harness), listing))];
    }
    let marker = format!("/sessions/{}/", harness.dir());
    let mut keys: std::collections::BTreeMap<String, Vec<crate::store::ObjectInfo>> = Default::default();
    for o in listing {
        if let Some(i) = o.key.find(&marker) {
            keys.entry(o.key[..i].to_string()).or_default().push(o);
        }
    }
    keys.into_iter()
        .map(|(p, listing)| {
            let g = group(&sessions_prefix_in(&p, harness), listing);
            (p, g)
        })
        .collect()
}

/// The jobs of sessions grouped per project, with the filters the listing alone decides.
fn jobs_from(
    by_project: Vec<(String, Vec<SessionObjects>)>,
    cfg: &crate::config::Config,
    cache: Option<&Cache>,
    a: &SearchArgs,
    m: &Matcher,
) -> Targets {
    let harness = a.harness.map_or(Harness::ClaudeCode, Harness::from);
    let all_projects = a.all_projects;
    let sealing = Keys::for_config(cfg).sealing();
    let mut t = Targets { projects: Vec::new(), jobs: Vec::new() };
    for (pi, (p, sessions)) in by_project.into_iter().enumerate() {
        for s in sessions {
            if !(a.subagents || !is_child(&s.id) || a.session.as_deref() == Some(s.id.as_str())) {
                continue;
            }
            // With --all-projects, --session is a prefix matched in every project.
            if all_projects && a.session.as_deref().is_some_and(|q| !s.id.starts_with(q)) {
                continue;
            }
            if s.parts.is_empty() {
                continue;
            }
            // Every line of a session was uploaded before its last part: older than
            // --since means nothing to find.
            let last = s.last_upload().and_then(|t| crate::base::util::parse_rfc3339(&t));
            if matches!((m.query().since, last), (Some(since), Some(last)) if last < since) {
                continue;
            }
            // A sealed session's meta.json is never cached in the clear.
            let cache_meta = !sealing && !s.parts.iter().any(|p| seal::is_sealed(&p.key));
            let meta_cached = match (meta_version(&s), cache.filter(|_| cache_meta)) {
                (Some(v), Some(c)) => c.contains(&meta_key_in(&p, harness, &s.id), &v),
                _ => false,
            };
            t.jobs.push(Job { project: pi, session: s, meta_cached, cache_meta, offline: false });
        }
        t.projects.push(p);
    }
    t
}

/// A search of every session (no --session, or --all-projects): while the LIST is in
/// flight, the sessions of the last listing whose meta.json and parts are all cached are
/// scanned from the cache (a thread); when the LIST returns, a session it shows exactly as
/// before (same meta.json and part keys, sizes, times and ETags: the same bytes) keeps that
/// result, every other one is scanned now, and one the LIST no longer shows is dropped.
/// The result is what a scan after the LIST alone gives, in the same order.
#[allow(clippy::too_many_arguments)]
fn search_with_head_start(
    store: &dyn Store,
    cfg: &crate::config::Config,
    keys: &Keys,
    cache: Option<&Cache>,
    dest: &str,
    a: &SearchArgs,
    setup: impl Fn(&mut Scanner<'_>) + Sync,
    m: &Matcher,
) -> Result<(Targets, Vec<Outcome>)> {
    let harness = a.harness.map_or(Harness::ClaudeCode, Harness::from);
    let scope = format!("{}:{}", harness.dir(), if a.all_projects { "*" } else { cfg.project.as_str() });
    let last = cache.and_then(|c| c.get_listing(&scope));
    std::thread::scope(|sc| {
        let early = last.map(|listing| {
            let setup = &setup;
            sc.spawn(move || {
                let mut t = jobs_from(by_project(listing, cfg, a.all_projects, harness), cfg, cache, a, m);
                t.jobs.retain(|j| j.meta_cached || j.session.meta.is_none());
                for j in &mut t.jobs {
                    j.offline = true;
                }
                let all: Vec<usize> = (0..t.jobs.len()).collect();
                let r = scan_all(store, cfg, keys, cache, dest, &t, &all, a, setup, Some(m));
                (t, r)
            })
        });
        let listing = list_scope(store, cfg, a.all_projects, harness);
        // Join the head start before returning anything (an error included).
        let early = early.and_then(|h| h.join().ok());
        let listing = listing?;
        if let Some(c) = cache {
            c.put_listing(&scope, &listing);
        }
        let t = jobs_from(by_project(listing, cfg, a.all_projects, harness), cfg, cache, a, m);
        let mut results: Vec<Option<Outcome>> = (0..t.jobs.len()).map(|_| None).collect();
        if let Some((et, er)) = early {
            let mut done: std::collections::HashMap<(&str, &str), (&SessionObjects, Outcome)> = Default::default();
            for (j, o) in et.jobs.iter().zip(er) {
                if let Some(o @ (Outcome::Found(_) | Outcome::Skipped)) = o {
                    done.insert((et.projects[j.project].as_str(), j.session.id.as_str()), (&j.session, o));
                }
            }
            for (i, j) in t.jobs.iter().enumerate() {
                let k = (t.projects[j.project].as_str(), j.session.id.as_str());
                if done.get(&k).is_some_and(|(s, _)| **s == j.session) {
                    results[i] = done.remove(&k).map(|(_, o)| o);
                }
            }
        }
        let todo: Vec<usize> = (0..t.jobs.len()).filter(|&i| results[i].is_none()).collect();
        let rest = scan_all(store, cfg, keys, cache, dest, &t, &todo, a, &setup, Some(m));
        let out = results
            .into_iter()
            .zip(rest)
            .map(|(r, s)| r.or(s).unwrap_or_else(|| Outcome::Failed(Error::Invalid("a search thread panicked".into()))))
            .collect();
        Ok((t, out))
    })
}

/// The version a cached meta.json is kept under: the listing's ETag, size and LastModified.
fn meta_version(s: &SessionObjects) -> Option<String> {
    s.meta.as_ref().map(|m| {
        format!("meta:{}:{}:{}", m.etag.as_deref().unwrap_or(""), m.size, m.last_modified.as_deref().unwrap_or(""))
    })
}

/// The cache version of a part: meta.json's sha256 for it, else the listing's size and time.
fn part_version(p: &PlanPart) -> (String, Option<String>) {
    let sha = p.entry.as_ref().and_then(|e| e.sha256.clone());
    let version = match &sha {
        Some(h) => format!("sha256:{h}"),
        None => format!("size:{}:{}", p.obj.size, p.obj.last_modified.as_deref().unwrap_or("")),
    };
    (version, sha)
}

/// Scan every job (`matcher` None: only fill the cache): a pool of workers takes the
/// sessions in order, each fetching meta.json when needed, then the parts.
#[allow(clippy::too_many_arguments)]
fn scan_all(
    store: &dyn Store,
    cfg: &crate::config::Config,
    keys: &Keys,
    cache: Option<&Cache>,
    dest: &str,
    t: &Targets,
    todo: &[usize],
    a: &SearchArgs,
    setup: impl Fn(&mut Scanner<'_>) + Sync,
    matcher: Option<&Matcher>,
) -> Vec<Option<Outcome>> {
    let cats: Vec<Catalog<'_>> = t
        .projects
        .iter()
        .map(|p| {
            Catalog::new(store, p, format!("{dest} (project {p})"))
                .with_keys(Keys::for_config(cfg))
                .in_harness(a.harness.map_or(Harness::ClaudeCode, Harness::from))
        })
        .collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new((0..t.jobs.len()).map(|_| None).collect());
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    // Every meta.json cached at its listed version: nothing changed since the parts were
    // cached, so this is reading files, one worker per core; else GETs, overlapped.
    let warm = cache.is_some()
        && todo.iter().filter_map(|&i| t.jobs.get(i)).all(|j| j.meta_cached || j.session.meta.is_none());
    let width = if matcher.is_some() && warm { cores } else { PARALLEL };
    if todo.is_empty() {
        return (0..t.jobs.len()).map(|_| None).collect();
    }
    let threads = width.min(todo.len()).max(1);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                // One scanner per worker, its buffers reused from session to session.
                let mut scanner = matcher.map(Scanner::new);
                if let Some(s) = scanner.as_mut() {
                    setup(s);
                }
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = todo.get(n) else { break };
                    let Some(job) = t.jobs.get(i) else { break };
                    let r = run_job(store, keys, cache, &cats[job.project], job, a, scanner.as_mut());
                    if let Ok(mut res) = results.lock() {
                        res[i] = Some(r);
                    }
                }
            });
        }
    });
    let mut out: Vec<Option<Outcome>> = results.into_inner().unwrap_or_default();
    out.resize_with(t.jobs.len(), || None);
    for &i in todo {
        if let Some(o) = out.get_mut(i).filter(|o| o.is_none()) {
            *o = Some(Outcome::Failed(Error::Invalid("a search thread panicked".into())));
        }
    }
    // Sessions sealed for someone else: one warning per project.
    for (pi, p) in t.projects.iter().enumerate() {
        let sealed: Vec<&Error> = t
            .jobs
            .iter()
            .zip(&out)
            .filter(|(j, _)| j.project == pi)
            .filter_map(|(_, o)| if let Some(Outcome::Sealed(e)) = o { Some(e) } else { None })
            .collect();
        if let Some(first) = sealed.first() {
            eprintln!("warning: {} encrypted session(s) of project {p} not searched: {first}", sealed.len());
        }
    }
    out
}

/// One session: its meta.json (cached or fetched), the --agent filter, then every part of
/// its replay plan, in order, from the cache or the store.
fn run_job(
    store: &dyn Store,
    keys: &Keys,
    cache: Option<&Cache>,
    cat: &Catalog<'_>,
    job: &Job,
    a: &SearchArgs,
    scanner: Option<&mut Scanner<'_>>,
) -> Outcome {
    let key = meta_key_in(cat.project, cat.harness, &job.session.id);
    let cached = match (cache, job.meta_cached, meta_version(&job.session)) {
        (Some(c), true, Some(v)) => c.get_bytes(&key, &v).and_then(|b| Meta::parse(&b).ok()),
        _ => None,
    };
    let meta: Option<Meta> = match (cached, &job.session.meta) {
        (Some(m), _) => Some(m),
        (None, None) => None,
        (None, Some(_)) if job.offline => return Outcome::Failed(Error::Invalid("meta.json not cached".into())),
        (None, Some(_)) => match cat.meta(&job.session.id) {
            Ok(m) => {
                if let (Some(c), Some(m), Some(v), true) = (cache, &m, meta_version(&job.session), job.cache_meta) {
                    if let Ok(bytes) = serde_json::to_vec(m) {
                        c.put_bytes(&key, &v, &bytes);
                    }
                }
                m
            }
            Err(e @ Error::Invalid(_)) => {
                eprintln!("warning: {e}; reading every part in key order");
                None
            }
            // A session this machine cannot decrypt (another person's, in a shared
            // bucket) is passed over; naming it is still an error.
            Err(e @ Error::Crypt(_)) if a.session.is_none() => return Outcome::Sealed(e),
            Err(e) => return Outcome::Failed(e),
        },
    };
    if let Some(agent) = &a.agent {
        if meta.as_ref().and_then(|m| m.agent_id.as_deref()) != Some(agent.as_str()) {
            return Outcome::Skipped;
        }
    }
    let plan = replay_plan(&job.session.parts, meta.as_ref());
    match scan_parts(store, keys, cache, &plan.parts, scanner, job.offline) {
        Ok(f) => Outcome::Found(f),
        Err(e) => Outcome::Failed(e),
    }
}

/// Feeds a scanner (if any) and a cache file (if any) at once.
struct Tee<'a, 'm, 'c> {
    scanner: Option<&'a mut Scanner<'m>>,
    cache: Option<crate::session::cache::CacheWriter<'c>>,
}

impl Write for Tee<'_, '_, '_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(s) = self.scanner.as_mut() {
            s.feed(buf);
        }
        if let Some(c) = self.cache.as_mut() {
            c.write(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn scan_parts(
    store: &dyn Store,
    keys: &Keys,
    cache: Option<&Cache>,
    parts: &[PlanPart],
    mut scanner: Option<&mut Scanner<'_>>,
    offline: bool,
) -> Result<Found> {
    if let Some(s) = scanner.as_mut() {
        s.reset();
    }
    for p in parts {
        if offline && (seal::is_sealed(&p.obj.key) || cache.is_none()) {
            return Err(Error::Invalid(format!("{} not cached", p.obj.key)));
        }
        if seal::is_sealed(&p.obj.key) {
            // Encrypted parts are opened with the identity and searched, never cached
            // (the cache would have to hold either ciphertext to decrypt on every search,
            // or plaintext the bucket does not hold).
            let Some(s) = scanner.as_mut() else { continue };
            let mut tee = Tee { scanner: Some(&mut **s), cache: None };
            if seal::get_part_to(store, keys, &p.obj.key, &mut tee)?.is_none() {
                eprintln!("warning: {} disappeared from {} while searching; search again", p.obj.key, store.describe());
            }
            continue;
        }
        let (version, sha) = part_version(p);
        if let Some(path) = cache.and_then(|c| c.lookup(&p.obj.key, &version)) {
            let Some(s) = scanner.as_mut() else { continue };
            // Read straight into the scanner's buffer (memory bounded whatever the part size).
            let mut f = std::fs::File::open(&path).map_err(|e| Error::io("read", &path, e))?;
            s.read_from(&mut f).map_err(|e| Error::io("read", &path, e))?;
            continue;
        }
        if offline {
            return Err(Error::Invalid(format!("{} not cached", p.obj.key)));
        }
        let writer = match cache {
            Some(c) => match c.writer(&p.obj.key, &version, sha.as_deref()) {
                Ok(w) => Some(w),
                Err(e) => {
                    eprintln!("warning: not caching {}: {e}", p.obj.key);
                    None
                }
            },
            None => None,
        };
        let mut tee = Tee { scanner: scanner.as_deref_mut(), cache: writer };
        match store.get_to(&p.obj.key, &mut tee)? {
            Some(_) => {
                if let Some(w) = tee.cache.take() {
                    w.commit();
                }
            }
            None => {
                eprintln!(
                    "warning: {} disappeared from {} while searching (compacted meanwhile?); search again",
                    p.obj.key,
                    store.describe()
                );
            }
        }
    }
    let Some(s) = scanner else { return Ok(Found::default()) };
    s.finish();
    Ok(Found { count: s.count, hits: std::mem::take(&mut s.hits) })
}

/// `3f2a9c1e:12  2026-01-02 03:04  tool Bash  …context MATCH context…`
fn format_hit(project: &str, id: &str, h: &Hit, all_projects: bool, color: bool) -> String {
    // A Claude Code id (a UUID) is shown by its first 8 characters, which `show` takes as a
    // prefix; any other id in full (a cut one could name two sessions).
    let uuid = id.len() == 36 && id.bytes().filter(|b| *b == b'-').count() == 4;
    let short = if uuid { &id[..8] } else { id };
    let sid = if all_projects { format!("{project}/{short}") } else { short.to_string() };
    let time = h.time.as_deref().map(|t| t.get(..16).unwrap_or(t).replace('T', " ")).unwrap_or_else(|| "-".repeat(16));
    let who = match (h.role, &h.tool) {
        (Some(r), Some(t)) => format!("{} {}", r.as_str(), t),
        (Some(r), None) => r.as_str().to_string(),
        (None, _) => "raw".into(),
    };
    let [s, e] = h.range;
    let (pre, mid, post) = (clean(&h.text[..s]), clean(&h.text[s..e]), clean(&h.text[e..]));
    let mid = if color { format!("\x1b[1;31m{mid}\x1b[0m") } else { mid };
    let sid =
        if color { format!("\x1b[35m{sid}\x1b[0m:\x1b[32m{}\x1b[0m", h.line) } else { format!("{sid}:{}", h.line) };
    format!("{sid}  {time}  {}  {pre}{mid}{post}", clean(&who))
}

/// One line, terminal-safe: newlines as `⏎`, tabs as spaces, other controls escaped.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' => "⏎".to_string(),
            '\r' | '\t' => " ".to_string(),
            c if c.is_control() => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect()
}
