//! Future types.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use pin_project_lite::pin_project;
use tower::BoxError;

use super::error::Refused;

pin_project! {
    /// The future of [`Authorize`](super::Authorize): the inner make-service's
    /// answer for an allowed peer, [`Refused`] at once for the others.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<F> {
        Allowed { #[pin] future: F },
        Refused { error: Option<Refused> },
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn allowed(future: F) -> Self {
        Self {
            state: State::Allowed { future },
        }
    }

    pub(super) fn refused(error: Refused) -> Self {
        Self {
            state: State::Refused { error: Some(error) },
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Allowed { future } => future.poll(cx).map_err(Into::into),
            // Taken, not cloned: a future polled again after completing
            // (which it must not be) just fails again.
            StateProj::Refused { error } => {
                let error = error
                    .take()
                    .unwrap_or_else(|| Refused::new(Default::default()));
                Poll::Ready(Err(error.into()))
            }
        }
    }
}
