use std::fmt;

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
    method: Box<str>,
    params: Option<Bytes>,
}

impl Request {
    /// A notification of `method` without params; add an id with
    /// [`with_id`](Self::with_id) to make it a request.
    pub fn new(method: impl Into<Box<str>>) -> Self {
        Self {
            id: None,
            method: method.into(),
            params: None,
        }
    }

    pub(crate) fn from_parts(id: Option<Id>, method: Box<str>, params: Option<Bytes>) -> Self {
        Self { id, method, params }
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
        self.params = Some(Bytes::from(json));
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
        &self.method
    }

    /// The params, unparsed until asked.
    pub fn params(&self) -> Params<'_> {
        Params::new(self.params.as_deref())
    }

    /// Whether no answer is expected.
    pub fn is_notification(&self) -> bool {
        self.id.is_none()
    }

    pub(crate) fn raw_params(&self) -> Option<&[u8]> {
        self.params.as_deref()
    }

    /// Writes the request as JSON.
    pub(crate) fn write_json(&self, dst: &mut bytes::BytesMut) {
        let id = self.id.as_ref().map(|id| WireId::Raw(id.bytes()));
        write_request(dst, id, &self.method, self.raw_params());
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("id", &self.id)
            .field("method", &self.method)
            .field("params", &self.params().as_json())
            .finish_non_exhaustive()
    }
}
