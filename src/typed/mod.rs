//! Typed messages: your own request and response types, through serde, in
//! the frames of any codec (feature `typed`; the formats are features too:
//! `json`, `postcard`).
//!
//! - [`TypedCodec`] turns a frame codec ([`LengthPrefixed`](crate::codec::LengthPrefixed),
//!   [`PipeMessageCodec`](crate::codec::PipeMessageCodec), the
//!   [JSON framings](crate::codec::JsonCodec)) into a [`Decoder`](tokio_util::codec::Decoder)
//!   and [`Encoder`](tokio_util::codec::Encoder) of your types, so
//!   [`Client`](crate::Client) sends and receives them.
//! - [`TypedServer`] serves a [`tower::Service`] of your request type with
//!   [`serve`](crate::serve), answering each request with a [`Reply`]: the
//!   response, or [`Rejected`] when the frame did not decode (the
//!   connection goes on).
//! - The formats: [`Json`] (readable; the only one the JSON framings can
//!   carry) and [`Postcard`] (compact binary).
//!
//! For a whole service (methods, errors, notifications, subscriptions,
//! and callers in other languages through JSON-RPC), define it as a trait
//! with [`#[tower_ipc::service]`](mod@crate::service) instead (feature `macros`).
//!
//! # On the wire
//!
//! Each frame of the codec holds one serialized value: the request, or the
//! reply (`Result<Response, Rejected>`, an enum in serde's terms). With
//! [`Json`] over [`LengthPrefixed`](crate::codec::LengthPrefixed), a
//! request `Double(21)` and its answer:
//!
//! ```text
//! → 00 00 00 0d {"Double":21}
//! ← 00 00 00 09 {"Ok":42}
//! → 00 00 00 03 [1]
//! ← 00 00 00 .. {"Err":{"code":-32600,"message":"a 3-byte json frame does not decode as `Request`: ...","data":null}}
//! ```
//!
//! # What may change
//!
//! [`Json`] carries field and variant names: adding a field with
//! `#[serde(default)]` or a new enum variant is invisible to a peer that
//! does not use it. [`Postcard`] carries neither names nor lengths: both
//! ends must have the same types, field for field and variant for variant
//! in the same order, or frames decode into something else or not at all.
//! Add variants only at the end of an enum, and version the types when
//! anything else changes; a [service](mod@crate::service)'s methods are sent
//! by name in both formats and are safer to grow.

mod codec;
mod error;
mod format;
mod frame;
mod rejected;
pub(crate) mod server;

pub use codec::TypedCodec;
pub use error::{DecodeError, EncodeError};
pub use format::Format;
#[doc(hidden)]
pub use format::FormatKind;
#[cfg(feature = "json")]
pub use format::Json;
#[cfg(feature = "postcard")]
pub use format::Postcard;
pub use frame::Frame;
pub use rejected::Rejected;
pub use server::{Reply, TypedServer};
