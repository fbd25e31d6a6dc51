//! The issuance engine: one sans-IO state machine that both hosts drive.
//!
//! Given the profile, the identity and caller buffers, it checks everything
//! it can locally, then hands the host the bytes to POST to the policy
//! service, reads the reply, plans and checks the enrollment attributes
//! against the policy ([`crate::pkiws::check`]), builds the PKCS#10 with the
//! host's [`Signer`] for the device key, hands over the enrollment request,
//! and finally checks what the CA returns — the certificate is for the
//! request's key and carries the subject and SAN asked for — before giving
//! back the certificate and its chain. No I/O, no clock, no allocation
//! (the rustls/quinn/smoltcp pattern): the host moves bytes and keeps keys.
//!
//! ```text
//! new → policy_request → on_policy_reply → enroll_request(signer)
//!     → on_enroll_reply → Issued | Pending (→ poll_request → on_enroll_reply)
//! ```
//!
//! For a transaction that resumes after a crash (see [`crate::issuance`],
//! which drives this engine), the enrollment can also be taken up again:
//! [`Engine::resume_sent`] with the exact body sent before, [`Engine::expect_key`]
//! and [`Engine::set_pending`] for a request the CA holds, and
//! [`Engine::search_request`] / [`Engine::on_search_reply`] to ask the CA
//! whether it issued a certificate for the request's key.
//!
//! Capacities are named and documented ([`MAX_SAN`], [`MAX_CHAIN`],
//! [`MAX_WARNINGS`]); data past a capacity is an error, never dropped —
//! except warnings past [`MAX_WARNINGS`], which are counted in
//! [`Engine::warnings_dropped`].

use core::ops::Range;

use crate::cert::{CertificateRef, Pkcs7Ref};
use crate::csr::{self, CsrRef, CsrSpec, RawExtension, SanSource, Signer};
use crate::error::Error;
use crate::ext::{self, GeneralName, GeneralNameRef};
use crate::oid::{self, Oid};
use crate::pkiws::check::{self, CheckError, Field, Override, ValueOf};
use crate::pkiws::enroll::{self, EnrollRequest, Outcome};
use crate::pkiws::search::{self, SearchRequest};
use crate::pkiws::{policy, PkiwsError, Service};
use crate::profile::{
    self, Identity, ProfileError, ProfileWarning, SanKindSel, SidPlacement, SubjectFormat,
};
use crate::spki::{KeyKind, SpkiRef};
use crate::xml::XmlError;

/// What to issue.
#[derive(Debug, Clone, Copy)]
pub struct IssueRequest<'a> {
    /// Certificate profile OID (the reference connector's "certificate template").
    pub profile_oid: &'a str,
    /// Subject format.
    pub subject_format: SubjectFormat,
    /// SAN kinds, in order.
    pub san: &'a [SanKindSel],
    /// Values of the other-names, in the order of the `OtherName` kinds in `san`.
    pub other_names: &'a [&'a str],
    /// nameValuePair name overrides (kind → name).
    pub overrides: &'a [Override<'a>],
    /// Who the certificate is for.
    pub identity: Identity<'a>,
    /// Seat id; default: e-mail ← UPN ← CN.
    pub seat_id: Option<&'a str>,
    /// clientTransactionID, at most 40 characters; keep it for retries.
    pub client_transaction_id: &'a str,
    /// Refuse, rather than warn about, values no one wants in a
    /// certificate (bidi controls, a CN over 64 characters, an email that
    /// is not local@domain). Control characters are always refused.
    pub strict: bool,
    /// The user's SID for strong certificate mapping (KB5014754), in text
    /// form; refused unless `sid_placement` says where it goes.
    pub sid: Option<&'a str>,
    /// Where the SID goes: the szOID_NTDS_CA_SECURITY_EXT extension, a SAN
    /// URI, or both.
    pub sid_placement: Option<SidPlacement>,
}

/// Caller buffers.
pub struct Buffers<'b> {
    /// Request XML (the enrollment request holds the base64 CSR).
    pub request: &'b mut [u8],
    /// Working storage: resolved values, the CSR, the policy's CA certificates.
    pub work: &'b mut [u8],
    /// The decoded token (PKCS#7 or certificate) from the CA.
    pub token: &'b mut [u8],
}

/// Bytes to POST.
#[derive(Debug, Clone, Copy)]
pub struct Request<'r> {
    /// Which service it goes to.
    pub service: Service,
    /// Path under `https://<fqdn>` (`/pki-ws/policyService`, …).
    pub path: &'static str,
    /// The SOAPAction header value.
    pub soap_action: &'static str,
    /// The SOAP envelope.
    pub body: &'r str,
}

/// What the profile asks of the device key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRequirements {
    /// `keysize` (bits), if given.
    pub key_size: Option<u32>,
    /// True when the policy names RSA (or names nothing), false for EC.
    pub rsa: bool,
    /// `keyexportable`.
    pub exportable: Option<bool>,
    /// `validityPeriodDays`.
    pub validity_days: Option<u32>,
}

