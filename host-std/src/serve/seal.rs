//! The service's key-encryption key (KEK): a 32-byte file, 0600, made by
//! `raconn serve --init`. Device keys and PFX passwords wait in the
//! database sealed under it with AES-256-GCM (NIST SP 800-38D; 96-bit random
//! nonce, the request id and the item's purpose as associated data, so a
//! sealed value cannot be moved to another row or column), and are deleted
//! once the PFX exists. Request bodies are compared by an HMAC-SHA256
//! (RFC 2104) under a key derived from the KEK, so the database holds no
//! password nor an unsalted hash of one.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use zeroize::Zeroizing;

use crate::errors::{HostError, ServiceError};

/// The loaded KEK.
pub struct Kek {
    aead: Aes256Gcm,
    mac: Hmac<sha2::Sha256>,
}

fn kek_err(path: &Path, what: impl std::fmt::Display) -> HostError {
    ServiceError::Kek(format!("{}: {what}", path.display())).into()
}

impl Kek {
    /// Makes the KEK file (0600) when it does not exist; `true` when made.
    pub fn init(path: &Path) -> Result<bool, HostError> {
        if path.exists() {
            return Ok(false);
        }
        let mut k = Zeroizing::new([0u8; 32]);
        getrandom::fill(k.as_mut()).map_err(|e| HostError::KeyGen(e.to_string()))?;
        crate::files::write_atomic(path, k.as_ref(), 0o600)?;
        Ok(true)
    }

    /// Loads the KEK file: exactly 32 bytes, not readable by group or others.
    pub fn load(path: &Path) -> Result<Kek, HostError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => Zeroizing::new(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(kek_err(path, "does not exist"))
            }
            Err(e) => return Err(kek_err(path, e)),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(path)
                .map_err(|e| kek_err(path, e))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(kek_err(
                    path,
                    format!(
                        "mode {:o}: group or others may read it (chmod 600)",
                        mode & 0o777
                    ),
                ));
            }
        }
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| kek_err(path, format!("{} bytes, not 32", bytes.len())))?;
        let key = Zeroizing::new(key);
        let mut m = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.as_ref())
            .map_err(|e| kek_err(path, e))?;
        m.update(b"raconn body mac v1");
        let mac_key = Zeroizing::new(<[u8; 32]>::from(m.finalize().into_bytes()));
        let mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(mac_key.as_ref())
            .map_err(|e| kek_err(path, e))?;
        let aead = Aes256Gcm::new_from_slice(key.as_ref()).map_err(|e| kek_err(path, e))?;
        Ok(Kek { aead, mac })
    }

    /// Seals `plain` for `purpose` of request `id`: nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, id: &str, purpose: &str, plain: &[u8]) -> Result<Vec<u8>, HostError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| HostError::KeyGen(e.to_string()))?;
        let aad = format!("raconn/{purpose}/{id}");
        let ct = self
            .aead
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| ServiceError::Kek("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens what [`Kek::seal`] sealed for the same `id` and `purpose`.
    pub fn open(
        &self,
        id: &str,
        purpose: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, HostError> {
        let (nonce, ct) = sealed
            .split_first_chunk::<12>()
            .ok_or_else(|| ServiceError::Kek(format!("sealed {purpose} of {id} is too short")))?;
        let aad = format!("raconn/{purpose}/{id}");
        self.aead
            .decrypt(
                &Nonce::from(*nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| {
                ServiceError::Kek(format!(
                    "the sealed {purpose} of {id} does not open: this instance's key_encryption_key is not the one that sealed it"
                ))
                .into()
            })
    }

    /// HMAC-SHA256 of a canonical request body, hex.
    pub fn body_mac(&self, canonical: &[u8]) -> String {
        let mut m = self.mac.clone();
        m.update(canonical);
        m.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_refusals() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("kek");
        assert!(Kek::init(&p).unwrap());
        assert!(!Kek::init(&p).unwrap());
        let k = Kek::load(&p).unwrap();
        let s = k.seal("r1", "key", b"secret").unwrap();
        assert_eq!(k.open("r1", "key", &s).unwrap().as_slice(), b"secret");
        // Another row or purpose does not open it.
        let e = k.open("r2", "key", &s).err().unwrap();
        assert_eq!(e.code(), "RC-SVC-003");
        assert!(k.open("r1", "password", &s).is_err());
        // Another KEK does not open it.
        let p2 = d.path().join("kek2");
        Kek::init(&p2).unwrap();
        assert!(Kek::load(&p2).unwrap().open("r1", "key", &s).is_err());
        assert_ne!(k.body_mac(b"a"), Kek::load(&p2).unwrap().body_mac(b"a"));
        // A file others may read, or of the wrong size, is refused.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert_eq!(Kek::load(&p).err().unwrap().code(), "RC-SVC-003");
        }
        std::fs::write(d.path().join("short"), b"abc").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(
                d.path().join("short"),
                std::fs::Permissions::from_mode(0o600),
            )
            .unwrap();
        }
        let e = Kek::load(&d.path().join("short"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("3 bytes, not 32"), "{e}");
    }
}
