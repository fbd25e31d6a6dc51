//! `raconn ra new-request | accept | list`: RA onboarding against the store.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use raconn_core::cert::CertificateRef;
use raconn_core::csr::{self, CsrRef};
use raconn_core::{inf, oid, pem};
use serde::Serialize;

use super::{emit, note};
use crate::errors::{core, HostError};
use crate::store::{self, StoreLocation};
use crate::{files, keys};

/// Where the RA store is.
#[derive(Args, Debug, Clone)]
pub struct StoreArg {
    /// The RA store: a directory, 'pkcs11:module=PATH;token=LABEL' (PIN in
    /// $RACONN_PKCS11_PIN) or 'windows:LocalMachine\My'. Default:
    /// $RACONN_STORE, else raconn.toml's `store`, else the user's data dir.
    #[arg(long, env = "RACONN_STORE")]
    store: Option<String>,
}

impl StoreArg {
    fn location(&self, config: Option<&Path>) -> Result<StoreLocation, HostError> {
        if let Some(s) = &self.store {
            return StoreLocation::parse(s, Path::new("")).map_err(HostError::StoreLocation);
        }
        let cfg_path = crate::config::locate(config);
        if cfg_path.exists() {
            return Ok(crate::config::load(&cfg_path)?.store);
        }
        let base = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(StoreLocation::Dir(base.join("raconn").join("store")))
    }
}

/// Where a new RA request goes, and how the certreq.ini is read.
#[derive(Args, Debug, Clone)]
pub struct RequestOut {
    /// Where to write the PEM CSR.
    #[arg(long)]
    out: PathBuf,
    /// Use certreq's `NEW CERTIFICATE REQUEST` PEM label.
    #[arg(long)]
    certreq_label: bool,
    /// How to read a certreq.ini that is neither UTF-8 nor UTF-16 with a
    /// byte-order mark: `utf-8` refuses it naming line and byte;
    /// `windows-1252` reads it as Notepad's "ANSI" and names each line it
    /// converted.
    #[arg(long, value_enum, default_value = "utf-8")]
    encoding: Encoding,
    #[command(flatten)]
    store: StoreArg,
}

/// `raconn ra …`.
#[derive(Subcommand, Debug)]
pub enum RaCmd {
    /// Make the RA key and CSR from a certreq.ini file.
    NewRequest {
        /// The certreq.ini policy file.
        #[arg(long)]
        inf: PathBuf,
        #[command(flatten)]
        req: RequestOut,
    },
    /// Renew the RA certificate: a new key and request with the current
    /// certificate's subject, Key Usage and EKU (or from a certreq.ini),
    /// kept beside the current key so both work during the overlap.
    Renew {
        /// Take the request from this certreq.ini instead.
        #[arg(long)]
        inf: Option<PathBuf>,
        #[command(flatten)]
        req: RequestOut,
    },
    /// Accept the issued RA certificate: pair it with its stored key.
    Accept {
        /// The certificate (PEM, DER or PKCS#7).
        cert: PathBuf,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Import an RA certificate and its key from a PFX (an export from
    /// Windows, legacy or modern PKCS#12) into the store.
    Import {
        /// The .pfx / .p12 file.
        pfx: PathBuf,
        /// Read its password from this file (first line).
        #[arg(long, conflicts_with = "password_env")]
        password_file: Option<PathBuf>,
        /// Read its password from this environment variable.
        #[arg(long)]
        password_env: Option<String>,
        #[command(flatten)]
        store: StoreArg,
    },
    /// List RA certificates in the store.
    List {
        #[command(flatten)]
        store: StoreArg,
    },
}

/// `--encoding`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 (or UTF-16 with a byte-order mark); anything else is refused.
    #[value(name = "utf-8")]
    Utf8,
    /// Windows-1252 ("ANSI") where the bytes are not UTF-8.
    #[value(name = "windows-1252")]
    Windows1252,
}

/// Runs `raconn ra …`.
pub fn run(config: Option<&Path>, json: bool, c: RaCmd) -> Result<ExitCode, HostError> {
    match c {
        RaCmd::NewRequest { inf, req } => emit(
            json,
            &new_request(
                &inf,
                &req.out,
                req.certreq_label,
                req.encoding,
                &req.store.location(config)?,
            )?,
        )?,
        RaCmd::Renew { inf, req } => {
            let loc = req.store.location(config)?;
            let report = match inf {
                Some(inf) => new_request(&inf, &req.out, req.certreq_label, req.encoding, &loc)?,
                None => {
                    let cfg = super::load_config(config)?;
                    let current = current_ra_cert(&cfg, &loc)?;
                    renew(&current, &req.out, req.certreq_label, &loc)?
                }
            };
            emit(json, &report)?
        }
        RaCmd::Import {
            pfx,
            password_file,
            password_env,
            store,
        } => {
            let pw =
                super::issue::read_password(password_file.as_deref(), password_env.as_deref())?;
            emit(json, &import(&pfx, &pw, &store.location(config)?)?)?
        }
        RaCmd::Accept { cert, store } => emit(json, &accept(&cert, &store.location(config)?)?)?,
        RaCmd::List { store } => emit(json, &list(&store.location(config)?)?)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// What `ra new-request` made.
#[derive(Debug, Serialize)]
pub struct NewRequestReport {
    /// The key id (SHA-1 of the SubjectPublicKeyInfo).
    pub key_id: String,
    /// The key, described.
    pub key: String,
    /// Where the CSR was written.
    pub csr: PathBuf,
    /// The store, described.
    pub store: String,
    /// The request's subject.
    pub subject: String,
    #[serde(skip)]
    label: &'static str,
}

impl fmt::Display for NewRequestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Key id: {} ({}) stored in {}\nRequest: {} ({})\nSubject: {}\nNext: have the PKI Platform issue the RA certificate, then run `raconn ra accept CERT`.",
            self.key_id,
            self.key,
            self.store,
            self.csr.display(),
            self.label,
            self.subject
        )
    }
}

