//! PKCS certificate-profile rules of the reference connector (Microsoft
//! Intune Certificate Connector with the DigiCert PKI Platform), checked
//! before anything is sent.
//!
//! - Certification authority: a bare FQDN, optionally `:port` — no scheme,
//!   no path, no trailing slash. Each refusal says which.
//! - Certification authority name: exactly `Symantec`.
//! - Certificate template: the DigiCert certificate-profile OID; a valid OID
//!   (const-oid), with a warning when it is not under 2.16.840.1.113733.
//! - Subject formats: common name; common name including email; common name
//!   as email.
//! - SAN: email, UPN, other-name(OID). Resolution, as the reference
//!   connector does it: email ← UPN ← subject-if-email-format;
//!   UPN ← email ← subject-if-email-format; otherwise an error naming what
//!   was missing. Other-name has no fallback.
//! - Other-name values: hex (spaces allowed) is sent as base64 of the bytes;
//!   a value that is already base64 is sent as is with a warning (the
//!   reference connector does not check and double-encodes); typed prefixes
//!   `hex:`, `b64:`, `utf8:` say what is meant.
//! - A UPN with characters DigiCert refuses in mail_firstName/mail_lastName
//!   (e.g. `_`) gets a warning naming the fix (profile CN=<upn>).

use base64ct::{Base64, Encoding};

use crate::buf::SliceWriter;
use crate::error::{explain, BufferTooSmall};
use crate::oid::{self, Oid};

/// The CA name the reference connector requires for DigiCert.
pub const CA_NAME: &str = "Symantec";

/// Profile-rule failures.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ProfileError {
    /// Certification authority is empty.
    CaEmpty,
    /// It starts with a scheme (`https://`).
    CaHasScheme,
    /// It has a path (`/pki-ws/…`); `pos` is where the path starts.
    CaHasPath { pos: usize },
    /// It ends with `/`.
    CaTrailingSlash,
    /// A character that cannot be in a host name.
    CaBadChar { ch: char, pos: usize },
    /// The port is not a number from 1 to 65535.
    CaBadPort,
    /// A host label is empty, too long, or starts/ends with `-`.
    CaBadLabel { pos: usize },
    /// Certification authority name is not `Symantec`.
    CaNameWrong {
        case_only: bool,
        found: heapless::String<32>,
    },
    /// The template is not a dotted OID.
    TemplateNotOid,
    /// No email for an email SAN or subject.
    EmailMissing,
    /// No UPN for a UPN SAN.
    UpnMissing,
    /// Subject format asks for an email the user does not have.
    SubjectEmailMissing,
    /// An other-name value is empty.
    OtherNameEmpty,
    /// `hex:` value with a non-hex character or an odd number of digits.
    OtherNameBadHex { pos: usize },
    /// `b64:` value that is not base64.
    OtherNameBadBase64,
    /// A value with no prefix that is neither hex nor base64.
    OtherNameAmbiguous,
    /// Unknown subject-name format.
    UnknownSubjectFormat,
    /// Unknown SAN kind.
    UnknownSanKind,
    /// A caller buffer too small (how many bytes it needs).
    BufferTooSmall(BufferTooSmall),
    /// The common name is empty.
    CnEmpty,
    /// A control character in a value that goes to the CA.
    ControlChar {
        /// Which value (`cn`, `email`, `upn`, `other-name`).
        field: &'static str,
        /// Byte offset.
        pos: usize,
        /// The character.
        ch: char,
    },
    /// A warning the profile says to refuse (`strict`).
    Strict(ProfileWarning),
    /// A SID that is not `S-1-<authority>-<sub>…` (byte offset).
    BadSid {
        /// 1-based character position.
        pos: usize,
    },
    /// A SID given for a profile that does not say where it goes.
    SidNotConfigured,
    /// Unknown SID placement.
    UnknownSidPlacement,
}

