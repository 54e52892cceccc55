//! Redaction: scrubs credential-shaped strings from transcript bytes before they leave the
//! machine. (Placeholder interface; the real rule set lands in its own commit.)

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::error::Result;

/// A user-supplied extra rule from the config (`"redact_patterns"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraPattern {
    /// Name used in the counts and in `[REDACTED:<name>]`.
    pub name: String,
    /// A `regex` crate pattern.
    pub regex: String,
}

/// Compiled rule set.
#[derive(Debug)]
pub struct Redactor {}

impl Redactor {
    /// Built-in rules plus the user's extra patterns. Fails on an invalid pattern.
    pub fn new(_extra: &[ExtraPattern]) -> Result<Self> {
        Ok(Redactor {})
    }

    /// Redact whole JSONL lines; adds per-rule counts into `counts`.
    pub fn redact<'a>(&self, input: &'a [u8], _counts: &mut BTreeMap<String, u64>) -> Cow<'a, [u8]> {
        Cow::Borrowed(input)
    }
}
