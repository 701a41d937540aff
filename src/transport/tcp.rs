//! TCP, for peers on other machines.

use std::io;

use tokio::net::{TcpListener, TcpSocket, TcpStream};

use super::{Endpoint, Listener, PeerInfo};

/// Listens on `addr` (`host:port`) with `backlog`, or tokio's default one.
pub(crate) async fn bind(addr: &str, backlog: Option<u32>) -> io::Result<TcpListener> {
    let Some(backlog) = backlog else {
        return TcpListener::bind(addr).await;
    };
    // As `TcpListener::bind`: the first address that can be bound.
    let mut last = None;
    for addr in tokio::net::lookup_host(addr).await? {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        // What tokio's own bind does on Unix: rebind at once after a restart.
        // (On Windows it would let others take over a port in use.)
        #[cfg(unix)]
        socket.set_reuseaddr(true)?;
        match socket.bind(addr).and_then(|()| socket.listen(backlog)) {
            Ok(listener) => return Ok(listener),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to no addresses",
        )
    }))
}

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
