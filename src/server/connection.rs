//! The per-connection dispatcher: read a frame, call the service, write the
//! answer, with many requests in flight.

use std::{
    collections::VecDeque,
    future::Future,
    marker::PhantomData,
    pin::Pin,
    sync::{Arc, atomic::Ordering},
    task::{Context, Poll, ready},
    time::Duration,
};

use bytes::BytesMut;
use futures::{
    Sink, Stream,
    stream::{FuturesOrdered, FuturesUnordered},
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    time::{Instant, Sleep},
};
use tokio_util::{
    codec::{Decoder, Encoder, Framed},
    sync::CancellationToken,
};
use tower::{BoxError, Service};

use super::{
    CloseReason, Connecting,
    buffer::{FLUSH_AT, Metered, ReadRoom, trim_write},
    cancel_flag::CancelFlag,
    dispatch::Dispatch,
    summary::Stats,
};

/// The requests of a connection that are read but not yet answered.
pub(crate) trait InFlight<F: Future>: Stream<Item = F::Output> + Unpin {
    /// Whether answers leave in request order. The peer then pairs answers
    /// with requests by position, so nothing after an unanswerable request
    /// may be sent, and requests the shutdown deadline cuts short are
    /// dropped. Unordered (tagged) requests are instead [given
    /// up](GiveUp) once the connection's abort signal fires: each caller is
    /// answered at once.
    const ORDERED: bool;

    fn empty() -> Self;
    fn push(&mut self, future: F);
    fn count(&self) -> usize;
    /// At the shutdown deadline: the requests whose callers are to be told
    /// they were given up. Every one for unordered (tagged) requests; none
    /// for ordered ones, which are dropped (their connection closes).
    fn into_given_up(self) -> impl Iterator<Item = F>;
}

/// A request's future that the shutdown deadline can cut short.
pub(crate) trait GiveUp: Future {
    /// The deadline passed with this request in flight: the answer that
    /// tells its caller so, for a protocol whose answers carry their
    /// request's id. `None` to go on polling it, for a future that ends
    /// promptly on its own once the deadline has passed (or one of an
    /// ordered protocol, whose requests in flight are dropped instead).
    fn give_up(self: Pin<&mut Self>) -> Option<Self::Output>;
}

/// Answers in request order: pipelining for untagged protocols.
impl<F: Future> InFlight<F> for FuturesOrdered<F> {
    const ORDERED: bool = true;

    fn empty() -> Self {
        Self::new()
    }

    fn push(&mut self, future: F) {
        self.push_back(future);
    }

    fn count(&self) -> usize {
        self.len()
    }

    fn into_given_up(self) -> impl Iterator<Item = F> {
        std::iter::empty()
    }
}

/// Answers as they complete: for protocols whose answers carry the id of
/// their request.
impl<F: Future + Unpin> InFlight<F> for FuturesUnordered<F> {
    const ORDERED: bool = false;

    fn empty() -> Self {
        Self::new()
    }

    fn push(&mut self, future: F) {
        FuturesUnordered::push(self, future);
    }

    fn count(&self) -> usize {
        self.len()
    }

    fn into_given_up(self) -> impl Iterator<Item = F> {
        self.into_iter()
    }
}

/// A request's future in a heap box that outlives it: when the future is
/// done, the box comes back with its answer and carries the next request's
/// future. With [`Connection`]'s free list, serving allocates nothing per
/// request for the box once the connection has warmed up.
pub(crate) struct ReusedBox<F> {
    boxed: Option<Pin<Box<Option<F>>>>,
}

impl<F: Future> Future for ReusedBox<F> {
    type Output = (F::Output, Pin<Box<Option<F>>>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let boxed = self
            .boxed
            .as_mut()
            .expect("ReusedBox polled after completion");
        let future = boxed
            .as_mut()
            .as_pin_mut()
            .expect("a box in flight holds a future");
        let answer = ready!(future.poll(cx));
        let mut boxed = self.boxed.take().expect("checked above");
        boxed.set(None);
        Poll::Ready((answer, boxed))
    }
}

