use std::task::{Context, Poll};

use tower::{BoxError, Service, make::Shared};

use super::{PeerPolicy, error::Refused, future::ResponseFuture};
use crate::transport::PeerInfo;

/// A make-service that makes a service only for the peers its
/// [`PeerPolicy`] allows; for the others it fails with [`Refused`], and the
/// server closes their connection without reading from it.
///
/// Each refusal is logged with `tracing::warn!`, with the peer's `pid`,
/// `uid` and `gid` as fields.
#[derive(Clone, Debug)]
pub struct Authorize<M> {
    inner: M,
    policy: PeerPolicy,
}

impl<M> Authorize<M> {
    /// Wraps the make-service `inner`.
    pub fn new(inner: M, policy: PeerPolicy) -> Self {
        Self { inner, policy }
    }

    /// The policy that decides.
    pub fn policy(&self) -> &PeerPolicy {
        &self.policy
    }

    /// The inner make-service.
    pub fn get_ref(&self) -> &M {
        &self.inner
    }

    /// The inner make-service, mutably.
    pub fn get_mut(&mut self) -> &mut M {
        &mut self.inner
    }

    /// Unwraps the inner make-service.
    pub fn into_inner(self) -> M {
        self.inner
    }
}

impl<S> Authorize<Shared<S>> {
    /// Serves one service, cloned for each allowed peer: the shortcut for a
    /// plain service, which [`Server::serve`](crate::Server::serve) would
    /// share the same way.
    ///
    /// ```no_run
    /// use bytes::Bytes;
    /// use tower::service_fn;
    /// use tower_ipc::{Endpoint, Server, codec::LengthPrefixed};
    /// use tower_ipc::server::authorize::{Authorize, PeerPolicy};
    ///
    /// # async fn run() -> std::io::Result<()> {
    /// let listener = Endpoint::new("echo").bind().await?;
    /// let echo = service_fn(|frame: Bytes| async move { Ok::<_, std::io::Error>(frame) });
    /// let make = Authorize::shared(echo, PeerPolicy::same_user());
    /// Server::new().serve_make(listener, LengthPrefixed::new(), make).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn shared(service: S, policy: PeerPolicy) -> Self {
        Self::new(Shared::new(service), policy)
    }
}

impl<M> Service<PeerInfo> for Authorize<M>
where
    M: Service<PeerInfo>,
    M::Error: Into<BoxError>,
{
    type Response = M::Response;
    type Error = BoxError;
    type Future = ResponseFuture<M::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, peer: PeerInfo) -> Self::Future {
        if self.policy.allows(&peer) {
            return ResponseFuture::allowed(self.inner.call(peer));
        }
        tracing::warn!(
            pid = peer.pid(),
            uid = peer.uid(),
            gid = peer.gid(),
            %peer,
            policy = ?self.policy,
            "connection refused by the authorization policy"
        );
        ResponseFuture::refused(Refused::new(peer))
    }
}