explain!(ProfileError {
    CaEmpty => ("RC-PROF-001", "certification authority is empty", "set it to the PKI Platform host, e.g. pki-ws.symauth.com");
    CaHasScheme => ("RC-PROF-002", "certification authority has a scheme (https://)", "write only the host name, e.g. pki-ws.symauth.com — raconn adds https:// and the /pki-ws/ paths itself");
    CaHasPath { pos } => ("RC-PROF-003", "certification authority has a path", "write only the host name: drop everything from the first '/' on"), "at byte {pos}";
    CaTrailingSlash => ("RC-PROF-004", "certification authority ends with '/'", "remove the trailing slash");
    CaBadChar { ch, pos } => ("RC-PROF-005", "certification authority has a character not allowed in a host name", "write the FQDN with letters, digits, '-' and '.' only (no spaces)"), "{ch:?} at byte {pos}";
    CaBadPort => ("RC-PROF-006", "certification authority port is not a number from 1 to 65535", "write host:port with a valid port, or leave the port out for 443");
    CaBadLabel { pos } => ("RC-PROF-007", "certification authority host name has an empty or invalid label", "check for doubled dots, a leading/trailing dot or '-', or a label over 63 characters"), "at byte {pos}";
    CaNameWrong { case_only, found } => ("RC-PROF-008", "certification authority name must be exactly Symantec", "set the CA name to Symantec (the DigiCert PKI Platform keeps its Symantec-era name in the reference connector)"), "found {found:?}{}", if *case_only { ", which differs only in case" } else { "" };
    TemplateNotOid => ("RC-PROF-009", "certificate template is not an OID", "set it to the DigiCert certificate-profile OID shown in the PKI Manager profile, e.g. 2.16.840.1.113733.1.16.1.2.3.1.1.47196109");
    EmailMissing => ("RC-PROF-010", "no email for the email SAN: the user has no mail attribute, no UPN, and the subject is not an email address", "fill the user's mail attribute, or drop the email SAN from the profile");
    UpnMissing => ("RC-PROF-011", "no UPN for the UPN SAN: the user has no UPN, no mail attribute, and the subject is not an email address", "give the user a UPN, or drop the UPN SAN from the profile");
    SubjectEmailMissing => ("RC-PROF-012", "the subject format needs an email address and the user has none", "fill the user's mail attribute, or use the 'common-name' subject format");
    OtherNameEmpty => ("RC-PROF-013", "other-name value is empty", "give the value as hex (04 10 …), or as b64:/utf8:");
    OtherNameBadHex { pos } => ("RC-PROF-014", "other-name hex value is not hex", "write pairs of hex digits, spaces allowed (04 10 b8 ba …)"), "at byte {pos}";
    OtherNameBadBase64 => ("RC-PROF-015", "other-name b64: value is not base64", "give standard base64 with padding, or use hex:");
    OtherNameAmbiguous => ("RC-PROF-016", "other-name value is neither hex nor base64", "say what it is with a prefix: hex:, b64: or utf8:");
    UnknownSubjectFormat => ("RC-PROF-017", "unknown subject name format", "use common-name, common-name-including-email or common-name-as-email");
    UnknownSanKind => ("RC-PROF-018", "unknown subject alternative name kind", "use email, upn or other-name:<OID>");
    CnEmpty => ("RC-PROF-020", "common name is empty", "give the user's or device's common name");
    ControlChar { field, pos, ch } => ("RC-PROF-021", "a value holds a control character", "remove the character (line breaks and tabs included) from the directory attribute; no CA certificate should carry one"), "{field} at byte {pos}: U+{:04X}", *ch as u32;
    BadSid { pos } => ("RC-PROF-023", "the SID is not S-1-<authority>-<sub-authority>… (decimal sub-authorities below 2^32, 1 to 15 of them)", "give the user's objectSid in its text form, as `Get-ADUser … | Select SID` prints it, e.g. S-1-5-21-1004336348-1177238915-682003330-1104"), "character {pos}";
    SidNotConfigured => ("RC-PROF-024", "a SID was given, but the profile does not say where it goes", "set sid = \"extension\", \"san-url\" or \"both\" in the profile (a DigiCert profile for users with a SID, KB5014754), or leave --sid out");
    UnknownSidPlacement => ("RC-PROF-025", "unknown SID placement", "use extension (szOID_NTDS_CA_SECURITY_EXT), san-url (tag:microsoft.com,2022-09-14:sid:…) or both");
    Strict(w) => ("RC-PROF-022", "the profile is strict and refuses a value it would otherwise only warn about", "fix the value the warning names, or set strict = false in the profile to send it with a warning"), "{w}";
} delegate {
    BufferTooSmall(b) => b;
});

/// Warnings: accepted, but worth saying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ProfileWarning {
    /// Template OID not under 2.16.840.1.113733.
    TemplateNotDigicert,
    /// Other-name value looked like base64 already and is sent unchanged.
    OtherNameAlreadyBase64,
    /// UPN has a character DigiCert refuses in mail_firstName / mail_lastName.
    UpnSpecialChar { ch: char },
    /// Email SAN taken from the UPN.
    EmailFromUpn,
    /// Email SAN taken from the subject.
    EmailFromSubject,
    /// UPN SAN taken from the email.
    UpnFromEmail,
    /// UPN SAN taken from the subject.
    UpnFromSubject,
    /// The common name is over 64 characters.
    CnTooLong { len: usize },
    /// The email is not `local@domain`.
    EmailShape,
    /// A bidirectional-text control character.
    BidiControl { field: &'static str, pos: usize },
}

