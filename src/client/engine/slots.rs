//! Answer slots: where the connection task leaves each call's answer for
//! its future, reused from call to call.
//!
//! A slab instead of a oneshot channel per call: no allocation, and the
//! slots live under the lock the caller and the connection task take anyway.

use std::task::{Context, Poll, Waker};

use super::Error;

pub(crate) struct Slots<Resp> {
    slots: Vec<Slot<Resp>>,
    /// Indices of free slots, reused last in, first out (the warmest).
    free: Vec<usize>,
}

enum Slot<Resp> {
    Free,
    /// The call is queued or in flight; the waker is its future's.
    Waiting(Option<Waker>),
    Answered(Result<Resp, Error>),
    /// The future was dropped: the slot is freed when the call is skipped or
    /// its answer arrives.
    Abandoned,
}

impl<Resp> Slots<Resp> {
    pub(crate) fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    /// A slot for a new call.
    pub(crate) fn insert(&mut self) -> usize {
        self.insert_waking(None)
    }

    /// A slot for a new call whose answer wakes `waker`, if given.
    pub(crate) fn insert_waking(&mut self, waker: Option<Waker>) -> usize {
        match self.free.pop() {
            Some(index) => {
                self.slots[index] = Slot::Waiting(waker);
                index
            }
            None => {
                self.slots.push(Slot::Waiting(waker));
                self.slots.len() - 1
            }
        }
    }

    fn release(&mut self, index: usize) {
        self.slots[index] = Slot::Free;
        self.free.push(index);
    }

    /// Leaves `answer` for the call; returns the waker to wake once the lock
    /// is released. An abandoned call's slot is freed instead.
    pub(crate) fn answer(&mut self, index: usize, answer: Result<Resp, Error>) -> Option<Waker> {
        match std::mem::replace(&mut self.slots[index], Slot::Answered(answer)) {
            Slot::Waiting(waker) => waker,
            Slot::Abandoned => {
                self.release(index);
                None
            }
            Slot::Free | Slot::Answered(_) => unreachable!("a second answer for one call"),
        }
    }

    /// Frees the slot of a call whose future is gone, for the connection
    /// task to skip it; `false` if the call is still wanted.
    pub(crate) fn release_if_abandoned(&mut self, index: usize) -> bool {
        let abandoned = matches!(self.slots[index], Slot::Abandoned);
        if abandoned {
            self.release(index);
        }
        abandoned
    }

    /// The answer, once there; until then the future's waker is kept.
    #[inline]
    pub(crate) fn poll(&mut self, index: usize, cx: &Context<'_>) -> Poll<Result<Resp, Error>> {
        match &mut self.slots[index] {
            Slot::Waiting(Some(waker)) if waker.will_wake(cx.waker()) => Poll::Pending,
            Slot::Waiting(waker) => {
                *waker = Some(cx.waker().clone());
                Poll::Pending
            }
            slot => match std::mem::replace(slot, Slot::Free) {
                Slot::Answered(answer) => {
                    self.free.push(index);
                    Poll::Ready(answer)
                }
                // A future owns its slot until it takes the answer or drops.
                _ => unreachable!("a future polled a slot it does not own"),
            },
        }
    }

    /// The future is dropped without its answer.
    pub(crate) fn abandon(&mut self, index: usize) {
        match self.slots[index] {
            Slot::Waiting(_) => self.slots[index] = Slot::Abandoned,
            _ => self.release(index),
        }
    }
}
