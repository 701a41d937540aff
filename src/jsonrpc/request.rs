use std::fmt;

use bytes::Bytes;
use serde::Serialize;

use super::{Context, ErrorObject, Id, Params};

/// A JSON-RPC request or notification (a request without an id).
///
/// On the server, requests come from the wire: the params stay unparsed
/// (a slice of the received frame, not a copy) until a handler asks for them
/// with [`params`](Request::params). The [`Context`] tells a handler who
/// called and lets it open subscriptions.
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
    context: Context,
}

impl Request {
    /// A notification of `method` without params; add an id with
    /// [`with_id`](Self::with_id) to make it a request.
    pub fn new(method: impl Into<Box<str>>) -> Self {
        Self {
            id: None,
            method: method.into(),
            params: None,
            context: Context::detached(),
        }
    }

    pub(crate) fn from_parts(
        id: Option<Id>,
        method: Box<str>,
        params: Option<Bytes>,
        context: Context,
    ) -> Self {
        Self {
            id,
            method,
            params,
            context,
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

    /// The connection this request came on: who called, and the means to
    /// open subscriptions.
    pub fn context(&self) -> &Context {
        &self.context
    }

    pub(crate) fn raw_params(&self) -> Option<&[u8]> {
        self.params.as_deref()
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
