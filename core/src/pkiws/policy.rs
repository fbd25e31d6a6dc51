//! The policy service: `getPolicies` request and `getPoliciesResponse`
//! reader (VeriSign `policy` schema 2009/07; `protocol.md` §4).
//!
//! The reader finds the policy for one profile OID through
//! `oIDs/oID[value]/oIDReferenceID` = `policy/policyOIDReference`, and
//! returns its attribute list — subject attributes, SAN-extension attributes
//! and the seat attribute, each with its kind (`attributeName`), the
//! nameValuePair name to send (`attributeNameValue`), the mandatory flag and
//! any fixed value — plus key size and exportability, delivery format,
//! validity and the CA certificates the policy references. Everything is
//! borrowed from the reply and bounded; base64 is decoded on demand.

use crate::pkiws::{PkiwsError, NS_POLICY};
use crate::xml::{self, ends_with, Event, Text, XmlError};

/// Writes a `getPolicies` request for `profile_oids` into `buf`.
pub fn write_request<'b>(
    client_transaction_id: Option<&str>,
    profile_oids: &[&str],
    buf: &'b mut [u8],
) -> Result<&'b str, XmlError> {
    let mut w =
        crate::pkiws::open_request(buf, client_transaction_id, "pol", "getPolicies", NS_POLICY)?;
    w.leaf("pol:version", "2.0");
    if let Some(id) = client_transaction_id {
        w.leaf("pol:clientTransactionID", id);
    }
    w.raw("<pol:requestFilter><pol:policyIDs>");
    for o in profile_oids {
        w.leaf("pol:oid", o);
    }
    w.raw("</pol:policyIDs></pol:requestFilter>");
    crate::pkiws::close_request(w, "pol", "getPolicies")
}

/// Where a policy attribute applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location<'a> {
    /// Subject name attribute.
    Subject,
    /// An attribute of an extension (the SAN extension has OID 2.5.29.17).
    Extension {
        /// the extension OID, resolved through `oIDs`
        oid: Option<Text<'a>>,
        /// `extensionCriticalFlag`
        critical: bool,
    },
    /// The seat attribute (`seatIdInfo`).
    Seat,
}

impl Location<'_> {
    /// True for attributes of the SubjectAltName extension.
    pub fn is_san(&self) -> bool {
        matches!(self, Location::Extension { oid: Some(o), .. } if o.eq_str("2.5.29.17"))
    }
}

/// One attribute the profile accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyAttribute<'a> {
    /// Where it applies.
    pub location: Location<'a>,
    /// `attributeName`: what it is (CN, E, rfc822Name, otherName.userPrincipalName, …).
    pub kind: Option<Text<'a>>,
    /// `attributeNameValue`: the nameValuePair name to send.
    pub name: Option<Text<'a>>,
    /// `@mandatory`.
    pub mandatory: bool,
    /// `@type`.
    pub value_type: Option<Text<'a>>,
    /// `attributeNameValueProperty/value`: a fixed value, if the profile sets one.
    pub fixed_value: Option<Text<'a>>,
    /// `attributeNameValueProperty/source`.
    pub source: Option<Text<'a>>,
}

impl<'a> PolicyAttribute<'a> {
    fn empty(location: Location<'a>) -> Self {
        PolicyAttribute {
            location,
            kind: None,
            name: None,
            mandatory: false,
            value_type: None,
            fixed_value: None,
            source: None,
        }
    }
}

/// A CA certificate set from `cAs/cA`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaInfo<'a> {
    /// `cAReferenceID`.
    pub reference: u32,
    /// `certificate` (base64 DER of the issuing CA).
    pub certificate: Option<Text<'a>>,
    /// `intermediateCACertificates` (base64 DER each), first 4.
    pub intermediates: heapless::Vec<Text<'a>, 4>,
    /// `rootCACertificate` (base64 DER).
    pub root: Option<Text<'a>>,
    /// `cAIssuerName`.
    pub issuer_name: Option<Text<'a>>,
    /// `cAType` (public / private).
    pub ca_type: Option<Text<'a>>,
}

