//! A minimal DER writer and a zero-copy DER reader (ITU-T X.690, DER subset).
//!
//! Why not the `der` crate's derive: `der` is alloc-free, but its derived
//! encoders need every nested value materialised as a typed struct with
//! fixed-capacity collections (`SetOf<_, N>`, `SequenceOf<_, N>`) sized for
//! the worst case, on the stack, before anything is written. On a 64 KiB
//! microcontroller that is the wrong trade. This writer is single-pass: it
//! writes straight into the caller's buffer, reserves one length octet per
//! open constructed value and shifts the contents when the length turns out
//! to need the long form. When the buffer runs out it keeps counting, so the
//! error carries the exact size needed. Object identifiers still come from
//! the RustCrypto `const-oid` crate.
//!
//! The reader walks TLVs over a borrowed slice, checks DER length rules
//! (definite, minimal) and reports the byte offset of every fault.

use core::cmp::Ordering;

use crate::buf::SliceWriter;
use crate::error::{explain, BufferTooSmall};

/// Universal and common tags.
pub mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const UTF8_STRING: u8 = 0x0c;
    pub const PRINTABLE_STRING: u8 = 0x13;
    pub const T61_STRING: u8 = 0x14;
    pub const IA5_STRING: u8 = 0x16;
    pub const UTC_TIME: u8 = 0x17;
    pub const GENERALIZED_TIME: u8 = 0x18;
    pub const UNIVERSAL_STRING: u8 = 0x1c;
    pub const BMP_STRING: u8 = 0x1e;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
    /// `[n]` context-specific, constructed.
    pub const fn ctx_cons(n: u8) -> u8 {
        0xa0 | n
    }
    /// `[n]` context-specific, primitive.
    pub const fn ctx_prim(n: u8) -> u8 {
        0x80 | n
    }
}

/// DER encoding or decoding failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DerError {
    /// A caller buffer too small (how many bytes it needs).
    BufferTooSmall(BufferTooSmall),
    /// Input ends inside a value.
    Truncated { offset: usize },
    /// A tag other than the one the structure requires.
    UnexpectedTag {
        offset: usize,
        expected: u8,
        found: u8,
    },
    /// Indefinite, non-minimal or oversized length.
    BadLength { offset: usize },
    /// Multi-byte (high) tag numbers are not used in X.509.
    HighTag { offset: usize },
    /// Bytes left after the outermost value.
    TrailingData { offset: usize },
    /// A value is malformed for its type (e.g. a BOOLEAN of length 2).
    BadValue { offset: usize },
    /// Writer misuse: an `end` without a matching `begin`.
    LogicBug,
}

explain!(DerError {
    Truncated { offset } => ("RC-DER-002", "DER input ends inside a value", "the file is cut short: copy or download it again"), "at byte {offset}";
    UnexpectedTag { offset, expected, found } => ("RC-DER-003", "DER input has an unexpected tag", "the file is not the kind of object expected here (certificate, CSR, PKCS#7): check which file you passed"), "at byte {offset}: expected tag 0x{expected:02x}, found 0x{found:02x}";
    BadLength { offset } => ("RC-DER-004", "DER length is indefinite, not minimal or too large", "the object is BER, not DER, or corrupt: re-export it as DER or PEM"), "at byte {offset}";
    HighTag { offset } => ("RC-DER-005", "DER input uses a multi-byte tag", "the object is not X.509/PKCS: check which file you passed"), "at byte {offset}";
    TrailingData { offset } => ("RC-DER-006", "bytes follow the end of the DER object", "remove what follows the object, or pass a PEM bundle instead of concatenated DER"), "at byte {offset}";
    BadValue { offset } => ("RC-DER-007", "a DER value is malformed for its type", "the object is corrupt or not DER: re-export it"), "at byte {offset}";
    LogicBug => ("RC-DER-008", "internal DER writer misuse", "report this as a bug in raconn");
} delegate {
    BufferTooSmall(b) => b;
});

impl From<BufferTooSmall> for DerError {
    fn from(b: BufferTooSmall) -> Self {
        DerError::BufferTooSmall(BufferTooSmall::output(b.needed))
    }
}

/// Where an open constructed value starts.
#[derive(Debug, Clone, Copy)]
#[must_use = "every begin needs an end"]
pub struct Mark {
    len_at: usize,
}

