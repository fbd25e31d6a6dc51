//! The PFX writer (`raconn_host::pfx`) read back by things no one here
//! wrote: `openssl pkcs12` (algorithms, iteration counts, bag attributes,
//! the key itself, the MAC refusing a wrong password) and Python
//! `cryptography` (key, certificate, chain, friendlyName). The key and
//! certificate come from openssl, and the password is not ASCII: PBKDF2
//! takes it as UTF-8, the MAC's KDF as BMPString — both as openssl does.

use std::path::Path;
use std::process::Command;

use raconn_host::pfx::{write, PfxContents};

const PASSWORD: &str = "pässwörd € 1";

fn run(args: &[&str], dir: &Path) -> std::process::Output {
    let o = Command::new(args[0])
        .args(&args[1..])
        .current_dir(dir)
        .output()
        .expect("spawn");
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// A P-256 CA and a leaf it signed, made by openssl: (key PKCS#8 DER, leaf DER, CA DER).
fn openssl_pki(dir: &Path) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut a = vec!["openssl", "req", "-x509"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=Test CA",
        "-days",
        "2",
    ]);
    run(&a, dir);
    let mut a = vec!["openssl", "req"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=device-01",
    ]);
    run(&a, dir);
    run(
        &[
            "openssl", "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-days", "2", "-out", "leaf.pem",
        ],
        dir,
    );
    run(
        &[
            "openssl", "pkcs8", "-topk8", "-nocrypt", "-in", "leaf.key", "-outform", "DER", "-out",
            "leaf.p8",
        ],
        dir,
    );
    for n in ["leaf", "ca"] {
        run(
            &[
                "openssl",
                "x509",
                "-in",
                &format!("{n}.pem"),
                "-outform",
                "DER",
                "-out",
                &format!("{n}.der"),
            ],
            dir,
        );
    }
    let r = |n: &str| std::fs::read(dir.join(n)).expect("read");
    (r("leaf.p8"), r("leaf.der"), r("ca.der"))
}

fn pfx(dir: &Path, iterations: u32) -> Vec<u8> {
    let (key, leaf, ca) = openssl_pki(dir);
    let id = [0x5a; 20];
    let chain = vec![ca];
    let c = PfxContents {
        key_pkcs8: &key,
        cert: &leaf,
        chain: &chain,
        friendly_name: "device-01 Zoë",
        local_key_id: &id,
    };
    let bytes = write(&c, PASSWORD, iterations).expect("pfx");
    std::fs::write(dir.join("out.pfx"), &bytes).expect("write");
    bytes
}

#[test]
fn openssl_reads_what_the_writer_wrote() {
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    pfx(dir, 2048);
    let pass = format!("pass:{PASSWORD}");
    let o = run(
        &[
            "openssl", "pkcs12", "-in", "out.pfx", "-info", "-nodes", "-passin", &pass,
        ],
        dir,
    );
    let info = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let all = format!("{info}{err}");
    assert!(all.contains("MAC: sha256, Iteration 2048"), "{all}");
    let pbes2 = "PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256";
    assert!(
        all.contains(&format!("PKCS7 Encrypted data: {pbes2}")),
        "{all}"
    );
    assert!(all.contains(&format!("Shrouded Keybag: {pbes2}")), "{all}");
    assert!(all.contains("localKeyID: 5A 5A 5A"), "{all}");
    assert!(all.contains("subject=CN=device-01") || all.contains("subject=CN = device-01"));
    assert!(all.contains("subject=CN=Test CA") || all.contains("subject=CN = Test CA"));
    // The key openssl decrypts is the key openssl made.
    let mine = run(&["openssl", "pkey", "-in", "leaf.key"], dir);
    let mine = String::from_utf8_lossy(&mine.stdout).into_owned();
    assert!(info.contains(mine.trim()), "{info}\n{mine}");

    // A wrong password fails the MAC.
    let o = Command::new("openssl")
        .args([
            "pkcs12",
            "-in",
            "out.pfx",
            "-noout",
            "-passin",
            "pass:wrong",
        ])
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr).to_lowercase();
    assert!(e.contains("mac verify"), "{e}");
}

#[test]
fn python_cryptography_reads_key_certificate_chain_and_name() {
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    pfx(dir, 10_000);
    let script = r#"
import sys
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
p = pkcs12.load_pkcs12(open("out.pfx", "rb").read(), sys.argv[1].encode())
key = serialization.load_pem_private_key(open("leaf.key", "rb").read(), None)
assert p.key.private_numbers() == key.private_numbers(), "key"
assert p.cert.certificate == x509.load_pem_x509_certificate(open("leaf.pem", "rb").read()), "leaf"
assert p.cert.friendly_name == "device-01 Zoë".encode(), p.cert.friendly_name
ca = x509.load_pem_x509_certificate(open("ca.pem", "rb").read())
assert [c.certificate for c in p.additional_certs] == [ca], "chain"
try:
    pkcs12.load_pkcs12(open("out.pfx", "rb").read(), b"wrong")
    raise SystemExit("a wrong password was accepted")
except ValueError:
    pass
print("ok")
"#;
    let o = run(&["python3", "-c", script, PASSWORD], dir);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "ok");
}

#[test]
fn an_empty_password_is_refused() {
    let c = PfxContents {
        key_pkcs8: &[0x30, 0],
        cert: &[0x30, 0],
        chain: &[],
        friendly_name: "x",
        local_key_id: &[1],
    };
    let e = write(&c, "", 1).expect_err("empty password");
    assert!(e.to_string().contains("empty"), "{e}");
}
