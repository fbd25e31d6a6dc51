//! A software P-256 [`Signer`] (RFC 6979 deterministic ECDSA with SHA-256),
//! from the RustCrypto `p256` crate, without alloc. Used by tests, by the
//! firmware example and by hosts that keep the device key in memory.

use crate::error::BufferTooSmall;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{DerSignature, Signature, SigningKey};

use crate::csr::{SignError, SignatureScheme, Signer};
use crate::spki;

/// A P-256 key held in memory.
pub struct SoftP256 {
    key: SigningKey,
    spki: [u8; 91],
}

impl SoftP256 {
    /// From a 32-byte big-endian scalar.
    pub fn from_bytes(scalar: &[u8; 32]) -> Result<Self, SignError> {
        let key = SigningKey::from_bytes(scalar.into()).map_err(|_| SignError::KeyUnavailable)?;
        let point = key.verifying_key().to_sec1_point(false);
        let bytes: [u8; 65] = point.as_bytes().try_into().map_err(|_| SignError::Failed)?;
        Ok(SoftP256 {
            key,
            spki: spki::p256_spki(&bytes),
        })
    }

    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }
}

impl Signer for SoftP256 {
    fn algorithm(&self) -> SignatureScheme {
        SignatureScheme::EcdsaP256Sha256
    }
    fn public_key_der(&self) -> &[u8] {
        &self.spki
    }
    fn max_signature_len(&self) -> usize {
        72
    }
    fn sign(&self, tbs: &[u8], out: &mut [u8]) -> Result<usize, SignError> {
        let sig: Signature = self.key.try_sign(tbs).map_err(|_| SignError::Failed)?;
        let der: DerSignature = sig.to_der();
        let b = der.as_bytes();
        let dst = out
            .get_mut(..b.len())
            .ok_or(SignError::BufferTooSmall(BufferTooSmall::output(b.len())))?;
        dst.copy_from_slice(b);
        Ok(b.len())
    }
}
