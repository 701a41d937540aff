//! Supervises a worker process: starts it and waits until it is ready,
//! calls it through a tower stack (timeout, concurrency limit), kills it
//! once to show the restart, and shuts it down by closing its stdin.
//!
//! ```text
//! cargo run --example supervisor
//! ```
//!
//! The worker is `examples/worker.rs`, compiled into this program too and
//! run as `supervisor --worker`, so nothing else needs building. Lines
//! starting `[worker PID]` come from the worker's stderr, the others from
//! the supervisor; set `RUST_LOG=tower_ipc=debug` for more.

// Its `main` is the standalone worker's: unused here.
#[allow(dead_code)]
#[path = "worker.rs"]
mod worker;

use std::{io::IsTerminal, process::ExitCode, time::Duration};

use bytes::Bytes;
use futures::future::join_all;
use tokio::process::Command;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
use tower_ipc::{codec::LengthPrefixed, process::Supervisor};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--worker") {
        return worker::run().await;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| "tower_ipc=info".into()),
        )
        .without_time()
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match supervise().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("supervisor: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn supervise() -> Result<(), BoxError> {
    let exe = std::env::current_exe()?;
    let supervisor = Supervisor::builder()
        .ready_timeout(Duration::from_secs(10))
        .restart_backoff(Duration::from_millis(200), Duration::from_secs(5))
        .grace_period(Duration::from_secs(5))
        .start(
            move || {
                let mut command = Command::new(&exe);
                command.arg("--worker");
                command
            },
            LengthPrefixed::new(),
        )
        .await?;
    println!("supervisor: worker ready, pid {}", pid(&supervisor));

    // Callers see an ordinary tower stack; the supervised client underneath
    // sends each call to whichever worker is current.
    let service = ServiceBuilder::new()
        .timeout(Duration::from_secs(5))
        .concurrency_limit(4)
        .service(supervisor.client());

    run_jobs(&service, "first round", 1..=6).await;

    // A call that is still running when its worker dies fails; the
    // supervisor starts a new worker, and calls after that go to it.
    let slow = tokio::spawn(call(service.clone(), "slow job 0".to_owned()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let victim = pid(&supervisor);
    println!("supervisor: killing worker pid {victim}");
    kill(victim).await?;
    match slow.await? {
        Ok(answer) => println!("supervisor: slow job 0 answered: {answer}"),
        Err(err) => println!("supervisor: slow job 0 failed: {err}"),
    }

    run_jobs(&service, "second round", 7..=12).await;
    println!(
        "supervisor: worker pid {} has answered; {} restart(s) so far",
        pid(&supervisor),
        supervisor.restarts()
    );

    println!("supervisor: shutting down (closing the worker's stdin)");
    drop(service);
    match supervisor.shutdown().await? {
        Some(status) => println!("supervisor: worker exited, {status}"),
        None => println!("supervisor: no worker was running"),
    }
    Ok(())
}

/// Sends jobs `ids` at once; the concurrency limit lets four run at a time.
async fn run_jobs<S>(service: &S, round: &str, ids: std::ops::RangeInclusive<u32>)
where
    S: Service<Bytes, Response = Bytes, Error = BoxError> + Clone,
{
    println!(
        "supervisor: {round}: sending jobs {}..={}",
        ids.start(),
        ids.end()
    );
    let calls = ids.map(|id| call(service.clone(), format!("job {id}")));
    for answer in join_all(calls).await {
        match answer {
            Ok(answer) => println!("supervisor:   {answer}"),
            Err(err) => println!("supervisor:   failed: {err}"),
        }
    }
}

async fn call<S>(mut service: S, request: String) -> Result<String, BoxError>
where
    S: Service<Bytes, Response = Bytes, Error = BoxError>,
{
    let answer = service.ready().await?.call(Bytes::from(request)).await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

fn pid<Req, Resp>(supervisor: &Supervisor<Req, Resp>) -> String {
    supervisor
        .pid()
        .map_or_else(|| "(none)".to_owned(), |pid| pid.to_string())
}

/// Kills a process the way an operator (or the out-of-memory killer) would.
async fn kill(pid: String) -> Result<(), BoxError> {
    let mut command = if cfg!(windows) {
        let mut command = Command::new("taskkill");
        command.args(["/F", "/PID", &pid]);
        command
    } else {
        let mut command = Command::new("kill");
        command.args(["-KILL", &pid]);
        command
    };
    let status = command.stdout(std::process::Stdio::null()).status().await?;
    if !status.success() {
        return Err(format!("could not kill pid {pid}: {status}").into());
    }
    Ok(())
}
