//! A request's params, parsed on demand, as tolerantly as geth and jsonrpsee
//! read them.
//!
//! Clients disagree on how to send "no params": web3.py and ethers send
//! `[]`, alloy sends `null`, others leave the member out, a few send `{}`.
//! And geth lets a caller leave out optional trailing arguments. So the
//! params are not handed to serde_json as they are, but through a
//! [`Deserializer`] that reads them the way the handler's type asks:
//!
//! | the handler takes | absent, `null` | `[]`, `{}` | a shorter array |
//! |---|---|---|---|
//! | `()` | `()` | `()` | (only `[]`) |
//! | `Option<T>` | `None` | `None` | `Some` |
//! | a tuple `(A, Option<B>)` | every element missing | every element missing | the missing ones are `None` |
//! | a `Vec<T>` | empty | empty | |
//! | a struct | as `{}` | | |
//!
//! A missing element that is not an `Option` is an error naming its index.
//! Everything else is plain serde_json.

use std::fmt;

use serde::{
    Deserializer,
    de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, SeqAccess, Visitor},
};
use serde_json::de::SliceRead;

use super::ErrorObject;

/// The params of a [`Request`](super::Request), parsed on demand.
#[derive(Clone, Copy, Debug)]
pub struct Params<'a>(Option<&'a [u8]>);

impl<'a> Params<'a> {
    pub(crate) fn new(json: Option<&'a [u8]>) -> Self {
        Self(json)
    }

    /// Parses the params into `T`: a tuple or `Vec` for params by position, a
    /// struct or map for params by name (a struct with `serde::Deserialize`
    /// takes both), `()` for none.
    ///
    /// No params may be sent as the member left out, `null`, `[]` or `{}`:
    /// `()` and `Option<T>` accept all four. A tuple accepts an array shorter
    /// than itself when the missing elements are `Option`s, as geth reads
    /// optional trailing arguments.
    ///
    /// ```
    /// use tower_ipc::jsonrpc::Request;
    ///
    /// let empty = Request::new("eth_chainId").with_params(&[0u8; 0]).unwrap();
    /// assert!(empty.params().parse::<()>().is_ok());
    ///
    /// let short = Request::new("eth_getBalance").with_params(&["0xabc"]).unwrap();
    /// let (address, block): (String, Option<String>) = short.params().parse().unwrap();
    /// assert_eq!((address.as_str(), block), ("0xabc", None));
    ///
    /// let wrong = Request::new("add").with_params(&(1, "two")).unwrap();
    /// let err = wrong.params().parse::<(i64, i64)>().unwrap_err();
    /// assert_eq!(err.message(), r#"Invalid params: at index 1: invalid type: string "two", expected i64"#);
    /// ```
    ///
    /// # Errors
    ///
    /// An [`ErrorObject::INVALID_PARAMS`] error saying what did not fit, in
    /// the caller's terms: the index or field, what was expected, and what
    /// came.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ErrorObject> {
        let mut json = serde_json::Deserializer::from_slice(self.0.unwrap_or(b"null"));
        let tolerant = Tolerant {
            json: &mut json,
            empty: self.is_empty(),
            object: self.0.is_some_and(|json| json.first() == Some(&b'{')),
        };
        T::deserialize(tolerant)
            .and_then(|value| json.end().map(|()| value))
            .map_err(|err| ErrorObject::invalid_params(Described(&err)))
    }

    /// The raw JSON of the params, if any were sent.
    pub fn as_json(&self) -> Option<&'a str> {
        self.0.and_then(|json| std::str::from_utf8(json).ok())
    }

    /// Whether the params say "none": absent, `null`, `[]` or `{}`.
    fn is_empty(&self) -> bool {
        match self.0 {
            None => true,
            Some(json) => is_empty_json(json),
        }
    }
}

