//! `raconn.toml`: the RA thumbprint, timeouts, the store, trust anchors and
//! the PKCS profiles — each value checked with raconn-core's rules, every
//! error naming the key and its line.
//!
//! ```toml
//! ra_cert_thumbprint = "EA7A4E0CD1A4F81CF0740527C31A57F6020C17C5"
//! ca_timeout_ms = 30000
//! ca_keep_alive_ms = 4000         # optional: keep CA connections this long between calls (0 = one per call)
//! store = "store"                 # a directory, or pkcs11:module=…;token=…, or windows:LocalMachine\My
//! journal = "journal"              # optional: where the issuance journal lives
//! ca_trust = "ca-roots.pem"
//! max_reply_bytes = 4194304       # optional: the largest CA reply read
//! proxy = "http://proxy.corp:3128" # optional: else HTTPS_PROXY (NO_PROXY honoured)
//! keep_device_keys = true         # optional: keep device keys after their PFX is written
//! poll = { first_ms = 2000, max_ms = 30000, max_attempts = 5 }   # optional: a request pending approval
//!
//! [profiles.users]
//! certification_authority = "pki-ws.symauth.com"
//! certification_authority_name = "Symantec"
//! certificate_template = "2.16.840.1.113733.1.16.1.2.3.1.1.47196109"
//! subject_name_format = "common-name-including-email"
//! subject_alternative_names = ["email", "upn", "other-name:1.3.6.1.4.1.311.25.1"]
//! key = "rsa-2048"
//! pfx = "modern"
//! pfx_iterations = 10000
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use raconn_core::profile::{self, SanKindSel, SubjectFormat};
use raconn_core::thumbprint::{self, ThumbNote, Thumbprint};
use serde::Deserialize;

use crate::errors::HostError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    ra_cert_thumbprint: OneOrMany,
    #[serde(default = "default_timeout")]
    ca_timeout_ms: u64,
    #[serde(default = "default_keep_alive")]
    ca_keep_alive_ms: u64,
    #[serde(default)]
    store: Option<String>,
    #[serde(default)]
    journal: Option<String>,
    #[serde(default)]
    ca_trust: Option<String>,
    #[serde(default = "default_max_reply")]
    max_reply_bytes: u64,
    #[serde(default)]
    proxy: Option<String>,
    #[serde(default = "default_true")]
    keep_device_keys: bool,
    #[serde(default)]
    poll: Option<RawPoll>,
    #[serde(default)]
    profiles: BTreeMap<String, RawProfile>,
    #[serde(default)]
    service: Option<RawService>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    #[serde(default)]
    listen: Option<String>,
    #[serde(default)]
    database: Option<String>,
    #[serde(default)]
    workers: usize,
    #[serde(default)]
    tls_cert: Option<String>,
    #[serde(default)]
    tls_key: Option<String>,
    #[serde(default)]
    client_ca: Option<String>,
    #[serde(default)]
    tokens: Option<String>,
    #[serde(default)]
    retry: Option<RawRetry>,
    #[serde(default)]
    keep_issued_days: Option<u32>,
    #[serde(default)]
    key_encryption_key: Option<String>,
    #[serde(default)]
    lease_s: Option<u32>,
    #[serde(default)]
    grace_s: Option<u32>,
    #[serde(default)]
    policy_cache_s: Option<u32>,
    #[serde(default)]
    key_pool: Option<usize>,
    #[serde(default)]
    instance: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    first_s: u32,
    max_s: u32,
    #[serde(default)]
    max_attempts: u32,
}

