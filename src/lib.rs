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
//! # Layers
//!
//! Each layer knows only the one below it:
//!
//! | module | role |
//! |---|---|
//! | [`Endpoint`] | one portable name: a Unix socket, a Windows named pipe, or TCP |
//! | [`transport`] | listeners that accept connections with the peer's identity; byte streams; pipes to and from child processes |
//! | [`codec`] | framing: bytes to frames and back, with a maximum frame length |
//! | [`server`] | serves a [`tower::Service`] on a listener through a codec, pipelined |
//! | [`client`] | a connection as a [`tower::Service`], pipelined and shareable |
//! | [`process`] | child processes: lifetime events, waiting until ready, a supervisor that restarts |
//!
//! [tower]: https://docs.rs/tower
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
pub mod codec;
mod endpoint;
pub mod process;
pub mod server;
mod sys;
pub mod transport;

pub use client::Client;
pub use endpoint::Endpoint;
pub use server::{Server, serve};

/// The README's code blocks, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
