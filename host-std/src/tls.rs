//! Mutual TLS to the CA: rustls with the aws-lc-rs provider only. The client
//! presents the RA certificate and signs the CertificateVerify through the
//! store's key ([`RaKeySigner`]: a PKCS#11 or CNG key never leaves its
//! store; a file key is handed to aws-lc-rs as PKCS#8), verifies the
//! server against `ca_trust` or the system roots with the hostname checked
//! (there is no option to skip verification), and bounds connect, handshake,
//! write and each read by `ca_timeout_ms`. Errors name the phase, the
//! elapsed time and the setting to change. HTTP/1.1 framing is the core's
//! ([`raconn_core::http`]): the reply read by the sans-IO [`ReplyReader`]
//! into a buffer that grows up to `max_reply_bytes`.
//!
//! Connections are kept alive (RFC 9112 §9.3) for `ca_keep_alive_ms`
//! (default 4 s; 0 = one connection per call, as the reference connector
//! and the appliance do): a connection whose reply was 200, whole, framed
//! by length and not marked `Connection: close` goes back to an idle list
//! shared by the client's clones, and the next call takes it instead of a
//! TCP connect and TLS handshake. A kept connection is used only if the
//! server has neither closed it nor sent anything since (a non-blocking
//! peek). A POST is never sent twice by this layer: if a kept connection
//! fails anyway (the server closed it in the same instant), the call fails
//! as any lost connection does and the issuance transaction decides (for an
//! enrollment: search for the certificate before sending again).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use raconn_core::http::{Progress, ReplyReader};
use raconn_core::pkiws::PkiwsError;
use raconn_core::sig::SignatureScheme;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

use crate::errors::HostError;
use crate::store::RaKey;

/// `ca_keep_alive_ms`'s default: well under the idle timeouts of common
/// servers (Apache 5 s, nginx 75 s, IIS 120 s).
pub const DEFAULT_KEEP_ALIVE_MS: u64 = 4000;

/// The server has neither closed `sock` nor sent anything on it: a
/// non-blocking peek would block.
fn quiet(sock: &TcpStream) -> bool {
    if sock.set_nonblocking(true).is_err() {
        return false;
    }
    let mut b = [0u8; 1];
    let quiet = matches!(sock.peek(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    sock.set_nonblocking(false).is_ok() && quiet
}

/// The rustls name of a scheme (by its TLS code point).
pub fn scheme_of(s: SignatureScheme) -> rustls::SignatureScheme {
    rustls::SignatureScheme::from(s.tls_code())
}

/// A store key as a rustls `SigningKey`: the TLS CertificateVerify is signed
/// by [`RaKey::sign_tls`], inside the store.
pub struct RaKeySigner {
    key: Arc<dyn RaKey>,
}

impl RaKeySigner {
    /// Wraps a store key.
    pub fn new(key: Arc<dyn RaKey>) -> Self {
        RaKeySigner { key }
    }
}

impl std::fmt::Debug for RaKeySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RaKeySigner({})", self.key.describe())
    }
}

impl rustls::sign::SigningKey for RaKeySigner {
    fn choose_scheme(
        &self,
        offered: &[rustls::SignatureScheme],
    ) -> Option<Box<dyn rustls::sign::Signer>> {
        let s = self
            .key
            .tls_schemes()
            .iter()
            .copied()
            .find(|s| offered.contains(&scheme_of(*s)))?;
        Some(Box::new(SchemeSigner {
            key: self.key.clone(),
            scheme: s,
        }))
    }

    fn algorithm(&self) -> rustls::SignatureAlgorithm {
        match self.key.tls_schemes().first() {
            Some(s) if !s.is_rsa() => rustls::SignatureAlgorithm::ECDSA,
            _ => rustls::SignatureAlgorithm::RSA,
        }
    }
}

struct SchemeSigner {
    key: Arc<dyn RaKey>,
    scheme: SignatureScheme,
}

impl std::fmt::Debug for SchemeSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SchemeSigner({:?})", self.scheme)
    }
}

impl rustls::sign::Signer for SchemeSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        self.key
            .sign_tls(self.scheme, message)
            .map_err(rustls::Error::General)
    }

    fn scheme(&self) -> rustls::SignatureScheme {
        scheme_of(self.scheme)
    }
}