/// The outcome of an enrollment.
#[derive(Debug)]
pub enum Issued<'r> {
    /// The certificate, checked, and its chain (issuer first, as found).
    Certificate {
        /// DER of the end-entity certificate.
        certificate: &'r [u8],
        /// DER of the other certificates: from the reply, then the policy's.
        chain: heapless::Vec<&'r [u8], MAX_CHAIN>,
        /// The CA's serverTransactionID.
        server_transaction_id: &'r str,
    },
    /// Held for approval; poll with [`Engine::poll_request`].
    Pending {
        /// pendingTokenReferenceID
        reference: &'r str,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    New,
    PolicySent,
    PolicyRead,
    EnrollSent,
    Done,
}

struct Arena<'b> {
    buf: &'b mut [u8],
    used: usize,
}

impl Arena<'_> {
    fn put(&mut self, b: &[u8]) -> Result<Range<usize>, Error> {
        let end = self.used + b.len();
        let dst = self.buf.get_mut(self.used..end).ok_or(Error::Buffer(
            crate::error::BufferTooSmall {
                buffer: "work",
                needed: end,
            },
        ))?;
        dst.copy_from_slice(b);
        let r = self.used..end;
        self.used = end;
        Ok(r)
    }
    fn get(&self, r: &Range<usize>) -> &[u8] {
        self.buf.get(r.clone()).unwrap_or(&[])
    }
    fn str(&self, r: &Range<usize>) -> &str {
        core::str::from_utf8(self.get(r)).unwrap_or("")
    }
    fn free(&mut self) -> &mut [u8] {
        self.buf.get_mut(self.used..).unwrap_or(&mut [])
    }
}

/// Maximum SAN entries the engine puts in a request.
pub const MAX_SAN: usize = 8;
/// Maximum other-names a request carries.
pub const MAX_OTHER_NAMES: usize = 4;
/// Maximum certificates besides the end-entity one (reply and policy CAs).
pub const MAX_CHAIN: usize = 6;
/// Maximum warnings kept (more are counted, not kept).
pub const MAX_WARNINGS: usize = 8;

/// What a `searchCertificate` reply said about the request's key.
#[derive(Debug)]
pub enum Search<'r> {
    /// A valid certificate for the request's key, checked like an issued one.
    Found(Issued<'r>),
    /// None on this page.
    NotFound {
        /// The CA has more pages: ask again from `next_index`.
        more: bool,
        /// `startIndex` of the next page.
        next_index: u32,
    },
}

fn warn(
    w: &mut heapless::Vec<ProfileWarning, MAX_WARNINGS>,
    dropped: &mut usize,
    x: ProfileWarning,
) {
    if w.push(x).is_err() {
        *dropped += 1;
    }
}

/// The engine.
pub struct Engine<'a, 'b> {
    req: IssueRequest<'a>,
    request: &'b mut [u8],
    token: &'b mut [u8],
    arena: Arena<'b>,
    state: State,
    subject: Range<usize>,
    email: Option<&'a str>,
    upn: Option<&'a str>,
    seat: &'a str,
    other: heapless::Vec<(Oid, Range<usize>, Range<usize>), MAX_OTHER_NAMES>,
    pairs: heapless::Vec<(Range<usize>, Range<usize>), 12>,
    cas: heapless::Vec<Range<usize>, MAX_CHAIN>,
    csr: Range<usize>,
    spki: Range<usize>,
    key: Option<KeyRequirements>,
    warnings: heapless::Vec<ProfileWarning, MAX_WARNINGS>,
    warnings_dropped: usize,
    pending: Option<Range<usize>>,
    ctid: heapless::String<160>,
    request_max: usize,
    last_len: usize,
    last: (Service, &'static str, usize),
    search_index: u32,
    outcome: Option<Stored>,
    token_len: usize,
    /// The SID's SAN URI (`tag:…:sid:S-…`) and the SID extension's DER
    /// value, in the arena, when the request carries a SID.
    sid_url: Option<Range<usize>>,
    sid_ext: Option<Range<usize>>,
}

/// Where a certificate of an outcome is.
#[derive(Debug, Clone)]
enum Place {
    /// In the token buffer.
    Token(Range<usize>),
    /// The policy's n-th CA certificate.
    Ca(usize),
}

/// An outcome, as ranges of the engine's buffers.
#[derive(Debug, Clone)]
enum Stored {
    Certificate {
        leaf: Range<usize>,
        chain: heapless::Vec<Place, MAX_CHAIN>,
        server_tx: Range<usize>,
    },
    Pending(Range<usize>),
}

/// The range `inner` occupies in `outer` (empty when it is not inside).
fn offset_in(outer: &[u8], inner: &[u8]) -> Range<usize> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize);
    match start {
        Some(s) if s + inner.len() <= outer.len() => s..s + inner.len(),
        _ => 0..0,
    }
}

/// How much of each buffer an issuance used (to size buffers on a device).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferUse {
    /// Largest request written.
    pub request: usize,
    /// Working storage used.
    pub work: usize,
    /// Decoded token size.
    pub token: usize,
}

