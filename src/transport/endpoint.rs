//! Portable endpoint names.

use std::{fmt, io, time::Duration};

use crate::transport::{self, BindOptions, ConnectOptions, IpcListener, IpcStream};

/// Where a server listens and a client connects: one name for every platform.
///
/// [`Endpoint::new`] reads a string the same way on every platform:
///
/// | given | Unix | Windows |
/// |---|---|---|
/// | `"my-app"` | `$XDG_RUNTIME_DIR/my-app.sock` (else the temp dir) | `\\.\pipe\my-app` |
/// | `"my-app.sock"` | `$XDG_RUNTIME_DIR/my-app.sock` (`.sock` is not added twice) | `\\.\pipe\my-app.sock` |
/// | `"/run/my-app.sock"` (contains `/`) | that path, as is | a pipe of that name |
/// | `r"\\.\pipe\my-app"` | a socket file of that name | that pipe, as is |
/// | `"@my-app"` | Linux: the abstract socket `my-app`; elsewhere a file | `\\.\pipe\@my-app` |
/// | `"tcp://127.0.0.1:7000"` | TCP | TCP |
///
/// A name without a `/` is a portable name, so a socket path given on a
/// command line (`rpc.sock`, meant in the current directory) would be taken
/// for one: use [`Endpoint::path`] for paths, as [`Endpoint::tcp`] for TCP.
///
/// The runtime directory is read when the endpoint is created. Errors from
/// [`bind`](Endpoint::bind) and [`connect`](Endpoint::connect) name the
/// endpoint as [`Display`](fmt::Display) shows it.
///
/// ```
/// use tower_ipc::Endpoint;
///
/// let endpoint = Endpoint::new("my-app");
/// # #[cfg(unix)]
/// assert!(endpoint.to_string().ends_with("my-app.sock"));
/// # #[cfg(windows)]
/// assert_eq!(endpoint.to_string(), r"\\.\pipe\my-app");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    addr: Addr,
}

/// The platform address an endpoint resolves to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Addr {
    /// A Unix domain socket file.
    #[cfg(unix)]
    Path(std::path::PathBuf),
    /// A Linux abstract-namespace socket; the name has no leading `@` or NUL.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    Abstract(String),
    /// A full Windows pipe name, `\\.\pipe\...`.
    #[cfg(windows)]
    Pipe(String),
    /// A TCP `host:port`.
    Tcp(String),
}

const TCP_SCHEME: &str = "tcp://";

impl Endpoint {
    /// Resolves a portable name, an explicit socket path or pipe name, or a
    /// `tcp://host:port` address (see the table above).
    pub fn new(name: impl AsRef<str>) -> Self {
        let name = name.as_ref();
        if let Some(addr) = name.strip_prefix(TCP_SCHEME) {
            return Self::tcp(addr);
        }
        Self {
            addr: Self::local(name),
        }
    }

    /// A Unix socket at exactly this path (relative paths are relative to the
    /// current directory), never read as a portable name: for a path from a
    /// command line or a configuration file, as geth's `--ipcpath`.
    ///
    /// On Windows, where IPC endpoints are named pipes, a full pipe name
    /// (`\\.\pipe\...`) is taken as it is and anything else names the pipe
    /// `\\.\pipe\<path>`, as geth does with its `.ipc` path.
    ///
    /// ```
    /// use tower_ipc::Endpoint;
    ///
    /// let endpoint = Endpoint::path("rpc.sock");
    /// # #[cfg(unix)]
    /// assert_eq!(endpoint.as_path(), Some(std::path::Path::new("rpc.sock")));
    /// # #[cfg(windows)]
    /// assert_eq!(endpoint.to_string(), r"\\.\pipe\rpc.sock");
    /// ```
    pub fn path(path: impl AsRef<std::path::Path>) -> Self {
        #[cfg(unix)]
        let addr = Addr::Path(path.as_ref().to_owned());
        #[cfg(windows)]
        let addr = Self::local(&path.as_ref().to_string_lossy());
        Self { addr }
    }

    /// A TCP endpoint, `host:port` (for example `127.0.0.1:7000`).
    ///
    /// Use TCP when client and server are on different machines; it has no
    /// owner-only access control and no caller identity beyond the address.
    pub fn tcp(addr: impl Into<String>) -> Self {
        Self {
            addr: Addr::Tcp(addr.into()),
        }
    }

    #[cfg(unix)]
    fn local(name: &str) -> Addr {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(abstract_name) = name.strip_prefix('@') {
            return Addr::Abstract(abstract_name.to_owned());
        }
        if name.contains('/') {
            Addr::Path(name.into())
        } else if name.ends_with(".sock") {
            Addr::Path(runtime_dir().join(name))
        } else {
            Addr::Path(runtime_dir().join(format!("{name}.sock")))
        }
    }

