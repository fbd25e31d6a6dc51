//! The enrollment service: `wst:RequestSecurityToken` carrying
//! `requestVSSecurityToken`, and the `RequestSecurityTokenResponse` reader
//! (VeriSign `enrollment` schema 2009/07, WS-Trust 1.3 as VeriSign copied
//! it; `protocol.md` §5).
//!
//! Element order is the schema sequence: certificateProfileID,
//! clientTransactionID?, tokenType?, requestType, binarySecurityToken*,
//! additionalContext?, pendingTokenReferenceID?, nameValuePair*, version.
//! The CSR goes as bare base64 of the DER (no PEM armour, no line breaks).

use crate::pkiws::{PkiwsError, ENVELOPE_END, ENVELOPE_START, NS_ENROLL, NS_WST};
use crate::xml::{self, check_transaction_id, ends_with, Event, Text, XmlError, XmlWriter};

/// tokenType for a PKCS#7 certs-only reply.
pub const TOKEN_PKCS7: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#PKCS7";
/// tokenType for a bare X.509 certificate.
pub const TOKEN_X509: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3";
/// requestType Issue.
pub const REQUEST_ISSUE: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue";
/// requestType to poll a pending request.
pub const REQUEST_QUERY: &str = "http://schemas.verisign.com/pkiservices/2009/07/QueryTokenStatus";
/// binarySecurityToken ValueType of a PKCS#10 request.
pub const VALUE_PKCS10: &str = "http://schemas.verisign.com/pkiservices/2009/07/PKCS10";
/// binarySecurityToken EncodingType (base64).
pub const ENCODING_BASE64: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#base64binary";

/// What to enroll.
#[derive(Debug, Clone, Copy)]
pub struct EnrollRequest<'a> {
    /// The certificate profile OID.
    pub profile_oid: &'a str,
    /// Our id, at most 40 characters; reused on retry.
    pub client_transaction_id: Option<&'a str>,
    /// The PKCS#10 DER (absent when polling).
    pub csr_der: Option<&'a [u8]>,
    /// `pendingTokenReferenceID` when polling a pending request.
    pub pending_reference: Option<&'a str>,
    /// The enrollment attributes (name, value).
    pub name_value_pairs: &'a [(&'a str, &'a str)],
}

/// Writes the `RequestSecurityToken` request into `buf`.
pub fn write_request<'b>(r: &EnrollRequest<'_>, buf: &'b mut [u8]) -> Result<&'b str, XmlError> {
    if let Some(id) = r.client_transaction_id {
        check_transaction_id(id)?;
    }
    let mut w = XmlWriter::new(buf);
    w.raw(ENVELOPE_START);
    w.raw("<wst:RequestSecurityToken xmlns:wst=\"");
    w.raw(NS_WST);
    w.raw("\"><vs:requestVSSecurityToken xmlns:vs=\"");
    w.raw(NS_ENROLL);
    w.raw("\" preferredLanguage=\"en-US\">");
    w.leaf("vs:certificateProfileID", r.profile_oid);
    if let Some(id) = r.client_transaction_id {
        w.leaf("vs:clientTransactionID", id);
    }
    w.leaf("vs:tokenType", TOKEN_PKCS7);
    w.leaf(
        "vs:requestType",
        if r.pending_reference.is_some() {
            REQUEST_QUERY
        } else {
            REQUEST_ISSUE
        },
    );
    if let Some(csr) = r.csr_der {
        w.raw("<vs:binarySecurityToken ValueType=\"");
        w.raw(VALUE_PKCS10);
        w.raw("\" EncodingType=\"");
        w.raw(ENCODING_BASE64);
        w.raw("\">");
        w.base64(csr);
        w.raw("</vs:binarySecurityToken>");
    }
    if let Some(p) = r.pending_reference {
        w.leaf("vs:pendingTokenReferenceID", p);
    }
    for (n, v) in r.name_value_pairs {
        w.raw("<vs:nameValuePair>");
        w.leaf("vs:name", n);
        w.leaf("vs:value", v);
        w.raw("</vs:nameValuePair>");
    }
    w.leaf("vs:version", "2.0");
    w.raw("</vs:requestVSSecurityToken></wst:RequestSecurityToken>");
    w.raw(ENVELOPE_END);
    w.finish()
}

