//! Claude Code's hook payload (Codex CLI's hooks send the same shape: `session_id`,
//! `transcript_path`, `cwd`, `hook_event_name`, and on Stop a `turn_id`). The wire shape (a JSON object, fields may be missing or of a
//! surprising type) is read leniently into [`Event`], the internal type the hook acts on.
//! Valid JSON of an unexpected shape becomes `Event::Ignored`; only broken JSON is an error.
//!
//! Reading stdin never waits for end of file (some Claude Code versions never close it):
//! we stop at the end of the first JSON value, with a size cap and a time limit.

use std::io::Read;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::base::error::{Error, Result};

/// Largest payload we accept.
pub const MAX_PAYLOAD: usize = 16 * 1024 * 1024;

/// Fields every event shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    pub session_id: String,
    pub transcript_path: Option<PathBuf>,
    pub cwd: Option<PathBuf>,
}

/// The events we act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    SessionStart {
        common: Common,
        source: Option<String>,
        model: Option<String>,
    },
    UserPromptSubmit {
        common: Common,
    },
    Stop {
        common: Common,
        last_assistant_message: Option<String>,
        /// Codex: the turn that stopped (its `task_complete` line lands after Stop).
        turn_id: Option<String>,
    },
    SubagentStop {
        common: Common,
        agent_id: Option<String>,
        agent_type: Option<String>,
        agent_transcript_path: Option<PathBuf>,
        /// The subagent's final text (its last line is often not on disk yet).
        last_assistant_message: Option<String>,
    },
    PreCompact {
        common: Common,
    },
    SessionEnd {
        common: Common,
        reason: Option<String>,
    },
    /// Another event, or a payload without the fields we need.
    Ignored(String),
}

impl Event {
    /// Fields shared by all acted-on events.
    pub fn common(&self) -> Option<&Common> {
        match self {
            Event::SessionStart { common, .. }
            | Event::UserPromptSubmit { common }
            | Event::Stop { common, .. }
            | Event::SubagentStop { common, .. }
            | Event::PreCompact { common }
            | Event::SessionEnd { common, .. } => Some(common),
            Event::Ignored(_) => None,
        }
    }

    /// The event's name, for logs.
    pub fn name(&self) -> &str {
        match self {
            Event::SessionStart { .. } => "SessionStart",
            Event::UserPromptSubmit { .. } => "UserPromptSubmit",
            Event::Stop { .. } => "Stop",
            Event::SubagentStop { .. } => "SubagentStop",
            Event::PreCompact { .. } => "PreCompact",
            Event::SessionEnd { .. } => "SessionEnd",
            Event::Ignored(_) => "ignored",
        }
    }
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string)
}

/// Turn a parsed payload into an event.
pub fn parse_event(v: &Value) -> Event {
    let Some(name) = s(v, "hook_event_name") else {
        return Event::Ignored("payload without hook_event_name".into());
    };
    let Some(session_id) = s(v, "session_id") else {
        return Event::Ignored(format!("{name} payload without session_id"));
    };
    let common = Common {
        session_id,
        transcript_path: s(v, "transcript_path").map(PathBuf::from),
        cwd: s(v, "cwd").map(PathBuf::from),
    };
    match name.as_str() {
        "SessionStart" => Event::SessionStart {
            common,
            source: s(v, "source"),
            // `model` is a string in current versions; tolerate an object with an id.
            model: s(v, "model").or_else(|| v.get("model").and_then(|m| s(m, "id"))),
        },
        "UserPromptSubmit" => Event::UserPromptSubmit { common },
        "Stop" => {
            Event::Stop { common, last_assistant_message: s(v, "last_assistant_message"), turn_id: s(v, "turn_id") }
        }
        "SubagentStop" => Event::SubagentStop {
            common,
            agent_id: s(v, "agent_id"),
            agent_type: s(v, "agent_type"),
            agent_transcript_path: s(v, "agent_transcript_path").map(PathBuf::from),
            last_assistant_message: s(v, "last_assistant_message"),
        },
        "PreCompact" => Event::PreCompact { common },
        "SessionEnd" => Event::SessionEnd { common, reason: s(v, "reason") },
        other => Event::Ignored(format!("event {other}")),
    }
}

/// Parse the first JSON value in `buf`. `Ok(None)`: incomplete, read more.
pub fn parse_first(buf: &[u8]) -> Result<Option<Value>> {
    let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<Value>();
    match it.next() {
        None => Ok(None),
        Some(Ok(v)) => Ok(Some(v)),
        Some(Err(e)) if e.is_eof() => Ok(None),
        Some(Err(e)) => Err(Error::Invalid(format!("hook payload is not valid JSON: {e}"))),
    }
}

/// Finds where the first top-level JSON object or array ends, fed chunk by chunk, so a
/// large payload is scanned once instead of re-parsed on every read (O(n), not O(n^2)).
#[derive(Debug, Default)]
struct EndScanner {
    pos: usize,
    depth: usize,
    started: bool,
    in_string: bool,
    escape: bool,
}

impl EndScanner {
    /// Scan the bytes of `buf` not seen yet. `Some(end)`: the value is `buf[..end]`.
    /// `None` also when the value is a scalar (those complete only at end of input).
    fn feed(&mut self, buf: &[u8]) -> Option<usize> {
        while self.pos < buf.len() {
            let b = buf[self.pos];
            self.pos += 1;
            if self.in_string {
                match (self.escape, b) {
                    (true, _) => self.escape = false,
                    (false, b'\\') => self.escape = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    self.depth += 1;
                    self.started = true;
                }
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.started && self.depth == 0 {
                        return Some(self.pos);
                    }
                }
                _ => {}
            }
        }
        None
    }
}

