//! The team index (issue 15): `list` and `stats` answer from `<project>/@index/`, and answer
//! the same when it is damaged, missing or incomplete (from meta.json), `doctor` says so,
//! `reindex` rebuilds it; two machines (two HOMEs, two agent ids) write one bucket at once;
//! flushes of different sessions on one machine at once keep each other's entries; the team
//! views (`--by`, `--since/--until`, `--agent`, `--all-projects`, `--csv`); cost against
//! hand-computed values; token totals equal to ccusage's on the same transcripts.
//!
//! The real binary, on the local store and s3s-fs.

mod common;

use std::path::Path;

use common::tools::{require, Tool};
use common::{Backend, Env};
use serde_json::{json, Value};

/// The backends the index is exercised on (the issue asks for s3s-fs and the local store).
fn backends() -> Vec<Backend> {
    common::backends().into_iter().filter(|b| *b != Backend::Moto).collect()
}

/// One assistant API call written the way Claude Code writes it: one line per content
/// block, all with the same `message.id`, `requestId` and usage (the second block with a
/// larger output count, as streaming updates leave it: ccusage counts the first line).
fn call(sid: &str, ts: &str, id: &str, model: &str, u: [u64; 4]) -> String {
    let usage = |out: u64| json!({"input_tokens": u[0], "output_tokens": out, "cache_creation_input_tokens": u[2], "cache_read_input_tokens": u[3]});
    let line = |block: Value, out: u64| {
        json!({
            "type": "assistant", "sessionId": sid, "timestamp": ts, "requestId": format!("req_{id}"),
            "cwd": "/home/dev/app", "version": "2.1.3",
            "message": {"id": format!("msg_{id}"), "type": "message", "role": "assistant", "model": model,
                        "content": [block], "usage": usage(out)}
        })
        .to_string()
            + "\n"
    };
    line(json!({"type": "text", "text": "looking"}), u[1])
        + &line(json!({"type": "tool_use", "id": format!("tu_{id}"), "name": "Read", "input": {}}), u[1] + 7)
}

fn prompt(sid: &str, ts: &str, text: &str) -> String {
    json!({"type": "user", "sessionId": sid, "timestamp": ts, "message": {"role": "user", "content": text}}).to_string()
        + "\n"
}

/// A session with calls on several UTC days and models (`calls`: timestamp, model, usage).
fn session(sid: &str, calls: &[(&str, &str, [u64; 4])]) -> String {
    let mut s = String::new();
    for (i, (ts, model, u)) in calls.iter().enumerate() {
        s += &prompt(sid, ts, &format!("step {i}"));
        s += &call(sid, ts, &format!("{sid}_{i}"), model, *u);
    }
    s
}

const SONNET: &str = "claude-sonnet-4-5-20250929";
const OPUS: &str = "claude-opus-4-5-20251101";
const HAIKU: &str = "claude-haiku-4-5-20251001";
const MYSTERY: &str = "claude-mystery-9";

/// Three sessions over four days (one crossing midnight UTC), four models.
fn fixtures() -> Vec<(&'static str, String)> {
    vec![
        (
            "s-alpha",
            session(
                "s-alpha",
                &[
                    ("2026-03-02T23:59:58.000Z", SONNET, [1_000, 2_000, 10_000, 100_000]),
                    ("2026-03-03T00:00:03.000Z", SONNET, [10, 20, 0, 500]),
                    ("2026-03-03T09:00:00.000Z", HAIKU, [3, 7, 0, 0]),
                ],
            ),
        ),
        ("s-beta", session("s-beta", &[("2026-03-03T08:00:00.000Z", OPUS, [100, 200, 300, 400])])),
        (
            "s-gamma",
            session(
                "s-gamma",
                &[
                    ("2026-03-10T12:00:00.000Z", MYSTERY, [5, 5, 5, 5]),
                    ("2026-04-01T08:00:00.000Z", HAIKU, [1, 1, 1, 1]),
                ],
            ),
        ),
    ]
}

