//! Answers the server makes of its own, and request tracing.

use tokio::time::Instant;
use tower::BoxError;

use crate::jsonrpc::{ErrorObject, Id, Request, Response, service::failure::error_object};

/// The span a request runs in. Its fields are read only when the span is
/// enabled.
pub(super) fn request_span(request: &Request) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        id = request.id().map_or("none", Id::as_json)
    )
}

/// When a request started, if its duration will be logged.
pub(super) fn started() -> Option<Instant> {
    tracing::enabled!(tracing::Level::DEBUG).then(Instant::now)
}

/// Logs a request's duration and outcome (at debug level, in its span).
pub(super) fn log_outcome(started: Option<Instant>, answer: Option<&Response>) {
    let Some(started) = started else {
        return;
    };
    let duration = started.elapsed();
    match answer.and_then(Response::error_object) {
        None => tracing::debug!(?duration, outcome = "ok", "request done"),
        Some(error) => tracing::debug!(
            ?duration,
            outcome = "error",
            code = error.code(),
            "request failed"
        ),
    }
}

/// The answer to a request the shutdown deadline cut short.
pub(super) fn cancelled(id: Id) -> Response {
    Response::error(
        id,
        ErrorObject::new(
            ErrorObject::SHUTTING_DOWN,
            "cancelled: the server is shutting down",
        ),
    )
}

/// The answer to send, from what the service returned.
pub(super) fn settle<E: Into<BoxError>>(
    id: Option<Id>,
    method: &str,
    outcome: Result<Response, E>,
) -> Option<Response> {
    match (id, outcome) {
        (Some(_), Ok(answer)) => Some(answer),
        (Some(id), Err(err)) => Some(Response::error(id, error_object(err.into()))),
        (None, Ok(_)) => None,
        (None, Err(err)) => {
            tracing::debug!(%method, error = %err.into(), "notification failed");
            None
        }
    }
}
