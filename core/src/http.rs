//! The HTTP/1.1 framing of a SOAP call (RFC 9112; SOAP 1.1 §6.1), written
//! once for every host: the request head of a POST — on a connection of
//! its own (`Connection: close`) or on a persistent one (RFC 9112 §9.3) —
//! and [`ReplyReader`], a sans-IO reader of the reply, which also says
//! whether the connection may carry the next request
//! ([`ReplyReader::reusable`]).
//!
//! The reader never allocates and never re-reads: the host appends the bytes
//! it receives to one buffer and calls [`ReplyReader::advance`]; the reader
//! keeps offsets only, so a host may grow (reallocate) its buffer between
//! calls. The head is scanned once for its blank line, a `Content-Length`
//! body is complete when its bytes are in, and a chunked body is decoded in
//! place as it arrives (each byte is moved at most once), so reading is
//! linear in the reply's size. Every reply is bounded: the head by
//! [`MAX_HEAD`], the whole reply by the limit the host gives
//! ([`HttpError::TooLarge`]).

use core::fmt::Write as _;
use core::ops::Range;

use crate::buf::SliceWriter;
use crate::error::{explain, Error};
use crate::pkiws::{PkiwsError, CONTENT_TYPE};
use crate::xml::XmlError;

/// The longest reply head (status line and headers) raconn reads.
pub const MAX_HEAD: usize = 16 * 1024;

/// The longest chunk-size or trailer line raconn reads.
const MAX_LINE: usize = 1024;

/// What is wrong with a reply's framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum HttpError {
    /// Not an HTTP/1.x status line, a header without a colon, a bad length or chunk.
    Malformed {
        /// What was malformed.
        what: &'static str,
    },
    /// The head did not end within [`MAX_HEAD`] bytes.
    HeadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The reply is longer than the host's limit.
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The connection closed in the middle of the reply.
    EndedEarly {
        /// Bytes received.
        received: usize,
    },
    /// The proxy wants credentials, or refused them (407, 401).
    ProxyAuthRequired,
    /// The proxy refused or failed the CONNECT (its status).
    ProxyRefused {
        /// The proxy's status code.
        status: u16,
    },
    /// No connection to the proxy.
    ProxyUnreachable,
}

explain!(HttpError {
    Malformed { what } => ("RC-HTTP-001", "the CA's reply is not well-formed HTTP/1.1", "check the CA FQDN and port and any proxy between raconn and the CA"), "{what}";
    HeadTooLarge { limit } => ("RC-HTTP-002", "the CA's reply head (status line and headers) is too large", "a PKI Web Services reply head is a few hundred bytes: check the CA FQDN and any proxy between raconn and the CA"), "no end of head within {limit} bytes";
    TooLarge { limit } => ("RC-HTTP-003", "the CA's reply is larger than the reply limit", "the largest real PKI Web Services reply is far below the limit: check the CA FQDN and any proxy; raise max_reply_bytes only if a real reply needs it"), "more than {limit} bytes";
    ProxyAuthRequired => ("RC-HTTP-005", "the proxy wants credentials, or refused the ones given (407, 401)", "give them in the proxy URL (http://user:password@proxy:3128) or the user there and the password in RACONN_PROXY_PASSWORD");
    ProxyRefused { status } => ("RC-HTTP-006", "the proxy refused or failed the CONNECT to the CA", "403: ask for CONNECT to the CA's host and port 443 to be allowed for this machine; 5xx: the proxy could not reach the CA — check its DNS and outbound access"), "proxy status {status}";
    ProxyUnreachable => ("RC-HTTP-007", "no connection to the proxy", "check the proxy URL (raconn.toml `proxy`, else HTTPS_PROXY) and that the proxy runs; add the CA's host to NO_PROXY to go direct");
    EndedEarly { received } => ("RC-HTTP-004", "the connection closed in the middle of the CA's reply", "retry with the same request id; if it persists, check proxies or firewalls between raconn and the CA"), "after {received} bytes";
});

impl HttpError {
    /// A reply cut short may come whole next time; a malformed or oversized one will not.
    pub const fn retryable(&self) -> bool {
        match self {
            Self::EndedEarly { .. } | Self::ProxyUnreachable => true,
            Self::ProxyRefused { status } => *status >= 500,
            _ => false,
        }
    }
}

