//! The future of a [`SupervisedClient`](super::SupervisedClient) call.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use super::SupervisedCallError;
use crate::client;

/// The answer to one [`SupervisedClient`](super::SupervisedClient) call.
///
/// Dropping it abandons the call, as with
/// [`client::future::ResponseFuture`].
pub struct ResponseFuture<Resp> {
    inner: client::future::ResponseFuture<Resp>,
    program: Arc<str>,
}

impl<Resp> ResponseFuture<Resp> {
    pub(super) fn waiting(inner: client::future::ResponseFuture<Resp>, program: Arc<str>) -> Self {
        Self { inner, program }
    }
}

impl<Resp> Future for ResponseFuture<Resp> {
    type Output = Result<Resp, SupervisedCallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let answer = ready!(Pin::new(&mut this.inner).poll(cx));
        Poll::Ready(
            answer.map_err(|err| SupervisedCallError::client(Arc::clone(&this.program), err)),
        )
    }
}

impl<Resp> fmt::Debug for ResponseFuture<Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
