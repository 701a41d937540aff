use std::{
    fmt,
    future::{Future, IntoFuture, poll_fn},
    io,
    pin::{Pin, pin},
    task::{Context, Poll},
    time::Duration,
};

use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::{BoxError, Service};
use tracing::Instrument;

use super::{Protocol, Server, authorize::Refused};
use crate::transport::{Listener, PeerInfo};

/// How long to pause accepting after an error that is not about one
/// connection (out of file descriptors, say), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// A server that runs when awaited, from [`serve`](super::serve) or
/// [`Server::serve`]. It runs until the future is dropped (connections are
/// then closed gracefully in the background) or, with
/// [`with_graceful_shutdown`](Serve::with_graceful_shutdown), until a signal.
#[must_use = "a server does nothing until it is awaited"]
pub struct Serve<L, P, M> {
    config: Server,
    listener: L,
    protocol: P,
    make_service: M,
}

impl<L, P, M> Serve<L, P, M> {
    pub(super) fn new(config: Server, listener: L, protocol: P, make_service: M) -> Self {
        Self {
            config,
            listener,
            protocol,
            make_service,
        }
    }

    /// Stops the server when `signal` completes: it stops accepting, lets the
    /// requests in flight finish and their answers be written, closes every
    /// connection, and then the server future completes.
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

impl<L, P, M, F> fmt::Debug for WithGracefulShutdown<L, P, M, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithGracefulShutdown")
            .field("serve", &self.serve)
            .finish_non_exhaustive()
    }
}

/// The future of a running server.
///
/// It completes with an error only when the make-service fails; errors of
/// single connections are logged and the server goes on.
pub struct ServeFuture(Pin<Box<dyn Future<Output = io::Result<()>> + Send>>);

impl Future for ServeFuture {
    type Output = io::Result<()>;

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
    type Output = io::Result<()>;
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
    type Output = io::Result<()>;
    type IntoFuture = ServeFuture;

    fn into_future(self) -> ServeFuture {
        ServeFuture(Box::pin(run(self.serve, self.signal)))
    }
}

async fn run<L, P, M, F>(serve: Serve<L, P, M>, signal: F) -> io::Result<()>
where
    L: Listener,
    P: Protocol<L::Io, M::Response>,
    M: Service<PeerInfo> + Send + 'static,
    M::Response: Send + 'static,
    M::Future: Send + 'static,
    M::Error: Into<BoxError>,
    F: Future<Output = ()> + Send + 'static,
{
    let Serve {
        config,
        mut listener,
        protocol,
        mut make_service,
    } = serve;
    let endpoint = listener
        .local_endpoint()
        .map_or_else(|_| "unnamed".to_owned(), |endpoint| endpoint.to_string());
    let shutdown = CancellationToken::new();
    // Dropping the server future also closes its connections gracefully.
    let _close_on_drop = shutdown.clone().drop_guard();
    let connections = TaskTracker::new();
    let mut signal = pin!(signal);
    tracing::info!(%endpoint, "server listening");

    let result = loop {
        let accepted = tokio::select! {
            biased;
            () = &mut signal => break Ok(()),
            accepted = listener.accept() => accepted,
        };
        let (io, peer) = match accepted {
            Ok(connection) => connection,
            Err(err) if is_connection_error(&err) => {
                tracing::debug!(%endpoint, error = %err, "connection failed before it was accepted");
                continue;
            }
            Err(err) => {
                tracing::warn!(%endpoint, error = %err, "accept failed; pausing");
                tokio::select! {
                    biased;
                    () = &mut signal => break Ok(()),
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                }
            }
        };
        let ready = tokio::select! {
            biased;
            () = &mut signal => break Ok(()),
            ready = poll_fn(|cx| make_service.poll_ready(cx)) => ready,
        };
        if let Err(err) = ready {
            let err: BoxError = err.into();
            tracing::error!(%endpoint, error = %err, "make-service failed; stopping");
            break Err(io::Error::other(format!(
                "server on `{endpoint}` stopped: make-service failed: {err}"
            )));
        }
        // At info level, and entered for the make-service too, so a warning
        // about the connection (a refused peer, say) names the endpoint
        // wherever info is logged.
        let span = tracing::info_span!("connection", %endpoint, %peer);
        let making = span.in_scope(|| make_service.call(peer.clone()));
        let protocol = protocol.clone();
        let closed = shutdown.clone().cancelled_owned();
        let max_in_flight = config.max_in_flight;
        connections.spawn(
            async move {
                let service = match making.await {
                    Ok(service) => service,
                    Err(err) => {
                        let err: BoxError = err.into();
                        if err.is::<Refused>() {
                            // `Authorize` has logged it, with the peer.
                            tracing::debug!(error = %err, "connection closed: peer refused");
                        } else {
                            tracing::warn!(error = %err, "connection refused: make-service failed");
                        }
                        return;
                    }
                };
                tracing::debug!("connection opened");
                match protocol
                    .serve_connection(io, peer, service, max_in_flight, closed)
                    .await
                {
                    Ok(()) => tracing::debug!("connection closed"),
                    Err(err) => tracing::debug!(error = %err, "connection closed"),
                }
            }
            .instrument(span),
        );
    };

    tracing::info!(%endpoint, connections = connections.len(), "server shutting down");
    drop(listener);
    shutdown.cancel();
    connections.close();
    connections.wait().await;
    tracing::info!(%endpoint, "server stopped");
    result
}

/// Errors about one connection that went away before it was accepted.
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::BrokenPipe
    )
}
