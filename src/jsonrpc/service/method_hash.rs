//! The hash of the router's method table.

use std::hash::{BuildHasherDefault, Hasher};

/// Builds [`MethodHasher`]s, for the router's `HashMap`.
pub(crate) type MethodHash = BuildHasherDefault<MethodHasher>;

/// A multiply-rotate hash (FxHash's), for method names.
///
/// The standard `SipHash` resists peers that choose keys to collide, which
/// matters for tables that grow with what peers send. The router's table
/// holds only the methods the server registered; a peer can only look names
/// up in it, so the worst a chosen name can do is meet one of those few
/// entries. SipHash cost about 150 instructions per request for a short name;
/// this costs a few per 8 bytes.
#[derive(Clone, Copy, Default)]
pub(crate) struct MethodHasher(u64);

impl MethodHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for MethodHasher {
    fn write(&mut self, bytes: &[u8]) {
        // The length first: the last word is padded with zeros, which would
        // otherwise make "a" and "a\0" one word.
        self.add(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        // The last bytes read as they lie, not copied into a word first:
        // loading a word just stored byte by byte stalls (the bytes cannot
        // be forwarded to the load), which cost more than the hash. With the
        // length hashed first, these words tell names of one length apart.
        let rest = chunks.remainder();
        let n = rest.len();
        if n >= 4 {
            // Two overlapping halves cover the 4 to 7 bytes.
            let half = |at: usize| {
                u64::from(u32::from_le_bytes(
                    rest[at..at + 4].try_into().expect("4 bytes"),
                ))
            };
            self.add(half(0) | half(n - 4) << 32);
        } else if n > 0 {
            // The first, middle and last of 1 to 3 bytes.
            self.add(
                u64::from(rest[0]) | u64::from(rest[n / 2]) << 8 | u64::from(rest[n - 1]) << 16,
            );
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    // The length a byte slice's hash starts with: one word.
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn names_that_differ_hash_apart() {
        let hash = |name: &str| MethodHash::default().hash_one(name);
        assert_eq!(hash("eth_call"), hash("eth_call"));
        assert_ne!(hash("eth_call"), hash("eth_calm"));
        // The name's end is part of the hash: no padding collides.
        assert_ne!(hash("a"), hash("a\0"));
        assert_ne!(hash("eth_getBalance"), hash("eth_getBalancf"));
        // Every length of a last word, every byte of it.
        for len in 1..=16 {
            let name = "abcdefghijklmnop"[..len].to_owned();
            for at in 0..len {
                let mut other = name.clone().into_bytes();
                other[at] = b'z';
                let other = String::from_utf8(other).unwrap();
                assert_ne!(hash(&name), hash(&other), "{name} {other}");
            }
        }
    }
}
