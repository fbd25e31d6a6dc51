//! X.509 extensions a CSR requests and a certificate carries (RFC 5280 §4.2.1):
//! KeyUsage from a certreq mask, ExtendedKeyUsage, SubjectAltName and
//! BasicConstraints — encoders into a [`DerWriter`] and zero-copy decoders.
//!
//! SubjectAltName covers rfc822Name, dNSName, URI, iPAddress, the Microsoft
//! UPN other-name (1.3.6.1.4.1.311.20.2.3, `[0] EXPLICIT UTF8String`, as in
//! `[MS-WCCE]`), the DS object GUID other-name (1.3.6.1.4.1.311.25.1, an
//! OCTET STRING) and any other-name with a caller-supplied DER value. The
//! certreq `{text}` syntax (`email=a@b&upn=c@d&dns=…&guid=…`) is parsed here.
//! An empty value is always an error: raconn never emits an empty GeneralName.

use core::fmt;
use core::net::IpAddr;

use crate::asn1::{self, tag, DerError, DerWriter, Reader, Tlv};
use crate::error::explain;
use crate::name::NameRef;
use crate::oid::{self, Oid};

/// Kind of a SAN entry, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SanKind {
    /// rfc822Name
    Email,
    /// dNSName
    Dns,
    /// uniformResourceIdentifier
    Uri,
    /// iPAddress
    Ip,
    /// UPN other-name
    Upn,
    /// DS object GUID other-name
    Guid,
    /// Other other-name
    OtherName,
}

impl SanKind {
    /// certreq keyword.
    pub const fn keyword(self) -> &'static str {
        match self {
            SanKind::Email => "email",
            SanKind::Dns => "dns",
            SanKind::Uri => "url",
            SanKind::Ip => "ipaddress",
            SanKind::Upn => "upn",
            SanKind::Guid => "guid",
            SanKind::OtherName => "other-name",
        }
    }
}

/// Extension failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ExtError {
    /// KeyUsage mask does not parse or sets no/unknown bits.
    BadKeyUsage { pos: usize },
    /// A SAN entry with an empty value.
    EmptySanValue { kind: SanKind },
    /// Non-ASCII in an IA5String SAN (email, dns, url).
    NotIa5 { kind: SanKind, ch: char },
    /// An IP address that does not parse.
    BadIp { pos: usize },
    /// A GUID that does not parse.
    BadGuid { pos: usize },
    /// A certreq SAN keyword raconn does not know.
    UnknownSanKey { pos: usize },
    /// A SAN item without `=`.
    MissingEquals { pos: usize },
    /// An other-name value that is not one DER TLV.
    BadOtherNameDer,
    /// No SAN entries at all.
    EmptySan,
    /// Buffer or DER failure.
    Der(DerError),
}

explain!(ExtError {
    BadKeyUsage { pos } => ("RC-EXT-001", "KeyUsage value does not parse", "write a hex mask such as 0xa0 (digitalSignature + keyEncipherment), or CERT_*_KEY_USAGE names joined by |"), "at byte {pos}";
    EmptySanValue { kind } => ("RC-EXT-002", "subject alternative name has an empty value", "give a value, or leave that SAN kind out; for users without a mail attribute use the UPN"), "{}", kind.keyword();
    NotIa5 { kind, ch } => ("RC-EXT-003", "non-ASCII character in an email, DNS or URL SAN", "rfc822Name, dNSName and URI are IA5String: use punycode for DNS names, or put the name in a UPN"), "{}: {ch:?} U+{:04X}", kind.keyword(), *ch as u32;
    BadIp { pos } => ("RC-EXT-004", "IP address SAN does not parse", "write an IPv4 (192.0.2.1) or IPv6 (2001:db8::1) address"), "at byte {pos}";
    BadGuid { pos } => ("RC-EXT-005", "GUID SAN does not parse", "write 32 hex digits, optionally as {8-4-4-4-12} with dashes and braces"), "at byte {pos}";
    UnknownSanKey { pos } => ("RC-EXT-006", "unknown SAN keyword", "use email=, upn=, dns=, url=, ipaddress=, guid="), "at byte {pos}";
    MissingEquals { pos } => ("RC-EXT-007", "SAN item has no '='", "write items as key=value joined by &, e.g. email=a@b.com&upn=a@corp.local"), "at byte {pos}";
    BadOtherNameDer => ("RC-EXT-008", "other-name value is not a single DER value", "give the value as hex of one DER TLV, e.g. 04 10 <16 bytes> for an OCTET STRING");
    EmptySan => ("RC-EXT-009", "subject alternative name extension has no entries", "give at least one SAN entry or drop the extension");
    Der(e) => ("RC-EXT-010", "the extension is larger than the space for it", "the detail names the bytes it needs: shorten the SAN values (real extensions take a few hundred bytes); on an appliance, raise the request buffer to at least that"), "{e}";
});

