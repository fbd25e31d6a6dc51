//! `raconn policy` and `raconn issue`: the whole flow through the core's
//! engine over mutual TLS — policy, pre-send check, device key, CSR,
//! enrollment, checking the returned certificate, PFX — with a journal that
//! makes a request id idempotent: the same id returns the same certificate
//! without contacting the CA, a different request under an existing id is
//! refused, and a crash between "key made" and "certificate stored" retries
//! with the same key and clientTransactionID.
//!
//! Journal: `<journal>/<request-id>.json` and `<request-id>.key.p8` (`journal` in raconn.toml; by default `<store>/journal` for a directory store)
//! (PKCS#8, 0600), written atomically.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use raconn_core::cert::CertificateRef;
use raconn_core::engine::{Buffers, Engine, IssueRequest, Issued, KeyRequirements};
use raconn_core::inf::{HashAlgorithm, KeyAlgorithm};
use raconn_core::oid::Oid;
use raconn_core::profile::{Identity, SanKindSel};
use raconn_core::thumbprint::Thumbprint;
use serde_json::{json, Value};
use sha2::Digest;

use crate::config::{Config, KeyChoice, PfxProfile, Profile};
use crate::errors::{core, HostError};
use crate::files;
use crate::keys::SoftKey;
use crate::store::{self, RaKey};
use crate::tls::CaClient;
use std::sync::Arc;

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
}

/// What `issue` did.
#[derive(Debug, Clone)]
pub struct IssueOutcome {
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
}

fn b64(d: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(d)
}

fn unb64(s: &str) -> Result<Vec<u8>, HostError> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| HostError::KeyEncoding(format!("journal entry is corrupt: {e}")))
}

fn check_request_id(id: &str) -> Result<(), HostError> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(HostError::Unrecognised {
            path: PathBuf::from(id),
            what: "a request id is 1 to 64 characters of A-Z a-z 0-9 . _ -".into(),
        });
    }
    Ok(())
}

/// The RA certificate (DER) and its key, from the configured store.
pub fn ra_identity(cfg: &Config) -> Result<(Vec<u8>, Arc<dyn RaKey>), HostError> {
    let (cert, key) = store::open(&cfg.store)?.identity(&cfg.ra_thumbprint)?;
    Ok((cert.der, key))
}

/// A CA client for a profile.
pub fn client(cfg: &Config, p: &Profile) -> Result<CaClient, HostError> {
    let (cert, key) = ra_identity(cfg)?;
    CaClient::new(
        &p.host,
        p.port,
        &cert,
        key,
        cfg.ca_trust.as_deref(),
        cfg.ca_timeout_ms,
    )
}

/// The profile by name.
pub fn profile<'c>(cfg: &'c Config, name: &str) -> Result<&'c Profile, HostError> {
    cfg.profiles
        .get(name)
        .ok_or_else(|| HostError::NoProfile(name.to_string()))
}

/// `raconn policy`: fetch and decode the profile's policy.
pub fn policy(cfg: &Config, name: &str) -> Result<(String, Value), HostError> {
    let p = profile(cfg, name)?;
    let c = client(cfg, p)?;
    let mut buf = vec![0u8; 4096];
    let tx = format!("raconn-pol-{:016x}", rand_u64());
    let body = raconn_core::pkiws::policy::write_request(Some(&tx), &[&p.template], &mut buf)
        .map_err(core)?;
    let (status, reply) = c.post(
        raconn_core::pkiws::PATH_POLICY,
        raconn_core::pkiws::ACTION_POLICY,
        body,
    )?;
    let text = raconn_core::pkiws::reply_text(status, &reply).map_err(core)?;
    crate::soap::message(text)
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}

