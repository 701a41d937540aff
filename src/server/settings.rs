use std::{future::Future, sync::Arc, time::Duration};

use tower::{Service, make::Shared};

use super::{
    CloseReason, Protocol, Serve, ServeConnection,
    connection::{Limits, Signals},
    protocol::Connecting,
};
use crate::transport::{Listener, PeerInfo};

/// Server settings; [`serve`](Server::serve) starts a server with them.
///
/// ```no_run
/// use bytes::Bytes;
/// use tower::service_fn;
/// use tower_ipc::{Endpoint, Server, codec::LengthPrefixed};
///
/// # async fn run() -> std::io::Result<()> {
/// let listener = Endpoint::new("echo").bind().await?;
/// let echo = service_fn(|frame: Bytes| async move { Ok::<_, std::io::Error>(frame) });
/// Server::new()
///     .max_in_flight(16)
///     .serve(listener, LengthPrefixed::new(), echo)
///     .await?;
/// # Ok(())
/// # }
/// ```
///
/// # Limits
///
/// | setting | default | past it |
/// |---|---|---|
/// | [`max_connections`](Self::max_connections) | 1024 | refused with a protocol-level error (JSON-RPC: an error object; a codec: a clean close), or [queued](Self::queue_excess_connections) |
/// | [`max_in_flight`](Self::max_in_flight) per connection | 64 | the connection's next frame waits unread |
/// | [`idle_timeout`](Self::idle_timeout) | none | the connection is closed |
/// | [`write_timeout`](Self::write_timeout) | 30 s | a peer that reads none of its answers is disconnected |
/// | [`shutdown_timeout`](Self::shutdown_timeout) | 30 s | requests still in flight are cancelled |
///
/// The frame length limit is the codec's (8 MiB by default), and JSON-RPC's
/// batch size limit is [`JsonRpc`](crate::jsonrpc::JsonRpc)'s.
#[derive(Clone, Debug)]
pub struct Server {
    pub(super) max_connections: usize,
    pub(super) queue_excess: bool,
    pub(super) limits: Limits,
    pub(super) shutdown_timeout: Option<Duration>,
}

impl Server {
    /// Connections served at once unless set otherwise.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
    /// Requests in flight per connection unless set otherwise.
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;
    /// How long a peer may leave its answers unread unless set otherwise.
    pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
    /// How long a graceful shutdown waits for requests in flight unless set
    /// otherwise.
    pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

    /// The default settings.
    pub fn new() -> Self {
        Self {
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            queue_excess: false,
            limits: Limits {
                max_in_flight: Self::DEFAULT_MAX_IN_FLIGHT,
                idle_timeout: None,
                write_timeout: Some(Self::DEFAULT_WRITE_TIMEOUT),
            },
            shutdown_timeout: Some(Self::DEFAULT_SHUTDOWN_TIMEOUT),
        }
    }

    /// Caps the connections served at once (at least 1). A client past the
    /// cap is refused: a JSON-RPC client gets an error object
    /// ([`ErrorObject::LIMIT_EXCEEDED`](crate::jsonrpc::ErrorObject::LIMIT_EXCEEDED))
    /// naming the limit, then the connection closes; with a codec the
    /// connection is closed at once. Never raw text.
    #[must_use]
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Past [`max_connections`](Self::max_connections), stops accepting
    /// until a connection closes, instead of refusing: clients wait (in the
    /// listen backlog, or retrying a busy pipe).
    #[must_use]
    pub fn queue_excess_connections(mut self, queue: bool) -> Self {
        self.queue_excess = queue;
        self
    }

