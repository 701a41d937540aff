//! Soak: 64 connections at once send random requests, JSON-RPC and
//! length-prefixed, pipelined, and hang up at random, some with requests in
//! flight. On the wire, every request is answered exactly once (and
//! correctly) unless its connection was dropped first; the server's summary
//! agrees; and when the server has stopped, no file descriptor (Linux) and
//! no task is left over.
//!
//! The short form runs with the suite, in seconds. The long form is ignored
//! by default:
//!
//! ```sh
//! cargo test --release --test soak -- --ignored --nocapture
//! ```
//!
//! `TOWER_IPC_SOAK_SEED` replays a run (the seed is printed).
#![cfg(feature = "json-rpc")]

mod support;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::{BufMut, Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use support::{PATIENCE, endpoint};
use tokio::time::timeout;
use tokio_util::codec::Framed;
use tower::{BoxError, service_fn};
use tower_ipc::{
    Endpoint, Server,
    codec::{JsonCodec, LengthPrefixed},
    jsonrpc::{ErrorObject, JsonRpc, Router},
    server::Summary,
};

const CONNECTIONS: usize = 64;

/// The two soaks share the process's file descriptors and tasks: one at a
/// time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn soak_short() {
    run(10_000);
}

#[test]
#[ignore = "long: cargo test --release --test soak -- --ignored --nocapture"]
fn soak_long() {
    run(10_000_000);
}

fn run(requests: u64) {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(soak(requests));
}

/// What the clients saw.
#[derive(Debug, Default)]
struct Tally {
    connections: AtomicU64,
    /// Connections dropped with requests unanswered.
    hang_ups: AtomicU64,
    sent: AtomicU64,
    answered: AtomicU64,
    /// Sent on a connection that was dropped before their answers came.
    abandoned: AtomicU64,
}

