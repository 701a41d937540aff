//! The serde formats typed messages travel in.

use std::fmt;
#[cfg(feature = "json")]
use std::io;

use bytes::BytesMut;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tower::BoxError;

/// A serde format for typed messages: [`Json`] or [`Postcard`], each behind
/// the feature of the same name.
///
/// The trait is sealed: the formats are the crate's to choose, so that both
/// ends of a connection agree on what a frame holds.
pub trait Format: sealed::Sealed + Copy + Default + fmt::Debug + Send + Sync + 'static {
    /// The format's name, as errors give it (`"json"`, `"postcard"`).
    const NAME: &'static str;

    /// Appends `value`, serialized, to `dst`.
    #[doc(hidden)]
    fn encode<T: Serialize + ?Sized>(value: &T, dst: &mut BytesMut) -> Result<(), BoxError>;

    /// Deserializes all of `src` (trailing bytes are an error).
    #[doc(hidden)]
    fn decode<T: DeserializeOwned>(src: &[u8]) -> Result<T, BoxError>;

    /// Splits `src`, a frame that starts with a `H` and holds one more value
    /// after it (as [`encode`](Self::encode) writes a pair `(H, V)`), into the
    /// head and the bytes of the value.
    #[doc(hidden)]
    fn split<'a, H: Deserialize<'a>>(src: &'a [u8]) -> Result<(H, &'a [u8]), BoxError>;

    /// Which format this is, for code that picks one at run time.
    #[doc(hidden)]
    const KIND: FormatKind;
}

mod sealed {
    pub trait Sealed {}
}

/// The formats, as a value.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatKind {
    /// [`Json`].
    #[cfg(feature = "json")]
    Json,
    /// [`Postcard`].
    #[cfg(feature = "postcard")]
    Postcard,
}

#[cfg_attr(not(any(feature = "json", feature = "postcard")), allow(unused))]
impl FormatKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "json")]
            Self::Json => Json::NAME,
            #[cfg(feature = "postcard")]
            Self::Postcard => Postcard::NAME,
        }
    }

    pub(crate) fn encode<T: Serialize + ?Sized>(
        self,
        value: &T,
        dst: &mut BytesMut,
    ) -> Result<(), BoxError> {
        match self {
            #[cfg(feature = "json")]
            Self::Json => Json::encode(value, dst),
            #[cfg(feature = "postcard")]
            Self::Postcard => Postcard::encode(value, dst),
        }
    }

    pub(crate) fn decode<T: DeserializeOwned>(self, src: &[u8]) -> Result<T, BoxError> {
        match self {
            #[cfg(feature = "json")]
            Self::Json => Json::decode(src),
            #[cfg(feature = "postcard")]
            Self::Postcard => Postcard::decode(src),
        }
    }

    /// How many values a sequence holds, from its start, in a format that
    /// says so up front (postcard).
    pub(crate) fn sequence_len(self, src: &[u8]) -> Option<usize> {
        // Only postcard reads it.
        let _ = src;
        match self {
            #[cfg(feature = "json")]
            Self::Json => None,
            #[cfg(feature = "postcard")]
            Self::Postcard => postcard::take_from_bytes::<usize>(src)
                .ok()
                .map(|(len, _)| len),
        }
    }

    pub(crate) fn split<'a, H: Deserialize<'a>>(
        self,
        src: &'a [u8],
    ) -> Result<(H, &'a [u8]), BoxError> {
        match self {
            #[cfg(feature = "json")]
            Self::Json => Json::split(src),
            #[cfg(feature = "postcard")]
            Self::Postcard => Postcard::split(src),
        }
    }
}

/// JSON through `serde_json` (feature `json`): readable on the wire, and
/// what the [JSON framings](crate::codec::JsonCodec) carry.
#[cfg(feature = "json")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Json;

#[cfg(feature = "json")]
impl sealed::Sealed for Json {}

/// Appends to a `BytesMut` with `extend_from_slice`: `serde_json` writes
/// many small pieces, which the `bytes` crate's `Writer` would push through
/// the default `write_all` loop.
#[cfg(feature = "json")]
struct Append<'a>(&'a mut BytesMut);

#[cfg(feature = "json")]
impl io::Write for Append<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(feature = "json")]
impl Format for Json {
    const NAME: &'static str = "json";
    const KIND: FormatKind = FormatKind::Json;

    fn encode<T: Serialize + ?Sized>(value: &T, dst: &mut BytesMut) -> Result<(), BoxError> {
        let start = dst.len();
        serde_json::to_writer(Append(dst), value).inspect_err(|_| dst.truncate(start))?;
        Ok(())
    }

    fn decode<T: DeserializeOwned>(src: &[u8]) -> Result<T, BoxError> {
        Ok(serde_json::from_slice(src)?)
    }

    fn split<'a, H: Deserialize<'a>>(src: &'a [u8]) -> Result<(H, &'a [u8]), BoxError> {
        // `[head, value]`: the value stays unparsed.
        let (head, value): (H, &serde_json::value::RawValue) = serde_json::from_slice(src)?;
        Ok((head, value.get().as_bytes()))
    }
}

/// [postcard](https://docs.rs/postcard) (feature `postcard`): a compact
/// binary format, with integers as varints and no field names. Both ends
/// must share the types exactly; see the [module docs](super) for what can
/// change without breaking a peer.
#[cfg(feature = "postcard")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Postcard;

#[cfg(feature = "postcard")]
impl sealed::Sealed for Postcard {}

/// Serializes straight into a `BytesMut`.
#[cfg(feature = "postcard")]
struct Appending<'a>(&'a mut BytesMut);

#[cfg(feature = "postcard")]
impl postcard::ser_flavors::Flavor for Appending<'_> {
    type Output = ();

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.extend_from_slice(&[data]);
        Ok(())
    }

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

#[cfg(feature = "postcard")]
impl Format for Postcard {
    const NAME: &'static str = "postcard";
    const KIND: FormatKind = FormatKind::Postcard;

    fn encode<T: Serialize + ?Sized>(value: &T, dst: &mut BytesMut) -> Result<(), BoxError> {
        let start = dst.len();
        postcard::serialize_with_flavor(value, Appending(dst))
            .inspect_err(|_| dst.truncate(start))?;
        Ok(())
    }

    fn decode<T: DeserializeOwned>(src: &[u8]) -> Result<T, BoxError> {
        let (value, rest) = postcard::take_from_bytes(src)?;
        if !rest.is_empty() {
            return Err(format!("{} bytes left over after the value", rest.len()).into());
        }
        Ok(value)
    }

    fn split<'a, H: Deserialize<'a>>(src: &'a [u8]) -> Result<(H, &'a [u8]), BoxError> {
        // A pair is its two values back to back.
        Ok(postcard::take_from_bytes(src)?)
    }
}
