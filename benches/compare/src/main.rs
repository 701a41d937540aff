//! tower-ipc side by side, in one run, with a hand-written tokio baseline
//! and the crates users would pick instead, over Unix sockets, server and
//! client in separate processes. See `../README.md`.
//!
//! ```text
//! cd benches/compare && cargo run --release            # everything, 5 rounds
//! cargo run --release -- --rounds 3 --workloads W1,W2 --only tower-ipc-jsonrpc,tarpc-json
//! ```

#[path = "../../e2e/contenders.rs"]
mod contenders;
#[path = "../../e2e/harness.rs"]
mod harness;
mod peers;

use harness::Contender;

static ALL: [&dyn Contender; 10] = [
    &contenders::BaselineFrames,
    &contenders::TowerIpcFrames,
    &contenders::OurServer(&contenders::TowerIpcFrames),
    &peers::Tarpc { json: false },
    &contenders::BaselineJson,
    &contenders::TowerIpcJsonRpc,
    &contenders::OurServer(&contenders::TowerIpcJsonRpc),
    &peers::ParityJsonRpc,
    &peers::ParityServerRawClient,
    &peers::Tarpc { json: true },
];

fn main() {
    harness::main(&ALL, "Unix domain sockets");
}
