//! Serving JSON-RPC: the [`JsonRpc`] protocol for [`serve`](crate::serve).

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context as TaskContext, Poll},
};

use bytes::{BufMut, Bytes, BytesMut};
use futures::{
    Stream,
    future::{BoxFuture, Either, join_all},
    stream::FuturesUnordered,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt},
    sync::mpsc,
    time::Instant,
};
use tokio_util::{
    codec::{Decoder, Encoder, Framed},
    sync::{CancellationToken, WaitForCancellationFutureOwned},
};
use tower::{BoxError, Service, ServiceExt};
use tracing::{Instrument, instrument::Instrumented};

use super::{
    Context, ErrorObject, Id, Request, Response,
    message::{Entry, Incoming, id_in_head, parse_incoming},
    subscription::{self, Outbox},
};
use crate::{
    codec::{JsonCodec, JsonFrame},
    server::{Closed, Connecting, Protocol, authorize::PeerPolicy, connection::Connection},
};

/// JSON-RPC 2.0 as a [`Protocol`] for [`serve`](crate::serve): serves a
/// [`tower::Service`]`<`[`Request`]`, Response = `[`Response`]`>` (a
/// [`Router`](super::Router), typically wrapped in middleware).
///
/// ```no_run
/// use std::time::Duration;
/// use tower::ServiceBuilder;
/// use tower_ipc::{Endpoint, jsonrpc::{ErrorObject, JsonRpc, Router}};
///
/// # async fn run() -> std::io::Result<()> {
/// let router = Router::new()
///     .method("add", |(a, b): (i64, i64)| async move { Ok::<_, ErrorObject>(a + b) });
/// let service = ServiceBuilder::new()
///     .timeout(Duration::from_secs(10))
///     .service(router);
/// let listener = Endpoint::new("calc").bind().await?;
/// tower_ipc::serve(listener, JsonRpc::new(), service).await?;
/// # Ok(())
/// # }
/// ```
///
/// # Behaviour
///
/// - Answers leave as they complete; the ids pair them with requests.
/// - A batch is answered with an array of the answers to its requests, in
///   batch order; an empty batch with one invalid-request error; a batch of
///   notifications with nothing.
/// - Errors from middleware become error answers for the request's id, and
///   the connection lives on: an elapsed timeout is
///   [`ErrorObject::TIMEOUT`], load shedding [`ErrorObject::LIMIT_EXCEEDED`],
///   an [`ErrorObject`] returned as the error is sent as it is, and any other
///   error is an internal error carrying its message.
///
/// # Bad input
///
/// Every case gets an error answer with a null id (unless the id could be
/// read) and the connection goes on with the next value, resynchronised by
/// the framing: text that is not JSON gets [`ErrorObject::PARSE_ERROR`]; JSON
/// that is not a request, [`ErrorObject::INVALID_REQUEST`]; a value over the
/// codec's maximum frame length, [`ErrorObject::INVALID_REQUEST`] naming the
/// limit (the value is skipped as it arrives, never held whole). Only framing
/// that cannot be resynchronised (a malformed `Content-Length` header) closes
/// the connection.
#[derive(Clone, Debug)]
pub struct JsonRpc {
    codec: JsonCodec,
    ordered_notifications: bool,
    policy: Option<PeerPolicy>,
    max_batch_size: usize,
}

impl JsonRpc {
    /// Requests a batch may hold unless set otherwise (as geth).
    pub const DEFAULT_MAX_BATCH_SIZE: usize = 1000;

    /// JSON-RPC over the JSON stream framing geth, reth, alloy and web3.py use
    /// over IPC, with the default maximum frame length.
    pub fn new() -> Self {
        Self {
            codec: JsonCodec::new(),
            ordered_notifications: false,
            policy: None,
            max_batch_size: Self::DEFAULT_MAX_BATCH_SIZE,
        }
    }

