//! raconn-embedded against raconn-sim over a real TCP socket
//! (`embedded-io-adapters` around tokio's TcpStream), TLS 1.3 through
//! embedded-tls with the RA key in the software HSM, flash on
//! sequential-storage's mock NOR flash:
//!
//! * full issuance (P-256 and RSA-2048 server keys — the RSA one makes the
//!   server sign its CertificateVerify with RSA-PSS, verified without alloc),
//!   the certificate checked by `openssl verify` against the simulator's CAs;
//! * the same request id again: from the journal, CA not contacted;
//! * wrong trust anchor and wrong host name: refused with their codes;
//! * power cuts at 21 points spread over the flash writes of an issuance:
//!   after "reboot" the same request completes and the simulator has
//!   issued exactly one certificate — with the simulator *not* recognising
//!   repeated clientTransactionIDs, so only the transaction's own rules
//!   (search before resend) keep it at one;
//! * a reply lost after the CA issued: the next run finds the certificate
//!   by searchCertificate and sends nothing again; a request lost before
//!   the CA saw it: the next run searches, finds nothing, and resends the
//!   identical body.

use std::process::Command;
use std::time::Instant;

use embedded_io_adapters::tokio_1::FromTokio;
use raconn_core::error::Explain;
use raconn_core::issuance::KeyChoice;
use raconn_core::profile::{Identity, SanKindSel, SubjectFormat};
use raconn_core::spki::SpkiRef;
use raconn_embedded::client::{self, Connect, Job, Source, Work};
use raconn_embedded::error::EmbeddedError;
use raconn_embedded::hsm::{Hsm, HsmError, KeyKind, SignatureScheme, SlotKey};
use raconn_embedded::soft_hsm::SoftHsm;
use raconn_embedded::store::{Config, Store};
use raconn_sim::server::Versions;
use raconn_sim::{Fault, Profiles, ServerKey, Sim};
use sequential_storage::mock_flash::{MockFlashBase, WriteCountCheck};

const P256_PROFILE: &str = "2.16.840.1.113733.1.16.1.2.3.1.1.47196112";
type Flash = MockFlashBase<16, 4, 1024>;
const RANGE: core::ops::Range<u32> = 0..(16 * 4 * 1024);

struct Tcp;

impl Connect for Tcp {
    type Socket = FromTokio<tokio::net::TcpStream>;
    async fn connect(&mut self, host: &str, port: u16) -> Result<Self::Socket, EmbeddedError> {
        // As if DNS pointed a foreign name at the simulator.
        let host = if host == "ca.contoso.example" {
            "127.0.0.1"
        } else {
            host
        };
        let s = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|_| EmbeddedError::Io)?;
        Ok(FromTokio::new(s))
    }

    async fn wait(&mut self, ms: u32) {
        tokio::time::sleep(std::time::Duration::from_millis(u64::from(ms))).await;
    }
}

/// A part with an RSA-2048 RA key in slot 0 (signing with aws-lc through
/// raconn-host's software key: PKCS#1 v1.5 for the CSR, PSS for TLS 1.3)
/// and the software P-256 part behind every other slot — the RA key the
/// issue asks for on parts that have RSA.
struct TestHsm {
    soft: SoftHsm<4>,
    rsa_ra: Option<raconn_host::keys::SoftKey>,
}

impl Hsm for TestHsm {
    fn generate(&mut self, slot: u8, spec: KeyKind) -> Result<(), HsmError> {
        match (slot, spec) {
            (0, KeyKind::Rsa(2048)) => {
                let k = raconn_host::keys::SoftKey::generate(
                    raconn_core::inf::KeyKind::Rsa(2048),
                    raconn_core::inf::HashAlgorithm::Sha256,
                )
                .map_err(|_| HsmError::Device)?;
                self.rsa_ra = Some(k);
                Ok(())
            }
            _ => self.soft.generate(slot, spec),
        }
    }

