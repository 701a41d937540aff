//! The runtime of [`#[tower_ipc::service]`](macro@crate::service): a
//! service defined by a trait, served and called over JSON-RPC or typed
//! frames (feature `macros`).
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use tower_ipc::{Endpoint, jsonrpc::{JsonRpc, JsonRpcClient}};
//!
//! /// A calculator.
//! #[tower_ipc::service]
//! pub trait Calc {
//!     /// Adds two numbers.
//!     async fn add(&self, a: i64, b: i64) -> i64;
//!     /// Divides `a` by `b`.
//!     async fn div(&self, a: i64, b: i64) -> Result<i64, String>;
//! }
//!
//! struct Calculator;
//!
//! impl Calc for Calculator {
//!     async fn add(&self, a: i64, b: i64) -> i64 {
//!         a + b
//!     }
//!     async fn div(&self, a: i64, b: i64) -> Result<i64, String> {
//!         a.checked_div(b).ok_or_else(|| format!("cannot divide {a} by {b}"))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! # let endpoint = Endpoint::new(format!("tower-ipc-doc-service-{}", std::process::id()));
//! // let endpoint = Endpoint::new("calc");
//! let listener = endpoint.bind().await?;
//! tokio::spawn(tower_ipc::serve(listener, JsonRpc::new(), CalcServer::new(Calculator)).into_future());
//!
//! let calc = CalcClient::new(JsonRpcClient::new(endpoint.connect().await?));
//! assert_eq!(calc.add(1, 2).await?, 3);
//! assert_eq!(calc.div(7, 2).await?, Ok(3));
//! assert_eq!(calc.div(1, 0).await?, Err("cannot divide 1 by 0".to_string()));
//! # Ok(())
//! # }
//! ```
//!
//! # What the attribute generates
//!
//! For a trait `Calc`:
//!
//! - the trait itself, each `async fn` declared to return a future that is
//!   `Send` (implement it with `async fn`s as usual);
//! - `CalcServer<T>`, made from any `T: Calc`: a [`tower::Service`] of
//!   JSON-RPC [`Request`](crate::jsonrpc::Request)s (serve it with
//!   [`JsonRpc`](crate::jsonrpc::JsonRpc)) and of typed-frames [`Call`]s
//!   (serve it with [`Frames`]), cheap to clone;
//! - `CalcClient`, on an [`RpcClient`] (either form; `From` a
//!   [`JsonRpcClient`](crate::jsonrpc::JsonRpcClient)): one `async` method
//!   per trait method, and a [`tower::Service`] of `CalcRequest` (an enum
//!   with a variant per method) answering `CalcResponse`;
//! - `CalcServer::INFO` and `CalcClient::INFO`, the [`ServiceInfo`].
//!
//! # Methods
//!
//! | in the trait | on the wire | the client's method returns |
//! |---|---|---|
//! | `async fn add(&self, a: i64, b: i64) -> i64;` | method `add`, params `[a, b]` (or `{"a":..,"b":..}`) | `Result<i64, Error>` |
//! | `async fn div(&self, a: i64, b: i64) -> Result<i64, E>;` | an error object for `Err`, with `E` as its data | `Result<Result<i64, E>, Error>` (`E`: [`MethodError`]) |
//! | `#[rpc(notification)] async fn log(&self, line: String);` | a JSON-RPC notification (no answer); in typed frames, acknowledged in order | `Result<(), Error>`, once sent (acknowledged, in frames) |
//! | `#[rpc(subscription)] async fn ticks(&self, ms: u64) -> BoxStream<'static, u64>;` | `ticks_subscribe`, items as `ticks` notifications, `ticks_unsubscribe`; in typed frames, items pushed between the answers | `Result<Items<u64>, Error>` |
//! | `#[rpc(name = "calc_add")]` on a method | that method name instead of the Rust name | |
//!
//! Arguments are owned types with `serde` impls; `Option` arguments may be
//! left out by callers.
//!
//! A subscription's items wait in a buffer of 256 for a consumer that is
//! behind; past that, the stream ends with an error, and nothing is dropped
//! silently. Dropping the stream unsubscribes. In typed frames the stream
//! also ends when the server's does (JSON-RPC has no message for that), and
//! a server whose client reads slowly stops reading the subscription's
//! stream until the client catches up. The method's [`Error`] is for calls that got no
//! answer from the method: the connection failed, or the server refused the
//! call (see below).
//!
//! # Versions: growing a service without breaking its clients
//!
//! Methods travel by name in both forms, and params by position (or, from
//! JSON-RPC callers, by name), so:
//!
//! - **adding a method** breaks nobody: old clients do not call it; a new
//!   client calling an old server gets an [`Error`] for which
//!   [`is_unknown_method`](Error::is_unknown_method) is true, and whose
//!   message names the method and both versions ("`sqrt` was refused by the
//!   server: Method not found ... (server: Calc 0.1.0; this client: Calc
//!   0.2.0)"), never a misparse;
//! - **adding an argument** without breaking old clients: add it last, as
//!   an `Option<T>`. Old clients leave it out and the server sees `None`;
//!   a new client sending `None` leaves it out too, so it still talks to old
//!   servers, and sending `Some` to an old server is refused with
//!   [`is_bad_params`](Error::is_bad_params);
//! - **changing** an argument's or result's type, removing or renaming a
//!   method (`#[rpc(name = "..")]` keeps the old wire name) breaks the
//!   callers that use it: they get `is_bad_params`/`is_unknown_method`, or,
//!   for a result that no longer decodes, an error naming the type;
//! - the **version** in the errors is the crate's (`CARGO_PKG_VERSION` of
//!   the crate defining the trait), or `#[tower_ipc::service(version =
//!   "2")]`.
//!
//! In postcard, a result's or argument's own type must also stay the same
//! field for field (see [`typed`](crate::typed#what-may-change)); in JSON,
//! new fields with `#[serde(default)]` are invisible to old peers.

mod client;
mod error;
mod frames;
mod info;
mod method_error;
#[doc(hidden)]
pub mod private;
mod subscriptions;

pub use client::{Items, RpcClient};
pub use error::Error;
pub use frames::{Answer, Call, Frames};
pub use info::ServiceInfo;
pub use method_error::MethodError;
