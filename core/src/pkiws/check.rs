//! The pre-send check: compare what a request will carry (subject format,
//! SAN kinds, other-names) with the profile's attribute list from the policy,
//! and refuse locally — naming the attribute — whenever the CA would answer
//! "Policy verification failed". It also decides the `nameValuePair` names:
//! from the policy (they differ between DigiCert profiles), then a profile
//! override, and only then the documented defaults (`common_name`,
//! `mail_email`, `otherNameUPN`; `protocol.md` §5.4).
//!
//! Attribute kinds are read as `protocol.md` §4.4 sets out: `attributeName`
//! is the kind (CN, E, rfc822Name, otherName.userPrincipalName,
//! otherName.<OID>, givenName, surname, …), `attributeNameValue` the name.

use core::fmt;

use crate::error::explain;
use crate::oid::Oid;
use crate::pkiws::policy::{Location, Policy, PolicyAttribute};
use crate::profile::{SanKindSel, SubjectFormat};
use crate::xml::Text;

/// Something the request carries that the profile must accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Field {
    /// Subject common name.
    SubjectCn,
    /// Subject e-mail (E).
    SubjectEmail,
    /// SAN rfc822Name.
    SanEmail,
    /// SAN UPN other-name.
    SanUpn,
    /// SAN other-name with this OID (dotted, in `other_oid`).
    SanOtherName,
    /// The SID (KB5014754): the security extension or the SAN URI.
    Sid,
}

impl Field {
    /// How the field is called in messages.
    pub const fn describe(self) -> &'static str {
        match self {
            Field::SubjectCn => "subject CN",
            Field::SubjectEmail => "subject E (email)",
            Field::SanEmail => "SAN email (rfc822Name)",
            Field::SanUpn => "SAN UPN (otherName.userPrincipalName)",
            Field::SanOtherName => "SAN other-name",
            Field::Sid => "SID (KB5014754 extension or SAN URI)",
        }
    }
    /// Documented default nameValuePair name.
    pub const fn default_name(self) -> Option<&'static str> {
        match self {
            Field::SubjectCn => Some("common_name"),
            Field::SubjectEmail | Field::SanEmail => Some("mail_email"),
            Field::SanUpn => Some("otherNameUPN"),
            Field::SanOtherName | Field::Sid => None,
        }
    }
}

/// Why the request does not fit the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckError {
    /// The request carries a field the profile does not list.
    NotInProfile {
        field: Field,
        other_oid: Option<Oid>,
    },
    /// The profile requires an attribute raconn cannot supply.
    MandatoryMissing { attribute: heapless::String<48> },
    /// The profile needs first/last name, which PKCS profiles do not supply.
    NeedsNameParts { attribute: heapless::String<48> },
    /// No nameValuePair name for a field: the policy does not say and there is no default.
    NoName {
        field: Field,
        other_oid: Option<Oid>,
    },
    /// More pairs than the request keeps.
    TooManyPairs,
    /// More SAN entries than a request carries.
    TooManySanEntries { max: usize },
    /// More other-names than a request carries.
    TooManyOtherNames { max: usize },
}

explain!(CheckError {
    NotInProfile { field, other_oid } => ("RC-CHECK-001", "the request carries a field the certificate profile does not accept (the CA would answer \"Policy verification failed\")", "remove that field from the request's subject format or SAN kinds, or add it to the DigiCert profile"), "{}{}", field.describe(), SpaceOid(other_oid);
    MandatoryMissing { attribute } => ("RC-CHECK-002", "the certificate profile requires an attribute this request does not supply", "add the field to the raconn profile, or make it optional or fixed in the DigiCert profile"), "{attribute}";
    NeedsNameParts { attribute } => ("RC-CHECK-003", "the certificate profile requires first/last name, which a PKCS profile does not supply", "change the DigiCert profile so it asks for CN=<upn> instead of first and last name"), "{attribute}";
    NoName { field, other_oid } => ("RC-CHECK-004", "neither the policy nor raconn knows the nameValuePair name for a field", "give the nameValuePair name for that attribute kind in the profile's name overrides"), "{}{}", field.describe(), SpaceOid(other_oid);
    TooManyPairs => ("RC-CHECK-005", "the request would carry more attributes than raconn sends", "reduce the SAN kinds of the profile");
    TooManySanEntries { max } => ("RC-CHECK-006", "the request would carry more subject alternative names than raconn sends", "reduce the SAN kinds of the profile"), "at most {max}";
    TooManyOtherNames { max } => ("RC-CHECK-007", "the profile asks for more other-names than raconn sends", "reduce the other-name SAN kinds of the profile"), "at most {max}";
});

/// ` <oid>` when there is one (for details).
struct SpaceOid<'a>(&'a Option<Oid>);

