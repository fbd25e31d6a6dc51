//! certreq.ini (`certreq -new` policy file) parsing, as certreq reads it.
//!
//! Sections `[Version]`, `[NewRequest]`, `[EnhancedKeyUsageExtension]`,
//! `[Extensions]` (and `[RequestAttributes]`, accepted and ignored). Keys and
//! section names are case-insensitive. `;` and `//` start a comment outside
//! quotes. Values may be quoted; `""` inside quotes is one `"`.
//! `[Extensions]` takes `2.5.29.17 = "{text}"` followed by
//! `_continue_ = "email=a@b&upn=c@d&"` lines, `2.5.29.19 = "{text}ca=0&pathlength=3"`,
//! `2.5.29.37 = "{text}1.3.6.1.5.5.7.3.2,…"` and `Critical = oid[, oid]`.
//! Keys that have no meaning for raconn (ProviderName, MachineKeySet, KeySpec,
//! …) are accepted and reported as ignored; unknown keys are reported too, so
//! a typo (`KeyLenght`) does not pass silently. A malformed line is an error
//! with its line number. Reference: Microsoft's `certreq` documentation
//! ("certreq -new" INF syntax).

use crate::csr::{CsrSpec, KeyUsageReq, RawExtension, SanSource};
use crate::error::{explain, BufferTooSmall};
use crate::ext;
use crate::oid::{self, Oid};

pub use crate::sig::HashAlgorithm;
pub use crate::spki::KeyKind;

/// Parse failures; `line` is 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum InfError {
    /// A line that is neither a section header, a `key = value` nor a comment.
    Malformed { line: usize },
    /// A quote that is not closed on its line.
    UnterminatedQuote { line: usize },
    /// `key = value` before any `[Section]`.
    OutsideSection { line: usize },
    /// A value that does not parse for its key.
    BadValue { line: usize },
    /// KeyAlgorithm not supported.
    UnsupportedAlgorithm { line: usize },
    /// KeyLength inconsistent with KeyAlgorithm, or an RSA size raconn refuses.
    BadKeyLength { line: usize },
    /// HashAlgorithm not supported (SHA-1, MD5).
    UnsupportedHash { line: usize },
    /// RequestType other than PKCS10.
    UnsupportedRequestType { line: usize },
    /// `_continue_` without a preceding extension.
    OrphanContinue { line: usize },
    /// No `[NewRequest]` section.
    NoNewRequest,
    /// More entries than raconn keeps (EKUs, SAN lines, extensions).
    TooMany { line: usize },
    /// The SAN text does not parse.
    San { line: usize, err: ext::ExtError },
    /// Bytes that are not UTF-8 (and no other encoding was chosen), or a
    /// Windows-1252 byte with no character.
    NotUtf8 { line: usize, byte: usize },
    /// UTF-16 that does not decode (odd length, a lone surrogate).
    BadUtf16 { byte: usize },
    /// A caller buffer too small (how many bytes it needs).
    BufferTooSmall(BufferTooSmall),
}

explain!(InfError {
    Malformed { line } => ("RC-INF-001", "line is not a [Section], a key = value pair or a comment", "fix or comment out the line (comments start with ; or //)"), "line {line}";
    UnterminatedQuote { line } => ("RC-INF-002", "quoted value is not closed on its line", "close the quote; write a literal quote inside quotes as \"\""), "line {line}";
    OutsideSection { line } => ("RC-INF-003", "key = value before any [Section] header", "put [NewRequest] (or the right section) above the line"), "line {line}";
    BadValue { line } => ("RC-INF-004", "value does not parse for its key", "see certreq's documentation for the key; e.g. KeyLength = 2048, KeyUsage = 0xa0, Exportable = TRUE"), "line {line}";
    UnsupportedAlgorithm { line } => ("RC-INF-005", "KeyAlgorithm is not supported", "use RSA, ECDSA_P256 or ECDSA_P384"), "line {line}";
    BadKeyLength { line } => ("RC-INF-006", "KeyLength does not fit KeyAlgorithm", "RSA takes 2048, 3072 or 4096; ECDSA_P256 takes 256 and ECDSA_P384 takes 384 (or leave KeyLength out)"), "line {line}";
    UnsupportedHash { line } => ("RC-INF-007", "HashAlgorithm is not supported", "use SHA256 or SHA384; SHA-1 and MD5 are refused by DigiCert and by raconn"), "line {line}";
    UnsupportedRequestType { line } => ("RC-INF-008", "RequestType is not supported", "use RequestType = PKCS10 (the PKI Platform takes PKCS#10)"), "line {line}";
    OrphanContinue { line } => ("RC-INF-009", "_continue_ line without an extension above it", "put it right after the extension line it continues, e.g. 2.5.29.17 = \"{text}\""), "line {line}";
    NoNewRequest => ("RC-INF-010", "no [NewRequest] section", "add a [NewRequest] section with at least Subject");
    TooMany { line } => ("RC-INF-011", "too many entries of one kind", "raconn keeps at most 16 EKUs, 16 SAN lines and 8 extra extensions"), "line {line}";
    San { line, err } => ("RC-INF-012", "subject alternative name text does not parse", "write {text}email=…&upn=…&dns=… (see the SAN error)"), "line {line}: {err}";
    NotUtf8 { line, byte } => ("RC-INF-014", "the file is neither UTF-8 nor UTF-16 with a byte-order mark", "save it as UTF-8 or Unicode (Notepad: Save As, Encoding), or read it as Windows-1252 (\"ANSI\") with --encoding windows-1252"), "line {line}, byte {byte} of the line";
    BadUtf16 { byte } => ("RC-INF-015", "the UTF-16 text does not decode (a lone surrogate or an odd length)", "save the file again as Unicode or UTF-8"), "byte {byte}";
} delegate {
    BufferTooSmall(b) => b;
});

