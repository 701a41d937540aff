use std::{error::Error as StdError, fmt, sync::Arc};

use tower::BoxError;

/// Why a [`Client`](super::Client) call failed.
///
/// The same connection failure is reported to every call that was in flight,
/// so the cause is shared.
///
/// ```
/// use bytes::Bytes;
/// use tokio_util::codec::Framed;
/// use tower::{Service, ServiceExt, service_fn};
/// use tower_ipc::{Client, Endpoint, codec::LengthPrefixed};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// # let endpoint = Endpoint::new(format!("tower-ipc-doc-closed-{}", std::process::id()));
/// // A server whose service fails: it closes the connection.
/// let failing = service_fn(|_: Bytes| async { Err::<Bytes, _>(std::io::Error::other("boom")) });
/// let listener = endpoint.bind().await?;
/// tokio::spawn(tower_ipc::serve(listener, LengthPrefixed::new(), failing).into_future());
///
/// let mut client = Client::new(Framed::new(endpoint.connect().await?, LengthPrefixed::new()));
/// let err = client.ready().await?.call(Bytes::from("hi")).await.unwrap_err();
/// assert!(err.is_closed()); // connect again to go on
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Error {
    kind: Kind,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// The peer closed the connection before answering.
    Closed,
    /// Reading or writing the connection failed.
    Transport,
    /// The peer sent an answer nobody asked for.
    Protocol,
    /// This request could not be encoded; the connection is unaffected.
    Encode,
    /// `call` without a slot reserved by `poll_ready`.
    NotReady,
}

impl Error {
    fn new(kind: Kind, source: Option<BoxError>) -> Self {
        Self {
            kind,
            source: source.map(Arc::from),
        }
    }

    pub(crate) fn closed() -> Self {
        Self::new(Kind::Closed, None)
    }

    /// The peer closed the connection, saying why (`source`).
    pub(crate) fn closed_by(source: BoxError) -> Self {
        Self::new(Kind::Closed, Some(source))
    }

    pub(crate) fn transport(source: BoxError) -> Self {
        Self::new(Kind::Transport, Some(source))
    }

    pub(crate) fn unexpected_response() -> Self {
        Self::new(Kind::Protocol, None)
    }

    pub(crate) fn encode(source: BoxError) -> Self {
        Self::new(Kind::Encode, Some(source))
    }

    pub(crate) fn not_ready() -> Self {
        Self::new(Kind::NotReady, None)
    }

    /// The connection is gone (closed by the peer, failed, or dropped after
    /// a protocol violation): this call and every later one on this client
    /// fail. Connect again to go on.
    pub fn is_closed(&self) -> bool {
        matches!(self.kind, Kind::Closed | Kind::Transport | Kind::Protocol)
    }

    /// This request could not be encoded (for example, it is over the
    /// codec's maximum frame length); the connection is unaffected.
    pub fn is_encode(&self) -> bool {
        self.kind == Kind::Encode
    }

    /// `call` was made without a successful `poll_ready` first.
    pub fn is_not_ready(&self) -> bool {
        self.kind == Kind::NotReady
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = match self.kind {
            Kind::Closed => "connection closed before the response arrived",
            Kind::Transport => "connection failed",
            Kind::Protocol => "connection dropped: the peer sent a response to no request",
            Kind::Encode => "request could not be encoded",
            Kind::NotReady => "call without a successful poll_ready",
        };
        match &self.source {
            Some(source) => write!(f, "{message}: {source}"),
            None => f.write_str(message),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}
