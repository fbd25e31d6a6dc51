//! Every kind of CSR raconn makes, checked by openssl (`req -verify -text`)
//! and by Python `cryptography` (signature, subject with string types, SAN,
//! KU, EKU, BasicConstraints) — implementations nobody here wrote.

use std::net::IpAddr;

use raconn_core::csr::{self, CsrSpec, KeyUsageReq, RawExtension, SanSource};
use raconn_core::ext::{parse_guid, GeneralName};
use raconn_core::inf::{HashAlgorithm, KeyKind};
use raconn_core::oid::{self, Oid};
use raconn_host::keys::SoftKey;
use raconn_tests::{openssl_req_text, python};
use serde_json::{json, Value};

struct Case {
    name: &'static str,
    key: KeyKind,
    hash: HashAlgorithm,
    spec: CsrSpec<'static>,
    expect: Value,
    openssl_has: &'static [&'static str],
}

const GUID: &str = "{f7c3ac41-b8ce-4fb4-aa58-3d1dc0e36b39}";
const CUSTOM_OID: Oid = Oid::new_unwrap("1.2.3.4.5");
const EKU_CLIENT: &[Oid] = &[oid::KP_CLIENT_AUTH];
const EKU_MANY: &[Oid] = &[
    oid::KP_CLIENT_AUTH,
    oid::KP_EMAIL_PROTECTION,
    oid::KP_SMARTCARD_LOGON,
];

fn leak<T>(v: Vec<T>) -> &'static [T] {
    Box::leak(v.into_boxed_slice())
}

