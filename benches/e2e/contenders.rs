//! tower-ipc and the hand-written tokio baselines it is measured against.
//!
//! The baselines are what a careful programmer writes by hand with tokio
//! alone: a `Framed` echo loop with `LengthDelimitedCodec`, and a
//! newline-delimited serde_json JSON-RPC loop, each flushing once per burst
//! of answers, with clients that keep their requests in flight from one task.
//! On Unix they use tokio's `UnixListener`/`UnixStream` directly; on Windows
//! (named pipes) they borrow tower-ipc's pipe listener and stream, which have
//! no framing or dispatch of their own.

use std::{borrow::Cow, convert::Infallible, io, sync::Arc};

use bytes::Bytes;
use futures::{FutureExt, SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio_util::codec::{Framed, LengthDelimitedCodec, LinesCodec};
use tower::{Service, ServiceExt, service_fn};
use tower_ipc::{
    Client, Endpoint,
    codec::LengthPrefixed,
    jsonrpc::{ErrorObject, JsonRpc, JsonRpcClient, Router},
};

use crate::harness::{BoxFut, Conn, Contender, Family, PAYLOAD, Progress, lanes};

/// Every contender of this file, baselines first.
#[allow(dead_code)] // the comparison crate lists its own
#[cfg(not(all(feature = "macros", feature = "postcard")))]
pub(crate) static ALL: [&dyn Contender; 6] = [
    &BaselineFrames,
    &TowerIpcFrames,
    &OurServer(&TowerIpcFrames),
    &BaselineJson,
    &TowerIpcJsonRpc,
    &OurServer(&TowerIpcJsonRpc),
];

/// Every contender of this file, baselines first; with the features for
/// it, a service trait in postcard frames too.
#[allow(dead_code)] // the comparison crate lists its own
#[cfg(all(feature = "macros", feature = "postcard"))]
pub(crate) static ALL: [&dyn Contender; 7] = [
    &BaselineFrames,
    &TowerIpcFrames,
    &OurServer(&TowerIpcFrames),
    &typed::TowerIpcTyped,
    &BaselineJson,
    &TowerIpcJsonRpc,
    &OurServer(&TowerIpcJsonRpc),
];

/// Runs `server` on a multi-threaded runtime (a worker per core), as a
/// server process would.
pub(crate) fn block_on<F: std::future::Future>(server: F) -> F::Output {
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(server)
}

pub(crate) fn unexpected(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed")
}

/// The raw transport of the baselines.
mod raw {
    use std::io;

    #[cfg(unix)]
    pub(crate) type Stream = tokio::net::UnixStream;
    #[cfg(windows)]
    pub(crate) type Stream = tower_ipc::transport::IpcStream;

    #[cfg(unix)]
    pub(crate) struct Listener(tokio::net::UnixListener);
    #[cfg(windows)]
    pub(crate) struct Listener(tower_ipc::transport::IpcListener);

    impl Listener {
        pub(crate) async fn bind(endpoint: &str) -> io::Result<Self> {
            #[cfg(unix)]
            return tokio::net::UnixListener::bind(endpoint).map(Self);
            #[cfg(windows)]
            return tower_ipc::Endpoint::new(endpoint).bind().await.map(Self);
        }

        pub(crate) async fn accept(&mut self) -> io::Result<Stream> {
            #[cfg(unix)]
            return self.0.accept().await.map(|(stream, _)| stream);
            #[cfg(windows)]
            return tower_ipc::transport::Listener::accept(&mut self.0)
                .await
                .map(|(stream, _)| stream);
        }
    }

    pub(crate) async fn connect(endpoint: &str) -> io::Result<Stream> {
        #[cfg(unix)]
        return tokio::net::UnixStream::connect(endpoint).await;
        #[cfg(windows)]
        return tower_ipc::Endpoint::new(endpoint)
            .connect_timeout(std::time::Duration::from_secs(10))
            .await;
    }
}

/// Accepts connections for ever, each served by `serve` on its own task.
async fn accept_loop<F, Fut>(endpoint: &str, ready: &dyn Fn(), serve: F)
where
    F: Fn(raw::Stream) -> Fut,
    Fut: std::future::Future<Output = io::Result<()>> + Send + 'static,
{
    let mut listener = raw::Listener::bind(endpoint).await.expect("bind");
    ready();
    loop {
        match listener.accept().await {
            Ok(stream) => {
                tokio::spawn(serve(stream));
            }
            Err(err) => eprintln!("accept: {err}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Frames: the hand-written baseline.

/// A `Framed` echo loop with tokio-util's `LengthDelimitedCodec`.
pub(crate) struct BaselineFrames;

impl Contender for BaselineFrames {
    fn name(&self) -> &'static str {
        "baseline-frames"
    }

    fn family(&self) -> Family {
        Family::Frames
    }

    fn is_baseline(&self) -> bool {
        true
    }

    fn serve(&self, endpoint: &str, ready: &dyn Fn()) {
        block_on(accept_loop(endpoint, ready, |stream| async move {
            let mut framed = Framed::new(stream, LengthDelimitedCodec::new());
            while let Some(frame) = framed.next().await {
                framed.feed(frame?.freeze()).await?;
                // Answer everything already read, then flush once.
                while let Some(Some(frame)) = framed.next().now_or_never() {
                    framed.feed(frame?.freeze()).await?;
                }
                SinkExt::<Bytes>::flush(&mut framed).await?;
            }
            Ok(())
        }));
    }

    fn connect<'a>(&'a self, endpoint: &'a str) -> BoxFut<'a, io::Result<Box<dyn Conn>>> {
        Box::pin(async move {
            let stream = raw::connect(endpoint).await?;
            Ok(
                Box::new(RawFrames(Framed::new(stream, LengthDelimitedCodec::new())))
                    as Box<dyn Conn>,
            )
        })
    }
}

struct RawFrames(Framed<raw::Stream, LengthDelimitedCodec>);

fn check_frame(frame: &[u8]) -> io::Result<()> {
    if frame.len() == PAYLOAD.len() {
        Ok(())
    } else {
        Err(unexpected("wrong answer"))
    }
}

impl Conn for RawFrames {
    fn call(&mut self) -> BoxFut<'_, io::Result<()>> {
        Box::pin(async move {
            self.0.send(Bytes::from_static(PAYLOAD.as_bytes())).await?;
            check_frame(&self.0.next().await.ok_or_else(closed)??)
        })
    }

    fn pipeline(
        self: Box<Self>,
        in_flight: usize,
        progress: Arc<Progress>,
    ) -> BoxFut<'static, io::Result<()>> {
        let mut framed = self.0;
        Box::pin(async move {
            let mut outstanding = 0;
            loop {
                while outstanding < in_flight && !progress.stopped() {
                    framed.feed(Bytes::from_static(PAYLOAD.as_bytes())).await?;
                    outstanding += 1;
                }
                SinkExt::<Bytes>::flush(&mut framed).await?;
                if outstanding == 0 {
                    return Ok(());
                }
                check_frame(&framed.next().await.ok_or_else(closed)??)?;
                let mut answered = 1;
                while answered < outstanding {
                    match framed.next().now_or_never() {
                        Some(Some(frame)) => check_frame(&frame?)?,
                        _ => break,
                    }
                    answered += 1;
                }
                outstanding -= answered;
                progress.answered(answered as u64);
            }
        })
    }
}

// ---------------------------------------------------------------------------
// Frames: tower-ipc.

/// `tower_ipc::serve` with `LengthPrefixed` and an echo `service_fn`;
/// `tower_ipc::Client` called through `ServiceExt`.
pub(crate) struct TowerIpcFrames;

impl Contender for TowerIpcFrames {
    fn name(&self) -> &'static str {
        "tower-ipc-frames"
    }

    fn family(&self) -> Family {
        Family::Frames
    }

    fn is_ours(&self) -> bool {
        true
    }

    fn serve(&self, endpoint: &str, ready: &dyn Fn()) {
        block_on(async {
            let listener = Endpoint::new(endpoint).bind().await.expect("bind");
            ready();
            let echo = service_fn(|frame: Bytes| async move { Ok::<_, Infallible>(frame) });
            tower_ipc::serve(listener, LengthPrefixed::new(), echo)
                .await
                .expect("serve");
        });
    }

    fn connect<'a>(&'a self, endpoint: &'a str) -> BoxFut<'a, io::Result<Box<dyn Conn>>> {
        Box::pin(async move {
            let stream = Endpoint::new(endpoint)
                .connect_timeout(std::time::Duration::from_secs(10))
                .await?;
            let client = Client::new(Framed::new(stream, LengthPrefixed::new()));
            Ok(Box::new(OurFrames(client)) as Box<dyn Conn>)
        })
    }
}

struct OurFrames(Client<Bytes, Bytes>);

async fn our_frame_call(client: &mut Client<Bytes, Bytes>) -> io::Result<()> {
    let ready = client.ready().await.map_err(io::Error::other)?;
    let answer = ready
        .call(Bytes::from_static(PAYLOAD.as_bytes()))
        .await
        .map_err(io::Error::other)?;
    check_frame(&answer)
}

impl Conn for OurFrames {
    fn call(&mut self) -> BoxFut<'_, io::Result<()>> {
        Box::pin(our_frame_call(&mut self.0))
    }

    fn pipeline(
        self: Box<Self>,
        in_flight: usize,
        progress: Arc<Progress>,
    ) -> BoxFut<'static, io::Result<()>> {
        Box::pin(lanes((0..in_flight).map(move |_| {
            let mut client = self.0.clone();
            let progress = progress.clone();
            async move {
                while !progress.stopped() {
                    our_frame_call(&mut client).await?;
                    progress.answered(1);
                }
                Ok(())
            }
        })))
    }
}