/// Things the parser accepted but the user should know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum InfWarning {
    /// A known certreq key with no meaning for raconn.
    Ignored { line: usize },
    /// A key raconn does not know (possibly a typo).
    UnknownKey { line: usize },
    /// A section raconn does not know.
    UnknownSection { line: usize },
    /// The same key twice; the last value wins.
    Duplicate { line: usize },
    /// `Exportable = FALSE`: raconn keeps keys as files/tokens it manages.
    NotExportable { line: usize },
}

impl InfWarning {
    /// The line it is about (1-based).
    pub const fn line(&self) -> usize {
        match self {
            Self::Ignored { line }
            | Self::UnknownKey { line }
            | Self::UnknownSection { line }
            | Self::Duplicate { line }
            | Self::NotExportable { line } => *line,
        }
    }
}

explain!(InfWarning {
    Ignored { line } => ("RC-INF-W01", "certreq key has no meaning for raconn and is ignored", "nothing to do; raconn chooses where the key is kept"), "line {line}";
    UnknownKey { line } => ("RC-INF-W02", "unknown key ignored", "check the spelling against certreq's documentation"), "line {line}";
    UnknownSection { line } => ("RC-INF-W03", "unknown section ignored", "check the section name; raconn reads [Version], [NewRequest], [EnhancedKeyUsageExtension], [Extensions]"), "line {line}";
    Duplicate { line } => ("RC-INF-W04", "key given twice; the last value is used", "remove one of the lines"), "line {line}";
    NotExportable { line } => ("RC-INF-W05", "Exportable = FALSE noted", "raconn stores the key as a 0600 PKCS#8 file or on a PKCS#11 token; use a token to keep it unexportable"), "line {line}";
});

/// A value as written (inside its quotes, `""` not yet collapsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfValue<'a> {
    /// The raw text.
    pub raw: &'a str,
    /// Byte offset of `raw` in the file.
    pub offset: usize,
    /// 1-based line.
    pub line: usize,
    /// Whether it was quoted.
    pub quoted: bool,
}

impl<'a> InfValue<'a> {
    /// The value with `""` collapsed; copies into `buf` only when needed.
    pub fn text<'r>(&self, buf: &'r mut [u8]) -> Result<&'r str, InfError>
    where
        'a: 'r,
    {
        if !self.quoted || !self.raw.contains("\"\"") {
            return Ok(self.raw);
        }
        let mut n = 0;
        let mut prev_quote = false;
        let mut needed = 0;
        for b in self.raw.bytes() {
            if b == b'"' && prev_quote {
                prev_quote = false;
                continue;
            }
            prev_quote = b == b'"';
            needed += 1;
            if let Some(d) = buf.get_mut(n) {
                *d = b;
                n += 1;
            }
        }
        if needed > n {
            return Err(InfError::BufferTooSmall(BufferTooSmall::output(needed)));
        }
        let out = buf
            .get(..n)
            .ok_or(InfError::BufferTooSmall(BufferTooSmall::output(needed)))?;
        core::str::from_utf8(out).map_err(|_| InfError::BadValue { line: self.line })
    }
}

/// An extension from `[Extensions]` that raconn passes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtraExtension<'a> {
    /// extnID
    pub oid: Oid,
    /// the value text (base64 of the DER, or `{hex}…`)
    pub value: InfValue<'a>,
}

/// A parsed certreq.ini.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inf<'a> {
    /// `Subject`.
    pub subject: Option<InfValue<'a>>,
    /// `KeyAlgorithm` + `KeyLength` (default RSA 2048).
    pub key: KeyKind,
    /// `HashAlgorithm` (default SHA-256; SHA-384 for P-384 keys).
    pub hash: HashAlgorithm,
    /// `KeyUsage` mask.
    pub key_usage: Option<u16>,
    /// `Exportable`.
    pub exportable: Option<bool>,
    /// `FriendlyName`.
    pub friendly_name: Option<InfValue<'a>>,
    /// `[EnhancedKeyUsageExtension]` OIDs and `2.5.29.37` text.
    pub eku: heapless::Vec<Oid, 16>,
    /// SAN text fragments with their byte offsets (`2.5.29.17` + `_continue_`).
    pub san: heapless::Vec<(&'a str, usize), 16>,
    /// `2.5.29.19` BasicConstraints.
    pub basic_constraints: Option<(bool, Option<u32>)>,
    /// `Critical = …` OIDs.
    pub critical: heapless::Vec<Oid, 8>,
    /// Other `[Extensions]` entries.
    pub extra: heapless::Vec<ExtraExtension<'a>, 8>,
    /// Warnings (first 32).
    pub warnings: heapless::Vec<InfWarning, 32>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    None,
    Version,
    NewRequest,
    Eku,
    Extensions,
    RequestAttributes,
    Unknown,
}

