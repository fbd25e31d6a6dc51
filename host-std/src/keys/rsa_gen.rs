//! RSA key generation (device keys, RA keys): the `rsa` crate's method,
//! with a faster first test of each candidate.
//!
//! `rsa::RsaPrivateKey::new` draws a random start with the top two bits
//! set (so that n has exactly the asked size), walks crypto-primes' sieve
//! of small factors from it, and runs the BPSW test (Miller–Rabin to base 2
//! and a strong Lucas test) on each candidate the sieve lets through; then
//! d = e⁻¹ mod φ(n). Here the same steps run in the same order, drawing the
//! same random bytes, with one step added: before BPSW, a sieved candidate
//! takes a Fermat test to base 2 (2ⁿ⁻¹ ≡ 1 mod n) on aws-lc's constant-time
//! Montgomery exponentiation (`BN_mod_exp_mont_consttime`, the library
//! rustls already links). Every prime passes it, so the prime found is the
//! one `rsa` would find from the same start — the test below derives the
//! same key as `rsa::RsaPrivateKey::new` from the same random stream — but
//! the some 35 composites per 1,024-bit prime that BPSW used to reject, each
//! with a crypto-bigint exponentiation, are now rejected at aws-lc's speed
//! (1,024-bit modular exponentiation: 257 against 468 µs on the CI
//! machine). If aws-lc fails in any way the candidate goes to BPSW as
//! before: the Fermat step can skip composites, never a prime.
//!
//! Why not aws-lc's own RSA key generation: it draws a fresh random
//! candidate for every attempt instead of sieving, and measured slower than
//! the `rsa` crate (58 against 42 ms a key). Why not a crate: none offers a
//! faster prime search than `rsa`'s; `-C target-cpu=native` does not speed
//! crypto-bigint up (measured).

use std::num::NonZeroU32;

use aws_lc_sys::{
    BN_CTX_free, BN_CTX_new, BN_MONT_CTX_free, BN_MONT_CTX_new_consttime, BN_bin2bn, BN_clear_free,
    BN_copy, BN_is_one, BN_mod_exp_mont_consttime, BN_new, BN_set_word, BN_sub_word, BIGNUM,
    BN_CTX,
};
use crypto_bigint::{BitOps, RandomBits};
use crypto_primes::hazmat::SmallFactorsSieve;
use crypto_primes::{is_prime, Flavor};
use rsa::rand_core::TryCryptoRng;
use rsa::BoxedUint;
use zeroize::Zeroizing;

/// The public exponent (F4), as `rsa::RsaPrivateKey::new` uses.
const E: u64 = 65_537;

/// An RSA private key of `bits` bits with e = 65537, from `rng`.
pub fn generate<R: TryCryptoRng + ?Sized>(
    rng: &mut R,
    bits: usize,
) -> Result<rsa::PrivateKey, String> {
    if bits < rsa::PublicKey::MIN_SIZE || !bits.is_multiple_of(2) {
        return Err(format!(
            "{bits}-bit RSA keys are not made (an even size from {})",
            rsa::PublicKey::MIN_SIZE
        ));
    }
    let half = u32::try_from(bits / 2).map_err(|e| e.to_string())?;
    let mut fermat = Fermat::new();
    // gcd(e, φ(n)) = 1 fails for about one pair in 30,000; the bound only
    // stops a loop that an error of another kind would make endless.
    for _ in 0..64 {
        let p = prime(rng, half, &mut fermat)?;
        let q = prime(rng, half, &mut fermat)?;
        if let Ok(k) = rsa::PrivateKey::from_primes(vec![p, q], BoxedUint::from(E)) {
            return Ok(k);
        }
    }
    Err("no RSA key after 64 pairs of primes".into())
}

/// A prime of `bits` bits with its top two bits set, as `rsa` makes one.
fn prime<R: TryCryptoRng + ?Sized>(
    rng: &mut R,
    bits: u32,
    fermat: &mut Fermat,
) -> Result<BoxedUint, String> {
    let width = NonZeroU32::new(bits).ok_or("a prime of 0 bits")?;
    loop {
        let mut start =
            BoxedUint::try_random_bits(rng, bits).map_err(|e| format!("random bits: {e:?}"))?;
        start.set_bit_vartime(0, true);
        start.set_bit_vartime(bits - 1, true);
        start.set_bit_vartime(bits - 2, true);
        let mut sieve =
            SmallFactorsSieve::new(start, width, false).map_err(|e| format!("sieve: {e:?}"))?;
        if let Some(p) = sieve.find(|c| fermat.may_be_prime(c) && is_prime(Flavor::Any, c)) {
            return Ok(p);
        }
    }
}

/// The Fermat test to base 2 on aws-lc; its numbers are reused between
/// candidates and cleared when dropped.
struct Fermat {
    ctx: *mut BN_CTX,
    n: *mut BIGNUM,
    n1: *mut BIGNUM,
    two: *mut BIGNUM,
    r: *mut BIGNUM,
}

impl Fermat {
    fn new() -> Fermat {
        // SAFETY: allocations only; a null result is checked before use.
        unsafe {
            let f = Fermat {
                ctx: BN_CTX_new(),
                n: BN_new(),
                n1: BN_new(),
                two: BN_new(),
                r: BN_new(),
            };
            if !f.two.is_null() {
                BN_set_word(f.two, 2);
            }
            f
        }
    }

