//! PKCS#10 view.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = raconn_core::csr::CsrRef::parse(data) {
        let _ = c.for_each_extension(|e| {
            let _ = raconn_core::ext::for_each_san(e.value, 0, |_| Ok(()));
            let _ = raconn_core::ext::decode_key_usage(e.value, 0);
            Ok(())
        });
        let mut s = heapless::String::<4096>::new();
        let _ = core::fmt::write(&mut s, format_args!("{}", c.subject));
    }
});
