//! Certificate thumbprints: SHA-1 (what Windows, certmgr and the reference
//! connector's `RACertThumbprint` use) and SHA-256 of the certificate DER,
//! shown as uppercase hex; and a tolerant parser for pasted thumbprints.
//!
//! The parser accepts what people paste from certmgr, PowerShell, openssl or
//! a web page: spaces, colons, dashes, lowercase, straight and curly quotes,
//! a leading label (`RA Cert Thumbprint:`, `Thumbprint =`, `SHA1 Fingerprint=`),
//! and the invisible code points certmgr and browsers add (U+200E, U+200F,
//! U+200B, U+FEFF, U+00A0, U+202A–U+202E). Each invisible code point removed
//! is reported with its position, because "certificate not found" caused by
//! a U+200E nobody can see is the most common failure of RA connectors.

use core::fmt;

use sha1::Digest;

use crate::error::explain;

/// A SHA-1 thumbprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Thumbprint(pub [u8; 20]);

/// A SHA-256 thumbprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Thumbprint256(pub [u8; 32]);

impl Thumbprint {
    /// SHA-1 of the certificate DER.
    pub fn of(der: &[u8]) -> Self {
        let d = sha1::Sha1::digest(der);
        let mut t = [0u8; 20];
        t.copy_from_slice(&d);
        Thumbprint(t)
    }

    /// As 40 uppercase hex digits.
    pub fn to_hex(&self) -> heapless::String<40> {
        let mut s = heapless::String::new();
        let _ = fmt::write(&mut s, format_args!("{self}"));
        s
    }
}

impl Thumbprint256 {
    /// SHA-256 of the certificate DER.
    pub fn of(der: &[u8]) -> Self {
        let d = sha2::Sha256::digest(der);
        let mut t = [0u8; 32];
        t.copy_from_slice(&d);
        Thumbprint256(t)
    }
}

impl fmt::Display for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::hex::write_upper(f, &self.0)
    }
}

impl fmt::Display for Thumbprint256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::hex::write_upper(f, &self.0)
    }
}

/// Why a pasted thumbprint was refused. `pos` is the 1-based character
/// position in the text as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ThumbError {
    /// Nothing left after cleaning.
    Empty,
    /// A character that is neither a hex digit nor a tolerated separator.
    NotHex { ch: char, pos: usize },
    /// Not 40 hex digits (64 for SHA-256).
    WrongLength { digits: usize },
}

explain!(ThumbError {
    Empty => ("RC-THUMB-001", "thumbprint is empty", "paste the RA certificate's SHA-1 thumbprint (40 hex digits)");
    NotHex { ch, pos } => ("RC-THUMB-002", "thumbprint contains a character that is not a hex digit", "remove that character, or copy the thumbprint again from a list of the store's certificates"), "{ch:?} U+{:04X} at character {pos}", *ch as u32;
    WrongLength { digits } => ("RC-THUMB-003", "thumbprint does not have 40 hex digits", "a SHA-1 thumbprint has exactly 40 hex digits: a digit was lost or added while copying; compute it again from the certificate"), "found {digits}";
});

/// Something the parser removed that the user should know about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ThumbNote {
    /// An invisible code point was removed.
    InvisibleRemoved { ch: char, pos: usize },
    /// A label before the digits was removed.
    LabelRemoved,
}

explain!(ThumbNote {
    InvisibleRemoved { ch, pos } => ("RC-THUMB-W01", "an invisible character was removed from the thumbprint", "nothing to do; to avoid it, copy thumbprints from a list of the store rather than from the Windows certificate dialog, which adds U+200E"), "U+{:04X} {} at character {pos}", *ch as u32, invisible_name(*ch);
    LabelRemoved => ("RC-THUMB-W02", "a label before the thumbprint was removed", "nothing to do; the config value may hold just the 40 hex digits");
});

/// The result of parsing a pasted thumbprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The thumbprint.
    pub thumbprint: Thumbprint,
    /// The first notes (at most 8).
    pub notes: heapless::Vec<ThumbNote, 8>,
    /// How many invisible code points were removed in all.
    pub invisible_removed: usize,
}

