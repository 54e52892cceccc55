//! Issue #12, item 2: a misbehaving endpoint cannot exhaust or hang us. A tiny HTTP server
//! on 127.0.0.1 (std threads) answers every request the hostile way; `flush` must end
//! within 30 s with one message naming the endpoint, at a bounded peak RSS (the child's
//! `ru_maxrss` from wait4), and once the server behaves (it then relays to s3s-fs) the next
//! hook event mirrors everything exactly once.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{Backend, Env};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// 200 with a 2 GB body of zeros to any GET.
    Huge,
    /// The same, chunked (no length announced up front).
    HugeChunked,
    /// Listings that never end (new keys under the prefix on every page); 404 otherwise.
    EndlessList,
    /// Listings that repeat the same page forever.
    StuckList,
    /// Headers at once, then one body byte every 3 s.
    Drip,
    /// 307 to itself, forever, each with a 2 GB body.
    Redirect,
    /// Accepts, reads, never answers.
    Silent,
    /// Sends the headers of a 200, then nothing, ever.
    Stall,
    /// 403 whose <Code>/<Message> carry terminal escapes.
    EscapeError,
    /// Relays bytes to the real server.
    Relay(SocketAddr),
}

struct Hostile {
    addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Hostile {
    fn start(mode: Mode) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let h = Hostile {
            addr,
            mode: Arc::new(Mutex::new(mode)),
            requests: Arc::new(AtomicUsize::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (m, r, s) = (h.mode.clone(), h.requests.clone(), h.stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (m, r, s) = (m.clone(), r.clone(), s.clone());
                thread::spawn(move || serve(conn, m, r, s));
            }
        });
        h
    }
    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
    fn set(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(conn: TcpStream, mode: Arc<Mutex<Mode>>, requests: Arc<AtomicUsize>, stop: Arc<AtomicBool>) {
    let m = *mode.lock().unwrap();
    if let Mode::Relay(up) = m {
        let Ok(upstream) = TcpStream::connect(up) else { return };
        let (mut a, mut b) = (conn.try_clone().unwrap(), upstream.try_clone().unwrap());
        let t = thread::spawn(move || {
            let _ = std::io::copy(&mut a, &mut b);
            let _ = b.shutdown(Shutdown::Write);
        });
        let (mut c, mut d) = (upstream, conn);
        let _ = std::io::copy(&mut c, &mut d);
        let _ = d.shutdown(Shutdown::Write);
        let _ = t.join();
        return;
    }
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    let mut page = 0u64;
    loop {
        // Request head.
        let mut first = String::new();
        if reader.read_line(&mut first).unwrap_or(0) == 0 {
            return;
        }
        let mut len = 0usize;
        loop {
            let mut l = String::new();
            if reader.read_line(&mut l).unwrap_or(0) == 0 {
                return;
            }
            if l == "\r\n" {
                break;
            }
            if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        requests.fetch_add(1, Ordering::SeqCst);
        let target = first.split_whitespace().nth(1).unwrap_or("/").to_string();
        let is_list = target.contains("list-type=2");
        let prefix = target
            .split(['?', '&'])
            .find_map(|p| p.strip_prefix("prefix="))
            .map(|p| p.replace("%2F", "/").replace("%2f", "/"))
            .unwrap_or_default();
        let ok = match m {
            Mode::Huge => {
                let _ = out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2000000000\r\n\r\n");
                let zeros = vec![0u8; 1 << 16];
                while !stop.load(Ordering::SeqCst) && out.write_all(&zeros).is_ok() {}
                return;
            }
            Mode::HugeChunked => {
                let _ = out.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
                let mut chunk = b"10000\r\n".to_vec();
                chunk.extend(vec![b'{'; 1 << 16]);
                chunk.extend(b"\r\n");
                for _ in 0..(2_000_000_000 / (1 << 16)) {
                    if stop.load(Ordering::SeqCst) || out.write_all(&chunk).is_err() {
                        return;
                    }
                }
                return;
            }
            Mode::EndlessList | Mode::StuckList if is_list => {
                if m == Mode::EndlessList {
                    page += 1;
                }
                let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>");
                xml.push_str(&format!("<Prefix>{prefix}</Prefix><KeyCount>1000</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>"));
                for i in 0..1000u64 {
                    xml.push_str(&format!(
                        "<Contents><Key>{prefix}zz-{page:09}-{i:04}</Key><Size>1</Size><ETag>\"e\"</ETag></Contents>"
                    ));
                }
                xml.push_str(&format!("<NextContinuationToken>tok{page}</NextContinuationToken></ListBucketResult>"));
                respond(&mut out, "200 OK", xml.as_bytes())
            }
            Mode::EndlessList | Mode::StuckList => {
                respond(&mut out, "404 Not Found", b"<Error><Code>NoSuchKey</Code><Message>none</Message></Error>")
            }
            Mode::Drip => {
                let _ = out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
                for _ in 0..1000 {
                    if stop.load(Ordering::SeqCst) || out.write_all(b"{").is_err() {
                        return;
                    }
                    thread::sleep(Duration::from_secs(3));
                }
                return;
            }
            Mode::Redirect => {
                let me = out.local_addr().unwrap();
                let head = format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{me}{target}\r\nContent-Length: 2000000000\r\n\r\n"
                );
                let _ = out.write_all(head.as_bytes());
                let zeros = vec![b' '; 1 << 16];
                while !stop.load(Ordering::SeqCst) && out.write_all(&zeros).is_ok() {}
                return;
            }
            Mode::Stall => {
                let _ = out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
                while !stop.load(Ordering::SeqCst) {
                    thread::sleep(Duration::from_millis(100));
                }
                return;
            }
            Mode::Silent => {
                while !stop.load(Ordering::SeqCst) {
                    thread::sleep(Duration::from_millis(100));
                }
                return;
            }
            Mode::EscapeError => respond(
                &mut out,
                "403 Forbidden",
                b"<Error><Code>Evil\x1b[2J\x1b]0;pwned\x07</Code><Message>bad\rFAKE LINE\x9b31m</Message></Error>",
            ),
            Mode::Relay(_) => unreachable!(),
        };
        if !ok {
            return;
        }
    }
}

fn respond(out: &mut TcpStream, status: &str, body: &[u8]) -> bool {
    let head = format!("HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n", body.len());
    out.write_all(head.as_bytes()).and_then(|()| out.write_all(body)).is_ok()
}

/// Run the command under GNU time (`/usr/bin/time`, Debian package `time`): its child is
/// forked from a small process, so `ru_maxrss` is the binary's own peak (a child forked
/// from this big test process would inherit its RSS in that number). Returns (exit code,
/// stderr, wall time, peak RSS in KiB).
fn run_measured(cmd: Command, limit: Duration) -> (Option<i32>, String, Duration, u64) {
    assert!(
        std::path::Path::new("/usr/bin/time").is_file(),
        "/usr/bin/time is required to measure peak RSS: apt-get install time"
    );
    let rss_file = tempfile::NamedTempFile::new().unwrap();
    let mut timed = Command::new("/usr/bin/time");
    timed.args(["-f", "%M", "-o"]).arg(rss_file.path()).arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        timed.current_dir(d);
    }
    let mut cmd = timed;
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {limit:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    let text = std::fs::read_to_string(rss_file.path()).unwrap_or_default();
    // GNU time writes "Command exited with non-zero status N" before the number.
    let rss = text.lines().rev().find_map(|l| l.trim().parse().ok()).expect("peak RSS from /usr/bin/time");
    (code, reader.join().unwrap(), took, rss)
}

/// One manual flush against the hostile server: bounded time, memory, one message.
fn flush_against(mode: Mode, what: &str) -> (Hostile, String) {
    let env = Env::new(Backend::Local, &format!("hostile-{what}"));
    let h = Hostile::start(mode);
    let mut cfg = env.config_value(&h.endpoint());
    cfg["bucket"] = serde_json::json!("b");
    env.write_config_value(&cfg);
    let sid = format!("hostile-{what}");
    env.write_transcript(&sid, 20, 0);
    let (code, stderr, took, rss_kib) =
        run_measured(env.cmd(&["flush", "--session-id", &sid]), Duration::from_secs(120));
    eprintln!("{what}: exit {code:?} in {took:?}, peak RSS {} MiB: {stderr}", rss_kib >> 10);
    assert_eq!(code, Some(1), "{what}: {stderr}");
    assert!(took <= Duration::from_secs(30), "{what}: flush took {took:?}");
    assert!(rss_kib <= 64 * 1024, "{what}: peak RSS {} MiB", rss_kib >> 10);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what}: one message: {stderr}");
    assert!(lines[0].contains(&h.endpoint()), "{what}: names the endpoint: {stderr}");
    (h, stderr)
}

#[test]
fn huge_meta_json_answer_is_refused_quickly_and_cheaply() {
    let (_h, err) = flush_against(Mode::Huge, "huge");
    assert!(err.contains("larger than"), "{err}");
    let (_h, err) = flush_against(Mode::HugeChunked, "huge-chunked");
    assert!(err.contains("larger than"), "{err}");
}

#[test]
fn endless_listing_is_cut_off() {
    let (_h, err) = flush_against(Mode::EndlessList, "endless");
    assert!(err.contains("LIST"), "{err}");
    let (_h, err) = flush_against(Mode::StuckList, "stuck");
    assert!(err.contains("does not advance"), "{err}");
}

#[test]
fn dripping_body_hits_the_request_deadline() {
    flush_against(Mode::Drip, "drip");
}

#[test]
fn redirect_loop_is_never_followed() {
    let (h, err) = flush_against(Mode::Redirect, "loop307");
    assert!(err.contains("redirects are not followed"), "{err}");
    assert_eq!(h.requests.load(Ordering::SeqCst), 1, "a redirect is not retried nor followed");
}

#[test]
fn silent_server_hits_the_response_deadline() {
    flush_against(Mode::Silent, "silent");
    // Headers, then silence: the body is covered by the same deadline.
    flush_against(Mode::Stall, "stall");
}

#[test]
fn server_error_text_cannot_drive_the_terminal() {
    let (_h, err) = flush_against(Mode::EscapeError, "escape");
    assert!(
        !err.contains('\u{1b}') && !err.contains('\r') && !err.contains('\u{9b}') && !err.contains('\u{7}'),
        "{err:?}"
    );
    assert!(err.contains("\\e[2J"), "shown escaped: {err:?}");
}

/// The hook returns at once while its worker fights a dripping server; after the server
/// recovers, the next event gets everything there, exactly once.
#[test]
fn hook_stays_fast_and_the_next_event_after_recovery_mirrors_everything_once() {
    let Some(s3) = Backend::S3s.server() else { panic!("s3s-fs is required (cargo install s3s-fs)") };
    let h = Hostile::start(Mode::Drip);
    let env = Env::with_server(s3.clone(), "hostile-hook");
    env.write_config(&h.endpoint());
    let sid = "hostile-hook";
    env.write_transcript(sid, 10, 0);
    let hook = |env: &Env| {
        let mut c = env.cmd(&["hook"]);
        c.env("TRACECRAFT_HOOK_INLINE", "0");
        let t = Instant::now();
        let out = common::run_with_timeout(
            c,
            Some(serde_json::to_vec(&env.payload("Stop", sid)).unwrap()),
            true,
            Duration::from_secs(30),
        )
        .expect("hook exits");
        assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
        t.elapsed()
    };
    let first = hook(&env);
    assert!(first < Duration::from_secs(5), "the hook returned after {first:?}");
    thread::sleep(Duration::from_secs(2));
    // The server recovers; more of the session arrives; the next event.
    h.set(Mode::Relay(s3.addr));
    env.write_transcript(sid, 5, 10);
    let second = hook(&env);
    assert!(second < Duration::from_secs(5), "the hook returned after {second:?}");
    let want = std::fs::read(env.transcript_path(sid)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(150);
    while env.replay(sid) != want && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(env.replay(sid), want, "replay equals the transcript (exactly once)");
}
