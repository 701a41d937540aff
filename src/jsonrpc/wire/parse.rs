//! Reading JSON-RPC messages from frames: what a server reads (requests,
//! with an answer for whatever is not one, and answers to its own calls),
//! and any message (a client's replies and its server's calls, and
//! [`Message::parse`](crate::jsonrpc::Message::parse)). One parse of the
//! envelope; ids, params and results stay slices of the frame.

use std::{borrow::Cow, ops::Range};

use bytes::Bytes;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::jsonrpc::{
    ErrorObject, Id, Message, Request, Response,
    types::request::{MethodParts, RequestParts},
};

/// Every member a JSON-RPC message may have, as raw JSON.
#[derive(Deserialize)]
struct Envelope<'a> {
    // Not read (peers that leave it out are understood), but a member:
    // present twice, it makes the message invalid.
    #[serde(borrow, default, rename = "jsonrpc")]
    _jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<&'a RawValue>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

/// A message's members, as the server reads them: like [`Envelope`], but
/// every member is read as it is, `null` included (the server checks each
/// one's value anyway, and skipping `Option`'s look for `null` is cheaper).
#[derive(Deserialize)]
struct RequestEnvelope<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    method: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<&'a RawValue>,
    // An answer to one of the server's own calls has these.
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

/// `Some` for a member that is present, even when it is `null` (an `id` of
/// null is not a missing id).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(deserializer).map(Some)
}

/// A frame as the server reads it.
pub(crate) enum Incoming {
    Single(Entry),
    Batch(Vec<Entry>),
    /// A frame that is not JSON, an empty batch, a value that is no request:
    /// one error answer with a null id.
    Invalid(ErrorObject),
}

/// One message of a frame: a request, an answer to one of the server's own
/// calls, or why it is neither (with its id, if readable).
pub(crate) enum Entry {
    Request(Request),
    Response(Response),
    Invalid(Id, ErrorObject),
}

/// What a frame holds, found while the frame is borrowed (from the read
/// buffer, before it is split off): where the parts of each message are.
pub(crate) enum Found {
    Single(FoundEntry),
    Batch(Vec<FoundEntry>),
    Invalid(ErrorObject),
}

/// One message of a frame, with where its parts are in the frame.
pub(crate) enum FoundEntry {
    Request(RequestParts),
    /// An answer: its result's place in the frame, or its error.
    Response(Id, Result<Range<usize>, ErrorObject>),
    Invalid(Id, ErrorObject),
}

impl Found {
    /// The messages, with the frame their parts are slices of.
    #[inline]
    pub(crate) fn in_frame(self, frame: Bytes) -> Incoming {
        match self {
            Self::Single(entry) => Incoming::Single(entry.in_frame(frame)),
            Self::Batch(entries) => Incoming::Batch(
                entries
                    .into_iter()
                    .map(|entry| entry.in_frame(frame.clone()))
                    .collect(),
            ),
            Self::Invalid(error) => Incoming::Invalid(error),
        }
    }
}

impl FoundEntry {
    #[inline]
    fn in_frame(self, frame: Bytes) -> Entry {
        match self {
            Self::Request(parts) => Entry::Request(parts.in_frame(frame)),
            Self::Response(id, Ok(result)) => {
                Entry::Response(Response::raw(id, frame.slice(result)))
            }
            Self::Response(id, Err(error)) => Entry::Response(Response::error(id, error)),
            Self::Invalid(id, error) => Entry::Invalid(id, error),
        }
    }
}

/// The frame as text: one UTF-8 check of the whole frame, after which
/// serde_json borrows strings and raw values without checking each again
/// (from bytes it checks every one of them: twice the work on a request).
fn text(frame: &[u8]) -> Result<&str, std::str::Utf8Error> {
    std::str::from_utf8(frame)
}

/// Reads a frame the server received.
pub(crate) fn parse_incoming(frame: Bytes, max_batch_size: usize) -> Incoming {
    let found = match text(&frame) {
        Ok(text) => find_incoming(text, max_batch_size).0,
        Err(err) => Found::Invalid(ErrorObject::parse_error(err)),
    };
    found.in_frame(frame)
}

