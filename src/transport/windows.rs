//! Windows named pipes.

use std::{fmt::Write as _, io};

use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};

use super::{BindOptions, PeerInfo};
use crate::sys::windows::{self as sys, SecurityDescriptor};

/// `ERROR_ACCESS_DENIED`: what creating a first instance returns when the
/// name already exists.
const ERROR_ACCESS_DENIED: i32 = 5;

/// A named pipe server that always keeps one unconnected instance waiting.
#[derive(Debug)]
pub(crate) struct PipeListener {
    name: String,
    next: NamedPipeServer,
    /// Every instance gets it: the first one's descriptor guards the name,
    /// and each later instance's must match what clients were promised.
    security: SecurityDescriptor,
}

impl PipeListener {
    /// Creates the first instance, which fails if the name is already served:
    /// nobody can create the pipe first and pose as this server.
    ///
    /// `FILE_FLAG_FIRST_PIPE_INSTANCE` is the guarantee; the existence check
    /// before it gives the clearer error, and is what protects the name on
    /// systems that ignore the flag (Wine does).
    pub(crate) fn bind(name: &str, options: &BindOptions) -> io::Result<Self> {
        let security = security_descriptor(options)?;
        if sys::pipe_exists(name) == Some(true) {
            return Err(already_served());
        }
        let next = security
            .create_pipe(&server_options(true), name)
            .map_err(|err| {
                if err.raw_os_error() == Some(ERROR_ACCESS_DENIED) {
                    already_served()
                } else {
                    err
                }
            })?;
        tracing::debug!(pipe = name, sddl = security.sddl(), "pipe security");
        Ok(Self {
            name: name.to_owned(),
            next,
            security,
        })
    }

    pub(crate) async fn accept(&mut self) -> io::Result<(NamedPipeServer, PeerInfo)> {
        if let Err(err) = self.next.connect().await {
            // The instance is unusable (the client left before we saw it):
            // put a fresh one in its place so the name stays served.
            self.next = self.create_next()?;
            return Err(err);
        }
        // Create the next instance before handing this one over, so a client
        // never finds every instance taken between two accepts. If creating
        // it fails, `next` stays connected and the next call hands it over.
        let fresh = self.create_next()?;
        let connected = std::mem::replace(&mut self.next, fresh);
        let peer = peer_info(&connected);
        Ok((connected, peer))
    }

    fn create_next(&self) -> io::Result<NamedPipeServer> {
        self.security
            .create_pipe(&server_options(false), &self.name)
    }
}

/// The client's process id and, when this process may look, its user.
fn peer_info(pipe: &NamedPipeServer) -> PeerInfo {
    let pid = match sys::client_process_id(pipe) {
        Ok(pid) => pid,
        Err(err) => {
            tracing::debug!(error = %err, "client process id unavailable");
            return PeerInfo::new();
        }
    };
    let peer = PeerInfo::new().with_pid(pid);
    match sys::process_user_sid(pid) {
        Ok(sid) => peer.with_user_sid(sid),
        Err(err) => {
            tracing::debug!(pid, error = %err, "client user unavailable");
            peer
        }
    }
}

/// The descriptor `options` ask for: theirs, or the default one.
fn security_descriptor(options: &BindOptions) -> io::Result<SecurityDescriptor> {
    let sddl = match options.custom_sddl() {
        Some(sddl) => sddl.to_owned(),
        None => {
            let user = sys::current_user_sid().map_err(|err| {
                io::Error::new(
                    err.kind(),
                    format!("cannot build the pipe's security descriptor: this process's user is unknown ({err})"),
                )
            })?;
            default_sddl(&user, options.local_users())
        }
    };
    SecurityDescriptor::from_sddl(&sddl)
}

/// A protected DACL (`P`: nothing inherited) giving SYSTEM and the current
/// user full access, and with `local_users`, every authenticated user (`AU`)
/// the rights of a client: never `FILE_CREATE_PIPE_INSTANCE`, so they cannot
/// add instances and answer this pipe's clients. Anyone else, including the
/// anonymous logon and everyone Windows' default pipe descriptor lets read,
/// is denied.
fn default_sddl(user_sid: &str, local_users: bool) -> String {
    let mut sddl = format!("D:P(A;;GA;;;SY)(A;;GA;;;{user_sid})");
    if local_users {
        let _ = write!(sddl, "(A;;{:#x};;;AU)", sys::CLIENT_RIGHTS);
    }
    sddl
}

fn already_served() -> io::Error {
    io::Error::new(
        io::ErrorKind::AddrInUse,
        "a pipe of this name already exists: another server is running there",
    )
}

fn server_options(first: bool) -> ServerOptions {
    let mut options = ServerOptions::new();
    options
        .first_pipe_instance(first)
        .reject_remote_clients(true);
    options
}
