//! JSON-RPC in both directions on one connection, over real sockets and
//! named pipes: a client that serves its server's calls, a server whose
//! handlers call and notify the client they serve, in every JSON framing.
//! (Over a child's stdio: `tests/child.rs`.)
#![cfg(feature = "json-rpc")]

mod support;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use serde_json::{Value, json};
use support::{PATIENCE, endpoint, wire::Wire};
use tokio::{io::AsyncWriteExt, time::timeout};
use tower::{Service, ServiceExt};
use tower_ipc::{
    Endpoint, Server,
    codec::{JsonCodec, JsonFraming},
    jsonrpc::{
        CallContext, CallError, ErrorObject, Id, JsonRpc, JsonRpcClient, Message, Request,
        Response, Router, Subscription,
    },
};

/// A server whose `initialize` asks its client for its configuration and
/// logs to it, as a language server does, and whose `ask` calls any method
/// of the client.
fn language_server() -> Router {
    Router::new()
        .method("initialize", |cx: CallContext, (): ()| async move {
            cx.peer()
                .notify(
                    "window/logMessage",
                    [json!({ "type": 3, "message": "starting" })],
                )
                .await
                .map_err(ErrorObject::internal_error)?;
            let settings: Value = cx
                .peer()
                .call("workspace/configuration", [json!({ "section": "demo" })])
                .await
                .map_err(ErrorObject::internal_error)?;
            cx.peer()
                .notify(
                    "window/logMessage",
                    [json!({ "type": 3, "message": "ready" })],
                )
                .await
                .map_err(ErrorObject::internal_error)?;
            Ok::<_, ErrorObject>(json!({ "settings": settings }))
        })
        .method("ask", |cx: CallContext, (method,): (String,)| async move {
            match cx.peer().call::<Value, _>(&method, ()).await {
                Ok(answer) => Ok::<_, ErrorObject>(json!({ "answer": answer })),
                Err(CallError::Rpc(err)) => Ok(json!({ "code": err.code() })),
                Err(err) => Ok(json!({ "failed": err.to_string() })),
            }
        })
}

/// An editor: answers `workspace/configuration` and records the server's
/// log messages in order.
fn editor(log: Arc<Mutex<Vec<String>>>) -> Router {
    Router::new()
        .method("workspace/configuration", |items: Vec<Value>| async move {
            Ok::<_, ErrorObject>(json!([{ "tabSize": 4, "asked": items.len() }]))
        })
        .method("window/logMessage", move |(message,): (Value,)| {
            let log = log.clone();
            async move {
                let text = message["message"].as_str().unwrap_or_default().to_owned();
                log.lock().unwrap().push(text);
                Ok::<_, ErrorObject>(())
            }
        })
}

async fn serve(endpoint: &Endpoint, protocol: JsonRpc, router: Router) {
    let listener = endpoint.bind().await.unwrap();
    tokio::spawn(tower_ipc::serve(listener, protocol, router).into_future());
}

async fn both_ways(framing: JsonFraming) {
    let endpoint = endpoint(&format!("peers-{framing:?}").to_lowercase());
    let codec = JsonCodec::new().framing(framing);
    serve(
        &endpoint,
        JsonRpc::new().codec(codec.clone()),
        language_server(),
    )
    .await;
    let log = Arc::new(Mutex::new(Vec::new()));
    let client = JsonRpcClient::builder()
        .codec(codec)
        .serve(editor(log.clone()))
        .connect(&endpoint)
        .await
        .unwrap();
    let answer: Value = timeout(PATIENCE, client.call("initialize", ()))
        .await
        .expect("answered in time")
        .unwrap();
    assert_eq!(
        answer,
        json!({ "settings": [{ "tabSize": 4, "asked": 1 }] })
    );
    // Notifications are handled in order; the last was written before the
    // answer, but is handled on the client's own task.
    support::eventually("both log messages", || log.lock().unwrap().len() == 2).await;
    assert_eq!(*log.lock().unwrap(), ["starting", "ready"]);
}

#[tokio::test]
async fn a_server_handler_calls_and_notifies_the_client_it_serves_over_the_stream_framing() {
    both_ways(JsonFraming::Stream).await;
}

#[tokio::test]
async fn both_directions_work_over_ndjson() {
    both_ways(JsonFraming::Ndjson).await;
}

#[tokio::test]
async fn both_directions_work_over_content_length_headers() {
    both_ways(JsonFraming::ContentLength).await;
}

