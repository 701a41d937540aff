//! The hash of the router's method table: foldhash's, with a fixed seed.
//!
//! The standard `SipHash` resists peers that choose keys to collide, which
//! matters for tables that grow with what peers send. The router's table
//! holds only the methods the server registered; a peer can only look names
//! up in it, so the worst a chosen name can do is meet one of those few
//! entries, and a fixed seed costs nothing.
//!
//! Instructions per lookup (callgrind; hashing, probing and comparing, in a
//! table of ten Ethereum-style names): SipHash 251, the hand-written
//! multiply-rotate hash this replaced 124, rustc-hash 105, foldhash 97.

/// Builds the router's hashers.
pub(crate) type MethodHash = foldhash::fast::FixedState;

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
