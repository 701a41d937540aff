//! A geth-style node's IPC endpoint: what web3.py, ethers, viem and alloy
//! expect of one, in the idioms every such server needs. Serves until Ctrl-C
//! or SIGTERM.
//!
//! ```text
//! cargo run --example node -- /tmp/node.ipc      # a socket path, taken as it is
//! cargo run --example node                       # the portable name `tower-ipc-node`
//! ```
//!
//! Then, from another terminal (`cargo install --path cli`):
//!
//! ```text
//! tower-ipc call /tmp/node.ipc eth_chainId
//! tower-ipc subscribe /tmp/node.ipc eth_subscribe '["newHeads"]'
//! tower-ipc subscribe /tmp/node.ipc eth_subscribe '["logs", {"address": "0xa"}]'
//! ```
//!
//! - Methods without params take `()`: clients send `[]`, `null`, `{}` or
//!   nothing, and all of them reach the handler.
//! - Optional trailing params are `Option`s (`eth_getBalance`'s block).
//! - `eth_subscribe` serves several kinds from one broadcast channel of the
//!   node's events; a subscriber that falls behind is ended with an error.
//! - A socket path from the command line is an [`Endpoint::path`], never
//!   read as a portable name.
//! - [`shutdown_signal`] stops the server gracefully on Ctrl-C and SIGTERM
//!   (what systemd sends).
//! - Errors are printed with their message: `error: cannot listen on
//!   `/tmp/node.ipc`: a running server is listening there`.

use std::{
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde_json::{Value, json};
use tokio::sync::broadcast;
use tower_ipc::{
    Endpoint,
    jsonrpc::{Broadcast, ErrorObject, JsonRpc, Router, Subscription},
    server::shutdown_signal,
};

/// What happens on the chain, sent once to every subscriber.
#[derive(Clone, Debug)]
enum Event {
    Head(u64),
    Log { address: String, data: u64 },
}

fn router(head: Arc<AtomicU64>, events: broadcast::Sender<Event>) -> Router {
    Router::new()
        .method("eth_chainId", |(): ()| async move {
            Ok::<_, ErrorObject>("0x539")
        })
        .method("net_version", |(): ()| async move {
            Ok::<_, ErrorObject>("1337")
        })
        .method("web3_clientVersion", |(): ()| async move {
            Ok::<_, ErrorObject>(concat!("tower-ipc-node/", env!("CARGO_PKG_VERSION")))
        })
        .method("eth_blockNumber", move |(): ()| {
            let number = head.load(Ordering::Relaxed);
            async move { Ok::<_, ErrorObject>(format!("{number:#x}")) }
        })
        .method(
            "eth_getBalance",
            |(_address, block): (String, Option<String>)| async move {
                let _block = block.unwrap_or_else(|| "latest".to_owned());
                Ok::<_, ErrorObject>("0x0")
            },
        )
        .subscription(
            Subscription::new("eth_subscribe", "eth_subscription", "eth_unsubscribe"),
            move |(kind, filter): (String, Option<Value>)| {
                let feed = Broadcast::new(events.subscribe());
                async move { subscribe(feed, &kind, filter) }
            },
        )
}

/// One feed per kind of `eth_subscribe`, all from the node's events.
fn subscribe(
    feed: Broadcast<Event>,
    kind: &str,
    filter: Option<Value>,
) -> Result<Broadcast<Event, Value>, ErrorObject> {
    match kind {
        "newHeads" => Ok(feed.filter_map(|event| match event {
            Event::Head(number) => Some(json!({ "number": format!("{number:#x}") })),
            Event::Log { .. } => None,
        })),
        "logs" => {
            let wanted = filter.and_then(|f| f["address"].as_str().map(str::to_owned));
            Ok(feed.filter_map(move |event| match event {
                Event::Log { address, data }
                    if wanted.as_ref().is_none_or(|wanted| *wanted == address) =>
                {
                    Some(json!({ "address": address, "data": format!("{data:#x}") }))
                }
                _ => None,
            }))
        }
        _ => Err(ErrorObject::invalid_params(format!(
            "no such subscription: {kind}"
        ))),
    }
}

/// A new block every 500 ms, with a log in every other one.
async fn produce_blocks(head: Arc<AtomicU64>, events: broadcast::Sender<Event>) {
    let mut ticks = tokio::time::interval(Duration::from_millis(500));
    loop {
        ticks.tick().await;
        let number = head.fetch_add(1, Ordering::Relaxed) + 1;
        // Nobody subscribed is not an error.
        let _ = events.send(Event::Head(number));
        if number.is_multiple_of(2) {
            let address = "0xa".to_owned();
            let _ = events.send(Event::Log {
                address,
                data: number,
            });
        }
    }
}

async fn run() -> std::io::Result<()> {
    let endpoint = match std::env::args().nth(1) {
        Some(path) => Endpoint::path(path),
        None => Endpoint::new("tower-ipc-node"),
    };
    // Installed before anything else, so a signal is never missed.
    let stop = shutdown_signal();
    let head = Arc::new(AtomicU64::new(0));
    // A subscriber more than 1024 events behind is ended.
    let (events, _) = broadcast::channel(1024);
    let listener = endpoint.bind().await?;
    println!("node listening on {endpoint}");
    tokio::spawn(produce_blocks(head.clone(), events.clone()));
    let summary = tower_ipc::serve(listener, JsonRpc::new(), router(head, events))
        .with_graceful_shutdown(stop)
        .await?;
    println!(
        "node stopped: {} connections, {} requests answered",
        summary.connections, summary.requests_completed
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
