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
use raconn_core::inf::{HashAlgorithm, KeyAlgorithm};
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
    g.bench_function("RSA-2048 keygen + CSR", |b| {
        b.iter(|| {
            let k = SoftKey::generate(KeyAlgorithm::Rsa(2048), HashAlgorithm::Sha256).expect("key");
            let mut buf = [0u8; 1024];
            black_box(csr::build(&spec(), &k, &mut buf).expect("csr").len())
        })
    });
    g.bench_function("P-256 keygen + CSR", |b| {
        b.iter(|| {
            let k = SoftKey::generate(KeyAlgorithm::EcdsaP256, HashAlgorithm::Sha256).expect("key");
            let mut buf = [0u8; 1024];
            black_box(csr::build(&spec(), &k, &mut buf).expect("csr").len())
        })
    });
    g.finish();

    let rsa = SoftKey::generate(KeyAlgorithm::Rsa(2048), HashAlgorithm::Sha256).expect("key");
    let p256 = SoftKey::generate(KeyAlgorithm::EcdsaP256, HashAlgorithm::Sha256).expect("key");
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

criterion_group!(benches, keygen_and_csr, parsing);
criterion_main!(benches);
