//! XML for the PKI Web Services, without allocation (XML 1.0; SOAP 1.1).
//!
//! - [`XmlWriter`] writes UTF-8 into a caller buffer, escaping `&`, `<`,
//!   `>`, `"` in text and attribute values and refusing control characters
//!   XML 1.0 cannot carry. A short buffer is an error with the size needed.
//! - [`walk`] runs the RustCrypto-independent `xmlparser` tokenizer (no_std,
//!   zero-copy) and reports elements by *local name* with the path of local
//!   names above them, so readers ignore prefixes and default namespaces.
//!   Depth is bounded; text is borrowed and unescaped only when used.

use core::fmt;

use crate::buf::SliceWriter;
use crate::error::{explain, BufferTooSmall};

/// XML failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum XmlError {
    /// A caller buffer too small (how many bytes it needs).
    BufferTooSmall(BufferTooSmall),
    /// A control character (other than tab, LF, CR) in text to write.
    ControlChar { ch: u32 },
    /// The input is not well-formed XML.
    Malformed { offset: usize },
    /// Elements nested deeper than raconn reads.
    TooDeep { offset: usize },
    /// An entity reference raconn does not know (`&foo;`).
    BadEntity { offset: usize },
    /// More repeated elements than the reader keeps.
    TooMany { what: &'static str },
    /// A required element is missing.
    Missing { what: &'static str },
    /// An element's text does not parse as its type (number, boolean, base64).
    BadValue { what: &'static str, offset: usize },
    /// The document is not a SOAP envelope with a body.
    NotSoap,
    /// A clientTransactionID longer than 40 characters.
    TransactionIdTooLong { len: usize },
}

explain!(XmlError {
    ControlChar { ch } => ("RC-XML-002", "a value holds a control character XML cannot carry", "remove the control character from the value (tab, LF and CR are allowed)"), "U+{ch:04X}";
    Malformed { offset } => ("RC-XML-003", "the reply is not well-formed XML", "the CA or a proxy answered with something that is not SOAP: check the host and any proxy"), "at byte {offset}";
    TooDeep { offset } => ("RC-XML-004", "the reply nests elements deeper than raconn reads", "the reply is not a PKI Web Services message: check the host"), "at byte {offset}";
    BadEntity { offset } => ("RC-XML-005", "the reply uses an unknown entity reference", "only the five XML entities and numeric references are allowed; the reply is malformed"), "at byte {offset}";
    TooMany { what } => ("RC-XML-006", "the reply repeats an element more often than raconn keeps", "report this with the saved reply; the profile may be unusually large"), "{what}";
    Missing { what } => ("RC-XML-007", "a required element is missing from the reply", "the reply does not match the PKI Web Services schema; save it and compare it with the schema"), "{what}";
    BadValue { what, offset } => ("RC-XML-008", "an element's text does not parse as its type", "the reply does not match the schema (number, boolean or base64 expected)"), "{what} at byte {offset}";
    NotSoap => ("RC-XML-009", "the reply is not a SOAP envelope with a body", "check the host answers PKI Web Services at /pki-ws/…, not a web page or a proxy error");
    TransactionIdTooLong { len } => ("RC-XML-010", "clientTransactionID is longer than 40 characters", "use an id of at most 40 characters"), "{len} characters";
} delegate {
    BufferTooSmall(b) => b;
});

/// Writes XML into a caller buffer (through [`SliceWriter`]).
pub struct XmlWriter<'b> {
    w: SliceWriter<'b>,
    error: Option<XmlError>,
}

impl<'b> XmlWriter<'b> {
    /// A writer filling `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        XmlWriter {
            w: SliceWriter::new(buf),
            error: None,
        }
    }

    /// Markup written as is (the caller's constant strings).
    pub fn raw(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    fn bytes(&mut self, b: &[u8]) {
        self.w.put(b);
    }

    /// Escaped character data (also safe inside double-quoted attributes).
    pub fn text(&mut self, s: &str) {
        let mut start = 0;
        for (i, c) in s.char_indices() {
            let rep = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\t' | '\n' | '\r' => continue,
                c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                    self.error
                        .get_or_insert(XmlError::ControlChar { ch: c as u32 });
                    continue;
                }
                _ => continue,
            };
            self.raw(s.get(start..i).unwrap_or(""));
            self.raw(rep);
            start = i + c.len_utf8();
        }
        self.raw(s.get(start..).unwrap_or(""));
    }

    /// `<name>text</name>`.
    pub fn leaf(&mut self, name: &str, text: &str) {
        self.raw("<");
        self.raw(name);
        self.raw(">");
        self.text(text);
        self.raw("</");
        self.raw(name);
        self.raw(">");
    }

    /// Base64 of `data` as character data, written straight into the buffer.
    pub fn base64(&mut self, data: &[u8]) {
        // In 48-byte pieces (64 characters), so no scratch beyond the output.
        use base64ct::Encoding;
        let mut out = [0u8; 64];
        let whole = data.len() - data.len() % 3;
        let (body, tail) = data.split_at(whole);
        for c in body.chunks(48).chain(core::iter::once(tail)) {
            if let Ok(t) = base64ct::Base64::encode(c, &mut out) {
                let t = t.as_bytes();
                self.w.put(t);
            }
        }
    }

    /// Bytes written (or needed).
    pub fn position(&self) -> usize {
        self.w.position()
    }

    /// The written document, or the first error (a short buffer names the size needed).
    pub fn finish(self) -> Result<&'b str, XmlError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let out = self.w.finish("output").map_err(XmlError::BufferTooSmall)?;
        let out: &'b [u8] = out;
        core::str::from_utf8(out).map_err(|_| XmlError::Malformed { offset: 0 })
    }
}

