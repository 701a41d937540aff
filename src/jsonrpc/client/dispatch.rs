//! The task that owns a JSON-RPC client's connection: it writes the callers'
//! messages, pairs answers with calls by id, routes subscription items, and
//! connects again when asked to.

use std::{
    borrow::Cow,
    collections::{VecDeque, hash_map::Entry},
    future::poll_fn,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, Waker},
    time::Duration,
};

use bytes::{BufMut, Bytes, BytesMut};
use futures::{Sink, Stream};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::mpsc,
};
use tokio_util::codec::Framed;

use super::{
    reply::{self, Answer},
    shared::{Command, End, Pending, Sent, Shared, State},
};
use crate::{
    Endpoint,
    client::Error,
    codec::JsonCodec,
    jsonrpc::{ErrorObject, Message, Response, wire::parse::parse_message},
    transport::IpcStream,
};

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

/// Runs a client until every handle is gone, over `io` and, with
/// `reconnect`, over the connections it makes when one is lost.
pub(super) async fn run<T>(
    shared: Arc<Shared>,
    io: T,
    reconnect: Option<Reconnect>,
    settings: Settings,
) where
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    // However the task ends (dropped with its runtime too), no caller is
    // left waiting.
    let _closing = CloseOnDrop(&shared);
    // Pinned on the heap, the stream is `Unpin`, and so is its `Framed`,
    // whose write buffer `Connection` then reaches.
    let io = Box::pin(io);
    if serve(Framed::new(io, settings.codec.clone()), &shared, &settings).await {
        return;
    }
    let Some(reconnect) = reconnect else {
        return;
    };
    // Connect again when the next caller needs it.
    while shared.work().await {
        match reconnect.endpoint.connect_timeout(reconnect.timeout).await {
            Ok(stream) => {
                tracing::debug!(endpoint = %reconnect.endpoint, "client reconnected");
                let framed: Framed<IpcStream, _> = Framed::new(stream, settings.codec.clone());
                if serve(framed, &shared, &settings).await {
                    return;
                }
            }
            Err(err) => shared.fail_first(&Error::transport(err.into())),
        }
    }
}

struct CloseOnDrop<'a>(&'a Shared);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.lose_connection(&Error::closed(), true);
    }
}

/// Serves one connection. Returns `true` when every handle is gone (the
/// client is done), `false` when the connection was lost.
async fn serve<T>(framed: Framed<T, JsonCodec>, shared: &Shared, settings: &Settings) -> bool
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut connection = Connection {
        framed,
        encoder: settings.codec.clone(),
        shared,
        max_in_flight: settings.max_in_flight.max(1),
        outgoing: VecDeque::new(),
        written: Vec::new(),
        frames: Vec::new(),
        last_word: None,
        wake: Vec::new(),
        needs_flush: false,
        handles_gone: false,
    };
    let Err(err) = poll_fn(|cx| connection.poll(cx)).await else {
        return true;
    };
    tracing::debug!(error = %err, "client connection ended");
    for sent in connection.written.drain(..) {
        let _ = sent.send(Err(err.clone()));
    }
    for (_, sent) in connection.outgoing.drain(..) {
        if let Some(sent) = sent {
            let _ = sent.send(Err(err.clone()));
        }
    }
    shared.lose_connection(&err, false);
    false
}

/// One connection, written and read from one task: messages are taken from
/// the queue in batches and flushed together, answers read together are
/// handed over under one lock.
struct Connection<'a, T> {
    framed: Framed<T, JsonCodec>,
    /// Frames messages straight into `framed`'s write buffer: a caller's
    /// message is copied once, without becoming `Bytes` first.
    encoder: JsonCodec,
    shared: &'a Shared,
    max_in_flight: usize,
    /// Messages taken from the queue and not yet written (the transport was
    /// not ready), with a notification's acknowledgement.
    outgoing: VecDeque<(BytesMut, Option<Sent>)>,
    /// Notifications written, acknowledged at the next flush.
    written: Vec<Sent>,
    /// Frames read, routed together.
    frames: Vec<Bytes>,
    /// An error the server sent to no call (`"id": null`) in the last frame
    /// read, such as a refusal past its connection limit: if the connection
    /// ends now, it is why.
    last_word: Option<ErrorObject>,
    /// Whom to wake once the lock is released.
    wake: Vec<Waker>,
    needs_flush: bool,
    /// Every handle is gone and the queue is empty: finish what is in
    /// flight, then stop.
    handles_gone: bool,
}

