//! The JSON-RPC message parsers, through the public API, both ways: the
//! input is what a client sends a server (`Server::serve_connection` with a
//! small router, over an in-memory pipe) and what a server sends a client
//! (`JsonRpcClient` with calls and a subscription in flight). The first byte
//! picks the framing.
//!
//! Checks that the server answers with well-formed JSON-RPC responses only,
//! at most one frame per frame read, and ends when its input does; and that
//! every call of the client ends (answered or failed) when its input does.
#![no_main]

use std::{sync::OnceLock, time::Duration};

use bytes::BytesMut;
use futures::StreamExt;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::Decoder;
use tower_ipc::{
    Server,
    codec::{JsonCodec, JsonFraming},
    jsonrpc::{ErrorObject, JsonRpc, JsonRpcClient, Router, Subscription},
};

/// Far longer than anything here takes: past it, something hangs.
const HANG: Duration = Duration::from_secs(10);

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
    })
}

fn router() -> Router {
    Router::new()
        .method("echo", |params: Value| async move {
            Ok::<_, ErrorObject>(params)
        })
        .method("add", |(a, b): (i64, i64)| async move {
            a.checked_add(b)
                .ok_or_else(|| ErrorObject::invalid_params("overflow"))
        })
        .method("fail", |(): ()| async move {
            Err::<(), _>(ErrorObject::new(1, "failed").with_data(&[1, 2]))
        })
        .subscription(
            Subscription::new("count_subscribe", "count_item", "count_unsubscribe"),
            |(to,): (u8,)| async move { Ok::<_, ErrorObject>(futures::stream::iter(0..to)) },
        )
}

fuzz_target!(|data: &[u8]| {
    let [config, input @ ..] = data else {
        return;
    };
    let framing = [
        JsonFraming::Stream,
        JsonFraming::Ndjson,
        JsonFraming::ContentLength,
    ][usize::from(config & 3) % 3];
    let codec = JsonCodec::new().framing(framing).max_frame_length(4096);
    runtime().block_on(async {
        tokio::time::timeout(HANG, server_side(codec.clone(), input))
            .await
            .expect("the server hangs");
        tokio::time::timeout(HANG, client_side(codec, input))
            .await
            .expect("the client hangs");
    });
});

async fn server_side(codec: JsonCodec, input: &[u8]) {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let protocol = JsonRpc::new().codec(codec.clone()).max_batch_size(8);
    let serving = Server::new().serve_connection(theirs, protocol, router());
    let (mut reader, mut writer) = tokio::io::split(ours);
    let writing = async {
        // The server may stop reading (bad framing) before all is written.
        let _ = writer.write_all(input).await;
        let _ = writer.shutdown().await;
    };
    let mut output = Vec::new();
    let reading = reader.read_to_end(&mut output);
    let (_, (), read) = tokio::join!(serving, writing, reading);
    read.expect("the server's output is readable");

    let mut output = BytesMut::from(&output[..]);
    let mut decoder = codec;
    let mut answers = 0;
    while let Some(frame) = decoder
        .decode_eof(&mut output)
        .expect("the server frames its output")
    {
        answers += 1;
        let value: Value = serde_json::from_slice(&frame).expect("the server writes JSON");
        match value {
            Value::Array(batch) => {
                assert!(!batch.is_empty(), "an empty batch answer");
                batch.iter().for_each(check_response);
            }
            one => check_response(&one),
        }
    }
    // One frame of input is at least one byte; subscription items come
    // only after an answer, which needs a frame too.
    let pushed_at_most = 255 * input.len();
    assert!(answers <= input.len() + pushed_at_most);
}

fn check_response(value: &Value) {
    let object = value.as_object().expect("a response is an object");
    assert_eq!(object.get("jsonrpc"), Some(&Value::from("2.0")), "{value}");
    if object.get("method").is_some() {
        // A subscription item.
        assert!(object.get("params").is_some(), "{value}");
        return;
    }
    let id = object.get("id").expect("a response has an id");
    assert!(id.is_null() || id.is_string() || id.is_number(), "{value}");
    match (object.get("result"), object.get("error")) {
        (Some(_), None) => {}
        (None, Some(error)) => {
            assert!(error["code"].is_i64(), "{value}");
            assert!(error["message"].is_string(), "{value}");
        }
        _ => panic!("neither result nor error, or both: {value}"),
    }
}

async fn client_side(codec: JsonCodec, input: &[u8]) {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let client = JsonRpcClient::builder().codec(codec).build(theirs);
    let (mut reader, mut writer) = tokio::io::split(ours);
    // Ids 1 and 2 are calls, 3 a subscription, 4 a batch of two (ids 4, 5).
    let first = client.call::<Value, _>("a", ());
    let second = client.call::<String, _>("b", [1]);
    let subscription = Subscription::new("s_subscribe", "s_item", "s_unsubscribe").buffer(2);
    let subscribing = async {
        if let Ok(mut items) = client.subscribe::<Value, _>(&subscription, ()).await {
            while items.next().await.is_some() {}
        }
    };
    let batch = client.batch([
        tower_ipc::jsonrpc::Request::new("c").with_id(tower_ipc::jsonrpc::Id::null()),
        tower_ipc::jsonrpc::Request::new("d").with_id(tower_ipc::jsonrpc::Id::null()),
    ]);
    let serving = async {
        let _ = writer.write_all(input).await;
        let _ = writer.shutdown().await;
        // Take what the client wrote, so it never waits for room.
        let _ = reader.read_to_end(&mut Vec::new()).await;
    };
    let calls = async { tokio::join!(first, second, subscribing, batch) };
    let ((_, _, (), _), ()) = tokio::join!(calls, serving);
    drop(client);
}
