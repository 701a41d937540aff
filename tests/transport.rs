//! Endpoints and transports over real sockets and named pipes.

mod support;

use std::{io, time::Duration};

use futures::future::join_all;
use support::{PATIENCE, endpoint};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;
use tower_ipc::{
    Endpoint,
    transport::{BindOptions, ConnectOptions, IpcListener, IpcStream},
};

/// Accepts one connection, echoes one 4-byte message on it and returns.
async fn echo_once(listener: &mut IpcListener) {
    let (mut stream, _) = listener.accept().await.expect("accept");
    let mut buf = [0u8; 4];
    stream.read_exact(&mut buf).await.expect("read");
    stream.write_all(&buf).await.expect("write");
}

/// Echoes 4-byte messages on every connection, as a real server would.
#[cfg(unix)]
/// Connections that close without a message (a liveness probe) are skipped.
async fn echo_forever(mut listener: IpcListener) {
    loop {
        let (mut stream, _) = listener.accept().await.expect("accept");
        tokio::spawn(async move {
            let mut buf = [0u8; 4];
            if stream.read_exact(&mut buf).await.is_ok() {
                let _ = stream.write_all(&buf).await;
            }
        });
    }
}

async fn ping(endpoint: &Endpoint) {
    let mut stream = endpoint.connect().await.expect("connect");
    stream.write_all(b"ping").await.expect("write");
    let mut buf = [0u8; 4];
    stream.read_exact(&mut buf).await.expect("read");
    assert_eq!(&buf, b"ping");
}

#[tokio::test]
async fn bytes_travel_both_ways_over_a_local_endpoint() {
    let endpoint = endpoint("roundtrip");
    let mut listener = endpoint.bind().await.unwrap();
    let server = tokio::spawn(async move { echo_once(&mut listener).await });
    ping(&endpoint).await;
    server.await.unwrap();
}

#[tokio::test]
async fn accepted_connection_carries_the_peer_process_id() {
    let endpoint = endpoint("peer");
    let mut listener = endpoint.bind().await.unwrap();
    let _client = endpoint.connect().await.unwrap();
    let (_stream, peer) = listener.accept().await.unwrap();
    assert_eq!(peer.pid(), Some(std::process::id()), "peer: {peer}");
}

#[tokio::test]
async fn connecting_to_a_missing_endpoint_fails_at_once_and_names_it() {
    let endpoint = endpoint("missing");
    let err = endpoint.connect().await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    let message = err.to_string();
    assert!(message.contains(&endpoint.to_string()), "{message}");
    assert!(message.contains("no server is listening"), "{message}");
}

#[tokio::test]
async fn client_started_before_its_server_connects_once_the_server_is_up() {
    let endpoint = endpoint("early");
    let client = tokio::spawn({
        let endpoint = endpoint.clone();
        async move { endpoint.connect_timeout(PATIENCE).await }
    });
    // Give the client time to fail a few attempts first.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !client.is_finished(),
        "client gave up before the server came"
    );
    let mut listener = endpoint.bind().await.unwrap();
    let (accepted, connected) = tokio::join!(listener.accept(), client);
    accepted.expect("accept");
    connected
        .unwrap()
        .expect("client connects once the server is up");
}

#[tokio::test]
async fn connect_timeout_names_the_endpoint_and_how_long_it_waited() {
    let endpoint = endpoint("never");
    let wait = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let err = endpoint.connect_timeout(wait).await.unwrap_err();
    assert!(started.elapsed() >= wait, "gave up early");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    let message = err.to_string();
    assert!(message.contains(&endpoint.to_string()), "{message}");
    assert!(message.contains("within 3"), "{message}"); // "within 300.xms"
    assert!(message.contains("no server is listening"), "{message}");
}

#[tokio::test]
async fn tcp_endpoint_reports_the_bound_port_and_the_peer_address() {
    let mut listener = Endpoint::new("tcp://127.0.0.1:0").bind().await.unwrap();
    let endpoint = listener.endpoint().clone();
    assert!(!endpoint.to_string().ends_with(":0"), "{endpoint}");
    let client = tokio::spawn(async move { ping(&endpoint).await });
    let (mut stream, peer) = listener.accept().await.unwrap();
    assert!(
        peer.addr().is_some_and(|addr| addr.ip().is_loopback()),
        "{peer}"
    );
    let mut buf = [0u8; 4];
    stream.read_exact(&mut buf).await.unwrap();
    stream.write_all(&buf).await.unwrap();
    client.await.unwrap();
}

#[cfg(unix)]
mod unix {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[tokio::test]
    async fn portable_name_binds_a_socket_file_that_is_removed_on_drop() {
        let endpoint = endpoint("file");
        let path = endpoint.as_path().unwrap().to_owned();
        let listener = endpoint.bind().await.unwrap();
        assert!(std::fs::metadata(&path).unwrap().file_type().is_socket());
        drop(listener);
        assert!(!path.exists(), "socket file left behind");
    }

