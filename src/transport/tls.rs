//! TLS on TCP (feature `tls`): [`ServerTls`] for
//! [`BindOptions::tls`](super::BindOptions::tls), [`ClientTls`] for
//! [`ConnectOptions::tls`](super::ConnectOptions::tls). rustls does the
//! work, with ring's cryptography; certificates and keys come as PEM.
//!
//! The byte stream is encrypted below the codec, so every codec and
//! protocol runs over TLS unchanged: JSON-RPC, HTTP, length-prefixed frames.

use std::{fmt, io, path::Path, sync::Arc, time::Duration};

use bytes::Bytes;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinSet,
};
use tokio_rustls::{
    TlsAcceptor, TlsConnector, TlsStream,
    rustls::{
        self, ClientConfig, RootCertStore, ServerConfig, crypto::CryptoProvider,
        server::WebPkiClientVerifier,
    },
};

use super::{Listener, PeerInfo};
use crate::Endpoint;

/// How long a client gets to complete its TLS handshake once connected.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes under way at once; past this, no more connections are
/// accepted until one finishes.
const MAX_HANDSHAKES: usize = 128;

/// A server's side of TLS: its certificate chain and private key, and
/// whether it asks clients for certificates of their own (mutual TLS).
///
/// ```no_run
/// use tower_ipc::{Endpoint, transport::{BindOptions, tls::ServerTls}};
///
/// # async fn run() -> std::io::Result<()> {
/// let tls = ServerTls::from_pem_files("server.crt", "server.key")?
///     .require_client_certificates("clients-ca.crt")?;
/// let listener = Endpoint::tcp("0.0.0.0:7443")
///     .bind_with(&BindOptions::new().tls(tls))
///     .await?;
/// # Ok(())
/// # }
/// ```
///
/// A client that presented a certificate is known by it:
/// [`PeerInfo::tls_client_certificate`].
#[derive(Clone)]
pub struct ServerTls {
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
    config: Arc<ServerConfig>,
}

impl ServerTls {
    /// The certificate chain (the server's certificate first, then the
    /// intermediates) and its private key (PKCS#8, PKCS#1 or SEC1), from PEM
    /// files. Clients are not asked for certificates.
    ///
    /// # Errors
    ///
    /// A file that cannot be read, holds no certificate or no key, or a key
    /// that does not suit the certificate; the message names the file.
    pub fn from_pem_files(chain: impl AsRef<Path>, key: impl AsRef<Path>) -> io::Result<Self> {
        let chain = certificates_file(chain.as_ref())?;
        let key = key_file(key.as_ref())?;
        Self::new(chain, key)
    }

    /// As [`from_pem_files`](Self::from_pem_files), from PEM text.
    ///
    /// # Errors
    ///
    /// As [`from_pem_files`](Self::from_pem_files).
    pub fn from_pem(chain: &[u8], key: &[u8]) -> io::Result<Self> {
        let chain = certificates(chain, "the certificate chain")?;
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|err| invalid(format!("the private key: {err}")))?;
        Self::new(chain, key)
    }

    fn new(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> io::Result<Self> {
        let config = server_config(&chain, &key, None)?;
        Ok(Self {
            chain,
            key: Arc::new(key),
            config,
        })
    }

    /// Requires every client to present a certificate issued by one of the
    /// certificate authorities in `roots` (a PEM file): mutual TLS. A client
    /// without one fails the handshake and is never accepted.
    ///
    /// # Errors
    ///
    /// A file that cannot be read or holds no usable certificate.
    pub fn require_client_certificates(self, roots: impl AsRef<Path>) -> io::Result<Self> {
        let roots = certificates_file(roots.as_ref())?;
        self.client_certificates(roots, true)
    }

    /// Asks clients for a certificate issued by one of the certificate
    /// authorities in `roots` (a PEM file), and lets clients without one in
    /// too: [`PeerInfo::tls_client_certificate`] tells them apart. A client
    /// that presents a certificate `roots` did not issue fails the handshake.
    ///
    /// # Errors
    ///
    /// As [`require_client_certificates`](Self::require_client_certificates).
    pub fn accept_client_certificates(self, roots: impl AsRef<Path>) -> io::Result<Self> {
        let roots = certificates_file(roots.as_ref())?;
        self.client_certificates(roots, false)
    }

    fn client_certificates(
        mut self,
        roots: Vec<CertificateDer<'static>>,
        required: bool,
    ) -> io::Result<Self> {
        let mut store = RootCertStore::empty();
        for root in roots {
            store
                .add(root)
                .map_err(|err| invalid(format!("a client certificate authority: {err}")))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider());
        let verifier = if required {
            verifier
        } else {
            verifier.allow_unauthenticated()
        };
        let verifier = verifier
            .build()
            .map_err(|err| invalid(format!("the client certificate authorities: {err}")))?;
        self.config = server_config(&self.chain, &self.key, Some(verifier))?;
        Ok(self)
    }
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("certificates", &self.chain.len())
            .finish_non_exhaustive()
    }
}