/// Invisible code points that are removed (and reported).
pub fn invisible_name(c: char) -> &'static str {
    match c {
        '\u{200E}' => "LEFT-TO-RIGHT MARK",
        '\u{200F}' => "RIGHT-TO-LEFT MARK",
        '\u{200B}' => "ZERO WIDTH SPACE",
        '\u{200C}' => "ZERO WIDTH NON-JOINER",
        '\u{200D}' => "ZERO WIDTH JOINER",
        '\u{2060}' => "WORD JOINER",
        '\u{FEFF}' => "ZERO WIDTH NO-BREAK SPACE (BOM)",
        '\u{00A0}' => "NO-BREAK SPACE",
        '\u{202A}' => "LEFT-TO-RIGHT EMBEDDING",
        '\u{202B}' => "RIGHT-TO-LEFT EMBEDDING",
        '\u{202C}' => "POP DIRECTIONAL FORMATTING",
        '\u{202D}' => "LEFT-TO-RIGHT OVERRIDE",
        '\u{202E}' => "RIGHT-TO-LEFT OVERRIDE",
        _ => "",
    }
}

fn is_invisible(c: char) -> bool {
    !invisible_name(c).is_empty()
}

fn is_quote(c: char) -> bool {
    matches!(
        c,
        '"' | '\''
            | '\u{201C}'
            | '\u{201D}'
            | '\u{2018}'
            | '\u{2019}'
            | '`'
            | '\u{00AB}'
            | '\u{00BB}'
    )
}

/// Labels people paste along with the digits (compared case-insensitively).
const LABELS: &[&str] = &[
    "ra cert thumbprint",
    "racertthumbprint",
    "sha1 fingerprint",
    "sha-1 fingerprint",
    "sha1 thumbprint",
    "thumbprint",
    "fingerprint",
];

/// Parses a pasted SHA-1 thumbprint.
pub fn parse(text: &str) -> Result<Parsed, ThumbError> {
    parse_n::<20>(text).map(|(t, notes, invisible_removed)| Parsed {
        thumbprint: Thumbprint(t),
        notes,
        invisible_removed,
    })
}

/// Parses a pasted SHA-256 thumbprint.
pub fn parse_sha256(
    text: &str,
) -> Result<(Thumbprint256, heapless::Vec<ThumbNote, 8>), ThumbError> {
    parse_n::<32>(text).map(|(t, n, _)| (Thumbprint256(t), n))
}

