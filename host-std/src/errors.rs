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
        kind: raconn_core::Error,
        phase: crate::tls::Phase,
        elapsed_ms: u64,
        timeout_ms: u64,
        detail: String,
    },
    /// The CA issued, but the record could not be saved.
    #[error("RC-HOST-017: the CA issued the certificate with serial {serial}, but it could not be saved: {err}")]
    IssuedNotSaved { serial: String, err: Box<HostError> },
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

impl HostError {
    /// The catalogue row of a host error (`None` for core errors, which carry their own).
    fn row(&self) -> Option<&'static Code> {
        use raconn_core::catalogue as c;
        Some(match self {
            HostError::Core(_) | HostError::Ca { .. } => return None,
            HostError::Read { .. } => &c::HOST_READ,
            HostError::Write { .. } => &c::HOST_WRITE,
            HostError::KeyGen(_) => &c::HOST_KEYGEN,
            HostError::KeyEncoding(_) => &c::HOST_KEY_ENCODING,
            HostError::NoMatchingKey { .. } => &c::HOST_NO_MATCHING_KEY,
            HostError::Unrecognised { .. } => &c::HOST_UNRECOGNISED,
            HostError::SelfCheck(_) => &c::HOST_SELF_CHECK,
            HostError::ThumbprintNotFound(_) => &c::HOST_THUMBPRINT_NOT_FOUND,
            HostError::UnknownCode(_) => &c::HOST_UNKNOWN_CODE,
            HostError::Config { .. } => &c::CONF_INVALID,
            HostError::Tls(_) => &c::TLS_SETUP,
            HostError::IssuedNotSaved { .. } => &c::HOST_ISSUED_NOT_SAVED,
            HostError::MissingOtherName(_) => &c::HOST_MISSING_OTHER_NAME,
            HostError::Password(_) => &c::HOST_PASSWORD,
            HostError::NoProfile(_) => &c::HOST_NO_PROFILE,
            HostError::Pfx(_) => &c::HOST_PFX,
            HostError::Token(_) => &c::HOST_TOKEN,
            HostError::StoreLocation(_) => &c::HOST_STORE_LOCATION,
        })
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            HostError::Core(e) => e.code(),
            HostError::Ca { kind, .. } => kind.code(),
            other => other.row().map_or("", |r| r.code),
        }
    }

    /// What to do.
    pub fn remedy(&self) -> &'static str {
        match self {
            HostError::Core(e) => e.remedy(),
            HostError::Ca { kind, .. } => kind.remedy(),
            other => other.row().map_or("", |r| r.remedy),
        }
    }

    /// Whether running the same command again unchanged may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            HostError::Core(e) | HostError::Ca { kind: e, .. } => e.retryable(),
            _ => false,
        }
    }
}

/// Every code: core, host, and the appliance adapter's (so an administrator
/// can look up what an appliance logged) — the core's catalogue.
pub fn all_codes() -> impl Iterator<Item = &'static Code> {
    raconn_core::catalogue::all()
}

/// Looks a code up (following renamed codes).
pub fn lookup(code: &str) -> Option<&'static Code> {
    raconn_core::catalogue::lookup(code).map(|(c, _)| c)
}

/// Converts any core module error.
pub fn core<E: Into<raconn_core::Error>>(e: E) -> HostError {
    HostError::Core(e.into())
}
