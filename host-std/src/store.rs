//! The RA key and certificate stores, behind one seam.
//!
//! [`RaStore`] is what `raconn ra new-request/accept/list`, `raconn check`
//! and the TLS client use; [`RaKey`] is a private key that signs without
//! leaving its store (the core's [`Signer`] for CSRs, [`RaKey::sign_tls`]
//! for the TLS CertificateVerify). Three stores implement it:
//!
//! * the directory store here ([`FileStore`]);
//! * a PKCS#11 token ([`crate::pkcs11`], `pkcs11:module=…;token=…`), where
//!   the key is generated on the token and never leaves it;
//! * on Windows, LocalMachine\My with CNG keys ([`crate::winstore`],
//!   `windows:LocalMachine\My`).
//!
//! The file store is one directory:
//!
//! ```text
//! <store>/keys/<KEY-ID>.p8     PKCS#8 DER private key, mode 0600, written atomically
//! <store>/certs/<SHA-1>.cer    DER certificate, named by its thumbprint
//! ```
//! Directories are created with mode 0700. The key id is the SHA-1 of the
//! key's SubjectPublicKeyInfo, in uppercase hex, in every store (PKCS#11
//! `CKA_ID`, the CNG key name).

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use raconn_core::cert::CertificateRef;
use raconn_core::csr::Signer;
use raconn_core::inf::{HashAlgorithm, KeyKind};
use raconn_core::thumbprint::Thumbprint;
use sha1::Digest;

use crate::errors::{core, HostError};
use crate::files;
use crate::keys::SoftKey;

pub use raconn_core::sig::SignatureScheme;

/// A private key held by a store.
pub trait RaKey: Signer + Send + Sync {
    /// A short description (`RSA 2048 bit on PKCS#11 token raconn`).
    fn describe(&self) -> String;
    /// The PKCS#8 of a software key, which rustls then loads itself; `None`
    /// for keys that never leave their store.
    fn software_pkcs8(&self) -> Option<zeroize::Zeroizing<Vec<u8>>> {
        None
    }
    /// The TLS schemes this key signs, best first.
    fn tls_schemes(&self) -> &'static [SignatureScheme];
    /// Signs `msg` (hashing it as `scheme` says) — a TLS CertificateVerify,
    /// or the TBS of a request; ECDSA signatures are DER.
    fn sign_tls(&self, scheme: SignatureScheme, msg: &[u8]) -> Result<Vec<u8>, String>;
}

/// The core's [`Signer`] for a store key whose every signature goes
/// through [`RaKey::sign_tls`] (a PKCS#11 or CNG key): the request is signed
/// with the scheme for its kind and hash, inside the store. `$ty` has
/// fields `kind` (KeyKind), `hash` (HashAlgorithm) and `spki` (Vec<u8>).
#[macro_export]
#[doc(hidden)]
macro_rules! store_key_signer {
    ($ty:ty) => {
        impl raconn_core::csr::Signer for $ty {
            fn algorithm(&self) -> raconn_core::sig::SignatureScheme {
                raconn_core::sig::SignatureScheme::for_request(self.kind, self.hash)
            }
            fn public_key_der(&self) -> &[u8] {
                &self.spki
            }
            fn max_signature_len(&self) -> usize {
                self.kind.max_signature_len()
            }
            fn sign(
                &self,
                tbs: &[u8],
                out: &mut [u8],
            ) -> Result<usize, raconn_core::csr::SignError> {
                let scheme = raconn_core::csr::Signer::algorithm(self);
                $crate::store::deliver_signature(
                    $crate::store::RaKey::sign_tls(self, scheme, tbs),
                    out,
                )
            }
        }
    };
}

/// Copies a signature a store made into the core's output buffer; a failure
/// is logged (it names the token or API call) and reported as unavailable.
pub fn deliver_signature(
    sig: Result<Vec<u8>, String>,
    out: &mut [u8],
) -> Result<usize, raconn_core::csr::SignError> {
    let sig = sig.map_err(|e| {
        tracing::error!("{e}");
        raconn_core::csr::SignError::KeyUnavailable
    })?;
    let dst = out
        .get_mut(..sig.len())
        .ok_or(raconn_core::csr::SignError::BufferTooSmall(
            raconn_core::error::BufferTooSmall::output(sig.len()),
        ))?;
    dst.copy_from_slice(&sig);
    Ok(sig.len())
}

/// Where the RA key and certificate live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A directory ([`FileStore`]).
    Dir(PathBuf),
    /// A PKCS#11 token.
    Pkcs11(crate::pkcs11::Pkcs11Uri),
    /// A Windows system store (`LocalMachine\My`).
    Windows(String),
}

