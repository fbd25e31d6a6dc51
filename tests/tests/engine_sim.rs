//! The issuance engine driven against raconn-sim: the happy path checked by
//! `openssl verify`, every simulated fault mapped to its code, the pre-send
//! check refusing locally (nothing sent), pending-then-issued with one
//! enrollment, and the whole flow over mutual TLS. The simulator validates
//! every request against the service's XSDs when xmllint is present.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use raconn_core::engine::{Buffers, Engine, IssueRequest, Issued};
use raconn_core::error::Explain;
use raconn_core::inf::{HashAlgorithm, KeyKind};
use raconn_core::oid::Oid;
use raconn_core::pkiws::check::{CheckError, Field};
use raconn_core::pkiws::PkiwsError;
use raconn_core::profile::{Identity, SanKindSel, SubjectFormat};
use raconn_core::Error;
use raconn_host::keys::SoftKey;
use raconn_sim::{Fault, Profiles, ServerKey, Sim};
use raconn_tests::run;

const USER: &str = "2.16.840.1.113733.1.16.1.2.3.1.1.47196109";
const DEVICE: &str = "2.16.840.1.113733.1.16.1.2.3.1.1.47196110";
const NAMES: &str = "2.16.840.1.113733.1.16.1.2.3.1.1.47196111";
const GUID: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.25.1");
const SAN_ALL: &[SanKindSel] = &[
    SanKindSel::Email,
    SanKindSel::Upn,
    SanKindSel::OtherName(GUID),
];

fn sim() -> Sim {
    let s = Sim::new(Profiles::default_set(), ServerKey::P256).expect("sim");
    if run("sh", &["-c", "command -v xmllint"], None).0 {
        assert!(
            s.validates(),
            "xmllint is installed but the simulator found no validator"
        );
    }
    s
}

fn request(
    profile: &'static str,
    format: SubjectFormat,
    san: &'static [SanKindSel],
    upn: &'static str,
) -> IssueRequest<'static> {
    IssueRequest {
        profile_oid: profile,
        subject_format: format,
        san,
        other_names: &["04 10 41 ac c3 f7 ce b8 b4 4f aa 58 3d 1d c0 e3 6b 39"],
        overrides: &[],
        identity: Identity {
            cn: "Zoë Müller",
            email: Some("zoe@contoso.com"),
            upn: Some(upn),
        },
        seat_id: None,
        client_transaction_id: "raconn-test-0001",
        strict: false,
        sid: None,
        sid_placement: None,
    }
}

struct Bufs {
    request: Vec<u8>,
    work: Vec<u8>,
    token: Vec<u8>,
}

fn bufs() -> Bufs {
    Bufs {
        request: vec![0; 16384],
        work: vec![0; 16384],
        token: vec![0; 16384],
    }
}

/// Transport: in-process handler, or HTTPS.
trait Transport {
    fn post(&mut self, path: &str, action: &str, body: &str) -> (u16, Vec<u8>);
}

impl Transport for Sim {
    fn post(&mut self, path: &str, action: &str, body: &str) -> (u16, Vec<u8>) {
        let r = self.handle(path, action, body.as_bytes());
        (r.status, r.body)
    }
}

type Done = (Vec<u8>, Vec<Vec<u8>>, raconn_core::engine::BufferUse);

fn drive<T: Transport>(
    t: &mut T,
    req: IssueRequest<'_>,
    key: &SoftKey,
    b: &mut Bufs,
) -> Result<Done, Error> {
    let mut e = Engine::new(
        req,
        Buffers {
            request: &mut b.request,
            work: &mut b.work,
            token: &mut b.token,
        },
    )?;
    let r = e.policy_request()?;
    let (st, body) = t.post(r.path, r.soap_action, r.body);
    e.on_policy_reply(st, &body)?;
    let r = e.enroll_request(key)?;
    let (mut st, mut body) = t.post(r.path, r.soap_action, r.body);
    for _ in 0..5 {
        let owned = match e.on_enroll_reply(st, &body)? {
            Issued::Certificate {
                certificate, chain, ..
            } => Some((
                certificate.to_vec(),
                chain.iter().map(|c| c.to_vec()).collect::<Vec<_>>(),
            )),
            Issued::Pending { .. } => None,
        };
        match owned {
            Some((leaf, chain)) => return Ok((leaf, chain, e.buffer_use())),
            None => {
                let r = e.poll_request()?;
                (st, body) = t.post(r.path, r.soap_action, r.body);
            }
        }
    }
    Err(PkiwsError::Pending.into())
}

