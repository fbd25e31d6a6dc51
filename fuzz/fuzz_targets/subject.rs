//! Subject strings: encode, and when that works, display and re-encode to
//! the same name — the same attributes in the same RDNs with the same values.
//! The string type may differ only where the input forced one with `#hex`
//! (`CN=#130141` is a PrintableString "A"; its display `CN=A` encodes as the
//! UTF8String certreq would choose); otherwise the DER must be identical.
#![no_main]
use libfuzzer_sys::fuzz_target;
use raconn_core::name::{parse_name, subject_to_der, AttrRef};

/// (RDN index, type, value) of every attribute; sorted, because the DER
/// order inside a multi-valued RDN follows the encoding.
fn attrs(der: &[u8]) -> Vec<(usize, String, Result<String, Vec<u8>>)> {
    let name = parse_name(der).expect("our own DER parses");
    let mut v = Vec::new();
    let mut rdn = 0;
    name.for_each(|a: AttrRef<'_>| {
        if !a.multi {
            rdn += 1;
        }
        let value = match a.text() {
            Some(t) => Ok(t.to_string()),
            None => Err(a.value.raw.to_vec()),
        };
        v.push((rdn, a.oid.to_string(), value));
        Ok(())
    })
    .expect("walk");
    v.sort();
    v
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let mut buf = [0u8; 2048];
    if let Ok(der) = subject_to_der(text, &mut buf) {
        let der = der.to_vec();
        let shown = parse_name(&der).expect("our own DER parses").to_string();
        let mut buf2 = [0u8; 4096];
        let again = subject_to_der(&shown, &mut buf2).expect("display re-encodes");
        if !text.contains('#') {
            assert_eq!(again, &der[..], "{text:?} -> {shown:?}");
        }
        assert_eq!(attrs(again), attrs(&der), "{text:?} -> {shown:?}");
    }
});
