//! Subscriptions in the `eth_subscribe` style: the call answers with a
//! subscription id, then items arrive as notifications whose params hold the
//! id and the item.

use std::{
    collections::{HashMap, VecDeque},
    hash::{BuildHasher, RandomState},
    pin::{Pin, pin},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll, Waker},
};

use bytes::{BufMut, Bytes, BytesMut};
use futures::{Stream, future::poll_fn};
use serde::Serialize;
use tokio::{sync::oneshot, task::AbortHandle};

use super::feed::{Fed, Feed};
use crate::jsonrpc::{ErrorObject, Id, Response, wire::write::write_json};

/// A subscription method: the names of its three parts, how many items may
/// wait for a slow peer, and what happens when more arrive.
///
/// ```
/// use tower_ipc::jsonrpc::{Overflow, Subscription};
///
/// let heads = Subscription::new("eth_subscribe", "eth_subscription", "eth_unsubscribe")
///     .buffer(64)
///     .overflow(Overflow::DropOldest);
/// ```
#[derive(Clone, Debug)]
pub struct Subscription {
    subscribe: Box<str>,
    notification: Box<str>,
    unsubscribe: Box<str>,
    buffer: usize,
    overflow: Overflow,
}

/// What to do with an item when a subscription's buffer is full because the
/// peer reads slower than items arrive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// End the subscription: the peer gets the items buffered so far, then a
    /// last notification whose params hold the subscription id and an
    /// `error` (code [`ErrorObject::LIMIT_EXCEEDED`]) instead of a `result`.
    /// Nothing is lost silently. The default.
    #[default]
    Close,
    /// Drop the oldest buffered item to make room: for feeds where only the
    /// latest items matter.
    DropOldest,
}

impl Subscription {
    /// Items a subscription buffers unless set otherwise.
    pub const DEFAULT_BUFFER: usize = 256;

    /// A subscription opened by calling `subscribe`, whose items arrive as
    /// `notification`s, and which `unsubscribe` (params: `[id]`) ends.
    pub fn new(
        subscribe: impl Into<Box<str>>,
        notification: impl Into<Box<str>>,
        unsubscribe: impl Into<Box<str>>,
    ) -> Self {
        Self {
            subscribe: subscribe.into(),
            notification: notification.into(),
            unsubscribe: unsubscribe.into(),
            buffer: Self::DEFAULT_BUFFER,
            overflow: Overflow::default(),
        }
    }

    /// Sets how many items may wait to be written (at least 1).
    #[must_use]
    pub fn buffer(mut self, items: usize) -> Self {
        self.buffer = items.max(1);
        self
    }

    /// Sets what happens when the buffer is full.
    #[must_use]
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    pub(crate) fn subscribe_method(&self) -> &str {
        &self.subscribe
    }

    pub(crate) fn unsubscribe_method(&self) -> &str {
        &self.unsubscribe
    }

    pub(crate) fn buffer_len(&self) -> usize {
        self.buffer
    }
}

/// The subscriptions of one connection and the items they have buffered.
#[derive(Clone)]
pub(crate) struct Registry {
    shared: Arc<Mutex<State>>,
    /// Subscriptions waiting for the answer that carries their id: looked
    /// at, without the lock, for every answer written.
    waiting: Arc<AtomicUsize>,
    /// The longest notification the connection will write.
    max_size: usize,
}

#[derive(Default)]
struct State {
    /// Items in the order they arrived, tagged with their subscription.
    queue: VecDeque<(u64, Bytes)>,
    subscriptions: HashMap<u64, Entry>,
    /// Each subscription's key, by its id as a number.
    keys: HashMap<u128, u64>,
    next_key: u64,
    /// New subscriptions, by the id of the request that opened them: they
    /// push items only once its answer is written, so that the peer knows
    /// their ids first.
    starts: Vec<(Id, oneshot::Sender<()>)>,
    waker: Option<Waker>,
    /// The connection is gone.
    closed: bool,
}

struct Entry {
    id: String,
    number: u128,
    notification: Box<str>,
    queued: usize,
    buffer: usize,
    overflow: Overflow,
    task: Option<AbortHandle>,
}

