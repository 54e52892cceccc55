//! Self-tests of the integration-test harness (`tests/common`): real servers start with
//! the bucket, read-back works on every backend, the proxies behave, and servers die
//! with the test process. Nothing here runs the product binary.

mod common;

use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::http;
use common::servers::{self, moto_dummy_authorization};
use common::sign::signed_request;
use common::*;
use serde_json::Value;

/// Unsigned request to moto (dummy Authorization), on a fresh connection.
fn moto_req(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> std::io::Result<http::Response> {
    let auth = moto_dummy_authorization();
    http::request(
        addr,
        method,
        target,
        &[("Authorization", auth.as_str()), ("Content-Type", "application/octet-stream")],
        body,
        Duration::from_secs(10),
    )
}

fn moto() -> Option<&'static Server> {
    Backend::Moto.server()
}

#[test]
fn servers_start_with_the_bucket_and_accept_signed_requests() {
    for backend in s3_backends() {
        let env = Env::new(backend, "servers start");
        let endpoint = env.endpoint().unwrap();
        // A signed ListObjectsV2 on tc-test: proves the server is up, the bucket
        // exists and (for s3s-fs) the credentials are the ones it verifies.
        let r = signed_request(&endpoint, "LIST", &format!("{}/", env.project), &[], None);
        assert_eq!(r.status, 200, "{}: {}", backend.name(), r.text());
        assert!(r.text().contains("<Name>tc-test</Name>"), "{}", r.text());
        assert!(env.project_keys().is_empty());

        // Signed PUT through the real server, read back with the harness (files for
        // s3s-fs, unsigned HTTP for moto).
        let key = format!("{}/hello.txt", env.project);
        let r = signed_request(&endpoint, "PUT", &key, b"hello world", None);
        assert_eq!(r.status, 200, "{}: {}", backend.name(), r.text());
        assert_eq!(env.get(&key).as_deref(), Some(&b"hello world"[..]));
        assert_eq!(env.project_keys(), vec![key.clone()]);

        // Objects seeded by the harness are served by the server.
        let seeded = format!("{}/seeded/a b+c.txt", env.project);
        env.put(&seeded, b"seeded");
        let r = signed_request(&endpoint, "GET", &seeded, &[], None);
        assert_eq!(r.status, 200, "{}: {}", backend.name(), r.text());
        assert_eq!(r.body, b"seeded");
        assert_eq!(env.list_keys(&format!("{}/seeded/", env.project)), vec![seeded.clone()]);
        env.delete(&seeded);
        assert_eq!(env.get(&seeded), None);
    }
}

#[test]
fn s3s_rejects_a_bad_signature() {
    let Some(env) = Env::try_new(Backend::S3s, "bad signature") else {
        return;
    };
    let key = format!("{}/x", env.project);
    // A valid presigned URL with its last signature digit changed.
    let mut url = common::sign::presign(&env.endpoint().unwrap(), "PUT", &key);
    let last = url.pop().unwrap();
    url.push(if last == '0' { '1' } else { '0' });
    let target = &url[url.find("/tc-test/").unwrap()..];
    let r = http::request(env.server_addr(), "PUT", target, &[], b"x", Duration::from_secs(10)).unwrap();
    assert!(r.text().contains("SignatureDoesNotMatch"), "{}", r.text());
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(env.get(&key), None);
}

#[test]
fn moto_raw_unsigned_put_get_list() {
    let Some(server) = moto() else { return };
    let prefix = format!("raw-{}/", random_hex(8));
    let key = format!("{prefix}dir/obj&<1>.bin");
    let body: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let r = moto_req(server.addr, "PUT", &format!("/{BUCKET}/{}", http::encode_path(&key)), &body).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(servers::moto::get(server, &key), Some(body));
    assert_eq!(servers::moto::list(server, &prefix), vec![key.clone()]);
    assert_eq!(servers::moto::get(server, &format!("{prefix}missing")), None);
    // Listing follows continuation tokens past 1000 keys? Keep it cheap: 3 keys with
    // max-keys paging is covered by the token loop; just check order here.
    servers::moto::put(server, &format!("{prefix}a"), b"1");
    servers::moto::put(server, &format!("{prefix}b"), b"2");
    let keys = servers::moto::list(server, &prefix);
    assert_eq!(keys, vec![format!("{prefix}a"), format!("{prefix}b"), key]);
}

