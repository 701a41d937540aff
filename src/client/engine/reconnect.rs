//! How a client connects again after its connection is lost: lazily, when
//! the next call needs it, as tower's `Reconnect` does. Calls in flight when
//! it was lost still fail; a call that finds no server fails with the
//! connection error, and the next call tries again.

use std::{io, time::Duration};

use futures::future::BoxFuture;

use crate::{Endpoint, transport::IpcStream};

/// Makes a new connection for a client's driver.
pub(crate) trait Connect<T>: Send + 'static {
    fn connect(&mut self) -> BoxFuture<'_, io::Result<T>>;
}

/// Connects to an endpoint, waiting up to `timeout` for its server, and
/// makes the client's transport of the stream.
pub(crate) struct EndpointConnect<F> {
    endpoint: Endpoint,
    timeout: Duration,
    make: F,
}

impl<F> EndpointConnect<F> {
    pub(crate) fn new(endpoint: Endpoint, timeout: Duration, make: F) -> Self {
        Self {
            endpoint,
            timeout,
            make,
        }
    }
}

impl<T, F> Connect<T> for EndpointConnect<F>
where
    F: FnMut(IpcStream) -> T + Send + 'static,
{
    fn connect(&mut self) -> BoxFuture<'_, io::Result<T>> {
        Box::pin(async move {
            let stream = self.endpoint.connect_timeout(self.timeout).await?;
            tracing::debug!(endpoint = %self.endpoint, "client connected again");
            Ok((self.make)(stream))
        })
    }
}

/// Makes each new connection with a closure: the supervisor's client asks
/// for the current child's pipes.
pub(crate) struct ConnectWith<F>(pub(crate) F);

impl<T, F> Connect<T> for ConnectWith<F>
where
    F: FnMut() -> BoxFuture<'static, io::Result<T>> + Send + 'static,
{
    fn connect(&mut self) -> BoxFuture<'_, io::Result<T>> {
        (self.0)()
    }
}
