//! Zero-copy read-only views of an X.509 certificate (RFC 5280 §4.1) and of a
//! PKCS#7 / CMS certs-only `SignedData` (RFC 5652 §5, RFC 2315 "degenerate"
//! form) — enough to check what a CA sends back. Nothing is copied; malformed
//! DER is a typed error with the byte offset, never a panic.

use core::fmt;

use crate::asn1::{self, tag, DerError, Reader, Tlv};
use crate::error::explain;
use crate::ext::{self, ExtensionRef, GeneralNameRef};
use crate::name::NameRef;
use crate::oid::{self, Oid};
use crate::spki::SpkiRef;

/// Certificate / PKCS#7 failures beyond plain DER errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CertError {
    /// Malformed DER.
    Der(DerError),
    /// A time field that is not a valid UTCTime / GeneralizedTime.
    BadTime { offset: usize },
    /// A ContentInfo that is not signedData.
    NotSignedData,
    /// The same extension appears twice.
    DuplicateExtension { offset: usize },
}

explain!(CertError {
    Der(e) => ("RC-CERT-001", "certificate or PKCS#7 is not valid DER", "the file is corrupt or not a certificate: export it again as PEM or DER"), "{e}";
    BadTime { offset } => ("RC-CERT-002", "certificate validity time is malformed", "the certificate is not RFC 5280 conformant: ask the issuer for a corrected one"), "at byte {offset}";
    NotSignedData => ("RC-CERT-003", "PKCS#7 content is not signedData", "pass a certs-only PKCS#7 (.p7b) or a certificate");
    DuplicateExtension { offset } => ("RC-CERT-004", "an extension appears twice in the certificate", "the certificate is not RFC 5280 conformant: ask the issuer for a corrected one"), "at byte {offset}";
});

impl From<DerError> for CertError {
    fn from(e: DerError) -> Self {
        CertError::Der(e)
    }
}

/// A calendar time in UTC (seconds resolution).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Time {
    /// year
    pub year: u16,
    /// month 1-12
    pub month: u8,
    /// day 1-31
    pub day: u8,
    /// hour
    pub hour: u8,
    /// minute
    pub minute: u8,
    /// second
    pub second: u8,
}

impl Time {
    /// Decodes a UTCTime or GeneralizedTime TLV (RFC 5280 §4.1.2.5 forms, `Z` required).
    pub fn decode(t: &Tlv<'_>) -> Result<Time, CertError> {
        let bad = CertError::BadTime { offset: t.offset };
        let v = t.value;
        let num = |i: usize| -> Result<u16, CertError> {
            let a = v.get(i).copied().ok_or(bad)?;
            let b = v.get(i + 1).copied().ok_or(bad)?;
            if !a.is_ascii_digit() || !b.is_ascii_digit() {
                return Err(bad);
            }
            Ok(((a - b'0') * 10 + (b - b'0')) as u16)
        };
        let (year, o) = match (t.tag, v.len()) {
            (tag::UTC_TIME, 13) => {
                let y = num(0)?;
                (if y >= 50 { 1900 + y } else { 2000 + y }, 2)
            }
            (tag::GENERALIZED_TIME, 15) => (num(0)? * 100 + num(2)?, 4),
            _ => return Err(bad),
        };
        if v.last() != Some(&b'Z') {
            return Err(bad);
        }
        let tm = Time {
            year,
            month: num(o)? as u8,
            day: num(o + 2)? as u8,
            hour: num(o + 4)? as u8,
            minute: num(o + 6)? as u8,
            second: num(o + 8)? as u8,
        };
        if !(1..=12).contains(&tm.month)
            || !(1..=31).contains(&tm.day)
            || tm.hour > 23
            || tm.minute > 59
            || tm.second > 60
        {
            return Err(bad);
        }
        Ok(tm)
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn unix(&self) -> i64 {
        // Days from civil (Howard Hinnant's algorithm).
        let y = self.year as i64 - if self.month <= 2 { 1 } else { 0 };
        let era = if y >= 0 { y } else { y - 399 } / 400;
        let yoe = y - era * 400;
        let m = self.month as i64;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + self.day as i64 - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146097 + doe - 719468;
        days * 86400 + self.hour as i64 * 3600 + self.minute as i64 * 60 + self.second as i64
    }
}

impl Time {
    /// The UTC calendar time of `secs` seconds since 1970-01-01T00:00:00Z
    /// (the inverse of [`Time::unix`]; years outside 0..=9999 are clamped).
    pub fn from_unix(secs: i64) -> Time {
        let secs = secs.clamp(-62_167_219_200, 253_402_300_799);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        // Civil from days (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Time {
            year: u16::try_from(year).unwrap_or(0),
            month: u8::try_from(month).unwrap_or(1),
            day: u8::try_from(day).unwrap_or(1),
            hour: u8::try_from(rem / 3600).unwrap_or(0),
            minute: u8::try_from(rem % 3600 / 60).unwrap_or(0),
            second: u8::try_from(rem % 60).unwrap_or(0),
        }
    }
}

