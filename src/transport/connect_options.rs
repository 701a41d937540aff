use std::{io, time::Duration};

/// How a client connects, for [`Endpoint::connect_with`](crate::Endpoint::connect_with):
/// how long it waits for a server, and on Windows whether the pipe carries
/// messages.
///
/// The default is [`Endpoint::connect`](crate::Endpoint::connect)'s: one
/// attempt, which waits out a busy endpoint but not a missing one.
///
/// ```no_run
/// use std::time::Duration;
/// use tower_ipc::{Endpoint, transport::ConnectOptions};
///
/// # async fn run() -> std::io::Result<()> {
/// let options = ConnectOptions::new().timeout(Duration::from_secs(5));
/// #[cfg(windows)]
/// let options = options.message_mode(512);
/// let stream = Endpoint::new("my-service").connect_with(&options).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    timeout: Option<Duration>,
    #[cfg(windows)]
    max_message_len: Option<usize>,
    #[cfg(feature = "tls")]
    tls: Option<super::tls::ClientTls>,
}

impl ConnectOptions {
    /// One attempt, in byte mode.
    pub fn new() -> Self {
        Self::default()
    }

    /// Retries while the failure is transient (no server yet, connection
    /// refused while it restarts, the endpoint busy) for at most `timeout`,
    /// as [`Endpoint::connect_timeout`](crate::Endpoint::connect_timeout)
    /// does.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Opens the pipe in message read mode, for a server whose pipe is
    /// message-type (one bound with
    /// [`BindOptions::message_mode`](super::BindOptions::message_mode), or a
    /// C server created with `PIPE_TYPE_MESSAGE`); no message either way may
    /// be longer than `max_message_len` bytes.
    ///
    /// The stream then carries each message as one frame of the
    /// length-prefixed format: talk through it with
    /// [`PerMessage`](crate::codec::PerMessage) around the codec of what a
    /// message holds. A message longer than `max_message_len` is an error
    /// naming both sizes, never split: set it to the size of the server's
    /// read buffer.
    ///
    /// Connecting fails with [`io::ErrorKind::InvalidInput`] when the
    /// endpoint is not a named pipe, and with the system's error when the
    /// pipe is a byte-type pipe.
    #[cfg(windows)]
    #[cfg_attr(docsrs, doc(cfg(windows)))]
    pub fn message_mode(mut self, max_message_len: usize) -> Self {
        self.max_message_len = Some(max_message_len);
        self
    }

    /// Speaks TLS on a TCP endpoint (feature `tls`), trusting and
    /// presenting what `tls` says. Connecting to any other endpoint with it
    /// fails with [`io::ErrorKind::InvalidInput`]; a failed handshake is an
    /// error that says so and is not retried.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls(mut self, tls: super::tls::ClientTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The TLS settings, if any.
    #[cfg(feature = "tls")]
    pub(crate) fn tls_settings(&self) -> Option<&super::tls::ClientTls> {
        self.tls.as_ref()
    }

    pub(crate) fn retry_for(&self) -> Option<Duration> {
        self.timeout
    }

    /// The largest message, when message mode is on.
    #[cfg(windows)]
    pub(crate) fn max_message_len(&self) -> Option<usize> {
        self.max_message_len
    }

    /// Fails if message mode is on, for a transport (`what`) that has no
    /// messages.
    pub(crate) fn check_bytes_only(&self, what: &str) -> io::Result<()> {
        #[cfg(windows)]
        if self.max_message_len.is_some() {
            return Err(message_mode_unavailable(what));
        }
        let _ = what;
        Ok(())
    }
}

/// Message mode asked of a transport that has none.
#[cfg(windows)]
pub(crate) fn message_mode_unavailable(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("message mode was asked for, but {what} carries bytes, not messages"),
    )
}
