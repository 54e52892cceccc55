//! Finding the Claude Code sessions of a project directory, for `follow` (which session is
//! the newest, which sessions exist now) and for backfills (every session on the machine).
//!
//! Claude Code keeps a session at `<claude>/projects/<slug of cwd>/<session-id>.jsonl`. The
//! slug alone is not trustworthy: slugs over 200 characters are cut and get a hash suffix we
//! cannot reproduce, a symlinked cwd has two spellings, and Python tracecraft's collapsed
//! slug (`a__b` -> `a-b`) names a different directory. So a project directory matches when
//! its name is the slug of the cwd (or of its canonical path), *or* when one of its
//! transcripts records that cwd (`"cwd":"<dir>"`) in its first lines. Reading is bounded:
//! at most [`HEAD_MAX`] bytes of one transcript per directory, and [`Discoverer`] remembers
//! the answer per directory until the directory's mtime changes, so `follow --all` re-runs
//! discovery every cycle for the price of one `stat` per directory.
//!
//! Deliberately not done: subagent transcripts (`<id>/subagents/agent-*.jsonl`) and
//! `agent-*.jsonl` files are not sessions and are skipped; per-session cwd filtering inside
//! a slug-matched directory is not done (two cwds with the same slug, e.g. `/a_b` and `/a.b`,
//! share one directory in Claude Code too).

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use regex::bytes::Regex;

use crate::base::error::Result;
use crate::base::paths;
use crate::session::layout::validate_id;

/// How much of a transcript's beginning is read to find the recorded cwd.
pub const HEAD_MAX: u64 = 64 * 1024;
/// Read size while looking for the cwd (most transcripts record it within the first lines).
const HEAD_STEP: usize = 8 * 1024;

/// One session transcript found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub id: String,
    pub transcript: PathBuf,
    /// The transcript's mtime (`None` when it vanished while we looked).
    pub modified: Option<SystemTime>,
}

/// What we learnt about one Claude Code project directory.
#[derive(Debug, Clone)]
struct DirInfo {
    dir_mtime: Option<SystemTime>,
    cwd: Option<PathBuf>,
    /// The transcript probed and its length, when it gave no cwd (re-probed once it grows).
    probed: Option<(PathBuf, u64)>,
}

/// Discovery with a per-directory cache of recorded cwds (keyed by directory mtime).
#[derive(Debug, Default)]
pub struct Discoverer {
    cache: HashMap<PathBuf, DirInfo>,
}

impl Discoverer {
    /// An empty cache.
    pub fn new() -> Self {
        Discoverer::default()
    }

    /// Every session of `project_dir` under Claude Code's projects directory, sorted by id.
    pub fn sessions(&mut self, project_dir: &Path) -> Result<Vec<Found>> {
        Ok(self.sessions_in(&paths::claude_projects_dir()?, project_dir))
    }

