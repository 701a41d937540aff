//! What the code `#[tower_ipc::service]` generates calls: not a public API.

use std::{
    convert::Infallible,
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use serde::{
    Deserialize, Deserializer, Serialize,
    de::{self, DeserializeOwned, IgnoredAny, SeqAccess, Visitor},
};

pub use futures::{future::BoxFuture, stream::BoxStream};
pub use serde;
pub use tower::Service;

use super::{Answer, Call, MethodError, ServiceInfo, frames::with_info, method_error};
use crate::jsonrpc::{self, ErrorObject, Response, RouteFuture, Router};
pub use crate::jsonrpc::{Router as JsonRpcRouter, Subscription};
pub use crate::typed::Rejected;

/// The answer of a call in the typed-frames form.
pub type FramesFuture = Pin<Box<dyn Future<Output = Result<Answer, Infallible>> + Send>>;

fn ready(answer: Answer) -> FramesFuture {
    Box::pin(std::future::ready(Ok(answer)))
}

/// Runs a method whose result is `R`.
pub fn reply<P, Fut, R>(
    info: &'static ServiceInfo,
    call: Call,
    names: &[&str],
    run: impl FnOnce(P) -> Fut,
) -> FramesFuture
where
    P: DeserializeOwned,
    Fut: Future<Output = R> + Send + 'static,
    R: Serialize,
{
    match call.params::<P>(info, names) {
        Ok(params) => {
            let running = run(params);
            Box::pin(async move { Ok(call.answer(&Ok::<R, Rejected>(running.await))) })
        }
        Err(rejected) => ready(Answer::rejected(rejected)),
    }
}

/// Runs a method whose result is `Result<R, E>`.
pub fn reply_fallible<P, Fut, R, E>(
    info: &'static ServiceInfo,
    call: Call,
    names: &[&str],
    run: impl FnOnce(P) -> Fut,
) -> FramesFuture
where
    P: DeserializeOwned,
    Fut: Future<Output = Result<R, E>> + Send + 'static,
    R: Serialize,
    E: MethodError,
{
    match call.params::<P>(info, names) {
        Ok(params) => {
            let running = run(params);
            Box::pin(async move {
                let reply = running.await.map_err(MethodError::into_rejected);
                Ok(call.answer(&reply))
            })
        }
        Err(rejected) => ready(Answer::rejected(rejected)),
    }
}

/// Runs a notification's method; the answer only acknowledges it.
pub fn notified<P, Fut>(
    info: &'static ServiceInfo,
    call: Call,
    names: &[&str],
    run: impl FnOnce(P) -> Fut,
) -> FramesFuture
where
    P: DeserializeOwned,
    Fut: Future<Output = ()> + Send + 'static,
{
    reply(info, call, names, run)
}

/// A call of a method the service does not have.
pub fn unknown(info: &'static ServiceInfo, call: &Call) -> FramesFuture {
    ready(call.method_not_found(info))
}

/// Opens a subscription, whose items are `T`s.
pub fn subscribe<P, Fut, T>(
    info: &'static ServiceInfo,
    call: Call,
    names: &[&str],
    run: impl FnOnce(P) -> Fut,
) -> FramesFuture
where
    P: DeserializeOwned,
    Fut: Future<Output = BoxStream<'static, T>> + Send + 'static,
    T: Serialize + Send + 'static,
{
    if !call.is_subscription() {
        let message = format!(
            "`{}` is a subscription: open it as one (kind 2), not as a call",
            call.method()
        );
        return ready(Answer::rejected(with_info(
            Rejected::new(Rejected::INVALID_REQUEST, message),
            info,
        )));
    }
    match call.params::<P>(info, names) {
        Ok(params) => {
            let opening = run(params);
            Box::pin(async move { Ok(call.open(opening.await)) })
        }
        Err(rejected) => ready(Answer::rejected(rejected)),
    }
}

/// A method's error as a JSON-RPC error object.
pub fn error_object<E: MethodError>(err: E) -> ErrorObject {
    method_error::error_object(err.into_rejected())
}

/// Reads params by position or by name (JSON), or by position only (binary
/// formats, which say how many there are).
pub fn deserialize_params<'de, D, V>(deserializer: D, visitor: V) -> Result<V::Value, D::Error>
where
    D: Deserializer<'de>,
    V: Visitor<'de>,
{
    if deserializer.is_human_readable() {
        deserializer.deserialize_any(visitor)
    } else {
        deserializer.deserialize_seq(visitor)
    }
}

/// A param that must be there.
pub fn required<T, E: de::Error>(value: Option<T>, name: &'static str) -> Result<T, E> {
    value.ok_or_else(|| E::missing_field(name))
}

/// A param that may be left out (an `Option`): absent is `None`.
pub fn optional<T>(value: Option<Option<T>>) -> Option<T> {
    value.flatten()
}

/// A param given by name, once.
pub fn set<T, E: de::Error>(slot: &mut Option<T>, name: &'static str, value: T) -> Result<(), E> {
    if slot.replace(value).is_some() {
        return Err(E::duplicate_field(name));
    }
    Ok(())
}

/// The params by position end after `expected`.
pub fn no_more_params<'de, A: SeqAccess<'de>>(
    seq: &mut A,
    expected: usize,
) -> Result<(), A::Error> {
    let extra = match seq.size_hint() {
        Some(left) => left,
        None => usize::from(seq.next_element::<IgnoredAny>()?.is_some()),
    };
    if extra > 0 {
        return Err(de::Error::invalid_length(
            expected + extra,
            &ParamCount(expected),
        ));
    }
    Ok(())
}

struct ParamCount(usize);

impl de::Expected for ParamCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at most {} params", self.0)
    }
}

