//! Distinguished names: certreq-style subject strings in, DER `Name` out,
//! and RFC 4514 display of a DER `Name`.
//!
//! Input follows what `certreq` (CryptoAPI `CertStrToName`, X.500 flavour)
//! and RFC 4514 accept: `CN=Zoë Müller, OU=Sales, O="Contoso, Ltd", C=FR,
//! E=zoe@contoso.com`. RDNs are separated by `,` or `;`, attributes of a
//! multi-valued RDN by `+`. Values may be quoted (`""` inside quotes is one
//! `"`), may use RFC 4514 escapes (`\,`, `\+`, `\"`, `\\`, `\<`, `\>`, `\;`,
//! `\=`, `\#`, `\ ` and `\XX` hex pairs) or be a `#`-prefixed hex BER value.
//! Keys are keywords (case-insensitive) or dotted OIDs (`OID.` prefix optional).
//!
//! Order: as certreq does (CryptoAPI `CertStrToName` without
//! `CERT_NAME_STR_REVERSE_FLAG`), RDNs are encoded in the order they are
//! written, so `C=FR, O=Contoso, CN=x` gives the conventional DER order
//! (C first) and `CN=x, O=Contoso, C=FR` gives CN first. This is the
//! opposite of RFC 4514 string order; [`NameRef::write_rfc4514`] prints
//! that form, while `Display` prints DER order as certreq and openssl do.
//!
//! String types follow RFC 5280 Appendix A / the x509-cert `attr.rs` table:
//! countryName and serialNumber are PrintableString; emailAddress and
//! domainComponent are IA5String; everything else is UTF8String. A character
//! that does not fit its string type is an error naming the attribute.

use core::fmt;

use crate::asn1::{tag, DerError, DerWriter, Reader, Tlv};
use crate::error::explain;
use crate::oid::{self, Oid};

/// The ASN.1 string type used for an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StringKind {
    /// UTF8String
    Utf8,
    /// PrintableString
    Printable,
    /// IA5String
    Ia5,
}

impl StringKind {
    /// The DER tag.
    pub const fn tag(self) -> u8 {
        match self {
            StringKind::Utf8 => tag::UTF8_STRING,
            StringKind::Printable => tag::PRINTABLE_STRING,
            StringKind::Ia5 => tag::IA5_STRING,
        }
    }
}

/// One known attribute type.
#[derive(Debug, Clone, Copy)]
pub struct AttrType {
    /// Keywords accepted on input; the first is used for display.
    pub keywords: &'static [&'static str],
    /// The attribute OID.
    pub oid: Oid,
    /// The string type used to encode it.
    pub kind: StringKind,
}

/// The attribute table.
pub const ATTRS: &[AttrType] = &[
    AttrType {
        keywords: &["CN"],
        oid: oid::CN,
        kind: StringKind::Utf8,
    },
    AttrType {
        keywords: &["SN", "SURNAME"],
        oid: oid::SURNAME,
        kind: StringKind::Utf8,
    },
    AttrType {
        keywords: &["SERIALNUMBER"],
        oid: oid::SERIAL_NUMBER,
        kind: StringKind::Printable,
    },
    AttrType {
        keywords: &["C"],
        oid: oid::COUNTRY,
        kind: StringKind::Printable,
    },
    AttrType {
        keywords: &["L"],
        oid: oid::LOCALITY,
        kind: StringKind::Utf8,
    },
    AttrType {
        keywords: &["ST", "S"],
        oid: oid::STATE,
        kind: StringKind::Utf8,
    },
    AttrType {
        keywords: &["STREET"],
        oid: oid::STREET,
        kind: StringKind::Utf8,
    },
    AttrType {
        keywords: &["O"],
        oid: oid::ORG,
        kind: StringKind::Utf8,
    },
    AttrType {
        keywords: &["OU"],
        oid: oid::ORG_UNIT,
        kind: StringKind::Utf8,
    },
    AttrType {
        keywords: &["T", "TITLE"],
        oid: oid::TITLE,
        kind: StringKind::Utf8,
    },
    AttrType {
        keywords: &["DESCRIPTION"],
        oid: oid::DESCRIPTION,
        kind: StringKind::Utf8,
    },
    AttrType {
        keywords: &["POSTALCODE"],
        oid: oid::POSTAL_CODE,
        kind: StringKind::Utf8,
    },
    AttrType {
        keywords: &["G", "GN", "GIVENNAME"],
        oid: oid::GIVEN_NAME,
        kind: StringKind::Utf8,
    },
    AttrType {
        keywords: &["I", "INITIALS"],
        oid: oid::INITIALS,
        kind: StringKind::Utf8,
    },
    AttrType {
        keywords: &["E", "EMAIL", "EMAILADDRESS"],
        oid: oid::EMAIL,
        kind: StringKind::Ia5,
    },
    AttrType {
        keywords: &["DC"],
        oid: oid::DC,
        kind: StringKind::Ia5,
    },
    AttrType {
        keywords: &["UID"],
        oid: oid::UID,
        kind: StringKind::Utf8,
    },
];

