//! What a service is called with: the request, and the context of the
//! connection it came on.

use std::{
    fmt,
    sync::{Arc, OnceLock},
};

use super::{
    Feed,
    subscription::{Registry, Subscription},
};
use crate::{
    client::{Error, engine::Shared},
    jsonrpc::{
        ErrorObject, Id, JsonRpcClient, Params, Request,
        client::{ById, peer},
    },
    transport::PeerInfo,
};

/// A request as a JSON-RPC service receives it: the [`Request`] (plain
/// data, as on the wire) and the [`CallContext`] of the connection it came on.
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
    context: CallContext,
}

impl Call {
    /// A call of `request` that came on no connection.
    pub fn new(request: Request) -> Self {
        Self {
            request,
            context: CallContext::detached(),
        }
    }

    #[inline]
    pub(crate) fn with_context(request: Request, context: CallContext) -> Self {
        Self { request, context }
    }

    /// The request.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The connection the request came on.
    pub fn context(&self) -> &CallContext {
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
    pub fn into_parts(self) -> (Request, CallContext) {
        (self.request, self.context)
    }
}

/// What a handler knows of the connection a request came on: who called,
/// the means to call it back ([`peer`](Self::peer)) and to open
/// subscriptions on it. Cheap to clone.
#[derive(Clone, Default)]
pub struct CallContext {
    connection: Option<Arc<Connection>>,
}

struct Connection {
    peer_info: PeerInfo,
    /// A server's connection pushes subscription items; a client's does not.
    subscriptions: Option<Registry>,
    /// The client of the other side: made when first asked for on a server
    /// (the connection it serves drives it), a client's own handle on a
    /// client.
    peer: OnceLock<JsonRpcClient>,
}

static UNKNOWN_PEER: PeerInfo = PeerInfo::new();

/// Calls a peer from the peer's own calls: the connection's bounds.
const PEER_BUFFER: usize = 64;
const PEER_MAX_IN_FLIGHT: usize = 64;

impl CallContext {
    /// The context of a server's connection to `peer_info`, whose
    /// subscriptions `subscriptions` holds.
    pub(crate) fn server(peer_info: PeerInfo, subscriptions: Registry) -> Self {
        Self {
            connection: Some(Arc::new(Connection {
                peer_info,
                subscriptions: Some(subscriptions),
                peer: OnceLock::new(),
            })),
        }
    }

    /// The context of the calls a client receives from its server.
    pub(crate) fn client(client: JsonRpcClient) -> Self {
        Self {
            connection: Some(Arc::new(Connection {
                peer_info: PeerInfo::new(),
                subscriptions: None,
                peer: OnceLock::from(client),
            })),
        }
    }

    /// The context of a request that stands alone (one HTTP request): who
    /// sent it, no subscriptions (nothing can be pushed to it), and a peer
    /// whose calls fail at once.
    #[cfg(feature = "http")]
    pub(crate) fn stateless(peer_info: PeerInfo) -> Self {
        let engine = Arc::new(peer(None, 1, 1));
        engine.lose(&Error::closed(), std::iter::empty(), true);
        Self {
            connection: Some(Arc::new(Connection {
                peer_info,
                subscriptions: None,
                peer: OnceLock::from(JsonRpcClient::uncounted(engine)),
            })),
        }
    }

    /// The context of a call that came on no connection.
    pub(crate) fn detached() -> Self {
        Self { connection: None }
    }

    /// Who called: the peer's process, user and group ids as the transport
    /// reports them (see [`PeerInfo`]); unknown on a client, whose peer is
    /// the server it connected to.
    pub fn peer_info(&self) -> &PeerInfo {
        self.connection
            .as_ref()
            .map_or(&UNKNOWN_PEER, |connection| &connection.peer_info)
    }

    /// A client of the other side of the connection, to call and notify it
    /// from a handler (a language server asks its editor for
    /// `workspace/configuration`, and notifies it with `window/logMessage`).
    /// Its calls are numbered apart from the peer's own, answers are
    /// matched, and its calls fail at once when the connection closes. A
    /// call made by hand ([`Call::new`]) has no peer: its calls fail.
    ///
    /// ```
    /// use tower_ipc::jsonrpc::{CallContext, ErrorObject, Router};
    ///
    /// let router = Router::new().method("initialize", |cx: CallContext, (): ()| async move {
    ///     let settings: serde_json::Value = cx
    ///         .peer()
    ///         .call("workspace/configuration", [serde_json::json!({ "section": "demo" })])
    ///         .await
    ///         .map_err(|err| ErrorObject::internal_error(err))?;
    ///     cx.peer().notify("window/logMessage", [serde_json::json!({ "type": 3, "message": "ready" })]).await.ok();
    ///     Ok::<_, ErrorObject>(settings)
    /// });
    /// ```
    pub fn peer(&self) -> &JsonRpcClient {
        let Some(connection) = &self.connection else {
            static NONE: OnceLock<JsonRpcClient> = OnceLock::new();
            return NONE.get_or_init(|| {
                let engine = Arc::new(peer(None, 1, 1));
                engine.lose(&Error::closed(), std::iter::empty(), true);
                JsonRpcClient::uncounted(engine)
            });
        };
        connection.peer.get_or_init(|| {
            let engine = Arc::new(peer(None, PEER_BUFFER, PEER_MAX_IN_FLIGHT));
            if let Some(subscriptions) = &connection.subscriptions {
                // The connection looks for messages to write only when woken.
                subscriptions.wake();
            }
            JsonRpcClient::uncounted(engine)
        })
    }

    /// The engine of a server's client of its peer, once a handler made it.
    pub(crate) fn peer_engine(&self) -> Option<&Arc<Shared<ById>>> {
        let connection = self.connection.as_ref()?;
        connection.peer.get().map(JsonRpcClient::engine)
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
        let subscriptions = self
            .connection
            .as_ref()
            .and_then(|connection| connection.subscriptions.as_ref())
            .ok_or_else(|| {
                ErrorObject::new(
                    ErrorObject::METHOD_NOT_FOUND,
                    format!(
                        "`{}` opens a subscription, which needs a connection the server can \
                         push to (IPC or WebSocket); this call came on none (plain HTTP, or \
                         a call made by hand)",
                        subscription.subscribe_method()
                    ),
                )
            })?;
        subscriptions.open(subscription, items, id)
    }

    /// Ends a subscription of this connection; whether it existed.
    pub(crate) fn close_subscription(&self, id: &str) -> bool {
        self.connection
            .as_ref()
            .and_then(|connection| connection.subscriptions.as_ref())
            .is_some_and(|subscriptions| subscriptions.close(id))
    }
}

impl fmt::Debug for CallContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallContext")
            .field("peer", self.peer_info())
            .finish_non_exhaustive()
    }
}