    #[cfg(windows)]
    fn local(name: &str) -> Addr {
        const PREFIXES: [&str; 2] = [r"\\.\pipe\", r"\\?\pipe\"];
        let explicit = PREFIXES.iter().any(|prefix| {
            name.get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        });
        if explicit {
            Addr::Pipe(name.to_owned())
        } else {
            Addr::Pipe(format!(r"\\.\pipe\{name}"))
        }
    }

    /// The socket file this endpoint names, if it is a Unix socket file.
    #[cfg(unix)]
    pub fn as_path(&self) -> Option<&std::path::Path> {
        match &self.addr {
            Addr::Path(path) => Some(path),
            _ => None,
        }
    }

    pub(crate) fn addr(&self) -> &Addr {
        &self.addr
    }

    /// Starts listening on this endpoint, reachable by the current user only
    /// (and SYSTEM, on Windows): [`bind_with`](Endpoint::bind_with) with the
    /// default [`BindOptions`].
    ///
    /// # Errors
    ///
    /// As [`bind_with`](Endpoint::bind_with).
    pub async fn bind(&self) -> io::Result<IpcListener> {
        self.bind_with(&BindOptions::new()).await
    }

    /// Starts listening on this endpoint, reachable by whom `options` allow.
    ///
    /// A Unix socket file appears with its final mode and group: no other
    /// user can connect through a wider mode at any moment. A named pipe gets
    /// its security descriptor on every instance.
    ///
    /// # Errors
    ///
    /// Fails with [`io::ErrorKind::AddrInUse`] when a live server already
    /// listens here (a stale Unix socket file, one nobody answers on, is
    /// replaced instead; a file that is not a socket never is), with
    /// [`io::ErrorKind::InvalidInput`] when a socket path is over the
    /// platform's length limit, when the options are invalid (a mode beyond
    /// `0o777`, an SDDL string the system cannot parse) or restrict access on
    /// a transport that cannot enforce them (TCP, abstract sockets), and with
    /// the operating system's error otherwise (for example
    /// [`io::ErrorKind::PermissionDenied`] when the socket cannot be given to
    /// the group). Every error message names the endpoint.
    pub async fn bind_with(&self, options: &BindOptions) -> io::Result<IpcListener> {
        transport::bind(self, options).await
    }

    /// Connects to this endpoint with a single attempt, which waits out a
    /// busy endpoint but not a missing one.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use tower_ipc::Endpoint;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let endpoint = Endpoint::new(format!("tower-ipc-doc-nobody-{}", std::process::id()));
    /// // let endpoint = Endpoint::new("nobody-serves-this");
    /// let err = endpoint.connect().await.unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::NotFound);
    /// // "cannot connect to `/run/user/1000/nobody-serves-this.sock`: no server is listening ..."
    /// assert!(err.to_string().contains(&endpoint.to_string()));
    /// # }
    /// ```
    ///
    /// # Busy endpoints
    ///
    /// A server that exists but has no room for one more client right now
    /// is busy: every named pipe instance is taken (the listener keeps a
    /// [backlog](crate::transport::BindOptions::backlog) of them and
    /// creates another as it accepts each client), or a Unix socket's queue
    /// of connections waiting to be accepted is full. That passes as the
    /// server accepts, so `connect` tries again for up to **5 seconds**,
    /// pausing at most 10 ms between attempts, as Win32's `WaitNamedPipe`
    /// waits for a free instance (without holding a thread). A burst of
    /// clients larger than the backlog is served this way rather than
    /// turned away. (macOS and the BSDs report a full socket queue as a
    /// refused connection, which only
    /// [`connect_timeout`](Endpoint::connect_timeout) retries.)
    ///
    /// # Errors
    ///
    /// Fails at once when nothing listens ([`io::ErrorKind::NotFound`] or
    /// [`io::ErrorKind::ConnectionRefused`]); use
    /// [`connect_timeout`](Endpoint::connect_timeout) to wait for a server
    /// that is starting. Fails with the busy error (on Windows
    /// `ERROR_PIPE_BUSY`, on Unix [`io::ErrorKind::WouldBlock`]) when the
    /// endpoint stayed busy for 5 seconds. Every error message names the
    /// endpoint.
    pub async fn connect(&self) -> io::Result<IpcStream> {
        self.connect_with(&ConnectOptions::new()).await
    }

    /// Connects to this endpoint, retrying while the failure is transient (no
    /// server yet, connection refused while it restarts, the endpoint busy)
    /// with backoff, for at most `timeout`.
    ///
    /// A client started before its server connects as soon as the server is up:
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_ipc::Endpoint;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let endpoint = Endpoint::new(format!("tower-ipc-doc-later-{}", std::process::id()));
    /// // let endpoint = Endpoint::new("my-app");
    /// let client = tokio::spawn({
    ///     let endpoint = endpoint.clone();
    ///     async move { endpoint.connect_timeout(Duration::from_secs(10)).await }
    /// });
    /// tokio::time::sleep(Duration::from_millis(50)).await; // the server starts later
    /// let mut listener = endpoint.bind().await?;
    /// let (_server_side, _peer) = listener.accept().await?;
    /// let _client_side = client.await.unwrap()?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// Fails with [`io::ErrorKind::TimedOut`] naming the endpoint, how long it
    /// waited and the last failure when `timeout` elapses, and at once on an
    /// error that retrying cannot cure (permission denied, an invalid name).
    pub async fn connect_timeout(&self, timeout: Duration) -> io::Result<IpcStream> {
        self.connect_with(&ConnectOptions::new().timeout(timeout))
            .await
    }

    /// Connects to this endpoint as `options` say: with a
    /// [timeout](ConnectOptions::timeout) it is
    /// [`connect_timeout`](Endpoint::connect_timeout), without one
    /// [`connect`](Endpoint::connect); on Windows it may open the pipe in
    /// message mode (see [`ConnectOptions`]).
    ///
    /// # Errors
    ///
    /// As [`connect`](Endpoint::connect) or
    /// [`connect_timeout`](Endpoint::connect_timeout), and
    /// [`io::ErrorKind::InvalidInput`] for message mode on an endpoint that
    /// is not a named pipe.
    pub async fn connect_with(&self, options: &ConnectOptions) -> io::Result<IpcStream> {
        transport::connect(self, options).await
    }
}

/// The directory for sockets of portable names: `$XDG_RUNTIME_DIR` when it is
/// set to an absolute path (it is private to the user), else the temp dir.
#[cfg(unix)]
fn runtime_dir() -> std::path::PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(std::path::PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .unwrap_or_else(std::env::temp_dir)
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.addr {
            #[cfg(unix)]
            Addr::Path(path) => write!(f, "{}", path.display()),
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Addr::Abstract(name) => write!(f, "@{name}"),
            #[cfg(windows)]
            Addr::Pipe(name) => f.write_str(name),
            Addr::Tcp(addr) => write!(f, "{TCP_SCHEME}{addr}"),
        }
    }
}

