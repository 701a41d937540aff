use std::{future::Future, io};

use futures::stream::FuturesOrdered;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::{
    codec::{Decoder, Encoder},
    sync::WaitForCancellationFutureOwned,
};
use tower::{BoxError, Service};

use super::connection::Connection;
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
/// The trait's method is an implementation detail of the server; it is
/// public only so that both kinds fit [`serve`](super::serve).
pub trait Protocol<T, S>: Clone + Send + 'static {
    /// Serves one connection until the peer hangs up or `shutdown` fires,
    /// with at most `max_in_flight` requests unanswered.
    #[doc(hidden)]
    fn serve_connection(
        &self,
        io: T,
        peer: PeerInfo,
        service: S,
        max_in_flight: usize,
        shutdown: WaitForCancellationFutureOwned,
    ) -> impl Future<Output = io::Result<()>> + Send + use<Self, T, S>;
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
        _peer: PeerInfo,
        service: S,
        max_in_flight: usize,
        shutdown: WaitForCancellationFutureOwned,
    ) -> impl Future<Output = io::Result<()>> + Send + use<T, S, C> {
        let connection = Connection::<_, _, _, _, FuturesOrdered<_>>::with_parts(
            io,
            self.clone(),
            service,
            max_in_flight,
            shutdown,
            None,
        );
        async move { connection.await.into_result() }
    }
}
