//! The interop suite's methods on parity's `jsonrpc-ipc-server` and
//! `jsonrpc-pubsub`, for tower-ipc's `JsonRpcClient` to call:
//! `eth_chainId`, `eth_blockNumber`, `net_version`, `web3_clientVersion`,
//! `interop_echoAfter`, `interop_bigAnswer`, and
//! `eth_subscribe ["newHeads"]` / `eth_unsubscribe` (a head every 50 ms).
//!
//! `interop-parity SOCKET` serves on the Unix socket SOCKET until killed.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use jsonrpc_core::{Error, MetaIoHandler, Params, Value, futures::future};
use jsonrpc_ipc_server::{RequestContext, ServerBuilder};
use jsonrpc_pubsub::{PubSubHandler, Session, Sink, Subscriber, SubscriptionId};
use serde_json::json;

const BLOCK_TIME: Duration = Duration::from_millis(50);
const MAX_BIG_ANSWER: u64 = 64 << 20;

type Sinks = Arc<Mutex<HashMap<String, Sink>>>;

fn main() -> std::io::Result<()> {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: interop-parity SOCKET");
        std::process::exit(2);
    };
    let number = Arc::new(AtomicU64::new(0));
    let sinks = Sinks::default();

    let mut io = PubSubHandler::new(MetaIoHandler::<Arc<Session>>::default());
    io.add_sync_method("eth_chainId", |_| Ok(json!("0x539")));
    {
        let number = number.clone();
        io.add_sync_method("eth_blockNumber", move |_| {
            Ok(json!(format!("{:#x}", number.load(Ordering::Relaxed))))
        });
    }
    io.add_sync_method("net_version", |_| Ok(json!("1337")));
    io.add_sync_method("web3_clientVersion", |_| {
        Ok(json!("jsonrpc-ipc-server/18.0.0"))
    });
    io.add_method("interop_echoAfter", |params: Params| async move {
        let (value, ms): (Value, u64) = params.parse()?;
        tokio::time::sleep(Duration::from_millis(ms.min(10_000))).await;
        Ok(value)
    });
    io.add_sync_method("interop_bigAnswer", |params: Params| {
        let (len,): (u64,) = params.parse()?;
        if len > MAX_BIG_ANSWER {
            return Err(Error::invalid_params(format!(
                "{len} is over {MAX_BIG_ANSWER}"
            )));
        }
        let digits = (0..len).map(|i| b"0123456789abcdef"[(i % 16) as usize] as char);
        Ok(Value::String(format!("0x{}", digits.collect::<String>())))
    });

    let next_id = AtomicU64::new(1);
    let subscribed = sinks.clone();
    let unsubscribed = sinks.clone();
    io.add_subscription(
        "eth_subscription",
        (
            "eth_subscribe",
            move |params: Params, _: Arc<Session>, subscriber: Subscriber| {
                if params
                    .parse::<(String,)>()
                    .ok()
                    .is_none_or(|(kind,)| kind != "newHeads")
                {
                    let _ = subscriber.reject(Error::invalid_params("only [\"newHeads\"]"));
                    return;
                }
                // Spread over 64 bits, some with a leading zero digit.
                let n = next_id.fetch_add(1, Ordering::Relaxed);
                let id = format!("0x{:016x}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 3);
                if let Ok(sink) = subscriber.assign_id(SubscriptionId::String(id.clone())) {
                    subscribed.lock().unwrap().insert(id, sink);
                }
            },
        ),
        ("eth_unsubscribe", move |id: SubscriptionId, _| {
            let removed = match id {
                SubscriptionId::String(id) => unsubscribed.lock().unwrap().remove(&id).is_some(),
                SubscriptionId::Number(_) => false,
            };
            future::ok(Value::Bool(removed))
        }),
    );

    std::thread::spawn(move || {
        loop {
            std::thread::sleep(BLOCK_TIME);
            let n = number.fetch_add(1, Ordering::Relaxed) + 1;
            let head = json!({ "number": format!("{n:#x}"), "hash": format!("0x{n:064x}") });
            sinks.lock().unwrap().retain(|id, sink| {
                let params = Params::Map(
                    json!({ "subscription": id, "result": head })
                        .as_object()
                        .unwrap()
                        .clone(),
                );
                sink.notify(params).is_ok()
            });
        }
    });

    let server = ServerBuilder::with_meta_extractor(io, |context: &RequestContext<'_>| {
        Arc::new(Session::new(context.sender.clone()))
    })
    .start(&path)?;
    println!("listening on {path}");
    server.wait();
    Ok(())
}