#[test]
fn replay_and_meta_read_parts_in_key_order_on_every_backend() {
    for backend in backends() {
        let env = Env::new(backend, "replay");
        let sid = "60d02b3f-e256-40f7-8986-d87f2eebff47";
        let p = env.session_prefix(sid);
        assert!(p.starts_with(&format!("{}/sessions/claude-code/", env.project)));
        // Seeded out of order, plus objects that are not parts.
        env.put(&format!("{p}part-00001-0123abcd.jsonl"), b"second\n");
        env.put(&format!("{p}part-00000-deadbeef.jsonl"), b"first\n");
        env.put(&format!("{p}part-00002-ABCDEF01.jsonl"), b"not a part: uppercase hex\n");
        env.put(&format!("{p}notes.txt"), b"ignored");
        env.put(
            &format!("{p}meta.json"),
            br#"{"schema_version": 1, "session_id": "60d02b3f-e256-40f7-8986-d87f2eebff47"}"#,
        );
        assert_eq!(env.replay(sid), b"first\nsecond\n", "{}", backend.name());
        assert_eq!(env.part_keys(sid).len(), 2);
        let meta = env.meta(sid).unwrap();
        assert_eq!(meta["schema_version"], 1);
        assert_eq!(env.meta("other-session"), None);
        assert!(env.replay("other-session").is_empty());
        assert_eq!(env.list_keys(&p).len(), 5);
    }
}

#[test]
fn part_key_pattern() {
    assert!(is_part_key("p/sessions/claude-code/s/part-00000-0123abcd.jsonl"));
    assert!(is_part_key("part-12345-ffffffff.jsonl"));
    assert!(!is_part_key("part-1234-ffffffff.jsonl"));
    assert!(!is_part_key("part-00000-fffffff.jsonl"));
    assert!(!is_part_key("part-00000-FFFFFFFF.jsonl"));
    assert!(!is_part_key("part-00000-ffffffff.jsonl.tmp"));
    assert!(!is_part_key("meta.json"));
}

#[test]
fn env_isolates_home_config_and_command() {
    for backend in backends() {
        let env = Env::new(backend, "Env Isolation/ü");
        assert!(env.project.starts_with("t-env-isolation-"), "{}", env.project);
        assert_eq!(env.project.len(), "t-env-isolation-".len() + 8);
        assert!(env.project_dir().starts_with(env.home()));
        let cfg = env.config_path();
        match backend {
            Backend::Local => assert!(!cfg.exists()),
            _ => {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600);
                let v: Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
                assert_eq!(v["backend"], "s3");
                assert_eq!(v["bucket"], BUCKET);
                assert_eq!(v["project"], env.project.as_str());
                assert_eq!(v["endpoint"], env.endpoint().unwrap().as_str());
                assert_eq!(v["region"], "us-east-1");
            }
        }
        // The command's environment, seen through `env` instead of the real binary.
        let cmd = env.cmd(&[]);
        let envs: Vec<(String, Option<String>)> = cmd
            .get_envs()
            .map(|(k, v)| (k.to_string_lossy().into_owned(), v.map(|v| v.to_string_lossy().into_owned())))
            .collect();
        let get = |name: &str| envs.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.clone());
        assert_eq!(get("HOME").as_deref(), env.home().to_str());
        assert_eq!(get("TRACECRAFT_PROJECT").as_deref(), Some(env.project.as_str()));
        assert_eq!(get("TRACECRAFT_HOOK_INLINE").as_deref(), Some("1"));
        assert_eq!(cmd.get_current_dir(), Some(env.project_dir()));
        assert!(cmd.get_program().to_string_lossy().ends_with("tracecraft-hook"));
    }
}