impl From<DerError> for ExtError {
    fn from(e: DerError) -> Self {
        ExtError::Der(e)
    }
}

/// certreq / CryptoAPI KeyUsage bits (`CERT_*_KEY_USAGE`).
pub mod ku {
    pub const DIGITAL_SIGNATURE: u16 = 0x80;
    pub const NON_REPUDIATION: u16 = 0x40;
    pub const KEY_ENCIPHERMENT: u16 = 0x20;
    pub const DATA_ENCIPHERMENT: u16 = 0x10;
    pub const KEY_AGREEMENT: u16 = 0x08;
    pub const KEY_CERT_SIGN: u16 = 0x04;
    pub const CRL_SIGN: u16 = 0x02;
    pub const ENCIPHER_ONLY: u16 = 0x01;
    pub const DECIPHER_ONLY: u16 = 0x8000;
    /// (mask, RFC 5280 name, CryptoAPI constant)
    pub const NAMES: &[(u16, &str, &str)] = &[
        (
            DIGITAL_SIGNATURE,
            "Digital Signature",
            "CERT_DIGITAL_SIGNATURE_KEY_USAGE",
        ),
        (
            NON_REPUDIATION,
            "Non Repudiation",
            "CERT_NON_REPUDIATION_KEY_USAGE",
        ),
        (
            KEY_ENCIPHERMENT,
            "Key Encipherment",
            "CERT_KEY_ENCIPHERMENT_KEY_USAGE",
        ),
        (
            DATA_ENCIPHERMENT,
            "Data Encipherment",
            "CERT_DATA_ENCIPHERMENT_KEY_USAGE",
        ),
        (
            KEY_AGREEMENT,
            "Key Agreement",
            "CERT_KEY_AGREEMENT_KEY_USAGE",
        ),
        (
            KEY_CERT_SIGN,
            "Certificate Sign",
            "CERT_KEY_CERT_SIGN_KEY_USAGE",
        ),
        (CRL_SIGN, "CRL Sign", "CERT_CRL_SIGN_KEY_USAGE"),
        (
            ENCIPHER_ONLY,
            "Encipher Only",
            "CERT_ENCIPHER_ONLY_KEY_USAGE",
        ),
        (
            DECIPHER_ONLY,
            "Decipher Only",
            "CERT_DECIPHER_ONLY_KEY_USAGE",
        ),
    ];
    /// Every defined bit.
    pub const ALL: u16 = 0x80ff;
}

/// Parses a certreq KeyUsage value: `0xa0`, `160`, or `CERT_… | CERT_…`.
pub fn parse_key_usage(s: &str) -> Result<u16, ExtError> {
    let mut mask = 0u16;
    let mut pos = 0usize;
    for part in s.split('|') {
        let t = part.trim();
        let at = pos + (part.len() - part.trim_start().len());
        pos += part.len() + 1;
        let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            u16::from_str_radix(h, 16).ok()
        } else if t.bytes().all(|b| b.is_ascii_digit()) && !t.is_empty() {
            t.parse::<u16>().ok()
        } else {
            ku::NAMES
                .iter()
                .find(|(_, _, c)| c.eq_ignore_ascii_case(t))
                .map(|(m, _, _)| *m)
        };
        match v {
            Some(v) => mask |= v,
            None => return Err(ExtError::BadKeyUsage { pos: at }),
        }
    }
    if mask == 0 || mask & !ku::ALL != 0 {
        return Err(ExtError::BadKeyUsage { pos: 0 });
    }
    Ok(mask)
}

