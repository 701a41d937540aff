use std::{fmt, net::SocketAddr};

use bytes::Bytes;

/// Who is on the other side of a connection, as far as the transport can tell.
///
/// | transport | known |
/// |---|---|
/// | Unix domain socket | uid, gid, and the pid where the OS reports it |
/// | named pipe (server side) | the client's process id, and its user's SID where this process may look |
/// | TCP | the peer's address |
/// | TLS on TCP (feature `tls`) | the peer's address, and its certificate if it presented one |
///
/// Identity comes from the operating system, not from the peer, so it can be
/// used to authorize callers (see [`server::authorize`](crate::server::authorize)).
///
/// On Unix the kernel records the peer's effective uid and gid when it
/// connects; the gid is its primary group, not its supplementary groups. On
/// Windows the user is looked up from the client's process when the
/// connection is accepted; a server that may not open another user's process
/// (most may not) learns the pid alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PeerInfo {
    pid: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
    #[cfg(windows)]
    user_sid: Option<String>,
    addr: Option<SocketAddr>,
    tls_client_certificate: Option<Bytes>,
}

impl PeerInfo {
    /// Nothing known yet; for custom [`Listener`](super::Listener)s, with the
    /// `with_*` methods.
    pub const fn new() -> Self {
        Self {
            pid: None,
            uid: None,
            gid: None,
            #[cfg(windows)]
            user_sid: None,
            addr: None,
            tls_client_certificate: None,
        }
    }

    /// Sets the peer's process id.
    pub fn with_pid(mut self, pid: u32) -> Self {
        self.pid = Some(pid);
        self
    }

    /// Sets the peer's user id.
    pub fn with_uid(mut self, uid: u32) -> Self {
        self.uid = Some(uid);
        self
    }

    /// Sets the peer's group id.
    pub fn with_gid(mut self, gid: u32) -> Self {
        self.gid = Some(gid);
        self
    }

    /// Sets the peer's user, as a string SID (`S-1-5-21-…`).
    #[cfg(windows)]
    #[cfg_attr(docsrs, doc(cfg(windows)))]
    pub fn with_user_sid(mut self, sid: impl Into<String>) -> Self {
        self.user_sid = Some(sid.into());
        self
    }

    /// Sets the peer's network address.
    pub fn with_addr(mut self, addr: SocketAddr) -> Self {
        self.addr = Some(addr);
        self
    }

    /// Sets the certificate the peer presented in its TLS handshake (DER).
    pub fn with_tls_client_certificate(mut self, der: impl Into<Bytes>) -> Self {
        self.tls_client_certificate = Some(der.into());
        self
    }

    /// The peer's process id.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The peer's effective user id (Unix).
    pub fn uid(&self) -> Option<u32> {
        self.uid
    }

    /// The peer's effective group id (Unix).
    pub fn gid(&self) -> Option<u32> {
        self.gid
    }

    /// The SID of the user the peer process runs as (Windows), in string
    /// form (`S-1-5-21-…`).
    #[cfg(windows)]
    #[cfg_attr(docsrs, doc(cfg(windows)))]
    pub fn user_sid(&self) -> Option<&str> {
        self.user_sid.as_deref()
    }

    /// The peer's network address (TCP).
    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// The certificate a TLS client presented (mutual TLS), DER-encoded:
    /// the end-entity certificate, which the server's certificate
    /// authorities verified in the handshake. Parse it with an X.509 crate
    /// to read its subject, or compare it with a known one.
    pub fn tls_client_certificate(&self) -> Option<&[u8]> {
        self.tls_client_certificate.as_deref()
    }
}

impl fmt::Display for PeerInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields = [("pid", self.pid), ("uid", self.uid), ("gid", self.gid)];
        let mut sep = "";
        if let Some(addr) = self.addr {
            write!(f, "{addr}")?;
            sep = " ";
        }
        for (name, value) in fields {
            if let Some(value) = value {
                write!(f, "{sep}{name}={value}")?;
                sep = " ";
            }
        }
        #[cfg(windows)]
        if let Some(sid) = &self.user_sid {
            write!(f, "{sep}sid={sid}")?;
            sep = " ";
        }
        if sep.is_empty() {
            f.write_str("unknown")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lists_what_is_known() {
        assert_eq!(PeerInfo::new().to_string(), "unknown");
        let unix = PeerInfo::new().with_pid(7).with_uid(1000).with_gid(100);
        assert_eq!(unix.to_string(), "pid=7 uid=1000 gid=100");
        let tcp = PeerInfo::new().with_addr("127.0.0.1:9".parse().unwrap());
        assert_eq!(tcp.to_string(), "127.0.0.1:9");
    }

    #[cfg(windows)]
    #[test]
    fn display_names_the_windows_user() {
        let pipe = PeerInfo::new().with_pid(7).with_user_sid("S-1-5-18");
        assert_eq!(pipe.to_string(), "pid=7 sid=S-1-5-18");
    }
}
