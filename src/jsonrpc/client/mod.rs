//! [`JsonRpcClient`]: calls multiplexed by id over one connection, and the
//! server's calls answered by a service of the client's.

mod codec;
mod error;
mod incoming;
mod matching;
mod reply;
mod subscription;

pub use error::CallError;
pub use subscription::SubscriptionStream;

pub(crate) use matching::{ById, Command};

use std::{
    fmt,
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::{BufMut, BytesMut};
use serde::{Serialize, de::DeserializeOwned};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::oneshot,
};
use tokio_util::codec::Framed;
use tower::{BoxError, Service};

use reply::Answer;

use super::{
    Call, Request, Response, Subscription,
    wire::write::{WireId, write_head, write_json, write_request},
};
use crate::{
    Endpoint,
    client::{
        Error,
        engine::{self, EndpointConnect, Shared, WaitEntry},
        future::ResponseFuture,
    },
    codec::JsonCodec,
    transport::IpcStream,
};

/// A JSON-RPC client: typed calls, notifications, batches and subscriptions,
/// multiplexed by id over one connection. Cheap to clone; clones share the
/// connection.
///
/// ```no_run
/// use std::time::Duration;
/// use tower_ipc::{Endpoint, jsonrpc::JsonRpcClient};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let client = JsonRpcClient::builder()
///     .reconnect(Duration::from_secs(5))
///     .connect(&Endpoint::new("calc"))
///     .await?;
/// let sum: i64 = client.call("add", (1, 2)).await?;
/// assert_eq!(sum, 3);
/// # Ok(())
/// # }
/// ```
///
/// It is also a [`tower::Service`]`<`[`Request`]`>` answering [`Response`]s, so
/// tower middleware (timeouts, retries, rate limits) wraps it. The client
/// numbers requests on the wire itself; the answer carries the id the
/// caller's request had.
///
/// A connection is a peer's: the server may call and notify its client too.
/// A client given a service with [`Builder::serve`] (a
/// [`Router`](super::Router), say) answers the server's calls with it;
/// without one, they are answered with a method-not-found error and its
/// notifications are logged at debug level. A server's handlers hold a
/// `JsonRpcClient` for the connection they serve, in their
/// [`CallContext`](super::CallContext).
///
/// # Backpressure
///
/// A message holds a place from the moment it is queued until it is
/// answered (or, for a notification, written): [`Builder::buffer`] messages
/// may wait and [`Builder::max_in_flight`] calls may be unanswered. Callers
/// wait (in `poll_ready`, or inside the `async` methods) rather than fill
/// memory.
///
/// # Errors
///
/// When the connection closes or fails, every call in flight fails at once
/// and every subscription ends with an error. Without
/// [`reconnect`](Builder::reconnect), later calls fail too; with it, the next
/// call connects again.
pub struct JsonRpcClient {
    shared: Arc<Shared<ById>>,
    /// A place in the queue reserved by `poll_ready`, for `call` to fill.
    reserved: bool,
    /// Where this handle waits for room in `poll_ready`, if it does.
    waiting: WaitEntry,
    /// Whether this handle keeps the client going: not the one a service's
    /// context holds, which would otherwise keep its own connection open.
    counted: bool,
}

