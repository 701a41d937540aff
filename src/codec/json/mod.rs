//! JSON values as frames: the value stream of Ethereum nodes' IPC, NDJSON, and
//! the LSP base protocol (see [`JsonCodec`] for the wire formats).
//!
//! One codec, three [`JsonFraming`]s, one maximum frame length. Decoding
//! yields each value's bytes untouched, without surrounding whitespace, for
//! the parser above; framing never parses, so a malformed value is still a
//! frame and the layer above can answer it (JSON-RPC's parse error).

mod content_length;
mod ndjson;
mod scanner;

use std::io;

use bytes::{BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use self::{content_length::ContentLengthDecoder, ndjson::NdjsonDecoder, scanner::StreamDecoder};
use super::FrameTooLarge;

/// How JSON values are delimited on the wire; see [`JsonCodec`] for the
/// bytes of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum JsonFraming {
    /// Values one after another, with or without whitespace between them:
    /// what geth, reth, alloy and web3.py speak over IPC. Each value is
    /// written followed by `\n`. The default.
    #[default]
    Stream,
    /// One value per line (NDJSON, JSON Lines): `\n` or `\r\n` ends each;
    /// blank lines are skipped.
    Ndjson,
    /// The LSP base protocol: a `Content-Length: N` header block, an empty
    /// line, then `N` bytes of body.
    ContentLength,
}

/// One step of decoding, for callers that answer an oversized value and go
/// on reading (the JSON-RPC server); [`Decoder::decode`] turns
/// [`TooLarge`](Self::TooLarge) into an error instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum JsonFrame {
    /// The bytes of one value (or body), without surrounding whitespace.
    Value(Bytes),
    /// A value over the maximum frame length. It is reported once, as soon
    /// as the limit is crossed; its bytes are then discarded as they arrive
    /// and decoding resumes after it.
    TooLarge(FrameTooLarge),
}

