//! Windows named pipes: a listener that keeps a backlog of instances
//! waiting for clients, and connecting in byte or message mode.

mod message;

use std::{
    fmt::{self, Write as _},
    future::Future,
    io,
    os::windows::io::AsRawHandle,
    pin::Pin,
    sync::Arc,
};

use futures::{StreamExt, stream::FuturesUnordered};
use tokio::{
    net::windows::named_pipe::{NamedPipeServer, ServerOptions},
    sync::oneshot,
};

use super::{BindOptions, ConnectOptions, IpcStream, PeerInfo};
use crate::sys::windows::{self as sys, MessagePipe, SecurityDescriptor};
pub(crate) use message::MessageStream;

/// `ERROR_ACCESS_DENIED`: what creating a first instance returns when the
/// name already exists.
const ERROR_ACCESS_DENIED: i32 = 5;

/// A named pipe server that keeps a backlog of unconnected instances
/// waiting for clients, and creates another each time it hands a connected
/// one over.
pub(crate) struct PipeListener {
    name: String,
    /// Every instance gets it: the first one's descriptor guards the name,
    /// and each later instance's must match what clients were promised.
    security: SecurityDescriptor,
    mode: Mode,
    /// How many instances wait for clients.
    backlog: usize,
    /// The instances created and not yet handed over, each waiting for a
    /// client or connected to one.
    waiting: FuturesUnordered<Waiting>,
}

/// What the instances carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Bytes,
    Messages { max_len: usize },
}

/// An instance waiting for a client: it ends when one connects (or the
/// attempt fails), with the instance.
type Waiting = Pin<Box<dyn Future<Output = (io::Result<()>, Instance)> + Send>>;

enum Instance {
    Bytes(NamedPipeServer),
    Messages {
        pipe: Arc<MessagePipe>,
        max_len: usize,
    },
}

impl PipeListener {
    /// Creates the first instance, which fails if the name is already served,
    /// and the rest of the backlog.
    ///
    /// The existence check gives the clear error, and is what refuses a
    /// second server on systems that ignore `FILE_FLAG_FIRST_PIPE_INSTANCE`
    /// (Wine does). The flag closes the gap between the check and the
    /// creation. Neither keeps out a process that created the name *before*
    /// this server: this bind fails then, but that process keeps the name
    /// and can answer clients, which cannot tell it from the server (see
    /// the README's Security section: start the server before its clients).
    pub(crate) fn bind(name: &str, options: &BindOptions) -> io::Result<Self> {
        let security = security_descriptor(options)?;
        if sys::pipe_exists(name) == Some(true) {
            return Err(already_served());
        }
        let backlog = options
            .checked_backlog()?
            .unwrap_or(BindOptions::PIPE_BACKLOG);
        let mut listener = Self {
            name: name.to_owned(),
            security,
            mode: match options.max_message_len() {
                Some(max_len) => Mode::Messages { max_len },
                None => Mode::Bytes,
            },
            backlog: usize::try_from(backlog).unwrap_or(usize::MAX),
            waiting: FuturesUnordered::new(),
        };
        let first = listener.create(true).map_err(|err| {
            if err.raw_os_error() == Some(ERROR_ACCESS_DENIED) {
                already_served()
            } else {
                err
            }
        })?;
        listener.waiting.push(first);
        listener.top_up()?;
        tracing::debug!(
            pipe = name,
            sddl = listener.security.sddl(),
            backlog,
            mode = ?listener.mode,
            "pipe created"
        );
        Ok(listener)
    }

    /// Waits for a client on any waiting instance and hands that instance
    /// over, with a new one waiting in its place.
    ///
    /// Cancel safe: the instances wait in `self`, connected or not, until a
    /// call of this returns one.
    pub(crate) async fn accept(&mut self) -> io::Result<(IpcStream, PeerInfo)> {
        Ok(self.next_connected().await?.into_stream())
    }

    /// The next instance a client connected to.
    async fn next_connected(&mut self) -> io::Result<Instance> {
        // Make up for instances that could not be created before.
        if let Err(err) = self.top_up() {
            if self.waiting.is_empty() {
                return Err(err);
            }
            tracing::debug!(pipe = %self.name, error = %err, "fewer instances wait than the backlog");
        }
        let Some((connected, instance)) = self.waiting.next().await else {
            return Err(io::Error::other("no pipe instance waits for clients"));
        };
        // Replace it before handing it over, so the backlog stays full. A
        // failure leaves one fewer waiting; the next accept tries again.
        if let Err(err) = self.top_up() {
            tracing::debug!(pipe = %self.name, error = %err, "fewer instances wait than the backlog");
        }
        // An instance whose client left before it was seen is dropped.
        connected?;
        Ok(instance)
    }

    /// Creates instances until the backlog is full.
    fn top_up(&mut self) -> io::Result<()> {
        while self.waiting.len() < self.backlog {
            let waiting = self.create(false)?;
            self.waiting.push(waiting);
        }
        Ok(())
    }

