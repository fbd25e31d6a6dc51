//! The issuance record: where one request id's transaction stands, in
//! compact, versioned bytes that a host stores as they are — a file on a
//! server, a column in a database, an item in a flash map.
//!
//! ```text
//! version 2 (written by this release):
//!   "RC" 2 state generation:u16  fingerprint[32] key_digest[32]
//!   ctid:u8-len  key_ref:u8-len  request_id:u8-len
//!   state 1 KeyMade : —
//!   state 2 Sent    : body:u32-len          (the exact RequestSecurityToken sent)
//!   state 3 Pending : reference:u8-len  server_tx:u8-len
//!   state 4 Issued  : server_tx:u8-len  certificate:u16-len  count:u8 (chain entry:u16-len)*
//!   state 5 Failed  : code:u8-len           (the CA refused; the next attempt has a new ctid)
//!   check[8] = SHA-256(everything before)[..8]
//! version 3 (written for state 6 only, so that a release reading up to
//! version 2 refuses a revoked record as newer rather than replaying it):
//!   as version 2, and
//!   state 6 Revoked : the Issued fields, reason:u8 (RFC 5280 CRLReason) revoked_at:u64 (Unix s)
//! version 1 (raconn-embedded 0.1 flash records, read only):
//!   1 state(1 key made, 2 sent, 3 issued) slot ctid:u8-len fingerprint[32] cert:u16-len
//! ```
//! All lengths are big-endian. `key_digest` is SHA-256 of the device key's
//! SubjectPublicKeyInfo (all zero: not known, version 1). A record from a
//! newer version is refused ([`TxError::RecordTooNew`]), never guessed at;
//! a record whose check does not match is [`TxError::RecordCorrupt`].

use sha2::{Digest, Sha256};

use crate::buf::SliceWriter;
use crate::error::Error;
use crate::issuance::TxError;

/// The newest record format this release reads (and writes, for a revoked
/// certificate; every other state is written as version 2).
pub const VERSION: u8 = 3;
const MAGIC: &[u8; 2] = b"RC";
const CHECK: usize = 8;

/// Where a transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RecordState {
    /// The device key is made; nothing was sent.
    KeyMade,
    /// The enrollment was sent (the CA may have issued).
    Sent,
    /// The CA holds the request for approval.
    Pending,
    /// The certificate is stored.
    Issued,
    /// The CA refused the last attempt; the next one uses a new clientTransactionID.
    Failed,
    /// The certificate was issued and then revoked.
    Revoked,
}

impl RecordState {
    const fn byte(self) -> u8 {
        match self {
            Self::KeyMade => 1,
            Self::Sent => 2,
            Self::Pending => 3,
            Self::Issued => 4,
            Self::Failed => 5,
            Self::Revoked => 6,
        }
    }

    /// The format version a record in this state is written as.
    pub const fn version(self) -> u8 {
        match self {
            Self::Revoked => 3,
            _ => 2,
        }
    }

    /// Lower-case name (`key_made`, `sent`, `pending`, `issued`, `failed`, `revoked`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::KeyMade => "key_made",
            Self::Sent => "sent",
            Self::Pending => "pending",
            Self::Issued => "issued",
            Self::Failed => "failed",
            Self::Revoked => "revoked",
        }
    }
}

/// How and when a certificate was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Revocation {
    /// The reason as an RFC 5280 CRLReason code.
    pub reason: u8,
    /// When the CA accepted it (Unix seconds, the host's clock).
    pub at: u64,
}

/// The certificates beside the issued one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chain<'r> {
    /// Given as a list (to encode).
    List(&'r [&'r [u8]]),
    /// As stored: `count` entries of u16-length + DER.
    Encoded {
        /// Entries.
        count: u8,
        /// The entries' bytes.
        bytes: &'r [u8],
    },
}

impl<'r> Chain<'r> {
    /// No chain.
    pub const EMPTY: Chain<'static> = Chain::List(&[]);

