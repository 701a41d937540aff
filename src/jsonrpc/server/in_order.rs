//! Notifications handled one at a time in the order they arrived, and each
//! request held until the notifications read before it are handled (a
//! language server's hover sees the `didChange` sent before it).

use std::future::Future;

use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};
use tower::{BoxError, Service, ServiceExt};

use crate::jsonrpc::{Call, Response};

/// A connection's queue of notifications, handled by a task of their own.
pub(super) struct InOrder {
    queue: mpsc::Sender<Call>,
    /// Notifications read on the connection so far.
    read: u64,
    /// How many of them the task has handled.
    handled: watch::Receiver<u64>,
}

impl InOrder {
    /// Starts the task that handles the notifications with `service`; it
    /// ends once the queue is dropped and emptied. Up to `capacity` wait in
    /// the queue; past that, reading the connection waits for room.
    pub(super) fn start<S>(service: S, capacity: usize) -> (Self, JoinHandle<()>)
    where
        S: Service<Call, Response = Response> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError> + Send + 'static,
    {
        let (queue, mut queued) = mpsc::channel::<Call>(capacity.max(1));
        let (count, handled) = watch::channel(0);
        let task = tokio::spawn(async move {
            while let Some(notification) = queued.recv().await {
                let method = notification.method().to_owned();
                if let Err(err) = service.clone().oneshot(notification).await {
                    let err: BoxError = err.into();
                    tracing::debug!(%method, error = %err, "notification failed");
                }
                count.send_modify(|handled| *handled += 1);
            }
        });
        let in_order = Self {
            queue,
            read: 0,
            handled,
        };
        (in_order, task)
    }

    /// Queues a notification read now behind the ones read before it: the
    /// future completes once it is queued.
    pub(super) fn notification(&mut self, call: Call) -> impl Future<Output = ()> + Send + 'static {
        self.read += 1;
        let queue = self.queue.clone();
        async move {
            // The task is gone only once the connection is: nothing to do.
            let _ = queue.send(call).await;
        }
    }

    /// Whether every notification read so far is handled: a request read
    /// now can start at once.
    pub(super) fn caught_up(&self) -> bool {
        *self.handled.borrow() >= self.read
    }

    /// For a request read now: completes once every notification read
    /// before it is handled (or their task is gone).
    pub(super) fn barrier(&self) -> impl Future<Output = ()> + Send + 'static {
        let read = self.read;
        let mut handled = self.handled.clone();
        async move {
            let _ = handled.wait_for(|handled| *handled >= read).await;
        }
    }
}