// ---------------------------------------------------------------------------
// Frames: a service trait, in postcard frames.

#[cfg(all(feature = "macros", feature = "postcard"))]
mod typed {
    use super::*;
    use tower_ipc::{
        service::{Frames, RpcClient},
        typed::Postcard,
    };

    /// The echo, as a service trait.
    #[tower_ipc::service]
    pub(crate) trait Echo {
        /// Answers `payload`.
        async fn echo(&self, payload: String) -> String;
    }

    struct Echoer;

    impl Echo for Echoer {
        async fn echo(&self, payload: String) -> String {
            payload
        }
    }

    /// `#[tower_ipc::service]`'s server in `Frames` of `LengthPrefixed` and
    /// postcard; its generated client. The frames' counterpart with typed
    /// messages: a method name, a 64-character `String` and back.
    pub(crate) struct TowerIpcTyped;

    impl Contender for TowerIpcTyped {
        fn name(&self) -> &'static str {
            "tower-ipc-typed-postcard"
        }

        fn family(&self) -> Family {
            Family::Frames
        }

        fn is_ours(&self) -> bool {
            true
        }

        fn serve(&self, endpoint: &str, ready: &dyn Fn()) {
            block_on(async {
                let listener = Endpoint::new(endpoint).bind().await.expect("bind");
                ready();
                let frames = Frames::new(LengthPrefixed::new(), Postcard);
                tower_ipc::serve(listener, frames, EchoServer::new(Echoer))
                    .await
                    .expect("serve");
            });
        }

