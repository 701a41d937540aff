//! Serving JSON-RPC: the [`JsonRpc`] protocol for [`serve`](crate::serve).
//!
//! - `mod.rs`: the protocol's settings, and how a connection is set up;
//! - [`codec`]: frames to requests (with the policy for bad input), answers
//!   to frames (with the answer size limit);
//! - [`connection`]: the service of one connection, which calls the user's
//!   service for each request and turns every failure into an answer;
//! - [`answer`]: the answers the server makes of its own (cancelled, from a
//!   middleware error), and request tracing;
//! - [`at_cap`]: what a connection does with frames past its in-flight cap
//!   while its handlers wait for the peer's answers.

mod answer;
mod at_cap;
mod codec;
mod connection;
mod in_order;
#[cfg(feature = "http")]
mod standalone;

use std::future::Future;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tower::{BoxError, Service};

use self::{
    codec::{Answers, BadInputPolicy, ServerCodec},
    connection::{Outgoing, PerConnection, Pushed},
};
use super::{Call, CallContext, ErrorObject, Id, Response, service::subscription};
use crate::{
    client,
    codec::JsonCodec,
    server::{CloseReason, Connecting, Protocol, authorize::PeerPolicy},
};

/// JSON-RPC 2.0 as a [`Protocol`] for [`serve`](crate::serve): serves a
/// [`tower::Service`]`<`[`Call`]`, Response = `[`Response`]`>` (a
/// [`Router`](super::Router), typically wrapped in middleware).
///
/// ```no_run
/// use std::time::Duration;
/// use tower::ServiceBuilder;
/// use tower_ipc::{Endpoint, jsonrpc::{ErrorObject, JsonRpc, Router}};
///
/// # async fn run() -> std::io::Result<()> {
/// let router = Router::new()
///     .method("add", |(a, b): (i64, i64)| async move { Ok::<_, ErrorObject>(a + b) });
/// let service = ServiceBuilder::new()
///     .timeout(Duration::from_secs(10))
///     .service(router);
/// let listener = Endpoint::new("calc").bind().await?;
/// tower_ipc::serve(listener, JsonRpc::new(), service).await?;
/// # Ok(())
/// # }
/// ```
///
/// # Behaviour
///
/// - Answers leave as they complete; the ids pair them with requests.
/// - A batch is answered with an array of the answers to its requests, in
///   batch order; an empty batch with one invalid-request error; a batch of
///   notifications with nothing.
/// - Errors from middleware become error answers for the request's id, and
///   the connection lives on: an elapsed timeout is
///   [`ErrorObject::TIMEOUT`], load shedding [`ErrorObject::LIMIT_EXCEEDED`],
///   an [`ErrorObject`] returned as the error is sent as it is, and any other
///   error is an internal error carrying its message.
///
/// # Sizes
///
/// Requests and answers have limits of their own:
/// [`max_request_size`](Self::max_request_size) (8 MiB unless set; a larger
/// request is skipped as it arrives, never held whole, and answered with an
/// [`ErrorObject::INVALID_REQUEST`] error naming the limit) and
/// [`max_response_size`](Self::max_response_size) (16 MiB unless set; a
/// larger answer is replaced by an [`ErrorObject::RESPONSE_TOO_LARGE`] error
/// for the same id, naming the limit and the size, and the connection goes
/// on). A subscription item over the answer limit ends its subscription with
/// that error.
///
/// # Bad input
///
/// Every case gets an error answer with a null id (unless the id could be
/// read) and the connection goes on with the next value, resynchronised by
/// the framing: text that is not JSON gets [`ErrorObject::PARSE_ERROR`]; JSON
/// that is not a request, [`ErrorObject::INVALID_REQUEST`]. Error traffic
/// stays bounded: after
/// [`max_bad_messages_in_a_row`](Self::max_bad_messages_in_a_row) messages
/// in a row that hold no request (64 unless set), the last answer says the
/// server gives up and the connection is closed. With
/// [`close_on_parse_error`](Self::close_on_parse_error), text that is not
/// JSON gets one parse error and the connection is closed, as geth does.
/// Framing that cannot be resynchronised (a malformed `Content-Length`
/// header) closes the connection.
#[derive(Clone, Debug)]
pub struct JsonRpc {
    codec: JsonCodec,
    ordered_notifications: bool,
    policy: Option<PeerPolicy>,
    max_batch_size: usize,
    max_response_size: usize,
    bad_input: BadInputPolicy,
}

