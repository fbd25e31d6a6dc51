//! The Windows store: certificates in the LocalMachine\My system store
//! (CryptoAPI `CertOpenStore`), RA keys in CNG's Microsoft Software Key
//! Storage Provider as machine keys, non-exportable, signing with
//! `NCryptSignHash` — where the reference connector keeps its RA certificate.
//!
//! * `raconn ra new-request` creates a persisted machine key named
//!   `raconn-RA-<16 hex>` (RSA with `NCRYPT_LENGTH_PROPERTY`, or ECDSA P-256 /
//!   P-384) and reads its public half as `BCRYPT_RSAPUBLIC_BLOB` /
//!   `BCRYPT_ECCPUBLIC_BLOB`, turned into an SPKI by the core.
//! * `raconn ra accept` adds the certificate to LocalMachine\My and links it to
//!   its key with `CERT_KEY_PROV_INFO_PROP_ID`, as `certreq -accept` does.
//! * A certificate installed by certreq or the MMC is found by thumbprint; its
//!   key through `CryptAcquireCertificatePrivateKey` (CNG keys only).
//! * ECDSA comes back from CNG as `r ‖ s`; the core's
//!   [`raconn_core::sig::ecdsa_raw_to_der`] makes the DER.
//!
//! Compiled only on Windows. CI compile-checks it for
//! `x86_64-pc-windows-gnu`; it has not been run on a Windows host.

use std::ffi::c_void;
use std::sync::Arc;

use raconn_core::cert::CertificateRef;
use raconn_core::csr::SignatureScheme;
use raconn_core::inf::{HashAlgorithm, KeyKind};
use raconn_core::spki::{Curve, SpkiRef};
use raconn_core::thumbprint::Thumbprint;
use sha2::Digest;
use windows_sys::Win32::Security::Cryptography as wc;

use crate::errors::{core, HostError};
use crate::store::{key_id, RaKey, RaStore, StoredCert};

const KEY_PREFIX: &str = "raconn-RA-";

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

fn from_wide(p: *const u16) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: CNG hands out NUL-terminated UTF-16 strings.
    let len = (0..).take_while(|&i| unsafe { *p.add(i) } != 0).count();
    String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, len) })
}

fn hr(code: i32, what: &str) -> Result<(), HostError> {
    if code == 0 {
        Ok(())
    } else {
        Err(HostError::Token(format!(
            "{what}: HRESULT 0x{:08X}",
            code as u32
        )))
    }
}

struct Provider(wc::NCRYPT_PROV_HANDLE);

impl Drop for Provider {
    fn drop(&mut self) {
        // SAFETY: a handle from NCryptOpenStorageProvider, freed once.
        unsafe { wc::NCryptFreeObject(self.0) };
    }
}

struct CertStore(wc::HCERTSTORE);

impl Drop for CertStore {
    fn drop(&mut self) {
        // SAFETY: a handle from CertOpenStore, closed once.
        unsafe { wc::CertCloseStore(self.0, 0) };
    }
}

impl CertStore {
    fn open() -> Result<CertStore, HostError> {
        let name = wide("My");
        // SAFETY: documented use of CertOpenStore with a system store name.
        let h = unsafe {
            wc::CertOpenStore(
                wc::CERT_STORE_PROV_SYSTEM_W,
                0,
                0,
                wc::CERT_SYSTEM_STORE_LOCAL_MACHINE,
                name.as_ptr() as *const c_void,
            )
        };
        if h.is_null() {
            return Err(HostError::Token(
                "cannot open LocalMachine\\My (run as an administrator)".into(),
            ));
        }
        Ok(CertStore(h))
    }

    /// Calls `f` with each certificate context and its DER until it returns `Some`.
    fn find<T>(&self, mut f: impl FnMut(*const wc::CERT_CONTEXT, &[u8]) -> Option<T>) -> Option<T> {
        let mut prev: *const wc::CERT_CONTEXT = std::ptr::null();
        loop {
            // SAFETY: enumeration frees `prev` and returns the next context or null.
            let cur = unsafe { wc::CertEnumCertificatesInStore(self.0, prev) };
            if cur.is_null() {
                return None;
            }
            // SAFETY: a valid context from the enumeration.
            let der = unsafe {
                std::slice::from_raw_parts((*cur).pbCertEncoded, (*cur).cbCertEncoded as usize)
            };
            if let Some(t) = f(cur, der) {
                // SAFETY: stop the enumeration: free the context it still holds.
                unsafe { wc::CertFreeCertificateContext(cur) };
                return Some(t);
            }
            prev = cur;
        }
    }
}

