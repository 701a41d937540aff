//! Integration tests for `tower_ipc::codec::PipeMessageCodec`, through the
//! public API only.

use std::io;

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder, Framed};
use tower_ipc::codec::{FrameTooLarge, PipeMessage, PipeMessageCodec, PipeMessageError};

/// decred's test vector: a `lifetimeevent` message with payload `00 00`.
const VECTOR: [u8; 21] = [
    0x01, 0x0d, 0x6c, 0x69, 0x66, 0x65, 0x74, 0x69, 0x6d, 0x65, 0x65, 0x76, 0x65, 0x6e, 0x74, 0x02,
    0x00, 0x00, 0x00, 0x00, 0x00,
];

fn message(kind: &'static str, payload: &[u8]) -> PipeMessage {
    PipeMessage::new(kind, payload.to_vec()).expect("valid type")
}

fn encode(mut codec: PipeMessageCodec, message: PipeMessage) -> Vec<u8> {
    let mut wire = BytesMut::new();
    codec.encode(message, &mut wire).expect("encodes");
    wire.to_vec()
}

/// Decodes every message in `wire`, which must end on a message boundary.
fn decode_all(mut codec: PipeMessageCodec, wire: &[u8]) -> Vec<PipeMessage> {
    let mut src = BytesMut::from(wire);
    let mut messages = Vec::new();
    while let Some(message) = codec.decode(&mut src).expect("well-formed input") {
        messages.push(message);
    }
    assert_eq!(codec.decode_eof(&mut src).expect("clean end"), None);
    messages
}

/// Feeds `wire` one piece at a time, cut at the given offsets, decoding
/// after each piece.
fn decode_split(mut codec: PipeMessageCodec, wire: &[u8], cuts: &[usize]) -> Vec<PipeMessage> {
    let mut src = BytesMut::new();
    let mut messages = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&wire.len())) {
        src.extend_from_slice(&wire[start..end]);
        start = end;
        while let Some(message) = codec.decode(&mut src).expect("well-formed input") {
            messages.push(message);
        }
    }
    assert!(src.is_empty(), "left over: {src:?}");
    messages
}

fn decode_error(wire: &[u8]) -> io::Error {
    let mut src = BytesMut::from(wire);
    PipeMessageCodec::new()
        .decode(&mut src)
        .expect_err("invalid input must be refused")
}

fn pipe_message_error(err: &io::Error) -> &PipeMessageError {
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<PipeMessageError>())
        .unwrap_or_else(|| panic!("expected a PipeMessageError inside {err:?}"))
}

fn frame_too_large(err: &io::Error) -> &FrameTooLarge {
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<FrameTooLarge>())
        .unwrap_or_else(|| panic!("expected FrameTooLarge inside {err:?}"))
}

// ---------------------------------------------------------------------------
// The test vector

#[test]
fn test_vector_decodes_to_a_lifetimeevent_with_payload_0000() {
    let messages = decode_all(PipeMessageCodec::new(), &VECTOR);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].kind(), "lifetimeevent");
    assert_eq!(&messages[0].payload()[..], [0x00, 0x00]);
}

#[test]
fn test_vector_is_what_a_lifetimeevent_with_payload_0000_encodes_to() {
    let wire = encode(
        PipeMessageCodec::new(),
        message("lifetimeevent", &[0x00, 0x00]),
    );
    assert_eq!(wire, VECTOR);
}

#[test]
fn test_vector_decodes_when_split_at_every_byte_boundary() {
    for cut in 0..=VECTOR.len() {
        let messages = decode_split(PipeMessageCodec::new(), &VECTOR, &[cut]);
        assert_eq!(
            messages,
            [message("lifetimeevent", &[0, 0])],
            "split at {cut}"
        );
    }
}

#[test]
fn test_vector_decodes_one_byte_at_a_time() {
    let cuts: Vec<usize> = (1..VECTOR.len()).collect();
    let messages = decode_split(PipeMessageCodec::new(), &VECTOR, &cuts);
    assert_eq!(messages, [message("lifetimeevent", &[0, 0])]);
}

// ---------------------------------------------------------------------------
// Messages and configuration

#[test]
fn new_and_default_are_version_1_with_8_mib_limit() {
    assert_eq!(PipeMessageCodec::VERSION, 1);
    assert_eq!(PipeMessageCodec::new(), PipeMessageCodec::default());
    assert_eq!(
        PipeMessageCodec::new().effective_max_payload_length(),
        8 * 1024 * 1024
    );
}

#[test]
fn configured_limit_is_capped_by_the_four_byte_length() {
    let codec = PipeMessageCodec::new().max_payload_length(1000);
    assert_eq!(codec.effective_max_payload_length(), 1000);
    let huge = PipeMessageCodec::new().max_payload_length(usize::MAX);
    assert_eq!(
        huge.effective_max_payload_length() as u64,
        u64::from(u32::MAX).min(usize::MAX as u64)
    );
}

