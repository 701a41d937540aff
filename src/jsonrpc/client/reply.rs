//! A typed call's answer read in one pass: the reader takes the id from the
//! frame's first bytes, and the caller parses the frame straight into the
//! type it wants, instead of the reader parsing every member to raw JSON
//! and the caller parsing the result again.

use bytes::Bytes;
use serde::{Deserialize, Deserializer, de::DeserializeOwned};

use super::CallError;
use crate::jsonrpc::{ErrorObject, Response};

/// An answer as the reader hands it to its caller.
pub(crate) enum Answer {
    /// A frame holding one response to a typed call, routed by the id at
    /// its start and not parsed yet.
    Frame(Bytes),
    /// A response the reader parsed.
    Parsed(Response),
    /// A notification was written.
    Written,
}

impl Answer {
    /// The answer to an untyped call, which the reader always parses.
    pub(super) fn into_parsed(self) -> Response {
        match self {
            Self::Parsed(response) => response,
            Self::Frame(_) | Self::Written => unreachable!("an answer of another kind of call"),
        }
    }

    /// The result parsed into `T`, or the server's error.
    pub(super) fn into_result<T: DeserializeOwned>(self) -> Result<T, CallError> {
        match self {
            Self::Frame(frame) => {
                if let Some(result) = lone_result(&frame) {
                    return Ok(result);
                }
                let reply: TypedReply<T> =
                    serde_json::from_slice(&frame).map_err(CallError::Serde)?;
                match reply {
                    TypedReply {
                        error: Some(error), ..
                    } => Err(CallError::Rpc(error)),
                    TypedReply {
                        result: Some(result),
                        ..
                    } => Ok(result),
                    _ => Err(CallError::Serde(serde::de::Error::custom(
                        "a response without a result or an error",
                    ))),
                }
            }
            Self::Parsed(response) => parsed_into(response),
            Self::Written => unreachable!("a notification's acknowledgement for a call"),
        }
    }
}

/// A parsed response's result parsed into `T`, or its error.
pub(super) fn parsed_into<T: DeserializeOwned>(response: Response) -> Result<T, CallError> {
    if let Some(error) = response.error_object() {
        return Err(CallError::Rpc(error.clone()));
    }
    serde_json::from_str(response.result_json().unwrap_or("null")).map_err(CallError::Serde)
}

/// The members of a response a caller needs; `jsonrpc` and `id` are
/// skipped (the id was read to route the frame here).
#[derive(Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct TypedReply<T> {
    #[serde(default, deserialize_with = "present")]
    result: Option<T>,
    #[serde(default)]
    error: Option<ErrorObject>,
}

