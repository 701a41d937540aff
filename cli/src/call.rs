//! `call` and `notify`.

use std::io::Read;

use bytes::Bytes;
use serde_json::value::RawValue;
use tower::{Service, ServiceExt};
use tower_ipc::jsonrpc::CallError;

use crate::{
    Framing, Options,
    failure::{Exit, Failure},
    json, output, params,
    target::Target,
};

pub(crate) const AFTER_HELP: &str = "\
Examples, with `tower-ipc serve --demo demo` running:
  tower-ipc call demo add '[1, 2]'
  tower-ipc call demo add '{\"a\": 1, \"b\": 2}'
  echo '[\"hi\"]' | tower-ipc call demo echo -
  tower-ipc call demo fail '{\"code\": -32010, \"data\": [1]}'    # exit code 1

With --framing length-prefixed there are no methods: `call ENDPOINT DATA`
sends DATA (or stdin's bytes, for `-`) as one frame and prints the answer,
as text when it is UTF-8 text, else as hex:
  tower-ipc --framing length-prefixed call my-echo hello";

/// What `call` and `notify` send.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where the server listens (see `tower-ipc --help`).
    endpoint: String,
    /// The method. With --framing length-prefixed (`call` only): the frame
    /// to send, as text, or `-` for stdin's bytes.
    method: String,
    /// The params: a JSON array (by position) or object (by name); `-`
    /// reads them from stdin. Omitted: no params.
    params: Option<String>,
}

/// Calls a method and prints its result (or a raw frame's answer).
pub(crate) async fn call(options: &Options, args: Args) -> Result<(), Failure> {
    let target = Target::new(options, &args.endpoint);
    if target.framing == Framing::LengthPrefixed {
        return call_raw(&target, args).await;
    }
    // Bad params fail before anything is sent.
    let params = params::read(args.params.as_deref())?;
    let client = target.connect_json("call").await?;
    let method = args.method.as_str();
    let answer = client.call::<Box<RawValue>, _>(method, params.as_deref());
    let result = target
        .within(
            || format!("`{}` did not answer `{method}`", target.endpoint),
            answer,
        )
        .await?
        .map_err(|err: CallError| Failure::call(&target.endpoint, method, err))?;
    output::line(&json::format(result.get(), output::stdout_is_terminal()))?;
    Ok(())
}

/// Sends a notification and returns once it is written.
pub(crate) async fn notify(options: &Options, args: Args) -> Result<(), Failure> {
    let target = Target::new(options, &args.endpoint);
    let params = params::read(args.params.as_deref())?;
    let client = target.connect_json("notify").await?;
    let method = args.method.as_str();
    let sent = client.notify(method, params.as_deref());
    target
        .within(
            || format!("could not send `{method}` to `{}`", target.endpoint),
            sent,
        )
        .await?
        .map_err(|err| Failure::call(&target.endpoint, method, err))
}

/// `call` with `--framing length-prefixed`: one frame out, one back.
async fn call_raw(target: &Target, args: Args) -> Result<(), Failure> {
    if args.params.is_some() {
        return Err(Failure::usage(
            "with --framing length-prefixed, give one argument after ENDPOINT: the frame to send",
        ));
    }
    let frame = match args.method.as_str() {
        "-" => {
            let mut data = Vec::new();
            std::io::stdin()
                .read_to_end(&mut data)
                .map_err(|err| Failure::usage(format_args!("cannot read stdin: {err}")))?;
            Bytes::from(data)
        }
        text => Bytes::from(text.to_owned()),
    };
    let mut client = target.connect_raw().await?;
    let answer = async { client.ready().await?.call(frame).await };
    let answer = target
        .within(
            || format!("`{}` did not answer the frame", target.endpoint),
            answer,
        )
        .await?
        .map_err(|err| {
            Failure::new(
                Exit::Failed,
                format_args!("no answer from `{}`: {err}", target.endpoint),
            )
        })?;
    output::line(&output::bytes(&answer))?;
    Ok(())
}
