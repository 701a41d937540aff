//! Strings ended by a NUL byte, as C programs send them (see
//! [`NulTerminated`]).

use std::io;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::FrameTooLarge;

/// A [`Decoder`] and [`Encoder`] for strings ended by a NUL byte, as a C
/// program writes a `char *` with its terminator (`strlen(s) + 1` bytes).
///
/// # Wire format
///
/// The string's bytes, which hold no NUL, then one NUL. Frames are the
/// bytes before the NUL; nothing says what encoding they are in.
///
/// ```text
///   ┌──────────────────────────┬────┐
///   │ string (no 0x00 in it)   │ 00 │
///   └──────────────────────────┴────┘
///
///   b"ping":  70 69 6e 67 00
/// ```
///
/// On a byte stream the NUL is all that separates frames. On a
/// message-mode pipe, where a C peer writes each string as one message,
/// wrap it in [`PerMessage`](super::PerMessage): each message must then
/// hold exactly one string, and each string is written as one message.
///
/// # Frame length limit
///
/// A string longer than [`max_frame_length`](Self::max_frame_length) bytes
/// (8 MiB unless configured; the NUL not counted) is refused with
/// [`FrameTooLarge`]: when encoding, before anything is written; when
/// decoding, as soon as that many bytes have arrived without a NUL.
///
/// # Errors
///
/// Encoding a frame that holds a NUL is an
/// [`InvalidInput`](io::ErrorKind::InvalidInput) error naming where: the
/// peer would read it as two strings. A stream that ends after part of a
/// string is an [`UnexpectedEof`](io::ErrorKind::UnexpectedEof) error.
///
/// # Example
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use tokio_util::codec::{Decoder, Encoder};
/// use tower_ipc::codec::NulTerminated;
///
/// let mut codec = NulTerminated::new();
/// let mut wire = BytesMut::new();
/// codec.encode(Bytes::from("ping"), &mut wire)?;
/// assert_eq!(&wire[..], b"ping\0");
/// assert_eq!(codec.decode(&mut wire)?, Some(Bytes::from("ping")));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NulTerminated {
    max_frame_length: usize,
    /// Bytes of the buffer already searched for a NUL, so that a string
    /// arriving in many reads is searched once.
    searched: usize,
}

impl NulTerminated {
    /// The maximum string length unless configured: 8 MiB.
    pub const DEFAULT_MAX_FRAME_LENGTH: usize = 8 * 1024 * 1024;

    /// A codec with the default maximum string length.
    pub const fn new() -> Self {
        Self {
            max_frame_length: Self::DEFAULT_MAX_FRAME_LENGTH,
            searched: 0,
        }
    }

    /// Sets the longest string, in bytes without its NUL, either way.
    pub const fn max_frame_length(mut self, max: usize) -> Self {
        self.max_frame_length = max;
        self
    }

    /// The longest string, in bytes without its NUL.
    pub const fn get_max_frame_length(&self) -> usize {
        self.max_frame_length
    }
}

impl Default for NulTerminated {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder for NulTerminated {
    type Item = Bytes;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Bytes>> {
        let searched = self.searched.min(src.len());
        match memchr::memchr(0, &src[searched..]) {
            Some(at) => {
                let len = searched + at;
                if len > self.max_frame_length {
                    return Err(FrameTooLarge::new(self.max_frame_length, len as u64).into());
                }
                self.searched = 0;
                let frame = src.split_to(len).freeze();
                src.advance(1);
                Ok(Some(frame))
            }
            None if src.len() > self.max_frame_length => {
                Err(FrameTooLarge::new(self.max_frame_length, src.len() as u64).into())
            }
            None => {
                self.searched = src.len();
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<Bytes>> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the stream ended inside a string: {} bytes came without their NUL",
                    src.len()
                ),
            )),
        }
    }
}

impl Encoder<Bytes> for NulTerminated {
    type Error = io::Error;

    fn encode(&mut self, frame: Bytes, dst: &mut BytesMut) -> io::Result<()> {
        if frame.len() > self.max_frame_length {
            return Err(FrameTooLarge::new(self.max_frame_length, frame.len() as u64).into());
        }
        if let Some(at) = memchr::memchr(0, &frame) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a NUL-terminated string cannot hold a NUL: byte {at} of the {} to send is 0",
                    frame.len()
                ),
            ));
        }
        dst.reserve(frame.len() + 1);
        dst.put_slice(&frame);
        dst.put_u8(0);
        Ok(())
    }
}