#[test]
fn message_accessors_return_what_was_given() {
    let owned = PipeMessage::new(String::from("ταυ"), Bytes::from_static(b"xyz")).unwrap();
    assert_eq!(owned.kind(), "ταυ");
    assert_eq!(owned.payload(), "xyz");
    assert_eq!(owned.clone().into_payload(), "xyz");
    assert!(format!("{owned:?}").contains("ταυ"));
}

#[test]
fn message_type_must_be_1_to_255_bytes() {
    let empty = PipeMessage::new("", Bytes::new()).unwrap_err();
    assert!(empty.is_empty_type(), "{empty}");
    assert_eq!(empty.to_string(), "pipe message type is empty");

    let longest = "x".repeat(255);
    let message = PipeMessage::new(longest.clone(), Bytes::new()).unwrap();
    let wire = encode(PipeMessageCodec::new(), message);
    assert_eq!(wire[1], 255);
    assert_eq!(
        decode_all(PipeMessageCodec::new(), &wire)[0].kind(),
        longest
    );

    let err = PipeMessage::new("x".repeat(256), Bytes::new()).unwrap_err();
    assert!(err.is_type_too_long(), "{err}");
    assert_eq!(
        err.to_string(),
        "pipe message type is 256 bytes, over the limit of 255 bytes"
    );
}

#[test]
fn empty_payload_round_trips() {
    let wire = encode(PipeMessageCodec::new(), message("ping", &[]));
    assert_eq!(wire, b"\x01\x04ping\x00\x00\x00\x00");
    assert_eq!(
        decode_all(PipeMessageCodec::new(), &wire),
        [message("ping", &[])]
    );
}

#[test]
fn payload_length_is_little_endian() {
    let payload = vec![7; 0x0102];
    let wire = encode(PipeMessageCodec::new(), message("t", &payload));
    assert_eq!(&wire[..7], [0x01, 0x01, b't', 0x02, 0x01, 0x00, 0x00]);
    assert_eq!(wire.len(), 7 + 0x0102);
}

#[test]
fn several_messages_in_one_buffer_decode_in_order() {
    let messages = [
        message("a", b"1"),
        message("lifetimeevent", &[1, 0]),
        message("b", b""),
    ];
    let mut wire = Vec::new();
    for m in &messages {
        wire.extend(encode(PipeMessageCodec::new(), m.clone()));
    }
    assert_eq!(decode_all(PipeMessageCodec::new(), &wire), messages);
}

#[test]
fn decoding_waits_for_the_whole_message_and_reserves_room_for_it() {
    let mut codec = PipeMessageCodec::new();
    let wire = encode(codec, message("t", &[9; 4096]));
    let mut src = BytesMut::from(&wire[..10]);
    assert_eq!(codec.decode(&mut src).unwrap(), None);
    assert!(src.capacity() >= wire.len(), "capacity {}", src.capacity());
    assert_eq!(
        src.len(),
        10,
        "nothing consumed before the message is whole"
    );
}

// ---------------------------------------------------------------------------
// Errors

#[test]
fn unknown_version_is_refused_from_the_first_byte() {
    for version in [0u8, 2, 0xff] {
        let err = decode_error(&[version]);
        let inner = pipe_message_error(&err);
        assert_eq!(inner.unknown_version(), Some(version));
        assert_eq!(
            err.to_string(),
            format!("unknown pipe message version {version} (this codec speaks version 1)")
        );
    }
}

#[test]
fn empty_type_is_refused_from_the_length_byte() {
    let err = decode_error(&[0x01, 0x00]);
    assert!(pipe_message_error(&err).is_empty_type(), "{err}");
}

#[test]
fn type_that_is_not_utf8_is_refused_as_soon_as_the_bad_byte_arrives() {
    // The length says 5 bytes, but the second one cannot be UTF-8: no need
    // to wait for the other three.
    let err = decode_error(&[0x01, 0x05, b'a', 0xff]);
    let inner = pipe_message_error(&err);
    assert!(inner.is_type_not_utf8(), "{err}");
    assert!(err.to_string().contains("byte 1"), "{err}");
}

#[test]
fn type_ending_in_a_truncated_character_is_refused_once_complete() {
    // "é" is c3 a9; a type of length 1 holding only c3 is invalid, but
    // nothing can be said while only c3 has arrived of a 2-byte type.
    let mut src = BytesMut::from(&[0x01, 0x02, 0xc3][..]);
    assert_eq!(PipeMessageCodec::new().decode(&mut src).unwrap(), None);

    let err = decode_error(&[0x01, 0x01, 0xc3, 0, 0, 0, 0]);
    assert!(pipe_message_error(&err).is_type_not_utf8(), "{err}");

    let ok = decode_all(
        PipeMessageCodec::new(),
        &[0x01, 0x02, 0xc3, 0xa9, 0, 0, 0, 0],
    );
    assert_eq!(ok[0].kind(), "é");
}

