//! WebSocket: the upgrade from HTTP, then JSON-RPC served by the
//! connection engine over the messages ([`messages::MessageIo`]).

mod messages;

use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{
        handshake::derive_accept_key,
        protocol::{Role, WebSocketConfig},
    },
};
use tower::{BoxError, Service};
use tracing::Instrument;

use self::messages::MessageIo;
use super::{
    Body,
    service::{Handler, Upgrades, empty},
};
use crate::{
    jsonrpc::{Call, Response as JsonRpcResponse},
    server::{CloseReason, Connecting, Protocol},
    transport::PeerInfo,
};

/// Answers a WebSocket upgrade (RFC 6455, version 13) with `101`, and
/// starts serving the connection once hyper hands it over.
pub(super) fn upgrade<S, B>(
    handler: Handler<S>,
    peer: PeerInfo,
    mut request: Request<B>,
) -> Response<Body>
where
    S: Service<Call, Response = JsonRpcResponse> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
{
    let headers = request.headers();
    if headers.get(header::SEC_WEBSOCKET_VERSION) != Some(&HeaderValue::from_static("13")) {
        let mut answer = handler.error(
            StatusCode::UPGRADE_REQUIRED,
            "unsupported WebSocket version: this server speaks version 13".to_owned(),
        );
        answer.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return answer;
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return handler.error(
            StatusCode::BAD_REQUEST,
            "a WebSocket upgrade without Sec-WebSocket-Key".to_owned(),
        );
    };
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(&mut request);

    let jsonrpc = handler.http.jsonrpc.per_message();
    let limit = jsonrpc.request_limit();
    let config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let connecting = Connecting {
        peer: peer.clone(),
        limits: handler.limits,
        signals: handler.signals.clone(),
        stats: handler.stats.clone(),
    };
    let service = handler.service;
    let serving = async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(err) => return CloseReason::Io(std::sync::Arc::new(err)),
        };
        let ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        tracing::debug!("upgraded to WebSocket");
        jsonrpc
            .serve_connection(MessageIo::new(ws), service, connecting)
            .await
    };
    match handler.upgrades {
        Upgrades::InTask(slot) => {
            *slot.lock().expect("never poisoned") = Some(Box::pin(serving));
        }
        Upgrades::Spawn => {
            let span = tracing::info_span!("websocket", %peer);
            tokio::spawn(
                async move {
                    let closed = serving.await;
                    tracing::debug!(reason = %closed, "WebSocket connection closed");
                }
                .instrument(span),
            );
        }
    }
    let mut answer = empty(StatusCode::SWITCHING_PROTOCOLS);
    let headers = answer.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).expect("base64 is a valid header value"),
    );
    answer
}
