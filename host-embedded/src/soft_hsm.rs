//! A software "secure element" with `N` P-256 slots and a ChaCha20 random
//! source seeded by the caller. It serves the host tests and the QEMU
//! firmware; a real appliance implements [`Hsm`] for its part instead.
//! RSA is [`HsmError::Unsupported`], as on most small secure elements.
//!
//! Its P-256 keys are RustCrypto `p256` 0.13 (RFC 6979 deterministic ECDSA
//! with SHA-256), the generation embedded-tls 0.19 links for its key
//! exchange, so an appliance image carries one P-256 implementation (the
//! core's `SoftP256` is the 0.14 one).

use core::cell::RefCell;

use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::hsm::{Hsm, HsmError, KeyKind, SignatureScheme, Slot};

/// A published P-256 test scalar for the demo RA key of the QEMU firmware
/// and its flash image. Never provision it into anything real.
pub const DEMO_RA_SCALAR: [u8; 32] = [
    0x51, 0x9b, 0x42, 0x3d, 0x71, 0x5f, 0x8b, 0x58, 0x1f, 0x4f, 0xa8, 0xee, 0x59, 0xf4, 0x77, 0x1a,
    0x5b, 0x44, 0xc8, 0x13, 0x0b, 0x4e, 0x3e, 0xac, 0xca, 0x54, 0xa5, 0x6d, 0xda, 0x72, 0xb4, 0x64,
];

/// A P-256 key in a slot, with its SubjectPublicKeyInfo.
struct SlotKey {
    key: SigningKey,
    spki: [u8; 91],
}

impl SlotKey {
    fn from_bytes(scalar: &[u8; 32]) -> Option<SlotKey> {
        let key = SigningKey::from_bytes(scalar.into()).ok()?;
        let point = key.verifying_key().to_encoded_point(false);
        let bytes: [u8; 65] = point.as_bytes().try_into().ok()?;
        Some(SlotKey {
            key,
            spki: raconn_core::spki::p256_spki(&bytes),
        })
    }
}

/// The software HSM.
pub struct SoftHsm<const N: usize> {
    slots: [Option<SlotKey>; N],
    rng: RefCell<ChaCha20Rng>,
}

impl<const N: usize> SoftHsm<N> {
    /// An HSM with empty slots and a random source seeded with `seed`.
    pub fn new(seed: [u8; 32]) -> Self {
        SoftHsm {
            slots: [const { None }; N],
            rng: RefCell::new(ChaCha20Rng::from_seed(seed)),
        }
    }

    /// Puts a known P-256 scalar in a slot (provisioning, tests).
    pub fn import_p256(&mut self, slot: Slot, scalar: &[u8; 32]) -> Result<(), HsmError> {
        let k = SlotKey::from_bytes(scalar).ok_or(HsmError::Device)?;
        *self
            .slots
            .get_mut(usize::from(slot))
            .ok_or(HsmError::NoSuchSlot)? = Some(k);
        Ok(())
    }

    fn key(&self, slot: Slot) -> Result<&SlotKey, HsmError> {
        self.slots
            .get(usize::from(slot))
            .ok_or(HsmError::NoSuchSlot)?
            .as_ref()
            .ok_or(HsmError::EmptySlot)
    }
}

impl<const N: usize> Hsm for SoftHsm<N> {
    fn generate(&mut self, slot: Slot, spec: KeyKind) -> Result<(), HsmError> {
        if spec != KeyKind::P256 {
            return Err(HsmError::Unsupported);
        }
        if usize::from(slot) >= N {
            return Err(HsmError::NoSuchSlot);
        }
        // A scalar out of range (probability ~2^-32) is drawn again.
        for _ in 0..8 {
            let mut s = [0u8; 32];
            self.fill_random(&mut s)?;
            if let Some(k) = SlotKey::from_bytes(&s) {
                if let Some(x) = self.slots.get_mut(usize::from(slot)) {
                    *x = Some(k);
                }
                return Ok(());
            }
        }
        Err(HsmError::Device)
    }

    fn public_key<'b>(&self, slot: Slot, out: &'b mut [u8]) -> Result<&'b [u8], HsmError> {
        let spki = &self.key(slot)?.spki[..];
        let dst = out
            .get_mut(..spki.len())
            .ok_or(HsmError::BufferTooSmall { needed: spki.len() })?;
        dst.copy_from_slice(spki);
        Ok(dst)
    }

    fn sign(
        &self,
        slot: Slot,
        alg: SignatureScheme,
        msg: &[u8],
        out: &mut [u8],
    ) -> Result<usize, HsmError> {
        if alg != SignatureScheme::EcdsaP256Sha256 {
            return Err(HsmError::Unsupported);
        }
        let sig: Signature = self
            .key(slot)?
            .key
            .try_sign(msg)
            .map_err(|_| HsmError::Device)?;
        let der = sig.to_der();
        let b = der.as_bytes();
        let dst = out
            .get_mut(..b.len())
            .ok_or(HsmError::BufferTooSmall { needed: b.len() })?;
        dst.copy_from_slice(b);
        Ok(b.len())
    }

    fn fill_random(&self, out: &mut [u8]) -> Result<(), HsmError> {
        self.rng
            .try_borrow_mut()
            .map_err(|_| HsmError::Device)?
            .fill_bytes(out);
        Ok(())
    }
}