/// Looks an attribute up by keyword (case-insensitive).
pub fn by_keyword(k: &str) -> Option<&'static AttrType> {
    ATTRS
        .iter()
        .find(|a| a.keywords.iter().any(|kw| kw.eq_ignore_ascii_case(k)))
}

/// Looks an attribute up by OID.
pub fn by_oid(o: &Oid) -> Option<&'static AttrType> {
    ATTRS.iter().find(|a| a.oid == *o)
}

/// Short display label for an attribute OID (`CN`, `E`, …) if known.
pub fn short_label(o: &Oid) -> Option<&'static str> {
    by_oid(o).and_then(|a| a.keywords.first().copied())
}

/// Subject-string failures. `pos` is a byte offset into the subject string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum NameError {
    /// No attribute at all.
    Empty,
    /// An attribute without `=`.
    MissingEquals { pos: usize },
    /// A keyword that is not in the table.
    UnknownAttribute { pos: usize },
    /// A dotted OID that does not parse.
    BadOid { pos: usize },
    /// A quote that is never closed.
    UnterminatedQuote { pos: usize },
    /// A backslash not followed by a special character or two hex digits.
    BadEscape { pos: usize },
    /// After unescaping, the value is not UTF-8.
    NotUtf8 { attr: &'static str, pos: usize },
    /// A character outside the PrintableString set.
    NotPrintable {
        attr: &'static str,
        pos: usize,
        ch: char,
    },
    /// A non-ASCII character in an IA5String.
    NotIa5 {
        attr: &'static str,
        pos: usize,
        ch: char,
    },
    /// countryName is not two letters.
    CountryLength { pos: usize },
    /// An attribute with an empty value.
    EmptyValue { attr: &'static str, pos: usize },
    /// A `#` value that is not hex-encoded DER.
    BadHexValue { pos: usize },
    /// Text after a closing quote.
    JunkAfterQuote { pos: usize },
    /// DER encoding failed (buffer).
    Der(DerError),
}

explain!(NameError {
    Empty => ("RC-NAME-001", "subject is empty", "give at least one attribute, e.g. Subject = \"CN=device01\"");
    MissingEquals { pos } => ("RC-NAME-002", "subject attribute has no '='", "write each attribute as KEY=value, separated by commas"), "at byte {pos}";
    UnknownAttribute { pos } => ("RC-NAME-003", "unknown subject attribute keyword", "use CN, O, OU, L, S/ST, C, E, DC, SN, G, I, T, STREET, POSTALCODE, SERIALNUMBER, UID, DESCRIPTION, or a dotted OID"), "at byte {pos}";
    BadOid { pos } => ("RC-NAME-004", "subject attribute OID does not parse", "write the OID in dotted form, e.g. 2.5.4.3=value or OID.2.5.4.3=value"), "at byte {pos}";
    UnterminatedQuote { pos } => ("RC-NAME-005", "quoted subject value is not closed", "close the quote; write a literal quote inside quotes as \"\""), "at byte {pos}";
    BadEscape { pos } => ("RC-NAME-006", "bad backslash escape in subject", "escape only , + \" \\ < > ; = # space, or write a byte as \\XX in hex"), "at byte {pos}";
    NotUtf8 { attr, pos } => ("RC-NAME-007", "subject value is not valid UTF-8 after unescaping", "fix the \\XX escapes so they form UTF-8"), "attribute {attr} at byte {pos}";
    NotPrintable { attr, pos, ch } => ("RC-NAME-008", "character not allowed in a PrintableString attribute", "C and SERIALNUMBER allow only A-Z a-z 0-9 space ' ( ) + , - . / : = ?; remove the character"), "attribute {attr} at byte {pos}: {ch:?} U+{:04X}", *ch as u32;
    NotIa5 { attr, pos, ch } => ("RC-NAME-009", "non-ASCII character in an IA5String attribute", "E and DC must be ASCII: put an internationalised address in the SAN, or the name in CN (UTF8String)"), "attribute {attr} at byte {pos}: {ch:?} U+{:04X}", *ch as u32;
    CountryLength { pos } => ("RC-NAME-010", "country (C) must be a two-letter ISO 3166 code", "write e.g. C=FR"), "at byte {pos}";
    EmptyValue { attr, pos } => ("RC-NAME-011", "subject attribute has an empty value", "give a value or remove the attribute"), "attribute {attr} at byte {pos}";
    BadHexValue { pos } => ("RC-NAME-012", "#-value is not hex-encoded DER", "write #<hex of one DER TLV>, or drop the # to give text"), "at byte {pos}";
    JunkAfterQuote { pos } => ("RC-NAME-013", "text after a closing quote", "put the whole value inside the quotes"), "at byte {pos}";
    Der(e) => ("RC-NAME-014", "the subject is larger than the space for it", "the detail names the bytes it needs: shorten the subject (RFC 5280 limits a CN to 64 characters); on an appliance, raise the request buffer to at least that"), "{e}";
});

impl From<DerError> for NameError {
    fn from(e: DerError) -> Self {
        NameError::Der(e)
    }
}

/// How a value was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueForm {
    /// Plain, with RFC 4514 escapes.
    Plain,
    /// Inside double quotes (`""` and `\x` escapes honoured).
    Quoted,
    /// `#` followed by hex of a DER TLV.
    Hex,
}

