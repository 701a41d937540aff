//! Throughput of the codecs in `tower_ipc::codec`.
//!
//! Each codec gets its own benchmark groups, named `<codec>/encode` and
//! `<codec>/decode`, so that codecs added later can join this file and be
//! filtered by name (`cargo bench --bench codec -- length_prefixed/`).
//!
//! Only the codec is measured: no I/O, and no copy of the bytes into a read
//! buffer, which is the transport's cost. Since decoding splits frames off
//! the buffer without copying, decode throughput grows with frame size.
//!
//! The JSON framings (`json_stream/`, `ndjson/`, `content_length/`) decode
//! values of 1 KiB, 1 MiB and 16 MiB arriving in 64 KiB reads. A JSON value
//! has to be scanned, so the time per byte should stay flat as values grow:
//! that is the check that framing is O(n) however the input is split.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{
    BatchSize, Bencher, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use tokio_util::codec::{Decoder, Encoder};
use tower_ipc::codec::{JsonCodec, JsonFraming, LengthPrefixed, PipeMessage, PipeMessageCodec};

/// Payload sizes, with the label each gets in the benchmark id.
const SIZES: [(usize, &str); 3] = [(64, "64B"), (4 * 1024, "4KiB"), (1024 * 1024, "1MiB")];

/// Each iteration handles at least this many payload bytes, so that small
/// frames are measured in a batch rather than one call at a time, where the
/// timer's own overhead would dominate.
const BYTES_PER_ITERATION: usize = 1024 * 1024;

fn frames_per_iteration(size: usize) -> usize {
    (BYTES_PER_ITERATION / size).max(1)
}

fn length_prefixed_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("length_prefixed/encode");
    for (size, label) in SIZES {
        let frames = frames_per_iteration(size);
        let payload = Bytes::from(vec![0xA5_u8; size]);
        let mut codec = LengthPrefixed::new();
        // Reused across iterations, so the measurement is the codec writing
        // into a warm buffer rather than the allocator growing a new one.
        let mut dst = BytesMut::with_capacity(frames * (size + 4));

        group.throughput(Throughput::Bytes((frames * size) as u64));
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| {
                dst.clear();
                for _ in 0..frames {
                    codec
                        .encode(black_box(payload.clone()), &mut dst)
                        .expect("payload is within the limit");
                }
                black_box(&dst);
            });
        });
    }
    group.finish();
}

