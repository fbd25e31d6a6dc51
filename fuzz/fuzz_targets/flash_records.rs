//! Stored records read back after a reset or from a damaged disk (bit
//! flips, torn writes): the issuance record decoder and the appliance's
//! configuration decoder never panic, and what they accept (this release's
//! format) re-encodes to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use raconn_core::issuance::record;
use raconn_embedded::store;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = record::decode(data) {
        if r.version == record::VERSION {
            let mut out = vec![0u8; record::encoded_len(&r)];
            let n = record::encode(&r, &mut out).expect("re-encode");
            assert_eq!(&out[..n], data);
        }
        let _ = r.chain.iter().count();
    }
    if let Ok(c) = store::decode_config(data) {
        let mut out = vec![0u8; data.len() + 8];
        let n = store::encode_config(&c, &mut out).expect("re-encode");
        assert_eq!(store::decode_config(&out[..n]).expect("decode again"), c);
    }
});
