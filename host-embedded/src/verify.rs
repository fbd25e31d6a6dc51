//! The server-certificate verifier raconn always hands embedded-tls
//! (embedded-tls skips verification when no verifier is supplied). It checks
//! the TLS 1.3 server's chain to the trust anchor from storage
//! (RFC 5280 §6.1, reduced: names chain by exact DER, signatures, cA on
//! every issuer, a path of at most 6), the host name against the leaf's
//! subjectAltName dNSName / iPAddress entries (RFC 6125 §6.4, one leftmost
//! `*` label; no CN fallback), validity when the appliance has a clock (else
//! it reports "expiry unchecked"), and the server's CertificateVerify
//! signature over the transcript (RFC 8446 §4.4.3).
//!
//! Signatures: ECDSA P-256 and P-384 (RustCrypto `p256`, `p384`; P-384 is
//! the `p384` feature) with the hash the signature algorithm names — not
//! the curve's: openssl signs with a P-384 key and SHA-256 unless told
//! otherwise — RSA PKCS#1 v1.5 SHA-256/384/512 for certificates and RSA-PSS
//! (RSAE) SHA-256/384/512 for CertificateVerify, through [`crate::rsa`] —
//! no allocation anywhere. The exact reason a handshake was refused is kept
//! ([`ServerVerifier::failure`]), since embedded-tls only says
//! `InvalidCertificate`.

use embedded_tls::{
    CertificateEntryRef, CertificateRef as TlsChain, CertificateVerifyRef, SignatureScheme,
    TlsCipherSuite, TlsError, TlsVerifier,
};
use raconn_core::asn1::{tag, Reader};
use raconn_core::cert::CertificateRef;
use raconn_core::ext::GeneralNameRef;
use raconn_core::oid;
use raconn_core::spki::{KeyKind, SpkiRef};
use sha2::Digest as _;

use crate::error::EmbeddedError;
use crate::rsa::{self, Hash, Padding};

/// Longest path: leaf + intermediates up to the anchor.
const MAX_PATH: usize = 6;
/// Certificates taken from the server's Certificate message.
const MAX_SENT: usize = 16;
/// Largest leaf SPKI kept for CertificateVerify (RSA-4096: 550 bytes).
const MAX_LEAF_SPKI: usize = 600;

/// Verifies the CA server for one connection.
pub struct ServerVerifier<'a> {
    anchor: &'a [u8],
    host: &'a str,
    now: Option<i64>,
    leaf_spki: heapless::Vec<u8, MAX_LEAF_SPKI>,
    transcript: heapless::Vec<u8, 64>,
    failure: Option<EmbeddedError>,
    expiry_checked: bool,
}

impl<'a> ServerVerifier<'a> {
    /// `anchor`: DER of the trust anchor; `host`: the name to match;
    /// `now`: Unix seconds when the appliance has a trustworthy clock.
    pub fn new(anchor: &'a [u8], host: &'a str, now: Option<i64>) -> Self {
        ServerVerifier {
            anchor,
            host,
            now,
            leaf_spki: heapless::Vec::new(),
            transcript: heapless::Vec::new(),
            failure: None,
            expiry_checked: false,
        }
    }

    /// Why the last handshake was refused, if it was.
    pub fn failure(&self) -> Option<EmbeddedError> {
        self.failure.clone()
    }

    /// Whether validity periods were checked (false without a clock).
    pub fn expiry_checked(&self) -> bool {
        self.expiry_checked
    }

    fn fail(&mut self, e: EmbeddedError) -> TlsError {
        self.failure = Some(e);
        TlsError::InvalidCertificate
    }

    fn check_chain(&mut self, chain: &TlsChain<'_>) -> Result<(), EmbeddedError> {
        let mut certs: heapless::Vec<&[u8], MAX_SENT> = heapless::Vec::new();
        for e in chain.entries.iter() {
            match e {
                CertificateEntryRef::X509(d) => {
                    certs.push(d).map_err(|_| EmbeddedError::ChainTooLong)?;
                }
                CertificateEntryRef::RawPublicKey(_) => {
                    return Err(EmbeddedError::BadServerCertificate)
                }
            }
        }
        self.check_certificates(&certs)
    }

