//! Strong certificate mapping (KB5014754): `raconn issue --sid` against
//! raconn-sim with the SID as the szOID_NTDS_CA_SECURITY_EXT extension, as
//! a SAN URI, or both. The request and the issued certificate are read
//! back by openssl (`req -text`, `x509 -text`, `asn1parse`) and Python
//! `cryptography`; the extension's bytes are compared with the shape AD CS
//! writes (service.md §5). A SID the profile has no place for, or one that
//! does not parse, is refused before anything is sent.

mod common;

use std::process::Command;

use common::*;
use raconn_sim::ServerKey;

const SID_PROFILE: &str = "2.16.840.1.113733.1.16.1.2.3.1.1.47196113";
/// 45 characters: the extension starts `30 3f a0 3d … 04 2d`.
const SID: &str = "S-1-5-21-1004336348-1177238915-682003330-1104";

fn config(e: &Env, name: &str, sid: Option<&str>) -> std::path::PathBuf {
    let base = e.config(name, &e.thumbprint, 20_000, "");
    let t = std::fs::read_to_string(&base).unwrap();
    let t = t
        .replace(USER, SID_PROFILE)
        .replace(
            "subject_name_format = \"common-name-including-email\"",
            "subject_name_format = \"common-name\"",
        )
        .replace(
            "subject_alternative_names = [\"email\", \"upn\", \"other-name:1.3.6.1.4.1.311.25.1\"]",
            "subject_alternative_names = [\"email\"]",
        );
    let t = match sid {
        Some(s) => format!("{t}sid = \"{s}\"\n"),
        None => t,
    };
    std::fs::write(&base, t).unwrap();
    base
}

fn issue(e: &Env, cfg: &std::path::Path, id: &str, sid: &str) -> std::process::Output {
    let out = e.path(&format!("{id}.pfx"));
    let out_s = s(&out).to_string();
    let mut i = IssueArgs::new(e, cfg, id, "Zoe Mueller", &out_s);
    i.other_name = "";
    let mut a: Vec<&str> = i
        .args()
        .into_iter()
        .filter(|x| !x.is_empty() && *x != "--other-name")
        .collect();
    a.extend_from_slice(&["--sid", sid]);
    raconn(&a)
}

