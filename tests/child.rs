//! Parent and child processes over real pipes: stdio and inherited pipes,
//! decred's pipe messages, lifetime events, readiness, parent death,
//! supervision.
//!
//! The children are this test binary itself, started again with
//! `TOWER_IPC_TEST_CHILD` naming the part to play (see `children`). That is
//! why this file has its own `main` (`harness = false` in Cargo.toml): a
//! child serving on stdout must own it from the first byte, and libtest
//! prints its banner there before any test runs. The small runner at the
//! end stands in for libtest, with the same filters and summary line.

use std::{
    process::{ExitCode, ExitStatus, Stdio},
    time::Duration,
};

use bytes::Bytes;
use futures::StreamExt;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    process::Command,
    time::timeout,
};
use tokio_util::codec::Framed;
use tower::{Service, ServiceExt};
use tower_ipc::{
    Client,
    codec::LengthPrefixed,
    process::{ChildProcess, LIFETIME_PIPE_ENV, LifetimeAction, LifetimeEvent, Supervisor},
    transport::{ChildPipes, child},
};

/// Names the part a child plays; unset in the test runner itself.
const CHILD_ENV: &str = "TOWER_IPC_TEST_CHILD";
/// The pipe numbers a `pipes` child takes over: `READ,WRITE`.
const PIPES_ENV: &str = "TOWER_IPC_TEST_PIPES";

/// Long enough for anything that must happen, on a loaded machine and under
/// Wine; a test waiting this long has failed.
const PATIENCE: Duration = Duration::from_secs(60);

/// decred's test vector: a `lifetimeevent` message with payload `00 00`,
/// "startup: database".
const VECTOR: [u8; 21] = [
    0x01, 0x0d, 0x6c, 0x69, 0x66, 0x65, 0x74, 0x69, 0x6d, 0x65, 0x65, 0x76, 0x65, 0x6e, 0x74, 0x02,
    0x00, 0x00, 0x00, 0x00, 0x00,
];

fn main() -> ExitCode {
    match std::env::var(CHILD_ENV) {
        Ok(part) => children::run(&part),
        Err(_) => runner::run(&[
            ("test_vector_crosses_real_pipes_both_ways", || {
                block_on(test_vector_crosses_real_pipes_both_ways())
            }),
            ("stdio_child_serves_until_its_stdin_closes", || {
                block_on(stdio_child_serves_until_its_stdin_closes())
            }),
            (
                "a_json_rpc_child_on_stdio_calls_back_its_parent_and_is_answered",
                || block_on(a_json_rpc_child_on_stdio_calls_back_its_parent_and_is_answered()),
            ),
            (
                "inherited_pipes_carry_requests_and_leave_stdout_free",
                || block_on(inherited_pipes_carry_requests_and_leave_stdout_free()),
            ),
            ("bad_pipe_numbers_are_refused_with_the_number", || {
                block_on(bad_pipe_numbers_are_refused_with_the_number())
            }),
            (
                "lifetime_variable_inherited_by_a_grandchild_is_refused",
                || block_on(lifetime_variable_inherited_by_a_grandchild_is_refused()),
            ),
            (
                "wait_ready_sees_startup_steps_then_startup_complete",
                || block_on(wait_ready_sees_startup_steps_then_startup_complete()),
            ),
            ("wait_ready_times_out_naming_the_child_and_the_wait", || {
                block_on(wait_ready_times_out_naming_the_child_and_the_wait())
            }),
            ("wait_ready_reports_a_child_that_exits_first", || {
                block_on(wait_ready_reports_a_child_that_exits_first())
            }),
            (
                "parent_death_lets_the_child_finish_its_work_and_exit_cleanly",
                || block_on(parent_death_lets_the_child_finish_its_work_and_exit_cleanly()),
            ),
            (
                "supervisor_restarts_a_crashed_child_and_shuts_down_by_closing_stdin",
                || block_on(supervisor_restarts_a_crashed_child_and_shuts_down_by_closing_stdin()),
            ),
            ("supervisor_restarts_a_child_whose_connection_fails", || {
                block_on(supervisor_restarts_a_child_whose_connection_fails())
            }),
            ("supervisor_kills_a_child_that_ignores_shutdown", || {
                block_on(supervisor_kills_a_child_that_ignores_shutdown())
            }),
            (
                "supervisor_start_fails_when_the_first_child_is_not_ready",
                || block_on(supervisor_start_fails_when_the_first_child_is_not_ready()),
            ),
        ]),
    }
}

