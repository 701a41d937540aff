//! The `tower-ipc` command line, run as a process against `serve --demo`
//! (another process) and against servers in this test process.

mod support;

use std::{
    convert::Infallible,
    process::{ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use futures::{StreamExt, stream};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdout, Command},
    sync::mpsc,
    time::timeout,
};
use tower::{ServiceBuilder, service_fn};
use tower_ipc::{
    codec::LengthPrefixed,
    jsonrpc::{Call, ErrorObject, JsonRpc, Router, Subscription},
};

/// Processes start slowly under Wine; a command taking this long has hung.
const PATIENCE: Duration = Duration::from_secs(60);

/// The exit codes `tower-ipc --help` lists.
const ERROR_ANSWER: i32 = 1;
const USAGE: i32 = 2;
const NO_SERVER: i32 = 3;
const TIMED_OUT: i32 = 5;

fn tower_ipc(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tower-ipc"));
    command
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// `tower-ipc ARGS`, ready for [`interrupt`]: on Windows in a console of its
/// own (without a window), since Ctrl-C goes to every process of a console.
/// (Only where needed: under Wine, each console is a process more to start,
/// and starting many at once sometimes fails.)
fn interruptible_tower_ipc(args: &[&str]) -> Command {
    #[cfg_attr(not(windows), allow(unused_mut))]
    let mut command = tower_ipc(args);
    /// `CREATE_NO_WINDOW`: a console process gets a console with no window.
    #[cfg(windows)]
    const CREATE_NO_WINDOW: u32 = 0x0800_0000;
    #[cfg(windows)]
    command.creation_flags(CREATE_NO_WINDOW);
    command
}

/// How a command ended and what it printed.
#[derive(Debug)]
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Runs `tower-ipc ARGS` to the end, with `stdin` as its input.
async fn run_with_input(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = tower_ipc(args)
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn tower-ipc");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).await.unwrap();
    drop(input);
    finish(child).await
}

async fn run(args: &[&str]) -> Run {
    finish(tower_ipc(args).spawn().expect("spawn tower-ipc")).await
}

async fn finish(child: Child) -> Run {
    let output = timeout(PATIENCE, child.wait_with_output())
        .await
        .expect("tower-ipc did not finish")
        .unwrap();
    Run {
        status: output.status,
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// `tower-ipc serve --demo`, running until dropped.
struct Demo {
    /// Held for its drop, which kills the server; read by the tests that
    /// interrupt it.
    child: Child,
    endpoint: String,
}

impl Demo {
    async fn start(framing: &str) -> Self {
        Self::start_with(tower_ipc, framing).await
    }

    /// A demo server that [`interrupt`] can stop.
    async fn start_interruptible() -> Self {
        Self::start_with(interruptible_tower_ipc, "stream").await
    }

    async fn start_with(command: fn(&[&str]) -> Command, framing: &str) -> Self {
        let name = support::endpoint("cli-demo").to_string();
        let mut child = command(&["--framing", framing, "serve", "--demo", &name])
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the demo server");
        let mut stdout = lines(&mut child);
        let first = next_line(&mut stdout).await;
        let endpoint = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first:?}"))
            .to_owned();
        Self { child, endpoint }
    }
}

fn lines(child: &mut Child) -> Lines<BufReader<ChildStdout>> {
    BufReader::new(child.stdout.take().unwrap()).lines()
}

async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> String {
    timeout(PATIENCE, lines.next_line())
        .await
        .expect("no line in time")
        .unwrap()
        .expect("the output ended")
}

/// Serves `router` over JSON-RPC in this process, recording the method of
/// every request that reaches it.
async fn serve_in_process(router: Router) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = support::endpoint("cli-rpc").bind().await.unwrap();
    let endpoint = listener.endpoint().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let service = ServiceBuilder::new()
        .map_request(move |call: Call| {
            record.lock().unwrap().push(call.method().to_owned());
            call
        })
        .service(router);
    tokio::spawn(tower_ipc::serve(listener, JsonRpc::new(), service).into_future());
    (endpoint, seen)
}

#[tokio::test]
async fn call_prints_the_result_of_params_by_position_and_by_name() {
    let demo = Demo::start("stream").await;
    let by_position = run(&["call", &demo.endpoint, "add", "[1, 2]"]).await;
    assert_eq!(
        (by_position.code(), by_position.stdout.as_str()),
        (Some(0), "3\n")
    );
    let by_name = run(&["call", &demo.endpoint, "add", r#"{"a": 40, "b": 2}"#]).await;
    assert_eq!((by_name.code(), by_name.stdout.as_str()), (Some(0), "42\n"));
    assert_eq!(by_name.stderr, "");
}

/// Without `--timeout` each call connects once; a burst of them finds the
/// demo server's pipe instances (or socket queue) busy for a moment, which
/// `connect` waits out.
#[tokio::test]
async fn twenty_simultaneous_calls_without_a_timeout_all_succeed() {
    let demo = Demo::start("stream").await;
    let calls = (0..20).map(|i| {
        let params = format!("[{i}, {i}]");
        let endpoint = demo.endpoint.clone();
        tokio::spawn(async move { run(&["call", &endpoint, "add", &params]).await })
    });
    for (i, call) in futures::future::join_all(calls)
        .await
        .into_iter()
        .enumerate()
    {
        let call = call.unwrap();
        assert_eq!(
            (call.code(), call.stdout.as_str()),
            (Some(0), format!("{}\n", 2 * i).as_str()),
            "call {i}: {call:?}"
        );
    }
}

#[tokio::test]
async fn piped_results_are_compact_json_on_one_line() {
    let demo = Demo::start("stream").await;
    let params = r#"{ "list" : [1, 2.50, {"k": "a, b: {c}"}],
                      "big": 123456789012345678901234567890 }"#;
    let echoed = run(&["call", &demo.endpoint, "echo", params]).await;
    assert_eq!(echoed.code(), Some(0), "{echoed:?}");
    assert_eq!(
        echoed.stdout,
        "{\"list\":[1,2.50,{\"k\":\"a, b: {c}\"}],\"big\":123456789012345678901234567890}\n"
    );
}

#[tokio::test]
async fn params_are_read_from_stdin_for_a_dash() {
    let demo = Demo::start("stream").await;
    let echoed = run_with_input(
        &["call", &demo.endpoint, "echo", "-"],
        b"[\"from\",\n \"stdin\"]\n",
    )
    .await;
    assert_eq!(
        (echoed.code(), echoed.stdout.as_str()),
        (Some(0), "[\"from\",\"stdin\"]\n")
    );
}

#[tokio::test]
async fn an_error_answer_goes_to_stderr_with_exit_code_1() {
    let demo = Demo::start("stream").await;
    let params = r#"{"code": -32010, "message": "insufficient funds", "data": {"need": 5}}"#;
    let failed = run(&["call", &demo.endpoint, "fail", params]).await;
    assert_eq!(failed.code(), Some(ERROR_ANSWER), "{failed:?}");
    assert_eq!(failed.stdout, "");
    assert_eq!(
        failed.stderr,
        "error: `fail` failed with code -32010: insufficient funds\ndata: {\"need\":5}\n"
    );

    let unknown = run(&["call", &demo.endpoint, "no_such_method"]).await;
    assert_eq!(unknown.code(), Some(ERROR_ANSWER), "{unknown:?}");
    assert!(unknown.stderr.contains("code -32601"), "{unknown:?}");
    assert!(unknown.stderr.contains("`no_such_method`"), "{unknown:?}");
}

#[tokio::test]
async fn bad_params_are_refused_before_connecting_with_exit_code_2() {
    // No server: the params are checked first, so the error is about them.
    let endpoint = support::endpoint("cli-unused").to_string();
    let broken = run(&["call", &endpoint, "add", "[1,"]).await;
    assert_eq!(broken.code(), Some(USAGE), "{broken:?}");
    assert!(
        broken.stderr.starts_with("error: PARAMS is not JSON"),
        "{broken:?}"
    );

    let scalar = run_with_input(&["call", &endpoint, "add", "-"], b"7").await;
    assert_eq!(scalar.code(), Some(USAGE), "{scalar:?}");
    assert!(
        scalar
            .stderr
            .contains("PARAMS from stdin must be a JSON array"),
        "{scalar:?}"
    );

    let missing_method = run(&["call", &endpoint]).await;
    assert_eq!(missing_method.code(), Some(USAGE), "{missing_method:?}");
    let bad_duration = run(&["--timeout", "5", "call", &endpoint, "add"]).await;
    assert_eq!(bad_duration.code(), Some(USAGE), "{bad_duration:?}");
    assert!(bad_duration.stderr.contains("no unit"), "{bad_duration:?}");
}

#[tokio::test]
async fn notify_delivers_the_notification() {
    let (delivered, mut received) = mpsc::unbounded_channel();
    let router = Router::new().method("log", move |(line,): (String,)| {
        let delivered = delivered.clone();
        async move {
            let _ = delivered.send(line);
            Ok::<_, ErrorObject>(())
        }
    });
    let (endpoint, _) = serve_in_process(router).await;
    let sent = run(&["notify", &endpoint, "log", r#"["hello"]"#]).await;
    assert_eq!(
        (sent.code(), sent.stdout.as_str()),
        (Some(0), ""),
        "{sent:?}"
    );
    let line = timeout(PATIENCE, received.recv()).await.unwrap().unwrap();
    assert_eq!(line, "hello");
}

/// A subscription in this process whose items never end.
fn counting_router() -> Router {
    Router::new().subscription(
        Subscription::new("count_subscribe", "count", "count_unsubscribe"),
        |(): ()| async move {
            let items = stream::iter(1..).then(|n: u64| async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                n
            });
            Ok::<_, ErrorObject>(items)
        },
    )
}

#[tokio::test]
async fn subscribe_prints_items_as_lines_until_killed() {
    let demo = Demo::start("stream").await;
    let mut child = tower_ipc(&["subscribe", &demo.endpoint, "ticks_subscribe", "[10]"])
        .spawn()
        .unwrap();
    let mut stdout = lines(&mut child);
    for tick in 1..=3 {
        assert_eq!(next_line(&mut stdout).await, tick.to_string());
    }
    child.kill().await.unwrap();
}

#[tokio::test]
async fn subscribe_with_a_count_unsubscribes_and_exits() {
    let (endpoint, seen) = serve_in_process(counting_router()).await;
    let counted = run(&["subscribe", &endpoint, "count_subscribe", "--count", "3"]).await;
    assert_eq!(
        (counted.code(), counted.stdout.as_str()),
        (Some(0), "1\n2\n3\n"),
        "{counted:?}"
    );
    assert!(counted.stderr.contains("unsubscribed: "), "{counted:?}");
    // The default unsubscribe method mirrors the subscribe method's name.
    assert_eq!(
        *seen.lock().unwrap(),
        ["count_subscribe", "count_unsubscribe"]
    );
}

/// Presses Ctrl-C for `child`, started by [`interruptible_tower_ipc`]:
/// SIGINT on Unix; on Windows, CTRL_C_EVENT in its console, sent by
/// `.ci/windows/peers/ctrl-c.c`.
async fn interrupt(child: &Child) {
    let pid = child.id().unwrap().to_string();
    #[cfg(unix)]
    let mut sender = Command::new("kill");
    #[cfg(unix)]
    sender.args(["-INT", &pid]);
    #[cfg(windows)]
    let mut sender = Command::new(support::windows_peer("ctrl-c"));
    #[cfg(windows)]
    sender.arg(&pid);
    let sent = timeout(PATIENCE, sender.output())
        .await
        .expect("sending Ctrl-C hung")
        .unwrap();
    assert!(
        sent.status.success(),
        "Ctrl-C not sent: {}",
        String::from_utf8_lossy(&sent.stderr)
    );
}

#[tokio::test]
async fn ctrl_c_ends_a_subscription_with_an_unsubscribe() {
    let (endpoint, seen) = serve_in_process(counting_router()).await;
    let mut child = interruptible_tower_ipc(&["subscribe", &endpoint, "count_subscribe"])
        .spawn()
        .unwrap();
    let mut stdout = lines(&mut child);
    assert_eq!(next_line(&mut stdout).await, "1");
    interrupt(&child).await;
    // Still reading: a closed stdout would end the command another way.
    let ended = finish(child).await;
    drop(stdout);
    assert_eq!(ended.code(), Some(0), "{ended:?}");
    assert!(ended.stderr.contains("unsubscribed: "), "{ended:?}");
    assert_eq!(
        *seen.lock().unwrap(),
        ["count_subscribe", "count_unsubscribe"]
    );
}

#[tokio::test]
async fn ctrl_c_stops_the_demo_server_gracefully() {
    let demo = Demo::start_interruptible().await;
    let mut child = demo.child;
    interrupt(&child).await;
    let status = timeout(PATIENCE, child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(0));
    // The listener was dropped in order: its socket file is gone.
    #[cfg(unix)]
    assert!(!std::path::Path::new(&demo.endpoint).exists());
    // The process is gone, and its pipe with it.
    let endpoint = tower_ipc::Endpoint::new(&demo.endpoint);
    let err = endpoint.connect().await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn a_second_ctrl_c_stops_the_demo_server_at_once() {
    let name = support::endpoint("cli-demo").to_string();
    let mut server = interruptible_tower_ipc(&["serve", "--demo", &name])
        .spawn()
        .unwrap();
    let mut stdout = lines(&mut server);
    let listening = next_line(&mut stdout).await;
    let endpoint = tower_ipc::Endpoint::new(listening.trim_start_matches("listening on "));
    let mut stderr = BufReader::new(server.stderr.take().unwrap()).lines();
    // A call that keeps the graceful shutdown waiting. Once a later call on
    // the same connection is answered, the server has read it.
    let client = tower_ipc::jsonrpc::JsonRpcClient::new(support::connect(&endpoint).await);
    let sleeping = tokio::spawn({
        let client = client.clone();
        async move { client.call::<u64, _>("sleep", (60_000,)).await }
    });
    assert_eq!(client.call::<i64, _>("add", (1, 1)).await.unwrap(), 2);

    interrupt(&server).await;
    let announced = loop {
        let line = timeout(PATIENCE, stderr.next_line())
            .await
            .unwrap()
            .unwrap();
        let line = line.expect("stderr ended before the shutdown was announced");
        if line.starts_with("shutting down") {
            break line;
        }
    };
    assert!(
        announced.contains("in flight on 1 connections"),
        "{announced}"
    );
    interrupt(&server).await;
    let status = timeout(PATIENCE, server.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(sleeping.await.unwrap().unwrap_err().is_closed());
}

#[tokio::test]
async fn whoami_names_the_calling_process() {
    let demo = Demo::start("stream").await;
    let child = tower_ipc(&["call", &demo.endpoint, "whoami"])
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let answered = finish(child).await;
    assert_eq!(answered.code(), Some(0), "{answered:?}");
    let who: serde_json::Value = serde_json::from_str(&answered.stdout).unwrap();
    assert_eq!(who["pid"], pid, "{who}");
}

/// `min 1.0µs  p50 2.0µs ...` → the duration after `label`.
fn duration_after(text: &str, label: &str) -> Duration {
    let value = text
        .split_whitespace()
        .skip_while(|word| *word != label)
        .nth(1)
        .unwrap_or_else(|| panic!("no {label} in {text}"));
    let split = value.find(|c: char| c.is_alphabetic() || c == 'µ').unwrap();
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().unwrap();
    let seconds = match unit {
        "ns" => 1e-9,
        "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        other => panic!("unit {other} in {text}"),
    };
    Duration::from_secs_f64(number * seconds)
}

#[tokio::test]
async fn bench_reports_percentiles_and_a_histogram_of_every_call() {
    let demo = Demo::start("stream").await;
    let bench = run(&["bench", &demo.endpoint, "-n", "200", "-c", "4"]).await;
    assert_eq!(bench.code(), Some(0), "{bench:?}");
    assert!(
        bench.stdout.contains("answered   200 ok, 0 errors"),
        "{}",
        bench.stdout
    );
    let latency = bench
        .stdout
        .lines()
        .find(|line| line.starts_with("latency"))
        .expect("a latency line");
    let (p50, p99) = (
        duration_after(latency, "p50"),
        duration_after(latency, "p99"),
    );
    assert!(Duration::ZERO < p50 && p50 <= p99, "{latency}");
    // Every call is in exactly one bucket: the counts add up.
    let histogram = bench
        .stdout
        .split("histogram\n")
        .nth(1)
        .expect("a histogram");
    let counted: u64 = histogram
        .lines()
        .map(|line| {
            line.split_whitespace()
                .rev()
                .nth(1)
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(counted, 200, "{histogram}");
    // Not a terminal: no progress bar.
    assert_eq!(bench.stderr, "");
}

#[tokio::test]
async fn bench_exits_1_when_calls_are_answered_with_errors() {
    let demo = Demo::start("stream").await;
    let bench = run(&["bench", &demo.endpoint, "-n", "10", "--method", "nope"]).await;
    assert_eq!(bench.code(), Some(ERROR_ANSWER), "{bench:?}");
    assert!(bench.stdout.contains("0 ok, 10 errors"), "{bench:?}");
    assert!(
        bench
            .stderr
            .contains("10 of 10 calls were answered with an error"),
        "{bench:?}"
    );
}

#[tokio::test]
async fn every_json_framing_works_against_the_demo_server() {
    for framing in ["stream", "ndjson", "content-length"] {
        let demo = Demo::start(framing).await;
        let sum = run(&[
            "--framing",
            framing,
            "call",
            &demo.endpoint,
            "add",
            "[20, 3]",
        ])
        .await;
        assert_eq!(
            (sum.code(), sum.stdout.as_str()),
            (Some(0), "23\n"),
            "{framing}: {sum:?}"
        );
        let ticks = run(&[
            "subscribe",
            &demo.endpoint,
            "ticks_subscribe",
            "[5]",
            "-n",
            "2",
            "--framing",
            framing,
        ])
        .await;
        assert_eq!(
            (ticks.code(), ticks.stdout.as_str()),
            (Some(0), "1\n2\n"),
            "{framing}: {ticks:?}"
        );
    }
}

#[tokio::test]
async fn length_prefixed_frames_are_sent_as_given_and_answers_shown_as_text_or_hex() {
    let demo = Demo::start("length-prefixed").await;
    let text = run(&[
        "--framing",
        "length-prefixed",
        "call",
        &demo.endpoint,
        "hello there",
    ])
    .await;
    assert_eq!(
        (text.code(), text.stdout.as_str()),
        (Some(0), "hello there\n"),
        "{text:?}"
    );
    let binary = run_with_input(
        &["--framing", "length-prefixed", "call", &demo.endpoint, "-"],
        &[0x00, 0x01, 0xfe, 0xff],
    )
    .await;
    assert_eq!(
        (binary.code(), binary.stdout.as_str()),
        (Some(0), "0001feff\n"),
        "{binary:?}"
    );
    let bench = run(&[
        "--framing",
        "length-prefixed",
        "bench",
        &demo.endpoint,
        "-n",
        "50",
    ])
    .await;
    assert_eq!(bench.code(), Some(0), "{bench:?}");
    assert!(
        bench.stdout.contains("answered   50 ok, 0 errors"),
        "{bench:?}"
    );
    let notify = run(&[
        "--framing",
        "length-prefixed",
        "notify",
        &demo.endpoint,
        "x",
    ])
    .await;
    assert_eq!(notify.code(), Some(USAGE), "{notify:?}");
}

#[tokio::test]
async fn length_prefixed_call_reaches_an_in_process_server() {
    let listener = support::endpoint("cli-raw").bind().await.unwrap();
    let endpoint = listener.endpoint().to_string();
    let shout = service_fn(|frame: Bytes| async move {
        Ok::<_, Infallible>(Bytes::from(String::from_utf8_lossy(&frame).to_uppercase()))
    });
    tokio::spawn(tower_ipc::serve(listener, LengthPrefixed::new(), shout).into_future());
    let answer = run(&["--framing", "length-prefixed", "call", &endpoint, "quiet"]).await;
    assert_eq!(
        (answer.code(), answer.stdout.as_str()),
        (Some(0), "QUIET\n"),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_missing_endpoint_is_named_with_exit_code_3() {
    let endpoint = support::endpoint("cli-missing");
    let failed = run(&["call", &endpoint.to_string(), "add", "[1, 2]"]).await;
    assert_eq!(failed.code(), Some(NO_SERVER), "{failed:?}");
    let expected = format!("error: cannot connect to `{endpoint}`: no server is listening");
    assert!(failed.stderr.starts_with(&expected), "{failed:?}");
}

#[tokio::test]
async fn timeouts_are_reported_with_exit_code_5() {
    let router = Router::new().method("hang", |(): ()| async move {
        std::future::pending::<Result<(), ErrorObject>>().await
    });
    let (endpoint, _) = serve_in_process(router).await;
    let hung = run(&["--timeout", "200ms", "call", &endpoint, "hang"]).await;
    assert_eq!(hung.code(), Some(TIMED_OUT), "{hung:?}");
    assert_eq!(
        hung.stderr,
        format!("error: `{endpoint}` did not answer `hang` within 200ms\n")
    );

    // Connecting: the last failure says why nobody accepted.
    let missing = support::endpoint("cli-missing").to_string();
    let waited = run(&["call", &missing, "add", "--timeout", "100ms"]).await;
    assert_eq!(waited.code(), Some(TIMED_OUT), "{waited:?}");
    assert!(
        waited
            .stderr
            .contains(&format!("cannot connect to `{missing}`")),
        "{waited:?}"
    );
    assert!(
        waited.stderr.contains("no server is listening"),
        "{waited:?}"
    );
}

#[tokio::test]
async fn the_demo_server_refuses_an_endpoint_in_use() {
    let demo = Demo::start("stream").await;
    let second = run(&["serve", "--demo", &demo.endpoint]).await;
    assert_eq!(second.code(), Some(6), "{second:?}");
    assert!(
        second
            .stderr
            .contains(&format!("cannot listen on `{}`", demo.endpoint)),
        "{second:?}"
    );
    // The first server is unharmed.
    let sum = run(&["call", &demo.endpoint, "add", "[1, 1]"]).await;
    assert_eq!(sum.stdout, "2\n", "{sum:?}");
}

#[test]
fn help_lists_the_exit_codes() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_tower-ipc"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    for code in ["  3  no server at the endpoint", "  5  timed out"] {
        assert!(help.contains(code), "{help}");
    }
}