/// `raconn ra new-request`.
///
/// Everything that can fail is checked before the key is made (the file's
/// encoding and syntax, the subject, the output path); if anything fails
/// after, the key is removed again, so a failed request leaves no orphan key
/// in the store (an HSM slot, a CNG container).
pub fn new_request(
    inf_path: &Path,
    dst: &Path,
    certreq_label: bool,
    encoding: Encoding,
    store: &StoreLocation,
) -> Result<NewRequestReport, HostError> {
    let text_bytes = files::read(inf_path)?;
    let assume = match encoding {
        Encoding::Utf8 => inf::TextEncoding::Utf8,
        Encoding::Windows1252 => inf::TextEncoding::Windows1252,
    };
    let mut decoded_buf = vec![0u8; text_bytes.len().saturating_mul(3).max(16)];
    let decoded = inf::decode_text(&text_bytes, assume, &mut decoded_buf).map_err(core)?;
    let text = decoded.text;
    if decoded.source == inf::SourceEncoding::Windows1252 {
        for line in &decoded.converted_lines {
            let src = text
                .lines()
                .nth(line.saturating_sub(1))
                .unwrap_or("")
                .trim();
            note(&format!(
                "note: line {line} read as Windows-1252 (\"ANSI\"): {src}"
            ));
        }
    }
    let parsed = inf::parse(text).map_err(core)?;
    for w in &parsed.warnings {
        let src = text
            .lines()
            .nth(w.line().saturating_sub(1))
            .unwrap_or("")
            .trim();
        note(&format!("note: {w}: {src}"));
    }
    let mut subject_buf = vec![0u8; text.len()];
    let spec = parsed.csr_spec(&mut subject_buf).map_err(core)?;
    let mut extra_buf = vec![0u8; text.len()];
    let extra = parsed.decode_extra(&mut extra_buf).map_err(core)?;
    let spec = csr::CsrSpec {
        extra: &extra,
        ..spec
    };
    // Check the subject and the output before making a key: a typo should
    // cost nothing.
    {
        let mut scratch = vec![0u8; 4096];
        if !spec.subject.trim().is_empty() {
            raconn_core::name::subject_to_der(spec.subject, &mut scratch).map_err(core)?;
        }
    }
    files::check_writable(dst)?;
    make_request(&spec, parsed.key, parsed.hash, dst, certreq_label, store)
}

