//! What a client's handles, their futures and the connection task share: the
//! bounded queue of requests, the answer slots and the connection's fate,
//! under one lock that each side holds only for a few moves.
//!
//! A handle reserves a place (`poll_ready`, without the lock unless there
//! is none), then queues its request with a fresh answer slot (`call`),
//! waking the connection task only if it waits for work. The task takes
//! requests in batches and hands answers over in batches. A place is held
//! until the request's answer is handed over: the room is the queue's and
//! the in-flight window's, so that answers make room at once, before the
//! task has taken the next requests.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    task::{Context, Poll, Waker},
};

use super::{
    Error,
    room::{Places, Room, WaitEntry},
    slots::Slots,
};

pub(super) struct Shared<Req, Resp> {
    state: Mutex<State<Req, Resp>>,
    /// The queue's free places: reserved without the lock.
    places: Places,
    /// The connection is gone: every call fails. Set under the lock, read
    /// without it by `poll_ready`.
    closed: AtomicBool,
    /// Live `Client` handles: when none is left and the queue is empty, the
    /// connection task finishes what is in flight and stops.
    handles: AtomicUsize,
}

pub(super) struct State<Req, Resp> {
    /// Requests waiting for the connection task, with their answer slots.
    queue: VecDeque<(Req, usize)>,
    pub(super) room: Room,
    /// The connection task's waker, while it waits for requests.
    dispatcher: Option<Waker>,
    pub(super) slots: Slots<Resp>,
}

