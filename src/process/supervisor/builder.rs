//! The supervisor's settings, and starting its first child.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{process::Command, sync::watch};
use tokio_util::{
    codec::{Decoder, Encoder, Framed},
    sync::CancellationToken,
};
use tower::BoxError;

use super::{
    Supervisor,
    client::connect_to_children,
    task::{Status, Task, start_child},
};
use crate::{client, process::StartError};

/// Settings for a [`Supervisor`].
#[derive(Clone, Debug)]
pub struct SupervisorBuilder {
    pub(super) ready_timeout: Duration,
    pub(super) min_backoff: Duration,
    pub(super) max_backoff: Duration,
    pub(super) grace_period: Duration,
    pub(super) wait_for_startup: bool,
}

impl SupervisorBuilder {
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
    #[must_use]
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Sets the delay before the first restart attempt and the longest
    /// delay between attempts (at least `min`).
    #[must_use]
    pub fn restart_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max.max(min);
        self
    }

    /// Sets how long a child may take to exit once its stdin is closed (at
    /// shutdown, or after its connection failed) before it is killed.
    #[must_use]
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace_period = grace;
        self
    }

    /// Considers a child ready as soon as it is started, for programs that
    /// report no lifetime events.
    #[must_use]
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
        let (running, io) = start_child(self, &mut command).await?;
        let (status_tx, status_rx) = watch::channel(Status {
            pid: running.pid,
            restarts: 0,
            stopped: false,
        });
        tracing::info!(program = %program, pid = running.pid, "child ready");
        // Every child's connection, after the first, is handed to the one
        // client here, which takes it when it next has a call to send.
        let next = Arc::new(Mutex::new(None));
        let reconnect = connect_to_children(
            Arc::clone(&program),
            Arc::clone(&next),
            status_rx.clone(),
            codec.clone(),
        );
        let client = client::Builder::new().start(Framed::new(io, codec), Some(reconnect));
        let handle = client.uncounted();
        let stop = CancellationToken::new();
        let task = Task {
            config: self.clone(),
            make_command,
            // The handle that keeps the client going: let go at shutdown.
            client: Some(client),
            next,
            status: status_tx,
            stop: stop.clone(),
        };
        Ok(Supervisor {
            program,
            status: status_rx,
            client: handle,
            task: tokio::spawn(task.run(running)),
            stop: stop.drop_guard(),
        })
    }
}

impl Default for SupervisorBuilder {
    fn default() -> Self {
        Self::new()
    }
}
