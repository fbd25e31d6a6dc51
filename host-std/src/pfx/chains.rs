//! The PFX's two password derivations run as two SHA-256 chains at once.
//!
//! A PFX costs two iterated hashes of the password (RFC 8018 PBKDF2 for
//! the encryption key, RFC 7292 Appendix B for the MAC key), and each is a
//! chain: every compression needs the previous one's output. On SHA-NI a
//! compression is bound by the latency of `sha256rnds2`, not by the
//! core's throughput, so one chain leaves most of the SHA unit idle. The
//! two chains do not depend on each other: this module runs a PBKDF2
//! iteration's inner compression and a MAC-KDF iteration's compression in
//! one interleaved instruction stream, then the PBKDF2 outer compression
//! alone — per iteration two compressions' latency instead of three.
//!
//! Every chained message is a previous 32-byte digest plus fixed padding
//! (FIPS 180-4 §5.1.1), so the chaining values stay in SHA-NI's register
//! order from one compression to the next: no bytes are written or read
//! inside the loop. The round structure is FIPS 180-4 §6.2.2 as Intel's
//! SHA extensions compute it (Intel, "New Instructions Supporting the
//! Secure Hash Algorithm on Intel Architecture Processors", 2013): two
//! rounds per `sha256rnds2`, the schedule by `sha256msg1`/`sha256msg2`.
//!
//! Where the CPU has no SHA-NI (or is not x86-64) the same chains run one
//! compression at a time on `sha2::block_api::compress256`. Both paths are
//! checked against each other and against the `pbkdf2` and `pkcs12`
//! crates in the tests, and the PFX end to end by openssl and Python
//! `cryptography`. No well-kept crate offers two-lane SHA-256 chains:
//! `sha2` compresses one message stream at a time.

/// A SHA-256 chaining value or digest, as eight big-endian words.
pub type Words = [u32; 8];

/// Total message length, in bits, of a PBKDF2 inner or outer hash after
/// its 64-byte pad block: 96 bytes.
const HMAC_TAIL_BITS: u32 = 96 * 8;
/// Total message length, in bits, of the MAC KDF's `A = H(A)`: 32 bytes.
const DIGEST_BITS: u32 = 32 * 8;

/// Where the two chains start and how long they are: PBKDF2's `U1` with
/// HMAC's pad states `inner` and `outer` (RFC 8018 §5.2, one output
/// block), and the PKCS #12 KDF's `A1` (RFC 7292 App. B.2 step 6).
pub struct Start<'a> {
    pub inner: &'a Words,
    pub outer: &'a Words,
    pub u1: &'a Words,
    pub pbkdf2_iterations: u32,
    pub a1: &'a Words,
    pub mac_iterations: u32,
}

/// PBKDF2's `T = U1 ^ … ^ Uc` and the PKCS #12 KDF's `A_c` (`A = H(A)`
/// c−1 times). Returns `(T, A_c)`.
pub fn run(s: &Start<'_>) -> (Words, Words) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("sha")
            && std::arch::is_x86_feature_detected!("sse4.1")
            && std::arch::is_x86_feature_detected!("ssse3")
        {
            // SAFETY: the CPU has the features `ni::run` is compiled for.
            return unsafe { ni::run(s) };
        }
    }
    portable(s)
}

/// One compression of a chained 32-byte message: `state` after the block
/// `m || 0x80 || 0… || bit length`.
fn compress_tail(state: &Words, m: &Words, bits: u32) -> Words {
    let mut block = [0u8; 64];
    for (o, w) in block.chunks_exact_mut(4).zip(m) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    block[32] = 0x80;
    block[60..].copy_from_slice(&bits.to_be_bytes());
    let mut s = *state;
    sha2::block_api::compress256(&mut s, core::slice::from_ref(&block));
    s
}

/// The chains one compression at a time.
pub fn portable(s: &Start<'_>) -> (Words, Words) {
    let mut u = *s.u1;
    let mut t = *s.u1;
    for _ in 1..s.pbkdf2_iterations {
        let h = compress_tail(s.inner, &u, HMAC_TAIL_BITS);
        u = compress_tail(s.outer, &h, HMAC_TAIL_BITS);
        for (x, y) in t.iter_mut().zip(u) {
            *x ^= y;
        }
    }
    let mut a = *s.a1;
    for _ in 1..s.mac_iterations {
        a = compress_tail(&SHA256_IV, &a, DIGEST_BITS);
    }
    (t, a)
}

