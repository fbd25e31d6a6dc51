//! Sequential issuances per second against raconn-sim (in this process, on
//! loopback, schema validation off), for P-256 and RSA-2048 device keys,
//! each driven through the core's issuance transaction as `raconn issue`
//! drives it (records kept in memory, not on disk), and where the time goes:
//! device keygen, TLS + CA round trips, PFX.
//!
//! `cargo run --release --example throughput -- [N] [KEEP_ALIVE_MS]` (the
//! client's `ca_keep_alive_ms`, default 4000; 0 opens a connection per call).

use std::time::{Duration, Instant};

use raconn_core::inf::{HashAlgorithm, KeyKind};
use raconn_core::issuance::{Buffers, KeyChoice, Order, PollPolicy, Step, Transaction};
use raconn_core::profile::{Identity, SanKindSel};
use raconn_host::config::PfxProfile;
use raconn_host::keys::SoftKey;
use raconn_host::tls::CaClient;
use raconn_sim::{Profiles, ServerKey, Sim};

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let keep_alive_ms: u64 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(raconn_host::tls::DEFAULT_KEEP_ALIVE_MS);
    let mut sim = Sim::new(Profiles::default_set(), ServerKey::Rsa2048).expect("sim");
    sim.set_validator(None);
    let server = raconn_sim::server::start(
        sim.clone(),
        "127.0.0.1:0",
        raconn_sim::server::Versions::Both,
    )
    .expect("server");
    // RA identity from the simulator's RA CA.
    let ra = SoftKey::generate(KeyKind::P256, HashAlgorithm::Sha256).expect("ra");
    let mut cb = [0u8; 1024];
    let csr = raconn_core::csr::build(
        &raconn_core::csr::CsrSpec::new("CN=raconn throughput RA"),
        &ra,
        &mut cb,
    )
    .expect("csr");
    let ra_cert = sim.pki.issue_ra(csr, 1).expect("ra cert");
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("root.pem");
    std::fs::write(
        &root,
        raconn_host::files::to_pem("CERTIFICATE", &sim.pki.root.der),
    )
    .expect("root");
    let client = CaClient::new(
        "localhost",
        server.addr.port(),
        &ra_cert,
        std::sync::Arc::new(ra),
        Some(&root),
        30000,
        4 << 20,
    )
    .expect("client")
    .with_keep_alive(keep_alive_ms);
    let san = [SanKindSel::Email, SanKindSel::Upn];
    println!("{n} sequential issuances per key type (CN + E, SAN email + UPN), raconn-sim on loopback, TLS 1.3, connections kept {keep_alive_ms} ms (0: a new one per call)");
    for (label, alg, profile) in [
        (
            "P-256",
            KeyKind::P256,
            "2.16.840.1.113733.1.16.1.2.3.1.1.47196112",
        ),
        (
            "RSA-2048",
            KeyKind::Rsa(2048),
            "2.16.840.1.113733.1.16.1.2.3.1.1.47196109",
        ),
    ] {
        let (mut keygen, mut ca, mut pfx) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        let start = Instant::now();
        for i in 0..n {
            let id = format!("tp-{label}-{i}");
            let order = Order {
                request_id: &id,
                profile_oid: profile,
                subject_format: raconn_core::profile::SubjectFormat::CommonNameIncludingEmail,
                san: &san,
                other_names: &[],
                overrides: &[],
                identity: Identity {
                    cn: "Zoë Müller",
                    email: Some("zoe@contoso.com"),
                    upn: Some("zoe@corp.local"),
                },
                seat_id: None,
                key: KeyChoice::Policy,
                strict: false,
                sid: None,
                sid_placement: None,
            };
            let (mut a, mut b, mut c, mut d) = (
                vec![0u8; 16384],
                vec![0u8; 16384],
                vec![0u8; 16384],
                vec![0u8; 16384],
            );
            let mut tx = Transaction::new(
                order,
                None,
                PollPolicy::DEFAULT,
                Buffers {
                    request: &mut a,
                    work: &mut b,
                    token: &mut c,
                    record: &mut d,
                },
            )
            .expect("transaction");
            let mut key = None;
            let mut t = Instant::now();
            loop {
                match tx.next() {
                    Step::Send(s) => {
                        let (st, body) = client.post(s.path, s.soap_action, s.body).expect("post");
                        tx.on_reply(st, &body);
                    }
                    Step::Save { .. } => tx.saved(),
                    Step::DeviceKey { .. } => {
                        ca += t.elapsed();
                        let t1 = Instant::now();
                        let k = SoftKey::generate(alg, HashAlgorithm::Sha256).expect("key");
                        keygen += t1.elapsed();
                        t = Instant::now();
                        tx.device_key(&k, b"k");
                        key = Some(k);
                    }
                    Step::Wait { .. } => panic!("pending"),
                    Step::Failed { error, .. } => panic!("{error}"),
                    Step::Done(done) => {
                        ca += t.elapsed();
                        let t3 = Instant::now();
                        let chain: Vec<Vec<u8>> = done.chain.iter().map(<[u8]>::to_vec).collect();
                        let der = raconn_host::issue::pfx_bytes(
                            &key.as_ref().expect("key").to_pkcs8().expect("p8"),
                            done.certificate,
                            &chain,
                            "pw-throughput",
                            PfxProfile::Modern,
                            10_000,
                            "u",
                        )
                        .expect("pfx");
                        raconn_host::issue::write_pfx(&dir.path().join("u.pfx"), &der)
                            .expect("write");
                        pfx += t3.elapsed();
                        break;
                    }
                }
            }
        }
        let total = start.elapsed();
        let per = |d: Duration| d.as_secs_f64() * 1000.0 / n as f64;
        println!(
            "{label:>8}: {:.1} issuances/s ({:.1} ms each): device keygen {:.1} ms, TLS + CA (policy + enrollment, CSR signing included) {:.1} ms, PFX {:.1} ms",
            n as f64 / total.as_secs_f64(),
            per(total),
            per(keygen),
            per(ca),
            per(pfx)
        );
    }
}