    /// The certificates, in order.
    pub fn iter(&self) -> ChainIter<'r> {
        match *self {
            Chain::List(l) => ChainIter::List(l.iter()),
            Chain::Encoded { count, bytes } => ChainIter::Encoded { left: count, bytes },
        }
    }

    /// How many certificates.
    pub fn len(&self) -> usize {
        match self {
            Chain::List(l) => l.len(),
            Chain::Encoded { count, .. } => usize::from(*count),
        }
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Iterator over a [`Chain`].
#[derive(Debug, Clone)]
pub enum ChainIter<'r> {
    /// Over a list.
    List(core::slice::Iter<'r, &'r [u8]>),
    /// Over stored entries.
    Encoded {
        /// Entries left.
        left: u8,
        /// Their bytes.
        bytes: &'r [u8],
    },
}

impl<'r> Iterator for ChainIter<'r> {
    type Item = &'r [u8];
    fn next(&mut self) -> Option<&'r [u8]> {
        match self {
            ChainIter::List(i) => i.next().copied(),
            ChainIter::Encoded { left, bytes } => {
                if *left == 0 {
                    return None;
                }
                let mut r = Reader { b: bytes, pos: 0 };
                let n = usize::from(r.u16().ok()?);
                let c = r.take(n).ok()?;
                *bytes = bytes.get(2 + n..).unwrap_or(&[]);
                *left -= 1;
                Some(c)
            }
        }
    }
}

/// One record, borrowed (decoded from bytes, or assembled to encode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'r> {
    /// Format version it was read from ([`VERSION`] when written).
    pub version: u8,
    /// Where the transaction stands.
    pub state: RecordState,
    /// Attempt number: raised each time the CA refuses (it picks the ctid).
    pub generation: u16,
    /// Fingerprint of the request ([`crate::issuance::fingerprint`]).
    pub fingerprint: [u8; 32],
    /// SHA-256 of the device key's SubjectPublicKeyInfo, when known.
    pub key_digest: Option<[u8; 32]>,
    /// The clientTransactionID the next request carries.
    pub client_transaction_id: &'r str,
    /// The host's reference to the device key (a file name, a slot), ≤ 64 bytes.
    pub key_ref: &'r [u8],
    /// The request id.
    pub request_id: &'r str,
    /// `Sent`: the exact enrollment request (absent in version 1 records).
    pub body: Option<&'r str>,
    /// `Pending`: the pendingTokenReferenceID.
    pub pending_reference: &'r str,
    /// `Pending`/`Issued`: the CA's serverTransactionID.
    pub server_transaction_id: &'r str,
    /// `Issued`: the certificate (DER).
    pub certificate: &'r [u8],
    /// `Issued`: the chain.
    pub chain: Chain<'r>,
    /// `Failed`: the error code of the refusal.
    pub failure: &'r str,
    /// `Revoked`: how and when.
    pub revocation: Option<Revocation>,
}

impl<'r> Record<'r> {
    /// A record in `state` with no state-specific fields.
    pub fn new(state: RecordState, fingerprint: [u8; 32], request_id: &'r str) -> Self {
        Record {
            version: state.version(),
            state,
            generation: 0,
            fingerprint,
            key_digest: None,
            client_transaction_id: "",
            key_ref: &[],
            request_id,
            body: None,
            pending_reference: "",
            server_transaction_id: "",
            certificate: &[],
            chain: Chain::EMPTY,
            failure: "",
            revocation: None,
        }
    }

    /// This issued record, revoked: the same certificate and chain.
    pub fn revoked(&self, revocation: Revocation) -> Self {
        Record {
            version: RecordState::Revoked.version(),
            state: RecordState::Revoked,
            revocation: Some(revocation),
            ..*self
        }
    }
}

struct Writer<'b>(SliceWriter<'b>);

