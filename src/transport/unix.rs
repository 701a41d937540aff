//! Unix domain sockets.

use std::{
    io,
    os::unix::fs::{FileTypeExt, MetadataExt},
    path::{Path, PathBuf},
};

use tokio::net::{UnixListener, UnixStream};

use super::{Listener, PeerInfo};
use crate::Endpoint;

/// The longest socket path the platform accepts, in bytes: `sun_path` less
/// its terminating NUL.
const MAX_PATH_LEN: usize = if cfg!(any(target_os = "linux", target_os = "android")) {
    107
} else {
    103
};

/// A listening Unix socket; removes its socket file when dropped.
#[derive(Debug)]
pub(crate) struct UnixSocketListener {
    listener: UnixListener,
    _file: Option<SocketFile>,
}

impl UnixSocketListener {
    /// Binds a socket file, replacing a stale one but never a live server's.
    pub(crate) async fn bind_path(path: &Path) -> io::Result<Self> {
        check_path_len(path)?;
        let listener = match UnixListener::bind(path) {
            Err(err) if err.kind() == io::ErrorKind::AddrInUse => {
                remove_stale_socket(path).await?;
                UnixListener::bind(path)?
            }
            bound => bound?,
        };
        let file = SocketFile::new(path)?;
        Ok(Self {
            listener,
            _file: Some(file),
        })
    }

    /// Binds a name in Linux's abstract namespace; the kernel owns the name,
    /// so there is no file to clean up and no stale state.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub(crate) fn bind_abstract(name: &str) -> io::Result<Self> {
        let listener = UnixListener::bind(abstract_path(name)?)?;
        Ok(Self {
            listener,
            _file: None,
        })
    }

    pub(crate) async fn accept(&mut self) -> io::Result<(UnixStream, PeerInfo)> {
        let (stream, _) = self.listener.accept().await?;
        let peer = peer_info(&stream);
        Ok((stream, peer))
    }
}

/// The path tokio reads as an abstract name: a leading NUL, then the name.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn abstract_path(name: &str) -> io::Result<String> {
    if name.len() > MAX_PATH_LEN {
        return Err(too_long(name.len()));
    }
    Ok(format!("\0{name}"))
}

pub(crate) fn check_path_len(path: &Path) -> io::Result<()> {
    let len = path.as_os_str().len();
    if len == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the socket path is empty",
        ));
    }
    if len > MAX_PATH_LEN {
        return Err(too_long(len));
    }
    Ok(())
}

fn too_long(len: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "the socket path is {len} bytes, over this platform's limit of {MAX_PATH_LEN} bytes"
        ),
    )
}

/// Removes the socket file at `path` if nothing answers on it.
async fn remove_stale_socket(path: &Path) -> io::Result<()> {
    let is_socket = std::fs::symlink_metadata(path)?.file_type().is_socket();
    if !is_socket {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "the path exists and is not a socket; refusing to replace it",
        ));
    }
    match UnixStream::connect(path).await {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "a running server is listening there",
        )),
        Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::debug!(path = %path.display(), "replacing stale socket file");
            match std::fs::remove_file(path) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
                _ => Ok(()),
            }
        }
        // Anything else (permission denied, a full backlog) may be a live
        // server we cannot see into: leave it alone.
        Err(err) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("the socket exists and may be in use ({err})"),
        )),
    }
}

/// The socket file a listener created, identified by inode so that dropping
/// the listener never removes a file someone else put at the same path.
#[derive(Debug)]
struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    fn new(path: &Path) -> io::Result<Self> {
        let meta = std::fs::symlink_metadata(path)?;
        Ok(Self {
            path: path.to_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|meta| meta.dev() == self.dev && meta.ino() == self.ino);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The peer's credentials as the kernel recorded them at connect time.
pub(crate) fn peer_info(stream: &UnixStream) -> PeerInfo {
    match stream.peer_cred() {
        Ok(cred) => {
            let peer = PeerInfo::new().with_uid(cred.uid()).with_gid(cred.gid());
            match cred.pid().and_then(|pid| u32::try_from(pid).ok()) {
                Some(pid) => peer.with_pid(pid),
                None => peer,
            }
        }
        Err(err) => {
            tracing::debug!(error = %err, "peer credentials unavailable");
            PeerInfo::new()
        }
    }
}

/// Serves a listener the application created itself (for example one
/// inherited through socket activation). Its socket file is not removed on
/// drop: whoever created it owns it.
impl Listener for UnixListener {
    type Io = UnixStream;

    async fn accept(&mut self) -> io::Result<(UnixStream, PeerInfo)> {
        let (stream, _) = UnixListener::accept(self).await?;
        let peer = peer_info(&stream);
        Ok((stream, peer))
    }

    fn local_endpoint(&self) -> io::Result<Endpoint> {
        let addr = self.local_addr()?;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(name) = addr.as_abstract_name() {
            return Ok(Endpoint::new(format!("@{}", String::from_utf8_lossy(name))));
        }
        addr.as_pathname().map(Endpoint::from).ok_or_else(|| {
            io::Error::new(io::ErrorKind::AddrNotAvailable, "the socket has no name")
        })
    }
}
