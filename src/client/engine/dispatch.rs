//! The task that owns a client's connection: it writes queued messages,
//! reads what comes back and hands each answer to its caller; when the
//! connection is lost, it connects again on the next call, if it knows how.

use std::{
    collections::VecDeque,
    future::poll_fn,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, Waker},
};

use futures::{Sink, Stream};
use tower::BoxError;

use super::{Connect, Matching, Sendable, Shared};
use crate::client::Error;

/// Runs a client until every handle is gone: over `transport`, then over
/// the connections `reconnect` makes when one is lost.
pub(crate) async fn run<M, T, E>(
    shared: Arc<Shared<M>>,
    transport: T,
    mut reconnect: Option<Box<dyn Connect<T>>>,
    max_in_flight: usize,
) where
    M: Sendable,
    T: Sink<M::Out> + Stream<Item = Result<M::In, E>> + Send + 'static,
    E: Into<BoxError>,
    T::Error: Into<BoxError>,
{
    // However the task ends (dropped with its runtime too), no caller is
    // left waiting.
    let _closing = CloseOnDrop(&shared);
    let mut transport = Box::pin(transport);
    loop {
        let mut dispatch = Dispatch::new(transport, &shared, max_in_flight);
        let Err(err) = poll_fn(|cx| dispatch.poll(cx)).await else {
            return;
        };
        tracing::debug!(error = %err, "client connection ended");
        let closing = reconnect.is_none();
        shared.lose(&err, dispatch.unsent(), closing);
        // The connection is let go of now, not when a new one is made: the
        // peer (a supervised child) sees it close.
        drop(dispatch);
        let Some(connect) = reconnect.as_mut() else {
            return;
        };
        // Connect again when the next caller needs it.
        transport = loop {
            if !shared.work().await {
                return;
            }
            match connect.connect().await {
                Ok(transport) => break Box::pin(transport),
                Err(err) => shared.fail_first(&Error::transport(err.into())),
            }
        };
    }
}

struct CloseOnDrop<'a, M: Matching>(&'a Shared<M>);

impl<M: Matching> Drop for CloseOnDrop<'_, M> {
    fn drop(&mut self) {
        self.0.lose(&Error::closed(), std::iter::empty(), true);
    }
}

/// One connection, written and read from one task.
///
/// At most `max_in_flight` calls are taken and unanswered; past that the
/// queue is not read, it fills, and callers wait for a place. Messages
/// taken together are flushed together, and frames read together are
/// routed under one lock.
struct Dispatch<'a, T, M: Matching> {
    transport: Pin<Box<T>>,
    shared: &'a Shared<M>,
    max_in_flight: usize,
    /// Taken and not yet written (the transport was not ready).
    outgoing: VecDeque<(M::Out, Option<M::Written>)>,
    /// Written, waiting for the flush to be reported.
    written: Vec<M::Written>,
    /// Frames read, routed together.
    frames: Vec<M::In>,
    /// Whom to wake once the lock is released.
    wake: Vec<Waker>,
    needs_flush: bool,
    /// Every handle is gone and the queue is empty: finish what is in
    /// flight, then stop.
    handles_gone: bool,
}

impl<'a, T, M, E> Dispatch<'a, T, M>
where
    M: Matching,
    T: Sink<M::Out> + Stream<Item = Result<M::In, E>>,
    E: Into<BoxError>,
    T::Error: Into<BoxError>,
{
    fn new(transport: Pin<Box<T>>, shared: &'a Shared<M>, max_in_flight: usize) -> Self {
        Self {
            transport,
            shared,
            max_in_flight: max_in_flight.max(1),
            outgoing: VecDeque::new(),
            written: Vec::new(),
            frames: Vec::new(),
            wake: Vec::new(),
            needs_flush: false,
            handles_gone: false,
        }
    }

    /// Runs until every handle is gone and everything in flight is
    /// answered (`Ok`), or the connection fails.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_io(cx).map_err(|err| {
            // A write can fail on a connection the peer closed before the
            // frames it sent are read: route them, to learn why it closed.
            let _ = self.poll_receive(cx);
            self.shared.last_word().unwrap_or(err)
        })
    }

    fn poll_io(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            let more = self.take(cx);
            self.poll_send(cx)?;
            if self.needs_flush {
                match self.transport.as_mut().poll_flush(cx) {
                    Poll::Ready(Ok(())) => {
                        self.needs_flush = false;
                        if !self.written.is_empty() {
                            self.shared.flushed(self.written.drain(..), &mut self.wake);
                            self.wake.drain(..).for_each(Waker::wake);
                        }
                    }
                    Poll::Ready(Err(err)) => return Poll::Ready(Err(Error::transport(err.into()))),
                    Poll::Pending => {}
                }
            }
            let (received, replies) = self.poll_receive(cx)?;
            // Whatever returned `Pending` above (the transport, and the
            // queue when it was found empty) wakes this task when it has
            // more; going round again only helps when answers made room
            // for messages the window kept queued, or what was read asks
            // for replies. (Polling the transport again at once costs a
            // turn through its layers, for nothing.)
            if !(received && more || replies) {
                break;
            }
        }
        if self.handles_gone
            && self.outgoing.is_empty()
            && !self.needs_flush
            && self.shared.wanted_in_flight() == 0
        {
            return self
                .transport
                .as_mut()
                .poll_close(cx)
                .map_err(|err| Error::transport(err.into()));
        }
        Poll::Pending
    }

    /// Takes what the window has room for; returns whether messages may be
    /// left for when answers make room (`false` when this task waits for
    /// the queue).
    fn take(&mut self, cx: &Context<'_>) -> bool {
        if self.handles_gone {
            return false;
        }
        let waits = self
            .shared
            .take(self.max_in_flight, false, &mut self.outgoing, &mut self.wake, cx);
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
            let Some((out, written)) = self.outgoing.pop_front() else {
                break;
            };
            // `start_send` only encodes (it does no I/O), so its error
            // concerns this message alone.
            match self.transport.as_mut().start_send(out) {
                Ok(()) => {
                    self.needs_flush = true;
                    if let Some(written) = written
                        && M::waits_for_flush(&written)
                    {
                        self.written.push(written);
                    }
                }
                Err(err) => {
                    if let Some(written) = written {
                        let err = Error::encode(err.into());
                        self.shared.unwritten(written, err, &mut self.wake);
                        self.wake.drain(..).for_each(Waker::wake);
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads the frames that have arrived and routes them; returns whether
    /// any were, and whether replies wait to be written. Fails when the
    /// connection does, after routing those read before.
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Result<(bool, bool), Error> {
        let outcome = loop {
            match self.transport.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(frame))) => self.frames.push(frame),
                Poll::Ready(Some(Err(err))) => break Err(Error::transport(err.into())),
                Poll::Ready(None) => break Err(Error::closed()),
                Poll::Pending => break Ok(()),
            }
        };
        let progress = !self.frames.is_empty();
        let mut replies = false;
        if progress {
            let routed = self.shared.route(self.frames.drain(..), &mut self.wake);
            self.wake.drain(..).for_each(Waker::wake);
            replies = routed?;
        }
        outcome.map(|()| (progress, replies))
    }
}

impl<T, M: Matching> Dispatch<'_, T, M> {
    /// The messages taken and not written, and those written whose flush
    /// was not reported: their callers are told of the end.
    fn unsent(&mut self) -> impl Iterator<Item = M::Written> + '_ {
        self.written
            .drain(..)
            .chain(self.outgoing.drain(..).filter_map(|(_, written)| written))
    }
}
