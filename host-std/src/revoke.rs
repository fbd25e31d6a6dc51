//! `raconn revoke`: revoke a certificate at the CA (`certificateManagementService`
//! `updateCertificateStatus`, `protocol.md` §7.1) and record it in the journal.
//!
//! The messages, the serial's normalisation and the record's `Revoked`
//! state are the core's ([`raconn_core::pkiws::revoke`],
//! [`raconn_core::issuance::record`]); this module moves the bytes: it
//! asks the CA first (`searchCertificate` by serial) whether the
//! certificate exists and is already revoked — DigiCert's wording for
//! either answer to a revocation is not public, its search status is —
//! then revokes, then writes `Revoked` (reason, time) over the journal
//! record of every request id that holds that certificate.

use std::fmt;
use std::path::PathBuf;

use raconn_core::cert::CertificateRef;
use raconn_core::issuance::record::{self, RecordState, Revocation};
use raconn_core::pkiws::revoke::{self as rv, Reason, RevokeError, Serial};
use raconn_core::pkiws::search::{self, SearchRequest};
use raconn_core::pkiws::Service;
use serde::Serialize;

use crate::config::Config;
use crate::errors::{core, HostError};
use crate::journal::Journal;
use crate::{files, issue};

/// Which certificate to revoke.
#[derive(Debug, Clone)]
pub enum Target {
    /// By serial number (any pasted form, normalised).
    Serial(Serial),
    /// The certificate issued for this request id (from the journal).
    RequestId(String),
    /// The certificate in this file (PEM, DER or PKCS#7: the first one).
    Cert(PathBuf),
}

/// What to revoke, and how.
#[derive(Debug, Clone)]
pub struct RevokeArgs {
    /// The certificate.
    pub target: Target,
    /// The profile whose CA issued it.
    pub profile: String,
    /// Why.
    pub reason: Reason,
    /// A comment for the CA (≤ 512 characters).
    pub comment: Option<String>,
    /// An already revoked certificate is success, not an error.
    pub if_needed: bool,
}

/// What `raconn revoke` did.
#[derive(Debug, Serialize)]
pub struct RevokeReport {
    /// The serial as sent (upper-case hex, no leading zeros).
    pub serial: String,
    /// The certificate's subject, when raconn had the certificate.
    pub subject: Option<String>,
    /// The reason sent.
    pub reason: String,
    /// False when the certificate was revoked already (`--if-needed`).
    pub revoked_now: bool,
    /// The request ids whose journal records now say `revoked`.
    pub request_ids: Vec<String>,
    /// The CA's serverTransactionID.
    pub server_transaction_id: Option<String>,
    /// The CA's successMsg.
    pub message: Option<String>,
}

impl fmt::Display for RevokeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.revoked_now {
            writeln!(f, "Revoked: serial {} ({})", self.serial, self.reason)?;
        } else {
            writeln!(f, "Already revoked: serial {}", self.serial)?;
        }
        if let Some(s) = &self.subject {
            writeln!(f, "Subject: {s}")?;
        }
        if !self.request_ids.is_empty() {
            writeln!(f, "Journal: {} marked revoked", self.request_ids.join(", "))?;
        }
        if let Some(t) = &self.server_transaction_id {
            writeln!(f, "serverTransactionID: {t}")?;
        }
        if let Some(m) = &self.message {
            writeln!(f, "CA says: {m}")?;
        }
        Ok(())
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The serial (and the certificate, when raconn has it) of the target.
fn resolve(t: &Target, journal: &Journal) -> Result<(Serial, Option<Vec<u8>>), HostError> {
    match t {
        Target::Serial(s) => Ok((*s, None)),
        Target::Cert(p) => {
            let certs = files::certificates_in(p)?;
            let der = certs
                .into_iter()
                .next()
                .ok_or_else(|| HostError::Unrecognised {
                    path: p.clone(),
                    what: "no certificate in the file".into(),
                })?;
            let c = CertificateRef::parse(&der).map_err(core)?;
            let s = Serial::from_bytes(c.serial).map_err(core)?;
            Ok((s, Some(der)))
        }
        Target::RequestId(id) => {
            raconn_core::issuance::check_request_id(id).map_err(core)?;
            let bytes = journal.read(id)?.ok_or_else(|| {
                HostError::NoRecord(format!(
                    "{id}: no journal record (was it issued on this machine, with this journal?)"
                ))
            })?;
            let r = record::decode(&bytes).map_err(core)?;
            if !matches!(r.state, RecordState::Issued | RecordState::Revoked) {
                return Err(HostError::NoRecord(format!(
                    "{id}: the journal says {}, not issued",
                    r.state.as_str()
                )));
            }
            let c = CertificateRef::parse(r.certificate).map_err(core)?;
            let s = Serial::from_bytes(c.serial).map_err(core)?;
            Ok((s, Some(r.certificate.to_vec())))
        }
    }
}

