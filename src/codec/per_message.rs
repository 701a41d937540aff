//! Any codec, one message at a time (see [`PerMessage`]).

use std::io;

use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::FrameTooLarge;

/// The length field in front of each message.
const HEADER: usize = 4;

/// Runs a codec over the messages of a message-mode pipe: each message read
/// is one frame for the inner codec, and each frame it encodes is written as
/// exactly one message.
///
/// # Why a codec, and the design
///
/// A message-type Windows pipe keeps the boundaries of what is written into
/// it: a peer such as a C server reading into a 512-byte buffer takes one
/// message per read, and answers each. A byte stream loses them twice over:
/// [`Framed`](tokio_util::codec::Framed) gathers the frames sent in a burst
/// into one buffer and writes them together (which such a peer reads as one
/// message), and tokio's pipe reads a long message in 4 KiB pieces with
/// nothing to say where it ends.
///
/// So a message-mode stream ([`BindOptions::message_mode`],
/// [`ConnectOptions::message_mode`], Windows) carries the boundaries in its
/// bytes: reading it yields every message after a 4-byte big-endian length,
/// and it sends each length-prefixed frame written to it as one message
/// (one `WriteFile`), however the writes are cut or gathered. This codec is
/// the other half: it writes each encoded frame with its length in front,
/// and hands the inner codec the bytes of one message at a time. Nothing
/// between the two (`Framed`, the server, the client) needs to know about
/// messages, and the length-prefixed stream is the crate's own
/// [`LengthPrefixed`](super::LengthPrefixed) format (4-byte big-endian, its
/// default), which reads the raw messages as [`Bytes`](bytes::Bytes).
///
/// [`BindOptions::message_mode`]: crate::transport::BindOptions
/// [`ConnectOptions::message_mode`]: crate::transport::ConnectOptions
///
/// # Wire format
///
/// What this codec reads and writes, on a message-mode stream:
///
/// ```text
///   ┌────────────────┬──────────────────────────────────┐
///   │ length (4 B)   │ one message: one frame of `C`    │
///   └────────────────┴──────────────────────────────────┘
///
///   PerMessage<NulTerminated>, b"ping":  00 00 00 05 70 69 6e 67 00
///                            on the pipe: one message, 70 69 6e 67 00
/// ```
///
/// # Errors
///
/// A message must hold exactly one frame of the inner codec, whose end is
/// the message's end (the inner decoder's
/// [`decode_eof`](Decoder::decode_eof) runs when the message ends without
/// one): a message with bytes left over after the frame, or none, is an
/// [`InvalidData`](io::ErrorKind::InvalidData) error naming the sizes. A
/// message or frame longer than
/// [`max_message_length`](Self::max_message_length) (8 MiB unless
/// configured) is refused with [`FrameTooLarge`]. Whether the peer can read
/// a message of that size is the stream's to check: its maximum message
/// length is the peer's read buffer.
///
/// # Example
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use tokio_util::codec::{Decoder, Encoder};
/// use tower_ipc::codec::{NulTerminated, PerMessage};
///
/// let mut codec = PerMessage::new(NulTerminated::new());
/// let mut stream = BytesMut::new();
/// codec.encode(Bytes::from("ping"), &mut stream)?;
/// codec.encode(Bytes::from("pong"), &mut stream)?;
/// // Two frames, each its own message of 5 bytes.
/// assert_eq!(&stream[..9], b"\0\0\0\x05ping\0");
/// assert_eq!(codec.decode(&mut stream)?, Some(Bytes::from("ping")));
/// assert_eq!(codec.decode(&mut stream)?, Some(Bytes::from("pong")));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerMessage<C> {
    inner: C,
    max_message_length: usize,
}

impl<C> PerMessage<C> {
    /// The maximum message length unless configured: 8 MiB.
    pub const DEFAULT_MAX_MESSAGE_LENGTH: usize = 8 * 1024 * 1024;

    /// Runs `inner` over one message at a time.
    pub const fn new(inner: C) -> Self {
        Self {
            inner,
            max_message_length: Self::DEFAULT_MAX_MESSAGE_LENGTH,
        }
    }

    /// Sets the longest message, in bytes, either way.
    pub const fn max_message_length(mut self, max: usize) -> Self {
        self.max_message_length = max;
        self
    }

    /// The inner codec.
    pub const fn get_ref(&self) -> &C {
        &self.inner
    }

    /// The inner codec, to change.
    pub const fn get_mut(&mut self) -> &mut C {
        &mut self.inner
    }

    /// Gives the inner codec back.
    pub fn into_inner(self) -> C {
        self.inner
    }

    fn too_large(&self, size: usize) -> io::Error {
        FrameTooLarge::new(self.max_message_length, size as u64).into()
    }
}

impl<C> Decoder for PerMessage<C>
where
    C: Decoder,
{
    type Item = C::Item;
    type Error = C::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<C::Item>, C::Error> {
        let Some(field) = src.get(..HEADER) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([field[0], field[1], field[2], field[3]]) as usize;
        if len > self.max_message_length {
            return Err(self.too_large(len).into());
        }
        if src.len() < HEADER + len {
            src.reserve(HEADER + len - src.len());
            return Ok(None);
        }
        src.advance(HEADER);
        let mut message = src.split_to(len);
        let frame = match self.inner.decode(&mut message)? {
            Some(frame) => frame,
            None => match self.inner.decode_eof(&mut message)? {
                Some(frame) => frame,
                None => {
                    return Err(invalid(format!("a message of {len} bytes held no frame")).into());
                }
            },
        };
        if !message.is_empty() {
            return Err(invalid(format!(
                "a message of {len} bytes held more than one frame: {} bytes were left after \
                 the first",
                message.len()
            ))
            .into());
        }
        Ok(Some(frame))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<C::Item>, C::Error> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the stream ended inside a message: {} bytes of it came",
                    src.len()
                ),
            )
            .into()),
        }
    }
}

impl<C, I> Encoder<I> for PerMessage<C>
where
    C: Encoder<I>,
{
    type Error = C::Error;

    fn encode(&mut self, frame: I, dst: &mut BytesMut) -> Result<(), C::Error> {
        let start = dst.len();
        dst.put_u32(0);
        if let Err(err) = self.inner.encode(frame, dst) {
            dst.truncate(start);
            return Err(err);
        }
        let len = dst.len() - start - HEADER;
        let field = match u32::try_from(len) {
            Ok(field) if len <= self.max_message_length => field,
            // Over the maximum, or over what the length field holds.
            _ => {
                dst.truncate(start);
                return Err(self.too_large(len).into());
            }
        };
        dst[start..start + HEADER].copy_from_slice(&field.to_be_bytes());
        Ok(())
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}