#[test]
fn payloads_and_transcripts_look_like_claude_code() {
    let env = Env::new(Backend::Local, "payloads");
    let sid = "ec638a1f-fec2-4b74-bd0e-87856d773cbf";
    let t = env.transcript_path(sid);
    assert!(t.starts_with(env.home().join(".claude/projects")));
    assert_eq!(t.parent().unwrap().file_name().unwrap().to_string_lossy(), slug(env.project_dir()));

    let start = env.payload("SessionStart", sid);
    assert_eq!(start["hook_event_name"], "SessionStart");
    assert_eq!(start["source"], "startup");
    assert_eq!(start["session_id"], sid);
    assert_eq!(start["transcript_path"], t.to_str().unwrap());
    assert_eq!(start["cwd"], env.project_dir().to_str().unwrap());
    assert_eq!(env.payload("SessionStart/clear", sid)["source"], "clear");
    let stop = env.payload("Stop", sid);
    assert_eq!(stop["stop_hook_active"], false);
    assert_eq!(stop["last_assistant_message"], "hi from mock"); // no transcript yet
    assert_eq!(env.payload("SessionEnd", sid)["reason"], "other");
    assert_eq!(env.payload("SessionEnd/clear", sid)["reason"], "clear");
    assert_eq!(env.payload("PreCompact/auto", sid)["trigger"], "auto");
    let sub = env.payload("SubagentStop", sid);
    assert!(sub["agent_transcript_path"]
        .as_str()
        .unwrap()
        .ends_with(&format!("{sid}/subagents/agent-afac1088fbd81cb24.jsonl")));

    let a = env.write_transcript(sid, 3, 0);
    let b = env.write_transcript(sid, 2, 3);
    let all = std::fs::read(&t).unwrap();
    assert_eq!(all, [a.clone(), b].concat());
    let lines: Vec<Value> =
        all.split(|&c| c == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["type"], "user");
    assert_eq!(lines[1]["type"], "assistant");
    assert_eq!(lines[1]["message"]["role"], "assistant");
    assert_eq!(lines[0]["parentUuid"], Value::Null);
    for w in lines.windows(2) {
        assert_eq!(w[1]["parentUuid"], w[0]["uuid"]);
    }
    assert_eq!(lines[4]["sessionId"], sid);
    // Stop reports the last assistant text, like the real CLI.
    assert_eq!(env.payload("Stop", sid)["last_assistant_message"], lines[3]["message"]["content"][0]["text"]);
    // Deterministic: the same lines again.
    assert_eq!(transcript_lines(sid, env.project_dir(), 0, 3), a);
    assert_eq!(slug(std::path::Path::new("/home/me/my_proj.v2")), "-home-me-my-proj-v2");

    let other = env.home().join("x/abc.jsonl");
    let w = write_transcript_lines(&other, 2, 7);
    assert_eq!(std::fs::read(&other).unwrap(), w);
    assert!(String::from_utf8(w).unwrap().contains("\"sessionId\":\"abc\""));
}

#[test]
fn run_with_timeout_collects_output_and_enforces_the_limit() {
    let mut sh = Command::new("sh");
    sh.args(["-c", "cat; echo err >&2; exit 3"]);
    let out = run_with_timeout(sh, Some(b"{\"a\":1}".to_vec()), true, Duration::from_secs(10)).unwrap();
    assert_eq!(out.stdout, b"{\"a\":1}");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.status.code(), Some(3));

    // stdin kept open: `cat` never sees EOF and is killed at the deadline.
    let mut cat = Command::new("cat");
    cat.arg("-");
    let t0 = Instant::now();
    assert!(run_with_timeout(cat, Some(b"x".to_vec()), false, Duration::from_millis(300)).is_none());
    assert!(t0.elapsed() < Duration::from_secs(5));

    // A reader of one line exits even though stdin stays open.
    let mut head = Command::new("sh");
    head.args(["-c", "read -r line; echo \"got $line\""]);
    let out = run_with_timeout(head, Some(b"hello\n".to_vec()), false, Duration::from_secs(10)).unwrap();
    assert_eq!(out.stdout, b"got hello\n");
}

// ------------------------------------------------------------------------------
// FaultProxy
// ------------------------------------------------------------------------------

/// Send one request on an existing connection and read the response.
fn keepalive_req(
    stream: &mut TcpStream,
    reader: &mut BufReader<TcpStream>,
    method: &str,
    target: &str,
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        moto_dummy_authorization(),
        body.len()
    );
    stream.write_all(req.as_bytes())?;
    stream.write_all(body)?;
    let head = http::read_head(reader)?.ok_or(ErrorKind::UnexpectedEof)?;
    let framing = http::response_framing(&head, method)?;
    let body = http::read_body(reader, framing)?;
    Ok((head.status(), body.data))
}