/// Journal ids whose record holds a certificate with `serial` (issued or revoked).
fn records_for(journal: &Journal, serial: &Serial) -> Result<Vec<(String, Vec<u8>)>, HostError> {
    let mut out = Vec::new();
    for id in journal.ids()? {
        let Some(bytes) = journal.read(&id)? else {
            continue;
        };
        let Ok(r) = record::decode(&bytes) else {
            continue;
        };
        if !matches!(r.state, RecordState::Issued | RecordState::Revoked) {
            continue;
        }
        let same = CertificateRef::parse(r.certificate)
            .ok()
            .and_then(|c| Serial::from_bytes(c.serial).ok())
            .is_some_and(|s| s == *serial);
        if same {
            out.push((id, bytes));
        }
    }
    Ok(out)
}

/// Revokes the target; see the module doc.
pub fn revoke(cfg: &Config, a: &RevokeArgs) -> Result<RevokeReport, HostError> {
    let p = issue::profile(cfg, &a.profile)?;
    let journal = Journal::open(&cfg.journal)?;
    let (serial, cert) = resolve(&a.target, &journal)?;
    let subject = cert
        .as_deref()
        .and_then(|d| CertificateRef::parse(d).ok())
        .map(|c| c.subject.to_string());
    let hex = serial.to_hex();
    let records = records_for(&journal, &serial)?;
    let _locks = records
        .iter()
        .map(|(id, _)| journal.lock(id))
        .collect::<Result<Vec<_>, _>>()?;
    let span = tracing::info_span!("revoke", serial = %hex);
    let _g = span.enter();
    let report = |revoked_now: bool, ids: Vec<String>, stx: Option<String>, msg: Option<String>| {
        RevokeReport {
            serial: hex.to_string(),
            subject: subject.clone(),
            reason: a.reason.as_str().to_string(),
            revoked_now,
            request_ids: ids,
            server_transaction_id: stx,
            message: msg,
        }
    };
    let already = |ids: Vec<String>| {
        if a.if_needed {
            Ok(report(false, ids, None, None))
        } else {
            Err(core(RevokeError::AlreadyRevoked))
        }
    };
    // The journal may know already.
    let revoked_ids: Vec<String> = records
        .iter()
        .filter(|(_, b)| record::decode(b).is_ok_and(|r| r.state == RecordState::Revoked))
        .map(|(id, _)| id.clone())
        .collect();
    if !revoked_ids.is_empty() && revoked_ids.len() == records.len() {
        return already(revoked_ids);
    }
    let c = issue::client(cfg, p)?;
    match at_ca(&c, &serial, a.reason, a.comment.as_deref())? {
        AtCa::AlreadyRevoked => {
            let ids = mark(&journal, &records, a.reason, now_secs())?;
            already(ids)
        }
        AtCa::Revoked {
            server_transaction_id,
            message,
        } => {
            let ids = mark(&journal, &records, a.reason, now_secs())?;
            tracing::info!(records = ids.len(), "revoked");
            Ok(report(true, ids, server_transaction_id, message))
        }
    }
}

