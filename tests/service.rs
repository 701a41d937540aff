//! Services defined by a trait: the generated server and client, in both
//! wire forms, over real endpoints.
#![cfg(all(feature = "macros", feature = "postcard"))]

mod support;

use std::sync::{Arc, Mutex};

use futures::{StreamExt, stream::BoxStream};
use serde::{Deserialize, Serialize};
use tower_ipc::{
    Endpoint,
    codec::LengthPrefixed,
    jsonrpc::{JsonRpc, JsonRpcClient},
    service::{Frames, MethodError, RpcClient},
    typed::{Json, Postcard},
};

use support::{PATIENCE, endpoint};

/// The calculator's errors.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub enum MathError {
    /// `b` was 0.
    DivideByZero,
    /// The quotient does not fit.
    #[allow(missing_docs)]
    Overflow { a: i64, b: i64 },
}

impl std::fmt::Display for MathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::DivideByZero => f.write_str("divide by zero"),
            Self::Overflow { a, b } => write!(f, "{a} and {b} overflow"),
        }
    }
}

impl MethodError for MathError {
    fn code(&self) -> i64 {
        42
    }
}

/// A calculator.
#[tower_ipc::service(version = "2.0")]
pub trait Calc {
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> i64;
    /// Divides.
    async fn div(&self, a: i64, b: i64) -> Result<i64, MathError>;
    /// Greets; the greeting is optional.
    async fn greet(&self, name: String, greeting: Option<String>) -> String;
    /// Nothing in, nothing out.
    async fn ping(&self);
    /// Writes a line to the log.
    #[rpc(notification)]
    async fn log(&self, line: String);
    /// What was logged.
    #[rpc(name = "calc_logged")]
    async fn logged(&self) -> Vec<String>;
    /// Counts from 0 to `to`.
    #[rpc(subscription)]
    async fn count(&self, to: u64) -> BoxStream<'static, u64>;
    /// 7, then nothing, for ever.
    #[rpc(subscription)]
    async fn one_then_quiet(&self) -> BoxStream<'static, u64>;
}

#[derive(Default)]
struct Calculator {
    log: Mutex<Vec<String>>,
    /// Told when `count` has produced its 2,000th item.
    produced: Arc<tokio::sync::Notify>,
}

impl Calc for Calculator {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }

    async fn div(&self, a: i64, b: i64) -> Result<i64, MathError> {
        match b {
            0 => Err(MathError::DivideByZero),
            _ => a.checked_div(b).ok_or(MathError::Overflow { a, b }),
        }
    }

    async fn greet(&self, name: String, greeting: Option<String>) -> String {
        format!("{}, {name}", greeting.as_deref().unwrap_or("hello"))
    }

    async fn ping(&self) {}

    async fn log(&self, line: String) {
        self.log.lock().unwrap().push(line);
    }

    async fn logged(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    async fn count(&self, to: u64) -> BoxStream<'static, u64> {
        let produced = self.produced.clone();
        futures::stream::iter(0..to)
            .inspect(move |&item| {
                if item == 2_000 {
                    produced.notify_one();
                }
            })
            .boxed()
    }

    async fn one_then_quiet(&self) -> BoxStream<'static, u64> {
        futures::stream::iter([7])
            .chain(futures::stream::pending())
            .boxed()
    }
}

/// A server of `calc` in JSON-RPC, and a client.
async fn json_rpc(endpoint: Endpoint, calc: Arc<Calculator>) -> CalcClient {
    let listener = endpoint.bind().await.unwrap();
    let server = CalcServer::from_arc(calc);
    tokio::spawn(tower_ipc::serve(listener, JsonRpc::new(), server).into_future());
    let stream = endpoint.connect_timeout(PATIENCE).await.unwrap();
    CalcClient::new(JsonRpcClient::new(stream))
}

/// A server of `calc` in typed frames of postcard, and a client.
async fn frames(endpoint: Endpoint, calc: Arc<Calculator>) -> CalcClient {
    let listener = endpoint.bind().await.unwrap();
    let server = CalcServer::from_arc(calc);
    let frames = Frames::new(LengthPrefixed::new(), Postcard);
    tokio::spawn(tower_ipc::serve(listener, frames, server).into_future());
    let stream = endpoint.connect_timeout(PATIENCE).await.unwrap();
    CalcClient::new(RpcClient::frames(stream, LengthPrefixed::new(), Postcard))
}

async fn every_method(client: &CalcClient, calc: &Calculator) {
    // A subscription left open while calls and another one go on.
    let mut open = client.one_then_quiet().await.unwrap();
    assert_eq!(open.next().await.unwrap().unwrap(), 7);
    let items: Vec<u64> = client
        .count(3)
        .await
        .unwrap()
        .take(3)
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(items, [0, 1, 2]);
    assert_eq!(client.add(2, 2).await.unwrap(), 4);
    drop(open);

    assert_eq!(client.add(1, 2).await.unwrap(), 3);
    assert_eq!(client.div(7, 2).await.unwrap(), Ok(3));
    assert_eq!(
        client.div(1, 0).await.unwrap(),
        Err(MathError::DivideByZero)
    );
    assert_eq!(
        client.div(i64::MIN, -1).await.unwrap(),
        Err(MathError::Overflow { a: i64::MIN, b: -1 })
    );
    assert_eq!(
        client.greet("ada".into(), None).await.unwrap(),
        "hello, ada"
    );
    assert_eq!(
        client.greet("ada".into(), Some("hi".into())).await.unwrap(),
        "hi, ada"
    );
    client.ping().await.unwrap();
    client.log("one".into()).await.unwrap();
    client.log("two".into()).await.unwrap();
    // Answered after the notifications before it were read.
    assert_eq!(client.logged().await.unwrap(), ["one", "two"]);
    assert_eq!(*calc.log.lock().unwrap(), ["one", "two"]);
}

