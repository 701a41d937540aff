use std::{fmt, hash::Hash, sync::Arc};

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
#[derive(Clone)]
pub struct Id(Repr);

/// The id's JSON text. Ids are copied wherever an answer goes (the
/// request, the handler, the answer); a short one is kept inline, so a copy
/// is a copy of a few words, without the reference counting of a shared
/// buffer.
#[derive(Clone)]
enum Repr {
    Inline { len: u8, text: [u8; INLINE] },
    Shared(Arc<[u8]>),
}

/// The longest id kept inline: any 64-bit number, a string of 20
/// characters. (An `Id` is then three words, as small as a `String`.)
const INLINE: usize = 22;

impl Id {
    /// The null id.
    pub fn null() -> Self {
        Self::copied(b"null")
    }

    /// An id from its JSON text, already known to be a string, a number or
    /// null (the parser checked it), copied.
    #[inline]
    pub(crate) fn copied(json: &[u8]) -> Self {
        match u8::try_from(json.len()) {
            Ok(len) if json.len() <= INLINE => {
                let mut text = [0; INLINE];
                text[..json.len()].copy_from_slice(json);
                Self(Repr::Inline { len, text })
            }
            _ => Self(Repr::Shared(json.into())),
        }
    }

    /// Whether `text` is JSON that may be an id: a string, a number or null.
    pub(crate) fn is_valid_json(text: &str) -> bool {
        matches!(text.as_bytes().first(), Some(b'"' | b'-' | b'0'..=b'9')) || text == "null"
    }

    /// The id's JSON text, exactly as received or created.
    pub fn as_json(&self) -> &str {
        // Ids are built from `&str`s (parsed JSON or formatted numbers).
        std::str::from_utf8(self.bytes()).unwrap_or("null")
    }

    /// The id as an unsigned integer, if it is one that fits.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_json().parse().ok()
    }

    /// The id as a string, if it is a JSON string.
    pub fn as_str(&self) -> Option<String> {
        if self.bytes().first() == Some(&b'"') {
            serde_json::from_slice(self.bytes()).ok()
        } else {
            None
        }
    }

    /// Whether this is the null id.
    pub fn is_null(&self) -> bool {
        self.bytes() == b"null"
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, text } => &text[..usize::from(*len)],
            Repr::Shared(bytes) => bytes,
        }
    }
}

impl PartialEq for Id {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Id {}

impl Hash for Id {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes().hash(state);
    }
}

impl From<u64> for Id {
    fn from(n: u64) -> Self {
        Self::copied(crate::jsonrpc::wire::write::decimal(n, &mut [0; 20]))
    }
}

impl From<&str> for Id {
    fn from(s: &str) -> Self {
        // A string always serializes.
        Self::copied(&serde_json::to_vec(s).unwrap_or_default())
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
        Ok(Self::copied(raw.get().as_bytes()))
    }
}
