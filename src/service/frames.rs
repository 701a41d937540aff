//! The typed-frames wire form of a service: calls by method name, in the
//! frames of any codec, in a serde format.

use std::{borrow::Cow, fmt, future::Future, io, marker::PhantomData};

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Decoder, Encoder};
use tower::{BoxError, Service};

use super::ServiceInfo;
use crate::{
    server::{Closed, Connecting, Protocol},
    typed::{Format, FormatKind, Frame, Rejected, Reply, server::Answering},
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
/// A request is the pair `((kind, method), params)`: kind 0 for a call, 1
/// for a notification, the method's name, and its params as a sequence
/// (a JSON array; in postcard, a length and the values). An answer is a
/// [`Reply`]: `Ok(result)`, or `Err(`[`Rejected`]`)` for a method error, an
/// unknown method, params that do not fit or a frame that is not a request.
/// A notification is answered with `Ok(())`, which its caller does not wait
/// for. In JSON:
///
/// ```text
/// → [[0,"add"],[1,2]]
/// ← {"Ok":3}
/// → [[0,"sqrt"],[2]]
/// ← {"Err":{"code":-32601,"message":"Method not found: `sqrt`","data":"{\"service\":\"Calc\",\"version\":\"0.1.0\"}"}}
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
    ) -> impl Future<Output = Closed> + Send + use<T, S, C, F> {
        let codec = FramesCodec::<C, F> {
            inner: self.inner.clone(),
            _format: PhantomData,
        };
        Protocol::<T, Answering<S>>::serve_connection(
            &codec,
            io,
            Answering { inner: service },
            connection,
        )
    }
}

/// The server's codec: frames become calls (or rejections to answer), and
/// answers frames.
struct FramesCodec<C, F> {
    inner: C,
    _format: PhantomData<F>,
}

impl<C: Clone, F> Clone for FramesCodec<C, F> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            _format: PhantomData,
        }
    }
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
            .map(|frame| Call::parse(frame.into_payload(), F::KIND)))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<Self::Item>> {
        Ok(self
            .inner
            .decode_eof(src)?
            .map(|frame| Call::parse(frame.into_payload(), F::KIND)))
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
        let payload = match answer {
            Ok(Answer(Inner::Encoded(payload))) => payload,
            Ok(Answer(Inner::Rejected(rejected))) | Err(rejected) => {
                encode_reply::<()>(F::KIND, &Err(rejected))
            }
        };
        self.inner
            .encode(<C as Decoder>::Item::from_payload(payload, F::NAME), dst)
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
#[derive(Clone)]
pub struct Call {
    /// UTF-8, checked when the call was read.
    method: Bytes,
    kind: u8,
    params: Bytes,
    format: FormatKind,
}

impl Call {
    fn parse(payload: Bytes, format: FormatKind) -> Result<Self, Rejected> {
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
        if kind != CALL && kind != NOTIFY {
            return Err(Rejected::new(
                Rejected::INVALID_REQUEST,
                format!("unknown kind of request {kind} for `{method}` (0: call, 1: notification)"),
            ));
        }
        let method = match method {
            Cow::Borrowed(method) => payload.slice_ref(method.as_bytes()),
            Cow::Owned(method) => Bytes::from(method),
        };
        Ok(Self {
            method,
            kind,
            params: payload.slice_ref(params),
            format,
        })
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
#[derive(Clone, Debug)]
pub struct Answer(Inner);

#[derive(Clone, Debug)]
enum Inner {
    /// A reply, serialized in the call's format.
    Encoded(Bytes),
    /// The call was refused.
    Rejected(Rejected),
}

impl Answer {
    /// An answer refusing the call.
    #[doc(hidden)]
    pub fn rejected(rejected: Rejected) -> Self {
        Self(Inner::Rejected(rejected))
    }
}
