use std::fmt;

use crate::{client, jsonrpc::ErrorObject};

/// Why a [`JsonRpcClient`](super::JsonRpcClient) call failed.
///
/// ```no_run
/// use tower_ipc::{Endpoint, jsonrpc::{CallError, ErrorObject, JsonRpcClient}};
///
/// # async fn run() -> std::io::Result<()> {
/// let client = JsonRpcClient::new(Endpoint::new("calc").connect().await?);
/// match client.call::<i64, _>("add", (1, 2)).await {
///     Ok(sum) => println!("{sum}"),
///     // The server answered: an application error, or a standard one.
///     Err(CallError::Rpc(err)) if err.code() == ErrorObject::METHOD_NOT_FOUND => {
///         eprintln!("this server cannot add")
///     }
///     Err(CallError::Rpc(err)) => eprintln!("refused: {err}"),
///     // No answer: the call may or may not have run.
///     Err(err) if err.is_closed() => eprintln!("connection lost: {err}"),
///     Err(err) => eprintln!("{err}"),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum CallError {
    /// The server answered with an error object.
    Rpc(ErrorObject),
    /// No answer came: the connection closed or failed (see
    /// [`client::Error::is_closed`]), or could not be made.
    Connection(client::Error),
    /// The params could not be serialized, or the result did not parse into
    /// the type asked for.
    Serde(serde_json::Error),
}

impl CallError {
    /// The server's error object, if the server answered with one.
    pub fn as_rpc(&self) -> Option<&ErrorObject> {
        match self {
            Self::Rpc(err) => Some(err),
            _ => None,
        }
    }

    /// Whether the connection is gone (the call may or may not have run).
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Connection(err) if err.is_closed())
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rpc(err) => write!(f, "server answered with an error: {err}"),
            Self::Connection(err) => err.fmt(f),
            Self::Serde(err) => write!(f, "JSON (de)serialization failed: {err}"),
        }
    }
}

impl std::error::Error for CallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Rpc(err) => Some(err),
            Self::Connection(err) => Some(err),
            Self::Serde(err) => Some(err),
        }
    }
}

impl From<client::Error> for CallError {
    fn from(err: client::Error) -> Self {
        Self::Connection(err)
    }
}