async fn soak(requests: u64) {
    let seed = std::env::var("TOWER_IPC_SOAK_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("soak of {requests} requests: TOWER_IPC_SOAK_SEED={seed}");
    let fds_before = open_fds();
    let tasks_before = alive_tasks();

    // The server: length-prefixed echo and JSON-RPC echo, both counting the
    // calls they handle and taking a random moment over some.
    let handled = Arc::new(AtomicU64::new(0));
    let lp_echo = {
        let handled = handled.clone();
        service_fn(move |frame: Bytes| {
            handled.fetch_add(1, Ordering::Relaxed);
            async move {
                if frame.len().is_multiple_of(7) {
                    tokio::task::yield_now().await;
                }
                Ok::<_, BoxError>(frame)
            }
        })
    };
    let router = {
        let handled = handled.clone();
        Router::new().method("echo", move |(n, pad): (u64, String)| {
            handled.fetch_add(1, Ordering::Relaxed);
            async move {
                if pad.len().is_multiple_of(7) {
                    tokio::task::yield_now().await;
                }
                Ok::<_, ErrorObject>(n)
            }
        })
    };
    let (lp, rpc) = (endpoint("soak-lp"), endpoint("soak-rpc"));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shutdown = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let servers = [
        tokio::spawn(
            Server::new()
                .serve(lp.bind().await.unwrap(), LengthPrefixed::new(), lp_echo)
                .with_graceful_shutdown(shutdown(stopped.clone()))
                .into_future(),
        ),
        tokio::spawn(
            Server::new()
                .serve(rpc.bind().await.unwrap(), JsonRpc::new(), router)
                .with_graceful_shutdown(shutdown(stopped))
                .into_future(),
        ),
    ];

    let started = Instant::now();
    let budget = Arc::new(AtomicU64::new(requests));
    let tally = Arc::new(Tally::default());
    let ids = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..CONNECTIONS as u64)
        .map(|worker| {
            let mut random = XorShift::new(seed ^ worker.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let (lp, rpc) = (lp.clone(), rpc.clone());
            let (budget, tally, ids) = (budget.clone(), tally.clone(), ids.clone());
            tokio::spawn(async move {
                loop {
                    // One connection in eight hangs up having read only
                    // half of its answers.
                    let hang_up = random.below(8) == 0;
                    let want = random.below(100) + 1;
                    let taken = budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                        (left > 0).then(|| left - left.min(want))
                    });
                    let Ok(left) = taken else { break };
                    let count = left.min(want);
                    let plan = Plan {
                        first_id: ids.fetch_add(count, Ordering::Relaxed),
                        count,
                        hang_up,
                        pads: (0..count).map(|_| random.below(64) as usize).collect(),
                    };
                    if random.below(2) == 0 {
                        session_lp(&lp, plan, &tally).await;
                    } else {
                        session_rpc(&rpc, plan, &tally).await;
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a client panicked");
    }
    let elapsed = started.elapsed();

    stop.send(true).unwrap();
    let mut summaries = Vec::new();
    for server in servers {
        let summary: Summary = timeout(PATIENCE, server)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
        summaries.push(summary);
    }
    let served_connections: u64 = summaries.iter().map(|s| s.connections).sum();
    let completed: u64 = summaries.iter().map(|s| s.requests_completed).sum();
    let cancelled: u64 = summaries.iter().map(|s| s.requests_cancelled).sum();
    let handled = handled.load(Ordering::Relaxed);

    let sent = tally.sent.load(Ordering::Relaxed);
    let answered = tally.answered.load(Ordering::Relaxed);
    let abandoned = tally.abandoned.load(Ordering::Relaxed);
    let connections = tally.connections.load(Ordering::Relaxed);
    println!(
        "{sent} requests on {connections} connections ({} hung up early) in {elapsed:.2?} \
         ({:.0} requests/s): {answered} answered, {abandoned} abandoned by their callers; \
         the server handled {handled}, completed {completed}, cancelled {cancelled}",
        tally.hang_ups.load(Ordering::Relaxed),
        sent as f64 / elapsed.as_secs_f64(),
    );
    assert_eq!(sent, requests, "every request of the budget was sent");
    assert_eq!(answered + abandoned, sent);
    assert_eq!(served_connections, connections);
    assert_eq!(cancelled, 0);
    // The server handled every request that was answered, and perhaps some
    // whose callers had gone; it answered (or wrote its answer for) at most
    // those it handled.
    assert!(answered <= handled && handled <= sent, "{handled}");
    assert!(answered <= completed && completed <= handled, "{completed}");

    // Nothing left behind: the tasks and descriptors of the servers and the
    // connections are all gone.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (fds, tasks) = (open_fds(), alive_tasks());
        if fds == fds_before && tasks == tasks_before {
            println!("file descriptors: {fds:?}, tasks: {tasks} (as before)");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "leak: file descriptors {fds_before:?} -> {fds:?}, tasks {tasks_before} -> {tasks}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The requests of one connection.
struct Plan {
    first_id: u64,
    count: u64,
    /// Hang up after reading half of the answers.
    hang_up: bool,
    /// Padding per request, so frames differ in length.
    pads: Vec<usize>,
}

impl Plan {
    fn to_read(&self) -> u64 {
        if self.hang_up {
            self.count / 2
        } else {
            self.count
        }
    }

    fn pad(&self, n: u64) -> usize {
        self.pads[n as usize]
    }
}

/// Length-prefixed: answers come in request order, each the request itself.
async fn session_lp(endpoint: &Endpoint, plan: Plan, tally: &Tally) {
    let framed = Framed::new(support::connect(endpoint).await, LengthPrefixed::new());
    tally.connections.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut stream) = framed.split();
    let frame = |n: u64| {
        let mut frame = BytesMut::new();
        frame.put_u64(plan.first_id + n);
        frame.put_bytes(b'p', plan.pad(n));
        frame.freeze()
    };
    let (to_send, to_read) = (plan.count, plan.to_read());
    let writing = async {
        for n in 0..to_send {
            sink.feed(frame(n)).await.expect("send");
        }
        sink.flush().await.expect("flush");
    };
    let reading = async {
        for n in 0..to_read {
            let answer = timeout(PATIENCE, stream.next())
                .await
                .expect("an answer in time")
                .expect("the server answers")
                .expect("a frame");
            assert_eq!(answer, frame(n), "answers in request order, each once");
        }
    };
    tokio::join!(writing, reading);
    settle(tally, &plan, sink, stream).await;
}

/// JSON-RPC: answers come in any order, each id once, with its result.
async fn session_rpc(endpoint: &Endpoint, plan: Plan, tally: &Tally) {
    let framed = Framed::new(support::connect(endpoint).await, JsonCodec::new());
    tally.connections.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut stream) = framed.split();
    let request = |n: u64| {
        let id = plan.first_id + n;
        Bytes::from(format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"echo","params":[{id},"{}"]}}"#,
            "p".repeat(plan.pad(n))
        ))
    };
    let (to_send, to_read) = (plan.count, plan.to_read());
    let writing = async {
        for n in 0..to_send {
            sink.feed(request(n)).await.expect("send");
        }
        sink.flush().await.expect("flush");
    };
    let reading = async {
        let mut seen = vec![false; to_send as usize];
        for _ in 0..to_read {
            let frame = timeout(PATIENCE, stream.next())
                .await
                .expect("an answer in time")
                .expect("the server answers")
                .expect("a frame");
            let answer: Value = serde_json::from_slice(&frame).expect("JSON");
            let id = answer["id"].as_u64().expect("an id of ours");
            assert_eq!(answer["result"], id, "the answer to its own request");
            let n = id
                .checked_sub(plan.first_id)
                .filter(|n| *n < to_send)
                .expect("an id sent on this connection") as usize;
            assert!(!seen[n], "id {id} answered twice");
            seen[n] = true;
        }
    };
    tokio::join!(writing, reading);
    settle(tally, &plan, sink, stream).await;
}

/// Counts a session, and ends it: by hanging up with answers on the way, or
/// (where the transport can half-close) by closing its side and checking
/// that nothing more comes than was answered.
async fn settle<S, R, T>(tally: &Tally, plan: &Plan, mut sink: S, mut stream: R)
where
    S: futures::Sink<T> + Unpin,
    S::Error: std::fmt::Debug,
    R: futures::Stream + Unpin,
    R::Item: std::fmt::Debug,
{
    tally.sent.fetch_add(plan.count, Ordering::Relaxed);
    tally.answered.fetch_add(plan.to_read(), Ordering::Relaxed);
    if plan.hang_up {
        tally.hang_ups.fetch_add(1, Ordering::Relaxed);
        tally
            .abandoned
            .fetch_add(plan.count - plan.to_read(), Ordering::Relaxed);
        return;
    }
    // (A Windows named pipe has no half-close.)
    if cfg!(unix) {
        sink.close().await.expect("half-close");
        let extra = timeout(PATIENCE, stream.next()).await.expect("EOF in time");
        assert!(extra.is_none(), "more than one answer: {extra:?}");
    }
}

/// Descriptors open in this process (Linux; `None` elsewhere).
fn open_fds() -> Option<usize> {
    #[cfg(target_os = "linux")]
    return Some(std::fs::read_dir("/proc/self/fd").unwrap().count());
    #[cfg(not(target_os = "linux"))]
    None
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}
