use std::{borrow::Cow, fmt};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A JSON-RPC error object: what a failed call answers.
///
/// Handlers return it for application errors; the server builds the standard
/// ones (parse error, invalid request, method not found, invalid params,
/// internal error) and turns errors from tower middleware into error objects
/// for the request's id.
///
/// ```
/// use tower_ipc::jsonrpc::ErrorObject;
///
/// let err = ErrorObject::new(-32010, "insufficient funds").with_data(&[1, 2]);
/// assert_eq!(err.code(), -32010);
/// assert_eq!(err.data().unwrap().get(), "[1,2]");
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorObject {
    code: i64,
    message: Cow<'static, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<Box<RawValue>>,
}

impl ErrorObject {
    /// Invalid JSON was received.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON sent is not a valid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method does not exist or is not available.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Invalid method parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal JSON-RPC error.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// The server gave up waiting for the handler (a timeout layer elapsed).
    /// Implementation-defined, as geth answers timeouts.
    pub const TIMEOUT: i64 = -32002;
    /// The server is over a limit (load shed, too many requests, a batch too
    /// large). Implementation-defined, as in EIP-1474.
    pub const LIMIT_EXCEEDED: i64 = -32005;
    /// The caller is not allowed to call. Implementation-defined.
    pub const UNAUTHORIZED: i64 = -32006;
    /// The answer is over the server's answer size limit; the message names
    /// the limit and the size. Implementation-defined, as jsonrpsee answers
    /// oversized responses.
    pub const RESPONSE_TOO_LARGE: i64 = -32008;
    /// The request was cancelled: the server is shutting down and its
    /// deadline passed. Implementation-defined.
    pub const SHUTTING_DOWN: i64 = -32000;

    /// An error with any code and message.
    pub fn new(code: i64, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// -32700: the text received is not JSON.
    pub fn parse_error(detail: impl fmt::Display) -> Self {
        Self::new(Self::PARSE_ERROR, format!("Parse error: {detail}"))
    }

    /// -32600: the JSON received is not a valid request.
    pub fn invalid_request(detail: impl fmt::Display) -> Self {
        Self::new(Self::INVALID_REQUEST, format!("Invalid Request: {detail}"))
    }

    /// -32601: no such method; the message names it.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            Self::METHOD_NOT_FOUND,
            format!("Method not found: `{method}`"),
        )
    }

    /// -32602: the params do not fit the method.
    pub fn invalid_params(detail: impl fmt::Display) -> Self {
        Self::new(Self::INVALID_PARAMS, format!("Invalid params: {detail}"))
    }

    /// -32603: the server failed.
    pub fn internal_error(detail: impl fmt::Display) -> Self {
        Self::new(Self::INTERNAL_ERROR, format!("Internal error: {detail}"))
    }

    /// Attaches `data`, any serializable value (dropped if it cannot be
    /// serialized).
    #[must_use]
    pub fn with_data<T: Serialize + ?Sized>(mut self, data: &T) -> Self {
        self.data = serde_json::value::to_raw_value(data).ok();
        self
    }

    /// The error code.
    pub fn code(&self) -> i64 {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `data` member as raw JSON, if any.
    pub fn data(&self) -> Option<&RawValue> {
        self.data.as_deref()
    }
}

impl fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)?;
        if let Some(data) = &self.data {
            write!(f, ": {}", data.get())?;
        }
        Ok(())
    }
}

impl std::error::Error for ErrorObject {}

impl PartialEq for ErrorObject {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code
            && self.message == other.message
            && self.data.as_ref().map(|d| d.get()) == other.data.as_ref().map(|d| d.get())
    }
}

impl Eq for ErrorObject {}