#[test]
fn fault_proxy_passes_through_on_kept_alive_connections_and_counts() {
    let Some(server) = moto() else { return };
    let proxy = FaultProxy::start(server.addr, FaultProxy::mode(Fault::PassThrough));
    let key = format!("/{BUCKET}/fp-{}/obj", random_hex(8));
    let mut stream = TcpStream::connect(proxy.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    // Three requests on one connection, although moto closes after each answer.
    assert_eq!(keepalive_req(&mut stream, &mut reader, "PUT", &key, b"payload").unwrap().0, 200);
    let (status, body) = keepalive_req(&mut stream, &mut reader, "GET", &key, b"").unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"payload"[..]));
    let (status, _) = keepalive_req(&mut stream, &mut reader, "HEAD", &key, b"").unwrap();
    assert_eq!(status, 200);
    let (status, body) =
        keepalive_req(&mut stream, &mut reader, "GET", &format!("/{BUCKET}?list-type=2&prefix=fp-"), b"").unwrap();
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("<ListBucketResult"));

    assert_eq!(proxy.requests(), 4);
    assert_eq!(proxy.count("GET"), 2);
    assert_eq!(proxy.count("put"), 1);
    let ops = proxy.counts_by_operation();
    assert_eq!(ops.get("PutObject"), Some(&1));
    assert_eq!(ops.get("GetObject"), Some(&1));
    assert_eq!(ops.get("HeadObject"), Some(&1));
    assert_eq!(ops.get("ListObjectsV2"), Some(&1));
    assert_eq!(proxy.counts_by_method().get("HEAD"), Some(&1));
    assert!(proxy.log().iter().all(|r| r.status == Some(200)));
    proxy.reset_counts();
    assert_eq!(proxy.requests(), 0);
}

#[test]
fn fault_proxy_injects_statuses_without_forwarding() {
    let Some(server) = moto() else { return };
    let mode = FaultProxy::mode(Fault::Status(503));
    let proxy = FaultProxy::start(server.addr, mode.clone());
    let key = format!("fp-{}/status", random_hex(8));
    let target = format!("/{BUCKET}/{key}");

    for code in [503u16, 500, 403] {
        *mode.lock().unwrap() = Fault::Status(code);
        let r = moto_req(proxy.addr, "PUT", &target, b"x").unwrap();
        assert_eq!(r.status, code);
        assert!(r.text().contains("<Error><Code>"), "{}", r.text());
    }
    assert_eq!(servers::moto::get(server, &key), None, "a faulted PUT reached the server");

    proxy.set(Fault::FailNext(2, 500));
    assert_eq!(moto_req(proxy.addr, "PUT", &target, b"x").unwrap().status, 500);
    assert_eq!(proxy.current(), Fault::FailNext(1, 500));
    assert_eq!(moto_req(proxy.addr, "PUT", &target, b"x").unwrap().status, 500);
    assert_eq!(proxy.current(), Fault::PassThrough);
    assert_eq!(moto_req(proxy.addr, "PUT", &target, b"ok").unwrap().status, 200);
    assert_eq!(servers::moto::get(server, &key).as_deref(), Some(&b"ok"[..]));
    assert_eq!(proxy.requests(), 6);
    let statuses: Vec<_> = proxy.log().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 500, 403, 500, 500, 200].map(Some).to_vec());
}

#[test]
fn fault_proxy_refuse_hang_drop_and_slow() {
    let Some(server) = moto() else { return };
    let proxy = FaultProxy::start(server.addr, FaultProxy::mode(Fault::Refuse));
    let key = format!("fp-{}/faults", random_hex(8));
    let target = format!("/{BUCKET}/{key}");
    let body: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    servers::moto::put(server, &key, &body);

    // Refuse: the connection is closed without an answer.
    assert!(moto_req(proxy.addr, "GET", &target, b"").is_err());
    assert!(proxy.refused_connections() >= 1);

    // DropMidBody: full Content-Length announced, half the body, then EOF.
    proxy.set(Fault::DropMidBody);
    let mut s = TcpStream::connect(proxy.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let err = keepalive_req(&mut s, &mut reader, "GET", &target, b"").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
    let mut raw = TcpStream::connect(proxy.addr).unwrap();
    write!(raw, "GET {target} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\r\n", moto_dummy_authorization()).unwrap();
    let mut got = Vec::new();
    raw.read_to_end(&mut got).unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("Content-Length: 1000"), "{text}");
    let body_start = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(&got[body_start..], &body[..500]);

    // Slow: answered, but late.
    proxy.set(Fault::Slow(Duration::from_millis(300)));
    let t0 = Instant::now();
    assert_eq!(moto_req(proxy.addr, "GET", &target, b"").unwrap().status, 200);
    assert!(t0.elapsed() >= Duration::from_millis(300));

    // Hang: request read, never answered; the client times out.
    proxy.set(Fault::Hang);
    let before = proxy.requests();
    let auth = moto_dummy_authorization();
    let r =
        http::request(proxy.addr, "GET", &target, &[("Authorization", auth.as_str())], b"", Duration::from_millis(400));
    let kind = r.unwrap_err().kind();
    assert!(matches!(kind, ErrorKind::WouldBlock | ErrorKind::TimedOut), "{kind:?}");
    assert_eq!(proxy.requests(), before + 1);

    // Dropping the proxy does not wait for the hung request.
    let t0 = Instant::now();
    drop(proxy);
    assert!(t0.elapsed() < Duration::from_secs(3), "drop took {:?}", t0.elapsed());
}

