//! The PKCS#11 store (PKCS#11 v2.40 / v3.0, via `cryptoki`): the RA key is
//! generated on the token — `CKA_SENSITIVE`, not `CKA_EXTRACTABLE` — and
//! every signature, for the CSR and for the TLS CertificateVerify, is made on
//! the token. The RA certificate is stored beside it as a `CKO_CERTIFICATE`
//! with the same `CKA_ID` (SHA-1 of the SubjectPublicKeyInfo).
//!
//! Location: `pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=raconn`
//! (`module-path` as in RFC 7512 is accepted too, in the path or after `?`);
//! the user PIN comes from the environment variable `RACONN_PKCS11_PIN`, never
//! from a file or the command line.
//!
//! Mechanisms: RSA `CKM_SHA256_RSA_PKCS` / `CKM_SHA384_RSA_PKCS` (CSR, TLS 1.2)
//! and `CKM_SHA256_RSA_PKCS_PSS` (TLS 1.3); ECDSA hashes in software and signs
//! with plain `CKM_ECDSA` (SoftHSM 2.6 refuses `CKM_ECDSA_SHA256`), turning
//! the token's `r ‖ s` into DER with [`raconn_core::sig::ecdsa_raw_to_der`].

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{
    Attribute, AttributeType, CertificateType, KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use raconn_core::asn1::{self, tag};
use raconn_core::cert::CertificateRef;
use raconn_core::csr::SignatureScheme;
use raconn_core::inf::{HashAlgorithm, KeyKind};
use raconn_core::spki::{Curve, SpkiRef};
use raconn_core::thumbprint::Thumbprint;
use sha2::Digest;

use crate::errors::{core, HostError};
use crate::store::{key_id, RaKey, RaStore, StoredCert};

/// The environment variable holding the token's user PIN.
pub const PIN_ENV: &str = "RACONN_PKCS11_PIN";

/// A parsed `pkcs11:` store location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// The PKCS#11 module (shared library).
    pub module: PathBuf,
    /// The token label.
    pub token: String,
}

impl Pkcs11Uri {
    /// Parses what follows `pkcs11:`: `;`- or `&`-separated `key=value`
    /// attributes, `%XX` escapes decoded.
    pub fn parse(rest: &str) -> Result<Self, String> {
        let mut module = None;
        let mut token = None;
        for part in rest.split([';', '?', '&']).filter(|p| !p.trim().is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("pkcs11: attribute {part:?} has no '='"))?;
            let v = pct_decode(v.trim())?;
            match k.trim() {
                "module" | "module-path" => module = Some(PathBuf::from(v)),
                "token" => token = Some(v),
                // Accepted for copy-paste from other tools, not needed here.
                "slot-id" | "object" | "type" | "id" | "manufacturer" | "model" | "serial" => {}
                "pin-value" | "pin-source" => {
                    return Err(format!(
                        "pkcs11: {k} is not read; put the user PIN in the environment variable {PIN_ENV}"
                    ))
                }
                other => return Err(format!("pkcs11: unknown attribute {other:?}")),
            }
        }
        Ok(Pkcs11Uri {
            module: module.ok_or("pkcs11: module=PATH (the PKCS#11 library) is missing")?,
            token: token.ok_or("pkcs11: token=LABEL is missing")?,
        })
    }
}

fn pct_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let h = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("pkcs11: bad %-escape in {s:?}"))?;
            out.push(h);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("pkcs11: {s:?} is not UTF-8"))
}

impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pkcs11:module={};token={}",
            self.module.display(),
            self.token
        )
    }
}

fn p11(what: &str) -> impl Fn(cryptoki::error::Error) -> HostError + '_ {
    move |e| HostError::Token(format!("{what}: {e}"))
}

/// An open, logged-in session on the token.
struct Token {
    uri: Pkcs11Uri,
    // Sessions are not `Sync`; one mutex serialises use across threads.
    session: Mutex<Session>,
    ctx: Pkcs11,
}