/// Read one JSON value from `input` without waiting for end of file, giving up after
/// `timeout` or [`MAX_PAYLOAD`] bytes. The raw bytes of the value are returned too.
pub fn read_one<R: Read + Send + 'static>(mut input: R, timeout: Duration) -> Result<(Value, Vec<u8>)> {
    let (tx, rx) = mpsc::channel::<Result<(Value, Vec<u8>)>>();
    std::thread::spawn(move || {
        let mut buf = Vec::with_capacity(8192);
        let mut chunk = vec![0u8; 64 * 1024];
        let mut scanner = EndScanner::default();
        let res = loop {
            match input.read(&mut chunk) {
                Ok(0) => {
                    break match parse_first(&buf) {
                        Ok(Some(v)) => Ok((v, buf)),
                        Ok(None) if buf.iter().all(u8::is_ascii_whitespace) => {
                            Err(Error::Invalid("empty hook payload on stdin".into()))
                        }
                        Ok(None) => Err(Error::Invalid("hook payload is truncated JSON".into())),
                        Err(e) => Err(e),
                    }
                }
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.len() > MAX_PAYLOAD {
                        break Err(Error::Invalid(format!("hook payload larger than {MAX_PAYLOAD} bytes")));
                    }
                    let first = buf.iter().position(|b| !b.is_ascii_whitespace()).map(|i| buf[i]);
                    if !matches!(first, Some(b'{' | b'[') | None) {
                        // Not an object or array: garbage or a scalar; parse to find out.
                        match parse_first(&buf) {
                            Ok(Some(v)) => break Ok((v, buf)),
                            Ok(None) => continue,
                            Err(e) => break Err(e),
                        }
                    }
                    if let Some(end) = scanner.feed(&buf) {
                        buf.truncate(end);
                        break match parse_first(&buf) {
                            Ok(Some(v)) => Ok((v, buf)),
                            Ok(None) => Err(Error::Invalid("hook payload is truncated JSON".into())),
                            Err(e) => Err(e),
                        };
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(Error::io("read", "<stdin>", e)),
            }
        };
        let _ = tx.send(res);
    });
    match rx.recv_timeout(timeout) {
        Ok(r) => r,
        Err(_) => {
            Err(Error::Invalid(format!("no complete hook payload on stdin within {:.1}s", timeout.as_secs_f64())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn real_payload_shapes() {
        let v = json!({"session_id":"s1","transcript_path":"/t.jsonl","cwd":"/p","hook_event_name":"SessionStart","source":"startup","model":"claude-x"});
        assert_eq!(
            parse_event(&v),
            Event::SessionStart {
                common: Common {
                    session_id: "s1".into(),
                    transcript_path: Some("/t.jsonl".into()),
                    cwd: Some("/p".into())
                },
                source: Some("startup".into()),
                model: Some("claude-x".into())
            }
        );
        let v = json!({"session_id":"s1","hook_event_name":"SessionEnd","reason":"clear"});
        assert!(matches!(parse_event(&v), Event::SessionEnd { reason: Some(r), .. } if r == "clear"));
        assert!(matches!(parse_event(&json!({"hook_event_name":"PreToolUse","session_id":"s"})), Event::Ignored(_)));
        assert!(matches!(parse_event(&json!([1, 2])), Event::Ignored(_)));
        assert!(matches!(parse_event(&json!({"hook_event_name":"Stop","session_id":7})), Event::Ignored(_)));
    }

    #[test]
    fn first_value_without_eof() {
        assert_eq!(parse_first(b"{\"a\":1}").unwrap(), Some(json!({"a":1})));
        assert_eq!(parse_first(b"{\"a\":1} trailing junk").unwrap(), Some(json!({"a":1})));
        assert_eq!(parse_first(b"{\"a\":").unwrap(), None);
        assert!(parse_first(b"garbage").is_err());
    }

    #[test]
    fn read_one_does_not_wait_for_eof() {
        // A reader that yields the payload and then blocks forever.
        struct Blocking(Option<Vec<u8>>);
        impl Read for Blocking {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                match self.0.take() {
                    Some(b) => {
                        buf[..b.len()].copy_from_slice(&b);
                        Ok(b.len())
                    }
                    None => {
                        std::thread::sleep(Duration::from_secs(3600));
                        Ok(0)
                    }
                }
            }
        }
        let (v, _) = read_one(Blocking(Some(b"{\"x\":true}".to_vec())), Duration::from_secs(5)).unwrap();
        assert_eq!(v, json!({"x": true}));
        let e = read_one(Blocking(None), Duration::from_millis(100)).unwrap_err();
        assert!(e.to_string().contains("no complete hook payload"));
    }

    #[test]
    fn scanner_finds_the_end_across_chunks_and_strings() {
        let doc = br#"{"a":"x}]\"{","b":[1,{"c":2}]} tail"#;
        let mut sc = EndScanner::default();
        let mut buf = Vec::new();
        let mut found = None;
        for chunk in doc.chunks(3) {
            buf.extend_from_slice(chunk);
            if let Some(e) = sc.feed(&buf) {
                found = Some(e);
                break;
            }
        }
        let end = found.unwrap();
        assert_eq!(&doc[..end], br#"{"a":"x}]\"{","b":[1,{"c":2}]}"#);
    }
}