impl JsonRpc {
    /// Requests a batch may hold unless set otherwise (as geth).
    pub const DEFAULT_MAX_BATCH_SIZE: usize = 1000;
    /// The longest request, in bytes, unless set otherwise: the JSON codec's
    /// [`DEFAULT_MAX_FRAME_LENGTH`](JsonCodec::DEFAULT_MAX_FRAME_LENGTH).
    pub const DEFAULT_MAX_REQUEST_SIZE: usize = JsonCodec::DEFAULT_MAX_FRAME_LENGTH;
    /// The longest answer, in bytes, unless set otherwise.
    pub const DEFAULT_MAX_RESPONSE_SIZE: usize = 16 * 1024 * 1024;
    /// Messages in a row without a request after which a connection is
    /// closed, unless set otherwise.
    pub const DEFAULT_MAX_BAD_MESSAGES_IN_A_ROW: usize = 64;

    /// JSON-RPC over the JSON stream framing geth, reth, alloy and web3.py use
    /// over IPC, with the default limits.
    pub fn new() -> Self {
        Self {
            codec: JsonCodec::new(),
            ordered_notifications: false,
            policy: None,
            max_batch_size: Self::DEFAULT_MAX_BATCH_SIZE,
            max_response_size: Self::DEFAULT_MAX_RESPONSE_SIZE,
            bad_input: BadInputPolicy {
                close_on_parse_error: false,
                max_in_a_row: Self::DEFAULT_MAX_BAD_MESSAGES_IN_A_ROW,
            },
        }
    }

    /// Sets the longest request (or batch), in bytes, that is read (default
    /// [`DEFAULT_MAX_REQUEST_SIZE`](Self::DEFAULT_MAX_REQUEST_SIZE)): the
    /// codec's maximum frame length. Up to this much is buffered per
    /// connection while a request arrives.
    #[must_use]
    pub fn max_request_size(mut self, max: usize) -> Self {
        self.codec = self.codec.max_frame_length(max);
        self
    }

    /// Sets the longest answer (or batch of answers), in bytes, that is
    /// written (default
    /// [`DEFAULT_MAX_RESPONSE_SIZE`](Self::DEFAULT_MAX_RESPONSE_SIZE)). A
    /// larger answer is replaced by an
    /// [`ErrorObject::RESPONSE_TOO_LARGE`] error for its id, naming the limit
    /// and the size; in a batch, the largest answers are replaced until it
    /// fits. Answers are held whole in the connection's write buffer, so
    /// this bounds the memory each one takes.
    #[must_use]
    pub fn max_response_size(mut self, max: usize) -> Self {
        self.max_response_size = max;
        self
    }

    /// Closes a connection after answering a message that is not JSON with
    /// one [`ErrorObject::PARSE_ERROR`], as geth does (default: off, the
    /// framing resynchronises and the connection goes on).
    #[must_use]
    pub fn close_on_parse_error(mut self, close: bool) -> Self {
        self.bad_input.close_on_parse_error = close;
        self
    }

    /// Closes a connection after `max` messages in a row that hold no
    /// request (not JSON, not a request object, over the size limit; a
    /// batch counts when none of its elements is a request); default
    /// [`DEFAULT_MAX_BAD_MESSAGES_IN_A_ROW`](Self::DEFAULT_MAX_BAD_MESSAGES_IN_A_ROW),
    /// at least 1. The last error answer says why the connection closes. A
    /// valid request starts the count again. This bounds the error answers
    /// a peer sending garbage gets, so a peer that writes before it reads
    /// does not block on them.
    #[must_use]
    pub fn max_bad_messages_in_a_row(mut self, max: usize) -> Self {
        self.bad_input.max_in_a_row = max.max(1);
        self
    }

    /// Caps the requests of a batch (default
    /// [`DEFAULT_MAX_BATCH_SIZE`](Self::DEFAULT_MAX_BATCH_SIZE), at least 1).
    /// A larger batch is answered with one
    /// [`ErrorObject::LIMIT_EXCEEDED`] error naming the limit, and none of
    /// its requests run.
    #[must_use]
    pub fn max_batch_size(mut self, max: usize) -> Self {
        self.max_batch_size = max.max(1);
        self
    }

    /// Uses `codec` for framing: another [`JsonFraming`](crate::codec::JsonFraming)
    /// (newline-delimited, or `Content-Length` headers as language servers
    /// use). Its maximum frame length is the
    /// [request size limit](Self::max_request_size).
    #[must_use]
    pub fn codec(mut self, codec: JsonCodec) -> Self {
        self.codec = codec;
        self
    }