impl<F> Unpin for ReusedBox<F> {}

impl<F: GiveUp> ReusedBox<F> {
    /// The answer its future gives when given up, and the emptied box.
    fn give_up(&mut self) -> Option<<Self as Future>::Output> {
        let boxed = self.boxed.as_mut()?;
        let answer = boxed.as_mut().as_pin_mut()?.give_up()?;
        let mut boxed = self.boxed.take()?;
        boxed.set(None);
        Some((answer, boxed))
    }
}

/// Serves one connection: at most `max_in_flight` requests are between the
/// decoder and the encoder at once, answered in the order `Q` keeps; messages
/// the server sends of its own accord (subscription items) come from `push`.
///
/// Readiness is respected at both ends: the next frame is read only while
/// fewer than `max_in_flight` requests are unanswered, a request read waits
/// (and reading stops) until the service is ready for it, and finished
/// answers are taken only when the transport accepts them. A peer that stops
/// reading thus stops its own requests from being read, and memory stays
/// bounded. Answers ready together are flushed together.
pub(crate) struct Connection<T, C, S, Req, Q, P = Never<<S as Service<Req>>::Response>>
where
    S: Service<Req>,
{
    framed: Framed<Metered<T>, C>,
    /// How much the next read may take.
    read_room: ReadRoom,
    service: S,
    in_flight: Q,
    /// Answers that were ready as soon as their request was read (the
    /// common case for a fast service), waiting for the write buffer; in
    /// request order ahead of everything in `in_flight`.
    done: VecDeque<Result<S::Response, S::Error>>,
    /// Slots of finished requests, ready for the next ones.
    free: Vec<Pin<Box<Option<S::Future>>>>,
    push: Option<P>,
    /// `push` was found empty in this wake-up: it holds the task's waker
    /// and wakes it for the next message, so asking again before the next
    /// wake-up (after every answer written) would only find it empty again.
    push_pending: bool,
    limits: Limits,
    /// A request read while the service was not ready: it waits for the
    /// service, and reading stops meanwhile.
    waiting: Option<Req>,
    /// Why reading stopped; `None` while frames are still being read.
    read_closed: Option<CloseReason>,
    /// The transport had nothing more to read in this wake-up: it holds the
    /// task's waker and wakes it when bytes arrive, so reading again before
    /// then (after every answer written) would only find nothing again.
    read_pending: bool,
    /// A fatal write-side failure: stop at once.
    write_failed: Option<CloseReason>,
    needs_flush: bool,
    shutdown: CancelFlag,
    abort: CancelFlag,
    aborted: bool,
    /// Fires at the idle or write deadline, whichever is armed.
    timer: Pin<Box<Sleep>>,
    /// When a frame was last read or an answer written (idle timeout only).
    last_activity: Instant,
    /// Since when the peer has taken none of our bytes (write timeout only).
    stalled_since: Option<Instant>,
    stats: Arc<Stats>,
    /// Answers written since the last wake-up, added to `stats` at its end
    /// (one atomic add per wake-up rather than per answer).
    completed: u64,
    /// What the protocol does with frames read past the cap, if it reads
    /// past it at all.
    at_cap: Option<Box<dyn AtCap<Req, S::Response>>>,
    _request: PhantomData<fn(Req)>,
}

/// What a protocol does with the frames a connection reads while it starts
/// no request (at its in-flight cap, or with its service not ready): a
/// JSON-RPC server whose handlers wait for its peer's answers must read them.
pub(crate) trait AtCap<Req, Resp>: Send {
    /// Whether to read past the cap now.
    fn read_past(&self) -> bool;
    /// Handles a frame at once, without the service: the answer to write,
    /// if any.
    fn answer(&mut self, frame: Req) -> Option<Resp>;
}

/// The limits a connection runs with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) max_in_flight: usize,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) write_timeout: Option<Duration>,
}

