//! [`JsonFraming::Ndjson`](super::JsonFraming::Ndjson): one value per line.

use std::io;

use bytes::{Buf, BytesMut};
use memchr::memchr;

use super::{FrameTooLarge, JsonFrame, head, scanner::is_space};

/// The decoding state of [`JsonFraming::Ndjson`](super::JsonFraming::Ndjson).
#[derive(Clone, Debug, Default)]
pub(super) struct NdjsonDecoder {
    /// Bytes at the front of the buffer already searched for a newline.
    searched: usize,
    /// While an oversized line is being discarded: how many of its bytes
    /// have gone.
    discarding: Option<u64>,
}

impl NdjsonDecoder {
    pub(super) fn decode(&mut self, src: &mut BytesMut, max: usize) -> Option<JsonFrame> {
        loop {
            if self.discarding.is_some() {
                self.discard(src, 0);
                if self.discarding.is_some() {
                    return None;
                }
            }

            // A line of `max` bytes may be followed by `\r\n`: only a line
            // with no newline in its first `max + 2` bytes is surely too long.
            let window = src.len().min(max.saturating_add(2));
            let Some(found) = memchr(b'\n', &src[self.searched..window]) else {
                if window < max.saturating_add(2) {
                    self.searched = window;
                    return None;
                }
                self.searched = 0;
                self.discarding = Some(0);
                let head = head(&src[..window]);
                let size = self.discard(src, window);
                return Some(JsonFrame::TooLarge(FrameTooLarge::new(max, size), head));
            };

            let newline = self.searched + found;
            self.searched = 0;
            let mut line = src.split_to(newline + 1).freeze();
            line.truncate(newline);
            let len = line.len() - usize::from(line.ends_with(b"\r"));
            if len > max {
                return Some(JsonFrame::TooLarge(
                    FrameTooLarge::new(max, len as u64),
                    head(&line),
                ));
            }
            let (start, end) = trim(&line);
            if start < end {
                return Some(JsonFrame::Value(line.slice(start..end)));
            }
            // A blank line: nothing to hand up.
        }
    }

    pub(super) fn decode_eof(
        &mut self,
        src: &mut BytesMut,
        max: usize,
    ) -> io::Result<Option<JsonFrame>> {
        if let Some(frame) = self.decode(src, max) {
            return Ok(Some(frame));
        }
        // The end of the input ends the last line, as in JSON Lines: what is
        // left is a value (or blank), never a truncated one.
        self.searched = 0;
        if self.discarding.take().is_some() {
            return Ok(None);
        }
        let line = src.split().freeze();
        let len = line.len() - usize::from(line.ends_with(b"\r"));
        if len > max {
            return Ok(Some(JsonFrame::TooLarge(
                FrameTooLarge::new(max, len as u64),
                head(&line),
            )));
        }
        let (start, end) = trim(&line);
        Ok((start < end).then(|| JsonFrame::Value(line.slice(start..end))))
    }

    /// Discards `src` up to and including the next newline, which is not in
    /// its first `searched` bytes, and returns how many bytes of the
    /// oversized line (without its line ending, as far as seen) have gone in
    /// all.
    fn discard(&mut self, src: &mut BytesMut, searched: usize) -> u64 {
        let discarded = self.discarding.unwrap_or(0);
        match memchr(b'\n', &src[searched..]) {
            Some(found) => {
                let newline = searched + found;
                let cr = newline > 0 && src[newline - 1] == b'\r';
                src.advance(newline + 1);
                self.discarding = None;
                discarded + (newline - usize::from(cr)) as u64
            }
            None => {
                let total = discarded + src.len() as u64;
                src.clear();
                self.discarding = Some(total);
                total
            }
        }
    }
}

/// The range of `line` without leading and trailing whitespace.
fn trim(line: &[u8]) -> (usize, usize) {
    let start = line
        .iter()
        .position(|&b| !is_space(b))
        .unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(start, |i| i + 1);
    (start, end)
}

/// Checks that the value `dst[start..]` fits on one line.
pub(super) fn check_one_line(dst: &BytesMut, start: usize) -> io::Result<()> {
    match memchr(b'\n', &dst[start..]) {
        None => Ok(()),
        Some(at) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("an NDJSON value cannot contain a newline (found one at byte {at})"),
        )),
    }
}