fn pem(der: &[u8]) -> String {
    raconn_host::files::to_pem("CERTIFICATE", der)
}

fn rsa() -> SoftKey {
    SoftKey::generate(KeyKind::Rsa(2048), HashAlgorithm::Sha256).expect("key")
}

#[test]
fn issues_checks_and_chains() {
    let mut s = sim();
    let key = rsa();
    let mut b = bufs();
    let (leaf, chain, used) = drive(
        &mut s,
        request(
            USER,
            SubjectFormat::CommonNameIncludingEmail,
            SAN_ALL,
            "zoe@corp.local",
        ),
        &key,
        &mut b,
    )
    .expect("issue");
    assert_eq!(chain.len(), 2, "issuing CA + root");
    // openssl agrees: leaf → issuing → root.
    let d = tempfile::tempdir().expect("tmp");
    let (lp, cp, rp) = (
        d.path().join("leaf.pem"),
        d.path().join("ca.pem"),
        d.path().join("root.pem"),
    );
    std::fs::write(&lp, pem(&leaf)).expect("w");
    std::fs::write(&cp, pem(&chain[0])).expect("w");
    std::fs::write(&rp, pem(&chain[1])).expect("w");
    let (ok, out, err) = run(
        "openssl",
        &[
            "verify",
            "-CAfile",
            rp.to_str().unwrap(),
            "-untrusted",
            cp.to_str().unwrap(),
            lp.to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "{out}{err}");
    let (_, text, _) = run(
        "openssl",
        &["x509", "-in", lp.to_str().unwrap(), "-noout", "-text"],
        None,
    );
    assert!(
        text.contains("othername: UPN::zoe@corp.local") && text.contains("email:zoe@contoso.com"),
        "{text}"
    );
    // Every request the simulator saw was validated, and valid.
    for r in s.recorded() {
        assert_eq!(r.schema_valid, Some(true), "{}", r.body);
    }
    let rec = s.recorded();
    let enr = &rec[1].body;
    assert!(enr.contains("<vs:name>custom_encode_dsObjectGuid</vs:name><vs:value>BBBBrMP3zri0T6pYPR3A42s5</vs:value>"), "{enr}");
    assert!(enr.contains("<vs:name>common_name</vs:name><vs:value>Zoë Müller</vs:value>"));
    assert_eq!(s.enrollments(), 1);
    eprintln!(
        "buffer use for RSA-2048 with a 3-certificate chain: request {} B, work {} B, token {} B",
        used.request, used.work, used.token
    );
}

#[test]
fn faults_map_to_codes() {
    let key = rsa();
    let cases: &[(Fault, &str)] = &[
        (Fault::UnknownOid, "RC-PKIWS-005"),
        (Fault::PolicyVerification, "RC-PKIWS-007"),
        (Fault::SpecialChars, "RC-PKIWS-008"),
        (Fault::MalformedXml, "RC-XML-003"),
        (Fault::WrongKey, "RC-PKIWS-014"),
        (Fault::Http500, "RC-PKIWS-013"),
    ];
    for (f, code) in cases {
        let mut s = sim();
        s.set_fault(*f);
        let mut b = bufs();
        let e = drive(
            &mut s,
            request(USER, SubjectFormat::CommonName, &[SanKindSel::Email], "u@x"),
            &key,
            &mut b,
        )
        .expect_err("fault");
        use raconn_core::Explain;
        assert_eq!(e.code(), *code, "{f:?}: {e}");
    }
    // A real unknown profile, not a forced fault.
    let mut s = sim();
    let mut b = bufs();
    let e = drive(
        &mut s,
        request(
            "2.16.840.1.113733.1.16.9",
            SubjectFormat::CommonName,
            &[],
            "u@x",
        ),
        &key,
        &mut b,
    )
    .expect_err("unknown");
    assert_eq!(e, Error::Pkiws(PkiwsError::ProfileUnknown));
}

#[test]
fn presend_check_refuses_locally() {
    let key = rsa();
    let mut s = sim();
    let mut b = bufs();
    // The device profile has no SAN: an email SAN would be refused by the CA.
    let e = drive(
        &mut s,
        request(
            DEVICE,
            SubjectFormat::CommonName,
            &[SanKindSel::Email],
            "u@x",
        ),
        &key,
        &mut b,
    )
    .expect_err("refused");
    assert_eq!(
        e,
        Error::Check(CheckError::NotInProfile {
            field: Field::SanEmail,
            other_oid: None
        })
    );
    // The first/last-name profile cannot be served by a PKCS profile.
    let e = drive(
        &mut s,
        request(
            NAMES,
            SubjectFormat::CommonName,
            &[SanKindSel::Email],
            "zoe_m@x",
        ),
        &key,
        &mut b,
    )
    .expect_err("refused");
    // Refused for what it is (RC-CHECK-003), not as "CN not in profile".
    assert!(
        matches!(e, Error::Check(CheckError::NeedsNameParts { .. })),
        "{e:?}"
    );
    assert_eq!(e.code(), "RC-CHECK-003");
    assert_eq!(s.enrollments(), 0, "nothing was sent to enrollment");
    // P-256 device key where the policy asks for RSA 2048.
    let p256 = SoftKey::generate(KeyKind::P256, HashAlgorithm::Sha256).expect("key");
    let e = drive(
        &mut s,
        request(USER, SubjectFormat::CommonName, &[], "u@x"),
        &p256,
        &mut b,
    )
    .expect_err("key size");
    assert_eq!(
        e,
        Error::Pkiws(PkiwsError::KeyNotAsPolicy { policy_bits: 2048 })
    );
    assert_eq!(e.code(), "RC-PKIWS-016");
}

#[test]
fn pending_then_issued_enrolls_once() {
    let key = rsa();
    let mut s = sim();
    s.set_fault(Fault::PendingThenIssued(2));
    let mut b = bufs();
    drive(
        &mut s,
        request(
            USER,
            SubjectFormat::CommonNameAsEmail,
            &[SanKindSel::Upn],
            "zoe@corp.local",
        ),
        &key,
        &mut b,
    )
    .expect("issued after polls");
    assert_eq!(s.enrollments(), 1);
    let polls = s
        .recorded()
        .iter()
        .filter(|r| r.body.contains("QueryTokenStatus"))
        .count();
    assert_eq!(polls, 2);
}

/// A minimal HTTPS client with the RA certificate.
struct Https {
    cfg: Arc<rustls::ClientConfig>,
    addr: std::net::SocketAddr,
}

impl Transport for Https {
    fn post(&mut self, path: &str, action: &str, body: &str) -> (u16, Vec<u8>) {
        let tcp = TcpStream::connect(self.addr).expect("connect");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let conn = rustls::ClientConnection::new(self.cfg.clone(), name).expect("conn");
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        // The request head and the reply reader are the core's, as in both hosts.
        let mut head = [0u8; 1024];
        let h = raconn_core::http::write_head(
            "localhost",
            443,
            path,
            action,
            body.len(),
            "raconn-tests",
            false,
            &mut head,
        )
        .expect("head");
        tls.write_all(h).expect("write");
        tls.write_all(body.as_bytes()).expect("write");
        let mut buf = Vec::new();
        let _ = tls.read_to_end(&mut buf);
        let r = raconn_core::http::read_all(&mut buf, 1 << 20).expect("reply");
        (r.status, buf[r.body].to_vec())
    }
}

#[test]
fn over_mutual_tls() {
    for (server_key, versions) in [
        (ServerKey::P256, raconn_sim::server::Versions::Tls13),
        (ServerKey::Rsa2048, raconn_sim::server::Versions::Tls12),
    ] {
        let s = Sim::new(Profiles::default_set(), server_key).expect("sim");
        // RA key + certificate from the simulator's RA CA.
        let ra = SoftKey::generate(KeyKind::P256, HashAlgorithm::Sha256).expect("ra key");
        let mut cb = [0u8; 1024];
        let csr = raconn_core::csr::build(
            &raconn_core::csr::CsrSpec::new("CN=raconn test RA"),
            &ra,
            &mut cb,
        )
        .expect("csr");
        let ra_cert = s.pki.issue_ra(csr, 7).expect("ra cert");
        let server = raconn_sim::server::start(s.clone(), "127.0.0.1:0", versions).expect("server");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(
                s.pki.root.der.clone(),
            ))
            .expect("root");
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(ra.to_pkcs8().expect("pkcs8").to_vec().into());
        let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots.clone())
            .with_client_auth_cert(vec![ra_cert.into()], key)
            .expect("client auth");
        let mut t = Https {
            cfg: Arc::new(cfg),
            addr: server.addr,
        };
        let mut b = bufs();
        let dev = rsa();
        drive(
            &mut t,
            request(
                USER,
                SubjectFormat::CommonName,
                &[SanKindSel::Upn],
                "zoe@corp.local",
            ),
            &dev,
            &mut b,
        )
        .expect("issue over TLS");
        assert_eq!(s.enrollments(), 1);

        // Without a client certificate the handshake is refused.
        let anon = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = TcpStream::connect(server.addr).expect("connect");
        let conn =
            rustls::ClientConnection::new(Arc::new(anon), "localhost".try_into().expect("n"))
                .expect("c");
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let w = tls.write_all(b"POST /pki-ws/policyService HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        let mut buf = [0u8; 16];
        let r = tls.read(&mut buf);
        assert!(
            w.is_err() || r.is_err() || r.is_ok_and(|n| n == 0),
            "server accepted a client without a certificate"
        );
    }
}

