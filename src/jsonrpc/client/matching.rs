//! Answers matched with calls by id, and the messages the peer sends of its
//! own: subscription items, its calls and notifications.

use std::{
    collections::{HashMap, VecDeque, hash_map::Entry},
    hash::{BuildHasherDefault, Hasher},
    task::Waker,
};

use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};

use super::reply::{self, Answer};
use crate::{
    client::{
        Error,
        engine::{Matching, Slots},
    },
    jsonrpc::{ErrorObject, Id, Message, Request, Response, wire::parse::parse_message},
};

/// What a subscription's stream receives: an item's raw JSON, or why the
/// subscription ended.
pub(crate) type Item = Result<Bytes, End>;

/// Why a subscription ended early.
#[derive(Debug)]
pub(crate) enum End {
    /// The peer ended it with an error.
    Server(ErrorObject),
    /// The consumer fell more than its buffer behind.
    Lagged(usize),
    /// The connection is gone.
    Connection(Error),
}

/// A subscription's id as JSON text, exactly as the peer wrote it (a string
/// or a number): items are matched by it, and it goes back as it came.
pub(crate) type SubscriptionId = Box<str>;

pub(crate) type Opened =
    oneshot::Sender<Result<(Response, Option<(SubscriptionId, mpsc::Receiver<Item>)>), Error>>;

/// A message queued by a caller.
pub(crate) enum Command {
    /// One request, answered in `slot`. A `typed` call's answer may come as
    /// its unparsed frame; `caller_id` is the id the caller's request had,
    /// given back on the answer; `forget` stops routing a subscription's
    /// items (unsubscribe).
    Call {
        id: u64,
        message: BytesMut,
        slot: usize,
        typed: bool,
        caller_id: Option<Id>,
        forget: Option<SubscriptionId>,
    },
    /// Requests sent together, each answered in its own slot.
    Batch {
        message: BytesMut,
        calls: Vec<(u64, usize)>,
    },
    /// A message nothing answers; `slot` learns when it is written.
    Notify { message: BytesMut, slot: usize },
    /// A request that opens a subscription: routing starts as soon as the
    /// answer arrives, before any item can be missed.
    Subscribe {
        id: u64,
        message: BytesMut,
        buffer: usize,
        /// Moved to the call's routing when the message is taken.
        opened: Option<Opened>,
    },
    /// A subscription stream was dropped: stop routing, tell the peer.
    Unsubscribe {
        subscription: SubscriptionId,
        id: u64,
        message: BytesMut,
    },
    /// An answer to one of the peer's calls (never queued by a caller).
    Reply { message: BytesMut },
}

/// What the driver keeps of a message it wrote.
pub(crate) enum Written {
    /// Answered by id: freed when answered.
    Call(u64),
    /// Freed once flushed; its calls' ids, to fail if it is not written.
    Batch(Vec<u64>),
    Notify(usize),
    /// An unsubscribe nobody waits for: freed once flushed.
    Unsubscribe(u64),
}

/// A call written and not yet answered.
enum Pending {
    Call {
        slot: usize,
        typed: bool,
        caller_id: Option<Id>,
        /// Its answer frees a place (a batch's calls share one, freed when
        /// the batch is written).
        place: bool,
    },
    Subscribe {
        opened: Opened,
        buffer: usize,
    },
    /// An answer nobody waits for (an unsubscribe from a dropped stream).
    Ignore,
}

/// Items that came before the answer carrying their subscription's id (a
/// server may start pushing first): kept, while a subscription is being
/// opened, up to this many.
const EARLY_ITEMS: usize = 256;

/// Answers by id, subscriptions by their id, and the peer's own calls.
pub(crate) struct ById {
    pending: HashMap<u64, Pending, BuildHasherDefault<IdHasher>>,
    subscribing: usize,
    subscriptions: HashMap<SubscriptionId, mpsc::Sender<Item>>,
    early: VecDeque<(SubscriptionId, Bytes)>,
    /// Answers to the peer's calls, to write before queued messages.
    replies: VecDeque<BytesMut>,
    /// Where the peer's calls and notifications go: the service the client
    /// serves (see [`Builder::serve`](super::Builder::serve)), if any.
    incoming: Option<mpsc::Sender<Request>>,
    /// An error the peer sent to no call (`"id": null`) in the last frame,
    /// such as a refusal past its connection limit: if the connection ends
    /// now, it is why.
    last_word: Option<ErrorObject>,
}

