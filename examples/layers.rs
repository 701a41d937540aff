//! Composing a JSON-RPC server and its client from tower layers.
//!
//! ```text
//! cargo run --example layers                 # about 2 seconds, then exits
//! RUST_LOG=info cargo run --example layers   # also log each refusal in its spans
//! RUST_LOG=debug cargo run --example layers  # and every request
//! ```
//!
//! The server's handlers are plain async functions in a `Router`; everything
//! else is a layer, outermost first:
//!
//! ```text
//! MapFuture          logs each request's outcome and time, in its tracing span
//! Buffer             one stack shared by every connection
//! LoadShed           when a limit below is reached, answer "overloaded" at once
//! ConcurrencyLimit   at most 4 requests run at once
//! RateLimit          at most 25 requests per 250 ms
//! Timeout            a handler may run 500 ms
//! Router             echo, sleep
//! ```
//!
//! `Buffer` is there because `RateLimit` is not `Clone`, and the server
//! clones its service for each connection: a buffer is a cloneable handle to
//! one instance, so the limits below it hold for all connections together.
//!
//! The client is a `tower::Service` too: `Timeout` (5 s for a call, retries
//! included) over `Retry` (a policy that retries "overloaded" answers after a
//! pause) over `JsonRpcClient`.
//!
//! The example runs both in one process over a real socket or named pipe
//! and shows each layer at work: an overloaded server answering at once with
//! an error, a slow call timed out, the client's retries getting every call
//! through, and the rate limit pacing calls. It checks every outcome and
//! exits with an error if one is not as described.
//!
//! Over the limits, the server refuses rather than queues: a caller learns
//! at once, and decides (here, the retry policy) whether to try again.

use std::process::ExitCode;
use std::{
    future::Future,
    time::{Duration, Instant},
};

use futures::future::join_all;
use tower::{BoxError, ServiceBuilder, ServiceExt, retry::Policy};
use tower_ipc::{
    Endpoint,
    jsonrpc::{CallError, ErrorObject, Id, JsonRpc, JsonRpcClient, Request, Response, Router},
};
use tracing_subscriber::EnvFilter;

const MAX_CONCURRENT: usize = 4;
const RATE: u64 = 25;
const RATE_PER: Duration = Duration::from_millis(250);
const HANDLER_TIMEOUT: Duration = Duration::from_millis(500);

#[tokio::main]
async fn main() -> ExitCode {
    // Errors as their messages say them, not as `Debug` shows their insides.
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();

    let listener = Endpoint::new(format!("tower-ipc-layers-{}", std::process::id()))
        .bind()
        .await?;
    let endpoint = listener.endpoint().clone();
    let server = ServiceBuilder::new()
        .map_future(log_outcome)
        .buffer(64)
        .load_shed()
        .concurrency_limit(MAX_CONCURRENT)
        .rate_limit(RATE, RATE_PER)
        .timeout(HANDLER_TIMEOUT)
        .service(router());
    tokio::spawn(tower_ipc::serve(listener, JsonRpc::new(), server).into_future());
    println!("server on {endpoint}");

    let client = JsonRpcClient::new(endpoint.connect_timeout(Duration::from_secs(5)).await?);

    // 1. Load shedding: twice as many slow calls as may run at once.
    let calls = (0..2 * MAX_CONCURRENT).map(|_| client.call::<u64, _>("sleep", (200,)));
    let answers = join_all(calls).await;
    let answered = answers.iter().filter(|answer| answer.is_ok()).count();
    let shed = answers
        .iter()
        .filter(|answer| code(answer) == Some(ErrorObject::LIMIT_EXCEEDED))
        .count();
    println!(
        "1. {} slow calls at once: {answered} answered, {shed} refused at once \
         with {} \"server overloaded\"",
        answers.len(),
        ErrorObject::LIMIT_EXCEEDED
    );
    check(
        answered == MAX_CONCURRENT && shed == MAX_CONCURRENT,
        "load shedding",
    )?;

    // 2. The server's timeout: a call that would take too long.
    let slow = client.call::<u64, _>("sleep", (1000,)).await;
    println!(
        "2. a 1000 ms call with a {HANDLER_TIMEOUT:?} handler timeout: {}",
        slow.as_ref()
            .map_or_else(ToString::to_string, |ms| format!("{ms}"))
    );
    check(
        code(&slow) == Some(ErrorObject::TIMEOUT),
        "the handler timeout",
    )?;

    // 3. The client's retry policy: the same burst, retried when overloaded.
    let retrying = ServiceBuilder::new()
        .timeout(Duration::from_secs(5))
        .retry(RetryOverloaded::new(10, Duration::from_millis(100)))
        .service(client.clone());
    let calls = (0..2 * MAX_CONCURRENT).map(|n| {
        let request = Request::new("sleep")
            .with_params(&(200,))
            .map(|request| request.with_id(Id::from(n as u64)));
        let retrying = retrying.clone();
        async move { retrying.oneshot(request?).await }
    });
    let answers = join_all(calls).await;
    let answered = answers
        .iter()
        .filter(|answer| matches!(answer, Ok(response) if !response.is_error()))
        .count();
    println!(
        "3. the same burst through a client that retries \"overloaded\": \
         {answered} of {} answered",
        answers.len()
    );
    check(answered == answers.len(), "retrying")?;

    // 4. The rate limit: quick calls, one after another, then the same
    // through the retrying client.
    let mut refused = 0;
    for n in 0..60 {
        match client.call::<u64, _>("echo", (n,)).await {
            Ok(echoed) => check(echoed == n, "echo")?,
            Err(err)
                if err.as_rpc().map(ErrorObject::code) == Some(ErrorObject::LIMIT_EXCEEDED) =>
            {
                refused += 1;
            }
            Err(err) => return Err(err.into()),
        }
    }
    let started = Instant::now();
    let mut answered = 0;
    for n in 0..60 {
        let request = Request::new("echo")
            .with_params(&(n,))?
            .with_id(Id::from(n));
        let response = retrying.clone().oneshot(request).await?;
        answered += usize::from(response.into_result::<u64>()? == n);
    }
    println!(
        "4. 60 quick calls in a row, {RATE} allowed per {RATE_PER:?}: {refused} refused; \
         through the retrying client {answered} of 60 answered, in {:.2?}",
        started.elapsed()
    );
    check(answered == 60, "retrying over the rate limit")?;
    Ok(())
}

