//! The client's bounded queue as a counting semaphore: callers reserve a
//! place (a permit) before they queue a request, and wait, all woken
//! together, when there is none.
//!
//! Two halves: [`Places`], the count, taken without a lock, and
//! [`Waiters`], the waiter list, kept under the engine's lock. Not
//! `tokio::sync::Semaphore`: places are given back under the lock the
//! engine holds anyway to hand over answers, many at once, and the waiters
//! are woken after it is released; tokio's semaphore takes a lock of its own
//! for every give-back, and a `poll_ready` on it needs a boxed future per
//! handle.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    task::{Context, Poll, Waker},
};

/// Places neither filled nor reserved.
///
/// Taken without the lock (a caller usually finds one, and then takes no
/// lock to reserve it), but given back only under it, by
/// [`Waiters::give_back`]: a caller that found none looks again under the
/// lock before it waits, so it either sees the places given back or is
/// among the callers woken for them.
pub(crate) struct Places(AtomicUsize);

impl Places {
    pub(crate) fn new(places: usize) -> Self {
        Self(AtomicUsize::new(places))
    }

    /// Takes a place if one is free.
    #[inline]
    pub(crate) fn try_take(&self) -> bool {
        // Relaxed: the count guards no other data, and a read-modify-write
        // always sees the latest count; the lock orders give-backs with
        // waits.
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |free| {
                free.checked_sub(1)
            })
            .is_ok()
    }
}

/// The callers waiting for a place, under the lock.
pub(crate) struct Waiters {
    /// Callers waiting for a place.
    waiting: Vec<Waker>,
    /// Counts the times `waiting` was emptied, so that a caller can tell
    /// whether the entry it made is still there.
    round: u64,
}

/// Where a waiting caller's waker is: its index in `waiting`, in a round.
/// Polled again, the caller updates its entry instead of adding another.
pub(crate) type WaitEntry = Option<(u64, usize)>;

impl Waiters {
    pub(crate) fn new() -> Self {
        Self {
            waiting: Vec::new(),
            round: 0,
        }
    }

    /// Reserves one of `places`, or keeps `cx`'s waker until places are
    /// given back.
    pub(crate) fn reserve(
        &mut self,
        places: &Places,
        entry: &mut WaitEntry,
        cx: &Context<'_>,
    ) -> Poll<()> {
        if places.try_take() {
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

    /// Gives `n` places back; the waiting callers are added to `wake`, to
    /// be woken once the lock is released.
    pub(crate) fn give_back(&mut self, places: &Places, n: usize, wake: &mut Vec<Waker>) {
        if n > 0 {
            places.0.fetch_add(n, Ordering::Relaxed);
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
