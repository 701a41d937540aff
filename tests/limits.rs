//! Server limits, graceful shutdown with a deadline, and lifecycle events,
//! over real sockets and named pipes.
#![cfg(feature = "json-rpc")]

mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use futures::{SinkExt, StreamExt, future::join_all};
use serde_json::Value;
use support::{PATIENCE, endpoint, eventually, framed};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    sync::{Semaphore, oneshot},
    time::timeout,
};
use tokio_util::codec::{Framed, LinesCodec};
use tower::{BoxError, service_fn};
use tower_ipc::{
    Endpoint, Server,
    codec::LengthPrefixed,
    jsonrpc::{ErrorObject, JsonRpc, JsonRpcClient, Router},
    server::{CloseReason, ServerEvent, Summary},
};

/// A router whose `wait` method holds each call until `gate` gives a permit,
/// counting the calls it holds.
fn gated_router(gate: Arc<Semaphore>, holding: Arc<AtomicUsize>) -> Router {
    Router::new().method("wait", move |(): ()| {
        let (gate, holding) = (gate.clone(), holding.clone());
        async move {
            holding.fetch_add(1, Ordering::SeqCst);
            gate.acquire().await.unwrap().forget();
            Ok::<_, ErrorObject>("done")
        }
    })
}

/// Starts `server` with a graceful-shutdown trigger.
fn start<F>(
    server: F,
) -> (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<Summary>>,
)
where
    F: FnOnce(oneshot::Receiver<()>) -> tower_ipc::server::ServeFuture,
{
    let (stop, stopped) = oneshot::channel();
    (stop, tokio::spawn(server(stopped)))
}

#[tokio::test]
async fn one_thousand_requests_in_flight_at_shutdown_are_all_answered() {
    const CALLS: usize = 1000;
    let endpoint = endpoint("limits-1000");
    let (gate, holding) = (Arc::new(Semaphore::new(0)), Arc::new(AtomicUsize::new(0)));
    let listener = endpoint.bind().await.unwrap();
    let router = gated_router(gate.clone(), holding.clone());
    let (stop, server) = start(move |stopped| {
        Server::new()
            .max_in_flight(CALLS)
            .serve(listener, JsonRpc::new(), router)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .into_future()
    });
    let client = JsonRpcClient::new(support::connect(&endpoint).await);
    let calls: Vec<_> = (0..CALLS)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.call::<String, _>("wait", ()).await })
        })
        .collect();
    eventually("1000 calls in flight", || {
        holding.load(Ordering::SeqCst) == CALLS
    })
    .await;

    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !server.is_finished(),
        "the server stopped with requests in flight"
    );
    gate.add_permits(CALLS);
    for call in join_all(calls).await {
        assert_eq!(call.unwrap().unwrap(), "done");
    }
    let summary = timeout(PATIENCE, server).await.unwrap().unwrap().unwrap();
    assert_eq!(summary.connections, 1);
    assert_eq!(summary.requests_completed, CALLS as u64);
    assert_eq!(summary.requests_cancelled, 0);
}

#[tokio::test]
async fn past_the_shutdown_deadline_json_rpc_callers_are_told_they_were_cancelled() {
    let endpoint = endpoint("limits-deadline-rpc");
    let (gate, holding) = (Arc::new(Semaphore::new(0)), Arc::new(AtomicUsize::new(0)));
    let listener = endpoint.bind().await.unwrap();
    let router = gated_router(gate, holding.clone());
    let (stop, server) = start(move |stopped| {
        Server::new()
            .shutdown_timeout(Duration::from_millis(200))
            .serve(listener, JsonRpc::new(), router)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .into_future()
    });
    let client = JsonRpcClient::new(support::connect(&endpoint).await);
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.call::<String, _>("wait", ()).await })
        })
        .collect();
    eventually("5 calls in flight", || holding.load(Ordering::SeqCst) == 5).await;
    stop.send(()).unwrap();
    for call in timeout(PATIENCE, join_all(calls)).await.unwrap() {
        let err = call.unwrap().unwrap_err();
        assert_eq!(
            err.as_rpc().map(ErrorObject::code),
            Some(ErrorObject::SHUTTING_DOWN),
            "{err}"
        );
    }
    let summary = timeout(PATIENCE, server).await.unwrap().unwrap().unwrap();
    assert_eq!(summary.requests_cancelled, 5);
    assert_eq!(summary.requests_completed, 0);
}

