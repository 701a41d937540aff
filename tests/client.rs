//! The client over real sockets and named pipes: sharing, pipelining,
//! backpressure, connection loss, and tower middleware.

mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use futures::{StreamExt, future::join_all};
use support::{PATIENCE, client, endpoint, spawn_server};
use tokio::time::timeout;
use tokio_util::codec::Framed;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};
use tower_ipc::{Client, Server, codec::LengthPrefixed, transport::PeerInfo};

#[tokio::test]
async fn clones_share_one_connection() {
    let endpoint = endpoint("share");
    let listener = endpoint.bind().await.unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let make = {
        let connections = connections.clone();
        service_fn(move |_: PeerInfo| {
            connections.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, BoxError>(support::echo()) }
        })
    };
    let server = tokio::spawn(
        Server::new()
            .serve_make(listener, LengthPrefixed::new(), make)
            .into_future(),
    );
    let client = client(&endpoint).await;
    let calls = (0..20u8).map(|n| {
        let mut client = client.clone();
        async move { client.ready().await?.call(Bytes::from(vec![n])).await }
    });
    for (n, answer) in join_all(calls).await.into_iter().enumerate() {
        assert_eq!(answer.unwrap()[..], [u8::try_from(n).unwrap()]);
    }
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    server.abort();
}

#[tokio::test]
async fn many_pipelined_calls_each_get_their_own_answer() {
    let server = spawn_server(endpoint("pipeline"), Server::new(), support::echo()).await;
    let client = client(&server.endpoint).await;
    let calls = (0..1000u32).map(|n| {
        let mut client = client.clone();
        async move {
            let request = Bytes::from(n.to_be_bytes().to_vec());
            let answer = client.ready().await?.call(request.clone()).await?;
            assert_eq!(answer, request);
            Ok::<_, tower_ipc::client::Error>(())
        }
    });
    for result in timeout(PATIENCE, join_all(calls)).await.unwrap() {
        result.unwrap();
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn poll_ready_waits_when_the_queue_and_in_flight_window_are_full() {
    // A server that accepts and never reads.
    let endpoint = endpoint("backpressure");
    let mut listener = endpoint.bind().await.unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        std::future::pending::<()>().await;
        drop(stream);
    });
    let stream = support::connect(&endpoint).await;
    let mut client = Client::builder()
        .buffer(2)
        .max_in_flight(2)
        .build(Framed::new(stream, LengthPrefixed::new()));
    // Two requests go on the wire, two wait in the queue.
    let mut answers = Vec::new();
    for n in 0..4u8 {
        let ready = timeout(PATIENCE, client.ready()).await.expect("room for 4");
        answers.push(ready.unwrap().call(Bytes::from(vec![n])));
    }
    // The fifth caller waits.
    assert!(
        timeout(Duration::from_millis(200), client.ready())
            .await
            .is_err(),
        "poll_ready accepted more than the queue and window hold"
    );
    server.abort();
}

#[tokio::test]
async fn every_call_in_flight_fails_at_once_when_the_connection_drops() {
    let endpoint = endpoint("drop");
    let mut listener = endpoint.bind().await.unwrap();
    // A server that reads three requests, then hangs up without answering.
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut framed = Framed::new(stream, LengthPrefixed::new());
        for _ in 0..3 {
            framed.next().await.unwrap().unwrap();
        }
    });
    let client = client(&endpoint).await;
    let calls: Vec<_> = (0..3u8)
        .map(|n| {
            let mut client = client.clone();
            tokio::spawn(async move { client.ready().await?.call(Bytes::from(vec![n])).await })
        })
        .collect();
    server.await.unwrap();
    for call in timeout(PATIENCE, join_all(calls)).await.unwrap() {
        let err = call.unwrap().unwrap_err();
        assert!(err.is_closed(), "{err}");
        assert!(err.to_string().contains("connection closed"), "{err}");
    }
    // Later calls fail too, at readiness.
    let mut later = client.clone();
    let err = timeout(PATIENCE, later.ready()).await.unwrap().unwrap_err();
    assert!(err.is_closed(), "{err}");
}

#[tokio::test]
async fn oversized_request_fails_alone_and_the_connection_lives_on() {
    let server = spawn_server(endpoint("encode"), Server::new(), support::echo()).await;
    let stream = support::connect(&server.endpoint).await;
    let mut client = Client::new(Framed::new(
        stream,
        LengthPrefixed::new().max_frame_length(16),
    ));
    let err = client
        .ready()
        .await
        .unwrap()
        .call(Bytes::from(vec![0; 17]))
        .await
        .unwrap_err();
    assert!(err.is_encode() && !err.is_closed(), "{err}");
    assert!(err.to_string().contains("16 bytes"), "{err}");
    let answer = client.ready().await.unwrap().call(Bytes::from("ok")).await;
    assert_eq!(answer.unwrap(), "ok");
    server.shutdown().await.unwrap();
}

