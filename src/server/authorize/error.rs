//! Error types.

use std::{error::Error, fmt};

use crate::transport::PeerInfo;

/// The peer of a connection is not allowed by the
/// [`PeerPolicy`](super::PeerPolicy); the connection is closed.
#[derive(Debug)]
pub struct Refused {
    peer: PeerInfo,
}

impl Refused {
    pub(super) fn new(peer: PeerInfo) -> Self {
        Self { peer }
    }

    /// The peer that was refused.
    pub fn peer(&self) -> &PeerInfo {
        &self.peer
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer refused by the authorization policy: {}", self.peer)
    }
}

impl Error for Refused {}
