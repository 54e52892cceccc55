//! The few fields of one Claude Code transcript line that `insight` counts, read in one pass
//! over the line's bytes without building a `serde_json::Value`: strings borrow from the
//! line (copied only when they hold escapes), everything else (tool inputs and outputs,
//! thinking, `toolUseResult`: most of a transcript's bytes) is skipped by serde_json's
//! `IgnoredAny`, which only scans for the end of each value. Several times faster than a
//! `Value` per line (bench/README.md, "50 MB delta"); `insight` decides what the fields mean.
//!
//! Lenient like `Value::get(..).and_then(Value::as_str)` was: a field of an unexpected type
//! reads as absent instead of failing the line, a repeated key keeps its last value, and a
//! line is read only when it is one well-formed JSON object (else `parse` says `None`).
//! One difference: string contents that are skipped are not checked for UTF-8 or for lone
//! surrogate escapes (`"\ud83d"`, a cut emoji in a tool output), so such a line is counted
//! where a `Value` refused the whole line.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The fields of a line that are counted. `None` / empty: absent or of another type.
#[derive(Debug, Default)]
pub struct Line<'a> {
    /// `type`.
    pub kind: Option<Cow<'a, str>>,
    pub subtype: Option<Cow<'a, str>>,
    pub timestamp: Option<Cow<'a, str>>,
    pub git_branch: Option<Cow<'a, str>>,
    pub version: Option<Cow<'a, str>>,
    pub is_meta: Option<bool>,
    pub is_compact_summary: Option<bool>,
    pub is_visible_in_transcript_only: Option<bool>,
    pub is_api_error_message: Option<bool>,
    /// `message`, when it is an object.
    pub message: Option<Message<'a>>,
}

/// `message` of a line.
#[derive(Debug, Default)]
pub struct Message<'a> {
    pub id: Option<Cow<'a, str>>,
    pub model: Option<Cow<'a, str>>,
    /// `usage`, when it is an object.
    pub usage: Option<Usage>,
    pub content: Content<'a>,
}

/// `message.usage`: each count when it is a non-negative integer.
#[derive(Debug, Default, Clone, Copy)]
pub struct Usage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_creation_input_tokens: Option<u64>,
    pub cache_read_input_tokens: Option<u64>,
}

/// `message.content`.
#[derive(Debug, Default)]
pub enum Content<'a> {
    /// Absent, or neither a string nor an array.
    #[default]
    Other,
    Text(Cow<'a, str>),
    /// The array's object elements (others are left out).
    Blocks(Vec<Block<'a>>),
}

/// One content block: only what is counted (tool inputs and results are skipped).
#[derive(Debug, Default)]
pub struct Block<'a> {
    /// `type`.
    pub kind: Option<Cow<'a, str>>,
    pub text: Option<Cow<'a, str>>,
    pub id: Option<Cow<'a, str>>,
    pub name: Option<Cow<'a, str>>,
    pub is_error: Option<bool>,
}

/// Read one line (without its newline). `None` unless it is exactly one JSON object.
pub fn parse(raw: &[u8]) -> Option<Line<'_>> {
    let mut de = serde_json::Deserializer::from_slice(raw);
    let Obj(line) = Obj::<Line>::deserialize(&mut de).ok()?;
    de.end().ok()?;
    line
}

/// A JSON object's fields, read one by one.
trait Fields<'de>: Default {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error>;
}

/// Any JSON value: `Some` when it is an object (its fields read into `T`).
struct Obj<T>(Option<T>);

/// Any JSON value: `Some` when it is a string.
struct Str<'a>(Option<Cow<'a, str>>);

/// Any JSON value: `Some` when it is `true` or `false`.
struct Bool(Option<bool>);

/// Any JSON value: `Some` when it is an integer that fits a u64 (what `Value::as_u64` gives).
struct U64(Option<u64>);

/// An object key.
struct Key<'a>(Cow<'a, str>);

/// Skip whatever is in an array or object (a value of a type we did not want).
fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// The visitor methods of a lenient value: every type other than the wanted one is `$none`.
macro_rules! other_types_are_none {
    (@one bool $none:expr) => {
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($none)
        }
    };
    (@one i64 $none:expr) => {
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($none)
        }
    };
    (@one u64 $none:expr) => {
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($none)
        }
    };
    (@one f64 $none:expr) => {
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($none)
        }
    };
    (@one str $none:expr) => {
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($none)
        }
    };
    (@one unit $none:expr) => {
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($none)
        }
    };
    (@one seq $none:expr) => {
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            drain_seq(seq).map(|()| $none)
        }
    };
    (@one map $none:expr) => {
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            drain_map(map).map(|()| $none)
        }
    };
    ($none:expr; $($skip:ident),*) => {
        $(other_types_are_none!(@one $skip $none);)*
    };
}

impl<'de, T: Fields<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Fields<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut t = T::default();
                while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
                    t.field(&k, &mut map)?;
                }
                Ok(Obj(Some(t)))
            }
            other_types_are_none!(Obj(None); bool, i64, u64, f64, str, unit, seq);
        }
        d.deserialize_any(V(PhantomData))
    }
}

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Some(Cow::Borrowed(s))))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Str(Some(Cow::Owned(s.to_string()))))
            }
            fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(Str(Some(Cow::Owned(s))))
            }
            other_types_are_none!(Str(None); bool, i64, u64, f64, unit, seq, map);
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Str::deserialize(d)? {
            Str(Some(s)) => Ok(Key(s)),
            Str(None) => Err(serde::de::Error::custom("object key is not a string")),
        }
    }
}

