//! The engine's one entry for protocols: a protocol hands the engine the
//! connection it was given ([`Connecting`]), its transport, its codec and
//! the service of each request, and says in which order answers leave.
//!
//! ```text
//! connecting.serve(io, codec, service)   // Dispatch
//!     .push(subscription_items)          // optional: messages of the server's own
//!     .at_cap(read_past)                 // optional: frames read while no request can start
//!     .in_completion_order()                    // or .in_request_order(): the Connection future
//! ```

use futures::{
    Stream,
    stream::{FuturesOrdered, FuturesUnordered},
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Decoder, Encoder};
use tower::{BoxError, Service};

use super::{
    Connecting,
    connection::{AtCap, Connection, GiveUp, Never, ReusedBox},
};

/// A connection about to be served: what [`Connecting::serve`] returns, set
/// up by its methods, and turned into the engine's [`Connection`] future by
/// choosing the order answers leave in.
pub(crate) struct Dispatch<T, C, S, Req, P = Never<<S as Service<Req>>::Response>>
where
    S: Service<Req>,
{
    pub(super) io: T,
    pub(super) codec: C,
    pub(super) service: S,
    pub(super) connecting: Connecting,
    pub(super) push: Option<P>,
    pub(super) at_cap: Option<Box<dyn AtCap<Req, S::Response>>>,
}

impl Connecting {
    /// The engine, to serve `io`: frames read by `codec` are requests to
    /// `service`, whose answers `codec` writes, within the limits and
    /// signals the server gave this connection.
    pub(crate) fn serve<T, C, S, Req>(self, io: T, codec: C, service: S) -> Dispatch<T, C, S, Req>
    where
        S: Service<Req>,
    {
        Dispatch {
            io,
            codec,
            service,
            connecting: self,
            push: None,
            at_cap: None,
        }
    }
}

impl<T, C, S, Req, P> Dispatch<T, C, S, Req, P>
where
    T: AsyncRead + AsyncWrite + Unpin,
    C: Decoder<Item = Req> + Encoder<S::Response>,
    <C as Decoder>::Error: Into<BoxError>,
    <C as Encoder<S::Response>>::Error: Into<BoxError>,
    S: Service<Req>,
    S::Future: GiveUp,
    S::Error: Into<BoxError>,
    P: Stream<Item = S::Response> + Unpin,
{
    /// Messages the server sends of its own accord (subscription items):
    /// written between answers as they come, until the stream ends.
    pub(crate) fn push<Q>(self, push: Q) -> Dispatch<T, C, S, Req, Q>
    where
        Q: Stream<Item = S::Response> + Unpin,
    {
        Dispatch {
            io: self.io,
            codec: self.codec,
            service: self.service,
            connecting: self.connecting,
            push: Some(push),
            at_cap: self.at_cap,
        }
    }

    /// Reads past the in-flight cap when `at_cap` says so, and has it handle
    /// what is read there. Without it, reading waits at the cap: a peer that
    /// sends faster than it is answered is held back.
    pub(crate) fn at_cap(mut self, at_cap: impl AtCap<Req, S::Response> + 'static) -> Self {
        self.at_cap = Some(Box::new(at_cap));
        self
    }

    /// Answers leave in request order: pipelining, for protocols whose
    /// answers carry no id (the peer pairs them with requests by position).
    /// So nothing after a failed request can be answered (the connection
    /// closes after the answers before it), and at the shutdown deadline
    /// the requests in flight are dropped with the connection.
    pub(crate) fn in_request_order(
        self,
    ) -> Connection<T, C, S, Req, FuturesOrdered<ReusedBox<S::Future>>, P> {
        Connection::new(self)
    }

    /// Answers leave as they complete, for protocols whose answers carry
    /// their request's id. At the shutdown deadline every request in flight
    /// is [given up](GiveUp): its future's answer for that tells its caller.
    pub(crate) fn in_completion_order(
        self,
    ) -> Connection<T, C, S, Req, FuturesUnordered<ReusedBox<S::Future>>, P> {
        Connection::new(self)
    }
}
