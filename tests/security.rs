//! Endpoint security and caller identity, over real sockets and pipes.
//!
//! On Linux the access control itself is tested: these tests run as root (as
//! CI does), and clients in child processes that drop to another uid show
//! what other users can and cannot do. Each such test runs its own binary
//! again (`--exact` its own name) with an environment variable that selects
//! the client's side: a copy of it in /tmp, so that the other user can run it
//! wherever the checkout is. Without root they say so and check nothing.
//!
//! Under Wine, which enforces little of Windows' access control, the tests
//! show that the security descriptor is built (the SDDL round trips through
//! the system, in the crate's unit tests) and applied (binding with every
//! option works and clients connect), and test the refusal logic of the
//! authorization layer directly, with the identity of real connections.

mod support;

use std::{
    io::{self, Write},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use support::{PATIENCE, echo, endpoint, framed};
use tokio::task::JoinHandle;
use tokio_test::assert_ready_ok;
use tower::{ServiceBuilder, service_fn};
use tower_ipc::{
    Endpoint, Server,
    codec::LengthPrefixed,
    server::authorize::{Authorize, AuthorizeLayer, PeerPolicy, Refused},
    transport::{IpcListener, PeerInfo},
};

/// What is logged at info level and above on this thread while it is alive.
/// Log lines written since `capture`, to one subscriber for the whole test
/// binary. (A subscriber per test, set with `set_default`, races with
/// tracing's per-callsite interest cache when tests run on parallel threads,
/// and sometimes misses events.) Tests read the lines that name their own
/// endpoint.
struct Logs {
    start: usize,
}

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    BUFFER.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = LogWriter(buffer.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("one subscriber per test binary");
        buffer
    })
}

impl Logs {
    fn capture() -> Self {
        Self {
            start: log_buffer().lock().unwrap().len(),
        }
    }

    /// The lines since `capture` that mention `endpoint`.
    fn about(&self, endpoint: &Endpoint) -> String {
        let name = endpoint.to_string();
        let buffer = log_buffer().lock().unwrap();
        String::from_utf8_lossy(&buffer[self.start..])
            .lines()
            .filter(|line| line.contains(&name))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Serves echo on `listener` to the peers `policy` allows. The count is the
/// connections that got a service.
fn serve_authorized(
    listener: IpcListener,
    policy: PeerPolicy,
) -> (
    Arc<AtomicUsize>,
    JoinHandle<io::Result<tower_ipc::server::Summary>>,
) {
    let served = Arc::new(AtomicUsize::new(0));
    let make = service_fn({
        let served = served.clone();
        move |_: PeerInfo| {
            served.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Ok::<_, io::Error>(echo()))
        }
    });
    let make = ServiceBuilder::new()
        .layer(AuthorizeLayer::new(policy))
        .service(make);
    let server = Server::new().serve_make(listener, LengthPrefixed::new(), make);
    (served, tokio::spawn(server.into_future()))
}

/// Sends one frame and waits for the answer; `None` when the connection is
/// closed instead (the write or the read fails, or the stream ends).
async fn exchange(endpoint: &Endpoint, frame: &'static str) -> Option<Bytes> {
    let mut framed = framed(endpoint).await;
    let answer = async {
        framed.send(Bytes::from(frame)).await.ok()?;
        framed.next().await?.ok()
    };
    tokio::time::timeout(PATIENCE, answer)
        .await
        .expect("neither answered nor closed")
}

#[tokio::test]
async fn allowed_peer_is_served() {
    let endpoint = endpoint("allowed");
    let listener = endpoint.bind().await.unwrap();
    let (served, server) = serve_authorized(listener, PeerPolicy::same_user());
    assert_eq!(
        exchange(&endpoint, "hello").await.as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!(served.load(Ordering::SeqCst), 1);
    server.abort();
}

#[tokio::test]
async fn refused_peer_is_closed_unserved_and_the_refusal_is_logged_with_its_identity() {
    let logs = Logs::capture();
    let endpoint = endpoint("refused");
    let listener = endpoint.bind().await.unwrap();
    let nobody = PeerPolicy::predicate(|_| false);
    let (served, server) = serve_authorized(listener, nobody);
    assert_eq!(exchange(&endpoint, "hello").await, None, "answered");
    assert_eq!(served.load(Ordering::SeqCst), 0, "a service was made");
    let logs = logs.about(&endpoint);
    assert!(logs.contains("WARN"), "{logs}");
    assert!(
        logs.contains("refused by the authorization policy"),
        "{logs}"
    );
    assert!(logs.contains(&endpoint.to_string()), "{logs}");
    assert!(
        logs.contains(&format!("pid={}", std::process::id())),
        "{logs}"
    );
    #[cfg(unix)]
    assert!(logs.contains("uid=") && logs.contains("gid="), "{logs}");
    server.abort();
}

#[tokio::test]
async fn predicate_sees_the_peer_info_of_the_connection() {
    let endpoint = endpoint("predicate");
    let listener = endpoint.bind().await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let policy = PeerPolicy::predicate({
        let seen = seen.clone();
        move |peer| {
            seen.lock().unwrap().push(peer.clone());
            true
        }
    });
    let make = Authorize::shared(echo(), policy);
    let server = tokio::spawn(
        Server::new()
            .serve_make(listener, LengthPrefixed::new(), make)
            .into_future(),
    );
    assert_eq!(exchange(&endpoint, "hi").await.as_deref(), Some(&b"hi"[..]));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].pid(), Some(std::process::id()), "{}", seen[0]);
    #[cfg(unix)]
    assert!(
        seen[0].uid().is_some() && seen[0].gid().is_some(),
        "{}",
        seen[0]
    );
    server.abort();
}

