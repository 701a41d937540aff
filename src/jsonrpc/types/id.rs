use std::{fmt, hash::Hash};

use bytes::Bytes;
use serde::{Deserialize, Serialize, de};
use serde_json::value::RawValue;

/// A request id: a number (of any size), a string, or null.
///
/// Ids are kept as the exact JSON text the peer sent, so they are echoed
/// byte for byte: `12345678901234567890123`, `1.0` and `"\u0041"` come back
/// unchanged. Two ids are equal when their JSON text is.
///
/// ```
/// use tower_ipc::jsonrpc::Id;
///
/// assert_eq!(Id::from(7).as_json(), "7");
/// assert_eq!(Id::from("abc").as_json(), r#""abc""#);
/// assert_eq!(Id::from(7).as_u64(), Some(7));
/// assert!(Id::null().is_null());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Id(Bytes);

impl Id {
    /// The null id.
    pub fn null() -> Self {
        Self(Bytes::from_static(b"null"))
    }

    /// Takes an id from JSON text already known to be a string, a number or
    /// null (the parser checked it).
    pub(crate) fn from_raw(raw: Bytes) -> Self {
        Self(raw)
    }

    /// Whether `text` is JSON that may be an id: a string, a number or null.
    pub(crate) fn is_valid_json(text: &str) -> bool {
        matches!(text.as_bytes().first(), Some(b'"' | b'-' | b'0'..=b'9')) || text == "null"
    }

    /// The id's JSON text, exactly as received or created.
    pub fn as_json(&self) -> &str {
        // Ids are built from `&str`s (parsed JSON or formatted numbers).
        std::str::from_utf8(&self.0).unwrap_or("null")
    }

    /// The id as an unsigned integer, if it is one that fits.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_json().parse().ok()
    }

    /// The id as a string, if it is a JSON string.
    pub fn as_str(&self) -> Option<String> {
        if self.0.first() == Some(&b'"') {
            serde_json::from_slice(&self.0).ok()
        } else {
            None
        }
    }

    /// Whether this is the null id.
    pub fn is_null(&self) -> bool {
        &self.0[..] == b"null"
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<u64> for Id {
    fn from(n: u64) -> Self {
        Self(Bytes::from(n.to_string()))
    }
}

impl From<&str> for Id {
    fn from(s: &str) -> Self {
        // A string always serializes.
        Self(Bytes::from(serde_json::to_vec(s).unwrap_or_default()))
    }
}

impl From<String> for Id {
    fn from(s: String) -> Self {
        Self::from(s.as_str())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.as_json())
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_json())
    }
}

impl Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue =
            serde_json::from_str(self.as_json()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        if !Self::is_valid_json(raw.get()) {
            return Err(de::Error::custom(
                "an id must be a string, a number or null",
            ));
        }
        Ok(Self(Bytes::from(raw.get().to_owned())))
    }
}