    /// Checks the certificates a server sent (its own first) as the
    /// handshake does: DER, host name, validity (with a clock), the path
    /// to the trust anchor (at most 6 certificates, each issuer a CA) and
    /// every signature on it. On success the server's key is kept for its
    /// CertificateVerify.
    pub fn check_certificates(&mut self, certs: &[&[u8]]) -> Result<(), EmbeddedError> {
        if certs.len() > MAX_SENT {
            return Err(EmbeddedError::ChainTooLong);
        }
        let leaf_der = *certs.first().ok_or(EmbeddedError::BadServerCertificate)?;
        let leaf =
            CertificateRef::parse(leaf_der).map_err(|_| EmbeddedError::BadServerCertificate)?;
        if !host_matches(&leaf, self.host) {
            return Err(EmbeddedError::HostnameMismatch);
        }
        // The server's key, kept for its CertificateVerify (cleared again
        // below unless the path checks out).
        self.leaf_spki.clear();
        self.leaf_spki
            .extend_from_slice(leaf.spki.der.raw)
            .map_err(|_| EmbeddedError::UnsupportedKey)?;
        let r = self.check_path(leaf, certs);
        if r.is_err() {
            self.leaf_spki.clear();
        }
        r
    }

    /// From the leaf to the trust anchor: one certificate parsed at a time
    /// besides the anchor (each `CertificateRef` is 264 bytes on a 32-bit
    /// target, and this runs deep in the handshake's stack).
    fn check_path(
        &mut self,
        leaf: CertificateRef<'_>,
        certs: &[&[u8]],
    ) -> Result<(), EmbeddedError> {
        let anchor =
            CertificateRef::parse(self.anchor).map_err(|_| EmbeddedError::BadTrustAnchor)?;
        self.expiry_checked = self.now.is_some();
        let mut cur = leaf;
        let mut depth = 0;
        loop {
            self.check_validity(&cur)?;
            if cur.der == anchor.der {
                // The server sent the anchor itself.
                return Ok(());
            }
            if cur.issuer.der.raw == anchor.subject.der.raw {
                verify_cert_signature(&cur, &anchor.spki)?;
                return self.check_validity(&anchor);
            }
            depth += 1;
            if depth >= MAX_PATH {
                return Err(EmbeddedError::ChainTooLong);
            }
            let issuer_der = certs
                .iter()
                .skip(1)
                .copied()
                .find(|d| {
                    *d != cur.der
                        && CertificateRef::parse(d)
                            .is_ok_and(|c| c.subject.der.raw == cur.issuer.der.raw)
                })
                .ok_or(EmbeddedError::UntrustedServer)?;
            let issuer =
                CertificateRef::parse(issuer_der).map_err(|_| EmbeddedError::UntrustedServer)?;
            if !matches!(issuer.basic_constraints(), Some((true, _))) {
                return Err(EmbeddedError::UntrustedServer);
            }
            verify_cert_signature(&cur, &issuer.spki)?;
            cur = issuer;
        }
    }

    fn check_validity(&self, c: &CertificateRef<'_>) -> Result<(), EmbeddedError> {
        if let Some(now) = self.now {
            if now < c.not_before.unix() || now > c.not_after.unix() {
                return Err(EmbeddedError::ServerCertificateExpired);
            }
        }
        Ok(())
    }
}

