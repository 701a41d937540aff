#[tower_ipc::service]
trait Store<T> {
    async fn get(&self, key: String) -> Option<T>;
}

fn main() {}