/// FIPS 180-4 §5.3.3.
pub const SHA256_IV: Words = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

#[cfg(target_arch = "x86_64")]
mod ni {
    use core::arch::x86_64::{
        __m128i, _mm_add_epi32, _mm_alignr_epi8, _mm_blend_epi16, _mm_loadu_si128, _mm_set_epi32,
        _mm_sha256msg1_epu32, _mm_sha256msg2_epu32, _mm_sha256rnds2_epu32, _mm_shuffle_epi32,
        _mm_storeu_si128, _mm_xor_si128,
    };

    use super::{Start, Words, DIGEST_BITS, HMAC_TAIL_BITS, SHA256_IV};

    /// FIPS 180-4 §4.2.2.
    static K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    /// A chaining value in SHA-NI's order: lanes (F, E, B, A) and (H, G, D, C).
    #[derive(Clone, Copy)]
    struct State {
        abef: __m128i,
        cdgh: __m128i,
    }

    /// A 32-byte message as two vectors of words in lane order (W0..W3, W4..W7).
    #[derive(Clone, Copy)]
    struct Msg(__m128i, __m128i);

    #[inline(always)]
    unsafe fn state_of(w: &Words) -> State {
        let [a, b, c, d, e, f, g, h] = w.map(|x| x as i32);
        State {
            abef: _mm_set_epi32(a, b, e, f),
            cdgh: _mm_set_epi32(c, d, g, h),
        }
    }

    #[inline(always)]
    unsafe fn msg_of(w: &Words) -> Msg {
        let [a, b, c, d, e, f, g, h] = w.map(|x| x as i32);
        Msg(_mm_set_epi32(d, c, b, a), _mm_set_epi32(h, g, f, e))
    }

    #[inline(always)]
    unsafe fn words_of(m: Msg) -> Words {
        let mut out = [0u32; 8];
        _mm_storeu_si128(out.as_mut_ptr().cast(), m.0);
        _mm_storeu_si128(out.as_mut_ptr().add(4).cast(), m.1);
        out
    }

    /// The digest words of a chaining value, as the next message.
    #[inline(always)]
    unsafe fn digest(s: State) -> Msg {
        let feba = _mm_shuffle_epi32(s.abef, 0x1b);
        let dchg = _mm_shuffle_epi32(s.cdgh, 0xb1);
        Msg(
            _mm_blend_epi16(feba, dchg, 0xf0),
            _mm_alignr_epi8(dchg, feba, 8),
        )
    }

    #[inline(always)]
    unsafe fn k(g: usize) -> __m128i {
        _mm_loadu_si128(K.as_ptr().add(4 * g).cast())
    }

    /// Message words W[4g..4g+4] from the four groups before.
    #[inline(always)]
    unsafe fn schedule(w4: __m128i, w3: __m128i, w2: __m128i, w1: __m128i) -> __m128i {
        let s = _mm_add_epi32(_mm_sha256msg1_epu32(w4, w3), _mm_alignr_epi8(w1, w2, 4));
        _mm_sha256msg2_epu32(s, w1)
    }

    /// Four rounds with the message group `w` (K added here).
    #[inline(always)]
    unsafe fn rounds(s: &mut State, w: __m128i, g: usize) {
        let m = _mm_add_epi32(w, k(g));
        s.cdgh = _mm_sha256rnds2_epu32(s.cdgh, s.abef, m);
        // `cdgh` now holds A..H after two rounds in ABEF order, `abef` the
        // CDGH order of the same: the next two rounds write ABEF back.
        let m = _mm_shuffle_epi32(m, 0x0e);
        s.abef = _mm_sha256rnds2_epu32(s.abef, s.cdgh, m);
    }

    /// One compression per lane, interleaved group by group: `N` lanes of
    /// (chaining value, message, padding group W8..11, W12..15).
    #[inline(always)]
    unsafe fn compress<const N: usize>(
        st: [State; N],
        msg: [Msg; N],
        pad: [(__m128i, __m128i); N],
    ) -> [State; N] {
        let mut s = st;
        // Each lane's last four message groups; the first four rotate
        // through and come back in order for the schedule.
        let mut w: [[__m128i; 4]; N] =
            core::array::from_fn(|l| [msg[l].0, msg[l].1, pad[l].0, pad[l].1]);
        for g in 0..16 {
            for (sl, wl) in s.iter_mut().zip(w.iter_mut()) {
                let x = if g < 4 {
                    wl[0]
                } else {
                    schedule(wl[0], wl[1], wl[2], wl[3])
                };
                *wl = [wl[1], wl[2], wl[3], x];
                rounds(sl, x, g);
            }
        }
        for (sl, s0) in s.iter_mut().zip(st) {
            sl.abef = _mm_add_epi32(sl.abef, s0.abef);
            sl.cdgh = _mm_add_epi32(sl.cdgh, s0.cdgh);
        }
        s
    }