/// One attribute as written in the subject string.
#[derive(Debug, Clone, Copy)]
pub struct Ava<'a> {
    /// The attribute type.
    pub oid: Oid,
    /// Label used in errors (`CN`, `C`, or `OID` for OID-form keys).
    pub label: &'static str,
    /// String type to encode with.
    pub kind: StringKind,
    raw: &'a str,
    form: ValueForm,
    /// Byte offset of the value in the subject string.
    pub pos: usize,
}

/// What follows an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sep {
    Plus,
    Next,
    End,
}

/// Tokenizer over a subject string.
struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.s.as_bytes()
    }
    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    fn next_ava(&mut self) -> Result<(Ava<'a>, Sep), NameError> {
        self.skip_ws();
        let kstart = self.pos;
        while let Some(c) = self.peek() {
            if c == b'=' || c == b',' || c == b';' || c == b'+' {
                break;
            }
            self.pos += 1;
        }
        if self.peek() != Some(b'=') {
            return Err(NameError::MissingEquals { pos: kstart });
        }
        let key = self.s.get(kstart..self.pos).unwrap_or("").trim();
        self.pos += 1; // '='
        let (oid, label, kind) = resolve_key(key, kstart)?;
        self.skip_ws();
        let vstart = self.pos;
        let (raw, form) = match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                let start = self.pos;
                loop {
                    match self.peek() {
                        None => return Err(NameError::UnterminatedQuote { pos: vstart }),
                        Some(b'"') if self.bytes().get(self.pos + 1) == Some(&b'"') => {
                            self.pos += 2
                        }
                        Some(b'"') => break,
                        Some(b'\\') => self.pos += 2,
                        Some(_) => self.pos += 1,
                    }
                }
                let raw = self
                    .s
                    .get(start..self.pos)
                    .ok_or(NameError::UnterminatedQuote { pos: vstart })?;
                self.pos += 1;
                self.skip_ws();
                if !matches!(self.peek(), None | Some(b',' | b';' | b'+')) {
                    return Err(NameError::JunkAfterQuote { pos: self.pos });
                }
                (raw, ValueForm::Quoted)
            }
            Some(b'#') => {
                self.pos += 1;
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                    self.pos += 1;
                }
                let raw = self.s.get(start..self.pos).unwrap_or("");
                self.skip_ws();
                if !matches!(self.peek(), None | Some(b',' | b';' | b'+')) {
                    return Err(NameError::BadHexValue { pos: vstart });
                }
                (raw, ValueForm::Hex)
            }
            _ => {
                let start = self.pos;
                let mut last_non_ws = self.pos;
                loop {
                    match self.peek() {
                        None | Some(b',' | b';' | b'+') => break,
                        Some(b'\\') => {
                            self.pos += 2;
                            last_non_ws = self.pos;
                        }
                        Some(b' ' | b'\t') => self.pos += 1,
                        Some(_) => {
                            self.pos += 1;
                            last_non_ws = self.pos;
                        }
                    }
                }
                let end = last_non_ws.min(self.s.len());
                (
                    self.s
                        .get(start..end)
                        .ok_or(NameError::BadEscape { pos: start })?,
                    ValueForm::Plain,
                )
            }
        };
        let sep = match self.peek() {
            None => Sep::End,
            Some(b'+') => Sep::Plus,
            Some(_) => Sep::Next,
        };
        if sep != Sep::End {
            self.pos += 1;
        }
        if raw.is_empty() {
            return Err(NameError::EmptyValue {
                attr: label,
                pos: vstart,
            });
        }
        Ok((
            Ava {
                oid,
                label,
                kind,
                raw,
                form,
                pos: vstart,
            },
            sep,
        ))
    }
}

