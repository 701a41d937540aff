//! Lifetime events: a child tells its parent how its startup and shutdown
//! are going, as decred's node does.

use std::{
    fmt, io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use futures::{SinkExt, Stream};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::codec::{PipeMessage, PipeMessageCodec};
use crate::transport::WritePipe;

/// The environment variable through which a parent tells its child where
/// to report lifetime events; [`ChildProcess::spawn`](super::ChildProcess::spawn)
/// sets it and [`LifetimeReporter::from_env`] reads it.
///
/// Its value is the number of an inherited pipe and a check of that pipe's
/// identity; it means nothing outside the child it was set for. Children
/// started through this crate's other functions do not inherit it.
pub const LIFETIME_PIPE_ENV: &str = crate::transport::child::LIFETIME_PIPE_ENV;

/// Lifetime messages are two bytes; other message types a parent may get
/// on the same pipe are skipped, but not without a bound.
const MAX_PAYLOAD: usize = 64 * 1024;

/// Which startup or shutdown step a [`LifetimeEvent`] is about: a number the
/// child and its parent agree on.
///
/// The constants are the numbers decred's node (`dcrd`) uses; other
/// programs number their own steps.
///
/// ```
/// use tower_ipc::process::LifetimeAction;
///
/// const LOAD_MODEL: LifetimeAction = LifetimeAction::new(7);
/// assert_eq!(LOAD_MODEL.get(), 7);
/// assert_eq!(LOAD_MODEL.to_string(), "step 7");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LifetimeAction(u8);

impl LifetimeAction {
    /// `dcrd`: the database is being opened (startup) or closed (shutdown).
    pub const DATABASE: Self = Self(0);
    /// `dcrd`: the peer-to-peer server is starting or stopping.
    pub const P2P_SERVER: Self = Self(1);

    /// The step numbered `id`.
    pub const fn new(id: u8) -> Self {
        Self(id)
    }

    /// The step's number, as it travels on the wire.
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for LifetimeAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {}", self.0)
    }
}

/// One report of a child to its parent: a startup step about to run,
/// startup complete, or a shutdown step about to run.
///
/// # Wire format
///
/// A [`PipeMessage`] of type `"lifetimeevent"` whose payload is two bytes:
/// the event (0 startup, 1 startup complete, 2 shutdown) and the
/// [action](LifetimeAction) (0 for startup complete).
///
/// ```
/// use tower_ipc::{codec::PipeMessage, process::{LifetimeAction, LifetimeEvent}};
///
/// let message = PipeMessage::from(LifetimeEvent::Shutdown(LifetimeAction::P2P_SERVER));
/// assert_eq!(message.kind(), "lifetimeevent");
/// assert_eq!(&message.payload()[..], [2, 1]);
/// assert_eq!(
///     LifetimeEvent::from_message(&message)?,
///     Some(LifetimeEvent::Shutdown(LifetimeAction::P2P_SERVER))
/// );
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LifetimeEvent {
    /// A startup step is about to run.
    Startup(LifetimeAction),
    /// Every startup step has run: the child is ready for requests.
    StartupComplete,
    /// A shutdown step is about to run.
    Shutdown(LifetimeAction),
}

impl LifetimeEvent {
    /// The [`PipeMessage`] type of lifetime events.
    pub const MESSAGE_TYPE: &'static str = "lifetimeevent";

    /// The lifetime event `message` carries: `None` when it is a message of
    /// another type.
    ///
    /// # Errors
    ///
    /// A `"lifetimeevent"` message whose payload is not two bytes, or whose
    /// event byte is not 0, 1 or 2, is an [`io::Error`] of kind
    /// [`InvalidData`](io::ErrorKind::InvalidData) saying which.
    pub fn from_message(message: &PipeMessage) -> io::Result<Option<Self>> {
        if message.kind() != Self::MESSAGE_TYPE {
            return Ok(None);
        }
        let &[event, action] = &message.payload()[..] else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "lifetime event payload is {} bytes; it must be 2",
                    message.payload().len()
                ),
            ));
        };
        let action = LifetimeAction(action);
        match event {
            0 => Ok(Some(Self::Startup(action))),
            1 => Ok(Some(Self::StartupComplete)),
            2 => Ok(Some(Self::Shutdown(action))),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "unknown lifetime event {event} (known: 0 startup, 1 startup complete, 2 shutdown)"
                ),
            )),
        }
    }
}

