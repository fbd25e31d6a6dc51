//! Making an RA request: raconn against `openssl req -new -newkey` measured in
//! the same run, plus the pieces (key generation, CSR signing, parsing).
//!
//! `cargo bench -p raconn-host --bench csr`. The subprocess benches compare
//! like with like (one process that makes a key and a CSR and writes them);
//! the in-process ones show where raconn's time goes.

use std::hint::black_box;
use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion};
use raconn_core::csr::{self, CsrSpec, KeyUsageReq};
use raconn_core::inf::{HashAlgorithm, KeyKind};
use raconn_core::oid;
use raconn_host::keys::SoftKey;

const SUBJECT: &str = "C=US, O=Example Company, CN=CompanyName DigiCert MDM RA Cert";

fn spec() -> CsrSpec<'static> {
    CsrSpec {
        key_usage: Some(KeyUsageReq {
            mask: 0xa0,
            critical: true,
        }),
        eku: &[oid::KP_CLIENT_AUTH],
        ..CsrSpec::new(SUBJECT)
    }
}

fn keygen_and_csr(c: &mut Criterion) {
    let mut g = c.benchmark_group("ra_request_process");
    g.sample_size(30);
    let dir = tempfile::tempdir().expect("tmp");
    let inf = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/ra-certreq.ini");
    let out = dir.path().join("ra.csr");
    let store = dir.path().join("store");
    g.bench_function("openssl req -new -newkey rsa:2048 -nodes", |b| {
        b.iter(|| {
            let s = Command::new("openssl")
                .args(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout"])
                .arg(dir.path().join("o.key"))
                .arg("-out")
                .arg(dir.path().join("o.csr"))
                .args([
                    "-subj",
                    "/C=US/O=Example Company/CN=CompanyName DigiCert MDM RA Cert",
                ])
                .args([
                    "-addext",
                    "keyUsage=critical,digitalSignature,keyEncipherment",
                    "-addext",
                    "extendedKeyUsage=clientAuth",
                ])
                .output()
                .expect("openssl");
            assert!(s.status.success());
        })
    });
    g.bench_function(
        "raconn ra new-request (RSA 2048, reference certreq.ini)",
        |b| {
            b.iter(|| {
                let s = Command::new(env!("CARGO_BIN_EXE_raconn"))
                    .args(["ra", "new-request", "--inf", inf, "--out"])
                    .arg(&out)
                    .arg("--store")
                    .arg(&store)
                    .output()
                    .expect("raconn");
                assert!(s.status.success());
            })
        },
    );
    g.finish();

    let mut g = c.benchmark_group("ra_request_in_process");
    g.sample_size(30);
    g.bench_function(
        "baseline: rsa crate RSA-2048 keygen (rsa::PrivateKey::new)",
        |b| {
            b.iter(|| {
                black_box(rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).expect("key"));
            })
        },
    );
    g.bench_function("RSA-2048 keygen (SoftKey::generate)", |b| {
        b.iter(|| {
            black_box(SoftKey::generate(KeyKind::Rsa(2048), HashAlgorithm::Sha256).expect("key"));
        })
    });
    g.bench_function("RSA-2048 keygen + CSR", |b| {
        b.iter(|| {
            let k = SoftKey::generate(KeyKind::Rsa(2048), HashAlgorithm::Sha256).expect("key");
            let mut buf = [0u8; 1024];
            black_box(csr::build(&spec(), &k, &mut buf).expect("csr").len())
        })
    });
    g.bench_function("P-256 keygen + CSR", |b| {
        b.iter(|| {
            let k = SoftKey::generate(KeyKind::P256, HashAlgorithm::Sha256).expect("key");
            let mut buf = [0u8; 1024];
            black_box(csr::build(&spec(), &k, &mut buf).expect("csr").len())
        })
    });
    g.finish();

    let rsa = SoftKey::generate(KeyKind::Rsa(2048), HashAlgorithm::Sha256).expect("key");
    let p256 = SoftKey::generate(KeyKind::P256, HashAlgorithm::Sha256).expect("key");
    let mut g = c.benchmark_group("csr_only");
    g.bench_function("CSR with an existing RSA-2048 key", |b| {
        b.iter(|| {
            let mut buf = [0u8; 1024];
            black_box(csr::build(&spec(), &rsa, &mut buf).expect("csr").len())
        })
    });
    g.bench_function("CSR with an existing P-256 key", |b| {
        b.iter(|| {
            let mut buf = [0u8; 1024];
            black_box(csr::build(&spec(), &p256, &mut buf).expect("csr").len())
        })
    });
    g.bench_function("encode subject only", |b| {
        b.iter(|| {
            let mut buf = [0u8; 256];
            black_box(
                raconn_core::name::subject_to_der(black_box(SUBJECT), &mut buf)
                    .expect("name")
                    .len(),
            )
        })
    });
    g.finish();
}

