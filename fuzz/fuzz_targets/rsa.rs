//! Heap-free RSA verification with hostile keys and signatures: never
//! panics (fixed-width big integers are sized and padded correctly).
#![no_main]
use libfuzzer_sys::fuzz_target;
use raconn_embedded::rsa::{self, Hash, Padding};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let pad = match data[0] % 6 {
        0 => Padding::Pkcs1(Hash::Sha256),
        1 => Padding::Pkcs1(Hash::Sha384),
        2 => Padding::Pkcs1(Hash::Sha512),
        3 => Padding::Pss(Hash::Sha256),
        4 => Padding::Pss(Hash::Sha384),
        _ => Padding::Pss(Hash::Sha512),
    };
    let split = usize::from(data[1]) * 2 + 200;
    let rest = &data[2..];
    let (n, sig) = rest.split_at(split.min(rest.len()));
    let mut n = n.to_vec();
    if let Some(last) = n.last_mut() {
        *last |= 1;
    }
    let _ = rsa::verify(&n, &[1, 0, 1], pad, b"message", sig);
    // The signature as long as the modulus, so the modular exponentiation runs.
    let mut s = sig.to_vec();
    s.resize(n.len(), 0x5a);
    if let Some(f) = s.first_mut() {
        *f = 0;
    }
    let _ = rsa::verify(&n, &[1, 0, 1], pad, b"message", &s);
});
