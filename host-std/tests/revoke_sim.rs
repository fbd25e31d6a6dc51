//! `raconn revoke` against raconn-sim's certificate-management service:
//! by request id, by serial in every pasted form (colons and leading zeros,
//! decimal), by certificate file, with every reason the CLI documents;
//! already revoked (its own code, or exit 0 with --if-needed); a revoked
//! request id is not issued again; a fault or timeout mid-revoke leaves the
//! journal and the CA unchanged. Serial numbers are judged by openssl
//! (`x509 -serial`) and plain integer arithmetic; every request the
//! simulator saw is valid against the PKI Web Services schema.

mod common;

use std::process::Output;

use common::*;
use raconn_core::issuance::record::{self, RecordState};
use raconn_sim::{Fault, ServerKey};

fn issue_one(e: &Env, cfg: &std::path::Path, id: &str) -> String {
    let out = e.path(&format!("{id}.pfx"));
    let out_s = s(&out).to_string();
    let cn = format!("Device {id}");
    let i = IssueArgs::new(e, cfg, id, &cn, &out_s);
    let o = raconn(&i.args());
    assert!(o.status.success(), "{}", text(&o.stderr));
    // The leaf, as PEM, by openssl.
    let pem = e.path(&format!("{id}.pem"));
    pfx_leaf_pem(&out, &pem);
    // openssl's serial: hex of the DER integer's bytes.
    let o = std::process::Command::new("openssl")
        .args(["x509", "-in", s(&pem), "-noout", "-serial"])
        .output()
        .unwrap();
    text(&o.stdout)
        .trim()
        .trim_start_matches("serial=")
        .to_string()
}

fn revoke(cfg: &std::path::Path, args: &[&str]) -> Output {
    let mut a = vec!["--config", s(cfg), "revoke"];
    a.extend_from_slice(args);
    raconn(&a)
}

fn state(e: &Env, id: &str) -> (RecordState, Option<u8>) {
    let b = std::fs::read(e.path(&format!("store/journal/{id}.rec"))).unwrap();
    let r = record::decode(&b).unwrap();
    (r.state, r.revocation.map(|v| v.reason))
}

fn sim_status(e: &Env, hex: &str) -> String {
    e.sim
        .certificates()
        .into_iter()
        .find(|c| c.serial.eq_ignore_ascii_case(hex))
        .map(|c| c.status)
        .unwrap_or_default()
}