#[tokio::test]
async fn past_the_shutdown_deadline_a_codec_connection_is_closed() {
    let endpoint = endpoint("limits-deadline-raw");
    let listener = endpoint.bind().await.unwrap();
    let never = service_fn(|_: Bytes| std::future::pending::<Result<Bytes, BoxError>>());
    let (stop, server) = start(move |stopped| {
        Server::new()
            .shutdown_timeout(Duration::from_millis(200))
            .serve(listener, LengthPrefixed::new(), never)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .into_future()
    });
    let mut raw = framed(&endpoint).await;
    for n in 0..3u8 {
        raw.send(Bytes::from(vec![n])).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    assert!(
        timeout(PATIENCE, raw.next()).await.unwrap().is_none(),
        "closed without answers"
    );
    let summary = timeout(PATIENCE, server).await.unwrap().unwrap().unwrap();
    assert_eq!(summary.requests_cancelled, 3);
}

async fn read_to_end(mut stream: tower_ipc::transport::IpcStream) -> Vec<u8> {
    let mut rest = Vec::new();
    let _ = timeout(PATIENCE, stream.read_to_end(&mut rest))
        .await
        .expect("not closed");
    rest
}

#[tokio::test]
async fn past_the_connection_limit_json_rpc_clients_get_an_error_object() {
    let endpoint = endpoint("limits-conns-rpc");
    let listener = endpoint.bind().await.unwrap();
    let router = Router::new().method("ping", |(): ()| async move { Ok::<_, ErrorObject>("pong") });
    let serve = Server::new()
        .max_connections(2)
        .serve(listener, JsonRpc::new(), router);
    let mut events = serve.events();
    let server = tokio::spawn(serve.into_future());
    let first = JsonRpcClient::new(support::connect(&endpoint).await);
    let second = JsonRpcClient::new(support::connect(&endpoint).await);
    assert_eq!(first.call::<String, _>("ping", ()).await.unwrap(), "pong");
    assert_eq!(second.call::<String, _>("ping", ()).await.unwrap(), "pong");

    let refused = read_to_end(support::connect(&endpoint).await).await;
    let answer: Value = serde_json::from_slice(&refused).expect("one JSON error object");
    assert_eq!(answer["id"], Value::Null);
    assert_eq!(answer["error"]["code"], ErrorObject::LIMIT_EXCEEDED);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 2"),
        "{answer}"
    );
    loop {
        match timeout(PATIENCE, events.recv()).await.unwrap().unwrap() {
            ServerEvent::ConnectionRefused { reason, .. } => {
                assert!(reason.contains("at most 2"), "{reason}");
                break;
            }
            _ => continue,
        }
    }
    // A JSON-RPC client past the limit says why its call failed.
    let third = JsonRpcClient::new(support::connect(&endpoint).await);
    let err = timeout(PATIENCE, third.call::<String, _>("ping", ()))
        .await
        .unwrap()
        .unwrap_err();
    assert!(err.is_closed(), "{err}");
    assert!(err.to_string().contains("at most 2"), "{err}");
    // The first two are served as before.
    assert_eq!(first.call::<String, _>("ping", ()).await.unwrap(), "pong");
    server.abort();
}

