//! [`Supervisor`]: keeps one child process running and callable.

use std::{
    fmt, io,
    pin::Pin,
    process::ExitStatus,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Duration,
};

use futures::StreamExt;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    process::{Child, Command},
    sync::watch,
    task::JoinHandle,
    time::Instant,
};
use tokio_util::{
    codec::{Decoder, Encoder, Framed},
    sync::{CancellationToken, DropGuard, ReusableBoxFuture},
};
use tower::{BoxError, Service};

use super::{CallError, ChildProcess, LifetimeEvents, StartError, future::ResponseFuture};
use crate::{Client, transport::PipeStream};

/// Starts a child process, waits until it is ready, restarts it when it
/// dies, and shuts it down by closing its stdin.
///
/// The child is started with [`ChildProcess::spawn`]: requests and answers
/// on its stdin and stdout through a codec, lifetime events on a pipe of
/// their own. Callers reach whichever child is current through a
/// [`SupervisedClient`], a [`tower::Service`].
///
/// ```no_run
/// use std::time::Duration;
/// use bytes::Bytes;
/// use tokio::process::Command;
/// use tower::{Service, ServiceExt};
/// use tower_ipc::{codec::LengthPrefixed, process::Supervisor};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let supervisor = Supervisor::builder()
///     .ready_timeout(Duration::from_secs(10))
///     .start(|| Command::new("my-worker"), LengthPrefixed::new())
///     .await?;
///
/// let mut client = supervisor.client();
/// let answer: Bytes = client.ready().await?.call(Bytes::from("ping")).await?;
///
/// let status = supervisor.shutdown().await?;
/// # Ok(())
/// # }
/// ```
///
/// # Lifecycle
///
/// 1. [`Builder::start`] makes a command, starts the child and waits for it
///    to report startup complete (or, with
///    [`ready_when_spawned`](Builder::ready_when_spawned), not at all); an
///    error here is returned, not retried.
/// 2. While it runs, calls go to it; its lifetime events are logged.
/// 3. When it exits, or its connection fails (a protocol error), calls in
///    flight fail, new calls wait, and after a backoff a new child is
///    started from a new command; attempts that fail are retried with
///    longer delays. The delay doubles from the minimum up to the maximum
///    of [`restart_backoff`](Builder::restart_backoff), and is back to the
///    minimum once a child has stayed up for the maximum.
/// 4. [`shutdown`](Self::shutdown) stops new calls, lets the connection
///    close (which happens once the calls in flight are answered), and so
///    closes the child's stdin: the child finishes and exits. A child still
///    running after the [grace period](Builder::grace_period) is killed.
///    Dropping the supervisor does the same in the background.
///
/// Children are started with [`Command::kill_on_drop`], so none outlives
/// the runtime.
pub struct Supervisor<Req, Resp> {
    program: Arc<str>,
    state: watch::Receiver<State<Req, Resp>>,
    task: JoinHandle<io::Result<Option<ExitStatus>>>,
    stop: DropGuard,
}

impl Supervisor<(), ()> {
    /// Settings for a supervisor; the request and response types come from
    /// the codec given to [`Builder::start`].
    pub fn builder() -> Builder {
        Builder::new()
    }
}

impl<Req, Resp> Supervisor<Req, Resp> {
    /// A handle for calling the current child; cheap to clone.
    pub fn client(&self) -> SupervisedClient<Req, Resp>
    where
        Req: Send + 'static,
        Resp: Send + 'static,
    {
        SupervisedClient::new(Arc::clone(&self.program), self.state.clone())
    }

    /// The program, as the first command named it.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The process id of the current child; `None` while none is ready.
    pub fn pid(&self) -> Option<u32> {
        self.state.borrow().pid
    }

    /// How many times a child has been restarted.
    pub fn restarts(&self) -> u64 {
        self.state.borrow().restarts
    }