const IGNORED_KEYS: &[&str] = &[
    "ProviderName",
    "ProviderType",
    "MachineKeySet",
    "KeySpec",
    "SMIME",
    "PrivateKeyArchive",
    "UserProtected",
    "UseExistingKeySet",
    "Silent",
    "KeyUsageProperty",
    "KeyProtection",
    "SecurityDescriptor",
    "EncryptionAlgorithm",
    "EncryptionLength",
    "AlternateSignatureAlgorithm",
    "SuppressDefaults",
    "ExportableEncrypted",
    "RenewalCert",
    "KeyContainer",
    "UseExistingKey",
    "CertificateTemplate",
    "LoadDefaultTemplates",
    "PolicyLanguage",
];

/// Splits a line into (content without comment, whether a quote stayed open).
fn strip_comment(line: &str) -> (&str, bool) {
    let b = line.as_bytes();
    let mut in_q = false;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'"' {
            in_q = !in_q;
        } else if !in_q && (c == b';' || (c == b'/' && b.get(i + 1) == Some(&b'/'))) {
            return (line.get(..i).unwrap_or(""), false);
        }
        i += 1;
    }
    (line, in_q)
}

fn value_of<'a>(v: &'a str, offset: usize, line: usize) -> Result<InfValue<'a>, InfError> {
    let t = v.trim();
    let lead = v.len() - v.trim_start().len();
    if let Some(rest) = t.strip_prefix('"') {
        let inner = rest
            .strip_suffix('"')
            .ok_or(InfError::UnterminatedQuote { line })?;
        // Anything after the closing quote (other than a comment) is malformed.
        Ok(InfValue {
            raw: inner,
            offset: offset + lead + 1,
            line,
            quoted: true,
        })
    } else {
        Ok(InfValue {
            raw: t,
            offset: offset + lead,
            line,
            quoted: false,
        })
    }
}

fn parse_bool(s: &str, line: usize) -> Result<bool, InfError> {
    if s.eq_ignore_ascii_case("true") || s == "1" {
        Ok(true)
    } else if s.eq_ignore_ascii_case("false") || s == "0" {
        Ok(false)
    } else {
        Err(InfError::BadValue { line })
    }
}

fn parse_oid(s: &str, line: usize) -> Result<Oid, InfError> {
    let s = s.trim();
    let s = s.strip_prefix("OID.").unwrap_or(s);
    Oid::new(s).map_err(|_| InfError::BadValue { line })
}

/// How to read bytes that carry no byte-order mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TextEncoding {
    /// UTF-8 only: anything else is refused, naming line and byte.
    Utf8,
    /// Windows-1252 ("ANSI" in Notepad) where the bytes are not UTF-8.
    Windows1252,
}

/// What the bytes were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SourceEncoding {
    /// UTF-8 (with or without a byte-order mark).
    Utf8,
    /// UTF-16 little-endian with a byte-order mark (Notepad's "Unicode").
    Utf16Le,
    /// UTF-16 big-endian with a byte-order mark.
    Utf16Be,
    /// Windows-1252, as asked.
    Windows1252,
}

/// Text decoded from a file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded<'b> {
    /// The text (UTF-8).
    pub text: &'b str,
    /// What the bytes were.
    pub source: SourceEncoding,
    /// Windows-1252: the lines (1-based) that held bytes above 0x7F, first 16.
    pub converted_lines: heapless::Vec<usize, 16>,
}

/// Windows-1252 0x80–0x9F (0 where the code page has no character).
const CP1252_HIGH: [u16; 32] = [
    0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
    0x0152, 0, 0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC,
    0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
];

fn put_char(w: &mut crate::buf::SliceWriter<'_>, c: char) {
    let mut b = [0u8; 4];
    w.put(c.encode_utf8(&mut b).as_bytes());
}

/// The line (1-based) and the byte within it (1-based) of offset `at`.
fn line_and_column(b: &[u8], at: usize) -> (usize, usize) {
    let before = b.get(..at).unwrap_or(b);
    let line = 1 + before.iter().filter(|x| **x == b'\n').count();
    let start = before
        .iter()
        .rposition(|x| *x == b'\n')
        .map_or(0, |p| p + 1);
    (line, at - start + 1)
}

