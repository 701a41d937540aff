use std::io;

/// How a listener is set up, for [`Endpoint::bind_with`](crate::Endpoint::bind_with):
/// who may connect, how many clients may wait to be accepted, and on
/// Windows whether pipes carry messages.
///
/// # Access
///
/// The defaults are the safe choice: only the user running the server can
/// connect (on Windows, SYSTEM too). Each method opens access deliberately:
///
/// | setting | Unix socket file | Windows named pipe |
/// |---|---|---|
/// | default | mode `0600`: the owner only | the current user and SYSTEM only |
/// | `group(gid)` | group `gid`, mode `0660`: the owner and the group's members | — |
/// | [`allow_local_users()`](Self::allow_local_users) | mode `0666`: every local user | every local (authenticated) user may read and write |
/// | `mode(m)` | mode `m` exactly | — |
/// | `sddl(s)` | — | the descriptor `s` exactly |
///
/// `mode` (Unix) and `sddl` (Windows) are exact: they win over
/// [`allow_local_users`](Self::allow_local_users), which wins over `group`'s
/// mode. Remote clients of a named pipe are rejected whatever the
/// descriptor says.
///
/// The settings apply to socket files and named pipes. A Linux abstract
/// socket (`@name`) has no file mode: any local user of the network namespace
/// can connect to it, and an
/// [authorization policy](crate::server::authorize) is its protection. TCP has
/// no access control at all. Binding either with a setting that would
/// restrict access (a mode, a group, an SDDL string) fails rather than
/// silently ignoring it.
///
/// Clients must also be able to reach a socket file: its directory must be
/// searchable by them. `$XDG_RUNTIME_DIR`, where portable names live, is
/// private to its user, so a socket shared with other users belongs in a
/// directory such as `/run/my-daemon/`.
///
/// # Backlog
///
/// [`backlog(n)`](Self::backlog) is how many clients may connect before the
/// server accepts them. A Unix or TCP socket passes it to `listen`, whose
/// queue the kernel keeps; a named pipe has no queue, so the listener keeps
/// `n` pipe instances waiting for clients and creates a new one each time
/// it hands a connected one to the server. Clients past the backlog find the
/// endpoint busy, and [`Endpoint::connect`](crate::Endpoint::connect) waits
/// that out (see there).
///
/// ```no_run
/// use tower_ipc::{Endpoint, transport::BindOptions};
///
/// # async fn run() -> std::io::Result<()> {
/// // A daemon whose clients are the members of one group (Unix), or a
/// // session-0 service whose clients are the users' apps (Windows).
/// #[cfg(unix)]
/// let (endpoint, options) = (
///     Endpoint::new("/run/my-daemon/control.sock"),
///     BindOptions::new().group(1234),
/// );
/// #[cfg(windows)]
/// let (endpoint, options) = (Endpoint::new("my-daemon"), BindOptions::new().allow_local_users());
/// let listener = endpoint.bind_with(&options).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BindOptions {
    local_users: bool,
    backlog: Option<u32>,
    #[cfg(windows)]
    max_message_len: Option<usize>,
    #[cfg(unix)]
    mode: Option<u32>,
    #[cfg(unix)]
    group: Option<u32>,
    #[cfg(windows)]
    sddl: Option<String>,
    #[cfg(feature = "tls")]
    tls: Option<super::tls::ServerTls>,
}

impl BindOptions {
    /// The secure defaults: the current user only (and SYSTEM on Windows).
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets every local user connect: Unix socket mode `0666`; on Windows, all
    /// authenticated local users may read and write the pipe (the session-0
    /// service serving the app in the user's session). Pair it with an
    /// [authorization policy](crate::server::authorize) when not every
    /// local user should be served.
    ///
    /// On Windows the grant leaves out `FILE_CREATE_PIPE_INSTANCE`, so other
    /// users can connect but cannot add server instances of their own to the
    /// pipe and answer its clients. Clients must therefore not ask for
    /// `GENERIC_WRITE` (which includes that right): [`Endpoint::connect`](crate::Endpoint::connect)
    /// asks for `GENERIC_READ | FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES`,
    /// and clients written with other libraries must do the same.
    ///
    /// A C client that opens the pipe with `GENERIC_READ | GENERIC_WRITE`
    /// (as ipc.h's does) is therefore denied when it runs as another user.
    /// The safe fix is in the client: `CreateFile` with `GENERIC_READ |
    /// FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES`, which is all a client needs
    /// (the last right lets it switch to message read mode). Granting
    /// `GENERIC_WRITE` with an `sddl(..)` of your own (Windows) would let
    /// every user it names create instances of the pipe and pose as this
    /// server to its clients.
    pub fn allow_local_users(mut self) -> Self {
        self.local_users = true;
        self
    }

