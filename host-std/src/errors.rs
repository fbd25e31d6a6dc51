//! Host errors: the rows of the core's catalogue ([`raconn_core::catalogue`])
//! for what only a host does (files, keys, stores, the configuration), with
//! the detail only a host knows (paths, OS errors), declared with the one
//! mechanism every crate uses ([`raconn_core::explain!`]).

use std::path::PathBuf;

use raconn_core::catalogue as c;
use raconn_core::error::{Code, Explain};

/// Everything the host can fail with.
#[derive(Debug)]
#[non_exhaustive]
pub enum HostError {
    /// A core rule or format error (its own code).
    Core(raconn_core::Error),
    /// Reading a file failed.
    Read { path: PathBuf, err: std::io::Error },
    /// Writing a file failed.
    Write { path: PathBuf, err: std::io::Error },
    /// Key generation failed.
    KeyGen(String),
    /// Key encoding/decoding failed.
    KeyEncoding(String),
    /// No key in the store matches the certificate.
    NoMatchingKey { store: String, key: String },
    /// The file holds nothing raconn recognises.
    Unrecognised { path: PathBuf, what: String },
    /// The made CSR failed its own signature check.
    SelfCheck(String),
    /// A thumbprint not in the store.
    ThumbprintNotFound(String),
    /// Unknown error code given to `explain`.
    UnknownCode(String),
    /// The configuration file is invalid.
    Config {
        file: PathBuf,
        line: Option<usize>,
        key: String,
        msg: String,
    },
    /// TLS set-up failed before connecting.
    Tls(String),
    /// Talking to the CA failed (the core's code, with phase and timing).
    Ca {
        kind: raconn_core::Error,
        phase: crate::tls::Phase,
        elapsed_ms: u64,
        timeout_ms: u64,
        detail: String,
    },
    /// The CA issued, but the record could not be saved.
    IssuedNotSaved { serial: String, err: Box<HostError> },
    /// A profile other-name with no value given.
    MissingOtherName(String),
    /// No usable PFX password.
    Password(String),
    /// No such profile in the configuration.
    NoProfile(String),
    /// Writing the PFX failed.
    Pfx(String),
    /// A PKCS#11 token or the Windows key store refused or failed.
    Token(String),
    /// `--store` names nothing raconn can open.
    StoreLocation(String),
    /// The result could not be written to its output (stdout, a file).
    Output(String),
    /// A store or journal directory that is not private (or not a directory).
    Unsafe { path: PathBuf, what: String },
    /// A certificate whose signature does not verify with its issuer's key.
    BadSignature { path: PathBuf, subject: String },
    /// A text input that is not UTF-8.
    NotUtf8 { path: PathBuf, byte: usize },
    /// No issued record in the journal for a request id.
    NoRecord(String),
    /// The policy's CA certificates do not chain to a self-signed root.
    CaChain(String),
    /// No configured RA certificate is valid now.
    RaCertNotValid(String),
    /// A PFX that does not open.
    PfxOpen { path: PathBuf, why: String },
    /// A PFX whose key matches none of its certificates.
    PfxNoMatch(PathBuf),
    /// An RA certificate without clientAuth.
    NotClientAuth(String),
    /// `raconn serve`: a service failure.
    Service(ServiceError),
}

/// `file:line: key: ` of a configuration error.
struct Place<'a> {
    file: &'a std::path::Path,
    line: &'a Option<usize>,
    key: &'a str,
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        f.write_str(": ")?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        Ok(())
    }
}

raconn_core::explain!(HostError {
    Read { path, err } => [c::HOST_READ], "{}: {err}", path.display();
    Write { path, err } => [c::HOST_WRITE], "{}: {err}", path.display();
    KeyGen(e) => [c::HOST_KEYGEN], "{e}";
    KeyEncoding(e) => [c::HOST_KEY_ENCODING], "{e}";
    NoMatchingKey { store, key } => [c::HOST_NO_MATCHING_KEY], "no key in {store} for the certificate's public key ({key})";
    Unrecognised { path, what } => [c::HOST_UNRECOGNISED], "{}: {what}", path.display();
    SelfCheck(e) => [c::HOST_SELF_CHECK], "{e}";
    ThumbprintNotFound(t) => [c::HOST_THUMBPRINT_NOT_FOUND], "{t}";
    UnknownCode(code) => [c::HOST_UNKNOWN_CODE], "{code}";
    Config { file, line, key, msg } => [c::CONF_INVALID], "{}{msg}", Place { file, line, key };
    Tls(e) => [c::TLS_SETUP], "{e}";
    IssuedNotSaved { serial, err } => [c::HOST_ISSUED_NOT_SAVED], "serial {serial}: {err}";
    MissingOtherName(oid) => [c::HOST_MISSING_OTHER_NAME], "{oid}";
    Password(e) => [c::HOST_PASSWORD], "{e}";
    NoProfile(name) => [c::HOST_NO_PROFILE], "{name:?}";
    Pfx(e) => [c::HOST_PFX], "{e}";
    Token(e) => [c::HOST_TOKEN], "{e}";
    StoreLocation(e) => [c::HOST_STORE_LOCATION], "{e}";
    Output(e) => [c::HOST_OUTPUT], "{e}";
    Unsafe { path, what } => [c::HOST_UNSAFE], "{} {what}", path.display();
    BadSignature { path, subject } => [c::HOST_BAD_SIGNATURE], "{}: {subject}", path.display();
    NotUtf8 { path, byte } => [c::HOST_NOT_UTF8], "{}: byte {byte}", path.display();
    NoRecord(what) => [c::HOST_NO_RECORD], "{what}";
    CaChain(what) => [c::HOST_CA_CHAIN], "{what}";
    RaCertNotValid(what) => [c::HOST_RA_NOT_VALID], "{what}";
    PfxOpen { path, why } => [c::HOST_PFX_OPEN], "{}: {why}", path.display();
    PfxNoMatch(path) => [c::HOST_PFX_NO_MATCH], "{}", path.display();
    NotClientAuth(subject) => [c::HOST_NOT_CLIENT_AUTH], "{subject}";
} delegate {
    Core(e) => e;
    Service(e) => e;
    Ca { kind, phase, elapsed_ms, timeout_ms, detail } => kind, "{phase} after {elapsed_ms} ms; ca_timeout_ms = {timeout_ms}: {detail}";
});