impl ById {
    pub(crate) fn new(incoming: Option<mpsc::Sender<Request>>) -> Self {
        Self {
            pending: HashMap::default(),
            subscribing: 0,
            subscriptions: HashMap::new(),
            early: VecDeque::new(),
            replies: VecDeque::new(),
            incoming,
            last_word: None,
        }
    }

    /// Queues an answer to one of the peer's calls.
    pub(crate) fn reply(&mut self, answer: &Response) {
        let mut message = BytesMut::with_capacity(64);
        answer.write_json(&mut message);
        self.replies.push_back(message);
    }

    /// Hands a response to its call; returns the places this frees.
    pub(crate) fn answer(
        &mut self,
        mut response: Response,
        slots: &mut Slots<Answer>,
        wake: &mut Vec<Waker>,
    ) -> usize {
        let Some(id) = response.id().as_u64() else {
            tracing::warn!(id = %response.id(), error = ?response.error_object(), "an answer to no call of ours");
            if response.id().is_null() {
                self.last_word = response.error_object().cloned();
            }
            return 0;
        };
        match self.pending.remove(&id) {
            Some(Pending::Call {
                slot,
                caller_id,
                place,
                ..
            }) => {
                if let Some(caller_id) = caller_id {
                    response.set_id(caller_id);
                }
                wake.extend(slots.answer(slot, Ok(Answer::Parsed(response))));
                usize::from(place)
            }
            Some(Pending::Subscribe { opened, buffer }) => {
                self.subscribing -= 1;
                let routed = response
                    .result_json()
                    .and_then(subscription_id)
                    .map(|subscription| self.route_subscription(subscription, buffer));
                let _ = opened.send(Ok((response, routed)));
                1
            }
            Some(Pending::Ignore) => 0,
            None => {
                tracing::debug!(id, "ignoring an answer to an abandoned call");
                0
            }
        }
    }

    /// Starts routing a new subscription's items, the early ones first.
    fn route_subscription(
        &mut self,
        subscription: SubscriptionId,
        buffer: usize,
    ) -> (SubscriptionId, mpsc::Receiver<Item>) {
        // Room for one item more than the buffer, kept for the end.
        let (items, receiver) = mpsc::channel(buffer + 1);
        let mut kept = VecDeque::new();
        for (id, params) in self.early.drain(..) {
            if id == subscription {
                deliver(&items, params);
            } else {
                kept.push_back((id, params));
            }
        }
        self.early = kept;
        self.subscriptions.insert(subscription.clone(), items);
        (subscription, receiver)
    }

    /// A call or notification of the peer's.
    fn request(&mut self, request: Request) {
        if request.is_notification() && self.item(&request) {
            return;
        }
        let refusal = match &self.incoming {
            Some(incoming) => match incoming.try_send(request) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(request)) => (
                    request,
                    ErrorObject::new(
                        ErrorObject::LIMIT_EXCEEDED,
                        "too many of your calls are being handled here; try again later",
                    ),
                ),
                Err(mpsc::error::TrySendError::Closed(request)) => {
                    let method = ErrorObject::method_not_found(request.method());
                    (request, method)
                }
            },
            None => {
                let method = ErrorObject::method_not_found(request.method());
                (request, method)
            }
        };
        let (request, error) = refusal;
        match request.id() {
            Some(id) => self.reply(&Response::error(id.clone(), error)),
            None => tracing::debug!(
                method = request.method(),
                reason = error.message(),
                "a notification from the peer is not handled"
            ),
        }
    }

    /// Routes a subscription item; `false` if the notification is not one.
    fn item(&mut self, notification: &Request) -> bool {
        let Some(params) = notification.raw_params() else {
            return false;
        };
        let Ok(item) = serde_json::from_slice::<ItemParams<'_>>(params) else {
            return false;
        };
        if item.result.is_none() && item.error.is_none() {
            return false;
        }
        let Some(subscription) = subscription_id(item.subscription.get()) else {
            return false;
        };
        let params = Bytes::copy_from_slice(params);
        if let Some(items) = self.subscriptions.get(&subscription) {
            if deliver(items, params) {
                self.subscriptions.remove(&subscription);
            }
            return true;
        }
        // Unknown: a subscription being opened (its items may come before
        // the answer with its id), or one we dropped (items may still be on
        // the way).
        if self.subscribing > 0 {
            if self.early.len() == EARLY_ITEMS {
                self.early.pop_front();
            }
            self.early.push_back((subscription, params));
        }
        true
    }
}

