//! Integration tests for `tower_ipc::codec::JsonCodec`, through the public
//! API only.
//!
//! The check that each byte is scanned once (a step counter in the scanner)
//! and the tests of the crate-internal `decode_frame`/`encode_with` live
//! beside the code, in `src/codec/json/`.

use std::io;

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use proptest::prelude::*;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio_util::codec::{Decoder, Encoder, Framed};
use tower_ipc::codec::{FrameTooLarge, JsonCodec, JsonFraming};

const FRAMINGS: [JsonFraming; 3] = [
    JsonFraming::Stream,
    JsonFraming::Ndjson,
    JsonFraming::ContentLength,
];

fn codec(framing: JsonFraming) -> JsonCodec {
    JsonCodec::new().framing(framing)
}

fn encode_all(framing: JsonFraming, values: &[&[u8]]) -> Vec<u8> {
    let mut codec = codec(framing).max_frame_length(usize::MAX);
    let mut wire = BytesMut::new();
    for value in values {
        codec
            .encode(Bytes::copy_from_slice(value), &mut wire)
            .expect("value can be framed");
    }
    wire.to_vec()
}

/// Pulls every complete frame out of `src`.
fn drain(codec: &mut JsonCodec, src: &mut BytesMut, out: &mut Vec<Vec<u8>>) {
    while let Some(frame) = codec.decode(src).expect("well-formed input") {
        out.push(frame.to_vec());
    }
}

/// Feeds `wire` to `codec` in pieces of the given sizes (cycled), decoding
/// after each piece and at the end of input, and returns the frames.
fn decode_in_chunks(mut codec: JsonCodec, wire: &[u8], chunk_sizes: &[usize]) -> Vec<Vec<u8>> {
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
    while let Some(frame) = codec.decode_eof(&mut src).expect("ends between values") {
        frames.push(frame.to_vec());
    }
    assert!(src.is_empty(), "left over: {src:?}");
    frames
}

fn decode_whole(codec: JsonCodec, wire: &[u8]) -> Vec<Vec<u8>> {
    decode_in_chunks(codec, wire, &[wire.len()])
}

fn frames(values: &[&[u8]]) -> Vec<Vec<u8>> {
    values.iter().map(|v| v.to_vec()).collect()
}

fn frame_too_large(err: &io::Error) -> &FrameTooLarge {
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<FrameTooLarge>())
        .unwrap_or_else(|| panic!("expected FrameTooLarge inside {err:?}"))
}

/// Values that exercise strings, escapes and brackets inside strings.
const TRICKY_VALUES: [&[u8]; 10] = [
    br#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}"#,
    br#""\"}""#,
    br#""\\""#,
    br#"{"a":"}","b":"]","c":"{[","d":"\\\"}"}"#,
    br#"["\\\\",  "\"", "x\\"]"#,
    br#"{"nested":[[[{"deep":[1,2,{"k":"v"}]}]]]}"#,
    r#"{"unicode":"\u00e9\u20ac","raw":"é€😀"}"#.as_bytes(),
    b"-12.5e+3",
    b"true",
    b"null",
];

