//! The future of a [`Client`](super::Client) call.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use tokio::sync::oneshot;

use super::Error;

/// The answer to one [`Client`](super::Client) call.
///
/// Dropping it abandons the call: the request may still be sent, and its
/// answer is read and discarded so the answers after it stay in order.
pub struct ResponseFuture<Resp> {
    state: State<Resp>,
}

enum State<Resp> {
    Waiting(oneshot::Receiver<Result<Resp, Error>>),
    Failed(Option<Error>),
}

impl<Resp> ResponseFuture<Resp> {
    pub(super) fn waiting(rx: oneshot::Receiver<Result<Resp, Error>>) -> Self {
        Self {
            state: State::Waiting(rx),
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
            State::Waiting(rx) => Poll::Ready(match ready!(Pin::new(rx).poll(cx)) {
                Ok(answer) => answer,
                // The dispatcher ended without a word: the connection is gone.
                Err(_) => Err(Error::closed()),
            }),
            State::Failed(err) => Poll::Ready(Err(err.take().unwrap_or_else(Error::closed))),
        }
    }
}

impl<Resp> fmt::Debug for ResponseFuture<Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
