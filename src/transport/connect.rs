use std::{io, time::Duration};

use tokio::net::TcpStream;
use tokio::time::Instant;

use super::endpoint::{Addr, Endpoint};
use super::error::{Action, endpoint_error};
use super::{ConnectOptions, IpcStream};

/// `ERROR_PIPE_BUSY`: every instance of the pipe is connected.
const ERROR_PIPE_BUSY: i32 = 231;

/// How long a single connect waits for a busy endpoint to take it.
pub(crate) const BUSY_WAIT: Duration = Duration::from_secs(5);

const FIRST_BACKOFF: Duration = Duration::from_millis(1);
/// The longest pause between two attempts on a busy endpoint: a listener
/// re-arms a pipe instance, or makes room in its socket's queue, within
/// microseconds of accepting.
const MAX_BUSY_BACKOFF: Duration = Duration::from_millis(10);
/// The longest pause between two attempts while no server is there.
const MAX_BACKOFF: Duration = Duration::from_millis(100);

/// Connects as `options` say: once, waiting out a busy endpoint for up to
/// [`BUSY_WAIT`], or retrying every transient failure until their timeout.
pub(crate) async fn connect(
    endpoint: &Endpoint,
    options: &ConnectOptions,
) -> io::Result<IpcStream> {
    let start = Instant::now();
    let (wait, retry): (Duration, fn(&io::Error) -> bool) = match options.retry_for() {
        Some(timeout) => (timeout, is_transient),
        None => (BUSY_WAIT, is_busy),
    };
    // A wait too long to add up means "wait as long as it takes".
    let deadline = start.checked_add(wait);
    let mut backoff = FIRST_BACKOFF;
    loop {
        let err = match attempt(endpoint, options).await {
            Ok(stream) => return Ok(stream),
            Err(err) if retry(&err) => err,
            Err(err) => return Err(endpoint_error(Action::Connect, endpoint, explain(err))),
        };
        let now = Instant::now();
        if deadline.is_some_and(|deadline| now >= deadline) {
            let waited = now - start;
            let err = match options.retry_for() {
                Some(_) => io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no server accepted the connection within {waited:.1?}; last attempt: {}",
                        explain(err)
                    ),
                ),
                None => io::Error::new(
                    err.kind(),
                    format!("{} for {waited:.1?}: {err}", busy_hint(&err)),
                ),
            };
            return Err(endpoint_error(Action::Connect, endpoint, err));
        }
        tracing::trace!(%endpoint, error = %err, ?backoff, "connect failed; retrying");
        let wake = now + backoff;
        tokio::time::sleep_until(deadline.map_or(wake, |deadline| deadline.min(wake))).await;
        let max = if is_busy(&err) {
            MAX_BUSY_BACKOFF
        } else {
            MAX_BACKOFF
        };
        backoff = (backoff * 2).min(max);
    }
}

async fn attempt(endpoint: &Endpoint, options: &ConnectOptions) -> io::Result<IpcStream> {
    match endpoint.addr() {
        #[cfg(unix)]
        Addr::Path(path) => {
            super::unix::check_path_len(path)?;
            Ok(tokio::net::UnixStream::connect(path).await?.into())
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Addr::Abstract(name) => {
            let path = super::unix::abstract_path(name)?;
            Ok(tokio::net::UnixStream::connect(path).await?.into())
        }
        #[cfg(windows)]
        Addr::Pipe(name) => super::windows::connect(name, options),
        Addr::Tcp(addr) => {
            options.check_bytes_only("TCP")?;
            let stream = TcpStream::connect(addr.as_str()).await?;
            super::tcp::configure(&stream);
            Ok(stream.into())
        }
    }
}

/// A server that exists but has no room: every pipe instance is taken, or
/// a Unix socket's queue of connections waiting to be accepted is full.
fn is_busy(err: &io::Error) -> bool {
    err.raw_os_error() == Some(ERROR_PIPE_BUSY)
        || (cfg!(unix) && err.kind() == io::ErrorKind::WouldBlock)
}

/// Failures a server that is starting, restarting or busy causes.
fn is_transient(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
    ) || is_busy(err)
}

fn busy_hint(err: &io::Error) -> &'static str {
    if err.raw_os_error() == Some(ERROR_PIPE_BUSY) {
        "all pipe instances stayed busy (the server is not accepting fast enough)"
    } else {
        "the server's queue of connections waiting to be accepted stayed full \
         (the server is not accepting fast enough)"
    }
}

/// Says what the common failures mean for someone connecting.
fn explain(err: io::Error) -> io::Error {
    let hint = match err.kind() {
        io::ErrorKind::NotFound => "no server is listening (the endpoint does not exist)",
        io::ErrorKind::ConnectionRefused => "connection refused (no server is accepting)",
        io::ErrorKind::PermissionDenied => "permission denied",
        _ if err.raw_os_error() == Some(ERROR_PIPE_BUSY) => {
            "all pipe instances are busy (the server is not accepting fast enough)"
        }
        _ if is_busy(&err) => {
            "the server's queue of connections waiting to be accepted is full \
             (the server is not accepting fast enough)"
        }
        _ => return err,
    };
    io::Error::new(err.kind(), format!("{hint}: {err}"))
}
