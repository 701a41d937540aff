//! The task that owns a JSON-RPC client's connection: a writer sending the
//! callers' messages, a reader pairing answers with calls by id and routing
//! subscription items, and reconnection when asked for.

use std::{
    borrow::Cow,
    collections::HashMap,
    hash::{BuildHasherDefault, Hasher},
    pin::pin,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use bytes::Bytes;
use futures::{SinkExt, Stream, StreamExt, stream::SplitSink};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::{Notify, mpsc, oneshot},
};
use tokio_util::codec::Framed;

use super::reply;
use crate::{
    Endpoint,
    client::Error,
    codec::JsonCodec,
    jsonrpc::{
        ErrorObject, Response,
        message::{Reply, parse_reply},
    },
    transport::IpcStream,
};

/// What a subscription's stream receives: an item's raw JSON, or why the
/// subscription ended.
pub(super) type Item = Result<Bytes, End>;

/// Why a subscription ended early.
#[derive(Debug)]
pub(super) enum End {
    /// The server ended it with an error.
    Server(ErrorObject),
    /// The consumer fell more than its buffer behind.
    Lagged(usize),
    /// The connection is gone.
    Connection(Error),
}

pub(super) type Answer = oneshot::Sender<Result<reply::Answer, Error>>;
pub(super) type Opened = oneshot::Sender<Result<(Response, Option<mpsc::Receiver<Item>>), Error>>;

/// A message for the connection task.
pub(super) enum Command {
    /// One request; `forget` drops a subscription's routing (unsubscribe).
    /// A `typed` call's answer may come as its unparsed frame.
    Call {
        id: u64,
        message: Bytes,
        answer: Answer,
        typed: bool,
        forget: Option<String>,
    },
    /// Requests sent together, each answered on its own.
    Batch {
        message: Bytes,
        calls: Vec<(u64, Answer)>,
    },
    Notify {
        message: Bytes,
        sent: oneshot::Sender<Result<(), Error>>,
    },
    /// A request that opens a subscription: routing starts as soon as the
    /// answer arrives, before any item can be missed.
    Subscribe {
        id: u64,
        message: Bytes,
        buffer: usize,
        opened: Opened,
    },
    /// A subscription stream was dropped: stop routing, tell the server.
    Unsubscribe {
        subscription: String,
        id: u64,
        message: Bytes,
    },
}

impl Command {
    fn fail(self, err: &Error) {
        match self {
            Self::Call { answer, .. } => {
                let _ = answer.send(Err(err.clone()));
            }
            Self::Batch { calls, .. } => {
                for (_, answer) in calls {
                    let _ = answer.send(Err(err.clone()));
                }
            }
            Self::Notify { sent, .. } => {
                let _ = sent.send(Err(err.clone()));
            }
            Self::Subscribe { opened, .. } => {
                let _ = opened.send(Err(err.clone()));
            }
            Self::Unsubscribe { .. } => {}
        }
    }
}

/// How to connect again after the connection is lost.
#[derive(Clone, Debug)]
pub(super) struct Reconnect {
    pub(super) endpoint: Endpoint,
    pub(super) timeout: Duration,
}

#[derive(Clone, Debug)]
pub(super) struct Settings {
    pub(super) codec: JsonCodec,
    pub(super) max_in_flight: usize,
}

enum Pending {
    Call {
        answer: Answer,
        typed: bool,
    },
    Subscribe {
        opened: Opened,
        buffer: usize,
    },
    /// An answer nobody waits for (an unsubscribe from a dropped stream).
    Ignore,
}

impl Pending {
    fn abandoned(&self) -> bool {
        match self {
            Self::Call { answer, .. } => answer.is_closed(),
            Self::Subscribe { opened, .. } => opened.is_closed(),
            Self::Ignore => false,
        }
    }
}

#[derive(Default)]
struct State {
    pending: HashMap<u64, Pending, BuildHasherDefault<IdHasher>>,
    subscriptions: HashMap<String, mpsc::Sender<Item>>,
}

/// Hashes the client's own call ids: consecutive numbers, not chosen by
/// anyone who could aim at collisions, so one multiplication spreads them
/// (SipHash cost more than the rest of the map's work).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 << 8 | u64::from(byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, id: u64) {
        // Fibonacci hashing: the high bits, which hashbrown uses for its
        // control bytes, depend on every bit of the id.
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The state the reader and the writer share.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// An answer arrived: there may be room for more calls.
    answered: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update is a single insert or removal: a panic elsewhere
        // cannot leave the maps inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fails every call in flight and ends every subscription.
    fn fail_all(&self, err: &Error) {
        let mut state = self.lock();
        for (_, pending) in state.pending.drain() {
            match pending {
                Pending::Call { answer, .. } => {
                    let _ = answer.send(Err(err.clone()));
                }
                Pending::Subscribe { opened, .. } => {
                    let _ = opened.send(Err(err.clone()));
                }
                Pending::Ignore => {}
            }
        }
        for (_, items) in state.subscriptions.drain() {
            // The slot kept free for the end is there.
            let _ = items.try_send(Err(End::Connection(err.clone())));
        }
    }
}

