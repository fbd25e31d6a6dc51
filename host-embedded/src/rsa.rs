//! RSA signature verification without a heap (RFC 8017 §8.1.2
//! RSASSA-PSS-VERIFY with MGF1, §8.2.2 RSASSA-PKCS1-v1_5-VERIFY), for CA
//! servers that present RSA chains: embedded-tls verifies RSA only with its
//! `rsa` feature, which needs `alloc`. SHA-384/512 stay in every build:
//! embedded-tls 0.19 always offers RSA-PSS with SHA-384/512 in
//! `signature_algorithms` (its list is not configurable), and a rustls
//! server with an RSA key picks SHA-512 first.
//!
//! The modular exponentiation is written here (Montgomery multiplication,
//! CIOS, Koç et al. 1996, over 32-bit limbs) rather than taken from
//! `crypto-bigint`: its fixed-width `FixedMontyForm` is one monomorphised
//! function per modulus width (5.0, 6.0 and 7.3 KB of Cortex-M4 code for
//! 2048, 3072 and 4096 bits, 10 KB with the library code they pull in) and
//! copies its parameters into every intermediate — 9 KB of stack for a
//! 2048-bit signature. This one takes the width at run time (one function
//! for 2048..=4096 bits) and five limb buffers of the widest modulus
//! (2.6 KB of stack). The openssl-signed vectors of `tests/rsa_openssl.rs`
//! and the `rsa` fuzz target check it.
//!
//! Public keys only: the exponentiation is variable-time in the public
//! exponent, which is not secret.

use sha2::Digest;

/// Hash of a signature scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Hash {
    /// SHA-256
    Sha256,
    /// SHA-384
    Sha384,
    /// SHA-512
    Sha512,
}

impl Hash {
    /// Output length in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }

    /// Hashes the concatenation of `parts` into `out`; returns the length.
    pub fn digest(self, parts: &[&[u8]], out: &mut [u8; 64]) -> usize {
        fn run<D: Digest>(parts: &[&[u8]], out: &mut [u8; 64]) -> usize {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            let h = d.finalize();
            let n = h.len().min(64);
            if let (Some(dst), Some(src)) = (out.get_mut(..n), h.get(..n)) {
                dst.copy_from_slice(src);
            }
            n
        }
        match self {
            Hash::Sha256 => run::<sha2::Sha256>(parts, out),
            Hash::Sha384 => run::<sha2::Sha384>(parts, out),
            Hash::Sha512 => run::<sha2::Sha512>(parts, out),
        }
    }

    /// DER DigestInfo prefix for PKCS#1 v1.5 (RFC 8017 §9.2 note 1).
    const fn digest_info(self) -> &'static [u8] {
        match self {
            Hash::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            Hash::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            Hash::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }
}

/// The padding scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Padding {
    /// RSASSA-PKCS1-v1_5
    Pkcs1(Hash),
    /// RSASSA-PSS with MGF1 of the same hash; any salt length.
    Pss(Hash),
}

/// Why a signature did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RsaError {
    /// Modulus outside 2048..=4096 bits, even, or exponent even, below 3 or over 64 bits.
    UnsupportedKey,
    /// The signature is not the modulus length or not below the modulus.
    BadSignatureLength,
    /// The encoded message does not match.
    Mismatch,
}

/// Verifies `sig` over `msg` with the RSA key (`n`, `e` big-endian).
#[inline(never)]
pub fn verify(
    n: &[u8],
    e: &[u8],
    padding: Padding,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), RsaError> {
    let n = strip(n);
    let e = strip(e);
    if e.len() > 8 || e.is_empty() {
        return Err(RsaError::UnsupportedKey);
    }
    let k = n.len();
    if sig.len() != k {
        return Err(RsaError::BadSignatureLength);
    }
    if !(256..=MAX_LIMBS * 4).contains(&k) {
        return Err(RsaError::UnsupportedKey);
    }
    let mut em = [0u8; MAX_LIMBS * 4];
    let em = em.get_mut(..k).ok_or(RsaError::UnsupportedKey)?;
    modexp(n, e, sig, em)?;
    let mod_bits = k * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
    match padding {
        Padding::Pkcs1(h) => pkcs1(em, h, msg),
        Padding::Pss(h) => pss(em, mod_bits, h, msg),
    }
}

fn strip(mut b: &[u8]) -> &[u8] {
    while let [0, rest @ ..] = b {
        b = rest;
    }
    b
}

/// Limbs of the widest modulus (4096 bits).
const MAX_LIMBS: usize = 128;

/// Big-endian `b` into little-endian 32-bit limbs `out` (zero-extended);
/// false when it does not fit.
fn limbs_of(b: &[u8], out: &mut [u32]) -> bool {
    out.fill(0);
    if b.len() > out.len() * 4 {
        return false;
    }
    for (i, byte) in b.iter().rev().enumerate() {
        if let Some(limb) = out.get_mut(i / 4) {
            *limb |= u32::from(*byte) << (8 * (i % 4));
        }
    }
    true
}