#[test]
fn revoke_by_id_serial_and_file_with_every_reason() {
    let e = env(ServerKey::P256);
    let cfg = e.config("raconn.toml", &e.thumbprint, 20_000, "");

    // By request id, keyCompromise.
    let raw = issue_one(&e, &cfg, "r-1");
    let n = u128::from_str_radix(&raw, 16).unwrap();
    let canonical = format!("{n:X}");
    let o = revoke(
        &cfg,
        &["--request-id", "r-1", "--reason", "keyCompromise", "--json"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["serial"], canonical.as_str());
    assert_eq!(j["revoked_now"], true);
    assert_eq!(j["request_ids"], serde_json::json!(["r-1"]));
    assert_eq!(sim_status(&e, &canonical), "REVOKED");
    assert_eq!(state(&e, "r-1"), (RecordState::Revoked, Some(1)));
    // The request carried the serial as DigiCert finds it.
    let sent = e
        .sim
        .recorded()
        .into_iter()
        .rfind(|r| r.body.contains("updateCertificateStatusRequest"))
        .unwrap();
    assert!(
        sent.body.contains(&format!(
            "<mg:certificateSerialNumber>{canonical}</mg:certificateSerialNumber>"
        )) && sent
            .body
            .contains("<mg:revocationReason>KeyCompromise</mg:revocationReason>"),
        "{}",
        sent.body
    );

    // Again: its own code; exit 0 with --if-needed; the id is not issued again.
    let o = revoke(&cfg, &["--request-id", "r-1", "--reason", "keyCompromise"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("RC-REV-004"),
        "{}",
        text(&o.stderr)
    );
    let o = revoke(
        &cfg,
        &[
            "--request-id",
            "r-1",
            "--reason",
            "keyCompromise",
            "--if-needed",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("Already revoked"),
        "{}",
        text(&o.stdout)
    );
    let before = e.sim.enrollments();
    let out = e.path("r-1-again.pfx");
    let out_s = s(&out).to_string();
    let o = raconn(&IssueArgs::new(&e, &cfg, "r-1", "Device r-1", &out_s).args());
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("RC-TX-013"), "{}", text(&o.stderr));
    assert_eq!(e.sim.enrollments(), before);

    // By serial with colons and a leading zero byte, superseded, with a comment.
    let raw = issue_one(&e, &cfg, "r-2");
    let canonical = format!("{:X}", u128::from_str_radix(&raw, 16).unwrap());
    let pasted = format!(
        "00:{}",
        raw.as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap().to_lowercase())
            .collect::<Vec<_>>()
            .join(":")
    );
    let o = revoke(
        &cfg,
        &[
            "--serial",
            &pasted,
            "--reason",
            "superseded",
            "--comment",
            "replaced by r-3",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains(&format!("Revoked: serial {canonical}")),
        "{}",
        text(&o.stdout)
    );
    assert_eq!(
        state(&e, "r-2"),
        (RecordState::Revoked, Some(4)),
        "found in the journal by serial"
    );

    // By decimal serial, affiliationChanged.
    let raw = issue_one(&e, &cfg, "r-3");
    let n = u128::from_str_radix(&raw, 16).unwrap();
    let o = revoke(
        &cfg,
        &[
            "--serial",
            &n.to_string(),
            "--serial-decimal",
            "--reason",
            "affiliationChanged",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(state(&e, "r-3"), (RecordState::Revoked, Some(3)));

    // By certificate file, cessationOfOperation; and unspecified.
    issue_one(&e, &cfg, "r-4");
    let o = revoke(
        &cfg,
        &[
            "--cert",
            s(&e.path("r-4.pem")),
            "--reason",
            "cessationOfOperation",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(state(&e, "r-4"), (RecordState::Revoked, Some(5)));
    issue_one(&e, &cfg, "r-5");
    let o = revoke(&cfg, &["--request-id", "r-5", "--reason", "unspecified"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(state(&e, "r-5"), (RecordState::Revoked, Some(0)));

    // Mistakes: an unknown serial, a reason, a serial that does not parse,
    // a request id with no record.
    let o = revoke(&cfg, &["--serial", "DEADBEEF", "--reason", "superseded"]);
    assert!(
        text(&o.stderr).contains("RC-REV-003"),
        "{}",
        text(&o.stderr)
    );
    let o = revoke(&cfg, &["--request-id", "r-5", "--reason", "lost"]);
    assert!(
        text(&o.stderr).contains("RC-REV-006"),
        "{}",
        text(&o.stderr)
    );
    let o = revoke(&cfg, &["--serial", "12:zz", "--reason", "superseded"]);
    let err = text(&o.stderr);
    assert!(
        err.contains("RC-REV-001") && err.contains("character 4"),
        "{err}"
    );
    let o = revoke(
        &cfg,
        &["--request-id", "never-issued", "--reason", "superseded"],
    );
    assert!(
        text(&o.stderr).contains("RC-HOST-022"),
        "{}",
        text(&o.stderr)
    );

    for r in e.sim.recorded() {
        assert_eq!(r.schema_valid, Some(true), "{}", r.body);
    }
}

#[test]
fn a_fault_or_timeout_mid_revoke_changes_nothing() {
    let e = env(ServerKey::P256);
    let cfg = e.config("raconn.toml", &e.thumbprint, 20_000, "");
    let short = e.config("short.toml", &e.thumbprint, 1_500, "");
    let raw = issue_one(&e, &cfg, "f-1");
    let canonical = format!("{:X}", u128::from_str_radix(&raw, 16).unwrap());
    for (f, c, code) in [
        (Fault::Http500, &cfg, "RC-PKIWS-013"),
        (Fault::Delay(4000), &short, "RC-PKIWS-002"),
    ] {
        e.sim.set_fault_for("certificateManagementService", f);
        let o = revoke(c, &["--request-id", "f-1", "--reason", "keyCompromise"]);
        assert_eq!(o.status.code(), Some(1), "{f:?}");
        assert!(text(&o.stderr).contains(code), "{f:?}: {}", text(&o.stderr));
        assert_eq!(state(&e, "f-1"), (RecordState::Issued, None), "{f:?}");
        assert_eq!(sim_status(&e, &canonical), "VALID", "{f:?}");
    }
    e.sim.set_fault(Fault::None);
    let o = revoke(&cfg, &["--request-id", "f-1", "--reason", "keyCompromise"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(state(&e, "f-1"), (RecordState::Revoked, Some(1)));
}
