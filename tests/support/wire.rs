//! A line-oriented view of a JSON-RPC connection: exact text in and out.

use std::time::Duration;

use futures::{SinkExt, StreamExt};

use serde_json::Value;
use tokio::time::timeout;
use tokio_util::codec::{Framed, LinesCodec};
use tower_ipc::{Endpoint, transport::IpcStream};

use super::PATIENCE;

/// Serves JSON-RPC with `service` on `endpoint` until the task is aborted.
pub async fn serve<S>(
    endpoint: &Endpoint,
    protocol: tower_ipc::jsonrpc::JsonRpc,
    service: S,
) -> tokio::task::JoinHandle<()>
where
    S: tower::Service<
            tower_ipc::jsonrpc::Call,
            Response = tower_ipc::jsonrpc::Response,
            Future: Send + 'static,
            Error: Into<tower::BoxError> + Send + 'static,
        > + Clone
        + Send
        + 'static,
{
    let listener = endpoint.bind().await.unwrap();
    tokio::spawn(async move {
        let _ = tower_ipc::serve(listener, protocol, service).await;
    })
}

/// A line-oriented view of a connection: every answer of the stream framing
/// ends with a newline.
pub struct Wire(pub Framed<IpcStream, LinesCodec>);

impl Wire {
    pub async fn connect(endpoint: &Endpoint) -> Self {
        Self(Framed::new(
            super::connect(endpoint).await,
            LinesCodec::new(),
        ))
    }

    pub async fn send(&mut self, text: &str) {
        self.0.send(text).await.unwrap();
    }

    pub async fn recv(&mut self) -> String {
        timeout(PATIENCE, self.0.next())
            .await
            .expect("no answer")
            .expect("connection closed")
            .unwrap()
    }

    pub async fn recv_json(&mut self) -> Value {
        serde_json::from_str(&self.recv().await).unwrap()
    }

    /// Whether anything arrives within a short while.
    pub async fn is_quiet(&mut self) -> bool {
        timeout(Duration::from_millis(150), self.0.next())
            .await
            .is_err()
    }

    /// Whether the server has closed the connection (after any answers
    /// still to read).
    pub async fn is_closed(&mut self) -> bool {
        matches!(
            timeout(PATIENCE, self.0.next()).await,
            Ok(None | Some(Err(_)))
        )
    }

    /// Writes raw bytes, without a line ending.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.0.get_mut().write_all(bytes).await.unwrap();
    }
}
