//! The examples that serve until stopped, run as their docs say: built by
//! `cargo test`, started as processes, called over their endpoints, stopped
//! with a signal.
#![cfg(all(unix, feature = "json-rpc"))]

mod support;

use std::{path::PathBuf, process::Stdio, time::Duration};

use support::{PATIENCE, wire::Wire};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
    time::timeout,
};
use tower_ipc::Endpoint;

/// An example's executable, beside this test's (`target/<profile>/examples`).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    profile.join("examples").join(name)
}

#[tokio::test]
async fn node_serves_a_socket_path_and_stops_gracefully_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("tower-ipc-node-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("node.ipc");
    let mut node = Command::new(example("node"))
        .arg(&path)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run examples/node (built by cargo test)");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let first = timeout(PATIENCE, lines.next_line()).await.unwrap().unwrap();
    assert_eq!(
        first.as_deref(),
        Some(format!("node listening on {}", path.display()).as_str())
    );

    let mut wire = Wire::connect(&Endpoint::path(&path)).await;
    wire.send(r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#)
        .await;
    assert_eq!(
        wire.recv().await,
        r#"{"jsonrpc":"2.0","id":1,"result":"0x539"}"#
    );
    wire.send(r#"{"jsonrpc":"2.0","id":2,"method":"eth_subscribe","params":["newHeads"]}"#)
        .await;
    let id = wire.recv_json().await["result"].clone();
    let head = wire.recv_json().await;
    assert_eq!(head["params"]["subscription"], id);
    assert!(
        head["params"]["result"]["number"]
            .as_str()
            .unwrap()
            .starts_with("0x")
    );

    let pid = node.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = timeout(PATIENCE, node.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
    let last = timeout(Duration::from_secs(5), lines.next_line())
        .await
        .unwrap()
        .unwrap();
    assert!(last.is_some_and(|line| line.starts_with("node stopped:")));
    assert!(!path.exists(), "the socket file is removed");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `examples/web.rs`: one router on a Unix socket, HTTP and WebSocket, one
/// graceful shutdown for all three.
#[cfg(all(feature = "http", feature = "ws"))]
#[tokio::test]
async fn web_serves_one_router_on_ipc_http_and_websocket_and_stops_once() {
    use futures::{SinkExt, StreamExt};
    use http_body_util::{BodyExt, Full};
    use tokio_tungstenite::tungstenite::Message;

    let dir = std::env::temp_dir().join(format!("tower-ipc-web-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("web.ipc");
    let mut web = Command::new(example("web"))
        .arg(&path)
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run examples/web (built by cargo test --features http,ws)");
    let mut lines = BufReader::new(web.stdout.take().unwrap()).lines();
    let mut next = async || timeout(PATIENCE, lines.next_line()).await.unwrap().unwrap();
    assert_eq!(next().await, Some(format!("ipc on {}", path.display())));
    let line = next().await.unwrap();
    let addr = line
        .strip_prefix("http and ws on tcp://")
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();

    // IPC.
    let mut wire = Wire::connect(&Endpoint::path(&path)).await;
    wire.send(r#"{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]}"#)
        .await;
    assert_eq!(wire.recv().await, r#"{"jsonrpc":"2.0","id":1,"result":3}"#);

    // HTTP.
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = http::Request::post("/")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(bytes::Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":2,"method":"add","params":[2,3]}"#,
        )))
        .unwrap();
    let answer = sender.send_request(request).await.unwrap();
    let body = answer.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        std::str::from_utf8(&body).unwrap().trim_end(),
        r#"{"jsonrpc":"2.0","id":2,"result":5}"#
    );

    // WebSocket, with a subscription.
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/"), stream)
        .await
        .unwrap();
    ws.send(Message::text(
        r#"{"jsonrpc":"2.0","id":3,"method":"eth_subscribe","params":["newHeads"]}"#,
    ))
    .await
    .unwrap();
    let mut texts = Vec::new();
    while texts.len() < 2 {
        match timeout(PATIENCE, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            Message::Text(text) => {
                texts.push(serde_json::from_str::<serde_json::Value>(&text).unwrap())
            }
            _ => continue,
        }
    }
    assert_eq!(texts[1]["params"]["subscription"], texts[0]["result"]);

    // One signal stops every transport; the WebSocket is closed.
    let pid = web.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = timeout(PATIENCE, web.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
    let last = next().await.unwrap();
    assert!(
        last.starts_with("stopped: ipc 1 connections, 1 requests; http and ws 2 connections"),
        "{last}"
    );
    assert!(!path.exists(), "the socket file is removed");
    let _ = std::fs::remove_dir_all(&dir);
}
