//! Every certificate of the system CA bundle, read by raconn's zero-copy
//! view, compared with openssl (`x509 -fingerprint -sha1/-sha256`) and with
//! Python `cryptography` (subject attributes in DER order, notAfter, serial,
//! SAN, basicConstraints).

use raconn_core::cert::CertificateRef;
use raconn_core::ext::GeneralNameRef;
use raconn_core::thumbprint::{Thumbprint, Thumbprint256};
use raconn_host::files;
use raconn_tests::{python, run};
use serde_json::json;

const BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

#[test]
fn ca_bundle_matches_openssl_and_cryptography() {
    let data = std::fs::read(BUNDLE).expect("CA bundle (package ca-certificates)");
    let blocks = files::parse_blocks(&data).expect("PEM bundle");
    assert!(
        blocks.len() > 100,
        "only {} certificates in {BUNDLE}",
        blocks.len()
    );
    let facts = python("cert_facts.py", &json!({ "path": BUNDLE }));
    let facts = facts.as_array().expect("list");
    assert_eq!(
        facts.len(),
        blocks.len(),
        "cryptography and raconn see different counts"
    );

    for (b, f) in blocks.iter().zip(facts) {
        let pem = files::to_pem("CERTIFICATE", &b.der);
        let (ok, out, err) = run(
            "openssl",
            &["x509", "-noout", "-fingerprint", "-sha1"],
            Some(pem.as_bytes()),
        );
        assert!(ok, "{err}");
        let openssl_sha1 = out.trim().rsplit('=').next().unwrap_or("").replace(':', "");
        let (ok, out, err) = run(
            "openssl",
            &["x509", "-noout", "-fingerprint", "-sha256"],
            Some(pem.as_bytes()),
        );
        assert!(ok, "{err}");
        let openssl_sha256 = out.trim().rsplit('=').next().unwrap_or("").replace(':', "");

        let ours1 = Thumbprint::of(&b.der).to_string();
        let ours256 = Thumbprint256::of(&b.der).to_string();
        assert_eq!(ours1, openssl_sha1);
        assert_eq!(ours256, openssl_sha256);
        assert_eq!(ours1, f["sha1"].as_str().unwrap_or(""));

        let c = CertificateRef::parse(&b.der).unwrap_or_else(|e| panic!("{ours1}: {e}"));
        let mut subj = Vec::new();
        c.subject
            .for_each(|a| {
                let v = match a.text() {
                    Some(t) => t.to_string(),
                    None => match a.value.tag {
                        // BMPString: UTF-16BE
                        0x1e => String::from_utf16_lossy(
                            &a.value
                                .value
                                .chunks(2)
                                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                                .collect::<Vec<_>>(),
                        ),
                        _ => a.value.value.iter().map(|x| format!("{x:02x}")).collect(),
                    },
                };
                subj.push(json!([a.oid.to_string(), v]));
                Ok(())
            })
            .expect("subject");
        assert_eq!(json!(subj), f["subject"], "{ours1} subject");
        assert_eq!(
            c.not_after.to_string(),
            f["not_after"].as_str().unwrap_or(""),
            "{ours1} notAfter"
        );
        let serial: String = {
            let mut s: String = c.serial.iter().map(|x| format!("{x:02X}")).collect();
            while s.starts_with('0') && s.len() > 1 {
                s.remove(0);
            }
            s
        };
        assert_eq!(serial, f["serial"].as_str().unwrap_or(""), "{ours1} serial");
        let mut san = Vec::new();
        c.for_each_san(|g| {
            san.push(match g {
                GeneralNameRef::Dns(s) | GeneralNameRef::Email(s) | GeneralNameRef::Uri(s) => {
                    s.to_string()
                }
                GeneralNameRef::Dir(n) => {
                    // cryptography prints RFC 4514 order (reversed), comma-separated.
                    let mut parts = Vec::new();
                    n.for_each(|a| {
                        let mut v = String::new();
                        raconn_core::name::write_escaped_value(&mut v, &a.value).ok();
                        let label = raconn_core::name::short_label(&a.oid)
                            .map(str::to_string)
                            .unwrap_or(a.oid.to_string());
                        parts.push(format!("{label}={v}"));
                        Ok(())
                    })
                    .expect("dirname");
                    parts.reverse();
                    format!("<Name({})>", parts.join(","))
                }
                other => format!("{other:?}"),
            });
            Ok(())
        })
        .expect("san");
        assert_eq!(json!(san), f["san"], "{ours1} SAN");
        let ca = c.basic_constraints().map(|(ca, _)| ca);
        assert_eq!(json!(ca), f["ca"], "{ours1} basicConstraints");
    }
    // Each certificate was asserted above; this only reports how many.
    eprintln!(
        "CA bundle: {} certificates, each with openssl's SHA-1 and SHA-256 and cryptography's subject/notAfter/serial/SAN/CA",
        blocks.len()
    );
}