/// Reads what a line of the read buffer holds, if it is one whole JSON
/// object or array and nothing else but whitespace: the request (or batch)
/// and the length of its frame (the line without the whitespace). `None`
/// when the line is not that (a value spread over lines, several values, no
/// JSON), for the framing to cut the input as it would without this look
/// ahead.
pub(crate) fn find_in_line(line: &[u8], max_batch_size: usize) -> Option<(Found, usize)> {
    let text = text(line).ok()?.trim_end_matches(is_space);
    if !text.starts_with(['{', '[']) {
        return None;
    }
    match find_incoming(text, max_batch_size) {
        (found, true) => Some((found, text.len())),
        (_, false) => None,
    }
}

/// JSON whitespace.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Reads a frame's text; and whether the text was one whole value of JSON
/// (an object or array that serde_json read to its end).
fn find_incoming(text: &str, max_batch_size: usize) -> (Found, bool) {
    if text.as_bytes().first() == Some(&b'[') {
        let items: Vec<&RawValue> = match serde_json::from_str(text) {
            Ok(items) => items,
            // The frame starts with `[`: not an array only if it is not JSON.
            Err(err) => return (Found::Invalid(ErrorObject::parse_error(err)), false),
        };
        if items.is_empty() {
            return (
                Found::Invalid(ErrorObject::invalid_request("empty batch")),
                true,
            );
        }
        if items.len() > max_batch_size {
            let error = ErrorObject::new(
                ErrorObject::LIMIT_EXCEEDED,
                format!(
                    "batch of {} requests exceeds the limit of {max_batch_size}",
                    items.len()
                ),
            );
            return (Found::Invalid(error), true);
        }
        let entries = items
            .into_iter()
            .enumerate()
            .map(
                |(index, item)| match serde_json::from_str::<RequestEnvelope<'_>>(item.get()) {
                    Ok(envelope) => entry(text, envelope),
                    Err(err) => FoundEntry::Invalid(
                        Id::null(),
                        not_a_request(&err, item.get(), format_args!("batch element {index}")),
                    ),
                },
            )
            .collect();
        return (Found::Batch(entries), true);
    }
    match serde_json::from_str::<RequestEnvelope<'_>>(text) {
        Ok(envelope) => (Found::Single(entry(text, envelope)), true),
        Err(err) if err.is_syntax() || err.is_eof() => {
            (Found::Invalid(ErrorObject::parse_error(err)), false)
        }
        Err(err) => (
            Found::Invalid(not_a_request(&err, text, format_args!("the message"))),
            false,
        ),
    }
}

/// The error for JSON that is not a request object, in the caller's terms
/// (serde's would name a private type and a position within `json`).
fn not_a_request(
    err: &serde_json::Error,
    json: &str,
    what: std::fmt::Arguments<'_>,
) -> ErrorObject {
    let got = match json.trim_start().as_bytes().first() {
        Some(b'{') => {
            // The only way an object fails: a member given twice.
            let detail = err.to_string();
            let detail = detail.split(" at line ").next().unwrap_or_default();
            return ErrorObject::invalid_request(format_args!(
                "{what}: {}",
                detail.replace("field", "member")
            ));
        }
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    };
    ErrorObject::invalid_request(format_args!("{what} is not a request object (got {got})"))
}

/// Where `raw`, borrowed from `text`, lies in it.
fn place(text: &str, raw: &RawValue) -> Range<usize> {
    let start = raw.get().as_ptr() as usize - text.as_ptr() as usize;
    start..start + raw.get().len()
}

/// The id member's value, copied (ids are short, and copied wherever the
/// answer goes); `Err` if it cannot be an id.
fn read_id(raw: Option<&RawValue>) -> Result<Option<Id>, ()> {
    match raw {
        None => Ok(None),
        Some(raw) if Id::is_valid_json(raw.get()) => Ok(Some(Id::copied(raw.get().as_bytes()))),
        Some(_) => Err(()),
    }
}

/// Where a method name is in `text`, or the name unescaped; `None` for a
/// value that is not a string.
fn method_parts(text: &str, raw: &RawValue) -> Option<MethodParts> {
    Some(match string(raw.get())? {
        Cow::Borrowed(name) => {
            let start = name.as_ptr() as usize - text.as_ptr() as usize;
            MethodParts::InFrame(start..start + name.len())
        }
        Cow::Owned(name) => MethodParts::Unescaped(name.into()),
    })
}