impl<'a, 'b> Engine<'a, 'b> {
    /// Checks the request locally (profile OID, fallbacks, other-names, subject).
    pub fn new(req: IssueRequest<'a>, bufs: Buffers<'b>) -> Result<Self, Error> {
        let ctid = owned_ctid(req.client_transaction_id)?;
        let (_, w) = profile::parse_template(req.profile_oid)?;
        let mut warnings: heapless::Vec<ProfileWarning, MAX_WARNINGS> = heapless::Vec::new();
        let mut dropped = 0;
        if let Some(w) = w {
            warn(&mut warnings, &mut dropped, w);
        }
        let id = &req.identity;
        {
            let mut w = |x| warn(&mut warnings, &mut dropped, x);
            profile::check_value("cn", id.cn, req.strict, &mut w)?;
            if let Some(e) = id.email {
                profile::check_value("email", e, req.strict, &mut w)?;
            }
            if let Some(u) = id.upn {
                profile::check_value("upn", u, req.strict, &mut w)?;
            }
        }
        let needs_email =
            req.subject_format != SubjectFormat::CommonName || req.san.contains(&SanKindSel::Email);
        let email = if needs_email {
            let (e, w) = profile::resolve_email(id)?;
            if let Some(w) = w {
                warn(&mut warnings, &mut dropped, w);
            }
            Some(e)
        } else {
            id.email.filter(|e| !e.is_empty())
        };
        let upn = if req.san.contains(&SanKindSel::Upn) {
            let (u, w) = profile::resolve_upn(id)?;
            if let Some(w) = w {
                warn(&mut warnings, &mut dropped, w);
            }
            if let Some(w) = profile::upn_name_warning(u) {
                warn(&mut warnings, &mut dropped, w);
            }
            Some(u)
        } else {
            id.upn.filter(|u| !u.is_empty())
        };
        let seat = req.seat_id.or(email).or(upn).unwrap_or(id.cn);
        let mut arena = Arena {
            buf: bufs.work,
            used: 0,
        };
        // The subject, as certreq syntax, then checked by encoding it once.
        let subj_id = Identity { email, ..*id };
        let subject = {
            let start = arena.used;
            let s = req.subject_format.subject(&subj_id, arena.free())?;
            let n = s.len();
            arena.used += n;
            start..start + n
        };
        {
            let (head, free) = arena.buf.split_at_mut(arena.used);
            let s = core::str::from_utf8(head.get(subject.clone()).unwrap_or(&[])).unwrap_or("");
            let mut w = crate::asn1::DerWriter::new(free);
            crate::name::encode_subject(s, &mut w)?;
        }
        // Other-names: bytes (as a DER TLV for the CSR) and base64 (for the pair).
        let mut other = heapless::Vec::new();
        let mut values = req.other_names.iter();
        for kind in req.san {
            let SanKindSel::OtherName(o) = kind else {
                continue;
            };
            let input = values.next().copied().unwrap_or("");
            let mut bytes = [0u8; 256];
            let mut b64 = [0u8; 344];
            let v = profile::other_name_value(input, &mut bytes, &mut b64)?;
            if let Some(w) = v.warning {
                warn(&mut warnings, &mut dropped, w);
            }
            let der = arena.put(v.bytes)?;
            let b64 = arena.put(v.base64.as_bytes())?;
            other
                .push((*o, der, b64))
                .map_err(|_| CheckError::TooManyOtherNames {
                    max: MAX_OTHER_NAMES,
                })?;
        }
        // The SID (KB5014754): its SAN URI and its extension, made once.
        let (mut sid_url, mut sid_ext) = (None, None);
        if let Some(sid) = req.sid {
            let placement = req.sid_placement.ok_or(ProfileError::SidNotConfigured)?;
            profile::check_sid(sid)?;
            if placement.san_url() {
                let a = arena.put(profile::SID_URL_PREFIX.as_bytes())?;
                let b = arena.put(sid.as_bytes())?;
                sid_url = Some(a.start..b.end);
            }
            if placement.extension() {
                // GeneralNames { otherName { szOID_NTDS_OBJECTSID, [0] OCTET STRING "S-…" } },
                // as AD CS writes it (service.md §5).
                let mut octets = [0u8; 200];
                let mut w = crate::asn1::DerWriter::new(&mut octets);
                w.tlv(crate::asn1::tag::OCTET_STRING, sid.as_bytes());
                let n = w.finish()?;
                let mut value = [0u8; 256];
                let mut w = crate::asn1::DerWriter::new(&mut value);
                ext::write_san(
                    &mut w,
                    [Ok(GeneralName::OtherName {
                        oid: oid::NTDS_OBJECTSID,
                        der: octets.get(..n).unwrap_or(&[]),
                    })],
                )?;
                let m = w.finish()?;
                sid_ext = Some(arena.put(value.get(..m).unwrap_or(&[]))?);
            }
        }
        Ok(Engine {
            req,
            request: bufs.request,
            token: bufs.token,
            arena,
            state: State::New,
            subject,
            email,
            upn,
            seat,
            other,
            pairs: heapless::Vec::new(),
            cas: heapless::Vec::new(),
            csr: 0..0,
            spki: 0..0,
            key: None,
            warnings,
            warnings_dropped: dropped,
            pending: None,
            ctid,
            request_max: 0,
            last_len: 0,
            last: (Service::Policy, "", 0),
            search_index: 0,
            outcome: None,
            token_len: 0,
            sid_url,
            sid_ext,
        })
    }

