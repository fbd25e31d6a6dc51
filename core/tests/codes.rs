//! Each error and warning code of the core produced from a real input
//! through the public API, and checked by its stable code string (the
//! codes are what users and scripts see; a variant renamed or re-coded
//! fails here). `tests/tests/every_code.rs` checks that every code of the
//! catalogue is produced by some test.

use raconn_core::asn1::{self, tag, DerWriter, Reader};
use raconn_core::cert::{CertificateRef, Pkcs7Ref};
use raconn_core::csr::{self, CsrRef, CsrSpec};
use raconn_core::error::Explain;
use raconn_core::ext::{self, GeneralName, SanText};
use raconn_core::inf::{self, TextEncoding};
use raconn_core::name;
use raconn_core::pem;
use raconn_core::profile::{self, Identity, ProfileWarning, SanKindSel, SubjectFormat};
use raconn_core::thumbprint;
use raconn_core::xml;

/// Asserts that `r` failed with `code`.
#[track_caller]
fn fails<T: std::fmt::Debug, E: Explain + std::fmt::Display>(r: Result<T, E>, code: &str) {
    match r {
        Ok(v) => panic!("expected {code}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.code(), code, "{e}");
            assert!(e.to_string().contains(code), "{e}");
        }
    }
}

/// Asserts that a warning has `code`.
#[track_caller]
fn warns<W: Explain + std::fmt::Display>(w: W, code: &str) {
    assert_eq!(w.code(), code, "{w}");
}

#[test]
fn der() {
    fails(asn1::parse_single(&[0x30, 0x05, 0x02, 0x01]), "RC-DER-002");
    fails(
        Reader::new(&[0x02, 0x01, 0x00]).require(tag::SEQUENCE),
        "RC-DER-003",
    );
    fails(asn1::parse_single(&[0x30, 0x80, 0x00, 0x00]), "RC-DER-004");
    fails(asn1::parse_single(&[0x1f, 0x81, 0x01, 0x00]), "RC-DER-005");
    fails(asn1::parse_single(&[0x05, 0x00, 0x00]), "RC-DER-006");
    // A BOOLEAN of two bytes.
    let t = asn1::parse_single(&[0x01, 0x02, 0xff, 0xff]).unwrap();
    fails(asn1::boolean(&t), "RC-DER-007");
    // A writer asked to close a value another writer opened further on.
    let (mut b1, mut b2) = ([0u8; 16], [0u8; 16]);
    let mut w1 = DerWriter::new(&mut b1);
    w1.bytes(&[0; 8]);
    let m = w1.begin(tag::SEQUENCE);
    let mut w2 = DerWriter::new(&mut b2);
    w2.end(m);
    fails(w2.finish(), "RC-DER-008");
}

#[test]
fn names() {
    let mut b = [0u8; 256];
    let cases = [
        ("", "RC-NAME-001"),
        ("CN", "RC-NAME-002"),
        ("XX=1", "RC-NAME-003"),
        ("1.2.x=1", "RC-NAME-004"),
        ("CN=\"open", "RC-NAME-005"),
        ("CN=a\\q", "RC-NAME-006"),
        ("CN=\\ff\\fe", "RC-NAME-007"),
        ("C=F_", "RC-NAME-008"),
        ("E=zoë@contoso.com", "RC-NAME-009"),
        ("C=FRA", "RC-NAME-010"),
        ("CN=", "RC-NAME-011"),
        ("CN=#zz", "RC-NAME-012"),
        ("CN=\"a\"b", "RC-NAME-013"),
    ];
    for (s, code) in cases {
        fails(name::subject_to_der(s, &mut b), code);
    }
    fails(
        name::subject_to_der("CN=a much longer name than fits", &mut b[..8]),
        "RC-NAME-014",
    );
}

