//! Software private keys (RSA 2048–4096, P-256, P-384) kept as PKCS#8, and
//! their [`raconn_core::csr::Signer`] implementation; signature verification
//! for CSRs and certificates.
//!
//! RSA uses the RustCrypto `rsa` crate (PKCS#1 v1.5 with SHA-256/384,
//! deterministic); ECDSA uses `p256`/`p384` with RFC 6979 nonces, so the same
//! key and request give the same CSR bytes.

use getrandom::SysRng;
use pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use raconn_core::csr::{SignError, SignatureScheme, Signer};
use raconn_core::inf::{HashAlgorithm, KeyKind};
use raconn_core::oid;
use raconn_core::spki::SpkiRef;
use rsa::signature::{SignatureEncoding, Signer as _, Verifier as _};
use zeroize::Zeroizing;

use crate::errors::HostError;

mod rsa_gen;

fn gen_ec<K: p256::elliptic_curve::Generate>() -> Result<K, HostError> {
    K::try_generate_from_rng(&mut SysRng).map_err(|e| HostError::KeyGen(e.to_string()))
}

/// A private key held in memory.
pub enum KeyPair {
    /// RSA, with the hash to sign with.
    Rsa(Box<rsa::PrivateKey>, HashAlgorithm),
    /// P-256 (ECDSA with SHA-256).
    P256(p256::ecdsa::SigningKey),
    /// P-384 (ECDSA with SHA-384).
    P384(p384::ecdsa::SigningKey),
}

/// A key plus its cached SubjectPublicKeyInfo.
pub struct SoftKey {
    key: KeyPair,
    spki: Vec<u8>,
}

impl SoftKey {
    /// Generates a key as a certreq.ini asks.
    pub fn generate(alg: KeyKind, hash: HashAlgorithm) -> Result<Self, HostError> {
        let key = match alg {
            KeyKind::Rsa(bits) => {
                let k = rsa_gen::generate(&mut SysRng, bits as usize).map_err(HostError::KeyGen)?;
                KeyPair::Rsa(Box::new(k), hash)
            }
            KeyKind::P256 => KeyPair::P256(gen_ec::<p256::ecdsa::SigningKey>()?),
            KeyKind::P384 => KeyPair::P384(gen_ec::<p384::ecdsa::SigningKey>()?),
            other => {
                return Err(HostError::KeyGen(format!(
                    "{other} keys are not made by raconn (RSA, P-256 or P-384)"
                )))
            }
        };
        Self::from_pair(key)
    }

    fn from_pair(key: KeyPair) -> Result<Self, HostError> {
        let spki = match &key {
            KeyPair::Rsa(k, _) => k.to_public_key().to_public_key_der(),
            KeyPair::P256(k) => k.verifying_key().to_public_key_der(),
            KeyPair::P384(k) => k.verifying_key().to_public_key_der(),
        }
        .map_err(|e| HostError::KeyEncoding(e.to_string()))?
        .into_vec();
        Ok(SoftKey { key, spki })
    }

