//! The signals that ask a server to stop: Ctrl-C everywhere, SIGTERM on Unix.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

#[cfg(unix)]
use tokio::signal::unix::{Signal, SignalKind, signal};
#[cfg(windows)]
use tokio::signal::windows;

/// Completes when the process is asked to stop: Ctrl-C, and on Unix SIGTERM
/// (what `kill`, systemd and container runtimes send), on Windows also the
/// console being closed or the system shutting down. Give it to
/// [`Serve::with_graceful_shutdown`](super::Serve::with_graceful_shutdown).
///
/// The handlers are installed when this is called, not when it is first
/// awaited: a signal that arrives in between is not lost. While they are
/// installed, the signals no longer end the process by themselves. A handler
/// that cannot be installed is logged and left out.
///
/// ```no_run
/// use tower_ipc::{Endpoint, jsonrpc::{JsonRpc, Router}, server::shutdown_signal};
///
/// # async fn run() -> std::io::Result<()> {
/// let listener = Endpoint::new("my-daemon").bind().await?;
/// let summary = tower_ipc::serve(listener, JsonRpc::new(), Router::new())
///     .with_graceful_shutdown(shutdown_signal())
///     .await?;
/// println!("stopped after {} requests", summary.requests_completed);
/// # Ok(())
/// # }
/// ```
///
/// # Panics
///
/// Outside a Tokio runtime with I/O enabled, as Tokio's own signal handlers.
pub fn shutdown_signal() -> ShutdownSignal {
    fn installed<T>(name: &str, handler: std::io::Result<T>) -> Option<T> {
        handler
            .inspect_err(|err| tracing::error!(signal = name, error = %err, "cannot listen for a stop signal"))
            .ok()
    }
    ShutdownSignal {
        #[cfg(unix)]
        handlers: [
            installed("SIGINT", signal(SignalKind::interrupt())),
            installed("SIGTERM", signal(SignalKind::terminate())),
        ],
        #[cfg(windows)]
        ctrl_c: installed("Ctrl-C", windows::ctrl_c()),
        #[cfg(windows)]
        ctrl_close: installed("console close", windows::ctrl_close()),
        #[cfg(windows)]
        ctrl_shutdown: installed("system shutdown", windows::ctrl_shutdown()),
    }
}

/// The future [`shutdown_signal`] returns.
pub struct ShutdownSignal {
    #[cfg(unix)]
    handlers: [Option<Signal>; 2],
    #[cfg(windows)]
    ctrl_c: Option<windows::CtrlC>,
    #[cfg(windows)]
    ctrl_close: Option<windows::CtrlClose>,
    #[cfg(windows)]
    ctrl_shutdown: Option<windows::CtrlShutdown>,
}

impl Future for ShutdownSignal {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        #[cfg(unix)]
        for (handler, name) in self.handlers.iter_mut().zip(["SIGINT", "SIGTERM"]) {
            if let Some(handler) = handler
                && handler.poll_recv(cx).is_ready()
            {
                tracing::info!(signal = name, "asked to stop");
                return Poll::Ready(());
            }
        }
        #[cfg(windows)]
        {
            let this = &mut *self;
            let received = [
                this.ctrl_c.as_mut().map(|h| h.poll_recv(cx).is_ready()),
                this.ctrl_close.as_mut().map(|h| h.poll_recv(cx).is_ready()),
                this.ctrl_shutdown
                    .as_mut()
                    .map(|h| h.poll_recv(cx).is_ready()),
            ];
            let names = ["Ctrl-C", "console close", "system shutdown"];
            if let Some((_, name)) = received.iter().zip(names).find(|(r, _)| **r == Some(true)) {
                tracing::info!(signal = name, "asked to stop");
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }
}

impl fmt::Debug for ShutdownSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownSignal").finish_non_exhaustive()
    }
}