#[test]
fn fault_proxy_reports_502_when_upstream_is_down() {
    let proxy = FaultProxy::start(closed_port(), FaultProxy::mode(Fault::PassThrough));
    let r = http::request(proxy.addr, "GET", "/tc-test/x", &[], b"", Duration::from_secs(10)).unwrap();
    assert_eq!(r.status, 502);
    assert!(TcpStream::connect(closed_port()).is_err());
}

// ------------------------------------------------------------------------------
// PrefixProxy: the Hugging Face gateway shape (endpoint https://s3.hf.co/<ns>)
// ------------------------------------------------------------------------------

#[test]
fn prefix_proxy_strips_the_prefix_for_moto() {
    let Some(server) = moto() else { return };
    let proxy = PrefixProxy::start(server.addr, "/my-namespace");
    assert_eq!(proxy.endpoint(), format!("http://{}/my-namespace", proxy.addr));
    let key = format!("hf-{}/obj.jsonl", random_hex(8));
    // The client signs /my-namespace/tc-test/<key>; moto does not check signatures.
    let r = signed_request(&proxy.endpoint(), "PUT", &key, b"via prefix", None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(servers::moto::get(server, &key).as_deref(), Some(&b"via prefix"[..]));
    let r = signed_request(&proxy.endpoint(), "GET", &key, &[], None);
    assert_eq!(r.body, b"via prefix");
    let r = signed_request(&proxy.endpoint(), "LIST", &key, &[], None);
    assert!(r.text().contains(&key), "{}", r.text());
    let log = proxy.log();
    assert_eq!(log.len(), 3);
    assert!(log.iter().all(|r| r.target.starts_with("/my-namespace/tc-test")), "{log:?}");
}

#[test]
fn prefix_proxy_finding_with_signature_verifying_s3s() {
    let Some(env) = Env::try_new(Backend::S3s, "hf prefix") else {
        return;
    };
    let key = format!("{}/obj.jsonl", env.project);

    // Stripping: the signature covered /my-namespace/tc-test/<key>, the server checks it against
    // /tc-test/<key> and refuses.
    let strip = PrefixProxy::start(env.server_addr(), "/my-namespace");
    let r = signed_request(&strip.endpoint(), "PUT", &key, b"x", None);
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("SignatureDoesNotMatch"), "{}", r.text());
    assert_eq!(env.get(&key), None);

    // Not stripping: the signature matches, but the prefix is taken for the bucket:
    // s3s-fs stores the object as key `tc-test/<key>` of bucket `my-namespace` (its
    // PutObject does not even check that the bucket exists).
    let keep = PrefixProxy::start_with(env.server_addr(), "/my-namespace", false);
    let r = signed_request(&keep.endpoint(), "PUT", &key, b"x", None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(env.get(&key), None, "landed in tc-test?");
    let root = env.server().unwrap().root.clone().unwrap();
    assert!(root.join("my-namespace/tc-test").join(&key).is_file());
    let r = signed_request(&keep.endpoint(), "GET", &key, &[], None);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"x"[..]));
    // ...and bucket-level requests break: ListObjectsV2 becomes a request on the
    // "object" `tc-test/` of bucket `my-namespace`.
    let r = signed_request(&keep.endpoint(), "LIST", &key, &[], None);
    assert_ne!(r.status, 200, "{}", r.text());
    assert!(!r.text().contains("<ListBucketResult"), "{}", r.text());

    // Signed directly (no prefix): fine.
    let r = signed_request(&env.endpoint().unwrap(), "PUT", &key, b"x", None);
    assert_eq!(r.status, 200, "{}", r.text());
}