/// Decodes a certreq.ini file as certreq reads it: UTF-16 with a
/// byte-order mark (Notepad's "Unicode"), UTF-8 (a byte-order mark is
/// skipped), or — only when `assume` says so — Windows-1252. Bytes that fit
/// none are refused naming line and byte: no replacement character ever
/// reaches a request. `out` needs up to 3 bytes per input byte.
pub fn decode_text<'b>(
    bytes: &[u8],
    assume: TextEncoding,
    out: &'b mut [u8],
) -> Result<Decoded<'b>, InfError> {
    let mut w = crate::buf::SliceWriter::new(out);
    let mut converted_lines = heapless::Vec::new();
    let source = match bytes {
        [0xFF, 0xFE, rest @ ..] | [0xFE, 0xFF, rest @ ..] => {
            let le = bytes.first() == Some(&0xFF);
            if rest.len() % 2 != 0 {
                return Err(InfError::BadUtf16 { byte: bytes.len() });
            }
            let units = rest.chunks_exact(2).map(|p| {
                let (a, b) = (
                    u16::from(p.first().copied().unwrap_or(0)),
                    u16::from(p.get(1).copied().unwrap_or(0)),
                );
                if le {
                    a | (b << 8)
                } else {
                    (a << 8) | b
                }
            });
            for (i, c) in char::decode_utf16(units).enumerate() {
                let c = c.map_err(|_| InfError::BadUtf16 { byte: 2 + 2 * i })?;
                put_char(&mut w, c);
            }
            if le {
                SourceEncoding::Utf16Le
            } else {
                SourceEncoding::Utf16Be
            }
        }
        _ => {
            let b = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
            match core::str::from_utf8(b) {
                Ok(t) => {
                    w.put(t.as_bytes());
                    SourceEncoding::Utf8
                }
                Err(e) => {
                    if assume != TextEncoding::Windows1252 {
                        let (line, byte) = line_and_column(b, e.valid_up_to());
                        return Err(InfError::NotUtf8 { line, byte });
                    }
                    let mut line = 1;
                    for (i, &x) in b.iter().enumerate() {
                        let c = match x {
                            0..=0x7F => char::from(x),
                            0x80..=0x9F => {
                                let u =
                                    CP1252_HIGH.get(usize::from(x - 0x80)).copied().unwrap_or(0);
                                char::from_u32(u32::from(u)).filter(|_| u != 0).ok_or_else(
                                    || {
                                        let (line, byte) = line_and_column(b, i);
                                        InfError::NotUtf8 { line, byte }
                                    },
                                )?
                            }
                            _ => char::from(x),
                        };
                        if x > 0x7F && converted_lines.last() != Some(&line) {
                            let _ = converted_lines.push(line);
                        }
                        if x == b'\n' {
                            line += 1;
                        }
                        put_char(&mut w, c);
                    }
                    SourceEncoding::Windows1252
                }
            }
        }
    };
    let out = w.finish("text").map_err(InfError::BufferTooSmall)?;
    let out: &'b [u8] = out;
    let text = core::str::from_utf8(out).map_err(|_| InfError::BadUtf16 { byte: 0 })?;
    Ok(Decoded {
        text,
        source,
        converted_lines,
    })
}