impl From<LifetimeEvent> for PipeMessage {
    fn from(event: LifetimeEvent) -> Self {
        let payload = match event {
            LifetimeEvent::Startup(action) => [0, action.0],
            LifetimeEvent::StartupComplete => [1, 0],
            LifetimeEvent::Shutdown(action) => [2, action.0],
        };
        PipeMessage::with_static_type(
            LifetimeEvent::MESSAGE_TYPE,
            Bytes::copy_from_slice(&payload),
        )
    }
}

impl fmt::Display for LifetimeEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Startup(action) => write!(f, "startup {action}"),
            Self::StartupComplete => f.write_str("startup complete"),
            Self::Shutdown(action) => write!(f, "shutdown {action}"),
        }
    }
}

type BoxedWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// The child's side: reports [`LifetimeEvent`]s to the parent.
///
/// ```no_run
/// use tower_ipc::process::{LifetimeAction, LifetimeReporter};
///
/// # async fn run() -> std::io::Result<()> {
/// // Reports nothing when the parent did not ask for events.
/// let mut lifetime = LifetimeReporter::from_env()?;
/// lifetime.startup(LifetimeAction::DATABASE).await?;
/// // ... open the database ...
/// lifetime.startup_complete().await?;
/// // ... serve until the parent closes stdin ...
/// lifetime.shutdown(LifetimeAction::DATABASE).await?;
/// # Ok(())
/// # }
/// ```
///
/// Each report is written and flushed before the call returns. A report
/// fails when the parent no longer listens (it exited, or dropped its end);
/// a child usually goes on with its startup or shutdown regardless.
pub struct LifetimeReporter {
    sink: Option<FramedWrite<BoxedWrite, PipeMessageCodec>>,
}

impl LifetimeReporter {
    /// Reports to the pipe a parent named in [`LIFETIME_PIPE_ENV`], as
    /// [`ChildProcess`](super::ChildProcess) and
    /// [`Supervisor`](super::Supervisor) do; when the variable is not set,
    /// a [disabled](Self::disabled) reporter.
    ///
    /// The pipe is checked before it is taken over: it must be open for
    /// writing and be the very pipe the parent made (so a variable inherited
    /// from a grandparent is refused, not obeyed), and it can be taken over
    /// only once per process. Once taken, the children this process starts
    /// do not inherit it; take it early, since until then a child started
    /// without this crate would inherit both the pipe and the variable.
    ///
    /// # Errors
    ///
    /// Fails, naming the variable and the number, when the variable is set
    /// but a check fails.
    ///
    /// # Panics
    ///
    /// Panics outside a Tokio runtime.
    pub fn from_env() -> io::Result<Self> {
        let Some(value) = std::env::var_os(LIFETIME_PIPE_ENV) else {
            return Ok(Self::disabled());
        };
        let error = |kind, message: &dyn fmt::Display| {
            let value = value.to_string_lossy();
            io::Error::new(kind, format!("{LIFETIME_PIPE_ENV}={value}: {message}"))
        };
        let parsed = value.to_str().and_then(|value| {
            let (number, identity) = value.split_once(':')?;
            Some((number.parse::<u64>().ok()?, identity))
        });
        let Some((number, identity)) = parsed else {
            let message = "not a pipe number and its identity";
            return Err(error(io::ErrorKind::InvalidInput, &message));
        };
        let file = crate::sys::take_lifetime_pipe(number, identity)
            .map_err(|err| error(err.kind(), &err))?;
        Ok(Self::new(WritePipe::new(file)?))
    }

