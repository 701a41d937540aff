//! The JSON-RPC client against the JSON-RPC server, over real sockets and
//! named pipes.
#![cfg(feature = "json-rpc")]

mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::{FutureExt, StreamExt, future::join_all, stream};
use serde::{Deserialize, Serialize};
use support::{PATIENCE, endpoint, eventually};
use tokio::{sync::oneshot, time::timeout};
use tower::{ServiceBuilder, ServiceExt};
use tower_ipc::{
    Endpoint, Server,
    jsonrpc::{CallError, ErrorObject, Id, JsonRpc, JsonRpcClient, Request, Router, Subscription},
};

#[derive(Serialize, Deserialize)]
struct Transfer {
    to: String,
    amount: u64,
}

fn ticks() -> Subscription {
    Subscription::new("tick_subscribe", "tick", "tick_unsubscribe")
}

fn router(notes: Arc<AtomicUsize>, unsubscribed: Arc<AtomicBool>) -> Router {
    Router::new()
        .method("add", |(a, b): (i64, i64)| async move {
            Ok::<_, ErrorObject>(a + b)
        })
        .method("transfer", |t: Transfer| async move {
            Ok::<_, ErrorObject>(format!("{} to {}", t.amount, t.to))
        })
        .method("sleep", |(millis,): (u64,)| async move {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            Ok::<_, ErrorObject>(millis)
        })
        .method("fail", |(): ()| async move {
            Err::<(), _>(ErrorObject::new(-32099, "no"))
        })
        .method("note", move |(): ()| {
            let notes = notes.clone();
            async move {
                notes.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ErrorObject>(())
            }
        })
        .subscription(ticks(), move |(every,): (u64,)| {
            let unsubscribed = unsubscribed.clone();
            async move {
                struct Flag(Arc<AtomicBool>);
                impl Drop for Flag {
                    fn drop(&mut self) {
                        self.0.store(true, Ordering::SeqCst);
                    }
                }
                let flag = Flag(unsubscribed);
                let items = stream::unfold((0u64, flag), move |(n, flag)| async move {
                    tokio::time::sleep(Duration::from_millis(every)).await;
                    Some((n, (n + 1, flag)))
                });
                Ok::<_, ErrorObject>(items)
            }
        })
}

struct Fixture {
    endpoint: Endpoint,
    notes: Arc<AtomicUsize>,
    unsubscribed: Arc<AtomicBool>,
    server: tokio::task::JoinHandle<()>,
}

impl Fixture {
    async fn start(tag: &str) -> Self {
        let endpoint = endpoint(tag);
        let (notes, unsubscribed) = (Arc::default(), Arc::default());
        let server = serve(
            &endpoint,
            router(Arc::clone(&notes), Arc::clone(&unsubscribed)),
        )
        .await;
        Self {
            endpoint,
            notes,
            unsubscribed,
            server,
        }
    }

    async fn client(&self) -> JsonRpcClient {
        JsonRpcClient::new(support::connect(&self.endpoint).await)
    }
}

async fn serve(endpoint: &Endpoint, router: Router) -> tokio::task::JoinHandle<()> {
    let listener = endpoint.bind().await.unwrap();
    tokio::spawn(async move {
        let _ = tower_ipc::serve(listener, JsonRpc::new(), router).await;
    })
}

#[tokio::test]
async fn typed_calls_by_position_and_by_name() {
    let fixture = Fixture::start("rpcc-typed").await;
    let client = fixture.client().await;
    let sum: i64 = client.call("add", (1, 2)).await.unwrap();
    assert_eq!(sum, 3);
    let sent: String = client
        .call(
            "transfer",
            Transfer {
                to: "bob".into(),
                amount: 5,
            },
        )
        .await
        .unwrap();
    assert_eq!(sent, "5 to bob");
    fixture.server.abort();
}