fn resolve_key(key: &str, pos: usize) -> Result<(Oid, &'static str, StringKind), NameError> {
    let dotted = key
        .strip_prefix("OID.")
        .or_else(|| key.strip_prefix("oid."))
        .unwrap_or(key);
    if dotted.bytes().next().is_some_and(|c| c.is_ascii_digit()) {
        let o = Oid::new(dotted).map_err(|_| NameError::BadOid { pos })?;
        return Ok(match by_oid(&o) {
            Some(a) => (o, a.keywords.first().copied().unwrap_or("OID"), a.kind),
            None => (o, "OID", StringKind::Utf8),
        });
    }
    match by_keyword(key) {
        Some(a) => Ok((a.oid, a.keywords.first().copied().unwrap_or("?"), a.kind)),
        None => Err(NameError::UnknownAttribute { pos }),
    }
}

fn hexval(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl Ava<'_> {
    /// Writes the unescaped value bytes.
    fn write_value(&self, w: &mut DerWriter<'_>) -> Result<(), NameError> {
        let b = self.raw.as_bytes();
        let mut i = 0;
        while let Some(&c) = b.get(i) {
            if c == b'\\' {
                let n = b
                    .get(i + 1)
                    .copied()
                    .ok_or(NameError::BadEscape { pos: self.pos + i })?;
                if let (Some(h), Some(l)) = (hexval(n), b.get(i + 2).copied().and_then(hexval)) {
                    w.byte(h << 4 | l);
                    i += 3;
                } else if matches!(
                    n,
                    b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';' | b'=' | b'#' | b' '
                ) {
                    w.byte(n);
                    i += 2;
                } else {
                    return Err(NameError::BadEscape { pos: self.pos + i });
                }
            } else if c == b'"' && self.form == ValueForm::Quoted && b.get(i + 1) == Some(&b'"') {
                w.byte(b'"');
                i += 2;
            } else {
                w.byte(c);
                i += 1;
            }
        }
        Ok(())
    }

    /// Writes `AttributeTypeAndValue`.
    fn encode(&self, w: &mut DerWriter<'_>) -> Result<(), NameError> {
        let m = w.begin(tag::SEQUENCE);
        w.oid(&self.oid);
        if self.form == ValueForm::Hex {
            if !self.raw.len().is_multiple_of(2) || self.raw.is_empty() {
                return Err(NameError::BadHexValue { pos: self.pos });
            }
            let start = w.position();
            for pair in self.raw.as_bytes().chunks(2) {
                match pair {
                    [h, l] => match (hexval(*h), hexval(*l)) {
                        (Some(h), Some(l)) => w.byte(h << 4 | l),
                        _ => return Err(NameError::BadHexValue { pos: self.pos }),
                    },
                    _ => return Err(NameError::BadHexValue { pos: self.pos }),
                }
            }
            if let Some(v) = w.written_mut(start) {
                if crate::asn1::parse_single(v).is_err() {
                    return Err(NameError::BadHexValue { pos: self.pos });
                }
            }
        } else {
            let vm = w.begin(self.kind.tag());
            self.write_value(w)?;
            if let Some(v) = w.since(&vm) {
                self.check(v)?;
            }
            w.end(vm);
        }
        w.end(m);
        Ok(())
    }

    fn check(&self, v: &[u8]) -> Result<(), NameError> {
        let s = core::str::from_utf8(v).map_err(|_| NameError::NotUtf8 {
            attr: self.label,
            pos: self.pos,
        })?;
        match self.kind {
            StringKind::Utf8 => {}
            StringKind::Printable => {
                if let Some(ch) = s.chars().find(|c| !is_printable(*c)) {
                    return Err(NameError::NotPrintable {
                        attr: self.label,
                        pos: self.pos,
                        ch,
                    });
                }
            }
            StringKind::Ia5 => {
                if let Some(ch) = s.chars().find(|c| !c.is_ascii()) {
                    return Err(NameError::NotIa5 {
                        attr: self.label,
                        pos: self.pos,
                        ch,
                    });
                }
            }
        }
        if self.oid == oid::COUNTRY && s.chars().count() != 2 {
            return Err(NameError::CountryLength { pos: self.pos });
        }
        Ok(())
    }
}

