//! [`Client`]: a connection as a [`tower::Service`].
//!
//! ```no_run
//! use bytes::Bytes;
//! use std::time::Duration;
//! use tokio_util::codec::Framed;
//! use tower::{Service, ServiceExt};
//! use tower_ipc::{Client, Endpoint, codec::LengthPrefixed};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let stream = Endpoint::new("echo").connect_timeout(Duration::from_secs(5)).await?;
//! let mut client = Client::new(Framed::new(stream, LengthPrefixed::new()));
//! let answer: Bytes = client.ready().await?.call(Bytes::from("ping")).await?;
//! assert_eq!(answer, "ping");
//! # Ok(())
//! # }
//! ```
//!
//! Requests are pipelined: many are written without waiting, and answers are
//! paired with requests by position. Clones share the connection.
//!
//! # Backpressure
//!
//! A call holds a place from `poll_ready` until its answer arrives: requests
//! waiting for the connection task ([`Builder::buffer`]) and requests
//! unanswered ([`Builder::max_in_flight`]) share `buffer + max_in_flight`
//! places. When none is free, `poll_ready` returns `Pending` until an answer
//! arrives, so a slow server slows its callers instead of filling memory.
//! As with tower's `Buffer`, `poll_ready` reserves the place that `call`
//! spends; a clone starts without one. [`JsonRpcClient`] counts the same
//! way: both are faces on one engine.
//!
//! [`JsonRpcClient`]: crate::jsonrpc::JsonRpcClient
//!
//! # Errors
//!
//! When the connection closes or fails, every call in flight and every
//! queued one fails at once with an [`Error`] for which
//! [`is_closed`](Error::is_closed) is true. Without
//! [`reconnect`](Builder::reconnect), so do all later calls; with it, the
//! next call connects again.

pub(crate) mod engine;
mod error;
pub mod future;
mod pipeline;

pub use error::Error;

use std::{
    fmt, io,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use futures::{Sink, Stream};
use tokio_util::codec::{Decoder, Encoder, Framed};
use tower::{BoxError, Service};

use crate::{Endpoint, transport::IpcStream};
use engine::{EndpointConnect, Shared, WaitEntry};
use future::ResponseFuture;
use pipeline::Pipeline;

/// A connection as a [`tower::Service`]: each call sends one request and
/// resolves to its answer. Cheap to clone; clones share the connection.
///
/// See the [module docs](self) for an example, backpressure and errors.
pub struct Client<Req, Resp> {
    shared: Arc<Shared<Pipeline<Req, Resp>>>,
    /// A place in the queue reserved by `poll_ready`, for `call` to fill.
    reserved: bool,
    /// Where this handle waits for room, if it does.
    waiting: WaitEntry,
    /// Whether this handle keeps the connection going (see
    /// [`uncounted`](Self::uncounted)).
    counted: bool,
}

impl<Req, Resp> Client<Req, Resp>
where
    Req: Send + 'static,
    Resp: Send + 'static,
{
    /// Starts a client on `transport` (typically a
    /// [`Framed`] stream) with the default
    /// [`Builder`] settings.
    ///
    /// # Panics
    ///
    /// Panics outside a Tokio runtime: the connection runs on its own task.
    pub fn new<T, E>(transport: T) -> Self
    where
        T: Stream<Item = Result<Resp, E>> + Sink<Req> + Send + 'static,
        E: Into<BoxError> + 'static,
        T::Error: Into<BoxError>,
    {
        Builder::new().build(transport)
    }
}

impl Client<(), ()> {
    /// Settings for a client; the request and response types come from the
    /// transport given to [`Builder::build`].
    pub fn builder() -> Builder {
        Builder::new()
    }
}

impl<Req, Resp> Clone for Client<Req, Resp> {
    fn clone(&self) -> Self {
        self.shared.add_handle();
        Self {
            shared: Arc::clone(&self.shared),
            reserved: false,
            waiting: None,
            counted: true,
        }
    }
}

impl<Req, Resp> Client<Req, Resp> {
    /// A handle that does not keep the connection going: when only such
    /// handles are left, the connection task finishes what is in flight and
    /// closes the connection (the supervisor lets go of its children so).
    pub(crate) fn uncounted(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            reserved: false,
            waiting: None,
            counted: false,
        }
    }
}

