//! PKCS#7 certs-only view.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = raconn_core::cert::Pkcs7Ref::parse(data) {
        for c in p.certificates() {
            let _ = c.map(|c| c.subject.rdn_count());
        }
    }
});
