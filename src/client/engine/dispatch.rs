//! The task that owns a client's connection: it writes queued messages,
//! reads what comes back and hands each answer to its caller; when the
//! connection is lost, it connects again on the next call, if it knows how.

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, Waker, ready},
};

use futures::{Sink, Stream, future::BoxFuture};
use tower::BoxError;

use super::{Connect, Matching, Sendable, Shared};
use crate::client::Error;

/// Runs a client until every handle is gone: over its first transport, then
/// over the connections its [`Connect`] makes when one is lost. The task's
/// future: a connection is polled directly, without a layer of `async fn`
/// around it.
pub(crate) struct Driver<T, M: Matching> {
    shared: Arc<Shared<M>>,
    max_in_flight: usize,
    connection: Option<Dispatch<T, M>>,
    connect: Option<Box<dyn Connect<T>>>,
    /// Waiting for a call to connect again for, then connecting.
    reconnecting: Option<BoxFuture<'static, Reconnected<T>>>,
}

type Reconnected<T> = (Option<T>, Box<dyn Connect<T>>);

impl<T, M: Matching> Driver<T, M> {
    pub(crate) fn new(
        shared: Arc<Shared<M>>,
        transport: T,
        connect: Option<Box<dyn Connect<T>>>,
        max_in_flight: usize,
    ) -> Self {
        let connection = Dispatch::new(Box::pin(transport), Arc::clone(&shared), max_in_flight);
        Self {
            shared,
            max_in_flight,
            connection: Some(connection),
            connect,
            reconnecting: None,
        }
    }
}

/// Waits until a caller needs a connection, then makes one; a failure fails
/// that caller, and the next one tries again. `None` when every handle is
/// gone first.
async fn reconnect<T: 'static, M: Sendable>(
    shared: Arc<Shared<M>>,
    mut connect: Box<dyn Connect<T>>,
) -> Reconnected<T> {
    loop {
        if !shared.work().await {
            return (None, connect);
        }
        match connect.connect().await {
            Ok(transport) => return (Some(transport), connect),
            Err(err) => shared.fail_first(&Error::transport(err.into())),
        }
    }
}

impl<T, M, E> Future for Driver<T, M>
where
    M: Sendable,
    T: Sink<M::Out> + Stream<Item = Result<M::In, E>> + Send + 'static,
    E: Into<BoxError>,
    T::Error: Into<BoxError>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            if let Some(reconnecting) = this.reconnecting.as_mut() {
                let (transport, connect) = ready!(reconnecting.as_mut().poll(cx));
                this.reconnecting = None;
                this.connect = Some(connect);
                let Some(transport) = transport else {
                    return Poll::Ready(());
                };
                let shared = Arc::clone(&this.shared);
                let connection = Dispatch::new(Box::pin(transport), shared, this.max_in_flight);
                this.connection = Some(connection);
            }
            let Some(connection) = this.connection.as_mut() else {
                return Poll::Ready(());
            };
            let err = match ready!(connection.poll(cx)) {
                Ok(()) => {
                    this.connection = None;
                    return Poll::Ready(());
                }
                Err(err) => err,
            };
            tracing::debug!(error = %err, "client connection ended");
            let closing = this.connect.is_none();
            this.shared.lose(&err, connection.unsent(), closing);
            // The connection is let go of now, not when a new one is made:
            // the peer (a supervised child) sees it close.
            this.connection = None;
            match this.connect.take() {
                Some(connect) => {
                    let shared = Arc::clone(&this.shared);
                    this.reconnecting = Some(Box::pin(reconnect(shared, connect)));
                }
                None => return Poll::Ready(()),
            }
        }
    }
}

/// However the task ends (dropped with its runtime too), no caller is left
/// waiting.
impl<T, M: Matching> Drop for Driver<T, M> {
    fn drop(&mut self) {
        self.shared.lose(&Error::closed(), std::iter::empty(), true);
    }
}

impl<T, M: Matching> Unpin for Driver<T, M> {}

/// One connection, written and read from one task.
///
/// At most `max_in_flight` calls are taken and unanswered; past that the
/// queue is not read, it fills, and callers wait for a place. Messages
/// taken together are flushed together, and frames read together are
/// routed under one lock.
struct Dispatch<T, M: Matching> {
    transport: Pin<Box<T>>,
    shared: Arc<Shared<M>>,
    max_in_flight: usize,
    /// Taken and not yet written (the transport was not ready).
    outgoing: VecDeque<M::Queued>,
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

impl<T, M, E> Dispatch<T, M>
where
    M: Matching,
    T: Sink<M::Out> + Stream<Item = Result<M::In, E>>,
    E: Into<BoxError>,
    T::Error: Into<BoxError>,
{
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
        let waits = self.shared.take(
            self.max_in_flight,
            false,
            &mut self.outgoing,
            &mut self.wake,
            cx,
        );
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
            let Some(queued) = self.outgoing.pop_front() else {
                break;
            };
            let (out, written) = M::split(queued);
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

impl<T, M: Matching> Dispatch<T, M> {
    fn new(transport: Pin<Box<T>>, shared: Arc<Shared<M>>, max_in_flight: usize) -> Self {
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

    /// The messages taken and not written, and those written whose flush
    /// was not reported: their callers are told of the end.
    fn unsent(&mut self) -> impl Iterator<Item = M::Written> + '_ {
        self.written.drain(..).chain(
            self.outgoing
                .drain(..)
                .filter_map(|queued| M::split(queued).1),
        )
    }
}
