//! The health-check service: `getStatusRequestMessage` /
//! `getStatusResponseMessage` (Symantec `healthcheck` schema; `protocol.md`
//! §7.3). A cheap "test connection" that exercises mutual TLS and the
//! profile OID without enrolling.

use crate::xml::{self, ends_with, Event, Text, XmlError};

/// Health-check namespace.
pub const NS_HEALTH: &str = "http://schemas.pki.symantec.com/pkiservices/healthcheck";
/// SOAPAction of `getStatus`.
pub const ACTION_HEALTH: &str = "http://schemas.pki.symantec.com/pkiservices/healthcheck/getStatus";

/// Writes a `getStatusRequestMessage` (operationType ENROLL).
pub fn write_request<'b>(
    client_transaction_id: Option<&str>,
    profile_oid: Option<&str>,
    buf: &'b mut [u8],
) -> Result<&'b str, XmlError> {
    let mut w = crate::pkiws::open_request(
        buf,
        client_transaction_id,
        "hc",
        "getStatusRequestMessage",
        NS_HEALTH,
    )?;
    w.leaf("hc:version", "1.0");
    if let Some(id) = client_transaction_id {
        w.leaf("hc:clientTransactionID", id);
    }
    w.leaf("hc:operationType", "ENROLL");
    if let Some(o) = profile_oid {
        w.leaf("hc:profileOid", o);
    }
    crate::pkiws::close_request(w, "hc", "getStatusRequestMessage")
}

/// A `getStatusResponseMessage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status<'a> {
    /// `statusCode` is `UP`.
    pub up: bool,
    /// `statusMessage`.
    pub message: Option<Text<'a>>,
    /// `serverTransactionID`.
    pub server_transaction_id: Option<Text<'a>>,
}

/// Reads a `getStatusResponseMessage`.
pub fn parse_response(doc: &str) -> Result<Status<'_>, XmlError> {
    crate::pkiws::expect_body(doc, "getStatusResponseMessage")?;
    let mut s = Status {
        up: false,
        message: None,
        server_transaction_id: None,
    };
    let mut code = false;
    xml::walk(doc, |p, e| {
        if let Event::Text(t) = e {
            if ends_with(p, &["getStatusResponseMessage", "statusCode"]) {
                code = true;
                s.up = t.eq_str("UP");
            } else if ends_with(p, &["getStatusResponseMessage", "statusMessage"]) {
                s.message = Some(t);
            } else if ends_with(p, &["getStatusResponseMessage", "serverTransactionID"]) {
                s.server_transaction_id = Some(t);
            }
        }
        Ok(())
    })?;
    if !code {
        return Err(XmlError::Missing { what: "statusCode" });
    }
    Ok(s)
}