/// `null`, or an empty array or object (whitespace inside allowed).
fn is_empty_json(json: &[u8]) -> bool {
    let inner = |open: u8, close: u8| {
        json.first() == Some(&open)
            && json.last() == Some(&close)
            && json[1..json.len() - 1].iter().all(u8::is_ascii_whitespace)
    };
    json == b"null" || (json.len() >= 2 && (inner(b'[', b']') || inner(b'{', b'}')))
}

/// A serde_json error without serde_json's position in the params ("at line
/// 1 column 9"), which means nothing to a caller who sent a whole request.
struct Described<'a>(&'a serde_json::Error);

impl fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&without_positions(&self.0.to_string()))
    }
}

/// `text` without any " at line N column M".
fn without_positions(text: &str) -> String {
    const MARK: &str = " at line ";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at]);
        let after = &rest[at + MARK.len()..];
        let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
        let line = digits(after);
        let tail = &after[line..];
        match tail.strip_prefix(" column ") {
            Some(column) if line > 0 && digits(column) > 0 => rest = &column[digits(column)..],
            _ => {
                out.push_str(MARK);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// serde_json's deserializer, reading "no params" and short arrays as the
/// handler's type needs (see the module docs). It applies at the top level
/// only: what is inside the params is plain serde_json.
struct Tolerant<'a, 'de> {
    json: &'a mut serde_json::Deserializer<SliceRead<'de>>,
    /// The params say "none": absent, `null`, `[]` or `{}`.
    empty: bool,
    /// The params are an object (by name).
    object: bool,
}

impl<'de> Tolerant<'_, 'de> {
    /// Reads past "no params", leaving the deserializer at the end.
    fn skip(&mut self) -> Result<(), serde_json::Error> {
        de::Deserializer::deserialize_ignored_any(&mut *self.json, IgnoredAny).map(drop)
    }
}

macro_rules! forward {
    ($($method:ident),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            self.json.$method(visitor)
        })*
    };
}

impl<'de> Deserializer<'de> for Tolerant<'_, 'de> {
    type Error = serde_json::Error;

