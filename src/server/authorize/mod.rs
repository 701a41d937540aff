//! Authorization: serve only the peers a [`PeerPolicy`] allows.
//!
//! Every accepted connection carries its peer's identity, as the operating
//! system reports it ([`PeerInfo`](crate::transport::PeerInfo): uid, gid and
//! pid on Unix; the client's pid and user SID on Windows). A [`PeerPolicy`]
//! decides from it: the same user as the server, a list of uids or gids, or
//! any predicate.
//!
//! [`AuthorizeLayer`] applies a policy to a make-service, the
//! `Service<PeerInfo>` that [`Server::serve_make`](crate::Server::serve_make)
//! asks for a service per connection. A refused peer gets no service: the
//! server closes its connection at once, without reading a byte, and the
//! refusal is logged with `tracing::warn!` and the peer's pid, uid and gid.
//!
//! ```no_run
//! use bytes::Bytes;
//! use tower::{ServiceBuilder, service_fn};
//! use tower_ipc::{Endpoint, Server, codec::LengthPrefixed, transport::PeerInfo};
//! use tower_ipc::server::authorize::{AuthorizeLayer, PeerPolicy};
//!
//! # async fn run() -> std::io::Result<()> {
//! let listener = Endpoint::new("my-app").bind().await?;
//! // One service per connection, which may use who is calling.
//! let make = service_fn(|peer: PeerInfo| async move {
//!     tracing::info!(%peer, "serving");
//!     Ok::<_, std::io::Error>(service_fn(|frame: Bytes| async move {
//!         Ok::<_, std::io::Error>(frame)
//!     }))
//! });
//! let make = ServiceBuilder::new()
//!     .layer(AuthorizeLayer::new(PeerPolicy::same_user()))
//!     .service(make);
//! Server::new().serve_make(listener, LengthPrefixed::new(), make).await?;
//! # Ok(())
//! # }
//! ```
//!
//! A plain service (no make-service) is authorized with
//! [`Authorize::shared`].
//!
//! The policy is a second line of defence behind the endpoint's own access
//! control ([`BindOptions`](crate::transport::BindOptions)), and the only one
//! where the transport has none: Linux abstract sockets, or an endpoint
//! deliberately opened to every local user. TCP peers have no uid or SID, so
//! only a [`PeerPolicy::predicate`] over their address can allow them.
//!
//! Protocols that answer each call (JSON-RPC) can refuse per call instead of
//! closing the connection: they keep the connection's `PeerInfo` and ask
//! [`PeerPolicy::allows`] themselves, answering an error response to a
//! refused peer.

pub mod error;
pub mod future;
mod layer;
mod policy;
mod service;

pub use error::Refused;
pub use layer::AuthorizeLayer;
pub use policy::PeerPolicy;
pub use service::Authorize;