#[tokio::test]
async fn every_kind_of_method_works_over_json_rpc() {
    let calc = Arc::new(Calculator::default());
    let client = json_rpc(endpoint("svc-rpc"), calc.clone()).await;
    every_method(&client, &calc).await;
}

#[tokio::test]
async fn every_kind_of_method_works_over_postcard_frames() {
    let calc = Arc::new(Calculator::default());
    let client = frames(endpoint("svc-frames"), calc.clone()).await;
    every_method(&client, &calc).await;
}

#[tokio::test]
async fn json_frames_work_too() {
    let endpoint = endpoint("svc-json");
    let listener = endpoint.bind().await.unwrap();
    let frames = Frames::new(LengthPrefixed::new(), Json);
    let calc = Arc::new(Calculator::default());
    tokio::spawn(
        tower_ipc::serve(listener, frames, CalcServer::from_arc(calc.clone())).into_future(),
    );
    let stream = endpoint.connect_timeout(PATIENCE).await.unwrap();
    let client = CalcClient::new(RpcClient::frames(stream, LengthPrefixed::new(), Json));
    every_method(&client, &calc).await;
}

#[tokio::test]
async fn in_typed_frames_a_subscription_ends_when_the_servers_stream_does() {
    let calc = Arc::new(Calculator::default());
    let client = frames(endpoint("svc-frames-end"), calc).await;
    let items: Vec<u64> = client
        .count(3)
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(items, [0, 1, 2]);
}

#[tokio::test]
async fn in_typed_frames_a_consumer_that_falls_behind_is_told() {
    let calc = Arc::new(Calculator::default());
    let client = frames(endpoint("svc-frames-lag"), calc.clone()).await;
    let produced = calc.produced.clone();
    let mut items = client.count(100_000).await.unwrap();
    // Nothing is read until the server has sent far more than the stream
    // buffers (256): past that, the subscription ends with an error rather
    // than growing or dropping items silently.
    tokio::time::timeout(PATIENCE, produced.notified())
        .await
        .expect("the server produced 2,000 items");
    let mut seen = 0u64;
    let err = loop {
        match items.next().await {
            Some(Ok(item)) => {
                assert_eq!(item, seen, "items in order, none skipped");
                seen += 1;
            }
            Some(Err(err)) => break err,
            None => panic!("ended without saying the consumer fell behind, after {seen}"),
        }
    };
    assert!(err.to_string().contains("fell 256 items behind"), "{err}");
    assert!(items.next().await.is_none());
    // The connection serves on.
    assert_eq!(client.add(1, 1).await.unwrap(), 2);
}

#[tokio::test]
async fn the_generated_ends_interoperate_with_a_router_and_a_json_rpc_client() {
    use tower_ipc::jsonrpc::{ErrorObject, Router};

    // A plain `JsonRpcClient` calls the generated server by method name.
    let calc = Arc::new(Calculator::default());
    let served = endpoint("svc-interop");
    let listener = served.bind().await.unwrap();
    let server = CalcServer::from_arc(calc);
    tokio::spawn(tower_ipc::serve(listener, JsonRpc::new(), server).into_future());
    let plain = JsonRpcClient::new(served.connect_timeout(PATIENCE).await.unwrap());
    let sum: i64 = plain.call("add", (1, 2)).await.unwrap();
    assert_eq!(sum, 3);
    let logged: Vec<String> = plain.call("calc_logged", ()).await.unwrap();
    assert!(logged.is_empty());
    let err = plain.call::<i64, _>("div", (1, 0)).await.unwrap_err();
    let object = err.as_rpc().unwrap();
    assert_eq!((object.code(), object.message()), (42, "divide by zero"));
    assert_eq!(object.data().unwrap().get(), "\"DivideByZero\"");

    // The generated client calls a hand-written router of the same methods.
    let routed = endpoint("svc-router");
    let router = Router::new()
        .method("add", |(a, b): (i64, i64)| async move {
            Ok::<_, ErrorObject>(a + b + 100)
        })
        .method("div", |(_, _): (i64, i64)| async move {
            Err::<i64, _>(
                ErrorObject::new(42, "divide by zero").with_data(&MathError::DivideByZero),
            )
        });
    let listener = routed.bind().await.unwrap();
    tokio::spawn(tower_ipc::serve(listener, JsonRpc::new(), router).into_future());
    let client = CalcClient::new(JsonRpcClient::new(
        routed.connect_timeout(PATIENCE).await.unwrap(),
    ));
    assert_eq!(client.add(1, 2).await.unwrap(), 103);
    assert_eq!(
        client.div(1, 0).await.unwrap(),
        Err(MathError::DivideByZero)
    );
    let err = client.ping().await.unwrap_err();
    assert!(err.is_unknown_method(), "{err}");
}