    /// Caps the requests of one connection that are read but not yet
    /// answered (default [`DEFAULT_MAX_IN_FLIGHT`](Self::DEFAULT_MAX_IN_FLIGHT);
    /// at least 1). At the cap, the connection's next frame waits unread.
    #[must_use]
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.limits.max_in_flight = max.max(1);
        self
    }

    /// Closes a connection that has nothing in flight and has read or
    /// written nothing for `timeout` (default: never). Pushed subscription
    /// items count as activity.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.limits.idle_timeout = timeout.into();
        self
    }

    /// Disconnects a peer whose answers wait to be written and which has read
    /// none of them for `timeout` (default
    /// [`DEFAULT_WRITE_TIMEOUT`](Self::DEFAULT_WRITE_TIMEOUT); `None`: wait
    /// as long as it takes). While a peer does not read, its requests are not
    /// read either, so memory stays bounded regardless.
    #[must_use]
    pub fn write_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.limits.write_timeout = timeout.into();
        self
    }

    /// How long a graceful shutdown lets requests in flight finish (default
    /// [`DEFAULT_SHUTDOWN_TIMEOUT`](Self::DEFAULT_SHUTDOWN_TIMEOUT); `None`:
    /// as long as they take). Past it, what remains is cancelled: JSON-RPC
    /// callers get an error answer saying so, connections of a codec are
    /// closed (their callers see the connection close).
    #[must_use]
    pub fn shutdown_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.shutdown_timeout = timeout.into();
        self
    }

    /// Serves `service` on every connection `listener` accepts, speaking
    /// `protocol` (a codec, or JSON-RPC); the service is cloned for each
    /// connection.
    pub fn serve<L, P, S>(&self, listener: L, protocol: P, service: S) -> Serve<L, P, Shared<S>>
    where
        L: Listener,
        S: Clone,
    {
        self.serve_make(listener, protocol, Shared::new(service))
    }

    /// Serves the services `make_service` creates, one per connection, from
    /// the peer's [`PeerInfo`]: the way to know, or refuse, who calls.
    ///
    /// A service the make-service fails to make turns that one connection
    /// away: the server closes it unread, sends a
    /// [`ConnectionRefused`](super::ServerEvent::ConnectionRefused) event
    /// with the error, and logs it at debug level (a make-service that
    /// refuses on purpose says why itself, as
    /// [`Authorize`](super::authorize::Authorize) does with a warning). A
    /// make-service that fails `poll_ready` stops the server.
    ///
    /// ```no_run
    /// use bytes::Bytes;
    /// use tower::service_fn;
    /// use tower_ipc::{Endpoint, Server, codec::LengthPrefixed, transport::PeerInfo};
    ///
    /// # async fn run() -> std::io::Result<()> {
    /// let listener = Endpoint::new("whoami").bind().await?;
    /// let make = service_fn(|peer: PeerInfo| async move {
    ///     let answer = Bytes::from(peer.to_string());
    ///     Ok::<_, std::io::Error>(service_fn(move |_: Bytes| {
    ///         let answer = answer.clone();
    ///         async move { Ok::<_, std::io::Error>(answer) }
    ///     }))
    /// });
    /// Server::new().serve_make(listener, LengthPrefixed::new(), make).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn serve_make<L, P, M>(&self, listener: L, protocol: P, make_service: M) -> Serve<L, P, M>
    where
        L: Listener,
        M: Service<PeerInfo>,
    {
        Serve::new(self.clone(), listener, protocol, make_service)
    }

    /// Serves one connection that is already open (a child process's stdin
    /// and stdout joined with [`tokio::io::join`], an inherited pipe, a
    /// socket accepted elsewhere) with the same pipelining, readiness and
    /// in-flight cap as [`serve`](Self::serve).
    ///
    /// Completes when the peer has closed its side and every request read
    /// before that is answered; [drained on a
    /// signal](ServeConnection::with_graceful_shutdown) if asked.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use futures::{SinkExt, StreamExt};
    /// use tokio_util::codec::Framed;
    /// use tower::service_fn;
    /// use tower_ipc::{Server, codec::LengthPrefixed};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let (ours, theirs) = tokio::io::duplex(1024);
    /// let echo = service_fn(|frame: Bytes| async move { Ok::<_, std::io::Error>(frame) });
    /// let served = tokio::spawn(Server::new().serve_connection(theirs, LengthPrefixed::new(), echo));
    ///
    /// let mut peer = Framed::new(ours, LengthPrefixed::new());
    /// peer.send(Bytes::from("hi")).await?;
    /// assert_eq!(peer.next().await.unwrap()?, "hi");
    /// drop(peer);
    /// served.await.unwrap()?; // the peer hung up: served to the end
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// Fails with the [`CloseReason`] when the connection ends otherwise:
    /// bad input, a failed service, an answer that cannot be encoded, a
    /// transport error, the write timeout. In a function returning
    /// [`io::Result`](std::io::Result), `?` turns it into an [`io::Error`](std::io::Error) of a kind that
    /// says which ([`InvalidData`](std::io::ErrorKind::InvalidData) for bad
    /// input), with the reason inside.
    pub fn serve_connection<T, P, S>(
        &self,
        io: T,
        protocol: P,
        service: S,
    ) -> ServeConnection<impl Future<Output = CloseReason> + use<T, P, S>>
    where
        P: Protocol<T, S>,
    {
        let signals = Signals::default();
        let connecting = Connecting {
            peer: PeerInfo::new(),
            limits: self.limits,
            signals: signals.clone(),
            stats: Arc::default(),
        };
        ServeConnection::new(
            protocol.serve_connection(io, service, connecting),
            signals,
            self.shutdown_timeout,
        )
    }
}

impl Default for Server {
    fn default() -> Self {
        Self::new()
    }
}
