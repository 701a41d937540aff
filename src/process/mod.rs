//! Parent and child processes: a child that reports its startup and
//! shutdown, a parent that waits until it is ready, and a supervisor that
//! keeps it running.
//!
//! This is the arrangement of decred's node, whose parent starts it, waits
//! for it, and stops it by closing a pipe; and of supervisors, editors
//! driving language servers, and test harnesses.
//!
//! # Three pipes
//!
//! ```text
//!   parent                                   child
//!   ──────                                   ─────
//!   PipeStream ── requests ──▶ stdin  ─┐
//!              ◀── answers ─── stdout ─┴─ PipeStream::stdio(), any codec
//!   LifetimeEvents ◀── lifetime events ─── LifetimeReporter::from_env()
//!                         (an inherited pipe, named in TOWER_IPC_LIFETIME_PIPE)
//!                      stderr ─▶ inherited: the child's logs
//! ```
//!
//! Requests and answers use the child's stdin and stdout with whatever codec
//! the two agree on; lifetime events, in decred's [pipe message
//! format](crate::codec::PipeMessageCodec), travel on a pipe of their own
//! (decred's `--pipetx`), whose number the child finds in
//! [`LIFETIME_PIPE_ENV`]. Keeping them apart means the request channel stays
//! a plain byte stream for any codec (the child can be a language server
//! that knows nothing of lifetime events), and the parent hears of startup
//! steps before the child serves, and of shutdown steps after it stopped
//! serving. Closing stdin is the request to shut down, as closing
//! `--piperx` is for decred's node. All three are anonymous pipes, which
//! Windows has as well as Unix.
//!
//! # The child
//!
//! ```no_run
//! use std::io::ErrorKind;
//!
//! use bytes::Bytes;
//! use tower::service_fn;
//! use tower_ipc::{
//!     Server,
//!     codec::LengthPrefixed,
//!     process::{LifetimeAction, LifetimeReporter},
//!     transport::PipeStream,
//! };
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let mut lifetime = LifetimeReporter::from_env()?;
//!     lifetime.startup(LifetimeAction::DATABASE).await?;
//!     // ... open the database ...
//!     lifetime.startup_complete().await?;
//!
//!     let echo = service_fn(|frame: Bytes| async move { Ok::<_, std::io::Error>(frame) });
//!     let served = Server::new()
//!         .serve_connection(PipeStream::stdio()?, LengthPrefixed::new(), echo)
//!         .await;
//!
//!     // The parent closed stdin (or died): wind down.
//!     let _ = lifetime.shutdown(LifetimeAction::DATABASE).await;
//!     match served {
//!         // The parent died before reading the last answers.
//!         Err(reason) if reason.io_error().map(|e| e.kind()) == Some(ErrorKind::BrokenPipe) => Ok(()),
//!         served => Ok(served?),
//!     }
//! }
//! ```
//!
//! # The parent
//!
//! [`ChildProcess`] starts a child with the three pipes and waits for it to
//! be ready; [`Supervisor`] also restarts it when it crashes and shuts it
//! down at the end, and gives callers a [`SupervisedClient`] to call it
//! through any `tower` stack.

mod child_process;
mod error;
pub mod future;
mod lifetime;
mod supervisor;

pub use child_process::ChildProcess;
pub use error::{StartError, SupervisedCallError};
pub use lifetime::{
    LIFETIME_PIPE_ENV, LifetimeAction, LifetimeEvent, LifetimeEvents, LifetimeReporter,
};
pub use supervisor::{SupervisedClient, Supervisor, SupervisorBuilder};
