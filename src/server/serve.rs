use std::{
    fmt,
    future::{Future, IntoFuture, poll_fn},
    io,
    pin::{Pin, pin},
    sync::{Arc, atomic::Ordering},
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    sync::{Semaphore, broadcast},
    task::JoinSet,
};
use tower::{BoxError, Service};
use tracing::Instrument;

use super::{
    Events, Protocol, Server, ServerEvent, Summary, authorize::Refused, connection::Signals,
    protocol::Connecting, summary::Stats,
};
use crate::transport::{Listener, PeerInfo};

/// How long to pause accepting after an error that is not about one
/// connection (out of file descriptors, say), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// How long a refused client gets to take the error that tells it why.
const REFUSE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long connections get, once the shutdown deadline passed, to tell
/// their callers the requests were cancelled, before they are dropped.
const ABORT_GRACE: Duration = Duration::from_secs(1);

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
        ServeFuture(Box::pin(run(self.serve, self.signal)))
    }
}

async fn run<L, P, M, F>(serve: Serve<L, P, M>, signal: F) -> io::Result<Summary>
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
        events,
    } = serve;
    let endpoint = listener
        .local_endpoint()
        .map_or_else(|_| "unnamed".to_owned(), |endpoint| endpoint.to_string());
    let stats = Arc::new(Stats::default());
    let signals = Signals::default();
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let mut connections = JoinSet::new();
    let mut last_id = 0u64;
    let mut signal = pin!(signal);
    tracing::info!(%endpoint, "server listening");
    emit(&events, || ServerEvent::Listening {
        endpoint: endpoint.clone(),
    });

    let result = loop {
        // Reap finished connections, so the set holds only live ones.
        while connections.try_join_next().is_some() {}
        let queued = if config.queue_excess {
            tokio::select! {
                biased;
                () = &mut signal => break Ok(()),
                slot = Arc::clone(&slots).acquire_owned() => slot.ok(),
            }
        } else {
            None
        };
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
        let Some(slot) = queued.or_else(|| Arc::clone(&slots).try_acquire_owned().ok()) else {
            let reason = format!(
                "too many connections: this server serves at most {} at once",
                config.max_connections
            );
            tracing::debug!(%endpoint, %peer, %reason, "connection refused");
            emit(&events, || ServerEvent::ConnectionRefused {
                peer: peer.clone(),
                reason: reason.clone(),
            });
            let refusing = protocol.refuse(io, &reason);
            connections.spawn(async move {
                let _ = tokio::time::timeout(REFUSE_TIMEOUT, refusing).await;
            });
            continue;
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
        last_id += 1;
        let id = last_id;
        // At info level, and entered for the make-service too, so a warning
        // about the connection (a refused peer, say) names the endpoint
        // wherever info is logged.
        let span = tracing::info_span!("connection", id, %endpoint, %peer);
        let making = span.in_scope(|| make_service.call(peer.clone()));
        let connecting = Connecting {
            peer: peer.clone(),
            limits: config.limits,
            signals: signals.clone(),
            stats: Arc::clone(&stats),
        };
        let protocol = protocol.clone();
        let events = events.clone();
        let stats = Arc::clone(&stats);
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
                        emit(&events, || ServerEvent::ConnectionRefused {
                            peer,
                            reason: err.to_string(),
                        });
                        return;
                    }
                };
                stats.connections.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("connection opened");
                emit(&events, || ServerEvent::ConnectionOpened {
                    id,
                    peer: peer.clone(),
                });
                let closed = protocol.serve_connection(io, service, connecting).await;
                drop(slot);
                tracing::debug!(reason = %closed, "connection closed");
                emit(&events, || ServerEvent::ConnectionClosed {
                    id,
                    peer,
                    reason: closed.to_string(),
                });
            }
            .instrument(span),
        );
    };

    drop(listener);
    let open = config.max_connections - slots.available_permits();
    tracing::info!(%endpoint, connections = open, "server shutting down");
    emit(&events, || ServerEvent::ShutdownStarted {
        connections: open,
    });
    signals.shutdown.cancel();
    let finished = match config.shutdown_timeout {
        Some(deadline) => tokio::time::timeout(deadline, finish(&mut connections))
            .await
            .is_ok(),
        None => {
            finish(&mut connections).await;
            true
        }
    };
    if !finished {
        tracing::warn!(%endpoint, connections = connections.len(), "shutdown deadline passed: cancelling requests in flight");
        signals.abort.cancel();
        if tokio::time::timeout(ABORT_GRACE, finish(&mut connections))
            .await
            .is_err()
        {
            connections.abort_all();
            finish(&mut connections).await;
        }
    }
    let summary = stats.summary();
    tracing::info!(
        %endpoint,
        connections = summary.connections,
        completed = summary.requests_completed,
        cancelled = summary.requests_cancelled,
        "server stopped"
    );
    emit(&events, || ServerEvent::Stopped(summary));
    result.map(|()| summary)
}

/// Waits for every connection task to end.
async fn finish(connections: &mut JoinSet<()>) {
    while let Some(ended) = connections.join_next().await {
        if let Err(err) = ended
            && err.is_panic()
        {
            tracing::error!(error = %err, "a connection task panicked");
        }
    }
}

/// Sends an event, built only if someone listens.
fn emit(events: &broadcast::Sender<ServerEvent>, event: impl FnOnce() -> ServerEvent) {
    if events.receiver_count() > 0 {
        let _ = events.send(event());
    }
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
