use tokio::sync::broadcast;

use super::{CloseReason, Summary};
use crate::transport::PeerInfo;

/// Something that happened in the life of a server, for applications that
/// watch it (see [`Serve::events`](super::Serve::events)).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ServerEvent {
    /// The server is accepting connections.
    Listening {
        /// Where.
        endpoint: String,
    },
    /// A connection was accepted and is being served.
    ConnectionOpened {
        /// The connection's number on this server, from 1.
        id: u64,
        /// Who connected.
        peer: PeerInfo,
    },
    /// A connection ended.
    ConnectionClosed {
        /// The connection's number.
        id: u64,
        /// Who was connected.
        peer: PeerInfo,
        /// Why it ended (closed by the peer, idle, shutdown, a failure).
        reason: CloseReason,
    },
    /// A connection was turned away (the connection limit, a refused peer).
    ConnectionRefused {
        /// Who was turned away.
        peer: PeerInfo,
        /// Why.
        reason: String,
    },
    /// The shutdown signal came: no more connections are accepted.
    ShutdownStarted {
        /// Connections still open, to be finished.
        connections: usize,
    },
    /// The server stopped; every connection is closed.
    Stopped(Summary),
    /// This receiver fell behind and missed events.
    Missed(u64),
}

/// A receiver of [`ServerEvent`]s.
///
/// Events are kept for receivers that fall behind up to a small number; a
/// receiver further behind gets [`ServerEvent::Missed`] with the count it
/// missed, then the events that follow.
#[derive(Debug)]
pub struct Events {
    receiver: broadcast::Receiver<ServerEvent>,
}

impl Events {
    pub(super) fn new(receiver: broadcast::Receiver<ServerEvent>) -> Self {
        Self { receiver }
    }

    /// The next event; `None` once the server is gone and every event has
    /// been received.
    pub async fn recv(&mut self) -> Option<ServerEvent> {
        match self.receiver.recv().await {
            Ok(event) => Some(event),
            Err(broadcast::error::RecvError::Lagged(missed)) => Some(ServerEvent::Missed(missed)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}