/// Makes the key in the store, the request, checks its signature and writes
/// it; removes the key again if anything after its generation fails.
fn make_request(
    spec: &csr::CsrSpec<'_>,
    kind: inf::KeyKind,
    hash: inf::HashAlgorithm,
    dst: &Path,
    certreq_label: bool,
    store: &StoreLocation,
) -> Result<NewRequestReport, HostError> {
    let fs = store::open(store)?;
    let (key_id, key) = fs.generate_key(kind, hash)?;
    let made = (|| {
        let need = csr::max_len(spec, key.as_ref()).map_err(core)?;
        let mut buf = vec![0u8; need];
        let der = csr::build(spec, key.as_ref(), &mut buf).map_err(core)?;
        // Never hand out a request that does not verify.
        let c = CsrRef::parse(der).map_err(core)?;
        match keys::verify(c.spki.der.raw, &c.signature_algorithm, c.tbs, c.signature) {
            Ok(true) => {}
            Ok(false) => return Err(HostError::SelfCheck("signature does not verify".into())),
            Err(e) => return Err(HostError::SelfCheck(e)),
        }
        let label = if certreq_label {
            pem::CSR_LABEL_CERTREQ
        } else {
            pem::CSR_LABEL
        };
        files::write_atomic(dst, files::to_pem(label, der).as_bytes(), 0o644)?;
        Ok((c.subject.to_string(), label))
    })();
    let (subject, label) = match made {
        Ok(v) => v,
        Err(e) => {
            if let Err(r) = fs.remove_key(key.public_key_der()) {
                note(&format!(
                    "warning: the key {key_id} made for this request could not be removed: {r}"
                ));
            }
            return Err(e);
        }
    };
    Ok(NewRequestReport {
        key_id,
        key: key.describe(),
        csr: dst.to_path_buf(),
        store: fs.describe(),
        subject,
        label,
    })
}

/// `raconn ra renew` without a certreq.ini: a new key of the same kind as
/// the current RA certificate's, and a request with its subject (byte for
/// byte), Key Usage and Extended Key Usage. The current key stays in the
/// store: both certificates work during the overlap.
pub fn renew(
    current: &[u8],
    dst: &Path,
    certreq_label: bool,
    store: &StoreLocation,
) -> Result<NewRequestReport, HostError> {
    let c = CertificateRef::parse(current).map_err(core)?;
    let (kind, hash) = match raconn_core::spki::SpkiRef::parse(c.spki.der.raw)
        .map_err(core)?
        .kind()
    {
        raconn_core::spki::KeyKind::Rsa(bits) => {
            (inf::KeyKind::Rsa(bits), inf::HashAlgorithm::Sha256)
        }
        raconn_core::spki::KeyKind::P256 => (inf::KeyKind::P256, inf::HashAlgorithm::Sha256),
        raconn_core::spki::KeyKind::P384 => (inf::KeyKind::P384, inf::HashAlgorithm::Sha384),
        other => {
            return Err(HostError::KeyGen(format!(
                "the current RA key is {other}; give a certreq.ini with --inf"
            )))
        }
    };
    let mut eku = Vec::new();
    c.for_each_eku(|o| eku.push(o)).map_err(core)?;
    let spec = csr::CsrSpec {
        subject_der: Some(c.subject.der.raw),
        key_usage: c.key_usage().map(|mask| csr::KeyUsageReq {
            mask,
            critical: true,
        }),
        eku: &eku,
        ..csr::CsrSpec::new("")
    };
    files::check_writable(dst)?;
    make_request(&spec, kind, hash, dst, certreq_label, store)
}

/// `raconn ra import`: the key and its RA certificate from a PFX into the
/// store. Nothing is stored unless the PFX opens, one of its keys matches
/// one of its certificates, and that certificate allows clientAuth.
pub fn import(
    pfx: &Path,
    password: &str,
    store: &StoreLocation,
) -> Result<AcceptReport, HostError> {
    let data = files::read(pfx)?;
    let archive = p12_keystore::Pkcs12Archive::from_pkcs12(&data, password).map_err(|e| {
        let why = match e {
            p12_keystore::error::Error::MacError(_) => {
                "the password does not open it (MAC check failed)".to_string()
            }
            other => format!("not a PKCS#12 file raconn reads: {other}"),
        };
        HostError::PfxOpen {
            path: pfx.to_path_buf(),
            why,
        }
    })?;
    let mut found = None;
    for kb in &archive.keys {
        let Ok(k) = keys::SoftKey::from_pkcs8(kb.key.as_der()) else {
            continue;
        };
        let cert = archive.certs.iter().find(|cb| {
            CertificateRef::parse(cb.cert.as_der()).is_ok_and(|c| c.spki.der.raw == k.spki())
        });
        if let Some(cb) = cert {
            found = Some((k, cb.cert.as_der().to_vec()));
            break;
        }
    }
    let (key, cert) = found.ok_or_else(|| HostError::PfxNoMatch(pfx.to_path_buf()))?;
    let c = CertificateRef::parse(&cert).map_err(core)?;
    if !c.allows_purpose(&oid::KP_CLIENT_AUTH) {
        return Err(HostError::NotClientAuth(c.subject.to_string()));
    }
    let fs = store::open(store)?;
    let (key_id, k) = fs.import_key(&key)?;
    let t = match fs.accept_certificate(&cert) {
        Ok(t) => t,
        Err(e) => {
            let _ = fs.remove_key(csr::Signer::public_key_der(k.as_ref()));
            return Err(e);
        }
    };
    note(&format!(
        "imported key {key_id} ({}) into {}",
        k.describe(),
        fs.describe()
    ));
    Ok(AcceptReport {
        subject: c.subject.to_string(),
        not_after: c.not_after.to_string(),
        thumbprint: t.to_string(),
        warnings: Vec::new(),
        others: Vec::new(),
    })
}

