//! Saved PKI Web Services messages decoded into typed reports (for
//! `raconn inspect` and `raconn policy`): requests, policy responses
//! (attributes with their names), enrollment responses (an issued token
//! shown as its certificates; pending with its reference), searches, health
//! checks, revocations and SOAP 1.1/1.2 faults. All reading is done by
//! raconn-core's readers.

use std::fmt;

use raconn_core::error::Explain;
use raconn_core::pkiws::{self, enroll, fault, health, policy, revoke, search};
use raconn_core::xml::Text;
use serde::Serialize;

use crate::errors::{core, HostError};
use crate::inspect::{self, CertificateReport, CsrReport, ObjectReport};

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

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

fn indent(f: &mut fmt::Formatter<'_>, n: usize, what: &dyn fmt::Display) -> fmt::Result {
    let pad = " ".repeat(n);
    for l in what.to_string().lines() {
        writeln!(f, "{pad}{l}")?;
    }
    Ok(())
}

/// A decoded message.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
pub enum MessageReport {
    /// A SOAP fault.
    #[serde(rename = "fault")]
    Fault(FaultReport),
    /// A `getPolicies` request.
    #[serde(rename = "getPolicies")]
    PolicyRequest {
        /// SOAP version.
        soap: &'static str,
        /// `version`.
        version: Option<String>,
        /// `clientTransactionID`.
        client_transaction_id: Option<String>,
        /// The profile OIDs asked for.
        oids: Vec<String>,
    },
    /// A `getPoliciesResponse`.
    #[serde(rename = "getPoliciesResponse")]
    Policies(PoliciesReport),
    /// A `RequestSecurityToken`.
    #[serde(rename = "RequestSecurityToken")]
    EnrollRequest {
        /// SOAP version.
        soap: &'static str,
        /// The profile OID.
        profile_oid: Option<String>,
        /// `clientTransactionID`.
        client_transaction_id: Option<String>,
        /// `requestType`.
        request_type: Option<String>,
        /// `tokenType`.
        token_type: Option<String>,
        /// `pendingTokenReferenceID` (a poll).
        pending_reference: Option<String>,
        /// The nameValuePairs.
        pairs: Vec<Pair>,
        /// The CSR.
        csr: Option<CsrReport>,
    },
    /// A `RequestSecurityTokenResponse`.
    #[serde(rename = "RequestSecurityTokenResponse")]
    EnrollResponse {
        /// SOAP version.
        soap: &'static str,
        /// The transaction ids and disposition.
        ids: EnrollIds,
        /// `issued` or `pending`.
        status: &'static str,
        /// `pendingTokenReferenceID`, when pending.
        pending_reference: Option<String>,
        /// The token, when issued.
        token: Option<ObjectReport>,
    },
    /// A `searchCertificateResponse`.
    #[serde(rename = "searchCertificateResponse")]
    Search {
        /// SOAP version.
        soap: &'static str,
        /// `serverTransactionID`.
        server_transaction_id: Option<String>,
        /// `certificateCount`.
        count: u32,
        /// `moreCertificateAvailable`.
        more: bool,
        /// The certificates (serial, status, seat; decoded).
        certificates: Vec<SearchEntry>,
    },
    /// A health check answer.
    #[serde(rename = "getStatusResponseMessage")]
    Health {
        /// SOAP version.
        soap: &'static str,
        /// UP.
        up: bool,
        /// `statusMessage`.
        message: Option<String>,
    },
    /// A revocation answer.
    #[serde(rename = "updateCertificateStatusResponse")]
    Revoke {
        /// SOAP version.
        soap: &'static str,
        /// `successCode`.
        success_code: i64,
        /// `successMsg`.
        message: Option<String>,
        /// `revocationCount`.
        count: Option<u32>,
    },
    /// A message raconn does not decode.
    #[serde(rename = "other")]
    Other {
        /// SOAP version.
        soap: &'static str,
        /// The body element.
        element: String,
    },
}

/// A nameValuePair.
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    /// `name`.
    pub name: String,
    /// `value`.
    pub value: String,
}

/// The ids of an enrollment response.
#[derive(Debug, Clone, Serialize)]
pub struct EnrollIds {
    /// `clientTransactionID`.
    pub client_transaction_id: Option<String>,
    /// `serverTransactionID`.
    pub server_transaction_id: Option<String>,
    /// `dispositionMessage`.
    pub disposition: Option<String>,
}