/// Checks a clientTransactionID (at most 40 characters, per the schemas).
pub fn check_transaction_id(id: &str) -> Result<(), XmlError> {
    let len = id.chars().count();
    if len > 40 {
        return Err(XmlError::TransactionIdTooLong { len });
    }
    Ok(())
}

/// Borrowed character data, entity references still in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text<'a> {
    /// The raw text.
    pub raw: &'a str,
    /// Byte offset in the document.
    pub offset: usize,
}

impl<'a> Text<'a> {
    /// Trimmed raw text when it holds no entity reference (the common case).
    pub fn plain(&self) -> Option<&'a str> {
        if self.raw.contains('&') {
            None
        } else {
            Some(self.raw.trim())
        }
    }

    /// Writes the unescaped text into `out`.
    pub fn unescape_into<W: fmt::Write>(&self, out: &mut W) -> Result<(), XmlError> {
        let mut rest = self.raw;
        let mut off = self.offset;
        while let Some(i) = rest.find('&') {
            out.write_str(rest.get(..i).unwrap_or(""))
                .map_err(|_| XmlError::BufferTooSmall(BufferTooSmall::output(0)))?;
            let after = rest.get(i + 1..).unwrap_or("");
            let semi = after
                .find(';')
                .ok_or(XmlError::BadEntity { offset: off + i })?;
            let name = after.get(..semi).unwrap_or("");
            let c = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                n => {
                    let v = if let Some(h) = n.strip_prefix("#x").or_else(|| n.strip_prefix("#X")) {
                        u32::from_str_radix(h, 16).ok()
                    } else if let Some(d) = n.strip_prefix('#') {
                        d.parse::<u32>().ok()
                    } else {
                        None
                    };
                    v.and_then(char::from_u32)
                        .ok_or(XmlError::BadEntity { offset: off + i })?
                }
            };
            out.write_char(c)
                .map_err(|_| XmlError::BufferTooSmall(BufferTooSmall::output(0)))?;
            let skip = i + 1 + semi + 1;
            rest = rest.get(skip..).unwrap_or("");
            off += skip;
        }
        out.write_str(rest)
            .map_err(|_| XmlError::BufferTooSmall(BufferTooSmall::output(0)))
    }

    /// Compares the unescaped, trimmed text with `s`.
    pub fn eq_str(&self, s: &str) -> bool {
        match self.plain() {
            Some(p) => p == s,
            None => {
                let mut c = Cmp {
                    want: s.as_bytes(),
                    pos: 0,
                    ok: true,
                };
                self.unescape_into(&mut c).is_ok() && c.ok && c.pos == c.want.len()
            }
        }
    }

    /// Parses the trimmed text as an unsigned number.
    pub fn u32(&self, what: &'static str) -> Result<u32, XmlError> {
        self.raw
            .trim()
            .parse::<u32>()
            .map_err(|_| XmlError::BadValue {
                what,
                offset: self.offset,
            })
    }

    /// Parses the trimmed text as an xs:boolean.
    pub fn bool(&self, what: &'static str) -> Result<bool, XmlError> {
        match self.raw.trim() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(XmlError::BadValue {
                what,
                offset: self.offset,
            }),
        }
    }

    /// Decodes base64 text (any whitespace allowed, as xs:base64Binary) into `out`.
    pub fn base64<'o>(&self, what: &'static str, out: &'o mut [u8]) -> Result<&'o [u8], XmlError> {
        use base64ct::Encoding;
        let chars = self
            .raw
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .count();
        if out.len() < chars {
            return Err(XmlError::BufferTooSmall(BufferTooSmall::output(chars)));
        }
        let mut n = 0;
        for b in self.raw.bytes().filter(|b| !b.is_ascii_whitespace()) {
            if let Some(d) = out.get_mut(n) {
                *d = b;
            }
            n += 1;
        }
        let region = out
            .get_mut(..n)
            .ok_or(XmlError::BufferTooSmall(BufferTooSmall::output(n)))?;
        base64ct::Base64::decode_in_place(region)
            .map(|d| d as &[u8])
            .map_err(|_| XmlError::BadValue {
                what,
                offset: self.offset,
            })
    }
}