#[tokio::test]
async fn refused_peer_never_reaches_the_inner_make_service() {
    let policy = PeerPolicy::predicate(|peer| peer.pid() == Some(1));
    let (mut make, mut handle) =
        tower_test::mock::spawn_layer::<PeerInfo, &'static str, _>(AuthorizeLayer::new(policy));

    assert_ready_ok!(make.poll_ready());
    let err = make.call(PeerInfo::new().with_pid(2)).await.unwrap_err();
    let refused = err.downcast_ref::<Refused>().expect("a Refused error");
    assert_eq!(refused.peer().pid(), Some(2));
    assert!(refused.to_string().contains("pid=2"), "{refused}");

    assert_ready_ok!(make.poll_ready());
    let allowed = make.call(PeerInfo::new().with_pid(1));
    let (peer, respond) = handle.next_request().await.expect("the allowed peer");
    assert_eq!(
        peer.pid(),
        Some(1),
        "the refused peer reached the inner service"
    );
    respond.send_response("a service");
    assert_eq!(allowed.await.unwrap(), "a service");
}

#[tokio::test]
async fn readiness_is_the_inner_make_services() {
    let (mut make, mut handle) = tower_test::mock::spawn_layer::<PeerInfo, (), _>(
        AuthorizeLayer::new(PeerPolicy::predicate(|_| true)),
    );
    handle.allow(0);
    assert!(make.poll_ready().is_pending());
    handle.allow(1);
    assert_ready_ok!(make.poll_ready());
}

#[cfg(unix)]
#[test]
fn uid_and_gid_policies_match_the_kernels_identity_and_refuse_the_unknown() {
    let peer = PeerInfo::new().with_pid(9).with_uid(1000).with_gid(100);
    assert!(PeerPolicy::uids([0, 1000]).allows(&peer));
    assert!(!PeerPolicy::uids([0]).allows(&peer));
    assert!(PeerPolicy::gids([100]).allows(&peer));
    assert!(!PeerPolicy::gids([1000]).allows(&peer));
    let unknown = PeerInfo::new().with_pid(9);
    for policy in [
        PeerPolicy::same_user(),
        PeerPolicy::uids([0, 1000]),
        PeerPolicy::gids([0, 100]),
    ] {
        assert!(
            !policy.allows(&unknown),
            "{policy:?} allowed an unknown peer"
        );
    }
    assert!(format!("{:?}", PeerPolicy::uids([7])).contains("uids [7]"));
}

