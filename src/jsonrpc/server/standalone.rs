//! JSON-RPC beyond a byte stream: one message that stands alone (the body
//! of an HTTP request), and a connection whose transport keeps message
//! boundaries (WebSocket). Both follow the rules of a connection's frames:
//! the same parsing, limits, error answers and middleware errors.

use std::future::Future;

use bytes::{Bytes, BytesMut};
use tokio_util::sync::CancellationToken;
use tower::{BoxError, Service, ServiceExt};

use super::{
    JsonRpc,
    connection::{Outgoing, PerConnection},
};
use crate::{
    codec::FrameTooLarge,
    jsonrpc::{
        Call, CallContext, ErrorObject, Id, Response,
        wire::parse::{id_in_head, parse_incoming},
    },
    transport::PeerInfo,
};

impl JsonRpc {
    /// The longest request, in bytes.
    pub(crate) fn request_limit(&self) -> usize {
        self.codec.max_frame_len()
    }

    /// The same protocol for a transport that carries one message at a time
    /// and says where each ends: each message is handed over as a
    /// `Content-Length` block (see [`JsonFraming::ContentLength`]), and
    /// each answer comes out as one, so nothing a peer sends can run into
    /// the next message, and nothing in an answer's text can cut it.
    #[cfg(feature = "ws")]
    pub(crate) fn per_message(&self) -> Self {
        let mut protocol = self.clone();
        protocol.codec = self
            .codec
            .clone()
            .framing(crate::codec::JsonFraming::ContentLength)
            .max_frame_length(self.request_limit());
        protocol
    }

    /// Answers `message`, a request, notification or batch that came alone
    /// from `peer`: `None` when nothing is to be answered (notifications).
    /// The answer is one JSON value followed by a newline. The handlers'
    /// context has no subscriptions, and calls to its peer fail at once.
    /// `abort` cuts the request short with a shutting-down error.
    pub(crate) fn answer_message<S>(
        &self,
        service: S,
        peer: PeerInfo,
        abort: &CancellationToken,
        message: Bytes,
    ) -> impl Future<Output = Result<Option<Bytes>, BoxError>> + Send + use<S>
    where
        S: Service<Call, Response = Response> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError> + Send + 'static,
    {
        let refused = self
            .policy
            .as_ref()
            .is_some_and(|policy| !policy.allows(&peer));
        if refused {
            tracing::warn!(%peer, "peer refused: its JSON-RPC calls are answered with an unauthorized error");
        }
        let incoming = parse_incoming(message, self.max_batch_size);
        let connection =
            PerConnection::new(service, CallContext::stateless(peer), None, refused, abort);
        let mut answers = self.answers();
        async move {
            let outgoing = connection.oneshot(incoming).await?;
            if let Outgoing::Nothing = outgoing {
                return Ok(None);
            }
            let mut out = BytesMut::new();
            answers.encode(outgoing, &mut out)?;
            Ok(Some(out.freeze()))
        }
    }

    /// The answer to a message of `size` bytes over the request limit, as a
    /// connection gives it: an invalid-request error naming the limit and
    /// the size, for the id found in `head` (the message's first bytes).
    pub(crate) fn too_large_answer(&self, size: u64, head: &Bytes) -> Bytes {
        let error = FrameTooLarge::new(self.request_limit(), size);
        let id = id_in_head(head).unwrap_or_else(Id::null);
        self.error_answer(id, ErrorObject::invalid_request(error))
    }

    /// An error answer for `id`, framed as every answer.
    pub(crate) fn error_answer(&self, id: Id, error: ErrorObject) -> Bytes {
        let mut out = BytesMut::new();
        // An error answer is small and always fits.
        let _ = self
            .answers()
            .encode(Outgoing::One(Response::error(id, error)), &mut out);
        out.freeze()
    }
}