    /// Serves TLS on a TCP endpoint (feature `tls`): every accepted
    /// connection is a TLS session, whatever codec or protocol runs on it,
    /// and a client's certificate, if it presented one, is in its
    /// [`PeerInfo`](super::PeerInfo). Binding any other endpoint with it
    /// fails with [`io::ErrorKind::InvalidInput`].
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls(mut self, tls: super::tls::ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The TLS settings, if any.
    #[cfg(feature = "tls")]
    pub(crate) fn tls_settings(&self) -> Option<&super::tls::ServerTls> {
        self.tls.as_ref()
    }

    /// Sets the socket file's permission bits exactly (for example `0o660`),
    /// whatever else is set. Only the permission bits (`0o777`) may be given.
    ///
    /// A client needs write permission on the socket to connect.
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Gives the socket file to group `gid` and, unless a mode is set, lets
    /// the group's members connect (mode `0660`).
    ///
    /// The server must be allowed to give the file to that group: it is a
    /// member of it, or it runs as root.
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn group(mut self, gid: u32) -> Self {
        self.group = Some(gid);
        self
    }

    /// Uses this security descriptor, in SDDL, for every instance of the
    /// pipe, instead of the default one; for example
    /// `D:P(A;;GA;;;SY)(A;;GA;;;BA)` for SYSTEM and the administrators.
    ///
    /// A descriptor the system cannot parse makes the bind fail with
    /// [`io::ErrorKind::InvalidInput`]. Grant the server's own account
    /// `FILE_CREATE_PIPE_INSTANCE` (in `GA` or `GW`), or it cannot create the
    /// pipe's next instance.
    #[cfg(windows)]
    #[cfg_attr(docsrs, doc(cfg(windows)))]
    pub fn sddl(mut self, sddl: impl Into<String>) -> Self {
        self.sddl = Some(sddl.into());
        self
    }

    /// How many clients may connect before the server accepts them (see
    /// [Backlog](#backlog)); at least 1.
    ///
    /// The defaults:
    ///
    /// - **Unix sockets**: the system's maximum (on Linux
    ///   `net.core.somaxconn`, 4096 unless changed), as tokio binds them;
    ///   the kernel caps a larger value the same way.
    /// - **TCP**: 128, as tokio and the standard library bind.
    /// - **Named pipes**: [`PIPE_BACKLOG`](Self::PIPE_BACKLOG) instances.
    ///
    /// # Errors
    ///
    /// Binding with a backlog of 0 fails with
    /// [`io::ErrorKind::InvalidInput`]: a named pipe would have no instance
    /// to connect to.
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = Some(backlog);
        self
    }

    /// The pipe instances a Windows listener keeps waiting for clients
    /// unless [`backlog`](Self::backlog) says otherwise: 16.
    ///
    /// A waiting instance costs a handle and a connect pending in the
    /// kernel, so the listener does not keep thousands, as a socket's queue
    /// may hold; and it needs more than one: a client that finds every
    /// instance taken waits for the next (up to
    /// [`Endpoint::connect`](crate::Endpoint::connect)'s limit), so with a
    /// single instance a burst of clients is served one re-armed instance at
    /// a time. Sixteen absorb the bursts of a command-line tool started by a
    /// script or of a pool of clients connecting at once; raise it for
    /// larger bursts.
    pub const PIPE_BACKLOG: u32 = 16;

    /// Creates the pipe's instances as message-type pipes read in message
    /// mode (`PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE`), for clients that
    /// exchange messages rather than a byte stream; no message either way
    /// may be longer than `max_message_len` bytes.
    ///
    /// An accepted connection then carries each message as one frame of
    /// the length-prefixed format (4-byte big-endian length, then the
    /// message): serve it with [`PerMessage`](crate::codec::PerMessage)
    /// around the codec of what a message holds, which hands that codec one
    /// message at a time and writes each frame as exactly one message (see
    /// its docs for the design). A message longer than `max_message_len`
    /// is an error naming both sizes, in either direction, never split:
    /// set it to the size of the peer's read buffer.
    ///
    /// Message-mode pipes are read and written on threads (a pending read
    /// on one for each connection, writes on tokio's blocking pool, and one
    /// waiting for each instance in the backlog), not through tokio's
    /// reactor, whose named pipes read in chunks of 4 KiB and lose where a
    /// longer message ends.
    ///
    /// Binding any endpoint but a named pipe with it fails with
    /// [`io::ErrorKind::InvalidInput`].
    #[cfg(windows)]
    #[cfg_attr(docsrs, doc(cfg(windows)))]
    pub fn message_mode(mut self, max_message_len: usize) -> Self {
        self.max_message_len = Some(max_message_len);
        self
    }