impl Writer<'_> {
    fn put(&mut self, b: &[u8]) {
        self.0.put(b);
    }
    fn len8(&mut self, b: &[u8], what: &'static str) -> Result<(), TxError> {
        let n = u8::try_from(b.len()).map_err(|_| TxError::ValueTooLong { what, max: 255 })?;
        self.put(&[n]);
        self.put(b);
        Ok(())
    }
    fn len16(&mut self, b: &[u8], what: &'static str) -> Result<(), TxError> {
        let n = u16::try_from(b.len()).map_err(|_| TxError::ValueTooLong { what, max: 65535 })?;
        self.put(&n.to_be_bytes());
        self.put(b);
        Ok(())
    }
}

/// Encodes `r` (as its state's version) into `out`; returns the length.
pub fn encode(r: &Record<'_>, out: &mut [u8]) -> Result<usize, Error> {
    let mut w = Writer(SliceWriter::new(out));
    w.put(MAGIC);
    w.put(&[r.state.version(), r.state.byte()]);
    w.put(&r.generation.to_be_bytes());
    w.put(&r.fingerprint);
    w.put(&r.key_digest.unwrap_or([0; 32]));
    w.len8(r.client_transaction_id.as_bytes(), "clientTransactionID")?;
    if r.key_ref.len() > 64 {
        return Err(TxError::ValueTooLong {
            what: "device key reference",
            max: 64,
        }
        .into());
    }
    w.len8(r.key_ref, "device key reference")?;
    w.len8(r.request_id.as_bytes(), "request id")?;
    match r.state {
        RecordState::KeyMade => {}
        RecordState::Sent => {
            let b = r.body.unwrap_or("").as_bytes();
            let n = u32::try_from(b.len()).map_err(|_| TxError::ValueTooLong {
                what: "enrollment request",
                max: u32::MAX as usize,
            })?;
            w.put(&n.to_be_bytes());
            w.put(b);
        }
        RecordState::Pending => {
            w.len8(r.pending_reference.as_bytes(), "pendingTokenReferenceID")?;
            w.len8(r.server_transaction_id.as_bytes(), "serverTransactionID")?;
        }
        RecordState::Issued | RecordState::Revoked => {
            w.len8(r.server_transaction_id.as_bytes(), "serverTransactionID")?;
            w.len16(r.certificate, "certificate")?;
            let count = u8::try_from(r.chain.len()).map_err(|_| TxError::ValueTooLong {
                what: "chain",
                max: 255,
            })?;
            w.put(&[count]);
            for c in r.chain.iter() {
                w.len16(c, "chain certificate")?;
            }
            if r.state == RecordState::Revoked {
                let v = r.revocation.unwrap_or(Revocation { reason: 0, at: 0 });
                w.put(&[v.reason]);
                w.put(&v.at.to_be_bytes());
            }
        }
        RecordState::Failed => w.len8(r.failure.as_bytes(), "failure code")?,
    }
    let check: [u8; 32] = Sha256::digest(w.0.written()).into();
    w.put(check.get(..CHECK).unwrap_or(&[]));
    Ok(w.0.finish("record")?.len())
}

/// The length [`encode`] would write (to size a buffer).
pub fn encoded_len(r: &Record<'_>) -> usize {
    let mut n = 2 + 2 + 2 + 32 + 32 + 3;
    n += r.client_transaction_id.len() + r.key_ref.len() + r.request_id.len();
    n += match r.state {
        RecordState::KeyMade => 0,
        RecordState::Sent => 4 + r.body.map_or(0, str::len),
        RecordState::Pending => 2 + r.pending_reference.len() + r.server_transaction_id.len(),
        RecordState::Issued | RecordState::Revoked => {
            1 + r.server_transaction_id.len()
                + 2
                + r.certificate.len()
                + 1
                + r.chain.iter().map(|c| 2 + c.len()).sum::<usize>()
                + if r.state == RecordState::Revoked {
                    9
                } else {
                    0
                }
        }
        RecordState::Failed => 1 + r.failure.len(),
    };
    n + CHECK
}

