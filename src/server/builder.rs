use std::{future::Future, io};

use tokio_util::sync::CancellationToken;
use tower::{Service, make::Shared};

use super::{Protocol, Serve};
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
///     .await
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Server {
    pub(super) max_in_flight: usize,
}

impl Server {
    /// Requests in flight per connection unless set otherwise.
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;

    /// The default settings.
    pub fn new() -> Self {
        Self {
            max_in_flight: Self::DEFAULT_MAX_IN_FLIGHT,
        }
    }

    /// Caps the requests of one connection that are read but not yet
    /// answered (default [`DEFAULT_MAX_IN_FLIGHT`](Self::DEFAULT_MAX_IN_FLIGHT);
    /// at least 1). At the cap, the connection's next frame waits unread.
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max.max(1);
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
    /// Server::new().serve_make(listener, LengthPrefixed::new(), make).await
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
    /// before that is answered.
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
    /// Fails when the connection ends otherwise: bad input
    /// ([`io::ErrorKind::InvalidData`]), a failed service, an answer that
    /// cannot be encoded, or a transport error.
    pub fn serve_connection<T, P, S>(
        &self,
        io: T,
        protocol: P,
        service: S,
    ) -> impl Future<Output = io::Result<()>> + use<T, P, S>
    where
        P: Protocol<T, S>,
    {
        let never = CancellationToken::new().cancelled_owned();
        protocol.serve_connection(io, PeerInfo::new(), service, self.max_in_flight, never)
    }
}

impl Default for Server {
    fn default() -> Self {
        Self::new()
    }
}