/// Single-pass DER writer into a caller buffer.
///
/// It writes through the crate's one [`SliceWriter`]: after the buffer
/// overflows the writer keeps counting, so [`DerWriter::finish`] reports
/// the exact size needed.
pub struct DerWriter<'a> {
    w: SliceWriter<'a>,
    logic: bool,
}

/// Number of octets in the DER encoding of a length.
pub const fn length_len(len: usize) -> usize {
    if len < 0x80 {
        1
    } else if len <= 0xff {
        2
    } else if len <= 0xffff {
        3
    } else if len <= 0xff_ffff {
        4
    } else {
        5
    }
}

/// Size of a TLV with a one-octet tag and `content` octets of content.
pub const fn tlv_len(content: usize) -> usize {
    1 + length_len(content) + content
}

impl<'a> DerWriter<'a> {
    /// A writer that fills `buf` from its start.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self {
            w: SliceWriter::new(buf),
            logic: false,
        }
    }

    /// Bytes written (or, after an overflow, that would have been written).
    pub fn position(&self) -> usize {
        self.w.pos
    }

    /// True once the buffer has been exceeded.
    pub fn overflowed(&self) -> bool {
        self.w.overflow
    }

    /// Raw bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.w.put(b);
    }

    /// One raw byte.
    pub fn byte(&mut self, b: u8) {
        self.bytes(&[b]);
    }

    fn write_len_at(&mut self, at: usize, len: usize) {
        let n = length_len(len);
        let mut tmp = [0u8; 5];
        if n == 1 {
            tmp[0] = len as u8;
        } else {
            tmp[0] = 0x80 | (n as u8 - 1);
            let mut i = n - 1;
            let mut v = len;
            while i > 0 {
                if let Some(t) = tmp.get_mut(i) {
                    *t = (v & 0xff) as u8;
                }
                v >>= 8;
                i -= 1;
            }
        }
        if let (Some(dst), Some(src)) = (self.w.buf.get_mut(at..at + n), tmp.get(..n)) {
            dst.copy_from_slice(src);
        } else {
            self.w.overflow = true;
        }
    }

    /// A complete TLV.
    pub fn tlv(&mut self, tag: u8, content: &[u8]) {
        self.byte(tag);
        let at = self.w.pos;
        let n = length_len(content.len());
        self.w.pos = self.w.pos.saturating_add(n);
        if !self.w.overflow {
            if self.w.pos > self.w.buf.len() {
                self.w.overflow = true;
            } else {
                self.write_len_at(at, content.len());
            }
        }
        self.bytes(content);
    }

    /// Opens a constructed (or wrapping) value; close it with [`DerWriter::end`].
    pub fn begin(&mut self, tag: u8) -> Mark {
        self.byte(tag);
        let m = Mark { len_at: self.w.pos };
        self.byte(0);
        m
    }

    /// Closes a value opened with [`DerWriter::begin`], writing its length.
    pub fn end(&mut self, m: Mark) {
        let start = m.len_at + 1;
        let Some(len) = self.w.pos.checked_sub(start) else {
            self.logic = true;
            return;
        };
        let extra = length_len(len) - 1;
        if !self.w.overflow {
            if self.w.pos + extra > self.w.buf.len() {
                self.w.overflow = true;
            } else {
                if extra > 0 {
                    self.w.buf.copy_within(start..self.w.pos, start + extra);
                }
                self.write_len_at(m.len_at, len);
            }
        }
        self.w.pos += extra;
    }

    /// The content written since `m` (valid before `end(m)` when not overflowed).
    pub fn since(&self, m: &Mark) -> Option<&[u8]> {
        if self.w.overflow {
            return None;
        }
        self.w.buf.get(m.len_at + 1..self.w.pos)
    }

    /// Mutable view of the written bytes from `from` to the current position.
    pub fn written_mut(&mut self, from: usize) -> Option<&mut [u8]> {
        if self.w.overflow {
            return None;
        }
        self.w.buf.get_mut(from..self.w.pos)
    }

    /// Splits the buffer into (written bytes from `from`, free space).
    pub fn split_free(&mut self, from: usize) -> Option<(&[u8], &mut [u8])> {
        if self.w.overflow {
            return None;
        }
        let (a, b) = self.w.buf.split_at_mut(self.w.pos);
        Some((a.get(from..)?, b))
    }

    /// Claims `n` bytes of the free space as written (after [`Self::split_free`]).
    pub fn advance(&mut self, n: usize) {
        self.w.pos = self.w.pos.saturating_add(n);
        if self.w.pos > self.w.buf.len() {
            self.w.overflow = true;
        }
    }

    /// Marks the output as needing `n` more bytes without writing them.
    pub fn reserve_virtual(&mut self, n: usize) {
        self.w.overflow = true;
        self.w.pos = self.w.pos.saturating_add(n);
    }

    /// An unsigned INTEGER from big-endian bytes (leading zeros trimmed, sign octet added).
    pub fn uint(&mut self, be: &[u8]) {
        let mut b = be;
        while let [0, rest @ ..] = b {
            if rest.is_empty() {
                break;
            }
            b = rest;
        }
        if b.is_empty() {
            self.tlv(tag::INTEGER, &[0]);
            return;
        }
        let pad = b.first().is_some_and(|x| x & 0x80 != 0);
        let m = self.begin(tag::INTEGER);
        if pad {
            self.byte(0);
        }
        self.bytes(b);
        self.end(m);
    }

    /// A small non-negative INTEGER.
    pub fn small_uint(&mut self, v: u32) {
        self.uint(&v.to_be_bytes());
    }

    /// An OBJECT IDENTIFIER.
    pub fn oid(&mut self, oid: &const_oid::ObjectIdentifier) {
        self.tlv(tag::OID, oid.as_bytes());
    }

    /// A BOOLEAN.
    pub fn boolean(&mut self, v: bool) {
        self.tlv(tag::BOOLEAN, &[if v { 0xff } else { 0 }]);
    }

    /// Sorts the TLVs written since `m` into DER SET OF order (X.690 11.6).
    pub fn sort_set(&mut self, m: &Mark) -> Result<(), DerError> {
        let start = m.len_at + 1;
        let Some(content) = self.written_mut(start) else {
            return Ok(());
        };
        sort_tlvs(content)
    }

    /// Reverses the order of the TLVs written since `m`.
    pub fn reverse_elements(&mut self, m: &Mark) -> Result<(), DerError> {
        let start = m.len_at + 1;
        let Some(content) = self.written_mut(start) else {
            return Ok(());
        };
        let count = Reader::new(content).count_elements()?;
        // Move the last element to position i, for i = 0..count.
        let mut front = 0usize;
        for _ in 0..count {
            let mut r = Reader::new(content.get(front..).ok_or(DerError::LogicBug)?);
            let mut last_start = 0;
            while !r.is_empty() {
                last_start = r.offset();
                r.any()?;
            }
            let tail = content.get_mut(front..).ok_or(DerError::LogicBug)?;
            let tail_len = tail.len();
            let el_len = tail_len - last_start;
            tail.rotate_right(el_len);
            front += el_len;
        }
        Ok(())
    }

    /// Ends writing: the written length, or the size that was needed.
    pub fn finish(self) -> Result<usize, DerError> {
        if self.logic {
            Err(DerError::LogicBug)
        } else if self.w.overflow {
            Err(DerError::BufferTooSmall(BufferTooSmall::output(self.w.pos)))
        } else {
            Ok(self.w.pos)
        }
    }
}