explain!(ProfileWarning {
    TemplateNotDigicert => ("RC-PROF-W01", "certificate template OID is not under DigiCert's arc 2.16.840.1.113733", "check you copied the certificate-profile OID from DigiCert PKI Manager, not another OID");
    OtherNameAlreadyBase64 => ("RC-PROF-W02", "other-name value is already base64 and is sent unchanged", "if it is meant as text, write utf8:<text>; if it is base64, write b64:<value> to silence this");
    UpnSpecialChar { ch } => ("RC-PROF-W03", "UPN has a character DigiCert refuses in mail_firstName/mail_lastName", "change the DigiCert profile so it asks for CN=<upn> instead of first and last name"), "{ch:?}";
    EmailFromUpn => ("RC-PROF-W04", "the user has no email: the email SAN uses the UPN", "nothing to do if intended; fill the mail attribute otherwise");
    EmailFromSubject => ("RC-PROF-W05", "the user has no email or UPN: the email SAN uses the subject", "nothing to do if intended; fill the mail attribute otherwise");
    UpnFromEmail => ("RC-PROF-W06", "the user has no UPN: the UPN SAN uses the email", "nothing to do if intended; set the UPN otherwise");
    UpnFromSubject => ("RC-PROF-W07", "the user has no UPN or email: the UPN SAN uses the subject", "nothing to do if intended; set the UPN otherwise");
    CnTooLong { len } => ("RC-PROF-W08", "the common name is longer than 64 characters (RFC 5280 ub-common-name)", "shorten the name: many CAs and relying parties refuse longer common names"), "{len} characters";
    EmailShape => ("RC-PROF-W09", "the email is not of the form local@domain", "check the user's mail attribute");
    BidiControl { field, pos } => ("RC-PROF-W10", "a value holds a bidirectional-text control character (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F)", "remove it: such characters make a name display differently from what it is"), "{field} at byte {pos}";
});

/// Checks one value that goes to the CA (`field` names it): a control
/// character is refused; a bidirectional-text control, an over-long common
/// name or an email that is not `local@domain` is a warning — refused too
/// when `strict`.
pub fn check_value(
    field: &'static str,
    value: &str,
    strict: bool,
    warn: &mut dyn FnMut(ProfileWarning),
) -> Result<(), ProfileError> {
    let mut note = |w: ProfileWarning| {
        if strict {
            Err(ProfileError::Strict(w))
        } else {
            warn(w);
            Ok(())
        }
    };
    for (pos, ch) in value.char_indices() {
        if ch.is_control() {
            return Err(ProfileError::ControlChar { field, pos, ch });
        }
    }
    if let Some((pos, _)) = value.char_indices().find(|(_, c)| {
        matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
    }) {
        note(ProfileWarning::BidiControl { field, pos })?;
    }
    if field == "cn" {
        let len = value.chars().count();
        if len > 64 {
            note(ProfileWarning::CnTooLong { len })?;
        }
    }
    if field == "email" {
        let ok = match value.split_once('@') {
            Some((l, d)) => {
                !l.is_empty()
                    && !d.is_empty()
                    && !d.contains('@')
                    && !d.starts_with('.')
                    && !d.ends_with('.')
            }
            None => false,
        };
        if !ok {
            note(ProfileWarning::EmailShape)?;
        }
    }
    Ok(())
}

/// A checked CA host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaHost<'a> {
    /// Host name (or IP literal).
    pub host: &'a str,
    /// Port, when given.
    pub port: Option<u16>,
}

impl CaHost<'_> {
    /// The port to connect to (443 by default).
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(443)
    }
}

/// Where a SID (strong certificate mapping, KB5014754) goes in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SidPlacement {
    /// The szOID_NTDS_CA_SECURITY_EXT extension (1.3.6.1.4.1.311.25.2).
    Extension,
    /// A SAN URI `tag:microsoft.com,2022-09-14:sid:<SID>` (MS-PKCA 3.1.5.2.1.6).
    SanUrl,
    /// Both.
    Both,
}

impl SidPlacement {
    /// Parses `extension`, `san-url`, `both`.
    pub fn parse(s: &str) -> Result<Self, ProfileError> {
        match s.trim() {
            "extension" => Ok(Self::Extension),
            "san-url" => Ok(Self::SanUrl),
            "both" => Ok(Self::Both),
            _ => Err(ProfileError::UnknownSidPlacement),
        }
    }

    /// The configuration spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Extension => "extension",
            Self::SanUrl => "san-url",
            Self::Both => "both",
        }
    }

    /// Whether the extension is written.
    pub const fn extension(self) -> bool {
        matches!(self, Self::Extension | Self::Both)
    }

    /// Whether the SAN URI is written.
    pub const fn san_url(self) -> bool {
        matches!(self, Self::SanUrl | Self::Both)
    }
}

