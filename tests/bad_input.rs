//! Bad input never crashes the hook and never loses or misplaces data. The corpus lives in
//! `tests/corpus/bad_input/` (one payload per file, `cases.json` says what each is and how
//! many warning/error lines it must log); a few cases too big or too dynamic for files are
//! generated here. For every case the hook exits 0 with empty stdout, logs the expected
//! number of WARN/ERROR lines, and no object appears outside a valid session's prefix.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Backend, Env};
use serde_json::Value;

fn problems(env: &Env) -> usize {
    fs::read_to_string(env.home().join(".tracecraft/hook.log"))
        .map(|s| s.lines().filter(|l| l.contains(" ERROR ") || l.contains(" WARN ")).count())
        .unwrap_or(0)
}

fn assert_no_stray_objects(env: &Env) {
    let prefix = format!("{}/sessions/claude-code/", env.project);
    let index = format!("{}/@index/", env.project);
    // Besides the sessions: this machine's team index objects (issue 15), named by date.
    for key in env.project_keys() {
        if let Some(rest) = key.strip_prefix(&index) {
            let name = rest.rsplit('/').next().unwrap_or_default();
            assert!(
                name.ends_with(".json") && name[..name.len() - 5].bytes().all(|b| b.is_ascii_digit() || b == b'-'),
                "unexpected index object {key}"
            );
            continue;
        }
        let rest = key.strip_prefix(&prefix).unwrap_or_else(|| panic!("object outside the sessions prefix: {key}"));
        let (sid, name) = rest.split_once('/').unwrap_or_else(|| panic!("object outside a session prefix: {key}"));
        assert!(sid.starts_with("bad-input-") && !name.contains('/'), "unexpected object {key}");
    }
}

