//! What a client's handles, their futures and the driver share: the bounded
//! queue of messages, the answer slots, the matching of answers with calls
//! and the connection's fate, under one lock that each side holds only for
//! a few moves.
//!
//! A handle reserves a place (without the lock unless there is none), then
//! queues its message with a fresh answer slot, waking the driver only if it
//! waits for work. The driver takes messages in batches and hands answers
//! over in batches.

use std::{
    collections::VecDeque,
    future::poll_fn,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll, Waker},
};

use super::{
    Matching, Sendable,
    semaphore::{Places, WaitEntry, Waiters},
    slots::Slots,
};
use crate::client::Error;

pub(crate) struct Shared<M: Matching> {
    state: Mutex<State<M>>,
    /// The free places: reserved without the lock.
    places: Places,
    /// The connection is gone for good: every call fails. Set under the
    /// lock, read without it.
    closed: AtomicBool,
    /// Live handles that count: when none is left and the queue is empty, a
    /// client's driver finishes what is in flight and stops.
    handles: AtomicUsize,
    /// The next id, for matchings whose calls carry one.
    ids: AtomicU64,
}

pub(crate) struct State<M: Matching> {
    /// Messages waiting for the driver.
    queue: VecDeque<M::Queued>,
    /// Callers waiting for a place.
    waiters: Waiters,
    /// The driver's waker, while it waits for messages.
    driver: Option<Waker>,
    slots: Slots<M::Answer>,
    pub(crate) matching: M,
}

impl<M: Matching> Shared<M> {
    /// Room for `buffer` messages waiting and `max_in_flight` calls in
    /// flight; one handle.
    pub(crate) fn new(matching: M, buffer: usize, max_in_flight: usize) -> Self {
        Self {
            state: Mutex::new(State {
                queue: VecDeque::with_capacity(buffer),
                waiters: Waiters::new(),
                driver: None,
                slots: Slots::new(),
                matching,
            }),
            places: Places::new(buffer + max_in_flight),
            closed: AtomicBool::new(false),
            handles: AtomicUsize::new(1),
            ids: AtomicU64::new(1),
        }
    }

    /// A fresh call id.
    pub(crate) fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State<M>> {
        // Nothing user-supplied runs under the lock but `Drop` of messages
        // and answers; whatever a panic there left is consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn add_handle(&self) {
        self.handles.fetch_add(1, Ordering::Relaxed);
    }

    /// A handle is dropped, giving back its reservation, if it held one;
    /// `counted`: a handle that keeps the client going.
    pub(crate) fn drop_handle(&self, counted: bool, reserved: bool) {
        let last = counted && self.handles.fetch_sub(1, Ordering::AcqRel) == 1;
        if !reserved && !last {
            return;
        }
        let mut wake = Vec::new();
        let mut state = self.lock();
        if reserved {
            state.waiters.give_back(&self.places, 1, &mut wake);
        }
        if last {
            wake.extend(state.driver.take());
        }
        drop(state);
        wake.into_iter().for_each(Waker::wake);
    }

    /// Whether no handle is left to queue messages.
    pub(crate) fn handles_gone(&self) -> bool {
        self.handles.load(Ordering::Acquire) == 0
    }

    // --- Callers ---------------------------------------------------------

    /// Reserves a place for the handle whose wait entry is `entry`;
    /// `Ready(false)` when the connection is gone.
    pub(crate) fn reserve(&self, entry: &mut WaitEntry, cx: &Context<'_>) -> Poll<bool> {
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
        state
            .waiters
            .reserve(&self.places, entry, cx)
            .map(|()| true)
    }

    /// Queues the message `build` makes (with the slots it takes) in a
    /// place reserved before; returns what it made, or `None` when the
    /// connection is gone.
    pub(crate) fn push<R>(
        &self,
        build: impl FnOnce(&mut Slots<M::Answer>) -> (M::Queued, R),
    ) -> Option<R> {
        let mut state = self.lock();
        if self.is_closed() {
            return None;
        }
        let (made, driver) = state.push(build);
        drop(state);
        if let Some(driver) = driver {
            driver.wake();
        }
        Some(made)
    }

    /// Waits for a place, then queues the message `build` makes, under the
    /// same lock (given the waker of the poll that queues it, for slots that
    /// wake it).
    pub(crate) async fn queue<R>(
        &self,
        build: impl FnOnce(&mut Slots<M::Answer>, &Waker) -> (M::Queued, R),
    ) -> Result<R, Error> {
        let mut build = Some(build);
        let mut entry = None;
        poll_fn(|cx| {
            if self.is_closed() {
                return Poll::Ready(Err(Error::closed()));
            }
            let mut state = self.lock();
            if self.is_closed() {
                return Poll::Ready(Err(Error::closed()));
            }
            std::task::ready!(state.waiters.reserve(&self.places, &mut entry, cx));
            let Some(build) = build.take() else {
                return Poll::Ready(Err(Error::closed()));
            };
            let (made, driver) = state.push(|slots| build(slots, cx.waker()));
            drop(state);
            if let Some(driver) = driver {
                driver.wake();
            }
            Poll::Ready(Ok(made))
        })
        .await
    }