/// Runs a client until every handle is gone, over `transport` and, with
/// `reconnect`, over the connections it makes when one is lost.
pub(super) async fn run<T>(
    mut commands: mpsc::Receiver<Command>,
    io: T,
    reconnect: Option<Reconnect>,
    settings: Settings,
) where
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    let framed = Framed::new(io, settings.codec.clone());
    if serve(framed, &mut commands, None, &settings).await {
        return;
    }
    let Some(reconnect) = reconnect else {
        fail_all_commands(&mut commands, &Error::closed());
        return;
    };
    // Connect again when the next caller needs it.
    while let Some(first) = commands.recv().await {
        match reconnect.endpoint.connect_timeout(reconnect.timeout).await {
            Ok(stream) => {
                tracing::debug!(endpoint = %reconnect.endpoint, "client reconnected");
                let framed: Framed<IpcStream, _> = Framed::new(stream, settings.codec.clone());
                if serve(framed, &mut commands, Some(first), &settings).await {
                    return;
                }
            }
            Err(err) => first.fail(&Error::transport(err.into())),
        }
    }
}

/// Fails the commands that are queued and closes the queue.
fn fail_all_commands(commands: &mut mpsc::Receiver<Command>, err: &Error) {
    commands.close();
    while let Ok(command) = commands.try_recv() {
        command.fail(err);
    }
}

/// Serves one connection. Returns `true` when every handle is gone (the
/// client is done), `false` when the connection was lost.
async fn serve<T>(
    framed: Framed<T, JsonCodec>,
    commands: &mut mpsc::Receiver<Command>,
    first: Option<Command>,
    settings: &Settings,
) -> bool
where
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    let shared = Arc::new(Shared::default());
    let (sink, stream) = framed.split();
    let reading = pin!(read(stream, &shared));
    let writing = pin!(write(
        sink,
        commands,
        first,
        &shared,
        settings.max_in_flight
    ));
    let err = tokio::select! {
        err = reading => err,
        outcome = writing => match outcome {
            Ok(()) => return true,
            Err(err) => err,
        },
    };
    tracing::debug!(error = %err, "client connection ended");
    shared.fail_all(&err);
    false
}

/// Reads answers and items until the connection ends; returns why it did.
async fn read<S>(mut stream: S, shared: &Shared) -> Error
where
    S: Stream<Item = std::io::Result<Bytes>> + Unpin,
{
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(frame) => route(frame, shared),
            Err(err) => return Error::transport(err.into()),
        }
    }
    Error::closed()
}

fn route(frame: Bytes, shared: &Shared) {
    if let Some(id) = reply::leading_id(&frame) {
        let mut state = shared.lock();
        if let Some(Pending::Call { typed: true, .. }) = state.pending.get(&id) {
            if let Some(Pending::Call { answer, .. }) = state.pending.remove(&id) {
                let _ = answer.send(Ok(reply::Answer::Frame(frame)));
            }
            drop(state);
            shared.answered.notify_one();
            return;
        }
    }
    match parse_reply(&frame) {
        Ok(Reply::Response(response)) => answer(response, shared),
        Ok(Reply::Batch(responses)) => responses
            .into_iter()
            .for_each(|response| answer(response, shared)),
        Ok(Reply::Notification { method, params }) => item(&method, params, shared),
        Err(problem) => {
            tracing::warn!(%problem, "ignoring a message the server should not have sent")
        }
    }
}

fn answer(response: Response, shared: &Shared) {
    let Some(id) = response.id().as_u64() else {
        tracing::warn!(id = %response.id(), "ignoring an answer to no call of ours");
        return;
    };
    let mut state = shared.lock();
    match state.pending.remove(&id) {
        Some(Pending::Call { answer, .. }) => {
            let _ = answer.send(Ok(reply::Answer::Parsed(response)));
        }
        Some(Pending::Subscribe { opened, buffer }) => {
            let routed = response.result_json().and_then(|json| {
                let subscription = serde_json::from_str::<String>(json).ok()?;
                // One slot more than the buffer, kept for the end.
                let (items, receiver) = mpsc::channel(buffer + 1);
                state.subscriptions.insert(subscription, items);
                Some(receiver)
            });
            let _ = opened.send(Ok((response, routed)));
        }
        Some(Pending::Ignore) => {}
        None => tracing::debug!(id, "ignoring an answer to an abandoned call"),
    }
    drop(state);
    shared.answered.notify_one();
}