    /// Shuts the child down (see [Lifecycle](Self#lifecycle)) and returns
    /// how it exited, or `None` if none was running at that moment.
    ///
    /// # Errors
    ///
    /// Fails when the child could not be waited for or killed.
    pub async fn shutdown(self) -> io::Result<Option<ExitStatus>> {
        self.stop.disarm().cancel();
        match self.task.await {
            Ok(result) => result,
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(err) => Err(io::Error::other(format!(
                "the supervisor of `{}` was cancelled: {err}",
                self.program
            ))),
        }
    }
}

impl<Req, Resp> fmt::Debug for Supervisor<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Supervisor")
            .field("program", &self.program)
            .field("pid", &state.pid)
            .field("restarts", &state.restarts)
            .field("stopped", &state.stopped)
            .finish()
    }
}

/// What callers see of the supervision.
struct State<Req, Resp> {
    /// The current child's client; `None` while a child is being started,
    /// and after shutdown. The only long-lived handle on the connection, so
    /// that replacing it lets the connection close.
    client: Option<Client<Req, Resp>>,
    /// Counts the children started, so a caller can tell a new one from the
    /// one that failed under it.
    generation: u64,
    pid: Option<u32>,
    restarts: u64,
    stopped: bool,
}

/// Settings for a [`Supervisor`].
#[derive(Clone, Debug)]
pub struct Builder {
    ready_timeout: Duration,
    min_backoff: Duration,
    max_backoff: Duration,
    grace_period: Duration,
    wait_for_startup: bool,
}

impl Builder {
    /// How long a child may take to report startup complete unless set
    /// otherwise.
    pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);
    /// The first restart delay unless set otherwise.
    pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_millis(100);
    /// The longest restart delay unless set otherwise.
    pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);
    /// How long a child may take to exit after its stdin is closed unless
    /// set otherwise.
    pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(5);

    /// The default settings.
    pub fn new() -> Self {
        Self {
            ready_timeout: Self::DEFAULT_READY_TIMEOUT,
            min_backoff: Self::DEFAULT_MIN_BACKOFF,
            max_backoff: Self::DEFAULT_MAX_BACKOFF,
            grace_period: Self::DEFAULT_GRACE_PERIOD,
            wait_for_startup: true,
        }
    }

    /// Sets how long a child may take to report startup complete.
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Sets the delay before the first restart attempt and the longest
    /// delay between attempts (at least `min`).
    pub fn restart_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max.max(min);
        self
    }

    /// Sets how long a child may take to exit once its stdin is closed (at
    /// shutdown, or after its connection failed) before it is killed.
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace_period = grace;
        self
    }

    /// Considers a child ready as soon as it is started, for programs that
    /// report no lifetime events.
    pub fn ready_when_spawned(mut self) -> Self {
        self.wait_for_startup = false;
        self
    }

    /// Starts the first child from `make_command()` and waits until it is
    /// ready, then supervises it; `codec` frames the requests and answers
    /// of every child.
    ///
    /// `make_command` is called again for every restart: a command is used
    /// once.
    ///
    /// # Errors
    ///
    /// A [`StartError`] when the first child cannot be started or does not
    /// become ready; it is killed then.
    ///
    /// # Panics
    ///
    /// Panics outside a Tokio runtime.
    pub async fn start<F, C, Req, Resp>(
        &self,
        mut make_command: F,
        codec: C,
    ) -> Result<Supervisor<Req, Resp>, StartError>
    where
        F: FnMut() -> Command + Send + 'static,
        C: Decoder<Item = Resp> + Encoder<Req> + Clone + Send + 'static,
        <C as Decoder>::Error: Into<BoxError>,
        <C as Encoder<Req>>::Error: Into<BoxError>,
        Req: Send + 'static,
        Resp: Send + 'static,
    {
        let mut command = make_command();
        let program: Arc<str> = crate::transport::child::program(&command).into();
        let (running, client) = start_child(self, &mut command, codec.clone()).await?;
        let (state_tx, state_rx) = watch::channel(State {
            pid: running.pid,
            client: Some(client),
            generation: 1,
            restarts: 0,
            stopped: false,
        });
        tracing::info!(program = %program, pid = running.pid, "child ready");
        let stop = CancellationToken::new();
        let task = Task {
            config: self.clone(),
            make_command,
            codec,
            state: state_tx,
            stop: stop.clone(),
        };
        Ok(Supervisor {
            program,
            state: state_rx,
            task: tokio::spawn(task.run(running)),
            stop: stop.drop_guard(),
        })
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

/// A child the supervisor watches.
struct Running {
    program: String,
    pid: Option<u32>,
    child: Child,
    events: LifetimeEvents,
    events_open: bool,
    /// Cancelled when the connection's transport is dropped, which the
    /// client does when the connection fails (or when every handle on it is
    /// gone).
    connection_closed: CancellationToken,
    started: Instant,
}

impl Running {
    /// Waits for the child to exit, logging its lifetime events meanwhile.
    async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            tokio::select! {
                status = self.child.wait() => return status,
                event = self.events.next(), if self.events_open => self.log(event),
            }
        }
    }

    /// Waits for the child to exit for up to `grace`, then kills it.
    async fn finish(&mut self, grace: Duration) -> io::Result<ExitStatus> {
        if let Ok(status) = tokio::time::timeout(grace, self.wait()).await {
            return status;
        }
        tracing::warn!(
            program = %self.program, pid = self.pid, ?grace,
            "child did not exit within the grace period; killing it"
        );
        self.child.kill().await?;
        self.child.wait().await
    }

    fn log(&mut self, event: Option<io::Result<super::LifetimeEvent>>) {
        match event {
            Some(Ok(event)) => {
                tracing::info!(program = %self.program, pid = self.pid, %event, "child lifetime event");
            }
            Some(Err(err)) => {
                tracing::warn!(program = %self.program, pid = self.pid, error = %err, "bad lifetime event; ignoring the rest");
                self.events_open = false;
            }
            None => self.events_open = false,
        }
    }
}

