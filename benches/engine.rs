//! In-process cost of the flush engine's pieces other than redaction (`benches/redact.rs`):
//! line-boundary scanning (`Transcript::next_chunk`), the prefix fingerprint, meta.json
//! upkeep for a session of 1000 parts (`Meta::upsert_part`, `to_bytes`, `parse`), part key
//! building (`layout::part_hex` + `part_name`), the session insight counts the flush keeps
//! from every uploaded line (`insight::Stats::update_at`), sha256 of a part, the hook's
//! no-op check (`state::nothing_new`) and one atomic state write (`state::save`: temp file,
//! fsync, rename), and client-side encryption of one part (`age::encrypt`, `age::decrypt`).
//!
//! Run with `cargo bench --bench engine`. A plain harness: each case runs for a time budget
//! and reports the median and best time per operation (or MB/s). `cargo test --benches`
//! runs it once on small inputs (a smoke run: the numbers mean nothing). With `BENCH_JSON`
//! set, each result is also appended to that file as a JSON line (bench/run.sh reads it).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use tracecraft_hook::session::insight::Stats;
use tracecraft_hook::session::layout::{part_hex, part_name};
use tracecraft_hook::session::meta::{Meta, PartEntry};
use tracecraft_hook::session::state::{self, nothing_new, State};
use tracecraft_hook::session::transcript::Transcript;

/// Seconds per call of `f`: (median, best), over at least 5 calls and about `budget`.
fn time_it(budget: Duration, mut f: impl FnMut()) -> (f64, f64) {
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 5 || start.elapsed() < budget {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0])
}

