//! Issuance workers: claim a due request ([`super::db::Db::claim`]), keep
//! its lease alive, drive the core's transaction from the row's record
//! ([`crate::issue::drive`] — the same driver as `raconn issue`, so a
//! resumed request reuses its key, body and clientTransactionID, and
//! searches the CA first after a lost reply), and write the outcome:
//! `issued` with the PFX, a retry after a back-off with jitter, a poll of a
//! request the CA holds for approval (`pending_ca`, on a schedule, not a
//! parked thread), or `failed`. The blocking transaction runs on tokio's
//! blocking pool; its database writes go through the runtime's handle.

use std::sync::Arc;

use raconn_core::error::Explain;
use raconn_core::inf::KeyKind;
use raconn_core::pkiws::revoke::{Reason, Serial};
use raconn_core::pkiws::{PkiwsError, Service};
use tokio::runtime::Handle;
use zeroize::Zeroizing;

use super::db::{IssuedRow, Job};
use super::eventlog;
use super::{now_ms, App, LastError, Params};
use crate::errors::{core, HostError, ServiceError};
use crate::issue::{self, CertMeta, Driven, IssueArgs, Records};
use crate::keys::SoftKey;

/// One worker: claims and runs requests until `app` stops.
pub async fn run(app: Arc<App>, n: usize) {
    let owner = format!("{}/w{n}", app.instance);
    loop {
        if app.stopping() {
            return;
        }
        let now = now_ms();
        let lease = i64::from(app.cfg().service.lease_s) * 1000;
        match app.db.claim(now, &owner, now + lease).await {
            Ok(Some(job)) => {
                if job.claimed_from.as_deref() == Some("working") {
                    app.metrics.lease_expired.inc();
                    tracing::warn!(event_id = eventlog::PKCS_TAKEN_OVER, request_id = %job.request_id, "taking over a request whose worker's lease expired; resuming from its record");
                }
                let hb = tokio::spawn(heartbeat(
                    app.clone(),
                    job.request_id.clone(),
                    owner.clone(),
                ));
                let (a, o) = (app.clone(), owner.clone());
                let rt = Handle::current();
                let id = job.request_id.clone();
                let r = tokio::task::spawn_blocking(move || process(&a, &o, job, &rt)).await;
                hb.abort();
                if let Err(e) = r {
                    tracing::error!(request_id = %id, "worker task ended abnormally: {e}");
                }
            }
            Ok(None) => app.idle().await,
            Err(e) => {
                tracing::error!("{e}");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

async fn heartbeat(app: Arc<App>, id: String, owner: String) {
    loop {
        let lease = i64::from(app.cfg().service.lease_s) * 1000;
        tokio::time::sleep(std::time::Duration::from_millis(
            (lease / 3).max(1000) as u64
        ))
        .await;
        if let Err(e) = app.db.heartbeat(&id, &owner, now_ms() + lease).await {
            tracing::warn!(request_id = %id, "{e}");
            return;
        }
    }
}

/// The row as the transaction's [`Records`].
struct RowRecords<'a> {
    app: &'a App,
    owner: &'a str,
    id: &'a str,
    profile: &'a str,
    rt: &'a Handle,
    key_sealed: Option<Vec<u8>>,
    /// `key_sealed` is new and not in the row yet.
    key_unsaved: bool,
    /// The `Issued` record, held for the statement that stores the PFX.
    held_issued: &'a mut Option<Vec<u8>>,
}

/// Each record is one fsync'd statement, and on SQLite every worker waits
/// for the one connection, so the commits per request set the service's
/// rate there. Two are saved by holding them for the next statement, which
/// keeps every promise the records make: a new device key and its
/// `KeyMade` record are written with the next record (`Sent`, or `Failed`
/// when the CA refuses first) — before the enrollment that uses the key
/// leaves. A crash before that loses a key nothing was sent with; the
/// next attempt makes another. And the `Issued` record is written with the
/// PFX in the statement that marks the row issued ([`issue_job`]), or on
/// its own when anything fails first; a crash before that leaves `Sent`,
/// from which the next attempt finds the certificate at the CA by the
/// core's lost-reply search — it enrolls nothing again.
impl Records for RowRecords<'_> {
    fn save(
        &mut self,
        state: raconn_core::issuance::RecordState,
        record: &[u8],
    ) -> Result<(), HostError> {
        use raconn_core::issuance::RecordState;
        if state == RecordState::KeyMade && self.key_unsaved {
            return Ok(());
        }
        if state == RecordState::Issued && !self.key_unsaved {
            *self.held_issued = Some(record.to_vec());
            return Ok(());
        }
        let now = now_ms();
        let lease = i64::from(self.app.cfg().service.lease_s) * 1000;
        let key = if self.key_unsaved {
            self.key_sealed.as_deref()
        } else {
            None
        };
        self.rt.block_on(self.app.db.save_record(
            self.id,
            self.owner,
            record,
            key,
            now,
            now + lease,
        ))?;
        self.key_unsaved = false;
        Ok(())
    }
    fn save_key(&mut self, _reference: &[u8], key: &SoftKey) -> Result<(), HostError> {
        self.key_sealed = Some(self.app.kek.seal(self.id, "key", &key.to_pkcs8()?)?);
        self.key_unsaved = true;
        Ok(())
    }
    fn load_key(&mut self, _reference: &[u8]) -> Result<Option<SoftKey>, HostError> {
        match &self.key_sealed {
            None => Ok(None),
            Some(s) => {
                let der = self.app.kek.open(self.id, "key", s)?;
                SoftKey::from_pkcs8(&der).map(Some)
            }
        }
    }
    fn cached_reply(&mut self, service: Service) -> Option<Arc<Vec<u8>>> {
        match service {
            Service::Policy => self.app.policy(self.profile),
            _ => None,
        }
    }
    fn answered(&mut self, service: Service, reply: &[u8]) {
        if service == Service::Policy {
            self.app.keep_policy(self.profile, reply);
        }
    }
    fn ready_key(&mut self, kind: KeyKind) -> Option<SoftKey> {
        self.app.keys.take(kind)
    }
    fn ca_call(&mut self, service: &'static str, secs: f64) {
        self.app
            .metrics
            .ca_call
            .get_or_create(&super::metrics::ServiceLabel {
                service: service.into(),
            })
            .observe(secs);
    }
}

/// Whether a host failure may pass if the same request runs again later:
/// the CA or the network (timeouts, TLS, 5xx), the database, the RA key's
/// store (a token reinserted, an RA certificate renewed), files.
fn host_retryable(e: &HostError) -> bool {
    match e {
        HostError::Ca { kind, .. } => kind.retryable(),
        HostError::Core(c) => c.retryable(),
        HostError::IssuedNotSaved { .. }
        | HostError::Read { .. }
        | HostError::Write { .. }
        | HostError::Tls(_)
        | HostError::Token(_)
        | HostError::ThumbprintNotFound(_)
        | HostError::RaCertNotValid(_)
        | HostError::NoMatchingKey { .. } => true,
        HostError::Service(s) => matches!(s, ServiceError::Database(_)),
        _ => false,
    }
}

/// Back-off before attempt `attempts + 1`: `first_s · 2^attempts`, capped
/// at `max_s`, plus up to 20 % jitter so that instances do not stampede.
pub fn backoff_ms(first_s: u32, max_s: u32, attempts: i64) -> i64 {
    let shift = u32::try_from(attempts.clamp(0, 30)).unwrap_or(30);
    let base = (i64::from(first_s) * 1000)
        .saturating_mul(1i64 << shift)
        .min(i64::from(max_s) * 1000);
    let mut r = [0u8; 4];
    let _ = getrandom::fill(&mut r);
    let jitter = i64::from(u32::from_le_bytes(r)) % (base / 5 + 1);
    base + jitter
}

fn process(app: &App, owner: &str, job: Job, rt: &Handle) {
    let id = job.request_id.clone();
    let span = tracing::info_span!("request", request_id = %id, instance = %app.instance);
    let _g = span.enter();
    let r = if job.state == "issued" {
        revoke(app, owner, &job, rt)
    } else {
        issue_job(app, owner, &job, rt)
    };
    if let Err(e) = r {
        match &e {
            HostError::Service(ServiceError::LeaseLost(_)) => {
                tracing::warn!("{e}");
            }
            _ => tracing::error!("{e}"),
        }
    }
}

fn issue_job(app: &App, owner: &str, job: &Job, rt: &Handle) -> Result<(), HostError> {
    let cfg = app.cfg();
    let mut held_issued: Option<Vec<u8>> = None;
    let outcome = (|| -> Result<(Driven, Zeroizing<String>), HostError> {
        let params: Params = serde_json::from_str(&job.params)
            .map_err(|e| ServiceError::Database(format!("params of {}: {e}", job.request_id)))?;
        let p = issue::profile(&cfg, &job.profile)?;
        let sealed = job.password_sealed.as_deref().ok_or_else(|| {
            ServiceError::Database(format!("{}: no sealed PFX password left", job.request_id))
        })?;
        let pw = app.kek.open(&job.request_id, "password", sealed)?;
        let password = Zeroizing::new(String::from_utf8_lossy(&pw).into_owned());
        let args: IssueArgs = params.issue_args(&job.request_id, &password)?;
        let (mut ov, mut nv) = (Vec::new(), Vec::new());
        let order = issue::order_of(p, &args, &mut ov, &mut nv)?;
        let mut records = RowRecords {
            app,
            owner,
            id: &job.request_id,
            profile: &job.profile,
            rt,
            key_sealed: job.key_sealed.clone(),
            key_unsaved: false,
            held_issued: &mut held_issued,
        };
        let mut ca = app.ca_client(&cfg, p)?;
        let check = |k: &SoftKey, stand_in: &[u8]| {
            issue::check_pfx_with(k, stand_in, &password, p, &args.cn)
        };
        // The service schedules polls itself: the core fails Pending at once.
        let poll = raconn_core::issuance::PollPolicy {
            max_attempts: 0,
            ..cfg.poll
        };
        let d = issue::drive(
            &cfg,
            p,
            order,
            job.record.as_deref(),
            poll,
            &mut records,
            &mut ca,
            &check,
        )?;
        app.keep_ca_client(&p.name, ca);
        Ok((d, password))
    })();
    let now = now_ms();
    let retry = cfg.service.retry;
    let fail = |e: &dyn Explain, detail: String, retryable: bool| -> Result<(), HostError> {
        let attempts = job.attempts + 1;
        let exhausted = retry.max_attempts != 0 && attempts >= i64::from(retry.max_attempts);
        if retryable && !exhausted {
            let at = now + backoff_ms(retry.first_s, retry.max_s, job.attempts);
            app.metrics
                .retries
                .get_or_create(&super::metrics::ReasonLabel {
                    reason: e.code().into(),
                })
                .inc();
            tracing::warn!(
                event_id = eventlog::PKCS_RETRY,
                code = e.code(),
                attempt = attempts,
                "failed, will try again: {detail}"
            );
            return rt.block_on(app.db.reschedule(
                &job.request_id,
                owner,
                "queued",
                at,
                &LastError::of(e, detail, true).json(),
                now,
            ));
        }
        app.metrics.count("issue", "failed");
        let le = if retryable {
            let inner = format!("{}: {detail}", e.code());
            LastError::of(
                &ServiceError::RetriesExhausted(inner.clone()),
                format!("after {attempts} attempts; last: {inner}"),
                false,
            )
        } else {
            LastError::of(e, detail, false)
        };
        tracing::error!(
            event_id = eventlog::PKCS_FAILED,
            code = le.code,
            "failed: {}",
            le.message
        );
        rt.block_on(app.db.failed(&job.request_id, owner, &le.json(), now))
    };
    // A held Issued record is written on its own unless the PFX statement
    // carries it.
    let flush = |held: Option<Vec<u8>>| -> Result<(), HostError> {
        match held {
            None => Ok(()),
            Some(r) => {
                let lease = i64::from(cfg.service.lease_s) * 1000;
                rt.block_on(
                    app.db
                        .save_record(&job.request_id, owner, &r, None, now, now + lease),
                )
            }
        }
    };
    let pending = matches!(
        outcome,
        Ok((
            Driven::Failed {
                error: raconn_core::Error::Pkiws(PkiwsError::Pending),
                ..
            },
            _
        ))
    );
    if !matches!(outcome, Ok((Driven::Issued(_), _))) {
        if !pending {
            // A kept policy may be why it failed (the profile changed at
            // the CA): the next request of the profile asks the CA again.
            app.forget_policy(Some(&job.profile));
        }
        flush(held_issued.take())?;
    }
    match outcome {
        Ok((Driven::Issued(d), password)) => {
            let packed = (|| {
                let p = issue::profile(&cfg, &job.profile)?;
                let params: Params = serde_json::from_str(&job.params)
                    .map_err(|e| ServiceError::Database(format!("params: {e}")))?;
                let pfx = issue::pfx_bytes(
                    &d.key_pkcs8,
                    &d.certificate,
                    &d.chain,
                    &password,
                    p.pfx,
                    p.pfx_iterations,
                    &params.cn,
                )?;
                Ok::<_, HostError>((pfx, CertMeta::of(&d.certificate)?))
            })();
            let (pfx, m) = match packed {
                Ok(x) => x,
                Err(e) => {
                    flush(held_issued.take())?;
                    return Err(e);
                }
            };
            rt.block_on(app.db.issued(
                &job.request_id,
                owner,
                &IssuedRow {
                    pfx: &pfx,
                    record: held_issued.as_deref(),
                    thumbprint: &m.thumbprint,
                    serial: &m.serial,
                    not_after: &m.not_after,
                    subject: &m.subject,
                    client_tx: &d.client_transaction_id,
                    server_tx: &d.server_transaction_id,
                },
                now,
            ))?;
            app.metrics.count("issue", "issued");
            tracing::info!(event_id = eventlog::PKCS_ISSUED, thumbprint = %m.thumbprint, serial = %m.serial, found_by_search = d.found_by_search, "issued");
            Ok(())
        }
        Ok((Driven::Failed { error, retryable }, _)) => {
            if matches!(error, raconn_core::Error::Pkiws(PkiwsError::Pending)) {
                let poll = cfg.poll;
                let n = u32::try_from(job.attempts.clamp(0, 31)).unwrap_or(31);
                let at = now + i64::from(poll.delay(n)).min(i64::from(retry.max_s) * 1000);
                tracing::info!(
                    event_id = eventlog::PKCS_PENDING,
                    "the CA holds the request for approval; polling again later"
                );
                return rt.block_on(app.db.reschedule(
                    &job.request_id,
                    owner,
                    "pending_ca",
                    at,
                    &LastError::of(&error, String::new(), true).json(),
                    now,
                ));
            }
            fail(&error, String::new(), retryable)
        }
        Err(HostError::Service(ServiceError::LeaseLost(d))) => {
            Err(ServiceError::LeaseLost(d).into())
        }
        Err(e) => {
            let retryable = host_retryable(&e);
            fail(&e, e.to_string(), retryable)
        }
    }
}

fn revoke(app: &App, owner: &str, job: &Job, rt: &Handle) -> Result<(), HostError> {
    let cfg = app.cfg();
    let now = now_ms();
    let reason_text = job.revoke_reason.clone().unwrap_or_default();
    let r = (|| -> Result<(), HostError> {
        let reason = Reason::parse(&reason_text).map_err(core)?;
        let serial = Serial::parse_hex(job.serial.as_deref().unwrap_or("")).map_err(core)?;
        let p = issue::profile(&cfg, &job.profile)?;
        let mut ca = app.ca_client(&cfg, p)?;
        if ca.is_none() {
            ca = Some(issue::client_and_ra_cert(&cfg, p)?);
        }
        let Some((c, _)) = ca.as_ref() else {
            return Ok(());
        };
        let t0 = std::time::Instant::now();
        let at = crate::revoke::at_ca(c, &serial, reason, None);
        app.metrics
            .ca_call
            .get_or_create(&super::metrics::ServiceLabel {
                service: "certificate-management".into(),
            })
            .observe(t0.elapsed().as_secs_f64());
        match at? {
            crate::revoke::AtCa::AlreadyRevoked => {
                tracing::info!(
                    event_id = eventlog::REVOKED,
                    "the CA says it is revoked already"
                )
            }
            crate::revoke::AtCa::Revoked { .. } => {
                tracing::info!(event_id = eventlog::REVOKED, reason = %reason_text, "revoked")
            }
        }
        app.keep_ca_client(&p.name, ca);
        let rec = match &job.record {
            Some(b) => {
                crate::revoke::revoked_record(b, reason, u64::try_from(now / 1000).unwrap_or(0))?
            }
            None => None,
        };
        rt.block_on(app.db.revoked(&job.request_id, owner, rec.as_deref(), now))?;
        app.metrics.count("revoke", "revoked");
        Ok(())
    })();
    match r {
        Ok(()) => Ok(()),
        Err(HostError::Service(ServiceError::LeaseLost(d))) => {
            Err(ServiceError::LeaseLost(d).into())
        }
        Err(e) => {
            let retry = cfg.service.retry;
            let attempts = job.attempts + 1;
            let exhausted = retry.max_attempts != 0 && attempts >= i64::from(retry.max_attempts);
            if host_retryable(&e) && !exhausted {
                app.metrics
                    .retries
                    .get_or_create(&super::metrics::ReasonLabel {
                        reason: e.code().into(),
                    })
                    .inc();
                let at = now + backoff_ms(retry.first_s, retry.max_s, job.attempts);
                tracing::warn!(
                    event_id = eventlog::REVOKE_RETRY,
                    code = e.code(),
                    "revocation failed, will try again: {e}"
                );
                return rt.block_on(app.db.reschedule(
                    &job.request_id,
                    owner,
                    "issued",
                    at,
                    &LastError::of(&e, e.to_string(), true).json(),
                    now,
                ));
            }
            app.metrics.count("revoke", "failed");
            tracing::error!(
                event_id = eventlog::REVOKE_FAILED,
                code = e.code(),
                "revocation failed: {e}"
            );
            rt.block_on(app.db.revoke_failed(
                &job.request_id,
                owner,
                &LastError::of(&e, e.to_string(), false).json(),
                now,
            ))
        }
    }
}
