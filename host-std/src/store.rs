//! The RA key and certificate store.
//!
//! [`RaStore`] is the seam every store implements (the file store here; a
//! PKCS#11 token and the Windows certificate store come later). The file
//! store is one directory:
//!
//! ```text
//! <store>/keys/<KEY-ID>.p8     PKCS#8 DER private key, mode 0600, written atomically
//! <store>/certs/<SHA-1>.cer    DER certificate, named by its thumbprint
//! ```
//! Directories are created with mode 0700. The key id is the SHA-1 of the
//! key's SubjectPublicKeyInfo, in uppercase hex.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use raconn_core::cert::CertificateRef;
use raconn_core::inf::{HashAlgorithm, KeyAlgorithm};
use raconn_core::thumbprint::Thumbprint;
use sha1::Digest;

use crate::errors::{core, HostError};
use crate::files;
use crate::keys::SoftKey;

/// A certificate held by a store.
#[derive(Debug, Clone)]
pub struct StoredCert {
    /// SHA-1 thumbprint.
    pub thumbprint: Thumbprint,
    /// DER.
    pub der: Vec<u8>,
    /// Whether the store holds the matching private key.
    pub has_key: bool,
}

/// What every RA store offers.
pub trait RaStore {
    /// Makes a new key; returns its id.
    fn generate_key(
        &self,
        alg: KeyAlgorithm,
        hash: HashAlgorithm,
    ) -> Result<(String, SoftKey), HostError>;
    /// Stores a certificate whose key the store holds; returns its thumbprint.
    fn accept_certificate(&self, der: &[u8]) -> Result<Thumbprint, HostError>;
    /// Every certificate in the store.
    fn certificates(&self) -> Result<Vec<StoredCert>, HostError>;
    /// Where it is, for messages.
    fn describe(&self) -> String;
}

/// The directory store.
pub struct FileStore {
    root: PathBuf,
}

/// Key id of a SubjectPublicKeyInfo.
pub fn key_id(spki: &[u8]) -> String {
    let d = sha1::Sha1::digest(spki);
    d.iter().map(|b| format!("{b:02X}")).collect()
}

fn mkdir(p: &Path) -> Result<(), HostError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(p)
        .map_err(|err| HostError::Write {
            path: p.to_path_buf(),
            err,
        })
}

impl FileStore {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Self, HostError> {
        mkdir(&root.join("keys"))?;
        mkdir(&root.join("certs"))?;
        Ok(FileStore {
            root: root.to_path_buf(),
        })
    }

    fn key_path(&self, id: &str) -> PathBuf {
        self.root.join("keys").join(format!("{id}.p8"))
    }

    /// Loads the key whose SPKI equals `spki`, if the store has it.
    pub fn key_for_spki(&self, spki: &[u8]) -> Result<Option<SoftKey>, HostError> {
        let p = self.key_path(&key_id(spki));
        if !p.exists() {
            return Ok(None);
        }
        let der = zeroize::Zeroizing::new(files::read(&p)?);
        let k = SoftKey::from_pkcs8(&der)?;
        if k.spki() != spki {
            return Err(HostError::KeyEncoding(format!(
                "{} does not hold the key its name says",
                p.display()
            )));
        }
        Ok(Some(k))
    }

    /// The certificate with this thumbprint.
    pub fn certificate(&self, t: &Thumbprint) -> Result<StoredCert, HostError> {
        self.certificates()?
            .into_iter()
            .find(|c| c.thumbprint == *t)
            .ok_or_else(|| HostError::ThumbprintNotFound(t.to_string()))
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl RaStore for FileStore {
    fn generate_key(
        &self,
        alg: KeyAlgorithm,
        hash: HashAlgorithm,
    ) -> Result<(String, SoftKey), HostError> {
        let k = SoftKey::generate(alg, hash)?;
        let id = key_id(k.spki());
        files::write_atomic(&self.key_path(&id), &k.to_pkcs8()?, 0o600)?;
        Ok((id, k))
    }

    fn accept_certificate(&self, der: &[u8]) -> Result<Thumbprint, HostError> {
        let c = CertificateRef::parse(der).map_err(core)?;
        if self.key_for_spki(c.spki.der.raw)?.is_none() {
            return Err(HostError::NoMatchingKey {
                store: self.root.clone(),
                key: key_id(c.spki.der.raw),
            });
        }
        let t = Thumbprint::of(der);
        files::write_atomic(
            &self.root.join("certs").join(format!("{t}.cer")),
            der,
            0o644,
        )?;
        Ok(t)
    }

    fn certificates(&self) -> Result<Vec<StoredCert>, HostError> {
        let dir = self.root.join("certs");
        let mut out = Vec::new();
        let rd = fs::read_dir(&dir).map_err(|err| HostError::Read {
            path: dir.clone(),
            err,
        })?;
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().and_then(|x| x.to_str()) != Some("cer") {
                continue;
            }
            let der = files::read(&p)?;
            let Ok(c) = CertificateRef::parse(&der) else {
                continue;
            };
            let has_key = self.key_path(&key_id(c.spki.der.raw)).exists();
            out.push(StoredCert {
                thumbprint: Thumbprint::of(&der),
                der,
                has_key,
            });
        }
        out.sort_by_key(|c| c.thumbprint);
        Ok(out)
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

/// Checks a key file is not readable by group or others.
pub fn key_file_mode(path: &Path) -> std::io::Result<u32> {
    Ok(fs::metadata(path)?.permissions().mode() & 0o777)
}