/// One certificate of a search answer.
#[derive(Debug, Clone, Serialize)]
pub struct SearchEntry {
    /// `serialNumber`.
    pub serial: Option<String>,
    /// `status`.
    pub status: Option<String>,
    /// `seatId`.
    pub seat_id: Option<String>,
    /// The certificate, decoded.
    pub certificate: Option<CertificateReport>,
}

/// A SOAP fault and what raconn makes of it.
#[derive(Debug, Clone, Serialize)]
pub struct FaultReport {
    /// SOAP version.
    pub soap: &'static str,
    /// `faultcode`.
    pub faultcode: Option<String>,
    /// `faultstring`.
    pub faultstring: Option<String>,
    /// The leaves under `detail`.
    pub detail: Vec<Pair>,
    /// The raconn code it maps to.
    pub code: &'static str,
    /// What to do.
    pub remedy: &'static str,
    #[serde(skip)]
    message: &'static str,
}

impl fmt::Display for FaultReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} fault\n  faultcode: {}\n  faultstring: {}",
            self.soap,
            opt(&self.faultcode),
            opt(&self.faultstring)
        )?;
        for p in &self.detail {
            writeln!(f, "  detail/{}: {}", p.name, p.value)?;
        }
        writeln!(
            f,
            "  raconn: {} — {}\n  what to do: {}",
            self.code, self.message, self.remedy
        )
    }
}

/// The policies of a `getPoliciesResponse`.
#[derive(Debug, Clone, Serialize)]
pub struct PoliciesReport {
    /// SOAP version.
    pub soap: &'static str,
    /// One per profile OID.
    pub policies: Vec<PolicyReport>,
}

/// One profile's policy.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyReport {
    /// The profile OID.
    pub profile_oid: String,
    /// Its name.
    pub profile_name: Option<String>,
    /// `serverTransactionID`.
    pub server_transaction_id: Option<String>,
    /// `keysize`.
    pub key_size: Option<u32>,
    /// `keyexportable`.
    pub key_exportable: Option<bool>,
    /// `validityPeriodDays`.
    pub validity_days: Option<u32>,
    /// `certificateDeliveryFormat`.
    pub delivery_format: Option<String>,
    /// The attributes.
    pub attributes: Vec<AttributeReport>,
    /// The CA certificates.
    pub ca_certificates: Vec<CertificateReport>,
}

/// One attribute of a policy.
#[derive(Debug, Clone, Serialize)]
pub struct AttributeReport {
    /// `subject`, `seat` or `extension <oid>`.
    pub location: String,
    /// `attributeName` (the kind).
    pub kind: Option<String>,
    /// `attributeNameValue` (the nameValuePair name).
    pub name: Option<String>,
    /// `@mandatory`.
    pub mandatory: bool,
    /// A fixed value.
    pub fixed_value: Option<String>,
}

impl PoliciesReport {
    /// Reads every policy of a `getPoliciesResponse`.
    pub fn of(doc: &str, soap: &'static str) -> Result<Self, HostError> {
        let mut policies = Vec::new();
        for oid in policy::profile_oids(doc).map_err(core)? {
            let oid = tx(oid);
            let p = policy::parse_response(doc, &oid).map_err(core)?;
            let mut attributes = Vec::new();
            for a in &p.attributes {
                attributes.push(AttributeReport {
                    location: match a.location {
                        policy::Location::Subject => "subject".to_string(),
                        policy::Location::Seat => "seat".to_string(),
                        policy::Location::Extension { oid, .. } => {
                            format!("extension {}", t(&oid).unwrap_or_default())
                        }
                    },
                    kind: t(&a.kind),
                    name: t(&a.name),
                    mandatory: a.mandatory,
                    fixed_value: t(&a.fixed_value),
                });
            }
            let mut cas = Vec::new();
            for ca in &p.cas {
                for c in ca.certificates() {
                    let der = decode_b64(c, "cA certificate")?;
                    cas.push(CertificateReport::of(&der, None)?);
                }
            }
            policies.push(PolicyReport {
                profile_oid: oid,
                profile_name: t(&p.profile_name),
                server_transaction_id: t(&p.server_transaction_id),
                key_size: p.key_size,
                key_exportable: p.key_exportable,
                validity_days: p.validity_days,
                delivery_format: t(&p.delivery_format),
                attributes,
                ca_certificates: cas,
            });
        }
        Ok(PoliciesReport { soap, policies })
    }
}

