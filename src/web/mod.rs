//! JSON-RPC over HTTP and WebSocket (features `http` and `ws`): the same
//! [`Router`](crate::jsonrpc::Router), middleware and handlers that serve IPC,
//! for remote clients, dashboards and load balancers.
//!
//! - [`Http`] is a [`Protocol`](crate::server::Protocol) for
//!   [`serve`](crate::serve): HTTP/1.1 on any listener (TCP, TLS, a Unix
//!   socket), with the server's connection limits, events and graceful
//!   shutdown. With [`websocket`](Http::websocket) (feature `ws`), a
//!   WebSocket upgrade on the same port serves JSON-RPC with subscriptions.
//! - [`HttpService`] is the same as a
//!   `tower::Service<http::Request<B>>`, to mount in an axum or hyper
//!   application (`axum::Router::route_service`).
//!
//! ```no_run
//! use tower_ipc::{Endpoint, jsonrpc::{ErrorObject, JsonRpc, Router}, web::Http};
//!
//! # async fn run() -> std::io::Result<()> {
//! let router = Router::new()
//!     .method("add", |(a, b): (i64, i64)| async move { Ok::<_, ErrorObject>(a + b) });
//! // The same router on a Unix socket (a named pipe on Windows) ...
//! let ipc = tower_ipc::serve(Endpoint::new("calc").bind().await?, JsonRpc::new(), router.clone());
//! // ... and on HTTP.
//! let http = tower_ipc::serve(Endpoint::tcp("127.0.0.1:8545").bind().await?, Http::new(), router);
//! let _ = tokio::join!(ipc.into_future(), http.into_future());
//! # Ok(())
//! # }
//! ```
//!
//! # HTTP
//!
//! | request | answer |
//! |---|---|
//! | `POST`, `Content-Type: application/json`, a request or batch | `200`, the answer (`application/json`) |
//! | `POST` of notifications only | `204`, no body |
//! | `POST` of a body that is not JSON, or not a request | `200`, the error answer IPC gives (`-32700`, `-32600`) |
//! | `POST` with another `Content-Type`, or none | `415`, an error object naming it |
//! | `POST` of a body over the request size limit | `413`, the error object IPC gives for an oversized request |
//! | `GET` or `HEAD` that is no WebSocket upgrade (a health check) | `200`, no body |
//! | a WebSocket upgrade, with [`websocket`](Http::websocket) on | `101`, then JSON-RPC over WebSocket |
//! | any other method | `405`, `Allow: GET, HEAD, POST` |
//!
//! `application/json-rpc` and `application/jsonrequest` are accepted as
//! JSON too, with any parameters (`; charset=utf-8`). Every error body is a
//! JSON-RPC answer with a null id and an [`ErrorObject`](crate::jsonrpc::ErrorObject).
//! Each request stands alone: handlers see the caller in
//! [`CallContext::peer_info`](crate::jsonrpc::CallContext::peer_info), calls to the
//! peer fail at once, and a subscription is refused with a
//! [`METHOD_NOT_FOUND`](crate::jsonrpc::ErrorObject::METHOD_NOT_FOUND)
//! error that says it needs a connection (IPC or WebSocket).
//!
//! # WebSocket
//!
//! One text message per JSON-RPC message (or batch), both ways; binary
//! messages are read as text. The connection is served by the engine that
//! serves IPC, with its limits: requests in flight, subscriptions and their
//! buffers, request and answer sizes, the bad-input policy, idle and write
//! timeouts, and graceful shutdown. Pings are answered and a close is
//! answered and ends the connection once the answers in flight are written.
//! A message over the request size limit is answered with the error IPC
//! gives, then the connection is closed with code 1009 (a WebSocket cannot
//! skip a message it has not read).

mod post;
mod protocol;
mod service;
#[cfg(feature = "ws")]
mod ws;

pub use protocol::Http;
pub use service::HttpService;

/// The body of every answer: the bytes of one JSON value, or none.
pub type Body = http_body_util::Full<bytes::Bytes>;
