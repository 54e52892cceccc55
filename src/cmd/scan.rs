//! `scan`: what redaction would replace in transcripts already on disk, without uploading
//! anything. Users run it on their existing sessions before enabling the hook, and CI runs
//! it like a secret scanner (exit status 1 when something was found).
//!
//! It reads each file line by line with the same [`Redactor`] the hook uses (built-in rules
//! plus the config's `redact_patterns`) and prints, per finding, the file, the line, the rule
//! and the secret masked to its first 4 characters; then a total per rule. Nothing is
//! written or sent, and the secret itself is never printed.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::{emit, project_dir};
use crate::base::error::{Error, Result};
use crate::base::paths;
use crate::base::redact::Redactor;
use crate::config::Config;
use crate::session::discover;

/// Show what redaction would replace in transcripts, without uploading anything.
///
/// Which transcripts: FILE (a JSONL transcript), `-` (standard input), every project under
/// <claude>/projects/ with --all-projects, else the sessions of the project of --cwd (default:
/// the current directory), subagent transcripts included. <claude> is $CLAUDE_CONFIG_DIR,
/// else ~/.claude.
///
/// For each finding: file, line, rule, and the secret masked to its first 4 characters
/// (`ghp_…`); then the count per rule. The rules are the built-in ones plus the config's
/// `redact_patterns` (the config of --cwd / the current directory).
///
/// Exit status: 0 when nothing would be redacted, 1 when something would (like gitleaks, for
/// CI), and also 1 with a message on a file that cannot be read; 2 for usage errors.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// A transcript file, or `-` for standard input [default: the project's sessions].
    #[arg(value_name = "FILE", conflicts_with = "all_projects")]
    pub file: Option<PathBuf>,
    /// Scan every project under <claude>/projects/.
    #[arg(long)]
    pub all_projects: bool,
    /// The project directory whose sessions (and config) to use [default: current directory].
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// One JSON document: findings, totals per rule, files and lines scanned.
    #[arg(long)]
    pub json: bool,
}

/// One finding, as printed.
#[derive(Debug)]
struct Hit {
    file: String,
    line: u64,
    rule: String,
    masked: String,
}

/// Run `scan`; the exit status is 1 when anything was found.
pub fn run(a: &ScanArgs) -> Result<i32> {
    let dir = project_dir(a.cwd.as_deref())?;
    let cfg = Config::load(&dir)?;
    for w in &cfg.warnings {
        eprintln!("warning: {w}");
    }
    let redactor = Redactor::new(&cfg.extra_patterns)?;
    let files: Vec<PathBuf> = match (&a.file, a.all_projects) {
        (Some(f), _) => vec![f.clone()],
        (None, true) => {
            let projects = paths::claude_projects_dir()?;
            let mut v = Vec::new();
            if let Ok(rd) = std::fs::read_dir(&projects) {
                let mut dirs: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
                dirs.sort();
                for d in dirs {
                    v.extend(discover::transcripts_in(&d).into_iter().map(|f| f.transcript));
                }
            }
            with_subagents(v)
        }
        (None, false) => {
            let v: Vec<PathBuf> = discover::sessions(&dir)?.into_iter().map(|f| f.transcript).collect();
            if v.is_empty() {
                return Err(Error::NotFound(format!(
                    "no transcripts of {} under {} (give a FILE, or --all-projects)",
                    dir.display(),
                    paths::claude_projects_dir()?.display()
                )));
            }
            with_subagents(v)
        }
    };

    let mut hits: Vec<Hit> = Vec::new();
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    let mut lines_scanned = 0u64;
    for path in &files {
        let (name, reader): (String, Box<dyn Read>) = if path.as_os_str() == "-" {
            ("<stdin>".into(), Box::new(std::io::stdin()))
        } else {
            let f = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
            (path.display().to_string(), Box::new(f))
        };
        let mut reader = BufReader::with_capacity(256 * 1024, reader);
        let mut line = Vec::new();
        let mut n = 0u64;
        loop {
            line.clear();
            let got = reader.read_until(b'\n', &mut line).map_err(|e| Error::io("read", path, e))?;
            if got == 0 {
                break;
            }
            n += 1;
            for f in redactor.findings(&line) {
                *totals.entry(f.rule.clone()).or_default() += 1;
                let masked = mask(&line[f.start..f.end]);
                if !a.json {
                    emit(&format!("{name}:{n}: {}: {masked}", f.rule))?;
                }
                hits.push(Hit { file: name.clone(), line: n, rule: f.rule, masked });
            }
        }
        lines_scanned += n;
    }

    let found: u64 = totals.values().sum();
    if a.json {
        let doc = json!({
            "findings": hits.iter().map(|h| json!({"file": h.file, "line": h.line, "rule": h.rule, "secret": h.masked}))
                .collect::<Vec<_>>(),
            "totals": totals,
            "files": files.len(),
            "lines": lines_scanned,
            "found": found,
        });
        emit(&doc.to_string())?;
    } else {
        if found > 0 {
            emit("")?;
            emit("per rule:")?;
            let width = totals.keys().map(String::len).max().unwrap_or(0);
            for (rule, n) in &totals {
                emit(&format!("  {rule:<width$}  {n}"))?;
            }
        }
        emit(&format!(
            "{found} secret{} would be redacted in {} file{} ({lines_scanned} lines scanned)",
            if found == 1 { "" } else { "s" },
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        ))?;
    }
    Ok(if found > 0 { 1 } else { 0 })
}

/// The transcripts plus their subagents' (`<session>/subagents/*.jsonl`), which the hook
/// mirrors too.
fn with_subagents(transcripts: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut out = Vec::with_capacity(transcripts.len());
    for t in transcripts {
        let sub = t.with_extension("").join("subagents");
        out.push(t);
        if let Ok(rd) = std::fs::read_dir(&sub) {
            let mut v: Vec<PathBuf> =
                rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "jsonl")).collect();
            v.sort();
            out.extend(v);
        }
    }
    out
}

/// The first 4 characters of a secret, then `…`: enough to recognise it, not to use it.
pub fn mask(secret: &[u8]) -> String {
    let s = String::from_utf8_lossy(secret);
    let head: String = s.chars().take(4).collect();
    format!("{head}…")
}

/// Per-rule counts of what redaction would replace in `bytes` (for `backfill --dry-run`).
pub fn counts(redactor: &Redactor, bytes: &[u8]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for f in redactor.findings(bytes) {
        *counts.entry(f.rule).or_default() += 1;
    }
    counts
}

/// `aws_access_key 2, github_pat 1`.
pub fn describe_counts(counts: &BTreeMap<String, u64>) -> String {
    counts.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_keeps_four_characters() {
        assert_eq!(mask(b"ghp_abcdefghijklmnop"), "ghp_…");
        assert_eq!(mask(b"ab"), "ab…");
        assert_eq!(mask("päss-wörd".as_bytes()), "päss…");
        assert_eq!(mask(b"\xff\xfeabcdef"), "\u{fffd}\u{fffd}ab…");
    }

    #[test]
    fn counts_and_description() {
        let r = Redactor::new(&[]).expect("built-ins");
        let c = counts(&r, b"{\"a\":\"AKIAZZZZZZZZZZZZZZZZ ghp_Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0UvWxY\"}\n");
        assert_eq!(describe_counts(&c), "aws_access_key 1, github_pat 1");
    }
}
