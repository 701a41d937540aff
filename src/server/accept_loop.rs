//! The running server: an accept loop in named steps.
//!
//! [`AcceptLoop::run`] repeats, until the shutdown signal:
//!
//! 1. [`wait_for_room`](Connections::wait_for_room): with
//!    [queued excess](Server::queue_excess_connections), waits for a
//!    connection permit before accepting;
//! 2. [`accept`](AcceptLoop::accept): the next connection, pausing after
//!    errors that are not about one connection (out of descriptors, say);
//! 3. [`admit`](Connections::admit): a permit under
//!    [`max_connections`](Server::max_connections), or the connection is
//!    refused in the protocol's words;
//! 4. [`spawn`](AcceptLoop::spawn): the make-service, once ready, makes the
//!    connection's service on the connection's own task, which serves it.
//!
//! Then [`drain`](Connections::drain): the connections finish what is in
//! flight, for at most the shutdown timeout, and the rest is cancelled.

use std::{
    future::{Future, poll_fn},
    io,
    pin::{Pin, pin},
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore, broadcast},
    task::JoinSet,
};
use tower::{BoxError, Service};
use tracing::Instrument;

use super::{
    Protocol, Server, ServerEvent, Summary, connection::Signals, protocol::Connecting,
    summary::Stats,
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

/// A server between its start and its stop: what accepts connections and
/// makes their services, and the connections.
pub(super) struct AcceptLoop<L, P, M> {
    listener: L,
    make_service: M,
    connections: Connections<P>,
}

/// A server's connections, their limit, and what they share.
struct Connections<P> {
    config: Server,
    protocol: P,
    events: broadcast::Sender<ServerEvent>,
    /// The listener's endpoint, for logs and events.
    endpoint: String,
    stats: Arc<Stats>,
    signals: Signals,
    /// One permit per connection served,
    /// [`max_connections`](Server::max_connections) in all.
    permits: Arc<Semaphore>,
    tasks: JoinSet<()>,
    last_id: u64,
}

/// Why the loop stops accepting.
enum Stop {
    /// The shutdown signal came.
    Signal,
    /// The make-service failed: the server cannot make services any more.
    Failed(io::Error),
}

impl<L, P, M> AcceptLoop<L, P, M>
where
    L: Listener,
    P: Protocol<L::Io, M::Response>,
    M: Service<PeerInfo> + Send + 'static,
    M::Response: Send + 'static,
    M::Future: Send + 'static,
    M::Error: Into<BoxError>,
{
    pub(super) fn new(
        config: Server,
        listener: L,
        protocol: P,
        make_service: M,
        events: broadcast::Sender<ServerEvent>,
    ) -> Self {
        let endpoint = listener
            .local_endpoint()
            .map_or_else(|_| "unnamed".to_owned(), |endpoint| endpoint.to_string());
        let permits = Arc::new(Semaphore::new(config.max_connections));
        let connections = Connections {
            config,
            protocol,
            events,
            endpoint,
            stats: Arc::default(),
            signals: Signals::default(),
            permits,
            tasks: JoinSet::new(),
            last_id: 0,
        };
        Self {
            listener,
            make_service,
            connections,
        }
    }

    /// Serves until `signal` completes (or the make-service fails), then
    /// drains the connections.
    pub(super) async fn run(mut self, signal: impl Future<Output = ()>) -> io::Result<Summary> {
        let mut signal = pin!(signal);
        let endpoint = &self.connections.endpoint;
        tracing::info!(%endpoint, "server listening");
        emit(&self.connections.events, || ServerEvent::Listening {
            endpoint: endpoint.clone(),
        });
        let stop = loop {
            if let Err(stop) = self.serve_next(signal.as_mut()).await {
                break stop;
            }
        };
        let Self {
            listener,
            make_service,
            mut connections,
        } = self;
        drop(listener);
        connections.drain().await;
        drop(make_service);
        let summary = connections.stopped();
        match stop {
            Stop::Signal => Ok(summary),
            Stop::Failed(err) => Err(err),
        }
    }

    /// One turn of the loop: a connection accepted, then served or
    /// refused.
    async fn serve_next<F: Future<Output = ()>>(
        &mut self,
        mut signal: Pin<&mut F>,
    ) -> Result<(), Stop> {
        self.connections.reap();
        let queued = self.connections.wait_for_room(signal.as_mut()).await?;
        let (io, peer) = self.accept(signal.as_mut()).await?;
        let Some(permit) = self.connections.admit(queued) else {
            self.refuse(io, peer);
            return Ok(());
        };
        self.make_service_ready(signal).await?;
        self.spawn(io, peer, permit);
        Ok(())
    }

    /// Step 2: the next connection. A connection that went away before it
    /// was accepted is skipped; after any other error (out of descriptors,
    /// say) accepting pauses a moment, so the loop does not spin.
    async fn accept<F: Future<Output = ()>>(
        &mut self,
        mut signal: Pin<&mut F>,
    ) -> Result<(L::Io, PeerInfo), Stop> {
        loop {
            let endpoint = &self.connections.endpoint;
            match until(signal.as_mut(), self.listener.accept()).await? {
                Ok(accepted) => return Ok(accepted),
                Err(err) if is_connection_error(&err) => {
                    tracing::debug!(%endpoint, error = %err, "connection failed before it was accepted");
                }
                Err(err) => {
                    tracing::warn!(%endpoint, error = %err, "accept failed; pausing");
                    until(signal.as_mut(), tokio::time::sleep(ACCEPT_ERROR_PAUSE)).await?;
                }
            }
        }
    }

    /// Step 4a: the make-service ready to make a service. Its failure stops
    /// the server.
    async fn make_service_ready<F: Future<Output = ()>>(
        &mut self,
        signal: Pin<&mut F>,
    ) -> Result<(), Stop> {
        let make_service = &mut self.make_service;
        let ready = until(signal, poll_fn(|cx| make_service.poll_ready(cx))).await?;
        ready.map_err(|err| {
            let err: BoxError = err.into();
            let endpoint = &self.connections.endpoint;
            tracing::error!(%endpoint, error = %err, "make-service failed; stopping");
            Stop::Failed(io::Error::other(format!(
                "server on `{endpoint}` stopped: make-service failed: {err}"
            )))
        })
    }

    /// Turns away a connection past the limit, telling the peer why if the
    /// protocol can; the telling gets a task of its own and a time limit.
    fn refuse(&mut self, io: L::Io, peer: PeerInfo) {
        let connections = &mut self.connections;
        let endpoint = &connections.endpoint;
        let reason = format!(
            "too many connections: this server serves at most {} at once",
            connections.config.max_connections
        );
        tracing::debug!(%endpoint, %peer, %reason, "connection refused");
        let refusing = connections.protocol.refuse(io, &reason);
        emit(&connections.events, || ServerEvent::ConnectionRefused {
            peer,
            reason,
        });
        connections.tasks.spawn(async move {
            let _ = tokio::time::timeout(REFUSE_TIMEOUT, refusing).await;
        });
    }

    /// Step 4b: the connection's task, in its span: it waits for the
    /// service the make-service makes for the peer and serves the
    /// connection with it.
    fn spawn(&mut self, io: L::Io, peer: PeerInfo, permit: OwnedSemaphorePermit) {
        let connections = &mut self.connections;
        connections.last_id += 1;
        let id = connections.last_id;
        // At info level, and entered for the make-service too, so a warning
        // about the connection (a refused peer, say) names the endpoint
        // wherever info is logged.
        let span = tracing::info_span!("connection", id, endpoint = %connections.endpoint, %peer);
        let making = span.in_scope(|| self.make_service.call(peer.clone()));
        let admitted = Admitted {
            id,
            connecting: Connecting {
                peer,
                limits: connections.config.limits,
                signals: connections.signals.clone(),
                stats: Arc::clone(&connections.stats),
            },
            protocol: connections.protocol.clone(),
            events: connections.events.clone(),
            permit,
        };
        connections
            .tasks
            .spawn(admitted.serve(making, io).instrument(span));
    }
}

impl<P> Connections<P> {
    /// Forgets the tasks of connections that ended, so the set holds only
    /// live ones.
    fn reap(&mut self) {
        while self.tasks.try_join_next().is_some() {}
    }

    /// Step 1: with [queued excess](Server::queue_excess_connections), a
    /// permit, waited for before accepting, so that clients past the limit
    /// wait in the listen backlog; otherwise nothing yet.
    async fn wait_for_room<F: Future<Output = ()>>(
        // `mut`, so that the future is `Send` without `P: Sync`.
        &mut self,
        signal: Pin<&mut F>,
    ) -> Result<Option<OwnedSemaphorePermit>, Stop> {
        if !self.config.queue_excess {
            return Ok(None);
        }
        let permit = until(signal, Arc::clone(&self.permits).acquire_owned()).await?;
        // `ok()`: the semaphore is never closed.
        Ok(permit.ok())
    }

    /// Step 3: a permit to serve one more connection: the one waited for,
    /// or one free under [`max_connections`](Server::max_connections).
    fn admit(&self, queued: Option<OwnedSemaphorePermit>) -> Option<OwnedSemaphorePermit> {
        queued.or_else(|| Arc::clone(&self.permits).try_acquire_owned().ok())
    }

    /// After the loop: tells the connections to finish what is in flight
    /// and waits for them, for at most the shutdown timeout; past it,
    /// cancels what remains.
    async fn drain(&mut self) {
        let endpoint = &self.endpoint;
        let open = self.config.max_connections - self.permits.available_permits();
        tracing::info!(%endpoint, connections = open, "server shutting down");
        emit(&self.events, || ServerEvent::ShutdownStarted {
            connections: open,
        });
        self.signals.shutdown.cancel();
        let finished = match self.config.shutdown_timeout {
            Some(deadline) => tokio::time::timeout(deadline, finish(&mut self.tasks))
                .await
                .is_ok(),
            None => {
                finish(&mut self.tasks).await;
                true
            }
        };
        if finished {
            return;
        }
        let connections = self.tasks.len();
        tracing::warn!(%endpoint, connections, "shutdown deadline passed: cancelling requests in flight");
        self.signals.abort.cancel();
        if tokio::time::timeout(ABORT_GRACE, finish(&mut self.tasks))
            .await
            .is_err()
        {
            self.tasks.abort_all();
            finish(&mut self.tasks).await;
        }
    }

    /// The end: what the server did, logged and sent to watchers.
    fn stopped(&self) -> Summary {
        let summary = self.stats.summary();
        tracing::info!(
            endpoint = %self.endpoint,
            connections = summary.connections,
            completed = summary.requests_completed,
            cancelled = summary.requests_cancelled,
            "server stopped"
        );
        emit(&self.events, || ServerEvent::Stopped(summary));
        summary
    }
}

/// What the task of an admitted connection needs.
struct Admitted<P> {
    id: u64,
    connecting: Connecting,
    protocol: P,
    events: broadcast::Sender<ServerEvent>,
    /// Given back when the connection closes.
    permit: OwnedSemaphorePermit,
}

impl<P> Admitted<P> {
    /// Waits for the connection's service, then serves the connection with
    /// it. A make-service error turns the connection away.
    async fn serve<Io, S, E>(self, making: impl Future<Output = Result<S, E>>, io: Io)
    where
        P: Protocol<Io, S>,
        E: Into<BoxError>,
    {
        let Self {
            id,
            connecting,
            protocol,
            events,
            permit,
        } = self;
        let peer = connecting.peer.clone();
        let service = match making.await {
            Ok(service) => service,
            Err(err) => {
                // A make-service that refuses peers on purpose says why
                // itself, as `Authorize` does with a warning.
                let reason = err.into().to_string();
                tracing::debug!(error = %reason, "connection refused: make-service failed");
                emit(&events, || ServerEvent::ConnectionRefused { peer, reason });
                return;
            }
        };
        connecting.stats.connections.fetch_add(1, Ordering::Relaxed);
        tracing::debug!("connection opened");
        emit(&events, || ServerEvent::ConnectionOpened {
            id,
            peer: peer.clone(),
        });
        let closed = protocol.serve_connection(io, service, connecting).await;
        drop(permit);
        tracing::debug!(reason = %closed, "connection closed");
        emit(&events, || ServerEvent::ConnectionClosed {
            id,
            peer,
            reason: closed,
        });
    }
}

/// `work`, unless `signal` completes first.
async fn until<F, T>(signal: Pin<&mut F>, work: impl Future<Output = T>) -> Result<T, Stop>
where
    F: Future<Output = ()>,
{
    tokio::select! {
        biased;
        () = signal => Err(Stop::Signal),
        done = work => Ok(done),
    }
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
