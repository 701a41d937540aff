//! The task that owns a client's connection: it writes queued requests,
//! reads answers and hands each to its caller.

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, Waker},
};

use futures::{Sink, Stream};
use tower::BoxError;

use super::{Error, shared::Shared};

/// Writes requests in queue order and pairs answers with them by position.
///
/// At most `max_in_flight` requests are taken and unanswered; past that the
/// queue is not read, it fills, and callers wait in `poll_ready`. Requests
/// taken together are flushed together, and answers read together are
/// handed over under one lock.
pub(super) struct Dispatch<T, Req, Resp> {
    transport: Pin<Box<T>>,
    shared: Arc<Shared<Req, Resp>>,
    /// Taken from the queue and not yet written (the transport was not
    /// ready), with their answer slots.
    outgoing: VecDeque<(Req, usize)>,
    /// The answer slots of the requests written, in order.
    in_flight: VecDeque<usize>,
    /// Answers (and encoding failures) to hand over, by slot.
    answers: Vec<(usize, Result<Resp, Error>)>,
    /// Whom to wake once the lock is released.
    wake: Vec<Waker>,
    max_in_flight: usize,
    needs_flush: bool,
    /// Every `Client` handle is gone and the queue is empty: finish what is
    /// in flight, then stop.
    handles_gone: bool,
    /// Every call was failed or answered: the connection is done with.
    ended: bool,
}

impl<T, Req, Resp, E> Dispatch<T, Req, Resp>
where
    T: Stream<Item = Result<Resp, E>> + Sink<Req>,
    E: Into<BoxError>,
    T::Error: Into<BoxError>,
{
    pub(super) fn new(transport: T, shared: Arc<Shared<Req, Resp>>, max_in_flight: usize) -> Self {
        Self {
            transport: Box::pin(transport),
            shared,
            outgoing: VecDeque::new(),
            in_flight: VecDeque::new(),
            answers: Vec::new(),
            wake: Vec::new(),
            max_in_flight: max_in_flight.max(1),
            needs_flush: false,
            handles_gone: false,
            ended: false,
        }
    }

    fn poll_dispatch(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            let more = self.take_requests(cx);
            self.poll_send(cx)?;
            if self.needs_flush {
                match self.transport.as_mut().poll_flush(cx) {
                    Poll::Ready(Ok(())) => self.needs_flush = false,
                    Poll::Ready(Err(err)) => return Poll::Ready(Err(Error::transport(err.into()))),
                    Poll::Pending => {}
                }
            }
            let received = self.poll_receive(cx)?;
            // Whatever returned `Pending` above (the transport, and the
            // queue when it was found empty) wakes this task when it has
            // more; going round again only helps when answers made room
            // for requests the window kept queued. (Polling the transport
            // again at once costs a turn through its layers, for nothing.)
            if !(received && more) {
                break;
            }
        }
        let idle = self.in_flight.is_empty() && self.outgoing.is_empty() && !self.needs_flush;
        if self.handles_gone && idle {
            return self
                .transport
                .as_mut()
                .poll_close(cx)
                .map_err(|err| Error::transport(err.into()));
        }
        Poll::Pending
    }

    /// Takes as many queued requests as the in-flight window has room for;
    /// returns whether requests may be left for when answers make room
    /// (`false` when this task waits for the queue, or for nothing).
    fn take_requests(&mut self, cx: &Context<'_>) -> bool {
        if self.handles_gone {
            return false;
        }
        let room = self.max_in_flight - (self.in_flight.len() + self.outgoing.len());
        if room == 0 {
            return true;
        }
        let waits = self
            .shared
            .take(room, &mut self.outgoing, &mut self.wake, cx);
        self.handles_gone = waits && self.shared.handles_gone();
        self.wake.drain(..).for_each(Waker::wake);
        !waits && !self.handles_gone
    }

    fn poll_send(&mut self, cx: &mut Context<'_>) -> Result<(), Error> {
        while !self.outgoing.is_empty() {
            match self.transport.as_mut().poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(err)) => return Err(Error::transport(err.into())),
                Poll::Pending => break,
            }
            let Some((request, slot)) = self.outgoing.pop_front() else {
                break;
            };
            // `start_send` only encodes (it does no I/O), so its error
            // concerns this request alone.
            match self.transport.as_mut().start_send(request) {
                Ok(()) => {
                    self.in_flight.push_back(slot);
                    self.needs_flush = true;
                }
                Err(err) => self.answers.push((slot, Err(Error::encode(err.into())))),
            }
        }
        Ok(())
    }

    /// Reads the answers that have arrived and hands them over; fails when
    /// the connection does, after handing over those read before.
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Result<bool, Error> {
        let outcome = loop {
            match self.transport.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(response))) => match self.in_flight.pop_front() {
                    Some(slot) => self.answers.push((slot, Ok(response))),
                    None => break Err(Error::unexpected_response()),
                },
                Poll::Ready(Some(Err(err))) => break Err(Error::transport(err.into())),
                Poll::Ready(None) => break Err(Error::closed()),
                Poll::Pending => break Ok(()),
            }
        };
        let progress = !self.answers.is_empty();
        if progress {
            self.shared.answer(self.answers.drain(..), &mut self.wake);
            self.wake.drain(..).for_each(Waker::wake);
        }
        outcome.map(|()| progress)
    }
}