    /// Queues `queued` if a place is free now; drops it if not.
    pub(crate) fn try_queue(&self, queued: M::Queued) {
        if !self.is_closed() && self.places.try_take() {
            self.push(|_| (queued, ()));
        }
    }

    /// Runs `f` on the matching and the slots under the lock, gives back the
    /// places it returns, then wakes whom it added to the list and the
    /// driver (for a reply of the matching's own to write).
    pub(crate) fn with_matching(
        &self,
        f: impl FnOnce(&mut M, &mut Slots<M::Answer>, &mut Vec<Waker>) -> usize,
    ) {
        let mut wake = Vec::new();
        let mut guard = self.lock();
        let state = &mut *guard;
        let freed = f(&mut state.matching, &mut state.slots, &mut wake);
        state.waiters.give_back(&self.places, freed, &mut wake);
        wake.extend(state.driver.take());
        drop(guard);
        wake.into_iter().for_each(Waker::wake);
    }

    // --- The driver ------------------------------------------------------

    /// Moves the matching's replies, then queued messages while fewer than
    /// `max_in_flight` calls are in flight, to `into`, skipping those whose
    /// callers gave up (the handles waiting for the room this makes are
    /// added to `wake`). When the queue is left empty the driver waits for
    /// more with `cx`'s waker, and `true` is returned; so it does when the
    /// window is full, with `wait_for_room`, for an answer making room (a
    /// client's own driver goes round again instead).
    pub(crate) fn take(
        &self,
        max_in_flight: usize,
        wait_for_room: bool,
        into: &mut VecDeque<M::Queued>,
        wake: &mut Vec<Waker>,
        cx: &Context<'_>,
    ) -> bool {
        let mut guard = self.lock();
        let state = &mut *guard;
        while let Some(reply) = state.matching.reply() {
            into.push_back(reply);
        }
        let mut freed = 0;
        if state.matching.in_flight() >= max_in_flight && !state.queue.is_empty() {
            freed += state.matching.forget_abandoned(&mut state.slots);
        }
        let State {
            queue,
            slots,
            matching,
            ..
        } = state;
        if into.is_empty() && matching.in_flight() + queue.len() <= max_in_flight {
            // The whole queue fits: the two queues trade places instead of
            // moving each message (those whose callers gave up are taken
            // out first, which is rare).
            let mut skipped: Option<Vec<bool>> = None;
            let queued = queue.len();
            for (i, message) in queue.iter_mut().enumerate() {
                if !matching.take(message, slots) {
                    skipped.get_or_insert_with(|| vec![false; queued])[i] = true;
                }
            }
            if let Some(skipped) = skipped {
                let mut index = 0;
                queue.retain(|_| {
                    index += 1;
                    !skipped[index - 1]
                });
                freed += queued - queue.len();
            }
            std::mem::swap(queue, into);
        } else {
            while matching.in_flight() < max_in_flight {
                let Some(mut message) = queue.pop_front() else {
                    break;
                };
                if matching.take(&mut message, slots) {
                    into.push_back(message);
                } else {
                    freed += 1;
                }
            }
        }
        state.waiters.give_back(&self.places, freed, wake);
        // Even with the window full: a message queued next is then seen
        // (were it empty only because the messages taken were abandoned,
        // nothing else would wake the driver).
        let waits = state.queue.is_empty();
        if waits || (wait_for_room && state.matching.in_flight() >= max_in_flight) {
            state.wait_for_work(cx);
        }
        waits
    }

    /// Waits until there is a message to send (`true`), or until no handle
    /// is left to send any (`false`).
    pub(crate) async fn work(&self) -> bool {
        poll_fn(|cx| {
            let mut state = self.lock();
            if !state.queue.is_empty() {
                return Poll::Ready(true);
            }
            if self.handles_gone() {
                return Poll::Ready(false);
            }
            state.wait_for_work(cx);
            Poll::Pending
        })
        .await
    }