/// What the CA did with the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// Issued: the token (base64 of a PKCS#7 certs-only or an X.509 DER).
    Issued {
        /// `requestedVSSecurityToken/binarySecurityToken` text
        token: Text<'a>,
        /// its `@ValueType`
        value_type: Option<Text<'a>>,
    },
    /// Pending: poll later with this reference.
    Pending {
        /// `pendingTokenReferenceID`
        reference: Text<'a>,
    },
}

/// A `RequestSecurityTokenResponse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnrollResponse<'a> {
    /// Echo of our id.
    pub client_transaction_id: Option<Text<'a>>,
    /// The server's id.
    pub server_transaction_id: Option<Text<'a>>,
    /// `tokenType`.
    pub token_type: Option<Text<'a>>,
    /// `dispositionMessage`.
    pub disposition: Option<Text<'a>>,
    /// Issued or pending.
    pub outcome: Outcome<'a>,
}

/// Reads a `RequestSecurityTokenResponse` (a fault is read by
/// [`crate::pkiws::fault::parse`]).
pub fn parse_response(doc: &str) -> Result<EnrollResponse<'_>, PkiwsError> {
    let info = crate::pkiws::body_info(doc)?;
    if info.first != "RequestSecurityTokenResponse"
        && info.first != "RequestSecurityTokenResponseCollection"
    {
        return Err(XmlError::Missing {
            what: "RequestSecurityTokenResponse",
        }
        .into());
    }
    let mut r = EnrollResponse {
        client_transaction_id: None,
        server_transaction_id: None,
        token_type: None,
        disposition: None,
        outcome: Outcome::Pending {
            reference: Text { raw: "", offset: 0 },
        },
    };
    let mut token = None;
    let mut value_type = None;
    let mut pending = None;
    let mut seen_inner = false;
    xml::walk(doc, |p, e| {
        if !p.contains(&"RequestVSSecurityTokenResponse") {
            return Ok(());
        }
        seen_inner = true;
        if let Event::Attr {
            local: "ValueType",
            value,
            ..
        } = e
        {
            if ends_with(p, &["requestedVSSecurityToken", "binarySecurityToken"]) {
                value_type = Some(value);
            }
        }
        if let Event::Text(t) = e {
            if t.raw.trim().is_empty() {
                return Ok(());
            }
            if ends_with(
                p,
                &["RequestVSSecurityTokenResponse", "clientTransactionID"],
            ) {
                r.client_transaction_id = Some(t);
            } else if ends_with(
                p,
                &["RequestVSSecurityTokenResponse", "serverTransactionID"],
            ) {
                r.server_transaction_id = Some(t);
            } else if ends_with(p, &["RequestVSSecurityTokenResponse", "tokenType"]) {
                r.token_type = Some(t);
            } else if ends_with(p, &["RequestVSSecurityTokenResponse", "dispositionMessage"]) {
                r.disposition = Some(t);
            } else if ends_with(p, &["requestedVSSecurityToken", "binarySecurityToken"]) {
                token = Some(t);
            } else if ends_with(p, &["requestedVSSecurityToken", "pendingTokenReferenceID"]) {
                pending = Some(t);
            }
        }
        Ok(())
    })?;
    if !seen_inner {
        return Err(XmlError::Missing {
            what: "RequestVSSecurityTokenResponse",
        }
        .into());
    }
    r.outcome = match (token, pending) {
        (Some(token), _) => Outcome::Issued { token, value_type },
        (None, Some(reference)) => Outcome::Pending { reference },
        (None, None) => return Err(PkiwsError::EmptyToken),
    };
    Ok(r)
}

/// A `RequestSecurityToken` request, read back (for `raconn inspect` and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollRequestRef<'a> {
    /// `certificateProfileID`.
    pub profile_oid: Option<Text<'a>>,
    /// `clientTransactionID`.
    pub client_transaction_id: Option<Text<'a>>,
    /// `tokenType`.
    pub token_type: Option<Text<'a>>,
    /// `requestType`.
    pub request_type: Option<Text<'a>>,
    /// The CSR (base64 text of `binarySecurityToken`).
    pub csr: Option<Text<'a>>,
    /// `pendingTokenReferenceID`.
    pub pending_reference: Option<Text<'a>>,
    /// `nameValuePair`s (name, value), first 16.
    pub pairs: heapless::Vec<(Text<'a>, Text<'a>), 16>,
}