    fn public_key<'b>(&self, slot: u8, out: &'b mut [u8]) -> Result<&'b [u8], HsmError> {
        match (slot, &self.rsa_ra) {
            (0, Some(k)) => {
                let spki = raconn_core::csr::Signer::public_key_der(k);
                let d = out
                    .get_mut(..spki.len())
                    .ok_or(HsmError::BufferTooSmall { needed: spki.len() })?;
                d.copy_from_slice(spki);
                Ok(d)
            }
            _ => self.soft.public_key(slot, out),
        }
    }

    fn sign(
        &self,
        slot: u8,
        alg: SignatureScheme,
        msg: &[u8],
        out: &mut [u8],
    ) -> Result<usize, HsmError> {
        use raconn_host::store::RaKey;
        match (slot, &self.rsa_ra) {
            (0, Some(k)) => {
                if !alg.is_rsa() {
                    return Err(HsmError::Unsupported);
                }
                let sig = k.sign_tls(alg, msg).map_err(|_| HsmError::Device)?;
                out.get_mut(..sig.len())
                    .ok_or(HsmError::BufferTooSmall { needed: sig.len() })?
                    .copy_from_slice(&sig);
                Ok(sig.len())
            }
            _ => self.soft.sign(slot, alg, msg, out),
        }
    }

    fn fill_random(&self, out: &mut [u8]) -> Result<(), HsmError> {
        self.soft.fill_random(out)
    }
}

struct Rig {
    sim: Sim,
    _server: raconn_sim::server::Server,
    port: u16,
    hsm: TestHsm,
    ra_cert: Vec<u8>,
}

fn rig(server_key: ServerKey) -> Rig {
    rig_with(server_key, KeyKind::P256)
}

fn rig_with(server_key: ServerKey, ra_key: KeyKind) -> Rig {
    let sim = Sim::new(Profiles::default_set(), server_key).expect("sim");
    let server =
        raconn_sim::server::start(sim.clone(), "127.0.0.1:0", Versions::Tls13).expect("server");
    let port = server.addr.port();
    let mut seed = [0u8; 32];
    getrandom_seed(&mut seed);
    let mut hsm = TestHsm {
        soft: SoftHsm::<4>::new(seed),
        rsa_ra: None,
    };
    // RA onboarding: key generated in slot 0, CSR signed in the slot.
    hsm.generate(0, ra_key).expect("ra key");
    let key = SlotKey::new(&hsm, 0).expect("slot");
    let spec = raconn_core::csr::CsrSpec::new("CN=appliance RA");
    let mut der = [0u8; 1024];
    let csr = raconn_core::csr::build(&spec, &key, &mut der).expect("csr");
    let ra_cert = sim.pki.issue_ra(csr, 1).expect("ra cert");
    Rig {
        sim,
        _server: server,
        port,
        hsm,
        ra_cert,
    }
}

fn getrandom_seed(seed: &mut [u8; 32]) {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    for (i, b) in seed.iter_mut().enumerate() {
        *b = (t >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(151);
    }
}

fn flash() -> Flash {
    Flash::new(WriteCountCheck::OnceOnly, None, false)
}

async fn provision(flash: Flash, r: &Rig, host: &str, anchor: &[u8]) -> Flash {
    let mut store = Store::new(flash, RANGE).expect("store");
    let mut scratch = [0u8; 2600];
    store
        .set_config(
            &Config {
                host,
                port: r.port,
                profile_oid: P256_PROFILE,
                ra_slot: 0,
                device_slot: 1,
                max_fragment_length: None,
            },
            &mut scratch,
        )
        .await
        .expect("config");
    store
        .set_ra_cert(&r.ra_cert, &mut scratch)
        .await
        .expect("ra");
    store
        .set_anchor(anchor, &mut scratch)
        .await
        .expect("anchor");
    store.into_flash()
}

struct Bufs {
    v: Vec<Vec<u8>>,
}

impl Bufs {
    fn new() -> Bufs {
        Bufs {
            v: [16640, 4096, 16384, 8192, 8192, 8192, 4096, 600, 2048, 2048]
                .iter()
                .map(|n| vec![0u8; *n])
                .collect(),
        }
    }
    fn work(&mut self) -> Work<'_> {
        let mut it = self.v.iter_mut();
        let mut next = || it.next().unwrap().as_mut_slice();
        Work {
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
        }
    }
}

