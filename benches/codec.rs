//! Throughput of the codecs in `tower_ipc::codec`.
//!
//! Each codec gets its own benchmark groups, named `<codec>/encode` and
//! `<codec>/decode`, so that codecs added later can join this file and be
//! filtered by name (`cargo bench --bench codec -- length_prefixed/`).
//!
//! Only the codec is measured: no I/O, and no copy of the bytes into a read
//! buffer, which is the transport's cost. Since decoding splits frames off
//! the buffer without copying, decode throughput grows with frame size.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokio_util::codec::{Decoder, Encoder};
use tower_ipc::codec::{LengthPrefixed, PipeMessage, PipeMessageCodec};

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
    pipe_message_encode,
    pipe_message_decode
);
criterion_main!(benches);