impl<'a> CaInfo<'a> {
    /// The certificates (base64 text): the issuing CA, the intermediates,
    /// the root — the order a chain goes.
    pub fn certificates(&self) -> impl Iterator<Item = &Text<'a>> {
        self.certificate
            .iter()
            .chain(self.intermediates.iter())
            .chain(self.root.iter())
    }
}

/// Maximum attributes kept per policy.
pub const MAX_ATTRIBUTES: usize = 32;

/// The policy for one profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy<'a> {
    /// Echo of our id.
    pub client_transaction_id: Option<Text<'a>>,
    /// The server's id (quote it to support).
    pub server_transaction_id: Option<Text<'a>>,
    /// `response/policyID`.
    pub policy_id: Option<Text<'a>>,
    /// `response/policyFriendlyName`.
    pub friendly_name: Option<Text<'a>>,
    /// `response/nextUpdateHours`.
    pub next_update_hours: Option<u32>,
    /// The profile's `oID/defaultName`.
    pub profile_name: Option<Text<'a>>,
    /// `certificateValidity/validityPeriodDays`.
    pub validity_days: Option<u32>,
    /// `certificateValidity/renewalPeriodDays`.
    pub renewal_days: Option<u32>,
    /// `privateKeyAttributes/keysize`.
    pub key_size: Option<u32>,
    /// `privateKeyAttributes/keyexportable`.
    pub key_exportable: Option<bool>,
    /// Key algorithm OID (`algorithmOIDReference` resolved).
    pub key_algorithm: Option<Text<'a>>,
    /// `systemInfo/certificateDeliveryFormat`.
    pub delivery_format: Option<Text<'a>>,
    /// `deploymentMode`.
    pub deployment_mode: Option<Text<'a>>,
    /// `status`.
    pub status: Option<Text<'a>>,
    /// Subject, extension and seat attributes.
    pub attributes: heapless::Vec<PolicyAttribute<'a>, MAX_ATTRIBUTES>,
    /// The CAs this policy references.
    pub cas: heapless::Vec<CaInfo<'a>, 4>,
}

impl Policy<'_> {
    /// A policy with nothing read yet.
    pub const fn empty() -> Self {
        Policy {
            client_transaction_id: None,
            server_transaction_id: None,
            policy_id: None,
            friendly_name: None,
            next_update_hours: None,
            profile_name: None,
            validity_days: None,
            renewal_days: None,
            key_size: None,
            key_exportable: None,
            key_algorithm: None,
            delivery_format: None,
            deployment_mode: None,
            status: None,
            attributes: heapless::Vec::new(),
            cas: heapless::Vec::new(),
        }
    }
}

/// An `oIDs/oID` entry: 16 bytes on a 32-bit target, 64 of them on the
/// appliance's stack during the parse (the `defaultName` is kept only for
/// the profile's own OID, in the policy).
struct OidEntry<'a> {
    value: Text<'a>,
    reference: u32,
}

fn text_in<'a>(p: &[&str], tail: &[&str], e: &Event<'a>) -> Option<Text<'a>> {
    match e {
        Event::Text(t) if ends_with(p, tail) && !t.raw.trim().is_empty() => Some(*t),
        _ => None,
    }
}

/// Reads a `getPoliciesResponse` and returns the policy for `profile_oid`.
/// A SOAP fault is returned as [`crate::pkiws::fault::Fault`] by
/// [`crate::pkiws::fault::parse`]; call that first.
pub fn parse_response<'a>(doc: &'a str, profile_oid: &str) -> Result<Policy<'a>, PkiwsError> {
    let mut policy = Policy::empty();
    parse_response_into(doc, profile_oid, &mut policy)?;
    Ok(policy)
}