    /// Caps the requests of a batch (default
    /// [`DEFAULT_MAX_BATCH_SIZE`](Self::DEFAULT_MAX_BATCH_SIZE), at least 1).
    /// A larger batch is answered with one
    /// [`ErrorObject::LIMIT_EXCEEDED`] error naming the limit, and none of
    /// its requests run.
    #[must_use]
    pub fn max_batch_size(mut self, max: usize) -> Self {
        self.max_batch_size = max.max(1);
        self
    }

    /// Uses `codec` for framing: another [`JsonFraming`](crate::codec::JsonFraming)
    /// (newline-delimited, or `Content-Length` headers as language servers
    /// use) or another maximum frame length.
    #[must_use]
    pub fn codec(mut self, codec: JsonCodec) -> Self {
        self.codec = codec;
        self
    }

    /// Handles the notifications of each connection one at a time, in the
    /// order they arrived, while its requests still run concurrently (off by
    /// default: notifications run concurrently too).
    #[must_use]
    pub fn ordered_notifications(mut self, ordered: bool) -> Self {
        self.ordered_notifications = ordered;
        self
    }

    /// Answers every call of a peer that `policy` refuses with an
    /// [`ErrorObject::UNAUTHORIZED`] error (its notifications are dropped),
    /// and logs the refusal with the peer's identity. The connection stays
    /// open, so the caller learns why. To close refused connections instead,
    /// use [`AuthorizeLayer`](crate::server::authorize::AuthorizeLayer).
    ///
    /// ```
    /// use tower_ipc::{jsonrpc::JsonRpc, server::authorize::PeerPolicy};
    ///
    /// let protocol = JsonRpc::new().authorize(PeerPolicy::same_user());
    /// ```
    #[must_use]
    pub fn authorize(mut self, policy: PeerPolicy) -> Self {
        self.policy = Some(policy);
        self
    }
}

impl Default for JsonRpc {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, S> Protocol<T, S> for JsonRpc
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
{
    fn serve_connection(
        &self,
        io: T,
        service: S,
        connecting: Connecting,
    ) -> impl Future<Output = Closed> + Send + use<T, S> {
        let Connecting {
            peer,
            limits,
            signals,
            stats,
        } = connecting;
        let refused = self
            .policy
            .as_ref()
            .is_some_and(|policy| !policy.allows(&peer));
        if refused {
            tracing::warn!(
                pid = peer.pid(),
                uid = peer.uid(),
                gid = peer.gid(),
                "peer refused: its JSON-RPC calls are answered with an unauthorized error"
            );
        }
        let (subscriptions, outbox) = subscription::channel();
        let notifications = self
            .ordered_notifications
            .then(|| in_order(service.clone(), limits.max_in_flight));
        let connection = PerConnection {
            inner: service,
            context: Context::new(peer, subscriptions),
            notifications,
            refused,
            max_batch_size: self.max_batch_size,
            abort: Arc::new(signals.abort.clone()),
        };
        let connection = Connection::<_, _, _, _, FuturesUnordered<_>, _>::new(
            Framed::new(io, ServerCodec(self.codec.clone())),
            connection,
            limits,
            &signals,
            stats,
            Some(Pushed(outbox)),
        );
        async move { Closed(connection.await) }
    }

    /// Tells the peer why with an error object (null id,
    /// [`ErrorObject::LIMIT_EXCEEDED`]), then closes.
    fn refuse(&self, mut io: T, reason: &str) -> impl Future<Output = ()> + Send + use<T, S> {
        let mut message = BytesMut::new();
        let answer = Response::error(
            Id::null(),
            ErrorObject::new(ErrorObject::LIMIT_EXCEEDED, reason.to_owned()),
        );
        let encoded = ServerCodec(self.codec.clone()).encode(Outgoing::One(answer), &mut message);
        async move {
            if encoded.is_ok() {
                let _ = io.write_all(&message).await;
            }
            let _ = io.shutdown().await;
        }
    }
}

/// Starts the task that handles a connection's notifications one by one.
fn in_order<S>(service: S, capacity: usize) -> mpsc::Sender<Request>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Request>(capacity.max(1));
    tokio::spawn(async move {
        // Runs until the connection is gone and every accepted notification
        // is handled.
        while let Some(notification) = rx.recv().await {
            let method = notification.method().to_owned();
            if let Err(err) = service.clone().oneshot(notification).await {
                let err: BoxError = err.into();
                tracing::debug!(%method, error = %err, "notification failed");
            }
        }
    });
    tx
}