impl fmt::Display for PoliciesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "getPoliciesResponse ({})", self.soap)?;
        for p in &self.policies {
            let n = |v: Option<String>| v.unwrap_or_else(|| "-".into());
            writeln!(
                f,
                "  profile {} ({})\n    serverTransactionID: {}\n    key: {} bits, exportable {}\n    validity: {} days\n    delivery: {}\n    attributes:",
                p.profile_oid,
                opt(&p.profile_name),
                opt(&p.server_transaction_id),
                n(p.key_size.map(|k| k.to_string())),
                n(p.key_exportable.map(|k| k.to_string())),
                n(p.validity_days.map(|k| k.to_string())),
                opt(&p.delivery_format),
            )?;
            for a in &p.attributes {
                writeln!(
                    f,
                    "      {:<22} kind {:<32} name {:<28} {}{}",
                    a.location,
                    a.kind.as_deref().unwrap_or("-"),
                    a.name.as_deref().unwrap_or("-"),
                    if a.mandatory { "mandatory" } else { "optional" },
                    a.fixed_value
                        .as_ref()
                        .map(|v| format!(", fixed {v:?}"))
                        .unwrap_or_default()
                )?;
            }
            for c in &p.ca_certificates {
                writeln!(f, "    CA certificate:")?;
                indent(f, 6, c)?;
            }
        }
        Ok(())
    }
}

impl MessageReport {
    /// Decodes a SOAP message.
    pub fn of(doc: &str) -> Result<Self, HostError> {
        let info = pkiws::body_info(doc).map_err(core)?;
        let soap = match info.soap {
            pkiws::SoapVersion::V11 => "SOAP 1.1",
            pkiws::SoapVersion::V12 => "SOAP 1.2",
        };
        Ok(match info.first {
            "Fault" => {
                let f = fault::parse(doc)
                    .map_err(core)?
                    .ok_or(HostError::Unrecognised {
                        path: "-".into(),
                        what: "fault".into(),
                    })?;
                let class = f.classify();
                Self::Fault(FaultReport {
                    soap,
                    faultcode: t(&f.code),
                    faultstring: t(&f.string),
                    detail: f
                        .detail
                        .iter()
                        .map(|(n, v)| Pair {
                            name: n.to_string(),
                            value: tx(*v),
                        })
                        .collect(),
                    code: class.code(),
                    remedy: class.remedy(),
                    message: class.message(),
                })
            }
            "getPolicies" => {
                let r = policy::parse_request(doc).map_err(core)?;
                Self::PolicyRequest {
                    soap,
                    version: t(&r.version),
                    client_transaction_id: t(&r.client_transaction_id),
                    oids: r.oids.iter().map(|o| tx(*o)).collect(),
                }
            }
            "getPoliciesResponse" => Self::Policies(PoliciesReport::of(doc, soap)?),
            "RequestSecurityToken" => {
                let r = enroll::parse_request(doc).map_err(core)?;
                let csr = match &r.csr {
                    Some(c) => Some(CsrReport::of(&decode_b64(c, "binarySecurityToken")?)?),
                    None => None,
                };
                Self::EnrollRequest {
                    soap,
                    profile_oid: t(&r.profile_oid),
                    client_transaction_id: t(&r.client_transaction_id),
                    request_type: t(&r.request_type),
                    token_type: t(&r.token_type),
                    pending_reference: t(&r.pending_reference),
                    pairs: r
                        .pairs
                        .iter()
                        .map(|(n, v)| Pair {
                            name: tx(*n),
                            value: tx(*v),
                        })
                        .collect(),
                    csr,
                }
            }
            "RequestSecurityTokenResponse" | "RequestSecurityTokenResponseCollection" => {
                let r = enroll::parse_response(doc).map_err(core)?;
                let ids = EnrollIds {
                    client_transaction_id: t(&r.client_transaction_id),
                    server_transaction_id: t(&r.server_transaction_id),
                    disposition: t(&r.disposition),
                };
                match r.outcome {
                    enroll::Outcome::Pending { reference } => Self::EnrollResponse {
                        soap,
                        ids,
                        status: "pending",
                        pending_reference: Some(tx(reference)),
                        token: None,
                    },
                    enroll::Outcome::Issued { token, .. } => Self::EnrollResponse {
                        soap,
                        ids,
                        status: "issued",
                        pending_reference: None,
                        token: Some(inspect::token(&decode_b64(&token, "binarySecurityToken")?)?),
                    },
                }
            }
            "searchCertificateResponse" => {
                let mut certificates = Vec::new();
                let mut err = None;
                let s = search::parse_response(doc, |c| {
                    let cert = c.certificate.map(|x| {
                        decode_b64(&x, "certificate").and_then(|d| CertificateReport::of(&d, None))
                    });
                    let cert = match cert {
                        Some(Ok(r)) => Some(r),
                        Some(Err(e)) => {
                            err.get_or_insert(e);
                            None
                        }
                        None => None,
                    };
                    certificates.push(SearchEntry {
                        serial: t(&c.serial),
                        status: t(&c.status),
                        seat_id: t(&c.seat_id),
                        certificate: cert,
                    });
                    Ok(())
                })
                .map_err(core)?;
                if let Some(e) = err {
                    return Err(e);
                }
                Self::Search {
                    soap,
                    server_transaction_id: t(&s.server_transaction_id),
                    count: s.count,
                    more: s.more,
                    certificates,
                }
            }
            "getStatusResponseMessage" => {
                let r = health::parse_response(doc).map_err(core)?;
                Self::Health {
                    soap,
                    up: r.up,
                    message: t(&r.message),
                }
            }
            "updateCertificateStatusResponse" => {
                let r = revoke::parse_response(doc).map_err(core)?;
                Self::Revoke {
                    soap,
                    success_code: r.success_code,
                    message: t(&r.message),
                    count: r.count,
                }
            }
            other => Self::Other {
                soap,
                element: other.to_string(),
            },
        })
    }
}