    /// Reports on `io`, for a parent that listens elsewhere than
    /// [`LIFETIME_PIPE_ENV`] says (a pipe handed over by number, say).
    pub fn new(io: impl AsyncWrite + Send + Unpin + 'static) -> Self {
        let io: BoxedWrite = Box::new(io);
        Self {
            sink: Some(FramedWrite::new(io, PipeMessageCodec::new())),
        }
    }

    /// A reporter that reports nothing, for a child nobody asked for events.
    pub fn disabled() -> Self {
        Self { sink: None }
    }

    /// Whether reports go anywhere.
    pub fn is_enabled(&self) -> bool {
        self.sink.is_some()
    }

    /// Reports that a startup step is about to run.
    ///
    /// # Errors
    ///
    /// As [`report`](Self::report).
    pub async fn startup(&mut self, action: LifetimeAction) -> io::Result<()> {
        self.report(LifetimeEvent::Startup(action)).await
    }

    /// Reports that startup is complete: the parent may send requests.
    ///
    /// # Errors
    ///
    /// As [`report`](Self::report).
    pub async fn startup_complete(&mut self) -> io::Result<()> {
        self.report(LifetimeEvent::StartupComplete).await
    }

    /// Reports that a shutdown step is about to run.
    ///
    /// # Errors
    ///
    /// As [`report`](Self::report).
    pub async fn shutdown(&mut self, action: LifetimeAction) -> io::Result<()> {
        self.report(LifetimeEvent::Shutdown(action)).await
    }

    /// Writes `event` and flushes it.
    ///
    /// # Errors
    ///
    /// Fails when the pipe does, typically with
    /// [`BrokenPipe`](io::ErrorKind::BrokenPipe) because the parent is gone.
    /// A disabled reporter never fails.
    pub async fn report(&mut self, event: LifetimeEvent) -> io::Result<()> {
        match &mut self.sink {
            Some(sink) => sink.send(PipeMessage::from(event)).await,
            None => Ok(()),
        }
    }
}

impl fmt::Debug for LifetimeReporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LifetimeReporter")
            .field("enabled", &self.is_enabled())
            .finish()
    }
}

type BoxedRead = Box<dyn AsyncRead + Send + Unpin>;

/// The parent's side: the [`LifetimeEvent`]s a child reports, as a
/// [`Stream`]. Messages of other types on the same pipe are skipped.
///
/// [`ChildProcess`](super::ChildProcess) makes one; its
/// [`wait_ready`](super::ChildProcess::wait_ready) reads it up to startup
/// complete.
///
/// # Errors
///
/// An item is an error when the pipe fails or carries something that is not
/// a pipe message or not a valid lifetime event; the stream cannot be
/// resynchronised after that. It ends when the child closes the pipe
/// (usually by exiting).
pub struct LifetimeEvents {
    messages: FramedRead<BoxedRead, PipeMessageCodec>,
}

impl LifetimeEvents {
    /// Reads lifetime events from `io`.
    pub fn new(io: impl AsyncRead + Send + Unpin + 'static) -> Self {
        let io: BoxedRead = Box::new(io);
        let codec = PipeMessageCodec::new().max_payload_length(MAX_PAYLOAD);
        Self {
            messages: FramedRead::new(io, codec),
        }
    }
}

impl Stream for LifetimeEvents {
    type Item = io::Result<LifetimeEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let message = match ready!(Pin::new(&mut self.messages).poll_next(cx)) {
                Some(Ok(message)) => message,
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                None => return Poll::Ready(None),
            };
            match LifetimeEvent::from_message(&message) {
                Ok(Some(event)) => return Poll::Ready(Some(Ok(event))),
                Ok(None) => tracing::trace!(
                    kind = message.kind(),
                    "skipping a message that is not a lifetime event"
                ),
                Err(err) => return Poll::Ready(Some(Err(err))),
            }
        }
    }
}

impl fmt::Debug for LifetimeEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LifetimeEvents").finish_non_exhaustive()
    }
}
