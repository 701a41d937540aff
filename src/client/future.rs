//! The future of a [`Client`](super::Client) call.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use super::{Error, engine::SharedAnswers};

/// The answer to one [`Client`](super::Client) call.
///
/// Dropping it abandons the call: the request may still be sent, and its
/// answer is read and discarded so the answers after it stay in order.
pub struct ResponseFuture<Resp> {
    state: State<Resp>,
}

enum State<Resp> {
    Waiting {
        answers: SharedAnswers<Resp>,
        slot: usize,
        /// The next poll is the first, in the poll that queued the call.
        queued_in_this_poll: bool,
    },
    Failed(Option<Error>),
}

impl<Resp> ResponseFuture<Resp> {
    pub(crate) fn waiting(answers: SharedAnswers<Resp>, slot: usize) -> Self {
        Self {
            state: State::Waiting {
                answers,
                slot,
                queued_in_this_poll: false,
            },
        }
    }

    /// For a call whose slot was given the polling task's waker when it was
    /// queued, by the same poll of the same task that then polls this
    /// future first (an `async fn` awaiting it right after queueing it).
    /// That first poll returns `Pending` without taking the lock: an answer
    /// handed over since was handed to that waker, and the task, woken
    /// while it runs, is polled again.
    pub(crate) fn queued_in_this_poll(answers: SharedAnswers<Resp>, slot: usize) -> Self {
        Self {
            state: State::Waiting {
                answers,
                slot,
                queued_in_this_poll: true,
            },
        }
    }

    pub(super) fn failed(err: Error) -> Self {
        Self {
            state: State::Failed(Some(err)),
        }
    }
}

impl<Resp> Future for ResponseFuture<Resp> {
    type Output = Result<Resp, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            State::Waiting {
                answers,
                slot,
                queued_in_this_poll,
            } => {
                if std::mem::take(queued_in_this_poll) {
                    return Poll::Pending;
                }
                let answer = ready!(answers.poll_answer(*slot, cx));
                // The slot is free again: this future no longer owns it.
                self.state = State::Failed(None);
                Poll::Ready(answer)
            }
            State::Failed(err) => Poll::Ready(Err(err.take().unwrap_or_else(Error::closed))),
        }
    }
}

impl<Resp> Drop for ResponseFuture<Resp> {
    fn drop(&mut self) {
        if let State::Waiting { answers, slot, .. } = &self.state {
            answers.abandon(*slot);
        }
    }
}

impl<Resp> fmt::Debug for ResponseFuture<Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
