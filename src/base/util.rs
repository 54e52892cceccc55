//! Small shared helpers: timestamps in tracecraft's RFC 3339 shape, hex, sha256.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Now, as tracecraft writes it: `2026-11-21T19:15:12.167146+00:00`.
pub fn now_rfc3339() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

/// Format a UTC time with microseconds and a `+00:00` offset (Python's `isoformat()`).
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// A UTC date and time to the second, with the given separators: `("-", " ", ":")` gives
/// `2026-11-21 19:15:12`, `("", "T", "")` gives `20261121T191512`.
pub fn utc_stamp(t: OffsetDateTime, date_sep: &str, mid: &str, time_sep: &str) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{date_sep}{:02}{date_sep}{:02}{mid}{:02}{time_sep}{:02}{time_sep}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parse an RFC 3339 timestamp (any offset); `None` when it is not one.
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// At most 80 characters of `s` (then `…`), for quoting bad input in a message.
pub fn truncate_for_display(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_shape_matches_python_isoformat() {
        let t = time::macros::datetime!(2026-11-21 19:15:12.167146 UTC);
        assert_eq!(rfc3339(t), "2026-11-21T19:15:12.167146+00:00");
        assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
    }

    #[test]
    fn utc_stamps() {
        let t = time::macros::datetime!(2026-11-21 19:15:12.5 +01:00);
        assert_eq!(utc_stamp(t, "-", " ", ":"), "2026-11-21 18:15:12");
        assert_eq!(utc_stamp(t, "", "T", ""), "20261121T181512");
    }

    #[test]
    fn sha256_of_empty() {
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
