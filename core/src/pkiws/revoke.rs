//! Certificate management: `updateCertificateStatusRequest` (revoke,
//! suspend, resume) and its response (VeriSign `management` schema 2009/07;
//! `protocol.md` §7.1). Success is `successCode` ≥ 0.
//!
//! Serial numbers go out as DigiCert finds them: upper-case hex of the
//! integer with no leading zeros ([`Serial`]; Keyfactor's DigiCert plugin
//! found that a serial with leading zeros is not found). Any form a user
//! pastes — `01:0a:…`, `010A…`, `0x…`, or decimal — is normalised first.

use core::fmt;

use crate::explain;
use crate::xml::{self, ends_with, Event, Text, XmlError};

/// Revocation failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RevokeError {
    /// The serial number text does not parse (the character's position).
    BadSerial {
        /// 1-based character position.
        pos: usize,
    },
    /// More than 20 bytes (RFC 5280 §4.1.2.2).
    SerialTooLong,
    /// The CA has no certificate with this serial number.
    NotFound,
    /// The certificate is revoked already.
    AlreadyRevoked,
    /// The CA answered with a negative successCode.
    Refused {
        /// The successCode.
        code: i64,
    },
    /// A reason that is not one of the schema's.
    UnknownReason,
}

explain!(RevokeError {
    BadSerial { pos } => ("RC-REV-001", "the serial number does not parse", "give it as hex (colons, spaces, a 0x prefix and leading zeros are fine), or as a decimal number with --serial-decimal"), "character {pos}";
    SerialTooLong => ("RC-REV-002", "the serial number is longer than 20 bytes (RFC 5280)", "check you copied the serial number, not the thumbprint or the key id");
    NotFound => ("RC-REV-003", "the CA has no certificate with this serial number", "check the serial (`inspect` shows it) and that the certificate was issued through this RA account and profile");
    AlreadyRevoked => ("RC-REV-004", "the certificate is already revoked", "nothing to do; ask with --if-needed to have this succeed");
    Refused { code } => ("RC-REV-005", "the CA refused the revocation", "see the CA's message; check the RA account may revoke certificates of this profile"), "successCode {code}";
    UnknownReason => ("RC-REV-006", "the revocation reason is not one the CA knows", "use unspecified, keyCompromise, affiliationChanged, superseded or cessationOfOperation (also caCompromise, privilegeWithdrawn, aaCompromise)");
});

/// A certificate serial number: the positive integer's big-endian bytes
/// without leading zero bytes (at most 20, RFC 5280 §4.1.2.2).
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Serial {
    bytes: [u8; 20],
    len: u8,
}

impl Serial {
    /// From big-endian bytes (a DER INTEGER's content: a leading 00 is dropped).
    pub fn from_bytes(b: &[u8]) -> Result<Self, RevokeError> {
        let mut b = b;
        while let [0, rest @ ..] = b {
            b = rest;
        }
        let mut s = Serial {
            bytes: [0; 20],
            len: 0,
        };
        let start = 20usize
            .checked_sub(b.len())
            .ok_or(RevokeError::SerialTooLong)?;
        s.bytes
            .get_mut(start..)
            .ok_or(RevokeError::SerialTooLong)?
            .copy_from_slice(b);
        s.len = u8::try_from(b.len()).map_err(|_| RevokeError::SerialTooLong)?;
        Ok(s)
    }

    /// Hex as people paste it: digits in either case, with any of `:`,
    /// space, `-` between them, an optional `0x`, leading zeros.
    pub fn parse_hex(text: &str) -> Result<Self, RevokeError> {
        let t = text.trim();
        let (t, skip) = match t.get(..2) {
            Some(p) if p.eq_ignore_ascii_case("0x") => (t.get(2..).unwrap_or(""), 2),
            _ => (t, 0),
        };
        let mut acc = [0u8; 20];
        let mut digits = 0usize;
        for (i, c) in t.chars().enumerate() {
            if matches!(c, ':' | ' ' | '-') {
                continue;
            }
            let d = c
                .to_digit(16)
                .ok_or(RevokeError::BadSerial { pos: skip + i + 1 })?;
            if acc.first().copied().unwrap_or(0) >> 4 != 0 {
                return Err(RevokeError::SerialTooLong);
            }
            // Shift the 160-bit number left by a nibble and add the digit.
            let mut carry = u8::try_from(d).unwrap_or(0);
            for b in acc.iter_mut().rev() {
                let v = (u16::from(*b) << 4) | u16::from(carry);
                *b = (v & 0xff) as u8;
                carry = (v >> 8) as u8;
            }
            digits += 1;
        }
        if digits == 0 {
            return Err(RevokeError::BadSerial { pos: 1 });
        }
        Self::from_bytes(&acc)
    }