    /// The backlog asked for, checked.
    pub(crate) fn checked_backlog(&self) -> io::Result<Option<u32>> {
        match self.backlog {
            Some(0) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a backlog of 0 was given: at least 1 client must be able to wait to be accepted",
            )),
            backlog => Ok(backlog),
        }
    }

    /// Fails if message mode is on, for a transport (`what`) that has no
    /// messages.
    pub(crate) fn check_bytes_only(&self, what: &str) -> io::Result<()> {
        #[cfg(windows)]
        if self.max_message_len.is_some() {
            return Err(super::connect_options::message_mode_unavailable(what));
        }
        let _ = what;
        Ok(())
    }

    /// The largest message of a message-mode pipe, when message mode is on.
    #[cfg(windows)]
    pub(crate) fn max_message_len(&self) -> Option<usize> {
        self.max_message_len
    }

    #[cfg(windows)]
    pub(crate) fn local_users(&self) -> bool {
        self.local_users
    }

    /// The socket file's mode and group, checked.
    #[cfg(unix)]
    pub(crate) fn unix_access(&self) -> io::Result<(u32, Option<u32>)> {
        let mode = match (self.mode, self.local_users, self.group) {
            (Some(mode), _, _) => mode,
            (None, true, _) => 0o666,
            (None, false, Some(_)) => 0o660,
            (None, false, None) => 0o600,
        };
        if mode & !0o777 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("socket mode {mode:#o} has bits outside the permission bits 0o777"),
            ));
        }
        Ok((mode, self.group))
    }

    /// The custom security descriptor, if one was given.
    #[cfg(windows)]
    pub(crate) fn custom_sddl(&self) -> Option<&str> {
        self.sddl.as_deref()
    }

    /// Fails if a setting that restricts access is set, for a transport
    /// (`what`) that cannot apply it.
    pub(crate) fn check_unenforceable(&self, what: &str) -> io::Result<()> {
        #[cfg(unix)]
        let setting = match (self.mode, self.group) {
            (Some(_), _) => Some("a socket mode"),
            (None, Some(_)) => Some("a socket group"),
            (None, None) => None,
        };
        #[cfg(windows)]
        let setting = self.sddl.as_ref().map(|_| "a security descriptor");
        match setting {
            Some(setting) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{setting} was given, but {what} has no access control to apply it to; \
                     use an authorization policy (tower_ipc::server::authorize) instead"
                ),
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn unix_mode_follows_the_precedence_documented() {
        let access = |options: BindOptions| options.unix_access().unwrap();
        assert_eq!(access(BindOptions::new()), (0o600, None));
        assert_eq!(access(BindOptions::new().group(7)), (0o660, Some(7)));
        assert_eq!(
            access(BindOptions::new().allow_local_users()),
            (0o666, None)
        );
        assert_eq!(
            access(BindOptions::new().group(7).allow_local_users()),
            (0o666, Some(7))
        );
        assert_eq!(
            access(BindOptions::new().allow_local_users().mode(0o640).group(7)),
            (0o640, Some(7))
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_mode_beyond_the_permission_bits_is_refused() {
        let err = BindOptions::new().mode(0o4755).unix_access().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("0o4755"), "{err}");
    }

    #[test]
    fn restricting_settings_are_refused_where_they_cannot_apply() {
        let widening = BindOptions::new().allow_local_users();
        assert!(widening.check_unenforceable("TCP").is_ok());
        #[cfg(unix)]
        let restricting = BindOptions::new().mode(0o600);
        #[cfg(windows)]
        let restricting = BindOptions::new().sddl("D:P(A;;GA;;;SY)");
        let err = restricting.check_unenforceable("TCP").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(
            err.to_string().contains("TCP has no access control"),
            "{err}"
        );
    }
}