/// The params of a subscription item.
#[derive(Deserialize)]
struct ItemParams<'a> {
    #[serde(borrow)]
    subscription: &'a RawValue,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

/// A subscription id from its JSON, if it is a string or a number.
fn subscription_id(json: &str) -> Option<SubscriptionId> {
    matches!(json.as_bytes().first()?, b'"' | b'-' | b'0'..=b'9').then(|| json.into())
}

/// Hands an item's params to its stream; returns whether that ended it.
fn deliver(items: &mpsc::Sender<Item>, params: Bytes) -> bool {
    let Ok(item) = serde_json::from_slice::<ItemParams<'_>>(&params) else {
        return false;
    };
    let (message, last) = match (item.result, item.error) {
        (_, Some(error)) => match serde_json::from_str::<ErrorObject>(error.get()) {
            Ok(error) => (Err(End::Server(error)), true),
            Err(_) => return false,
        },
        (Some(result), None) => {
            if items.capacity() > 1 {
                (Ok(params.slice_ref(result.get().as_bytes())), false)
            } else {
                // Full but for the room kept for the end: the consumer lags.
                (Err(End::Lagged(items.max_capacity() - 1)), true)
            }
        }
        (None, None) => return false,
    };
    let _ = items.try_send(message);
    last
}

impl Matching for ById {
    type Queued = Command;
    type Out = BytesMut;
    type In = Bytes;
    type Answer = Answer;
    type Written = Written;

    fn in_flight(&self) -> usize {
        self.pending.len()
    }

    fn take(&mut self, command: &mut Command, slots: &mut Slots<Answer>) -> bool {
        match command {
            Command::Call {
                id,
                slot,
                typed,
                caller_id,
                forget,
                ..
            } => {
                if slots.release_if_abandoned(*slot) {
                    return false;
                }
                if let Some(subscription) = forget.take() {
                    self.subscriptions.remove(&subscription);
                }
                let call = Pending::Call {
                    slot: *slot,
                    typed: *typed,
                    caller_id: caller_id.take(),
                    place: true,
                };
                self.pending.insert(*id, call);
            }
            Command::Batch { calls, .. } => {
                for &(id, slot) in calls.iter() {
                    let call = Pending::Call {
                        slot,
                        typed: false,
                        caller_id: None,
                        place: false,
                    };
                    self.pending.insert(id, call);
                }
            }
            Command::Notify { .. } | Command::Reply { .. } => {}
            Command::Subscribe {
                id, buffer, opened, ..
            } => {
                let Some(opened) = opened.take().filter(|opened| !opened.is_closed()) else {
                    return false;
                };
                self.subscribing += 1;
                let buffer = *buffer;
                self.pending
                    .insert(*id, Pending::Subscribe { opened, buffer });
            }
            Command::Unsubscribe {
                subscription, id, ..
            } => {
                self.subscriptions.remove(subscription);
                self.pending.insert(*id, Pending::Ignore);
            }
        }
        true
    }

    fn split(command: Command) -> (BytesMut, Option<Written>) {
        match command {
            Command::Call { id, message, .. } | Command::Subscribe { id, message, .. } => {
                (message, Some(Written::Call(id)))
            }
            Command::Batch { message, calls } => {
                let ids = calls.into_iter().map(|(id, _)| id).collect();
                (message, Some(Written::Batch(ids)))
            }
            Command::Notify { message, slot } => (message, Some(Written::Notify(slot))),
            Command::Unsubscribe { id, message, .. } => (message, Some(Written::Unsubscribe(id))),
            Command::Reply { message } => (message, None),
        }
    }

    fn waits_for_flush(written: &Written) -> bool {
        !matches!(written, Written::Call(_))
    }

    fn flushed(
        &mut self,
        written: Written,
        slots: &mut Slots<Answer>,
        wake: &mut Vec<Waker>,
    ) -> usize {
        if let Written::Notify(slot) = written {
            wake.extend(slots.answer(slot, Ok(Answer::Written)));
        }
        1
    }

    fn unwritten(
        &mut self,
        written: Written,
        err: Error,
        slots: &mut Slots<Answer>,
        wake: &mut Vec<Waker>,
    ) -> usize {
        match written {
            Written::Call(id) => match self.pending.remove(&id) {
                Some(Pending::Call { slot, place, .. }) => {
                    wake.extend(slots.answer(slot, Err(err)));
                    usize::from(place)
                }
                Some(Pending::Subscribe { opened, .. }) => {
                    self.subscribing -= 1;
                    let _ = opened.send(Err(err));
                    1
                }
                Some(Pending::Ignore) | None => 0,
            },
            Written::Batch(ids) => {
                for id in ids {
                    if let Some(Pending::Call { slot, .. }) = self.pending.remove(&id) {
                        wake.extend(slots.answer(slot, Err(err.clone())));
                    }
                }
                1
            }
            Written::Notify(slot) => {
                wake.extend(slots.answer(slot, Err(err)));
                1
            }
            Written::Unsubscribe(id) => {
                self.pending.remove(&id);
                1
            }
        }
    }