/// What the connection writes for one frame, or of its own accord.
pub(crate) enum Outgoing {
    /// A notification, or a batch of them: nothing to answer.
    Nothing,
    One(Response),
    Batch(Vec<Response>),
    /// A subscription item, already serialized.
    Pushed(Bytes),
}

/// The service of one connection: parses frames, calls the inner service for
/// each request, and turns every failure into an answer.
struct PerConnection<S> {
    inner: S,
    context: Context,
    notifications: Option<mpsc::Sender<Request>>,
    /// The peer is not authorized: no request reaches `inner`.
    refused: bool,
    max_batch_size: usize,
    /// The shutdown deadline passed: answer what is in flight with an error.
    /// Shared through an `Arc`: a token's own clone and drop each take a
    /// lock, and every request holds one until it is answered.
    abort: Arc<CancellationToken>,
}

impl<S> Service<JsonFrame> for PerConnection<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
{
    type Response = Outgoing;
    type Error = BoxError;
    type Future = CallFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, frame: JsonFrame) -> Self::Future {
        let incoming = match frame {
            JsonFrame::Value(frame) => parse_incoming(&frame, &self.context, self.max_batch_size),
            JsonFrame::TooLarge(err, head) => Incoming::Single(Entry::Invalid(
                id_in_head(&head).unwrap_or_else(Id::null),
                ErrorObject::invalid_request(err),
            )),
        };
        match incoming {
            Incoming::Invalid(error) => ready(Outgoing::One(Response::error(Id::null(), error))),
            Incoming::Single(entry) => match entry.into_response() {
                Err(answer) => ready(Outgoing::One(answer)),
                Ok(request) => {
                    // `poll_ready` reserved `inner` for this call: take it,
                    // and leave a clone to be made ready for the next.
                    let clone = self.inner.clone();
                    let mut ready = std::mem::replace(&mut self.inner, clone);
                    if let (Some(id), false) = (request.id(), self.refused) {
                        // The common case, unboxed: a request to answer.
                        let id = id.clone();
                        let span = request_span(request.method(), Some(&id));
                        return CallFuture::Calling {
                            id: Some(id),
                            calling: ready.call(request).instrument(span),
                            started: started(),
                            abort: self.abort.clone(),
                            deadline: None,
                        };
                    }
                    let answering = self.dispatch(ready, request, Reserved::Yes);
                    CallFuture::Boxed {
                        boxed: Box::pin(async move {
                            let answer = answering.await;
                            Ok(answer.map_or(Outgoing::Nothing, |answer| {
                                activate(&answer);
                                Outgoing::One(answer)
                            }))
                        }),
                    }
                }
            },
            Incoming::Batch(entries) => {
                let answers: Vec<_> = entries
                    .into_iter()
                    .map(|entry| match entry.into_response() {
                        Err(answer) => ready_answer(answer),
                        Ok(request) => self.dispatch(self.inner.clone(), request, Reserved::No),
                    })
                    .collect();
                CallFuture::Boxed {
                    boxed: Box::pin(async move {
                        let answers: Vec<Response> =
                            join_all(answers).await.into_iter().flatten().collect();
                        answers.iter().for_each(activate);
                        Ok(if answers.is_empty() {
                            Outgoing::Nothing
                        } else {
                            Outgoing::Batch(answers)
                        })
                    }),
                }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// What the connection waits on for one frame: boxed only for what is
    /// not a single request (a batch, a queued notification), so a request
    /// costs no allocation of its own here.
    #[project = CallProjection]
    pub(crate) enum CallFuture<F> {
        /// A request (it has an id) in the inner service. The shutdown
        /// deadline is watched only once the request is found pending, so a
        /// request answered at once costs nothing for it.
        Calling {
            id: Option<Id>,
            #[pin]
            calling: Instrumented<F>,
            started: Option<Instant>,
            abort: Arc<CancellationToken>,
            deadline: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
        },
        /// An answer known at once.
        Ready { answer: Option<Outgoing> },
        Boxed { boxed: BoxFuture<'static, Result<Outgoing, BoxError>> },
    }
}

impl<F, E> Future for CallFuture<F>
where
    F: Future<Output = Result<Response, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Outgoing, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        match self.project() {
            CallProjection::Calling {
                id,
                mut calling,
                started,
                abort,
                deadline,
            } => {
                let answer = match calling.as_mut().poll(cx) {
                    // With an id, `settle` never names the method.
                    Poll::Ready(outcome) => settle(id.take(), "", outcome),
                    Poll::Pending => {
                        let deadline = deadline.get_or_insert_with(|| {
                            Box::pin(CancellationToken::clone(abort).cancelled_owned())
                        });
                        std::task::ready!(deadline.as_mut().poll(cx));
                        id.take().map(cancelled)
                    }
                };
                {
                    let _in_span = calling.span().enter();
                    log_outcome(*started, answer.as_ref());
                }
                Poll::Ready(Ok(answer.map_or(Outgoing::Nothing, |answer| {
                    activate(&answer);
                    Outgoing::One(answer)
                })))
            }
            CallProjection::Ready { answer } => Poll::Ready(Ok(answer
                .take()
                .expect("CallFuture polled after completion"))),
            CallProjection::Boxed { boxed } => boxed.as_mut().poll(cx),
        }
    }
}

/// Whether a service handed to [`PerConnection::dispatch`] was made ready.
enum Reserved {
    Yes,
    No,
}

impl<S> PerConnection<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
{
    /// Calls `service` for one request: the answer, or `None` for a
    /// notification. Traced in a `request` span with the method and id;
    /// answered with an error if the shutdown deadline passes first.
    fn dispatch(
        &self,
        mut service: S,
        request: Request,
        reserved: Reserved,
    ) -> BoxFuture<'static, Option<Response>> {
        let id = request.id().cloned();
        let method = request.method().to_owned();
        if self.refused {
            tracing::debug!(%method, "call refused: peer not authorized");
            let answer = id.map(|id| {
                Response::error(
                    id,
                    ErrorObject::new(
                        ErrorObject::UNAUTHORIZED,
                        "not authorized to call this server",
                    ),
                )
            });
            return Box::pin(std::future::ready(answer));
        }
        if id.is_none()
            && let Some(queue) = self.notifications.clone()
        {
            return Box::pin(async move {
                // Waiting for room here holds back the connection's reading.
                let _ = queue.send(request).await;
                None
            });
        }
        let span = request_span(&method, id.as_ref());
        let calling = match reserved {
            Reserved::Yes => Either::Left(service.call(request)),
            Reserved::No => Either::Right(service.oneshot(request)),
        };
        let abort = self.abort.clone();
        let answering = async move {
            let started = started();
            let answer = tokio::select! {
                biased;
                outcome = calling => settle(id, &method, outcome),
                () = abort.cancelled() => id.map(cancelled),
            };
            log_outcome(started, answer.as_ref());
            answer
        };
        Box::pin(answering.instrument(span))
    }
}

