//! Throughput of `Redactor::redact` on generated Claude Code transcripts.
//!
//! Run with `cargo bench --bench redact`. A plain harness (no criterion, nothing more to
//! compile): it builds 4 MB of transcript-like JSONL (user prompts, assistant text and
//! `tool_use`, tool results with source code, git logs and diffs, file reads with the Read
//! tool's gutter, base64 screenshots), clean and with secrets (14 shapes over the rule set:
//! vendor tokens, AWS pairs, PEM, URL and assignment passwords, JWTs, Docker auths) in one
//! line of 20 or one of 3,
//! and reports MB/s for the whole buffer in one call and for one call per line.
//! Targets (one core, release): >= 1 GB/s clean, >= 300 MB/s with secrets.
//! With `BENCH_JSON` set, each result is also appended to that file as a JSON line
//! (bench/run.sh reads it).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::json;
use tracecraft_hook::base::redact::{ExtraPattern, Redactor};

/// Small deterministic generator (PCG-ish LCG): same corpus on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn chars(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n).map(|_| alphabet[self.below(alphabet.len())] as char).collect()
    }
    fn uuid(&mut self) -> String {
        let h = self.chars(b"0123456789abcdef", 32);
        format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const PROSE: &[&str] = &[
    "I'll look at the failing test first and then fix the task-queue ordering.",
    "The build fails because `disk-usage` is computed before the mask-layer is applied.",
    "Let me check the secret handling in the config loader; it reads the key from the env.",
    "See https://docs.rs/regex/latest/regex/bytes/struct.Regex.html for the API.",
    "The Bearer scheme is used by the upload client; tokens come from the keychain.",
    "Refactor: move the retry loop into its own function and add a backoff with jitter.",
    "Running `cargo test` now. The flaky test was `ask-for-confirmation` in the CLI suite.",
    "This PR updates the README and fixes a typo in the install script (http://localhost:8080).",
];

const CODE: &[&str] = &[
    "fn main() -> Result<(), Box<dyn std::error::Error>> {\n    let cfg = Config::load()?;\n    run(cfg)\n}\n",
    "impl Drop for Guard {\n    fn drop(&mut self) {\n        let _ = std::fs::remove_file(&self.path);\n    }\n}\n",
    "def handler(event, context):\n    client = boto3.client(\"s3\")\n    return client.list_objects_v2(Bucket=event[\"bucket\"])\n",
    "export function useTaskQueue(opts: Options): TaskQueue {\n  const [tasks, setTasks] = useState<Task[]>([]);\n  return { tasks, push: (t) => setTasks([...tasks, t]) };\n}\n",
    "SELECT id, name, created_at FROM users WHERE org_id = $1 ORDER BY created_at DESC LIMIT 50;\n",
    "#[derive(Debug, Clone, Serialize, Deserialize)]\npub struct Part { pub seq: u32, pub uuid: String, pub cursor_range: [u64; 2] }\n",
];

/// One secret in one of the ways it shows up in a transcript.
fn secret(rng: &mut Rng) -> String {
    match rng.below(14) {
        0 => format!("AWS_ACCESS_KEY_ID=AKIA{}\n", rng.chars(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)),
        1 => format!("AWS_SECRET_ACCESS_KEY={}\n", rng.chars(B64, 40)),
        2 => format!("ANTHROPIC_API_KEY=sk-ant-api03-{}AA\n", rng.chars(ALNUM, 93)),
        3 => format!("+OPENAI_API_KEY=sk-proj-{}\n", rng.chars(ALNUM, 120)),
        4 => format!("git remote set-url origin https://ghp_{}@github.com/o/r\n", rng.chars(ALNUM, 36)),
        5 => format!("curl -H 'Authorization: Bearer {}' https://api.example.com\n", rng.chars(ALNUM, 48)),
        6 => format!("DATABASE_URL=postgres://app:{}@db.internal:5432/app\n", rng.chars(ALNUM, 24)),
        8 => format!("  password: \"{}\"\n", rng.chars(ALNUM, 16)),
        9 => format!("export STRIPE_SECRET_KEY=sk_live_{}\n", rng.chars(ALNUM, 99)),
        10 => format!("GITLAB_TOKEN=glpat-{}\n", rng.chars(ALNUM, 20)),
        11 => format!("id_token=eyJhbGciOiJIUzI1NiJ9.eyJ{}.{}\n", rng.chars(ALNUM, 60), rng.chars(ALNUM, 43)),
        12 => format!("AWS Secret Access Key [None]: {}\n", rng.chars(B64, 40)),
        13 => format!("{{\"auths\": {{\"ghcr.io\": {{\"auth\": \"{}\"}}}}}}\n", "dXNlcjpwYXNzd29yZDEyMw=="),
        _ => {
            let body: Vec<String> = (0..12).map(|_| rng.chars(B64, 64)).collect();
            format!("-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n", body.join("\n"))
        }
    }
}

/// A transcript of about `target` bytes; a secret in one line out of `secret_every` (0: none).
/// Without `screenshots`, no base64 images (text is the harder case for the prefilter).
fn transcript(target: usize, secret_every: usize, screenshots: bool) -> Vec<u8> {
    let mut rng = Rng(7);
    let session = rng.uuid();
    let mut out = Vec::with_capacity(target + 64 * 1024);
    let mut parent = rng.uuid();
    while out.len() < target {
        let uuid = rng.uuid();
        let mut text = String::new();
        for _ in 0..1 + rng.below(4) {
            text.push_str(rng.pick(PROSE));
            text.push(' ');
        }
        if secret_every > 0 && rng.below(secret_every) == 0 {
            text.push_str(&secret(&mut rng));
        }
        let common = json!({
            "parentUuid": parent, "isSidechain": false, "userType": "external",
            "cwd": "/home/me/work/project", "sessionId": session, "version": "2.1.3",
            "gitBranch": "main", "uuid": uuid, "timestamp": "2026-11-21T19:15:12.167Z",
        });
        // Mostly text and tool traffic; a screenshot now and then.
        let kind = match rng.below(100) {
            0..15 => 0,
            15..40 => 1,
            40..60 => 2,
            60..78 => 3,
            78..99 => 4,
            _ => 5,
        };
        let kind = if kind == 5 && !screenshots { 4 } else { kind };
        let mut line = match kind {
            0 => json!({"type": "user", "message": {"role": "user", "content": text}}),
            1 => json!({"type": "assistant", "requestId": format!("req_{}", rng.chars(ALNUM, 24)),
                "message": {"id": format!("msg_{}", rng.chars(ALNUM, 24)), "type": "message",
                    "role": "assistant", "model": "claude-sonnet-4-5",
                    "content": [{"type": "text", "text": text}],
                    "usage": {"input_tokens": rng.below(5000), "output_tokens": rng.below(900),
                        "cache_read_input_tokens": rng.below(90000)}}}),
            2 => {
                let cmd = format!("cd /home/me/work/project && {}", text.trim());
                json!({"type": "assistant", "message": {"role": "assistant", "content": [
                    {"type": "tool_use", "id": format!("toolu_{}", rng.chars(ALNUM, 24)),
                     "name": "Bash", "input": {"command": cmd, "description": "Run it"}}]}})
            }
            3 => {
                // A file read: the content with the Read tool's line-number gutter.
                let mut file = String::new();
                for n in 1..=20 + rng.below(120) {
                    let code = rng.pick(CODE);
                    file.push_str(&format!("{n:>6}\u{2192}{}", code.lines().next().unwrap_or("")));
                    file.push('\n');
                }
                file.push_str(&text);
                json!({"type": "user", "message": {"role": "user", "content": [
                    {"tool_use_id": format!("toolu_{}", rng.chars(ALNUM, 24)),
                     "type": "tool_result", "content": file.clone()}]},
                    "toolUseResult": {"type": "text", "file": {"filePath": "/home/me/work/project/src/lib.rs",
                        "content": file, "numLines": 40, "startLine": 1, "totalLines": 40}}})
            }
            4 => {
                // Command output: code, a git log, a diff.
                let mut stdout = String::new();
                for _ in 0..5 + rng.below(40) {
                    stdout.push_str(rng.pick(CODE));
                    stdout.push_str(&format!(
                        "commit {}\n+    let id = \"{}\";\n",
                        rng.chars(b"0123456789abcdef", 40),
                        rng.uuid()
                    ));
                }
                stdout.push_str(&text);
                json!({"type": "user", "message": {"role": "user", "content": [
                    {"tool_use_id": format!("toolu_{}", rng.chars(ALNUM, 24)),
                     "type": "tool_result", "content": stdout.clone(), "is_error": false}]},
                    "toolUseResult": {"stdout": stdout, "stderr": "", "interrupted": false,
                        "isImage": false}})
            }
            _ => {
                // A screenshot: a long base64 blob.
                let len = 10_000 + rng.below(30_000);
                let data = rng.chars(B64, len);
                json!({"type": "user", "message": {"role": "user", "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                     "data": data}}, {"type": "text", "text": text}]}})
            }
        };
        if let (Some(line), Some(common)) = (line.as_object_mut(), common.as_object()) {
            line.extend(common.clone());
        }
        out.extend_from_slice(line.to_string().as_bytes());
        out.push(b'\n');
        parent = uuid;
    }
    out
}

/// CPU time of this thread, from `/proc/thread-self/schedstat` (Linux; its first field is the
/// time on a CPU in ns, brought up to date at each scheduler tick). `None` elsewhere: wall
/// time is reported alone.
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(s.split_whitespace().next()?.parse().ok()?))
}

/// MB/s of `f` over `buf`, run for about `budget`: best and median by wall time, and the
/// mean by the thread's CPU time over the whole run (which the machine's other jobs skew far
/// less; the kernel updates it per scheduler tick, so only a run of many calls is precise).
struct Speed {
    best: f64,
    median: f64,
    cpu_mean: Option<f64>,
}

fn measure(buf: &[u8], budget: Duration, mut f: impl FnMut(&[u8]) -> usize) -> Speed {
    let mut wall = Vec::new();
    let (start, cpu_start) = (Instant::now(), thread_cpu());
    while wall.len() < 5 || start.elapsed() < budget {
        let t = Instant::now();
        black_box(f(black_box(buf)));
        wall.push(t.elapsed().as_secs_f64());
    }
    let cpu = thread_cpu().zip(cpu_start).map(|(b, a)| (b - a).as_secs_f64());
    let mbps = |secs: f64| buf.len() as f64 / secs / 1e6;
    wall.sort_by(f64::total_cmp);
    Speed {
        best: mbps(wall[0]),
        median: mbps(wall[wall.len() / 2]),
        cpu_mean: cpu.filter(|&c| c > 0.0).map(|c| mbps(c / wall.len() as f64)),
    }
}

impl std::fmt::Display for Speed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "wall best {:>6.0} median {:>6.0} MB/s", self.best, self.median)?;
        if let Some(m) = self.cpu_mean {
            write!(f, " | CPU time: mean {m:>6.0} MB/s")?;
        }
        Ok(())
    }
}

