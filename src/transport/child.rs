//! The parent's side: starting a child process and talking to it over pipes.
//!
//! [`spawn`] starts a program with its stdin and stdout connected to the
//! returned [`PipeStream`]; the child serves on
//! [`PipeStream::stdio`]. Its stderr is left as the command says (inherited
//! unless configured), so the child can log there.
//!
//! [`ChildPipes`] is the other arrangement, decred's: two extra pipes handed
//! to the child by number (`--piperx 3 --pipetx 4`), leaving the child's
//! stdio alone; the child serves on
//! [`PipeStream::from_raw`].
//!
//! Either way, closing the connection (shutting down its write side, or
//! dropping it) tells the child to stop: it reads end-of-stream, answers
//! what it already read, and exits. The returned [`Child`] is there to wait
//! for that, or to kill the child if it does not.

use std::{fs::File, io, path::Path, process::Stdio};

use tokio::process::{Child, Command};

use super::PipeStream;
use crate::sys::{self, Access};

/// The variable that names a child's lifetime pipe, public as
/// [`process::LIFETIME_PIPE_ENV`](crate::process::LIFETIME_PIPE_ENV). It is
/// known here so that every spawn keeps it from the children it was not set
/// for.
pub(crate) const LIFETIME_PIPE_ENV: &str = "TOWER_IPC_LIFETIME_PIPE";

/// Starts `command` with its stdin and stdout piped to the returned
/// connection; its stderr is left as configured (inherited by default).
///
/// ```no_run
/// use bytes::Bytes;
/// use tokio::process::Command;
/// use tokio_util::codec::Framed;
/// use tower::{Service, ServiceExt};
/// use tower_ipc::{Client, codec::LengthPrefixed, transport::child};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let mut command = Command::new("my-worker");
/// command.kill_on_drop(true);
/// let (io, mut process) = child::spawn(&mut command)?;
///
/// let mut client = Client::new(Framed::new(io, LengthPrefixed::new()));
/// let answer = client.ready().await?.call(Bytes::from("ping")).await?;
///
/// drop(client); // closes the child's stdin: it finishes and exits
/// let status = process.wait().await?;
/// # Ok(())
/// # }
/// ```
///
/// The command's stdin and stdout settings are replaced (and reset to
/// null after the spawn, so the command keeps no pipe open), and the
/// returned [`Child`] has no `stdin`/`stdout` handles: the connection owns
/// both pipes. The child does not inherit
/// [`LIFETIME_PIPE_ENV`](crate::process::LIFETIME_PIPE_ENV), which could
/// only name a pipe meant for this process. Consider
/// [`Command::kill_on_drop`], so that a child is not left running when the
/// parent lets go of it.
///
/// # Errors
///
/// Fails when the pipes cannot be made or the program cannot be started,
/// naming the program.
///
/// # Panics
///
/// Panics outside a Tokio runtime.
pub fn spawn(command: &mut Command) -> io::Result<(PipeStream, Child)> {
    forget_lifetime_pipe(command);
    spawn_stdio(command, &[])
}

/// Two pipes to hand a child by number, decred style: the child reads
/// requests from one and writes answers to the other, and its stdio stays
/// free (for a terminal, or for logs).
///
/// Tell the child the [`child_read`](Self::child_read) and
/// [`child_write`](Self::child_write) numbers (on its command line, say),
/// then [`spawn`](Self::spawn) it; it takes the pipes over with
/// [`PipeStream::from_raw`].
///
/// ```no_run
/// use tokio::process::Command;
/// use tower_ipc::transport::ChildPipes;
///
/// # fn run() -> std::io::Result<()> {
/// let pipes = ChildPipes::new()?;
/// let mut command = Command::new("my-worker");
/// command
///     .arg("--piperx")
///     .arg(pipes.child_read().to_string())
///     .arg("--pipetx")
///     .arg(pipes.child_write().to_string());
/// let (io, child) = pipes.spawn(&mut command)?;
/// # Ok(())
/// # }
/// ```
///
/// Only the child started with [`spawn`](Self::spawn) inherits the pipes. On
/// Windows, a child that another part of the program starts at the same
/// moment, without this crate, may inherit them too (Windows hands every
/// inheritable handle to every child); the only effect is that this side
/// sees end-of-stream late, when that other child exits as well.
#[derive(Debug)]
pub struct ChildPipes {
    /// The child's ends, open until the child is started.
    child_read: File,
    child_write: File,
    /// Ours.
    requests: File,
    answers: File,
}