/// `[service]`: how `raconn serve` runs (see [`crate::serve`]).
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The API address.
    pub listen: std::net::SocketAddr,
    /// `sqlite:FILE` (relative to raconn.toml) or `postgres://…`.
    pub database: String,
    /// Issuance workers in this instance (0 in the file = the number of cores).
    pub workers: usize,
    /// API server certificate and key (PEM).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// CA whose client certificates authenticate callers.
    pub client_ca: Option<PathBuf>,
    /// The bearer-token file (names and SHA-256 hashes).
    pub tokens: PathBuf,
    /// Back-off of retryable failures.
    pub retry: RetryPolicy,
    /// Days an issued PFX is kept for re-delivery.
    pub keep_issued_days: u32,
    /// The key-encryption key file (32 bytes, 0600).
    pub kek: PathBuf,
    /// Seconds a claimed request stays leased without a heartbeat.
    pub lease_s: u32,
    /// Seconds `SIGTERM` waits for in-flight work.
    pub grace_s: u32,
    /// Seconds a profile's policy is reused before it is fetched again
    /// (0: fetched for every request); dropped at once when a request of
    /// the profile fails, and on `SIGHUP`.
    pub policy_cache_s: u32,
    /// RSA device keys made ahead of time, per size requests asked for
    /// (0: each made when its request needs it).
    pub key_pool: usize,
    /// This instance's id in logs and metrics (default: host name and process id).
    pub instance: Option<String>,
}

/// Back-off of retryable failures: `first_s` doubled per attempt up to
/// `max_s`, with up to 20 % random jitter; `max_attempts` 0 = for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First delay, seconds.
    pub first_s: u32,
    /// Largest delay, seconds.
    pub max_s: u32,
    /// Attempts before a retryable failure becomes final (0 = never).
    pub max_attempts: u32,
}

/// `ra_cert_thumbprint`: one, or a list during an RA certificate rotation.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPoll {
    first_ms: u32,
    max_ms: u32,
    max_attempts: u32,
}

fn default_keep_alive() -> u64 {
    crate::tls::DEFAULT_KEEP_ALIVE_MS
}

fn default_max_reply() -> u64 {
    DEFAULT_MAX_REPLY as u64
}

fn default_true() -> bool {
    true
}

/// The default cap on one CA reply: 4 MiB, far above the largest real one
/// (a policy with its CA chain is under 20 KB).
pub const DEFAULT_MAX_REPLY: usize = 4 << 20;

fn default_timeout() -> u64 {
    30_000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    certification_authority: String,
    certification_authority_name: String,
    certificate_template: String,
    subject_name_format: String,
    #[serde(default)]
    subject_alternative_names: Vec<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    pfx: Option<String>,
    #[serde(default)]
    pfx_iterations: Option<u32>,
    #[serde(default)]
    names: BTreeMap<String, String>,
    #[serde(default)]
    strict: bool,
    #[serde(default)]
    sid: Option<String>,
}

pub use raconn_core::issuance::{KeyChoice, PollPolicy};
pub use raconn_core::profile::SidPlacement;

/// PFX compatibility profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PfxProfile {
    /// PBES2/AES-256-CBC, PBKDF2-SHA256, HMAC-SHA256 MAC.
    Modern,
    /// 3DES + SHA-1 MAC, for Windows Server 2016 and older Apple importers.
    Legacy,
}

/// A checked PKCS profile.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Its name in the file.
    pub name: String,
    /// CA host.
    pub host: String,
    /// CA port.
    pub port: u16,
    /// The DigiCert certificate-profile OID.
    pub template: String,
    /// Subject format.
    pub subject_format: SubjectFormat,
    /// SAN kinds.
    pub san: Vec<SanKindSel>,
    /// Device key.
    pub key: KeyChoice,
    /// PFX profile.
    pub pfx: PfxProfile,
    /// PBKDF2 iterations of each PFX key derivation (default 10 000).
    pub pfx_iterations: u32,
    /// nameValuePair name overrides (kind → name).
    pub names: Vec<(String, String)>,
    /// Refuse values that would only be warned about.
    pub strict: bool,
    /// Where a SID goes (`--sid` is refused without it).
    pub sid: Option<SidPlacement>,
    /// Warnings from the checks.
    pub warnings: Vec<String>,
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it was read from.
    pub path: PathBuf,
    /// The RA certificate thumbprint.
    /// `ra_cert_thumbprint`: one, or several during a rotation (the newest
    /// valid one present in the store is used).
    pub ra_thumbprints: Vec<Thumbprint>,
    /// What the thumbprint parser removed (U+200E and friends).
    pub thumbprint_notes: Vec<ThumbNote>,
    /// CA timeout.
    pub ca_timeout_ms: u64,
    /// How long a CA connection is kept for the next call (0: one per call).
    pub ca_keep_alive_ms: u64,
    /// Where the RA key and certificate are.
    pub store: crate::store::StoreLocation,
    /// The issuance journal's directory: `journal`, else `<store>/journal`
    /// for a directory store, else `journal` beside the configuration file.
    pub journal: PathBuf,
    /// Extra trust anchors for the CA's TLS server (else the system roots).
    pub ca_trust: Option<PathBuf>,
    /// The largest CA reply read, in bytes.
    pub max_reply_bytes: usize,
    /// `proxy`: an HTTP proxy URL (else HTTPS_PROXY at connect time).
    pub proxy: Option<String>,
    /// Keep device keys in the journal after their PFX is written.
    pub keep_device_keys: bool,
    /// How a request pending approval is polled in one run.
    pub poll: PollPolicy,
    /// Profiles by name.
    pub profiles: BTreeMap<String, Profile>,
    /// `[service]` (defaults when the table is absent).
    pub service: ServiceConfig,
}