#[tokio::test]
async fn same_user_policy_allows_this_process_and_refuses_other_users() {
    let endpoint = endpoint("same-user");
    let mut listener = endpoint.bind().await.unwrap();
    let _client = endpoint.connect().await.unwrap();
    let (_stream, me) = listener.accept().await.unwrap();
    let policy = PeerPolicy::same_user();
    assert!(policy.allows(&me), "{policy:?} refused {me}");
    #[cfg(unix)]
    let other = PeerInfo::new()
        .with_pid(1)
        .with_uid(me.uid().unwrap() + 1)
        .with_gid(me.gid().unwrap());
    // Under Wine every process runs as the one user; another SID stands in.
    #[cfg(windows)]
    let other = {
        let sid = me.user_sid().expect("the client's user SID");
        assert!(sid.starts_with("S-1-"), "{sid}");
        assert_ne!(sid, "S-1-5-18");
        PeerInfo::new().with_pid(4).with_user_sid("S-1-5-18")
    };
    assert!(!policy.allows(&other), "{policy:?} allowed {other}");
    assert!(!policy.allows(&PeerInfo::new().with_pid(me.pid().unwrap())));
}

#[tokio::test]
async fn restricting_options_are_refused_on_tcp() {
    #[cfg(unix)]
    let options = tower_ipc::transport::BindOptions::new().mode(0o600);
    #[cfg(windows)]
    let options = tower_ipc::transport::BindOptions::new().sddl("D:P(A;;GA;;;SY)");
    let endpoint = Endpoint::new("tcp://127.0.0.1:0");
    let err = endpoint.bind_with(&options).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("tcp://127.0.0.1:0"), "{err}");
    assert!(err.to_string().contains("no access control"), "{err}");
}

#[cfg(target_os = "linux")]
mod linux {
    use super::*;
    use std::{
        os::unix::fs::{FileTypeExt, MetadataExt},
        path::{Path, PathBuf},
        process::Output,
    };
    use tower_ipc::transport::BindOptions;

    /// The variable that makes a test run its client side, with the socket's
    /// path as its value.
    const CLIENT_ENV: &str = "TOWER_IPC_SECURITY_CLIENT";
    /// What a client side prints when it has checked everything.
    const CLIENT_DONE: &str = "security-client: done";
    const NOBODY: u32 = 65534;
    /// A group nobody is in, for the group tests.
    const GROUP: u32 = 4242;

    fn is_root() -> bool {
        std::fs::metadata("/proc/self").is_ok_and(|me| me.uid() == 0)
    }

    /// The socket path the parent passed to this client side, if this is one.
    fn client_side() -> Option<Endpoint> {
        std::env::var_os(CLIENT_ENV).map(|path| Endpoint::from(PathBuf::from(path)))
    }

    /// A socket path in /tmp, which every user may search (`$XDG_RUNTIME_DIR`
    /// may not be).
    fn tmp_endpoint(tag: &str) -> Endpoint {
        let path = support::endpoint(tag).to_string();
        let name = Path::new(&path).file_name().unwrap().to_owned();
        Endpoint::from(Path::new("/tmp").join(name))
    }

