//! The child's side: a connection to the parent over what this process
//! inherited from it, its stdin and stdout or two pipes given by number.

use std::{fs::File, io};

use super::PipeStream;
use crate::sys;

impl PipeStream {
    /// This process's stdin and stdout as one connection: what a child
    /// started with [`child::spawn`](super::child::spawn) serves on.
    ///
    /// ```no_run
    /// use std::io::ErrorKind;
    ///
    /// use tower::service_fn;
    /// use tower_ipc::{Server, codec::LengthPrefixed, transport::PipeStream};
    ///
    /// #[tokio::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let echo = service_fn(|frame| async move { Ok::<_, std::io::Error>(frame) });
    ///     // Runs until the parent closes our stdin (or dies) and every
    ///     // request read before that is answered.
    ///     let stdio = PipeStream::stdio()?;
    ///     match Server::new().serve_connection(stdio, LengthPrefixed::new(), echo).await {
    ///         // The parent went away before it could read the last answers.
    ///         Err(reason) if reason.io_error().map(|e| e.kind()) == Some(ErrorKind::BrokenPipe) => Ok(()),
    ///         served => Ok(served?), // why it failed, as an io::Error
    ///     }
    /// }
    /// ```
    ///
    /// The stream works on duplicates of the two descriptors (handles), and
    /// closing it closes only those. Once it exists, stdout belongs to the
    /// protocol: anything else printed there corrupts it, so send logs to
    /// stderr. On Unix, a stdin or stdout that is a pipe is switched to
    /// non-blocking mode, which std's own `stdin()` and `stdout()` do not
    /// expect: do not use them while or after serving.
    ///
    /// When the parent closes its end of stdin or dies, reading ends;
    /// answers written after the parent died fail with
    /// [`BrokenPipe`](io::ErrorKind::BrokenPipe), never with a signal or a
    /// panic (Rust programs ignore `SIGPIPE`).
    ///
    /// # Errors
    ///
    /// Fails when this process has no stdin or stdout to duplicate, naming
    /// which.
    ///
    /// # Panics
    ///
    /// Panics outside a Tokio runtime.
    pub fn stdio() -> io::Result<Self> {
        let stdin = duplicate_stdio("stdin", std::io::stdin())?;
        let stdout = duplicate_stdio("stdout", std::io::stdout())?;
        PipeStream::from_files(stdin, stdout)
    }

    /// A connection over two pipes this process inherited, given by number:
    /// it reads requests from `read` and writes answers to `write`. This is
    /// decred's `--piperx`/`--pipetx` arrangement; the parent side is
    /// [`ChildPipes`](crate::transport::ChildPipes).
    ///
    /// A number is a file descriptor on Unix and a handle value on Windows.
    /// Both are checked before anything is taken over: they must differ,
    /// name open pipes (on Unix: open for reading and for writing
    /// respectively), and not be this process's stdin, stdout or stderr
    /// (serve on those with [`PipeStream::stdio`]). Once taken over, they
    /// are no longer inherited by the children this process starts.
    ///
    /// ```no_run
    /// use tower::service_fn;
    /// use tower_ipc::{Server, codec::LengthPrefixed, transport::PipeStream};
    ///
    /// # async fn run(piperx: u64, pipetx: u64) -> std::io::Result<()> {
    /// // Numbers the parent passed on the command line: `--piperx 3 --pipetx 4`.
    /// // SAFETY: the parent opened these for this process, and nothing else
    /// // in it uses them.
    /// let pipes = unsafe { PipeStream::from_raw(piperx, pipetx)? };
    /// let echo = service_fn(|frame| async move { Ok::<_, std::io::Error>(frame) });
    /// Server::new().serve_connection(pipes, LengthPrefixed::new(), echo).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Safety
    ///
    /// The numbers must be this process's to own: inherited from the parent
    /// for this purpose, not taken over or used by anything else in the
    /// process, then or later. A wrong number that passes the checks (an
    /// unrelated pipe this process opened) would be closed under its owner.
    ///
    /// # Errors
    ///
    /// Fails, naming the number, when a check fails; nothing is taken over
    /// then.
    ///
    /// # Panics
    ///
    /// Panics outside a Tokio runtime.
    // The crate's only `unsafe` outside `sys`, which needs nothing of this
    // layer: the declaration of the caller's duty, and the one call that
    // passes it on to `sys::take_pipes`, where the checks and the taking
    // over are.
    #[allow(unsafe_code)]
    pub unsafe fn from_raw(read: u64, write: u64) -> io::Result<Self> {
        // SAFETY: the caller's guarantee is the one `take_pipes` needs.
        let (read, write) = unsafe { sys::take_pipes(read, write)? };
        PipeStream::from_files(read, write)
    }
}

#[cfg(unix)]
fn duplicate_stdio(name: &str, stdio: impl std::os::fd::AsFd) -> io::Result<File> {
    let fd = stdio.as_fd().try_clone_to_owned();
    fd.map(File::from).map_err(|err| stdio_error(name, err))
}

#[cfg(windows)]
fn duplicate_stdio(name: &str, stdio: impl std::os::windows::io::AsHandle) -> io::Result<File> {
    let handle = stdio.as_handle().try_clone_to_owned();
    handle.map(File::from).map_err(|err| stdio_error(name, err))
}

fn stdio_error(name: &str, err: io::Error) -> io::Error {
    io::Error::new(
        err.kind(),
        format!("cannot use this process's {name} as a pipe: {err}"),
    )
}