fn block_on(test: impl Future<Output = ()>) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(test);
}

/// This test binary as a child playing `part`; its stderr is discarded
/// unless a test wants it.
fn child_command(part: &str) -> Command {
    let exe = std::env::current_exe().expect("the test executable");
    let mut command = Command::new(exe);
    command
        .env(CHILD_ENV, part)
        .stderr(Stdio::null())
        .kill_on_drop(true);
    command
}

async fn wait(process: &mut tokio::process::Child) -> ExitStatus {
    timeout(PATIENCE, process.wait())
        .await
        .expect("the child exits")
        .expect("wait for the child")
}

async fn call(client: &mut Client<Bytes, Bytes>, request: &'static str) -> Bytes {
    let ready = timeout(PATIENCE, client.ready())
        .await
        .expect("ready in time");
    let answer = ready.expect("ready").call(Bytes::from(request));
    timeout(PATIENCE, answer)
        .await
        .expect("answered in time")
        .expect("answered")
}

// ---------------------------------------------------------------------------
// Pipe messages and plain connections

async fn test_vector_crosses_real_pipes_both_ways() {
    let (mut io, mut process) = child::spawn(&mut child_command("vector")).expect("spawn");

    // The child's reporter writes decred's bytes for "startup: database".
    let mut first = [0; VECTOR.len()];
    timeout(PATIENCE, io.read_exact(&mut first))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(first, VECTOR);

    // The child decodes the vector we send and answers with the shutdown
    // event for the same action, proving it read type and payload.
    io.write_all(&VECTOR).await.expect("write");
    io.flush().await.expect("flush");
    let mut answer = Vec::new();
    timeout(PATIENCE, io.read_to_end(&mut answer))
        .await
        .expect("in time")
        .expect("read");
    let mut expected = VECTOR;
    expected[VECTOR.len() - 2] = 0x02; // event 2: shutdown
    assert_eq!(answer, expected);
    assert!(wait(&mut process).await.success());
}

async fn stdio_child_serves_until_its_stdin_closes() {
    let mut command = child_command("worker");
    // Only a child started with a lifetime pipe may see the variable.
    command.env(LIFETIME_PIPE_ENV, "3:not-for-you");
    let (io, mut process) = child::spawn(&mut command).expect("spawn");
    let mut client = Client::new(Framed::new(io, LengthPrefixed::new()));

    let pid = call(&mut client, "pid").await;
    assert_eq!(pid, process.id().expect("running").to_string());
    assert_eq!(call(&mut client, "echo:hello").await, "hello");

    // Dropping the last handle closes the child's stdin: it exits cleanly.
    drop(client);
    assert!(wait(&mut process).await.success());
}