#[tokio::test]
async fn a_client_without_a_service_answers_the_servers_calls_with_method_not_found() {
    let endpoint = endpoint("peers-unserved");
    serve(&endpoint, JsonRpc::new(), language_server()).await;
    let client = JsonRpcClient::new(endpoint.connect().await.unwrap());
    let answer: Value = timeout(PATIENCE, client.call("ask", ("editor/anything",)))
        .await
        .expect("answered in time")
        .unwrap();
    assert_eq!(answer, json!({ "code": ErrorObject::METHOD_NOT_FOUND }));

    // A served client answers methods it has no handler for the same way.
    let served = JsonRpcClient::builder()
        .serve(Router::new())
        .connect(&endpoint)
        .await
        .unwrap();
    let answer: Value = served.call("ask", ("editor/anything",)).await.unwrap();
    assert_eq!(answer, json!({ "code": ErrorObject::METHOD_NOT_FOUND }));
}

fn doubling_via_the_client() -> Router {
    Router::new().method(
        "double_via_client",
        |cx: CallContext, (n,): (u64,)| async move {
            let tripled: u64 = cx
                .peer()
                .call("triple", (n,))
                .await
                .map_err(ErrorObject::internal_error)?;
            Ok::<_, ErrorObject>(tripled * 2)
        },
    )
}

/// A client whose `triple` answers later calls sooner: out of order.
async fn tripling_client(endpoint: &Endpoint) -> JsonRpcClient {
    let client_side = Router::new().method("triple", |(n,): (u64,)| async move {
        tokio::time::sleep(Duration::from_millis(50 - n % 50)).await;
        Ok::<_, ErrorObject>(n * 3)
    });
    JsonRpcClient::builder()
        .serve(client_side)
        .connect(endpoint)
        .await
        .unwrap()
}

async fn call_many(client: &JsonRpcClient, n: u64) -> Vec<(u64, Result<u64, CallError>)> {
    let calls = (0..n).map(|n| {
        let client = client.clone();
        async move { (n, client.call::<u64, _>("double_via_client", (n,)).await) }
    });
    timeout(PATIENCE, futures::future::join_all(calls))
        .await
        .expect("every call answered in time")
}

#[tokio::test]
async fn many_calls_both_ways_at_once_are_each_matched() {
    let endpoint = endpoint("peers-many");
    let listener = endpoint.bind().await.unwrap();
    let server = tower_ipc::Server::new().max_in_flight(256);
    tokio::spawn(
        server
            .serve(listener, JsonRpc::new(), doubling_via_the_client())
            .into_future(),
    );
    let client = tripling_client(&endpoint).await;
    for (n, answer) in call_many(&client, 200).await {
        assert_eq!(answer.unwrap(), n * 6, "call {n}");
    }
}

#[tokio::test]
async fn calls_past_the_cap_while_the_server_waits_for_its_peer_are_refused_not_stuck() {
    // Four calls fill the server's cap, each waiting for an answer from
    // the client, behind calls the server must not start: it reads on, to
    // get the answers, and refuses the calls.
    let endpoint = endpoint("peers-cap");
    let listener = endpoint.bind().await.unwrap();
    let server = tower_ipc::Server::new().max_in_flight(4);
    tokio::spawn(
        server
            .serve(listener, JsonRpc::new(), doubling_via_the_client())
            .into_future(),
    );
    let client = tripling_client(&endpoint).await;
    let answers = call_many(&client, 40).await;
    let mut answered = 0;
    for (n, answer) in answers {
        match answer {
            Ok(doubled) => {
                assert_eq!(doubled, n * 6, "call {n}");
                answered += 1;
            }
            Err(CallError::Rpc(err)) => {
                assert_eq!(err.code(), ErrorObject::LIMIT_EXCEEDED, "{err}")
            }
            Err(err) => panic!("call {n}: {err}"),
        }
    }
    assert!(answered >= 4, "only {answered} answered");
}

