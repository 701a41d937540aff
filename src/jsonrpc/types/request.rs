use std::{fmt, ops::Range};

use bytes::Bytes;
use serde::Serialize;

use super::{ErrorObject, Id, Params};
use crate::jsonrpc::wire::write::{WireId, write_request};

/// A JSON-RPC request, or a notification (a request without an id): plain
/// data, as it is on the wire.
///
/// Requests read from the wire keep their params unparsed (a slice of the
/// received frame, not a copy) until a handler asks for them with
/// [`params`](Request::params). On a server, a request reaches the service
/// inside a [`Call`](super::super::Call), beside the context it came in.
///
/// ```
/// use tower_ipc::jsonrpc::{Id, Request};
///
/// let request = Request::new("add").with_params(&[1, 2]).unwrap().with_id(Id::from(1));
/// let (a, b): (i64, i64) = request.params().parse().unwrap();
/// assert_eq!((request.method(), a + b), ("add", 3));
/// ```
#[derive(Clone)]
pub struct Request {
    id: Option<Id>,
    /// The text the method and the params are slices of: the frame they
    /// came in (one reference to it, however many parts are read from it),
    /// or, for a request made here, the method and then the params.
    text: Bytes,
    method: Method,
    params: Option<Range<usize>>,
}

/// Where a request's method name is.
#[derive(Clone)]
enum Method {
    /// In the text, as it is (a JSON string without escapes, or a name
    /// given here).
    InText(Range<usize>),
    /// A name with escapes, unescaped.
    Unescaped(Box<str>),
}

/// A request read from a frame, without the frame yet: where its parts are
/// in the frame, found while the frame was borrowed.
pub(crate) struct RequestParts {
    pub(crate) id: Option<Id>,
    pub(crate) method: MethodParts,
    pub(crate) params: Option<Range<usize>>,
}

/// Where a request's method is in its frame, or the name unescaped.
pub(crate) enum MethodParts {
    InFrame(Range<usize>),
    Unescaped(Box<str>),
}

impl RequestParts {
    /// The request, with the frame its parts were found in.
    #[inline]
    pub(crate) fn in_frame(self, frame: Bytes) -> Request {
        Request {
            id: self.id,
            text: frame,
            method: match self.method {
                MethodParts::InFrame(range) => Method::InText(range),
                MethodParts::Unescaped(name) => Method::Unescaped(name),
            },
            params: self.params,
        }
    }
}

impl Request {
    /// A notification of `method` without params; add an id with
    /// [`with_id`](Self::with_id) to make it a request.
    pub fn new(method: impl Into<Box<str>>) -> Self {
        let method: Box<[u8]> = method.into().into();
        Self {
            id: None,
            method: Method::InText(0..method.len()),
            text: Bytes::from(method),
            params: None,
        }
    }

    /// Sets the params: by position (a tuple, array or `Vec`) or by name (a
    /// struct or map).
    ///
    /// # Errors
    ///
    /// Fails if `params` cannot be serialized, or does not serialize to a
    /// JSON array or object (the only params JSON-RPC allows).
    pub fn with_params<T: Serialize + ?Sized>(mut self, params: &T) -> Result<Self, ErrorObject> {
        let json = serde_json::to_vec(params).map_err(ErrorObject::invalid_params)?;
        if !matches!(json.first(), Some(b'[' | b'{')) {
            return Err(ErrorObject::invalid_params(
                "params must serialize to an array or an object",
            ));
        }
        // The method, then the params, in one buffer of the exact size (a
        // `Vec` with room to spare would cost `Bytes` a header of its own).
        let method = self.method();
        let mut text = Vec::with_capacity(method.len() + json.len());
        text.extend_from_slice(method.as_bytes());
        text.extend_from_slice(&json);
        let method = method.len();
        self.method = Method::InText(0..method);
        self.params = Some(method..text.len());
        self.text = Bytes::from(text);
        Ok(self)
    }

    /// Sets the id, making this a request that expects an answer.
    #[must_use]
    pub fn with_id(mut self, id: Id) -> Self {
        self.id = Some(id);
        self
    }

    /// The id; `None` for a notification.
    pub fn id(&self) -> Option<&Id> {
        self.id.as_ref()
    }

    /// The method name.
    pub fn method(&self) -> &str {
        match &self.method {
            // The text is UTF-8: a checked frame, or a `str` given here.
            Method::InText(range) => std::str::from_utf8(&self.text[range.clone()]).unwrap_or(""),
            Method::Unescaped(name) => name,
        }
    }

    /// The method name's bytes, without the UTF-8 check of
    /// [`method`](Self::method) (to look it up).
    pub(crate) fn method_bytes(&self) -> &[u8] {
        match &self.method {
            Method::InText(range) => &self.text[range.clone()],
            Method::Unescaped(name) => name.as_bytes(),
        }
    }

    /// The params, unparsed until asked.
    pub fn params(&self) -> Params<'_> {
        Params::new(self.raw_params())
    }

    /// Whether no answer is expected.
    pub fn is_notification(&self) -> bool {
        self.id.is_none()
    }

    pub(crate) fn raw_params(&self) -> Option<&[u8]> {
        self.params.clone().map(|range| &self.text[range])
    }

    /// Writes the request as JSON.
    pub(crate) fn write_json(&self, dst: &mut bytes::BytesMut) {
        let id = self.id.as_ref().map(|id| WireId::Raw(id.bytes()));
        write_request(dst, id, self.method(), self.raw_params());
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("id", &self.id)
            .field("method", &self.method())
            .field("params", &self.params().as_json())
            .finish_non_exhaustive()
    }
}