#[test]
fn extensions() {
    fails(ext::parse_key_usage("0xzz"), "RC-EXT-001");
    fn first(t: &str) -> Result<GeneralName<'_>, raconn_core::ext::ExtError> {
        SanText::new(t, 0).next().expect("an item")
    }
    let mut b = [0u8; 256];
    let mut enc = |g: GeneralName<'_>| {
        let mut w = DerWriter::new(&mut b);
        g.encode(&mut w)
    };
    // "email=" reads as an empty e-mail, refused when it is written.
    fails(enc(first("email=").unwrap()), "RC-EXT-002");
    fails(enc(GeneralName::Dns("bücher.example")), "RC-EXT-003");
    fails(first("ipaddress=300.1.1.1"), "RC-EXT-004");
    fails(first("guid=not-a-guid"), "RC-EXT-005");
    fails(first("mail=x@y"), "RC-EXT-006");
    fails(first("email"), "RC-EXT-007");
    let oid = raconn_core::oid::Oid::new("1.3.6.1.4.1.311.25.1").unwrap();
    fails(
        enc(GeneralName::OtherName {
            oid,
            der: &[0x04, 0x05, 0x00],
        }),
        "RC-EXT-008",
    );
    let mut w = DerWriter::new(&mut b);
    fails(ext::write_san(&mut w, core::iter::empty()), "RC-EXT-009");
    let mut small = [0u8; 4];
    let mut w = DerWriter::new(&mut small);
    let r = ext::write_san(&mut w, [Ok(GeneralName::Email("zoe@contoso.com"))]).and_then(|()| {
        w.finish()
            .map(|_| ())
            .map_err(raconn_core::ext::ExtError::from)
    });
    fails(r, "RC-EXT-010");
}

#[test]
fn requests_and_pem() {
    let key = raconn_core::soft_p256::SoftP256::from_bytes(&[7; 32]).unwrap();
    let mut out = [0u8; 1024];
    fails(csr::build(&CsrSpec::new(""), &key, &mut out), "RC-CSR-002");
    // A certificate is not a request.
    let cert = sim_certificate();
    fails(CsrRef::parse(&cert), "RC-CSR-004");
    let mut der = [0u8; 2048];
    fails(
        pem::decode(
            b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
            &mut der,
        ),
        "RC-PEM-002",
    );
}

/// The end-entity certificate of a recorded enrollment reply (issued by
/// raconn-sim's rcgen CA for a request raconn built).
fn sim_certificate() -> Vec<u8> {
    let doc = include_str!("data/issuance/enroll-issued.xml");
    let r = raconn_core::pkiws::enroll::parse_response(doc).unwrap();
    let raconn_core::pkiws::enroll::Outcome::Issued { token, .. } = r.outcome else {
        panic!("not issued")
    };
    let mut buf = vec![0u8; 8192];
    let der = token.base64("token", &mut buf).unwrap().to_vec();
    let p7 = Pkcs7Ref::parse(&der).unwrap();
    let first = p7.certificates().next().unwrap().unwrap();
    first.der.to_vec()
}

#[test]
fn certreq_ini() {
    let cases = [
        ("[NewRequest]\nSubject = \"CN=x\n", "RC-INF-002"),
        ("Subject = x\n", "RC-INF-003"),
        ("[NewRequest]\nKeyLength = big\n", "RC-INF-004"),
        ("[NewRequest]\nKeyAlgorithm = DSA\n", "RC-INF-005"),
        (
            "[NewRequest]\nKeyAlgorithm = ECDSA_P256\nKeyLength = 2048\n",
            "RC-INF-006",
        ),
        ("[NewRequest]\nHashAlgorithm = MD5\n", "RC-INF-007"),
        ("[NewRequest]\nRequestType = CMC\n", "RC-INF-008"),
        (
            "[Extensions]\n_continue_ = \"x\"\n[NewRequest]\n",
            "RC-INF-009",
        ),
        ("[Version]\n", "RC-INF-010"),
        (
            "[NewRequest]\n[Extensions]\n2.5.29.17 = \"{text}\"\n_continue_ = \"mail=x\"\n",
            "RC-INF-012",
        ),
    ];
    for (text, code) in cases {
        fails(inf::parse(text), code);
    }
    let many: String = std::iter::once("[NewRequest]\n[EnhancedKeyUsageExtension]\n".to_string())
        .chain((0..40).map(|i| format!("OID=1.3.6.1.5.5.7.3.{i}\n")))
        .collect();
    fails(inf::parse(&many), "RC-INF-011");
    let w = |text: &str, code: &str| {
        let i = inf::parse(text).unwrap();
        assert!(
            i.warnings.iter().any(|w| w.code() == code),
            "{code}: {:?}",
            i.warnings
        );
    };
    w("[NewRequest]\nKeyLenght = 2048\n", "RC-INF-W02");
    w("[NewRequest]\n[Strange]\nx = 1\n", "RC-INF-W03");
    w(
        "[NewRequest]\nKeyLength = 2048\nKeyLength = 3072\n",
        "RC-INF-W04",
    );
    w("[NewRequest]\nExportable = FALSE\n", "RC-INF-W05");
    let mut out = [0u8; 64];
    fails(
        inf::decode_text(b"[NewRequest]\n\xff\n", TextEncoding::Utf8, &mut out),
        "RC-INF-014",
    );
    fails(
        inf::decode_text(&[0xff, 0xfe, 0x41], TextEncoding::Utf8, &mut out),
        "RC-INF-015",
    );
}