/// Where the configuration is: `--config`, `RACONN_CONFIG`, or `./raconn.toml`.
pub fn locate(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::var_os("RACONN_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("raconn.toml"))
}

fn line_of_key(text: &str, table: Option<&str>, key: &str) -> Option<usize> {
    let mut in_table = table.is_none();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.starts_with('[') {
            in_table =
                table.is_some_and(|tb| t.trim_matches(|c| c == '[' || c == ']').trim() == tb);
            continue;
        }
        if in_table && t.split('=').next().is_some_and(|k| k.trim() == key) {
            return Some(i + 1);
        }
    }
    None
}

/// Reads and checks a configuration file.
pub fn load(path: &Path) -> Result<Config, HostError> {
    let text = std::fs::read_to_string(path).map_err(|err| HostError::Config {
        file: path.to_path_buf(),
        line: None,
        key: String::new(),
        msg: format!("cannot read the configuration file: {err} (give --config FILE, set RACONN_CONFIG, or create ./raconn.toml)"),
    })?;
    parse(&text, path)
}

/// Parses and checks configuration text read from `path`.
pub fn parse(text: &str, path: &Path) -> Result<Config, HostError> {
    let err = |table: Option<&str>, key: &str, msg: String| HostError::Config {
        file: path.to_path_buf(),
        line: line_of_key(text, table, key),
        key: match table {
            Some(t) => format!("{t}.{key}"),
            None => key.to_string(),
        },
        msg,
    };
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text.get(..s.start).unwrap_or("").matches('\n').count() + 1);
        HostError::Config {
            file: path.to_path_buf(),
            line,
            key: String::new(),
            msg: e.message().to_string(),
        }
    })?;
    let texts: Vec<&str> = match &raw.ra_cert_thumbprint {
        OneOrMany::One(t) => vec![t.as_str()],
        OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
    };
    if texts.is_empty() {
        return Err(err(None, "ra_cert_thumbprint", "the list is empty".into()));
    }
    let mut ra_thumbprints = Vec::new();
    let mut thumbprint_notes = Vec::new();
    for t in texts {
        let parsed =
            thumbprint::parse(t).map_err(|e| err(None, "ra_cert_thumbprint", e.to_string()))?;
        if !ra_thumbprints.contains(&parsed.thumbprint) {
            ra_thumbprints.push(parsed.thumbprint);
        }
        thumbprint_notes.extend(parsed.notes.iter().copied());
    }
    if raw.ca_timeout_ms == 0 {
        return Err(err(None, "ca_timeout_ms", "must be more than 0".into()));
    }
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let store = crate::store::StoreLocation::parse(raw.store.as_deref().unwrap_or("store"), base)
        .map_err(|e| err(None, "store", e))?;
    let journal = match (&raw.journal, store.dir()) {
        (Some(j), _) => base.join(j),
        (None, Some(d)) => d.join("journal"),
        (None, None) => base.join("journal"),
    };
    let ca_trust = raw.ca_trust.as_ref().map(|t| base.join(t));
    if let Some(t) = &ca_trust {
        if !t.exists() {
            return Err(err(
                None,
                "ca_trust",
                format!("{} does not exist", t.display()),
            ));
        }
    }
    if let Some(p) = &raw.proxy {
        crate::proxy::Proxy::parse(p, Some(String::new())).map_err(|m| err(None, "proxy", m))?;
    }
    if raw.ca_keep_alive_ms > 300_000 {
        return Err(err(
            None,
            "ca_keep_alive_ms",
            "must be from 0 (a connection per call) to 300000 (5 minutes)".into(),
        ));
    }
    if raw.max_reply_bytes < 64 * 1024 || raw.max_reply_bytes > 1 << 30 {
        return Err(err(
            None,
            "max_reply_bytes",
            "must be from 65536 (64 KiB) to 1073741824 (1 GiB)".into(),
        ));
    }
    let poll = match raw.poll {
        None => PollPolicy::DEFAULT,
        Some(p) if p.first_ms > p.max_ms => {
            return Err(err(None, "poll", "first_ms is larger than max_ms".into()))
        }
        Some(p) => PollPolicy {
            first_ms: p.first_ms,
            max_ms: p.max_ms,
            max_attempts: p.max_attempts,
        },
    };
    let mut profiles = BTreeMap::new();
    for (name, p) in raw.profiles {
        let table = format!("profiles.{name}");
        let tb = Some(table.as_str());
        let ca = profile::parse_ca_fqdn(&p.certification_authority)
            .map_err(|e| err(tb, "certification_authority", e.to_string()))?;
        profile::check_ca_name(&p.certification_authority_name)
            .map_err(|e| err(tb, "certification_authority_name", e.to_string()))?;
        let (_, w) = profile::parse_template(&p.certificate_template)
            .map_err(|e| err(tb, "certificate_template", e.to_string()))?;
        let subject_format = SubjectFormat::parse(&p.subject_name_format)
            .map_err(|e| err(tb, "subject_name_format", e.to_string()))?;
        let mut san = Vec::new();
        for s in &p.subject_alternative_names {
            san.push(
                SanKindSel::parse(s)
                    .map_err(|e| err(tb, "subject_alternative_names", format!("{s:?}: {e}")))?,
            );
        }
        let key = match p.key.as_deref() {
            None => KeyChoice::Policy,
            Some(k) => KeyChoice::parse(k).ok_or_else(|| {
                err(
                    tb,
                    "key",
                    format!("{k:?} is not policy, rsa-2048, rsa-3072, rsa-4096, p256 or p384"),
                )
            })?,
        };
        let sid = match p.sid.as_deref() {
            None => None,
            Some(v) => Some(SidPlacement::parse(v).map_err(|_| {
                err(
                    tb,
                    "sid",
                    format!("{v:?} is not extension, san-url or both"),
                )
            })?),
        };
        let pfx = match p.pfx.as_deref() {
            None | Some("modern") => PfxProfile::Modern,
            Some("legacy") => PfxProfile::Legacy,
            Some(other) => {
                return Err(err(tb, "pfx", format!("{other:?} is not modern or legacy")))
            }
        };
        // NIST SP 800-132 §5.2 asks for at least 1,000 iterations; above a
        // million each PFX costs the service (and the device importing it)
        // seconds.
        let pfx_iterations = match p.pfx_iterations {
            None => 10_000,
            Some(n @ 1_000..=1_000_000) => n,
            Some(n) => {
                return Err(err(
                    tb,
                    "pfx_iterations",
                    format!(
                        "{n} is outside 1000..=1000000 (NIST SP 800-132 asks for at least 1,000)"
                    ),
                ))
            }
        };
        profiles.insert(
            name.clone(),
            Profile {
                name,
                host: ca.host.to_string(),
                port: ca.port_or_default(),
                template: p.certificate_template.trim().to_string(),
                subject_format,
                san,
                key,
                pfx,
                pfx_iterations,
                names: p.names.into_iter().collect(),
                strict: p.strict,
                sid,
                warnings: w.map(|w| w.to_string()).into_iter().collect(),
            },
        );
    }
    let service = service_config(raw.service, base, &err)?;
    Ok(Config {
        path: path.to_path_buf(),
        service,
        ra_thumbprints,
        thumbprint_notes,
        ca_timeout_ms: raw.ca_timeout_ms,
        ca_keep_alive_ms: raw.ca_keep_alive_ms,
        store,
        journal,
        ca_trust,
        max_reply_bytes: raw.max_reply_bytes as usize,
        proxy: raw.proxy,
        keep_device_keys: raw.keep_device_keys,
        poll,
        profiles,
    })
}

