//! Handshake + issuance time of the appliance adapter on this host, against
//! raconn-sim on loopback: each issuance makes two TLS 1.3 connections
//! (policy, enrollment) through embedded-tls with the RA key in the software
//! HSM, and one certificate. Also times one `ServerVerifier`-checked
//! handshake with the policy call alone, for P-256 and RSA-2048 servers, and
//! the same policy call through the desktop host (rustls + aws-lc-rs) as the
//! baseline, in the same run.
//!
//! `cargo run --release -p raconn-tests --example sim_timing -- 20`

use std::time::Instant;

use embedded_io_adapters::tokio_1::FromTokio;
use raconn_core::issuance::KeyChoice;
use raconn_core::profile::{Identity, SubjectFormat};
use raconn_embedded::client::{self, CaLink, Connect, Job, Work};
use raconn_embedded::error::EmbeddedError;
use raconn_embedded::hsm::{Hsm, KeyKind, SlotKey};
use raconn_embedded::ram_flash::RamFlash;
use raconn_embedded::soft_hsm::SoftHsm;
use raconn_embedded::store::{Config, Store};
use raconn_sim::server::Versions;
use raconn_sim::{Profiles, ServerKey, Sim};

const PROFILE: &str = "2.16.840.1.113733.1.16.1.2.3.1.1.47196112";
const SIZE: usize = 256 * 1024;

struct Tcp;

impl Connect for Tcp {
    type Socket = FromTokio<tokio::net::TcpStream>;
    async fn connect(&mut self, host: &str, port: u16) -> Result<Self::Socket, EmbeddedError> {
        let s = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|_| EmbeddedError::Io)?;
        s.set_nodelay(true).ok();
        Ok(FromTokio::new(s))
    }

    async fn wait(&mut self, ms: u32) {
        tokio::time::sleep(std::time::Duration::from_millis(u64::from(ms))).await;
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    for server_key in [ServerKey::P256, ServerKey::Rsa2048] {
        let mut sim = Sim::new(Profiles::default_set(), server_key).expect("sim");
        sim.set_validator(None);
        let server =
            raconn_sim::server::start(sim.clone(), "127.0.0.1:0", Versions::Tls13).expect("server");
        let mut hsm = SoftHsm::<4>::new([9; 32]);
        hsm.generate(0, KeyKind::P256).unwrap();
        let ra = {
            let key = SlotKey::new(&hsm, 0).unwrap();
            let mut der = [0u8; 1024];
            let csr = raconn_core::csr::build(
                &raconn_core::csr::CsrSpec::new("CN=timing RA"),
                &key,
                &mut der,
            )
            .unwrap();
            sim.pki.issue_ra(csr, 1).unwrap()
        };
        let mut store = Store::new(RamFlash::<SIZE>::new(), 0..SIZE as u32).unwrap();
        let mut scratch = vec![0u8; 4096];
        let cfg = Config {
            host: "localhost",
            port: server.addr.port(),
            profile_oid: PROFILE,
            ra_slot: 0,
            device_slot: 1,
            max_fragment_length: None,
        };
        store.set_config(&cfg, &mut scratch).await.unwrap();
        store.set_ra_cert(&ra, &mut scratch).await.unwrap();
        store
            .set_anchor(&sim.pki.root.der, &mut scratch)
            .await
            .unwrap();
        let mut bufs: Vec<Vec<u8>> = [16640, 4096, 16384, 8192, 8192, 8192, 4096, 600, 2048, 2048]
            .iter()
            .map(|s| vec![0u8; *s])
            .collect();
        // One policy call: one TLS 1.3 handshake (server chain + CertificateVerify checked, CertificateVerify signed in the HSM).
        let host_ra = raconn_host::keys::SoftKey::generate(
            raconn_core::inf::KeyKind::P256,
            raconn_core::inf::HashAlgorithm::Sha256,
        )
        .unwrap();
        let host_cert = {
            let mut der = [0u8; 1024];
            let csr = raconn_core::csr::build(
                &raconn_core::csr::CsrSpec::new("CN=timing host RA"),
                &host_ra,
                &mut der,
            )
            .unwrap();
            sim.pki.issue_ra(csr, 1).unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root.pem");
        std::fs::write(
            &root,
            raconn_host::files::to_pem("CERTIFICATE", &sim.pki.root.der),
        )
        .unwrap();
        let host_client = raconn_host::tls::CaClient::new(
            "localhost",
            server.addr.port(),
            &host_cert,
            std::sync::Arc::new(host_ra),
            Some(&root),
            30000,
            4 << 20,
        )
        .unwrap();
        let mut baseline = Vec::new();
        let mut one = Vec::new();
        let mut full = Vec::new();
        for i in 0..n {
            let mut req_buf = [0u8; 2048];
            let body =
                raconn_core::pkiws::policy::write_request(Some("t"), &[PROFILE], &mut req_buf)
                    .unwrap();
            let r = raconn_core::engine::Request {
                service: raconn_core::pkiws::Service::Policy,
                path: raconn_core::pkiws::PATH_POLICY,
                soap_action: raconn_core::pkiws::ACTION_POLICY,
                body,
            };
            let mut it = bufs.iter_mut();
            let (a, b, c) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
            let mut conn = Tcp;
            let mut link = CaLink {
                conn: &mut conn,
                hsm: &hsm,
                ra_slot: 0,
                ra_cert: &ra,
                anchor: &sim.pki.root.der,
                host: "localhost",
                port: cfg.port,
                now: None,
                max_fragment_length: None,
            };
            let t = Instant::now();
            let (st, _, _) = link.post(&r, a, b, c).await.unwrap();
            one.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(st, 200);
            let t = Instant::now();
            let (st, _) = host_client.post(r.path, r.soap_action, r.body).unwrap();
            baseline.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(st, 200);
            let id = format!("timing-{i}");
            let job = Job {
                request_id: &id,
                subject_format: SubjectFormat::CommonNameIncludingEmail,
                san: &[],
                other_names: &[],
                identity: Identity {
                    cn: "appliance",
                    email: Some("ops@contoso.example"),
                    upn: None,
                },
                key: KeyChoice::P256,
                strict: false,
            };
            let mut it = bufs.iter_mut();
            let mut next = || it.next().unwrap().as_mut_slice();
            let w = Work {
                tls_read: next(),
                tls_write: next(),
                reply: next(),
                request: next(),
                work: next(),
                token: next(),
                record: next(),
                cfg: next(),
                ra: next(),
                anchor: next(),
            };
            let t = Instant::now();
            client::issue(
                &mut Tcp,
                &mut hsm,
                &mut store,
                &job,
                Some(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs() as i64,
                ),
                w,
            )
            .await
            .unwrap();
            full.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let (e, b) = (median(&mut one), median(&mut baseline));
        println!(
            "{server_key:?} server: one handshake + policy call {e:.2} ms (desktop host, rustls + aws-lc-rs: {b:.2} ms, {:.2}x); full issuance (2 handshakes, policy, enrollment, journal) {:.2} ms (medians of {n})",
            e / b,
            median(&mut full)
        );
        let _ = hsm.public_key(1, &mut [0u8; 100]);
    }
}
