//! DigiCert (ex-VeriSign) PKI Web Services messages, written and read in
//! caller buffers (`shared/docs/protocol.md`; schemas in
//! `shared/schemas/pkiws/wsdl`, VeriSign "pkiservices" 2009/07).
//!
//! - [`policy`]: `getPolicies` request and `getPoliciesResponse` reader.
//! - [`enroll`]: `RequestSecurityToken` / `requestVSSecurityToken` request
//!   and `RequestSecurityTokenResponse` reader.
//! - [`health`]: `getStatus` (health check); [`revoke`]: `updateCertificateStatus`;
//!   [`search`]: `searchCertificate`.
//! - [`fault`]: SOAP 1.1 (and, defensively, 1.2) faults, classified into the
//!   failures the reference connector documents.
//!
//! Readers match local names (any prefix, default namespaces, the WS-Trust
//! namespace with or without its trailing slash), skip unknown elements and
//! keep only bounded, borrowed data.

pub mod check;
pub mod enroll;
pub mod fault;
pub mod health;
pub mod policy;
pub mod revoke;
pub mod search;

use crate::error::explain;
use crate::xml::{self, Event, XmlError};

/// SOAP 1.1 envelope namespace.
pub const NS_SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// SOAP 1.2 envelope namespace.
pub const NS_SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
/// Policy service namespace.
pub const NS_POLICY: &str = "http://schemas.verisign.com/pkiservices/2009/07/policy";
/// Enrollment service namespace.
pub const NS_ENROLL: &str = "http://schemas.verisign.com/pkiservices/2009/07/enrollment";
/// WS-Trust namespace as VeriSign spells it (trailing slash).
pub const NS_WST: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/";
/// SOAPAction of `getPolicies`.
pub const ACTION_POLICY: &str =
    "http://schemas.verisign.com/pkiservices/2009/07/policy/requestPolicies";
/// SOAPAction of `RequestSecurityToken`.
pub const ACTION_ENROLL: &str =
    "http://schemas.verisign.com/pkiservices/2009/07/enrollment/requestSecurityToken";
/// Path of the policy service.
pub const PATH_POLICY: &str = "/pki-ws/policyService";
/// Path of the enrollment service.
pub const PATH_ENROLL: &str = "/pki-ws/enrollmentService";
/// Path of the health-check service.
pub const PATH_HEALTH: &str = "/pki-ws/healthcheckService";
/// `Content-Type` of every request.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// The PKI Web Services a connector calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Service {
    /// `policyService` (getPolicies).
    Policy,
    /// `enrollmentService` (RequestSecurityToken).
    Enrollment,
    /// `certificateManagementService` (searchCertificate, updateCertificateStatus).
    Management,
    /// `healthcheckService` (getStatus).
    Health,
}

impl Service {
    /// The path under `https://<fqdn>`.
    pub const fn path(self) -> &'static str {
        match self {
            Service::Policy => PATH_POLICY,
            Service::Enrollment => PATH_ENROLL,
            Service::Management => revoke::PATH_MANAGEMENT,
            Service::Health => PATH_HEALTH,
        }
    }

    /// The SOAPAction of the service's main operation (management:
    /// `searchCertificate` and `updateCertificateStatus` have their own).
    pub const fn action(self) -> &'static str {
        match self {
            Service::Policy => ACTION_POLICY,
            Service::Enrollment => ACTION_ENROLL,
            Service::Management => search::ACTION_SEARCH,
            Service::Health => health::ACTION_HEALTH,
        }
    }

    /// A short name for logs and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Service::Policy => "policy",
            Service::Enrollment => "enrollment",
            Service::Management => "management",
            Service::Health => "health",
        }
    }
}

/// Failures talking PKI Web Services, in the words of the reference
/// connector's troubleshooting table where it has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PkiwsError {
    /// The XML could not be written or read.
    Xml(XmlError),
    /// Timeout talking to the CA.
    Timeout,
    /// TLS secure-channel failure.
    TlsFailure,
    /// The CA does not know the profile OID ("A request element is not understood.").
    ProfileUnknown,
    /// The policy response has no policy for the profile OID.
    ProfileNotInPolicy,
    /// "Policy verification failed": the request does not fit the profile.
    PolicyVerification,
    /// DigiCert refused special characters in first/last name.
    SpecialCharacters,
    /// Any other SOAP fault.
    Fault,
    /// The request is pending approval.
    Pending,
    /// The reply carried no token.
    EmptyToken,
    /// The token is not a certificate or PKCS#7.
    BadToken,
    /// The CA answered with an HTTP error and no SOAP fault.
    HttpStatus,
    /// The issued certificate is for a different key than the request's.
    KeyMismatch,
    /// The issued certificate does not carry what was asked.
    CertificateMismatch { field: crate::pkiws::check::Field },
    /// The device key does not have the size the profile asks for.
    KeyNotAsPolicy { policy_bits: u32 },
    /// Engine methods called out of order.
    WrongState,
    /// The connection was closed before a reply arrived.
    ConnectionClosed,
    /// The reply carried more certificates than raconn keeps.
    TooManyCertificates { max: usize },
    /// The CA's host name does not resolve.
    NameNotResolved,
    /// No connection could be made to the CA (refused, unreachable).
    Unreachable,
}

