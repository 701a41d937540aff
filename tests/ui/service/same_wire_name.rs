#[tower_ipc::service]
trait Calc {
    async fn add(&self, a: i64, b: i64) -> i64;
    #[rpc(name = "add")]
    async fn plus(&self, a: i64, b: i64) -> i64;
}

fn main() {}