impl fmt::Display for SpaceOid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(o) => write!(f, " {o}"),
            None => Ok(()),
        }
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for CheckError {
    fn format(&self, f: defmt::Formatter<'_>) {
        use crate::error::Explain;
        match self {
            Self::NotInProfile { field, .. } | Self::NoName { field, .. } => {
                defmt::write!(f, "{=str}: {=str}", self.code(), field.describe())
            }
            Self::MandatoryMissing { attribute } | Self::NeedsNameParts { attribute } => {
                defmt::write!(f, "{=str}: {=str}", self.code(), attribute.as_str())
            }
            _ => defmt::write!(f, "{=str}", self.code()),
        }
    }
}

fn copy_name(t: Option<Text<'_>>) -> heapless::String<48> {
    let mut s = heapless::String::new();
    if let Some(t) = t {
        for c in t.raw.trim().chars() {
            if s.push(c).is_err() {
                break;
            }
        }
    }
    s
}

fn kind_is(a: &PolicyAttribute<'_>, kinds: &[&str]) -> bool {
    a.kind.is_some_and(|k| {
        kinds
            .iter()
            .any(|x| k.plain().is_some_and(|p| p.eq_ignore_ascii_case(x)))
    })
}

fn other_name_kind(a: &PolicyAttribute<'_>, oid: &Oid) -> bool {
    let Some(k) = a.kind.and_then(|k| k.plain()) else {
        return false;
    };
    let Some(rest) = k.strip_prefix("otherName.") else {
        return false;
    };
    Oid::new(rest).is_ok_and(|o| o == *oid)
}

/// One nameValuePair to send: its name, and which value it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedPair<'a> {
    /// The name (from the policy, an override, or the default).
    pub name: &'a str,
    /// What value goes with it.
    pub value: ValueOf,
}

/// Which value a pair carries; the engine fills it from the identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueOf {
    /// The common name as the subject carries it.
    SubjectCn,
    /// The resolved e-mail.
    Email,
    /// The resolved UPN.
    Upn,
    /// The n-th other-name (base64 of its bytes).
    OtherName(usize),
    /// The seat id.
    Seat,
    /// A fixed value from the profile.
    Fixed,
}

/// A name override from the raconn profile: attribute kind → name.
pub type Override<'a> = (&'a str, &'a str);

/// The nameValuePair a SID (KB5014754) is sent under, if the profile names
/// one: an override for kind `sid`, else the policy's attribute for a SAN
/// URI (`uniformResourceIdentifier`) when the SID goes there, else one for
/// the SID extension (its OID). The second value is true when the pair
/// carries the SAN URI, false for the SID itself. How DigiCert names it is
/// not public (service.md §5): with no name, the SID travels in the CSR only.
pub fn sid_pair<'a>(
    policy: &Policy<'a>,
    placement: crate::profile::SidPlacement,
    overrides: &[Override<'a>],
) -> Option<(&'a str, bool)> {
    if let Some((_, n)) = overrides
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("sid"))
    {
        return Some((n, placement.san_url()));
    }
    let name_of =
        |a: &PolicyAttribute<'a>| a.name.and_then(|n| n.plain()).filter(|n| !n.is_empty());
    if placement.san_url() {
        let hit = policy.attributes.iter().find(|a| {
            a.location.is_san() && kind_is(a, &["uniformResourceIdentifier", "URI", "url"])
        });
        if let Some(n) = hit.and_then(name_of) {
            return Some((n, true));
        }
    }
    if placement.extension() {
        let hit = policy.attributes.iter().find(|a| {
            kind_is(
                a,
                &[
                    "1.3.6.1.4.1.311.25.2",
                    "szOID_NTDS_CA_SECURITY_EXT",
                    "objectSid",
                    "sid",
                ],
            )
        });
        if let Some(n) = hit.and_then(name_of) {
            return Some((n, false));
        }
    }
    None
}