    /// Creates an instance, waiting for a client.
    fn create(&self, first: bool) -> io::Result<Waiting> {
        let created = match self.mode {
            Mode::Bytes => self
                .security
                .create_pipe(&server_options(first), &self.name)
                .map(|server| -> Waiting {
                    Box::pin(async move {
                        let connected = server.connect().await;
                        (connected, Instance::Bytes(server))
                    })
                }),
            Mode::Messages { max_len } => MessagePipe::create(&self.name, first, &self.security)
                .and_then(|pipe| wait_for_client(Arc::new(pipe), max_len)),
        };
        created.map_err(|err| {
            if !first && err.raw_os_error() == Some(ERROR_ACCESS_DENIED) {
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

impl fmt::Debug for PipeListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeListener")
            .field("name", &self.name)
            .field("security", &self.security)
            .field("mode", &self.mode)
            .field("backlog", &self.backlog)
            .field("waiting", &self.waiting.len())
            .finish()
    }
}

impl Instance {
    fn into_stream(self) -> (IpcStream, PeerInfo) {
        match self {
            Self::Bytes(server) => {
                let peer = peer_info(&server);
                (server.into(), peer)
            }
            Self::Messages { pipe, max_len } => {
                let peer = peer_info(&*pipe);
                (MessageStream::new(pipe, max_len).into(), peer)
            }
        }
    }
}

/// Waits for a client of a message-mode instance on a thread of its own;
/// dropping the future closes the instance, which ends the thread.
fn wait_for_client(pipe: Arc<MessagePipe>, max_len: usize) -> io::Result<Waiting> {
    let (done, result) = oneshot::channel();
    let waiter = Arc::clone(&pipe);
    std::thread::Builder::new()
        .name("tower-ipc pipe instance".to_owned())
        .stack_size(64 * 1024)
        .spawn(move || {
            let _ = done.send(waiter.wait_connected());
        })?;
    let mut close = CloseOnDrop { pipe, armed: true };
    Ok(Box::pin(async move {
        let connected = result
            .await
            .unwrap_or_else(|_| Err(io::Error::other("the thread waiting for a client ended")));
        close.armed = false;
        let pipe = Arc::clone(&close.pipe);
        (connected, Instance::Messages { pipe, max_len })
    }))
}

/// Closes a message pipe when dropped while armed: a listener dropped with
/// instances waiting ends their threads.
struct CloseOnDrop {
    pipe: Arc<MessagePipe>,
    armed: bool,
}

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.pipe.close();
        }
    }
}

/// Opens the client end of the pipe `name` as `options` say.
pub(crate) fn connect(name: &str, options: &ConnectOptions) -> io::Result<IpcStream> {
    match options.max_message_len() {
        None => Ok(sys::open_pipe_client(name)?.into()),
        Some(max_len) => {
            let pipe = Arc::new(MessagePipe::open(name)?);
            Ok(MessageStream::new(pipe, max_len).into())
        }
    }
}

/// The client's process id and, when this process may look, its user.
fn peer_info(pipe: &impl AsRawHandle) -> PeerInfo {
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

    fn unique_name(tag: &str) -> String {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        format!(r"\\.\pipe\tower-ipc-unit-{tag}-{}-{n}", std::process::id())
    }

    fn sddl_of(instance: &Instance) -> String {
        match instance {
            Instance::Bytes(server) => sys::pipe_sddl(server),
            Instance::Messages { pipe, .. } => sys::pipe_sddl(&**pipe),
        }
        .unwrap()
    }

    /// Opens a client of `name` the way connect does, without waiting.
    fn open(name: &str, messages: bool) -> io::Result<Box<dyn std::any::Any>> {
        Ok(if messages {
            Box::new(MessagePipe::open(name)?)
        } else {
            Box::new(sys::open_pipe_client(name)?)
        })
    }

    #[tokio::test]
    async fn every_instance_carries_the_descriptor() {
        for messages in [false, true] {
            let name = unique_name("sddl");
            let options = BindOptions::new().allow_local_users().backlog(1);
            let options = if messages {
                options.message_mode(512)
            } else {
                options
            };
            let mut listener = PipeListener::bind(&name, &options).unwrap();
            // With a backlog of one, the first client gets the first
            // instance and the second one created later.
            let _first_client = open(&name, messages).unwrap();
            let first = sddl_of(&listener.next_connected().await.unwrap());
            let _later_client = open(&name, messages).unwrap();
            let later = sddl_of(&listener.next_connected().await.unwrap());
            assert_eq!(later, first, "a later instance differs");
            assert!(trustees(&first).contains(&"AU".to_owned()), "{first}");
        }
    }

    /// Clients that connect and are not yet accepted hold their instances;
    /// past the backlog the pipe is busy until the listener accepts one and
    /// creates another.
    #[tokio::test]
    async fn the_backlog_of_instances_waits_for_clients_and_is_refilled_as_they_are_accepted() {
        for (backlog, messages) in [(None, false), (Some(3), false), (Some(3), true)] {
            let name = unique_name("backlog");
            let mut options = BindOptions::new();
            if let Some(backlog) = backlog {
                options = options.backlog(backlog);
            }
            if messages {
                options = options.message_mode(512);
            }
            let expected = backlog.unwrap_or(BindOptions::PIPE_BACKLOG);
            let mut listener = PipeListener::bind(&name, &options).unwrap();
            let mut clients = Vec::new();
            for client in 0..expected {
                let opened = open(&name, messages);
                clients.push(opened.unwrap_or_else(|err| panic!("client {client}: {err}")));
            }
            let Err(busy) = open(&name, messages) else {
                panic!("{options:?}: a client past the backlog connected")
            };
            assert_eq!(busy.raw_os_error(), Some(231), "{options:?}: {busy}");
            let _accepted = listener.next_connected().await.unwrap();
            clients.push(open(&name, messages).expect("the accepted instance was replaced"));
            let Err(busy) = open(&name, messages) else {
                panic!("{options:?}: a client past the backlog connected")
            };
            assert_eq!(busy.raw_os_error(), Some(231), "{options:?}: {busy}");
        }
    }

    #[tokio::test]
    async fn a_backlog_of_zero_is_refused() {
        let err =
            PipeListener::bind(&unique_name("zero"), &BindOptions::new().backlog(0)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("backlog of 0"), "{err}");
    }
}
