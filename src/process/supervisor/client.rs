//! [`SupervisedClient`]: calls whichever child is current, through the one
//! client of every child, which connects to the next child when the current
//! one is gone.

use std::{
    fmt, io,
    sync::Arc,
    task::{Context, Poll},
};

use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio_util::codec::Framed;
use tower::Service;

use super::task::{Next, Status, Watched};
use crate::{
    Client,
    client::engine::{Connect, ConnectWith},
    process::{SupervisedCallError, future::ResponseFuture},
};

/// A handle for calling whichever child a [`Supervisor`](super::Supervisor)
/// is running: a [`tower::Service`] that sends each request to the current
/// child.
///
/// All handles share one [`Client`]: when a child is gone, calls in flight
/// fail, and the next call waits (in its response, so a `tower` timeout
/// bounds the wait) until a new child is ready, then goes to it. This is
/// the reconnect policy every client of the crate has.
///
/// # Backpressure
///
/// As [`Client`]'s: `poll_ready` reserves a place in the shared queue, and
/// waits while none is free.
///
/// # Errors
///
/// A call fails with a [`SupervisedCallError`]: when the child goes away before
/// answering ([`is_closed`](SupervisedCallError::is_closed); the next call goes to
/// the next child), or once the supervisor has stopped
/// ([`is_stopped`](SupervisedCallError::is_stopped), also from `poll_ready`).
///
/// A handle does not keep a connection open: at shutdown the supervisor
/// lets the connection close (and with it the child's stdin) once the calls
/// in flight are answered, whatever handles are left.
pub struct SupervisedClient<Req, Resp> {
    program: Arc<str>,
    client: Client<Req, Resp>,
    status: watch::Receiver<Status>,
}

impl<Req, Resp> SupervisedClient<Req, Resp> {
    pub(super) fn new(
        program: Arc<str>,
        client: Client<Req, Resp>,
        status: watch::Receiver<Status>,
    ) -> Self {
        Self {
            program,
            client,
            status,
        }
    }

    fn stopped(&self) -> bool {
        self.status.borrow().stopped
    }
}

impl<Req, Resp> Clone for SupervisedClient<Req, Resp> {
    fn clone(&self) -> Self {
        Self {
            program: Arc::clone(&self.program),
            client: self.client.uncounted(),
            status: self.status.clone(),
        }
    }
}

impl<Req, Resp> fmt::Debug for SupervisedClient<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisedClient")
            .field("program", &self.program)
            .field("stopped", &self.stopped())
            .finish()
    }
}

impl<Req, Resp> Service<Req> for SupervisedClient<Req, Resp>
where
    Req: Send + 'static,
    Resp: Send + 'static,
{
    type Response = Resp;
    type Error = SupervisedCallError;
    type Future = ResponseFuture<Resp>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SupervisedCallError>> {
        if self.stopped() {
            return Poll::Ready(Err(SupervisedCallError::stopped(Arc::clone(&self.program))));
        }
        self.client.poll_ready(cx).map_err(|err| {
            if self.stopped() {
                SupervisedCallError::stopped(Arc::clone(&self.program))
            } else {
                SupervisedCallError::client(Arc::clone(&self.program), err)
            }
        })
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let answer = self.client.call(request);
        ResponseFuture::waiting(answer, Arc::clone(&self.program))
    }
}

/// How the supervisor's client connects again: to the next child the task
/// starts, once it is ready; never once the supervisor has stopped.
pub(super) fn connect_to_children<C>(
    program: Arc<str>,
    next: Next,
    status: watch::Receiver<Status>,
    codec: C,
) -> Box<dyn Connect<Framed<Watched, C>>>
where
    C: Clone + Send + 'static,
{
    Box::new(ConnectWith(move || {
        let (program, next, mut status, codec) = (
            Arc::clone(&program),
            Arc::clone(&next),
            status.clone(),
            codec.clone(),
        );
        Box::pin(async move {
            loop {
                if status.borrow_and_update().stopped {
                    break;
                }
                if let Some(io) = next.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    return Ok(Framed::new(io, codec));
                }
                if status.changed().await.is_err() {
                    break;
                }
            }
            Err(io::Error::other(SupervisedCallError::stopped(program)))
        }) as BoxFuture<'static, io::Result<_>>
    }))
}
