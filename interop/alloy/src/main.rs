//! alloy's IPC provider against the interop suite's geth-compatible server.
//!
//! `interop-alloy SOCKET` runs each check and prints its result
//! (`PASS`/`FAIL <check> ...`); the exit code is 1 when one failed.
//!
//! alloy's provider sends `"params": null` for parameterless calls, reads
//! subscription ids as quantities (`SubId::Number`) and unsubscribes with the
//! number it read, written without leading zeros. Its provider sends that
//! `eth_unsubscribe` itself and drops the answer, so `unsubscribe_x100`
//! speaks through alloy's own IPC framing and message types, exactly as its
//! pubsub service does, to see the answers.

use std::{process::ExitCode, time::Duration};

use alloy::{
    providers::{IpcConnect, Provider, ProviderBuilder},
    rpc::json_rpc::{Id, PubSubItem, Request, ResponsePayload, SubId},
    transports::{RpcError, ipc::ReadJsonStream},
};
use checks::{Checks, Outcome, big_answer};
use futures::{StreamExt, future::join_all};
use serde_json::{Value, json};
use tokio::{io::AsyncWriteExt, net::UnixStream};

const LIMIT: Duration = Duration::from_secs(20);

#[tokio::main]
async fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: interop-alloy SOCKET");
        return ExitCode::from(2);
    };
    let mut checks = Checks::new();
    checks.run("startup", LIMIT, startup(&path)).await;
    checks.run("concurrent", LIMIT, concurrent(&path)).await;
    checks.run("big_answer", LIMIT, big(&path)).await;
    checks
        .run("unknown_method", LIMIT, unknown_method(&path))
        .await;
    checks.run("new_heads", LIMIT, new_heads(&path)).await;
    checks
        .run("unsubscribe_x100", LIMIT, unsubscribe_x100(&path))
        .await;
    checks.exit_code()
}

async fn connect(path: &str) -> Result<impl Provider, String> {
    ProviderBuilder::new()
        .connect_ipc(IpcConnect::new(path.to_owned()))
        .await
        .map_err(|e| format!("connect_ipc({path}): {e}"))
}

async fn startup(path: &str) -> Outcome {
    let provider = connect(path).await?;
    let chain_id = provider
        .get_chain_id()
        .await
        .map_err(|e| format!("eth_chainId: {e}"))?;
    let block = provider
        .get_block_number()
        .await
        .map_err(|e| format!("eth_blockNumber: {e}"))?;
    let net = provider
        .get_net_version()
        .await
        .map_err(|e| format!("net_version: {e}"))?;
    let version = provider
        .get_client_version()
        .await
        .map_err(|e| format!("web3_clientVersion: {e}"))?;
    if chain_id != 1337 || net != 1337 || !version.starts_with("tower-ipc-interop/") {
        return Err(format!(
            "chain id {chain_id}, net_version {net}, client {version:?}"
        ));
    }
    Ok(format!(
        "chain id {chain_id}, block {block}, net_version {net}, {version}"
    ))
}

/// 64 calls at once, each answered after a delay that makes the answers
/// come back in the reverse order.
async fn concurrent(path: &str) -> Outcome {
    const CALLS: u64 = 64;
    let provider = connect(path).await?;
    let calls = (0..CALLS).map(|i| {
        let provider = &provider;
        async move {
            let sent = json!({ "call": i, "text": format!("call {i}") });
            let answer: Value = provider
                .raw_request("interop_echoAfter".into(), (sent.clone(), 2 * (CALLS - i)))
                .await
                .map_err(|e| format!("call {i}: {e}"))?;
            if answer == sent {
                Ok(())
            } else {
                Err(format!("call {i} sent {sent}, answered {answer}"))
            }
        }
    });
    let answers = join_all(calls).await;
    let errors: Vec<String> = answers.into_iter().filter_map(Result::err).collect();
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
    let provider = connect(path).await?;
    let answer: String = provider
        .raw_request("interop_bigAnswer".into(), (LEN,))
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
    let provider = connect(path).await?;
    match provider
        .raw_request::<_, Value>("interop_noSuchMethod".into(), ())
        .await
    {
        Ok(answer) => Err(format!("answered {answer}")),
        Err(RpcError::ErrorResp(error)) if error.code == -32601 => {
            Ok(format!("error {}: {}", error.code, error.message))
        }
        Err(e) => Err(format!("not a -32601 error: {e}")),
    }
}

