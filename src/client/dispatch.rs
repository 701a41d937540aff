//! The task that owns a client's connection: it writes queued requests,
//! reads answers and hands each to its caller.

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use futures::{Sink, Stream};
use tokio::sync::{mpsc, oneshot};
use tower::BoxError;

use super::Error;

pub(super) type Reply<Resp> = oneshot::Sender<Result<Resp, Error>>;

/// A request on its way to the dispatcher, with where its answer goes.
pub(super) struct Envelope<Req, Resp> {
    pub(super) request: Req,
    pub(super) reply: Reply<Resp>,
}

/// Writes requests in queue order and pairs answers with them by position.
///
/// At most `max_in_flight` requests are unanswered; past that the queue is
/// not read, it fills, and callers wait in `poll_ready`. Requests taken
/// together are flushed together.
pub(super) struct Dispatch<T, Req, Resp> {
    transport: Pin<Box<T>>,
    requests: mpsc::Receiver<Envelope<Req, Resp>>,
    in_flight: VecDeque<Reply<Resp>>,
    max_in_flight: usize,
    needs_flush: bool,
    /// Every `Client` handle is gone: finish what is in flight, then stop.
    handles_gone: bool,
}

impl<T, Req, Resp, E> Dispatch<T, Req, Resp>
where
    T: Stream<Item = Result<Resp, E>> + Sink<Req>,
    E: Into<BoxError>,
    T::Error: Into<BoxError>,
{
    pub(super) fn new(
        transport: T,
        requests: mpsc::Receiver<Envelope<Req, Resp>>,
        max_in_flight: usize,
    ) -> Self {
        Self {
            transport: Box::pin(transport),
            requests,
            in_flight: VecDeque::new(),
            max_in_flight: max_in_flight.max(1),
            needs_flush: false,
            handles_gone: false,
        }
    }

    fn poll_dispatch(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            let sent = self.poll_send(cx)?;
            if self.needs_flush {
                match self.transport.as_mut().poll_flush(cx) {
                    Poll::Ready(Ok(())) => self.needs_flush = false,
                    Poll::Ready(Err(err)) => return Poll::Ready(Err(Error::transport(err.into()))),
                    Poll::Pending => {}
                }
            }
            let received = self.poll_receive(cx)?;
            if !sent && !received {
                break;
            }
        }
        if self.handles_gone && self.in_flight.is_empty() && !self.needs_flush {
            return self
                .transport
                .as_mut()
                .poll_close(cx)
                .map_err(|err| Error::transport(err.into()));
        }
        Poll::Pending
    }

    fn poll_send(&mut self, cx: &mut Context<'_>) -> Result<bool, Error> {
        let mut progress = false;
        while !self.handles_gone && self.in_flight.len() < self.max_in_flight {
            match self.transport.as_mut().poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(err)) => return Err(Error::transport(err.into())),
                Poll::Pending => break,
            }
            match self.requests.poll_recv(cx) {
                Poll::Ready(Some(Envelope { request, reply })) => {
                    progress = true;
                    if reply.is_closed() {
                        // The caller gave up before the request was sent.
                        continue;
                    }
                    // `start_send` only encodes (it does no I/O), so its error
                    // concerns this request alone.
                    match self.transport.as_mut().start_send(request) {
                        Ok(()) => {
                            self.in_flight.push_back(reply);
                            self.needs_flush = true;
                        }
                        Err(err) => {
                            let _ = reply.send(Err(Error::encode(err.into())));
                        }
                    }
                }
                Poll::Ready(None) => {
                    self.handles_gone = true;
                    progress = true;
                }
                Poll::Pending => break,
            }
        }
        Ok(progress)
    }

    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Result<bool, Error> {
        let mut progress = false;
        loop {
            match self.transport.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(response))) => match self.in_flight.pop_front() {
                    // The caller may have given up; the answer is dropped.
                    Some(reply) => {
                        let _ = reply.send(Ok(response));
                        progress = true;
                    }
                    None => return Err(Error::unexpected_response()),
                },
                Poll::Ready(Some(Err(err))) => return Err(Error::transport(err.into())),
                Poll::Ready(None) => return Err(Error::closed()),
                Poll::Pending => return Ok(progress),
            }
        }
    }

    /// Fails every call in flight and every queued one with `err`.
    fn fail_all(&mut self, err: &Error) {
        for reply in self.in_flight.drain(..) {
            let _ = reply.send(Err(err.clone()));
        }
        self.requests.close();
        while let Ok(Envelope { reply, .. }) = self.requests.try_recv() {
            let _ = reply.send(Err(err.clone()));
        }
    }
}

impl<T, Req, Resp, E> Future for Dispatch<T, Req, Resp>
where
    T: Stream<Item = Result<Resp, E>> + Sink<Req>,
    E: Into<BoxError>,
    T::Error: Into<BoxError>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        match this.poll_dispatch(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(()),
            Poll::Ready(Err(err)) => {
                tracing::debug!(error = %err, in_flight = this.in_flight.len(), "client connection ended");
                this.fail_all(&err);
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T, Req, Resp> Unpin for Dispatch<T, Req, Resp> {}
