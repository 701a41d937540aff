//! The messages as they are on the wire: plain data that parses from a frame
//! and serializes into one, with no runtime state.

mod error;
mod id;
mod message;
mod params;
pub(crate) mod request;
mod response;

pub use error::ErrorObject;
pub use id::Id;
pub use message::Message;
pub use params::Params;
pub use request::Request;
pub use response::Response;
