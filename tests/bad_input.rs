//! Hostile and broken input: for each case the server keeps serving other
//! connections (a well-behaved client of every protocol checks after each)
//! and its memory stays bounded.
//!
//! The server runs in a child process (this test binary run again, see
//! `support::process`), for two reasons. A case that broke the server the
//! hard way (a stack overflow on deep nesting, an abort when a 4 GiB
//! allocation fails) would take an in-process server down with the test
//! runner, and with it every other case; a child's death is seen as refused
//! connections, naming the case. And the child's resident set size (read
//! from `/proc`, so Linux only) measures the server alone, not the test's
//! own buffers (the 100 MiB it streams, say), with the allocator's real
//! behaviour rather than an estimate of what a case could make it buffer.
//! A thread samples it every few milliseconds during each case; the peak may
//! exceed the baseline by at most [`BOUND`], far less than what the cases
//! send and more than the 8 MiB frame limit plus the buffers of the
//! connections open at once.
#![cfg(feature = "json-rpc")]

mod support;

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt, future::join_all};
use serde_json::Value;
use support::{
    PATIENCE, endpoint,
    process::{CHILD_PATIENCE, role, run_child, spawn},
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt},
    process::Child,
    time::timeout,
};
use tokio_util::codec::{Decoder, Framed};
use tower::{BoxError, service_fn};
use tower_ipc::{
    Endpoint, Server,
    codec::{JsonCodec, JsonFraming, LengthPrefixed, PipeMessage, PipeMessageCodec},
    jsonrpc::{ErrorObject, JsonRpc, JsonRpcClient, Router},
    transport::IpcStream,
};

/// How much the server may grow over its baseline during a case.
#[cfg(target_os = "linux")]
const BOUND: u64 = 64 * 1024 * 1024;

/// The largest connection limit among the child's endpoints.
const LIMIT: usize = 16;

const FRAMINGS: [(JsonFraming, &str); 3] = [
    (JsonFraming::Stream, "stream"),
    (JsonFraming::Ndjson, "ndjson"),
    (JsonFraming::ContentLength, "lsp"),
];

// ---------------------------------------------------------------------------
// The server

#[test]
#[ignore = "a child process that the other tests start"]
fn child() {
    let Some((role, endpoint)) = role() else {
        return;
    };
    assert_eq!(role, "server");
    run_child(server(endpoint));
}

/// On `<base>-<suffix>`: `lp` (length-prefixed echo), `pipe` (pipe-message
/// echo), `stream`, `ndjson`, `lsp` (JSON-RPC in each framing), and
/// `limited` and `limited-lp` (JSON-RPC and length-prefixed, at most
/// [`LIMIT`] connections).
async fn server(base: Endpoint) {
    static PINGS: AtomicUsize = AtomicUsize::new(0);
    let router = Router::new()
        .method("ping", |(): ()| async move {
            PINGS.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ErrorObject>("pong")
        })
        .method("pings", |(): ()| async move {
            Ok::<_, ErrorObject>(PINGS.load(Ordering::SeqCst))
        })
        .method("echo", |params: Value| async move {
            Ok::<_, ErrorObject>(params)
        })
        .method("slow", |(n, ms): (u64, u64)| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, ErrorObject>(n)
        });
    let bind = async |suffix: &str| at(&base, suffix).bind().await.unwrap();
    let server = Server::new();
    let limited = Server::new().max_connections(LIMIT);
    let pipe_echo = service_fn(|message: PipeMessage| async move { Ok::<_, BoxError>(message) });
    let mut servers = vec![
        tokio::spawn(
            server
                .serve(bind("lp").await, LengthPrefixed::new(), support::echo())
                .into_future(),
        ),
        tokio::spawn(
            server
                .serve(bind("pipe").await, PipeMessageCodec::new(), pipe_echo)
                .into_future(),
        ),
        tokio::spawn(
            limited
                .serve(bind("limited").await, JsonRpc::new(), router.clone())
                .into_future(),
        ),
        tokio::spawn(
            limited
                .serve(
                    bind("limited-lp").await,
                    LengthPrefixed::new(),
                    support::echo(),
                )
                .into_future(),
        ),
    ];
    for (framing, suffix) in FRAMINGS {
        let protocol = JsonRpc::new().codec(JsonCodec::new().framing(framing));
        let listener = bind(suffix).await;
        servers.push(tokio::spawn(
            server
                .serve(listener, protocol, router.clone())
                .into_future(),
        ));
    }
    let (ended, ..) = futures::future::select_all(servers).await;
    panic!("a server stopped: {ended:?}");
}