/// A [`Decoder`] and [`Encoder`] for JSON values, in any of the
/// [`JsonFraming`]s.
///
/// # Wire formats
///
/// [`JsonFraming::Stream`] (the default): values back to back. Whitespace
/// between them is optional, except between two numbers or literals, which
/// it alone separates. The encoder ends each value with `\n`.
///
/// ```text
///   {"id":1}{"id":2}  [3,4]\n"five" 6 true\n
///   └──────┘└──────┘  └───┘  └────┘ └┘ └──┘
///    value   value    value  value  value value
/// ```
///
/// [`JsonFraming::Ndjson`]: one value per line. Lines end with `\n` or
/// `\r\n`; blank lines are skipped; the encoder refuses a value that contains
/// a newline.
///
/// ```text
///   ┌────────────┬────┐
///   │ value      │ \n │   (or \r\n)
///   └────────────┴────┘
///   {"id":1}\n\r\n{"id":2}\r\n   →   {"id":1}  {"id":2}
/// ```
///
/// [`JsonFraming::ContentLength`] (the LSP base protocol): a header block of
/// `Name: value` lines, each ending `\r\n`, closed by an empty line, then the
/// body. `Content-Length` (any case) is required and gives the body's length
/// in bytes; other headers, such as `Content-Type`, are ignored. The encoder
/// writes `Content-Length` alone.
///
/// ```text
///   ┌────────────────────────┬───────────────────────┬──────┬───────────┐
///   │ Content-Length: N \r\n │ (other headers \r\n)* │ \r\n │ N bytes   │
///   └────────────────────────┴───────────────────────┴──────┴───────────┘
///   Content-Length: 8\r\n\r\n{"id":1}
/// ```
///
/// # How a stream of values is cut
///
/// The [`Stream`](JsonFraming::Stream) decoder follows the structure of the
/// input without parsing it: strings with their escapes, and brackets,
/// whose kinds it remembers with one bit per level (so nesting costs neither
/// stack nor more memory than the limit allows). An object or array ends
/// where its brackets balance; a string at its closing quote; a number,
/// `true`, `false`, `null` or any other token at the whitespace or
/// punctuation after it (or at the end of the input). A closing bracket of
/// the wrong kind ends the value it appears in, and a stray one at the top
/// level is a value of one byte, so malformed input cannot swallow the
/// values after it. Each byte is looked at once, however the input is split
/// across reads: decoding is O(n).
///
/// # Frame length limit
///
/// A value (for NDJSON, a line without its line ending; for LSP, a body)
/// longer than the maximum frame length (8 MiB unless
/// [configured](Self::max_frame_length)) is refused with [`FrameTooLarge`]
/// as soon as its length crosses the limit, before the rest of it arrives.
/// The codec then discards the value's remaining bytes as they come, without
/// buffering them, and decoding resumes after it. [`FrameTooLarge::size`]
/// counts the bytes of the value received by then: the whole value if it had
/// all arrived.
///
/// [`Framed`](tokio_util::codec::Framed) ends its stream after any decoding
/// error, so through `Framed` an oversized value ends the connection's
/// input; a caller that drives the codec itself may call
/// [`decode`](Decoder::decode) again and get the next value. The encoder
/// refuses values over the limit too, and writes nothing for them.
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use futures::{SinkExt, StreamExt};
/// use tokio_util::codec::Framed;
/// use tower_ipc::codec::{JsonCodec, JsonFraming};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let (client_io, server_io) = tokio::io::duplex(64 * 1024);
/// let codec = JsonCodec::new().max_frame_length(1024 * 1024);
/// let mut client = Framed::new(client_io, codec.clone());
/// let mut server = Framed::new(server_io, codec);
///
/// client
///     .send(Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}"#))
///     .await?;
/// let request = server.next().await.expect("client is connected")?;
/// assert_eq!(request, r#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}"#);
///
/// // Language servers frame the same values with headers instead.
/// let lsp = JsonCodec::new().framing(JsonFraming::ContentLength);
/// let (a, b) = tokio::io::duplex(1024);
/// let (mut editor, mut server) = (Framed::new(a, lsp.clone()), Framed::new(b, lsp));
/// editor.send(Bytes::from_static(b"{}")).await?;
/// assert_eq!(server.next().await.expect("editor is connected")?, "{}");
/// # Ok(())
/// # }
/// ```
///
/// Decoded values are [`Bytes`] split off the read buffer, never copied.
/// The codec keeps decoding state (a value may arrive in many reads), so give
/// each connection its own: clone a configured codec rather than sharing
/// one.
#[derive(Clone, Debug)]
pub struct JsonCodec {
    max_frame_length: usize,
    state: State,
}

/// The decoding state, which also says which framing the codec uses.
#[derive(Clone, Debug)]
enum State {
    Stream(StreamDecoder),
    Ndjson(NdjsonDecoder),
    ContentLength(ContentLengthDecoder),
}

impl JsonCodec {
    /// The maximum frame length of a codec from [`new`](Self::new): 8 MiB.
    pub const DEFAULT_MAX_FRAME_LENGTH: usize = 8 * 1024 * 1024;

    /// A codec for [`JsonFraming::Stream`] with a maximum frame length of
    /// [`DEFAULT_MAX_FRAME_LENGTH`](Self::DEFAULT_MAX_FRAME_LENGTH).
    pub fn new() -> Self {
        Self::with(JsonFraming::Stream, Self::DEFAULT_MAX_FRAME_LENGTH)
    }

    /// Sets how values are delimited on the wire.
    ///
    /// Any decoding already under way is forgotten: configure the codec
    /// before use.
    pub fn framing(self, framing: JsonFraming) -> Self {
        Self::with(framing, self.max_frame_length)
    }

    /// Sets the longest value, in bytes, that the codec will decode or
    /// encode.
    ///
    /// Up to this much of a value is buffered while it arrives, so keep it to
    /// what you are willing to hold per connection. Any decoding already
    /// under way is forgotten: configure the codec before use.
    pub fn max_frame_length(self, max: usize) -> Self {
        Self::with(self.framing_kind(), max)
    }

