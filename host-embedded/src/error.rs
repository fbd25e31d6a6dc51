//! The adapter's errors: stable `RC-EMB-…` codes with message and remedy,
//! like the core's ([`raconn_core::error::Explain`]); core errors pass
//! through with their own codes.

use core::fmt;

use raconn_core::error::{Code, Explain};

use crate::hsm::HsmError;

/// Everything the appliance adapter can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
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
    /// A request id reused for a different request.
    RequestIdConflict,
    /// A journal record cannot be read.
    JournalCorrupt,
    /// The CA still holds the request for approval.
    StillPending,
    /// A record is larger than a flash page holds.
    RecordTooBig,
    /// An RSA RA key: embedded-tls cannot send its client signature without alloc.
    RsaClientKey,
}

const CODES: &[Code] = &[
    Code { code: "RC-EMB-001", message: "the secure element refused or failed", remedy: "check the slot holds a key of the expected type and the part is unlocked; provision the RA key slot again if it was erased" },
    Code { code: "RC-EMB-002", message: "the TLS handshake with the CA failed", remedy: "check the CA host and port, that the CA accepts TLS 1.3 with AES-GCM and secp256r1, and that the RA certificate in flash matches the key slot" },
    Code { code: "RC-EMB-003", message: "the CA's server certificate does not name the configured host", remedy: "set the CA host exactly as in its certificate (e.g. pki-ws.symauth.com); IP addresses must be in the certificate's SAN" },
    Code { code: "RC-EMB-004", message: "the CA's server certificate does not chain to the stored trust anchor", remedy: "store the root that issued the CA's TLS certificate as the trust anchor" },
    Code { code: "RC-EMB-005", message: "a certificate of the CA's chain is expired or not yet valid", remedy: "check the appliance clock; if it is right, the CA's certificate has expired" },
    Code { code: "RC-EMB-006", message: "a signature in the CA's chain or handshake does not verify", remedy: "the connection may be intercepted; check for a proxy doing TLS inspection" },
    Code { code: "RC-EMB-007", message: "the CA uses a key or signature algorithm the adapter does not verify", remedy: "supported: ECDSA P-256/P-384, RSA 2048-4096 PKCS#1 v1.5 and PSS" },
    Code { code: "RC-EMB-008", message: "the CA's server certificate is not DER X.509", remedy: "check the host is the PKI Web Services endpoint" },
    Code { code: "RC-EMB-009", message: "the stored trust anchor is not a DER X.509 certificate", remedy: "provision the root certificate again (DER)" },
    Code { code: "RC-EMB-010", message: "the CA sent a longer chain than the verifier takes", remedy: "the path is limited to 6 certificates; report the CA's chain" },
    Code { code: "RC-EMB-011", message: "the network connection failed or closed", remedy: "check the network path to the CA; the request is kept and retried with the same clientTransactionID" },
    Code { code: "RC-EMB-012", message: "the CA's HTTP reply is malformed", remedy: "check for a proxy between the appliance and the CA" },
    Code { code: "RC-EMB-013", message: "a buffer is too small", remedy: "give the adapter buffers of at least the size named in the error" },
    Code { code: "RC-EMB-014", message: "flash storage failed", remedy: "check the flash range given to the store and the flash driver" },
    Code { code: "RC-EMB-015", message: "flash storage is full", remedy: "give the store more flash pages, or remove finished journal entries" },
    Code { code: "RC-EMB-016", message: "configuration, RA certificate or trust anchor missing in flash", remedy: "provision the appliance: configuration, RA certificate and trust anchor" },
    Code { code: "RC-EMB-017", message: "request id used before for a different request", remedy: "use a new request id for a new request; the same id returns the certificate issued for it" },
    Code { code: "RC-EMB-018", message: "a journal record in flash cannot be read", remedy: "remove the journal entry for this request id and issue again" },
    Code { code: "RC-EMB-019", message: "the CA still holds the request for approval", remedy: "approve the request in PKI Manager, then run the same request id again: it polls with the same clientTransactionID" },
    Code { code: "RC-EMB-020", message: "a record is larger than one flash erase page can hold", remedy: "give the store a flash with larger erase pages (a cached policy reply needs 8 KiB pages), or store a shorter record" },
    Code { code: "RC-EMB-021", message: "the RA key is RSA: embedded-tls 0.19 without alloc sends only ECDSA client signatures (its CertificateVerify holds 104 bytes)", remedy: "put a P-256 RA key in the secure element (KeyAlgorithm = ECDSA_P256 in the RA request); RSA RA keys work with the desktop host" },
];

impl EmbeddedError {
    /// Every `RC-EMB-…` code.
    pub const CODES: &'static [Code] = CODES;

    fn index(&self) -> Option<usize> {
        Some(match self {
            EmbeddedError::Core(_) => return None,
            EmbeddedError::Hsm(_) => 0,
            EmbeddedError::TlsHandshake => 1,
            EmbeddedError::HostnameMismatch => 2,
            EmbeddedError::UntrustedServer => 3,
            EmbeddedError::ServerCertificateExpired => 4,
            EmbeddedError::BadServerSignature => 5,
            EmbeddedError::UnsupportedKey => 6,
            EmbeddedError::BadServerCertificate => 7,
            EmbeddedError::BadTrustAnchor => 8,
            EmbeddedError::ChainTooLong => 9,
            EmbeddedError::Io => 10,
            EmbeddedError::Http => 11,
            EmbeddedError::BufferTooSmall { .. } => 12,
            EmbeddedError::Storage => 13,
            EmbeddedError::StorageFull => 14,
            EmbeddedError::NotConfigured => 15,
            EmbeddedError::RequestIdConflict => 16,
            EmbeddedError::JournalCorrupt => 17,
            EmbeddedError::StillPending => 18,
            EmbeddedError::RecordTooBig => 19,
            EmbeddedError::RsaClientKey => 20,
        })
    }

    fn entry(&self) -> Option<&'static Code> {
        self.index().and_then(|i| CODES.get(i))
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
    extern crate std;
    use super::*;
    use std::format;

    #[test]
    fn codes_are_numbered_in_order_and_every_variant_has_one() {
        for (i, c) in CODES.iter().enumerate() {
            assert_eq!(c.code, format!("RC-EMB-{:03}", i + 1));
            assert!(!c.message.is_empty() && !c.remedy.is_empty());
        }
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
            EmbeddedError::RequestIdConflict,
            EmbeddedError::JournalCorrupt,
            EmbeddedError::StillPending,
            EmbeddedError::RecordTooBig,
            EmbeddedError::RsaClientKey,
        ];
        assert_eq!(all.len(), CODES.len());
        for (i, e) in all.iter().enumerate() {
            assert_eq!(e.code(), CODES[i].code, "{e:?}");
        }
    }
}