/// The RA certificate to renew: of the configured thumbprints present in
/// the store, the one that ends last (expired or not).
fn current_ra_cert(cfg: &crate::config::Config, loc: &StoreLocation) -> Result<Vec<u8>, HostError> {
    let fs = store::open_existing(loc)?;
    let mut best: Option<(i64, Vec<u8>)> = None;
    let mut first_err = None;
    for t in &cfg.ra_thumbprints {
        match fs.certificate(t) {
            Ok(sc) => {
                let na = CertificateRef::parse(&sc.der)
                    .map_err(core)?
                    .not_after
                    .unix();
                if best.as_ref().is_none_or(|(b, _)| na > *b) {
                    best = Some((na, sc.der));
                }
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    best.map(|(_, d)| d).ok_or_else(|| {
        first_err.unwrap_or_else(|| HostError::ThumbprintNotFound("no ra_cert_thumbprint".into()))
    })
}

/// What `ra accept` stored.
#[derive(Debug, Serialize)]
pub struct AcceptReport {
    /// The RA certificate's subject.
    pub subject: String,
    /// Its notAfter.
    pub not_after: String,
    /// Its SHA-1 thumbprint (`ra_cert_thumbprint`).
    pub thumbprint: String,
    /// What is wrong with it for mutual TLS.
    pub warnings: Vec<String>,
    /// Other RA certificates in the store with their key, still valid
    /// (thumbprint, notAfter): during a rotation, list them with this one.
    pub others: Vec<(String, String)>,
}

impl fmt::Display for AcceptReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Subject: {}\nNot After: {}\nRA Cert Thumbprint: {}",
            self.subject, self.not_after, self.thumbprint
        )?;
        if !self.others.is_empty() {
            for (t, na) in &self.others {
                writeln!(f, "Also in the store: {t} (not after {na})")?;
            }
            let all: Vec<String> = std::iter::once(&self.thumbprint)
                .chain(self.others.iter().map(|(t, _)| t))
                .map(|t| format!("\"{t}\""))
                .collect();
            writeln!(
                f,
                "Next: during the overlap put them all in raconn.toml — ra_cert_thumbprint = [{}] — raconn uses the newest valid one; drop the old one once it has expired.",
                all.join(", ")
            )?;
        }
        Ok(())
    }
}

