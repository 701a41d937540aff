use tower::Layer;

use super::{Authorize, PeerPolicy};

/// Wraps a make-service in [`Authorize`], so that only the peers `policy`
/// allows are served.
#[derive(Clone, Debug)]
pub struct AuthorizeLayer {
    policy: PeerPolicy,
}

impl AuthorizeLayer {
    /// A layer that lets the peers `policy` allows through.
    pub fn new(policy: PeerPolicy) -> Self {
        Self { policy }
    }
}

impl<M> Layer<M> for AuthorizeLayer {
    type Service = Authorize<M>;

    fn layer(&self, inner: M) -> Authorize<M> {
        Authorize::new(inner, self.policy.clone())
    }
}