/// [`parse_response`] into `policy` (emptied first), the form the engine
/// uses: the policy — 2.7 KB on a 32-bit target, most of it the 32
/// attributes — then exists once, and the attributes of the policy being
/// read go straight into it. (Returned by value and read into a per-policy
/// copy first, the parse took 24 KB of the appliance's stack.)
#[inline(never)]
pub fn parse_response_into<'a>(
    doc: &'a str,
    profile_oid: &str,
    policy: &mut Policy<'a>,
) -> Result<(), PkiwsError> {
    *policy = Policy::empty();
    let info = crate::pkiws::body_info(doc)?;
    if info.first != "getPoliciesResponse" {
        return Err(XmlError::Missing {
            what: "getPoliciesResponse",
        }
        .into());
    }
    // Pass 1: header, oIDs and cAs (they follow the policies in the document).
    let mut oids: heapless::Vec<OidEntry<'a>, 64> = heapless::Vec::new();
    let mut cas: heapless::Vec<CaInfo<'a>, 8> = heapless::Vec::new();
    let mut cur_oid: Option<(Option<Text<'a>>, Option<u32>, Option<Text<'a>>)> = None;
    let mut cur_ca: Option<CaInfo<'a>> = None;
    xml::walk(doc, |p, e| {
        let top = p.get(3).copied();
        if p.len() == 4 {
            if let Some(t) = text_in(p, &["getPoliciesResponse", "clientTransactionID"], &e) {
                policy.client_transaction_id = Some(t);
            }
            if let Some(t) = text_in(p, &["getPoliciesResponse", "serverTransactionID"], &e) {
                policy.server_transaction_id = Some(t);
            }
        }
        if p.len() == 5 && top == Some("response") {
            if let Some(t) = text_in(p, &["response", "policyID"], &e) {
                policy.policy_id = Some(t);
            }
            if let Some(t) = text_in(p, &["response", "policyFriendlyName"], &e) {
                policy.friendly_name = Some(t);
            }
            if let Some(t) = text_in(p, &["response", "nextUpdateHours"], &e) {
                policy.next_update_hours = Some(t.u32("nextUpdateHours")?);
            }
        }
        if top == Some("oIDs") {
            match e {
                Event::Start { local: "oID", .. } if p.len() == 5 => {
                    cur_oid = Some((None, None, None))
                }
                Event::End { local: "oID" } if p.len() == 5 => {
                    if let Some((Some(value), Some(reference), name)) = cur_oid.take() {
                        if value.eq_str(profile_oid)
                            && !oids.iter().any(|o| o.value.eq_str(profile_oid))
                        {
                            policy.profile_name = name;
                        }
                        oids.push(OidEntry { value, reference })
                            .map_err(|_| XmlError::TooMany { what: "oID" })?;
                    }
                }
                _ => {
                    if let Some(o) = cur_oid.as_mut() {
                        if let Some(t) = text_in(p, &["oID", "value"], &e) {
                            o.0 = Some(t);
                        } else if let Some(t) = text_in(p, &["oID", "oIDReferenceID"], &e) {
                            o.1 = Some(t.u32("oIDReferenceID")?);
                        } else if let Some(t) = text_in(p, &["oID", "defaultName"], &e) {
                            o.2 = Some(t);
                        }
                    }
                }
            }
        }
        if top == Some("cAs") {
            match e {
                Event::Start { local: "cA", .. } if p.len() == 5 => {
                    cur_ca = Some(CaInfo {
                        reference: 0,
                        certificate: None,
                        intermediates: heapless::Vec::new(),
                        root: None,
                        issuer_name: None,
                        ca_type: None,
                    })
                }
                Event::End { local: "cA" } if p.len() == 5 => {
                    if let Some(c) = cur_ca.take() {
                        cas.push(c).map_err(|_| XmlError::TooMany { what: "cA" })?;
                    }
                }
                _ => {
                    if let Some(c) = cur_ca.as_mut() {
                        if let Some(t) = text_in(p, &["cA", "cAReferenceID"], &e) {
                            c.reference = t.u32("cAReferenceID")?;
                        } else if let Some(t) = text_in(p, &["cA", "certificate"], &e) {
                            c.certificate = Some(t);
                        } else if let Some(t) =
                            text_in(p, &["cA", "intermediateCACertificates"], &e)
                        {
                            c.intermediates.push(t).map_err(|_| XmlError::TooMany {
                                what: "intermediateCACertificates",
                            })?;
                        } else if let Some(t) = text_in(p, &["cA", "rootCACertificate"], &e) {
                            c.root = Some(t);
                        } else if let Some(t) = text_in(p, &["cA", "cAIssuerName"], &e) {
                            c.issuer_name = Some(t);
                        } else if let Some(t) = text_in(p, &["cA", "cAType"], &e) {
                            c.ca_type = Some(t);
                        }
                    }
                }
            }
        }
        Ok(())
    })?;
    let want = oids
        .iter()
        .find(|o| o.value.eq_str(profile_oid))
        .ok_or(PkiwsError::ProfileNotInPolicy)?;
    let want_ref = want.reference;
    let resolve = |r: u32| oids.iter().find(|o| o.reference == r).map(|o| o.value);

    // Pass 2: the policy whose policyOIDReference is ours. Its attributes
    // are read into `policy.attributes`, emptied at each policy that is not.
    #[derive(Default)]
    struct Cur<'a> {
        reference: Option<u32>,
        ca_refs: heapless::Vec<u32, 4>,
        pending: Option<PolicyAttribute<'a>>,
        ext_ref: Option<u32>,
        ext_critical: bool,
        validity: Option<u32>,
        renewal: Option<u32>,
        key_size: Option<u32>,
        exportable: Option<bool>,
        alg_ref: Option<u32>,
        delivery: Option<Text<'a>>,
        mode: Option<Text<'a>>,
        status: Option<Text<'a>>,
    }
    let mut cur: Option<Cur<'a>> = None;
    let mut found: Option<Cur<'a>> = None;
    xml::walk(doc, |p, e| {
        if found.is_some() || !p.contains(&"policies") {
            return Ok(());
        }
        match e {
            Event::Start {
                local: "policy", ..
            } if ends_with(p, &["policies", "policy"]) => {
                cur = Some(Cur::default());
                policy.attributes.clear();
                return Ok(());
            }
            Event::End { local: "policy" } if ends_with(p, &["policies", "policy"]) => {
                if let Some(c) = cur.take() {
                    if c.reference == Some(want_ref) {
                        found = Some(c);
                    } else {
                        policy.attributes.clear();
                    }
                }
                return Ok(());
            }
            _ => {}
        }
        let Some(c) = cur.as_mut() else { return Ok(()) };
        // Attribute pairs: subject, extension, seat.
        let pair = ends_with(p, &["subjectNameAttributeNameValuePair"])
            || ends_with(p, &["extensionAttributeNameValuePair"]);
        match e {
            Event::Start {
                local: "subjectNameAttributeNameValuePair",
                ..
            } => {
                c.pending = Some(PolicyAttribute::empty(Location::Subject));
            }
            Event::Start {
                local: "extensionAttributeNameValuePair",
                ..
            } => {
                c.pending = Some(PolicyAttribute::empty(Location::Extension {
                    oid: c.ext_ref.and_then(resolve),
                    critical: c.ext_critical,
                }));
            }
            Event::Start {
                local: "seatIdInfo",
                ..
            } => c.pending = Some(PolicyAttribute::empty(Location::Seat)),
            Event::Start {
                local: "Extension", ..
            } => {
                c.ext_ref = None;
                c.ext_critical = false;
            }
            Event::End {
                local:
                    "subjectNameAttributeNameValuePair"
                    | "extensionAttributeNameValuePair"
                    | "seatIdInfo",
            } => {
                if let Some(a) = c.pending.take() {
                    if a.name.is_some() || a.kind.is_some() {
                        policy.attributes.push(a).map_err(|_| XmlError::TooMany {
                            what: "policy attributes",
                        })?;
                    }
                }
            }
            _ => {}
        }
        let _ = pair;
        if let Some(a) = c.pending.as_mut() {
            if let Event::Attr { local, value, .. } = e {
                if ends_with(p, &["attributeNameValue"]) {
                    match local {
                        "mandatory" => a.mandatory = value.bool("@mandatory")?,
                        "type" => a.value_type = Some(value),
                        _ => {}
                    }
                }
            }
            if let Some(t) = text_in(p, &["attributeName"], &e) {
                a.kind = Some(t);
            } else if let Some(t) = text_in(p, &["attributeNameValue"], &e) {
                a.name = Some(t);
            } else if let Some(t) = text_in(p, &["attributeNameValueProperty", "value"], &e) {
                a.fixed_value = Some(t);
            } else if let Some(t) = text_in(p, &["attributeNameValueProperty", "source"], &e) {
                a.source = Some(t);
            } else if let Some(t) = text_in(p, &["attributeNameValueProperty", "mandatory"], &e) {
                a.mandatory |= t.bool("attributeNameValueProperty/mandatory")?;
            }
            return Ok(());
        }
        if let Some(t) = text_in(p, &["policy", "policyOIDReference"], &e) {
            c.reference = Some(t.u32("policyOIDReference")?);
        } else if let Some(t) = text_in(p, &["policy", "cAs", "cAReference"], &e) {
            c.ca_refs
                .push(t.u32("cAReference")?)
                .map_err(|_| XmlError::TooMany {
                    what: "cAReference",
                })?;
        } else if let Some(t) = text_in(p, &["Extension", "extensionOIDReference"], &e) {
            c.ext_ref = Some(t.u32("extensionOIDReference")?);
        } else if let Some(t) = text_in(p, &["Extension", "extensionCriticalFlag"], &e) {
            c.ext_critical = t.bool("extensionCriticalFlag")?;
        } else if let Some(t) = text_in(p, &["certificateValidity", "validityPeriodDays"], &e) {
            c.validity = Some(t.u32("validityPeriodDays")?);
        } else if let Some(t) = text_in(p, &["certificateValidity", "renewalPeriodDays"], &e) {
            c.renewal = Some(t.u32("renewalPeriodDays")?);
        } else if let Some(t) = text_in(p, &["privateKeyAttributes", "keysize"], &e) {
            c.key_size = Some(t.u32("keysize")?);
        } else if let Some(t) = text_in(p, &["privateKeyAttributes", "keyexportable"], &e) {
            c.exportable = Some(t.bool("keyexportable")?);
        } else if let Some(t) = text_in(p, &["privateKeyAttributes", "algorithmOIDReference"], &e) {
            c.alg_ref = Some(t.u32("algorithmOIDReference")?);
        } else if let Some(t) = text_in(p, &["systemInfo", "certificateDeliveryFormat"], &e) {
            c.delivery = Some(t);
        } else if let Some(t) = text_in(p, &["attributes", "deploymentMode"], &e) {
            c.mode = Some(t);
        } else if let Some(t) = text_in(p, &["attributes", "status"], &e) {
            c.status = Some(t);
        }
        Ok(())
    })?;
    let c = found.ok_or(PkiwsError::ProfileNotInPolicy)?;
    policy.validity_days = c.validity;
    policy.renewal_days = c.renewal;
    policy.key_size = c.key_size;
    policy.key_exportable = c.exportable;
    policy.key_algorithm = c.alg_ref.and_then(resolve);
    policy.delivery_format = c.delivery;
    policy.deployment_mode = c.mode;
    policy.status = c.status;
    for r in &c.ca_refs {
        if let Some(ca) = cas.iter().find(|x| x.reference == *r) {
            policy
                .cas
                .push(ca.clone())
                .map_err(|_| XmlError::TooMany { what: "cA" })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    const EXAMPLE: &str = include_str!("../../tests/data/pkiws/getPoliciesResponse.xml");
    const OID: &str = "2.16.840.1.113733.1.16.1.2.3.1.1.47196109";

    #[test]
    fn request_shape() {
        let mut buf = [0u8; 1024];
        let x = write_request(Some("icc-pol-5f0c2a9e41d34b7c"), &[OID], &mut buf).unwrap();
        assert!(x.contains("<pol:version>2.0</pol:version><pol:clientTransactionID>icc-pol-5f0c2a9e41d34b7c</pol:clientTransactionID><pol:requestFilter><pol:policyIDs><pol:oid>2.16.840.1.113733.1.16.1.2.3.1.1.47196109</pol:oid>"));
        let long = "x".repeat(41);
        assert_eq!(
            write_request(Some(&long), &[OID], &mut buf),
            Err(XmlError::TransactionIdTooLong { len: 41 })
        );
    }

    #[test]
    fn example_response() {
        let p = parse_response(EXAMPLE, OID).unwrap();
        assert!(p.server_transaction_id.unwrap().eq_str("7A1C4E0B22D94F1E"));
        assert_eq!(p.validity_days, Some(365));
        assert_eq!(p.key_size, Some(2048));
        assert_eq!(p.key_exportable, Some(true));
        assert!(p.key_algorithm.unwrap().eq_str("1.2.840.113549.1.1.1"));
        assert!(p.profile_name.unwrap().eq_str("Intune user certificate"));
        let subj: std::vec::Vec<_> = p
            .attributes
            .iter()
            .filter(|a| a.location == Location::Subject)
            .collect();
        assert_eq!(subj.len(), 2);
        assert!(
            subj[0].kind.unwrap().eq_str("CN")
                && subj[0].name.unwrap().eq_str("common_name")
                && subj[0].mandatory
        );
        assert!(subj[1].kind.unwrap().eq_str("E") && !subj[1].mandatory);
        let san: std::vec::Vec<_> = p
            .attributes
            .iter()
            .filter(|a| a.location.is_san())
            .collect();
        assert_eq!(san.len(), 2);
        assert!(
            san[1].kind.unwrap().eq_str("otherName.userPrincipalName")
                && san[1].name.unwrap().eq_str("otherNameUPN")
        );
        let seat = p
            .attributes
            .iter()
            .find(|a| a.location == Location::Seat)
            .unwrap();
        assert!(seat.name.unwrap().eq_str("mail_email") && seat.mandatory);
        assert_eq!(p.cas.len(), 1);
        let mut buf = [0u8; 4096];
        let der = p.cas[0]
            .certificate
            .unwrap()
            .base64("certificate", &mut buf)
            .unwrap();
        crate::cert::CertificateRef::parse(der).unwrap();
        assert!(matches!(
            parse_response(EXAMPLE, "1.2.3"),
            Err(PkiwsError::ProfileNotInPolicy)
        ));
    }
}

/// A `getPolicies` request, read back (for `raconn inspect` and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetPoliciesRef<'a> {
    /// `version`.
    pub version: Option<Text<'a>>,
    /// `clientTransactionID`.
    pub client_transaction_id: Option<Text<'a>>,
    /// `requestFilter/policyIDs/oid`, first 8.
    pub oids: heapless::Vec<Text<'a>, 8>,
}