#[tokio::test]
async fn a_handlers_calls_fail_at_once_when_its_client_goes() {
    let endpoint = endpoint("peers-gone");
    let (started, mut call_started) = tokio::sync::mpsc::channel(1);
    let (done, mut call_done) = tokio::sync::mpsc::channel(1);
    let server = Router::new().method("hang_up_on_me", move |cx: CallContext, (): ()| {
        let (started, done) = (started.clone(), done.clone());
        async move {
            let calling = cx.peer().call::<Value, _>("never_answered", ());
            let _ = started.send(()).await;
            let outcome = calling.await;
            let _ = done.send(outcome.map_err(|err| err.is_closed())).await;
            Ok::<_, ErrorObject>(())
        }
    });
    serve(&endpoint, JsonRpc::new(), server).await;
    let never = Router::new().method("never_answered", |(): ()| async move {
        std::future::pending::<Result<(), ErrorObject>>().await
    });
    let client = JsonRpcClient::builder()
        .serve(never)
        .connect(&endpoint)
        .await
        .unwrap();
    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.call::<(), _>("hang_up_on_me", ()).await }
    });
    timeout(PATIENCE, call_started.recv()).await.unwrap();
    // The client goes: its connection closes.
    pending.abort();
    drop(client);
    let outcome = timeout(PATIENCE, call_done.recv())
        .await
        .expect("the handler's call ended in time");
    assert_eq!(outcome, Some(Err(true)), "the call fails as closed");
}

#[tokio::test]
async fn the_client_as_a_service_answers_with_the_callers_own_ids() {
    let endpoint = endpoint("peers-ids");
    let router = Router::new().method("add", |(a, b): (i64, i64)| async move {
        Ok::<_, ErrorObject>(a + b)
    });
    serve(&endpoint, JsonRpc::new(), router).await;
    let mut client = JsonRpcClient::new(endpoint.connect().await.unwrap());
    for (id, n) in [(Id::from("s-11"), 1), (Id::from(7), 2), (Id::null(), 3)] {
        let request = Request::new("add")
            .with_params(&(n, n))
            .unwrap()
            .with_id(id.clone());
        let answer: Response = client.ready().await.unwrap().call(request).await.unwrap();
        assert_eq!(answer.id(), &id);
        assert_eq!(answer.into_result::<i64>().unwrap(), 2 * n);
    }
}

#[tokio::test]
async fn subscription_ids_that_are_numbers_and_items_sent_before_the_answer_reach_the_stream() {
    // A server written by hand, as parity's `jsonrpc-pubsub` behaves: it
    // numbers subscriptions, and here pushes an item before its answer.
    let endpoint = endpoint("peers-numeric-sub");
    let mut listener = endpoint.bind().await.unwrap();
    let unsubscribed = Arc::new(Mutex::new(None));
    let seen = unsubscribed.clone();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut wire = Wire(tokio_util::codec::Framed::new(
            stream,
            tokio_util::codec::LinesCodec::new(),
        ));
        let subscribe = wire.recv_json().await;
        let id = &subscribe["id"];
        let item = |n: u64| {
            json!({ "jsonrpc": "2.0", "method": "ticks", "params": { "subscription": 7, "result": n } })
                .to_string()
        };
        wire.send(&item(1)).await;
        wire.send(&json!({ "jsonrpc": "2.0", "id": id, "result": 7 }).to_string())
            .await;
        wire.send(&item(2)).await;
        wire.send(&item(3)).await;
        let unsubscribe = wire.recv_json().await;
        *seen.lock().unwrap() = Some(unsubscribe["params"].clone());
        wire.send(
            &json!({ "jsonrpc": "2.0", "id": unsubscribe["id"], "result": true }).to_string(),
        )
        .await;
        // Hold the connection until the client is done with it.
        let _ = wire.is_closed().await;
    });
    let client = JsonRpcClient::new(endpoint.connect_timeout(PATIENCE).await.unwrap());
    let ticks = Subscription::new("ticks_subscribe", "ticks", "ticks_unsubscribe");
    let mut items = client.subscribe::<u64, _>(&ticks, ()).await.unwrap();
    assert_eq!(items.id(), "7");
    let first: Vec<u64> = (&mut items).take(3).map(Result::unwrap).collect().await;
    assert_eq!(first, [1, 2, 3]);
    assert!(items.unsubscribe().await.unwrap());
    assert_eq!(
        *unsubscribed.lock().unwrap(),
        Some(json!([7])),
        "the id goes back as a number"
    );
}

