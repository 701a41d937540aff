//! End-to-end benchmarks over real Unix sockets (named pipes on Windows),
//! server and client in separate processes: tower-ipc (length-prefixed
//! frames, JSON-RPC) against hand-written tokio baselines.
//!
//! ```text
//! cargo bench --bench e2e                           # W1-W4, 5 rounds
//! cargo bench --bench e2e -- --rounds 3 --workloads W1,W2
//! .ci/windows/cargo bench --bench e2e               # named pipes under Wine
//! ```
//!
//! The peers users would pick instead live in `benches/compare/` (a crate
//! of its own, so their dependencies stay out of this one); it runs these
//! same contenders beside them. See `benches/README.md`.

mod contenders;
mod harness;

fn main() {
    let transport = if cfg!(windows) {
        "Windows named pipes (under Wine when run from Linux: Wine's numbers, not Windows')"
    } else {
        "Unix domain sockets"
    };
    harness::main(&contenders::ALL, transport);
}
