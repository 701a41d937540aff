//! The connection a service's typed client calls through.

use std::{
    borrow::Cow,
    collections::HashMap,
    fmt, io,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll, ready},
};

use bytes::{Bytes, BytesMut};
use futures::{Sink, Stream, StreamExt, stream::BoxStream};
use serde::{Serialize, de::DeserializeOwned};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::mpsc,
};
use tokio_util::codec::{Decoder, Encoder, Framed};
use tower::ServiceExt;

use super::{
    Error, MethodError, ServiceInfo,
    frames::{CALL, Head, NOTIFY, SUBSCRIBE, UNSUBSCRIBE},
    method_error,
    subscriptions::{END, ITEM},
};
use crate::{
    Client,
    jsonrpc::{CallError, JsonRpcClient, Subscription},
    typed::{DecodeError, Format, FormatKind, Frame, Rejected, Reply},
};

/// The connection under a service's typed client: JSON-RPC, or typed
/// frames in a serde format. Cheap to clone; clones share the connection.
///
/// A `#[tower_ipc::service]` trait's client is made from one
/// (`CalcClient::new(rpc)`), or through its own shortcuts.
#[derive(Clone)]
pub struct RpcClient(Inner);

#[derive(Clone)]
enum Inner {
    JsonRpc(JsonRpcClient),
    Frames {
        client: Client<Bytes, Bytes>,
        format: FormatKind,
        routes: Routes,
    },
}

/// Items a subscription's stream holds for a consumer that is behind; past
/// this the subscription ends with an error (as JSON-RPC's do).
const ITEMS_BUFFER: usize = Subscription::DEFAULT_BUFFER;

impl RpcClient {
    /// Calls in JSON-RPC through `client`.
    pub fn json_rpc(client: JsonRpcClient) -> Self {
        Self(Inner::JsonRpc(client))
    }

    /// Calls in typed frames of `codec`, in `format`, on `io` (the server
    /// serves [`Frames`](super::Frames) of the same codec and format).
    ///
    /// # Panics
    ///
    /// Panics outside a Tokio runtime: the connection runs on its own task.
    pub fn frames<T, C, F>(io: T, codec: C, format: F) -> Self
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
        C: Decoder<Error = io::Error> + Encoder<<C as Decoder>::Item, Error = io::Error>,
        C: Send + 'static,
        <C as Decoder>::Item: Frame + Send + 'static,
        F: Format,
    {
        let _ = format;
        let codec = AsBytes {
            inner: codec,
            format: F::NAME,
        };
        let routes = Routes::default();
        let transport = Demux {
            inner: Framed::new(io, codec),
            format: F::KIND,
            routes: routes.clone(),
        };
        Self(Inner::Frames {
            client: Client::new(transport),
            format: F::KIND,
            routes,
        })
    }

    /// Calls `method`, whose result is `R`.
    #[doc(hidden)]
    pub async fn call<P, R>(
        &self,
        info: &'static ServiceInfo,
        method: &'static str,
        params: &P,
    ) -> Result<R, Error>
    where
        P: Serialize,
        R: DeserializeOwned,
    {
        match self.request::<P, R>(info, method, params).await? {
            Ok(result) => Ok(result),
            Err(rejected) => Err(Error::refused(info, method, rejected)),
        }
    }

    /// Calls `method`, whose result is `Result<R, E>`.
    #[doc(hidden)]
    pub async fn call_fallible<P, R, E>(
        &self,
        info: &'static ServiceInfo,
        method: &'static str,
        params: &P,
    ) -> Result<Result<R, E>, Error>
    where
        P: Serialize,
        R: DeserializeOwned,
        E: MethodError,
    {
        match self.request::<P, R>(info, method, params).await? {
            Ok(result) => Ok(Ok(result)),
            Err(rejected) if is_protocol(rejected.code()) => {
                Err(Error::refused(info, method, rejected))
            }
            Err(rejected) => match E::from_rejected(rejected) {
                Ok(err) => Ok(Err(err)),
                Err(rejected) => Err(Error::refused(info, method, rejected)),
            },
        }
    }