/// True for characters of the ASN.1 PrintableString set.
pub fn is_printable(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            ' ' | '\'' | '(' | ')' | '+' | ',' | '-' | '.' | '/' | ':' | '=' | '?'
        )
}

/// Encodes a subject string as a DER `Name` into `w`.
pub fn encode_subject(subject: &str, w: &mut DerWriter<'_>) -> Result<(), NameError> {
    if subject.trim().is_empty() {
        let m = w.begin(tag::SEQUENCE);
        w.end(m);
        return Err(NameError::Empty);
    }
    let mut lx = Lexer { s: subject, pos: 0 };
    let seq = w.begin(tag::SEQUENCE);
    loop {
        let set = w.begin(tag::SET);
        let last = loop {
            let (ava, sep) = lx.next_ava()?;
            ava.encode(w)?;
            if sep != Sep::Plus {
                break sep;
            }
        };
        w.sort_set(&set)?;
        w.end(set);
        if last == Sep::End {
            break;
        }
    }
    w.end(seq);
    Ok(())
}

/// Encodes a subject string into `buf`, returning the DER `Name`.
pub fn subject_to_der<'b>(subject: &str, buf: &'b mut [u8]) -> Result<&'b [u8], NameError> {
    let mut w = DerWriter::new(buf);
    encode_subject(subject, &mut w)?;
    let n = w.finish()?;
    buf.get(..n).ok_or(NameError::Der(DerError::LogicBug))
}

