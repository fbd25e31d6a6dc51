//! The appliance's server verifier against chains openssl makes: a good
//! P-256 and RSA-2048 chain is accepted; each way a chain can be wrong is
//! refused with its own code — host name (RC-EMB-003), unknown root or an
//! issuer that is not a CA (RC-EMB-004), expired or not yet valid by the
//! clock (RC-EMB-005), a broken signature (RC-EMB-006), a key or
//! signature algorithm the adapter does not verify (RC-EMB-007), a server
//! certificate or trust anchor that is not DER (RC-EMB-008/009), and a
//! path longer than the verifier follows (RC-EMB-010).

use std::path::Path;
use std::process::Command;

use raconn_core::cert::CertificateRef;
use raconn_core::error::Explain;
use raconn_embedded::error::EmbeddedError;
use raconn_embedded::verify::ServerVerifier;

const HOST: &str = "ca.example.test";

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Key options for `openssl req -newkey`.
fn key_args(alg: &str) -> Vec<&'static str> {
    match alg {
        "p256" => vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "p384" => vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
        "rsa" => vec!["-newkey", "rsa:2048"],
        "ed25519" => vec!["-newkey", "ed25519"],
        other => panic!("{other}"),
    }
}

/// Makes `name.pem`/`name.key` (and returns the DER): self-signed when
/// `issuer` is None, else signed by `issuer`'s key. `ca` sets
/// basicConstraints; a leaf gets `HOST` as its dNSName.
fn cert(dir: &Path, name: &str, alg: &str, issuer: Option<&str>, ca: bool) -> Vec<u8> {
    let ext = dir.join(format!("{name}.ext"));
    let ext_text = if ca {
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n".to_string()
    } else {
        format!("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectAltName=DNS:{HOST}\n")
    };
    std::fs::write(&ext, ext_text).unwrap();
    let subj = format!("/CN=raconn verifier test {name}");
    let key = format!("{name}.key");
    let pem = format!("{name}.pem");
    let mut a = vec!["req", "-nodes", "-keyout", &key, "-subj", &subj];
    a.extend(key_args(alg));
    match issuer {
        None => {
            a.extend([
                "-x509",
                "-days",
                "30",
                "-out",
                &pem,
                "-extensions",
                "v3",
                "-config",
            ]);
            let cfg = dir.join(format!("{name}.cnf"));
            std::fs::write(
                &cfg,
                format!(
                    "[req]\ndistinguished_name=dn\n[dn]\n[v3]\n{}",
                    std::fs::read_to_string(&ext).unwrap()
                ),
            )
            .unwrap();
            let cfg = cfg.to_str().unwrap().to_string();
            let mut a = a.clone();
            a.push(&cfg);
            openssl(dir, &a);
        }
        Some(i) => {
            let csr = format!("{name}.csr");
            a.extend(["-new", "-out", &csr]);
            openssl(dir, &a);
            let (ic, ik) = (format!("{i}.pem"), format!("{i}.key"));
            let ext = ext.to_str().unwrap().to_string();
            openssl(
                dir,
                &[
                    "x509", "-req", "-in", &csr, "-CA", &ic, "-CAkey", &ik, "-days", "30",
                    "-extfile", &ext, "-out", &pem,
                ],
            );
        }
    }
    let der = format!("{name}.der");
    openssl(dir, &["x509", "-in", &pem, "-outform", "DER", "-out", &der]);
    std::fs::read(dir.join(der)).unwrap()
}

/// Root → intermediate → leaf of `alg`, which openssl verifies.
fn chain(p: &Path, alg: &str) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let root = cert(p, "root", alg, None, true);
    let int = cert(p, "int", alg, Some("root"), true);
    let leaf = cert(p, "leaf", alg, Some("int"), false);
    openssl(
        p,
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "int.pem",
            "leaf.pem",
        ],
    );
    (root, int, leaf)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn check(
    anchor: &[u8],
    host: &str,
    clock: Option<i64>,
    chain: &[&[u8]],
) -> Result<(), EmbeddedError> {
    ServerVerifier::new(anchor, host, clock).check_certificates(chain)
}