/// LocalMachine\My with CNG machine keys.
pub struct WindowsStore {
    prov: Arc<Provider>,
}

impl WindowsStore {
    /// Opens the Microsoft Software Key Storage Provider.
    pub fn open() -> Result<Self, HostError> {
        let mut h: wc::NCRYPT_PROV_HANDLE = 0;
        // SAFETY: out-pointer to a local.
        hr(
            unsafe { wc::NCryptOpenStorageProvider(&mut h, wc::MS_KEY_STORAGE_PROVIDER, 0) },
            "NCryptOpenStorageProvider",
        )?;
        Ok(WindowsStore {
            prov: Arc::new(Provider(h)),
        })
    }

    fn open_key(&self, name: &str) -> Result<wc::NCRYPT_KEY_HANDLE, HostError> {
        let mut k: wc::NCRYPT_KEY_HANDLE = 0;
        let w = wide(name);
        // SAFETY: out-pointer to a local, NUL-terminated name.
        hr(
            unsafe {
                wc::NCryptOpenKey(
                    self.prov.0,
                    &mut k,
                    w.as_ptr(),
                    0,
                    wc::NCRYPT_MACHINE_KEY_FLAG | wc::NCRYPT_SILENT_FLAG,
                )
            },
            "NCryptOpenKey",
        )?;
        Ok(k)
    }

    /// Names of the raconn machine keys.
    fn raconn_keys(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut state: *mut c_void = std::ptr::null_mut();
        loop {
            let mut name: *mut wc::NCryptKeyName = std::ptr::null_mut();
            // SAFETY: CNG allocates `name` and `state`; both freed below.
            let r = unsafe {
                wc::NCryptEnumKeys(
                    self.prov.0,
                    std::ptr::null(),
                    &mut name,
                    &mut state,
                    wc::NCRYPT_MACHINE_KEY_FLAG | wc::NCRYPT_SILENT_FLAG,
                )
            };
            if r != 0 || name.is_null() {
                break;
            }
            // SAFETY: `name` points to a key name CNG returned.
            let n = from_wide(unsafe { (*name).pszName });
            unsafe { wc::NCryptFreeBuffer(name as *mut c_void) };
            if n.starts_with(KEY_PREFIX) {
                out.push(n);
            }
        }
        if !state.is_null() {
            unsafe { wc::NCryptFreeBuffer(state) };
        }
        out
    }

    /// The raconn key (name, handle) whose SPKI is `spki`.
    fn named_key(&self, spki: &[u8]) -> Result<Option<(String, wc::NCRYPT_KEY_HANDLE)>, HostError> {
        for n in self.raconn_keys() {
            let Ok(h) = self.open_key(&n) else { continue };
            match export_spki(h) {
                Ok(s) if s == spki => return Ok(Some((n, h))),
                _ => {
                    // SAFETY: a handle from NCryptOpenKey, freed once.
                    unsafe { wc::NCryptFreeObject(h) };
                }
            }
        }
        Ok(None)
    }

    fn wrap(
        &self,
        h: wc::NCRYPT_KEY_HANDLE,
        spki: Vec<u8>,
        hash: HashAlgorithm,
    ) -> Result<CngKey, HostError> {
        let kind = SpkiRef::parse(&spki).map_err(core)?.kind();
        Ok(CngKey {
            _prov: self.prov.clone(),
            handle: h,
            spki,
            kind,
            hash,
        })
    }
}