/// Replaces the text of the issued reply's binarySecurityToken.
fn with_token(reply: &[u8], token: &str) -> Vec<u8> {
    let t = String::from_utf8(reply.to_vec()).expect("utf-8");
    let open = t.find("<vs:binarySecurityToken").expect("token element");
    let start = open + t[open..].find('>').expect("tag end") + 1;
    let end = start
        + t[start..]
            .find("</vs:binarySecurityToken>")
            .expect("end tag");
    format!("{}{token}{}", &t[..start], &t[end..]).into_bytes()
}

fn base64(data: &[u8]) -> String {
    let mut b = vec![0u8; data.len() * 2 + 16];
    let mut w = raconn_core::xml::XmlWriter::new(&mut b);
    w.base64(data);
    w.finish().expect("base64").to_string()
}

/// The engine up to a sent enrollment; `f` reads the reply the simulator
/// gave (possibly altered) and returns the code of the outcome.
fn enroll_then(
    s: &Sim,
    req: IssueRequest<'_>,
    key: &SoftKey,
    alter: impl FnOnce(&[u8]) -> Vec<u8>,
) -> Result<Vec<u8>, Error> {
    let mut b = bufs();
    let mut e = Engine::new(
        req,
        Buffers {
            request: &mut b.request,
            work: &mut b.work,
            token: &mut b.token,
        },
    )?;
    let r = e.policy_request()?;
    let reply = s.handle(r.path, r.soap_action, r.body.as_bytes());
    e.on_policy_reply(reply.status, &reply.body)?;
    let r = e.enroll_request(key)?;
    let reply = s.handle(r.path, r.soap_action, r.body.as_bytes());
    let body = alter(&reply.body);
    let out = match e.on_enroll_reply(reply.status, &body)? {
        Issued::Certificate { certificate, .. } => certificate.to_vec(),
        Issued::Pending { .. } => panic!("pending"),
    };
    Ok(out)
}