#[derive(Debug)]
struct RaIdentity(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for RaIdentity {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Which part of the exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// TCP connect.
    Connect,
    /// TLS handshake.
    Handshake,
    /// Sending the request.
    Write,
    /// Reading the reply.
    Read,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Connect => "connect",
            Phase::Handshake => "TLS handshake",
            Phase::Write => "sending the request",
            Phase::Read => "reading the reply",
        })
    }
}

/// A TLS connection to the CA.
type Conn = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// The most idle connections a client keeps (more are closed).
const MAX_IDLE: usize = 64;

/// A client for one CA host with one RA identity (cloning shares its TLS
/// configuration, with it rustls's session cache, and its idle connections).
#[derive(Clone)]
pub struct CaClient {
    cfg: Arc<rustls::ClientConfig>,
    host: String,
    port: u16,
    timeout: Duration,
    max_reply: usize,
    proxy: Option<crate::proxy::Proxy>,
    keep_alive: Duration,
    idle: Arc<std::sync::Mutex<Vec<(Instant, Conn)>>>,
    connections: Arc<std::sync::atomic::AtomicU64>,
}

fn trust_store(ca_trust: Option<&std::path::Path>) -> Result<rustls::RootCertStore, HostError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_trust {
        Some(p) => {
            for der in crate::files::certificates_in(p)? {
                roots
                    .add(CertificateDer::from(der))
                    .map_err(|e| HostError::Tls(format!("{}: {e}", p.display())))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                let _ = roots.add(c);
            }
        }
    }
    if roots.is_empty() {
        return Err(HostError::Tls(
            "no trust anchors: set ca_trust to the CA's root certificate (PEM)".into(),
        ));
    }
    Ok(roots)
}

