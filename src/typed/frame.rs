//! The frames typed messages ride in.

use bytes::Bytes;

use crate::codec::PipeMessage;

/// What a frame codec's items must be to carry typed messages: bytes that
/// hold one serialized value.
///
/// Implemented for [`Bytes`] ([`LengthPrefixed`](crate::codec::LengthPrefixed),
/// [`JsonCodec`](crate::codec::JsonCodec)) and [`PipeMessage`] (whose type
/// is the format's name, such as `"postcard"`; a received message's type
/// is not checked). The trait is sealed.
pub trait Frame: sealed::Sealed + Sized {
    /// The serialized value.
    #[doc(hidden)]
    fn payload(&self) -> &[u8];

    /// Takes the serialized value out.
    #[doc(hidden)]
    fn into_payload(self) -> Bytes;

    /// A frame carrying `payload`, serialized in the format `format`.
    #[doc(hidden)]
    fn from_payload(payload: Bytes, format: &'static str) -> Self;
}

mod sealed {
    pub trait Sealed {}
}

impl sealed::Sealed for Bytes {}

impl Frame for Bytes {
    fn payload(&self) -> &[u8] {
        self
    }

    fn into_payload(self) -> Bytes {
        self
    }

    fn from_payload(payload: Bytes, _: &'static str) -> Self {
        payload
    }
}

impl sealed::Sealed for PipeMessage {}

impl Frame for PipeMessage {
    fn payload(&self) -> &[u8] {
        PipeMessage::payload(self)
    }

    fn into_payload(self) -> Bytes {
        PipeMessage::into_payload(self)
    }

    fn from_payload(payload: Bytes, format: &'static str) -> Self {
        PipeMessage::with_static_type(format, payload)
    }
}
