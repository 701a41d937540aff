//! `bench`: round trips, measured.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use clap::ValueEnum;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use tokio::task::JoinSet;
use tower::{Service, ServiceExt};
use tower_ipc::{
    Client,
    jsonrpc::{CallError, ErrorObject, JsonRpcClient},
};

use crate::{
    Options,
    failure::{Exit, Failure},
    output, params,
    progress::Progress,
    stats::Latencies,
    target::{Connection, Target},
};

/// The frame sent with `--framing length-prefixed` unless `--params` says.
const DEFAULT_FRAME: &[u8; 64] =
    b"tower-ipc bench: 64 bytes of payload, echoed back by the server.";

/// What to measure.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  tower-ipc bench demo                                  # `echo` on `serve --demo demo`
  tower-ipc bench demo -n 1000 -c 1 --method sleep --params '[1]'
  tower-ipc bench --framing length-prefixed my-echo     # examples/echo_server.rs
  tower-ipc bench /tmp/geth.ipc --method eth_blockNumber

All calls share one connection, as a client's calls would.")]
pub(crate) struct Args {
    /// Where the server listens (see `tower-ipc --help`).
    endpoint: String,
    /// How many calls to make.
    #[arg(short = 'n', long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    requests: u64,
    /// How many calls to keep in flight at once.
    #[arg(short = 'c', long, value_name = "C", default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    concurrency: u64,
    /// The method to call.
    #[arg(long, value_name = "METHOD", default_value = "echo")]
    method: String,
    /// The params of every call: a JSON array or object. With
    /// --framing length-prefixed: the frame to send, as text (default: 64
    /// bytes).
    #[arg(long, value_name = "PARAMS")]
    params: Option<String>,
}

/// Makes one call, the same every time.
#[derive(Clone)]
enum Caller {
    Json {
        client: JsonRpcClient,
        method: Arc<str>,
        params: Option<Arc<RawValue>>,
    },
    Raw {
        client: Client<Bytes, Bytes>,
        frame: Bytes,
    },
}

impl Caller {
    /// `Ok(None)` for an answer, `Ok(Some(error))` for an error answer, a
    /// failure when no answer comes.
    async fn call(&mut self, target: &Target) -> Result<Option<ErrorObject>, Failure> {
        match self {
            Self::Json {
                client,
                method,
                params,
            } => {
                match JsonRpcClient::call::<IgnoredAny, _>(client, method, params.as_deref()).await
                {
                    Ok(_) => Ok(None),
                    Err(CallError::Rpc(error)) => Ok(Some(error)),
                    Err(err) => Err(Failure::call(&target.endpoint, method, err)),
                }
            }
            Self::Raw { client, frame } => {
                let answer = async { client.ready().await?.call(frame.clone()).await };
                answer.await.map(|_| None).map_err(|err| {
                    Failure::new(
                        Exit::Failed,
                        format_args!("no answer from `{}`: {err}", target.endpoint),
                    )
                })
            }
        }
    }

    /// One worker: takes calls to make from `next` until `requests` are
    /// taken, and tallies them.
    async fn calls(
        mut self,
        target: &Target,
        next: &AtomicU64,
        requests: u64,
        progress: &Progress,
    ) -> Result<Tally, Failure> {
        let mut tally = Tally::default();
        let described = self.describe();
        while next.fetch_add(1, Ordering::Relaxed) < requests {
            let start = Instant::now();
            let what = || format!("`{}` did not answer {described}", target.endpoint);
            let answer = target.within(what, self.call(target)).await??;
            let latency = start.elapsed();
            match answer {
                None => tally.latencies.record(latency),
                Some(error) => {
                    tally.errors += 1;
                    tally.first_error.get_or_insert(error);
                }
            }
            progress.inc();
        }
        Ok(tally)
    }

    fn describe(&self) -> String {
        match self {
            Self::Json { method, .. } => format!("`{method}`"),
            Self::Raw { frame, .. } => format!("{}-byte frames", frame.len()),
        }
    }
}

/// What one worker saw.
#[derive(Default)]
struct Tally {
    latencies: Latencies,
    errors: u64,
    first_error: Option<ErrorObject>,
}

pub(crate) async fn run(options: &Options, args: Args) -> Result<(), Failure> {
    let target = Target::new(options, &args.endpoint);
    let caller = match target.connect().await? {
        Connection::Json(client) => Caller::Json {
            client,
            method: args.method.as_str().into(),
            params: params::read(args.params.as_deref())?.map(Arc::from),
        },
        Connection::Raw(client) => Caller::Raw {
            client,
            frame: args
                .params
                .map_or_else(|| Bytes::from_static(DEFAULT_FRAME), Bytes::from),
        },
    };
    let framing = options
        .framing
        .to_possible_value()
        .map_or_else(String::new, |value| {
            format!(", {} framing", value.get_name())
        });
    println!(
        "bench {} on {}{framing}: {} calls, {} at a time",
        caller.describe(),
        target.endpoint,
        args.requests,
        args.concurrency
    );

    let next = Arc::new(AtomicU64::new(0));
    let progress = Progress::start(args.requests);
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..args.concurrency.min(args.requests) {
        let (caller, target) = (caller.clone(), target.clone());
        let (next, progress) = (next.clone(), progress.clone());
        let requests = args.requests;
        workers.spawn(async move { caller.calls(&target, &next, requests, &progress).await });
    }
    let mut total = Tally::default();
    while let Some(finished) = workers.join_next().await {
        let tally = match finished {
            Ok(Ok(tally)) => tally,
            Ok(Err(failure)) => {
                progress.finish();
                return Err(failure);
            }
            Err(err) => {
                progress.finish();
                return Err(Failure::new(
                    Exit::Failed,
                    format_args!("a worker failed: {err}"),
                ));
            }
        };
        total.latencies.add(&tally.latencies);
        total.errors += tally.errors;
        total.first_error = total.first_error.or(tally.first_error);
    }
    let elapsed = started.elapsed();
    progress.finish();

    let errors = total.errors;
    output::line(report(&total.latencies, errors, args.requests, elapsed).trim_end())?;
    match total.first_error {
        None => Ok(()),
        Some(error) => Err(Failure::new(
            Exit::ErrorAnswer,
            format_args!(
                "{errors} of {} calls were answered with an error; the first: {}",
                args.requests,
                Failure::error_answer(&args.method, &error)
            ),
        )),
    }
}

/// The results, for people: counts, throughput, percentiles, histogram.
fn report(latencies: &Latencies, errors: u64, requests: u64, elapsed: Duration) -> String {
    let mut report = format!(
        "answered   {} ok, {errors} errors in {elapsed:.2?}: {:.0} calls/s\n",
        latencies.len(),
        requests as f64 / elapsed.as_secs_f64()
    );
    report.extend(latencies.report());
    report
}