fn ok(e: &Env, args: &[&str]) -> String {
    let out = e.run(args);
    assert!(
        out.status.success(),
        "{args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json_of(e: &Env, args: &[&str]) -> Value {
    serde_json::from_str(&ok(e, args)).unwrap_or_else(|err| panic!("{args:?}: {err}"))
}

fn flush(e: &Env, sid: &str) {
    let p = e.transcript_path(sid);
    ok(e, &["flush", "--transcript", p.to_str().unwrap()]);
}

fn mirror_fixtures(e: &Env) {
    for (sid, text) in fixtures() {
        common::append(&e.transcript_path(sid), text.as_bytes());
        flush(e, sid);
    }
}

fn index_keys(e: &Env) -> Vec<String> {
    e.list_keys(&format!("{}/@index/", e.project))
}

/// `stats --json` without what legitimately differs between sources.
fn numbers(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("source");
    v
}

fn doctor(e: &Env) -> String {
    let out = e.run(&["doctor"]);
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn index_answers_like_meta_json_and_survives_damage_and_loss() {
    for b in backends() {
        let e = Env::new(b, "index-repair");
        mirror_fixtures(&e);
        let keys = index_keys(&e);
        assert!(!keys.is_empty(), "{b:?}: flush wrote the index");
        // Never inside a session's prefix, never taken for a session by the Python CLI's
        // `session list` (every key under <project>/sessions/ ending in /meta.json).
        let under_sessions = e.list_keys(&format!("{}/sessions/", e.project));
        assert_eq!(under_sessions.iter().filter(|k| k.ends_with("/meta.json")).count(), 3, "{under_sessions:?}");
        assert!(under_sessions.iter().all(|k| !k.contains("@index")));

        let from_index = json_of(&e, &["stats", "--json"]);
        assert_eq!(from_index["source"], "index", "{b:?}");
        assert_eq!(from_index["sessions"], 3);
        let list = json_of(&e, &["list", "--json"]);
        assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
        assert!(doctor(&e).contains("team index covers all 3 sessions"), "{}", doctor(&e));

        // A damaged object: same answers, from meta.json; doctor says so; reindex repairs.
        e.put(&keys[0], b"{ not json");
        let damaged = json_of(&e, &["stats", "--json"]);
        assert_eq!(damaged["source"], "meta.json", "{b:?}");
        assert_eq!(numbers(damaged), numbers(from_index.clone()), "{b:?}");
        assert_eq!(json_of(&e, &["list", "--json"]), list, "{b:?}");
        let d = doctor(&e);
        assert!(d.contains("damaged index object") && d.contains("reindex"), "{d}");
        let out = ok(&e, &["reindex"]);
        assert!(out.contains("reindexed 3 sessions"), "{out}");
        let repaired = json_of(&e, &["stats", "--json"]);
        assert_eq!(repaired["source"], "index", "{b:?}");
        assert_eq!(numbers(repaired), numbers(from_index.clone()));
        assert!(doctor(&e).contains("team index covers all 3 sessions"), "{}", doctor(&e));

        // No index at all (and no local copy): same answers, doctor says so.
        for k in index_keys(&e) {
            e.delete(&k);
        }
        let _ = std::fs::remove_dir_all(e.home().join(".tracecraft/state/index"));
        let _ = std::fs::remove_dir_all(e.home().join(".tracecraft/cache/index"));
        let none = json_of(&e, &["stats", "--json"]);
        assert_eq!(none["source"], "meta.json");
        assert_eq!(numbers(none), numbers(from_index.clone()));
        assert_eq!(json_of(&e, &["list", "--json"]), list);
        assert!(doctor(&e).contains("no team index for the 3 sessions"), "{}", doctor(&e));
    }
}

#[test]
fn sessions_without_entries_are_added_by_their_next_flush_and_by_reindex() {
    for b in backends() {
        let e = Env::new(b, "index-missing");
        mirror_fixtures(&e);
        // A session written by someone else (the Python CLI's layout, no index entry).
        let other = "py-0a1b2c3d";
        let line = prompt(other, "2026-03-05T10:00:00Z", "from python");
        e.put(&format!("{}part-00000-0a1b2c3d.jsonl", e.session_prefix(other)), line.as_bytes());
        let meta = json!({"schema_version": 1, "harness": "claude-code", "session_id": other, "agent_id": "py",
            "started_at": "2026-03-05T10:00:00.000000+00:00", "last_uploaded_at": "2026-03-05T10:00:01.000000+00:00",
            "ended_at": null, "total_source_bytes": line.len(), "total_uploaded_bytes": line.len(),
            "redaction_counts": {}, "parts": [{"seq": 0, "uuid": "0a1b2c3d", "cursor_range": [0, line.len()],
            "source_bytes": line.len(), "uploaded_bytes": line.len(), "redactions": {},
            "uploaded_at": "2026-03-05T10:00:01.000000+00:00"}]});
        e.put(&format!("{}meta.json", e.session_prefix(other)), meta.to_string().as_bytes());
        let ids = |v: Value| -> Vec<String> {
            v.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
        };
        assert!(!ids(json_of(&e, &["list", "--json"])).contains(&other.to_string()), "not indexed yet");
        let d = doctor(&e);
        assert!(d.contains("1 of 4 sessions are not in the index") && d.contains(other), "{d}");
        ok(&e, &["reindex"]);
        assert!(ids(json_of(&e, &["list", "--json"])).contains(&other.to_string()), "reindexed");
        assert_eq!(json_of(&e, &["stats", "--json"])["sessions"], 4);

        // The index lost (objects and this machine's copy): the next flush of a session puts
        // it back, the others come back with reindex.
        for k in index_keys(&e) {
            e.delete(&k);
        }
        std::fs::remove_dir_all(e.home().join(".tracecraft/state/index")).unwrap();
        let more = session("s-beta", &[("2026-03-04T10:00:00.000Z", OPUS, [1, 1, 1, 1])]);
        common::append(&e.transcript_path("s-beta"), more.as_bytes());
        flush(&e, "s-beta");
        assert_eq!(ids(json_of(&e, &["list", "--json"])), ["s-beta"]);
        ok(&e, &["reindex"]);
        assert_eq!(ids(json_of(&e, &["list", "--json"])).len(), 4);
        // A deleted session leaves the index after reindex.
        for k in e.list_keys(&e.session_prefix("s-gamma")) {
            e.delete(&k);
        }
        assert!(doctor(&e).contains("1 index entry name sessions no longer in the store"), "{}", doctor(&e));
        let out = ok(&e, &["reindex"]);
        assert!(out.contains("1 entry of deleted sessions retired"), "{out}");
        assert!(!ids(json_of(&e, &["list", "--json"])).contains(&"s-gamma".to_string()));
    }
}

/// Run `tracecraft-hook flush` for each (env, agent, project, sid) at once; wait for all.
fn flush_all_at_once(jobs: &[(&Env, &str, &str, String)]) {
    let children: Vec<_> = jobs
        .iter()
        .map(|(e, agent, project, sid)| {
            let p = e.transcript_path(sid);
            let mut c = e.cmd(&["flush", "--transcript", p.to_str().unwrap()]);
            c.env("TRACECRAFT_AGENT", agent).env("TRACECRAFT_PROJECT", project);
            c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn two_machines_and_concurrent_flushes_keep_every_entry() {
    let Some(a) = Env::try_new(Backend::S3s, "index-two-machines") else { return };
    let Some(b) = Env::try_new(Backend::S3s, "index-two-machines-b") else { return };
    let project = a.project.clone();
    let mut jobs = Vec::new();
    for (env, agent) in [(&a, "machine-a"), (&b, "machine-b")] {
        for i in 0..4 {
            let sid = format!("{agent}-s{i}");
            let ts = format!("2026-05-0{}T10:00:00Z", i + 1);
            let text = session(&sid, &[(ts.as_str(), SONNET, [1, 2, 3, 4])]);
            common::append(&env.transcript_path(&sid), text.as_bytes());
            jobs.push((env, agent, project.as_str(), sid));
        }
    }
    flush_all_at_once(&jobs);
    let list = json_of(&a, &["list", "--json", "--limit", "0"]);
    assert_eq!(list.as_array().unwrap().len(), 8, "{list}");
    let agents: std::collections::BTreeSet<String> =
        index_keys(&a).iter().map(|k| k.split('/').nth(2).unwrap().to_string()).collect();
    assert_eq!(agents.into_iter().collect::<Vec<_>>(), ["machine-a", "machine-b"]);
    // Every session is in its machine's own objects (four concurrent flushes per machine).
    for agent in ["machine-a", "machine-b"] {
        let mut ids = std::collections::BTreeSet::new();
        for k in index_keys(&a).iter().filter(|k| k.contains(&format!("/@index/{agent}/"))) {
            let doc: Value = serde_json::from_slice(&a.get(k).unwrap()).unwrap();
            for e in doc["entries"].as_array().unwrap() {
                ids.insert(e["id"].as_str().unwrap().to_string());
            }
        }
        assert_eq!(ids.len(), 4, "{agent}: {ids:?}");
    }
    let mine = json_of(&a, &["list", "--json", "--agent", "machine-b"]);
    assert_eq!(mine.as_array().unwrap().len(), 4);
    assert!(mine.as_array().unwrap().iter().all(|r| r["agent"] == "machine-b"));
    let by_agent = json_of(&a, &["stats", "--json", "--by", "agent"]);
    let groups = by_agent["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{by_agent}");
    for g in groups {
        assert_eq!(g["sessions"], 4);
        assert_eq!(g["input"], 4);
    }
    assert_eq!(json_of(&a, &["stats", "--json", "--agent", "machine-a"])["sessions"], 4);
}

#[test]
fn team_views_by_period_session_model_agent_project_and_csv() {
    for b in backends() {
        let e = Env::new(b, "index-views");
        mirror_fixtures(&e);
        let day = json_of(&e, &["stats", "--json", "--by", "day"]);
        let keys: Vec<&str> = day["groups"].as_array().unwrap().iter().map(|g| g["key"].as_str().unwrap()).collect();
        // alpha's first call is at 23:59:58 on the 2nd, its second 5 s later on the 3rd.
        assert_eq!(keys, ["2026-03-02", "2026-03-03", "2026-03-10", "2026-04-01"], "{day}");
        let g = |v: &Value, k: &str| v["groups"].as_array().unwrap().iter().find(|g| g["key"] == k).cloned().unwrap();
        assert_eq!(g(&day, "2026-03-02")["input"], 1_000);
        assert_eq!(g(&day, "2026-03-03")["input"], 10 + 3 + 100);
        assert_eq!(g(&day, "2026-03-03")["sessions"], 2);
        let week = json_of(&e, &["stats", "--json", "--by", "week"]);
        // 2026-03-02 is a Monday: the 2nd and 3rd are one week.
        assert_eq!(g(&week, "2026-03-02")["input"], 1_000 + 113);
        let month = json_of(&e, &["stats", "--json", "--by", "month"]);
        assert_eq!(month["groups"].as_array().unwrap().len(), 2);
        assert_eq!(g(&month, "2026-04")["total"], 4);
        let by_session = json_of(&e, &["stats", "--json", "--by", "session"]);
        assert_eq!(by_session["groups"][0]["key"], "s-alpha", "largest first");
        let by_model = json_of(&e, &["stats", "--json", "--by", "model"]);
        assert_eq!(g(&by_model, HAIKU)["input"], 4);
        let proj = json_of(&e, &["stats", "--json", "--by", "project"]);
        assert_eq!(proj["groups"][0]["key"], e.project.as_str());

        // --since/--until cut tokens by day.
        let cut = json_of(&e, &["stats", "--json", "--since", "2026-03-03", "--until", "2026-03-03"]);
        assert_eq!(cut["tokens"][SONNET]["input"], 10);
        assert_eq!(cut["tokens"][OPUS]["input"], 100);
        assert!(cut["tokens"].get(MYSTERY).is_none(), "{cut}");
        let late = json_of(&e, &["stats", "--json", "--since", "2026-04-01"]);
        assert_eq!(late["tokens"][HAIKU]["input"], 1);

        // CSV: a header and one row per group.
        let csv = ok(&e, &["stats", "--csv", "--by", "day"]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "key,sessions,input,output,cache_creation,cache_read,total,cost_usd,unpriced_tokens");
        assert_eq!(lines.len(), 5, "{csv}");
        assert!(lines[1].starts_with("2026-03-02,1,1000,2000,10000,100000,113000,0.100500,0"), "{csv}");
        let text = ok(&e, &["stats", "--by", "month"]);
        assert!(text.contains("by month:") && text.contains("2026-04"), "{text}");

        // A second project in the same bucket: --all-projects sees both.
        let second = format!("{}-two", e.project);
        let sid = "s-other-project";
        common::append(
            &e.transcript_path(sid),
            session(sid, &[("2026-03-04T01:00:00Z", HAIKU, [9, 9, 9, 9])]).as_bytes(),
        );
        let p = e.transcript_path(sid);
        let out =
            e.cmd(&["flush", "--transcript", p.to_str().unwrap()]).env("TRACECRAFT_PROJECT", &second).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let all = json_of(&e, &["list", "--json", "--all-projects"]);
        let projects: std::collections::BTreeSet<&str> =
            all.as_array().unwrap().iter().map(|r| r["project"].as_str().unwrap()).collect();
        assert!(projects.contains(e.project.as_str()) && projects.contains(second.as_str()), "{all}");
        let text = ok(&e, &["list", "--all-projects"]);
        assert!(text.contains(&format!("{second}/{sid}")), "{text}");
        let by_project = json_of(&e, &["stats", "--json", "--all-projects", "--by", "project"]);
        assert_eq!(g(&by_project, &second)["input"], 9, "{by_project}");
        assert_eq!(json_of(&e, &["stats", "--json"])["sessions"], 3, "this project only");
    }
}

#[test]
fn cost_matches_hand_computed_prices_and_unknown_models_have_none() {
    let e = Env::new(Backend::Local, "index-cost");
    mirror_fixtures(&e);
    let r = json_of(&e, &["stats", "--json"]);
    let cost = |m: &str| r["models"].as_array().unwrap().iter().find(|x| x["model"] == m).unwrap()["cost_usd"].clone();
    // Sonnet 4.5 ($3 in, $15 out, $3.75 cache write, $0.30 cache read per million):
    // 1,010 in, 2,020 out, 10,000 write, 100,500 read = 0.00303 + 0.0303 + 0.0375 + 0.03015.
    let sonnet = 0.00303 + 0.0303 + 0.0375 + 0.03015;
    assert!((cost(SONNET).as_f64().unwrap() - sonnet).abs() < 1e-12, "{r}");
    // Opus 4.5 ($5, $25, $6.25, $0.50): 100 in, 200 out, 300 write, 400 read.
    let opus = (100.0 * 5.0 + 200.0 * 25.0 + 300.0 * 6.25 + 400.0 * 0.5) / 1e6;
    assert!((cost(OPUS).as_f64().unwrap() - opus).abs() < 1e-12);
    // Haiku 4.5 ($1, $5, $1.25, $0.10): 4 in, 8 out, 1 write, 1 read.
    let haiku = (4.0 + 8.0 * 5.0 + 1.25 + 0.1) / 1e6;
    assert!((cost(HAIKU).as_f64().unwrap() - haiku).abs() < 1e-15);
    assert_eq!(cost(MYSTERY), Value::Null, "no guessed price");
    assert_eq!(r["unpriced_models"], json!([MYSTERY]));
    assert!((r["cost_usd"].as_f64().unwrap() - (sonnet + opus + haiku)).abs() < 1e-12);
    let text = ok(&e, &["stats"]);
    assert!(text.contains("no price for claude-mystery-9"), "{text}");

    // The config prices a model the table does not know, and overrides one it does.
    e.write_config_value(&json!({"backend": "local", "project": e.project, "pricing": {
        MYSTERY: {"input": 1000000, "output": 0, "cache_write": 0, "cache_read": 0},
        "claude-opus-4-5": {"input": 0, "output": 0, "cache_write": 0, "cache_read": 0}
    }}));
    let r = json_of(&e, &["stats", "--json"]);
    assert_eq!(r["unpriced_models"], json!([]));
    assert!((r["cost_usd"].as_f64().unwrap() - (sonnet + haiku + 5.0)).abs() < 1e-9, "{r}");
    e.write_config_value(&json!({"backend": "local", "pricing": {MYSTERY: {"input": "cheap"}}}));
    let out = e.run(&["stats"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("pricing") && err.contains(MYSTERY), "{err}");
}

/// ccusage's `daily --json` for the transcripts under `home`, in UTC.
fn ccusage_daily(bin: &Path, home: &Path) -> Value {
    let out = std::process::Command::new(bin)
        .args(["daily", "--json", "--offline", "--timezone", "UTC", "--mode", "display"])
        .env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert!(out.status.success(), "ccusage: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("ccusage output: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn token_totals_equal_ccusage_per_day_and_per_model() {
    let Some(bin) = require(Tool::Ccusage) else { return };
    let e = Env::new(Backend::Local, "index-ccusage");
    mirror_fixtures(&e);
    // And the realistic fixture of tests/insight.rs (repeated ids, synthetic messages, errors).
    let real =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/insight/session.jsonl")).unwrap();
    common::append(&e.transcript_path("s-real"), &real);
    flush(&e, "s-real");
    let cc = ccusage_daily(&bin, e.home());
    let ours = json_of(&e, &["stats", "--json", "--by", "day"]);
    let days = cc["daily"].as_array().unwrap_or_else(|| panic!("{cc}"));
    assert!(days.len() >= 5, "{cc}");
    for d in days {
        let date = d["date"].as_str().unwrap();
        let g = ours["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["key"] == date)
            .unwrap_or_else(|| panic!("{date}: {ours}"));
        for (theirs, mine) in [
            ("inputTokens", "input"),
            ("outputTokens", "output"),
            ("cacheCreationTokens", "cache_creation"),
            ("cacheReadTokens", "cache_read"),
            ("totalTokens", "total"),
        ] {
            assert_eq!(d[theirs], g[mine], "{date} {theirs}: ccusage {d} ours {g}");
        }
    }
    assert_eq!(ours["groups"].as_array().unwrap().len(), days.len());
    // Per model, over all days.
    let mut models: std::collections::BTreeMap<String, [u64; 4]> = Default::default();
    for d in days {
        for m in d["modelBreakdowns"].as_array().unwrap() {
            let t = models.entry(m["modelName"].as_str().unwrap().to_string()).or_default();
            for (i, k) in ["inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens"].iter().enumerate() {
                t[i] += m[k].as_u64().unwrap();
            }
        }
    }
    let mine: std::collections::BTreeMap<String, [u64; 4]> = ours["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let n = |k: &str| m[k].as_u64().unwrap();
            (m["model"].as_str().unwrap().to_string(), [n("input"), n("output"), n("cache_creation"), n("cache_read")])
        })
        .collect();
    assert_eq!(mine, models);
}

/// `stats` with its request line: (stdout, the `GET n` count).
fn stats_counted(e: &Env, args: &[&str]) -> (String, u64) {
    let out = e.cmd(args).env("TRACECRAFT_REQUESTS", "1").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?}: {err}");
    let line = err.lines().find(|l| l.starts_with("requests (stats)")).unwrap_or_else(|| panic!("{err}"));
    let gets = line.split_whitespace().skip_while(|w| *w != "GET").nth(1).unwrap().parse().unwrap();
    (String::from_utf8(out.stdout).unwrap(), gets)
}

#[test]
fn unchanged_stats_reads_no_index_object_and_any_change_is_seen() {
    for b in backends() {
        let e = Env::new(b, "stats-unchanged");
        mirror_fixtures(&e);
        let (first, _) = stats_counted(&e, &["stats", "--json"]);
        // Nothing changed: the listing alone says so; no index object is read again.
        let (again, gets) = stats_counted(&e, &["stats", "--json"]);
        assert_eq!(again, first, "{b:?}");
        assert_eq!(gets, 0, "{b:?}: unchanged stats read index objects");
        // Other arguments, other answer (kept apart).
        let (by_day, _) = stats_counted(&e, &["stats", "--json", "--by", "day"]);
        assert_ne!(by_day, first);
        assert_eq!(stats_counted(&e, &["stats", "--json", "--by", "day"]).0, by_day);
        let (text, _) = stats_counted(&e, &["stats"]);
        assert_eq!(stats_counted(&e, &["stats"]).0, text, "{b:?}");
        // A flush changes the index: the next answer counts it, as a fresh reader would.
        let (sid, _) = fixtures()[0].clone();
        let more = call(sid, "2026-11-20T10:00:00.000Z", "more", SONNET, [7, 11, 13, 17]);
        common::append(&e.transcript_path(sid), more.as_bytes());
        // (At once: a running session's progress is otherwise indexed every 5 minutes.)
        let p = e.transcript_path(sid);
        let out = e
            .cmd(&["flush", "--transcript", p.to_str().unwrap()])
            .env("TRACECRAFT_INDEX_INTERVAL", "0")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let (after, _) = stats_counted(&e, &["stats", "--json"]);
        assert_ne!(after, first, "{b:?}: the flush was not seen");
        let _ = std::fs::remove_dir_all(e.home().join(".tracecraft/cache"));
        let (fresh, gets) = stats_counted(&e, &["stats", "--json"]);
        assert!(gets > 0);
        assert_eq!(after, fresh, "{b:?}");
    }
}