/// The KeyUsage BIT STRING content bytes for `mask` (unused-bits octet first).
pub fn key_usage_bits(mask: u16) -> ([u8; 3], usize) {
    let b0 = (mask & 0xff) as u8;
    let b1 = (mask >> 8) as u8;
    if b1 != 0 {
        ([b1.trailing_zeros() as u8, b0, b1], 3)
    } else if b0 != 0 {
        ([b0.trailing_zeros() as u8, b0, 0], 2)
    } else {
        ([0, 0, 0], 1)
    }
}

/// Writes a whole `Extension` (RFC 5280 §4.1): `extnID`, `critical` when true,
/// and `extnValue` filled by `body`.
pub fn write_extension<E, F>(
    w: &mut DerWriter<'_>,
    id: &Oid,
    critical: bool,
    body: F,
) -> Result<(), E>
where
    F: FnOnce(&mut DerWriter<'_>) -> Result<(), E>,
{
    let m = w.begin(tag::SEQUENCE);
    w.oid(id);
    if critical {
        w.boolean(true);
    }
    let os = w.begin(tag::OCTET_STRING);
    body(w)?;
    w.end(os);
    w.end(m);
    Ok(())
}

/// KeyUsage extnValue.
pub fn write_key_usage(w: &mut DerWriter<'_>, mask: u16) {
    let (b, n) = key_usage_bits(mask);
    w.tlv(tag::BIT_STRING, b.get(..n).unwrap_or(&[0]));
}

/// ExtendedKeyUsage extnValue.
pub fn write_eku<'o, I: IntoIterator<Item = &'o Oid>>(w: &mut DerWriter<'_>, oids: I) {
    let m = w.begin(tag::SEQUENCE);
    for o in oids {
        w.oid(o);
    }
    w.end(m);
}

/// BasicConstraints extnValue.
pub fn write_basic_constraints(w: &mut DerWriter<'_>, ca: bool, path_len: Option<u32>) {
    let m = w.begin(tag::SEQUENCE);
    if ca {
        w.boolean(true);
    }
    if let Some(p) = path_len {
        w.small_uint(p);
    }
    w.end(m);
}

/// One subject alternative name to encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeneralName<'a> {
    /// rfc822Name
    Email(&'a str),
    /// dNSName
    Dns(&'a str),
    /// uniformResourceIdentifier
    Uri(&'a str),
    /// iPAddress
    Ip(IpAddr),
    /// UPN other-name (UTF8String)
    Upn(&'a str),
    /// DS object GUID other-name, bytes as stored by Active Directory
    Guid([u8; 16]),
    /// Any other-name; `der` is exactly one DER TLV.
    OtherName {
        /// type-id
        oid: Oid,
        /// the value, one TLV
        der: &'a [u8],
    },
}

impl GeneralName<'_> {
    /// Its kind.
    pub fn kind(&self) -> SanKind {
        match self {
            GeneralName::Email(_) => SanKind::Email,
            GeneralName::Dns(_) => SanKind::Dns,
            GeneralName::Uri(_) => SanKind::Uri,
            GeneralName::Ip(_) => SanKind::Ip,
            GeneralName::Upn(_) => SanKind::Upn,
            GeneralName::Guid(_) => SanKind::Guid,
            GeneralName::OtherName { .. } => SanKind::OtherName,
        }
    }

    /// Writes this GeneralName.
    pub fn encode(&self, w: &mut DerWriter<'_>) -> Result<(), ExtError> {
        let ia5 = |w: &mut DerWriter<'_>, t: u8, s: &str, kind: SanKind| {
            if s.is_empty() {
                return Err(ExtError::EmptySanValue { kind });
            }
            if let Some(ch) = s.chars().find(|c| !c.is_ascii()) {
                return Err(ExtError::NotIa5 { kind, ch });
            }
            w.tlv(t, s.as_bytes());
            Ok(())
        };
        match self {
            GeneralName::Email(s) => ia5(w, tag::ctx_prim(1), s, SanKind::Email)?,
            GeneralName::Dns(s) => ia5(w, tag::ctx_prim(2), s, SanKind::Dns)?,
            GeneralName::Uri(s) => ia5(w, tag::ctx_prim(6), s, SanKind::Uri)?,
            GeneralName::Ip(IpAddr::V4(a)) => w.tlv(tag::ctx_prim(7), &a.octets()),
            GeneralName::Ip(IpAddr::V6(a)) => w.tlv(tag::ctx_prim(7), &a.octets()),
            GeneralName::Upn(s) => {
                if s.is_empty() {
                    return Err(ExtError::EmptySanValue { kind: SanKind::Upn });
                }
                let m = w.begin(tag::ctx_cons(0));
                w.oid(&oid::UPN);
                let e = w.begin(tag::ctx_cons(0));
                w.tlv(tag::UTF8_STRING, s.as_bytes());
                w.end(e);
                w.end(m);
            }
            GeneralName::Guid(g) => {
                let m = w.begin(tag::ctx_cons(0));
                w.oid(&oid::DS_OBJECT_GUID);
                let e = w.begin(tag::ctx_cons(0));
                w.tlv(tag::OCTET_STRING, g);
                w.end(e);
                w.end(m);
            }
            GeneralName::OtherName { oid, der } => {
                if der.is_empty() {
                    return Err(ExtError::EmptySanValue {
                        kind: SanKind::OtherName,
                    });
                }
                asn1::parse_single(der).map_err(|_| ExtError::BadOtherNameDer)?;
                let m = w.begin(tag::ctx_cons(0));
                w.oid(oid);
                let e = w.begin(tag::ctx_cons(0));
                w.bytes(der);
                w.end(e);
                w.end(m);
            }
        }
        Ok(())
    }
}

/// SubjectAltName extnValue from any sequence of names.
pub fn write_san<'n, I>(w: &mut DerWriter<'_>, names: I) -> Result<(), ExtError>
where
    I: IntoIterator<Item = Result<GeneralName<'n>, ExtError>>,
{
    let m = w.begin(tag::SEQUENCE);
    let mut n = 0;
    for g in names {
        g?.encode(w)?;
        n += 1;
    }
    if n == 0 {
        return Err(ExtError::EmptySan);
    }
    w.end(m);
    Ok(())
}

/// Parses a GUID (`{f7c3ac41-b8ce-4fb4-aa58-3d1dc0e36b39}` or 32 hex digits)
/// into the byte order Active Directory stores (`objectGUID`): the first three
/// groups little-endian, as Windows lays out a `GUID` struct.
pub fn parse_guid(s: &str) -> Option<[u8; 16]> {
    let mut hex = [0u8; 16];
    let mut n = 0;
    let t = s.trim().trim_start_matches('{').trim_end_matches('}');
    let mut nib: Option<u8> = None;
    for c in t.chars() {
        if c == '-' {
            continue;
        }
        let v = c.to_digit(16)? as u8;
        match nib.take() {
            None => nib = Some(v),
            Some(h) => {
                *hex.get_mut(n)? = h << 4 | v;
                n += 1;
            }
        }
    }
    if n != 16 || nib.is_some() {
        return None;
    }
    let mut g = hex;
    g.get_mut(0..4)?.reverse();
    g.get_mut(4..6)?.reverse();
    g.get_mut(6..8)?.reverse();
    Some(g)
}

/// Iterator over the items of a certreq SAN text (`email=…&upn=…&dns=…`).
///
/// A leading `{text}` is skipped. `base` is added to reported byte offsets.
#[derive(Debug, Clone)]
pub struct SanText<'a> {
    rest: &'a str,
    pos: usize,
}