    /// Padding groups for a chained 32-byte message of `bits` in total.
    #[inline(always)]
    unsafe fn pad(bits: u32) -> (__m128i, __m128i) {
        (
            _mm_set_epi32(0, 0, 0, 0x8000_0000u32 as i32),
            _mm_set_epi32(bits as i32, 0, 0, 0),
        )
    }

    /// [`super::run`] on SHA-NI.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub unsafe fn run(s: &Start<'_>) -> (Words, Words) {
        let Start {
            inner,
            outer,
            u1,
            pbkdf2_iterations,
            a1,
            mac_iterations,
        } = *s;
        let (si, so, iv) = (state_of(inner), state_of(outer), state_of(&SHA256_IV));
        let (hp, dp) = (pad(HMAC_TAIL_BITS), pad(DIGEST_BITS));
        let mut u = msg_of(u1);
        let mut t = u;
        let mut a = msg_of(a1);
        let mut left_p = pbkdf2_iterations.saturating_sub(1);
        let mut left_m = mac_iterations.saturating_sub(1);
        while left_p > 0 {
            let h = if left_m > 0 {
                // The inner hash beside a MAC-KDF step.
                let [h, na] = compress::<2>([si, iv], [u, a], [hp, dp]);
                a = digest(na);
                left_m -= 1;
                h
            } else {
                let [h] = compress::<1>([si], [u], [hp]);
                h
            };
            let [nu] = compress::<1>([so], [digest(h)], [hp]);
            u = digest(nu);
            t = Msg(_mm_xor_si128(t.0, u.0), _mm_xor_si128(t.1, u.1));
            left_p -= 1;
        }
        while left_m > 0 {
            let [na] = compress::<1>([iv], [a], [dp]);
            a = digest(na);
            left_m -= 1;
        }
        (words_of(t), words_of(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic test words.
    fn words(seed: u32) -> Words {
        let mut x = seed.wrapping_mul(0x9e37_79b9) | 1;
        core::array::from_fn(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        })
    }

    /// The SHA-NI path equals the one-at-a-time path for equal and unequal
    /// counts, including 0 and 1 (no iteration after the first).
    #[test]
    fn both_paths_agree() {
        for (cp, cm) in [
            (1, 1),
            (0, 0),
            (2, 1),
            (1, 2),
            (3, 3),
            (5, 17),
            (17, 5),
            (1000, 1000),
        ] {
            for seed in 1..4 {
                let (i, o, u, a) = (
                    words(seed),
                    words(seed + 10),
                    words(seed + 20),
                    words(seed + 30),
                );
                let start = Start {
                    inner: &i,
                    outer: &o,
                    u1: &u,
                    pbkdf2_iterations: cp,
                    a1: &a,
                    mac_iterations: cm,
                };
                assert_eq!(run(&start), portable(&start), "{cp}/{cm}, seed {seed}");
            }
        }
    }

    /// The MAC chain is plain iterated SHA-256 of a 32-byte digest.
    #[test]
    fn mac_chain_is_iterated_sha256() {
        use sha2::{Digest, Sha256};
        let mut a = [0u8; 32];
        a.copy_from_slice(&Sha256::digest(b"raconn"));
        let a1: Words = core::array::from_fn(|i| {
            u32::from_be_bytes([a[4 * i], a[4 * i + 1], a[4 * i + 2], a[4 * i + 3]])
        });
        let mut want = a;
        for _ in 1..7 {
            let next = Sha256::digest(want);
            want.copy_from_slice(&next);
        }
        let (_, got) = run(&Start {
            inner: &SHA256_IV,
            outer: &SHA256_IV,
            u1: &a1,
            pbkdf2_iterations: 1,
            a1: &a1,
            mac_iterations: 7,
        });
        let got: Vec<u8> = got.iter().flat_map(|w| w.to_be_bytes()).collect();
        assert_eq!(got, want);
    }
}
