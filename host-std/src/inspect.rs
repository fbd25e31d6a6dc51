//! `raconn inspect`: CSRs, certificates and PKCS#7 bundles decoded for a
//! person (in the spirit of `openssl req -text` / `x509 -text`, with SAN
//! other-names by name: `UPN: …`, `DS Object GUID: 0410…`) or as JSON.

use raconn_core::cert::{CertificateRef, Pkcs7Ref};
use raconn_core::csr::CsrRef;
use raconn_core::ext::{self, ExtensionRef, GeneralNameRef};
use raconn_core::name::{short_label, NameRef};
use raconn_core::oid::{self, Oid};
use raconn_core::pem::PemKind;
use raconn_core::thumbprint::{Thumbprint, Thumbprint256};
use serde_json::{json, Value};

use crate::errors::{core, HostError};
use crate::files::Block;
use crate::keys;

fn oid_name(o: &Oid) -> String {
    match oid::label(o) {
        Some(l) => format!("{l} ({o})"),
        None => o.to_string(),
    }
}

fn string_type(tag: u8) -> &'static str {
    match tag {
        0x0c => "UTF8String",
        0x13 => "PrintableString",
        0x16 => "IA5String",
        0x14 => "T61String",
        0x1e => "BMPString",
        0x1c => "UniversalString",
        _ => "other",
    }
}

fn name_json(n: &NameRef<'_>) -> Value {
    let mut rdns = Vec::new();
    let _ = n.for_each(|a| {
        rdns.push(json!({
            "type": short_label(&a.oid).map(str::to_string).unwrap_or_else(|| a.oid.to_string()),
            "oid": a.oid.to_string(),
            "value": a.text().map(str::to_string).unwrap_or_else(|| hex(a.value.raw)),
            "string_type": string_type(a.value.tag),
            "multi_valued_with_previous": a.multi,
        }));
        Ok(())
    });
    json!({ "text": n.to_string(), "attributes": rdns })
}

/// Uppercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

fn ku_names(mask: u16) -> Vec<&'static str> {
    ext::ku::NAMES
        .iter()
        .filter(|(m, _, _)| mask & m != 0)
        .map(|(_, n, _)| *n)
        .collect()
}

fn gn_text(g: &GeneralNameRef<'_>) -> String {
    let mut s = String::new();
    let _ = ext::write_general_name(&mut s, g);
    s
}

fn gn_json(g: &GeneralNameRef<'_>) -> Value {
    match g {
        GeneralNameRef::Email(s) => json!({"type": "email", "value": s}),
        GeneralNameRef::Dns(s) => json!({"type": "dns", "value": s}),
        GeneralNameRef::Uri(s) => json!({"type": "uri", "value": s}),
        GeneralNameRef::Ip(_) => {
            json!({"type": "ip", "value": gn_text(g).trim_start_matches("IP Address:")})
        }
        GeneralNameRef::Upn(s) => json!({"type": "upn", "oid": oid::UPN.to_string(), "value": s}),
        GeneralNameRef::OtherName { oid: o, value } => json!({
            "type": "other-name", "oid": o.to_string(), "name": oid::label(o), "value_der_hex": hex(value.raw)
        }),
        GeneralNameRef::Dir(n) => json!({"type": "directory-name", "value": n.to_string()}),
        GeneralNameRef::Registered(o) => json!({"type": "registered-id", "value": o.to_string()}),
        GeneralNameRef::Other(t) => {
            json!({"type": "other", "tag": t.tag, "value_hex": hex(t.value)})
        }
    }
}

