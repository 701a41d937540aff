//! A client's framing: the JSON codec, given messages already serialized.

use std::io;

use bytes::{BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::codec::JsonCodec;

/// Frames a caller's message straight into the write buffer. Messages stay
/// `BytesMut`: turning one into `Bytes` would allocate a header for it
/// (its buffer has room to spare), once per call.
#[derive(Clone, Debug)]
pub(super) struct Messages(pub(super) JsonCodec);

impl Decoder for Messages {
    type Item = Bytes;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Bytes>> {
        self.0.decode(src)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<Bytes>> {
        self.0.decode_eof(src)
    }
}

impl Encoder<BytesMut> for Messages {
    type Error = io::Error;

    fn encode(&mut self, message: BytesMut, dst: &mut BytesMut) -> io::Result<()> {
        self.0.encode_with(dst, |dst| {
            dst.put_slice(&message);
            Ok(())
        })
    }
}
