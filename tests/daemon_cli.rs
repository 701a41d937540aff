//! `examples/daemon_cli`: the daemon and the CLI as separate processes,
//! over the portable endpoint (a Unix socket, or a named pipe on Windows),
//! TCP, and a child's stdio.
#![cfg(all(feature = "macros", feature = "postcard"))]

use std::{path::PathBuf, process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    time::timeout,
};

/// Long enough for anything on a loaded machine and under Wine.
const PATIENCE: Duration = Duration::from_secs(60);

/// The example's binary, built by `cargo test` beside this test's.
fn example() -> PathBuf {
    let mut path = std::env::current_exe().unwrap();
    path.pop(); // the test binary
    if path.ends_with("deps") {
        path.pop();
    }
    let path = path
        .join("examples")
        .join(format!("daemon_cli{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: a whole `cargo test --all-features` builds the examples; \
         with `--test daemon_cli` alone, run \
         `cargo build --example daemon_cli --features macros,postcard` first",
        path.display()
    );
    path
}

/// Starts the daemon and waits for the line saying where it listens.
async fn daemon(args: &[&str]) -> (Child, String) {
    let mut daemon = Command::new(example())
        .arg("daemon")
        .args(args)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(daemon.stdout.take().unwrap()).lines();
    let line = timeout(PATIENCE, lines.next_line())
        .await
        .expect("the daemon said where it listens")
        .unwrap()
        .unwrap();
    let endpoint = line
        .strip_prefix("daemon listening on ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();
    // Keep reading so the daemon never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (daemon, endpoint)
}

/// Runs the CLI and returns its standard output.
async fn cli(args: &[&str]) -> String {
    let output = timeout(PATIENCE, Command::new(example()).args(args).output())
        .await
        .expect("the CLI finished")
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?}: {stdout}{stderr}");
    stdout
}

async fn session(endpoint_arg: &str, form: &[&str]) {
    let (mut daemon, endpoint) = daemon(&[&[endpoint_arg][..], form].concat()).await;
    let mut args = vec![endpoint.as_str()];
    args.extend(form);
    let with = |command: &[&'static str]| [&args[..], command].concat();
    assert_eq!(
        cli(&with(&["put", "todo", "write docs"])).await,
        "todo: stored\n"
    );
    assert_eq!(
        cli(&with(&[
            "put", "todo", "test", "get", "todo", "get", "nope"
        ]))
        .await,
        "todo: replaced \"write docs\"\ntodo: test\nno note called \"nope\"\n"
    );
    assert_eq!(cli(&with(&["list", "to"])).await, "todo\n");
    assert_eq!(cli(&with(&["stop"])).await, "asked the daemon to stop\n");
    let status = timeout(PATIENCE, daemon.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
}

fn unique(tag: &str) -> String {
    format!("tower-ipc-daemon-cli-{tag}-{}", std::process::id())
}

#[tokio::test]
async fn daemon_and_cli_talk_postcard_over_the_portable_endpoint() {
    session(&unique("postcard"), &[]).await;
}

#[tokio::test]
async fn daemon_and_cli_talk_json_rpc_over_the_portable_endpoint() {
    session(&unique("json-rpc"), &["--json-rpc"]).await;
}

#[tokio::test]
async fn daemon_and_cli_talk_postcard_over_tcp() {
    session("tcp://127.0.0.1:0", &[]).await;
}

#[tokio::test]
async fn the_cli_runs_a_daemon_as_a_child_over_its_stdio() {
    let out = cli(&[
        "child", "put", "a", "1", "put", "b", "2", "get", "a", "list",
    ])
    .await;
    assert!(
        out.starts_with("a: stored\nb: stored\na: 1\na b\nchild daemon exited: "),
        "{out}"
    );
}
