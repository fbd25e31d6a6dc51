//! `raconn inspect` for saved PKI Web Services messages: requests, policy
//! responses (attributes with their names), enrollment responses (an issued
//! token shown as its certificates; pending with its reference) and SOAP
//! 1.1/1.2 faults. All reading is done by raconn-core's readers.

use raconn_core::error::Explain;
use raconn_core::pkiws::{self, enroll, fault, health, policy, revoke};
use raconn_core::xml::Text;
use serde_json::{json, Value};

use crate::errors::{core, HostError};
use crate::inspect;

fn t(x: &Option<Text<'_>>) -> Option<String> {
    x.map(|t| {
        let mut s = String::new();
        let _ = t.unescape_into(&mut s);
        s.trim().to_string()
    })
}

fn tx(x: Text<'_>) -> String {
    t(&Some(x)).unwrap_or_default()
}

fn decode_b64(x: &Text<'_>, what: &'static str) -> Result<Vec<u8>, HostError> {
    let mut buf = vec![0u8; x.raw.len() + 4];
    Ok(x.base64(what, &mut buf).map_err(core)?.to_vec())
}

/// Decodes a SOAP message for a person and as JSON.
pub fn message(doc: &str) -> Result<(String, Value), HostError> {
    let info = pkiws::body_info(doc).map_err(core)?;
    let soap = match info.soap {
        pkiws::SoapVersion::V11 => "SOAP 1.1",
        pkiws::SoapVersion::V12 => "SOAP 1.2",
    };
    match info.first {
        "Fault" => {
            let f = fault::parse(doc)
                .map_err(core)?
                .ok_or(HostError::Unrecognised {
                    path: "-".into(),
                    what: "fault".into(),
                })?;
            let class = f.classify();
            let mut s = format!(
                "{soap} fault\n  faultcode: {}\n  faultstring: {}\n",
                t(&f.code).unwrap_or_default(),
                t(&f.string).unwrap_or_default()
            );
            let mut det = serde_json::Map::new();
            for (n, v) in &f.detail {
                s += &format!("  detail/{n}: {}\n", tx(*v));
                det.insert(n.to_string(), json!(tx(*v)));
            }
            s += &format!(
                "  raconn: {} — {}\n  what to do: {}\n",
                class.code(),
                class.message(),
                class.remedy()
            );
            Ok((
                s,
                json!({"type": "fault", "soap": soap, "faultcode": t(&f.code), "faultstring": t(&f.string), "detail": det, "code": class.code(), "remedy": class.remedy()}),
            ))
        }
        "getPolicies" => {
            let r = policy::parse_request(doc).map_err(core)?;
            let oids: Vec<String> = r.oids.iter().map(|o| tx(*o)).collect();
            let s = format!(
                "getPolicies request ({soap})\n  version: {}\n  clientTransactionID: {}\n  profile OIDs: {}\n",
                t(&r.version).unwrap_or_default(),
                t(&r.client_transaction_id).unwrap_or_default(),
                oids.join(", ")
            );
            Ok((
                s,
                json!({"type": "getPolicies", "version": t(&r.version), "client_transaction_id": t(&r.client_transaction_id), "oids": oids}),
            ))
        }
        "getPoliciesResponse" => {
            let mut s = format!("getPoliciesResponse ({soap})\n");
            let mut pols = Vec::new();
            for oid in policy::profile_oids(doc).map_err(core)? {
                let oid = tx(oid);
                let p = policy::parse_response(doc, &oid).map_err(core)?;
                s += &format!(
                    "  profile {oid} ({})\n    serverTransactionID: {}\n    key: {} bits, exportable {}\n    validity: {} days\n    delivery: {}\n    attributes:\n",
                    t(&p.profile_name).unwrap_or_default(),
                    t(&p.server_transaction_id).unwrap_or_default(),
                    p.key_size.map(|k| k.to_string()).unwrap_or("-".into()),
                    p.key_exportable.map(|k| k.to_string()).unwrap_or("-".into()),
                    p.validity_days.map(|k| k.to_string()).unwrap_or("-".into()),
                    t(&p.delivery_format).unwrap_or_default(),
                );
                let mut attrs = Vec::new();
                for a in &p.attributes {
                    let loc = match a.location {
                        policy::Location::Subject => "subject".to_string(),
                        policy::Location::Seat => "seat".to_string(),
                        policy::Location::Extension { oid, .. } => {
                            format!("extension {}", t(&oid).unwrap_or_default())
                        }
                    };
                    s += &format!(
                        "      {loc:<22} kind {:<32} name {:<28} {}{}\n",
                        t(&a.kind).unwrap_or("-".into()),
                        t(&a.name).unwrap_or("-".into()),
                        if a.mandatory { "mandatory" } else { "optional" },
                        t(&a.fixed_value)
                            .map(|v| format!(", fixed {v:?}"))
                            .unwrap_or_default()
                    );
                    attrs.push(json!({"location": loc, "kind": t(&a.kind), "name": t(&a.name), "mandatory": a.mandatory, "fixed_value": t(&a.fixed_value)}));
                }
                let mut cas = Vec::new();
                for ca in &p.cas {
                    for c in ca
                        .certificate
                        .iter()
                        .chain(ca.intermediates.iter())
                        .chain(ca.root.iter())
                    {
                        let der = decode_b64(c, "cA certificate")?;
                        let (ct, cj) = inspect::certificate(&der, None)?;
                        s += &format!("    CA certificate:\n{}", indent(&ct, 6));
                        cas.push(cj);
                    }
                }
                pols.push(json!({"profile_oid": oid, "profile_name": t(&p.profile_name), "server_transaction_id": t(&p.server_transaction_id),
                    "key_size": p.key_size, "key_exportable": p.key_exportable, "validity_days": p.validity_days,
                    "delivery_format": t(&p.delivery_format), "attributes": attrs, "ca_certificates": cas}));
            }
            Ok((s, json!({"type": "getPoliciesResponse", "policies": pols})))
        }
        "RequestSecurityToken" => {
            let r = enroll::parse_request(doc).map_err(core)?;
            let mut s = format!(
                "RequestSecurityToken ({soap})\n  profile: {}\n  clientTransactionID: {}\n  requestType: {}\n  tokenType: {}\n",
                t(&r.profile_oid).unwrap_or_default(),
                t(&r.client_transaction_id).unwrap_or_default(),
                t(&r.request_type).unwrap_or_default(),
                t(&r.token_type).unwrap_or_default()
            );
            if let Some(p) = t(&r.pending_reference) {
                s += &format!("  pendingTokenReferenceID: {p}\n");
            }
            let mut pairs = Vec::new();
            for (n, v) in &r.pairs {
                s += &format!("  nameValuePair {} = {}\n", tx(*n), tx(*v));
                pairs.push(json!({"name": tx(*n), "value": tx(*v)}));
            }
            let mut csr = Value::Null;
            if let Some(c) = &r.csr {
                let der = decode_b64(c, "binarySecurityToken")?;
                let (ct, cj) = inspect::csr(&der)?;
                s += &indent(&ct, 2);
                csr = cj;
            }
            Ok((
                s,
                json!({"type": "RequestSecurityToken", "profile_oid": t(&r.profile_oid), "client_transaction_id": t(&r.client_transaction_id),
                "request_type": t(&r.request_type), "pending_reference": t(&r.pending_reference), "pairs": pairs, "csr": csr}),
            ))
        }
        "RequestSecurityTokenResponse" | "RequestSecurityTokenResponseCollection" => {
            let r = enroll::parse_response(doc).map_err(core)?;
            let mut s = format!(
                "RequestSecurityTokenResponse ({soap})\n  clientTransactionID: {}\n  serverTransactionID: {}\n  disposition: {}\n",
                t(&r.client_transaction_id).unwrap_or_default(),
                t(&r.server_transaction_id).unwrap_or_default(),
                t(&r.disposition).unwrap_or_default()
            );
            let base = json!({"client_transaction_id": t(&r.client_transaction_id), "server_transaction_id": t(&r.server_transaction_id), "disposition": t(&r.disposition)});
            match r.outcome {
                enroll::Outcome::Pending { reference } => {
                    s += &format!("  PENDING: pendingTokenReferenceID {}\n", tx(reference));
                    Ok((
                        s,
                        json!({"type": "RequestSecurityTokenResponse", "status": "pending", "pending_reference": tx(reference), "ids": base}),
                    ))
                }
                enroll::Outcome::Issued { token, .. } => {
                    let der = decode_b64(&token, "binarySecurityToken")?;
                    let (ct, cj) = match raconn_core::cert::Pkcs7Ref::parse(&der) {
                        Ok(_) => inspect::pkcs7(&der)?,
                        Err(_) => inspect::certificate(&der, None)?,
                    };
                    s += "  ISSUED:\n";
                    s += &indent(&ct, 4);
                    Ok((
                        s,
                        json!({"type": "RequestSecurityTokenResponse", "status": "issued", "token": cj, "ids": base}),
                    ))
                }
            }
        }
        "getStatusResponseMessage" => {
            let r = health::parse_response(doc).map_err(core)?;
            Ok((
                format!(
                    "health check ({soap}): {} — {}\n",
                    if r.up { "UP" } else { "DOWN" },
                    t(&r.message).unwrap_or_default()
                ),
                json!({"type": "getStatusResponseMessage", "up": r.up, "message": t(&r.message)}),
            ))
        }
        "updateCertificateStatusResponse" => {
            let r = revoke::parse_response(doc).map_err(core)?;
            Ok((
                format!(
                    "updateCertificateStatusResponse ({soap}): successCode {} ({}), {} revoked\n",
                    r.success_code,
                    t(&r.message).unwrap_or_default(),
                    r.count.unwrap_or(0)
                ),
                json!({"type": "updateCertificateStatusResponse", "success_code": r.success_code, "message": t(&r.message), "count": r.count}),
            ))
        }
        other => Ok((
            format!("{soap} message with body element {other} (raconn does not decode it)\n"),
            json!({"type": other, "soap": soap}),
        )),
    }
}

fn indent(s: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    s.lines().map(|l| format!("{pad}{l}\n")).collect()
}
