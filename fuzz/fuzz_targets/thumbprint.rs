//! Pasted-thumbprint parser.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = core::str::from_utf8(data) {
        if let Ok(p) = raconn_core::thumbprint::parse(text) {
            // What comes out parses back to itself.
            let again =
                raconn_core::thumbprint::parse(&p.thumbprint.to_hex()).map(|q| q.thumbprint);
            assert_eq!(again, Ok(p.thumbprint));
        }
        let _ = raconn_core::thumbprint::parse_sha256(text);
    }
});