/// One extension as (text lines, JSON).
fn extension(e: &ExtensionRef<'_>) -> (String, Value) {
    let crit = if e.critical { " (critical)" } else { "" };
    let base = e.value_offset;
    let (title, body, jv): (String, String, Value) = if e.oid == oid::KEY_USAGE {
        match ext::decode_key_usage(e.value, base) {
            Ok(m) => (
                "Key Usage".into(),
                ku_names(m).join(", "),
                json!({"mask": format!("0x{m:02x}"), "usages": ku_names(m)}),
            ),
            Err(err) => (
                "Key Usage".into(),
                format!("<malformed: {err}>"),
                json!({"error": err.to_string()}),
            ),
        }
    } else if e.oid == oid::EXT_KEY_USAGE {
        let mut v = Vec::new();
        let r = ext::for_each_eku(e.value, base, |o| v.push(o));
        let text = v.iter().map(oid_name).collect::<Vec<_>>().join(", ");
        let js: Vec<Value> = v
            .iter()
            .map(|o| json!({"oid": o.to_string(), "name": oid::label(o)}))
            .collect();
        match r {
            Ok(()) => ("Extended Key Usage".into(), text, json!(js)),
            Err(err) => (
                "Extended Key Usage".into(),
                format!("<malformed: {err}>"),
                json!({"error": err.to_string()}),
            ),
        }
    } else if e.oid == oid::SUBJECT_ALT_NAME {
        let mut t = Vec::new();
        let mut js = Vec::new();
        let r = ext::for_each_san(e.value, base, |g| {
            t.push(gn_text(&g));
            js.push(gn_json(&g));
            Ok(())
        });
        match r {
            Ok(()) => ("Subject Alternative Name".into(), t.join(", "), json!(js)),
            Err(err) => (
                "Subject Alternative Name".into(),
                format!("<malformed: {err}>"),
                json!({"error": err.to_string()}),
            ),
        }
    } else if e.oid == oid::BASIC_CONSTRAINTS {
        match ext::decode_basic_constraints(e.value, base) {
            Ok((ca, pl)) => (
                "Basic Constraints".into(),
                format!(
                    "CA:{}{}",
                    if ca { "TRUE" } else { "FALSE" },
                    pl.map(|p| format!(", pathlen:{p}")).unwrap_or_default()
                ),
                json!({"ca": ca, "path_len": pl}),
            ),
            Err(err) => (
                "Basic Constraints".into(),
                format!("<malformed: {err}>"),
                json!({"error": err.to_string()}),
            ),
        }
    } else {
        (
            oid_name(&e.oid),
            format!("{} bytes: {}", e.value.len(), hex(e.value)),
            json!({"der_hex": hex(e.value)}),
        )
    };
    (
        format!("    {title}{crit}:\n        {body}\n"),
        json!({"oid": e.oid.to_string(), "name": oid::label(&e.oid), "critical": e.critical, "value": jv}),
    )
}

