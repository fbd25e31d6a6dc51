//! # raconn-embedded
//!
//! The appliance adapter of raconn: `#![no_std]`, no `alloc`, no panics, no
//! protocol code of its own — it drives `raconn-core`'s issuance engine and
//! adds what an appliance needs around it:
//!
//! * [`hsm`]: the secure-element seam (keys in slots; P-256, RSA-2048
//!   PKCS#1 v1.5 / PSS), the core's `Signer` over a slot, and
//!   [`soft_hsm`], a software P-256 part for tests and the QEMU firmware;
//! * [`tls`]: embedded-tls 0.19 mutual TLS with the RA key in the HSM and a
//!   verifier always supplied ([`verify`]: chain to the stored anchor, host
//!   name, expiry when there is a clock; [`rsa`]: RSA verification without
//!   a heap);
//! * [`store`]: configuration, RA certificate, trust anchor and the
//!   issuance journal on NOR flash through `sequential-storage`;
//! * [`client`]: the issuance — one TLS connection per SOAP call, HTTP
//!   framing from the core ([`raconn_core::pkiws::http`]), journal steps
//!   that survive a reset at any point;
//! * [`ram_flash`]: a NOR flash in a byte array (flash images, QEMU);
//! * [`error`]: `RC-EMB-…` codes with remedies.
//!
//! [`csr_pem`] makes a PEM request in caller buffers with any `Signer`.
#![no_std]
#![deny(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::todo,
    clippy::unimplemented,
    clippy::unreachable
)]

/// `defmt::info!` with the `defmt` feature, nothing without it.
macro_rules! log {
    ($($t:tt)*) => {
        #[cfg(feature = "defmt")]
        defmt::info!($($t)*);
    };
}
pub(crate) use log;

pub mod client;
pub mod error;
pub mod hsm;
pub mod ram_flash;
pub mod rsa;
#[cfg(feature = "soft-hsm")]
pub mod soft_hsm;
pub mod store;
pub mod tls;
pub mod verify;

pub use raconn_core;
use raconn_core::csr::{self, CsrSpec, Signer};
use raconn_core::{pem, Error};

/// Builds and signs the CSR for `spec` into `der_buf`, then PEM-encodes it
/// (RFC 7468 label) into `pem_buf`. Returns the PEM text.
pub fn csr_pem<'p, S: Signer + ?Sized>(
    spec: &CsrSpec<'_>,
    signer: &S,
    der_buf: &mut [u8],
    pem_buf: &'p mut [u8],
) -> Result<&'p str, Error> {
    let der = csr::build(spec, signer, der_buf)?;
    Ok(pem::encode(pem::CSR_LABEL, der, pem_buf)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use raconn_core::soft_p256::SoftP256;

    #[test]
    fn csr_pem_reports_needed_sizes() {
        let key = SoftP256::from_bytes(&[7u8; 32]).unwrap();
        let spec = CsrSpec::new("CN=appliance-01");
        let (mut d, mut p) = ([0u8; 512], [0u8; 1024]);
        let pem = csr_pem(&spec, &key, &mut d, &mut p).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----\n"));
        let mut small = [0u8; 16];
        let e = csr_pem(&spec, &key, &mut small, &mut p).unwrap_err();
        assert!(
            matches!(e, Error::Der(raconn_core::asn1::DerError::BufferTooSmall(b)) if b.needed > 16)
        );
    }
}
