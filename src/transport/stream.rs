use std::{
    io::{self, IoSlice},
    pin::Pin,
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;
#[cfg(windows)]
use tokio::net::windows::named_pipe::{NamedPipeClient, NamedPipeServer};

/// A connected byte stream on any transport an [`Endpoint`](crate::Endpoint)
/// names: what [`Endpoint::connect`](crate::Endpoint::connect) returns and
/// [`IpcListener`](super::IpcListener) accepts.
#[derive(Debug)]
pub struct IpcStream {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    #[cfg(unix)]
    Unix(UnixStream),
    #[cfg(windows)]
    PipeServer(NamedPipeServer),
    #[cfg(windows)]
    PipeClient(NamedPipeClient),
    /// Either end of a message-type pipe, read in message mode.
    #[cfg(windows)]
    PipeMessages(super::windows::MessageStream),
    Tcp(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

#[cfg(unix)]
impl From<UnixStream> for IpcStream {
    fn from(stream: UnixStream) -> Self {
        Self {
            inner: Inner::Unix(stream),
        }
    }
}

#[cfg(windows)]
impl From<NamedPipeServer> for IpcStream {
    fn from(pipe: NamedPipeServer) -> Self {
        Self {
            inner: Inner::PipeServer(pipe),
        }
    }
}

#[cfg(windows)]
impl From<NamedPipeClient> for IpcStream {
    fn from(pipe: NamedPipeClient) -> Self {
        Self {
            inner: Inner::PipeClient(pipe),
        }
    }
}

#[cfg(windows)]
impl From<super::windows::MessageStream> for IpcStream {
    fn from(pipe: super::windows::MessageStream) -> Self {
        Self {
            inner: Inner::PipeMessages(pipe),
        }
    }
}

#[cfg(feature = "tls")]
impl From<tokio_rustls::TlsStream<TcpStream>> for IpcStream {
    fn from(stream: tokio_rustls::TlsStream<TcpStream>) -> Self {
        Self {
            inner: Inner::Tls(Box::new(stream)),
        }
    }
}

impl From<TcpStream> for IpcStream {
    fn from(stream: TcpStream) -> Self {
        Self {
            inner: Inner::Tcp(stream),
        }
    }
}

/// Forwards a call to whichever stream is inside.
macro_rules! dispatch {
    ($self:ident, $stream:ident => $call:expr) => {
        match &mut $self.get_mut().inner {
            #[cfg(unix)]
            Inner::Unix($stream) => $call,
            #[cfg(windows)]
            Inner::PipeServer($stream) => $call,
            #[cfg(windows)]
            Inner::PipeClient($stream) => $call,
            #[cfg(windows)]
            Inner::PipeMessages($stream) => $call,
            Inner::Tcp($stream) => $call,
            #[cfg(feature = "tls")]
            Inner::Tls($stream) => $call,
        }
    };
}

impl AsyncRead for IpcStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        dispatch!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for IpcStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        dispatch!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        dispatch!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match &self.inner {
            #[cfg(unix)]
            Inner::Unix(s) => s.is_write_vectored(),
            #[cfg(windows)]
            Inner::PipeServer(s) => s.is_write_vectored(),
            #[cfg(windows)]
            Inner::PipeClient(s) => s.is_write_vectored(),
            #[cfg(windows)]
            Inner::PipeMessages(s) => s.is_write_vectored(),
            Inner::Tcp(s) => s.is_write_vectored(),
            #[cfg(feature = "tls")]
            Inner::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        dispatch!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        dispatch!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}