/// The SAN URI prefix of a SID (MS-PKCA 3.1.5.2.1.6).
pub const SID_URL_PREFIX: &str = "tag:microsoft.com,2022-09-14:sid:";

/// Checks a SID in its text form (MS-DTYP 2.4.2.1): `S-1-`, an identifier
/// authority (decimal below 2^48, or `0x` and 12 hex digits), then 1 to 15
/// decimal sub-authorities below 2^32.
pub fn check_sid(s: &str) -> Result<(), ProfileError> {
    let rest = s
        .strip_prefix("S-1-")
        .ok_or(ProfileError::BadSid { pos: 1 })?;
    let mut pos = 5;
    let mut parts = rest.split('-');
    let auth = parts.next().unwrap_or("");
    let auth_ok = match auth.strip_prefix("0x").or_else(|| auth.strip_prefix("0X")) {
        Some(h) => h.len() == 12 && h.bytes().all(|b| b.is_ascii_hexdigit()),
        None => {
            !auth.is_empty()
                && auth.len() <= 15
                && auth.bytes().all(|b| b.is_ascii_digit())
                && auth.parse::<u64>().is_ok_and(|v| v < 1 << 48)
        }
    };
    if !auth_ok {
        return Err(ProfileError::BadSid { pos });
    }
    pos += auth.len() + 1;
    let mut subs = 0;
    for p in parts {
        let ok = !p.is_empty()
            && p.len() <= 10
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u64>().is_ok_and(|v| v <= u64::from(u32::MAX));
        if !ok || subs == 15 {
            return Err(ProfileError::BadSid { pos });
        }
        subs += 1;
        pos += p.len() + 1;
    }
    if subs == 0 {
        return Err(ProfileError::BadSid { pos: s.len() + 1 });
    }
    Ok(())
}

/// Checks the certification authority setting.
pub fn parse_ca_fqdn(s: &str) -> Result<CaHost<'_>, ProfileError> {
    if s.is_empty() {
        return Err(ProfileError::CaEmpty);
    }
    if let Some(i) = s.find("://") {
        let scheme = s.get(..i).unwrap_or("");
        if !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
        {
            return Err(ProfileError::CaHasScheme);
        }
    }
    if let Some(i) = s.find('/') {
        if i + 1 == s.len() && !s.get(..i).unwrap_or("").contains('/') {
            return Err(ProfileError::CaTrailingSlash);
        }
        return Err(ProfileError::CaHasPath { pos: i });
    }
    if let Some(rest) = s.strip_prefix('[') {
        // An IPv6 literal (RFC 3986 §3.2.2): [2001:db8::1] or [2001:db8::1]:8443.
        let (addr, after) = rest
            .split_once(']')
            .ok_or(ProfileError::CaBadChar { ch: '[', pos: 0 })?;
        if addr.parse::<core::net::Ipv6Addr>().is_err() {
            return Err(ProfileError::CaBadChar { ch: '[', pos: 0 });
        }
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .and_then(|p| p.parse::<u16>().ok())
                    .filter(|p| *p != 0)
                    .ok_or(ProfileError::CaBadPort)?,
            ),
        };
        return Ok(CaHost { host: addr, port });
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => {
            let port = p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or(ProfileError::CaBadPort)?;
            (h, Some(port))
        }
        _ => (s, None),
    };
    if let Some((pos, ch)) = host
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
    {
        return Err(ProfileError::CaBadChar { ch, pos });
    }
    let mut pos = 0;
    for label in host.split('.') {
        if label.is_empty() || label.len() > 63 || label.starts_with('-') || label.ends_with('-') {
            return Err(ProfileError::CaBadLabel { pos });
        }
        pos += label.len() + 1;
    }
    Ok(CaHost { host, port })
}

/// Checks the certification authority name.
pub fn check_ca_name(s: &str) -> Result<(), ProfileError> {
    if s == CA_NAME {
        return Ok(());
    }
    let mut found = heapless::String::new();
    for c in s.chars() {
        if found.push(c).is_err() {
            break;
        }
    }
    Err(ProfileError::CaNameWrong {
        case_only: s.trim().eq_ignore_ascii_case(CA_NAME),
        found,
    })
}

/// Checks the certificate template (profile OID).
pub fn parse_template(s: &str) -> Result<(Oid, Option<ProfileWarning>), ProfileError> {
    let o = Oid::new(s.trim()).map_err(|_| ProfileError::TemplateNotOid)?;
    let arc = oid::DIGICERT_ARC.as_bytes();
    let under = o.as_bytes().len() > arc.len() && o.as_bytes().starts_with(arc);
    Ok((
        o,
        if under {
            None
        } else {
            Some(ProfileWarning::TemplateNotDigicert)
        },
    ))
}

/// The subject name format of a PKCS profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SubjectFormat {
    /// `CN={cn}`
    CommonName,
    /// `CN={cn}, E={email}`
    CommonNameIncludingEmail,
    /// `CN={email}`
    CommonNameAsEmail,
}

