//! Integration tests for `tower_ipc::codec::LengthPrefixed`, through the public
//! API only.

use std::io;

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder, Framed};
use tower_ipc::codec::{FrameTooLarge, LengthPrefixed, LengthWidth};

const WIDTHS: [LengthWidth; 4] = [
    LengthWidth::U8,
    LengthWidth::U16,
    LengthWidth::U32,
    LengthWidth::U64,
];

/// Every width in both byte orders.
fn all_configurations() -> Vec<LengthPrefixed> {
    WIDTHS
        .iter()
        .flat_map(|&width| {
            let codec = LengthPrefixed::new().length_width(width);
            [codec.big_endian(), codec.little_endian()]
        })
        .collect()
}

/// Payloads of assorted sizes that every width can carry (U8 tops out at 255).
fn sample_payloads() -> Vec<Vec<u8>> {
    vec![
        b"hello".to_vec(),
        Vec::new(),
        vec![0x00],
        (0..=254).collect(),
        vec![0xFF; 255],
        b"x".to_vec(),
        Vec::new(),
    ]
}

fn encode_all(codec: &mut LengthPrefixed, payloads: &[Vec<u8>]) -> BytesMut {
    let mut wire = BytesMut::new();
    for payload in payloads {
        codec
            .encode(Bytes::copy_from_slice(payload), &mut wire)
            .expect("payload fits");
    }
    wire
}

fn encode_one(mut codec: LengthPrefixed, payload: &[u8]) -> Vec<u8> {
    let mut wire = BytesMut::new();
    codec
        .encode(Bytes::copy_from_slice(payload), &mut wire)
        .expect("payload fits");
    wire.to_vec()
}

/// Pulls every complete frame out of `src`.
fn drain(codec: &mut LengthPrefixed, src: &mut BytesMut, out: &mut Vec<Vec<u8>>) {
    while let Some(frame) = codec.decode(src).expect("well-formed input") {
        out.push(frame.to_vec());
    }
}

/// Feeds `wire` to a fresh buffer in pieces of the given sizes (cycled),
/// decoding after each piece, and returns the frames in order.
fn decode_in_chunks(mut codec: LengthPrefixed, wire: &[u8], chunk_sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut src = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = wire;
    for &size in chunk_sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(size.clamp(1, rest.len()));
        src.extend_from_slice(chunk);
        rest = tail;
        drain(&mut codec, &mut src, &mut frames);
    }
    assert_eq!(
        codec
            .decode_eof(&mut src)
            .expect("ends on a frame boundary"),
        None
    );
    frames
}

fn frame_too_large(err: &io::Error) -> &FrameTooLarge {
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<FrameTooLarge>())
        .unwrap_or_else(|| panic!("expected FrameTooLarge inside {err:?}"))
}

// ---------------------------------------------------------------------------
// Configuration

#[test]
fn new_and_default_are_four_byte_big_endian_with_8_mib_limit() {
    assert_eq!(LengthPrefixed::DEFAULT_MAX_FRAME_LENGTH, 8 * 1024 * 1024);
    assert_eq!(LengthPrefixed::new(), LengthPrefixed::default());
    assert_eq!(
        LengthPrefixed::new().effective_max_frame_length(),
        LengthPrefixed::DEFAULT_MAX_FRAME_LENGTH
    );
    assert_eq!(
        encode_one(LengthPrefixed::new(), b"hi"),
        [0x00, 0x00, 0x00, 0x02, b'h', b'i']
    );
}

#[test]
fn length_width_reports_its_size_and_largest_length() {
    let expected = [(1, 0xFF), (2, 0xFFFF), (4, 0xFFFF_FFFF), (8, u64::MAX)];
    for (width, (size, max)) in WIDTHS.into_iter().zip(expected) {
        assert_eq!(width.size(), size, "{width:?}");
        assert_eq!(width.max_length(), max, "{width:?}");
    }
    assert_eq!(LengthWidth::default(), LengthWidth::U32);
}

