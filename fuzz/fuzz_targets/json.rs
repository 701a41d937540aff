//! `JsonCodec` in each framing (the first byte picks it and the limit), any
//! input, cut anywhere. Checks that the pieces do not change what is
//! decoded; that frames are within the limit; that each frame encodes and
//! decodes back to itself; and, where the input says what the frames must
//! be, that they are: NDJSON's lines, and for the stream framing the values
//! `serde_json` finds in an input it parses whole.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, Encoder};
use tower_ipc::codec::{JsonCodec, JsonFraming};
use tower_ipc_fuzz::{Event, decode_all, items, pieces};

const LIMITS: [usize; 8] = [0, 1, 2, 3, 8, 64, 4096, JsonCodec::DEFAULT_MAX_FRAME_LENGTH];

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fuzz_target!(|data: &[u8]| {
    let [config, seed, input @ ..] = data else {
        return;
    };
    let framing = [
        JsonFraming::Stream,
        JsonFraming::Ndjson,
        JsonFraming::ContentLength,
    ][usize::from(config & 3) % 3];
    let max = LIMITS[usize::from(config >> 2 & 7)];
    let codec = JsonCodec::new().framing(framing).max_frame_length(max);

    let (whole, _) = decode_all(&mut codec.clone(), input, None, true);
    let (cut, _) = decode_all(&mut codec.clone(), input, pieces(*seed), true);
    assert_eq!(whole, cut, "the pieces changed what was decoded");

    let frames = items(&whole);
    for frame in &frames {
        assert!(frame.len() <= max, "a frame of {} over {max}", frame.len());
        if framing != JsonFraming::ContentLength {
            assert!(!frame.is_empty());
            assert!(
                !is_space(frame[0]) && !is_space(frame[frame.len() - 1]),
                "{frame:?}"
            );
        }
        let mut encoded = BytesMut::new();
        codec
            .clone()
            .encode(frame.clone(), &mut encoded)
            .expect("a decoded frame encodes");
        let mut decoder = codec.clone();
        let again = decoder
            .decode_eof(&mut encoded)
            .expect("decodes")
            .expect("a frame");
        assert_eq!(&again, frame, "a frame did not survive encoding");
        assert_eq!(decoder.decode_eof(&mut encoded).expect("decodes"), None);
    }

    match framing {
        JsonFraming::Ndjson => assert_eq!(whole, ndjson_oracle(input, max)),
        JsonFraming::Stream => {
            if let Some(values) = serde_values(input)
                && values.iter().all(|value| value.len() <= max)
            {
                assert_eq!(frames, values, "framing disagrees with serde_json");
            }
        }
        _ => {}
    }
});

/// NDJSON as its definition reads: lines, without `\r` before `\n`, trimmed,
/// blank ones skipped, over-long ones refused.
fn ndjson_oracle(input: &[u8], max: usize) -> Vec<Event<Bytes>> {
    let mut events = Vec::new();
    let lines = input.split(|&b| b == b'\n');
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > max {
            events.push(Event::TooLarge(max));
            continue;
        }
        let start = line
            .iter()
            .position(|&b| !is_space(b))
            .unwrap_or(line.len());
        let end = line
            .iter()
            .rposition(|&b| !is_space(b))
            .map_or(start, |i| i + 1);
        if start < end {
            events.push(Event::Item(Bytes::copy_from_slice(&line[start..end])));
        }
    }
    events
}

/// The values of `input` as `serde_json` reads a stream of them, if it
/// reads all of it.
fn serde_values(input: &[u8]) -> Option<Vec<Bytes>> {
    let mut values = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(input).into_iter::<serde_json::Value>();
    let mut start = 0;
    while let Some(value) = stream.next() {
        value.ok()?;
        let end = stream.byte_offset();
        let skipped = input[start..end].iter().position(|&b| !is_space(b))?;
        values.push(Bytes::copy_from_slice(&input[start + skipped..end]));
        start = end;
    }
    input[start..]
        .iter()
        .all(|&b| is_space(b))
        .then_some(values)
}