    /// False only when 2^(c−1) mod c is computed and is not 1 (so `c` is
    /// composite); true otherwise, including when aws-lc fails.
    fn may_be_prime(&mut self, c: &BoxedUint) -> bool {
        if self.ctx.is_null()
            || [self.n, self.n1, self.two, self.r]
                .iter()
                .any(|p| p.is_null())
        {
            return true;
        }
        let bytes = Zeroizing::new(c.to_be_bytes());
        // SAFETY: every pointer is non-null (checked above) and owned by
        // `self`; `bytes` outlives BN_bin2bn, which copies it; the
        // Montgomery context is freed on every path.
        unsafe {
            if BN_bin2bn(bytes.as_ptr(), bytes.len(), self.n).is_null()
                || BN_copy(self.n1, self.n).is_null()
                || BN_sub_word(self.n1, 1) != 1
            {
                return true;
            }
            let mont = BN_MONT_CTX_new_consttime(self.n, self.ctx);
            if mont.is_null() {
                return true;
            }
            let done = BN_mod_exp_mont_consttime(self.r, self.two, self.n1, self.n, self.ctx, mont);
            BN_MONT_CTX_free(mont);
            done != 1 || BN_is_one(self.r) == 1
        }
    }
}

impl Drop for Fermat {
    fn drop(&mut self) {
        // SAFETY: each pointer came from BN_new / BN_CTX_new (null is
        // accepted by the free functions) and is freed once; the candidate
        // and c−1 are cleared first.
        unsafe {
            BN_clear_free(self.n);
            BN_clear_free(self.n1);
            BN_clear_free(self.r);
            BN_clear_free(self.two);
            BN_CTX_free(self.ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use crypto_bigint::ConcatenatingMul;
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::rand_core::{TryCryptoRng, TryRng};

    use super::*;

    /// A deterministic stream (xorshift64*), so that two generators can be
    /// given the same bytes. Not a CSPRNG: tests only.
    struct Stream(u64);

    impl TryRng for Stream {
        type Error = Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Infallible> {
            Ok((self.try_next_u64()? >> 32) as u32)
        }
        fn try_next_u64(&mut self) -> Result<u64, Infallible> {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            Ok(self.0.wrapping_mul(0x2545_f491_4f6c_dd1d))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
            for c in dst.chunks_mut(8) {
                let v = self.try_next_u64()?.to_le_bytes();
                c.copy_from_slice(&v[..c.len()]);
            }
            Ok(())
        }
    }
    impl TryCryptoRng for Stream {}

    /// From the same random stream, the same key as the `rsa` crate's
    /// generator: the Fermat step changes the speed, not the result.
    #[test]
    fn same_key_as_the_rsa_crate() {
        for (seed, bits) in [(1u64, 2048usize), (2, 2048), (3, 1024), (4, 3072)] {
            let mine =
                generate(&mut Stream(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)), bits).expect("key");
            let theirs =
                rsa::PrivateKey::new(&mut Stream(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)), bits)
                    .expect("rsa");
            assert_eq!(
                mine.to_pkcs1_der().expect("der").as_bytes(),
                theirs.to_pkcs1_der().expect("der").as_bytes(),
                "seed {seed}, {bits} bits"
            );
            assert_eq!(rsa::traits::PublicKeyParts::size(&mine) * 8, bits);
        }
    }

    /// The screen keeps every prime crypto-primes finds among random odd
    /// numbers and rejects products of two primes.
    #[test]
    fn fermat_keeps_primes_and_drops_composites() {
        let mut f = Fermat::new();
        let mut rng = Stream(0x1234_5678_9abc_def1);
        let mut primes = Vec::new();
        while primes.len() < 4 {
            let mut c = BoxedUint::try_random_bits(&mut rng, 512).expect("bits");
            c.set_bit_vartime(0, true);
            c.set_bit_vartime(511, true);
            if is_prime(Flavor::Any, &c) {
                assert!(f.may_be_prime(&c), "a prime was rejected");
                primes.push(c);
            } else {
                assert!(!f.may_be_prime(&c), "a composite passed");
            }
        }
        let n = primes[0].concatenating_mul(&primes[1]);
        assert!(!f.may_be_prime(&n), "p·q passed");
        // 341 = 11 · 31 passes the Fermat test to base 2 (a pseudoprime):
        // BPSW after it is what rejects such numbers.
        assert!(f.may_be_prime(&BoxedUint::from(341u64)));
        assert!(!is_prime(Flavor::Any, &BoxedUint::from(341u64)));
    }

    /// openssl checks a key made from the system's random source
    /// (`RSA_check_key`: p and q prime, n = p·q, d·e ≡ 1, CRT values).
    #[test]
    fn openssl_checks_the_key() {
        let k = generate(&mut getrandom::SysRng, 2048).expect("key");
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("k.der");
        std::fs::write(&f, k.to_pkcs1_der().expect("der").as_bytes()).expect("write");
        let o = std::process::Command::new("openssl")
            .args(["rsa", "-inform", "DER", "-in"])
            .arg(&f)
            .args(["-check", "-noout", "-text"])
            .output()
            .expect("openssl");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(out.contains("RSA key ok"), "{out}");
        assert!(out.contains("Private-Key: (2048 bit, 2 primes)"), "{out}");
        assert!(out.contains("publicExponent: 65537"), "{out}");
    }

    #[test]
    fn sizes_refused() {
        assert!(generate(&mut Stream(5), 1023).is_err());
        assert!(generate(&mut Stream(5), 512).is_err());
    }
}
