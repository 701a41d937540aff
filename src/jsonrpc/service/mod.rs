//! What serves calls, on a server or on a client that answers its server:
//! the [`Router`] of typed handlers, the [`Call`] it is given with its
//! [`CallContext`], and subscriptions with their feeds.

mod call;
pub(crate) mod failure;
mod feed;
mod handler;
mod method_hash;
mod router;
pub(crate) mod subscription;

pub use call::{Call, CallContext};
pub use feed::{Broadcast, Feed};
pub use handler::{Handler, SubscriptionHandler};
pub use router::{RouteFuture, Router};
pub use subscription::{Overflow, Subscription};
