//! A WebSocket as the byte stream the JSON-RPC connection engine reads and
//! writes, each message a `Content-Length` block (see [`MessageIo`]).

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::{Buf, Bytes, BytesMut};
use futures::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{
        Error as WsError, Message, Utf8Bytes,
        error::CapacityError,
        protocol::{CloseFrame, frame::coding::CloseCode},
    },
};

/// `Content-Length: ` and `\r\n\r\n`, around the length of each message.
const PREFIX: &[u8] = b"Content-Length: ";
const END: &[u8] = b"\r\n\r\n";
/// The longest header: 20 digits hold any `u64`.
const MAX_HEADER: usize = PREFIX.len() + 20 + END.len();

/// Outgoing bytes held while the socket takes no more messages: past this,
/// writes wait, so a peer that stops reading holds back the answers.
const MAX_PENDING: usize = 64 * 1024;

/// Presents a WebSocket as a byte stream to the JSON-RPC connection engine,
/// which then serves it as it serves IPC: every incoming text or binary
/// message is read as a `Content-Length` header and the message's bytes (the
/// framing of [`JsonRpc::per_message`](crate::jsonrpc::JsonRpc)), and every
/// `Content-Length` block written is sent as one text message. Message
/// boundaries survive both ways whatever the messages hold: a truncated or
/// malformed message gets its error answer and never runs into the next.
///
/// Ping, pong and close frames are tungstenite's: pings are answered, a
/// close is answered and ends the input. A message over the size limit
/// (tungstenite refuses it, and cannot skip it) is read as a header that
/// announces its size, so the engine answers it with the same
/// invalid-request error as on IPC; then the input ends and the socket is
/// closed with code 1009 (message too big).
pub(crate) struct MessageIo<T> {
    ws: WebSocketStream<T>,
    /// What is left to read of the message being handed out: its header,
    /// then its bytes.
    header: [u8; MAX_HEADER],
    header_at: usize,
    header_len: usize,
    body: Bytes,
    /// The input ended (a close, an error, or an oversized message).
    read_done: bool,
    /// Bytes written, not yet sent as messages.
    out: BytesMut,
    /// The close frame to send when the engine shuts the stream down.
    close: Option<CloseFrame>,
    closed: bool,
}

impl<T> MessageIo<T> {
    pub(crate) fn new(ws: WebSocketStream<T>) -> Self {
        Self {
            ws,
            header: [0; MAX_HEADER],
            header_at: 0,
            header_len: 0,
            body: Bytes::new(),
            read_done: false,
            out: BytesMut::new(),
            close: None,
            closed: false,
        }
    }