/// A service that answers after the number of milliseconds its request names,
/// and counts how many requests it handles at once.
fn delayed(
    gauge: Arc<(AtomicUsize, AtomicUsize)>,
) -> impl Service<Bytes, Response = Bytes, Error = BoxError, Future: Send> + Clone + Send {
    service_fn(move |frame: Bytes| {
        let gauge = gauge.clone();
        async move {
            let now = gauge.0.fetch_add(1, Ordering::SeqCst) + 1;
            gauge.1.fetch_max(now, Ordering::SeqCst);
            let millis: u64 = std::str::from_utf8(&frame)?.parse()?;
            tokio::time::sleep(Duration::from_millis(millis)).await;
            gauge.0.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, BoxError>(frame)
        }
    })
}

#[tokio::test]
async fn composes_with_timeout_and_concurrency_limit_layers() {
    let gauge = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    let server = spawn_server(endpoint("layers"), Server::new(), delayed(gauge.clone())).await;
    let client = client(&server.endpoint).await;
    let service = ServiceBuilder::new()
        .timeout(Duration::from_millis(300))
        .concurrency_limit(2)
        .service(client.clone());

    // The timeout layer gives up on a slow call.
    let err = service
        .clone()
        .oneshot(Bytes::from("600"))
        .await
        .unwrap_err();
    assert!(err.is::<tower::timeout::error::Elapsed>(), "{err}");

    // The next call gets its own answer, not the abandoned one (which the
    // server still sends first: answers come in request order).
    let answer = client.clone().oneshot(Bytes::from("1")).await.unwrap();
    assert_eq!(answer, "1");

    // The concurrency limit holds the server to 2 of our calls at once.
    gauge.1.store(0, Ordering::SeqCst);
    let calls = (0..10).map(|_| service.clone().oneshot(Bytes::from("20")));
    for answer in join_all(calls).await {
        assert_eq!(answer.unwrap(), "20");
    }
    assert_eq!(gauge.1.load(Ordering::SeqCst), 2);
    server.shutdown().await.unwrap();
}

/// A caller's own pseudo-random sequence (no dependency for one test).
fn next(seed: &mut u32) -> u32 {
    *seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
    *seed >> 8
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_that_give_up_never_take_another_callers_answer() {
    // Some answers are slow, so callers give up at every stage: waiting for
    // room, queued, written, and answered but not yet taken.
    let echo = service_fn(|frame: Bytes| async move {
        if frame[0].is_multiple_of(4) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok::<_, BoxError>(frame)
    });
    let server = spawn_server(endpoint("abandon"), Server::new(), echo).await;
    let stream = support::connect(&server.endpoint).await;
    let client = Client::builder()
        .buffer(4)
        .max_in_flight(8)
        .build(Framed::new(stream, LengthPrefixed::new()));
    let callers = (0..16u32).map(|caller| {
        let mut client = client.clone();
        tokio::spawn(async move {
            let (mut seed, mut answered, mut gave_up) = (caller, 0, 0);
            for n in 0..300u32 {
                let kind = next(&mut seed);
                let request = Bytes::from(
                    [&[kind as u8][..], &caller.to_be_bytes(), &n.to_be_bytes()].concat(),
                );
                let call = async { client.ready().await?.call(request.clone()).await };
                if kind.is_multiple_of(5) {
                    let patience = Duration::from_micros(u64::from(kind % 1500));
                    gave_up += u32::from(timeout(patience, call).await.is_err());
                } else {
                    assert_eq!(call.await.expect("an answer"), request, "its own answer");
                    answered += 1;
                }
            }
            (answered, gave_up)
        })
    });
    let (answered, gave_up) = timeout(PATIENCE, join_all(callers))
        .await
        .expect("no caller left waiting")
        .into_iter()
        .map(|tally| tally.unwrap())
        .fold((0, 0), |(a, g), (answered, gave_up)| {
            (a + answered, g + gave_up)
        });
    assert!(
        answered > 16 * 300 / 2 && gave_up > 0,
        "{answered} answered, {gave_up} given up"
    );
    server.shutdown().await.unwrap();
}
