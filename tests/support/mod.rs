//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use bytes::Bytes;
use tokio::{sync::oneshot, task::JoinHandle};
use tokio_util::codec::Framed;
use tower::{BoxError, Service, service_fn};
use tower_ipc::{Client, Endpoint, codec::LengthPrefixed, transport::IpcStream};

/// Long enough for anything that should happen on a loaded machine; a test
/// waiting this long has failed.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// An endpoint no other test (or test process) uses.
pub fn endpoint(tag: &str) -> Endpoint {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Endpoint::new(format!("tower-ipc-{tag}-{}-{n}", std::process::id()))
}

/// A service that answers every frame with itself.
pub fn echo() -> impl Service<Bytes, Response = Bytes, Error = BoxError, Future: Send> + Clone + Send
{
    service_fn(|frame: Bytes| async move { Ok::<_, BoxError>(frame) })
}

/// A running server and the means to stop it.
pub struct RunningServer {
    pub endpoint: Endpoint,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<tower_ipc::server::Summary>>,
}

impl RunningServer {
    /// Signals graceful shutdown and waits for the server to finish.
    pub async fn shutdown(mut self) -> std::io::Result<tower_ipc::server::Summary> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(PATIENCE, &mut self.task)
            .await
            .expect("server did not stop")
            .expect("server task panicked")
    }

    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// Binds `endpoint` and serves `service` on it with `server` settings.
pub async fn spawn_server<S>(
    endpoint: Endpoint,
    server: tower_ipc::Server,
    service: S,
) -> RunningServer
where
    S: Service<Bytes, Response = Bytes, Future: Send, Error: Into<BoxError> + Send>
        + Clone
        + Send
        + 'static,
{
    let listener = endpoint.bind().await.expect("bind");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(
        server
            .serve(listener, LengthPrefixed::new(), service)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .into_future(),
    );
    RunningServer {
        endpoint,
        stop: Some(stop),
        task,
    }
}

/// Connects to `endpoint`, waiting for it if needed.
pub async fn connect(endpoint: &Endpoint) -> IpcStream {
    endpoint.connect_timeout(PATIENCE).await.expect("connect")
}

/// A length-prefixed client of `endpoint`.
pub async fn client(endpoint: &Endpoint) -> Client<Bytes, Bytes> {
    Client::new(Framed::new(connect(endpoint).await, LengthPrefixed::new()))
}

/// A raw length-prefixed connection to `endpoint`, without a `Client`.
pub async fn framed(endpoint: &Endpoint) -> Framed<IpcStream, LengthPrefixed> {
    Framed::new(connect(endpoint).await, LengthPrefixed::new())
}

/// Waits until `check` holds, polling; panics after [`PATIENCE`].
pub async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Asserts that an echo server at `endpoint` answers a new connection.
pub async fn assert_echoes(endpoint: &Endpoint, message: &'static str) {
    use tower::ServiceExt;
    let answer = client(endpoint)
        .await
        .oneshot(Bytes::from_static(message.as_bytes()))
        .await
        .expect("the server answers other connections");
    assert_eq!(answer, message);
}

pub mod process;
#[cfg(feature = "json-rpc")]
pub mod wire;

/// A C program the Windows tests run, from `.ci/windows/peers/NAME.c`:
/// `.ci/windows/cargo` builds them and names their directory in
/// `TOWER_IPC_WINDOWS_PEERS`.
#[cfg(windows)]
pub fn windows_peer(name: &str) -> std::path::PathBuf {
    const VAR: &str = "TOWER_IPC_WINDOWS_PEERS";
    let dir = std::env::var_os(VAR).unwrap_or_else(|| {
        panic!(
            "{VAR} is not set: run the Windows tests with .ci/windows/cargo test, which builds \
             the C peers in .ci/windows/peers/ and sets it"
        )
    });
    let exe = std::path::Path::new(&dir).join(format!("{name}.exe"));
    assert!(
        exe.exists(),
        "{} is missing: .ci/windows/cargo builds it from .ci/windows/peers/{name}.c",
        exe.display()
    );
    exe
}