impl Token {
    fn with<T>(
        &self,
        f: impl FnOnce(&Session) -> cryptoki::error::Result<T>,
    ) -> cryptoki::error::Result<T> {
        let s = self.session.lock().unwrap_or_else(|p| p.into_inner());
        f(&s)
    }
}

fn init(uri: &Pkcs11Uri) -> Result<Pkcs11, HostError> {
    if !uri.module.exists() {
        return Err(HostError::Token(format!(
            "PKCS#11 module {} does not exist (Debian: apt install softhsm2)",
            uri.module.display()
        )));
    }
    let ctx = Pkcs11::new(&uri.module).map_err(p11("loading the PKCS#11 module"))?;
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(p11("C_Initialize"))?;
    Ok(ctx)
}

fn login(ctx: Pkcs11, uri: &Pkcs11Uri) -> Result<Token, HostError> {
    let pin = std::env::var(PIN_ENV).map_err(|_| {
        HostError::Token(format!(
            "set {PIN_ENV} to the user PIN of token {:?}",
            uri.token
        ))
    })?;
    let mut labels = Vec::new();
    let mut found = None;
    for slot in ctx.get_slots_with_token().map_err(p11("listing slots"))? {
        let info = ctx
            .get_token_info(slot)
            .map_err(p11("reading token info"))?;
        let label = info.label().trim_end().to_string();
        if label == uri.token && found.is_none() {
            found = Some(slot);
        }
        labels.push(format!("{label:?}"));
    }
    let slot = found.ok_or_else(|| {
        HostError::Token(format!(
            "no token labelled {:?} in {} (tokens: {})",
            uri.token,
            uri.module.display(),
            if labels.is_empty() {
                "none".to_string()
            } else {
                labels.join(", ")
            }
        ))
    })?;
    let session = ctx
        .open_rw_session(slot)
        .map_err(p11("opening a session"))?;
    session
        .login(UserType::User, Some(&AuthPin::from(pin)))
        .map_err(p11("logging in with the PIN from RACONN_PKCS11_PIN"))?;
    Ok(Token {
        uri: uri.clone(),
        session: Mutex::new(session),
        ctx,
    })
}

/// A PKCS#11 token used as the RA store.
pub struct Pkcs11Store {
    token: Arc<Token>,
}

impl Pkcs11Store {
    /// Loads the module, finds the token by label and logs in with the PIN
    /// from `RACONN_PKCS11_PIN`. A PKCS#11 module is initialised once per
    /// process, so the logged-in token is shared by every store opened on the
    /// same location.
    pub fn open(uri: &Pkcs11Uri) -> Result<Self, HostError> {
        static OPEN: Mutex<Vec<Arc<Token>>> = Mutex::new(Vec::new());
        let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = open.iter().find(|t| t.uri == *uri) {
            return Ok(Pkcs11Store { token: t.clone() });
        }
        let ctx = match open.iter().find(|t| t.uri.module == uri.module) {
            Some(t) => t.ctx.clone(),
            None => init(uri)?,
        };
        let token = Arc::new(login(ctx, uri)?);
        open.push(token.clone());
        Ok(Pkcs11Store { token })
    }

    fn find(&self, template: &[Attribute]) -> Result<Vec<ObjectHandle>, HostError> {
        self.token
            .with(|s| s.find_objects(template))
            .map_err(p11("searching the token"))
    }

