//! The JSON-RPC server on the wire, over real sockets and named pipes: exact
//! bytes in, exact bytes out.
#![cfg(feature = "json-rpc")]

mod support;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{SinkExt, StreamExt, stream};
use serde::Deserialize;
use serde_json::{Value, json};
use support::{
    PATIENCE, endpoint,
    wire::{Wire, serve},
};
use tokio::time::timeout;
use tokio_util::codec::{Framed, LinesCodec};
use tower::{BoxError, ServiceBuilder, service_fn};
use tower_ipc::{
    Server,
    codec::JsonCodec,
    jsonrpc::{
        Broadcast, Call, CallContext, ErrorObject, JsonRpc, Overflow, Response, Router,
        Subscription,
    },
};

#[derive(Deserialize)]
struct Transfer {
    to: String,
    amount: u64,
}

fn router() -> Router {
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
            Err::<(), _>(ErrorObject::new(-32099, "it failed").with_data(&json!({"why": "asked"})))
        })
        .method("whoami", |cx: CallContext, (): ()| async move {
            Ok::<_, ErrorObject>(cx.peer_info().pid())
        })
}

#[tokio::test]
async fn request_gets_its_answer_byte_for_byte() {
    let endpoint = endpoint("rpc-exact");
    let server = serve(&endpoint, JsonRpc::new(), router()).await;
    let mut wire = Wire::connect(&endpoint).await;
    wire.send(r#"{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]}"#)
        .await;
    assert_eq!(wire.recv().await, r#"{"jsonrpc":"2.0","id":1,"result":3}"#);
    server.abort();
}

#[tokio::test]
async fn ids_of_every_kind_are_echoed_exactly() {
    let endpoint = endpoint("rpc-ids");
    let server = serve(&endpoint, JsonRpc::new(), router()).await;
    let mut wire = Wire::connect(&endpoint).await;
    for id in [
        "12345678901234567890123456789",
        "-7",
        "1.50",
        "2e3",
        r#""abc""#,
        r#""a\"b\u0041""#,
        "null",
    ] {
        wire.send(&format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"add","params":[2,2]}}"#
        ))
        .await;
        assert_eq!(
            wire.recv().await,
            format!(r#"{{"jsonrpc":"2.0","id":{id},"result":4}}"#)
        );
    }
    server.abort();
}

