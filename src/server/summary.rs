use std::sync::atomic::{AtomicU64, Ordering};

/// What a server did from start to stop, returned when it stops.
///
/// A frame counts as one request, so a JSON-RPC batch is one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// Connections served (all closed by the time the server stops).
    pub connections: u64,
    /// Requests answered (or, for notifications, handled).
    pub requests_completed: u64,
    /// Requests in flight when the shutdown deadline passed: given up, their
    /// callers told where the protocol allows (JSON-RPC error answers) or
    /// their connections closed.
    pub requests_cancelled: u64,
}

/// The counts behind a [`Summary`], shared by a server's connections.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) connections: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) cancelled: AtomicU64,
}

impl Stats {
    pub(crate) fn summary(&self) -> Summary {
        Summary {
            connections: self.connections.load(Ordering::Relaxed),
            requests_completed: self.completed.load(Ordering::Relaxed),
            requests_cancelled: self.cancelled.load(Ordering::Relaxed),
        }
    }
}