/// Reads a CNG key's public half as an SPKI.
fn export_spki(h: wc::NCRYPT_KEY_HANDLE) -> Result<Vec<u8>, HostError> {
    let blob = |kind: *const u16| -> Option<Vec<u8>> {
        let mut len = 0u32;
        // SAFETY: size query, then export into a buffer of that size.
        let r = unsafe {
            wc::NCryptExportKey(
                h,
                0,
                kind,
                std::ptr::null(),
                std::ptr::null_mut(),
                0,
                &mut len,
                0,
            )
        };
        if r != 0 {
            return None;
        }
        let mut b = vec![0u8; len as usize];
        let r = unsafe {
            wc::NCryptExportKey(
                h,
                0,
                kind,
                std::ptr::null(),
                b.as_mut_ptr(),
                len,
                &mut len,
                0,
            )
        };
        (r == 0).then(|| {
            b.truncate(len as usize);
            b
        })
    };
    let u32_at = |b: &[u8], i: usize| -> usize {
        b.get(i..i + 4)
            .and_then(|x| x.try_into().ok())
            .map(u32::from_le_bytes)
            .unwrap_or(0) as usize
    };
    let bad = || HostError::Token("CNG returned a public key blob raconn cannot read".into());
    let mut buf = vec![0u8; 1200];
    if let Some(b) = blob(wc::BCRYPT_RSAPUBLIC_BLOB) {
        // BCRYPT_RSAKEY_BLOB: Magic, BitLength, cbPublicExp, cbModulus, cbPrime1, cbPrime2; exponent; modulus.
        let (ce, cm) = (u32_at(&b, 8), u32_at(&b, 12));
        let e = b.get(24..24 + ce).ok_or_else(bad)?;
        let n = b.get(24 + ce..24 + ce + cm).ok_or_else(bad)?;
        return Ok(raconn_core::spki::write_rsa(n, e, &mut buf)
            .map_err(core)?
            .to_vec());
    }
    if let Some(b) = blob(wc::BCRYPT_ECCPUBLIC_BLOB) {
        // BCRYPT_ECCKEY_BLOB: Magic, cbKey; X; Y.
        let ck = u32_at(&b, 4);
        let curve = match ck {
            32 => Curve::P256,
            48 => Curve::P384,
            _ => return Err(bad()),
        };
        let xy = b.get(8..8 + 2 * ck).ok_or_else(bad)?;
        let mut point = vec![4u8];
        point.extend_from_slice(xy);
        return Ok(raconn_core::spki::write_ec(curve, &point, &mut buf)
            .map_err(core)?
            .to_vec());
    }
    Err(bad())
}

impl RaStore for WindowsStore {
    fn generate_key(
        &self,
        alg: KeyKind,
        hash: HashAlgorithm,
    ) -> Result<(String, Arc<dyn RaKey>), HostError> {
        let mut rnd = [0u8; 8];
        getrandom::fill(&mut rnd).map_err(|e| HostError::KeyGen(e.to_string()))?;
        let name = format!(
            "{KEY_PREFIX}{}",
            rnd.iter().map(|b| format!("{b:02X}")).collect::<String>()
        );
        let algid = match alg {
            KeyKind::Rsa(_) => wc::BCRYPT_RSA_ALGORITHM,
            KeyKind::P256 => wc::BCRYPT_ECDSA_P256_ALGORITHM,
            KeyKind::P384 => wc::BCRYPT_ECDSA_P384_ALGORITHM,
            other => {
                return Err(HostError::KeyGen(format!(
                    "{other} keys are not made in CNG by raconn (RSA, P-256 or P-384)"
                )))
            }
        };
        let w = wide(&name);
        let mut k: wc::NCRYPT_KEY_HANDLE = 0;
        // SAFETY: out-pointer to a local; the name is NUL-terminated.
        hr(
            unsafe {
                wc::NCryptCreatePersistedKey(
                    self.prov.0,
                    &mut k,
                    algid,
                    w.as_ptr(),
                    0,
                    wc::NCRYPT_MACHINE_KEY_FLAG,
                )
            },
            "NCryptCreatePersistedKey",
        )
        .map_err(|e| HostError::KeyGen(e.to_string()))?;
        if let KeyKind::Rsa(bits) = alg {
            let b = bits.to_le_bytes();
            // SAFETY: a 4-byte DWORD property value.
            hr(
                unsafe { wc::NCryptSetProperty(k, wc::NCRYPT_LENGTH_PROPERTY, b.as_ptr(), 4, 0) },
                "NCryptSetProperty(Length)",
            )?;
        }
        // Not exportable: no NCRYPT_EXPORT_POLICY_PROPERTY is set.
        hr(unsafe { wc::NCryptFinalizeKey(k, 0) }, "NCryptFinalizeKey")
            .map_err(|e| HostError::KeyGen(e.to_string()))?;
        let spki = export_spki(k)?;
        let key = self.wrap(k, spki.clone(), hash)?;
        Ok((key_id(&spki), Arc::new(key)))
    }