#[tokio::test]
async fn error_answers_and_unparsable_results_are_told_apart() {
    let fixture = Fixture::start("rpcc-errors").await;
    let client = fixture.client().await;
    let err = client.call::<(), _>("fail", ()).await.unwrap_err();
    assert_eq!(err.as_rpc().map(ErrorObject::code), Some(-32099), "{err}");
    let err = client.call::<i64, _>("nope", ()).await.unwrap_err();
    assert_eq!(err.as_rpc().map(ErrorObject::code), Some(-32601), "{err}");
    let err = client.call::<String, _>("add", (1, 2)).await.unwrap_err();
    assert!(matches!(err, CallError::Serde(_)), "{err}");
    let err = client.call::<i64, _>("add", 5).await.unwrap_err();
    assert!(matches!(err, CallError::Serde(_)), "scalar params: {err}");
    // The connection is fine after all of that.
    assert_eq!(client.call::<i64, _>("add", (2, 2)).await.unwrap(), 4);
    fixture.server.abort();
}

#[tokio::test]
async fn many_concurrent_calls_are_multiplexed_by_id() {
    let fixture = Fixture::start("rpcc-many").await;
    let client = fixture.client().await;
    let calls = (0..1000i64).map(|n| {
        let client = client.clone();
        async move { (n, client.call::<i64, _>("add", (n, n)).await) }
    });
    for (n, sum) in timeout(PATIENCE, join_all(calls)).await.unwrap() {
        assert_eq!(sum.unwrap(), 2 * n);
    }
    fixture.server.abort();
}