fn check_output(what: &str, out: &std::process::Output) {
    assert!(out.status.success(), "{what}: exit {:?}", out.status);
    assert!(out.stdout.is_empty(), "{what}: stdout {:?}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn corpus_of_bad_payloads() {
    let env = Env::new(Backend::Local, "bad-input");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/bad_input");
    let manifest: Value = serde_json::from_slice(&fs::read(dir.join("cases.json")).unwrap()).unwrap();
    env.write_transcript("bad-input-ok", 3, 0);
    let transcript = env.transcript_path("bad-input-ok");
    let cases = manifest["cases"].as_array().unwrap();
    assert!(cases.len() >= 30, "the corpus keeps at least 30 cases");
    for case in cases {
        let file = case["file"].as_str().unwrap();
        let raw = fs::read(dir.join(file)).unwrap();
        let text = String::from_utf8_lossy(&raw);
        let input = if text.contains("@TRANSCRIPT@") || text.contains("@CWD@") {
            let t = serde_json::to_string(transcript.to_str().unwrap()).unwrap();
            let c = serde_json::to_string(env.project_dir().to_str().unwrap()).unwrap();
            text.replace("\"@TRANSCRIPT@\"", &t).replace("\"@CWD@\"", &c).into_bytes()
        } else {
            raw
        };
        let before = problems(&env);
        let mut cmd = env.cmd(&["hook"]);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(&input);
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        check_output(file, &out);
        let logged = problems(&env) - before;
        assert_eq!(logged, case["log_lines"].as_u64().unwrap() as usize, "{file}: {}", case["what"]);
    }
    assert_eq!(env.replay("bad-input-ok"), fs::read(&transcript).unwrap());
    assert_no_stray_objects(&env);
    // Nothing but our own directories appeared in HOME.
    let mut entries: Vec<_> = fs::read_dir(env.home()).unwrap().map(|e| e.unwrap().file_name()).collect();
    entries.sort();
    for e in entries {
        let e = e.to_string_lossy().into_owned();
        assert!(e == ".tracecraft" || e == ".claude" || e.starts_with("proj-"), "stray {e} in HOME");
    }
}

#[test]
fn payload_of_100_mb_is_refused_quickly() {
    let env = Env::new(Backend::Local, "bad-input-huge");
    let mut cmd = env.cmd(&["hook"]);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let t = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(b"{\"session_id\":\"bad-input-huge\",\"hook_event_name\":\"Stop\",\"x\":\"");
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..100 {
            if stdin.write_all(&chunk).is_err() {
                break; // the hook stopped reading: fine
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    check_output("100 MB payload", &out);
    assert!(t.elapsed() < Duration::from_secs(20));
    let log = fs::read_to_string(env.home().join(".tracecraft/hook.log")).unwrap();
    assert!(log.contains("larger than"), "{log}");
}

#[test]
fn stdin_never_closed() {
    let env = Env::new(Backend::Local, "bad-input-open");
    let sid = "bad-input-open";
    env.write_transcript(sid, 2, 0);
    // A full payload and stdin left open: handled without waiting for EOF.
    let out =
        env.run_hook_stdin_open(&env.payload("UserPromptSubmit", sid), Duration::from_secs(20)).expect("hook exits");
    check_output("stdin open", &out);
    assert_eq!(env.replay(sid), fs::read(env.transcript_path(sid)).unwrap());
    // Nothing at all and stdin left open: gives up after its time limit.
    let mut cmd = env.cmd(&["hook"]);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let t = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let _keep_open = child.stdin.take();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "hook waited forever on an open, empty stdin");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    assert!(t.elapsed() >= Duration::from_secs(4));
}

#[test]
fn transcript_with_a_50_mb_line_and_invalid_utf8() {
    let env = Env::new(Backend::Local, "bad-input-big-line");
    let sid = "bad-input-big-line";
    let p = env.transcript_path(sid);
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"{\"type\":\"user\",\"bad\":\"\xff\xfe\xc3\x28\"}\n");
    bytes.extend_from_slice(b"{\"type\":\"tool_result\",\"content\":\"");
    bytes.extend(std::iter::repeat_n(b'q', 50 * 1024 * 1024));
    bytes.extend_from_slice(b"\"}\n{\"after\":1}\n");
    fs::write(&p, &bytes).unwrap();
    let out = env.run_hook(&env.payload("Stop", sid));
    check_output("50 MB line", &out);
    assert_eq!(env.replay(sid), bytes);
}

#[test]
fn non_utf8_transcript_path_by_hand() {
    use std::os::unix::ffi::OsStrExt;
    let env = Env::new(Backend::Local, "bad-input-path");
    let name = std::ffi::OsStr::from_bytes(b"weird-\xff-name.jsonl");
    let p = env.project_dir().join(name);
    fs::write(&p, b"{\"a\":1}\n").unwrap();
    let out = env.cmd(&["flush", "--session-id", "bad-input-path", "--transcript"]).arg(&p).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(env.replay("bad-input-path"), b"{\"a\":1}\n");
    // Without --session-id the id would come from the file name, which is not a valid id.
    let out = env.cmd(&["flush", "--transcript"]).arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid session id"));
}

#[test]
fn bad_config_files() {
    let env = Env::new(Backend::Local, "bad-input-config");
    let sid = "bad-input-config";
    env.write_transcript(sid, 2, 0);
    let cfg = env.project_dir().join(".tracecraft.json");
    let cases: [(&str, &str, &str); 5] = [
        ("malformed", "{\"endpoint\": ", "not valid JSON"),
        ("not-an-object", "[1]", "expected a JSON object"),
        (
            "wrong-types",
            "{\"endpoint\":\"http://127.0.0.1:9\",\"bucket\":7,\"project\":\"p\"}",
            "\"bucket\" must be a string",
        ),
        ("missing-fields", "{\"endpoint\":\"http://127.0.0.1:9\",\"project\":\"p\"}", "missing \"bucket\""),
        (
            "bad-endpoint",
            "{\"endpoint\":\"ftp://x\",\"bucket\":\"b\",\"project\":\"p\",\"access_key\":\"a\",\"secret_key\":\"s\"}",
            "must start with http",
        ),
    ];
    for (i, (name, body, expect)) in cases.into_iter().enumerate() {
        fs::write(&cfg, body).unwrap();
        // An unapproved project file is ignored (issue #12): each event mirrors by the
        // embedded store and logs one line, so give each one something new to mirror.
        env.write_transcript(sid, 1, 2 + i as u64);
        let before = problems(&env);
        check_output(name, &env.run_hook(&env.payload("Stop", sid)));
        assert_eq!(problems(&env) - before, 1, "{name}");
        let out = env.run(&["flush", "--session-id", sid]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect) && err.contains(".tracecraft.json"), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: one line: {err}");
    }
    // World-readable with credentials: mirrored, with a warning naming the fix.
    let Some(s3) = Env::try_new(Backend::S3s, "bad-input-config-perm") else { return };
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(s3.config_path(), fs::Permissions::from_mode(0o644)).unwrap();
    s3.write_transcript(sid, 2, 0);
    check_output("world-readable", &s3.run_hook(&s3.payload("Stop", sid)));
    assert_eq!(s3.replay(sid), fs::read(s3.transcript_path(sid)).unwrap());
    let log = fs::read_to_string(s3.home().join(".tracecraft/hook.log")).unwrap();
    assert!(log.contains("chmod 600"), "{log}");
    assert!(!log.contains(&common::servers::secret_key()), "the secret never reaches the log");
}