/// A certificate whose validity does not hold by this machine's clock:
/// warned when a certificate is issued or replayed, naming both times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ClockNote {
    /// notBefore is later than now by more than the allowed skew.
    NotYetValid { not_before: Time, now: Time },
    /// notAfter has passed.
    Expired { not_after: Time, now: Time },
}

explain!(ClockNote {
    NotYetValid { not_before, now } => ("RC-CERT-W01", "the certificate is not valid yet by this machine's clock", "check this machine's clock (timedatectl, NTP) and the CA's: a device with this clock refuses the certificate until its notBefore"), "notBefore {not_before}, this machine's clock {now}";
    Expired { not_after, now } => ("RC-CERT-W02", "the certificate has expired by this machine's clock", "issue again under a new request id (the journal replays what was issued for this one), or check this machine's clock"), "notAfter {not_after}, this machine's clock {now}";
});

/// Clock skew tolerated before a notBefore in the future is warned about
/// (5 minutes, as Kerberos and most TLS stacks allow).
pub const CLOCK_SKEW_SECS: i64 = 300;

impl fmt::Display for Time {
    /// ISO 8601, e.g. `2027-11-25T17:13:34Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// A borrowed X.509 certificate.
#[derive(Debug, Clone, Copy)]
pub struct CertificateRef<'a> {
    /// The whole DER.
    pub der: &'a [u8],
    /// The signed TBSCertificate (with tag and length).
    pub tbs: &'a [u8],
    /// 0 for v1, 2 for v3.
    pub version: u64,
    /// serialNumber content octets (big-endian, two's complement).
    pub serial: &'a [u8],
    /// issuer
    pub issuer: NameRef<'a>,
    /// subject
    pub subject: NameRef<'a>,
    /// notBefore
    pub not_before: Time,
    /// notAfter
    pub not_after: Time,
    /// subjectPublicKeyInfo
    pub spki: SpkiRef<'a>,
    /// the `[3]` extensions SEQUENCE, if present
    pub extensions: Option<Tlv<'a>>,
    /// outer signatureAlgorithm OID
    pub signature_algorithm: Oid,
    /// signatureValue bits
    pub signature: &'a [u8],
}

impl<'a> CertificateRef<'a> {
    /// How the validity stands at `now` (Unix seconds): a note when
    /// notBefore is more than `skew` seconds ahead or notAfter has passed.
    pub fn clock_note(&self, now: i64, skew: i64) -> Option<ClockNote> {
        if self.not_after.unix() < now {
            Some(ClockNote::Expired {
                not_after: self.not_after,
                now: Time::from_unix(now),
            })
        } else if self.not_before.unix() > now.saturating_add(skew) {
            Some(ClockNote::NotYetValid {
                not_before: self.not_before,
                now: Time::from_unix(now),
            })
        } else {
            None
        }
    }

    /// Parses a certificate occupying all of `der`.
    pub fn parse(der: &'a [u8]) -> Result<Self, CertError> {
        Self::from_tlv(asn1::parse_single(der)?)
    }

