//! A geth-compatible JSON-RPC server on tower-ipc, written the way the
//! crate's README and docs show, for the interop suite's clients (web3.py,
//! ethers, viem, alloy, jayson):
//!
//! - `eth_chainId`, `eth_blockNumber`, `net_version`, `web3_clientVersion`,
//!   each a parameterless handler `|(): ()|`;
//! - `eth_subscribe` / `eth_unsubscribe` for `["newHeads"]`, a new head every
//!   50 ms, pushed as `eth_subscription` notifications;
//! - `interop_echoAfter [value, ms]`, answering `value` after `ms`
//!   milliseconds (so that answers come back in another order than the calls
//!   went out), and `interop_bigAnswer [len]`, a string of `0x` and `len` hex
//!   digits.
//!
//! `interop-server SOCKET` serves on the Unix socket SOCKET until killed,
//! and the same router on HTTP and WebSocket on a free port of 127.0.0.1,
//! whose `host:port` it writes to `SOCKET.addr` before the socket appears.

use std::time::Duration;

use futures::{Stream, stream};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;
use tower_ipc::{
    Endpoint,
    jsonrpc::{ErrorObject, JsonRpc, Router, Subscription},
    web::Http,
};

const CHAIN_ID: u64 = 1337;
const BLOCK_TIME: Duration = Duration::from_millis(50);
/// The longest answer `interop_bigAnswer` makes, to bound its memory.
const MAX_BIG_ANSWER: usize = 64 << 20;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let Some(path) = std::env::args().nth(1) else {
        return Err("usage: interop-server SOCKET".into());
    };
    let heads = chain();

    let block_number = {
        let heads = heads.clone();
        move |(): ()| {
            let number = heads.borrow().number;
            async move { Ok::<_, ErrorObject>(number) }
        }
    };
    let new_heads = move |(kind,): (String,)| {
        let heads = heads.clone();
        async move {
            if kind != "newHeads" {
                return Err(ErrorObject::invalid_params(format!(
                    "no subscription `{kind}` (this server has `newHeads`)"
                )));
            }
            Ok(head_stream(heads))
        }
    };
    let router = Router::new()
        .method("eth_chainId", |(): ()| async move {
            Ok::<_, ErrorObject>(Quantity(CHAIN_ID))
        })
        .method("eth_blockNumber", block_number)
        .method("net_version", |(): ()| async move {
            Ok::<_, ErrorObject>(CHAIN_ID.to_string())
        })
        .method("web3_clientVersion", |(): ()| async move {
            Ok::<_, ErrorObject>(concat!("tower-ipc-interop/v", env!("CARGO_PKG_VERSION")))
        })
        .method(
            "interop_echoAfter",
            |(value, ms): (Value, u64)| async move {
                tokio::time::sleep(Duration::from_millis(ms.min(10_000))).await;
                Ok::<_, ErrorObject>(value)
            },
        )
        .method("interop_bigAnswer", |(len,): (usize,)| async move {
            if len > MAX_BIG_ANSWER {
                return Err(ErrorObject::invalid_params(format!(
                    "{len} is over the longest answer, {MAX_BIG_ANSWER}"
                )));
            }
            Ok(big_answer(len))
        })
        .subscription(
            Subscription::new("eth_subscribe", "eth_subscription", "eth_unsubscribe"),
            new_heads,
        );

    let web = Endpoint::tcp("127.0.0.1:0").bind().await?;
    let addr = web.endpoint().to_string();
    let addr = addr.trim_start_matches("tcp://");
    std::fs::write(format!("{path}.addr"), addr)?;
    let web = tower_ipc::serve(web, Http::new().websocket(true), router.clone());
    let listener = Endpoint::path(&path).bind().await?;
    println!("listening on {path}, and on http://{addr} and ws://{addr}");
    let ipc = tower_ipc::serve(listener, JsonRpc::new(), router);
    let (ipc, web) = tokio::join!(ipc.into_future(), web.into_future());
    ipc?;
    web?;
    Ok(())
}

/// A number as Ethereum's JSON-RPC writes it: `0x` and hex digits, no leading
/// zeros.
#[derive(Clone, Copy, Debug)]
struct Quantity(u64);

impl Serialize for Quantity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{:#x}", self.0))
    }
}

/// A block header as geth's `newHeads` sends it (Cancun's fields).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    hash: String,
    parent_hash: String,
    sha3_uncles: String,
    miner: String,
    state_root: String,
    transactions_root: String,
    receipts_root: String,
    logs_bloom: String,
    difficulty: Quantity,
    number: Quantity,
    gas_limit: Quantity,
    gas_used: Quantity,
    timestamp: Quantity,
    extra_data: String,
    mix_hash: String,
    nonce: String,
    base_fee_per_gas: Quantity,
    withdrawals_root: String,
    blob_gas_used: Quantity,
    excess_blob_gas: Quantity,
    parent_beacon_block_root: String,
}

impl Head {
    fn new(number: u64, timestamp: u64) -> Self {
        // Not real hashes: distinct 32-byte values a client can parse.
        let hash = |tag: u64, n: u64| format!("0x{tag:032x}{n:032x}");
        const EMPTY_TRIE: &str =
            "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421";
        Self {
            hash: hash(1, number),
            parent_hash: hash(1, number.saturating_sub(1)),
            sha3_uncles: "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"
                .into(),
            miner: format!("0x{:040x}", 0xc0ffee),
            state_root: hash(2, number),
            transactions_root: EMPTY_TRIE.into(),
            receipts_root: EMPTY_TRIE.into(),
            logs_bloom: format!("0x{}", "0".repeat(512)),
            difficulty: Quantity(0),
            number: Quantity(number),
            gas_limit: Quantity(30_000_000),
            gas_used: Quantity(0),
            timestamp: Quantity(timestamp),
            extra_data: "0x".into(),
            mix_hash: hash(3, number),
            nonce: "0x0000000000000000".into(),
            base_fee_per_gas: Quantity(1_000_000_000),
            withdrawals_root: EMPTY_TRIE.into(),
            blob_gas_used: Quantity(0),
            excess_blob_gas: Quantity(0),
            parent_beacon_block_root: hash(4, number),
        }
    }
}

/// Makes a new head every `BLOCK_TIME`; the receiver always holds the latest.
fn chain() -> watch::Receiver<Head> {
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    let (sender, heads) = watch::channel(Head::new(0, now()));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(BLOCK_TIME);
        ticks.tick().await;
        for number in 1.. {
            ticks.tick().await;
            sender.send_replace(Head::new(number, now()));
        }
    });
    heads
}

/// The heads made from now on, one item each.
fn head_stream(mut heads: watch::Receiver<Head>) -> impl Stream<Item = Head> + Send + 'static {
    heads.mark_unchanged();
    stream::unfold(heads, |mut heads| async move {
        heads.changed().await.ok()?;
        let head = heads.borrow_and_update().clone();
        Some((head, heads))
    })
}

fn big_answer(len: usize) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(2 + len);
    text.push_str("0x");
    text.extend((0..len).map(|i| DIGITS[i % 16] as char));
    text
}