impl std::error::Error for HostError {}

/// What `raconn serve` and its API fail with (`RC-SVC`), each with the detail.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ServiceError {
    /// Plain HTTP on a non-loopback address.
    PlainHttp(String),
    /// The database failed.
    Database(String),
    /// The key-encryption key file.
    Kek(String),
    /// A field of a request body.
    BadBody {
        /// The JSON field.
        field: String,
        /// What is wrong.
        msg: String,
    },
    /// The request id is taken by another request.
    Conflict(String),
    /// No such request.
    NotFound(String),
    /// No or a wrong credential.
    Unauthenticated(String),
    /// The body is over the limit.
    TooLarge(usize),
    /// No certificate (yet).
    NotIssued(String),
    /// Revoked or being revoked.
    AlreadyRevoked(String),
    /// The PFX is gone.
    PfxPurged(String),
    /// Retries exhausted.
    RetriesExhausted(String),
    /// `/readyz`.
    NotReady(String),
    /// No tokens and no client CA.
    NoAuth(String),
    /// `raconn token add` with a name in use.
    TokenExists(String),
    /// The lease went to another worker.
    LeaseLost(String),
}

raconn_core::explain!(ServiceError {
    PlainHttp(d) => [c::SVC_PLAIN_HTTP], "{d}";
    Database(d) => [c::SVC_DATABASE], "{d}";
    Kek(d) => [c::SVC_KEK], "{d}";
    BadBody { field, msg } => [c::SVC_BAD_BODY], "{field}: {msg}";
    Conflict(d) => [c::SVC_CONFLICT], "{d}";
    NotFound(d) => [c::SVC_NOT_FOUND], "{d}";
    Unauthenticated(d) => [c::SVC_UNAUTHENTICATED], "{d}";
    TooLarge(n) => [c::SVC_TOO_LARGE], "{n} bytes";
    NotIssued(d) => [c::SVC_NOT_ISSUED], "{d}";
    AlreadyRevoked(d) => [c::SVC_ALREADY_REVOKED], "{d}";
    PfxPurged(d) => [c::SVC_PFX_PURGED], "{d}";
    RetriesExhausted(d) => [c::SVC_RETRIES_EXHAUSTED], "{d}";
    NotReady(d) => [c::SVC_NOT_READY], "{d}";
    NoAuth(d) => [c::SVC_NO_AUTH], "{d}";
    TokenExists(d) => [c::SVC_TOKEN_EXISTS], "{d}";
    LeaseLost(d) => [c::SVC_LEASE_LOST], "{d}";
});

impl std::error::Error for ServiceError {}

impl From<ServiceError> for HostError {
    fn from(e: ServiceError) -> Self {
        HostError::Service(e)
    }
}

impl From<raconn_core::Error> for HostError {
    fn from(e: raconn_core::Error) -> Self {
        HostError::Core(e)
    }
}

impl HostError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        Explain::code(self)
    }

    /// What to do.
    pub fn remedy(&self) -> &'static str {
        Explain::remedy(self)
    }

    /// What this host adds to the remedy (the command or setting to use).
    pub fn hint(&self) -> Option<&'static str> {
        crate::hints::hint(self.code())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_names_its_row_and_detail() {
        let e = HostError::Read {
            path: "/x/y".into(),
            err: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(e.code(), "RC-HOST-001");
        assert!(e
            .to_string()
            .starts_with("RC-HOST-001: cannot read a file (/x/y: "));
        let e = HostError::Config {
            file: "raconn.toml".into(),
            line: Some(3),
            key: "store".into(),
            msg: "bad".into(),
        };
        assert_eq!(
            e.to_string(),
            "RC-CONF-001: the configuration file is invalid (raconn.toml:3: store: bad)"
        );
        let e = HostError::Core(raconn_core::issuance::TxError::Conflict.into());
        assert_eq!(e.code(), "RC-TX-001");
        assert!(e.to_string().starts_with("RC-TX-001: "));
        for row in raconn_core::catalogue::HOST {
            assert!(
                row.code.starts_with("RC-HOST-")
                    || row.code.starts_with("RC-CONF-")
                    || row.code.starts_with("RC-TLS-")
                    || row.code.starts_with("RC-SVC-"),
                "{}",
                row.code
            );
        }
        let e = HostError::from(ServiceError::Conflict("r1".into()));
        assert_eq!(e.code(), "RC-SVC-005");
        assert!(e.to_string().starts_with("RC-SVC-005: "), "{e}");
        for row in raconn_core::catalogue::HOST {
            assert!(
                !row.message.is_empty() && !row.remedy.is_empty(),
                "{}",
                row.code
            );
        }
    }
}
