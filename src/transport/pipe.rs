//! [`PipeStream`]: one connection over two one-way pipes.

use std::{
    fmt,
    fs::File,
    io::{self, Read},
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::{Buf, Bytes};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::mpsc,
};

/// A connection made of two one-way pipes: one it reads, one it writes.
///
/// It is what both ends of a parent–child pair talk through:
///
/// - the parent's end of a child's stdin and stdout, from
///   [`child::spawn`](super::child::spawn);
/// - a child's own stdin and stdout, from [`PipeStream::stdio`];
/// - pipes handed over by number, decred style: the parent's ends from
///   [`ChildPipes`](super::ChildPipes), the child's from
///   [`PipeStream::from_raw`].
///
/// It is an [`AsyncRead`] + [`AsyncWrite`], so a
/// [`Framed`](tokio_util::codec::Framed) with any codec turns it into a
/// [`Client`](crate::Client) transport, or
/// [`Server::serve_connection`](crate::Server::serve_connection) serves on it.
///
/// # Closing
///
/// [`poll_shutdown`](AsyncWrite::poll_shutdown) (reached through
/// `AsyncWriteExt::shutdown`, `SinkExt::close`, or a client whose handles
/// are all dropped) flushes and then closes the write pipe, so the peer reads
/// end-of-stream while this side can still read its answers. Writing after
/// that fails with [`BrokenPipe`](io::ErrorKind::BrokenPipe). Dropping the
/// stream closes both pipes.
///
/// # Platforms
///
/// On Unix, pipes are read and written through tokio's
/// [`pipe`](tokio::net::unix::pipe) types, without blocking any thread (a
/// stdin or stdout that is not a pipe, such as a file or a terminal, is
/// read on a thread of its own and written on tokio's blocking pool).
/// Windows' anonymous pipes cannot do overlapped I/O, which tokio needs: the
/// read pipe is read on a thread of its own, so a pending read never holds
/// up the runtime's shutdown, and the write pipe is written through
/// [`tokio::fs::File`], on tokio's blocking pool.
pub struct PipeStream {
    reader: ReadPipe,
    /// `None` once shut down.
    writer: Option<WritePipe>,
}

impl PipeStream {
    /// The connection over a read pipe and a write pipe this process owns.
    ///
    /// Must be called in a Tokio runtime.
    pub(crate) fn from_files(read: File, write: File) -> io::Result<Self> {
        Ok(Self {
            reader: ReadPipe::new(read)?,
            writer: Some(WritePipe::new(write)?),
        })
    }
}

impl fmt::Debug for PipeStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeStream")
            .field("reader", &self.reader)
            .field("writer", &self.writer)
            .finish()
    }
}

impl AsyncRead for PipeStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().reader).poll_read(cx, buf)
    }
}

impl AsyncWrite for PipeStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().writer {
            Some(writer) => Pin::new(writer).poll_write(cx, buf),
            None => Poll::Ready(Err(write_side_closed())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().writer {
            Some(writer) => Pin::new(writer).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(writer) = &mut this.writer {
            let flushed = ready!(Pin::new(writer).poll_flush(cx));
            // Close even when the flush failed: the peer is gone or broken,
            // and holding the pipe open helps nobody.
            this.writer = None;
            flushed?;
        }
        Poll::Ready(Ok(()))
    }
}

fn write_side_closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the write pipe of this connection was shut down",
    )
}

/// The pipe a [`PipeStream`] reads, or any one-way pipe read asynchronously.
pub(crate) struct ReadPipe {
    inner: ReadInner,
}

enum ReadInner {
    #[cfg(unix)]
    Fifo(tokio::net::unix::pipe::Receiver),
    Thread(ThreadReader),
}

impl ReadPipe {
    /// Reads `file` without blocking the runtime. Must be called in a Tokio
    /// runtime.
    pub(crate) fn new(file: File) -> io::Result<Self> {
        #[cfg(unix)]
        if is_fifo(&file)? {
            let pipe = tokio::net::unix::pipe::Receiver::from_file(file)?;
            return Ok(Self {
                inner: ReadInner::Fifo(pipe),
            });
        }
        Ok(Self {
            inner: ReadInner::Thread(ThreadReader::spawn(file)?),
        })
    }
}