/// DER SET OF ordering: compare encodings as octet strings, shorter padded with zeros.
fn der_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.len().max(b.len());
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        match x.cmp(&y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    Ordering::Equal
}

/// In-place insertion sort of consecutive TLVs (no allocation).
fn sort_tlvs(content: &mut [u8]) -> Result<(), DerError> {
    // Insertion sort: walk elements; rotate each into place among the sorted prefix.
    let mut sorted_end = 0usize;
    while sorted_end < content.len() {
        let el_len = {
            let mut r = Reader::new(content.get(sorted_end..).ok_or(DerError::LogicBug)?);
            r.any()?;
            r.offset()
        };
        // Find insertion point in sorted prefix.
        let mut ins = 0usize;
        loop {
            if ins >= sorted_end {
                break;
            }
            let cur_len = {
                let mut r = Reader::new(content.get(ins..sorted_end).ok_or(DerError::LogicBug)?);
                r.any()?;
                r.offset()
            };
            let cur = content.get(ins..ins + cur_len).ok_or(DerError::LogicBug)?;
            let new = content
                .get(sorted_end..sorted_end + el_len)
                .ok_or(DerError::LogicBug)?;
            if der_cmp(new, cur) == Ordering::Less {
                break;
            }
            ins += cur_len;
        }
        let region = content
            .get_mut(ins..sorted_end + el_len)
            .ok_or(DerError::LogicBug)?;
        region.rotate_right(el_len);
        sorted_end += el_len;
    }
    Ok(())
}