/// Plans the pairs for a request and checks it against the policy.
///
/// `other_names` lists the OIDs of the other-names the request carries, in
/// order. Returns the pairs (names borrowed from the policy or the inputs).
#[inline(never)]
pub fn plan<'a>(
    policy: &Policy<'a>,
    format: SubjectFormat,
    san: &[SanKindSel],
    overrides: &[Override<'a>],
) -> Result<heapless::Vec<PlannedPair<'a>, 12>, CheckError> {
    let mut out: heapless::Vec<PlannedPair<'a>, 12> = heapless::Vec::new();
    let attrs = &policy.attributes;
    let find = |pred: &dyn Fn(&PolicyAttribute<'a>) -> bool| attrs.iter().find(|a| pred(a));
    let override_for = |kinds: &[&str]| {
        overrides
            .iter()
            .find(|(k, _)| kinds.iter().any(|x| x.eq_ignore_ascii_case(k)))
            .map(|(_, n)| *n)
    };
    let push = |out: &mut heapless::Vec<PlannedPair<'a>, 12>, name: &'a str, value: ValueOf| {
        if out.iter().any(|p| p.name == name) {
            return Ok(());
        }
        out.push(PlannedPair { name, value })
            .map_err(|_| CheckError::TooManyPairs)
    };
    let name_of =
        |a: &PolicyAttribute<'a>| a.name.and_then(|n| n.plain()).filter(|n| !n.is_empty());

    // A profile built on first and last name (mandatory, not fixed) cannot
    // be served by a PKCS request, which carries a CN: say that first,
    // rather than that the CN is not in the profile.
    let needs_name_parts = |a: &&PolicyAttribute<'a>| {
        a.mandatory
            && a.fixed_value.is_none()
            && (kind_is(a, &["givenName", "surname", "GN", "SN", "G"])
                || name_of(a).is_some_and(|n| {
                    n.eq_ignore_ascii_case("mail_firstName")
                        || n.eq_ignore_ascii_case("mail_lastName")
                }))
    };
    if let Some(a) = attrs.iter().find(needs_name_parts) {
        return Err(CheckError::NeedsNameParts {
            attribute: copy_name(a.name),
        });
    }

    // Subject.
    let mut wanted: heapless::Vec<(Field, ValueOf, &[&str]), 4> = heapless::Vec::new();
    let _ = wanted.push((Field::SubjectCn, ValueOf::SubjectCn, &["CN", "commonName"]));
    if format == SubjectFormat::CommonNameIncludingEmail {
        let _ = wanted.push((Field::SubjectEmail, ValueOf::Email, &["E", "emailAddress"]));
    }
    for (field, value, kinds) in &wanted {
        let a = find(&|a| a.location == Location::Subject && kind_is(a, kinds)).ok_or(
            CheckError::NotInProfile {
                field: *field,
                other_oid: None,
            },
        )?;
        let name = override_for(kinds)
            .or_else(|| name_of(a))
            .or(field.default_name())
            .ok_or(CheckError::NoName {
                field: *field,
                other_oid: None,
            })?;
        push(&mut out, name, *value)?;
    }
    // SAN.
    let mut other_index = 0;
    for s in san {
        let (field, value, kinds, oid): (Field, ValueOf, &[&str], Option<Oid>) = match s {
            SanKindSel::Email => (
                Field::SanEmail,
                ValueOf::Email,
                &["rfc822Name", "email"],
                None,
            ),
            SanKindSel::Upn => (
                Field::SanUpn,
                ValueOf::Upn,
                &["otherName.userPrincipalName", "userPrincipalName"],
                None,
            ),
            SanKindSel::OtherName(o) => {
                let v = ValueOf::OtherName(other_index);
                other_index += 1;
                (Field::SanOtherName, v, &[], Some(*o))
            }
        };
        let a = match oid {
            Some(o) => find(&|a| a.location.is_san() && other_name_kind(a, &o)),
            None => find(&|a| a.location.is_san() && kind_is(a, kinds)),
        }
        .ok_or(CheckError::NotInProfile {
            field,
            other_oid: oid,
        })?;
        let mut okind: heapless::String<64> = heapless::String::new();
        if let Some(o) = oid {
            let _ = fmt::write(&mut okind, format_args!("otherName.{o}"));
        }
        let ov = if oid.is_some() {
            override_for(&[okind.as_str()])
        } else {
            override_for(kinds)
        };
        let name =
            ov.or_else(|| name_of(a))
                .or(field.default_name())
                .ok_or(CheckError::NoName {
                    field,
                    other_oid: oid,
                })?;
        push(&mut out, name, value)?;
    }
    // Seat.
    if let Some(a) = find(&|a| a.location == Location::Seat) {
        if let Some(n) = name_of(a) {
            push(&mut out, n, ValueOf::Seat)?;
        }
    }
    // Mandatory attributes nobody supplies.
    for a in attrs
        .iter()
        .filter(|a| a.mandatory && a.fixed_value.is_none())
    {
        let Some(n) = name_of(a) else { continue };
        if out.iter().any(|p| p.name == n) {
            continue;
        }
        return Err(CheckError::MandatoryMissing {
            attribute: copy_name(a.name),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;
    use crate::pkiws::policy::parse_response;

    const EXAMPLE: &str = include_str!("../../tests/data/pkiws/getPoliciesResponse.xml");
    const OID: &str = "2.16.840.1.113733.1.16.1.2.3.1.1.47196109";

    #[test]
    fn plan_from_example_policy() {
        let p = parse_response(EXAMPLE, OID).unwrap();
        let pairs = plan(
            &p,
            SubjectFormat::CommonNameIncludingEmail,
            &[SanKindSel::Email, SanKindSel::Upn],
            &[],
        )
        .unwrap();
        let names: std::vec::Vec<_> = pairs.iter().map(|p| (p.name, p.value)).collect();
        assert_eq!(
            names,
            [
                ("common_name", ValueOf::SubjectCn),
                ("mail_email", ValueOf::Email),
                ("otherNameUPN", ValueOf::Upn)
            ]
        );
        // A GUID other-name is not in that profile: refused locally, naming it.
        let guid = Oid::new_unwrap("1.3.6.1.4.1.311.25.1");
        assert_eq!(
            plan(
                &p,
                SubjectFormat::CommonName,
                &[SanKindSel::OtherName(guid)],
                &[]
            ),
            Err(CheckError::NotInProfile {
                field: Field::SanOtherName,
                other_oid: Some(guid)
            })
        );
        assert_eq!(
            crate::error::Explain::code(
                &plan(
                    &p,
                    SubjectFormat::CommonName,
                    &[SanKindSel::OtherName(guid)],
                    &[]
                )
                .unwrap_err()
            ),
            "RC-CHECK-001"
        );
        // Overrides win over the policy's names.
        let pairs = plan(
            &p,
            SubjectFormat::CommonName,
            &[SanKindSel::Upn],
            &[("otherName.userPrincipalName", "upn_x")],
        )
        .unwrap();
        assert_eq!(pairs[1].name, "upn_x");
    }

    fn code(e: CheckError) -> &'static str {
        crate::error::Explain::code(&e)
    }

    #[test]
    fn each_refusal_has_its_code() {
        let guid = Oid::new_unwrap("1.3.6.1.4.1.311.25.1");
        // A mandatory subject attribute (OU) nobody supplies.
        let ou = EXAMPLE.replace(
            "<ns2:attributeName>E</ns2:attributeName>\n          <ns2:attributeNameValue mandatory=\"false\" type=\"string\">mail_email",
            "<ns2:attributeName>OU</ns2:attributeName>\n          <ns2:attributeNameValue mandatory=\"true\" type=\"string\">org_unit",
        );
        assert_ne!(ou, EXAMPLE);
        let p = parse_response(&ou, OID).unwrap();
        let e = plan(&p, SubjectFormat::CommonName, &[SanKindSel::Email], &[]).unwrap_err();
        assert_eq!(code(e), "RC-CHECK-002");
        // A GUID other-name the profile takes, with no name to send it under.
        let upn = "<ns2:attributeName>otherName.userPrincipalName</ns2:attributeName>\n           <ns2:attributeNameValue mandatory=\"false\" type=\"string\">otherNameUPN</ns2:attributeNameValue>";
        assert!(EXAMPLE.contains(upn));
        let unnamed = EXAMPLE.replace(
            upn,
            "<ns2:attributeName>otherName.1.3.6.1.4.1.311.25.1</ns2:attributeName>\n           <ns2:attributeNameValue mandatory=\"false\" type=\"string\"></ns2:attributeNameValue>",
        );
        let p = parse_response(&unnamed, OID).unwrap();
        let e = plan(
            &p,
            SubjectFormat::CommonName,
            &[SanKindSel::OtherName(guid)],
            &[],
        )
        .unwrap_err();
        assert_eq!(code(e), "RC-CHECK-004");
        // Thirteen other-names the profile takes: more pairs than are sent.
        let many: std::string::String = (1..=13)
            .map(|i| {
                std::format!(
                    "<ns2:extensionAttributeNameValuePair><ns2:attributeName>otherName.1.2.3.{i}</ns2:attributeName><ns2:attributeNameValue mandatory=\"false\" type=\"string\">other_{i}</ns2:attributeNameValue></ns2:extensionAttributeNameValuePair>"
                )
            })
            .collect();
        let crowded = EXAMPLE.replace(upn, &std::format!("{upn}</ns2:extensionAttributeNameValuePair>{many}<ns2:extensionAttributeNameValuePair><ns2:attributeName>x</ns2:attributeName><ns2:attributeNameValue mandatory=\"false\" type=\"string\">x</ns2:attributeNameValue>"));
        let p = parse_response(&crowded, OID).unwrap();
        let oids: std::vec::Vec<Oid> = (1..=13)
            .map(|i| Oid::new(&std::format!("1.2.3.{i}")).unwrap())
            .collect();
        let kinds: std::vec::Vec<SanKindSel> =
            oids.iter().map(|o| SanKindSel::OtherName(*o)).collect();
        let e = plan(&p, SubjectFormat::CommonName, &kinds, &[]).unwrap_err();
        assert_eq!(code(e), "RC-CHECK-005");
    }
}