const SAN: &[SanKindSel] = &[];

fn job(id: &str) -> Job<'_> {
    Job {
        request_id: id,
        subject_format: SubjectFormat::CommonNameIncludingEmail,
        san: SAN,
        other_names: &[],
        // Each appliance has its own common name (here: its request id).
        identity: Identity {
            cn: id,
            email: Some("ops@contoso.example"),
            upn: None,
        },
        key: KeyChoice::P256,
        strict: false,
    }
}

async fn run(
    r: &mut Rig,
    flash: Flash,
    id: &str,
) -> (Flash, Result<(Vec<u8>, Got), EmbeddedError>) {
    run_job(r, flash, &job(id)).await
}

async fn run_job(
    r: &mut Rig,
    flash: Flash,
    job: &Job<'_>,
) -> (Flash, Result<(Vec<u8>, Got), EmbeddedError>) {
    let mut store = Store::new(flash, RANGE).expect("store");
    let mut b = Bufs::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let res = client::issue(&mut Tcp, &mut r.hsm, &mut store, job, Some(now), b.work()).await;
    let res = res.map(|o| {
        let got = Got {
            source: o.source,
            expiry_checked: o.expiry_checked,
        };
        (o.certificate.to_vec(), got)
    });
    (store.into_flash(), res)
}

/// What a run gave besides the certificate, owned (the outcome borrows the
/// run's buffers).
#[derive(Debug)]
struct Got {
    source: Source,
    expiry_checked: bool,
}

fn pem(der: &[u8]) -> String {
    raconn_host::files::to_pem("CERTIFICATE", der)
}

fn openssl_verify(r: &Rig, cert: &[u8]) {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("root.pem"), pem(&r.sim.pki.root.der)).unwrap();
    std::fs::write(d.path().join("issuing.pem"), pem(&r.sim.pki.issuing.der)).unwrap();
    std::fs::write(d.path().join("leaf.pem"), pem(cert)).unwrap();
    let o = Command::new("openssl")
        .current_dir(d.path())
        .args([
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "issuing.pem",
            "leaf.pem",
        ])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

async fn full_issuance(server_key: ServerKey) {
    let ra_key = KeyKind::P256;
    let mut r = rig_with(server_key, ra_key);
    let root = r.sim.pki.root.der.clone();
    let f = provision(flash(), &r, "localhost", &root).await;
    let t = Instant::now();
    let (f, res) = run(&mut r, f, "dev-0042").await;
    let ms = t.elapsed().as_millis();
    let (cert, o) = res.unwrap_or_else(|e| panic!("{e} ({})", e.remedy()));
    eprintln!("embedded issuance ({server_key:?} server, {ra_key:?} RA key): {ms} ms for 2 TLS 1.3 handshakes + policy + enrollment");
    assert_eq!(o.source, Source::Issued);
    assert!(o.expiry_checked);
    openssl_verify(&r, &cert);
    // The certificate is for the device key in slot 1.
    let c = raconn_core::cert::CertificateRef::parse(&cert).unwrap();
    let mut spki = [0u8; 300];
    assert_eq!(c.spki.der.raw, r.hsm.public_key(1, &mut spki).unwrap());
    assert_eq!(
        SpkiRef::parse(c.spki.der.raw).unwrap().kind(),
        raconn_core::spki::KeyKind::P256
    );
    assert_eq!(r.sim.enrollments(), 1);
    // Again: from the journal, the CA not contacted.
    let before = r.sim.recorded().len();
    let (_, res) = run(&mut r, f, "dev-0042").await;
    let (again, o) = res.unwrap();
    assert_eq!(o.source, Source::Journal);
    assert_eq!(again, cert);
    assert_eq!(r.sim.recorded().len(), before);
}

#[tokio::test(flavor = "current_thread")]
async fn issues_with_p256_server() {
    full_issuance(ServerKey::P256).await;
}

#[tokio::test(flavor = "current_thread")]
async fn issues_with_rsa_server() {
    full_issuance(ServerKey::Rsa2048).await;
}

