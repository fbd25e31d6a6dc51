//! The appliance's issuance: the host's half of the core's issuance
//! transaction ([`raconn_core::issuance`]) over embedded-tls, one TLS
//! connection per SOAP call (as the reference connector does). The core
//! decides every step and every record; this module moves bytes, keeps the
//! records in the flash journal ([`crate::store`]) and the device key in an
//! HSM slot (the record's key reference is the slot number).
//!
//! A reset between any two steps resumes from the last record: the same
//! slot, the same clientTransactionID; after a lost reply the CA is asked
//! (searchCertificate) before the identical enrollment is sent again; a
//! request pending approval is polled, not sent again.

use embedded_io_async::{Read, Write};
use embedded_storage_async::nor_flash::NorFlash;
use embedded_tls::{MaxFragmentLength, TlsConfig, TlsConnection, TlsContext, TlsError};
use raconn_core::engine::Request;
use raconn_core::http::{Progress, ReplyReader};
use raconn_core::issuance::{self, Buffers, KeyChoice, Order, PollPolicy, Step, Transaction};
use raconn_core::profile::{Identity, SanKindSel, SubjectFormat};
use raconn_core::spki::KeyKind;

use crate::error::{core, EmbeddedError};
use crate::hsm::{Hsm, HsmError, SlotKey};
use crate::store::Store;
use crate::tls::Provider;
use crate::verify::ServerVerifier;

/// Opens a new transport connection to the CA (TCP or whatever the part
/// has), and waits (the part's timer).
#[allow(async_fn_in_trait)]
pub trait Connect {
    /// The stream.
    type Socket: Read + Write;
    /// Connects to `host:port`.
    async fn connect(&mut self, host: &str, port: u16) -> Result<Self::Socket, EmbeddedError>;
    /// Waits `ms` milliseconds (between polls of a request pending approval).
    async fn wait(&mut self, ms: u32);
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
    /// The device key (the HSM seam makes P-256 keys, and RSA-2048 where the part has it).
    pub key: KeyChoice,
    /// Refuse values that would only be warned about (see the core's `profile::check_value`).
    pub strict: bool,
}

impl<'a> Job<'a> {
    /// The core's order for this job under `profile_oid`.
    pub fn order(&self, profile_oid: &'a str) -> Order<'a> {
        Order {
            request_id: self.request_id,
            profile_oid,
            subject_format: self.subject_format,
            san: self.san,
            other_names: self.other_names,
            overrides: &[],
            identity: self.identity,
            seat_id: None,
            key: self.key,
            strict: self.strict,
            sid: None,
            sid_placement: None,
        }
    }
}

/// Caller buffers for one issuance.
///
/// Between connections `tls_read` is also the flash scratch: the store
/// reads the configuration, RA certificate, trust anchor and journal
/// through it and writes the journal with it, never while a TLS connection
/// is open. Like every flash scratch it must hold the largest item in the
/// store (sequential-storage reads items whole): about 6 KB with a cached
/// policy, far below the 16 640 a TLS record needs.
pub struct Work<'b> {
    /// TLS record read buffer (16 640 bytes takes any record); the flash
    /// scratch between connections.
    pub tls_read: &'b mut [u8],
    /// TLS record write buffer: the RA certificate's length + 256
    /// ([`tls_write_needed`]); requests are cut into records of its size.
    pub tls_write: &'b mut [u8],
    /// The HTTP reply (head + body); its size is the largest reply accepted.
    pub reply: &'b mut [u8],
    /// Requests to send.
    pub request: &'b mut [u8],
    /// The engine's working storage.
    pub work: &'b mut [u8],
    /// The decoded token (the issued PKCS#7).
    pub token: &'b mut [u8],
    /// The transaction's record (the largest, `Issued` with its chain, is
    /// about 2 KB for a P-256 certificate under a two-certificate chain).
    pub record: &'b mut [u8],
    /// The configuration, kept for the issuance
    /// ([`crate::store::CONFIG_MAX`] bytes hold any).
    pub cfg: &'b mut [u8],
    /// The RA certificate, kept for the issuance (its DER length; a larger
    /// one is refused naming the bytes needed).
    pub ra: &'b mut [u8],
    /// The trust anchor, kept for the issuance (its DER length).
    pub anchor: &'b mut [u8],
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
            record: self.record,
            cfg: self.cfg,
            ra: self.ra,
            anchor: self.anchor,
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
    /// A lost enrollment found at the CA by searchCertificate.
    Search,
}