impl<'de> Deserialize<'de> for Bool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Bool;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<Self::Value, E> {
                Ok(Bool(Some(b)))
            }
            other_types_are_none!(Bool(None); i64, u64, f64, str, unit, seq, map);
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for U64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = U64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Self::Value, E> {
                Ok(U64(Some(n)))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Self::Value, E> {
                Ok(U64(u64::try_from(n).ok()))
            }
            other_types_are_none!(U64(None); bool, f64, str, unit, seq, map);
        }
        d.deserialize_any(V)
    }
}

/// `message.content`: a string, an array of blocks, or anything else.
impl<'de> Deserialize<'de> for Content<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Content<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Content::Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Content::Text(Cow::Owned(s.to_string())))
            }
            fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(Content::Text(Cow::Owned(s)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut blocks = Vec::new();
                while let Some(Obj(b)) = seq.next_element::<Obj<Block<'de>>>()? {
                    blocks.extend(b);
                }
                Ok(Content::Blocks(blocks))
            }
            other_types_are_none!(Content::Other; bool, i64, u64, f64, unit, map);
        }
        d.deserialize_any(V)
    }
}

impl<'de> Fields<'de> for Line<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "type" => self.kind = map.next_value::<Str>()?.0,
            "subtype" => self.subtype = map.next_value::<Str>()?.0,
            "timestamp" => self.timestamp = map.next_value::<Str>()?.0,
            "gitBranch" => self.git_branch = map.next_value::<Str>()?.0,
            "version" => self.version = map.next_value::<Str>()?.0,
            "isMeta" => self.is_meta = map.next_value::<Bool>()?.0,
            "isCompactSummary" => self.is_compact_summary = map.next_value::<Bool>()?.0,
            "isVisibleInTranscriptOnly" => self.is_visible_in_transcript_only = map.next_value::<Bool>()?.0,
            "isApiErrorMessage" => self.is_api_error_message = map.next_value::<Bool>()?.0,
            "message" => self.message = map.next_value::<Obj<Message>>()?.0,
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'de> Fields<'de> for Message<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "id" => self.id = map.next_value::<Str>()?.0,
            "model" => self.model = map.next_value::<Str>()?.0,
            "usage" => self.usage = map.next_value::<Obj<Usage>>()?.0,
            "content" => self.content = map.next_value::<Content>()?,
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'de> Fields<'de> for Usage {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "input_tokens" => self.input_tokens = map.next_value::<U64>()?.0,
            "output_tokens" => self.output_tokens = map.next_value::<U64>()?.0,
            "cache_creation_input_tokens" => self.cache_creation_input_tokens = map.next_value::<U64>()?.0,
            "cache_read_input_tokens" => self.cache_read_input_tokens = map.next_value::<U64>()?.0,
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'de> Fields<'de> for Block<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "type" => self.kind = map.next_value::<Str>()?.0,
            "text" => self.text = map.next_value::<Str>()?.0,
            "id" => self.id = map.next_value::<Str>()?.0,
            "name" => self.name = map.next_value::<Str>()?.0,
            "is_error" => self.is_error = map.next_value::<Bool>()?.0,
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_counted_fields_and_borrows_plain_strings() {
        let raw = br#"{"type":"assistant","timestamp":"t","message":{"id":"m1","model":"x","usage":{"input_tokens":3,"output_tokens":-1,"cache_read_input_tokens":2.0},"content":[{"type":"tool_use","id":"tu","name":"Bash","input":{"a":[1,{"b":null}]}},7,{"type":"text","text":"a\nb"}]},"isApiErrorMessage":true}"#;
        let l = parse(raw).unwrap();
        assert_eq!(l.kind.as_deref(), Some("assistant"));
        assert!(matches!(l.timestamp, Some(Cow::Borrowed("t"))));
        assert_eq!(l.is_api_error_message, Some(true));
        let m = l.message.unwrap();
        assert_eq!((m.id.as_deref(), m.model.as_deref()), (Some("m1"), Some("x")));
        let u = m.usage.unwrap();
        assert_eq!((u.input_tokens, u.output_tokens, u.cache_read_input_tokens), (Some(3), None, None));
        let Content::Blocks(b) = m.content else { panic!("blocks") };
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].name.as_deref(), b[1].text.as_deref()), (Some("Bash"), Some("a\nb")));
    }

    #[test]
    fn odd_types_are_absent_and_the_last_repeated_key_wins() {
        let l = parse(br#"{"type":7,"timestamp":["x"],"isMeta":"yes","message":"hi","version":"1","version":"2"}"#)
            .unwrap();
        assert!(l.kind.is_none() && l.timestamp.is_none() && l.is_meta.is_none() && l.message.is_none());
        assert_eq!(l.version.as_deref(), Some("2"));
        let l = parse(br#"{"message":{"content":"x"},"message":[1]}"#).unwrap();
        assert!(l.message.is_none());
    }

    #[test]
    fn escaped_keys_and_a_cut_emoji_in_a_skipped_output() {
        let l = parse(br#"{"\u0074ype":"user","message":{"content":[{"type":"tool_result","content":"\ud83d cut","is_error":true}]}}"#)
            .unwrap();
        assert_eq!(l.kind.as_deref(), Some("user"));
        let Some(Message { content: Content::Blocks(b), .. }) = l.message else { panic!("blocks") };
        assert_eq!((b[0].kind.as_deref(), b[0].is_error), (Some("tool_result"), Some(true)));
    }

    #[test]
    fn only_one_whole_object_is_a_line() {
        for bad in [&b"[1]"[..], b"\"s\"", b"{\"a\":1} x", b"{\"a\":1}{}", b"{\"a\":", b"", b"{\"a\":\"\x01\"}"] {
            assert!(parse(bad).is_none(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(parse(b" {\"a\":1} \t").is_some());
    }
}
