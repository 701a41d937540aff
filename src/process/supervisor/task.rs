//! The task that watches the current child, restarts it when it dies or its
//! connection fails, and stops it by closing its stdin.

use std::{
    io,
    pin::Pin,
    process::ExitStatus,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use futures::StreamExt;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    process::{Child, Command},
    sync::watch,
    time::Instant,
};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::SupervisorBuilder;
use crate::{
    Client,
    process::{ChildProcess, LifetimeEvent, LifetimeEvents, StartError},
    transport::PipeStream,
};

/// What the supervisor's handles see of the supervision.
#[derive(Debug)]
pub(super) struct Status {
    pub(super) pid: Option<u32>,
    pub(super) restarts: u64,
    pub(super) stopped: bool,
}

/// The connection of a child started and not yet taken by the client.
pub(super) type Next = Arc<Mutex<Option<Watched>>>;

pub(super) struct Task<F, Req, Resp> {
    pub(super) config: SupervisorBuilder,
    pub(super) make_command: F,
    /// The handle that keeps the client going; dropped at shutdown, which
    /// closes the connection once the calls in flight are answered.
    pub(super) client: Option<Client<Req, Resp>>,
    pub(super) next: Next,
    pub(super) status: watch::Sender<Status>,
    pub(super) stop: CancellationToken,
}

/// Why a running child stopped being current.
enum End {
    Stop,
    Exited(io::Result<ExitStatus>),
    ConnectionClosed,
}

impl<F, Req, Resp> Task<F, Req, Resp>
where
    F: FnMut() -> Command + Send + 'static,
{
    pub(super) async fn run(mut self, mut running: Running) -> io::Result<Option<ExitStatus>> {
        let mut backoff = self.config.min_backoff;
        loop {
            let status = match self.watch(&mut running).await {
                End::Stop => return self.shut_down(running).await.map(Some),
                End::Exited(status) => {
                    self.no_child();
                    status
                }
                End::ConnectionClosed => {
                    // The connection failed under a live child (bad input
                    // one way or the other); its stdin is closed now, so it
                    // should exit.
                    self.no_child();
                    running.finish(self.config.grace_period).await
                }
            };
            if running.started.elapsed() >= self.config.max_backoff {
                backoff = self.config.min_backoff;
            }
            match &status {
                Ok(status) => tracing::warn!(
                    program = %running.program, pid = running.pid, %status, delay = ?backoff,
                    "child exited; restarting"
                ),
                Err(err) => tracing::warn!(
                    program = %running.program, pid = running.pid, error = %err, delay = ?backoff,
                    "child lost; restarting"
                ),
            }
            running = match self.restart(&mut backoff).await {
                Some(running) => running,
                None => {
                    // Stopped between two children: none is running.
                    self.status.send_modify(|status| status.stopped = true);
                    self.client = None;
                    return Ok(None);
                }
            };
        }
    }

    /// The current child is gone: its connection, if the client has not
    /// taken it, with it.
    fn no_child(&self) {
        self.next.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.status.send_modify(|status| status.pid = None);
    }

    /// Serves `running` until it exits, its connection closes, or the
    /// supervisor is stopped.
    async fn watch(&mut self, running: &mut Running) -> End {
        loop {
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return End::Stop,
                status = running.child.wait() => return End::Exited(status),
                () = running.connection_closed.cancelled() => return End::ConnectionClosed,
                event = running.events.next(), if running.events_open => running.log(event),
            }
        }
    }

    /// Starts children until one is ready, and hands its connection to the
    /// client; `None` when stopped first.
    async fn restart(&mut self, backoff: &mut Duration) -> Option<Running> {
        loop {
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return None,
                () = tokio::time::sleep(*backoff) => {}
            }
            *backoff = (*backoff * 2).min(self.config.max_backoff);
            let mut command = (self.make_command)();
            let started = tokio::select! {
                biased;
                // Dropping the attempt kills its child.
                () = self.stop.cancelled() => return None,
                started = start_child(&self.config, &mut command) => started,
            };
            match started {
                Ok((running, io)) => {
                    tracing::info!(program = %running.program, pid = running.pid, "child restarted and ready");
                    *self.next.lock().unwrap_or_else(|e| e.into_inner()) = Some(io);
                    self.status.send_modify(|status| {
                        status.pid = running.pid;
                        status.restarts += 1;
                    });
                    return Some(running);
                }
                Err(err) => {
                    tracing::error!(error = %err, delay = ?backoff, "restart failed; trying again");
                }
            }
        }
    }

    /// Lets go of the handle that keeps the client going, which closes its
    /// connection (and the child's stdin) once the calls in flight are
    /// answered, then gives the child the grace period to exit.
    async fn shut_down(&mut self, mut running: Running) -> io::Result<ExitStatus> {
        tracing::info!(program = %running.program, pid = running.pid, "shutting down: closing the child's stdin");
        self.status.send_modify(|status| {
            status.pid = None;
            status.stopped = true;
        });
        self.next.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.client = None;
        let status = running.finish(self.config.grace_period).await;
        if let Ok(status) = &status {
            tracing::info!(program = %running.program, pid = running.pid, %status, "child exited");
        }
        status
    }
}