        fn connect<'a>(&'a self, endpoint: &'a str) -> BoxFut<'a, io::Result<Box<dyn Conn>>> {
            Box::pin(async move {
                let stream = Endpoint::new(endpoint)
                    .connect_timeout(std::time::Duration::from_secs(10))
                    .await?;
                let rpc = RpcClient::frames(stream, LengthPrefixed::new(), Postcard);
                Ok(Box::new(EchoClient::new(rpc)) as Box<dyn Conn>)
            })
        }
    }

    async fn typed_call(client: &EchoClient) -> io::Result<()> {
        let answer = client
            .echo(PAYLOAD.to_owned())
            .await
            .map_err(io::Error::other)?;
        check_frame(answer.as_bytes())
    }

    impl Conn for EchoClient {
        fn call(&mut self) -> BoxFut<'_, io::Result<()>> {
            Box::pin(typed_call(self))
        }

        fn pipeline(
            self: Box<Self>,
            in_flight: usize,
            progress: Arc<Progress>,
        ) -> BoxFut<'static, io::Result<()>> {
            Box::pin(lanes((0..in_flight).map(move |_| {
                let client = (*self).clone();
                let progress = progress.clone();
                async move {
                    while !progress.stopped() {
                        typed_call(&client).await?;
                        progress.answered(1);
                    }
                    Ok(())
                }
            })))
        }
    }
}

// ---------------------------------------------------------------------------
// JSON-RPC: the hand-written baseline.