impl<T> Connection<'_, T>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_io(cx).map_err(|err| {
            // A write can fail on a connection the server closed before the
            // frames it sent are read: route them, to learn why it closed.
            let _ = self.poll_receive(cx);
            match self.last_word.take() {
                Some(reason) => Error::closed_by(reason.into()),
                None => err,
            }
        })
    }

    fn poll_io(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            let (in_flight, more) = self.take_messages(cx);
            self.poll_send(cx)?;
            if self.needs_flush {
                match Pin::new(&mut self.framed).poll_flush(cx) {
                    Poll::Ready(Ok(())) => {
                        self.needs_flush = false;
                        for sent in self.written.drain(..) {
                            let _ = sent.send(Ok(()));
                        }
                    }
                    Poll::Ready(Err(err)) => return Poll::Ready(Err(Error::transport(err.into()))),
                    Poll::Pending => {}
                }
            }
            let received = self.poll_receive(cx)?;
            // Whatever returned `Pending` above (the transport, and the
            // queue when it was found empty) wakes this task when it has
            // more; going round again only helps when answers made room
            // for messages the window kept queued. (Polling the transport
            // again at once costs a turn through its layers, for nothing.)
            if received && more {
                continue;
            }
            if self.handles_gone && in_flight == 0 && self.outgoing.is_empty() && !self.needs_flush
            {
                return Pin::new(&mut self.framed)
                    .poll_close(cx)
                    .map_err(|err| Error::transport(err.into()));
            }
            return Poll::Pending;
        }
    }

    /// Takes queued messages while fewer than `max_in_flight` calls are
    /// unanswered, registering their calls; returns how many are, and
    /// whether messages are left queued (else this task waits for more).
    fn take_messages(&mut self, cx: &Context<'_>) -> (usize, bool) {
        let mut state = self.shared.lock();
        if state.pending.len() >= self.max_in_flight {
            state.forget_abandoned();
        }
        let mut taken = 0;
        while state.pending.len() < self.max_in_flight {
            let Some(command) = state.queue.pop_front() else {
                break;
            };
            taken += 1;
            let message = register(&mut state, command);
            self.outgoing.push_back(message);
        }
        state
            .room
            .give_back(&self.shared.places, taken, &mut self.wake);
        let more = !state.queue.is_empty();
        if !more {
            self.handles_gone = self.shared.handles_gone();
            state.wait_for_work(cx);
        }
        let in_flight = state.pending.len();
        drop(state);
        self.wake.drain(..).for_each(Waker::wake);
        (in_flight, more)
    }

    fn poll_send(&mut self, cx: &mut Context<'_>) -> Result<(), Error> {
        while !self.outgoing.is_empty() {
            match Pin::new(&mut self.framed).poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(err)) => return Err(Error::transport(err.into())),
                Poll::Pending => break,
            }
            let Some((message, sent)) = self.outgoing.pop_front() else {
                break;
            };
            self.encoder
                .encode_with(self.framed.write_buffer_mut(), |dst| {
                    dst.put_slice(&message);
                    Ok(())
                })
                .map_err(|err| Error::transport(err.into()))?;
            self.needs_flush = true;
            self.written.extend(sent);
        }
        Ok(())
    }

    /// Reads the frames that have arrived and routes them; fails when the
    /// connection does, after routing those read before.
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Result<bool, Error> {
        let outcome = loop {
            match Pin::new(&mut self.framed).poll_next(cx) {
                Poll::Ready(Some(Ok(frame))) => self.frames.push(frame),
                Poll::Ready(Some(Err(err))) => break Err(Error::transport(err.into())),
                Poll::Ready(None) => break Err(Error::closed()),
                Poll::Pending => break Ok(()),
            }
        };
        let progress = !self.frames.is_empty();
        if progress {
            let mut state = self.shared.lock();
            for frame in self.frames.drain(..) {
                self.last_word = route(&frame, &mut state, &mut self.wake);
            }
            drop(state);
            self.wake.drain(..).for_each(Waker::wake);
        }
        outcome.map(|()| progress)
    }
}