struct Cmp<'w> {
    want: &'w [u8],
    pos: usize,
    ok: bool,
}

impl fmt::Write for Cmp<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.pos + s.len();
        match self.want.get(self.pos..end) {
            Some(w) if w == s.as_bytes() => self.pos = end,
            _ => self.ok = false,
        }
        Ok(())
    }
}

/// What [`walk`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// An element starts (its path now ends with `local`).
    Start {
        /// local name
        local: &'a str,
        /// prefix (may be empty)
        prefix: &'a str,
    },
    /// An attribute of the element just started.
    Attr {
        /// local name
        local: &'a str,
        /// prefix (`xmlns` for namespace declarations)
        prefix: &'a str,
        /// value, raw
        value: Text<'a>,
    },
    /// Character data or CDATA inside the current element.
    Text(Text<'a>),
    /// The current element ends.
    End {
        /// local name
        local: &'a str,
    },
}

/// Maximum element depth [`walk`] follows.
pub const MAX_DEPTH: usize = 32;

/// Path of local names from the root to the current element.
pub type Path<'a> = heapless::Vec<&'a str, MAX_DEPTH>;

/// True when `path` ends with the local names `tail`.
pub fn ends_with(path: &[&str], tail: &[&str]) -> bool {
    path.len() >= tail.len()
        && path
            .get(path.len() - tail.len()..)
            .is_some_and(|p| p == tail)
}