#[test]
fn certificates() {
    let cert = sim_certificate();
    fails(
        CertificateRef::parse(&cert[..cert.len() - 1]),
        "RC-CERT-001",
    );
    // notAfter's "Z" replaced by "X".
    let mut bad_time = cert.clone();
    let pos = bad_time
        .windows(2)
        .position(|w| w == [0x17, 0x0d])
        .expect("a UTCTime")
        + 2
        + 12;
    bad_time[pos] = b'X';
    fails(CertificateRef::parse(&bad_time), "RC-CERT-002");
    // A PKCS#7 whose content type is data, not signedData.
    let data_p7 = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01, 0xa0, 0x00,
    ];
    fails(Pkcs7Ref::parse(&data_p7), "RC-CERT-003");
    fails(
        CertificateRef::parse(&duplicate_extension(&cert)),
        "RC-CERT-004",
    );
}

/// The certificate with its first extension repeated (DER lengths
/// rewritten; the signature no longer matters to the parser).
fn duplicate_extension(cert: &[u8]) -> Vec<u8> {
    let wrap = |tag: u8, content: &[u8]| {
        let mut b = vec![0u8; content.len() + 8];
        let mut w = DerWriter::new(&mut b);
        w.tlv(tag, content);
        let n = w.finish().unwrap();
        b.truncate(n);
        b
    };
    let c = CertificateRef::parse(cert).unwrap();
    let exts = c.extensions.unwrap(); // SEQUENCE OF Extension, inside [3]
    let first = Reader::new(exts.value).any().unwrap();
    let mut list = exts.value.to_vec();
    list.extend_from_slice(first.raw);
    let new_exts = wrap(tag::ctx_cons(3), &wrap(tag::SEQUENCE, &list));
    let tbs = asn1::parse_single(c.tbs).unwrap();
    let mut tbs_content = Vec::new();
    let mut r = Reader::new(tbs.value);
    while !r.is_empty() {
        let e = r.any().unwrap();
        if e.tag != tag::ctx_cons(3) {
            tbs_content.extend_from_slice(e.raw);
        }
    }
    tbs_content.extend_from_slice(&new_exts);
    let mut content = wrap(tag::SEQUENCE, &tbs_content);
    let outer = asn1::parse_single(cert).unwrap();
    content.extend_from_slice(&outer.value[c.tbs.len()..]);
    wrap(tag::SEQUENCE, &content)
}

#[test]
fn thumbprints() {
    fails(thumbprint::parse(""), "RC-THUMB-001");
    let p = thumbprint::parse("\u{200e}EA7A4E0CD1A4F81CF0740527C31A57F6020C17C5").unwrap();
    warns(p.notes[0], "RC-THUMB-W01");
    let p =
        thumbprint::parse("RA Cert Thumbprint: EA7A4E0CD1A4F81CF0740527C31A57F6020C17C5").unwrap();
    warns(p.notes[0], "RC-THUMB-W02");
}