#[allow(clippy::type_complexity)]
fn parse_n<const N: usize>(
    text: &str,
) -> Result<([u8; N], heapless::Vec<ThumbNote, 8>, usize), ThumbError> {
    let mut notes: heapless::Vec<ThumbNote, 8> = heapless::Vec::new();
    let mut invisible = 0usize;
    // Find a label: the text up to a ':' or '=' whose letters (ignoring
    // invisible code points and quotes) spell a known label.
    let mut skip_chars = 0usize;
    if let Some((i, _)) = text.char_indices().find(|(_, c)| *c == ':' || *c == '=') {
        let head = text.get(..i).unwrap_or("");
        let mut norm: heapless::String<48> = heapless::String::new();
        let mut ok = true;
        for c in head.chars().filter(|c| !is_invisible(*c) && !is_quote(*c)) {
            let c = c.to_ascii_lowercase();
            if norm.push(c).is_err() {
                ok = false;
                break;
            }
        }
        let n = norm.trim();
        if ok && !n.is_empty() && LABELS.iter().any(|l| n.eq_ignore_ascii_case(l)) {
            skip_chars = head.chars().count() + 1;
            let _ = notes.push(ThumbNote::LabelRemoved);
            // Report invisible code points inside the label too.
            for (ci, c) in head.chars().enumerate() {
                if is_invisible(c) {
                    invisible += 1;
                    let _ = notes.push(ThumbNote::InvisibleRemoved { ch: c, pos: ci + 1 });
                }
            }
        }
    }
    let mut out = [0u8; N];
    let mut digits = 0usize;
    let mut hi: Option<u8> = None;
    for (ci, c) in text.chars().enumerate().skip(skip_chars) {
        let pos = ci + 1;
        if is_invisible(c) {
            invisible += 1;
            let _ = notes.push(ThumbNote::InvisibleRemoved { ch: c, pos });
            continue;
        }
        if c.is_whitespace() || c == ':' || c == '-' || is_quote(c) {
            continue;
        }
        let v = c.to_digit(16).ok_or(ThumbError::NotHex { ch: c, pos })? as u8;
        if digits < 2 * N {
            match hi.take() {
                None => hi = Some(v),
                Some(h) => {
                    if let Some(o) = out.get_mut(digits / 2) {
                        *o = h << 4 | v;
                    }
                }
            }
        }
        digits += 1;
    }
    if digits == 0 {
        return Err(ThumbError::Empty);
    }
    if digits != 2 * N {
        return Err(ThumbError::WrongLength { digits });
    }
    Ok((out, notes, invisible))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;
    use std::string::ToString;

    const T: &str = "EA7A4E0CD1A4F81CF0740527C31A57F6020C17C5";

    #[test]
    fn tolerant_forms() {
        for s in [
            T,
            "ea7a4e0cd1a4f81cf0740527c31a57f6020c17c5",
            "ea 7a 4e 0c d1 a4 f8 1c f0 74 05 27 c3 1a 57 f6 02 0c 17 c5",
            "EA:7A:4E:0C:D1:A4:F8:1C:F0:74:05:27:C3:1A:57:F6:02:0C:17:C5",
            "\"EA7A4E0CD1A4F81CF0740527C31A57F6020C17C5\"",
            "\u{201C}EA7A4E0CD1A4F81CF0740527C31A57F6020C17C5\u{201D}",
            "RA Cert Thumbprint: EA7A4E0CD1A4F81CF0740527C31A57F6020C17C5",
            "SHA1 Fingerprint=EA:7A:4E:0C:D1:A4:F8:1C:F0:74:05:27:C3:1A:57:F6:02:0C:17:C5",
        ] {
            let p = parse(s).unwrap();
            assert_eq!(p.thumbprint.to_string(), T, "{s}");
            assert_eq!(p.invisible_removed, 0);
        }
    }

    #[test]
    fn invisible_reported_with_position() {
        let p = parse("\u{200E}ea7a4e0cd1a4f81cf0740527c31a57f6020c17c5\u{FEFF}").unwrap();
        assert_eq!(p.thumbprint.to_string(), T);
        assert_eq!(p.invisible_removed, 2);
        assert_eq!(
            p.notes[0],
            ThumbNote::InvisibleRemoved {
                ch: '\u{200E}',
                pos: 1
            }
        );
        assert_eq!(
            p.notes[1],
            ThumbNote::InvisibleRemoved {
                ch: '\u{FEFF}',
                pos: 42
            }
        );
        let p = parse("EA7A\u{00A0}4E0CD1A4F81CF0740527C31A57F6020C17C5").unwrap();
        assert_eq!(
            p.notes[0],
            ThumbNote::InvisibleRemoved {
                ch: '\u{00A0}',
                pos: 5
            }
        );
    }

    #[test]
    fn refusals_name_character_and_position() {
        assert_eq!(
            parse("EA7A4E0CD1A4F81CF0740527C31A57F6020C17CG"),
            Err(ThumbError::NotHex { ch: 'G', pos: 40 })
        );
        assert_eq!(parse(&T[..39]), Err(ThumbError::WrongLength { digits: 39 }));
        assert_eq!(
            parse(&std::format!("{T}0")),
            Err(ThumbError::WrongLength { digits: 41 })
        );
        assert_eq!(parse(" \u{200E} "), Err(ThumbError::Empty));
        assert_eq!(
            parse("Subject: EA7A"),
            Err(ThumbError::NotHex { ch: 'S', pos: 1 })
        );
    }
}