/// A borrowed DER `Name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameRef<'a> {
    /// The whole `Name` TLV.
    pub der: Tlv<'a>,
}

/// One attribute of a DER name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrRef<'a> {
    /// The attribute type.
    pub oid: Oid,
    /// The value TLV (any string type).
    pub value: Tlv<'a>,
    /// True when this attribute is joined to the previous by `+`.
    pub multi: bool,
}

impl<'a> AttrRef<'a> {
    /// The value as text when it is a UTF8String, PrintableString, IA5String or T61String.
    pub fn text(&self) -> Option<&'a str> {
        match self.value.tag {
            tag::UTF8_STRING | tag::PRINTABLE_STRING | tag::IA5_STRING | tag::T61_STRING => {
                core::str::from_utf8(self.value.value).ok()
            }
            _ => None,
        }
    }
}

impl<'a> NameRef<'a> {
    /// Parses and checks a `Name` TLV.
    pub fn new(der: Tlv<'a>) -> Result<Self, DerError> {
        if der.tag != tag::SEQUENCE {
            return Err(DerError::UnexpectedTag {
                offset: der.offset,
                expected: tag::SEQUENCE,
                found: der.tag,
            });
        }
        let n = NameRef { der };
        n.for_each(|_| Ok(()))?;
        Ok(n)
    }

    /// Visits every attribute in DER order.
    pub fn for_each<F: FnMut(AttrRef<'a>) -> Result<(), DerError>>(
        &self,
        mut f: F,
    ) -> Result<(), DerError> {
        let mut rdns = self.der.reader();
        while !rdns.is_empty() {
            let set = rdns.require(tag::SET)?;
            let mut avas = set.reader();
            let mut first = true;
            while !avas.is_empty() {
                let atv = avas.require(tag::SEQUENCE)?;
                let mut r = atv.reader();
                let o = r.require(tag::OID)?;
                let oid = Oid::from_bytes(o.value)
                    .map_err(|_| DerError::BadValue { offset: o.offset })?;
                let value = r.any()?;
                r.finish()?;
                f(AttrRef {
                    oid,
                    value,
                    multi: !first,
                })?;
                first = false;
            }
        }
        Ok(())
    }

    /// The first attribute of type `oid`, as text.
    pub fn find_text(&self, want: &Oid) -> Option<&'a str> {
        let mut found = None;
        let _ = self.for_each(|a| {
            if found.is_none() && a.oid == *want {
                found = a.text();
            }
            Ok(())
        });
        found
    }

    /// Number of RDNs.
    pub fn rdn_count(&self) -> usize {
        self.der.reader().count_elements().unwrap_or(0)
    }

    /// Writes the name the way certreq and RFC 4514 list it (most specific first),
    /// with `, ` between RDNs and ` + ` inside multi-valued ones.
    pub fn write_rfc4514<W: fmt::Write>(&self, out: &mut W) -> fmt::Result {
        let count = self.rdn_count();
        for i in (0..count).rev() {
            let mut rdns = self.der.reader();
            let mut set = None;
            for _ in 0..=i {
                set = rdns.any().ok();
            }
            let Some(set) = set else {
                return Err(fmt::Error);
            };
            let mut avas = set.reader();
            let mut first = true;
            while let Ok(atv) = avas.any() {
                if !first {
                    out.write_str(" + ")?;
                }
                first = false;
                let mut r = atv.reader();
                let (Ok(o), Ok(v)) = (r.any(), r.any()) else {
                    return Err(fmt::Error);
                };
                match Oid::from_bytes(o.value) {
                    Ok(oid) => match short_label(&oid) {
                        Some(l) => out.write_str(l)?,
                        None => write!(out, "{oid}")?,
                    },
                    Err(_) => out.write_str("?")?,
                }
                out.write_char('=')?;
                write_escaped_value(out, &v)?;
            }
            if i > 0 {
                out.write_str(", ")?;
            }
        }
        Ok(())
    }
}

