//! The issuance transaction: everything between "issue a certificate for
//! request id X" and "here it is", sans-IO, for every host.
//!
//! Modelled on rustls's unbuffered API: the host creates a [`Transaction`]
//! from the request and the stored [`record`] (if any), then loops on
//! [`Transaction::next`] and does what each [`Step`] says — send bytes to a
//! service and feed the reply back, persist a record, make or load the
//! device key, wait — until [`Step::Done`] or [`Step::Failed`]. The core owns
//! every rule: the request [`fingerprint`], the clientTransactionID
//! ([`client_transaction_id`]), the record format and its states, how a
//! crashed or interrupted transaction resumes, polling ([`PollPolicy`]), and
//! which failures are worth retrying.
//!
//! ```text
//!            ┌────────────── (no record) ──────────────┐
//!            │                                          ▼
//!  policy ─► device key ─► Save KeyMade ─► Save Sent ─► Send enrollment ─┬─► Save Issued ─► Done
//!    ▲            ▲                ▲                       ▲              ├─► Save Pending ─► Wait ─► poll ─┐
//!    │            │                │                       │              │        ▲                        │
//!    │            │                │     search (Sent) ────┘ not found    │        └────────────────────────┘
//!    │            │                │        └─ found ─► Save Issued       └─► CA refused ─► Save Failed ─► Failed
//!  record: KeyMade/Failed ─────────┘ (same key; Failed: next generation's clientTransactionID)
//!  record: Sent    → policy, key, searchCertificate first; resend the identical body only when not found
//!  record: Pending → policy, key, poll the stored pendingTokenReferenceID
//!  record: Issued  → key check (the stored key must be the certificate's) → Done, CA not contacted
//! ```
//!
//! Guarantees, whatever the host does between steps:
//! * a record is persisted *before* the request it describes leaves (`Sent`
//!   holds the exact enrollment body, so a resend is byte-identical whatever
//!   the signer's determinism);
//! * after a lost reply the CA is asked first (`searchCertificate` by seat
//!   and profile, matched on the request's public key) and the enrollment is
//!   resent — identical, same clientTransactionID — only when no certificate
//!   for the key exists, so one request id gives one certificate without
//!   relying on the CA to recognise a repeated clientTransactionID;
//! * a request pending approval keeps its pendingTokenReferenceID: running
//!   the same request id again polls it instead of enrolling anew;
//! * a stored key is checked against the record (and, once issued, against
//!   the certificate) before it is trusted;
//! * the same request id with a different request is [`TxError::Conflict`];
//!   a record from a newer version is [`TxError::RecordTooNew`].

pub mod record;

use sha2::{Digest, Sha256};

use crate::cert::CertificateRef;
use crate::csr::Signer;
pub use crate::engine::Request;
use crate::engine::{self, Engine, IssueRequest, Issued, KeyRequirements};
use crate::error::{explain, Error, Explain};
use crate::pkiws::check::Override;
use crate::pkiws::{PkiwsError, Service};
use crate::profile::{Identity, ProfileWarning, SanKindSel, SubjectFormat};
use crate::spki::{KeyKind, SpkiRef};

pub use record::{Chain, Record, RecordState};

/// Failures of the transaction and of its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TxError {
    /// The request id was used before for a different request.
    Conflict,
    /// The request id is empty, too long or has a character outside the allowed set.
    BadRequestId {
        /// Its length in bytes.
        len: usize,
    },
    /// A stored record does not decode (cut short, bit flips, unknown state).
    RecordCorrupt {
        /// Byte offset of the fault.
        at: usize,
    },
    /// A stored record was written by a newer raconn.
    RecordTooNew {
        /// Its format version.
        version: u8,
    },
    /// The device key the host gave is not the one the record (or the issued certificate) names.
    KeyMismatch,
    /// The issued certificate's key was deleted after its PFX was written.
    DeviceKeyDeleted,
    /// The record names a device key the host cannot find.
    DeviceKeyMissing,
    /// The CA refused `searchCertificate`, so a lost enrollment cannot be confirmed.
    SearchRefused,
    /// The host called an input out of order.
    WrongStep,
    /// The policy asks for a key the host cannot make.
    KeyUnsupported,
    /// The CA's search answered more pages than raconn reads.
    SearchTooLong {
        /// Pages read.
        pages: u32,
    },
    /// A value too long for its record field.
    ValueTooLong {
        /// Which value.
        what: &'static str,
        /// Its limit in bytes.
        max: usize,
    },
    /// The certificate of this request id was revoked.
    Revoked {
        /// RFC 5280 CRLReason code.
        reason: u8,
    },
}

