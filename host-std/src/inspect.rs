//! `raconn inspect`: CSRs, certificates and PKCS#7 bundles decoded into
//! typed reports — shown to a person (in the spirit of `openssl req -text`
//! / `x509 -text`, with SAN other-names by name: `UPN: …`, `DS Object GUID:
//! 0410…`) through `Display`, or as JSON through `Serialize`.

use std::fmt;

use raconn_core::cert::{CertificateRef, Pkcs7Ref};
use raconn_core::csr::CsrRef;
use raconn_core::ext::{self, ExtensionRef, GeneralNameRef};
use raconn_core::name::{short_label, NameRef};
use raconn_core::oid::{self, Oid};
use raconn_core::pem::PemKind;
use raconn_core::thumbprint::{Thumbprint, Thumbprint256};
use serde::Serialize;

use crate::errors::{core, HostError};
use crate::files::Block;
use crate::keys;

fn oid_name(o: &Oid) -> String {
    match oid::label(o) {
        Some(l) => format!("{l} ({o})"),
        None => o.to_string(),
    }
}

fn string_type(tag: u8) -> &'static str {
    match tag {
        0x0c => "UTF8String",
        0x13 => "PrintableString",
        0x16 => "IA5String",
        0x14 => "T61String",
        0x1e => "BMPString",
        0x1c => "UniversalString",
        _ => "other",
    }
}

/// Uppercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// A distinguished name: its text and its attributes in DER order.
#[derive(Debug, Clone, Serialize)]
pub struct NameReport {
    /// RFC 4514 text.
    pub text: String,
    /// The attributes.
    pub attributes: Vec<AttributeReport>,
}

/// One attribute of a name.
#[derive(Debug, Clone, Serialize)]
pub struct AttributeReport {
    /// Short label (CN, O, …) or the OID.
    #[serde(rename = "type")]
    pub kind: String,
    /// The OID.
    pub oid: String,
    /// The text, or hex of a value that is not text.
    pub value: String,
    /// Its ASN.1 string type.
    pub string_type: &'static str,
    /// Part of a multi-valued RDN with the previous attribute.
    pub multi_valued_with_previous: bool,
}

impl NameReport {
    fn of(n: &NameRef<'_>) -> Self {
        let mut attributes = Vec::new();
        let _ = n.for_each(|a| {
            attributes.push(AttributeReport {
                kind: short_label(&a.oid)
                    .map(str::to_string)
                    .unwrap_or_else(|| a.oid.to_string()),
                oid: a.oid.to_string(),
                value: a
                    .text()
                    .map(str::to_string)
                    .unwrap_or_else(|| hex(a.value.raw)),
                string_type: string_type(a.value.tag),
                multi_valued_with_previous: a.multi,
            });
            Ok(())
        });
        NameReport {
            text: n.to_string(),
            attributes,
        }
    }
}

impl fmt::Display for NameReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One subject alternative name.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
pub enum GeneralNameReport {
    /// rfc822Name
    #[serde(rename = "email")]
    Email {
        /// The address.
        value: String,
    },
    /// dNSName
    #[serde(rename = "dns")]
    Dns {
        /// The name.
        value: String,
    },
    /// uniformResourceIdentifier
    #[serde(rename = "uri")]
    Uri {
        /// The URI.
        value: String,
    },
    /// iPAddress
    #[serde(rename = "ip")]
    Ip {
        /// The address.
        value: String,
    },
    /// The UPN other-name.
    #[serde(rename = "upn")]
    Upn {
        /// Its OID.
        oid: String,
        /// The UPN.
        value: String,
    },
    /// Another other-name.
    #[serde(rename = "other-name")]
    OtherName {
        /// Its OID.
        oid: String,
        /// Its name, when known.
        name: Option<&'static str>,
        /// The value's DER, hex.
        value_der_hex: String,
    },
    /// directoryName
    #[serde(rename = "directory-name")]
    Dir {
        /// The name.
        value: String,
    },
    /// registeredID
    #[serde(rename = "registered-id")]
    Registered {
        /// The OID.
        value: String,
    },
    /// Anything else.
    #[serde(rename = "other")]
    Other {
        /// Its tag.
        tag: u8,
        /// Its value, hex.
        value_hex: String,
    },
}

