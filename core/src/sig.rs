//! Signatures at the key seam: [`SignatureScheme`], the one vocabulary of
//! how a key signs — for a PKCS#10 (its X.509 AlgorithmIdentifier, RFC 4055,
//! RFC 5758), for a TLS CertificateVerify (its TLS code point, RFC 8446
//! §4.2.3) and for a token or secure element — and the DER `ECDSA-Sig-Value`
//! (RFC 3279 §2.2.3, RFC 5480 §2.2.2) that X.509, PKCS#10 and TLS carry,
//! made from the fixed-width `r ‖ s` that PKCS#11 (`CKM_ECDSA`), Windows CNG
//! (`NCryptSignHash`) and most secure elements return.

use crate::asn1::{tag, DerError, DerWriter};
use crate::oid::{self, Oid};
use crate::spki::KeyKind;

/// The hash a signature is made over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HashAlgorithm {
    /// SHA-256 (certreq's default on current Windows)
    Sha256,
    /// SHA-384
    Sha384,
}

impl HashAlgorithm {
    /// Digest length in bytes.
    pub const fn len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
        }
    }

    /// Never empty.
    pub const fn is_empty(self) -> bool {
        false
    }
}

/// How a key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SignatureScheme {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (sha256WithRSAEncryption; TLS rsa_pkcs1_sha256).
    RsaPkcs1Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RsaPkcs1Sha384,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, 32-byte salt (TLS rsa_pss_rsae_sha256).
    RsaPssSha256,
    /// RSASSA-PSS with SHA-384, MGF1-SHA-384, 48-byte salt.
    RsaPssSha384,
    /// ECDSA on P-256 with SHA-256 (ecdsa-with-SHA256; TLS ecdsa_secp256r1_sha256).
    EcdsaP256Sha256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384Sha384,
}

impl SignatureScheme {
    /// The X.509 signature algorithm OID.
    pub const fn oid(self) -> Oid {
        match self {
            Self::RsaPkcs1Sha256 => oid::SHA256_WITH_RSA,
            Self::RsaPkcs1Sha384 => oid::SHA384_WITH_RSA,
            Self::RsaPssSha256 | Self::RsaPssSha384 => oid::RSASSA_PSS,
            Self::EcdsaP256Sha256 => oid::ECDSA_SHA256,
            Self::EcdsaP384Sha384 => oid::ECDSA_SHA384,
        }
    }

    /// The TLS SignatureScheme code point (RFC 8446 §4.2.3).
    pub const fn tls_code(self) -> u16 {
        match self {
            Self::RsaPkcs1Sha256 => 0x0401,
            Self::RsaPkcs1Sha384 => 0x0501,
            Self::RsaPssSha256 => 0x0804,
            Self::RsaPssSha384 => 0x0805,
            Self::EcdsaP256Sha256 => 0x0403,
            Self::EcdsaP384Sha384 => 0x0503,
        }
    }

    /// The hash signed over.
    pub const fn hash(self) -> HashAlgorithm {
        match self {
            Self::RsaPkcs1Sha256 | Self::RsaPssSha256 | Self::EcdsaP256Sha256 => {
                HashAlgorithm::Sha256
            }
            _ => HashAlgorithm::Sha384,
        }
    }

    /// True for the RSA schemes.
    pub const fn is_rsa(self) -> bool {
        !matches!(self, Self::EcdsaP256Sha256 | Self::EcdsaP384Sha384)
    }

    /// How a key of `kind` signs a certificate request (RSA with `hash`).
    pub const fn for_request(kind: KeyKind, hash: HashAlgorithm) -> Self {
        match (kind, hash) {
            (KeyKind::P256, _) => Self::EcdsaP256Sha256,
            (KeyKind::P384, _) => Self::EcdsaP384Sha384,
            (_, HashAlgorithm::Sha384) => Self::RsaPkcs1Sha384,
            _ => Self::RsaPkcs1Sha256,
        }
    }