    fn private_key(&self, spki: &[u8]) -> Result<Option<ObjectHandle>, HostError> {
        let id = hex_id(spki);
        Ok(self
            .find(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Id(id),
            ])?
            .into_iter()
            .next())
    }

    fn key(
        &self,
        handle: ObjectHandle,
        spki: Vec<u8>,
        hash: HashAlgorithm,
    ) -> Result<Pkcs11Key, HostError> {
        let kind = SpkiRef::parse(&spki).map_err(core)?.kind();
        match kind {
            KeyKind::Rsa(_) | KeyKind::P256 | KeyKind::P384 => {}
            other => {
                return Err(HostError::Token(format!(
                    "the token key is {other}; raconn signs with RSA, P-256 or P-384"
                )))
            }
        }
        Ok(Pkcs11Key {
            token: self.token.clone(),
            handle,
            spki,
            kind,
            hash,
        })
    }

    /// The SPKI of a public-key object.
    fn spki_of_public(&self, pubk: ObjectHandle, alg: KeyKind) -> Result<Vec<u8>, HostError> {
        let mut buf = vec![0u8; 1200];
        match alg {
            KeyKind::Rsa(_) => {
                let attrs = self
                    .token
                    .with(|s| {
                        s.get_attributes(
                            pubk,
                            &[AttributeType::Modulus, AttributeType::PublicExponent],
                        )
                    })
                    .map_err(p11("reading the public key"))?;
                let (mut n, mut e) = (None, None);
                for a in attrs {
                    match a {
                        Attribute::Modulus(v) => n = Some(v),
                        Attribute::PublicExponent(v) => e = Some(v),
                        _ => {}
                    }
                }
                let (n, e) = n.zip(e).ok_or_else(|| {
                    HostError::Token("the token did not return the RSA modulus and exponent".into())
                })?;
                Ok(raconn_core::spki::write_rsa(&n, &e, &mut buf)
                    .map_err(core)?
                    .to_vec())
            }
            KeyKind::P256 | KeyKind::P384 => {
                let curve = curve_of(alg);
                let attrs = self
                    .token
                    .with(|s| s.get_attributes(pubk, &[AttributeType::EcPoint]))
                    .map_err(p11("reading the public key"))?;
                let point = attrs
                    .into_iter()
                    .find_map(|a| match a {
                        Attribute::EcPoint(p) => Some(p),
                        _ => None,
                    })
                    .ok_or_else(|| {
                        HostError::Token("the token did not return CKA_EC_POINT".into())
                    })?;
                Ok(raconn_core::spki::write_ec(curve, &point, &mut buf)
                    .map_err(core)?
                    .to_vec())
            }
            other => Err(HostError::Token(format!(
                "{other} keys are not read from a token"
            ))),
        }
    }
}

/// A PKCS#11 `CK_ULONG` (32 bits on Windows, 64 on Linux) from a small value.
fn ulong(v: usize) -> cryptoki::types::Ulong {
    cryptoki::types::Ulong::try_from(v).unwrap_or_else(|_| cryptoki::types::Ulong::from(0))
}

fn curve_of(alg: KeyKind) -> Curve {
    if alg == KeyKind::P384 {
        Curve::P384
    } else {
        Curve::P256
    }
}

/// `CKA_ID` of a key: the SHA-1 of its SPKI (the same id as the file store's).
fn hex_id(spki: &[u8]) -> Vec<u8> {
    sha1::Sha1::digest(spki).to_vec()
}

impl RaStore for Pkcs11Store {
    fn generate_key(
        &self,
        alg: KeyKind,
        hash: HashAlgorithm,
    ) -> Result<(String, Arc<dyn RaKey>), HostError> {
        let label = b"raconn RA key".to_vec();
        let mut tmp_id = [0u8; 20];
        getrandom::fill(&mut tmp_id).map_err(|e| HostError::KeyGen(e.to_string()))?;
        let common = [
            Attribute::Token(true),
            Attribute::Label(label.clone()),
            Attribute::Id(tmp_id.to_vec()),
        ];
        let private = [
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
        ];
        let (mech, public): (Mechanism, Vec<Attribute>) = match alg {
            KeyKind::Rsa(bits) => (
                Mechanism::RsaPkcsKeyPairGen,
                vec![
                    Attribute::Verify(true),
                    Attribute::ModulusBits(ulong(bits as usize)),
                    Attribute::PublicExponent(vec![1, 0, 1]),
                ],
            ),
            KeyKind::P256 | KeyKind::P384 => (
                Mechanism::EccKeyPairGen,
                vec![
                    Attribute::Verify(true),
                    Attribute::EcParams(curve_of(alg).params_der().to_vec()),
                ],
            ),
            other => {
                return Err(HostError::KeyGen(format!(
                    "{other} keys are not made on a token by raconn (RSA, P-256 or P-384)"
                )))
            }
        };
        let pub_t: Vec<Attribute> = common.iter().cloned().chain(public).collect();
        let priv_t: Vec<Attribute> = common.iter().cloned().chain(private).collect();
        let (pubk, privk) = self
            .token
            .with(|s| s.generate_key_pair(&mech, &pub_t, &priv_t))
            .map_err(|e| HostError::KeyGen(format!("on token {:?}: {e}", self.token.uri.token)))?;
        let spki = self.spki_of_public(pubk, alg)?;
        // Now that the public key is known, give both halves the common id.
        let id = hex_id(&spki);
        self.token
            .with(|s| {
                s.update_attributes(pubk, &[Attribute::Id(id.clone())])?;
                s.update_attributes(privk, &[Attribute::Id(id.clone())])
            })
            .map_err(p11("setting CKA_ID"))?;
        let key = self.key(privk, spki.clone(), hash)?;
        Ok((key_id(&spki), Arc::new(key)))
    }

