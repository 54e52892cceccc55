//! End to end with the real Codex CLI (OpenAI, npm `@openai/codex`), offline: `codex exec`
//! runs against a local mock of the Responses API (`tests/e2e/mock_responses.py`, streamed SSE
//! events, 127.0.0.1 only) configured as a custom model provider in a temporary `CODEX_HOME`,
//! inside a fresh network namespace with only loopback (see `common::codex_cli::offline`), with
//! tracecraft-hook registered in `$CODEX_HOME/hooks.json` by `tracecraft-hook install --codex`
//! (`<binary> hook --harness codex`).
//!
//! * `codex_runs_offline_and_fires_hooks`: the harness itself, without our hook: a probe hook
//!   on every event shows which fired, with the rollout as `transcript_path`; the mock saw
//!   only `POST /v1/responses`.
//! * `codex_recorded_trust_and_doctor`: `install --codex --trust` against the real CLI, no
//!   bypass flag; `doctor` before and after; `uninstall --codex`.
//! * `codex_mirror_local` / `_s3s` / `_moto`: one turn (a fake secret in the prompt), a turn
//!   with a shell tool call (`exec_command`), and that session resumed
//!   (`codex exec ... resume <id> "again"`); after each, once every hook process is gone
//!   (Codex writes the rollout's last line, `event_msg/task_complete`, after Stop; SessionEnd
//!   hooks are cut at 3 s), the store's parts concatenated, our `show --harness codex --raw`
//!   and (S3) the Python CLI's `tracecraft session show` all equal the rollout byte for byte
//!   after redaction, the secret is redacted in the store and only there, and meta.json says
//!   the session ended.
//!
//! A missing CLI FAILS the tests with its install command (`TRACECRAFT_TEST_WITHOUT=codex`
//! skips them on purpose, listed at the end of `.ci/test`). One test at a time (file-wide
//! lock). Notes on the real CLI: tests/e2e/README.md.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use common::claude::assert_same;
use common::codex_cli::{self as codex, codex_bin, hook_command, rollout_kinds, say, Codex, Exec};
use common::proxy::{Fault, FaultProxy};
use common::servers::{self, Kind, ServerProcess};
use common::tools::repo;
use common::Home;
use serde_json::{json, Value};
use tracecraft_hook::base::redact::Redactor;

/// How long the hooks' processes (and their detached workers) get after Codex exited.
const HOOKS_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the store then gets to show the end state (nothing should still be changing).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);
/// The project in the S3 config.
const S3_PROJECT: &str = "p";

