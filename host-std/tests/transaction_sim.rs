//! `raconn issue` as the host of the core's issuance transaction, against
//! raconn-sim with repeated clientTransactionIDs *not* recognised (so only
//! the transaction's own rules keep one request id to one certificate):
//! concurrent processes with one request id, lost replies resolved by
//! searchCertificate, a record that cannot be saved after the CA issued,
//! tampered journals, temp files of killed processes, device keys deleted
//! after delivery.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use common::*;
use raconn_sim::{Fault, ServerKey};

fn issue_cmd(e: &Env, cfg: &std::path::Path, id: &str, cn: &str, out: &str) -> Command {
    let mut i = IssueArgs::new(e, cfg, id, cn, out);
    i.upn = "zoe@corp.contoso.local";
    let mut c = Command::new(env!("CARGO_BIN_EXE_raconn"));
    c.args(i.args())
        .arg("--json")
        .env_remove("RACONN_STORE")
        .env_remove("RACONN_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("{}{}", text(&o.stdout), text(&o.stderr)))
}

fn key_files(e: &Env) -> usize {
    let Ok(rd) = std::fs::read_dir(e.path("store/journal")) else {
        return 0;
    };
    rd.filter(|d| {
        d.as_ref()
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".key.p8")
    })
    .count()
}

/// 20 rounds of 2 and of 4 concurrent `raconn issue` processes with one
/// request id: one enrollment, one key, every process exits 0 with the same
/// certificate. Different CNs under one id: one wins, the others get the
/// conflict code.
#[test]
fn concurrent_processes_with_one_request_id() {
    let e = env(ServerKey::P256);
    e.sim.set_recognise_repeats(false);
    let cfg = e.config("raconn.toml", &e.thumbprint, 20000, "");
    let mut round = 0;
    for n in [2usize, 4] {
        for _ in 0..20 {
            round += 1;
            let id = format!("race-{round}");
            let before = (
                e.sim.enrollments(),
                e.sim.certificates_issued(),
                key_files(&e),
            );
            let children: Vec<_> = (0..n)
                .map(|i| {
                    issue_cmd(
                        &e,
                        &cfg,
                        &id,
                        "Zoë Müller",
                        s(&e.path(&format!("{id}-{i}.pfx"))),
                    )
                    .spawn()
                    .unwrap()
                })
                .collect();
            let outs: Vec<_> = children
                .into_iter()
                .map(|c| c.wait_with_output().unwrap())
                .collect();
            let mut thumbs = Vec::new();
            for o in &outs {
                assert!(o.status.success(), "round {round}: {}", text(&o.stderr));
                thumbs.push(json(o)["thumbprint"].as_str().unwrap().to_string());
            }
            thumbs.dedup();
            assert_eq!(thumbs.len(), 1, "round {round}: one certificate");
            assert_eq!(
                (
                    e.sim.enrollments(),
                    e.sim.certificates_issued(),
                    key_files(&e)
                ),
                (before.0 + 1, before.1 + 1, before.2 + 1),
                "round {round}: one enrollment, one certificate, one key"
            );
        }
    }
    // Different requests under one id, four at once.
    for r in 0..5 {
        let id = format!("race-cn-{r}");
        let before = e.sim.certificates_issued();
        let children: Vec<_> = (0..4)
            .map(|i| {
                issue_cmd(
                    &e,
                    &cfg,
                    &id,
                    &format!("User {i}"),
                    s(&e.path(&format!("{id}-{i}.pfx"))),
                )
                .spawn()
                .unwrap()
            })
            .collect();
        let outs: Vec<_> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let ok = outs.iter().filter(|o| o.status.success()).count();
        assert_eq!(ok, 1, "one wins");
        for o in outs.iter().filter(|o| !o.status.success()) {
            assert!(text(&o.stderr).contains("RC-TX-001"), "{}", text(&o.stderr));
        }
        assert_eq!(e.sim.certificates_issued(), before + 1);
    }
    eprintln!("concurrency: {round} rounds (20 × 2 and 20 × 4 processes), each one enrollment and one certificate");
}

