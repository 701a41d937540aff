//! Subscriptions in the typed-frames form: the server's side.
//!
//! The client chooses each subscription's id (so that it can route the
//! items before the answer to its call arrives); the server pushes items as
//! frames `((2, id), item)` and the end as `((3, id), Option<Rejected>)`,
//! which a client tells from answers (`Ok`/`Err`, enum variants 0 and 1) by
//! their first value. A subscription's items start only once the answer to
//! its call is written, so they never overtake it.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{Arc, Mutex, Weak},
    task::{Context, Poll},
};

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt, stream::BoxStream};
use serde::Serialize;
use tokio::{
    sync::{mpsc, oneshot},
    task::AbortHandle,
};

use super::Answer;
use crate::typed::{FormatKind, Rejected, Reply};

/// The first value of a pushed item's frame.
pub(crate) const ITEM: u8 = 2;
/// The first value of the frame that ends a subscription.
pub(crate) const END: u8 = 3;

/// Frames pushed to a connection that may wait for the peer to read them:
/// past this, subscriptions wait (their streams are not read further).
const OUTBOX: usize = 64;

/// The subscriptions of one connection. Its tasks end when the connection
/// does (the last handle is dropped with the connection's codec).
#[derive(Clone)]
pub(crate) struct Subscriptions(Arc<Shared>);

struct Shared {
    format: FormatKind,
    active: Mutex<HashMap<u64, AbortHandle>>,
    outbox: mpsc::Sender<Bytes>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let active = self.active.get_mut().unwrap_or_else(|e| e.into_inner());
        active.drain().for_each(|(_, task)| task.abort());
    }
}

impl Subscriptions {
    /// The subscriptions of a new connection, and the frames they push.
    pub(crate) fn new(format: FormatKind) -> (Self, Outbox) {
        let (outbox, pushed) = mpsc::channel(OUTBOX);
        let shared = Shared {
            format,
            active: Mutex::default(),
            outbox,
        };
        (Self(Arc::new(shared)), Outbox(pushed))
    }

    fn active(&self) -> std::sync::MutexGuard<'_, HashMap<u64, AbortHandle>> {
        self.0.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts pushing `items` as subscription `id`, once the returned
    /// sender is used (or dropped: then never).
    pub(crate) fn open<T: Serialize + Send + 'static>(
        &self,
        id: u64,
        mut items: BoxStream<'static, T>,
    ) -> Result<oneshot::Sender<()>, Rejected> {
        let mut active = self.active();
        if active.contains_key(&id) {
            return Err(Rejected::new(
                Rejected::INVALID_REQUEST,
                format!("subscription {id} is open already on this connection"),
            ));
        }
        let (activate, activated) = oneshot::channel::<()>();
        let outbox = self.0.outbox.clone();
        let format = self.0.format;
        let registry: Weak<Shared> = Arc::downgrade(&self.0);
        let task = tokio::spawn(async move {
            if activated.await.is_err() {
                return;
            }
            while let Some(item) = items.next().await {
                let frame = match push_frame(format, ITEM, id, &item) {
                    Ok(frame) => frame,
                    Err(rejected) => {
                        let _ = outbox.send(end_frame(format, id, Some(rejected))).await;
                        return forget(&registry, id);
                    }
                };
                if outbox.send(frame).await.is_err() {
                    return;
                }
            }
            let _ = outbox.send(end_frame(format, id, None)).await;
            forget(&registry, id);
        });
        active.insert(id, task.abort_handle());
        Ok(activate)
    }

    /// Ends subscription `id`; whether it was open.
    pub(crate) fn close(&self, id: u64) -> bool {
        match self.active().remove(&id) {
            Some(task) => {
                task.abort();
                true
            }
            None => false,
        }
    }
}

fn forget(registry: &Weak<Shared>, id: u64) {
    if let Some(shared) = registry.upgrade() {
        let mut active = shared.active.lock().unwrap_or_else(|e| e.into_inner());
        active.remove(&id);
    }
}

/// `((kind, id), value)`, serialized; a value that does not serialize ends
/// the subscription with the reason.
fn push_frame<T: Serialize>(
    format: FormatKind,
    kind: u8,
    id: u64,
    value: &T,
) -> Result<Bytes, Rejected> {
    let mut frame = BytesMut::new();
    format
        .encode(&((kind, id), value), &mut frame)
        .map_err(|err| {
            Rejected::new(
                Rejected::INTERNAL_ERROR,
                format!(
                    "an item (`{}`) does not serialize as {}: {err}",
                    std::any::type_name::<T>(),
                    format.name()
                ),
            )
        })?;
    Ok(frame.freeze())
}

fn end_frame(format: FormatKind, id: u64, reason: Option<Rejected>) -> Bytes {
    push_frame(format, END, id, &reason).expect("an end serializes")
}

/// The frames a connection's subscriptions push, for the connection to
/// write between its answers.
pub(crate) struct Outbox(mpsc::Receiver<Bytes>);

impl Stream for Outbox {
    type Item = Reply<Answer>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0
            .poll_recv(cx)
            .map(|frame| frame.map(|frame| Ok(Answer::encoded(frame))))
    }
}
