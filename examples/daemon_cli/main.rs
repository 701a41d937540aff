//! A daemon and its command-line client sharing one trait, `Notes` (in
//! `notes.rs`): `#[tower_ipc::service]` turns it into the daemon's server
//! and the CLI's typed client. Runs by itself and exits:
//!
//! ```text
//! cargo run --example daemon_cli --features macros,postcard
//! ```
//!
//! That starts the daemon in this process on a portable endpoint (a Unix
//! socket, or a named pipe on Windows), calls it in postcard frames and in
//! JSON-RPC, then starts it again as a child process and calls it over the
//! child's stdin and stdout. As two programs, in two terminals:
//!
//! ```text
//! daemon_cli daemon ENDPOINT [--json-rpc]    # serves until Ctrl-C or `stop`
//! daemon_cli ENDPOINT [--json-rpc] put NAME TEXT | get NAME | list [PREFIX] | watch | stop
//! daemon_cli child put NAME TEXT ...         # a daemon as a child process, over stdio
//! ```
//!
//! ENDPOINT is a portable name (`notes`), a socket path, a pipe name or
//! `tcp://127.0.0.1:7000`. The daemon speaks postcard frames (the compact
//! Rust-to-Rust form) unless given `--json-rpc`, which other languages can
//! call too (`interop/typed/` calls it from Python); the client must say the
//! same. `watch` follows the `changes` subscription until Ctrl-C.

mod notes;

use std::{process::ExitCode, sync::Arc, time::Duration};

use futures::StreamExt;
use tokio::{process::Command, sync::Notify};
use tower_ipc::{
    Endpoint, Server,
    codec::LengthPrefixed,
    jsonrpc::{JsonRpc, JsonRpcClient},
    service::{Frames, RpcClient},
    transport::{PipeStream, child},
    typed::Postcard,
};

use notes::{Daemon, NotesClient, NotesServer};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args[..] {
        [] => demo().await,
        ["daemon", endpoint] => daemon(endpoint, false).await,
        ["daemon", endpoint, "--json-rpc"] => daemon(endpoint, true).await,
        ["stdio"] => stdio().await,
        ["child", ref command @ ..] => over_child(command).await,
        [endpoint, "--json-rpc", ref command @ ..] => cli(endpoint, true, command).await,
        [endpoint, ref command @ ..] => cli(endpoint, false, command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The daemon: serves the notes on `endpoint` until Ctrl-C or a client's
/// `stop`.
async fn daemon(endpoint: &str, json_rpc: bool) -> Result<(), Error> {
    let listener = Endpoint::new(endpoint).bind().await?;
    let stop = Arc::new(Notify::new());
    let server = NotesServer::new(Daemon::new(stop.clone()));
    let stopped = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = stop.notified() => {}
        }
    };
    println!(
        "daemon listening on {} ({})",
        listener.endpoint(),
        if json_rpc {
            "JSON-RPC"
        } else {
            "postcard frames"
        }
    );
    let summary = if json_rpc {
        tower_ipc::serve(listener, JsonRpc::new(), server)
            .with_graceful_shutdown(stopped)
            .await?
    } else {
        let frames = Frames::new(LengthPrefixed::new(), Postcard);
        tower_ipc::serve(listener, frames, server)
            .with_graceful_shutdown(stopped)
            .await?
    };
    println!("daemon stopped after {} connections", summary.connections);
    Ok(())
}

/// The daemon as a child process: serves its parent on stdin and stdout
/// until stdin closes.
async fn stdio() -> Result<(), Error> {
    let server = NotesServer::new(Daemon::new(Arc::new(Notify::new())));
    let frames = Frames::new(LengthPrefixed::new(), Postcard);
    Server::new()
        .serve_connection(PipeStream::stdio()?, frames, server)
        .await?;
    Ok(())
}

