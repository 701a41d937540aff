#[tower_ipc::service]
trait Ticks {
    #[rpc(subscription)]
    async fn ticks(&self, every_ms: u64) -> Vec<u64>;
}

fn main() {}
