//! JSON-RPC over HTTP and WebSocket: one router served on IPC and on HTTP
//! (with WebSocket), called with hyper's and tungstenite's clients, and the
//! answers compared with IPC's, bad input included.
#![cfg(all(feature = "http", feature = "ws"))]

mod support;

use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt, stream};
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use support::{PATIENCE, wire::Wire};
use tokio::{net::TcpStream, sync::oneshot, task::JoinHandle, time::timeout};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message, protocol::frame::coding::CloseCode},
};
use tower_ipc::{
    Endpoint, Server,
    jsonrpc::{CallContext, ErrorObject, JsonRpc, Router, Subscription},
    server::Summary,
    web::Http,
};

const LIMIT: usize = 64 * 1024;

fn router() -> Router {
    Router::new()
        .method("add", |(a, b): (i64, i64)| async move {
            Ok::<_, ErrorObject>(a + b)
        })
        .method("peer", |cx: CallContext, (): ()| async move {
            Ok::<_, ErrorObject>(cx.peer_info().addr().map(|addr| addr.ip().to_string()))
        })
        .method("callBack", |cx: CallContext, (): ()| async move {
            let answer: Result<Value, _> = cx.peer().call("ping", ()).await;
            Ok::<_, ErrorObject>(answer.is_err())
        })
        .method("repeat", |(n,): (usize,)| async move {
            Ok::<_, ErrorObject>("x".repeat(n))
        })
        .method("sleep", |(ms,): (u64,)| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, ErrorObject>(ms)
        })
        .subscription(
            Subscription::new("subscribe", "item", "unsubscribe"),
            |(count,): (u64,)| async move { Ok::<_, ErrorObject>(stream::iter(1..=count)) },
        )
}

fn protocol() -> JsonRpc {
    JsonRpc::new()
        .max_request_size(LIMIT)
        .max_response_size(LIMIT)
}

/// A server of `router()` on TCP port 0, speaking `http`.
struct Running {
    addr: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<Summary>>,
}

impl Running {
    async fn start(http: Http) -> Self {
        Self::start_with(Server::new(), http).await
    }

