//! What the fuzz targets share: feeding a decoder its input whole or in
//! pieces, and recording what came out, so the two can be compared.

use std::io;

use bytes::BytesMut;
use tokio_util::codec::Decoder;
use tower_ipc::codec::FrameTooLarge;

/// One thing a decoder produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<T> {
    Item(T),
    /// A frame over the limit, named by the limit alone: how much of the
    /// frame had been seen when it was noticed depends on the pieces.
    TooLarge(usize),
    /// Any other error, by its message.
    Error(String),
}

/// How many decode calls one input may take; past it the decoder is stuck.
const MAX_CALLS: usize = 1 << 20;

/// Decodes `input` delivered in pieces of the sizes `pieces` yields (the
/// whole input at once if it yields nothing), then ends the stream.
///
/// `resumable` says whether decoding goes on after an error that the codec
/// documents as resumable (a frame over the limit); any other error ends
/// the stream, as [`Framed`](tokio_util::codec::Framed) does. Returns the
/// events and the bytes left in the buffer.
pub fn decode_all<D>(
    decoder: &mut D,
    input: &[u8],
    pieces: impl IntoIterator<Item = usize>,
    resumable: bool,
) -> (Vec<Event<D::Item>>, BytesMut)
where
    D: Decoder<Error = io::Error>,
{
    let mut events = Vec::new();
    let mut buffer = BytesMut::new();
    let mut rest = input;
    let mut pieces = pieces.into_iter();
    let mut calls = 0;
    while !rest.is_empty() {
        let size = pieces.next().unwrap_or(rest.len()).clamp(1, rest.len());
        buffer.extend_from_slice(&rest[..size]);
        rest = &rest[size..];
        loop {
            calls += 1;
            assert!(calls < MAX_CALLS, "the decoder does not make progress");
            match decoder.decode(&mut buffer) {
                Ok(Some(item)) => events.push(Event::Item(item)),
                Ok(None) => break,
                Err(err) => {
                    let event = event_of(&err);
                    let go_on = resumable && matches!(event, Event::TooLarge(_));
                    events.push(event);
                    if !go_on {
                        return (events, buffer);
                    }
                }
            }
        }
    }
    loop {
        calls += 1;
        assert!(
            calls < MAX_CALLS,
            "the decoder does not make progress at EOF"
        );
        match decoder.decode_eof(&mut buffer) {
            Ok(Some(item)) => events.push(Event::Item(item)),
            Ok(None) => break,
            Err(err) => {
                let event = event_of(&err);
                let go_on = resumable && matches!(event, Event::TooLarge(_));
                events.push(event);
                if !go_on {
                    break;
                }
            }
        }
    }
    (events, buffer)
}

fn event_of<T>(err: &io::Error) -> Event<T> {
    match err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<FrameTooLarge>())
    {
        Some(too_large) => Event::TooLarge(too_large.limit()),
        None => Event::Error(format!("{:?}: {err}", err.kind())),
    }
}

/// Piece sizes from a seed: 1 to `2^(seed % 8)` bytes each, from a
/// xorshift generator, so every seed is one way of cutting the input.
pub fn pieces(seed: u8) -> impl Iterator<Item = usize> {
    let max = 1usize << (seed % 8);
    let mut state = u32::from(seed) | 0x9e37_7900;
    std::iter::repeat_with(move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        1 + state as usize % max
    })
}

/// The frames among `events`.
pub fn items<T: Clone>(events: &[Event<T>]) -> Vec<T> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Item(item) => Some(item.clone()),
            _ => None,
        })
        .collect()
}
