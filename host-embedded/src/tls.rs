//! embedded-tls 0.19 (TLS 1.3, TLS_AES_128_GCM_SHA256, secp256r1) with the
//! RA key in the HSM: [`Provider`] implements embedded-tls's
//! `CryptoProvider` — the RA certificate from flash as the client
//! certificate, the CertificateVerify signed in the RA slot
//! ([`TlsSigner`]), random numbers from a ChaCha20 generator seeded by the
//! HSM, and **always** a verifier ([`ServerVerifier`]): embedded-tls skips
//! server verification when a provider has none.
//!
//! embedded-tls calls `SignerMut::sign`, which panics inside embedded-tls
//! if signing fails; [`Provider::new`] therefore signs a probe with the RA
//! slot first, so a missing or locked key is a typed error before the
//! handshake starts. For the same reason an RSA RA key is refused up front
//! (`RC-EMB-021`): without its `alloc`-only `rsa` feature, embedded-tls 0.19
//! keeps the client CertificateVerify in a 104-byte vector and panics on an
//! RSA-2048 signature (found by `tests/sim_issue.rs`). The HSM seam still
//! signs RSA-PSS, ready for a TLS stack that can carry it.

use embedded_tls::{
    Aes128GcmSha256, Certificate, CryptoProvider, SignatureScheme as TlsScheme, TlsError,
    TlsVerifier,
};
use raconn_core::spki::KeyKind;
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRngCore, SeedableRng};

use crate::error::EmbeddedError;
use crate::hsm::{Hsm, SignatureScheme, Slot, SlotKey};
use crate::verify::ServerVerifier;

/// A signature made by the HSM (up to RSA-4096).
pub struct SigBuf {
    buf: [u8; 512],
    len: usize,
}

impl AsRef<[u8]> for SigBuf {
    fn as_ref(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

/// The RA slot as embedded-tls's CertificateVerify signer.
pub struct TlsSigner<'h, H: Hsm + ?Sized> {
    hsm: &'h H,
    slot: Slot,
    alg: SignatureScheme,
}

impl<H: Hsm + ?Sized> signature::SignerMut<SigBuf> for TlsSigner<'_, H> {
    fn try_sign(&mut self, msg: &[u8]) -> Result<SigBuf, signature::Error> {
        let mut s = SigBuf {
            buf: [0u8; 512],
            len: 0,
        };
        s.len = self
            .hsm
            .sign(self.slot, self.alg, msg, &mut s.buf)
            .map_err(|_| signature::Error::new())?;
        Ok(s)
    }
}

/// The TLS scheme and HSM signature for an RA key.
fn scheme_for(kind: KeyKind) -> Result<(SignatureScheme, TlsScheme), EmbeddedError> {
    match kind {
        KeyKind::P256 => Ok((
            SignatureScheme::EcdsaP256Sha256,
            TlsScheme::EcdsaSecp256r1Sha256,
        )),
        // TLS 1.3 would sign as RSA-PSS (RFC 8446 §4.2.3), but embedded-tls
        // cannot carry the signature without alloc (see the module doc).
        KeyKind::Rsa(_) => Err(EmbeddedError::RsaClientKey),
        _ => Err(EmbeddedError::UnsupportedKey),
    }
}

/// embedded-tls's crypto provider for one connection to the CA.
pub struct Provider<'a, H: Hsm + ?Sized> {
    hsm: &'a H,
    ra_slot: Slot,
    alg: SignatureScheme,
    scheme: TlsScheme,
    ra_cert: &'a [u8],
    verifier: ServerVerifier<'a>,
    rng: ChaCha20Rng,
}

impl<'a, H: Hsm + ?Sized> Provider<'a, H> {
    /// A provider presenting `ra_cert` with the key in `ra_slot`, verifying
    /// the server with `verifier`.
    pub fn new(
        hsm: &'a H,
        ra_slot: Slot,
        ra_cert: &'a [u8],
        verifier: ServerVerifier<'a>,
    ) -> Result<Self, EmbeddedError> {
        let key = SlotKey::new(hsm, ra_slot)?;
        let (alg, scheme) = scheme_for(key.kind())?;
        // The certificate must be for this key.
        let c = raconn_core::cert::CertificateRef::parse(ra_cert).map_err(crate::error::core)?;
        if c.spki.der.raw != raconn_core::csr::Signer::public_key_der(&key) {
            return Err(EmbeddedError::RaKeyMismatch);
        }
        // Probe: embedded-tls cannot report a signing failure.
        let mut probe = [0u8; 512];
        hsm.sign(ra_slot, alg, b"raconn: can the RA slot sign?", &mut probe)?;
        let mut seed = [0u8; 32];
        hsm.fill_random(&mut seed)?;
        Ok(Provider {
            hsm,
            ra_slot,
            alg,
            scheme,
            ra_cert,
            verifier,
            rng: ChaCha20Rng::from_seed(seed),
        })
    }

    /// The verifier (to read why a handshake was refused).
    pub fn server_verifier(&self) -> &ServerVerifier<'a> {
        &self.verifier
    }
}

impl<H: Hsm + ?Sized> CryptoProvider for Provider<'_, H> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = SigBuf;

    fn rng(&mut self) -> impl CryptoRngCore {
        &mut self.rng
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Self::CipherSuite>, TlsError> {
        Ok(&mut self.verifier)
    }

    fn signer(
        &mut self,
    ) -> Result<(impl signature::SignerMut<Self::Signature>, TlsScheme), TlsError> {
        Ok((
            TlsSigner {
                hsm: self.hsm,
                slot: self.ra_slot,
                alg: self.alg,
            },
            self.scheme,
        ))
    }

    fn client_cert(&mut self) -> Option<Certificate<impl AsRef<[u8]>>> {
        Some(Certificate::X509(self.ra_cert))
    }
}