    /// A decimal number (as some consoles show serials).
    pub fn parse_decimal(text: &str) -> Result<Self, RevokeError> {
        let t = text.trim();
        let mut acc = [0u8; 20];
        let mut digits = 0usize;
        for (i, c) in t.chars().enumerate() {
            if matches!(c, ' ' | ',' | '_') {
                continue;
            }
            let d = c
                .to_digit(10)
                .ok_or(RevokeError::BadSerial { pos: i + 1 })?;
            let mut carry = d;
            for b in acc.iter_mut().rev() {
                let v = u32::from(*b) * 10 + carry;
                *b = (v & 0xff) as u8;
                carry = v >> 8;
            }
            if carry != 0 {
                return Err(RevokeError::SerialTooLong);
            }
            digits += 1;
        }
        if digits == 0 {
            return Err(RevokeError::BadSerial { pos: 1 });
        }
        Self::from_bytes(&acc)
    }

    /// The big-endian bytes, no leading zero byte.
    pub fn bytes(&self) -> &[u8] {
        self.bytes.get(20 - usize::from(self.len)..).unwrap_or(&[])
    }

    /// Upper-case hex with no leading zeros (`0` for zero), as DigiCert
    /// looks serials up.
    pub fn to_hex(&self) -> heapless::String<40> {
        let mut s: heapless::String<40> = heapless::String::new();
        let mut started = false;
        for b in self.bytes() {
            for n in [b >> 4, b & 0x0f] {
                if n != 0 || started {
                    started = true;
                    let _ = s.push(
                        char::from_digit(u32::from(n), 16).map_or('0', |c| c.to_ascii_uppercase()),
                    );
                }
            }
        }
        if s.is_empty() {
            let _ = s.push('0');
        }
        s
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({})", self.to_hex())
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

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
    /// Reads a reason: the schema's spelling or its lowerCamel form
    /// (`keyCompromise`, `cessationOfOperation`), any case.
    pub fn parse(s: &str) -> Result<Self, RevokeError> {
        const ALL: [Reason; 8] = [
            Reason::Unspecified,
            Reason::KeyCompromise,
            Reason::CaCompromise,
            Reason::AffiliationChanged,
            Reason::CessationOfOperation,
            Reason::PrivilegeWithdrawn,
            Reason::AaCompromise,
            Reason::Superseded,
        ];
        ALL.iter()
            .copied()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or(RevokeError::UnknownReason)
    }

    /// The RFC 5280 CRLReason code (§5.3.1).
    pub const fn crl_code(self) -> u8 {
        match self {
            Reason::Unspecified => 0,
            Reason::KeyCompromise => 1,
            Reason::CaCompromise => 2,
            Reason::AffiliationChanged => 3,
            Reason::Superseded => 4,
            Reason::CessationOfOperation => 5,
            Reason::PrivilegeWithdrawn => 9,
            Reason::AaCompromise => 10,
        }
    }

    /// The reason of a CRLReason code.
    pub const fn from_crl_code(c: u8) -> Option<Self> {
        Some(match c {
            0 => Reason::Unspecified,
            1 => Reason::KeyCompromise,
            2 => Reason::CaCompromise,
            3 => Reason::AffiliationChanged,
            4 => Reason::Superseded,
            5 => Reason::CessationOfOperation,
            9 => Reason::PrivilegeWithdrawn,
            10 => Reason::AaCompromise,
            _ => return None,
        })
    }

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

/// Writes a revocation of the certificate with `serial`, with an optional
/// comment (at most 512 characters, as the schema allows).
pub fn write_request<'b>(
    client_transaction_id: Option<&str>,
    serial: &Serial,
    reason: Reason,
    comment: Option<&str>,
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
    if let Some(c) = comment {
        if c.chars().count() > 512 {
            return Err(XmlError::TooMany {
                what: "comment characters (512 at most)",
            });
        }
        w.leaf("mg:comment", c);
    }
    w.leaf("mg:certificateSerialNumber", &serial.to_hex());
    w.leaf("mg:operationType", "Revoke");
    crate::pkiws::close_request(w, "mg", "updateCertificateStatusRequest")
}

/// Reads the CA's answer to a revocation: a SOAP fault or HTTP error as
/// [`crate::pkiws::reply_text`] reports it, a negative successCode as
/// [`RevokeError::Refused`], else the response.
pub fn read_reply(http_status: u16, body: &[u8]) -> Result<RevokeResponse<'_>, crate::Error> {
    let text = crate::pkiws::reply_text(http_status, body)?;
    let r = parse_response(text)?;
    if r.success_code < 0 {
        return Err(RevokeError::Refused {
            code: r.success_code,
        }
        .into());
    }
    Ok(r)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn serials_in_every_pasted_form() {
        let want = "6D2B1F0E6A8C4E3B9F7A11C0D55E2A01";
        for t in [
            "6D2B1F0E6A8C4E3B9F7A11C0D55E2A01",
            "6d:2b:1f:0e:6a:8c:4e:3b:9f:7a:11:c0:d5:5e:2a:01",
            "00 6D 2B 1F 0E 6A 8C 4E 3B 9F 7A 11 C0 D5 5E 2A 01",
            "0x006d2b1f0e6a8c4e3b9f7a11c0d55e2a01",
        ] {
            assert_eq!(Serial::parse_hex(t).unwrap().to_hex(), want, "{t}");
        }
        // Leading zero nibbles go too: DigiCert finds "A0B", not "0A0B".
        assert_eq!(Serial::parse_hex("0a:0b").unwrap().to_hex(), "A0B");
        assert_eq!(Serial::parse_hex("0a:0b").unwrap().bytes(), &[0x0a, 0x0b]);
        assert_eq!(Serial::parse_decimal("2571").unwrap().to_hex(), "A0B");
        assert_eq!(
            Serial::parse_decimal("145109750202339846236269356056695417345")
                .unwrap()
                .to_hex(),
            want
        );
        assert_eq!(Serial::from_bytes(&[0, 0x80]).unwrap().to_hex(), "80");
        assert_eq!(Serial::parse_hex("0").unwrap().to_hex(), "0");
        assert_eq!(
            Serial::parse_hex("12:zz"),
            Err(RevokeError::BadSerial { pos: 4 })
        );
        assert_eq!(
            Serial::parse_hex(""),
            Err(RevokeError::BadSerial { pos: 1 })
        );
        assert_eq!(
            Serial::parse_hex(&"ab".repeat(21)),
            Err(RevokeError::SerialTooLong)
        );
        assert!(Serial::parse_hex(&"ab".repeat(20)).is_ok());
        assert_eq!(
            Serial::parse_decimal(&"9".repeat(60)),
            Err(RevokeError::SerialTooLong)
        );
        assert_eq!(Reason::parse("keyCompromise"), Ok(Reason::KeyCompromise));
        assert_eq!(Reason::parse("CACompromise"), Ok(Reason::CaCompromise));
        assert_eq!(Reason::parse("sometimes"), Err(RevokeError::UnknownReason));
        for c in 0..=10 {
            if let Some(r) = Reason::from_crl_code(c) {
                assert_eq!(r.crl_code(), c);
            }
        }
    }

    #[test]
    fn a_negative_success_code_is_a_refusal() {
        use crate::error::Explain;
        let doc = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><updateCertificateStatusResponse xmlns=\"http://schemas.verisign.com/pkiservices/2009/07/management\"><version>1.0</version><successCode>-1</successCode><successMsg>Certificate is not in a revocable state</successMsg><revocationCount>0</revocationCount></updateCertificateStatusResponse></s:Body></s:Envelope>";
        let e = read_reply(200, doc.as_bytes()).unwrap_err();
        assert_eq!(e.code(), "RC-REV-005");
        assert!(std::format!("{e}").contains("successCode -1"));
        let ok = doc.replace("<successCode>-1<", "<successCode>0<");
        assert_eq!(read_reply(200, ok.as_bytes()).unwrap().count, Some(0));
        assert_eq!(
            Serial::parse_hex(&"ab".repeat(21)).unwrap_err().code(),
            "RC-REV-002"
        );
    }
}