    fn with(framing: JsonFraming, max_frame_length: usize) -> Self {
        let state = match framing {
            JsonFraming::Stream => State::Stream(StreamDecoder::new(max_frame_length)),
            JsonFraming::Ndjson => State::Ndjson(NdjsonDecoder::default()),
            JsonFraming::ContentLength => State::ContentLength(ContentLengthDecoder::default()),
        };
        Self {
            max_frame_length,
            state,
        }
    }

    fn framing_kind(&self) -> JsonFraming {
        match self.state {
            State::Stream(_) => JsonFraming::Stream,
            State::Ndjson(_) => JsonFraming::Ndjson,
            State::ContentLength(_) => JsonFraming::ContentLength,
        }
    }

    /// Like [`decode`](Decoder::decode), but an oversized value is reported
    /// as [`JsonFrame::TooLarge`] once, then skipped (discarded as it
    /// arrives, never buffered whole), and decoding resumes after it.
    ///
    /// # Errors
    ///
    /// For [`JsonFraming::ContentLength`], a malformed header block, which
    /// leaves the stream impossible to resynchronise; the other framings
    /// never fail here.
    pub(crate) fn decode_frame(&mut self, src: &mut BytesMut) -> io::Result<Option<JsonFrame>> {
        let max = self.max_frame_length;
        match &mut self.state {
            State::Stream(state) => Ok(state.decode(src, max)),
            State::Ndjson(state) => Ok(state.decode(src, max)),
            State::ContentLength(state) => state.decode(src, max),
        }
    }

    /// Like [`decode_frame`](Self::decode_frame), for when no more bytes will
    /// arrive.
    ///
    /// # Errors
    ///
    /// Those of [`decode_frame`](Self::decode_frame), and an error of kind
    /// [`UnexpectedEof`](io::ErrorKind::UnexpectedEof) if the input ends
    /// inside a value (see [`Decoder::decode_eof`]).
    pub(crate) fn decode_frame_eof(
        &mut self,
        src: &mut BytesMut,
    ) -> io::Result<Option<JsonFrame>> {
        let max = self.max_frame_length;
        match &mut self.state {
            State::Stream(state) => state.decode_eof(src, max),
            State::Ndjson(state) => state.decode_eof(src, max),
            State::ContentLength(state) => state.decode_eof(src, max),
        }
    }

    /// Frames whatever `write` appends to `dst`, such as
    /// `serde_json::to_writer((&mut *dst).writer(), &message)`, without an
    /// intermediate buffer.
    ///
    /// # Errors
    ///
    /// The error `write` returns; [`FrameTooLarge`] if it wrote more than the
    /// maximum frame length; for the line-based framings, an error of kind
    /// [`InvalidInput`](io::ErrorKind::InvalidInput) if it wrote nothing, or
    /// (NDJSON) a newline. On error `dst` is left as it was.
    pub(crate) fn encode_with(
        &mut self,
        dst: &mut BytesMut,
        write: impl FnOnce(&mut BytesMut) -> io::Result<()>,
    ) -> io::Result<()> {
        let max = self.max_frame_length;
        let start = dst.len();
        let result = match self.framing_kind() {
            JsonFraming::ContentLength => content_length::encode(dst, max, write),
            JsonFraming::Stream => encode_line(dst, max, write, |_, _| Ok(())),
            JsonFraming::Ndjson => encode_line(dst, max, write, ndjson::check_one_line),
        };
        if result.is_err() {
            dst.truncate(start);
        }
        result
    }
}

/// Appends what `write` appends, checked, and a `\n`.
fn encode_line(
    dst: &mut BytesMut,
    max: usize,
    write: impl FnOnce(&mut BytesMut) -> io::Result<()>,
    check: impl FnOnce(&BytesMut, usize) -> io::Result<()>,
) -> io::Result<()> {
    let start = dst.len();
    write(dst)?;
    let len = dst.len() - start;
    if len > max {
        return Err(FrameTooLarge::new(max, len as u64).into());
    }
    if len == 0 {
        // The decoder would see nothing but whitespace: the value would be
        // lost without a trace.
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an empty value cannot be framed without a length",
        ));
    }
    check(dst, start)?;
    dst.put_u8(b'\n');
    Ok(())
}

