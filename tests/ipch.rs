//! Message-mode named pipes, and talking to peers written like ipc.h: C
//! programs (`.ci/windows/peers/ipch-server.c`, `ipch-client.c`) that
//! exchange NUL-terminated strings, one per message, through 512-byte
//! buffers, and open pipes with `GENERIC_READ | GENERIC_WRITE`.
//!
//! Their protocol: the answer to a request is `re:` and the request; the C
//! server answers `long:N` with N bytes of `x`.
#![cfg(windows)]

mod support;

use std::{io, process::Stdio, time::Duration};

use bytes::Bytes;
use futures::{SinkExt, StreamExt, future::join_all};
use support::{PATIENCE, windows_peer};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    time::timeout,
};
use tokio_util::codec::Framed;
use tower::{BoxError, Service, ServiceExt, service_fn};
use tower_ipc::{
    Client, Endpoint,
    codec::{LengthPrefixed, NulTerminated, PerMessage},
    transport::{BindOptions, ConnectOptions, IpcStream},
};

/// What the ipc.h-style peers read at once.
const PEER_BUFFER: usize = 512;

/// Processes start slowly under Wine.
const PROCESS_PATIENCE: Duration = Duration::from_secs(60);

/// The codec of ipc.h's protocol on a message-mode stream.
fn ipch_codec() -> PerMessage<NulTerminated> {
    PerMessage::new(NulTerminated::new())
}

fn answer_to(request: &[u8]) -> Bytes {
    let mut answer = b"re:".to_vec();
    answer.extend_from_slice(request);
    Bytes::from(answer)
}

/// A message-mode client whose messages are at most `max` bytes.
async fn message_client(endpoint: &Endpoint, max: usize) -> IpcStream {
    let options = ConnectOptions::new().timeout(PATIENCE).message_mode(max);
    endpoint.connect_with(&options).await.expect("connect")
}

/// The C server, started and listening.
struct CServer {
    _child: Child,
    endpoint: Endpoint,
}

impl CServer {
    async fn start() -> Self {
        let endpoint = support::endpoint("ipch-c-server");
        let mut child = Command::new(windows_peer("ipch-server"))
            .arg(endpoint.to_string())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start ipch-server");
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = timeout(PROCESS_PATIENCE, stdout.next_line())
            .await
            .expect("ipch-server did not start")
            .unwrap();
        assert_eq!(ready.as_deref(), Some("ready"));
        Self {
            _child: child,
            endpoint,
        }
    }
}

/// Serves ipc.h's protocol with tower-ipc on a message-mode pipe.
async fn serve_ipch(endpoint: &Endpoint) -> tokio::task::JoinHandle<io::Result<()>> {
    let options = BindOptions::new().message_mode(PEER_BUFFER);
    let listener = endpoint.bind_with(&options).await.unwrap();
    let answer = service_fn(|request: Bytes| async move { Ok::<_, BoxError>(answer_to(&request)) });
    tokio::spawn(async move {
        tower_ipc::serve(listener, ipch_codec(), answer)
            .await
            .map(drop)
    })
}

#[tokio::test]
async fn a_pipelined_client_gets_every_answer_right_from_a_c_server() {
    let server = CServer::start().await;
    let stream = message_client(&server.endpoint, PEER_BUFFER).await;
    let client = Client::new(Framed::new(stream, ipch_codec()));
    // All at once: the client writes requests while earlier ones are
    // unanswered, often several in one burst of the transport's buffer.
    let calls = (0..200).map(|i| {
        let client = client.clone();
        async move {
            let request = Bytes::from(format!("call {i}"));
            let answer = client.oneshot(request.clone()).await;
            (request, answer)
        }
    });
    let answered = timeout(PATIENCE, join_all(calls))
        .await
        .expect("calls hung");
    for (request, answer) in answered {
        assert_eq!(answer.unwrap(), answer_to(&request));
    }
}

#[tokio::test]
async fn concurrent_c_clients_get_every_answer_right_from_a_tower_ipc_server() {
    let endpoint = support::endpoint("ipch-server");
    let server = serve_ipch(&endpoint).await;
    // Three processes of 16 threads, each thread its own connection making
    // 25 calls: 48 clients at once, past the backlog of 16 instances.
    let clients = (0..3).map(|_| {
        Command::new(windows_peer("ipch-client"))
            .args([&endpoint.to_string(), "16", "25"])
            .kill_on_drop(true)
            .output()
    });
    let outputs = timeout(PROCESS_PATIENCE, join_all(clients))
        .await
        .expect("ipch-client hung");
    for output in outputs {
        let output = output.expect("run ipch-client");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stdout.contains("answered 400 of 400"),
            "{}\nstdout: {stdout}\nstderr: {stderr}",
            output.status
        );
    }
    assert!(!server.is_finished());
    server.abort();
}

