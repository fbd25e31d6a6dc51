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