fn entry(text: &str, envelope: RequestEnvelope<'_>) -> FoundEntry {
    let Ok(id) = read_id(envelope.id) else {
        return FoundEntry::Invalid(
            Id::null(),
            ErrorObject::invalid_request("the id must be a string, a number or null"),
        );
    };
    let invalid = |id: Option<Id>, detail: &str| {
        FoundEntry::Invalid(
            id.unwrap_or_else(Id::null),
            ErrorObject::invalid_request(detail),
        )
    };
    if envelope.jsonrpc.map(RawValue::get) != Some(r#""2.0""#) {
        return invalid(id, r#"the "jsonrpc" member must be "2.0""#);
    }
    if envelope.method.is_none()
        && (envelope.result.is_some() || envelope.error.is_some())
        && let Some(id) = id
    {
        return match response(text, envelope.result, envelope.error) {
            Ok(outcome) => FoundEntry::Response(id, outcome),
            Err(problem) => invalid(Some(id), &problem),
        };
    }
    let Some(method) = envelope.method.and_then(|raw| method_parts(text, raw)) else {
        return invalid(id, r#"the "method" member must be a string"#);
    };
    let params = match envelope.params {
        None => None,
        Some(raw) if raw.get() == "null" => None,
        Some(raw) if raw.get().starts_with(['[', '{']) => Some(place(text, raw)),
        Some(_) => return invalid(id, r#"the "params" member must be an array or an object"#),
    };
    FoundEntry::Request(RequestParts { id, method, params })
}

/// A response from its `result` or `error` member (exactly one of them):
/// where its result is, or its error.
fn response(
    text: &str,
    result: Option<&RawValue>,
    error: Option<&RawValue>,
) -> Result<Result<Range<usize>, ErrorObject>, String> {
    match (result, error) {
        (Some(result), None) => Ok(Ok(place(text, result))),
        (None, Some(error)) => serde_json::from_str(error.get())
            .map(Err)
            .map_err(|err| format!("a malformed error object: {}", without_position(&err))),
        _ => Err(r#"a response must have exactly one of "result" and "error""#.to_owned()),
    }
}

/// serde_json's message without the position it found the problem at.
fn without_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    text.split(" at line ")
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The text of a JSON string, from its raw JSON; `None` for another value.
fn string(raw: &str) -> Option<Cow<'_, str>> {
    // The parser checked the raw value: one that starts with a quote is a
    // whole string, and without a backslash its text is what lies between
    // the quotes. Parsing it again would cost as much as the rest of the
    // request's members.
    match raw
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    {
        Some(text) if !text.contains('\\') => Some(Cow::Borrowed(text)),
        _ => serde_json::from_str::<Cow<'_, str>>(raw).ok(),
    }
}

/// The id of a request known only by its first bytes, `head` (the rest was
/// over the frame limit): found when the `"id"` member comes before anything
/// cut short, as JSON-RPC clients write it.
pub(crate) fn id_in_head(head: &Bytes) -> Option<Id> {
    let mut id = None;
    let mut parser = serde_json::Deserializer::from_slice(head);
    // The visitor stops the parse once it has the id, so the truncated rest
    // is never read; the error that stops it is expected.
    let _ = serde::de::DeserializeSeed::deserialize(IdSeed { head, id: &mut id }, &mut parser);
    id
}

struct IdSeed<'a> {
    head: &'a Bytes,
    id: &'a mut Option<Id>,
}

impl<'de> serde::de::DeserializeSeed<'de> for IdSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for IdSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON-RPC request")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "id" {
                let raw: &RawValue = map.next_value()?;
                let id = self.head.slice_ref(raw.get().as_bytes());
                // A number or literal at the very end may be cut short (`12`
                // of `123`): only an id followed by something is whole. A
                // wrong id would fail another caller's call.
                let whole = id.as_ptr_range().end < self.head.as_ptr_range().end;
                if whole && Id::is_valid_json(raw.get()) {
                    *self.id = Some(Id::copied(&id));
                }
                return Err(serde::de::Error::custom("found the id"));
            }
            map.next_value::<serde::de::IgnoredAny>()?;
        }
        Ok(())
    }
}

