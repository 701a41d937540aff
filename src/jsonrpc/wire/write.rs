//! Serializing JSON straight into a [`BytesMut`].

use std::io;

use bytes::{BufMut, BytesMut};
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

/// A request id as it is written: a number the writer chose, or the JSON of
/// an id as it came.
#[derive(Clone, Copy, Debug)]
pub(crate) enum WireId<'a> {
    Number(u64),
    Raw(&'a [u8]),
}

/// Writes a request (`id` `None`: a notification) with its params' raw
/// JSON, if any.
pub(crate) fn write_request(
    dst: &mut BytesMut,
    id: Option<WireId<'_>>,
    method: &str,
    params: Option<&[u8]>,
) {
    write_head(dst, id, method);
    if let Some(params) = params {
        dst.put_slice(br#","params":"#);
        dst.put_slice(params);
    }
    dst.put_u8(b'}');
}

/// `{"jsonrpc":"2.0","id":ID,"method":METHOD`: a request without its params
/// and its closing brace.
pub(crate) fn write_head(dst: &mut BytesMut, id: Option<WireId<'_>>, method: &str) {
    dst.put_slice(br#"{"jsonrpc":"2.0","#);
    if let Some(id) = id {
        dst.put_slice(br#""id":"#);
        match id {
            WireId::Number(n) => write_u64(dst, n),
            WireId::Raw(json) => dst.put_slice(json),
        }
        dst.put_u8(b',');
    }
    dst.put_slice(br#""method":"#);
    // Serializing a string cannot fail.
    let _ = write_json(dst, method);
}

/// Writes `n` in decimal, without the allocation of `to_string`.
pub(crate) fn write_u64(dst: &mut BytesMut, n: u64) {
    dst.put_slice(decimal(n, &mut [0; 20]));
}

/// `n` in decimal, written at the end of `digits`.
pub(crate) fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &digits[at..]
}