/// `Some` for a member that is present, even when it is `null` (a `null`
/// result is a result, say of a call returning `()`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// The result of a response written as servers write them,
/// `{"jsonrpc":"2.0","id":N,"result":VALUE}`, parsed straight from VALUE:
/// no member to skip first. `None` for any other frame (say with more
/// members after the result) and when VALUE does not parse into `T`: the
/// whole frame is then parsed, to the same answer or error as ever.
fn lone_result<T: DeserializeOwned>(frame: &[u8]) -> Option<T> {
    let rest = frame.strip_prefix(br#"{"jsonrpc":"2.0","id":"#)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    // A number as JSON writes it: no leading zero.
    if digits == 0 || (digits > 1 && rest[0] == b'0') {
        return None;
    }
    let value = rest[digits..]
        .strip_prefix(br#","result":"#)?
        .trim_ascii_end()
        .strip_suffix(b"}")?;
    // Anything after the value (another member) fails the parse.
    serde_json::from_slice(value).ok()
}

/// The id of a response that starts as servers write them,
/// `{"jsonrpc":"2.0","id":N,"result":` or `...,"error":`, read without
/// parsing the rest; `None` for any other frame, which is parsed whole.
pub(super) fn leading_id(frame: &[u8]) -> Option<u64> {
    let rest = frame.strip_prefix(br#"{"jsonrpc":"2.0","id":"#)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let after = rest.get(digits..)?;
    if digits == 0 || !(after.starts_with(br#","result":"#) || after.starts_with(br#","error":"#)) {
        return None;
    }
    rest[..digits].iter().try_fold(0u64, |n, digit| {
        n.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_id_reads_the_id_of_responses_written_id_first() {
        assert_eq!(
            leading_id(br#"{"jsonrpc":"2.0","id":42,"result":"x"}"#),
            Some(42)
        );
        assert_eq!(
            leading_id(br#"{"jsonrpc":"2.0","id":7,"error":{}}"#),
            Some(7)
        );
        assert_eq!(
            leading_id(br#"{"jsonrpc":"2.0","id":18446744073709551615,"result":1}"#),
            Some(u64::MAX)
        );
    }

    #[test]
    fn leading_id_leaves_every_other_frame_to_the_full_parse() {
        for frame in [
            &br#"{"jsonrpc":"2.0","result":"x","id":42}"#[..],
            br#"{"jsonrpc":"2.0","id":"42","result":"x"}"#,
            br#"{"jsonrpc":"2.0","id":42,"method":"x"}"#,
            br#"{"jsonrpc":"2.0","id":18446744073709551616,"result":1}"#,
            br#"{"jsonrpc":"2.0","id":,"result":1}"#,
            br#"{ "jsonrpc":"2.0","id":1,"result":1}"#,
            br#"[{"jsonrpc":"2.0","id":1,"result":1}]"#,
            br#"{"jsonrpc":"2.0","id":1"#,
        ] {
            assert_eq!(
                leading_id(frame),
                None,
                "{}",
                String::from_utf8_lossy(frame)
            );
        }
    }

    #[test]
    fn a_lone_result_is_parsed_from_its_value_and_anything_else_whole() {
        let frame = |s: &'static str| Answer::Frame(Bytes::from_static(s.as_bytes()));
        assert_eq!(
            lone_result::<String>(br#"{"jsonrpc":"2.0","id":1,"result":"hi"}"#),
            Some("hi".into())
        );
        assert_eq!(
            lone_result::<Vec<u8>>(b"{\"jsonrpc\":\"2.0\",\"id\":10,\"result\":[1,2] }\n"),
            Some(vec![1, 2])
        );
        for other in [
            &br#"{"jsonrpc":"2.0","id":1,"result":"hi","error":{"code":1,"message":"m"}}"#[..],
            br#"{"jsonrpc":"2.0","id":1,"result":"a","result":"b"}"#,
            br#"{"jsonrpc":"2.0","id":01,"result":"hi"}"#,
            br#"{"jsonrpc":"2.0","id":1,"result":5}"#,
            br#"{"jsonrpc":"2.0","id":1,"result":"hi""#,
        ] {
            assert!(lone_result::<String>(other).is_none());
        }
        // Those are parsed whole, as they were.
        let err =
            frame(r#"{"jsonrpc":"2.0","id":1,"result":"hi","error":{"code":1,"message":"m"}}"#)
                .into_result::<String>()
                .unwrap_err();
        assert_eq!(err.as_rpc().unwrap().code(), 1);
        let err = frame(r#"{"jsonrpc":"2.0","id":1,"result":"a","result":"b"}"#)
            .into_result::<String>()
            .unwrap_err();
        assert!(matches!(err, CallError::Serde(_)), "{err}");
        let err = frame(r#"{"jsonrpc":"2.0","id":01,"result":"hi"}"#)
            .into_result::<String>()
            .unwrap_err();
        assert!(matches!(err, CallError::Serde(_)), "{err}");
    }

    #[test]
    fn a_frame_parses_into_the_result_or_the_error() {
        let frame = |s: &'static str| Answer::Frame(Bytes::from_static(s.as_bytes()));
        let ok: String = frame(r#"{"jsonrpc":"2.0","id":1,"result":"hi"}"#)
            .into_result()
            .unwrap();
        assert_eq!(ok, "hi");
        frame(r#"{"jsonrpc":"2.0","id":1,"result":null}"#)
            .into_result::<()>()
            .unwrap();
        let err = frame(r#"{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"no"}}"#)
            .into_result::<String>()
            .unwrap_err();
        assert_eq!(err.as_rpc().unwrap().code(), -1);
        let err = frame(r#"{"jsonrpc":"2.0","id":1,"result":5}"#)
            .into_result::<String>()
            .unwrap_err();
        assert!(matches!(err, CallError::Serde(_)), "{err}");
        let err = frame(r#"{"jsonrpc":"2.0","id":1}"#)
            .into_result::<()>()
            .unwrap_err();
        assert!(matches!(err, CallError::Serde(_)), "{err}");
    }
}