    fn key_for_spki(&self, spki: &[u8]) -> Result<Option<Arc<dyn RaKey>>, HostError> {
        if let Some((_, h)) = self.named_key(spki)? {
            return Ok(Some(Arc::new(self.wrap(
                h,
                spki.to_vec(),
                HashAlgorithm::Sha256,
            )?)));
        }
        // A certificate installed by certreq or the MMC: ask CryptoAPI for its CNG key.
        let store = CertStore::open()?;
        let h = store.find(|ctx, der| {
            let c = CertificateRef::parse(der).ok()?;
            if c.spki.der.raw != spki {
                return None;
            }
            let mut h: wc::HCRYPTPROV_OR_NCRYPT_KEY_HANDLE = 0;
            let mut spec: wc::CERT_KEY_SPEC = 0;
            let mut free = 0;
            // SAFETY: out-pointers to locals; CNG keys only.
            let ok = unsafe {
                wc::CryptAcquireCertificatePrivateKey(
                    ctx,
                    wc::CRYPT_ACQUIRE_ONLY_NCRYPT_KEY_FLAG | wc::CRYPT_ACQUIRE_SILENT_FLAG,
                    std::ptr::null(),
                    &mut h,
                    &mut spec,
                    &mut free,
                )
            };
            (ok != 0 && free != 0).then_some(h)
        });
        match h {
            Some(h) => Ok(Some(Arc::new(self.wrap(
                h,
                spki.to_vec(),
                HashAlgorithm::Sha256,
            )?))),
            None => Ok(None),
        }
    }

    fn accept_certificate(&self, der: &[u8]) -> Result<Thumbprint, HostError> {
        let c = CertificateRef::parse(der).map_err(core)?;
        let spki = c.spki.der.raw;
        let (name, h) = self
            .named_key(spki)?
            .ok_or_else(|| HostError::NoMatchingKey {
                store: self.describe(),
                key: key_id(spki),
            })?;
        // SAFETY: only the name is needed from here on.
        unsafe { wc::NCryptFreeObject(h) };
        let store = CertStore::open()?;
        let mut ctx: *mut wc::CERT_CONTEXT = std::ptr::null_mut();
        // SAFETY: DER bytes and an out-pointer to a local.
        let ok = unsafe {
            wc::CertAddEncodedCertificateToStore(
                store.0,
                wc::X509_ASN_ENCODING | wc::PKCS_7_ASN_ENCODING,
                der.as_ptr(),
                der.len() as u32,
                wc::CERT_STORE_ADD_REPLACE_EXISTING,
                &mut ctx,
            )
        };
        if ok == 0 || ctx.is_null() {
            return Err(HostError::Token(
                "CertAddEncodedCertificateToStore failed (run as an administrator)".into(),
            ));
        }
        let mut container = wide(&name);
        let mut provider = wide("Microsoft Software Key Storage Provider");
        let info = wc::CRYPT_KEY_PROV_INFO {
            pwszContainerName: container.as_mut_ptr(),
            pwszProvName: provider.as_mut_ptr(),
            dwProvType: 0,
            dwFlags: wc::CRYPT_MACHINE_KEYSET,
            cProvParam: 0,
            rgProvParam: std::ptr::null_mut(),
            dwKeySpec: 0,
        };
        // SAFETY: `info` and its strings outlive the call; the context is freed after.
        let linked = unsafe {
            let r = wc::CertSetCertificateContextProperty(
                ctx,
                wc::CERT_KEY_PROV_INFO_PROP_ID,
                0,
                &info as *const _ as *const c_void,
            );
            wc::CertFreeCertificateContext(ctx);
            r
        };
        if linked == 0 {
            return Err(HostError::Token(
                "linking the certificate to its CNG key failed".into(),
            ));
        }
        Ok(Thumbprint::of(der))
    }

    fn certificates(&self) -> Result<Vec<StoredCert>, HostError> {
        let store = CertStore::open()?;
        let mut out = Vec::new();
        store.find::<()>(|ctx, der| {
            let mut len = 0u32;
            // SAFETY: size query of a property.
            let has_key = unsafe {
                wc::CertGetCertificateContextProperty(
                    ctx,
                    wc::CERT_KEY_PROV_INFO_PROP_ID,
                    std::ptr::null_mut(),
                    &mut len,
                )
            } != 0;
            if CertificateRef::parse(der).is_ok() {
                out.push(StoredCert {
                    thumbprint: Thumbprint::of(der),
                    der: der.to_vec(),
                    has_key,
                });
            }
            None
        });
        out.sort_by_key(|c| c.thumbprint);
        Ok(out)
    }

    fn import_key(
        &self,
        _key: &crate::keys::SoftKey,
    ) -> Result<(String, Arc<dyn RaKey>), HostError> {
        Err(HostError::Token(
            "raconn does not import a PFX into the Windows store: import it with certutil -importpfx (or the MMC) as the reference connector's setup does, then set ra_cert_thumbprint".into(),
        ))
    }