impl SubjectFormat {
    /// Parses `common-name`, `common-name-including-email`, `common-name-as-email`.
    pub fn parse(s: &str) -> Result<Self, ProfileError> {
        match s.trim() {
            "common-name" => Ok(Self::CommonName),
            "common-name-including-email" => Ok(Self::CommonNameIncludingEmail),
            "common-name-as-email" => Ok(Self::CommonNameAsEmail),
            _ => Err(ProfileError::UnknownSubjectFormat),
        }
    }

    /// The configuration spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CommonName => "common-name",
            Self::CommonNameIncludingEmail => "common-name-including-email",
            Self::CommonNameAsEmail => "common-name-as-email",
        }
    }

    /// Writes the subject string (certreq syntax, values escaped) into `buf`.
    pub fn subject<'b>(
        self,
        id: &Identity<'_>,
        buf: &'b mut [u8],
    ) -> Result<&'b str, ProfileError> {
        if id.cn.trim().is_empty() && self != Self::CommonNameAsEmail {
            return Err(ProfileError::CnEmpty);
        }
        let mut w = StrBuf(SliceWriter::new(buf));
        match self {
            Self::CommonName => {
                w.push("CN=");
                w.escaped(id.cn);
            }
            Self::CommonNameIncludingEmail => {
                let e = id
                    .email
                    .filter(|e| !e.is_empty())
                    .ok_or(ProfileError::SubjectEmailMissing)?;
                w.push("CN=");
                w.escaped(id.cn);
                w.push(", E=");
                w.escaped(e);
            }
            Self::CommonNameAsEmail => {
                let e = id
                    .email
                    .filter(|e| !e.is_empty())
                    .ok_or(ProfileError::SubjectEmailMissing)?;
                w.push("CN=");
                w.escaped(e);
            }
        }
        w.finish()
    }
}

/// A subject string written through the one [`SliceWriter`].
struct StrBuf<'b>(SliceWriter<'b>);

impl<'b> StrBuf<'b> {
    fn push(&mut self, s: &str) {
        self.0.put(s.as_bytes());
    }
    fn escaped(&mut self, s: &str) {
        let _ = crate::name::write_escaped_str(&mut self.0, s);
    }
    fn finish(self) -> Result<&'b str, ProfileError> {
        let n = self.0.position();
        let b: &'b [u8] = self
            .0
            .finish("output")
            .map_err(ProfileError::BufferTooSmall)?;
        core::str::from_utf8(b).map_err(|_| ProfileError::BufferTooSmall(BufferTooSmall::output(n)))
    }
}

/// Who the certificate is for (from the directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity<'a> {
    /// Common name.
    pub cn: &'a str,
    /// The mail attribute, if any.
    pub email: Option<&'a str>,
    /// The user principal name, if any.
    pub upn: Option<&'a str>,
}

/// A SAN kind a profile asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SanKindSel {
    /// email
    Email,
    /// UPN
    Upn,
    /// other-name with this OID
    OtherName(Oid),
}

impl SanKindSel {
    /// Parses `email`, `upn`, `other-name:OID`.
    pub fn parse(s: &str) -> Result<Self, ProfileError> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("email") {
            Ok(Self::Email)
        } else if s.eq_ignore_ascii_case("upn") {
            Ok(Self::Upn)
        } else if let Some(o) = s.strip_prefix("other-name:") {
            Oid::new(o.trim())
                .map(Self::OtherName)
                .map_err(|_| ProfileError::UnknownSanKind)
        } else {
            Err(ProfileError::UnknownSanKind)
        }
    }
}

/// True when `s` has the shape local@domain (one `@`, both sides non-empty, no spaces).
pub fn is_email_format(s: &str) -> bool {
    match s.split_once('@') {
        Some((l, d)) => {
            !l.is_empty()
                && !d.is_empty()
                && !d.contains('@')
                && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.filter(|x| !x.trim().is_empty())
}

/// Email SAN value: email ← UPN ← subject (CN) if it has email format.
pub fn resolve_email<'a>(
    id: &Identity<'a>,
) -> Result<(&'a str, Option<ProfileWarning>), ProfileError> {
    if let Some(e) = nonempty(id.email) {
        return Ok((e, None));
    }
    if let Some(u) = nonempty(id.upn) {
        return Ok((u, Some(ProfileWarning::EmailFromUpn)));
    }
    if is_email_format(id.cn) {
        return Ok((id.cn, Some(ProfileWarning::EmailFromSubject)));
    }
    Err(ProfileError::EmailMissing)
}

/// UPN SAN value: UPN ← email ← subject (CN) if it has email format.
pub fn resolve_upn<'a>(
    id: &Identity<'a>,
) -> Result<(&'a str, Option<ProfileWarning>), ProfileError> {
    if let Some(u) = nonempty(id.upn) {
        return Ok((u, None));
    }
    if let Some(e) = nonempty(id.email) {
        return Ok((e, Some(ProfileWarning::UpnFromEmail)));
    }
    if is_email_format(id.cn) {
        return Ok((id.cn, Some(ProfileWarning::UpnFromSubject)));
    }
    Err(ProfileError::UpnMissing)
}