explain!(TxError {
    Conflict => ("RC-TX-001", "request id used before for a different request", "use a new request id for a new request; the same id always returns the certificate issued for it");
    BadRequestId { len } => ("RC-TX-002", "the request id is not 1 to 64 characters of A-Z a-z 0-9 . _ -", "give a request id of 1 to 64 letters, digits, dots, dashes or underscores (it names files and records)"), "{len} bytes";
    RecordCorrupt { at } => ("RC-TX-003", "the stored record of this request id is corrupt", "the record was damaged on disk or in flash; if the CA issued the certificate, find it in PKI Manager (the seat and profile are in the logs); then remove the record and issue again"), "at byte {at}";
    RecordTooNew { version } => ("RC-TX-004", "the stored record was written by a newer raconn", "run the newer raconn that wrote it, or issue under a new request id"), "format version {version}";
    KeyMismatch => ("RC-TX-005", "the stored device key does not belong to this request's record or certificate", "the journal was changed by hand or a key file was swapped; restore the journal entry from backup, or revoke the certificate and issue under a new request id");
    DeviceKeyDeleted => ("RC-TX-006", "the certificate of this request id was issued and its device key deleted after the PFX was written (keep_device_keys = false)", "deliver the PFX written then, or revoke the certificate and issue under a new request id");
    DeviceKeyMissing => ("RC-TX-007", "the record names a device key that is not there", "restore the key file (or the key slot) from backup; if it is lost, revoke any certificate PKI Manager shows for the seat and issue under a new request id");
    SearchRefused => ("RC-TX-008", "the CA refused searchCertificate, so raconn cannot tell whether an enrollment whose reply was lost was issued", "allow the RA certificate to search certificates in PKI Manager; or check the seat's certificates there by hand, revoke any duplicate, and remove the record");
    WrongStep => ("RC-TX-009", "the host drove the issuance transaction out of order", "report this as a bug in the host");
    KeyUnsupported => ("RC-TX-010", "the certificate profile asks for a device key this host cannot make", "choose a key the host supports, or change the DigiCert profile");
    ValueTooLong { what, max } => ("RC-TX-011", "a value is too long for the issuance record", "report the value with the error; pendingTokenReferenceID, serverTransactionID and key references are short in every real reply"), "{what} over {max} bytes";
    Revoked { reason } => ("RC-TX-013", "the certificate of this request id was revoked", "issue under a new request id: one request id names the one certificate issued for it"), "CRLReason {reason}";
    SearchTooLong { pages } => ("RC-TX-012", "the CA's searchCertificate answer runs over more pages than raconn reads", "check the seat's certificates in PKI Manager (revoke any duplicate for this request), then remove the record and issue again"), "{pages} pages";
});

impl TxError {
    /// None of these goes away by waiting.
    pub const fn retryable(&self) -> bool {
        false
    }
}

/// Checks a request id: 1 to 64 of `A-Z a-z 0-9 . _ -`, not starting with `.`.
pub fn check_request_id(id: &str) -> Result<(), TxError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(TxError::BadRequestId { len: id.len() })
    }
}

/// How the device key is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum KeyChoice {
    /// What the policy asks for (RSA of its key size, or EC).
    Policy,
    /// RSA of this many bits.
    Rsa(u32),
    /// P-256.
    P256,
    /// P-384.
    P384,
}

impl KeyChoice {
    /// Parses `policy`, `rsa-2048`, `rsa-3072`, `rsa-4096`, `p256`, `p384`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim() {
            "policy" => Self::Policy,
            "rsa-2048" => Self::Rsa(2048),
            "rsa-3072" => Self::Rsa(3072),
            "rsa-4096" => Self::Rsa(4096),
            "p256" => Self::P256,
            "p384" => Self::P384,
            _ => return None,
        })
    }

    /// The configuration spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Policy => "policy",
            Self::Rsa(2048) => "rsa-2048",
            Self::Rsa(3072) => "rsa-3072",
            Self::Rsa(4096) => "rsa-4096",
            Self::Rsa(_) => "rsa",
            Self::P256 => "p256",
            Self::P384 => "p384",
        }
    }

    /// The key to make for a policy.
    pub fn resolve(self, policy: &KeyRequirements) -> KeyKind {
        match self {
            Self::Rsa(b) => KeyKind::Rsa(b),
            Self::P256 => KeyKind::P256,
            Self::P384 => KeyKind::P384,
            Self::Policy if policy.rsa => match policy.key_size {
                Some(b @ (2048 | 3072 | 4096)) => KeyKind::Rsa(b),
                _ => KeyKind::Rsa(2048),
            },
            Self::Policy => match policy.key_size {
                Some(384) => KeyKind::P384,
                _ => KeyKind::P256,
            },
        }
    }
}