    fn route(
        &mut self,
        frame: Bytes,
        slots: &mut Slots<Answer>,
        wake: &mut Vec<Waker>,
    ) -> Result<usize, Error> {
        self.last_word = None;
        if let Some(id) = reply::leading_id(&frame)
            && let Entry::Occupied(call) = self.pending.entry(id)
            && let &Pending::Call {
                slot,
                typed: true,
                place,
                ..
            } = call.get()
        {
            // One lookup for the check and the removal.
            call.remove();
            wake.extend(slots.answer(slot, Ok(Answer::Frame(frame))));
            return Ok(usize::from(place));
        }
        let mut freed = 0;
        match parse_message(&frame) {
            Ok(Message::Response(response)) => freed += self.answer(response, slots, wake),
            Ok(Message::Request(request) | Message::Notification(request)) => {
                self.request(request);
            }
            Ok(Message::Batch(messages)) => {
                for message in messages {
                    match message {
                        Message::Response(response) => freed += self.answer(response, slots, wake),
                        Message::Request(request) | Message::Notification(request) => {
                            self.request(request);
                        }
                        Message::Batch(_) => {}
                    }
                }
            }
            Err(problem) => {
                tracing::warn!(%problem, "ignoring a message the peer should not have sent");
            }
        }
        Ok(freed)
    }

    fn reply(&mut self) -> Option<Command> {
        self.replies
            .pop_front()
            .map(|message| Command::Reply { message })
    }

    fn has_reply(&self) -> bool {
        !self.replies.is_empty()
    }

    fn last_word(&mut self) -> Option<Error> {
        self.last_word
            .take()
            .map(|reason| Error::closed_by(reason.into()))
    }

    fn forget_abandoned(&mut self, slots: &mut Slots<Answer>) -> usize {
        let mut freed = 0;
        let subscribing = &mut self.subscribing;
        self.pending.retain(|_, pending| {
            let gone = match pending {
                Pending::Call { slot, place, .. } => {
                    let gone = slots.release_if_abandoned(*slot);
                    freed += usize::from(gone && *place);
                    gone
                }
                Pending::Subscribe { opened, .. } => {
                    let gone = opened.is_closed();
                    if gone {
                        *subscribing -= 1;
                        freed += 1;
                    }
                    gone
                }
                Pending::Ignore => false,
            };
            !gone
        });
        freed
    }

    fn lose(&mut self, err: &Error, slots: &mut Slots<Answer>, wake: &mut Vec<Waker>) -> usize {
        let mut freed = 0;
        for (_, pending) in self.pending.drain() {
            match pending {
                Pending::Call { slot, place, .. } => {
                    wake.extend(slots.answer(slot, Err(err.clone())));
                    freed += usize::from(place);
                }
                Pending::Subscribe { opened, .. } => {
                    let _ = opened.send(Err(err.clone()));
                    freed += 1;
                }
                Pending::Ignore => {}
            }
        }
        self.subscribing = 0;
        for (_, items) in self.subscriptions.drain() {
            // The room kept for the end is there.
            let _ = items.try_send(Err(End::Connection(err.clone())));
        }
        self.early.clear();
        // Answers to calls of a connection that is gone.
        self.replies.clear();
        freed
    }

    fn close(&mut self) {
        // The service's task ends once it has answered what it has.
        self.incoming = None;
    }

    fn fail(command: Command, err: &Error, slots: &mut Slots<Answer>, wake: &mut Vec<Waker>) {
        match command {
            Command::Call { slot, .. } | Command::Notify { slot, .. } => {
                wake.extend(slots.answer(slot, Err(err.clone())));
            }
            Command::Batch { calls, .. } => {
                for (_, slot) in calls {
                    wake.extend(slots.answer(slot, Err(err.clone())));
                }
            }
            Command::Subscribe { opened, .. } => {
                if let Some(opened) = opened {
                    let _ = opened.send(Err(err.clone()));
                }
            }
            Command::Unsubscribe { .. } | Command::Reply { .. } => {}
        }
    }
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