impl GeneralNameReport {
    fn of(g: &GeneralNameRef<'_>) -> (String, Self) {
        let mut text = String::new();
        let _ = ext::write_general_name(&mut text, g);
        if let GeneralNameRef::Uri(u) = g {
            if let Some(sid) = u.strip_prefix(raconn_core::profile::SID_URL_PREFIX) {
                text = format!("SID: {sid} ({text})");
            }
        }
        let r = match g {
            GeneralNameRef::Email(s) => Self::Email {
                value: s.to_string(),
            },
            GeneralNameRef::Dns(s) => Self::Dns {
                value: s.to_string(),
            },
            GeneralNameRef::Uri(s) => Self::Uri {
                value: s.to_string(),
            },
            GeneralNameRef::Ip(_) => Self::Ip {
                value: text.trim_start_matches("IP Address:").to_string(),
            },
            GeneralNameRef::Upn(s) => Self::Upn {
                oid: oid::UPN.to_string(),
                value: s.to_string(),
            },
            GeneralNameRef::OtherName { oid: o, value } => Self::OtherName {
                oid: o.to_string(),
                name: oid::label(o),
                value_der_hex: hex(value.raw),
            },
            GeneralNameRef::Dir(n) => Self::Dir {
                value: n.to_string(),
            },
            GeneralNameRef::Registered(o) => Self::Registered {
                value: o.to_string(),
            },
            GeneralNameRef::Other(t) => Self::Other {
                tag: t.tag,
                value_hex: hex(t.value),
            },
        };
        (text, r)
    }
}

/// What an extension says.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ExtensionValue {
    /// KeyUsage.
    KeyUsage {
        /// The mask, `0x..`.
        mask: String,
        /// The usages by name.
        usages: Vec<&'static str>,
    },
    /// ExtendedKeyUsage.
    Eku(Vec<EkuReport>),
    /// SubjectAltName.
    San(Vec<GeneralNameReport>),
    /// BasicConstraints.
    BasicConstraints {
        /// cA.
        ca: bool,
        /// pathLenConstraint.
        path_len: Option<u64>,
    },
    /// The SID security extension (KB5014754).
    Sid {
        /// The SID, text form.
        sid: String,
    },
    /// Anything else, as hex.
    Other {
        /// The value, hex.
        der_hex: String,
    },
    /// A value that does not decode.
    Malformed {
        /// Why.
        error: String,
    },
}

/// One extended key usage.
#[derive(Debug, Clone, Serialize)]
pub struct EkuReport {
    /// The OID.
    pub oid: String,
    /// Its name, when known.
    pub name: Option<&'static str>,
}

/// One extension.
#[derive(Debug, Clone, Serialize)]
pub struct ExtensionReport {
    /// The OID.
    pub oid: String,
    /// Its name, when known.
    pub name: Option<&'static str>,
    /// Marked critical.
    pub critical: bool,
    /// What it says.
    pub value: ExtensionValue,
    /// Title and body for people.
    #[serde(skip)]
    text: (String, String),
}

fn ku_names(mask: u16) -> Vec<&'static str> {
    ext::ku::NAMES
        .iter()
        .filter(|(m, _, _)| mask & m != 0)
        .map(|(_, n, _)| *n)
        .collect()
}