/// Both directions over a child's stdin and stdout, as an editor and its
/// language server: the child's handler asks its parent for settings and
/// logs to it before answering.
async fn a_json_rpc_child_on_stdio_calls_back_its_parent_and_is_answered() {
    use std::sync::{Arc, Mutex};

    use serde_json::{Value, json};
    use tower_ipc::{
        codec::{JsonCodec, JsonFraming},
        jsonrpc::{ErrorObject, JsonRpcClient, Router},
    };

    let (io, mut process) = child::spawn(&mut child_command("rpc-peer")).expect("spawn");
    let log = Arc::new(Mutex::new(Vec::new()));
    let record = log.clone();
    let parent = Router::new()
        .method("workspace/configuration", |_: Value| async move {
            Ok::<_, ErrorObject>(json!([{ "tabSize": 4 }]))
        })
        .method("window/logMessage", move |(message,): (Value,)| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push(message["message"].to_string());
                Ok::<_, ErrorObject>(())
            }
        });
    let client = JsonRpcClient::builder()
        .codec(JsonCodec::new().framing(JsonFraming::ContentLength))
        .serve(parent)
        .build(io);
    let answer: Value = timeout(PATIENCE, client.call("initialize", ()))
        .await
        .expect("answered in time")
        .expect("answered");
    assert_eq!(answer, json!({ "tabSize": 4, "pid": process.id() }));
    assert_eq!(*log.lock().unwrap(), [r#""hello from the child""#]);
    drop(client);
    assert!(wait(&mut process).await.success());
}

async fn inherited_pipes_carry_requests_and_leave_stdout_free() {
    let pipes = ChildPipes::new().expect("pipes");
    let mut command = child_command("pipes");
    command
        .env(
            PIPES_ENV,
            format!("{},{}", pipes.child_read(), pipes.child_write()),
        )
        .stdout(Stdio::piped());
    let (io, mut process) = pipes.spawn(&mut command).expect("spawn");
    let mut stdout = process.stdout.take().expect("stdout piped");

    let mut client = Client::new(Framed::new(io, LengthPrefixed::new()));
    assert_eq!(
        call(&mut client, "echo:over inherited pipes").await,
        "over inherited pipes"
    );
    drop(client);
    assert!(wait(&mut process).await.success());

    let mut printed = String::new();
    stdout.read_to_string(&mut printed).await.expect("stdout");
    assert_eq!(printed, "stdout is still mine\n");
}

async fn bad_pipe_numbers_are_refused_with_the_number() {
    let pipes = ChildPipes::new().expect("pipes");
    let mut command = child_command("bad-pipes");
    command
        .env(
            PIPES_ENV,
            format!("{},{}", pipes.child_read(), pipes.child_write()),
        )
        .stdout(Stdio::piped());
    let (_io, mut process) = pipes.spawn(&mut command).expect("spawn");
    let mut printed = String::new();
    let mut stdout = process.stdout.take().expect("stdout piped");
    stdout.read_to_string(&mut printed).await.expect("stdout");
    assert!(wait(&mut process).await.success(), "{printed}");

    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 4, "{printed}");
    assert!(
        lines[0].contains("999") && lines[0].contains("not open"),
        "{printed}"
    );
    assert!(lines[1].contains("stdout"), "{printed}");
    assert!(lines[2].contains("both 7"), "{printed}");
    if cfg!(unix) {
        // Windows cannot tell the two ends of a pipe apart cheaply.
        assert!(lines[3].contains("not open for reading"), "{printed}");
    }
}

async fn lifetime_variable_inherited_by_a_grandchild_is_refused() {
    // The child takes its lifetime pipe over, then starts a grandchild with
    // a plain command, which inherits the variable but not the pipe; the
    // grandchild must refuse the variable rather than write into whatever
    // the number names there. The child relays what it said on stdout.
    let mut child = ChildProcess::spawn(&mut child_command("lifetime-grandparent")).expect("spawn");
    child.wait_ready(PATIENCE).await.expect("ready");
    let (mut io, _events, mut process) = child.into_parts();
    let mut printed = String::new();
    timeout(PATIENCE, io.read_to_string(&mut printed))
        .await
        .expect("in time")
        .expect("read");
    assert!(wait(&mut process).await.success(), "{printed}");
    assert!(printed.starts_with(LIFETIME_PIPE_ENV), "{printed}");
    assert!(
        printed.contains("is not open") || printed.contains("not the pipe the parent made"),
        "{printed}"
    );
}

// ---------------------------------------------------------------------------
// Readiness

async fn wait_ready_sees_startup_steps_then_startup_complete() {
    let mut child = ChildProcess::spawn(&mut child_command("worker")).expect("spawn");
    child.wait_ready(PATIENCE).await.expect("ready");
    // Ready is ready: asking again returns at once.
    child.wait_ready(Duration::ZERO).await.expect("still ready");

    let (io, mut events, mut process) = child.into_parts();
    let mut client = Client::new(Framed::new(io, LengthPrefixed::new()));
    assert_eq!(call(&mut client, "echo:ready").await, "ready");
    drop(client);

    // The shutdown steps follow on the lifetime pipe, then it closes.
    let mut rest = Vec::new();
    while let Some(event) = timeout(PATIENCE, events.next()).await.expect("in time") {
        rest.push(event.expect("a lifetime event"));
    }
    assert_eq!(
        rest,
        [
            LifetimeEvent::Shutdown(LifetimeAction::P2P_SERVER),
            LifetimeEvent::Shutdown(LifetimeAction::DATABASE),
        ]
    );
    assert!(wait(&mut process).await.success());
}

async fn wait_ready_times_out_naming_the_child_and_the_wait() {
    let mut child = ChildProcess::spawn(&mut child_command("never-ready")).expect("spawn");
    // Long enough for the child to start and report its first step on a
    // loaded machine under Wine (300 ms was not, once).
    let err = child
        .wait_ready(Duration::from_secs(2))
        .await
        .expect_err("never ready");
    assert!(err.is_timeout(), "{err}");
    let message = err.to_string();
    let exe = std::env::current_exe().unwrap();
    assert_eq!(err.program(), exe.display().to_string());
    assert!(message.contains(err.program()), "{message}");
    assert!(
        message.contains(&format!("pid {}", child.id().unwrap())),
        "{message}"
    );
    assert!(message.contains("within 2s"), "{message}");
    assert!(message.contains("startup step 0"), "{message}");
}

