//! `PipeMessageCodec`: any limit, any input, cut anywhere. Checks that the
//! pieces do not change what is decoded, that every message has a valid type
//! and a payload within the limit, and that the messages encode back to the
//! bytes they were decoded from.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Encoder;
use tower_ipc::codec::{PipeMessage, PipeMessageCodec};
use tower_ipc_fuzz::{Event, decode_all, items, pieces};

const LIMITS: [usize; 4] = [0, 16, 4096, PipeMessageCodec::DEFAULT_MAX_PAYLOAD_LENGTH];

fuzz_target!(|data: &[u8]| {
    let [config, seed, input @ ..] = data else {
        return;
    };
    let mut codec = PipeMessageCodec::new().max_payload_length(LIMITS[usize::from(config & 3)]);
    let limit = codec.effective_max_payload_length();

    let (whole, left) = decode_all(&mut codec, input, None, false);
    let (cut, _) = decode_all(&mut codec, input, pieces(*seed), false);
    assert_eq!(whole, cut, "the pieces changed what was decoded");

    let messages = items(&whole);
    let mut encoded = BytesMut::new();
    for message in &messages {
        assert!(!message.kind().is_empty() && message.kind().len() <= 255);
        assert!(message.payload().len() <= limit);
        // The type survives a trip through the public constructor.
        let rebuilt = PipeMessage::new(message.kind().to_owned(), message.payload().clone())
            .expect("a decoded type is valid");
        assert_eq!(&rebuilt, message);
        codec
            .encode(rebuilt, &mut encoded)
            .expect("a decoded message encodes");
    }
    assert_eq!(&input[..encoded.len()], &encoded[..]);
    if !matches!(whole.last(), Some(Event::Error(_) | Event::TooLarge(_))) {
        assert!(left.is_empty(), "a clean end left {} bytes", left.len());
    }
});
