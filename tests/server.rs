//! The server over real sockets and named pipes: pipelining, readiness,
//! in-flight caps, make-services, failures, graceful shutdown.

mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::{BufMut, Bytes, BytesMut};
use futures::{SinkExt, StreamExt, future::join_all};
use support::{PATIENCE, client, endpoint, eventually, framed, spawn_server};
use tokio::{io::AsyncReadExt, sync::Semaphore, time::timeout};
use tower::{BoxError, Service, ServiceExt, service_fn};
use tower_ipc::{
    Endpoint, Server,
    codec::LengthPrefixed,
    server::CloseReason,
    transport::{Listener, PeerInfo},
};

/// Counts the calls running at once and remembers the most there were.
#[derive(Clone, Default)]
struct Gauge {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

impl Gauge {
    fn enter(&self) -> GaugeGuard {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        GaugeGuard(self.now.clone())
    }

    fn now(&self) -> usize {
        self.now.load(Ordering::SeqCst)
    }

    fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

struct GaugeGuard(Arc<AtomicUsize>);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An echo that answers each request only when `release` gives it a permit,
/// counting on `gauge` the requests it holds.
fn gated_echo(
    gauge: &Gauge,
    release: &Arc<Semaphore>,
) -> impl Service<Bytes, Response = Bytes, Error = BoxError, Future: Send> + Clone + Send + 'static
{
    let (gauge, release) = (gauge.clone(), release.clone());
    service_fn(move |frame: Bytes| {
        let (gauge, release) = (gauge.clone(), release.clone());
        async move {
            let _running = gauge.enter();
            release.acquire().await.unwrap().forget();
            Ok::<_, BoxError>(frame)
        }
    })
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_request_order() {
    // Early requests take longest, so answers finish in reverse order.
    let slow_first = service_fn(|frame: Bytes| async move {
        let n = u64::from(frame[0]);
        tokio::time::sleep(Duration::from_millis(2 * (50 - n))).await;
        Ok::<_, BoxError>(frame)
    });
    let server = spawn_server(endpoint("order"), Server::new(), slow_first).await;
    let mut raw = framed(&server.endpoint).await;
    for n in 0..50u8 {
        raw.feed(Bytes::from(vec![n])).await.unwrap();
    }
    raw.flush().await.unwrap();
    for n in 0..50u8 {
        let answer = timeout(PATIENCE, raw.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(answer[..], [n]);
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn requests_in_flight_per_connection_are_capped() {
    let (gauge, release) = (Gauge::default(), Arc::new(Semaphore::new(0)));
    let service = gated_echo(&gauge, &release);
    let server = spawn_server(endpoint("cap"), Server::new().max_in_flight(4), service).await;
    let mut raw = framed(&server.endpoint).await;
    for n in 0..20u8 {
        raw.feed(Bytes::from(vec![n])).await.unwrap();
    }
    raw.flush().await.unwrap();
    eventually("4 requests in flight", || gauge.now() == 4).await;
    // Nothing more is read while the cap is reached.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(gauge.now(), 4);
    release.add_permits(20);
    for n in 0..20u8 {
        let answer = timeout(PATIENCE, raw.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(answer[..], [n]);
    }
    assert_eq!(gauge.max(), 4);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_request_reaches_the_service_only_when_it_is_ready() {
    let (service, mut handle) = tower_test::mock::pair::<Bytes, Bytes>();
    handle.allow(0);
    let server = spawn_server(endpoint("ready"), Server::new(), service).await;
    let mut client = client(&server.endpoint).await;
    let call = tokio::spawn(async move { client.ready().await?.call(Bytes::from("one")).await });
    // Not ready: the request must not reach the service (a mock called
    // without readiness would fail the connection instead).
    assert!(
        timeout(Duration::from_millis(200), handle.next_request())
            .await
            .is_err(),
        "request reached a service that was not ready"
    );
    handle.allow(1);
    let (request, respond) = timeout(PATIENCE, handle.next_request())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request, "one");
    respond.send_response(Bytes::from("two"));
    assert_eq!(call.await.unwrap().unwrap(), "two");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn make_service_sees_the_peer_of_each_connection() {
    let endpoint = endpoint("make");
    let listener = endpoint.bind().await.unwrap();
    let make = service_fn(|peer: PeerInfo| async move {
        let pid = Bytes::from(peer.pid().unwrap_or(0).to_string());
        Ok::<_, BoxError>(service_fn(move |_: Bytes| {
            let pid = pid.clone();
            async move { Ok::<_, BoxError>(pid) }
        }))
    });
    let server = tokio::spawn(
        Server::new()
            .serve_make(listener, LengthPrefixed::new(), make)
            .into_future(),
    );
    let mut client = client(&endpoint).await;
    let answer = client
        .ready()
        .await
        .unwrap()
        .call(Bytes::new())
        .await
        .unwrap();
    assert_eq!(answer, std::process::id().to_string());
    server.abort();
}

#[tokio::test]
async fn service_error_closes_only_that_connection_after_earlier_answers() {
    let service = service_fn(|frame: Bytes| async move {
        if frame == "fail" {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err::<Bytes, BoxError>("refused".into())
        } else {
            Ok(frame)
        }
    });
    let server = spawn_server(endpoint("fail"), Server::new(), service).await;
    let mut raw = framed(&server.endpoint).await;
    for frame in ["a", "fail", "b"] {
        raw.feed(Bytes::from(frame)).await.unwrap();
    }
    raw.flush().await.unwrap();
    let first = timeout(PATIENCE, raw.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first, "a");
    // Nothing can be answered after the failed request: the connection ends.
    assert!(timeout(PATIENCE, raw.next()).await.unwrap().is_none());
    // Other connections are served as before.
    support::assert_echoes(&server.endpoint, "c").await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn oversized_frame_closes_the_connection_and_others_are_served() {
    let server = spawn_server(endpoint("oversized"), Server::new(), support::echo()).await;
    let mut raw = support::connect(&server.endpoint).await;
    // A header announcing 1 GiB, over the default 8 MiB limit.
    let mut header = BytesMut::new();
    header.put_u32(1 << 30);
    tokio::io::AsyncWriteExt::write_all(&mut raw, &header)
        .await
        .unwrap();
    let mut rest = Vec::new();
    let read = timeout(PATIENCE, raw.read_to_end(&mut rest)).await.unwrap();
    assert!(
        read.is_err() || rest.is_empty(),
        "expected the server to close"
    );
    support::assert_echoes(&server.endpoint, "x").await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn half_closed_connection_still_gets_its_answers() {
    let server = spawn_server(endpoint("halfclose"), Server::new(), support::echo()).await;
    let mut raw = framed(&server.endpoint).await;
    for n in 0..10u8 {
        raw.feed(Bytes::from(vec![n])).await.unwrap();
    }
    // Closing our write side tells the server no more requests come.
    raw.close().await.unwrap();
    for n in 0..10u8 {
        let answer = timeout(PATIENCE, raw.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(answer[..], [n]);
    }
    // Named pipes have no half-close: the server cannot see that no more
    // requests come, so only sockets end the connection here.
    #[cfg(not(windows))]
    assert!(timeout(PATIENCE, raw.next()).await.unwrap().is_none());
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn graceful_shutdown_answers_requests_in_flight_then_stops() {
    let (gauge, release) = (Gauge::default(), Arc::new(Semaphore::new(0)));
    let service = gated_echo(&gauge, &release);
    let server = spawn_server(endpoint("shutdown"), Server::new(), service).await;
    let endpoint = server.endpoint.clone();
    let client = client(&endpoint).await;
    let calls: Vec<_> = (0..10u8)
        .map(|n| {
            let mut client = client.clone();
            tokio::spawn(async move { client.ready().await?.call(Bytes::from(vec![n])).await })
        })
        .collect();
    eventually("10 requests in flight", || gauge.now() == 10).await;

    let stopping = tokio::spawn(server.shutdown());
    // The server waits for the requests in flight.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !stopping.is_finished(),
        "server stopped with requests in flight"
    );
    // It no longer accepts connections.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while endpoint.connect().await.is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "still accepting");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    release.add_permits(10);
    for (n, call) in join_all(calls).await.into_iter().enumerate() {
        let answer = call.unwrap().expect("request in flight is answered");
        assert_eq!(answer[..], [u8::try_from(n).unwrap()]);
    }
    timeout(PATIENCE, stopping).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn serve_connection_serves_one_open_connection_to_its_end() {
    let endpoint = endpoint("single");
    let mut listener = endpoint.bind().await.unwrap();
    let mut raw = framed(&endpoint).await;
    let (stream, _) = listener.accept().await.unwrap();
    let served = tokio::spawn(Server::new().serve_connection(
        stream,
        LengthPrefixed::new(),
        support::echo(),
    ));
    raw.send(Bytes::from("one")).await.unwrap();
    assert_eq!(raw.next().await.unwrap().unwrap(), "one");
    drop(raw);
    timeout(PATIENCE, served).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn serve_connection_reports_bad_input_as_invalid_data() {
    let endpoint = endpoint("single-bad");
    let mut listener = endpoint.bind().await.unwrap();
    let mut raw = support::connect(&endpoint).await;
    let (stream, _) = listener.accept().await.unwrap();
    let served = tokio::spawn(Server::new().serve_connection(
        stream,
        LengthPrefixed::new().max_frame_length(8),
        support::echo(),
    ));
    tokio::io::AsyncWriteExt::write_all(&mut raw, &[0, 0, 0, 9])
        .await
        .unwrap();
    let err = timeout(PATIENCE, served)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, CloseReason::BadInput(_)), "{err:?}");
    assert!(err.is_failure());
    assert_eq!(
        std::io::Error::from(err.clone()).kind(),
        std::io::ErrorKind::InvalidData,
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("exceeds the maximum frame length of 8 bytes"),
        "{err}"
    );
}

/// One connection served by `server` with `serve_connection`, drained when
/// `stop` is sent, whose service answers a frame once `release` gives a
/// permit; a frame has been sent on `raw` and has reached the service.
struct HeldConnection {
    raw: tokio_util::codec::Framed<tower_ipc::transport::IpcStream, LengthPrefixed>,
    release: Arc<Semaphore>,
    stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<Result<(), CloseReason>>,
}

async fn held_connection(server: Server, name: &str, frame: &'static str) -> HeldConnection {
    let endpoint = endpoint(name);
    let mut listener = endpoint.bind().await.unwrap();
    let mut raw = framed(&endpoint).await;
    let (stream, _) = listener.accept().await.unwrap();
    let called = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Semaphore::new(0));
    let held = {
        let (called, release) = (Arc::clone(&called), Arc::clone(&release));
        service_fn(move |frame: Bytes| {
            called.fetch_add(1, Ordering::SeqCst);
            let release = Arc::clone(&release);
            async move {
                release.acquire().await?.forget();
                Ok::<_, BoxError>(frame)
            }
        })
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(
        server
            .serve_connection(stream, LengthPrefixed::new(), held)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            }),
    );
    raw.send(Bytes::from(frame)).await.unwrap();
    eventually("the request reaches the service", || {
        called.load(Ordering::SeqCst) == 1
    })
    .await;
    HeldConnection {
        raw,
        release,
        stop,
        served,
    }
}

#[tokio::test]
async fn serve_connection_drains_on_its_signal_answering_what_is_in_flight() {
    let HeldConnection {
        mut raw,
        release,
        stop,
        served,
    } = held_connection(Server::new(), "single-drain", "in flight").await;
    stop.send(()).unwrap();
    // Draining waits for the request in flight, answers it, then closes.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!served.is_finished(), "it waits for the request in flight");
    release.add_permits(1);
    assert_eq!(raw.next().await.unwrap().unwrap(), "in flight");
    assert!(timeout(PATIENCE, raw.next()).await.unwrap().is_none());
    timeout(PATIENCE, served).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn serve_connection_past_the_shutdown_timeout_ends_aborted() {
    let server = Server::new().shutdown_timeout(Duration::from_millis(50));
    let HeldConnection {
        mut raw,
        stop,
        served,
        ..
    } = held_connection(server, "single-abort", "never answered").await;
    stop.send(()).unwrap();
    let err = timeout(PATIENCE, served)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, CloseReason::Aborted), "{err:?}");
    assert!(timeout(PATIENCE, raw.next()).await.unwrap().is_none());
}

#[tokio::test]
async fn idle_connections_hold_no_share_of_a_concurrency_limit() {
    // One permit, shared by every connection's clone of the service.
    let service = tower::ServiceBuilder::new()
        .concurrency_limit(1)
        .service(support::echo());
    let server = spawn_server(endpoint("shared-limit"), Server::new(), service).await;
    let _idle = support::connect(&server.endpoint).await;
    let _also_idle = support::connect(&server.endpoint).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    timeout(PATIENCE, support::assert_echoes(&server.endpoint, "busy"))
        .await
        .expect("idle connections starved a busy one");
    server.shutdown().await.unwrap();
}

/// A listener whose first `failures` accepts fail with `kind`, then hands
/// out the in-memory connections sent to it; it notes the (paused) time of
/// every accept the server asks for.
struct FailingFirst {
    failures: usize,
    kind: std::io::ErrorKind,
    incoming: tokio::sync::mpsc::Receiver<tokio::io::DuplexStream>,
    asked: Arc<std::sync::Mutex<Vec<tokio::time::Instant>>>,
}

impl Listener for FailingFirst {
    type Io = tokio::io::DuplexStream;

    fn accept(&mut self) -> impl Future<Output = std::io::Result<(Self::Io, PeerInfo)>> + Send {
        self.asked.lock().unwrap().push(tokio::time::Instant::now());
        let failed = (self.failures > 0).then(|| {
            self.failures -= 1;
            std::io::Error::new(self.kind, "accept failed on purpose")
        });
        let incoming = &mut self.incoming;
        async move {
            if let Some(err) = failed {
                return Err(err);
            }
            let io = incoming
                .recv()
                .await
                .ok_or(std::io::ErrorKind::NotConnected)?;
            Ok((io, PeerInfo::new()))
        }
    }

    fn local_endpoint(&self) -> std::io::Result<Endpoint> {
        Ok(Endpoint::new("failing-first"))
    }
}

/// Serves echo on a [`FailingFirst`] listener whose first three accepts
/// fail with `kind`, gets one answer through it, and returns when each
/// accept was asked for.
async fn accepts_after_three_failures(kind: std::io::ErrorKind) -> Vec<tokio::time::Instant> {
    let (connect, incoming) = tokio::sync::mpsc::channel(1);
    let asked = Arc::default();
    let listener = FailingFirst {
        failures: 3,
        kind,
        incoming,
        asked: Arc::clone(&asked),
    };
    let server = tokio::spawn(
        tower_ipc::serve(listener, LengthPrefixed::new(), support::echo()).into_future(),
    );
    let (ours, theirs) = tokio::io::duplex(1024);
    connect.send(theirs).await.unwrap();
    let mut peer = tokio_util::codec::Framed::new(ours, LengthPrefixed::new());
    peer.send(Bytes::from("hi")).await.unwrap();
    let answer = timeout(PATIENCE, peer.next()).await.expect("no answer");
    assert_eq!(answer.unwrap().unwrap(), "hi");
    server.abort();
    let asked = asked.lock().unwrap().clone();
    assert_eq!(
        asked.len(),
        5,
        "accepts asked for: three failed, one served, the next"
    );
    asked
}

#[tokio::test(start_paused = true)]
async fn accept_errors_pause_the_accept_loop_and_it_goes_on_accepting() {
    // Out of descriptors, say: accepting again at once would spin.
    let asked = accepts_after_three_failures(std::io::ErrorKind::Other).await;
    for pair in asked[..4].windows(2) {
        let pause = pair[1] - pair[0];
        assert!(pause >= Duration::from_millis(100), "paused {pause:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn connections_lost_before_they_were_accepted_are_skipped_without_a_pause() {
    let asked = accepts_after_three_failures(std::io::ErrorKind::ConnectionReset).await;
    assert_eq!(asked[3], asked[0], "the loop paused: {asked:?}");
}
