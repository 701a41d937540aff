//! Reading and writing JSON-RPC fast: one parse of each envelope, ids,
//! params and results kept as slices of the frame, and messages written
//! straight into write buffers.

pub(crate) mod parse;
pub(crate) mod write;