impl ChildPipes {
    /// Makes the two pipes.
    ///
    /// # Errors
    ///
    /// Fails when the system refuses a pipe (out of descriptors or
    /// handles).
    pub fn new() -> io::Result<Self> {
        let (child_read, requests) = sys::pipe()?;
        let (answers, child_write) = sys::pipe()?;
        Ok(Self {
            child_read: sys::for_child(child_read)?,
            child_write: sys::for_child(child_write)?,
            requests,
            answers,
        })
    }

    /// The number under which the child reads requests: a descriptor on
    /// Unix, a handle value on Windows.
    pub fn child_read(&self) -> u64 {
        sys::number(&self.child_read)
    }

    /// The number under which the child writes answers.
    pub fn child_write(&self) -> u64 {
        sys::number(&self.child_write)
    }

    /// Starts `command` with the two pipes, and returns this side's
    /// connection to it.
    ///
    /// The command's stdio is left as configured. On Unix, a hook runs in
    /// the child before `exec` to keep the two descriptors open; it does
    /// nothing on later spawns from the same command.
    ///
    /// # Errors
    ///
    /// Fails when the program cannot be started, naming it.
    ///
    /// # Panics
    ///
    /// Panics outside a Tokio runtime.
    pub fn spawn(self, command: &mut Command) -> io::Result<(PipeStream, Child)> {
        forget_lifetime_pipe(command);
        let child = sys::spawn_inheriting(command, &[&self.child_read, &self.child_write])
            .map_err(|err| start_error(command, err))?;
        // Our copies of the child's ends go now, so that the child's exit
        // is the end of our read pipe.
        drop((self.child_read, self.child_write));
        let io = PipeStream::from_files(self.answers, self.requests)?;
        Ok((io, child))
    }
}

/// A pipe end only the next child started through [`spawn_with`] inherits.
/// The process module hands the lifetime pipe over this way.
pub(crate) struct InheritedPipe {
    child_end: File,
}

impl InheritedPipe {
    /// A pipe whose `child_access` end goes to the child; returns this
    /// side's end too.
    pub(crate) fn new(child_access: Access) -> io::Result<(File, Self)> {
        let (read, write) = sys::pipe()?;
        let (ours, theirs) = match child_access {
            Access::Read => (write, read),
            Access::Write => (read, write),
        };
        let child_end = sys::for_child(theirs)?;
        Ok((ours, Self { child_end }))
    }

    /// The number the child finds it under.
    pub(crate) fn number(&self) -> u64 {
        sys::number(&self.child_end)
    }

    /// What the child checks it against, before taking it over.
    pub(crate) fn identity(&self) -> io::Result<String> {
        sys::identity(&self.child_end)
    }
}

/// [`spawn`], with `extra` inherited too.
pub(crate) fn spawn_with(
    command: &mut Command,
    extra: InheritedPipe,
) -> io::Result<(PipeStream, Child)> {
    // `extra` is dropped on return: our copy of the child's end is closed.
    spawn_stdio(command, &[&extra.child_end])
}

fn spawn_stdio(command: &mut Command, extra: &[&File]) -> io::Result<(PipeStream, Child)> {
    let (child_stdin, requests) = sys::pipe().map_err(|err| pipe_error(command, err))?;
    let (answers, child_stdout) = sys::pipe().map_err(|err| pipe_error(command, err))?;
    command
        .stdin(Stdio::from(child_stdin))
        .stdout(Stdio::from(child_stdout));
    let spawned = sys::spawn_inheriting(command, extra);
    // The command holds the child's ends until told otherwise; while it
    // does, we would never see the child close its stdout.
    command.stdin(Stdio::null()).stdout(Stdio::null());
    let child = spawned.map_err(|err| start_error(command, err))?;
    let io = PipeStream::from_files(answers, requests)?;
    Ok((io, child))
}

/// A child started without a lifetime pipe must not find a variable that
/// names ours (inherited from our parent), which it would take for its own.
fn forget_lifetime_pipe(command: &mut Command) {
    command.env_remove(LIFETIME_PIPE_ENV);
}

/// The program a command runs, for messages.
pub(crate) fn program(command: &Command) -> String {
    Path::new(command.as_std().get_program())
        .display()
        .to_string()
}

fn start_error(command: &Command, err: io::Error) -> io::Error {
    io::Error::new(
        err.kind(),
        format!("cannot start `{}`: {err}", program(command)),
    )
}

fn pipe_error(command: &Command, err: io::Error) -> io::Error {
    io::Error::new(
        err.kind(),
        format!("cannot make the pipes for `{}`: {err}", program(command)),
    )
}