#[test]
fn effective_limit_is_smaller_of_configured_limit_and_width_maximum() {
    let codec = LengthPrefixed::new().max_frame_length(1000);
    assert_eq!(
        codec
            .length_width(LengthWidth::U8)
            .effective_max_frame_length(),
        255
    );
    assert_eq!(
        codec
            .length_width(LengthWidth::U16)
            .effective_max_frame_length(),
        1000
    );
    assert_eq!(
        LengthPrefixed::new()
            .length_width(LengthWidth::U16)
            .effective_max_frame_length(),
        65_535
    );
    // The order of the builder calls does not matter.
    assert_eq!(
        LengthPrefixed::new()
            .length_width(LengthWidth::U8)
            .max_frame_length(1000)
            .effective_max_frame_length(),
        255
    );
}

#[test]
fn big_endian_undoes_little_endian() {
    let codec = LengthPrefixed::new().little_endian().big_endian();
    assert_eq!(codec, LengthPrefixed::new());
}

#[test]
fn huge_configured_limit_with_u64_width_does_not_panic() {
    let mut codec = LengthPrefixed::new()
        .length_width(LengthWidth::U64)
        .max_frame_length(usize::MAX);
    assert!(codec.effective_max_frame_length() < usize::MAX);

    // A header announcing the largest possible length is refused rather than
    // overflowing or trying to reserve it.
    let mut src = BytesMut::from(&[0xFF; 8][..]);
    let err = codec.decode(&mut src).unwrap_err();
    assert_eq!(frame_too_large(&err).size(), u64::MAX);
}

// ---------------------------------------------------------------------------
// Round trips and exact wire bytes

#[test]
fn every_width_and_byte_order_round_trips() {
    for mut codec in all_configurations() {
        let payloads = sample_payloads();
        let mut wire = encode_all(&mut codec, &payloads);
        let mut decoded = Vec::new();
        drain(&mut codec, &mut wire, &mut decoded);
        assert_eq!(decoded, payloads, "{codec:?}");
        assert!(wire.is_empty(), "{codec:?} left {wire:?}");
    }
}

#[test]
fn encodes_known_bytes_on_the_wire() {
    let codec = LengthPrefixed::new();
    let cases: [(LengthPrefixed, &[u8], &[u8]); 8] = [
        (
            codec.length_width(LengthWidth::U16),
            b"hi",
            &[0x00, 0x02, b'h', b'i'],
        ),
        (
            codec.length_width(LengthWidth::U16).little_endian(),
            b"hi",
            &[0x02, 0x00, b'h', b'i'],
        ),
        (
            codec.length_width(LengthWidth::U8),
            b"hi",
            &[0x02, b'h', b'i'],
        ),
        (codec, b"abc", &[0x00, 0x00, 0x00, 0x03, b'a', b'b', b'c']),
        (
            codec.little_endian(),
            b"abc",
            &[0x03, 0x00, 0x00, 0x00, b'a', b'b', b'c'],
        ),
        (
            codec.length_width(LengthWidth::U64),
            b"z",
            &[0, 0, 0, 0, 0, 0, 0, 1, b'z'],
        ),
        (
            codec.length_width(LengthWidth::U64).little_endian(),
            b"z",
            &[1, 0, 0, 0, 0, 0, 0, 0, b'z'],
        ),
        (codec, b"", &[0, 0, 0, 0]),
    ];
    for (codec, payload, wire) in cases {
        assert_eq!(encode_one(codec, payload), wire, "{codec:?} {payload:?}");
    }

    // Multi-byte lengths put the bytes in the stated order.
    let wire = encode_one(codec.length_width(LengthWidth::U16), &[7; 0x0102]);
    assert_eq!(wire[..2], [0x01, 0x02]);
    let wire = encode_one(
        codec.length_width(LengthWidth::U16).little_endian(),
        &[7; 0x0102],
    );
    assert_eq!(wire[..2], [0x02, 0x01]);
}

