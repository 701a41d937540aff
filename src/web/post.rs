//! A `POST`: the content type checked, the body read within the request
//! size limit, and answered as a connection answers one frame.

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use tokio_util::sync::CancellationToken;
use tower::{BoxError, Service};

use super::{
    Body,
    service::{empty, json},
};
use crate::{
    jsonrpc::{Call, ErrorObject, Id, JsonRpc, Response as JsonRpcResponse},
    transport::PeerInfo,
};

/// How much of an oversized body is kept to find the request's id in: as
/// much as a connection keeps.
const HEAD_LEN: usize = 256;

/// The media types read as JSON (geth's set).
const JSON_TYPES: [&str; 3] = [
    "application/json",
    "application/json-rpc",
    "application/jsonrequest",
];

/// Answers one `POST` of a JSON-RPC message or batch.
pub(super) async fn answer<S, B>(
    jsonrpc: &JsonRpc,
    service: S,
    peer: PeerInfo,
    abort: &CancellationToken,
    request: Request<B>,
) -> Response<Body>
where
    S: Service<Call, Response = JsonRpcResponse> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    if let Err(message) = check_content_type(request.headers()) {
        return error(jsonrpc, StatusCode::UNSUPPORTED_MEDIA_TYPE, message);
    }
    let limit = jsonrpc.request_limit();
    if let Some(size) = content_length(request.headers())
        && size > limit as u64
    {
        return json(
            StatusCode::PAYLOAD_TOO_LARGE,
            jsonrpc.too_large_answer(size, &Bytes::new()),
        );
    }
    let body = match read(request.into_body(), limit).await {
        Ok(body) => body,
        Err(Unread::TooLarge { size, head }) => {
            return json(
                StatusCode::PAYLOAD_TOO_LARGE,
                jsonrpc.too_large_answer(size, &head),
            );
        }
        Err(Unread::Failed(err)) => {
            return error(
                jsonrpc,
                StatusCode::BAD_REQUEST,
                format!("the request body could not be read: {err}"),
            );
        }
    };
    match jsonrpc.answer_message(service, peer, abort, body).await {
        Ok(Some(answer)) => json(StatusCode::OK, answer),
        Ok(None) => empty(StatusCode::NO_CONTENT),
        Err(err) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            jsonrpc.error_answer(
                Id::null(),
                ErrorObject::internal_error(format!("the service failed: {err}")),
            ),
        ),
    }
}

fn error(jsonrpc: &JsonRpc, status: StatusCode, message: String) -> Response<Body> {
    json(
        status,
        jsonrpc.error_answer(
            Id::null(),
            ErrorObject::new(ErrorObject::INVALID_REQUEST, message),
        ),
    )
}

/// `Ok` for a JSON media type, with or without parameters; else why not.
fn check_content_type(headers: &HeaderMap) -> Result<(), String> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err("no Content-Type: send application/json".to_owned());
    };
    let text = value.to_str().unwrap_or_default();
    let media_type = text.split(';').next().unwrap_or_default().trim();
    if JSON_TYPES
        .iter()
        .any(|json| media_type.eq_ignore_ascii_case(json))
    {
        Ok(())
    } else {
        Err(format!(
            "unsupported Content-Type `{}`: send application/json",
            String::from_utf8_lossy(value.as_bytes())
        ))
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Why a body was not read whole.
enum Unread {
    /// Over the limit: how much had come by then, and its first bytes
    /// (where a request's id usually is).
    TooLarge {
        size: u64,
        head: Bytes,
    },
    Failed(BoxError),
}

/// Reads `body` whole, refusing it as soon as it grows past `limit`.
async fn read<B>(body: B, limit: usize) -> Result<Bytes, Unread>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut all = BytesMut::new();
    let mut size = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| Unread::Failed(err.into()))?;
        let Ok(mut data) = frame.into_data() else {
            continue; // trailers
        };
        let chunk = data.copy_to_bytes(data.remaining());
        size += chunk.len() as u64;
        if size > limit as u64 {
            let mut head = BytesMut::new();
            head.extend_from_slice(first.as_deref().unwrap_or_default());
            head.extend_from_slice(&all);
            head.extend_from_slice(&chunk);
            head.truncate(HEAD_LEN);
            return Err(Unread::TooLarge {
                size,
                head: head.freeze(),
            });
        }
        // A body in one piece (the usual case) is kept as it came.
        match first.take() {
            None if all.is_empty() => first = Some(chunk),
            None => all.extend_from_slice(&chunk),
            Some(earlier) => {
                all.extend_from_slice(&earlier);
                all.extend_from_slice(&chunk);
            }
        }
    }
    Ok(first.unwrap_or_else(|| all.freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        headers
    }

    #[test]
    fn json_media_types_are_accepted_with_parameters() {
        assert!(check_content_type(&headers("application/json")).is_ok());
        assert!(check_content_type(&headers("Application/JSON; charset=utf-8")).is_ok());
        assert!(check_content_type(&headers("application/json-rpc")).is_ok());
        let err = check_content_type(&headers("text/plain")).unwrap_err();
        assert!(err.contains("`text/plain`"), "{err}");
        assert!(check_content_type(&HeaderMap::new()).is_err());
    }
}
