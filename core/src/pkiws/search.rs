//! Certificate management: `searchCertificateRequest` and its response
//! (VeriSign `management` schema 2009/07, `SearchCertificateRequestType` /
//! `SearchCertificateResponseType`; `protocol.md` §7.2; example messages in
//! `shared/schemas/pkiws/examples/management/`).
//!
//! The issuance transaction asks it, after an enrollment whose reply was
//! lost, whether the CA already issued: certificates of one seat under one
//! profile, paged with `startIndex` while `moreCertificateAvailable` is true.
//! The response is read with a callback per `certificateInformation`, so a
//! page of any length needs no storage.

use crate::pkiws::revoke::NS_MANAGEMENT;
use crate::xml::{self, ends_with, Event, Text, XmlError};

/// SOAPAction of `searchCertificate`.
pub const ACTION_SEARCH: &str =
    "http://schemas.verisign.com/pkiservices/2009/07/management/searchCertificate";

/// What to search for.
#[derive(Debug, Clone, Copy)]
pub struct SearchRequest<'a> {
    /// Our id, at most 40 characters.
    pub client_transaction_id: Option<&'a str>,
    /// `seatId`.
    pub seat_id: Option<&'a str>,
    /// `profileOID`.
    pub profile_oid: Option<&'a str>,
    /// `commonName`.
    pub common_name: Option<&'a str>,
    /// `status` (`VALID`, `EXPIRED`, `REVOKED`, `SUSPENDED`).
    pub status: Option<&'a str>,
    /// `serialNumber` (upper-case hex without leading zeros, as DigiCert
    /// finds it; see [`crate::pkiws::revoke::Serial`]).
    pub serial_number: Option<&'a str>,
    /// `startIndex`.
    pub start_index: u32,
}

/// Writes a `searchCertificateRequest` (element order as the schema sequence).
pub fn write_request<'b>(r: &SearchRequest<'_>, buf: &'b mut [u8]) -> Result<&'b str, XmlError> {
    let mut w = crate::pkiws::open_request(
        buf,
        r.client_transaction_id,
        "mg",
        "searchCertificateRequest",
        NS_MANAGEMENT,
    )?;
    if let Some(id) = r.client_transaction_id {
        w.leaf("mg:clientTransactionID", id);
    }
    if let Some(s) = r.seat_id {
        w.leaf("mg:seatId", s);
    }
    if let Some(p) = r.profile_oid {
        w.leaf("mg:profileOID", p);
    }
    if let Some(c) = r.common_name {
        w.leaf("mg:commonName", c);
    }
    if let Some(s) = r.status {
        w.leaf("mg:status", s);
    }
    if let Some(s) = r.serial_number {
        w.leaf("mg:serialNumber", s);
    }
    let mut n: heapless::String<10> = heapless::String::new();
    let _ = core::fmt::write(&mut n, format_args!("{}", r.start_index));
    w.leaf("mg:startIndex", &n);
    w.leaf("mg:version", "1.0");
    crate::pkiws::close_request(w, "mg", "searchCertificateRequest")
}

/// One `certificateInformation` of a response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CertificateInfo<'a> {
    /// `certificate` (base64 DER).
    pub certificate: Option<Text<'a>>,
    /// `serialNumber`.
    pub serial: Option<Text<'a>>,
    /// `status`.
    pub status: Option<Text<'a>>,
    /// `seatId`.
    pub seat_id: Option<Text<'a>>,
    /// `profileOID`.
    pub profile_oid: Option<Text<'a>>,
}

/// The parts of a `searchCertificateResponse` besides the certificates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchSummary<'a> {
    /// `serverTransactionID`.
    pub server_transaction_id: Option<Text<'a>>,
    /// `certificateCount`.
    pub count: u32,
    /// `moreCertificateAvailable`.
    pub more: bool,
    /// How many `certificateInformation` elements this page held.
    pub listed: u32,
}