    async fn start_with(server: Server, http: Http) -> Self {
        let listener = Endpoint::tcp("127.0.0.1:0").bind().await.unwrap();
        let addr = listener
            .endpoint()
            .to_string()
            .trim_start_matches("tcp://")
            .to_owned();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(
            server
                .serve(listener, http, router())
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .into_future(),
        );
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn shutdown(mut self) -> Summary {
        let _ = self.stop.take().unwrap().send(());
        timeout(PATIENCE, self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap()
    }
}

fn web() -> Http {
    Http::new().jsonrpc(protocol()).websocket(true)
}

/// What an HTTP request was answered.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

async fn send(addr: &str, request: Request<Full<Bytes>>) -> Answer {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let answer = timeout(PATIENCE, sender.send_request(request))
        .await
        .expect("no answer")
        .unwrap();
    let status = answer.status();
    let headers = answer.headers().clone();
    let body = answer.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

async fn post(addr: &str, body: impl Into<Bytes>) -> Answer {
    post_as(addr, "application/json", body).await
}

async fn post_as(addr: &str, content_type: &str, body: impl Into<Bytes>) -> Answer {
    let request = Request::post(format!("http://{addr}/"))
        .header(header::CONTENT_TYPE, content_type)
        .body(Full::new(body.into()))
        .unwrap();
    send(addr, request).await
}

/// What IPC answers `message` with: one line.
async fn ipc_answer(message: &str) -> String {
    let endpoint = support::endpoint("web-ipc");
    let listener = endpoint.bind().await.unwrap();
    let server = tokio::spawn(tower_ipc::serve(listener, protocol(), router()).into_future());
    let mut wire = Wire::connect(&endpoint).await;
    wire.send(message).await;
    let answer = wire.recv().await;
    server.abort();
    answer
}

async fn ws_connect(addr: &str) -> WebSocketStream<TcpStream> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (ws, answer) = tokio_tungstenite::client_async(format!("ws://{addr}/"), stream)
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws
}

async fn ws_recv(ws: &mut WebSocketStream<TcpStream>) -> Message {
    timeout(PATIENCE, ws.next())
        .await
        .expect("no message")
        .expect("the connection ended")
        .unwrap()
}

async fn ws_text(ws: &mut WebSocketStream<TcpStream>) -> String {
    match ws_recv(ws).await {
        Message::Text(text) => text.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

#[tokio::test]
async fn post_is_answered_as_ipc_answers_the_same_message() {
    let server = Running::start(web()).await;
    let cases = [
        r#"{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]}"#,
        r#"{"jsonrpc":"2.0","id":"x","method":"nope"}"#,
        r#"[{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]},{"jsonrpc":"2.0","method":"add","params":[1,2]},{"jsonrpc":"2.0","id":2,"method":"add","params":["a"]}]"#,
        // Bad input: not JSON, not a request, an empty batch, a bad batch.
        r#"{"jsonrpc":"2.0","id":1,}"#,
        r#"{"jsonrpc":"2.0","id":7}"#,
        r#"[]"#,
        r#"[1,"x"]"#,
        r#""just a string""#,
    ];
    for case in cases {
        let answer = post(&server.addr, case).await;
        assert_eq!(answer.status, StatusCode::OK, "{case}");
        assert_eq!(
            answer.headers[header::CONTENT_TYPE],
            "application/json",
            "{case}"
        );
        assert_eq!(answer.body.trim_end(), ipc_answer(case).await, "{case}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn notifications_are_answered_204_with_no_body() {
    let server = Running::start(web()).await;
    for notifications in [
        r#"{"jsonrpc":"2.0","method":"add","params":[1,2]}"#,
        r#"[{"jsonrpc":"2.0","method":"add","params":[1,2]},{"jsonrpc":"2.0","method":"nope"}]"#,
    ] {
        let answer = post(&server.addr, notifications).await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT);
        assert_eq!(answer.body, "");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_413_with_the_error_ipc_gives() {
    let server = Running::start(web()).await;
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":42,"method":"add","params":["{}"]}}"#,
        "x".repeat(LIMIT)
    );
    let answer = post(&server.addr, big.clone()).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    let error: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(error["error"]["code"], ErrorObject::INVALID_REQUEST);
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains(&LIMIT.to_string()), "{message}");
    assert!(message.contains(&big.len().to_string()), "{message}");
    let ipc: Value = serde_json::from_str(&ipc_answer(&big).await).unwrap();
    assert_eq!(ipc["error"]["code"], error["error"]["code"]);
    assert_eq!(ipc["error"]["message"], error["error"]["message"]);

    // Sent in pieces, without a Content-Length: refused as it grows, with
    // the request's id read from its first bytes, as IPC does.
    let pieces = stream::iter(
        big.as_bytes()
            .chunks(1000)
            .map(|piece| {
                Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::copy_from_slice(piece)))
            })
            .collect::<Vec<_>>(),
    );
    let stream = TcpStream::connect(&server.addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::post("/")
        .header(header::CONTENT_TYPE, "application/json")
        .body(http_body_util::StreamBody::new(pieces))
        .unwrap();
    let answer = sender.send_request(request).await.unwrap();
    assert_eq!(answer.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body = answer.into_body().collect().await.unwrap().to_bytes();
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["id"], 42);
    assert_eq!(error["error"]["code"], ErrorObject::INVALID_REQUEST);
    server.shutdown().await;
}

#[tokio::test]
async fn an_answer_over_the_limit_is_the_error_ipc_gives_over_http_and_websocket() {
    let server = Running::start(web()).await;
    let call = format!(r#"{{"jsonrpc":"2.0","id":9,"method":"repeat","params":[{LIMIT}]}}"#);
    let ipc = ipc_answer(&call).await;
    let error: Value = serde_json::from_str(&ipc).unwrap();
    assert_eq!(error["id"], 9);
    assert_eq!(error["error"]["code"], ErrorObject::RESPONSE_TOO_LARGE);
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains(&LIMIT.to_string()), "{message}");

    let answer = post(&server.addr, call.clone()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body.trim_end(), ipc);

    // In a batch, the answer over the limit is replaced; the others stay.
    let batch = format!(r#"[{call},{{"jsonrpc":"2.0","id":10,"method":"add","params":[1,2]}}]"#);
    let answers: Value = serde_json::from_str(&post(&server.addr, batch).await.body).unwrap();
    assert_eq!(answers[0], error);
    assert_eq!(answers[1]["result"], 3);

    // Over WebSocket the same error, and the connection goes on.
    let mut ws = ws_connect(&server.addr).await;
    ws.send(Message::text(call)).await.unwrap();
    assert_eq!(ws_text(&mut ws).await, ipc);
    ws.send(Message::text(
        r#"{"jsonrpc":"2.0","id":11,"method":"repeat","params":[3]}"#,
    ))
    .await
    .unwrap();
    assert_eq!(
        ws_text(&mut ws).await,
        r#"{"jsonrpc":"2.0","id":11,"result":"xxx"}"#
    );
    server.shutdown().await;
}

#[tokio::test]
async fn content_type_must_be_json() {
    let server = Running::start(web()).await;
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]}"#;
    for accepted in ["application/json; charset=utf-8", "application/json-rpc"] {
        let answer = post_as(&server.addr, accepted, call).await;
        assert_eq!(answer.status, StatusCode::OK, "{accepted}");
    }
    let answer = post_as(&server.addr, "text/plain", call).await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let error: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(error["id"], Value::Null);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`text/plain`")
    );
    server.shutdown().await;
}

#[tokio::test]
async fn other_methods_are_refused_and_get_is_a_health_check() {
    let server = Running::start(web()).await;
    let get = send(
        &server.addr,
        Request::get("/").body(Full::default()).unwrap(),
    )
    .await;
    assert_eq!((get.status, get.body.as_str()), (StatusCode::OK, ""));
    let put = send(
        &server.addr,
        Request::put("/").body(Full::default()).unwrap(),
    )
    .await;
    assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(put.headers[header::ALLOW], "GET, HEAD, POST");
    let error: Value = serde_json::from_str(&put.body).unwrap();
    assert!(error["error"]["message"].as_str().unwrap().contains("PUT"));
    server.shutdown().await;
}

#[tokio::test]
async fn over_http_handlers_see_the_caller_and_cannot_subscribe_or_call_back() {
    let server = Running::start(web()).await;
    let answer = post(&server.addr, r#"{"jsonrpc":"2.0","id":1,"method":"peer"}"#).await;
    assert_eq!(
        serde_json::from_str::<Value>(&answer.body).unwrap()["result"],
        "127.0.0.1"
    );
    let answer = post(
        &server.addr,
        r#"{"jsonrpc":"2.0","id":2,"method":"subscribe","params":[3]}"#,
    )
    .await;
    let error: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(error["error"]["code"], ErrorObject::METHOD_NOT_FOUND);
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`subscribe`") && message.contains("WebSocket"),
        "{message}"
    );
    // A call back to an HTTP caller fails at once rather than hang.
    let answer = post(
        &server.addr,
        r#"{"jsonrpc":"2.0","id":3,"method":"callBack"}"#,
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&answer.body).unwrap()["result"],
        true
    );
    server.shutdown().await;
}

#[tokio::test]
async fn websocket_serves_calls_and_subscriptions_one_message_each() {
    let server = Running::start(web()).await;
    let mut ws = ws_connect(&server.addr).await;
    ws.send(Message::text(
        r#"{"jsonrpc":"2.0","id":1,"method":"add","params":[20,22]}"#,
    ))
    .await
    .unwrap();
    assert_eq!(
        ws_text(&mut ws).await,
        r#"{"jsonrpc":"2.0","id":1,"result":42}"#
    );

    ws.send(Message::text(
        r#"{"jsonrpc":"2.0","id":2,"method":"subscribe","params":[3]}"#,
    ))
    .await
    .unwrap();
    let opened: Value = serde_json::from_str(&ws_text(&mut ws).await).unwrap();
    let id = opened["result"].clone();
    assert!(id.is_string(), "{opened}");
    for n in 1..=3 {
        let item: Value = serde_json::from_str(&ws_text(&mut ws).await).unwrap();
        assert_eq!(item["method"], "item");
        assert_eq!(item["params"], json!({ "subscription": id, "result": n }));
    }

    // A batch is one message, its answer one message.
    ws.send(Message::binary(
        &br#"[{"jsonrpc":"2.0","id":3,"method":"add","params":[1,1]},{"jsonrpc":"2.0","id":4,"method":"add","params":[2,2]}]"#[..],
    ))
    .await
    .unwrap();
    let batch: Value = serde_json::from_str(&ws_text(&mut ws).await).unwrap();
    assert_eq!(batch[0]["result"], 2);
    assert_eq!(batch[1]["result"], 4);

    // Pings are answered.
    ws.send(Message::Ping(Bytes::from_static(b"are you there")))
        .await
        .unwrap();
    assert_eq!(
        ws_recv(&mut ws).await,
        Message::Pong(Bytes::from_static(b"are you there"))
    );

    // A close is answered, and the connection ends.
    ws.close(None).await.unwrap();
    match timeout(PATIENCE, ws.next()).await.expect("no close") {
        Some(Ok(Message::Close(_)) | Err(_)) | None => {}
        Some(Ok(other)) => panic!("after close: {other:?}"),
    }
    let summary = server.shutdown().await;
    assert_eq!(summary.connections, 1);
}

#[tokio::test]
async fn websocket_bad_input_gets_the_answers_ipc_gives() {
    let server = Running::start(web()).await;
    let mut ws = ws_connect(&server.addr).await;
    for case in [
        r#"{"jsonrpc":"2.0","id":1,}"#,
        r#"{"jsonrpc":"2.0","id":7}"#,
        r#"[]"#,
        r#"[1,"x"]"#,
        r#"{"jsonrpc":"2.0","id":"x","method":"nope"}"#,
    ] {
        ws.send(Message::text(case)).await.unwrap();
        assert_eq!(ws_text(&mut ws).await, ipc_answer(case).await, "{case}");
    }
    // Each message stands alone: a truncated one is answered, and never
    // runs into the next (on a byte stream it would wait for the rest).
    ws.send(Message::text(r#"{"jsonrpc":"2.0","id":1,"#))
        .await
        .unwrap();
    let error: Value = serde_json::from_str(&ws_text(&mut ws).await).unwrap();
    assert_eq!(error["error"]["code"], ErrorObject::PARSE_ERROR);
    ws.send(Message::text(
        r#"{"jsonrpc":"2.0","id":9,"method":"add","params":[1,2]}"#,
    ))
    .await
    .unwrap();
    assert_eq!(
        ws_text(&mut ws).await,
        r#"{"jsonrpc":"2.0","id":9,"result":3}"#
    );
    server.shutdown().await;
}

#[tokio::test]
async fn websocket_message_over_the_limit_is_answered_then_closed_with_1009() {
    let server = Running::start(web()).await;
    let mut ws = ws_connect(&server.addr).await;
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"add","params":["{}"]}}"#,
        "x".repeat(LIMIT)
    );
    ws.send(Message::text(big)).await.unwrap();
    let error: Value = serde_json::from_str(&ws_text(&mut ws).await).unwrap();
    assert_eq!(error["error"]["code"], ErrorObject::INVALID_REQUEST);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&LIMIT.to_string())
    );
    match ws_recv(&mut ws).await {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::Size);
            assert!(
                frame.reason.contains(&LIMIT.to_string()),
                "{}",
                frame.reason
            );
        }
        other => panic!("expected a close, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_http_and_websocket_requests_in_flight() {
    let server = Running::start(web()).await;
    let mut ws = ws_connect(&server.addr).await;
    ws.send(Message::text(
        r#"{"jsonrpc":"2.0","id":1,"method":"sleep","params":[200]}"#,
    ))
    .await
    .unwrap();
    let addr = server.addr.clone();
    let http = tokio::spawn(async move {
        post(
            &addr,
            r#"{"jsonrpc":"2.0","id":2,"method":"sleep","params":[200]}"#,
        )
        .await
    });
    // Both requests are in their handlers when the shutdown starts.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let summary = tokio::spawn(server.shutdown());
    assert_eq!(
        ws_text(&mut ws).await,
        r#"{"jsonrpc":"2.0","id":1,"result":200}"#
    );
    match ws_recv(&mut ws).await {
        Message::Close(_) => {}
        other => panic!("expected a close, got {other:?}"),
    }
    let answer = http.await.unwrap();
    assert_eq!(
        answer.body.trim_end(),
        r#"{"jsonrpc":"2.0","id":2,"result":200}"#
    );
    let summary = summary.await.unwrap();
    assert_eq!(summary.connections, 2);
    assert_eq!(summary.requests_completed, 2);
}