    /// Sends a call and returns what the server answered.
    async fn request<P, R>(
        &self,
        info: &'static ServiceInfo,
        method: &'static str,
        params: &P,
    ) -> Result<Reply<R>, Error>
    where
        P: Serialize,
        R: DeserializeOwned,
    {
        match &self.0 {
            Inner::JsonRpc(client) => match client.call::<R, _>(method, params).await {
                Ok(result) => Ok(Ok(result)),
                Err(CallError::Rpc(object)) => Ok(Err(method_error::rejected(&object))),
                Err(err) => Err(json_rpc_error(info, method, err)),
            },
            Inner::Frames { client, format, .. } => {
                let frame = request_frame(info, method, *format, CALL, params)?;
                let answer = client
                    .clone()
                    .oneshot(frame)
                    .await
                    .map_err(|err| Error::connection(info, method, err))?;
                format.decode::<Reply<R>>(&answer).map_err(|err| {
                    let err = DecodeError::new::<Reply<R>>(answer.len(), format.name(), err);
                    Error::format(info, method, err)
                })
            }
        }
    }

    /// Sends a notification of `method`: it runs, and its result is not
    /// sent. Completes once the message is written (JSON-RPC), or once the
    /// server acknowledged it (typed frames, whose answers come in order).
    #[doc(hidden)]
    pub async fn notify<P: Serialize>(
        &self,
        info: &'static ServiceInfo,
        method: &'static str,
        params: &P,
    ) -> Result<(), Error> {
        match &self.0 {
            Inner::JsonRpc(client) => client
                .notify(method, params)
                .await
                .map_err(|err| json_rpc_error(info, method, err)),
            Inner::Frames { client, format, .. } => {
                let frame = request_frame(info, method, *format, NOTIFY, params)?;
                // Answers come in order, so the server acknowledges a
                // notification too; waiting for that is what tells that the
                // message left (a connection skips calls nobody waits for).
                client
                    .clone()
                    .oneshot(frame)
                    .await
                    .map_err(|err| Error::connection(info, method, err))?;
                Ok(())
            }
        }
    }

    /// Opens the subscription `method`; its items arrive on the stream.
    #[doc(hidden)]
    pub async fn subscribe<P, T>(
        &self,
        info: &'static ServiceInfo,
        method: &'static str,
        subscription: &Subscription,
        params: &P,
    ) -> Result<Items<T>, Error>
    where
        P: Serialize,
        T: DeserializeOwned + Send + 'static,
    {
        match &self.0 {
            Inner::JsonRpc(client) => {
                let items = client
                    .subscribe::<T, _>(subscription, params)
                    .await
                    .map_err(|err| match err {
                        CallError::Rpc(object) => {
                            Error::refused(info, method, method_error::rejected(&object))
                        }
                        err => json_rpc_error(info, method, err),
                    })?;
                Ok(Items(
                    items
                        .map(move |item| item.map_err(|err| json_rpc_error(info, method, err)))
                        .boxed(),
                ))
            }
            Inner::Frames {
                client,
                format,
                routes,
            } => {
                // The id is ours, so that items arriving right after the
                // answer already have somewhere to go.
                let id = routes.0.next.fetch_add(1, Ordering::Relaxed);
                let (sender, receiver) = mpsc::channel(ITEMS_BUFFER + 1);
                routes.lock().insert(id, sender);
                let opened = async {
                    let frame = request_frame(info, method, *format, SUBSCRIBE, &(id, params))?;
                    let answer = client
                        .clone()
                        .oneshot(frame)
                        .await
                        .map_err(|err| Error::connection(info, method, err))?;
                    match format.decode::<Reply<()>>(&answer) {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(rejected)) => Err(Error::refused(info, method, rejected)),
                        Err(err) => Err(Error::format(
                            info,
                            method,
                            DecodeError::new::<Reply<()>>(answer.len(), format.name(), err),
                        )),
                    }
                };
                if let Err(err) = opened.await {
                    routes.lock().remove(&id);
                    return Err(err);
                }
                let items = FramesItems::<T> {
                    receiver,
                    id,
                    client: client.clone(),
                    format: *format,
                    routes: routes.clone(),
                    info,
                    method,
                    over: false,
                    _items: std::marker::PhantomData,
                };
                Ok(Items(items.boxed()))
            }
        }
    }
}

