//! Hosting a JSON-RPC server inside an application that has other work to do.
//!
//! ```text
//! cargo run --example embedded              # calls itself for 2 seconds, then stops
//! cargo run --example embedded -- my-app    # serves on `my-app` until Ctrl-C
//! tower-ipc call my-app status              # from another terminal (the CLI: see the README)
//! ```
//!
//! The application has three tasks besides its server: a ticker that
//! advances its state every 250 ms, a metrics task that reports once a
//! second, and a task that watches the server's lifecycle events (who
//! connects, who leaves). The server answers `status` from the same state
//! the ticker writes, and a slow `report` method.
//!
//! Shutdown is one `CancellationToken`: Ctrl-C or SIGTERM cancels it; the ticker and
//! the metrics task stop at their next step, the server stops accepting and
//! finishes the calls in flight, and `main` returns once every task has
//! ended (a `TaskTracker` waits for them).
//!
//! Without an endpoint, a client task in the same process plays the other
//! program: it calls `status` for two seconds, then starts a slow `report`
//! and, while it runs, cancels the token as Ctrl-C would. The `report` is
//! still answered.

use std::process::ExitCode;
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde::Serialize;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower_ipc::{
    Endpoint, Server,
    jsonrpc::{ErrorObject, JsonRpc, JsonRpcClient, Router},
    server::{ServerEvent, shutdown_signal},
};

/// What the application's tasks share.
#[derive(Debug, Default)]
struct State {
    ticks: AtomicU64,
    calls: AtomicU64,
}

/// The answer to `status`.
#[derive(Debug, Serialize, serde::Deserialize)]
struct Status {
    ticks: u64,
    calls: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    // Errors as their messages say them, not as `Debug` shows their insides.
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args().nth(1);
    let self_test = name.is_none();
    let endpoint =
        Endpoint::new(name.unwrap_or_else(|| format!("tower-ipc-embedded-{}", std::process::id())));

    let state = Arc::new(State::default());
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();

    tasks.spawn(ticker(state.clone(), shutdown.clone()));
    tasks.spawn(metrics(state.clone(), shutdown.clone()));

    let listener = endpoint.bind().await?;
    let server = Server::new()
        .shutdown_timeout(Duration::from_secs(5))
        .serve(listener, JsonRpc::new(), router(state.clone()))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    tasks.spawn(watch(server.events()));
    tasks.spawn(async move {
        match server.await {
            Ok(summary) => println!(
                "server: stopped after {} connections and {} requests",
                summary.connections, summary.requests_completed
            ),
            Err(err) => eprintln!("server: {err}"),
        }
    });
    println!("serving on {endpoint}; Ctrl-C (or SIGTERM) to stop");

    if self_test {
        tasks.spawn(call_ourselves(endpoint.clone(), shutdown.clone()));
    }
    tokio::select! {
        () = shutdown_signal() => println!("asked to stop: shutting down"),
        () = shutdown.cancelled() => {}
    }
    shutdown.cancel();
    tasks.close();
    tasks.wait().await;
    println!(
        "all tasks stopped: {} ticks, {} calls",
        state.ticks.load(Ordering::Relaxed),
        state.calls.load(Ordering::Relaxed)
    );
    Ok(())
}

fn router(state: Arc<State>) -> Router {
    let status = state.clone();
    Router::new()
        .method("status", move |(): ()| {
            let state = status.clone();
            async move {
                state.calls.fetch_add(1, Ordering::Relaxed);
                Ok::<_, ErrorObject>(Status {
                    ticks: state.ticks.load(Ordering::Relaxed),
                    calls: state.calls.load(Ordering::Relaxed),
                })
            }
        })
        .method("report", move |(): ()| {
            let state = state.clone();
            async move {
                // Slow on purpose: a call in flight at shutdown is finished.
                tokio::time::sleep(Duration::from_millis(400)).await;
                state.calls.fetch_add(1, Ordering::Relaxed);
                Ok::<_, ErrorObject>(format!(
                    "{} ticks so far",
                    state.ticks.load(Ordering::Relaxed)
                ))
            }
        })
}

/// The application's own work: advances the state until shutdown.
async fn ticker(state: Arc<State>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = every.tick() => state.ticks.fetch_add(1, Ordering::Relaxed),
        };
    }
    println!("ticker: stopped");
}

/// Reports the state once a second until shutdown.
async fn metrics(state: Arc<State>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.tick().await; // the first tick is immediate: nothing to report yet
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = every.tick() => println!(
                "metrics: {} ticks, {} calls",
                state.ticks.load(Ordering::Relaxed),
                state.calls.load(Ordering::Relaxed)
            ),
        }
    }
    println!("metrics: stopped");
}

/// Logs the server's lifecycle; ends when the server has stopped.
async fn watch(mut events: tower_ipc::server::Events) {
    while let Some(event) = events.recv().await {
        match event {
            ServerEvent::ConnectionOpened { id, peer } => {
                println!("events: connection {id} opened by {peer}");
            }
            ServerEvent::ConnectionClosed { id, reason, .. } => {
                println!("events: connection {id} closed ({reason})");
            }
            ServerEvent::ShutdownStarted { connections } => {
                println!("events: shutting down with {connections} connections open");
            }
            _ => {}
        }
    }
}

/// Without an endpoint, a client in the same process plays the other
/// program: calls `status` twice a second for two seconds, then shuts the
/// application down while a slow `report` is running, to show it answered.
async fn call_ourselves(endpoint: Endpoint, shutdown: CancellationToken) {
    let client = match endpoint.connect_timeout(Duration::from_secs(5)).await {
        Ok(stream) => JsonRpcClient::new(stream),
        Err(err) => {
            eprintln!("client: {err}");
            return shutdown.cancel();
        }
    };
    let mut every = tokio::time::interval(Duration::from_millis(500));
    for _ in 0..4 {
        every.tick().await;
        match client.call::<Status, _>("status", ()).await {
            Ok(status) => println!("client: status {status:?}"),
            Err(err) => eprintln!("client: {err}"),
        }
    }
    every.tick().await;
    let report = tokio::spawn({
        let client = client.clone();
        async move { client.call::<String, _>("report", ()).await }
    });
    // Long enough for the server to have read the call; far shorter than it
    // takes to answer.
    tokio::time::sleep(Duration::from_millis(100)).await;
    println!("client: shutting the application down while `report` runs");
    shutdown.cancel();
    match report.await {
        Ok(Ok(report)) => println!("client: report {report:?}, answered during the shutdown"),
        Ok(Err(err)) => eprintln!("client: report failed: {err}"),
        Err(err) => eprintln!("client: {err}"),
    }
}
