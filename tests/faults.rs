//! Faults, with real processes and sockets: a client process killed in the
//! middle of a request, a server process killed with calls in flight (and a
//! reconnecting client that recovers when it is back), half-closed
//! connections, and a client that never reads its answers.
//!
//! Processes are killed with `Child::kill`: SIGKILL on Unix,
//! `TerminateProcess` on Windows, so neither side gets to say goodbye. The
//! children are this test binary run again (see `support::process`).
#![cfg(feature = "json-rpc")]

mod support;

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::{SinkExt, StreamExt, future::join_all};
use serde_json::Value;
use support::{
    PATIENCE, endpoint,
    process::{CHILD_PATIENCE, role, run_child, spawn},
};
use tokio::{io::AsyncWriteExt, sync::Semaphore, time::timeout};
use tokio_util::codec::{Framed, LinesCodec};
use tower::{BoxError, service_fn};
use tower_ipc::{
    Endpoint, Server,
    codec::LengthPrefixed,
    jsonrpc::{ErrorObject, JsonRpc, JsonRpcClient, Router},
    server::{Events, ServerEvent},
    transport::Listener,
};

/// How long the killed server's callers may take to learn of it before the
/// test fails; they are expected to know within a second (the time is
/// printed).
const KILLED_SERVER_BOUND: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// The children

#[test]
#[ignore = "a child process that the other tests start"]
fn child() {
    let Some((role, endpoint)) = role() else {
        return;
    };
    run_child(async move {
        match role.as_str() {
            "hold-client" => hold_client(endpoint).await,
            "rpc-server" => rpc_server(endpoint).await,
            "flood-server" => flood_server(endpoint).await,
            "signal-server" => signal_server(endpoint).await,
            other => panic!("unknown role {other}"),
        }
    });
}

/// Calls `hold` and waits for an answer that does not come before it is
/// killed.
async fn hold_client(endpoint: Endpoint) {
    let client = JsonRpcClient::new(endpoint.connect_timeout(CHILD_PATIENCE).await.unwrap());
    let _ = client.call::<String, _>("hold", ()).await;
    std::future::pending::<()>().await;
}

/// JSON-RPC: `pid`, `hold` (never answered) and `holding` (how many `hold`
/// calls are waiting).
async fn rpc_server(endpoint: Endpoint) {
    static HOLDING: AtomicUsize = AtomicUsize::new(0);
    let router = Router::new()
        .method("pid", |(): ()| async move {
            Ok::<_, ErrorObject>(std::process::id())
        })
        .method("hold", |(): ()| async move {
            HOLDING.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<Result<(), ErrorObject>>().await
        })
        .method("holding", |(): ()| async move {
            Ok::<_, ErrorObject>(HOLDING.load(Ordering::SeqCst))
        });
    let listener = endpoint.bind().await.unwrap();
    tower_ipc::serve(listener, JsonRpc::new(), router)
        .await
        .unwrap();
}

/// Echo on `<endpoint>-lp` (length-prefixed) and `<endpoint>-rpc`
/// (JSON-RPC), with no write timeout: only backpressure bounds what a peer
/// that never reads can make it hold.
async fn flood_server(endpoint: Endpoint) {
    let server = Server::new().write_timeout(None);
    let lp = Endpoint::new(format!("{endpoint}-lp"))
        .bind()
        .await
        .unwrap();
    let rpc = Endpoint::new(format!("{endpoint}-rpc"))
        .bind()
        .await
        .unwrap();
    let router = Router::new().method("echo", |text: (String,)| async move {
        Ok::<_, ErrorObject>(text.0)
    });
    let lp = server.serve(lp, LengthPrefixed::new(), support::echo());
    let rpc = server.serve(rpc, JsonRpc::new(), router);
    let _ = tokio::join!(lp.into_future(), rpc.into_future());
}

/// JSON-RPC `pid` and `slow` (answers after 300 ms), until a stop signal;
/// exits with [`STOPPED_GRACEFULLY`] once the server has stopped.
async fn signal_server(endpoint: Endpoint) {
    let stop = tower_ipc::server::shutdown_signal();
    let router = Router::new()
        .method("pid", |(): ()| async move {
            Ok::<_, ErrorObject>(std::process::id())
        })
        .method("slow", |(): ()| async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok::<_, ErrorObject>("done")
        });
    let listener = endpoint.bind().await.unwrap();
    let summary = tower_ipc::serve(listener, JsonRpc::new(), router)
        .with_graceful_shutdown(stop)
        .await
        .unwrap();
    assert_eq!(summary.requests_cancelled, 0);
    std::process::exit(STOPPED_GRACEFULLY);
}