impl fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::JsonRpc(client) => f.debug_tuple("RpcClient::JsonRpc").field(client).finish(),
            Inner::Frames { format, .. } => f
                .debug_struct("RpcClient::Frames")
                .field("format", &format.name())
                .finish_non_exhaustive(),
        }
    }
}

impl From<JsonRpcClient> for RpcClient {
    fn from(client: JsonRpcClient) -> Self {
        Self::json_rpc(client)
    }
}

/// The codes of calls the server could not take, as opposed to the
/// method's own errors.
fn is_protocol(code: i64) -> bool {
    matches!(
        code,
        -32700 | Rejected::INVALID_REQUEST | Rejected::METHOD_NOT_FOUND | Rejected::INVALID_PARAMS
    )
}

fn json_rpc_error(info: &'static ServiceInfo, method: &'static str, err: CallError) -> Error {
    match err {
        CallError::Rpc(object) => Error::refused(info, method, method_error::rejected(&object)),
        CallError::Connection(err) => Error::connection(info, method, err),
        err => Error::format(info, method, err),
    }
}

fn request_frame<P: Serialize>(
    info: &'static ServiceInfo,
    method: &'static str,
    format: FormatKind,
    kind: u8,
    params: &P,
) -> Result<Bytes, Error> {
    let mut frame = BytesMut::new();
    format
        .encode(&(Head(kind, Cow::Borrowed(method)), params), &mut frame)
        .map_err(|err| {
            let err = crate::typed::EncodeError::new::<P>(format.name(), err);
            Error::format(info, method, err)
        })?;
    Ok(frame.freeze())
}

/// A subscription's items, as a service's client receives them. Dropping
/// it unsubscribes.
pub struct Items<T>(BoxStream<'static, Result<T, Error>>);

impl<T> Stream for Items<T> {
    type Item = Result<T, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.as_mut().poll_next(cx)
    }
}

impl<T> fmt::Debug for Items<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Items").finish_non_exhaustive()
    }
}

/// Where each open subscription's items go, by id.
#[derive(Clone, Default)]
struct Routes(Arc<RoutesShared>);

#[derive(Default)]
struct RoutesShared {
    next: AtomicU64,
    streams: Mutex<HashMap<u64, mpsc::Sender<Pushed>>>,
}

impl Routes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, mpsc::Sender<Pushed>>> {
        self.0.streams.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the server pushed for one subscription.
enum Pushed {
    /// An item, serialized.
    Item(Bytes),
    /// The server ended the subscription, saying why if it failed.
    End(Option<Rejected>),
    /// The consumer fell [`ITEMS_BUFFER`] items behind.
    Lagged,
}

pin_project_lite::pin_project! {
    /// The transport under a frames client: subscription items are routed
    /// to their streams, and only answers reach the client.
    struct Demux<T> {
        #[pin]
        inner: T,
        format: FormatKind,
        routes: Routes,
    }
}

impl<T> Demux<T> {
    /// A pushed frame's kind and subscription, and its value; `None` for
    /// an answer.
    fn pushed(format: FormatKind, frame: &[u8]) -> Option<(u8, u64, &[u8])> {
        // Answers are `Ok`/`Err` (variants 0 and 1: a byte 0 or 1 in
        // postcard, an object in JSON); pushes start with 2 or 3 (in JSON,
        // in an array).
        let push = match frame.iter().find(|byte| !byte.is_ascii_whitespace()) {
            Some(b'[') => true,
            Some(&first) => first == ITEM || first == END,
            None => false,
        };
        if !push {
            return None;
        }
        let ((kind, id), value) = format.split::<(u8, u64)>(frame).ok()?;
        Some((kind, id, value))
    }

