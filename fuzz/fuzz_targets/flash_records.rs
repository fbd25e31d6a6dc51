//! Flash records read back after a reset (bit flips, torn writes): the
//! decoders never panic, and what they accept re-encodes to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use raconn_embedded::store;

fuzz_target!(|data: &[u8]| {
    if let Ok(j) = store::decode_journal(data) {
        let mut out = vec![0u8; data.len() + 8];
        let n = store::encode_journal(&j, &mut out).expect("re-encode");
        assert_eq!(store::decode_journal(&out[..n]).expect("decode again"), j);
    }
    if let Ok(c) = store::decode_config(data) {
        let mut out = vec![0u8; data.len() + 8];
        let n = store::encode_config(&c, &mut out).expect("re-encode");
        assert_eq!(store::decode_config(&out[..n]).expect("decode again"), c);
    }
});