#[test]
fn decodes_known_bytes_from_the_wire() {
    let mut codec = LengthPrefixed::new().length_width(LengthWidth::U16);
    let mut src = BytesMut::from(&[0x00, 0x02, b'h', b'i', 0x00, 0x00, 0x00, 0x01, b'!'][..]);
    assert_eq!(codec.decode(&mut src).unwrap().unwrap(), "hi");
    assert_eq!(codec.decode(&mut src).unwrap().unwrap(), "");
    assert_eq!(codec.decode(&mut src).unwrap().unwrap(), "!");
    assert_eq!(codec.decode(&mut src).unwrap(), None);

    let mut codec = LengthPrefixed::new()
        .length_width(LengthWidth::U32)
        .little_endian();
    let mut src = BytesMut::from(&[0x02, 0x00, 0x00, 0x00, b'o', b'k'][..]);
    assert_eq!(codec.decode(&mut src).unwrap().unwrap(), "ok");
}

#[test]
fn encode_appends_after_existing_bytes() {
    let mut codec = LengthPrefixed::new().length_width(LengthWidth::U8);
    let mut wire = BytesMut::from(&b"prefix"[..]);
    codec
        .encode(Bytes::copy_from_slice(&b"xy"[..]), &mut wire)
        .unwrap();
    assert_eq!(&wire[..], b"prefix\x02xy");
}

#[test]
fn zero_length_frames_round_trip() {
    for mut codec in all_configurations() {
        let mut wire = BytesMut::new();
        codec
            .encode(Bytes::copy_from_slice(&b""[..]), &mut wire)
            .unwrap();
        assert_eq!(wire.len(), codec_header_len(&codec), "{codec:?}");
        assert!(wire.iter().all(|&b| b == 0), "{codec:?}");
        codec
            .encode(Bytes::copy_from_slice(&b""[..]), &mut wire)
            .unwrap();
        codec
            .encode(Bytes::copy_from_slice(&b"a"[..]), &mut wire)
            .unwrap();
        codec
            .encode(Bytes::copy_from_slice(&b""[..]), &mut wire)
            .unwrap();

        let frames = decode_in_chunks(codec, &wire, &[1]);
        assert_eq!(frames, [&b""[..], b"", b"a", b""], "{codec:?}");
    }
}

fn codec_header_len(codec: &LengthPrefixed) -> usize {
    encode_one(*codec, b"").len()
}

// ---------------------------------------------------------------------------
// Partial input

#[test]
fn decoding_input_split_at_every_byte_boundary_yields_same_frames() {
    for mut codec in all_configurations() {
        let payloads = sample_payloads();
        let wire = encode_all(&mut codec, &payloads);
        for split in 0..=wire.len() {
            let mut src = BytesMut::new();
            let mut frames = Vec::new();
            src.extend_from_slice(&wire[..split]);
            drain(&mut codec, &mut src, &mut frames);
            src.extend_from_slice(&wire[split..]);
            drain(&mut codec, &mut src, &mut frames);
            assert_eq!(frames, payloads, "{codec:?} split at {split}");
            assert!(src.is_empty(), "{codec:?} split at {split}");
        }
    }
}

#[test]
fn decoding_byte_at_a_time_yields_same_frames() {
    for mut codec in all_configurations() {
        let payloads = sample_payloads();
        let wire = encode_all(&mut codec, &payloads);
        assert_eq!(decode_in_chunks(codec, &wire, &[1]), payloads, "{codec:?}");
    }
}

#[test]
fn decode_returns_none_until_frame_is_complete_and_leaves_input_alone() {
    let mut codec = LengthPrefixed::new();
    let mut src = BytesMut::from(&[0x00, 0x00, 0x00, 0x03, b'a', b'b'][..]);
    assert_eq!(codec.decode(&mut src).unwrap(), None);
    assert_eq!(&src[..], &[0x00, 0x00, 0x00, 0x03, b'a', b'b']);
    src.extend_from_slice(b"c");
    assert_eq!(codec.decode(&mut src).unwrap().unwrap(), "abc");
    assert!(src.is_empty());
}