async fn wait_ready_reports_a_child_that_exits_first() {
    let mut child = ChildProcess::spawn(&mut child_command("exit-before-ready")).expect("spawn");
    let err = child.wait_ready(PATIENCE).await.expect_err("exits");
    assert_eq!(err.exit_status().and_then(|s| s.code()), Some(3), "{err}");
    assert!(
        err.to_string()
            .contains("before reporting startup complete"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// Parent death

async fn parent_death_lets_the_child_finish_its_work_and_exit_cleanly() {
    // This test's child is a parent of its own: it starts a worker, hands it
    // a request that runs until the worker's stdin closes, and is killed.
    let mut command = child_command("parent");
    command.stderr(Stdio::piped());
    let mut parent = command.spawn().expect("spawn the parent");
    let mut log = BufReader::new(parent.stderr.take().expect("stderr piped")).lines();

    let mut lines = Vec::new();
    let started = timeout(PATIENCE, async {
        while let Some(line) = log.next_line().await.expect("stderr") {
            let holding = line.contains("holding a request");
            lines.push(line);
            if holding {
                return true;
            }
        }
        false
    })
    .await
    .expect("the worker gets the request in time");
    assert!(started, "no request reached the worker: {lines:#?}");

    parent.kill().await.expect("kill the parent");

    // The worker writes to the same stderr; it ends when the worker exits.
    timeout(PATIENCE, async {
        while let Some(line) = log.next_line().await.expect("stderr") {
            lines.push(line);
        }
    })
    .await
    .expect("the worker exits after its parent died");

    let has = |needle: &str| lines.iter().any(|line| line.contains(needle));
    assert!(has("finished the held request"), "{lines:#?}");
    assert!(has("an answer could not be written"), "{lines:#?}");
    assert!(has("exiting cleanly"), "{lines:#?}");
}

// ---------------------------------------------------------------------------
// Supervision

async fn supervisor_restarts_a_crashed_child_and_shuts_down_by_closing_stdin() {
    let supervisor = Supervisor::builder()
        .ready_timeout(PATIENCE)
        .restart_backoff(Duration::from_millis(10), Duration::from_millis(100))
        .grace_period(PATIENCE)
        .start(|| child_command("worker"), LengthPrefixed::new())
        .await
        .expect("started");
    let mut client = supervisor.client();
    let mut call = async |request: &'static str| {
        let ready = timeout(PATIENCE, client.ready()).await.expect("in time")?;
        let answer = ready.call(Bytes::from(request));
        timeout(PATIENCE, answer).await.expect("in time")
    };

    let first = call("pid").await.expect("answered");
    assert_eq!(
        Some(first.clone()),
        supervisor.pid().map(|pid| pid.to_string().into())
    );
    assert_eq!(supervisor.restarts(), 0);

    let err = call("crash").await.expect_err("the child dies");
    assert!(err.is_closed(), "{err}");
    assert!(err.to_string().contains(supervisor.program()), "{err}");

    // The next call waits for the next child.
    let second = call("pid").await.expect("answered by the new child");
    assert_ne!(first, second);
    assert_eq!(supervisor.restarts(), 1);

    // Shutdown closes stdin; the worker answers nothing more and exits 0.
    let status = timeout(PATIENCE, supervisor.shutdown())
        .await
        .expect("in time")
        .expect("shut down")
        .expect("a child was running");
    assert!(status.success(), "{status}");
    let err = call("pid").await.expect_err("stopped");
    assert!(err.is_stopped(), "{err}");
    assert!(err.to_string().contains("has stopped"), "{err}");
}

async fn supervisor_restarts_a_child_whose_connection_fails() {
    // This side's codec refuses answers over 16 bytes; the worker's does
    // not. An answer too long breaks the connection while the child lives:
    // the supervisor closes its stdin, lets it exit, and starts another.
    let supervisor = Supervisor::builder()
        .ready_timeout(PATIENCE)
        .restart_backoff(Duration::from_millis(10), Duration::from_millis(100))
        .grace_period(PATIENCE)
        .start(
            || child_command("worker"),
            LengthPrefixed::new().max_frame_length(16),
        )
        .await
        .expect("started");
    let mut client = supervisor.client();
    let mut call = async |request: &'static str| {
        let ready = timeout(PATIENCE, client.ready()).await.expect("in time")?;
        let answer = ready.call(Bytes::from(request));
        timeout(PATIENCE, answer).await.expect("in time")
    };

    let first = call("pid").await.expect("answered");
    let err = call("big")
        .await
        .expect_err("the answer is too long for this side");
    assert!(err.is_closed(), "{err}");
    assert!(
        err.to_string().contains("exceeds the maximum frame length"),
        "{err}"
    );

    let second = call("pid").await.expect("answered by the new child");
    assert_ne!(first, second);
    assert_eq!(supervisor.restarts(), 1);
    let status = timeout(PATIENCE, supervisor.shutdown())
        .await
        .expect("in time")
        .expect("shut down");
    assert!(status.expect("a child was running").success());
}

async fn supervisor_kills_a_child_that_ignores_shutdown() {
    let supervisor = Supervisor::builder()
        .ready_timeout(PATIENCE)
        .grace_period(Duration::from_millis(200))
        .start(|| child_command("stubborn"), LengthPrefixed::new())
        .await
        .expect("started");
    let status = timeout(PATIENCE, supervisor.shutdown())
        .await
        .expect("in time")
        .expect("shut down")
        .expect("a child was running");
    // It was killed: not the exit code it would have chosen.
    assert!(!status.success(), "{status}");
}

async fn supervisor_start_fails_when_the_first_child_is_not_ready() {
    let started = Supervisor::builder()
        .ready_timeout(PATIENCE)
        .start(|| child_command("exit-before-ready"), LengthPrefixed::new())
        .await;
    let err = started.expect_err("the child exits before it is ready");
    assert_eq!(err.exit_status().and_then(|s| s.code()), Some(3), "{err}");

    let missing = Supervisor::builder()
        .start(
            || Command::new("tower-ipc-no-such-program"),
            LengthPrefixed::new(),
        )
        .await
        .expect_err("no such program");
    assert!(
        missing
            .to_string()
            .contains("cannot start `tower-ipc-no-such-program`"),
        "{missing}"
    );
}

// ---------------------------------------------------------------------------
// The children

mod children {
    use std::{
        pin::Pin,
        process::ExitCode,
        task::{Context, Poll},
    };

    use bytes::Bytes;
    use futures::StreamExt;
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
    use tokio_util::{codec::FramedRead, sync::CancellationToken};
    use tower::{Service, ServiceExt, service_fn};
    use tower_ipc::{
        Client, Server,
        codec::{LengthPrefixed, PipeMessageCodec},
        process::{ChildProcess, LifetimeAction, LifetimeEvent, LifetimeReporter},
        transport::PipeStream,
    };

    use super::{PATIENCE, PIPES_ENV, child_command};

    pub(super) fn run(part: &str) -> ExitCode {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            match part {
                "vector" => vector().await,
                "worker" => worker().await,
                "rpc-peer" => rpc_peer().await,
                "pipes" => pipes().await,
                "bad-pipes" => bad_pipes(),
                "lifetime-check" => lifetime_check(),
                "lifetime-grandparent" => lifetime_grandparent().await,
                "never-ready" => never_ready().await,
                "exit-before-ready" => exit_before_ready().await,
                "stubborn" => stubborn().await,
                "parent" => parent().await,
                _ => {
                    eprintln!("unknown child part `{part}`");
                    ExitCode::from(2)
                }
            }
        })
    }

    /// Reports "startup: database" on stdout, then answers the lifetime
    /// event it reads from stdin with the shutdown event for its action.
    async fn vector() -> ExitCode {
        let (read, write) = tokio::io::split(PipeStream::stdio().expect("stdio"));
        let mut lifetime = LifetimeReporter::new(write);
        lifetime
            .startup(LifetimeAction::DATABASE)
            .await
            .expect("report");
        let mut messages = FramedRead::new(read, PipeMessageCodec::new());
        let message = messages.next().await.expect("a message").expect("valid");
        let Some(LifetimeEvent::Startup(action)) =
            LifetimeEvent::from_message(&message).expect("a lifetime event")
        else {
            return ExitCode::from(4);
        };
        lifetime.shutdown(action).await.expect("report");
        ExitCode::SUCCESS
    }

    /// Serves JSON-RPC with `Content-Length` headers on stdio until stdin
    /// closes: `initialize` logs to the parent, asks it for its settings,
    /// and answers them with this process's id.
    async fn rpc_peer() -> ExitCode {
        use serde_json::{Value, json};
        use tower_ipc::{
            codec::{JsonCodec, JsonFraming},
            jsonrpc::{CallContext, ErrorObject, JsonRpc, Router},
        };

        let router = Router::new().method("initialize", |cx: CallContext, (): ()| async move {
            cx.peer()
                .notify(
                    "window/logMessage",
                    [json!({ "message": "hello from the child" })],
                )
                .await
                .map_err(ErrorObject::internal_error)?;
            let settings: Value = cx
                .peer()
                .call("workspace/configuration", [json!({ "section": "demo" })])
                .await
                .map_err(ErrorObject::internal_error)?;
            let mut settings = settings[0].clone();
            settings["pid"] = json!(std::process::id());
            Ok::<_, ErrorObject>(settings)
        });
        let protocol = JsonRpc::new().codec(JsonCodec::new().framing(JsonFraming::ContentLength));
        let served = Server::new()
            .serve_connection(PipeStream::stdio().expect("stdio"), protocol, router)
            .await;
        match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("rpc-peer: {err}");
                ExitCode::FAILURE
            }
        }
    }

    /// Reports two startup steps and startup complete when asked for
    /// lifetime events, serves length-prefixed commands on stdio until stdin
    /// closes, reports two shutdown steps, and says on stderr how it went.
    async fn worker() -> ExitCode {
        let pid = std::process::id();
        let mut lifetime = LifetimeReporter::from_env().expect("lifetime pipe");
        let _ = lifetime.startup(LifetimeAction::DATABASE).await;
        let _ = lifetime.startup(LifetimeAction::P2P_SERVER).await;
        let _ = lifetime.startup_complete().await;

        let input_closed = CancellationToken::new();
        let stdio = NotifyOnEof {
            inner: PipeStream::stdio().expect("stdio"),
            eof: input_closed.clone(),
        };
        let service = service_fn(move |request: Bytes| {
            let input_closed = input_closed.clone();
            async move {
                let answer = match &request[..] {
                    b"pid" => Bytes::from(pid.to_string()),
                    b"big" => Bytes::from(vec![b'x'; 100]),
                    b"crash" => std::process::exit(3),
                    b"hold" => {
                        eprintln!("worker {pid}: holding a request until stdin closes");
                        input_closed.cancelled().await;
                        eprintln!("worker {pid}: finished the held request after stdin closed");
                        Bytes::from_static(b"held")
                    }
                    other => match other.strip_prefix(b"echo:") {
                        Some(text) => Bytes::copy_from_slice(text),
                        None => Bytes::from_static(b"unknown command"),
                    },
                };
                Ok::<_, std::io::Error>(answer)
            }
        });
        let served = Server::new()
            .serve_connection(stdio, LengthPrefixed::new(), service)
            .await
            .map_err(std::io::Error::from);
        match served {
            Ok(()) => eprintln!("worker {pid}: stdin closed; every answer was written"),
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => {
                eprintln!("worker {pid}: stdin closed; an answer could not be written: {err}");
            }
            Err(err) => {
                eprintln!("worker {pid}: serving failed: {err}");
                return ExitCode::FAILURE;
            }
        }
        let _ = lifetime.shutdown(LifetimeAction::P2P_SERVER).await;
        let _ = lifetime.shutdown(LifetimeAction::DATABASE).await;
        eprintln!("worker {pid}: exiting cleanly");
        ExitCode::SUCCESS
    }

    /// Serves echo on the two pipes named in `PIPES_ENV`, after a line on
    /// stdout, which is still its own.
    async fn pipes() -> ExitCode {
        let (read, write) = pipe_numbers();
        println!("stdout is still mine");
        // SAFETY: the parent opened these two pipes for this process, and
        // nothing else in it uses them.
        #[allow(unsafe_code)]
        let pipes = unsafe { PipeStream::from_raw(read, write) }.expect("inherited pipes");
        let echo = service_fn(|request: Bytes| async move {
            let text = request.strip_prefix(b"echo:").unwrap_or(&request[..]);
            Ok::<_, std::io::Error>(Bytes::copy_from_slice(text))
        });
        match Server::new()
            .serve_connection(pipes, LengthPrefixed::new(), echo)
            .await
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("pipes: {err}");
                ExitCode::FAILURE
            }
        }
    }

    /// Prints, one per line, why each of four bad pairs is refused: a
    /// number that is not open, stdout, one number twice, and the parent's
    /// two pipes the wrong way round.
    fn bad_pipes() -> ExitCode {
        let (read, write) = pipe_numbers();
        for (read, write) in [(999, write), (read, stdout_number()), (7, 7), (write, read)] {
            // SAFETY: every pair here is refused before anything is taken
            // over (that is what is tested); the last pair, if it were
            // accepted, names pipes the parent made for this process.
            #[allow(unsafe_code)]
            let result = unsafe { PipeStream::from_raw(read, write) };
            match result {
                Ok(_) => println!("accepted {read},{write}"),
                Err(err) => println!("{err}"),
            }
        }
        ExitCode::SUCCESS
    }

    /// Takes its lifetime pipe over, then relays on stdout what a
    /// grandchild started with a plain command makes of the variable.
    async fn lifetime_grandparent() -> ExitCode {
        let mut lifetime = LifetimeReporter::from_env().expect("lifetime pipe");
        let _ = lifetime.startup_complete().await;
        let mut grandchild = child_command("lifetime-check");
        let output = grandchild.output().await.expect("run the grandchild");
        let mut stdio = PipeStream::stdio().expect("stdio");
        stdio.write_all(&output.stdout).await.expect("relay");
        stdio.shutdown().await.expect("close stdout");
        if output.status.success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }

    /// Prints what it makes of the lifetime variable it inherited.
    fn lifetime_check() -> ExitCode {
        match LifetimeReporter::from_env() {
            Ok(reporter) => println!("accepted: {reporter:?}"),
            Err(err) => println!("{err}"),
        }
        ExitCode::SUCCESS
    }

    /// Reports a startup step and never completes; exits when stdin closes.
    async fn never_ready() -> ExitCode {
        let mut lifetime = LifetimeReporter::from_env().expect("lifetime pipe");
        let _ = lifetime.startup(LifetimeAction::DATABASE).await;
        let mut stdio = PipeStream::stdio().expect("stdio");
        let _ = stdio.read_to_end(&mut Vec::new()).await;
        ExitCode::SUCCESS
    }

    /// Reports a startup step, then fails.
    async fn exit_before_ready() -> ExitCode {
        let mut lifetime = LifetimeReporter::from_env().expect("lifetime pipe");
        let _ = lifetime.startup(LifetimeAction::DATABASE).await;
        ExitCode::from(3)
    }

    /// Gets ready, then ignores its stdin closing.
    async fn stubborn() -> ExitCode {
        let mut lifetime = LifetimeReporter::from_env().expect("lifetime pipe");
        let _ = lifetime.startup_complete().await;
        tokio::time::sleep(PATIENCE * 10).await;
        ExitCode::SUCCESS
    }

    /// Starts a worker, hands it a request that runs until the worker's
    /// stdin closes, and waits to be killed.
    async fn parent() -> ExitCode {
        let mut command = child_command("worker");
        // The worker must outlive this process, and log where the test
        // reads: this process's stderr.
        command
            .kill_on_drop(false)
            .stderr(std::process::Stdio::inherit());
        let mut worker = ChildProcess::spawn(&mut command).expect("spawn the worker");
        worker.wait_ready(PATIENCE).await.expect("worker ready");
        let (io, _events, _process) = worker.into_parts();
        let mut client = Client::new(tokio_util::codec::Framed::new(io, LengthPrefixed::new()));
        let ready = client.ready().await.expect("ready");
        let held = ready.call(Bytes::from_static(b"hold"));
        let _ = held.await;
        // Only reached if the worker answered while this process lived.
        eprintln!("parent: the held request was answered before the parent died");
        drop(client);
        ExitCode::FAILURE
    }

    #[cfg(unix)]
    fn stdout_number() -> u64 {
        1
    }

    #[cfg(windows)]
    fn stdout_number() -> u64 {
        use std::os::windows::io::AsRawHandle;
        std::io::stdout().as_raw_handle().addr() as u64
    }

    fn pipe_numbers() -> (u64, u64) {
        let value = std::env::var(PIPES_ENV).expect("pipe numbers");
        let (read, write) = value.split_once(',').expect("READ,WRITE");
        (
            read.parse().expect("a number"),
            write.parse().expect("a number"),
        )
    }

    /// Cancels a token when its reader reaches end-of-stream.
    struct NotifyOnEof<T> {
        inner: T,
        eof: CancellationToken,
    }

    impl<T: AsyncRead + Unpin> AsyncRead for NotifyOnEof<T> {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let this = self.get_mut();
            let before = buf.filled().len();
            let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
            if matches!(polled, Poll::Ready(Ok(())))
                && buf.filled().len() == before
                && buf.remaining() > 0
            {
                this.eof.cancel();
            }
            polled
        }
    }

    impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for NotifyOnEof<T> {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.get_mut().inner).poll_flush(cx)
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
        }
    }
}

