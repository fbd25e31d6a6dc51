//! The trusted root for device profiles: `raconn policy P --ca-out DIR`
//! writes the policy's CA certificates after checking they chain to a
//! self-signed root; openssl verifies an issued certificate with exactly
//! those files and reads each `.cer` as DER. Chains that do not reach a
//! root, or whose signatures do not verify, are refused naming the break.

mod common;

use std::process::Command;

use common::*;
use raconn_host::cacerts;
use raconn_sim::{Pki, ServerKey};

fn openssl(args: &[&str]) -> (bool, String) {
    let o = Command::new("openssl").args(args).output().unwrap();
    (o.status.success(), text(&o.stdout) + &text(&o.stderr))
}

#[test]
fn ca_out_writes_a_chain_openssl_verifies() {
    let e = env(ServerKey::P256);
    let cfg = e.config("raconn.toml", &e.thumbprint, 20_000, "");
    let dir = e.path("trusted");
    let o = raconn(&["--config", s(&cfg), "policy", "users", "--ca-out", s(&dir)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let t = text(&o.stdout);
    assert!(
        t.contains("Root: O=raconn-sim test PKI (throwaway), CN=raconn-sim Root CA"),
        "{t}"
    );
    for f in [
        "root.pem",
        "root.cer",
        "intermediates.pem",
        "intermediate-1.cer",
    ] {
        assert!(dir.join(f).exists(), "{f}");
    }
    for f in ["root.cer", "intermediate-1.cer"] {
        let (ok, out) = openssl(&[
            "x509",
            "-inform",
            "DER",
            "-in",
            s(&dir.join(f)),
            "-noout",
            "-subject",
        ]);
        assert!(ok, "{f}: {out}");
    }
    let (ok, out) = openssl(&[
        "verify",
        "-CAfile",
        s(&dir.join("root.pem")),
        s(&dir.join("intermediates.pem")),
    ]);
    assert!(ok, "{out}");
    // An issued certificate verifies with exactly these files.
    let out_pfx = e.path("u.pfx");
    let out_s = s(&out_pfx).to_string();
    let o = raconn(&IssueArgs::new(&e, &cfg, "ca-1", "Zoe", &out_s).args());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let leaf = e.path("u.pem");
    pfx_leaf_pem(&out_pfx, &leaf);
    let (ok, out) = openssl(&[
        "verify",
        "-CAfile",
        s(&dir.join("root.pem")),
        "-untrusted",
        s(&dir.join("intermediates.pem")),
        s(&leaf),
    ]);
    assert!(ok, "{out}");
    // raconn check says the chain reaches the root.
    let o = raconn(&["--config", s(&cfg), "check"]);
    let t = text(&o.stdout);
    assert!(
        t.contains("OK   profile users CA chain: reaches the self-signed root"),
        "{t}"
    );
}

#[test]
fn broken_chains_are_refused_naming_the_break() {
    let a = Pki::new(ServerKey::P256).unwrap();
    let b = Pki::new(ServerKey::P256).unwrap();
    // In any order, a's chain is good.
    let good = cacerts::check_chain(&[a.root.der.clone(), a.issuing.der.clone()]).unwrap();
    assert_eq!(good, vec![a.issuing.der.clone(), a.root.der.clone()]);
    // No root.
    let e = cacerts::check_chain(std::slice::from_ref(&a.issuing.der)).unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("RC-HOST-023") && m.contains("does not hold"),
        "{m}"
    );
    // Another PKI's root under the same name: the signature does not verify.
    let e = cacerts::check_chain(&[a.issuing.der.clone(), b.root.der.clone()]).unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("RC-HOST-023") && m.contains("does not verify"),
        "{m}"
    );
    let e = cacerts::check_chain(&[]).unwrap_err();
    assert!(e.to_string().contains("no CA certificate"), "{e}");
}