#[test]
fn decode_reserves_room_for_whole_frame_once_header_arrives() {
    const LEN: usize = 1024 * 1024;
    let mut codec = LengthPrefixed::new();
    let mut src = BytesMut::new();
    src.extend_from_slice(&(LEN as u32).to_be_bytes());
    assert_eq!(codec.decode(&mut src).unwrap(), None);
    assert!(src.capacity() >= 4 + LEN, "capacity {}", src.capacity());

    // The payload then lands in that space without the buffer moving.
    let start = src.as_ptr();
    let chunk = [0x5A; 4096];
    while src.len() < 4 + LEN {
        src.extend_from_slice(&chunk);
        if src.len() < 4 + LEN {
            assert_eq!(codec.decode(&mut src).unwrap(), None);
        }
        assert_eq!(
            src.as_ptr(),
            start,
            "buffer reallocated at {} bytes",
            src.len()
        );
    }
    let frame = codec.decode(&mut src).unwrap().unwrap();
    assert_eq!(frame.len(), LEN);
}

#[test]
fn decoded_frame_points_into_read_buffer_without_copying() {
    let mut codec = LengthPrefixed::new().length_width(LengthWidth::U16);
    let mut src = BytesMut::from(&[0x00, 0x03, b'a', b'b', b'c'][..]);
    let payload_start = src[2..].as_ptr();
    let frame = codec.decode(&mut src).unwrap().unwrap();
    assert_eq!(frame.as_ptr(), payload_start);
}

// ---------------------------------------------------------------------------
// Frame length limit

#[test]
fn decode_rejects_oversized_frame_from_header_alone() {
    let mut codec = LengthPrefixed::new().max_frame_length(100);
    // Only the header has arrived: the error must not wait for the payload.
    let mut src = BytesMut::from(&101_u32.to_be_bytes()[..]);
    let err = codec.decode(&mut src).unwrap_err();
    let too_large = frame_too_large(&err);
    assert_eq!(too_large.limit(), 100);
    assert_eq!(too_large.size(), 101);
}

#[test]
fn decode_does_not_reserve_space_for_oversized_frame() {
    let mut codec = LengthPrefixed::new();
    let mut src = BytesMut::from(&u32::MAX.to_be_bytes()[..]);
    let err = codec.decode(&mut src).unwrap_err();
    let too_large = frame_too_large(&err);
    assert_eq!(too_large.limit(), LengthPrefixed::DEFAULT_MAX_FRAME_LENGTH);
    assert_eq!(too_large.size(), u64::from(u32::MAX));
    assert!(src.capacity() < 1024, "capacity grew to {}", src.capacity());
}

#[test]
fn decode_accepts_frame_of_exactly_the_limit() {
    let mut codec = LengthPrefixed::new()
        .length_width(LengthWidth::U8)
        .max_frame_length(3);
    let mut src = BytesMut::from(&b"\x03abc\x04abcd"[..]);
    assert_eq!(codec.decode(&mut src).unwrap().unwrap(), "abc");
    let err = codec.decode(&mut src).unwrap_err();
    assert_eq!(frame_too_large(&err).size(), 4);
}

#[test]
fn decode_keeps_failing_without_panicking_after_oversized_frame() {
    let mut codec = LengthPrefixed::new().max_frame_length(10);
    let mut src = BytesMut::from(&[0x00, 0x00, 0x00, 0x0B, 1, 2, 3][..]);
    for _ in 0..3 {
        let err = codec.decode(&mut src).unwrap_err();
        assert_eq!(frame_too_large(&err).size(), 11);
    }
    let err = codec.decode_eof(&mut src).unwrap_err();
    assert_eq!(frame_too_large(&err).size(), 11);
}