/// Reads a `getPolicies` request.
pub fn parse_request(doc: &str) -> Result<GetPoliciesRef<'_>, XmlError> {
    crate::pkiws::expect_body(doc, "getPolicies")?;
    let mut r = GetPoliciesRef {
        version: None,
        client_transaction_id: None,
        oids: heapless::Vec::new(),
    };
    xml::walk(doc, |p, e| {
        if let Some(t) = text_in(p, &["getPolicies", "version"], &e) {
            r.version = Some(t);
        } else if let Some(t) = text_in(p, &["getPolicies", "clientTransactionID"], &e) {
            r.client_transaction_id = Some(t);
        } else if let Some(t) = text_in(p, &["policyIDs", "oid"], &e) {
            r.oids
                .push(t)
                .map_err(|_| XmlError::TooMany { what: "oid" })?;
        }
        Ok(())
    })?;
    Ok(r)
}

/// The profile OIDs a `getPoliciesResponse` has policies for (first 16).
pub fn profile_oids(doc: &str) -> Result<heapless::Vec<Text<'_>, 16>, XmlError> {
    let mut refs: heapless::Vec<u32, 16> = heapless::Vec::new();
    let mut oids: heapless::Vec<(Text<'_>, u32), 64> = heapless::Vec::new();
    let mut cur: (Option<Text<'_>>, Option<u32>) = (None, None);
    xml::walk(doc, |p, e| {
        if let Some(t) = text_in(p, &["policy", "policyOIDReference"], &e) {
            let _ = refs.push(t.u32("policyOIDReference")?);
        } else if let Some(t) = text_in(p, &["oIDs", "oID", "value"], &e) {
            cur.0 = Some(t);
        } else if let Some(t) = text_in(p, &["oIDs", "oID", "oIDReferenceID"], &e) {
            cur.1 = Some(t.u32("oIDReferenceID")?);
        } else if let Event::End { local: "oID" } = e {
            if let (Some(v), Some(r)) = cur {
                let _ = oids.push((v, r));
            }
            cur = (None, None);
        }
        Ok(())
    })?;
    let mut out = heapless::Vec::new();
    for r in &refs {
        if let Some((v, _)) = oids.iter().find(|(_, x)| x == r) {
            let _ = out.push(*v);
        }
    }
    Ok(out)
}
