//! Compatibility with the Python `tracecraft` CLI (PyPI `tracecraft-ai`) on a real S3 server:
//! a session it started is continued without duplication, it reads what we write, and its
//! `compact` does not confuse our next flush.

mod common;

use common::{Backend, Env};

fn tracecraft(env: &Env, args: &[&str]) -> Option<std::process::Output> {
    env.tracecraft_py(args)
}

fn flush(env: &Env, sid: &str) {
    let out = env.run(&["flush", "--session-id", sid]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn session_started_by_python_is_continued_without_duplication_and_reads_back() {
    let Some(env) = Env::try_new(Backend::S3s, "pycompat") else { return };
    let sid = "9b1f0c2e-1111-4a2b-8c3d-0123456789ab";
    let cwd = env.project_dir().to_str().unwrap().to_string();
    env.write_transcript(sid, 3, 0);
    if tracecraft(&env, &["session", "mirror", "--session-id", sid, "--cwd", &cwd]).is_none() {
        return;
    }
    assert_eq!(env.part_keys(sid).len(), 1, "python wrote part 0");
    env.write_transcript(sid, 2, 3);
    flush(&env, sid);
    let transcript = std::fs::read(env.transcript_path(sid)).unwrap();
    assert_eq!(env.replay(sid), transcript, "continued exactly");
    let keys = env.part_keys(sid);
    assert_eq!(keys.len(), 2);
    assert!(keys[1].contains("/part-00001-"), "{keys:?}");

    // Python reads our parts back: its --tail prints the transcript's lines.
    let out = tracecraft(&env, &["session", "show", sid, "--tail", "100"]).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let tail = text.split("--- tail ---\n").nth(1).unwrap();
    assert_eq!(tail.as_bytes(), &transcript[..]);

    // Python compacts; our next flush continues after its merged part without duplicates,
    // and meta.json keeps its compaction (merged, not overwritten by our stale copy).
    tracecraft(&env, &["session", "compact", sid]).unwrap();
    assert_eq!(env.part_keys(sid).len(), 1);
    env.write_transcript(sid, 2, 5);
    flush(&env, sid);
    assert_eq!(env.replay(sid), std::fs::read(env.transcript_path(sid)).unwrap());
    let meta = env.meta(sid).unwrap();
    let parts = meta["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 2, "{meta}");
    assert!(parts[0]["compacted_from"].is_number(), "{meta}");
    assert!(meta["last_compacted_at"].is_string());
    let out = tracecraft(&env, &["session", "list"]).unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&sid[..8]));
}
