//! TLS on TCP with certificates made at test time (rcgen): JSON-RPC, plain
//! length-prefixed frames and HTTP over it, mutual TLS with the client's
//! certificate in `PeerInfo`, and the handshakes that must fail.
#![cfg(all(feature = "tls", feature = "json-rpc"))]

mod support;

use std::{io, path::PathBuf, time::Duration};

use bytes::Bytes;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use serde_json::Value;
use support::PATIENCE;
use tokio::{io::AsyncWriteExt, time::timeout};
use tokio_util::codec::Framed;
use tower::{Service, ServiceExt};
use tower_ipc::{
    Client, Endpoint,
    codec::LengthPrefixed,
    jsonrpc::{CallContext, ErrorObject, JsonRpc, JsonRpcClient, Router},
    transport::{
        BindOptions, ConnectOptions,
        tls::{ClientTls, ServerTls},
    },
};

/// A certificate authority, a server and a client certificate it issued,
/// and a client certificate from another authority, as PEM files.
struct Pki {
    dir: PathBuf,
    client_der: Vec<u8>,
}

impl Pki {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tower-ipc-tls-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: String| std::fs::write(dir.join(name), text).unwrap();

        let authority = |name: &str| {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
        };
        let ca = authority("tower-ipc test CA");
        write("ca.crt", ca.pem());
        let other = authority("someone else's CA");
        write("other-ca.crt", other.pem());

        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&server_key, &ca)
            .unwrap();
        write("server.crt", server.pem());
        write("server.key", server_key.serialize_pem());

        let client_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "wallet");
        let client = params.signed_by(&client_key, &ca).unwrap();
        write("client.crt", client.pem());
        write("client.key", client_key.serialize_pem());

        let rogue_key = KeyPair::generate().unwrap();
        let rogue = CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .signed_by(&rogue_key, &other)
            .unwrap();
        write("rogue.crt", rogue.pem());
        write("rogue.key", rogue_key.serialize_pem());

        Self {
            dir,
            client_der: client.der().to_vec(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn server(&self) -> ServerTls {
        ServerTls::from_pem_files(self.path("server.crt"), self.path("server.key")).unwrap()
    }

    fn client(&self) -> ClientTls {
        ClientTls::from_root_pem_file(self.path("ca.crt")).unwrap()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn router() -> Router {
    Router::new()
        .method("add", |(a, b): (i64, i64)| async move {
            Ok::<_, ErrorObject>(a + b)
        })
        .method("certificate", |cx: CallContext, (): ()| async move {
            let der = cx.peer_info().tls_client_certificate();
            Ok::<_, ErrorObject>(der.map(<[u8]>::to_vec))
        })
}

/// Binds TLS on a free port of 127.0.0.1: the listener and its address.
async fn bind(tls: ServerTls) -> (tower_ipc::transport::IpcListener, String) {
    let listener = Endpoint::tcp("127.0.0.1:0")
        .bind_with(&BindOptions::new().tls(tls))
        .await
        .unwrap();
    let addr = listener
        .endpoint()
        .to_string()
        .trim_start_matches("tcp://")
        .to_owned();
    (listener, addr)
}

async fn connect(addr: &str, tls: ClientTls) -> io::Result<tower_ipc::transport::IpcStream> {
    Endpoint::tcp(addr)
        .connect_with(&ConnectOptions::new().tls(tls))
        .await
}

#[tokio::test]
async fn jsonrpc_runs_over_tls_with_a_certificate_made_at_test_time() {
    let pki = Pki::new("jsonrpc");
    let (listener, addr) = bind(pki.server()).await;
    let server = tokio::spawn(tower_ipc::serve(listener, JsonRpc::new(), router()).into_future());
    for name in ["127.0.0.1", "localhost"] {
        let port = addr.rsplit_once(':').unwrap().1;
        let client = JsonRpcClient::new(
            connect(&format!("{name}:{port}"), pki.client())
                .await
                .unwrap(),
        );
        let sum: i64 = client.call("add", (40, 2)).await.unwrap();
        assert_eq!(sum, 42, "{name}");
        // No certificate was asked for.
        let der: Option<Vec<u8>> = client.call("certificate", ()).await.unwrap();
        assert_eq!(der, None);
    }
    server.abort();
}

#[tokio::test]
async fn every_codec_runs_over_tls_length_prefixed_frames_too() {
    let pki = Pki::new("codec");
    let (listener, addr) = bind(pki.server()).await;
    let server = tokio::spawn(
        tower_ipc::serve(listener, LengthPrefixed::new(), support::echo()).into_future(),
    );
    let stream = connect(&addr, pki.client()).await.unwrap();
    let mut client: Client<Bytes, Bytes> = Client::new(Framed::new(stream, LengthPrefixed::new()));
    let big = Bytes::from(vec![7u8; 1 << 20]);
    let answer = client
        .ready()
        .await
        .unwrap()
        .call(big.clone())
        .await
        .unwrap();
    assert_eq!(answer, big);
    server.abort();
}

#[tokio::test]
async fn mutual_tls_puts_the_client_certificate_in_peer_info() {
    let pki = Pki::new("mutual");
    let tls = pki
        .server()
        .require_client_certificates(pki.path("ca.crt"))
        .unwrap();
    let (listener, addr) = bind(tls).await;
    let server = tokio::spawn(tower_ipc::serve(listener, JsonRpc::new(), router()).into_future());

    let identity = pki
        .client()
        .identity_pem_files(pki.path("client.crt"), pki.path("client.key"))
        .unwrap();
    let client = JsonRpcClient::new(connect(&addr, identity).await.unwrap());
    let der: Option<Vec<u8>> = client.call("certificate", ()).await.unwrap();
    assert_eq!(der.as_deref(), Some(pki.client_der.as_slice()));

    // Without a certificate, or with one another authority issued, the
    // handshake fails and nothing is served.
    let rogue = pki
        .client()
        .identity_pem_files(pki.path("rogue.crt"), pki.path("rogue.key"))
        .unwrap();
    for tls in [pki.client(), rogue] {
        let refused = async {
            // TLS 1.3 lets the client finish first; the server's refusal
            // arrives with the first read.
            let client = JsonRpcClient::new(connect(&addr, tls).await?);
            client
                .call::<i64, _>("add", (1, 2))
                .await
                .map_err(io::Error::other)
        };
        let result = timeout(PATIENCE, refused).await.expect("no refusal");
        assert!(result.is_err(), "served: {result:?}");
    }
    server.abort();
}

#[tokio::test]
async fn optional_client_certificates_let_clients_without_one_in() {
    let pki = Pki::new("optional");
    let tls = pki
        .server()
        .accept_client_certificates(pki.path("ca.crt"))
        .unwrap();
    let (listener, addr) = bind(tls).await;
    let server = tokio::spawn(tower_ipc::serve(listener, JsonRpc::new(), router()).into_future());
    let anonymous = JsonRpcClient::new(connect(&addr, pki.client()).await.unwrap());
    let der: Option<Vec<u8>> = anonymous.call("certificate", ()).await.unwrap();
    assert_eq!(der, None);
    let identity = pki
        .client()
        .identity_pem_files(pki.path("client.crt"), pki.path("client.key"))
        .unwrap();
    let known = JsonRpcClient::new(connect(&addr, identity).await.unwrap());
    let der: Option<Vec<u8>> = known.call("certificate", ()).await.unwrap();
    assert_eq!(der.as_deref(), Some(pki.client_der.as_slice()));
    server.abort();
}

#[tokio::test]
async fn a_server_the_client_does_not_trust_fails_the_handshake_naming_the_endpoint() {
    let pki = Pki::new("untrusted");
    let (listener, addr) = bind(pki.server()).await;
    let server = tokio::spawn(tower_ipc::serve(listener, JsonRpc::new(), router()).into_future());
    let strangers = ClientTls::from_root_pem_file(pki.path("other-ca.crt")).unwrap();
    let err = connect(&addr, strangers).await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains(&addr), "{message}");
    assert!(message.contains("TLS handshake failed"), "{message}");
    // A name the certificate was not issued for fails too.
    let wrong_name = pki.client().server_name("node.example").unwrap();
    let err = connect(&addr, wrong_name).await.unwrap_err();
    assert!(err.to_string().contains("TLS handshake failed"), "{err}");
    server.abort();
}

#[tokio::test]
async fn a_client_that_never_finishes_its_handshake_holds_up_nobody() {
    let pki = Pki::new("silent");
    let (listener, addr) = bind(pki.server()).await;
    let server = tokio::spawn(tower_ipc::serve(listener, JsonRpc::new(), router()).into_future());
    // Connected, says nothing; another sends garbage.
    let _silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut garbage = tokio::net::TcpStream::connect(&addr).await.unwrap();
    garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let client = JsonRpcClient::new(connect(&addr, pki.client()).await.unwrap());
    let sum: i64 = timeout(Duration::from_secs(5), client.call("add", (1, 2)))
        .await
        .expect("served while others hang")
        .unwrap();
    assert_eq!(sum, 3);
    server.abort();
}

#[tokio::test]
async fn tls_settings_on_an_endpoint_that_is_not_tcp_are_refused() {
    let pki = Pki::new("not-tcp");
    let endpoint = support::endpoint("tls-local");
    let err = endpoint
        .bind_with(&BindOptions::new().tls(pki.server()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("TCP"), "{err}");
    let err = endpoint
        .connect_with(&ConnectOptions::new().tls(pki.client()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn certificate_files_that_are_missing_or_wrong_are_named_in_the_error() {
    let pki = Pki::new("files");
    let missing = pki.path("nope.crt");
    let err = ServerTls::from_pem_files(&missing, pki.path("server.key")).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(err.to_string().contains("nope.crt"), "{err}");
    // A key file that holds a certificate.
    let err =
        ServerTls::from_pem_files(pki.path("server.crt"), pki.path("server.crt")).unwrap_err();
    assert!(err.to_string().contains("server.crt"), "{err}");
    // A key that is not the certificate's.
    let err =
        ServerTls::from_pem_files(pki.path("server.crt"), pki.path("client.key")).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
}

#[cfg(feature = "http")]
#[tokio::test]
async fn http_runs_over_tls() {
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::TokioIo;

    let pki = Pki::new("https");
    let (listener, addr) = bind(pki.server()).await;
    let server = tokio::spawn(
        tower_ipc::serve(listener, tower_ipc::web::Http::new(), router()).into_future(),
    );
    let stream = connect(&addr, pki.client()).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = http::Request::post("/")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]}"#,
        )))
        .unwrap();
    let answer = sender.send_request(request).await.unwrap();
    let body = answer.into_body().collect().await.unwrap().to_bytes();
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["result"], 3);
    server.abort();
}