/// Writes an HTTP `CONNECT host:port` request (RFC 9110 §9.3.6) that opens
/// a tunnel through a proxy; `basic` is the base64 of `user:password` for a
/// `Proxy-Authorization: Basic` header (RFC 7617). Returns the request.
pub fn write_connect<'b>(
    host: &str,
    port: u16,
    basic: Option<&str>,
    user_agent: &str,
    out: &'b mut [u8],
) -> Result<&'b [u8], XmlError> {
    let mut c = SliceWriter::new(out);
    let authority = |c: &mut SliceWriter<'_>| {
        if host.contains(':') {
            let _ = write!(c, "[{host}]:{port}");
        } else {
            let _ = write!(c, "{host}:{port}");
        }
    };
    let _ = write!(c, "CONNECT ");
    authority(&mut c);
    let _ = write!(c, " HTTP/1.1\r\nHost: ");
    authority(&mut c);
    if let Some(b) = basic {
        let _ = write!(c, "\r\nProxy-Authorization: Basic {b}");
    }
    let _ = write!(c, "\r\nUser-Agent: {user_agent}\r\n\r\n");
    let req: &'b [u8] = c
        .finish("CONNECT request")
        .map_err(XmlError::BufferTooSmall)?;
    Ok(req)
}

/// Reads a proxy's answer to CONNECT from the bytes received so far:
/// `Ok(None)` until the head is complete, `Ok(Some(head_len))` when the
/// tunnel is open (2xx), else the proxy's refusal (407: credentials;
/// anything else: [`HttpError::ProxyRefused`] with its status).
pub fn read_connect_reply(buf: &[u8]) -> Result<Option<usize>, HttpError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err(HttpError::HeadTooLarge { limit: MAX_HEAD });
        }
        return Ok(None);
    };
    let head = parse_head(buf.get(..end).unwrap_or(&[]), end + 4)?;
    match head.status {
        200..=299 => Ok(Some(head.len)),
        // 407 asks for credentials; some proxies (tinyproxy) answer wrong
        // ones with 401.
        401 | 407 => Err(HttpError::ProxyAuthRequired),
        status => Err(HttpError::ProxyRefused { status }),
    }
}

/// Writes the request head of a SOAP POST: with `Connection: close`, or
/// with nothing about the connection when `keep_alive` (HTTP/1.1's
/// persistent default). The `Host` header carries the port when it is not
/// 443. Returns the head.
#[allow(clippy::too_many_arguments)]
pub fn write_head<'b>(
    host: &str,
    port: u16,
    path: &str,
    soap_action: &str,
    body_len: usize,
    user_agent: &str,
    keep_alive: bool,
    out: &'b mut [u8],
) -> Result<&'b [u8], XmlError> {
    let mut c = SliceWriter::new(out);
    let bracket = host.contains(':');
    let _ = write!(c, "POST {path} HTTP/1.1\r\nHost: ");
    if bracket {
        let _ = write!(c, "[{host}]");
    } else {
        let _ = write!(c, "{host}");
    }
    if port != 443 {
        let _ = write!(c, ":{port}");
    }
    let _ = write!(
        c,
        "\r\nContent-Type: {CONTENT_TYPE}\r\nSOAPAction: \"{soap_action}\"\r\nContent-Length: {body_len}\r\n{}User-Agent: {user_agent}\r\n\r\n",
        if keep_alive { "" } else { "Connection: close\r\n" }
    );
    let head: &'b [u8] = c.finish("request head").map_err(XmlError::BufferTooSmall)?;
    Ok(head)
}

/// How the reply body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BodyLength {
    /// `Content-Length` bytes.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

/// A parsed reply head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// Bytes of the head including the blank line.
    pub len: usize,
    /// How the body is delimited.
    pub body: BodyLength,
    /// The server keeps the connection open after this reply: HTTP/1.1
    /// without a `Connection: close` (RFC 9112 §9.3; an HTTP/1.0 reply
    /// closes).
    pub persistent: bool,
}

