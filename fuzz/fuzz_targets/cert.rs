//! X.509 certificate view: every accessor on arbitrary DER.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = raconn_core::cert::CertificateRef::parse(data) {
        let mut s = heapless::String::<4096>::new();
        let _ = core::fmt::write(
            &mut s,
            format_args!("{} {} {}", c.subject, c.issuer, c.not_after),
        );
        let _ = c.key_usage();
        let _ = c.basic_constraints();
        let _ = c.for_each_eku(|_| {});
        let _ = c.for_each_san(|g| {
            let mut t = heapless::String::<1024>::new();
            let _ = raconn_core::ext::write_general_name(&mut t, &g);
            Ok(())
        });
        let _ = c.spki.kind();
        let _ = c.not_after.unix();
    }
});