/// An RSA-2048 RA key in the part: embedded-tls 0.19 without alloc cannot
/// send an RSA CertificateVerify (it panicked here before the adapter
/// refused it); the adapter says so with RC-EMB-021 before connecting.
#[tokio::test(flavor = "current_thread")]
async fn rsa_ra_key_is_refused_before_the_handshake() {
    let mut r = rig_with(ServerKey::Rsa2048, KeyKind::Rsa(2048));
    // The HSM seam itself signs RSA: the RA request verified, the certificate issued.
    assert_eq!(
        SpkiRef::parse(
            raconn_core::cert::CertificateRef::parse(&r.ra_cert)
                .unwrap()
                .spki
                .der
                .raw
        )
        .unwrap()
        .kind(),
        raconn_core::spki::KeyKind::Rsa(2048)
    );
    let root = r.sim.pki.root.der.clone();
    let f = provision(flash(), &r, "localhost", &root).await;
    let (_, res) = run(&mut r, f, "dev-rsa").await;
    let e = res.unwrap_err();
    assert_eq!(e, EmbeddedError::RsaClientKey, "{e}");
    assert_eq!(e.code(), "RC-EMB-021");
    assert!(r.sim.recorded().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn refuses_wrong_anchor_and_wrong_host() {
    let mut r = rig(ServerKey::Rsa2048);
    // A trust anchor that did not issue the server's certificate.
    let other = r.sim.pki.ra_ca.der.clone();
    let f = provision(flash(), &r, "localhost", &other).await;
    let (_, res) = run(&mut r, f, "dev-1").await;
    let e = res.unwrap_err();
    assert_eq!(e, EmbeddedError::UntrustedServer, "{e}");
    assert_eq!(e.code(), "RC-EMB-004");
    // The right anchor, but the server's certificate does not name the host.
    let root = r.sim.pki.root.der.clone();
    let f = provision(flash(), &r, "ca.contoso.example", &root).await;
    let (_, res) = run(&mut r, f, "dev-2").await;
    let e = res.unwrap_err();
    assert_eq!(e, EmbeddedError::HostnameMismatch, "{e}");
    assert_eq!(e.code(), "RC-EMB-003");
    // Nothing was enrolled.
    assert_eq!(r.sim.enrollments(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn power_cut_at_21_points_of_the_flash_writes_enrolls_once() {
    let mut r = rig(ServerKey::P256);
    r.sim.set_recognise_repeats(false);
    let root = r.sim.pki.root.der.clone();
    let base = provision(flash(), &r, "localhost", &root).await;
    // How many words an undisturbed issuance writes.
    let mut probe = base.clone();
    probe.bytes_until_shutoff = Some(u32::MAX);
    let (after, res) = run(&mut r, probe, "probe").await;
    res.unwrap();
    let total = u32::MAX - after.bytes_until_shutoff.unwrap();
    assert!(total > 100, "{total}");
    let mut cuts = 0;
    let step = (total / 20).max(1);
    let mut at = 0;
    while at <= total {
        let id = format!("cut-{at}");
        let issued_before = r.sim.certificates_issued();
        let mut f = base.clone();
        f.bytes_until_shutoff = Some(at);
        let (f, res) = run(&mut r, f, &id).await;
        if res.is_err() {
            cuts += 1;
        }
        // Reboot: the same flash, no more cuts.
        let mut f = f;
        f.bytes_until_shutoff = None;
        let (f, res) = run(&mut r, f, &id).await;
        let (cert, _) = res.unwrap_or_else(|e| panic!("after a cut at word {at}: {e}"));
        assert_eq!(
            r.sim.certificates_issued(),
            issued_before + 1,
            "cut at word {at}"
        );
        // And once more: from the journal.
        let (_, res) = run(&mut r, f, &id).await;
        let (again, o) = res.unwrap();
        assert_eq!((again, o.source), (cert, Source::Journal));
        at += step;
    }
    assert!(cuts > 10, "only {cuts} runs were cut");
    eprintln!("power cuts: {cuts} interrupted runs over {total} written words, each recovered with one certificate");
}

/// The CA issued, the reply was lost: the next run asks the CA and finds
/// it — one enrollment, one certificate, with the simulator not recognising
/// repeated clientTransactionIDs. The request lost before the CA saw it:
/// the next run finds nothing and resends the identical body.
#[tokio::test(flavor = "current_thread")]
async fn lost_replies_are_resolved_by_search() {
    let mut r = rig(ServerKey::P256);
    r.sim.set_recognise_repeats(false);
    let root = r.sim.pki.root.der.clone();
    let base = provision(flash(), &r, "localhost", &root).await;
    // Lost after issuing.
    r.sim.set_fault_for("enrollmentService", Fault::LoseReply);
    let (f, res) = run(&mut r, base.clone(), "lost-after").await;
    let e = res.unwrap_err();
    assert_eq!(e.code(), "RC-PKIWS-018", "{e}");
    assert_eq!((r.sim.enrollments(), r.sim.certificates_issued()), (1, 1));
    r.sim.set_fault(Fault::None);
    let (f, res) = run(&mut r, f, "lost-after").await;
    let (cert, o) = res.unwrap();
    assert_eq!(o.source, Source::Search);
    assert_eq!((r.sim.enrollments(), r.sim.certificates_issued()), (1, 1));
    assert_eq!(r.sim.searches(), 1);
    assert_eq!(r.sim.certificates()[0].der, cert);
    openssl_verify(&r, &cert);
    let (_, res) = run(&mut r, f, "lost-after").await;
    assert_eq!(res.unwrap().1.source, Source::Journal);
    // Lost before the CA saw it.
    r.sim.set_fault_for("enrollmentService", Fault::Drop);
    let (f, res) = run(&mut r, base.clone(), "lost-before").await;
    assert!(res.is_err());
    assert_eq!((r.sim.enrollments(), r.sim.certificates_issued()), (2, 1));
    r.sim.set_fault(Fault::None);
    let (_, res) = run(&mut r, f, "lost-before").await;
    let (_, o) = res.unwrap();
    assert_eq!(o.source, Source::Issued);
    assert_eq!((r.sim.enrollments(), r.sim.certificates_issued()), (3, 2));
    let bodies: Vec<String> = r
        .sim
        .recorded()
        .into_iter()
        .filter(|x| {
            x.body.contains("ws-trust/200512/Issue") && x.body.contains(&client_tx("lost-before"))
        })
        .map(|x| x.body)
        .collect();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0], bodies[1], "the resend is byte-identical");
}

fn client_tx(id: &str) -> String {
    raconn_core::issuance::client_transaction_id(id, 0).to_string()
}

#[tokio::test(flavor = "current_thread")]
async fn same_id_different_request_is_refused() {
    let mut r = rig(ServerKey::P256);
    let root = r.sim.pki.root.der.clone();
    let f = provision(flash(), &r, "localhost", &root).await;
    let (f, res) = run(&mut r, f, "dev-9").await;
    res.unwrap();
    let mut store = Store::new(f, RANGE).unwrap();
    let mut b = Bufs::new();
    let mut j = job("dev-9");
    j.identity.cn = "someone-else";
    let e = client::issue(&mut Tcp, &mut r.hsm, &mut store, &j, None, b.work())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "RC-TX-001");
}

/// Desktop ⇄ appliance parity: the same request through `raconn issue`'s
/// code and through the appliance adapter gives the same fingerprint,
/// clientTransactionID and record layout, and a record written by either
/// host is taken up by the other's transaction (no conflict).
#[tokio::test(flavor = "current_thread")]
async fn desktop_and_appliance_agree_on_the_request() {
    use raconn_core::issuance::{self, record, Buffers, PollPolicy, Transaction};
    let mut r = rig(ServerKey::P256);
    let id = "parity-0042";
    // The appliance.
    let root = r.sim.pki.root.der.clone();
    let f = provision(flash(), &r, "localhost", &root).await;
    let (f, res) = run(&mut r, f, id).await;
    res.unwrap();
    let mut store = Store::new(f, RANGE).unwrap();
    let mut scratch = vec![0u8; 4096];
    let appliance_rec = store
        .journal(id, &mut scratch)
        .await
        .unwrap()
        .unwrap()
        .to_vec();
    // The desktop: RA onboarding into a directory store, raconn.toml, issue.
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let store_loc = raconn_host::store::StoreLocation::Dir(dir.join("store"));
    std::fs::write(
        dir.join("ra.ini"),
        "[NewRequest]\nSubject = \"CN=parity RA\"\nKeyAlgorithm = ECDSA_P256\n[EnhancedKeyUsageExtension]\nOID=1.3.6.1.5.5.7.3.2\n",
    )
    .unwrap();
    raconn_host::cli::ra::new_request(
        &dir.join("ra.ini"),
        &dir.join("ra.csr"),
        false,
        raconn_host::cli::ra::Encoding::Utf8,
        &store_loc,
    )
    .unwrap();
    let csr = raconn_host::files::read_blocks(&dir.join("ra.csr")).unwrap();
    let ra = r.sim.pki.issue_ra(&csr[0].der, 9).unwrap();
    std::fs::write(
        dir.join("ra.pem"),
        raconn_host::files::to_pem("CERTIFICATE", &ra),
    )
    .unwrap();
    let acc = raconn_host::cli::ra::accept(&dir.join("ra.pem"), &store_loc).unwrap();
    std::fs::write(dir.join("root.pem"), pem(&root)).unwrap();
    std::fs::write(
        dir.join("raconn.toml"),
        format!(
            "ra_cert_thumbprint = \"{}\"\nstore = \"store\"\nca_trust = \"root.pem\"\n\n[profiles.dev]\ncertification_authority = \"localhost:{}\"\ncertification_authority_name = \"Symantec\"\ncertificate_template = \"{P256_PROFILE}\"\nsubject_name_format = \"common-name-including-email\"\nkey = \"p256\"\n",
            acc.thumbprint, r.port
        ),
    )
    .unwrap();
    let cfg = raconn_host::config::load(&dir.join("raconn.toml")).unwrap();
    raconn_host::issue::issue(
        &cfg,
        "dev",
        &raconn_host::issue::IssueArgs {
            request_id: id.into(),
            cn: id.into(),
            email: Some("ops@contoso.example".into()),
            upn: None,
            other_names: vec![],
            out: dir.join("parity.pfx"),
            password: "parity password".into(),
            sid: None,
        },
    )
    .unwrap();
    let desktop_rec = std::fs::read(dir.join(format!("store/journal/{id}.rec"))).unwrap();
    let (a, b) = (
        record::decode(&appliance_rec).unwrap(),
        record::decode(&desktop_rec).unwrap(),
    );
    let order = job(id).order(P256_PROFILE);
    assert_eq!(a.fingerprint, issuance::fingerprint(&order));
    assert_eq!(a.fingerprint, b.fingerprint, "one fingerprint");
    assert_eq!(
        a.client_transaction_id, b.client_transaction_id,
        "one clientTransactionID"
    );
    assert_eq!(
        a.client_transaction_id,
        issuance::client_transaction_id(id, 0).as_str()
    );
    assert_eq!(
        (a.version, a.state, a.generation, a.request_id),
        (b.version, b.state, b.generation, b.request_id)
    );
    // The same layout: only the key reference, the key digest, the
    // certificate and chain and the CA's ids differ.
    let mut b2 = b;
    b2.key_ref = a.key_ref;
    b2.key_digest = a.key_digest;
    b2.certificate = a.certificate;
    b2.chain = a.chain;
    b2.server_transaction_id = a.server_transaction_id;
    let mut x = vec![0u8; record::encoded_len(&b2)];
    let n = record::encode(&b2, &mut x).unwrap();
    assert_eq!(
        &x[..n],
        &appliance_rec[..],
        "byte-identical once the host-specific fields agree"
    );
    // Each host's record is taken up by the other's transaction.
    for rec in [&desktop_rec, &appliance_rec] {
        let (mut q, mut w, mut t, mut c) = (
            vec![0u8; 8192],
            vec![0u8; 8192],
            vec![0u8; 8192],
            vec![0u8; 8192],
        );
        let tx = Transaction::new(
            order,
            Some(rec),
            PollPolicy::DEFAULT,
            Buffers {
                request: &mut q,
                work: &mut w,
                token: &mut t,
                record: &mut c,
            },
        );
        assert!(tx.is_ok(), "no conflict");
    }
}

/// Provisions `flash` like [`provision`], with the given RA slot and port
/// and RA certificate.
async fn provision_with(
    flash: Flash,
    port: u16,
    ra_slot: u8,
    ra_cert: &[u8],
    anchor: &[u8],
) -> Flash {
    let mut store = Store::new(flash, RANGE).expect("store");
    let mut scratch = [0u8; 2600];
    let c = Config {
        host: "localhost",
        port,
        profile_oid: P256_PROFILE,
        ra_slot,
        device_slot: 1,
        max_fragment_length: None,
    };
    store.set_config(&c, &mut scratch).await.expect("config");
    store.set_ra_cert(ra_cert, &mut scratch).await.expect("ra");
    store
        .set_anchor(anchor, &mut scratch)
        .await
        .expect("anchor");
    store.into_flash()
}

/// Each way an appliance can fail before or around the network has its
/// code: nothing provisioned (RC-EMB-016), an RA certificate for another
/// key (RC-EMB-023), an empty RA slot (RC-EMB-001), a CA port nobody
/// listens on (RC-EMB-011), a server that does not speak TLS (RC-EMB-002),
/// a device key the part cannot make (RC-TX-010).
/// Nothing is enrolled in any case.
#[tokio::test(flavor = "current_thread")]
async fn appliance_failures_have_their_codes() {
    let mut r = rig(ServerKey::P256);
    let root = r.sim.pki.root.der.clone();
    let (_, res) = run(&mut r, flash(), "cfg-1").await;
    assert_eq!(res.unwrap_err().code(), "RC-EMB-016");
    // An RA certificate issued for the key in slot 2, stored for slot 0.
    r.hsm.generate(2, KeyKind::P256).expect("slot 2");
    let other = {
        let key = SlotKey::new(&r.hsm, 2).expect("slot");
        let mut der = [0u8; 1024];
        let csr =
            raconn_core::csr::build(&raconn_core::csr::CsrSpec::new("CN=other"), &key, &mut der)
                .expect("csr");
        r.sim.pki.issue_ra(csr, 2).expect("ra cert")
    };
    let f = provision_with(flash(), r.port, 0, &other, &root).await;
    let (_, res) = run(&mut r, f, "mismatch-1").await;
    assert_eq!(res.unwrap_err().code(), "RC-EMB-023");
    // The RA slot named in the configuration holds no key.
    let ra = r.ra_cert.clone();
    let f = provision_with(flash(), r.port, 3, &ra, &root).await;
    let (_, res) = run(&mut r, f, "slot-1").await;
    let e = res.unwrap_err();
    assert_eq!(e.code(), "RC-EMB-001", "{e}");
    // A device key this part cannot make (its HSM makes P-256 and RSA-2048).
    let f = provision(flash(), &r, "localhost", &root).await;
    let p384 = Job {
        key: KeyChoice::P384,
        ..job("p384-1")
    };
    let (_, res) = run_job(&mut r, f, &p384).await;
    assert_eq!(res.unwrap_err().code(), "RC-TX-010");
    // An RA certificate longer than the buffer the issuance keeps it in
    // (read through the flash scratch, then copied): refused naming the bytes.
    let f = provision(flash(), &r, "localhost", &root).await;
    let mut store = Store::new(f, RANGE).expect("store");
    let mut scratch = vec![0u8; 16640];
    let mut small = [0u8; 100];
    let e = store
        .ra_cert_into(&mut scratch, &mut small)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "RC-BUF-001", "{e}");
    let want = format!("the RA certificate buffer needs {} bytes", r.ra_cert.len());
    assert!(e.to_string().contains(&want), "{e}");
    let mut fits = vec![0u8; r.ra_cert.len()];
    let got = store.ra_cert_into(&mut scratch, &mut fits).await.unwrap();
    assert_eq!(got, &r.ra_cert[..]);
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let f = provision_with(flash(), closed, 0, &ra, &root).await;
    let (_, res) = run(&mut r, f, "io-1").await;
    assert_eq!(res.unwrap_err().code(), "RC-EMB-011");
    // A server that answers plain HTTP where TLS was expected.
    let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = plain.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut s, _)) = plain.accept() {
            let mut b = [0u8; 512];
            let _ = s.read(&mut b);
            let _ = s.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    });
    let f = provision_with(flash(), port, 0, &ra, &root).await;
    let (_, res) = run(&mut r, f, "tls-1").await;
    let e = res.unwrap_err();
    assert_eq!(e.code(), "RC-EMB-002", "{e}");
    t.join().unwrap();
    assert_eq!(r.sim.enrollments(), 0);
}

