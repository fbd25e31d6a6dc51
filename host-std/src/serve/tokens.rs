//! Bearer tokens for the service's API (RFC 6750). The tokens file holds one
//! `NAME SHA-256-HEX` line per token — the hash, never the token; `raconn
//! token add NAME` makes a token from 32 random bytes, prints it once and
//! appends its line (the file is rewritten atomically, 0600). A presented
//! token is hashed and compared with every line in constant time.

use std::path::Path;

use base64::Engine as _;
use sha2::Digest as _;

use crate::errors::{HostError, ServiceError};

/// The loaded tokens: (name, SHA-256).
#[derive(Debug, Clone, Default)]
pub struct Tokens(Vec<(String, [u8; 32])>);

fn hex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn line_err(path: &Path, n: usize, what: &str) -> HostError {
    HostError::Config {
        file: path.to_path_buf(),
        line: Some(n),
        key: String::new(),
        msg: format!("a tokens line is `NAME SHA256-HEX`: {what}"),
    }
}

impl Tokens {
    /// Reads the tokens file; a missing file is no tokens.
    pub fn load(path: &Path) -> Result<Tokens, HostError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Tokens::default()),
            Err(err) => {
                return Err(HostError::Read {
                    path: path.to_path_buf(),
                    err,
                })
            }
        };
        let mut v = Vec::new();
        for (i, l) in text.lines().enumerate() {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let (name, hash) = l
                .split_once(char::is_whitespace)
                .ok_or_else(|| line_err(path, i + 1, "no hash"))?;
            let h = hex32(hash.trim())
                .ok_or_else(|| line_err(path, i + 1, "the hash is not 64 hex digits"))?;
            v.push((name.to_string(), h));
        }
        Ok(Tokens(v))
    }

    /// No token configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The name of the token `presented`, if it is one.
    pub fn check(&self, presented: &str) -> Option<&str> {
        let h: [u8; 32] = sha2::Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for (name, want) in &self.0 {
            let diff = want.iter().zip(h.iter()).fold(0u8, |a, (x, y)| a | (x ^ y));
            if diff == 0 {
                found = Some(name.as_str());
            }
        }
        found
    }

    /// `raconn token add NAME`: a new token, whose hash is appended to the file.
    pub fn add(path: &Path, name: &str) -> Result<String, HostError> {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
        {
            return Err(ServiceError::BadBody {
                field: "NAME".into(),
                msg: format!("{name:?}: use letters, digits and . _ - @"),
            }
            .into());
        }
        let cur = Tokens::load(path)?;
        if cur.0.iter().any(|(n, _)| n == name) {
            return Err(ServiceError::TokenExists(format!("{name} in {}", path.display())).into());
        }
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| HostError::KeyGen(e.to_string()))?;
        let token = format!(
            "rct_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        );
        let h = sha2::Sha256::digest(token.as_bytes());
        let mut text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                "# raconn serve bearer tokens: NAME SHA-256(token); made by `raconn token add`\n"
                    .into()
            }
            Err(err) => {
                return Err(HostError::Read {
                    path: path.to_path_buf(),
                    err,
                })
            }
        };
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
        text.push_str(&format!("{name} {hex}\n"));
        crate::files::write_atomic(path, text.as_bytes(), 0o600)?;
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_check_and_refuse() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("tokens");
        let t = Tokens::add(&p, "mdm").unwrap();
        let t2 = Tokens::add(&p, "idm").unwrap();
        let tk = Tokens::load(&p).unwrap();
        assert_eq!(tk.check(&t), Some("mdm"));
        assert_eq!(tk.check(&t2), Some("idm"));
        assert_eq!(tk.check("rct_wrong"), None);
        // The file holds hashes, not tokens.
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.contains(&t));
        assert_eq!(Tokens::add(&p, "mdm").err().unwrap().code(), "RC-SVC-015");
        std::fs::write(&p, "mdm nothex\n").unwrap();
        assert_eq!(Tokens::load(&p).err().unwrap().code(), "RC-CONF-001");
    }
}
