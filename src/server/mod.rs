//! Serving a [`tower::Service`] on a [`Listener`]
//! through a codec.
//!
//! Each accepted connection gets its own task. Frames are decoded into
//! requests, handed to the service, and the answers are encoded back in
//! request order (pipelining): a peer may send many requests without waiting,
//! and pairs answers with requests by position.
//!
//! ```no_run
//! use bytes::Bytes;
//! use tower::service_fn;
//! use tower_ipc::{Endpoint, codec::LengthPrefixed};
//!
//! # async fn run() -> std::io::Result<()> {
//! let listener = Endpoint::new("echo").bind().await?;
//! let echo = service_fn(|frame: Bytes| async move { Ok::<_, std::io::Error>(frame) });
//! tower_ipc::serve(listener, LengthPrefixed::new(), echo)
//!     .with_graceful_shutdown(tower_ipc::server::shutdown_signal()) // Ctrl-C, SIGTERM
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Backpressure
//!
//! A connection's next frame is read only while fewer than
//! [`max_in_flight`](Server::max_in_flight) of its requests are unanswered,
//! and a request read is handed over only when the service's `poll_ready`
//! accepts it; until then it waits and nothing more is read. A busy service
//! thus holds back each connection at one frame, and a peer that stops
//! reading its answers stops its own requests from being read: memory per
//! connection stays bounded.
//!
//! Readiness is asked for once a request is there, not before: an idle
//! connection holds no reservation (a concurrency limit shared by all
//! connections counts only real requests), and a load shedder judges the
//! load when the request arrives.
//!
//! # Errors
//!
//! A service error is a transport-level failure: the peer pairs answers with
//! requests by position, so nothing after an unanswerable request can be sent.
//! The answers before it are written and the connection is closed; the server
//! keeps serving everyone else. To answer failures instead, turn them into
//! responses in a layer (for example with
//! [`ServiceBuilder::map_result`](tower::ServiceBuilder::map_result)).

mod accept_loop;
pub mod authorize;
mod buffer;
mod cancel_flag;
mod close;
pub(crate) mod connection;
mod dispatch;
mod events;
pub(crate) mod protocol;
mod serve;
mod serve_connection;
mod settings;
mod signal;
pub(crate) mod summary;

pub use close::{Cause, CloseReason};
pub use events::{Events, ServerEvent};
#[doc(hidden)]
pub use protocol::Connecting;
pub use protocol::Protocol;
pub use serve::{Serve, ServeFuture, WithGracefulShutdown};
pub use serve_connection::ServeConnection;
pub use settings::Server;
pub use signal::{ShutdownSignal, shutdown_signal};
pub use summary::Summary;

use tower::make::Shared;

use crate::transport::Listener;

/// Serves `service` on every connection `listener` accepts, speaking
/// `protocol` (a codec, or JSON-RPC), with the default [`Server`] settings.
/// The service is cloned for each connection.
///
/// The returned [`Serve`] runs when awaited; add
/// [`with_graceful_shutdown`](Serve::with_graceful_shutdown) to stop it.
pub fn serve<L, P, S>(listener: L, protocol: P, service: S) -> Serve<L, P, Shared<S>>
where
    L: Listener,
    S: Clone,
{
    Server::new().serve(listener, protocol, service)
}