/// Starts a child from `command` and waits until it is ready.
async fn start_child<C, Req, Resp>(
    config: &Builder,
    command: &mut Command,
    codec: C,
) -> Result<(Running, Client<Req, Resp>), StartError>
where
    C: Decoder<Item = Resp> + Encoder<Req> + Send + 'static,
    <C as Decoder>::Error: Into<BoxError>,
    <C as Encoder<Req>>::Error: Into<BoxError>,
    Req: Send + 'static,
    Resp: Send + 'static,
{
    let program = crate::transport::child::program(command);
    command.kill_on_drop(true);
    let mut child = ChildProcess::spawn(command).map_err(|err| StartError::spawn(&program, err))?;
    if config.wait_for_startup {
        // On failure the child is dropped, and so killed.
        child.wait_ready(config.ready_timeout).await?;
    }
    let pid = child.id();
    let (io, events, child) = child.into_parts();
    let connection_closed = CancellationToken::new();
    let io = Watched {
        inner: io,
        _closed: connection_closed.clone().drop_guard(),
    };
    let client = Client::new(Framed::new(io, codec));
    let running = Running {
        program,
        pid,
        child,
        events,
        events_open: true,
        connection_closed,
        started: Instant::now(),
    };
    Ok((running, client))
}

/// Why a running child stopped being current.
enum End {
    Stop,
    Exited(io::Result<ExitStatus>),
    ConnectionClosed,
}

struct Task<F, C, Req, Resp> {
    config: Builder,
    make_command: F,
    codec: C,
    state: watch::Sender<State<Req, Resp>>,
    stop: CancellationToken,
}

