//! Property tests: names and SANs survive encode → decode → display → encode,
//! and no input makes a parser panic.

use proptest::prelude::*;
use raconn_core::asn1::DerWriter;
use raconn_core::ext::{self, GeneralName, GeneralNameRef};
use raconn_core::name::{parse_name, subject_to_der};

fn escape(v: &str) -> String {
    let mut s = String::new();
    raconn_core::name::write_escaped_str(&mut s, v).expect("escape");
    s
}

fn value() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9 ,+\"\\\\<>;=#éß漢😀'._-]{1,24}").expect("regex")
}

proptest! {
    #[test]
    fn subject_round_trips(vals in proptest::collection::vec((0usize..5, value()), 1..6), multi in any::<bool>()) {
        let keys = ["CN", "O", "OU", "L", "ST"];
        let mut parts = Vec::new();
        for (i, (k, v)) in vals.iter().enumerate() {
            let sep = if i == 0 { "" } else if multi && i == 1 { "+" } else { ", " };
            parts.push(format!("{sep}{}={}", keys[*k], escape(v)));
        }
        let s: String = parts.concat();
        let mut buf = [0u8; 4096];
        let der = subject_to_der(&s, &mut buf).map_err(|e| TestCaseError::fail(format!("{s:?}: {e}")))?.to_vec();
        let shown = parse_name(&der).map_err(|e| TestCaseError::fail(e.to_string()))?.to_string();
        let mut buf2 = [0u8; 4096];
        let again = subject_to_der(&shown, &mut buf2).map_err(|e| TestCaseError::fail(format!("{shown:?}: {e}")))?;
        prop_assert_eq!(&der[..], again);
    }

    #[test]
    fn san_round_trips(emails in proptest::collection::vec("[a-z0-9.]{1,10}@[a-z]{1,8}\\.[a-z]{2,4}", 1..4),
                       upn in "[a-zA-Z0-9_.ü]{1,12}@[a-z]{1,8}\\.local",
                       dns in "[a-z0-9-]{1,12}\\.[a-z]{2,5}") {
        let mut names: Vec<GeneralName<'_>> = emails.iter().map(|e| GeneralName::Email(e)).collect();
        names.push(GeneralName::Upn(&upn));
        names.push(GeneralName::Dns(&dns));
        let mut buf = [0u8; 2048];
        let mut w = DerWriter::new(&mut buf);
        ext::write_san(&mut w, names.iter().copied().map(Ok)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let n = w.finish().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut back = Vec::new();
        ext::for_each_san(&buf[..n], 0, |g| { back.push(g); Ok(()) }).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back.len(), names.len());
        for (a, b) in names.iter().zip(&back) {
            match (a, b) {
                (GeneralName::Email(x), GeneralNameRef::Email(y)) => prop_assert_eq!(x, y),
                (GeneralName::Upn(x), GeneralNameRef::Upn(y)) => prop_assert_eq!(x, y),
                (GeneralName::Dns(x), GeneralNameRef::Dns(y)) => prop_assert_eq!(x, y),
                _ => prop_assert!(false, "kind changed: {a:?} -> {b:?}"),
            }
        }
    }

    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), text in "\\PC{0,200}") {
        let _ = raconn_core::cert::CertificateRef::parse(&bytes);
        let _ = raconn_core::cert::Pkcs7Ref::parse(&bytes);
        let _ = raconn_core::csr::CsrRef::parse(&bytes);
        let _ = parse_name(&bytes);
        let _ = raconn_core::inf::parse(&text);
        let _ = raconn_core::thumbprint::parse(&text);
        let _ = raconn_core::profile::parse_ca_fqdn(&text);
        let mut buf = [0u8; 256];
        let _ = subject_to_der(&text, &mut buf);
        let (mut a, mut b) = ([0u8; 256], [0u8; 512]);
        let _ = raconn_core::profile::other_name_value(&text, &mut a, &mut b);
    }
}
