//! The secrets corpus (`tests/corpus/secrets/`, written by its `generate.py`): Claude Code
//! transcript lines carrying fake secrets in the ways they show up (prompts, Bash commands, Read
//! output with its gutter, env dumps, diffs, JSON files escaped twice), and lines carrying
//! look-alikes. Every secret must be gone, every look-alike untouched, every line valid JSON.
//! The figures are printed per rule (the family a secret belongs to).
//!
//! A second, held-out set (`heldout*.jsonl`, written by its own `heldout.py` before the rules
//! of issue 11 were written, and never tuned against) checks that the rules generalise; its
//! known misses are listed in [`KNOWN_HELDOUT_MISSES`] with why.
//!
//! Run with `cargo test --test redaction_corpus -- --nocapture` to see the figures.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use tracecraft_hook::base::redact::Redactor;

fn read(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/secrets").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn lines(buf: &[u8]) -> Vec<&[u8]> {
    buf.split_inclusive(|&b| b == b'\n').collect()
}

fn manifest(name: &str) -> Vec<Value> {
    let buf = read(name);
    lines(&buf).into_iter().map(|l| serde_json::from_slice(l).expect("manifest row is JSON")).collect()
}

fn is_json(line: &[u8]) -> bool {
    serde_json::from_slice::<Value>(line.strip_suffix(b"\n").unwrap_or(line)).is_ok()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn redactor() -> Redactor {
    Redactor::new(&[]).expect("built-in rules compile")
}

#[test]
fn corpus_secrets_are_gone_and_lookalikes_untouched() {
    let r = redactor();
    let mut failures = Vec::new();

    let buf = read("secrets.jsonl");
    let secret_lines = lines(&buf);
    let rows = manifest("secrets.manifest.jsonl");
    assert_eq!(secret_lines.len(), rows.len(), "secrets.jsonl and its manifest disagree");
    let (mut secrets, mut leaks, mut misnamed) = (0, 0, 0);
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_rule: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (n, (line, row)) in secret_lines.iter().zip(&rows).enumerate() {
        assert!(is_json(line), "secrets.jsonl:{} is not JSON to begin with", n + 1);
        let mut counts = BTreeMap::new();
        let out = r.redact(line, &mut counts);
        if !is_json(&out) {
            failures.push(format!("secrets.jsonl:{}: no longer JSON: {}", n + 1, String::from_utf8_lossy(&out)));
        }
        let mut expected: BTreeMap<&str, u64> = BTreeMap::new();
        for secret in row["secrets"].as_array().expect("secrets list") {
            secrets += 1;
            let rule = secret["rule"].as_str().expect("rule");
            *expected.entry(rule).or_default() += 1;
            let needles = secret["needles"].as_array().expect("needles");
            for needle in needles.iter().filter_map(Value::as_str) {
                assert!(
                    contains(line, needle.as_bytes()),
                    "secrets.jsonl:{}: needle {needle:?} not in the input",
                    n + 1
                );
            }
            let entry = per_rule.entry(rule.to_string()).or_insert((0u64, 0u64));
            entry.0 += 1;
            if let Some(needle) = needles.iter().filter_map(Value::as_str).find(|s| contains(&out, s.as_bytes())) {
                entry.1 += 1;
                leaks += 1;
                failures.push(format!("secrets.jsonl:{}: {rule} leaked {needle:?} ({})", n + 1, row["style"]));
            }
        }
        for (rule, want) in expected {
            let got = counts.get(rule).copied().unwrap_or(0);
            if got < want {
                misnamed += 1;
                failures.push(format!("secrets.jsonl:{}: {rule} counted {got}, want {want}; counts {counts:?}", n + 1));
            }
        }
        for (k, v) in counts {
            *totals.entry(k).or_default() += v;
        }
    }

    let buf = read("lookalikes.jsonl");
    let lookalike_lines = lines(&buf);
    let rows = manifest("lookalikes.manifest.jsonl");
    assert_eq!(lookalike_lines.len(), rows.len(), "lookalikes.jsonl and its manifest disagree");
    let mut false_positives = 0;
    for (n, (line, row)) in lookalike_lines.iter().zip(&rows).enumerate() {
        assert!(is_json(line), "lookalikes.jsonl:{} is not JSON to begin with", n + 1);
        let mut counts = BTreeMap::new();
        let out = r.redact(line, &mut counts);
        if *out != **line || !counts.is_empty() {
            false_positives += 1;
            failures.push(format!(
                "lookalikes.jsonl:{}: {} {:?} was redacted: {counts:?}",
                n + 1,
                row["kind"],
                row["text"].as_str().unwrap_or_default()
            ));
        }
    }

    let lookalikes = lookalike_lines.len();
    for (rule, (n, leaked)) in &per_rule {
        println!("  {rule:<22} {n:>3} secrets, {leaked} leaked");
    }
    let figure = format!(
        "secrets corpus: secrets {secrets}, leaks {leaks}, lookalikes {lookalikes}, false positives {false_positives}"
    );
    println!("{figure}");
    // Collected for CI's summary (`.ci/run` prints this file).
    let fig_path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("figures.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(fig_path) {
        use std::io::Write;
        let _ = writeln!(f, "{figure}");
    }
    println!("redactions by rule: {totals:?}");
    assert!(failures.is_empty(), "{} failures (misnamed: {misnamed}):\n{}", failures.len(), failures.join("\n"));
    assert!(secrets >= 300 && lookalikes >= 150, "corpus too small: {secrets} secrets, {lookalikes} look-alikes");
    // Every built-in rule is exercised.
    for name in tracecraft_hook::base::redact::rule_names() {
        assert!(totals.contains_key(*name), "no secret in the corpus for {name}");
    }
}

/// The flush engine hands `redact` any buffer of whole lines: one call over the whole file,
/// or over chunks of a few lines, must give the same bytes and counts as line by line.
#[test]
fn corpus_redacts_the_same_in_any_chunking() {
    let r = redactor();
    let mut buf = read("secrets.jsonl");
    buf.extend_from_slice(&read("lookalikes.jsonl"));
    let all = lines(&buf);

    let mut by_line_counts = BTreeMap::new();
    let by_line: Vec<u8> = all.iter().flat_map(|l| r.redact(l, &mut by_line_counts).into_owned()).collect();

    for chunk in [1, 3, 7, all.len()] {
        let mut counts = BTreeMap::new();
        let out: Vec<u8> = all.chunks(chunk).flat_map(|c| r.redact(&c.concat(), &mut counts).into_owned()).collect();
        assert!(out == by_line, "chunks of {chunk} lines differ from line by line");
        assert_eq!(counts, by_line_counts, "chunks of {chunk} lines");
    }
}

/// Redacting redacted output changes nothing: re-running over a part is harmless.
#[test]
fn corpus_redaction_is_idempotent() {
    let r = redactor();
    let buf = read("secrets.jsonl");
    let once = r.redact(&buf, &mut BTreeMap::new()).into_owned();
    let mut counts = BTreeMap::new();
    let twice = r.redact(&once, &mut counts);
    assert!(counts.is_empty(), "second pass redacted again: {counts:?}");
    assert!(*twice == *once);
}

/// Held-out lines that are known to leak, with why (README, privacy section, lists them):
/// line 40 is a bare Twilio account SID and auth token in code (`Client('AC...', '<hex>')`),
/// with no name and no distinctive prefix for the token.
const KNOWN_HELDOUT_MISSES: &[usize] = &[40];

/// The held-out set (`heldout.py`): written before the rules of issue 11 were tuned, never
/// tuned against. Every secret must be gone and every look-alike untouched, like the main
/// set; the figures are printed per family.
#[test]
fn heldout_secrets_are_gone_and_lookalikes_untouched() {
    let r = redactor();
    let mut failures = Vec::new();
    let buf = read("heldout.jsonl");
    let secret_lines = lines(&buf);
    let rows = manifest("heldout.manifest.jsonl");
    assert_eq!(secret_lines.len(), rows.len(), "heldout.jsonl and its manifest disagree");
    let mut families: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let (mut secrets, mut leaks) = (0, 0);
    for (n, (line, row)) in secret_lines.iter().zip(&rows).enumerate() {
        assert!(is_json(line), "heldout.jsonl:{} is not JSON to begin with", n + 1);
        let out = r.redact(line, &mut BTreeMap::new());
        if !is_json(&out) {
            failures.push(format!("heldout.jsonl:{}: no longer JSON", n + 1));
        }
        let family = row["family"].as_str().expect("family").to_string();
        let entry = families.entry(family.clone()).or_default();
        for needle in row["needles"].as_array().expect("needles").iter().filter_map(Value::as_str) {
            assert!(contains(line, needle.as_bytes()), "heldout.jsonl:{}: needle {needle:?} not in the input", n + 1);
            secrets += 1;
            entry.0 += 1;
            if contains(&out, needle.as_bytes()) {
                leaks += 1;
                entry.1 += 1;
                if !KNOWN_HELDOUT_MISSES.contains(&(n + 1)) {
                    failures.push(format!("heldout.jsonl:{}: {family} leaked {needle:?}", n + 1));
                }
            }
        }
    }
    let buf = read("heldout_lookalikes.jsonl");
    let look_lines = lines(&buf);
    let rows = manifest("heldout_lookalikes.manifest.jsonl");
    assert_eq!(look_lines.len(), rows.len(), "heldout_lookalikes.jsonl and its manifest disagree");
    let mut false_positives = 0;
    for (n, (line, row)) in look_lines.iter().zip(&rows).enumerate() {
        let mut counts = BTreeMap::new();
        let out = r.redact(line, &mut counts);
        if *out != **line {
            false_positives += 1;
            failures.push(format!(
                "heldout_lookalikes.jsonl:{}: {} {:?} was redacted: {counts:?}",
                n + 1,
                row["kind"],
                row["text"].as_str().unwrap_or_default()
            ));
        }
    }
    let figure = format!(
        "held-out corpus: secrets {secrets}, leaks {leaks}, lookalikes {}, false positives {false_positives}",
        look_lines.len()
    );
    println!("{figure}");
    let fig_path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("figures.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(fig_path) {
        use std::io::Write;
        let _ = writeln!(f, "{figure}");
    }
    for (family, (n, leaked)) in &families {
        println!("  held-out {family:<14} {n:>3} secrets, {leaked} leaked");
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
