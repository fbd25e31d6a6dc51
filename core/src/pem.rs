//! PEM armour (RFC 7468) over caller buffers, via the RustCrypto
//! `pem-rfc7468` crate (no alloc).
//!
//! Output uses the RFC 7468 labels; CSRs can be written with certreq's
//! `NEW CERTIFICATE REQUEST` label on request. Input accepts both CSR labels
//! and the `X509 CERTIFICATE`/`PKCS7` variants seen in the wild.

use crate::error::{explain, BufferTooSmall};

/// RFC 7468 CSR label.
pub const CSR_LABEL: &str = "CERTIFICATE REQUEST";
/// certreq's CSR label.
pub const CSR_LABEL_CERTREQ: &str = "NEW CERTIFICATE REQUEST";
/// Certificate label.
pub const CERT_LABEL: &str = "CERTIFICATE";
/// PKCS#7 label.
pub const PKCS7_LABEL: &str = "PKCS7";

/// What a PEM label says the contents are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PemKind {
    /// A PKCS#10 request.
    Csr,
    /// An X.509 certificate.
    Certificate,
    /// A PKCS#7 / CMS structure.
    Pkcs7,
    /// Anything else.
    Other,
}

/// Classifies a PEM label.
pub fn kind_of(label: &str) -> PemKind {
    match label {
        "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => PemKind::Csr,
        "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" => PemKind::Certificate,
        "PKCS7" | "CMS" => PemKind::Pkcs7,
        _ => PemKind::Other,
    }
}

/// PEM failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PemError {
    /// A caller buffer too small (how many bytes it needs).
    BufferTooSmall(BufferTooSmall),
    /// Not valid PEM (bad armour or base64).
    Malformed,
}

explain!(PemError {
    Malformed => ("RC-PEM-002", "not valid PEM (armour or base64 broken)", "check the BEGIN/END lines match and nothing was cut or re-wrapped badly");
} delegate {
    BufferTooSmall(b) => b;
});

/// Encodes DER as PEM (LF line endings, 64-column base64) into `out`.
pub fn encode<'o>(label: &str, der: &[u8], out: &'o mut [u8]) -> Result<&'o str, PemError> {
    let needed = pem_rfc7468::encoded_len(label, pem_rfc7468::LineEnding::LF, der)
        .map_err(|_| PemError::Malformed)?;
    if out.len() < needed {
        return Err(PemError::BufferTooSmall(BufferTooSmall::output(needed)));
    }
    pem_rfc7468::encode(label, pem_rfc7468::LineEnding::LF, der, out)
        .map_err(|_| PemError::BufferTooSmall(BufferTooSmall::output(needed)))
}

/// Size of the PEM encoding.
pub fn encoded_len(label: &str, der: &[u8]) -> usize {
    pem_rfc7468::encoded_len(label, pem_rfc7468::LineEnding::LF, der).unwrap_or(0)
}

/// Decodes one PEM block into `out`: (label, DER).
pub fn decode<'i, 'o>(pem: &'i [u8], out: &'o mut [u8]) -> Result<(&'i str, &'o [u8]), PemError> {
    match pem_rfc7468::decode(pem, out) {
        Ok((label, der)) => Ok((label, der)),
        Err(pem_rfc7468::Error::Length) => {
            // Ask the decoder for the size.
            let needed = pem_rfc7468::Decoder::new(pem)
                .map(|d| d.remaining_len())
                .unwrap_or(pem.len());
            Err(PemError::BufferTooSmall(BufferTooSmall::output(needed)))
        }
        Err(_) => Err(PemError::Malformed),
    }
}
