//! The issuance transaction with a hostile stored record and hostile CA
//! replies: it never panics, always ends (done or failed) within a bounded
//! number of steps, and never asks to save a record it cannot read back.
//! Input: a 2-byte length, that many bytes of stored record (empty = none),
//! then replies separated by 0xFF bytes; the first byte of each is its
//! HTTP status class.
#![no_main]
use libfuzzer_sys::fuzz_target;
use raconn_core::issuance::{record, Buffers, KeyChoice, Order, PollPolicy, Step, Transaction};
use raconn_core::profile::{Identity, SanKindSel, SubjectFormat};
use raconn_core::soft_p256::SoftP256;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let n = usize::from(u16::from_be_bytes([data[0], data[1]])).min(data.len() - 2);
    let (stored, replies) = data[2..].split_at(n);
    let mut replies = replies.split(|b| *b == 0xFF);
    let key = SoftP256::from_bytes(&[0x11; 32]).expect("key");
    let order = Order {
        request_id: "fuzz-1",
        profile_oid: "2.16.840.1.113733.1.16.1.2.3.1.1.47196112",
        subject_format: SubjectFormat::CommonNameIncludingEmail,
        san: &[SanKindSel::Email],
        other_names: &[],
        overrides: &[],
        identity: Identity {
            cn: "device-0042",
            email: Some("ops@contoso.example"),
            upn: None,
        },
        seat_id: None,
        key: KeyChoice::Policy,
        strict: false,
        sid: None,
        sid_placement: None,
    };
    let (mut a, mut b, mut c, mut d) = (
        vec![0u8; 16384],
        vec![0u8; 16384],
        vec![0u8; 16384],
        vec![0u8; 16384],
    );
    let Ok(mut tx) = Transaction::new(
        order,
        (!stored.is_empty()).then_some(stored),
        PollPolicy {
            first_ms: 0,
            max_ms: 0,
            max_attempts: 3,
        },
        Buffers {
            request: &mut a,
            work: &mut b,
            token: &mut c,
            record: &mut d,
        },
    ) else {
        return;
    };
    for _ in 0..64 {
        match tx.next() {
            Step::Send(_) => {
                let r = replies.next().unwrap_or(&[]);
                let (status, body) = match r.split_first() {
                    Some((s, b)) => (if *s < 128 { 200 } else { 500 }, b),
                    None => (200, r),
                };
                tx.on_reply(status, body);
            }
            Step::Save { record: bytes, .. } => {
                record::decode(bytes).expect("a saved record reads back");
                tx.saved();
            }
            Step::DeviceKey { .. } => tx.device_key(&key, b"slot-1"),
            Step::Wait { .. } => tx.waited(),
            Step::Done(_) | Step::Failed { .. } => return,
        }
    }
    panic!("the transaction did not end in 64 steps");
});