impl JsonRpcClient {
    /// A client on an open connection, with the default settings.
    ///
    /// # Panics
    ///
    /// Panics outside a Tokio runtime: the connection runs on its own task.
    pub fn new<T>(io: T) -> Self
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        Builder::new().build(io)
    }

    /// Settings for a client.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// A handle on `shared` that does not keep it going.
    pub(crate) fn uncounted(shared: Arc<Shared<ById>>) -> Self {
        Self {
            shared,
            reserved: false,
            waiting: None,
            counted: false,
        }
    }

    /// The engine this handle queues on.
    pub(crate) fn engine(&self) -> &Arc<Shared<ById>> {
        &self.shared
    }

    fn next_id(&self) -> u64 {
        self.shared.next_id()
    }

    fn answer(&self, slot: usize) -> ResponseFuture<Answer> {
        ResponseFuture::waiting(self.shared.clone(), slot)
    }

    /// Calls `method` with `params` (a tuple or array for params by position,
    /// a struct or map for params by name, `()` for none) and parses the
    /// result into `T`.
    ///
    /// # Errors
    ///
    /// [`CallError::Rpc`] when the server answers with an error,
    /// [`CallError::Connection`] when no answer comes, [`CallError::Serde`]
    /// when the params do not serialize or the result does not parse.
    pub async fn call<T, P>(&self, method: &str, params: P) -> Result<T, CallError>
    where
        T: DeserializeOwned,
        P: Serialize,
    {
        let id = self.next_id();
        // Params are serialized straight into the message: no buffer of
        // their own, no copy.
        let message = call_json(id, method, &params)?;
        self.send_message(id, message, true, None)
            .await?
            .into_result()
    }

    /// Sends a notification: `method` is called and nothing is answered.
    /// Completes once the message is written.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call), without an error answer.
    pub async fn notify<P: Serialize>(&self, method: &str, params: P) -> Result<(), CallError> {
        let params = params_json(&params)?;
        let message = request_json(None, method, params.as_deref());
        Ok(self.notify_message(message).await?)
    }

    /// Sends `requests` as one batch. Requests with an id (see
    /// [`Request::with_id`]; the client renumbers them) are answered, in the
    /// order given; notifications are not.
    ///
    /// ```
    /// use tower_ipc::{Endpoint, jsonrpc::{ErrorObject, Id, JsonRpc, JsonRpcClient, Request, Router}};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// # let endpoint = Endpoint::new(format!("tower-ipc-doc-batch-{}", std::process::id()));
    /// let router = Router::new()
    ///     .method("add", |(a, b): (i64, i64)| async move { Ok::<_, ErrorObject>(a + b) });
    /// tokio::spawn(tower_ipc::serve(endpoint.bind().await?, JsonRpc::new(), router).into_future());
    /// let client = JsonRpcClient::new(endpoint.connect().await?);
    ///
    /// let answers = client
    ///     .batch([
    ///         Request::new("add").with_params(&(1, 2))?.with_id(Id::from(1)),
    ///         Request::new("add").with_params(&(3, 4))?.with_id(Id::from(2)),
    ///         Request::new("nope").with_id(Id::from(3)),
    ///     ])
    ///     .await?;
    /// assert_eq!(answers[0].clone().into_result::<i64>()?, 3);
    /// assert_eq!(answers[1].clone().into_result::<i64>()?, 7);
    /// assert_eq!(answers[2].error_object().unwrap().code(), ErrorObject::METHOD_NOT_FOUND);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`CallError::Connection`] when the answers do not come.
    pub async fn batch(
        &self,
        requests: impl IntoIterator<Item = Request>,
    ) -> Result<Vec<Response>, CallError> {
        let mut message = BytesMut::new();
        let mut ids = Vec::new();
        message.put_u8(b'[');
        for (i, request) in requests.into_iter().enumerate() {
            if i > 0 {
                message.put_u8(b',');
            }
            let id = (!request.is_notification()).then(|| self.next_id());
            let wire_id = id.map(WireId::Number);
            write_request(
                &mut message,
                wire_id,
                request.method(),
                request.raw_params(),
            );
            ids.extend(id);
        }
        message.put_u8(b']');
        if message.len() == 2 {
            return Ok(Vec::new());
        }
        if ids.is_empty() {
            self.notify_message(message).await?;
            return Ok(Vec::new());
        }
        let slots = self
            .shared
            .queue(|slots, _| {
                let calls: Vec<_> = ids.into_iter().map(|id| (id, slots.insert())).collect();
                let taken = calls.iter().map(|&(_, slot)| slot).collect::<Vec<_>>();
                (Command::Batch { message, calls }, taken)
            })
            .await?;
        // Every slot gets its future at once, so that those not awaited
        // yet are abandoned if this future is dropped.
        let answers: Vec<_> = slots.into_iter().map(|slot| self.answer(slot)).collect();
        let mut responses = Vec::with_capacity(answers.len());
        for answer in answers {
            responses.push(answer.await?.into_parsed());
        }
        Ok(responses)
    }

    /// Opens a subscription with `subscription`'s subscribe method and
    /// `params`; its items arrive on the returned stream, parsed into `T`.
    /// The stream buffers up to the subscription's
    /// [`buffer`](Subscription::buffer) items; a consumer further behind ends
    /// it with an error. Dropping the stream unsubscribes.
    ///
    /// ```
    /// use futures::{StreamExt, stream};
    /// use tower_ipc::{Endpoint, jsonrpc::{ErrorObject, JsonRpc, JsonRpcClient, Router, Subscription}};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// # let endpoint = Endpoint::new(format!("tower-ipc-doc-subscribe-{}", std::process::id()));
    /// let squares = Subscription::new("squares_subscribe", "squares", "squares_unsubscribe");
    /// // Three items, then the subscription stays open with nothing to say.
    /// let router = Router::new().subscription(squares.clone(), |(): ()| async move {
    ///     Ok::<_, ErrorObject>(stream::iter([1u64, 4, 9]).chain(stream::pending()))
    /// });
    /// tokio::spawn(tower_ipc::serve(endpoint.bind().await?, JsonRpc::new(), router).into_future());
    /// let client = JsonRpcClient::new(endpoint.connect().await?);
    ///
    /// let mut items = client.subscribe::<u64, _>(&squares, ()).await?;
    /// let first: Vec<u64> = (&mut items).take(3).map(Result::unwrap).collect().await;
    /// assert_eq!(first, [1, 4, 9]);
    /// assert!(items.unsubscribe().await?); // the server still had it
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call); also [`CallError::Serde`] when the server's
    /// answer is not a subscription id.
    pub async fn subscribe<T, P>(
        &self,
        subscription: &Subscription,
        params: P,
    ) -> Result<SubscriptionStream<T>, CallError>
    where
        T: DeserializeOwned,
        P: Serialize,
    {
        let params = params_json(&params)?;
        let id = self.next_id();
        let message = request_json(Some(id), subscription.subscribe_method(), params.as_deref());
        let (opened, answer) = oneshot::channel();
        let buffer = subscription.buffer_len();
        self.shared
            .queue(|_, _| {
                let subscribe = Command::Subscribe {
                    id,
                    message,
                    buffer,
                    opened: Some(opened),
                };
                (subscribe, ())
            })
            .await?;
        let (response, items) = answer.await.unwrap_or_else(|_| Err(Error::closed()))?;
        let _: serde_json::Value = reply::parsed_into(response)?;
        let (subscription_id, items) = items.ok_or_else(|| {
            CallError::Serde(serde::de::Error::custom(
                "the subscription id is neither a string nor a number",
            ))
        })?;
        Ok(SubscriptionStream::new(
            subscription_id,
            items,
            self.clone(),
            subscription.unsubscribe_method().into(),
        ))
    }

    /// Sends a call and waits for its answer; `forget` stops routing a
    /// subscription's items first (for unsubscribing).
    async fn send_call(
        &self,
        method: &str,
        params: Option<&[u8]>,
        forget: Option<matching::SubscriptionId>,
    ) -> Result<Response, Error> {
        let id = self.next_id();
        let message = request_json(Some(id), method, params);
        Ok(self
            .send_message(id, message, false, forget)
            .await?
            .into_parsed())
    }

    /// Sends a call's message (with the id `id`) and waits for its answer,
    /// which for a `typed` call may come unparsed.
    async fn send_message(
        &self,
        id: u64,
        message: BytesMut,
        typed: bool,
        forget: Option<matching::SubscriptionId>,
    ) -> Result<Answer, Error> {
        let slot = self
            .shared
            .queue(|slots, waker| {
                let slot = slots.insert_waking(Some(waker.clone()));
                let call = Command::Call {
                    id,
                    message,
                    slot,
                    typed,
                    caller_id: None,
                    forget,
                };
                (call, slot)
            })
            .await?;
        // Awaited in the poll that queued the call, whose waker the slot
        // holds: its first poll need not look.
        ResponseFuture::queued_in_this_poll(self.shared.clone(), slot).await
    }

    /// Sends a message that is not answered; completes once it is written.
    async fn notify_message(&self, message: BytesMut) -> Result<(), Error> {
        let slot = self
            .shared
            .queue(|slots, waker| {
                let slot = slots.insert_waking(Some(waker.clone()));
                (Command::Notify { message, slot }, slot)
            })
            .await?;
        ResponseFuture::queued_in_this_poll(self.shared.clone(), slot).await?;
        Ok(())
    }
}

