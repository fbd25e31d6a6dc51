//! The PKCS#11 store on Debian's SoftHSM2: `raconn ra new-request/accept/list`
//! with the RA key generated on the token, the key checked non-extractable by
//! asking the token itself, the CSR checked by `openssl req -verify`, and an
//! issuance against raconn-sim whose TLS client authentication is signed on
//! the token — RSA (rustls picks RSA-PSS under TLS 1.3 and 1.2) and ECDSA P-256.
//!
//! Needs `softhsm2` (CI installs it); the test fails, not skips, without it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{s, text, USER};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use raconn_sim::server::Versions;
use raconn_sim::{Profiles, ServerKey, Sim};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "4711-raconn";

struct Hsm {
    dir: tempfile::TempDir,
    conf: PathBuf,
    uri: String,
}

impl Hsm {
    fn new(label: &str) -> Hsm {
        assert!(
            Path::new(MODULE).exists(),
            "{MODULE} missing: apt install softhsm2 (scripts/test.sh does)"
        );
        let dir = tempfile::tempdir().expect("tmp");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).expect("tokens");
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .expect("conf");
        let o = Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                label,
                "--so-pin",
                "0000",
                "--pin",
                PIN,
            ])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .expect("softhsm2-util");
        assert!(o.status.success(), "{}", text(&o.stderr));
        Hsm {
            dir,
            conf,
            uri: format!("pkcs11:module={MODULE};token={label}"),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn raconn(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_raconn"))
            .args(args)
            .env_remove("RACONN_STORE")
            .env_remove("RACONN_CONFIG")
            .env("SOFTHSM2_CONF", &self.conf)
            .env("RACONN_PKCS11_PIN", PIN)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run raconn")
    }

    /// Every private key on the token: (sensitive, extractable, readable secret parts).
    fn private_keys(&self) -> Vec<(bool, bool, usize)> {
        // SoftHSM reads SOFTHSM2_CONF at C_Initialize and allows one
        // initialisation per process: one test at a time, finalised after.
        static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _g = ONE.lock().unwrap_or_else(|p| p.into_inner());
        std::env::set_var("SOFTHSM2_CONF", &self.conf);
        let ctx = Pkcs11::new(MODULE).expect("module");
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .expect("init");
        let slot = ctx.get_slots_with_token().expect("slots")[0];
        let sess = ctx.open_ro_session(slot).expect("session");
        sess.login(UserType::User, Some(&AuthPin::from(PIN.to_string())))
            .expect("login");
        let keys = sess
            .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
            .expect("find");
        let keys = keys
            .into_iter()
            .map(|k| {
                let a = sess
                    .get_attributes(
                        k,
                        &[
                            AttributeType::Sensitive,
                            AttributeType::Extractable,
                            AttributeType::Value,
                            AttributeType::PrivateExponent,
                            AttributeType::Prime1,
                        ],
                    )
                    .expect("attrs");
                let mut sens = false;
                let mut extr = true;
                let mut secret = 0;
                for x in a {
                    match x {
                        Attribute::Sensitive(v) => sens = v,
                        Attribute::Extractable(v) => extr = v,
                        Attribute::Value(_)
                        | Attribute::PrivateExponent(_)
                        | Attribute::Prime1(_) => secret += 1,
                        _ => {}
                    }
                }
                (sens, extr, secret)
            })
            .collect::<Vec<_>>();
        drop(sess);
        ctx.finalize().expect("finalize");
        keys
    }
}

fn openssl(args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl")
}

