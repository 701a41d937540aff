//! What real JSON-RPC clients send and expect, over real sockets and pipes:
//! "no params" in every form, optional trailing params, subscription ids as
//! quantities, answers over the size limit, bounded error traffic, and error
//! messages in the caller's terms.
#![cfg(feature = "json-rpc")]

mod support;

use futures::{StreamExt as _, stream};
use serde_json::{Value, json};
use support::{
    endpoint,
    wire::{Wire, serve},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_ipc::jsonrpc::{ErrorObject, JsonRpc, Router, Subscription};

fn geth_like() -> Router {
    Router::new()
        .method("eth_chainId", |(): ()| async move {
            Ok::<_, ErrorObject>("0x1")
        })
        .method(
            "eth_getBalance",
            |(address, block): (String, Option<String>)| async move {
                Ok::<_, ErrorObject>(format!(
                    "{address}@{}",
                    block.as_deref().unwrap_or("latest")
                ))
            },
        )
        .method("add", |(a, b): (i64, i64)| async move {
            Ok::<_, ErrorObject>(a + b)
        })
        .method("blob", |(len,): (usize,)| async move {
            Ok::<_, ErrorObject>("x".repeat(len))
        })
        .subscription(
            Subscription::new("eth_subscribe", "eth_subscription", "eth_unsubscribe"),
            |(kind,): (String,)| async move {
                Ok::<_, ErrorObject>(stream::iter([kind]).chain(stream::pending()))
            },
        )
}

fn message(answer: &Value) -> &str {
    answer["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_method_without_params_accepts_every_way_clients_send_none() {
    let endpoint = endpoint("tolerance-none");
    let server = serve(&endpoint, JsonRpc::new(), geth_like()).await;
    let mut wire = Wire::connect(&endpoint).await;
    // web3.py and ethers send [], alloy null, others nothing or {}.
    for (id, params) in [
        (1, r#","params":[]"#),
        (2, r#","params":null"#),
        (3, ""),
        (4, r#","params":{}"#),
        (5, r#","params":[ ]"#),
    ] {
        wire.send(&format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"eth_chainId"{params}}}"#
        ))
        .await;
        assert_eq!(
            wire.recv().await,
            format!(r#"{{"jsonrpc":"2.0","id":{id},"result":"0x1"}}"#),
            "params {params:?}"
        );
    }
    wire.send(r#"{"jsonrpc":"2.0","id":6,"method":"eth_chainId","params":[1]}"#)
        .await;
    let answer = wire.recv_json().await;
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    assert_eq!(
        message(&answer),
        "Invalid params: this method takes no params, but some were given"
    );
    server.abort();
}

#[tokio::test]
async fn optional_trailing_params_may_be_left_out() {
    let endpoint = endpoint("tolerance-optional");
    let server = serve(&endpoint, JsonRpc::new(), geth_like()).await;
    let mut wire = Wire::connect(&endpoint).await;
    wire.send(r#"{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0xab"]}"#)
        .await;
    assert_eq!(wire.recv_json().await["result"], "0xab@latest");
    wire.send(r#"{"jsonrpc":"2.0","id":2,"method":"eth_getBalance","params":["0xab","0x10"]}"#)
        .await;
    assert_eq!(wire.recv_json().await["result"], "0xab@0x10");
    wire.send(r#"{"jsonrpc":"2.0","id":3,"method":"eth_getBalance","params":[]}"#)
        .await;
    let answer = wire.recv_json().await;
    assert_eq!(
        message(&answer),
        "Invalid params: at index 0: missing (expected 2 params, got 0)"
    );
    server.abort();
}

#[tokio::test]
async fn subscription_ids_are_quantities_and_unsubscribe_matches_them_as_numbers() {
    let endpoint = endpoint("tolerance-subids");
    let server = serve(&endpoint, JsonRpc::new(), geth_like()).await;
    let mut wire = Wire::connect(&endpoint).await;
    for n in 0..200 {
        wire.send(&format!(
            r#"{{"jsonrpc":"2.0","id":{n},"method":"eth_subscribe","params":["newHeads"]}}"#
        ))
        .await;
        let id = wire.recv_json().await["result"]
            .as_str()
            .expect("a subscription id")
            .to_owned();
        let digits = id.strip_prefix("0x").expect("hex");
        assert!(
            !digits.starts_with('0')
                && (1..=32).contains(&digits.len())
                && digits
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{id} is not a quantity"
        );
        let item = wire.recv_json().await;
        assert_eq!(item["params"]["subscription"], id.as_str());
        // As a client that parsed the id as a number may send it back:
        // every other time with leading zeros, in capitals.
        let back = if n % 2 == 0 {
            id.clone()
        } else {
            format!("0x00{}", digits.to_uppercase())
        };
        wire.send(&format!(
            r#"{{"jsonrpc":"2.0","id":"u{n}","method":"eth_unsubscribe","params":["{back}"]}}"#
        ))
        .await;
        let answer = wire.recv_json().await;
        assert_eq!(
            answer["result"], true,
            "unsubscribe {back} of {id}: {answer}"
        );
    }
    wire.send(r#"{"jsonrpc":"2.0","id":"x","method":"eth_unsubscribe","params":["0x1"]}"#)
        .await;
    assert_eq!(wire.recv_json().await["result"], false);
    server.abort();
}

#[tokio::test]
async fn an_answer_over_the_limit_gets_an_error_for_its_id_and_the_connection_goes_on() {
    let endpoint = endpoint("tolerance-big-answer");
    let protocol = JsonRpc::new().max_response_size(1024);
    let server = serve(&endpoint, protocol, geth_like()).await;
    let mut wire = Wire::connect(&endpoint).await;

    wire.send(r#"{"jsonrpc":"2.0","id":1,"method":"blob","params":[2000]}"#)
        .await;
    let answer = wire.recv_json().await;
    assert_eq!(answer["id"], 1);
    assert_eq!(answer["error"]["code"], ErrorObject::RESPONSE_TOO_LARGE);
    assert_eq!(
        message(&answer),
        "Response too large: 2036 bytes exceed the limit of 1024"
    );

    // The id is part of the answer: a long one is echoed in the error too.
    let long_id = format!("\"{}\"", "i".repeat(2000));
    wire.send(&format!(
        r#"{{"jsonrpc":"2.0","id":{long_id},"method":"blob","params":[1]}}"#
    ))
    .await;
    let answer = wire.recv_json().await;
    assert_eq!(answer["id"].as_str().map(str::len), Some(2000));
    assert_eq!(answer["error"]["code"], ErrorObject::RESPONSE_TOO_LARGE);

    // In a batch, only the answer that does not fit is replaced.
    wire.send(
        r#"[{"jsonrpc":"2.0","id":2,"method":"blob","params":[900]},
            {"jsonrpc":"2.0","id":3,"method":"add","params":[1,2]},
            {"jsonrpc":"2.0","id":4,"method":"blob","params":[100]}]"#
            .replace('\n', "")
            .as_str(),
    )
    .await;
    let answers = wire.recv_json().await;
    assert_eq!(answers[0]["id"], 2);
    assert_eq!(answers[0]["error"]["code"], ErrorObject::RESPONSE_TOO_LARGE);
    assert_eq!(answers[1], json!({"jsonrpc": "2.0", "id": 3, "result": 3}));
    assert_eq!(answers[2]["result"].as_str().map(str::len), Some(100));

    wire.send(r#"{"jsonrpc":"2.0","id":5,"method":"add","params":[2,2]}"#)
        .await;
    assert_eq!(wire.recv_json().await["result"], 4);
    server.abort();
}

#[tokio::test]
async fn requests_and_answers_have_separate_limits() {
    let endpoint = endpoint("tolerance-limits");
    let protocol = JsonRpc::new()
        .max_request_size(512)
        .max_response_size(64 * 1024);
    let server = serve(&endpoint, protocol, geth_like()).await;
    let mut wire = Wire::connect(&endpoint).await;
    // A small request may have a large answer ...
    wire.send(r#"{"jsonrpc":"2.0","id":1,"method":"blob","params":[50000]}"#)
        .await;
    assert_eq!(
        wire.recv_json().await["result"].as_str().map(str::len),
        Some(50_000)
    );
    // ... but a large request is refused.
    wire.send(&format!(
        r#"{{"jsonrpc":"2.0","id":2,"method":"add","params":["{}"]}}"#,
        "y".repeat(600)
    ))
    .await;
    let answer = wire.recv_json().await;
    assert_eq!(
        (answer["id"].clone(), answer["error"]["code"].clone()),
        (json!(2), json!(-32600))
    );
    server.abort();
}

#[tokio::test]
async fn a_subscription_item_over_the_limit_ends_the_subscription_with_an_error() {
    let endpoint = endpoint("tolerance-big-item");
    let router = Router::new().subscription(
        Subscription::new("big_subscribe", "big", "big_unsubscribe"),
        |(len,): (usize,)| async move {
            Ok::<_, ErrorObject>(stream::iter(["small".to_owned(), "z".repeat(len)]))
        },
    );
    let server = serve(&endpoint, JsonRpc::new().max_response_size(1024), router).await;
    let mut wire = Wire::connect(&endpoint).await;
    wire.send(r#"{"jsonrpc":"2.0","id":1,"method":"big_subscribe","params":[4000]}"#)
        .await;
    let id = wire.recv_json().await["result"].clone();
    assert_eq!(wire.recv_json().await["params"]["result"], "small");
    let last = wire.recv_json().await;
    assert_eq!(last["params"]["subscription"], id);
    assert_eq!(
        last["params"]["error"]["code"],
        ErrorObject::RESPONSE_TOO_LARGE,
        "{last}"
    );
    assert!(
        message(&last["params"]).contains("exceeds the limit of 1024"),
        "{last}"
    );
    server.abort();
}

#[tokio::test]
async fn close_on_parse_error_answers_once_and_closes_as_geth_does() {
    let endpoint = endpoint("tolerance-geth-close");
    let server = serve(
        &endpoint,
        JsonRpc::new().close_on_parse_error(true),
        geth_like(),
    )
    .await;
    let mut wire = Wire::connect(&endpoint).await;
    wire.send(r#"{"jsonrpc":"2.0","id":1,"method":"add","params":[1,1]}"#)
        .await;
    assert_eq!(wire.recv_json().await["result"], 2);
    // Not JSON, then a valid request that must not be served.
    wire.send_raw(b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":}\n{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"add\",\"params\":[1,1]}\n")
        .await;
    let answer = wire.recv_json().await;
    assert_eq!(answer["error"]["code"], -32700, "{answer}");
    assert!(message(&answer).ends_with("closing the connection: the message is not JSON"));
    assert!(wire.is_closed().await, "the connection stays open");

    // An invalid request that is JSON is answered, and the connection lives.
    let mut wire = Wire::connect(&endpoint).await;
    wire.send(r#"{"jsonrpc":"2.0","id":4,"method":5}"#).await;
    assert_eq!(wire.recv_json().await["error"]["code"], -32600);
    wire.send(r#"{"jsonrpc":"2.0","id":5,"method":"add","params":[1,1]}"#)
        .await;
    assert_eq!(wire.recv_json().await["result"], 2);
    server.abort();
}

#[tokio::test]
async fn bad_messages_in_a_row_are_capped_and_the_last_answer_names_the_cap() {
    let endpoint = endpoint("tolerance-cap");
    let server = serve(
        &endpoint,
        JsonRpc::new().max_bad_messages_in_a_row(4),
        geth_like(),
    )
    .await;
    let mut wire = Wire::connect(&endpoint).await;
    // Three bad ones, then a request: the count starts again.
    wire.send("]]]").await;
    for _ in 0..3 {
        assert_eq!(wire.recv_json().await["error"]["code"], -32700);
    }
    wire.send(r#"{"jsonrpc":"2.0","id":1,"method":"add","params":[1,1]}"#)
        .await;
    assert_eq!(wire.recv_json().await["result"], 2);
    // Stray brackets and garbage, as a broken client writes before it reads.
    wire.send_raw(&[b']'; 10_000]).await;
    for n in 1..=4 {
        let answer = wire.recv_json().await;
        assert_eq!(answer["error"]["code"], -32700);
        if n == 4 {
            assert!(
                message(&answer).ends_with(
                    "closing the connection: 4 messages in a row held no request (the limit is 4)"
                ),
                "{answer}"
            );
        }
    }
    assert!(wire.is_closed().await, "more answers after the cap");
    server.abort();
}

#[tokio::test]
async fn random_bytes_get_a_bounded_number_of_answers_by_default() {
    let endpoint = endpoint("tolerance-random");
    let server = serve(&endpoint, JsonRpc::new(), geth_like()).await;
    // A fixed pseudo-random megabyte (xorshift), without newlines, so that
    // each answer is one line of its own.
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let garbage: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match x as u8 {
                b'\n' => b' ',
                b => b,
            }
        })
        .collect();
    // Written without reading, as a broken client does: with the answers
    // bounded, the server neither blocks nor floods it.
    let (mut read, mut write) = tokio::io::split(support::connect(&endpoint).await);
    let writer = tokio::spawn(async move {
        // The server may close before all of it is written.
        let _ = write.write_all(&garbage).await;
    });
    let mut answers = Vec::new();
    tokio::time::timeout(support::PATIENCE, read.read_to_end(&mut answers))
        .await
        .expect("the server did not close")
        .ok();
    writer.await.unwrap();
    let lines = answers
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert!(
        (1..=JsonRpc::DEFAULT_MAX_BAD_MESSAGES_IN_A_ROW).contains(&lines),
        "{lines} answers to 1 MiB of garbage"
    );
    server.abort();
}

#[tokio::test]
async fn errors_say_what_is_wrong_in_the_callers_terms() {
    let endpoint = endpoint("tolerance-messages");
    let server = serve(&endpoint, JsonRpc::new(), geth_like()).await;
    let mut wire = Wire::connect(&endpoint).await;
    for (sent, want) in [
        (
            "[1]",
            "Invalid Request: batch element 0 is not a request object (got a number)",
        ),
        (
            r#"[{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]},"x"]"#,
            "Invalid Request: batch element 1 is not a request object (got a string)",
        ),
        (
            "42",
            "Invalid Request: the message is not a request object (got a number)",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"add"}"#,
            "Invalid Request: the message: duplicate member `id`",
        ),
        (
            r#"{"jsonrpc":"2.0","id":3,"method":"add","params":[1,"two"]}"#,
            r#"Invalid params: at index 1: invalid type: string "two", expected i64"#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":4,"method":"add","params":[1,2,3]}"#,
            "Invalid params: expected at most 2 params, got 3",
        ),
        (
            r#"{"jsonrpc":"2.0","id":5,"method":"add","params":{"a":1}}"#,
            "Invalid params: expected 2 params by position (an array), got an object",
        ),
    ] {
        wire.send(sent).await;
        let answer = wire.recv_json().await;
        let got = match &answer {
            Value::Array(answers) => answers
                .iter()
                .find(|a| a.get("error").is_some())
                .map(message)
                .unwrap_or_default()
                .to_owned(),
            _ => message(&answer).to_owned(),
        };
        assert_eq!(got, want, "for {sent}");
        assert!(!got.contains("line ") && !got.contains("Envelope"), "{got}");
    }
    server.abort();
}
