//! The service of one connection: calls the user's service for each request
//! and turns every outcome into something to write.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context as TaskContext, Poll},
};

use bytes::Bytes;
use futures::{
    Stream,
    future::{BoxFuture, Either, join_all},
};
use tokio::{sync::mpsc, time::Instant};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tower::{BoxError, Service, ServiceExt};
use tracing::{Instrument, instrument::Instrumented};

use super::{
    super::{ErrorObject, Id, Request, Response, message::Incoming, subscription::Outbox},
    answer::{activate, cancelled, log_outcome, request_span, settle, started},
};

/// What the connection writes for one frame, or of its own accord.
pub(super) enum Outgoing {
    /// A notification, or a batch of them: nothing to answer.
    Nothing,
    One(Response),
    Batch(Vec<Response>),
    /// A subscription item, already serialized.
    Pushed(Bytes),
}

/// The service of one connection: calls the inner service for each request
/// the codec read, and turns every failure into an answer.
pub(super) struct PerConnection<S> {
    inner: S,
    notifications: Option<mpsc::Sender<Request>>,
    /// The peer is not authorized: no request reaches `inner`.
    refused: bool,
    /// The shutdown deadline passed: answer what is in flight with an error.
    /// Shared through an `Arc`: a token's own clone and drop each take a
    /// lock, and every request holds one until it is answered.
    abort: Arc<CancellationToken>,
}

impl<S> PerConnection<S> {
    pub(super) fn new(
        inner: S,
        notifications: Option<mpsc::Sender<Request>>,
        refused: bool,
        abort: &CancellationToken,
    ) -> Self {
        Self {
            inner,
            notifications,
            refused,
            abort: Arc::new(abort.clone()),
        }
    }
}

