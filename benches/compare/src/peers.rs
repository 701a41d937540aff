//! The crates users would pick instead, each as a server and its own
//! client, used as their documentation shows.

use std::{io, sync::Arc};

use futures::{StreamExt, future};
use tarpc::{
    client, context,
    server::{self, Channel},
    tokio_serde::formats::{Bincode, Json},
};

use crate::{
    contenders::{block_on, unexpected},
    harness::{BoxFut, Conn, Contender, Family, PAYLOAD, Progress, lanes},
};

// ---------------------------------------------------------------------------
// parity's jsonrpc-ipc-server, with jsonrpc-core-client's IPC transport.

/// `jsonrpc-ipc-server` 18 (parity) serving an `IoHandler`, called with
/// `jsonrpc-core-client`'s `RawClient` over its IPC transport.
pub(crate) struct ParityJsonRpc;

fn parity_serve(endpoint: &str, ready: &dyn Fn()) {
    use jsonrpc_ipc_server::{
        ServerBuilder,
        jsonrpc_core::{IoHandler, Params, Value},
    };
    let mut io = IoHandler::new();
    io.add_sync_method("echo", |params: Params| {
        let (text,): (String,) = params.parse()?;
        Ok(Value::String(text))
    });
    // Its default event loop has one worker thread; it gets a runtime
    // with a worker per core, as every other server here.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = ServerBuilder::new(io)
        .event_loop_executor(runtime.handle().clone())
        .start(endpoint)
        .expect("start");
    ready();
    server.wait();
}

impl Contender for ParityJsonRpc {
    fn name(&self) -> &'static str {
        "jsonrpc-ipc-server"
    }

    fn family(&self) -> Family {
        Family::Json
    }

    fn is_peer(&self) -> bool {
        true
    }

    fn serve(&self, endpoint: &str, ready: &dyn Fn()) {
        parity_serve(endpoint, ready);
    }

    fn connect<'a>(&'a self, endpoint: &'a str) -> BoxFut<'a, io::Result<Box<dyn Conn>>> {
        Box::pin(async move {
            let client: jsonrpc_core_client::RawClient =
                jsonrpc_core_client::transports::ipc::connect(endpoint)
                    .await
                    .map_err(|err| io::Error::other(err.to_string()))?;
            Ok(Box::new(ParityClient(client)) as Box<dyn Conn>)
        })
    }
}

struct ParityClient(jsonrpc_core_client::RawClient);

async fn parity_call(client: &jsonrpc_core_client::RawClient) -> io::Result<()> {
    use jsonrpc_ipc_server::jsonrpc_core::{Params, Value};
    let answer = client
        .call_method(
            "echo",
            Params::Array(vec![Value::String(PAYLOAD.to_owned())]),
        )
        .await
        .map_err(|err| io::Error::other(err.to_string()))?;
    match answer {
        Value::String(text) if text.len() == PAYLOAD.len() => Ok(()),
        _ => Err(unexpected("wrong answer")),
    }
}

impl Conn for ParityClient {
    fn call(&mut self) -> BoxFut<'_, io::Result<()>> {
        Box::pin(parity_call(&self.0))
    }

    fn pipeline(
        self: Box<Self>,
        in_flight: usize,
        progress: Arc<Progress>,
    ) -> BoxFut<'static, io::Result<()>> {
        Box::pin(lanes((0..in_flight).map(move |_| {
            let client = self.0.clone();
            let progress = progress.clone();
            async move {
                while !progress.stopped() {
                    parity_call(&client).await?;
                    progress.answered(1);
                }
                Ok(())
            }
        })))
    }
}

/// parity's server driven by the hand-written JSON-RPC client: the server
/// alone, without its client's costs.
pub(crate) struct ParityServerRawClient;

