//! The RA certificate over its life, against raconn-sim and openssl:
//! `ra import` of PFX files openssl exports (legacy and modern, RSA and
//! P-256) followed by an issuance with the imported identity, and the
//! refusals (wrong password, no key matching a certificate, no clientAuth)
//! that store nothing; `ra renew` → the simulator signs → `ra accept` lists
//! both → with both thumbprints configured the newest valid one is used
//! (the simulator records which certificate the client presented); and the
//! expiry watch in `check` and `ra list` with RA certificates made to end
//! in 40 and 2 days, and one already expired.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use raconn_host::files;
use raconn_sim::ServerKey;

fn openssl(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "openssl {args:?}: {}", text(&o.stderr));
    text(&o.stdout)
}

/// A key and RA certificate made outside raconn (openssl key and CSR, the
/// simulator's RA CA signs), exported as a PFX.
fn exported(e: &Env, name: &str, key_args: &[&str], legacy: bool, eku: &str) -> PathBuf {
    let d = e.dir.path();
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let mut a = vec![
        "req",
        "-new",
        "-nodes",
        "-keyout",
        &key,
        "-out",
        &csr,
        "-subj",
        "/CN=raconn imported RA",
    ];
    a.extend_from_slice(key_args);
    let ext = format!("extendedKeyUsage={eku}");
    a.extend_from_slice(&["-addext", &ext]);
    openssl(d, &a);
    let pem = if eku == "clientAuth" {
        let csr_der = files::parse_blocks(&std::fs::read(d.join(&csr)).unwrap()).unwrap()[0]
            .der
            .clone();
        let cert = e.sim.pki.issue_ra(&csr_der, 77).unwrap();
        let p = format!("{name}.pem");
        std::fs::write(d.join(&p), files::to_pem("CERTIFICATE", &cert)).unwrap();
        p
    } else {
        // Not from the RA CA: self-signed, with only the given EKU.
        let p = format!("{name}.pem");
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-signkey",
                &key,
                "-days",
                "30",
                "-copy_extensions",
                "copy",
                "-out",
                &p,
            ],
        );
        p
    };
    let pfx = format!("{name}.pfx");
    let mut a = vec![
        "pkcs12",
        "-export",
        "-inkey",
        &key,
        "-in",
        &pem,
        "-out",
        &pfx,
        "-passout",
        "pass:import pw",
    ];
    if legacy {
        a.push("-legacy");
    }
    openssl(d, &a);
    d.join(pfx)
}

fn import(e: &Env, pfx: &Path, store: &Path) -> std::process::Output {
    std::fs::write(e.path("import-pw"), "import pw\n").unwrap();
    raconn(&[
        "ra",
        "import",
        s(pfx),
        "--password-file",
        s(&e.path("import-pw")),
        "--store",
        s(store),
    ])
}

fn thumb_of(o: &std::process::Output) -> String {
    text(&o.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("RA Cert Thumbprint: "))
        .unwrap_or_else(|| panic!("{}", text(&o.stdout)))
        .to_string()
}

#[test]
fn import_pfx_then_issue_with_it() {
    let e = env(ServerKey::P256);
    let cases: [(&str, &[&str], bool); 3] = [
        ("rsa-legacy", &["-newkey", "rsa:2048"], true),
        ("rsa-modern", &["-newkey", "rsa:2048"], false),
        (
            "p256-modern",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            false,
        ),
    ];
    for (name, key, legacy) in cases {
        let pfx = exported(&e, name, key, legacy, "clientAuth");
        let store = e.path(&format!("{name}-store"));
        let o = import(&e, &pfx, &store);
        assert!(o.status.success(), "{name}: {}", text(&o.stderr));
        let t = thumb_of(&o);
        // The key file is PKCS#8, 0600.
        let keys: Vec<_> = std::fs::read_dir(store.join("keys"))
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(keys.len(), 1, "{name}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            keys[0].metadata().unwrap().permissions().mode() & 0o777,
            0o600
        );
        // An issuance with the imported identity.
        let cfg = e.config(&format!("{name}.toml"), &t, 20_000, "");
        let c = std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("store = \"store\"", &format!("store = \"{name}-store\""));
        std::fs::write(&cfg, c).unwrap();
        let out = e.path(&format!("{name}-user.pfx"));
        let out_s = s(&out).to_string();
        let o = raconn(&IssueArgs::new(&e, &cfg, &format!("imp-{name}"), "Zoe", &out_s).args());
        assert!(o.status.success(), "{name}: {}", text(&o.stderr));
        let presented = e.sim.client_certificates().pop().unwrap();
        assert_eq!(
            raconn_core::thumbprint::Thumbprint::of(&presented).to_string(),
            t,
            "{name}"
        );
    }
}

