//! The transaction over replies recorded from raconn-sim
//! (`core/tests/data/issuance/`, made by `tests/tests/issuance_fixtures.rs`
//! with the same fixed P-256 device key): every state × crash point,
//! pending ×N, conflict, newer record version, search hit and miss, the
//! CA's refusal, key checks.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use raconn_core::cert::CertificateRef;
use raconn_core::csr::Signer;
use raconn_core::error::{Error, Explain};
use raconn_core::issuance::*;
use raconn_core::pkiws::Service;
use raconn_core::profile::{Identity, SanKindSel, SubjectFormat};
use raconn_core::soft_p256::SoftP256;

const P256: &str = "2.16.840.1.113733.1.16.1.2.3.1.1.47196112";

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("data/issuance/", $name, ".xml"))
    };
}

const POLICY: &str = fixture!("policy");
const ISSUED: &str = fixture!("enroll-issued");
const PENDING: &str = fixture!("enroll-pending");
const POLL_PENDING: &str = fixture!("poll-pending");
const POLL_ISSUED: &str = fixture!("poll-issued");
const FAULT: &str = fixture!("enroll-fault");
const SEARCH_ALL: &str = fixture!("search-all");
const SEARCH_EMPTY: &str = fixture!("search-empty");
const SEARCH_PAGE1: &str = fixture!("search-page-1-other");
const SEARCH_PAGE2: &str = fixture!("search-page-2-mine");
const SEARCH_REFUSED: &str = fixture!("search-refused");

fn key() -> SoftP256 {
    SoftP256::from_bytes(&[0x11; 32]).unwrap()
}

fn other_key() -> SoftP256 {
    SoftP256::from_bytes(&[0x22; 32]).unwrap()
}

fn order(id: &str) -> Order<'_> {
    Order {
        request_id: id,
        profile_oid: P256,
        subject_format: SubjectFormat::CommonNameIncludingEmail,
        san: &[SanKindSel::Email, SanKindSel::Upn],
        other_names: &[],
        overrides: &[],
        identity: Identity {
            cn: "device-0042",
            email: Some("ops@contoso.example"),
            upn: Some("device-0042@contoso.local"),
        },
        seat_id: None,
        key: KeyChoice::Policy,
        strict: false,
        sid: None,
        sid_placement: None,
    }
}

const FAST: PollPolicy = PollPolicy {
    first_ms: 10,
    max_ms: 40,
    max_attempts: 5,
};