impl fmt::Debug for ReadPipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match &self.inner {
            #[cfg(unix)]
            ReadInner::Fifo(_) => "fifo",
            ReadInner::Thread(_) => "reader thread",
        };
        f.debug_tuple("ReadPipe").field(&how).finish()
    }
}

impl AsyncRead for ReadPipe {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            #[cfg(unix)]
            ReadInner::Fifo(pipe) => Pin::new(pipe).poll_read(cx, buf),
            ReadInner::Thread(reader) => reader.poll_read(cx, buf),
        }
    }
}

/// The pipe a [`PipeStream`] writes, or any one-way pipe written
/// asynchronously.
pub(crate) struct WritePipe {
    inner: WriteInner,
}

enum WriteInner {
    #[cfg(unix)]
    Fifo(tokio::net::unix::pipe::Sender),
    File(tokio::fs::File),
}

impl WritePipe {
    /// Writes `file` without blocking the runtime. Must be called in a Tokio
    /// runtime.
    pub(crate) fn new(file: File) -> io::Result<Self> {
        #[cfg(unix)]
        if is_fifo(&file)? {
            let pipe = tokio::net::unix::pipe::Sender::from_file(file)?;
            return Ok(Self {
                inner: WriteInner::Fifo(pipe),
            });
        }
        Ok(Self {
            inner: WriteInner::File(tokio::fs::File::from_std(file)),
        })
    }
}

impl fmt::Debug for WritePipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match &self.inner {
            #[cfg(unix)]
            WriteInner::Fifo(_) => "fifo",
            WriteInner::File(_) => "blocking pool",
        };
        f.debug_tuple("WritePipe").field(&how).finish()
    }
}

/// Forwards a call to whichever writer is inside.
macro_rules! dispatch_write {
    ($self:ident, $writer:ident => $call:expr) => {
        match &mut $self.get_mut().inner {
            #[cfg(unix)]
            WriteInner::Fifo($writer) => $call,
            WriteInner::File($writer) => $call,
        }
    };
}

impl AsyncWrite for WritePipe {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        dispatch_write!(self, w => Pin::new(w).poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        dispatch_write!(self, w => Pin::new(w).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        dispatch_write!(self, w => Pin::new(w).poll_shutdown(cx))
    }
}

#[cfg(unix)]
fn is_fifo(file: &File) -> io::Result<bool> {
    use std::os::unix::fs::FileTypeExt;
    Ok(file.metadata()?.file_type().is_fifo())
}

/// Reads a blocking source on a thread of its own and hands the bytes over
/// in chunks.
///
/// Unlike tokio's blocking pool, the thread is not waited for when the
/// runtime shuts down: a read that never returns (a parent that keeps the
/// pipe open and silent) cannot hang the process's exit. At most two chunks
/// wait for the reader, so memory stays bounded.
struct ThreadReader {
    chunks: mpsc::Receiver<io::Result<Bytes>>,
    pending: Bytes,
}

impl ThreadReader {
    const CHUNK: usize = 64 * 1024;

    fn spawn(mut source: File) -> io::Result<Self> {
        let (tx, rx) = mpsc::channel(1);
        std::thread::Builder::new()
            .name("tower-ipc pipe reader".to_owned())
            .spawn(move || {
                let mut buf = vec![0; Self::CHUNK];
                loop {
                    let chunk = match source.read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => Ok(Bytes::copy_from_slice(&buf[..n])),
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                        Err(err) => Err(err),
                    };
                    let failed = chunk.is_err();
                    // The receiver is gone when the stream was dropped.
                    if tx.blocking_send(chunk).is_err() || failed {
                        return;
                    }
                }
            })?;
        Ok(Self {
            chunks: rx,
            pending: Bytes::new(),
        })
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        while self.pending.is_empty() {
            match ready!(self.chunks.poll_recv(cx)) {
                Some(Ok(chunk)) => self.pending = chunk,
                Some(Err(err)) => return Poll::Ready(Err(err)),
                // The thread saw end-of-stream.
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = self.pending.len().min(buf.remaining());
        buf.put_slice(&self.pending[..n]);
        self.pending.advance(n);
        Poll::Ready(Ok(()))
    }
}
