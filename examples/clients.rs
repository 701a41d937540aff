//! Writing clients. A client is a `tower::Service`: `ready()` waits until it
//! can take a request, `call` sends it, and the future is the answer; so
//! everything tower offers (`oneshot`, `call_all`, `ServiceBuilder` layers)
//! works on it.
//!
//! ```text
//! cargo run --example clients     # about a second, then exits
//! ```
//!
//! It starts two servers in this process, on real sockets or named pipes (a
//! length-prefixed echo, and a JSON-RPC router), and shows:
//!
//! 1. **raw frames**: `Client` over `Framed<IpcStream, LengthPrefixed>`;
//!    `ready().await?.call(..)`, clones pipelining on one connection,
//!    `oneshot`, and `call_all` over a stream of requests;
//! 2. **JSON-RPC, typed**: `JsonRpcClient::call` with params by position and
//!    by name, an error answer, `notify`, `batch`, and `subscribe`;
//! 3. **JSON-RPC as a `tower::Service<Request>`**, inside a `ServiceBuilder`
//!    stack with a timeout and a concurrency limit.
//!
//! Every answer is checked; the example panics if one is wrong.

use std::{convert::Infallible, process::ExitCode, time::Duration};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, future::join_all, stream};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::codec::Framed;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};
use tower_ipc::{
    Client, Endpoint,
    codec::LengthPrefixed,
    jsonrpc::{CallError, ErrorObject, Id, JsonRpc, JsonRpcClient, Request, Router, Subscription},
};

#[tokio::main]
async fn main() -> ExitCode {
    // Errors as their messages say them, not as `Debug` shows their insides.
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), BoxError> {
    raw().await?;
    json_rpc().await?;
    Ok(())
}

/// 1. Raw frames: the bytes sent are the bytes the service gets.
async fn raw() -> Result<(), BoxError> {
    let listener = private_endpoint("raw").bind().await?;
    let endpoint = listener.endpoint().clone();
    let echo = service_fn(|frame: Bytes| async move { Ok::<_, Infallible>(frame) });
    tokio::spawn(tower_ipc::serve(listener, LengthPrefixed::new(), echo).into_future());

    let stream = endpoint.connect_timeout(Duration::from_secs(5)).await?;
    let mut client: Client<Bytes, Bytes> = Client::new(Framed::new(stream, LengthPrefixed::new()));

    // One call: wait until the client has room, then send.
    let answer = client.ready().await?.call(Bytes::from("ping")).await?;
    assert_eq!(answer, "ping");

    // Clones share the connection; their calls are pipelined on it and each
    // gets its own answer.
    let calls = (0..10).map(|n| {
        let client = client.clone();
        async move { client.oneshot(Bytes::from(format!("call {n}"))).await }
    });
    for (n, answer) in join_all(calls).await.into_iter().enumerate() {
        assert_eq!(answer?, format!("call {n}"));
    }

    // A stream of requests in, a stream of answers out, in order.
    let requests = stream::iter((0..100).map(|n: u32| Bytes::copy_from_slice(&n.to_be_bytes())));
    let answers: Vec<Bytes> = client.clone().call_all(requests).try_collect().await?;
    assert!(
        answers
            .iter()
            .enumerate()
            .all(|(n, answer)| answer[..] == (n as u32).to_be_bytes())
    );
    println!("raw: 1 call, 10 pipelined from clones, 100 through call_all: all echoed");
    Ok(())
}

/// `transfer`'s params: by name (`{"to": .., "amount": ..}`) or by position.
#[derive(Debug, Serialize, Deserialize)]
struct Transfer {
    to: String,
    amount: u64,
}