fn length_prefixed_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("length_prefixed/decode");
    for (size, label) in SIZES {
        let frames = frames_per_iteration(size);
        let mut codec = LengthPrefixed::new();
        let mut encoded = BytesMut::new();
        for _ in 0..frames {
            codec
                .encode(Bytes::from(vec![0xA5_u8; size]), &mut encoded)
                .expect("payload is within the limit");
        }

        group.throughput(Throughput::Bytes((frames * size) as u64));
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter_batched_ref(
                // Decoding consumes the buffer, so each iteration needs a
                // fresh copy; making it is not timed.
                || encoded.clone(),
                |src| {
                    while let Some(frame) = codec.decode(src).expect("input is well formed") {
                        black_box(frame);
                    }
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

/// JSON value sizes, with the label each gets in the benchmark id.
const JSON_SIZES: [(usize, &str); 3] = [
    (1024, "1KiB"),
    (1024 * 1024, "1MiB"),
    (16 * 1024 * 1024, "16MiB"),
];

/// How much a read hands the decoder at a time.
const READ_SIZE: usize = 64 * 1024;

const JSON_FRAMINGS: [(JsonFraming, &str); 3] = [
    (JsonFraming::Stream, "json_stream"),
    (JsonFraming::Ndjson, "ndjson"),
    (JsonFraming::ContentLength, "content_length"),
];

fn json_codec(framing: JsonFraming) -> JsonCodec {
    JsonCodec::new()
        .framing(framing)
        .max_frame_length(32 * 1024 * 1024)
}

/// A JSON-RPC response of about `len` bytes, shaped like `eth_getLogs`
/// output: mostly hex strings, with the keys, brackets and numbers between.
fn json_value(len: usize) -> Bytes {
    let mut value = String::from(r#"{"jsonrpc":"2.0","id":1,"result":["#);
    let mut i = 0_u64;
    while value.len() < len {
        if i > 0 {
            value.push(',');
        }
        value.push_str(&format!(
            concat!(
                r#"{{"address":"0x{:040x}","topics":["0x{:064x}","0x{:064x}"],"#,
                r#""data":"0x{:0128x}","blockNumber":"0x{:x}","logIndex":{},"#,
                r#""removed":false,"note":"a \"quoted\" {{brace}}"}}"#
            ),
            i,
            i,
            i + 1,
            i,
            i / 7,
            i % 100
        ));
        i += 1;
    }
    value.push_str("]}");
    value.into()
}

/// About `len` bytes of an array of numbers: long runs without a string.
fn json_numbers(len: usize) -> Bytes {
    let mut value = String::from("[");
    let mut i = 0_u64;
    while value.len() < len {
        value.push_str(&format!("{},", i * 7919 % 100_000));
        i += 1;
    }
    value.push_str("0]");
    value.into()
}

/// About `len` bytes of an array of small objects: a token every few bytes,
/// the hardest case for the branch predictor.
fn json_small_fields(len: usize) -> Bytes {
    let mut value = String::from("[");
    let mut i = 0_u64;
    while value.len() < len {
        value.push_str(&format!(
            r#"{{"id":{i},"ok":true,"name":"n{}","tags":["a","bc"]}},"#,
            i % 1000
        ));
        i += 1;
    }
    value.push_str("null]");
    value.into()
}

/// A value of `size` bytes, framed as many times as one iteration takes, and
/// the bytes of the values alone.
fn json_wire(framing: JsonFraming, value: Bytes, size: usize) -> (BytesMut, usize) {
    let count = frames_per_iteration(size);
    let mut codec = json_codec(framing);
    let mut wire = BytesMut::new();
    for _ in 0..count {
        codec
            .encode(value.clone(), &mut wire)
            .expect("value is within the limit");
    }
    (wire, count * value.len())
}

fn json_decode(c: &mut Criterion) {
    for (framing, name) in JSON_FRAMINGS {
        let mut group = c.benchmark_group(format!("{name}/decode"));
        for (size, label) in JSON_SIZES {
            if size >= 16 * 1024 * 1024 {
                group.sample_size(20);
            }
            let (wire, value_bytes) = json_wire(framing, json_value(size), size);
            group.throughput(Throughput::Bytes(value_bytes as u64));
            group.bench_function(BenchmarkId::from_parameter(label), |b| {
                decode_in_reads(b, json_codec(framing), &wire);
            });
        }
        group.finish();
    }
}

/// What the stream scanner's speed depends on: how dense the tokens are.
fn json_stream_shapes(c: &mut Criterion) {
    const SIZE: usize = 1024 * 1024;
    let mut group = c.benchmark_group("json_stream/shape");
    let shapes = [
        ("hex_strings", json_value(SIZE)),
        ("numbers", json_numbers(SIZE)),
        ("small_fields", json_small_fields(SIZE)),
    ];
    for (label, value) in shapes {
        let (wire, value_bytes) = json_wire(JsonFraming::Stream, value, SIZE);
        group.throughput(Throughput::Bytes(value_bytes as u64));
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            decode_in_reads(b, json_codec(JsonFraming::Stream), &wire);
        });
    }
    group.finish();
}

/// Small JSON-RPC requests back to back, as a busy client sends them: the
/// scanner's cost per frame rather than per byte.
fn json_stream_requests(c: &mut Criterion) {
    let mut group = c.benchmark_group("json_stream/requests");
    // The request with a given id.
    type Request = fn(u64) -> String;
    let shapes: [(&str, Request); 2] = [
        // About 64 bytes.
        ("64B", |i| {
            format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"eth_blockNumber","params":[]}}"#)
        }),
        // About 120 bytes.
        ("120B", |i| {
            format!(
                r#"{{"jsonrpc":"2.0","id":{i},"method":"eth_getBalance","params":["0x{i:040x}","latest"]}}"#
            )
        }),
    ];
    for (label, request) in shapes {
        let mut codec = json_codec(JsonFraming::Stream);
        let mut wire = BytesMut::new();
        let mut value_bytes = 0;
        let mut i = 0;
        while value_bytes < BYTES_PER_ITERATION {
            let value = Bytes::from(request(i));
            value_bytes += value.len();
            codec
                .encode(value, &mut wire)
                .expect("value is within the limit");
            i += 1;
        }
        group.throughput(Throughput::Bytes(value_bytes as u64));
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            decode_in_reads(b, json_codec(JsonFraming::Stream), &wire);
        });
    }
    group.finish();
}