    /// Parses a certificate TLV (e.g. one element of a PKCS#7 set).
    pub fn from_tlv(outer: Tlv<'a>) -> Result<Self, CertError> {
        if outer.tag != tag::SEQUENCE {
            return Err(DerError::UnexpectedTag {
                offset: outer.offset,
                expected: tag::SEQUENCE,
                found: outer.tag,
            }
            .into());
        }
        let mut r = outer.reader();
        let tbs = r.require(tag::SEQUENCE)?;
        let alg = r.require(tag::SEQUENCE)?;
        let sig = r.require(tag::BIT_STRING)?;
        r.finish()?;
        let mut t = tbs.reader();
        let version = match t.optional(tag::ctx_cons(0))? {
            Some(v) => {
                let mut vr = v.reader();
                let n = asn1::small_uint(&vr.require(tag::INTEGER)?)?;
                vr.finish()?;
                n
            }
            None => 0,
        };
        let serial_t = t.require(tag::INTEGER)?;
        if serial_t.value.is_empty() {
            return Err(DerError::BadValue {
                offset: serial_t.offset,
            }
            .into());
        }
        let _inner_alg = t.require(tag::SEQUENCE)?;
        let issuer = NameRef::new(t.require(tag::SEQUENCE)?)?;
        let validity = t.require(tag::SEQUENCE)?;
        let subject = NameRef::new(t.require(tag::SEQUENCE)?)?;
        let spki = SpkiRef::new(t.require(tag::SEQUENCE)?)?;
        let _ = t.optional(tag::ctx_prim(1))?;
        let _ = t.optional(tag::ctx_prim(2))?;
        let extensions = match t.optional(tag::ctx_cons(3))? {
            Some(w) => {
                let mut wr = w.reader();
                let s = wr.require(tag::SEQUENCE)?;
                wr.finish()?;
                Some(s)
            }
            None => None,
        };
        t.finish()?;
        let mut vr = validity.reader();
        let nb = vr.any()?;
        let na = vr.any()?;
        vr.finish()?;
        let mut ar = alg.reader();
        let o = ar.require(tag::OID)?;
        let signature_algorithm =
            Oid::from_bytes(o.value).map_err(|_| DerError::BadValue { offset: o.offset })?;
        let (_, signature) = asn1::bit_string(&sig)?;
        let cert = CertificateRef {
            der: outer.raw,
            tbs: tbs.raw,
            version,
            serial: serial_t.value,
            issuer,
            subject,
            not_before: Time::decode(&nb)?,
            not_after: Time::decode(&na)?,
            spki,
            extensions,
            signature_algorithm,
            signature,
        };
        // Validate every extension we interpret, and reject duplicates.
        let mut seen: heapless::Vec<Oid, 32> = heapless::Vec::new();
        let mut dup = None;
        cert.for_each_extension(|e| {
            if seen.contains(&e.oid) {
                dup.get_or_insert(e.value_offset);
            } else {
                let _ = seen.push(e.oid);
            }
            let base = e.value_offset;
            if e.oid == oid::SUBJECT_ALT_NAME {
                ext::for_each_san(e.value, base, |_| Ok(()))?;
            } else if e.oid == oid::KEY_USAGE {
                ext::decode_key_usage(e.value, base)?;
            } else if e.oid == oid::EXT_KEY_USAGE {
                ext::for_each_eku(e.value, base, |_| {})?;
            } else if e.oid == oid::BASIC_CONSTRAINTS {
                ext::decode_basic_constraints(e.value, base)?;
            }
            Ok(())
        })?;
        if let Some(offset) = dup {
            return Err(CertError::DuplicateExtension { offset });
        }
        Ok(cert)
    }

    /// Visits every extension.
    pub fn for_each_extension<F>(&self, f: F) -> Result<(), DerError>
    where
        F: FnMut(ExtensionRef<'a>) -> Result<(), DerError>,
    {
        match &self.extensions {
            Some(e) => ext::for_each_extension(e, f),
            None => Ok(()),
        }
    }

    /// The extension with `id`, if present.
    pub fn extension(&self, id: &Oid) -> Option<ExtensionRef<'a>> {
        let mut found = None;
        let _ = self.for_each_extension(|e| {
            if found.is_none() && e.oid == *id {
                found = Some(e);
            }
            Ok(())
        });
        found
    }

    /// KeyUsage as a certreq mask.
    pub fn key_usage(&self) -> Option<u16> {
        self.extension(&oid::KEY_USAGE)
            .and_then(|e| ext::decode_key_usage(e.value, e.value_offset).ok())
    }

    /// True when the EKU extension lists `purpose` (or is absent — any purpose).
    pub fn allows_purpose(&self, purpose: &Oid) -> bool {
        match self.extension(&oid::EXT_KEY_USAGE) {
            None => true,
            Some(e) => {
                let mut hit = false;
                let _ = ext::for_each_eku(e.value, e.value_offset, |o| hit |= o == *purpose);
                hit
            }
        }
    }