/// Reads a `searchCertificateResponse`, calling `each` for every
/// `certificateInformation` in document order.
pub fn parse_response<'a, F>(doc: &'a str, mut each: F) -> Result<SearchSummary<'a>, XmlError>
where
    F: FnMut(&CertificateInfo<'a>) -> Result<(), XmlError>,
{
    crate::pkiws::expect_body(doc, "searchCertificateResponse")?;
    let mut s = SearchSummary::default();
    let mut count = false;
    let mut cur = CertificateInfo::default();
    xml::walk(doc, |p, e| {
        match e {
            Event::Start {
                local: "certificateInformation",
                ..
            } => cur = CertificateInfo::default(),
            Event::End {
                local: "certificateInformation",
            } => {
                s.listed = s.listed.saturating_add(1);
                each(&cur)?;
            }
            Event::Text(t) if !t.raw.trim().is_empty() => {
                if ends_with(p, &["certificateInformation", "certificate"]) {
                    cur.certificate = Some(t);
                } else if ends_with(p, &["certificateInformation", "serialNumber"]) {
                    cur.serial = Some(t);
                } else if ends_with(p, &["certificateInformation", "status"]) {
                    cur.status = Some(t);
                } else if ends_with(p, &["certificateInformation", "seatId"]) {
                    cur.seat_id = Some(t);
                } else if ends_with(p, &["certificateInformation", "profileOID"]) {
                    cur.profile_oid = Some(t);
                } else if ends_with(p, &["searchCertificateResponse", "serverTransactionID"]) {
                    s.server_transaction_id = Some(t);
                } else if ends_with(p, &["searchCertificateResponse", "certificateCount"]) {
                    count = true;
                    s.count = t.u32("certificateCount")?;
                } else if ends_with(
                    p,
                    &["searchCertificateResponse", "moreCertificateAvailable"],
                ) {
                    s.more = t.bool("moreCertificateAvailable")?;
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    if !count {
        return Err(XmlError::Missing {
            what: "certificateCount",
        });
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn writes_in_schema_order_and_reads_the_example() {
        let mut buf = [0u8; 1024];
        let x = write_request(
            &SearchRequest {
                client_transaction_id: Some("raconn-s"),
                seat_id: Some("a&b@contoso.com"),
                profile_oid: Some("2.16.840.1.113733.1.16.1.2.3.1.1.47196109"),
                common_name: Some("IWUser0"),
                status: Some("VALID"),
                serial_number: None,
                start_index: 50,
            },
            &mut buf,
        )
        .unwrap();
        let order = [
            "clientTransactionID",
            "seatId",
            "profileOID",
            "status",
            "startIndex>50",
            "version",
        ];
        let mut at = 0;
        for o in order {
            let i = x[at..].find(o).unwrap_or_else(|| panic!("{o} in {x}"));
            at += i;
        }
        assert!(x.contains("a&amp;b@contoso.com"));
        let doc = include_str!("../../tests/data/pkiws/searchCertificate-response.xml");
        let mut seen = std::vec::Vec::new();
        let s = parse_response(doc, |c| {
            let mut b = [0u8; 2048];
            let der = c.certificate.unwrap().base64("certificate", &mut b)?;
            seen.push((
                der.len(),
                std::string::String::from(c.serial.unwrap().raw.trim()),
            ));
            Ok(())
        })
        .unwrap();
        assert_eq!((s.count, s.more, s.listed), (1, false, 1));
        assert!(s.server_transaction_id.unwrap().eq_str("4E1F0A9B77C3D210"));
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].1, "6D2B1F0E6A8C4E3B9F7A11C0D55E2A01");
        assert!(crate::cert::CertificateRef::parse(&{
            let mut b = [0u8; 2048];
            let mut v = std::vec::Vec::new();
            parse_response(doc, |c| {
                v.extend_from_slice(c.certificate.unwrap().base64("c", &mut b)?);
                Ok(())
            })
            .unwrap();
            v
        })
        .is_ok());
    }
}
