//! One connection that is already open, served to its end or drained on a
//! signal.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use super::{CloseReason, connection::Signals};

pin_project_lite::pin_project! {
    /// A connection being served: what
    /// [`Server::serve_connection`](super::Server::serve_connection)
    /// returns.
    ///
    /// Completes with `Ok` when the connection ends in order (the peer hung
    /// up, the idle timeout, a [graceful
    /// shutdown](Self::with_graceful_shutdown)) and every request read is
    /// answered, or with the [`CloseReason`] of a failure.
    #[must_use = "futures do nothing unless polled"]
    pub struct ServeConnection<F> {
        #[pin]
        serving: F,
        signals: Signals,
        shutdown_timeout: Option<Duration>,
    }
}

impl<F> ServeConnection<F> {
    pub(super) fn new(serving: F, signals: Signals, shutdown_timeout: Option<Duration>) -> Self {
        Self {
            serving,
            signals,
            shutdown_timeout,
        }
    }
}

impl<F: Future<Output = CloseReason>> ServeConnection<F> {
    /// Drains the connection when `signal` completes, as
    /// [`Serve::with_graceful_shutdown`](super::Serve::with_graceful_shutdown)
    /// drains a server: no more requests are read, those in flight are
    /// answered within the [shutdown
    /// timeout](super::Server::shutdown_timeout) (past it they are given
    /// up: JSON-RPC callers get an error answer, and the connection
    /// ends with [`CloseReason::Aborted`]), then the connection is closed.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use tower::service_fn;
    /// use tower_ipc::{Server, codec::LengthPrefixed};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let (_ours, theirs) = tokio::io::duplex(1024);
    /// let echo = service_fn(|frame: Bytes| async move { Ok::<_, std::io::Error>(frame) });
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// let served = tokio::spawn(
    ///     Server::new()
    ///         .serve_connection(theirs, LengthPrefixed::new(), echo)
    ///         .with_graceful_shutdown(async move { stopped.await.unwrap_or(()) }),
    /// );
    /// stop.send(()).unwrap();
    /// served.await.unwrap()?; // drained: an orderly end
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_graceful_shutdown<G>(
        self,
        signal: G,
    ) -> impl Future<Output = Result<(), CloseReason>> + use<F, G>
    where
        G: Future<Output = ()>,
    {
        let Self {
            serving,
            signals,
            shutdown_timeout,
        } = self;
        async move {
            let mut serving = std::pin::pin!(serving);
            tokio::select! {
                biased;
                reason = &mut serving => return reason.into_result(),
                () = signal => {}
            }
            signals.shutdown.cancel();
            let reason = match shutdown_timeout {
                Some(limit) => match tokio::time::timeout(limit, &mut serving).await {
                    Ok(reason) => reason,
                    Err(_) => {
                        signals.abort.cancel();
                        serving.await
                    }
                },
                None => serving.await,
            };
            reason.into_result()
        }
    }
}

impl<F: Future<Output = CloseReason>> Future for ServeConnection<F> {
    type Output = Result<(), CloseReason>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project()
            .serving
            .poll(cx)
            .map(CloseReason::into_result)
    }
}

impl<F> fmt::Debug for ServeConnection<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeConnection")
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}