    forward!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_identifier,
        deserialize_ignored_any,
        deserialize_map,
    );

    fn deserialize_unit<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Self::Error> {
        if !self.empty {
            return Err(de::Error::custom(
                "this method takes no params, but some were given",
            ));
        }
        self.skip()?;
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Self::Error> {
        if self.empty {
            self.skip()?;
            return visitor.visit_none();
        }
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        // serde_json's `RawValue` is a newtype with a private name that only
        // serde_json's own deserializer understands.
        self.json.deserialize_newtype_struct(name, visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Self::Error> {
        if self.empty {
            self.skip()?;
            return visitor.visit_seq(Padded::<Nothing>::new(None, 0));
        }
        self.json.deserialize_seq(Positional { visitor, len: None })
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        mut self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        if self.empty {
            self.skip()?;
            return visitor.visit_seq(Padded::<Nothing>::new(None, len));
        }
        if self.object {
            return Err(de::Error::custom(format_args!(
                "expected {len} params by position (an array), got an object"
            )));
        }
        self.json.deserialize_tuple(
            len,
            Positional {
                visitor,
                len: Some(len),
            },
        )
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        mut self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        if self.empty {
            // As `{}`: a struct whose fields are all optional is fine.
            self.skip()?;
            return visitor.visit_map(de::value::MapDeserializer::<
                std::iter::Empty<((), ())>,
                serde_json::Error,
            >::new(std::iter::empty()));
        }
        self.json
            .deserialize_struct(name, fields, Positional { visitor, len: None })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.json.deserialize_enum(name, variants, visitor)
    }
}

/// A visitor of params by position: numbers the elements in errors, pads a
/// tuple's missing trailing elements, and names the count of extra ones.
struct Positional<V> {
    visitor: V,
    /// A tuple's length; `None` for a sequence or a struct.
    len: Option<usize>,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Positional<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        let len = self.len.unwrap_or(usize::MAX);
        let mut padded = Padded::new(Some(seq), len);
        let value = self.visitor.visit_seq(&mut padded)?;
        padded.no_more()?;
        Ok(value)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_map(map)
    }
}

/// The elements of an array, numbered, then (for a tuple) missing ones up to
/// its length.
struct Padded<A> {
    seq: Option<A>,
    len: usize,
    /// Elements handed out so far.
    index: usize,
    /// Elements the array had, once its end is seen.
    given: Option<usize>,
}

/// A sequence with no elements, for "no params".
type Nothing = de::value::SeqDeserializer<std::iter::Empty<()>, serde_json::Error>;

impl<A> Padded<A> {
    fn new(seq: Option<A>, len: usize) -> Self {
        Self {
            seq,
            len,
            index: 0,
            given: None,
        }
    }
}

impl<'de, A: SeqAccess<'de>> Padded<A> {
    /// Fails if the array goes on past the tuple.
    fn no_more(&mut self) -> Result<(), A::Error> {
        let Some(seq) = self.seq.as_mut().filter(|_| self.given.is_none()) else {
            return Ok(());
        };
        let mut extra = 0;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            extra += 1;
        }
        if extra > 0 {
            return Err(de::Error::custom(format_args!(
                "expected at most {} params, got {}",
                self.index,
                self.index + extra
            )));
        }
        Ok(())
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Padded<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        let index = self.index;
        let mut seed = Some(seed);
        if let (Some(seq), None) = (self.seq.as_mut(), self.given) {
            match seq.next_element_seed(Once(&mut seed)) {
                Ok(Some(value)) => {
                    self.index += 1;
                    return Ok(Some(value));
                }
                Ok(None) => self.given = Some(index),
                Err(err) => {
                    return Err(de::Error::custom(format_args!(
                        "at index {index}: {}",
                        without_positions(&err.to_string())
                    )));
                }
            }
        }
        let given = *self.given.get_or_insert(0);
        // The array has ended: a tuple's remaining elements are missing.
        match seed {
            Some(seed) if index < self.len && self.len != usize::MAX => {
                self.index += 1;
                seed.deserialize(Missing {
                    index,
                    given,
                    len: self.len,
                    error: std::marker::PhantomData,
                })
                .map(Some)
            }
            _ => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        (self.len != usize::MAX).then(|| self.len - self.index)
    }
}

/// Hands a seed to an element that may not be there: if the array has
/// ended, the seed is still in the `Option` for the padding.
struct Once<'s, T>(&'s mut Option<T>);

impl<'de, T: DeserializeSeed<'de>> DeserializeSeed<'de> for Once<'_, T> {
    type Value = T::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T::Value, D::Error> {
        match self.0.take() {
            Some(seed) => seed.deserialize(deserializer),
            None => Err(de::Error::custom("an element was read twice")),
        }
    }
}

/// A tuple element the array did not have: `None` for an `Option`, `()` for
/// a unit, else an error naming it.
struct Missing<E> {
    index: usize,
    given: usize,
    len: usize,
    error: std::marker::PhantomData<E>,
}

impl<'de, E: de::Error> Deserializer<'de> for Missing<E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, E> {
        Err(E::custom(format_args!(
            "at index {}: missing (expected {} params, got {})",
            self.index, self.len, self.given
        )))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_none()
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    fn parse<T: DeserializeOwned>(json: Option<&str>) -> Result<T, String> {
        Params::new(json.map(str::as_bytes))
            .parse()
            .map_err(|err| err.message().to_owned())
    }

    const NONE: [Option<&str>; 6] = [
        None,
        Some("null"),
        Some("[]"),
        Some("{}"),
        Some("[ ]"),
        Some("{\n}"),
    ];

    #[test]
    fn every_way_of_sending_no_params_reaches_a_unit_handler() {
        for json in NONE {
            assert_eq!(parse::<()>(json), Ok(()), "{json:?}");
        }
    }

    #[test]
    fn a_unit_handler_refuses_params() {
        assert_eq!(
            parse::<()>(Some("[1]")),
            Err("Invalid params: this method takes no params, but some were given".into())
        );
    }