#[test]
fn profiles() {
    let cases = [
        ("", "RC-PROF-001"),
        ("https://pki-ws.symauth.com", "RC-PROF-002"),
        ("pki-ws.symauth.com/pki-ws", "RC-PROF-003"),
        ("pki-ws.symauth.com/", "RC-PROF-004"),
        ("pki_ws.symauth.com", "RC-PROF-005"),
        ("pki-ws.symauth.com:99999", "RC-PROF-006"),
        ("pki-ws..symauth.com", "RC-PROF-007"),
    ];
    for (s, code) in cases {
        fails(profile::parse_ca_fqdn(s), code);
    }
    fails(profile::check_ca_name("DigiCert"), "RC-PROF-008");
    fails(profile::parse_template("not an oid"), "RC-PROF-009");
    let nobody = Identity {
        cn: "Zoe",
        email: None,
        upn: None,
    };
    fails(profile::resolve_email(&nobody), "RC-PROF-010");
    fails(profile::resolve_upn(&nobody), "RC-PROF-011");
    let mut b = [0u8; 256];
    fails(
        SubjectFormat::CommonNameAsEmail.subject(&nobody, &mut b),
        "RC-PROF-012",
    );
    let (mut x, mut y) = ([0u8; 64], [0u8; 128]);
    fails(profile::other_name_value("", &mut x, &mut y), "RC-PROF-013");
    fails(
        profile::other_name_value("hex:04 1g", &mut x, &mut y),
        "RC-PROF-014",
    );
    fails(
        profile::other_name_value("b64:@@@@", &mut x, &mut y),
        "RC-PROF-015",
    );
    fails(
        profile::other_name_value("not base64!", &mut x, &mut y),
        "RC-PROF-016",
    );
    fails(SubjectFormat::parse("cn-and-mail"), "RC-PROF-017");
    fails(SanKindSel::parse("dns"), "RC-PROF-018");
    let empty = Identity {
        cn: " ",
        email: None,
        upn: None,
    };
    fails(
        SubjectFormat::CommonName.subject(&empty, &mut b),
        "RC-PROF-020",
    );
    let mut seen: Vec<ProfileWarning> = Vec::new();
    let mut keep = |w| seen.push(w);
    fails(
        profile::check_value("cn", "a\nb", false, &mut keep),
        "RC-PROF-021",
    );
    fails(
        profile::check_value("cn", &"x".repeat(65), true, &mut keep),
        "RC-PROF-022",
    );
    profile::check_value("cn", &"x".repeat(65), false, &mut keep).unwrap();
    profile::check_value("email", "zoe.contoso.com", false, &mut keep).unwrap();
    profile::check_value("cn", "a\u{202e}b", false, &mut keep).unwrap();
    let codes: Vec<&str> = seen.iter().map(|w| w.code()).collect();
    assert_eq!(codes, ["RC-PROF-W08", "RC-PROF-W09", "RC-PROF-W10"]);
    let (_, w) = profile::parse_template("1.2.3.4").unwrap();
    warns(w.unwrap(), "RC-PROF-W01");
    let v = profile::other_name_value("BBC4umsvOkxNno8AESIzRFVm", &mut x, &mut y).unwrap();
    warns(v.warning.unwrap(), "RC-PROF-W02");
    warns(
        profile::upn_name_warning("zoe+m@corp.local").unwrap(),
        "RC-PROF-W03",
    );
    let upn_only = Identity {
        cn: "Zoe",
        email: None,
        upn: Some("zoe@corp.local"),
    };
    warns(
        profile::resolve_email(&upn_only).unwrap().1.unwrap(),
        "RC-PROF-W04",
    );
    let cn_mail = Identity {
        cn: "zoe@contoso.com",
        email: None,
        upn: None,
    };
    warns(
        profile::resolve_email(&cn_mail).unwrap().1.unwrap(),
        "RC-PROF-W05",
    );
    let mail_only = Identity {
        cn: "Zoe",
        email: Some("zoe@contoso.com"),
        upn: None,
    };
    warns(
        profile::resolve_upn(&mail_only).unwrap().1.unwrap(),
        "RC-PROF-W06",
    );
    warns(
        profile::resolve_upn(&cn_mail).unwrap().1.unwrap(),
        "RC-PROF-W07",
    );
}

#[test]
fn xml() {
    let mut b = [0u8; 64];
    let mut w = xml::XmlWriter::new(&mut b);
    w.text("bell\u{7}");
    fails(w.finish(), "RC-XML-002");
    fails(xml::walk("<a><b></a>", |_, _| Ok(())), "RC-XML-003");
    let deep = "<a>".repeat(200) + &"</a>".repeat(200);
    fails(xml::walk(&deep, |_, _| Ok(())), "RC-XML-004");
    let env = |inner: &str| {
        format!("<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>{inner}</s:Body></s:Envelope>")
    };
    // An unknown entity in a value raconn reads.
    let doc = env("<getPoliciesResponse><clientTransactionID>&bogus;</clientTransactionID></getPoliciesResponse>");
    let fault_doc =
        env("<s:Fault><faultcode>s:Client</faultcode><faultstring>&bogus;</faultstring></s:Fault>");
    let f = raconn_core::pkiws::fault::parse(&fault_doc)
        .unwrap()
        .unwrap();
    let mut s = String::new();
    fails(f.string.unwrap().unescape_into(&mut s), "RC-XML-005");
    let _ = doc;
    fails(
        raconn_core::pkiws::body_info(
            "<?xml version=\"1.0\"?><html><body>proxy error</body></html>",
        ),
        "RC-XML-009",
    );
    fails(xml::check_transaction_id(&"x".repeat(41)), "RC-XML-010");
}

