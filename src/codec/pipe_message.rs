//! Typed messages in decred's pipe format (see [`PipeMessageCodec`] for the
//! wire format).

use std::{borrow::Cow, cmp, error::Error, fmt, io, str};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::FrameTooLarge;

/// The longest message type: its length travels in one byte.
const MAX_TYPE_LEN: usize = u8::MAX as usize;
/// Version, type length, and payload length: the header without the type.
const FIXED_HEADER_LEN: usize = 1 + 1 + 4;

/// One message of the pipe format: a type naming what the payload is, and
/// the payload.
///
/// The type is non-empty UTF-8 of at most 255 bytes, which
/// [`new`](Self::new) checks and the decoder guarantees. Both parts are
/// [`Bytes`]: a decoded message shares the read buffer, and a message made
/// from a `&'static str` and a `Vec<u8>` copies neither.
///
/// ```
/// use tower_ipc::codec::PipeMessage;
///
/// let message = PipeMessage::new("lifetimeevent", vec![0, 0])?;
/// assert_eq!(message.kind(), "lifetimeevent");
/// assert_eq!(&message.payload()[..], [0, 0]);
///
/// assert!(PipeMessage::new("", vec![]).is_err());
/// # Ok::<(), tower_ipc::codec::PipeMessageError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PipeMessage {
    /// Valid UTF-8, 1 to 255 bytes.
    kind: Bytes,
    payload: Bytes,
}

impl PipeMessage {
    /// A message of type `kind` carrying `payload`.
    ///
    /// # Errors
    ///
    /// Fails when `kind` is empty or longer than 255 bytes. (A payload over
    /// a codec's limit is the codec's to refuse, when it encodes.)
    pub fn new(
        kind: impl Into<Cow<'static, str>>,
        payload: impl Into<Bytes>,
    ) -> Result<Self, PipeMessageError> {
        let kind = match kind.into() {
            Cow::Borrowed(kind) => Bytes::from_static(kind.as_bytes()),
            Cow::Owned(kind) => Bytes::from(kind),
        };
        check_type_len(kind.len())?;
        Ok(Self {
            kind,
            payload: payload.into(),
        })
    }

    /// A message whose type the caller knows is valid: non-empty, at most
    /// 255 bytes.
    pub(crate) fn with_static_type(kind: &'static str, payload: Bytes) -> Self {
        debug_assert!(check_type_len(kind.len()).is_ok(), "invalid type {kind:?}");
        Self {
            kind: Bytes::from_static(kind.as_bytes()),
            payload,
        }
    }

    /// The message type, such as `"lifetimeevent"`.
    pub fn kind(&self) -> &str {
        // Checked when the message was made; an empty string is unreachable.
        str::from_utf8(&self.kind).unwrap_or_default()
    }

    /// The payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Takes the payload out of the message.
    pub fn into_payload(self) -> Bytes {
        self.payload
    }
}

impl fmt::Debug for PipeMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeMessage")
            .field("kind", &self.kind())
            .field("payload", &self.payload)
            .finish()
    }
}

fn check_type_len(len: usize) -> Result<(), PipeMessageError> {
    if len == 0 {
        Err(PipeMessageError::new(ErrorKind::EmptyType))
    } else if len > MAX_TYPE_LEN {
        Err(PipeMessageError::new(ErrorKind::TypeTooLong(len)))
    } else {
        Ok(())
    }
}