impl StoreLocation {
    /// Reads a store location: `pkcs11:module=PATH;token=LABEL`,
    /// `windows:LocalMachine\My`, or a directory (relative to `base`).
    pub fn parse(text: &str, base: &Path) -> Result<Self, String> {
        let t = text.trim();
        if let Some(rest) = t.strip_prefix("pkcs11:") {
            return crate::pkcs11::Pkcs11Uri::parse(rest).map(StoreLocation::Pkcs11);
        }
        if let Some(rest) = t.strip_prefix("windows:") {
            let name = rest.replace('/', "\\");
            if !name.eq_ignore_ascii_case("LocalMachine\\My") {
                return Err(format!(
                    "{rest:?}: raconn uses the Windows store LocalMachine\\My, as the reference connector does"
                ));
            }
            return Ok(StoreLocation::Windows("LocalMachine\\My".into()));
        }
        if t.is_empty() {
            return Err("empty store location".into());
        }
        Ok(StoreLocation::Dir(base.join(t)))
    }

    /// The directory of a directory store.
    pub fn dir(&self) -> Option<&Path> {
        match self {
            StoreLocation::Dir(p) => Some(p),
            _ => None,
        }
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Dir(p) => write!(f, "{}", p.display()),
            StoreLocation::Pkcs11(u) => write!(f, "{u}"),
            StoreLocation::Windows(n) => write!(f, "windows:{n}"),
        }
    }
}

/// Opens the store at `loc`, creating a directory store if needed.
pub fn open(loc: &StoreLocation) -> Result<Box<dyn RaStore>, HostError> {
    match loc {
        StoreLocation::Dir(p) => Ok(Box::new(FileStore::open(p)?)),
        StoreLocation::Pkcs11(u) => Ok(Box::new(crate::pkcs11::Pkcs11Store::open(u)?)),
        StoreLocation::Windows(_) => open_windows(),
    }
}

/// Opens the store at `loc` without creating anything (for commands that
/// only read: `ra list`, `check`).
pub fn open_existing(loc: &StoreLocation) -> Result<Box<dyn RaStore>, HostError> {
    match loc {
        StoreLocation::Dir(p) => Ok(Box::new(FileStore::open_existing(p)?)),
        StoreLocation::Pkcs11(u) => Ok(Box::new(crate::pkcs11::Pkcs11Store::open(u)?)),
        StoreLocation::Windows(_) => open_windows(),
    }
}

#[cfg(windows)]
fn open_windows() -> Result<Box<dyn RaStore>, HostError> {
    Ok(Box::new(crate::winstore::WindowsStore::open()?))
}

#[cfg(not(windows))]
fn open_windows() -> Result<Box<dyn RaStore>, HostError> {
    Err(HostError::Token(
        "the Windows certificate store exists only on Windows; use a directory or a pkcs11: store here".into(),
    ))
}

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
    /// Makes a new key in the store; returns its id and the key.
    fn generate_key(
        &self,
        alg: KeyKind,
        hash: HashAlgorithm,
    ) -> Result<(String, Arc<dyn RaKey>), HostError>;
    /// The key whose SubjectPublicKeyInfo is `spki`, if the store holds it.
    fn key_for_spki(&self, spki: &[u8]) -> Result<Option<Arc<dyn RaKey>>, HostError>;
    /// Stores a certificate whose key the store holds; returns its thumbprint.
    fn accept_certificate(&self, der: &[u8]) -> Result<Thumbprint, HostError>;
    /// Every certificate in the store.
    fn certificates(&self) -> Result<Vec<StoredCert>, HostError>;
    /// Where it is, for messages.
    fn describe(&self) -> String;
    /// Removes the key whose SubjectPublicKeyInfo is `spki` (a key made for
    /// a request that then failed, so no orphan key stays behind).
    fn remove_key(&self, spki: &[u8]) -> Result<(), HostError>;
    /// Stores a software key that came from elsewhere (an RA certificate's
    /// key exported as PFX): as PKCS#8 0600 in a directory, created on a
    /// token as sensitive and not extractable.
    fn import_key(&self, key: &SoftKey) -> Result<(String, Arc<dyn RaKey>), HostError>;

    /// The certificate with this thumbprint.
    fn certificate(&self, t: &Thumbprint) -> Result<StoredCert, HostError> {
        self.certificates()?
            .into_iter()
            .find(|c| c.thumbprint == *t)
            .ok_or_else(|| HostError::ThumbprintNotFound(t.to_string()))
    }

    /// The certificate with this thumbprint and its key.
    fn identity(&self, t: &Thumbprint) -> Result<(StoredCert, Arc<dyn RaKey>), HostError> {
        let cert = self.certificate(t)?;
        let c = CertificateRef::parse(&cert.der).map_err(core)?;
        let key = self
            .key_for_spki(c.spki.der.raw)?
            .ok_or_else(|| HostError::NoMatchingKey {
                store: self.describe(),
                key: key_id(c.spki.der.raw),
            })?;
        Ok((cert, key))
    }
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