/// The span a request runs in.
fn request_span(method: &str, id: Option<&Id>) -> tracing::Span {
    tracing::debug_span!("request", %method, id = id.map_or("none", Id::as_json))
}

/// When a request started, if its duration will be logged.
fn started() -> Option<Instant> {
    tracing::enabled!(tracing::Level::DEBUG).then(Instant::now)
}

/// Logs a request's duration and outcome (at debug level, in its span).
fn log_outcome(started: Option<Instant>, answer: Option<&Response>) {
    let Some(started) = started else {
        return;
    };
    let duration = started.elapsed();
    match answer.and_then(Response::error_object) {
        None => tracing::debug!(?duration, outcome = "ok", "request done"),
        Some(error) => tracing::debug!(
            ?duration,
            outcome = "error",
            code = error.code(),
            "request failed"
        ),
    }
}

/// The answer to a request the shutdown deadline cut short.
fn cancelled(id: Id) -> Response {
    Response::error(
        id,
        ErrorObject::new(
            ErrorObject::SHUTTING_DOWN,
            "cancelled: the server is shutting down",
        ),
    )
}

/// The answer to send, from what the service returned.
fn settle<E: Into<BoxError>>(
    id: Option<Id>,
    method: &str,
    outcome: Result<Response, E>,
) -> Option<Response> {
    match (id, outcome) {
        (Some(_), Ok(answer)) => Some(answer),
        (Some(id), Err(err)) => Some(Response::error(id, error_object(err.into()))),
        (None, Ok(_)) => None,
        (None, Err(err)) => {
            tracing::debug!(%method, error = %err.into(), "notification failed");
            None
        }
    }
}