    /// A fresh directory in /tmp, for tests that list what a bind leaves.
    fn tmp_dir(tag: &str) -> PathBuf {
        let path = tmp_endpoint(tag).to_string();
        let dir = PathBuf::from(path.trim_end_matches(".sock"));
        std::fs::create_dir(&dir).unwrap();
        dir
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A copy of this test binary that other users can run, in a directory
    /// of its own in /tmp (which every user may search); removed on drop.
    ///
    /// The binary itself may be out of their reach: a checkout in a
    /// private directory (made by `mktemp -d`, or under a `0700` home)
    /// keeps its build output there.
    struct ReachableCopy {
        dir: PathBuf,
        exe: PathBuf,
    }

    impl ReachableCopy {
        fn new() -> Self {
            use std::os::unix::fs::PermissionsExt;
            let dir = tmp_dir("client-exe");
            let exe = dir.join("security-client");
            let made = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
                .and_then(|()| std::fs::copy(std::env::current_exe()?, &exe))
                .and_then(|_| {
                    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755))
                });
            if let Err(err) = made {
                let _ = std::fs::remove_dir_all(&dir);
                panic!(
                    "cannot run clients as another user on this machine: copying this test \
                     binary to {} for them failed: {err}",
                    exe.display()
                );
            }
            Self { dir, exe }
        }
    }

    impl Drop for ReachableCopy {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// Runs `test`'s client side in a child process as `uid`:`gid` and
    /// checks that it ran and passed.
    async fn run_client_as(test: &str, endpoint: &Endpoint, uid: u32, gid: u32) {
        let copy = ReachableCopy::new();
        // A copy just written cannot be run while a child forked by another
        // test in the meantime still holds it open for writing (it closes
        // it when it execs): `ETXTBSY`, for a moment.
        let mut attempts = 0;
        let output: Output = loop {
            let started = tokio::process::Command::new(&copy.exe)
                .args(["--exact", test, "--nocapture", "--test-threads=1"])
                .env(CLIENT_ENV, endpoint.as_path().unwrap())
                .current_dir(&copy.dir)
                .uid(uid)
                .gid(gid)
                .kill_on_drop(true)
                .output()
                .await;
            match started {
                Err(err) if err.raw_os_error() == Some(26) && attempts < 50 => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(err) => panic!(
                    "cannot run clients as another user on this machine: starting {} as \
                     {uid}:{gid} failed: {err} (is /tmp mounted noexec?)",
                    copy.exe.display()
                ),
                Ok(output) => break output,
            }
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stdout.contains(CLIENT_DONE),
            "client {test} as {uid}:{gid} failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
            output.status
        );
    }

    macro_rules! skip_unless_root {
        () => {
            if !is_root() {
                eprintln!("skipped: needs root to run clients as another user");
                return;
            }
        };
    }

    #[tokio::test]
    async fn other_user_cannot_connect_to_a_default_socket() {
        if let Some(endpoint) = client_side() {
            let err = endpoint.connect().await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
            println!("{CLIENT_DONE}");
            return;
        }
        skip_unless_root!();
        let endpoint = tmp_endpoint("default-mode");
        let listener = endpoint.bind().await.unwrap();
        let (served, server) = serve_authorized(listener, PeerPolicy::predicate(|_| true));
        run_client_as(
            "linux::other_user_cannot_connect_to_a_default_socket",
            &endpoint,
            NOBODY,
            NOBODY,
        )
        .await;
        assert_eq!(served.load(Ordering::SeqCst), 0);
        // The owner still can.
        assert!(exchange(&endpoint, "mine").await.is_some());
        server.abort();
    }

    #[tokio::test]
    async fn other_user_let_in_by_the_mode_is_refused_by_the_same_user_policy() {
        if let Some(endpoint) = client_side() {
            // The mode lets this user connect ...
            let stream = endpoint
                .connect()
                .await
                .expect("the mode allows connecting");
            drop(stream);
            // ... and the server closes the connection unanswered.
            assert_eq!(exchange(&endpoint, "let me in").await, None, "answered");
            println!("{CLIENT_DONE}");
            return;
        }
        skip_unless_root!();
        let logs = Logs::capture();
        let endpoint = tmp_endpoint("open-mode");
        let listener = endpoint
            .bind_with(&BindOptions::new().mode(0o666))
            .await
            .unwrap();
        let (served, server) = serve_authorized(listener, PeerPolicy::same_user());
        run_client_as(
            "linux::other_user_let_in_by_the_mode_is_refused_by_the_same_user_policy",
            &endpoint,
            NOBODY,
            NOBODY,
        )
        .await;
        assert_eq!(served.load(Ordering::SeqCst), 0, "nobody was served");
        let logs = logs.about(&endpoint);
        assert!(
            logs.contains("refused by the authorization policy"),
            "{logs}"
        );
        assert!(logs.contains(&format!("uid={NOBODY}")), "{logs}");
        assert!(logs.contains(&format!("gid={NOBODY}")), "{logs}");
        // The same user is served.
        assert!(exchange(&endpoint, "mine").await.is_some());
        assert_eq!(served.load(Ordering::SeqCst), 1);
        server.abort();
    }

    #[tokio::test]
    async fn group_members_connect_and_others_cannot() {
        if let Some(endpoint) = client_side() {
            // `GROUP` is this process's group exactly when it should get in.
            let member = std::fs::metadata("/proc/self").unwrap().gid() == GROUP;
            if member {
                let answer = exchange(&endpoint, "member").await;
                assert_eq!(answer.as_deref(), Some(&b"member"[..]));
            } else {
                let err = endpoint.connect().await.unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
            }
            println!("{CLIENT_DONE}");
            return;
        }
        skip_unless_root!();
        let endpoint = tmp_endpoint("group");
        let listener = endpoint
            .bind_with(&BindOptions::new().group(GROUP))
            .await
            .unwrap();
        let meta = std::fs::metadata(endpoint.as_path().unwrap()).unwrap();
        assert_eq!(meta.gid(), GROUP);
        assert_eq!(meta.mode() & 0o777, 0o660);
        let (served, server) = serve_authorized(listener, PeerPolicy::gids([GROUP]));
        let test = "linux::group_members_connect_and_others_cannot";
        run_client_as(test, &endpoint, NOBODY, GROUP).await;
        run_client_as(test, &endpoint, NOBODY, NOBODY).await;
        assert_eq!(served.load(Ordering::SeqCst), 1, "the member was served");
        server.abort();
    }

    #[tokio::test]
    async fn a_group_the_server_may_not_use_is_a_clear_error() {
        if let Some(endpoint) = client_side() {
            let err = endpoint
                .bind_with(&BindOptions::new().group(GROUP))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
            let message = err.to_string();
            assert!(message.contains(&endpoint.to_string()), "{message}");
            assert!(message.contains(&format!("group {GROUP}")), "{message}");
            assert!(!endpoint.as_path().unwrap().exists(), "a socket was left");
            println!("{CLIENT_DONE}");
            return;
        }
        skip_unless_root!();
        let endpoint = tmp_endpoint("foreign-group");
        run_client_as(
            "linux::a_group_the_server_may_not_use_is_a_clear_error",
            &endpoint,
            NOBODY,
            NOBODY,
        )
        .await;
    }

    #[tokio::test]
    async fn squatter_of_another_user_cannot_take_a_live_endpoint() {
        if let Some(endpoint) = client_side() {
            let err = endpoint
                .bind_with(&BindOptions::new().allow_local_users())
                .await
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
            assert!(err.to_string().contains(&endpoint.to_string()), "{err}");
            println!("{CLIENT_DONE}");
            return;
        }
        skip_unless_root!();
        let endpoint = tmp_endpoint("squat");
        let path = endpoint.as_path().unwrap().to_owned();
        let listener = endpoint.bind().await.unwrap();
        let inode = std::fs::metadata(&path).unwrap().ino();
        let (_, server) = serve_authorized(listener, PeerPolicy::same_user());
        run_client_as(
            "linux::squatter_of_another_user_cannot_take_a_live_endpoint",
            &endpoint,
            NOBODY,
            NOBODY,
        )
        .await;
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode, "replaced");
        assert!(exchange(&endpoint, "still mine").await.is_some());
        server.abort();
    }

    #[tokio::test]
    async fn squatter_of_the_same_user_cannot_take_a_live_endpoint_either() {
        let endpoint = tmp_endpoint("squat-same");
        let listener = endpoint.bind().await.unwrap();
        let (_, server) = serve_authorized(listener, PeerPolicy::same_user());
        let err = endpoint
            .bind_with(&BindOptions::new().allow_local_users())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        assert!(err.to_string().contains("running server"), "{err}");
        assert!(exchange(&endpoint, "still mine").await.is_some());
        server.abort();
    }

    /// Each server links its socket into place only if the path is free, so
    /// of two starting at once one wins and the other finds it live.
    #[test]
    fn of_two_servers_binding_at_once_one_wins_and_the_other_is_refused() {
        let endpoint = tmp_endpoint("race");
        let barrier = std::sync::Barrier::new(2);
        let results: Vec<io::Result<IpcListener>> = std::thread::scope(|scope| {
            let bind = || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                barrier.wait();
                runtime.block_on(endpoint.bind())
            };
            let first = scope.spawn(bind);
            let second = scope.spawn(bind);
            vec![first.join().unwrap(), second.join().unwrap()]
        });
        let (won, lost): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
        assert_eq!((won.len(), lost.len()), (1, 1), "{lost:?}");
        let err = lost.into_iter().next().unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        assert!(endpoint.as_path().unwrap().exists());
    }

    /// The socket is never reachable through a wider mode: it appears at its
    /// path with its final mode (it was bound and chmod-ed in a private
    /// directory, which is gone by then).
    #[tokio::test]
    async fn socket_appears_with_its_final_mode_and_leaves_no_staging_behind() {
        let dir = tmp_dir("modes");
        for (options, mode) in [
            (BindOptions::new(), 0o600),
            (BindOptions::new().allow_local_users(), 0o666),
            (BindOptions::new().mode(0o640), 0o640),
        ] {
            let path = dir.join("app.sock");
            let listener = Endpoint::from(path.as_path())
                .bind_with(&options)
                .await
                .unwrap();
            assert_eq!(entries(&dir), ["app.sock"], "{options:?}");
            let meta = std::fs::symlink_metadata(&path).unwrap();
            assert!(meta.file_type().is_socket());
            assert_eq!(meta.mode() & 0o7777, mode, "{options:?}: {:o}", meta.mode());
            drop(listener);
            assert!(entries(&dir).is_empty(), "not removed on drop");
        }
        std::fs::remove_dir(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_failed_bind_leaves_no_staging_behind() {
        let dir = tmp_dir("failed");
        let path = dir.join("app.sock");
        std::fs::write(&path, b"precious").unwrap();
        let err = Endpoint::from(path.as_path()).bind().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        assert_eq!(entries(&dir), ["app.sock"]);
        assert_eq!(std::fs::read(&path).unwrap(), b"precious");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn an_abstract_socket_refuses_a_mode_it_cannot_have() {
        let endpoint = Endpoint::new(format!("@tower-ipc-abstract-mode-{}", std::process::id()));
        let err = endpoint
            .bind_with(&BindOptions::new().mode(0o600))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        let message = err.to_string();
        assert!(message.contains(&endpoint.to_string()), "{message}");
        assert!(
            message.contains("an abstract socket has no access control"),
            "{message}"
        );
        // Opening it to local users is what it is anyway.
        let listener = endpoint
            .bind_with(&BindOptions::new().allow_local_users())
            .await;
        assert!(listener.is_ok(), "{listener:?}");
    }
}

#[cfg(windows)]
mod windows {
    use super::*;
    use tower_ipc::transport::BindOptions;

    /// Wine does not check the descriptor when a client connects, so this
    /// shows that each descriptor is accepted by the system for the first
    /// instance and the later ones, and that clients open the pipe with the
    /// access the descriptors grant.
    #[tokio::test]
    async fn binding_with_each_option_works_and_clients_connect() {
        for options in [
            BindOptions::new(),
            BindOptions::new().allow_local_users(),
            BindOptions::new().sddl("D:P(A;;GA;;;SY)(A;;GA;;;WD)"),
        ] {
            let endpoint = endpoint("options");
            let listener = endpoint.bind_with(&options).await.unwrap();
            let (served, server) = serve_authorized(listener, PeerPolicy::same_user());
            // Twice: the second client gets an instance created later.
            for _ in 0..2 {
                let answer = exchange(&endpoint, "ping").await;
                assert_eq!(answer.as_deref(), Some(&b"ping"[..]), "{options:?}");
            }
            assert_eq!(served.load(Ordering::SeqCst), 2, "{options:?}");
            server.abort();
        }
    }

    #[tokio::test]
    async fn an_invalid_sddl_is_refused_with_an_error_naming_the_endpoint() {
        let endpoint = endpoint("bad-sddl");
        let err = endpoint
            .bind_with(&BindOptions::new().sddl("D:(A;;GA;;;no such trustee)"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        let message = err.to_string();
        assert!(message.contains(&endpoint.to_string()), "{message}");
        assert!(
            message.contains("invalid security descriptor (SDDL)"),
            "{message}"
        );
        assert!(message.contains("no such trustee"), "{message}");
        // Nothing was created: the name is free.
        endpoint.bind().await.expect("the name is still free");
    }

    /// Wine ignores `FILE_FLAG_FIRST_PIPE_INSTANCE`; the existence check
    /// refuses the second server here.
    #[tokio::test]
    async fn a_second_server_fails_whatever_its_options() {
        let endpoint = endpoint("second");
        let listener = endpoint.bind().await.unwrap();
        let (_, server) = serve_authorized(listener, PeerPolicy::same_user());
        let err = endpoint
            .bind_with(&BindOptions::new().allow_local_users())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        assert!(err.to_string().contains("another server"), "{err}");
        assert!(exchange(&endpoint, "still mine").await.is_some());
        server.abort();
    }
}
