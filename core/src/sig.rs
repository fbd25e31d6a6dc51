//! Signature encodings at the key seam: the DER `ECDSA-Sig-Value`
//! (RFC 3279 §2.2.3, RFC 5480 §2.2.2) that X.509, PKCS#10 and TLS carry,
//! made from the fixed-width `r ‖ s` that PKCS#11 (`CKM_ECDSA`), Windows CNG
//! (`NCryptSignHash`) and most secure elements return.

use crate::asn1::{tag, DerError, DerWriter};

/// Largest DER `ECDSA-Sig-Value` for a field of `field_len` bytes.
pub const fn ecdsa_der_max_len(field_len: usize) -> usize {
    // SEQUENCE { INTEGER r, INTEGER s }, each possibly with a leading 0x00.
    let int = crate::asn1::tlv_len(field_len + 1);
    crate::asn1::tlv_len(2 * int)
}

/// Converts `r ‖ s` (even length, each half big-endian) to DER into `buf`.
pub fn ecdsa_raw_to_der<'b>(rs: &[u8], buf: &'b mut [u8]) -> Result<&'b [u8], DerError> {
    if rs.is_empty() || !rs.len().is_multiple_of(2) {
        return Err(DerError::BadValue { offset: 0 });
    }
    let (r, s) = rs.split_at(rs.len() / 2);
    let mut w = DerWriter::new(buf);
    let m = w.begin(tag::SEQUENCE);
    w.uint(r);
    w.uint(s);
    w.end(m);
    let n = w.finish()?;
    buf.get(..n).ok_or(DerError::LogicBug)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn pads_high_bit_and_trims_zeros() {
        let mut rs = [0u8; 64];
        rs[0] = 0x80; // r needs a sign octet
        rs[32] = 0; // s starts with zeros: trimmed
        rs[33] = 0x01;
        let mut b = [0u8; ecdsa_der_max_len(32)];
        let d = ecdsa_raw_to_der(&rs, &mut b).unwrap();
        assert_eq!(&d[..5], &[0x30, 0x44, 0x02, 0x21, 0x00]);
        assert_eq!(d.len(), 2 + 35 + 2 + 31);
        assert_eq!(ecdsa_der_max_len(32), 72);
    }

    #[test]
    fn short_buffer_says_how_much() {
        let rs = [0x7fu8; 64];
        let mut b = [0u8; 10];
        assert_eq!(
            ecdsa_raw_to_der(&rs, &mut b),
            Err(DerError::BufferTooSmall { needed: 70 })
        );
        assert!(ecdsa_raw_to_der(&rs[..63], &mut b).is_err());
    }
}
