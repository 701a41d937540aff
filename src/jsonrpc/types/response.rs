use std::{fmt, ops::Deref};

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Serialize, de::DeserializeOwned};

use super::{ErrorObject, Id};
use crate::jsonrpc::wire::write::{write_json, write_value};

/// The answer to a JSON-RPC request: a result or an [`ErrorObject`], for the
/// request's [`Id`]. Plain data, as it is on the wire.
///
/// A result is held as the JSON text it serialized to, so the server writes
/// it as it is, and a client parses it only into the type its caller wants.
///
/// ```
/// use tower_ipc::jsonrpc::{ErrorObject, Id, Response};
///
/// let ok = Response::result(Id::from(1), &[1, 2]);
/// assert_eq!(ok.result_json(), Some("[1,2]"));
/// assert_eq!(ok.into_result::<Vec<u8>>().unwrap(), [1, 2]);
///
/// let failed = Response::error(Id::from(2), ErrorObject::method_not_found("nope"));
/// assert!(failed.is_error());
/// assert_eq!(failed.into_result::<()>().unwrap_err().code(), ErrorObject::METHOD_NOT_FOUND);
/// ```
#[derive(Clone)]
pub struct Response {
    id: Id,
    outcome: Outcome,
}

#[derive(Clone)]
enum Outcome {
    Result(ResultJson),
    Error(ErrorObject),
}

/// A result's JSON text.
#[derive(Clone)]
enum ResultJson {
    /// A slice of a received frame (on the client).
    Received(Bytes),
    /// Serialized here (on the server): kept in its `Vec`, since `Bytes`
    /// made from a `Vec` with room to spare allocates a header of its own.
    Serialized(Vec<u8>),
}

impl Deref for ResultJson {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Self::Received(json) => json,
            Self::Serialized(json) => json,
        }
    }
}

impl Response {
    /// A successful answer. A value that fails to serialize becomes an
    /// internal error answer instead.
    pub fn result<T: Serialize + ?Sized>(id: Id, value: &T) -> Self {
        // Room for a short string or a small object without a reallocation.
        let mut json = Vec::with_capacity(128);
        match write_value(&mut json, value) {
            Ok(()) => Self {
                id,
                outcome: Outcome::Result(ResultJson::Serialized(json)),
            },
            Err(err) => Self::error(
                id,
                ErrorObject::internal_error(format_args!("the result cannot be serialized: {err}")),
            ),
        }
    }

    /// A failed answer.
    pub fn error(id: Id, error: ErrorObject) -> Self {
        Self {
            id,
            outcome: Outcome::Error(error),
        }
    }

    /// A successful answer whose result is this (valid) JSON text.
    pub(crate) fn raw(id: Id, result: Bytes) -> Self {
        Self {
            id,
            outcome: Outcome::Result(ResultJson::Received(result)),
        }
    }

    /// The id of the request this answers.
    pub fn id(&self) -> &Id {
        &self.id
    }

    /// Whether this is an error answer.
    pub fn is_error(&self) -> bool {
        matches!(self.outcome, Outcome::Error(_))
    }

    /// The error, for an error answer.
    pub fn error_object(&self) -> Option<&ErrorObject> {
        match &self.outcome {
            Outcome::Error(err) => Some(err),
            Outcome::Result(_) => None,
        }
    }

    /// The result's JSON text, for a successful answer.
    pub fn result_json(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Result(json) => std::str::from_utf8(json).ok(),
            Outcome::Error(_) => None,
        }
    }

    /// The result parsed into `T`, or the error object.
    ///
    /// # Errors
    ///
    /// The answer's error object, or a local error (code
    /// [`ErrorObject::PARSE_ERROR`]) saying why the result does not parse
    /// into `T`.
    pub fn into_result<T: DeserializeOwned>(self) -> Result<T, ErrorObject> {
        match self.outcome {
            Outcome::Result(json) => serde_json::from_slice(&json).map_err(|err| {
                ErrorObject::new(
                    ErrorObject::PARSE_ERROR,
                    format!(
                        "the result does not parse as {}: {err}",
                        std::any::type_name::<T>()
                    ),
                )
            }),
            Outcome::Error(err) => Err(err),
        }
    }

    /// Gives the answer another id (the one its caller used).
    pub(crate) fn set_id(&mut self, id: Id) {
        self.id = id;
    }

    /// The length of the response object's JSON, for a successful answer
    /// (an error's is known once it is written).
    pub(crate) fn result_json_len(&self) -> Option<usize> {
        match &self.outcome {
            Outcome::Result(json) => Some(
                RESULT_HEAD.len() + self.id.bytes().len() + RESULT_MEMBER.len() + json.len() + 1,
            ),
            Outcome::Error(_) => None,
        }
    }

    /// Writes the complete response object.
    pub(crate) fn write_json(&self, dst: &mut BytesMut) {
        if let Some(len) = self.result_json_len() {
            dst.reserve(len);
        }
        dst.extend_from_slice(RESULT_HEAD);
        dst.extend_from_slice(self.id.bytes());
        match &self.outcome {
            Outcome::Result(json) => {
                dst.extend_from_slice(RESULT_MEMBER);
                dst.extend_from_slice(json);
            }
            Outcome::Error(err) => {
                dst.put_slice(br#","error":"#);
                // An error object always serializes: strings, numbers, raw JSON.
                let _ = write_json(dst, err);
            }
        }
        dst.put_u8(b'}');
    }
}

/// A response object up to its id.
const RESULT_HEAD: &[u8] = br#"{"jsonrpc":"2.0","id":"#;
/// Between a response's id and its result.
const RESULT_MEMBER: &[u8] = br#","result":"#;

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Response");
        s.field("id", &self.id);
        match &self.outcome {
            Outcome::Result(_) => s.field("result", &self.result_json()),
            Outcome::Error(err) => s.field("error", err),
        };
        s.finish()
    }
}