/// Decodes all of `wire`, handed to the codec in reads of [`READ_SIZE`].
fn decode_in_reads(b: &mut Bencher<'_>, mut codec: JsonCodec, wire: &BytesMut) {
    b.iter_batched_ref(
        || wire.clone(),
        |rest| {
            // Reads arrive in the buffer without a copy: each is the next
            // slice of the same allocation, joined back in O(1).
            let mut src = BytesMut::new();
            while !rest.is_empty() {
                src.unsplit(rest.split_to(READ_SIZE.min(rest.len())));
                while let Some(frame) = codec.decode(&mut src).expect("well formed") {
                    black_box(frame);
                }
            }
        },
        BatchSize::LargeInput,
    );
}

fn json_encode(c: &mut Criterion) {
    for (framing, name) in JSON_FRAMINGS {
        let mut group = c.benchmark_group(format!("{name}/encode"));
        for (size, label) in &JSON_SIZES[..2] {
            let value = json_value(*size);
            let frames = frames_per_iteration(*size);
            let mut codec = json_codec(framing);
            let mut dst = BytesMut::with_capacity(frames * (value.len() + 64));

            group.throughput(Throughput::Bytes((frames * value.len()) as u64));
            group.bench_function(BenchmarkId::from_parameter(label), |b| {
                b.iter(|| {
                    dst.clear();
                    for _ in 0..frames {
                        codec
                            .encode(black_box(value.clone()), &mut dst)
                            .expect("value is within the limit");
                    }
                    black_box(&dst);
                });
            });
        }
        group.finish();
    }
}

/// The message type of the pipe-message benchmarks: as long as decred's
/// `lifetimeevent`.
const PIPE_MESSAGE_TYPE: &str = "benchmarkmsg!";

fn pipe_message_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipe_message/encode");
    for (size, label) in SIZES {
        let frames = frames_per_iteration(size);
        let message =
            PipeMessage::new(PIPE_MESSAGE_TYPE, vec![0xA5_u8; size]).expect("a valid message type");
        let mut codec = PipeMessageCodec::new();
        let header = 1 + 1 + PIPE_MESSAGE_TYPE.len() + 4;
        let mut dst = BytesMut::with_capacity(frames * (size + header));

        group.throughput(Throughput::Bytes((frames * size) as u64));
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| {
                dst.clear();
                for _ in 0..frames {
                    codec
                        .encode(black_box(message.clone()), &mut dst)
                        .expect("payload is within the limit");
                }
                black_box(&dst);
            });
        });
    }
    group.finish();
}

fn pipe_message_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipe_message/decode");
    for (size, label) in SIZES {
        let frames = frames_per_iteration(size);
        let mut codec = PipeMessageCodec::new();
        let mut encoded = BytesMut::new();
        for _ in 0..frames {
            let message = PipeMessage::new(PIPE_MESSAGE_TYPE, vec![0xA5_u8; size])
                .expect("a valid message type");
            codec
                .encode(message, &mut encoded)
                .expect("payload is within the limit");
        }

        group.throughput(Throughput::Bytes((frames * size) as u64));
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter_batched_ref(
                || encoded.clone(),
                |src| {
                    while let Some(message) = codec.decode(src).expect("input is well formed") {
                        black_box(message);
                    }
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    length_prefixed_encode,
    length_prefixed_decode,
    json_decode,
    json_stream_shapes,
    json_stream_requests,
    json_encode,
    pipe_message_encode,
    pipe_message_decode
);
criterion_main!(benches);