/// The CLI: one command against the daemon at `endpoint`.
async fn cli(endpoint: &str, json_rpc: bool, command: &[&str]) -> Result<(), Error> {
    let stream = Endpoint::new(endpoint)
        .connect_timeout(Duration::from_secs(5))
        .await?;
    let rpc = match json_rpc {
        true => RpcClient::json_rpc(JsonRpcClient::new(stream)),
        false => RpcClient::frames(stream, LengthPrefixed::new(), Postcard),
    };
    run(&NotesClient::new(rpc), command).await
}

/// Starts this program as a child daemon and runs `command` over its stdio.
async fn over_child(command: &[&str]) -> Result<(), Error> {
    let mut program = Command::new(std::env::current_exe()?);
    let (pipes, mut daemon) = child::spawn(program.arg("stdio").kill_on_drop(true))?;
    let notes = NotesClient::new(RpcClient::frames(pipes, LengthPrefixed::new(), Postcard));
    run(&notes, command).await?;
    // Closing its stdin stops the child.
    drop(notes);
    let status = daemon.wait().await?;
    println!("child daemon exited: {status}");
    Ok(())
}

/// Runs one CLI command (several in a row: `put a 1 put b 2 list`).
async fn run(notes: &NotesClient, mut command: &[&str]) -> Result<(), Error> {
    while !command.is_empty() {
        command = match command {
            ["put", name, text, rest @ ..] => {
                match notes.put(name.to_string(), text.to_string()).await? {
                    Some(previous) => println!("{name}: replaced {previous:?}"),
                    None => println!("{name}: stored"),
                }
                rest
            }
            ["get", name, rest @ ..] => {
                match notes.get(name.to_string()).await? {
                    Ok(text) => println!("{name}: {text}"),
                    Err(missing) => println!("{missing}"),
                }
                rest
            }
            ["list", prefix, rest @ ..] if !matches!(*prefix, "put" | "get" | "list" | "stop") => {
                println!("{}", notes.list(Some(prefix.to_string())).await?.join(" "));
                rest
            }
            ["list", rest @ ..] => {
                println!("{}", notes.list(None).await?.join(" "));
                rest
            }
            ["stop", rest @ ..] => {
                notes.stop().await?;
                println!("asked the daemon to stop");
                rest
            }
            ["watch", rest @ ..] => {
                let mut changes = notes.changes().await?;
                while let Some(change) = changes.next().await {
                    println!("changed: {}", change?);
                }
                rest
            }
            other => {
                return Err(format!(
                    "unknown command {other:?}: see the top of examples/daemon_cli/main.rs"
                )
                .into());
            }
        };
    }
    Ok(())
}

/// Everything in one process, then a child daemon.
async fn demo() -> Result<(), Error> {
    for json_rpc in [false, true] {
        let endpoint = Endpoint::new(format!("daemon-cli-demo-{}", std::process::id()));
        let daemon = tokio::spawn({
            let endpoint = endpoint.to_string();
            async move { daemon(&endpoint, json_rpc).await }
        });
        let form = if json_rpc { "--json-rpc" } else { "postcard" };
        println!("-- CLI calls ({form})");
        let command = [
            "put",
            "todo",
            "write the docs",
            "get",
            "todo",
            "get",
            "nope",
            "list",
        ];
        cli(&endpoint.to_string(), json_rpc, &command).await?;
        // A subscription, then a change seen through it.
        let stream = endpoint.connect_timeout(Duration::from_secs(5)).await?;
        let notes = NotesClient::new(match json_rpc {
            true => RpcClient::json_rpc(JsonRpcClient::new(stream)),
            false => RpcClient::frames(stream, LengthPrefixed::new(), Postcard),
        });
        let mut changes = notes.changes().await?;
        notes.put("done".into(), "the tests".into()).await?;
        println!("changed: {}", changes.next().await.ok_or("no change")??);
        cli(&endpoint.to_string(), json_rpc, &["stop"]).await?;
        daemon.await??;
    }
    println!("-- a child daemon, over its stdio");
    over_child(&["put", "child", "hello", "list"]).await
}