impl<F, C, Req, Resp> Task<F, C, Req, Resp>
where
    F: FnMut() -> Command + Send + 'static,
    C: Decoder<Item = Resp> + Encoder<Req> + Clone + Send + 'static,
    <C as Decoder>::Error: Into<BoxError>,
    <C as Encoder<Req>>::Error: Into<BoxError>,
    Req: Send + 'static,
    Resp: Send + 'static,
{
    async fn run(mut self, mut running: Running) -> io::Result<Option<ExitStatus>> {
        let mut backoff = self.config.min_backoff;
        loop {
            let status = match self.watch(&mut running).await {
                End::Stop => return self.shut_down(running).await.map(Some),
                End::Exited(status) => {
                    self.no_child();
                    status
                }
                End::ConnectionClosed => {
                    // The connection failed under a live child (bad input
                    // one way or the other); its stdin is closed now, so it
                    // should exit.
                    self.no_child();
                    running.finish(self.config.grace_period).await
                }
            };
            if running.started.elapsed() >= self.config.max_backoff {
                backoff = self.config.min_backoff;
            }
            match &status {
                Ok(status) => tracing::warn!(
                    program = %running.program, pid = running.pid, %status, delay = ?backoff,
                    "child exited; restarting"
                ),
                Err(err) => tracing::warn!(
                    program = %running.program, pid = running.pid, error = %err, delay = ?backoff,
                    "child lost; restarting"
                ),
            }
            running = match self.restart(&mut backoff).await {
                Some(running) => running,
                None => {
                    // Stopped between two children: none is running.
                    self.state.send_modify(|state| state.stopped = true);
                    return Ok(None);
                }
            };
        }
    }

    /// Makes calls wait for the next child.
    fn no_child(&self) {
        self.state.send_modify(|state| {
            state.client = None;
            state.pid = None;
        });
    }

    /// Serves `running` until it exits, its connection closes, or the
    /// supervisor is stopped.
    async fn watch(&mut self, running: &mut Running) -> End {
        loop {
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return End::Stop,
                status = running.child.wait() => return End::Exited(status),
                () = running.connection_closed.cancelled() => return End::ConnectionClosed,
                event = running.events.next(), if running.events_open => running.log(event),
            }
        }
    }

    /// Starts children until one is ready; `None` when stopped first.
    async fn restart(&mut self, backoff: &mut Duration) -> Option<Running> {
        loop {
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return None,
                () = tokio::time::sleep(*backoff) => {}
            }
            *backoff = (*backoff * 2).min(self.config.max_backoff);
            let mut command = (self.make_command)();
            let started = tokio::select! {
                biased;
                // Dropping the attempt kills its child.
                () = self.stop.cancelled() => return None,
                started = start_child(&self.config, &mut command, self.codec.clone()) => started,
            };
            match started {
                Ok((running, client)) => {
                    tracing::info!(program = %running.program, pid = running.pid, "child restarted and ready");
                    self.state.send_modify(|state| {
                        state.client = Some(client);
                        state.pid = running.pid;
                        state.generation += 1;
                        state.restarts += 1;
                    });
                    return Some(running);
                }
                Err(err) => {
                    tracing::error!(error = %err, delay = ?backoff, "restart failed; trying again");
                }
            }
        }
    }

    /// Drops the last long-lived handle on the connection, which closes it
    /// (and the child's stdin) once the calls in flight are answered, then
    /// gives the child the grace period to exit.
    async fn shut_down(&mut self, mut running: Running) -> io::Result<ExitStatus> {
        tracing::info!(program = %running.program, pid = running.pid, "shutting down: closing the child's stdin");
        self.state.send_modify(|state| {
            state.client = None;
            state.pid = None;
            state.stopped = true;
        });
        let status = running.finish(self.config.grace_period).await;
        if let Ok(status) = &status {
            tracing::info!(program = %running.program, pid = running.pid, %status, "child exited");
        }
        status
    }
}

