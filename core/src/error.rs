//! Errors and warnings with stable codes.
//!
//! Every module keeps its own error enum; each variant has a stable code
//! (`RC-AREA-NNN`), a one-line message and a remedy, all `&'static str`, so
//! they work without `alloc`. The [`Error`] enum folds them together, and
//! [`CODES`] lists every code for `raconn explain` and the README table.
//! Variants carry the detail that locates the fault (line, byte offset,
//! code point, needed buffer size); `Display` prints code, message and detail.

use core::fmt;

/// One row of the error-code table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// Stable identifier, e.g. `RC-THUMB-002`.
    pub code: &'static str,
    /// What went wrong, in one line.
    pub message: &'static str,
    /// What to do about it.
    pub remedy: &'static str,
}

impl Code {
    /// A row; its message and remedy are kept only with the `texts`
    /// feature (see [`TEXTS`]). Evaluated at compile time, so a build
    /// without the feature carries none of the strings.
    pub const fn new(code: &'static str, message: &'static str, remedy: &'static str) -> Code {
        Code {
            code,
            message: text(message),
            remedy: text(remedy),
        }
    }
}

/// Whether messages and remedies are compiled in (the `texts` feature, on
/// by default). An appliance build may leave them out — 23 KB of strings
/// on the Cortex-M4 firmware — and print the codes alone; `raconn explain
/// CODE` on any desktop host prints the message and remedy of the same
/// table, like a defmt log is decoded off the device.
pub const TEXTS: bool = cfg!(feature = "texts");

/// `s` with the `texts` feature, else the empty string.
pub const fn text(s: &'static str) -> &'static str {
    if TEXTS {
        s
    } else {
        ""
    }
}

/// Writes `CODE: message`, or the code alone when the message was left
/// out (no `texts` feature).
pub fn write_code(f: &mut fmt::Formatter<'_>, row: &Code) -> fmt::Result {
    f.write_str(row.code)?;
    if !row.message.is_empty() {
        f.write_str(": ")?;
        f.write_str(row.message)?;
    }
    Ok(())
}

/// Implemented by every error and warning enum of the crate.
pub trait Explain {
    /// The stable code, e.g. `RC-THUMB-002`.
    fn code(&self) -> &'static str;
    /// One-line message.
    fn message(&self) -> &'static str;
    /// What the user should do.
    fn remedy(&self) -> &'static str;
}

/// Declares an error enum's codes, messages, remedies and details — the
/// one mechanism every crate uses (the core's enums, the desktop host's,
/// the appliance's). It implements [`Explain`] and `Display`
/// (`CODE: message (detail)`), and defines the enum's `CODES` table.
///
/// ```text
/// explain!(MyError {
///     Variant => ("RC-AREA-001", "message", "remedy");
///     WithDetail { offset } => ("RC-AREA-002", "message", "remedy"), "at byte {offset}";
///     Formatted { ch } => ("RC-AREA-003", "m", "r"), "{ch:?} U+{:04X}", *ch as u32;
///     Tuple(e) => [catalogue::SOME_ROW], "{e}";      // a row declared in the catalogue
/// } delegate {
///     Inner(e) => e;                                 // code, message, remedy of `e`
///     Wrapped { kind, phase } => kind, "{phase}";    // …with a detail of its own
/// });
/// ```
/// A variant lists the fields its detail uses (`{ a, b }` or `(a)`); the
/// detail is a format string with its arguments.
#[macro_export]
macro_rules! explain {
    (
        $ty:ident {
            $( $var:ident $({ $($f:ident),* $(,)? })? $(( $($t:ident),* ))?
                => $row:tt $(, $fmt:literal $(, $arg:expr)* )? ; )*
        }
        $( delegate {
            $( $dvar:ident $({ $($df:ident),* $(,)? })? $(( $($dt:ident),* ))?
                => $inner:ident $(, $dfmt:literal $(, $darg:expr)* )? ; )*
        } )?
    ) => {
        impl $crate::error::Explain for $ty {
            #[allow(unused_variables)]
            fn code(&self) -> &'static str {
                match self {
                    $( $crate::__explain_pat!($var $({ $($f),* })? $(( $($t),* ))?) => $crate::__explain_row!($row).code, )*
                    $($( $crate::__explain_pat!($dvar $({ $($df),* })? $(( $($dt),* ))?) => $crate::error::Explain::code($inner), )*)?
                }
            }
            #[allow(unused_variables)]
            fn message(&self) -> &'static str {
                match self {
                    $( $crate::__explain_pat!($var $({ $($f),* })? $(( $($t),* ))?) => $crate::__explain_row!($row).message, )*
                    $($( $crate::__explain_pat!($dvar $({ $($df),* })? $(( $($dt),* ))?) => $crate::error::Explain::message($inner), )*)?
                }
            }
            #[allow(unused_variables)]
            fn remedy(&self) -> &'static str {
                match self {
                    $( $crate::__explain_pat!($var $({ $($f),* })? $(( $($t),* ))?) => $crate::__explain_row!($row).remedy, )*
                    $($( $crate::__explain_pat!($dvar $({ $($df),* })? $(( $($dt),* ))?) => $crate::error::Explain::remedy($inner), )*)?
                }
            }
        }
        impl $ty {
            /// Every code this enum declares (delegated variants carry their own).
            pub const CODES: &'static [$crate::error::Code] = &[ $( $crate::__explain_row!($row), )* ];
        }
        impl ::core::fmt::Display for $ty {
            #[allow(unused_variables)]
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                match self {
                    $( $crate::__explain_pat!($var $({ $($f),* })? $(( $($t),* ))?) => {
                        $crate::error::write_code(f, &$crate::__explain_row!($row))?;
                        $( f.write_str(" (")?; ::core::write!(f, $fmt $(, $arg)*)?; f.write_str(")")?; )?
                        Ok(())
                    } )*
                    $($( $crate::__explain_pat!($dvar $({ $($df),* })? $(( $($dt),* ))?) => {
                        ::core::fmt::Display::fmt($inner, f)?;
                        $( f.write_str(" (")?; ::core::write!(f, $dfmt $(, $darg)*)?; f.write_str(")")?; )?
                        Ok(())
                    } )*)?
                }
            }
        }
    };
}