#[test]
fn imports_that_do_not_fit_store_nothing() {
    let e = env(ServerKey::P256);
    let good = exported(
        &e,
        "good",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        false,
        "clientAuth",
    );
    let store = e.path("refused-store");
    // Wrong password.
    std::fs::write(e.path("wrong-pw"), "not it\n").unwrap();
    let o = raconn(&[
        "ra",
        "import",
        s(&good),
        "--password-file",
        s(&e.path("wrong-pw")),
        "--store",
        s(&store),
    ]);
    let err = text(&o.stderr);
    assert!(
        err.contains("RC-HOST-025") && err.contains("password"),
        "{err}"
    );
    // A PFX with a certificate and no key for it.
    let d = e.dir.path();
    openssl(
        d,
        &[
            "pkcs12",
            "-export",
            "-nokeys",
            "-in",
            "good.pem",
            "-out",
            "nokey.pfx",
            "-passout",
            "pass:import pw",
        ],
    );
    let o = import(&e, &d.join("nokey.pfx"), &store);
    assert!(
        text(&o.stderr).contains("RC-HOST-026"),
        "{}",
        text(&o.stderr)
    );
    // A certificate for servers, not clients.
    let server = exported(
        &e,
        "server",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        false,
        "serverAuth",
    );
    let o = import(&e, &server, &store);
    assert!(
        text(&o.stderr).contains("RC-HOST-027"),
        "{}",
        text(&o.stderr)
    );
    // Not a PKCS#12 file.
    let o = import(&e, &d.join("good.pem"), &store);
    assert!(
        text(&o.stderr).contains("RC-HOST-025"),
        "{}",
        text(&o.stderr)
    );
    let keys = std::fs::read_dir(store.join("keys")).map_or(0, |r| r.count());
    assert_eq!(keys, 0, "nothing stored");
}

