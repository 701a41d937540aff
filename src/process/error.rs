//! The errors of child processes: starting one, and calling one.

use std::{error::Error, fmt, io, process::ExitStatus, sync::Arc, time::Duration};

use super::LifetimeEvent;
use crate::client;

/// A child did not become ready: it could not be started, did not report
/// startup complete in time, exited first, or sent garbage on its lifetime
/// pipe. The message names the program and its pid.
#[derive(Debug)]
pub struct StartError {
    program: String,
    pid: Option<u32>,
    kind: StartKind,
}

#[derive(Debug)]
enum StartKind {
    Spawn(io::Error),
    TimedOut {
        timeout: Duration,
        last: Option<LifetimeEvent>,
        pipe_closed: bool,
    },
    Exited(ExitStatus),
    Lifetime(io::Error),
    Wait(io::Error),
}

impl StartError {
    pub(crate) fn spawn(program: &str, err: io::Error) -> Self {
        Self::new(program, None, StartKind::Spawn(err))
    }

    pub(crate) fn timed_out(
        program: &str,
        pid: Option<u32>,
        timeout: Duration,
        last: Option<LifetimeEvent>,
        pipe_closed: bool,
    ) -> Self {
        let kind = StartKind::TimedOut {
            timeout,
            last,
            pipe_closed,
        };
        Self::new(program, pid, kind)
    }

    pub(crate) fn exited(program: &str, pid: Option<u32>, status: ExitStatus) -> Self {
        Self::new(program, pid, StartKind::Exited(status))
    }

    pub(crate) fn lifetime(program: &str, pid: Option<u32>, err: io::Error) -> Self {
        Self::new(program, pid, StartKind::Lifetime(err))
    }

    pub(crate) fn wait(program: &str, pid: Option<u32>, err: io::Error) -> Self {
        Self::new(program, pid, StartKind::Wait(err))
    }

    fn new(program: &str, pid: Option<u32>, kind: StartKind) -> Self {
        Self {
            program: program.to_owned(),
            pid,
            kind,
        }
    }

    /// The program, as the command named it.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The child did not report startup complete within the time allowed.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, StartKind::TimedOut { .. })
    }

    /// How the child exited, if it exited before it was ready.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        match self.kind {
            StartKind::Exited(status) => Some(status),
            _ => None,
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let program = &self.program;
        let child = match self.pid {
            Some(pid) => format!("`{program}` (pid {pid})"),
            None => format!("`{program}`"),
        };
        match &self.kind {
            // The spawn error names the program already.
            StartKind::Spawn(err) => write!(f, "{err}"),
            StartKind::TimedOut {
                timeout,
                last,
                pipe_closed,
            } => {
                write!(
                    f,
                    "{child} did not report startup complete within {timeout:?}"
                )?;
                match last {
                    Some(event) => write!(f, "; its last lifetime event was {event}")?,
                    None => f.write_str("; it reported no lifetime event")?,
                }
                if *pipe_closed {
                    f.write_str(", and it has closed its lifetime pipe")?;
                }
                Ok(())
            }
            StartKind::Exited(status) => {
                write!(
                    f,
                    "{child} exited ({status}) before reporting startup complete"
                )
            }
            StartKind::Lifetime(err) => write!(f, "{child} sent a bad lifetime event: {err}"),
            StartKind::Wait(err) => write!(f, "cannot wait for {child}: {err}"),
        }
    }
}

impl Error for StartError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.kind {
            StartKind::Spawn(err) | StartKind::Lifetime(err) | StartKind::Wait(err) => Some(err),
            StartKind::TimedOut { .. } | StartKind::Exited(_) => None,
        }
    }
}

impl From<StartError> for io::Error {
    fn from(err: StartError) -> Self {
        let kind = match &err.kind {
            StartKind::Spawn(source) | StartKind::Lifetime(source) | StartKind::Wait(source) => {
                source.kind()
            }
            StartKind::TimedOut { .. } => io::ErrorKind::TimedOut,
            StartKind::Exited(_) => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

/// Why a call through a [`SupervisedClient`](super::SupervisedClient)
/// failed. The message names the program.
#[derive(Clone, Debug)]
pub struct SupervisedCallError {
    program: Arc<str>,
    kind: CallKind,
}

#[derive(Clone, Debug)]
enum CallKind {
    /// The supervisor was shut down.
    Stopped,
    /// The connection to the child failed (it crashed, or was restarted).
    Client(client::Error),
}

impl SupervisedCallError {
    pub(crate) fn stopped(program: Arc<str>) -> Self {
        Self {
            program,
            kind: CallKind::Stopped,
        }
    }

    pub(crate) fn client(program: Arc<str>, err: client::Error) -> Self {
        Self {
            program,
            kind: CallKind::Client(err),
        }
    }

    /// The supervisor has been shut down: no call will succeed again.
    pub fn is_stopped(&self) -> bool {
        matches!(self.kind, CallKind::Stopped)
    }

    /// The child's connection went away before the answer came (the child
    /// crashed or is being restarted): the request may or may not have been
    /// carried out. A later call goes to the next child.
    pub fn is_closed(&self) -> bool {
        matches!(&self.kind, CallKind::Client(err) if err.is_closed())
    }

    /// `call` was made without a successful `poll_ready` first.
    pub fn is_not_ready(&self) -> bool {
        matches!(&self.kind, CallKind::Client(err) if err.is_not_ready())
    }

    /// The client error underneath, if the call reached a child.
    pub fn client_error(&self) -> Option<&client::Error> {
        match &self.kind {
            CallKind::Client(err) => Some(err),
            CallKind::Stopped => None,
        }
    }
}

impl fmt::Display for SupervisedCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            CallKind::Stopped => write!(f, "the supervisor of `{}` has stopped", self.program),
            CallKind::Client(err) => write!(f, "call to `{}` failed: {err}", self.program),
        }
    }
}

impl Error for SupervisedCallError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.kind {
            CallKind::Client(err) => Some(err),
            CallKind::Stopped => None,
        }
    }
}
