use std::{error::Error, fmt, io};

use super::Endpoint;

/// What was being done with an endpoint when an error happened.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Action {
    Listen,
    Connect,
}

/// An I/O error that names the endpoint it concerns. Carried inside an
/// [`io::Error`] of the same kind, so callers keep matching on the kind.
#[derive(Debug)]
struct EndpointError {
    action: Action,
    endpoint: String,
    source: io::Error,
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = match self.action {
            Action::Listen => "cannot listen on",
            Action::Connect => "cannot connect to",
        };
        write!(f, "{action} `{}`: {}", self.endpoint, self.source)
    }
}

impl Error for EndpointError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}

/// Wraps `source` so its message names the endpoint.
pub(crate) fn endpoint_error(action: Action, endpoint: &Endpoint, source: io::Error) -> io::Error {
    io::Error::new(
        source.kind(),
        EndpointError {
            action,
            endpoint: endpoint.to_string(),
            source,
        },
    )
}