/// 2 and 3. JSON-RPC: typed calls, notifications, batches, subscriptions,
/// and the client as a `tower::Service`.
async fn json_rpc() -> Result<(), BoxError> {
    let (logged, mut log) = mpsc::unbounded_channel();
    let router = Router::new()
        .method("add", |(a, b): (i64, i64)| async move {
            Ok::<_, ErrorObject>(a + b)
        })
        .method("transfer", |t: Transfer| async move {
            if t.amount == 0 {
                return Err(ErrorObject::invalid_params("amount must be positive"));
            }
            Ok(format!("sent {} to {}", t.amount, t.to))
        })
        .method("log", move |(line,): (String,)| {
            let logged = logged.clone();
            async move {
                let _ = logged.send(line);
                Ok::<_, ErrorObject>(())
            }
        })
        .subscription(
            Subscription::new("count_subscribe", "count", "count_unsubscribe"),
            |(to,): (u64,)| async move { Ok::<_, ErrorObject>(stream::iter(1..=to)) },
        );
    let listener = private_endpoint("rpc").bind().await?;
    let endpoint = listener.endpoint().clone();
    tokio::spawn(tower_ipc::serve(listener, JsonRpc::new(), router).into_future());

    let client = JsonRpcClient::new(endpoint.connect_timeout(Duration::from_secs(5)).await?);

    // Typed calls: params are anything serde serializes to an array (by
    // position) or an object (by name); the result parses into any type.
    let sum: i64 = client.call("add", (2, 3)).await?;
    assert_eq!(sum, 5);
    let sent: String = client
        .call(
            "transfer",
            Transfer {
                to: "alice".into(),
                amount: 5,
            },
        )
        .await?;
    assert_eq!(sent, "sent 5 to alice");

    // An error answer is `CallError::Rpc`, with the server's error object.
    let refused = client
        .call::<String, _>(
            "transfer",
            Transfer {
                to: "bob".into(),
                amount: 0,
            },
        )
        .await;
    let Err(CallError::Rpc(error)) = refused else {
        panic!("expected an error answer, got {refused:?}");
    };
    assert_eq!(error.code(), ErrorObject::INVALID_PARAMS);
    println!("json-rpc: add = {sum}, transfer = {sent:?}, refused: {error}");

    // A notification is sent and not answered.
    client.notify("log", ("hello from a notification",)).await?;
    assert_eq!(
        log.recv().await.as_deref(),
        Some("hello from a notification")
    );

    // A batch: one message, the answers in the order of the requests.
    let batch = [
        Request::new("add")
            .with_params(&(1, 1))?
            .with_id(Id::from(1)),
        Request::new("add")
            .with_params(&(2, 2))?
            .with_id(Id::from(2)),
        Request::new("log").with_params(&("a notification in a batch",))?,
    ];
    let answers = client.batch(batch).await?;
    let sums: Vec<i64> = answers
        .into_iter()
        .map(|answer| answer.into_result())
        .collect::<Result<_, _>>()?;
    assert_eq!(sums, [2, 4]);
    println!("json-rpc: notify delivered; batch answered {sums:?}");

    // A subscription: its items arrive on a stream; dropping the stream
    // unsubscribes, or `unsubscribe` waits for the server to confirm.
    let subscription = Subscription::new("count_subscribe", "count", "count_unsubscribe");
    let mut counts = client.subscribe::<u64, _>(&subscription, (3,)).await?;
    let mut items = Vec::new();
    while let Some(item) = counts.next().await {
        items.push(item?);
        if items.len() == 3 {
            break;
        }
    }
    assert_eq!(items, [1, 2, 3]);
    let id = counts.id().to_owned();
    counts.unsubscribe().await?;
    println!("json-rpc: subscription {id} sent {items:?}");

    // 3. The client is a tower::Service<Request, Response = Response>, so
    // layers wrap it: a timeout per call, at most 4 calls in flight.
    let service = ServiceBuilder::new()
        .timeout(Duration::from_secs(2))
        .concurrency_limit(4)
        .service(client.clone());
    let calls = (0..20).map(|n: i64| {
        let service = service.clone();
        async move {
            let request = Request::new("add")
                .with_params(&(n, n))?
                .with_id(Id::from(0));
            let answer = service.oneshot(request).await?;
            Ok::<i64, BoxError>(answer.into_result()?)
        }
    });
    let doubled = join_all(calls)
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    assert_eq!(doubled, (0..20).map(|n| 2 * n).collect::<Vec<_>>());
    println!(
        "json-rpc: 20 calls through ServiceBuilder (timeout, concurrency limit 4): all answered"
    );
    Ok(())
}

/// An endpoint of this process alone, so runs side by side do not collide.
fn private_endpoint(what: &str) -> Endpoint {
    Endpoint::new(format!("tower-ipc-clients-{what}-{}", std::process::id()))
}