// ---------------------------------------------------------------------------
// The runner

mod runner {
    use std::{
        collections::VecDeque,
        process::ExitCode,
        sync::{Arc, Mutex},
        time::Instant,
    };

    type Test = (&'static str, fn());

    /// Runs the tests the command line selects, as libtest would: a name
    /// filter (substring, or whole name with `--exact`), `--skip FILTER`,
    /// `--list`, `--test-threads N`; other flags are accepted and ignored.
    pub(super) fn run(tests: &[Test]) -> ExitCode {
        let mut filters = Vec::new();
        let mut skips = Vec::new();
        let (mut exact, mut list, mut ignored) = (false, false, false);
        let mut threads = std::env::var("RUST_TEST_THREADS")
            .ok()
            .and_then(|n| n.parse().ok());
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--exact" => exact = true,
                "--list" => list = true,
                "--ignored" => ignored = true,
                "--skip" => skips.extend(args.next()),
                "--test-threads" => threads = args.next().and_then(|n| n.parse().ok()),
                "--color" | "--format" | "--logfile" | "-Z" => {
                    args.next();
                }
                flag if flag.starts_with('-') => {}
                filter => filters.push(filter.to_owned()),
            }
        }
        let matches = |name: &str, filter: &String| {
            if exact {
                name == filter
            } else {
                name.contains(filter.as_str())
            }
        };
        // None of these tests is ignored, so `--ignored` selects nothing.
        let selected: Vec<Test> = tests
            .iter()
            .copied()
            .filter(|_| !ignored)
            .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| matches(name, f)))
            .filter(|(name, _)| !skips.iter().any(|s| name.contains(s.as_str())))
            .collect();
        let filtered_out = tests.len() - selected.len();

        if list {
            for (name, _) in &selected {
                println!("{name}: test");
            }
            println!("\n{} tests, 0 benchmarks", selected.len());
            return ExitCode::SUCCESS;
        }

        let plural = if selected.len() == 1 { "" } else { "s" };
        println!("\nrunning {} test{plural}", selected.len());
        let started = Instant::now();
        let queue = Arc::new(Mutex::new(selected.into_iter().collect::<VecDeque<_>>()));
        let failed = Arc::new(Mutex::new(Vec::new()));
        let passed = Arc::new(Mutex::new(0usize));
        let threads = threads
            .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
            .unwrap_or(1)
            .max(1);
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (queue, failed, passed) = (queue.clone(), failed.clone(), passed.clone());
                std::thread::spawn(move || {
                    loop {
                        let Some((name, test)) = queue.lock().unwrap().pop_front() else {
                            return;
                        };
                        let outcome = std::thread::Builder::new()
                            .name(name.to_owned())
                            .spawn(test)
                            .expect("a thread for the test")
                            .join();
                        match outcome {
                            Ok(()) => {
                                println!("test {name} ... ok");
                                *passed.lock().unwrap() += 1;
                            }
                            Err(_) => {
                                println!("test {name} ... FAILED");
                                failed.lock().unwrap().push(name);
                            }
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("runner thread");
        }

        let failed = failed.lock().unwrap();
        let passed = *passed.lock().unwrap();
        if !failed.is_empty() {
            println!("\nfailures (their panics are printed above):");
            for name in failed.iter() {
                println!("    {name}");
            }
        }
        let result = if failed.is_empty() { "ok" } else { "FAILED" };
        println!(
            "\ntest result: {result}. {passed} passed; {} failed; 0 ignored; 0 measured; \
             {filtered_out} filtered out; finished in {:.2}s\n",
            failed.len(),
            started.elapsed().as_secs_f64()
        );
        if failed.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(101)
        }
    }
}