impl Contender for ParityServerRawClient {
    fn name(&self) -> &'static str {
        "jsonrpc-ipc-server/raw-client"
    }

    fn family(&self) -> Family {
        Family::Json
    }

    fn is_peer(&self) -> bool {
        true
    }

    fn raw_client(&self) -> bool {
        true
    }

    fn serve(&self, endpoint: &str, ready: &dyn Fn()) {
        parity_serve(endpoint, ready);
    }

    fn connect<'a>(&'a self, endpoint: &'a str) -> BoxFut<'a, io::Result<Box<dyn Conn>>> {
        crate::contenders::BaselineJson.connect(endpoint)
    }
}

// ---------------------------------------------------------------------------
// tarpc over Unix sockets, with JSON or bincode.

#[tarpc::service]
pub(crate) trait Echo {
    async fn echo(text: String) -> String;
}

#[derive(Clone)]
struct EchoServer;

impl Echo for EchoServer {
    async fn echo(self, _: context::Context, text: String) -> String {
        text
    }
}

/// tarpc 0.38's serde transport over a Unix socket (length-delimited
/// frames), serving and calling as its examples do.
pub(crate) struct Tarpc {
    pub(crate) json: bool,
}

macro_rules! tarpc_serve {
    ($endpoint:expr, $ready:expr, $format:expr) => {{
        let mut incoming = tarpc::serde_transport::unix::listen($endpoint, $format)
            .await
            .expect("listen");
        incoming.config_mut().max_frame_length(usize::MAX);
        $ready();
        incoming
            .filter_map(|transport| future::ready(transport.ok()))
            .map(server::BaseChannel::with_defaults)
            .for_each(|channel| {
                tokio::spawn(channel.execute(EchoServer.serve()).for_each(|answering| {
                    tokio::spawn(answering);
                    future::ready(())
                }));
                future::ready(())
            })
            .await;
    }};
}

impl Contender for Tarpc {
    fn name(&self) -> &'static str {
        if self.json {
            "tarpc-json"
        } else {
            "tarpc-bincode"
        }
    }

    fn family(&self) -> Family {
        if self.json { Family::Json } else { Family::Frames }
    }

    fn is_peer(&self) -> bool {
        true
    }

    fn serve(&self, endpoint: &str, ready: &dyn Fn()) {
        if self.json {
            block_on(async { tarpc_serve!(endpoint, ready, Json::default) });
        } else {
            block_on(async { tarpc_serve!(endpoint, ready, Bincode::default) });
        }
    }

    fn connect<'a>(&'a self, endpoint: &'a str) -> BoxFut<'a, io::Result<Box<dyn Conn>>> {
        let json = self.json;
        Box::pin(async move {
            let client = if json {
                let transport = tarpc::serde_transport::unix::connect(endpoint, Json::default).await?;
                EchoClient::new(client::Config::default(), transport).spawn()
            } else {
                let transport =
                    tarpc::serde_transport::unix::connect(endpoint, Bincode::default).await?;
                EchoClient::new(client::Config::default(), transport).spawn()
            };
            Ok(Box::new(TarpcClient(client)) as Box<dyn Conn>)
        })
    }
}

struct TarpcClient(EchoClient);

async fn tarpc_call(client: &EchoClient) -> io::Result<()> {
    let answer = client
        .echo(context::current(), PAYLOAD.to_owned())
        .await
        .map_err(io::Error::other)?;
    if answer.len() == PAYLOAD.len() {
        Ok(())
    } else {
        Err(unexpected("wrong answer"))
    }
}

impl Conn for TarpcClient {
    fn call(&mut self) -> BoxFut<'_, io::Result<()>> {
        Box::pin(tarpc_call(&self.0))
    }

    fn pipeline(
        self: Box<Self>,
        in_flight: usize,
        progress: Arc<Progress>,
    ) -> BoxFut<'static, io::Result<()>> {
        Box::pin(lanes((0..in_flight).map(move |_| {
            let client = self.0.clone();
            let progress = progress.clone();
            async move {
                while !progress.stopped() {
                    tarpc_call(&client).await?;
                    progress.answered(1);
                }
                Ok(())
            }
        })))
    }
}
