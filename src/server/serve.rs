//! [`Serve`]: a server configured and not yet running, and the future
//! that runs it.

use std::{
    fmt,
    future::{Future, IntoFuture},
    io,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::sync::broadcast;
use tower::{BoxError, Service};

use super::{Events, Protocol, Server, ServerEvent, Summary, accept_loop::AcceptLoop};
use crate::transport::{Listener, PeerInfo};

/// Events kept for a receiver that falls behind.
const EVENTS_CAPACITY: usize = 256;

/// A server that runs when awaited, from [`serve`](super::serve) or
/// [`Server::serve`]. It runs until the future is dropped, which stops it at
/// once (connections are closed without waiting), or, with
/// [`with_graceful_shutdown`](Serve::with_graceful_shutdown), until a signal.
#[must_use = "a server does nothing until it is awaited"]
pub struct Serve<L, P, M> {
    config: Server,
    listener: L,
    protocol: P,
    make_service: M,
    events: broadcast::Sender<ServerEvent>,
}

impl<L, P, M> Serve<L, P, M> {
    pub(super) fn new(config: Server, listener: L, protocol: P, make_service: M) -> Self {
        Self {
            config,
            listener,
            protocol,
            make_service,
            events: broadcast::Sender::new(EVENTS_CAPACITY),
        }
    }

    /// A receiver of this server's [`ServerEvent`]s: listening, connections
    /// opened, closed (with the reason) and refused, shutdown started,
    /// stopped. Take it before awaiting the server.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use tower::service_fn;
    /// use tower_ipc::{Endpoint, codec::LengthPrefixed, server::ServerEvent};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let endpoint = Endpoint::new(format!("tower-ipc-doc-events-{}", std::process::id()));
    /// // let endpoint = Endpoint::new("my-app");
    /// let listener = endpoint.bind().await?;
    /// let echo = service_fn(|frame: Bytes| async move { Ok::<_, std::io::Error>(frame) });
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// let server = tower_ipc::serve(listener, LengthPrefixed::new(), echo)
    ///     .with_graceful_shutdown(async { let _ = stopped.await; });
    /// let mut events = server.events();
    /// let running = tokio::spawn(server.into_future());
    ///
    /// let client = endpoint.connect().await?;
    /// loop {
    ///     match events.recv().await {
    ///         Some(ServerEvent::ConnectionOpened { id, peer }) => {
    ///             println!("connection {id} from {peer}");
    ///             break;
    ///         }
    ///         Some(_) => continue, // `Listening`, first
    ///         None => panic!("the server stopped"),
    ///     }
    /// }
    /// drop(client);
    /// let _ = stop.send(());
    /// let summary = running.await.unwrap()?;
    /// assert_eq!(summary.connections, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn events(&self) -> Events {
        Events::new(self.events.subscribe())
    }

    /// Stops the server when `signal` completes: it stops accepting, lets the
    /// requests in flight finish and their answers be written (for at most
    /// the [shutdown timeout](Server::shutdown_timeout), then cancels what
    /// remains), closes every connection, and completes with a [`Summary`].
    ///
    /// Frames a peer sent that were not yet read are not answered; the peer
    /// sees its connection close with those calls unanswered.
    pub fn with_graceful_shutdown<F>(self, signal: F) -> WithGracefulShutdown<L, P, M, F>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        WithGracefulShutdown {
            serve: self,
            signal,
        }
    }
}

impl<L, P, M> fmt::Debug for Serve<L, P, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A server with a shutdown signal, from [`Serve::with_graceful_shutdown`].
#[must_use = "a server does nothing until it is awaited"]
pub struct WithGracefulShutdown<L, P, M, F> {
    serve: Serve<L, P, M>,
    signal: F,
}

impl<L, P, M, F> WithGracefulShutdown<L, P, M, F> {
    /// A receiver of this server's [`ServerEvent`]s (see [`Serve::events`]).
    pub fn events(&self) -> Events {
        self.serve.events()
    }
}

impl<L, P, M, F> fmt::Debug for WithGracefulShutdown<L, P, M, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithGracefulShutdown")
            .field("serve", &self.serve)
            .finish_non_exhaustive()
    }
}

/// The future of a running server: a [`Summary`] when it stops.
///
/// It completes with an error only when the make-service fails; errors of
/// single connections are logged and the server goes on.
pub struct ServeFuture(Pin<Box<dyn Future<Output = io::Result<Summary>> + Send>>);

impl Future for ServeFuture {
    type Output = io::Result<Summary>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl fmt::Debug for ServeFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeFuture").finish_non_exhaustive()
    }
}

impl<L, P, M> IntoFuture for Serve<L, P, M>
where
    L: Listener,
    P: Protocol<L::Io, M::Response>,
    M: Service<PeerInfo> + Send + 'static,
    M::Response: Send + 'static,
    M::Future: Send + 'static,
    M::Error: Into<BoxError>,
{
    type Output = io::Result<Summary>;
    type IntoFuture = ServeFuture;

    fn into_future(self) -> ServeFuture {
        self.with_graceful_shutdown(std::future::pending())
            .into_future()
    }
}

impl<L, P, M, F> IntoFuture for WithGracefulShutdown<L, P, M, F>
where
    L: Listener,
    P: Protocol<L::Io, M::Response>,
    M: Service<PeerInfo> + Send + 'static,
    M::Response: Send + 'static,
    M::Future: Send + 'static,
    M::Error: Into<BoxError>,
    F: Future<Output = ()> + Send + 'static,
{
    type Output = io::Result<Summary>;
    type IntoFuture = ServeFuture;

    fn into_future(self) -> ServeFuture {
        let Serve {
            config,
            listener,
            protocol,
            make_service,
            events,
        } = self.serve;
        let accept_loop = AcceptLoop::new(config, listener, protocol, make_service, events);
        ServeFuture(Box::pin(accept_loop.run(self.signal)))
    }
}