/// The CA issued and the reply was lost: the rerun asks searchCertificate
/// and gets the certificate without enrolling again. The request lost
/// before the CA saw it: the rerun searches, finds nothing, resends the
/// identical body with the same clientTransactionID.
#[test]
fn lost_replies_with_a_ca_that_does_not_recognise_repeats() {
    let e = env(ServerKey::P256);
    e.sim.set_recognise_repeats(false);
    let cfg = e.config("raconn.toml", &e.thumbprint, 20000, "");
    e.sim.set_fault_for("enrollmentService", Fault::LoseReply);
    let pfx = e.path("lost.pfx");
    let o = issue_cmd(&e, &cfg, "lost-1", "Zoë Müller", s(&pfx))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("RC-PKIWS-018"),
        "{}",
        text(&o.stderr)
    );
    assert!(!pfx.exists());
    assert_eq!((e.sim.enrollments(), e.sim.certificates_issued()), (1, 1));
    e.sim.set_fault(Fault::None);
    let o = issue_cmd(&e, &cfg, "lost-1", "Zoë Müller", s(&pfx))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let j = json(&o);
    assert_eq!(j["found_by_search"], true);
    assert_eq!((e.sim.enrollments(), e.sim.certificates_issued()), (1, 1));
    assert_eq!(e.sim.searches(), 1);
    let issued = &e.sim.certificates()[0];
    assert_eq!(
        j["thumbprint"].as_str().unwrap(),
        raconn_core::thumbprint::Thumbprint::of(&issued.der).to_string()
    );
    // The PFX holds the certificate the CA issued the first time.
    let o = Command::new("openssl")
        .args([
            "pkcs12",
            "-in",
            s(&pfx),
            "-passin",
            "pass:correct horse battery",
            "-nokeys",
            "-clcerts",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    // Lost before the CA saw it.
    e.sim.set_fault_for("enrollmentService", Fault::Drop);
    let o = issue_cmd(&e, &cfg, "lost-2", "Zoë Müller", s(&e.path("lost2.pfx")))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    e.sim.set_fault(Fault::None);
    let o = issue_cmd(&e, &cfg, "lost-2", "Zoë Müller", s(&e.path("lost2.pfx")))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(json(&o)["found_by_search"], false);
    assert_eq!((e.sim.enrollments(), e.sim.certificates_issued()), (3, 2));
    let bodies: Vec<String> = e
        .sim
        .recorded()
        .into_iter()
        .filter(|r| r.body.contains("ws-trust/200512/Issue"))
        .map(|r| r.body)
        .skip(1)
        .collect();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0], bodies[1], "the resend is byte-identical");
    // A CA that refuses searchCertificate: the lost enrollment cannot be
    // confirmed, so nothing is sent again and the error says so.
    e.sim.set_fault_for("enrollmentService", Fault::LoseReply);
    let o = issue_cmd(&e, &cfg, "lost-3", "Zoë Müller", s(&e.path("lost3.pfx")))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    e.sim
        .set_fault_for("certificateManagementService", Fault::SearchRefused);
    let before = e.sim.enrollments();
    let o = issue_cmd(&e, &cfg, "lost-3", "Zoë Müller", s(&e.path("lost3.pfx")))
        .output()
        .unwrap();
    assert!(text(&o.stderr).contains("RC-TX-008"), "{}", text(&o.stderr));
    assert_eq!(e.sim.enrollments(), before);
    e.sim.set_fault(Fault::None);
    for r in e.sim.recorded() {
        assert_eq!(r.schema_valid, Some(true), "{}", r.body);
    }
}