/// One decoded TLV, borrowing its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag octet.
    pub tag: u8,
    /// The content octets.
    pub value: &'a [u8],
    /// The whole encoding (tag, length, content).
    pub raw: &'a [u8],
    /// Offset of the tag within the reader's base input.
    pub offset: usize,
}

impl<'a> Tlv<'a> {
    /// A reader over this value's content, keeping absolute offsets.
    pub fn reader(&self) -> Reader<'a> {
        Reader::with_base(
            self.value,
            self.offset + (self.raw.len() - self.value.len()),
        )
    }
}

/// Zero-copy DER reader.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `input`, offsets counted from 0.
    pub fn new(input: &'a [u8]) -> Self {
        Self {
            input,
            pos: 0,
            base: 0,
        }
    }

    /// A reader whose offsets start at `base` (for nested values).
    pub fn with_base(input: &'a [u8], base: usize) -> Self {
        Self {
            input,
            pos: 0,
            base,
        }
    }

    /// Absolute offset of the next byte.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// True when all input is consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.input.len()
    }

    /// The tag of the next value, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    /// Reads any TLV.
    pub fn any(&mut self) -> Result<Tlv<'a>, DerError> {
        let start = self.pos;
        let off = self.offset();
        let tag = *self
            .input
            .get(start)
            .ok_or(DerError::Truncated { offset: off })?;
        if tag & 0x1f == 0x1f {
            return Err(DerError::HighTag { offset: off });
        }
        let l0 = *self
            .input
            .get(start + 1)
            .ok_or(DerError::Truncated { offset: off + 1 })?;
        let (len, hdr) = if l0 < 0x80 {
            (l0 as usize, 2)
        } else {
            let n = (l0 & 0x7f) as usize;
            if n == 0 || n > 4 {
                return Err(DerError::BadLength { offset: off + 1 });
            }
            let bytes = self
                .input
                .get(start + 2..start + 2 + n)
                .ok_or(DerError::Truncated { offset: off + 2 })?;
            if bytes.first() == Some(&0) {
                return Err(DerError::BadLength { offset: off + 1 });
            }
            let mut len = 0usize;
            for b in bytes {
                len = (len << 8) | *b as usize;
            }
            if len < 0x80 {
                return Err(DerError::BadLength { offset: off + 1 });
            }
            (len, 2 + n)
        };
        let end = (start + hdr)
            .checked_add(len)
            .ok_or(DerError::BadLength { offset: off + 1 })?;
        let raw = self
            .input
            .get(start..end)
            .ok_or(DerError::Truncated { offset: off })?;
        let value = raw.get(hdr..).ok_or(DerError::Truncated { offset: off })?;
        self.pos = end;
        Ok(Tlv {
            tag,
            value,
            raw,
            offset: off,
        })
    }

    /// Reads a TLV that must carry `tag`.
    pub fn require(&mut self, tag: u8) -> Result<Tlv<'a>, DerError> {
        let off = self.offset();
        match self.peek_tag() {
            None => Err(DerError::Truncated { offset: off }),
            Some(t) if t != tag => Err(DerError::UnexpectedTag {
                offset: off,
                expected: tag,
                found: t,
            }),
            Some(_) => self.any(),
        }
    }

    /// Reads a TLV if the next tag is `tag`.
    pub fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, DerError> {
        if self.peek_tag() == Some(tag) {
            self.any().map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails unless all input was consumed.
    pub fn finish(&self) -> Result<(), DerError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DerError::TrailingData {
                offset: self.offset(),
            })
        }
    }

    /// Counts the TLVs left.
    pub fn count_elements(mut self) -> Result<usize, DerError> {
        let mut n = 0;
        while !self.is_empty() {
            self.any()?;
            n += 1;
        }
        Ok(n)
    }
}

/// Parses exactly one TLV spanning all of `input`.
pub fn parse_single(input: &[u8]) -> Result<Tlv<'_>, DerError> {
    let mut r = Reader::new(input);
    let t = r.any()?;
    r.finish()?;
    Ok(t)
}

