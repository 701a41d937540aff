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