impl<T, Req, Resp> Dispatch<T, Req, Resp> {
    /// Fails every call in flight and every queued one with `err`; later
    /// calls fail too.
    fn fail_all(&mut self, err: &Error) {
        self.ended = true;
        let slots = self
            .in_flight
            .drain(..)
            .chain(self.outgoing.drain(..).map(|(_, slot)| slot));
        self.shared
            .close(err, self.answers.drain(..), slots, &mut self.wake);
        self.wake.drain(..).for_each(Waker::wake);
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
            Poll::Ready(Ok(())) => {
                this.ended = true;
                Poll::Ready(())
            }
            Poll::Ready(Err(err)) => {
                tracing::debug!(error = %err, in_flight = this.in_flight.len(), "client connection ended");
                this.fail_all(&err);
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A task dropped before its end (the runtime shut down) leaves no caller
/// waiting for ever.
impl<T, Req, Resp> Drop for Dispatch<T, Req, Resp> {
    fn drop(&mut self) {
        if !self.ended {
            self.fail_all(&Error::closed());
        }
    }
}

impl<T, Req, Resp> Unpin for Dispatch<T, Req, Resp> {}

#[cfg(test)]
mod tests {
    use std::{io, time::Duration};

    use tower::{Service, ServiceExt};

    use super::*;
    use crate::client::Client;

    /// A transport that answers nothing, fails to encode every request, and
    /// breaks once it has been handed one.
    struct Breaking {
        sent: bool,
    }

    impl Stream for Breaking {
        type Item = io::Result<u8>;
        fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Pending
        }
    }

    impl Sink<u8> for Breaking {
        type Error = io::Error;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(match self.sent {
                true => Err(io::Error::other("broken")),
                false => Ok(()),
            })
        }
        fn start_send(mut self: Pin<&mut Self>, _: u8) -> io::Result<()> {
            self.sent = true;
            Err(io::Error::other("too big"))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_call_after_an_abandoned_one_that_filled_the_window_is_sent() {
        use bytes::Bytes;
        use tokio_util::codec::Framed;

        use crate::{Server, codec::LengthPrefixed};

        let (ours, theirs) = tokio::io::duplex(1024);
        let echo = tower::service_fn(|frame: Bytes| async move { Ok::<_, io::Error>(frame) });
        tokio::spawn(Server::new().serve_connection(theirs, LengthPrefixed::new(), echo));
        let mut client = Client::builder()
            .max_in_flight(1)
            .build(Framed::new(ours, LengthPrefixed::new()));
        // Let the connection task wait for work.
        tokio::task::yield_now().await;
        // Queued and abandoned before the task runs: the task takes it,
        // the whole window, and skips it.
        drop(client.ready().await.unwrap().call(Bytes::from("gone")));
        tokio::task::yield_now().await;
        let answer = client.ready().await.unwrap().call(Bytes::from("hi"));
        let answer = tokio::time::timeout(Duration::from_secs(5), answer)
            .await
            .expect("answered")
            .unwrap();
        assert_eq!(answer, "hi");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_encoding_failure_keeps_its_error_when_the_connection_then_fails() {
        let mut client = Client::new(Breaking { sent: false });
        // Both are queued before the connection task first runs.
        let first = client.ready().await.unwrap().call(1);
        let second = client.ready().await.unwrap().call(2);
        let patience = Duration::from_secs(5);
        let first = tokio::time::timeout(patience, first)
            .await
            .expect("answered");
        let err = first.unwrap_err();
        assert!(err.is_encode(), "{err}");
        let err = tokio::time::timeout(patience, second)
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            err.is_closed() && err.to_string().contains("broken"),
            "{err}"
        );
    }
}