/// What stops a connection: `shutdown` stops reading and lets the requests
/// in flight finish; `abort` (the deadline) gives up on them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Signals {
    pub(crate) shutdown: CancellationToken,
    pub(crate) abort: CancellationToken,
}

/// No messages of the server's own accord.
pub(crate) type Never<T> = futures::stream::Pending<T>;

impl<T, C, S, Req, Q, P> Connection<T, C, S, Req, Q, P>
where
    T: AsyncRead + AsyncWrite + Unpin,
    C: Decoder<Item = Req> + Encoder<S::Response>,
    <C as Decoder>::Error: Into<BoxError>,
    <C as Encoder<S::Response>>::Error: Into<BoxError>,
    S: Service<Req>,
    S::Future: GiveUp,
    S::Error: Into<BoxError>,
    Q: InFlight<ReusedBox<S::Future>>,
    P: Stream<Item = S::Response> + Unpin,
{
    /// The engine for the connection `dispatch` describes; see
    /// [`Dispatch::in_request_order`] and [`Dispatch::in_completion_order`].
    pub(super) fn new(dispatch: Dispatch<T, C, S, Req, P>) -> Self {
        let Dispatch {
            io,
            codec,
            service,
            connecting:
                Connecting {
                    limits,
                    signals,
                    stats,
                    ..
                },
            push,
            at_cap,
        } = dispatch;
        let now = Instant::now();
        // The buffers are sized by the traffic (see `buffer`): they start
        // empty.
        let mut framed = Framed::with_capacity(Metered::new(io), codec, 0);
        *framed.write_buffer_mut() = BytesMut::new();
        framed.set_backpressure_boundary(FLUSH_AT);
        Self {
            framed,
            read_room: ReadRoom::new(),
            service,
            in_flight: Q::empty(),
            done: VecDeque::new(),
            free: Vec::new(),
            push,
            push_pending: false,
            limits: Limits {
                max_in_flight: limits.max_in_flight.max(1),
                ..limits
            },
            waiting: None,
            read_closed: None,
            read_pending: false,
            write_failed: None,
            needs_flush: false,
            shutdown: CancelFlag::new(&signals.shutdown),
            abort: CancelFlag::new(&signals.abort),
            aborted: false,
            timer: Box::pin(tokio::time::sleep_until(
                now + limits.idle_timeout.unwrap_or(Duration::ZERO),
            )),
            last_activity: now,
            stalled_since: None,
            stats,
            completed: 0,
            at_cap,
            _request: PhantomData,
        }
    }

    fn poll_dispatch(&mut self, cx: &mut Context<'_>) -> Poll<CloseReason> {
        self.push_pending = false;
        self.read_pending = false;
        if self.read_closed.is_none() {
            let filled = self.framed.get_mut().take_filled();
            self.read_room
                .prepare(filled, self.framed.read_buffer_mut());
        }
        if !self.aborted && self.abort.poll_cancelled(cx) {
            self.abort_in_flight();
        }
        if self.read_closed.is_none() && self.shutdown.poll_cancelled(cx) {
            self.read_closed = Some(CloseReason::Shutdown);
        }
        loop {
            let read = self.poll_read(cx);
            let written = self.poll_write(cx);
            if let Some(reason) = self.write_failed.take() {
                return Poll::Ready(reason);
            }
            if !read && !written {
                break;
            }
            if self.limits.idle_timeout.is_some() {
                self.last_activity = Instant::now();
            }
        }
        if self.needs_flush {
            let buffered = self.framed.write_buffer().len();
            match Pin::new(&mut self.framed).poll_flush(cx) {
                Poll::Ready(Ok(())) => {
                    self.needs_flush = false;
                    self.stalled_since = None;
                    trim_write(self.framed.write_buffer_mut());
                }
                Poll::Ready(Err(err)) => return Poll::Ready(CloseReason::io(err)),
                Poll::Pending => {
                    let moved = self.framed.write_buffer().len() < buffered;
                    return self.poll_stalled(cx, moved);
                }
            }
        }
        if self.read_closed.is_some() && self.unanswered() == 0 {
            // Every answer is written: end the stream so the peer sees EOF.
            if let Err(err) = ready!(Pin::new(self.framed.get_mut()).poll_shutdown(cx)) {
                tracing::trace!(error = %err, "shutdown of the write side failed");
            }
            return Poll::Ready(self.read_closed.take().expect("checked above"));
        }
        self.poll_idle(cx)
    }

    /// The deadline passed: requests in flight are given up. Answers written
    /// from now on tell callers so; they do not count as completed.
    fn abort_in_flight(&mut self) {
        self.aborted = true;
        // A request still waiting for the service is dropped with the rest.
        let waiting = self.waiting.take().is_some();
        let cancelled = self.in_flight.count() as u64 + u64::from(waiting);
        self.stats.cancelled.fetch_add(cancelled, Ordering::Relaxed);
        // Answers already finished are still written, and count as such.
        let finished = self.done.len() as u64;
        self.stats.completed.fetch_add(finished, Ordering::Relaxed);
        let in_flight = std::mem::replace(&mut self.in_flight, Q::empty());
        for mut boxed in in_flight.into_given_up() {
            // The caller is told, at once.
            match boxed.give_up() {
                Some((answer, emptied)) => {
                    self.free.push(emptied);
                    self.done.push_back(answer);
                }
                None => self.in_flight.push(boxed),
            }
        }
        if self.read_closed.is_none() || cancelled > 0 {
            self.read_closed = Some(CloseReason::Aborted);
        }
    }

    /// Answers are waiting for the peer to read: close the connection if it
    /// has taken none of them for the write timeout.
    fn poll_stalled(&mut self, cx: &mut Context<'_>, moved: bool) -> Poll<CloseReason> {
        let Some(timeout) = self.limits.write_timeout else {
            return Poll::Pending;
        };
        let now = Instant::now();
        match self.stalled_since {
            Some(since) if !moved => {
                if self.timer.as_mut().poll(cx).is_ready() && now >= since + timeout {
                    return Poll::Ready(CloseReason::WriteTimeout(timeout));
                }
            }
            _ => {
                self.stalled_since = Some(now);
                self.timer.as_mut().reset(now + timeout);
                let _ = self.timer.as_mut().poll(cx);
            }
        }
        Poll::Pending
    }

    /// Nothing to do: close the connection if it has been idle for the idle
    /// timeout.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<CloseReason> {
        let Some(timeout) = self.limits.idle_timeout else {
            return Poll::Pending;
        };
        if self.unanswered() > 0 || self.read_closed.is_some() {
            return Poll::Pending;
        }
        let due = self.last_activity + timeout;
        if Instant::now() >= due {
            self.read_closed = Some(CloseReason::Idle(timeout));
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if self.timer.deadline() != due {
            self.timer.as_mut().reset(due);
        }
        let _ = self.timer.as_mut().poll(cx);
        Poll::Pending
    }

    /// Reads frames and starts their requests while the service and the cap
    /// allow. Returns whether anything changed.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        loop {
            let request = match self.waiting.take() {
                Some(request) => request,
                None => {
                    if self.read_closed.is_some()
                        || self.read_pending
                        || self.write_failed.is_some()
                    {
                        break;
                    }
                    if self.unanswered() >= self.limits.max_in_flight {
                        progress |= self.read_past_cap(cx);
                        break;
                    }
                    let read = Pin::new(&mut self.framed).poll_next(cx);
                    if read.is_ready() {
                        progress = true;
                    }
                    match read {
                        Poll::Ready(Some(Ok(request))) => request,
                        Poll::Ready(Some(Err(err))) => {
                            self.read_closed = Some(CloseReason::read(err));
                            break;
                        }
                        Poll::Ready(None) => {
                            self.read_closed = Some(CloseReason::PeerClosed);
                            break;
                        }
                        Poll::Pending => {
                            self.read_pending = true;
                            break;
                        }
                    }
                }
            };
            // Readiness is asked for once a request is here, not before: an
            // idle connection holds no reservation (a concurrency limit
            // shared by connections counts only real requests), and a load
            // shedder judges the load when the request arrives.
            match self.service.poll_ready(cx) {
                Poll::Ready(Ok(())) => {
                    let future = self.service.call(request);
                    self.start(future, cx);
                    progress = true;
                }
                Poll::Ready(Err(err)) => {
                    // The request is dropped unanswered: the peer sees the
                    // connection close.
                    if self.read_closed.is_none() {
                        self.read_closed = Some(CloseReason::service(err));
                    }
                    return true;
                }
                Poll::Pending => {
                    self.waiting = Some(request);
                    progress |= self.read_past_cap(cx);
                    break;
                }
            }
        }
        progress
    }

    /// While no request can be started (the connection is at its cap, or
    /// the service is not ready), reads on if the protocol asks to (a
    /// JSON-RPC server waiting for its peer's answers to its own calls,
    /// which would otherwise never be read), and has it answer each frame at
    /// once. Answers waiting to be written stay within the cap. Returns
    /// whether anything was read.
    fn read_past_cap(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(at_cap) = self.at_cap.as_mut() else {
            return false;
        };
        let mut progress = false;
        while at_cap.read_past()
            && self.done.len() < self.limits.max_in_flight
            && self.read_closed.is_none()
        {
            match Pin::new(&mut self.framed).poll_next(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(answer) = at_cap.answer(frame) {
                        self.done.push_back(Ok(answer));
                    }
                    progress = true;
                }
                Poll::Ready(Some(Err(err))) => {
                    self.read_closed = Some(CloseReason::read(err));
                    return true;
                }
                Poll::Ready(None) => {
                    self.read_closed = Some(CloseReason::PeerClosed);
                    return true;
                }
                Poll::Pending => {
                    self.read_pending = true;
                    break;
                }
            }
        }
        progress
    }

    /// Whether an answer or a pushed message may be ready to write: a
    /// request in flight, or a push stream not yet found empty in this
    /// wake-up. (Asking the transport for room costs something even when
    /// there is nothing to put in it.)
    fn may_write(&self) -> bool {
        !self.done.is_empty()
            || self.in_flight.count() > 0
            || (self.push.is_some() && !self.push_pending)
    }

    /// Requests read and not yet answered.
    fn unanswered(&self) -> usize {
        self.in_flight.count() + self.done.len() + usize::from(self.waiting.is_some())
    }

    /// Puts a request's future in a box and polls it once: an answer that
    /// is ready at once skips the in-flight set (and its allocation per
    /// request), and goes straight into the write buffer when nothing waits
    /// ahead of it, as a hand-written loop answers each request it reads
    /// (what it holds is then freed before the next request is read). An
    /// ordered protocol may do so only when nothing is in flight, since the
    /// answer must not overtake earlier ones.
    fn start(&mut self, future: S::Future, cx: &mut Context<'_>) {
        let mut boxed = self.free.pop().unwrap_or_else(|| Box::pin(None));
        boxed.set(Some(future));
        if !Q::ORDERED || self.in_flight.count() == 0 {
            let future = boxed.as_mut().as_pin_mut().expect("just set");
            if let Poll::Ready(answer) = future.poll(cx) {
                boxed.set(None);
                self.free.push(boxed);
                if !self.done.is_empty() {
                    self.done.push_back(answer);
                    return;
                }
                match Pin::new(&mut self.framed).poll_ready(cx) {
                    Poll::Ready(Ok(())) => {
                        self.send(answer, true);
                    }
                    Poll::Ready(Err(err)) => {
                        self.write_failed = Some(CloseReason::io(err));
                    }
                    Poll::Pending => self.done.push_back(answer),
                }
                return;
            }
        }
        self.in_flight.push(ReusedBox { boxed: Some(boxed) });
    }

    /// The next finished answer, in the order the protocol wants.
    fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<S::Response, S::Error>>> {
        if let Some(answer) = self.done.pop_front() {
            return Poll::Ready(Some(answer));
        }
        if self.in_flight.count() == 0 {
            // Answers ready at once never enter the set, so it is usually
            // empty: polling it would only register the waker again.
            return Poll::Ready(None);
        }
        match ready!(Pin::new(&mut self.in_flight).poll_next(cx)) {
            Some((answer, boxed)) => {
                self.free.push(boxed);
                Poll::Ready(Some(answer))
            }
            None => Poll::Ready(None),
        }
    }

    /// Moves finished answers, then pushed messages, into the write buffer
    /// while the transport accepts them. Returns whether anything changed.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while self.may_write() {
            match Pin::new(&mut self.framed).poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(err)) => {
                    self.write_failed = Some(CloseReason::io(err));
                    return true;
                }
                Poll::Pending => break,
            }
            let (answer, is_answer) = match self.poll_answer(cx) {
                Poll::Ready(Some(answer)) => (answer, true),
                Poll::Ready(None) | Poll::Pending => match self.poll_push(cx) {
                    Some(message) => (Ok(message), false),
                    None => break,
                },
            };
            progress = true;
            if !self.send(answer, is_answer) {
                return true;
            }
        }
        progress
    }

    /// Encodes an answer (or a pushed message) into the write buffer, once
    /// the transport has said it has room. A failed request or an answer
    /// that cannot be encoded closes the connection; returns false then.
    fn send(&mut self, answer: Result<S::Response, S::Error>, is_answer: bool) -> bool {
        let failure = match answer {
            Ok(response) => match Pin::new(&mut self.framed).start_send(response) {
                Ok(()) => {
                    if is_answer && !self.aborted {
                        self.completed += 1;
                    }
                    self.needs_flush = true;
                    return true;
                }
                Err(err) => CloseReason::encode(err),
            },
            Err(err) => CloseReason::service(err),
        };
        tracing::debug!(reason = %failure, "closing connection after a failed request");
        if Q::ORDERED {
            // Write what came before the unanswerable request, then
            // close; the peer sees its later calls fail.
            self.in_flight = Q::empty();
            self.done.clear();
        }
        if self.read_closed.is_none() {
            self.read_closed = Some(failure);
        }
        false
    }

    /// The next message the server sends of its own accord, if one is ready.
    fn poll_push(&mut self, cx: &mut Context<'_>) -> Option<S::Response> {
        if self.push_pending {
            return None;
        }
        let push = self.push.as_mut()?;
        match Pin::new(push).poll_next(cx) {
            Poll::Ready(Some(message)) => Some(message),
            Poll::Ready(None) => {
                self.push = None;
                None
            }
            Poll::Pending => {
                self.push_pending = true;
                None
            }
        }
    }
}

impl<T, C, S, Req, Q, P> Future for Connection<T, C, S, Req, Q, P>
where
    T: AsyncRead + AsyncWrite + Unpin,
    C: Decoder<Item = Req> + Encoder<S::Response>,
    <C as Decoder>::Error: Into<BoxError>,
    <C as Encoder<S::Response>>::Error: Into<BoxError>,
    S: Service<Req>,
    S::Future: GiveUp,
    S::Error: Into<BoxError>,
    Q: InFlight<ReusedBox<S::Future>>,
    P: Stream<Item = S::Response> + Unpin,
{
    type Output = CloseReason;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<CloseReason> {
        // Every field is Unpin or boxed, so the connection can be moved.
        let this = self.get_mut();
        let poll = this.poll_dispatch(cx);
        if this.completed > 0 {
            this.stats
                .completed
                .fetch_add(std::mem::take(&mut this.completed), Ordering::Relaxed);
        }
        poll
    }
}

impl<T, C, S, Req, Q, P> Unpin for Connection<T, C, S, Req, Q, P> where S: Service<Req> {}
