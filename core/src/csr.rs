//! PKCS#10 certification requests (RFC 2986), built in a caller buffer and
//! signed through the [`Signer`] seam, plus a zero-copy view of a CSR.
//!
//! The request carries one attribute, PKCS#9 `extensionRequest`
//! (RFC 2985 §5.4.2), holding KeyUsage, ExtendedKeyUsage, SubjectAltName,
//! BasicConstraints and any raw extension. Signatures: sha256WithRSAEncryption
//! (RFC 8017 PKCS#1 v1.5), ecdsa-with-SHA256 / SHA384 (RFC 5758; the signer
//! returns a DER `ECDSA-Sig-Value`). Keys never cross the seam: a software
//! key, a PKCS#11 token or a secure element implements [`Signer`].

use crate::asn1::{self, tag, DerError, DerWriter, Reader, Tlv};
use crate::error::{explain, BufferTooSmall, Error};
use crate::ext::{self, ExtensionRef, GeneralName, SanText};
use crate::name::{self, NameRef};
use crate::oid::{self, Oid};
use crate::spki::SpkiRef;

pub use crate::sig::SignatureScheme;

/// Signing failures reported by a [`Signer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SignError {
    /// The key cannot be used (not readable, token absent, PIN wrong).
    KeyUnavailable,
    /// The signing operation failed.
    Failed,
    /// A caller buffer too small (how many bytes it needs).
    BufferTooSmall(BufferTooSmall),
}

explain!(SignError {
    KeyUnavailable => ("RC-SIGN-001", "the private key cannot be used", "check that the key exists, that this account can read it (file mode, token PIN) and that the token is present");
    Failed => ("RC-SIGN-002", "the signing operation failed", "check the key type matches the requested algorithm; for a token, check its log");
} delegate {
    BufferTooSmall(b) => b;
});

/// Anything that holds a private key and can sign with it.
pub trait Signer {
    /// The algorithm `sign` produces.
    fn algorithm(&self) -> SignatureScheme;
    /// DER SubjectPublicKeyInfo of the key.
    fn public_key_der(&self) -> &[u8];
    /// Upper bound of the signature length in bytes.
    fn max_signature_len(&self) -> usize;
    /// Signs `tbs` (hashing it as the algorithm says) into `out`; returns the
    /// length. RSA: the PKCS#1 v1.5 signature. ECDSA: DER `ECDSA-Sig-Value`.
    fn sign(&self, tbs: &[u8], out: &mut [u8]) -> Result<usize, SignError>;
}

/// CSR assembly failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CsrError {
    /// The signer's SubjectPublicKeyInfo is not DER.
    BadPublicKey,
    /// Neither a subject nor a SAN: the request names nobody.
    NoSubjectNoSan,
    /// The signer failed.
    Sign(SignError),
    /// The input is not a PKCS#10 request (the DER error says where).
    NotACsr(DerError),
}

explain!(CsrError {
    BadPublicKey => ("RC-CSR-001", "the signer's public key is not a DER SubjectPublicKeyInfo", "report this as a bug in the signer implementation");
    NoSubjectNoSan => ("RC-CSR-002", "the request has neither a subject nor a subject alternative name", "give a Subject (e.g. CN=device01) or at least one SAN entry");
    Sign(e) => ("RC-CSR-003", "signing the request failed", "see the signer error; check the key is present and usable"), "{e}";
    NotACsr(e) => ("RC-CSR-004", "the input is not a PKCS#10 certificate request", "pass a CSR (PEM CERTIFICATE REQUEST or NEW CERTIFICATE REQUEST, or DER)"), "{e}";
});

/// A requested KeyUsage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyUsageReq {
    /// certreq mask (`0xa0` = digitalSignature + keyEncipherment)
    pub mask: u16,
    /// mark the extension critical (certreq does)
    pub critical: bool,
}

/// Where the SAN entries come from.
#[derive(Debug, Clone, Copy)]
pub enum SanSource<'a> {
    /// No SAN extension.
    None,
    /// Typed entries.
    Names(&'a [GeneralName<'a>]),
    /// certreq `{text}` fragments (each `email=…&upn=…`), with byte offsets for errors.
    Text(&'a [(&'a str, usize)]),
}

