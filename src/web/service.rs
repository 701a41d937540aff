//! Answering HTTP requests: [`HttpService`] for axum and hyper
//! applications, and the handler every connection of [`Http`] shares.

use std::{
    convert::Infallible,
    fmt,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, atomic::Ordering},
    task::{Context, Poll},
};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use tower::{BoxError, Service};

use super::{Body, Http, post};
use crate::{
    jsonrpc::{Call, ErrorObject, Id, Response as JsonRpcResponse},
    server::{
        CloseReason,
        connection::{Limits, Signals},
        summary::Stats,
    },
    transport::PeerInfo,
};

/// JSON-RPC over HTTP (and WebSocket, if [`Http::websocket`] is on) as a
/// `tower::Service<http::Request<B>>`, from [`Http::service`]: mount it in
/// an axum application with `Router::route_service`, or serve it with
/// hyper. The answers are those the [module](super) docs list.
///
/// ```
/// use tower_ipc::{jsonrpc::{ErrorObject, Router}, web::Http};
///
/// let router = Router::new()
///     .method("add", |(a, b): (i64, i64)| async move { Ok::<_, ErrorObject>(a + b) });
/// let rpc = Http::new().service(router);
/// // axum::Router::new().route_service("/rpc", rpc)
/// # let _ = rpc;
/// ```
///
/// The caller a handler sees ([`CallContext::peer_info`](crate::jsonrpc::CallContext::peer_info))
/// is the [`PeerInfo`] in the request's extensions, if the application put
/// one there, else an unknown peer. A WebSocket connection upgraded through
/// this service runs in a task of its own with the default limits of
/// [`Server`](crate::Server), until its peer closes it or it times out.
///
/// # Backpressure
///
/// Always ready: each request calls a clone of the inner service, made
/// ready for it, so concurrency limits in the inner service hold each
/// request until it has its turn.
pub struct HttpService<S> {
    handler: Handler<S>,
}

impl<S> HttpService<S> {
    pub(super) fn new(http: Http, service: S) -> Self {
        Self {
            handler: Handler {
                http,
                service,
                limits: Handler::default_limits(),
                signals: Handler::no_signals(),
                stats: Arc::default(),
                upgrades: Upgrades::Spawn,
            },
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.handler.service
    }

    /// The inner service, to change.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.handler.service
    }

    /// Gives the inner service back.
    pub fn into_inner(self) -> S {
        self.handler.service
    }
}

impl<S: Clone> Clone for HttpService<S> {
    fn clone(&self) -> Self {
        Self {
            handler: self.handler.clone(),
        }
    }
}

impl<S> fmt::Debug for HttpService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpService")
            .field("http", &self.handler.http)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for HttpService<S>
where
    S: Service<Call, Response = JsonRpcResponse> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> ResponseFuture {
        let peer = request
            .extensions()
            .get::<PeerInfo>()
            .cloned()
            .unwrap_or_default();
        let handler = self.handler.clone();
        ResponseFuture(Box::pin(
            async move { Ok(handler.respond(peer, request).await) },
        ))
    }
}