/// Parses a complete head (`head` ends before the blank line; `len` is the
/// head's size including the blank line).
fn parse_head(head: &[u8], len: usize) -> Result<Head, HttpError> {
    let bad = |what| HttpError::Malformed { what };
    let text = core::str::from_utf8(head).map_err(|_| bad("head is not text"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(bad("status line is not HTTP/1.x"));
    }
    let mut persistent = version != "HTTP/1.0";
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..=999).contains(s))
        .ok_or(bad("status code"))?;
    let mut chunked = false;
    let mut length: Option<usize> = None;
    for l in lines {
        let (name, value) = l.split_once(':').ok_or(bad("header line without ':'"))?;
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("content-length") {
            let n = value
                .parse::<usize>()
                .map_err(|_| bad("Content-Length is not a number"))?;
            if length.is_some_and(|m| m != n) {
                return Err(bad("two different Content-Length headers"));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("connection")
            && value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("close"))
        {
            persistent = false;
        }
    }
    let body = match (chunked, length) {
        (true, _) => BodyLength::Chunked,
        (false, Some(n)) => BodyLength::Length(n),
        (false, None) => BodyLength::UntilClose,
    };
    Ok(Head {
        status,
        len,
        body,
        persistent,
    })
}

/// Where a chunked body's decoder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(usize),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// Reading trailer lines after the last chunk.
    Trailer,
    /// The blank line after the trailers was read: the body is complete.
    Done,
}

/// A complete reply: its status and where its body is in the host's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The body, as a range of the buffer given to [`ReplyReader::advance`].
    pub body: Range<usize>,
}

/// Progress of a [`ReplyReader`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Append more bytes (or call [`ReplyReader::on_close`] when the peer closed).
    NeedMore,
    /// The reply is complete.
    Done(Reply),
}

/// A sans-IO reader of one HTTP/1.1 reply (see the module documentation).
#[derive(Debug, Clone)]
pub struct ReplyReader {
    limit: usize,
    scanned: usize,
    head: Option<Head>,
    /// Raw bytes consumed by the chunk decoder.
    read: usize,
    /// End of the decoded body (chunked).
    write: usize,
    chunk: Chunk,
}

impl ReplyReader {
    /// A reader that refuses replies longer than `limit` bytes (head and body).
    pub fn new(limit: usize) -> Self {
        ReplyReader {
            limit,
            scanned: 0,
            head: None,
            read: 0,
            write: 0,
            chunk: Chunk::Size,
        }
    }

    /// The head, once read.
    pub fn head(&self) -> Option<Head> {
        self.head
    }

    /// After [`Progress::Done`] with `filled` bytes received: the server
    /// keeps the connection ([`Head::persistent`]), the body had a length
    /// (not "until close"), and nothing beyond the reply arrived — so the
    /// connection may carry the next request.
    pub fn reusable(&self, filled: usize) -> bool {
        let Some(h) = self.head else { return false };
        h.persistent
            && match h.body {
                BodyLength::Length(n) => h.len.saturating_add(n) == filled,
                BodyLength::Chunked => self.chunk == Chunk::Done && self.read == filled,
                BodyLength::UntilClose => false,
            }
    }

    /// Reads what `buf[..filled]` holds so far. The host appends new bytes
    /// after `filled` and calls again; bytes before `filled` that the reader
    /// has consumed may have been rewritten (chunked bodies are decoded in
    /// place), so the host must not change them.
    pub fn advance(&mut self, buf: &mut [u8], filled: usize) -> Result<Progress, HttpError> {
        let filled = filled.min(buf.len());
        if filled > self.limit {
            return Err(HttpError::TooLarge { limit: self.limit });
        }
        let head = match self.head {
            Some(h) => h,
            None => {
                let from = self.scanned.saturating_sub(3);
                let found = buf
                    .get(from..filled)
                    .and_then(|b| b.windows(4).position(|w| w == b"\r\n\r\n"))
                    .map(|p| from + p);
                let Some(end) = found else {
                    self.scanned = filled;
                    if filled > MAX_HEAD {
                        return Err(HttpError::HeadTooLarge { limit: MAX_HEAD });
                    }
                    return Ok(Progress::NeedMore);
                };
                if end + 4 > MAX_HEAD {
                    return Err(HttpError::HeadTooLarge { limit: MAX_HEAD });
                }
                let h = parse_head(buf.get(..end).unwrap_or(&[]), end + 4)?;
                if let BodyLength::Length(n) = h.body {
                    if h.len.saturating_add(n) > self.limit {
                        return Err(HttpError::TooLarge { limit: self.limit });
                    }
                }
                self.head = Some(h);
                self.read = h.len;
                self.write = h.len;
                h
            }
        };
        match head.body {
            BodyLength::Length(n) if filled >= head.len + n => Ok(Progress::Done(Reply {
                status: head.status,
                body: head.len..head.len + n,
            })),
            BodyLength::Chunked => self.dechunk(buf, filled, head),
            _ => Ok(Progress::NeedMore),
        }
    }

