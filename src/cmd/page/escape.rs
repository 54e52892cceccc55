//! The one place where text becomes HTML. [`Html`] is the only writer the page renderer has:
//! markup can only be given as `&'static str` (literals in our source, never transcript
//! bytes), and everything else (text, attribute values, numbers, links) goes through
//! [`escape_into`]. So forgetting to escape is a type error, not a review comment.
//!
//! What escaping does, in text and in attribute values alike: `& < > " '` become entities;
//! C0 control characters other than tab and newline become their visible Control Pictures
//! (`␛` for ESC, `␀` for NUL...), a lone CR `␍` (CR LF stays a line break), DEL `␡`; C1
//! controls and the bidirectional overrides/isolates (U+202A-U+202E, U+2066-U+2069: text
//! that reads differently than it is) are shown as `<U+XXXX>`. Invalid UTF-8 never gets here:
//! callers hand over `&str` (the renderer decodes each line lossily first).

use std::io::{self, Write};

/// How much output is buffered before it is written to the sink.
const FLUSH_AT: usize = 64 * 1024;

/// Bytes that need attention in ASCII (everything >= 0x80 is checked separately).
const fn special_table() -> [bool; 128] {
    let mut t = [false; 128];
    let mut i = 0;
    while i < 32 {
        t[i] = i != b'\t' as usize && i != b'\n' as usize;
        i += 1;
    }
    t[b'&' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'"' as usize] = true;
    t[b'\'' as usize] = true;
    t[127] = true;
    t
}
static SPECIAL: [bool; 128] = special_table();

/// Append `s` to `out`, escaped for HTML text and for a quoted attribute value (see the
/// module documentation). The only escaping function of the page.
pub fn escape_into(s: &str, out: &mut Vec<u8>) {
    let b = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c < 128 {
            if !SPECIAL[c as usize] {
                i += 1;
                continue;
            }
        } else if !(c == 0xC2 && b.get(i + 1).is_some_and(|n| (0x80..=0x9F).contains(n))
            || c == 0xE2
                && matches!(
                    (b.get(i + 1), b.get(i + 2)),
                    (Some(0x80), Some(0xAA..=0xAE)) | (Some(0x81), Some(0xA6..=0xA9))
                ))
        {
            i += 1;
            continue;
        }
        out.extend_from_slice(&b[start..i]);
        let width = match c {
            b'&' => {
                out.extend_from_slice(b"&amp;");
                1
            }
            b'<' => {
                out.extend_from_slice(b"&lt;");
                1
            }
            b'>' => {
                out.extend_from_slice(b"&gt;");
                1
            }
            b'"' => {
                out.extend_from_slice(b"&quot;");
                1
            }
            b'\'' => {
                out.extend_from_slice(b"&#39;");
                1
            }
            b'\r' if b.get(i + 1) == Some(&b'\n') => 1, // CR LF: keep the LF only
            0..=31 => {
                // Control Pictures: U+2400 + c.
                let mut buf = [0u8; 4];
                out.extend_from_slice(
                    char::from_u32(0x2400 + u32::from(c)).unwrap_or('?').encode_utf8(&mut buf).as_bytes(),
                );
                1
            }
            127 => {
                out.extend_from_slice("␡".as_bytes());
                1
            }
            _ => {
                // A two- or three-byte sequence checked above.
                let w = if c == 0xC2 { 2 } else { 3 };
                let ch = s[i..i + w].chars().next().map_or(0, u32::from);
                out.extend_from_slice(format!("&lt;U+{ch:04X}&gt;").as_bytes());
                w
            }
        };
        i += width;
        start = i;
    }
    out.extend_from_slice(&b[start..]);
}

/// `s` escaped, as a new string.
#[cfg(test)]
pub fn escape(s: &str) -> String {
    let mut v = Vec::with_capacity(s.len() + 16);
    escape_into(s, &mut v);
    String::from_utf8(v).unwrap_or_default()
}

/// Whether `url` may become a link: `http://` or `https://` (any case) with a host, and
/// nothing that a browser would strip before looking at the scheme (spaces, controls).
pub fn safe_url(url: &str) -> bool {
    let lower = url.get(..8).map(str::to_ascii_lowercase).unwrap_or_default();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return false;
    };
    !rest.is_empty()
        && !rest.starts_with('/')
        && url.len() <= 4096
        && url.chars().all(|c| !c.is_control() && !c.is_whitespace() && c != '<' && c != '>' && c != '"')
}

