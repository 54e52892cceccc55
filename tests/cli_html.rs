//! CLI tests of `html` and `share`: the real binary on every backend (embedded store, s3s-fs,
//! moto), on a real Claude Code session (tool use, a subagent, a failing tool, `/compact`;
//! `tests/fixtures/html/real/`) and on a hostile transcript. The browser checks are in
//! `html_browser.rs`.

mod common;

use std::time::Duration;

use common::pages::{self, REAL_AGENT, REAL_AGENT_CALL, REAL_SID};
use common::{backends, http, Backend, Env};

fn ok(env: &Env, args: &[&str]) -> (String, String) {
    let out = env.run(args);
    assert!(
        out.status.success(),
        "{args:?} failed on {}: {}\n{}",
        env.backend.name(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn fails(env: &Env, args: &[&str]) -> String {
    let out = env.run(args);
    assert_eq!(out.status.code(), Some(1), "{args:?} should fail: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn count(page: &str, needle: &str) -> u64 {
    page.matches(needle).count() as u64
}

/// Every tag in `page` is one the renderer writes, with only the attributes it writes (so no
/// transcript text became markup), and no link is anything but http(s) or an anchor.
fn assert_only_our_tags(page: &str) {
    const TAGS: &[&str] = &[
        "html",
        "head",
        "meta",
        "link",
        "title",
        "style",
        "script",
        "body",
        "div",
        "header",
        "main",
        "section",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "p",
        "dl",
        "dt",
        "dd",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "article",
        "a",
        "span",
        "details",
        "summary",
        "pre",
        "code",
        "strong",
        "em",
        "del",
        "ul",
        "ol",
        "li",
        "blockquote",
        "hr",
        "br",
        "button",
    ];
    const ATTRS: &[&str] = &[
        "type",
        "class",
        "id",
        "href",
        "title",
        "rel",
        "target",
        "lang",
        "charset",
        "http-equiv",
        "content",
        "name",
        "start",
        "open",
    ];
    let mut i = 0;
    while let Some(rel) = page[i..].find('<') {
        let at = i + rel;
        let tag_end = at + page[at..].find('>').expect("unclosed tag");
        let tag = &page[at + 1..tag_end];
        i = tag_end + 1;
        if tag.eq_ignore_ascii_case("!doctype html") {
            continue;
        }
        let tag = tag.strip_prefix('/').unwrap_or(tag);
        let name_len = tag.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(tag.len());
        let name = &tag[..name_len];
        assert!(TAGS.contains(&name), "unexpected tag <{tag}> at {at}");
        let mut rest = &tag[name_len..];
        loop {
            rest = rest.trim_start();
            if rest.is_empty() {
                break;
            }
            let n = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).unwrap_or(rest.len());
            let attr = &rest[..n];
            assert!(ATTRS.contains(&attr), "unexpected attribute {attr:?} in <{tag}>");
            rest = &rest[n..];
            if let Some(v) = rest.strip_prefix("=\"") {
                let close = v.find('"').expect("unterminated attribute");
                let value = &v[..close];
                if attr == "href" {
                    assert!(
                        value.starts_with("https://")
                            || value.starts_with("http://")
                            || value.starts_with('#')
                            || value == "data:,",
                        "link to {value:?}"
                    );
                }
                rest = &v[close + 1..];
            }
        }
    }
    let lazy = count(page, "<section class=\"lazy\"><script type=\"text/plain\">");
    assert_eq!(count(page, "<script"), 1 + lazy, "only the page's own script and its lazy sections' data");
    assert_eq!(count(page, "</script>"), 1 + lazy);
    assert_eq!(count(page, "<style"), 1, "only the page's own styles");
}

#[test]
fn html_renders_a_real_session_with_its_subagent_on_every_backend() {
    for b in backends() {
        let env = Env::new(b, "html-real");
        pages::mirror_real_session(&env);
        let page_path = env.project_dir().join("page.html");
        let (stdout, _) = ok(&env, &["html", &REAL_SID[..8], "--subagents", "-o", page_path.to_str().unwrap()]);
        assert!(
            !std::fs::read_to_string(&page_path).unwrap().contains("section class=\"lazy\""),
            "a small session is eager"
        );
        assert!(stdout.contains("page.html"), "{stdout}");
        let page = std::fs::read_to_string(&page_path).unwrap();
        let parent = pages::real_transcript();
        let child = pages::real_subagent();
        let (pm, pt) = pages::expected_counts(&parent);
        let (cm, ct) = pages::expected_counts(&child);
        assert_eq!(count(&page, "<article class=\"msg "), pm + cm, "messages on {}", b.name());
        assert_eq!(count(&page, "<div class=\"tool-call\""), pt + ct, "tool calls on {}", b.name());
        assert!(page.contains(&format!("<span id=\"count-messages\">{}</span>", pm + cm)));
        for u in pages::expected_uuids(&parent).iter().chain(&pages::expected_uuids(&child)) {
            assert!(page.contains(&format!("id=\"msg-{u}\"")), "anchor for {u}");
        }
        // The subagent sits inside the Agent tool call that started it.
        let call = page.find(&format!("id=\"tool-{REAL_AGENT_CALL}\"")).expect("the Agent call");
        let sub = page.find(&format!("id=\"agent-{REAL_AGENT}\"")).expect("the subagent");
        let call_end = call + page[call..].find("</article>").unwrap();
        assert!(call < sub && sub < call_end, "subagent inside its tool call");
        assert!(page[sub..call_end].contains("Summarise the TODO list in one sentence"), "the subagent's prompt");
        // Header numbers, from meta.json.
        assert!(page.contains("<dt>Turns</dt><dd>4</dd>"), "turns");
        assert!(page.contains("<dt>Tool calls</dt><dd>3</dd>"));
        assert!(page.contains("<dt>Compactions</dt><dd>1</dd>"));
        assert!(page.contains("<dt>Claude Code</dt><dd>2.1.197</dd>"));
        assert!(page.contains("claude-opus-4-8 (subagents)"));
        // Markdown, code, links, errors, compaction, slash commands.
        assert!(page.contains("Found <strong>2 TODOs</strong>:</p><ul><li><code>src/a.rs</code>: parse</li>"));
        assert!(page.contains("<span class=\"lang\">rust</span><pre><code>fn main() { println!(&quot;hi&quot;); }"));
        assert!(page.contains("<a href=\"https://example.com/guide\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">the guide</a>"));
        assert!(page.contains("<article class=\"msg result error\""), "the failing Bash result is marked");
        assert!(page.contains("TODO &lt;b&gt;bold&lt;/b&gt;"), "tool output escaped");
        assert!(page.contains("<article class=\"msg compact\""), "compaction boundary");
        assert!(page.contains("<article class=\"msg compact-summary\""), "compaction summary");
        assert!(page.contains("<code class=\"cmd\">/compact</code>"), "slash command");
        assert_only_our_tags(&page);

        // Without --subagents: no subagent transcript, a pointer to the flag instead; to stdout.
        let (page, _) = ok(&env, &["html", REAL_SID, "-o", "-"]);
        assert_eq!(count(&page, "<article class=\"msg "), pm);
        assert!(!page.contains("class=\"subagent\""));
        assert!(page.contains("render with --subagents"));
    }
}

#[test]
fn hostile_transcript_renders_inert() {
    let env = Env::new(Backend::Local, "html-hostile");
    let sid = "hostile-1";
    let bytes = pages::hostile_transcript(sid);
    let t = env.transcript_path(sid);
    std::fs::write(&t, &bytes).unwrap();
    ok(&env, &["flush", "--transcript", t.to_str().unwrap()]);
    let (page, _) = ok(&env, &["html", sid, "-o", "-"]);
    let (m, tc) = pages::expected_counts(&bytes);
    assert_eq!((count(&page, "<article class=\"msg "), count(&page, "<div class=\"tool-call\"")), (m, tc));
    assert_only_our_tags(&page);
    assert!(
        !page.contains("window.__pwned=1</script>") || page.contains("&lt;script&gt;window.__pwned=1&lt;/script&gt;")
    );
    for n in 1..=24 {
        // Every injected script is there, as text.
        assert!(
            page.contains(&format!("window.__pwned={n}")) || page.contains(&format!("window.__pwned={n}&")),
            "payload {n} is missing from the page (it must show as text)"
        );
    }
    assert!(page.contains("&lt;/textarea&gt;"));
    assert!(page.contains("[me](javascript:window.__pwned=4)"), "javascript: link shown as text");
    assert!(
        page.contains("␛[31mred␛[0m ␀ bell␇ del␡ bidi&lt;U+202E&gt;txt.exe&lt;U+2066&gt; c1&lt;U+0085&gt;"),
        "controls escaped"
    );
    assert!(page.contains("before\u{fffd}\u{fffd} \u{fffd}AFTER"), "invalid UTF-8 shown lossily");
    assert!(page.contains("Showing 6.0 KiB of 1.0 MiB"), "the 1 MB line is cut with its size");
    assert!(page.contains("Not a JSON line"));
    assert!(page.len() < 200_000, "the page stays small: {}", page.len());

    // As a big session would be: every message in a lazy section (inert data until loaded).
    let (lazy, _) = ok(&env, &["html", sid, "-o", "-", "--lazy-from", "0", "--section-bytes", "1000"]);
    assert!(
        count(&lazy, "<section class=\"lazy\">") >= 3,
        "lazy sections: {}",
        count(&lazy, "<section class=\"lazy\">")
    );
    assert_eq!(count(&lazy, "<article class=\"msg "), m);
    assert_only_our_tags(&lazy);
}

#[test]
fn html_errors_are_one_clear_line() {
    let env = Env::new(Backend::Local, "html-errors");
    let e = fails(&env, &["html", "nope"]);
    assert!(e.contains("no session \"nope\""), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    let e = fails(&env, &["html", "../x"]);
    assert!(e.contains("invalid session id"), "{e}");
    pages::mirror_real_session(&env);
    let e = fails(&env, &["html", REAL_SID, "-o", env.project_dir().join("no/such/dir/p.html").to_str().unwrap()]);
    assert!(e.contains("no/such/dir"), "{e}");
    let e = fails(&env, &["share", REAL_SID, "--expires", "8d"]);
    assert!(e.contains("at most 7 days"), "{e}");
    let e = fails(&env, &["share", "--revoke", "nothing-here"]);
    assert!(e.contains("no shared page"), "{e}");
}

/// GET a presigned URL of a server on 127.0.0.1.
fn get_url(url: &str) -> http::Response {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, target) = rest.split_at(rest.find('/').unwrap());
    http::request(host.parse().unwrap(), "GET", target, &[], b"", Duration::from_secs(10)).unwrap()
}

#[test]
fn share_uploads_lists_and_revokes_on_every_backend() {
    for b in backends() {
        let env = Env::new(b, "share");
        pages::mirror_real_session(&env);
        let (url, notice) = ok(&env, &["share", REAL_SID, "--subagents"]);
        let url = url.trim().to_string();
        let keys = env.list_keys(&format!("{}/shared/", env.project));
        assert_eq!(keys.len(), 1, "{keys:?}");
        let key = &keys[0];
        let name = key.rsplit('/').next().unwrap().strip_suffix(".html").unwrap().to_string();
        assert!(name.starts_with(&format!("{REAL_SID}-")), "{name}");
        assert!(env.list_keys(&format!("{}/sessions/", env.project)).iter().all(|k| !k.contains("shared")));
        let stored = String::from_utf8(env.get(key).unwrap()).unwrap();
        assert!(stored.contains(&format!("id=\"agent-{REAL_AGENT}\"")), "shared with its subagent");
        if b.is_s3() {
            assert!(url.starts_with("http://127.0.0.1:") && url.contains("X-Amz-Signature="), "{url}");
            assert!(url.contains("X-Amz-Expires=604800"), "default: 7 days: {url}");
            assert!(notice.contains("ANYONE WITH THIS LINK CAN READ THE SESSION"), "{notice}");
            assert!(notice.contains(&format!("share --revoke {name}")), "{notice}");
            let r = get_url(&url);
            assert_eq!(r.status, 200, "{}", r.text());
            assert_eq!(r.body, stored.as_bytes());
            assert_eq!(r.head.header("content-type"), Some("text/html; charset=utf-8"), "{:?}", r.head);
            let (short, _) = ok(&env, &["share", REAL_SID, "--expires", "30m"]);
            assert!(short.contains("X-Amz-Expires=1800"), "{short}");
        } else {
            let path = url.strip_prefix("file://").expect("a file:// URL");
            assert_eq!(std::fs::read_to_string(path).unwrap(), stored);
            assert!(std::path::Path::new(path).starts_with(env.local_store()), "{path}");
            assert!(notice.contains("Anyone who can read this file"), "{notice}");
            ok(&env, &["share", REAL_SID, "--expires", "30m"]);
        }
        let (list, _) = ok(&env, &["share", "--list"]);
        assert!(list.starts_with("NAME"), "{list}");
        assert!(list.contains(key.as_str()), "the key is listed: {list}");
        assert!(list.contains(&name) && list.contains(REAL_SID), "{list}");
        assert_eq!(list.lines().count(), 3, "{list}");
        // Revoke one by name: its object is gone and the link is dead.
        let (out, _) = ok(&env, &["share", "--revoke", &name]);
        assert!(out.contains("revoked"), "{out}");
        assert!(env.get(key).is_none());
        if b.is_s3() {
            let r = get_url(&url);
            assert!(r.status == 404 || r.status == 403, "a revoked link still answers {}", r.status);
        }
        // Revoke by session id: every other share of it.
        ok(&env, &["share", "--revoke", REAL_SID]);
        assert!(env.list_keys(&format!("{}/shared/", env.project)).is_empty());
    }
}