#[test]
fn payload_over_the_limit_is_refused_from_the_header_without_buffering() {
    let mut codec = PipeMessageCodec::new().max_payload_length(16);
    // 17 bytes announced, none sent.
    let mut src = BytesMut::from(&[0x01, 0x01, b't', 17, 0, 0, 0][..]);
    let err = codec.decode(&mut src).unwrap_err();
    let inner = frame_too_large(&err);
    assert_eq!((inner.limit(), inner.size()), (16, 17));
    assert!(src.capacity() < 1024, "reserved {} bytes", src.capacity());

    // The largest length the format can say, against the default limit.
    let mut src = BytesMut::from(&[0x01, 0x01, b't', 0xff, 0xff, 0xff, 0xff][..]);
    let err = PipeMessageCodec::new().decode(&mut src).unwrap_err();
    assert_eq!(frame_too_large(&err).size(), u64::from(u32::MAX));
    assert!(
        err.to_string().contains("8388608"),
        "names the limit: {err}"
    );
}

#[test]
fn payload_at_the_limit_is_accepted() {
    let codec = PipeMessageCodec::new().max_payload_length(16);
    let wire = encode(codec, message("t", &[1; 16]));
    assert_eq!(decode_all(codec, &wire)[0].payload().len(), 16);
}

#[test]
fn encoding_a_payload_over_the_limit_fails_and_writes_nothing() {
    let mut codec = PipeMessageCodec::new().max_payload_length(4);
    let mut dst = BytesMut::from(&b"kept"[..]);
    let err = codec.encode(message("t", b"12345"), &mut dst).unwrap_err();
    let inner = frame_too_large(&err);
    assert_eq!((inner.limit(), inner.size()), (4, 5));
    assert_eq!(dst, "kept");
}

#[test]
fn errors_are_sticky_because_the_bad_bytes_stay_in_the_buffer() {
    let mut codec = PipeMessageCodec::new();
    let mut src = BytesMut::from(&[0x07, 0x01, b't'][..]);
    let first = codec.decode(&mut src).unwrap_err().to_string();
    let second = codec.decode(&mut src).unwrap_err().to_string();
    assert_eq!(first, second);
    assert_eq!(src.len(), 3);
}

#[test]
fn end_of_stream_inside_a_message_is_unexpected_eof_saying_how_much_arrived() {
    let mut codec = PipeMessageCodec::new();
    let mut header = BytesMut::from(&VECTOR[..5]);
    let err = codec.decode_eof(&mut header).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert!(err.to_string().contains("header: 5 bytes"), "{err}");

    let mut payload = BytesMut::from(&VECTOR[..20]);
    let err = codec.decode_eof(&mut payload).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert!(err.to_string().contains("1 of 2 payload bytes"), "{err}");

    let mut empty = BytesMut::new();
    assert_eq!(codec.decode_eof(&mut empty).unwrap(), None);
}

#[test]
fn errors_during_decode_eof_are_the_decode_errors() {
    let mut src = BytesMut::from(&[0x02][..]);
    let err = PipeMessageCodec::new().decode_eof(&mut src).unwrap_err();
    assert_eq!(pipe_message_error(&err).unknown_version(), Some(2));
}

// ---------------------------------------------------------------------------
// Over a stream

#[tokio::test]
async fn framed_ends_exchange_messages() {
    let (a, b) = tokio::io::duplex(64);
    let mut a = Framed::new(a, PipeMessageCodec::new());
    let mut b = Framed::new(b, PipeMessageCodec::new());
    let sent = message("lifetimeevent", &[1, 0]);
    let big = PipeMessage::new("bulk", vec![0xab; 10_000]).unwrap();
    tokio::spawn(async move {
        a.send(sent).await.unwrap();
        a.send(big).await.unwrap();
    });
    assert_eq!(b.next().await.unwrap().unwrap().payload(), &[1, 0][..]);
    assert_eq!(b.next().await.unwrap().unwrap().payload().len(), 10_000);
    assert!(b.next().await.is_none());
}

// ---------------------------------------------------------------------------
// Properties

fn message_strategy() -> impl Strategy<Value = PipeMessage> {
    ("\\PC{1,40}", proptest::collection::vec(any::<u8>(), 0..300))
        .prop_filter_map("type of 1 to 255 bytes", |(kind, payload)| {
            PipeMessage::new(kind, payload).ok()
        })
}

proptest! {
    #[test]
    fn round_trip_through_any_split(
        messages in proptest::collection::vec(message_strategy(), 0..6),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let codec = PipeMessageCodec::new();
        let mut wire = Vec::new();
        for m in &messages {
            wire.extend(encode(codec, m.clone()));
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
        cuts.sort_unstable();
        prop_assert_eq!(decode_split(codec, &wire, &cuts), messages);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut codec = PipeMessageCodec::new().max_payload_length(32);
        let mut src = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = codec.decode(&mut src) {}
        let _ = codec.decode_eof(&mut src);
    }
}
