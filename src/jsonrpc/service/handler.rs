//! Typed handlers: async functions from parsed params to a result.

use std::{future::Future, pin::Pin};

use bytes::Bytes;
use futures::future::BoxFuture;
use serde::{Serialize, de::DeserializeOwned};

use super::{Call, CallContext, Feed, Subscription};
use crate::jsonrpc::{ErrorObject, Id, Response};

/// An async function the [`Router`](super::Router) can call for a method.
///
/// Implemented for closures and functions of either shape, with `T` the
/// params (any `serde::Deserialize` type: a tuple for params by position, a
/// struct for params by name, `()` for none):
///
/// - `Fn(T) -> impl Future<Output = Result<R, E>>`
/// - `Fn(CallContext, T) -> impl Future<Output = Result<R, E>>`, to learn the
///   caller ([`CallContext::peer_info`]) or call it back
///
/// where `R: Serialize` is the result and `E: Into<ErrorObject>` the error.
/// Params that do not parse into `T` are answered with an invalid-params
/// error naming what did not fit; the handler is not called.
pub trait Handler<Args>: Clone + Send + Sync + 'static {
    #[doc(hidden)]
    fn call(&self, call: Call) -> BoxFuture<'static, Response>;
}

/// An async function the [`Router`](super::Router) calls to open a
/// subscription: like a [`Handler`], but it returns a [`Feed`]: a [`Stream`]
/// of items or a [`Broadcast`](super::Broadcast) receiver, each item pushed
/// to the caller as a notification.
///
/// [`Stream`]: futures::Stream
pub trait SubscriptionHandler<Args>: Clone + Send + Sync + 'static {
    #[doc(hidden)]
    fn subscribe(&self, call: Call, subscription: Subscription) -> BoxFuture<'static, Response>;
}

fn answer<R: Serialize, E: Into<ErrorObject>>(id: Option<Id>, outcome: Result<R, E>) -> Response {
    match (id, outcome) {
        // A notification's answer is never sent: do not serialize it.
        (None, Ok(_)) => Response::raw(Id::null(), Bytes::from_static(b"null")),
        (Some(id), Ok(result)) => Response::result(id, &result),
        (id, Err(err)) => Response::error(id.unwrap_or_else(Id::null), err.into()),
    }
}

fn params_error(call: &Call, err: ErrorObject) -> BoxFuture<'static, Response> {
    let id = call.id().cloned().unwrap_or_else(Id::null);
    Box::pin(std::future::ready(Response::error(id, err)))
}

impl<F, Fut, T, R, E> Handler<(T,)> for F
where
    F: Fn(T) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<R, E>> + Send + 'static,
    T: DeserializeOwned,
    R: Serialize,
    E: Into<ErrorObject>,
{
    fn call(&self, call: Call) -> BoxFuture<'static, Response> {
        match call.params().parse::<T>() {
            Ok(params) => {
                let running = self(params);
                let id = call.id().cloned();
                Box::pin(async move { answer(id, running.await) })
            }
            Err(err) => params_error(&call, err),
        }
    }
}

impl<F, Fut, T, R, E> Handler<(CallContext, T)> for F
where
    F: Fn(CallContext, T) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<R, E>> + Send + 'static,
    T: DeserializeOwned,
    R: Serialize,
    E: Into<ErrorObject>,
{
    fn call(&self, call: Call) -> BoxFuture<'static, Response> {
        match call.params().parse::<T>() {
            Ok(params) => {
                let id = call.id().cloned();
                let running = self(call.into_parts().1, params);
                Box::pin(async move { answer(id, running.await) })
            }
            Err(err) => params_error(&call, err),
        }
    }
}

/// Opens the subscription `opening` resolves to and answers with its id.
async fn open<S, E>(
    call: Call,
    subscription: Subscription,
    opening: Pin<Box<dyn Future<Output = Result<S, E>> + Send>>,
) -> Response
where
    S: Feed,
    E: Into<ErrorObject>,
{
    let Some(id) = call.id().cloned() else {
        // No answer would carry the subscription's id.
        return Response::error(
            Id::null(),
            ErrorObject::invalid_request(
                "a subscription is opened by a request, not a notification",
            ),
        );
    };
    let items = match opening.await {
        Ok(items) => items,
        Err(err) => return Response::error(id, err.into()),
    };
    match call.context().open_subscription(&subscription, items, &id) {
        Ok(subscription_id) => Response::result(id, &subscription_id),
        Err(err) => Response::error(id, err),
    }
}

impl<F, Fut, T, S, E> SubscriptionHandler<(T,)> for F
where
    F: Fn(T) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<S, E>> + Send + 'static,
    T: DeserializeOwned,
    S: Feed,
    E: Into<ErrorObject> + 'static,
{
    fn subscribe(&self, call: Call, subscription: Subscription) -> BoxFuture<'static, Response> {
        match call.params().parse::<T>() {
            Ok(params) => Box::pin(open(call, subscription, Box::pin(self(params)))),
            Err(err) => params_error(&call, err),
        }
    }
}

impl<F, Fut, T, S, E> SubscriptionHandler<(CallContext, T)> for F
where
    F: Fn(CallContext, T) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<S, E>> + Send + 'static,
    T: DeserializeOwned,
    S: Feed,
    E: Into<ErrorObject> + 'static,
{
    fn subscribe(&self, call: Call, subscription: Subscription) -> BoxFuture<'static, Response> {
        match call.params().parse::<T>() {
            Ok(params) => {
                let opening = self(call.context().clone(), params);
                Box::pin(open(call, subscription, Box::pin(opening)))
            }
            Err(err) => params_error(&call, err),
        }
    }
}
