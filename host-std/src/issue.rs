//! `raconn policy` and `raconn issue`: the host's half of the core's
//! issuance transaction ([`raconn_core::issuance`]). The core decides every
//! step — policy, pre-send check, device key, records, enrollment, search
//! after a lost reply, polling, checking the certificate; this module moves
//! bytes over mutual TLS ([`crate::tls`]), keeps records and device keys in
//! the journal ([`crate::journal`]), makes keys, and writes the PFX.
//!
//! Before anything is sent it checks what could fail once the CA has
//! issued: the PFX password, the output path, and that a PFX can be built
//! with the new key, this subject and password.

use std::path::{Path, PathBuf};

use raconn_core::cert::CertificateRef;
use raconn_core::inf::{HashAlgorithm, KeyKind};
use raconn_core::issuance::{self, Buffers, Order, RecordState, Step, Transaction, TxError};
use raconn_core::oid::Oid;
use raconn_core::pkiws::Service;
use raconn_core::profile::{Identity, SanKindSel};
use raconn_core::thumbprint::Thumbprint;
use std::sync::Arc;

use crate::config::{Config, PfxProfile, Profile};
use crate::errors::{core, HostError};
use crate::files;
use crate::journal::{self, Journal};
use crate::keys::SoftKey;
use crate::store::{self, RaKey};
use crate::tls::CaClient;

/// What to issue.
#[derive(Debug, Clone)]
pub struct IssueArgs {
    /// Idempotency key.
    pub request_id: String,
    /// Common name.
    pub cn: String,
    /// E-mail.
    pub email: Option<String>,
    /// UPN.
    pub upn: Option<String>,
    /// Other-names (OID, value as given).
    pub other_names: Vec<(Oid, String)>,
    /// Where to write the PFX.
    pub out: PathBuf,
    /// PFX password.
    pub password: String,
    /// The user's SID (strong certificate mapping), text form.
    pub sid: Option<String>,
}

/// What `issue` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IssueOutcome {
    /// The request id.
    pub request_id: String,
    /// Where the PFX was written.
    pub pfx: PathBuf,
    /// SHA-1 thumbprint of the certificate.
    pub thumbprint: String,
    /// Serial number, hex.
    pub serial: String,
    /// notAfter.
    pub not_after: String,
    /// Subject.
    pub subject: String,
    /// True when the certificate came from the journal (the CA was not contacted).
    pub from_journal: bool,
    /// The clientTransactionID used.
    pub client_transaction_id: String,
    /// The CA's serverTransactionID.
    pub server_transaction_id: String,
    /// Warnings (fallbacks, already-base64 values, …).
    pub warnings: Vec<String>,
    /// True when a lost enrollment was found at the CA by searchCertificate.
    pub found_by_search: bool,
}

impl std::fmt::Display for IssueOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} {}\nSubject: {}\nThumbprint: {}\nSerial: {}\nNot After: {}\nPFX: {}\nclientTransactionID: {}  serverTransactionID: {}",
            if self.from_journal {
                "Already issued for request id"
            } else if self.found_by_search {
                "Issued (found at the CA after a lost reply) for request id"
            } else {
                "Issued for request id"
            },
            self.request_id,
            self.subject,
            self.thumbprint,
            self.serial,
            self.not_after,
            self.pfx.display(),
            self.client_transaction_id,
            self.server_transaction_id
        )
    }
}

