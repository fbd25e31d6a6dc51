//! The appliance's issuance: the core's engine driven over embedded-tls,
//! one TLS connection per SOAP call (as the reference connector does), with
//! the flash journal making a request id idempotent and power-cut safe:
//!
//! ```text
//! journal[id] = Issued   → return the stored certificate (CA not contacted)
//! (none)                 → device key generated in its slot → KeyMade
//! KeyMade | Sent         → same slot, same clientTransactionID (no new key)
//! policy → pre-send check → CSR signed in the slot → Sent → enroll
//! certificate checked by the engine → Issued (certificate stored)
//! ```
//! A reset between any two steps resumes from the last record: the retry
//! sends the same key and clientTransactionID, so the CA can recognise it.

use embedded_io_async::{Read, Write};
use embedded_storage_async::nor_flash::NorFlash;
use embedded_tls::{TlsConfig, TlsConnection, TlsContext, TlsError};
use raconn_core::engine::{Buffers, Engine, IssueRequest, Issued, Request};
use raconn_core::pkiws::http::{self, BodyLength};
use raconn_core::profile::{Identity, SanKindSel, SubjectFormat};
use sha2::Digest;

use crate::error::{core, EmbeddedError};
use crate::hsm::{Hsm, KeySpec, SlotKey};
use crate::store::{Journal, JournalState, Store};
use crate::tls::Provider;
use crate::verify::ServerVerifier;

/// Opens a new transport connection to the CA (TCP or whatever the part has).
#[allow(async_fn_in_trait)]
pub trait Connect {
    /// The stream.
    type Socket: Read + Write;
    /// Connects to `host:port`.
    async fn connect(&mut self, host: &str, port: u16) -> Result<Self::Socket, EmbeddedError>;
}

/// What to issue.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    /// The request id (idempotency key).
    pub request_id: &'a str,
    /// Subject format of the profile.
    pub subject_format: SubjectFormat,
    /// SAN kinds of the profile.
    pub san: &'a [SanKindSel],
    /// Other-name values, in the order of `san`'s other-names.
    pub other_names: &'a [&'a str],
    /// The identity to certify.
    pub identity: Identity<'a>,
}

/// Caller buffers for one issuance.
pub struct Work<'b> {
    /// TLS record read buffer (16 640 bytes takes any record).
    pub tls_read: &'b mut [u8],
    /// TLS record write buffer (4 096 is plenty for SOAP requests).
    pub tls_write: &'b mut [u8],
    /// The HTTP reply (head + body).
    pub reply: &'b mut [u8],
    /// Engine buffers.
    pub request: &'b mut [u8],
    /// Engine work buffer.
    pub work: &'b mut [u8],
    /// Engine token buffer (the issued PKCS#7).
    pub token: &'b mut [u8],
    /// Flash scratch for the configuration. Every flash scratch must hold the
    /// largest record in the store (sequential-storage reads items whole):
    /// 2.5 KB without a cached policy, about 6 KB with one.
    pub cfg: &'b mut [u8],
    /// Flash scratch.
    pub ra: &'b mut [u8],
    /// Flash scratch.
    pub anchor: &'b mut [u8],
    /// Flash scratch for the journal.
    pub journal: &'b mut [u8],
}

impl Work<'_> {
    /// The same buffers for another call.
    pub fn reborrow(&mut self) -> Work<'_> {
        Work {
            tls_read: self.tls_read,
            tls_write: self.tls_write,
            reply: self.reply,
            request: self.request,
            work: self.work,
            token: self.token,
            cfg: self.cfg,
            ra: self.ra,
            anchor: self.anchor,
            journal: self.journal,
        }
    }
}

/// How the certificate was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Source {
    /// Issued by the CA in this run.
    Issued,
    /// From the journal: the CA was not contacted.
    Journal,
}

/// The result: the certificate is copied into the caller's `out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Length of the certificate in `out`.
    pub len: usize,
    /// Where it came from.
    pub source: Source,
    /// Whether the server's validity periods were checked (a clock was given).
    pub expiry_checked: bool,
}