impl SanSource<'_> {
    fn is_empty(&self) -> bool {
        match self {
            SanSource::None => true,
            SanSource::Names(n) => n.is_empty(),
            SanSource::Text(t) => t.iter().all(|(s, _)| SanText::new(s, 0).next().is_none()),
        }
    }
}

/// An extension given as raw DER (`extnValue` contents).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawExtension<'a> {
    /// extnID
    pub oid: Oid,
    /// critical flag
    pub critical: bool,
    /// DER of the extension value
    pub value: &'a [u8],
}

/// What to put in a request.
#[derive(Debug, Clone, Copy)]
pub struct CsrSpec<'a> {
    /// certreq-style subject (`CN=…, O=…`); empty for a SAN-only request.
    pub subject: &'a str,
    /// The subject as DER, taken byte for byte instead of `subject` (a
    /// renewal keeps the name exactly as the CA issued it).
    pub subject_der: Option<&'a [u8]>,
    /// KeyUsage, if requested.
    pub key_usage: Option<KeyUsageReq>,
    /// ExtendedKeyUsage purposes (none: no EKU extension).
    pub eku: &'a [Oid],
    /// SubjectAltName entries.
    pub san: SanSource<'a>,
    /// BasicConstraints (cA, pathLen), if requested.
    pub basic_constraints: Option<(bool, Option<u32>)>,
    /// OIDs of extensions to mark critical (certreq `Critical = …`).
    pub critical: &'a [Oid],
    /// Further extensions as raw DER.
    pub extra: &'a [RawExtension<'a>],
}

impl<'a> CsrSpec<'a> {
    /// A request for `subject` with no extensions.
    pub const fn new(subject: &'a str) -> Self {
        CsrSpec {
            subject,
            subject_der: None,
            key_usage: None,
            eku: &[],
            san: SanSource::None,
            basic_constraints: None,
            critical: &[],
            extra: &[],
        }
    }

    fn is_critical(&self, o: &Oid) -> bool {
        self.critical.iter().any(|c| c == o)
    }

    fn has_extensions(&self) -> bool {
        self.key_usage.is_some()
            || !self.eku.is_empty()
            || !self.san.is_empty()
            || self.basic_constraints.is_some()
            || !self.extra.is_empty()
    }
}

fn write_extensions(
    spec: &CsrSpec<'_>,
    w: &mut DerWriter<'_>,
    subject_empty: bool,
) -> Result<(), Error> {
    let exts = w.begin(tag::SEQUENCE);
    if let Some(k) = spec.key_usage {
        ext::write_extension::<Error, _>(
            w,
            &oid::KEY_USAGE,
            k.critical || spec.is_critical(&oid::KEY_USAGE),
            |w| {
                ext::write_key_usage(w, k.mask);
                Ok(())
            },
        )?;
    }
    if !spec.eku.is_empty() {
        ext::write_extension::<Error, _>(
            w,
            &oid::EXT_KEY_USAGE,
            spec.is_critical(&oid::EXT_KEY_USAGE),
            |w| {
                ext::write_eku(w, spec.eku);
                Ok(())
            },
        )?;
    }
    if !spec.san.is_empty() {
        // RFC 5280 §4.2.1.6: critical when the subject is empty.
        let crit = subject_empty || spec.is_critical(&oid::SUBJECT_ALT_NAME);
        ext::write_extension::<Error, _>(w, &oid::SUBJECT_ALT_NAME, crit, |w| {
            match spec.san {
                SanSource::None => {}
                SanSource::Names(n) => ext::write_san(w, n.iter().copied().map(Ok))?,
                SanSource::Text(t) => {
                    ext::write_san(w, t.iter().flat_map(|(s, base)| SanText::new(s, *base)))?
                }
            }
            Ok(())
        })?;
    }
    if let Some((ca, pl)) = spec.basic_constraints {
        ext::write_extension::<Error, _>(
            w,
            &oid::BASIC_CONSTRAINTS,
            spec.is_critical(&oid::BASIC_CONSTRAINTS),
            |w| {
                ext::write_basic_constraints(w, ca, pl);
                Ok(())
            },
        )?;
    }
    for x in spec.extra {
        asn1::parse_single(x.value)?;
        ext::write_extension::<Error, _>(w, &x.oid, x.critical || spec.is_critical(&x.oid), |w| {
            w.bytes(x.value);
            Ok(())
        })?;
    }
    w.end(exts);
    Ok(())
}

