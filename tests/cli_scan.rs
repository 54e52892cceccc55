//! CLI tests of `scan` and of `backfill --dry-run`'s redaction counts: the real binary with a
//! temporary `HOME` holding Claude Code transcripts. Nothing is uploaded; the secrets never
//! appear in full in any output.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_tracecraft-hook");
const GHP: &str = "ghp_Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0LzXcVb";
const PW: &str = "Hunter2-Zq9-Xv";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

fn cmd(home: &Path, cwd: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("AWS_") || k.starts_with("TRACECRAFT_") || k.starts_with("CLAUDE_") {
            c.env_remove(k.as_ref());
        }
    }
    c.env("HOME", home).current_dir(cwd).args(args).stdin(Stdio::null());
    c
}

fn run(mut c: Command, stdin: Option<&[u8]>) -> Out {
    let o = if let Some(input) = stdin {
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    } else {
        c.output().unwrap()
    };
    let out = Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    for secret in [&GHP[4..], PW] {
        assert!(!out.stdout.contains(secret) && !out.stderr.contains(secret), "secret printed:\n{out:?}");
    }
    out
}

/// Claude Code's project directory name for `cwd`.
fn slug(p: &Path) -> String {
    p.to_string_lossy().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

fn line(cwd: &Path, text: &str) -> String {
    serde_json::json!({"type": "user", "cwd": cwd, "sessionId": "s1", "message": {"role": "user", "content": text}})
        .to_string()
        + "\n"
}

/// A HOME with one project whose session `s1` has a token on line 2 and a password on line 3,
/// and a subagent transcript with one more token.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let project = tmp.path().join("work/app");
    fs::create_dir_all(&project).unwrap();
    let dir = home.join(".claude/projects").join(slug(&project));
    fs::create_dir_all(dir.join("s1/subagents")).unwrap();
    let transcript = dir.join("s1.jsonl");
    let body = [
        line(&project, "hello"),
        line(&project, &format!("git push https://{GHP}@github.com/o/r")),
        line(&project, &format!("cat .env\nDB_PASSWORD={PW}\nDEBUG=1")),
        line(&project, "password: ${DB_PASSWORD} and toolu_01AbCdEfGhIjKlMnOpQrStUv"),
    ]
    .concat();
    fs::write(&transcript, body).unwrap();
    fs::write(dir.join("s1/subagents/agent-a1.jsonl"), line(&project, &format!("token {GHP}"))).unwrap();
    (tmp, home, project, transcript)
}

#[test]
fn scan_reports_rule_file_line_and_masked_secret_and_exits_1() {
    let (_tmp, home, project, transcript) = setup();
    let out = run(cmd(&home, &project, &["scan"]), None);
    assert_eq!(out.code, 1, "{out:?}");
    let t = transcript.display().to_string();
    assert!(out.stdout.contains(&format!("{t}:2: github_pat: ghp_…")), "{out:?}");
    assert!(out.stdout.contains(&format!("{t}:3: password_assignment: Hunt…")), "{out:?}");
    assert!(out.stdout.contains("agent-a1.jsonl:1: github_pat: ghp_…"), "subagents are scanned: {out:?}");
    assert!(!out.stdout.contains(":4:"), "placeholders and ids are not findings: {out:?}");
    assert!(out.stdout.contains("github_pat           2") || out.stdout.contains("github_pat  "), "{out:?}");
    assert!(out.stdout.contains("3 secrets would be redacted in 2 files (5 lines scanned)"), "{out:?}");
    // The transcript is untouched and nothing was stored.
    assert!(fs::read_to_string(&transcript).unwrap().contains(GHP));
    assert!(!home.join(".tracecraft/store").exists());
}

#[test]
fn scan_json_file_and_stdin() {
    let (_tmp, home, project, transcript) = setup();
    let out = run(cmd(&home, &project, &["scan", "--json", transcript.to_str().unwrap()]), None);
    assert_eq!(out.code, 1, "{out:?}");
    let doc: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("one JSON document");
    assert_eq!(doc["found"], 2);
    assert_eq!(doc["totals"]["github_pat"], 1);
    assert_eq!(doc["totals"]["password_assignment"], 1);
    assert_eq!(doc["findings"][0]["line"], 2);
    assert_eq!(doc["findings"][0]["secret"], "ghp_…");

    let clean = line(&project, "nothing to see, sha 0123456789abcdef0123456789abcdef01234567");
    let out = run(cmd(&home, &project, &["scan", "-"]), Some(clean.as_bytes()));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("0 secrets would be redacted in 1 file (1 lines scanned)"), "{out:?}");

    let out = run(cmd(&home, &project, &["scan", "/nonexistent/x.jsonl"]), None);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("/nonexistent/x.jsonl"), "{out:?}");
}

#[test]
fn scan_all_projects_and_help() {
    let (_tmp, home, _project, _transcript) = setup();
    let elsewhere = home.parent().unwrap().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    let out = run(cmd(&home, &elsewhere, &["scan"]), None);
    assert_eq!(out.code, 1, "no sessions for this directory is an error: {out:?}");
    assert!(out.stderr.contains("no transcripts of"), "{out:?}");
    let out = run(cmd(&home, &elsewhere, &["scan", "--all-projects"]), None);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("3 secrets would be redacted in 2 files"), "{out:?}");
    let out = run(cmd(&home, &elsewhere, &["scan", "--help"]), None);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("without uploading") && out.stdout.contains("Exit status"), "{out:?}");
    let out = run(cmd(&home, &elsewhere, &["--help"]), None);
    assert!(out.stdout.contains("scan"), "{out:?}");
}

#[test]
fn backfill_dry_run_counts_what_would_be_redacted() {
    let (_tmp, home, project, _transcript) = setup();
    let out = run(cmd(&home, &project, &["backfill", "--dry-run"]), None);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("would redact: github_pat 1, password_assignment 1"), "{out:?}");
    // The session's subagent goes with it, and so does what redaction would replace in it.
    assert!(out.stdout.contains("would send s1.agent-a1 ("), "{out:?}");
    assert!(out.stdout.contains("would backfill 1 session and 1 subagent"), "{out:?}");
    assert!(out.stdout.contains("would redact 3 secrets in all"), "{out:?}");
    assert!(!home.join(".tracecraft/store").exists(), "a dry run stores nothing");
}