    /// Hands out `len` as a header, then `body`.
    fn start_message(&mut self, len: usize, body: Bytes) {
        let digits = len.to_string();
        let parts = [PREFIX, digits.as_bytes(), END];
        let mut at = 0;
        for part in parts {
            self.header[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        self.header_at = 0;
        self.header_len = at;
        self.body = body;
    }

    /// Copies what is left of the current message into `buf`; whether
    /// anything was.
    fn copy_out(&mut self, buf: &mut ReadBuf<'_>) -> bool {
        let start = buf.filled().len();
        if self.header_at < self.header_len {
            let n = buf.remaining().min(self.header_len - self.header_at);
            buf.put_slice(&self.header[self.header_at..self.header_at + n]);
            self.header_at += n;
        }
        if self.header_at == self.header_len && !self.body.is_empty() {
            let n = buf.remaining().min(self.body.len());
            buf.put_slice(&self.body[..n]);
            self.body.advance(n);
        }
        buf.filled().len() > start
    }
}

/// Where the first complete `Content-Length` block of `out` has its body,
/// and how long it is; `None` while the block is incomplete.
fn complete(out: &[u8]) -> io::Result<Option<(usize, usize)>> {
    let Some(end) = out
        .windows(END.len())
        .take(MAX_HEADER)
        .position(|window| window == END)
    else {
        if out.len() >= MAX_HEADER {
            return Err(bad_header(out));
        }
        return Ok(None);
    };
    let len = out[..end]
        .strip_prefix(PREFIX)
        .and_then(|digits| std::str::from_utf8(digits).ok())
        .and_then(|digits| digits.parse::<usize>().ok())
        .ok_or_else(|| bad_header(out))?;
    let start = end + END.len();
    Ok((out.len() >= start + len).then_some((start, len)))
}

/// The engine wrote something else than a `Content-Length` block: a bug.
fn bad_header(out: &[u8]) -> io::Error {
    io::Error::other(format!(
        "WebSocket: an answer came without its Content-Length header: {:?}",
        String::from_utf8_lossy(&out[..out.len().min(MAX_HEADER)])
    ))
}

fn ws_error(err: WsError) -> io::Error {
    match err {
        WsError::Io(err) => err,
        WsError::ConnectionClosed | WsError::AlreadyClosed => io::Error::new(
            io::ErrorKind::BrokenPipe,
            "WebSocket: the connection is closed",
        ),
        other => io::Error::other(format!("WebSocket: {other}")),
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> MessageIo<T> {
    /// Sends every complete message written so far; pending while the
    /// socket takes no more.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            // Only a complete block is taken, and only once the socket has
            // room for it.
            if let Some((start, len)) = complete(&self.out)? {
                ready!(Pin::new(&mut self.ws).poll_ready(cx)).map_err(ws_error)?;
                self.out.advance(start);
                let body = self.out.split_to(len).freeze();
                // Serialized JSON is UTF-8; anything else goes as it is.
                let message = match Utf8Bytes::try_from(body.clone()) {
                    Ok(text) => Message::Text(text),
                    Err(_) => Message::Binary(body),
                };
                Pin::new(&mut self.ws)
                    .start_send(message)
                    .map_err(ws_error)?;
                continue;
            }
            return Poll::Ready(Ok(()));
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for MessageIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.copy_out(buf) || this.read_done {
                return Poll::Ready(Ok(()));
            }
            let message = match ready!(Pin::new(&mut this.ws).poll_next(cx)) {
                Some(Ok(message)) => message,
                None => {
                    this.read_done = true;
                    continue;
                }
                Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size }))) => {
                    // Announce the message, so the engine answers it, and
                    // end: tungstenite cannot read past it.
                    this.start_message(size, Bytes::new());
                    this.read_done = true;
                    this.close = Some(CloseFrame {
                        code: CloseCode::Size,
                        reason: format!("message of {size} bytes exceeds the limit of {max_size}")
                            .into(),
                    });
                    continue;
                }
                Some(Err(err)) => {
                    this.read_done = true;
                    return Poll::Ready(Err(ws_error(err)));
                }
            };
            match message {
                Message::Text(text) => {
                    let body = Bytes::from(text);
                    this.start_message(body.len(), body);
                }
                Message::Binary(body) => this.start_message(body.len(), body),
                // tungstenite answers pings and a close itself.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                Message::Close(_) => this.read_done = true,
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for MessageIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.out.len() >= MAX_PENDING {
            ready!(this.poll_send(cx))?;
        }
        this.out.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.ws).poll_flush(cx).map_err(ws_error)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        if !this.closed {
            ready!(Pin::new(&mut this.ws).poll_ready(cx)).map_err(ws_error)?;
            let frame = this.close.take().unwrap_or(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            });
            this.closed = true;
            match Pin::new(&mut this.ws).start_send(Message::Close(Some(frame))) {
                // The peer closed first; its close was answered.
                Ok(()) | Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {}
                Err(WsError::Protocol(_)) => {}
                Err(err) => return Poll::Ready(Err(ws_error(err))),
            }
        }
        match ready!(Pin::new(&mut this.ws).poll_flush(cx)) {
            Ok(()) | Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => Poll::Ready(Ok(())),
            Err(err) => Poll::Ready(Err(ws_error(err))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_found_whole_only() {
        let two = b"Content-Length: 2\r\n\r\n{}Content-Length: 3\r\n\r\n[1";
        assert_eq!(complete(two).unwrap(), Some((21, 2)));
        assert_eq!(complete(&two[23..]).unwrap(), None);
        assert_eq!(
            complete(b"Content-Length: 3\r\n\r\n[1]").unwrap(),
            Some((21, 3))
        );
        assert_eq!(complete(b"Content-Len").unwrap(), None);
    }

    #[test]
    fn text_without_a_header_is_an_error() {
        let out = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x1\"}\n";
        let err = complete(out).unwrap_err();
        assert!(err.to_string().contains("Content-Length"), "{err}");
    }
}
