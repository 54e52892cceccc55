//! The page's fixed parts: head (Content-Security-Policy, styles, the one tiny script),
//! footer, and small formatting helpers. Everything here is a literal of this crate or goes
//! through [`Html`]'s escaping.

use sha2::{Digest, Sha256};

use super::escape::Html;

/// The page's only script: turn a lazy section of a big session (see `LAZY_FROM`) into
/// elements on a click on its button, when a link points at a message inside it, and before
/// printing (which also opens every collapsed section). The markup it inserts is the
/// renderer's own (transcript text in it is escaped).
pub const SCRIPT: &str = "(function(){function load(s){var d=s.querySelector(\"script\");if(d){s.outerHTML=d.textContent}}\
function all(){document.querySelectorAll(\"section.lazy\").forEach(load)}\
document.addEventListener(\"click\",function(e){var b=e.target.closest&&e.target.closest(\"button.load\");if(b)load(b.parentNode)});\
function go(){var h=decodeURIComponent(location.hash.slice(1));if(!h||document.getElementById(h))return;\
var k='id=\"'+h+'\"';document.querySelectorAll(\"section.lazy\").forEach(function(s){var d=s.querySelector(\"script\");if(d&&d.textContent.indexOf(k)>=0){load(s);var t=document.getElementById(h);if(t)t.scrollIntoView()}})}\
addEventListener(\"hashchange\",go);document.addEventListener(\"DOMContentLoaded\",go);\
addEventListener(\"beforeprint\",function(){all();document.querySelectorAll(\"details\").forEach(function(d){d.open=true})})})();";

/// The Content-Security-Policy: nothing from anywhere (no network at all), inline styles,
/// and only our own script, by hash. `img-src data:` serves the empty inline favicon (which
/// keeps browsers from asking the server for /favicon.ico).
pub fn csp() -> String {
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src '{}'; base-uri 'none'; form-action 'none'",
        script_hash()
    )
}

/// `sha256-<base64>` of [`SCRIPT`].
pub fn script_hash() -> String {
    format!("sha256-{}", base64(&Sha256::digest(SCRIPT.as_bytes())))
}

fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                s.push(A[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// `<!doctype html>` up to `<body>`.
pub fn head(h: &mut Html<'_>, title: &str) {
    h.m("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"")
        .t(&csp())
        .m("\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"referrer\" content=\"no-referrer\">\n<meta name=\"color-scheme\" content=\"light dark\">\n<meta name=\"generator\" content=\"tracecraft-hook ")
        .t(env!("CARGO_PKG_VERSION"))
        .m("\">\n<link rel=\"icon\" href=\"data:,\">\n<title>")
        .t(title)
        .m("</title>\n<style>")
        .m(CSS)
        .m("</style>\n<script>")
        .m(SCRIPT)
        .m("</script>\n</head>\n<body>\n");
}

/// `1536` -> `1.5 KiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// `3725` s -> `1 h 02 min`.
pub fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

/// Cut `s` to at most `max` bytes (on a character boundary) and at most `max_lines` lines.
/// Returns the shown part and whether something was cut.
pub fn cut(s: &str, max: usize, max_lines: usize) -> (&str, bool) {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    if let Some((i, _)) = s[..end].match_indices('\n').nth(max_lines.saturating_sub(1)) {
        end = i;
    }
    (&s[..end], end < s.len())
}

/// The styles: light by default, dark with `prefers-color-scheme`, narrow screens, print.
pub const CSS: &str = r#"
:root{--bg:#f6f7f9;--card:#fff;--fg:#1d2330;--muted:#667085;--line:#e3e6eb;--accent:#2f5bd3;--user:#eef3ff;--code:#f1f3f6;--err:#c62828;--errbg:#fdecec;--think:#f7f3ff;--tool:#f3f8f4;--compact:#fff7e6;--sub:#fafbfc}
@media (prefers-color-scheme:dark){:root{--bg:#111418;--card:#181c22;--fg:#e3e7ee;--muted:#98a2b3;--line:#2a313b;--accent:#8ab4ff;--user:#1b2540;--code:#0f1318;--err:#ff8a80;--errbg:#3a1c1c;--think:#221c30;--tool:#17231b;--compact:#2e2614;--sub:#14181d}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.55 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;overflow-wrap:anywhere}
.wrap{max-width:980px;margin:0 auto;padding:20px 16px 48px}
a{color:var(--accent)}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:13px}
pre{white-space:pre-wrap;margin:6px 0;padding:8px 10px;background:var(--code);border-radius:6px;overflow-x:auto}
code{background:var(--code);padding:1px 4px;border-radius:4px}
pre code{background:none;padding:0}
.top{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 18px;margin-bottom:18px}
.top h1{font-size:20px;margin:0 0 2px}
.top .sub{color:var(--muted);margin:0 0 12px;font-size:13px}
.numbers{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:8px 14px;margin:0}
.numbers div{min-width:0}
.numbers dt{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.numbers dd{margin:0;font-weight:600}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.tokens th{overflow-wrap:normal;white-space:nowrap}
.table{overflow-x:auto}
.top .tools,.top .note{font-size:13px;color:var(--muted);margin:8px 0 0}
.date{color:var(--muted);font-size:12px;text-align:center;margin:18px 0 8px}
.msg{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:8px 14px;margin:8px 0;content-visibility:auto;contain-intrinsic-size:auto 90px}
.msg>header{display:flex;gap:8px;align-items:baseline;font-size:12px;color:var(--muted)}
.msg>header .who{font-weight:600;color:var(--fg)}
.msg>header .time{color:var(--muted);text-decoration:none;font-variant-numeric:tabular-nums}
.msg>header .time:hover{text-decoration:underline}
.msg.user{background:var(--user)}
.msg.user .prompt{white-space:pre-wrap;margin:4px 0}
.msg.result,.msg.meta,.msg.system{padding:4px 14px;background:transparent;border-style:dashed}
.msg.error{border-color:var(--err);background:var(--errbg)}
.badge{display:inline-block;font-size:11px;font-weight:600;padding:0 6px;border-radius:8px;background:var(--line);color:var(--fg)}
.badge.err{background:var(--err);color:#fff}
.body>p{margin:6px 0}
.body h3,.body h4,.body h5,.body h6{margin:10px 0 4px}
.body ul,.body ol{margin:4px 0;padding-left:24px}
.body li>p{margin:2px 0}
blockquote{margin:6px 0;padding:0 12px;border-left:3px solid var(--line);color:var(--muted)}
.code{position:relative}
.code .lang{position:absolute;right:8px;top:4px;font-size:11px;color:var(--muted)}
details{margin:4px 0}
details>summary{cursor:pointer;color:var(--muted);font-size:13px;list-style-position:inside}
details[open]>summary{margin-bottom:4px}
.thinking{background:var(--think);border-radius:6px;padding:2px 10px}
.thinking .text{white-space:pre-wrap;font-size:13px;color:var(--muted)}
.tool-call{background:var(--tool);border-radius:6px;padding:2px 10px;margin:6px 0}
.tool-call>details>summary{color:var(--fg)}
.tname{font-weight:600}
.tsum{color:var(--muted);font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.tool-result.error>summary{color:var(--err)}
.cut{color:var(--muted);font-size:12px;font-style:italic}
.cmd{font-weight:600}
.compact{background:var(--compact);border-style:solid;text-align:center;font-size:13px}
.compact-summary{background:var(--compact)}
.subagent{border-left:3px solid var(--accent);background:var(--sub);border-radius:6px;padding:4px 10px;margin:6px 0}
.subagent>summary{color:var(--fg);font-weight:600}
.subagent .subnums{font-size:12px;color:var(--muted);margin:2px 0 6px}
.raw{color:var(--muted);font-size:12px}
section.lazy{margin:10px 0;text-align:center}
button.load{font:inherit;font-size:13px;padding:6px 14px;border:1px dashed var(--line);border-radius:8px;background:var(--card);color:var(--accent);cursor:pointer}
footer.end{color:var(--muted);font-size:12px;margin-top:24px;text-align:center}
@media (max-width:600px){body{font-size:14px}.wrap{padding:10px 8px 32px}.msg{padding:6px 10px}.numbers{grid-template-columns:repeat(2,minmax(0,1fr))}}
@media print{body{background:#fff;color:#000}.msg{content-visibility:visible;break-inside:avoid-page;border-color:#bbb}details>summary{list-style:none}details::details-content{content-visibility:visible;display:contents}a{color:#000}.wrap{max-width:none}}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert_eq!(base64(b"hi!"), "aGkh");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(10), "10 bytes");
        assert_eq!(duration(3725), "1 h 02 min");
        assert_eq!(duration(75), "1 min 15 s");
        assert_eq!(cut("a\nb\nc", 100, 2), ("a\nb", true));
        assert_eq!(cut("héllo", 2, 10), ("h", true));
        assert_eq!(cut("abc", 10, 10), ("abc", false));
        assert!(csp().starts_with("default-src 'none'; style-src 'unsafe-inline'"));
    }
}