/// A [`Decoder`] and [`Encoder`] for [`PipeMessage`]s in the binary format
/// decred's node (`dcrd`) uses on the pipes its parent process gives it.
///
/// # Wire format
///
/// A version byte (always [`VERSION`](Self::VERSION), 1), the length of the
/// type in one byte, the type (UTF-8, 1 to 255 bytes), the length of the
/// payload as 4 bytes little endian, then the payload.
///
/// ```text
///   ┌─────────┬──────────┬─────────────────┬───────────────┬──────────────────┐
///   │ version │ type len │ type (UTF-8)    │ payload len   │ payload          │
///   │ 1 B = 1 │ 1 B = T  │ T B, 1 ≤ T ≤ 255│ 4 B, LE = P   │ P B              │
///   └─────────┴──────────┴─────────────────┴───────────────┴──────────────────┘
///
///   type "lifetimeevent", payload 00 00:
///   01 0d 6c 69 66 65 74 69 6d 65 65 76 65 6e 74 02 00 00 00 00 00
///   ── ── ─────────────── "lifetimeevent" ───── ─────────── ─────
///   ver T                                       P = 2       payload
/// ```
///
/// # Errors
///
/// Input the format does not allow is refused as soon as the offending byte
/// arrives, with an [`io::Error`] of kind
/// [`InvalidData`](io::ErrorKind::InvalidData) whose inner error says why:
/// [`PipeMessageError`] for a version other than 1, an empty type, or a type
/// that is not UTF-8; [`FrameTooLarge`] for a payload length over the
/// [maximum](Self::max_payload_length), read from the header before any of
/// the payload is buffered. The stream cannot be resynchronised after that:
/// the offending bytes stay in the buffer.
///
/// # Example
///
/// ```
/// use bytes::BytesMut;
/// use tokio_util::codec::{Decoder, Encoder};
/// use tower_ipc::codec::{PipeMessage, PipeMessageCodec};
///
/// let mut codec = PipeMessageCodec::new();
/// let mut wire = BytesMut::new();
/// codec.encode(PipeMessage::new("lifetimeevent", vec![0, 0])?, &mut wire)?;
/// assert_eq!(wire[..], b"\x01\x0dlifetimeevent\x02\x00\x00\x00\x00\x00"[..]);
///
/// let message = codec.decode(&mut wire)?.expect("a whole message");
/// assert_eq!(message.kind(), "lifetimeevent");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// The codec keeps no state between calls and is [`Copy`]: one value can
/// serve any number of streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PipeMessageCodec {
    max_payload_length: usize,
}

impl PipeMessageCodec {
    /// The protocol version this codec reads and writes.
    pub const VERSION: u8 = 1;

    /// The maximum payload length of a codec from [`new`](Self::new): 8 MiB.
    pub const DEFAULT_MAX_PAYLOAD_LENGTH: usize = 8 * 1024 * 1024;

    /// A codec with a maximum payload length of
    /// [`DEFAULT_MAX_PAYLOAD_LENGTH`](Self::DEFAULT_MAX_PAYLOAD_LENGTH).
    pub const fn new() -> Self {
        Self {
            max_payload_length: Self::DEFAULT_MAX_PAYLOAD_LENGTH,
        }
    }

    /// Sets the longest payload, in bytes, that the codec decodes or
    /// encodes. The format itself cannot carry more than 4 GiB − 1 bytes,
    /// so a larger value means that.
    ///
    /// The limit is also how much memory one header can make the decoder
    /// reserve, so keep it to what you are willing to allocate per stream.
    pub const fn max_payload_length(mut self, max: usize) -> Self {
        self.max_payload_length = max;
        self
    }

    /// The limit this codec enforces, in payload bytes: the configured
    /// [maximum](Self::max_payload_length), capped at what the 4-byte length
    /// can say. [`FrameTooLarge::limit`] reports this value.
    pub fn effective_max_payload_length(&self) -> usize {
        let by_width = usize::try_from(u32::MAX).unwrap_or(usize::MAX);
        cmp::min(self.max_payload_length, by_width)
    }
}

impl Default for PipeMessageCodec {
    /// Same as [`PipeMessageCodec::new`].
    fn default() -> Self {
        Self::new()
    }
}

/// What the front of a read buffer holds.
enum Header {
    /// Not enough bytes yet to know the message's length.
    Incomplete,
    /// A whole header: the type's length and the announced payload length.
    Complete { type_len: usize, payload_len: usize },
}

