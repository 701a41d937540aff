//! Reading JSON-RPC messages from frames: what a server reads (requests,
//! with an answer for whatever is not one, and answers to its own calls),
//! and any message (a client's replies and its server's calls, and
//! [`Message::parse`](crate::jsonrpc::Message::parse)). One parse of the
//! envelope; ids, params and results stay slices of the frame.

use std::borrow::Cow;

use bytes::Bytes;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::jsonrpc::{ErrorObject, Id, Message, Request, Response};

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

/// The frame as text: one UTF-8 check of the whole frame, after which
/// serde_json borrows strings and raw values without checking each again
/// (from bytes it checks every one of them: twice the work on a request).
fn text(frame: &Bytes) -> Result<&str, std::str::Utf8Error> {
    std::str::from_utf8(frame)
}

/// Reads a frame the server received.
pub(crate) fn parse_incoming(frame: &Bytes, max_batch_size: usize) -> Incoming {
    let text = match text(frame) {
        Ok(text) => text,
        Err(err) => return Incoming::Invalid(ErrorObject::parse_error(err)),
    };
    if frame.first() == Some(&b'[') {
        let items: Vec<&RawValue> = match serde_json::from_str(text) {
            Ok(items) => items,
            // The frame starts with `[`: not an array only if it is not JSON.
            Err(err) => return Incoming::Invalid(ErrorObject::parse_error(err)),
        };
        if items.is_empty() {
            return Incoming::Invalid(ErrorObject::invalid_request("empty batch"));
        }
        if items.len() > max_batch_size {
            return Incoming::Invalid(ErrorObject::new(
                ErrorObject::LIMIT_EXCEEDED,
                format!(
                    "batch of {} requests exceeds the limit of {max_batch_size}",
                    items.len()
                ),
            ));
        }
        let entries = items
            .into_iter()
            .enumerate()
            .map(
                |(index, item)| match serde_json::from_str::<RequestEnvelope<'_>>(item.get()) {
                    Ok(envelope) => entry(frame, envelope),
                    Err(err) => Entry::Invalid(
                        Id::null(),
                        not_a_request(&err, item.get(), format_args!("batch element {index}")),
                    ),
                },
            )
            .collect();
        return Incoming::Batch(entries);
    }
    match serde_json::from_str::<RequestEnvelope<'_>>(text) {
        Ok(envelope) => Incoming::Single(entry(frame, envelope)),
        Err(err) if err.is_syntax() || err.is_eof() => {
            Incoming::Invalid(ErrorObject::parse_error(err))
        }
        Err(err) => Incoming::Invalid(not_a_request(&err, text, format_args!("the message"))),
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

fn entry(frame: &Bytes, envelope: RequestEnvelope<'_>) -> Entry {
    let id = match envelope.id {
        None => None,
        Some(raw) if Id::is_valid_json(raw.get()) => Some(Id::from_raw(slice(frame, raw))),
        Some(_) => {
            return Entry::Invalid(
                Id::null(),
                ErrorObject::invalid_request("the id must be a string, a number or null"),
            );
        }
    };
    let invalid = |detail: &str| {
        Entry::Invalid(
            id.clone().unwrap_or_else(Id::null),
            ErrorObject::invalid_request(detail),
        )
    };
    if envelope.jsonrpc.map(RawValue::get) != Some(r#""2.0""#) {
        return invalid(r#"the "jsonrpc" member must be "2.0""#);
    }
    if envelope.method.is_none()
        && (envelope.result.is_some() || envelope.error.is_some())
        && let Some(id) = &id
    {
        return match response(frame, id.clone(), envelope.result, envelope.error) {
            Ok(response) => Entry::Response(response),
            Err(problem) => invalid(&problem),
        };
    }
    let Some(method) = envelope.method.and_then(|raw| string(raw.get())) else {
        return invalid(r#"the "method" member must be a string"#);
    };
    let params = match envelope.params.map(RawValue::get) {
        None | Some("null") => None,
        Some(json) if json.starts_with(['[', '{']) => Some(frame.slice_ref(json.as_bytes())),
        Some(_) => return invalid(r#"the "params" member must be an array or an object"#),
    };
    Entry::Request(Request::from_parts(id, method.into(), params))
}

/// A response from its `result` or `error` member (exactly one of them).
fn response(
    frame: &Bytes,
    id: Id,
    result: Option<&RawValue>,
    error: Option<&RawValue>,
) -> Result<Response, String> {
    match (result, error) {
        (Some(result), None) => Ok(Response::raw(id, slice(frame, result))),
        (None, Some(error)) => serde_json::from_str(error.get())
            .map(|error| Response::error(id, error))
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

/// The frame's bytes under `raw`, without copying.
fn slice(frame: &Bytes, raw: &RawValue) -> Bytes {
    frame.slice_ref(raw.get().as_bytes())
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
                    *self.id = Some(Id::from_raw(id));
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
                        message(frame, envelope).map_err(|problem| {
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
    message(frame, envelope).map_err(ErrorObject::invalid_request)
}

fn message(frame: &Bytes, envelope: Envelope<'_>) -> Result<Message, String> {
    let id = match envelope.id {
        None => None,
        Some(raw) if Id::is_valid_json(raw.get()) => Some(Id::from_raw(slice(frame, raw))),
        Some(_) => return Err("the id must be a string, a number or null".to_owned()),
    };
    if let Some(method) = envelope.method {
        let method = string(method.get())
            .ok_or_else(|| r#"the "method" member must be a string"#.to_owned())?;
        let params = match envelope.params.map(RawValue::get) {
            None | Some("null") => None,
            Some(json) if json.starts_with(['[', '{']) => Some(frame.slice_ref(json.as_bytes())),
            Some(_) => {
                return Err(r#"the "params" member must be an array or an object"#.to_owned());
            }
        };
        let request = Request::from_parts(id, method.into(), params);
        return Ok(if request.is_notification() {
            Message::Notification(request)
        } else {
            Message::Request(request)
        });
    }
    let Some(id) = id else {
        return Err(r#"a message without "method" must be a response, with an "id""#.to_owned());
    };
    response(frame, id, envelope.result, envelope.error).map(Message::Response)
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
