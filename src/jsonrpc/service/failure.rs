//! What a call whose service failed is answered with.

use tower::BoxError;

use crate::jsonrpc::ErrorObject;

/// The error object for an error a service (or its middleware) returned:
/// an [`ErrorObject`] as it is, an elapsed timeout
/// [`ErrorObject::TIMEOUT`], load shedding
/// [`ErrorObject::LIMIT_EXCEEDED`], anything else an internal error with its
/// message.
pub(crate) fn error_object(err: BoxError) -> ErrorObject {
    let err = match err.downcast::<ErrorObject>() {
        Ok(object) => return *object,
        Err(err) => err,
    };
    if err.is::<tower::timeout::error::Elapsed>() {
        ErrorObject::new(ErrorObject::TIMEOUT, "request timed out")
    } else if err.is::<tower::load_shed::error::Overloaded>() {
        ErrorObject::new(ErrorObject::LIMIT_EXCEEDED, "server overloaded")
    } else {
        ErrorObject::internal_error(err)
    }
}
