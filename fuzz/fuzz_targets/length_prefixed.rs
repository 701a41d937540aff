//! `LengthPrefixed`: any width, byte order and limit, any input, cut
//! anywhere. Checks that the pieces do not change what is decoded, that no
//! frame is over the limit, and that the frames encode back to the bytes
//! they were decoded from.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Encoder;
use tower_ipc::codec::{LengthPrefixed, LengthWidth};
use tower_ipc_fuzz::{Event, decode_all, items, pieces};

const LIMITS: [usize; 8] = [
    0,
    1,
    2,
    255,
    256,
    4096,
    65_536,
    LengthPrefixed::DEFAULT_MAX_FRAME_LENGTH,
];

fuzz_target!(|data: &[u8]| {
    let [config, seed, input @ ..] = data else {
        return;
    };
    let width = [
        LengthWidth::U8,
        LengthWidth::U16,
        LengthWidth::U32,
        LengthWidth::U64,
    ][usize::from(config & 3)];
    let mut codec = LengthPrefixed::new()
        .length_width(width)
        .max_frame_length(LIMITS[usize::from(config >> 3 & 7)]);
    if config & 4 != 0 {
        codec = codec.little_endian();
    }
    let limit = codec.effective_max_frame_length();

    let (whole, left) = decode_all(&mut codec.clone(), input, None, false);
    let (cut, _) = decode_all(&mut codec.clone(), input, pieces(*seed), false);
    assert_eq!(whole, cut, "the pieces changed what was decoded");

    let frames = items(&whole);
    let mut encoded = BytesMut::new();
    for frame in &frames {
        assert!(
            frame.len() <= limit,
            "a frame of {} over {limit}",
            frame.len()
        );
        codec
            .encode(frame.clone(), &mut encoded)
            .expect("a decoded frame encodes");
    }
    // Everything decoded came off the front of the input, and what is left
    // follows it.
    assert_eq!(&input[..encoded.len()], &encoded[..]);
    if !matches!(whole.last(), Some(Event::Error(_) | Event::TooLarge(_))) {
        assert!(left.is_empty(), "a clean end left {} bytes", left.len());
    }
});
