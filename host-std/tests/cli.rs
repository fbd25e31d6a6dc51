//! End-to-end tests of the `raconn` binary, with openssl as the CA and the
//! judge: RA onboarding (new-request → openssl signs → accept → list),
//! thumbprints, inspect, error codes and exit statuses.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn raconn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_raconn"))
        .args(args)
        .env_remove("RACONN_STORE")
        // A proxy of the machine running the tests must not stand between
        // raconn and the simulator (proxy tests set their own).
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .stdin(Stdio::null())
        .output()
        .expect("run raconn")
}

fn new_request(inf: &Path, out: &Path, store: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "ra",
        "new-request",
        "--inf",
        s(inf),
        "--out",
        s(out),
        "--store",
        s(store),
    ];
    args.extend_from_slice(extra);
    raconn(&args)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn openssl(args: &[&str]) -> String {
    let o = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(o.status.success(), "openssl {args:?}: {}", text(&o.stderr));
    text(&o.stdout) + &text(&o.stderr)
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A throwaway CA made by openssl, which signs CSRs keeping their extensions.
fn openssl_ca(dir: &Path) -> (PathBuf, PathBuf) {
    let key = dir.join("ca.key");
    let cert = dir.join("ca.pem");
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        s(&key),
        "-out",
        s(&cert),
        "-days",
        "30",
        "-subj",
        "/CN=raconn test RA issuing CA",
    ]);
    (key, cert)
}

fn sign(dir: &Path, csr: &Path, ca: &(PathBuf, PathBuf), out: &str) -> PathBuf {
    let cert = dir.join(out);
    openssl(&[
        "x509",
        "-req",
        "-in",
        s(csr),
        "-CA",
        s(&ca.1),
        "-CAkey",
        s(&ca.0),
        "-days",
        "10",
        "-copy_extensions",
        "copy",
        "-out",
        s(&cert),
    ]);
    cert
}