/// The exit code of a child server that stopped on a signal, gracefully.
const STOPPED_GRACEFULLY: i32 = 42;

// ---------------------------------------------------------------------------
// Helpers

/// The next event that `pick` selects, skipping the others.
async fn next_event<T>(events: &mut Events, mut pick: impl FnMut(&ServerEvent) -> Option<T>) -> T {
    timeout(PATIENCE, async {
        loop {
            let event = events.recv().await.expect("the server is running");
            if let Some(picked) = pick(&event) {
                return picked;
            }
        }
    })
    .await
    .expect("the event in time")
}

/// Keeps the open connections (id → peer pid) up to date.
fn track(open: &mut HashMap<u64, Option<u32>>, event: &ServerEvent) {
    match event {
        ServerEvent::ConnectionOpened { id, peer } => {
            open.insert(*id, peer.pid());
        }
        ServerEvent::ConnectionClosed { id, .. } => {
            open.remove(id);
        }
        _ => {}
    }
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + CHILD_PATIENCE;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------
// A client process killed mid-request

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_process_killed_mid_request_leaves_the_server_serving_others() {
    let endpoint = endpoint("faults-client-killed");
    let gate = Arc::new(Semaphore::new(0));
    let holding = Arc::new(AtomicUsize::new(0));
    let router = Router::new()
        .method("ping", |(): ()| async move { Ok::<_, ErrorObject>("pong") })
        .method("hold", {
            let (gate, holding) = (gate.clone(), holding.clone());
            move |(): ()| {
                let (gate, holding) = (gate.clone(), holding.clone());
                async move {
                    holding.fetch_add(1, Ordering::SeqCst);
                    gate.acquire().await.unwrap().forget();
                    Ok::<_, ErrorObject>("released")
                }
            }
        });
    let serve = Server::new().serve(endpoint.bind().await.unwrap(), JsonRpc::new(), router);
    let mut events = serve.events();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        serve
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .into_future(),
    );
    let mut open: HashMap<u64, Option<u32>> = HashMap::new();

    let other = JsonRpcClient::new(support::connect(&endpoint).await);
    assert_eq!(other.call::<String, _>("ping", ()).await.unwrap(), "pong");
    let mut victim = spawn("hold-client", &endpoint);
    let victim_pid = victim.id().expect("running");
    let victim_id = next_event(&mut events, |event| {
        track(&mut open, event);
        match event {
            ServerEvent::ConnectionOpened { id, peer } if peer.pid() == Some(victim_pid) => {
                Some(*id)
            }
            _ => None,
        }
    })
    .await;
    eventually("the child's call is in flight", async || {
        holding.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(open.len(), 2, "{open:?}");

    victim.kill().await.expect("kill the client process");

    // Others are served: a connection that was open, and a new one.
    assert_eq!(other.call::<String, _>("ping", ()).await.unwrap(), "pong");
    let newcomer = JsonRpcClient::new(support::connect(&endpoint).await);
    assert_eq!(
        newcomer.call::<String, _>("ping", ()).await.unwrap(),
        "pong"
    );
    drop(newcomer);

    // The server cannot tell a dead peer from one that half-closed its side
    // until it writes to it: the dead one's connection ends when its request
    // does, and the count is back where it was.
    gate.add_permits(1);
    let reason = next_event(&mut events, |event| {
        track(&mut open, event);
        match event {
            ServerEvent::ConnectionClosed { id, reason, .. } if *id == victim_id => {
                Some(reason.clone())
            }
            _ => None,
        }
    })
    .await;
    println!("the killed client's connection closed: {reason}");
    while open.len() > 1 {
        next_event(&mut events, |event| {
            track(&mut open, event);
            matches!(event, ServerEvent::ConnectionClosed { .. }).then_some(())
        })
        .await;
    }
    assert_eq!(
        open.values().collect::<Vec<_>>(),
        [&Some(std::process::id())]
    );
    assert_eq!(other.call::<String, _>("ping", ()).await.unwrap(), "pong");

    drop(other);
    stop.send(()).unwrap();
    let summary = timeout(PATIENCE, server).await.unwrap().unwrap().unwrap();
    assert_eq!(summary.connections, 3);
    assert_eq!(summary.requests_cancelled, 0);
}

// ---------------------------------------------------------------------------
// A server process killed mid-request

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_fails_every_call_in_flight_and_a_reconnecting_client_recovers() {
    const CALLS: usize = 32;
    let endpoint = endpoint("faults-server-killed");
    let mut server = spawn("rpc-server", &endpoint);
    let client = JsonRpcClient::builder()
        .reconnect(CHILD_PATIENCE)
        .connect(&endpoint)
        .await
        .expect("the child server is up");
    let first_pid = server.id().expect("running");
    assert_eq!(client.call::<u32, _>("pid", ()).await.unwrap(), first_pid);

    let calls: Vec<_> = (0..CALLS)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.call::<(), _>("hold", ()).await })
        })
        .collect();
    eventually("every call is in flight", async || {
        client.call::<usize, _>("holding", ()).await.unwrap() == CALLS
    })
    .await;

    let killed = Instant::now();
    server.kill().await.expect("kill the server process");
    let failed = timeout(KILLED_SERVER_BOUND, join_all(calls))
        .await
        .expect("every call in flight fails in time");
    let took = killed.elapsed();
    for call in failed {
        let err = call.unwrap().expect_err("no answer from a dead server");
        assert!(err.is_closed(), "{err}");
    }
    println!("{CALLS} calls in flight failed {took:?} after the server was killed");

    // The next call connects again, waiting for the server to be back.
    let mut server = spawn("rpc-server", &endpoint);
    let second_pid = server.id().expect("running");
    assert_ne!(first_pid, second_pid);
    assert_eq!(client.call::<u32, _>("pid", ()).await.unwrap(), second_pid);
    server.kill().await.unwrap();
}

