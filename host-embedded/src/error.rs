//! The adapter's errors: stable `RC-EMB-…` codes with message and remedy,
//! like the core's ([`raconn_core::error::Explain`]); core errors pass
//! through with their own codes.

use core::fmt;

use raconn_core::catalogue;
use raconn_core::error::{Code, Explain};

use crate::hsm::HsmError;

/// Everything the appliance adapter can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EmbeddedError {
    /// A core rule, format or protocol error (its own code).
    Core(raconn_core::Error),
    /// The secure element refused or failed.
    Hsm(HsmError),
    /// The TLS handshake failed for a reason other than the certificate checks.
    TlsHandshake,
    /// The server certificate does not name the CA host.
    HostnameMismatch,
    /// The server chain does not lead to the stored trust anchor.
    UntrustedServer,
    /// A certificate of the server chain is outside its validity period.
    ServerCertificateExpired,
    /// A signature in the server chain or its CertificateVerify is wrong.
    BadServerSignature,
    /// A key type, size or signature algorithm the adapter does not verify.
    UnsupportedKey,
    /// The server's certificate is not DER X.509.
    BadServerCertificate,
    /// The stored trust anchor is not DER X.509.
    BadTrustAnchor,
    /// The server sent more certificates than the verifier takes.
    ChainTooLong,
    /// The transport (socket) failed or closed.
    Io,
    /// The HTTP reply is malformed.
    Http,
    /// A buffer is too small.
    BufferTooSmall {
        /// Bytes needed (or at least needed).
        needed: usize,
    },
    /// Flash storage failed.
    Storage,
    /// Flash storage is full.
    StorageFull,
    /// Configuration, RA certificate or trust anchor missing in flash.
    NotConfigured,
    /// A record is larger than a flash page holds.
    RecordTooBig,
    /// An RSA RA key: embedded-tls cannot send its client signature without alloc.
    RsaClientKey,
    /// The configuration record in flash does not decode.
    ConfigCorrupt,
    /// The RA certificate in flash is not for the RA slot's key.
    RaKeyMismatch,
}

impl EmbeddedError {
    /// Every `RC-EMB-…` code (rows of the core's catalogue).
    pub const CODES: &'static [Code] = catalogue::APPLIANCE;

    fn entry(&self) -> Option<&'static Code> {
        Some(match self {
            EmbeddedError::Core(_) => return None,
            EmbeddedError::Hsm(_) => &catalogue::EMB_HSM,
            EmbeddedError::TlsHandshake => &catalogue::EMB_TLS,
            EmbeddedError::HostnameMismatch => &catalogue::EMB_HOSTNAME,
            EmbeddedError::UntrustedServer => &catalogue::EMB_UNTRUSTED,
            EmbeddedError::ServerCertificateExpired => &catalogue::EMB_EXPIRED,
            EmbeddedError::BadServerSignature => &catalogue::EMB_BAD_SIGNATURE,
            EmbeddedError::UnsupportedKey => &catalogue::EMB_UNSUPPORTED_KEY,
            EmbeddedError::BadServerCertificate => &catalogue::EMB_BAD_SERVER_CERT,
            EmbeddedError::BadTrustAnchor => &catalogue::EMB_BAD_ANCHOR,
            EmbeddedError::ChainTooLong => &catalogue::EMB_CHAIN_TOO_LONG,
            EmbeddedError::Io => &catalogue::EMB_IO,
            EmbeddedError::Http => &catalogue::EMB_HTTP,
            EmbeddedError::BufferTooSmall { .. } => &catalogue::EMB_BUFFER,
            EmbeddedError::Storage => &catalogue::EMB_STORAGE,
            EmbeddedError::StorageFull => &catalogue::EMB_STORAGE_FULL,
            EmbeddedError::NotConfigured => &catalogue::EMB_NOT_CONFIGURED,
            EmbeddedError::RecordTooBig => &catalogue::EMB_RECORD_TOO_BIG,
            EmbeddedError::RsaClientKey => &catalogue::EMB_RSA_CLIENT_KEY,
            EmbeddedError::ConfigCorrupt => &catalogue::EMB_CONFIG_CORRUPT,
            EmbeddedError::RaKeyMismatch => &catalogue::EMB_RA_KEY_MISMATCH,
        })
    }
}

impl Explain for EmbeddedError {
    fn code(&self) -> &'static str {
        match self {
            EmbeddedError::Core(e) => e.code(),
            o => o.entry().map_or("RC-EMB-000", |c| c.code),
        }
    }
    fn message(&self) -> &'static str {
        match self {
            EmbeddedError::Core(e) => e.message(),
            o => o.entry().map_or("", |c| c.message),
        }
    }
    fn remedy(&self) -> &'static str {
        match self {
            EmbeddedError::Core(e) => e.remedy(),
            o => o.entry().map_or("", |c| c.remedy),
        }
    }
}

impl fmt::Display for EmbeddedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmbeddedError::Core(e) => fmt::Display::fmt(e, f),
            EmbeddedError::Hsm(h) => write!(f, "{}: {} ({h:?})", self.code(), self.message()),
            EmbeddedError::BufferTooSmall { needed } => {
                write!(
                    f,
                    "{}: {} ({needed} bytes needed)",
                    self.code(),
                    self.message()
                )
            }
            _ => write!(f, "{}: {}", self.code(), self.message()),
        }
    }
}

impl From<raconn_core::Error> for EmbeddedError {
    fn from(e: raconn_core::Error) -> Self {
        EmbeddedError::Core(e)
    }
}

impl From<HsmError> for EmbeddedError {
    fn from(e: HsmError) -> Self {
        match e {
            HsmError::BufferTooSmall { needed } => EmbeddedError::BufferTooSmall { needed },
            e => EmbeddedError::Hsm(e),
        }
    }
}

/// Converts any core module error.
pub fn core<E: Into<raconn_core::Error>>(e: E) -> EmbeddedError {
    EmbeddedError::Core(e.into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn every_variant_has_a_row_of_the_catalogue() {
        let all = [
            EmbeddedError::Hsm(HsmError::Device),
            EmbeddedError::TlsHandshake,
            EmbeddedError::HostnameMismatch,
            EmbeddedError::UntrustedServer,
            EmbeddedError::ServerCertificateExpired,
            EmbeddedError::BadServerSignature,
            EmbeddedError::UnsupportedKey,
            EmbeddedError::BadServerCertificate,
            EmbeddedError::BadTrustAnchor,
            EmbeddedError::ChainTooLong,
            EmbeddedError::Io,
            EmbeddedError::Http,
            EmbeddedError::BufferTooSmall { needed: 1 },
            EmbeddedError::Storage,
            EmbeddedError::StorageFull,
            EmbeddedError::NotConfigured,
            EmbeddedError::RecordTooBig,
            EmbeddedError::RsaClientKey,
            EmbeddedError::ConfigCorrupt,
            EmbeddedError::RaKeyMismatch,
        ];
        assert_eq!(all.len(), EmbeddedError::CODES.len());
        for (e, row) in all.iter().zip(EmbeddedError::CODES) {
            assert_eq!(e.code(), row.code, "{e:?}");
        }
    }
}
