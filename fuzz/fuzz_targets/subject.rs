//! Subject strings: encode, and when that works, display and re-encode to the same DER.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let mut buf = [0u8; 2048];
    if let Ok(der) = raconn_core::name::subject_to_der(text, &mut buf) {
        let der = der.to_vec();
        let name = raconn_core::name::parse_name(&der).expect("our own DER parses");
        let shown = name.to_string();
        let mut buf2 = [0u8; 4096];
        let again =
            raconn_core::name::subject_to_der(&shown, &mut buf2).expect("display re-encodes");
        assert_eq!(again, &der[..], "{text:?} -> {shown:?}");
    }
});