impl<'a> SanText<'a> {
    /// Starts at `text`, reporting offsets from `base`.
    pub fn new(text: &'a str, base: usize) -> Self {
        let t = text.trim_start();
        let skip = text.len() - t.len();
        let (t, more) = match t.get(..6) {
            Some(p) if p.eq_ignore_ascii_case("{text}") => (t.get(6..).unwrap_or(""), 6),
            _ => (t, 0),
        };
        SanText {
            rest: t,
            pos: base + skip + more,
        }
    }
}

impl<'a> Iterator for SanText<'a> {
    type Item = Result<GeneralName<'a>, ExtError>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let (item, rest, adv) = match self.rest.find('&') {
                Some(i) => (self.rest.get(..i)?, self.rest.get(i + 1..)?, i + 1),
                None => (self.rest, "", self.rest.len()),
            };
            let at = self.pos + (item.len() - item.trim_start().len());
            self.rest = rest;
            self.pos += adv;
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let Some((k, v)) = item.split_once('=') else {
                self.rest = "";
                return Some(Err(ExtError::MissingEquals { pos: at }));
            };
            let k = k.trim();
            let v = v.trim();
            let vpos = at + item.find('=').unwrap_or(0) + 1;
            let r = if k.eq_ignore_ascii_case("email") {
                Ok(GeneralName::Email(v))
            } else if k.eq_ignore_ascii_case("upn") {
                Ok(GeneralName::Upn(v))
            } else if k.eq_ignore_ascii_case("dns") {
                Ok(GeneralName::Dns(v))
            } else if k.eq_ignore_ascii_case("url") || k.eq_ignore_ascii_case("uri") {
                Ok(GeneralName::Uri(v))
            } else if k.eq_ignore_ascii_case("ipaddress") {
                v.parse::<IpAddr>()
                    .map(GeneralName::Ip)
                    .map_err(|_| ExtError::BadIp { pos: vpos })
            } else if k.eq_ignore_ascii_case("guid") {
                parse_guid(v)
                    .map(GeneralName::Guid)
                    .ok_or(ExtError::BadGuid { pos: vpos })
            } else {
                Err(ExtError::UnknownSanKey { pos: at })
            };
            if r.is_err() {
                self.rest = "";
            }
            return Some(r);
        }
    }
}

