//! The endpoint a command talks to, how, and for how long.

use std::{future::Future, time::Duration};

use bytes::Bytes;
use tokio_util::codec::Framed;
use tower_ipc::{
    Client, Endpoint,
    codec::{JsonCodec, JsonFraming, LengthPrefixed},
    jsonrpc::JsonRpcClient,
    transport::IpcStream,
};

use crate::{Framing, Options, failure::Failure};

/// A connection to make: the endpoint with the global options.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) endpoint: Endpoint,
    pub(crate) framing: Framing,
    pub(crate) timeout: Option<Duration>,
}

/// A connection, as the framing requires.
pub(crate) enum Connection {
    Json(JsonRpcClient),
    Raw(Client<Bytes, Bytes>),
}

impl Target {
    pub(crate) fn new(options: &Options, endpoint: &str) -> Self {
        Self {
            endpoint: Endpoint::new(endpoint),
            framing: options.framing,
            timeout: options.timeout,
        }
    }

    /// Connects, with the client the framing calls for.
    ///
    /// # Errors
    ///
    /// As [`stream`](Self::stream).
    pub(crate) async fn connect(&self) -> Result<Connection, Failure> {
        let stream = self.stream().await?;
        Ok(match json_framing(self.framing) {
            Some(framing) => Connection::Json(json_client(stream, framing)),
            None => Connection::Raw(raw_client(stream)),
        })
    }

    /// Connects for raw length-prefixed frames, whatever `--framing` says.
    ///
    /// # Errors
    ///
    /// As [`stream`](Self::stream).
    pub(crate) async fn connect_raw(&self) -> Result<Client<Bytes, Bytes>, Failure> {
        Ok(raw_client(self.stream().await?))
    }

    /// Connects for JSON-RPC.
    ///
    /// # Errors
    ///
    /// As [`stream`](Self::stream); a usage error with
    /// `--framing length-prefixed`, which carries no methods.
    pub(crate) async fn connect_json(&self, command: &str) -> Result<JsonRpcClient, Failure> {
        let Some(framing) = json_framing(self.framing) else {
            return Err(Failure::usage(format_args!(
                "`{command}` needs JSON-RPC: --framing length-prefixed carries raw frames, \
                 which have no methods, notifications or subscriptions"
            )));
        };
        Ok(json_client(self.stream().await?, framing))
    }

    /// Connects: once, or retrying until the timeout while the server starts.
    ///
    /// # Errors
    ///
    /// The crate's connect error, which names the endpoint and what failed.
    async fn stream(&self) -> Result<IpcStream, Failure> {
        match self.timeout {
            Some(timeout) => self.endpoint.connect_timeout(timeout).await,
            None => self.endpoint.connect().await,
        }
        .map_err(Failure::io)
    }

    /// Waits for `answer`, for at most the timeout.
    ///
    /// # Errors
    ///
    /// A timed-out failure: `what` (such as "`endpoint` did not answer
    /// `method`"), then how long it was given.
    pub(crate) async fn within<F: Future>(
        &self,
        what: impl FnOnce() -> String,
        answer: F,
    ) -> Result<F::Output, Failure> {
        match self.timeout {
            None => Ok(answer.await),
            Some(timeout) => tokio::time::timeout(timeout, answer)
                .await
                .map_err(|_| Failure::timed_out(format_args!("{} within {timeout:?}", what()))),
        }
    }
}

/// The JSON framing `--framing` names; `None` for raw length-prefixed frames.
pub(crate) fn json_framing(framing: Framing) -> Option<JsonFraming> {
    match framing {
        Framing::Stream => Some(JsonFraming::Stream),
        Framing::Ndjson => Some(JsonFraming::Ndjson),
        Framing::ContentLength => Some(JsonFraming::ContentLength),
        Framing::LengthPrefixed => None,
    }
}

fn raw_client(stream: IpcStream) -> Client<Bytes, Bytes> {
    Client::new(Framed::new(stream, LengthPrefixed::new()))
}

fn json_client(stream: IpcStream, framing: JsonFraming) -> JsonRpcClient {
    JsonRpcClient::builder()
        .codec(JsonCodec::new().framing(framing))
        .build(stream)
}