fn at(base: &Endpoint, suffix: &str) -> Endpoint {
    Endpoint::new(format!("{base}-{suffix}"))
}

// ---------------------------------------------------------------------------
// Harness

/// A server child, its baseline memory, and a sampler of its peak.
struct Harness {
    base: Endpoint,
    _child: Child,
    #[cfg(target_os = "linux")]
    pid: u32,
    #[cfg(target_os = "linux")]
    baseline: u64,
    #[cfg(target_os = "linux")]
    sampler: support::process::RssSampler,
}

impl Harness {
    /// Starts a server child and waits until every endpoint answers.
    async fn start(tag: &str) -> Self {
        let base = endpoint(tag);
        let child = spawn("server", &base);
        #[cfg(target_os = "linux")]
        let pid = child.id().expect("running");
        for suffix in [
            "lp",
            "pipe",
            "stream",
            "ndjson",
            "lsp",
            "limited",
            "limited-lp",
        ] {
            let _ = at(&base, suffix)
                .connect_timeout(CHILD_PATIENCE)
                .await
                .expect("the server child is up");
        }
        let harness = Self {
            #[cfg(target_os = "linux")]
            baseline: support::process::rss(pid).unwrap(),
            #[cfg(target_os = "linux")]
            sampler: support::process::RssSampler::start(pid),
            #[cfg(target_os = "linux")]
            pid,
            base,
            _child: child,
        };
        harness.check_serving().await;
        harness
    }

    fn at(&self, suffix: &str) -> Endpoint {
        at(&self.base, suffix)
    }

    async fn connect(&self, suffix: &str) -> IpcStream {
        support::connect(&self.at(suffix)).await
    }

    /// A well-behaved client of every protocol is served.
    async fn check_serving(&self) {
        let mut lp = Framed::new(self.connect("lp").await, LengthPrefixed::new());
        lp.send(Bytes::from("hello")).await.unwrap();
        let answer = timeout(PATIENCE, lp.next()).await.unwrap();
        assert_eq!(answer.unwrap().unwrap(), "hello");

        let mut pipe = Framed::new(self.connect("pipe").await, PipeMessageCodec::new());
        let message = PipeMessage::new("greeting", Bytes::from("hello")).unwrap();
        pipe.send(message.clone()).await.unwrap();
        let answer = timeout(PATIENCE, pipe.next()).await.unwrap();
        assert_eq!(answer.unwrap().unwrap(), message);

        // (The limited endpoints are the flood's, which checks them itself.)
        for (framing, suffix) in FRAMINGS {
            let client = JsonRpcClient::builder()
                .codec(JsonCodec::new().framing(framing))
                .build(self.connect(suffix).await);
            let answer = timeout(PATIENCE, client.call::<String, _>("ping", ())).await;
            assert_eq!(answer.unwrap().unwrap(), "pong", "{suffix}");
        }
    }

    /// The server is still serving, and has not grown past the bound.
    async fn check(&self, case: &str) {
        self.check_serving().await;
        #[cfg(target_os = "linux")]
        {
            use support::process::mib;
            let peak = self.sampler.peak();
            let now = support::process::rss(self.pid).unwrap();
            let growth = peak.saturating_sub(self.baseline);
            println!(
                "{case}: the server grew by {:.1} MiB at most (baseline {:.1}, peak {:.1}, now {:.1} MiB)",
                mib(growth),
                mib(self.baseline),
                mib(peak),
                mib(now)
            );
            assert!(growth < BOUND, "{case}: grew by {:.1} MiB", mib(growth));
        }
        #[cfg(not(target_os = "linux"))]
        println!("{case}: the server is still serving");
    }
}

/// Everything `reader` yields until it ends, fails or stays silent for the
/// patience (the caller then has what the server sent).
async fn read_all(mut reader: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut received = Vec::new();
    let mut chunk = vec![0; 64 * 1024];
    while let Ok(Ok(n)) = timeout(PATIENCE, reader.read(&mut chunk)).await {
        if n == 0 {
            break;
        }
        received.extend_from_slice(&chunk[..n]);
    }
    received
}

