use std::{
    fmt,
    future::Future,
    io,
    marker::PhantomData,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::BytesMut;
use serde::{Serialize, de::DeserializeOwned};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Decoder, Encoder};
use tower::{BoxError, Service};

use super::{Format, Frame, Rejected, codec};
use crate::server::{CloseReason, Connecting, Protocol};

/// A typed server's answer: the service's response, or why the request was
/// not handed to the service.
pub type Reply<T> = Result<T, Rejected>;

/// Serves a [`tower::Service`] of your own request type, in frames of `C`
/// holding values in the [`Format`] `F`: give it to
/// [`serve`](crate::serve) as the protocol.
///
/// Each frame is deserialized into `Req` and handed to the service; each
/// response is written as a [`Reply`] (`Ok(response)`), in request order.
/// A frame that does not deserialize is answered, in its place, with
/// `Err(`[`Rejected`]`)` of code
/// [`INVALID_REQUEST`](Rejected::INVALID_REQUEST) naming the type, the
/// frame's size and what did not fit; the connection goes on. Clients
/// decode `Reply<Response>` with a [`TypedCodec`](super::TypedCodec) (see
/// there for an example).
///
/// A frame the codec itself rejects (over its maximum length, say) closes
/// the connection, as for any codec: the stream cannot be trusted after it.
/// So does a service error (see [`server`](crate::server#errors)); return
/// your errors inside the response to answer them instead.
pub struct TypedServer<C, F, Req> {
    inner: C,
    _types: PhantomData<fn(F) -> Req>,
}

impl<C, F, Req> TypedServer<C, F, Req> {
    /// Requests of type `Req` in frames of `inner`.
    pub fn new(inner: C) -> Self {
        Self {
            inner,
            _types: PhantomData,
        }
    }
}

impl<C: Clone, F, Req> Clone for TypedServer<C, F, Req> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone())
    }
}

impl<C: fmt::Debug, F: Format, Req> fmt::Debug for TypedServer<C, F, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedServer")
            .field("inner", &self.inner)
            .field("format", &F::NAME)
            .field("request", &std::any::type_name::<Req>())
            .finish()
    }
}

impl<C, F, Req> crate::server::protocol::sealed::Sealed for TypedServer<C, F, Req> {}

impl<T, S, C, F, Req> Protocol<T, S> for TypedServer<C, F, Req>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    C: Decoder<Error = io::Error> + Encoder<<C as Decoder>::Item, Error = io::Error>,
    C: Clone + Send + 'static,
    <C as Decoder>::Item: Frame + Send + 'static,
    F: Format,
    Req: DeserializeOwned + Send + 'static,
    S: Service<Req> + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Serialize + Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
{
    fn serve_connection(
        &self,
        io: T,
        service: S,
        connection: Connecting,
    ) -> impl Future<Output = CloseReason> + Send + use<T, S, C, F, Req> {
        let codec = ServerCodec::<C, F, Req> {
            inner: self.inner.clone(),
            scratch: BytesMut::new(),
            _types: PhantomData,
        };
        Protocol::<T, Answering<S>>::serve_connection(
            &codec,
            io,
            Answering { inner: service },
            connection,
        )
    }
}

/// The server's codec: a frame that does not decode becomes a rejection to
/// answer, not an error that ends the connection.
struct ServerCodec<C, F, Req> {
    inner: C,
    scratch: BytesMut,
    _types: PhantomData<fn(F) -> Req>,
}

impl<C: Clone, F, Req> Clone for ServerCodec<C, F, Req> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            scratch: BytesMut::new(),
            _types: PhantomData,
        }
    }
}

impl<C, F, Req> ServerCodec<C, F, Req>
where
    F: Format,
    Req: DeserializeOwned,
{
    fn request(frame: &impl Frame) -> Result<Req, Rejected> {
        codec::decode::<F, Req>(frame.payload()).map_err(|err| {
            tracing::debug!(error = %err, "request rejected");
            let detail = err
                .into_inner()
                .map_or_else(String::new, |err| err.to_string());
            Rejected::new(Rejected::INVALID_REQUEST, detail)
        })
    }
}

impl<C, F, Req> Decoder for ServerCodec<C, F, Req>
where
    C: Decoder<Error = io::Error>,
    C::Item: Frame,
    F: Format,
    Req: DeserializeOwned,
{
    type Item = Result<Req, Rejected>;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Self::Item>> {
        Ok(self.inner.decode(src)?.map(|frame| Self::request(&frame)))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<Self::Item>> {
        Ok(self
            .inner
            .decode_eof(src)?
            .map(|frame| Self::request(&frame)))
    }
}

impl<C, F, Req, Resp> Encoder<Reply<Resp>> for ServerCodec<C, F, Req>
where
    C: Decoder + Encoder<<C as Decoder>::Item, Error = io::Error>,
    <C as Decoder>::Item: Frame,
    F: Format,
    Resp: Serialize,
{
    type Error = io::Error;

    fn encode(&mut self, reply: Reply<Resp>, dst: &mut BytesMut) -> io::Result<()> {
        let payload = codec::serialize::<F, _>(&reply, &mut self.scratch)?;
        self.inner
            .encode(<C as Decoder>::Item::from_payload(payload, F::NAME), dst)
    }
}

/// Hands decoded requests to the service and answers rejected ones itself.
pub(crate) struct Answering<S> {
    pub(crate) inner: S,
}

impl<S, Req> Service<Result<Req, Rejected>> for Answering<S>
where
    S: Service<Req>,
{
    type Response = Reply<S::Response>;
    type Error = S::Error;
    type Future = AnswerFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Result<Req, Rejected>) -> Self::Future {
        match request {
            Ok(request) => AnswerFuture::Running {
                inner: self.inner.call(request),
            },
            Err(rejected) => AnswerFuture::Rejected {
                rejected: Some(rejected),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer to one request: the service's, or a rejection.
    #[project = AnswerProj]
    #[allow(unreachable_pub)]
    pub(crate) enum AnswerFuture<F> {
        Running { #[pin] inner: F },
        Rejected { rejected: Option<Rejected> },
    }
}

impl<F, T, E> Future for AnswerFuture<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<Reply<T>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            AnswerProj::Running { inner } => inner.poll(cx).map(|outcome| outcome.map(Ok)),
            AnswerProj::Rejected { rejected } => Poll::Ready(Ok(Err(rejected
                .take()
                .expect("AnswerFuture polled after completion")))),
        }
    }
}
