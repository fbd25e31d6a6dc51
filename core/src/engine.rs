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

use core::ops::Range;

use crate::cert::{CertificateRef, Pkcs7Ref};
use crate::csr::{self, CsrRef, CsrSpec, SanSource, Signer};
use crate::error::Error;
use crate::ext::{GeneralName, GeneralNameRef};
use crate::oid::{self, Oid};
use crate::pkiws::check::{self, Field, Override, ValueOf};
use crate::pkiws::enroll::{self, EnrollRequest, Outcome};
use crate::pkiws::{policy, PkiwsError, ACTION_ENROLL, ACTION_POLICY, PATH_ENROLL, PATH_POLICY};
use crate::profile::{self, Identity, ProfileWarning, SanKindSel, SubjectFormat};
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
        chain: heapless::Vec<&'r [u8], 6>,
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
        let dst = self
            .buf
            .get_mut(self.used..end)
            .ok_or(XmlError::BufferTooSmall { needed: end })?;
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
    other: heapless::Vec<(Oid, Range<usize>, Range<usize>), 4>,
    pairs: heapless::Vec<(Range<usize>, Range<usize>), 12>,
    cas: heapless::Vec<Range<usize>, 6>,
    csr: Range<usize>,
    key: Option<KeyRequirements>,
    warnings: heapless::Vec<ProfileWarning, 8>,
    pending: Option<Range<usize>>,
    request_max: usize,
    token_len: usize,
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
        crate::xml::check_transaction_id(req.client_transaction_id)?;
        let (_, w) = profile::parse_template(req.profile_oid)?;
        let mut warnings: heapless::Vec<ProfileWarning, 8> = heapless::Vec::new();
        if let Some(w) = w {
            let _ = warnings.push(w);
        }
        let id = &req.identity;
        let needs_email =
            req.subject_format != SubjectFormat::CommonName || req.san.contains(&SanKindSel::Email);
        let email = if needs_email {
            let (e, w) = profile::resolve_email(id)?;
            if let Some(w) = w {
                let _ = warnings.push(w);
            }
            Some(e)
        } else {
            id.email.filter(|e| !e.is_empty())
        };
        let upn = if req.san.contains(&SanKindSel::Upn) {
            let (u, w) = profile::resolve_upn(id)?;
            if let Some(w) = w {
                let _ = warnings.push(w);
            }
            if let Some(w) = profile::upn_name_warning(u) {
                let _ = warnings.push(w);
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
                let _ = warnings.push(w);
            }
            let der = arena.put(v.bytes)?;
            let b64 = arena.put(v.base64.as_bytes())?;
            other.push((*o, der, b64)).map_err(|_| XmlError::TooMany {
                what: "other-names",
            })?;
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
            key: None,
            warnings,
            pending: None,
            request_max: 0,
            token_len: 0,
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

    /// The subject the request will carry (certreq syntax).
    pub fn subject(&self) -> &str {
        self.arena.str(&self.subject)
    }

    /// The `getPolicies` request for the profile.
    pub fn policy_request(&mut self) -> Result<Request<'_>, Error> {
        if self.state != State::New && self.state != State::PolicySent {
            return Err(PkiwsError::WrongState.into());
        }
        let body = policy::write_request(
            Some(self.req.client_transaction_id),
            &[self.req.profile_oid],
            self.request,
        )?;
        self.state = State::PolicySent;
        Ok(Request {
            path: PATH_POLICY,
            soap_action: ACTION_POLICY,
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
        let p = policy::parse_response(doc, self.req.profile_oid).map_err(pk)?;
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
                        .map_err(|_| XmlError::TooMany { what: "pairs" })?;
                    continue;
                }
            };
            let n = self.arena.put(pp.name.as_bytes())?;
            let v = self.arena.put(value.as_bytes())?;
            self.pairs
                .push((n, v))
                .map_err(|_| XmlError::TooMany { what: "pairs" })?;
        }
        self.cas.clear();
        for ca in &p.cas {
            for t in ca
                .certificate
                .iter()
                .chain(ca.intermediates.iter())
                .chain(ca.root.iter())
            {
                let start = self.arena.used;
                let der = t.base64("cA certificate", self.arena.free())?;
                let n = der.len();
                CertificateRef::parse(self.arena.buf.get(start..start + n).unwrap_or(&[]))?;
                self.arena.used += n;
                let _ = self.cas.push(start..start + n);
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
            san.push(g).map_err(|_| XmlError::TooMany {
                what: "SAN entries",
            })?;
        }
        let subject =
            core::str::from_utf8(head.get(self.subject.clone()).unwrap_or(&[])).unwrap_or("");
        let spec = CsrSpec {
            san: if san.is_empty() {
                SanSource::None
            } else {
                SanSource::Names(&san)
            },
            ..CsrSpec::new(subject)
        };
        let n = csr::build(&spec, signer, free)
            .map_err(|e| match e {
                Error::Der(crate::asn1::DerError::BufferTooSmall { needed }) => {
                    Error::Xml(XmlError::BufferTooSmall {
                        needed: start + needed,
                    })
                }
                e => e,
            })?
            .len();
        drop(san);
        self.arena.used += n;
        self.csr = start..start + n;
        self.write_enroll(None)
    }

    fn write_enroll(&mut self, pending: Option<Range<usize>>) -> Result<Request<'_>, Error> {
        let mut pairs: heapless::Vec<(&str, &str), 12> = heapless::Vec::new();
        if pending.is_none() {
            for (n, v) in &self.pairs {
                let _ = pairs.push((self.arena.str(n), self.arena.str(v)));
            }
        }
        let r = EnrollRequest {
            profile_oid: self.req.profile_oid,
            client_transaction_id: Some(self.req.client_transaction_id),
            csr_der: if pending.is_none() {
                Some(self.arena.get(&self.csr))
            } else {
                None
            },
            pending_reference: pending.as_ref().map(|p| self.arena.str(p)),
            name_value_pairs: &pairs,
        };
        let body = enroll::write_request(&r, self.request)?;
        self.request_max = self.request_max.max(body.len());
        self.state = State::EnrollSent;
        Ok(Request {
            path: PATH_ENROLL,
            soap_action: ACTION_ENROLL,
            body,
        })
    }

    /// The request to poll a pending enrollment (same clientTransactionID).
    pub fn poll_request(&mut self) -> Result<Request<'_>, Error> {
        let p = self.pending.clone().ok_or(PkiwsError::WrongState)?;
        self.write_enroll(Some(p))
    }

    /// The CSR sent (DER).
    pub fn csr(&self) -> &[u8] {
        self.arena.get(&self.csr)
    }

    /// Reads the enrollment reply and checks the certificate.
    pub fn on_enroll_reply(&mut self, http_status: u16, body: &[u8]) -> Result<Issued<'_>, Error> {
        if self.state != State::EnrollSent {
            return Err(PkiwsError::WrongState.into());
        }
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
                return Ok(Issued::Pending {
                    reference: self.arena.str(&p),
                });
            }
            Outcome::Issued { token, value_type } => (token, value_type),
        };
        let n = token.base64("binarySecurityToken", self.token)?.len();
        self.token_len = n;
        self.state = State::Done;
        let der: &[u8] = self.token.get(..n).unwrap_or(&[]);
        let csr = CsrRef::parse(self.arena.get(&self.csr))?;
        let spki = csr.spki.der.raw;
        let mut leaf: Option<CertificateRef<'_>> = None;
        let mut chain: heapless::Vec<&[u8], 6> = heapless::Vec::new();
        if let Ok(p7) = Pkcs7Ref::parse(der) {
            for c in p7.certificates() {
                let c = c?;
                if c.spki.der.raw == spki && leaf.is_none() {
                    leaf = Some(c);
                } else {
                    let _ = chain.push(c.der);
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
        for r in &self.cas {
            let c = self.arena.get(r);
            if !chain.contains(&c) {
                let _ = chain.push(c);
            }
        }
        Ok(Issued::Certificate {
            certificate: leaf.der,
            chain,
            server_transaction_id: self.arena.str(&server_tx),
        })
    }

    fn verify_leaf(&self, c: &CertificateRef<'_>) -> Result<(), Error> {
        let want_cn = match self.req.subject_format {
            SubjectFormat::CommonNameAsEmail => self.email.unwrap_or(""),
            _ => self.req.identity.cn,
        };
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

/// An XML problem is reported as such, not wrapped.
fn pk(e: PkiwsError) -> Error {
    match e {
        PkiwsError::Xml(x) => Error::Xml(x),
        e => Error::Pkiws(e),
    }
}
