//! The API's listener: plain TCP on a loopback address, or TLS (rustls with
//! aws-lc-rs, TLS 1.2/1.3) with the server certificate and key of
//! `tls_cert`/`tls_key`, and — with `client_ca` — client certificates
//! verified against that CA (RFC 8446 §4.3.2; EST's primary
//! authentication, RFC 7030 §3.3.2). A client certificate is optional at
//! the TLS layer so that bearer tokens keep working; one that does not
//! chain to `client_ca` is refused in the handshake. Handshakes run in
//! tasks of their own (10 s limit), so a slow client holds up no one.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;

use crate::errors::{HostError, ServiceError};
use crate::files;

/// Who connected: the verified client certificate's subject, if any.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// Subject of the client certificate rustls verified against `client_ca`.
    pub cert_subject: Option<String>,
}

impl Connected<IncomingStream<'_, TcpListener>> for Caller {
    fn connect_info(_s: IncomingStream<'_, TcpListener>) -> Self {
        Caller::default()
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Caller {
    fn connect_info(s: IncomingStream<'_, TlsListener>) -> Self {
        let (_, conn) = s.io().get_ref();
        Caller {
            cert_subject: conn
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| raconn_core::cert::CertificateRef::parse(c).ok())
                .map(|c| c.subject.to_string()),
        }
    }
}

/// Completed TLS connections, handed to axum.
pub struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
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
) -> Result<rustls::ServerConfig, HostError> {
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
            b.with_client_cert_verifier(v)
        }
    };
    let mut cfg = b
        .with_single_cert(chain, k)
        .map_err(|e| tls_err(format!("{} and {}: {e}", cert.display(), key.display())))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Accepts TCP connections on `tcp` and hands those whose TLS handshake
/// completes to the returned listener.
pub fn tls(tcp: TcpListener, cfg: rustls::ServerConfig) -> Result<TlsListener, HostError> {
    let local = tcp
        .local_addr()
        .map_err(|e| HostError::from(ServiceError::PlainHttp(e.to_string())))?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
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
            let (a, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(Duration::from_secs(10), a.accept(sock)).await {
                    Ok(Ok(s)) => {
                        let _ = tx.send((s, peer)).await;
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