impl<'a> NameRef<'a> {
    /// Writes the name in DER order (as certreq reads it and openssl prints it),
    /// `, ` between RDNs and ` + ` inside multi-valued ones.
    pub fn write_der_order<W: fmt::Write>(&self, out: &mut W) -> fmt::Result {
        let mut first = true;
        let r = self.for_each(|a| {
            let sep = if first {
                ""
            } else if a.multi {
                " + "
            } else {
                ", "
            };
            first = false;
            write_attr(out, sep, &a).map_err(|_| DerError::LogicBug)
        });
        r.map_err(|_| fmt::Error)
    }
}

fn write_attr<W: fmt::Write>(out: &mut W, sep: &str, a: &AttrRef<'_>) -> fmt::Result {
    out.write_str(sep)?;
    match short_label(&a.oid) {
        Some(l) => out.write_str(l)?,
        None => write!(out, "{}", a.oid)?,
    }
    out.write_char('=')?;
    write_escaped_value(out, &a.value)
}

impl fmt::Display for NameRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_der_order(f)
    }
}

/// Writes text escaped for a subject string (RFC 4514 §2.4): `,+"\\<>;=`
/// always, a leading `#` or space and a trailing space, control characters
/// as `\XX`. What it writes parses back to the same value.
pub fn write_escaped_str<W: fmt::Write>(out: &mut W, s: &str) -> fmt::Result {
    let n = s.chars().count();
    for (i, c) in s.chars().enumerate() {
        let edge_space = c == ' ' && (i == 0 || i + 1 == n);
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || edge_space
            || (i == 0 && c == '#')
        {
            out.write_char('\\')?;
            out.write_char(c)?;
        } else if c.is_control() {
            let mut b = [0u8; 4];
            for x in c.encode_utf8(&mut b).bytes() {
                write!(out, "\\{x:02X}")?;
            }
        } else {
            out.write_char(c)?;
        }
    }
    Ok(())
}

/// Writes an attribute value with RFC 4514 escaping; non-string values, and
/// empty strings (which have no text form a subject string accepts), as
/// `#hex` of the whole value, so what is written always encodes again.
pub fn write_escaped_value<W: fmt::Write>(out: &mut W, v: &Tlv<'_>) -> fmt::Result {
    let text = match v.tag {
        tag::UTF8_STRING | tag::PRINTABLE_STRING | tag::IA5_STRING | tag::T61_STRING => {
            core::str::from_utf8(v.value).ok().filter(|s| !s.is_empty())
        }
        _ => None,
    };
    match text {
        Some(s) => write_escaped_str(out, s),
        None => {
            out.write_char('#')?;
            for b in v.raw {
                write!(out, "{b:02X}")?;
            }
            Ok(())
        }
    }
}

