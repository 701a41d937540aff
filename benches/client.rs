//! The clients alone: a fixed number of requests through tower-ipc's
//! `Client` or `JsonRpcClient`, or through the hand-written loop of the
//! end-to-end baselines, against a tower-ipc server on the other end of a
//! Unix socket pair.
//!
//! ```text
//! cargo bench --bench client -- frames ours --requests 100000 --in-flight 128
//! ```
//!
//! The client runs on the main thread (a current-thread runtime, as in the
//! end-to-end client process), the server on a second thread, so that
//! callgrind with `--separate-threads=yes` counts the client's instructions
//! apart; the difference between two request counts, divided, is the cost
//! of one request. See `benches/README.md`.

#[cfg(unix)]
mod bench {
    use std::{
        convert::Infallible,
        io,
        sync::atomic::{AtomicUsize, Ordering},
        time::Instant,
    };

    use bytes::Bytes;
    use futures::{FutureExt, SinkExt, StreamExt};
    use tokio::net::UnixStream;
    use tokio_util::codec::{Framed, LengthDelimitedCodec, LinesCodec};
    use tower::{Service, ServiceExt, service_fn};
    use tower_ipc::{
        Client, Server,
        codec::LengthPrefixed,
        jsonrpc::{ErrorObject, JsonRpc, JsonRpcClient, Router},
    };

    const PAYLOAD: &str = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_";

    struct Args {
        json: bool,
        ours: bool,
        requests: usize,
        in_flight: usize,
    }

    fn args() -> Args {
        let mut args = Args {
            json: false,
            ours: true,
            requests: 100_000,
            in_flight: 128,
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            let mut number = || {
                it.next()
                    .and_then(|n| n.parse().ok())
                    .expect("a number after the option")
            };
            match arg.as_str() {
                "frames" => args.json = false,
                "jsonrpc" => args.json = true,
                "ours" => args.ours = true,
                "raw" => args.ours = false,
                "--requests" => args.requests = number(),
                "--in-flight" => args.in_flight = number(),
                // cargo bench passes --bench.
                _ => {}
            }
        }
        args
    }

