//! The one client engine, behind [`Client`](super::Client) and
//! [`JsonRpcClient`](crate::jsonrpc::JsonRpcClient).
//!
//! Callers reserve a place in a bounded queue and queue their message with a
//! fresh answer slot ([`Shared`]); a driver takes queued messages, writes
//! them, reads what comes back and hands each answer to its slot. The
//! client's own driver is a task per client ([`Driver`], which connects again
//! on the next call when the connection is lost, if told how:
//! [`Connect`]); a JSON-RPC server drives the queue of the client it hands
//! its handlers, on the connection it serves.
//!
//! What differs between protocols is how answers find their calls, one
//! [`Matching`]: by position for codecs (pipelining), by id for JSON-RPC,
//! whose peer also sends messages of its own.
//!
//! # Backpressure
//!
//! A place is held from the moment a caller reserves it until its message
//! is answered (or, for a message nothing answers, written): the queue and
//! the calls in flight share `buffer + max_in_flight` places, so answers
//! make room at once and a slow peer slows its callers instead of filling
//! memory.

mod dispatch;
mod reconnect;
mod semaphore;
mod shared;
mod slots;

pub(crate) use dispatch::Driver;
pub(crate) use reconnect::{Connect, ConnectWith, EndpointConnect};
pub(crate) use semaphore::WaitEntry;
pub(crate) use shared::{Shared, SharedAnswers};
pub(crate) use slots::Slots;

use std::task::Waker;

use super::Error;

/// How answers are matched with calls: the one thing that differs between
/// the clients of different protocols.
///
/// Every method runs under the engine's lock, so none may block. (No
/// bounds here: the clients' types stay free of them; [`Sendable`] says
/// what a driver on a task of its own needs.)
pub(crate) trait Matching {
    /// A message as a caller queues it.
    type Queued;
    /// What the transport writes.
    type Out;
    /// What the transport reads.
    type In;
    /// What a caller's slot receives.
    type Answer;
    /// What the driver keeps of a message it wrote, until it is flushed.
    type Written;

    /// Calls taken for writing and not yet answered: the driver takes no
    /// more than its window allows.
    fn in_flight(&self) -> usize;

    /// A queued message is taken for writing: notes what will answer it
    /// (what it needs of the message for that, it takes out); `false` to
    /// skip it (its caller gave up), which gives its place back.
    fn take(&mut self, queued: &mut Self::Queued, slots: &mut Slots<Self::Answer>) -> bool;

    /// What to write of a message taken, and what the driver keeps of it
    /// (outside the lock).
    fn split(queued: Self::Queued) -> (Self::Out, Option<Self::Written>);

    /// Whether the driver must report the flush of `written`.
    fn waits_for_flush(written: &Self::Written) -> bool;

    /// `written` is flushed; returns the places this frees.
    fn flushed(
        &mut self,
        written: Self::Written,
        slots: &mut Slots<Self::Answer>,
        wake: &mut Vec<Waker>,
    ) -> usize;

    /// `written` could not be encoded: its caller gets `err` (the
    /// connection is unaffected); returns the places this frees.
    fn unwritten(
        &mut self,
        written: Self::Written,
        err: Error,
        slots: &mut Slots<Self::Answer>,
        wake: &mut Vec<Waker>,
    ) -> usize;

    /// Hands a frame read to whom it answers; returns the places this frees.
    ///
    /// # Errors
    ///
    /// When the frame breaks the protocol so that the connection cannot go
    /// on (an answer to no call of a pipelined client).
    fn route(
        &mut self,
        frame: Self::In,
        slots: &mut Slots<Self::Answer>,
        wake: &mut Vec<Waker>,
    ) -> Result<usize, Error>;

    /// A message of the matching's own to write before queued ones (a
    /// client's answer to its server), if any.
    fn reply(&mut self) -> Option<Self::Queued>;

    /// Whether [`reply`](Self::reply) has something.
    fn has_reply(&self) -> bool;

    /// Why the peer ended the connection, if it said so before closing it.
    fn last_word(&mut self) -> Option<Error>;

    /// Frees the calls in flight whose callers gave up, to make room;
    /// returns the places this frees.
    fn forget_abandoned(&mut self, slots: &mut Slots<Self::Answer>) -> usize;

    /// The connection is lost: every call in flight fails with `err`;
    /// returns the places this frees.
    fn lose(
        &mut self,
        err: &Error,
        slots: &mut Slots<Self::Answer>,
        wake: &mut Vec<Waker>,
    ) -> usize;

    /// The client is done with for good: drop what would keep its other
    /// tasks going.
    fn close(&mut self);

    /// Fails a queued message that will never be written.
    fn fail(
        queued: Self::Queued,
        err: &Error,
        slots: &mut Slots<Self::Answer>,
        wake: &mut Vec<Waker>,
    );
}

/// A [`Matching`] whose engine may be shared across tasks and driven by one.
pub(crate) trait Sendable:
    Matching<
        Queued: Send + 'static,
        Out: Send + 'static,
        In: Send + 'static,
        Answer: Send + 'static,
        Written: Send + 'static,
    > + Send
    + 'static
{
}

impl<M> Sendable for M where
    M: Matching<
            Queued: Send + 'static,
            Out: Send + 'static,
            In: Send + 'static,
            Answer: Send + 'static,
            Written: Send + 'static,
        > + Send
        + 'static
{
}