/// The flash store's own failures: a record larger than a page
/// (RC-EMB-020), a flash that fills up (RC-EMB-015), a write cut off by a
/// power failure (RC-EMB-014); and the configuration record's codec: a
/// value over 255 bytes (RC-EMB-025), a newer format (RC-EMB-024), a
/// record cut short (RC-EMB-022).
#[tokio::test(flavor = "current_thread")]
async fn flash_failures_have_their_codes() {
    let mut scratch = vec![0u8; 8192];
    let mut store = Store::new(flash(), RANGE).expect("store");
    let e = store
        .set_policy(&[0x55; 5000], &mut scratch)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "RC-EMB-020", "{e}");
    let mut full = None;
    for i in 0..100 {
        if let Err(e) = store
            .set_journal(&format!("fill-{i}"), &[0xAA; 3000], &mut scratch)
            .await
        {
            full = Some((i, e));
            break;
        }
    }
    let (n, e) = full.expect("64 KiB of flash fills up");
    assert_eq!(e.code(), "RC-EMB-015", "after {n} records: {e}");
    let mut cut = flash();
    cut.bytes_until_shutoff = Some(100);
    let mut store = Store::new(cut, RANGE).expect("store");
    let e = store
        .set_journal("cut-1", &[0xAA; 3000], &mut scratch)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "RC-EMB-014", "{e}");

    use raconn_embedded::store::{decode_config, encode_config};
    let long = "h".repeat(300);
    let c = Config {
        host: &long,
        port: 443,
        profile_oid: P256_PROFILE,
        ra_slot: 0,
        device_slot: 1,
        max_fragment_length: None,
    };
    let mut out = [0u8; 600];
    assert_eq!(
        encode_config(&c, &mut out).unwrap_err().code(),
        "RC-EMB-025"
    );
    let c = Config {
        host: "ca.example",
        ..c
    };
    let n = encode_config(&c, &mut out).unwrap();
    let mut newer = out[..n].to_vec();
    newer[0] = 2;
    assert_eq!(decode_config(&newer).unwrap_err().code(), "RC-EMB-024");
    assert_eq!(
        decode_config(&out[..n - 3]).unwrap_err().code(),
        "RC-EMB-022"
    );
    assert_eq!(decode_config(&out[..n]).unwrap().host, "ca.example");
    assert_eq!(decode_config(&out[..n]).unwrap().max_fragment_length, None);
    // max_fragment_length: a trailing RFC 6066 code; a record without it
    // (above) reads as none.
    let m = Config {
        max_fragment_length: Some(4096),
        ..c
    };
    let n4 = encode_config(&m, &mut out).unwrap();
    assert_eq!(n4, n + 1);
    assert_eq!(out[n], 4);
    assert_eq!(
        decode_config(&out[..n4]).unwrap().max_fragment_length,
        Some(4096)
    );
    let mut odd = out[..n4].to_vec();
    odd[n] = 9;
    assert_eq!(decode_config(&odd).unwrap_err().code(), "RC-EMB-022");
    let bad = Config {
        max_fragment_length: Some(1000),
        ..c
    };
    assert_eq!(
        encode_config(&bad, &mut out).unwrap_err().code(),
        "RC-EMB-028"
    );
}
