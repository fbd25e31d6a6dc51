//! The adapter's errors: the `RC-EMB-…` rows of the core's catalogue
//! ([`raconn_core::catalogue::APPLIANCE`]), declared with the one mechanism
//! every crate uses ([`raconn_core::explain!`]); core errors pass through
//! with their own codes.

use raconn_core::catalogue;

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
    /// A curve the adapter verifies, left out of this build (`p384`).
    NotBuilt {
        /// The cargo feature that brings it in.
        feature: &'static str,
    },
    /// The server's certificate is not DER X.509.
    BadServerCertificate,
    /// The stored trust anchor is not DER X.509.
    BadTrustAnchor,
    /// The server sent more certificates than the verifier takes.
    ChainTooLong,
    /// The transport (socket) failed or closed.
    Io,
    /// A caller buffer is too small (which, and how many bytes it needs).
    Buffer(raconn_core::error::BufferTooSmall),
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
    /// The configuration record has a format version this release does not read.
    ConfigVersion {
        /// The version byte found.
        found: u8,
    },
    /// The CA sent a TLS record larger than the read buffer.
    TlsRecordTooLarge {
        /// The read buffer's size.
        buffer: usize,
    },
    /// A max_fragment_length other than 512, 1 024, 2 048 or 4 096.
    BadMaxFragmentLength {
        /// The value given.
        value: u16,
    },
    /// A configuration value is longer than its record field.
    ConfigValueTooLong {
        /// Its length.
        len: usize,
    },
}

raconn_core::explain!(EmbeddedError {
    Hsm(h) => [catalogue::EMB_HSM], "{h}";
    TlsHandshake => [catalogue::EMB_TLS];
    HostnameMismatch => [catalogue::EMB_HOSTNAME];
    UntrustedServer => [catalogue::EMB_UNTRUSTED];
    ServerCertificateExpired => [catalogue::EMB_EXPIRED];
    BadServerSignature => [catalogue::EMB_BAD_SIGNATURE];
    UnsupportedKey => [catalogue::EMB_UNSUPPORTED_KEY];
    BadServerCertificate => [catalogue::EMB_BAD_SERVER_CERT];
    BadTrustAnchor => [catalogue::EMB_BAD_ANCHOR];
    ChainTooLong => [catalogue::EMB_CHAIN_TOO_LONG];
    Io => [catalogue::EMB_IO];
    Storage => [catalogue::EMB_STORAGE];
    StorageFull => [catalogue::EMB_STORAGE_FULL];
    NotConfigured => [catalogue::EMB_NOT_CONFIGURED];
    RecordTooBig => [catalogue::EMB_RECORD_TOO_BIG];
    RsaClientKey => [catalogue::EMB_RSA_CLIENT_KEY];
    ConfigCorrupt => [catalogue::EMB_CONFIG_CORRUPT];
    RaKeyMismatch => [catalogue::EMB_RA_KEY_MISMATCH];
    ConfigVersion { found } => [catalogue::EMB_CONFIG_VERSION], "format version {found}";
    ConfigValueTooLong { len } => [catalogue::EMB_CONFIG_VALUE_TOO_LONG], "{len} bytes";
    NotBuilt { feature } => [catalogue::EMB_NOT_BUILT], "feature {feature}";
    TlsRecordTooLarge { buffer } => [catalogue::EMB_TLS_RECORD_TOO_LARGE], "read buffer {buffer} bytes";
    BadMaxFragmentLength { value } => [catalogue::EMB_BAD_MFL], "{value}";
} delegate {
    Core(e) => e;
    Buffer(b) => b;
});

impl From<raconn_core::error::BufferTooSmall> for EmbeddedError {
    fn from(b: raconn_core::error::BufferTooSmall) -> Self {
        EmbeddedError::Buffer(b)
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
            HsmError::BufferTooSmall { needed } => {
                EmbeddedError::Buffer(raconn_core::error::BufferTooSmall {
                    buffer: "HSM output",
                    needed,
                })
            }
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
    use raconn_core::error::Explain;

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
            EmbeddedError::Storage,
            EmbeddedError::StorageFull,
            EmbeddedError::NotConfigured,
            EmbeddedError::RecordTooBig,
            EmbeddedError::RsaClientKey,
            EmbeddedError::ConfigCorrupt,
            EmbeddedError::RaKeyMismatch,
            EmbeddedError::ConfigVersion { found: 2 },
            EmbeddedError::ConfigValueTooLong { len: 300 },
            EmbeddedError::NotBuilt { feature: "p384" },
            EmbeddedError::TlsRecordTooLarge { buffer: 4352 },
            EmbeddedError::BadMaxFragmentLength { value: 1000 },
        ];
        assert_eq!(EmbeddedError::CODES, catalogue::APPLIANCE);
        assert_eq!(all.len(), EmbeddedError::CODES.len());
        for (e, row) in all.iter().zip(EmbeddedError::CODES) {
            assert_eq!(e.code(), row.code, "{e:?}");
        }
        let b = EmbeddedError::Buffer(raconn_core::error::BufferTooSmall {
            buffer: "reply",
            needed: 7,
        });
        assert_eq!(b.code(), "RC-BUF-001");
        assert!(std::format!("{b}").contains("the reply buffer needs 7 bytes"));
    }
}
