//! PKI Web Services readers (policy, enrollment, search, fault) on arbitrary text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use raconn_core::pkiws::{enroll, fault, policy, search};

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = core::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = policy::parse_response(doc, "2.16.840.1.113733.1.16.1.2.3.1.1.47196109") {
        let mut buf = [0u8; 4096];
        for ca in &p.cas {
            if let Some(c) = ca.certificate {
                let _ = c.base64("certificate", &mut buf);
            }
        }
        for a in &p.attributes {
            let mut s = heapless::String::<256>::new();
            if let Some(n) = a.name {
                let _ = n.unescape_into(&mut s);
            }
        }
    }
    if let Ok(r) = enroll::parse_response(doc) {
        if let enroll::Outcome::Issued { token, .. } = r.outcome {
            let mut buf = [0u8; 4096];
            let _ = token.base64("token", &mut buf);
        }
    }
    let mut buf = [0u8; 4096];
    let _ = search::parse_response(doc, |c| {
        if let Some(t) = c.certificate {
            let _ = t.base64("certificate", &mut buf);
        }
        Ok(())
    });
    if let Ok(Some(f)) = fault::parse(doc) {
        let _ = f.classify();
    }
});