explain!(PkiwsError {
    Xml (e) => ("RC-PKIWS-001", "a PKI Web Services message could not be written or read", "see the XML error named with it"), "{e}";
    Timeout => ("RC-PKIWS-002", "timeout talking to the CA (\"The operation has timed out\")", "raise the CA timeout (the reference connector's CloudCAConnTimeoutInMilliseconds), and check the network path to the CA");
    TlsFailure => ("RC-PKIWS-003", "TLS secure channel to the CA failed (\"Could not create SSL/TLS secure channel\")", "check that the RA private key is readable by this account, that the CA FQDN is right, and that the CA's server certificate chains to a trusted root");
    ProfileUnknown => ("RC-PKIWS-005", "the CA does not know the certificate profile OID (\"A request element is not understood.\")", "check the configured certificate-profile OID against the profile in DigiCert PKI Manager");
    ProfileNotInPolicy => ("RC-PKIWS-006", "the policy response has no policy for the profile OID", "check the configured certificate-profile OID; the CA answered for other profiles only");
    PolicyVerification => ("RC-PKIWS-007", "policy verification failed: the request does not fit the certificate profile", "compare the DigiCert profile's subject and SAN fields with the request's subject format and SAN kinds; the error names the attribute");
    SpecialCharacters => ("RC-PKIWS-008", "the CA refused special characters in first or last name", "change the DigiCert profile to ask for CN=<upn> instead of first and last name, or fix the user's name");
    Fault => ("RC-PKIWS-009", "the CA answered with a SOAP fault", "read the fault string and detail shown with the error; contact DigiCert support with the serverTransactionID");
    Pending => ("RC-PKIWS-010", "the CA holds the request for approval", "approve it in DigiCert PKI Manager, then run the same request again (same request id)");
    EmptyToken => ("RC-PKIWS-011", "the CA's reply carried no certificate", "retry; if it persists, contact DigiCert support with the serverTransactionID");
    BadToken => ("RC-PKIWS-012", "the CA's reply is not a certificate or PKCS#7 for this request", "contact DigiCert support with the serverTransactionID; nothing was stored");
    HttpStatus => ("RC-PKIWS-013", "the CA answered with an HTTP error and no SOAP fault", "check the CA FQDN and any proxy; the status and the start of the body are shown with the error");
    KeyMismatch => ("RC-PKIWS-014", "the CA returned a certificate for a different key than the request's", "nothing was stored; contact DigiCert support with the serverTransactionID");
    CertificateMismatch { field } => ("RC-PKIWS-015", "the issued certificate does not carry the subject or SAN that was asked for", "nothing was stored; compare the DigiCert profile with the request, and contact DigiCert support if the profile is right"), "{}", field.describe();
    KeyNotAsPolicy { policy_bits } => ("RC-PKIWS-016", "the device key does not have the size the certificate profile asks for", "use the key type and size the profile's policy asks for"), "the profile asks for {policy_bits} bits";
    WrongState => ("RC-PKIWS-017", "issuance engine used out of order", "report this as a bug in the host");
    ConnectionClosed => ("RC-PKIWS-018", "the CA closed the connection without answering", "retry with the same request id: the retry first asks the CA (searchCertificate) whether it issued, and resends the identical request only when it did not; if it persists, check proxies or firewalls between raconn and the CA");
    NameNotResolved => ("RC-PKIWS-021", "the CA's host name does not resolve", "check the CA host name and this machine's DNS (resolver, proxy settings)");
    Unreachable => ("RC-PKIWS-022", "no connection to the CA (refused or unreachable)", "check the CA host and port, firewalls between raconn and the CA, and that the CA is up");
    TooManyCertificates { max } => ("RC-PKIWS-020", "the CA's reply carries more certificates than raconn keeps", "report the reply; the chain is longer than any PKI Platform chain raconn knows"), "more than {max}";
});

impl PkiwsError {
    /// True when the CA answered the request with a SOAP fault: it decided,
    /// and it did not issue.
    pub const fn is_ca_refusal(&self) -> bool {
        matches!(
            self,
            Self::ProfileUnknown | Self::PolicyVerification | Self::SpecialCharacters | Self::Fault
        )
    }