    pub(crate) fn main() {
        let args = args();
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socket pair");
        ours.set_nonblocking(true).expect("non-blocking");
        theirs.set_nonblocking(true).expect("non-blocking");
        let json = args.json;
        std::thread::spawn(move || serve(theirs, json));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let start = Instant::now();
        runtime
            .block_on(async {
                let stream = UnixStream::from_std(ours)?;
                match (args.json, args.ours) {
                    (false, true) => our_frames(stream, &args).await,
                    (false, false) => raw_frames(stream, &args).await,
                    (true, true) => our_json(stream, &args).await,
                    (true, false) => raw_json(stream, &args).await,
                }
            })
            .expect("client");
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{} requests in {secs:.3} s: {:.0}/s",
            args.requests,
            args.requests as f64 / secs
        );
    }

    fn serve(stream: std::os::unix::net::UnixStream, json: bool) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let _ = runtime.block_on(async {
            let stream = UnixStream::from_std(stream)?;
            let served: std::io::Result<()> = if json {
                let router = Router::new().method("echo", |(text,): (String,)| async move {
                    Ok::<_, ErrorObject>(text)
                });
                Server::new()
                    .serve_connection(stream, JsonRpc::new(), router)
                    .await
                    .map_err(Into::into)
            } else {
                let echo = service_fn(|frame: Bytes| async move { Ok::<_, Infallible>(frame) });
                Server::new()
                    .serve_connection(stream, LengthPrefixed::new(), echo)
                    .await
                    .map_err(Into::into)
            };
            served
        });
    }

    /// Runs `in_flight` loops of calls, each with its own clone of `client`
    /// (as the end-to-end harness drives a client), until `requests` calls
    /// have been made.
    async fn lanes<C, F, Fut>(args: &Args, client: C, call: F) -> io::Result<()>
    where
        C: Clone,
        F: Fn(C) -> Fut,
        Fut: Future<Output = io::Result<C>>,
    {
        let started = &AtomicUsize::new(0);
        let call = &call;
        futures::future::try_join_all((0..args.in_flight).map(|_| {
            let mut client = client.clone();
            async move {
                while started.fetch_add(1, Ordering::Relaxed) < args.requests {
                    client = call(client).await?;
                }
                Ok::<_, io::Error>(())
            }
        }))
        .await
        .map(drop)
    }

    async fn our_frames(stream: UnixStream, args: &Args) -> io::Result<()> {
        let client = Client::new(Framed::new(stream, LengthPrefixed::new()));
        lanes(args, client, |mut client| async move {
            let answer = client
                .ready()
                .await
                .map_err(io::Error::other)?
                .call(Bytes::from_static(PAYLOAD.as_bytes()))
                .await
                .map_err(io::Error::other)?;
            assert_eq!(answer.len(), PAYLOAD.len());
            Ok(client)
        })
        .await
    }

    async fn our_json(stream: UnixStream, args: &Args) -> io::Result<()> {
        let client = JsonRpcClient::new(stream);
        lanes(args, client, |client| async move {
            let answer: String = client
                .call("echo", (PAYLOAD,))
                .await
                .map_err(io::Error::other)?;
            assert_eq!(answer.len(), PAYLOAD.len());
            Ok(client)
        })
        .await
    }

    /// The hand-written client of the end-to-end baseline: one task writes
    /// up to the window, flushes, and reads what has arrived.
    async fn raw_frames(stream: UnixStream, args: &Args) -> io::Result<()> {
        let mut framed = Framed::new(stream, LengthDelimitedCodec::new());
        let (mut sent, mut answered) = (0, 0);
        while answered < args.requests {
            while sent - answered < args.in_flight && sent < args.requests {
                framed.feed(Bytes::from_static(PAYLOAD.as_bytes())).await?;
                sent += 1;
            }
            SinkExt::<Bytes>::flush(&mut framed).await?;
            let frame = framed.next().await.ok_or_else(closed)??;
            assert_eq!(frame.len(), PAYLOAD.len());
            answered += 1;
            while answered < sent {
                let Some(Some(frame)) = framed.next().now_or_never() else {
                    break;
                };
                assert_eq!(frame?.len(), PAYLOAD.len());
                answered += 1;
            }
        }
        Ok(())
    }

    #[derive(serde::Serialize)]
    struct RpcCall<'a> {
        jsonrpc: &'static str,
        id: u64,
        method: &'a str,
        params: (&'a str,),
    }

    #[derive(serde::Deserialize)]
    struct RpcAnswer {
        #[allow(dead_code)]
        id: u64,
        result: String,
    }

    /// The hand-written newline-delimited serde_json client of the
    /// end-to-end baseline.
    async fn raw_json(stream: UnixStream, args: &Args) -> io::Result<()> {
        let mut framed = Framed::new(stream, LinesCodec::new());
        let (mut sent, mut answered) = (0, 0);
        let check = |line: Result<String, _>| -> io::Result<()> {
            let answer: RpcAnswer = serde_json::from_str(&line.map_err(io::Error::other)?)?;
            assert_eq!(answer.result.len(), PAYLOAD.len());
            Ok(())
        };
        while answered < args.requests {
            while sent - answered < args.in_flight && sent < args.requests {
                let request = serde_json::to_string(&RpcCall {
                    jsonrpc: "2.0",
                    id: sent as u64 + 1,
                    method: "echo",
                    params: (PAYLOAD,),
                })?;
                framed.feed(request).await.map_err(io::Error::other)?;
                sent += 1;
            }
            SinkExt::<String>::flush(&mut framed)
                .await
                .map_err(io::Error::other)?;
            check(framed.next().await.ok_or_else(closed)?)?;
            answered += 1;
            while answered < sent {
                let Some(Some(line)) = framed.next().now_or_never() else {
                    break;
                };
                check(line)?;
                answered += 1;
            }
        }
        Ok(())
    }

    fn closed() -> io::Error {
        io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed")
    }
}

fn main() {
    #[cfg(unix)]
    bench::main();
    #[cfg(not(unix))]
    eprintln!("the client benchmark runs over Unix socket pairs only");
}