/// Parses a DER `Name` from bytes.
pub fn parse_name(der: &[u8]) -> Result<NameRef<'_>, DerError> {
    let mut r = Reader::new(der);
    let t = r.any()?;
    r.finish()?;
    NameRef::new(t)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;
    use crate::error::BufferTooSmall;
    use std::string::ToString;

    #[test]
    fn empty_values_display_as_hex_and_encode_again() {
        // Found by the `subject` fuzz target: an empty string has no text form.
        for input in ["O=#1300", "O=#0c00"] {
            let mut b = [0u8; 64];
            let der = subject_to_der(input, &mut b).unwrap().to_vec();
            let shown = parse_name(&der).unwrap().to_string();
            assert_eq!(shown.to_ascii_lowercase(), input.to_ascii_lowercase());
            let mut b2 = [0u8; 64];
            assert_eq!(subject_to_der(&shown, &mut b2).unwrap(), &der[..]);
        }
    }
    use std::string::String;

    fn roundtrip(s: &str) -> String {
        let mut buf = [0u8; 1024];
        let der = subject_to_der(s, &mut buf).unwrap();
        let n = parse_name(der).unwrap();
        let mut out = String::new();
        n.write_der_order(&mut out).unwrap();
        out
    }

    #[test]
    fn reference_subject() {
        let s = "CN=Zoë Müller, OU=Sales, O=\"Contoso, Ltd\", C=FR, E=zoe@contoso.com";
        assert_eq!(
            roundtrip(s),
            "CN=Zoë Müller, OU=Sales, O=Contoso\\, Ltd, C=FR, E=zoe@contoso.com"
        );
        let mut buf = [0u8; 512];
        let der = subject_to_der(s, &mut buf).unwrap();
        let n = parse_name(der).unwrap();
        // DER order is string order (certreq): CN first, E last.
        let mut kinds = std::vec::Vec::new();
        n.for_each(|a| {
            kinds.push((a.oid, a.value.tag));
            Ok(())
        })
        .unwrap();
        assert_eq!(kinds[4], (oid::EMAIL, tag::IA5_STRING));
        assert_eq!(kinds[3], (oid::COUNTRY, tag::PRINTABLE_STRING));
        assert_eq!(kinds[0], (oid::CN, tag::UTF8_STRING));
        let mut rfc = String::new();
        n.write_rfc4514(&mut rfc).unwrap();
        assert_eq!(
            rfc,
            "E=zoe@contoso.com, C=FR, O=Contoso\\, Ltd, OU=Sales, CN=Zoë Müller"
        );
    }

    #[test]
    fn escapes_and_multivalue() {
        assert_eq!(
            roundtrip("CN=a\\,b\\2Bc+UID=x, O=\"say \"\"hi\"\"\""),
            "CN=a\\,b\\+c + UID=x, O=say \\\"hi\\\""
        );
        assert_eq!(roundtrip("CN=\\C3\\A9t\\C3\\A9"), "CN=été");
        assert_eq!(roundtrip("OID.2.5.4.3=x; 1.2.3.4=y"), "CN=x, 1.2.3.4=y");
        assert_eq!(roundtrip("CN=#0c03616263"), "CN=abc");
    }

    #[test]
    fn errors_name_attribute() {
        let mut buf = [0u8; 256];
        assert_eq!(
            subject_to_der("CN=x, E=zoë@contoso.com", &mut buf),
            Err(NameError::NotIa5 {
                attr: "E",
                pos: 8,
                ch: 'ë'
            })
        );
        assert_eq!(
            subject_to_der("C=F_", &mut buf),
            Err(NameError::NotPrintable {
                attr: "C",
                pos: 2,
                ch: '_'
            })
        );
        assert_eq!(
            subject_to_der("C=FRA", &mut buf),
            Err(NameError::CountryLength { pos: 2 })
        );
        assert_eq!(
            subject_to_der("CN", &mut buf),
            Err(NameError::MissingEquals { pos: 0 })
        );
        assert_eq!(
            subject_to_der("XX=1", &mut buf),
            Err(NameError::UnknownAttribute { pos: 0 })
        );
        assert_eq!(
            subject_to_der("CN=\"abc", &mut buf),
            Err(NameError::UnterminatedQuote { pos: 3 })
        );
        assert_eq!(
            subject_to_der("CN=a\\qb", &mut buf),
            Err(NameError::BadEscape { pos: 4 })
        );
        assert_eq!(
            subject_to_der("CN=", &mut buf),
            Err(NameError::EmptyValue { attr: "CN", pos: 3 })
        );
        assert_eq!(subject_to_der("", &mut buf), Err(NameError::Empty));
    }

    #[test]
    fn short_buffer_names_size() {
        let mut big = [0u8; 256];
        let n = subject_to_der("CN=device01, O=Contoso", &mut big)
            .unwrap()
            .len();
        let mut small = [0u8; 10];
        assert_eq!(
            subject_to_der("CN=device01, O=Contoso", &mut small),
            Err(NameError::Der(DerError::BufferTooSmall(
                BufferTooSmall::output(n)
            )))
        );
    }
}