impl ExtensionReport {
    fn of(e: &ExtensionRef<'_>) -> Self {
        let base = e.value_offset;
        let bad = |title: &str, err: &dyn fmt::Display| {
            (
                (title.to_string(), format!("<malformed: {err}>")),
                ExtensionValue::Malformed {
                    error: err.to_string(),
                },
            )
        };
        let (text, value) = if e.oid == oid::KEY_USAGE {
            match ext::decode_key_usage(e.value, base) {
                Ok(m) => (
                    ("Key Usage".to_string(), ku_names(m).join(", ")),
                    ExtensionValue::KeyUsage {
                        mask: format!("0x{m:02x}"),
                        usages: ku_names(m),
                    },
                ),
                Err(err) => bad("Key Usage", &err),
            }
        } else if e.oid == oid::EXT_KEY_USAGE {
            let mut v = Vec::new();
            match ext::for_each_eku(e.value, base, |o| v.push(o)) {
                Ok(()) => (
                    (
                        "Extended Key Usage".to_string(),
                        v.iter().map(oid_name).collect::<Vec<_>>().join(", "),
                    ),
                    ExtensionValue::Eku(
                        v.iter()
                            .map(|o| EkuReport {
                                oid: o.to_string(),
                                name: oid::label(o),
                            })
                            .collect(),
                    ),
                ),
                Err(err) => bad("Extended Key Usage", &err),
            }
        } else if e.oid == oid::SUBJECT_ALT_NAME {
            let mut t = Vec::new();
            let mut js = Vec::new();
            let r = ext::for_each_san(e.value, base, |g| {
                let (text, rep) = GeneralNameReport::of(&g);
                t.push(text);
                js.push(rep);
                Ok(())
            });
            match r {
                Ok(()) => (
                    ("Subject Alternative Name".to_string(), t.join(", ")),
                    ExtensionValue::San(js),
                ),
                Err(err) => bad("Subject Alternative Name", &err),
            }
        } else if e.oid == oid::NTDS_CA_SECURITY_EXT {
            match ext::decode_sid_extension(e.value, base) {
                Ok(sid) => (
                    ("SID (KB5014754)".to_string(), format!("SID: {sid}")),
                    ExtensionValue::Sid {
                        sid: sid.to_string(),
                    },
                ),
                Err(err) => bad("SID (KB5014754)", &err),
            }
        } else if e.oid == oid::BASIC_CONSTRAINTS {
            match ext::decode_basic_constraints(e.value, base) {
                Ok((ca, pl)) => (
                    (
                        "Basic Constraints".to_string(),
                        format!(
                            "CA:{}{}",
                            if ca { "TRUE" } else { "FALSE" },
                            pl.map(|p| format!(", pathlen:{p}")).unwrap_or_default()
                        ),
                    ),
                    ExtensionValue::BasicConstraints { ca, path_len: pl },
                ),
                Err(err) => bad("Basic Constraints", &err),
            }
        } else {
            (
                (
                    oid_name(&e.oid),
                    format!("{} bytes: {}", e.value.len(), hex(e.value)),
                ),
                ExtensionValue::Other {
                    der_hex: hex(e.value),
                },
            )
        };
        ExtensionReport {
            oid: e.oid.to_string(),
            name: oid::label(&e.oid),
            critical: e.critical,
            value,
            text,
        }
    }
}

impl fmt::Display for ExtensionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let crit = if self.critical { " (critical)" } else { "" };
        writeln!(f, "    {}{crit}:\n        {}", self.text.0, self.text.1)
    }
}

/// All extensions visited by `walk`.
fn extensions<'a, W>(walk: W) -> Result<Vec<ExtensionReport>, HostError>
where
    W: FnOnce(
        &mut dyn FnMut(ExtensionRef<'a>) -> Result<(), raconn_core::asn1::DerError>,
    ) -> Result<(), raconn_core::asn1::DerError>,
{
    let mut v = Vec::new();
    walk(&mut |e| {
        v.push(ExtensionReport::of(&e));
        Ok(())
    })
    .map_err(core)?;
    Ok(v)
}

/// The outcome of a signature check.
#[derive(Debug, Clone)]
pub enum SignatureCheck {
    /// It verifies.
    Valid,
    /// It does not.
    Invalid,
    /// Not checked (unsupported algorithm), and why.
    NotChecked(String),
}

impl SignatureCheck {
    fn of(spki: &[u8], alg: &Oid, tbs: &[u8], sig: &[u8]) -> Self {
        match keys::verify(spki, alg, tbs, sig) {
            Ok(true) => Self::Valid,
            Ok(false) => Self::Invalid,
            Err(why) => Self::NotChecked(why),
        }
    }
}

impl fmt::Display for SignatureCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Valid => f.write_str("valid"),
            Self::Invalid => f.write_str("INVALID"),
            Self::NotChecked(why) => write!(f, "not checked ({why})"),
        }
    }
}

impl Serialize for SignatureCheck {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Valid => s.serialize_str("valid"),
            Self::Invalid => s.serialize_str("invalid"),
            Self::NotChecked(why) => s.serialize_str(&format!("not checked: {why}")),
        }
    }
}

