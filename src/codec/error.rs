use std::{error::Error, fmt, io};

/// A frame was longer than the codec's maximum frame length.
///
/// Codecs report it as an [`io::Error`] of kind [`io::ErrorKind::InvalidData`]
/// whose inner error is this type, so callers can tell it apart:
///
/// ```
/// use tower_ipc::codec::FrameTooLarge;
///
/// fn is_too_large(err: &std::io::Error) -> bool {
///     err.get_ref().is_some_and(|inner| inner.is::<FrameTooLarge>())
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameTooLarge {
    limit: usize,
    size: u64,
}

impl FrameTooLarge {
    pub(crate) fn new(limit: usize, size: u64) -> Self {
        Self { limit, size }
    }

    /// The maximum frame length that was exceeded, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The length of the offending frame in bytes (as far as it was known
    /// when the limit was crossed).
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl fmt::Display for FrameTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "frame of {} bytes exceeds the maximum frame length of {} bytes",
            self.size, self.limit
        )
    }
}

impl Error for FrameTooLarge {}

impl From<FrameTooLarge> for io::Error {
    fn from(err: FrameTooLarge) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, err)
    }
}