    fn remove_key(&self, spki: &[u8]) -> Result<(), HostError> {
        if let Some((_, h)) = self.named_key(spki)? {
            // SAFETY: a handle from NCryptOpenKey; NCryptDeleteKey frees it.
            hr(unsafe { wc::NCryptDeleteKey(h, 0) }, "NCryptDeleteKey")?;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        "windows:LocalMachine\\My".into()
    }
}

/// A CNG key handle.
pub struct CngKey {
    _prov: Arc<Provider>,
    handle: wc::NCRYPT_KEY_HANDLE,
    spki: Vec<u8>,
    kind: KeyKind,
    hash: HashAlgorithm,
}

impl Drop for CngKey {
    fn drop(&mut self) {
        // SAFETY: the key handle is owned by this value.
        unsafe { wc::NCryptFreeObject(self.handle) };
    }
}

enum Padding {
    None,
    Pkcs1(*const u16),
    Pss(*const u16, u32),
}

impl CngKey {
    fn sign_hash(&self, hash: &[u8], pad: Padding) -> Result<Vec<u8>, String> {
        let pk;
        let ps;
        let (info, flags): (*const c_void, u32) = match pad {
            Padding::None => (std::ptr::null(), 0),
            Padding::Pkcs1(alg) => {
                pk = wc::BCRYPT_PKCS1_PADDING_INFO { pszAlgId: alg };
                (&pk as *const _ as *const c_void, wc::BCRYPT_PAD_PKCS1)
            }
            Padding::Pss(alg, salt) => {
                ps = wc::BCRYPT_PSS_PADDING_INFO {
                    pszAlgId: alg,
                    cbSalt: salt,
                };
                (&ps as *const _ as *const c_void, wc::BCRYPT_PAD_PSS)
            }
        };
        let mut len = 0u32;
        // SAFETY: `info` points to a padding struct that lives until the end
        // of this function; size query first, then signing into that size.
        let mut r = unsafe {
            wc::NCryptSignHash(
                self.handle,
                info,
                hash.as_ptr(),
                hash.len() as u32,
                std::ptr::null_mut(),
                0,
                &mut len,
                flags,
            )
        };
        let mut sig = vec![0u8; len as usize];
        if r == 0 {
            r = unsafe {
                wc::NCryptSignHash(
                    self.handle,
                    info,
                    hash.as_ptr(),
                    hash.len() as u32,
                    sig.as_mut_ptr(),
                    len,
                    &mut len,
                    flags,
                )
            };
        }
        if r != 0 {
            return Err(format!("NCryptSignHash: HRESULT 0x{:08X}", r as u32));
        }
        sig.truncate(len as usize);
        Ok(sig)
    }

    fn ecdsa(&self, digest: &[u8]) -> Result<Vec<u8>, String> {
        let rs = self.sign_hash(digest, Padding::None)?;
        let mut buf = [0u8; raconn_core::sig::ecdsa_der_max_len(66)];
        raconn_core::sig::ecdsa_raw_to_der(&rs, &mut buf)
            .map(|d| d.to_vec())
            .map_err(|e| e.to_string())
    }
}

crate::store_key_signer!(CngKey);

impl RaKey for CngKey {
    fn describe(&self) -> String {
        format!("{} in CNG (LocalMachine)", self.kind)
    }

    fn tls_schemes(&self) -> &'static [SignatureScheme] {
        SignatureScheme::tls_for(self.kind)
    }

    fn sign_tls(&self, scheme: SignatureScheme, msg: &[u8]) -> Result<Vec<u8>, String> {
        let h256 = || sha2::Sha256::digest(msg).to_vec();
        let h384 = || sha2::Sha384::digest(msg).to_vec();
        match scheme {
            SignatureScheme::RsaPssSha256 => {
                self.sign_hash(&h256(), Padding::Pss(wc::BCRYPT_SHA256_ALGORITHM, 32))
            }
            SignatureScheme::RsaPssSha384 => {
                self.sign_hash(&h384(), Padding::Pss(wc::BCRYPT_SHA384_ALGORITHM, 48))
            }
            SignatureScheme::RsaPkcs1Sha256 => {
                self.sign_hash(&h256(), Padding::Pkcs1(wc::BCRYPT_SHA256_ALGORITHM))
            }
            SignatureScheme::RsaPkcs1Sha384 => {
                self.sign_hash(&h384(), Padding::Pkcs1(wc::BCRYPT_SHA384_ALGORITHM))
            }
            SignatureScheme::EcdsaP256Sha256 => self.ecdsa(&h256()),
            SignatureScheme::EcdsaP384Sha384 => self.ecdsa(&h384()),
        }
    }
}