/// Writes `bytes` and then closes the writing side, returning what the
/// server sent until it closed (Unix); on Windows, hangs up and returns
/// nothing.
async fn exchange(stream: IpcStream, bytes: impl IntoIterator<Item = Bytes>) -> Vec<u8> {
    let (reader, mut writer) = tokio::io::split(stream);
    let reading = tokio::spawn(read_all(reader));
    for chunk in bytes {
        // The server may close first; what it said is still read.
        if writer.write_all(&chunk).await.is_err() {
            break;
        }
    }
    if cfg!(unix) {
        let _ = writer.shutdown().await;
    } else {
        // A named pipe has no half-close, so there is no telling when the
        // answers are all in: on Windows the case's own answers go
        // unchecked (Unix checks them), and what counts is that the server
        // still serves others and stays small. Hang up once it has read.
        tokio::time::sleep(Duration::from_millis(500)).await;
        reading.abort();
        return Vec::new();
    }
    let received = timeout(PATIENCE * 6, reading)
        .await
        .expect("the server closes or goes quiet")
        .unwrap();
    drop(writer);
    received
}

/// The JSON-RPC answers in `bytes`, framed as `framing`; panics on anything
/// that is not a JSON-RPC answer (raw text, say).
fn answers(framing: JsonFraming, bytes: &[u8]) -> Vec<Value> {
    let mut codec = JsonCodec::new().framing(framing);
    let mut buffer = BytesMut::from(bytes);
    let mut answers = Vec::new();
    while let Some(frame) = codec.decode_eof(&mut buffer).expect("framed answers") {
        let value: Value = serde_json::from_slice(&frame).unwrap_or_else(|err| {
            panic!("not JSON ({err}): {:?}", String::from_utf8_lossy(&frame))
        });
        match value {
            Value::Array(batch) => answers.extend(batch),
            one => answers.push(one),
        }
    }
    for answer in &answers {
        assert_eq!(answer["jsonrpc"], "2.0", "{answer}");
        assert!(
            answer.get("result").is_some() != answer.get("error").is_some(),
            "{answer}"
        );
    }
    answers
}

/// The answer with `id`; there must be exactly one.
fn by_id<'a>(answers: &'a [Value], id: &Value) -> &'a Value {
    let found: Vec<&Value> = answers.iter().filter(|a| a["id"] == *id).collect();
    assert_eq!(found.len(), 1, "one answer with id {id}: {answers:?}");
    found[0]
}

/// The answer to [`PING`], sent after each case.
fn pong(answers: &[Value]) {
    assert_eq!(by_id(answers, &Value::from("after"))["result"], "pong");
}

/// How many answers are errors with a null id (bad frames).
fn null_id_errors(answers: &[Value]) -> Vec<i64> {
    answers
        .iter()
        .filter(|answer| answer["id"].is_null())
        .map(error_code)
        .collect()
}

fn error_code(answer: &Value) -> i64 {
    answer["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("an error answer: {answer}"))
}

/// `body` framed as `framing` expects on the wire.
fn framed(framing: JsonFraming, body: &[u8]) -> Bytes {
    let mut wire = BytesMut::new();
    match framing {
        JsonFraming::ContentLength => {
            wire.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            wire.extend_from_slice(body);
        }
        _ => {
            wire.extend_from_slice(body);
            wire.extend_from_slice(b"\n");
        }
    }
    wire.freeze()
}

/// A seeded generator, so a failing case can be replayed.
struct XorShift(u64);

impl XorShift {
    fn bytes(&mut self, n: usize) -> Bytes {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                (self.0 >> 24) as u8
            })
            .collect()
    }
}

const PING: &[u8] = br#"{"jsonrpc":"2.0","id":"after","method":"ping"}"#;

