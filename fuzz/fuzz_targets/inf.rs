//! certreq.ini files as bytes: decoded as certreq reads them (UTF-16 with a
//! byte-order mark, UTF-8, or Windows-1252 when asked) into valid UTF-8 or
//! a typed error — never a replacement character — then parsed: Ok or a
//! typed error, never a panic; a parsed file always yields a spec whose CSR
//! builds or fails cleanly.
#![no_main]
use libfuzzer_sys::fuzz_target;
use raconn_core::inf::{decode_text, TextEncoding};
use raconn_core::soft_p256::SoftP256;

fuzz_target!(|data: &[u8]| {
    if data.len() > 8192 {
        return;
    }
    let mut out = vec![0u8; 3 * data.len() + 4];
    for enc in [TextEncoding::Utf8, TextEncoding::Windows1252] {
        let Ok(d) = decode_text(data, enc, &mut out) else {
            continue;
        };
        // A replacement character comes only from one in the input.
        if d.text.contains('\u{FFFD}') {
            assert!(
                String::from_utf8_lossy(data).contains('\u{FFFD}')
                    || data.starts_with(&[0xFF, 0xFE])
                    || data.starts_with(&[0xFE, 0xFF]),
                "a replacement character was made up"
            );
        }
        if let Ok(inf) = raconn_core::inf::parse(d.text) {
            let mut sb = [0u8; 1024];
            if let Ok(spec) = inf.csr_spec(&mut sb) {
                if let Ok(key) = SoftP256::from_bytes(&[3u8; 32]) {
                    let mut out = [0u8; 2048];
                    let _ = raconn_core::csr::build(&spec, &key, &mut out);
                }
            }
        }
    }
});
