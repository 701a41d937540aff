//! tower-ipc's `JsonRpcClient` against another project's server: parity's
//! `jsonrpc-ipc-server` (`interop/parity`) or jayson's (`interop/node`).
//!
//! `interop-tower-client SOCKET [--subscriptions]` runs each check against
//! the server on SOCKET and prints its result (`PASS`/`FAIL <check> ...`);
//! `--subscriptions` adds the `newHeads` checks, for servers that have them.
//! The exit code is 1 when a check failed.

use std::{process::ExitCode, time::Duration};

use checks::{Checks, Outcome, big_answer};
use futures::{StreamExt, future::join_all};
use serde_json::{Value, json};
use tower_ipc::{
    Endpoint,
    jsonrpc::{ErrorObject, JsonRpcClient, Subscription},
};

const LIMIT: Duration = Duration::from_secs(20);

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(path), flag) = (args.next(), args.next()) else {
        eprintln!("usage: interop-tower-client SOCKET [--subscriptions]");
        return ExitCode::from(2);
    };
    let subscriptions = flag.as_deref() == Some("--subscriptions");
    let mut checks = Checks::new();
    checks.run("startup", LIMIT, startup(&path)).await;
    checks.run("concurrent", LIMIT, concurrent(&path)).await;
    checks.run("big_answer", LIMIT, big(&path)).await;
    checks
        .run("unknown_method", LIMIT, unknown_method(&path))
        .await;
    if subscriptions {
        checks.run("new_heads", LIMIT, new_heads(&path)).await;
        checks
            .run("unsubscribe_x100", LIMIT, unsubscribe_x100(&path))
            .await;
    }
    checks.exit_code()
}

fn new_heads_subscription() -> Subscription {
    Subscription::new("eth_subscribe", "eth_subscription", "eth_unsubscribe")
}

async fn connect(path: &str) -> Result<JsonRpcClient, String> {
    JsonRpcClient::builder()
        .connect(&Endpoint::path(path))
        .await
        .map_err(|e| format!("connect: {e}"))
}

/// Parameterless calls, sent with no params.
async fn startup(path: &str) -> Outcome {
    let client = connect(path).await?;
    let chain_id: String = client
        .call("eth_chainId", ())
        .await
        .map_err(|e| format!("eth_chainId: {e}"))?;
    let block: String = client
        .call("eth_blockNumber", ())
        .await
        .map_err(|e| format!("eth_blockNumber: {e}"))?;
    let net: String = client
        .call("net_version", ())
        .await
        .map_err(|e| format!("net_version: {e}"))?;
    let version: String = client
        .call("web3_clientVersion", ())
        .await
        .map_err(|e| format!("web3_clientVersion: {e}"))?;
    if chain_id != "0x539" || net != "1337" || !block.starts_with("0x") || version.is_empty() {
        return Err(format!(
            "chain id {chain_id}, block {block}, net_version {net}, client {version:?}"
        ));
    }
    Ok(format!(
        "chain id {chain_id}, block {block}, net_version {net}, {version}"
    ))
}

/// 64 calls at once on one connection, answered in the reverse order.
async fn concurrent(path: &str) -> Outcome {
    const CALLS: u64 = 64;
    let client = connect(path).await?;
    let calls = (0..CALLS).map(|i| {
        let client = &client;
        async move {
            let sent = json!({ "call": i, "text": format!("call {i}") });
            let answer: Value = client
                .call("interop_echoAfter", (sent.clone(), 2 * (CALLS - i)))
                .await
                .map_err(|e| format!("call {i}: {e}"))?;
            if answer == sent {
                Ok(())
            } else {
                Err(format!("call {i} sent {sent}, answered {answer}"))
            }
        }
    });
    let errors: Vec<String> = join_all(calls)
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect();
    if let Some(first) = errors.first() {
        return Err(format!(
            "{} of {CALLS} calls wrong, first: {first}",
            errors.len()
        ));
    }
    Ok(format!("{CALLS} concurrent calls, each matched"))
}

async fn big(path: &str) -> Outcome {
    const LEN: usize = 4 << 20;
    let client = connect(path).await?;
    let answer: String = client
        .call("interop_bigAnswer", (LEN,))
        .await
        .map_err(|e| format!("interop_bigAnswer [{LEN}]: {e}"))?;
    if answer != big_answer(LEN) {
        return Err(format!(
            "{} bytes answered, not the {} expected",
            answer.len(),
            LEN + 2
        ));
    }
    Ok(format!("a {} byte string", answer.len()))
}

async fn unknown_method(path: &str) -> Outcome {
    let client = connect(path).await?;
    match client.call::<Value, _>("interop_noSuchMethod", ()).await {
        Ok(answer) => Err(format!("answered {answer}")),
        Err(e) => match e.as_rpc() {
            Some(error) if error.code() == ErrorObject::METHOD_NOT_FOUND => {
                Ok(format!("error {}: {}", error.code(), error.message()))
            }
            _ => Err(format!("not a -32601 error: {e}")),
        },
    }
}

async fn new_heads(path: &str) -> Outcome {
    let client = connect(path).await?;
    let mut heads = client
        .subscribe::<Value, _>(&new_heads_subscription(), ("newHeads",))
        .await
        .map_err(|e| format!("eth_subscribe [\"newHeads\"]: {e}"))?;
    let mut numbers = Vec::new();
    while numbers.len() < 3 {
        let head = match heads.next().await {
            Some(Ok(head)) => head,
            Some(Err(e)) => return Err(format!("after heads {numbers:?}: {e}")),
            None => return Err(format!("the subscription ended after heads {numbers:?}")),
        };
        let number = head["number"]
            .as_str()
            .and_then(|n| u64::from_str_radix(n.trim_start_matches("0x"), 16).ok())
            .ok_or_else(|| format!("a head without a quantity `number`: {head}"))?;
        numbers.push(number);
    }
    if !numbers.windows(2).all(|w| w[1] > w[0]) {
        return Err(format!("head numbers not counting up: {numbers:?}"));
    }
    let id = heads.id().to_owned();
    match heads.unsubscribe().await {
        Ok(true) => Ok(format!("heads {numbers:?}, unsubscribed {id}")),
        Ok(false) => Err(format!(
            "heads {numbers:?}; eth_unsubscribe [{id}] answered false"
        )),
        Err(e) => Err(format!("heads {numbers:?}; eth_unsubscribe [{id}]: {e}")),
    }
}

async fn unsubscribe_x100(path: &str) -> Outcome {
    let client = connect(path).await?;
    let subscription = new_heads_subscription();
    for round in 1..=100 {
        let heads = client
            .subscribe::<Value, _>(&subscription, ("newHeads",))
            .await
            .map_err(|e| format!("round {round}: eth_subscribe: {e}"))?;
        let id = heads.id().to_owned();
        match heads.unsubscribe().await {
            Ok(true) => {}
            Ok(false) => {
                return Err(format!(
                    "round {round}: eth_unsubscribe [{id}] answered false"
                ));
            }
            Err(e) => return Err(format!("round {round}: eth_unsubscribe [{id}]: {e}")),
        }
    }
    Ok("100 of 100 answered true".into())
}