/// What to issue, under which request id.
#[derive(Debug, Clone, Copy)]
pub struct Order<'a> {
    /// The idempotency key ([`check_request_id`]).
    pub request_id: &'a str,
    /// Certificate profile OID.
    pub profile_oid: &'a str,
    /// Subject format.
    pub subject_format: SubjectFormat,
    /// SAN kinds, in order.
    pub san: &'a [SanKindSel],
    /// Other-name values, in the order of `san`'s other-names.
    pub other_names: &'a [&'a str],
    /// nameValuePair name overrides.
    pub overrides: &'a [Override<'a>],
    /// Who the certificate is for.
    pub identity: Identity<'a>,
    /// Seat id; default: e-mail ← UPN ← CN.
    pub seat_id: Option<&'a str>,
    /// The device key.
    pub key: KeyChoice,
    /// Refuse what would only be warned about ([`crate::profile::check_value`]).
    pub strict: bool,
    /// The user's SID for strong certificate mapping (KB5014754).
    pub sid: Option<&'a str>,
    /// Where the SID goes (the profile's `sid` setting).
    pub sid_placement: Option<crate::profile::SidPlacement>,
}

/// The request's fingerprint: SHA-256 over the profile OID and every value
/// that goes into the CSR and the nameValuePairs, each tagged and
/// length-prefixed. The request id is not part of it (it is the key).
pub fn fingerprint(o: &Order<'_>) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut field = |tag: u8, b: &[u8]| {
        h.update([tag]);
        h.update((b.len() as u32).to_be_bytes());
        h.update(b);
    };
    field(0, b"raconn request fingerprint 2");
    field(1, o.profile_oid.as_bytes());
    field(2, o.subject_format.as_str().as_bytes());
    for s in o.san {
        match s {
            SanKindSel::Email => field(3, b"email"),
            SanKindSel::Upn => field(3, b"upn"),
            SanKindSel::OtherName(oid) => {
                field(3, b"other-name");
                field(4, oid.as_bytes());
            }
        }
    }
    for v in o.other_names {
        field(5, v.as_bytes());
    }
    field(6, o.identity.cn.as_bytes());
    field(7, o.identity.email.unwrap_or("").as_bytes());
    field(8, o.identity.upn.unwrap_or("").as_bytes());
    field(9, o.seat_id.unwrap_or("").as_bytes());
    for (k, n) in o.overrides {
        field(10, k.as_bytes());
        field(11, n.as_bytes());
    }
    field(12, o.key.as_str().as_bytes());
    if let KeyChoice::Rsa(b) = o.key {
        field(13, &b.to_be_bytes());
    }
    // Only when given, so that requests without a SID keep their fingerprint.
    if let Some(s) = o.sid {
        field(14, s.as_bytes());
        field(15, o.sid_placement.map_or("", |p| p.as_str()).as_bytes());
    }
    h.finalize().into()
}

/// The fingerprint raconn-embedded 0.1 stored in its flash records, to
/// recognise the request of such a record.
pub fn fingerprint_v1(o: &Order<'_>) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u32).to_be_bytes());
        h.update(b);
    };
    field(o.profile_oid.as_bytes());
    field(o.subject_format.as_str().as_bytes());
    for s in o.san {
        field(&[match s {
            SanKindSel::Email => 1,
            SanKindSel::Upn => 2,
            SanKindSel::OtherName(_) => 3,
        }]);
        if let SanKindSel::OtherName(oid) = s {
            field(oid.as_bytes());
        }
    }
    for v in o.other_names {
        field(v.as_bytes());
    }
    field(o.identity.cn.as_bytes());
    field(o.identity.email.unwrap_or("").as_bytes());
    field(o.identity.upn.unwrap_or("").as_bytes());
    h.finalize().into()
}

/// The clientTransactionID of an attempt: `raconn-` and 24 hex digits of
/// SHA-256(request id), then `-<generation>` from the second attempt on
/// (a new attempt follows only a refusal by the CA). At most 37 characters.
pub fn client_transaction_id(request_id: &str, generation: u16) -> heapless::String<40> {
    use core::fmt::Write as _;
    let d = Sha256::digest(request_id.as_bytes());
    let mut s = heapless::String::new();
    let _ = s.push_str("raconn-");
    for b in d.iter().take(12) {
        let _ = write!(s, "{b:02x}");
    }
    if generation > 0 {
        let _ = write!(s, "-{generation}");
    }
    s
}

/// The clientTransactionID of a call outside an issuance (a policy fetch, a
/// health check): `raconn-op-` and 16 hex digits of the host's `nonce`.
pub fn one_off_transaction_id(nonce: [u8; 8]) -> heapless::String<40> {
    use core::fmt::Write as _;
    let mut s = heapless::String::new();
    let _ = s.push_str("raconn-op-");
    for b in nonce {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// SHA-256 of a SubjectPublicKeyInfo (how a record names its key).
pub fn key_digest(spki: &[u8]) -> [u8; 32] {
    Sha256::digest(spki).into()
}

/// The most searchCertificate pages one resume reads (DigiCert pages by 50).
pub const MAX_SEARCH_PAGES: u32 = 20;

/// How a pending request is polled within one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PollPolicy {
    /// Delay before the first poll, in milliseconds; doubled for each next one.
    pub first_ms: u32,
    /// Cap on one delay.
    pub max_ms: u32,
    /// Polls in one run; then the transaction fails with
    /// [`PkiwsError::Pending`] (retryable) and the record keeps the reference.
    /// 0 = do not poll in this run (a service schedules the polls itself).
    pub max_attempts: u32,
}

impl PollPolicy {
    /// 2 s, 4 s, 8 s, 16 s, 30 s.
    pub const DEFAULT: PollPolicy = PollPolicy {
        first_ms: 2000,
        max_ms: 30_000,
        max_attempts: 5,
    };

    /// The delay before poll number `n` (0-based).
    pub fn delay(&self, n: u32) -> u32 {
        let f = 1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX);
        self.first_ms.saturating_mul(f).min(self.max_ms)
    }
}