/// All extensions visited by `walk`, as (text, JSON list).
fn extensions<'a, W>(walk: W) -> Result<(String, Vec<Value>), HostError>
where
    W: FnOnce(
        &mut dyn FnMut(ExtensionRef<'a>) -> Result<(), raconn_core::asn1::DerError>,
    ) -> Result<(), raconn_core::asn1::DerError>,
{
    let mut text = String::new();
    let mut js = Vec::new();
    walk(&mut |e| {
        let (a, b) = extension(&e);
        text += &a;
        js.push(b);
        Ok(())
    })
    .map_err(core)?;
    Ok((text, js))
}

fn signature_check(spki: &[u8], alg: &Oid, tbs: &[u8], sig: &[u8]) -> (String, Value) {
    match keys::verify(spki, alg, tbs, sig) {
        Ok(true) => ("valid".into(), json!("valid")),
        Ok(false) => ("INVALID".into(), json!("invalid")),
        Err(why) => (
            format!("not checked ({why})"),
            json!(format!("not checked: {why}")),
        ),
    }
}

/// A CSR, for a person and as JSON.
pub fn csr(der: &[u8]) -> Result<(String, Value), HostError> {
    let c = CsrRef::parse(der).map_err(core)?;
    let mut t = String::from("Certificate Request:\n");
    t += &format!("  Version: {} (0x{:x})\n", c.version + 1, c.version);
    t += &format!("  Subject: {}\n", c.subject);
    t += &format!("  Public Key: {}\n", c.spki.kind());
    t += &format!(
        "  Signature Algorithm: {}\n",
        oid_name(&c.signature_algorithm)
    );
    let (sv, sj) = signature_check(c.spki.der.raw, &c.signature_algorithm, c.tbs, c.signature);
    t += &format!("  Signature: {sv}\n");
    let (et, exts) = extensions(|f| c.for_each_extension(f))?;
    if !exts.is_empty() {
        t += "  Requested Extensions:\n";
        t += &et;
    }
    let j = json!({
        "type": "csr",
        "version": c.version,
        "subject": name_json(&c.subject),
        "public_key": c.spki.kind().to_string(),
        "signature_algorithm": c.signature_algorithm.to_string(),
        "signature": sj,
        "extensions": exts,
    });
    Ok((t, j))
}

/// A certificate, for a person and as JSON.
pub fn certificate(der: &[u8], issuer_spki: Option<&[u8]>) -> Result<(String, Value), HostError> {
    let c = CertificateRef::parse(der).map_err(core)?;
    let mut serial = String::new();
    let _ = raconn_core::cert::write_serial(&mut serial, c.serial);
    let mut t = String::from("Certificate:\n");
    t += &format!("  Version: {}\n", c.version + 1);
    t += &format!("  Serial Number: {serial}\n");
    t += &format!(
        "  Signature Algorithm: {}\n",
        oid_name(&c.signature_algorithm)
    );
    t += &format!("  Issuer: {}\n", c.issuer);
    t += &format!(
        "  Not Before: {}\n  Not After:  {}\n",
        c.not_before, c.not_after
    );
    t += &format!("  Subject: {}\n", c.subject);
    t += &format!("  Public Key: {}\n", c.spki.kind());
    let signer = issuer_spki.or(if c.is_self_issued() {
        Some(c.spki.der.raw)
    } else {
        None
    });
    let sig = signer.map(|s| signature_check(s, &c.signature_algorithm, c.tbs, c.signature));
    if let Some((sv, _)) = &sig {
        t += &format!(
            "  Signature: {sv}{}\n",
            if issuer_spki.is_none() {
                " (self-signed)"
            } else {
                ""
            }
        );
    }
    let (et, exts) = extensions(|f| c.for_each_extension(f))?;
    if !exts.is_empty() {
        t += "  Extensions:\n";
        t += &et;
    }
    let sha1 = Thumbprint::of(der).to_string();
    let sha256 = Thumbprint256::of(der).to_string();
    t += &format!("  SHA-1 Thumbprint: {sha1}\n  SHA-256 Thumbprint: {sha256}\n");
    let j = json!({
        "type": "certificate",
        "version": c.version + 1,
        "serial": serial,
        "signature_algorithm": c.signature_algorithm.to_string(),
        "issuer": name_json(&c.issuer),
        "subject": name_json(&c.subject),
        "not_before": c.not_before.to_string(),
        "not_after": c.not_after.to_string(),
        "public_key": c.spki.kind().to_string(),
        "signature": sig.map(|s| s.1),
        "extensions": exts,
        "sha1_thumbprint": sha1,
        "sha256_thumbprint": sha256,
    });
    Ok((t, j))
}

/// Each certificate of a PKCS#7, with the signature checked against the next
/// certificate in the bundle that names its issuer.
pub fn pkcs7(der: &[u8]) -> Result<(String, Value), HostError> {
    let p = Pkcs7Ref::parse(der).map_err(core)?;
    let certs: Vec<CertificateRef<'_>> =
        p.certificates().collect::<Result<_, _>>().map_err(core)?;
    let mut t = format!("PKCS#7 SignedData with {} certificate(s)\n", certs.len());
    let mut js = Vec::new();
    for (i, c) in certs.iter().enumerate() {
        let issuer = certs
            .iter()
            .find(|o| o.subject.der.raw == c.issuer.der.raw && !std::ptr::eq(*o, c));
        let (ct, cj) = certificate(c.der, issuer.map(|o| o.spki.der.raw))?;
        t += &format!("[{i}] {ct}");
        js.push(cj);
    }
    Ok((t, json!({"type": "pkcs7", "certificates": js})))
}

/// Any block.
pub fn block(b: &Block) -> Result<(String, Value), HostError> {
    match b.kind {
        PemKind::Csr => csr(&b.der),
        PemKind::Certificate => certificate(&b.der, None),
        PemKind::Pkcs7 => pkcs7(&b.der),
        PemKind::Other => Err(HostError::Unrecognised {
            path: b.label.clone().into(),
            what: "not a certificate, certificate request or PKCS#7".into(),
        }),
    }
}