/// Writes the CertificationRequestInfo into `w`.
pub fn write_request_info(
    spec: &CsrSpec<'_>,
    spki: &[u8],
    w: &mut DerWriter<'_>,
) -> Result<(), Error> {
    let tbs = w.begin(tag::SEQUENCE);
    w.small_uint(0);
    let subject_empty = spec.subject_der.is_none() && spec.subject.trim().is_empty();
    if let Some(d) = spec.subject_der {
        name::parse_name(d)?;
        w.bytes(d);
    } else if subject_empty {
        if spec.san.is_empty() {
            return Err(CsrError::NoSubjectNoSan.into());
        }
        w.tlv(tag::SEQUENCE, &[]);
    } else {
        name::encode_subject(spec.subject, w)?;
    }
    SpkiRef::parse(spki).map_err(|_| CsrError::BadPublicKey)?;
    w.bytes(spki);
    let attrs = w.begin(tag::ctx_cons(0));
    if spec.has_extensions() {
        let a = w.begin(tag::SEQUENCE);
        w.oid(&oid::EXTENSION_REQUEST);
        let set = w.begin(tag::SET);
        write_extensions(spec, w, subject_empty)?;
        w.end(set);
        w.end(a);
    }
    w.end(attrs);
    w.end(tbs);
    Ok(())
}

/// Builds and signs a PKCS#10 request into `out`; returns the DER.
pub fn build<'b, S: Signer + ?Sized>(
    spec: &CsrSpec<'_>,
    signer: &S,
    out: &'b mut [u8],
) -> Result<&'b [u8], Error> {
    let mut w = DerWriter::new(out);
    let outer = w.begin(tag::SEQUENCE);
    let tbs_start = w.position();
    write_request_info(spec, signer.public_key_der(), &mut w)?;
    let tbs_len = w.position() - tbs_start;
    signer.algorithm().write(&mut w);
    let bits = w.begin(tag::BIT_STRING);
    w.byte(0);
    match w.split_free(tbs_start) {
        Some((written, free)) => {
            let tbs = written.get(..tbs_len).ok_or(DerError::LogicBug)?;
            let max = signer.max_signature_len();
            if free.len() < max {
                w.reserve_virtual(max);
            } else {
                let n = signer.sign(tbs, free).map_err(CsrError::Sign)?;
                w.advance(n);
            }
        }
        None => w.reserve_virtual(signer.max_signature_len()),
    }
    w.end(bits);
    w.end(outer);
    let n = w.finish()?;
    out.get(..n).ok_or(Error::Der(DerError::LogicBug))
}

/// Size of the CSR for `spec` and `signer`, at most (uses max_signature_len).
pub fn max_len<S: Signer + ?Sized>(spec: &CsrSpec<'_>, signer: &S) -> Result<usize, Error> {
    let mut w = DerWriter::new(&mut []);
    let outer = w.begin(tag::SEQUENCE);
    match write_request_info(spec, signer.public_key_der(), &mut w) {
        Ok(()) | Err(Error::Der(DerError::BufferTooSmall(_))) => {}
        Err(Error::Name(name::NameError::Der(DerError::BufferTooSmall(_)))) => {}
        Err(Error::Ext(ext::ExtError::Der(DerError::BufferTooSmall(_)))) => {}
        Err(e) => return Err(e),
    }
    signer.algorithm().write(&mut w);
    let bits = w.begin(tag::BIT_STRING);
    w.byte(0);
    w.reserve_virtual(signer.max_signature_len());
    w.end(bits);
    w.end(outer);
    Ok(w.position())
}

