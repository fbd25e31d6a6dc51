//! The desktop host's own codes, each produced by the `raconn` binary from
//! a real mistake an administrator makes: a profile or thumbprint that is
//! not there, an other-name or password not given, a damaged key file, an
//! unusable trust file, an output directory that does not exist, an
//! unknown code asked about. (`tests/tests/every_code.rs` checks that every
//! code of the catalogue is produced by some test.)

mod common;

use common::*;
use raconn_sim::ServerKey;

#[track_caller]
fn fails_with(o: &std::process::Output, code: &str) -> String {
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "expected {code}: {err}");
    assert!(err.contains(code), "expected {code}: {err}");
    assert!(err.contains("what to do:"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn administrators_mistakes_have_their_codes() {
    let e = env(ServerKey::P256);
    let cfg = e.config("raconn.toml", &e.thumbprint, 20_000, "");
    let out = e.path("x.pfx");
    let out_s = s(&out).to_string();

    // A profile that is not in raconn.toml.
    let mut i = IssueArgs::new(&e, &cfg, "c-1", "Zoe", &out_s);
    let mut a = i.args();
    let at = a.iter().position(|x| *x == "users").unwrap();
    a[at] = "admins";
    let err = fails_with(&raconn(&a), "RC-HOST-013");
    assert!(err.contains("admins"), "{err}");

    // The profile asks for an other-name; none given.
    let a: Vec<&str> = i
        .args()
        .into_iter()
        .filter(|x| *x != "--other-name" && *x != GUID)
        .collect();
    let err = fails_with(&raconn(&a), "RC-HOST-011");
    assert!(err.contains("1.3.6.1.4.1.311.25.1"), "{err}");

    // No password given at all.
    let a: Vec<&str> = i
        .args()
        .into_iter()
        .filter(|x| *x != "--password-file" && !x.ends_with("/pw"))
        .collect();
    fails_with(&raconn(&a), "RC-HOST-012");

    // A password file of one empty line.
    std::fs::write(e.path("empty-pw"), "\n").unwrap();
    i.password_file = e.path("empty-pw");
    fails_with(&raconn(&i.args()), "RC-HOST-012");
    i.password_file = e.path("pw");

    // The output directory does not exist.
    let missing = e.path("no-such-dir/x.pfx");
    let missing_s = s(&missing).to_string();
    let j = IssueArgs::new(&e, &cfg, "c-2", "Zoe", &missing_s);
    fails_with(&raconn(&j.args()), "RC-HOST-002");

    // A thumbprint that is not in the store.
    let other = e.config(
        "other.toml",
        "0000000000000000000000000000000000000001",
        20_000,
        "",
    );
    let j = IssueArgs::new(&e, &other, "c-3", "Zoe", &out_s);
    let err = fails_with(&raconn(&j.args()), "RC-HOST-008");
    assert!(
        err.contains("0000000000000000000000000000000000000001"),
        "{err}"
    );

    // The trust file holds no certificate (a request instead).
    let t = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        e.path("not-a-root.pem"),
        std::fs::read(e.path("ra.csr")).unwrap(),
    )
    .unwrap();
    let bad_trust = e.path("bad-trust.toml");
    std::fs::write(
        &bad_trust,
        t.replace("ca_trust = \"root.pem\"", "ca_trust = \"not-a-root.pem\""),
    )
    .unwrap();
    let j = IssueArgs::new(&e, &bad_trust, "c-4", "Zoe", &out_s);
    fails_with(&raconn(&j.args()), "RC-TLS-001");

    // An unknown code asked about.
    fails_with(&raconn(&["explain", "RC-NOPE-999"]), "RC-HOST-009");

    // A password outside the Basic Multilingual Plane: PKCS#12 derives
    // its keys from a BMPString password (RFC 7292 appendix B.1), so no
    // PFX could carry it — refused before anything is sent.
    std::fs::write(e.path("astral-pw"), "pass🦀word\n").unwrap();
    i.password_file = e.path("astral-pw");
    let err = fails_with(&raconn(&i.args()), "RC-HOST-012");
    assert!(err.contains("U+1F980"), "{err}");
    i.password_file = e.path("pw");

    // Nothing above reached the CA's enrollment service.
    assert_eq!(e.sim.enrollments(), 0);

    // The RA key file damaged on disk (last: it breaks this store).
    let keys: Vec<_> = std::fs::read_dir(e.path("store/keys"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(keys.len(), 1);
    std::fs::write(keys[0].path(), b"not a PKCS#8 key").unwrap();
    let j = IssueArgs::new(&e, &cfg, "c-5", "Zoe", &out_s);
    fails_with(&raconn(&j.args()), "RC-HOST-004");
    assert!(!out.exists());
}