/// The result. The certificate (DER) is in the caller's `reply` buffer,
/// free once the last connection is closed — no output buffer of its own
/// (2 KB of an appliance's peak RAM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome<'b> {
    /// The certificate, in [`Work::reply`].
    pub certificate: &'b [u8],
    /// Where it came from.
    pub source: Source,
    /// Whether the server's validity periods were checked (a clock was given).
    pub expiry_checked: bool,
}

/// How the appliance polls a request held for approval within one run.
pub const POLL: PollPolicy = PollPolicy {
    first_ms: 1000,
    max_ms: 10_000,
    max_attempts: 4,
};

fn io_err(e: TlsError) -> EmbeddedError {
    match e {
        TlsError::Io(_) | TlsError::IoError | TlsError::ConnectionClosed => EmbeddedError::Io,
        _ => EmbeddedError::TlsHandshake,
    }
}

fn key_spec(kind: KeyKind) -> Result<KeyKind, EmbeddedError> {
    match kind {
        KeyKind::P256 => Ok(KeyKind::P256),
        KeyKind::Rsa(2048) => Ok(KeyKind::Rsa(2048)),
        _ => Err(core(issuance::TxError::KeyUnsupported)),
    }
}

/// The TLS read buffer a connection needs: a whole record of the largest
/// plaintext the CA may send (2^14, or the max_fragment_length offered)
/// plus 256 bytes of record overhead (RFC 8446 §5.2), as embedded-tls
/// sizes it.
pub const fn tls_read_needed(max_fragment_length: Option<u16>) -> usize {
    match max_fragment_length {
        Some(n) => n as usize + 256,
        None => 16_384 + 256,
    }
}

