use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Decoder, Encoder};
use tower::{BoxError, Service};
use tracing::Instrument;

use super::{
    CloseReason,
    connection::{Limits, Signals},
    summary::Stats,
};
use crate::transport::PeerInfo;

/// How the requests of one connection are read, dispatched and answered.
///
/// Two kinds of protocol are served:
///
/// - **any codec** (a [`Decoder`] + [`Encoder`], such as
///   [`LengthPrefixed`](crate::codec::LengthPrefixed)): frames are requests
///   to the service, answered in request order (pipelining);
/// - **JSON-RPC** (`JsonRpc`, with the `json-rpc` feature): requests,
///   notifications and batches, answered in completion order, with
///   subscriptions pushed by the server.
///
/// The trait is sealed: its methods are an implementation detail of the
/// server, public only so that every kind fits [`serve`](super::serve). Any
/// codec is a protocol already; the crate's others are `JsonRpc`, a service
/// trait's `Frames`, `TypedServer` and `web::Http`.
pub trait Protocol<T, S>: sealed::Sealed + Clone + Send + 'static {
    /// Serves one connection until the peer hangs up or the server stops it.
    #[doc(hidden)]
    fn serve_connection(
        &self,
        io: T,
        service: S,
        connection: Connecting,
    ) -> impl Future<Output = CloseReason> + Send + use<Self, T, S>;

    /// Turns a connection away, telling the peer why if the protocol has a
    /// way to (a codec does not: the connection is just closed).
    #[doc(hidden)]
    fn refuse(&self, io: T, reason: &str) -> impl Future<Output = ()> + Send + use<Self, T, S> {
        let _ = reason;
        drop(io);
        std::future::ready(())
    }
}

pub(crate) mod sealed {
    /// Only the crate's protocols are [`Protocol`](super::Protocol)s.
    pub trait Sealed {}

    impl<C: tokio_util::codec::Decoder> Sealed for C {}
}

/// What the server hands a protocol with each connection: who the peer is,
/// and the limits and signals the engine serves it with
/// ([`Connecting::serve`], the engine's entry).
#[doc(hidden)]
#[derive(Debug)]
pub struct Connecting {
    pub(crate) peer: PeerInfo,
    pub(crate) limits: Limits,
    pub(crate) signals: Signals,
    pub(crate) stats: Arc<Stats>,
}

impl Connecting {
    /// Who is connected.
    pub(crate) fn peer(&self) -> &PeerInfo {
        &self.peer
    }

    /// How many requests the connection may have in flight.
    pub(crate) fn max_in_flight(&self) -> usize {
        self.limits.max_in_flight
    }

    /// Fires at the shutdown deadline, when what is still running is given
    /// up.
    pub(crate) fn deadline(&self) -> &tokio_util::sync::CancellationToken {
        &self.signals.abort
    }
}

impl<T, S, C> Protocol<T, S> for C
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    C: Decoder + Encoder<S::Response> + Clone + Send + 'static,
    <C as Decoder>::Item: Send + 'static,
    <C as Decoder>::Error: Into<BoxError>,
    <C as Encoder<S::Response>>::Error: Into<BoxError>,
    S: Service<<C as Decoder>::Item> + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
{
    fn serve_connection(
        &self,
        io: T,
        service: S,
        connection: Connecting,
    ) -> impl Future<Output = CloseReason> + Send + use<T, S, C> {
        connection
            .serve(io, self.clone(), Traced::new(service))
            .in_request_order()
    }
}

/// Gives each request of a connection a `request` span, numbered in arrival
/// order, and reports its duration and outcome at debug level.
pub(crate) struct Traced<S> {
    inner: S,
    seq: u64,
}

impl<S> Traced<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self { inner, seq: 0 }
    }
}

impl<S, R> Service<R> for Traced<S>
where
    S: Service<R>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Timed<tracing::instrument::Instrumented<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.seq += 1;
        let span = tracing::debug_span!("request", seq = self.seq);
        Timed::new(self.inner.call(request).instrument(span))
    }
}

pin_project_lite::pin_project! {
    /// A request's future, logging how long it took and how it ended.
    pub(crate) struct Timed<F> {
        #[pin]
        inner: F,
        // Read only when debug events are on.
        started: Option<tokio::time::Instant>,
    }
}

impl<F> Timed<F> {
    pub(crate) fn new(inner: F) -> Self {
        let started = tracing::enabled!(tracing::Level::DEBUG).then(tokio::time::Instant::now);
        Self { inner, started }
    }
}

/// Requests of ordered protocols are dropped at the shutdown deadline.
impl<F, T, E> super::connection::GiveUp for Timed<tracing::instrument::Instrumented<F>>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    fn give_up(self: Pin<&mut Self>) -> Option<Self::Output> {
        None
    }
}

impl<F, T, E> Future for Timed<tracing::instrument::Instrumented<F>>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let outcome = std::task::ready!(this.inner.as_mut().poll(cx));
        if let Some(started) = this.started {
            let _entered = this.inner.span().enter();
            let duration = started.elapsed();
            match &outcome {
                Ok(_) => tracing::debug!(?duration, outcome = "ok", "request done"),
                Err(_) => tracing::debug!(?duration, outcome = "error", "request failed"),
            }
        }
        Poll::Ready(outcome)
    }
}
