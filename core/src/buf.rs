//! The one slice writer under every encoder of the crate (DER, XML, the
//! HTTP request head, profile subject strings, issuance records) and of the
//! appliance's flash records: bytes go into the caller's buffer; past its
//! end the writer keeps counting, so a short buffer is reported once, at
//! the end, as [`BufferTooSmall`] with the exact size that would have
//! fitted (the `encoded_len` / `encode_to_slice` contract of RustCrypto's
//! `der`, without writing twice).

use core::fmt;

use crate::error::BufferTooSmall;

/// Writes into a caller buffer, counting past its end.
#[derive(Debug)]
pub struct SliceWriter<'b> {
    pub(crate) buf: &'b mut [u8],
    pub(crate) pos: usize,
    pub(crate) overflow: bool,
}

impl<'b> SliceWriter<'b> {
    /// A writer that fills `buf` from its start.
    pub fn new(buf: &'b mut [u8]) -> Self {
        SliceWriter {
            buf,
            pos: 0,
            overflow: false,
        }
    }

    /// Appends `b` (counted, not written, once the buffer is full).
    pub fn put(&mut self, b: &[u8]) {
        let end = self.pos.saturating_add(b.len());
        if !self.overflow {
            match self.buf.get_mut(self.pos..end) {
                Some(dst) => dst.copy_from_slice(b),
                None => self.overflow = true,
            }
        }
        self.pos = end;
    }

    /// Appends one byte.
    pub fn put_byte(&mut self, b: u8) {
        self.put(&[b]);
    }

    /// Bytes written (or, after an overflow, that would have been written).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// True once the buffer has been exceeded.
    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    /// The bytes written so far (empty after an overflow).
    pub fn written(&self) -> &[u8] {
        if self.overflow {
            return &[];
        }
        self.buf.get(..self.pos).unwrap_or(&[])
    }

    /// Ends writing: the written bytes, or how many were needed, naming
    /// the buffer as `which`.
    pub fn finish(self, which: &'static str) -> Result<&'b mut [u8], BufferTooSmall> {
        let n = self.pos;
        if self.overflow {
            return Err(BufferTooSmall {
                buffer: which,
                needed: n,
            });
        }
        self.buf.get_mut(..n).ok_or(BufferTooSmall {
            buffer: which,
            needed: n,
        })
    }
}

impl fmt::Write for SliceWriter<'_> {
    /// Never fails: a short buffer shows in [`SliceWriter::finish`].
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.put(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn counts_past_the_end() {
        let mut b = [0u8; 4];
        let mut w = SliceWriter::new(&mut b);
        w.put(b"ab");
        assert_eq!(w.written(), b"ab");
        let _ = fmt::Write::write_fmt(&mut w, format_args!("{}", 12345));
        assert!(w.overflowed());
        assert_eq!(w.written(), b"");
        assert_eq!(
            w.finish("test").unwrap_err(),
            BufferTooSmall {
                buffer: "test",
                needed: 7
            }
        );
        let mut b = [0u8; 4];
        let mut w = SliceWriter::new(&mut b);
        w.put_byte(1);
        assert_eq!(w.finish("t").unwrap(), &[1]);
    }
}