/// `newHeads` through the provider: three heads, numbers counting up, then
/// unsubscribed (alloy sends `eth_unsubscribe` and drops its answer).
async fn new_heads(path: &str) -> Outcome {
    let provider = connect(path).await?;
    let subscription = provider
        .subscribe_blocks()
        .await
        .map_err(|e| format!("eth_subscribe [\"newHeads\"]: {e}"))?;
    let id = *subscription.local_id();
    let mut numbers = Vec::new();
    let mut heads = subscription.into_stream();
    while numbers.len() < 3 {
        let Some(head) = heads.next().await else {
            return Err(format!("the subscription ended after {numbers:?}"));
        };
        numbers.push(head.number);
    }
    if !numbers.windows(2).all(|w| w[1] > w[0]) {
        return Err(format!("head numbers not counting up: {numbers:?}"));
    }
    provider
        .unsubscribe(id)
        .await
        .map_err(|e| format!("heads {numbers:?}; unsubscribe: {e}"))?;
    Ok(format!(
        "heads {numbers:?}, unsubscribed (alloy drops the answer)"
    ))
}

/// 100 times: subscribe to `newHeads` and unsubscribe, as alloy's pubsub
/// service does (the id read as a `SubId`, sent back as read), over alloy's
/// IPC framing; every unsubscribe must be answered `true`.
async fn unsubscribe_x100(path: &str) -> Outcome {
    let stream = UnixStream::connect(path)
        .await
        .map_err(|e| format!("connect {path}: {e}"))?;
    let (read, mut write) = stream.into_split();
    let mut items = ReadJsonStream::<_, PubSubItem>::from(read);
    let mut next_id = 0;
    let mut quantity_ids = 0;
    for round in 1..=100 {
        let subscribe = Request::new("eth_subscribe", Id::Number(next_id), ("newHeads",));
        let given = call(&mut write, &mut items, subscribe).await?;
        let id: SubId = serde_json::from_value(given.clone())
            .map_err(|e| format!("round {round}: subscription id {given} unreadable: {e}"))?;
        next_id += 1;
        if matches!(id, SubId::Number(_)) {
            quantity_ids += 1;
        }
        let sent = serde_json::to_string(&id).unwrap_or_default();
        let unsubscribe = Request::new("eth_unsubscribe", Id::Number(next_id), [id.clone()]);
        let answer = call(&mut write, &mut items, unsubscribe).await?;
        next_id += 1;
        if answer != Value::Bool(true) {
            return Err(format!(
                "round {round}: subscribed as {given}, read as {id:?}; eth_unsubscribe [{sent}] answered {answer}"
            ));
        }
    }
    Ok(format!(
        "100 of 100 answered true ({quantity_ids} ids read as quantities)"
    ))
}

/// Sends `request` and waits for its answer, skipping notifications.
async fn call(
    write: &mut (impl AsyncWriteExt + Unpin),
    items: &mut (impl futures::Stream<Item = PubSubItem> + Unpin),
    request: Request<impl alloy::rpc::json_rpc::RpcSend>,
) -> Result<Value, String> {
    let method = request.meta.method.to_string();
    let id = request.meta.id.clone();
    let serialized = request.serialize().map_err(|e| format!("{method}: {e}"))?;
    write
        .write_all(serialized.serialized().get().as_bytes())
        .await
        .map_err(|e| format!("{method}: write: {e}"))?;
    loop {
        match items.next().await {
            None => return Err(format!("{method}: the connection closed")),
            Some(PubSubItem::Notification(_)) => continue,
            Some(PubSubItem::Response(response)) if response.id == id => {
                return match response.payload {
                    ResponsePayload::Success(result) => {
                        serde_json::from_str(result.get()).map_err(|e| format!("{method}: {e}"))
                    }
                    ResponsePayload::Failure(error) => Err(format!("{method}: error {error:?}")),
                };
            }
            Some(PubSubItem::Response(response)) => {
                return Err(format!(
                    "{method}: an answer for id {} instead",
                    response.id
                ));
            }
        }
    }
}
