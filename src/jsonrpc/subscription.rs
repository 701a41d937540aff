//! Subscriptions in the `eth_subscribe` style: the call answers with a
//! subscription id, then items arrive as notifications whose params hold the
//! id and the item.

use std::{
    collections::{HashMap, VecDeque},
    hash::{BuildHasher, RandomState},
    pin::{Pin, pin},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll, Waker},
};

use bytes::{BufMut, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use serde::Serialize;
use tokio::{sync::oneshot, task::AbortHandle};

use super::{ErrorObject, write::write_json};

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

/// Releases a new subscription's items once the answer carrying its id has
/// been handed to the connection, so the id reaches the peer first.
#[derive(Clone, Debug)]
pub(crate) struct Activation(Arc<Mutex<Option<oneshot::Sender<()>>>>);

impl Activation {
    pub(crate) fn activate(&self) {
        if let Some(start) = self.0.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = start.send(());
        }
    }
}

/// The subscriptions of one connection and the items they have buffered.
#[derive(Clone, Default)]
pub(crate) struct Registry {
    shared: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Items in the order they arrived, tagged with their subscription.
    queue: VecDeque<(u64, Bytes)>,
    subscriptions: HashMap<u64, Entry>,
    next_key: u64,
    waker: Option<Waker>,
    /// The connection is gone.
    closed: bool,
}

struct Entry {
    id: String,
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

pub(crate) fn channel() -> (Registry, Outbox) {
    let registry = Registry::default();
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

    pub(crate) fn open<S, T>(
        &self,
        subscription: &Subscription,
        items: S,
    ) -> Result<(String, Activation), ErrorObject>
    where
        S: Stream<Item = T> + Send + 'static,
        T: Serialize + Send + 'static,
    {
        let (start, started) = oneshot::channel();
        let (key, id) = {
            let mut state = self.lock();
            if state.closed {
                return Err(ErrorObject::internal_error("the connection is closing"));
            }
            let key = state.next_key;
            state.next_key += 1;
            let id = new_id();
            state.subscriptions.insert(
                key,
                Entry {
                    id: id.clone(),
                    notification: subscription.notification.clone(),
                    queued: 0,
                    buffer: subscription.buffer,
                    overflow: subscription.overflow,
                    task: None,
                },
            );
            (key, id)
        };
        let prefix = notification_prefix(&subscription.notification, &id);
        let registry = self.clone();
        let task = tokio::spawn(async move {
            if started.await.is_ok() {
                let mut items = pin!(items);
                while let Some(item) = items.next().await {
                    let message = match notification(&prefix, &item) {
                        Ok(message) => message,
                        Err(err) => {
                            registry.fail(key, ErrorObject::internal_error(err));
                            return;
                        }
                    };
                    if !registry.push(key, message) {
                        return;
                    }
                }
            }
            registry.forget(key);
        });
        if let Some(entry) = self.lock().subscriptions.get_mut(&key) {
            entry.task = Some(task.abort_handle());
        }
        Ok((id, Activation(Arc::new(Mutex::new(Some(start))))))
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

    /// Ends a subscription with a last notification carrying `error`.
    fn fail(&self, key: u64, error: ErrorObject) {
        let waker = {
            let mut state = self.lock();
            let Some(entry) = state.subscriptions.remove(&key) else {
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
        self.lock().subscriptions.remove(&key);
    }

    pub(crate) fn close(&self, id: &str) -> bool {
        let mut state = self.lock();
        let Some(key) = state
            .subscriptions
            .iter()
            .find_map(|(key, entry)| (entry.id == id).then_some(*key))
        else {
            return false;
        };
        if let Some(entry) = state.subscriptions.remove(&key)
            && let Some(task) = entry.task
        {
            task.abort();
        }
        state.queue.retain(|(k, _)| *k != key);
        true
    }
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
        for (_, entry) in state.subscriptions.drain() {
            if let Some(task) = entry.task {
                task.abort();
            }
        }
    }
}

/// An id that is unique in this process and hard to guess.
fn new_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static SEED: OnceLock<RandomState> = OnceLock::new();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // The counter makes ids unique; hashing it with a random key makes them
    // unpredictable. Hashing is a bijection on u64 only by chance, so the
    // counter's low bits are kept in the id too.
    let scrambled = SEED.get_or_init(RandomState::new).hash_one(n);
    format!("0x{:08x}{:08x}", scrambled >> 32, n & 0xffff_ffff)
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