/// Append one result to `$BENCH_JSON` when set.
fn record(case: &str, speed: &Speed, target: Option<f64>) {
    append(&json!({
        "kind": "inproc", "bench": "redact", "case": case, "median": speed.median, "best": speed.best,
        "cpu_mean": speed.cpu_mean, "unit": "MB/s", "target": target,
    }));
}

fn append(line: &serde_json::Value) {
    if let Some(path) = std::env::var_os("BENCH_JSON") {
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(f, "{line}");
        }
    }
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: keep that run short.
    let quick = !std::env::args().any(|a| a == "--bench");
    let size = if quick { 256 * 1024 } else { 4 * 1024 * 1024 };
    let budget = Duration::from_millis(if quick { 10 } else { 2000 });
    if quick {
        println!("smoke run (no --bench): small input, timings mean nothing; use `cargo bench --bench redact`");
    }
    // The first redaction of a process builds the keyword prefilter and compiles the
    // patterns of the rules whose keywords it meets (the hook's no-op path builds nothing);
    // later redactions share them.
    let builtin = Redactor::new(&[]).expect("built-in rules compile");
    let clean = transcript(64 * 1024, 0, false);
    let clean_line = clean.split_inclusive(|&b| b == b'\n').nth(3).unwrap_or_default();
    let (t, c) = (Instant::now(), thread_cpu());
    builtin.redact(clean_line, &mut BTreeMap::new());
    let (first, first_cpu) = (t.elapsed(), thread_cpu().zip(c).map(|(b, a)| b - a));
    let secret_lines = transcript(256 * 1024, 1, false);
    let mut counts = BTreeMap::new();
    let (t, c) = (Instant::now(), thread_cpu());
    builtin.redact(&secret_lines, &mut counts);
    let (then, then_cpu) = (t.elapsed(), thread_cpu().zip(c).map(|(b, a)| b - a));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "first redaction of the process (one clean line, {} B): {:.2} ms (CPU {:.2} ms); then the first 256 KB \
         with secrets of every bench shape ({} rules fire): {:.2} ms (CPU {:.2} ms)",
        clean_line.len(),
        ms(first),
        first_cpu.map_or(f64::NAN, ms),
        counts.len(),
        ms(then),
        then_cpu.map_or(f64::NAN, ms),
    );
    append(&json!({"kind": "inproc", "bench": "redact", "case": "first redaction of a process (rule set setup)",
        "median": ms(first), "best": ms(first), "cpu_mean": first_cpu.map(ms), "unit": "ms", "target": null}));
    let with_extra = Redactor::new(&[ExtraPattern { name: "internal_id".into(), regex: r"INT-[0-9]{8}".into() }])
        .expect("valid pattern");

    let scenarios = [
        ("clean", 0, true),
        ("clean, text only", 0, false),
        ("secrets in 1 line of 20", 20, true),
        ("secrets in 1 line of 3, text only", 3, false),
    ];
    for (label, every, screenshots) in scenarios {
        let buf = transcript(size, every, screenshots);
        let lines = buf.split_inclusive(|&b| b == b'\n').count();
        let mut counts = BTreeMap::new();
        let redacted = builtin.redact(&buf, &mut counts).len();
        let total: u64 = counts.values().sum();
        println!(
            "{label}: {:.1} MB, {lines} lines, {total} redactions, output {:.1} MB",
            buf.len() as f64 / 1e6,
            redacted as f64 / 1e6
        );
        for (what, r) in [("built-ins", &builtin), ("built-ins + 1 extra", &with_extra)] {
            let speed = measure(&buf, budget, |b| {
                let mut c = BTreeMap::new();
                r.redact(b, &mut c).len()
            });
            println!("  {what:<22} whole buffer: {speed}");
            let target = (what == "built-ins").then_some(if every == 0 { 1000.0 } else { 300.0 });
            record(&format!("{label}: {what}, whole buffer"), &speed, target);
        }
        let speed = measure(&buf, budget, |b| {
            let mut c = BTreeMap::new();
            b.split_inclusive(|&x| x == b'\n').map(|l| builtin.redact(l, &mut c).len()).sum()
        });
        println!("  {:<22} line by line: {speed}", "built-ins");
        record(&format!("{label}: built-ins, line by line"), &speed, None);
    }
}