/// A variant pattern for [`explain!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __explain_pat {
    ($v:ident { $($f:ident),* }) => { Self::$v { $($f,)* .. } };
    ($v:ident ( $($t:ident),* )) => { Self::$v ( $($t,)* .. ) };
    ($v:ident) => { Self::$v { .. } };
}

/// A row for [`explain!`]: a literal `(code, message, remedy)` or a `[Code]` constant.
#[doc(hidden)]
#[macro_export]
macro_rules! __explain_row {
    (($c:literal, $m:literal, $r:literal $(,)?)) => {
        const { $crate::error::Code::new($c, $m, $r) }
    };
    ([$p:path]) => {
        $p
    };
}

pub(crate) use crate::explain;

/// A caller buffer was too small: which one, and the size that would have fitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BufferTooSmall {
    /// Which buffer (`request`, `work`, `token`, `record`, …).
    pub buffer: &'static str,
    /// Bytes it needs.
    pub needed: usize,
}

impl BufferTooSmall {
    /// The caller's output buffer needs `needed` bytes.
    pub const fn output(needed: usize) -> Self {
        BufferTooSmall {
            buffer: "output",
            needed,
        }
    }
}

impl Explain for BufferTooSmall {
    fn code(&self) -> &'static str {
        BUFFER_CODE.code
    }
    fn message(&self) -> &'static str {
        BUFFER_CODE.message
    }
    fn remedy(&self) -> &'static str {
        BUFFER_CODE.remedy
    }
}

const BUFFER_CODE: Code = Code::new(
    "RC-BUF-001",
    "a working buffer is too small for this request",
    "the error names the buffer and the bytes it needs: give that buffer at least that size (on the desktop, where buffers are generous, report it: the input is far larger than any real one; a signature buffer too small is a bug in the signer's max_signature_len)",
);

impl fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_code(f, &BUFFER_CODE)?;
        write!(
            f,
            " (the {} buffer needs {} bytes)",
            self.buffer, self.needed
        )
    }
}

/// The crate-wide error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// DER encoding or decoding.
    Der(crate::asn1::DerError),
    /// Distinguished-name parsing and encoding.
    Name(crate::name::NameError),
    /// Extensions and subject alternative names.
    Ext(crate::ext::ExtError),
    /// PKCS#10 assembly and signing.
    Csr(crate::csr::CsrError),
    /// PEM armour.
    Pem(crate::pem::PemError),
    /// certreq.ini parsing.
    Inf(crate::inf::InfError),
    /// Certificate and PKCS#7 views.
    Cert(crate::cert::CertError),
    /// Thumbprint parsing.
    Thumb(crate::thumbprint::ThumbError),
    /// PKCS profile rules.
    Profile(crate::profile::ProfileError),
    /// XML writing and reading.
    Xml(crate::xml::XmlError),
    /// PKI Web Services.
    Pkiws(crate::pkiws::PkiwsError),
    /// Pre-send check against the policy.
    Check(crate::pkiws::check::CheckError),
    /// HTTP framing of a reply.
    Http(crate::http::HttpError),
    /// The issuance transaction and its records.
    Tx(crate::issuance::TxError),
    /// Revocation.
    Revoke(crate::pkiws::revoke::RevokeError),
    /// A caller buffer too small.
    Buffer(BufferTooSmall),
}