    fn key_for_spki(&self, spki: &[u8]) -> Result<Option<Arc<dyn RaKey>>, HostError> {
        match self.private_key(spki)? {
            None => Ok(None),
            Some(h) => Ok(Some(Arc::new(self.key(
                h,
                spki.to_vec(),
                HashAlgorithm::Sha256,
            )?))),
        }
    }

    fn accept_certificate(&self, der: &[u8]) -> Result<Thumbprint, HostError> {
        let c = CertificateRef::parse(der).map_err(core)?;
        let spki = c.spki.der.raw;
        if self.private_key(spki)?.is_none() {
            return Err(HostError::NoMatchingKey {
                store: self.describe(),
                key: key_id(spki),
            });
        }
        let t = Thumbprint::of(der);
        let present = self.find(&[
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::Value(der.to_vec()),
        ])?;
        if present.is_empty() {
            let template = [
                Attribute::Class(ObjectClass::CERTIFICATE),
                Attribute::CertificateType(CertificateType::X_509),
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Id(hex_id(spki)),
                Attribute::Label(format!("raconn RA {t}").into_bytes()),
                Attribute::Subject(c.subject.der.raw.to_vec()),
                Attribute::Issuer(c.issuer.der.raw.to_vec()),
                Attribute::Value(der.to_vec()),
            ];
            self.token
                .with(|s| s.create_object(&template))
                .map_err(p11("storing the certificate on the token"))?;
        }
        Ok(t)
    }

    fn certificates(&self) -> Result<Vec<StoredCert>, HostError> {
        let handles = self.find(&[Attribute::Class(ObjectClass::CERTIFICATE)])?;
        let mut out = Vec::new();
        for h in handles {
            let attrs = self
                .token
                .with(|s| s.get_attributes(h, &[AttributeType::Value]))
                .map_err(p11("reading a certificate"))?;
            let Some(der) = attrs.into_iter().find_map(|a| match a {
                Attribute::Value(v) => Some(v),
                _ => None,
            }) else {
                continue;
            };
            let Ok(c) = CertificateRef::parse(&der) else {
                continue;
            };
            let has_key = self.private_key(c.spki.der.raw)?.is_some();
            out.push(StoredCert {
                thumbprint: Thumbprint::of(&der),
                der,
                has_key,
            });
        }
        out.sort_by_key(|c| c.thumbprint);
        out.dedup_by_key(|c| c.thumbprint);
        Ok(out)
    }

