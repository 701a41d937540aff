//! Frames that carry their own length (see [`LengthPrefixed`] for the wire
//! format).

use std::{cmp, io};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::FrameTooLarge;

/// How many bytes the length field of a [`LengthPrefixed`] frame takes.
///
/// The width also caps the frame length: a [`U8`](LengthWidth::U8) header
/// cannot describe a payload of more than 255 bytes, whatever
/// [`max_frame_length`](LengthPrefixed::max_frame_length) says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LengthWidth {
    /// A 1-byte length: payloads of at most 255 bytes.
    U8,
    /// A 2-byte length: payloads of at most 65,535 bytes.
    U16,
    /// A 4-byte length: payloads of at most 4 GiB − 1 byte. The default.
    #[default]
    U32,
    /// An 8-byte length: no practical limit from the width itself.
    U64,
}

impl LengthWidth {
    /// The number of bytes the length field takes on the wire: 1, 2, 4 or 8.
    pub const fn size(self) -> usize {
        match self {
            Self::U8 => 1,
            Self::U16 => 2,
            Self::U32 => 4,
            Self::U64 => 8,
        }
    }

    /// The largest payload length the field can hold.
    pub const fn max_length(self) -> u64 {
        match self {
            Self::U8 => u8::MAX as u64,
            Self::U16 => u16::MAX as u64,
            Self::U32 => u32::MAX as u64,
            Self::U64 => u64::MAX,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum ByteOrder {
    Big,
    Little,
}

/// A [`Decoder`] and [`Encoder`] for frames prefixed by their length.
///
/// # Wire format
///
/// A length field of 1, 2, 4 or 8 bytes ([`LengthWidth`]), big endian unless
/// configured [`little_endian`](Self::little_endian), then exactly that many
/// payload bytes. The length counts the payload only, so an empty frame is a
/// header of zeros. Nothing on the wire says which width or byte order was
/// used: both ends must be configured alike.
///
/// ```text
///   ┌──────────────┬───────────────────────┐
///   │ length (W B) │ payload (length B)    │   W = 1, 2, 4 or 8
///   └──────────────┴───────────────────────┘
///
///   b"hi", LengthWidth::U16, big endian:  00 02 68 69
///   b"hi", LengthWidth::U16, little end.: 02 00 68 69
/// ```
///
/// # Frame length limit
///
/// Frames longer than the [effective maximum frame
/// length](Self::effective_max_frame_length) (8 MiB unless configured, and
/// never more than the width can express) are refused with [`FrameTooLarge`]:
/// when encoding, before anything is written; when decoding, as soon as the
/// header is read, before any of the payload is buffered.
///
/// # Configuration
///
/// Consuming builder methods; the codec is [`Copy`], so one value can be
/// handed to both ends of a connection, or to many connections.
///
/// ```
/// use tower_ipc::codec::{LengthPrefixed, LengthWidth};
///
/// let codec = LengthPrefixed::new()
///     .length_width(LengthWidth::U16)
///     .little_endian()
///     .max_frame_length(1024);
/// assert_eq!(codec.effective_max_frame_length(), 1024);
///
/// // The width caps the limit: one byte cannot say more than 255.
/// let tiny = LengthPrefixed::new().length_width(LengthWidth::U8);
/// assert_eq!(tiny.effective_max_frame_length(), 255);
/// ```
///
/// # Example
///
/// Two ends of an in-memory pipe talking through
/// [`Framed`](tokio_util::codec::Framed):
///
/// ```
/// use bytes::Bytes;
/// use futures::{SinkExt, StreamExt};
/// use tokio_util::codec::Framed;
/// use tower_ipc::codec::{LengthPrefixed, LengthWidth};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let (client_io, server_io) = tokio::io::duplex(64 * 1024);
///
/// // Both ends must use the same configuration.
/// let codec = LengthPrefixed::new()
///     .length_width(LengthWidth::U16)
///     .max_frame_length(16 * 1024);
///
/// let mut client = Framed::new(client_io, codec);
/// let mut server = Framed::new(server_io, codec);
///
/// client.send(Bytes::from_static(b"ping")).await?;
/// let request = server.next().await.expect("client is still connected")?;
/// assert_eq!(request, "ping");
///
/// server.send(Bytes::from_static(b"pong")).await?;
/// let reply = client.next().await.expect("server is still connected")?;
/// assert_eq!(reply, "pong");
/// # Ok(())
/// # }
/// ```
///
/// Decoded frames are [`Bytes`] split off the read buffer, so the payload is
/// never copied; frames to send are [`Bytes`] too (`Bytes::from(vec)` takes a
/// `Vec<u8>` without copying).
///
/// The codec keeps no state between calls: every call to
/// [`decode`](Decoder::decode) starts again from the header at the front of
/// the buffer. That is what lets one value serve any number of streams, and
/// keeps it usable (if not useful) after an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LengthPrefixed {
    width: LengthWidth,
    order: ByteOrder,
    max_frame_length: usize,
}

impl LengthPrefixed {
    /// The maximum frame length of a codec from [`new`](Self::new): 8 MiB.
    pub const DEFAULT_MAX_FRAME_LENGTH: usize = 8 * 1024 * 1024;

    /// A codec with a 4-byte big-endian length field and a maximum frame
    /// length of [`DEFAULT_MAX_FRAME_LENGTH`](Self::DEFAULT_MAX_FRAME_LENGTH).
    pub const fn new() -> Self {
        Self {
            width: LengthWidth::U32,
            order: ByteOrder::Big,
            max_frame_length: Self::DEFAULT_MAX_FRAME_LENGTH,
        }
    }

    /// Sets how many bytes the length field takes.
    ///
    /// A narrower field also lowers the [effective maximum frame
    /// length](Self::effective_max_frame_length) to what it can hold.
    pub const fn length_width(mut self, width: LengthWidth) -> Self {
        self.width = width;
        self
    }

    /// Writes and reads the length field least significant byte first.
    pub const fn little_endian(mut self) -> Self {
        self.order = ByteOrder::Little;
        self
    }

    /// Writes and reads the length field most significant byte first (network
    /// byte order). This is the default.
    pub const fn big_endian(mut self) -> Self {
        self.order = ByteOrder::Big;
        self
    }

    /// Sets the longest payload, in bytes, that the codec will decode or
    /// encode.
    ///
    /// The limit is also how much memory a single header can make the decoder
    /// reserve, so keep it to what you are willing to allocate per
    /// connection. Any value is accepted; the limit that applies is the
    /// smaller of this and what the [length field](LengthWidth::max_length)
    /// can hold, as reported by
    /// [`effective_max_frame_length`](Self::effective_max_frame_length).
    pub const fn max_frame_length(mut self, max: usize) -> Self {
        self.max_frame_length = max;
        self
    }
}

impl LengthPrefixed {
    /// The limit this codec actually enforces, in payload bytes.
    ///
    /// This is the smaller of the value given to
    /// [`max_frame_length`](Self::max_frame_length) and the largest length
    /// the [length field](LengthWidth::max_length) can hold. (It is also kept
    /// 8 bytes below `isize::MAX`, the most one buffer can hold with its
    /// header; only a [`U64`](LengthWidth::U64) field with an astronomically
    /// large configured limit notices.) [`FrameTooLarge::limit`] reports this
    /// value.
    pub fn effective_max_frame_length(&self) -> usize {
        self.limit()
    }

    fn limit(&self) -> usize {
        // A buffer cannot exceed isize::MAX bytes and has to hold the header
        // too; clamping here keeps `reserve` from panicking on a header that
        // announces a length only a misconfigured limit would let through.
        const MAX_BUFFER_PAYLOAD: usize = isize::MAX as usize - 8;
        let by_width = usize::try_from(self.width.max_length()).unwrap_or(usize::MAX);
        cmp::min(
            cmp::min(self.max_frame_length, by_width),
            MAX_BUFFER_PAYLOAD,
        )
    }

    fn read_length(&self, header: &[u8]) -> u64 {
        let mut header = header;
        match self.order {
            ByteOrder::Big => header.get_uint(self.width.size()),
            ByteOrder::Little => header.get_uint_le(self.width.size()),
        }
    }
}

impl Default for LengthPrefixed {
    /// Same as [`LengthPrefixed::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder for LengthPrefixed {
    type Item = Bytes;
    type Error = io::Error;

    /// Takes one frame off the front of `src`, if all of it has arrived.
    ///
    /// Once the header is complete, the buffer is grown to hold the whole
    /// frame in one step, so a large frame does not reallocate as it trickles
    /// in.
    ///
    /// # Errors
    ///
    /// If the header announces more than the [effective maximum frame
    /// length](Self::effective_max_frame_length), returns an [`io::Error`] of kind
    /// [`InvalidData`](io::ErrorKind::InvalidData) wrapping [`FrameTooLarge`],
    /// without waiting for the payload. The stream cannot be resynchronised
    /// after that: the header is left in `src`, so decoding again reports the
    /// same error.
    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Bytes>> {
        let header_len = self.width.size();
        if src.len() < header_len {
            return Ok(None);
        }

        let announced = self.read_length(&src[..header_len]);
        let limit = self.limit();
        if announced > limit as u64 {
            return Err(FrameTooLarge::new(limit, announced).into());
        }
        // Cannot truncate: `announced` is at most `limit`, a usize.
        let payload_len = announced as usize;
        // Cannot overflow: `limit` leaves room for the largest header.
        let frame_len = header_len + payload_len;

        if src.len() < frame_len {
            // A no-op on every call after the first for this frame, since the
            // capacity it secures is still there.
            src.reserve(frame_len - src.len());
            return Ok(None);
        }

        src.advance(header_len);
        Ok(Some(src.split_to(payload_len).freeze()))
    }

    /// Like [`decode`](Self::decode), for when no more bytes will arrive.
    ///
    /// # Errors
    ///
    /// Besides the errors of [`decode`](Self::decode): if `src` ends in the
    /// middle of a frame (header or payload), returns an [`io::Error`] of kind
    /// [`UnexpectedEof`](io::ErrorKind::UnexpectedEof) whose message says how
    /// many of the frame's bytes arrived. An empty `src` is a clean end of
    /// stream and yields `Ok(None)`.
    fn decode_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<Bytes>> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        if src.is_empty() {
            return Ok(None);
        }

        let header_len = self.width.size();
        let message = if src.len() < header_len {
            format!(
                "connection closed inside a frame header: {} of {} bytes received",
                src.len(),
                header_len
            )
        } else {
            // `decode` returned None with a full header, so the announced
            // length is within the limit and longer than what is buffered.
            let announced = self.read_length(&src[..header_len]);
            format!(
                "connection closed inside a frame: {} of {} bytes received",
                src.len() - header_len,
                announced
            )
        };
        Err(io::Error::new(io::ErrorKind::UnexpectedEof, message))
    }
}

impl Encoder<Bytes> for LengthPrefixed {
    type Error = io::Error;

    /// Appends `item` to `dst` as one frame.
    ///
    /// # Errors
    ///
    /// If `item` is longer than the [effective maximum frame
    /// length](Self::effective_max_frame_length), returns an [`io::Error`] of kind
    /// [`InvalidData`](io::ErrorKind::InvalidData) wrapping [`FrameTooLarge`]
    /// and leaves `dst` untouched.
    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> io::Result<()> {
        let payload = &item[..];
        let limit = self.limit();
        if payload.len() > limit {
            return Err(FrameTooLarge::new(limit, payload.len() as u64).into());
        }

        let header_len = self.width.size();
        dst.reserve(header_len + payload.len());
        match self.order {
            ByteOrder::Big => dst.put_uint(payload.len() as u64, header_len),
            ByteOrder::Little => dst.put_uint_le(payload.len() as u64, header_len),
        }
        dst.put_slice(payload);
        Ok(())
    }
}
