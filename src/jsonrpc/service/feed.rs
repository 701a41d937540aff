//! What a subscription pushes: any stream of items, or the application's
//! events from a `tokio::sync::broadcast` channel.

use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll},
};

use futures::Stream;
use serde::Serialize;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::ReusableBoxFuture;

/// The items a subscription pushes, as a
/// [`SubscriptionHandler`](super::SubscriptionHandler) returns them: any
/// [`Stream`] of serializable items, or a [`Broadcast`] receiver of the
/// application's events. Sealed: it is implemented for those two only.
pub trait Feed: sealed::Source {}

impl<S> Feed for S
where
    S: Stream + Send + 'static,
    S::Item: Serialize + Send + 'static,
{
}

impl<T, U> Feed for Broadcast<T, U>
where
    T: Clone + Send + 'static,
    U: Serialize + Send + 'static,
{
}

/// One step of a feed.
pub(crate) enum Fed<T> {
    Item(T),
    /// The subscriber fell this many items behind and they are gone: the
    /// subscription's [`Overflow`](super::Overflow) policy decides.
    Lagged(u64),
}

pub(crate) mod sealed {
    use super::*;

    /// How the subscription's task reads a feed.
    pub trait Source: Send + 'static {
        /// What is pushed.
        type Item: Serialize + Send + 'static;

        /// The next step; `None` when the feed has ended.
        #[allow(private_interfaces)]
        fn poll_fed(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Fed<Self::Item>>>;
    }

    impl<S> Source for S
    where
        S: Stream + Send + 'static,
        S::Item: Serialize + Send + 'static,
    {
        type Item = S::Item;

        #[allow(private_interfaces)]
        fn poll_fed(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Fed<S::Item>>> {
            self.poll_next(cx).map(|item| item.map(Fed::Item))
        }
    }

    impl<T, U> Source for Broadcast<T, U>
    where
        T: Clone + Send + 'static,
        U: Serialize + Send + 'static,
    {
        type Item = U;

        #[allow(private_interfaces)]
        fn poll_fed(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Fed<U>>> {
            loop {
                let (received, receiver) = std::task::ready!(self.receiving.poll(cx));
                self.receiving.set(recv(receiver));
                match received {
                    Ok(event) => {
                        if let Some(item) = (self.pick)(event) {
                            return Poll::Ready(Some(Fed::Item(item)));
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        return Poll::Ready(Some(Fed::Lagged(missed)));
                    }
                    Err(RecvError::Closed) => return Poll::Ready(None),
                }
            }
        }
    }
}

/// A `tokio::sync::broadcast` receiver as a subscription's feed: the
/// application sends its events once, and each subscriber gets its own copy.
///
/// A subscriber that falls behind by more than the channel's capacity
/// loses the oldest events; the subscription's
/// [`Overflow`](super::Overflow) policy then applies, as for its own buffer:
/// [`Close`](super::Overflow::Close) ends it with an error notification that
/// says how many were lost, [`DropOldest`](super::Overflow::DropOldest) goes
/// on with the newest.
///
/// ```
/// use tokio::sync::broadcast;
/// use tower_ipc::jsonrpc::{Broadcast, ErrorObject, Router, Subscription};
///
/// let (heads, _) = broadcast::channel::<u64>(1024);
/// let router = Router::new().subscription(
///     Subscription::new("eth_subscribe", "eth_subscription", "eth_unsubscribe"),
///     move |(kind,): (String,)| {
///         let heads = heads.subscribe();
///         async move {
///             match kind.as_str() {
///                 "newHeads" => Ok(Broadcast::new(heads)),
///                 _ => Err(ErrorObject::invalid_params(format!("no such subscription: {kind}"))),
///             }
///         }
///     },
/// );
/// // elsewhere: heads.send(block_number)
/// ```
pub struct Broadcast<T, U = T> {
    receiving: ReusableBoxFuture<'static, (Result<T, RecvError>, broadcast::Receiver<T>)>,
    /// Which events are pushed, and as what.
    pick: Box<dyn FnMut(T) -> Option<U> + Send>,
}

async fn recv<T: Clone>(
    mut receiver: broadcast::Receiver<T>,
) -> (Result<T, RecvError>, broadcast::Receiver<T>) {
    let received = receiver.recv().await;
    (received, receiver)
}

impl<T: Clone + Send + 'static> Broadcast<T> {
    /// Pushes every event `receiver` gets.
    pub fn new(receiver: broadcast::Receiver<T>) -> Self {
        Self {
            receiving: ReusableBoxFuture::new(recv(receiver)),
            pick: Box::new(Some),
        }
    }
}

impl<T: Clone + Send + 'static, U: 'static> Broadcast<T, U> {
    /// Pushes only the events `pick` keeps, as what it makes of them: one
    /// channel of application events can feed subscriptions of several kinds
    /// (`eth_subscribe`'s `newHeads` and `logs`, say), and since the closure
    /// is not part of the type, each kind's feed has the same type.
    #[must_use]
    pub fn filter_map<V: 'static>(
        self,
        mut pick: impl FnMut(U) -> Option<V> + Send + 'static,
    ) -> Broadcast<T, V> {
        let mut first = self.pick;
        Broadcast {
            receiving: self.receiving,
            pick: Box::new(move |event| first(event).and_then(&mut pick)),
        }
    }
}

impl<T: Clone + Send + 'static> From<broadcast::Receiver<T>> for Broadcast<T> {
    fn from(receiver: broadcast::Receiver<T>) -> Self {
        Self::new(receiver)
    }
}

impl<T, U> fmt::Debug for Broadcast<T, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broadcast").finish_non_exhaustive()
    }
}