impl<Req, Resp> Shared<Req, Resp> {
    /// Room for `buffer` requests waiting and `max_in_flight` taken by the
    /// connection task.
    pub(super) fn new(buffer: usize, max_in_flight: usize) -> Self {
        Self {
            state: Mutex::new(State {
                queue: VecDeque::with_capacity(buffer),
                room: Room::new(),
                dispatcher: None,
                slots: Slots::new(),
            }),
            places: Places::new(buffer + max_in_flight),
            closed: AtomicBool::new(false),
            handles: AtomicUsize::new(1),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State<Req, Resp>> {
        // Nothing user-supplied runs under the lock but `Drop` of requests
        // and answers; whatever a panic there left is consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn add_handle(&self) {
        self.handles.fetch_add(1, Ordering::Relaxed);
    }

    /// A handle is dropped, giving back its reservation, if it held one.
    pub(super) fn drop_handle(&self, reserved: bool) {
        let last = self.handles.fetch_sub(1, Ordering::AcqRel) == 1;
        if !reserved && !last {
            return;
        }
        let mut state = self.lock();
        let mut wake = Vec::new();
        if reserved {
            state.room.give_back(&self.places, 1, &mut wake);
        }
        if last {
            wake.extend(state.dispatcher.take());
        }
        drop(state);
        wake.into_iter().for_each(Waker::wake);
    }

    /// Reserves a place in the queue for the handle whose wait entry is
    /// `entry`; `Ready(false)` when the connection is gone.
    pub(super) fn reserve(&self, entry: &mut WaitEntry, cx: &Context<'_>) -> Poll<bool> {
        if self.is_closed() {
            return Poll::Ready(false);
        }
        // Most calls find a place: no lock for them.
        if self.places.try_take() {
            return Poll::Ready(true);
        }
        let mut state = self.lock();
        if self.is_closed() {
            return Poll::Ready(false);
        }
        state.room.reserve(&self.places, entry, cx).map(|()| true)
    }

    /// Queues a request for which a place was reserved, waking the
    /// connection task if it waits for work; returns its answer slot, or
    /// `None` when the connection is gone.
    pub(super) fn push(&self, request: Req) -> Option<usize> {
        let mut state = self.lock();
        if self.is_closed() {
            return None;
        }
        let slot = state.slots.insert();
        state.queue.push_back((request, slot));
        let dispatcher = state.dispatcher.take();
        drop(state);
        if let Some(dispatcher) = dispatcher {
            dispatcher.wake();
        }
        Some(slot)
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Moves up to `max` queued requests to `into`, skipping those whose
    /// callers gave up (the handles waiting for the room this makes are
    /// added to `wake`). When the queue is left empty the connection task
    /// waits for more with `cx`'s waker, and `true` is returned.
    pub(super) fn take(
        &self,
        max: usize,
        into: &mut VecDeque<(Req, usize)>,
        wake: &mut Vec<Waker>,
        cx: &Context<'_>,
    ) -> bool {
        let mut guard = self.lock();
        let state = &mut *guard;
        let n = max.min(state.queue.len());
        let slots = &state.slots;
        if n == state.queue.len()
            && into.is_empty()
            && !state
                .queue
                .iter()
                .any(|&(_, slot)| slots.is_abandoned(slot))
        {
            // The whole queue, every call still wanted: the two queues trade
            // places instead of moving each request.
            std::mem::swap(&mut state.queue, into);
        } else {
            let mut skipped = 0;
            for (request, slot) in state.queue.drain(..n) {
                if state.slots.release_if_abandoned(slot) {
                    skipped += 1;
                } else {
                    into.push_back((request, slot));
                }
            }
            state.room.give_back(&self.places, skipped, wake);
        }
        // Even with the window full: a request queued next is then seen
        // (were it empty only because the requests taken were abandoned,
        // nothing else would wake the task).
        let waits = state.queue.is_empty();
        if waits {
            match &state.dispatcher {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => state.dispatcher = Some(cx.waker().clone()),
            }
        }
        waits
    }

    /// Hands `answers` (by slot) over, giving their places back; whom to
    /// wake is added to `wake`.
    pub(super) fn answer(
        &self,
        answers: impl ExactSizeIterator<Item = (usize, Result<Resp, Error>)>,
        wake: &mut Vec<Waker>,
    ) {
        let mut state = self.lock();
        state.room.give_back(&self.places, answers.len(), wake);
        for (slot, answer) in answers {
            // An abandoned call's answer is dropped here.
            wake.extend(state.slots.answer(slot, answer));
        }
    }

    /// The connection is gone: hands `answers` over (encoding failures
    /// keep their own error), fails the queued calls and every call whose
    /// slot is in `slots` with `err`, and adds whom to wake to `wake`.
    pub(super) fn close(
        &self,
        err: &Error,
        answers: impl Iterator<Item = (usize, Result<Resp, Error>)>,
        slots: impl Iterator<Item = usize>,
        wake: &mut Vec<Waker>,
    ) {
        let mut guard = self.lock();
        let state = &mut *guard;
        self.closed.store(true, Ordering::Release);
        state.room.wake_all(wake);
        for (slot, answer) in answers {
            wake.extend(state.slots.answer(slot, answer));
        }
        for slot in slots {
            wake.extend(state.slots.answer(slot, Err(err.clone())));
        }
        for (_, slot) in state.queue.drain(..) {
            wake.extend(state.slots.answer(slot, Err(err.clone())));
        }
    }

    /// Whether no handle is left to queue requests.
    pub(super) fn handles_gone(&self) -> bool {
        self.handles.load(Ordering::Acquire) == 0
    }
}

/// The answer slots as a call's future sees them, whatever the request type.
pub(crate) trait Answers<Resp>: Send + Sync {
    fn poll_answer(&self, slot: usize, cx: &Context<'_>) -> Poll<Result<Resp, Error>>;
    fn abandon(&self, slot: usize);
}

impl<Req: Send, Resp: Send> Answers<Resp> for Shared<Req, Resp> {
    fn poll_answer(&self, slot: usize, cx: &Context<'_>) -> Poll<Result<Resp, Error>> {
        self.lock().slots.poll(slot, cx)
    }

    fn abandon(&self, slot: usize) {
        self.lock().slots.abandon(slot);
    }
}

pub(crate) type SharedAnswers<Resp> = Arc<dyn Answers<Resp>>;