    /// Every session of `project_dir` under `projects` (a missing directory has none).
    pub fn sessions_in(&mut self, projects: &Path, project_dir: &Path) -> Vec<Found> {
        let cwds = spellings(project_dir);
        let slugs: Vec<String> = cwds.iter().map(|c| paths::slug(c)).collect();
        let Ok(rd) = std::fs::read_dir(projects) else { return Vec::new() };
        let mut by_id: HashMap<String, Found> = HashMap::new();
        for entry in rd.flatten() {
            let dir = entry.path();
            let Ok(md) = std::fs::metadata(&dir) else { continue };
            if !md.is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let matched = slugs.contains(&name)
                || self.recorded_cwd_of_dir(&dir, md.modified().ok()).is_some_and(|c| cwds.contains(&c));
            if !matched {
                continue;
            }
            for f in transcripts_in(&dir) {
                // The same id in two matching directories: keep the newer transcript.
                match by_id.get(&f.id) {
                    Some(old) if old.modified >= f.modified => {}
                    _ => {
                        by_id.insert(f.id.clone(), f);
                    }
                }
            }
        }
        let mut v: Vec<Found> = by_id.into_values().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// The cwd recorded by a transcript of `dir`, cached until `dir`'s mtime changes (or,
    /// when none was found, until the probed transcript grows).
    fn recorded_cwd_of_dir(&mut self, dir: &Path, dir_mtime: Option<SystemTime>) -> Option<PathBuf> {
        if let Some(info) = self.cache.get(dir) {
            let fresh = info.dir_mtime.is_some() && info.dir_mtime == dir_mtime;
            let still_empty = match &info.probed {
                None => true,
                Some((p, len)) => {
                    let now = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
                    now == *len || *len >= HEAD_MAX
                }
            };
            if fresh && (info.cwd.is_some() || still_empty) {
                return info.cwd.clone();
            }
        }
        // Probe the newest non-empty transcript: the likeliest to be in today's format.
        let probe = transcripts_in(dir)
            .into_iter()
            .filter(|f| std::fs::metadata(&f.transcript).is_ok_and(|m| m.len() > 0))
            .max_by_key(|f| f.modified);
        let cwd = probe.as_ref().and_then(|f| recorded_cwd(&f.transcript));
        let probed = match (&cwd, &probe) {
            (None, Some(f)) => std::fs::metadata(&f.transcript).ok().map(|m| (f.transcript.clone(), m.len())),
            _ => None,
        };
        self.cache.insert(dir.to_path_buf(), DirInfo { dir_mtime, cwd: cwd.clone(), probed });
        cwd
    }
}

/// Every session of `project_dir` (one-shot, no cache).
pub fn sessions(project_dir: &Path) -> Result<Vec<Found>> {
    Discoverer::new().sessions(project_dir)
}

/// The most recently modified session of `project_dir` (what `follow` follows by default).
pub fn latest(project_dir: &Path) -> Result<Option<Found>> {
    Ok(sessions(project_dir)?.into_iter().max_by(|a, b| a.modified.cmp(&b.modified).then(a.id.cmp(&b.id))))
}

/// The session transcripts directly inside one Claude Code project directory:
/// `<id>.jsonl` regular files (symlinks followed) with a valid id, not `agent-*`.
pub fn transcripts_in(dir: &Path) -> Vec<Found> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut v = Vec::new();
    for entry in rd.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(id) = name.strip_suffix(".jsonl") else { continue };
        if id.starts_with("agent-") || validate_id(id).is_err() {
            continue;
        }
        let path = entry.path();
        let Ok(md) = std::fs::metadata(&path) else { continue };
        if !md.is_file() {
            continue;
        }
        v.push(Found { id: id.to_string(), transcript: path, modified: md.modified().ok() });
    }
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

/// The working directory a transcript records in its first lines (`"cwd":"/abs/path"`),
/// reading at most [`HEAD_MAX`] bytes. Whole lines are parsed as JSON (top-level `cwd`);
/// a line cut by the limit is searched for the key instead.
pub fn recorded_cwd(transcript: &Path) -> Option<PathBuf> {
    let mut f = File::open(transcript).ok()?;
    let mut buf: Vec<u8> = Vec::new();
    let mut line_start = 0usize;
    let mut chunk = vec![0u8; HEAD_STEP];
    loop {
        let room = (HEAD_MAX as usize).saturating_sub(buf.len()).min(HEAD_STEP);
        let n = if room == 0 {
            0
        } else {
            match f.read(&mut chunk[..room]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => 0,
            }
        };
        let scan_from = buf.len();
        buf.extend_from_slice(&chunk[..n]);
        // Whole lines that appeared with this read.
        let mut pos = scan_from;
        while let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') {
            let end = pos + nl;
            if let Some(c) = cwd_of_line(&buf[line_start..end]) {
                return Some(c);
            }
            line_start = end + 1;
            pos = line_start;
        }
        if n == 0 {
            // End of file or of the budget: the unfinished line may still name its cwd.
            return cwd_in_fragment(&buf[line_start..]);
        }
    }
}

/// The top-level `cwd` of one JSONL line, if it is an absolute path.
fn cwd_of_line(line: &[u8]) -> Option<PathBuf> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    let c = v.get("cwd")?.as_str()?;
    let p = PathBuf::from(c);
    p.is_absolute().then_some(p)
}