/// The page being written. Write errors are remembered (the first one) and reported by
/// [`Html::finish`]; after one, nothing more is written.
pub struct Html<'w> {
    out: &'w mut dyn Write,
    buf: Vec<u8>,
    err: Option<io::Error>,
    written: u64,
}

impl<'w> Html<'w> {
    /// A page writer over `out` (buffered here; `out` need not be).
    pub fn new(out: &'w mut dyn Write) -> Self {
        Html { out, buf: Vec::with_capacity(FLUSH_AT + 4096), err: None, written: 0 }
    }

    /// Trusted markup: a literal from this crate's source.
    pub fn m(&mut self, markup: &'static str) -> &mut Self {
        self.buf.extend_from_slice(markup.as_bytes());
        self.maybe_flush();
        self
    }

    /// Text (or an attribute value inside quotes), escaped.
    pub fn t(&mut self, text: &str) -> &mut Self {
        escape_into(text, &mut self.buf);
        self.maybe_flush();
        self
    }

    /// A number.
    pub fn n(&mut self, n: u64) -> &mut Self {
        self.buf.extend_from_slice(n.to_string().as_bytes());
        self
    }

    /// `<a href="URL" rel=...>` when `url` is [`safe_url`]; returns whether it was opened
    /// (the caller then writes the link text and `</a>`).
    pub fn open_link(&mut self, url: &str) -> bool {
        if !safe_url(url) {
            return false;
        }
        self.m("<a href=\"").t(url).m("\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">");
        true
    }

    /// Bytes written to the sink plus those still buffered.
    pub fn written(&self) -> u64 {
        self.written + self.buf.len() as u64
    }

    /// Whether a write failed (the renderer stops early).
    pub fn failed(&self) -> bool {
        self.err.is_some()
    }

    fn maybe_flush(&mut self) {
        if self.buf.len() >= FLUSH_AT {
            self.flush_buf();
        }
    }

    fn flush_buf(&mut self) {
        if self.err.is_none() {
            if let Err(e) = self.out.write_all(&self.buf) {
                self.err = Some(e);
            }
        }
        self.written += self.buf.len() as u64;
        self.buf.clear();
    }

    /// Write what is buffered and flush the sink; the first write error, if any.
    pub fn finish(&mut self) -> io::Result<()> {
        self.flush_buf();
        if let Some(e) = self.err.take() {
            return Err(e);
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_quotes_and_controls() {
        assert_eq!(escape("<script>alert('x')</script>"), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
        assert_eq!(escape("a & \"b\""), "a &amp; &quot;b&quot;");
        assert_eq!(
            escape("</textarea><img src=x onerror=alert(1)>"),
            "&lt;/textarea&gt;&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(escape("\u{1b}[31mred\u{0}\u{7f}"), "␛[31mred␀␡");
        assert_eq!(escape("a\r\nb\rc\td\n"), "a\nb␍c\td\n");
        assert_eq!(escape("x\u{202e}gnp.exe\u{2066}y\u{85}"), "x&lt;U+202E&gt;gnp.exe&lt;U+2066&gt;y&lt;U+0085&gt;");
        assert_eq!(escape("é ü ← 日本 \u{2028} 🙂"), "é ü ← 日本 \u{2028} 🙂");
    }

    #[test]
    fn only_http_links() {
        for ok in ["https://example.com/a?b=c&d", "HTTP://x.y", "http://127.0.0.1:9000/k?X-Amz-Signature=1"] {
            assert!(safe_url(ok), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html,<script>",
            "vbscript:x",
            "file:///etc/passwd",
            "//evil.example",
            "https://",
            "https:///x",
            "https://a b",
            "https://x\"onmouseover=\"alert(1)",
            "mailto:a@b",
        ] {
            assert!(!safe_url(bad), "{bad}");
        }
    }

    #[test]
    fn writer_escapes_text_and_attributes() {
        let mut out = Vec::new();
        let mut h = Html::new(&mut out);
        h.m("<p title=\"").t("\"><script>").m("\">").t("<b>").t(&String::from_utf8_lossy(b"\xff ok")).m("</p>");
        assert!(h.open_link("https://e.x/?q=1&r='2'"));
        assert!(!h.open_link("javascript:alert(1)"));
        h.finish().unwrap();
        let s = String::from_utf8(out).unwrap();
        assert_eq!(
            s,
            "<p title=\"&quot;&gt;&lt;script&gt;\">&lt;b&gt;\u{fffd} ok</p><a href=\"https://e.x/?q=1&amp;r=&#39;2&#39;\" \
             rel=\"noopener noreferrer nofollow\" target=\"_blank\">"
        );
    }
}
