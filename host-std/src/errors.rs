//! Host errors: stable codes, messages and remedies, like the core's, plus
//! the detail only a host knows (paths, OS errors).

use raconn_core::error::{Code, Explain};
use std::path::PathBuf;

/// Everything the host can fail with.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A core rule or format error.
    #[error("{0}")]
    Core(#[from] raconn_core::Error),
    /// Reading a file failed.
    #[error("RC-HOST-001: cannot read {path}: {err}")]
    Read { path: PathBuf, err: std::io::Error },
    /// Writing a file failed.
    #[error("RC-HOST-002: cannot write {path}: {err}")]
    Write { path: PathBuf, err: std::io::Error },
    /// Key generation failed.
    #[error("RC-HOST-003: key generation failed: {0}")]
    KeyGen(String),
    /// Key encoding/decoding failed.
    #[error("RC-HOST-004: private key cannot be read or written: {0}")]
    KeyEncoding(String),
    /// No key in the store matches the certificate.
    #[error("RC-HOST-005: no private key in {store} matches the certificate's public key ({key})")]
    NoMatchingKey { store: String, key: String },
    /// The file holds nothing raconn recognises.
    #[error("RC-HOST-006: {path}: {what}")]
    Unrecognised { path: PathBuf, what: String },
    /// The made CSR failed its own signature check.
    #[error("RC-HOST-007: the request raconn made does not verify: {0}")]
    SelfCheck(String),
    /// A thumbprint not in the store.
    #[error("RC-HOST-008: no certificate with thumbprint {0} in the store")]
    ThumbprintNotFound(String),
    /// Unknown error code given to `explain`.
    #[error("RC-HOST-009: unknown error code {0}")]
    UnknownCode(String),
    /// The configuration file is invalid.
    #[error("RC-CONF-001: {file}{}: {}{msg}", line.map(|l| format!(":{l}")).unwrap_or_default(), if key.is_empty() { String::new() } else { format!("{key}: ") })]
    Config {
        file: PathBuf,
        line: Option<usize>,
        key: String,
        msg: String,
    },
    /// TLS set-up failed before connecting.
    #[error("RC-TLS-001: TLS set-up failed: {0}")]
    Tls(String),
    /// Talking to the CA failed.
    #[error("{}: {} ({phase} after {elapsed_ms} ms; ca_timeout_ms = {timeout_ms}): {detail}", kind.code(), kind.message())]
    Ca {
        kind: raconn_core::pkiws::PkiwsError,
        phase: crate::tls::Phase,
        elapsed_ms: u64,
        timeout_ms: u64,
        detail: String,
    },
    /// A request id reused for a different request.
    #[error("RC-HOST-010: request id {0} was used before for a different request")]
    RequestIdConflict(String),
    /// A profile other-name with no value given.
    #[error("RC-HOST-011: the profile asks for other-name {0} and none was given")]
    MissingOtherName(String),
    /// No usable PFX password.
    #[error("RC-HOST-012: PFX password: {0}")]
    Password(String),
    /// No such profile in the configuration.
    #[error("RC-HOST-013: no profile {0:?} in the configuration")]
    NoProfile(String),
    /// Writing the PFX failed.
    #[error("RC-HOST-014: PFX could not be written: {0}")]
    Pfx(String),
    /// A PKCS#11 token or the Windows key store refused or failed.
    #[error("RC-HOST-015: key store: {0}")]
    Token(String),
    /// `--store` names nothing raconn can open.
    #[error("RC-HOST-016: store location {0}")]
    StoreLocation(String),
}

