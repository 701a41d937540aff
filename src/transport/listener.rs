use std::io;

use tokio::net::TcpListener;

use super::endpoint::{Addr, Endpoint};
use super::error::{Action, endpoint_error};
use super::{BindOptions, IpcStream, Listener, PeerInfo};

/// A listener on any transport an [`Endpoint`] names, from
/// [`Endpoint::bind`]. Accepted connections are [`IpcStream`]s.
///
/// Dropping it stops listening; a Unix socket file it created is removed.
#[derive(Debug)]
pub struct IpcListener {
    endpoint: Endpoint,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    #[cfg(unix)]
    Unix(super::unix::UnixSocketListener),
    #[cfg(windows)]
    Pipe(super::windows::PipeListener),
    Tcp(TcpListener),
}

pub(crate) async fn bind(endpoint: &Endpoint, options: &BindOptions) -> io::Result<IpcListener> {
    let error = |err| endpoint_error(Action::Listen, endpoint, err);
    let backlog = options.checked_backlog().map_err(error)?;
    let (inner, endpoint) = match endpoint.addr() {
        #[cfg(unix)]
        Addr::Path(path) => {
            let (mode, group) = options.unix_access().map_err(error)?;
            let listener = super::unix::UnixSocketListener::bind_path(path, mode, group, backlog)
                .await
                .map_err(error)?;
            (Inner::Unix(listener), endpoint.clone())
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Addr::Abstract(name) => {
            options
                .check_unenforceable("an abstract socket")
                .map_err(error)?;
            let listener =
                super::unix::UnixSocketListener::bind_abstract(name, backlog).map_err(error)?;
            (Inner::Unix(listener), endpoint.clone())
        }
        #[cfg(windows)]
        Addr::Pipe(name) => {
            let listener = super::windows::PipeListener::bind(name, options).map_err(error)?;
            (Inner::Pipe(listener), endpoint.clone())
        }
        Addr::Tcp(addr) => {
            options.check_unenforceable("TCP").map_err(error)?;
            options.check_bytes_only("TCP").map_err(error)?;
            let listener = super::tcp::bind(addr, backlog).await.map_err(error)?;
            // Name the port actually bound, which differs when `addr` asked for port 0.
            let bound = listener.local_addr().map_err(error)?;
            (Inner::Tcp(listener), Endpoint::tcp(bound.to_string()))
        }
    };
    tracing::debug!(%endpoint, "listening");
    Ok(IpcListener { endpoint, inner })
}

impl IpcListener {
    /// The endpoint this listener serves. For TCP it names the port actually
    /// bound, so binding `tcp://127.0.0.1:0` tells clients where to go.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Waits for the next connection, and tells who made it.
    ///
    /// [`serve`](crate::serve) runs this loop for you; a program of its own
    /// can accept, check the peer, and hand the stream to a codec:
    ///
    /// ```
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// use tower_ipc::Endpoint;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let endpoint = Endpoint::new(format!("tower-ipc-doc-accept-{}", std::process::id()));
    /// // let endpoint = Endpoint::new("my-app");
    /// let mut listener = endpoint.bind().await?;
    /// let mut client = endpoint.connect().await?;
    /// let (mut stream, peer) = listener.accept().await?;
    /// // Who connected, as the operating system tells (here: this process).
    /// # #[cfg(any(target_os = "linux", windows))]
    /// assert_eq!(peer.pid(), Some(std::process::id()));
    /// client.write_all(b"hi").await?;
    /// let mut greeting = [0; 2];
    /// stream.read_exact(&mut greeting).await?;
    /// assert_eq!(&greeting, b"hi");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future loses no connection.
    ///
    /// # Errors
    ///
    /// An error concerns one connection attempt or a passing shortage; the
    /// listener stays usable.
    pub async fn accept(&mut self) -> io::Result<(IpcStream, PeerInfo)> {
        match &mut self.inner {
            #[cfg(unix)]
            Inner::Unix(listener) => {
                let (stream, peer) = listener.accept().await?;
                Ok((stream.into(), peer))
            }
            #[cfg(windows)]
            Inner::Pipe(listener) => listener.accept().await,
            Inner::Tcp(listener) => {
                let (stream, peer) = Listener::accept(listener).await?;
                Ok((stream.into(), peer))
            }
        }
    }
}

impl Listener for IpcListener {
    type Io = IpcStream;

    async fn accept(&mut self) -> io::Result<(IpcStream, PeerInfo)> {
        IpcListener::accept(self).await
    }

    fn local_endpoint(&self) -> io::Result<Endpoint> {
        Ok(self.endpoint.clone())
    }
}
