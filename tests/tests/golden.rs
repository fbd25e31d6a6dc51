//! Golden vectors: requests made by openssl and by the QEMU firmware, each
//! rebuilt by raconn from the same key and inputs and compared byte for
//! byte, and read back through raconn's views. How each file was made is in
//! `tests/data/README.md`.

use raconn_core::csr::{self, CsrRef, CsrSpec, KeyUsageReq, SanSource};
use raconn_core::ext::{parse_guid, GeneralName, GeneralNameRef};
use raconn_core::oid;
use raconn_core::soft_p256::SoftP256;
use raconn_host::keys::SoftKey;
use raconn_tests::tests_path;

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(tests_path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn openssl_request_is_reproduced_byte_for_byte() {
    let key = SoftKey::from_pkcs8(&read("data/golden-rsa2048.key.der")).expect("key");
    let guid = parse_guid("{f7c3ac41-b8ce-4fb4-aa58-3d1dc0e36b39}").expect("guid");
    let san = [
        GeneralName::Email("zoe@contoso.com"),
        GeneralName::Upn("zoe@corp.contoso.local"),
        GeneralName::Guid(guid),
    ];
    let spec = CsrSpec {
        key_usage: Some(KeyUsageReq {
            mask: 0xa0,
            critical: true,
        }),
        eku: &[oid::KP_CLIENT_AUTH],
        san: SanSource::Names(&san),
        ..CsrSpec::new("C=FR, O=\"Contoso, Ltd\", OU=Sales, CN=Zoë Müller")
    };
    let mut buf = [0u8; 2048];
    let ours = csr::build(&spec, &key, &mut buf).expect("build");
    let theirs = read("data/openssl-user.csr.der");
    assert_eq!(
        ours,
        &theirs[..],
        "raconn and openssl disagree on the same request"
    );

    // And raconn's view reads openssl's file as openssl prints it.
    let c = CsrRef::parse(&theirs).expect("view");
    assert_eq!(
        c.subject.to_string(),
        "C=FR, O=Contoso\\, Ltd, OU=Sales, CN=Zoë Müller"
    );
    let mut sans = Vec::new();
    c.for_each_extension(|e| {
        if e.oid == oid::SUBJECT_ALT_NAME {
            raconn_core::ext::for_each_san(e.value, e.value_offset, |g| {
                sans.push(match g {
                    GeneralNameRef::Email(s) => format!("email:{s}"),
                    GeneralNameRef::Upn(s) => format!("UPN:{s}"),
                    GeneralNameRef::OtherName { oid, value } => format!("{oid}:{:02x?}", value.raw),
                    g => format!("{g:?}"),
                });
                Ok(())
            })?;
        }
        Ok(())
    })
    .expect("extensions");
    assert_eq!(sans[0], "email:zoe@contoso.com");
    assert_eq!(sans[1], "UPN:zoe@corp.contoso.local");
    assert!(
        sans[2].starts_with("1.3.6.1.4.1.311.25.1:[04, 10, 41, ac, c3, f7"),
        "{}",
        sans[2]
    );
}

#[test]
fn firmware_request_is_reproduced_on_the_host() {
    // Same scalar, same spec as host-embedded/firmware/src/main.rs.
    let scalar: [u8; 32] = [
        0xc9, 0xaf, 0xa9, 0xd8, 0x45, 0xba, 0x75, 0x16, 0x6b, 0x5c, 0x21, 0x57, 0x67, 0xb1, 0xd6,
        0x93, 0x4e, 0x50, 0xc3, 0xdb, 0x36, 0xe8, 0x9b, 0x12, 0x7b, 0x8a, 0x62, 0x2b, 0x12, 0x0f,
        0x67, 0x21,
    ];
    let key = SoftP256::from_bytes(&scalar).expect("key");
    let san = [
        GeneralName::Dns("appliance-01.contoso.com"),
        GeneralName::Upn("appliance-01@contoso.local"),
    ];
    let spec = CsrSpec {
        key_usage: Some(KeyUsageReq {
            mask: 0xa0,
            critical: true,
        }),
        eku: &[oid::KP_CLIENT_AUTH],
        san: SanSource::Names(&san),
        ..CsrSpec::new("C=FR, O=Contoso, CN=appliance-01")
    };
    let mut der = [0u8; 512];
    let mut pem_buf = [0u8; 1024];
    let ours = raconn_embedded::csr_pem(&spec, &key, &mut der, &mut pem_buf).expect("csr");
    let golden = String::from_utf8(read("data/firmware-p256.csr.pem")).expect("utf8");
    assert_eq!(ours, golden);
    let (ok, out, err) = raconn_tests::run(
        "openssl",
        &["req", "-verify", "-noout"],
        Some(golden.as_bytes()),
    );
    assert!(ok && (out + &err).contains("verify OK"));
}
