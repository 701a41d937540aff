//! One JSON-RPC router on IPC, HTTP and WebSocket, measured in one run:
//! round-trip latency on one connection, and throughput of 16 connections
//! with one request at a time on each (HTTP/1.1 answers one request at a
//! time per connection, so that is what all three do).
//!
//! ```text
//! cargo bench --bench web --features http,ws [-- --calls 10000 --secs 1.5]
//! ```
//!
//! The server runs on a multi-threaded runtime with a worker per core; the
//! clients run on the main thread's current-thread runtime. IPC's client is
//! tower-ipc's `JsonRpcClient` on a Unix socket (a named pipe on Windows);
//! HTTP's is hyper's, on keep-alive connections; WebSocket's is
//! tokio-tungstenite's. Each call is `echo` with a 64-character string.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tower_ipc::{
    Endpoint,
    jsonrpc::{ErrorObject, JsonRpc, JsonRpcClient, Router},
    web::Http,
};

const PAYLOAD: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const CONNECTIONS: usize = 16;

fn request(id: u64) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"echo","params":["{PAYLOAD}"]}}"#)
}

struct Options {
    calls: usize,
    secs: f64,
}

fn options() -> Options {
    let mut options = Options {
        calls: 10_000,
        secs: 1.5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--calls" => {
                options.calls = args.next().and_then(|n| n.parse().ok()).expect("--calls N")
            }
            "--secs" => options.secs = args.next().and_then(|n| n.parse().ok()).expect("--secs S"),
            // cargo bench passes --bench.
            _ => {}
        }
    }
    options
}

/// One transport's client side: a connection that makes one call at a time.
trait Caller {
    async fn call(&mut self, id: u64);
}

struct Ipc(JsonRpcClient);

impl Caller for Ipc {
    async fn call(&mut self, _id: u64) {
        let answer: String = self.0.call("echo", [PAYLOAD]).await.expect("IPC call");
        assert_eq!(answer.len(), PAYLOAD.len());
    }
}

struct HttpCaller(hyper::client::conn::http1::SendRequest<Full<Bytes>>);

impl Caller for HttpCaller {
    async fn call(&mut self, id: u64) {
        let request = http::Request::post("/")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(request(id))))
            .unwrap();
        self.0.ready().await.expect("HTTP connection");
        let answer = self.0.send_request(request).await.expect("HTTP call");
        let body = answer.into_body().collect().await.unwrap().to_bytes();
        assert!(body.len() > PAYLOAD.len());
    }
}

struct Ws(tokio_tungstenite::WebSocketStream<TcpStream>);

impl Caller for Ws {
    async fn call(&mut self, id: u64) {
        self.0
            .send(Message::text(request(id)))
            .await
            .expect("WebSocket send");
        match self.0.next().await {
            Some(Ok(Message::Text(text))) => assert!(text.len() > PAYLOAD.len()),
            other => panic!("WebSocket answer: {other:?}"),
        }
    }
}

async fn ipc(endpoint: &Endpoint) -> Ipc {
    Ipc(JsonRpcClient::new(endpoint.connect().await.unwrap()))
}

async fn http(addr: &str) -> HttpCaller {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    HttpCaller(sender)
}

async fn ws(addr: &str) -> Ws {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/"), stream)
        .await
        .unwrap();
    Ws(ws)
}

/// Median and 99th percentile of `calls` round trips, after 1,000 unmeasured.
async fn latency(caller: &mut impl Caller, calls: usize) -> (Duration, Duration) {
    for id in 0..1_000 {
        caller.call(id).await;
    }
    let mut times = Vec::with_capacity(calls);
    for id in 0..calls as u64 {
        let start = Instant::now();
        caller.call(id).await;
        times.push(start.elapsed());
    }
    times.sort_unstable();
    (times[calls / 2], times[calls * 99 / 100])
}

/// Calls per second of `callers`, each making one call at a time, for `secs`.
async fn throughput<C: Caller + 'static>(callers: Vec<C>, secs: f64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let local = tokio::task::LocalSet::new();
    let start = Instant::now();
    for mut caller in callers {
        let (done, stop) = (done.clone(), stop.clone());
        local.spawn_local(async move {
            let mut id = 0;
            while !stop.load(Ordering::Relaxed) {
                caller.call(id).await;
                id += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    local
        .run_until(async {
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
            stop.store(true, Ordering::Relaxed);
        })
        .await;
    let calls = done.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    local.await;
    calls as f64 / elapsed
}

fn main() {
    let options = options();
    let server = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let endpoint = Endpoint::new(format!("tower-ipc-bench-web-{}", std::process::id()));
    let router = Router::new().method("echo", |(text,): (String,)| async move {
        Ok::<_, ErrorObject>(text)
    });
    let addr = server.block_on(async {
        let ipc = endpoint.bind().await.unwrap();
        tokio::spawn(tower_ipc::serve(ipc, JsonRpc::new(), router.clone()).into_future());
        let web = Endpoint::tcp("127.0.0.1:0").bind().await.unwrap();
        let addr = web
            .endpoint()
            .to_string()
            .trim_start_matches("tcp://")
            .to_owned();
        tokio::spawn(tower_ipc::serve(web, Http::new().websocket(true), router).into_future());
        addr
    });

    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    client.block_on(async {
        println!("| transport | W1 median | W1 p99 | {CONNECTIONS} connections, calls/s |");
        println!("|---|---|---|---|");
        let row = |name: &str, (median, p99): (Duration, Duration), rate: f64| {
            println!(
                "| {name} | {:.1} µs | {:.1} µs | {:.0} |",
                median.as_secs_f64() * 1e6,
                p99.as_secs_f64() * 1e6,
                rate
            );
        };

        let times = latency(&mut ipc(&endpoint).await, options.calls).await;
        let mut callers = Vec::new();
        for _ in 0..CONNECTIONS {
            callers.push(ipc(&endpoint).await);
        }
        row(
            "IPC (JsonRpc)",
            times,
            throughput(callers, options.secs).await,
        );

        let times = latency(&mut http(&addr).await, options.calls).await;
        let mut callers = Vec::new();
        for _ in 0..CONNECTIONS {
            callers.push(http(&addr).await);
        }
        row(
            "HTTP (web::Http)",
            times,
            throughput(callers, options.secs).await,
        );

        let times = latency(&mut ws(&addr).await, options.calls).await;
        let mut callers = Vec::new();
        for _ in 0..CONNECTIONS {
            callers.push(ws(&addr).await);
        }
        row(
            "WebSocket (web::Http)",
            times,
            throughput(callers, options.secs).await,
        );
    });
    drop(server);
}
