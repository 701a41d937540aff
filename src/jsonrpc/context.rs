use std::{fmt, sync::Arc};

use super::{
    ErrorObject, Feed,
    subscription::{Activation, Registry, Subscription},
};
use crate::transport::PeerInfo;

/// What a handler knows of the connection a request came on: who called, and
/// the means to open subscriptions on it. Cheap to clone.
#[derive(Clone, Default)]
pub struct Context {
    connection: Option<Arc<Connection>>,
}

struct Connection {
    peer: PeerInfo,
    subscriptions: Registry,
}

static UNKNOWN_PEER: PeerInfo = PeerInfo::new();

impl Context {
    pub(crate) fn new(peer: PeerInfo, subscriptions: Registry) -> Self {
        Self {
            connection: Some(Arc::new(Connection {
                peer,
                subscriptions,
            })),
        }
    }

    /// The context of a request that did not come from a connection (built
    /// with [`Request::new`](super::Request::new)).
    pub(crate) fn detached() -> Self {
        Self { connection: None }
    }

    /// Who called: the peer's process, user and group ids as the transport
    /// reports them (see [`PeerInfo`]).
    pub fn peer(&self) -> &PeerInfo {
        self.connection
            .as_ref()
            .map_or(&UNKNOWN_PEER, |connection| &connection.peer)
    }

    /// Starts pushing `items` to this connection as notifications of
    /// `subscription`; returns the new subscription's id and what activates
    /// it once the answer carrying the id is on its way.
    pub(crate) fn open_subscription<F: Feed>(
        &self,
        subscription: &Subscription,
        items: F,
    ) -> Result<(String, Activation), ErrorObject> {
        let connection = self.connection.as_ref().ok_or_else(|| {
            ErrorObject::internal_error("subscriptions need a connection to push to")
        })?;
        connection.subscriptions.open(subscription, items)
    }

    /// Ends a subscription of this connection; whether it existed.
    pub(crate) fn close_subscription(&self, id: &str) -> bool {
        self.connection
            .as_ref()
            .is_some_and(|connection| connection.subscriptions.close(id))
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("peer", self.peer())
            .finish_non_exhaustive()
    }
}