fn cases() -> Vec<Case> {
    let guid = parse_guid(GUID).expect("guid");
    let full_san = leak(vec![
        GeneralName::Email("zoe@contoso.com"),
        GeneralName::Upn("zoe.muller@corp.contoso.local"),
        GeneralName::Guid(guid),
        GeneralName::Dns("zoe-laptop.contoso.com"),
        GeneralName::Ip("192.0.2.7".parse::<IpAddr>().expect("ip")),
        GeneralName::Ip("2001:db8::7".parse::<IpAddr>().expect("ip")),
        GeneralName::Uri("IntuneDeviceId://3fa85f64-5717-4562-b3fc-2c963f66afa6"),
        GeneralName::OtherName {
            oid: CUSTOM_OID,
            der: &[0x04, 0x03, 1, 2, 3],
        },
    ]);
    let guid_hex: String = std::iter::once("0410".to_string())
        .chain(guid.iter().map(|b| format!("{b:02x}")))
        .collect();
    let san_only = leak(vec![GeneralName::Dns("device-07.contoso.com")]);
    vec![
        Case {
            name: "reference RA request (RSA 2048, KU 0xa0, clientAuth)",
            key: KeyKind::Rsa(2048),
            hash: HashAlgorithm::Sha256,
            spec: CsrSpec {
                key_usage: Some(KeyUsageReq {
                    mask: 0xa0,
                    critical: true,
                }),
                eku: EKU_CLIENT,
                ..CsrSpec::new("C=US, O=Example Company, CN=CompanyName DigiCert MDM RA Cert")
            },
            expect: json!({
                "subject": [["2.5.4.6", "US", "PrintableString"], ["2.5.4.10", "Example Company", "UTF8String"],
                            ["2.5.4.3", "CompanyName DigiCert MDM RA Cert", "UTF8String"]],
                "ku": {"digital_signature": true, "key_encipherment": true}, "ku_critical": true,
                "eku": ["1.3.6.1.5.5.7.3.2"],
            }),
            openssl_has: &[
                "Subject: C = US, O = Example Company, CN = CompanyName DigiCert MDM RA Cert",
                "X509v3 Key Usage: critical",
                "Digital Signature, Key Encipherment",
                "TLS Web Client Authentication",
                "sha256WithRSAEncryption",
            ],
        },
        Case {
            name: "user with every SAN kind (P-256)",
            key: KeyKind::P256,
            hash: HashAlgorithm::Sha256,
            spec: CsrSpec {
                key_usage: Some(KeyUsageReq {
                    mask: 0xa0,
                    critical: true,
                }),
                eku: EKU_MANY,
                san: SanSource::Names(full_san),
                ..CsrSpec::new(
                    "CN=Zoë Müller, OU=Sales, O=\"Contoso, Ltd\", C=FR, E=zoe@contoso.com",
                )
            },
            expect: json!({
                "subject": [["2.5.4.3", "Zoë Müller", "UTF8String"], ["2.5.4.11", "Sales", "UTF8String"],
                            ["2.5.4.10", "Contoso, Ltd", "UTF8String"], ["2.5.4.6", "FR", "PrintableString"],
                            ["1.2.840.113549.1.9.1", "zoe@contoso.com", "IA5String"]],
                "san": [["email", "zoe@contoso.com"], ["upn", "zoe.muller@corp.contoso.local"],
                        ["other", "1.3.6.1.4.1.311.25.1", guid_hex],
                        ["dns", "zoe-laptop.contoso.com"], ["ip", "192.0.2.7"], ["ip", "2001:db8::7"],
                        ["uri", "IntuneDeviceId://3fa85f64-5717-4562-b3fc-2c963f66afa6"],
                        ["other", "1.2.3.4.5", "0403010203"]],
                "san_critical": false,
                "eku": ["1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.4", "1.3.6.1.4.1.311.20.2.2"],
            }),
            openssl_has: &[
                "othername: UPN::zoe.muller@corp.contoso.local",
                "email:zoe@contoso.com",
                "DNS:zoe-laptop.contoso.com",
                "IP Address:192.0.2.7",
                "IP Address:2001:DB8:0:0:0:0:0:7",
                "ecdsa-with-SHA256",
                "NIST CURVE: P-256",
            ],
        },
        Case {
            name: "multi-valued RDN, P-384, SHA-384",
            key: KeyKind::P384,
            hash: HashAlgorithm::Sha384,
            spec: CsrSpec {
                eku: EKU_CLIENT,
                ..CsrSpec::new("DC=com, DC=contoso, O=Contoso, CN=svc-raconn+UID=4711")
            },
            expect: json!({
                "subject": [["0.9.2342.19200300.100.1.25", "com", "IA5String"],
                            ["0.9.2342.19200300.100.1.25", "contoso", "IA5String"],
                            ["2.5.4.10", "Contoso", "UTF8String"],
                            ["2.5.4.3", "svc-raconn", "UTF8String"],
                            ["0.9.2342.19200300.100.1.1", "4711", "UTF8String"]],
                "eku": ["1.3.6.1.5.5.7.3.2"],
            }),
            openssl_has: &[
                "ecdsa-with-SHA384",
                "NIST CURVE: P-384",
                "CN = svc-raconn + UID = 4711",
            ],
        },
        Case {
            name: "SAN-only request, key agreement bits, CA basic constraints, RSA 3072",
            key: KeyKind::Rsa(3072),
            hash: HashAlgorithm::Sha256,
            spec: CsrSpec {
                key_usage: Some(KeyUsageReq {
                    mask: 0x8009,
                    critical: false,
                }),
                san: SanSource::Names(san_only),
                basic_constraints: Some((true, Some(0))),
                critical: leak(vec![oid::BASIC_CONSTRAINTS]),
                ..CsrSpec::new("")
            },
            expect: json!({
                "subject": [],
                "san": [["dns", "device-07.contoso.com"]], "san_critical": true,
                "ku": {"key_agreement": true, "encipher_only": true, "decipher_only": true}, "ku_critical": false,
                "bc": [true, 0],
            }),
            openssl_has: &[
                "Public-Key: (3072 bit)",
                "CA:TRUE, pathlen:0",
                "Encipher Only, Decipher Only",
            ],
        },
        Case {
            name: "RFC 4514 escapes, hex value, certreq SAN text, extra extension, RSA SHA-384",
            key: KeyKind::Rsa(2048),
            hash: HashAlgorithm::Sha384,
            spec: CsrSpec {
                san: SanSource::Text(leak(vec![
                    ("{text}email=a@b.example&", 0),
                    ("upn=a@corp.local&url=https://x.example/p?q=1", 0),
                ])),
                extra: leak(vec![RawExtension {
                    oid: Oid::new_unwrap("1.3.6.1.4.1.311.21.7"),
                    critical: false,
                    value: &[
                        0x30, 0x0b, 0x06, 0x03, 0x2a, 0x03, 0x04, 0x02, 0x01, 0x64, 0x02, 0x01,
                        0x00,
                    ],
                }]),
                ..CsrSpec::new(
                    r#"CN=a\,b\+c\"d\\e\3Cf\3E, OU=\ lead and trail\ , O=#0c03616263, SERIALNUMBER=A-1 (x)"#,
                )
            },
            expect: json!({
                "subject": [["2.5.4.3", "a,b+c\"d\\e<f>", "UTF8String"], ["2.5.4.11", " lead and trail ", "UTF8String"],
                            ["2.5.4.10", "abc", "UTF8String"], ["2.5.4.5", "A-1 (x)", "PrintableString"]],
                "san": [["email", "a@b.example"], ["upn", "a@corp.local"], ["uri", "https://x.example/p?q=1"]],
            }),
            openssl_has: &["sha384WithRSAEncryption", "1.3.6.1.4.1.311.21.7:"],
        },
    ]
}

