//! Certificate management: `updateCertificateStatusRequest` (revoke,
//! suspend, resume) and its response (VeriSign `management` schema 2009/07;
//! `protocol.md` §7.1). Success is `successCode` ≥ 0.

use crate::xml::{self, ends_with, Event, Text, XmlError};

/// Management namespace.
pub const NS_MANAGEMENT: &str = "http://schemas.verisign.com/pkiservices/2009/07/management";
/// SOAPAction of `updateCertificateStatus`.
pub const ACTION_REVOKE: &str =
    "http://schemas.verisign.com/pkiservices/2009/07/management/updateCertificateStatus";
/// Path of the certificate-management service.
pub const PATH_MANAGEMENT: &str = "/pki-ws/certificateManagementService";

/// `revocationReason` values of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Unspecified
    Unspecified,
    /// KeyCompromise
    KeyCompromise,
    /// CACompromise
    CaCompromise,
    /// AffiliationChanged
    AffiliationChanged,
    /// CessationOfOperation
    CessationOfOperation,
    /// PrivilegeWithdrawn
    PrivilegeWithdrawn,
    /// AACompromise
    AaCompromise,
    /// Superseded
    Superseded,
}

impl Reason {
    /// The schema spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Unspecified => "Unspecified",
            Reason::KeyCompromise => "KeyCompromise",
            Reason::CaCompromise => "CACompromise",
            Reason::AffiliationChanged => "AffiliationChanged",
            Reason::CessationOfOperation => "CessationOfOperation",
            Reason::PrivilegeWithdrawn => "PrivilegeWithdrawn",
            Reason::AaCompromise => "AACompromise",
            Reason::Superseded => "Superseded",
        }
    }
}

/// Writes a revocation of the certificate with `serial` (big-endian bytes,
/// written as uppercase hex as the reference connector does).
pub fn write_request<'b>(
    client_transaction_id: Option<&str>,
    serial: &[u8],
    reason: Reason,
    buf: &'b mut [u8],
) -> Result<&'b str, XmlError> {
    let mut w = crate::pkiws::open_request(
        buf,
        client_transaction_id,
        "mg",
        "updateCertificateStatusRequest",
        NS_MANAGEMENT,
    )?;
    if let Some(id) = client_transaction_id {
        w.leaf("mg:clientTransactionID", id);
    }
    w.leaf("mg:version", "1.0");
    w.leaf("mg:revocationReason", reason.as_str());
    w.raw("<mg:certificateSerialNumber>");
    let mut s = serial;
    while let [0, rest @ ..] = s {
        if rest.is_empty() {
            break;
        }
        s = rest;
    }
    for b in s {
        let mut hex: heapless::String<2> = heapless::String::new();
        let _ = core::fmt::write(&mut hex, format_args!("{b:02X}"));
        w.raw(&hex);
    }
    w.raw("</mg:certificateSerialNumber>");
    w.leaf("mg:operationType", "Revoke");
    crate::pkiws::close_request(w, "mg", "updateCertificateStatusRequest")
}

/// An `updateCertificateStatusResponse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevokeResponse<'a> {
    /// `successCode` (negative means failure).
    pub success_code: i64,
    /// `successMsg`.
    pub message: Option<Text<'a>>,
    /// `revocationCount`.
    pub count: Option<u32>,
    /// `serverTransactionID`.
    pub server_transaction_id: Option<Text<'a>>,
}

/// Reads an `updateCertificateStatusResponse`.
pub fn parse_response(doc: &str) -> Result<RevokeResponse<'_>, XmlError> {
    crate::pkiws::expect_body(doc, "updateCertificateStatusResponse")?;
    let mut r = RevokeResponse {
        success_code: 0,
        message: None,
        count: None,
        server_transaction_id: None,
    };
    let mut code = false;
    xml::walk(doc, |p, e| {
        if let Event::Text(t) = e {
            if ends_with(p, &["updateCertificateStatusResponse", "successCode"]) {
                code = true;
                r.success_code = t
                    .raw
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| XmlError::BadValue {
                        what: "successCode",
                        offset: t.offset,
                    })?;
            } else if ends_with(p, &["updateCertificateStatusResponse", "successMsg"]) {
                r.message = Some(t);
            } else if ends_with(p, &["updateCertificateStatusResponse", "revocationCount"]) {
                r.count = Some(t.u32("revocationCount")?);
            } else if ends_with(
                p,
                &["updateCertificateStatusResponse", "serverTransactionID"],
            ) {
                r.server_transaction_id = Some(t);
            }
        }
        Ok(())
    })?;
    if !code {
        return Err(XmlError::Missing {
            what: "successCode",
        });
    }
    Ok(r)
}
