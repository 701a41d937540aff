//! What the tool's tests share with the crate's (`tests/support/` there):
//! endpoints of their own, connecting, the Windows C peers.
#![allow(dead_code, unreachable_pub)]

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use tower_ipc::{Endpoint, transport::IpcStream};

/// Long enough for anything that should happen on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(10);

/// An endpoint no other test (or test process) uses.
pub fn endpoint(tag: &str) -> Endpoint {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Endpoint::new(format!("tower-ipc-{tag}-{}-{n}", std::process::id()))
}

/// Connects to `endpoint`, waiting for it if needed.
pub async fn connect(endpoint: &Endpoint) -> IpcStream {
    endpoint.connect_timeout(PATIENCE).await.expect("connect")
}

/// A C program the Windows tests run, from `.ci/windows/peers/NAME.c`:
/// `.ci/windows/cargo` builds them and names their directory in
/// `TOWER_IPC_WINDOWS_PEERS`.
#[cfg(windows)]
pub fn windows_peer(name: &str) -> std::path::PathBuf {
    const VAR: &str = "TOWER_IPC_WINDOWS_PEERS";
    let dir = std::env::var_os(VAR).unwrap_or_else(|| {
        panic!(
            "{VAR} is not set: run the Windows tests with .ci/windows/cargo test, which builds \
             the C peers in .ci/windows/peers/ and sets it"
        )
    });
    let exe = std::path::Path::new(&dir).join(format!("{name}.exe"));
    assert!(
        exe.exists(),
        "{} is missing: .ci/windows/cargo builds it from .ci/windows/peers/{name}.c",
        exe.display()
    );
    exe
}