// ---------------------------------------------------------------------------
// Half-closed connections

/// The endpoints with a half-close: TCP everywhere, and Unix sockets. (A
/// Windows named pipe has no half-close: closing one side closes both.)
fn half_closable(tag: &str) -> Vec<Endpoint> {
    let tcp = Endpoint::tcp("127.0.0.1:0");
    if cfg!(unix) {
        vec![endpoint(tag), tcp]
    } else {
        vec![tcp]
    }
}

/// Binds `endpoint`, resolving port 0 to the bound port.
async fn bind(endpoint: &Endpoint) -> (tower_ipc::transport::IpcListener, Endpoint) {
    let listener = endpoint.bind().await.unwrap();
    let bound = listener.local_endpoint().unwrap();
    (listener, bound)
}

#[tokio::test]
async fn a_half_closed_codec_connection_gets_every_answer_then_eof() {
    const REQUESTS: u32 = 100;
    // Answers take a while, so most are in flight when the peer's side
    // closes.
    let slow_echo = service_fn(|frame: Bytes| async move {
        tokio::time::sleep(Duration::from_millis(u64::from(frame[0] % 5))).await;
        Ok::<_, BoxError>(frame)
    });
    for endpoint in half_closable("faults-half-lp") {
        let (listener, bound) = bind(&endpoint).await;
        let server = tokio::spawn(
            Server::new()
                .max_in_flight(16)
                .serve(listener, LengthPrefixed::new(), slow_echo)
                .into_future(),
        );
        let mut peer = Framed::new(support::connect(&bound).await, LengthPrefixed::new());
        for n in 0..REQUESTS {
            peer.feed(Bytes::from(n.to_be_bytes().to_vec()))
                .await
                .unwrap();
        }
        peer.flush().await.unwrap();
        peer.get_mut().shutdown().await.expect("half-close");
        for n in 0..REQUESTS {
            let answer = timeout(PATIENCE, peer.next()).await.unwrap();
            assert_eq!(answer.unwrap().unwrap(), &n.to_be_bytes()[..], "{bound}");
        }
        assert!(
            timeout(PATIENCE, peer.next()).await.unwrap().is_none(),
            "EOF after the answers on {bound}"
        );
        server.abort();
    }
}

