use std::{io, time::Duration};

use tokio::net::TcpStream;
use tokio::time::Instant;

use super::IpcStream;
use super::error::{Action, endpoint_error};
use crate::{Endpoint, endpoint::Addr};

/// `ERROR_PIPE_BUSY`: every instance of the pipe is connected.
const ERROR_PIPE_BUSY: i32 = 231;

const FIRST_BACKOFF: Duration = Duration::from_millis(1);
const MAX_BACKOFF: Duration = Duration::from_millis(100);

pub(crate) async fn connect_once(endpoint: &Endpoint) -> io::Result<IpcStream> {
    attempt(endpoint)
        .await
        .map_err(|err| endpoint_error(Action::Connect, endpoint, explain(err)))
}

pub(crate) async fn connect_with_retry(
    endpoint: &Endpoint,
    timeout: Duration,
) -> io::Result<IpcStream> {
    let start = Instant::now();
    // A timeout too large to add up means "wait as long as it takes".
    let deadline = start.checked_add(timeout);
    let mut backoff = FIRST_BACKOFF;
    loop {
        let err = match attempt(endpoint).await {
            Ok(stream) => return Ok(stream),
            Err(err) if is_transient(&err) => err,
            Err(err) => return Err(endpoint_error(Action::Connect, endpoint, explain(err))),
        };
        let now = Instant::now();
        if deadline.is_some_and(|deadline| now >= deadline) {
            let waited = now - start;
            let err = io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "no server accepted the connection within {waited:.1?}; last attempt: {}",
                    explain(err)
                ),
            );
            return Err(endpoint_error(Action::Connect, endpoint, err));
        }
        tracing::trace!(%endpoint, error = %err, ?backoff, "connect failed; retrying");
        let wake = now + backoff;
        tokio::time::sleep_until(deadline.map_or(wake, |deadline| deadline.min(wake))).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn attempt(endpoint: &Endpoint) -> io::Result<IpcStream> {
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
        Addr::Pipe(name) => Ok(crate::sys::windows::open_pipe_client(name)?.into()),
        Addr::Tcp(addr) => {
            let stream = TcpStream::connect(addr.as_str()).await?;
            super::tcp::configure(&stream);
            Ok(stream.into())
        }
    }
}

/// Failures a server that is starting, restarting or busy causes.
fn is_transient(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound
            | io::ErrorKind::ConnectionRefused
            // A Unix socket whose accept backlog is full.
            | io::ErrorKind::WouldBlock
    ) || err.raw_os_error() == Some(ERROR_PIPE_BUSY)
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
        _ => return err,
    };
    io::Error::new(err.kind(), format!("{hint}: {err}"))
}