/// Characters DigiCert refuses in mail_firstName / mail_lastName when a
/// profile derives them from the UPN: anything but letters, digits, space,
/// `.`, `-` and `'` in the local part.
pub fn upn_name_warning(upn: &str) -> Option<ProfileWarning> {
    let local = upn.split('@').next().unwrap_or(upn);
    local
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, ' ' | '.' | '-' | '\'')))
        .map(|ch| ProfileWarning::UpnSpecialChar { ch })
}

/// How an other-name value was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherNameInput {
    /// Hex of the bytes (with or without `hex:`).
    Hex,
    /// Base64 given with `b64:`.
    Base64,
    /// Base64 given without a prefix (sent as is, with a warning).
    Base64Unprefixed,
    /// Text given with `utf8:`; the bytes are its UTF-8.
    Utf8,
}

/// A decoded other-name value.
#[derive(Debug, PartialEq, Eq)]
pub struct OtherNameValue<'b> {
    /// The bytes the value stands for.
    pub bytes: &'b [u8],
    /// The base64 text to send.
    pub base64: &'b str,
    /// How it was read.
    pub input: OtherNameInput,
    /// Warning, if any.
    pub warning: Option<ProfileWarning>,
}

fn all_hex(s: &str) -> bool {
    let mut n = 0;
    for c in s.chars() {
        if c.is_ascii_hexdigit() {
            n += 1;
        } else if !c.is_whitespace() {
            return false;
        }
    }
    n > 0 && n % 2 == 0
}

fn is_base64(s: &str) -> bool {
    let t = s.trim();
    !t.is_empty()
        && t.len().is_multiple_of(4)
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
}

fn b64_decoded_len(s: &str) -> usize {
    let pad = s.bytes().rev().take_while(|b| *b == b'=').count();
    (s.len() / 4 * 3).saturating_sub(pad)
}