/// The params of a subscription item.
#[derive(Deserialize)]
struct ItemParams<'a> {
    #[serde(borrow)]
    subscription: Cow<'a, str>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<ErrorObject>,
}

fn item(method: &str, params: Option<Bytes>, shared: &Shared) {
    let Some(params) = params else {
        tracing::debug!(%method, "ignoring a notification without params");
        return;
    };
    let Ok(item) = serde_json::from_slice::<ItemParams<'_>>(&params) else {
        tracing::debug!(%method, "ignoring a notification that is no subscription item");
        return;
    };
    let mut state = shared.lock();
    let Some(items) = state.subscriptions.get(item.subscription.as_ref()) else {
        return; // A subscription we dropped; items may still be on the way.
    };
    let (message, last) = match (item.result, item.error) {
        (_, Some(error)) => (Err(End::Server(error)), true),
        (Some(result), None) => {
            if items.capacity() > 1 {
                (Ok(params.slice_ref(result.get().as_bytes())), false)
            } else {
                // Full but for the slot kept for the end: the consumer lags.
                (Err(End::Lagged(items.max_capacity() - 1)), true)
            }
        }
        (None, None) => return,
    };
    let _ = items.try_send(message);
    if last {
        state.subscriptions.remove(item.subscription.as_ref());
    }
}

/// Sends the callers' messages, flushing once per burst, with at most
/// `max_in_flight` calls unanswered. Returns `Ok` when every handle is gone
/// and every call answered.
async fn write<T>(
    mut sink: SplitSink<Framed<T, JsonCodec>, Bytes>,
    commands: &mut mpsc::Receiver<Command>,
    mut first: Option<Command>,
    shared: &Shared,
    max_in_flight: usize,
) -> Result<(), Error>
where
    T: AsyncRead + AsyncWrite,
{
    /// Messages fed before a flush, at most.
    const BURST: usize = 64;
    loop {
        wait_for_room(shared, max_in_flight).await;
        let command = match first.take() {
            Some(command) => command,
            None => match commands.recv().await {
                Some(command) => command,
                None => {
                    wait_for_room(shared, 1).await;
                    let _ = sink.close().await;
                    return Ok(());
                }
            },
        };
        let mut sent = Vec::new();
        feed(&mut sink, command, shared, &mut sent).await?;
        while sent.len() < BURST && shared.lock().pending.len() < max_in_flight {
            let Ok(command) = commands.try_recv() else {
                break;
            };
            feed(&mut sink, command, shared, &mut sent).await?;
        }
        let flushed = sink.flush().await;
        for ack in sent {
            let _ = ack.send(
                flushed
                    .as_ref()
                    .map(|_| ())
                    .map_err(|err| Error::transport(err.to_string().into())),
            );
        }
        flushed.map_err(|err| Error::transport(err.into()))?;
    }
}

/// Waits until fewer than `limit` calls are unanswered, dropping calls whose
/// callers gave up when that makes room.
async fn wait_for_room(shared: &Shared, limit: usize) {
    loop {
        let answered = shared.answered.notified();
        let mut answered = pin!(answered);
        answered.as_mut().enable();
        {
            let mut state = shared.lock();
            if state.pending.len() >= limit {
                state.pending.retain(|_, pending| !pending.abandoned());
            }
            if state.pending.len() < limit {
                return;
            }
        }
        answered.await;
    }
}

/// Registers a command's calls and hands its message to the sink.
async fn feed<T>(
    sink: &mut SplitSink<Framed<T, JsonCodec>, Bytes>,
    command: Command,
    shared: &Shared,
    acks: &mut Vec<oneshot::Sender<Result<(), Error>>>,
) -> Result<(), Error>
where
    T: AsyncRead + AsyncWrite,
{
    let message = {
        let mut state = shared.lock();
        match command {
            Command::Call {
                id,
                message,
                answer,
                typed,
                forget,
            } => {
                if let Some(subscription) = forget {
                    state.subscriptions.remove(&subscription);
                }
                state.pending.insert(id, Pending::Call { answer, typed });
                message
            }
            Command::Batch { message, calls } => {
                for (id, answer) in calls {
                    state.pending.insert(
                        id,
                        Pending::Call {
                            answer,
                            typed: false,
                        },
                    );
                }
                message
            }
            Command::Notify { message, sent } => {
                acks.push(sent);
                message
            }
            Command::Subscribe {
                id,
                message,
                buffer,
                opened,
            } => {
                state
                    .pending
                    .insert(id, Pending::Subscribe { opened, buffer });
                message
            }
            Command::Unsubscribe {
                subscription,
                id,
                message,
            } => {
                state.subscriptions.remove(&subscription);
                state.pending.insert(id, Pending::Ignore);
                message
            }
        }
    };
    sink.feed(message)
        .await
        .map_err(|err| Error::transport(err.into()))
}