/// Test hook: where to stop, to simulate a reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Run to the end.
    Never,
    /// Stop right after the reply to the enrollment arrived, before storing it.
    AfterEnrollReply,
}

fn tx_for(request_id: &str) -> heapless::String<40> {
    let d = sha2::Sha256::digest(request_id.as_bytes());
    let mut s = heapless::String::new();
    let _ = s.push_str("raconn-");
    for b in d.iter().take(12) {
        let _ = core::fmt::Write::write_fmt(&mut s, format_args!("{b:02x}"));
    }
    s
}

fn fingerprint(profile_oid: &str, job: &Job<'_>) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u32).to_be_bytes());
        h.update(b);
    };
    field(profile_oid.as_bytes());
    field(job.subject_format.as_str().as_bytes());
    for s in job.san {
        field(&[match s {
            SanKindSel::Email => 1,
            SanKindSel::Upn => 2,
            SanKindSel::OtherName(_) => 3,
        }]);
        if let SanKindSel::OtherName(o) = s {
            field(o.as_bytes());
        }
    }
    for o in job.other_names {
        field(o.as_bytes());
    }
    field(job.identity.cn.as_bytes());
    field(job.identity.email.unwrap_or("").as_bytes());
    field(job.identity.upn.unwrap_or("").as_bytes());
    h.finalize().into()
}

fn io_err(e: TlsError) -> EmbeddedError {
    match e {
        TlsError::Io(_) | TlsError::ConnectionClosed => EmbeddedError::Io,
        _ => EmbeddedError::TlsHandshake,
    }
}

/// The core's engine for `job` under `profile_oid`, in the caller's buffers.
fn engine<'a, 'b>(
    profile_oid: &'a str,
    job: &Job<'a>,
    tx: &'a str,
    request: &'b mut [u8],
    work: &'b mut [u8],
    token: &'b mut [u8],
) -> Result<Engine<'a, 'b>, EmbeddedError> {
    let req = IssueRequest {
        profile_oid,
        subject_format: job.subject_format,
        san: job.san,
        other_names: job.other_names,
        overrides: &[],
        identity: job.identity,
        seat_id: None,
        client_transaction_id: tx,
    };
    Ok(Engine::new(
        req,
        Buffers {
            request,
            work,
            token,
        },
    )?)
}

/// The CA as the appliance reaches it: a connector, the RA key slot and
/// certificate, the trust anchor, the host name and the clock.
pub struct CaLink<'a, C: Connect, H: Hsm + ?Sized> {
    /// Opens connections.
    pub conn: &'a mut C,
    /// The HSM holding the RA key.
    pub hsm: &'a H,
    /// RA key slot.
    pub ra_slot: u8,
    /// RA certificate (DER).
    pub ra_cert: &'a [u8],
    /// Trust anchor for the CA's server certificate (DER).
    pub anchor: &'a [u8],
    /// CA host name.
    pub host: &'a str,
    /// CA port.
    pub port: u16,
    /// Unix seconds, when the appliance has a trustworthy clock.
    pub now: Option<i64>,
}