/// Parses a certreq.ini text.
pub fn parse(text: &str) -> Result<Inf<'_>, InfError> {
    let mut inf = Inf {
        subject: None,
        key: KeyKind::Rsa(2048),
        hash: HashAlgorithm::Sha256,
        key_usage: None,
        exportable: None,
        friendly_name: None,
        eku: heapless::Vec::new(),
        san: heapless::Vec::new(),
        basic_constraints: None,
        critical: heapless::Vec::new(),
        extra: heapless::Vec::new(),
        warnings: heapless::Vec::new(),
    };
    let mut section = Section::None;
    let mut saw_new_request = false;
    let mut key_alg: Option<(&str, usize)> = None;
    let mut key_len: Option<(u32, usize)> = None;
    let mut hash: Option<(HashAlgorithm, usize)> = None;
    let mut seen: heapless::Vec<(&str, usize), 48> = heapless::Vec::new();
    // Which multi-line extension `_continue_` extends.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Cont {
        None,
        San,
        Eku,
        Bc,
    }
    let mut cont = Cont::None;
    let body = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut offset = text.len() - body.len();
    for (idx, raw_line) in body.split('\n').enumerate() {
        let line_no = idx + 1;
        let line_off = offset;
        offset += raw_line.len() + 1;
        let raw_line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        let (content, open) = strip_comment(raw_line);
        if open {
            return Err(InfError::UnterminatedQuote { line: line_no });
        }
        let t = content.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(h) = t.strip_prefix('[') {
            let name = h
                .strip_suffix(']')
                .ok_or(InfError::Malformed { line: line_no })?
                .trim();
            section = match name {
                n if n.eq_ignore_ascii_case("Version") => Section::Version,
                n if n.eq_ignore_ascii_case("NewRequest") => {
                    saw_new_request = true;
                    Section::NewRequest
                }
                n if n.eq_ignore_ascii_case("EnhancedKeyUsageExtension") => Section::Eku,
                n if n.eq_ignore_ascii_case("Extensions") => Section::Extensions,
                n if n.eq_ignore_ascii_case("RequestAttributes") => Section::RequestAttributes,
                _ => {
                    let _ = inf
                        .warnings
                        .push(InfWarning::UnknownSection { line: line_no });
                    Section::Unknown
                }
            };
            cont = Cont::None;
            continue;
        }
        let eq = content
            .find('=')
            .ok_or(InfError::Malformed { line: line_no })?;
        let key = content.get(..eq).unwrap_or("").trim();
        if key.is_empty() || key.contains(|c: char| c.is_whitespace() || c == '"') {
            return Err(InfError::Malformed { line: line_no });
        }
        let vraw = content.get(eq + 1..).unwrap_or("");
        let value = value_of(vraw, line_off + eq + 1, line_no)?;
        let v = value.raw;
        let warn = |inf: &mut Inf<'_>, w| {
            let _ = inf.warnings.push(w);
        };
        match section {
            Section::None => return Err(InfError::OutsideSection { line: line_no }),
            Section::Version | Section::RequestAttributes | Section::Unknown => {}
            Section::NewRequest => {
                if seen.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
                    warn(&mut inf, InfWarning::Duplicate { line: line_no });
                } else {
                    let _ = seen.push((key, line_no));
                }
                let k = |name: &str| key.eq_ignore_ascii_case(name);
                if k("Subject") {
                    inf.subject = Some(value);
                } else if k("KeyLength") {
                    let n = v
                        .parse::<u32>()
                        .map_err(|_| InfError::BadValue { line: line_no })?;
                    key_len = Some((n, line_no));
                } else if k("KeyAlgorithm") {
                    key_alg = Some((v, line_no));
                } else if k("HashAlgorithm") || k("HashAlgorithmOID") {
                    let h = if v.eq_ignore_ascii_case("sha256") || v == "2.16.840.1.101.3.4.2.1" {
                        HashAlgorithm::Sha256
                    } else if v.eq_ignore_ascii_case("sha384") || v == "2.16.840.1.101.3.4.2.2" {
                        HashAlgorithm::Sha384
                    } else {
                        return Err(InfError::UnsupportedHash { line: line_no });
                    };
                    hash = Some((h, line_no));
                } else if k("KeyUsage") {
                    inf.key_usage = Some(
                        ext::parse_key_usage(v)
                            .map_err(|_| InfError::BadValue { line: line_no })?,
                    );
                } else if k("Exportable") {
                    let b = parse_bool(v, line_no)?;
                    if !b {
                        warn(&mut inf, InfWarning::NotExportable { line: line_no });
                    }
                    inf.exportable = Some(b);
                } else if k("RequestType") {
                    if !v.eq_ignore_ascii_case("PKCS10") {
                        return Err(InfError::UnsupportedRequestType { line: line_no });
                    }
                } else if k("FriendlyName") {
                    inf.friendly_name = Some(value);
                } else if IGNORED_KEYS.iter().any(|i| k(i)) {
                    warn(&mut inf, InfWarning::Ignored { line: line_no });
                } else {
                    warn(&mut inf, InfWarning::UnknownKey { line: line_no });
                }
            }
            Section::Eku => {
                if key.eq_ignore_ascii_case("OID") {
                    let o = parse_oid(v, line_no)?;
                    inf.eku
                        .push(o)
                        .map_err(|_| InfError::TooMany { line: line_no })?;
                } else {
                    warn(&mut inf, InfWarning::UnknownKey { line: line_no });
                }
            }
            Section::Extensions => {
                if key.eq_ignore_ascii_case("_continue_") {
                    match cont {
                        Cont::None => return Err(InfError::OrphanContinue { line: line_no }),
                        Cont::San => inf
                            .san
                            .push((v, value.offset))
                            .map_err(|_| InfError::TooMany { line: line_no })?,
                        Cont::Eku => eku_text(&mut inf, v, line_no)?,
                        Cont::Bc => bc_text(&mut inf, v, line_no)?,
                    }
                } else if key.eq_ignore_ascii_case("Critical") {
                    for part in v.split(',') {
                        if part.trim().is_empty() {
                            continue;
                        }
                        let o = parse_oid(part, line_no)?;
                        inf.critical
                            .push(o)
                            .map_err(|_| InfError::TooMany { line: line_no })?;
                    }
                } else {
                    let o = parse_oid(key, line_no)
                        .map_err(|_| InfError::Malformed { line: line_no })?;
                    let body = strip_text_prefix(v);
                    if o == oid::SUBJECT_ALT_NAME {
                        cont = Cont::San;
                        if let Some(b) = body {
                            let boff = value.offset + (v.len() - b.len());
                            inf.san
                                .push((b, boff))
                                .map_err(|_| InfError::TooMany { line: line_no })?;
                        } else {
                            return Err(InfError::BadValue { line: line_no });
                        }
                    } else if o == oid::EXT_KEY_USAGE {
                        cont = Cont::Eku;
                        eku_text(
                            &mut inf,
                            body.ok_or(InfError::BadValue { line: line_no })?,
                            line_no,
                        )?;
                    } else if o == oid::BASIC_CONSTRAINTS {
                        cont = Cont::Bc;
                        inf.basic_constraints.get_or_insert((false, None));
                        bc_text(
                            &mut inf,
                            body.ok_or(InfError::BadValue { line: line_no })?,
                            line_no,
                        )?;
                    } else if o == oid::KEY_USAGE {
                        cont = Cont::None;
                        let b = body.ok_or(InfError::BadValue { line: line_no })?;
                        inf.key_usage = Some(
                            ext::parse_key_usage(b)
                                .map_err(|_| InfError::BadValue { line: line_no })?,
                        );
                    } else {
                        cont = Cont::None;
                        inf.extra
                            .push(ExtraExtension { oid: o, value })
                            .map_err(|_| InfError::TooMany { line: line_no })?;
                    }
                }
            }
        }
    }
    if !saw_new_request {
        return Err(InfError::NoNewRequest);
    }
    // Key algorithm and length.
    inf.key = match key_alg {
        None => KeyKind::Rsa(key_len.map(|(n, _)| n).unwrap_or(2048)),
        Some((a, _)) if a.eq_ignore_ascii_case("RSA") => {
            KeyKind::Rsa(key_len.map(|(n, _)| n).unwrap_or(2048))
        }
        Some((a, l))
            if a.eq_ignore_ascii_case("ECDSA_P256") || a.eq_ignore_ascii_case("ECDH_P256") =>
        {
            if key_len.is_some_and(|(n, _)| n != 256) {
                return Err(InfError::BadKeyLength {
                    line: key_len.map(|(_, l)| l).unwrap_or(l),
                });
            }
            KeyKind::P256
        }
        Some((a, l))
            if a.eq_ignore_ascii_case("ECDSA_P384") || a.eq_ignore_ascii_case("ECDH_P384") =>
        {
            if key_len.is_some_and(|(n, _)| n != 384) {
                return Err(InfError::BadKeyLength {
                    line: key_len.map(|(_, l)| l).unwrap_or(l),
                });
            }
            KeyKind::P384
        }
        Some((_, l)) => return Err(InfError::UnsupportedAlgorithm { line: l }),
    };
    if let KeyKind::Rsa(n) = inf.key {
        if !matches!(n, 2048 | 3072 | 4096) {
            return Err(InfError::BadKeyLength {
                line: key_len.map(|(_, l)| l).unwrap_or(0),
            });
        }
    }
    inf.hash = match (hash, inf.key) {
        (Some((h, _)), _) => h,
        (None, KeyKind::P384) => HashAlgorithm::Sha384,
        (None, _) => HashAlgorithm::Sha256,
    };
    // Check the SAN text now so errors carry a line number.
    for (frag, off) in inf.san.iter() {
        for item in ext::SanText::new(frag, *off) {
            item.map_err(|err| InfError::San {
                line: line_of(text, *off),
                err,
            })?;
        }
    }
    Ok(inf)
}

