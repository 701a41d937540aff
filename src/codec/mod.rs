//! Framing: [`Decoder`](tokio_util::codec::Decoder) and
//! [`Encoder`](tokio_util::codec::Encoder) pairs for
//! [`Framed`](tokio_util::codec::Framed).
//!
//! A codec knows nothing of sockets or pipes: it turns bytes into frames and
//! frames into bytes. Every codec enforces a maximum frame length in both
//! directions and reports a violation as [`FrameTooLarge`].
//!
//! | codec | wire format |
//! |---|---|
//! | [`LengthPrefixed`] | a 1, 2, 4 or 8-byte length, big or little endian, then the payload |
//! | [`JsonCodec`] | JSON values: back to back (Ethereum IPC), one per line (NDJSON), or after a `Content-Length` header (LSP) |
//! | [`PipeMessageCodec`] | decred's pipe messages: version, a type string, a 4-byte little-endian length, the payload |
//! | [`NulTerminated`] | strings ended by a NUL byte, as C programs write them |
//! | [`PerMessage`] | any codec over a message-mode pipe: one frame per message |

mod error;
mod json;
mod length_prefixed;
mod nul_terminated;
mod per_message;
mod pipe_message;

pub use error::FrameTooLarge;
#[cfg(feature = "json-rpc")]
pub(crate) use json::JsonFrame;
pub use json::{JsonCodec, JsonFraming};
pub use length_prefixed::{LengthPrefixed, LengthWidth};
pub use nul_terminated::NulTerminated;
pub use per_message::PerMessage;
pub use pipe_message::{PipeMessage, PipeMessageCodec, PipeMessageError};
