//! The typed-frames wire form of a service: calls by method name, in the
//! frames of any codec, in a serde format.

use std::{
    borrow::Cow,
    fmt,
    future::Future,
    io,
    marker::PhantomData,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::oneshot,
};
use tokio_util::codec::{Decoder, Encoder};
use tower::{BoxError, Service};

use super::{ServiceInfo, subscriptions::Subscriptions};
use crate::{
    server::{CloseReason, Connecting, Protocol, protocol::Traced},
    typed::{Format, FormatKind, Frame, Rejected, Reply},
};

/// What a request frame says before its params: what kind of request, and
/// the method. `[kind, method]` in JSON; a byte and a string in postcard.
#[derive(Serialize, Deserialize)]
pub(crate) struct Head<'a>(pub(crate) u8, #[serde(borrow)] pub(crate) Cow<'a, str>);

/// A call, answered with the method's result.
pub(crate) const CALL: u8 = 0;
/// A notification: the method's result is not sent; the answer, which the
/// order of answers needs, is an empty acknowledgement.
pub(crate) const NOTIFY: u8 = 1;
/// A subscription: params `(id, params)`, the id chosen by the client.
pub(crate) const SUBSCRIBE: u8 = 2;
/// The end of a subscription: params `id`; answers whether it was open.
pub(crate) const UNSUBSCRIBE: u8 = 3;

/// Serves a service in its typed-frames form: requests in frames of `C`,
/// each holding the method's name and its params in the [`Format`] `F`,
/// answered in order. Give it to [`serve`](crate::serve) with the server a
/// `#[tower_ipc::service]` trait generates.
///
/// ```no_run
/// # #[cfg(feature = "postcard")]
/// # async fn run() -> std::io::Result<()> {
/// use tower_ipc::{Endpoint, codec::LengthPrefixed, service::Frames, typed::Postcard};
///
/// #[tower_ipc::service]
/// trait Calc {
///     async fn add(&self, a: i64, b: i64) -> i64;
/// }
///
/// struct Adder;
/// impl Calc for Adder {
///     async fn add(&self, a: i64, b: i64) -> i64 { a + b }
/// }
///
/// let listener = Endpoint::new("calc").bind().await?;
/// let frames = Frames::new(LengthPrefixed::new(), Postcard);
/// tower_ipc::serve(listener, frames, CalcServer::new(Adder)).await?;
/// # Ok(())
/// # }
/// ```
///
/// # On the wire
///
/// A request is the pair `((kind, method), params)`: the kind, the method's
/// name, and its params as a sequence (a JSON array; in postcard, a length
/// and the values). Kind 0 is a call, 1 a notification, 2 opens a
/// subscription (params `(id, params)`, the id chosen by the client), 3
/// ends one (params `id`). Each is answered, in order, with a [`Reply`]:
/// `Ok(result)`, or `Err(`[`Rejected`]`)` for a method error, an unknown
/// method, params that do not fit or a frame that is not a request. A
/// notification's answer is `Ok(())`, a subscription's `Ok(())` too, an
/// unsubscription's whether the subscription was open. Between answers the
/// server pushes a subscription's items, `((2, id), item)`, and its end,
/// `((3, id), error or nothing)`, after the answer that opened it. In JSON:
///
/// ```text
/// → [[0,"add"],[1,2]]
/// ← {"Ok":3}
/// → [[0,"sqrt"],[2]]
/// ← {"Err":{"code":-32601,"message":"Method not found: `sqrt`","data":"{\"service\":\"Calc\",\"version\":\"0.1.0\"}"}}
/// → [[2,"ticks_subscribe"],[0,[100]]]
/// ← {"Ok":null}
/// ← [[2,0],1]
/// ← [[2,0],2]
/// → [[3,""],0]
/// ← {"Ok":true}
/// ```
pub struct Frames<C, F> {
    inner: C,
    _format: PhantomData<F>,
}

