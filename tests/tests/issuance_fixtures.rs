//! Records the CA replies that `raconn-core`'s transaction unit tests
//! replay (`core/tests/data/issuance/`), by driving the core's transaction
//! against raconn-sim in process with a fixed P-256 device key (RFC 6979,
//! so the CSR is the same every time).
//!
//! Regenerate with:
//! `cargo test -p raconn-tests --test issuance_fixtures -- --ignored`
//! (the simulator makes a fresh PKI each time, so every file changes).

use std::collections::BTreeMap;
use std::path::PathBuf;

use raconn_core::issuance::{Buffers, KeyChoice, Order, PollPolicy, Step, Transaction};
use raconn_core::pkiws::Service;
use raconn_core::profile::{Identity, SanKindSel, SubjectFormat};
use raconn_core::soft_p256::SoftP256;
use raconn_sim::{Fault, Profiles, ServerKey, Sim};

const P256: &str = "2.16.840.1.113733.1.16.1.2.3.1.1.47196112";
const KEY: [u8; 32] = [0x11; 32];
const OTHER_KEY: [u8; 32] = [0x22; 32];

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

/// Runs a transaction against `sim`, naming each reply with `name(service, n)`.
fn run(
    sim: &Sim,
    id: &str,
    key: &SoftP256,
    faults: &[(usize, Fault)],
    out: &mut BTreeMap<String, Vec<u8>>,
    names: &[&str],
) {
    let (mut a, mut b, mut c, mut d) = (
        vec![0u8; 16384],
        vec![0u8; 16384],
        vec![0u8; 16384],
        vec![0u8; 16384],
    );
    let mut tx = Transaction::new(
        order(id),
        None,
        PollPolicy {
            first_ms: 0,
            max_ms: 0,
            max_attempts: 5,
        },
        Buffers {
            request: &mut a,
            work: &mut b,
            token: &mut c,
            record: &mut d,
        },
    )
    .expect("transaction");
    let mut sends = 0;
    loop {
        match tx.next() {
            Step::Send(s) => {
                let f = faults
                    .iter()
                    .find(|(i, _)| *i == sends)
                    .map(|(_, f)| *f)
                    .unwrap_or(Fault::None);
                sim.set_fault(f);
                let r = sim.handle(s.path, s.soap_action, s.body.as_bytes());
                sim.set_fault(Fault::None);
                if let Some(n) = names.get(sends).filter(|n| !n.is_empty()) {
                    out.insert(n.to_string(), r.body.clone());
                }
                assert!(s.service != Service::Health);
                sends += 1;
                tx.on_reply(r.status, &r.body);
            }
            Step::Save { .. } => tx.saved(),
            Step::DeviceKey { .. } => tx.device_key(key, b"slot-1"),
            Step::Wait { .. } => tx.waited(),
            Step::Done(_) | Step::Failed { .. } => return,
        }
    }
}

#[test]
#[ignore = "writes core/tests/data/issuance; run by hand to regenerate"]
fn write_issuance_fixtures() {
    let sim = Sim::new(Profiles::default_set(), ServerKey::P256).expect("sim");
    sim.set_recognise_repeats(false);
    let key = SoftP256::from_bytes(&KEY).expect("key");
    let other = SoftP256::from_bytes(&OTHER_KEY).expect("key");
    let mut out = BTreeMap::new();
    // The policy, and a refusal of the enrollment.
    run(
        &sim,
        "fx-refused",
        &key,
        &[(1, Fault::PolicyVerification)],
        &mut out,
        &["policy", "enroll-fault"],
    );
    // A certificate for another key under the same seat.
    run(&sim, "fx-other", &other, &[], &mut out, &[]);
    // Pending twice, then issued.
    run(
        &sim,
        "fx-pending",
        &key,
        &[(1, Fault::PendingThenIssued(2))],
        &mut out,
        &["", "enroll-pending", "poll-pending", "poll-issued"],
    );
    // Issued at once.
    run(
        &sim,
        "fx-issued",
        &key,
        &[],
        &mut out,
        &["", "enroll-issued"],
    );
    // The search pages (page size 1): the other key's (more follow), then ours.
    let seat = "ops@contoso.example";
    let search = |start: u32| {
        let mut buf = [0u8; 2048];
        let body = raconn_core::pkiws::search::write_request(
            &raconn_core::pkiws::search::SearchRequest {
                client_transaction_id: Some("fixture"),
                seat_id: Some(seat),
                profile_oid: Some(P256),
                common_name: None,
                status: Some("VALID"),
                serial_number: None,
                start_index: start,
            },
            &mut buf,
        )
        .expect("search")
        .to_string();
        sim.handle(
            Service::Management.path(),
            raconn_core::pkiws::search::ACTION_SEARCH,
            body.as_bytes(),
        )
        .body
    };
    sim.set_search_page(1);
    // Certificates in order: other's, pending's, issued's.
    out.insert("search-page-1-other".into(), search(0));
    out.insert("search-page-2-mine".into(), search(1));
    sim.set_search_page(50);
    out.insert("search-all".into(), search(0));
    let empty = Sim::new(Profiles::default_set(), ServerKey::P256).expect("sim");
    let mut buf = [0u8; 2048];
    let body = raconn_core::pkiws::search::write_request(
        &raconn_core::pkiws::search::SearchRequest {
            client_transaction_id: Some("fixture"),
            seat_id: Some(seat),
            profile_oid: Some(P256),
            common_name: None,
            status: Some("VALID"),
            serial_number: None,
            start_index: 0,
        },
        &mut buf,
    )
    .expect("search")
    .to_string();
    out.insert(
        "search-empty".into(),
        empty
            .handle(Service::Management.path(), "", body.as_bytes())
            .body,
    );
    empty.set_fault(Fault::SearchRefused);
    out.insert(
        "search-refused".into(),
        empty
            .handle(Service::Management.path(), "", body.as_bytes())
            .body,
    );
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../core/tests/data/issuance");
    std::fs::create_dir_all(&dir).expect("dir");
    for (name, body) in &out {
        std::fs::write(dir.join(format!("{name}.xml")), body).expect("write");
    }
    for r in sim.recorded() {
        assert_eq!(r.schema_valid, Some(true), "{}", r.body);
    }
    eprintln!("wrote {} fixtures to {}", out.len(), dir.display());
}