    /// Buffer use so far.
    pub fn buffer_use(&self) -> BufferUse {
        BufferUse {
            request: self.request_max,
            work: self.arena.used,
            token: self.token_len,
        }
    }

    /// Warnings collected so far (fallbacks used, already-base64 values, …).
    pub fn warnings(&self) -> &[ProfileWarning] {
        &self.warnings
    }

    /// Warnings that did not fit [`MAX_WARNINGS`].
    pub fn warnings_dropped(&self) -> usize {
        self.warnings_dropped
    }

    /// The clientTransactionID the requests carry.
    pub fn client_transaction_id(&self) -> &str {
        &self.ctid
    }

    /// Changes the clientTransactionID (a new attempt after the CA refused).
    pub fn set_client_transaction_id(&mut self, id: &str) -> Result<(), Error> {
        self.ctid = owned_ctid(id)?;
        Ok(())
    }

    /// The seat id the request is counted against (e-mail ← UPN ← CN unless given).
    pub fn seat(&self) -> &str {
        self.seat
    }

    /// The subject the request will carry (certreq syntax).
    pub fn subject(&self) -> &str {
        self.arena.str(&self.subject)
    }

    /// The `getPolicies` request for the profile.
    pub fn policy_request(&mut self) -> Result<Request<'_>, Error> {
        if self.state != State::New && self.state != State::PolicySent {
            return Err(PkiwsError::WrongState.into());
        }
        let body = policy::write_request(Some(&self.ctid), &[self.req.profile_oid], self.request)
            .map_err(|e| buffer(e, "request"))?;
        self.state = State::PolicySent;
        self.last = (Service::Policy, Service::Policy.action(), body.len());
        Ok(Request {
            service: Service::Policy,
            path: Service::Policy.path(),
            soap_action: Service::Policy.action(),
            body,
        })
    }

    /// Reads the policy reply: faults, the profile's attributes, the pre-send
    /// check, the CA certificates. Returns what the device key must be.
    pub fn on_policy_reply(
        &mut self,
        http_status: u16,
        body: &[u8],
    ) -> Result<KeyRequirements, Error> {
        if self.state != State::PolicySent {
            return Err(PkiwsError::WrongState.into());
        }
        let doc = crate::pkiws::reply_text(http_status, body)?;
        let mut p = policy::Policy::empty();
        policy::parse_response_into(doc, self.req.profile_oid, &mut p).map_err(pk)?;
        let planned = check::plan(
            &p,
            self.req.subject_format,
            self.req.san,
            self.req.overrides,
        )?;
        self.pairs.clear();
        for pp in &planned {
            let value: &str = match pp.value {
                ValueOf::SubjectCn => match self.req.subject_format {
                    SubjectFormat::CommonNameAsEmail => self.email.unwrap_or(""),
                    _ => self.req.identity.cn,
                },
                ValueOf::Email => self.email.unwrap_or(""),
                ValueOf::Upn => self.upn.unwrap_or(""),
                ValueOf::Seat => self.seat,
                ValueOf::Fixed => "",
                ValueOf::OtherName(i) => {
                    let r = self.other.get(i).map(|o| o.2.clone()).unwrap_or(0..0);
                    let n = self.arena.put(pp.name.as_bytes())?;
                    self.pairs
                        .push((n, r))
                        .map_err(|_| CheckError::TooManyPairs)?;
                    continue;
                }
            };
            let n = self.arena.put(pp.name.as_bytes())?;
            let v = self.arena.put(value.as_bytes())?;
            self.pairs
                .push((n, v))
                .map_err(|_| CheckError::TooManyPairs)?;
        }
        if let (Some(sid), Some(placement)) = (self.req.sid, self.req.sid_placement) {
            if let Some((name, url)) = check::sid_pair(&p, placement, self.req.overrides) {
                let n = self.arena.put(name.as_bytes())?;
                let v = match (&self.sid_url, url) {
                    (Some(r), true) => r.clone(),
                    _ => self.arena.put(sid.as_bytes())?,
                };
                self.pairs
                    .push((n, v))
                    .map_err(|_| CheckError::TooManyPairs)?;
            }
        }
        self.cas.clear();
        for ca in &p.cas {
            for t in ca.certificates() {
                let start = self.arena.used;
                let der = t
                    .base64("cA certificate", self.arena.free())
                    .map_err(|e| buffer_at(e, "work", start))?;
                let n = der.len();
                CertificateRef::parse(self.arena.buf.get(start..start + n).unwrap_or(&[]))?;
                self.arena.used += n;
                self.cas
                    .push(start..start + n)
                    .map_err(|_| PkiwsError::TooManyCertificates { max: MAX_CHAIN })?;
            }
        }
        let rsa = p
            .key_algorithm
            .is_none_or(|a| a.eq_str("1.2.840.113549.1.1.1"));
        let k = KeyRequirements {
            key_size: p.key_size,
            rsa,
            exportable: p.key_exportable,
            validity_days: p.validity_days,
        };
        self.key = Some(k);
        self.state = State::PolicyRead;
        Ok(k)
    }

    /// The nameValuePairs the enrollment will carry.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs
            .iter()
            .map(|(n, v)| (self.arena.str(n), self.arena.str(v)))
    }

    /// Builds the CSR with the device key and the enrollment request.
    pub fn enroll_request<S: Signer + ?Sized>(&mut self, signer: &S) -> Result<Request<'_>, Error> {
        if self.state != State::PolicyRead {
            return Err(PkiwsError::WrongState.into());
        }
        if let Some(KeyRequirements {
            key_size: Some(bits),
            rsa: true,
            ..
        }) = self.key
        {
            let kind = SpkiRef::parse(signer.public_key_der())?.kind();
            if matches!(kind, KeyKind::Rsa(b) if b != bits) || !matches!(kind, KeyKind::Rsa(_)) {
                return Err(PkiwsError::KeyNotAsPolicy { policy_bits: bits }.into());
            }
        }
        let start = self.arena.used;
        let (head, free) = self.arena.buf.split_at_mut(start);
        let head: &[u8] = head;
        // SAN entries from the resolved values.
        let mut san: heapless::Vec<GeneralName<'_>, MAX_SAN> = heapless::Vec::new();
        let mut oi = self.other.iter();
        for k in self.req.san {
            let g = match k {
                SanKindSel::Email => GeneralName::Email(self.email.unwrap_or("")),
                SanKindSel::Upn => GeneralName::Upn(self.upn.unwrap_or("")),
                SanKindSel::OtherName(o) => {
                    let Some((_, der, _)) = oi.next() else {
                        continue;
                    };
                    GeneralName::OtherName {
                        oid: *o,
                        der: head.get(der.clone()).unwrap_or(&[]),
                    }
                }
            };
            san.push(g)
                .map_err(|_| CheckError::TooManySanEntries { max: MAX_SAN })?;
        }
        if let Some(r) = &self.sid_url {
            let url = core::str::from_utf8(head.get(r.clone()).unwrap_or(&[])).unwrap_or("");
            san.push(GeneralName::Uri(url))
                .map_err(|_| CheckError::TooManySanEntries { max: MAX_SAN })?;
        }
        let sid_ext = self.sid_ext.as_ref().map(|r| RawExtension {
            oid: oid::NTDS_CA_SECURITY_EXT,
            critical: false,
            value: head.get(r.clone()).unwrap_or(&[]),
        });
        let extra: &[RawExtension<'_>] = match &sid_ext {
            Some(e) => core::slice::from_ref(e),
            None => &[],
        };
        let subject =
            core::str::from_utf8(head.get(self.subject.clone()).unwrap_or(&[])).unwrap_or("");
        let spec = CsrSpec {
            san: if san.is_empty() {
                SanSource::None
            } else {
                SanSource::Names(&san)
            },
            extra,
            ..CsrSpec::new(subject)
        };
        let n = csr::build(&spec, signer, free)
            .map_err(|e| match e {
                Error::Der(crate::asn1::DerError::BufferTooSmall(b)) => {
                    Error::Buffer(crate::error::BufferTooSmall {
                        buffer: "work",
                        needed: start + b.needed,
                    })
                }
                e => e,
            })?
            .len();
        drop(san);
        self.arena.used += n;
        self.csr = start..start + n;
        self.spki = self.csr_spki_range()?;
        self.write_enroll(None)
    }

    /// Where the CSR's SubjectPublicKeyInfo sits in the arena.
    fn csr_spki_range(&self) -> Result<Range<usize>, Error> {
        let csr = CsrRef::parse(self.arena.get(&self.csr))?;
        let off = (csr.spki.der.raw.as_ptr() as usize)
            .checked_sub(self.arena.buf.as_ptr() as usize)
            .ok_or(PkiwsError::WrongState)?;
        Ok(off..off + csr.spki.der.raw.len())
    }

    /// Takes up an enrollment sent before (by an earlier process): `body` is
    /// the exact `RequestSecurityToken` that was sent. The CSR it carries is
    /// the one later replies are checked against. Call after the policy reply.
    pub fn resume_sent(&mut self, body: &str) -> Result<(), Error> {
        if self.state != State::PolicyRead {
            return Err(PkiwsError::WrongState.into());
        }
        let r = enroll::parse_request(body)?;
        let csr = r.csr.ok_or(XmlError::Missing {
            what: "binarySecurityToken",
        })?;
        let start = self.arena.used;
        let n = csr
            .base64("binarySecurityToken", self.arena.free())
            .map_err(|e| buffer_at(e, "work", start))?
            .len();
        self.arena.used += n;
        self.csr = start..start + n;
        self.spki = self.csr_spki_range()?;
        self.state = State::EnrollSent;
        Ok(())
    }

    /// The key the certificate must be for (SubjectPublicKeyInfo DER), when
    /// no CSR was built in this run (a pending request taken up again).
    pub fn expect_key(&mut self, spki: &[u8]) -> Result<(), Error> {
        self.spki = self.arena.put(spki)?;
        Ok(())
    }

    /// A request the CA holds for approval under `reference`: the next
    /// request is [`Engine::poll_request`]. Call after the policy reply.
    pub fn set_pending(&mut self, reference: &str) -> Result<(), Error> {
        if self.state != State::PolicyRead {
            return Err(PkiwsError::WrongState.into());
        }
        self.pending = Some(self.arena.put(reference.as_bytes())?);
        Ok(())
    }

    /// The SubjectPublicKeyInfo replies are checked against (empty until
    /// a CSR was built or a key given).
    pub fn expected_key(&self) -> &[u8] {
        self.arena.get(&self.spki)
    }

    /// The `searchCertificate` request for valid certificates of this
    /// request's seat under its profile, from `start_index` on.
    pub fn search_request(&mut self, start_index: u32) -> Result<Request<'_>, Error> {
        if self.state != State::EnrollSent || self.spki.is_empty() {
            return Err(PkiwsError::WrongState.into());
        }
        self.search_index = start_index;
        let body = search::write_request(
            &SearchRequest {
                client_transaction_id: Some(&self.ctid),
                seat_id: Some(self.seat),
                profile_oid: Some(self.req.profile_oid),
                common_name: Some(self.expected_cn()),
                status: Some("VALID"),
                serial_number: None,
                start_index,
            },
            self.request,
        )
        .map_err(|e| buffer(e, "request"))?;
        self.request_max = self.request_max.max(body.len());
        self.last = (Service::Management, search::ACTION_SEARCH, body.len());
        Ok(Request {
            service: Service::Management,
            path: Service::Management.path(),
            soap_action: search::ACTION_SEARCH,
            body,
        })
    }

    /// Reads a `searchCertificate` reply: a valid certificate for the
    /// request's key, checked as an issued one would be, or none on this page.
    /// Reads a `searchCertificate` reply: a valid certificate for the
    /// request's key, checked as an issued one would be, or none on this page.
    pub fn on_search_reply(&mut self, http_status: u16, body: &[u8]) -> Result<Search<'_>, Error> {
        match self.read_search_reply(http_status, body)? {
            Some((more, next_index)) => Ok(Search::NotFound { more, next_index }),
            None => Ok(Search::Found(self.outcome().ok_or(PkiwsError::WrongState)?)),
        }
    }

    /// [`Engine::on_search_reply`] without the borrow: `None` when a
    /// certificate was found (read it with [`Engine::outcome`]), else
    /// whether more pages follow and where the next starts.
    pub fn read_search_reply(
        &mut self,
        http_status: u16,
        body: &[u8],
    ) -> Result<Option<(bool, u32)>, Error> {
        if self.state != State::EnrollSent || self.spki.is_empty() {
            return Err(PkiwsError::WrongState.into());
        }
        self.outcome = None;
        let doc = crate::pkiws::reply_text(http_status, body)?;
        let want = self.arena.get(&self.spki);
        let token = &mut *self.token;
        let mut found = 0usize;
        let summary = search::parse_response(doc, |c| {
            if found > 0 || !c.status.is_none_or(|s| s.eq_str("VALID")) {
                return Ok(());
            }
            let Some(t) = c.certificate else {
                return Ok(());
            };
            let der = t.base64("certificate", token)?;
            if CertificateRef::parse(der).is_ok_and(|x| x.spki.der.raw == want) {
                found = der.len();
            }
            Ok(())
        })
        .map_err(pk_xml)?;
        if found == 0 {
            return Ok(Some((
                summary.more && summary.listed > 0,
                self.search_index + summary.listed,
            )));
        }
        self.token_len = found;
        let leaf = CertificateRef::parse(self.token.get(..found).unwrap_or(&[]))?;
        self.verify_leaf(&leaf)?;
        let mut chain: heapless::Vec<Place, MAX_CHAIN> = heapless::Vec::new();
        for i in 0..self.cas.len() {
            chain
                .push(Place::Ca(i))
                .map_err(|_| PkiwsError::TooManyCertificates { max: MAX_CHAIN })?;
        }
        self.state = State::Done;
        self.outcome = Some(Stored::Certificate {
            leaf: 0..found,
            chain,
            server_tx: 0..0,
        });
        Ok(None)
    }

    fn write_enroll(&mut self, pending: Option<Range<usize>>) -> Result<Request<'_>, Error> {
        let mut pairs: heapless::Vec<(&str, &str), 12> = heapless::Vec::new();
        if pending.is_none() {
            for (n, v) in &self.pairs {
                pairs
                    .push((self.arena.str(n), self.arena.str(v)))
                    .map_err(|_| CheckError::TooManyPairs)?;
            }
        }
        let r = EnrollRequest {
            profile_oid: self.req.profile_oid,
            client_transaction_id: Some(&self.ctid),
            csr_der: if pending.is_none() {
                Some(self.arena.get(&self.csr))
            } else {
                None
            },
            pending_reference: pending.as_ref().map(|p| self.arena.str(p)),
            name_value_pairs: &pairs,
        };
        let body = enroll::write_request(&r, self.request).map_err(|e| buffer(e, "request"))?;
        self.request_max = self.request_max.max(body.len());
        self.last_len = body.len();
        self.last = (
            Service::Enrollment,
            Service::Enrollment.action(),
            body.len(),
        );
        self.state = State::EnrollSent;
        Ok(Request {
            service: Service::Enrollment,
            path: Service::Enrollment.path(),
            soap_action: Service::Enrollment.action(),
            body,
        })
    }

    /// The request to poll a pending enrollment (same clientTransactionID).
    pub fn poll_request(&mut self) -> Result<Request<'_>, Error> {
        let p = self.pending.clone().ok_or(PkiwsError::WrongState)?;
        self.write_enroll(Some(p))
    }

    /// The last request written, as [`Engine::policy_request`],
    /// [`Engine::enroll_request`], [`Engine::poll_request`] or
    /// [`Engine::search_request`] returned it.
    pub fn last_sent(&self) -> Request<'_> {
        let (service, soap_action, n) = self.last;
        Request {
            service,
            path: service.path(),
            soap_action,
            body: core::str::from_utf8(self.request.get(..n).unwrap_or(&[])).unwrap_or(""),
        }
    }

    /// The last enrollment request written (the body of the last
    /// [`Engine::enroll_request`] or [`Engine::poll_request`]).
    pub fn last_request(&self) -> &str {
        core::str::from_utf8(self.request.get(..self.last_len).unwrap_or(&[])).unwrap_or("")
    }

    /// The CSR sent (DER).
    pub fn csr(&self) -> &[u8] {
        self.arena.get(&self.csr)
    }

    /// Reads the enrollment reply and checks the certificate.
    pub fn on_enroll_reply(&mut self, http_status: u16, body: &[u8]) -> Result<Issued<'_>, Error> {
        self.read_enroll_reply(http_status, body)?;
        self.outcome().ok_or(PkiwsError::WrongState.into())
    }

    /// [`Engine::on_enroll_reply`] without the borrow: the outcome is then
    /// read with [`Engine::outcome`].
    pub fn read_enroll_reply(&mut self, http_status: u16, body: &[u8]) -> Result<(), Error> {
        if self.state != State::EnrollSent {
            return Err(PkiwsError::WrongState.into());
        }
        self.outcome = None;
        let doc = crate::pkiws::reply_text(http_status, body)?;
        let r = enroll::parse_response(doc).map_err(pk)?;
        let server_tx = match r.server_transaction_id.and_then(|t| t.plain()) {
            Some(s) => self.arena.put(s.as_bytes())?,
            None => 0..0,
        };
        let (token, _) = match r.outcome {
            Outcome::Pending { reference } => {
                let p = self.arena.put(reference.plain().unwrap_or("").as_bytes())?;
                self.pending = Some(p.clone());
                self.state = State::PolicyRead;
                self.outcome = Some(Stored::Pending(p));
                return Ok(());
            }
            Outcome::Issued { token, value_type } => (token, value_type),
        };
        let n = token
            .base64("binarySecurityToken", self.token)
            .map_err(|e| buffer(e, "token"))?
            .len();
        self.token_len = n;
        self.state = State::Done;
        let der: &[u8] = self.token.get(..n).unwrap_or(&[]);
        let spki = self.arena.get(&self.spki);
        let too_many = |_| PkiwsError::TooManyCertificates { max: MAX_CHAIN };
        let mut leaf: Option<CertificateRef<'_>> = None;
        let mut chain: heapless::Vec<Place, MAX_CHAIN> = heapless::Vec::new();
        let at = |inner: &[u8]| Place::Token(offset_in(der, inner));
        if let Ok(p7) = Pkcs7Ref::parse(der) {
            for c in p7.certificates() {
                let c = c?;
                if c.spki.der.raw == spki && leaf.is_none() {
                    leaf = Some(c);
                } else {
                    chain.push(at(c.der)).map_err(too_many)?;
                }
            }
        } else {
            let c = CertificateRef::parse(der).map_err(|_| PkiwsError::BadToken)?;
            if c.spki.der.raw == spki {
                leaf = Some(c);
            }
        }
        let leaf = match leaf {
            Some(l) => l,
            None if chain.is_empty() && Pkcs7Ref::parse(der).is_ok() => {
                return Err(PkiwsError::EmptyToken.into())
            }
            None => return Err(PkiwsError::KeyMismatch.into()),
        };
        self.verify_leaf(&leaf)?;
        for (i, r) in self.cas.iter().enumerate() {
            let c = self.arena.get(r);
            let dup = chain.iter().any(|p| match p {
                Place::Token(t) => der.get(t.clone()) == Some(c),
                Place::Ca(_) => false,
            });
            if !dup {
                chain.push(Place::Ca(i)).map_err(too_many)?;
            }
        }
        self.outcome = Some(Stored::Certificate {
            leaf: offset_in(der, leaf.der),
            chain,
            server_tx,
        });
        Ok(())
    }

    /// The outcome of the last enrollment or search reply read.
    pub fn outcome(&self) -> Option<Issued<'_>> {
        match self.outcome.as_ref()? {
            Stored::Pending(p) => Some(Issued::Pending {
                reference: self.arena.str(p),
            }),
            Stored::Certificate {
                leaf,
                chain,
                server_tx,
            } => {
                let mut c: heapless::Vec<&[u8], MAX_CHAIN> = heapless::Vec::new();
                for p in chain {
                    let d = match p {
                        Place::Token(r) => self.token.get(r.clone()).unwrap_or(&[]),
                        Place::Ca(i) => self.cas.get(*i).map_or(&[][..], |r| self.arena.get(r)),
                    };
                    // Cannot overflow: `chain` has the same capacity.
                    let _ = c.push(d);
                }
                Some(Issued::Certificate {
                    certificate: self.token.get(leaf.clone()).unwrap_or(&[]),
                    chain: c,
                    server_transaction_id: self.arena.str(server_tx),
                })
            }
        }
    }

    /// The common name the certificate must carry.
    fn expected_cn(&self) -> &'a str {
        match self.req.subject_format {
            SubjectFormat::CommonNameAsEmail => self.email.unwrap_or(""),
            _ => self.req.identity.cn,
        }
    }

    fn verify_leaf(&self, c: &CertificateRef<'_>) -> Result<(), Error> {
        let want_cn = self.expected_cn();
        let mism = |field| Error::Pkiws(PkiwsError::CertificateMismatch { field });
        if c.subject.find_text(&oid::CN) != Some(want_cn) {
            return Err(mism(Field::SubjectCn));
        }
        if self.req.subject_format == SubjectFormat::CommonNameIncludingEmail
            && c.subject.find_text(&oid::EMAIL) != self.email
        {
            return Err(mism(Field::SubjectEmail));
        }
        let mut oi = self.other.iter();
        for k in self.req.san {
            let (field, found) = match k {
                SanKindSel::Email => (
                    Field::SanEmail,
                    san_has(
                        c,
                        |g| matches!(g, GeneralNameRef::Email(e) if Some(e) == self.email),
                    ),
                ),
                SanKindSel::Upn => (
                    Field::SanUpn,
                    san_has(
                        c,
                        |g| matches!(g, GeneralNameRef::Upn(u) if Some(u) == self.upn),
                    ),
                ),
                SanKindSel::OtherName(o) => {
                    let want = oi.next().map(|x| self.arena.get(&x.1)).unwrap_or(&[]);
                    (
                        Field::SanOtherName,
                        san_has(
                            c,
                            |g| matches!(g, GeneralNameRef::OtherName { oid, value } if oid == *o && value.raw == want),
                        ),
                    )
                }
            };
            if !found {
                return Err(mism(field));
            }
        }
        if let Some(r) = &self.sid_url {
            let url = core::str::from_utf8(self.arena.get(r)).unwrap_or("");
            if !san_has(c, |g| matches!(g, GeneralNameRef::Uri(u) if u == url)) {
                return Err(mism(Field::Sid));
            }
        }
        if let Some(r) = &self.sid_ext {
            let want = self.arena.get(r);
            if c.extension(&oid::NTDS_CA_SECURITY_EXT).map(|e| e.value) != Some(want) {
                return Err(mism(Field::Sid));
            }
        }
        Ok(())
    }
}

