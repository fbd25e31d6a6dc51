//! Hex helpers (uppercase display, tolerant parsing into caller buffers).

use core::fmt;

/// Writes bytes as uppercase hex without separators.
pub fn write_upper<W: fmt::Write>(out: &mut W, b: &[u8]) -> fmt::Result {
    for x in b {
        write!(out, "{x:02X}")?;
    }
    Ok(())
}

/// Writes bytes as `AA:BB:…` (openssl style).
pub fn write_colon<W: fmt::Write>(out: &mut W, b: &[u8]) -> fmt::Result {
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            out.write_char(':')?;
        }
        write!(out, "{x:02X}")?;
    }
    Ok(())
}

/// Value of one hex digit.
pub fn digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex digits (ASCII whitespace and `:` ignored) into `out`.
/// Returns the bytes written, or `Err(Some(byte offset))` of a bad character,
/// `Err(None)` for an odd digit count or a short buffer.
pub fn decode_loose<'o>(s: &str, out: &'o mut [u8]) -> Result<&'o [u8], Option<usize>> {
    let mut n = 0;
    let mut hi: Option<u8> = None;
    for (i, c) in s.bytes().enumerate() {
        if c.is_ascii_whitespace() || c == b':' {
            continue;
        }
        let v = digit(c).ok_or(Some(i))?;
        match hi.take() {
            None => hi = Some(v),
            Some(h) => {
                *out.get_mut(n).ok_or(None)? = h << 4 | v;
                n += 1;
            }
        }
    }
    if hi.is_some() {
        return Err(None);
    }
    out.get(..n).ok_or(None)
}