    /// The peer closed the connection after `buf[..filled]`.
    pub fn on_close(&mut self, buf: &mut [u8], filled: usize) -> Result<Reply, Error> {
        if let Progress::Done(r) = self.advance(buf, filled)? {
            return Ok(r);
        }
        match self.head {
            None if filled == 0 => Err(PkiwsError::ConnectionClosed.into()),
            Some(Head {
                status,
                len,
                body: BodyLength::UntilClose,
                ..
            }) => Ok(Reply {
                status,
                body: len..filled,
            }),
            _ => Err(HttpError::EndedEarly { received: filled }.into()),
        }
    }

    fn dechunk(
        &mut self,
        buf: &mut [u8],
        filled: usize,
        head: Head,
    ) -> Result<Progress, HttpError> {
        let bad = |what| HttpError::Malformed { what };
        loop {
            match self.chunk {
                Chunk::Done => {
                    return Ok(Progress::Done(Reply {
                        status: head.status,
                        body: head.len..self.write,
                    }))
                }
                Chunk::Size | Chunk::Trailer => {
                    let rest = buf.get(self.read..filled).unwrap_or(&[]);
                    let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
                        if rest.len() > MAX_LINE {
                            return Err(bad("chunk-size or trailer line too long"));
                        }
                        return Ok(Progress::NeedMore);
                    };
                    let line = rest.get(..eol).unwrap_or(&[]);
                    if line.len() > MAX_LINE {
                        return Err(bad("chunk-size or trailer line too long"));
                    }
                    self.read += eol + 2;
                    if self.chunk == Chunk::Trailer {
                        if line.is_empty() {
                            self.chunk = Chunk::Done;
                            return Ok(Progress::Done(Reply {
                                status: head.status,
                                body: head.len..self.write,
                            }));
                        }
                        continue;
                    }
                    let size_text = line.split(|b| *b == b';').next().unwrap_or(&[]);
                    let size = core::str::from_utf8(size_text)
                        .ok()
                        .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
                        .ok_or(bad("chunk size is not hex"))?;
                    if self.write.saturating_add(size) > self.limit {
                        return Err(HttpError::TooLarge { limit: self.limit });
                    }
                    self.chunk = if size == 0 {
                        Chunk::Trailer
                    } else {
                        Chunk::Data(size)
                    };
                }
                Chunk::Data(left) => {
                    let n = left.min(filled.saturating_sub(self.read));
                    if n == 0 {
                        return Ok(Progress::NeedMore);
                    }
                    buf.copy_within(self.read..self.read + n, self.write);
                    self.read += n;
                    self.write += n;
                    self.chunk = if n == left {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left - n)
                    };
                }
                Chunk::DataEnd => {
                    let Some(two) = buf
                        .get(self.read..self.read + 2)
                        .filter(|_| self.read + 2 <= filled)
                    else {
                        return Ok(Progress::NeedMore);
                    };
                    if two != b"\r\n" {
                        return Err(bad("chunk data not followed by CRLF"));
                    }
                    self.read += 2;
                    self.chunk = Chunk::Size;
                }
            }
        }
    }
}