impl<S> Service<Incoming> for PerConnection<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
{
    type Response = Outgoing;
    type Error = BoxError;
    type Future = CallFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, incoming: Incoming) -> Self::Future {
        match incoming {
            Incoming::Invalid(error) => ready(Outgoing::One(Response::error(Id::null(), error))),
            Incoming::Single(entry) => match entry.into_response() {
                Err(answer) => ready(Outgoing::One(answer)),
                Ok(request) => {
                    // `poll_ready` reserved `inner` for this call: take it,
                    // and leave a clone to be made ready for the next.
                    let clone = self.inner.clone();
                    let mut ready = std::mem::replace(&mut self.inner, clone);
                    if let (Some(id), false) = (request.id(), self.refused) {
                        // The common case, unboxed: a request to answer.
                        let id = id.clone();
                        let span = request_span(request.method(), Some(&id));
                        return CallFuture::Calling {
                            id: Some(id),
                            calling: ready.call(request).instrument(span),
                            started: started(),
                            abort: self.abort.clone(),
                            deadline: None,
                        };
                    }
                    let answering = self.dispatch(ready, request, Reserved::Yes);
                    CallFuture::Boxed {
                        boxed: Box::pin(async move {
                            let answer = answering.await;
                            Ok(answer.map_or(Outgoing::Nothing, |answer| {
                                activate(&answer);
                                Outgoing::One(answer)
                            }))
                        }),
                    }
                }
            },
            Incoming::Batch(entries) => {
                let answers: Vec<_> = entries
                    .into_iter()
                    .map(|entry| match entry.into_response() {
                        Err(answer) => ready_answer(answer),
                        Ok(request) => self.dispatch(self.inner.clone(), request, Reserved::No),
                    })
                    .collect();
                CallFuture::Boxed {
                    boxed: Box::pin(async move {
                        let answers: Vec<Response> =
                            join_all(answers).await.into_iter().flatten().collect();
                        answers.iter().for_each(activate);
                        Ok(if answers.is_empty() {
                            Outgoing::Nothing
                        } else {
                            Outgoing::Batch(answers)
                        })
                    }),
                }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// What the connection waits on for one frame: boxed only for what is
    /// not a single request (a batch, a queued notification), so a request
    /// costs no allocation of its own here.
    #[project = CallProjection]
    pub(super) enum CallFuture<F> {
        /// A request (it has an id) in the inner service. The shutdown
        /// deadline is watched only once the request is found pending, so a
        /// request answered at once costs nothing for it.
        Calling {
            id: Option<Id>,
            #[pin]
            calling: Instrumented<F>,
            started: Option<Instant>,
            abort: Arc<CancellationToken>,
            deadline: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
        },
        /// An answer known at once.
        Ready { answer: Option<Outgoing> },
        Boxed { boxed: BoxFuture<'static, Result<Outgoing, BoxError>> },
    }
}

impl<F, E> Future for CallFuture<F>
where
    F: Future<Output = Result<Response, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Outgoing, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        match self.project() {
            CallProjection::Calling {
                id,
                mut calling,
                started,
                abort,
                deadline,
            } => {
                let answer = match calling.as_mut().poll(cx) {
                    // With an id, `settle` never names the method.
                    Poll::Ready(outcome) => settle(id.take(), "", outcome),
                    Poll::Pending => {
                        let deadline = deadline.get_or_insert_with(|| {
                            Box::pin(CancellationToken::clone(abort).cancelled_owned())
                        });
                        std::task::ready!(deadline.as_mut().poll(cx));
                        id.take().map(cancelled)
                    }
                };
                {
                    let _in_span = calling.span().enter();
                    log_outcome(*started, answer.as_ref());
                }
                Poll::Ready(Ok(answer.map_or(Outgoing::Nothing, |answer| {
                    activate(&answer);
                    Outgoing::One(answer)
                })))
            }
            CallProjection::Ready { answer } => Poll::Ready(Ok(answer
                .take()
                .expect("CallFuture polled after completion"))),
            CallProjection::Boxed { boxed } => boxed.as_mut().poll(cx),
        }
    }
}

/// Whether a service handed to [`PerConnection::dispatch`] was made ready.
enum Reserved {
    Yes,
    No,
}

impl<S> PerConnection<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
{
    /// Calls `service` for one request: the answer, or `None` for a
    /// notification. Traced in a `request` span with the method and id;
    /// answered with an error if the shutdown deadline passes first.
    fn dispatch(
        &self,
        mut service: S,
        request: Request,
        reserved: Reserved,
    ) -> BoxFuture<'static, Option<Response>> {
        let id = request.id().cloned();
        let method = request.method().to_owned();
        if self.refused {
            tracing::debug!(%method, "call refused: peer not authorized");
            let answer = id.map(|id| {
                Response::error(
                    id,
                    ErrorObject::new(
                        ErrorObject::UNAUTHORIZED,
                        "not authorized to call this server",
                    ),
                )
            });
            return Box::pin(std::future::ready(answer));
        }
        if id.is_none()
            && let Some(queue) = self.notifications.clone()
        {
            return Box::pin(async move {
                // Waiting for room here holds back the connection's reading.
                let _ = queue.send(request).await;
                None
            });
        }
        let span = request_span(&method, id.as_ref());
        let calling = match reserved {
            Reserved::Yes => Either::Left(service.call(request)),
            Reserved::No => Either::Right(service.oneshot(request)),
        };
        let abort = self.abort.clone();
        let answering = async move {
            let started = started();
            let answer = tokio::select! {
                biased;
                outcome = calling => settle(id, &method, outcome),
                () = abort.cancelled() => id.map(cancelled),
            };
            log_outcome(started, answer.as_ref());
            answer
        };
        Box::pin(answering.instrument(span))
    }
}

fn ready<F>(outgoing: Outgoing) -> CallFuture<F> {
    CallFuture::Ready {
        answer: Some(outgoing),
    }
}

fn ready_answer(answer: Response) -> BoxFuture<'static, Option<Response>> {
    Box::pin(std::future::ready(Some(answer)))
}

/// Subscription items, as the connection writes them.
pub(super) struct Pushed(pub(super) Outbox);

impl Stream for Pushed {
    type Item = Outgoing;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Outgoing>> {
        Pin::new(&mut self.0)
            .poll_next(cx)
            .map(|item| item.map(Outgoing::Pushed))
    }
}
