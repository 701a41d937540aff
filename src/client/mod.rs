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
//! Requests wait in a bounded queue ([`Builder::buffer`]) for the connection
//! task, which keeps at most [`Builder::max_in_flight`] unanswered. When both
//! are full, `poll_ready` returns `Pending` until an answer arrives, so a
//! slow server slows its callers instead of filling memory. As with
//! tower's `Buffer`, `poll_ready` reserves a queue slot that `call`
//! spends; a clone starts without one.
//!
//! # Errors
//!
//! When the connection closes or fails, every call in flight and every
//! queued one fails at once with an [`Error`] for which
//! [`is_closed`](Error::is_closed) is true; so do all later calls.

mod dispatch;
mod error;
pub mod future;
mod room;
mod shared;
mod slots;

pub(crate) use room::{Places, Room, WaitEntry};
pub(crate) use shared::Answers;
pub(crate) use slots::Slots;

pub use error::Error;

use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use futures::{Sink, Stream};
use tower::{BoxError, Service};

use dispatch::Dispatch;
use future::ResponseFuture;
use shared::Shared;

/// A connection as a [`tower::Service`]: each call sends one request and
/// resolves to its answer. Cheap to clone; clones share the connection.
///
/// See the [module docs](self) for an example, backpressure and errors.
pub struct Client<Req, Resp> {
    shared: Arc<Shared<Req, Resp>>,
    /// A place in the queue reserved by `poll_ready`, for `call` to fill.
    reserved: bool,
    /// Where this handle waits for room, if it does.
    waiting: WaitEntry,
}

impl<Req, Resp> Client<Req, Resp>
where
    Req: Send + 'static,
    Resp: Send + 'static,
{
    /// Starts a client on `transport` (typically a
    /// [`Framed`](tokio_util::codec::Framed) stream) with the default
    /// [`Builder`] settings.
    ///
    /// # Panics
    ///
    /// Panics outside a Tokio runtime: the connection runs on its own task.
    pub fn new<T, E>(transport: T) -> Self
    where
        T: Stream<Item = Result<Resp, E>> + Sink<Req> + Send + 'static,
        E: Into<BoxError>,
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
        }
    }
}

impl<Req, Resp> Drop for Client<Req, Resp> {
    fn drop(&mut self) {
        self.shared.drop_handle(self.reserved);
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
        match self.shared.push(request) {
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
}

impl Builder {
    /// Requests that may wait for the connection task unless set otherwise.
    pub const DEFAULT_BUFFER: usize = 64;
    /// Unanswered requests on the connection unless set otherwise.
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 128;

    /// The default settings.
    pub fn new() -> Self {
        Self {
            buffer: Self::DEFAULT_BUFFER,
            max_in_flight: Self::DEFAULT_MAX_IN_FLIGHT,
        }
    }

    /// Sets how many requests may wait for the connection task (at least 1).
    pub fn buffer(mut self, buffer: usize) -> Self {
        self.buffer = buffer.max(1);
        self
    }

    /// Sets how many requests may be sent and not yet answered (at least 1).
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max.max(1);
        self
    }

    /// Starts a client on `transport`.
    ///
    /// # Panics
    ///
    /// Panics outside a Tokio runtime: the connection runs on its own task.
    pub fn build<T, Req, Resp, E>(&self, transport: T) -> Client<Req, Resp>
    where
        T: Stream<Item = Result<Resp, E>> + Sink<Req> + Send + 'static,
        E: Into<BoxError>,
        T::Error: Into<BoxError>,
        Req: Send + 'static,
        Resp: Send + 'static,
    {
        let shared = Arc::new(Shared::new(self.buffer, self.max_in_flight));
        tokio::spawn(Dispatch::new(
            transport,
            Arc::clone(&shared),
            self.max_in_flight,
        ));
        Client {
            shared,
            reserved: false,
            waiting: None,
        }
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}