/// `a < b` (same length).
fn less(a: &[u32], b: &[u32]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// `a -= b` modulo 2^(32·len).
fn sub_assign(a: &mut [u32], b: &[u32]) {
    let mut borrow = 0u64;
    for (x, y) in a.iter_mut().zip(b) {
        let d = u64::from(*x)
            .wrapping_sub(u64::from(*y))
            .wrapping_sub(borrow);
        *x = d as u32;
        borrow = (d >> 63) & 1;
    }
}

/// `x = 2x mod n`, for `x < n`.
fn double_mod(x: &mut [u32], n: &[u32]) {
    let mut carry = 0u32;
    for limb in x.iter_mut() {
        let c = *limb >> 31;
        *limb = (*limb << 1) | carry;
        carry = c;
    }
    // 2x < 2n: one subtraction; when the shift carried out, the borrow of
    // the subtraction cancels it.
    if carry != 0 || !less(x, n) {
        sub_assign(x, n);
    }
}

/// Montgomery product `out = a·b·R⁻¹ mod n` (R = 2^(32·len)) for `a, b < n`,
/// `n` odd, `n0 = −n⁻¹ mod 2³²`; `t` holds `len + 2` limbs of scratch.
fn mont_mul(out: &mut [u32], a: &[u32], b: &[u32], n: &[u32], n0: u32, t: &mut [u32]) {
    t.fill(0);
    let l = n.len();
    for &ai in a {
        let (low, high) = t.split_at_mut(l);
        let [h0, h1, ..] = high else { return };
        // t += ai·b
        let mut c = 0u64;
        for (tj, &bj) in low.iter_mut().zip(b) {
            let s = u64::from(*tj) + u64::from(ai) * u64::from(bj) + c;
            *tj = s as u32;
            c = s >> 32;
        }
        let s = u64::from(*h0) + c;
        *h0 = s as u32;
        *h1 = h1.wrapping_add((s >> 32) as u32);
        // t += m·n with m making the lowest limb 0, then t /= 2³².
        let m = low.first().copied().unwrap_or(0).wrapping_mul(n0);
        let mut c = 0u64;
        for (tj, &nj) in low.iter_mut().zip(n) {
            let s = u64::from(*tj) + u64::from(m) * u64::from(nj) + c;
            *tj = s as u32;
            c = s >> 32;
        }
        let s = u64::from(*h0) + c;
        *h0 = s as u32;
        *h1 = h1.wrapping_add((s >> 32) as u32);
        t.copy_within(1.., 0);
        if let Some(last) = t.last_mut() {
            *last = 0;
        }
    }
    // t < 2n: subtract n once when t ≥ n.
    let (low, high) = t.split_at_mut(l);
    if high.first().is_some_and(|&h| h != 0) || !less(low, n) {
        sub_assign(low, n);
    }
    out.copy_from_slice(low);
}

/// `em = sig^e mod n` (big-endian, `em` the modulus length), for a modulus
/// of 2048..=4096 bits.
#[inline(never)]
fn modexp(n: &[u8], e: &[u8], sig: &[u8], em: &mut [u8]) -> Result<(), RsaError> {
    let l = n.len().div_ceil(4);
    let mut nb = [0u32; MAX_LIMBS];
    let mut sb = [0u32; MAX_LIMBS];
    let mut rb = [0u32; MAX_LIMBS];
    let mut bb = [0u32; MAX_LIMBS];
    let mut tb = [0u32; MAX_LIMBS + 2];
    let (Some(nl), Some(s), Some(r2), Some(base), Some(t)) = (
        nb.get_mut(..l),
        sb.get_mut(..l),
        rb.get_mut(..l),
        bb.get_mut(..l),
        tb.get_mut(..l + 2),
    ) else {
        return Err(RsaError::UnsupportedKey);
    };
    if !limbs_of(n, nl) || !limbs_of(sig, s) {
        return Err(RsaError::UnsupportedKey);
    }
    let n = &*nl;
    let n_low = n.first().copied().unwrap_or(0);
    if n_low & 1 == 0 {
        return Err(RsaError::UnsupportedKey);
    }
    if !less(s, n) {
        return Err(RsaError::BadSignatureLength);
    }
    let mut eb = [0u8; 8];
    eb.get_mut(8 - e.len()..)
        .ok_or(RsaError::UnsupportedKey)?
        .copy_from_slice(e);
    let e = u64::from_be_bytes(eb);
    if e < 3 || e & 1 == 0 {
        return Err(RsaError::UnsupportedKey);
    }
    // n0 = −n⁻¹ mod 2³² (Newton: each step doubles the correct low bits).
    let mut inv = 1u32;
    for _ in 0..5 {
        inv = inv.wrapping_mul(2u32.wrapping_sub(n_low.wrapping_mul(inv)));
    }
    let n0 = inv.wrapping_neg();
    // R² mod n by doubling 1, 2·32·len times.
    r2.fill(0);
    if let Some(first) = r2.first_mut() {
        *first = 1;
    }
    for _ in 0..2 * 32 * l {
        double_mod(r2, n);
    }
    // base = s·R mod n.
    mont_mul(base, s, r2, n, n0, t);
    // The exponent is public: left-to-right square-and-multiply, variable
    // time — for e = 65537 16 squarings and 1 multiplication.
    let (mut acc, mut tmp) = (s, r2);
    acc.copy_from_slice(base);
    let top = u64::BITS - e.leading_zeros();
    for i in (0..top.saturating_sub(1)).rev() {
        mont_mul(tmp, acc, acc, n, n0, t);
        core::mem::swap(&mut acc, &mut tmp);
        if (e >> i) & 1 == 1 {
            mont_mul(tmp, acc, base, n, n0, t);
            core::mem::swap(&mut acc, &mut tmp);
        }
    }
    // Out of Montgomery form: acc·1·R⁻¹.
    tmp.fill(0);
    if let Some(first) = tmp.first_mut() {
        *first = 1;
    }
    mont_mul(base, acc, tmp, n, n0, t);
    for (i, o) in em.iter_mut().rev().enumerate() {
        let limb = base.get(i / 4).copied().unwrap_or(0);
        *o = (limb >> (8 * (i % 4))) as u8;
    }
    Ok(())
}

// Not inlined (nor `pss`, nor `modexp`): the stack then holds the
// exponentiation's limbs or the padding check's buffers, not both.
#[inline(never)]
fn pkcs1(em: &[u8], h: Hash, msg: &[u8]) -> Result<(), RsaError> {
    let mut digest = [0u8; 64];
    let hl = h.digest(&[msg], &mut digest);
    let info = h.digest_info();
    let t_len = info.len() + hl;
    let ps_len = em.len().checked_sub(3 + t_len).ok_or(RsaError::Mismatch)?;
    if ps_len < 8 {
        return Err(RsaError::Mismatch);
    }
    // EM = 0x00 || 0x01 || PS (0xff…) || 0x00 || DigestInfo || H, compared in full.
    let mut diff = 0u8;
    for (i, b) in em.iter().enumerate() {
        let want = if i == 0 {
            0
        } else if i == 1 {
            1
        } else if i < 2 + ps_len {
            0xff
        } else if i == 2 + ps_len {
            0
        } else if i < 3 + ps_len + info.len() {
            info.get(i - 3 - ps_len).copied().unwrap_or(0)
        } else {
            digest
                .get(i - 3 - ps_len - info.len())
                .copied()
                .unwrap_or(0)
        };
        diff |= b ^ want;
    }
    if diff == 0 {
        Ok(())
    } else {
        Err(RsaError::Mismatch)
    }
}

#[inline(never)]
fn pss(em_full: &[u8], mod_bits: usize, h: Hash, msg: &[u8]) -> Result<(), RsaError> {
    let em_bits = mod_bits - 1;
    let em_len = em_bits.div_ceil(8);
    // When emLen < k the leading byte of the integer must be zero.
    let skip = em_full.len() - em_len;
    if em_full
        .get(..skip)
        .is_some_and(|z| z.iter().any(|b| *b != 0))
    {
        return Err(RsaError::Mismatch);
    }
    let em = em_full.get(skip..).ok_or(RsaError::Mismatch)?;
    let hl = h.output_len();
    if em_len < hl + 2 || em.last() != Some(&0xbc) {
        return Err(RsaError::Mismatch);
    }
    let db_len = em_len - hl - 1;
    let mut db = [0u8; 512];
    let db = db.get_mut(..db_len).ok_or(RsaError::Mismatch)?;
    db.copy_from_slice(em.get(..db_len).ok_or(RsaError::Mismatch)?);
    let hash = em.get(db_len..db_len + hl).ok_or(RsaError::Mismatch)?;
    let top_bits = 8 * em_len - em_bits;
    let top_mask = 0xffu8 >> top_bits;
    if db.first().is_some_and(|b| b & !top_mask != 0) {
        return Err(RsaError::Mismatch);
    }
    // MGF1(H, dbLen) XORed into DB.
    let mut counter = 0u32;
    let mut pos = 0;
    while pos < db_len {
        let mut block = [0u8; 64];
        h.digest(&[hash, &counter.to_be_bytes()], &mut block);
        for b in block.iter().take(hl) {
            if let Some(x) = db.get_mut(pos) {
                *x ^= b;
            }
            pos += 1;
        }
        counter += 1;
    }
    if let Some(first) = db.first_mut() {
        *first &= top_mask;
    }
    // DB = PS (zeros) || 0x01 || salt.
    let one = db.iter().position(|b| *b != 0).ok_or(RsaError::Mismatch)?;
    if db.get(one) != Some(&1) {
        return Err(RsaError::Mismatch);
    }
    let salt = db.get(one + 1..).ok_or(RsaError::Mismatch)?;
    let mut m_hash = [0u8; 64];
    h.digest(&[msg], &mut m_hash);
    let mut h2 = [0u8; 64];
    h.digest(&[&[0u8; 8], m_hash.get(..hl).unwrap_or(&[]), salt], &mut h2);
    if h2.get(..hl) == Some(hash) {
        Ok(())
    } else {
        Err(RsaError::Mismatch)
    }
}
