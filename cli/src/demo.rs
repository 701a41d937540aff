//! `serve --demo`: a JSON-RPC server to try the other subcommands on.

use std::{convert::Infallible, time::Duration};

use bytes::Bytes;
use futures::{Stream, StreamExt, stream};
use serde::Deserialize;
use serde_json::{json, value::RawValue};
use tower::service_fn;
use tower_ipc::{
    Endpoint,
    codec::{JsonCodec, LengthPrefixed},
    jsonrpc::{CallContext, ErrorObject, JsonRpc, Router, Subscription},
    server::{Events, ServerEvent, ShutdownSignal, shutdown_signal},
    transport::PeerInfo,
};

use crate::{
    Options,
    failure::{Exit, Failure},
    target::json_framing,
};

/// The methods, as `serve --demo` lists them when it starts.
const METHODS: &str = concat!(
    "  echo [..] | {..}             answers its params as they are\n",
    "  add [a, b] | {a, b}          a + b, two integers\n",
    "  sleep [ms]                   answers ms after ms milliseconds\n",
    "  whoami                       the caller: pid, uid and gid (Unix), pid (Windows)\n",
    "  fail {code, message, data}   answers with that error (each is optional)\n",
    "  ticks_subscribe [ms, n]      a subscription: 1, 2, 3, ... every ms (1000)\n",
    "                               milliseconds, n items (no end);\n",
    "                               ticks_unsubscribe [id] ends it",
);

/// What to serve.
#[derive(Debug, clap::Args)]
#[command(after_help = format!("Demo methods:\n{METHODS}\n\n\
With --framing length-prefixed the demo server echoes every frame instead.\n\
Stop it with Ctrl-C: it answers the calls in flight (for up to 30 s), then exits."))]
pub(crate) struct Args {
    /// Where to listen (see `tower-ipc --help`); only the current user may
    /// connect. `tcp://127.0.0.1:0` picks a free port, printed on start.
    endpoint: String,
    /// Serve the demo methods: the only server this tool has, asked for by
    /// name so that `serve ENDPOINT` stays free for real ones.
    #[arg(long, required = true)]
    demo: bool,
}

pub(crate) async fn run(options: &Options, args: Args) -> Result<(), Failure> {
    // Before saying where it listens: a script may signal at once, and the
    // handlers are installed when the signal is made.
    let signal = shutdown_signal();
    let listener = Endpoint::new(&args.endpoint)
        .bind()
        .await
        .map_err(Failure::io)?;
    let framing = json_framing(options.framing);
    // The first line of stdout, for people and for scripts waiting for it.
    println!("listening on {}", listener.endpoint());
    match framing {
        Some(_) => eprintln!("demo methods:\n{METHODS}"),
        None => eprintln!("echoing length-prefixed frames"),
    }
    eprintln!("Ctrl-C to stop");
    let served = match framing {
        Some(framing) => {
            let protocol = JsonRpc::new().codec(JsonCodec::new().framing(framing));
            let server = tower_ipc::serve(listener, protocol, router())
                .with_graceful_shutdown(first_signal(signal));
            tokio::spawn(announce_shutdown(server.events()));
            server.await
        }
        None => {
            let echo = service_fn(|frame: Bytes| async move { Ok::<_, Infallible>(frame) });
            let server = tower_ipc::serve(listener, LengthPrefixed::new(), echo)
                .with_graceful_shutdown(first_signal(signal));
            tokio::spawn(announce_shutdown(server.events()));
            server.await
        }
    };
    let summary = served.map_err(|err| Failure::new(Exit::Failed, err))?;
    eprintln!(
        "stopped: {} connections served, {} requests answered, {} cancelled",
        summary.connections, summary.requests_completed, summary.requests_cancelled
    );
    Ok(())
}

/// The demo methods.
fn router() -> Router {
    Router::new()
        .method("echo", |params: Option<Box<RawValue>>| async move {
            Ok::<_, ErrorObject>(params)
        })
        .method("add", |Add { a, b }: Add| async move {
            a.checked_add(b)
                .ok_or_else(|| ErrorObject::invalid_params("the sum does not fit in 64 bits"))
        })
        .method("sleep", |(ms,): (u64,)| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, ErrorObject>(ms)
        })
        .method(
            "whoami",
            |cx: CallContext, _: serde::de::IgnoredAny| async move {
                Ok::<_, ErrorObject>(peer_json(cx.peer_info()))
            },
        )
        .method("fail", |fail: Option<Fail>| async move {
            let Fail {
                code,
                message,
                data,
            } = fail.unwrap_or_default();
            let error = ErrorObject::new(
                code.unwrap_or(-32000),
                message.unwrap_or("demo failure".into()),
            );
            Err::<(), _>(match data {
                Some(data) => error.with_data(&data),
                None => error,
            })
        })
        .subscription(
            Subscription::new("ticks_subscribe", "ticks", "ticks_unsubscribe"),
            |ticks: Option<Ticks>| async move { ticks.unwrap_or_default().stream() },
        )
}

/// `add`'s params, by position (`[1, 2]`) or by name (`{"a": 1, "b": 2}`).
#[derive(Deserialize)]
struct Add {
    a: i64,
    b: i64,
}

/// `fail`'s params, all optional.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Fail {
    code: Option<i64>,
    message: Option<String>,
    data: Option<Box<RawValue>>,
}

/// `ticks_subscribe`'s params: `[interval_ms, count]`, both optional.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Ticks {
    interval_ms: Option<u64>,
    count: Option<u64>,
}

impl Ticks {
    fn stream(self) -> Result<impl Stream<Item = u64> + Send + 'static, ErrorObject> {
        let interval = Duration::from_millis(self.interval_ms.unwrap_or(1000));
        if interval.is_zero() {
            return Err(ErrorObject::invalid_params(
                "the interval must be at least 1 ms",
            ));
        }
        let ticks = stream::unfold(1, move |tick| async move {
            tokio::time::sleep(interval).await;
            Some((tick, tick + 1))
        });
        let count = self
            .count
            .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
        Ok(ticks.take(count))
    }
}

/// What the transport knows of a caller, as JSON.
fn peer_json(peer: &PeerInfo) -> serde_json::Value {
    #[cfg_attr(not(windows), allow(unused_mut))]
    let mut who = json!({
        "pid": peer.pid(),
        "uid": peer.uid(),
        "gid": peer.gid(),
        "addr": peer.addr().map(|addr| addr.to_string()),
    });
    #[cfg(windows)]
    {
        who["user_sid"] = json!(peer.user_sid());
    }
    who
}

/// Completes at the first signal, and from then on ends the process at
/// the next: a graceful shutdown may wait long (a `sleep` call in flight).
async fn first_signal(signal: ShutdownSignal) {
    signal.await;
    // A signal in the moment before `next` is made goes unnoticed (the
    // handlers stay installed: it never takes the default action).
    let next = shutdown_signal();
    tokio::spawn(async move {
        next.await;
        eprintln!("stopped at once");
        std::process::exit(130);
    });
}

/// Says what a graceful shutdown is waiting for.
async fn announce_shutdown(mut events: Events) {
    while let Some(event) = events.recv().await {
        if let ServerEvent::ShutdownStarted { connections } = event {
            eprintln!(
                "shutting down: answering the calls in flight on {connections} connections \
                 (Ctrl-C again to quit at once)"
            );
        }
    }
}
