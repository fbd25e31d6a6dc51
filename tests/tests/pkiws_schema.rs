//! Every PKI Web Services request raconn-core writes validates against the
//! service's own XSDs (`shared/schemas/pkiws/validate`, xmllint), tricky
//! values included; every example message parses; the broken ones and
//! random mutations of all of them never panic a reader.

use std::path::PathBuf;

use raconn_core::csr::{self, CsrSpec};
use raconn_core::pkiws::{self, enroll, fault, health, policy, revoke};
use raconn_core::soft_p256::SoftP256;
use raconn_tests::{repo_root, run};

fn kit() -> PathBuf {
    let k = repo_root()
        .parent()
        .expect("parent")
        .join("shared/schemas/pkiws");
    assert!(
        k.join("validate").exists(),
        "shared/schemas/pkiws not found beside the repository at {}",
        k.display()
    );
    k
}

fn validate(xml: &str, name: &str) {
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join(format!("{name}.xml"));
    std::fs::write(&f, xml).expect("write");
    let (ok, out, err) = run(
        "bash",
        &[
            kit().join("validate").to_str().unwrap_or(""),
            f.to_str().unwrap_or(""),
        ],
        None,
    );
    assert!(
        ok && out.contains("valid:"),
        "{name} does not validate:\n{out}\n{err}\n{xml}"
    );
}

const OID: &str = "2.16.840.1.113733.1.16.1.2.3.1.1.47196109";
const ID40: &str = "raconn-0123456789abcdef0123456789abcdef0";

#[test]
fn requests_validate_against_the_xsds() {
    assert_eq!(ID40.len(), 40);
    let mut buf = vec![0u8; 8192];
    validate(
        policy::write_request(Some(ID40), &[OID], &mut buf).expect("policy"),
        "getPolicies-40",
    );
    validate(
        policy::write_request(None, &[OID, "1.2.3.4"], &mut buf).expect("policy"),
        "getPolicies-2oids",
    );
    validate(
        policy::write_request(Some("a&b<c>\"d\" é"), &[OID], &mut buf).expect("policy"),
        "getPolicies-escapes",
    );

    let key = SoftP256::from_bytes(&[9u8; 32]).expect("key");
    let mut cbuf = [0u8; 1024];
    let der = csr::build(&CsrSpec::new("CN=Zoë <Müller> & Co"), &key, &mut cbuf).expect("csr");
    let pairs = [
        ("seat_id", "zoe@contoso.com"),
        ("common_name", "Zoë <Müller> & \"Co\""),
        ("mail_email", "zoe@contoso.com"),
        ("otherNameUPN", "zoe_m@corp.local"),
        ("ds_guid", "BBBBwaz3zrhOtKpYPR3A42s5"),
    ];
    let r = enroll::EnrollRequest {
        profile_oid: OID,
        client_transaction_id: Some(ID40),
        csr_der: Some(der),
        pending_reference: None,
        name_value_pairs: &pairs,
    };
    let x = enroll::write_request(&r, &mut buf).expect("enroll");
    validate(x, "rst-issue");
    let poll = enroll::EnrollRequest {
        csr_der: None,
        pending_reference: Some("PEND-8C41D2A7E93B"),
        name_value_pairs: &[],
        ..r
    };
    validate(
        enroll::write_request(&poll, &mut buf).expect("poll"),
        "rst-poll",
    );
    validate(
        health::write_request(Some(ID40), Some(OID), &mut buf).expect("health"),
        "getStatus",
    );
    validate(
        health::write_request(None, None, &mut buf).expect("health"),
        "getStatus-bare",
    );
    let serial = revoke::Serial::from_bytes(&[0x00, 0x6d, 0x2b, 0x1f, 0x0e]).expect("serial");
    let x = revoke::write_request(
        Some(ID40),
        &serial,
        revoke::Reason::Superseded,
        None,
        &mut buf,
    )
    .expect("revoke");
    validate(x, "updateCertificateStatus");
    let x = revoke::write_request(
        Some(ID40),
        &serial,
        revoke::Reason::KeyCompromise,
        Some("laptop stolen <2026-12-01> & reported"),
        &mut buf,
    )
    .expect("revoke with comment");
    assert!(
        x.contains("<mg:comment>laptop stolen &lt;2026-12-01&gt; &amp; reported</mg:comment>"),
        "{x}"
    );
    validate(x, "updateCertificateStatus-comment");
    let x = revoke::write_request(
        Some(ID40),
        &serial,
        revoke::Reason::Superseded,
        None,
        &mut buf,
    )
    .expect("revoke");
    assert!(x.contains("<mg:certificateSerialNumber>6D2B1F0E</mg:certificateSerialNumber>"));
    validate(x, "updateCertificateStatus");
}

#[test]
fn every_example_parses_and_nothing_panics() {
    let ex = kit().join("examples");
    let mut docs = Vec::new();
    for e in std::fs::read_dir(&ex).expect("examples").flatten() {
        if e.path().extension().and_then(|x| x.to_str()) == Some("xml") {
            docs.push((e.path(), std::fs::read_to_string(e.path()).expect("read")));
        }
    }
    let mut parsed = 0;
    for (p, d) in &docs {
        let info = pkiws::body_info(d).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        match info.first {
            "getPoliciesResponse" => {
                let pol = policy::parse_response(d, OID)
                    .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                assert!(!pol.attributes.is_empty());
                parsed += 1;
            }
            "RequestSecurityTokenResponse" => {
                enroll::parse_response(d).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                parsed += 1;
            }
            "getStatusResponseMessage" => {
                assert!(
                    health::parse_response(d)
                        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
                        .up
                );
                parsed += 1;
            }
            "updateCertificateStatusResponse" => {
                let r =
                    revoke::parse_response(d).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                assert_eq!((r.success_code, r.count), (0, Some(1)));
                parsed += 1;
            }
            "getPolicies" => {
                policy::parse_request(d).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                parsed += 1;
            }
            "RequestSecurityToken" => {
                enroll::parse_request(d).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                parsed += 1;
            }
            _ => {}
        }
        assert!(fault::parse(d).expect("fault reader").is_none());
    }
    // Every example but the two requests raconn only writes (getStatus, updateCertificateStatus).
    assert_eq!(parsed, docs.len() - 2, "examples read");
    // Broken ones and mutations: a typed error or a value, never a panic.
    for e in std::fs::read_dir(ex.join("invalid"))
        .expect("invalid")
        .flatten()
    {
        docs.push((e.path(), std::fs::read_to_string(e.path()).expect("read")));
    }
    let mut seed = 0x1234_5678_u64;
    for (_, d) in &docs {
        let b = d.as_bytes();
        for i in 0..200 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let mut m = b.to_vec();
            match i % 3 {
                0 => m.truncate((seed >> 33) as usize % (b.len() + 1)),
                1 => {
                    let at = (seed >> 33) as usize % b.len();
                    m[at] = (seed >> 13) as u8;
                }
                _ => {
                    let at = (seed >> 33) as usize % b.len();
                    m.drain(at..(at + 7).min(b.len()));
                }
            }
            if let Ok(s) = std::str::from_utf8(&m) {
                let _ = policy::parse_response(s, OID);
                let _ = enroll::parse_response(s);
                let _ = fault::parse(s);
                let _ = health::parse_response(s);
                let _ = revoke::parse_response(s);
                let _ = policy::parse_request(s);
                let _ = enroll::parse_request(s);
            }
        }
    }
}