#[test]
fn refuses_each_wrong_chain_with_its_code() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let (root, int, leaf) = chain(p, "p256");
    assert_eq!(check(&root, HOST, Some(now()), &[&leaf, &int]), Ok(()));
    // The intermediate as the trust anchor is enough.
    assert_eq!(check(&int, HOST, Some(now()), &[&leaf]), Ok(()));
    // Without a clock, validity is not checked (and the outcome says so).
    let v = {
        let mut v = ServerVerifier::new(&root, HOST, None);
        assert_eq!(v.check_certificates(&[&leaf, &int]), Ok(()));
        v.expiry_checked()
    };
    assert!(!v);

    let mut codes = Vec::new();
    let mut refused = |what: &str, r: Result<(), EmbeddedError>, code: &str| {
        let e = r.expect_err(what);
        assert_eq!(e.code(), code, "{what}: {e}");
        codes.push(code.to_string());
    };
    refused(
        "host",
        check(&root, "other.example.test", Some(now()), &[&leaf, &int]),
        "RC-EMB-003",
    );
    let other_root = cert(p, "other-root", "p256", None, true);
    refused(
        "unknown root",
        check(&other_root, HOST, Some(now()), &[&leaf, &int]),
        "RC-EMB-004",
    );
    refused(
        "missing intermediate",
        check(&root, HOST, Some(now()), &[&leaf]),
        "RC-EMB-004",
    );
    // A leaf (CA:FALSE) used as an issuer.
    let fake = cert(p, "fake", "p256", Some("leaf"), false);
    refused(
        "issuer not a CA",
        check(&root, HOST, Some(now()), &[&fake, &leaf, &int]),
        "RC-EMB-004",
    );
    // A month ahead: past notAfter (30 days); a day before: before notBefore.
    refused(
        "expired",
        check(&root, HOST, Some(now() + 31 * 86_400), &[&leaf, &int]),
        "RC-EMB-005",
    );
    refused(
        "not yet valid",
        check(&root, HOST, Some(now() - 86_400), &[&leaf, &int]),
        "RC-EMB-005",
    );
    // One bit of the leaf's signature flipped: openssl refuses it too.
    let mut bad = leaf.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    std::fs::write(p.join("bad.der"), &bad).unwrap();
    openssl(
        p,
        &[
            "x509", "-inform", "DER", "-in", "bad.der", "-out", "bad.pem",
        ],
    );
    let o = Command::new("openssl")
        .current_dir(p)
        .args([
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "int.pem",
            "bad.pem",
        ])
        .output()
        .unwrap();
    assert!(
        !o.status.success(),
        "openssl accepted the altered certificate"
    );
    assert!(CertificateRef::parse(&bad).is_ok(), "still DER");
    refused(
        "bad signature",
        check(&root, HOST, Some(now()), &[&bad, &int]),
        "RC-EMB-006",
    );
    // An Ed25519 intermediate: its signature on the leaf is not verified here.
    let ed = cert(p, "ed", "ed25519", Some("root"), true);
    let ed_leaf = cert(p, "edleaf", "p256", Some("ed"), false);
    refused(
        "Ed25519 issuer",
        check(&root, HOST, Some(now()), &[&ed_leaf, &ed]),
        "RC-EMB-007",
    );
    refused(
        "leaf not DER",
        check(&root, HOST, Some(now()), &[b"not a certificate", &int]),
        "RC-EMB-008",
    );
    refused(
        "anchor not DER",
        check(b"not a certificate", HOST, Some(now()), &[&leaf, &int]),
        "RC-EMB-009",
    );
    // Root → 7 intermediates → leaf: a path of 9, the verifier follows 6.
    let mut prev = "root".to_string();
    let mut chain_ders = Vec::new();
    for i in 0..7 {
        let name = format!("i{i}");
        chain_ders.push(cert(p, &name, "p256", Some(&prev), true));
        prev = name;
    }
    let deep = cert(p, "deep", "p256", Some(&prev), false);
    let mut chain: Vec<&[u8]> = vec![&deep];
    chain.extend(chain_ders.iter().rev().map(Vec::as_slice));
    openssl(
        p,
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "i0.pem",
            "-untrusted",
            "i1.pem",
            "-untrusted",
            "i2.pem",
            "-untrusted",
            "i3.pem",
            "-untrusted",
            "i4.pem",
            "-untrusted",
            "i5.pem",
            "-untrusted",
            "i6.pem",
            "deep.pem",
        ],
    );
    refused(
        "path of 9",
        check(&root, HOST, Some(now()), &chain),
        "RC-EMB-010",
    );
    let seventeen: Vec<&[u8]> = std::iter::repeat_n(leaf.as_slice(), 17).collect();
    refused(
        "17 certificates sent",
        check(&root, HOST, Some(now()), &seventeen),
        "RC-EMB-010",
    );
    eprintln!("refused: {codes:?}");
}

#[test]
fn accepts_an_rsa_chain() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let (root, int, leaf) = chain(p, "rsa");
    assert_eq!(check(&root, HOST, Some(now()), &[&leaf, &int]), Ok(()));
    let mut bad = int.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert_eq!(
        check(&root, HOST, Some(now()), &[&leaf, &bad]).map_err(|e| e.code()),
        Err("RC-EMB-006")
    );
}

/// A P-384 chain verifies with the `p384` feature (on by default); a build
/// without it (the QEMU firmware's; `scripts/test.sh` runs this test both
/// ways) refuses it with RC-EMB-026 naming the feature, not as a bad
/// signature.
#[test]
fn p384_chain_follows_the_feature() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let (root, int, leaf) = chain(p, "p384");
    let r = check(&root, HOST, Some(now()), &[&leaf, &int]);
    eprintln!("p384 feature: {}", cfg!(feature = "p384"));
    if cfg!(feature = "p384") {
        assert_eq!(r, Ok(()));
    } else {
        assert_eq!(r, Err(EmbeddedError::NotBuilt { feature: "p384" }));
        assert_eq!(r.map_err(|e| e.code()), Err("RC-EMB-026"));
    }
}