impl PipeMessageCodec {
    /// Checks as much of the header as has arrived.
    fn parse_header(&self, src: &[u8]) -> Result<Header, io::Error> {
        let Some(&version) = src.first() else {
            return Ok(Header::Incomplete);
        };
        if version != Self::VERSION {
            return Err(PipeMessageError::new(ErrorKind::UnknownVersion(version)).into());
        }
        let Some(&type_len) = src.get(1) else {
            return Ok(Header::Incomplete);
        };
        let type_len = usize::from(type_len);
        if type_len == 0 {
            return Err(PipeMessageError::new(ErrorKind::EmptyType).into());
        }
        // Check the type as it arrives, so garbage is refused early; an
        // incomplete character at the end may still be completed.
        let type_end = cmp::min(2 + type_len, src.len());
        if let Err(err) = str::from_utf8(&src[2..type_end]) {
            let complete = type_end == 2 + type_len;
            if complete || err.error_len().is_some() {
                let err = ErrorKind::TypeNotUtf8 {
                    valid_up_to: err.valid_up_to(),
                };
                return Err(PipeMessageError::new(err).into());
            }
        }
        let Some(length) = src.get(2 + type_len..FIXED_HEADER_LEN + type_len) else {
            return Ok(Header::Incomplete);
        };
        let announced = (&length[..]).get_u32_le();
        let limit = self.effective_max_payload_length();
        if u64::from(announced) > limit as u64 {
            return Err(FrameTooLarge::new(limit, u64::from(announced)).into());
        }
        Ok(Header::Complete {
            type_len,
            // Cannot truncate: at most `limit`, a usize.
            payload_len: announced as usize,
        })
    }
}

impl Decoder for PipeMessageCodec {
    type Item = PipeMessage;
    type Error = io::Error;

    /// Takes one message off the front of `src`, if all of it has arrived.
    ///
    /// Once the header is complete, the buffer is grown to hold the whole
    /// message in one step.
    ///
    /// # Errors
    ///
    /// See [the type's docs](PipeMessageCodec#errors): an unknown version,
    /// an empty type, a type that is not UTF-8, or a payload over the
    /// maximum, each reported without waiting for the rest of the message.
    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<PipeMessage>> {
        let Header::Complete {
            type_len,
            payload_len,
        } = self.parse_header(src)?
        else {
            return Ok(None);
        };
        let header_len = FIXED_HEADER_LEN + type_len;
        // Cannot overflow: the payload is at most 4 GiB and the header 261 bytes.
        let message_len = header_len + payload_len;
        if src.len() < message_len {
            src.reserve(message_len - src.len());
            return Ok(None);
        }

        src.advance(2);
        let kind = src.split_to(type_len).freeze();
        src.advance(4);
        let payload = src.split_to(payload_len).freeze();
        Ok(Some(PipeMessage { kind, payload }))
    }

    /// Like [`decode`](Self::decode), for when no more bytes will arrive.
    ///
    /// # Errors
    ///
    /// Besides the errors of [`decode`](Self::decode): if `src` ends inside
    /// a message, returns an [`io::Error`] of kind
    /// [`UnexpectedEof`](io::ErrorKind::UnexpectedEof) saying how much of it
    /// arrived. An empty `src` is a clean end and yields `Ok(None)`.
    fn decode_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<PipeMessage>> {
        if let Some(message) = self.decode(src)? {
            return Ok(Some(message));
        }
        if src.is_empty() {
            return Ok(None);
        }
        let message = match self.parse_header(src)? {
            Header::Incomplete => format!(
                "stream closed inside a pipe message header: {} bytes received",
                src.len()
            ),
            Header::Complete {
                type_len,
                payload_len,
            } => format!(
                "stream closed inside a pipe message: {} of {} payload bytes received",
                src.len() - FIXED_HEADER_LEN - type_len,
                payload_len
            ),
        };
        Err(io::Error::new(io::ErrorKind::UnexpectedEof, message))
    }
}

impl Encoder<PipeMessage> for PipeMessageCodec {
    type Error = io::Error;