/// The TLS write buffer a connection needs: the client's Certificate
/// message (the RA certificate and 14 bytes of framing, RFC 8446 §4.4.2)
/// in one record (5 bytes of header, the content type, a 16-byte tag), or
/// the ClientHello — with room to spare: the RA certificate's length + 256.
/// Application data is cut into records of the buffer's size.
pub const fn tls_write_needed(ra_cert_len: usize) -> usize {
    let n = ra_cert_len + 256;
    if n < 512 {
        512
    } else {
        n
    }
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
    /// RFC 6066 max_fragment_length offered in the ClientHello
    /// ([`crate::store::Config::max_fragment_length`]).
    pub max_fragment_length: Option<u16>,
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
        let needed = tls_read_needed(self.max_fragment_length);
        if tls_read.len() < needed {
            return Err(EmbeddedError::Buffer(raconn_core::error::BufferTooSmall {
                buffer: "tls_read",
                needed,
            }));
        }
        // The largest record the client sends whole is its Certificate
        // message (application data is cut to the buffer's size).
        let needed = tls_write_needed(self.ra_cert.len());
        if tls_write.len() < needed {
            return Err(EmbeddedError::Buffer(raconn_core::error::BufferTooSmall {
                buffer: "tls_write",
                needed,
            }));
        }
        let mfl = match self.max_fragment_length {
            None => None,
            Some(512) => Some(MaxFragmentLength::Bits9),
            Some(1024) => Some(MaxFragmentLength::Bits10),
            Some(2048) => Some(MaxFragmentLength::Bits11),
            Some(4096) => Some(MaxFragmentLength::Bits12),
            Some(value) => return Err(EmbeddedError::BadMaxFragmentLength { value }),
        };
        let read_len = tls_read.len();
        // A record larger than the read buffer: the CA ignored the
        // max_fragment_length offered (RC-EMB-027), not a network failure.
        let tls_fail = |e: TlsError| match e {
            TlsError::InsufficientSpace => EmbeddedError::TlsRecordTooLarge { buffer: read_len },
            e => io_err(e),
        };
        let socket = self.conn.connect(host, port).await?;
        let mut provider = Provider::new(
            self.hsm,
            self.ra_slot,
            self.ra_cert,
            ServerVerifier::new(self.anchor, host, self.now),
        )?;
        let mut config = TlsConfig::new()
            .enable_rsa_signatures()
            .with_server_name(host);
        if let Some(m) = mfl {
            config = config.with_max_fragment_length(m);
        }
        let mut tls: TlsConnection<'_, _, embedded_tls::Aes128GcmSha256> =
            TlsConnection::new(socket, tls_read, tls_write);
        if let Err(e) = tls.open(TlsContext::new(&config, &mut provider)).await {
            // The verifier knows the exact reason a certificate was refused.
            return Err(provider.server_verifier().failure().unwrap_or(tls_fail(e)));
        }
        let expiry_checked = provider.server_verifier().expiry_checked();
        // The head is written into `reply`, free until the reply comes.
        let h = raconn_core::http::write_head(
            host,
            port,
            req.path,
            req.soap_action,
            req.body.len(),
            "raconn-embedded/0.1",
            false,
            reply,
        )
        .map_err(core)?;
        tls.write_all(h).await.map_err(tls_fail)?;
        tls.write_all(req.body.as_bytes()).await.map_err(tls_fail)?;
        tls.flush().await.map_err(tls_fail)?;
        let mut reader = ReplyReader::new(reply.len());
        let mut got = 0;
        loop {
            if got == reply.len() {
                return Err(core(raconn_core::http::HttpError::TooLarge {
                    limit: reply.len(),
                }));
            }
            let n = match tls.read(reply.get_mut(got..).unwrap_or(&mut [])).await {
                Ok(n) => n,
                // The peer closed (embedded-tls reports end of stream as IoError).
                Err(TlsError::ConnectionClosed | TlsError::IoError) => 0,
                Err(e) => return Err(tls_fail(e)),
            };
            if n == 0 {
                let r = reader.on_close(reply, got)?;
                return Ok((r.status, r.body, expiry_checked));
            }
            got += n;
            if let Progress::Done(r) = reader.advance(reply, got).map_err(core)? {
                return Ok((r.status, r.body, expiry_checked));
            }
        }
    }
}

