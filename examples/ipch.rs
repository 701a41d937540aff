//! Serving and calling programs written like ipc.h, a C library of
//! request/response over Windows named pipes: message-type pipes
//! (`PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE`), each request and answer
//! one message holding one NUL-terminated string, read into 512-byte
//! buffers.
//!
//! Two settings make tower-ipc speak it: message mode on the pipe
//! (`BindOptions::message_mode` / `ConnectOptions::message_mode`, with the
//! peer's buffer size as the longest message), and the codec
//! `PerMessage<NulTerminated>`, which writes every string as exactly one
//! message and reads one string from each message. Pipelined calls then
//! stay one message each, so a peer that answers message by message
//! answers every one, in order.
//!
//! ```sh
//! cargo run --example ipch                        # serves the protocol and calls it
//! cargo run --example ipch -- serve NAME          # serves until Ctrl-C, for C clients
//! cargo run --example ipch -- call NAME TEXT...   # calls a C server, all TEXTs at once
//! ```
//!
//! The server answers each request with `re:` and the request. A C client
//! must open the pipe with `GENERIC_READ | FILE_WRITE_DATA |
//! FILE_WRITE_ATTRIBUTES` to reach a server bound with
//! `allow_local_users` as another user (see `BindOptions`); this example's
//! server admits only its own user.
//!
//! Message-mode pipes are Windows': elsewhere this example says so and
//! exits. From Linux, run it under Wine: `.ci/windows/cargo run --example
//! ipch`.

#[cfg(windows)]
#[tokio::main]
async fn main() -> Result<(), tower::BoxError> {
    windows::main().await
}

#[cfg(not(windows))]
fn main() {
    println!("ipc.h's protocol runs over message-type Windows named pipes; run this on Windows");
}

#[cfg(windows)]
mod windows {
    use bytes::Bytes;
    use futures::future::join_all;
    use tokio_util::codec::Framed;
    use tower::{BoxError, ServiceExt, service_fn};
    use tower_ipc::{
        Client, Endpoint, Server,
        codec::{NulTerminated, PerMessage},
        transport::{BindOptions, ConnectOptions},
    };

    /// What an ipc.h peer reads at once: no message may be longer.
    const PEER_BUFFER: usize = 512;

    /// The codec of ipc.h's protocol: one NUL-terminated string per message.
    fn codec() -> PerMessage<NulTerminated> {
        PerMessage::new(NulTerminated::new().max_frame_length(PEER_BUFFER - 1))
    }

    pub(super) async fn main() -> Result<(), BoxError> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        match args
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            [] => {
                let endpoint = Endpoint::new(format!("ipch-example-{}", std::process::id()));
                let server = tokio::spawn(serve(endpoint.clone(), std::future::pending()));
                let texts: Vec<String> = (1..=8).map(|i| format!("request {i}")).collect();
                call(&endpoint, &texts).await?;
                server.abort();
                Ok(())
            }
            ["serve", name] => {
                let ctrl_c = async {
                    let _ = tokio::signal::ctrl_c().await;
                };
                serve(Endpoint::new(name), ctrl_c).await
            }
            ["call", name, texts @ ..] if !texts.is_empty() => {
                let texts: Vec<String> = texts.iter().map(|text| (*text).to_owned()).collect();
                call(&Endpoint::new(name), &texts).await
            }
            _ => Err("usage: ipch [serve NAME | call NAME TEXT...]".into()),
        }
    }

    /// Answers every request with `re:` and the request, until `stop`.
    async fn serve(
        endpoint: Endpoint,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), BoxError> {
        let options = BindOptions::new().message_mode(PEER_BUFFER);
        let listener = endpoint.bind_with(&options).await?;
        println!("serving ipc.h's protocol on {endpoint}");
        let answer = service_fn(|request: Bytes| async move {
            let mut answer = b"re:".to_vec();
            answer.extend_from_slice(&request);
            Ok::<_, BoxError>(Bytes::from(answer))
        });
        Server::new()
            .serve(listener, codec(), answer)
            .with_graceful_shutdown(stop)
            .await?;
        println!("stopped");
        Ok(())
    }

    /// Sends every text at once on one connection and prints each answer
    /// (or why there is none) beside its request.
    async fn call(endpoint: &Endpoint, texts: &[String]) -> Result<(), BoxError> {
        let options = ConnectOptions::new()
            .timeout(std::time::Duration::from_secs(5))
            .message_mode(PEER_BUFFER);
        let stream = endpoint.connect_with(&options).await?;
        let client = Client::new(Framed::new(stream, codec()));
        let answers = join_all(texts.iter().map(|text| {
            let client = client.clone();
            client.oneshot(Bytes::from(text.clone()))
        }))
        .await;
        let mut failed = 0;
        for (text, answer) in texts.iter().zip(answers) {
            match answer {
                Ok(answer) => println!("{text:?} -> {:?}", String::from_utf8_lossy(&answer)),
                Err(err) => {
                    failed += 1;
                    println!("{text:?} -> error: {err:?}");
                }
            }
        }
        match failed {
            0 => Ok(()),
            _ => Err(format!("{failed} of {} calls failed", texts.len()).into()),
        }
    }
}