#[test]
fn encode_rejects_oversized_payload_and_writes_nothing() {
    let mut codec = LengthPrefixed::new().max_frame_length(4);
    let mut dst = BytesMut::from(&b"earlier"[..]);
    let err = codec
        .encode(Bytes::copy_from_slice(&b"12345"[..]), &mut dst)
        .unwrap_err();
    let too_large = frame_too_large(&err);
    assert_eq!(too_large.limit(), 4);
    assert_eq!(too_large.size(), 5);
    assert_eq!(&dst[..], b"earlier");

    codec
        .encode(Bytes::copy_from_slice(&b"1234"[..]), &mut dst)
        .unwrap();
    assert_eq!(&dst[..], b"earlier\x00\x00\x00\x041234");
}

#[test]
fn u8_width_cannot_encode_256_bytes() {
    let mut codec = LengthPrefixed::new().length_width(LengthWidth::U8);
    let mut dst = BytesMut::new();
    codec
        .encode(Bytes::copy_from_slice(&[1; 255][..]), &mut dst)
        .unwrap();
    assert_eq!(dst.len(), 256);

    let err = codec
        .encode(Bytes::copy_from_slice(&[1; 256][..]), &mut dst)
        .unwrap_err();
    let too_large = frame_too_large(&err);
    assert_eq!(too_large.limit(), 255);
    assert_eq!(too_large.size(), 256);
    assert_eq!(dst.len(), 256, "nothing written for the rejected frame");
}

#[test]
fn u16_width_cannot_encode_65536_bytes() {
    let mut codec = LengthPrefixed::new().length_width(LengthWidth::U16);
    let mut dst = BytesMut::new();
    codec
        .encode(Bytes::from(vec![0; 65_535]), &mut dst)
        .unwrap();
    let err = codec
        .encode(Bytes::from(vec![0; 65_536]), &mut dst)
        .unwrap_err();
    assert_eq!(frame_too_large(&err).limit(), 65_535);
}

#[test]
fn configured_limit_below_width_maximum_applies_to_decode() {
    let mut codec = LengthPrefixed::new()
        .length_width(LengthWidth::U8)
        .max_frame_length(10);
    let mut src = BytesMut::from(&[11][..]);
    let err = codec.decode(&mut src).unwrap_err();
    let too_large = frame_too_large(&err);
    assert_eq!(too_large.limit(), 10);
    assert_eq!(too_large.size(), 11);
}

// ---------------------------------------------------------------------------
// End of stream

#[test]
fn decode_eof_with_truncated_payload_reports_bytes_received_and_expected() {
    let mut codec = LengthPrefixed::new();
    let mut src = BytesMut::from(&[0x00, 0x00, 0x00, 0x0A, 1, 2, 3][..]);
    let err = codec.decode_eof(&mut src).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(
        err.to_string(),
        "connection closed inside a frame: 3 of 10 bytes received"
    );
}

#[test]
fn decode_eof_with_truncated_header_reports_header_bytes_received() {
    let mut codec = LengthPrefixed::new().length_width(LengthWidth::U64);
    let mut src = BytesMut::from(&[0x00, 0x00, 0x00][..]);
    let err = codec.decode_eof(&mut src).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(
        err.to_string(),
        "connection closed inside a frame header: 3 of 8 bytes received"
    );
}

#[test]
fn decode_eof_with_empty_buffer_returns_none() {
    let mut codec = LengthPrefixed::new();
    assert_eq!(codec.decode_eof(&mut BytesMut::new()).unwrap(), None);
}

#[test]
fn decode_eof_still_returns_complete_frames_before_ending() {
    let mut codec = LengthPrefixed::new().length_width(LengthWidth::U8);
    let mut src = BytesMut::from(&b"\x01a\x00"[..]);
    assert_eq!(codec.decode_eof(&mut src).unwrap().unwrap(), "a");
    assert_eq!(codec.decode_eof(&mut src).unwrap().unwrap(), "");
    assert_eq!(codec.decode_eof(&mut src).unwrap(), None);
}

// ---------------------------------------------------------------------------
// Property