fn router() -> Router {
    Router::new()
        .method(
            "echo",
            |(n,): (u64,)| async move { Ok::<_, ErrorObject>(n) },
        )
        .method("sleep", |(ms,): (u64,)| async move {
            tracing::debug!(ms, "sleeping");
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, ErrorObject>(ms)
        })
}

/// The error code of a call's error answer.
fn code<T>(answer: &Result<T, CallError>) -> Option<i64> {
    answer.as_ref().err()?.as_rpc().map(ErrorObject::code)
}

fn check(holds: bool, what: &str) -> Result<(), BoxError> {
    if holds {
        Ok(())
    } else {
        Err(format!("{what} did not behave as described").into())
    }
}

/// Logs how a request ended and how long it took. The server runs it
/// inside its spans for the connection (endpoint, peer) and the request
/// (method, id), so each line says whose request it was without this layer
/// knowing.
async fn log_outcome<F>(answer: F) -> Result<Response, BoxError>
where
    F: Future<Output = Result<Response, BoxError>>,
{
    let started = Instant::now();
    let outcome = answer.await;
    let elapsed = started.elapsed();
    match &outcome {
        Ok(response) => match response.error_object() {
            None => tracing::debug!(?elapsed, "answered"),
            Some(error) => tracing::info!(?elapsed, code = error.code(), "error answer"),
        },
        Err(err) => tracing::info!(?elapsed, %err, "stopped by a layer"),
    }
    outcome
}

/// Retries a call the server answered "overloaded", after a pause, a
/// limited number of times. Other answers, errors included, are final:
/// retrying a call that failed for another reason could run it twice.
#[derive(Clone, Debug)]
struct RetryOverloaded {
    attempts_left: usize,
    pause: Duration,
}

impl RetryOverloaded {
    fn new(attempts: usize, pause: Duration) -> Self {
        Self {
            attempts_left: attempts,
            pause,
        }
    }
}

impl<E> Policy<Request, Response, E> for RetryOverloaded {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        _request: &mut Request,
        result: &mut Result<Response, E>,
    ) -> Option<Self::Future> {
        let overloaded = matches!(
            result,
            Ok(response) if response.error_object().map(ErrorObject::code)
                == Some(ErrorObject::LIMIT_EXCEEDED)
        );
        if !overloaded || self.attempts_left == 0 {
            return None;
        }
        self.attempts_left -= 1;
        Some(tokio::time::sleep(self.pause))
    }

    fn clone_request(&mut self, request: &Request) -> Option<Request> {
        Some(request.clone())
    }
}