    /// PKCS#8 DER of the private key (zeroized on drop).
    pub fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, HostError> {
        let doc = match &self.key {
            KeyPair::Rsa(k, _) => k.to_pkcs8_der(),
            KeyPair::P256(k) => k.to_pkcs8_der(),
            KeyPair::P384(k) => k.to_pkcs8_der(),
        }
        .map_err(|e| HostError::KeyEncoding(e.to_string()))?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// Reads a PKCS#8 DER private key (RSA, P-256 or P-384).
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, HostError> {
        if let Ok(k) = rsa::PrivateKey::from_pkcs8_der(der) {
            return Self::from_pair(KeyPair::Rsa(Box::new(k), HashAlgorithm::Sha256));
        }
        if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_der(der) {
            return Self::from_pair(KeyPair::P256(k));
        }
        if let Ok(k) = p384::ecdsa::SigningKey::from_pkcs8_der(der) {
            return Self::from_pair(KeyPair::P384(k));
        }
        Err(HostError::KeyEncoding(
            "not an RSA, P-256 or P-384 PKCS#8 private key".into(),
        ))
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki(&self) -> &[u8] {
        &self.spki
    }

    /// A short description (`RSA 2048 bit`, `EC P-256`).
    pub fn describe(&self) -> String {
        SpkiRef::parse(&self.spki)
            .map(|s| s.kind().to_string())
            .unwrap_or_else(|_| "unknown".into())
    }
}

impl Signer for SoftKey {
    fn algorithm(&self) -> SignatureScheme {
        match &self.key {
            KeyPair::Rsa(_, HashAlgorithm::Sha256) => SignatureScheme::RsaPkcs1Sha256,
            KeyPair::Rsa(_, HashAlgorithm::Sha384) => SignatureScheme::RsaPkcs1Sha384,
            KeyPair::P256(_) => SignatureScheme::EcdsaP256Sha256,
            KeyPair::P384(_) => SignatureScheme::EcdsaP384Sha384,
        }
    }

    fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    fn max_signature_len(&self) -> usize {
        match &self.key {
            KeyPair::Rsa(k, _) => rsa::traits::PublicKeyParts::size(k.as_ref()),
            KeyPair::P256(_) => 72,
            KeyPair::P384(_) => 104,
        }
    }

    fn sign(&self, tbs: &[u8], out: &mut [u8]) -> Result<usize, SignError> {
        let sig: Vec<u8> = match &self.key {
            KeyPair::Rsa(k, HashAlgorithm::Sha256) => {
                rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new((**k).clone())
                    .try_sign(tbs)
                    .map_err(|_| SignError::Failed)?
                    .to_vec()
            }
            KeyPair::Rsa(k, HashAlgorithm::Sha384) => {
                rsa::pkcs1v15::SigningKey::<sha2::Sha384>::new((**k).clone())
                    .try_sign(tbs)
                    .map_err(|_| SignError::Failed)?
                    .to_vec()
            }
            KeyPair::P256(k) => {
                let s: p256::ecdsa::Signature = k.try_sign(tbs).map_err(|_| SignError::Failed)?;
                s.to_der().as_bytes().to_vec()
            }
            KeyPair::P384(k) => {
                let s: p384::ecdsa::Signature = k.try_sign(tbs).map_err(|_| SignError::Failed)?;
                s.to_der().as_bytes().to_vec()
            }
        };
        let dst = out.get_mut(..sig.len()).ok_or(SignError::BufferTooSmall(
            raconn_core::error::BufferTooSmall::output(sig.len()),
        ))?;
        dst.copy_from_slice(&sig);
        Ok(sig.len())
    }
}

impl crate::store::RaKey for SoftKey {
    fn describe(&self) -> String {
        SoftKey::describe(self)
    }

    fn software_pkcs8(&self) -> Option<Zeroizing<Vec<u8>>> {
        self.to_pkcs8().ok()
    }

    fn tls_schemes(&self) -> &'static [crate::store::SignatureScheme] {
        use crate::store::SignatureScheme::*;
        match &self.key {
            KeyPair::Rsa(..) => &[RsaPssSha256, RsaPssSha384, RsaPkcs1Sha256, RsaPkcs1Sha384],
            KeyPair::P256(_) => &[EcdsaP256Sha256],
            KeyPair::P384(_) => &[EcdsaP384Sha384],
        }
    }

    /// Software keys sign the CertificateVerify through aws-lc-rs (the same
    /// code path rustls uses when it loads the PKCS#8 itself).
    fn sign_tls(
        &self,
        scheme: crate::store::SignatureScheme,
        msg: &[u8],
    ) -> Result<Vec<u8>, String> {
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        let p8 = self.to_pkcs8().map_err(|e| e.to_string())?;
        let k = rustls::crypto::aws_lc_rs::sign::any_supported_type(&PrivateKeyDer::Pkcs8(
            PrivatePkcs8KeyDer::from(p8.to_vec()),
        ))
        .map_err(|e| e.to_string())?;
        let want = crate::tls::scheme_of(scheme);
        let s = k
            .choose_scheme(&[want])
            .ok_or_else(|| format!("{} cannot sign {want:?}", SoftKey::describe(self)))?;
        s.sign(msg).map_err(|e| e.to_string())
    }
}

/// Verifies `sig` over `msg` with the key in `spki` and the algorithm `alg`.
/// Returns `Ok(false)` for a wrong signature, `Err` for an unsupported algorithm.
pub fn verify(spki: &[u8], alg: &oid::Oid, msg: &[u8], sig: &[u8]) -> Result<bool, String> {
    use pkcs8::DecodePublicKey;
    if *alg == oid::SHA256_WITH_RSA || *alg == oid::SHA384_WITH_RSA {
        let pk = rsa::PublicKey::from_public_key_der(spki).map_err(|e| e.to_string())?;
        let s = rsa::pkcs1v15::Signature::try_from(sig).map_err(|e| e.to_string())?;
        Ok(if *alg == oid::SHA256_WITH_RSA {
            rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(pk)
                .verify(msg, &s)
                .is_ok()
        } else {
            rsa::pkcs1v15::VerifyingKey::<sha2::Sha384>::new(pk)
                .verify(msg, &s)
                .is_ok()
        })
    } else if *alg == oid::ECDSA_SHA256 || *alg == oid::ECDSA_SHA384 {
        let kind = SpkiRef::parse(spki).map_err(|e| e.to_string())?.kind();
        match kind {
            raconn_core::spki::KeyKind::P256 if *alg == oid::ECDSA_SHA256 => {
                let vk = p256::ecdsa::VerifyingKey::from_public_key_der(spki)
                    .map_err(|e| e.to_string())?;
                let s = p256::ecdsa::DerSignature::try_from(sig).map_err(|e| e.to_string())?;
                Ok(vk.verify(msg, &s).is_ok())
            }
            raconn_core::spki::KeyKind::P384 if *alg == oid::ECDSA_SHA384 => {
                let vk = p384::ecdsa::VerifyingKey::from_public_key_der(spki)
                    .map_err(|e| e.to_string())?;
                let s = p384::ecdsa::DerSignature::try_from(sig).map_err(|e| e.to_string())?;
                Ok(vk.verify(msg, &s).is_ok())
            }
            k => Err(format!("{alg} with a {k} key is not verified by raconn")),
        }
    } else {
        Err(format!(
            "signature algorithm {} is not verified by raconn",
            oid::label(alg).unwrap_or("unknown")
        ))
    }
}