/// Python reads the PFX's certificate and the last CSR the simulator saw.
fn facts(pfx: &std::path::Path, body: &str) -> serde_json::Value {
    let script = r#"
import base64, json, re, sys
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
p = pkcs12.load_pkcs12(open(sys.argv[1], "rb").read(), sys.argv[2].encode())
c = p.cert.certificate
body = open(sys.argv[3]).read()
token = re.search(r"BinarySecurityToken[^>]*>([^<]+)<", body, re.I).group(1)
csr = x509.load_der_x509_csr(base64.b64decode(token))
oid = x509.ObjectIdentifier("1.3.6.1.4.1.311.25.2")
def ext(exts):
    try:
        return exts.get_extension_for_oid(oid).value.value.hex()
    except x509.ExtensionNotFound:
        return None
def uris(exts):
    try:
        return exts.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        return []
print(json.dumps({"cert_ext": ext(c.extensions), "csr_ext": ext(csr.extensions),
                  "cert_uris": uris(c.extensions), "csr_uris": uris(csr.extensions)}))
"#;
    let bf = pfx.with_extension("body.xml");
    std::fs::write(&bf, body).unwrap();
    let o = Command::new("python3")
        .args(["-c", script, s(pfx), PASSWORD, s(&bf)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn last_enrollment(e: &Env) -> String {
    e.sim
        .recorded()
        .into_iter()
        .rfind(|r| r.path.ends_with("enrollmentService"))
        .unwrap()
        .body
}

#[test]
fn sid_as_extension_san_url_or_both() {
    let e = env(ServerKey::P256);
    let url = format!("tag:microsoft.com,2022-09-14:sid:{SID}");
    // The extension value as AD CS writes it, and what follows: the SID text.
    let golden = format!(
        "303fa03d060a2b060104018237190201a02f042d{}",
        SID.bytes().map(|b| format!("{b:02x}")).collect::<String>()
    );
    for (placement, ext, uri) in [
        ("both", true, true),
        ("extension", true, false),
        ("san-url", false, true),
    ] {
        let cfg = config(&e, &format!("{placement}.toml"), Some(placement));
        let id = format!("sid-{placement}");
        let o = issue(&e, &cfg, &id, SID);
        assert!(o.status.success(), "{placement}: {}", text(&o.stderr));
        let body = last_enrollment(&e);
        let f = facts(&e.path(&format!("{id}.pfx")), &body);
        for which in ["csr", "cert"] {
            let got_ext = f[format!("{which}_ext")].as_str();
            assert_eq!(
                got_ext,
                ext.then_some(golden.as_str()),
                "{placement} {which}: {f}"
            );
            let uris: Vec<&str> = f[format!("{which}_uris")]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(
                uris,
                if uri { vec![url.as_str()] } else { vec![] },
                "{placement} {which}"
            );
        }
        // The policy names a SAN URI attribute: its pair carries the URI.
        if uri {
            assert!(
                body.contains(&format!(
                    "<vs:name>custom_sid_url</vs:name><vs:value>{url}</vs:value>"
                )),
                "{body}"
            );
        }
        // openssl reads the certificate; raconn inspect names the SID.
        let pem = e.path(&format!("{id}.pem"));
        pfx_leaf_pem(&e.path(&format!("{id}.pfx")), &pem);
        let o = Command::new("openssl")
            .args(["x509", "-in", s(&pem), "-noout", "-text"])
            .output()
            .unwrap();
        let t = text(&o.stdout);
        assert_eq!(t.contains("1.3.6.1.4.1.311.25.2"), ext, "{t}");
        assert_eq!(t.contains(&format!("URI:{url}")), uri, "{t}");
        let o = raconn(&["inspect", s(&pem)]);
        let t = text(&o.stdout);
        assert!(
            o.status.success() && t.contains(&format!("SID: {SID}")),
            "{t}"
        );
        if ext {
            // asn1parse of the extension value: the SID other-name, the text.
            let der = e.path(&format!("{id}.sid.der"));
            let bytes: Vec<u8> = (0..golden.len() / 2)
                .map(|i| u8::from_str_radix(&golden[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            std::fs::write(&der, bytes).unwrap();
            let o = Command::new("openssl")
                .args(["asn1parse", "-inform", "DER", "-in", s(&der)])
                .output()
                .unwrap();
            let t = text(&o.stdout);
            assert!(
                t.contains("OBJECT            :1.3.6.1.4.1.311.25.2.1")
                    && t.contains(&format!(":{SID}")),
                "{t}"
            );
        }
    }

    // Refused before anything is sent: a profile with no place for a SID, a
    // SID that does not parse (each naming where).
    let before = e.sim.enrollments();
    let none = config(&e, "none.toml", None);
    let o = issue(&e, &none, "sid-none", SID);
    assert!(
        text(&o.stderr).contains("RC-PROF-024"),
        "{}",
        text(&o.stderr)
    );
    let both = config(&e, "both2.toml", Some("both"));
    for (bad, pos) in [
        ("S-1-5-21-x", "character 10"),
        ("S-2-5-21", "character 1"),
        ("S-1-5-99999999999", "character 7"),
    ] {
        let o = issue(&e, &both, "sid-bad", bad);
        let err = text(&o.stderr);
        assert!(
            err.contains("RC-PROF-023") && err.contains(pos),
            "{bad}: {err}"
        );
    }
    assert_eq!(e.sim.enrollments(), before);
    let bad_cfg = config(&e, "bad.toml", Some("certificate"));
    let o = issue(&e, &bad_cfg, "sid-cfg", SID);
    let err = text(&o.stderr);
    assert!(err.contains("RC-CONF-001") && err.contains("sid"), "{err}");
}