/// The connection's end: a stream of the items to write.
pub(crate) struct Outbox {
    registry: Registry,
}

/// A connection's subscriptions, whose notifications may be up to `max_size`
/// bytes long, and the stream of their items to write.
pub(crate) fn channel(max_size: usize) -> (Registry, Outbox) {
    let registry = Registry {
        shared: Arc::default(),
        waiting: Arc::default(),
        max_size,
    };
    let outbox = Outbox {
        registry: registry.clone(),
    };
    (registry, outbox)
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the queue inconsistent: every update
        // is a single push, pop or removal.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a subscription fed by `items`, for the request `request`;
    /// returns its id. It starts once the answer to `request` is written
    /// (see [`settle`](Self::settle)).
    pub(crate) fn open<F: Feed>(
        &self,
        subscription: &Subscription,
        items: F,
        request: &Id,
    ) -> Result<String, ErrorObject> {
        let (start, started) = oneshot::channel();
        let (key, id) = self.register(subscription, request, start)?;
        let prefix = notification_prefix(&subscription.notification, &id);
        let task = tokio::spawn(self.clone().feed(key, prefix, items, started));
        if let Some(entry) = self.lock().subscriptions.get_mut(&key) {
            entry.task = Some(task.abort_handle());
        }
        Ok(id)
    }

    /// Enters a subscription, waiting for the answer to `request`; returns
    /// its key and its id.
    fn register(
        &self,
        subscription: &Subscription,
        request: &Id,
        start: oneshot::Sender<()>,
    ) -> Result<(u64, String), ErrorObject> {
        let mut state = self.lock();
        if state.closed {
            return Err(ErrorObject::internal_error("the connection is closing"));
        }
        state.starts.push((request.clone(), start));
        self.waiting.fetch_add(1, Ordering::Release);
        let key = state.next_key;
        state.next_key += 1;
        let number = loop {
            let number = new_id();
            if !state.keys.contains_key(&number) {
                break number;
            }
        };
        let id = format!("{number:#x}");
        state.keys.insert(number, key);
        state.subscriptions.insert(
            key,
            Entry {
                id: id.clone(),
                number,
                notification: subscription.notification.clone(),
                queued: 0,
                buffer: subscription.buffer,
                overflow: subscription.overflow,
                task: None,
            },
        );
        Ok((key, id))
    }

    /// The subscription's task: once `started`, queues each item of `items`
    /// as a notification until the feed ends or the subscription does.
    async fn feed<F: Feed>(
        self,
        key: u64,
        prefix: Bytes,
        items: F,
        started: oneshot::Receiver<()>,
    ) {
        if started.await.is_ok() {
            let mut items = pin!(items);
            while let Some(fed) = poll_fn(|cx| items.as_mut().poll_fed(cx)).await {
                let item = match fed {
                    Fed::Item(item) => item,
                    Fed::Lagged(missed) => {
                        if self.lagged(key, missed) {
                            continue;
                        }
                        return;
                    }
                };
                let message = match notification(&prefix, &item) {
                    Ok(message) if message.len() > self.max_size => {
                        let error = ErrorObject::new(
                            ErrorObject::RESPONSE_TOO_LARGE,
                            format!(
                                "subscription ended: an item of {} bytes exceeds the limit of {}",
                                message.len(),
                                self.max_size
                            ),
                        );
                        self.fail(key, error);
                        return;
                    }
                    Ok(message) => message,
                    Err(err) => {
                        self.fail(key, ErrorObject::internal_error(err));
                        return;
                    }
                };
                if !self.push(key, message) {
                    return;
                }
            }
        }
        self.forget(key);
    }

    /// An answer is being written: the subscription its request opened
    /// starts, if it is a success, or is dropped, if the answer is an error
    /// (a timeout layer, say, answered in the handler's place).
    pub(crate) fn settle(&self, answer: &Response) {
        if self.waiting.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut state = self.lock();
        let Some(at) = state.starts.iter().position(|(id, _)| id == answer.id()) else {
            return;
        };
        let (_, start) = state.starts.swap_remove(at);
        self.waiting.fetch_sub(1, Ordering::Release);
        drop(state);
        if !answer.is_error() {
            // The task drops the subscription if this is not sent.
            let _ = start.send(());
        }
    }

    /// Queues an item; `false` when the subscription is over.
    fn push(&self, key: u64, message: Bytes) -> bool {
        let waker = {
            let mut state = self.lock();
            let State {
                queue,
                subscriptions,
                ..
            } = &mut *state;
            let Some(entry) = subscriptions.get_mut(&key) else {
                return false;
            };
            if entry.queued >= entry.buffer {
                match entry.overflow {
                    Overflow::DropOldest => {
                        if let Some(oldest) = queue.iter().position(|(k, _)| *k == key) {
                            queue.remove(oldest);
                            entry.queued -= 1;
                        }
                    }
                    Overflow::Close => {
                        let error = ErrorObject::new(
                            ErrorObject::LIMIT_EXCEEDED,
                            format!(
                                "subscription ended: the peer fell {} items behind",
                                entry.buffer
                            ),
                        );
                        drop(state);
                        self.fail(key, error);
                        return false;
                    }
                }
            }
            queue.push_back((key, message));
            entry.queued += 1;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    /// The feed lost `missed` items the peer was too slow to take: applies
    /// the overflow policy. `false` when the subscription is over.
    fn lagged(&self, key: u64, missed: u64) -> bool {
        let (id, overflow) = match self.lock().subscriptions.get(&key) {
            Some(entry) => (entry.id.clone(), entry.overflow),
            None => return false,
        };
        match overflow {
            Overflow::DropOldest => {
                tracing::debug!(subscription = %id, missed, "slow subscriber: oldest items dropped");
                true
            }
            Overflow::Close => {
                let error = ErrorObject::new(
                    ErrorObject::LIMIT_EXCEEDED,
                    format!(
                        "subscription ended: the peer fell behind and {missed} items were lost"
                    ),
                );
                self.fail(key, error);
                false
            }
        }
    }

    /// Ends a subscription with a last notification carrying `error`.
    fn fail(&self, key: u64, error: ErrorObject) {
        let waker = {
            let mut state = self.lock();
            let Some(entry) = state.remove(key) else {
                return;
            };
            tracing::debug!(subscription = %entry.id, %error, "subscription ended with an error");
            let message = error_notification(&entry.notification, &entry.id, &error);
            state.queue.push_back((key, message));
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Drops a subscription whose items ran out.
    fn forget(&self, key: u64) {
        self.lock().remove(key);
    }

    /// Wakes the connection, to look for messages to write.
    pub(crate) fn wake(&self) {
        if let Some(waker) = self.lock().waker.take() {
            waker.wake();
        }
    }

    /// Ends the subscription `id` names; whether there was one. Ids are
    /// matched as the numbers they are, so `0x0abc` finds `0xabc`: clients
    /// such as alloy parse ids as quantities and send them back in their
    /// own form.
    pub(crate) fn close(&self, id: &str) -> bool {
        let Some(number) = quantity(id) else {
            return false;
        };
        let mut state = self.lock();
        let Some(&key) = state.keys.get(&number) else {
            return false;
        };
        if let Some(entry) = state.remove(key)
            && let Some(task) = entry.task
        {
            task.abort();
        }
        state.queue.retain(|(k, _)| *k != key);
        true
    }
}

impl State {
    fn remove(&mut self, key: u64) -> Option<Entry> {
        let entry = self.subscriptions.remove(&key)?;
        self.keys.remove(&entry.number);
        Some(entry)
    }
}

/// A hex quantity (`0x` and 1 to 32 hex digits, leading zeros allowed) as a
/// number.
fn quantity(id: &str) -> Option<u128> {
    let digits = id.strip_prefix("0x").or_else(|| id.strip_prefix("0X"))?;
    let significant = digits.trim_start_matches('0');
    if digits.is_empty() || significant.len() > 32 {
        return None;
    }
    if significant.is_empty() {
        return digits.bytes().all(|b| b == b'0').then_some(0);
    }
    u128::from_str_radix(significant, 16).ok()
}

impl Stream for Outbox {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let mut state = self.registry.lock();
        match state.queue.pop_front() {
            Some((key, message)) => {
                if let Some(entry) = state.subscriptions.get_mut(&key) {
                    entry.queued -= 1;
                }
                Poll::Ready(Some(message))
            }
            None => {
                // The connection asks after every burst of answers, nearly
                // always from the same task: keep its waker rather than
                // cloning it (and dropping the old one) each time.
                if !state
                    .waker
                    .as_ref()
                    .is_some_and(|waker| waker.will_wake(cx.waker()))
                {
                    state.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for Outbox {
    /// The connection is gone: stop every subscription and drop its items.
    fn drop(&mut self) {
        let mut state = self.registry.lock();
        state.closed = true;
        state.queue.clear();
        state.keys.clear();
        state.starts.clear();
        for (_, entry) in state.subscriptions.drain() {
            if let Some(task) = entry.task {
                task.abort();
            }
        }
    }
}

/// A new subscription id: 128 bits that cannot be guessed, as geth issues
/// them, written as a hex quantity without leading zeros (`0x` and up to 32
/// digits).
fn new_id() -> u128 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static KEYS: OnceLock<[RandomState; 2]> = OnceLock::new();
    // Each half is a counter hashed with a key drawn at random (SipHash with
    // the standard library's random keys): unpredictable without the keys.
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let [high, low] = KEYS.get_or_init(|| [RandomState::new(), RandomState::new()]);
    (u128::from(high.hash_one(n)) << 64) | u128::from(low.hash_one(n))
}

/// `{"jsonrpc":"2.0","method":NAME,"params":{"subscription":ID,"result":`
fn notification_prefix(method: &str, id: &str) -> Bytes {
    let mut prefix = BytesMut::with_capacity(64 + method.len() + id.len());
    prefix.put_slice(br#"{"jsonrpc":"2.0","method":"#);
    put_json_string(&mut prefix, method);
    prefix.put_slice(br#","params":{"subscription":"#);
    put_json_string(&mut prefix, id);
    prefix.put_slice(br#","result":"#);
    prefix.freeze()
}

fn notification<T: Serialize>(prefix: &[u8], item: &T) -> Result<Bytes, serde_json::Error> {
    let mut message = BytesMut::with_capacity(prefix.len() + 64);
    message.put_slice(prefix);
    write_json(&mut message, item)?;
    message.put_slice(b"}}");
    Ok(message.freeze())
}

fn error_notification(method: &str, id: &str, error: &ErrorObject) -> Bytes {
    let message = serde_json::json!({
        "jsonrpc": "2.0",
        "method": method,
        "params": { "subscription": id, "error": error },
    });
    Bytes::from(message.to_string())
}

fn put_json_string(dst: &mut BytesMut, s: &str) {
    // Serializing a string cannot fail.
    let _ = write_json(dst, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_quantities_without_leading_zeros() {
        for _ in 0..10_000 {
            let id = format!("{:#x}", new_id());
            let digits = id.strip_prefix("0x").unwrap();
            assert!(!digits.starts_with('0') || digits == "0", "{id}");
            assert!(digits.len() <= 32, "{id}");
            assert_eq!(quantity(&id).map(|n| format!("{n:#x}")), Some(id));
        }
    }

    #[test]
    fn ids_differ() {
        let ids: std::collections::HashSet<u128> = (0..10_000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 10_000);
        // 128 random bits: about half of them are set.
        let ones: u32 = ids.iter().map(|id| id.count_ones()).sum();
        assert!(
            (600_000..680_000).contains(&ones),
            "{ones} of 1,280,000 bits set"
        );
    }

    #[test]
    fn quantities_are_read_with_or_without_leading_zeros() {
        assert_eq!(quantity("0x546721a0000000e"), Some(0x546721a0000000e));
        assert_eq!(quantity("0x0546721a0000000e"), Some(0x546721a0000000e));
        assert_eq!(quantity("0X00ff"), Some(0xff));
        assert_eq!(quantity("0x0"), Some(0));
        assert_eq!(quantity("0x"), None);
        assert_eq!(quantity("546721a"), None);
        assert_eq!(quantity("0xzz"), None);
        assert_eq!(quantity(&format!("0x1{}", "0".repeat(32))), None);
        assert_eq!(quantity(&format!("0x{}", "f".repeat(32))), Some(u128::MAX));
    }
}