fn service_config(
    raw: Option<RawService>,
    base: &Path,
    err: &dyn Fn(Option<&str>, &str, String) -> HostError,
) -> Result<ServiceConfig, HostError> {
    let t = Some("service");
    let raw = raw.unwrap_or(RawService {
        listen: None,
        database: None,
        workers: 0,
        tls_cert: None,
        tls_key: None,
        client_ca: None,
        tokens: None,
        retry: None,
        keep_issued_days: None,
        key_encryption_key: None,
        lease_s: None,
        grace_s: None,
        policy_cache_s: None,
        key_pool: None,
        instance: None,
    });
    let listen_text = raw.listen.as_deref().unwrap_or("127.0.0.1:8443");
    let listen: std::net::SocketAddr = listen_text.parse().map_err(|_| {
        err(
            t,
            "listen",
            format!(
                "{listen_text:?} is not an address and port such as 127.0.0.1:8443 or [::]:8443"
            ),
        )
    })?;
    let database = match raw.database.as_deref() {
        None => format!("sqlite:{}", base.join("raconn.db").display()),
        Some(d) if d.starts_with("postgres://") || d.starts_with("postgresql://") => d.to_string(),
        Some(d) => match d.strip_prefix("sqlite:") {
            Some(f) if !f.is_empty() => {
                let f = f.trim_start_matches("//");
                format!("sqlite:{}", base.join(f).display())
            }
            _ => {
                return Err(err(
                    t,
                    "database",
                    format!("{d:?} is neither sqlite:FILE nor postgres://user@host:port/db"),
                ))
            }
        },
    };
    let tls = match (&raw.tls_cert, &raw.tls_key) {
        (None, None) => None,
        (Some(c), Some(k)) => Some((base.join(c), base.join(k))),
        (Some(_), None) => return Err(err(t, "tls_cert", "tls_key is missing".into())),
        (None, Some(_)) => return Err(err(t, "tls_key", "tls_cert is missing".into())),
    };
    let retry = match raw.retry {
        None => RetryPolicy {
            first_s: 5,
            max_s: 900,
            max_attempts: 0,
        },
        Some(r) if r.first_s == 0 || r.first_s > r.max_s => {
            return Err(err(
                t,
                "retry",
                "first_s must be at least 1 and not larger than max_s".into(),
            ))
        }
        Some(r) => RetryPolicy {
            first_s: r.first_s,
            max_s: r.max_s,
            max_attempts: r.max_attempts,
        },
    };
    let lease_s = raw.lease_s.unwrap_or(60);
    if lease_s < 5 {
        return Err(err(t, "lease_s", "must be at least 5".into()));
    }
    Ok(ServiceConfig {
        listen,
        database,
        workers: raw.workers,
        tls,
        client_ca: raw.client_ca.map(|c| base.join(c)),
        tokens: base.join(raw.tokens.as_deref().unwrap_or("tokens")),
        retry,
        keep_issued_days: raw.keep_issued_days.unwrap_or(30),
        kek: base.join(raw.key_encryption_key.as_deref().unwrap_or("kek")),
        lease_s,
        grace_s: raw.grace_s.unwrap_or(30),
        policy_cache_s: raw.policy_cache_s.unwrap_or(300),
        key_pool: raw.key_pool.unwrap_or(16),
        instance: raw.instance,
    })
}
