//! Serves length-prefixed echo on ENDPOINT until Ctrl-C or SIGTERM.
//!
//! ```text
//! cargo run --example echo_server -- ENDPOINT
//! ```
//!
//! ENDPOINT is a portable name (`my-echo`: a socket in the runtime directory
//! on Unix, `\\.\pipe\my-echo` on Windows), a socket path, a pipe name, or
//! `tcp://127.0.0.1:7000`. Try it with `examples/echo_client.rs`, or with
//! the command-line tool (`cargo install --path cli`):
//!
//! ```text
//! tower-ipc --framing length-prefixed call ENDPOINT hello
//! tower-ipc --framing length-prefixed bench ENDPOINT
//! ```
//!
//! Set `RUST_LOG=debug` to see connections open and close.

use bytes::Bytes;
use std::convert::Infallible;
use std::process::ExitCode;
use tower::service_fn;
use tower_ipc::{Endpoint, codec::LengthPrefixed};
use tracing_subscriber::EnvFilter;

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
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let Some(name) = std::env::args().nth(1) else {
        eprintln!("usage: echo_server ENDPOINT");
        std::process::exit(2);
    };
    let listener = Endpoint::new(name).bind().await?;
    println!("echo server listening on {}", listener.endpoint());

    let echo = service_fn(|frame: Bytes| async move { Ok::<_, Infallible>(frame) });
    tower_ipc::serve(listener, LengthPrefixed::new(), echo)
        .with_graceful_shutdown(tower_ipc::server::shutdown_signal())
        .await?;
    println!("echo server stopped");
    Ok(())
}