fn strip_text_prefix(v: &str) -> Option<&str> {
    let t = v.trim_start();
    match t.get(..6) {
        Some(p) if p.eq_ignore_ascii_case("{text}") => t.get(6..),
        _ => None,
    }
}

fn eku_text(inf: &mut Inf<'_>, v: &str, line: usize) -> Result<(), InfError> {
    for part in v.split([',', '&']) {
        if part.trim().is_empty() {
            continue;
        }
        let o = parse_oid(part, line)?;
        inf.eku.push(o).map_err(|_| InfError::TooMany { line })?;
    }
    Ok(())
}

fn bc_text(inf: &mut Inf<'_>, v: &str, line: usize) -> Result<(), InfError> {
    let (mut ca, mut pl) = inf.basic_constraints.unwrap_or((false, None));
    for part in v.split('&') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, val) = part.split_once('=').ok_or(InfError::BadValue { line })?;
        let (k, val) = (k.trim(), val.trim());
        if k.eq_ignore_ascii_case("ca") {
            ca = parse_bool(val, line)?;
        } else if k.eq_ignore_ascii_case("pathlength") {
            pl = Some(
                val.parse::<u32>()
                    .map_err(|_| InfError::BadValue { line })?,
            );
        } else {
            return Err(InfError::BadValue { line });
        }
    }
    inf.basic_constraints = Some((ca, pl));
    Ok(())
}

/// 1-based line number of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