impl fmt::Display for MessageReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fault(r) => r.fmt(f),
            Self::PolicyRequest {
                soap,
                version,
                client_transaction_id,
                oids,
            } => writeln!(
                f,
                "getPolicies request ({soap})\n  version: {}\n  clientTransactionID: {}\n  profile OIDs: {}",
                opt(version),
                opt(client_transaction_id),
                oids.join(", ")
            ),
            Self::Policies(r) => r.fmt(f),
            Self::EnrollRequest {
                soap,
                profile_oid,
                client_transaction_id,
                request_type,
                token_type,
                pending_reference,
                pairs,
                csr,
            } => {
                writeln!(
                    f,
                    "RequestSecurityToken ({soap})\n  profile: {}\n  clientTransactionID: {}\n  requestType: {}\n  tokenType: {}",
                    opt(profile_oid),
                    opt(client_transaction_id),
                    opt(request_type),
                    opt(token_type)
                )?;
                if let Some(p) = pending_reference {
                    writeln!(f, "  pendingTokenReferenceID: {p}")?;
                }
                for p in pairs {
                    writeln!(f, "  nameValuePair {} = {}", p.name, p.value)?;
                }
                if let Some(c) = csr {
                    indent(f, 2, c)?;
                }
                Ok(())
            }
            Self::EnrollResponse {
                soap,
                ids,
                pending_reference,
                token,
                ..
            } => {
                writeln!(
                    f,
                    "RequestSecurityTokenResponse ({soap})\n  clientTransactionID: {}\n  serverTransactionID: {}\n  disposition: {}",
                    opt(&ids.client_transaction_id),
                    opt(&ids.server_transaction_id),
                    opt(&ids.disposition)
                )?;
                if let Some(p) = pending_reference {
                    writeln!(f, "  PENDING: pendingTokenReferenceID {p}")?;
                }
                if let Some(tk) = token {
                    writeln!(f, "  ISSUED:")?;
                    indent(f, 4, tk)?;
                }
                Ok(())
            }
            Self::Search {
                soap,
                server_transaction_id,
                count,
                more,
                certificates,
            } => {
                writeln!(
                    f,
                    "searchCertificateResponse ({soap})\n  serverTransactionID: {}\n  certificates: {count}{}",
                    opt(server_transaction_id),
                    if *more { " (more available)" } else { "" }
                )?;
                for c in certificates {
                    writeln!(
                        f,
                        "  serial {} status {} seat {}",
                        opt(&c.serial),
                        opt(&c.status),
                        opt(&c.seat_id)
                    )?;
                    if let Some(cert) = &c.certificate {
                        indent(f, 4, cert)?;
                    }
                }
                Ok(())
            }
            Self::Health { soap, up, message } => writeln!(
                f,
                "health check ({soap}): {} — {}",
                if *up { "UP" } else { "DOWN" },
                opt(message)
            ),
            Self::Revoke {
                soap,
                success_code,
                message,
                count,
            } => writeln!(
                f,
                "updateCertificateStatusResponse ({soap}): successCode {success_code} ({}), {} revoked",
                opt(message),
                count.unwrap_or(0)
            ),
            Self::Other { soap, element } => writeln!(
                f,
                "{soap} message with body element {element} (raconn does not decode it)"
            ),
        }
    }
}