/// Onboards an RA key of `alg` on the token; returns (thumbprint, sim, server).
fn onboard(h: &Hsm, alg: &str, versions: Versions) -> (String, Sim, raconn_sim::server::Server) {
    let sim = Sim::new(Profiles::default_set(), ServerKey::Rsa2048).expect("sim");
    let server = raconn_sim::server::start(sim.clone(), "127.0.0.1:0", versions).expect("server");
    let inf = h.path("ra.ini");
    std::fs::write(
        &inf,
        format!("[NewRequest]\nSubject = \"C=US, O=Contoso, CN=raconn HSM RA\"\n{alg}\nKeyUsage = 0xa0\n[EnhancedKeyUsageExtension]\nOID=1.3.6.1.5.5.7.3.2\n"),
    )
    .expect("ini");
    let csr = h.path("ra.csr");
    let o = h.raconn(&[
        "ra",
        "new-request",
        "--inf",
        s(&inf),
        "--out",
        s(&csr),
        "--store",
        &h.uri,
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(
        j["key"].as_str().unwrap().contains("on PKCS#11 token"),
        "{j}"
    );
    // The request is signed on the token; openssl checks the signature.
    let v = openssl(&["req", "-in", s(&csr), "-verify", "-noout"]);
    assert!(v.status.success(), "{}", text(&v.stderr));
    // Nothing was written to a file store.
    assert!(!h.path("store").exists());
    let ra = h.path("ra.pem");
    common::sim_signs(&sim, &csr, &ra);
    let o = h.raconn(&["ra", "accept", s(&ra), "--store", &h.uri]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let thumb = text(&o.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("RA Cert Thumbprint: "))
        .expect("thumb")
        .to_string();
    // Accepting twice stores it once.
    let o = h.raconn(&["ra", "accept", s(&ra), "--store", &h.uri]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = h.raconn(&["ra", "list", "--json", "--store", &h.uri]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let rows = rows.as_array().expect("array");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["thumbprint"], thumb.as_str());
    assert_eq!(rows[0]["has_key"], true);
    std::fs::write(
        h.path("root.pem"),
        raconn_host::files::to_pem("CERTIFICATE", &sim.pki.root.der),
    )
    .expect("root");
    (thumb, sim, server)
}

fn config(h: &Hsm, thumb: &str, port: u16) -> PathBuf {
    let p = h.path("raconn.toml");
    std::fs::write(
        &p,
        format!(
            "ra_cert_thumbprint = \"{thumb}\"\nstore = \"{}\"\nca_trust = \"root.pem\"\n\n[profiles.users]\ncertification_authority = \"localhost:{port}\"\ncertification_authority_name = \"Symantec\"\ncertificate_template = \"{USER}\"\nsubject_name_format = \"common-name-including-email\"\nsubject_alternative_names = [\"email\", \"upn\"]\n",
            h.uri
        ),
    )
    .expect("config");
    p
}

fn issue_with_token_key(alg: &str, versions: Versions) {
    let h = Hsm::new("raconn");
    let (thumb, sim, server) = onboard(&h, alg, versions);
    // The key never leaves the token: sensitive, not extractable, and the
    // token refuses to hand out any secret part.
    let keys = h.private_keys();
    assert_eq!(keys, vec![(true, false, 0)]);
    let cfg = config(&h, &thumb, server.addr.port());
    // Without --store, `raconn ra list` uses raconn.toml's store.
    let o = h.raconn(&["--config", s(&cfg), "ra", "list", "--json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains(&thumb), "{}", text(&o.stdout));
    let o = h.raconn(&["--config", s(&cfg), "check"]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    assert!(out.contains("OK   RA store: pkcs11:module="), "{out}");
    assert!(out.contains("OK   RA key can sign TLS"), "{out}");
    assert!(
        out.contains("OK   profile users: TLS to localhost:"),
        "{out}"
    );
    let pw = h.path("pw");
    std::fs::write(&pw, "pfx-secret").expect("pw");
    let pfx = h.path("user.pfx");
    let o = h.raconn(&[
        "--config",
        s(&cfg),
        "issue",
        "--profile",
        "users",
        "--request-id",
        "hsm-1",
        "--cn",
        "Ada Lovelace",
        "--email",
        "ada@contoso.example",
        "--upn",
        "ada@contoso.example",
        "--out",
        s(&pfx),
        "--password-file",
        s(&pw),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(sim.enrollments(), 1);
    let o = openssl(&[
        "pkcs12",
        "-in",
        s(&pfx),
        "-passin",
        "pass:pfx-secret",
        "-nokeys",
        "-clcerts",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // openssl 3.0/3.1 print "CN = …", 3.2 and later "CN=…".
    let out = text(&o.stdout);
    assert!(
        out.contains("subject=CN=Ada Lovelace") || out.contains("subject=CN = Ada Lovelace"),
        "{out}"
    );
    // The journal sits beside raconn.toml when the store is a token.
    assert!(h.path("journal/hsm-1.rec").exists());
    // Still exactly one key on the token: issuance made its device key in software.
    assert_eq!(h.private_keys().len(), 1);
}

#[test]
fn p256_ra_key_on_softhsm_tls13() {
    issue_with_token_key("KeyAlgorithm = ECDSA_P256", Versions::Tls13);
}

#[test]
fn rsa_ra_key_on_softhsm_signs_pss_in_tls13() {
    issue_with_token_key("KeyLength = 2048", Versions::Tls13);
}

#[test]
fn rsa_ra_key_on_softhsm_tls12() {
    issue_with_token_key("KeyLength = 2048", Versions::Tls12);
}

#[test]
fn token_errors_name_the_cause() {
    let h = Hsm::new("raconn");
    let inf = h.path("ra.ini");
    std::fs::write(
        &inf,
        "[NewRequest]\nSubject = \"CN=x\"\nKeyAlgorithm = ECDSA_P256\n",
    )
    .expect("ini");
    let csr = h.path("ra.csr");
    // Wrong label: the tokens present are listed.
    let o = h.raconn(&[
        "ra",
        "new-request",
        "--inf",
        s(&inf),
        "--out",
        s(&csr),
        "--store",
        &format!("pkcs11:module={MODULE};token=nope"),
    ]);
    let e = text(&o.stderr);
    assert!(!o.status.success());
    assert!(
        e.contains("RC-HOST-015") && e.contains("\"nope\"") && e.contains("raconn"),
        "{e}"
    );
    // Wrong PIN.
    let o = Command::new(env!("CARGO_BIN_EXE_raconn"))
        .args(["ra", "list", "--store", &h.uri])
        .env("SOFTHSM2_CONF", &h.conf)
        .env("RACONN_PKCS11_PIN", "wrong")
        .output()
        .expect("run");
    let e = text(&o.stderr);
    assert!(!o.status.success());
    assert!(e.contains("RC-HOST-015") && e.contains("PIN"), "{e}");
    // No PIN at all.
    let o = Command::new(env!("CARGO_BIN_EXE_raconn"))
        .args(["ra", "list", "--store", &h.uri])
        .env("SOFTHSM2_CONF", &h.conf)
        .env_remove("RACONN_PKCS11_PIN")
        .output()
        .expect("run");
    let e = text(&o.stderr);
    assert!(
        e.contains("RC-HOST-015") && e.contains("RACONN_PKCS11_PIN"),
        "{e}"
    );
    // A bad location.
    let o = h.raconn(&["ra", "list", "--store", "pkcs11:token=raconn"]);
    let e = text(&o.stderr);
    assert!(e.contains("RC-HOST-016") && e.contains("module"), "{e}");
    // A certificate whose key is not on the token.
    let other = tempfile::tempdir().expect("tmp");
    let o = h.raconn(&[
        "ra",
        "new-request",
        "--inf",
        s(&inf),
        "--out",
        s(&csr),
        "--store",
        s(other.path()),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let sim = Sim::new(Profiles::default_set(), ServerKey::P256).expect("sim");
    let ra = h.path("ra.pem");
    common::sim_signs(&sim, &csr, &ra);
    let o = h.raconn(&["ra", "accept", s(&ra), "--store", &h.uri]);
    let e = text(&o.stderr);
    assert!(
        e.contains("RC-HOST-005") && e.contains("pkcs11:module="),
        "{e}"
    );
}

/// `ra import` onto the token: a key and RA certificate openssl made and
/// exported as PFX (RSA legacy, P-256 modern) are created on SoftHSM2 as
/// sensitive, non-extractable keys, and an issuance signs its TLS
/// handshake with the imported key on the token.
#[test]
fn import_a_pfx_onto_the_token_and_issue() {
    for (name, key, legacy) in [
        ("rsa", vec!["-newkey", "rsa:2048"], true),
        (
            "p256",
            vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            false,
        ),
    ] {
        let h = Hsm::new("raconn");
        let sim = Sim::new(Profiles::default_set(), ServerKey::P256).expect("sim");
        let server =
            raconn_sim::server::start(sim.clone(), "127.0.0.1:0", Versions::Both).expect("server");
        let (k, csr, pem, pfx) = (
            h.path("ra.key"),
            h.path("ra.csr"),
            h.path("ra.pem"),
            h.path("ra.pfx"),
        );
        let mut a = vec![
            "req",
            "-new",
            "-nodes",
            "-keyout",
            s(&k),
            "-out",
            s(&csr),
            "-subj",
            "/CN=raconn imported HSM RA",
        ];
        a.extend(key.iter().copied());
        a.extend(["-addext", "extendedKeyUsage=clientAuth"]);
        let o = openssl(&a);
        assert!(o.status.success(), "{}", text(&o.stderr));
        common::sim_signs(&sim, &csr, &pem);
        let mut a = vec![
            "pkcs12",
            "-export",
            "-inkey",
            s(&k),
            "-in",
            s(&pem),
            "-out",
            s(&pfx),
            "-passout",
            "pass:exported",
        ];
        if legacy {
            a.push("-legacy");
        }
        let o = openssl(&a);
        assert!(o.status.success(), "{}", text(&o.stderr));
        std::fs::write(h.path("pfx-pw"), "exported\n").unwrap();
        let o = h.raconn(&[
            "ra",
            "import",
            s(&pfx),
            "--password-file",
            s(&h.path("pfx-pw")),
            "--store",
            &h.uri,
        ]);
        assert!(o.status.success(), "{name}: {}", text(&o.stderr));
        let thumb = text(&o.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("RA Cert Thumbprint: "))
            .expect("thumb")
            .to_string();
        assert_eq!(
            h.private_keys(),
            vec![(true, false, 0)],
            "{name}: sensitive, not extractable, no secret part readable"
        );
        std::fs::write(
            h.path("root.pem"),
            raconn_host::files::to_pem("CERTIFICATE", &sim.pki.root.der),
        )
        .unwrap();
        let cfg = config(&h, &thumb, server.addr.port());
        std::fs::write(h.path("pw"), "pfx-secret").unwrap();
        let o = h.raconn(&[
            "--config",
            s(&cfg),
            "issue",
            "--profile",
            "users",
            "--request-id",
            "imp-1",
            "--cn",
            "Ada",
            "--email",
            "ada@contoso.example",
            "--upn",
            "ada@contoso.example",
            "--out",
            s(&h.path("u.pfx")),
            "--password-file",
            s(&h.path("pw")),
        ]);
        assert!(o.status.success(), "{name}: {}", text(&o.stderr));
        let presented = sim.client_certificates().pop().unwrap();
        assert_eq!(
            raconn_core::thumbprint::Thumbprint::of(&presented).to_string(),
            thumb,
            "{name}"
        );
    }
}
