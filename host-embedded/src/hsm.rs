//! The secure-element / HSM seam: keys live in numbered slots and never
//! leave them. Modelled on embedded-tls's `CryptoProvider` (rng, signer) and
//! on PKCS#11's generate / read-public / sign split, cut to what an RA
//! connector needs: P-256 ECDSA everywhere, RSA-2048 PKCS#1 v1.5 and PSS
//! where the part has it (RFC 8017 §8.1, §8.2), and a random source.
//!
//! [`SlotKey`] turns a slot into the core's [`Signer`] (the device key that
//! signs the PKCS#10); [`crate::tls::TlsSigner`] turns the RA slot into
//! embedded-tls's CertificateVerify signer. Methods take `&self`: a driver
//! that talks to a part over a bus keeps the bus in a `RefCell` or a
//! critical-section mutex, as embedded-hal-bus does.

use raconn_core::csr::{SignError, Signer};
use raconn_core::spki::SpkiRef;

/// A key slot number.
pub type Slot = u8;

pub use raconn_core::sig::SignatureScheme;
pub use raconn_core::spki::KeyKind;

/// HSM failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HsmError {
    /// The slot number does not exist on this part.
    NoSuchSlot,
    /// The slot holds no key.
    EmptySlot,
    /// The part cannot do this (key type or signature scheme).
    Unsupported,
    /// The output buffer is too small.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
    /// The part reported a failure (bus error, tamper, locked).
    Device,
}

/// Written out by hand, not through `Debug`: the firmware is built with
/// Debug formatting off (`-Zfmt-debug=none`), and this text must survive.
impl core::fmt::Display for HsmError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HsmError::NoSuchSlot => f.write_str("no such slot on this part"),
            HsmError::EmptySlot => f.write_str("the slot holds no key"),
            HsmError::Unsupported => f.write_str("the part cannot do this (key type or scheme)"),
            HsmError::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
            HsmError::Device => f.write_str("the part reported a failure"),
        }
    }
}

/// A secure element or HSM.
pub trait Hsm {
    /// Generates a new key in `slot`, replacing what was there.
    fn generate(&mut self, slot: Slot, spec: KeyKind) -> Result<(), HsmError>;
    /// Writes the slot key's DER SubjectPublicKeyInfo into `out`.
    fn public_key<'b>(&self, slot: Slot, out: &'b mut [u8]) -> Result<&'b [u8], HsmError>;
    /// Signs `msg` (hashing it as `alg` says) with the slot key; returns the length.
    fn sign(
        &self,
        slot: Slot,
        alg: SignatureScheme,
        msg: &[u8],
        out: &mut [u8],
    ) -> Result<usize, HsmError>;
    /// Fills `out` from the part's random number generator.
    fn fill_random(&self, out: &mut [u8]) -> Result<(), HsmError>;
}

/// Largest SPKI a slot key has here (RSA-2048: 294 bytes).
pub const MAX_SPKI: usize = 300;

/// A slot as the core's [`Signer`]: the public key is read once; every
/// signature is made inside the HSM.
pub struct SlotKey<'h, H: Hsm + ?Sized> {
    hsm: &'h H,
    slot: Slot,
    spki: [u8; MAX_SPKI],
    spki_len: usize,
    kind: KeyKind,
}

impl<'h, H: Hsm + ?Sized> SlotKey<'h, H> {
    /// Reads the slot's public key.
    pub fn new(hsm: &'h H, slot: Slot) -> Result<Self, HsmError> {
        let mut spki = [0u8; MAX_SPKI];
        let spki_len = hsm.public_key(slot, &mut spki)?.len();
        let kind = spki
            .get(..spki_len)
            .and_then(|s| SpkiRef::parse(s).ok())
            .map(|s| s.kind())
            .ok_or(HsmError::Device)?;
        Ok(SlotKey {
            hsm,
            slot,
            spki,
            spki_len,
            kind,
        })
    }

    /// The slot.
    pub fn slot(&self) -> Slot {
        self.slot
    }

    /// The key kind.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }
}

impl<H: Hsm + ?Sized> Signer for SlotKey<'_, H> {
    fn algorithm(&self) -> SignatureScheme {
        match self.kind {
            KeyKind::Rsa(_) => SignatureScheme::RsaPkcs1Sha256,
            _ => SignatureScheme::EcdsaP256Sha256,
        }
    }

    fn public_key_der(&self) -> &[u8] {
        self.spki.get(..self.spki_len).unwrap_or(&[])
    }

    fn max_signature_len(&self) -> usize {
        match self.kind {
            KeyKind::Rsa(bits) => (bits as usize).div_ceil(8),
            _ => 72,
        }
    }

    fn sign(&self, tbs: &[u8], out: &mut [u8]) -> Result<usize, SignError> {
        let alg = match self.kind {
            KeyKind::Rsa(_) => SignatureScheme::RsaPkcs1Sha256,
            _ => SignatureScheme::EcdsaP256Sha256,
        };
        self.hsm
            .sign(self.slot, alg, tbs, out)
            .map_err(|e| match e {
                HsmError::BufferTooSmall { needed } => {
                    SignError::BufferTooSmall(raconn_core::error::BufferTooSmall {
                        buffer: "signature",
                        needed,
                    })
                }
                HsmError::Unsupported | HsmError::EmptySlot | HsmError::NoSuchSlot => {
                    SignError::KeyUnavailable
                }
                HsmError::Device => SignError::Failed,
            })
    }
}
