//! Sends N length-prefixed requests (default 10,000) to an echo server with
//! several in flight, checks every answer, and prints the count, the
//! mismatches and the round-trip latency percentiles.
//!
//! ```text
//! cargo run --release --example echo_client -- ENDPOINT [N]
//! cargo run --release --example echo_client            # self-contained demo
//! ```
//!
//! Without ENDPOINT it starts its own echo server in this process, on a
//! private endpoint: still a real Unix socket or named pipe, just no second
//! terminal. Exits with status 1 if any answer was wrong or missing.

use std::process::ExitCode;
use std::{
    convert::Infallible,
    time::{Duration, Instant},
};

use bytes::{BufMut, Bytes, BytesMut};
use futures::{StreamExt, stream::FuturesUnordered};
use tokio_util::codec::Framed;
use tower::{Service, ServiceExt, service_fn};
use tower_ipc::{Client, Endpoint, codec::LengthPrefixed};

/// Requests kept in flight at once.
const IN_FLIGHT: usize = 32;
const PAYLOAD_LEN: usize = 64;

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
    let mut args = std::env::args().skip(1);
    let endpoint = match args.next() {
        Some(name) => Endpoint::new(name),
        None => start_demo_server().await?,
    };
    let total: usize = match args.next() {
        Some(n) => n
            .parse()
            .map_err(|err| format!("N must be a count: {err}"))?,
        None => 10_000,
    };

    let stream = endpoint.connect_timeout(Duration::from_secs(10)).await?;
    let client = Client::new(Framed::new(stream, LengthPrefixed::new()));
    println!("endpoint   {endpoint}");

    let started = Instant::now();
    let mut latencies = Vec::with_capacity(total);
    let (mut mismatches, mut errors) = (0usize, 0usize);
    let mut calls = FuturesUnordered::new();
    let mut sent = 0;
    while sent < total || !calls.is_empty() {
        while sent < total && calls.len() < IN_FLIGHT {
            let mut client = client.clone();
            let request = payload(sent);
            calls.push(async move {
                let start = Instant::now();
                let answer = match client.ready().await {
                    Ok(ready) => ready.call(request.clone()).await,
                    Err(err) => Err(err),
                };
                (request, answer, start.elapsed())
            });
            sent += 1;
        }
        let Some((request, answer, latency)) = calls.next().await else {
            break;
        };
        match answer {
            Ok(answer) if answer == request => latencies.push(latency),
            Ok(_) => mismatches += 1,
            Err(err) => {
                if errors == 0 {
                    eprintln!("request failed: {err}");
                }
                errors += 1;
            }
        }
    }
    let elapsed = started.elapsed();

    println!(
        "requests   {total} ({IN_FLIGHT} in flight, {PAYLOAD_LEN}-byte payloads): \
         {} answered correctly, {mismatches} mismatches, {errors} errors",
        latencies.len()
    );
    println!(
        "elapsed    {:.2?} ({:.0} requests/s)",
        elapsed,
        total as f64 / elapsed.as_secs_f64()
    );
    latencies.sort_unstable();
    if !latencies.is_empty() {
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
        println!(
            "latency    p50 {:.1?}  p90 {:.1?}  p99 {:.1?}  max {:.1?}",
            at(0.50),
            at(0.90),
            at(0.99),
            at(1.0)
        );
    }
    if mismatches + errors > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// A payload that differs for every request, so a misrouted answer shows.
fn payload(n: usize) -> Bytes {
    let mut buf = BytesMut::with_capacity(PAYLOAD_LEN);
    buf.put_u64(n as u64);
    buf.extend((0..PAYLOAD_LEN - 8).map(|i| (n + i) as u8));
    buf.freeze()
}

/// Serves echo on a private endpoint of this process, in the background.
async fn start_demo_server() -> std::io::Result<Endpoint> {
    let listener = Endpoint::new(format!("tower-ipc-echo-demo-{}", std::process::id()))
        .bind()
        .await?;
    let endpoint = listener.endpoint().clone();
    let echo = service_fn(|frame: Bytes| async move { Ok::<_, Infallible>(frame) });
    tokio::spawn(tower_ipc::serve(listener, LengthPrefixed::new(), echo).into_future());
    println!("(no ENDPOINT given: serving echo in this process)");
    Ok(endpoint)
}