/// Reads any message: requests, notifications, responses and batches of
/// them. The `jsonrpc` member is not checked, so peers that leave it out
/// are understood.
///
/// # Errors
///
/// An [`ErrorObject::PARSE_ERROR`] for a frame that is not JSON, an
/// [`ErrorObject::INVALID_REQUEST`] for JSON that is no message, saying what
/// is wrong.
pub(crate) fn parse_message(frame: &Bytes) -> Result<Message, ErrorObject> {
    let text = text(frame).map_err(ErrorObject::parse_error)?;
    if frame.first() == Some(&b'[') {
        let items: Vec<&RawValue> = serde_json::from_str(text).map_err(ErrorObject::parse_error)?;
        if items.is_empty() {
            return Err(ErrorObject::invalid_request("empty batch"));
        }
        return items
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                serde_json::from_str::<Envelope<'_>>(item.get())
                    .map_err(|err| {
                        not_a_request(&err, item.get(), format_args!("batch element {index}"))
                    })
                    .and_then(|envelope| {
                        message(frame, text, envelope).map_err(|problem| {
                            ErrorObject::invalid_request(format_args!(
                                "batch element {index}: {problem}"
                            ))
                        })
                    })
            })
            .collect::<Result<_, _>>()
            .map(Message::Batch);
    }
    let envelope: Envelope<'_> = serde_json::from_str(text).map_err(|err| {
        if err.is_syntax() || err.is_eof() {
            ErrorObject::parse_error(err)
        } else {
            not_a_request(&err, text, format_args!("the message"))
        }
    })?;
    message(frame, text, envelope).map_err(ErrorObject::invalid_request)
}

fn message(frame: &Bytes, text: &str, envelope: Envelope<'_>) -> Result<Message, String> {
    let id = read_id(envelope.id)
        .map_err(|()| "the id must be a string, a number or null".to_owned())?;
    if let Some(method) = envelope.method {
        let method = method_parts(text, method)
            .ok_or_else(|| r#"the "method" member must be a string"#.to_owned())?;
        let params = match envelope.params {
            None => None,
            Some(raw) if raw.get() == "null" => None,
            Some(raw) if raw.get().starts_with(['[', '{']) => Some(place(text, raw)),
            Some(_) => {
                return Err(r#"the "params" member must be an array or an object"#.to_owned());
            }
        };
        let request = RequestParts { id, method, params }.in_frame(frame.clone());
        return Ok(if request.is_notification() {
            Message::Notification(request)
        } else {
            Message::Request(request)
        });
    }
    let Some(id) = id else {
        return Err(r#"a message without "method" must be a response, with an "id""#.to_owned());
    };
    let outcome = response(text, envelope.result, envelope.error)?;
    Ok(Message::Response(match outcome {
        Ok(result) => Response::raw(id, frame.slice(result)),
        Err(error) => Response::error(id, error),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(head: &str) -> Option<String> {
        id_in_head(&Bytes::copy_from_slice(head.as_bytes())).map(|id| id.as_json().to_owned())
    }

    #[test]
    fn the_id_of_a_cut_short_request_is_read_when_it_comes_first() {
        assert_eq!(
            id(r#"{"jsonrpc":"2.0","id":42,"method":"x","params":["xxxx"#).as_deref(),
            Some("42")
        );
        assert_eq!(
            id(r#"{"id":"a\"b","params":[1,2,"#).as_deref(),
            Some(r#""a\"b""#)
        );
        assert_eq!(
            id(r#"{"method":"x","jsonrpc":"2.0","id":null,"params":{"#).as_deref(),
            Some("null")
        );
        assert_eq!(
            id(r#"{"method":"x","params":{"a":[{}]},"id":7,"#).as_deref(),
            Some("7")
        );
    }

    #[test]
    fn no_id_is_made_up() {
        assert_eq!(id(r#"{"jsonrpc":"2.0","method":"x","params":["xxxx"#), None);
        assert_eq!(id(r#"{"id":[1],"method":"x""#), None);
        assert_eq!(id(r#"[{"id":1,"method":"x"#), None);
        assert_eq!(id(r#"{"id":12"#), None, "a number cut short is no id");
        assert_eq!(id("not json"), None);
        assert_eq!(id(""), None);
    }
}