/// `"cwd":"..."` found by pattern in a fragment of a line (a cut-off first line).
fn cwd_in_fragment(frag: &[u8]) -> Option<PathBuf> {
    static KEY: OnceLock<Regex> = OnceLock::new();
    let re = KEY.get_or_init(|| Regex::new(r#""cwd"\s*:\s*""#).expect("valid regex"));
    let m = re.find(frag)?;
    // The JSON string starts at the last quote of the match.
    let rest = &frag[m.end() - 1..];
    let mut it = serde_json::Deserializer::from_slice(rest).into_iter::<String>();
    let c = it.next()?.ok()?;
    let p = PathBuf::from(c);
    p.is_absolute().then_some(p)
}

/// The spellings of a project directory worth matching: as given and canonical.
fn spellings(project_dir: &Path) -> Vec<PathBuf> {
    let mut v = vec![strip_trailing(project_dir)];
    if let Ok(c) = std::fs::canonicalize(project_dir) {
        if !v.contains(&c) {
            v.push(c);
        }
    }
    v
}

/// `/a/b/` -> `/a/b` (the slug of a path must not gain a trailing `-`).
fn strip_trailing(p: &Path) -> PathBuf {
    p.components().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(p: &Path, bytes: &[u8]) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::File::create(p).unwrap().write_all(bytes).unwrap();
    }

    fn line(cwd: &Path) -> String {
        format!("{{\"type\":\"user\",\"cwd\":{},\"n\":1}}\n", serde_json::to_string(&cwd.to_string_lossy()).unwrap())
    }

    #[test]
    fn recorded_cwd_from_whole_and_cut_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.jsonl");
        write(&p, format!("{{\"type\":\"summary\"}}\n{}", line(Path::new("/w/my proj"))).as_bytes());
        assert_eq!(recorded_cwd(&p), Some(PathBuf::from("/w/my proj")));
        // A first line longer than the budget: the key is still found by pattern.
        let long = format!("{{\"cwd\":\"/w/x\",\"text\":\"{}\"}}\n", "a".repeat(HEAD_MAX as usize * 2));
        write(&p, long.as_bytes());
        assert_eq!(recorded_cwd(&p), Some(PathBuf::from("/w/x")));
        // Nested cwd keys inside strings are escaped and do not count; relative cwds neither.
        write(&p, b"{\"text\":\"{\\\"cwd\\\":\\\"/no\\\"}\"}\n{\"cwd\":\"rel\"}\n");
        assert_eq!(recorded_cwd(&p), None);
        write(&p, b"");
        assert_eq!(recorded_cwd(&p), None);
        assert_eq!(recorded_cwd(&d.path().join("missing.jsonl")), None);
    }

    #[test]
    fn slug_and_recorded_cwd_both_match() {
        let d = tempfile::tempdir().unwrap();
        let projects = d.path().join("projects");
        let cwd = d.path().join("work/my_proj.v2");
        std::fs::create_dir_all(&cwd).unwrap();
        let by_slug = projects.join(paths::slug(&cwd));
        write(&by_slug.join("s1.jsonl"), b"");
        write(&by_slug.join("agent-a1.jsonl"), line(&cwd).as_bytes());
        write(&by_slug.join("s1/subagents/agent-a2.jsonl"), line(&cwd).as_bytes());
        let hashed = projects.join("-some-long-name-abc123");
        write(&hashed.join("s2.jsonl"), line(&cwd).as_bytes());
        let other = projects.join("-elsewhere");
        write(&other.join("s3.jsonl"), line(Path::new("/elsewhere")).as_bytes());
        let mut disc = Discoverer::new();
        let ids: Vec<String> = disc.sessions_in(&projects, &cwd).into_iter().map(|f| f.id).collect();
        assert_eq!(ids, ["s1", "s2"]);
        // Trailing slash spelling matches too.
        let slash = PathBuf::from(format!("{}/", cwd.display()));
        assert_eq!(disc.sessions_in(&projects, &slash).len(), 2);
    }

    #[test]
    fn cache_notices_a_transcript_that_gains_its_cwd() {
        let d = tempfile::tempdir().unwrap();
        let projects = d.path().join("projects");
        let cwd = PathBuf::from("/w/p");
        let t = projects.join("-hashed-xyz/s1.jsonl");
        write(&t, b"{\"type\":\"summary\"}\n");
        let mut disc = Discoverer::new();
        assert!(disc.sessions_in(&projects, &cwd).is_empty());
        std::fs::OpenOptions::new().append(true).open(&t).unwrap().write_all(line(&cwd).as_bytes()).unwrap();
        assert_eq!(disc.sessions_in(&projects, &cwd).len(), 1);
        // A new session in a known directory shows up (directory mtime changed or not).
        write(&projects.join("-hashed-xyz/s2.jsonl"), b"");
        assert_eq!(disc.sessions_in(&projects, &cwd).len(), 2);
    }
}