/// Newline-delimited JSON-RPC with tokio-util's `LinesCodec` and serde_json:
/// requests parsed into borrowed structs, params into the handler's type.
pub(crate) struct BaselineJson;

#[derive(Deserialize)]
struct RpcRequest<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
}

#[derive(Serialize)]
struct RpcResponse<'a, T> {
    jsonrpc: &'static str,
    id: &'a RawValue,
    result: T,
}

#[derive(Serialize)]
struct RpcError<'a> {
    jsonrpc: &'static str,
    id: &'a RawValue,
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: i32,
    message: &'a str,
}

#[derive(Serialize)]
struct RpcCall<'a> {
    jsonrpc: &'static str,
    id: u64,
    method: &'a str,
    params: (&'a str,),
}

#[derive(Deserialize)]
struct RpcAnswer {
    id: u64,
    result: String,
}

/// The baseline's dispatch: `None` for a notification.
fn baseline_answer(line: &str) -> Option<String> {
    let null = RawValue::from_string("null".to_owned()).expect("json");
    let error = |id: &RawValue, code, message| {
        Some(
            serde_json::to_string(&RpcError {
                jsonrpc: "2.0",
                id,
                error: ErrorBody { code, message },
            })
            .expect("serializes"),
        )
    };
    let request: RpcRequest<'_> = match serde_json::from_str(line) {
        Ok(request) => request,
        Err(_) => return error(&null, -32700, "parse error"),
    };
    let id = request.id?;
    match request.method.as_ref() {
        "echo" => {
            let params = request.params.map_or("null", RawValue::get);
            match serde_json::from_str::<(String,)>(params) {
                Ok((text,)) => Some(
                    serde_json::to_string(&RpcResponse {
                        jsonrpc: "2.0",
                        id,
                        result: text,
                    })
                    .expect("serializes"),
                ),
                Err(_) => error(id, -32602, "invalid params"),
            }
        }
        _ => error(id, -32601, "method not found"),
    }
}

impl Contender for BaselineJson {
    fn name(&self) -> &'static str {
        "baseline-json"
    }

    fn family(&self) -> Family {
        Family::Json
    }

    fn is_baseline(&self) -> bool {
        true
    }

    fn serve(&self, endpoint: &str, ready: &dyn Fn()) {
        block_on(accept_loop(endpoint, ready, |stream| async move {
            let mut framed = Framed::new(stream, LinesCodec::new());
            while let Some(line) = framed.next().await {
                if let Some(answer) = baseline_answer(&line.map_err(io::Error::other)?) {
                    framed.feed(answer).await.map_err(io::Error::other)?;
                }
                while let Some(Some(line)) = framed.next().now_or_never() {
                    if let Some(answer) = baseline_answer(&line.map_err(io::Error::other)?) {
                        framed.feed(answer).await.map_err(io::Error::other)?;
                    }
                }
                SinkExt::<String>::flush(&mut framed)
                    .await
                    .map_err(io::Error::other)?;
            }
            Ok(())
        }));
    }

    fn connect<'a>(&'a self, endpoint: &'a str) -> BoxFut<'a, io::Result<Box<dyn Conn>>> {
        Box::pin(async move {
            let stream = raw::connect(endpoint).await?;
            Ok(Box::new(RawJson {
                framed: Framed::new(stream, LinesCodec::new()),
                next_id: 1,
            }) as Box<dyn Conn>)
        })
    }
}

struct RawJson {
    framed: Framed<raw::Stream, LinesCodec>,
    next_id: u64,
}

impl RawJson {
    fn request(&mut self) -> String {
        let id = self.next_id;
        self.next_id += 1;
        serde_json::to_string(&RpcCall {
            jsonrpc: "2.0",
            id,
            method: "echo",
            params: (PAYLOAD,),
        })
        .expect("serializes")
    }
}

fn check_json(line: Result<String, tokio_util::codec::LinesCodecError>) -> io::Result<u64> {
    let answer: RpcAnswer =
        serde_json::from_str(&line.map_err(io::Error::other)?).map_err(io::Error::other)?;
    if answer.result.len() == PAYLOAD.len() {
        Ok(answer.id)
    } else {
        Err(unexpected("wrong answer"))
    }
}