    #[tokio::test]
    async fn peer_credentials_are_the_callers_uid_and_gid() {
        let endpoint = endpoint("cred");
        let mut listener = endpoint.bind().await.unwrap();
        let _client = endpoint.connect().await.unwrap();
        let (_stream, peer) = listener.accept().await.unwrap();
        let me = std::fs::metadata("/proc/self").map(|m| {
            use std::os::unix::fs::MetadataExt;
            (m.uid(), m.gid())
        });
        if let Ok((uid, gid)) = me {
            assert_eq!(peer.uid(), Some(uid));
            assert_eq!(peer.gid(), Some(gid));
        }
        assert!(peer.uid().is_some() && peer.gid().is_some(), "{peer}");
    }

    #[tokio::test]
    async fn stale_socket_file_is_replaced() {
        let endpoint = endpoint("stale");
        let path = endpoint.as_path().unwrap().to_owned();
        // A socket file nobody listens on, as a crashed server leaves behind.
        let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
        drop(stale);
        assert!(path.exists());
        let mut listener = endpoint.bind().await.expect("stale socket replaced");
        let server = tokio::spawn(async move { echo_once(&mut listener).await });
        ping(&endpoint).await;
        server.await.unwrap();
    }

    #[tokio::test]
    async fn live_server_socket_is_never_taken() {
        let endpoint = endpoint("live");
        let first = endpoint.bind().await.unwrap();
        let server = tokio::spawn(echo_forever(first));
        let err = endpoint.bind().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        let message = err.to_string();
        assert!(message.contains(&endpoint.to_string()), "{message}");
        assert!(message.contains("running server"), "{message}");
        // The first server still owns the endpoint.
        ping(&endpoint).await;
        server.abort();
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_socket_is_never_replaced() {
        let endpoint = endpoint("regular");
        let path = endpoint.as_path().unwrap().to_owned();
        std::fs::write(&path, b"precious").unwrap();
        let err = endpoint.bind().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        assert!(err.to_string().contains("not a socket"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"precious");
        std::fs::remove_file(&path).unwrap();
    }

    #[tokio::test]
    async fn socket_path_over_the_platform_limit_is_refused_with_its_length() {
        let long = format!("/tmp/{}.sock", "x".repeat(200));
        let endpoint = Endpoint::new(&long);
        let err = endpoint.bind().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("{} bytes", long.len())),
            "{message}"
        );
        assert!(message.contains("limit"), "{message}");
        assert!(message.contains(&long), "{message}");
        let err = endpoint.connect().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn abstract_namespace_endpoint_works_and_leaves_no_file() {
        let name = format!("@tower-ipc-abstract-{}", std::process::id());
        let endpoint = Endpoint::new(&name);
        let mut listener = endpoint.bind().await.unwrap();
        let err = endpoint.bind().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        let server = tokio::spawn(async move { echo_once(&mut listener).await });
        ping(&endpoint).await;
        server.await.unwrap();
        assert!(!std::path::Path::new(&name).exists());
    }
}

#[cfg(windows)]
mod windows {
    use super::*;

    /// On Windows both guards apply: the existence check and the first
    /// instance flag. Wine ignores `FILE_FLAG_FIRST_PIPE_INSTANCE`, so under
    /// Wine this shows the existence check alone.
    #[tokio::test]
    async fn a_second_server_on_a_served_pipe_name_fails_instead_of_joining() {
        let endpoint = endpoint("first");
        let mut first = endpoint.bind().await.unwrap();
        let err = endpoint.bind().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        assert!(err.to_string().contains(&endpoint.to_string()), "{err}");
        assert!(err.to_string().contains("another server"), "{err}");
        // Clients still reach the first server.
        let server = tokio::spawn(async move { echo_once(&mut first).await });
        ping(&endpoint).await;
        server.await.unwrap();
    }
}

/// Echoes one 4-byte message on each of `clients` connections, then ends.
async fn serve_echoes(mut listener: IpcListener, clients: usize) {
    let mut served = Vec::new();
    for _ in 0..clients {
        let (mut stream, _) = listener.accept().await.unwrap();
        served.push(tokio::spawn(async move {
            let mut buf = [0u8; 4];
            stream.read_exact(&mut buf).await.unwrap();
            stream.write_all(&buf).await.unwrap();
        }));
    }
    join_all(served).await;
}

/// `clients` clients connect at the same moment with a single `connect()`
/// each, and each is answered.
async fn clients_connect_at_once(options: BindOptions, clients: usize) {
    let endpoint = endpoint("burst");
    let listener = endpoint.bind_with(&options).await.unwrap();
    let server = tokio::spawn(serve_echoes(listener, clients));
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(clients));
    let connecting = (0..clients).map(|i| {
        let endpoint = endpoint.clone();
        let barrier = barrier.clone();
        tokio::spawn(async move {
            barrier.wait().await;
            let mut stream = endpoint.connect().await?;
            let message = u32::try_from(i).unwrap().to_be_bytes();
            stream.write_all(&message).await?;
            let mut buf = [0u8; 4];
            stream.read_exact(&mut buf).await?;
            assert_eq!(buf, message);
            io::Result::Ok(())
        })
    });
    let results = timeout(PATIENCE, join_all(connecting))
        .await
        .expect("clients hung");
    for (i, result) in results.into_iter().enumerate() {
        let connected = result.unwrap();
        assert!(connected.is_ok(), "{options:?}: client {i}: {connected:?}");
    }
    timeout(PATIENCE, server)
        .await
        .expect("server hung")
        .unwrap();
}

