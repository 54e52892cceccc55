//! Text from payloads, files and servers made safe to print: every control character
//! (C0, DEL, C1) and the bidirectional-override marks are escaped, so a session id, a path
//! or a server's `<Message>` can never move the cursor, clear the terminal (`ESC[2J`),
//! rewrite a line (`CR`) or reorder what a person reads. One helper, used by `Display` of
//! [`crate::Error`], by the hook log and by `doctor`, so no printing path forgets it.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal or a log as is.
fn is_unsafe(c: char) -> bool {
    c.is_control() // C0 (incl. \t \n \r ESC), DEL, C1
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every unsafe character written as a visible escape (`\e`, `\r`, `\n`, `\t`,
/// `\x7f`, `\u{9b}`); borrowed when nothing needed escaping (the usual case). For one line
/// (a log line, an error, a doctor line).
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_with(s, false)
}

/// Like [`escape`], but newlines and tabs stay: for multi-line text meant for a person
/// (command output, a replayed conversation).
pub fn escape_text(s: &str) -> Cow<'_, str> {
    escape_with(s, true)
}

fn escape_with(s: &str, keep_lines: bool) -> Cow<'_, str> {
    let bad = |c: char| is_unsafe(c) && !(keep_lines && matches!(c, '\n' | '\t'));
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            c if !bad(c) => out.push(c),
            '\u{1b}' => out.push_str("\\e"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x100 && is_unsafe(c) => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if is_unsafe(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("plain /path ok é"), "plain /path ok é");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\e[2Jb");
        assert_eq!(escape("x\rFAKE"), "x\\rFAKE");
        assert_eq!(escape("n\nt\t"), "n\\nt\\t");
        assert_eq!(escape("\u{7f}\u{0}\u{7}"), "\\x7f\\x00\\x07");
        assert_eq!(escape("c1\u{9b}31m"), "c1\\x9b31m");
        assert_eq!(escape("bidi\u{202e}txt"), "bidi\\u{202e}txt");
        assert_eq!(escape_text("l1\n\tl2\u{1b}[2J\r"), "l1\n\tl2\\e[2J\\r");
        // Nothing unsafe survives, whatever the input.
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        assert!(!escape(&all).chars().any(is_unsafe));
    }
}