#[tokio::test]
async fn a_half_closed_json_rpc_connection_gets_every_answer_then_eof() {
    const REQUESTS: u64 = 100;
    let router = Router::new().method("slow", |(n,): (u64,)| async move {
        tokio::time::sleep(Duration::from_millis(n % 5)).await;
        Ok::<_, ErrorObject>(n)
    });
    for endpoint in half_closable("faults-half-rpc") {
        let (listener, bound) = bind(&endpoint).await;
        let server =
            tokio::spawn(tower_ipc::serve(listener, JsonRpc::new(), router.clone()).into_future());
        let mut peer = Framed::new(support::connect(&bound).await, LinesCodec::new());
        for n in 0..REQUESTS {
            let request = format!(r#"{{"jsonrpc":"2.0","id":{n},"method":"slow","params":[{n}]}}"#);
            peer.feed(request).await.unwrap();
        }
        // And a notification, which gets no answer.
        peer.feed(r#"{"jsonrpc":"2.0","method":"slow","params":[1]}"#.to_owned())
            .await
            .unwrap();
        SinkExt::<String>::flush(&mut peer).await.unwrap();
        peer.get_mut().shutdown().await.expect("half-close");
        let mut answered = vec![false; REQUESTS as usize];
        for _ in 0..REQUESTS {
            let line = timeout(PATIENCE, peer.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            let answer: Value = serde_json::from_str(&line).unwrap();
            let id = answer["id"].as_u64().unwrap();
            assert_eq!(answer["result"], id, "{line}");
            assert!(!answered[id as usize], "answered twice: {line}");
            answered[id as usize] = true;
        }
        assert!(
            timeout(PATIENCE, peer.next()).await.unwrap().is_none(),
            "EOF after the answers on {bound}"
        );
        server.abort();
    }
}

// ---------------------------------------------------------------------------
// A client that never reads

/// Linux only: the memory of another process is read from `/proc`.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_a_server_gracefully_through_shutdown_signal() {
    let endpoint = endpoint("sigterm");
    let mut child = spawn("signal-server", &endpoint);
    let client = JsonRpcClient::new(endpoint.connect_timeout(CHILD_PATIENCE).await.unwrap());
    let pid: u32 = client.call("pid", ()).await.unwrap();
    let slow = tokio::spawn({
        let client = client.clone();
        async move { client.call::<String, _>("slow", ()).await }
    });
    // The call is in flight when the signal comes.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    assert_eq!(
        timeout(PATIENCE, slow).await.unwrap().unwrap().unwrap(),
        "done",
        "the call in flight is answered"
    );
    // `wait` would close the child's stdin, which also makes it exit.
    let _stdin = child.stdin.take();
    let status = timeout(PATIENCE, child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(STOPPED_GRACEFULLY), "{status}");
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_cannot_grow_the_server_memory() {
    use support::process::{RssSampler, mib};

    /// Far more than a server that held what it is sent would need; far
    /// less than the flood.
    const BOUND: u64 = 64 * 1024 * 1024;
    const FLOOD: Duration = Duration::from_secs(3);
    let endpoint = endpoint("faults-flood");
    let server = spawn("flood-server", &endpoint);
    let pid = server.id().expect("running");
    let lp = Endpoint::new(format!("{endpoint}-lp"));
    let rpc = Endpoint::new(format!("{endpoint}-rpc"));

    // Connected and answering: warm, before the baseline.
    let mut warm = Framed::new(
        lp.connect_timeout(CHILD_PATIENCE).await.unwrap(),
        LengthPrefixed::new(),
    );
    warm.send(Bytes::from(vec![1; 65_536])).await.unwrap();
    warm.next().await.unwrap().unwrap();
    let rpc_client = JsonRpcClient::new(rpc.connect_timeout(CHILD_PATIENCE).await.unwrap());
    assert_eq!(
        rpc_client
            .call::<String, _>("echo", ("warm",))
            .await
            .unwrap(),
        "warm"
    );
    let baseline = support::process::rss(pid).unwrap();
    let sampler = RssSampler::start(pid);

    // Two connections per protocol write requests of 64 KiB and never read.
    let mut lp_request = (65_536u32).to_be_bytes().to_vec();
    lp_request.extend(vec![b'x'; 65_536]);
    let rpc_request = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"echo","params":["{}"]}}"#,
        "y".repeat(65_536)
    )
    .into_bytes();
    let mut floods = Vec::new();
    for (target, request) in [
        (&lp, &lp_request),
        (&lp, &lp_request),
        (&rpc, &rpc_request),
        (&rpc, &rpc_request),
    ] {
        let mut stream = support::connect(target).await;
        let request = request.clone();
        floods.push(tokio::spawn(async move {
            let mut written = 0u64;
            let flooding = async {
                while stream.write_all(&request).await.is_ok() {
                    written += request.len() as u64;
                }
            };
            let _ = timeout(FLOOD, flooding).await;
            (written, stream)
        }));
    }
    let mut written = 0;
    let mut streams = Vec::new();
    for flood in floods {
        let (bytes, stream) = flood.await.unwrap();
        written += bytes;
        streams.push(stream);
    }
    let peak = sampler.peak();
    let growth = peak.saturating_sub(baseline);
    println!(
        "never-reading clients wrote {:.1} MiB in {FLOOD:?}; the server grew by {:.1} MiB \
         (from {:.1} to a peak of {:.1} MiB)",
        mib(written),
        mib(growth),
        mib(baseline),
        mib(peak)
    );
    assert!(
        growth < BOUND,
        "the server grew by {:.1} MiB while its peers did not read",
        mib(growth)
    );

    // It still serves others.
    warm.send(Bytes::from("still here")).await.unwrap();
    assert_eq!(warm.next().await.unwrap().unwrap(), "still here");
    assert_eq!(
        rpc_client
            .call::<String, _>("echo", ("still here",))
            .await
            .unwrap(),
        "still here"
    );
    drop(streams);
}
