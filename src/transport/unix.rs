//! Unix domain sockets.

use std::{
    fs::{DirBuilder, Metadata, Permissions},
    hash::BuildHasher,
    io,
    os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
};

use tokio::net::{UnixListener, UnixSocket, UnixStream};

use super::{Endpoint, Listener, PeerInfo};

/// The longest socket path the platform accepts, in bytes: `sun_path` less
/// its terminating NUL.
const MAX_PATH_LEN: usize = if cfg!(any(target_os = "linux", target_os = "android")) {
    107
} else {
    103
};

/// The socket's name inside its staging directory.
const STAGED_NAME: &str = "s";

/// Random characters in a staging directory's name, at most.
const STAGING_RANDOM_LEN: usize = 12;

/// Staging directory names to try; each one that exists is skipped.
const STAGING_ATTEMPTS: u64 = 16;

/// A listening Unix socket; removes its socket file when dropped.
#[derive(Debug)]
pub(crate) struct UnixSocketListener {
    listener: UnixListener,
    _file: Option<SocketFile>,
}

impl UnixSocketListener {
    /// Binds a socket file that only `mode` (and `group`) let others reach,
    /// replacing a stale socket but never a live server's, nor a file that is
    /// not a socket.
    ///
    /// There is no moment in which the socket is reachable with a wider mode:
    /// it is bound inside a private directory beside `path` (mode `0700`, so
    /// nobody else can reach anything in it, whatever mode the umask gave the
    /// socket), gets its mode and group there, and only then appears at
    /// `path`, as a hard link. A hard link, unlike a rename, never replaces
    /// what is at `path`: when something is there, it is checked, and only a
    /// stale socket is removed. The directory is gone when this returns.
    pub(crate) async fn bind_path(
        path: &Path,
        mode: u32,
        group: Option<u32>,
        backlog: Option<u32>,
    ) -> io::Result<Self> {
        check_path_len(path)?;
        let staging = Staging::create(path)?;
        let listener = listen(&staging.socket, backlog)?;
        if let Some(gid) = group {
            std::os::unix::fs::chown(&staging.socket, None, Some(gid)).map_err(|err| {
                io::Error::new(
                    err.kind(),
                    format!("cannot give the socket to group {gid}: {err}"),
                )
            })?;
        }
        std::fs::set_permissions(&staging.socket, Permissions::from_mode(mode))?;
        let file = SocketFile::new(path, &std::fs::symlink_metadata(&staging.socket)?);
        publish(&staging.socket, path).await?;
        Ok(Self {
            listener,
            _file: Some(file),
        })
    }

    /// Binds a name in Linux's abstract namespace; the kernel owns the name,
    /// so there is no file to clean up and no stale state. There is no file
    /// mode either: any local user of the network namespace can connect.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub(crate) fn bind_abstract(name: &str, backlog: Option<u32>) -> io::Result<Self> {
        let listener = listen(abstract_path(name)?, backlog)?;
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

/// Binds and listens on `path` (a leading NUL: an abstract name) with
/// `backlog`, or tokio's default one, the system's maximum.
fn listen(path: impl AsRef<Path>, backlog: Option<u32>) -> io::Result<UnixListener> {
    match backlog {
        None => UnixListener::bind(path),
        Some(backlog) => {
            let socket = UnixSocket::new_stream()?;
            socket.bind(path)?;
            socket.listen(backlog)
        }
    }
}

/// A private directory beside a socket's final path, where the socket is
/// bound and given its mode before it appears under its name. Dropping it
/// removes the directory and the staging name; a published socket lives on
/// under its final name.
#[derive(Debug)]
struct Staging {
    dir: PathBuf,
    socket: PathBuf,
}

impl Staging {
    fn create(path: &Path) -> io::Result<Self> {
        let random = std::hash::RandomState::new();
        for attempt in 0..STAGING_ATTEMPTS {
            let dir = staging_dir(path, random.hash_one(attempt))?;
            // The umask can only take bits away from 0700.
            match DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {
                    return Ok(Self {
                        socket: dir.join(STAGED_NAME),
                        dir,
                    });
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(err),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "cannot create a private directory beside the socket: \
                 the {STAGING_ATTEMPTS} names tried all exist"
            ),
        ))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// The staging directory for the socket file `path`: in the same directory
/// (a hard link cannot leave its file system), named `.` and up to
/// [`STAGING_RANDOM_LEN`] characters drawn from `random`.
///
/// The socket inside it, `<dir>/s`, must fit the platform's path limit too,
/// and the final file name may be shorter than the staging directory's: so
/// fewer random characters are used when the limit requires it. One is
/// enough, as names that exist are skipped; only a directory whose own path
/// leaves no room even for that is refused.
fn staging_dir(path: &Path, random: u64) -> io::Result<PathBuf> {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let name = |len: usize| -> PathBuf {
        let chars: String = (0..len)
            .map(|i| char::from(ALPHABET[((random >> (5 * i)) & 31) as usize]))
            .collect();
        path.with_file_name(format!(".{chars}"))
    };
    let staged_len = name(STAGING_RANDOM_LEN).as_os_str().len() + 1 + STAGED_NAME.len();
    let excess = staged_len.saturating_sub(MAX_PATH_LEN);
    if excess >= STAGING_RANDOM_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the socket's directory leaves no room for the private directory a safe bind \
                 creates beside the socket (`{}/{STAGED_NAME}` is {} bytes, over this platform's \
                 limit of {MAX_PATH_LEN} bytes); use a shorter directory",
                name(1).display(),
                staged_len + 1 - STAGING_RANDOM_LEN,
            ),
        ));
    }
    Ok(name(STAGING_RANDOM_LEN - excess))
}