/// Reads an other-name value. `bytes_buf` receives the decoded bytes and
/// `b64_buf` the base64 to send.
pub fn other_name_value<'b>(
    input: &str,
    bytes_buf: &'b mut [u8],
    b64_buf: &'b mut [u8],
) -> Result<OtherNameValue<'b>, ProfileError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(ProfileError::OtherNameEmpty);
    }
    let (kind, body) = if let Some(b) = s.strip_prefix("hex:") {
        (OtherNameInput::Hex, b)
    } else if let Some(b) = s.strip_prefix("b64:") {
        (OtherNameInput::Base64, b.trim())
    } else if let Some(b) = s.strip_prefix("utf8:") {
        (OtherNameInput::Utf8, b)
    } else if all_hex(s) {
        (OtherNameInput::Hex, s)
    } else if is_base64(s) {
        (OtherNameInput::Base64Unprefixed, s)
    } else {
        return Err(ProfileError::OtherNameAmbiguous);
    };
    let bytes_buf_len = bytes_buf.len();
    let bytes: &'b [u8] = match kind {
        OtherNameInput::Hex => {
            let need = body.chars().filter(|c| c.is_ascii_hexdigit()).count() / 2;
            if bytes_buf.len() < need {
                return Err(ProfileError::BufferTooSmall(BufferTooSmall::output(need)));
            }
            match crate::hex::decode_loose(body, bytes_buf) {
                Ok(b) if !b.is_empty() => b,
                Ok(_) => return Err(ProfileError::OtherNameEmpty),
                Err(Some(pos)) => {
                    return Err(ProfileError::OtherNameBadHex {
                        pos: pos + (s.len() - body.len()),
                    })
                }
                Err(None) => return Err(ProfileError::OtherNameBadHex { pos: s.len() }),
            }
        }
        OtherNameInput::Base64 | OtherNameInput::Base64Unprefixed => {
            Base64::decode(body, bytes_buf).map_err(|e| match e {
                base64ct::Error::InvalidLength
                    if is_base64(body) && bytes_buf_len < b64_decoded_len(body) =>
                {
                    ProfileError::BufferTooSmall(BufferTooSmall::output(b64_decoded_len(body)))
                }
                _ => ProfileError::OtherNameBadBase64,
            })?
        }
        OtherNameInput::Utf8 => {
            // The text as one DER UTF8String, the value an other-name carries.
            if body.is_empty() {
                return Err(ProfileError::OtherNameEmpty);
            }
            if let Some((pos, ch)) = body.char_indices().find(|(_, c)| c.is_control()) {
                return Err(ProfileError::ControlChar {
                    field: "other-name",
                    pos,
                    ch,
                });
            }
            let mut w = crate::asn1::DerWriter::new(bytes_buf);
            w.tlv(crate::asn1::tag::UTF8_STRING, body.as_bytes());
            let n = w.finish().map_err(|e| match e {
                crate::asn1::DerError::BufferTooSmall(b) => ProfileError::BufferTooSmall(b),
                _ => ProfileError::OtherNameEmpty,
            })?;
            bytes_buf.get(..n).unwrap_or(&[])
        }
    };
    if bytes.is_empty() {
        return Err(ProfileError::OtherNameEmpty);
    }
    let need = Base64::encoded_len(bytes);
    let base64 = match kind {
        OtherNameInput::Base64 | OtherNameInput::Base64Unprefixed => {
            // Send the canonical encoding of what was decoded.
            Base64::encode(bytes, b64_buf)
                .map_err(|_| ProfileError::BufferTooSmall(BufferTooSmall::output(need)))?
        }
        _ => Base64::encode(bytes, b64_buf)
            .map_err(|_| ProfileError::BufferTooSmall(BufferTooSmall::output(need)))?,
    };
    Ok(OtherNameValue {
        bytes,
        base64,
        input: kind,
        warning: if kind == OtherNameInput::Base64Unprefixed {
            Some(ProfileWarning::OtherNameAlreadyBase64)
        } else {
            None
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn ca_fqdn_rules() {
        assert_eq!(
            parse_ca_fqdn("pki-ws.symauth.com"),
            Ok(CaHost {
                host: "pki-ws.symauth.com",
                port: None
            })
        );
        assert_eq!(parse_ca_fqdn("localhost:8443").unwrap().port, Some(8443));
        assert_eq!(
            parse_ca_fqdn("[2001:db8::1]:8443"),
            Ok(CaHost {
                host: "2001:db8::1",
                port: Some(8443)
            })
        );
        assert_eq!(parse_ca_fqdn("[::1]").unwrap().port, None);
        assert!(parse_ca_fqdn("[2001:db8::zz]:443").is_err());
        assert!(parse_ca_fqdn("[::1]:0").is_err());
        assert!(parse_ca_fqdn("2001:db8::1").is_err());
        assert_eq!(
            parse_ca_fqdn("https://pki-ws.symauth.com"),
            Err(ProfileError::CaHasScheme)
        );
        assert_eq!(
            parse_ca_fqdn("pki-ws.symauth.com/"),
            Err(ProfileError::CaTrailingSlash)
        );
        assert_eq!(
            parse_ca_fqdn("pki-ws.symauth.com/pki-ws"),
            Err(ProfileError::CaHasPath { pos: 18 })
        );
        assert_eq!(
            parse_ca_fqdn("pki ws.com"),
            Err(ProfileError::CaBadChar { ch: ' ', pos: 3 })
        );
        assert_eq!(
            parse_ca_fqdn("a..b"),
            Err(ProfileError::CaBadLabel { pos: 2 })
        );
        assert_eq!(parse_ca_fqdn("a.b:0"), Err(ProfileError::CaBadPort));
        assert_eq!(parse_ca_fqdn(""), Err(ProfileError::CaEmpty));
    }

    #[test]
    fn ca_name() {
        assert!(check_ca_name("Symantec").is_ok());
        match check_ca_name("symantec") {
            Err(ProfileError::CaNameWrong {
                case_only: true,
                found,
            }) => assert_eq!(found.as_str(), "symantec"),
            e => panic!("{e:?}"),
        }
        assert!(matches!(
            check_ca_name("DigiCert"),
            Err(ProfileError::CaNameWrong {
                case_only: false,
                ..
            })
        ));
    }

    #[test]
    fn template() {
        assert_eq!(
            parse_template("2.16.840.1.113733.1.16.1.2.3.1.1.47196109")
                .unwrap()
                .1,
            None
        );
        assert_eq!(
            parse_template("1.2.3.4").unwrap().1,
            Some(ProfileWarning::TemplateNotDigicert)
        );
        assert_eq!(
            parse_template("2.16.840.1.113733").unwrap().1,
            Some(ProfileWarning::TemplateNotDigicert)
        );
        assert_eq!(
            parse_template("profile-47196109"),
            Err(ProfileError::TemplateNotOid)
        );
    }

    #[test]
    fn fallbacks_as_reference_connector() {
        let full = Identity {
            cn: "Zoë",
            email: Some("zoe@contoso.com"),
            upn: Some("zoe@corp.local"),
        };
        assert_eq!(resolve_email(&full), Ok(("zoe@contoso.com", None)));
        assert_eq!(resolve_upn(&full), Ok(("zoe@corp.local", None)));
        let no_mail = Identity {
            email: None,
            ..full
        };
        assert_eq!(
            resolve_email(&no_mail),
            Ok(("zoe@corp.local", Some(ProfileWarning::EmailFromUpn)))
        );
        let no_upn = Identity {
            upn: Some(""),
            ..full
        };
        assert_eq!(
            resolve_upn(&no_upn),
            Ok(("zoe@contoso.com", Some(ProfileWarning::UpnFromEmail)))
        );
        let subj = Identity {
            cn: "dev@contoso.com",
            email: None,
            upn: None,
        };
        assert_eq!(
            resolve_email(&subj),
            Ok(("dev@contoso.com", Some(ProfileWarning::EmailFromSubject)))
        );
        assert_eq!(
            resolve_upn(&subj),
            Ok(("dev@contoso.com", Some(ProfileWarning::UpnFromSubject)))
        );
        let none = Identity {
            cn: "device01",
            email: None,
            upn: None,
        };
        assert_eq!(resolve_email(&none), Err(ProfileError::EmailMissing));
        assert_eq!(resolve_upn(&none), Err(ProfileError::UpnMissing));
    }

    #[test]
    fn subject_formats() {
        let id = Identity {
            cn: "Müller, Zoë",
            email: Some("zoe@contoso.com"),
            upn: None,
        };
        let mut b = [0u8; 64];
        assert_eq!(
            SubjectFormat::CommonName.subject(&id, &mut b),
            Ok("CN=Müller\\, Zoë")
        );
        assert_eq!(
            SubjectFormat::CommonNameIncludingEmail.subject(&id, &mut b),
            Ok("CN=Müller\\, Zoë, E=zoe@contoso.com")
        );
        assert_eq!(
            SubjectFormat::CommonNameAsEmail.subject(&id, &mut b),
            Ok("CN=zoe@contoso.com")
        );
        let noe = Identity { email: None, ..id };
        assert_eq!(
            SubjectFormat::CommonNameAsEmail.subject(&noe, &mut b),
            Err(ProfileError::SubjectEmailMissing)
        );
        let mut small = [0u8; 4];
        assert_eq!(
            SubjectFormat::CommonName.subject(&id, &mut small),
            Err(ProfileError::BufferTooSmall(BufferTooSmall::output(17)))
        );
    }

    #[test]
    fn other_names() {
        let (mut a, mut b) = ([0u8; 64], [0u8; 128]);
        let v = other_name_value(
            "04 10 b8 ba 6b 2f 3a 4c 4d 9e 8f 00 11 22 33 44 55 66",
            &mut a,
            &mut b,
        )
        .unwrap();
        assert_eq!(v.bytes.len(), 18);
        assert_eq!(v.base64, "BBC4umsvOkxNno8AESIzRFVm");
        assert_eq!(v.warning, None);
        let (mut a, mut b) = ([0u8; 64], [0u8; 128]);
        let v = other_name_value("BBC4umsvOkxNno8AESIzRFVm", &mut a, &mut b).unwrap();
        assert_eq!(v.input, OtherNameInput::Base64Unprefixed);
        assert_eq!(v.base64, "BBC4umsvOkxNno8AESIzRFVm");
        assert_eq!(v.warning, Some(ProfileWarning::OtherNameAlreadyBase64));
        let (mut a, mut b) = ([0u8; 64], [0u8; 128]);
        let v = other_name_value("utf8:abc", &mut a, &mut b).unwrap();
        // A DER UTF8String: 0C 03 'a' 'b' 'c'.
        assert_eq!(v.bytes, &[0x0C, 3, b'a', b'b', b'c'][..]);
        assert_eq!(v.base64, "DANhYmM=");
        let (mut a, mut b) = ([0u8; 64], [0u8; 128]);
        assert_eq!(
            other_name_value("hex:04 1g", &mut a, &mut b),
            Err(ProfileError::OtherNameBadHex { pos: 8 })
        );
        let (mut a, mut b) = ([0u8; 64], [0u8; 128]);
        assert_eq!(
            other_name_value("not base64!", &mut a, &mut b),
            Err(ProfileError::OtherNameAmbiguous)
        );
        let (mut a, mut b) = ([0u8; 64], [0u8; 128]);
        assert_eq!(
            other_name_value("b64:@@@@", &mut a, &mut b),
            Err(ProfileError::OtherNameBadBase64)
        );
    }

    #[test]
    fn upn_special() {
        assert_eq!(
            upn_name_warning("zoe_m@contoso.com"),
            Some(ProfileWarning::UpnSpecialChar { ch: '_' })
        );
        assert_eq!(upn_name_warning("zoe.muller@contoso.com"), None);
    }
}