/// One test at a time (see the module documentation).
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fake GitHub token (assembled, so no scanner takes this file for a leak).
fn fake_secret() -> String {
    format!("gh{}_{}", "p", "E2eCodexFakeTokenForRedaction0123456789")
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

// ---------------------------------------------------------------------------------------------
// Where the mirror goes, read back without the product's code

enum Dest {
    /// The embedded store: `$HOME/.tracecraft/store/<project>/...` as files.
    Local { root: PathBuf },
    /// s3s-fs (objects are files under its data root) or moto (read over HTTP).
    S3 { server: ServerProcess },
}

impl Dest {
    fn name(&self) -> &'static str {
        match self {
            Dest::Local { .. } => "local",
            Dest::S3 { server } => server.kind.name(),
        }
    }

    fn project(&self) -> &'static str {
        match self {
            Dest::Local { .. } => "default",
            Dest::S3 { .. } => S3_PROJECT,
        }
    }

    /// Every key under `prefix`, sorted.
    fn list(&self, prefix: &str) -> Vec<String> {
        let mut keys = match self {
            Dest::Local { root } => servers::files_under(root),
            Dest::S3 { server } if server.kind == Kind::S3s => {
                servers::files_under(&server.data_root().join(servers::BUCKET))
            }
            Dest::S3 { server } => servers::moto::list(&server.server(), prefix),
        };
        keys.retain(|k| k.starts_with(prefix));
        keys.sort();
        keys
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self {
            Dest::Local { root } => fs::read(root.join(key)).ok(),
            Dest::S3 { server } if server.kind == Kind::S3s => {
                fs::read(server.data_root().join(servers::BUCKET).join(key)).ok()
            }
            Dest::S3 { server } => servers::moto::get(&server.server(), key),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One Codex installation with tracecraft-hook

struct World {
    codex: Codex,
    dest: Dest,
    /// Kept on failure or with TRACECRAFT_TEST_KEEP=1 (HOME inside it).
    _scratch: Home,
}

/// What the store held for one session.
struct Mirrored {
    /// (key, bytes) of the parts, in key order.
    parts: Vec<(String, Vec<u8>)>,
    meta: Value,
    rollout: Vec<u8>,
}

impl World {
    /// A scratch HOME, CODEX_HOME and work directory, the mock, and the destination `kind`
    /// (`None`: the embedded local store, no config file).
    fn new(bin: &Path, kind: Option<Kind>) -> World {
        let scratch = Home::new();
        let codex = Codex::new(bin, &scratch.scratch(""), scratch.path());
        let dest = match kind {
            None => Dest::Local { root: codex.home.join(".tracecraft/store") },
            Some(kind) => {
                let server = ServerProcess::spawn(kind);
                Dest::S3 { server }
            }
        };
        let w = World { codex, dest, _scratch: scratch };
        if let Dest::S3 { server } = &w.dest {
            w.use_endpoint(&server.endpoint());
        }
        w
    }

    /// (Re)write `~/.tracecraft/config.json` for the S3 server, reached at `endpoint` (the
    /// server itself, or a proxy in front of it).
    fn use_endpoint(&self, endpoint: &str) {
        let Dest::S3 { server } = &self.dest else { panic!("use_endpoint needs an S3 destination") };
        let dir = self.codex.home.join(".tracecraft");
        fs::create_dir_all(&dir).expect("mkdir ~/.tracecraft");
        let cfg = json!({
            "backend": "s3", "endpoint": endpoint, "bucket": servers::BUCKET,
            "project": S3_PROJECT, "agent_id": "e2e-codex", "access_key": server.access_key,
            "secret_key": server.secret_key, "region": servers::REGION,
        });
        let path = dir.join("config.json");
        fs::write(&path, serde_json::to_vec_pretty(&cfg).expect("json")).expect("write config.json");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod 600");
    }

    /// Register our hook the way users do: `tracecraft-hook install --codex` (user scope:
    /// `$CODEX_HOME/hooks.json`), which must name `<binary> hook --harness codex` for
    /// SessionStart, UserPromptSubmit, Stop and SessionEnd.
    fn register(&self) {
        let out = self.codex.hook(&["install", "--codex"]);
        assert!(
            out.status.success(),
            "tracecraft-hook install --codex: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(self.codex.hooks_path().is_file(), "install --codex wrote no $CODEX_HOME/hooks.json");
        for ev in ["SessionStart", "UserPromptSubmit", "Stop", "SessionEnd"] {
            let cmds = self.codex.hook_commands(ev);
            assert!(cmds.contains(&hook_command()), "{ev} handlers in hooks.json: {cmds:?}");
        }
    }

    fn prefix(&self, id: &str) -> String {
        format!("{}/sessions/codex/{id}/", self.dest.project())
    }

    fn meta(&self, id: &str) -> Option<Value> {
        let key = format!("{}meta.json", self.prefix(id));
        self.dest.get(&key).map(|b| {
            serde_json::from_slice(&b)
                .unwrap_or_else(|e| panic!("{key} is not JSON ({e}): {}", String::from_utf8_lossy(&b)))
        })
    }

    /// The parts under the session's prefix, in key order; panics on any other object but
    /// meta.json.
    fn parts(&self, id: &str) -> Vec<(String, Vec<u8>)> {
        let prefix = self.prefix(id);
        let mut parts = Vec::new();
        for key in self.dest.list(&prefix) {
            let name = &key[prefix.len()..];
            if name == "meta.json" {
                continue;
            }
            assert!(common::is_part_key(name), "unexpected object {key:?} under the session prefix");
            let bytes = self.dest.get(&key).unwrap_or_else(|| panic!("part {key} listed but not readable"));
            parts.push((key, bytes));
        }
        parts
    }

    /// Wait until the mirror of `id` has settled: every hook process of this HOME is gone
    /// (bounded by [`HOOKS_TIMEOUT`]); then, bounded by [`SETTLE_TIMEOUT`], until meta.json has
    /// `ended_at` and the parts replay to `expected` (nothing should still change by then).
    /// No blind sleep: returns as soon as that holds.
    fn settle(&self, id: &str, expected: &[u8]) -> Duration {
        let t0 = Instant::now();
        self.codex.wait_for_hooks(HOOKS_TIMEOUT);
        let t1 = Instant::now();
        loop {
            let ended = self.meta(id).is_some_and(|m| m["ended_at"].is_string());
            let replay: Vec<u8> = self.parts(id).into_iter().flat_map(|(_, b)| b).collect();
            if (ended && replay == expected) || t1.elapsed() > SETTLE_TIMEOUT {
                return t0.elapsed();
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The central check, after `run`: the store holds exactly the redacted rollout of `id`
    /// (parts concatenated, our `show`, the Python CLI), and meta.json says it ended.
    fn assert_mirrored(&self, run: &Exec, id: &str) -> Mirrored {
        let path = self.codex.rollout(id);
        let rollout = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let kinds = rollout_kinds(&rollout);
        assert_eq!(kinds.first().map(String::as_str), Some("session_meta"), "rollout {}", path.display());
        // The line Codex writes after the Stop hook ran: the race the mirror must survive.
        assert_eq!(kinds.last().map(String::as_str), Some("event_msg/task_complete"), "rollout {}", path.display());
        assert!(rollout.ends_with(b"\n"), "the rollout ends mid-line");
        let mut counts = BTreeMap::new();
        let expected = Redactor::new(&[]).expect("redactor").redact(&rollout, &mut counts).into_owned();
        counts.retain(|_, v| *v > 0);

        let took = self.settle(id, &expected);
        let parts = self.parts(id);
        let replay: Vec<u8> = parts.iter().flat_map(|(_, b)| b.iter().copied()).collect();
        let sizes: Vec<_> = parts.iter().map(|(k, b)| (&k[k.len() - 25..], b.len())).collect();
        assert_same(&replay, &expected, &format!("session {id} on {}: the parts {sizes:?}", self.dest.name()));

        // Our own reader.
        let out = self.codex.hook(&["show", "--harness", "codex", "--raw", id]);
        assert!(
            out.status.success(),
            "tracecraft-hook show --harness codex --raw {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_same(&out.stdout, &expected, &format!("`show --harness codex --raw {id}` on {}", self.dest.name()));

        let meta = self.meta(id).unwrap_or_else(|| panic!("no meta.json for {id} on {}", self.dest.name()));
        assert_eq!(meta["schema_version"], json!(1), "{meta}");
        assert_eq!(meta["harness"], json!("codex"), "{meta}");
        assert_eq!(meta["session_id"], json!(id), "{meta}");
        assert!(meta["started_at"].is_string(), "started_at: {meta}");
        assert!(meta["ended_at"].is_string(), "the session did not end: {meta}");
        assert_eq!(meta["total_source_bytes"], json!(rollout.len()), "total_source_bytes: {meta}");
        assert_eq!(meta["source_path"], json!(path.to_string_lossy()), "source_path: {meta}");
        assert_eq!(meta["cwd"], json!(self.codex.work.to_string_lossy()), "cwd: {meta}");
        let mut listed: Vec<String> = meta["parts"]
            .as_array()
            .expect("parts[]")
            .iter()
            .map(|p| {
                format!(
                    "{}part-{:05}-{}.jsonl",
                    self.prefix(id),
                    p["seq"].as_u64().expect("seq"),
                    p["uuid"].as_str().expect("uuid")
                )
            })
            .collect();
        listed.sort();
        assert_eq!(listed, parts.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(), "meta.json parts vs objects");
        let recorded: BTreeMap<String, u64> = meta["redaction_counts"]
            .as_object()
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_u64()?))).filter(|(_, v)| *v > 0).collect())
            .unwrap_or_default();
        assert_eq!(recorded, counts, "redaction_counts: {meta}");

        // The Python CLI replays it from the bucket (S3 only: it has no local store).
        if matches!(self.dest, Dest::S3 { .. }) {
            if let Some(out) =
                common::tracecraft_py(&self.codex.home, &self.codex.work, &["session", "show", id, "--tail", "1000000"])
            {
                let text = String::from_utf8_lossy(&out.stdout);
                let tail = text.split("\n--- tail ---\n").nth(1).unwrap_or_else(|| panic!("no tail in: {text}"));
                assert_same(
                    tail.as_bytes(),
                    &expected,
                    &format!("`tracecraft session show {id}` on {}", self.dest.name()),
                );
                let head: Value = serde_json::from_str(text.split("\n--- tail ---\n").next().unwrap())
                    .unwrap_or_else(|e| panic!("tracecraft session show printed no meta.json ({e}): {text}"));
                assert_eq!(head["harness"], json!("codex"));
            }
        }
        say(&format!(
            "e2e codex: {} on {}: {} bytes, {} part(s), mirror settled {} ms after codex exited (codex exec {} ms)",
            &id[id.len().saturating_sub(12)..],
            self.dest.name(),
            rollout.len(),
            parts.len(),
            took.as_millis(),
            run.wall.as_millis()
        ));
        Mirrored { parts, meta, rollout }
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// The three runs of the issue on one destination: one turn with a secret in the prompt, a
/// tool-call turn, and that session resumed.
fn mirror_scenario(kind: Option<Kind>) {
    let _serial = serial();
    let Some(bin) = codex_bin() else { return };
    if let Some(kind) = kind {
        if !servers::program_available(kind) {
            return;
        }
    }
    let Some(_net) = codex::offline() else { return };
    let mut w = World::new(&bin, kind);
    w.register();

    // (1) One turn; the prompt carries a secret-shaped string.
    let secret = fake_secret();
    let a = w.codex.exec(&[&format!("keep this safe: {secret} and say hi")]);
    assert!(a.last_message().contains("You said: keep this safe"), "{}", a.last_message());
    let ida = a.thread_id();
    let ma = w.assert_mirrored(&a, &ida);
    let n = count(&ma.rollout, secret.as_bytes());
    assert!(n >= 1, "the secret is not in the rollout: the check below would prove nothing");
    let stored: Vec<u8> = ma.parts.iter().flat_map(|(_, b)| b.clone()).collect();
    assert_eq!(count(&stored, secret.as_bytes()), 0, "the secret reached the store");
    assert_eq!(count(&stored, b"[REDACTED:github_pat]"), n, "each copy of the secret redacted, and nothing else");
    assert_eq!(ma.meta["redaction_counts"]["github_pat"], json!(n), "{}", ma.meta);
    // Only the store is redacted: Codex's own file keeps what was said.
    let rollout_now = fs::read(w.codex.rollout(&ida)).unwrap();
    assert_eq!(count(&rollout_now, secret.as_bytes()), n, "the rollout itself was changed");

    // (2) A turn with a shell tool call (Codex's exec_command).
    let b = w.codex.exec(&["RUNTOOL: please run a shell command"]);
    let cmds = b.items("command_execution");
    assert_eq!(cmds.len(), 1, "commands run: {cmds:?}");
    assert!(cmds[0]["aggregated_output"].as_str().unwrap_or("").contains(codex::MOCK_TOOL_OUTPUT), "{:?}", cmds[0]);
    assert!(b.last_message().starts_with("Tool finished."), "{}", b.last_message());
    let idb = b.thread_id();
    assert_ne!(idb, ida);
    let mb = w.assert_mirrored(&b, &idb);
    let kinds = rollout_kinds(&mb.rollout);
    for k in ["response_item/function_call", "response_item/function_call_output", "event_msg/token_count"] {
        assert!(kinds.iter().any(|x| x == k), "no {k} in the rollout: {kinds:?}");
    }

    // (3) The tool-call session resumed: Codex appends to the same rollout; every part
    // uploaded before stays as it was and new ones follow.
    let c = w.codex.exec(&["resume", &idb, "again"]);
    assert_eq!(c.thread_id(), idb, "resume continued another session");
    assert!(c.last_message().contains("You said: again"), "{}", c.last_message());
    let mc = w.assert_mirrored(&c, &idb);
    assert!(mc.rollout.starts_with(&mb.rollout), "resume rewrote the rollout instead of appending");
    for (key, bytes) in &mb.parts {
        let now = mc.parts.iter().find(|(k, _)| k == key);
        assert_eq!(now.map(|(_, b)| b), Some(bytes), "part {key} of the first run changed or vanished");
    }
    assert!(mc.parts.len() > mb.parts.len(), "the resumed run added no part");
    // The first session was left alone.
    let again = w.parts(&ida);
    assert_eq!(again, ma.parts, "session {ida} changed while another ran");
}

#[test]
fn codex_mirror_local() {
    mirror_scenario(None);
}

#[test]
fn codex_mirror_s3s() {
    mirror_scenario(Some(Kind::S3s));
}

#[test]
fn codex_mirror_moto() {
    mirror_scenario(Some(Kind::Moto));
}

/// The Stop race alone: our hook on Stop only (no SessionEnd to catch up), and Codex writes
/// the rollout's last line (`event_msg/task_complete`) after the Stop hook ran. The mirror
/// must still hold the whole rollout once the hook's processes are done.
#[test]
fn codex_stop_race_without_session_end() {
    let _serial = serial();
    let Some(bin) = codex_bin() else { return };
    let Some(_net) = codex::offline() else { return };
    let mut w = World::new(&bin, None);
    w.codex.write_hooks(&["Stop"], &hook_command());
    let a = w.codex.exec(&["say hi"]);
    let id = a.thread_id();
    let rollout = fs::read(w.codex.rollout(&id)).unwrap();
    assert_eq!(rollout_kinds(&rollout).last().map(String::as_str), Some("event_msg/task_complete"));
    let took = w.codex.wait_for_hooks(HOOKS_TIMEOUT);
    let expected = Redactor::new(&[]).expect("redactor").redact(&rollout, &mut BTreeMap::new()).into_owned();
    let t0 = Instant::now();
    let replay = loop {
        let replay: Vec<u8> = w.parts(&id).into_iter().flat_map(|(_, b)| b).collect();
        if replay == expected || t0.elapsed() > SETTLE_TIMEOUT {
            break replay;
        }
        thread::sleep(Duration::from_millis(50));
    };
    assert_same(&replay, &expected, &format!("session {id} mirrored by Stop alone"));
    let meta = w.meta(&id).expect("meta.json");
    assert_eq!(meta["total_source_bytes"], json!(rollout.len()), "{meta}");
    say(&format!(
        "e2e codex: Stop alone mirrored the whole rollout; hooks done {} ms after codex exited",
        took.as_millis()
    ));
}

/// Codex caps SessionEnd hooks at 3 s. With every S3 response held 2 s, the end of the session
/// (last part, then meta.json with `ended_at`) cannot fit in it: it must still land, and the
/// mirror be exact, after Codex exited.
#[test]
fn codex_slow_s3_during_session_end() {
    let _serial = serial();
    let Some(bin) = codex_bin() else { return };
    if !servers::program_available(Kind::S3s) {
        return;
    }
    let Some(_net) = codex::offline() else { return };
    let mut w = World::new(&bin, Some(Kind::S3s));
    let Dest::S3 { server } = &w.dest else { unreachable!() };
    let proxy = FaultProxy::start(server.addr, FaultProxy::mode(Fault::Slow(Duration::from_secs(2))));
    w.use_endpoint(&proxy.endpoint());
    w.register();
    let a = w.codex.exec(&["say hi slowly"]);
    let id = a.thread_id();
    let ended_at_exit = w.meta(&id).is_some_and(|m| m["ended_at"].is_string());
    assert!(!ended_at_exit, "ended_at was there when Codex exited: the bucket was not slow enough to test the cap");
    w.assert_mirrored(&a, &id);
    say(&format!("e2e codex: slow S3: {} delayed requests", proxy.requests()));
}

/// Trust recorded by `install --codex --trust` (`[hooks.state."<key>"] trusted_hash` in
/// config.toml, hashes from the real `codex app-server`'s `hooks/list`), no bypass flag: before
/// it, `codex exec` skips our hook without a word (nothing mirrored) and `doctor` says the hooks
/// are not trusted; after it, `doctor` says they are and the session is mirrored exactly; after
/// `uninstall --codex` our handlers and their trust entries are gone and nothing is mirrored.
#[test]
fn codex_recorded_trust_and_doctor() {
    let _serial = serial();
    let Some(bin) = codex_bin() else { return };
    let Some(_net) = codex::offline() else { return };
    let mut w = World::new(&bin, None);
    w.register();
    w.codex.bypass_trust = false;
    let doctor = |w: &World| -> String {
        let out = w.codex.hook(&["doctor"]);
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    };
    let before = doctor(&w);
    assert!(before.contains("not trusted yet"), "doctor before trust:\n{before}");

    let a = w.codex.exec(&["an untrusted turn"]);
    let ida = a.thread_id();
    w.codex.wait_for_hooks(HOOKS_TIMEOUT);
    assert!(w.parts(&ida).is_empty() && w.meta(&ida).is_none(), "an untrusted hook ran: the control proves nothing");

    // The product records the trust: `install --codex --trust` asks the real `codex app-server`.
    let out = w.codex.hook(&["install", "--codex", "--trust", "--codex-bin", &bin.to_string_lossy()]);
    assert!(
        out.status.success(),
        "install --codex --trust: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let toml = fs::read_to_string(w.codex.codex_home.join("config.toml")).expect("config.toml");
    let hooks_json = w.codex.hooks_path().to_string_lossy().into_owned();
    assert!(toml.contains(&format!("[hooks.state.\"{hooks_json}:stop:")), "no trust for Stop in config.toml:\n{toml}");
    let after = doctor(&w);
    assert!(after.contains("our hooks are trusted in config.toml"), "doctor after trust:\n{after}");
    assert!(!after.contains("not trusted yet"), "doctor after trust:\n{after}");

    let b = w.codex.exec(&["a trusted turn"]);
    w.assert_mirrored(&b, &b.thread_id());

    // `uninstall --codex`: our handlers are gone, and even with every hook run regardless of
    // trust, the next session is not mirrored.
    let out = w.codex.hook(&["uninstall", "--codex"]);
    assert!(out.status.success(), "uninstall --codex: {}", String::from_utf8_lossy(&out.stderr));
    for ev in ["SessionStart", "UserPromptSubmit", "Stop", "SessionEnd"] {
        let cmds = w.codex.hook_commands(ev);
        assert!(!cmds.contains(&hook_command()), "{ev} still has our handler after uninstall: {cmds:?}");
    }
    let toml = fs::read_to_string(w.codex.codex_home.join("config.toml")).expect("config.toml");
    assert!(!toml.contains("[hooks.state."), "trust entries left after uninstall --codex:\n{toml}");
    w.codex.bypass_trust = true;
    let c = w.codex.exec(&["after uninstall"]);
    let idc = c.thread_id();
    w.codex.wait_for_hooks(HOOKS_TIMEOUT);
    assert!(w.parts(&idc).is_empty() && w.meta(&idc).is_none(), "mirrored after uninstall --codex");
}

/// The harness alone (no tracecraft-hook): Codex runs offline against the mock, and a probe
/// hook on every event (`tests/e2e/codex_probe_hook.py`, trusted by
/// `--dangerously-bypass-hook-trust`) sees SessionStart (startup, then resume),
/// UserPromptSubmit, the tool hooks, Stop and SessionEnd, each naming the session and its
/// rollout; at Stop the rollout's last line is not on disk yet (the Stop race).
#[test]
fn codex_runs_offline_and_fires_hooks() {
    let _serial = serial();
    let Some(bin) = codex_bin() else { return };
    let Some(net) = codex::offline() else { return };
    let scratch = Home::new();
    let mut cx = Codex::new(&bin, &scratch.scratch(""), scratch.path());
    say(&format!("e2e codex: {} ({net:?} network)", codex::version(&bin)));
    let probe = |cx: &Codex, name: &str| -> PathBuf {
        let dir = cx.root.join(format!("probe-{name}"));
        fs::create_dir_all(&dir).unwrap();
        let cmd = format!("python3 '{}' '{}'", repo().join("tests/e2e/codex_probe_hook.py").display(), dir.display());
        cx.write_hooks(codex::ALL_EVENTS, &cmd);
        dir
    };
    let probed = |dir: &Path| -> Vec<Value> {
        let mut files: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files.iter().map(|p| serde_json::from_slice(&fs::read(p).unwrap()).expect("payload is JSON")).collect()
    };
    let check = |cx: &Codex, dir: &Path, id: &str, want: &[&str], source: &str| {
        let got = probed(dir);
        let events: Vec<&str> = got.iter().filter_map(|p| p["hook_event_name"].as_str()).collect();
        let mut at = 0;
        for w in want {
            at += events[at..].iter().position(|e| e == w).unwrap_or_else(|| panic!("no {w} (in order) in {events:?}"))
                + 1;
        }
        let rollout = cx.rollout(id);
        for p in &got {
            assert_eq!(p["session_id"], json!(id), "{p}");
            assert_eq!(p["transcript_path"], json!(rollout.to_string_lossy()), "{p}");
            assert_eq!(p["cwd"], json!(cx.work.to_string_lossy()), "{p}");
        }
        let start = got.iter().find(|p| p["hook_event_name"] == json!("SessionStart")).unwrap();
        assert_eq!(start["source"], json!(source));
        // Whether this turn's last rollout line (`event_msg/task_complete`) was on disk when Stop ran.
        let stop = got.iter().find(|p| p["hook_event_name"] == json!("Stop")).unwrap();
        let at_stop = stop["_rollout_at_hook"]["task_completes"].as_u64().expect("the probe read the rollout at Stop");
        let kinds = rollout_kinds(&fs::read(&rollout).unwrap());
        at_stop == kinds.iter().filter(|k| *k == "event_msg/task_complete").count() as u64
    };

    let dir = probe(&cx, "a");
    let a = cx.exec(&["say hi"]);
    assert_eq!(a.last_message(), "Hello from the mock (request 1). You said: say hi");
    let mut complete_at_stop =
        vec![check(&cx, &dir, &a.thread_id(), &["SessionStart", "UserPromptSubmit", "Stop", "SessionEnd"], "startup")];

    let dir = probe(&cx, "b");
    let b = cx.exec(&["RUNTOOL: please run a shell command"]);
    let cmds = b.items("command_execution");
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    assert!(cmds[0]["command"].as_str().unwrap_or("").contains("echo hi-from-tool"), "{:?}", cmds[0]);
    let want = ["SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop", "SessionEnd"];
    complete_at_stop.push(check(&cx, &dir, &b.thread_id(), &want, "startup"));

    let dir = probe(&cx, "c");
    let c = cx.exec(&["resume", &b.thread_id(), "again"]);
    assert_eq!(c.thread_id(), b.thread_id());
    complete_at_stop.push(check(
        &cx,
        &dir,
        &c.thread_id(),
        &["SessionStart", "UserPromptSubmit", "Stop", "SessionEnd"],
        "resume",
    ));
    // The Stop race `codex_stop_race_without_session_end` is about: seen in every run so far.
    say(&format!("e2e codex: rollout complete when Stop ran: {complete_at_stop:?} (runs A, B, C)"));
    assert!(
        complete_at_stop.contains(&false),
        "the rollout was complete at every Stop: the Stop race test no longer tests the race"
    );

    // Nothing but the Responses API was asked for.
    let reqs = cx.mock.requests();
    let paths: Vec<String> = reqs
        .iter()
        .map(|r| format!("{} {}", r["method"].as_str().unwrap_or(""), r["path"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(paths, vec!["POST /v1/responses".to_string(); 4], "requests to the mock");
    let auth = reqs[0]["headers"]
        .as_object()
        .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case("authorization")).map(|(_, v)| v.clone()));
    assert_eq!(auth, Some(json!("Bearer dummy-key")), "the key from MOCK_API_KEY: {}", reqs[0]["headers"]);
}