    /// Appends `message` to `dst`.
    ///
    /// # Errors
    ///
    /// If the payload is longer than the [effective
    /// maximum](Self::effective_max_payload_length), returns an
    /// [`io::Error`] of kind [`InvalidData`](io::ErrorKind::InvalidData)
    /// wrapping [`FrameTooLarge`] and leaves `dst` untouched.
    fn encode(&mut self, message: PipeMessage, dst: &mut BytesMut) -> io::Result<()> {
        let payload_len = message.payload.len();
        let limit = self.effective_max_payload_length();
        if payload_len > limit {
            return Err(FrameTooLarge::new(limit, payload_len as u64).into());
        }
        let type_len = message.kind.len();
        dst.reserve(FIXED_HEADER_LEN + type_len + payload_len);
        dst.put_u8(Self::VERSION);
        // Cannot truncate: `PipeMessage` holds at most 255 bytes of type, and
        // `limit` is at most u32::MAX.
        dst.put_u8(type_len as u8);
        dst.put_slice(&message.kind);
        dst.put_u32_le(payload_len as u32);
        dst.put_slice(&message.payload);
        Ok(())
    }
}

/// Why bytes are not a pipe message, or a type cannot be one.
///
/// [`PipeMessageCodec`] reports it inside an [`io::Error`] of kind
/// [`InvalidData`](io::ErrorKind::InvalidData); [`PipeMessage::new`] returns
/// it as is.
///
/// ```
/// use bytes::BytesMut;
/// use tokio_util::codec::Decoder;
/// use tower_ipc::codec::{PipeMessageCodec, PipeMessageError};
///
/// let mut src = BytesMut::from(&[2u8, 1, b'x'][..]);
/// let err = PipeMessageCodec::new().decode(&mut src).unwrap_err();
/// let inner = err.get_ref().and_then(|e| e.downcast_ref::<PipeMessageError>());
/// assert_eq!(inner.and_then(PipeMessageError::unknown_version), Some(2));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipeMessageError {
    kind: ErrorKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ErrorKind {
    UnknownVersion(u8),
    EmptyType,
    TypeNotUtf8 { valid_up_to: usize },
    TypeTooLong(usize),
}

impl PipeMessageError {
    fn new(kind: ErrorKind) -> Self {
        Self { kind }
    }

    /// The version byte, if the message had a version other than
    /// [`PipeMessageCodec::VERSION`].
    pub fn unknown_version(&self) -> Option<u8> {
        match self.kind {
            ErrorKind::UnknownVersion(version) => Some(version),
            _ => None,
        }
    }

    /// The message type was empty.
    pub fn is_empty_type(&self) -> bool {
        self.kind == ErrorKind::EmptyType
    }

    /// The message type was not valid UTF-8.
    pub fn is_type_not_utf8(&self) -> bool {
        matches!(self.kind, ErrorKind::TypeNotUtf8 { .. })
    }

    /// The message type was longer than 255 bytes (only
    /// [`PipeMessage::new`] can see that: on the wire its length is one byte).
    pub fn is_type_too_long(&self) -> bool {
        matches!(self.kind, ErrorKind::TypeTooLong(_))
    }
}

impl fmt::Display for PipeMessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::UnknownVersion(version) => write!(
                f,
                "unknown pipe message version {version} (this codec speaks version {})",
                PipeMessageCodec::VERSION
            ),
            ErrorKind::EmptyType => f.write_str("pipe message type is empty"),
            ErrorKind::TypeNotUtf8 { valid_up_to } => write!(
                f,
                "pipe message type is not UTF-8 (invalid from byte {valid_up_to} of the type)"
            ),
            ErrorKind::TypeTooLong(len) => write!(
                f,
                "pipe message type is {len} bytes, over the limit of {MAX_TYPE_LEN} bytes"
            ),
        }
    }
}

impl Error for PipeMessageError {}

impl From<PipeMessageError> for io::Error {
    fn from(err: PipeMessageError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, err)
    }
}