impl Clone for JsonRpcClient {
    fn clone(&self) -> Self {
        self.shared.add_handle();
        Self {
            shared: self.shared.clone(),
            reserved: false,
            waiting: None,
            counted: true,
        }
    }
}

impl Drop for JsonRpcClient {
    fn drop(&mut self) {
        self.shared.drop_handle(self.counted, self.reserved);
    }
}

impl fmt::Debug for JsonRpcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonRpcClient")
            .field("closed", &self.shared.is_closed())
            .finish()
    }
}

impl tower::Service<Request> for JsonRpcClient {
    type Response = Response;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Error>> + Send>>;

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

    /// Sends `request` as a call (a request without an id too), and
    /// resolves to its answer, which carries the id `request` had.
    fn call(&mut self, request: Request) -> Self::Future {
        if !std::mem::take(&mut self.reserved) {
            let err = if self.shared.is_closed() {
                Error::closed()
            } else {
                Error::not_ready()
            };
            return Box::pin(std::future::ready(Err(err)));
        }
        let id = self.next_id();
        let message = request_json(Some(id), request.method(), request.raw_params());
        let caller_id = request.id().cloned();
        let pushed = self.shared.push(|slots| {
            let slot = slots.insert();
            let call = Command::Call {
                id,
                message,
                slot,
                typed: false,
                caller_id,
                forget: None,
            };
            (call, slot)
        });
        let answer = pushed.map(|slot| self.answer(slot));
        Box::pin(async move {
            let answer = answer.ok_or_else(Error::closed)?;
            Ok(answer.await?.into_parsed())
        })
    }
}

