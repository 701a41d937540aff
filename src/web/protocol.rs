//! [`Http`]: the settings, and serving one HTTP connection.

use std::{
    convert::Infallible,
    future::Future,
    pin::pin,
    sync::{Arc, Mutex},
};

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tower::{BoxError, Service};

use super::service::{Handler, HttpService, ToHyper, Upgrades};
use crate::{
    jsonrpc::{Call, ErrorObject, Id, JsonRpc, Response},
    server::{
        CloseReason, Connecting, Protocol, Server,
        connection::{Limits, Signals},
    },
};

/// JSON-RPC over HTTP/1.1, and over WebSocket with
/// [`websocket`](Self::websocket): a [`Protocol`] for
/// [`serve`](crate::serve), and the settings of an [`HttpService`].
///
/// It serves a [`tower::Service`]`<`[`Call`]`, Response = `[`Response`]`>`,
/// as [`JsonRpc`] does: a [`Router`](crate::jsonrpc::Router), typically in
/// middleware. What the [module](super) docs list is answered; the JSON-RPC
/// settings (size limits, batch size, bad input, authorization) are the
/// [`JsonRpc`] given to [`jsonrpc`](Self::jsonrpc).
///
/// ```no_run
/// use std::time::Duration;
/// use tower::ServiceBuilder;
/// use tower_ipc::{Endpoint, Server, jsonrpc::{ErrorObject, JsonRpc, Router}, web::Http};
///
/// # async fn run() -> std::io::Result<()> {
/// let router = Router::new()
///     .method("add", |(a, b): (i64, i64)| async move { Ok::<_, ErrorObject>(a + b) });
/// let service = ServiceBuilder::new().timeout(Duration::from_secs(10)).service(router);
/// let http = Http::new().jsonrpc(JsonRpc::new().max_request_size(1 << 20));
/// let listener = Endpoint::tcp("0.0.0.0:8545").bind().await?;
/// Server::new()
///     .max_connections(256)
///     .serve(listener, http, service)
///     .with_graceful_shutdown(tower_ipc::server::shutdown_signal())
///     .await?;
/// # Ok(())
/// # }
/// ```
///
/// # Connections
///
/// Each connection is HTTP/1.1 with keep-alive; the [`Server`]'s limits
/// apply: at most [`max_connections`](Server::max_connections) at once (a
/// client past it is answered `503` with an error object), and graceful
/// shutdown finishes the request in flight, answers it, and closes. A
/// WebSocket connection is one of the server's connections from its
/// upgrade on, with the server's in-flight cap and timeouts.
#[derive(Clone, Debug)]
pub struct Http {
    pub(super) jsonrpc: JsonRpc,
    #[cfg(feature = "ws")]
    pub(super) websocket: bool,
}

impl Http {
    /// JSON-RPC over HTTP with the default [`JsonRpc`] settings; no
    /// WebSocket.
    pub fn new() -> Self {
        Self {
            jsonrpc: JsonRpc::new(),
            #[cfg(feature = "ws")]
            websocket: false,
        }
    }

    /// Uses `protocol`'s settings: the request and answer size limits, the
    /// batch limit, the bad-input policy (a WebSocket connection is closed
    /// after as many bad messages as an IPC connection), ordered
    /// notifications (WebSocket) and [`authorize`](JsonRpc::authorize). Its
    /// framing is not used: HTTP bodies and WebSocket messages carry their
    /// own boundaries.
    #[must_use]
    pub fn jsonrpc(mut self, protocol: JsonRpc) -> Self {
        self.jsonrpc = protocol;
        self
    }

    /// Serves JSON-RPC over WebSocket too: a `GET` that asks to upgrade is
    /// answered `101` and the connection then speaks JSON-RPC in WebSocket
    /// messages, subscriptions included (off by default).
    #[cfg(feature = "ws")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
    #[must_use]
    pub fn websocket(mut self, on: bool) -> Self {
        self.websocket = on;
        self
    }

    /// These settings as a `tower::Service<http::Request<B>>` calling
    /// `service`, to mount in an axum or hyper application (see
    /// [`HttpService`]).
    pub fn service<S>(&self, service: S) -> HttpService<S> {
        HttpService::new(self.clone(), service)
    }
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl crate::server::protocol::sealed::Sealed for Http {}

impl<T, S> Protocol<T, S> for Http
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
        let Connecting {
            peer,
            limits,
            signals,
            stats,
        } = connecting;
        let upgraded = Arc::new(Mutex::new(None));
        let handler = Handler {
            http: self.clone(),
            service,
            limits,
            signals: signals.clone(),
            stats,
            upgrades: Upgrades::InTask(Arc::clone(&upgraded)),
        };
        let connection = builder()
            .serve_connection(TokioIo::new(io), ToHyper { handler, peer })
            .with_upgrades();
        async move {
            let mut connection = pin!(connection);
            let served = tokio::select! {
                served = connection.as_mut() => served,
                () = signals.shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            // An upgraded connection is served here, in this connection's
            // task, so the server counts it and waits for it.
            let websocket = upgraded.lock().expect("never poisoned").take();
            if let Some(websocket) = websocket {
                return websocket.await;
            }
            match served {
                Ok(()) if signals.shutdown.is_cancelled() => CloseReason::Shutdown,
                Ok(()) => CloseReason::PeerClosed,
                Err(err) => CloseReason::Io(Arc::new(err)),
            }
        }
    }

    /// Answers the first request `503` with an error object that says why,
    /// and closes.
    fn refuse(&self, io: T, reason: &str) -> impl Future<Output = ()> + Send + use<T, S> {
        let answer = self.jsonrpc.error_answer(
            Id::null(),
            ErrorObject::new(ErrorObject::LIMIT_EXCEEDED, reason.to_owned()),
        );
        let refuse = hyper::service::service_fn(move |_| {
            let answer = answer.clone();
            async move {
                Ok::<_, Infallible>(super::service::json(
                    http::StatusCode::SERVICE_UNAVAILABLE,
                    answer,
                ))
            }
        });
        let connection = builder()
            .keep_alive(false)
            .serve_connection(TokioIo::new(io), refuse);
        async move {
            let _ = connection.await;
        }
    }
}

/// HTTP/1.1 as every connection speaks it.
fn builder() -> http1::Builder {
    let mut builder = http1::Builder::new();
    // The timer lets hyper time out a client that sends its headers too slowly.
    builder.timer(TokioTimer::new());
    builder
}

impl Handler<()> {
    /// The limits of a WebSocket connection upgraded outside a server: the
    /// defaults of [`Server`].
    pub(super) fn default_limits() -> Limits {
        Limits {
            max_in_flight: Server::DEFAULT_MAX_IN_FLIGHT,
            idle_timeout: None,
            write_timeout: Some(Server::DEFAULT_WRITE_TIMEOUT),
        }
    }

    /// Signals that never fire.
    pub(super) fn no_signals() -> Signals {
        Signals::default()
    }
}
