//! SOAP faults (SOAP 1.1 §4.4; SOAP 1.2 Part 1 §5.4, read defensively) and
//! their mapping onto the failures the reference connector documents
//! (`protocol.md` §2 and §6).

use crate::pkiws::{body_info, PkiwsError, SoapVersion};
use crate::xml::{self, ends_with, Event, Text, XmlError};

/// A SOAP fault, borrowed from the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault<'a> {
    /// Which envelope it came in.
    pub soap: SoapVersion,
    /// `faultcode` (1.1) or `Code/Value` (1.2).
    pub code: Option<Text<'a>>,
    /// `faultstring` (1.1) or `Reason/Text` (1.2).
    pub string: Option<Text<'a>>,
    /// Leaves under `detail`/`Detail`: (local name, text), first 8.
    pub detail: heapless::Vec<(&'a str, Text<'a>), 8>,
}

impl<'a> Fault<'a> {
    /// The first detail leaf whose local name is `name` (case-insensitive).
    pub fn detail_leaf(&self, name: &str) -> Option<Text<'a>> {
        self.detail
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, t)| *t)
    }

    /// Maps the fault onto a documented failure.
    pub fn classify(&self) -> PkiwsError {
        let mut hay = [
            self.string,
            self.detail_leaf("message"),
            self.detail_leaf("errorMessage"),
        ];
        let has =
            |t: &Option<Text<'_>>, needle: &str| t.is_some_and(|t| contains_ci(t.raw, needle));
        for t in hay.iter_mut() {
            if has(t, "not understood") || has(t, "profile not found") || has(t, "unknown profile")
            {
                return PkiwsError::ProfileUnknown;
            }
            if has(t, "policy verification") {
                return PkiwsError::PolicyVerification;
            }
            if has(t, "special character") || has(t, "firstname") || has(t, "lastname") {
                return PkiwsError::SpecialCharacters;
            }
        }
        PkiwsError::Fault
    }
}

fn contains_ci(h: &str, n: &str) -> bool {
    let (h, n) = (h.as_bytes(), n.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// Reads a fault when the body's first element is `Fault`; `Ok(None)` otherwise.
pub fn parse(doc: &str) -> Result<Option<Fault<'_>>, XmlError> {
    let info = body_info(doc)?;
    if info.first != "Fault" {
        return Ok(None);
    }
    let mut f = Fault {
        soap: info.soap,
        code: None,
        string: None,
        detail: heapless::Vec::new(),
    };
    let mut last_leaf: Option<&str> = None;
    xml::walk(doc, |p, e| {
        if p.get(2) != Some(&"Fault") {
            return Ok(());
        }
        match e {
            Event::Start { local, .. } => last_leaf = Some(local),
            Event::Text(t) if !t.raw.trim().is_empty() => {
                let in_detail = p.iter().any(|n| *n == "detail" || *n == "Detail");
                if ends_with(p, &["Fault", "faultcode"]) || ends_with(p, &["Code", "Value"]) {
                    f.code.get_or_insert(t);
                } else if ends_with(p, &["Fault", "faultstring"])
                    || ends_with(p, &["Reason", "Text"])
                {
                    f.string.get_or_insert(t);
                } else if in_detail {
                    if let Some(n) = last_leaf {
                        let _ = f.detail.push((n, t));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(Some(f))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn soap11_fault_from_protocol_md() {
        let doc = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
 <soapenv:Body><soapenv:Fault><faultcode>soapenv:Client</faultcode>
   <faultstring>A request element is not understood.</faultstring>
   <detail><ns2:errorCode xmlns:ns2="x">0000</ns2:errorCode><ns2:message xmlns:ns2="x">Certificate profile not found</ns2:message></detail>
 </soapenv:Fault></soapenv:Body></soapenv:Envelope>"#;
        let f = parse(doc).unwrap().unwrap();
        assert_eq!(f.soap, SoapVersion::V11);
        assert!(f.code.unwrap().eq_str("soapenv:Client"));
        assert!(f.detail_leaf("ERRORCODE").unwrap().eq_str("0000"));
        assert_eq!(f.classify(), PkiwsError::ProfileUnknown);
    }

    #[test]
    fn soap12_fault() {
        let doc = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault>
<s:Code><s:Value>s:Sender</s:Value></s:Code><s:Reason><s:Text xml:lang="en">Policy Verification failed. Attribute does not fall under supported Certificate template attributes list: otherNameUPN</s:Text></s:Reason>
</s:Fault></s:Body></s:Envelope>"#;
        let f = parse(doc).unwrap().unwrap();
        assert_eq!(f.soap, SoapVersion::V12);
        assert!(f.code.unwrap().eq_str("s:Sender"));
        assert_eq!(f.classify(), PkiwsError::PolicyVerification);
        assert!(parse("<x/>").is_err());
    }
}
