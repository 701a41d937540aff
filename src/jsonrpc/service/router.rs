use std::{
    collections::HashMap,
    convert::Infallible,
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use futures::future::BoxFuture;

use super::{
    Call, Subscription,
    handler::{Handler, SubscriptionHandler},
    method_hash::MethodHash,
};
use crate::jsonrpc::{ErrorObject, Id, Response};

/// Routes requests to typed handlers by method name: a
/// [`tower::Service`]`<`[`Call`]`, Response = `[`Response`]`>`, so tower
/// middleware wraps it like any service.
///
/// ```
/// use serde::Deserialize;
/// use tower_ipc::jsonrpc::{CallContext, ErrorObject, Router};
///
/// #[derive(Deserialize)]
/// struct Transfer { to: String, amount: u64 }
///
/// let router = Router::new()
///     // params by position: [1, 2]
///     .method("add", |(a, b): (i64, i64)| async move { Ok::<_, ErrorObject>(a + b) })
///     // params by name ({"to": .., "amount": ..}) or position, through serde
///     .method("transfer", |t: Transfer| async move {
///         if t.amount == 0 {
///             return Err(ErrorObject::invalid_params("amount must be positive"));
///         }
///         Ok(format!("sent {} to {}", t.amount, t.to))
///     })
///     // the caller's identity, from the connection
///     .method("whoami", |cx: CallContext, (): ()| async move {
///         Ok::<_, ErrorObject>(cx.peer_info().pid())
///     });
/// ```
#[derive(Clone, Default)]
pub struct Router {
    /// By the method name's bytes: a name is looked up without its UTF-8
    /// check (the frame it came in was checked whole).
    routes: Arc<HashMap<Box<[u8]>, Route, MethodHash>>,
}

type Handle = Arc<dyn Fn(Call) -> BoxFuture<'static, Response> + Send + Sync>;

#[derive(Clone)]
enum Route {
    Method(Handle),
    Unsubscribe,
}

impl Router {
    /// A router with no methods.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes `method` to `handler` (see [`Handler`] for the shapes it may
    /// take). A method registered again replaces the earlier handler.
    #[must_use]
    pub fn method<H, Args>(mut self, method: impl Into<Box<str>>, handler: H) -> Self
    where
        H: Handler<Args>,
    {
        let call: Handle = Arc::new(move |call| handler.call(call));
        let method: Box<str> = method.into();
        Arc::make_mut(&mut self.routes).insert(method.into(), Route::Method(call));
        self
    }

    /// Routes a subscription: its subscribe method calls `handler`, whose
    /// stream's items are pushed to the caller as notifications; its
    /// unsubscribe method (params `[id]`) ends it and answers whether it
    /// existed. Subscriptions end when their connection closes.
    ///
    /// ```
    /// use futures::stream;
    /// use tower_ipc::jsonrpc::{ErrorObject, Router, Subscription};
    ///
    /// let router = Router::new().subscription(
    ///     Subscription::new("count_subscribe", "count_item", "count_unsubscribe"),
    ///     |(to,): (u64,)| async move { Ok::<_, ErrorObject>(stream::iter(0..to)) },
    /// );
    /// ```
    #[must_use]
    pub fn subscription<H, Args>(mut self, subscription: Subscription, handler: H) -> Self
    where
        H: SubscriptionHandler<Args>,
    {
        let subscribe = subscription.subscribe_method().as_bytes().into();
        let unsubscribe = subscription.unsubscribe_method().as_bytes().into();
        let call: Handle = Arc::new(move |call| handler.subscribe(call, subscription.clone()));
        let routes = Arc::make_mut(&mut self.routes);
        routes.insert(subscribe, Route::Method(call));
        routes.insert(unsubscribe, Route::Unsubscribe);
        self
    }
}

impl tower::Service<Call> for Router {
    type Response = Response;
    type Error = Infallible;
    type Future = RouteFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: Call) -> RouteFuture {
        let answer = match self.routes.get(call.request().method_bytes()) {
            Some(Route::Method(route)) => return RouteFuture(Inner::Running(route(call))),
            Some(Route::Unsubscribe) => unsubscribe(&call),
            None => Response::error(
                call.id().cloned().unwrap_or_else(Id::null),
                ErrorObject::method_not_found(call.method()),
            ),
        };
        RouteFuture(Inner::Ready(Some(Box::new(answer))))
    }
}

fn unsubscribe(call: &Call) -> Response {
    let id = call.id().cloned().unwrap_or_else(Id::null);
    match call.params().parse::<(String,)>() {
        Ok((subscription,)) => {
            Response::result(id, &call.context().close_subscription(&subscription))
        }
        Err(err) => Response::error(id, err),
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut methods: Vec<_> = self
            .routes
            .keys()
            .map(|name| String::from_utf8_lossy(name))
            .collect();
        methods.sort_unstable();
        f.debug_struct("Router").field("methods", &methods).finish()
    }
}

/// The answer of a [`Router`] call.
pub struct RouteFuture(Inner);

enum Inner {
    // Boxed: an error or an unsubscription, rarely taken, need not make
    // every request's future larger.
    Ready(Option<Box<Response>>),
    Running(BoxFuture<'static, Response>),
}

impl Future for RouteFuture {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            Inner::Ready(answer) => Poll::Ready(Ok(*answer
                .take()
                .expect("RouteFuture polled after completion"))),
            Inner::Running(running) => running.as_mut().poll(cx).map(Ok),
        }
    }
}

impl fmt::Debug for RouteFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteFuture").finish_non_exhaustive()
    }
}