#[test]
fn messages_parse_from_frames_and_serialize_back_as_they_were() {
    for frame in [
        r#"{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]}"#,
        r#"{"jsonrpc":"2.0","method":"window/logMessage","params":{"type":3,"message":"é"}}"#,
        r#"{"jsonrpc":"2.0","id":"x","result":{"a":[1,2]}}"#,
        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#,
        r#"[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]"#,
    ] {
        let message = Message::parse(frame.as_bytes().to_vec()).unwrap();
        assert_eq!(message.to_bytes(), frame, "{message:?}");
    }
    let Message::Notification(log) =
        Message::parse(&br#"{"jsonrpc":"2.0","method":"log","params":["x"]}"#[..]).unwrap()
    else {
        panic!("a notification")
    };
    assert_eq!(log.params().parse::<(String,)>().unwrap().0, "x");
    for (bad, code) in [
        ("{", ErrorObject::PARSE_ERROR),
        ("[]", ErrorObject::INVALID_REQUEST),
        ("42", ErrorObject::INVALID_REQUEST),
        (
            r#"{"jsonrpc":"2.0","result":1}"#,
            ErrorObject::INVALID_REQUEST,
        ),
        (
            r#"[{"jsonrpc":"2.0","id":1,"method":2}]"#,
            ErrorObject::INVALID_REQUEST,
        ),
    ] {
        let err = Message::parse(bad.as_bytes().to_vec()).unwrap_err();
        assert_eq!(err.code(), code, "{bad}: {err}");
    }
}

#[tokio::test]
async fn an_ordered_notifications_handler_calls_the_client_and_is_answered() {
    let endpoint = endpoint("peers-ordered");
    // As a language server's `initialized`: a notification whose handler
    // asks the client for its settings, then tells it what it got.
    let router = Router::new()
        .method("initialized", |cx: CallContext, (): ()| async move {
            let settings: Value = cx
                .peer()
                .call("workspace/configuration", [json!({ "section": "demo" })])
                .await
                .map_err(ErrorObject::internal_error)?;
            let message = json!({ "message": settings.to_string() });
            cx.peer()
                .notify("window/logMessage", [message])
                .await
                .map_err(ErrorObject::internal_error)?;
            Ok::<_, ErrorObject>(())
        })
        .method(
            "initialize",
            |(): ()| async move { Ok::<_, ErrorObject>(1) },
        );
    serve(
        &endpoint,
        JsonRpc::new().ordered_notifications(true),
        router,
    )
    .await;
    let log = Arc::new(Mutex::new(Vec::new()));
    let client = JsonRpcClient::builder()
        .serve(editor(log.clone()))
        .connect(&endpoint)
        .await
        .unwrap();
    let _: Value = client.call("initialize", ()).await.unwrap();
    client.notify("initialized", ()).await.unwrap();
    support::eventually("the log message", || log.lock().unwrap().len() == 1).await;
    assert_eq!(*log.lock().unwrap(), [r#"[{"asked":1,"tabSize":4}]"#]);
}

#[tokio::test(start_paused = true)]
async fn a_queued_notifications_calls_to_a_peer_gone_by_then_fail_and_serving_ends() {
    // The client sends two notifications and leaves. The first handler
    // first asks for its peer once the connection has ended (time moves
    // only when every task is idle), the second after the first: their
    // calls fail at once, instead of waiting for ever on a connection
    // nobody drives, and serving ends once both are handled.
    let asked = Arc::new(Mutex::new(Vec::new()));
    let router = {
        let asked = asked.clone();
        Router::new().method("ask", move |cx: CallContext, (n,): (u64,)| {
            let asked = asked.clone();
            async move {
                if n == 0 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let answer = cx.peer().call::<Value, _>("anything", ()).await;
                asked
                    .lock()
                    .unwrap()
                    .push(answer.map_err(|err| err.is_closed()));
                Ok::<_, ErrorObject>(())
            }
        })
    };
    let (mut client, io) = tokio::io::duplex(64 * 1024);
    let protocol = JsonRpc::new().ordered_notifications(true);
    let serving = tokio::spawn(Server::new().serve_connection(io, protocol, router));
    let notes = concat!(
        r#"{"jsonrpc":"2.0","method":"ask","params":[0]}"#,
        r#"{"jsonrpc":"2.0","method":"ask","params":[1]}"#,
    );
    client.write_all(notes.as_bytes()).await.unwrap();
    client.shutdown().await.unwrap();
    timeout(PATIENCE, serving)
        .await
        .expect("served in time")
        .unwrap()
        .unwrap();
    assert_eq!(*asked.lock().unwrap(), [Err(true), Err(true)]);
}
