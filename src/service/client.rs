//! The connection a service's typed client calls through.

use std::{
    borrow::Cow,
    fmt, io,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt, stream::BoxStream};
use serde::{Serialize, de::DeserializeOwned};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Decoder, Encoder, Framed};
use tower::ServiceExt;

use super::{Error, MethodError, ServiceInfo, frames::Head, method_error};
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
    },
}

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
        let codec = AsBytes {
            inner: codec,
            format: F::NAME,
        };
        Self::frames_client(Client::new(Framed::new(io, codec)), format)
    }

    /// Calls in typed frames through `client`, a connection of raw frames
    /// (one made with [`Client::builder`] settings, or a supervised child
    /// process's).
    pub fn frames_client<F: Format>(client: Client<Bytes, Bytes>, format: F) -> Self {
        let _ = format;
        Self(Inner::Frames {
            client,
            format: F::KIND,
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
            Inner::Frames { client, format } => {
                let frame = request_frame(info, method, *format, super::frames::CALL, params)?;
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
            Inner::Frames { client, format } => {
                let frame = request_frame(info, method, *format, super::frames::NOTIFY, params)?;
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
            Inner::Frames { .. } => Err(Error::refused(
                info,
                method,
                Rejected::new(
                    Rejected::METHOD_NOT_FOUND,
                    "subscriptions are carried by the JSON-RPC form only",
                ),
            )),
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
