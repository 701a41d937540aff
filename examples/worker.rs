//! A worker process: what a parent starts, waits for, calls, and stops (see
//! `examples/supervisor.rs`, which runs this code as its child).
//!
//! It reports its startup steps on the lifetime pipe its parent gave it (if
//! any), serves length-prefixed requests on stdin and stdout until stdin
//! closes, answers what it already read, reports its shutdown steps, and
//! exits. It logs to stderr, which stays free for that.
//!
//! A request `job N` takes a moment and answers `job N done by pid P`;
//! `slow job N` takes a while longer.
//!
//! ```text
//! cargo run --example worker    # serves on this terminal's stdin and stdout
//! ```

use std::{
    io::{self, Write},
    process::ExitCode,
    time::Duration,
};

use bytes::Bytes;
use tower::service_fn;
use tower_ipc::{
    Server,
    codec::LengthPrefixed,
    process::{LifetimeAction, LifetimeReporter},
    transport::PipeStream,
};

/// This worker's startup and shutdown steps.
const LOAD_CONFIG: LifetimeAction = LifetimeAction::new(0);
const WARM_CACHE: LifetimeAction = LifetimeAction::new(1);

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    run().await
}

/// The worker, start to end.
pub(crate) async fn run() -> ExitCode {
    let pid = std::process::id();
    // One write per line, so lines from the two processes do not interleave.
    let log = |message: &str| {
        let line = format!("[worker {pid}] {message}\n");
        let _ = std::io::stderr().write_all(line.as_bytes());
    };
    match serve(log).await {
        Ok(()) => {
            log("bye");
            ExitCode::SUCCESS
        }
        Err(err) => {
            log(&format!("failed: {err}"));
            ExitCode::FAILURE
        }
    }
}

async fn serve(log: impl Fn(&str)) -> io::Result<()> {
    let pid = std::process::id();
    // Reports nothing when the parent did not ask for lifetime events.
    let mut lifetime = LifetimeReporter::from_env()?;

    log("loading the configuration");
    lifetime.startup(LOAD_CONFIG).await?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    log("warming the cache");
    lifetime.startup(WARM_CACHE).await?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    lifetime.startup_complete().await?;
    log("ready");

    let work = service_fn(move |request: Bytes| async move {
        let text = String::from_utf8_lossy(&request).into_owned();
        let pause = if text.starts_with("slow") { 2000 } else { 20 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
        Ok::<_, io::Error>(Bytes::from(format!("{text} done by pid {pid}")))
    });
    let served = Server::new()
        .serve_connection(PipeStream::stdio()?, LengthPrefixed::new(), work)
        .await;
    match served {
        Ok(()) => log("stdin closed and every answer written: shutting down"),
        // The parent died before it read the last answers.
        Err(reason)
            if reason.io_error().map(io::Error::kind) == Some(io::ErrorKind::BrokenPipe) =>
        {
            log("stdin closed, parent gone: shutting down");
        }
        Err(reason) => return Err(reason.into()),
    }

    // The parent may be gone already: a report that fails stops nothing.
    let _ = lifetime.shutdown(WARM_CACHE).await;
    let _ = lifetime.shutdown(LOAD_CONFIG).await;
    Ok(())
}