/// A certification request.
#[derive(Debug, Clone, Serialize)]
pub struct CsrReport {
    /// `version` (0 for v1).
    pub version: u64,
    /// The subject.
    pub subject: NameReport,
    /// The key.
    pub public_key: String,
    /// The signature algorithm OID.
    pub signature_algorithm: String,
    /// Its own signature.
    pub signature: SignatureCheck,
    /// The requested extensions.
    pub extensions: Vec<ExtensionReport>,
    #[serde(skip)]
    sig_alg_name: String,
}

impl CsrReport {
    /// Decodes a CSR.
    pub fn of(der: &[u8]) -> Result<Self, HostError> {
        let c = CsrRef::parse(der).map_err(core)?;
        Ok(CsrReport {
            version: c.version,
            subject: NameReport::of(&c.subject),
            public_key: c.spki.kind().to_string(),
            signature_algorithm: c.signature_algorithm.to_string(),
            signature: SignatureCheck::of(
                c.spki.der.raw,
                &c.signature_algorithm,
                c.tbs,
                c.signature,
            ),
            extensions: extensions(|f| c.for_each_extension(f))?,
            sig_alg_name: oid_name(&c.signature_algorithm),
        })
    }
}

impl fmt::Display for CsrReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Certificate Request:")?;
        writeln!(f, "  Version: {} (0x{:x})", self.version + 1, self.version)?;
        writeln!(f, "  Subject: {}", self.subject)?;
        writeln!(f, "  Public Key: {}", self.public_key)?;
        writeln!(f, "  Signature Algorithm: {}", self.sig_alg_name)?;
        writeln!(f, "  Signature: {}", self.signature)?;
        if !self.extensions.is_empty() {
            writeln!(f, "  Requested Extensions:")?;
            for e in &self.extensions {
                write!(f, "{e}")?;
            }
        }
        Ok(())
    }
}

/// A certificate.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateReport {
    /// `version` + 1.
    pub version: u64,
    /// Serial number, colon hex.
    pub serial: String,
    /// The signature algorithm OID.
    pub signature_algorithm: String,
    /// The issuer.
    pub issuer: NameReport,
    /// The subject.
    pub subject: NameReport,
    /// notBefore.
    pub not_before: String,
    /// notAfter.
    pub not_after: String,
    /// The key.
    pub public_key: String,
    /// The signature, when the issuer's key is known (or it is self-issued).
    pub signature: Option<SignatureCheck>,
    /// The extensions.
    pub extensions: Vec<ExtensionReport>,
    /// SHA-1 thumbprint.
    pub sha1_thumbprint: String,
    /// SHA-256 thumbprint.
    pub sha256_thumbprint: String,
    #[serde(skip)]
    sig_alg_name: String,
    #[serde(skip)]
    self_signed: bool,
}

impl CertificateReport {
    /// Decodes a certificate; its signature is checked with `issuer_spki`,
    /// or with its own key when it is self-issued.
    pub fn of(der: &[u8], issuer_spki: Option<&[u8]>) -> Result<Self, HostError> {
        let c = CertificateRef::parse(der).map_err(core)?;
        let mut serial = String::new();
        let _ = raconn_core::cert::write_serial(&mut serial, c.serial);
        let signer = issuer_spki.or(if c.is_self_issued() {
            Some(c.spki.der.raw)
        } else {
            None
        });
        Ok(CertificateReport {
            version: c.version + 1,
            serial,
            signature_algorithm: c.signature_algorithm.to_string(),
            issuer: NameReport::of(&c.issuer),
            subject: NameReport::of(&c.subject),
            not_before: c.not_before.to_string(),
            not_after: c.not_after.to_string(),
            public_key: c.spki.kind().to_string(),
            signature: signer
                .map(|s| SignatureCheck::of(s, &c.signature_algorithm, c.tbs, c.signature)),
            extensions: extensions(|f| c.for_each_extension(f))?,
            sha1_thumbprint: Thumbprint::of(der).to_string(),
            sha256_thumbprint: Thumbprint256::of(der).to_string(),
            sig_alg_name: oid_name(&c.signature_algorithm),
            self_signed: issuer_spki.is_none(),
        })
    }
}

