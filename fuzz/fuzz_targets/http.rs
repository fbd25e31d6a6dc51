//! The HTTP reply reader (status line, headers, chunked bodies) never
//! panics, and a head it accepts lies inside the input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use raconn_core::pkiws::http;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(h)) = http::parse_head(data) {
        assert!(h.len <= data.len());
        let mut body = data[h.len..].to_vec();
        if let Ok(Some(n)) = http::dechunk(&mut body) {
            assert!(n <= body.len());
        }
    }
    let mut b = data.to_vec();
    let _ = http::dechunk(&mut b);
});