/// Reads a BOOLEAN's value.
pub fn boolean(t: &Tlv<'_>) -> Result<bool, DerError> {
    match t.value {
        [0] => Ok(false),
        [0xff] => Ok(true),
        _ => Err(DerError::BadValue { offset: t.offset }),
    }
}

/// Reads a small non-negative INTEGER.
pub fn small_uint(t: &Tlv<'_>) -> Result<u64, DerError> {
    let v = t.value;
    if v.is_empty() || v.len() > 9 || v.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(DerError::BadValue { offset: t.offset });
    }
    let mut n: u64 = 0;
    for b in v {
        n = n
            .checked_shl(8)
            .ok_or(DerError::BadValue { offset: t.offset })?
            | *b as u64;
    }
    Ok(n)
}

/// A BIT STRING's unused-bit count and bytes.
pub fn bit_string<'a>(t: &Tlv<'a>) -> Result<(u8, &'a [u8]), DerError> {
    match t.value {
        [unused, rest @ ..] if *unused < 8 && (!rest.is_empty() || *unused == 0) => {
            Ok((*unused, rest))
        }
        _ => Err(DerError::BadValue { offset: t.offset }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn long_form_lengths_shift_contents() {
        let mut buf = [0u8; 400];
        let mut w = DerWriter::new(&mut buf);
        let m = w.begin(tag::SEQUENCE);
        w.tlv(tag::OCTET_STRING, &[7u8; 200]);
        w.end(m);
        let n = w.finish().unwrap();
        assert_eq!(n, 1 + 2 + 1 + 2 + 200);
        assert_eq!(&buf[..6], &[0x30, 0x81, 203, 0x04, 0x81, 200]);
        let t = parse_single(&buf[..n]).unwrap();
        assert_eq!(t.value.len(), 203);
    }

    #[test]
    fn overflow_reports_exact_need() {
        for cap in 0..300 {
            let mut buf = vec![0u8; cap];
            let mut w = DerWriter::new(&mut buf);
            let m = w.begin(tag::SEQUENCE);
            w.tlv(tag::OCTET_STRING, &[1u8; 150]);
            let m2 = w.begin(tag::SET);
            w.small_uint(300);
            w.end(m2);
            w.end(m);
            let r = w.finish();
            let need = 3 + 3 + 150 + 2 + 4;
            if cap >= need {
                assert_eq!(r, Ok(need));
            } else {
                assert_eq!(
                    r,
                    Err(DerError::BufferTooSmall(BufferTooSmall::output(need))),
                    "cap {cap}"
                );
            }
        }
    }

    #[test]
    fn set_sorting_and_reverse() {
        let mut buf = [0u8; 64];
        let mut w = DerWriter::new(&mut buf);
        let m = w.begin(tag::SET);
        w.tlv(tag::UTF8_STRING, b"b");
        w.tlv(tag::UTF8_STRING, b"a");
        w.tlv(tag::INTEGER, &[5]);
        w.sort_set(&m).unwrap();
        assert_eq!(
            w.since(&m).unwrap(),
            &[2, 1, 5, 0x0c, 1, b'a', 0x0c, 1, b'b']
        );
        w.reverse_elements(&m).unwrap();
        assert_eq!(
            w.since(&m).unwrap(),
            &[0x0c, 1, b'b', 0x0c, 1, b'a', 2, 1, 5]
        );
        w.end(m);
        w.finish().unwrap();
    }

    #[test]
    fn reader_rejects_bad_lengths() {
        assert!(matches!(
            parse_single(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]),
            Err(DerError::BadLength { .. })
        ));
        assert!(matches!(
            parse_single(&[0x04, 0x80]),
            Err(DerError::BadLength { .. })
        ));
        assert!(matches!(
            parse_single(&[0x04, 0x05, 1]),
            Err(DerError::Truncated { .. })
        ));
        assert!(matches!(
            parse_single(&[0x04, 0x00, 0]),
            Err(DerError::TrailingData { offset: 2 })
        ));
        assert!(matches!(
            parse_single(&[0x1f, 0x00]),
            Err(DerError::HighTag { .. })
        ));
    }

    #[test]
    fn integers() {
        let mut buf = [0u8; 16];
        let mut w = DerWriter::new(&mut buf);
        w.uint(&[0, 0, 0x80]);
        w.uint(&[0, 0]);
        let n = w.finish().unwrap();
        assert_eq!(&buf[..n], &[2, 2, 0, 0x80, 2, 1, 0]);
    }
}