/// The record of the issued certificate cannot be saved: the error names
/// the serial; the rerun collects the certificate by search.
#[test]
fn an_issued_certificate_that_cannot_be_saved_is_collected_by_the_rerun() {
    let e = env(ServerKey::P256);
    e.sim.set_recognise_repeats(false);
    let cfg = e.config("raconn.toml", &e.thumbprint, 20000, "");
    // Slow enrollment: while the CA answers, the record's path becomes a
    // directory, so the final rename fails as a full disk would.
    e.sim.set_fault_for("enrollmentService", Fault::Delay(1500));
    let child = issue_cmd(&e, &cfg, "nosave", "Zoë Müller", s(&e.path("nosave.pfx")))
        .spawn()
        .unwrap();
    let rec = e.path("store/journal/nosave.rec");
    let t = std::time::Instant::now();
    while !std::fs::read(&rec).is_ok_and(|b| b.get(3) == Some(&2)) {
        assert!(t.elapsed().as_secs() < 20, "no Sent record");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let sent = std::fs::read(&rec).unwrap();
    std::fs::remove_file(&rec).unwrap();
    std::fs::create_dir(&rec).unwrap();
    let o = child.wait_with_output().unwrap();
    e.sim.set_fault(Fault::None);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    let serial = &e.sim.certificates()[0].serial;
    assert!(
        !serial.is_empty()
            && err.contains("RC-HOST-017")
            && err
                .replace(':', "")
                .to_uppercase()
                .contains(serial.as_str()),
        "{err}"
    );
    assert!(!e.path("nosave.pfx").exists());
    // The disk is fixed; the rerun finds the certificate.
    std::fs::remove_dir(&rec).unwrap();
    std::fs::write(&rec, sent).unwrap();
    let o = issue_cmd(&e, &cfg, "nosave", "Zoë Müller", s(&e.path("nosave.pfx")))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(json(&o)["found_by_search"], true);
    assert_eq!(e.sim.certificates_issued(), 1);
}

/// A journal changed by hand is refused; temp files of killed processes are
/// swept; `keep_device_keys = false` deletes the key after delivery and a
/// replay says so.
#[test]
fn the_journal_is_checked_swept_and_pruned() {
    let e = env(ServerKey::P256);
    let cfg = e.config("raconn.toml", &e.thumbprint, 20000, "");
    let jdir = e.path("store/journal");
    for id in ["a", "b"] {
        let o = issue_cmd(&e, &cfg, id, "Zoë Müller", s(&e.path(&format!("{id}.pfx"))))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    assert_eq!(
        std::fs::metadata(&jdir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        std::fs::metadata(jdir.join("a.rec"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // Swapped key files: a replay refuses (no PFX whose key does not match its certificate).
    std::fs::copy(jdir.join("b.key.p8"), jdir.join("a.key.p8")).unwrap();
    let out = e.path("swapped.pfx");
    let o = issue_cmd(&e, &cfg, "a", "Zoë Müller", s(&out))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("RC-TX-005"), "{}", text(&o.stderr));
    assert!(!out.exists());
    // A corrupt record.
    let mut rec = std::fs::read(jdir.join("b.rec")).unwrap();
    let n = rec.len();
    rec[n / 2] ^= 0x40;
    std::fs::write(jdir.join("b.rec"), rec).unwrap();
    let o = issue_cmd(&e, &cfg, "b", "Zoë Müller", s(&e.path("corrupt.pfx")))
        .output()
        .unwrap();
    assert!(text(&o.stderr).contains("RC-TX-003"), "{}", text(&o.stderr));
    // A temp file left by a killed process (pid 999999 does not run) goes;
    // one of a running process stays.
    let dead = jdir.join(".c.key.p8.tmp-999999-0a1b2c3d4e5f");
    let alive = jdir.join(format!(".d.rec.tmp-{}-0a1b2c3d4e5f", std::process::id()));
    std::fs::write(&dead, b"unencrypted key").unwrap();
    std::fs::write(&alive, b"in flight").unwrap();
    let o = issue_cmd(&e, &cfg, "c", "Zoë Müller", s(&e.path("c.pfx")))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(!dead.exists(), "the stale temp file was removed");
    assert!(alive.exists());
    // keep_device_keys = false.
    let cfg2 = e.path("prune.toml");
    let t = std::fs::read_to_string(&cfg).unwrap().replace(
        "ca_trust = \"root.pem\"\n",
        "ca_trust = \"root.pem\"\nkeep_device_keys = false\n",
    );
    std::fs::write(&cfg2, t).unwrap();
    let o = issue_cmd(&e, &cfg2, "d", "Zoë Müller", s(&e.path("d.pfx")))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(!jdir.join("d.key.p8").exists());
    let o = issue_cmd(&e, &cfg2, "d", "Zoë Müller", s(&e.path("d2.pfx")))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("RC-TX-006"), "{}", text(&o.stderr));
}

/// Journal entries written by raconn 0.1 (`tests/data/journal-v0`, from its
/// quickstart) are read: an issued one is answered from the journal, a
/// "keyed" one resumes with its key; another request under the id is refused.
#[test]
fn journal_entries_of_raconn_0_1_are_read() {
    let e = env(ServerKey::P256);
    let cfg = e.config("raconn.toml", &e.thumbprint, 20000, "");
    let jdir = e.path("store/journal");
    std::fs::create_dir_all(&jdir).unwrap();
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/journal-v0");
    let old: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("quickstart-user-1.json")).unwrap())
            .unwrap();
    for f in ["quickstart-user-1.json", "quickstart-user-1.key.p8"] {
        std::fs::copy(data.join(f), jdir.join(f)).unwrap();
    }
    let pfx = e.path("old.pfx");
    let o = issue_cmd(&e, &cfg, "quickstart-user-1", "Zoë Müller", s(&pfx))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let j = json(&o);
    assert_eq!(j["from_journal"], true);
    assert_eq!(j["client_transaction_id"], old["client_transaction_id"]);
    assert_eq!(j["server_transaction_id"], old["server_transaction_id"]);
    use base64::Engine as _;
    let cert = base64::engine::general_purpose::STANDARD
        .decode(old["certificate"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        j["thumbprint"].as_str().unwrap(),
        raconn_core::thumbprint::Thumbprint::of(&cert).to_string()
    );
    assert!(jdir.join("quickstart-user-1.rec").exists());
    assert_eq!(e.sim.recorded().len(), 0, "the CA was not contacted");
    let o = Command::new("openssl")
        .args([
            "pkcs12",
            "-in",
            s(&pfx),
            "-passin",
            "pass:correct horse battery",
            "-info",
            "-noout",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    // Another request under that id.
    std::fs::remove_file(jdir.join("quickstart-user-1.rec")).unwrap();
    let o = issue_cmd(
        &e,
        &cfg,
        "quickstart-user-1",
        "Someone Else",
        s(&e.path("x.pfx")),
    )
    .output()
    .unwrap();
    assert!(text(&o.stderr).contains("RC-TX-001"), "{}", text(&o.stderr));
    // A "keyed" entry (the same request, before its enrollment) resumes with its key.
    let mut keyed = old.clone();
    keyed["state"] = "keyed".into();
    for k in ["certificate", "chain", "server_transaction_id"] {
        keyed.as_object_mut().unwrap().remove(k);
    }
    std::fs::write(
        jdir.join("quickstart-user-1.json"),
        serde_json::to_vec(&keyed).unwrap(),
    )
    .unwrap();
    let pfx = e.path("resumed.pfx");
    let o = issue_cmd(&e, &cfg, "quickstart-user-1", "Zoë Müller", s(&pfx))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(json(&o)["from_journal"], false);
    assert_eq!(e.sim.enrollments(), 1);
    let body = e
        .sim
        .recorded()
        .into_iter()
        .find(|r| r.body.contains("ws-trust/200512/Issue"))
        .unwrap()
        .body;
    assert!(body.contains(old["client_transaction_id"].as_str().unwrap()));
    let pubkey = |args: &[&str]| {
        let o = Command::new("openssl").args(args).output().unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        text(&o.stdout)
    };
    let leaf = pubkey(&[
        "pkcs12",
        "-in",
        s(&pfx),
        "-passin",
        "pass:correct horse battery",
        "-nokeys",
        "-clcerts",
    ]);
    std::fs::write(e.path("leaf.pem"), leaf).unwrap();
    assert_eq!(
        pubkey(&["x509", "-in", s(&e.path("leaf.pem")), "-noout", "-pubkey"]),
        pubkey(&[
            "pkey",
            "-inform",
            "DER",
            "-in",
            s(&data.join("quickstart-user-1.key.p8")),
            "-pubout"
        ])
    );
}