#[tokio::test]
async fn an_answer_longer_than_the_client_reads_is_an_error_naming_both_sizes() {
    let server = CServer::start().await;
    let stream = message_client(&server.endpoint, PEER_BUFFER).await;
    let mut framed = Framed::new(stream, ipch_codec());
    framed.send(Bytes::from("long:600")).await.unwrap();
    let err = timeout(PATIENCE, framed.next())
        .await
        .expect("no answer")
        .expect("an answer or an error")
        .unwrap_err();
    let message = err.to_string();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{message}");
    assert!(message.contains("601 bytes"), "{message}");
    assert!(message.contains("512 bytes"), "{message}");
}

#[tokio::test]
async fn a_frame_longer_than_the_peer_reads_is_refused_naming_both_sizes_not_split() {
    let server = CServer::start().await;
    let stream = message_client(&server.endpoint, PEER_BUFFER).await;
    let mut framed = Framed::new(stream, ipch_codec());
    let err = framed.send(Bytes::from(vec![b'a'; 600])).await.unwrap_err();
    let message = err.to_string();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{message}");
    assert!(message.contains("601 bytes"), "{message}");
    assert!(message.contains("512 bytes"), "{message}");
    // Nothing of it reached the server: a new connection is served as ever.
    let stream = message_client(&server.endpoint, PEER_BUFFER).await;
    let mut framed = Framed::new(stream, ipch_codec());
    framed.send(Bytes::from("after")).await.unwrap();
    let answer = timeout(PATIENCE, framed.next()).await.unwrap().unwrap();
    assert_eq!(answer.unwrap(), "re:after");
}

/// tokio's pipes read a message longer than 4 KiB in pieces; a message-mode
/// stream reads it whole, finishing it after `ERROR_MORE_DATA`.
#[tokio::test]
async fn a_message_far_longer_than_a_read_buffer_arrives_whole() {
    let server = CServer::start().await;
    let stream = message_client(&server.endpoint, 1 << 20).await;
    let mut framed = Framed::new(stream, ipch_codec());
    for len in [100_000, 4096, 4095, 4097, 0] {
        framed
            .send(Bytes::from(format!("long:{len}")))
            .await
            .unwrap();
        let answer = timeout(PATIENCE, framed.next()).await.unwrap().unwrap();
        let answer = answer.unwrap();
        assert_eq!(answer.len(), len);
        assert!(answer.iter().all(|&b| b == b'x'));
    }
}

/// Both ends tower-ipc: frames written in bursts stay one message each,
/// whatever their size, including empty ones, and are read back whole.
#[tokio::test]
async fn frames_of_every_size_cross_a_message_pipe_one_message_each() {
    let endpoint = support::endpoint("ipch-sizes");
    let options = BindOptions::new().message_mode(1 << 20);
    let listener = endpoint.bind_with(&options).await.unwrap();
    let echo = service_fn(|frame: Bytes| async move { Ok::<_, BoxError>(frame) });
    let server =
        tokio::spawn(tower_ipc::serve(listener, LengthPrefixed::new(), echo).into_future());
    let stream = message_client(&endpoint, 1 << 20).await;
    let mut client = Client::new(Framed::new(stream, LengthPrefixed::new()));
    let sizes = [0, 1, 511, 512, 4095, 4096, 4097, 65_536, 300_000, 1 << 20];
    let frames: Vec<Bytes> = sizes
        .iter()
        .map(|&len| Bytes::from((0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>()))
        .collect();
    let calls = frames.iter().cloned().map(|frame| {
        let client = client.clone();
        client.oneshot(frame)
    });
    let answers = timeout(PATIENCE, join_all(calls)).await.unwrap();
    for (frame, answer) in frames.iter().zip(answers) {
        assert_eq!(&answer.unwrap(), frame);
    }
    // One over the maximum: refused before it is sent.
    let too_long = Bytes::from(vec![0; (1 << 20) + 1]);
    let err = client
        .ready()
        .await
        .unwrap()
        .call(too_long)
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("1048577 bytes"), "{err:?}");
    server.abort();
}

#[tokio::test]
async fn message_mode_on_a_byte_pipe_is_an_error_that_says_so() {
    let endpoint = support::endpoint("ipch-bytes");
    let _listener = endpoint.bind().await.unwrap();
    let err = endpoint
        .connect_with(&ConnectOptions::new().message_mode(PEER_BUFFER))
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains(&endpoint.to_string()), "{message}");
    assert!(message.contains("byte-type"), "{message}");
}

#[tokio::test]
async fn message_mode_on_tcp_is_refused_both_ways() {
    let endpoint = Endpoint::new("tcp://127.0.0.1:0");
    let err = endpoint
        .bind_with(&BindOptions::new().message_mode(PEER_BUFFER))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("carries bytes"), "{err}");
    let listener = endpoint.bind().await.unwrap();
    let err = listener
        .endpoint()
        .connect_with(&ConnectOptions::new().message_mode(PEER_BUFFER))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
}