/// About `len` bytes of one JSON object, with strings holding escapes and
/// brackets.
fn big_value(len: usize) -> Vec<u8> {
    let mut value = b"{\"items\":[".to_vec();
    let mut i = 0_u64;
    while value.len() < len {
        value.extend_from_slice(
            format!(r#"{{"n":{i},"s":"q\"{{[\\","h":"0x{i:064x}"}},"#).as_bytes(),
        );
        i += 1;
    }
    value.extend_from_slice(b"null]}");
    value
}

/// A small deterministic generator, so that failures reproduce.
fn chunk_sizes(seed: u64, count: usize, max: usize) -> Vec<usize> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            1 + (state % max as u64) as usize
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Configuration

#[test]
fn new_and_default_frame_a_stream_with_an_8_mib_limit() {
    assert_eq!(JsonCodec::DEFAULT_MAX_FRAME_LENGTH, 8 * 1024 * 1024);
    assert_eq!(JsonFraming::default(), JsonFraming::Stream);
    for codec in [JsonCodec::new(), JsonCodec::default()] {
        let mut wire = BytesMut::new();
        let mut encoder = codec.clone();
        encoder
            .encode(Bytes::from_static(b"{}"), &mut wire)
            .unwrap();
        assert_eq!(&wire[..], b"{}\n");

        let mut src = BytesMut::from(&b"{}{}"[..]);
        let mut decoder = codec;
        assert_eq!(decoder.decode(&mut src).unwrap().unwrap(), "{}");

        // 8 MiB is fine, a byte more is not.
        let mut encoder = JsonCodec::new();
        let limit = JsonCodec::DEFAULT_MAX_FRAME_LENGTH;
        let mut dst = BytesMut::new();
        encoder
            .encode(Bytes::from(vec![b'1'; limit]), &mut dst)
            .unwrap();
        let err = encoder
            .encode(Bytes::from(vec![b'1'; limit + 1]), &mut dst)
            .unwrap_err();
        assert_eq!(frame_too_large(&err).limit(), limit);
    }
}

#[test]
fn builder_order_does_not_matter() {
    let a = JsonCodec::new()
        .max_frame_length(10)
        .framing(JsonFraming::Ndjson);
    let b = JsonCodec::new()
        .framing(JsonFraming::Ndjson)
        .max_frame_length(10);
    for mut codec in [a, b] {
        let mut src = BytesMut::from(&b"12345678901\n"[..]);
        let err = codec.decode(&mut src).unwrap_err();
        assert_eq!(frame_too_large(&err), &frame_too_large(&err).clone());
        assert_eq!(frame_too_large(&err).limit(), 10);
        assert_eq!(frame_too_large(&err).size(), 11);
    }
}

// ---------------------------------------------------------------------------
// Stream framing: known inputs

#[test]
fn stream_decodes_known_inputs_into_exact_frames() {
    let cases: [(&[u8], &[&[u8]]); 14] = [
        (b"{}", &[b"{}"]),
        (b"{\"a\":1}{\"b\":2}", &[b"{\"a\":1}", b"{\"b\":2}"]),
        (
            b"  \n\t{ \"a\" : [ 1 , 2 ] }\r\n ",
            &[b"{ \"a\" : [ 1 , 2 ] }"],
        ),
        (b"[1][2] [3]\n[4]", &[b"[1]", b"[2]", b"[3]", b"[4]"]),
        (b"1 2\n3\t-4.5e6", &[b"1", b"2", b"3", b"-4.5e6"]),
        (b"true false null", &[b"true", b"false", b"null"]),
        (b"\"a\"\"b\" \"c d\"", &[b"\"a\"", b"\"b\"", b"\"c d\""]),
        (
            b"1\"s\"2[3]4{}",
            &[b"1", b"\"s\"", b"2", b"[3]", b"4", b"{}"],
        ),
        (br#""\"}""#, &[br#""\"}""#]),
        (br#""\\"{}"#, &[br#""\\""#, b"{}"]),
        (br#"{"s":"\\\"]}"}[]"#, &[br#"{"s":"\\\"]}"}"#, b"[]"]),
        (b"[[[[]]]]{{}}", &[b"[[[[]]]]", b"{{}}"]),
        (b"   ", &[]),
        (b"", &[]),
    ];
    for (input, expected) in cases {
        let got = decode_whole(JsonCodec::new(), input);
        assert_eq!(got, frames(expected), "{}", input.escape_ascii());
    }
}

#[test]
fn stream_decodes_many_values_from_one_read() {
    let wire = TRICKY_VALUES.join(&b" "[..]);
    let mut codec = JsonCodec::new();
    let mut src = BytesMut::from(&wire[..]);
    let mut got = Vec::new();
    drain(&mut codec, &mut src, &mut got);
    // The last value, `null`, could still go on (`nullx`): only the end of
    // input completes it.
    assert_eq!(got, frames(&TRICKY_VALUES[..9]));
    assert_eq!(codec.decode_eof(&mut src).unwrap().unwrap(), "null");
    assert_eq!(codec.decode_eof(&mut src).unwrap(), None);
}

#[test]
fn stream_frames_point_into_the_read_buffer_without_copying() {
    let mut codec = JsonCodec::new();
    let mut src = BytesMut::from(&b"  [1,2]"[..]);
    let start = src[2..].as_ptr();
    let frame = codec.decode(&mut src).unwrap().unwrap();
    assert_eq!(frame.as_ptr(), start);
}

#[test]
fn stream_decode_returns_none_until_a_value_is_complete() {
    let mut codec = JsonCodec::new();
    let mut src = BytesMut::new();
    for piece in [&b"{\"a\""[..], b":[1,", b"\"}\\\"", b"\"]", b"}"] {
        assert_eq!(codec.decode(&mut src).unwrap(), None);
        src.extend_from_slice(piece);
    }
    assert_eq!(
        codec.decode(&mut src).unwrap().unwrap(),
        &br#"{"a":[1,"}\""]}"#[..]
    );
}

#[test]
fn stream_mismatched_closer_ends_the_value_and_the_stream_resynchronises() {
    let cases: [(&[u8], &[&[u8]]); 5] = [
        (br#"{"a":[}{"b":1}"#, &[br#"{"a":[}"#, br#"{"b":1}"#]),
        (br#"[1,2}[3]"#, &[b"[1,2}", b"[3]"]),
        (br#"{"a":{]]}"#, &[br#"{"a":{]"#, b"]", b"}"]),
        (b"}]{}", &[b"}", b"]", b"{}"]),
        (br#"{"a":"]}"}"#, &[br#"{"a":"]}"}"#]),
    ];
    for (input, expected) in cases {
        for split in 0..=input.len() {
            let got = decode_in_chunks(JsonCodec::new(), input, &[split.max(1), input.len()]);
            assert_eq!(
                got,
                frames(expected),
                "{} split at {split}",
                input.escape_ascii()
            );
        }
    }
}

#[test]
fn stream_junk_tokens_are_frames_for_the_parser_to_reject() {
    let got = decode_whole(
        JsonCodec::new(),
        b"hello {\"ok\":1} wor,ld: 12abc[] \x00\x01 ",
    );
    assert_eq!(
        got,
        frames(&[
            b"hello",
            b"{\"ok\":1}",
            b"wor",
            b",",
            b"ld",
            b":",
            b"12abc",
            b"[]",
            b"\x00\x01",
        ])
    );
}

#[test]
fn stream_deep_nesting_of_100_000_levels_is_one_frame() {
    const DEPTH: usize = 100_000;
    let mut value = Vec::with_capacity(4 * DEPTH);
    for level in 0..DEPTH {
        value.extend_from_slice(if level % 2 == 0 { b"{\"k\":" } else { b"[" });
    }
    value.extend_from_slice(b"0");
    for level in (0..DEPTH).rev() {
        value.push(if level % 2 == 0 { b'}' } else { b']' });
    }
    let mut wire = value.clone();
    wire.extend_from_slice(b" [\"after\"]");

    for chunks in [&[wire.len()][..], &[1], &[4096, 7]] {
        let got = decode_in_chunks(JsonCodec::new(), &wire, chunks);
        assert_eq!(got.len(), 2, "chunks {chunks:?}");
        assert!(got[0] == value, "the deep value comes back whole");
        assert_eq!(got[1], b"[\"after\"]");
    }

    // A mismatch at the bottom is still caught, 100,000 levels down.
    let mut broken = value;
    let innermost = broken.iter().position(|&b| b == b'0').unwrap() + 1;
    broken[innermost] = if broken[innermost] == b'}' {
        b']'
    } else {
        b'}'
    };
    let got = decode_whole(JsonCodec::new(), &broken);
    assert_eq!(got[0].len(), innermost + 1);
}

#[test]
fn stream_decode_eof_completes_a_trailing_scalar_and_accepts_whitespace() {
    assert_eq!(
        decode_whole(JsonCodec::new(), b"[1] 42"),
        frames(&[b"[1]", b"42"])
    );
    assert_eq!(
        decode_whole(JsonCodec::new(), b"true \r\n"),
        frames(&[b"true"])
    );
    assert_eq!(
        decode_whole(JsonCodec::new(), b"{}\n\n  "),
        frames(&[b"{}"])
    );
}

#[test]
fn stream_decode_eof_inside_a_value_says_how_much_arrived() {
    for (input, received) in [
        (&b"{\"a\":[1,2"[..], 9),
        (b"  \"unterminated", 13),
        (b"[\"\\", 3),
    ] {
        let mut codec = JsonCodec::new();
        let mut src = BytesMut::from(input);
        assert_eq!(codec.decode(&mut src).unwrap(), None);
        let err = codec.decode_eof(&mut src).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(
            err.to_string(),
            format!("connection closed inside a JSON value: {received} bytes received")
        );
    }
}

#[test]
fn stream_oversized_value_is_an_error_naming_the_limit_and_size() {
    let mut codec = JsonCodec::new().max_frame_length(16);
    let mut src = BytesMut::from(&br#"{"ok":1} ["this value is too long"] 7"#[..]);
    assert_eq!(codec.decode(&mut src).unwrap().unwrap(), r#"{"ok":1}"#);
    let err = codec.decode(&mut src).unwrap_err();
    assert_eq!(
        err.to_string(),
        "frame of 26 bytes exceeds the maximum frame length of 16 bytes"
    );
    assert_eq!(frame_too_large(&err).limit(), 16);
    assert_eq!(frame_too_large(&err).size(), 26);
    // The value was discarded; a caller that goes on gets the next one.
    assert_eq!(codec.decode_eof(&mut src).unwrap().unwrap(), "7");
}

#[test]
fn stream_value_of_exactly_the_limit_is_accepted() {
    for value in [&b"[1234]"[..], b"123456", b"\"abcd\""] {
        let mut wire = value.to_vec();
        wire.extend_from_slice(b" 1234567");
        let mut codec = JsonCodec::new().max_frame_length(6);
        let mut src = BytesMut::from(&wire[..]);
        assert_eq!(codec.decode(&mut src).unwrap().unwrap(), value);
        let err = codec.decode_eof(&mut src).unwrap_err();
        assert_eq!(frame_too_large(&err).size(), 7);
    }
}

#[test]
fn stream_oversized_value_is_not_buffered_while_it_arrives() {
    let mut codec = JsonCodec::new().max_frame_length(1024);
    let mut src = BytesMut::new();
    src.extend_from_slice(b"\"");
    let mut errors = 0;
    for _ in 0..1024 {
        src.extend_from_slice(&[b'x'; 1024]);
        match codec.decode(&mut src) {
            Ok(frame) => assert_eq!(frame, None),
            Err(err) => {
                frame_too_large(&err);
                errors += 1;
            }
        }
        assert!(src.len() <= 2048, "{} bytes buffered", src.len());
    }
    src.extend_from_slice(b"\" {\"next\":true}");
    assert_eq!(codec.decode(&mut src).unwrap().unwrap(), "{\"next\":true}");
    assert_eq!(errors, 1, "reported once");
}

// ---------------------------------------------------------------------------
// Every framing: splits, big values, round trips

#[test]
fn every_framing_decodes_what_it_encodes_split_at_every_byte_boundary() {
    for framing in FRAMINGS {
        let wire = encode_all(framing, &TRICKY_VALUES);
        for split in 0..=wire.len() {
            let mut codec = codec(framing);
            let mut src = BytesMut::new();
            let mut got = Vec::new();
            src.extend_from_slice(&wire[..split]);
            drain(&mut codec, &mut src, &mut got);
            src.extend_from_slice(&wire[split..]);
            drain(&mut codec, &mut src, &mut got);
            assert_eq!(got, frames(&TRICKY_VALUES), "{framing:?} split at {split}");
            assert!(src.is_empty(), "{framing:?} split at {split}");
        }
    }
}

#[test]
fn every_framing_decodes_byte_at_a_time() {
    for framing in FRAMINGS {
        let wire = encode_all(framing, &TRICKY_VALUES);
        assert_eq!(
            decode_in_chunks(codec(framing), &wire, &[1]),
            frames(&TRICKY_VALUES),
            "{framing:?}"
        );
    }
}

#[test]
fn every_framing_decodes_a_16_mib_value_byte_at_a_time_and_in_random_chunks() {
    let big = big_value(16 * 1024 * 1024);
    let values: [&[u8]; 3] = [b"[0]", &big, b"{\"after\":1}"];
    for framing in FRAMINGS {
        let wire = encode_all(framing, &values);
        let codec = codec(framing).max_frame_length(32 * 1024 * 1024);
        for chunks in [vec![1], chunk_sizes(7, 1000, 100_000)] {
            let got = decode_in_chunks(codec.clone(), &wire, &chunks);
            assert_eq!(got.len(), 3, "{framing:?}");
            assert!(
                got[1] == big,
                "{framing:?}: the 16 MiB value comes back whole"
            );
            assert_eq!(got[2], b"{\"after\":1}", "{framing:?}");
        }
    }
}

#[test]
fn every_framing_refuses_to_encode_an_oversized_value_and_writes_nothing() {
    for framing in FRAMINGS {
        let mut codec = codec(framing).max_frame_length(4);
        let mut dst = BytesMut::from(&b"earlier"[..]);
        let err = codec
            .encode(Bytes::from_static(b"[1,2]"), &mut dst)
            .unwrap_err();
        assert_eq!(frame_too_large(&err).limit(), 4, "{framing:?}");
        assert_eq!(frame_too_large(&err).size(), 5, "{framing:?}");
        assert_eq!(&dst[..], b"earlier", "{framing:?}");
    }
}

#[test]
fn every_framing_skips_an_oversized_value_when_decoding_goes_on() {
    let big = big_value(100_000);
    for framing in FRAMINGS {
        let wire = encode_all(framing, &[b"1", &big, b"2"]);
        let mut codec = codec(framing).max_frame_length(1000);
        let mut src = BytesMut::new();
        let mut got = Vec::new();
        let mut errors = Vec::new();
        for piece in wire.chunks(777) {
            src.extend_from_slice(piece);
            loop {
                match codec.decode(&mut src) {
                    Ok(Some(frame)) => got.push(frame),
                    Ok(None) => break,
                    Err(err) => errors.push(frame_too_large(&err).clone()),
                }
            }
        }
        got.extend(codec.decode_eof(&mut src).unwrap());
        assert_eq!(got, ["1", "2"], "{framing:?}");
        assert_eq!(errors.len(), 1, "{framing:?}: {errors:?}");
        assert_eq!(errors[0].limit(), 1000);
        assert!(errors[0].size() > 1000, "{framing:?}: {:?}", errors[0]);
    }
}

#[test]
fn stream_and_ndjson_refuse_to_encode_an_empty_value() {
    for framing in [JsonFraming::Stream, JsonFraming::Ndjson] {
        let mut dst = BytesMut::new();
        let err = codec(framing).encode(Bytes::new(), &mut dst).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{framing:?}");
        assert!(dst.is_empty());
    }
    let mut dst = BytesMut::new();
    codec(JsonFraming::ContentLength)
        .encode(Bytes::new(), &mut dst)
        .unwrap();
    assert_eq!(&dst[..], b"Content-Length: 0\r\n\r\n");
}

// ---------------------------------------------------------------------------
// NDJSON

#[test]
fn ndjson_decodes_lines_tolerating_crlf_and_skipping_blank_lines() {
    let wire = b"{\"a\":1}\n\r\n\n[2]\r\n  \"three\" \t\r\n\n\n4";
    assert_eq!(
        decode_whole(codec(JsonFraming::Ndjson), wire),
        frames(&[b"{\"a\":1}", b"[2]", b"\"three\"", b"4"])
    );
    for chunk in 1..wire.len() {
        assert_eq!(
            decode_in_chunks(codec(JsonFraming::Ndjson), wire, &[chunk]),
            frames(&[b"{\"a\":1}", b"[2]", b"\"three\"", b"4"]),
            "chunk {chunk}"
        );
    }
}

#[test]
fn ndjson_frames_whole_lines_without_looking_inside() {
    // Two values on one line are one frame: NDJSON is about lines.
    assert_eq!(
        decode_whole(codec(JsonFraming::Ndjson), b"{}{} [\n"),
        frames(&[b"{}{} ["])
    );
}

#[test]
fn ndjson_encodes_value_and_newline_and_refuses_a_raw_newline() {
    let mut codec = codec(JsonFraming::Ndjson);
    let mut dst = BytesMut::new();
    codec
        .encode(Bytes::from_static(b"{\"a\":\"b\\nc\"}"), &mut dst)
        .unwrap();
    assert_eq!(&dst[..], b"{\"a\":\"b\\nc\"}\n");
    let err = codec
        .encode(Bytes::from_static(b"{\n\"a\":1}"), &mut dst)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("newline"), "{err}");
    assert_eq!(&dst[..], b"{\"a\":\"b\\nc\"}\n");
}

#[test]
fn ndjson_line_over_the_limit_is_skipped_to_the_next_newline() {
    let mut codec = codec(JsonFraming::Ndjson).max_frame_length(8);
    // Exactly 8 bytes before "\r\n" fits.
    let mut src = BytesMut::from(&b"12345678\r\n123456789\r\n[ok]\n"[..]);
    assert_eq!(codec.decode(&mut src).unwrap().unwrap(), "12345678");
    let err = codec.decode(&mut src).unwrap_err();
    assert_eq!(frame_too_large(&err).size(), 9);
    assert_eq!(codec.decode(&mut src).unwrap().unwrap(), "[ok]");

    // A line that never ends is discarded as it arrives.
    let mut src = BytesMut::from(&[b'x'; 100][..]);
    let err = codec.decode(&mut src).unwrap_err();
    assert_eq!(frame_too_large(&err).size(), 100);
    assert!(src.is_empty());
    src.extend_from_slice(b"xxxx\n[1]\n");
    assert_eq!(codec.decode(&mut src).unwrap().unwrap(), "[1]");
}

#[test]
fn ndjson_decode_eof_takes_a_last_line_without_newline() {
    assert_eq!(
        decode_whole(codec(JsonFraming::Ndjson), b"[1]\n{\"last\":2}"),
        frames(&[b"[1]", b"{\"last\":2}"])
    );
    assert_eq!(
        decode_whole(codec(JsonFraming::Ndjson), b"[1]\n  \r"),
        frames(&[b"[1]"])
    );
}

// ---------------------------------------------------------------------------
// Content-Length

#[test]
fn content_length_encodes_the_lsp_header() {
    let mut codec = codec(JsonFraming::ContentLength);
    let mut dst = BytesMut::new();
    codec
        .encode(Bytes::from_static(br#"{"id":1}"#), &mut dst)
        .unwrap();
    assert_eq!(&dst[..], b"Content-Length: 8\r\n\r\n{\"id\":1}");
}

#[test]
fn content_length_accepts_header_variants() {
    let cases: [&[u8]; 8] = [
        b"Content-Length: 7\r\n\r\n[1,2,3]",
        b"content-length: 7\r\n\r\n[1,2,3]",
        b"CONTENT-LENGTH:7\r\n\r\n[1,2,3]",
        b"Content-Length:   7  \r\n\r\n[1,2,3]",
        b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: 7\r\n\r\n[1,2,3]",
        b"Content-Length: 7\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n[1,2,3]",
        b"Content-Length: 0007\r\nX-Anything: a:b:c\r\n\r\n[1,2,3]",
        // A stray line ending left before the headers.
        b"\r\nContent-Length: 7\r\n\r\n[1,2,3]",
    ];
    for wire in cases {
        for chunk in 1..=wire.len() {
            assert_eq!(
                decode_in_chunks(codec(JsonFraming::ContentLength), wire, &[chunk]),
                frames(&[b"[1,2,3]"]),
                "{} in chunks of {chunk}",
                wire.escape_ascii()
            );
        }
    }
}

#[test]
fn content_length_body_is_taken_as_it_is() {
    // Bodies are not trimmed or looked into; an empty body is a frame.
    let wire =
        b"Content-Length: 4\r\n\r\n {} Content-Length: 0\r\n\r\nContent-Length: 2\r\n\r\n\n\n";
    assert_eq!(
        decode_whole(codec(JsonFraming::ContentLength), wire),
        frames(&[b" {} ", b"", b"\n\n"])
    );
}

#[test]
fn content_length_malformed_headers_are_errors_that_say_what_was_wrong() {
    let mut too_long = b"Content-Length: 2\r\nX-Padding: ".to_vec();
    too_long.resize(9000, b'a');
    let cases: [(&[u8], &str); 10] = [
        (b"{\"a\":1}\r\n\r\n", "without a Content-Length header"),
        (
            b"\r\n\r\nContent-Length: 2\r\n\r\n{}",
            "without a Content-Length header",
        ),
        (
            b"Content-Type: json\r\n\r\n{}",
            "without a Content-Length header",
        ),
        (
            b"Content-Length: abc\r\n\r\n{}",
            "Content-Length is not a number of bytes: \"abc\"",
        ),
        (
            b"Content-Length: -2\r\n\r\n{}",
            "not a number of bytes: \"-2\"",
        ),
        (b"Content-Length: \r\n\r\n{}", "not a number of bytes: \"\""),
        (
            b"Content-Length: 99999999999999999999999\r\n\r\n",
            "not a number of bytes",
        ),
        (
            b"Content-Length: 2\r\ncontent-length: 2\r\n\r\n{}",
            "more than one Content-Length",
        ),
        (b"hello\r\n\r\n{}", "header line without a colon: \"hello\""),
        (&too_long, "LSP header block longer than 8192 bytes"),
    ];
    for (wire, message) in cases {
        let mut codec = codec(JsonFraming::ContentLength);
        let mut src = BytesMut::from(wire);
        let err = codec.decode(&mut src).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        assert!(
            err.to_string().contains(message),
            "{:?}: {err}",
            wire.escape_ascii().to_string()
        );
    }
}

#[test]
fn content_length_header_split_across_reads_is_found() {
    let wire = encode_all(JsonFraming::ContentLength, &[b"{}", b"[]"]);
    for split in 0..=wire.len() {
        let got = decode_in_chunks(codec(JsonFraming::ContentLength), &wire, &[split.max(1), 1]);
        assert_eq!(got, frames(&[b"{}", b"[]"]), "split at {split}");
    }
}

#[test]
fn content_length_over_the_limit_skips_exactly_that_many_bytes() {
    let mut codec = codec(JsonFraming::ContentLength).max_frame_length(10);
    let mut src = BytesMut::from(&b"Content-Length: 20\r\n\r\n0123456789"[..]);
    let err = codec.decode(&mut src).unwrap_err();
    assert_eq!(frame_too_large(&err).limit(), 10);
    assert_eq!(frame_too_large(&err).size(), 20);
    assert!(src.is_empty(), "what arrived is discarded");
    // The other half of the body, which looks like a header, is skipped too.
    src.extend_from_slice(b"Content-Le");
    assert_eq!(codec.decode(&mut src).unwrap(), None);
    src.extend_from_slice(b"Content-Length: 2\r\n\r\n[]");
    assert_eq!(codec.decode(&mut src).unwrap().unwrap(), "[]");
}

#[test]
fn content_length_decode_eof_inside_a_message_says_how_much_arrived() {
    let cases: [(&[u8], &str); 2] = [
        (
            b"Content-Len",
            "connection closed inside an LSP header block: 11 bytes received",
        ),
        (
            b"Content-Length: 10\r\n\r\n{\"a\"",
            "connection closed inside a message body: 4 of 10 bytes received",
        ),
    ];
    for (wire, message) in cases {
        let mut codec = codec(JsonFraming::ContentLength);
        let err = codec.decode_eof(&mut BytesMut::from(wire)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(err.to_string(), message);
    }
}

// ---------------------------------------------------------------------------
// Properties

/// Strings heavy in the bytes the scanner cares about, and any Unicode.
fn json_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z\"\\\\{}\\[\\]:, \n\t/]{0,10}",
        1 => any::<String>(),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        json_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((json_string(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// Numbers and literals run into each other without whitespace between.
fn needs_separator(before: &Value, after: &Value) -> bool {
    let scalar = |v: &Value| matches!(v, Value::Null | Value::Bool(_) | Value::Number(_));
    scalar(before) && scalar(after)
}

fn serialize(value: &Value, pretty: bool) -> Vec<u8> {
    if pretty {
        serde_json::to_vec_pretty(value).unwrap()
    } else {
        serde_json::to_vec(value).unwrap()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn stream_of_arbitrary_values_and_whitespace_decodes_in_arbitrary_chunks(
        items in prop::collection::vec((json_value(), any::<bool>(), "[ \t\r\n]{0,3}"), 0..12),
        leading in "[ \t\r\n]{0,3}",
        chunk_sizes in prop::collection::vec(1_usize..=64, 1..16),
    ) {
        let mut wire = leading.into_bytes();
        let mut expected = Vec::new();
        for (i, (value, pretty, space)) in items.iter().enumerate() {
            let text = serialize(value, *pretty);
            wire.extend_from_slice(&text);
            let next = items.get(i + 1).map(|(v, ..)| v);
            if space.is_empty() && next.is_some_and(|next| needs_separator(value, next)) {
                wire.push(b' ');
            }
            wire.extend_from_slice(space.as_bytes());
            expected.push(text);
        }
        let got = decode_in_chunks(JsonCodec::new(), &wire, &chunk_sizes);
        prop_assert_eq!(&got, &expected);
        for frame in &got {
            prop_assert!(serde_json::from_slice::<Value>(frame).is_ok());
        }
    }

    #[test]
    fn ndjson_of_arbitrary_values_decodes_in_arbitrary_chunks(
        items in prop::collection::vec((json_value(), any::<bool>(), 0_usize..3), 0..12),
        final_newline in any::<bool>(),
        chunk_sizes in prop::collection::vec(1_usize..=64, 1..16),
    ) {
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        for (value, crlf, blank_lines) in &items {
            let text = serialize(value, false);
            wire.extend_from_slice(&text);
            let newline: &[u8] = if *crlf { b"\r\n" } else { b"\n" };
            for _ in 0..=*blank_lines {
                wire.extend_from_slice(newline);
            }
            expected.push(text);
        }
        if !final_newline && wire.ends_with(b"\n") {
            wire.truncate(wire.len() - 1);
        }
        prop_assert_eq!(decode_in_chunks(codec(JsonFraming::Ndjson), &wire, &chunk_sizes), expected);
    }

    #[test]
    fn content_length_messages_of_arbitrary_values_decode_in_arbitrary_chunks(
        items in prop::collection::vec((json_value(), any::<bool>(), 0_usize..3), 0..12),
        chunk_sizes in prop::collection::vec(1_usize..=64, 1..16),
    ) {
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        for (value, pretty, style) in &items {
            let body = serialize(value, *pretty);
            let header = match style {
                0 => format!("Content-Length: {}\r\n\r\n", body.len()),
                1 => format!("content-length:{}\r\nContent-Type: application/json\r\n\r\n", body.len()),
                _ => format!("Content-Type: x\r\nCONTENT-LENGTH: {}\r\n\r\n", body.len()),
            };
            wire.extend_from_slice(header.as_bytes());
            wire.extend_from_slice(&body);
            expected.push(body);
        }
        prop_assert_eq!(decode_in_chunks(codec(JsonFraming::ContentLength), &wire, &chunk_sizes), expected);
    }

    #[test]
    fn arbitrary_bytes_in_arbitrary_chunks_never_panic_any_framing(
        bytes in prop::collection::vec(
            prop_oneof![
                4 => prop::sample::select(b"{}[]\"\\ \r\n:,0t".to_vec()),
                1 => any::<u8>(),
            ],
            0..600,
        ),
        chunk_sizes in prop::collection::vec(1_usize..=64, 1..16),
        max in 0_usize..100,
    ) {
        for framing in FRAMINGS {
            let mut codec = codec(framing).max_frame_length(max);
            let mut src = BytesMut::new();
            let mut rest = &bytes[..];
            for &size in chunk_sizes.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (chunk, tail) = rest.split_at(size.min(rest.len()));
                src.extend_from_slice(chunk);
                rest = tail;
                // Going on after an oversized value is allowed; a header
                // error would repeat forever.
                loop {
                    match codec.decode(&mut src) {
                        Ok(Some(frame)) => prop_assert!(frame.len() <= max),
                        Ok(None) => break,
                        Err(err) if err.get_ref().is_some_and(|e| e.is::<FrameTooLarge>()) => {}
                        Err(_) => break,
                    }
                }
            }
            for _ in 0..3 {
                if !matches!(codec.decode_eof(&mut src), Ok(Some(_))) {
                    break;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// End to end

#[tokio::test]
async fn framed_over_duplex_sends_and_receives_values_in_every_framing() {
    let big = Bytes::from(big_value(1024 * 1024));
    for framing in FRAMINGS {
        let mut values: Vec<Bytes> = TRICKY_VALUES
            .iter()
            .map(|v| Bytes::copy_from_slice(v))
            .collect();
        values.push(big.clone());
        values.push(Bytes::from_static(b"\"after the big one\""));

        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let codec = codec(framing).max_frame_length(2 * 1024 * 1024);
        let mut client = Framed::new(client_io, codec.clone());
        let mut server = Framed::new(server_io, codec);

        // The pipe holds far less than 1 MiB, so both ends must run at once.
        let to_send = values.clone();
        let sender = tokio::spawn(async move {
            for value in to_send {
                client.send(value).await?;
            }
            // Dropping the client closes the pipe: the server sees a clean end.
            io::Result::Ok(())
        });

        let mut received = Vec::new();
        while let Some(frame) = server.next().await {
            received.push(frame.expect("well-formed stream"));
        }
        sender.await.unwrap().unwrap();
        assert_eq!(received.len(), values.len(), "{framing:?}");
        assert!(
            received == values,
            "{framing:?}: the values come back unchanged"
        );
    }
}

#[tokio::test]
async fn framed_reads_values_written_back_to_back_and_byte_by_byte() {
    let (mut raw, server_io) = tokio::io::duplex(1024);
    let mut server = Framed::new(server_io, JsonCodec::new());
    // Several requests in one write with no delimiter, as geth clients send.
    raw.write_all(br#"{"id":1}{"id":2}[{"id":3},{"id":4}]"#)
        .await
        .unwrap();
    for expected in [r#"{"id":1}"#, r#"{"id":2}"#, r#"[{"id":3},{"id":4}]"#] {
        assert_eq!(server.next().await.unwrap().unwrap(), expected);
    }
    // One request split into single bytes.
    let request = br#"{"jsonrpc":"2.0","id":"a\"}","method":"echo","params":["\\"]}"#;
    let writer = tokio::spawn(async move {
        for byte in request {
            raw.write_all(&[*byte]).await.unwrap();
            raw.flush().await.unwrap();
            tokio::task::yield_now().await;
        }
        raw
    });
    assert_eq!(server.next().await.unwrap().unwrap(), &request[..]);
    drop(writer.await.unwrap());
    assert!(server.next().await.is_none(), "a clean end");
}

#[tokio::test]
async fn framed_reader_ends_with_an_error_on_an_oversized_value() {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let mut client = Framed::new(client_io, JsonCodec::new());
    let mut server = Framed::new(server_io, JsonCodec::new().max_frame_length(1024));

    client.send(Bytes::from_static(b"[1]")).await.unwrap();
    client.send(Bytes::from(big_value(4096))).await.unwrap();

    assert_eq!(server.next().await.unwrap().unwrap(), "[1]");
    let err = server.next().await.unwrap().unwrap_err();
    let too_large = frame_too_large(&err);
    assert_eq!(too_large.limit(), 1024);
    assert!(too_large.size() > 1024, "{too_large}");
}

#[tokio::test]
async fn framed_reader_reports_stream_closed_inside_a_value() {
    let (mut raw, server_io) = tokio::io::duplex(1024);
    let mut server = Framed::new(server_io, JsonCodec::new());
    raw.write_all(b"{\"a\":[1,").await.unwrap();
    drop(raw);

    let err = server.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert!(err.to_string().contains("8 bytes received"), "{err}");
}
