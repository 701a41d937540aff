//! Local inter-process communication for the [tower] ecosystem.
//!
//! Programs on one machine talk to each other all the time: a node and its
//! wallet or CLI, a Windows service and the app in the user's session, a
//! supervisor and its child, an editor and a language server. `tower-ipc`
//! gives them one crate: portable transports, framing as
//! [`tokio_util::codec`] codecs, and request handling as a
//! [`tower::Service`], so timeouts, concurrency limits, load shedding and
//! tracing are ordinary tower layers.
//!
//! # Quick start
//!
//! A server that echoes length-prefixed frames, and a client calling it:
//!
//! ```
//! use bytes::Bytes;
//! use std::time::Duration;
//! use tokio_util::codec::Framed;
//! use tower::{Service, ServiceExt, service_fn};
//! use tower_ipc::{Client, Endpoint, codec::LengthPrefixed};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! # let endpoint = Endpoint::new(format!("tower-ipc-doc-{}", std::process::id()));
//! // let endpoint = Endpoint::new("my-app");
//! let listener = endpoint.bind().await?;
//! let echo = service_fn(|frame: Bytes| async move { Ok::<_, std::io::Error>(frame) });
//! tokio::spawn(tower_ipc::serve(listener, LengthPrefixed::new(), echo).into_future());
//!
//! let stream = endpoint.connect_timeout(Duration::from_secs(5)).await?;
//! let mut client = Client::new(Framed::new(stream, LengthPrefixed::new()));
//! let answer = client.ready().await?.call(Bytes::from("hello")).await?;
//! assert_eq!(answer, "hello");
//! # Ok(())
//! # }
//! ```
//!
//! JSON-RPC, with a [`Router`](jsonrpc::Router) of typed handlers and a
//! typed [`JsonRpcClient`](jsonrpc::JsonRpcClient) (feature `json-rpc`, on by
//! default):
//!
//! ```
//! # #[cfg(feature = "json-rpc")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use tower_ipc::{Endpoint, jsonrpc::{ErrorObject, JsonRpc, JsonRpcClient, Router}};
//!
//! # let endpoint = Endpoint::new(format!("tower-ipc-doc-rpc-{}", std::process::id()));
//! // let endpoint = Endpoint::new("calc");
//! let router = Router::new()
//!     .method("add", |(a, b): (i64, i64)| async move { Ok::<_, ErrorObject>(a + b) });
//! let listener = endpoint.bind().await?;
//! tokio::spawn(tower_ipc::serve(listener, JsonRpc::new(), router).into_future());
//!
//! let client = JsonRpcClient::new(endpoint.connect().await?);
//! let sum: i64 = client.call("add", (1, 2)).await?;
//! assert_eq!(sum, 3);
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "json-rpc"))]
//! # fn main() {}
//! ```
//!
//! Rust to Rust, one trait is enough: [`#[tower_ipc::service]`](macro@service)
//! generates the server and a typed client, over postcard frames or
//! JSON-RPC (feature `macros`; see the [`service`](mod@service) module).
//!
//! # Where to go next
//!
//! | to | see |
//! |---|---|
//! | define a service once, as a trait, for a daemon and its CLI | [`service`](mod@service) (feature `macros`), `examples/daemon_cli` |
//! | send your own serde types over any framing | [`typed`] (features `typed`, `postcard`, `json`) |
//! | compose timeouts, limits, load shedding, retries, tracing | `examples/layers.rs`; the server takes any [`tower::Service`], the clients are ones |
//! | write clients: raw, typed JSON-RPC, inside a `ServiceBuilder` | `examples/clients.rs`, [`Client`], `jsonrpc::JsonRpcClient` |
//! | host a server inside an application, stop it on Ctrl-C | `examples/embedded.rs`, [`Serve::with_graceful_shutdown`](server::Serve::with_graceful_shutdown), [`Serve::events`](server::Serve::events) |
//! | set limits: connections, requests in flight, idle and shutdown timeouts | [`Server`] |
//! | decide who may connect | [`transport::BindOptions`] (socket mode, group, pipe descriptor), [`server::authorize`] (a policy over the caller's uid, gid, pid) |
//! | start and supervise a child process | [`process`], `examples/supervisor.rs` |
//! | talk to C programs on message-type Windows pipes (ipc.h) | `examples/ipch.rs`, [`codec::PerMessage`], [`codec::NulTerminated`], message mode in [`transport::BindOptions`] and [`transport::ConnectOptions`] |
//! | poke an endpoint from a shell, serve a demo, measure round trips | the `tower-ipc` command-line tool, the workspace's `tower-ipc-cli` package: `cargo install --path cli`, then `tower-ipc --help` |
//!
//! # Features
//!
//! - `json-rpc` (default): the `jsonrpc` module (serde, serde_json).
//! - `typed`: the `typed` module, serde types in any codec's frames;
//!   `postcard` and `json` add its formats.
//! - `macros`: `#[tower_ipc::service]` and the `service` module (implies
//!   `json-rpc` and `json`).
//! - `http`: the `web` module, JSON-RPC over HTTP (hyper; implies
//!   `json-rpc`); `ws` adds WebSocket on the same port (tokio-tungstenite).
//! - `tls`: TLS on TCP for every codec and protocol (tokio-rustls):
//!   `transport::tls`.
//!
//! # Layers
//!
//! Each module uses only the ones below it (`ARCHITECTURE.md` in the
//! repository walks one request through them; `tests/layers.rs` checks the
//! rule):
//!
//! | layer | module | role |
//! |---|---|---|
//! | 5 | `service` | services defined by a trait: generated servers and clients over JSON-RPC or typed frames (feature `macros`) |
//! | 5 | `web` | the same JSON-RPC services over HTTP and WebSocket (features `http`, `ws`) |
//! | 4 | `jsonrpc` | JSON-RPC 2.0: router, batches, subscriptions, typed client, calls in both directions (feature `json-rpc`, on by default) |
//! | 4 | `typed` | serde types through a format (postcard, JSON) in any codec's frames (feature `typed`) |
//! | 4 | [`process`] | child processes: lifetime events, waiting until ready, a supervisor that restarts |
//! | 3 | [`server`] | serves a [`tower::Service`] on a listener through a protocol (any codec, JSON-RPC), pipelined, with limits, graceful shutdown and events; [`server::authorize`] refuses callers by identity |
//! | 3 | [`client`] | a connection as a [`tower::Service`], pipelined and shareable, that can reconnect |
//! | 2 | [`codec`] | framing: bytes to frames and back, with a maximum frame length |
//! | 1 | [`transport`] | [`Endpoint`], one portable name (a Unix socket, a Windows named pipe, TCP); listeners that accept connections with the peer's identity ([`PeerInfo`](transport::PeerInfo)); who may connect ([`BindOptions`](transport::BindOptions)); byte streams; pipes to a child ([`transport::child`]) and to the parent ([`PipeStream`](transport::PipeStream)) |
//! | 0 | `sys` (private) | the operating-system calls tokio and std do not wrap: the only module with `unsafe` code |
//!
//! # Security
//!
//! Every program on the machine can try a local endpoint, so endpoints are
//! closed by default and opened deliberately.
//!
//! | threat | what the defaults do |
//! |---|---|
//! | other users on the machine | a Unix socket file has mode `0600` from the moment it appears (it is bound and chmod-ed in a private directory, then hard-linked into place); every instance of a named pipe gets a descriptor that admits the current user and SYSTEM only |
//! | a process posing as the server (squatting) | binding never takes over a live server's socket (probed first), nor a file that is not a socket; a named pipe is created as its first instance, so a server cannot join a name someone else serves; users admitted by [`allow_local_users`](transport::BindOptions::allow_local_users) may connect but cannot add pipe instances |
//! | stale sockets | a socket file nobody answers on is replaced; a listener removes its own file, and only its own, when dropped |
//! | remote clients | named pipes reject them; TCP is only used when asked for (`tcp://`), with TLS and client certificates when asked for (`BindOptions::tls`, feature `tls`) |
//!
//! To open access, say to whom:
//!
//! - [`BindOptions`](transport::BindOptions) with
//!   [`Endpoint::bind_with`]: a group whose members may connect (Unix), a
//!   socket mode, all local users, or a custom SDDL descriptor (Windows).
//! - [`server::authorize`]: a [`PeerPolicy`](server::authorize::PeerPolicy)
//!   over each caller's identity ([`PeerInfo`](transport::PeerInfo): uid,
//!   gid and pid on Unix; pid and user SID on Windows) admits the same user,
//!   listed uids or gids, or any predicate; other callers' connections are
//!   closed and the refusal is logged. It is the only guard of a Linux
//!   abstract socket (`@name`), which any local user of the network
//!   namespace can reach.
//!
//! A client cannot tell a squatter from the server by the name alone. On
//! Unix, keep sockets in a directory only the server can write
//! (`$XDG_RUNTIME_DIR`, where portable names live, or `/run/<daemon>/`, not
//! `/tmp`); on Windows, where pipe names are global, start the server before
//! its clients: a squatter that came first makes the server's bind fail with
//! [`AddrInUse`](std::io::ErrorKind::AddrInUse), which is how you find out.
//!
//! [tower]: https://docs.rs/tower
#![cfg_attr(docsrs, feature(doc_cfg))]
// The client engine, the JSON framing and the dispatcher's entry have parts
// that only JSON-RPC uses (ids, routing, pushed messages, reading past the
// in-flight cap); a build without it leaves them unused.
#![cfg_attr(not(feature = "json-rpc"), allow(dead_code))]

pub mod client;
pub mod codec;
#[cfg(feature = "json-rpc")]
pub mod jsonrpc;
pub mod process;
pub mod server;
#[cfg(feature = "macros")]
pub mod service;
mod sys;
pub mod transport;
#[cfg(feature = "typed")]
pub mod typed;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod web;

pub use client::Client;
pub use server::{Server, serve};
/// Defines a service by a trait of `async fn`s: generates its server (a
/// [`tower::Service`] for [`serve`]) and a typed client, over JSON-RPC or
/// typed frames. See the [`service`](mod@service) module (feature `macros`).
#[cfg(feature = "macros")]
pub use tower_ipc_macros::service;
pub use transport::Endpoint;

/// The README's code blocks, compiled and run as doc tests.
#[cfg(all(
    doctest,
    feature = "macros",
    feature = "postcard",
    feature = "http",
    feature = "ws",
    feature = "tls"
))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