impl<C: Connect, H: Hsm + ?Sized> CaLink<'_, C, H> {
    /// One SOAP POST over a new TLS connection. Returns the status, the body
    /// range in `reply`, and whether validity periods were checked.
    pub async fn post(
        &mut self,
        req: &Request<'_>,
        tls_read: &mut [u8],
        tls_write: &mut [u8],
        reply: &mut [u8],
    ) -> Result<(u16, core::ops::Range<usize>, bool), EmbeddedError> {
        let (host, port) = (self.host, self.port);
        let socket = self.conn.connect(host, port).await?;
        let mut provider = Provider::new(
            self.hsm,
            self.ra_slot,
            self.ra_cert,
            ServerVerifier::new(self.anchor, host, self.now),
        )?;
        let config = TlsConfig::new()
            .enable_rsa_signatures()
            .with_server_name(host);
        let mut tls: TlsConnection<'_, _, embedded_tls::Aes128GcmSha256> =
            TlsConnection::new(socket, tls_read, tls_write);
        if let Err(e) = tls.open(TlsContext::new(&config, &mut provider)).await {
            // The verifier knows the exact reason a certificate was refused.
            return Err(provider.server_verifier().failure().unwrap_or(io_err(e)));
        }
        let expiry_checked = provider.server_verifier().expiry_checked();
        let mut head = [0u8; 512];
        let h = http::write_head(
            host,
            port,
            req.path,
            req.soap_action,
            req.body.len(),
            "raconn-embedded/0.1",
            &mut head,
        )
        .map_err(core)?;
        tls.write_all(h).await.map_err(io_err)?;
        tls.write_all(req.body.as_bytes()).await.map_err(io_err)?;
        tls.flush().await.map_err(io_err)?;
        let mut got = 0;
        let mut parsed = None;
        loop {
            let closed = match tls.read(reply.get_mut(got..).unwrap_or(&mut [])).await {
                Ok(0) | Err(TlsError::ConnectionClosed) => true,
                Ok(n) => {
                    got += n;
                    false
                }
                Err(e) => return Err(io_err(e)),
            };
            if parsed.is_none() {
                parsed = http::parse_head(reply.get(..got).unwrap_or(&[])).map_err(core)?;
            }
            if let Some(hd) = parsed {
                match hd.body {
                    BodyLength::Length(n) if got >= hd.len + n => {
                        return Ok((hd.status, hd.len..hd.len + n, expiry_checked))
                    }
                    BodyLength::Chunked => {
                        if let Some(n) =
                            http::dechunk(reply.get_mut(hd.len..got).unwrap_or(&mut []))
                                .map_err(core)?
                        {
                            return Ok((hd.status, hd.len..hd.len + n, expiry_checked));
                        }
                    }
                    BodyLength::UntilClose if closed => {
                        return Ok((hd.status, hd.len..got, expiry_checked))
                    }
                    _ => {}
                }
            }
            if got >= reply.len() {
                return Err(EmbeddedError::BufferTooSmall {
                    needed: reply.len() + 1,
                });
            }
            if closed {
                return Err(core(raconn_core::pkiws::PkiwsError::ConnectionClosed));
            }
        }
    }
}