/// The error object for an error returned by middleware.
fn error_object(err: BoxError) -> ErrorObject {
    let err = match err.downcast::<ErrorObject>() {
        Ok(object) => return *object,
        Err(err) => err,
    };
    if err.is::<tower::timeout::error::Elapsed>() {
        ErrorObject::new(ErrorObject::TIMEOUT, "request timed out")
    } else if err.is::<tower::load_shed::error::Overloaded>() {
        ErrorObject::new(ErrorObject::LIMIT_EXCEEDED, "server overloaded")
    } else {
        ErrorObject::internal_error(err)
    }
}

/// Lets the subscriptions an answer opened start pushing: the answer is
/// about to be written, ahead of any of their items.
fn activate(answer: &Response) {
    if let Some(activation) = &answer.activation {
        activation.activate();
    }
}

fn ready<F>(outgoing: Outgoing) -> CallFuture<F> {
    CallFuture::Ready {
        answer: Some(outgoing),
    }
}

fn ready_answer(answer: Response) -> BoxFuture<'static, Option<Response>> {
    Box::pin(std::future::ready(Some(answer)))
}

/// Subscription items, as the connection writes them.
struct Pushed(Outbox);

impl Stream for Pushed {
    type Item = Outgoing;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Outgoing>> {
        Pin::new(&mut self.0)
            .poll_next(cx)
            .map(|item| item.map(Outgoing::Pushed))
    }
}

/// JSON framing that hands oversized values up as frames (to be answered)
/// and writes answers straight into the connection's write buffer.
#[derive(Clone)]
struct ServerCodec(JsonCodec);

impl Decoder for ServerCodec {
    type Item = JsonFrame;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<JsonFrame>> {
        self.0.decode_frame(src)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<JsonFrame>> {
        self.0.decode_frame_eof(src)
    }
}

impl Encoder<Outgoing> for ServerCodec {
    type Error = io::Error;

    fn encode(&mut self, outgoing: Outgoing, dst: &mut BytesMut) -> io::Result<()> {
        match outgoing {
            Outgoing::Nothing => Ok(()),
            Outgoing::One(answer) => self.0.encode_with(dst, |dst| {
                answer.write_json(dst);
                Ok(())
            }),
            Outgoing::Batch(answers) => self.0.encode_with(dst, |dst| {
                dst.put_u8(b'[');
                for (i, answer) in answers.iter().enumerate() {
                    if i > 0 {
                        dst.put_u8(b',');
                    }
                    answer.write_json(dst);
                }
                dst.put_u8(b']');
                Ok(())
            }),
            Outgoing::Pushed(message) => self.0.encode_with(dst, |dst| {
                dst.put_slice(&message);
                Ok(())
            }),
        }
    }
}