    fn import_key(
        &self,
        key: &crate::keys::SoftKey,
    ) -> Result<(String, Arc<dyn RaKey>), HostError> {
        let spki = key.spki().to_vec();
        let id = hex_id(&spki);
        let p8 = key.to_pkcs8()?;
        let common = [
            Attribute::Token(true),
            Attribute::Label(b"raconn RA key (imported)".to_vec()),
            Attribute::Id(id.clone()),
        ];
        let bad = |what: &str| HostError::KeyEncoding(format!("the imported key: {what}"));
        // PrivateKeyInfo ::= SEQUENCE { version, algorithm, privateKey OCTET STRING }
        let info = asn1::parse_single(&p8).map_err(core)?;
        let mut r = info.reader();
        r.require(tag::INTEGER).map_err(core)?;
        r.require(tag::SEQUENCE).map_err(core)?;
        let inner = r.require(tag::OCTET_STRING).map_err(core)?.value;
        let kind = SpkiRef::parse(&spki).map_err(core)?.kind();
        let (private, public): (Vec<Attribute>, Vec<Attribute>) = match kind {
            KeyKind::Rsa(_) => {
                // RSAPrivateKey ::= SEQUENCE { version, n, e, d, p, q, dp, dq, qinv }
                let seq = asn1::parse_single(inner).map_err(core)?;
                let mut r = seq.reader();
                let mut ints = Vec::new();
                while !r.is_empty() {
                    let v = r.require(tag::INTEGER).map_err(core)?.value;
                    let v = v.strip_prefix(&[0]).filter(|x| !x.is_empty()).unwrap_or(v);
                    ints.push(v.to_vec());
                }
                let [_, n, e, d, p, q, dp, dq, qi] = <[Vec<u8>; 9]>::try_from(ints)
                    .map_err(|_| bad("an RSA key that is not two-prime PKCS#1"))?;
                (
                    vec![
                        Attribute::KeyType(KeyType::RSA),
                        Attribute::Modulus(n.clone()),
                        Attribute::PublicExponent(e.clone()),
                        Attribute::PrivateExponent(d),
                        Attribute::Prime1(p),
                        Attribute::Prime2(q),
                        Attribute::Exponent1(dp),
                        Attribute::Exponent2(dq),
                        Attribute::Coefficient(qi),
                    ],
                    vec![
                        Attribute::KeyType(KeyType::RSA),
                        Attribute::Modulus(n),
                        Attribute::PublicExponent(e),
                    ],
                )
            }
            KeyKind::P256 | KeyKind::P384 => {
                // ECPrivateKey ::= SEQUENCE { version, privateKey OCTET STRING, … }
                let seq = asn1::parse_single(inner).map_err(core)?;
                let mut r = seq.reader();
                r.require(tag::INTEGER).map_err(core)?;
                let scalar = r.require(tag::OCTET_STRING).map_err(core)?.value.to_vec();
                let params = curve_of(kind).params_der().to_vec();
                let point = SpkiRef::parse(&spki).map_err(core)?.key.to_vec();
                let mut point_der = vec![0u8; point.len() + 4];
                let mut w = raconn_core::asn1::DerWriter::new(&mut point_der);
                w.tlv(tag::OCTET_STRING, &point);
                let n = w.finish().map_err(core)?;
                point_der.truncate(n);
                (
                    vec![
                        Attribute::KeyType(KeyType::EC),
                        Attribute::EcParams(params.clone()),
                        Attribute::Value(scalar),
                    ],
                    vec![
                        Attribute::KeyType(KeyType::EC),
                        Attribute::EcParams(params),
                        Attribute::EcPoint(point_der),
                    ],
                )
            }
            other => return Err(bad(&format!("{other} keys are not imported to a token"))),
        };
        let priv_t: Vec<Attribute> = [
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
        ]
        .into_iter()
        .chain(common.iter().cloned())
        .chain(private)
        .collect();
        let pub_t: Vec<Attribute> = [
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Verify(true),
        ]
        .into_iter()
        .chain(common.iter().cloned())
        .chain(public)
        .collect();
        self.token
            .with(|s| {
                s.create_object(&priv_t)?;
                s.create_object(&pub_t)
            })
            .map_err(p11("creating the imported key on the token"))?;
        let h = self
            .private_key(&spki)?
            .ok_or_else(|| HostError::Token("the imported key is not found on the token".into()))?;
        let k = self.key(h, spki.clone(), HashAlgorithm::Sha256)?;
        Ok((key_id(&spki), Arc::new(k)))
    }