// ------------------------------------------------------------------------------
// Server lifetimes
// ------------------------------------------------------------------------------

fn answers(addr: SocketAddr) -> bool {
    http::request(addr, "GET", "/", &[], b"", Duration::from_secs(2)).is_ok()
}

#[test]
fn owned_server_stops_restarts_and_keeps_s3s_data() {
    if !s3_backends().contains(&Backend::S3s) {
        return;
    }
    let mut p = ServerProcess::spawn(Kind::S3s);
    let env = Env::with_server(p.server(), "restart");
    let key = format!("{}/kept", env.project);
    let endpoint = p.endpoint();
    assert_eq!(signed_request(&endpoint, "PUT", &key, b"kept", None).status, 200);
    p.stop();
    assert!(!answers(p.addr), "server still answers after stop()");
    p.restart();
    let r = signed_request(&endpoint, "GET", &key, &[], None);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"kept"[..]));
    let addr = p.addr;
    let root = p.root.clone().unwrap();
    drop(p);
    assert!(!answers(addr));
    assert!(!root.exists(), "scratch dir left behind: {}", root.display());
}

/// Helper run in a child test process by `servers_die_with_the_test_process`: starts
/// one server of each kind, leaks them (like the shared statics) and exits.
#[test]
fn watchdog_child() {
    let Ok(kinds) = std::env::var("TC_WATCHDOG_CHILD") else {
        return; // normal runs: nothing to do
    };
    for kind in kinds.split(',') {
        let kind = if kind == "moto" { Kind::Moto } else { Kind::S3s };
        let p = ServerProcess::spawn(kind);
        println!("\nSERVER {}", p.addr);
        if let Some(root) = &p.root {
            println!("\nROOT {}", root.display());
        }
        std::mem::forget(p); // no Drop: only the watchdog can stop it
    }
}

#[test]
fn servers_die_with_the_test_process() {
    let kinds: Vec<&str> = s3_backends().iter().map(|b| if *b == Backend::Moto { "moto" } else { "s3s" }).collect();
    if kinds.is_empty() {
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "watchdog_child", "--nocapture", "--test-threads=1"])
        .env("TC_WATCHDOG_CHILD", kinds.join(","))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let addrs: Vec<SocketAddr> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("SERVER "))
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    let roots: Vec<PathBuf> = stdout.lines().filter_map(|l| l.strip_prefix("ROOT ")).map(PathBuf::from).collect();
    assert_eq!(addrs.len(), kinds.len(), "{stdout}");
    // The child has exited: its pipes closed, the watchdogs kill the servers.
    let deadline = Instant::now() + Duration::from_secs(10);
    for addr in addrs {
        while answers(addr) {
            assert!(Instant::now() < deadline, "server {addr} outlived its test process");
            thread::sleep(Duration::from_millis(50));
        }
    }
    for root in roots {
        while root.exists() {
            assert!(Instant::now() < deadline, "{} not removed", root.display());
            thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn a_missing_tool_is_named_with_its_install_command_and_opt_out_names_are_exact() {
    use common::tools::{missing_message, Tool, ALL, WITHOUT_VAR};
    for t in ALL {
        let m = missing_message(t);
        assert!(m.contains(t.name()) && m.contains(t.install()) && m.contains(t.var()), "{m}");
        assert!(m.contains(&format!("{WITHOUT_VAR}={}", t.name())), "{m}");
        assert!(t.named_in(t.name()) && t.named_in("all") && t.named_in(&format!("x, {}", t.name().to_uppercase())));
        assert!(!t.named_in("") && !t.named_in("nothing"), "{t:?}");
    }
    assert!(Tool::TracecraftPy.named_in("claude,python") && Tool::Claude.named_in("claude,python"));
    assert!(!Tool::S3s.named_in("claude,python") && !Tool::Moto.named_in("claude,python"));
    assert_eq!(Tool::S3s.install(), "cargo install s3s-fs --version 0.14.1 --features binary --locked");
}