impl<Req, Resp> Drop for Client<Req, Resp> {
    fn drop(&mut self) {
        self.shared.drop_handle(self.counted, self.reserved);
    }
}

impl<Req, Resp> fmt::Debug for Client<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl<Req, Resp> Service<Req> for Client<Req, Resp>
where
    Req: Send + 'static,
    Resp: Send + 'static,
{
    type Response = Resp;
    type Error = Error;
    type Future = ResponseFuture<Resp>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.reserved {
            return Poll::Ready(Ok(()));
        }
        match self.shared.reserve(&mut self.waiting, cx) {
            Poll::Ready(true) => {
                self.reserved = true;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(false) => Poll::Ready(Err(Error::closed())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn call(&mut self, request: Req) -> Self::Future {
        if !std::mem::take(&mut self.reserved) {
            return ResponseFuture::failed(if self.shared.is_closed() {
                Error::closed()
            } else {
                Error::not_ready()
            });
        }
        let pushed = self.shared.push(|slots| {
            let slot = slots.insert();
            ((request, slot), slot)
        });
        match pushed {
            Some(slot) => ResponseFuture::waiting(self.shared.clone(), slot),
            None => ResponseFuture::failed(Error::closed()),
        }
    }
}

/// Settings for a [`Client`].
#[derive(Clone, Debug)]
pub struct Builder {
    buffer: usize,
    max_in_flight: usize,
    reconnect: Option<Duration>,
}

impl Builder {
    /// Requests that may wait for the connection task unless set otherwise.
    pub const DEFAULT_BUFFER: usize = 64;
    /// Unanswered requests on the connection unless set otherwise.
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 128;

    /// The default settings: no reconnection.
    pub fn new() -> Self {
        Self {
            buffer: Self::DEFAULT_BUFFER,
            max_in_flight: Self::DEFAULT_MAX_IN_FLIGHT,
            reconnect: None,
        }
    }

    /// Sets how many requests may wait for the connection task (at least 1).
    #[must_use]
    pub fn buffer(mut self, buffer: usize) -> Self {
        self.buffer = buffer.max(1);
        self
    }

    /// Sets how many requests may be sent and not yet answered (at least 1).
    #[must_use]
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max.max(1);
        self
    }

    /// After the connection is lost, connects again (waiting up to `timeout`
    /// for the server) when the next call is made, as tower's `Reconnect`
    /// does. Calls in flight when it was lost still fail; a call that finds
    /// no server fails with the connection error, and the next one tries
    /// again. Applies to clients made with [`connect`](Self::connect).
    #[must_use]
    pub fn reconnect(mut self, timeout: Duration) -> Self {
        self.reconnect = Some(timeout);
        self
    }

    /// Connects to `endpoint` (waiting up to the reconnect timeout for the
    /// server, if one is set) and starts a client speaking `codec`.
    ///
    /// ```no_run
    /// use bytes::Bytes;
    /// use std::time::Duration;
    /// use tower::{Service, ServiceExt};
    /// use tower_ipc::{Client, Endpoint, codec::LengthPrefixed};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// let mut client = Client::builder()
    ///     .reconnect(Duration::from_secs(5))
    ///     .connect(&Endpoint::new("echo"), LengthPrefixed::new())
    ///     .await?;
    /// // Survives the server's restarts: the next call connects again.
    /// let answer = client.ready().await?.call(Bytes::from("ping")).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The connection error, naming the endpoint.
    ///
    /// # Panics
    ///
    /// Panics outside a Tokio runtime: the connection runs on its own task.
    pub async fn connect<C, Req, Resp>(
        &self,
        endpoint: &Endpoint,
        codec: C,
    ) -> io::Result<Client<Req, Resp>>
    where
        C: Decoder<Item = Resp> + Encoder<Req> + Clone + Send + 'static,
        <C as Decoder>::Error: Into<BoxError>,
        <C as Encoder<Req>>::Error: Into<BoxError>,
        Req: Send + 'static,
        Resp: Send + 'static,
    {
        let stream = match self.reconnect {
            Some(timeout) => endpoint.connect_timeout(timeout).await?,
            None => endpoint.connect().await?,
        };
        let transport = Framed::new(stream, codec.clone());
        let reconnect = self.reconnect.map(|timeout| {
            let make = move |stream: IpcStream| Framed::new(stream, codec.clone());
            Box::new(EndpointConnect::new(endpoint.clone(), timeout, make)) as _
        });
        Ok(self.start(transport, reconnect))
    }

    /// Starts a client on `transport` (typically a
    /// [`Framed`] stream).
    ///
    /// # Panics
    ///
    /// Panics outside a Tokio runtime: the connection runs on its own task.
    pub fn build<T, Req, Resp, E>(&self, transport: T) -> Client<Req, Resp>
    where
        T: Stream<Item = Result<Resp, E>> + Sink<Req> + Send + 'static,
        E: Into<BoxError> + 'static,
        T::Error: Into<BoxError>,
        Req: Send + 'static,
        Resp: Send + 'static,
    {
        self.start(transport, None)
    }

    pub(crate) fn start<T, Req, Resp, E>(
        &self,
        transport: T,
        reconnect: Option<Box<dyn engine::Connect<T>>>,
    ) -> Client<Req, Resp>
    where
        T: Stream<Item = Result<Resp, E>> + Sink<Req> + Send + 'static,
        E: Into<BoxError> + 'static,
        T::Error: Into<BoxError>,
        Req: Send + 'static,
        Resp: Send + 'static,
    {
        let shared = Arc::new(Shared::new(
            Pipeline::new(),
            self.buffer,
            self.max_in_flight,
        ));
        tokio::spawn(engine::Driver::new(
            Arc::clone(&shared),
            transport,
            reconnect,
            self.max_in_flight,
        ));
        Client {
            shared,
            reserved: false,
            waiting: None,
            counted: true,
        }
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use std::{io, time::Duration};

    use tower::{Service, ServiceExt};

    use std::{
        pin::Pin,
        task::{Context, Poll},
    };

    use futures::{Sink, Stream};

    use super::*;

    /// A transport that answers nothing, fails to encode every request, and
    /// breaks once it has been handed one.
    struct Breaking {
        sent: bool,
    }

    impl Stream for Breaking {
        type Item = io::Result<u8>;
        fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Pending
        }
    }

    impl Sink<u8> for Breaking {
        type Error = io::Error;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(match self.sent {
                true => Err(io::Error::other("broken")),
                false => Ok(()),
            })
        }
        fn start_send(mut self: Pin<&mut Self>, _: u8) -> io::Result<()> {
            self.sent = true;
            Err(io::Error::other("too big"))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_call_after_an_abandoned_one_that_filled_the_window_is_sent() {
        use bytes::Bytes;
        use tokio_util::codec::Framed;

        use crate::{Server, codec::LengthPrefixed};

        let (ours, theirs) = tokio::io::duplex(1024);
        let echo = tower::service_fn(|frame: Bytes| async move { Ok::<_, io::Error>(frame) });
        tokio::spawn(Server::new().serve_connection(theirs, LengthPrefixed::new(), echo));
        let mut client = Client::builder()
            .max_in_flight(1)
            .build(Framed::new(ours, LengthPrefixed::new()));
        // Let the connection task wait for work.
        tokio::task::yield_now().await;
        // Queued and abandoned before the task runs: the task takes it,
        // the whole window, and skips it.
        drop(client.ready().await.unwrap().call(Bytes::from("gone")));
        tokio::task::yield_now().await;
        let answer = client.ready().await.unwrap().call(Bytes::from("hi"));
        let answer = tokio::time::timeout(Duration::from_secs(5), answer)
            .await
            .expect("answered")
            .unwrap();
        assert_eq!(answer, "hi");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_encoding_failure_keeps_its_error_when_the_connection_then_fails() {
        let mut client = Client::new(Breaking { sent: false });
        // Both are queued before the connection task first runs.
        let first = client.ready().await.unwrap().call(1);
        let second = client.ready().await.unwrap().call(2);
        let patience = Duration::from_secs(5);
        let first = tokio::time::timeout(patience, first)
            .await
            .expect("answered");
        let err = first.unwrap_err();
        assert!(err.is_encode(), "{err}");
        let err = tokio::time::timeout(patience, second)
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            err.is_closed() && err.to_string().contains("broken"),
            "{err}"
        );
    }
}
