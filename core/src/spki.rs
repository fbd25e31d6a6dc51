//! SubjectPublicKeyInfo (RFC 5280 §4.1.2.7, RFC 3279, RFC 5480): a zero-copy
//! view that tells the key type and size, and builds the SPKI of a P-256 key.

use core::fmt;

use crate::asn1::{self, tag, DerError, Reader, Tlv};
use crate::oid::{self, Oid};

/// The kind and size of a public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum KeyKind {
    /// RSA with this modulus size in bits.
    Rsa(u32),
    /// NIST P-256.
    P256,
    /// NIST P-384.
    P384,
    /// EC on another curve.
    OtherEc,
    /// Ed25519.
    Ed25519,
    /// Anything else.
    Other,
}

impl KeyKind {
    /// Upper bound of a signature by a key of this kind: the RSA modulus
    /// size, or a DER `ECDSA-Sig-Value` (72 bytes for P-256, 104 for P-384).
    pub const fn max_signature_len(self) -> usize {
        match self {
            KeyKind::Rsa(bits) => (bits as usize).div_ceil(8),
            KeyKind::P384 => crate::sig::ecdsa_der_max_len(48),
            _ => crate::sig::ecdsa_der_max_len(32),
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyKind::Rsa(b) => write!(f, "RSA {b} bit"),
            KeyKind::P256 => f.write_str("EC P-256"),
            KeyKind::P384 => f.write_str("EC P-384"),
            KeyKind::OtherEc => f.write_str("EC (other curve)"),
            KeyKind::Ed25519 => f.write_str("Ed25519"),
            KeyKind::Other => f.write_str("unknown key type"),
        }
    }
}

/// A borrowed SubjectPublicKeyInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpkiRef<'a> {
    /// The whole SPKI TLV.
    pub der: Tlv<'a>,
    /// algorithm OID
    pub algorithm: Oid,
    /// the parameters TLV, if any
    pub params: Option<Tlv<'a>>,
    /// the subjectPublicKey bits
    pub key: &'a [u8],
}

impl<'a> SpkiRef<'a> {
    /// Parses an SPKI TLV.
    pub fn new(der: Tlv<'a>) -> Result<Self, DerError> {
        if der.tag != tag::SEQUENCE {
            return Err(DerError::UnexpectedTag {
                offset: der.offset,
                expected: tag::SEQUENCE,
                found: der.tag,
            });
        }
        let mut r = der.reader();
        let alg = r.require(tag::SEQUENCE)?;
        let bits = r.require(tag::BIT_STRING)?;
        r.finish()?;
        let mut ar = alg.reader();
        let o = ar.require(tag::OID)?;
        let algorithm =
            Oid::from_bytes(o.value).map_err(|_| DerError::BadValue { offset: o.offset })?;
        let params = if ar.is_empty() { None } else { Some(ar.any()?) };
        ar.finish()?;
        let (unused, key) = asn1::bit_string(&bits)?;
        if unused != 0 {
            return Err(DerError::BadValue {
                offset: bits.offset,
            });
        }
        Ok(SpkiRef {
            der,
            algorithm,
            params,
            key,
        })
    }

    /// Parses SPKI bytes.
    pub fn parse(der: &'a [u8]) -> Result<Self, DerError> {
        Self::new(asn1::parse_single(der)?)
    }

    /// Key type and size.
    pub fn kind(&self) -> KeyKind {
        if self.algorithm == oid::RSA_ENCRYPTION {
            let bits = (|| {
                let mut r = Reader::new(self.key);
                let seq = r.require(tag::SEQUENCE).ok()?;
                let n = seq.reader().require(tag::INTEGER).ok()?;
                let mut v = n.value;
                while let [0, rest @ ..] = v {
                    v = rest;
                }
                let first = *v.first()?;
                Some((v.len() as u32) * 8 - first.leading_zeros())
            })();
            KeyKind::Rsa(bits.unwrap_or(0))
        } else if self.algorithm == oid::EC_PUBLIC_KEY {
            let curve = self.params.and_then(|p| Oid::from_bytes(p.value).ok());
            match curve {
                Some(c) if c == oid::SECP256R1 => KeyKind::P256,
                Some(c) if c == oid::SECP384R1 => KeyKind::P384,
                _ => KeyKind::OtherEc,
            }
        } else if self.algorithm == oid::ED25519 {
            KeyKind::Ed25519
        } else {
            KeyKind::Other
        }
    }
}

/// DER prefix of a P-256 SPKI; the 65-byte uncompressed point follows.
pub const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Builds a P-256 SPKI from an uncompressed SEC1 point (65 bytes, 0x04 first).
pub fn p256_spki(point: &[u8; 65]) -> [u8; 91] {
    let mut out = [0u8; 91];
    let (a, b) = out.split_at_mut(26);
    a.copy_from_slice(&P256_SPKI_PREFIX);
    b.copy_from_slice(point);
    out
}

