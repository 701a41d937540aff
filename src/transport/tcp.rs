//! TCP, for peers on other machines.

use std::io;

use tokio::net::{TcpListener, TcpStream};

use super::{Listener, PeerInfo};
use crate::Endpoint;

/// Request/response traffic is latency-bound: send small frames at once.
pub(crate) fn configure(stream: &TcpStream) {
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(error = %err, "cannot set TCP_NODELAY");
    }
}

impl Listener for TcpListener {
    type Io = TcpStream;

    async fn accept(&mut self) -> io::Result<(TcpStream, PeerInfo)> {
        let (stream, addr) = TcpListener::accept(self).await?;
        configure(&stream);
        Ok((stream, PeerInfo::new().with_addr(addr)))
    }

    fn local_endpoint(&self) -> io::Result<Endpoint> {
        Ok(Endpoint::tcp(self.local_addr()?.to_string()))
    }
}