/// Registers a command's calls; returns its message.
fn register(state: &mut State, command: Command) -> (BytesMut, Option<Sent>) {
    match command {
        Command::Call {
            id,
            message,
            slot,
            typed,
            forget,
        } => {
            if let Some(subscription) = forget {
                state.subscriptions.remove(&subscription);
            }
            state.pending.insert(id, Pending::Call { slot, typed });
            (message, None)
        }
        Command::Batch { message, calls } => {
            for (id, slot) in calls {
                state
                    .pending
                    .insert(id, Pending::Call { slot, typed: false });
            }
            (message, None)
        }
        Command::Notify { message, sent } => (message, Some(sent)),
        Command::Subscribe {
            id,
            message,
            buffer,
            opened,
        } => {
            state
                .pending
                .insert(id, Pending::Subscribe { opened, buffer });
            (message, None)
        }
        Command::Unsubscribe {
            subscription,
            id,
            message,
        } => {
            state.subscriptions.remove(&subscription);
            state.pending.insert(id, Pending::Ignore);
            (message, None)
        }
    }
}

/// Hands a frame to whom it answers; returns the error it holds if it is
/// one the server sent to no call.
fn route(frame: &Bytes, state: &mut State, wake: &mut Vec<Waker>) -> Option<ErrorObject> {
    if let Some(id) = reply::leading_id(&frame)
        && let Entry::Occupied(call) = state.pending.entry(id)
        && let &Pending::Call { slot, typed: true } = call.get()
    {
        // One lookup for the check and the removal.
        call.remove();
        wake.extend(state.slots.answer(slot, Ok(Answer::Frame(frame.clone()))));
        return None;
    }
    match parse_message(frame) {
        Ok(Message::Response(response)) => return answer(response, state, wake),
        Ok(Message::Batch(messages)) => messages.into_iter().for_each(|message| match message {
            Message::Response(response) => {
                answer(response, state, wake);
            }
            other => tracing::warn!(message = ?other, "ignoring a batch from the server that is not one of answers"),
        }),
        Ok(Message::Request(request) | Message::Notification(request)) => {
            item(request.method(), request.raw_params().map(Bytes::copy_from_slice), state)
        }
        Err(problem) => {
            tracing::warn!(%problem, "ignoring a message the server should not have sent")
        }
    }
    None
}

/// Hands a response to its call; returns its error if it answers no call.
fn answer(response: Response, state: &mut State, wake: &mut Vec<Waker>) -> Option<ErrorObject> {
    let Some(id) = response.id().as_u64() else {
        tracing::warn!(id = %response.id(), error = ?response.error_object(), "an answer to no call of ours");
        return response.error_object().cloned();
    };
    match state.pending.remove(&id) {
        Some(Pending::Call { slot, .. }) => {
            wake.extend(state.slots.answer(slot, Ok(Answer::Parsed(response))));
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
    None
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

fn item(method: &str, params: Option<Bytes>, state: &mut State) {
    let Some(params) = params else {
        tracing::debug!(%method, "ignoring a notification without params");
        return;
    };
    let Ok(item) = serde_json::from_slice::<ItemParams<'_>>(&params) else {
        tracing::debug!(%method, "ignoring a notification that is no subscription item");
        return;
    };
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