    /// Hands the frames read to whom they answer, under one lock; returns
    /// whether the matching has replies to write, and fails when a frame
    /// breaks the protocol, after routing those before it.
    pub(crate) fn route(
        &self,
        frames: impl Iterator<Item = M::In>,
        wake: &mut Vec<Waker>,
    ) -> Result<bool, Error> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let mut freed = 0;
        let mut outcome = Ok(());
        for frame in frames {
            match state.matching.route(frame, &mut state.slots, wake) {
                Ok(n) => freed += n,
                Err(err) => {
                    outcome = Err(err);
                    break;
                }
            }
        }
        state.waiters.give_back(&self.places, freed, wake);
        outcome.map(|()| state.matching.has_reply())
    }

    /// Reports the flush of messages that wait for it.
    pub(crate) fn flushed(&self, written: impl Iterator<Item = M::Written>, wake: &mut Vec<Waker>) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let mut freed = 0;
        for written in written {
            freed += state.matching.flushed(written, &mut state.slots, wake);
        }
        state.waiters.give_back(&self.places, freed, wake);
    }

    /// Reports a message that could not be encoded.
    pub(crate) fn unwritten(&self, written: M::Written, err: Error, wake: &mut Vec<Waker>) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let freed = state
            .matching
            .unwritten(written, err, &mut state.slots, wake);
        state.waiters.give_back(&self.places, freed, wake);
    }

    /// Calls taken and not yet answered.
    pub(crate) fn in_flight(&self) -> usize {
        self.lock().matching.in_flight()
    }

    /// Calls taken and not yet answered whose callers still wait for the
    /// answer (the others are forgotten).
    pub(crate) fn wanted_in_flight(&self) -> usize {
        let mut wake = Vec::new();
        let mut guard = self.lock();
        let state = &mut *guard;
        let freed = state.matching.forget_abandoned(&mut state.slots);
        state.waiters.give_back(&self.places, freed, &mut wake);
        let wanted = state.matching.in_flight();
        drop(guard);
        wake.into_iter().for_each(Waker::wake);
        wanted
    }

    /// Why the peer ended the connection, if it said so.
    pub(crate) fn last_word(&self) -> Option<Error> {
        self.lock().matching.last_word()
    }

    /// The connection is lost: fails every call in flight and every message
    /// in `unsent` (taken, not written) with `err`. `closing` fails the
    /// queued messages too, and every later call.
    pub(crate) fn lose(
        &self,
        err: &Error,
        unsent: impl Iterator<Item = M::Written>,
        closing: bool,
    ) {
        let mut wake = Vec::new();
        let mut guard = self.lock();
        let state = &mut *guard;
        let mut freed = 0;
        for written in unsent {
            freed += state
                .matching
                .unwritten(written, err.clone(), &mut state.slots, &mut wake);
        }
        freed += state.matching.lose(err, &mut state.slots, &mut wake);
        if closing {
            self.closed.store(true, Ordering::Release);
            state.matching.close();
            for queued in state.queue.drain(..) {
                M::fail(queued, err, &mut state.slots, &mut wake);
            }
            state.waiters.wake_all(&mut wake);
        } else {
            state.waiters.give_back(&self.places, freed, &mut wake);
        }
        drop(guard);
        wake.into_iter().for_each(Waker::wake);
    }

    /// A new connection could not be made: fails the first queued message,
    /// whose caller asked for it.
    pub(crate) fn fail_first(&self, err: &Error) {
        let mut wake = Vec::new();
        let mut guard = self.lock();
        let state = &mut *guard;
        if let Some(queued) = state.queue.pop_front() {
            M::fail(queued, err, &mut state.slots, &mut wake);
            state.waiters.give_back(&self.places, 1, &mut wake);
        }
        drop(guard);
        wake.into_iter().for_each(Waker::wake);
    }
}

impl<M: Matching> State<M> {
    /// Queues the message `build` makes; returns what it made and the
    /// driver's waker if it waits for work.
    fn push<R>(
        &mut self,
        build: impl FnOnce(&mut Slots<M::Answer>) -> (M::Queued, R),
    ) -> (R, Option<Waker>) {
        let (queued, made) = build(&mut self.slots);
        self.queue.push_back(queued);
        (made, self.driver.take())
    }

    /// Keeps the driver's waker until a message is queued.
    fn wait_for_work(&mut self, cx: &Context<'_>) {
        match &self.driver {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => self.driver = Some(cx.waker().clone()),
        }
    }
}

/// The answer slots as a call's future sees them, whatever the matching.
pub(crate) trait Answers<A>: Send + Sync {
    fn poll_answer(&self, slot: usize, cx: &Context<'_>) -> Poll<Result<A, Error>>;
    fn abandon(&self, slot: usize);
}

impl<M: Sendable> Answers<M::Answer> for Shared<M> {
    fn poll_answer(&self, slot: usize, cx: &Context<'_>) -> Poll<Result<M::Answer, Error>> {
        self.lock().slots.poll(slot, cx)
    }

    fn abandon(&self, slot: usize) {
        self.lock().slots.abandon(slot);
    }
}

pub(crate) type SharedAnswers<A> = Arc<dyn Answers<A>>;
