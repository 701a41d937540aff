//! [`Supervisor`]: keeps one child process running and callable.
//!
//! - `mod.rs`: the handle a parent keeps;
//! - `builder.rs`: the settings, and starting the first child;
//! - `task.rs`: the task that watches, restarts and stops the children;
//! - `client.rs`: [`SupervisedClient`], the service that calls whichever
//!   child is current.

mod builder;
mod client;
mod task;

pub use builder::SupervisorBuilder;
pub use client::SupervisedClient;

use std::{fmt, io, process::ExitStatus, sync::Arc};

use tokio::{sync::watch, task::JoinHandle};
use tokio_util::sync::DropGuard;

use crate::Client;
use task::Status;

/// Starts a child process, waits until it is ready, restarts it when it
/// dies, and shuts it down by closing its stdin.
///
/// The child is started with [`ChildProcess::spawn`](super::ChildProcess::spawn): requests and answers
/// on its stdin and stdout through a codec, lifetime events on a pipe of
/// their own. Callers reach whichever child is current through a
/// [`SupervisedClient`], a [`tower::Service`].
///
/// ```no_run
/// use std::time::Duration;
/// use bytes::Bytes;
/// use tokio::process::Command;
/// use tower::{Service, ServiceExt};
/// use tower_ipc::{codec::LengthPrefixed, process::Supervisor};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let supervisor = Supervisor::builder()
///     .ready_timeout(Duration::from_secs(10))
///     .start(|| Command::new("my-worker"), LengthPrefixed::new())
///     .await?;
///
/// let mut client = supervisor.client();
/// let answer: Bytes = client.ready().await?.call(Bytes::from("ping")).await?;
///
/// let status = supervisor.shutdown().await?;
/// # Ok(())
/// # }
/// ```
///
/// # Lifecycle
///
/// 1. [`SupervisorBuilder::start`] makes a command, starts the child and
///    waits for it to report startup complete (or, with
///    [`ready_when_spawned`](SupervisorBuilder::ready_when_spawned), not at
///    all); an error here is returned, not retried.
/// 2. While it runs, calls go to it; its lifetime events are logged.
/// 3. When it exits, or its connection fails (a protocol error), calls in
///    flight fail, new calls wait in the client's queue, and after a backoff
///    a new child is started from a new command, which the client connects
///    to when it next has a call to send (the crate's one reconnect policy);
///    attempts that fail are retried with longer delays. The delay doubles
///    from the minimum up to the maximum of
///    [`restart_backoff`](SupervisorBuilder::restart_backoff), and is back to
///    the minimum once a child has stayed up for the maximum.
/// 4. [`shutdown`](Self::shutdown) stops new calls, lets the connection
///    close (which happens once the calls in flight are answered), and so
///    closes the child's stdin: the child finishes and exits. A child still
///    running after the [grace period](SupervisorBuilder::grace_period) is
///    killed. Dropping the supervisor does the same in the background.
///
/// Children are started with [`Command::kill_on_drop`](tokio::process::Command::kill_on_drop), so none outlives
/// the runtime.
pub struct Supervisor<Req, Resp> {
    program: Arc<str>,
    status: watch::Receiver<Status>,
    /// A handle on the one client of every child, which does not keep it
    /// going: the task holds the one that does, and lets go at shutdown.
    client: Client<Req, Resp>,
    task: JoinHandle<io::Result<Option<ExitStatus>>>,
    stop: DropGuard,
}

impl Supervisor<(), ()> {
    /// Settings for a supervisor; the request and response types come from
    /// the codec given to [`SupervisorBuilder::start`].
    pub fn builder() -> SupervisorBuilder {
        SupervisorBuilder::new()
    }
}

impl<Req, Resp> Supervisor<Req, Resp> {
    /// A handle for calling the current child; cheap to clone.
    pub fn client(&self) -> SupervisedClient<Req, Resp>
    where
        Req: Send + 'static,
        Resp: Send + 'static,
    {
        SupervisedClient::new(
            Arc::clone(&self.program),
            self.client.uncounted(),
            self.status.clone(),
        )
    }

    /// The program, as the first command named it.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The process id of the current child; `None` while none is ready.
    pub fn pid(&self) -> Option<u32> {
        self.status.borrow().pid
    }

    /// How many times a child has been restarted.
    pub fn restarts(&self) -> u64 {
        self.status.borrow().restarts
    }

    /// Shuts the child down (see [Lifecycle](Self#lifecycle)) and returns
    /// how it exited, or `None` if none was running at that moment.
    ///
    /// # Errors
    ///
    /// Fails when the child could not be waited for or killed.
    pub async fn shutdown(self) -> io::Result<Option<ExitStatus>> {
        self.stop.disarm().cancel();
        match self.task.await {
            Ok(result) => result,
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(err) => Err(io::Error::other(format!(
                "the supervisor of `{}` was cancelled: {err}",
                self.program
            ))),
        }
    }
}

impl<Req, Resp> fmt::Debug for Supervisor<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.status.borrow();
        f.debug_struct("Supervisor")
            .field("program", &self.program)
            .field("pid", &status.pid)
            .field("restarts", &status.restarts)
            .field("stopped", &status.stopped)
            .finish()
    }
}
