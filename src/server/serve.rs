use std::{
    fmt,
    future::{Future, IntoFuture, poll_fn},
    io,
    pin::{Pin, pin},
    task::{Context, Poll},
    time::Duration,
};

use tokio_util::{
    codec::{Decoder, Encoder},
    sync::CancellationToken,
    task::TaskTracker,
};
use tower::{BoxError, Service};
use tracing::Instrument;

use super::{Server, authorize::Refused, connection::Connection};
use crate::transport::{Listener, PeerInfo};

/// How long to pause accepting after an error that is not about one
/// connection (out of file descriptors, say), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// A server that runs when awaited, from [`serve`](super::serve) or
/// [`Server::serve`]. It runs until the future is dropped (connections are
/// then closed gracefully in the background) or, with
/// [`with_graceful_shutdown`](Serve::with_graceful_shutdown), until a signal.
#[must_use = "a server does nothing until it is awaited"]
pub struct Serve<L, C, M> {
    config: Server,
    listener: L,
    codec: C,
    make_service: M,
}

impl<L, C, M> Serve<L, C, M> {
    pub(super) fn new(config: Server, listener: L, codec: C, make_service: M) -> Self {
        Self {
            config,
            listener,
            codec,
            make_service,
        }
    }

    /// Stops the server when `signal` completes: it stops accepting, lets the
    /// requests in flight finish and their answers be written, closes every
    /// connection, and then the server future completes.
    ///
    /// Frames a peer sent that were not yet read are not answered; the peer
    /// sees its connection close with those calls unanswered.
    pub fn with_graceful_shutdown<F>(self, signal: F) -> WithGracefulShutdown<L, C, M, F>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        WithGracefulShutdown {
            serve: self,
            signal,
        }
    }
}

impl<L, C, M> fmt::Debug for Serve<L, C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A server with a shutdown signal, from [`Serve::with_graceful_shutdown`].
#[must_use = "a server does nothing until it is awaited"]
pub struct WithGracefulShutdown<L, C, M, F> {
    serve: Serve<L, C, M>,
    signal: F,
}

impl<L, C, M, F> fmt::Debug for WithGracefulShutdown<L, C, M, F> {
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

impl<L, C, M, S> IntoFuture for Serve<L, C, M>
where
    L: Listener,
    C: Decoder + Encoder<S::Response> + Clone + Send + 'static,
    <C as Decoder>::Item: Send + 'static,
    <C as Decoder>::Error: Into<BoxError>,
    <C as Encoder<S::Response>>::Error: Into<BoxError>,
    M: Service<PeerInfo, Response = S> + Send + 'static,
    M::Future: Send + 'static,
    M::Error: Into<BoxError>,
    S: Service<<C as Decoder>::Item> + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
{
    type Output = io::Result<()>;
    type IntoFuture = ServeFuture;

    fn into_future(self) -> ServeFuture {
        self.with_graceful_shutdown(std::future::pending())
            .into_future()
    }
}

impl<L, C, M, S, F> IntoFuture for WithGracefulShutdown<L, C, M, F>
where
    L: Listener,
    C: Decoder + Encoder<S::Response> + Clone + Send + 'static,
    <C as Decoder>::Item: Send + 'static,
    <C as Decoder>::Error: Into<BoxError>,
    <C as Encoder<S::Response>>::Error: Into<BoxError>,
    M: Service<PeerInfo, Response = S> + Send + 'static,
    M::Future: Send + 'static,
    M::Error: Into<BoxError>,
    S: Service<<C as Decoder>::Item> + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    type Output = io::Result<()>;
    type IntoFuture = ServeFuture;

    fn into_future(self) -> ServeFuture {
        ServeFuture(Box::pin(run(self.serve, self.signal)))
    }
}

async fn run<L, C, M, S, F>(serve: Serve<L, C, M>, signal: F) -> io::Result<()>
where
    L: Listener,
    C: Decoder + Encoder<S::Response> + Clone + Send + 'static,
    <C as Decoder>::Item: Send + 'static,
    <C as Decoder>::Error: Into<BoxError>,
    <C as Encoder<S::Response>>::Error: Into<BoxError>,
    M: Service<PeerInfo, Response = S> + Send + 'static,
    M::Future: Send + 'static,
    M::Error: Into<BoxError>,
    S: Service<<C as Decoder>::Item> + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let Serve {
        config,
        mut listener,
        codec,
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
        let making = span.in_scope(|| make_service.call(peer));
        let codec = codec.clone();
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
                let reason = Connection::new(io, codec, service, max_in_flight, closed).await;
                tracing::debug!(%reason, "connection closed");
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
