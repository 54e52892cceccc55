//! Client-side encryption (issue #12 item 4), end to end with the real binary: sessions
//! sealed with age on the embedded store and on s3s-fs read back with `show`, `list`,
//! `stats`, `restore` and `compact`; the stored bytes hold no plaintext; the Python CLI's
//! part regex skips sealed parts; a missing or wrong identity fails with one clear line; a
//! session that switches between plain and sealed replays exactly. Interop with the real
//! `age` CLI (Debian package `age`) both ways: a missing CLI FAILS with the install command.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::transcript::{transcript_line_with_text, MODEL};
use common::{append, Backend, Env};
use serde_json::{json, Value};
use tracecraft_hook::base::age;

/// A prompt and a model name that must never appear in the bucket.
const PROMPT: &str = "violet-otter-prompt-4471 please refactor the billing module";
const SECRET_MODEL: &str = "claude-sealed-model-x7";

fn age_cli() -> &'static str {
    let ok = Command::new("age").arg("--version").output().is_ok_and(|o| o.status.success())
        && Command::new("age-keygen").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(ok, "the age CLI is missing: install it with `apt-get install -y age` (Debian/Ubuntu) and run again");
    "age"
}

/// Lines `start..start + n`, every user line carrying PROMPT, assistants answering as SECRET_MODEL.
fn lines(sid: &str, cwd: &Path, start: u64, n: u64) -> Vec<u8> {
    (start..start + n)
        .flat_map(|i| {
            transcript_line_with_text(sid, cwd, i, &format!("{PROMPT} #{i}")).replace(MODEL, SECRET_MODEL).into_bytes()
        })
        .collect()
}

