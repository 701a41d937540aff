//! A client's answers to its server's calls: the service given to
//! [`Builder::serve`](super::Builder::serve), run on a task of its own.

use std::{
    collections::VecDeque,
    fmt,
    future::poll_fn,
    pin::Pin,
    sync::{Arc, Mutex, Weak},
    task::Poll,
};

use futures::{Stream, future::BoxFuture, stream::FuturesUnordered};
use tokio::sync::mpsc;
use tower::{BoxError, Service, ServiceExt};

use super::{ById, JsonRpcClient};
use crate::{
    client::engine::Shared,
    jsonrpc::{Call, CallContext, Id, Request, Response, service::failure::error_object},
};

/// The server's calls a client handles at once; more wait in the channel,
/// and past that they are answered with a limit error.
pub(super) const MAX_IN_FLIGHT: usize = 64;

/// Starts the task that serves the calls it is sent, for a client.
type Spawn = dyn Fn(mpsc::Receiver<Request>, Weak<Shared<ById>>) + Send + Sync;

/// A service to answer a server's calls with, type-erased so that the
/// client's builder stays one type.
#[derive(Clone)]
pub(super) struct Serve(Arc<Spawn>);

impl Serve {
    pub(super) fn new<S>(service: S) -> Self
    where
        S: Service<Call, Response = Response> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError> + Send + 'static,
    {
        // Shared by the builder's clones: a service need not be `Sync`.
        let service = Mutex::new(service);
        Self(Arc::new(move |requests, client| {
            let service = service.lock().unwrap_or_else(|e| e.into_inner()).clone();
            tokio::spawn(serve(service, requests, client));
        }))
    }

    /// Serves the calls `requests` brings, answering on `client`.
    pub(super) fn spawn(&self, requests: mpsc::Receiver<Request>, client: &Arc<Shared<ById>>) {
        (self.0)(requests, Arc::downgrade(client));
    }
}

impl fmt::Debug for Serve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve").finish_non_exhaustive()
    }
}

/// The channel the client's reader hands the server's calls to.
pub(super) fn channel() -> (mpsc::Sender<Request>, mpsc::Receiver<Request>) {
    mpsc::channel(MAX_IN_FLIGHT)
}

type Answering = BoxFuture<'static, Option<Response>>;

/// Runs until the client is done with (its reader drops the sender): calls
/// concurrently, notifications one at a time in the order they came, each
/// answer queued on the client as soon as it is ready.
async fn serve<S>(service: S, mut requests: mpsc::Receiver<Request>, client: Weak<Shared<ById>>)
where
    S: Service<Call, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
{
    let mut calls = FuturesUnordered::<Answering>::new();
    let mut notifications = VecDeque::<Answering>::new();
    let mut open = true;
    poll_fn(move |cx| {
        while open && calls.len() < MAX_IN_FLIGHT {
            match requests.poll_recv(cx) {
                Poll::Ready(Some(request)) => {
                    let Some(engine) = client.upgrade() else {
                        return Poll::Ready(());
                    };
                    let context = CallContext::client(JsonRpcClient::uncounted(engine));
                    let call = Call::with_context(request, context);
                    let answering = answer(service.clone(), call);
                    if answering.0 {
                        notifications.push_back(answering.1);
                    } else {
                        calls.push(answering.1);
                    }
                }
                Poll::Ready(None) => open = false,
                Poll::Pending => break,
            }
        }
        while let Some(first) = notifications.front_mut() {
            if first.as_mut().poll(cx).is_pending() {
                break;
            }
            notifications.pop_front();
        }
        while let Poll::Ready(Some(answer)) = Pin::new(&mut calls).poll_next(cx) {
            if let (Some(answer), Some(engine)) = (answer, client.upgrade()) {
                engine.with_matching(|matching, _, _| {
                    matching.reply(&answer);
                    0
                });
            }
        }
        if !open && calls.is_empty() && notifications.is_empty() {
            return Poll::Ready(());
        }
        Poll::Pending
    })
    .await;
}

/// The answer to `call` (none for a notification); `true` for a
/// notification.
fn answer<S>(service: S, call: Call) -> (bool, Answering)
where
    S: Service<Call, Response = Response> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
{
    let id: Option<Id> = call.id().cloned();
    let method = call.method().to_owned();
    let notification = id.is_none();
    let answering = async move {
        match (service.oneshot(call).await, id) {
            (Ok(answer), Some(_)) => Some(answer),
            (Err(err), Some(id)) => Some(Response::error(id, error_object(err.into()))),
            (Ok(_), None) => None,
            (Err(err), None) => {
                let err: BoxError = err.into();
                tracing::debug!(%method, error = %err, "a notification from the peer failed");
                None
            }
        }
    };
    (notification, Box::pin(answering))
}