// ---------------------------------------------------------------------------
// The cases

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_truncated_by_eof_ends_only_its_connection() {
    let harness = Harness::start("bad-truncated").await;
    // A header announcing 100 bytes, and 10 of them.
    let mut lp = 100u32.to_be_bytes().to_vec();
    lp.extend([7; 10]);
    let received = exchange(harness.connect("lp").await, [Bytes::from(lp)]).await;
    assert!(received.is_empty(), "no raw text: {received:?}");
    // A pipe message cut inside its type.
    let received = exchange(
        harness.connect("pipe").await,
        [Bytes::from_static(b"\x01\x0dlifeti")],
    )
    .await;
    assert!(received.is_empty(), "no raw text: {received:?}");
    // A JSON value cut short in each framing: nothing to answer.
    let cut = br#"{"jsonrpc":"2.0","id":1,"method":"ping""#;
    for (framing, suffix) in FRAMINGS {
        let mut wire = framed(framing, PING).to_vec();
        match framing {
            JsonFraming::ContentLength => {
                wire.extend_from_slice(b"Content-Length: 100\r\n\r\n");
                wire.extend_from_slice(cut);
            }
            _ => wire.extend_from_slice(cut),
        }
        let received = exchange(harness.connect(suffix).await, [Bytes::from(wire)]).await;
        let answers = answers(framing, &received);
        if cfg!(unix) {
            // The complete request before it is answered; an NDJSON line
            // ended by EOF is complete too, and not JSON.
            let expected = if framing == JsonFraming::Ndjson { 2 } else { 1 };
            assert_eq!(answers.len(), expected, "{suffix}: {answers:?}");
            pong(&answers);
        }
    }
    harness.check("a frame truncated by EOF").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_length_prefix_of_4_gib_is_refused_from_the_header() {
    let harness = Harness::start("bad-4gib").await;
    let received = exchange(
        harness.connect("lp").await,
        [Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3])],
    )
    .await;
    assert!(received.is_empty(), "closed without raw text: {received:?}");
    let received = exchange(
        harness.connect("pipe").await,
        [Bytes::from_static(b"\x01\x01x\xff\xff\xff\xff\x01\x02\x03")],
    )
    .await;
    assert!(received.is_empty(), "closed without raw text: {received:?}");
    // LSP: the header is answered with the limit, and its body is skipped
    // as it comes: all that follows here is part of it.
    let mut wire = b"Content-Length: 4294967296\r\n\r\n{\"a\":".to_vec();
    wire.extend_from_slice(&framed(JsonFraming::ContentLength, PING));
    let received = exchange(harness.connect("lsp").await, [Bytes::from(wire)]).await;
    if cfg!(unix) {
        let answers = answers(JsonFraming::ContentLength, &received);
        assert_eq!(answers.len(), 1, "{answers:?}");
        assert_eq!(error_code(&answers[0]), ErrorObject::INVALID_REQUEST);
        let message = answers[0]["error"]["message"].as_str().unwrap();
        assert!(message.contains("4294967296"), "{message}");
    }
    harness.check("a length prefix of 4 GiB").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_json_string_is_refused_at_the_limit_and_skipped() {
    const CHUNK: usize = 1024 * 1024;
    const CHUNKS: usize = 100;
    let harness = Harness::start("bad-endless").await;
    for (framing, suffix) in [
        (JsonFraming::Stream, "stream"),
        (JsonFraming::Ndjson, "ndjson"),
    ] {
        let string = Bytes::from(vec![b'a'; CHUNK]);
        let wire = std::iter::once(Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":1,"method":"echo","params":[""#,
        ))
        .chain(std::iter::repeat_n(string, CHUNKS))
        .chain([Bytes::from_static(b"\"]}\n"), framed(framing, PING)]);
        let received = exchange(harness.connect(suffix).await, wire).await;
        if cfg!(unix) {
            let answers = answers(framing, &received);
            assert_eq!(answers.len(), 2, "{suffix}: {answers:?}");
            // The id came before the endless string: the refusal names it.
            let refusal = by_id(&answers, &Value::from(1));
            assert_eq!(error_code(refusal), ErrorObject::INVALID_REQUEST);
            let message = refusal["error"]["message"].as_str().unwrap();
            assert!(message.contains("maximum frame length"), "{message}");
            pong(&answers);
        }
        harness
            .check(&format!("a 100 MiB JSON string ({suffix})"))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_nested_100_000_levels_deep_is_answered_without_exhausting_the_stack() {
    const DEPTH: usize = 100_000;
    let harness = Harness::start("bad-nested").await;
    let arrays = format!("{}{}", "[".repeat(DEPTH), "]".repeat(DEPTH));
    let objects = format!("{}1{}", r#"{"a":"#.repeat(DEPTH), "}".repeat(DEPTH));
    let bodies = [
        // A batch whose one entry is 100,000 arrays deep.
        arrays.clone(),
        // Objects 100,000 deep.
        objects.clone(),
        // A request with params that deep, in both shapes.
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"echo","params":{arrays}}}"#),
        format!(r#"{{"jsonrpc":"2.0","id":2,"method":"echo","params":{objects}}}"#),
        // Deep in an unknown member.
        format!(r#"{{"jsonrpc":"2.0","id":3,"method":"ping","extra":{arrays}}}"#),
    ];
    for (framing, suffix) in FRAMINGS {
        let wire: Vec<Bytes> = bodies
            .iter()
            .map(|body| framed(framing, body.as_bytes()))
            .chain([framed(framing, PING)])
            .collect();
        let received = exchange(harness.connect(suffix).await, wire).await;
        if cfg!(unix) {
            let answers = answers(framing, &received);
            assert_eq!(answers.len(), 6, "{suffix}: {answers:?}");
            // The batch's entry and the bare objects are no requests.
            assert_eq!(
                null_id_errors(&answers),
                [ErrorObject::INVALID_REQUEST, ErrorObject::INVALID_REQUEST],
                "{suffix}"
            );
            // Params too deep to parse are invalid params, not a crash.
            for id in [1, 2] {
                let answer = by_id(&answers, &Value::from(id));
                assert_eq!(error_code(answer), ErrorObject::INVALID_PARAMS, "{answer}");
            }
            // An unknown member is ignored, however deep.
            assert_eq!(by_id(&answers, &Value::from(3))["result"], "pong");
            pong(&answers);
        }
    }
    harness.check("JSON nested 100,000 levels deep").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_is_answered_with_a_parse_error() {
    let harness = Harness::start("bad-utf8").await;
    let bodies: [&[u8]; 4] = [
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}",
        b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\",\"params\":[\"\xc3\x28\"]}",
        b"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\",\"\xed\xa0\x80\":1}",
        b"\xff",
    ];
    for (framing, suffix) in FRAMINGS {
        let wire: Vec<Bytes> = bodies
            .iter()
            .map(|body| framed(framing, body))
            .chain([framed(framing, PING)])
            .collect();
        let received = exchange(harness.connect(suffix).await, wire).await;
        if cfg!(unix) {
            let answers = answers(framing, &received);
            assert_eq!(answers.len(), 5, "{suffix}: {answers:?}");
            assert_eq!(null_id_errors(&answers), [ErrorObject::PARSE_ERROR; 4]);
            pong(&answers);
        }
    }
    // A pipe message's type must be UTF-8: the connection is closed.
    let received = exchange(
        harness.connect("pipe").await,
        [Bytes::from_static(b"\x01\x02\xc3\x28\x00\x00\x00\x00")],
    )
    .await;
    assert!(received.is_empty(), "closed without raw text: {received:?}");
    // Length-prefixed frames are bytes: echoed as they are.
    let mut lp = Framed::new(harness.connect("lp").await, LengthPrefixed::new());
    lp.send(Bytes::from_static(b"\xff\xfe")).await.unwrap();
    assert_eq!(lp.next().await.unwrap().unwrap(), &b"\xff\xfe"[..]);
    harness.check("invalid UTF-8").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bytes_in_every_framing_leave_the_server_serving() {
    const SEEDS: u64 = 4;
    const BYTES: usize = 256 * 1024;
    let harness = Harness::start("bad-random").await;
    for seed in 1..=SEEDS {
        let mut random = XorShift(0x9e37_79b9_7f4a_7c15 ^ seed);
        for suffix in ["lp", "pipe"] {
            let received = exchange(harness.connect(suffix).await, [random.bytes(BYTES)]).await;
            // Random bytes are almost never a valid frame; if the echo server
            // answered one, it answered with a frame, which is fine.
            let _ = received;
        }
        // Random bytes, then random bytes in JSON's alphabet, which get
        // further into the scanner.
        let alphabet = br#"{}[]",:\ 0123456789.-+eEtrufalsn"abc"#;
        for (framing, suffix) in FRAMINGS {
            let mut json = random.bytes(BYTES).to_vec();
            json.extend(
                random
                    .bytes(BYTES)
                    .iter()
                    .map(|b| alphabet[usize::from(*b) % alphabet.len()]),
            );
            let received = exchange(harness.connect(suffix).await, [Bytes::from(json)]).await;
            // Whatever came back is JSON-RPC answers, and nothing else.
            let answers = answers(framing, &received);
            println!("seed {seed}, {suffix}: {} answers", answers.len());
        }
    }
    harness.check("random bytes").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_100_000_entries_is_refused_by_the_batch_limit() {
    const ENTRIES: usize = 100_000;
    let harness = Harness::start("bad-batch").await;
    let entries: Vec<String> = (0..ENTRIES)
        .map(|id| format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#))
        .collect();
    let batch = format!("[{}]", entries.join(","));
    for (framing, suffix) in FRAMINGS {
        let wire = [framed(framing, batch.as_bytes()), framed(framing, PING)];
        let received = exchange(harness.connect(suffix).await, wire).await;
        if cfg!(unix) {
            let answers = answers(framing, &received);
            assert_eq!(answers.len(), 2, "{suffix}");
            assert_eq!(null_id_errors(&answers), [ErrorObject::LIMIT_EXCEEDED]);
            let refusal = by_id(&answers, &Value::Null);
            let message = refusal["error"]["message"].as_str().unwrap();
            assert!(message.contains("100000"), "{message}");
            pong(&answers);
        }
    }
    // None of the batch ran: the pings are those of the checks and the
    // requests after each batch.
    let client = JsonRpcClient::new(harness.connect("stream").await);
    let pings = client.call::<usize, _>("pings", ()).await.unwrap();
    assert!(pings < 100, "{pings} pings ran");
    harness.check("a batch of 100,000 entries").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_ids_in_flight_are_both_answered() {
    let harness = Harness::start("bad-duplicate").await;
    for (framing, suffix) in FRAMINGS {
        // The same id twice; the second finishes first.
        let wire = [
            framed(
                framing,
                br#"{"jsonrpc":"2.0","id":7,"method":"slow","params":[1,300]}"#,
            ),
            framed(
                framing,
                br#"{"jsonrpc":"2.0","id":7,"method":"slow","params":[2,10]}"#,
            ),
        ];
        let stream = harness.connect(suffix).await;
        let (reader, mut writer) = tokio::io::split(stream);
        for chunk in wire {
            writer.write_all(&chunk).await.unwrap();
        }
        let mut frames =
            tokio_util::codec::FramedRead::new(reader, JsonCodec::new().framing(framing));
        let mut results = Vec::new();
        for _ in 0..2 {
            let frame = timeout(PATIENCE, frames.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            let answer: Value = serde_json::from_slice(&frame).unwrap();
            assert_eq!(answer["id"], 7, "{answer}");
            results.push(answer["result"].as_u64().unwrap());
        }
        assert_eq!(results, [2, 1], "{suffix}: answered as they finished");
    }
    harness.check("duplicate ids in flight").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_past_the_limit_is_refused_with_protocol_errors() {
    const FLOOD: usize = 200;
    let harness = Harness::start("bad-flood").await;
    // Fill both limited endpoints, each connection served.
    let mut held = Vec::new();
    for _ in 0..LIMIT {
        let client = JsonRpcClient::new(harness.connect("limited").await);
        assert_eq!(client.call::<String, _>("ping", ()).await.unwrap(), "pong");
        held.push(client);
    }
    let mut held_lp = Vec::new();
    for _ in 0..LIMIT {
        let mut lp = Framed::new(harness.connect("limited-lp").await, LengthPrefixed::new());
        lp.send(Bytes::from("x")).await.unwrap();
        assert_eq!(lp.next().await.unwrap().unwrap(), "x");
        held_lp.push(lp);
    }

    // The flood: every refused JSON-RPC client reads one error object, every
    // refused codec client a clean close; never raw text.
    let refusals = (0..FLOOD).map(|n| {
        let endpoint = harness.at(if n % 2 == 0 { "limited" } else { "limited-lp" });
        tokio::spawn(async move {
            let mut stream = support::connect(&endpoint).await;
            let mut received = Vec::new();
            timeout(PATIENCE, stream.read_to_end(&mut received))
                .await
                .expect("refused in time")
                .expect("a clean close");
            (n % 2 == 0, received)
        })
    });
    for refused in join_all(refusals).await {
        let (json_rpc, received) = refused.unwrap();
        if json_rpc {
            let answers = answers(JsonFraming::Stream, &received);
            assert_eq!(answers.len(), 1, "{answers:?}");
            assert_eq!(error_code(&answers[0]), ErrorObject::LIMIT_EXCEEDED);
            assert_eq!(answers[0]["id"], Value::Null);
        } else {
            assert!(received.is_empty(), "no raw text: {received:?}");
        }
    }
    // Those already in are still served.
    for client in &held {
        assert_eq!(client.call::<String, _>("ping", ()).await.unwrap(), "pong");
    }

    // Once they leave, the server recovers: newcomers fill every slot.
    drop(held);
    drop(held_lp);
    let mut newcomers = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while newcomers.len() < LIMIT {
        assert!(tokio::time::Instant::now() < deadline, "slots not freed");
        let client = JsonRpcClient::new(harness.connect("limited").await);
        match client.call::<String, _>("ping", ()).await {
            Ok(pong) => {
                assert_eq!(pong, "pong");
                newcomers.push(client);
            }
            // Refused while the old connections are still closing (the
            // refusal's error object has a null id, so the call sees the
            // close).
            Err(err) => {
                assert!(err.is_closed(), "{err}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    harness.check("a connection flood past the limit").await;
}