impl<'a> Inf<'a> {
    /// Decodes the other `[Extensions]` entries (base64 of the DER value, as
    /// certreq takes them, or `{hex}…`) into `buf`; set the result as
    /// [`CsrSpec::extra`].
    pub fn decode_extra<'r>(
        &self,
        buf: &'r mut [u8],
    ) -> Result<heapless::Vec<RawExtension<'r>, 8>, InfError> {
        let mut out = heapless::Vec::new();
        let mut rest: &'r mut [u8] = buf;
        for x in &self.extra {
            let line = x.value.line;
            let v = x.value.raw.trim();
            let hex = v
                .get(..5)
                .filter(|p| p.eq_ignore_ascii_case("{hex}"))
                .and(v.get(5..));
            let n = match hex {
                Some(h) => crate::hex::decode_loose(h, rest)
                    .map_err(|_| InfError::BadValue { line })?
                    .len(),
                None => <base64ct::Base64 as base64ct::Encoding>::decode(v, rest)
                    .map_err(|_| InfError::BadValue { line })?
                    .len(),
            };
            let (der, remaining) = core::mem::take(&mut rest).split_at_mut(n);
            rest = remaining;
            let der: &'r [u8] = der;
            crate::asn1::parse_single(der).map_err(|_| InfError::BadValue { line })?;
            out.push(RawExtension {
                oid: x.oid,
                critical: false,
                value: der,
            })
            .map_err(|_| InfError::TooMany { line })?;
        }
        Ok(out)
    }

    /// A [`CsrSpec`] for this request. `subject_buf` holds the subject when it
    /// contains doubled quotes. KeyUsage is marked critical, as certreq does.
    pub fn csr_spec<'r>(&'r self, subject_buf: &'r mut [u8]) -> Result<CsrSpec<'r>, InfError> {
        let subject = match &self.subject {
            Some(v) => v.text(subject_buf)?,
            None => "",
        };
        Ok(CsrSpec {
            subject_der: None,
            subject,
            key_usage: self.key_usage.map(|mask| KeyUsageReq {
                mask,
                critical: true,
            }),
            eku: &self.eku,
            san: if self.san.is_empty() {
                SanSource::None
            } else {
                SanSource::Text(&self.san)
            },
            basic_constraints: self.basic_constraints,
            critical: &self.critical,
            extra: &[],
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    /// The RA request file from the reference connector's DigiCert set-up guide.
    pub const REFERENCE: &str = "[Version]\r
Signature=\"$Windows NT$\"\r
\r
[NewRequest]\r
;Change to your,country code, company name and common name\r
Subject = \"C=US, O=Example Company, CN=CompanyName DigiCert MDM RA Cert\"\r
\r
KeySpec = 1\r
KeyLength = 2048\r
Exportable = TRUE\r
MachineKeySet = TRUE\r
SMIME = False\r
PrivateKeyArchive = FALSE\r
UserProtected = FALSE\r
UseExistingKeySet = FALSE\r
ProviderName = \"Microsoft RSA SChannel Cryptographic Provider\"\r
ProviderType = 12\r
RequestType = PKCS10\r
KeyUsage = 0xa0\r
\r
[EnhancedKeyUsageExtension]\r
OID=1.3.6.1.5.5.7.3.2 ; Client Authentication  // Uncomment if you need a mutual TLS authentication\r
\r
;-----------------------------------------------\r
";

    #[test]
    fn encodings_as_certreq_reads_them() {
        let text = "[NewRequest]\r\nSubject = \"O=Contos\u{f6}, CN=x\"\r\n";
        let mut out = [0u8; 256];
        // UTF-16 LE and BE with a byte-order mark, UTF-8 with and without one.
        let le: std::vec::Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(text.encode_utf16().flat_map(|u| u.to_le_bytes()))
            .collect();
        let be: std::vec::Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain(text.encode_utf16().flat_map(|u| u.to_be_bytes()))
            .collect();
        let bom: std::vec::Vec<u8> = [0xEF, 0xBB, 0xBF].into_iter().chain(text.bytes()).collect();
        for (b, src) in [
            (&le, SourceEncoding::Utf16Le),
            (&be, SourceEncoding::Utf16Be),
            (&bom, SourceEncoding::Utf8),
        ] {
            let d = decode_text(b, TextEncoding::Utf8, &mut out).unwrap();
            assert_eq!((d.text, d.source), (text, src));
        }
        let plain = decode_text(text.as_bytes(), TextEncoding::Utf8, &mut out).unwrap();
        assert_eq!((plain.text, plain.source), (text, SourceEncoding::Utf8));
        // "ANSI": refused by default, naming line and byte; read when asked.
        let ansi = b"[NewRequest]\r\nSubject = \"O=Contos\xF6 \x80, CN=x\"\r\n";
        assert_eq!(
            decode_text(ansi, TextEncoding::Utf8, &mut out).map(|d| d.source),
            Err(InfError::NotUtf8 { line: 2, byte: 20 })
        );
        let d = decode_text(ansi, TextEncoding::Windows1252, &mut out).unwrap();
        assert_eq!(
            d.text,
            "[NewRequest]\r\nSubject = \"O=Contos\u{f6} \u{20ac}, CN=x\"\r\n"
        );
        assert_eq!(d.source, SourceEncoding::Windows1252);
        assert_eq!(&d.converted_lines[..], &[2][..]);
        // A byte with no Windows-1252 character, a lone surrogate, an odd length.
        assert!(matches!(
            decode_text(b"a\x81", TextEncoding::Windows1252, &mut out),
            Err(InfError::NotUtf8 { line: 1, byte: 2 })
        ));
        assert!(matches!(
            decode_text(
                &[0xFF, 0xFE, 0x00, 0xD8, 0x41, 0x00],
                TextEncoding::Utf8,
                &mut out
            ),
            Err(InfError::BadUtf16 { .. })
        ));
        assert!(matches!(
            decode_text(&[0xFF, 0xFE, 0x41], TextEncoding::Utf8, &mut out),
            Err(InfError::BadUtf16 { .. })
        ));
    }

    #[test]
    fn reference_file() {
        let inf = parse(REFERENCE).unwrap();
        assert_eq!(
            inf.subject.unwrap().raw,
            "C=US, O=Example Company, CN=CompanyName DigiCert MDM RA Cert"
        );
        assert_eq!(inf.key, KeyKind::Rsa(2048));
        assert_eq!(inf.hash, HashAlgorithm::Sha256);
        assert_eq!(inf.key_usage, Some(0xa0));
        assert_eq!(inf.exportable, Some(true));
        assert_eq!(&inf.eku[..], &[oid::KP_CLIENT_AUTH]);
        // KeySpec, MachineKeySet, SMIME, PrivateKeyArchive, UserProtected,
        // UseExistingKeySet, ProviderName, ProviderType are reported as ignored.
        let ignored: std::vec::Vec<usize> = inf
            .warnings
            .iter()
            .filter_map(|w| match w {
                InfWarning::Ignored { line } => Some(*line),
                _ => None,
            })
            .collect();
        assert_eq!(ignored, [8, 11, 12, 13, 14, 15, 16, 17]);
        assert_eq!(inf.warnings.len(), 8);
    }

    #[test]
    fn san_and_extensions() {
        let t = "[NewRequest]\nSubject = \"CN=dev, O=\"\"Contoso, Ltd\"\"\"\nKeyAlgorithm = ECDSA_P256\n[Extensions]\n2.5.29.17 = \"{text}\"\n_continue_ = \"email=a@b.com&\"\n_continue_ = \"upn=c@d.local&dns=x.example\"\n2.5.29.19 = \"{text}ca=0&pathlength=0\"\nCritical = 2.5.29.19\n";
        let inf = parse(t).unwrap();
        assert_eq!(inf.key, KeyKind::P256);
        assert_eq!(inf.san.len(), 3);
        assert_eq!(inf.basic_constraints, Some((false, Some(0))));
        assert_eq!(&inf.critical[..], &[oid::BASIC_CONSTRAINTS]);
        let mut buf = [0u8; 64];
        let spec = inf.csr_spec(&mut buf).unwrap();
        assert_eq!(spec.subject, "CN=dev, O=\"Contoso, Ltd\"");
    }

    #[test]
    fn extra_extensions_decode() {
        let t = "[NewRequest]\n[Extensions]\n1.3.6.1.4.1.311.20.2 = \"HggAVQBzAGUAcg==\"\n1.2.3.4 = \"{hex}04 02 ab cd\"\n1.2.3.5 = \"!!\"\n";
        let inf = parse(t).unwrap();
        assert_eq!(inf.extra.len(), 3);
        let mut buf = [0u8; 64];
        assert_eq!(
            inf.decode_extra(&mut buf),
            Err(InfError::BadValue { line: 5 })
        );
        let inf = parse(&t[..t.len() - 15]).unwrap();
        let mut buf = [0u8; 64];
        let x = inf.decode_extra(&mut buf).unwrap();
        assert_eq!(
            x[0].value,
            &[0x1e, 0x08, 0x00, 0x55, 0x00, 0x73, 0x00, 0x65, 0x00, 0x72]
        );
        assert_eq!(x[1].value, &[0x04, 0x02, 0xab, 0xcd]);
    }

    #[test]
    fn errors_carry_line_numbers() {
        assert_eq!(
            parse("[NewRequest]\nSubject \"CN=x\"\n"),
            Err(InfError::Malformed { line: 2 })
        );
        assert_eq!(
            parse("Subject = x\n"),
            Err(InfError::OutsideSection { line: 1 })
        );
        assert_eq!(
            parse("[NewRequest]\nSubject = \"CN=x\n"),
            Err(InfError::UnterminatedQuote { line: 2 })
        );
        assert_eq!(
            parse("[NewRequest]\n\nKeyLength = big\n"),
            Err(InfError::BadValue { line: 3 })
        );
        assert_eq!(
            parse("[NewRequest]\nKeyLength = 1024\n"),
            Err(InfError::BadKeyLength { line: 2 })
        );
        assert_eq!(
            parse("[NewRequest]\nKeyAlgorithm = DSA\n"),
            Err(InfError::UnsupportedAlgorithm { line: 2 })
        );
        assert_eq!(
            parse("[NewRequest]\nHashAlgorithm = SHA1\n"),
            Err(InfError::UnsupportedHash { line: 2 })
        );
        assert_eq!(
            parse("[NewRequest]\nRequestType = CMC\n"),
            Err(InfError::UnsupportedRequestType { line: 2 })
        );
        assert_eq!(
            parse("[Extensions]\n_continue_ = \"x\"\n[NewRequest]\n"),
            Err(InfError::OrphanContinue { line: 2 })
        );
        assert_eq!(parse("[Version]\n"), Err(InfError::NoNewRequest));
        assert!(matches!(
            parse("[NewRequest]\n[Extensions]\n2.5.29.17 = \"{text}\"\n_continue_ = \"mail=x\"\n"),
            Err(InfError::San { line: 4, .. })
        ));
        let inf = parse("[NewRequest]\nKeyLenght = 2048\n").unwrap();
        assert_eq!(&inf.warnings[..], &[InfWarning::UnknownKey { line: 2 }]);
    }
}