/// Walks a document, calling `f` with the current path for every event.
pub fn walk<'a, F>(doc: &'a str, mut f: F) -> Result<(), XmlError>
where
    F: FnMut(&[&'a str], Event<'a>) -> Result<(), XmlError>,
{
    use xmlparser::{ElementEnd, Token, Tokenizer};
    let mut path: Path<'a> = heapless::Vec::new();
    let mut seen_root = false;
    for tok in Tokenizer::from(doc) {
        let tok = tok.map_err(|e| XmlError::Malformed {
            offset: pos_to_offset(doc, e.pos()),
        })?;
        match tok {
            Token::ElementStart {
                prefix,
                local,
                span,
            } => {
                if path.is_empty() && seen_root {
                    return Err(XmlError::Malformed {
                        offset: span.start(),
                    });
                }
                seen_root = true;
                path.push(local.as_str()).map_err(|_| XmlError::TooDeep {
                    offset: span.start(),
                })?;
                f(
                    &path,
                    Event::Start {
                        local: local.as_str(),
                        prefix: prefix.as_str(),
                    },
                )?;
            }
            Token::Attribute {
                prefix,
                local,
                value,
                ..
            } => {
                f(
                    &path,
                    Event::Attr {
                        local: local.as_str(),
                        prefix: prefix.as_str(),
                        value: Text {
                            raw: value.as_str(),
                            offset: value.start(),
                        },
                    },
                )?;
            }
            Token::ElementEnd { end, span } => match end {
                ElementEnd::Open => {}
                ElementEnd::Close(_, local) => {
                    match path.last() {
                        Some(l) if *l == local.as_str() => {}
                        _ => {
                            return Err(XmlError::Malformed {
                                offset: span.start(),
                            })
                        }
                    }
                    f(
                        &path,
                        Event::End {
                            local: local.as_str(),
                        },
                    )?;
                    path.pop();
                }
                ElementEnd::Empty => {
                    let local = path.last().copied().unwrap_or("");
                    f(&path, Event::End { local })?;
                    path.pop();
                }
            },
            Token::Text { text } | Token::Cdata { text, .. } if !path.is_empty() => {
                f(
                    &path,
                    Event::Text(Text {
                        raw: text.as_str(),
                        offset: text.start(),
                    }),
                )?;
            }
            _ => {}
        }
    }
    if !path.is_empty() || !seen_root {
        return Err(XmlError::Malformed { offset: doc.len() });
    }
    Ok(())
}

fn pos_to_offset(doc: &str, p: xmlparser::TextPos) -> usize {
    let mut line = 1u32;
    let mut off = 0usize;
    for (i, l) in doc.split_inclusive('\n').enumerate() {
        if line == p.row {
            return off + (p.col as usize).saturating_sub(1);
        }
        line = i as u32 + 2;
        off += l.len();
    }
    off
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;
    use std::string::String;

    #[test]
    fn writer_escapes_and_reports_size() {
        let mut buf = [0u8; 64];
        let mut w = XmlWriter::new(&mut buf);
        w.leaf("a", "x & <y> \"z\"");
        assert_eq!(
            w.finish().unwrap(),
            "<a>x &amp; &lt;y&gt; &quot;z&quot;</a>"
        );
        let mut small = [0u8; 4];
        let mut w = XmlWriter::new(&mut small);
        w.leaf("a", "hello");
        assert_eq!(
            w.finish(),
            Err(XmlError::BufferTooSmall(BufferTooSmall::output(12)))
        );
        let mut w = XmlWriter::new(&mut buf);
        w.text("a\u{1}b");
        assert_eq!(w.finish(), Err(XmlError::ControlChar { ch: 1 }));
    }

    #[test]
    fn text_unescapes() {
        let t = Text {
            raw: "a &amp; &#x3C;b&#62; &quot;",
            offset: 0,
        };
        let mut s = String::new();
        t.unescape_into(&mut s).unwrap();
        assert_eq!(s, "a & <b> \"");
        assert!(t.eq_str("a & <b> \""));
        assert!(!t.eq_str("a & <b>"));
        let bad = Text {
            raw: "&nope;",
            offset: 5,
        };
        assert_eq!(
            bad.unescape_into(&mut String::new()),
            Err(XmlError::BadEntity { offset: 5 })
        );
        let b = Text {
            raw: " QUJD\n REVG ",
            offset: 0,
        };
        let mut out = [0u8; 16];
        assert_eq!(b.base64("x", &mut out).unwrap(), b"ABCDEF");
    }

    #[test]
    fn walk_tracks_local_names() {
        let doc = "<s:Envelope xmlns:s='u'><s:Body><p:x a='1'>t</p:x><y/></s:Body></s:Envelope>";
        let mut seen = std::vec::Vec::new();
        walk(doc, |p, e| {
            if let Event::Text(t) = e {
                seen.push((p.join("/"), t.raw));
            }
            if let Event::End { local } = e {
                seen.push((p.join("/"), local));
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(seen[0], ("Envelope/Body/x".into(), "t"));
        assert_eq!(seen[2], ("Envelope/Body/y".into(), "y"));
        assert!(matches!(
            walk("<a><b></a>", |_, _| Ok(())),
            Err(XmlError::Malformed { .. })
        ));
        assert!(matches!(
            walk("<a></a><b/>", |_, _| Ok(())),
            Err(XmlError::Malformed { .. })
        ));
    }
}