impl fmt::Display for CertificateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Certificate:")?;
        writeln!(f, "  Version: {}", self.version)?;
        writeln!(f, "  Serial Number: {}", self.serial)?;
        writeln!(f, "  Signature Algorithm: {}", self.sig_alg_name)?;
        writeln!(f, "  Issuer: {}", self.issuer)?;
        writeln!(
            f,
            "  Not Before: {}\n  Not After:  {}",
            self.not_before, self.not_after
        )?;
        writeln!(f, "  Subject: {}", self.subject)?;
        writeln!(f, "  Public Key: {}", self.public_key)?;
        if let Some(s) = &self.signature {
            writeln!(
                f,
                "  Signature: {s}{}",
                if self.self_signed {
                    " (self-signed)"
                } else {
                    ""
                }
            )?;
        }
        if !self.extensions.is_empty() {
            writeln!(f, "  Extensions:")?;
            for e in &self.extensions {
                write!(f, "{e}")?;
            }
        }
        writeln!(
            f,
            "  SHA-1 Thumbprint: {}\n  SHA-256 Thumbprint: {}",
            self.sha1_thumbprint, self.sha256_thumbprint
        )
    }
}

/// A PKCS#7 certs-only bundle.
#[derive(Debug, Clone, Serialize)]
pub struct Pkcs7Report {
    /// Its certificates, each checked against the next one in the bundle that names its issuer.
    pub certificates: Vec<CertificateReport>,
}

impl Pkcs7Report {
    /// Decodes a PKCS#7.
    pub fn of(der: &[u8]) -> Result<Self, HostError> {
        let p = Pkcs7Ref::parse(der).map_err(core)?;
        let certs: Vec<CertificateRef<'_>> =
            p.certificates().collect::<Result<_, _>>().map_err(core)?;
        let mut out = Vec::new();
        for c in &certs {
            let issuer = certs
                .iter()
                .find(|o| o.subject.der.raw == c.issuer.der.raw && !std::ptr::eq(*o, c));
            out.push(CertificateReport::of(
                c.der,
                issuer.map(|o| o.spki.der.raw),
            )?);
        }
        Ok(Pkcs7Report { certificates: out })
    }
}

impl fmt::Display for Pkcs7Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "PKCS#7 SignedData with {} certificate(s)",
            self.certificates.len()
        )?;
        for (i, c) in self.certificates.iter().enumerate() {
            write!(f, "[{i}] {c}")?;
        }
        Ok(())
    }
}

/// One decoded object of a file.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
pub enum ObjectReport {
    /// A CSR.
    #[serde(rename = "csr")]
    Csr(CsrReport),
    /// A certificate.
    #[serde(rename = "certificate")]
    Certificate(CertificateReport),
    /// A PKCS#7.
    #[serde(rename = "pkcs7")]
    Pkcs7(Pkcs7Report),
}

impl ObjectReport {
    /// Decodes a block of a file.
    pub fn of(b: &Block) -> Result<Self, HostError> {
        match b.kind {
            PemKind::Csr => CsrReport::of(&b.der).map(Self::Csr),
            PemKind::Certificate => CertificateReport::of(&b.der, None).map(Self::Certificate),
            PemKind::Pkcs7 => Pkcs7Report::of(&b.der).map(Self::Pkcs7),
            PemKind::Other => Err(HostError::Unrecognised {
                path: b.label.clone().into(),
                what: "not a certificate, certificate request or PKCS#7".into(),
            }),
        }
    }
}

impl fmt::Display for ObjectReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Csr(r) => r.fmt(f),
            Self::Certificate(r) => r.fmt(f),
            Self::Pkcs7(r) => r.fmt(f),
        }
    }
}

/// A token from the CA: a PKCS#7 or a bare certificate.
pub fn token(der: &[u8]) -> Result<ObjectReport, HostError> {
    match Pkcs7Ref::parse(der) {
        Ok(_) => Pkcs7Report::of(der).map(ObjectReport::Pkcs7),
        Err(_) => CertificateReport::of(der, None).map(ObjectReport::Certificate),
    }
}
