//! The future of a [`SupervisedClient`](super::SupervisedClient) call.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use super::CallError;
use crate::client;

/// The answer to one [`SupervisedClient`](super::SupervisedClient) call.
///
/// Dropping it abandons the call, as with
/// [`client::future::ResponseFuture`].
pub struct ResponseFuture<Resp> {
    state: State<Resp>,
}

enum State<Resp> {
    Waiting {
        inner: client::future::ResponseFuture<Resp>,
        program: Arc<str>,
    },
    Failed(Option<CallError>),
}

impl<Resp> ResponseFuture<Resp> {
    pub(super) fn waiting(inner: client::future::ResponseFuture<Resp>, program: Arc<str>) -> Self {
        Self {
            state: State::Waiting { inner, program },
        }
    }

    pub(super) fn failed(err: CallError) -> Self {
        Self {
            state: State::Failed(Some(err)),
        }
    }
}

impl<Resp> Future for ResponseFuture<Resp> {
    type Output = Result<Resp, CallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            State::Waiting { inner, program } => {
                let answer = ready!(Pin::new(inner).poll(cx));
                Poll::Ready(answer.map_err(|err| CallError::client(Arc::clone(program), err)))
            }
            State::Failed(err) => match err.take() {
                Some(err) => Poll::Ready(Err(err)),
                None => Poll::Pending,
            },
        }
    }
}

impl<Resp> fmt::Debug for ResponseFuture<Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
