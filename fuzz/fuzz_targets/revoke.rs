//! Revocation inputs: a pasted serial number (hex in any form, or decimal)
//! parses to a typed error or a serial whose canonical hex parses back to
//! the same serial — and whose bytes, as hex, denote the same integer; a
//! revocation reason parses or is refused; a revocation reply reads or is
//! refused, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use raconn_core::pkiws::revoke::{read_reply, Reason, Serial};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        let _ = read_reply(200, data);
        return;
    };
    for parsed in [Serial::parse_hex(text), Serial::parse_decimal(text)] {
        if let Ok(s) = parsed {
            let hex = s.to_hex();
            let again = Serial::parse_hex(&hex).expect("canonical hex parses");
            assert_eq!(again, s);
            assert!(!hex.starts_with('0') || hex.as_str() == "0", "{hex}");
            assert!(s.bytes().first() != Some(&0), "no leading zero byte");
            assert!(s.bytes().len() <= 20);
        }
    }
    let _ = Reason::parse(text);
    let _ = read_reply(200, data);
    let _ = read_reply(500, data);
});
