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
//! - [`Message`] (and the [`Request`], [`Response`], [`Id`] and
//!   [`ErrorObject`] it holds) is what travels, as plain data: a user of the
//!   [`JsonCodec`](crate::codec::JsonCodec) alone parses frames into it and
//!   writes it back.
//!
//! The module's rooms: `types/` (the messages), `wire/` (reading and
//! writing them fast), `service/` (the router, handlers, calls and
//! subscriptions: what answers calls), `server/` (the protocol for
//! [`serve`](crate::serve)) and `client/`.
//!
//! # On the wire
//!
//! Each message is one JSON value, framed by the
//! [`JsonCodec`](crate::codec::JsonCodec) in use (by default, values back to
//! back, each written with a trailing `\n`). A call, a batch, a notification
//! and a subscription, client `→` server and back:
//!
//! ```text
//! → {"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]}
//! ← {"jsonrpc":"2.0","id":1,"result":3}
//! → {"jsonrpc":"2.0","id":2,"method":"nope"}
//! ← {"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"Method not found: `nope`"}}
//! → [{"jsonrpc":"2.0","id":3,"method":"add","params":{"a":1,"b":2}},
//!    {"jsonrpc":"2.0","method":"log","params":["no id: a notification, never answered"]}]
//! ← [{"jsonrpc":"2.0","id":3,"result":3}]
//! → {"jsonrpc":"2.0","id":4,"method":"ticks_subscribe","params":[100]}
//! ← {"jsonrpc":"2.0","id":4,"result":"0x9c4e1f07b2d83a6e5f1c0d9a8b7e6f21"}
//! ← {"jsonrpc":"2.0","method":"ticks","params":{"subscription":"0x9c4e1f07b2d83a6e5f1c0d9a8b7e6f21","result":1}}
//! ← {"jsonrpc":"2.0","method":"ticks","params":{"subscription":"0x9c4e1f07b2d83a6e5f1c0d9a8b7e6f21","result":2}}
//! → {"jsonrpc":"2.0","id":5,"method":"ticks_unsubscribe","params":["0x9c4e1f07b2d83a6e5f1c0d9a8b7e6f21"]}
//! ← {"jsonrpc":"2.0","id":5,"result":true}
//! ```
//!
//! Answers come in the order they complete, not the order asked: the ids
//! pair them with their calls.
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

pub(crate) mod client;
mod server;
mod service;
mod types;
pub(crate) mod wire;

pub use client::{Builder as ClientBuilder, CallError, JsonRpcClient, SubscriptionStream};
pub use server::JsonRpc;
pub use service::{
    Broadcast, Call, CallContext, Feed, Handler, Overflow, RouteFuture, Router, Subscription,
    SubscriptionHandler,
};
pub use types::{ErrorObject, Id, Message, Params, Request, Response};