fn width_strategy() -> impl Strategy<Value = LengthWidth> {
    prop_oneof![
        Just(LengthWidth::U8),
        Just(LengthWidth::U16),
        Just(LengthWidth::U32),
        Just(LengthWidth::U64),
    ]
}

fn codec_strategy() -> impl Strategy<Value = LengthPrefixed> {
    (width_strategy(), any::<bool>()).prop_map(|(width, little)| {
        let codec = LengthPrefixed::new().length_width(width);
        if little { codec.little_endian() } else { codec }
    })
}

proptest! {
    #[test]
    fn arbitrary_payloads_round_trip_through_arbitrary_chunking(
        (codec, payloads) in codec_strategy().prop_flat_map(|codec| {
            // Stay within what the width can carry, and mostly small so that
            // many frames (and many header splits) fit in one case.
            let max = codec.effective_max_frame_length().min(600);
            let payload = prop_oneof![
                4 => prop::collection::vec(any::<u8>(), 0..=max.min(16)),
                1 => prop::collection::vec(any::<u8>(), 0..=max),
            ];
            (Just(codec), prop::collection::vec(payload, 0..20))
        }),
        chunk_sizes in prop::collection::vec(1usize..=64, 1..16),
    ) {
        let mut encoder = codec;
        let wire = encode_all(&mut encoder, &payloads);
        prop_assert_eq!(decode_in_chunks(codec, &wire, &chunk_sizes), payloads);
    }
}

// ---------------------------------------------------------------------------
// End to end

#[tokio::test]
async fn framed_over_duplex_sends_and_receives_frames_including_8_mib() {
    let big: Bytes = (0..LengthPrefixed::DEFAULT_MAX_FRAME_LENGTH)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let frames = vec![
        Bytes::from_static(b"hello"),
        Bytes::new(),
        big,
        Bytes::from_static(b"after the big one"),
    ];

    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let mut client = Framed::new(client_io, LengthPrefixed::new());
    let mut server = Framed::new(server_io, LengthPrefixed::new());

    // The pipe holds far less than 8 MiB, so both ends must run at once.
    let to_send = frames.clone();
    let sender = tokio::spawn(async move {
        for frame in to_send {
            client.send(frame).await?;
        }
        // Dropping the client closes the pipe: the server sees a clean end.
        io::Result::Ok(())
    });

    let mut received = Vec::new();
    while let Some(frame) = server.next().await {
        received.push(frame.expect("well-formed stream"));
    }
    sender
        .await
        .expect("sender did not panic")
        .expect("sends succeed");

    assert_eq!(received.len(), frames.len());
    for (got, sent) in received.iter().zip(&frames) {
        assert!(
            got == sent,
            "frame of {} bytes differs from one of {}",
            got.len(),
            sent.len()
        );
    }
}

#[tokio::test]
async fn framed_reader_rejects_frame_over_its_limit() {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let mut client = Framed::new(client_io, LengthPrefixed::new());
    let mut server = Framed::new(server_io, LengthPrefixed::new().max_frame_length(1024));

    client.send(Bytes::from(vec![0_u8; 100])).await.unwrap();
    client.send(Bytes::from(vec![0_u8; 4096])).await.unwrap();

    assert_eq!(server.next().await.unwrap().unwrap().len(), 100);
    let err = server.next().await.unwrap().unwrap_err();
    let too_large = frame_too_large(&err);
    assert_eq!(too_large.limit(), 1024);
    assert_eq!(too_large.size(), 4096);
}

#[tokio::test]
async fn framed_reader_reports_stream_closed_inside_a_frame() {
    use tokio::io::AsyncWriteExt;

    let (mut raw, server_io) = tokio::io::duplex(1024);
    let mut server = Framed::new(
        server_io,
        LengthPrefixed::new().length_width(LengthWidth::U16),
    );
    raw.write_all(&[0x00, 0x05, b'a', b'b']).await.unwrap();
    drop(raw);

    let err = server.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert!(err.to_string().contains("2 of 5 bytes"), "{err}");
}