/// The buffers a transaction works in (all owned by the host).
pub struct Buffers<'b> {
    /// Requests to send.
    pub request: &'b mut [u8],
    /// The engine's working storage.
    pub work: &'b mut [u8],
    /// The decoded certificate or PKCS#7 from the CA.
    pub token: &'b mut [u8],
    /// Records: the stored one is copied here, new ones are written here.
    pub record: &'b mut [u8],
}

/// The certificate, when the transaction is done.
#[derive(Debug, Clone, Copy)]
pub struct Done<'t> {
    /// DER of the certificate.
    pub certificate: &'t [u8],
    /// The other certificates (the PKCS#7's, then the policy's CAs).
    pub chain: Chain<'t>,
    /// The CA's serverTransactionID (empty when the certificate came from a search).
    pub server_transaction_id: &'t str,
    /// Our clientTransactionID.
    pub client_transaction_id: &'t str,
    /// True when it came from the stored record: the CA was not contacted.
    pub from_record: bool,
    /// True when a lost enrollment was found at the CA by `searchCertificate`.
    pub found_by_search: bool,
}

/// What the host does next.
#[derive(Debug, Clone)]
pub enum Step<'t> {
    /// Send this; then [`Transaction::on_reply`] with the HTTP status and body.
    Send(Request<'t>),
    /// Persist this record (replacing the stored one) before going on; then [`Transaction::saved`].
    Save {
        /// The state it records.
        state: RecordState,
        /// The bytes to store.
        record: &'t [u8],
    },
    /// Make a device key of `kind` (`reference` is `None`), or load the one
    /// `reference` names; then [`Transaction::device_key`] (or
    /// [`Transaction::device_key_missing`]).
    DeviceKey {
        /// The key kind the profile asks for.
        kind: KeyKind,
        /// The stored key's reference, when the record has one.
        reference: Option<&'t [u8]>,
    },
    /// The CA holds the request: wait, then [`Transaction::waited`]. (A
    /// service may instead drop the transaction and run it again later from
    /// the saved record.)
    Wait {
        /// Milliseconds.
        ms: u32,
    },
    /// Finished.
    Done(Done<'t>),
    /// Failed; `retryable` says whether running it again unchanged may succeed.
    Failed {
        /// What went wrong.
        error: Error,
        /// Worth retrying later.
        retryable: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    Sent,
    EnrollOrSearch,
    PollOrWait,
    Done,
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    SendPolicy,
    AwaitPolicy,
    NeedKey,
    Save(After),
    SendEnroll,
    AwaitEnroll,
    SendSearch,
    AwaitSearch,
    SendPoll,
    AwaitPoll,
    Wait(u32),
    Done,
    Failed,
}

/// Where the transaction stands, for logs and status pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// The state of the last record (saved or loaded), `None` before the first.
    pub record: Option<RecordState>,
    /// Polls sent in this run.
    pub polls: u32,
}

/// One issuance (see the module documentation).
pub struct Transaction<'a, 'b> {
    order: Order<'a>,
    engine: Engine<'a, 'b>,
    rec: &'b mut [u8],
    rec_len: usize,
    /// State of the record in `rec`.
    state: Option<RecordState>,
    loaded_version: u8,
    generation: u16,
    fingerprint: [u8; 32],
    key_digest: Option<[u8; 32]>,
    ctid: heapless::String<40>,
    key_ref: heapless::Vec<u8, 64>,
    pending_ref: heapless::String<255>,
    server_tx: heapless::String<255>,
    key_kind: Option<KeyKind>,
    phase: Phase,
    search_next: u32,
    search_pages: u32,
    polls: u32,
    poll: PollPolicy,
    from_record: bool,
    found_by_search: bool,
    /// Sent body missing from a version 1 record: rebuild, save, then search.
    search_first: bool,
    failure: Option<(Error, bool)>,
}

fn copy_str<const N: usize>(s: &str, what: &'static str) -> Result<heapless::String<N>, TxError> {
    let mut o = heapless::String::new();
    o.push_str(s)
        .map_err(|_| TxError::ValueTooLong { what, max: N })?;
    Ok(o)
}

impl<'a, 'b> Transaction<'a, 'b> {
    /// Starts (or resumes, from `stored`) the transaction of `order`.
    /// Fails at once for a bad request id, a request id used for a
    /// different request, or a record that cannot be read.
    pub fn new(
        order: Order<'a>,
        stored: Option<&[u8]>,
        poll: PollPolicy,
        bufs: Buffers<'b>,
    ) -> Result<Self, Error> {
        check_request_id(order.request_id)?;
        let fp = fingerprint(&order);
        let mut t = Transaction {
            order,
            engine: Engine::new(
                IssueRequest {
                    profile_oid: order.profile_oid,
                    subject_format: order.subject_format,
                    san: order.san,
                    other_names: order.other_names,
                    overrides: order.overrides,
                    identity: order.identity,
                    seat_id: order.seat_id,
                    client_transaction_id: "",
                    strict: order.strict,
                    sid: order.sid,
                    sid_placement: order.sid_placement,
                },
                engine::Buffers {
                    request: bufs.request,
                    work: bufs.work,
                    token: bufs.token,
                },
            )?,
            rec: bufs.record,
            rec_len: 0,
            state: None,
            loaded_version: record::VERSION,
            generation: 0,
            fingerprint: fp,
            key_digest: None,
            ctid: client_transaction_id(order.request_id, 0),
            key_ref: heapless::Vec::new(),
            pending_ref: heapless::String::new(),
            server_tx: heapless::String::new(),
            key_kind: None,
            phase: Phase::SendPolicy,
            search_next: 0,
            search_pages: 0,
            polls: 0,
            poll,
            from_record: false,
            found_by_search: false,
            search_first: false,
            failure: None,
        };
        if let Some(bytes) = stored {
            t.load(bytes)?;
        }
        let ctid = t.ctid.clone();
        t.engine.set_client_transaction_id(&ctid)?;
        Ok(t)
    }

    fn load(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let r = record::decode(bytes)?;
        let expected = if r.version == 1 {
            fingerprint_v1(&self.order)
        } else {
            fingerprint(&self.order)
        };
        if r.fingerprint != expected {
            return Err(TxError::Conflict.into());
        }
        if !r.request_id.is_empty() && r.request_id != self.order.request_id {
            return Err(TxError::Conflict.into());
        }
        if let Some(v) = r.revocation.filter(|_| r.state == RecordState::Revoked) {
            return Err(TxError::Revoked { reason: v.reason }.into());
        }
        self.loaded_version = r.version;
        self.generation = r.generation;
        self.key_digest = r.key_digest;
        self.ctid = copy_str(r.client_transaction_id, "clientTransactionID")?;
        self.key_ref = heapless::Vec::from_slice(r.key_ref).map_err(|_| TxError::ValueTooLong {
            what: "device key reference",
            max: 64,
        })?;
        self.pending_ref = copy_str(r.pending_reference, "pendingTokenReferenceID")?;
        self.server_tx = copy_str(r.server_transaction_id, "serverTransactionID")?;
        self.state = Some(r.state);
        self.search_first = r.state == RecordState::Sent && r.body.is_none();
        if r.state == RecordState::Issued {
            // The certificate's own key kind; no policy is needed.
            let c = CertificateRef::parse(r.certificate)?;
            self.key_kind = Some(SpkiRef::parse(c.spki.der.raw)?.kind());
            self.phase = Phase::NeedKey;
        }
        let dst =
            self.rec
                .get_mut(..bytes.len())
                .ok_or(Error::Buffer(crate::error::BufferTooSmall {
                    buffer: "record",
                    needed: bytes.len(),
                }))?;
        dst.copy_from_slice(bytes);
        self.rec_len = bytes.len();
        Ok(())
    }

    /// Where it stands.
    pub fn status(&self) -> Status {
        Status {
            record: self.state,
            polls: self.polls,
        }
    }

    /// The clientTransactionID of this attempt.
    pub fn client_transaction_id(&self) -> &str {
        &self.ctid
    }

    /// The request's fingerprint.
    pub fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }

    /// Warnings from the request's checks (fallbacks used, …).
    pub fn warnings(&self) -> &[ProfileWarning] {
        self.engine.warnings()
    }

    /// The subject the request carries (certreq syntax).
    pub fn subject(&self) -> &str {
        self.engine.subject()
    }

    /// The nameValuePairs the enrollment carries (after the policy reply).
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.engine.pairs()
    }

    /// The seat id searches use.
    pub fn seat(&self) -> &str {
        self.engine.seat()
    }

    /// The key kind to make, once known.
    pub fn key_kind(&self) -> Option<KeyKind> {
        self.key_kind
    }

    /// Buffer use so far.
    pub fn buffer_use(&self) -> engine::BufferUse {
        self.engine.buffer_use()
    }

    /// The record in the record buffer, when there is one.
    pub fn record(&self) -> Option<Record<'_>> {
        self.rec
            .get(..self.rec_len)
            .filter(|b| !b.is_empty())
            .and_then(|b| record::decode(b).ok())
    }

    /// The issued certificate, once it is in the record (also while its
    /// record is waiting to be saved: a host that cannot save it names it).
    pub fn certificate(&self) -> Option<&[u8]> {
        self.record()
            .filter(|r| r.state == RecordState::Issued)
            .map(|r| r.certificate)
    }

    fn fail(&mut self, e: Error) {
        let retry = e.retryable();
        self.failure = Some((e, retry));
        self.phase = Phase::Failed;
    }

    /// Encodes a record with no large field into the record buffer.
    fn write_small(&mut self, state: RecordState, failure: &str) -> Result<(), Error> {
        let mut r = Record::new(state, self.fingerprint, self.order.request_id);
        r.generation = self.generation;
        r.key_digest = self.key_digest;
        r.client_transaction_id = &self.ctid;
        r.key_ref = &self.key_ref;
        r.pending_reference = &self.pending_ref;
        r.server_transaction_id = &self.server_tx;
        r.failure = failure;
        self.rec_len = record::encode(&r, self.rec)?;
        self.state = Some(state);
        Ok(())
    }

    /// The next thing to do. Calling it again without the input it asks
    /// for returns the same step. (Not an `Iterator`: each step borrows the
    /// transaction until the host has acted on it.)
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Step<'_> {
        match self.phase {
            Phase::SendPolicy | Phase::AwaitPolicy => {
                match self.engine.policy_request().map(|_| ()) {
                    Ok(()) => {
                        self.phase = Phase::AwaitPolicy;
                        self.last_sent()
                    }
                    Err(e) => self.failed_now(e),
                }
            }
            Phase::NeedKey => Step::DeviceKey {
                kind: self.key_kind.unwrap_or(KeyKind::Other),
                reference: if self.state.is_some() {
                    Some(&self.key_ref)
                } else {
                    None
                },
            },
            Phase::Save(_) => match self.state {
                Some(state) => Step::Save {
                    state,
                    record: self.rec.get(..self.rec_len).unwrap_or(&[]),
                },
                None => self.failed_now(TxError::WrongStep.into()),
            },
            Phase::SendEnroll | Phase::AwaitEnroll => {
                self.phase = Phase::AwaitEnroll;
                let check = self
                    .rec_view()
                    .and_then(|r| r.body.map(|_| ()).ok_or(TxError::WrongStep.into()));
                if let Err(e) = check {
                    return self.failed_now(e);
                }
                match self.rec_view() {
                    Ok(Record {
                        body: Some(body), ..
                    }) => Step::Send(Request {
                        service: Service::Enrollment,
                        path: Service::Enrollment.path(),
                        soap_action: Service::Enrollment.action(),
                        body,
                    }),
                    _ => Step::Failed {
                        error: TxError::WrongStep.into(),
                        retryable: false,
                    },
                }
            }
            Phase::SendSearch | Phase::AwaitSearch => {
                match self.engine.search_request(self.search_next).map(|_| ()) {
                    Ok(()) => {
                        self.phase = Phase::AwaitSearch;
                        self.last_sent()
                    }
                    Err(e) => self.failed_now(e),
                }
            }
            Phase::SendPoll | Phase::AwaitPoll => match self.engine.poll_request().map(|_| ()) {
                Ok(()) => {
                    if self.phase == Phase::SendPoll {
                        self.polls += 1;
                    }
                    self.phase = Phase::AwaitPoll;
                    self.last_sent()
                }
                Err(e) => self.failed_now(e),
            },
            Phase::Wait(ms) => Step::Wait { ms },
            Phase::Done => {
                if let Err(e) = self.rec_view().map(|_| ()) {
                    return self.failed_now(e);
                }
                match self.rec_view() {
                    Ok(r) => Step::Done(Done {
                        certificate: r.certificate,
                        chain: r.chain,
                        server_transaction_id: r.server_transaction_id,
                        client_transaction_id: r.client_transaction_id,
                        from_record: self.from_record,
                        found_by_search: self.found_by_search,
                    }),
                    Err(error) => Step::Failed {
                        error,
                        retryable: false,
                    },
                }
            }
            Phase::Failed => match &self.failure {
                Some((e, r)) => Step::Failed {
                    error: e.clone(),
                    retryable: *r,
                },
                None => Step::Failed {
                    error: TxError::WrongStep.into(),
                    retryable: false,
                },
            },
        }
    }

    fn rec_view(&self) -> Result<Record<'_>, Error> {
        let b = self.rec.get(..self.rec_len).ok_or(TxError::WrongStep)?;
        Ok(record::decode(b)?)
    }

    fn last_sent(&self) -> Step<'_> {
        Step::Send(self.engine.last_sent())
    }

    fn failed_now(&mut self, e: Error) -> Step<'static> {
        self.fail(e.clone());
        let retryable = e.retryable();
        Step::Failed {
            error: e,
            retryable,
        }
    }

    /// The reply to the last [`Step::Send`] (any HTTP status; a SOAP fault
    /// is read whatever the status).
    pub fn on_reply(&mut self, http_status: u16, body: &[u8]) {
        let r = match self.phase {
            Phase::AwaitPolicy => self.policy_reply(http_status, body),
            Phase::AwaitEnroll | Phase::AwaitPoll => self.enroll_reply(http_status, body),
            Phase::AwaitSearch => self.search_reply(http_status, body),
            _ => Err(TxError::WrongStep.into()),
        };
        if let Err(e) = r {
            self.fail(e);
        }
    }

    // The reply handlers are not inlined into `on_reply`: each one's locals
    // (the policy's 3 KB, the token's) then occupy the stack only while it
    // runs — an appliance's stack peak is the policy reply (README,
    // "Footprint").
    #[inline(never)]
    fn policy_reply(&mut self, http_status: u16, body: &[u8]) -> Result<(), Error> {
        let kr = self.engine.on_policy_reply(http_status, body)?;
        self.key_kind = Some(self.order.key.resolve(&kr));
        self.phase = Phase::NeedKey;
        Ok(())
    }

    #[inline(never)]
    fn enroll_reply(&mut self, http_status: u16, body: &[u8]) -> Result<(), Error> {
        match self.engine.read_enroll_reply(http_status, body) {
            Ok(()) => {}
            Err(Error::Pkiws(p)) if p.is_ca_refusal() => {
                // The CA answered and did not issue: the next attempt gets a
                // new clientTransactionID, with the same key.
                self.generation = self.generation.saturating_add(1);
                self.ctid = client_transaction_id(self.order.request_id, self.generation);
                self.write_small(RecordState::Failed, p.code())?;
                self.failure = Some((Error::Pkiws(p), p.retryable()));
                self.phase = Phase::Save(After::Fail);
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        let pending = match self.engine.outcome() {
            Some(Issued::Pending { reference }) => {
                Some(copy_str::<255>(reference, "pendingTokenReferenceID")?)
            }
            Some(Issued::Certificate { .. }) => None,
            None => return Err(TxError::WrongStep.into()),
        };
        match pending {
            None => self.write_issued(false),
            Some(reference) => {
                if self.state == Some(RecordState::Pending) && self.pending_ref == reference {
                    self.after_pending_saved();
                } else {
                    self.pending_ref = reference;
                    self.write_small(RecordState::Pending, "")?;
                    self.phase = Phase::Save(After::PollOrWait);
                }
                Ok(())
            }
        }
    }

    /// Encodes the Issued record from the engine's outcome.
    fn write_issued(&mut self, found_by_search: bool) -> Result<(), Error> {
        let Some(Issued::Certificate {
            certificate,
            chain,
            server_transaction_id,
        }) = self.engine.outcome()
        else {
            return Err(TxError::WrongStep.into());
        };
        let mut r = Record::new(RecordState::Issued, self.fingerprint, self.order.request_id);
        r.generation = self.generation;
        r.key_digest = self.key_digest;
        r.client_transaction_id = &self.ctid;
        r.key_ref = &self.key_ref;
        r.server_transaction_id = server_transaction_id;
        r.certificate = certificate;
        r.chain = Chain::List(&chain);
        self.rec_len = record::encode(&r, self.rec)?;
        self.state = Some(RecordState::Issued);
        self.found_by_search = found_by_search;
        self.phase = Phase::Save(After::Done);
        Ok(())
    }

    #[inline(never)]
    fn search_reply(&mut self, http_status: u16, body: &[u8]) -> Result<(), Error> {
        match self.engine.read_search_reply(http_status, body) {
            Ok(None) => self.write_issued(true),
            Ok(Some((more, next_index))) => {
                self.search_pages += 1;
                if more && self.search_pages >= MAX_SEARCH_PAGES {
                    return Err(TxError::SearchTooLong {
                        pages: self.search_pages,
                    }
                    .into());
                }
                if more {
                    self.search_next = next_index;
                    self.phase = Phase::SendSearch;
                } else {
                    self.phase = Phase::SendEnroll;
                }
                Ok(())
            }
            Err(Error::Pkiws(p)) if p.is_ca_refusal() => Err(TxError::SearchRefused.into()),
            Err(e) => Err(e),
        }
    }

    fn after_pending_saved(&mut self) {
        if self.polls >= self.poll.max_attempts {
            self.fail(PkiwsError::Pending.into());
        } else {
            self.phase = Phase::Wait(self.poll.delay(self.polls));
        }
    }

    /// The record of the last [`Step::Save`] is stored.
    pub fn saved(&mut self) {
        let Phase::Save(after) = self.phase else {
            self.fail(TxError::WrongStep.into());
            return;
        };
        match after {
            After::Sent => {
                let r = self.write_sent();
                if let Err(e) = r {
                    self.fail(e);
                }
            }
            After::EnrollOrSearch => {
                self.phase = if self.search_first {
                    self.search_first = false;
                    Phase::SendSearch
                } else {
                    Phase::SendEnroll
                };
            }
            After::PollOrWait => self.after_pending_saved(),
            After::Done => self.phase = Phase::Done,
            After::Fail => {
                self.phase = Phase::Failed;
                if self.failure.is_none() {
                    self.failure = Some((TxError::WrongStep.into(), false));
                }
            }
        }
    }

    /// Encodes the Sent record from the enrollment the engine just built.
    fn write_sent(&mut self) -> Result<(), Error> {
        let body = self.engine.last_request();
        let mut r = Record::new(RecordState::Sent, self.fingerprint, self.order.request_id);
        r.generation = self.generation;
        r.key_digest = self.key_digest;
        r.client_transaction_id = &self.ctid;
        r.key_ref = &self.key_ref;
        r.body = Some(body);
        self.rec_len = record::encode(&r, self.rec)?;
        self.state = Some(RecordState::Sent);
        self.phase = Phase::Save(After::EnrollOrSearch);
        Ok(())
    }

    /// The waited time has passed.
    pub fn waited(&mut self) {
        if let Phase::Wait(_) = self.phase {
            self.phase = Phase::SendPoll;
        } else {
            self.fail(TxError::WrongStep.into());
        }
    }

    /// The device key asked for by [`Step::DeviceKey`]: made now (then
    /// `reference` is how the host finds it again, ≤ 64 bytes, stored in the
    /// record) or loaded by the reference the step gave.
    pub fn device_key<S: Signer + ?Sized>(&mut self, key: &S, reference: &[u8]) {
        if let Err(e) = self.take_key(key, reference) {
            self.fail(e);
        }
    }

    /// The stored device key the step named is not there.
    pub fn device_key_missing(&mut self) {
        let e = if self.state == Some(RecordState::Issued) {
            TxError::DeviceKeyDeleted
        } else {
            TxError::DeviceKeyMissing
        };
        self.fail(e.into());
    }

    fn take_key<S: Signer + ?Sized>(&mut self, key: &S, reference: &[u8]) -> Result<(), Error> {
        if self.phase != Phase::NeedKey {
            return Err(TxError::WrongStep.into());
        }
        let spki = key.public_key_der();
        let digest = key_digest(spki);
        match self.state {
            None => {
                self.key_digest = Some(digest);
                self.key_ref =
                    heapless::Vec::from_slice(reference).map_err(|_| TxError::ValueTooLong {
                        what: "device key reference",
                        max: 64,
                    })?;
                // The CSR and enrollment are built now (the signer is here);
                // KeyMade is saved first, then Sent with the body.
                self.engine.enroll_request(key)?;
                self.write_small(RecordState::KeyMade, "")?;
                self.phase = Phase::Save(After::Sent);
            }
            Some(state) => {
                if self.key_digest.is_some_and(|d| d != digest) {
                    return Err(TxError::KeyMismatch.into());
                }
                self.key_digest = Some(digest);
                match state {
                    RecordState::Issued => {
                        let rec = self.rec.get(..self.rec_len).ok_or(TxError::WrongStep)?;
                        let r = record::decode(rec)?;
                        let c = CertificateRef::parse(r.certificate)?;
                        if c.spki.der.raw != spki {
                            return Err(TxError::KeyMismatch.into());
                        }
                        self.from_record = true;
                        self.phase = Phase::Done;
                    }
                    RecordState::KeyMade | RecordState::Failed => {
                        self.engine.enroll_request(key)?;
                        self.write_sent()?;
                    }
                    RecordState::Revoked => return Err(TxError::Revoked { reason: 0 }.into()),
                    RecordState::Sent if self.search_first => {
                        // A version 1 record kept no body: build it again
                        // (same key, same clientTransactionID), store it, search.
                        self.engine.enroll_request(key)?;
                        self.write_sent()?;
                    }
                    RecordState::Sent => {
                        let rec = self.rec.get(..self.rec_len).ok_or(TxError::WrongStep)?;
                        let r = record::decode(rec)?;
                        self.engine
                            .resume_sent(r.body.ok_or(TxError::RecordCorrupt { at: 0 })?)?;
                        if self.engine.expected_key() != spki {
                            return Err(TxError::KeyMismatch.into());
                        }
                        self.phase = Phase::SendSearch;
                    }
                    RecordState::Pending => {
                        self.engine.expect_key(spki)?;
                        let reference = self.pending_ref.clone();
                        self.engine.set_pending(&reference)?;
                        self.phase = Phase::SendPoll;
                    }
                }
            }
        }
        Ok(())
    }
}

// The transaction's tests replay recorded CA replies: core/tests/issuance.rs.
