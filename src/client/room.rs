//! Room in a client's bounded queue: callers reserve a place before they
//! queue a request, and wait, all woken together, when there is none.

use std::task::{Context, Poll, Waker};

pub(crate) struct Room {
    /// Places neither filled nor reserved.
    free: usize,
    /// Callers waiting for a place.
    waiting: Vec<Waker>,
    /// Counts the times `waiting` was emptied, so that a caller can tell
    /// whether the entry it made is still there.
    round: u64,
}

/// Where a waiting caller's waker is: its index in `waiting`, in a round.
/// Polled again, the caller updates its entry instead of adding another.
pub(crate) type WaitEntry = Option<(u64, usize)>;

impl Room {
    pub(crate) fn new(places: usize) -> Self {
        Self {
            free: places,
            waiting: Vec::new(),
            round: 0,
        }
    }

    /// Reserves a place, or keeps `cx`'s waker until places are given back.
    pub(crate) fn reserve(&mut self, entry: &mut WaitEntry, cx: &Context<'_>) -> Poll<()> {
        if self.free > 0 {
            self.free -= 1;
            return Poll::Ready(());
        }
        match *entry {
            Some((round, index)) if round == self.round => {
                if !self.waiting[index].will_wake(cx.waker()) {
                    self.waiting[index] = cx.waker().clone();
                }
            }
            _ => {
                *entry = Some((self.round, self.waiting.len()));
                self.waiting.push(cx.waker().clone());
            }
        }
        Poll::Pending
    }

    /// Reserves a place if one is free, without waiting.
    pub(crate) fn try_reserve(&mut self) -> bool {
        let free = self.free > 0;
        if free {
            self.free -= 1;
        }
        free
    }

    /// Gives `n` places back; the waiting callers are added to `wake`, to
    /// be woken once the lock is released.
    pub(crate) fn give_back(&mut self, n: usize, wake: &mut Vec<Waker>) {
        if n > 0 {
            self.free += n;
            self.wake_all(wake);
        }
    }

    /// Adds every waiting caller to `wake` (when they should see that the
    /// connection is gone).
    pub(crate) fn wake_all(&mut self, wake: &mut Vec<Waker>) {
        wake.append(&mut self.waiting);
        self.round += 1;
    }
}