/// Reads a `RequestSecurityToken` request.
pub fn parse_request(doc: &str) -> Result<EnrollRequestRef<'_>, XmlError> {
    crate::pkiws::expect_body(doc, "RequestSecurityToken")?;
    let mut r = EnrollRequestRef {
        profile_oid: None,
        client_transaction_id: None,
        token_type: None,
        request_type: None,
        csr: None,
        pending_reference: None,
        pairs: heapless::Vec::new(),
    };
    let mut name: Option<Text<'_>> = None;
    xml::walk(doc, |p, e| {
        let Event::Text(t) = e else { return Ok(()) };
        if t.raw.trim().is_empty() {
            return Ok(());
        }
        if ends_with(p, &["requestVSSecurityToken", "certificateProfileID"]) {
            r.profile_oid = Some(t);
        } else if ends_with(p, &["requestVSSecurityToken", "clientTransactionID"]) {
            r.client_transaction_id = Some(t);
        } else if ends_with(p, &["requestVSSecurityToken", "tokenType"]) {
            r.token_type = Some(t);
        } else if ends_with(p, &["requestVSSecurityToken", "requestType"]) {
            r.request_type = Some(t);
        } else if ends_with(p, &["requestVSSecurityToken", "binarySecurityToken"]) {
            r.csr = Some(t);
        } else if ends_with(p, &["requestVSSecurityToken", "pendingTokenReferenceID"]) {
            r.pending_reference = Some(t);
        } else if ends_with(p, &["nameValuePair", "name"]) {
            name = Some(t);
        } else if ends_with(p, &["nameValuePair", "value"]) {
            if let Some(n) = name.take() {
                r.pairs.push((n, t)).map_err(|_| XmlError::TooMany {
                    what: "nameValuePair",
                })?;
            }
        }
        Ok(())
    })?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn example_issued_and_pending() {
        let r = parse_response(include_str!(
            "../../tests/data/pkiws/requestSecurityTokenResponse-issued.xml"
        ))
        .unwrap();
        assert!(r.server_transaction_id.unwrap().eq_str("3F2A9C41B07E4D66"));
        let Outcome::Issued { token, .. } = r.outcome else {
            panic!()
        };
        let mut buf = [0u8; 8192];
        let der = token.base64("token", &mut buf).unwrap();
        let p7 = crate::cert::Pkcs7Ref::parse(der).unwrap();
        assert_eq!(p7.len(), 3);
        let r = parse_response(include_str!(
            "../../tests/data/pkiws/requestSecurityTokenResponse-pending.xml"
        ))
        .unwrap();
        assert!(
            matches!(r.outcome, Outcome::Pending { reference } if reference.eq_str("PEND-8C41D2A7E93B"))
        );
    }

    #[test]
    fn request_escapes_and_orders() {
        let pairs = [("common_name", "A&B <Zoë>"), ("mail_email", "a@b.com")];
        let r = EnrollRequest {
            profile_oid: "2.16.840.1.113733.1.16.1.2.3.1.1.47196109",
            client_transaction_id: Some("t-1"),
            csr_der: Some(&[0x30, 0x00]),
            pending_reference: None,
            name_value_pairs: &pairs,
        };
        let mut buf = [0u8; 2048];
        let x = write_request(&r, &mut buf).unwrap();
        assert!(x.contains(">MAA=</vs:binarySecurityToken>"));
        assert!(x.contains("<vs:value>A&amp;B &lt;Zoë&gt;</vs:value>"));
        assert!(x.find("<vs:nameValuePair>").unwrap() < x.find("<vs:version>").unwrap());
        let back = parse_request(x).unwrap();
        assert!(back.pairs[0].1.eq_str("A&B <Zoë>"));
        assert!(back.csr.unwrap().eq_str("MAA="));
        let mut small = [0u8; 100];
        assert!(
            matches!(write_request(&r, &mut small), Err(XmlError::BufferTooSmall(b)) if b.needed == x.len())
        );
    }
}
