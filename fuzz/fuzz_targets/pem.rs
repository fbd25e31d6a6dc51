//! PEM decoding into a fixed buffer.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = [0u8; 4096];
    let _ = raconn_core::pem::decode(data, &mut buf);
});