fn parsing(c: &mut Criterion) {
    let bundle = std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    let blocks = raconn_host::files::parse_blocks(&bundle).unwrap_or_default();
    let mut g = c.benchmark_group("parse");
    if let Some(b0) = blocks.first() {
        let der = b0.der.clone();
        g.bench_function("certificate view (first CA-bundle certificate)", |b| {
            b.iter(|| black_box(raconn_core::cert::CertificateRef::parse(black_box(&der)).is_ok()))
        });
        g.bench_function("SHA-1 thumbprint", |b| {
            b.iter(|| black_box(raconn_core::thumbprint::Thumbprint::of(&der)))
        });
    }
    g.bench_function("pasted thumbprint with U+200E", |b| {
        b.iter(|| {
            black_box(
                raconn_core::thumbprint::parse(black_box(
                    "\u{200E}ea 7a 4e 0c d1 a4 f8 1c f0 74 05 27 c3 1a 57 f6 02 0c 17 c5",
                ))
                .is_ok(),
            )
        })
    });
    let inf = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/ra-certreq.ini"
    ))
    .unwrap_or_default();
    g.bench_function("reference certreq.ini", |b| {
        b.iter(|| black_box(raconn_core::inf::parse(black_box(&inf)).is_ok()))
    });
    g.finish();
}

criterion_group!(benches, keygen_and_csr, parsing, pkiws, pfx, pfx_chains);
criterion_main!(benches);

fn pkiws(c: &mut Criterion) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../core/tests/data/pkiws/");
    let pol = std::fs::read_to_string(format!("{dir}getPoliciesResponse.xml")).unwrap_or_default();
    let enr = std::fs::read_to_string(format!("{dir}requestSecurityTokenResponse-issued.xml"))
        .unwrap_or_default();
    let mut g = c.benchmark_group("pkiws");
    g.bench_function("parse getPoliciesResponse (8 KB)", |b| {
        b.iter(|| {
            black_box(
                raconn_core::pkiws::policy::parse_response(
                    black_box(&pol),
                    "2.16.840.1.113733.1.16.1.2.3.1.1.47196109",
                )
                .is_ok(),
            )
        })
    });
    g.bench_function(
        "baseline: roxmltree DOM of the same getPoliciesResponse",
        |b| {
            b.iter(|| {
                black_box(
                    roxmltree::Document::parse(black_box(&pol))
                        .map(|d| d.descendants().count())
                        .unwrap_or(0),
                )
            })
        },
    );
    g.bench_function(
        "parse RequestSecurityTokenResponse (5 KB) + decode token + PKCS#7 view",
        |b| {
            b.iter(|| {
                let r = raconn_core::pkiws::enroll::parse_response(black_box(&enr)).expect("parse");
                if let raconn_core::pkiws::enroll::Outcome::Issued { token, .. } = r.outcome {
                    let mut buf = [0u8; 8192];
                    let der = token.base64("token", &mut buf).expect("b64");
                    black_box(
                        raconn_core::cert::Pkcs7Ref::parse(der)
                            .map(|p| p.len())
                            .unwrap_or(0),
                    );
                }
            })
        },
    );
    g.bench_function("write RequestSecurityToken (RSA-2048 CSR, 4 pairs)", |b| {
        let csr = vec![0x30u8; 700];
        let pairs = [
            ("seat_id", "a@b"),
            ("common_name", "Zoë"),
            ("mail_email", "a@b"),
            ("otherNameUPN", "a@c"),
        ];
        let r = raconn_core::pkiws::enroll::EnrollRequest {
            profile_oid: "2.16.840.1.113733.1.16.1.2.3.1.1.47196109",
            client_transaction_id: Some("raconn-bench"),
            csr_der: Some(&csr),
            pending_reference: None,
            name_value_pairs: &pairs,
        };
        b.iter(|| {
            let mut buf = [0u8; 4096];
            black_box(
                raconn_core::pkiws::enroll::write_request(&r, &mut buf)
                    .map(|s| s.len())
                    .unwrap_or(0),
            )
        })
    });
    g.finish();
}