impl std::str::FromStr for Endpoint {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

impl From<&str> for Endpoint {
    fn from(name: &str) -> Self {
        Self::new(name)
    }
}

impl From<String> for Endpoint {
    fn from(name: String) -> Self {
        Self::new(name)
    }
}

/// A socket file path, taken as it is.
#[cfg(unix)]
impl From<std::path::PathBuf> for Endpoint {
    fn from(path: std::path::PathBuf) -> Self {
        Self {
            addr: Addr::Path(path),
        }
    }
}

/// A socket file path, taken as it is.
#[cfg(unix)]
impl From<&std::path::Path> for Endpoint {
    fn from(path: &std::path::Path) -> Self {
        Self::from(path.to_path_buf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_scheme_is_recognised_on_every_platform() {
        let endpoint = Endpoint::new("tcp://127.0.0.1:7000");
        assert_eq!(endpoint.addr(), &Addr::Tcp("127.0.0.1:7000".into()));
        assert_eq!(endpoint.to_string(), "tcp://127.0.0.1:7000");
    }

    #[cfg(unix)]
    #[test]
    fn portable_name_is_a_socket_file_in_the_runtime_dir() {
        let endpoint = Endpoint::new("my-app");
        let path = endpoint.as_path().expect("a socket file");
        assert_eq!(path, runtime_dir().join("my-app.sock"));
    }

    #[cfg(unix)]
    #[test]
    fn explicit_paths_are_taken_as_they_are() {
        assert_eq!(
            Endpoint::new("/run/app/ctl").as_path(),
            Some(std::path::Path::new("/run/app/ctl"))
        );
        assert_eq!(
            Endpoint::new("./rel.sock").as_path(),
            Some(std::path::Path::new("./rel.sock"))
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_path_is_never_taken_for_a_portable_name() {
        for path in ["rpc.sock", "geth.ipc", "@not-abstract", "tcp://x"] {
            assert_eq!(
                Endpoint::path(path).as_path(),
                Some(std::path::Path::new(path))
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_portable_name_ending_in_sock_gets_no_second_suffix() {
        assert_eq!(
            Endpoint::new("rpc.sock").as_path(),
            Some(runtime_dir().join("rpc.sock").as_path())
        );
    }

    #[cfg(windows)]
    #[test]
    fn a_path_names_a_pipe_on_windows() {
        assert_eq!(Endpoint::path("geth.ipc").to_string(), r"\\.\pipe\geth.ipc");
        assert_eq!(Endpoint::path(r"\\.\pipe\x").to_string(), r"\\.\pipe\x");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn at_sign_selects_the_abstract_namespace_on_linux() {
        let endpoint = Endpoint::new("@my-app");
        assert_eq!(endpoint.addr(), &Addr::Abstract("my-app".into()));
        assert_eq!(endpoint.to_string(), "@my-app");
    }

    #[cfg(windows)]
    #[test]
    fn portable_name_is_a_local_pipe() {
        assert_eq!(Endpoint::new("my-app").to_string(), r"\\.\pipe\my-app");
    }

    #[cfg(windows)]
    #[test]
    fn full_pipe_names_are_taken_as_they_are() {
        for name in [r"\\.\pipe\x", r"\\?\pipe\x", r"\\.\PIPE\x"] {
            assert_eq!(Endpoint::new(name).to_string(), name);
        }
    }
}