fn san_has<F: Fn(GeneralNameRef<'_>) -> bool>(c: &CertificateRef<'_>, f: F) -> bool {
    let mut hit = false;
    let _ = c.for_each_san(|g| {
        hit |= f(g);
        Ok(())
    });
    hit
}

/// Copies a clientTransactionID after checking it (at most 40 characters).
fn owned_ctid(id: &str) -> Result<heapless::String<160>, Error> {
    crate::xml::check_transaction_id(id)?;
    let mut s = heapless::String::new();
    s.push_str(id).map_err(|_| XmlError::TransactionIdTooLong {
        len: id.chars().count(),
    })?;
    Ok(s)
}

/// A short caller buffer, named.
fn buffer(e: XmlError, which: &'static str) -> Error {
    buffer_at(e, which, 0)
}

/// A short caller buffer, named; `offset` is where the write started in it.
fn buffer_at(e: XmlError, which: &'static str, offset: usize) -> Error {
    match e {
        XmlError::BufferTooSmall(crate::error::BufferTooSmall { needed, .. }) => {
            Error::Buffer(crate::error::BufferTooSmall {
                buffer: which,
                needed: offset + needed,
            })
        }
        e => Error::Xml(e),
    }
}

/// An XML problem of a reply is reported as such.
fn pk_xml(e: XmlError) -> Error {
    Error::Xml(e)
}

/// An XML problem is reported as such, not wrapped.
fn pk(e: PkiwsError) -> Error {
    match e {
        PkiwsError::Xml(x) => Error::Xml(x),
        e => Error::Pkiws(e),
    }
}
