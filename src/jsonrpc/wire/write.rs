//! Serializing JSON straight into a [`BytesMut`].

use std::io;

use bytes::{BufMut, BytesMut};
use serde::Serialize;

/// Appends `value` as JSON to `dst`.
///
/// serde_json writes in many small pieces; `bytes`' own writer handles each
/// through the generic `write_all` loop, at less than half the speed of this
/// direct append (measured with the codec benchmarks).
pub(crate) fn write_json<T: Serialize + ?Sized>(
    dst: &mut BytesMut,
    value: &T,
) -> serde_json::Result<()> {
    serde_json::to_writer(Append(dst), value)
}

struct Append<'a>(&'a mut BytesMut);

impl io::Write for Append<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A request id as it is written: a number the writer chose, or the JSON of
/// an id as it came.
#[derive(Clone, Copy, Debug)]
pub(crate) enum WireId<'a> {
    Number(u64),
    Raw(&'a [u8]),
}

/// Writes a request (`id` `None`: a notification) with its params' raw
/// JSON, if any.
pub(crate) fn write_request(
    dst: &mut BytesMut,
    id: Option<WireId<'_>>,
    method: &str,
    params: Option<&[u8]>,
) {
    write_head(dst, id, method);
    if let Some(params) = params {
        dst.put_slice(br#","params":"#);
        dst.put_slice(params);
    }
    dst.put_u8(b'}');
}

/// `{"jsonrpc":"2.0","id":ID,"method":METHOD`: a request without its params
/// and its closing brace.
pub(crate) fn write_head(dst: &mut BytesMut, id: Option<WireId<'_>>, method: &str) {
    dst.put_slice(br#"{"jsonrpc":"2.0","#);
    if let Some(id) = id {
        dst.put_slice(br#""id":"#);
        match id {
            WireId::Number(n) => write_u64(dst, n),
            WireId::Raw(json) => dst.put_slice(json),
        }
        dst.put_u8(b',');
    }
    dst.put_slice(br#""method":"#);
    // Serializing a string cannot fail.
    let _ = write_json(dst, method);
}

/// Writes `n` in decimal, without the allocation of `to_string`.
pub(crate) fn write_u64(dst: &mut BytesMut, n: u64) {
    dst.put_slice(decimal(n, &mut [0; 20]));
}

/// `n` in decimal, written at the end of `digits`.
pub(crate) fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &digits[at..]
}

/// Appends `value` as JSON to `json`. A string at the top level (as many
/// results are: hex numbers, hashes, names) that needs no escape is copied
/// whole, where serde_json would look at each of its bytes in turn (ten
/// instructions a byte); everything else is serde_json's.
pub(crate) fn write_value<T: Serialize + ?Sized>(
    json: &mut Vec<u8>,
    value: &T,
) -> serde_json::Result<()> {
    match value.serialize(PlainString(json)) {
        Ok(()) => Ok(()),
        Err(NotPlain) => serde_json::to_writer(json, value),
    }
}

/// Writes a value only if it is a string without anything to escape;
/// fails, having written nothing, for anything else.
struct PlainString<'a>(&'a mut Vec<u8>);

/// What [`PlainString`] does not write.
#[derive(Debug)]
struct NotPlain;

impl std::fmt::Display for NotPlain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a plain string")
    }
}

impl std::error::Error for NotPlain {}

impl serde::ser::Error for NotPlain {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Self
    }
}

/// Whether a JSON string needs an escape for any of `text`'s bytes: a
/// control character, a quote or a backslash. Eight bytes at a time, with
/// no branch but the loop's.
fn needs_escape(text: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
    const SPACES: u64 = u64::from_ne_bytes([0x20; 8]);
    // A byte's high bit is set where it is below 0x20, or equal to a quote
    // or a backslash (its difference with one is zero), and maybe above
    // such a byte: only whether any is set counts.
    let mut found = 0;
    let mut chunks = text.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_ne_bytes(chunk.try_into().expect("8 bytes"));
        let (quote, backslash) = (word ^ QUOTES, word ^ BACKSLASHES);
        found |= word.wrapping_sub(SPACES) & !word
            | quote.wrapping_sub(ONES) & !quote
            | backslash.wrapping_sub(ONES) & !backslash;
    }
    found & HIGHS != 0
        || chunks
            .remainder()
            .iter()
            .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