/// Issues (or returns from the journal) the certificate for `job`,
/// configuration, RA certificate and trust anchor read from `store`.
/// `now`: Unix seconds when the appliance has a trustworthy clock.
pub async fn issue<'b, C: Connect, H: Hsm, F: NorFlash>(
    conn: &mut C,
    hsm: &mut H,
    store: &mut Store<F>,
    job: &Job<'_>,
    now: Option<i64>,
    w: Work<'b>,
) -> Result<Outcome<'b>, EmbeddedError> {
    let cfg = store.config_into(w.tls_read, w.cfg).await?;
    let ra_cert = store.ra_cert_into(w.tls_read, w.ra).await?;
    let anchor = store.anchor_into(w.tls_read, w.anchor).await?;
    let stored = store.journal(job.request_id, &mut *w.tls_read).await?;
    let mut tx = Transaction::new(
        job.order(cfg.profile_oid),
        stored,
        POLL,
        Buffers {
            request: w.request,
            work: w.work,
            token: w.token,
            record: w.record,
        },
    )?;
    if let Some(_s) = tx.status().record {
        crate::log!(
            "raconn: request {=str}: resuming from the journal ({=str})",
            job.request_id,
            _s.as_str()
        );
    }
    let mut expiry_checked = false;
    let mut made = false;
    loop {
        match tx.next() {
            Step::Send(req) => {
                let mut link = CaLink {
                    conn: &mut *conn,
                    hsm: &*hsm,
                    ra_slot: cfg.ra_slot,
                    ra_cert,
                    anchor,
                    host: cfg.host,
                    port: cfg.port,
                    now,
                    max_fragment_length: cfg.max_fragment_length,
                };
                let (st, body, ec) = link.post(&req, w.tls_read, w.tls_write, w.reply).await?;
                expiry_checked |= ec;
                tx.on_reply(st, w.reply.get(body).unwrap_or(&[]));
            }
            Step::Save { record, .. } => {
                // No connection is open here: the TLS read buffer is free.
                store
                    .set_journal(job.request_id, record, w.tls_read)
                    .await?;
                tx.saved();
            }
            Step::DeviceKey { kind, reference } => {
                let slot = match reference {
                    Some(r) => r.first().copied(),
                    None => None,
                };
                match slot {
                    Some(slot) => match SlotKey::new(&*hsm, slot) {
                        Ok(k) => tx.device_key(&k, &[slot]),
                        Err(HsmError::EmptySlot) => tx.device_key_missing(),
                        Err(e) => return Err(e.into()),
                    },
                    None if made => return Err(core(issuance::TxError::WrongStep)),
                    None => {
                        let spec = key_spec(kind)?;
                        crate::log!(
                            "raconn: request {=str}: device key in slot {=u8}",
                            job.request_id,
                            cfg.device_slot
                        );
                        hsm.generate(cfg.device_slot, spec)?;
                        let k = SlotKey::new(&*hsm, cfg.device_slot)?;
                        tx.device_key(&k, &[cfg.device_slot]);
                        made = true;
                    }
                }
            }
            Step::Wait { ms } => conn.wait(ms).await,
            Step::Done(d) => {
                let n = d.certificate.len();
                let out: &'b mut [u8] = w.reply;
                let certificate = out.get_mut(..n).ok_or(EmbeddedError::Buffer(
                    raconn_core::error::BufferTooSmall {
                        buffer: "reply",
                        needed: n,
                    },
                ))?;
                certificate.copy_from_slice(d.certificate);
                crate::log!(
                    "raconn: request {=str}: certificate, {=usize} bytes",
                    job.request_id,
                    n
                );
                return Ok(Outcome {
                    certificate,
                    source: if d.from_record {
                        Source::Journal
                    } else if d.found_by_search {
                        Source::Search
                    } else {
                        Source::Issued
                    },
                    expiry_checked,
                });
            }
            Step::Failed { error, .. } => return Err(error.into()),
        }
    }
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
    let cfg = store.config_into(w.tls_read, w.cfg).await?;
    let policy = store.policy(w.reply).await?;
    let mut tx = Transaction::new(
        job.order(cfg.profile_oid),
        None,
        POLL,
        Buffers {
            request: w.request,
            work: w.work,
            token: w.token,
            record: w.record,
        },
    )?;
    loop {
        match tx.next() {
            // The policy comes from flash; the enrollment goes to `emit`.
            Step::Send(s) if s.service == raconn_core::pkiws::Service::Policy => {
                tx.on_reply(200, policy)
            }
            Step::Send(req) => return Ok(emit(&req)),
            Step::DeviceKey { kind, .. } => {
                hsm.generate(cfg.device_slot, key_spec(kind)?)?;
                let k = SlotKey::new(&*hsm, cfg.device_slot)?;
                tx.device_key(&k, &[cfg.device_slot]);
            }
            // Offline, nothing is recorded: the request is only shown.
            Step::Save { .. } => tx.saved(),
            Step::Wait { .. } | Step::Done(_) => return Err(core(issuance::TxError::WrongStep)),
            Step::Failed { error, .. } => return Err(error.into()),
        }
    }
}
