//! What a service is called with: the request, and the context of the
//! connection it came on.

use std::{fmt, sync::Arc};

use super::{
    Feed,
    subscription::{Registry, Subscription},
};
use crate::{
    jsonrpc::{ErrorObject, Id, Params, Request},
    transport::PeerInfo,
};

/// A request as a JSON-RPC service receives it: the [`Request`] (plain
/// data, as on the wire) and the [`Context`] of the connection it came on.
///
/// A [`Router`](super::Router) is a `tower::Service<Call>`; middleware sees
/// the method and id through [`method`](Self::method) and [`id`](Self::id).
/// A call made by hand (for a test, say) has a detached context: no peer to
/// call back, no subscriptions.
///
/// ```
/// use tower::ServiceExt;
/// use tower_ipc::jsonrpc::{Call, ErrorObject, Id, Request, Router};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let router = Router::new()
///     .method("add", |(a, b): (i64, i64)| async move { Ok::<_, ErrorObject>(a + b) });
/// let request = Request::new("add").with_params(&(1, 2))?.with_id(Id::from(1));
/// let answer = router.oneshot(Call::new(request)).await?;
/// assert_eq!(answer.result_json(), Some("3"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Call {
    request: Request,
    context: Context,
}

impl Call {
    /// A call of `request` that came on no connection.
    pub fn new(request: Request) -> Self {
        Self {
            request,
            context: Context::detached(),
        }
    }

    pub(crate) fn with_context(request: Request, context: Context) -> Self {
        Self { request, context }
    }

    /// The request.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The connection the request came on.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The request's method.
    pub fn method(&self) -> &str {
        self.request.method()
    }

    /// The request's id; `None` for a notification.
    pub fn id(&self) -> Option<&Id> {
        self.request.id()
    }

    /// The request's params.
    pub fn params(&self) -> Params<'_> {
        self.request.params()
    }

    /// Whether no answer is expected.
    pub fn is_notification(&self) -> bool {
        self.request.is_notification()
    }

    /// The request and the context, apart.
    pub fn into_parts(self) -> (Request, Context) {
        (self.request, self.context)
    }
}

/// What a handler knows of the connection a request came on: who called,
/// and the means to open subscriptions on it. Cheap to clone.
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

    /// The context of a call that came on no connection.
    pub(crate) fn detached() -> Self {
        Self { connection: None }
    }

    /// Who called: the peer's process, user and group ids as the transport
    /// reports them (see [`PeerInfo`]).
    pub fn peer_info(&self) -> &PeerInfo {
        self.connection
            .as_ref()
            .map_or(&UNKNOWN_PEER, |connection| &connection.peer)
    }

    /// Starts pushing `items` to this connection as notifications of
    /// `subscription`, once the answer to the request `id` (which carries
    /// the new subscription's id) is written; returns that id.
    pub(crate) fn open_subscription<F: Feed>(
        &self,
        subscription: &Subscription,
        items: F,
        id: &Id,
    ) -> Result<String, ErrorObject> {
        let connection = self.connection.as_ref().ok_or_else(|| {
            ErrorObject::internal_error("subscriptions need a connection to push to")
        })?;
        connection.subscriptions.open(subscription, items, id)
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
            .field("peer", self.peer_info())
            .finish_non_exhaustive()
    }
}
