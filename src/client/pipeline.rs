//! Answers matched with requests by position: what a codec without ids
//! needs (pipelining).

use std::{collections::VecDeque, marker::PhantomData, task::Waker};

use super::{
    Error,
    engine::{Matching, Slots},
};

/// The answer slots of the requests written, in order: each answer read
/// belongs to the oldest.
pub(crate) struct Pipeline<Req, Resp> {
    in_flight: VecDeque<usize>,
    _messages: PhantomData<fn(Req) -> Resp>,
}

impl<Req, Resp> Pipeline<Req, Resp> {
    pub(crate) fn new() -> Self {
        Self {
            in_flight: VecDeque::new(),
            _messages: PhantomData,
        }
    }
}

impl<Req, Resp> Matching for Pipeline<Req, Resp> {
    /// A request and its answer slot.
    type Queued = (Req, usize);
    type Out = Req;
    type In = Resp;
    type Answer = Resp;
    /// The slot, to fail if the request cannot be encoded.
    type Written = usize;

    #[inline]
    fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    #[inline]
    fn take(&mut self, &mut (_, slot): &mut (Req, usize), slots: &mut Slots<Resp>) -> bool {
        if slots.release_if_abandoned(slot) {
            return false;
        }
        self.in_flight.push_back(slot);
        true
    }

    #[inline]
    fn split((request, slot): (Req, usize)) -> (Req, Option<usize>) {
        (request, Some(slot))
    }

    fn waits_for_flush(_: &usize) -> bool {
        false
    }

    fn flushed(&mut self, _: usize, _: &mut Slots<Resp>, _: &mut Vec<Waker>) -> usize {
        0
    }

    fn unwritten(
        &mut self,
        slot: usize,
        err: Error,
        slots: &mut Slots<Resp>,
        wake: &mut Vec<Waker>,
    ) -> usize {
        // Nothing was written for it: no answer will come in its place.
        if let Some(at) = self.in_flight.iter().rposition(|&s| s == slot) {
            self.in_flight.remove(at);
        }
        wake.extend(slots.answer(slot, Err(err)));
        1
    }

    #[inline]
    fn route(
        &mut self,
        answer: Resp,
        slots: &mut Slots<Resp>,
        wake: &mut Vec<Waker>,
    ) -> Result<usize, Error> {
        let slot = self
            .in_flight
            .pop_front()
            .ok_or_else(Error::unexpected_response)?;
        // An abandoned call's answer is dropped here.
        wake.extend(slots.answer(slot, Ok(answer)));
        Ok(1)
    }

    #[inline]
    fn reply(&mut self) -> Option<(Req, usize)> {
        None
    }

    #[inline]
    fn has_reply(&self) -> bool {
        false
    }

    fn last_word(&mut self) -> Option<Error> {
        None
    }

    fn forget_abandoned(&mut self, _: &mut Slots<Resp>) -> usize {
        // An abandoned call's answer still comes, in its turn: its slot
        // must wait for it.
        0
    }

    fn lose(&mut self, err: &Error, slots: &mut Slots<Resp>, wake: &mut Vec<Waker>) -> usize {
        let lost = self.in_flight.len();
        for slot in self.in_flight.drain(..) {
            wake.extend(slots.answer(slot, Err(err.clone())));
        }
        lost
    }

    fn close(&mut self) {}

    fn fail((_, slot): (Req, usize), err: &Error, slots: &mut Slots<Resp>, wake: &mut Vec<Waker>) {
        wake.extend(slots.answer(slot, Err(err.clone())));
    }
}
