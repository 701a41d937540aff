//! `subscribe`: items as lines of JSON until Ctrl-C.

use std::time::Duration;

use futures::StreamExt;
use serde_json::value::RawValue;
use tower_ipc::{jsonrpc::Subscription, server::shutdown_signal};

use crate::{
    Options,
    failure::{Exit, Failure},
    json, output, params,
    target::Target,
};

/// How long to wait for the server to confirm an unsubscribe when no
/// `--timeout` is given: the items are all printed by then, so a server
/// that does not answer must not keep the command from ending.
const UNSUBSCRIBE_PATIENCE: Duration = Duration::from_secs(5);

/// What `subscribe` opens.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Items are matched to the subscription by its id, whatever the method name of
the notifications that carry them (eth_subscription, ticks, ...).

Example, with `tower-ipc serve --demo demo` running (a tick every 200 ms):
  tower-ipc subscribe demo ticks_subscribe '[200]'")]
pub(crate) struct Args {
    /// Where the server listens (see `tower-ipc --help`).
    endpoint: String,
    /// The subscribe method, such as `eth_subscribe` or `ticks_subscribe`.
    method: String,
    /// The params: a JSON array (by position) or object (by name); `-`
    /// reads them from stdin.
    params: Option<String>,
    /// The method that ends the subscription. Default: METHOD with its
    /// `subscribe` suffix replaced by `unsubscribe` (`eth_subscribe` →
    /// `eth_unsubscribe`).
    #[arg(long, value_name = "METHOD")]
    unsubscribe: Option<String>,
    /// Stop after this many items.
    #[arg(short = 'n', long, value_name = "N")]
    count: Option<u64>,
}

pub(crate) async fn run(options: &Options, args: Args) -> Result<(), Failure> {
    let unsubscribe = match args.unsubscribe {
        Some(method) => method,
        None => unsubscribe_method(&args.method).ok_or_else(|| {
            Failure::usage(format_args!(
                "cannot tell how to unsubscribe from `{}`: name the method with --unsubscribe",
                args.method
            ))
        })?,
    };
    let target = Target::new(options, &args.endpoint);
    let params = params::read(args.params.as_deref())?;
    let mut signal = shutdown_signal();
    let client = target.connect_json("subscribe").await?;
    // The notification name is not needed: the client routes items by
    // subscription id.
    let subscription = Subscription::new(args.method.as_str(), "", unsubscribe.as_str());
    let method = args.method.as_str();
    let opening = client.subscribe::<Box<RawValue>, _>(&subscription, params.as_deref());
    let mut items = target
        .within(
            || format!("`{}` did not answer `{method}`", target.endpoint),
            opening,
        )
        .await?
        .map_err(|err| Failure::call(&target.endpoint, method, err))?;
    eprintln!("subscribed: {} (Ctrl-C to stop)", items.id());

    let mut printed = 0;
    // Ctrl-C, --count or a closed stdout end the loop; the server's end or
    // a lost connection end the command.
    let reader_gone = loop {
        if args.count.is_some_and(|count| printed >= count) {
            break false;
        }
        let item = tokio::select! {
            () = &mut signal => break false,
            item = items.next() => item,
        };
        match item {
            Some(Ok(item)) => {
                if !output::line(&json::format(item.get(), false))? {
                    break true;
                }
                printed += 1;
            }
            Some(Err(err)) => return Err(Failure::call(&target.endpoint, method, err)),
            None => {
                return Err(Failure::new(
                    Exit::Failed,
                    format_args!(
                        "`{}` ended the subscription {}",
                        target.endpoint,
                        items.id()
                    ),
                ));
            }
        }
    };

    let id = items.id().to_owned();
    let patience = target.timeout.unwrap_or(UNSUBSCRIBE_PATIENCE);
    match tokio::time::timeout(patience, items.unsubscribe()).await {
        Ok(Ok(_)) => {
            if !reader_gone {
                eprintln!("unsubscribed: {id}");
            }
            Ok(())
        }
        Ok(Err(err)) => Err(Failure::call(&target.endpoint, &unsubscribe, err)),
        Err(_) => Err(Failure::timed_out(format_args!(
            "`{}` did not confirm `{unsubscribe}` within {patience:?}",
            target.endpoint
        ))),
    }
}

/// `x_subscribe` → `x_unsubscribe`, `subscribeHeads` → `unsubscribeHeads`.
fn unsubscribe_method(subscribe: &str) -> Option<String> {
    let at = subscribe.rfind("subscribe")?;
    Some(format!(
        "{}unsubscribe{}",
        &subscribe[..at],
        &subscribe[at + "subscribe".len()..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsubscribe_method_mirrors_the_subscribe_method() {
        assert_eq!(
            unsubscribe_method("eth_subscribe").unwrap(),
            "eth_unsubscribe"
        );
        assert_eq!(
            unsubscribe_method("ticks_subscribe").unwrap(),
            "ticks_unsubscribe"
        );
        assert_eq!(
            unsubscribe_method("subscribeHeads").unwrap(),
            "unsubscribeHeads"
        );
        assert_eq!(unsubscribe_method("watch"), None);
    }
}