#[test]
fn ra_onboarding_end_to_end() {
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("store");
    let csr = d.path().join("ra.csr");
    let inf = repo().join("examples/ra-certreq.ini");
    let o = new_request(&inf, &csr, &store, &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("Key id: "), "{out}");
    // Ignored certreq keys are reported with their line.
    let err = text(&o.stderr);
    assert!(
        err.contains("RC-INF-W01") && err.contains("(line 16)") && err.contains("ProviderName"),
        "{err}"
    );

    // openssl: the request verifies and says what the reference file asks for.
    let t = openssl(&["req", "-in", s(&csr), "-verify", "-noout", "-text"]);
    assert!(t.contains("verify OK"), "{t}");
    assert!(
        t.contains("Subject: C = US, O = Example Company, CN = CompanyName DigiCert MDM RA Cert"),
        "{t}"
    );
    assert!(t.contains("Public-Key: (2048 bit)"));
    assert!(t.contains("X509v3 Key Usage: critical"));
    assert!(t.contains("Digital Signature, Key Encipherment"));
    assert!(t.contains("TLS Web Client Authentication"));
    assert!(std::fs::read_to_string(&csr)
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE REQUEST-----\n"));

    // The private key is 0600 in a 0700 directory.
    let keys: Vec<_> = std::fs::read_dir(store.join("keys"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(keys.len(), 1);
    assert_eq!(
        keys[0].metadata().unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(store.join("keys"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    openssl(&[
        "pkey",
        "-inform",
        "DER",
        "-in",
        s(&keys[0].path()),
        "-noout",
    ]);

    // The CA issues; raconn accepts and prints the thumbprint openssl computes.
    let ca = openssl_ca(d.path());
    let cert = sign(d.path(), &csr, &ca, "ra.pem");
    let o = raconn(&["ra", "accept", s(&cert), "--store", s(&store)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let fp = openssl(&["x509", "-in", s(&cert), "-noout", "-fingerprint", "-sha1"]);
    let fp = fp.trim().rsplit('=').next().unwrap().replace(':', "");
    assert!(
        text(&o.stdout).contains(&format!("RA Cert Thumbprint: {fp}\n")),
        "{}",
        text(&o.stdout)
    );

    // list: thumbprint, subject, has key.
    let o = raconn(&["ra", "list", "--store", s(&store)]);
    let l = text(&o.stdout);
    assert!(
        l.contains(&fp) && l.contains("yes") && l.contains("CN=CompanyName DigiCert MDM RA Cert"),
        "{l}"
    );
    let o = raconn(&["ra", "list", "--store", s(&store), "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j[0]["thumbprint"], fp);
    assert_eq!(j[0]["has_key"], true);

    // A PKCS#7 with the chain is accepted too (the RA certificate is the one we hold the key of).
    let p7 = d.path().join("chain.p7b");
    openssl(&[
        "crl2pkcs7",
        "-nocrl",
        "-certfile",
        s(&ca.1),
        "-certfile",
        s(&cert),
        "-out",
        s(&p7),
    ]);
    let o = raconn(&["ra", "accept", s(&p7), "--store", s(&store)]);
    assert!(text(&o.stdout).contains(&fp), "{}", text(&o.stderr));

    // A certificate whose key is not in the store is refused, with the code.
    let o = raconn(&["ra", "accept", s(&ca.1), "--store", s(&store)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("RC-HOST-005"),
        "{}",
        text(&o.stderr)
    );

    // thumbprint FILE: `<THUMBPRINT> <subject>` for each certificate, as openssl computes.
    let o = raconn(&["thumbprint", s(&p7)]);
    let lines = text(&o.stdout);
    assert!(
        lines.contains(&format!(
            "{fp} C=US, O=Example Company, CN=CompanyName DigiCert MDM RA Cert\n"
        )),
        "{lines}"
    );
    assert_eq!(lines.lines().count(), 2);
    let fp256 = openssl(&["x509", "-in", s(&cert), "-noout", "-fingerprint", "-sha256"]);
    let fp256 = fp256.trim().rsplit('=').next().unwrap().replace(':', "");
    let o = raconn(&["thumbprint", "--sha256", s(&cert)]);
    assert!(text(&o.stdout).starts_with(&fp256));
}

#[test]
fn p256_request_with_san_text_and_certreq_label() {
    let d = tempfile::tempdir().unwrap();
    let inf = d.path().join("dev.ini");
    std::fs::write(
        &inf,
        "[NewRequest]\nSubject = \"CN=device-01, O=\"\"Contoso, Ltd\"\"\"\nKeyAlgorithm = ECDSA_P256\nKeyUsage = \"CERT_DIGITAL_SIGNATURE_KEY_USAGE\"\n\
         [Extensions]\n2.5.29.17 = \"{text}\"\n_continue_ = \"email=dev@contoso.com&\"\n_continue_ = \"upn=dev@corp.local&guid={f7c3ac41-b8ce-4fb4-aa58-3d1dc0e36b39}\"\n",
    )
    .unwrap();
    let csr = d.path().join("dev.csr");
    let o = new_request(&inf, &csr, &d.path().join("st"), &["--certreq-label"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(std::fs::read_to_string(&csr)
        .unwrap()
        .starts_with("-----BEGIN NEW CERTIFICATE REQUEST-----"));
    let t = openssl(&["req", "-in", s(&csr), "-verify", "-noout", "-text"]);
    assert!(
        t.contains("NIST CURVE: P-256") && t.contains("othername: UPN::dev@corp.local"),
        "{t}"
    );
    assert!(
        t.contains("O = \"Contoso, Ltd\"") || t.contains("O = Contoso, Ltd"),
        "{t}"
    );

    let o = raconn(&["inspect", s(&csr)]);
    let i = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(i.contains("Signature: valid"), "{i}");
    assert!(i.contains("UPN:dev@corp.local"), "{i}");
    assert!(
        i.contains("DS Object GUID:041041ACC3F7CEB8B44FAA583D1DC0E36B39"),
        "{i}"
    );
    assert!(i.contains("Subject: CN=device-01, O=Contoso\\, Ltd"), "{i}");
    let o = raconn(&["inspect", "--json", s(&csr)]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["type"], "csr");
    assert_eq!(j["signature"], "valid");
    assert_eq!(j["public_key"], "EC P-256");
    let san = &j["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["oid"] == "2.5.29.17")
        .unwrap()["value"];
    assert_eq!(san[1]["type"], "upn");
    assert_eq!(san[1]["value"], "dev@corp.local");
}

#[test]
fn bad_inputs_fail_with_codes_and_make_no_key() {
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("st");
    let inf = d.path().join("bad.ini");
    std::fs::write(
        &inf,
        "[NewRequest]\nSubject = \"CN=x\"\nthis line is wrong\n",
    )
    .unwrap();
    let o = new_request(&inf, &d.path().join("x.csr"), &store, &[]);
    assert_eq!(o.status.code(), Some(1));
    let e = text(&o.stderr);
    assert!(
        e.contains("RC-INF-001") && e.contains("(line 3)") && e.contains("what to do:"),
        "{e}"
    );

    std::fs::write(
        &inf,
        "[NewRequest]\nSubject = \"CN=x, E=zoë@contoso.com\"\n",
    )
    .unwrap();
    let o = new_request(&inf, &d.path().join("x.csr"), &store, &[]);
    assert_eq!(o.status.code(), Some(1));
    let e = text(&o.stderr);
    assert!(
        e.contains("RC-NAME-009") && e.contains("attribute E"),
        "{e}"
    );
    // Nothing was generated and nothing half-written was left.
    assert!(
        !store.join("keys").exists() || std::fs::read_dir(store.join("keys")).unwrap().count() == 0
    );
    assert!(!d.path().join("x.csr").exists());

    let o = raconn(&["inspect", s(&inf)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("RC-HOST-006"));
}

#[test]
fn thumbprint_check_reports_what_it_removed() {
    let o = raconn(&[
        "thumbprint",
        "--check",
        "\u{200E}ea 7a 4e 0c d1 a4 f8 1c f0 74 05 27 c3 1a 57 f6 02 0c 17 c5",
    ]);
    assert!(o.status.success());
    assert_eq!(
        text(&o.stdout),
        "EA7A4E0CD1A4F81CF0740527C31A57F6020C17C5\n"
    );
    let e = text(&o.stderr);
    assert!(
        e.contains("U+200E") && e.contains("LEFT-TO-RIGHT MARK") && e.contains("character 1"),
        "{e}"
    );

    let o = raconn(&[
        "thumbprint",
        "--check",
        "RA Cert Thumbprint: “EA7A4E0CD1A4F81CF0740527C31A57F6020C17C5”",
    ]);
    assert!(o.status.success());
    assert_eq!(
        text(&o.stdout),
        "EA7A4E0CD1A4F81CF0740527C31A57F6020C17C5\n"
    );

    let o = raconn(&[
        "thumbprint",
        "--check",
        "EA7A4E0CD1A4F81CF0740527C31A57F6020C17CG",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let e = text(&o.stderr);
    assert!(
        e.contains("RC-THUMB-002") && e.contains("'G'") && e.contains("character 40"),
        "{e}"
    );

    let o = raconn(&[
        "thumbprint",
        "--check",
        "EA7A4E0CD1A4F81CF0740527C31A57F6020C17C",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("RC-THUMB-003") && text(&o.stderr).contains("found 39"));
}

#[test]
fn explain_and_readme_table_agree() {
    let o = raconn(&["explain", "rc-thumb-002"]);
    assert!(o.status.success());
    assert!(text(&o.stdout).starts_with("RC-THUMB-002: "));
    let o = raconn(&["explain", "RC-NOPE-999"]);
    assert_eq!(o.status.code(), Some(1));
    let table = text(&raconn(&["explain", "--all", "--markdown"]).stdout);
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains(&table),
        "README.md's error-code table is out of date: regenerate it with `raconn explain --all --markdown`"
    );
    // Every code is unique.
    let mut codes: Vec<&str> = table
        .lines()
        .skip(2)
        .map(|l| l.split('`').nth(1).unwrap())
        .collect();
    let n = codes.len();
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), n, "duplicate error codes");
}

#[test]
fn inspect_decodes_saved_soap_messages() {
    let data = repo().join("core/tests/data/pkiws");
    let o = raconn(&["inspect", s(&data.join("getPoliciesResponse.xml"))]);
    let t = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        t.contains("kind otherName.userPrincipalName") && t.contains("name otherNameUPN"),
        "{t}"
    );
    let o = raconn(&[
        "inspect",
        "--json",
        s(&data.join("requestSecurityTokenResponse-issued.xml")),
    ]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["status"], "issued");
    assert_eq!(j["token"]["certificates"].as_array().unwrap().len(), 3);
    let o = raconn(&[
        "inspect",
        "--json",
        s(&data.join("requestSecurityTokenResponse-pending.xml")),
    ]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["pending_reference"], "PEND-8C41D2A7E93B");
    let o = raconn(&["inspect", s(&data.join("requestSecurityToken-request.xml"))]);
    let t = text(&o.stdout);
    assert!(
        t.contains("nameValuePair otherNameUPN = IWUser0@contoso.onmicrosoft.com")
            && t.contains("Signature: valid"),
        "{t}"
    );

    let d = tempfile::tempdir().unwrap();
    let f11 = d.path().join("f11.xml");
    std::fs::write(&f11, r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>A request element is not understood.</faultstring><detail><errorCode>0000</errorCode></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"#).unwrap();
    let o = raconn(&["inspect", s(&f11)]);
    let t = text(&o.stdout);
    assert!(
        t.contains("SOAP 1.1 fault")
            && t.contains("RC-PKIWS-005")
            && t.contains("detail/errorCode: 0000"),
        "{t}"
    );
    let f12 = d.path().join("f12.xml");
    std::fs::write(&f12, r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code><s:Reason><s:Text>Policy Verification failed: mail_email</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>"#).unwrap();
    let o = raconn(&["inspect", "--json", s(&f12)]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["soap"], "SOAP 1.2");
    assert_eq!(j["code"], "RC-PKIWS-007");
    let bad = d.path().join("bad.xml");
    std::fs::write(&bad, "<soapenv:Envelope><soapenv:Body><oops").unwrap();
    let o = raconn(&["inspect", s(&bad)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("RC-XML-003"),
        "{}",
        text(&o.stderr)
    );
}

fn key_count(store: &Path) -> usize {
    std::fs::read_dir(store.join("keys")).map_or(0, |d| d.count())
}

/// certreq reads a certreq.ini saved by Notepad as "Unicode" (UTF-16 with
/// a byte-order mark), UTF-8 with or without a byte-order mark, or "ANSI".
/// raconn reads the first ones as such; an "ANSI" file is refused naming the
/// line, unless `--encoding windows-1252` says how to read it — never a
/// replacement character in a subject. openssl judges the subjects.
#[test]
fn certreq_ini_encodings_are_read_or_refused_by_line() {
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("st");
    let ini =
        "[NewRequest]\r\nSubject = \"O=Contosö, CN=Müller €\"\r\nKeyAlgorithm = ECDSA_P256\r\n";
    let subject_of = |csr: &Path| {
        openssl(&[
            "req",
            "-in",
            s(csr),
            "-noout",
            "-subject",
            "-nameopt",
            "utf8,sep_comma_plus",
        ])
    };
    let forms: [(&str, Vec<u8>); 3] = [
        (
            "utf16le",
            [0xFF, 0xFE]
                .into_iter()
                .chain(ini.encode_utf16().flat_map(|u| u.to_le_bytes()))
                .collect(),
        ),
        (
            "utf16be",
            [0xFE, 0xFF]
                .into_iter()
                .chain(ini.encode_utf16().flat_map(|u| u.to_be_bytes()))
                .collect(),
        ),
        (
            "utf8bom",
            [0xEF, 0xBB, 0xBF].into_iter().chain(ini.bytes()).collect(),
        ),
    ];
    for (name, bytes) in forms {
        let inf = d.path().join(format!("{name}.ini"));
        std::fs::write(&inf, bytes).unwrap();
        let csr = d.path().join(format!("{name}.csr"));
        let o = new_request(&inf, &csr, &store, &[]);
        assert!(o.status.success(), "{name}: {}", text(&o.stderr));
        let subj = subject_of(&csr);
        assert!(subj.contains("O=Contosö,CN=Müller €"), "{name}: {subj}");
    }
    assert_eq!(key_count(&store), 3);

    // Notepad's "ANSI" (Windows-1252): ö is 0xF6, € is 0x80.
    let ansi = b"[NewRequest]\r\nSubject = \"O=Contos\xF6, CN=M\xFCller \x80\"\r\nKeyAlgorithm = ECDSA_P256\r\n";
    let inf = d.path().join("ansi.ini");
    std::fs::write(&inf, ansi).unwrap();
    let csr = d.path().join("ansi.csr");
    let o = new_request(&inf, &csr, &store, &[]);
    assert_eq!(o.status.code(), Some(1));
    let e = text(&o.stderr);
    assert!(
        e.contains("RC-INF-014") && e.contains("line 2") && e.contains("--encoding windows-1252"),
        "{e}"
    );
    assert_eq!(key_count(&store), 3, "a refused file makes no key");
    let o = new_request(&inf, &csr, &store, &["--encoding", "windows-1252"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let e = text(&o.stderr);
    assert!(e.contains("line 2 read as Windows-1252"), "{e}");
    let subj = subject_of(&csr);
    assert!(subj.contains("O=Contosö,CN=Müller €"), "{subj}");
    assert!(!subj.contains('\u{FFFD}'), "{subj}");

    // A lone surrogate in UTF-16 is refused, not replaced.
    let inf = d.path().join("bad16.ini");
    std::fs::write(&inf, [0xFF, 0xFE, b'[', 0, 0x00, 0xD8, b']', 0]).unwrap();
    let o = new_request(&inf, &csr, &store, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("RC-INF-015"),
        "{}",
        text(&o.stderr)
    );
}

/// An output path that cannot be written is found before the key is made:
/// no orphan key stays in the store for a request no one received.
#[test]
fn unwritable_output_makes_no_key() {
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("st");
    let inf = d.path().join("p.ini");
    std::fs::write(
        &inf,
        "[NewRequest]\nSubject = \"CN=x\"\nKeyAlgorithm = ECDSA_P256\n",
    )
    .unwrap();
    for out in [
        d.path().join("missing-dir").join("x.csr"),
        d.path().to_path_buf(),
        PathBuf::from("/dev/null"),
    ] {
        let o = new_request(&inf, &out, &store, &[]);
        assert_eq!(o.status.code(), Some(1), "{}", out.display());
        let e = text(&o.stderr);
        assert!(e.contains("RC-HOST-"), "{}: {e}", out.display());
        assert_eq!(key_count(&store), 0, "{}: {e}", out.display());
    }
    let o = new_request(&inf, &d.path().join("x.csr"), &store, &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(key_count(&store), 1);
}

/// `ra accept` checks the certificate's signature with its issuer when the
/// file holds the issuer: a certificate altered after issuance (one bit of
/// its signature, as openssl then also refuses) is refused and nothing is
/// stored; the genuine one is accepted; a file without the issuer is
/// accepted with a warning that the signature was not checked.
#[test]
fn accept_verifies_the_signature_with_the_issuer() {
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("st");
    let inf = d.path().join("ra.ini");
    std::fs::write(
        &inf,
        "[NewRequest]\nSubject = \"CN=RA accept test\"\nKeyAlgorithm = ECDSA_P256\n[EnhancedKeyUsageExtension]\nOID=1.3.6.1.5.5.7.3.2\n",
    )
    .unwrap();
    let csr = d.path().join("ra.csr");
    let o = new_request(&inf, &csr, &store, &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let ca = openssl_ca(d.path());
    let leaf = sign(d.path(), &csr, &ca, "ra.pem");
    let leaf_der = d.path().join("ra.der");
    openssl(&[
        "x509",
        "-in",
        s(&leaf),
        "-outform",
        "DER",
        "-out",
        s(&leaf_der),
    ]);
    let mut der = std::fs::read(&leaf_der).unwrap();
    // The last byte is inside the signature's BIT STRING.
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let bad_der = d.path().join("bad.der");
    std::fs::write(&bad_der, &der).unwrap();
    let bad_pem = d.path().join("bad-chain.pem");
    let pem_of = |p: &Path| openssl(&["x509", "-inform", "DER", "-in", s(p)]);
    std::fs::write(
        &bad_pem,
        pem_of(&bad_der) + &std::fs::read_to_string(&ca.1).unwrap(),
    )
    .unwrap();
    // openssl agrees the altered one does not verify.
    let o = Command::new("openssl")
        .args(["verify", "-CAfile", s(&ca.1), s(&bad_pem)])
        .output()
        .unwrap();
    assert!(!o.status.success());

    let o = raconn(&["ra", "accept", s(&bad_pem), "--store", s(&store)]);
    assert_eq!(o.status.code(), Some(1));
    let e = text(&o.stderr);
    assert!(
        e.contains("RC-HOST-020") && e.contains("CN=RA accept test"),
        "{e}"
    );
    let o = raconn(&["ra", "list", "--store", s(&store), "--json"]);
    assert_eq!(text(&o.stdout).trim(), "[]", "nothing stored");

    // The leaf alone: accepted, saying the signature was not checked.
    let o = raconn(&["ra", "accept", s(&leaf), "--store", s(&store)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let e = text(&o.stderr);
    assert!(
        e.contains("is not in the file") && e.contains("raconn test RA issuing CA"),
        "{e}"
    );

    // Leaf and issuer: checked, no such warning.
    let chain = d.path().join("chain.pem");
    std::fs::write(
        &chain,
        std::fs::read_to_string(&leaf).unwrap() + &std::fs::read_to_string(&ca.1).unwrap(),
    )
    .unwrap();
    let o = raconn(&["ra", "accept", s(&chain), "--store", s(&store), "--json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("\"warnings\": []") || out.contains("\"warnings\":[]"),
        "{out}"
    );

    // A file whose second certificate is not strict DER (valid PEM armour,
    // a certificate cut short inside) is refused whole.
    let ca_der = d.path().join("ca.der");
    openssl(&[
        "x509",
        "-in",
        s(&ca.1),
        "-outform",
        "DER",
        "-out",
        s(&ca_der),
    ]);
    let mut cut = std::fs::read(&ca_der).unwrap();
    cut.truncate(cut.len() - 10);
    let cut_path = d.path().join("cut.der");
    std::fs::write(&cut_path, &cut).unwrap();
    let b64 = openssl(&["base64", "-in", s(&cut_path)]);
    let broken = d.path().join("broken.pem");
    std::fs::write(
        &broken,
        std::fs::read_to_string(&leaf).unwrap()
            + "-----BEGIN CERTIFICATE-----\n"
            + &b64
            + "-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let o = raconn(&["ra", "accept", s(&broken), "--store", s(&store)]);
    let e = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("RC-DER-") || e.contains("RC-CERT-"), "{e}");
}
