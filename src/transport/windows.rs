//! Windows named pipes.

use std::io;

use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};

use super::PeerInfo;
use crate::sys::windows as sys;

/// `ERROR_ACCESS_DENIED`: what creating a first instance returns when the
/// name already exists.
const ERROR_ACCESS_DENIED: i32 = 5;

/// A named pipe server that always keeps one unconnected instance waiting.
#[derive(Debug)]
pub(crate) struct PipeListener {
    name: String,
    next: NamedPipeServer,
}

impl PipeListener {
    /// Creates the first instance, which fails if the name is already served:
    /// nobody can create the pipe first and pose as this server.
    ///
    /// `FILE_FLAG_FIRST_PIPE_INSTANCE` is the guarantee; the existence check
    /// before it gives the clearer error, and is what protects the name on
    /// systems that ignore the flag (Wine does).
    pub(crate) fn bind(name: &str) -> io::Result<Self> {
        if sys::pipe_exists(name) == Some(true) {
            return Err(already_served());
        }
        let next = options(true).create(name).map_err(|err| {
            if err.raw_os_error() == Some(ERROR_ACCESS_DENIED) {
                already_served()
            } else {
                err
            }
        })?;
        Ok(Self {
            name: name.to_owned(),
            next,
        })
    }

    pub(crate) async fn accept(&mut self) -> io::Result<(NamedPipeServer, PeerInfo)> {
        if let Err(err) = self.next.connect().await {
            // The instance is unusable (the client left before we saw it):
            // put a fresh one in its place so the name stays served.
            self.next = options(false).create(&self.name)?;
            return Err(err);
        }
        // Create the next instance before handing this one over, so a client
        // never finds every instance taken between two accepts. If creating
        // it fails, `next` stays connected and the next call hands it over.
        let fresh = options(false).create(&self.name)?;
        let connected = std::mem::replace(&mut self.next, fresh);
        let peer = match sys::client_process_id(&connected) {
            Ok(pid) => PeerInfo::new().with_pid(pid),
            Err(err) => {
                tracing::debug!(error = %err, "client process id unavailable");
                PeerInfo::new()
            }
        };
        Ok((connected, peer))
    }
}

fn already_served() -> io::Error {
    io::Error::new(
        io::ErrorKind::AddrInUse,
        "a pipe of this name already exists: another server is running there",
    )
}

fn options(first: bool) -> ServerOptions {
    let mut options = ServerOptions::new();
    options
        .first_pipe_instance(first)
        .reject_remote_clients(true);
    options
}