/// A device PFX at the default 10,000 iterations: raconn's writer (one
/// PBKDF2 for key bag and certificate safe, plus the MAC's KDF) against
/// p12-keystore's (a PBKDF2 per encrypted item plus the MAC's KDF), which
/// wrote raconn's modern PFX before and still writes the legacy one.
fn pfx(c: &mut Criterion) {
    use p12_keystore::{
        Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
        PrivateKeyChain,
    };
    let bundle = std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    let blocks = raconn_host::files::parse_blocks(&bundle).unwrap_or_default();
    let (Some(leaf), Some(ca)) = (blocks.first(), blocks.get(1)) else {
        return;
    };
    let key = SoftKey::generate(KeyKind::P256, HashAlgorithm::Sha256).expect("key");
    let pkcs8 = key.to_pkcs8().expect("pkcs8");
    let chain = vec![ca.der.clone()];
    let id = raconn_core::thumbprint::Thumbprint::of(&leaf.der).0;
    let mut g = c.benchmark_group("pfx_10000_iterations");
    g.sample_size(30);
    g.bench_function("baseline: p12-keystore, AES-256 + HMAC-SHA-256", |b| {
        b.iter(|| {
            let certs = vec![
                Certificate::from_der(&leaf.der).expect("leaf"),
                Certificate::from_der(&ca.der).expect("ca"),
            ];
            let entry = PrivateKeyChain::new(
                id.to_vec(),
                PrivateKey::from_der(&pkcs8).expect("key"),
                certs,
            );
            let mut ks = KeyStore::new();
            ks.add_entry("device-01", KeyStoreEntry::PrivateKeyChain(entry));
            let out = ks
                .writer("pfx password")
                .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
                .mac_algorithm(MacAlgorithm::HmacSha256)
                .encryption_iterations(10_000)
                .mac_iterations(10_000)
                .write()
                .expect("pfx");
            black_box(out.len())
        })
    });
    g.bench_function("raconn_host::pfx::write", |b| {
        b.iter(|| {
            let c = raconn_host::pfx::PfxContents {
                key_pkcs8: &pkcs8,
                cert: &leaf.der,
                chain: &chain,
                friendly_name: "device-01",
                local_key_id: &id,
            };
            black_box(
                raconn_host::pfx::write(&c, "pfx password", 10_000)
                    .expect("pfx")
                    .len(),
            )
        })
    });
    g.finish();
}

/// The PFX's two derivations alone at 10,000 iterations: one compression
/// at a time (`portable`, the baseline) against SHA-NI's two lanes (`run`).
fn pfx_chains(c: &mut Criterion) {
    use raconn_host::pfx::chains;
    let w = |x: u32| -> chains::Words { core::array::from_fn(|i| x.wrapping_mul(i as u32 + 7)) };
    let (i, o, u, a) = (w(3), w(5), w(11), w(13));
    let start = chains::Start {
        inner: &i,
        outer: &o,
        u1: &u,
        pbkdf2_iterations: 10_000,
        a1: &a,
        mac_iterations: 10_000,
    };
    let mut g = c.benchmark_group("pfx_chains_10000");
    g.sample_size(30);
    g.bench_function("baseline: one compression at a time", |b| {
        b.iter(|| black_box(chains::portable(&start)))
    });
    g.bench_function("chains::run", |b| b.iter(|| black_box(chains::run(&start))));
    g.finish();
}
