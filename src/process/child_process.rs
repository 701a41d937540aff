//! [`ChildProcess`]: a child on stdio pipes that reports its lifetime.

use std::{fmt, io, time::Duration};

use futures::StreamExt;
use tokio::{
    process::{Child, Command},
    time::Instant,
};

use super::{LIFETIME_PIPE_ENV, LifetimeEvent, LifetimeEvents, StartError};
use crate::{
    sys::Access,
    transport::{
        PipeStream, ReadPipe,
        child::{InheritedPipe, program, spawn_with},
    },
};

/// A child process started with a connection on its stdin and stdout, as
/// with [`child::spawn`](crate::transport::child::spawn), and a third pipe
/// on which it reports its [`LifetimeEvent`]s.
///
/// The child finds that pipe through [`LIFETIME_PIPE_ENV`] and reports with
/// a [`LifetimeReporter`](super::LifetimeReporter). The parent
/// [waits](Self::wait_ready) for "startup complete" before it sends
/// requests, then takes the connection and the rest with
/// [`into_parts`](Self::into_parts).
///
/// ```no_run
/// use std::time::Duration;
/// use tokio::process::Command;
/// use tokio_util::codec::Framed;
/// use tower_ipc::{Client, codec::LengthPrefixed, process::ChildProcess};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let mut command = Command::new("my-worker");
/// command.kill_on_drop(true);
/// let mut child = ChildProcess::spawn(&mut command)?;
/// child.wait_ready(Duration::from_secs(10)).await?;
///
/// let (io, events, process) = child.into_parts();
/// let client = Client::new(Framed::new(io, LengthPrefixed::new()));
/// # Ok(())
/// # }
/// ```
///
/// Why a third pipe rather than messages mixed into stdout: the request
/// channel stays a plain byte stream for any codec, the events reach the
/// parent while the child is not yet (or no longer) serving, and it is the
/// arrangement of decred's node, whose `--pipetx` pipe carries the same
/// messages.
pub struct ChildProcess {
    program: String,
    io: PipeStream,
    events: LifetimeEvents,
    /// Set once the events stream has ended.
    events_closed: bool,
    last_event: Option<LifetimeEvent>,
    ready: bool,
    child: Child,
}

impl ChildProcess {
    /// Starts `command` with stdin and stdout piped to this side, stderr as
    /// configured (inherited by default), and the lifetime pipe named in its
    /// environment as [`LIFETIME_PIPE_ENV`].
    ///
    /// As with [`child::spawn`](crate::transport::child::spawn), the command
    /// keeps no pipe open afterwards, and only this child inherits the
    /// lifetime pipe. Consider [`Command::kill_on_drop`].
    ///
    /// # Errors
    ///
    /// Fails when the pipes cannot be made or the program cannot be
    /// started, naming the program.
    ///
    /// # Panics
    ///
    /// Panics outside a Tokio runtime.
    pub fn spawn(command: &mut Command) -> io::Result<Self> {
        let program = program(command);
        let pipe_error = |err: io::Error| {
            io::Error::new(
                err.kind(),
                format!("cannot make the lifetime pipe for `{program}`: {err}"),
            )
        };
        let (ours, theirs) = InheritedPipe::new(Access::Write).map_err(pipe_error)?;
        let identity = theirs.identity().map_err(pipe_error)?;
        let value = format!("{}:{identity}", theirs.number());
        command.env(LIFETIME_PIPE_ENV, value);
        let spawned = spawn_with(command, theirs);
        // A later spawn from the same command must not name a closed pipe.
        command.env_remove(LIFETIME_PIPE_ENV);
        let (io, child) = spawned?;
        Ok(Self {
            program,
            io,
            events: LifetimeEvents::new(ReadPipe::new(ours)?),
            events_closed: false,
            last_event: None,
            ready: false,
            child,
        })
    }

    /// The program, as the command named it.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The child's process id, until it has been waited for.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits until the child reports [`StartupComplete`](LifetimeEvent::StartupComplete),
    /// at most `timeout`. The startup steps it reports meanwhile are logged
    /// (`tracing`, debug level). Returns at once if it already did.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future loses no event, and a later call
    /// goes on where it stopped.
    ///
    /// # Errors
    ///
    /// A [`StartError`] naming the program and its pid: the child did not
    /// report startup complete in time ([`is_timeout`](StartError::is_timeout);
    /// the message gives the last step it reported), it exited first
    /// ([`exit_status`](StartError::exit_status)), or it wrote something on
    /// the lifetime pipe that is not a lifetime event. The child is left
    /// running: kill it, or wait longer.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<(), StartError> {
        if self.ready {
            return Ok(());
        }
        let pid = self.id();
        // A timeout too large to add up means "wait as long as it takes".
        let deadline = Instant::now().checked_add(timeout);
        let expired = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(expired);
        loop {
            tokio::select! {
                // An event sent just before exiting still counts.
                biased;
                event = self.events.next(), if !self.events_closed => match event {
                    Some(Ok(LifetimeEvent::StartupComplete)) => {
                        tracing::debug!(program = %self.program, ?pid, "child is ready");
                        self.ready = true;
                        return Ok(());
                    }
                    Some(Ok(event)) => {
                        tracing::debug!(program = %self.program, ?pid, %event, "child starting");
                        self.last_event = Some(event);
                    }
                    Some(Err(err)) => {
                        return Err(StartError::lifetime(&self.program, pid, err));
                    }
                    None => self.events_closed = true,
                },
                status = self.child.wait() => {
                    return Err(match status {
                        Ok(status) => StartError::exited(&self.program, pid, status),
                        Err(err) => StartError::wait(&self.program, pid, err),
                    });
                }
                () = &mut expired => {
                    return Err(StartError::timed_out(
                        &self.program,
                        pid,
                        timeout,
                        self.last_event,
                        self.events_closed,
                    ));
                }
            }
        }
    }

    /// The connection, the rest of the lifetime events (the shutdown steps,
    /// later), and the process handle.
    ///
    /// Keep reading the events or drop them: a child whose reports nobody
    /// reads blocks once the pipe's buffer is full, while one whose reports
    /// go to a closed pipe just gets errors.
    pub fn into_parts(self) -> (PipeStream, LifetimeEvents, Child) {
        (self.io, self.events, self.child)
    }
}

impl fmt::Debug for ChildProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildProcess")
            .field("program", &self.program)
            .field("pid", &self.id())
            .field("ready", &self.ready)
            .field("last_event", &self.last_event)
            .finish_non_exhaustive()
    }
}
