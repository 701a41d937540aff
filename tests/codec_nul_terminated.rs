//! `NulTerminated`, and `PerMessage` around it (the codec of a message-mode
//! pipe to a C peer), through the public API only.

use std::io;

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder, Framed};
use tower_ipc::codec::{FrameTooLarge, LengthPrefixed, NulTerminated, PerMessage};

/// Feeds `wire` in pieces of `size` bytes, decoding after each, then ends
/// the stream; every frame, or the first error.
fn decode_in_pieces<D>(mut codec: D, wire: &[u8], size: usize) -> io::Result<Vec<Bytes>>
where
    D: Decoder<Item = Bytes, Error = io::Error>,
{
    let mut src = BytesMut::new();
    let mut frames = Vec::new();
    for piece in wire.chunks(size.max(1)) {
        src.extend_from_slice(piece);
        while let Some(frame) = codec.decode(&mut src)? {
            frames.push(frame);
        }
    }
    while let Some(frame) = codec.decode_eof(&mut src)? {
        frames.push(frame);
    }
    Ok(frames)
}

fn encode_all<E: Encoder<Bytes, Error = io::Error>>(mut codec: E, frames: &[&str]) -> BytesMut {
    let mut wire = BytesMut::new();
    for frame in frames {
        codec
            .encode(Bytes::copy_from_slice(frame.as_bytes()), &mut wire)
            .unwrap();
    }
    wire
}

fn frame_too_large(err: &io::Error) -> &FrameTooLarge {
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<FrameTooLarge>())
        .unwrap_or_else(|| panic!("not FrameTooLarge: {err}"))
}

const FRAMES: [&str; 5] = ["ping", "", "a longer string, with spaces", "é", ""];

#[test]
fn strings_are_written_with_one_nul_after_them() {
    let wire = encode_all(NulTerminated::new(), &["ping", "", "é"]);
    assert_eq!(&wire[..], b"ping\0\0\xc3\xa9\0");
}

#[test]
fn decoding_input_split_at_every_byte_boundary_yields_the_same_strings() {
    let wire = encode_all(NulTerminated::new(), &FRAMES);
    for size in 1..=wire.len() {
        let frames = decode_in_pieces(NulTerminated::new(), &wire, size).unwrap();
        assert_eq!(frames, FRAMES, "pieces of {size}");
    }
}

#[test]
fn a_string_with_a_nul_in_it_is_refused_naming_where() {
    let mut wire = BytesMut::new();
    let err = NulTerminated::new()
        .encode(Bytes::from_static(b"ab\0cd"), &mut wire)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("byte 2 of the 5"), "{err}");
    assert!(wire.is_empty(), "something was written");
}

#[test]
fn a_string_over_the_limit_is_refused_both_ways_naming_both_sizes() {
    let codec = NulTerminated::new().max_frame_length(4);
    assert_eq!(codec.get_max_frame_length(), 4);
    let mut wire = BytesMut::new();
    let err = codec
        .clone()
        .encode(Bytes::from_static(b"12345"), &mut wire)
        .unwrap_err();
    assert_eq!(
        (frame_too_large(&err).limit(), frame_too_large(&err).size()),
        (4, 5)
    );
    assert!(wire.is_empty());
    // Exactly the limit passes.
    let frames = decode_in_pieces(codec.clone(), b"1234\0", 1).unwrap();
    assert_eq!(frames, ["1234"]);
    // One more is refused as soon as it is seen, NUL or not.
    for wire in [&b"12345\0"[..], b"12345"] {
        let err = decode_in_pieces(codec.clone(), wire, 1).unwrap_err();
        assert_eq!(frame_too_large(&err).limit(), 4, "{err}");
    }
}

#[test]
fn a_stream_ending_inside_a_string_is_an_unexpected_eof_naming_its_size() {
    let err = decode_in_pieces(NulTerminated::new(), b"ok\0unfinished", 3).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert!(err.to_string().contains("10 bytes"), "{err}");
}

#[test]
fn each_frame_is_one_length_prefixed_message() {
    let wire = encode_all(PerMessage::new(NulTerminated::new()), &["ping", ""]);
    assert_eq!(&wire[..], b"\0\0\0\x05ping\0\0\0\0\x01\0");
    // The raw messages, as LengthPrefixed reads them.
    let raw = decode_in_pieces(LengthPrefixed::new(), &wire, 3).unwrap();
    assert_eq!(raw, [&b"ping\0"[..], b"\0"]);
}