    /// The TLS schemes a key of `kind` offers, best first (RSA: PSS, which
    /// TLS 1.3 requires, before PKCS#1 v1.5).
    pub const fn tls_for(kind: KeyKind) -> &'static [Self] {
        match kind {
            KeyKind::P256 => &[Self::EcdsaP256Sha256],
            KeyKind::P384 => &[Self::EcdsaP384Sha384],
            KeyKind::Rsa(_) => &[
                Self::RsaPssSha256,
                Self::RsaPssSha384,
                Self::RsaPkcs1Sha256,
                Self::RsaPkcs1Sha384,
            ],
            _ => &[],
        }
    }

    /// Writes the `AlgorithmIdentifier` (NULL parameters for PKCS#1 v1.5,
    /// none for ECDSA, RSASSA-PSS-params for PSS as RFC 4055 §3.1).
    pub fn write(self, w: &mut DerWriter<'_>) {
        let m = w.begin(tag::SEQUENCE);
        w.oid(&self.oid());
        match self {
            Self::RsaPkcs1Sha256 | Self::RsaPkcs1Sha384 => w.tlv(tag::NULL, &[]),
            Self::RsaPssSha256 | Self::RsaPssSha384 => {
                let (h, salt) = match self.hash() {
                    HashAlgorithm::Sha256 => (oid::SHA256, 32u8),
                    HashAlgorithm::Sha384 => (oid::SHA384, 48u8),
                };
                let hash_alg = |w: &mut DerWriter<'_>| {
                    let a = w.begin(tag::SEQUENCE);
                    w.oid(&h);
                    w.tlv(tag::NULL, &[]);
                    w.end(a);
                };
                let p = w.begin(tag::SEQUENCE);
                let c0 = w.begin(0xA0);
                hash_alg(w);
                w.end(c0);
                let c1 = w.begin(0xA1);
                let mgf = w.begin(tag::SEQUENCE);
                w.oid(&oid::MGF1);
                hash_alg(w);
                w.end(mgf);
                w.end(c1);
                let c2 = w.begin(0xA2);
                w.uint(&[salt]);
                w.end(c2);
                w.end(p);
            }
            Self::EcdsaP256Sha256 | Self::EcdsaP384Sha384 => {}
        }
        w.end(m);
    }
}

/// Largest DER `ECDSA-Sig-Value` for a field of `field_len` bytes.
pub const fn ecdsa_der_max_len(field_len: usize) -> usize {
    // SEQUENCE { INTEGER r, INTEGER s }, each possibly with a leading 0x00.
    let int = crate::asn1::tlv_len(field_len + 1);
    crate::asn1::tlv_len(2 * int)
}

/// Converts `r ‖ s` (even length, each half big-endian) to DER into `buf`.
pub fn ecdsa_raw_to_der<'b>(rs: &[u8], buf: &'b mut [u8]) -> Result<&'b [u8], DerError> {
    if rs.is_empty() || !rs.len().is_multiple_of(2) {
        return Err(DerError::BadValue { offset: 0 });
    }
    let (r, s) = rs.split_at(rs.len() / 2);
    let mut w = DerWriter::new(buf);
    let m = w.begin(tag::SEQUENCE);
    w.uint(r);
    w.uint(s);
    w.end(m);
    let n = w.finish()?;
    buf.get(..n).ok_or(DerError::LogicBug)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;
    use crate::error::BufferTooSmall;

    #[test]
    fn pads_high_bit_and_trims_zeros() {
        let mut rs = [0u8; 64];
        rs[0] = 0x80; // r needs a sign octet
        rs[32] = 0; // s starts with zeros: trimmed
        rs[33] = 0x01;
        let mut b = [0u8; ecdsa_der_max_len(32)];
        let d = ecdsa_raw_to_der(&rs, &mut b).unwrap();
        assert_eq!(&d[..5], &[0x30, 0x44, 0x02, 0x21, 0x00]);
        assert_eq!(d.len(), 2 + 35 + 2 + 31);
        assert_eq!(ecdsa_der_max_len(32), 72);
    }

    #[test]
    fn schemes_name_their_oids_code_points_and_pss_params() {
        use SignatureScheme as S;
        assert_eq!(S::RsaPssSha256.tls_code(), 0x0804);
        assert_eq!(
            S::for_request(KeyKind::Rsa(3072), HashAlgorithm::Sha384),
            S::RsaPkcs1Sha384
        );
        assert_eq!(S::tls_for(KeyKind::P256), &[S::EcdsaP256Sha256]);
        let mut b = [0u8; 80];
        let mut w = DerWriter::new(&mut b);
        S::RsaPssSha256.write(&mut w);
        let n = w.finish().unwrap();
        // What `openssl req -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -sha256`
        // writes (OpenSSL 3.0.x).
        let want = [
            0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30,
            0x34, 0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
            0x02, 0x01, 0x05, 0x00, 0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
            0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
            0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0xa2, 0x03, 0x02, 0x01, 0x20,
        ];
        assert_eq!(&b[..n], &want[..]);
    }

    #[test]
    fn short_buffer_says_how_much() {
        let rs = [0x7fu8; 64];
        let mut b = [0u8; 10];
        assert_eq!(
            ecdsa_raw_to_der(&rs, &mut b),
            Err(DerError::BufferTooSmall(BufferTooSmall::output(70)))
        );
        assert!(ecdsa_raw_to_der(&rs[..63], &mut b).is_err());
    }
}
