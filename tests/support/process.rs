//! Servers and clients in child processes, for tests that kill them or
//! measure their memory: the test binary started again, running one ignored
//! test (`child`) that plays the part named in [`ROLE_ENV`].
//!
//! Unlike `tests/child.rs`, these children talk over endpoints, not over
//! their stdout, so libtest's banner there does no harm and the test files
//! keep the ordinary harness. A child exits when its stdin closes, so none
//! outlives a test binary that dies.

#[cfg(target_os = "linux")]
use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, Ordering},
};
use std::{process::Stdio, time::Duration};

use tokio::process::{Child, Command};
use tower_ipc::Endpoint;

/// Names the part a child plays; unset in the test process itself.
pub const ROLE_ENV: &str = "TOWER_IPC_TEST_ROLE";
/// The endpoint a child serves on or connects to.
pub const ENDPOINT_ENV: &str = "TOWER_IPC_TEST_ENDPOINT";
/// The name of the ignored test that runs a child's part.
pub const CHILD_TEST: &str = "child";

/// Long enough for a child to start and bind, under Wine too.
pub const CHILD_PATIENCE: Duration = Duration::from_secs(60);

/// Starts this test binary again as a child playing `role` with `endpoint`.
/// It is killed when the handle is dropped.
pub fn spawn(role: &str, endpoint: &Endpoint) -> Child {
    let exe = std::env::current_exe().expect("the test executable");
    Command::new(exe)
        .args([CHILD_TEST, "--exact", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(ROLE_ENV, role)
        .env(ENDPOINT_ENV, endpoint.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start a child")
}

/// In a child: the part to play and the endpoint, or `None` in the test
/// process itself (the `child` test then does nothing).
pub fn role() -> Option<(String, Endpoint)> {
    let role = std::env::var(ROLE_ENV).ok()?;
    let endpoint = std::env::var(ENDPOINT_ENV).expect("a child has an endpoint");
    Some((role, Endpoint::new(endpoint)))
}

/// In a child: runs `part` on a runtime of its own until it returns or
/// stdin closes (the test is over, or its process died).
pub fn run_child<F: Future<Output = ()>>(part: F) {
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(part);
}

/// The resident set size of process `pid`, from `/proc` (Linux only);
/// `None` once the process is gone.
#[cfg(target_os = "linux")]
pub fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Samples a process's resident set size every few milliseconds on a thread
/// of its own, keeping the peak (Linux only).
#[cfg(target_os = "linux")]
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[cfg(target_os = "linux")]
impl RssSampler {
    pub fn start(pid: u32) -> Self {
        let peak = Arc::new(AtomicU64::new(rss(pid).expect("the process is running")));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (peak, stop) = (peak.clone(), stop.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    // The process may be gone when the test is over.
                    let Some(now) = rss(pid) else { return };
                    peak.fetch_max(now, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        });
        Self {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    /// The highest resident set size seen so far.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

#[cfg(target_os = "linux")]
impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Bytes as MiB, for messages.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
