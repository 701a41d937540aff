use std::{borrow::Cow, fmt};

use serde::{Deserialize, Serialize};

/// What a typed server answers instead of a response: it could not take the
/// request (it did not decode, or names no method the server has), or a
/// typed service's method failed.
///
/// The codes are JSON-RPC's, so that a failure reads the same in both wire
/// forms of a [service](mod@crate::service): [`INVALID_REQUEST`](Self::INVALID_REQUEST)
/// for a frame that does not decode, [`METHOD_NOT_FOUND`](Self::METHOD_NOT_FOUND),
/// [`INVALID_PARAMS`](Self::INVALID_PARAMS), or the code of the service's
/// own error. `data` is JSON text, when there is any.
///
/// ```
/// use tower_ipc::typed::Rejected;
///
/// let rejected = Rejected::new(Rejected::INVALID_REQUEST, "not a request");
/// assert_eq!(rejected.to_string(), "not a request (code -32600)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    code: i64,
    message: Cow<'static, str>,
    data: Option<String>,
}

impl Rejected {
    /// The request did not decode as the type the server expects.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The server has no method of that name.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// The method's arguments did not decode as the server's.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The server failed (a method that panicked, say).
    pub const INTERNAL_ERROR: i64 = -32603;

    /// A rejection with `code` and `message`, without data.
    pub fn new(code: i64, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// Attaches `data`, JSON text.
    #[must_use]
    pub fn with_data(mut self, data: impl Into<String>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// The code.
    pub fn code(&self) -> i64 {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The data, JSON text, if any.
    pub fn data(&self) -> Option<&str> {
        self.data.as_deref()
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)?;
        if let Some(data) = &self.data {
            write!(f, ": {data}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Rejected {}
