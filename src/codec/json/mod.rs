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
    /// and decoding resumes after it. The second field holds the value's
    /// first bytes (at most [`HEAD_LEN`], none for a `Content-Length` body,
    /// whose bytes come after the header that condemns it), where a
    /// JSON-RPC request's id usually is: its error answer can then name it.
    TooLarge(FrameTooLarge, Bytes),
}

/// How much of an oversized value [`JsonFrame::TooLarge`] keeps.
pub(crate) const HEAD_LEN: usize = 256;

/// The first bytes of an oversized value, for [`JsonFrame::TooLarge`].
fn head(value: &[u8]) -> Bytes {
    Bytes::copy_from_slice(&value[..value.len().min(HEAD_LEN)])
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
///   {"id":1}{"id":2}  [3,4]\n"five" 42 true\n
///   └──────┘└──────┘  └───┘  └────┘ └┘ └──┘
///    six values: the whitespace between them is not part of any
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

    /// The longest value, in bytes, the codec decodes or encodes.
    #[cfg(feature = "http")]
    pub(crate) fn max_frame_len(&self) -> usize {
        self.max_frame_length
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

    /// How values are delimited.
    pub(crate) fn framing_kind(&self) -> JsonFraming {
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

    /// For a caller that reads each value as it frames it (the JSON-RPC
    /// server), when values come one per line as peers write them: between
    /// two values of [`JsonFraming::Stream`], skips the whitespace before
    /// the next one and returns the length of its line (the bytes before the
    /// next `\n`), if the whole line is here and within the maximum frame
    /// length. A caller that finds exactly one value in the line (and
    /// whitespace) splits it off `src` itself; the decoder's state is
    /// between values all along. `None` for the other framings, in the
    /// middle of a value, or without a whole line.
    pub(crate) fn line_ahead(&mut self, src: &mut BytesMut) -> Option<usize> {
        let max = self.max_frame_length;
        match &mut self.state {
            State::Stream(state) => state.line_ahead(src, max),
            State::Ndjson(_) | State::ContentLength(_) => None,
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
    pub(crate) fn decode_frame_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<JsonFrame>> {
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
    /// `serde_json` writes many small pieces, and the `bytes` crate's
    /// `Writer` does not override `write_all`, so each piece goes through
    /// the default retry loop: serializing that way measured 0.47 GB/s,
    /// against 1.1 GB/s through an [`io::Write`] adapter whose `write_all`
    /// is `BytesMut::extend_from_slice` (as fast as a `Vec`).
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
        self.encode_with_limit(dst, self.max_frame_length, write)
    }

    /// [`encode_with`](Self::encode_with) with a limit of the caller's
    /// instead of the maximum frame length, for the JSON-RPC server, which
    /// limits answers on its own terms.
    pub(crate) fn encode_with_limit(
        &mut self,
        dst: &mut BytesMut,
        max: usize,
        write: impl FnOnce(&mut BytesMut) -> io::Result<()>,
    ) -> io::Result<()> {
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
        Some(JsonFrame::TooLarge(err, _)) => Err(err.into()),
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
            dst.reserve(content_length::MAX_ENCODED_HEADER + item.len());
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const FRAMINGS: [JsonFraming; 3] = [
        JsonFraming::Stream,
        JsonFraming::Ndjson,
        JsonFraming::ContentLength,
    ];

    fn codec(framing: JsonFraming, max: usize) -> JsonCodec {
        JsonCodec::new().framing(framing).max_frame_length(max)
    }

    fn encoded(framing: JsonFraming, values: &[&[u8]]) -> Vec<u8> {
        let mut codec = codec(framing, usize::MAX);
        let mut wire = BytesMut::new();
        for value in values {
            codec
                .encode(Bytes::copy_from_slice(value), &mut wire)
                .unwrap();
        }
        wire.to_vec()
    }

    /// Feeds `wire` in pieces of `chunk` bytes through `decode_frame`, then
    /// `decode_frame_eof`, and returns every frame and the largest the
    /// buffer ever got.
    fn frames_in_chunks(
        codec: &mut JsonCodec,
        wire: &[u8],
        chunk: usize,
    ) -> (Vec<JsonFrame>, usize) {
        let mut src = BytesMut::new();
        let mut frames = Vec::new();
        let mut most_buffered = 0;
        for piece in wire.chunks(chunk) {
            src.extend_from_slice(piece);
            most_buffered = most_buffered.max(src.len());
            while let Some(frame) = codec.decode_frame(&mut src).unwrap() {
                frames.push(frame);
            }
        }
        while let Some(frame) = codec.decode_frame_eof(&mut src).unwrap() {
            frames.push(frame);
        }
        assert!(src.is_empty(), "left {src:?}");
        (frames, most_buffered)
    }

    fn value(bytes: &'static [u8]) -> JsonFrame {
        JsonFrame::Value(Bytes::from_static(bytes))
    }

    #[test]
    fn oversized_value_is_reported_once_then_skipped_and_decoding_resumes() {
        let big = format!(r#"{{"big":"{}","tail":["}}"]}}"#, "x".repeat(10_000));
        for framing in FRAMINGS {
            let wire = encoded(framing, &[b"[1]", big.as_bytes(), br#"{"after":2}"#]);
            for chunk in [1, 100, 4096, wire.len()] {
                let mut codec = codec(framing, 1000);
                let (frames, most_buffered) = frames_in_chunks(&mut codec, &wire, chunk);
                assert_eq!(frames.len(), 3, "{framing:?} in chunks of {chunk}");
                assert_eq!(frames[0], value(b"[1]"));
                let JsonFrame::TooLarge(too_large, head) = &frames[1] else {
                    panic!("{framing:?}: {:?}", frames[1]);
                };
                if framing == JsonFraming::ContentLength {
                    assert!(head.is_empty());
                } else {
                    assert!(head.starts_with(br#"{"big":"xxx"#), "{framing:?}: {head:?}");
                    assert!(head.len() <= HEAD_LEN);
                }
                assert_eq!(too_large.limit(), 1000);
                assert!(too_large.size() > 1000, "{framing:?}: {too_large}");
                assert_eq!(frames[2], value(br#"{"after":2}"#), "{framing:?}");
                // Never more than the limit and a read buffered at once.
                assert!(
                    most_buffered <= 1100 + chunk,
                    "{framing:?}: {most_buffered}"
                );
            }
        }
    }

    #[test]
    fn oversized_value_whole_in_one_read_reports_its_exact_size() {
        let big = [b'7'; 5000];
        for framing in FRAMINGS {
            let wire = encoded(framing, &[&big, b"8"]);
            let mut codec = codec(framing, 100);
            let (frames, _) = frames_in_chunks(&mut codec, &wire, wire.len());
            let [JsonFrame::TooLarge(too_large, head), after] = &frames[..] else {
                panic!("{framing:?}: {frames:?}");
            };
            assert_eq!(*too_large, FrameTooLarge::new(100, 5000), "{framing:?}");
            assert_eq!(*after, value(b"8"), "{framing:?}");
            // The head is the start of the value, as far as it was scanned.
            assert!(big.starts_with(head), "{framing:?}");
            assert_eq!(head.is_empty(), framing == JsonFraming::ContentLength);
        }
    }

    #[test]
    fn public_decode_reports_the_oversized_value_as_an_error_and_can_go_on() {
        let mut codec = codec(JsonFraming::Stream, 4);
        let mut src = BytesMut::from(&b"[1,2,3] 42"[..]);
        let err = codec.decode(&mut src).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            err.get_ref()
                .and_then(|e| e.downcast_ref::<FrameTooLarge>()),
            Some(&FrameTooLarge::new(4, 7))
        );
        assert_eq!(codec.decode_eof(&mut src).unwrap().unwrap(), "42");
    }

    #[test]
    fn eof_inside_an_oversized_value_is_unexpected_eof() {
        for framing in [JsonFraming::Stream, JsonFraming::ContentLength] {
            let wire = encoded(framing, &[format!("\"{}\"", "a".repeat(50)).as_bytes()]);
            let mut codec = codec(framing, 10);
            let mut src = BytesMut::from(&wire[..wire.len() - 5]);
            assert!(matches!(
                codec.decode_frame(&mut src).unwrap(),
                Some(JsonFrame::TooLarge(..))
            ));
            let err = codec.decode_frame_eof(&mut src).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{framing:?}");
            assert!(err.to_string().contains("oversized"), "{err}");
        }
        // NDJSON: the end of the input ends the line being discarded.
        let mut codec = codec(JsonFraming::Ndjson, 10);
        let mut src = BytesMut::from(&[b'1'; 50][..]);
        assert!(matches!(
            codec.decode_frame(&mut src).unwrap(),
            Some(JsonFrame::TooLarge(..))
        ));
        assert_eq!(codec.decode_frame_eof(&mut src).unwrap(), None);
    }

    #[test]
    fn encode_with_frames_what_serde_json_writes() {
        let message = serde_json::json!({"jsonrpc": "2.0", "id": 1, "result": "0x1b4"});
        let text = message.to_string();
        for framing in FRAMINGS {
            let mut codec = codec(framing, 1024);
            let mut dst = BytesMut::from(&b"earlier"[..]);
            codec
                .encode_with(&mut dst, |dst| {
                    serde_json::to_writer(dst.writer(), &message).map_err(io::Error::from)
                })
                .unwrap();
            let expected = encoded(framing, &[text.as_bytes()]);
            assert_eq!(&dst[..7], b"earlier");
            assert_eq!(&dst[7..], expected, "{framing:?}");
        }
    }

    #[test]
    fn encode_with_writes_the_content_length_of_every_digit_count() {
        let mut codec = codec(JsonFraming::ContentLength, usize::MAX);
        for len in [0, 1, 9, 10, 99, 100, 12_345, 1_000_000] {
            let mut dst = BytesMut::from(&b"x"[..]);
            codec
                .encode_with(&mut dst, |dst| {
                    dst.put_bytes(b'a', len);
                    Ok(())
                })
                .unwrap();
            let mut expected = format!("xContent-Length: {len}\r\n\r\n").into_bytes();
            expected.resize(expected.len() + len, b'a');
            assert!(dst == expected, "length {len}");
        }
    }

    #[test]
    fn encode_with_leaves_dst_untouched_on_error() {
        let failing = |dst: &mut BytesMut| {
            dst.put_slice(b"[1,");
            Err(io::Error::other("serializer failed"))
        };
        let too_long = |dst: &mut BytesMut| {
            dst.put_bytes(b'1', 11);
            Ok(())
        };
        let empty = |_: &mut BytesMut| Ok(());
        let two_lines = |dst: &mut BytesMut| {
            dst.put_slice(b"[\n1]");
            Ok(())
        };
        for framing in FRAMINGS {
            let mut codec = codec(framing, 10);
            let mut dst = BytesMut::from(&b"earlier"[..]);
            let err = codec.encode_with(&mut dst, failing).unwrap_err();
            assert_eq!(err.to_string(), "serializer failed");
            let err = codec.encode_with(&mut dst, too_long).unwrap_err();
            assert_eq!(
                err.get_ref()
                    .and_then(|e| e.downcast_ref::<FrameTooLarge>()),
                Some(&FrameTooLarge::new(10, 11)),
                "{framing:?}"
            );
            if framing != JsonFraming::ContentLength {
                let err = codec.encode_with(&mut dst, empty).unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            }
            assert_eq!(&dst[..], b"earlier", "{framing:?}");
        }
        let mut codec = codec(JsonFraming::Ndjson, 10);
        let mut dst = BytesMut::new();
        let err = codec.encode_with(&mut dst, two_lines).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(dst.is_empty());
    }

    #[test]
    fn content_length_header_error_is_reported_again_and_not_consumed() {
        let mut codec = codec(JsonFraming::ContentLength, 1024);
        let mut src = BytesMut::from(&b"Content-Length: x\r\n\r\n{}"[..]);
        for _ in 0..2 {
            let err = codec.decode_frame(&mut src).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            assert_eq!(src.len(), 23);
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_in_any_framing(
            bytes in prop::collection::vec(
                prop_oneof![
                    8 => prop::sample::select(b"{}[]\"\\ \n\r:,1aC".to_vec()),
                    1 => any::<u8>(),
                ],
                0..400,
            ),
            headers in prop::collection::vec(0_usize..400, 0..4),
            chunk in 1_usize..50,
            max in 0_usize..64,
        ) {
            // Sprinkle well-formed LSP headers so that bodies get decoded too.
            let mut wire = bytes;
            for at in headers {
                let at = at.min(wire.len());
                wire.splice(at..at, b"Content-Length: 3\r\n\r\n".iter().copied());
            }
            for framing in FRAMINGS {
                let mut codec = codec(framing, max);
                let mut src = BytesMut::new();
                for piece in wire.chunks(chunk) {
                    src.extend_from_slice(piece);
                    while let Ok(Some(frame)) = codec.decode_frame(&mut src) {
                        if let JsonFrame::Value(value) = frame {
                            prop_assert!(value.len() <= max);
                        }
                    }
                }
                while let Ok(Some(_)) = codec.decode_frame_eof(&mut src) {}
                let _ = codec.decode(&mut src);
                let _ = codec.decode_eof(&mut src);
            }
        }
    }
}