/// A handle for calling whichever child a [`Supervisor`] is running: a
/// [`tower::Service`] that sends each request to the current child.
///
/// # Backpressure
///
/// `poll_ready` is ready when the current child's connection can take a
/// request (as [`Client`]'s is). While no child is ready (a restart is
/// under way) it is `Pending`: callers wait for the next child rather than
/// fail. A `tower` timeout does not bound that wait, since it times the
/// response only; to fail fast instead, add a load-shed layer, or wrap the
/// `ready()` call in a timeout.
///
/// # Errors
///
/// A call fails with a [`CallError`]: when the child goes away before
/// answering ([`is_closed`](CallError::is_closed); the next call goes to
/// the next child), or once the supervisor has stopped
/// ([`is_stopped`](CallError::is_stopped), also from `poll_ready`).
///
/// Each call takes a handle on the current connection in `poll_ready` and
/// lets go of it in `call`, so that an idle `SupervisedClient` never keeps
/// a connection (and the child's stdin) open at shutdown. One left ready
/// but never called does, until the grace period ends and the child is
/// killed.
pub struct SupervisedClient<Req, Resp> {
    program: Arc<str>,
    state: watch::Receiver<State<Req, Resp>>,
    /// Resolves on the next change of the state.
    changed: ReusableBoxFuture<'static, ChangedOutput<Req, Resp>>,
    /// A client whose `poll_ready` succeeded, and its generation.
    reserved: Option<(u64, Client<Req, Resp>)>,
    /// A generation whose connection failed under this handle.
    failed_generation: Option<u64>,
}

type ChangedOutput<Req, Resp> = (bool, watch::Receiver<State<Req, Resp>>);

/// Resolves when the state changes: `false` when it never will again.
async fn changed<Req, Resp>(mut rx: watch::Receiver<State<Req, Resp>>) -> ChangedOutput<Req, Resp>
where
    Req: Send + 'static,
    Resp: Send + 'static,
{
    let alive = rx.changed().await.is_ok();
    (alive, rx)
}

impl<Req, Resp> SupervisedClient<Req, Resp>
where
    Req: Send + 'static,
    Resp: Send + 'static,
{
    fn new(program: Arc<str>, state: watch::Receiver<State<Req, Resp>>) -> Self {
        let watcher = state.clone();
        Self {
            program,
            state,
            changed: ReusableBoxFuture::new(changed(watcher)),
            reserved: None,
            failed_generation: None,
        }
    }
}

impl<Req, Resp> Clone for SupervisedClient<Req, Resp>
where
    Req: Send + 'static,
    Resp: Send + 'static,
{
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.program), self.state.clone())
    }
}

impl<Req, Resp> fmt::Debug for SupervisedClient<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisedClient")
            .field("program", &self.program)
            .field("reserved", &self.reserved.is_some())
            .finish()
    }
}

impl<Req, Resp> Service<Req> for SupervisedClient<Req, Resp>
where
    Req: Send + 'static,
    Resp: Send + 'static,
{
    type Response = Resp;
    type Error = CallError;
    type Future = ResponseFuture<Resp>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), CallError>> {
        loop {
            if let Some((generation, client)) = &mut self.reserved {
                match client.poll_ready(cx) {
                    Poll::Ready(Ok(())) => return Poll::Ready(Ok(())),
                    Poll::Ready(Err(_)) => {
                        // That child's connection is gone; wait for the next.
                        self.failed_generation = Some(*generation);
                        self.reserved = None;
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
            {
                let state = self.state.borrow_and_update();
                if state.stopped {
                    return Poll::Ready(Err(CallError::stopped(Arc::clone(&self.program))));
                }
                if let Some(client) = &state.client
                    && self.failed_generation != Some(state.generation)
                {
                    self.reserved = Some((state.generation, client.clone()));
                    continue;
                }
            }
            let (alive, watcher) = ready!(self.changed.poll(cx));
            self.changed.set(changed(watcher));
            if !alive {
                // The supervisor is gone without saying it stopped.
                return Poll::Ready(Err(CallError::stopped(Arc::clone(&self.program))));
            }
        }
    }

    fn call(&mut self, request: Req) -> Self::Future {
        match self.reserved.take() {
            Some((_, mut client)) => {
                ResponseFuture::waiting(client.call(request), Arc::clone(&self.program))
            }
            None => ResponseFuture::failed(CallError::not_ready(Arc::clone(&self.program))),
        }
    }
}

/// A connection's transport that cancels a token when dropped, which tells
/// the supervisor that the client behind it has given up on the connection.
struct Watched {
    inner: PipeStream,
    _closed: DropGuard,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