/// Replies that do not fit the request, and requests out of order or over
/// the limits, each refused with its code: a generic SOAP fault
/// (RC-PKIWS-009), an empty token (RC-PKIWS-011), a token that is not a
/// certificate (RC-PKIWS-012), a certificate for another name on the same
/// key (RC-PKIWS-015), an enrollment before the policy (RC-PKIWS-017), a
/// PKCS#7 with more certificates than kept (RC-PKIWS-020), more SAN
/// entries (RC-CHECK-006) or other-names (RC-CHECK-007) than sent.
#[test]
fn replies_and_requests_that_do_not_fit() {
    let key = rsa();
    let s = sim();
    let req = request(USER, SubjectFormat::CommonName, SAN_ALL, "zoe_m@corp.local");
    let good = enroll_then(&s, req, &key, <[u8]>::to_vec).expect("the unaltered reply issues");
    let code = |r: Result<Vec<u8>, Error>| r.expect_err("refused").code();
    assert_eq!(
        code(enroll_then(&s, req, &key, |r| with_token(r, ""))),
        "RC-PKIWS-011"
    );
    assert_eq!(
        code(enroll_then(&s, req, &key, |r| with_token(
            r,
            &base64(b"garbage, not DER")
        ))),
        "RC-PKIWS-012"
    );
    let seven = raconn_sim::pki::pkcs7_certs_only(&[good.as_slice(); 7]);
    assert_eq!(
        code(enroll_then(&s, req, &key, |r| with_token(
            r,
            &base64(&seven)
        ))),
        "RC-PKIWS-020"
    );
    // The certificate the CA issued for Zoë, answered to a request for Max
    // with the same key.
    let mut zoe = None;
    let _ = enroll_then(&s, req, &key, |r| {
        zoe = Some(r.to_vec());
        r.to_vec()
    });
    let zoe = zoe.unwrap();
    let max = IssueRequest {
        identity: Identity {
            cn: "Max Mustermann",
            ..req.identity
        },
        ..req
    };
    assert_eq!(
        code(enroll_then(&s, max, &key, |_| zoe.clone())),
        "RC-PKIWS-015"
    );
    // A request with a SID answered with a certificate without it (a CA
    // that dropped the SAN URI and the extension): RC-PKIWS-015 naming the SID.
    let with_sid = IssueRequest {
        sid: Some("S-1-5-21-1004336348-1177238915-682003330-1104"),
        sid_placement: Some(raconn_core::profile::SidPlacement::Both),
        ..req
    };
    let e = enroll_then(&s, with_sid, &key, |_| zoe.clone()).expect_err("refused");
    assert_eq!(e.code(), "RC-PKIWS-015");
    assert!(e.to_string().contains("SID"), "{e}");
    // A SOAP fault that is none of the known ones.
    let fault = b"<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><s:Fault><faultcode>s:Server</faultcode><faultstring>Internal error 0x2a</faultstring></s:Fault></s:Body></s:Envelope>";
    let mut b = bufs();
    let mut e = Engine::new(
        req,
        Buffers {
            request: &mut b.request,
            work: &mut b.work,
            token: &mut b.token,
        },
    )
    .unwrap();
    assert_eq!(e.enroll_request(&key).unwrap_err().code(), "RC-PKIWS-017");
    let _ = e.policy_request().unwrap();
    assert_eq!(
        e.on_policy_reply(500, fault).unwrap_err().code(),
        "RC-PKIWS-009"
    );
    // Five other-names: more than raconn sends.
    let five = [SanKindSel::OtherName(GUID); 5];
    let many = IssueRequest {
        san: &five,
        other_names: &["04 01 00"; 5],
        ..req
    };
    let mut b = bufs();
    let r = Engine::new(
        many,
        Buffers {
            request: &mut b.request,
            work: &mut b.work,
            token: &mut b.token,
        },
    );
    assert_eq!(r.err().map(|e| e.code()), Some("RC-CHECK-007"));
    // Nine e-mail entries: more SAN entries than a request carries.
    let nine = [SanKindSel::Email; 9];
    let crowded = IssueRequest { san: &nine, ..req };
    assert_eq!(
        code(enroll_then(&s, crowded, &key, <[u8]>::to_vec)),
        "RC-CHECK-006"
    );
}