    fn route(format: FormatKind, routes: &Routes, frame: &Bytes) -> bool {
        let Some((kind, id, value)) = Self::pushed(format, frame) else {
            return false;
        };
        let mut streams = routes.lock();
        if kind == ITEM {
            let Some(stream) = streams.get(&id) else {
                // Unsubscribed; items already on their way are dropped.
                return true;
            };
            // The last place is kept for the end.
            if stream.capacity() > 1 {
                let _ = stream.try_send(Pushed::Item(frame.slice_ref(value)));
            } else if let Some(stream) = streams.remove(&id) {
                let _ = stream.try_send(Pushed::Lagged);
            }
        } else if let Some(stream) = streams.remove(&id) {
            let reason = format
                .decode::<Option<Rejected>>(value)
                .unwrap_or_else(|err| {
                    Some(Rejected::new(
                        Rejected::INTERNAL_ERROR,
                        format!("the end of the subscription does not decode: {err}"),
                    ))
                });
            let _ = stream.try_send(Pushed::End(reason));
        }
        true
    }
}

impl<T> Stream for Demux<T>
where
    T: Stream<Item = io::Result<Bytes>>,
{
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            match ready!(this.inner.as_mut().poll_next(cx)) {
                Some(Ok(frame)) if Self::route(*this.format, this.routes, &frame) => continue,
                other => return Poll::Ready(other),
            }
        }
    }
}

impl<T> Sink<Bytes> for Demux<T>
where
    T: Sink<Bytes, Error = io::Error>,
{
    type Error = io::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, frame: Bytes) -> io::Result<()> {
        self.project().inner.start_send(frame)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_close(cx)
    }
}

/// A subscription's items in the typed-frames form.
struct FramesItems<T> {
    receiver: mpsc::Receiver<Pushed>,
    id: u64,
    client: Client<Bytes, Bytes>,
    format: FormatKind,
    routes: Routes,
    info: &'static ServiceInfo,
    method: &'static str,
    /// Ended by the server: nothing to unsubscribe.
    over: bool,
    _items: std::marker::PhantomData<fn() -> T>,
}

impl<T> Unpin for FramesItems<T> {}

impl<T: DeserializeOwned> Stream for FramesItems<T> {
    type Item = Result<T, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.over {
            return Poll::Ready(None);
        }
        let (info, method, format) = (self.info, self.method, self.format);
        Poll::Ready(match ready!(self.receiver.poll_recv(cx)) {
            Some(Pushed::Item(item)) => Some(format.decode::<T>(&item).map_err(|err| {
                let err = DecodeError::new::<T>(item.len(), format.name(), err);
                Error::format(info, method, err)
            })),
            Some(Pushed::End(None)) | None => {
                self.over = true;
                None
            }
            Some(Pushed::End(Some(rejected))) => {
                self.over = true;
                Some(Err(Error::refused(info, method, rejected)))
            }
            Some(Pushed::Lagged) => {
                self.receiver.close();
                Some(Err(Error::format(
                    info,
                    method,
                    format!("subscription ended: this consumer fell {ITEMS_BUFFER} items behind"),
                )))
            }
        })
    }
}

impl<T> Drop for FramesItems<T> {
    fn drop(&mut self) {
        self.routes.lock().remove(&self.id);
        if self.over {
            return;
        }
        // Best effort: without a runtime, the server ends the subscription
        // when the connection closes.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Ok(frame) = request_frame(self.info, "", self.format, UNSUBSCRIBE, &self.id) else {
            return;
        };
        let client = self.client.clone();
        runtime.spawn(async move {
            let _ = client.oneshot(frame).await;
        });
    }
}

/// A frame codec seen as one of [`Bytes`].
struct AsBytes<C> {
    inner: C,
    format: &'static str,
}

impl<C> Decoder for AsBytes<C>
where
    C: Decoder<Error = io::Error>,
    C::Item: Frame,
{
    type Item = Bytes;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Bytes>> {
        Ok(self.inner.decode(src)?.map(Frame::into_payload))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<Bytes>> {
        Ok(self.inner.decode_eof(src)?.map(Frame::into_payload))
    }
}

impl<C> Encoder<Bytes> for AsBytes<C>
where
    C: Decoder + Encoder<<C as Decoder>::Item, Error = io::Error>,
    <C as Decoder>::Item: Frame,
{
    type Error = io::Error;

    fn encode(&mut self, payload: Bytes, dst: &mut BytesMut) -> io::Result<()> {
        self.inner.encode(
            <C as Decoder>::Item::from_payload(payload, self.format),
            dst,
        )
    }
}