/// Seconds since 1970 by this machine's clock.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The RA certificate (DER) and its key, from the configured store: of the
/// configured thumbprints present with their key, the newest certificate
/// valid now (latest notBefore) — so during a rotation both may be listed
/// and the new one takes over as soon as it is valid.
pub fn ra_identity(cfg: &Config) -> Result<(Vec<u8>, Arc<dyn RaKey>), HostError> {
    let st = store::open_existing(&cfg.store)?;
    let now = now_unix();
    let mut best: Option<(i64, Vec<u8>, Arc<dyn RaKey>)> = None;
    let mut first_err = None;
    let mut expired = None;
    for t in &cfg.ra_thumbprints {
        match st.identity(t) {
            Ok((cert, key)) => {
                let c = CertificateRef::parse(&cert.der).map_err(core)?;
                let (nb, na) = (c.not_before.unix(), c.not_after.unix());
                if now < nb || now > na {
                    expired.get_or_insert_with(|| {
                        (
                            t.to_string(),
                            c.not_after.to_string(),
                            c.not_before.to_string(),
                        )
                    });
                    continue;
                }
                if best.as_ref().is_none_or(|(b, _, _)| nb > *b) {
                    best = Some((nb, cert.der, key));
                }
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if let Some((_, der, key)) = best {
        return Ok((der, key));
    }
    if let Some((t, not_after, not_before)) = expired {
        return Err(HostError::RaCertNotValid(format!(
            "{t}: valid from {not_before} to {not_after}, now {}",
            raconn_core::cert::Time::from_unix(now)
        )));
    }
    Err(first_err.unwrap_or_else(|| HostError::ThumbprintNotFound("no ra_cert_thumbprint".into())))
}

/// A CA client for a profile.
pub fn client(cfg: &Config, p: &Profile) -> Result<CaClient, HostError> {
    client_and_ra_cert(cfg, p).map(|(c, _)| c)
}

/// A CA client for a profile, and the RA certificate it presents (DER).
pub fn client_and_ra_cert(cfg: &Config, p: &Profile) -> Result<(CaClient, Vec<u8>), HostError> {
    let (cert, key) = ra_identity(cfg)?;
    let c = CaClient::new(
        &p.host,
        p.port,
        &cert,
        key,
        cfg.ca_trust.as_deref(),
        cfg.ca_timeout_ms,
        cfg.max_reply_bytes,
    )?
    .with_proxy(proxy_for(cfg, p)?)
    .with_keep_alive(cfg.ca_keep_alive_ms);
    Ok((c, cert))
}

/// The proxy to reach `p`'s CA through, if any (raconn.toml's `proxy`,
/// else HTTPS_PROXY; NO_PROXY honoured).
pub fn proxy_for(cfg: &Config, p: &Profile) -> Result<Option<crate::proxy::Proxy>, HostError> {
    crate::proxy::select(cfg.proxy.as_deref(), &p.host, |k| std::env::var(k).ok()).map_err(|msg| {
        HostError::Config {
            file: cfg.path.clone(),
            line: None,
            key: if cfg.proxy.is_some() {
                "proxy"
            } else {
                "HTTPS_PROXY (environment)"
            }
            .into(),
            msg,
        }
    })
}

/// The profile by name.
pub fn profile<'c>(cfg: &'c Config, name: &str) -> Result<&'c Profile, HostError> {
    cfg.profiles
        .get(name)
        .ok_or_else(|| HostError::NoProfile(name.to_string()))
}

/// The profile's policy reply (a `getPoliciesResponse` that holds a policy
/// for the profile's OID; anything else is an error) and its SOAP version.
pub fn policy_text(cfg: &Config, name: &str) -> Result<(String, &'static str), HostError> {
    let p = profile(cfg, name)?;
    let c = client(cfg, p)?;
    let mut buf = vec![0u8; 4096];
    let mut nonce = [0u8; 8];
    let _ = getrandom::fill(&mut nonce);
    let ctid = issuance::one_off_transaction_id(nonce);
    let body = raconn_core::pkiws::policy::write_request(Some(&ctid), &[&p.template], &mut buf)
        .map_err(core)?;
    let (status, reply) = c.post(
        raconn_core::pkiws::PATH_POLICY,
        raconn_core::pkiws::ACTION_POLICY,
        body,
    )?;
    let text = raconn_core::pkiws::reply_text(status, &reply).map_err(core)?;
    // Only a policy for this profile is an answer; anything else is an error.
    let info = raconn_core::pkiws::body_info(text).map_err(core)?;
    if info.first != "getPoliciesResponse" {
        return Err(core(raconn_core::xml::XmlError::Missing {
            what: "getPoliciesResponse",
        }));
    }
    raconn_core::pkiws::policy::parse_response(text, &p.template)
        .map_err(|e| core(raconn_core::Error::Pkiws(e)))?;
    let soap = match info.soap {
        raconn_core::pkiws::SoapVersion::V11 => "SOAP 1.1",
        raconn_core::pkiws::SoapVersion::V12 => "SOAP 1.2",
    };
    Ok((text.to_string(), soap))
}

/// `raconn policy`: fetch and decode the profile's policy.
pub fn policy(cfg: &Config, name: &str) -> Result<crate::soap::PoliciesReport, HostError> {
    let (text, soap) = policy_text(cfg, name)?;
    crate::soap::PoliciesReport::of(&text, soap)
}

/// Writes a PFX ([`pfx_bytes`]) to `out` (0600, atomically), or to stdout
/// for `-`.
pub fn write_pfx(out: &Path, der: &[u8]) -> Result<(), HostError> {
    if out == Path::new("-") {
        use std::io::Write as _;
        let mut o = std::io::stdout().lock();
        return o
            .write_all(der)
            .and_then(|()| o.flush())
            .map_err(|e| HostError::Output(format!("stdout: {e}")));
    }
    files::write_atomic(out, der, 0o600)
}

/// The PFX friendlyName for a common name. It is a BMPString (RFC 7292
/// §4.2, PKCS#9 friendlyName), which holds only the Basic Multilingual
/// Plane: a character beyond it (𠮷, an emoji) becomes U+FFFD in the label
/// only — the certificate's subject keeps it — so that any subject the CA
/// accepts gives a PFX.
pub fn friendly_name(cn: &str) -> String {
    cn.chars()
        .map(|c| if u32::from(c) > 0xFFFF { '\u{FFFD}' } else { c })
        .collect()
}

/// The PFX of key + certificate + chain, in memory, its keys derived from
/// the password with `iterations` (the profile's `pfx_iterations`). The
/// modern profile is written by [`crate::pfx`] (one PBKDF2 for key bag and
/// certificates, one KDF for the MAC); the legacy one (PBES1 3DES, SHA-1
/// MAC) by p12-keystore.
pub fn pfx_bytes(
    key_pkcs8: &[u8],
    cert: &[u8],
    chain: &[Vec<u8>],
    password: &str,
    profile: PfxProfile,
    iterations: u32,
    alias: &str,
) -> Result<Vec<u8>, HostError> {
    pfx_build(key_pkcs8, cert, chain, password, profile, alias, iterations)
}

/// [`pfx_bytes`] (the pre-send check passes 1 iteration: it proves the
/// key, alias and password encode, which does not depend on the count, at
/// a fraction of the PBKDF2 cost).
fn pfx_build(
    key_pkcs8: &[u8],
    cert: &[u8],
    chain: &[Vec<u8>],
    password: &str,
    profile: PfxProfile,
    alias: &str,
    iterations: u32,
) -> Result<Vec<u8>, HostError> {
    use p12_keystore::{
        Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
        PrivateKeyChain,
    };
    if password.is_empty() {
        return Err(HostError::Password("empty".into()));
    }
    if profile == PfxProfile::Modern {
        let local_key_id = Thumbprint::of(cert).0;
        let name = friendly_name(alias);
        let contents = crate::pfx::PfxContents {
            key_pkcs8,
            cert,
            chain,
            friendly_name: &name,
            local_key_id: &local_key_id,
        };
        return crate::pfx::write(&contents, password, iterations);
    }
    let pfx_err = |e: p12_keystore::error::Error| HostError::Pfx(e.to_string());
    let mut certs = vec![Certificate::from_der(cert).map_err(pfx_err)?];
    for c in chain {
        certs.push(Certificate::from_der(c).map_err(pfx_err)?);
    }
    let local_id = Thumbprint::of(cert).0.to_vec();
    let chain = PrivateKeyChain::new(
        local_id,
        PrivateKey::from_der(key_pkcs8).map_err(pfx_err)?,
        certs,
    );
    let mut ks = KeyStore::new();
    ks.add_entry(&friendly_name(alias), KeyStoreEntry::PrivateKeyChain(chain));
    let w = ks.writer(password);
    let w = match profile {
        PfxProfile::Modern => w
            .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
            .mac_algorithm(MacAlgorithm::HmacSha256),
        PfxProfile::Legacy => w
            .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
            .mac_algorithm(MacAlgorithm::HmacSha1),
    };
    w.encryption_iterations(iterations)
        .mac_iterations(iterations)
        .write()
        .map_err(pfx_err)
}

fn outcome(a: &IssueArgs, d: &Issued) -> Result<IssueOutcome, HostError> {
    let m = CertMeta::of(&d.certificate)?;
    Ok(IssueOutcome {
        request_id: a.request_id.clone(),
        pfx: a.out.clone(),
        thumbprint: m.thumbprint,
        serial: m.serial,
        not_after: m.not_after,
        subject: m.subject,
        from_journal: d.from_record,
        client_transaction_id: d.client_transaction_id.clone(),
        server_transaction_id: d.server_transaction_id.clone(),
        warnings: d.warnings.clone(),
        found_by_search: d.found_by_search,
    })
}

/// What a caller is told about a certificate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CertMeta {
    /// SHA-1 thumbprint, hex.
    pub thumbprint: String,
    /// Serial number, hex.
    pub serial: String,
    /// notAfter.
    pub not_after: String,
    /// Subject.
    pub subject: String,
}

