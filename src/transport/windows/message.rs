//! A message-mode pipe as a byte stream of length-prefixed frames.

use std::{
    fmt,
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use bytes::{Buf, Bytes};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::mpsc,
    task::JoinHandle,
};

use crate::sys::windows::{Message, MessagePipe};

/// The length field in front of each message on the stream.
const HEADER: usize = 4;

/// A connection over a message-type pipe, which the server created with
/// `PIPE_TYPE_MESSAGE` and this side reads in message mode.
///
/// Its bytes are the messages as frames of the length-prefixed format (a
/// 4-byte big-endian length, then the message), so that codecs keep what
/// the pipe knows: where each message ends. Reading yields every message
/// the peer writes, whole, after its length; writing sends each whole
/// frame given as one message. Messages are read on a thread of this
/// stream's own, one at a time (a message read waits to be taken before the
/// next is read), and written on tokio's blocking pool, one at a time.
pub(crate) struct MessageStream {
    pipe: Arc<MessagePipe>,
    max_len: usize,
    messages: mpsc::Receiver<io::Result<Vec<u8>>>,
    /// The length field of the message being read out, and how much of it
    /// was.
    header: [u8; HEADER],
    header_read: usize,
    /// What remains of the message being read out.
    body: Bytes,
    /// The frame being written: its length field, then as much of the
    /// message as was given so far.
    frame: Vec<u8>,
    /// The message being sent.
    sending: Option<JoinHandle<io::Result<()>>>,
}

impl MessageStream {
    /// Starts reading `pipe` on a thread; messages longer than `max_len`
    /// bytes are refused either way.
    pub(crate) fn new(pipe: Arc<MessagePipe>, max_len: usize) -> Self {
        let (tx, messages) = mpsc::channel(1);
        let reader = Arc::clone(&pipe);
        let spawned = std::thread::Builder::new()
            .name("tower-ipc message pipe reader".to_owned())
            .spawn(move || read_messages(&reader, max_len, &tx));
        if let Err(err) = spawned {
            // No reader: the stream reads this error, then its end.
            let (tx, rx) = mpsc::channel(1);
            let _ = tx.try_send(Err(err));
            return Self::with_messages(pipe, max_len, rx);
        }
        Self::with_messages(pipe, max_len, messages)
    }

    fn with_messages(
        pipe: Arc<MessagePipe>,
        max_len: usize,
        messages: mpsc::Receiver<io::Result<Vec<u8>>>,
    ) -> Self {
        Self {
            pipe,
            max_len,
            messages,
            header: [0; HEADER],
            header_read: HEADER,
            body: Bytes::new(),
            frame: Vec::new(),
            sending: None,
        }
    }

    /// Waits for the message being sent, if any.
    fn poll_sent(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(sending) = &mut self.sending {
            let sent = ready!(Pin::new(sending).poll(cx));
            self.sending = None;
            sent.map_err(io::Error::other)??;
        }
        Poll::Ready(Ok(()))
    }

    /// The length the frame being written declares, once its field is whole.
    fn declared_len(&self) -> Option<usize> {
        let field: [u8; HEADER] = self.frame.get(..HEADER)?.try_into().ok()?;
        Some(u32::from_be_bytes(field) as usize)
    }
}

/// The reader thread: reads messages until the pipe ends, fails, or the
/// stream is dropped.
fn read_messages(pipe: &MessagePipe, max_len: usize, tx: &mpsc::Sender<io::Result<Vec<u8>>>) {
    loop {
        let message = match pipe.read_message(max_len) {
            Ok(Message::Data(message)) => Ok(message),
            Ok(Message::TooLong(size)) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "a message of {size} bytes arrived, longer than this pipe's maximum \
                     message length of {max_len} bytes"
                ),
            )),
            Ok(Message::End) => return,
            Err(err) => Err(err),
        };
        let failed = message.is_err();
        if tx.blocking_send(message).is_err() || failed {
            return;
        }
    }
}

impl AsyncRead for MessageStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.header_read == HEADER && this.body.is_empty() {
            match ready!(this.messages.poll_recv(cx)) {
                Some(Ok(message)) => {
                    // A message is at most u32::MAX bytes: ReadFile counts in u32.
                    this.header = (message.len() as u32).to_be_bytes();
                    this.header_read = 0;
                    this.body = Bytes::from(message);
                }
                Some(Err(err)) => return Poll::Ready(Err(err)),
                // The peer closed the pipe.
                None => return Poll::Ready(Ok(())),
            }
        }
        let header = &this.header[this.header_read..];
        let n = header.len().min(buf.remaining());
        buf.put_slice(&header[..n]);
        this.header_read += n;
        let n = this.body.len().min(buf.remaining());
        buf.put_slice(&this.body[..n]);
        this.body.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for MessageStream {
    /// Takes bytes of the frame being written; once it is whole, sends its
    /// message, and takes no more until that is sent.
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_sent(cx))?;
        let mut taken = 0;
        if this.frame.len() < HEADER {
            taken = (HEADER - this.frame.len()).min(buf.len());
            this.frame.extend_from_slice(&buf[..taken]);
        }
        let Some(len) = this.declared_len() else {
            return Poll::Ready(Ok(taken));
        };
        if len > this.max_len {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a frame of {len} bytes cannot be sent as one message: this pipe's \
                     maximum message length, what its peer reads at once, is {} bytes",
                    this.max_len
                ),
            )));
        }
        let missing = HEADER + len - this.frame.len();
        let more = missing.min(buf.len() - taken);
        this.frame.extend_from_slice(&buf[taken..taken + more]);
        taken += more;
        if this.frame.len() == HEADER + len {
            let frame = std::mem::take(&mut this.frame);
            let pipe = Arc::clone(&this.pipe);
            this.sending = Some(tokio::task::spawn_blocking(move || {
                pipe.write_message(&frame[HEADER..])
            }));
        }
        Poll::Ready(Ok(taken))
    }

    /// Waits until every whole frame written is sent. Part of a frame, given
    /// without the rest, waits for the rest.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_sent(cx)
    }

    /// Flushes. Pipes have no half-close: the peer learns the end when the
    /// stream is dropped.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl Drop for MessageStream {
    /// Ends the reader thread's read and a send in flight; the pipe closes
    /// when both have let go of it.
    fn drop(&mut self) {
        self.pipe.close();
    }
}

impl fmt::Debug for MessageStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageStream")
            .field("pipe", &self.pipe)
            .field("max_len", &self.max_len)
            .finish_non_exhaustive()
    }
}