impl<C, F: Format> Frames<C, F> {
    /// Requests in frames of `inner`, in `format`.
    pub fn new(inner: C, format: F) -> Self {
        let _ = format;
        Self {
            inner,
            _format: PhantomData,
        }
    }
}

impl<C: Clone, F> Clone for Frames<C, F> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            _format: PhantomData,
        }
    }
}

impl<C: fmt::Debug, F: Format> fmt::Debug for Frames<C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frames")
            .field("inner", &self.inner)
            .field("format", &F::NAME)
            .finish()
    }
}

impl<C, F> crate::server::protocol::sealed::Sealed for Frames<C, F> {}

impl<T, S, C, F> Protocol<T, S> for Frames<C, F>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    C: Decoder<Error = io::Error> + Encoder<<C as Decoder>::Item, Error = io::Error>,
    C: Clone + Send + 'static,
    <C as Decoder>::Item: Frame + Send + 'static,
    F: Format,
    S: Service<Call, Response = Answer> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
{
    fn serve_connection(
        &self,
        io: T,
        service: S,
        connection: Connecting,
    ) -> impl Future<Output = CloseReason> + Send + use<T, S, C, F> {
        let (subscriptions, outbox) = Subscriptions::new(F::KIND);
        let codec = FramesCodec::<C, F> {
            inner: self.inner.clone(),
            subscriptions: subscriptions.clone(),
            _format: PhantomData,
        };
        let service = FramesService {
            inner: service,
            subscriptions,
        };
        connection
            .serve(io, codec, Traced::new(service))
            .push(outbox)
            .in_request_order()
    }
}

/// Answers what the service is not asked: frames that are not calls, and
/// the ends of subscriptions.
struct FramesService<S> {
    inner: S,
    subscriptions: Subscriptions,
}

impl<S> Service<Result<Call, Rejected>> for FramesService<S>
where
    S: Service<Call, Response = Answer>,
{
    type Response = Reply<Answer>;
    type Error = S::Error;
    type Future = FramesFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: Result<Call, Rejected>) -> Self::Future {
        let call = match call {
            Ok(call) => call,
            Err(rejected) => {
                return FramesFuture::Ready {
                    answer: Some(Err(rejected)),
                };
            }
        };
        if call.kind == UNSUBSCRIBE {
            let closed = self.subscriptions.close(call.subscription);
            let answer = call.answer(&Ok::<bool, Rejected>(closed));
            return FramesFuture::Ready {
                answer: Some(Ok(answer)),
            };
        }
        FramesFuture::Running {
            inner: self.inner.call(call),
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer to one request: the service's, or the protocol's own.
    #[project = FramesProj]
    enum FramesFuture<F> {
        Running { #[pin] inner: F },
        Ready { answer: Option<Reply<Answer>> },
    }
}

impl<F, E> Future for FramesFuture<F>
where
    F: Future<Output = Result<Answer, E>>,
{
    type Output = Result<Reply<Answer>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            FramesProj::Running { inner } => inner.poll(cx).map(|outcome| outcome.map(Ok)),
            FramesProj::Ready { answer } => Poll::Ready(Ok(answer
                .take()
                .expect("FramesFuture polled after completion"))),
        }
    }
}

/// The server's codec: frames become calls (or rejections to answer), and
/// answers frames.
struct FramesCodec<C, F> {
    inner: C,
    subscriptions: Subscriptions,
    _format: PhantomData<F>,
}

