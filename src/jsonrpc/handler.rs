//! Typed handlers: async functions from parsed params to a result.

use std::{future::Future, pin::Pin};

use bytes::Bytes;
use futures::future::BoxFuture;
use serde::{Serialize, de::DeserializeOwned};

use super::{Context, ErrorObject, Feed, Id, Request, Response, Subscription};

/// An async function the [`Router`](super::Router) can call for a method.
///
/// Implemented for closures and functions of either shape, with `T` the
/// params (any `serde::Deserialize` type: a tuple for params by position, a
/// struct for params by name, `()` for none):
///
/// - `Fn(T) -> impl Future<Output = Result<R, E>>`
/// - `Fn(Context, T) -> impl Future<Output = Result<R, E>>`, to learn the
///   caller ([`Context::peer`])
///
/// where `R: Serialize` is the result and `E: Into<ErrorObject>` the error.
/// Params that do not parse into `T` are answered with an invalid-params
/// error naming what did not fit; the handler is not called.
pub trait Handler<Args>: Clone + Send + Sync + 'static {
    #[doc(hidden)]
    fn call(&self, request: Request) -> BoxFuture<'static, Response>;
}

/// An async function the [`Router`](super::Router) calls to open a
/// subscription: like a [`Handler`], but it returns a [`Feed`]: a [`Stream`]
/// of items or a [`Broadcast`](super::Broadcast) receiver, each item pushed
/// to the caller as a notification.
///
/// [`Stream`]: futures::Stream
pub trait SubscriptionHandler<Args>: Clone + Send + Sync + 'static {
    #[doc(hidden)]
    fn subscribe(
        &self,
        request: Request,
        subscription: Subscription,
    ) -> BoxFuture<'static, Response>;
}

fn answer<R: Serialize, E: Into<ErrorObject>>(
    request: &Request,
    outcome: Result<R, E>,
) -> Response {
    let id = request.id().cloned().unwrap_or_else(Id::null);
    match outcome {
        // A notification's answer is never sent: do not serialize it.
        Ok(_) if request.is_notification() => Response::raw(id, Bytes::from_static(b"null")),
        Ok(result) => Response::result(id, &result),
        Err(err) => Response::error(id, err.into()),
    }
}

fn params_error(request: &Request, err: ErrorObject) -> BoxFuture<'static, Response> {
    let id = request.id().cloned().unwrap_or_else(Id::null);
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
    fn call(&self, request: Request) -> BoxFuture<'static, Response> {
        match request.params().parse::<T>() {
            Ok(params) => {
                let running = self(params);
                Box::pin(async move { answer(&request, running.await) })
            }
            Err(err) => params_error(&request, err),
        }
    }
}

impl<F, Fut, T, R, E> Handler<(Context, T)> for F
where
    F: Fn(Context, T) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<R, E>> + Send + 'static,
    T: DeserializeOwned,
    R: Serialize,
    E: Into<ErrorObject>,
{
    fn call(&self, request: Request) -> BoxFuture<'static, Response> {
        match request.params().parse::<T>() {
            Ok(params) => {
                let running = self(request.context().clone(), params);
                Box::pin(async move { answer(&request, running.await) })
            }
            Err(err) => params_error(&request, err),
        }
    }
}

/// Opens the subscription `opening` resolves to and answers with its id.
async fn open<S, E>(
    request: Request,
    subscription: Subscription,
    opening: Pin<Box<dyn Future<Output = Result<S, E>> + Send>>,
) -> Response
where
    S: Feed,
    E: Into<ErrorObject>,
{
    let id = request.id().cloned().unwrap_or_else(Id::null);
    let items = match opening.await {
        Ok(items) => items,
        Err(err) => return Response::error(id, err.into()),
    };
    match request.context().open_subscription(&subscription, items) {
        Ok((subscription_id, activation)) => {
            let mut response = Response::result(id, &subscription_id);
            response.activation = Some(activation);
            response
        }
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
    fn subscribe(
        &self,
        request: Request,
        subscription: Subscription,
    ) -> BoxFuture<'static, Response> {
        match request.params().parse::<T>() {
            Ok(params) => Box::pin(open(request, subscription, Box::pin(self(params)))),
            Err(err) => params_error(&request, err),
        }
    }
}

impl<F, Fut, T, S, E> SubscriptionHandler<(Context, T)> for F
where
    F: Fn(Context, T) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<S, E>> + Send + 'static,
    T: DeserializeOwned,
    S: Feed,
    E: Into<ErrorObject> + 'static,
{
    fn subscribe(
        &self,
        request: Request,
        subscription: Subscription,
    ) -> BoxFuture<'static, Response> {
        match request.params().parse::<T>() {
            Ok(params) => {
                let opening = self(request.context().clone(), params);
                Box::pin(open(request, subscription, Box::pin(opening)))
            }
            Err(err) => params_error(&request, err),
        }
    }
}