/// The answer of an [`HttpService`], on its way.
pub struct ResponseFuture(BoxFuture<'static, Result<Response<Body>, Infallible>>);

impl Future for ResponseFuture {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// Answers the requests of a connection, or of a mounted service.
pub(super) struct Handler<S> {
    pub(super) http: Http,
    pub(super) service: S,
    /// For a WebSocket connection upgraded here.
    pub(super) limits: Limits,
    /// The abort signal cuts requests short; a WebSocket connection obeys
    /// both.
    pub(super) signals: Signals,
    pub(super) stats: Arc<Stats>,
    pub(super) upgrades: Upgrades,
}

/// Where a WebSocket connection upgraded from HTTP is served.
#[derive(Clone)]
pub(super) enum Upgrades {
    /// In the HTTP connection's task, once hyper lets go of the connection:
    /// the server counts it as the same connection.
    #[cfg_attr(not(feature = "ws"), allow(dead_code))]
    InTask(Arc<Mutex<Option<BoxFuture<'static, CloseReason>>>>),
    /// In a task of its own (a mounted service has no connection task).
    Spawn,
}

impl<S: Clone> Clone for Handler<S> {
    fn clone(&self) -> Self {
        Self {
            http: self.http.clone(),
            service: self.service.clone(),
            limits: self.limits,
            signals: self.signals.clone(),
            stats: Arc::clone(&self.stats),
            upgrades: self.upgrades.clone(),
        }
    }
}

impl<S> Handler<S>
where
    S: Service<Call, Response = JsonRpcResponse> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
{
    /// The answer to `request`, from `peer`.
    pub(super) async fn respond<B>(self, peer: PeerInfo, request: Request<B>) -> Response<Body>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        match *request.method() {
            Method::POST => {
                let answer = post::answer(
                    &self.http.jsonrpc,
                    self.service,
                    peer,
                    &self.signals.abort,
                    request,
                )
                .await;
                // A POST is one request, as a frame is on IPC.
                self.stats.completed.fetch_add(1, Ordering::Relaxed);
                answer
            }
            Method::GET | Method::HEAD if is_upgrade(&request) => self.upgrade(peer, request),
            // A health check, as load balancers make them.
            Method::GET | Method::HEAD => empty(StatusCode::OK),
            _ => {
                let mut answer = self.error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    format!(
                        "method {} is not served: send JSON-RPC with POST",
                        request.method()
                    ),
                );
                answer
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
                answer
            }
        }
    }

    #[cfg(feature = "ws")]
    fn upgrade<B>(self, peer: PeerInfo, request: Request<B>) -> Response<Body> {
        if !self.http.websocket {
            return self.no_websocket();
        }
        super::ws::upgrade(self, peer, request)
    }

    #[cfg(not(feature = "ws"))]
    fn upgrade<B>(self, _peer: PeerInfo, _request: Request<B>) -> Response<Body> {
        self.no_websocket()
    }

    fn no_websocket(&self) -> Response<Body> {
        self.error(
            StatusCode::METHOD_NOT_ALLOWED,
            "WebSocket is not served here: send JSON-RPC with POST".to_owned(),
        )
    }

    /// An answer with `status` and an error object with `message`.
    pub(super) fn error(&self, status: StatusCode, message: String) -> Response<Body> {
        let code = ErrorObject::INVALID_REQUEST;
        json(
            status,
            self.http
                .jsonrpc
                .error_answer(Id::null(), ErrorObject::new(code, message)),
        )
    }
}

/// Whether `request` asks to become a WebSocket.
fn is_upgrade<B>(request: &Request<B>) -> bool {
    let has_token = |name, token: &str| {
        request.headers().get_all(name).iter().any(|value| {
            value.to_str().is_ok_and(|value| {
                value
                    .split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    has_token(header::UPGRADE, "websocket") && has_token(header::CONNECTION, "upgrade")
}

/// An answer with `status` and a JSON body.
pub(super) fn json(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut answer = Response::new(Body::new(body));
    *answer.status_mut() = status;
    answer.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    answer
}

/// An answer with `status` and no body.
pub(super) fn empty(status: StatusCode) -> Response<Body> {
    let mut answer = Response::new(Body::default());
    *answer.status_mut() = status;
    answer
}

/// Serves the connections of [`Http`] through hyper, which calls by
/// shared reference.
pub(super) struct ToHyper<S> {
    pub(super) handler: Handler<S>,
    pub(super) peer: PeerInfo,
}

impl<S> hyper::service::Service<Request<hyper::body::Incoming>> for ToHyper<S>
where
    S: Service<Call, Response = JsonRpcResponse> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, request: Request<hyper::body::Incoming>) -> ResponseFuture {
        let handler = self.handler.clone();
        let peer = self.peer.clone();
        ResponseFuture(Box::pin(
            async move { Ok(handler.respond(peer, request).await) },
        ))
    }
}