/// Two settings are equal when they are the same settings (clones).
impl PartialEq for ServerTls {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
    }
}

impl Eq for ServerTls {}

/// A client's side of TLS: the certificate authorities it trusts (only
/// those: no system store), the name the server's certificate must carry,
/// and, for mutual TLS, its own certificate.
///
/// ```no_run
/// use tower_ipc::{Endpoint, transport::{ConnectOptions, tls::ClientTls}};
///
/// # async fn run() -> std::io::Result<()> {
/// let tls = ClientTls::from_root_pem_file("server-ca.crt")?
///     .identity_pem_files("client.crt", "client.key")?;
/// let stream = Endpoint::tcp("node.example:7443")
///     .connect_with(&ConnectOptions::new().tls(tls))
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ClientTls {
    roots: Arc<RootCertStore>,
    config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
}

impl ClientTls {
    /// Trusts the certificate authorities (or self-signed server
    /// certificates) in a PEM file.
    ///
    /// # Errors
    ///
    /// A file that cannot be read or holds no usable certificate; the
    /// message names the file.
    pub fn from_root_pem_file(roots: impl AsRef<Path>) -> io::Result<Self> {
        Self::new(certificates_file(roots.as_ref())?)
    }

    /// As [`from_root_pem_file`](Self::from_root_pem_file), from PEM text.
    ///
    /// # Errors
    ///
    /// As [`from_root_pem_file`](Self::from_root_pem_file).
    pub fn from_root_pem(roots: &[u8]) -> io::Result<Self> {
        Self::new(certificates(roots, "the root certificates")?)
    }

    fn new(roots: Vec<CertificateDer<'static>>) -> io::Result<Self> {
        let mut store = RootCertStore::empty();
        for root in roots {
            store
                .add(root)
                .map_err(|err| invalid(format!("a root certificate: {err}")))?;
        }
        let roots = Arc::new(store);
        let config = client_builder()?
            .with_root_certificates(Arc::clone(&roots))
            .with_no_client_auth();
        Ok(Self {
            roots,
            config: Arc::new(config),
            server_name: None,
        })
    }

    /// Presents this certificate chain and private key (PEM files) when the
    /// server asks for one: mutual TLS.
    ///
    /// # Errors
    ///
    /// As [`ServerTls::from_pem_files`].
    pub fn identity_pem_files(
        mut self,
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> io::Result<Self> {
        let chain = certificates_file(chain.as_ref())?;
        let key = key_file(key.as_ref())?;
        let config = client_builder()?
            .with_root_certificates(Arc::clone(&self.roots))
            .with_client_auth_cert(chain, key)
            .map_err(|err| invalid(format!("the client certificate: {err}")))?;
        self.config = Arc::new(config);
        Ok(self)
    }

    /// The name (DNS name or IP address) the server's certificate must be
    /// issued for; by default the host of the endpoint connected to.
    ///
    /// # Errors
    ///
    /// A name that is neither a DNS name nor an IP address.
    pub fn server_name(mut self, name: impl Into<String>) -> io::Result<Self> {
        let name = name.into();
        let parsed = ServerName::try_from(name.clone())
            .map_err(|err| invalid(format!("server name `{name}`: {err}")))?;
        self.server_name = Some(parsed);
        Ok(self)
    }

    /// Runs the handshake on `stream`, connected to the TCP address `addr`
    /// (`host:port`).
    pub(crate) async fn connect(
        &self,
        addr: &str,
        stream: TcpStream,
    ) -> io::Result<TlsStream<TcpStream>> {
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => host_name(addr)?,
        };
        let connector = TlsConnector::from(Arc::clone(&self.config));
        let stream = connector
            .connect(name, stream)
            .await
            .map_err(|err| io::Error::new(err.kind(), format!("TLS handshake failed: {err}")))?;
        Ok(stream.into())
    }
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("roots", &self.roots.len())
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// Two settings are equal when they are the same settings (clones).
impl PartialEq for ClientTls {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.config, &other.config) && self.server_name == other.server_name
    }
}

