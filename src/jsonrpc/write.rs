//! Serializing JSON straight into a [`BytesMut`].

use std::io;

use bytes::BytesMut;
use serde::Serialize;

/// Appends `value` as JSON to `dst`.
///
/// serde_json writes in many small pieces; `bytes`' own writer handles each
/// through the generic `write_all` loop, at less than half the speed of this
/// direct append (measured with the codec benchmarks).
pub(crate) fn write_json<T: Serialize + ?Sized>(
    dst: &mut BytesMut,
    value: &T,
) -> serde_json::Result<()> {
    serde_json::to_writer(Append(dst), value)
}

struct Append<'a>(&'a mut BytesMut);

impl io::Write for Append<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