#[tokio::test]
async fn params_by_name_and_by_position_reach_typed_handlers() {
    let endpoint = endpoint("rpc-params");
    let server = serve(&endpoint, JsonRpc::new(), router()).await;
    let mut wire = Wire::connect(&endpoint).await;
    wire.send(r#"{"jsonrpc":"2.0","id":1,"method":"transfer","params":{"to":"bob","amount":5}}"#)
        .await;
    assert_eq!(wire.recv_json().await["result"], "5 to bob");
    wire.send(r#"{"jsonrpc":"2.0","id":2,"method":"transfer","params":["eve",7]}"#)
        .await;
    assert_eq!(wire.recv_json().await["result"], "7 to eve");
    server.abort();
}

#[tokio::test]
async fn standard_errors_name_what_is_wrong() {
    let endpoint = endpoint("rpc-errors");
    let server = serve(&endpoint, JsonRpc::new(), router()).await;
    let mut wire = Wire::connect(&endpoint).await;

    wire.send(r#"{"jsonrpc":"2.0","id":1,"method":"nope"}"#)
        .await;
    let answer = wire.recv_json().await;
    assert_eq!(answer["id"], 1);
    assert_eq!(answer["error"]["code"], -32601);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`nope`")
    );

    wire.send(r#"{"jsonrpc":"2.0","id":2,"method":"add","params":["x",1]}"#)
        .await;
    let answer = wire.recv_json().await;
    assert_eq!(
        (answer["id"].clone(), answer["error"]["code"].clone()),
        (json!(2), json!(-32602))
    );

    wire.send(r#"{"jsonrpc":"2.0","id":3,"method":"fail"}"#)
        .await;
    assert_eq!(
        wire.recv().await,
        r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32099,"message":"it failed","data":{"why":"asked"}}}"#
    );
    server.abort();
}

#[tokio::test]
async fn malformed_json_gets_a_parse_error_and_the_connection_goes_on() {
    let endpoint = endpoint("rpc-parse");
    let server = serve(&endpoint, JsonRpc::new(), router()).await;
    let mut wire = Wire::connect(&endpoint).await;
    wire.send(r#"{"jsonrpc":"2.0","id":1,"method":}"#).await;
    let answer = wire.recv_json().await;
    assert_eq!(answer["id"], Value::Null);
    assert_eq!(answer["error"]["code"], -32700);
    wire.send(r#"{"jsonrpc":"2.0","id":2,"method":"add","params":[1,1]}"#)
        .await;
    assert_eq!(wire.recv_json().await["result"], 2);
    server.abort();
}

#[tokio::test]
async fn json_that_is_not_a_request_gets_invalid_request() {
    let endpoint = endpoint("rpc-invalid");
    let server = serve(&endpoint, JsonRpc::new(), router()).await;
    let mut wire = Wire::connect(&endpoint).await;
    for (text, id) in [
        ("42", Value::Null),
        (r#"{"foo":1}"#, Value::Null),
        (r#"{"jsonrpc":"1.0","id":3,"method":"add"}"#, json!(3)),
        (r#"{"jsonrpc":"2.0","id":4,"method":5}"#, json!(4)),
        (
            r#"{"jsonrpc":"2.0","id":5,"method":"add","params":7}"#,
            json!(5),
        ),
        (r#"{"jsonrpc":"2.0","id":[1],"method":"add"}"#, Value::Null),
    ] {
        wire.send(text).await;
        let answer = wire.recv_json().await;
        assert_eq!(answer["error"]["code"], -32600, "{text}: {answer}");
        assert_eq!(answer["id"], id, "{text}: {answer}");
    }
    server.abort();
}

#[tokio::test]
async fn oversized_value_gets_an_error_naming_the_limit_and_the_connection_goes_on() {
    let endpoint = endpoint("rpc-oversized");
    let protocol = JsonRpc::new().codec(JsonCodec::new().max_frame_length(1024));
    let server = serve(&endpoint, protocol, router()).await;
    let mut wire = Wire::connect(&endpoint).await;
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"add","params":["{}"]}}"#,
        "x".repeat(4096)
    );
    wire.send(&huge).await;
    let answer = wire.recv_json().await;
    assert_eq!(answer["error"]["code"], -32600);
    // The id comes first, so the answer names it.
    assert_eq!(answer["id"], 1, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1024 bytes"),
        "{answer}"
    );
    wire.send(r#"{"jsonrpc":"2.0","id":2,"method":"add","params":[1,1]}"#)
        .await;
    assert_eq!(wire.recv_json().await["result"], 2);
    server.abort();
}

#[tokio::test]
async fn batches_are_answered_in_order_and_notifications_are_not() {
    let endpoint = endpoint("rpc-batch");
    let server = serve(&endpoint, JsonRpc::new(), router()).await;
    let mut wire = Wire::connect(&endpoint).await;

    wire.send(
        r#"[{"jsonrpc":"2.0","id":1,"method":"sleep","params":[50]},
            {"jsonrpc":"2.0","method":"add","params":[1,1]},
            {"jsonrpc":"2.0","id":2,"method":"add","params":[2,2]},
            {"foo":"bar"},
            {"jsonrpc":"2.0","id":3,"method":"nope"}]"#
            .replace('\n', "")
            .as_str(),
    )
    .await;
    let answer = wire.recv_json().await;
    let answers = answer.as_array().unwrap();
    assert_eq!(answers.len(), 4, "{answer}");
    assert_eq!(answers[0]["result"], 50);
    assert_eq!(answers[1]["result"], 4);
    assert_eq!(answers[2]["error"]["code"], -32600);
    assert_eq!(answers[3]["error"]["code"], -32601);

    wire.send("[]").await;
    let answer = wire.recv_json().await;
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
    assert!(answer.is_object());

    wire.send(r#"[{"jsonrpc":"2.0","method":"add","params":[1,1]},{"jsonrpc":"2.0","method":"add","params":[1,1]}]"#)
        .await;
    wire.send(r#"{"jsonrpc":"2.0","method":"add","params":[1,1]}"#)
        .await;
    assert!(wire.is_quiet().await, "notifications were answered");
    server.abort();
}

#[tokio::test]
async fn answers_leave_in_completion_order() {
    let endpoint = endpoint("rpc-completion");
    let server = serve(&endpoint, JsonRpc::new(), router()).await;
    let mut wire = Wire::connect(&endpoint).await;
    wire.send(r#"{"jsonrpc":"2.0","id":"slow","method":"sleep","params":[300]}"#)
        .await;
    wire.send(r#"{"jsonrpc":"2.0","id":"fast","method":"sleep","params":[1]}"#)
        .await;
    assert_eq!(wire.recv_json().await["id"], "fast");
    assert_eq!(wire.recv_json().await["id"], "slow");
    server.abort();
}

#[tokio::test]
async fn handler_learns_the_callers_process_id() {
    let endpoint = endpoint("rpc-peer");
    let server = serve(&endpoint, JsonRpc::new(), router()).await;
    let mut wire = Wire::connect(&endpoint).await;
    wire.send(r#"{"jsonrpc":"2.0","id":1,"method":"whoami"}"#)
        .await;
    assert_eq!(wire.recv_json().await["result"], std::process::id());
    server.abort();
}

#[tokio::test]
async fn middleware_errors_become_error_answers_for_their_id() {
    let endpoint = endpoint("rpc-middleware");
    let service = ServiceBuilder::new()
        .timeout(Duration::from_millis(100))
        .service(router());
    let server = serve(&endpoint, JsonRpc::new(), service).await;
    let mut wire = Wire::connect(&endpoint).await;
    wire.send(r#"{"jsonrpc":"2.0","id":9,"method":"sleep","params":[2000]}"#)
        .await;
    let answer = wire.recv_json().await;
    assert_eq!(answer["id"], 9);
    assert_eq!(answer["error"]["code"], ErrorObject::TIMEOUT);
    wire.send(r#"{"jsonrpc":"2.0","id":10,"method":"add","params":[1,1]}"#)
        .await;
    assert_eq!(wire.recv_json().await["result"], 2);
    server.abort();

    // Any boxed error is an internal error with its message; an ErrorObject
    // is passed through as it is.
    let endpoint = self::endpoint("rpc-boxed");
    let failing = service_fn(|call: Call| async move {
        match call.method() {
            "object" => Err::<Response, BoxError>(Box::new(ErrorObject::new(-32050, "custom"))),
            _ => Err("disk on fire".into()),
        }
    });
    let server = serve(&endpoint, JsonRpc::new(), failing).await;
    let mut wire = Wire::connect(&endpoint).await;
    wire.send(r#"{"jsonrpc":"2.0","id":1,"method":"boxed"}"#)
        .await;
    let answer = wire.recv_json().await;
    assert_eq!(answer["error"]["code"], -32603);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("disk on fire")
    );
    wire.send(r#"{"jsonrpc":"2.0","id":2,"method":"object"}"#)
        .await;
    assert_eq!(wire.recv_json().await["error"]["code"], -32050);
    server.abort();
}

#[tokio::test]
async fn load_shedding_answers_overloaded() {
    let endpoint = endpoint("rpc-shed");
    let service = ServiceBuilder::new()
        .load_shed()
        .concurrency_limit(1)
        .service(router());
    let server = serve(&endpoint, JsonRpc::new(), service).await;
    let mut wire = Wire::connect(&endpoint).await;
    wire.send(r#"{"jsonrpc":"2.0","id":1,"method":"sleep","params":[300]}"#)
        .await;
    wire.send(r#"{"jsonrpc":"2.0","id":2,"method":"add","params":[1,1]}"#)
        .await;
    let answer = wire.recv_json().await;
    assert_eq!(answer["id"], 2, "{answer}");
    assert_eq!(answer["error"]["code"], ErrorObject::LIMIT_EXCEEDED);
    assert_eq!(wire.recv_json().await["result"], 300);
    // Idle again: a request now is judged by the load now, not shed on what
    // the service said while the slow one ran.
    wire.send(r#"{"jsonrpc":"2.0","id":3,"method":"add","params":[1,1]}"#)
        .await;
    assert_eq!(wire.recv_json().await["result"], 2);
    server.abort();
}

#[tokio::test]
async fn ordered_notifications_are_handled_in_arrival_order() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let router = {
        let seen = seen.clone();
        Router::new().method("note", move |(n,): (u64,)| {
            let seen = seen.clone();
            async move {
                // Later notes are quicker: run concurrently, they would finish reversed.
                tokio::time::sleep(Duration::from_millis(2 * (20 - n))).await;
                seen.lock().unwrap().push(n);
                Ok::<_, ErrorObject>(())
            }
        })
    };
    let endpoint = endpoint("rpc-ordered");
    let server = serve(
        &endpoint,
        JsonRpc::new().ordered_notifications(true),
        router,
    )
    .await;
    let mut wire = Wire::connect(&endpoint).await;
    for n in 0..20 {
        wire.send(&format!(
            r#"{{"jsonrpc":"2.0","method":"note","params":[{n}]}}"#
        ))
        .await;
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while seen.lock().unwrap().len() < 20 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "notifications not handled"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*seen.lock().unwrap(), (0..20).collect::<Vec<_>>());
    server.abort();
}

#[tokio::test]
async fn ordered_notifications_hold_back_the_requests_read_after_them() {
    // A language server's `didChange`, then a hover: the hover must see the
    // change, however slow its handling.
    let text = Arc::new(Mutex::new(String::from("old")));
    let router = {
        let (set, get) = (text.clone(), text.clone());
        Router::new()
            .method("didChange", move |(new,): (String,)| {
                let text = set.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    *text.lock().unwrap() = new;
                    Ok::<_, ErrorObject>(())
                }
            })
            .method("hover", move |(): ()| {
                let text = get.clone();
                async move { Ok::<_, ErrorObject>(text.lock().unwrap().clone()) }
            })
    };
    let endpoint = endpoint("rpc-ordered-barrier");
    let server = serve(
        &endpoint,
        JsonRpc::new().ordered_notifications(true),
        router,
    )
    .await;
    let mut wire = Wire::connect(&endpoint).await;
    // Nothing before it: a request is answered at once.
    wire.send(r#"{"jsonrpc":"2.0","id":1,"method":"hover"}"#)
        .await;
    assert_eq!(wire.recv_json().await["result"], "old");
    for (n, new) in ["one", "two", "three"].iter().enumerate() {
        wire.send(&format!(
            r#"{{"jsonrpc":"2.0","method":"didChange","params":["{new}"]}}"#
        ))
        .await;
        wire.send(&format!(
            r#"{{"jsonrpc":"2.0","id":{},"method":"hover"}}"#,
            n + 2
        ))
        .await;
    }
    for (n, new) in ["one", "two", "three"].iter().enumerate() {
        let answer = wire.recv_json().await;
        assert_eq!(answer["id"], n + 2, "{answer}");
        assert_eq!(answer["result"], *new, "{answer}");
    }
    // In one batch too: the request after the notification waits for it.
    wire.send(
        r#"[{"jsonrpc":"2.0","method":"didChange","params":["four"]},{"jsonrpc":"2.0","id":5,"method":"hover"}]"#,
    )
    .await;
    let answer = wire.recv_json().await;
    assert_eq!(answer[0]["result"], "four", "{answer}");
    server.abort();
}

#[tokio::test]
async fn serve_connection_ends_after_the_notifications_it_read_are_handled() {
    // A child serving on its stdio exits when `serve_connection` returns:
    // notifications it read before its input ended must be handled by then.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let router = {
        let seen = seen.clone();
        Router::new().method("note", move |(n,): (u64,)| {
            let seen = seen.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                seen.lock().unwrap().push(n);
                Ok::<_, ErrorObject>(())
            }
        })
    };
    let (mut client, io) = tokio::io::duplex(64 * 1024);
    let protocol = JsonRpc::new().ordered_notifications(true);
    let serving = tokio::spawn(Server::new().serve_connection(io, protocol, router));
    for n in 0..5 {
        let note = format!(r#"{{"jsonrpc":"2.0","method":"note","params":[{n}]}}"#);
        tokio::io::AsyncWriteExt::write_all(&mut client, note.as_bytes())
            .await
            .unwrap();
    }
    tokio::io::AsyncWriteExt::shutdown(&mut client)
        .await
        .unwrap();
    timeout(PATIENCE, serving)
        .await
        .expect("served in time")
        .unwrap()
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), [0, 1, 2, 3, 4]);
}

fn counting_router(subscription: Subscription, count: u64) -> Router {
    Router::new().subscription(subscription, move |(from,): (u64,)| async move {
        Ok::<_, ErrorObject>(stream::iter(from..from + count))
    })
}

#[tokio::test]
async fn subscription_answers_its_id_then_pushes_items_until_unsubscribed() {
    let endpoint = endpoint("rpc-sub");
    let ticks = Subscription::new("tick_subscribe", "tick", "tick_unsubscribe");
    let router = Router::new().subscription(ticks, |(): ()| async move {
        let ticks = stream::unfold(0u64, |n| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Some((n, n + 1))
        });
        Ok::<_, ErrorObject>(ticks)
    });
    let server = serve(&endpoint, JsonRpc::new(), router).await;
    let mut wire = Wire::connect(&endpoint).await;
    wire.send(r#"{"jsonrpc":"2.0","id":1,"method":"tick_subscribe"}"#)
        .await;
    let answer = wire.recv_json().await;
    let id = answer["result"]
        .as_str()
        .expect("a subscription id")
        .to_owned();
    for n in 0..3 {
        let item = wire.recv_json().await;
        assert_eq!(item["method"], "tick");
        assert_eq!(item["params"]["subscription"], id.as_str());
        assert_eq!(item["params"]["result"], n);
    }
    wire.send(&format!(
        r#"{{"jsonrpc":"2.0","id":2,"method":"tick_unsubscribe","params":["{id}"]}}"#
    ))
    .await;
    // Items may be in flight until the unsubscribe answer; none after it.
    loop {
        let message = wire.recv_json().await;
        if message["id"] == 2 {
            assert_eq!(message["result"], true);
            break;
        }
    }
    assert!(wire.is_quiet().await, "items after unsubscribe");
    wire.send(&format!(
        r#"{{"jsonrpc":"2.0","id":3,"method":"tick_unsubscribe","params":["{id}"]}}"#
    ))
    .await;
    assert_eq!(wire.recv_json().await["result"], false);
    server.abort();
}

#[tokio::test]
async fn slow_reader_ends_a_close_on_overflow_subscription_with_an_error() {
    let endpoint = endpoint("rpc-overflow-close");
    let subscription = Subscription::new("sub", "item", "unsub").buffer(4);
    let server = serve(
        &endpoint,
        JsonRpc::new(),
        counting_router(subscription, 1_000_000),
    )
    .await;
    let mut wire = Wire::connect(&endpoint).await;
    wire.send(r#"{"jsonrpc":"2.0","id":1,"method":"sub","params":[0]}"#)
        .await;
    // Do not read for a while: the socket fills, then the buffer overflows.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut items = 0u64;
    loop {
        let message = wire.recv_json().await;
        if message.get("id").is_some() {
            continue;
        }
        if let Some(error) = message["params"].get("error") {
            assert_eq!(error["code"], ErrorObject::LIMIT_EXCEEDED, "{message}");
            break;
        }
        // No item is skipped before the end.
        assert_eq!(message["params"]["result"], items);
        items += 1;
    }
    assert!(items < 1_000_000);
    assert!(wire.is_quiet().await);
    server.abort();
}

#[tokio::test]
async fn slow_reader_loses_the_oldest_items_of_a_drop_oldest_subscription() {
    let endpoint = endpoint("rpc-overflow-drop");
    let subscription = Subscription::new("sub", "item", "unsub")
        .buffer(4)
        .overflow(Overflow::DropOldest);
    let server = serve(
        &endpoint,
        JsonRpc::new(),
        counting_router(subscription, 200_000),
    )
    .await;
    let mut wire = Wire::connect(&endpoint).await;
    wire.send(r#"{"jsonrpc":"2.0","id":1,"method":"sub","params":[0]}"#)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut expected = 0;
    let mut gaps = 0;
    loop {
        let message = wire.recv_json().await;
        if message.get("id").is_some() {
            continue;
        }
        assert!(message["params"].get("error").is_none(), "{message}");
        let n = message["params"]["result"].as_u64().unwrap();
        if n != expected {
            gaps += 1;
        }
        expected = n + 1;
        if n == 199_999 {
            break;
        }
    }
    assert!(gaps > 0, "nothing was dropped");
    server.abort();
}

#[tokio::test]
async fn subscriptions_end_when_their_connection_closes() {
    let dropped = Arc::new(Mutex::new(false));
    struct OnDrop(Arc<Mutex<bool>>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = true;
        }
    }
    let router = {
        let dropped = dropped.clone();
        Router::new().subscription(Subscription::new("sub", "item", "unsub"), move |(): ()| {
            let guard = OnDrop(dropped.clone());
            async move {
                let forever = stream::pending::<u64>().map(move |n| {
                    let _ = &guard;
                    n
                });
                Ok::<_, ErrorObject>(forever)
            }
        })
    };
    let endpoint = endpoint("rpc-sub-cleanup");
    let server = serve(&endpoint, JsonRpc::new(), router).await;
    let mut wire = Wire::connect(&endpoint).await;
    wire.send(r#"{"jsonrpc":"2.0","id":1,"method":"sub"}"#)
        .await;
    assert!(wire.recv_json().await["result"].is_string());
    assert!(!*dropped.lock().unwrap());
    drop(wire);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !*dropped.lock().unwrap() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "subscription outlived its connection"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.abort();
}

#[tokio::test]
async fn serve_connection_speaks_json_rpc_on_an_open_stream() {
    let (ours, theirs) = tokio::io::duplex(4096);
    let served = tokio::spawn(Server::new().serve_connection(theirs, JsonRpc::new(), router()));
    let mut wire = Framed::new(ours, LinesCodec::new());
    wire.send(r#"{"jsonrpc":"2.0","id":1,"method":"add","params":[20,22]}"#)
        .await
        .unwrap();
    let answer = wire.next().await.unwrap().unwrap();
    assert_eq!(answer, r#"{"jsonrpc":"2.0","id":1,"result":42}"#);
    drop(wire);
    timeout(PATIENCE, served).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn a_refused_peer_gets_unauthorized_answers_and_keeps_its_connection() {
    use tower_ipc::server::authorize::PeerPolicy;

    let endpoint = endpoint("rpc-refused");
    let nobody = JsonRpc::new().authorize(PeerPolicy::predicate(|_| false));
    let server = serve(&endpoint, nobody, router()).await;
    let mut wire = Wire::connect(&endpoint).await;
    for id in 1..=2 {
        wire.send(&format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"add","params":[1,1]}}"#
        ))
        .await;
        let answer = wire.recv_json().await;
        assert_eq!(answer["id"], id);
        assert_eq!(
            answer["error"]["code"],
            ErrorObject::UNAUTHORIZED,
            "{answer}"
        );
    }
    server.abort();

    let endpoint = self::endpoint("rpc-allowed");
    let me = std::process::id();
    let only_me =
        JsonRpc::new().authorize(PeerPolicy::predicate(move |peer| peer.pid() == Some(me)));
    let server = serve(&endpoint, only_me, router()).await;
    let mut wire = Wire::connect(&endpoint).await;
    wire.send(r#"{"jsonrpc":"2.0","id":1,"method":"add","params":[1,1]}"#)
        .await;
    assert_eq!(wire.recv_json().await["result"], 2);
    server.abort();
}

/// `eth_subscribe` fed from one broadcast channel of application events:
/// `newHeads` and `logs` (with an address filter) are kinds of one method.
fn events_router(events: &tokio::sync::broadcast::Sender<Event>, overflow: Overflow) -> Router {
    let events = events.clone();
    Router::new().subscription(
        Subscription::new("eth_subscribe", "eth_subscription", "eth_unsubscribe")
            .overflow(overflow),
        move |(kind, filter): (String, Option<Value>)| {
            let feed = Broadcast::new(events.subscribe());
            async move {
                let address = filter.and_then(|f| f["address"].as_str().map(str::to_owned));
                match kind.as_str() {
                    "newHeads" => Ok(feed.filter_map(|event| match event {
                        Event::Head(number) => Some(json!({ "number": number })),
                        Event::Log { .. } => None,
                    })),
                    "logs" => Ok(feed.filter_map(move |event| match event {
                        Event::Log {
                            address: from,
                            data,
                        } if address.as_deref().is_none_or(|a| a == from) => {
                            Some(json!({ "address": from, "data": data }))
                        }
                        _ => None,
                    })),
                    _ => Err(ErrorObject::invalid_params(format!(
                        "no such subscription: {kind}"
                    ))),
                }
            }
        },
    )
}

#[derive(Clone, Debug)]
enum Event {
    Head(u64),
    Log { address: &'static str, data: u64 },
}

async fn subscribe(wire: &mut Wire, id: u64, params: &str) -> Value {
    wire.send(&format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"eth_subscribe","params":{params}}}"#
    ))
    .await;
    let answer = wire.recv_json().await;
    assert_eq!(answer["id"], id, "{answer}");
    answer["result"].clone()
}

#[tokio::test]
async fn one_subscribe_method_serves_several_kinds_from_application_events() {
    let endpoint = endpoint("rpc-kinds");
    let (events, _) = tokio::sync::broadcast::channel(64);
    let server = serve(
        &endpoint,
        JsonRpc::new(),
        events_router(&events, Overflow::Close),
    )
    .await;
    let (mut heads, mut logs) = (
        Wire::connect(&endpoint).await,
        Wire::connect(&endpoint).await,
    );
    let heads_id = subscribe(&mut heads, 1, r#"["newHeads"]"#).await;
    let logs_id = subscribe(&mut logs, 2, r#"["logs",{"address":"0xa"}]"#).await;
    logs.send(r#"{"jsonrpc":"2.0","id":3,"method":"eth_subscribe","params":["pending"]}"#)
        .await;
    assert_eq!(
        logs.recv_json().await["error"]["message"],
        "Invalid params: no such subscription: pending"
    );
    for event in [
        Event::Head(1),
        Event::Log {
            address: "0xb",
            data: 7,
        },
        Event::Log {
            address: "0xa",
            data: 8,
        },
        Event::Head(2),
    ] {
        events.send(event).unwrap();
    }
    for number in [1, 2] {
        let item = heads.recv_json().await;
        assert_eq!(item["params"]["subscription"], heads_id);
        assert_eq!(item["params"]["result"], json!({ "number": number }));
    }
    let item = logs.recv_json().await;
    assert_eq!(item["params"]["subscription"], logs_id);
    assert_eq!(
        item["params"]["result"],
        json!({ "address": "0xa", "data": 8 })
    );
    assert!(logs.is_quiet().await, "a log of another address");
    server.abort();
}

#[tokio::test]
async fn a_broadcast_subscriber_that_lags_is_ended_by_the_close_policy() {
    let endpoint = endpoint("rpc-lag-close");
    let (events, _) = tokio::sync::broadcast::channel(4);
    let server = serve(
        &endpoint,
        JsonRpc::new(),
        events_router(&events, Overflow::Close),
    )
    .await;
    let mut wire = Wire::connect(&endpoint).await;
    let id = subscribe(&mut wire, 1, r#"["newHeads"]"#).await;
    // One thread: the subscription cannot read while these are sent, and
    // falls 96 events behind a channel that holds 4.
    for number in 0..100 {
        events.send(Event::Head(number)).unwrap();
    }
    let last = wire.recv_json().await;
    assert_eq!(last["params"]["subscription"], id);
    assert_eq!(
        last["params"]["error"]["code"],
        ErrorObject::LIMIT_EXCEEDED,
        "{last}"
    );
    assert_eq!(
        last["params"]["error"]["message"],
        "subscription ended: the peer fell behind and 96 items were lost"
    );
    assert!(wire.is_quiet().await, "items after the end");
    server.abort();
}

#[tokio::test]
async fn a_broadcast_subscriber_that_lags_gets_the_newest_under_drop_oldest() {
    let endpoint = endpoint("rpc-lag-drop");
    let (events, _) = tokio::sync::broadcast::channel(4);
    let router = events_router(&events, Overflow::DropOldest);
    let server = serve(&endpoint, JsonRpc::new(), router).await;
    let mut wire = Wire::connect(&endpoint).await;
    subscribe(&mut wire, 1, r#"["newHeads"]"#).await;
    for number in 0..100 {
        events.send(Event::Head(number)).unwrap();
    }
    for number in 96..100 {
        assert_eq!(
            wire.recv_json().await["params"]["result"],
            json!({ "number": number })
        );
    }
    events.send(Event::Head(100)).unwrap();
    assert_eq!(wire.recv_json().await["params"]["result"]["number"], 100);
    server.abort();
}