impl CertMeta {
    /// Of a DER certificate.
    pub fn of(cert: &[u8]) -> Result<CertMeta, HostError> {
        let c = CertificateRef::parse(cert).map_err(core)?;
        let mut serial = String::new();
        let _ = raconn_core::cert::write_serial(&mut serial, c.serial);
        Ok(CertMeta {
            thumbprint: Thumbprint::of(cert).to_string(),
            serial,
            not_after: c.not_after.to_string(),
            subject: c.subject.to_string(),
        })
    }
}

/// The key `kind` as software key generation takes it.
fn key_algorithm(kind: KeyKind) -> Result<KeyKind, HostError> {
    match kind {
        KeyKind::Rsa(b @ (2048 | 3072 | 4096)) => Ok(KeyKind::Rsa(b)),
        KeyKind::P256 => Ok(KeyKind::P256),
        KeyKind::P384 => Ok(KeyKind::P384),
        _ => Err(core(TxError::KeyUnsupported)),
    }
}

/// Checks, before anything is sent, that the PFX can be written where asked:
/// the target is a regular file or a new path in a directory this account
/// can write.
fn check_output(out: &Path) -> Result<(), HostError> {
    if out == Path::new("-") {
        return Ok(());
    }
    let werr = |err| HostError::Write {
        path: out.to_path_buf(),
        err,
    };
    files::check_target(out)?;
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let probe = dir.join(format!(".raconn-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(werr)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Builds a PFX in memory with `key`, a stand-in certificate, this alias and
/// password: what could fail once the real certificate is here fails now.
fn check_pfx(key: &SoftKey, stand_in: &[u8], a: &IssueArgs, p: &Profile) -> Result<(), HostError> {
    check_pfx_with(key, stand_in, &a.password, p, &a.cn)
}

/// Builds a PFX in memory with `key`, a stand-in certificate, this password
/// and alias (see [`drive`]'s `check_key`).
pub fn check_pfx_with(
    key: &SoftKey,
    stand_in: &[u8],
    password: &str,
    p: &Profile,
    alias: &str,
) -> Result<(), HostError> {
    pfx_build(&key.to_pkcs8()?, stand_in, &[], password, p.pfx, alias, 1).map(|_| ())
}

/// Where a driven transaction keeps its record and its device key: the
/// journal directory for `raconn issue` ([`JournalRecords`]), the request's
/// row for `raconn serve` ([`crate::serve`]).
pub trait Records {
    /// Persists `record` (replacing the stored one) before the transaction goes on.
    fn save(&mut self, state: RecordState, record: &[u8]) -> Result<(), HostError>;
    /// Stores a new device key under `reference`.
    fn save_key(&mut self, reference: &[u8], key: &SoftKey) -> Result<(), HostError>;
    /// The device key `reference` names; `None` when it is gone.
    fn load_key(&mut self, reference: &[u8]) -> Result<Option<SoftKey>, HostError>;
    /// A CA call to `service` took `secs` (for metrics).
    fn ca_call(&mut self, _service: &'static str, _secs: f64) {}
    /// A reply to `service` kept from an earlier transaction, given to the
    /// core instead of calling the CA (the service's policy cache); `None`
    /// calls the CA.
    fn cached_reply(&mut self, _service: Service) -> Option<Arc<Vec<u8>>> {
        None
    }
    /// The CA answered `service` with HTTP 200 and `reply`.
    fn answered(&mut self, _service: Service, _reply: &[u8]) {}
    /// A new device key of `kind` made ahead of time (the service's key
    /// pool), never used before; `None` makes one now.
    fn ready_key(&mut self, _kind: KeyKind) -> Option<SoftKey> {
        None
    }
}

/// The certificate of a finished transaction, with its device key (owned:
/// the transaction's buffers are gone once [`drive`] returns).
pub struct Issued {
    /// The device key, PKCS#8 DER.
    pub key_pkcs8: zeroize::Zeroizing<Vec<u8>>,
    /// The certificate, DER.
    pub certificate: Vec<u8>,
    /// The PKCS#7's certificates, then the policy's CAs.
    pub chain: Vec<Vec<u8>>,
    /// The CA's serverTransactionID.
    pub server_transaction_id: String,
    /// Our clientTransactionID.
    pub client_transaction_id: String,
    /// From the stored record: the CA was not contacted.
    pub from_record: bool,
    /// A lost enrollment found at the CA by search.
    pub found_by_search: bool,
    /// Warnings (fallbacks, clock notes, …).
    pub warnings: Vec<String>,
}

/// How [`drive`] ended.
pub enum Driven {
    /// The certificate.
    Issued(Issued),
    /// The core's failure; `retryable` as the core says.
    Failed {
        /// What went wrong.
        error: raconn_core::Error,
        /// Running it again unchanged may succeed.
        retryable: bool,
    },
}

/// Checks a new device key against a stand-in certificate (see [`drive`]).
pub type KeyCheck<'a> = dyn Fn(&SoftKey, &[u8]) -> Result<(), HostError> + 'a;

/// A CA connection kept across transactions, with the RA certificate it presents.
pub type CaSlot = Option<(CaClient, Vec<u8>)>;

/// Drives the core's transaction of `order` (resumed from `stored`) until
/// it is done or fails: sends what the core asks over mutual TLS (opening
/// `ca` when first needed), keeps records and keys in `records`, makes
/// device keys (each handed to `check_key` with the RA certificate as a
/// stand-in, so what could fail once the CA has issued fails now), and
/// waits while the CA holds the request as long as `poll` allows.
/// Transport failures are returned as `Err` (all retryable).
#[allow(clippy::too_many_arguments)]
pub fn drive(
    cfg: &Config,
    p: &Profile,
    order: Order<'_>,
    stored: Option<&[u8]>,
    poll: issuance::PollPolicy,
    records: &mut dyn Records,
    ca: &mut CaSlot,
    check_key: &KeyCheck<'_>,
) -> Result<Driven, HostError> {
    let (mut rq, mut wk, mut tk, mut rc) = (
        vec![0u8; 32768],
        vec![0u8; 32768],
        vec![0u8; 65536],
        vec![0u8; 65536],
    );
    let mut tx = Transaction::new(
        order,
        stored,
        poll,
        Buffers {
            request: &mut rq,
            work: &mut wk,
            token: &mut tk,
            record: &mut rc,
        },
    )
    .map_err(core)?;
    // Every log line of this issuance carries the request id and the clientTransactionID.
    let span = tracing::info_span!("issue", request_id = %order.request_id, "client_transaction_id" = %tx.client_transaction_id());
    let _g = span.enter();
    if let Some(s) = tx.status().record {
        tracing::info!(record = s.as_str(), "resuming from the record");
    }
    let mut warnings: Vec<String> = tx.warnings().iter().map(|w| w.to_string()).collect();
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let mut device: Option<SoftKey> = None;
    loop {
        match tx.next() {
            Step::Send(s) => {
                // Loaded even when the cache answers: the RA certificate is
                // the stand-in of the pre-send PFX check below.
                if ca.is_none() {
                    *ca = Some(client_and_ra_cert(cfg, p)?);
                }
                let service = s.service;
                if let Some(reply) = records.cached_reply(service) {
                    tracing::info!(service = service.name(), "answered from the policy cache");
                    tx.on_reply(200, &reply);
                    continue;
                }
                let Some((c, _)) = ca.as_ref() else { continue };
                tracing::info!(service = s.service.name(), host = %p.host, port = p.port, "sending");
                let t0 = std::time::Instant::now();
                let r = c.post(s.path, s.soap_action, s.body);
                records.ca_call(s.service.name(), t0.elapsed().as_secs_f64());
                let (st, body) = r?;
                if st == 200 {
                    records.answered(service, &body);
                }
                tx.on_reply(st, &body);
            }
            Step::Save { state, record } => {
                if let Err(e) = records.save(state, record) {
                    if state == RecordState::Issued {
                        return Err(not_saved(tx.certificate(), e));
                    }
                    return Err(e);
                }
                tracing::info!(
                    record = state.as_str(),
                    bytes = record.len(),
                    "record saved"
                );
                tx.saved();
            }
            Step::DeviceKey { kind, reference } => match reference.map(<[u8]>::to_vec) {
                None => {
                    let alg = key_algorithm(kind)?;
                    let k = match records.ready_key(alg) {
                        Some(k) => k,
                        None => SoftKey::generate(alg, HashAlgorithm::Sha256)?,
                    };
                    tracing::info!(key = %k.describe(), "device key generated");
                    if let Some((_, stand_in)) = ca.as_ref() {
                        check_key(&k, stand_in)?;
                    }
                    let r = Journal::key_reference(order.request_id);
                    records.save_key(r.as_bytes(), &k)?;
                    tx.device_key(&k, r.as_bytes());
                    device = Some(k);
                }
                Some(r) => match records.load_key(&r)? {
                    Some(k) => {
                        tx.device_key(&k, &r);
                        device = Some(k);
                    }
                    None => tx.device_key_missing(),
                },
            },
            Step::Wait { ms } => {
                tracing::info!(
                    wait_ms = ms,
                    "the CA holds the request for approval; polling"
                );
                std::thread::sleep(std::time::Duration::from_millis(u64::from(ms)));
                tx.waited();
            }
            Step::Done(done) => {
                let key = device.as_ref().ok_or(core(TxError::WrongStep))?;
                if done.found_by_search {
                    tracing::info!("the certificate of the lost enrollment was found at the CA; nothing was enrolled again");
                }
                // Issued (or replayed from the record) and yet not valid
                // by this machine's clock: say so, naming both times.
                let note = CertificateRef::parse(done.certificate)
                    .ok()
                    .and_then(|c| c.clock_note(now_unix(), raconn_core::cert::CLOCK_SKEW_SECS));
                if let Some(n) = note {
                    tracing::warn!("{n}");
                    warnings.push(n.to_string());
                }
                return Ok(Driven::Issued(Issued {
                    key_pkcs8: key.to_pkcs8()?,
                    certificate: done.certificate.to_vec(),
                    chain: done.chain.iter().map(<[u8]>::to_vec).collect(),
                    server_transaction_id: done.server_transaction_id.to_string(),
                    client_transaction_id: done.client_transaction_id.to_string(),
                    from_record: done.from_record,
                    found_by_search: done.found_by_search,
                    warnings,
                }));
            }
            Step::Failed { error, retryable } => {
                tracing::info!(retryable, code = %raconn_core::error::Explain::code(&error), "issuance failed");
                return Ok(Driven::Failed { error, retryable });
            }
        }
    }
}

/// The journal directory as [`Records`] for one request id.
pub struct JournalRecords<'j> {
    journal: &'j Journal,
    id: &'j str,
}

impl Records for JournalRecords<'_> {
    fn save(&mut self, _state: RecordState, record: &[u8]) -> Result<(), HostError> {
        self.journal.save(self.id, record)
    }
    fn save_key(&mut self, reference: &[u8], key: &SoftKey) -> Result<(), HostError> {
        self.journal.save_key(reference, key)
    }
    fn load_key(&mut self, reference: &[u8]) -> Result<Option<SoftKey>, HostError> {
        self.journal.load_key(reference)
    }
}

/// The core's order for `a` under profile `p`; `other_values` receives the
/// other-name values in the profile's order (every one the profile asks for
/// must be given).
pub fn order_of<'a>(
    p: &'a Profile,
    a: &'a IssueArgs,
    other_values: &'a mut Vec<&'a str>,
    overrides: &'a mut Vec<(&'a str, &'a str)>,
) -> Result<Order<'a>, HostError> {
    for k in &p.san {
        if let SanKindSel::OtherName(o) = k {
            let v = a
                .other_names
                .iter()
                .find(|(x, _)| x == o)
                .ok_or_else(|| HostError::MissingOtherName(o.to_string()))?;
            other_values.push(&v.1);
        }
    }
    overrides.extend(p.names.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    Ok(Order {
        request_id: &a.request_id,
        profile_oid: &p.template,
        subject_format: p.subject_format,
        san: &p.san,
        other_names: other_values,
        overrides,
        identity: Identity {
            cn: &a.cn,
            email: a.email.as_deref(),
            upn: a.upn.as_deref(),
        },
        seat_id: None,
        key: p.key,
        strict: p.strict,
        sid: a.sid.as_deref(),
        sid_placement: p.sid,
    })
}

/// Checks a PFX password: not empty, and only characters a PFX can carry.
pub fn check_password(password: &str) -> Result<(), HostError> {
    if password.is_empty() {
        return Err(HostError::Password("empty".into()));
    }
    // PKCS#12 derives its keys from the password as a BMPString (RFC 7292
    // appendix B.1): a character beyond U+FFFF cannot be carried.
    if let Some(c) = password.chars().find(|c| u32::from(*c) > 0xFFFF) {
        return Err(HostError::Password(format!(
            "it holds U+{:04X}, a character outside the Basic Multilingual Plane, which a PFX password cannot carry (RFC 7292 B.1)",
            u32::from(c)
        )));
    }
    Ok(())
}

/// `raconn issue`: drives the core's transaction to a certificate and writes the PFX.
pub fn issue(cfg: &Config, profile_name: &str, a: &IssueArgs) -> Result<IssueOutcome, HostError> {
    issuance::check_request_id(&a.request_id).map_err(core)?;
    let p = profile(cfg, profile_name)?;
    check_password(&a.password)?;
    check_output(&a.out)?;
    let (mut ov, mut nv) = (Vec::new(), Vec::new());
    let order = order_of(p, a, &mut ov, &mut nv)?;
    let journal = Journal::open(&cfg.journal)?;
    let _lock = journal.lock(&a.request_id)?;
    let v0 = journal::v0_request_digest(
        p,
        &a.cn,
        a.email.as_deref(),
        a.upn.as_deref(),
        &a.other_names,
    );
    let stored = journal.record(&order, &v0)?;
    let mut records = JournalRecords {
        journal: &journal,
        id: &a.request_id,
    };
    let check = |k: &SoftKey, stand_in: &[u8]| check_pfx(k, stand_in, a, p);
    let mut ca = None;
    let done = match drive(
        cfg,
        p,
        order,
        stored.as_deref(),
        cfg.poll,
        &mut records,
        &mut ca,
        &check,
    )? {
        Driven::Issued(d) => d,
        Driven::Failed { error, .. } => return Err(core(error)),
    };
    let der = pfx_bytes(
        &done.key_pkcs8,
        &done.certificate,
        &done.chain,
        &a.password,
        p.pfx,
        p.pfx_iterations,
        &a.cn,
    )?;
    write_pfx(&a.out, &der)?;
    if !cfg.keep_device_keys {
        journal.delete_key(Journal::key_reference(&a.request_id).as_bytes())?;
    }
    outcome(a, &done)
}

/// The error when the issued certificate could not be saved: it names the
/// serial, and a rerun finds the certificate by search.
fn not_saved(cert: Option<&[u8]>, e: HostError) -> HostError {
    let serial = cert
        .and_then(|c| CertificateRef::parse(c).ok())
        .map(|c| {
            let mut s = String::new();
            let _ = raconn_core::cert::write_serial(&mut s, c.serial);
            s
        })
        .unwrap_or_default();
    HostError::IssuedNotSaved {
        serial,
        err: Box::new(e),
    }
}
