//! The heap-free RSA verifier against signatures made by openssl: 2048, 3072
//! and 4096-bit keys, and a 2 056-bit one (257 bytes: a width that is not a
//! whole number of 32-bit limbs), PKCS#1 v1.5 with SHA-256/384/512 and PSS with salt =
//! digest length and salt = maximum; a flipped bit, a wrong message, a
//! wrong padding and a wrong length all fail.

use std::process::Command;

use raconn_core::asn1::{tag, Reader};
use raconn_core::spki::SpkiRef;
use raconn_embedded::rsa::{self, Hash, Padding, RsaError};

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn key(spki: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let s = SpkiRef::parse(spki).unwrap();
    let seq = Reader::new(s.key).require(tag::SEQUENCE).unwrap();
    let mut r = seq.reader();
    let n = r.require(tag::INTEGER).unwrap().value.to_vec();
    let e = r.require(tag::INTEGER).unwrap().value.to_vec();
    (n, e)
}

#[test]
fn verifies_what_openssl_signs() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join("msg"), b"TLS 1.3, server CertificateVerify - raconn").unwrap();
    for bits in ["2048", "2056", "3072", "4096"] {
        openssl(
            p,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                &format!("rsa_keygen_bits:{bits}"),
                "-out",
                "k.pem",
            ],
        );
        openssl(
            p,
            &[
                "pkey", "-in", "k.pem", "-pubout", "-outform", "DER", "-out", "pub.der",
            ],
        );
        let (n, e) = key(&std::fs::read(p.join("pub.der")).unwrap());
        let msg = std::fs::read(p.join("msg")).unwrap();
        for (h, name) in [
            (Hash::Sha256, "sha256"),
            (Hash::Sha384, "sha384"),
            (Hash::Sha512, "sha512"),
        ] {
            let mut cases: Vec<(Padding, Vec<&str>)> = vec![(Padding::Pkcs1(h), vec![])];
            cases.push((
                Padding::Pss(h),
                vec![
                    "-sigopt",
                    "rsa_padding_mode:pss",
                    "-sigopt",
                    "rsa_pss_saltlen:digest",
                ],
            ));
            cases.push((
                Padding::Pss(h),
                vec![
                    "-sigopt",
                    "rsa_padding_mode:pss",
                    "-sigopt",
                    "rsa_pss_saltlen:max",
                ],
            ));
            for (pad, opts) in cases {
                let mut args = vec!["dgst", "-sign", "k.pem", &format!("-{name}")[..]]
                    .into_iter()
                    .map(String::from)
                    .collect::<Vec<_>>();
                args.extend(opts.iter().map(|s| s.to_string()));
                args.extend(["-out", "sig", "msg"].map(String::from));
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                openssl(p, &a);
                let sig = std::fs::read(p.join("sig")).unwrap();
                assert_eq!(
                    rsa::verify(&n, &e, pad, &msg, &sig),
                    Ok(()),
                    "{bits} {pad:?} {opts:?}"
                );
                let mut bad = sig.clone();
                bad[17] ^= 1;
                assert!(rsa::verify(&n, &e, pad, &msg, &bad).is_err());
                assert!(rsa::verify(&n, &e, pad, b"another message", &sig).is_err());
                let other = match pad {
                    Padding::Pkcs1(h) => Padding::Pss(h),
                    Padding::Pss(h) => Padding::Pkcs1(h),
                };
                assert!(rsa::verify(&n, &e, other, &msg, &sig).is_err());
                assert_eq!(
                    rsa::verify(&n, &e, pad, &msg, &sig[1..]),
                    Err(RsaError::BadSignatureLength)
                );
            }
        }
    }
    // Keys outside 2048..=4096 bits are refused, not mis-verified.
    assert_eq!(
        rsa::verify(
            &[0xc5; 128],
            &[1, 0, 1],
            Padding::Pkcs1(Hash::Sha256),
            b"m",
            &[1; 128]
        ),
        Err(RsaError::UnsupportedKey)
    );
}

/// The square-and-multiply exponentiation over every bit of the public
/// exponent: keys openssl makes with e = 3, 17 and 2^32 + 1 verify, and an
/// even or too-small exponent is refused rather than mis-verified.
#[test]
fn public_exponents_other_than_65537() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join("msg"), b"exponent").unwrap();
    for exp in ["3", "17", "4294967297"] {
        openssl(
            p,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-pkeyopt",
                &format!("rsa_keygen_pubexp:{exp}"),
                "-out",
                "k.pem",
            ],
        );
        openssl(
            p,
            &[
                "pkey", "-in", "k.pem", "-pubout", "-outform", "DER", "-out", "pub.der",
            ],
        );
        openssl(
            p,
            &["dgst", "-sign", "k.pem", "-sha256", "-out", "sig", "msg"],
        );
        let (n, e) = key(&std::fs::read(p.join("pub.der")).unwrap());
        let sig = std::fs::read(p.join("sig")).unwrap();
        let pad = Padding::Pkcs1(Hash::Sha256);
        assert_eq!(
            rsa::verify(&n, &e, pad, b"exponent", &sig),
            Ok(()),
            "e={exp}"
        );
        let mut bad = sig.clone();
        bad[100] ^= 0x80;
        assert_eq!(
            rsa::verify(&n, &e, pad, b"exponent", &bad),
            Err(RsaError::Mismatch),
            "e={exp}"
        );
        for weak in [&[1u8][..], &[2], &[1, 0, 0]] {
            assert_eq!(
                rsa::verify(&n, weak, pad, b"exponent", &sig),
                Err(RsaError::UnsupportedKey),
                "e={weak:?}"
            );
        }
    }
}