/// A borrowed PKCS#10 request.
#[derive(Debug, Clone, Copy)]
pub struct CsrRef<'a> {
    /// The whole DER.
    pub der: &'a [u8],
    /// The signed CertificationRequestInfo (tag and length included).
    pub tbs: &'a [u8],
    /// Version (0 for v1).
    pub version: u64,
    /// Subject.
    pub subject: NameRef<'a>,
    /// Public key.
    pub spki: SpkiRef<'a>,
    /// The `[0]` attributes TLV.
    pub attributes: Tlv<'a>,
    /// Signature algorithm OID.
    pub signature_algorithm: Oid,
    /// Signature bytes.
    pub signature: &'a [u8],
}

impl<'a> CsrRef<'a> {
    /// Parses and checks the structure (not the signature).
    pub fn parse(der: &'a [u8]) -> Result<Self, CsrError> {
        Self::parse_der(der).map_err(CsrError::NotACsr)
    }

    fn parse_der(der: &'a [u8]) -> Result<Self, DerError> {
        let outer = asn1::parse_single(der)?;
        if outer.tag != tag::SEQUENCE {
            return Err(DerError::UnexpectedTag {
                offset: 0,
                expected: tag::SEQUENCE,
                found: outer.tag,
            });
        }
        let mut r = outer.reader();
        let tbs = r.require(tag::SEQUENCE)?;
        let alg = r.require(tag::SEQUENCE)?;
        let sig = r.require(tag::BIT_STRING)?;
        r.finish()?;
        let mut t = tbs.reader();
        let version = asn1::small_uint(&t.require(tag::INTEGER)?)?;
        let subject = NameRef::new(t.require(tag::SEQUENCE)?)?;
        let spki = SpkiRef::new(t.require(tag::SEQUENCE)?)?;
        let attributes = t.require(tag::ctx_cons(0))?;
        t.finish()?;
        let mut ar = alg.reader();
        let o = ar.require(tag::OID)?;
        let signature_algorithm =
            Oid::from_bytes(o.value).map_err(|_| DerError::BadValue { offset: o.offset })?;
        let (_, signature) = asn1::bit_string(&sig)?;
        let csr = CsrRef {
            der,
            tbs: tbs.raw,
            version,
            subject,
            spki,
            attributes,
            signature_algorithm,
            signature,
        };
        csr.for_each_extension(|_| Ok(()))?;
        Ok(csr)
    }

    /// Visits the extensions in the extensionRequest attribute (if any).
    pub fn for_each_extension<F>(&self, mut f: F) -> Result<(), DerError>
    where
        F: FnMut(ExtensionRef<'a>) -> Result<(), DerError>,
    {
        let mut attrs = self.attributes.reader();
        while !attrs.is_empty() {
            let a = attrs.require(tag::SEQUENCE)?;
            let mut ar = a.reader();
            let o = ar.require(tag::OID)?;
            let values = ar.require(tag::SET)?;
            ar.finish()?;
            if o.value == oid::EXTENSION_REQUEST.as_bytes() {
                let mut vr = values.reader();
                while !vr.is_empty() {
                    let exts = vr.require(tag::SEQUENCE)?;
                    ext::for_each_extension(&exts, &mut f)?;
                }
            }
        }
        Ok(())
    }

    /// Visits the other attributes (OID and value SET), e.g. certreq's
    /// ClientInformation or challengePassword.
    pub fn for_each_attribute<F: FnMut(Oid, Tlv<'a>)>(&self, mut f: F) -> Result<(), DerError> {
        let mut attrs = self.attributes.reader();
        while !attrs.is_empty() {
            let a = attrs.require(tag::SEQUENCE)?;
            let mut ar = a.reader();
            let o = ar.require(tag::OID)?;
            let values = ar.require(tag::SET)?;
            f(
                Oid::from_bytes(o.value).map_err(|_| DerError::BadValue { offset: o.offset })?,
                values,
            );
        }
        Ok(())
    }
}

/// True if `der` starts like a CSR (SEQUENCE { SEQUENCE { INTEGER 0, … } }).
pub fn looks_like_csr(der: &[u8]) -> bool {
    CsrRef::parse(der).is_ok()
}

/// Reads the first TLV of `input` (helper for format sniffing).
pub fn first_tlv(input: &[u8]) -> Option<Tlv<'_>> {
    Reader::new(input).any().ok()
}