fn ok(e: &Env, args: &[&str]) -> Vec<u8> {
    let out = e.run(args);
    assert!(
        out.status.success(),
        "{args:?} on {}: {}\n{}",
        e.backend.name(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Exit code 1 and exactly one line on stderr; returns it.
fn fails_one_line(e: &Env, args: &[&str]) -> String {
    let out = e.run(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?} should fail: {}\n{err}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: one line expected: {err}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
    err
}

/// The config of this env with `encrypt` added (or the local store's when Local).
fn encrypted_config(e: &Env, recipient: &str) -> Value {
    let mut c = match e.endpoint() {
        Some(ep) => e.config_value(&ep),
        None => json!({"backend": "local"}),
    };
    c["encrypt"] = json!({"recipients": [recipient]});
    c
}

fn plain_config(e: &Env) -> Value {
    match e.endpoint() {
        Some(ep) => e.config_value(&ep),
        None => json!({"backend": "local"}),
    }
}

/// `tracecraft-hook keygen`: returns (identity file, recipient).
fn keygen(e: &Env) -> (PathBuf, String) {
    let out = String::from_utf8(ok(e, &["keygen"])).unwrap();
    let key = e.home().join(".tracecraft/age.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "identity file mode");
    let r = out.lines().find_map(|l| l.strip_prefix("recipient: ")).unwrap_or_else(|| panic!("{out}")).to_string();
    assert!(r.starts_with("age1"), "{out}");
    // Idempotent: a second run keeps the key.
    let before = std::fs::read(&key).unwrap();
    assert!(String::from_utf8(ok(e, &["keygen"])).unwrap().contains(&r));
    assert_eq!(std::fs::read(&key).unwrap(), before);
    (key, r)
}

/// `age -d -i key` of `ct`.
fn age_decrypt(key: &Path, ct: &[u8], dir: &Path) -> Vec<u8> {
    let f = dir.join(format!("ct-{}", common::random_hex(8)));
    std::fs::write(&f, ct).unwrap();
    let out = Command::new(age_cli()).arg("-d").arg("-i").arg(key).arg(&f).output().unwrap();
    assert!(out.status.success(), "age -d: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Every object of the project: none may contain the prompt, the model or the project path.
fn assert_no_plaintext(e: &Env) {
    let keys = e.project_keys();
    assert!(!keys.is_empty());
    let cwd = e.project_dir().to_string_lossy().into_owned();
    for k in &keys {
        let body = e.get(k).unwrap();
        let text = String::from_utf8_lossy(&body);
        for needle in ["violet-otter", SECRET_MODEL, cwd.as_str(), "prompt", "input_tokens"] {
            assert!(!text.contains(needle), "{k} on {} holds {needle:?} in the clear", e.backend.name());
        }
    }
}

fn sealed_parts(e: &Env, sid: &str) -> Vec<String> {
    e.list_keys(&e.session_prefix(sid)).into_iter().filter(|k| k.ends_with(".jsonl.age")).collect()
}

fn flush(e: &Env, t: &Path, final_: bool) {
    let t = t.to_string_lossy().into_owned();
    let mut args = vec!["flush", "--transcript", t.as_str()];
    if final_ {
        args.push("--final");
    }
    ok(e, &args);
}

fn encrypted_round_trip(backend: Backend) {
    age_cli();
    let e = Env::new(backend, "encrypted-round-trip");
    let (key, recipient) = keygen(&e);
    e.write_config_value(&encrypted_config(&e, &recipient));
    assert!(doctor(&e).contains("reads it"), "{}", doctor(&e));
    let sid = "5e1ed000-0000-4000-8000-000000000001";
    let t = e.transcript_path(sid);
    let mut all = lines(sid, e.project_dir(), 0, 6);
    append(&t, &all);

    // The hook (inline) mirrors, then a manual flush adds a second part.
    let out = e.run_hook(&e.payload("UserPromptSubmit", sid));
    assert!(out.status.success() && out.stdout.is_empty());
    let more = lines(sid, e.project_dir(), 6, 5);
    append(&t, &more);
    all.extend_from_slice(&more);
    flush(&e, &t, false);

    let parts = sealed_parts(&e, sid);
    assert_eq!(parts.len(), 2, "{:?}", e.project_keys());
    assert!(e.part_keys(sid).is_empty(), "the Python regex must not take sealed parts for plain ones");
    assert_no_plaintext(&e);
    // The real age CLI opens every part and meta.json's sealed fields.
    let dir = tempfile::tempdir().unwrap();
    let replay: Vec<u8> = parts.iter().flat_map(|k| age_decrypt(&key, &e.get(k).unwrap(), dir.path())).collect();
    assert_eq!(replay, all);
    let meta = e.meta(sid).unwrap();
    assert_eq!(meta["cwd"], Value::Null);
    assert_eq!(meta["parts"][0]["encryption"], "age");
    assert!(meta["parts"][0].get("sha256").is_none() && meta.get("stats").is_none());
    let sealed = base64_decode(meta["sealed"]["data"].as_str().unwrap());
    let inner: Value = serde_json::from_slice(&age_decrypt(&key, &sealed, dir.path())).unwrap();
    assert_eq!(inner["cwd"], e.project_dir().to_string_lossy().as_ref());
    assert!(inner["stats"].to_string().contains(SECRET_MODEL), "{}", inner["stats"]);

    // Readers, with the identity.
    assert_eq!(ok(&e, &["show", sid, "--raw"]), all);
    let tail: Vec<u8> = lines(sid, e.project_dir(), 9, 2);
    assert_eq!(ok(&e, &["show", sid, "--tail", "2"]), tail);
    let list: Value = serde_json::from_slice(&ok(&e, &["list", "--json"])).unwrap();
    assert_eq!(list[0]["id"], sid, "{list}");
    let stats = String::from_utf8(ok(&e, &["stats", "--json"])).unwrap();
    assert!(stats.contains(SECRET_MODEL), "{stats}");
    let page = dir.path().join("page.html");
    ok(&e, &["html", sid, "-o", page.to_str().unwrap()]);
    assert!(
        std::fs::read_to_string(&page).unwrap().contains("violet-otter-prompt-4471"),
        "html renders the decrypted session"
    );

    let out = e.run(&["share", sid]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NOT encrypted"), "share warns that its page is plain");
    e.run(&["share", "--revoke", sid]);

    // restore: the local transcript is gone; the bucket's copy comes back byte for byte.
    std::fs::remove_file(&t).unwrap();
    ok(&e, &["restore", sid]);
    assert_eq!(std::fs::read(&t).unwrap(), all);

    // compact re-encrypts the merged part; the replay is unchanged.
    let more = lines(sid, e.project_dir(), 11, 3);
    append(&t, &more);
    all.extend_from_slice(&more);
    flush(&e, &t, false);
    assert_eq!(sealed_parts(&e, sid).len(), 3);
    let out = String::from_utf8(ok(&e, &["compact", sid])).unwrap();
    assert!(out.contains(".jsonl.age"), "{out}");
    let parts = sealed_parts(&e, sid);
    assert_eq!(parts.len(), 1, "{parts:?}");
    assert_eq!(age_decrypt(&key, &e.get(&parts[0]).unwrap(), dir.path()), all);
    assert_eq!(ok(&e, &["show", sid, "--raw"]), all);
    assert_no_plaintext(&e);

    // Without the identity: one clear line naming the file, for every reader.
    let moved = e.home().join("age.key.away");
    std::fs::rename(&key, &moved).unwrap();
    assert!(doctor(&e).contains("can write, not read"), "{}", doctor(&e));
    for args in [
        vec!["show", sid, "--raw"],
        vec!["list"],
        vec!["stats"],
        vec!["restore", sid, "--force"],
        vec!["compact", sid],
        vec!["html", sid, "-o", "/dev/null"],
    ] {
        let err = fails_one_line(&e, &args);
        assert!(err.contains(&key.display().to_string()) && err.contains("does not exist"), "{args:?}: {err}");
    }
    // A writer without the identity still mirrors exactly (even after losing its state).
    let more = lines(sid, e.project_dir(), 14, 2);
    append(&t, &more);
    all.extend_from_slice(&more);
    std::fs::remove_dir_all(e.home().join(".tracecraft/state")).unwrap();
    flush(&e, &t, false);
    // A wrong identity: one line saying no identity can decrypt it.
    std::fs::write(&key, format!("{}\n", age::Identity::generate().unwrap().to_secret_string())).unwrap();
    let err = fails_one_line(&e, &["show", sid, "--raw"]);
    assert!(err.contains("no identity") && err.contains(&key.display().to_string()), "{err}");
    // TRACECRAFT_AGE_IDENTITY points at the right one.
    let out = e.cmd(&["show", sid, "--raw"]).env("TRACECRAFT_AGE_IDENTITY", &moved).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, all, "nothing lost or repeated by the writer without identity");
}

/// `doctor`'s whole output (its exit code depends on checks unrelated to encryption).
fn doctor(e: &Env) -> String {
    let out = e.run(&["doctor"]);
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[test]
fn encrypted_round_trip_local_store() {
    encrypted_round_trip(Backend::Local);
}

#[test]
fn encrypted_round_trip_s3s_fs() {
    encrypted_round_trip(Backend::S3s);
}

/// A session mirrored plain, then sealed (its open part re-sent in the new format), then
/// plain again, replays exactly; compact seals it whole.
#[test]
fn session_switching_between_plain_and_sealed_replays_exactly() {
    age_cli();
    for backend in [Backend::Local, Backend::S3s] {
        let e = Env::new(backend, "encrypt-switch");
        let (_key, recipient) = keygen(&e);
        e.write_config_value(&plain_config(&e));
        let sid = "5e1ed000-0000-4000-8000-000000000002";
        let t = e.transcript_path(sid);
        let mut all = lines(sid, e.project_dir(), 0, 4);
        append(&t, &all);
        // A final flush sends a partial last line: that part stays open.
        append(&t, b"{\"type\":\"user\",\"partial\":");
        all.extend_from_slice(b"{\"type\":\"user\",\"partial\":");
        flush(&e, &t, true);
        assert_eq!(e.part_keys(sid).len(), 1);

        e.write_config_value(&encrypted_config(&e, &recipient));
        append(&t, b"true}\n");
        all.extend_from_slice(b"true}\n");
        let more = lines(sid, e.project_dir(), 4, 3);
        append(&t, &more);
        all.extend_from_slice(&more);
        flush(&e, &t, false);
        // The open part went sealed; its plain version is gone, nothing replays twice.
        assert!(e.part_keys(sid).is_empty(), "{:?}", e.project_keys());
        assert!(!sealed_parts(&e, sid).is_empty());
        assert_eq!(ok(&e, &["show", sid, "--raw"]), all, "{}", backend.name());

        e.write_config_value(&plain_config(&e));
        let more = lines(sid, e.project_dir(), 7, 2);
        append(&t, &more);
        all.extend_from_slice(&more);
        flush(&e, &t, false);
        assert_eq!(e.part_keys(sid).len(), 1, "the newest part is plain again");
        // Reading the mixed session needs the identity only for the sealed parts (default path).
        assert_eq!(ok(&e, &["show", sid, "--raw"]), all);
        // compact refuses to merge sealed parts into a plain one...
        let err = fails_one_line(&e, &["compact", sid]);
        assert!(err.contains("encrypt"), "{err}");
        // ...and with recipients seals the whole replay.
        e.write_config_value(&encrypted_config(&e, &recipient));
        ok(&e, &["compact", sid]);
        assert_eq!(sealed_parts(&e, sid).len(), 1);
        assert!(e.part_keys(sid).is_empty());
        assert_eq!(ok(&e, &["show", sid, "--raw"]), all);
        assert_eq!(ok(&e, &["show", sid, "--tail", "1"]), lines(sid, e.project_dir(), 8, 1));
    }
}

/// Our encryption opens with `age -d`, and `age -r` output opens with our code, across the
/// 64 KiB chunk boundaries and with several recipients.
#[test]
fn interop_with_the_age_cli_both_ways() {
    let bin = age_cli();
    let d = tempfile::tempdir().unwrap();
    let key = d.path().join("key.txt");
    let out = Command::new("age-keygen").arg("-o").arg(&key).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let theirs = age::parse_identities(&std::fs::read_to_string(&key).unwrap()).unwrap();
    let ours = age::Identity::generate().unwrap();
    let recipients = [ours.recipient(), theirs[0].recipient()];
    for len in [0usize, 1, 65_535, 65_536, 65_537, 200_000] {
        let plain: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
        // Ours -> age CLI.
        let ct = age::encrypt(&recipients, &plain).unwrap();
        assert_eq!(age_decrypt(&key, &ct, d.path()), plain, "len {len}");
        // age CLI -> ours (to our recipient and theirs).
        let pf = d.path().join("plain");
        std::fs::write(&pf, &plain).unwrap();
        let out: Output = Command::new(bin)
            .arg("-r")
            .arg(ours.recipient().to_string())
            .arg("-r")
            .arg(theirs[0].recipient().to_string())
            .arg(&pf)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(age::decrypt(std::slice::from_ref(&ours), &out.stdout).unwrap(), plain, "len {len}");
        assert_eq!(age::decrypt(&theirs, &out.stdout).unwrap(), plain, "len {len}");
    }
    // A file for someone else: a clean error, no panic.
    let stranger = age::Identity::generate().unwrap();
    let ct = age::encrypt(&[stranger.recipient()], b"x").unwrap();
    let out = Command::new(bin).arg("-d").arg("-i").arg(&key).output_with_stdin(&ct);
    assert!(!out.status.success());
    assert!(age::decrypt(&theirs, &ct).unwrap_err().0.contains("no identity"));
}

trait WithStdin {
    fn output_with_stdin(&mut self, input: &[u8]) -> Output;
}

impl WithStdin for Command {
    fn output_with_stdin(&mut self, input: &[u8]) -> Output {
        use std::io::Write;
        let mut child = self
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }
}

/// What a Python `tracecraft` user sees of a sealed session: it is listed (from meta.json's
/// clear fields), `show` prints the clear meta.json and an empty replay (no part matches its
/// regex), no plaintext anywhere, and nothing crashes.
#[test]
fn python_cli_lists_a_sealed_session_but_replays_nothing() {
    age_cli();
    let e = Env::new(Backend::S3s, "encrypt-python");
    let (_key, recipient) = keygen(&e);
    e.write_config_value(&encrypted_config(&e, &recipient));
    let sid = "5e1ed000-0000-4000-8000-000000000003";
    let t = e.transcript_path(sid);
    append(&t, &lines(sid, e.project_dir(), 0, 4));
    flush(&e, &t, false);
    let Some(list) = e.tracecraft_py(&["session", "list"]) else { return };
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(list.contains(&sid[..8]), "{list}");
    let show = e.tracecraft_py(&["session", "show", sid, "--tail", "100"]).unwrap();
    let text = String::from_utf8_lossy(&show.stdout).into_owned();
    eprintln!("python sees:\n{list}\n{text}");
    let tail = text.split("--- tail ---\n").nth(1).unwrap_or_else(|| panic!("{text}"));
    assert!(tail.trim().is_empty(), "python replays nothing of a sealed session: {tail}");
    assert!(text.contains("\"sealed\""), "{text}");
    for needle in ["violet-otter", SECRET_MODEL] {
        assert!(!text.contains(needle) && !list.contains(needle), "{needle} in {text}");
    }
}