impl<C: TlsCipherSuite> TlsVerifier<C> for ServerVerifier<'_> {
    fn set_hostname_verification(&mut self, hostname: &str) -> Result<(), TlsError> {
        // The host name to match is fixed at construction; SNI must agree.
        if hostname.eq_ignore_ascii_case(self.host) {
            Ok(())
        } else {
            Err(self.fail(EmbeddedError::HostnameMismatch))
        }
    }

    fn verify_certificate(
        &mut self,
        transcript: &C::Hash,
        cert: TlsChain<'_>,
    ) -> Result<(), TlsError> {
        self.failure = None;
        if let Err(e) = self.check_chain(&cert) {
            return Err(self.fail(e));
        }
        let h = transcript.clone().finalize();
        self.transcript.clear();
        if self.transcript.extend_from_slice(&h).is_err() {
            return Err(self.fail(EmbeddedError::UnsupportedKey));
        }
        Ok(())
    }

    fn verify_signature(&mut self, verify: CertificateVerifyRef<'_>) -> Result<(), TlsError> {
        const CTX: &[u8] = b"TLS 1.3, server CertificateVerify\x00";
        let mut msg = [0x20u8; 64 + 34 + 64];
        let tl = self.transcript.len();
        let Some(dst) = msg.get_mut(64..64 + 34 + tl) else {
            return Err(self.fail(EmbeddedError::UnsupportedKey));
        };
        let (a, b) = dst.split_at_mut(34);
        a.copy_from_slice(CTX);
        b.copy_from_slice(&self.transcript);
        let msg = msg.get(..64 + 34 + tl).unwrap_or(&[]);
        let alg = match verify.signature_scheme {
            SignatureScheme::EcdsaSecp256r1Sha256 => Alg::Ecdsa(Hash::Sha256),
            SignatureScheme::EcdsaSecp384r1Sha384 => Alg::Ecdsa(Hash::Sha384),
            SignatureScheme::RsaPssRsaeSha256 => Alg::Rsa(Padding::Pss(Hash::Sha256)),
            SignatureScheme::RsaPssRsaeSha384 => Alg::Rsa(Padding::Pss(Hash::Sha384)),
            SignatureScheme::RsaPssRsaeSha512 => Alg::Rsa(Padding::Pss(Hash::Sha512)),
            _ => return Err(self.fail(EmbeddedError::UnsupportedKey)),
        };
        let spki = self.leaf_spki.clone();
        let r = SpkiRef::parse(&spki)
            .map_err(|_| EmbeddedError::BadServerCertificate)
            .and_then(|k| verify_with(&k, alg, msg, verify.signature));
        match r {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail(e)),
        }
    }
}

#[derive(Clone, Copy)]
enum Alg {
    Ecdsa(Hash),
    Rsa(Padding),
}

fn verify_cert_signature(
    c: &CertificateRef<'_>,
    issuer: &SpkiRef<'_>,
) -> Result<(), EmbeddedError> {
    let a = c.signature_algorithm;
    let alg = if a == oid::ECDSA_SHA256 {
        Alg::Ecdsa(Hash::Sha256)
    } else if a == oid::ECDSA_SHA384 {
        Alg::Ecdsa(Hash::Sha384)
    } else if a == oid::SHA256_WITH_RSA {
        Alg::Rsa(Padding::Pkcs1(Hash::Sha256))
    } else if a == oid::SHA384_WITH_RSA {
        Alg::Rsa(Padding::Pkcs1(Hash::Sha384))
    } else if a == oid::SHA512_WITH_RSA {
        Alg::Rsa(Padding::Pkcs1(Hash::Sha512))
    } else {
        return Err(EmbeddedError::UnsupportedKey);
    };
    verify_with(issuer, alg, c.tbs, c.signature)
}

/// Verifies `sig` over `msg` with the key in `spki`: ECDSA over the digest
/// of the algorithm's hash (FIPS 186-5 §6.4: a digest longer than the
/// curve's order is truncated), on the curve of the key.
fn verify_with(spki: &SpkiRef<'_>, alg: Alg, msg: &[u8], sig: &[u8]) -> Result<(), EmbeddedError> {
    match (alg, spki.kind()) {
        (Alg::Ecdsa(h), KeyKind::P256) => verify_p256(spki.key, h, msg, sig),
        #[cfg(feature = "p384")]
        (Alg::Ecdsa(h), KeyKind::P384) => verify_p384(spki.key, h, msg, sig),
        #[cfg(not(feature = "p384"))]
        (Alg::Ecdsa(_), KeyKind::P384) => Err(EmbeddedError::NotBuilt { feature: "p384" }),
        (Alg::Rsa(p), KeyKind::Rsa(_)) => {
            let (n, e) = rsa_key(spki.key).ok_or(EmbeddedError::UnsupportedKey)?;
            rsa::verify(n, e, p, msg, sig).map_err(|e| match e {
                rsa::RsaError::UnsupportedKey => EmbeddedError::UnsupportedKey,
                _ => EmbeddedError::BadServerSignature,
            })
        }
        _ => Err(EmbeddedError::UnsupportedKey),
    }
}

