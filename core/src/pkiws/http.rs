//! The HTTP/1.1 framing of a SOAP call (RFC 9112; SOAP 1.1 §6.1), written
//! once for both hosts: the request head for one POST per connection, and a
//! sans-IO reader of the reply head (status, `Content-Length` or
//! `Transfer-Encoding: chunked`, else the body runs to the close) plus an
//! in-place chunked-body decoder. No allocation: the caller owns the buffers.

use core::fmt::Write as _;

use crate::pkiws::{PkiwsError, CONTENT_TYPE};
use crate::xml::XmlError;

struct Cursor<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl core::fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.pos + s.len();
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(s.as_bytes());
        }
        self.pos = end;
        Ok(())
    }
}

/// Writes the request head of a SOAP POST (`Connection: close`). The `Host`
/// header carries the port when it is not 443. Returns the head.
pub fn write_head<'b>(
    host: &str,
    port: u16,
    path: &str,
    soap_action: &str,
    body_len: usize,
    user_agent: &str,
    out: &'b mut [u8],
) -> Result<&'b [u8], XmlError> {
    let mut c = Cursor { buf: out, pos: 0 };
    let _ = write!(c, "POST {path} HTTP/1.1\r\nHost: {host}");
    if port != 443 {
        let _ = write!(c, ":{port}");
    }
    let _ = write!(
        c,
        "\r\nContent-Type: {CONTENT_TYPE}\r\nSOAPAction: \"{soap_action}\"\r\nContent-Length: {body_len}\r\nConnection: close\r\nUser-Agent: {user_agent}\r\n\r\n"
    );
    let n = c.pos;
    c.buf.get(..n).ok_or(XmlError::BufferTooSmall { needed: n })
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
}

/// Reads the reply head from the start of `buf`: `Ok(None)` while the blank
/// line has not arrived, [`PkiwsError::HttpMalformed`] for anything that is
/// not an HTTP/1.x status line and headers.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, PkiwsError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = buf.get(..end).ok_or(PkiwsError::HttpMalformed)?;
    let text = core::str::from_utf8(head).map_err(|_| PkiwsError::HttpMalformed)?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().ok_or(PkiwsError::HttpMalformed)?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(PkiwsError::HttpMalformed);
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..=999).contains(s))
        .ok_or(PkiwsError::HttpMalformed)?;
    let mut body = BodyLength::UntilClose;
    for l in lines {
        let (name, value) = l.split_once(':').ok_or(PkiwsError::HttpMalformed)?;
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("transfer-encoding") {
            if value.to_ascii_lowercase_eq_chunked() {
                body = BodyLength::Chunked;
            }
        } else if name.eq_ignore_ascii_case("content-length") && body != BodyLength::Chunked {
            let n = value
                .parse::<usize>()
                .map_err(|_| PkiwsError::HttpMalformed)?;
            body = BodyLength::Length(n);
        }
    }
    Ok(Some(Head {
        status,
        len: end + 4,
        body,
    }))
}

trait ChunkedName {
    fn to_ascii_lowercase_eq_chunked(&self) -> bool;
}

impl ChunkedName for str {
    fn to_ascii_lowercase_eq_chunked(&self) -> bool {
        self.rsplit(',')
            .next()
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
    }
}

/// Decodes a complete chunked body in place: `Ok(Some(len))` with the data
/// moved to the front, `Ok(None)` while the last chunk has not arrived.
pub fn dechunk(buf: &mut [u8]) -> Result<Option<usize>, PkiwsError> {
    let mut read = 0;
    let mut write = 0;
    loop {
        let rest = buf.get(read..).ok_or(PkiwsError::HttpMalformed)?;
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line = rest.get(..eol).ok_or(PkiwsError::HttpMalformed)?;
        let size_text = line.split(|b| *b == b';').next().unwrap_or(&[]);
        let size_text = core::str::from_utf8(size_text).map_err(|_| PkiwsError::HttpMalformed)?;
        let size =
            usize::from_str_radix(size_text.trim(), 16).map_err(|_| PkiwsError::HttpMalformed)?;
        let data_start = read + eol + 2;
        if size == 0 {
            return Ok(Some(write));
        }
        let data_end = data_start
            .checked_add(size)
            .ok_or(PkiwsError::HttpMalformed)?;
        if buf.len() < data_end + 2 {
            return Ok(None);
        }
        if buf.get(data_end..data_end + 2) != Some(b"\r\n") {
            return Err(PkiwsError::HttpMalformed);
        }
        buf.copy_within(data_start..data_end, write);
        write += size;
        read = data_end + 2;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

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
            &mut b,
        )
        .unwrap();
        let s = core::str::from_utf8(h).unwrap();
        assert!(s.starts_with("POST /pki-ws/policyService HTTP/1.1\r\nHost: ca.example:8443\r\n"));
        assert!(s.contains("SOAPAction: \"urn:x\"\r\nContent-Length: 12\r\n"));
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
                &mut small
            ),
            Err(XmlError::BufferTooSmall { needed: need })
        );
    }

    #[test]
    fn reply_heads() {
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Le"), Ok(None));
        let h = parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
            .unwrap()
            .unwrap();
        assert_eq!((h.status, h.len, h.body), (200, 38, BodyLength::Length(5)));
        let h = parse_head(
            b"HTTP/1.1 500 Err\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.body, BodyLength::Chunked);
        assert_eq!(
            parse_head(b"SSH-2.0\r\n\r\n"),
            Err(PkiwsError::HttpMalformed)
        );
        assert_eq!(
            parse_head(b"HTTP/1.1 abc\r\n\r\n"),
            Err(PkiwsError::HttpMalformed)
        );
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n"),
            Err(PkiwsError::HttpMalformed)
        );
    }

    #[test]
    fn chunked() {
        let mut b = *b"5\r\nhello\r\n7;x=y\r\n, world\r\n0\r\n\r\n";
        let n = dechunk(&mut b).unwrap().unwrap();
        assert_eq!(&b[..n], b"hello, world");
        let mut part = *b"5\r\nhel";
        assert_eq!(dechunk(&mut part), Ok(None));
        let mut bad = *b"zz\r\n";
        assert_eq!(dechunk(&mut bad), Err(PkiwsError::HttpMalformed));
        let mut bad2 = *b"2\r\nabXX0\r\n\r\n";
        assert_eq!(dechunk(&mut bad2), Err(PkiwsError::HttpMalformed));
    }
}