    /// Visits EKU purposes.
    pub fn for_each_eku<F: FnMut(Oid)>(&self, f: F) -> Result<(), DerError> {
        match self.extension(&oid::EXT_KEY_USAGE) {
            Some(e) => ext::for_each_eku(e.value, e.value_offset, f),
            None => Ok(()),
        }
    }

    /// Visits SAN entries.
    pub fn for_each_san<F>(&self, f: F) -> Result<(), DerError>
    where
        F: FnMut(GeneralNameRef<'a>) -> Result<(), DerError>,
    {
        match self.extension(&oid::SUBJECT_ALT_NAME) {
            Some(e) => ext::for_each_san(e.value, e.value_offset, f),
            None => Ok(()),
        }
    }

    /// BasicConstraints (cA, pathLen).
    pub fn basic_constraints(&self) -> Option<(bool, Option<u64>)> {
        self.extension(&oid::BASIC_CONSTRAINTS)
            .and_then(|e| ext::decode_basic_constraints(e.value, e.value_offset).ok())
    }

    /// True when subject and issuer names are byte-identical.
    pub fn is_self_issued(&self) -> bool {
        self.subject.der.raw == self.issuer.der.raw
    }
}

/// A borrowed PKCS#7 `SignedData` whose certificates can be iterated.
#[derive(Debug, Clone, Copy)]
pub struct Pkcs7Ref<'a> {
    /// the `[0] IMPLICIT` certificates field, if present
    certs: Option<Tlv<'a>>,
}

impl<'a> Pkcs7Ref<'a> {
    /// Parses a ContentInfo { signedData } occupying all of `der`.
    pub fn parse(der: &'a [u8]) -> Result<Self, CertError> {
        let ci = asn1::parse_single(der)?;
        if ci.tag != tag::SEQUENCE {
            return Err(DerError::UnexpectedTag {
                offset: 0,
                expected: tag::SEQUENCE,
                found: ci.tag,
            }
            .into());
        }
        let mut r = ci.reader();
        let ct = r.require(tag::OID)?;
        if ct.value != oid::SIGNED_DATA.as_bytes() {
            return Err(CertError::NotSignedData);
        }
        let wrap = r.require(tag::ctx_cons(0))?;
        r.finish()?;
        let mut wr = wrap.reader();
        let sd = wr.require(tag::SEQUENCE)?;
        wr.finish()?;
        let mut s = sd.reader();
        s.require(tag::INTEGER)?;
        s.require(tag::SET)?;
        s.require(tag::SEQUENCE)?; // encapContentInfo
        let certs = s.optional(tag::ctx_cons(0))?;
        let _crls = s.optional(tag::ctx_cons(1))?;
        s.require(tag::SET)?; // signerInfos
        s.finish()?;
        let p = Pkcs7Ref { certs };
        for c in p.certificates() {
            c?;
        }
        Ok(p)
    }

    /// Iterates the certificates (other CertificateChoices are skipped).
    pub fn certificates(&self) -> CertIter<'a> {
        CertIter {
            r: self.certs.map(|c| c.reader()),
        }
    }

    /// Number of certificates.
    pub fn len(&self) -> usize {
        self.certificates().count()
    }

    /// True when it holds no certificate.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Iterator over the certificates of a [`Pkcs7Ref`].
#[derive(Debug, Clone)]
pub struct CertIter<'a> {
    r: Option<Reader<'a>>,
}

impl<'a> Iterator for CertIter<'a> {
    type Item = Result<CertificateRef<'a>, CertError>;
    fn next(&mut self) -> Option<Self::Item> {
        let r = self.r.as_mut()?;
        loop {
            if r.is_empty() {
                return None;
            }
            match r.any() {
                Err(e) => {
                    self.r = None;
                    return Some(Err(e.into()));
                }
                Ok(t) if t.tag == tag::SEQUENCE => {
                    let c = CertificateRef::from_tlv(t);
                    if c.is_err() {
                        self.r = None;
                    }
                    return Some(c);
                }
                Ok(_) => continue, // extendedCertificate / attribute certificates
            }
        }
    }
}

/// Writes a serial number as colon-separated hex (openssl style).
pub fn write_serial<W: fmt::Write>(out: &mut W, serial: &[u8]) -> fmt::Result {
    crate::hex::write_colon(out, serial)
}
