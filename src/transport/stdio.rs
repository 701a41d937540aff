//! The child's side: serving on this process's stdin and stdout.
//!
//! (The other way for a child to get its connection, pipes inherited by
//! number, is [`PipeStream::from_raw`]; being `unsafe`, it lives in the
//! crate's `sys` module with the rest of the unsafe code.)

use std::{fs::File, io};

use super::PipeStream;

impl PipeStream {
    /// This process's stdin and stdout as one connection: what a child
    /// started with [`child::spawn`](super::child::spawn) serves on.
    ///
    /// ```no_run
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
    ///         Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
    ///         result => result,
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