/// A decoded GeneralName.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeneralNameRef<'a> {
    /// rfc822Name
    Email(&'a str),
    /// dNSName
    Dns(&'a str),
    /// uniformResourceIdentifier
    Uri(&'a str),
    /// iPAddress (4 or 16 bytes; 8 or 32 in name constraints)
    Ip(&'a [u8]),
    /// UPN other-name
    Upn(&'a str),
    /// Any other other-name: type-id and the inner value TLV
    OtherName {
        /// type-id
        oid: Oid,
        /// the explicitly tagged value
        value: Tlv<'a>,
    },
    /// directoryName
    Dir(NameRef<'a>),
    /// registeredID
    Registered(Oid),
    /// x400Address, ediPartyName or undecodable text
    Other(Tlv<'a>),
}

fn ia5_text<'a>(t: &Tlv<'a>) -> Result<&'a str, DerError> {
    if !t.value.is_ascii() {
        return Err(DerError::BadValue { offset: t.offset });
    }
    core::str::from_utf8(t.value).map_err(|_| DerError::BadValue { offset: t.offset })
}

/// Decodes one GeneralName TLV.
pub fn decode_general_name<'a>(t: Tlv<'a>) -> Result<GeneralNameRef<'a>, DerError> {
    Ok(match t.tag {
        0x81 => GeneralNameRef::Email(ia5_text(&t)?),
        0x82 => GeneralNameRef::Dns(ia5_text(&t)?),
        0x86 => GeneralNameRef::Uri(ia5_text(&t)?),
        0x87 => GeneralNameRef::Ip(t.value),
        0x88 => GeneralNameRef::Registered(
            Oid::from_bytes(t.value).map_err(|_| DerError::BadValue { offset: t.offset })?,
        ),
        0xa4 => {
            let mut r = t.reader();
            let n = r.any()?;
            r.finish()?;
            GeneralNameRef::Dir(NameRef::new(n)?)
        }
        0xa0 => {
            let mut r = t.reader();
            let o = r.require(tag::OID)?;
            let oid =
                Oid::from_bytes(o.value).map_err(|_| DerError::BadValue { offset: o.offset })?;
            let wrap = r.require(tag::ctx_cons(0))?;
            r.finish()?;
            let mut inner = wrap.reader();
            let value = inner.any()?;
            inner.finish()?;
            if oid == oid::UPN && value.tag == tag::UTF8_STRING {
                GeneralNameRef::Upn(core::str::from_utf8(value.value).map_err(|_| {
                    DerError::BadValue {
                        offset: value.offset,
                    }
                })?)
            } else {
                GeneralNameRef::OtherName { oid, value }
            }
        }
        _ => GeneralNameRef::Other(t),
    })
}

/// Visits each GeneralName in a SubjectAltName extnValue.
pub fn for_each_san<'a, F>(ext_value: &'a [u8], base: usize, mut f: F) -> Result<(), DerError>
where
    F: FnMut(GeneralNameRef<'a>) -> Result<(), DerError>,
{
    let mut r = Reader::with_base(ext_value, base);
    let seq = r.require(tag::SEQUENCE)?;
    r.finish()?;
    let mut names = seq.reader();
    while !names.is_empty() {
        f(decode_general_name(names.any()?)?)?;
    }
    Ok(())
}

/// Decodes a KeyUsage extnValue into a certreq mask.
pub fn decode_key_usage(ext_value: &[u8], base: usize) -> Result<u16, DerError> {
    let mut r = Reader::with_base(ext_value, base);
    let t = r.require(tag::BIT_STRING)?;
    r.finish()?;
    let (_, bits) = asn1::bit_string(&t)?;
    let b0 = bits.first().copied().unwrap_or(0) as u16;
    let b1 = bits.get(1).copied().unwrap_or(0) as u16;
    Ok(b0 | (b1 << 8))
}

/// Visits each purpose OID in an ExtendedKeyUsage extnValue.
pub fn for_each_eku<F: FnMut(Oid)>(
    ext_value: &[u8],
    base: usize,
    mut f: F,
) -> Result<(), DerError> {
    let mut r = Reader::with_base(ext_value, base);
    let seq = r.require(tag::SEQUENCE)?;
    r.finish()?;
    let mut ids = seq.reader();
    while !ids.is_empty() {
        let o = ids.require(tag::OID)?;
        f(Oid::from_bytes(o.value).map_err(|_| DerError::BadValue { offset: o.offset })?);
    }
    Ok(())
}

/// Decodes BasicConstraints: (cA, pathLenConstraint).
pub fn decode_basic_constraints(
    ext_value: &[u8],
    base: usize,
) -> Result<(bool, Option<u64>), DerError> {
    let mut r = Reader::with_base(ext_value, base);
    let seq = r.require(tag::SEQUENCE)?;
    r.finish()?;
    let mut s = seq.reader();
    let ca = match s.optional(tag::BOOLEAN)? {
        Some(b) => asn1::boolean(&b)?,
        None => false,
    };
    let pl = match s.optional(tag::INTEGER)? {
        Some(i) => Some(asn1::small_uint(&i)?),
        None => None,
    };
    s.finish()?;
    Ok((ca, pl))
}

/// The SID a szOID_NTDS_CA_SECURITY_EXT value carries: GeneralNames with
/// one otherName `1.3.6.1.4.1.311.25.2.1` whose value is an OCTET STRING
/// of the SID's text (KB5014754; service.md §5).
pub fn decode_sid_extension(value: &[u8], base: usize) -> Result<&str, DerError> {
    let mut sid = None;
    for_each_san(value, base, |g| {
        if let GeneralNameRef::OtherName { oid: o, value: v } = g {
            if o == crate::oid::NTDS_OBJECTSID && v.tag == tag::OCTET_STRING && sid.is_none() {
                sid = Some(
                    core::str::from_utf8(v.value)
                        .map_err(|_| DerError::BadValue { offset: v.offset })?,
                );
            }
        }
        Ok(())
    })?;
    sid.ok_or(DerError::BadValue { offset: base })
}

/// Writes a GeneralName for a person: `email:…`, `UPN:…`, `DS Object GUID:0412…`.
pub fn write_general_name<W: fmt::Write>(out: &mut W, g: &GeneralNameRef<'_>) -> fmt::Result {
    match g {
        GeneralNameRef::Email(s) => write!(out, "email:{s}"),
        GeneralNameRef::Dns(s) => write!(out, "DNS:{s}"),
        GeneralNameRef::Uri(s) => write!(out, "URI:{s}"),
        GeneralNameRef::Ip(b) => match (<[u8; 4]>::try_from(*b), <[u8; 16]>::try_from(*b)) {
            (Ok(a), _) => write!(out, "IP Address:{}", core::net::Ipv4Addr::from(a)),
            (_, Ok(a)) => write!(out, "IP Address:{}", core::net::Ipv6Addr::from(a)),
            _ => {
                out.write_str("IP Address:<invalid ")?;
                crate::hex::write_upper(out, b)?;
                out.write_str(">")
            }
        },
        GeneralNameRef::Upn(s) => write!(out, "UPN:{s}"),
        GeneralNameRef::OtherName { oid, value } => {
            match oid::label(oid) {
                Some(l) => write!(out, "{l}:")?,
                None => write!(out, "othername:{oid}:")?,
            }
            crate::hex::write_upper(out, value.raw)
        }
        GeneralNameRef::Dir(n) => write!(out, "DirName:{n}"),
        GeneralNameRef::Registered(o) => write!(out, "Registered ID:{o}"),
        GeneralNameRef::Other(t) => {
            write!(out, "[tag 0x{:02x}]:", t.tag)?;
            crate::hex::write_upper(out, t.value)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;
    use std::vec::Vec;

    #[test]
    fn key_usage_a0() {
        assert_eq!(parse_key_usage("0xa0"), Ok(0xa0));
        assert_eq!(parse_key_usage("160"), Ok(0xa0));
        assert_eq!(
            parse_key_usage("CERT_DIGITAL_SIGNATURE_KEY_USAGE | CERT_KEY_ENCIPHERMENT_KEY_USAGE"),
            Ok(0xa0)
        );
        assert!(parse_key_usage("0x0").is_err());
        assert!(parse_key_usage("0x10000").is_err());
        let mut buf = [0u8; 8];
        let mut w = DerWriter::new(&mut buf);
        write_key_usage(&mut w, 0xa0);
        let n = w.finish().unwrap();
        assert_eq!(&buf[..n], &[0x03, 0x02, 0x05, 0xa0]);
        assert_eq!(decode_key_usage(&buf[..n], 0), Ok(0xa0));
        let mut w = DerWriter::new(&mut buf);
        write_key_usage(&mut w, 0x8001);
        let n = w.finish().unwrap();
        assert_eq!(&buf[..n], &[0x03, 0x03, 0x07, 0x01, 0x80]);
        assert_eq!(decode_key_usage(&buf[..n], 0), Ok(0x8001));
    }

    #[test]
    fn san_text_roundtrip() {
        let items: Vec<_> =
            SanText::new("{text}email=a@b.com&upn=c@d.local&dns=x.example&ipaddress=192.0.2.1&guid={f7c3ac41-b8ce-4fb4-aa58-3d1dc0e36b39}&", 0)
                .collect::<Result<_, _>>()
                .unwrap();
        assert_eq!(items.len(), 5);
        assert_eq!(items[0], GeneralName::Email("a@b.com"));
        assert_eq!(
            items[4],
            GeneralName::Guid([
                0x41, 0xac, 0xc3, 0xf7, 0xce, 0xb8, 0xb4, 0x4f, 0xaa, 0x58, 0x3d, 0x1d, 0xc0, 0xe3,
                0x6b, 0x39
            ])
        );
        let mut buf = [0u8; 256];
        let mut w = DerWriter::new(&mut buf);
        write_san(&mut w, items.iter().copied().map(Ok)).unwrap();
        let n = w.finish().unwrap();
        let mut back = Vec::new();
        for_each_san(&buf[..n], 0, |g| {
            let mut s = std::string::String::new();
            write_general_name(&mut s, &g).unwrap();
            back.push(s);
            Ok(())
        })
        .unwrap();
        assert_eq!(
            back,
            [
                "email:a@b.com",
                "UPN:c@d.local",
                "DNS:x.example",
                "IP Address:192.0.2.1",
                "DS Object GUID:041041ACC3F7CEB8B44FAA583D1DC0E36B39"
            ]
        );
    }

    #[test]
    fn san_errors() {
        let e: Result<Vec<_>, _> = SanText::new("email=&upn=x", 10).collect();
        assert!(e.is_ok()); // parsing accepts; encoding refuses the empty value
        let mut buf = [0u8; 64];
        let mut w = DerWriter::new(&mut buf);
        assert_eq!(
            write_san(&mut w, SanText::new("email=", 0)),
            Err(ExtError::EmptySanValue {
                kind: SanKind::Email
            })
        );
        assert_eq!(
            SanText::new("foo=1", 3).next(),
            Some(Err(ExtError::UnknownSanKey { pos: 3 }))
        );
        assert_eq!(
            SanText::new("email", 0).next(),
            Some(Err(ExtError::MissingEquals { pos: 0 }))
        );
        assert_eq!(
            SanText::new("ipaddress=1.2.3", 0).next(),
            Some(Err(ExtError::BadIp { pos: 10 }))
        );
        let mut w = DerWriter::new(&mut buf);
        assert_eq!(
            GeneralName::Email("zoë@x.fr").encode(&mut w),
            Err(ExtError::NotIa5 {
                kind: SanKind::Email,
                ch: 'ë'
            })
        );
    }
}

/// One extension as found in a certificate or a CSR's extensionRequest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionRef<'a> {
    /// extnID
    pub oid: Oid,
    /// critical flag (DEFAULT FALSE)
    pub critical: bool,
    /// extnValue contents (the DER of the extension's own value)
    pub value: &'a [u8],
    /// Offset of `value` in the outer input, for error positions.
    pub value_offset: usize,
}

/// Visits each `Extension` of an `Extensions` SEQUENCE TLV.
pub fn for_each_extension<'a, F>(exts: &Tlv<'a>, mut f: F) -> Result<(), DerError>
where
    F: FnMut(ExtensionRef<'a>) -> Result<(), DerError>,
{
    let mut r = exts.reader();
    while !r.is_empty() {
        let e = r.require(tag::SEQUENCE)?;
        let mut er = e.reader();
        let o = er.require(tag::OID)?;
        let oid = Oid::from_bytes(o.value).map_err(|_| DerError::BadValue { offset: o.offset })?;
        let critical = match er.optional(tag::BOOLEAN)? {
            Some(b) => asn1::boolean(&b)?,
            None => false,
        };
        let v = er.require(tag::OCTET_STRING)?;
        er.finish()?;
        let value_offset = v.offset + (v.raw.len() - v.value.len());
        f(ExtensionRef {
            oid,
            critical,
            value: v.value,
            value_offset,
        })?;
    }
    Ok(())
}