/// Settings for a [`JsonRpcClient`].
#[derive(Clone)]
pub struct Builder {
    codec: JsonCodec,
    buffer: usize,
    max_in_flight: usize,
    reconnect: Option<Duration>,
    serve: Option<incoming::Serve>,
}

impl Builder {
    /// Messages that may wait for the connection task unless set otherwise.
    pub const DEFAULT_BUFFER: usize = 64;
    /// Unanswered calls on the connection unless set otherwise.
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;

    /// The default settings: the JSON stream framing, no reconnection, no
    /// service for the server's calls.
    pub fn new() -> Self {
        Self {
            codec: JsonCodec::new(),
            buffer: Self::DEFAULT_BUFFER,
            max_in_flight: Self::DEFAULT_MAX_IN_FLIGHT,
            reconnect: None,
            serve: None,
        }
    }

    /// Uses `codec` for framing (another framing, another maximum frame
    /// length).
    #[must_use]
    pub fn codec(mut self, codec: JsonCodec) -> Self {
        self.codec = codec;
        self
    }

    /// Sets how many messages may wait for the connection task (at least 1).
    #[must_use]
    pub fn buffer(mut self, buffer: usize) -> Self {
        self.buffer = buffer.max(1);
        self
    }

    /// Sets how many calls may be unanswered at once (at least 1).
    #[must_use]
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max.max(1);
        self
    }

    /// After the connection is lost, connects again (waiting up to `timeout`
    /// for the server) when the next call is made. Calls in flight when it
    /// was lost still fail, and subscriptions end: open them again.
    /// Applies to clients made with [`connect`](Self::connect).
    #[must_use]
    pub fn reconnect(mut self, timeout: Duration) -> Self {
        self.reconnect = Some(timeout);
        self
    }

    /// Answers the server's calls and notifications with `service` (a
    /// [`Router`](super::Router), typically), as an editor answers its
    /// language server's `workspace/configuration`. Its calls run
    /// concurrently, up to 64 at once and 64 waiting (past that they are
    /// answered with a limit error); its notifications are handled one at a
    /// time, in the order they came. The service's
    /// [`CallContext`](super::CallContext) holds this client, to call the server
    /// back.
    ///
    /// ```no_run
    /// use tower_ipc::{Endpoint, jsonrpc::{CallContext, ErrorObject, JsonRpcClient, Router}};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// let editor = Router::new()
    ///     .method("workspace/configuration", |_: serde_json::Value| async move {
    ///         Ok::<_, ErrorObject>(serde_json::json!([{ "tabSize": 4 }]))
    ///     })
    ///     .method("window/logMessage", |(message,): (serde_json::Value,)| async move {
    ///         println!("server says: {message}");
    ///         Ok::<_, ErrorObject>(())
    ///     });
    /// let client = JsonRpcClient::builder()
    ///     .serve(editor)
    ///     .connect(&Endpoint::new("language-server"))
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn serve<S>(mut self, service: S) -> Self
    where
        S: Service<Call, Response = Response> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError> + Send + 'static,
    {
        self.serve = Some(incoming::Serve::new(service));
        self
    }

    /// Connects to `endpoint` (waiting up to the reconnect timeout for the
    /// server, if one is set) and starts a client.
    ///
    /// # Errors
    ///
    /// The connection error, naming the endpoint.
    pub async fn connect(&self, endpoint: &Endpoint) -> io::Result<JsonRpcClient> {
        let stream = match self.reconnect {
            Some(timeout) => endpoint.connect_timeout(timeout).await?,
            None => endpoint.connect().await?,
        };
        let reconnect = self.reconnect.map(|timeout| {
            let codec = self.codec.clone();
            let make = move |stream: IpcStream| framed(stream, &codec);
            Box::new(EndpointConnect::new(endpoint.clone(), timeout, make)) as _
        });
        Ok(self.start(framed(stream, &self.codec), reconnect))
    }

    /// Starts a client on an open connection.
    ///
    /// # Panics
    ///
    /// Panics outside a Tokio runtime: the connection runs on its own task.
    pub fn build<T>(&self, io: T) -> JsonRpcClient
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        self.start(framed(io, &self.codec), None)
    }

    fn start<T>(
        &self,
        transport: Transport<T>,
        reconnect: Option<Box<dyn engine::Connect<Transport<T>>>>,
    ) -> JsonRpcClient
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (shared, incoming) = match &self.serve {
            None => (Arc::new(peer(None, self.buffer, self.max_in_flight)), None),
            Some(serve) => {
                let (sender, requests) = incoming::channel();
                let shared = Arc::new(peer(Some(sender), self.buffer, self.max_in_flight));
                (shared, Some((serve, requests)))
            }
        };
        if let Some((serve, requests)) = incoming {
            serve.spawn(requests, &shared);
        }
        tokio::spawn(engine::Driver::new(
            shared.clone(),
            transport,
            reconnect,
            self.max_in_flight,
        ));
        JsonRpcClient {
            shared,
            reserved: false,
            waiting: None,
            counted: true,
        }
    }
}