// One function per algorithm, none inlined: the stack then holds the
// locals of the one that runs, not of all of them.
#[inline(never)]
fn verify_p256(key: &[u8], h: Hash, msg: &[u8], sig: &[u8]) -> Result<(), EmbeddedError> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let bad = |_| EmbeddedError::BadServerSignature;
    let mut digest = [0u8; 64];
    let n = h.digest(&[msg], &mut digest);
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(bad)?;
    let s = p256::ecdsa::DerSignature::try_from(sig).map_err(bad)?;
    vk.verify_prehash(digest.get(..n).unwrap_or(&[]), &s)
        .map_err(bad)
}

#[cfg(feature = "p384")]
#[inline(never)]
fn verify_p384(key: &[u8], h: Hash, msg: &[u8], sig: &[u8]) -> Result<(), EmbeddedError> {
    use p384::ecdsa::signature::hazmat::PrehashVerifier;
    let bad = |_| EmbeddedError::BadServerSignature;
    let mut digest = [0u8; 64];
    let n = h.digest(&[msg], &mut digest);
    let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(bad)?;
    let s = p384::ecdsa::DerSignature::try_from(sig).map_err(bad)?;
    vk.verify_prehash(digest.get(..n).unwrap_or(&[]), &s)
        .map_err(bad)
}

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn rsa_key(bits: &[u8]) -> Option<(&[u8], &[u8])> {
    let seq = Reader::new(bits).require(tag::SEQUENCE).ok()?;
    let mut r = seq.reader();
    let n = r.require(tag::INTEGER).ok()?;
    let e = r.require(tag::INTEGER).ok()?;
    Some((n.value, e.value))
}

/// RFC 6125 §6.4: SAN dNSName (case-insensitive, one leftmost `*` label)
/// or iPAddress for a dotted-quad host.
fn host_matches(leaf: &CertificateRef<'_>, host: &str) -> bool {
    let ip = parse_ipv4(host);
    let mut ok = false;
    let _ = leaf.for_each_san(|n| {
        match (n, ip) {
            (GeneralNameRef::Dns(d), None) => ok |= dns_matches(d, host),
            (GeneralNameRef::Ip(a), Some(v4)) => ok |= a == v4,
            _ => {}
        }
        Ok(())
    });
    ok
}

fn dns_matches(pattern: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.');
    let pattern = pattern.trim_end_matches('.');
    if let Some(rest) = pattern.strip_prefix("*.") {
        match host.split_once('.') {
            Some((label, tail)) => {
                !label.is_empty() && tail.eq_ignore_ascii_case(rest) && rest.contains('.')
            }
            None => false,
        }
    } else {
        pattern.eq_ignore_ascii_case(host)
    }
}

fn parse_ipv4(s: &str) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = s.split('.');
    for o in out.iter_mut() {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *o = p.parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn names() {
        assert!(dns_matches("*.symauth.com", "pki-ws.symauth.com"));
        assert!(!dns_matches("*.symauth.com", "a.b.symauth.com"));
        assert!(!dns_matches("*.com", "x.com"));
        assert!(dns_matches("LOCALHOST", "localhost"));
        assert_eq!(parse_ipv4("127.0.0.1"), Some([127, 0, 0, 1]));
        assert_eq!(parse_ipv4("127.0.0"), None);
        assert_eq!(parse_ipv4("1.2.3.256"), None);
    }
}
