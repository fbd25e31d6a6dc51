//! `raconn policy`, `issue` and `check` against raconn-sim over mutual TLS:
//! PFX opened by `openssl pkcs12` (modern and legacy) and its chain checked
//! by `openssl verify`; request-id idempotency (exactly one enrollment);
//! faults give their code and exit status and leave no file; a pasted
//! thumbprint with U+200E works and is reported; an untrusted server is refused.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use raconn_sim::{Fault, ServerKey};

fn issue(
    e: &Env,
    cfg: &std::path::Path,
    id: &str,
    out: &str,
    extra: &[&str],
) -> std::process::Output {
    let i = IssueArgs::new(e, cfg, id, "Zoë Müller", out);
    let mut a = i.args();
    a.extend_from_slice(extra);
    raconn(&a)
}

fn openssl(args: &[&str]) -> (bool, String) {
    let o = std::process::Command::new("openssl")
        .args(args)
        .output()
        .unwrap();
    (o.status.success(), text(&o.stdout) + &text(&o.stderr))
}

#[test]
fn issue_pfx_idempotent_and_verified() {
    let e = env(ServerKey::Rsa2048);
    let cfg = e.config(
        "raconn.toml",
        &format!("\u{200E}{}", e.thumbprint.to_lowercase()),
        10000,
        "",
    );
    let pfx = e.path("user.pfx");
    let o = issue(&e, &cfg, "req-1", s(&pfx), &["--json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("U+200E") && err.contains("character 1"),
        "{err}"
    );
    assert!(
        err.contains("RC-PROF-W03"),
        "UPN with _ is warned about: {err}"
    );
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["from_journal"], false);
    assert_eq!(
        std::fs::metadata(&pfx).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // openssl opens it, and the chain verifies.
    let pem = e.path("all.pem");
    let (ok, out) = openssl(&[
        "pkcs12",
        "-in",
        s(&pfx),
        "-passin",
        "pass:correct horse battery",
        "-nodes",
        "-out",
        s(&pem),
    ]);
    assert!(ok, "{out}");
    let all = String::from_utf8_lossy(&std::fs::read(&pem).unwrap()).into_owned();
    assert!(
        all.contains("PRIVATE KEY") && all.matches("BEGIN CERTIFICATE").count() == 3,
        "{all}"
    );
    let leaf = e.path("leaf.pem");
    openssl(&[
        "pkcs12",
        "-in",
        s(&pfx),
        "-passin",
        "pass:correct horse battery",
        "-clcerts",
        "-nokeys",
        "-out",
        s(&leaf),
    ]);
    let chain = e.path("chain.pem");
    openssl(&[
        "pkcs12",
        "-in",
        s(&pfx),
        "-passin",
        "pass:correct horse battery",
        "-cacerts",
        "-nokeys",
        "-out",
        s(&chain),
    ]);
    let (ok, out) = openssl(&[
        "verify",
        "-CAfile",
        s(&e.path("root.pem")),
        "-untrusted",
        s(&chain),
        s(&leaf),
    ]);
    assert!(ok, "{out}");
    let (_, t) = openssl(&["x509", "-in", s(&leaf), "-noout", "-text"]);
    assert!(
        t.contains("othername: UPN::zoe_m@corp.contoso.local")
            && t.contains("email:zoe@contoso.com"),
        "{t}"
    );
    assert!(
        t.contains("Public-Key: (2048 bit)"),
        "policy asks RSA 2048: {t}"
    );

    // Same request id: same certificate, no second enrollment.
    let o2 = issue(&e, &cfg, "req-1", s(&e.path("again.pfx")), &["--json"]);
    assert!(o2.status.success(), "{}", text(&o2.stderr));
    let j2: serde_json::Value = serde_json::from_slice(&o2.stdout).unwrap();
    assert_eq!(j2["from_journal"], true);
    assert_eq!(j2["thumbprint"], j["thumbprint"]);
    assert_eq!(e.sim.enrollments(), 1);
    // JSON logs: every line of an issuance carries the request id and the
    // clientTransactionID; the password never appears.
    let o4 = issue(
        &e,
        &cfg,
        "req-2",
        s(&e.path("log.pfx")),
        &["--log-format", "json"],
    );
    assert!(o4.status.success(), "{}", text(&o4.stderr));
    let lines: Vec<serde_json::Value> = text(&o4.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(lines.len() >= 5, "{}", text(&o4.stderr));
    for l in &lines {
        assert_eq!(l["span"]["request_id"], "req-2", "{l}");
        assert!(
            l["span"]["client_transaction_id"]
                .as_str()
                .is_some_and(|t| t.starts_with("raconn-")),
            "{l}"
        );
    }
    assert!(!text(&o4.stderr).contains("correct horse"));
    // A different request under the same id is refused.
    let pw = e.path("pw");
    let o3 = raconn(&[
        "--config",
        s(&cfg),
        "issue",
        "--profile",
        "users",
        "--request-id",
        "req-1",
        "--cn",
        "Someone Else",
        "--email",
        "x@contoso.com",
        "--upn",
        "x@corp",
        "--other-name",
        "1.3.6.1.4.1.311.25.1=04 00",
        "--out",
        s(&e.path("x.pfx")),
        "--password-file",
        s(&pw),
    ]);
    assert_eq!(o3.status.code(), Some(1));
    assert!(text(&o3.stderr).contains("RC-TX-001"));
    assert!(!e.path("x.pfx").exists());
    // Every request the simulator saw was schema-valid.
    for r in e.sim.recorded() {
        assert_eq!(r.schema_valid, Some(true), "{}", r.body);
    }
}

/// Issues request `req-NAME` into NAME.pfx (once) and reads it with
/// `openssl pkcs12 -info` (and `extra` options): openssl's success and text.
fn issue_and_read_pfx(
    e: &Env,
    cfg: &std::path::Path,
    name: &str,
    extra: &[&str],
) -> (bool, String) {
    let pfx = e.path(&format!("{name}.pfx"));
    if !pfx.exists() {
        let o = issue(e, cfg, &format!("req-{name}"), s(&pfx), &[]);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let mut args = vec!["pkcs12"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[
        "-info",
        "-in",
        s(&pfx),
        "-passin",
        "pass:correct horse battery",
        "-noout",
    ]);
    openssl(&args)
}

/// `pfx_iterations`: openssl reads the count back from the PFX, for the
/// bags and the MAC; a count outside 1,000..=1,000,000 is refused.
#[test]
fn pfx_iterations_setting() {
    let e = env(ServerKey::P256);
    let cfg = e.config("raconn.toml", &e.thumbprint, 10000, "pfx_iterations = 2048");
    let (ok, info) = issue_and_read_pfx(&e, &cfg, "iter", &[]);
    assert!(ok, "{info}");
    assert!(
        info.contains("MAC: sha256, Iteration 2048")
            && info.contains("PBKDF2, AES-256-CBC, Iteration 2048"),
        "{info}"
    );
    assert!(!info.contains("Iteration 10000"), "{info}");
    let bad = e.config("bad.toml", &e.thumbprint, 10000, "pfx_iterations = 999");
    let o = raconn(&["--config", s(&bad), "check"]);
    assert!(!o.status.success());
    let t = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(
        t.contains("pfx_iterations") && t.contains("999") && t.contains("SP 800-132"),
        "{t}"
    );
}

#[test]
fn legacy_pfx_policy_and_check() {
    let e = env(ServerKey::P256);
    let cfg = e.config(
        "raconn.toml",
        &e.thumbprint,
        10000,
        "pfx = \"legacy\"\nkey = \"rsa-2048\"",
    );
    let (ok, out) = issue_and_read_pfx(&e, &cfg, "legacy", &[]);
    let (ok2, out2) = issue_and_read_pfx(&e, &cfg, "legacy", &["-legacy"]);
    assert!(ok || ok2, "{out}\n{out2}");
    let info = if ok { out } else { out2 };
    assert!(
        info.contains("MAC: sha1") && info.contains("TripleDES"),
        "{info}"
    );

    let o = raconn(&["--config", s(&cfg), "policy", "users"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let t = text(&o.stdout);
    assert!(
        t.contains("name custom_encode_dsObjectGuid") && t.contains("key: 2048 bits"),
        "{t}"
    );
    let o = raconn(&["--config", s(&cfg), "check"]);
    let t = text(&o.stdout);
    assert!(o.status.success(), "{t}{}", text(&o.stderr));
    assert!(
        t.contains("OK   RA key can sign") && t.contains("OK   profile users"),
        "{t}"
    );
}

#[test]
fn faults_give_codes_and_leave_nothing() {
    let e = env(ServerKey::P256);
    let cfg = e.config("raconn.toml", &e.thumbprint, 20000, "");
    let short = e.config("short.toml", &e.thumbprint, 1500, "");
    let cases: &[(Fault, &str)] = &[
        (Fault::UnknownOid, "RC-PKIWS-005"),
        (Fault::PolicyVerification, "RC-PKIWS-007"),
        (Fault::SpecialChars, "RC-PKIWS-008"),
        (Fault::Http500, "RC-PKIWS-013"),
        (Fault::MalformedXml, "RC-XML-003"),
        (Fault::WrongKey, "RC-PKIWS-014"),
        (Fault::Delay(6000), "RC-PKIWS-002"),
        (Fault::Drop, "RC-PKIWS-018"),
    ];
    for (i, (f, code)) in cases.iter().enumerate() {
        e.sim.set_fault(*f);
        let out = e.path(&format!("f{i}.pfx"));
        let c = if matches!(f, Fault::Delay(_)) {
            &short
        } else {
            &cfg
        };
        let o = issue(&e, c, &format!("fault-{i}"), s(&out), &[]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{f:?}: {err}");
        assert!(err.contains(code), "{f:?}: expected {code}: {err}");
        assert!(err.contains("what to do:"), "{err}");
        assert!(!out.exists(), "{f:?} left a PFX behind");
        if *f == Fault::Delay(6000) {
            assert!(
                err.contains("ca_timeout_ms = 1500") && err.contains("reading the reply"),
                "{err}"
            );
        }
    }
    e.sim.set_fault(Fault::None);
    // A CA whose server certificate chains to a root we do not trust is refused.
    std::fs::write(
        e.path("other-root.pem"),
        raconn_host::files::to_pem(
            "CERTIFICATE",
            &raconn_sim::Pki::new(ServerKey::P256).unwrap().root.der,
        ),
    )
    .unwrap();
    let cfg2 = e.config("untrusted.toml", &e.thumbprint, 5000, "");
    let t = std::fs::read_to_string(&cfg2)
        .unwrap()
        .replace("ca_trust = \"root.pem\"", "ca_trust = \"other-root.pem\"");
    std::fs::write(&cfg2, t).unwrap();
    let o = issue(&e, &cfg2, "untrusted", s(&e.path("u.pfx")), &[]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("RC-PKIWS-003") && err.contains("TLS handshake"),
        "{err}"
    );
}

#[test]
fn failed_enrollment_resumes_with_the_same_key_and_transaction_id() {
    let e = env(ServerKey::P256);
    let cfg = e.config("raconn.toml", &e.thumbprint, 20000, "");
    // The CA answers with a certificate for another key: nothing is stored, but
    // the journal keeps the device key and clientTransactionID.
    e.sim.set_fault(Fault::WrongKey);
    let out = e.path("r.pfx");
    let o = issue(&e, &cfg, "resume-1", s(&out), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!out.exists());
    let key_file = e.path("store/journal/resume-1.key.p8");
    let key_before = std::fs::read(&key_file).expect("device key kept in the journal");
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    e.sim.set_fault(Fault::None);
    let o = issue(&e, &cfg, "resume-1", s(&out), &["--json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        std::fs::read(&key_file).unwrap(),
        key_before,
        "the same key was reused"
    );
    let rec = e.sim.recorded();
    let txs: Vec<&str> = rec
        .iter()
        .filter(|r| r.path.ends_with("enrollmentService"))
        .filter_map(|r| {
            r.body
                .split("<vs:clientTransactionID>")
                .nth(1)?
                .split('<')
                .next()
        })
        .collect();
    assert_eq!(txs.len(), 2);
    assert_eq!(txs[0], txs[1], "the retry reused the clientTransactionID");
    // The certificate in the PFX is for the journal's key.
    let (ok, pub_cert) = openssl(&[
        "pkcs12",
        "-in",
        s(&out),
        "-passin",
        "pass:correct horse battery",
        "-clcerts",
        "-nokeys",
    ]);
    assert!(ok);
    let cert = e.path("c.pem");
    std::fs::write(&cert, pub_cert).unwrap();
    let (_, a) = openssl(&["x509", "-in", s(&cert), "-noout", "-pubkey"]);
    let (_, b) = openssl(&["pkey", "-inform", "DER", "-in", s(&key_file), "-pubout"]);
    assert_eq!(a, b);
}