    /// True when the same request may succeed later unchanged (the network,
    /// the CA's availability, an approval).
    pub const fn retryable(&self) -> bool {
        matches!(
            self,
            Self::Timeout
                | Self::TlsFailure
                | Self::Fault
                | Self::Pending
                | Self::EmptyToken
                | Self::HttpStatus
                | Self::ConnectionClosed
                | Self::NameNotResolved
                | Self::Unreachable
        )
    }
}

impl From<XmlError> for PkiwsError {
    fn from(e: XmlError) -> Self {
        PkiwsError::Xml(e)
    }
}

/// The SOAP version of an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoapVersion {
    /// SOAP 1.1
    V11,
    /// SOAP 1.2
    V12,
}

/// What a reply's body holds first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyInfo<'a> {
    /// SOAP version from the Envelope's namespace.
    pub soap: SoapVersion,
    /// Local name of the body's first child.
    pub first: &'a str,
}

/// Finds the SOAP version and the body's first element.
pub fn body_info(doc: &str) -> Result<BodyInfo<'_>, XmlError> {
    let mut soap = None;
    let mut env_prefix = "";
    let mut first = None;
    xml::walk(doc, |p, e| {
        match e {
            Event::Start { local, prefix } if p.len() == 1 => {
                if local != "Envelope" {
                    return Err(XmlError::NotSoap);
                }
                env_prefix = prefix;
            }
            Event::Attr {
                local,
                prefix,
                value,
            } if p.len() == 1 => {
                let declares = (prefix == "xmlns" && local == env_prefix)
                    || (prefix.is_empty() && local == "xmlns" && env_prefix.is_empty());
                if declares {
                    if value.eq_str(NS_SOAP11) {
                        soap = Some(SoapVersion::V11);
                    } else if value.eq_str(NS_SOAP12) {
                        soap = Some(SoapVersion::V12);
                    }
                }
            }
            Event::Start { local, .. }
                if p.len() == 3 && p.get(1) == Some(&"Body") && first.is_none() =>
            {
                first = Some(local);
            }
            _ => {}
        }
        Ok(())
    })?;
    match (soap, first) {
        (Some(soap), Some(first)) => Ok(BodyInfo { soap, first }),
        _ => Err(XmlError::NotSoap),
    }
}

/// Starts a request: checks the clientTransactionID, writes the XML
/// declaration, the SOAP 1.1 envelope and `<prefix:element xmlns:prefix="ns">`.
pub(crate) fn open_request<'b>(
    buf: &'b mut [u8],
    client_transaction_id: Option<&str>,
    prefix: &str,
    element: &str,
    ns: &str,
) -> Result<xml::XmlWriter<'b>, XmlError> {
    if let Some(id) = client_transaction_id {
        xml::check_transaction_id(id)?;
    }
    let mut w = xml::XmlWriter::new(buf);
    w.raw(ENVELOPE_START);
    w.raw("<");
    w.raw(prefix);
    w.raw(":");
    w.raw(element);
    w.raw(" xmlns:");
    w.raw(prefix);
    w.raw("=\"");
    w.raw(ns);
    w.raw("\">");
    Ok(w)
}

/// Ends a request opened with [`open_request`].
pub(crate) fn close_request<'b>(
    mut w: xml::XmlWriter<'b>,
    prefix: &str,
    element: &str,
) -> Result<&'b str, XmlError> {
    w.raw("</");
    w.raw(prefix);
    w.raw(":");
    w.raw(element);
    w.raw(">");
    w.raw(ENVELOPE_END);
    w.finish()
}

/// Fails unless the body's first element is `name`.
pub(crate) fn expect_body(doc: &str, name: &'static str) -> Result<(), XmlError> {
    if body_info(doc)?.first != name {
        return Err(XmlError::Missing { what: name });
    }
    Ok(())
}

/// The start of every request: XML declaration and SOAP 1.1 envelope.
pub(crate) const ENVELOPE_START: &str =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body>";
/// The end of every request.
pub(crate) const ENVELOPE_END: &str = "</soapenv:Body></soapenv:Envelope>";

/// Turns a reply into text for the readers: a SOAP fault (whatever the HTTP
/// status) becomes its classified error, any other non-2xx status is
/// [`PkiwsError::HttpStatus`], a body that is not UTF-8 is malformed XML.
/// Both the engine and a host fetching a policy on its own use this.
pub fn reply_text(http_status: u16, body: &[u8]) -> Result<&str, crate::Error> {
    let doc = core::str::from_utf8(body);
    if let Ok(d) = doc {
        if let Ok(Some(f)) = fault::parse(d) {
            return Err(f.classify().into());
        }
    }
    if !(200..300).contains(&http_status) {
        return Err(PkiwsError::HttpStatus.into());
    }
    doc.map_err(|_| crate::Error::Xml(XmlError::Malformed { offset: 0 }))
}
