//! SIDs (KB5014754): the text checker accepts only `S-1-<authority>-<sub>…`
//! and never panics; the SID extension's decoder reads any bytes to a SID
//! or a typed error; a SID the checker accepts, put in the extension as
//! the engine writes it, decodes back to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use raconn_core::asn1::{tag, DerWriter};
use raconn_core::ext::{self, GeneralName};
use raconn_core::profile::check_sid;

fuzz_target!(|data: &[u8]| {
    let _ = ext::decode_sid_extension(data, 0);
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    if check_sid(text).is_ok() {
        assert!(text.starts_with("S-1-"));
        let mut octets = [0u8; 256];
        let mut w = DerWriter::new(&mut octets);
        w.tlv(tag::OCTET_STRING, text.as_bytes());
        let n = w.finish().expect("a checked SID fits");
        let mut value = [0u8; 320];
        let mut w = DerWriter::new(&mut value);
        ext::write_san(
            &mut w,
            [Ok(GeneralName::OtherName {
                oid: raconn_core::oid::NTDS_OBJECTSID,
                der: &octets[..n],
            })],
        )
        .expect("written");
        let m = w.finish().expect("fits");
        assert_eq!(ext::decode_sid_extension(&value[..m], 0), Ok(text));
    }
});