fn fingerprint(p: &Profile, a: &IssueArgs) -> String {
    let v = json!({
        "template": p.template, "format": p.subject_format.as_str(),
        "san": p.san.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>(),
        "cn": a.cn, "email": a.email, "upn": a.upn,
        "other": a.other_names.iter().map(|(o, v)| format!("{o}={v}")).collect::<Vec<_>>(),
    });
    let d = sha2::Sha256::digest(v.to_string().as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes a PFX of key + certificate + chain.
pub fn write_pfx(
    out: &Path,
    key_pkcs8: &[u8],
    cert: &[u8],
    chain: &[Vec<u8>],
    password: &str,
    profile: PfxProfile,
    alias: &str,
) -> Result<(), HostError> {
    use p12_keystore::{
        Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
        PrivateKeyChain,
    };
    if password.is_empty() {
        return Err(HostError::Password("empty".into()));
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
    ks.add_entry(alias, KeyStoreEntry::PrivateKeyChain(chain));
    let w = ks.writer(password);
    let w = match profile {
        PfxProfile::Modern => w
            .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
            .mac_algorithm(MacAlgorithm::HmacSha256),
        PfxProfile::Legacy => w
            .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
            .mac_algorithm(MacAlgorithm::HmacSha1),
    };
    let der = w.write().map_err(pfx_err)?;
    files::write_atomic(out, &der, 0o600)
}

fn outcome(
    cert: &[u8],
    from_journal: bool,
    tx: &str,
    stx: &str,
    warnings: Vec<String>,
) -> Result<IssueOutcome, HostError> {
    let c = CertificateRef::parse(cert).map_err(core)?;
    let mut serial = String::new();
    let _ = raconn_core::cert::write_serial(&mut serial, c.serial);
    Ok(IssueOutcome {
        thumbprint: Thumbprint::of(cert).to_string(),
        serial,
        not_after: c.not_after.to_string(),
        subject: c.subject.to_string(),
        from_journal,
        client_transaction_id: tx.to_string(),
        server_transaction_id: stx.to_string(),
        warnings,
    })
}

/// `raconn issue`.
pub fn issue(cfg: &Config, profile_name: &str, a: &IssueArgs) -> Result<IssueOutcome, HostError> {
    check_request_id(&a.request_id)?;
    let p = profile(cfg, profile_name)?;
    let jdir = cfg.journal.clone();
    std::fs::create_dir_all(&jdir).map_err(|err| HostError::Write {
        path: jdir.clone(),
        err,
    })?;
    let jpath = jdir.join(format!("{}.json", a.request_id));
    let kpath = jdir.join(format!("{}.key.p8", a.request_id));
    let fp = fingerprint(p, a);
    let tx_default = {
        let d = sha2::Sha256::digest(a.request_id.as_bytes());
        format!(
            "raconn-{}",
            d.iter()
                .take(12)
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    };
    let mut existing_key: Option<SoftKey> = None;
    let mut tx = tx_default;
    // Every log line of this issuance carries the request id and the clientTransactionID.
    let span = tracing::info_span!("issue", request_id = %a.request_id, client_transaction_id = tracing::field::Empty);
    if jpath.exists() {
        let j: Value = serde_json::from_slice(&files::read(&jpath)?)
            .map_err(|e| HostError::KeyEncoding(e.to_string()))?;
        if j["fingerprint"].as_str() != Some(fp.as_str()) {
            return Err(HostError::RequestIdConflict(a.request_id.clone()));
        }
        tx = j["client_transaction_id"]
            .as_str()
            .unwrap_or(&tx)
            .to_string();
        let key_der = zeroize::Zeroizing::new(files::read(&kpath)?);
        if j["state"] == "issued" {
            let cert = unb64(j["certificate"].as_str().unwrap_or(""))?;
            let chain: Vec<Vec<u8>> = j["chain"]
                .as_array()
                .map(|v| {
                    v.iter()
                        .filter_map(|c| c.as_str().and_then(|s| unb64(s).ok()))
                        .collect()
                })
                .unwrap_or_default();
            write_pfx(&a.out, &key_der, &cert, &chain, &a.password, p.pfx, &a.cn)?;
            let stx = j["server_transaction_id"]
                .as_str()
                .unwrap_or("")
                .to_string();
            return outcome(&cert, true, &tx, &stx, vec![]);
        }
        existing_key = Some(SoftKey::from_pkcs8(&key_der)?);
        tracing::info!(
            "resuming: the device key and clientTransactionID of the earlier attempt are reused"
        );
    }
    span.record("client_transaction_id", tx.as_str());
    let _g = span.enter();
    // Every other-name the profile asks for must be given.
    let mut other_values: Vec<&str> = Vec::new();
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
    let overrides: Vec<(&str, &str)> = p
        .names
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let req = IssueRequest {
        profile_oid: &p.template,
        subject_format: p.subject_format,
        san: &p.san,
        other_names: &other_values,
        overrides: &overrides,
        identity: Identity {
            cn: &a.cn,
            email: a.email.as_deref(),
            upn: a.upn.as_deref(),
        },
        seat_id: None,
        client_transaction_id: &tx,
    };
    let (mut rq, mut wk, mut tk) = (vec![0u8; 32768], vec![0u8; 32768], vec![0u8; 65536]);
    let mut e = Engine::new(
        req,
        Buffers {
            request: &mut rq,
            work: &mut wk,
            token: &mut tk,
        },
    )
    .map_err(core)?;
    let warnings: Vec<String> = e.warnings().iter().map(|w| w.to_string()).collect();
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let c = client(cfg, p)?;
    let r = e.policy_request().map_err(core)?;
    tracing::info!(host = %p.host, port = p.port, profile = %p.template, "fetching the policy");
    let (st, body) = c.post(r.path, r.soap_action, r.body)?;
    let kr = e.on_policy_reply(st, &body).map_err(core)?;
    let names: Vec<&str> = e.pairs().map(|(n, _)| n).collect();
    tracing::info!(key_size = ?kr.key_size, pairs = ?names, "policy read; the request fits the profile");
    let key = match existing_key {
        Some(k) => k,
        None => {
            let k = SoftKey::generate(key_algorithm(p.key, &kr), HashAlgorithm::Sha256)?;
            tracing::info!(key = %k.describe(), "device key generated");
            files::write_atomic(&kpath, &k.to_pkcs8()?, 0o600)?;
            let j = json!({"request_id": a.request_id, "fingerprint": fp, "client_transaction_id": tx, "state": "keyed", "profile": p.name});
            files::write_atomic(&jpath, j.to_string().as_bytes(), 0o600)?;
            k
        }
    };
    let r = e.enroll_request(&key).map_err(core)?;
    tracing::info!("enrollment sent");
    let (mut st, mut body) = c.post(r.path, r.soap_action, r.body)?;
    let mut polls = 0;
    let (cert, chain, stx) = loop {
        let res = match e.on_enroll_reply(st, &body).map_err(core)? {
            Issued::Certificate {
                certificate,
                chain,
                server_transaction_id,
            } => Some((
                certificate.to_vec(),
                chain.iter().map(|c| c.to_vec()).collect::<Vec<_>>(),
                server_transaction_id.to_string(),
            )),
            Issued::Pending { .. } => None,
        };
        if let Some(r) = res {
            break r;
        }
        polls += 1;
        tracing::info!(poll = polls, "pending approval; polling");
        if polls > 3 {
            return Err(core(raconn_core::pkiws::PkiwsError::Pending));
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        let r = e.poll_request().map_err(core)?;
        (st, body) = c.post(r.path, r.soap_action, r.body)?;
    };
    let j = json!({
        "request_id": a.request_id, "fingerprint": fp, "client_transaction_id": tx, "state": "issued", "profile": p.name,
        "server_transaction_id": stx, "certificate": b64(&cert), "chain": chain.iter().map(|c| b64(c)).collect::<Vec<_>>(),
    });
    files::write_atomic(&jpath, j.to_string().as_bytes(), 0o600)?;
    write_pfx(
        &a.out,
        &key.to_pkcs8()?,
        &cert,
        &chain,
        &a.password,
        p.pfx,
        &a.cn,
    )?;
    outcome(&cert, false, &tx, &stx, warnings)
}

fn key_algorithm(choice: KeyChoice, kr: &KeyRequirements) -> KeyAlgorithm {
    match choice {
        KeyChoice::Rsa2048 => KeyAlgorithm::Rsa(2048),
        KeyChoice::Rsa3072 => KeyAlgorithm::Rsa(3072),
        KeyChoice::P256 => KeyAlgorithm::EcdsaP256,
        KeyChoice::Policy => match kr.key_size {
            Some(b @ (2048 | 3072 | 4096)) if kr.rsa => KeyAlgorithm::Rsa(b),
            _ if !kr.rsa => KeyAlgorithm::EcdsaP256,
            _ => KeyAlgorithm::Rsa(2048),
        },
    }
}
