//! RSA signature verification without a heap (RFC 8017 §8.1.2
//! RSASSA-PSS-VERIFY with MGF1, §8.2.2 RSASSA-PKCS1-v1_5-VERIFY), for CA
//! servers that present RSA chains: embedded-tls verifies RSA only with its
//! `rsa` feature, which needs `alloc`. Modular exponentiation is
//! `crypto-bigint`'s fixed-width Montgomery form, sized to the modulus
//! (2048, 3072 or 4096 bits); every buffer is on the stack.
//!
//! Public keys only: the exponentiation is variable-time in the public
//! exponent, which is not secret.

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Odd, Uint, U2048, U3072, U4096};
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
    let mut em = [0u8; 512];
    let em = em.get_mut(..k).ok_or(RsaError::UnsupportedKey)?;
    match k {
        0..=255 => return Err(RsaError::UnsupportedKey),
        256 => modexp::<{ U2048::LIMBS }>(n, e, sig, em)?,
        257..=384 => modexp::<{ U3072::LIMBS }>(n, e, sig, em)?,
        385..=512 => modexp::<{ U4096::LIMBS }>(n, e, sig, em)?,
        _ => return Err(RsaError::UnsupportedKey),
    }
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

/// Left-pads big-endian `b` into the fixed width of `Uint<L>`.
fn uint<const L: usize>(b: &[u8]) -> Result<Uint<L>, RsaError> {
    let mut buf = [0u8; 512];
    let width = Uint::<L>::BYTES;
    let off = width.checked_sub(b.len()).ok_or(RsaError::UnsupportedKey)?;
    buf.get_mut(off..width)
        .ok_or(RsaError::UnsupportedKey)?
        .copy_from_slice(b);
    Ok(Uint::from_be_slice(
        buf.get(..width).ok_or(RsaError::UnsupportedKey)?,
    ))
}

fn modexp<const L: usize>(n: &[u8], e: &[u8], sig: &[u8], em: &mut [u8]) -> Result<(), RsaError> {
    let modulus = uint::<L>(n)?;
    let s = uint::<L>(sig)?;
    if s >= modulus {
        return Err(RsaError::BadSignatureLength);
    }
    let odd: Option<Odd<Uint<L>>> = Odd::new(modulus).into();
    let params = FixedMontyParams::new_vartime(odd.ok_or(RsaError::UnsupportedKey)?);
    let mut eb = [0u8; 8];
    eb.get_mut(8 - e.len()..)
        .ok_or(RsaError::UnsupportedKey)?
        .copy_from_slice(e);
    let e = u64::from_be_bytes(eb);
    if e < 3 || e & 1 == 0 {
        return Err(RsaError::UnsupportedKey);
    }
    // The exponent is public: left-to-right square-and-multiply, variable
    // time — for e = 65537 16 squarings and 1 multiplication, with no
    // window table (crypto-bigint's `pow` keeps 16 powers of the base: 8 KB
    // of stack at 4096 bits, and a larger function per width).
    let base = FixedMontyForm::new(&s, &params);
    let mut acc = base;
    let top = u64::BITS - e.leading_zeros();
    for i in (0..top.saturating_sub(1)).rev() {
        acc = acc.square();
        if (e >> i) & 1 == 1 {
            acc *= &base;
        }
    }
    let m = acc.retrieve();
    let bytes = m.to_be_bytes();
    let all: &[u8] = bytes.as_ref();
    let src = all
        .get(all.len().saturating_sub(em.len())..)
        .ok_or(RsaError::UnsupportedKey)?;
    em.copy_from_slice(src);
    Ok(())
}

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