    /// Handles the notifications of each connection one at a time, in the
    /// order they arrived, and starts each request only once the
    /// notifications read before it are handled, as a language server
    /// needs (a hover after a `didChange` sees the change); requests still
    /// run concurrently with each other. Off by default: notifications and
    /// requests all run concurrently. A connection is served
    /// once the notifications it read are handled too (or the shutdown
    /// deadline passes), so a server on its stdio handles every one before
    /// it exits.
    #[must_use]
    pub fn ordered_notifications(mut self, ordered: bool) -> Self {
        self.ordered_notifications = ordered;
        self
    }

    /// Answers every call of a peer that `policy` refuses with an
    /// [`ErrorObject::UNAUTHORIZED`] error (its notifications are dropped),
    /// and logs the refusal with the peer's identity. The connection stays
    /// open, so the caller learns why. To close refused connections instead,
    /// use [`AuthorizeLayer`](crate::server::authorize::AuthorizeLayer).
    ///
    /// ```
    /// use tower_ipc::{jsonrpc::JsonRpc, server::authorize::PeerPolicy};
    ///
    /// let protocol = JsonRpc::new().authorize(PeerPolicy::same_user());
    /// ```
    #[must_use]
    pub fn authorize(mut self, policy: PeerPolicy) -> Self {
        self.policy = Some(policy);
        self
    }
}

impl JsonRpc {
    fn answers(&self) -> Answers {
        Answers::new(self.codec.clone(), self.max_response_size)
    }
}

impl Default for JsonRpc {
    fn default() -> Self {
        Self::new()
    }
}

impl crate::server::protocol::sealed::Sealed for JsonRpc {}

impl<T, S> Protocol<T, S> for JsonRpc
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    S: Service<Call, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
{
    fn serve_connection(
        &self,
        io: T,
        service: S,
        connecting: Connecting,
    ) -> impl Future<Output = CloseReason> + Send + use<T, S> {
        let peer = connecting.peer().clone();
        let max_in_flight = connecting.max_in_flight();
        let abort = connecting.deadline().clone();
        let refused = self
            .policy
            .as_ref()
            .is_some_and(|policy| !policy.allows(&peer));
        if refused {
            tracing::warn!(
                pid = peer.pid(),
                uid = peer.uid(),
                gid = peer.gid(),
                "peer refused: its JSON-RPC calls are answered with an unauthorized error"
            );
        }
        let (subscriptions, outbox) = subscription::channel(self.max_response_size);
        let (notifications, handling) = if self.ordered_notifications {
            let (in_order, task) = in_order::InOrder::start(service.clone(), max_in_flight);
            (Some(in_order), Some(task))
        } else {
            (None, None)
        };
        let context = CallContext::server(peer, subscriptions.clone());
        let codec = ServerCodec::new(
            self.codec.clone(),
            subscriptions,
            context.clone(),
            self.max_batch_size,
            self.bad_input,
            self.answers(),
        );
        let pushed = Pushed::new(outbox, context.clone());
        let connection =
            PerConnection::new(service, context.clone(), notifications, refused, &abort);
        let connection = connecting
            .serve(io, codec, connection)
            .push(pushed)
            .at_cap(at_cap::PastCap {
                context: context.clone(),
                max_in_flight,
            })
            .in_completion_order();
        async move {
            let closed = connection.await;
            // The handlers' calls to this peer fail now, and from now on,
            // those of notification handlers still to run included.
            let peer = context.peer().engine();
            peer.lose(&client::Error::closed(), std::iter::empty(), true);
            // The notifications read are handled before the connection
            // counts as served (a stdio server exits then), unless the
            // shutdown deadline passes first.
            if let Some(mut handling) = handling {
                tokio::select! {
                    _ = &mut handling => {}
                    () = abort.cancelled() => handling.abort(),
                }
            }
            closed
        }
    }

    /// Tells the peer why with an error object (null id,
    /// [`ErrorObject::LIMIT_EXCEEDED`]), then closes.
    fn refuse(&self, mut io: T, reason: &str) -> impl Future<Output = ()> + Send + use<T, S> {
        let mut message = BytesMut::new();
        let answer = Response::error(
            Id::null(),
            ErrorObject::new(ErrorObject::LIMIT_EXCEEDED, reason.to_owned()),
        );
        let encoded = self.answers().encode(Outgoing::One(answer), &mut message);
        async move {
            if encoded.is_ok() {
                let _ = io.write_all(&message).await;
            }
            let _ = io.shutdown().await;
        }
    }
}