/// The host's codes.
pub const HOST_CODES: &[Code] = &[
    Code { code: "RC-HOST-001", message: "cannot read a file", remedy: "check the path and that this account may read it" },
    Code { code: "RC-HOST-002", message: "cannot write a file", remedy: "check the directory exists, has free space and that this account may write it" },
    Code { code: "RC-HOST-003", message: "key generation failed", remedy: "check the key algorithm and size; retry" },
    Code { code: "RC-HOST-004", message: "a private key cannot be read or written", remedy: "the key file is not an unencrypted PKCS#8 RSA, P-256 or P-384 key; restore it from backup or make a new request" },
    Code { code: "RC-HOST-005", message: "no private key in the store matches the certificate", remedy: "accept the certificate into the store where `raconn ra new-request` made its key (--store / RACONN_STORE), or check it is the certificate issued for that request" },
    Code { code: "RC-HOST-006", message: "the file holds no certificate, CSR or PKCS#7 raconn recognises", remedy: "pass PEM (CERTIFICATE, CERTIFICATE REQUEST, NEW CERTIFICATE REQUEST, PKCS7) or DER" },
    Code { code: "RC-HOST-007", message: "the request raconn made does not verify", remedy: "report this as a bug; the key or signer is faulty" },
    Code { code: "RC-HOST-008", message: "no certificate with that thumbprint in the store", remedy: "run `raconn ra list` to see the thumbprints present, with subject and expiry" },
    Code { code: "RC-HOST-009", message: "unknown error code", remedy: "run `raconn explain --all` for the list" },
    Code { code: "RC-HOST-010", message: "request id used before for a different request", remedy: "use a new --request-id for a new request; the same id always returns the certificate issued for it" },
    Code { code: "RC-HOST-011", message: "the profile asks for an other-name and none was given", remedy: "give --other-name OID=VALUE (hex, b64: or utf8:); other-names have no fallback" },
    Code { code: "RC-HOST-012", message: "no usable PFX password", remedy: "give --password-file FILE or --password-env VAR with a non-empty password (an empty password with a MAC breaks macOS importers)" },
    Code { code: "RC-HOST-013", message: "no such profile in the configuration", remedy: "use a profile name from the [profiles.NAME] tables of raconn.toml" },
    Code { code: "RC-HOST-014", message: "the PFX could not be written", remedy: "report this as a bug with the key type" },
    Code { code: "RC-HOST-015", message: "the PKCS#11 token or Windows key store refused or failed", remedy: "check the module path and token label (`softhsm2-util --show-slots` or `pkcs11-tool -L` lists tokens), that RACONN_PKCS11_PIN holds the user PIN, and that the token has room; on Windows run as an administrator for LocalMachine\\My" },
    Code { code: "RC-HOST-016", message: "the store location is not a directory, a pkcs11: URI or windows:LocalMachine\\My", remedy: "give --store DIR, --store 'pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=LABEL' or --store 'windows:LocalMachine\\My'" },
    Code { code: "RC-CONF-001", message: "the configuration file is invalid", remedy: "fix the key named in the error (file:line); README documents every key" },
    Code { code: "RC-TLS-001", message: "TLS could not be set up", remedy: "check ca_trust holds PEM certificates and the RA certificate and key match" },
];

impl HostError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            HostError::Core(e) => e.code(),
            HostError::Read { .. } => "RC-HOST-001",
            HostError::Write { .. } => "RC-HOST-002",
            HostError::KeyGen(_) => "RC-HOST-003",
            HostError::KeyEncoding(_) => "RC-HOST-004",
            HostError::NoMatchingKey { .. } => "RC-HOST-005",
            HostError::Unrecognised { .. } => "RC-HOST-006",
            HostError::SelfCheck(_) => "RC-HOST-007",
            HostError::ThumbprintNotFound(_) => "RC-HOST-008",
            HostError::UnknownCode(_) => "RC-HOST-009",
            HostError::Config { .. } => "RC-CONF-001",
            HostError::Tls(_) => "RC-TLS-001",
            HostError::Ca { kind, .. } => kind.code(),
            HostError::RequestIdConflict(_) => "RC-HOST-010",
            HostError::MissingOtherName(_) => "RC-HOST-011",
            HostError::Password(_) => "RC-HOST-012",
            HostError::NoProfile(_) => "RC-HOST-013",
            HostError::Pfx(_) => "RC-HOST-014",
            HostError::Token(_) => "RC-HOST-015",
            HostError::StoreLocation(_) => "RC-HOST-016",
        }
    }

    /// What to do.
    pub fn remedy(&self) -> &'static str {
        match self {
            HostError::Core(e) => e.remedy(),
            HostError::Ca { kind, .. } => kind.remedy(),
            other => lookup(other.code()).map(|c| c.remedy).unwrap_or(""),
        }
    }
}

/// Every code: core, host, and the appliance adapter's (so an administrator
/// can look up what an appliance logged).
pub fn all_codes() -> impl Iterator<Item = &'static Code> {
    raconn_core::error::CODES
        .iter()
        .flat_map(|t| t.iter())
        .chain(HOST_CODES.iter())
        .chain(raconn_embedded::error::EmbeddedError::CODES.iter())
}

/// Looks a code up.
pub fn lookup(code: &str) -> Option<&'static Code> {
    all_codes().find(|c| c.code.eq_ignore_ascii_case(code.trim()))
}

/// Converts any core module error.
pub fn core<E: Into<raconn_core::Error>>(e: E) -> HostError {
    HostError::Core(e.into())
}
