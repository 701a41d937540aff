//! `NulTerminated`, alone or inside `PerMessage` (the codec of a message-mode
//! pipe): any limit, any input, cut anywhere. Checks that the pieces do not
//! change what is decoded, that no string is over the limit or holds a NUL,
//! and that the strings encode back to the bytes they were decoded from.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, Encoder};
use tower_ipc::codec::{NulTerminated, PerMessage};
use tower_ipc_fuzz::{Event, decode_all, items, pieces};

const LIMITS: [usize; 8] = [
    0,
    1,
    2,
    255,
    256,
    4096,
    65_536,
    NulTerminated::DEFAULT_MAX_FRAME_LENGTH,
];

/// Decodes `input` whole and in pieces, compares, and encodes the strings
/// back; `limit` bounds each string.
fn check<C>(codec: C, limit: usize, seed: u8, input: &[u8])
where
    C: Decoder<Item = Bytes, Error = std::io::Error>
        + Encoder<Bytes, Error = std::io::Error>
        + Clone,
{
    let (whole, left) = decode_all(&mut codec.clone(), input, None, false);
    let (cut, _) = decode_all(&mut codec.clone(), input, pieces(seed), false);
    assert_eq!(whole, cut, "the pieces changed what was decoded");

    let mut encoded = BytesMut::new();
    let mut encoder = codec;
    for string in items(&whole) {
        assert!(
            string.len() <= limit,
            "a string of {} over {limit}",
            string.len()
        );
        assert!(!string.contains(&0), "a string holds a NUL");
        encoder
            .encode(string, &mut encoded)
            .expect("a decoded string encodes");
    }
    assert_eq!(&input[..encoded.len()], &encoded[..]);
    if !matches!(whole.last(), Some(Event::Error(_) | Event::TooLarge(_))) {
        assert!(left.is_empty(), "a clean end left {} bytes", left.len());
    }
}

fuzz_target!(|data: &[u8]| {
    let [config, seed, input @ ..] = data else {
        return;
    };
    let limit = LIMITS[usize::from(config & 7)];
    let strings = NulTerminated::new().max_frame_length(limit);
    if config & 8 == 0 {
        check(strings, limit, *seed, input);
    } else {
        // The message limit from other bits: sometimes below what the
        // strings may be, so that both limits are reached.
        let message_limit = LIMITS[usize::from(config >> 4 & 7)];
        let messages = PerMessage::new(strings).max_message_length(message_limit);
        check(messages, limit.min(message_limit), *seed, input);
    }
});