/// Reads a whole reply held in `buf` (a test and tool helper): the reply as
/// if the peer closed after the last byte.
pub fn read_all(buf: &mut [u8], limit: usize) -> Result<Reply, Error> {
    let n = buf.len();
    ReplyReader::new(limit).on_close(buf, n)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    /// Whether a connection may carry the next request, after a whole reply.
    #[test]
    fn reusable_after_a_whole_persistent_reply_only() {
        let done = |reply: &[u8], extra: &[u8]| {
            let mut buf = [reply, extra].concat();
            let filled = buf.len();
            let mut r = ReplyReader::new(1 << 16);
            let p = r.advance(&mut buf, filled).unwrap();
            assert!(matches!(p, Progress::Done(_)), "{p:?}");
            r.reusable(filled)
        };
        let cl = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        let ch = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        assert!(done(cl, b""));
        assert!(done(ch, b""));
        // Bytes after the reply: the stream is out of step, not reused.
        assert!(!done(cl, b"HTTP/1.1"));
        assert!(!done(ch, b"x"));
        // The server says it closes, in any case and among other tokens.
        assert!(!done(
            b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 0\r\n\r\n",
            b""
        ));
        assert!(done(
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
            b""
        ));
        // HTTP/1.0 closes by default.
        assert!(!done(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", b""));
        // A body until close is never reusable; nor is a reply not yet read.
        let mut buf = *b"HTTP/1.1 200 OK\r\n\r\nbody";
        let mut r = ReplyReader::new(1 << 16);
        assert_eq!(r.advance(&mut buf, 21).unwrap(), Progress::NeedMore);
        assert!(!r.reusable(21));
        assert!(!ReplyReader::new(10).reusable(0));
        // A chunked reply read again after Done stays done.
        let mut buf = ch.to_vec();
        let n = buf.len();
        let mut r = ReplyReader::new(1 << 16);
        let first = r.advance(&mut buf, n).unwrap();
        assert_eq!(r.advance(&mut buf, n).unwrap(), first);
    }

    #[test]
    fn head_round_trip() {
        let mut b = [0u8; 300];
        let h = write_head(
            "ca.example",
            8443,
            "/pki-ws/policyService",
            "urn:x",
            12,
            "raconn/0.1",
            false,
            &mut b,
        )
        .unwrap();
        let s = core::str::from_utf8(h).unwrap();
        assert!(s.starts_with("POST /pki-ws/policyService HTTP/1.1\r\nHost: ca.example:8443\r\n"));
        assert!(s.contains("SOAPAction: \"urn:x\"\r\nContent-Length: 12\r\n"));
        assert!(s.contains("\r\nConnection: close\r\n"));
        let mut k = [0u8; 300];
        let kept = write_head("ca.example", 443, "/p", "a", 0, "u", true, &mut k).unwrap();
        let kept = core::str::from_utf8(kept).unwrap();
        assert!(!kept.contains("Connection"), "{kept}");
        assert!(kept.ends_with("User-Agent: u\r\n\r\n"));
        let mut small = [0u8; 10];
        let need = h.len();
        assert_eq!(
            write_head(
                "ca.example",
                8443,
                "/pki-ws/policyService",
                "urn:x",
                12,
                "raconn/0.1",
                false,
                &mut small
            ),
            Err(XmlError::BufferTooSmall(crate::error::BufferTooSmall {
                buffer: "request head",
                needed: need
            }))
        );
        let mut b = [0u8; 300];
        let h = write_head("2001:db8::1", 443, "/p", "a", 0, "u", false, &mut b).unwrap();
        assert!(core::str::from_utf8(h)
            .unwrap()
            .contains("Host: [2001:db8::1]\r\n"));
    }

    /// Feeds `reply` in pieces of `step` bytes, as a socket would.
    fn feed(reply: &[u8], step: usize, limit: usize) -> Result<(u16, std::vec::Vec<u8>), Error> {
        let mut buf = std::vec![0u8; reply.len()];
        let mut r = ReplyReader::new(limit);
        let mut filled = 0;
        while filled < reply.len() {
            let n = step.min(reply.len() - filled);
            buf[filled..filled + n].copy_from_slice(&reply[filled..filled + n]);
            filled += n;
            if let Progress::Done(rep) = r.advance(&mut buf, filled)? {
                return Ok((rep.status, buf[rep.body].to_vec()));
            }
        }
        let rep = r.on_close(&mut buf, filled)?;
        Ok((rep.status, buf[rep.body].to_vec()))
    }

    #[test]
    fn lengths_chunks_and_close_in_any_piece_size() {
        let cl = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
        let ch = b"HTTP/1.1 500 Err\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n7;x=y\r\n, world\r\n0\r\nX-T: 1\r\n\r\n";
        let uc = b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nuntil close";
        for step in [1, 2, 3, 7, 1000] {
            assert_eq!(feed(cl, step, 1000).unwrap(), (200, b"hello".to_vec()));
            assert_eq!(
                feed(ch, step, 1000).unwrap(),
                (500, b"hello, world".to_vec())
            );
            assert_eq!(
                feed(uc, step, 1000).unwrap(),
                (200, b"until close".to_vec())
            );
        }
    }

    #[test]
    fn refusals() {
        let code = |r: Result<(u16, std::vec::Vec<u8>), Error>| {
            use crate::error::Explain;
            r.unwrap_err().code()
        };
        assert_eq!(code(feed(b"SSH-2.0\r\n\r\n", 4, 100)), "RC-HTTP-001");
        assert_eq!(code(feed(b"HTTP/1.1 abc\r\n\r\n", 4, 100)), "RC-HTTP-001");
        assert_eq!(
            code(feed(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", 4, 100)),
            "RC-HTTP-001"
        );
        assert_eq!(
            code(feed(
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
                4,
                100
            )),
            "RC-HTTP-001"
        );
        assert_eq!(
            code(feed(
                b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n",
                4,
                100
            )),
            "RC-HTTP-003"
        );
        assert_eq!(
            code(feed(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
                4,
                100
            )),
            "RC-HTTP-004"
        );
        assert_eq!(code(feed(b"", 4, 100)), "RC-PKIWS-018");
        assert_eq!(
            code(feed(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                4,
                100
            )),
            "RC-HTTP-001"
        );
        assert_eq!(
            code(feed(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXX0\r\n\r\n",
                4,
                100
            )),
            "RC-HTTP-001"
        );
        // An endless chunked body stops at the limit.
        let mut endless = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..100 {
            endless.extend_from_slice(b"10\r\n0123456789abcdef\r\n");
        }
        assert_eq!(code(feed(&endless, 64, 1000)), "RC-HTTP-003");
        // A head that never ends.
        let mut long = b"HTTP/1.1 200 OK\r\n".to_vec();
        while long.len() <= MAX_HEAD + 10 {
            long.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(code(feed(&long, 512, 1 << 20)), "RC-HTTP-002");
    }

    #[test]
    fn connect_through_a_proxy() {
        let mut b = [0u8; 256];
        let r = write_connect("pki-ws.symauth.com", 443, Some("dTpw"), "raconn/1", &mut b).unwrap();
        assert_eq!(
            core::str::from_utf8(r).unwrap(),
            "CONNECT pki-ws.symauth.com:443 HTTP/1.1\r\nHost: pki-ws.symauth.com:443\r\nProxy-Authorization: Basic dTpw\r\nUser-Agent: raconn/1\r\n\r\n"
        );
        let r = write_connect("2001:db8::1", 8443, None, "raconn/1", &mut b).unwrap();
        assert!(core::str::from_utf8(r)
            .unwrap()
            .starts_with("CONNECT [2001:db8::1]:8443 HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n"));
        let ok = b"HTTP/1.1 200 Connection established\r\nProxy-agent: x\r\n\r\n";
        assert_eq!(read_connect_reply(&ok[..10]), Ok(None));
        assert_eq!(read_connect_reply(ok), Ok(Some(ok.len())));
        let auth = b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=x\r\n\r\n";
        assert_eq!(read_connect_reply(auth), Err(HttpError::ProxyAuthRequired));
        let no = b"HTTP/1.1 403 Access violation\r\nContent-Length: 0\r\n\r\n";
        let e = read_connect_reply(no).unwrap_err();
        assert_eq!(e, HttpError::ProxyRefused { status: 403 });
        assert!(!e.retryable());
        assert!(HttpError::ProxyRefused { status: 502 }.retryable());
        assert_eq!(
            read_connect_reply(&[b'x'; MAX_HEAD + 1]),
            Err(HttpError::HeadTooLarge { limit: MAX_HEAD })
        );
        assert!(matches!(
            read_connect_reply(b"SSH-2.0-x\r\n\r\n"),
            Err(HttpError::Malformed { .. })
        ));
    }
}