#[test]
fn every_csr_kind_verifies_with_openssl_and_cryptography() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut items = Vec::new();
    for (i, c) in cases().into_iter().enumerate() {
        let key = SoftKey::generate(c.key, c.hash).expect("keygen");
        let mut buf = vec![0u8; csr::max_len(&c.spec, &key).expect("len")];
        let der = csr::build(&c.spec, &key, &mut buf).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let text = openssl_req_text(der);
        for want in c.openssl_has {
            assert!(
                text.contains(want),
                "{}: openssl -text lacks {want:?}:\n{text}",
                c.name
            );
        }
        let path = dir.path().join(format!("case{i}.der"));
        std::fs::write(&path, der).expect("write");
        items.push(json!({"path": path, "expect": c.expect, "name": c.name}));
    }
    let r = python("check_csr.py", &json!(items));
    assert_eq!(r["failures"], json!([]), "cryptography disagrees");
    assert_eq!(r["checked"], json!(items.len()));
}

/// A tiny deterministic PRNG so failures are reproducible.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.next() as usize % v.len()]
    }
}

fn escape(v: &str) -> String {
    let mut s = String::new();
    raconn_core::name::write_escaped_str(&mut s, v).expect("escape");
    s
}

#[test]
fn random_subjects_round_trip_through_cryptography() {
    let alphabet: Vec<char> = "aZ09 ,+\"\\<>;=#-_.éßœ漢字😀ŁÅ'".chars().collect();
    let mut rng = Lcg(0x5eed);
    let key = SoftKey::generate(KeyKind::P256, HashAlgorithm::Sha256).expect("keygen");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut items = Vec::new();
    for i in 0..60 {
        let mut attrs = Vec::new();
        let n = 1 + rng.next() % 4;
        for _ in 0..n {
            let (kw, oid) = rng.pick(&[
                ("CN", "2.5.4.3"),
                ("O", "2.5.4.10"),
                ("OU", "2.5.4.11"),
                ("L", "2.5.4.7"),
                ("ST", "2.5.4.8"),
            ]);
            let len = 1 + rng.next() % 12;
            let v: String = (0..len).map(|_| rng.pick(&alphabet)).collect();
            attrs.push((kw, oid, v));
        }
        let subject = attrs
            .iter()
            .map(|(k, _, v)| format!("{k}={}", escape(v)))
            .collect::<Vec<_>>()
            .join(", ");
        let spec = CsrSpec::new(&subject);
        let mut buf = vec![0u8; 2048];
        let der = csr::build(&spec, &key, &mut buf).unwrap_or_else(|e| panic!("{subject:?}: {e}"));
        // Our own view must give back exactly the subject string we escaped.
        let view = raconn_core::csr::CsrRef::parse(der).expect("view");
        assert_eq!(view.subject.to_string(), subject, "display round trip");
        let path = dir.path().join(format!("r{i}.der"));
        std::fs::write(&path, der).expect("write");
        let exp: Vec<Value> = attrs
            .iter()
            .map(|(_, o, v)| json!([o, v, "UTF8String"]))
            .collect();
        items.push(json!({"path": path, "expect": {"subject": exp}}));
    }
    let r = python("check_csr.py", &json!(items));
    assert_eq!(r["failures"], json!([]));
    assert_eq!(r["checked"], json!(60));
}
