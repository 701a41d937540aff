#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Oops;

#[tower_ipc::service]
trait Calc {
    async fn div(&self, a: i64, b: i64) -> Result<i64, Oops>;
}

fn main() {}