/// What the CA said to a revocation.
#[derive(Debug, Clone)]
pub enum AtCa {
    /// Its search says the certificate is revoked already.
    AlreadyRevoked,
    /// Revoked now.
    Revoked {
        /// The CA's serverTransactionID.
        server_transaction_id: Option<String>,
        /// Its message.
        message: Option<String>,
    },
}

/// Revokes `serial` at the CA behind `c`: asks first (`searchCertificate`)
/// whether it exists and is revoked already, then sends
/// `updateCertificateStatus`. Used by `raconn revoke` and `raconn serve`.
pub fn at_ca(
    c: &crate::tls::CaClient,
    serial: &Serial,
    reason: Reason,
    comment: Option<&str>,
) -> Result<AtCa, HostError> {
    let hex = serial.to_hex();
    let mut nonce = [0u8; 8];
    let _ = getrandom::fill(&mut nonce);
    let ctid = raconn_core::issuance::one_off_transaction_id(nonce);
    let mut buf = vec![0u8; 4096];
    // Ask the CA what it knows of the serial.
    let body = search::write_request(
        &SearchRequest {
            client_transaction_id: Some(&ctid),
            seat_id: None,
            profile_oid: None,
            common_name: None,
            status: None,
            serial_number: Some(&hex),
            start_index: 0,
        },
        &mut buf,
    )
    .map_err(core)?;
    let (st, reply) = c.post(Service::Management.path(), search::ACTION_SEARCH, body)?;
    match raconn_core::pkiws::reply_text(st, &reply) {
        Ok(text) => {
            let mut found = 0u32;
            let mut revoked = false;
            search::parse_response(text, |info| {
                let same = info
                    .serial
                    .is_some_and(|s| s.raw.trim().eq_ignore_ascii_case(&hex));
                if same {
                    found += 1;
                    revoked |= info
                        .status
                        .is_some_and(|s| s.raw.trim().eq_ignore_ascii_case("REVOKED"));
                }
                Ok(())
            })
            .map_err(core)?;
            if found == 0 {
                return Err(core(RevokeError::NotFound));
            }
            if revoked {
                return Ok(AtCa::AlreadyRevoked);
            }
        }
        // An RA that may not search can still revoke: go on without the check.
        Err(e) => tracing::warn!(
            "the CA did not answer searchCertificate ({e}); revoking without checking first"
        ),
    }
    let body = rv::write_request(Some(&ctid), serial, reason, comment, &mut buf).map_err(core)?;
    tracing::info!(reason = reason.as_str(), "sending the revocation");
    let (st, reply) = c.post(Service::Management.path(), rv::ACTION_REVOKE, body)?;
    let r = rv::read_reply(st, &reply).map_err(core)?;
    Ok(AtCa::Revoked {
        server_transaction_id: r.server_transaction_id.map(|t| t.raw.to_string()),
        message: r.message.map(|t| t.raw.to_string()),
    })
}

/// The record `bytes` rewritten as `Revoked` (reason, time) when it says
/// `Issued`; `None` otherwise.
pub fn revoked_record(bytes: &[u8], reason: Reason, at: u64) -> Result<Option<Vec<u8>>, HostError> {
    let r = record::decode(bytes).map_err(core)?;
    if r.state != RecordState::Issued {
        return Ok(None);
    }
    let rev = r.revoked(Revocation {
        reason: reason.crl_code(),
        at,
    });
    let mut out = vec![0u8; record::encoded_len(&rev)];
    let n = record::encode(&rev, &mut out).map_err(core)?;
    out.truncate(n);
    Ok(Some(out))
}

/// Writes `Revoked` over each issued record; returns every id now revoked.
fn mark(
    journal: &Journal,
    records: &[(String, Vec<u8>)],
    reason: Reason,
    at: u64,
) -> Result<Vec<String>, HostError> {
    let mut ids = Vec::new();
    for (id, bytes) in records {
        if let Some(out) = revoked_record(bytes, reason, at)? {
            journal.save(id, &out)?;
        }
        ids.push(id.clone());
    }
    Ok(ids)
}