impl Eq for ClientTls {}

/// A TCP listener whose connections are TLS sessions. Handshakes run
/// concurrently, in tasks of their own, each within a time limit, so a slow
/// or silent client holds up nobody; a failed one is logged and dropped.
pub(crate) struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, PeerInfo)>>,
}

impl TlsListener {
    pub(crate) fn new(tcp: TcpListener, tls: &ServerTls) -> Self {
        Self {
            tcp,
            acceptor: TlsAcceptor::from(Arc::clone(&tls.config)),
            handshakes: JoinSet::new(),
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.tcp.local_addr()
    }

    /// The next connection whose handshake succeeded. Cancel safe: the
    /// handshakes under way stay in the listener.
    pub(crate) async fn accept(&mut self) -> io::Result<(TlsStream<TcpStream>, PeerInfo)> {
        loop {
            tokio::select! {
                accepted = Listener::accept(&mut self.tcp), if self.handshakes.len() < MAX_HANDSHAKES => {
                    let (stream, peer) = accepted?;
                    let handshake = self.acceptor.accept(stream);
                    self.handshakes.spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                            Ok(Ok(stream)) => {
                                let peer = match stream.get_ref().1.peer_certificates() {
                                    Some([first, ..]) => peer.with_tls_client_certificate(Bytes::copy_from_slice(first)),
                                    _ => peer,
                                };
                                Some((stream.into(), peer))
                            }
                            Ok(Err(err)) => {
                                tracing::debug!(%peer, error = %err, "TLS handshake failed");
                                None
                            }
                            Err(_) => {
                                tracing::debug!(%peer, timeout = ?HANDSHAKE_TIMEOUT, "TLS handshake timed out");
                                None
                            }
                        }
                    });
                }
                Some(done) = self.handshakes.join_next() => {
                    if let Ok(Some(connection)) = done {
                        return Ok(connection);
                    }
                }
            }
        }
    }
}

impl fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsListener")
            .field("tcp", &self.tcp)
            .field("handshakes", &self.handshakes.len())
            .finish_non_exhaustive()
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;

    async fn accept(&mut self) -> io::Result<(Self::Io, PeerInfo)> {
        TlsListener::accept(self).await
    }

    fn local_endpoint(&self) -> io::Result<Endpoint> {
        Ok(Endpoint::tcp(self.local_addr()?.to_string()))
    }
}

/// The server name of `host:port` (`[v6]:port` too).
fn host_name(addr: &str) -> io::Result<ServerName<'static>> {
    let host = match addr.rsplit_once(':') {
        Some((host, _port)) => host,
        None => addr,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).map_err(|err| {
        invalid(format!(
            "`{host}` is no name a certificate can carry ({err}); set ClientTls::server_name"
        ))
    })
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_builder() -> io::Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|err| invalid(format!("TLS: {err}")))
}

fn server_config(
    chain: &[CertificateDer<'static>],
    key: &PrivateKeyDer<'static>,
    verifier: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
) -> io::Result<Arc<ServerConfig>> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|err| invalid(format!("TLS: {err}")))?;
    let builder = match verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(chain.to_vec(), key.clone_key())
        .map_err(|err| invalid(format!("the server certificate and key: {err}")))?;
    Ok(Arc::new(config))
}

fn certificates(pem: &[u8], what: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| invalid(format!("{what}: {err}")))?;
    if chain.is_empty() {
        return Err(invalid(format!("{what}: no certificate in the PEM text")));
    }
    Ok(chain)
}

fn certificates_file(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).map_err(|err| {
        io::Error::new(
            err.kind(),
            format!("cannot read `{}`: {err}", path.display()),
        )
    })?;
    certificates(&pem, &format!("`{}`", path.display()))
}

fn key_file(path: &Path) -> io::Result<PrivateKeyDer<'static>> {
    let pem = std::fs::read(path).map_err(|err| {
        io::Error::new(
            err.kind(),
            format!("cannot read `{}`: {err}", path.display()),
        )
    })?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|err| invalid(format!("`{}`: {err}", path.display())))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