macro_rules! fold {
    ($($var:ident($ty:path)),*) => {
        $( impl From<$ty> for Error { fn from(e: $ty) -> Self { Error::$var(e) } } )*
        impl Explain for Error {
            fn code(&self) -> &'static str { match self { $( Error::$var(e) => e.code(), )* } }
            fn message(&self) -> &'static str { match self { $( Error::$var(e) => e.message(), )* } }
            fn remedy(&self) -> &'static str { match self { $( Error::$var(e) => e.remedy(), )* } }
        }
        impl fmt::Display for Error {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self { $( Error::$var(e) => fmt::Display::fmt(e, f), )* }
            }
        }
    };
}
fold!(
    Der(crate::asn1::DerError),
    Name(crate::name::NameError),
    Ext(crate::ext::ExtError),
    Csr(crate::csr::CsrError),
    Pem(crate::pem::PemError),
    Inf(crate::inf::InfError),
    Cert(crate::cert::CertError),
    Thumb(crate::thumbprint::ThumbError),
    Profile(crate::profile::ProfileError),
    Xml(crate::xml::XmlError),
    Pkiws(crate::pkiws::PkiwsError),
    Check(crate::pkiws::check::CheckError),
    Http(crate::http::HttpError),
    Tx(crate::issuance::TxError),
    Revoke(crate::pkiws::revoke::RevokeError),
    Buffer(BufferTooSmall)
);

impl core::error::Error for Error {}

impl Error {
    /// True when the same request may succeed later unchanged: the network,
    /// the CA's availability or an approval stood in the way. A service
    /// retries these with backoff; everything else needs a change first.
    pub fn retryable(&self) -> bool {
        match self {
            Error::Pkiws(e) => e.retryable(),
            Error::Http(e) => e.retryable(),
            Error::Tx(e) => e.retryable(),
            _ => false,
        }
    }
}

/// Every error and warning code of the crate, in module order.
pub const CODES: &[&[Code]] = &[
    crate::asn1::DerError::CODES,
    crate::name::NameError::CODES,
    crate::ext::ExtError::CODES,
    crate::csr::CsrError::CODES,
    crate::csr::SignError::CODES,
    crate::pem::PemError::CODES,
    crate::inf::InfError::CODES,
    crate::inf::InfWarning::CODES,
    crate::cert::CertError::CODES,
    crate::cert::ClockNote::CODES,
    crate::thumbprint::ThumbError::CODES,
    crate::thumbprint::ThumbNote::CODES,
    crate::profile::ProfileError::CODES,
    crate::profile::ProfileWarning::CODES,
    crate::xml::XmlError::CODES,
    crate::pkiws::PkiwsError::CODES,
    crate::pkiws::check::CheckError::CODES,
    crate::http::HttpError::CODES,
    crate::issuance::TxError::CODES,
    crate::pkiws::revoke::RevokeError::CODES,
    &[BUFFER_CODE],
];

/// Looks a code up (case-insensitive).
pub fn lookup(code: &str) -> Option<&'static Code> {
    CODES
        .iter()
        .flat_map(|t| t.iter())
        .find(|c| c.code.eq_ignore_ascii_case(code.trim()))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    /// With `texts` a failure prints code, message and detail; without it
    /// (`scripts/test.sh` runs this test both ways) the code and detail
    /// alone, and no table row carries a string.
    #[test]
    fn texts_feature() {
        let e = Error::Buffer(BufferTooSmall {
            buffer: "work",
            needed: 10,
        });
        let shown = e.to_string();
        std::println!("texts: {TEXTS}");
        let rows = || CODES.iter().flat_map(|t| t.iter());
        if TEXTS {
            assert_eq!(
                shown,
                "RC-BUF-001: a working buffer is too small for this request (the work buffer needs 10 bytes)"
            );
            assert!(rows().all(|c| !c.message.is_empty() && !c.remedy.is_empty()));
        } else {
            assert_eq!(shown, "RC-BUF-001 (the work buffer needs 10 bytes)");
            assert!(rows().all(|c| c.message.is_empty() && c.remedy.is_empty()));
            let d = Error::Der(crate::asn1::DerError::Truncated { offset: 3 });
            assert!(d.to_string().starts_with("RC-DER-"), "{d}");
            assert!(!d.to_string().contains(": "), "{d}");
        }
    }
}