/// Creates a private directory (0700) and its parents if missing.
pub fn mkdir_private(p: &Path) -> Result<(), HostError> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(p).map_err(|err| HostError::Write {
        path: p.to_path_buf(),
        err,
    })
}

/// Refuses a directory that keys or records live in when it is not a
/// directory, or (as ssh refuses a writable ~/.ssh) when group or others
/// may write it.
pub fn check_private_dir(p: &Path) -> Result<(), HostError> {
    let m = fs::metadata(p).map_err(|err| HostError::Read {
        path: p.to_path_buf(),
        err,
    })?;
    if !m.is_dir() {
        return Err(HostError::Unsafe {
            path: p.to_path_buf(),
            what: "is not a directory".into(),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = m.permissions().mode() & 0o777;
        if mode & 0o022 != 0 {
            return Err(HostError::Unsafe {
                path: p.to_path_buf(),
                what: format!(
                    "has mode {mode:03o}: group or others may write it (chmod go-w {})",
                    p.display()
                ),
            });
        }
    }
    Ok(())
}

impl FileStore {
    /// Opens (creating if needed, 0700) the store at `root`.
    pub fn open(root: &Path) -> Result<Self, HostError> {
        mkdir_private(&root.join("keys"))?;
        mkdir_private(&root.join("certs"))?;
        Self::open_existing(root)
    }

    /// Opens the store at `root`, which must exist; creates nothing.
    pub fn open_existing(root: &Path) -> Result<Self, HostError> {
        if !root.exists() {
            return Err(HostError::Read {
                path: root.to_path_buf(),
                err: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no store here (raconn ra new-request makes one)",
                ),
            });
        }
        for d in [root.to_path_buf(), root.join("keys"), root.join("certs")] {
            if d.exists() {
                check_private_dir(&d)?;
            }
        }
        Ok(FileStore {
            root: root.to_path_buf(),
        })
    }

    fn key_path(&self, id: &str) -> PathBuf {
        self.root.join("keys").join(format!("{id}.p8"))
    }

    /// Loads the key whose SPKI equals `spki`, if the store has it.
    pub fn soft_key(&self, spki: &[u8]) -> Result<Option<SoftKey>, HostError> {
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

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl RaStore for FileStore {
    fn generate_key(
        &self,
        alg: KeyKind,
        hash: HashAlgorithm,
    ) -> Result<(String, Arc<dyn RaKey>), HostError> {
        let k = SoftKey::generate(alg, hash)?;
        let id = key_id(k.spki());
        files::write_atomic(&self.key_path(&id), &k.to_pkcs8()?, 0o600)?;
        Ok((id, Arc::new(k)))
    }

    fn key_for_spki(&self, spki: &[u8]) -> Result<Option<Arc<dyn RaKey>>, HostError> {
        Ok(self.soft_key(spki)?.map(|k| Arc::new(k) as Arc<dyn RaKey>))
    }

    fn accept_certificate(&self, der: &[u8]) -> Result<Thumbprint, HostError> {
        let c = CertificateRef::parse(der).map_err(core)?;
        if self.soft_key(c.spki.der.raw)?.is_none() {
            return Err(HostError::NoMatchingKey {
                store: self.describe(),
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

    fn import_key(&self, key: &SoftKey) -> Result<(String, Arc<dyn RaKey>), HostError> {
        let id = key_id(key.spki());
        files::write_atomic(&self.key_path(&id), &key.to_pkcs8()?, 0o600)?;
        let k = self.soft_key(key.spki())?.ok_or_else(|| {
            HostError::KeyEncoding(format!("{id}: the imported key does not read back"))
        })?;
        Ok((id, Arc::new(k)))
    }

    fn remove_key(&self, spki: &[u8]) -> Result<(), HostError> {
        let p = self.key_path(&key_id(spki));
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(HostError::Write { path: p, err }),
        }
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

/// The permission bits of a key file (to check it is not readable by group or others).
#[cfg(unix)]
pub fn key_file_mode(path: &Path) -> std::io::Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    Ok(fs::metadata(path)?.permissions().mode() & 0o777)
}