#[test]
fn renew_accept_overlap_and_expiry_watch() {
    let e = env(ServerKey::P256);
    let cfg = e.config("raconn.toml", &e.thumbprint, 20_000, "");
    let old = e.thumbprint.clone();
    // Renew: same subject, KU and EKU; a new key.
    let new_csr = e.path("renew.csr");
    let o = raconn(&[
        "--config",
        s(&cfg),
        "ra",
        "renew",
        "--out",
        s(&new_csr),
        "--store",
        s(&e.path("store")),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let req = openssl(
        e.dir.path(),
        &["req", "-in", s(&new_csr), "-noout", "-text", "-verify"],
    );
    let old_cert = openssl(
        e.dir.path(),
        &["x509", "-in", s(&e.path("ra.pem")), "-noout", "-text"],
    );
    assert!(req.contains("Subject: CN = raconn test RA"), "{req}");
    assert!(
        req.contains("TLS Web Client Authentication")
            && req.contains("Digital Signature, Key Encipherment"),
        "{req}"
    );
    let spki = |t: &str| {
        t.split("pub:")
            .nth(1)
            .unwrap_or("")
            .split("ASN1 OID")
            .next()
            .unwrap_or("")
            .to_string()
    };
    assert_ne!(spki(&req), spki(&old_cert), "a new key");
    // The simulator signs it a second later; accept lists both.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let new_pem = e.path("renewed.pem");
    sim_signs(&e.sim, &new_csr, &new_pem);
    let o = raconn(&["ra", "accept", s(&new_pem), "--store", s(&e.path("store"))]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let new = thumb_of(&o);
    let out = text(&o.stdout);
    assert!(
        out.contains(&format!("Also in the store: {old}"))
            && out.contains(&format!("ra_cert_thumbprint = [\"{new}\", \"{old}\"]")),
        "{out}"
    );
    // Both configured, old first: the newest valid one is presented.
    let both = e.path("both.toml");
    let t = std::fs::read_to_string(&cfg).unwrap().replace(
        &format!("ra_cert_thumbprint = \"{old}\""),
        &format!("ra_cert_thumbprint = [\"{old}\", \"{new}\"]"),
    );
    std::fs::write(&both, t).unwrap();
    let out_pfx = e.path("both.pfx");
    let out_s = s(&out_pfx).to_string();
    let o = raconn(&IssueArgs::new(&e, &both, "overlap-1", "Zoe", &out_s).args());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let presented = e.sim.client_certificates().pop().unwrap();
    assert_eq!(
        raconn_core::thumbprint::Thumbprint::of(&presented).to_string(),
        new
    );
    let o = raconn(&["--config", s(&both), "check"]);
    let t = text(&o.stdout);
    assert!(
        o.status.success() && t.contains(&format!("{new} CN=raconn test RA (in use)")),
        "{t}"
    );

    // Expiry watch: RA certificates ending in 40 days, in 2 days, and one
    // that ended yesterday. The 2-day one is made 4 minutes ahead (its
    // notBefore still 1 minute in the past): X.509 times are whole seconds,
    // so a certificate ending exactly 2 days from now has 1 day and 23:59:59
    // left once the clock ticks over before `raconn check` runs.
    let csr_der = files::parse_blocks(&std::fs::read(&new_csr).unwrap()).unwrap()[0]
        .der
        .clone();
    for (days, offset, word, code) in [
        (40u32, 0i64, "OK   RA certificate expiry", "days left)"),
        (
            2,
            240,
            "WARN RA certificate expiry",
            "inside the 2-day notice",
        ),
        (1, -3 * 86_400, "FAIL RA certificate expiry", "expired on"),
    ] {
        let store = e.path(&format!("store-{days}"));
        std::fs::create_dir_all(store.join("keys")).unwrap();
        std::fs::create_dir_all(store.join("certs")).unwrap();
        for d in [&store, &store.join("keys"), &store.join("certs")] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        // The renewed key, with a certificate of that lifetime.
        for k in std::fs::read_dir(e.path("store/keys")).unwrap().flatten() {
            std::fs::copy(k.path(), store.join("keys").join(k.file_name())).unwrap();
        }
        let cert = e
            .sim
            .pki
            .issue_ra_for(&csr_der, 90 + u64::from(days), days, offset)
            .unwrap();
        let pem = e.path(&format!("ra-{days}.pem"));
        std::fs::write(&pem, files::to_pem("CERTIFICATE", &cert)).unwrap();
        let o = raconn(&["ra", "accept", s(&pem), "--store", s(&store)]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let t = thumb_of(&o);
        let c = e.config(&format!("exp-{days}.toml"), &t, 20_000, "");
        let text_cfg = std::fs::read_to_string(&c)
            .unwrap()
            .replace("store = \"store\"", &format!("store = \"store-{days}\""));
        std::fs::write(&c, text_cfg).unwrap();
        let o = raconn(&["--config", s(&c), "check"]);
        let out = text(&o.stdout);
        assert!(
            out.contains(word) && out.contains(code),
            "{days} days: {out}"
        );
        assert_eq!(o.status.success(), days != 1, "{days} days: {out}");
        let o = raconn(&["ra", "list", "--store", s(&store), "--json"]);
        let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let left = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["thumbprint"] == t.as_str())
            .unwrap()["days_left"]
            .as_i64()
            .unwrap();
        match days {
            40 => assert!((39..=40).contains(&left), "{left}"),
            2 => assert!((1..=2).contains(&left), "{left}"),
            _ => assert!(left < 0, "{left}"),
        }
        if days == 1 {
            // An issuance with only an expired RA certificate says so.
            let out_pfx = e.path("expired.pfx");
            let out_s = s(&out_pfx).to_string();
            let o = raconn(&IssueArgs::new(&e, &c, "expired-1", "Zoe", &out_s).args());
            assert!(
                text(&o.stderr).contains("RC-HOST-024"),
                "{}",
                text(&o.stderr)
            );
        }
    }
}