    #[test]
    fn no_params_is_none_for_an_option_and_empty_for_a_vec() {
        for json in NONE {
            assert_eq!(parse::<Option<(u64,)>>(json), Ok(None), "{json:?}");
            assert_eq!(parse::<Vec<u64>>(json), Ok(vec![]), "{json:?}");
            assert_eq!(parse::<(Option<u64>,)>(json), Ok((None,)), "{json:?}");
        }
        assert_eq!(parse::<Option<(u64,)>>(Some("[7]")), Ok(Some((7,))));
    }

    #[test]
    fn optional_trailing_elements_may_be_left_out() {
        type Args = (String, Option<String>, Option<bool>);
        assert_eq!(
            parse::<Args>(Some(r#"["0xab"]"#)),
            Ok(("0xab".into(), None, None))
        );
        assert_eq!(
            parse::<Args>(Some(r#"["0xab", "latest"]"#)),
            Ok(("0xab".into(), Some("latest".into()), None))
        );
        assert_eq!(
            parse::<Args>(Some(r#"["0xab", null, true]"#)),
            Ok(("0xab".into(), None, Some(true)))
        );
    }

    #[test]
    fn a_missing_required_element_is_named_by_its_index() {
        assert_eq!(
            parse::<(u64, u64)>(Some("[1]")),
            Err("Invalid params: at index 1: missing (expected 2 params, got 1)".into())
        );
        assert_eq!(
            parse::<(u64,)>(None),
            Err("Invalid params: at index 0: missing (expected 1 params, got 0)".into())
        );
    }

    #[test]
    fn errors_name_the_index_and_not_a_position_in_the_text() {
        assert_eq!(
            parse::<(i64, i64)>(Some(r#"[1, "two"]"#)),
            Err(r#"Invalid params: at index 1: invalid type: string "two", expected i64"#.into())
        );
        assert_eq!(
            parse::<(i64,)>(Some("[1, 2, 3]")),
            Err("Invalid params: expected at most 1 params, got 3".into())
        );
        assert_eq!(
            parse::<(i64, i64)>(Some(r#"{"a": 1}"#)),
            Err("Invalid params: expected 2 params by position (an array), got an object".into())
        );
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Transfer {
        to: String,
        memo: Option<String>,
    }

    #[test]
    fn structs_take_params_by_name_or_position() {
        let want = Transfer {
            to: "bob".into(),
            memo: None,
        };
        assert_eq!(parse::<Transfer>(Some(r#"{"to": "bob"}"#)), Ok(want));
        assert_eq!(
            parse::<Transfer>(Some(r#"["bob", "hi"]"#)),
            Ok(Transfer {
                to: "bob".into(),
                memo: Some("hi".into()),
            })
        );
        assert_eq!(
            parse::<Transfer>(None),
            Err("Invalid params: missing field `to`".into())
        );
        assert_eq!(
            parse::<Transfer>(Some(r#"{"to": 5}"#)),
            Err("Invalid params: invalid type: integer `5`, expected a string".into())
        );
    }

    #[test]
    fn raw_values_and_json_values_take_the_params_as_they_are() {
        let raw = parse::<Box<serde_json::value::RawValue>>(Some(r#"[1, {"a": 2}]"#)).unwrap();
        assert_eq!(raw.get(), r#"[1, {"a": 2}]"#);
        assert_eq!(
            parse::<serde_json::Value>(Some("[]")),
            Ok(serde_json::json!([]))
        );
        assert_eq!(
            parse::<serde_json::Value>(None),
            Ok(serde_json::Value::Null)
        );
    }

    #[test]
    fn positions_are_removed_from_messages() {
        assert_eq!(
            without_positions("bad at line 1 column 9 and at line 2 column 3"),
            "bad and"
        );
        assert_eq!(without_positions("at line x"), "at line x");
        assert_eq!(without_positions("x at line 4"), "x at line 4");
    }
}
