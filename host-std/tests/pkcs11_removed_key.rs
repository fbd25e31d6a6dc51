//! A key that left the PKCS#11 token (SoftHSM2) between generation and
//! signing — removed as `ra new-request` removes the key of a request that
//! failed — fails the request with RC-CSR-003 naming RC-SIGN-001, and the
//! store no longer finds it. Its own test binary: raconn keeps the PKCS#11
//! library initialised for the life of the process, as a CLI or service
//! does, and SoftHSM2 takes one initialisation per process.

use std::path::Path;
use std::process::Command;

use raconn_core::csr::{self, CsrSpec};
use raconn_core::error::Explain;
use raconn_core::inf::{HashAlgorithm, KeyKind};
use raconn_host::store::{self, StoreLocation};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "4711-raconn";

#[test]
fn a_key_gone_from_the_token_fails_the_request() {
    assert!(
        Path::new(MODULE).exists(),
        "{MODULE} missing: apt install softhsm2"
    );
    let d = tempfile::tempdir().unwrap();
    let tokens = d.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = d.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let o = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            "raconn",
            "--so-pin",
            "0000",
            "--pin",
            PIN,
        ])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The only test of this process: nothing else reads the environment.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    std::env::set_var("RACONN_PKCS11_PIN", PIN);
    let loc = StoreLocation::parse(
        &format!("pkcs11:module={MODULE};token=raconn"),
        Path::new(""),
    )
    .unwrap();
    let st = store::open(&loc).unwrap();
    let (_, key) = st
        .generate_key(KeyKind::P256, HashAlgorithm::Sha256)
        .unwrap();
    let spki = csr::Signer::public_key_der(key.as_ref()).to_vec();
    let mut out = [0u8; 1024];
    csr::build(&CsrSpec::new("CN=x"), key.as_ref(), &mut out).expect("signs while it is there");
    assert!(st.key_for_spki(&spki).unwrap().is_some());
    st.remove_key(&spki).unwrap();
    assert!(
        st.key_for_spki(&spki).unwrap().is_none(),
        "the key is gone from the token"
    );
    let e = csr::build(&CsrSpec::new("CN=x"), key.as_ref(), &mut out).unwrap_err();
    assert_eq!(e.code(), "RC-CSR-003", "{e}");
    assert!(e.to_string().contains("RC-SIGN-001"), "{e}");
}
