//! HTTPS on loopback for the simulator: rustls (aws-lc-rs) with TLS 1.2 and
//! 1.3, a client certificate required and verified against the RA CA, a
//! server certificate for `localhost` / 127.0.0.1 from the simulator's root,
//! and just enough HTTP/1.1 (Content-Length bodies, keep-alive).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};

use crate::Sim;

/// Which TLS versions the server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versions {
    /// TLS 1.2 and 1.3.
    Both,
    /// TLS 1.2 only.
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// A running server; stops when dropped.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn config(
    sim: &Sim,
    versions: Versions,
    max_fragment: Option<usize>,
) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(sim.pki.ra_ca.der.clone()))
        .map_err(|e| e.to_string())?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let vs: &[&rustls::SupportedProtocolVersion] = match versions {
        Versions::Both => &[&rustls::version::TLS13, &rustls::version::TLS12],
        Versions::Tls12 => &[&rustls::version::TLS12],
        Versions::Tls13 => &[&rustls::version::TLS13],
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(sim.pki.server_key.clone()));
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(vs)
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![CertificateDer::from(sim.pki.server_cert.clone())], key)
        .map_err(|e| e.to_string())?;
    cfg.max_fragment_size = max_fragment;
    Ok(Arc::new(cfg))
}

/// Starts serving `sim` on `bind` (e.g. `127.0.0.1:0`).
pub fn start(sim: Sim, bind: &str, versions: Versions) -> Result<Server, String> {
    start_with_records_of(sim, bind, versions, None)
}

/// [`start`], sending TLS records of at most `max_record` bytes (rustls's
/// `max_fragment_size`, the 5-byte header included) — what a CA that
/// honours the RFC 6066 max_fragment_length an appliance offers sends.
/// rustls does not negotiate the extension itself; it ignores it.
pub fn start_with_records_of(
    sim: Sim,
    bind: &str,
    versions: Versions,
    max_record: Option<usize>,
) -> Result<Server, String> {
    let cfg = config(&sim, versions, max_record)?;
    let listener = TcpListener::bind(bind).map_err(|e| format!("bind {bind}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let handle = std::thread::spawn(move || {
        for conn in listener.incoming() {
            if stop2.load(Ordering::SeqCst) {
                break;
            }
            let Ok(tcp) = conn else { continue };
            let sim = sim.clone();
            let cfg = cfg.clone();
            std::thread::spawn(move || {
                let _ = serve_connection(&sim, cfg, tcp);
            });
        }
    });
    Ok(Server {
        addr,
        stop,
        handle: Some(handle),
    })
}

fn serve_connection(sim: &Sim, cfg: Arc<ServerConfig>, tcp: TcpStream) -> std::io::Result<()> {
    tcp.set_read_timeout(Some(Duration::from_secs(60)))?;
    tcp.set_nodelay(true)?;
    let raw = tcp.try_clone()?;
    let conn = ServerConnection::new(cfg).map_err(std::io::Error::other)?;
    let mut tls = BufReader::new(StreamOwned::new(conn, tcp));
    let mut first = true;
    loop {
        let mut line = String::new();
        // Between requests a kept connection waits at most idle_close_ms.
        let idle = if first { None } else { sim.idle_close_ms() };
        if let Some(ms) = idle {
            raw.set_read_timeout(Some(Duration::from_millis(ms.max(1))))?;
        }
        match tls.read_line(&mut line) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e)
                if idle.is_some()
                    && is_timeout(&e)
                    && tls.buffer().is_empty()
                    && line.is_empty() =>
            {
                let s = tls.get_mut();
                s.conn.send_close_notify();
                let _ = s.flush();
                let _ = raw.shutdown(std::net::Shutdown::Write);
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        if first {
            sim.note_connection();
            first = false;
        } else if idle.is_some() {
            raw.set_read_timeout(Some(Duration::from_secs(60)))?;
        }
        let mut parts = line.split_whitespace();
        let (_method, path) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or("").to_string(),
        );
        let mut len = 0usize;
        let mut action = String::new();
        let mut close = false;
        loop {
            let mut h = String::new();
            tls.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let v = v.trim();
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => len = v.parse().unwrap_or(0),
                    "soapaction" => action = v.trim_matches('"').to_string(),
                    "connection" => close = v.eq_ignore_ascii_case("close"),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; len.min(16 << 20)];
        tls.read_exact(&mut body)?;
        if let Some(c) = tls
            .get_ref()
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
        {
            sim.note_client_certificate(c);
        }
        let reply = sim.handle(&path, &action, &body);
        if reply.delay_ms > 0 {
            std::thread::sleep(Duration::from_millis(reply.delay_ms));
        }
        if reply.drop {
            let _ = raw.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
        if let Some(stream) = reply.stream {
            // Never-ending replies stop by themselves: when the client goes
            // away (a write fails), after two minutes, or after 64 GiB.
            let s = tls.get_mut();
            let _ = endless(s, stream);
            let _ = raw.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
        let reason = match reply.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            _ => "Internal Server Error",
        };
        let head = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {}\r\n{}\r\n",
            reply.status,
            reply.body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        let s = tls.get_mut();
        s.write_all(head.as_bytes())?;
        s.write_all(&reply.body)?;
        s.flush()?;
        if sim.stray_reply() {
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")?;
            s.flush()?;
        }
        if close {
            s.conn.send_close_notify();
            let _ = s.flush();
            return Ok(());
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

fn endless(s: &mut impl Write, stream: crate::Stream) -> std::io::Result<()> {
    use crate::Stream;
    let start = std::time::Instant::now();
    let limit = Duration::from_secs(120);
    let mut sent: u64 = 0;
    let chunk = vec![b'<'; 64 * 1024];
    match stream {
        Stream::EndlessBody => {
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nConnection: close\r\n\r\n")?;
            while start.elapsed() < limit && sent < 64 << 30 {
                s.write_all(&chunk)?;
                sent += chunk.len() as u64;
            }
        }
        Stream::EndlessChunked => {
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n")?;
            let mut piece = format!("{:x}\r\n", chunk.len()).into_bytes();
            piece.extend_from_slice(&chunk);
            piece.extend_from_slice(b"\r\n");
            while start.elapsed() < limit && sent < 64 << 30 {
                s.write_all(&piece)?;
                sent += piece.len() as u64;
            }
        }
        Stream::EndlessHead => {
            s.write_all(b"HTTP/1.1 200 OK\r\n")?;
            let line = format!("X-Padding: {}\r\n", "a".repeat(1000)).into_bytes();
            while start.elapsed() < limit && sent < 64 << 30 {
                s.write_all(&line)?;
                sent += line.len() as u64;
            }
        }
        Stream::SlowHead => {
            s.write_all(b"HTTP/1.1 200 OK\r\n")?;
            s.flush()?;
            while start.elapsed() < limit {
                s.write_all(b"X")?;
                s.flush()?;
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    s.flush()
}