/// What a run did, step by step.
#[derive(Debug, Default)]
struct Run {
    /// "send:<service>", "key:new"/"key:load", "save:<state>", "wait:<ms>".
    steps: Vec<String>,
    /// Bodies sent.
    sent: Vec<String>,
    /// Records saved, in order.
    saved: Vec<Vec<u8>>,
    /// The certificate, when done: (DER, from_record, found_by_search, chain length).
    done: Option<(Vec<u8>, bool, bool, usize)>,
    /// The failure: (code, retryable).
    failed: Option<(&'static str, bool)>,
    /// The run stopped (a crash) before finishing.
    crashed: bool,
}

/// Drives a transaction. `reply` answers each send; `crash_after_saves`
/// stops the run (a power cut) right after that many records were stored.
fn drive(
    o: Order<'_>,
    stored: Option<&[u8]>,
    poll: PollPolicy,
    k: &SoftP256,
    mut reply: impl FnMut(Service, &str) -> (u16, &'static str),
    crash_after_saves: Option<usize>,
) -> Run {
    let (mut a, mut b, mut c, mut d) = (
        vec![0u8; 16384],
        vec![0u8; 16384],
        vec![0u8; 16384],
        vec![0u8; 16384],
    );
    let mut run = Run::default();
    let mut tx = match Transaction::new(
        o,
        stored,
        poll,
        Buffers {
            request: &mut a,
            work: &mut b,
            token: &mut c,
            record: &mut d,
        },
    ) {
        Ok(t) => t,
        Err(e) => {
            run.failed = Some((e.code(), e.retryable()));
            return run;
        }
    };
    for _ in 0..100 {
        match tx.next() {
            Step::Send(s) => {
                run.steps.push(format!("send:{}", s.service.name()));
                run.sent.push(s.body.to_string());
                let (st, body) = reply(s.service, s.body);
                tx.on_reply(st, body.as_bytes());
            }
            Step::Save { state, record } => {
                run.steps.push(format!("save:{}", state.as_str()));
                run.saved.push(record.to_vec());
                if crash_after_saves == Some(run.saved.len()) {
                    run.crashed = true;
                    return run;
                }
                tx.saved();
            }
            Step::DeviceKey { reference, .. } => {
                run.steps.push(if reference.is_some() {
                    "key:load".to_string()
                } else {
                    "key:new".to_string()
                });
                tx.device_key(k, b"slot-1");
            }
            Step::Wait { ms } => {
                run.steps.push(format!("wait:{ms}"));
                tx.waited();
            }
            Step::Done(d) => {
                run.done = Some((
                    d.certificate.to_vec(),
                    d.from_record,
                    d.found_by_search,
                    d.chain.len(),
                ));
                return run;
            }
            Step::Failed { error, retryable } => {
                run.failed = Some((error.code(), retryable));
                return run;
            }
        }
    }
    panic!("the transaction did not finish: {:?}", run.steps);
}

/// A CA that answers the policy, then each enrollment with `enroll`, each
/// search with `search`.
fn ca(
    enroll: &'static str,
    search: &'static str,
) -> impl FnMut(Service, &str) -> (u16, &'static str) {
    move |s, _| match s {
        Service::Policy => (200, POLICY),
        Service::Enrollment => (200, enroll),
        Service::Management => (200, search),
        Service::Health => (404, ""),
    }
}

fn steps(r: &Run) -> Vec<&str> {
    r.steps.iter().map(String::as_str).collect()
}

fn last_record(r: &Run) -> Record<'_> {
    record::decode(r.saved.last().unwrap()).unwrap()
}

#[test]
fn fresh_issuance_records_key_made_sent_issued() {
    let k = key();
    let r = drive(order("t-1"), None, FAST, &k, ca(ISSUED, SEARCH_EMPTY), None);
    assert_eq!(
        steps(&r),
        [
            "send:policy",
            "key:new",
            "save:key_made",
            "save:sent",
            "send:enrollment",
            "save:issued"
        ]
    );
    let (cert, from_record, by_search, chain) = r.done.clone().unwrap();
    assert!(!from_record && !by_search);
    assert_eq!(chain, 2, "issuing CA and root");
    let c = CertificateRef::parse(&cert).unwrap();
    assert_eq!(c.spki.der.raw, k.public_key_der());
    // The Sent record holds the exact body that went out.
    let sent = record::decode(&r.saved[1]).unwrap();
    assert_eq!(sent.body, Some(r.sent[1].as_str()));
    assert_eq!(
        sent.client_transaction_id,
        client_transaction_id("t-1", 0).as_str()
    );
    assert!(r.sent[1].contains(sent.client_transaction_id));
    let issued = last_record(&r);
    assert_eq!(issued.certificate, &cert[..]);
    assert_eq!(issued.key_digest, Some(key_digest(k.public_key_der())));
    assert_eq!(issued.key_ref, b"slot-1");
    eprintln!(
        "record sizes (P-256, CN+E, SAN email+UPN, two-certificate chain): key made {} B, sent {} B, issued {} B",
        r.saved[0].len(),
        r.saved[1].len(),
        r.saved[2].len()
    );
}

#[test]
fn every_crash_point_resumes_to_the_same_key_and_one_enrollment() {
    let k = key();
    let full = drive(order("t-2"), None, FAST, &k, ca(ISSUED, SEARCH_EMPTY), None);
    let cert = full.done.clone().unwrap().0;
    for crash in 1..=3 {
        // Crash right after record `crash` was stored.
        let first = drive(
            order("t-2"),
            None,
            FAST,
            &k,
            ca(ISSUED, SEARCH_EMPTY),
            Some(crash),
        );
        assert!(first.crashed);
        let rec = first.saved.last().unwrap().clone();
        let state = record::decode(&rec).unwrap().state;
        // Resume. After `sent`, the CA is asked first; it has the certificate.
        let again = drive(
            order("t-2"),
            Some(&rec),
            FAST,
            &k,
            ca(ISSUED, SEARCH_ALL),
            None,
        );
        let (got, from_record, by_search, _) = again.done.clone().unwrap();
        assert_eq!(
            CertificateRef::parse(&got).unwrap().spki.der.raw,
            k.public_key_der()
        );
        match state {
            RecordState::KeyMade => {
                assert_eq!(
                    steps(&again),
                    [
                        "send:policy",
                        "key:load",
                        "save:sent",
                        "send:enrollment",
                        "save:issued"
                    ]
                );
                // The same clientTransactionID as the first run would have used.
                assert_eq!(again.sent[1], full.sent[1]);
            }
            RecordState::Sent => {
                assert_eq!(
                    steps(&again),
                    ["send:policy", "key:load", "send:management", "save:issued"]
                );
                assert!(by_search && !from_record);
                assert!(again.sent[1].contains("searchCertificateRequest"));
                assert!(again.sent[1].contains("<mg:seatId>ops@contoso.example</mg:seatId>"));
            }
            RecordState::Issued => {
                assert_eq!(steps(&again), ["key:load"]);
                assert!(from_record);
                assert_eq!(got, cert);
            }
            s => panic!("{s:?}"),
        }
        // The CA's answer to the search was not ours: resend, identical.
        if state == RecordState::Sent {
            let miss = drive(
                order("t-2"),
                Some(&rec),
                FAST,
                &k,
                ca(ISSUED, SEARCH_EMPTY),
                None,
            );
            assert_eq!(
                steps(&miss),
                [
                    "send:policy",
                    "key:load",
                    "send:management",
                    "send:enrollment",
                    "save:issued"
                ]
            );
            assert_eq!(miss.sent[2], record::decode(&rec).unwrap().body.unwrap());
            assert!(miss.done.is_some());
        }
    }
    // A crash before the first record: nothing to resume, a fresh start.
    let fresh = drive(order("t-2"), None, FAST, &k, ca(ISSUED, SEARCH_EMPTY), None);
    assert_eq!(fresh.steps, full.steps);
}

#[test]
fn search_pages_until_the_key_is_found() {
    let k = key();
    let first = drive(
        order("t-3"),
        None,
        FAST,
        &k,
        ca(ISSUED, SEARCH_EMPTY),
        Some(2),
    );
    let rec = first.saved.last().unwrap().clone();
    let mut pages = 0;
    let r = drive(
        order("t-3"),
        Some(&rec),
        FAST,
        &k,
        |s, body| match s {
            Service::Policy => (200, POLICY),
            Service::Management => {
                pages += 1;
                if body.contains("<mg:startIndex>0<") {
                    (200, SEARCH_PAGE1)
                } else {
                    assert!(body.contains("<mg:startIndex>1<"), "{body}");
                    (200, SEARCH_PAGE2)
                }
            }
            _ => panic!("{s:?} must not be sent"),
        },
        None,
    );
    assert_eq!(pages, 2);
    let (cert, _, by_search, _) = r.done.unwrap();
    assert!(by_search);
    assert_eq!(
        CertificateRef::parse(&cert).unwrap().spki.der.raw,
        k.public_key_der()
    );
}

#[test]
fn pending_is_polled_and_survives_the_process() {
    let k = key();
    let mut polls = 0;
    let r = drive(
        order("t-4"),
        None,
        FAST,
        &k,
        |s, body| match s {
            Service::Policy => (200, POLICY),
            Service::Enrollment if body.contains("QueryTokenStatus") => {
                assert!(body.contains("<vs:pendingTokenReferenceID>PEND-"), "{body}");
                polls += 1;
                (200, if polls < 3 { POLL_PENDING } else { POLL_ISSUED })
            }
            Service::Enrollment => (200, PENDING),
            _ => panic!(),
        },
        None,
    );
    assert_eq!(
        steps(&r),
        [
            "send:policy",
            "key:new",
            "save:key_made",
            "save:sent",
            "send:enrollment",
            "save:pending",
            "wait:10",
            "send:enrollment",
            "wait:20",
            "send:enrollment",
            "wait:40",
            "send:enrollment",
            "save:issued"
        ]
    );
    assert!(r.done.is_some());
    // One poll allowed: the run ends pending (retryable), the record keeps the reference.
    let short = PollPolicy {
        max_attempts: 1,
        ..FAST
    };
    // The first enrollment answers pending; the one poll answers pending too.
    let r = drive(
        order("t-5"),
        None,
        short,
        &k,
        |s, body| match s {
            Service::Policy => (200, POLICY),
            Service::Enrollment if body.contains("QueryTokenStatus") => (200, POLL_PENDING),
            Service::Enrollment => (200, PENDING),
            _ => panic!(),
        },
        None,
    );
    assert_eq!(r.failed, Some(("RC-PKIWS-010", true)));
    let rec = last_record(&r);
    assert_eq!(rec.state, RecordState::Pending);
    assert!(rec.pending_reference.starts_with("PEND-"));
    // Another process, days later: it polls the reference, it does not enroll again.
    let bytes = r.saved.last().unwrap().clone();
    let later = drive(
        order("t-5"),
        Some(&bytes),
        FAST,
        &k,
        |s, body| match s {
            Service::Policy => (200, POLICY),
            Service::Enrollment => {
                assert!(
                    body.contains("QueryTokenStatus"),
                    "a new enrollment was sent"
                );
                (200, POLL_ISSUED)
            }
            _ => panic!(),
        },
        None,
    );
    assert_eq!(
        steps(&later),
        ["send:policy", "key:load", "send:enrollment", "save:issued"]
    );
    assert!(later.done.is_some());
    // A service that schedules polls itself: 0 polls in a run.
    let none = PollPolicy {
        max_attempts: 0,
        ..FAST
    };
    let r = drive(
        order("t-6"),
        None,
        none,
        &k,
        ca(PENDING, SEARCH_EMPTY),
        None,
    );
    assert_eq!(r.failed, Some(("RC-PKIWS-010", true)));
    assert!(!r.steps.iter().any(|s| s.starts_with("wait")));
}

#[test]
fn a_refusal_records_failed_and_the_next_attempt_has_a_new_transaction_id() {
    let k = key();
    let r = drive(order("t-7"), None, FAST, &k, ca(FAULT, SEARCH_EMPTY), None);
    assert_eq!(r.failed, Some(("RC-PKIWS-007", false)));
    let rec = last_record(&r);
    assert_eq!(rec.state, RecordState::Failed);
    assert_eq!(rec.failure, "RC-PKIWS-007");
    assert_eq!(rec.generation, 1);
    assert_eq!(
        rec.client_transaction_id,
        client_transaction_id("t-7", 1).as_str()
    );
    assert!(rec.client_transaction_id.ends_with("-1"));
    let bytes = r.saved.last().unwrap().clone();
    let again = drive(
        order("t-7"),
        Some(&bytes),
        FAST,
        &k,
        ca(ISSUED, SEARCH_EMPTY),
        None,
    );
    assert_eq!(
        steps(&again),
        [
            "send:policy",
            "key:load",
            "save:sent",
            "send:enrollment",
            "save:issued"
        ]
    );
    assert!(again.sent[1].contains(&format!(
        "<vs:clientTransactionID>{}</vs:clientTransactionID>",
        client_transaction_id("t-7", 1)
    )));
}

#[test]
fn conflicts_newer_versions_and_corruption_are_refused() {
    let k = key();
    let r = drive(order("t-8"), None, FAST, &k, ca(ISSUED, SEARCH_EMPTY), None);
    let rec = r.saved.last().unwrap().clone();
    // Same id, another request.
    let mut other = order("t-8");
    other.identity.cn = "someone-else";
    let c = drive(other, Some(&rec), FAST, &k, ca(ISSUED, SEARCH_EMPTY), None);
    assert_eq!(c.failed, Some(("RC-TX-001", false)));
    assert!(c.sent.is_empty());
    // A record of another request id stored under this one.
    let c = drive(
        order("t-9"),
        Some(&rec),
        FAST,
        &k,
        ca(ISSUED, SEARCH_EMPTY),
        None,
    );
    assert_eq!(c.failed, Some(("RC-TX-001", false)));
    // A newer format.
    let mut newer = rec.clone();
    newer[2] = record::VERSION + 1;
    let c = drive(
        order("t-8"),
        Some(&newer),
        FAST,
        &k,
        ca(ISSUED, SEARCH_EMPTY),
        None,
    );
    assert_eq!(c.failed, Some(("RC-TX-004", false)));
    // A damaged one.
    let mut bad = rec.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    let c = drive(
        order("t-8"),
        Some(&bad),
        FAST,
        &k,
        ca(ISSUED, SEARCH_EMPTY),
        None,
    );
    assert_eq!(c.failed, Some(("RC-TX-003", false)));
    // A bad request id.
    let c = drive(
        order("../etc"),
        None,
        FAST,
        &k,
        ca(ISSUED, SEARCH_EMPTY),
        None,
    );
    assert_eq!(c.failed, Some(("RC-TX-002", false)));
}

#[test]
fn a_stored_key_is_checked_before_it_is_trusted() {
    let k = key();
    let r = drive(
        order("t-10"),
        None,
        FAST,
        &k,
        ca(ISSUED, SEARCH_EMPTY),
        None,
    );
    let issued = r.saved.last().unwrap().clone();
    // Replay with a swapped key file.
    let c = drive(
        order("t-10"),
        Some(&issued),
        FAST,
        &other_key(),
        ca(ISSUED, SEARCH_EMPTY),
        None,
    );
    assert_eq!(c.failed, Some(("RC-TX-005", false)));
    // Resume from key-made with another key.
    let c = drive(
        order("t-10"),
        Some(&r.saved[0]),
        FAST,
        &other_key(),
        ca(ISSUED, SEARCH_EMPTY),
        None,
    );
    assert_eq!(c.failed, Some(("RC-TX-005", false)));
    // The key deleted after the PFX was written, or lost before.
    for (rec, code) in [(&issued, "RC-TX-006"), (&r.saved[1], "RC-TX-007")] {
        let (mut a, mut b, mut cc, mut d) = (
            vec![0u8; 16384],
            vec![0u8; 16384],
            vec![0u8; 16384],
            vec![0u8; 16384],
        );
        let mut tx = Transaction::new(
            order("t-10"),
            Some(rec),
            FAST,
            Buffers {
                request: &mut a,
                work: &mut b,
                token: &mut cc,
                record: &mut d,
            },
        )
        .unwrap();
        loop {
            match tx.next() {
                Step::Send(s) => {
                    let (st, body) = ca(ISSUED, SEARCH_EMPTY)(s.service, s.body);
                    tx.on_reply(st, body.as_bytes());
                }
                Step::DeviceKey { .. } => tx.device_key_missing(),
                Step::Failed { error, .. } => {
                    assert_eq!(error.code(), code);
                    break;
                }
                s => panic!("{s:?}"),
            }
        }
    }
}

#[test]
fn a_refused_search_is_its_own_error() {
    let k = key();
    let first = drive(
        order("t-11"),
        None,
        FAST,
        &k,
        ca(ISSUED, SEARCH_EMPTY),
        Some(2),
    );
    let rec = first.saved.last().unwrap().clone();
    let r = drive(
        order("t-11"),
        Some(&rec),
        FAST,
        &k,
        ca(ISSUED, SEARCH_REFUSED),
        None,
    );
    assert_eq!(r.failed, Some(("RC-TX-008", false)));
    assert!(!r.steps.contains(&"send:enrollment".to_string()));
}

#[test]
fn wrong_steps_and_helpers() {
    let (mut a, mut b, mut c, mut d) = (
        vec![0u8; 16384],
        vec![0u8; 16384],
        vec![0u8; 16384],
        vec![0u8; 16384],
    );
    let mut tx = Transaction::new(
        order("t-12"),
        None,
        FAST,
        Buffers {
            request: &mut a,
            work: &mut b,
            token: &mut c,
            record: &mut d,
        },
    )
    .unwrap();
    tx.saved();
    match tx.next() {
        Step::Failed { error, .. } => {
            assert_eq!(error, Error::Tx(TxError::WrongStep));
            assert_eq!(error.code(), "RC-TX-009");
        }
        _ => panic!("a save acknowledged before any was asked is refused"),
    }
    assert_eq!(client_transaction_id("x", 0).len(), 31);
    assert_eq!(client_transaction_id("x", u16::MAX).len(), 37);
    assert_eq!(PollPolicy::DEFAULT.delay(0), 2000);
    assert_eq!(PollPolicy::DEFAULT.delay(3), 16000);
    assert_eq!(PollPolicy::DEFAULT.delay(40), 30000);
    let mut o2 = order("t-12");
    assert_eq!(
        fingerprint(&o2),
        fingerprint(&order("t-13")),
        "the id is not part of it"
    );
    o2.key = KeyChoice::Rsa(2048);
    assert_ne!(fingerprint(&o2), fingerprint(&order("t-12")));
    for bad in ["", ".hidden", "a/b", "a b", &"x".repeat(65)] {
        assert!(check_request_id(bad).is_err(), "{bad:?}");
    }
    assert!(check_request_id("req-1_2.3").is_ok());
}

/// Records of raconn-embedded 0.1 (its own encoder and fingerprint; see
/// `core/tests/data/README.md`) are read, matched to their request and resumed.
#[test]
fn records_of_raconn_embedded_0_1_are_read() {
    const ISSUED_V1: &[u8] = include_bytes!("data/records-v1/issued.bin");
    const SENT_V1: &[u8] = include_bytes!("data/records-v1/sent.bin");
    const KEY_MADE_V1: &[u8] = include_bytes!("data/records-v1/key-made.bin");
    let o = Order {
        request_id: "dev-0042",
        profile_oid: P256,
        subject_format: SubjectFormat::CommonNameIncludingEmail,
        san: &[],
        other_names: &[],
        overrides: &[],
        identity: Identity {
            cn: "appliance-0042",
            email: Some("ops@contoso.example"),
            upn: None,
        },
        seat_id: None,
        key: KeyChoice::P256,
        strict: false,
        sid: None,
        sid_placement: None,
    };
    let k = SoftP256::from_bytes(&[0x33; 32]).unwrap();
    for (bytes, state) in [
        (ISSUED_V1, RecordState::Issued),
        (SENT_V1, RecordState::Sent),
        (KEY_MADE_V1, RecordState::KeyMade),
    ] {
        let r = record::decode(bytes).unwrap();
        assert_eq!((r.version, r.state, r.key_ref), (1, state, &[1u8][..]));
        assert_eq!(r.fingerprint, fingerprint_v1(&o));
        assert_eq!(
            r.client_transaction_id,
            client_transaction_id("dev-0042", 0).as_str()
        );
    }
    // Issued: answered from the record, the key checked against the certificate.
    let r = drive(o, Some(ISSUED_V1), FAST, &k, ca(ISSUED, SEARCH_EMPTY), None);
    assert_eq!(steps(&r), ["key:load"]);
    let (cert, from_record, ..) = r.done.unwrap();
    assert!(from_record);
    assert_eq!(cert, record::decode(ISSUED_V1).unwrap().certificate);
    let r = drive(
        o,
        Some(ISSUED_V1),
        FAST,
        &key(),
        ca(ISSUED, SEARCH_EMPTY),
        None,
    );
    assert_eq!(r.failed, Some(("RC-TX-005", false)));
    // Sent without a body (version 1 kept none): rebuilt with the same key
    // and clientTransactionID, stored, then the CA is asked first.
    let r = drive(o, Some(SENT_V1), FAST, &k, ca(ISSUED, SEARCH_EMPTY), None);
    assert_eq!(
        &steps(&r)[..5],
        [
            "send:policy",
            "key:load",
            "save:sent",
            "send:management",
            "send:enrollment"
        ]
    );
    let saved = record::decode(&r.saved[0]).unwrap();
    assert_eq!(saved.version, RecordState::Sent.version());
    assert_eq!(saved.fingerprint, fingerprint(&o));
    assert_eq!(saved.body, Some(r.sent[2].as_str()));
    assert!(r.sent[2].contains(&*client_transaction_id("dev-0042", 0)));
    // Another request under that id is refused.
    let mut other = o;
    other.identity.cn = "appliance-0043";
    let r = drive(
        other,
        Some(KEY_MADE_V1),
        FAST,
        &k,
        ca(ISSUED, SEARCH_EMPTY),
        None,
    );
    assert_eq!(r.failed, Some(("RC-TX-001", false)));
}

/// The issued certificate's validity, judged by a clock: nothing inside
/// it, RC-CERT-W01 when notBefore is ahead by more than the skew (naming
/// both times), RC-CERT-W02 once notAfter has passed.
#[test]
fn clock_notes_name_both_times() {
    use raconn_core::cert::{ClockNote, Time, CLOCK_SKEW_SECS};
    use raconn_core::error::Explain;
    // Time::from_unix inverts Time::unix, against dates `date -u -d @N` gives.
    for (secs, iso) in [
        (0, "1970-01-01T00:00:00Z"),
        (951_782_400, "2000-02-29T00:00:00Z"),
        (1_796_083_199, "2026-11-30T23:59:59Z"),
        (4_107_542_400, "2100-03-01T00:00:00Z"),
    ] {
        let t = Time::from_unix(secs);
        assert_eq!(t.to_string(), iso);
        assert_eq!(t.unix(), secs);
    }
    let k = key();
    let r = drive(
        order("t-clock"),
        None,
        FAST,
        &k,
        ca(ISSUED, SEARCH_EMPTY),
        None,
    );
    let cert = r.done.unwrap().0;
    let c = CertificateRef::parse(&cert).unwrap();
    let (nb, na) = (c.not_before.unix(), c.not_after.unix());
    assert_eq!(c.clock_note(nb, CLOCK_SKEW_SECS), None);
    assert_eq!(c.clock_note(nb - CLOCK_SKEW_SECS, CLOCK_SKEW_SECS), None);
    let early = c
        .clock_note(nb - CLOCK_SKEW_SECS - 1, CLOCK_SKEW_SECS)
        .unwrap();
    assert!(matches!(early, ClockNote::NotYetValid { .. }));
    assert_eq!(early.code(), "RC-CERT-W01");
    let text = early.to_string();
    assert!(
        text.contains(&format!("notBefore {}", c.not_before))
            && text.contains(&Time::from_unix(nb - CLOCK_SKEW_SECS - 1).to_string()),
        "{text}"
    );
    assert_eq!(c.clock_note(na, CLOCK_SKEW_SECS), None);
    let late = c.clock_note(na + 1, CLOCK_SKEW_SECS).unwrap();
    assert_eq!(late.code(), "RC-CERT-W02");
    assert!(late
        .to_string()
        .contains(&format!("notAfter {}", c.not_after)));
}

/// A CA whose search answers "more" on every page: the transaction stops
/// after MAX_SEARCH_PAGES pages with RC-TX-012 rather than paging forever.
#[test]
fn an_endless_search_stops_with_its_code() {
    let k = key();
    let first = drive(
        order("t-pages"),
        None,
        FAST,
        &k,
        ca(ISSUED, SEARCH_EMPTY),
        Some(2),
    );
    let rec = first.saved.last().unwrap().clone();
    let mut pages = 0;
    let r = drive(
        order("t-pages"),
        Some(&rec),
        FAST,
        &k,
        |s, _| match s {
            Service::Policy => (200, POLICY),
            Service::Management => {
                pages += 1;
                (200, SEARCH_PAGE1)
            }
            _ => panic!("{s:?} must not be sent"),
        },
        None,
    );
    assert_eq!(r.failed, Some(("RC-TX-012", false)));
    assert_eq!(pages, raconn_core::issuance::MAX_SEARCH_PAGES);
}

/// A device key reference longer than a record holds (64 bytes) is
/// refused before anything is saved or sent: RC-TX-011.
#[test]
fn an_overlong_key_reference_is_refused() {
    let (mut a, mut b, mut c, mut d) = (
        vec![0u8; 16384],
        vec![0u8; 16384],
        vec![0u8; 16384],
        vec![0u8; 16384],
    );
    let mut tx = Transaction::new(
        order("t-ref"),
        None,
        FAST,
        Buffers {
            request: &mut a,
            work: &mut b,
            token: &mut c,
            record: &mut d,
        },
    )
    .unwrap();
    let k = key();
    let long = [b'x'; 65];
    for _ in 0..10 {
        match tx.next() {
            Step::Send(_) => tx.on_reply(200, POLICY.as_bytes()),
            Step::DeviceKey { .. } => tx.device_key(&k, &long),
            Step::Failed { error, .. } => {
                assert_eq!(error.code(), "RC-TX-011", "{error}");
                return;
            }
            _ => panic!("nothing may be saved with a key reference that does not fit"),
        }
    }
    panic!("not refused");
}

/// An issued record, revoked: the same request id is refused with
/// RC-TX-013 (one id names one certificate) and nothing is sent.
#[test]
fn a_revoked_request_id_is_not_issued_again() {
    let k = key();
    let r = drive(
        order("t-rev"),
        None,
        FAST,
        &k,
        ca(ISSUED, SEARCH_EMPTY),
        None,
    );
    let issued = r.saved.last().unwrap().clone();
    let rec = record::decode(&issued).unwrap();
    let rev = rec.revoked(record::Revocation {
        reason: 4,
        at: 1_796_083_199,
    });
    let mut buf = vec![0u8; 8192];
    let n = record::encode(&rev, &mut buf).unwrap();
    let again = drive(
        order("t-rev"),
        Some(&buf[..n]),
        FAST,
        &k,
        |s, _| panic!("{s:?} sent"),
        None,
    );
    assert_eq!(again.failed, Some(("RC-TX-013", false)));
}
