//! # raconn-embedded
//!
//! The appliance adapter of raconn: `#![no_std]`, no `alloc`, no panics. It
//! holds no protocol code of its own — the DER, the rules and (later) the
//! issuance engine come from `raconn-core`; this crate adds what an
//! appliance needs around them. So far: making a PEM certificate request in
//! fixed caller buffers with any [`Signer`] (the secure-element seam), used
//! by the QEMU firmware in `firmware/`. The HSM seam, embedded-tls transport
//! and flash journal follow (issue "raconn-embedded").
#![no_std]
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::todo,
    clippy::unimplemented,
    clippy::unreachable
)]

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
            matches!(e, Error::Der(raconn_core::asn1::DerError::BufferTooSmall { needed }) if needed > 16)
        );
    }
}