/// On Windows the listener's backlog of pipe instances takes the first
/// clients at once; the others find every instance busy and wait (in
/// `connect`) for the ones the listener creates as it accepts.
#[tokio::test]
async fn fifty_clients_connecting_at_the_same_moment_all_succeed_and_are_served() {
    clients_connect_at_once(BindOptions::new(), 50).await;
}

/// With room for one waiting client, all but a few find the endpoint busy
/// (every pipe instance taken, or the socket's queue full) and wait it out.
#[tokio::test]
async fn fifty_clients_get_through_a_backlog_of_one() {
    clients_connect_at_once(BindOptions::new().backlog(1), 50).await;
}

/// Fills the endpoint's backlog of one with clients that are not accepted:
/// the next `connect` finds it busy. Returns the clients, which hold their
/// places.
async fn fill_a_backlog_of_one(endpoint: &Endpoint) -> Vec<IpcStream> {
    let mut held = Vec::new();
    // A Unix socket's queue takes one more than its backlog.
    for _ in 0..4 {
        match endpoint
            .connect_with(&ConnectOptions::new().timeout(Duration::ZERO))
            .await
        {
            Ok(stream) => held.push(stream),
            Err(err) => {
                assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
                assert!(!held.is_empty(), "{err}");
                return held;
            }
        }
    }
    panic!("a backlog of one took {} clients", held.len());
}

#[tokio::test(start_paused = true)]
async fn connect_waits_for_a_busy_endpoint_to_accept() {
    let endpoint = endpoint("busy");
    let mut listener = endpoint
        .bind_with(&BindOptions::new().backlog(1))
        .await
        .unwrap();
    let _held = fill_a_backlog_of_one(&endpoint).await;
    let started = tokio::time::Instant::now();
    let (connected, accepted) = tokio::join!(endpoint.connect(), async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        listener.accept().await
    });
    accepted.unwrap();
    connected.expect("connected once the server accepted");
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn connect_gives_up_on_an_endpoint_busy_for_five_seconds_and_says_so() {
    let endpoint = endpoint("busy-long");
    let _listener = endpoint
        .bind_with(&BindOptions::new().backlog(1))
        .await
        .unwrap();
    let _held = fill_a_backlog_of_one(&endpoint).await;
    let started = tokio::time::Instant::now();
    let err = endpoint.connect().await.unwrap_err();
    let waited = started.elapsed();
    assert!(
        (Duration::from_secs(5)..Duration::from_secs(6)).contains(&waited),
        "{waited:?}"
    );
    let message = err.to_string();
    assert!(message.contains(&endpoint.to_string()), "{message}");
    assert!(message.contains("for 5.0"), "{message}");
    #[cfg(windows)]
    {
        assert_eq!(err.raw_os_error(), None, "wrapped: {err:?}");
        assert!(
            message.contains("all pipe instances stayed busy"),
            "{message}"
        );
    }
    #[cfg(unix)]
    {
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "{err}");
        assert!(message.contains("stayed full"), "{message}");
    }
}

#[tokio::test]
async fn a_backlog_of_zero_is_refused_on_every_transport() {
    for endpoint in [endpoint("zero"), Endpoint::new("tcp://127.0.0.1:0")] {
        let err = endpoint
            .bind_with(&BindOptions::new().backlog(0))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("backlog of 0"), "{err}");
    }
}

#[tokio::test]
async fn a_tcp_listener_takes_a_backlog() {
    let endpoint = Endpoint::new("tcp://127.0.0.1:0");
    let mut listener = endpoint
        .bind_with(&BindOptions::new().backlog(8))
        .await
        .unwrap();
    let endpoint = listener.endpoint().clone();
    let client = tokio::spawn(async move { ping(&endpoint).await });
    echo_once(&mut listener).await;
    client.await.unwrap();
}

#[tokio::test]
async fn connect_timeout_accepts_an_unbounded_wait() {
    let endpoint = endpoint("forever");
    let mut listener = endpoint.bind().await.unwrap();
    let client = tokio::spawn({
        let endpoint = endpoint.clone();
        async move { endpoint.connect_timeout(Duration::MAX).await }
    });
    let (accepted, connected) = tokio::join!(listener.accept(), client);
    accepted.unwrap();
    connected.unwrap().unwrap();
}