#[tokio::test]
async fn a_fast_answer_overtakes_a_slow_one() {
    let fixture = Fixture::start("rpcc-overtake").await;
    let client = fixture.client().await;
    let slow = tokio::spawn({
        let client = client.clone();
        async move { client.call::<u64, _>("sleep", (500,)).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let fast = client.call::<u64, _>("sleep", (1,)).await.unwrap();
    assert_eq!(fast, 1);
    assert!(!slow.is_finished(), "the slow call held back the fast one");
    assert_eq!(slow.await.unwrap().unwrap(), 500);
    fixture.server.abort();
}

#[tokio::test]
async fn notifications_are_delivered_without_answers() {
    let fixture = Fixture::start("rpcc-notify").await;
    let client = fixture.client().await;
    for _ in 0..5 {
        client.notify("note", ()).await.unwrap();
    }
    let notes = fixture.notes.clone();
    eventually("5 notes", || notes.load(Ordering::SeqCst) == 5).await;
    fixture.server.abort();
}

#[tokio::test]
async fn batch_answers_come_back_in_request_order() {
    let fixture = Fixture::start("rpcc-batch").await;
    let client = fixture.client().await;
    let requests = vec![
        Request::new("sleep")
            .with_params(&(50,))
            .unwrap()
            .with_id(Id::null()),
        Request::new("note"),
        Request::new("add")
            .with_params(&(2, 3))
            .unwrap()
            .with_id(Id::null()),
        Request::new("nope").with_id(Id::null()),
    ];
    let answers = client.batch(requests).await.unwrap();
    assert_eq!(answers.len(), 3);
    assert_eq!(answers[0].clone().into_result::<u64>().unwrap(), 50);
    assert_eq!(answers[1].clone().into_result::<i64>().unwrap(), 5);
    assert_eq!(
        answers[2].error_object().map(ErrorObject::code),
        Some(-32601)
    );
    let notes = fixture.notes.clone();
    eventually("the batch's notification", || {
        notes.load(Ordering::SeqCst) == 1
    })
    .await;
    fixture.server.abort();
}

#[tokio::test]
async fn subscription_streams_items_and_unsubscribes() {
    let fixture = Fixture::start("rpcc-sub").await;
    let client = fixture.client().await;
    let mut ticks = client.subscribe::<u64, _>(&ticks(), (5,)).await.unwrap();
    assert!(ticks.id().starts_with("0x"));
    for n in 0..5 {
        let item = timeout(PATIENCE, ticks.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(item, n);
    }
    assert!(ticks.unsubscribe().await.unwrap());
    let flag = fixture.unsubscribed.clone();
    eventually("server-side subscription ended", || {
        flag.load(Ordering::SeqCst)
    })
    .await;
    fixture.server.abort();
}

#[tokio::test]
async fn dropping_a_subscription_stream_unsubscribes() {
    let fixture = Fixture::start("rpcc-sub-drop").await;
    let client = fixture.client().await;
    let mut ticks = client.subscribe::<u64, _>(&ticks(), (5,)).await.unwrap();
    timeout(PATIENCE, ticks.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    drop(ticks);
    let flag = fixture.unsubscribed.clone();
    eventually("server-side subscription ended", || {
        flag.load(Ordering::SeqCst)
    })
    .await;
    // The client is still usable.
    assert_eq!(client.call::<i64, _>("add", (1, 1)).await.unwrap(), 2);
    fixture.server.abort();
}

#[tokio::test]
async fn a_consumer_that_falls_behind_its_buffer_gets_an_error() {
    let fixture = Fixture::start("rpcc-lag").await;
    let client = fixture.client().await;
    let mut ticks = client
        .subscribe::<u64, _>(&ticks().buffer(2), (0,))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut items = Vec::new();
    let err = loop {
        match timeout(PATIENCE, ticks.next()).await.unwrap().unwrap() {
            Ok(item) => items.push(item),
            Err(err) => break err,
        }
    };
    assert_eq!(items, vec![0, 1], "the buffered items come first");
    assert_eq!(
        err.as_rpc().map(ErrorObject::code),
        Some(ErrorObject::LIMIT_EXCEEDED),
        "{err}"
    );
    assert!(timeout(PATIENCE, ticks.next()).await.unwrap().is_none());
    fixture.server.abort();
}

#[tokio::test]
async fn calls_in_flight_fail_at_once_when_the_connection_drops() {
    let endpoint = endpoint("rpcc-drop");
    let mut listener = endpoint.bind().await.unwrap();
    let (hang_up, hung_up) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = hung_up.await;
        drop(stream);
    });
    let client = JsonRpcClient::new(support::connect(&endpoint).await);
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.call::<i64, _>("add", (1, 1)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    hang_up.send(()).unwrap();
    for call in timeout(PATIENCE, join_all(calls)).await.unwrap() {
        let err = call.unwrap().unwrap_err();
        assert!(err.is_closed(), "{err}");
    }
    let err = client.call::<i64, _>("add", (1, 1)).await.unwrap_err();
    assert!(err.is_closed(), "later calls fail too: {err}");
    server.await.unwrap();
}

#[tokio::test]
async fn a_reconnecting_client_recovers_when_the_server_is_back() {
    let endpoint = endpoint("rpcc-reconnect");
    let notes = Arc::new(AtomicUsize::new(0));
    let flag = Arc::new(AtomicBool::new(false));
    // A server whose connection can be killed outright (dropping a `serve`
    // future would close its connections gracefully, answering what is in
    // flight).
    let mut listener = endpoint.bind().await.unwrap();
    let served = {
        let router = router(notes.clone(), flag.clone());
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            drop(listener);
            let _ = Server::new()
                .serve_connection(stream, JsonRpc::new(), router)
                .await;
        })
    };
    let client = JsonRpcClient::builder()
        .reconnect(PATIENCE)
        .connect(&endpoint)
        .await
        .unwrap();
    assert_eq!(client.call::<i64, _>("add", (1, 1)).await.unwrap(), 2);
    let mut ticks = client.subscribe::<u64, _>(&ticks(), (5,)).await.unwrap();

    // The server goes away with a call in flight.
    let slow = tokio::spawn({
        let client = client.clone();
        async move { client.call::<u64, _>("sleep", (10_000,)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    served.abort();
    let _ = served.await;
    let err = timeout(PATIENCE, slow).await.unwrap().unwrap().unwrap_err();
    assert!(err.is_closed(), "{err}");
    let ended = loop {
        match timeout(PATIENCE, ticks.next()).await.unwrap() {
            Some(Ok(_)) => continue,
            other => break other,
        }
    };
    assert!(
        matches!(ended, Some(Err(ref err)) if err.is_closed()),
        "{ended:?}"
    );

    // It comes back; the next call connects again.
    let server = serve(&endpoint, router(notes, flag)).await;
    assert_eq!(client.call::<i64, _>("add", (2, 2)).await.unwrap(), 4);
    server.abort();
}

#[tokio::test]
async fn client_is_a_tower_service_for_middleware() {
    let fixture = Fixture::start("rpcc-tower").await;
    let client = fixture.client().await;
    let service = ServiceBuilder::new()
        .timeout(Duration::from_millis(200))
        .concurrency_limit(4)
        .service(client);
    let request = Request::new("add").with_params(&(20, 22)).unwrap();
    let answer = service.clone().oneshot(request).await.unwrap();
    assert_eq!(answer.into_result::<i64>().unwrap(), 42);
    let slow = Request::new("sleep").with_params(&(2_000,)).unwrap();
    let err = service.clone().oneshot(slow).await.unwrap_err();
    assert!(err.is::<tower::timeout::error::Elapsed>(), "{err}");
    // The abandoned call does not disturb the next one.
    let request = Request::new("add").with_params(&(1, 2)).unwrap();
    let answer = service.oneshot(request).await.unwrap();
    assert_eq!(answer.into_result::<i64>().unwrap(), 3);
    fixture.server.abort();
}

#[tokio::test]
async fn client_and_server_agree_over_every_json_framing() {
    use tower_ipc::codec::{JsonCodec, JsonFraming};
    for framing in [
        JsonFraming::Stream,
        JsonFraming::Ndjson,
        JsonFraming::ContentLength,
    ] {
        let codec = JsonCodec::new().framing(framing);
        let endpoint = endpoint("rpcc-framing");
        let listener = endpoint.bind().await.unwrap();
        let router = router(Arc::default(), Arc::default());
        let server = tokio::spawn(
            tower_ipc::serve(listener, JsonRpc::new().codec(codec.clone()), router).into_future(),
        );
        let client = JsonRpcClient::builder()
            .codec(codec)
            .build(support::connect(&endpoint).await);
        let sum: i64 = client.call("add", (40, 2)).await.unwrap();
        assert_eq!(sum, 42, "{framing:?}");
        let answers = client
            .batch([
                Request::new("add")
                    .with_params(&(1, 1))
                    .unwrap()
                    .with_id(Id::null()),
                Request::new("add")
                    .with_params(&(2, 2))
                    .unwrap()
                    .with_id(Id::null()),
            ])
            .await
            .unwrap();
        assert_eq!(
            answers[1].clone().into_result::<i64>().unwrap(),
            4,
            "{framing:?}"
        );
        server.abort();
    }
}

#[tokio::test]
async fn a_call_over_the_servers_frame_limit_fails_instead_of_hanging() {
    use tower_ipc::codec::JsonCodec;
    let endpoint = endpoint("rpcc-oversized");
    let listener = endpoint.bind().await.unwrap();
    let protocol = JsonRpc::new().codec(JsonCodec::new().max_frame_length(1024));
    let router = router(Arc::default(), Arc::default());
    let server = tokio::spawn(tower_ipc::serve(listener, protocol, router).into_future());
    // The client's own limit is the default 8 MiB: the server refuses.
    let client = JsonRpcClient::new(support::connect(&endpoint).await);
    let big = "x".repeat(4096);
    let err = timeout(PATIENCE, client.call::<String, _>("transfer", (big, 1)))
        .await
        .expect("the call hung")
        .unwrap_err();
    let error = err.as_rpc().expect("an error answer");
    assert_eq!(error.code(), ErrorObject::INVALID_REQUEST, "{err}");
    assert!(error.message().contains("1024 bytes"), "{err}");
    assert_eq!(client.call::<i64, _>("add", (1, 1)).await.unwrap(), 2);
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_that_give_up_never_take_another_callers_answer() {
    let fixture = Fixture::start("rpcc-abandon").await;
    let client = JsonRpcClient::builder()
        .buffer(4)
        .max_in_flight(8)
        .build(support::connect(&fixture.endpoint).await);
    let callers = (0..16u64).map(|caller| {
        let client = client.clone();
        tokio::spawn(async move {
            let (mut seed, mut answered, mut gave_up) = (caller, 0, 0);
            for n in 0..300u64 {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let kind = seed >> 33;
                // Some calls are slow, so callers give up at every stage.
                let call = match kind % 4 {
                    0 => client.call::<u64, _>("sleep", (1,)).boxed(),
                    _ => client.call::<u64, _>("add", (caller, n)).boxed(),
                };
                let expected = if kind % 4 == 0 { 1 } else { caller + n };
                if kind.is_multiple_of(5) {
                    gave_up += u32::from(
                        timeout(Duration::from_micros(kind % 1500), call)
                            .await
                            .is_err(),
                    );
                } else {
                    assert_eq!(call.await.expect("an answer"), expected, "its own answer");
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
    fixture.server.abort();
}
