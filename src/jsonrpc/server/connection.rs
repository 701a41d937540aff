//! The service of one connection: calls the user's service for each request
//! and turns every outcome into something to write.

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, Waker},
};

use bytes::Bytes;
use futures::{
    Stream,
    future::{BoxFuture, join_all},
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::{BoxError, Service, ServiceExt};
use tracing::{Instrument, instrument::Instrumented};

use super::{
    answer::{cancelled, log_outcome, request_span, settle, started},
    in_order::InOrder,
};
use crate::{
    client::engine::Matching,
    jsonrpc::{
        Call, CallContext, ErrorObject, Id, Request, Response,
        client::{ById, Command},
        service::subscription::Outbox,
        wire::parse::{Entry, Incoming},
    },
    server::connection::GiveUp,
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
    /// Given with every call.
    context: CallContext,
    /// Notifications in order, and requests held behind them (with
    /// `ordered_notifications`).
    in_order: Option<InOrder>,
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
        context: CallContext,
        in_order: Option<InOrder>,
        refused: bool,
        abort: &CancellationToken,
    ) -> Self {
        Self {
            inner,
            context,
            in_order,
            refused,
            abort: Arc::new(abort.clone()),
        }
    }
}

impl<S> Service<Incoming> for PerConnection<S>
where
    S: Service<Call, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
{
    type Response = Outgoing;
    type Error = BoxError;
    type Future = CallFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, incoming: Incoming) -> Self::Future {
        match incoming {
            Incoming::Invalid(error) => ready(Outgoing::One(Response::error(Id::null(), error))),
            Incoming::Single(entry) => match entry {
                Entry::Invalid(id, error) => ready(Outgoing::One(Response::error(id, error))),
                Entry::Response(response) => {
                    self.answered(response);
                    ready(Outgoing::Nothing)
                }
                Entry::Request(request) => {
                    if let (Some(id), false) = (request.id(), self.refused)
                        && self.in_order.as_ref().is_none_or(InOrder::caught_up)
                    {
                        // The common case, unboxed: a request to answer,
                        // with `inner`, which `poll_ready` reserved.
                        let id = id.clone();
                        let span = request_span(&request);
                        let call = Call::with_context(request, self.context.clone());
                        return CallFuture::Calling {
                            id: Some(id),
                            calling: self.inner.call(call).instrument(span),
                            started: started(),
                        };
                    }
                    // `poll_ready` reserved `inner` for this call: take it
                    // into the boxed future, and leave a clone to be made
                    // ready for the next.
                    let clone = self.inner.clone();
                    let ready = std::mem::replace(&mut self.inner, clone);
                    let answering = self.dispatch(ready, request, Reserved::Yes);
                    CallFuture::Boxed {
                        boxed: Box::pin(async move {
                            let answer = answering.await;
                            Ok(answer.map_or(Outgoing::Nothing, Outgoing::One))
                        }),
                    }
                }
            },
            Incoming::Batch(entries) => {
                let answers: Vec<_> = entries
                    .into_iter()
                    .filter_map(|entry| match entry {
                        Entry::Invalid(id, error) => Some(ready_answer(Response::error(id, error))),
                        Entry::Response(response) => {
                            self.answered(response);
                            None
                        }
                        Entry::Request(request) => {
                            Some(self.dispatch(self.inner.clone(), request, Reserved::No))
                        }
                    })
                    .collect();
                CallFuture::Boxed {
                    boxed: Box::pin(async move {
                        let answers: Vec<Response> =
                            join_all(answers).await.into_iter().flatten().collect();
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
        /// A request (it has an id) in the inner service. Past the
        /// shutdown deadline the connection [gives it up](GiveUp), so it
        /// watches nothing of its own for it.
        Calling {
            id: Option<Id>,
            #[pin]
            calling: Instrumented<F>,
            started: Option<Instant>,
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

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CallProjection::Calling {
                id,
                mut calling,
                started,
            } => {
                let outcome = std::task::ready!(calling.as_mut().poll(cx));
                // With an id, `settle` never names the method.
                let answer = settle(id.take(), "", outcome);
                {
                    let _in_span = calling.span().enter();
                    log_outcome(*started, answer.as_ref());
                }
                Poll::Ready(Ok(answer.map_or(Outgoing::Nothing, Outgoing::One)))
            }
            CallProjection::Ready { answer } => Poll::Ready(Ok(answer
                .take()
                .expect("CallFuture polled after completion"))),
            CallProjection::Boxed { boxed } => boxed.as_mut().poll(cx),
        }
    }
}

impl<F, E> GiveUp for CallFuture<F>
where
    F: Future<Output = Result<Response, E>>,
    E: Into<BoxError>,
{
    /// A request is answered with an error that says the server gave up on
    /// it; a boxed future watches the deadline itself.
    fn give_up(self: Pin<&mut Self>) -> Option<Self::Output> {
        match self.project() {
            CallProjection::Calling {
                id,
                calling,
                started,
            } => {
                let answer = id.take().map(cancelled);
                {
                    let _in_span = calling.span().enter();
                    log_outcome(*started, answer.as_ref());
                }
                Some(Ok(answer.map_or(Outgoing::Nothing, Outgoing::One)))
            }
            CallProjection::Ready { answer } => answer.take().map(Ok),
            CallProjection::Boxed { .. } => None,
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
    S: Service<Call, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
{
    /// Calls `service` for one request: the answer, or `None` for a
    /// notification. Traced in a `request` span with the method and id;
    /// answered with an error if the shutdown deadline passes first.
    fn dispatch(
        &mut self,
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
        let call = Call::with_context(request, self.context.clone());
        let mut barrier = None;
        if let Some(in_order) = &mut self.in_order {
            if id.is_none() {
                // Waiting for room here holds back the connection's reading.
                let queued = in_order.notification(call);
                return Box::pin(async move {
                    queued.await;
                    None
                });
            }
            barrier = (!in_order.caught_up()).then(|| in_order.barrier());
        }
        let span = request_span(call.request());
        let calling = async move {
            if let Some(barrier) = barrier {
                barrier.await;
            }
            match reserved {
                Reserved::Yes => service.call(call).await,
                Reserved::No => service.oneshot(call).await,
            }
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

impl<S> PerConnection<S> {
    /// An answer from the peer to a call of the server's handlers.
    fn answered(&self, response: Response) {
        match self.context.peer_engine() {
            Some(engine) => {
                engine.with_matching(|calls, slots, wake| calls.answer(response, slots, wake))
            }
            None => tracing::debug!(id = %response.id(), "ignoring an answer to no call of ours"),
        }
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

/// What the connection writes of its own accord: its subscriptions' items,
/// then the calls and notifications of the client of the peer that its
/// handlers hold ([`CallContext::peer`]), whose queue the connection drives.
pub(super) struct Pushed {
    items: Outbox,
    context: CallContext,
    /// Taken from the peer client's queue, not yet handed over.
    taken: VecDeque<Command>,
    wake: Vec<Waker>,
}

/// Calls of a server's handlers to their peer unanswered at once.
const PEER_MAX_IN_FLIGHT: usize = 64;

impl Pushed {
    pub(super) fn new(items: Outbox, context: CallContext) -> Self {
        Self {
            items,
            context,
            taken: VecDeque::new(),
            wake: Vec::new(),
        }
    }
}

impl Stream for Pushed {
    type Item = Outgoing;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Outgoing>> {
        let this = &mut *self;
        if let Poll::Ready(Some(item)) = Pin::new(&mut this.items).poll_next(cx) {
            return Poll::Ready(Some(Outgoing::Pushed(item)));
        }
        let Some(engine) = this.context.peer_engine() else {
            return Poll::Pending;
        };
        if this.taken.is_empty() {
            engine.take(
                PEER_MAX_IN_FLIGHT,
                true,
                &mut this.taken,
                &mut this.wake,
                cx,
            );
        }
        let Some(command) = this.taken.pop_front() else {
            this.wake.drain(..).for_each(Waker::wake);
            return Poll::Pending;
        };
        let (message, written) = ById::split(command);
        if let Some(written) = written.filter(ById::waits_for_flush) {
            // Handed to the connection: as written as it will be.
            engine.flushed(std::iter::once(written), &mut this.wake);
        }
        this.wake.drain(..).for_each(Waker::wake);
        Poll::Ready(Some(Outgoing::Pushed(message.freeze())))
    }
}