/// A key of params by name.
pub fn param_name<'de, A: de::MapAccess<'de>>(map: &mut A) -> Result<Option<String>, A::Error> {
    map.next_key::<String>()
}

/// Skips a value (for params a client sent by name that the method lacks).
pub fn unknown_param<E: de::Error>(name: &str, expected: &'static [&'static str]) -> E {
    E::unknown_field(name, expected)
}

/// A type's own deserialization, for generated visitors.
pub fn next_value<'de, A: de::MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
) -> Result<T, A::Error> {
    map.next_value()
}

/// The server of a service's JSON-RPC form: its router, whose answers to
/// calls it cannot take name the service and its version.
#[derive(Clone, Debug)]
pub struct JsonRpcServer {
    router: Router,
    info: &'static ServiceInfo,
}

impl JsonRpcServer {
    /// Serves `router` as the service `info`.
    pub fn new(router: Router, info: &'static ServiceInfo) -> Self {
        Self { router, info }
    }
}

impl Service<jsonrpc::Call> for JsonRpcServer {
    type Response = Response;
    type Error = Infallible;
    type Future = VersionedFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.router.poll_ready(cx)
    }

    fn call(&mut self, call: jsonrpc::Call) -> VersionedFuture {
        VersionedFuture {
            inner: self.router.call(call),
            info: self.info,
        }
    }
}

/// A router's answer, with the service named in refusals.
#[derive(Debug)]
pub struct VersionedFuture {
    inner: RouteFuture,
    info: &'static ServiceInfo,
}

impl Future for VersionedFuture {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Ok(response) = std::task::ready!(Pin::new(&mut self.inner).poll(cx));
        let refused = response.error_object().filter(|err| {
            matches!(
                err.code(),
                ErrorObject::METHOD_NOT_FOUND | ErrorObject::INVALID_PARAMS
            ) && err.data().is_none()
        });
        let Some(refused) = refused else {
            return Poll::Ready(Ok(response));
        };
        let data = serde_json::json!({ "service": self.info.name, "version": self.info.version });
        let refused = refused.clone().with_data(&data);
        Poll::Ready(Ok(Response::error(response.id().clone(), refused)))
    }
}