/// Starts a child from `command` and waits until it is ready; returns it
/// and its connection.
pub(super) async fn start_child(
    config: &SupervisorBuilder,
    command: &mut Command,
) -> Result<(Running, Watched), StartError> {
    let program = crate::transport::child::program(command);
    command.kill_on_drop(true);
    let mut child = ChildProcess::spawn(command).map_err(|err| StartError::spawn(&program, err))?;
    if config.wait_for_startup {
        // On failure the child is dropped, and so killed.
        child.wait_ready(config.ready_timeout).await?;
    }
    let pid = child.id();
    let (io, events, child) = child.into_parts();
    let connection_closed = CancellationToken::new();
    let io = Watched {
        inner: io,
        _closed: connection_closed.clone().drop_guard(),
    };
    let running = Running {
        program,
        pid,
        child,
        events,
        events_open: true,
        connection_closed,
        started: Instant::now(),
    };
    Ok((running, io))
}

/// A child's connection, which tells the supervisor when the client lets
/// go of it (the connection failed, or the client is done with).
pub(super) struct Watched {
    inner: PipeStream,
    _closed: DropGuard,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A child the supervisor watches.
pub(super) struct Running {
    program: String,
    pub(super) pid: Option<u32>,
    child: Child,
    events: LifetimeEvents,
    events_open: bool,
    /// Cancelled when the connection's transport is dropped, which the
    /// client does when the connection fails (or when every handle on it is
    /// gone).
    connection_closed: CancellationToken,
    started: Instant,
}

impl Running {
    /// Waits for the child to exit, logging its lifetime events meanwhile.
    async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            tokio::select! {
                status = self.child.wait() => return status,
                event = self.events.next(), if self.events_open => self.log(event),
            }
        }
    }

    /// Waits for the child to exit for up to `grace`, then kills it.
    async fn finish(&mut self, grace: Duration) -> io::Result<ExitStatus> {
        if let Ok(status) = tokio::time::timeout(grace, self.wait()).await {
            return status;
        }
        tracing::warn!(
            program = %self.program, pid = self.pid, ?grace,
            "child did not exit within the grace period; killing it"
        );
        self.child.kill().await?;
        self.child.wait().await
    }

    fn log(&mut self, event: Option<io::Result<LifetimeEvent>>) {
        match event {
            Some(Ok(event)) => {
                tracing::info!(program = %self.program, pid = self.pid, %event, "child lifetime event");
            }
            Some(Err(err)) => {
                tracing::warn!(program = %self.program, pid = self.pid, error = %err, "bad lifetime event; ignoring the rest");
                self.events_open = false;
            }
            None => self.events_open = false,
        }
    }
}
