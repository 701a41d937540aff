//! TEMPORARY STUB (not committed): newline framing with the agreed interface.
#![allow(missing_docs, dead_code, unreachable_pub)]
use super::FrameTooLarge;
use bytes::{BufMut, Bytes, BytesMut};
use std::io;
use tokio_util::codec::{Decoder, Encoder};
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum JsonFraming {
    #[default]
    Stream,
    Ndjson,
    ContentLength,
}
#[derive(Clone, Debug)]
pub struct JsonCodec {
    max: usize,
}
pub(crate) enum JsonFrame {
    Value(Bytes),
    TooLarge(FrameTooLarge),
}
impl JsonCodec {
    pub const DEFAULT_MAX_FRAME_LENGTH: usize = 8 * 1024 * 1024;
    pub fn new() -> Self {
        Self {
            max: Self::DEFAULT_MAX_FRAME_LENGTH,
        }
    }
    pub fn framing(self, _f: JsonFraming) -> Self {
        self
    }
    pub fn max_frame_length(mut self, max: usize) -> Self {
        self.max = max;
        self
    }
    pub(crate) fn decode_frame(&mut self, src: &mut BytesMut) -> io::Result<Option<JsonFrame>> {
        loop {
            let Some(i) = src.iter().position(|b| *b == b'\n') else {
                return Ok(None);
            };
            let line = src.split_to(i + 1);
            let t = line.trim_ascii();
            if t.is_empty() {
                continue;
            }
            if t.len() > self.max {
                return Ok(Some(JsonFrame::TooLarge(FrameTooLarge::new(
                    self.max,
                    t.len() as u64,
                ))));
            }
            let start = t.as_ptr() as usize - line.as_ptr() as usize;
            let len = t.len();
            return Ok(Some(JsonFrame::Value(
                line.freeze().slice(start..start + len),
            )));
        }
    }
    pub(crate) fn decode_frame_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<JsonFrame>> {
        if let Some(f) = self.decode_frame(src)? {
            return Ok(Some(f));
        }
        if src.trim_ascii().is_empty() {
            src.clear();
            return Ok(None);
        }
        src.put_u8(b'\n');
        self.decode_frame(src)
    }
    pub(crate) fn encode_with(
        &mut self,
        dst: &mut BytesMut,
        write: impl FnOnce(&mut BytesMut) -> io::Result<()>,
    ) -> io::Result<()> {
        write(dst)?;
        dst.put_u8(b'\n');
        Ok(())
    }
}
impl Decoder for JsonCodec {
    type Item = Bytes;
    type Error = io::Error;
    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Bytes>> {
        match self.decode_frame(src)? {
            Some(JsonFrame::Value(b)) => Ok(Some(b)),
            Some(JsonFrame::TooLarge(e)) => Err(e.into()),
            None => Ok(None),
        }
    }
}
impl Encoder<Bytes> for JsonCodec {
    type Error = io::Error;
    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> io::Result<()> {
        self.encode_with(dst, |d| {
            d.extend_from_slice(&item);
            Ok(())
        })
    }
}

impl Default for JsonCodec {
    fn default() -> Self {
        Self::new()
    }
}