/// A client's connection, framed. Pinned on the heap, the stream is `Unpin`.
type Transport<T> = Framed<Pin<Box<T>>, codec::Messages>;

/// Frames `io` for a client.
fn framed<T>(io: T, json: &JsonCodec) -> Transport<T>
where
    T: AsyncRead + AsyncWrite,
{
    Framed::new(Box::pin(io), codec::Messages(json.clone()))
}

/// The engine of a JSON-RPC peer's calls, with `incoming` for the calls it
/// receives.
pub(crate) fn peer(
    incoming: Option<tokio::sync::mpsc::Sender<Request>>,
    buffer: usize,
    max_in_flight: usize,
) -> Shared<ById> {
    Shared::new(ById::new(incoming), buffer, max_in_flight)
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("codec", &self.codec)
            .field("buffer", &self.buffer)
            .field("max_in_flight", &self.max_in_flight)
            .field("reconnect", &self.reconnect)
            .field("serves", &self.serve.is_some())
            .finish()
    }
}

/// The JSON of `params`, or `None` for `()`/`null`.
fn params_json<P: Serialize>(params: &P) -> Result<Option<Vec<u8>>, CallError> {
    let json = serde_json::to_vec(params).map_err(CallError::Serde)?;
    match json.first() {
        Some(b'[' | b'{') => Ok(Some(json)),
        _ if json == b"null" => Ok(None),
        _ => Err(CallError::Serde(serde::ser::Error::custom(
            "params must serialize to an array or an object (use a tuple for params by position)",
        ))),
    }
}

/// A call's message with `params` serialized in place; `()` (or anything
/// that serializes to `null`) sends no params.
fn call_json<P: Serialize>(id: u64, method: &str, params: &P) -> Result<BytesMut, CallError> {
    let mut message = BytesMut::with_capacity(128 + method.len());
    write_head(&mut message, Some(WireId::Number(id)), method);
    let without_params = message.len();
    message.put_slice(br#","params":"#);
    let start = message.len();
    write_json(&mut message, params).map_err(CallError::Serde)?;
    match message[start..].first() {
        Some(b'[' | b'{') => {}
        _ if &message[start..] == b"null" => message.truncate(without_params),
        _ => {
            return Err(CallError::Serde(serde::ser::Error::custom(
                "params must serialize to an array or an object (use a tuple for params by position)",
            )));
        }
    }
    message.put_u8(b'}');
    Ok(message)
}

fn request_json(id: Option<u64>, method: &str, params: Option<&[u8]>) -> BytesMut {
    let mut message = BytesMut::with_capacity(48 + method.len() + params.map_or(0, <[u8]>::len));
    write_request(&mut message, id.map(WireId::Number), method, params);
    message
}