/// Print one result and append it to `$BENCH_JSON` when set.
fn report(case: &str, median: f64, best: f64, unit: &str, target: Option<f64>) {
    println!("  {case:<52} median {median:>12.2} {unit:<6} best {best:>12.2} {unit}");
    if let Some(path) = std::env::var_os("BENCH_JSON") {
        let line = serde_json::json!({
            "kind": "inproc", "bench": "engine", "case": case, "median": median, "best": best,
            "unit": unit, "target": target,
        });
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// Transcript-like JSONL of about `target` bytes: lines of 200 B to 20 KB.
fn transcript(target: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(target + 32 * 1024);
    let mut x: u64 = 7;
    while out.len() < target {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let n = 200 + (x >> 33) as usize % 20_000;
        out.extend_from_slice(br#"{"type":"user","message":{"role":"user","content":""#);
        out.extend(std::iter::repeat_n(b'a' + (x % 26) as u8, n));
        out.extend_from_slice(b"\"}}\n");
    }
    out
}

/// Claude Code-shaped JSONL of about `target` bytes: prompts, assistant text with usage,
/// tool calls and tool results (what the insight counter parses).
fn claude_lines(target: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(target + 32 * 1024);
    let mut n = 0u64;
    while out.len() < target {
        n += 1;
        let common = serde_json::json!({
            "parentUuid": format!("{n:08x}-0000-4000-8000-000000000000"), "isSidechain": false,
            "userType": "external", "cwd": "/home/me/work/project", "sessionId": "bench-session",
            "version": "2.1.3", "gitBranch": "main", "uuid": format!("{:08x}-0000-4000-8000-000000000000", n + 1),
            "timestamp": "2026-11-21T19:15:12.167Z",
        });
        let body = match n % 4 {
            0 => {
                serde_json::json!({"type": "user", "message": {"role": "user", "content": "please fix the failing test"}})
            }
            1 => serde_json::json!({"type": "assistant", "message": {"id": format!("msg_{n}"), "role": "assistant",
                "model": "claude-sonnet-4-5", "content": [{"type": "text", "text": "I'll look at the test first."}],
                "usage": {"input_tokens": 1200, "output_tokens": 80, "cache_read_input_tokens": 40000}}}),
            2 => serde_json::json!({"type": "assistant", "message": {"id": format!("msg_{n}"), "role": "assistant",
                "model": "claude-sonnet-4-5", "content": [{"type": "tool_use", "id": format!("toolu_{n}"),
                "name": "Bash", "input": {"command": "cargo test 2>&1 | tail -50"}}],
                "usage": {"input_tokens": 1300, "output_tokens": 40}}}),
            _ => serde_json::json!({"type": "user", "message": {"role": "user", "content": [{"type": "tool_result",
                "tool_use_id": format!("toolu_{}", n - 1), "content": "running 94 tests\n...\n".repeat(200)}]},
                "toolUseResult": {"stdout": "running 94 tests\n...\n".repeat(200), "stderr": ""}}),
        };
        let mut line = body;
        if let (Some(l), Some(c)) = (line.as_object_mut(), common.as_object()) {
            l.extend(c.clone());
        }
        out.extend_from_slice(line.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

fn part(seq: u32, from: u64, to: u64) -> PartEntry {
    PartEntry {
        seq,
        uuid: part_hex("bench-session", seq, from),
        cursor_range: Some([from, to]),
        source_bytes: Some(to - from),
        uploaded_bytes: to - from,
        redactions: Some(BTreeMap::from([("aws_access_key".to_string(), 1)])),
        uploaded_at: Some("2026-11-21T19:15:12.167146+00:00".into()),
        sha256: Some("ab".repeat(32)),
        source_sha256: Some("cd".repeat(32)),
        ..Default::default()
    }
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let budget = Duration::from_millis(if quick { 5 } else { 1000 });
    if quick {
        println!("smoke run (no --bench): small inputs, timings mean nothing; use `cargo bench --bench engine`");
    }
    let dir = tempfile::tempdir().expect("temp dir");

    // Line-boundary scanning over a file in the page cache: what a flush reads per part.
    let size = if quick { 1 << 20 } else { 64 << 20 };
    let path = dir.path().join("t.jsonl");
    std::fs::write(&path, transcript(size)).expect("write transcript");
    let mut t = Transcript::open(&path).expect("open");
    let len = t.len;
    let (med, best) = time_it(budget, || {
        let mut from = 0;
        while let Some(c) = t.next_chunk(from, false).expect("chunk") {
            from = c.to;
            black_box(&c.bytes);
        }
        assert_eq!(from, len);
    });
    println!("transcript ({:.0} MB file):", len as f64 / 1e6);
    report("next_chunk: scan the whole file in parts", len as f64 / med / 1e6, len as f64 / best / 1e6, "MB/s", None);
    let (med, best) = time_it(budget, || {
        let fp = t.fingerprint(len).expect("fingerprint");
        assert!(t.prefix_intact(len, &fp).expect("check"));
    });
    report("fingerprint + prefix_intact (2 x 2 x 4 KiB hashed)", med * 1e6, best * 1e6, "us", None);

    // Session insight over one part's worth of lines.
    let lines = claude_lines(if quick { 256 << 10 } else { 8 << 20 });
    let (med, best) = time_it(budget, || {
        let mut stats = Stats::default();
        stats.update_at(0, black_box(&lines));
        black_box(stats);
    });
    println!("insight ({:.1} MB of Claude Code lines):", lines.len() as f64 / 1e6);
    let mbps = |secs: f64| lines.len() as f64 / secs / 1e6;
    report("Stats::update_at (count every line)", mbps(med), mbps(best), "MB/s", None);
    let (med, best) = time_it(budget, || {
        black_box(tracecraft_hook::base::util::sha256_hex(black_box(&lines)));
    });
    report("sha256_hex (each part is hashed twice)", mbps(med), mbps(best), "MB/s", None);

    // meta.json of a session of 1000 parts.
    let n = 1000u32;
    let mut meta = Meta::new("bench-session");
    for seq in 0..n {
        meta.upsert_part(part(seq, u64::from(seq) * 1000, u64::from(seq + 1) * 1000));
    }
    let bytes = meta.to_bytes();
    println!("meta.json with {n} parts ({:.0} KB):", bytes.len() as f64 / 1e3);
    let (med, best) = time_it(budget, || {
        meta.upsert_part(black_box(part(n - 1, u64::from(n - 1) * 1000, u64::from(n) * 1000 + 7)));
    });
    report("upsert_part (replace the last part)", med * 1e6, best * 1e6, "us", None);
    let (med, best) = time_it(budget, || {
        let mut m = meta.clone();
        m.upsert_part(black_box(part(n, u64::from(n) * 1000, u64::from(n + 1) * 1000)));
        black_box(m);
    });
    report("clone + upsert_part (append part 1001)", med * 1e6, best * 1e6, "us", None);
    let (med, best) = time_it(budget, || {
        black_box(meta.to_bytes());
    });
    report("to_bytes", med * 1e6, best * 1e6, "us", None);
    let (med, best) = time_it(budget, || {
        black_box(Meta::parse(black_box(&bytes)).expect("parse"));
    });
    report("parse", med * 1e6, best * 1e6, "us", None);

    // Keys.
    println!("layout:");
    let mut seq = 0u32;
    let (med, best) = time_it(budget, || {
        for _ in 0..1000 {
            seq = seq.wrapping_add(1);
            black_box(part_name(seq % 100_000, &part_hex("60d02b3f-e256-40f7-8986-d87f2eebff47", seq, 123_456)));
        }
    });
    report("part_hex + part_name", med * 1e6, best * 1e6, "ns", None);

    // The hook's no-op decision and one state write.
    let state_path = dir.path().join("s.json");
    let md = std::fs::metadata(&path).expect("stat");
    let mtime = {
        use std::os::unix::fs::MetadataExt;
        i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec())
    };
    let st = State {
        version: 1,
        session_id: "bench-session".into(),
        transcript: path.clone(),
        dest: "s3\nhttp://127.0.0.1:9000\nb\np".into(),
        cursor: len,
        next_seq: n,
        seen_len: len,
        seen_mtime_ns: mtime,
        fingerprint: t.fingerprint(len).expect("fingerprint"),
        ..Default::default()
    };
    state::save(&state_path, &st).expect("save state");
    println!("hook no-op path:");
    let (med, best) = time_it(budget, || assert!(nothing_new(&state_path, &path, false)));
    report("nothing_new (read state, stat transcript)", med * 1e6, best * 1e6, "us", None);
    let (med, best) = time_it(budget, || state::save(&state_path, black_box(&st)).expect("save"));
    report("state::save (temp file, fsync, rename)", med * 1e6, best * 1e6, "us", None);

    encryption(quick, budget);
}

/// Client-side encryption: what sealing a part costs (one ChaCha20-Poly1305 pass). The
/// whole flush, plain vs encrypted, is bench/run.sh's `s3.big.age` row (target <= 1.2x).
fn encryption(quick: bool, budget: Duration) {
    use tracecraft_hook::base::age;

    let id = age::Identity::generate().expect("identity");
    let recipients = [id.recipient()];
    let part = claude_lines(if quick { 256 << 10 } else { 8 << 20 });
    println!("encryption (age v1, one recipient, {:.1} MB part):", part.len() as f64 / 1e6);
    let mbps = |secs: f64| part.len() as f64 / secs / 1e6;
    let (med, best) = time_it(budget, || {
        black_box(age::encrypt(&recipients, black_box(&part)).expect("encrypt"));
    });
    report("age::encrypt (ChaCha20-Poly1305 STREAM)", mbps(med), mbps(best), "MB/s", None);
    let sealed = age::encrypt(&recipients, &part).expect("encrypt");
    let ids = [id];
    let (med, best) = time_it(budget, || {
        black_box(age::decrypt(&ids, black_box(&sealed)).expect("decrypt"));
    });
    report("age::decrypt", mbps(med), mbps(best), "MB/s", None);
}
