//! Watching a cancellation token from a future that is woken often.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Waker},
};

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// A cancellation token a connection looks at each time it is woken.
///
/// Polling the token's future takes the token's lock and goes through its
/// waiter list, every time; a connection is woken for every burst of
/// requests and watches two tokens. The future is polled only when the task
/// is new to it (the first time, or after a change of waker); while the
/// waker stays the same, it is still registered, and a look at the token
/// is enough.
pub(crate) struct CancelFlag {
    token: CancellationToken,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    /// The waker the future was last polled with.
    registered: Option<Waker>,
}

impl CancelFlag {
    pub(crate) fn new(token: &CancellationToken) -> Self {
        Self {
            token: token.clone(),
            cancelled: Box::pin(token.clone().cancelled_owned()),
            registered: None,
        }
    }

    /// Whether the token is cancelled; if not, the task is woken when it is.
    pub(crate) fn poll_cancelled(&mut self, cx: &mut Context<'_>) -> bool {
        if let Some(waker) = &self.registered
            && waker.will_wake(cx.waker())
        {
            return self.token.is_cancelled();
        }
        if self.cancelled.as_mut().poll(cx).is_ready() {
            return true;
        }
        self.registered = Some(cx.waker().clone());
        false
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, task::Wake};

    use super::*;

    struct Count(std::sync::atomic::AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn a_cancellation_wakes_the_task_and_is_seen() {
        let token = CancellationToken::new();
        let mut watch = CancelFlag::new(&token);
        let count = Arc::new(Count(0.into()));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(!watch.poll_cancelled(&mut cx));
        assert!(!watch.poll_cancelled(&mut cx), "the same waker again");
        token.cancel();
        assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(watch.poll_cancelled(&mut cx));
    }

    #[test]
    fn a_new_waker_is_registered() {
        let token = CancellationToken::new();
        let mut watch = CancelFlag::new(&token);
        let (first, second) = (Arc::new(Count(0.into())), Arc::new(Count(0.into())));
        let waker = Waker::from(first.clone());
        assert!(!watch.poll_cancelled(&mut Context::from_waker(&waker)));
        let waker = Waker::from(second.clone());
        assert!(!watch.poll_cancelled(&mut Context::from_waker(&waker)));
        token.cancel();
        assert_eq!(second.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