struct Reader<'r> {
    b: &'r [u8],
    pos: usize,
}

impl<'r> Reader<'r> {
    fn corrupt(&self) -> TxError {
        TxError::RecordCorrupt { at: self.pos }
    }
    fn take(&mut self, n: usize) -> Result<&'r [u8], TxError> {
        let s = self
            .b
            .get(self.pos..self.pos.saturating_add(n))
            .ok_or(TxError::RecordCorrupt { at: self.pos })?;
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, TxError> {
        let c = self.corrupt();
        self.take(1)?.first().copied().ok_or(c)
    }
    fn u16(&mut self) -> Result<u16, TxError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([
            b.first().copied().unwrap_or(0),
            b.get(1).copied().unwrap_or(0),
        ]))
    }
    fn u32(&mut self) -> Result<u32, TxError> {
        let b = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(u32::from_be_bytes(a))
    }
    fn arr32(&mut self) -> Result<[u8; 32], TxError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32)?);
        Ok(a)
    }
    fn bytes8(&mut self) -> Result<&'r [u8], TxError> {
        let n = usize::from(self.u8()?);
        self.take(n)
    }
    fn str8(&mut self) -> Result<&'r str, TxError> {
        let at = self.pos;
        core::str::from_utf8(self.bytes8()?).map_err(|_| TxError::RecordCorrupt { at })
    }
    fn bytes16(&mut self) -> Result<&'r [u8], TxError> {
        let n = usize::from(self.u16()?);
        self.take(n)
    }
}

/// Decodes a record of any version this release reads.
pub fn decode(bytes: &[u8]) -> Result<Record<'_>, TxError> {
    match bytes {
        [b'R', b'C', v, ..] if *v > VERSION => Err(TxError::RecordTooNew { version: *v }),
        [b'R', b'C', 2 | 3, ..] => decode_v2(bytes),
        [1, ..] => decode_v1(bytes),
        _ => Err(TxError::RecordCorrupt { at: 0 }),
    }
}

fn decode_v2(bytes: &[u8]) -> Result<Record<'_>, TxError> {
    let body_len = bytes
        .len()
        .checked_sub(CHECK)
        .ok_or(TxError::RecordCorrupt { at: 0 })?;
    let (data, check) = bytes.split_at(body_len);
    let digest: [u8; 32] = Sha256::digest(data).into();
    if digest.get(..CHECK) != Some(check) {
        return Err(TxError::RecordCorrupt { at: body_len });
    }
    let mut r = Reader { b: data, pos: 3 };
    let state = match r.u8()? {
        1 => RecordState::KeyMade,
        2 => RecordState::Sent,
        3 => RecordState::Pending,
        4 => RecordState::Issued,
        5 => RecordState::Failed,
        6 => RecordState::Revoked,
        _ => return Err(TxError::RecordCorrupt { at: 3 }),
    };
    // Each state is written in exactly one version.
    if data.get(2).copied() != Some(state.version()) {
        return Err(TxError::RecordCorrupt { at: 2 });
    }
    let generation = r.u16()?;
    let fingerprint = r.arr32()?;
    let kd = r.arr32()?;
    let mut rec = Record::new(state, fingerprint, "");
    rec.generation = generation;
    rec.key_digest = (kd != [0; 32]).then_some(kd);
    rec.client_transaction_id = r.str8()?;
    rec.key_ref = r.bytes8()?;
    rec.request_id = r.str8()?;
    match state {
        RecordState::KeyMade => {}
        RecordState::Sent => {
            let n = usize::try_from(r.u32()?).map_err(|_| r.corrupt())?;
            let at = r.pos;
            rec.body =
                Some(core::str::from_utf8(r.take(n)?).map_err(|_| TxError::RecordCorrupt { at })?);
        }
        RecordState::Pending => {
            rec.pending_reference = r.str8()?;
            rec.server_transaction_id = r.str8()?;
        }
        RecordState::Issued | RecordState::Revoked => {
            rec.server_transaction_id = r.str8()?;
            rec.certificate = r.bytes16()?;
            let count = r.u8()?;
            let start = r.pos;
            for _ in 0..count {
                r.bytes16()?;
            }
            rec.chain = Chain::Encoded {
                count,
                bytes: data.get(start..r.pos).unwrap_or(&[]),
            };
            if state == RecordState::Revoked {
                let reason = r.u8()?;
                let mut at = [0u8; 8];
                at.copy_from_slice(r.take(8)?);
                rec.revocation = Some(Revocation {
                    reason,
                    at: u64::from_be_bytes(at),
                });
            }
        }
        RecordState::Failed => rec.failure = r.str8()?,
    }
    if r.pos != data.len() {
        return Err(TxError::RecordCorrupt { at: r.pos });
    }
    Ok(rec)
}

