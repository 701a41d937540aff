//! `tower-ipc`: call, watch, serve and measure local JSON-RPC and
//! length-prefixed endpoints from a shell, as `geth attach`, `socat` or
//! `websocat` would, on Unix sockets, Windows named pipes and TCP.
//!
//! Built on the crate's public API only; each subcommand is one module.

mod bench;
mod call;
mod demo;
mod duration;
mod failure;
mod json;
mod output;
mod params;
mod progress;
mod stats;
mod subscribe;
mod target;

use std::{process::ExitCode, time::Duration};

use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

use failure::Failure;

const ABOUT: &str = "Talk to local IPC endpoints: call JSON-RPC methods, watch subscriptions, \
serve a demo server, measure round trips.";

const LONG_ABOUT: &str = "\
Talk to local IPC endpoints: call JSON-RPC methods, watch subscriptions, serve a demo \
server, measure round trips.

ENDPOINT is a name (`my-app`: a socket in $XDG_RUNTIME_DIR, else /tmp, on Unix; \
\\\\.\\pipe\\my-app on Windows), a socket path (contains `/`), a pipe name \
(\\\\.\\pipe\\...), `@name` (a Linux abstract socket) or `tcp://HOST:PORT`.

Try it with the demo server, in two terminals:

    tower-ipc serve --demo demo
    tower-ipc call demo add '[1, 2]'";

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the server answered with an error (call), or some calls failed (bench)
  2  usage: bad arguments, PARAMS that are not a JSON array or object
  3  no server at the endpoint (it does not exist, or refuses connections)
  4  permission denied by the endpoint
  5  timed out (--timeout): connecting, or waiting for an answer
  6  anything else: the connection failed or closed, the endpoint is in use (serve)";

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "tower-ipc",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXIT_CODES,
    propagate_version = true
)]
struct Cli {
    #[command(flatten)]
    options: Options,
    #[command(subcommand)]
    command: Command,
}

/// Options every subcommand takes.
#[derive(Clone, Debug, clap::Args)]
struct Options {
    /// How messages are framed: JSON values back to back (geth, reth),
    /// one per line, after LSP `Content-Length` headers, or raw frames after
    /// a 4-byte big-endian length (no JSON-RPC).
    #[arg(long, global = true, value_enum, default_value_t = Framing::Stream)]
    framing: Framing,
    /// Wait up to this long for the server to accept (retrying while it
    /// starts) and for each answer: `5s`, `500ms`, `1.5m`. Without it: one
    /// connection attempt (which waits up to 5 s for a busy server to take
    /// it), and answers are waited for as long as they take.
    #[arg(long, global = true, value_name = "DURATION", value_parser = duration::parse)]
    timeout: Option<Duration>,
}

/// The wire format, as `--framing` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Framing {
    /// JSON values back to back, each written with a trailing newline (Ethereum IPC).
    Stream,
    /// One JSON value per line.
    Ndjson,
    /// LSP base protocol: `Content-Length: N` headers, then N bytes.
    ContentLength,
    /// Raw frames after a 4-byte big-endian length: no methods, no JSON.
    LengthPrefixed,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Call METHOD and print its result: pretty JSON on a terminal, compact
    /// JSON when piped.
    #[command(after_help = call::AFTER_HELP)]
    Call(call::Args),
    /// Send METHOD as a notification: no answer is awaited.
    Notify(call::Args),
    /// Subscribe with METHOD and print each item as one line of JSON until
    /// Ctrl-C (or --count items), then unsubscribe.
    Subscribe(subscribe::Args),
    /// Run a server: `--demo` serves JSON-RPC methods to try the other
    /// subcommands on (echo frames with --framing length-prefixed).
    Serve(demo::Args),
    /// Measure round trips: N calls, C at a time; prints percentiles, the
    /// throughput and a latency histogram.
    Bench(bench::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => return Failure::io(err).report(),
    };
    let outcome = runtime.block_on(run(cli));
    // Do not wait for tasks that may never end (a client's connection task
    // waiting on a server that does not answer).
    runtime.shutdown_background();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let Cli { options, command } = cli;
    match command {
        Command::Call(args) => call::call(&options, args).await,
        Command::Notify(args) => call::notify(&options, args).await,
        Command::Subscribe(args) => subscribe::run(&options, args).await,
        Command::Serve(args) => demo::run(&options, args).await,
        Command::Bench(args) => bench::run(&options, args).await,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_may_follow_the_subcommand() {
        let cli = Cli::try_parse_from([
            "tower-ipc",
            "call",
            "demo",
            "add",
            "--framing",
            "ndjson",
            "--timeout",
            "2s",
        ])
        .unwrap();
        assert_eq!(cli.options.framing, Framing::Ndjson);
        assert_eq!(cli.options.timeout, Some(Duration::from_secs(2)));
    }

    #[test]
    fn serve_requires_the_demo_flag() {
        let err = Cli::try_parse_from(["tower-ipc", "serve", "demo"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
    }
}