impl Default for JsonCodec {
    /// Same as [`JsonCodec::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder for JsonCodec {
    type Item = Bytes;
    type Error = io::Error;

    /// Takes the next value off the front of `src`, if all of it has arrived.
    ///
    /// Whitespace around values is consumed. The bytes scanned so far are
    /// remembered, so each call only looks at what arrived since the last.
    ///
    /// # Errors
    ///
    /// - A value over the maximum frame length: an [`io::Error`] of kind
    ///   [`InvalidData`](io::ErrorKind::InvalidData) wrapping
    ///   [`FrameTooLarge`], with the limit and the size. The value's bytes
    ///   are discarded; decoding again continues after it.
    /// - [`JsonFraming::ContentLength`]: a malformed header block (no
    ///   `Content-Length`, a length that is not a number, a line without a
    ///   colon, a block over 8 KiB) is an error of kind
    ///   [`InvalidData`](io::ErrorKind::InvalidData) that says what was
    ///   wrong. The stream cannot be resynchronised after that: decoding
    ///   again reports the same error.
    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Bytes>> {
        frame_to_item(self.decode_frame(src)?)
    }

    /// Like [`decode`](Self::decode), for when no more bytes will arrive.
    ///
    /// The end of the input completes a number or literal (`42`, `true`)
    /// and, for [`JsonFraming::Ndjson`], the last line; trailing whitespace
    /// is fine.
    ///
    /// # Errors
    ///
    /// Those of [`decode`](Self::decode), and an error of kind
    /// [`UnexpectedEof`](io::ErrorKind::UnexpectedEof) if the input ends
    /// inside a value (an object, array or string, an LSP header block or
    /// body), saying how many of its bytes were received.
    fn decode_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<Bytes>> {
        frame_to_item(self.decode_frame_eof(src)?)
    }
}

fn frame_to_item(frame: Option<JsonFrame>) -> io::Result<Option<Bytes>> {
    match frame {
        None => Ok(None),
        Some(JsonFrame::Value(value)) => Ok(Some(value)),
        Some(JsonFrame::TooLarge(err)) => Err(err.into()),
    }
}

impl Encoder<Bytes> for JsonCodec {
    type Error = io::Error;

    /// Appends `item`, the bytes of one JSON value, framed: followed by `\n`
    /// ([`Stream`](JsonFraming::Stream), [`Ndjson`](JsonFraming::Ndjson)) or
    /// after a `Content-Length` header
    /// ([`ContentLength`](JsonFraming::ContentLength)). The value is not
    /// checked to be JSON.
    ///
    /// # Errors
    ///
    /// If `item` is longer than the maximum frame length, an [`io::Error`]
    /// of kind [`InvalidData`](io::ErrorKind::InvalidData) wrapping
    /// [`FrameTooLarge`]. For the line-based framings, an error of kind
    /// [`InvalidInput`](io::ErrorKind::InvalidInput) if `item` is empty,
    /// which they cannot represent, or, for NDJSON, contains a newline. On
    /// error `dst` is left as it was.
    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> io::Result<()> {
        if item.len() > self.max_frame_length {
            // Before copying anything.
            return Err(FrameTooLarge::new(self.max_frame_length, item.len() as u64).into());
        }
        if let State::ContentLength(_) = self.state {
            // The length is known: the header can go first.
            dst.reserve(item.len() + 32);
            content_length::put_header(dst, item.len());
            dst.put_slice(&item);
            return Ok(());
        }
        dst.reserve(item.len() + 1);
        self.encode_with(dst, |dst| {
            dst.put_slice(&item);
            Ok(())
        })
    }
}
