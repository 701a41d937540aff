//! Transports: listeners that accept connections and tell who is on the other
//! side, and streams that carry bytes.
//!
//! A transport knows nothing of frames. [`Endpoint::bind`](crate::Endpoint::bind)
//! and [`Endpoint::connect`](crate::Endpoint::connect) pick the transport an
//! endpoint names:
//!
//! - **Unix domain sockets** (Unix): a socket file, or on Linux the abstract
//!   namespace. A socket file is only reachable by its owner (mode `0600`)
//!   unless [`BindOptions`] say otherwise, from the moment it appears; a stale
//!   socket file is replaced, a live server's never taken; the file is
//!   removed when the listener is dropped. An abstract socket has no mode:
//!   any local user of the network namespace can connect to it.
//! - **Named pipes** (Windows): every instance gets a security descriptor
//!   that lets only the current user and SYSTEM in unless [`BindOptions`] say
//!   otherwise; the first instance is created with
//!   `FILE_FLAG_FIRST_PIPE_INSTANCE`, so a server cannot join a pipe someone
//!   else already serves; remote clients are rejected. The listener keeps a
//!   [backlog](BindOptions::backlog) of instances waiting for clients and
//!   creates one before it hands a connected one over, so clients never
//!   find the name missing between two accepts, and a burst of them finds
//!   free instances; [`Endpoint::connect`](crate::Endpoint::connect) waits
//!   a busy pipe out. Pipes have no half-close: shutting down the write side
//!   of an [`IpcStream`] on a pipe does nothing, so a peer learns the end of
//!   a conversation only when the pipe is closed. Message-type pipes, for
//!   peers that exchange messages, are a setting of [`BindOptions`] and
//!   [`ConnectOptions`] (see [`PerMessage`](crate::codec::PerMessage)).
//! - **TCP**, with `TCP_NODELAY`, for peers on other machines.
//! - **Pipes between a parent and its child process**: [`child::spawn`]
//!   starts a program and connects to its stdin and stdout; the child serves
//!   on [`PipeStream::stdio`]. Or, decred style, [`ChildPipes`] hands the
//!   child two extra pipes by number, which it takes over with
//!   [`PipeStream::from_raw`]. Either way the connection is a
//!   [`PipeStream`].
//!
//! Any type implementing [`Listener`] can be served, including
//! [`tokio::net::UnixListener`] and [`tokio::net::TcpListener`] created by the
//! application itself (for example from socket activation).

pub mod child;
mod connect;
mod connect_options;
mod endpoint;
mod error;
mod listener;
mod options;
mod parent;
mod peer;
mod pipe;
mod stream;
mod tcp;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

use std::{future::Future, io};

use tokio::io::{AsyncRead, AsyncWrite};

pub use child::ChildPipes;
pub(crate) use connect::connect;
pub use connect_options::ConnectOptions;
pub use endpoint::Endpoint;
pub use listener::IpcListener;
pub(crate) use listener::bind;
pub use options::BindOptions;
pub use peer::PeerInfo;
pub use pipe::PipeStream;
pub(crate) use pipe::{ReadPipe, WritePipe};
pub use stream::IpcStream;

/// A source of connections: the transport half of a server.
///
/// # Cancel safety
///
/// `accept` must be cancel safe: the server drops an unfinished `accept`
/// future when it shuts down, and no connection may be lost by that.
pub trait Listener: Send + 'static {
    /// The byte stream of an accepted connection.
    type Io: AsyncRead + AsyncWrite + Send + Unpin + 'static;

    /// Waits for the next connection and returns it with what is known of
    /// the peer.
    ///
    /// # Errors
    ///
    /// An error concerns one connection attempt or a passing shortage (file
    /// descriptors, pipe instances); the server logs it and keeps accepting.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Io, PeerInfo)>> + Send;

    /// The endpoint this listener serves, for logs and traces.
    ///
    /// # Errors
    ///
    /// Fails when the operating system cannot tell (an unnamed socket).
    fn local_endpoint(&self) -> io::Result<Endpoint>;
}
