//! certreq.ini parser: any text gives Ok or a typed error, never a panic;
//! a parsed file always yields a spec whose CSR builds or fails cleanly.
#![no_main]
use libfuzzer_sys::fuzz_target;
use raconn_core::soft_p256::SoftP256;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    if let Ok(inf) = raconn_core::inf::parse(text) {
        let mut sb = [0u8; 1024];
        if let Ok(spec) = inf.csr_spec(&mut sb) {
            if let Ok(key) = SoftP256::from_bytes(&[3u8; 32]) {
                let mut out = [0u8; 2048];
                let _ = raconn_core::csr::build(&spec, &key, &mut out);
            }
        }
    }
});