impl Conn for RawJson {
    fn call(&mut self) -> BoxFut<'_, io::Result<()>> {
        Box::pin(async move {
            let request = self.request();
            self.framed.send(request).await.map_err(io::Error::other)?;
            check_json(self.framed.next().await.ok_or_else(closed)?).map(drop)
        })
    }

    fn pipeline(
        mut self: Box<Self>,
        in_flight: usize,
        progress: Arc<Progress>,
    ) -> BoxFut<'static, io::Result<()>> {
        Box::pin(async move {
            let mut outstanding = 0;
            loop {
                while outstanding < in_flight && !progress.stopped() {
                    let request = self.request();
                    self.framed.feed(request).await.map_err(io::Error::other)?;
                    outstanding += 1;
                }
                SinkExt::<String>::flush(&mut self.framed)
                    .await
                    .map_err(io::Error::other)?;
                if outstanding == 0 {
                    return Ok(());
                }
                check_json(self.framed.next().await.ok_or_else(closed)?)?;
                let mut answered = 1;
                while answered < outstanding {
                    match self.framed.next().now_or_never() {
                        Some(Some(line)) => check_json(line)?,
                        _ => break,
                    };
                    answered += 1;
                }
                outstanding -= answered;
                progress.answered(answered as u64);
            }
        })
    }
}

// ---------------------------------------------------------------------------
// JSON-RPC: tower-ipc.

/// `tower_ipc::serve` with `JsonRpc` and a `Router` with one typed handler;
/// the typed `JsonRpcClient`.
pub(crate) struct TowerIpcJsonRpc;

impl Contender for TowerIpcJsonRpc {
    fn name(&self) -> &'static str {
        "tower-ipc-jsonrpc"
    }

    fn family(&self) -> Family {
        Family::Json
    }

    fn is_ours(&self) -> bool {
        true
    }

    fn serve(&self, endpoint: &str, ready: &dyn Fn()) {
        block_on(async {
            let listener = Endpoint::new(endpoint).bind().await.expect("bind");
            ready();
            let router = Router::new().method("echo", |(text,): (String,)| async move {
                Ok::<_, ErrorObject>(text)
            });
            tower_ipc::serve(listener, JsonRpc::new(), router)
                .await
                .expect("serve");
        });
    }

    fn connect<'a>(&'a self, endpoint: &'a str) -> BoxFut<'a, io::Result<Box<dyn Conn>>> {
        Box::pin(async move {
            let stream = Endpoint::new(endpoint)
                .connect_timeout(std::time::Duration::from_secs(10))
                .await?;
            Ok(Box::new(OurJson(JsonRpcClient::new(stream))) as Box<dyn Conn>)
        })
    }
}

struct OurJson(JsonRpcClient);

async fn our_json_call(client: &JsonRpcClient) -> io::Result<()> {
    let answer: String = client
        .call("echo", (PAYLOAD,))
        .await
        .map_err(io::Error::other)?;
    check_frame(answer.as_bytes())
}

impl Conn for OurJson {
    fn call(&mut self) -> BoxFut<'_, io::Result<()>> {
        Box::pin(our_json_call(&self.0))
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
                    our_json_call(&client).await?;
                    progress.answered(1);
                }
                Ok(())
            }
        })))
    }
}

// ---------------------------------------------------------------------------
// tower-ipc's servers alone.

/// A tower-ipc server driven by the hand-written client of its family (the
/// wire formats agree): the server's share of the costs, without the
/// client's.
pub(crate) struct OurServer(pub(crate) &'static dyn Contender);

impl Contender for OurServer {
    fn name(&self) -> &'static str {
        match self.0.family() {
            Family::Frames => "tower-ipc-frames/raw-client",
            Family::Json => "tower-ipc-jsonrpc/raw-client",
        }
    }

    fn family(&self) -> Family {
        self.0.family()
    }

    fn is_ours(&self) -> bool {
        true
    }

    fn raw_client(&self) -> bool {
        true
    }

    fn serve(&self, endpoint: &str, ready: &dyn Fn()) {
        self.0.serve(endpoint, ready);
    }

    fn connect<'a>(&'a self, endpoint: &'a str) -> BoxFut<'a, io::Result<Box<dyn Conn>>> {
        match self.0.family() {
            Family::Frames => BaselineFrames.connect(endpoint),
            Family::Json => BaselineJson.connect(endpoint),
        }
    }
}