impl<C, F> Decoder for FramesCodec<C, F>
where
    C: Decoder<Error = io::Error>,
    C::Item: Frame,
    F: Format,
{
    type Item = Result<Call, Rejected>;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Self::Item>> {
        Ok(self
            .inner
            .decode(src)?
            .map(|frame| Call::parse(frame.into_payload(), F::KIND, &self.subscriptions)))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<Self::Item>> {
        Ok(self
            .inner
            .decode_eof(src)?
            .map(|frame| Call::parse(frame.into_payload(), F::KIND, &self.subscriptions)))
    }
}

impl<C, F> Encoder<Reply<Answer>> for FramesCodec<C, F>
where
    C: Decoder + Encoder<<C as Decoder>::Item, Error = io::Error>,
    <C as Decoder>::Item: Frame,
    F: Format,
{
    type Error = io::Error;

    fn encode(&mut self, answer: Reply<Answer>, dst: &mut BytesMut) -> io::Result<()> {
        let (payload, activate) = match answer {
            Ok(Answer(Inner::Encoded(payload))) => (payload, None),
            Ok(Answer(Inner::Subscribed { payload, activate })) => (payload, Some(activate)),
            Ok(Answer(Inner::Rejected(rejected))) | Err(rejected) => {
                (encode_reply::<()>(F::KIND, &Err(rejected)), None)
            }
        };
        self.inner
            .encode(<C as Decoder>::Item::from_payload(payload, F::NAME), dst)?;
        // The subscription's items may follow its answer now.
        if let Some(activate) = activate {
            let _ = activate.send(());
        }
        Ok(())
    }
}

/// Serializes a reply; one that does not serialize becomes an internal
/// error, which always does.
fn encode_reply<T: Serialize>(format: FormatKind, reply: &Reply<T>) -> Bytes {
    let mut payload = BytesMut::new();
    if let Err(err) = format.encode(reply, &mut payload) {
        let rejected = Rejected::new(
            Rejected::INTERNAL_ERROR,
            format!(
                "the answer (`{}`) does not serialize as {}: {err}",
                std::any::type_name::<T>(),
                format.name()
            ),
        );
        format
            .encode(&Reply::<()>::Err(rejected), &mut payload)
            .expect("a rejection serializes");
    }
    payload.freeze()
}

/// A request in the typed-frames form of a service, as the server a
/// `#[tower_ipc::service]` trait generates receives it: the method's name,
/// and its params, not yet decoded.
pub struct Call {
    /// UTF-8, checked when the call was read.
    method: Bytes,
    kind: u8,
    params: Bytes,
    format: FormatKind,
    /// The subscription's id, for `SUBSCRIBE` and `UNSUBSCRIBE`.
    subscription: u64,
    /// The connection's subscriptions, for `SUBSCRIBE`.
    subscriptions: Option<Subscriptions>,
}

impl Call {
    fn parse(
        payload: Bytes,
        format: FormatKind,
        subscriptions: &Subscriptions,
    ) -> Result<Self, Rejected> {
        let (Head(kind, method), params) = format.split::<Head<'_>>(&payload).map_err(|err| {
            Rejected::new(
                Rejected::INVALID_REQUEST,
                format!(
                    "a {}-byte {} frame is not a call (`[[kind, method], params]`): {err}",
                    payload.len(),
                    format.name()
                ),
            )
        })?;
        let (subscription, params) = match kind {
            CALL | NOTIFY => (0, params),
            SUBSCRIBE => format.split::<u64>(params).map_err(|err| {
                Rejected::new(
                    Rejected::INVALID_REQUEST,
                    format!("a subscription to `{method}` without its id: {err}"),
                )
            })?,
            UNSUBSCRIBE => (
                format.decode::<u64>(params).map_err(|err| {
                    Rejected::new(
                        Rejected::INVALID_REQUEST,
                        format!("an unsubscription without a subscription id: {err}"),
                    )
                })?,
                &[][..],
            ),
            _ => {
                return Err(Rejected::new(
                    Rejected::INVALID_REQUEST,
                    format!(
                        "unknown kind of request {kind} for `{method}` \
                         (0: call, 1: notification, 2: subscription, 3: its end)"
                    ),
                ));
            }
        };
        let method = match method {
            Cow::Borrowed(method) => payload.slice_ref(method.as_bytes()),
            Cow::Owned(method) => Bytes::from(method),
        };
        Ok(Self {
            method,
            kind,
            params: payload.slice_ref(params),
            format,
            subscription,
            subscriptions: (kind == SUBSCRIBE).then(|| subscriptions.clone()),
        })
    }

    /// Opens the subscription this call asks for, pushing `items`; the
    /// answer to give.
    pub(crate) fn open<T: Serialize + Send + 'static>(
        &self,
        items: futures::stream::BoxStream<'static, T>,
    ) -> Answer {
        let opened = match &self.subscriptions {
            Some(subscriptions) => subscriptions.open(self.subscription, items),
            None => Err(Rejected::new(
                Rejected::INVALID_REQUEST,
                format!(
                    "`{}` is a subscription: open it as one (kind 2), not as a call",
                    self.method()
                ),
            )),
        };
        match opened {
            Ok(activate) => Answer(Inner::Subscribed {
                payload: encode_reply(self.format, &Ok::<(), Rejected>(())),
                activate,
            }),
            Err(rejected) => Answer::rejected(rejected),
        }
    }

    /// Whether this call opens a subscription.
    pub(crate) fn is_subscription(&self) -> bool {
        self.kind == SUBSCRIBE
    }

    /// The method's name.
    pub fn method(&self) -> &str {
        std::str::from_utf8(&self.method).unwrap_or_default()
    }

    /// Whether this is a notification, whose result the caller does not
    /// want.
    pub fn is_notification(&self) -> bool {
        self.kind == NOTIFY
    }

    /// Decodes the params as `P`, the method's `names`; a failure says
    /// what did not fit and names the service.
    #[doc(hidden)]
    pub fn params<P: DeserializeOwned>(
        &self,
        info: &ServiceInfo,
        names: &[&str],
    ) -> Result<P, Rejected> {
        self.format.decode(&self.params).map_err(|err| {
            let detail = match self.format.sequence_len(&self.params) {
                // A binary format's own message may say nothing useful.
                Some(sent) if sent > names.len() => format!(
                    "invalid length {sent}, expected at most {} params",
                    names.len()
                ),
                _ => err.to_string(),
            };
            let message = format!(
                "Invalid params for `{}` ({}): {detail}",
                self.method(),
                names.join(", ")
            );
            with_info(Rejected::new(Rejected::INVALID_PARAMS, message), info)
        })
    }

    /// The answer `reply`, serialized in this call's format.
    #[doc(hidden)]
    pub fn answer<T: Serialize>(&self, reply: &Reply<T>) -> Answer {
        Answer(Inner::Encoded(encode_reply(self.format, reply)))
    }

    /// The answer to a call of a method the service does not have.
    #[doc(hidden)]
    pub fn method_not_found(&self, info: &ServiceInfo) -> Answer {
        let message = format!("Method not found: `{}`", self.method());
        Answer::rejected(with_info(
            Rejected::new(Rejected::METHOD_NOT_FOUND, message),
            info,
        ))
    }
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("method", &self.method())
            .field("notification", &self.is_notification())
            .field("params_len", &self.params.len())
            .field("format", &self.format.name())
            .finish()
    }
}

/// Attaches the service's name and version to a rejection, for the client
/// to show beside its own.
pub(crate) fn with_info(rejected: Rejected, info: &ServiceInfo) -> Rejected {
    let data = serde_json::json!({ "service": info.name, "version": info.version });
    rejected.with_data(data.to_string())
}

/// The answer to a [`Call`], serialized.
#[derive(Debug)]
pub struct Answer(Inner);

#[derive(Debug)]
enum Inner {
    /// A reply, serialized in the call's format.
    Encoded(Bytes),
    /// A subscription's answer: its items wait until it is written.
    Subscribed {
        payload: Bytes,
        activate: oneshot::Sender<()>,
    },
    /// The call was refused.
    Rejected(Rejected),
}

impl Answer {
    /// A frame's payload, serialized already.
    pub(crate) fn encoded(payload: Bytes) -> Self {
        Self(Inner::Encoded(payload))
    }

    /// An answer refusing the call.
    #[doc(hidden)]
    pub fn rejected(rejected: Rejected) -> Self {
        Self(Inner::Rejected(rejected))
    }
}
