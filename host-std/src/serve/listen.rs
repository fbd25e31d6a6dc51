//! The API's listener: plain TCP on a loopback address, or TLS (rustls with
//! aws-lc-rs, TLS 1.2/1.3) with the server certificate and key of
//! `tls_cert`/`tls_key`, and — with `client_ca` — client certificates
//! verified against that CA (RFC 8446 §4.3.2; EST's primary
//! authentication, RFC 7030 §3.3.2). A client certificate is optional at
//! the TLS layer so that bearer tokens keep working. The handshake checks
//! the client's CertificateVerify signature (possession of the key); the
//! chain to `client_ca` is checked right after the handshake, before the
//! connection reaches the API, so that a certificate of another CA gets an
//! HTTP 401 naming why (`RC-SVC` unauthenticated) instead of a bare TLS
//! alert the caller's HTTP library reports as "handshake failure".
//! Handshakes run in tasks of their own (10 s limit), so a slow client
//! holds up no one.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;

use crate::errors::{HostError, ServiceError};
use crate::files;

/// Who connected: the verified client certificate's subject, if any.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// Subject of the client certificate verified against `client_ca`.
    pub cert_subject: Option<String>,
    /// Why the client certificate presented was refused (it does not chain
    /// to `client_ca`, has expired, …): the API answers 401 with this.
    pub cert_refused: Option<String>,
}

impl Connected<IncomingStream<'_, TcpListener>> for Caller {
    fn connect_info(_s: IncomingStream<'_, TcpListener>) -> Self {
        Caller::default()
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Caller {
    fn connect_info(s: IncomingStream<'_, TlsListener>) -> Self {
        s.io().caller.clone()
    }
}

/// A TLS connection whose handshake completed, with who the client is.
pub struct ApiConn {
    tls: TlsStream<TcpStream>,
    caller: Caller,
}

impl AsyncRead for ApiConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_read(cx, buf)
    }
}

impl AsyncWrite for ApiConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tls).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_shutdown(cx)
    }
}

/// Who the client of a completed handshake is: its certificate, if it
/// presented one, checked against `client_ca` with `verifier`.
fn caller(tls: &TlsStream<TcpStream>, verifier: Option<&Arc<dyn ClientCertVerifier>>) -> Caller {
    let (_, conn) = tls.get_ref();
    let Some((ee, rest)) = conn.peer_certificates().and_then(|c| c.split_first()) else {
        return Caller::default();
    };
    let subject = raconn_core::cert::CertificateRef::parse(ee)
        .map(|c| c.subject.to_string())
        .unwrap_or_else(|e| format!("(unreadable certificate: {e})"));
    let verdict = match verifier {
        Some(v) => v.verify_client_cert(ee, rest, UnixTime::now()).map(|_| ()),
        None => Err(rustls::Error::General("no client_ca is configured".into())),
    };
    match verdict {
        Ok(()) => Caller {
            cert_subject: Some(subject),
            cert_refused: None,
        },
        Err(e) => Caller {
            cert_subject: None,
            cert_refused: Some(format!(
                "the client certificate \"{subject}\" is not accepted: {e} (it must chain to client_ca)"
            )),
        },
    }
}

/// Checks the client's handshake signature with the inner verifier and
/// accepts any chain: [`caller`] checks the chain after the handshake.
#[derive(Debug)]
struct Deferred(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for Deferred {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The API's TLS: the rustls configuration, and the verifier of client
/// certificates against `client_ca` that runs after each handshake.
pub struct ApiTls {
    config: rustls::ServerConfig,
    clients: Option<Arc<dyn ClientCertVerifier>>,
}

/// Completed TLS connections, handed to axum.
pub struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(ApiConn, SocketAddr)>,
    local: SocketAddr,
}

impl axum::serve::Listener for TlsListener {
    type Io = ApiConn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The acceptor ended: serve nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

fn tls_err(what: String) -> HostError {
    HostError::Tls(what)
}

/// The rustls server configuration of `[service]`.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<ApiTls, HostError> {
    let chain: Vec<CertificateDer<'static>> = files::certificates_in(cert)?
        .into_iter()
        .map(CertificateDer::from)
        .collect();
    if chain.is_empty() {
        return Err(tls_err(format!("{}: no certificate", cert.display())));
    }
    let blocks = files::read_blocks(key)?;
    let k = blocks
        .iter()
        .find_map(|b| match b.label.as_str() {
            "PRIVATE KEY" => Some(PrivateKeyDer::Pkcs8(b.der.clone().into())),
            "EC PRIVATE KEY" => Some(PrivateKeyDer::Sec1(b.der.clone().into())),
            "RSA PRIVATE KEY" => Some(PrivateKeyDer::Pkcs1(b.der.clone().into())),
            _ => None,
        })
        .ok_or_else(|| {
            tls_err(format!(
                "{}: no PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY block",
                key.display()
            ))
        })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let b = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?;
    let mut clients = None;
    let b = match client_ca {
        None => b.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for der in files::certificates_in(ca)? {
                roots
                    .add(CertificateDer::from(der))
                    .map_err(|e| tls_err(format!("{}: {e}", ca.display())))?;
            }
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| tls_err(format!("{}: {e}", ca.display())))?;
            clients = Some(v.clone());
            b.with_client_cert_verifier(Arc::new(Deferred(v)))
        }
    };
    let mut cfg = b
        .with_single_cert(chain, k)
        .map_err(|e| tls_err(format!("{} and {}: {e}", cert.display(), key.display())))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(ApiTls {
        config: cfg,
        clients,
    })
}

/// Accepts TCP connections on `tcp` and hands those whose TLS handshake
/// completes to the returned listener.
pub fn tls(tcp: TcpListener, api: ApiTls) -> Result<TlsListener, HostError> {
    let local = tcp
        .local_addr()
        .map_err(|e| HostError::from(ServiceError::PlainHttp(e.to_string())))?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(api.config));
    let clients = api.clients;
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    tokio::spawn(async move {
        loop {
            let (sock, peer) = match tcp.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let (a, tx, clients) = (acceptor.clone(), tx.clone(), clients.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(Duration::from_secs(10), a.accept(sock)).await {
                    Ok(Ok(tls)) => {
                        let caller = caller(&tls, clients.as_ref());
                        let _ = tx.send((ApiConn { tls, caller }, peer)).await;
                    }
                    Ok(Err(e)) => tracing::warn!(peer = %peer, "API TLS handshake refused: {e}"),
                    Err(_) => {
                        tracing::warn!(peer = %peer, "API TLS handshake did not finish in 10 s")
                    }
                }
            });
        }
    });
    Ok(TlsListener { rx, local })
}