#[tokio::test]
async fn past_the_connection_limit_a_codec_connection_is_closed_cleanly() {
    let server = support::spawn_server(
        endpoint("limits-conns-raw"),
        Server::new().max_connections(1),
        support::echo(),
    )
    .await;
    let mut first = framed(&server.endpoint).await;
    first.send(Bytes::from("a")).await.unwrap();
    assert_eq!(first.next().await.unwrap().unwrap(), "a");
    let refused = read_to_end(support::connect(&server.endpoint).await).await;
    assert!(refused.is_empty(), "no raw text: {refused:?}");
    first.send(Bytes::from("b")).await.unwrap();
    assert_eq!(first.next().await.unwrap().unwrap(), "b");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn queued_excess_connections_are_served_when_a_slot_frees() {
    let server = support::spawn_server(
        endpoint("limits-queue"),
        Server::new()
            .max_connections(1)
            .queue_excess_connections(true),
        support::echo(),
    )
    .await;
    let mut first = framed(&server.endpoint).await;
    first.send(Bytes::from("a")).await.unwrap();
    assert_eq!(first.next().await.unwrap().unwrap(), "a");
    let second = tokio::spawn({
        let endpoint = server.endpoint.clone();
        async move {
            let mut second = framed(&endpoint).await;
            second.send(Bytes::from("b")).await.unwrap();
            second.next().await.unwrap().unwrap()
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!second.is_finished(), "served past the limit");
    drop(first);
    assert_eq!(timeout(PATIENCE, second).await.unwrap().unwrap(), "b");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_idle_connection_is_closed_and_a_busy_one_is_not() {
    let server = support::spawn_server(
        endpoint("limits-idle"),
        Server::new().idle_timeout(Duration::from_millis(300)),
        support::echo(),
    )
    .await;
    let idle = support::connect(&server.endpoint).await;
    let mut busy = framed(&server.endpoint).await;
    let started = std::time::Instant::now();
    let closing = tokio::spawn(read_to_end(idle));
    for _ in 0..12 {
        busy.send(Bytes::from("x")).await.unwrap();
        assert_eq!(busy.next().await.unwrap().unwrap(), "x");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(closing.is_finished(), "the idle connection is still open");
    assert!(started.elapsed() >= Duration::from_millis(300));
    busy.send(Bytes::from("y")).await.unwrap();
    assert_eq!(busy.next().await.unwrap().unwrap(), "y");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_client_that_never_reads_is_disconnected_and_its_requests_stop_being_read() {
    let handled = Arc::new(AtomicUsize::new(0));
    let service = {
        let handled = handled.clone();
        service_fn(move |frame: Bytes| {
            handled.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, BoxError>(frame) }
        })
    };
    let endpoint = endpoint("limits-write");
    let listener = endpoint.bind().await.unwrap();
    let serve = Server::new()
        .write_timeout(Duration::from_millis(300))
        .serve(listener, LengthPrefixed::new(), service);
    let mut events = serve.events();
    let server = tokio::spawn(serve.into_future());
    let mut stream = support::connect(&endpoint).await;
    // 64 KiB requests whose answers are never read.
    let mut request = vec![0, 1, 0, 0];
    request.extend(vec![7u8; 65_536]);
    let writing = tokio::spawn(async move { while stream.write_all(&request).await.is_ok() {} });
    // The server stops reading once its answers back up, then gives up on
    // the peer.
    loop {
        match timeout(PATIENCE, events.recv())
            .await
            .expect("not disconnected")
        {
            Some(ServerEvent::ConnectionClosed { reason, .. }) => {
                assert!(matches!(reason, CloseReason::WriteTimeout(_)), "{reason}");
                assert!(reason.to_string().contains("write timeout"), "{reason}");
                assert!(reason.is_failure());
                break;
            }
            Some(_) => continue,
            None => panic!("server gone"),
        }
    }
    let seen = handled.load(Ordering::SeqCst);
    assert!(
        seen < 1000,
        "the server kept reading: {seen} requests of 64 KiB"
    );
    // On sockets the peer's writes then fail. (Under Wine, a pipe write the
    // server no longer reads stays pending instead.)
    #[cfg(unix)]
    timeout(PATIENCE, writing)
        .await
        .expect("still writing")
        .unwrap();
    #[cfg(not(unix))]
    writing.abort();
    // Others are served.
    let mut other = framed(&endpoint).await;
    other.send(Bytes::from("z")).await.unwrap();
    assert_eq!(other.next().await.unwrap().unwrap(), "z");
    server.abort();
}

#[tokio::test]
async fn a_batch_over_the_limit_gets_one_error_naming_it() {
    let endpoint = endpoint("limits-batch");
    let listener = endpoint.bind().await.unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let router = {
        let calls = calls.clone();
        Router::new().method("ping", move |(): ()| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, ErrorObject>("pong") }
        })
    };
    let server = tokio::spawn(
        tower_ipc::serve(listener, JsonRpc::new().max_batch_size(10), router).into_future(),
    );
    let mut wire = Framed::new(support::connect(&endpoint).await, LinesCodec::new());
    let batch: Vec<String> = (0..11)
        .map(|id| format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#))
        .collect();
    wire.send(format!("[{}]", batch.join(","))).await.unwrap();
    let answer: Value = serde_json::from_str(&wire.next().await.unwrap().unwrap()).unwrap();
    assert_eq!(
        answer["error"]["code"],
        ErrorObject::LIMIT_EXCEEDED,
        "{answer}"
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limit of 10")
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    server.abort();
}

#[tokio::test]
async fn lifecycle_events_tell_the_story_of_a_server() {
    let endpoint = endpoint("limits-events");
    let listener = endpoint.bind().await.unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let serve = Server::new()
        .serve(listener, LengthPrefixed::new(), support::echo())
        .with_graceful_shutdown(async move {
            let _ = stopped.await;
        });
    let mut events = serve.events();
    let server = tokio::spawn(serve.into_future());
    let mut raw = framed(&endpoint).await;
    raw.send(Bytes::from("hi")).await.unwrap();
    raw.next().await.unwrap().unwrap();
    drop(raw);
    let mut seen = Vec::new();
    loop {
        let event = timeout(PATIENCE, events.recv()).await.unwrap().unwrap();
        let closed = matches!(event, ServerEvent::ConnectionClosed { .. });
        seen.push(event);
        if closed {
            break;
        }
    }
    stop.send(()).unwrap();
    let summary = timeout(PATIENCE, server).await.unwrap().unwrap().unwrap();
    while let Some(event) = timeout(PATIENCE, events.recv()).await.unwrap() {
        seen.push(event);
    }
    let names: Vec<String> = seen.iter().map(|e| format!("{e:?}")).collect();
    assert!(
        matches!(&seen[0], ServerEvent::Listening { endpoint: e } if *e == endpoint.to_string()),
        "{names:?}"
    );
    assert!(
        matches!(&seen[1], ServerEvent::ConnectionOpened { id: 1, peer } if peer.pid() == Some(std::process::id())),
        "{names:?}"
    );
    assert!(
        matches!(
            &seen[2],
            ServerEvent::ConnectionClosed {
                id: 1,
                reason: CloseReason::PeerClosed,
                ..
            }
        ),
        "{names:?}"
    );
    assert!(
        matches!(&seen[3], ServerEvent::ShutdownStarted { connections: 0 }),
        "{names:?}"
    );
    assert!(
        matches!(&seen[4], ServerEvent::Stopped(s) if *s == summary),
        "{names:?}"
    );
    assert_eq!(summary.requests_completed, 1);
}

#[tokio::test]
async fn dropping_the_server_future_stops_it_at_once() {
    let endpoint = endpoint("limits-drop");
    let listener = endpoint.bind().await.unwrap();
    let never = service_fn(|_: Bytes| std::future::pending::<Result<Bytes, BoxError>>());
    let server =
        tokio::spawn(tower_ipc::serve(listener, LengthPrefixed::new(), never).into_future());
    let mut raw = framed(&endpoint).await;
    raw.send(Bytes::from("x")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.abort();
    assert!(timeout(PATIENCE, raw.next()).await.unwrap().is_none());
    assert!(Endpoint::connect(&endpoint).await.is_err());
}
