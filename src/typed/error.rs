use std::{error::Error, fmt, io};

use tower::BoxError;

/// A frame that arrived whole but does not deserialize into the type
/// expected: it names the type, the frame's size and the format.
///
/// Codecs report it as an [`io::Error`] of kind
/// [`InvalidData`](io::ErrorKind::InvalidData) whose inner error is this
/// type; [`source`](Error::source) is the format's own error.
///
/// ```
/// use tower_ipc::typed::DecodeError;
///
/// fn is_undecodable(err: &std::io::Error) -> bool {
///     err.get_ref().is_some_and(|inner| inner.is::<DecodeError>())
/// }
/// ```
#[derive(Debug)]
pub struct DecodeError {
    type_name: &'static str,
    size: usize,
    format: &'static str,
    source: BoxError,
}

impl DecodeError {
    pub(crate) fn new<T>(size: usize, format: &'static str, source: BoxError) -> Self {
        Self {
            type_name: std::any::type_name::<T>(),
            size,
            format,
            source,
        }
    }

    /// The Rust type the frame was to become, as `std::any::type_name`
    /// gives it.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The length of the frame's payload in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The format's name (`"json"`, `"postcard"`).
    pub fn format(&self) -> &'static str {
        self.format
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a {}-byte {} frame does not decode as `{}`: {}",
            self.size, self.format, self.type_name, self.source
        )
    }
}

impl Error for DecodeError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(self.source.as_ref())
    }
}

impl From<DecodeError> for io::Error {
    fn from(err: DecodeError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, err)
    }
}

/// A value that could not be serialized (a map with keys JSON cannot
/// have, say): it names the type and the format.
///
/// Encoders report it as an [`io::Error`] of kind
/// [`InvalidInput`](io::ErrorKind::InvalidInput) whose inner error is this
/// type; nothing is written.
#[derive(Debug)]
pub struct EncodeError {
    type_name: &'static str,
    format: &'static str,
    source: BoxError,
}

impl EncodeError {
    pub(crate) fn new<T: ?Sized>(format: &'static str, source: BoxError) -> Self {
        Self {
            type_name: std::any::type_name::<T>(),
            format,
            source,
        }
    }

    /// The Rust type that did not serialize.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` does not serialize as {}: {}",
            self.type_name, self.format, self.source
        )
    }
}

impl Error for EncodeError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(self.source.as_ref())
    }
}

impl From<EncodeError> for io::Error {
    fn from(err: EncodeError) -> Self {
        io::Error::new(io::ErrorKind::InvalidInput, err)
    }
}
