//! What a JSON-RPC client's handles and its connection task share, under
//! one lock that each side holds only for a few moves: the bounded queue of
//! messages, the calls in flight by id, the answer slots and the
//! subscriptions' routes.

use std::{
    collections::{HashMap, VecDeque},
    future::poll_fn,
    hash::{BuildHasherDefault, Hasher},
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll, Waker},
};

use bytes::{Bytes, BytesMut};
use tokio::sync::{mpsc, oneshot};

use super::reply::Answer;
use crate::{
    client::{Answers, Error, Places, Room, Slots},
    jsonrpc::{ErrorObject, Response},
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

pub(super) type Opened = oneshot::Sender<Result<(Response, Option<mpsc::Receiver<Item>>), Error>>;
pub(super) type Sent = oneshot::Sender<Result<(), Error>>;

/// A message for the connection task.
pub(super) enum Command {
    /// One request, answered in `slot`; `forget` drops a subscription's
    /// routing (unsubscribe). A `typed` call's answer may come as its
    /// unparsed frame.
    Call {
        id: u64,
        message: BytesMut,
        slot: usize,
        typed: bool,
        forget: Option<String>,
    },
    /// Requests sent together, each answered in its own slot.
    Batch {
        message: BytesMut,
        calls: Vec<(u64, usize)>,
    },
    Notify {
        message: BytesMut,
        sent: Sent,
    },
    /// A request that opens a subscription: routing starts as soon as the
    /// answer arrives, before any item can be missed.
    Subscribe {
        id: u64,
        message: BytesMut,
        buffer: usize,
        opened: Opened,
    },
    /// A subscription stream was dropped: stop routing, tell the server.
    Unsubscribe {
        subscription: String,
        id: u64,
        message: BytesMut,
    },
}

/// A call written and not yet answered.
pub(super) enum Pending {
    Call {
        slot: usize,
        typed: bool,
    },
    Subscribe {
        opened: Opened,
        buffer: usize,
    },
    /// An answer nobody waits for (an unsubscribe from a dropped stream).
    Ignore,
}

/// Hashes the client's own call ids: consecutive numbers, not chosen by
/// anyone who could aim at collisions, so one multiplication spreads them
/// (SipHash cost more than the rest of the map's work).
#[derive(Default)]
pub(super) struct IdHasher(u64);

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

pub(super) struct Shared {
    state: Mutex<State>,
    /// The queue's free places.
    pub(super) places: Places,
    /// Live `JsonRpcClient` handles (subscription streams hold one): when
    /// none is left and the queue is empty, the connection task finishes
    /// what is in flight and stops.
    handles: AtomicUsize,
    ids: AtomicU64,
}

pub(super) struct State {
    /// Messages waiting for the connection task.
    pub(super) queue: VecDeque<Command>,
    pub(super) room: Room,
    /// The connection task's waker, while it waits for messages.
    task: Option<Waker>,
    pub(super) pending: HashMap<u64, Pending, BuildHasherDefault<IdHasher>>,
    pub(super) subscriptions: HashMap<String, mpsc::Sender<Item>>,
    pub(super) slots: Slots<Answer>,
    /// The connection is gone for good: every call fails.
    pub(super) closed: bool,
}

impl Shared {
    pub(super) fn new(buffer: usize) -> Self {
        Self {
            state: Mutex::new(State {
                queue: VecDeque::with_capacity(buffer),
                room: Room::new(),
                task: None,
                pending: HashMap::default(),
                subscriptions: HashMap::new(),
                slots: Slots::new(),
                closed: false,
            }),
            places: Places::new(buffer),
            handles: AtomicUsize::new(1),
            ids: AtomicU64::new(1),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing user-supplied runs under the lock but `Drop` of answers;
        // every update is a single insert or removal.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    pub(super) fn add_handle(&self) {
        self.handles.fetch_add(1, Ordering::Relaxed);
    }

    /// A handle is dropped, giving back its reservation, if it held one.
    pub(super) fn drop_handle(&self, reserved: bool) {
        let last = self.handles.fetch_sub(1, Ordering::AcqRel) == 1;
        if !reserved && !last {
            return;
        }
        let mut wake = Vec::new();
        let mut state = self.lock();
        if reserved {
            state.room.give_back(&self.places, 1, &mut wake);
        }
        if last {
            wake.extend(state.task.take());
        }
        drop(state);
        wake.into_iter().for_each(Waker::wake);
    }

    pub(super) fn handles_gone(&self) -> bool {
        self.handles.load(Ordering::Acquire) == 0
    }

    /// Waits for a place in the queue, then queues the command `build`
    /// makes with the answer slots it takes (given the waker of the poll
    /// that queues it).
    pub(super) async fn queue<R>(
        &self,
        build: impl FnOnce(&mut Slots<Answer>, &Waker) -> (Command, R),
    ) -> Result<R, Error> {
        let mut build = Some(build);
        let mut entry = None;
        poll_fn(|cx| {
            let mut state = self.lock();
            if state.closed {
                return Poll::Ready(Err(Error::closed()));
            }
            std::task::ready!(state.room.reserve(&self.places, &mut entry, cx));
            // Queued under the same lock: once there is room, this future
            // is not polled again.
            let build = build.take().expect("polled after completion");
            let (made, task) = state.push(|slots| build(slots, cx.waker()));
            drop(state);
            if let Some(task) = task {
                task.wake();
            }
            Poll::Ready(Ok(made))
        })
        .await
    }

    /// Queues a command in a place reserved before.
    pub(super) fn push<R>(
        &self,
        build: impl FnOnce(&mut Slots<Answer>) -> (Command, R),
    ) -> Result<R, Error> {
        let mut state = self.lock();
        if state.closed {
            return Err(Error::closed());
        }
        let (made, task) = state.push(build);
        drop(state);
        if let Some(task) = task {
            task.wake();
        }
        Ok(made)
    }

    /// Queues `command` if there is a place for it now; drops it if not.
    pub(super) fn try_queue(&self, command: Command) {
        if !self.lock().closed && self.places.try_take() {
            let _ = self.push(|_| (command, ()));
        }
    }

    /// Waits until there is a message to send (`true`), or until no handle
    /// is left to send any (`false`).
    pub(super) async fn work(&self) -> bool {
        poll_fn(|cx| {
            let mut state = self.lock();
            if !state.queue.is_empty() {
                return Poll::Ready(true);
            }
            if self.handles_gone() {
                return Poll::Ready(false);
            }
            state.wait_for_work(cx);
            Poll::Pending
        })
        .await
    }

    /// The connection is lost: fails every call in flight with `err` and
    /// ends every subscription. `closing` fails the queued messages too, and
    /// every later call.
    pub(super) fn lose_connection(&self, err: &Error, closing: bool) {
        let mut wake = Vec::new();
        let mut guard = self.lock();
        let state = &mut *guard;
        for (_, pending) in state.pending.drain() {
            match pending {
                Pending::Call { slot, .. } => {
                    wake.extend(state.slots.answer(slot, Err(err.clone())));
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
        if closing {
            state.closed = true;
            for command in state.queue.drain(..) {
                command.fail(err, &mut state.slots, &mut wake);
            }
            state.room.wake_all(&mut wake);
        }
        drop(guard);
        wake.into_iter().for_each(Waker::wake);
    }

    /// A new connection could not be made: fails the first queued message,
    /// whose caller asked for it.
    pub(super) fn fail_first(&self, err: &Error) {
        let mut wake = Vec::new();
        let mut guard = self.lock();
        let state = &mut *guard;
        if let Some(command) = state.queue.pop_front() {
            command.fail(err, &mut state.slots, &mut wake);
            state.room.give_back(&self.places, 1, &mut wake);
        }
        drop(guard);
        wake.into_iter().for_each(Waker::wake);
    }
}

impl State {
    /// Queues the command `build` makes; returns what it made and the
    /// connection task's waker if the task waits for work.
    fn push<R>(
        &mut self,
        build: impl FnOnce(&mut Slots<Answer>) -> (Command, R),
    ) -> (R, Option<Waker>) {
        let (command, made) = build(&mut self.slots);
        self.queue.push_back(command);
        (made, self.task.take())
    }

    /// Keeps the connection task's waker until a message is queued.
    pub(super) fn wait_for_work(&mut self, cx: &Context<'_>) {
        match &self.task {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => self.task = Some(cx.waker().clone()),
        }
    }

    /// Drops the calls in flight whose callers gave up (their answers would
    /// go nowhere), making room for others.
    pub(super) fn forget_abandoned(&mut self) {
        let Self { pending, slots, .. } = self;
        pending.retain(|_, pending| match pending {
            Pending::Call { slot, .. } => !slots.release_if_abandoned(*slot),
            Pending::Subscribe { opened, .. } => !opened.is_closed(),
            Pending::Ignore => true,
        });
    }
}

impl Command {
    fn fail(self, err: &Error, slots: &mut Slots<Answer>, wake: &mut Vec<Waker>) {
        match self {
            Self::Call { slot, .. } => wake.extend(slots.answer(slot, Err(err.clone()))),
            Self::Batch { calls, .. } => {
                for (_, slot) in calls {
                    wake.extend(slots.answer(slot, Err(err.clone())));
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

impl Answers<Answer> for Shared {
    fn poll_answer(&self, slot: usize, cx: &Context<'_>) -> Poll<Result<Answer, Error>> {
        self.lock().slots.poll(slot, cx)
    }

    fn abandon(&self, slot: usize) {
        self.lock().slots.abandon(slot);
    }
}