    fn remove_key(&self, spki: &[u8]) -> Result<(), HostError> {
        for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
            for h in self.find(&[Attribute::Class(class), Attribute::Id(hex_id(spki))])? {
                self.token
                    .with(|s| s.destroy_object(h))
                    .map_err(p11("removing the key"))?;
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        self.token.uri.to_string()
    }
}

/// A private key on the token: a handle, never key material.
pub struct Pkcs11Key {
    token: Arc<Token>,
    handle: ObjectHandle,
    spki: Vec<u8>,
    kind: KeyKind,
    hash: HashAlgorithm,
}

impl Pkcs11Key {
    fn sign_raw(&self, mech: &Mechanism, data: &[u8]) -> Result<Vec<u8>, String> {
        self.token
            .with(|s| s.sign(mech, self.handle, data))
            .map_err(|e| format!("signing on token {:?}: {e}", self.token.uri.token))
    }

    fn sign_ecdsa(&self, digest: &[u8]) -> Result<Vec<u8>, String> {
        let rs = self.sign_raw(&Mechanism::Ecdsa, digest)?;
        let mut buf = [0u8; raconn_core::sig::ecdsa_der_max_len(66)];
        raconn_core::sig::ecdsa_raw_to_der(&rs, &mut buf)
            .map(|d| d.to_vec())
            .map_err(|e| format!("the token's ECDSA signature is not r||s: {e}"))
    }
}

crate::store_key_signer!(Pkcs11Key);

impl RaKey for Pkcs11Key {
    fn describe(&self) -> String {
        format!("{} on PKCS#11 token {:?}", self.kind, self.token.uri.token)
    }

    fn tls_schemes(&self) -> &'static [SignatureScheme] {
        SignatureScheme::tls_for(self.kind)
    }

    fn sign_tls(&self, scheme: SignatureScheme, msg: &[u8]) -> Result<Vec<u8>, String> {
        let pss = |hash: MechanismType, mgf: PkcsMgfType, s_len: usize| PkcsPssParams {
            hash_alg: hash,
            mgf,
            s_len: ulong(s_len),
        };
        match scheme {
            SignatureScheme::RsaPssSha256 => self.sign_raw(
                &Mechanism::Sha256RsaPkcsPss(pss(
                    MechanismType::SHA256,
                    PkcsMgfType::MGF1_SHA256,
                    32,
                )),
                msg,
            ),
            SignatureScheme::RsaPssSha384 => self.sign_raw(
                &Mechanism::Sha384RsaPkcsPss(pss(
                    MechanismType::SHA384,
                    PkcsMgfType::MGF1_SHA384,
                    48,
                )),
                msg,
            ),
            SignatureScheme::RsaPkcs1Sha256 => self.sign_raw(&Mechanism::Sha256RsaPkcs, msg),
            SignatureScheme::RsaPkcs1Sha384 => self.sign_raw(&Mechanism::Sha384RsaPkcs, msg),
            SignatureScheme::EcdsaP256Sha256 => self.sign_ecdsa(&sha2::Sha256::digest(msg)),
            SignatureScheme::EcdsaP384Sha384 => self.sign_ecdsa(&sha2::Sha384::digest(msg)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_forms() {
        let u = Pkcs11Uri::parse("module=/usr/lib/softhsm/libsofthsm2.so;token=raconn").unwrap();
        assert_eq!(u.module, PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"));
        assert_eq!(u.token, "raconn");
        let u = Pkcs11Uri::parse("token=My%20Token?module-path=/x.so").unwrap();
        assert_eq!(u.token, "My Token");
        assert!(Pkcs11Uri::parse("token=raconn")
            .unwrap_err()
            .contains("module"));
        assert!(Pkcs11Uri::parse("module=/x.so;token=a;pin-value=1234")
            .unwrap_err()
            .contains(PIN_ENV));
        assert!(Pkcs11Uri::parse("module=/x.so;token=%zz").is_err());
    }
}
