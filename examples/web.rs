//! One router, three transports: the same JSON-RPC handlers on a Unix
//! socket (a named pipe on Windows), on HTTP and on WebSocket, stopped
//! together by one graceful shutdown (Ctrl-C or SIGTERM).
//!
//! ```text
//! cargo run --example web --features http,ws -- /tmp/web.ipc 127.0.0.1:8545
//! ```
//!
//! Then, from another terminal:
//!
//! ```text
//! curl -s -H 'Content-Type: application/json' \
//!   -d '{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]}' http://127.0.0.1:8545
//! tower-ipc call /tmp/web.ipc add '[1,2]'                  # cargo install --path cli
//! websocat ws://127.0.0.1:8545                             # then eth_subscribe ["newHeads"]
//! ```
//!
//! The handlers are written once, as for IPC alone; only the protocol
//! given to [`serve`](tower_ipc::serve) differs: [`JsonRpc`] for the socket,
//! [`Http`] with WebSocket on for the TCP port. Both servers watch the same
//! [`CancellationToken`]: on a signal, each stops accepting, finishes the
//! requests in flight (WebSocket connections included), and reports.

use std::{
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tower_ipc::{
    Endpoint,
    jsonrpc::{ErrorObject, JsonRpc, Router, Subscription},
    server::shutdown_signal,
    web::Http,
};

fn router(head: Arc<AtomicU64>) -> Router {
    let number = head.clone();
    Router::new()
        .method("add", |(a, b): (i64, i64)| async move {
            Ok::<_, ErrorObject>(a + b)
        })
        .method("eth_blockNumber", move |(): ()| {
            let number = number.load(Ordering::Relaxed);
            async move { Ok::<_, ErrorObject>(format!("{number:#x}")) }
        })
        .subscription(
            Subscription::new("eth_subscribe", "eth_subscription", "eth_unsubscribe"),
            move |(kind,): (String,)| {
                let head = head.clone();
                async move {
                    if kind != "newHeads" {
                        return Err(ErrorObject::invalid_params(format!(
                            "no such subscription: {kind}"
                        )));
                    }
                    // A head every 100 ms, counting on from the current one.
                    let first = head.load(Ordering::Relaxed);
                    let ticks = interval(Duration::from_millis(100));
                    Ok(ticks.enumerate().map(move |(i, ())| {
                        let number = first + 1 + i as u64;
                        serde_json::json!({ "number": format!("{number:#x}") })
                    }))
                }
            },
        )
}

/// A stream that yields every `period`.
fn interval(period: Duration) -> impl futures::Stream<Item = ()> + Send {
    futures::stream::unfold(tokio::time::interval(period), |mut ticks| async move {
        ticks.tick().await;
        Some(((), ticks))
    })
}

async fn run() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let ipc = args
        .next()
        .map_or_else(|| Endpoint::new("tower-ipc-web"), Endpoint::path);
    let web = Endpoint::tcp(args.next().unwrap_or_else(|| "127.0.0.1:8545".to_owned()));
    // Installed before anything else, so a signal is never missed.
    let signal = shutdown_signal();
    let stop = CancellationToken::new();

    let router = router(Arc::new(AtomicU64::new(0)));
    let ipc_listener = ipc.bind().await?;
    let web_listener = web.bind().await?;
    println!("ipc on {}", ipc_listener.endpoint());
    println!("http and ws on {}", web_listener.endpoint());

    let ipc_server = tower_ipc::serve(ipc_listener, JsonRpc::new(), router.clone())
        .with_graceful_shutdown(stop.clone().cancelled_owned());
    let web_server = tower_ipc::serve(web_listener, Http::new().websocket(true), router)
        .with_graceful_shutdown(stop.clone().cancelled_owned());
    tokio::spawn(async move {
        signal.await;
        stop.cancel();
    });
    let (ipc, web) = tokio::join!(ipc_server.into_future(), web_server.into_future());
    let (ipc, web) = (ipc?, web?);
    println!(
        "stopped: ipc {} connections, {} requests; http and ws {} connections, {} requests",
        ipc.connections, ipc.requests_completed, web.connections, web.requests_completed
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