/// Builds an RSA SubjectPublicKeyInfo (RFC 3279 §2.3.1) from the modulus and
/// public exponent as big-endian bytes — what a PKCS#11 token (`CKA_MODULUS`,
/// `CKA_PUBLIC_EXPONENT`), CNG (`BCRYPT_RSAPUBLIC_BLOB`) or a secure element
/// hands out. Returns the written sub-slice of `buf`.
pub fn write_rsa<'b>(
    modulus: &[u8],
    exponent: &[u8],
    buf: &'b mut [u8],
) -> Result<&'b [u8], DerError> {
    let mut w = asn1::DerWriter::new(buf);
    let spki = w.begin(tag::SEQUENCE);
    let alg = w.begin(tag::SEQUENCE);
    w.oid(&oid::RSA_ENCRYPTION);
    w.tlv(tag::NULL, &[]);
    w.end(alg);
    let bits = w.begin(tag::BIT_STRING);
    w.byte(0);
    let key = w.begin(tag::SEQUENCE);
    w.uint(modulus);
    w.uint(exponent);
    w.end(key);
    w.end(bits);
    w.end(spki);
    let n = w.finish()?;
    buf.get(..n).ok_or(DerError::LogicBug)
}

/// The NIST curves raconn signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Curve {
    /// P-256 (prime256v1).
    P256,
    /// P-384 (secp384r1).
    P384,
}

impl Curve {
    /// Field size in bytes (the length of r, s and each coordinate).
    pub const fn field_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }

    /// The curve OID.
    pub const fn oid(self) -> Oid {
        match self {
            Curve::P256 => oid::SECP256R1,
            Curve::P384 => oid::SECP384R1,
        }
    }

    /// DER of the curve OID: the `ECParameters` namedCurve (RFC 5480 §2.1.1),
    /// as PKCS#11's `CKA_EC_PARAMS` wants it.
    pub const fn params_der(self) -> &'static [u8] {
        match self {
            Curve::P256 => &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
            Curve::P384 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
        }
    }
}

/// Builds an EC SubjectPublicKeyInfo (RFC 5480) from an uncompressed SEC1
/// point (`0x04 ‖ X ‖ Y`). A point wrapped in a DER OCTET STRING, as PKCS#11
/// tokens return `CKA_EC_POINT`, is unwrapped first. Anything else is
/// [`DerError::BadValue`].
pub fn write_ec<'b>(curve: Curve, point: &[u8], buf: &'b mut [u8]) -> Result<&'b [u8], DerError> {
    let want = 1 + 2 * curve.field_len();
    let point = if point.len() == want {
        point
    } else {
        let t = asn1::parse_single(point)?;
        if t.tag != tag::OCTET_STRING {
            return Err(DerError::BadValue { offset: 0 });
        }
        t.value
    };
    if point.len() != want || point.first() != Some(&0x04) {
        return Err(DerError::BadValue { offset: 0 });
    }
    let mut w = asn1::DerWriter::new(buf);
    let spki = w.begin(tag::SEQUENCE);
    let alg = w.begin(tag::SEQUENCE);
    w.oid(&oid::EC_PUBLIC_KEY);
    w.oid(&curve.oid());
    w.end(alg);
    let bits = w.begin(tag::BIT_STRING);
    w.byte(0);
    w.bytes(point);
    w.end(bits);
    w.end(spki);
    let n = w.finish()?;
    buf.get(..n).ok_or(DerError::LogicBug)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;
    use crate::error::BufferTooSmall;

    #[test]
    fn ec_spki_equals_the_fixed_prefix_form_and_unwraps_octet_strings() {
        let mut point = [7u8; 65];
        point[0] = 4;
        let mut b = [0u8; 120];
        let d = write_ec(Curve::P256, &point, &mut b).unwrap();
        assert_eq!(d, &p256_spki(&point)[..]);
        let mut wrapped = [0u8; 67];
        wrapped[0] = 0x04;
        wrapped[1] = 65;
        wrapped[2..].copy_from_slice(&point);
        let mut b2 = [0u8; 120];
        assert_eq!(write_ec(Curve::P256, &wrapped, &mut b2).unwrap(), d);
        assert!(write_ec(Curve::P384, &point, &mut b2).is_err());
        assert_eq!(SpkiRef::parse(d).unwrap().kind(), KeyKind::P256);
    }

    #[test]
    fn rsa_spki_reports_its_size() {
        let mut n = [0xffu8; 256];
        n[255] = 0xfb;
        let mut b = [0u8; 300];
        let d = write_rsa(&n, &[1, 0, 1], &mut b).unwrap();
        assert_eq!(SpkiRef::parse(d).unwrap().kind(), KeyKind::Rsa(2048));
        let mut small = [0u8; 100];
        assert_eq!(
            write_rsa(&n, &[1, 0, 1], &mut small),
            Err(DerError::BufferTooSmall(BufferTooSmall::output(294)))
        );
    }
}
