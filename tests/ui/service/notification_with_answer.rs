#[tower_ipc::service]
trait Log {
    #[rpc(notification)]
    async fn log(&self, line: String) -> bool;
}

fn main() {}