/// raconn-embedded 0.1's flash journal records.
fn decode_v1(bytes: &[u8]) -> Result<Record<'_>, TxError> {
    let mut r = Reader { b: bytes, pos: 1 };
    let state = match r.u8()? {
        1 => RecordState::KeyMade,
        2 => RecordState::Sent,
        3 => RecordState::Issued,
        _ => return Err(TxError::RecordCorrupt { at: 1 }),
    };
    let slot = r.take(1)?;
    let ctid = r.str8()?;
    let fingerprint = r.arr32()?;
    let cert = r.bytes16()?;
    if r.pos != bytes.len() {
        return Err(TxError::RecordCorrupt { at: r.pos });
    }
    let mut rec = Record::new(state, fingerprint, "");
    rec.version = 1;
    rec.client_transaction_id = ctid;
    rec.key_ref = slot;
    rec.certificate = cert;
    Ok(rec)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;
    use crate::error::BufferTooSmall;

    fn base(state: RecordState) -> Record<'static> {
        let mut r = Record::new(state, [7; 32], "req-1");
        r.key_digest = Some([9; 32]);
        r.client_transaction_id = "raconn-0123456789abcdef01234567";
        r.key_ref = b"req-1.key.p8";
        r
    }

    #[test]
    fn every_state_round_trips_and_every_byte_matters() {
        let chain: [&[u8]; 2] = [b"root-der", b"issuing-der"];
        let mut recs = std::vec::Vec::new();
        recs.push(base(RecordState::KeyMade));
        let mut s = base(RecordState::Sent);
        s.body = Some("<soapenv:Envelope>…</soapenv:Envelope>");
        recs.push(s);
        let mut p = base(RecordState::Pending);
        p.pending_reference = "PEND-1";
        p.server_transaction_id = "SRV-1";
        recs.push(p);
        let mut i = base(RecordState::Issued);
        i.server_transaction_id = "SRV-2";
        i.certificate = b"leaf-der";
        i.chain = Chain::List(&chain);
        recs.push(i);
        let mut f = base(RecordState::Failed);
        f.generation = 3;
        f.failure = "RC-PKIWS-007";
        recs.push(f);
        for r in &recs {
            let mut buf = [0u8; 512];
            let n = encode(r, &mut buf).unwrap();
            assert_eq!(n, encoded_len(r));
            let back = decode(&buf[..n]).unwrap();
            assert_eq!(back.state, r.state);
            assert_eq!(
                (back.generation, back.fingerprint, back.key_digest),
                (r.generation, r.fingerprint, r.key_digest)
            );
            assert_eq!(back.client_transaction_id, r.client_transaction_id);
            assert_eq!((back.key_ref, back.request_id), (r.key_ref, r.request_id));
            assert_eq!(back.body, r.body);
            assert_eq!(back.pending_reference, r.pending_reference);
            assert_eq!(back.server_transaction_id, r.server_transaction_id);
            assert_eq!(back.certificate, r.certificate);
            assert!(back.chain.iter().eq(r.chain.iter()));
            assert_eq!(back.failure, r.failure);
            // A flipped bit anywhere is caught; a cut anywhere too.
            for at in 0..n {
                let mut c = buf;
                c[at] ^= 0x10;
                assert!(decode(&c[..n]).is_err(), "bit flip at {at}");
                assert!(decode(&buf[..at]).is_err(), "cut at {at}");
            }
            // A short buffer names the size.
            let mut small = [0u8; 20];
            assert_eq!(
                encode(r, &mut small),
                Err(Error::Buffer(BufferTooSmall {
                    buffer: "record",
                    needed: n
                }))
            );
        }
    }

    #[test]
    fn newer_versions_are_refused_and_version_1_is_read() {
        let mut buf = [0u8; 256];
        let n = encode(&base(RecordState::KeyMade), &mut buf).unwrap();
        buf[2] = VERSION + 1;
        assert_eq!(
            decode(&buf[..n]),
            Err(TxError::RecordTooNew {
                version: VERSION + 1
            })
        );
        // raconn-embedded 0.1: 1, state, slot, ctid, fingerprint, cert.
        let mut v1 = std::vec![1u8, 3, 1, 4];
        v1.extend_from_slice(b"tx-1");
        v1.extend_from_slice(&[5; 32]);
        v1.extend_from_slice(&[0, 3, 0xAA, 0xBB, 0xCC]);
        let r = decode(&v1).unwrap();
        assert_eq!(
            (r.version, r.state, r.key_ref),
            (1, RecordState::Issued, &[1u8][..])
        );
        assert_eq!((r.client_transaction_id, r.fingerprint), ("tx-1", [5; 32]));
        assert_eq!(r.certificate, &[0xAA, 0xBB, 0xCC]);
        assert_eq!(r.key_digest, None);
        v1.push(0);
        assert!(decode(&v1).is_err());
    }

    #[test]
    fn a_revoked_record_is_version_3_and_round_trips() {
        let chain: [&[u8]; 1] = [b"issuing-der"];
        let mut issued = base(RecordState::Issued);
        issued.certificate = b"leaf-der";
        issued.chain = Chain::List(&chain);
        issued.server_transaction_id = "SRV-1";
        let rev = issued.revoked(Revocation {
            reason: 1,
            at: 1_796_083_199,
        });
        let mut buf = [0u8; 512];
        let n = encode(&rev, &mut buf).unwrap();
        assert_eq!(n, encoded_len(&rev));
        assert_eq!(&buf[..3], b"RC\x03");
        let back = decode(&buf[..n]).unwrap();
        assert_eq!(back.state, RecordState::Revoked);
        assert_eq!(back.version, 3);
        assert_eq!(back.certificate, b"leaf-der");
        assert_eq!(
            back.chain.iter().collect::<std::vec::Vec<_>>(),
            [&b"issuing-der"[..]]
        );
        assert_eq!(
            back.revocation,
            Some(Revocation {
                reason: 1,
                at: 1_796_083_199
            })
        );
        // A release that reads up to version 2 refuses it as newer.
        let n2 = encode(&issued, &mut buf).unwrap();
        assert_eq!(buf[2], 2);
        assert!(decode(&buf[..n2]).is_ok());
        // A state written under the wrong version is corrupt, not guessed at.
        let mut wrong = [0u8; 512];
        let n = encode(&rev, &mut wrong).unwrap();
        wrong[2] = 2;
        let body = n - CHECK;
        let check: [u8; 32] = Sha256::digest(&wrong[..body]).into();
        wrong[body..n].copy_from_slice(&check[..CHECK]);
        assert_eq!(decode(&wrong[..n]), Err(TxError::RecordCorrupt { at: 2 }));
    }
}
