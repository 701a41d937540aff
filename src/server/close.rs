//! Why a served connection ended.

use std::{error::Error, fmt, io, sync::Arc, time::Duration};

use tower::BoxError;

/// Why a served connection ended: carried by
/// [`ServerEvent::ConnectionClosed`](super::ServerEvent::ConnectionClosed)
/// and, when it is a failure, returned by
/// [`Server::serve_connection`](super::Server::serve_connection).
///
/// The first three are orderly ends; the rest are failures
/// ([`is_failure`](Self::is_failure)), whose cause, if any, is the error's
/// [`source`](Error::source).
///
/// ```
/// use tower_ipc::server::CloseReason;
///
/// fn log(reason: &CloseReason) {
///     match reason {
///         CloseReason::PeerClosed => println!("the client hung up"),
///         CloseReason::BadInput(cause) => println!("the client sent garbage: {cause}"),
///         other => println!("closed: {other}"),
///     }
/// }
/// # log(&CloseReason::PeerClosed);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer closed its side and every answer was written.
    PeerClosed,
    /// The server shut down; the requests in flight were answered.
    Shutdown,
    /// Nothing was read or written for the idle timeout.
    Idle(Duration),
    /// The peer sent bytes the codec rejects.
    BadInput(Cause),
    /// The service failed. A protocol whose answers carry no id cannot
    /// answer in order past a failed request, so the connection closes
    /// after the answers before it.
    Service(Cause),
    /// An answer could not be encoded.
    Encode(Cause),
    /// Reading or writing the transport failed (the cause is most often an
    /// [`io::Error`]).
    Io(Cause),
    /// The peer read none of the answers for the write timeout.
    WriteTimeout(Duration),
    /// The shutdown deadline passed with requests in flight.
    Aborted,
}

/// The error behind a [`CloseReason`], shared so that the reason can be
/// handed to every watcher of the server's events.
pub type Cause = Arc<dyn Error + Send + Sync>;

impl CloseReason {
    /// Whether the connection ended by a failure rather than by the peer,
    /// the server's shutdown or the idle timeout.
    pub fn is_failure(&self) -> bool {
        !matches!(self, Self::PeerClosed | Self::Shutdown | Self::Idle(_))
    }

    /// The transport's error, for a connection that ended with one
    /// ([`Io`](Self::Io)): its [kind](io::Error::kind) tells a peer that
    /// went away (`BrokenPipe`, `ConnectionReset`) from other failures.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            Self::Io(cause) => cause.downcast_ref(),
            _ => None,
        }
    }

    /// A read failed: bad input, unless the codec passed on a failure of
    /// the transport itself (an [`io::Error`] of another kind than
    /// `InvalidData`, such as a reset).
    pub(crate) fn read(err: impl Into<BoxError>) -> Self {
        let err = err.into();
        match err.downcast_ref::<io::Error>().map(io::Error::kind) {
            Some(io::ErrorKind::InvalidData | io::ErrorKind::Other) | None => {
                Self::BadInput(Arc::from(err))
            }
            Some(_) => Self::Io(Arc::from(err)),
        }
    }

    pub(crate) fn service(err: impl Into<BoxError>) -> Self {
        Self::Service(Arc::from(err.into()))
    }

    pub(crate) fn encode(err: impl Into<BoxError>) -> Self {
        Self::Encode(Arc::from(err.into()))
    }

    pub(crate) fn io(err: impl Into<BoxError>) -> Self {
        Self::Io(Arc::from(err.into()))
    }

    /// `Ok` for an orderly end, else the failure.
    pub(crate) fn into_result(self) -> Result<(), Self> {
        if self.is_failure() { Err(self) } else { Ok(()) }
    }
}

impl Error for CloseReason {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::BadInput(cause)
            | Self::Service(cause)
            | Self::Encode(cause)
            | Self::Io(cause) => Some(&**cause),
            Self::PeerClosed
            | Self::Shutdown
            | Self::Idle(_)
            | Self::WriteTimeout(_)
            | Self::Aborted => None,
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PeerClosed => f.write_str("closed by peer"),
            Self::Shutdown => f.write_str("server shutdown"),
            Self::Idle(after) => write!(f, "idle for {after:?}"),
            Self::BadInput(err) => write!(f, "bad input from peer: {err}"),
            Self::Service(err) => write!(f, "service failed: {err}"),
            Self::Encode(err) => write!(f, "response could not be encoded: {err}"),
            Self::Io(err) => write!(f, "transport error: {err}"),
            Self::WriteTimeout(after) => {
                write!(f, "the peer read no answer for {after:?} (write timeout)")
            }
            Self::Aborted => f.write_str("shutdown deadline passed with requests in flight"),
        }
    }
}

/// For callers in `io::Result` code: the kind says what happened
/// ([`InvalidData`](io::ErrorKind::InvalidData) for bad input,
/// [`TimedOut`](io::ErrorKind::TimedOut) for the write timeout,
/// [`Interrupted`](io::ErrorKind::Interrupted) for the shutdown deadline,
/// the transport error's own kind), and the reason is the error's inner
/// value.
impl From<CloseReason> for io::Error {
    fn from(reason: CloseReason) -> Self {
        let kind = match &reason {
            CloseReason::BadInput(_) => io::ErrorKind::InvalidData,
            CloseReason::WriteTimeout(_) => io::ErrorKind::TimedOut,
            CloseReason::Aborted => io::ErrorKind::Interrupted,
            CloseReason::Io(_) => reason
                .io_error()
                .map_or(io::ErrorKind::Other, io::Error::kind),
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_keep_their_cause_and_kind() {
        let reason = CloseReason::read(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame of 9 bytes over 8",
        ));
        assert!(reason.is_failure());
        assert_eq!(
            reason.source().map(ToString::to_string).as_deref(),
            Some("frame of 9 bytes over 8")
        );
        let err = io::Error::from(reason);
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let inner = err.get_ref().and_then(|e| e.downcast_ref::<CloseReason>());
        assert!(matches!(inner, Some(CloseReason::BadInput(_))), "{err:?}");

        // A transport failure passed on by the codec is not bad input.
        let reset = CloseReason::read(io::Error::from(io::ErrorKind::ConnectionReset));
        assert!(matches!(reset, CloseReason::Io(_)), "{reset}");
        assert_eq!(
            reset.io_error().map(io::Error::kind),
            Some(io::ErrorKind::ConnectionReset)
        );
        assert_eq!(
            io::Error::from(reset).kind(),
            io::ErrorKind::ConnectionReset
        );
    }

    #[test]
    fn orderly_ends_are_not_failures() {
        for reason in [
            CloseReason::PeerClosed,
            CloseReason::Shutdown,
            CloseReason::Idle(Duration::from_secs(1)),
        ] {
            assert!(!reason.is_failure(), "{reason}");
            assert!(reason.into_result().is_ok());
        }
        assert!(CloseReason::Aborted.into_result().is_err());
    }
}