#[test]
fn soft_p256_refuses_bad_keys() {
    // The all-zero scalar is not a P-256 private key.
    fails(
        raconn_core::soft_p256::SoftP256::from_bytes(&[0u8; 32]).map(|_| ()),
        "RC-SIGN-001",
    );
}

#[test]
fn csr_with_a_bad_public_key() {
    struct Broken(raconn_core::soft_p256::SoftP256);
    impl csr::Signer for Broken {
        fn algorithm(&self) -> raconn_core::sig::SignatureScheme {
            self.0.algorithm()
        }
        // A signer whose public key is not DER: what RC-CSR-001 catches
        // (a bug in a third-party signer, not reachable with raconn's own).
        fn public_key_der(&self) -> &[u8] {
            b"not der"
        }
        fn max_signature_len(&self) -> usize {
            self.0.max_signature_len()
        }
        fn sign(&self, tbs: &[u8], out: &mut [u8]) -> Result<usize, csr::SignError> {
            self.0.sign(tbs, out)
        }
    }
    let k = Broken(raconn_core::soft_p256::SoftP256::from_bytes(&[7; 32]).unwrap());
    fails(
        csr::build(&CsrSpec::new("CN=x"), &k, &mut [0u8; 1024]),
        "RC-CSR-001",
    );
}

#[test]
fn policy_replies() {
    const EXAMPLE: &str = include_str!("data/pkiws/getPoliciesResponse.xml");
    const OID: &str = "2.16.840.1.113733.1.16.1.2.3.1.1.47196109";
    use raconn_core::pkiws::policy::parse_response;
    // A key size that is not a number: RC-PKIWS-001 naming RC-XML-008.
    let bad = EXAMPLE.replace("<ns2:keysize>2048<", "<ns2:keysize>big<");
    assert_ne!(bad, EXAMPLE);
    let e = parse_response(&bad, OID).unwrap_err();
    assert_eq!(e.code(), "RC-PKIWS-001");
    assert!(e.to_string().contains("RC-XML-008"), "{e}");
    // Five hundred attributes: more than raconn keeps (RC-XML-006).
    let pair = "<ns2:extensionAttributeNameValuePair><ns2:attributeName>rfc822Name</ns2:attributeName><ns2:attributeNameValue mandatory=\"false\" type=\"string\">m</ns2:attributeNameValue></ns2:extensionAttributeNameValuePair>";
    let crowded = EXAMPLE.replacen(
        "<ns2:extensionSyntax>",
        &format!("<ns2:extensionSyntax>{}", pair.repeat(500)),
        1,
    );
    let e = parse_response(&crowded, OID).unwrap_err();
    assert!(e.to_string().contains("RC-XML-006"), "{e}");
    // No policy for the OID asked about.
    fails(parse_response(EXAMPLE, "1.2.3.4"), "RC-PKIWS-006");
}

#[test]
fn sids() {
    use raconn_core::profile::{check_sid, SidPlacement};
    for ok in [
        "S-1-5-21-1004336348-1177238915-682003330-1104",
        "S-1-1-0",
        "S-1-0x000000000005-32-544",
        "S-1-5-4294967295",
    ] {
        assert!(check_sid(ok).is_ok(), "{ok}");
    }
    for (bad, at) in [
        ("s-1-5-21", 1),
        ("S-1-", 5),
        ("S-1-5", 6),
        ("S-1-5-4294967296", 7),
        ("S-1-281474976710656-1", 5),
        ("S-1-5-21--1", 10),
    ] {
        fails(check_sid(bad), "RC-PROF-023");
        assert!(
            check_sid(bad)
                .unwrap_err()
                .to_string()
                .contains(&format!("character {at}")),
            "{bad}: {}",
            check_sid(bad).unwrap_err()
        );
    }
    let sixteen = format!("S-1-5{}", "-1".repeat(16));
    fails(check_sid(&sixteen), "RC-PROF-023");
    assert!(check_sid(&format!("S-1-5{}", "-1".repeat(15))).is_ok());
    fails(SidPlacement::parse("certificate"), "RC-PROF-025");
    assert_eq!(
        SidPlacement::parse("both").map(|p| (p.extension(), p.san_url())),
        Ok((true, true))
    );
}