#[test]
fn messages_split_at_every_byte_boundary_decode_to_the_same_frames() {
    let wire = encode_all(PerMessage::new(NulTerminated::new()), &FRAMES);
    for size in 1..=wire.len() {
        let codec = PerMessage::new(NulTerminated::new());
        let frames = decode_in_pieces(codec, &wire, size).unwrap();
        assert_eq!(frames, FRAMES, "pieces of {size}");
    }
}

#[test]
fn a_message_holding_two_frames_is_an_error_naming_the_sizes() {
    // Two strings in one 4-byte message, as a byte stream would carry them.
    let err = decode_in_pieces(
        PerMessage::new(NulTerminated::new()),
        b"\0\0\0\x04a\0b\0",
        64,
    )
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    let message = err.to_string();
    assert!(message.contains("message of 4 bytes"), "{message}");
    assert!(message.contains("2 bytes were left"), "{message}");
}

#[test]
fn a_message_without_its_nul_is_the_inner_codecs_error() {
    let err =
        decode_in_pieces(PerMessage::new(NulTerminated::new()), b"\0\0\0\x02ab", 64).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert!(
        err.to_string().contains("2 bytes came without their NUL"),
        "{err}"
    );
}

#[test]
fn a_message_over_the_limit_is_refused_from_its_length_alone() {
    let codec = PerMessage::new(NulTerminated::new()).max_message_length(8);
    // The header says 9: refused before the message arrives.
    let err = decode_in_pieces(codec.clone(), b"\0\0\0\x09", 64).unwrap_err();
    assert_eq!(
        (frame_too_large(&err).limit(), frame_too_large(&err).size()),
        (8, 9)
    );
    // Encoding counts the NUL: 8 bytes of string make a 9-byte message.
    let mut wire = BytesMut::from(&b"kept"[..]);
    let err = codec
        .clone()
        .encode(Bytes::from_static(b"12345678"), &mut wire)
        .unwrap_err();
    assert_eq!(frame_too_large(&err).size(), 9);
    assert_eq!(&wire[..], b"kept", "a refused frame left bytes behind");
    // The inner codec's refusal leaves nothing behind either.
    let err = codec
        .clone()
        .encode(Bytes::from_static(b"a\0b"), &mut wire)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(&wire[..], b"kept");
}

#[test]
fn a_stream_ending_inside_a_message_is_an_unexpected_eof() {
    let err =
        decode_in_pieces(PerMessage::new(NulTerminated::new()), b"\0\0\0\x05pi", 64).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert!(err.to_string().contains("inside a message"), "{err}");
}

#[tokio::test]
async fn strings_cross_a_byte_stream_through_framed() {
    let (a, b) = tokio::io::duplex(64);
    let mut a = Framed::new(a, NulTerminated::new());
    let mut b = Framed::new(b, NulTerminated::new());
    for frame in FRAMES {
        a.send(Bytes::from(frame)).await.unwrap();
    }
    drop(a);
    let mut received = Vec::new();
    while let Some(frame) = b.next().await {
        received.push(frame.unwrap());
    }
    assert_eq!(received, FRAMES);
}

proptest! {
    #[test]
    fn any_strings_round_trip_in_any_pieces(
        frames in prop::collection::vec(prop::collection::vec(1u8..=255, 0..40), 0..20),
        size in 1usize..50,
        per_message in any::<bool>(),
    ) {
        let frames: Vec<Bytes> = frames.into_iter().map(Bytes::from).collect();
        let mut wire = BytesMut::new();
        if per_message {
            let mut codec = PerMessage::new(NulTerminated::new());
            for frame in &frames {
                codec.encode(frame.clone(), &mut wire).unwrap();
            }
            prop_assert_eq!(decode_in_pieces(codec, &wire, size).unwrap(), frames);
        } else {
            let mut codec = NulTerminated::new();
            for frame in &frames {
                codec.encode(frame.clone(), &mut wire).unwrap();
            }
            prop_assert_eq!(decode_in_pieces(codec, &wire, size).unwrap(), frames);
        }
    }
}