/// `raconn ra accept`.
pub fn accept(cert: &Path, store: &StoreLocation) -> Result<AcceptReport, HostError> {
    let fs = store::open_existing(store)?;
    let certs = files::certificates_in(cert)?;
    if certs.is_empty() {
        return Err(HostError::Unrecognised {
            path: cert.to_path_buf(),
            what: "no certificate in the file".into(),
        });
    }
    // Every certificate of the file must parse strictly: a file with one
    // damaged certificate is not trusted for the others either.
    let parsed: Vec<CertificateRef<'_>> = certs
        .iter()
        .map(|d| CertificateRef::parse(d).map_err(core))
        .collect::<Result<_, _>>()?;
    // The RA certificate is the one whose key we hold (a PKCS#7 may carry the chain too).
    let mut last_err = None;
    for c in &parsed {
        if fs.key_for_spki(c.spki.der.raw)?.is_none() {
            last_err = Some(HostError::NoMatchingKey {
                store: fs.describe(),
                key: store::key_id(c.spki.der.raw),
            });
            continue;
        }
        let mut warnings = Vec::new();
        // Its signature, checked against its issuer when the file or the
        // store holds the issuer (or it signed itself).
        let stored = fs.certificates()?;
        let issuer = parsed
            .iter()
            .copied()
            .chain(
                stored
                    .iter()
                    .filter_map(|s| CertificateRef::parse(&s.der).ok()),
            )
            .find(|i| i.subject.der.raw == c.issuer.der.raw && i.der != c.der)
            .or_else(|| (c.issuer.der.raw == c.subject.der.raw).then_some(*c));
        match issuer {
            Some(i) => {
                match keys::verify(i.spki.der.raw, &c.signature_algorithm, c.tbs, c.signature) {
                    Ok(true) => {}
                    Ok(false) => {
                        return Err(HostError::BadSignature {
                            path: cert.to_path_buf(),
                            subject: format!("{} (issuer {})", c.subject, c.issuer),
                        })
                    }
                    Err(e) => warnings.push(format!(
                        "the signature by {} was not checked: {e}",
                        c.issuer
                    )),
                }
            }
            None => warnings.push(format!(
                "the issuer {} is not in the file: the certificate's signature was not checked (give the PKCS#7 or a PEM file with the chain to have it checked)",
                c.issuer
            )),
        }
        if !c.allows_purpose(&oid::KP_CLIENT_AUTH) {
            warnings.push("the certificate's Extended Key Usage has no clientAuth: the CA will refuse it for mutual TLS".to_string());
        }
        if let Some(ku) = c.key_usage() {
            if ku & raconn_core::ext::ku::DIGITAL_SIGNATURE == 0 {
                warnings.push("the certificate's Key Usage lacks digitalSignature: TLS client authentication needs it".to_string());
            }
        }
        let t = fs.accept_certificate(c.der)?;
        for w in &warnings {
            note(&format!("warning: {w}"));
        }
        let now = crate::issue::now_unix();
        let others = fs
            .certificates()?
            .into_iter()
            .filter(|s| s.has_key && s.thumbprint != t)
            .filter_map(|s| {
                let o = CertificateRef::parse(&s.der).ok()?;
                (o.not_after.unix() >= now)
                    .then(|| (s.thumbprint.to_string(), o.not_after.to_string()))
            })
            .collect();
        return Ok(AcceptReport {
            subject: c.subject.to_string(),
            not_after: c.not_after.to_string(),
            thumbprint: t.to_string(),
            warnings,
            others,
        });
    }
    Err(last_err.unwrap_or(HostError::Unrecognised {
        path: cert.to_path_buf(),
        what: "no certificate".into(),
    }))
}

/// One RA certificate of the store.
#[derive(Debug, Serialize)]
pub struct RaCertRow {
    /// SHA-1 thumbprint.
    pub thumbprint: String,
    /// Subject.
    pub subject: String,
    /// notAfter.
    pub not_after: String,
    /// Whole days until notAfter (negative: expired).
    pub days_left: i64,
    /// Whether the store holds its key.
    pub has_key: bool,
}

/// The RA certificates of a store.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct RaListReport {
    rows: Vec<RaCertRow>,
    #[serde(skip)]
    store: String,
}

impl fmt::Display for RaListReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.rows.is_empty() {
            return writeln!(f, "No RA certificates in {}.", self.store);
        }
        writeln!(
            f,
            "{:<40}  {:<20}  {:>9}  {:<7}  SUBJECT",
            "THUMBPRINT", "NOT AFTER", "DAYS LEFT", "HAS KEY"
        )?;
        for r in &self.rows {
            writeln!(
                f,
                "{:<40}  {:<20}  {:>9}  {:<7}  {}",
                r.thumbprint,
                r.not_after,
                if r.days_left < 0 {
                    "expired".to_string()
                } else {
                    r.days_left.to_string()
                },
                if r.has_key { "yes" } else { "NO" },
                r.subject
            )?;
        }
        Ok(())
    }
}

/// `raconn ra list`.
pub fn list(store: &StoreLocation) -> Result<RaListReport, HostError> {
    let fs = store::open_existing(store)?;
    let mut rows = Vec::new();
    for s in &fs.certificates()? {
        let c = CertificateRef::parse(&s.der).map_err(core)?;
        rows.push(RaCertRow {
            thumbprint: s.thumbprint.to_string(),
            subject: c.subject.to_string(),
            not_after: c.not_after.to_string(),
            days_left: (c.not_after.unix() - crate::issue::now_unix()).div_euclid(86_400),
            has_key: s.has_key,
        });
    }
    Ok(RaListReport {
        rows,
        store: fs.describe(),
    })
}
