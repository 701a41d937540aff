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
            .map_err(|err| {
                if err.raw_os_error() == Some(ERROR_ACCESS_DENIED) {
                    io::Error::new(
                        err.kind(),
                        format!(
                            "cannot create the next instance of `{}`: its security descriptor \
                             `{}` must grant this server FILE_CREATE_PIPE_INSTANCE ({err})",
                            self.name,
                            self.security.sddl()
                        ),
                    )
                } else {
                    err
                }
            })
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

#[cfg(test)]
mod tests {
    //! Wine does not enforce these descriptors when clients connect; what
    //! these tests show is that they are built as intended, accepted by the
    //! system, and what every pipe instance carries.

    use super::*;

    /// The access control entries of an SDDL DACL, as (rights, trustee).
    fn aces(sddl: &str) -> Vec<(String, String)> {
        sddl.split('(')
            .skip(1)
            .map(|ace| {
                let fields: Vec<&str> = ace.trim_end_matches(')').split(';').collect();
                assert_eq!(fields.len(), 6, "{sddl}");
                assert_eq!(fields[0], "A", "only allow entries: {sddl}");
                (fields[2].to_owned(), fields[5].to_owned())
            })
            .collect()
    }

    fn trustees(sddl: &str) -> Vec<String> {
        let mut trustees: Vec<String> = aces(sddl).into_iter().map(|(_, who)| who).collect();
        trustees.sort();
        trustees
    }

    #[test]
    fn default_descriptor_names_the_current_user_and_system_and_nobody_else() {
        let user = sys::current_user_sid().unwrap();
        assert!(user.starts_with("S-1-5-"), "{user}");
        let sddl = default_sddl(&user, false);
        assert_eq!(sddl, format!("D:P(A;;GA;;;SY)(A;;GA;;;{user})"));
        let round_trip = SecurityDescriptor::from_sddl(&sddl)
            .unwrap()
            .to_sddl()
            .unwrap();
        assert!(round_trip.starts_with("D:P"), "{round_trip}");
        let mut expected = vec!["SY".to_owned(), user];
        expected.sort();
        assert_eq!(trustees(&round_trip), expected, "{round_trip}");
    }

    #[test]
    fn local_users_get_client_rights_but_never_the_right_to_create_instances() {
        let user = sys::current_user_sid().unwrap();
        let sddl = default_sddl(&user, true);
        let round_trip = SecurityDescriptor::from_sddl(&sddl)
            .unwrap()
            .to_sddl()
            .unwrap();
        let aces = aces(&round_trip);
        let (rights, _) = aces
            .iter()
            .find(|(_, who)| who == "AU")
            .expect("an AU entry");
        let rights = u32::from_str_radix(rights.trim_start_matches("0x"), 16);
        assert_eq!(rights, Ok(sys::CLIENT_RIGHTS), "{round_trip}");
        // FILE_APPEND_DATA, which on a pipe is FILE_CREATE_PIPE_INSTANCE.
        assert_eq!(sys::CLIENT_RIGHTS & 0x4, 0);
        assert_eq!(aces.len(), 3, "{round_trip}");
    }

    #[test]
    fn an_invalid_sddl_is_invalid_input_that_quotes_it() {
        let err = SecurityDescriptor::from_sddl("D:(X;;;;;)").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("`D:(X;;;;;)`"), "{err}");
    }

    #[tokio::test]
    async fn every_instance_carries_the_descriptor() {
        let name = format!(r"\\.\pipe\tower-ipc-unit-sddl-{}", std::process::id());
        let options = BindOptions::new().allow_local_users();
        let mut listener = PipeListener::bind(&name, &options).unwrap();
        let first = sys::pipe_sddl(&listener.next).unwrap();
        let _client = sys::open_pipe_client(&name).unwrap();
        let (connected, _) = listener.accept().await.unwrap();
        assert_eq!(sys::pipe_sddl(&connected).unwrap(), first);
        let later = sys::pipe_sddl(&listener.next).unwrap();
        assert_eq!(later, first, "a later instance differs");
        assert!(trustees(&first).contains(&"AU".to_owned()), "{first}");
    }
}
