//! The future of a [`Client`](super::Client) call.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use super::{Error, shared::SharedAnswers};

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
    },
    Failed(Option<Error>),
}

impl<Resp> ResponseFuture<Resp> {
    pub(crate) fn waiting(answers: SharedAnswers<Resp>, slot: usize) -> Self {
        Self {
            state: State::Waiting { answers, slot },
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
            State::Waiting { answers, slot } => {
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
        if let State::Waiting { answers, slot } = &self.state {
            answers.abandon(*slot);
        }
    }
}

impl<Resp> fmt::Debug for ResponseFuture<Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