/// Issues (or returns from the journal) the certificate for `job`,
/// configuration, RA certificate and trust anchor read from `store`.
/// `now`: Unix seconds when the appliance has a trustworthy clock.
#[allow(clippy::too_many_arguments)]
pub async fn issue<C: Connect, H: Hsm, F: NorFlash>(
    conn: &mut C,
    hsm: &mut H,
    store: &mut Store<F>,
    job: &Job<'_>,
    now: Option<i64>,
    w: Work<'_>,
    out: &mut [u8],
    stop: Stop,
) -> Result<Outcome, EmbeddedError> {
    let cfg = store.config(w.cfg).await?;
    let ra_cert = store.ra_cert(w.ra).await?;
    let anchor = store.anchor(w.anchor).await?;
    let fp = fingerprint(cfg.profile_oid, job);
    let mut tx = tx_for(job.request_id);
    // The engine's token buffer is free until the engine starts.
    let slot = match store.journal(job.request_id, &mut *w.token).await? {
        Some(j) if j.fingerprint != fp => return Err(EmbeddedError::RequestIdConflict),
        Some(j) if j.state == JournalState::Issued => {
            crate::log!(
                "raconn: request {=str}: certificate from the journal",
                job.request_id
            );
            let dst = out
                .get_mut(..j.certificate.len())
                .ok_or(EmbeddedError::BufferTooSmall {
                    needed: j.certificate.len(),
                })?;
            dst.copy_from_slice(j.certificate);
            return Ok(Outcome {
                len: j.certificate.len(),
                source: Source::Journal,
                expiry_checked: false,
            });
        }
        Some(j) => {
            crate::log!(
                "raconn: request {=str}: resuming (slot {=u8}, same clientTransactionID)",
                job.request_id,
                j.slot
            );
            tx.clear();
            let _ = tx.push_str(j.tx);
            j.slot
        }
        None => {
            crate::log!(
                "raconn: request {=str}: device key in slot {=u8}",
                job.request_id,
                cfg.device_slot
            );
            hsm.generate(cfg.device_slot, KeySpec::P256)?;
            let rec = Journal {
                state: JournalState::KeyMade,
                slot: cfg.device_slot,
                tx: &tx,
                fingerprint: fp,
                certificate: &[],
            };
            store.set_journal(job.request_id, &rec, w.journal).await?;
            cfg.device_slot
        }
    };
    let hsm: &H = hsm;
    let device = SlotKey::new(hsm, slot)?;
    let mut link = CaLink {
        conn,
        hsm,
        ra_slot: cfg.ra_slot,
        ra_cert,
        anchor,
        host: cfg.host,
        port: cfg.port,
        now,
    };
    let mut e = engine(cfg.profile_oid, job, &tx, w.request, w.work, w.token)?;
    let mut expiry_checked = false;
    {
        let r = e.policy_request()?;
        let (st, body, ec) = link.post(&r, w.tls_read, w.tls_write, w.reply).await?;
        expiry_checked |= ec;
        e.on_policy_reply(st, w.reply.get(body).unwrap_or(&[]))?;
        crate::log!("raconn: policy read and request checked against it");
    }
    // Recorded before the request leaves: a reset from here on retries with
    // the same key (same slot) and clientTransactionID.
    store
        .set_journal(
            job.request_id,
            &Journal {
                state: JournalState::Sent,
                slot,
                tx: &tx,
                fingerprint: fp,
                certificate: &[],
            },
            w.journal,
        )
        .await?;
    let mut issued_len = None;
    for attempt in 0..4 {
        let r = if attempt == 0 {
            e.enroll_request(&device)?
        } else {
            e.poll_request()?
        };
        let (st, body, ec) = link.post(&r, w.tls_read, w.tls_write, w.reply).await?;
        expiry_checked |= ec;
        if stop == Stop::AfterEnrollReply {
            return Err(EmbeddedError::Storage);
        }
        match e.on_enroll_reply(st, w.reply.get(body).unwrap_or(&[]))? {
            Issued::Certificate { certificate, .. } => {
                let n = certificate.len();
                out.get_mut(..n)
                    .ok_or(EmbeddedError::BufferTooSmall { needed: n })?
                    .copy_from_slice(certificate);
                issued_len = Some(n);
                crate::log!(
                    "raconn: request {=str}: issued, {=usize} bytes",
                    job.request_id,
                    n
                );
                break;
            }
            Issued::Pending { .. } => {}
        }
    }
    let n = issued_len.ok_or(EmbeddedError::StillPending)?;
    let cert = out
        .get(..n)
        .ok_or(EmbeddedError::BufferTooSmall { needed: n })?;
    store
        .set_journal(
            job.request_id,
            &Journal {
                state: JournalState::Issued,
                slot,
                tx: &tx,
                fingerprint: fp,
                certificate: cert,
            },
            w.journal,
        )
        .await?;
    Ok(Outcome {
        len: n,
        source: Source::Issued,
        expiry_checked,
    })
}

/// The offline half: configuration and the cached policy reply from flash,
/// the device key generated in its slot, the enrollment request built and
/// signed there — what the appliance can do before it has a network. `emit`
/// receives the request (path, SOAPAction, body).
pub async fn prepare_offline<H: Hsm, F: NorFlash, R>(
    hsm: &mut H,
    store: &mut Store<F>,
    job: &Job<'_>,
    w: Work<'_>,
    emit: impl FnOnce(&Request<'_>) -> R,
) -> Result<R, EmbeddedError> {
    let cfg = store.config(w.cfg).await?;
    let policy = store.policy(w.reply).await?;
    hsm.generate(cfg.device_slot, KeySpec::P256)?;
    let hsm: &H = hsm;
    let device = SlotKey::new(hsm, cfg.device_slot)?;
    let tx = tx_for(job.request_id);
    let mut e = engine(cfg.profile_oid, job, &tx, w.request, w.work, w.token)?;
    e.policy_request()?;
    e.on_policy_reply(200, policy)?;
    let r = e.enroll_request(&device)?;
    Ok(emit(&r))
}