/// Gives the staged socket its final name, never replacing what is there.
async fn publish(staged: &Path, path: &Path) -> io::Result<()> {
    match std::fs::hard_link(staged, path) {
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
            remove_stale_socket(path).await?;
            std::fs::hard_link(staged, path).map_err(|err| {
                if err.kind() == io::ErrorKind::AlreadyExists {
                    io::Error::new(
                        io::ErrorKind::AddrInUse,
                        "another server took the path while this one was starting",
                    )
                } else {
                    err
                }
            })
        }
        linked => linked,
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
    let probed = std::fs::symlink_metadata(path)?;
    if !probed.file_type().is_socket() {
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
            // Only the file that was probed: if another server has put its
            // own there since, linking ours fails instead.
            let unchanged =
                std::fs::symlink_metadata(path).is_ok_and(|now| same_file(&now, &probed));
            if unchanged {
                tracing::debug!(path = %path.display(), "replacing stale socket file");
                match std::fs::remove_file(path) {
                    Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
                    _ => {}
                }
            }
            Ok(())
        }
        // Anything else (permission denied, a full backlog) may be a live
        // server we cannot see into: leave it alone.
        Err(err) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("the socket exists and may be in use ({err})"),
        )),
    }
}

fn same_file(a: &Metadata, b: &Metadata) -> bool {
    a.dev() == b.dev() && a.ino() == b.ino()
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
    /// The file that will be at `path`, known by its metadata `meta`.
    fn new(path: &Path, meta: &Metadata) -> Self {
        Self {
            path: path.to_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn len(path: &Path) -> usize {
        path.as_os_str().len()
    }

    #[test]
    fn staging_dir_is_a_hidden_sibling_with_twelve_random_characters_when_there_is_room() {
        let path = Path::new("/run/user/1000/my-app.sock");
        let dir = staging_dir(path, 0x0123_4567_89ab_cdef).unwrap();
        assert_eq!(dir.parent(), path.parent());
        let name = dir.file_name().unwrap().to_str().unwrap();
        assert_eq!(name.len(), 1 + STAGING_RANDOM_LEN, "{name}");
        assert!(name.starts_with('.'), "{name}");
        assert_ne!(
            staging_dir(path, 1).unwrap(),
            staging_dir(path, 2).unwrap(),
            "different randomness, different names"
        );
    }

    #[test]
    fn staging_dir_shortens_its_name_so_the_staged_socket_fits_the_limit() {
        // The final name is one byte long: the staging path is longer than the
        // final one and must give up random characters to fit.
        for parent_len in [MAX_PATH_LEN - 14, MAX_PATH_LEN - 10, MAX_PATH_LEN - 5] {
            let parent = format!("/{}", "d".repeat(parent_len - 1));
            let path = PathBuf::from(format!("{parent}/x"));
            let dir = staging_dir(&path, u64::MAX).unwrap();
            let staged = dir.join(STAGED_NAME);
            assert!(len(&staged) <= MAX_PATH_LEN, "{}", staged.display());
            let random_len = STAGING_RANDOM_LEN.min(MAX_PATH_LEN - parent_len - 4);
            assert_eq!(len(&dir), parent_len + 2 + random_len, "{}", dir.display());
        }
        // The longest parent that still leaves room: one random character.
        let parent = format!("/{}", "d".repeat(MAX_PATH_LEN - 6));
        let dir = staging_dir(&PathBuf::from(format!("{parent}/x")), 0).unwrap();
        assert_eq!(len(&dir.join(STAGED_NAME)), MAX_PATH_LEN);
    }

    #[test]
    fn staging_dir_refuses_a_directory_that_leaves_no_room() {
        let parent = format!("/{}", "d".repeat(MAX_PATH_LEN - 5));
        let path = PathBuf::from(format!("{parent}/x"));
        assert!(check_path_len(&path).is_ok(), "the final path itself fits");
        let err = staging_dir(&path, 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let message = err.to_string();
        assert!(
            message.contains(&format!("is {} bytes", MAX_PATH_LEN + 1)),
            "{message}"
        );
        assert!(message.contains("shorter directory"), "{message}");
    }

    #[test]
    fn staging_dir_is_private_and_removed_with_its_contents() {
        let base = std::env::temp_dir().join(format!("tower-ipc-staging-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        let staging = Staging::create(&base.join("app.sock")).unwrap();
        let meta = std::fs::metadata(&staging.dir).unwrap();
        assert!(meta.is_dir());
        assert_eq!(meta.mode() & 0o777, 0o700);
        std::fs::write(&staging.socket, b"").unwrap();
        let dir = staging.dir.clone();
        drop(staging);
        assert!(!dir.exists(), "staging directory left behind");
        std::fs::remove_dir(&base).unwrap();
    }
}
