use std::{error::Error as StdError, fmt};

use tower::BoxError;

use super::ServiceInfo;
use crate::{client, typed::Rejected};

/// Why a call through a service's typed client got no answer from the
/// method: the connection failed, the server could not take the call (a
/// method it does not have, params that do not fit: a client and server
/// built from different versions of the trait), or the answer did not
/// decode. The method's own errors are not this: they are the `Err` of its
/// `Result`.
///
/// Errors name the method, and, when the server refused it, both ends'
/// service versions:
///
/// ```text
/// `calc.sqrt` was refused by the server: Method not found: `sqrt` (code -32601)
///   (server: Calc 0.2.0; this client: Calc 0.3.0)
/// ```
#[derive(Debug)]
pub struct Error {
    method: &'static str,
    client: &'static ServiceInfo,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// No answer: the connection closed or failed.
    Connection(client::Error),
    /// The server answered that it could not take the call.
    Rejected(Rejected),
    /// The call could not be sent, or its answer not read.
    Format(BoxError),
}

impl Error {
    pub(crate) fn connection(
        client: &'static ServiceInfo,
        method: &'static str,
        err: client::Error,
    ) -> Self {
        Self {
            method,
            client,
            kind: Kind::Connection(err),
        }
    }

    pub(crate) fn refused(
        client: &'static ServiceInfo,
        method: &'static str,
        rejected: Rejected,
    ) -> Self {
        Self {
            method,
            client,
            kind: Kind::Rejected(rejected),
        }
    }

    pub(crate) fn format(
        client: &'static ServiceInfo,
        method: &'static str,
        err: impl Into<BoxError>,
    ) -> Self {
        Self {
            method,
            client,
            kind: Kind::Format(err.into()),
        }
    }

    /// The method called, as named on the wire.
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// The connection is gone: the call may or may not have run. Connect
    /// again to go on.
    pub fn is_closed(&self) -> bool {
        matches!(&self.kind, Kind::Connection(err) if err.is_closed())
    }

    /// The server has no method of this name: it runs an older (or
    /// different) version of the service.
    pub fn is_unknown_method(&self) -> bool {
        self.code() == Some(Rejected::METHOD_NOT_FOUND)
    }

    /// The server's method takes other arguments than this client sent.
    pub fn is_bad_params(&self) -> bool {
        self.code() == Some(Rejected::INVALID_PARAMS)
    }

    /// The server's answer, when it refused the call.
    pub fn rejected(&self) -> Option<&Rejected> {
        match &self.kind {
            Kind::Rejected(rejected) => Some(rejected),
            _ => None,
        }
    }

    fn code(&self) -> Option<i64> {
        self.rejected().map(Rejected::code)
    }

    /// The server's service name and version, from its answer, if it sent
    /// them.
    fn server(&self) -> Option<String> {
        #[derive(serde::Deserialize)]
        struct Data {
            service: String,
            version: String,
        }
        let data = self.rejected()?.data()?;
        let data: Data = serde_json::from_str(data).ok()?;
        Some(format!("{} {}", data.service, data.version))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let method = self.method;
        match &self.kind {
            Kind::Connection(err) => write!(f, "`{method}` got no answer: {err}"),
            Kind::Rejected(rejected) => {
                write!(
                    f,
                    "`{method}` was refused by the server: {} (code {})",
                    rejected.message(),
                    rejected.code()
                )?;
                match self.server() {
                    Some(server) => write!(f, " (server: {server}; this client: {})", self.client),
                    None => write!(f, " (this client: {})", self.client),
                }
            }
            Kind::Format(err) => write!(f, "`{method}`: {err}"),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.kind {
            Kind::Connection(err) => Some(err),
            Kind::Rejected(rejected) => Some(rejected),
            Kind::Format(err) => Some(err.as_ref()),
        }
    }
}