#[tokio::test]
async fn connections_past_the_limit_are_answered_503() {
    let server = Running::start_with(Server::new().max_connections(1), web()).await;
    let mut ws = ws_connect(&server.addr).await;
    let answer = post(
        &server.addr,
        r#"{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]}"#,
    )
    .await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    let error: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(error["error"]["code"], ErrorObject::LIMIT_EXCEEDED);
    ws.close(None).await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn websocket_is_refused_unless_turned_on() {
    let server = Running::start(Http::new()).await;
    let stream = TcpStream::connect(&server.addr).await.unwrap();
    let err = tokio_tungstenite::client_async(format!("ws://{}/", server.addr), stream)
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(answer) => {
            assert_eq!(answer.status(), StatusCode::METHOD_NOT_ALLOWED);
        }
        other => panic!("expected an HTTP error, got {other}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn the_service_mounts_in_an_axum_app_for_http_and_websocket() {
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .route_service("/rpc", web().service(router()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let request = Request::post(format!("http://{addr}/rpc"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]}"#,
        )))
        .unwrap();
    let answer = send(&addr, request).await;
    assert_eq!(
        answer.body.trim_end(),
        r#"{"jsonrpc":"2.0","id":1,"result":3}"#
    );

    let stream = TcpStream::connect(&addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/rpc"), stream)
        .await
        .unwrap();
    ws.send(Message::text(
        r#"{"jsonrpc":"2.0","id":2,"method":"subscribe","params":[1]}"#,
    ))
    .await
    .unwrap();
    let opened: Value = serde_json::from_str(&ws_text(&mut ws).await).unwrap();
    let item: Value = serde_json::from_str(&ws_text(&mut ws).await).unwrap();
    assert_eq!(item["params"]["subscription"], opened["result"]);
    server.abort();
}
