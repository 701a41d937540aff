//! JSON-RPC 2.0 over any transport: wire-compatible with geth, reth, alloy
//! and web3.py over IPC (a stream of JSON values), and with language servers
//! (`Content-Length` headers).
//!
//! - [`JsonRpc`] is the [`Protocol`](crate::server::Protocol) to give
//!   [`serve`](crate::serve): it reads requests, notifications and batches and
//!   answers them in completion order.
//! - [`Router`] routes requests by method to typed async handlers, and opens
//!   [`Subscription`]s; it is a [`tower::Service`], so timeouts, concurrency
//!   limits, load shedding and tracing are ordinary layers around it.
//! - [`Request`], [`Response`], [`Id`] and [`ErrorObject`] are the messages.
//!
//! ```no_run
//! use tower_ipc::{Endpoint, jsonrpc::{ErrorObject, JsonRpc, Router}};
//!
//! # async fn run() -> std::io::Result<()> {
//! let router = Router::new()
//!     .method("add", |(a, b): (i64, i64)| async move { Ok::<_, ErrorObject>(a + b) });
//! let listener = Endpoint::new("calc").bind().await?;
//! tower_ipc::serve(listener, JsonRpc::new(), router).await?;
//! # Ok(())
//! # }
//! ```

mod client;
mod context;
mod error;
mod handler;
mod id;
mod message;
mod request;
mod response;
mod router;
mod server;
mod subscription;
mod write;

pub use client::{Builder as ClientBuilder, CallError, JsonRpcClient, SubscriptionStream};
pub use context::Context;
pub use error::ErrorObject;
pub use handler::{Handler, SubscriptionHandler};
pub use id::Id;
pub use request::{Params, Request};
pub use response::Response;
pub use router::{RouteFuture, Router};
pub use server::JsonRpc;
pub use subscription::{Overflow, Subscription};
