use std::{fmt, io, marker::PhantomData};

use bytes::BytesMut;
use serde::{Serialize, de::DeserializeOwned};
use tokio_util::codec::{Decoder, Encoder};
use tower::BoxError;

use super::{DecodeError, EncodeError, Format, Frame};

/// A codec adapter: any frame codec `C` becomes a [`Decoder`] of `D` and an
/// [`Encoder`] of `E`, each frame holding one value in the [`Format`] `F`.
///
/// Framing stays `C`'s (its maximum frame length, its errors); each frame's
/// payload is deserialized into `D`, and each `E` serialized into a frame.
/// With it, [`Client`](crate::Client) sends and receives your own types:
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use tokio_util::codec::Framed;
/// use tower::{Service, ServiceExt, service_fn};
/// use tower_ipc::{Client, Endpoint, codec::LengthPrefixed};
/// use tower_ipc::typed::{Json, Reply, TypedCodec, TypedServer};
///
/// #[derive(Serialize, Deserialize)]
/// enum Request { Double(u64) }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// # let endpoint = Endpoint::new(format!("tower-ipc-doc-typed-{}", std::process::id()));
/// // let endpoint = Endpoint::new("doubler");
/// let double = service_fn(|Request::Double(n)| async move { Ok::<u64, std::io::Error>(n * 2) });
/// let server = TypedServer::<_, Json, Request>::new(LengthPrefixed::new());
/// tokio::spawn(tower_ipc::serve(endpoint.bind().await?, server, double).into_future());
///
/// let codec = TypedCodec::<_, Json, Reply<u64>, Request>::new(LengthPrefixed::new());
/// let mut client = Client::new(Framed::new(endpoint.connect().await?, codec));
/// let doubled = client.ready().await?.call(Request::Double(21)).await??;
/// assert_eq!(doubled, 42);
/// # Ok(())
/// # }
/// ```
///
/// A [`TypedServer`](super::TypedServer) answers each request with a
/// [`Reply`](super::Reply): the response, or why the request was
/// [`Rejected`](super::Rejected). A client thus decodes `Reply<Response>`.
///
/// # Errors
///
/// Decoding: `C`'s errors, and a frame whose payload does not deserialize
/// into `D` is an [`io::Error`] of kind
/// [`InvalidData`](io::ErrorKind::InvalidData) wrapping [`DecodeError`],
/// which names `D`, the frame's size and the format. The frame is consumed:
/// the next one decodes as usual.
///
/// Encoding: `C`'s errors (a frame over its maximum length), and a value
/// that does not serialize is an error of kind
/// [`InvalidInput`](io::ErrorKind::InvalidInput) wrapping [`EncodeError`].
pub struct TypedCodec<C, F, D, E> {
    inner: C,
    /// Where values are serialized; its allocation is reused once the frame
    /// made from it is written.
    scratch: BytesMut,
    _types: PhantomData<fn(E, F) -> D>,
}

impl<C, F, D, E> TypedCodec<C, F, D, E> {
    /// Typed values in frames of `inner`.
    pub fn new(inner: C) -> Self {
        Self {
            inner,
            scratch: BytesMut::new(),
            _types: PhantomData,
        }
    }

    /// The frame codec.
    pub fn get_ref(&self) -> &C {
        &self.inner
    }

    /// The frame codec, mutably.
    pub fn get_mut(&mut self) -> &mut C {
        &mut self.inner
    }

    /// Takes the frame codec out.
    pub fn into_inner(self) -> C {
        self.inner
    }
}

impl<C: Clone, F, D, E> Clone for TypedCodec<C, F, D, E> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone())
    }
}

impl<C: fmt::Debug, F: Format, D, E> fmt::Debug for TypedCodec<C, F, D, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedCodec")
            .field("inner", &self.inner)
            .field("format", &F::NAME)
            .field("decodes", &std::any::type_name::<D>())
            .field("encodes", &std::any::type_name::<E>())
            .finish()
    }
}

impl<C, F, D, E> Decoder for TypedCodec<C, F, D, E>
where
    C: Decoder,
    C::Item: Frame,
    C::Error: From<io::Error>,
    F: Format,
    D: DeserializeOwned,
{
    type Item = D;
    type Error = C::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<D>, C::Error> {
        match self.inner.decode(src)? {
            Some(frame) => Ok(Some(decode::<F, D>(frame.payload())?)),
            None => Ok(None),
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<D>, C::Error> {
        match self.inner.decode_eof(src)? {
            Some(frame) => Ok(Some(decode::<F, D>(frame.payload())?)),
            None => Ok(None),
        }
    }
}

impl<C, F, D, E> Encoder<E> for TypedCodec<C, F, D, E>
where
    C: Decoder + Encoder<<C as Decoder>::Item>,
    <C as Decoder>::Item: Frame,
    <C as Encoder<<C as Decoder>::Item>>::Error: From<io::Error>,
    F: Format,
    E: Serialize,
{
    type Error = <C as Encoder<<C as Decoder>::Item>>::Error;

    fn encode(&mut self, item: E, dst: &mut BytesMut) -> Result<(), Self::Error> {
        let payload = serialize::<F, E>(&item, &mut self.scratch)?;
        self.inner
            .encode(<C as Decoder>::Item::from_payload(payload, F::NAME), dst)
    }
}

/// Deserializes a frame's payload into `T`.
pub(crate) fn decode<F: Format, T: DeserializeOwned>(payload: &[u8]) -> io::Result<T> {
    F::decode(payload).map_err(|err| DecodeError::new::<T>(payload.len(), F::NAME, err).into())
}

/// Serializes `value` into `scratch` and takes the bytes out.
pub(crate) fn serialize<F: Format, T: Serialize + ?Sized>(
    value: &T,
    scratch: &mut BytesMut,
) -> io::Result<bytes::Bytes> {
    scratch.clear();
    F::encode(value, scratch).map_err(|err: BoxError| EncodeError::new::<T>(F::NAME, err))?;
    Ok(scratch.split().freeze())
}