macro_rules! not_plain {
    ($($method:ident($($arg:ty),*)),* $(,)?) => {
        $(fn $method(self, $(_: $arg),*) -> Result<(), NotPlain> {
            Err(NotPlain)
        })*
    };
}

impl serde::Serializer for PlainString<'_> {
    type Ok = ();
    type Error = NotPlain;
    type SerializeSeq = serde::ser::Impossible<(), NotPlain>;
    type SerializeTuple = serde::ser::Impossible<(), NotPlain>;
    type SerializeTupleStruct = serde::ser::Impossible<(), NotPlain>;
    type SerializeTupleVariant = serde::ser::Impossible<(), NotPlain>;
    type SerializeMap = serde::ser::Impossible<(), NotPlain>;
    type SerializeStruct = serde::ser::Impossible<(), NotPlain>;
    type SerializeStructVariant = serde::ser::Impossible<(), NotPlain>;

    fn serialize_str(self, text: &str) -> Result<(), NotPlain> {
        if needs_escape(text.as_bytes()) {
            return Err(NotPlain);
        }
        self.0.reserve(text.len() + 2);
        self.0.push(b'"');
        self.0.extend_from_slice(text.as_bytes());
        self.0.push(b'"');
        Ok(())
    }

    // serde_json writes a newtype as what it wraps.
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), NotPlain> {
        value.serialize(self)
    }

    not_plain!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), NotPlain> {
        Err(NotPlain)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), NotPlain> {
        Err(NotPlain)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotPlain> {
        Err(NotPlain)
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotPlain> {
        Err(NotPlain)
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotPlain> {
        Err(NotPlain)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotPlain> {
        Err(NotPlain)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotPlain> {
        Err(NotPlain)
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, NotPlain> {
        Err(NotPlain)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotPlain> {
        Err(NotPlain)
    }

    fn collect_str<T: std::fmt::Display + ?Sized>(self, _: &T) -> Result<(), NotPlain> {
        Err(NotPlain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_as_serde_json_writes_them() {
        #[derive(Serialize)]
        struct Wrapped(String);
        #[derive(Serialize)]
        struct Named {
            a: u8,
        }
        let mut texts: Vec<String> = vec![
            String::new(),
            "0x1b4".into(),
            "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_".into(),
            "naïve café ✓ 𝄞".into(),
        ];
        // Every byte that needs an escape, at every place in a word.
        for special in ['"', '\\', '\n', '\u{0}', '\u{1f}', '\t'] {
            for at in 0..17 {
                let mut text = "x".repeat(at);
                text.push(special);
                text.push_str("yyyyyyyy");
                texts.push(text);
            }
        }
        texts.push("\u{7f}\u{80}\u{ff}".into());
        for text in &texts {
            let mut json = Vec::new();
            write_value(&mut json, text).unwrap();
            assert_eq!(json, serde_json::to_vec(text).unwrap(), "{text:?}");
            let mut json = Vec::new();
            write_value(&mut json, &Wrapped(text.clone())).unwrap();
            assert_eq!(json, serde_json::to_vec(text).unwrap(), "{text:?}");
        }
        for value in [
            serde_json::json!(null),
            serde_json::json!(12),
            serde_json::json!([1, "a"]),
            serde_json::json!({"a": "b\"c"}),
            serde_json::json!(Some("x")),
        ] {
            let mut json = Vec::new();
            write_value(&mut json, &value).unwrap();
            assert_eq!(json, serde_json::to_vec(&value).unwrap());
        }
        let mut json = Vec::new();
        write_value(&mut json, &Named { a: 1 }).unwrap();
        assert_eq!(json, br#"{"a":1}"#);
        let mut json = Vec::new();
        write_value(&mut json, &Some("x")).unwrap();
        assert_eq!(json, br#""x""#);
    }
}