impl CaClient {
    /// A client presenting `ra_cert` (DER), signing with the store's `ra_key`.
    pub fn new(
        host: &str,
        port: u16,
        ra_cert: &[u8],
        ra_key: Arc<dyn RaKey>,
        ca_trust: Option<&std::path::Path>,
        timeout_ms: u64,
        max_reply: usize,
    ) -> Result<CaClient, HostError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let roots = trust_store(ca_trust)?;
        let unusable = |e: rustls::Error| HostError::Tls(format!("RA key unusable for TLS: {e}"));
        let signing_key: Arc<dyn rustls::sign::SigningKey> = match ra_key.software_pkcs8() {
            Some(p8) => {
                let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(p8.to_vec()));
                provider
                    .key_provider
                    .load_private_key(der)
                    .map_err(unusable)?
            }
            None => Arc::new(RaKeySigner::new(ra_key)),
        };
        let certified = rustls::sign::CertifiedKey::new(
            vec![CertificateDer::from(ra_cert.to_vec())],
            signing_key,
        );
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| HostError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_cert_resolver(Arc::new(RaIdentity(Arc::new(certified))));
        Ok(CaClient {
            cfg: Arc::new(cfg),
            host: host.to_string(),
            port,
            timeout: Duration::from_millis(timeout_ms),
            max_reply,
            proxy: None,
            keep_alive: Duration::from_millis(DEFAULT_KEEP_ALIVE_MS),
            idle: Arc::default(),
            connections: Arc::default(),
        })
    }

    /// Keeps connections for `ms` milliseconds after a reply (0: one
    /// connection per call).
    pub fn with_keep_alive(mut self, ms: u64) -> Self {
        self.keep_alive = Duration::from_millis(ms);
        self
    }

    /// TLS connections this client (and its clones) opened so far.
    pub fn connections_opened(&self) -> u64 {
        self.connections.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The newest idle connection that is still fresh and quiet, if any
    /// (stale ones are closed).
    fn take_idle(&self) -> Option<Conn> {
        if self.keep_alive.is_zero() {
            return None;
        }
        let mut idle = self.idle.lock().ok()?;
        while let Some((since, conn)) = idle.pop() {
            if since.elapsed() < self.keep_alive && quiet(&conn.sock) {
                return Some(conn);
            }
        }
        None
    }

    /// Returns a connection to the idle list.
    fn keep(&self, conn: Conn) {
        if self.keep_alive.is_zero() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            idle.retain(|(since, _)| since.elapsed() < self.keep_alive);
            if idle.len() < MAX_IDLE {
                idle.push((Instant::now(), conn));
            }
        }
    }

    /// A new TLS connection, handshake done.
    fn open(&self, start: Instant) -> Result<Conn, HostError> {
        let tcp = self.connect(start)?;
        let setup = |e: String| self.fail(PkiwsError::TlsFailure, Phase::Handshake, start, e);
        let name = ServerName::try_from(self.host.clone()).map_err(|e| setup(e.to_string()))?;
        let conn = rustls::ClientConnection::new(self.cfg.clone(), name)
            .map_err(|e| setup(e.to_string()))?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            if start.elapsed() > self.timeout {
                return Err(self.fail(
                    PkiwsError::Timeout,
                    Phase::Handshake,
                    start,
                    "handshake did not finish".into(),
                ));
            }
            tls.conn
                .complete_io(&mut tls.sock)
                .map_err(|e| self.io_fail(Phase::Handshake, start, e))?;
        }
        self.connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(tls)
    }

    /// Reaches the CA through `proxy` (a CONNECT tunnel), when given.
    pub fn with_proxy(mut self, proxy: Option<crate::proxy::Proxy>) -> Self {
        self.proxy = proxy;
        self
    }

    /// The proxy in use, if any.
    pub fn proxy(&self) -> Option<&crate::proxy::Proxy> {
        self.proxy.as_ref()
    }

    /// Opens the TCP connection to the CA: directly, or through the proxy's
    /// CONNECT tunnel.
    fn connect(&self, start: Instant) -> Result<TcpStream, HostError> {
        let (host, port) = match &self.proxy {
            Some(p) => (p.host.as_str(), p.port),
            None => (self.host.as_str(), self.port),
        };
        let proxy_fail = |c: &Self, detail: String| {
            c.fail(
                raconn_core::http::HttpError::ProxyUnreachable,
                Phase::Connect,
                start,
                detail,
            )
        };
        let addrs: Vec<_> = match (host, port).to_socket_addrs() {
            Ok(a) => a.collect(),
            Err(e) if self.proxy.is_some() => {
                return Err(proxy_fail(
                    self,
                    format!("cannot resolve the proxy {host}: {e}"),
                ))
            }
            Err(e) => {
                return Err(self.fail(
                    PkiwsError::NameNotResolved,
                    Phase::Connect,
                    start,
                    format!("cannot resolve {host}: {e}"),
                ))
            }
        };
        let mut last = None;
        let mut tcp = None;
        for a in &addrs {
            match TcpStream::connect_timeout(a, self.timeout) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let mut tcp = match tcp {
            Some(t) => t,
            None => {
                let e = last.unwrap_or_else(|| std::io::Error::other("no address"));
                return Err(match &self.proxy {
                    Some(p) => proxy_fail(self, format!("{p}: {e}")),
                    None => self.io_fail(Phase::Connect, start, e),
                });
            }
        };
        tcp.set_read_timeout(Some(self.timeout)).ok();
        tcp.set_write_timeout(Some(self.timeout)).ok();
        // The request goes out as two writes (head, then body): without
        // TCP_NODELAY, Nagle holds the second until the server's delayed
        // ACK (up to 40 ms on Linux) — most of an issuance's wall time.
        tcp.set_nodelay(true).ok();
        let Some(p) = &self.proxy else {
            return Ok(tcp);
        };
        // CONNECT host:port, then the proxy's answer, read up to its blank line.
        let mut req = [0u8; 1024];
        let basic = p.basic();
        let r = raconn_core::http::write_connect(
            &self.host,
            self.port,
            basic.as_deref(),
            concat!("raconn/", env!("CARGO_PKG_VERSION")),
            &mut req,
        )
        .map_err(|e| self.fail(PkiwsError::Xml(e), Phase::Connect, start, e.to_string()))?;
        tcp.write_all(r)
            .map_err(|e| proxy_fail(self, format!("{p}: {e}")))?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            if start.elapsed() > self.timeout {
                return Err(self.fail(
                    PkiwsError::Timeout,
                    Phase::Connect,
                    start,
                    format!("the proxy {p} did not answer CONNECT"),
                ));
            }
            // One byte at a time: nothing of the tunnel may be read here.
            match tcp.read(&mut byte) {
                Ok(0) => {
                    return Err(proxy_fail(
                        self,
                        format!("{p} closed the connection during CONNECT"),
                    ))
                }
                Ok(_) => head.push(byte[0]),
                Err(e) => return Err(self.io_fail(Phase::Connect, start, e)),
            }
            match raconn_core::http::read_connect_reply(&head) {
                Ok(None) => {}
                Ok(Some(_)) => break,
                Err(e) => {
                    let line = String::from_utf8_lossy(&head);
                    let status = line.lines().next().unwrap_or("").to_string();
                    return Err(self.fail(e, Phase::Connect, start, format!("{p}: {status}")));
                }
            }
        }
        tracing::debug!(proxy = %p, "CONNECT tunnel open");
        Ok(tcp)
    }

    fn fail<E: Into<raconn_core::Error>>(
        &self,
        kind: E,
        phase: Phase,
        start: Instant,
        detail: String,
    ) -> HostError {
        HostError::Ca {
            kind: kind.into(),
            phase,
            elapsed_ms: start.elapsed().as_millis() as u64,
            timeout_ms: self.timeout.as_millis() as u64,
            detail,
        }
    }

    fn io_fail(&self, phase: Phase, start: Instant, e: std::io::Error) -> HostError {
        let timeout = matches!(
            e.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        );
        let tls = e
            .get_ref()
            .and_then(|i| i.downcast_ref::<rustls::Error>())
            .is_some();
        let closed = matches!(
            e.kind(),
            std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionAborted
        );
        let kind = if timeout {
            PkiwsError::Timeout
        } else if phase == Phase::Connect {
            PkiwsError::Unreachable
        } else if closed && matches!(phase, Phase::Read | Phase::Write) {
            PkiwsError::ConnectionClosed
        } else if tls || phase == Phase::Handshake {
            PkiwsError::TlsFailure
        } else {
            PkiwsError::ConnectionClosed
        };
        self.fail(kind, phase, start, e.to_string())
    }

    /// POSTs a SOAP body to `path`; returns the HTTP status and body.
    pub fn post(
        &self,
        path: &str,
        soap_action: &str,
        body: &str,
    ) -> Result<(u16, Vec<u8>), HostError> {
        let start = Instant::now();
        let mut tls = match self.take_idle() {
            Some(t) => t,
            None => self.open(start)?,
        };
        let keep_alive = !self.keep_alive.is_zero();
        let mut head_buf = [0u8; 1024];
        let req = raconn_core::http::write_head(
            &self.host,
            self.port,
            path,
            soap_action,
            body.len(),
            concat!("raconn/", env!("CARGO_PKG_VERSION")),
            keep_alive,
            &mut head_buf,
        )
        .map_err(|e| self.fail(PkiwsError::Xml(e), Phase::Write, start, e.to_string()))?;
        tls.write_all(req)
            .map_err(|e| self.io_fail(Phase::Write, start, e))?;
        tls.write_all(body.as_bytes())
            .map_err(|e| self.io_fail(Phase::Write, start, e))?;
        tls.flush()
            .map_err(|e| self.io_fail(Phase::Write, start, e))?;
        let mut reader = ReplyReader::new(self.max_reply);
        let mut buf = vec![0u8; 16 * 1024];
        let mut filled = 0;
        let reply_err = |c: &Self, e: raconn_core::Error| {
            let d = e.to_string();
            c.fail(e, Phase::Read, start, d)
        };
        loop {
            if filled == buf.len() {
                // Grow by doubling (linear in the reply), up to one byte past the cap.
                let n = (buf.len() * 2).min(self.max_reply.saturating_add(1));
                if n == buf.len() {
                    let e = raconn_core::http::HttpError::TooLarge {
                        limit: self.max_reply,
                    };
                    return Err(reply_err(self, e.into()));
                }
                buf.resize(n, 0);
            }
            if start.elapsed() > self.timeout {
                return Err(self.fail(
                    PkiwsError::Timeout,
                    Phase::Read,
                    start,
                    format!("reply incomplete after {filled} bytes"),
                ));
            }
            let read = match tls.read(&mut buf[filled..]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
                Err(e) => return Err(self.io_fail(Phase::Read, start, e)),
            };
            if read == 0 {
                let r = reader
                    .on_close(&mut buf, filled)
                    .map_err(|e| reply_err(self, e))?;
                return Ok((r.status, buf[r.body].to_vec()));
            }
            filled += read;
            match reader.advance(&mut buf, filled) {
                Ok(Progress::Done(r)) => {
                    // Nothing may wait after the reply, in the socket (the
                    // peek at reuse) or decrypted in rustls's buffer (here).
                    let drained = tls
                        .conn
                        .process_new_packets()
                        .is_ok_and(|io| io.plaintext_bytes_to_read() == 0);
                    if keep_alive && r.status == 200 && reader.reusable(filled) && drained {
                        self.keep(tls);
                    }
                    return Ok((r.status, buf[r.body].to_vec()));
                }
                Ok(Progress::NeedMore) => {}
                Err(e) => return Err(reply_err(self, e.into())),
            }
        }
    }
}
