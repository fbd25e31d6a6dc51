//! The CA certificates of a profile's policy (`getPoliciesResponse`
//! `cAs/cA`: the issuing CA, intermediates, the root; `protocol.md` §4):
//! checked to chain — each signed by the next, the last self-signed — and
//! written for the trusted-certificate profile an MDM needs (`root.pem`,
//! `intermediates.pem`, and each as DER `.cer`, what Intune's upload dialog
//! takes).

use std::fmt;
use std::path::{Path, PathBuf};

use raconn_core::cert::CertificateRef;
use raconn_core::pkiws::policy;
use serde::Serialize;

use crate::errors::{core, HostError};
use crate::{files, keys};

/// The CA certificates of the policy for `profile_oid`, issuing CA first.
pub fn from_policy(doc: &str, profile_oid: &str) -> Result<Vec<Vec<u8>>, HostError> {
    let p =
        policy::parse_response(doc, profile_oid).map_err(|e| core(raconn_core::Error::Pkiws(e)))?;
    let mut out = Vec::new();
    for ca in &p.cas {
        for t in ca.certificates() {
            let mut buf = vec![0u8; t.raw.len()];
            let der = t.base64("cA certificate", &mut buf).map_err(core)?.to_vec();
            if !out.contains(&der) {
                out.push(der);
            }
        }
    }
    Ok(out)
}

/// The chain, checked: returns it ordered from the issuing CA to the
/// self-signed root, or says what breaks it.
pub fn check_chain(certs: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, HostError> {
    let broken = |m: String| HostError::CaChain(m);
    if certs.is_empty() {
        return Err(broken("the policy holds no CA certificate".into()));
    }
    let parsed: Vec<CertificateRef<'_>> = certs
        .iter()
        .map(|d| CertificateRef::parse(d).map_err(core))
        .collect::<Result<_, _>>()?;
    // Start from the certificate that issued no other one (the issuing CA).
    let start = (0..parsed.len())
        .find(|&i| {
            !parsed
                .iter()
                .enumerate()
                .any(|(j, c)| j != i && c.issuer.der.raw == parsed[i].subject.der.raw)
        })
        .unwrap_or(0);
    let mut order = vec![start];
    loop {
        let cur = &parsed[*order.last().unwrap_or(&start)];
        if cur.issuer.der.raw == cur.subject.der.raw {
            match keys::verify(
                cur.spki.der.raw,
                &cur.signature_algorithm,
                cur.tbs,
                cur.signature,
            ) {
                Ok(true) => break,
                Ok(false) => {
                    return Err(broken(format!(
                        "the root {} does not verify its own signature",
                        cur.subject
                    )))
                }
                Err(e) => return Err(broken(format!("the root {}: {e}", cur.subject))),
            }
        }
        let next = (0..parsed.len())
            .find(|&j| !order.contains(&j) && parsed[j].subject.der.raw == cur.issuer.der.raw);
        let Some(j) = next else {
            return Err(broken(format!(
                "{} is issued by {}, which the policy does not hold (no self-signed root)",
                cur.subject, cur.issuer
            )));
        };
        let issuer = &parsed[j];
        match keys::verify(
            issuer.spki.der.raw,
            &cur.signature_algorithm,
            cur.tbs,
            cur.signature,
        ) {
            Ok(true) => {}
            Ok(false) => {
                return Err(broken(format!(
                    "the signature of {} does not verify with {}'s key",
                    cur.subject, issuer.subject
                )))
            }
            Err(e) => return Err(broken(format!("{}: {e}", cur.subject))),
        }
        order.push(j);
    }
    Ok(order.into_iter().map(|i| certs[i].clone()).collect())
}

/// What `--ca-out` wrote.
#[derive(Debug, Serialize)]
pub struct CaOutReport {
    /// The directory.
    pub dir: PathBuf,
    /// The root's subject.
    pub root: String,
    /// The intermediates' subjects, issuing CA first.
    pub intermediates: Vec<String>,
    /// The files written.
    pub files: Vec<PathBuf>,
}

impl fmt::Display for CaOutReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Root: {}", self.root)?;
        for i in &self.intermediates {
            writeln!(f, "Intermediate: {i}")?;
        }
        for p in &self.files {
            writeln!(f, "Wrote {}", p.display())?;
        }
        writeln!(
            f,
            "Next: upload root.cer as the trusted certificate profile's root (Intune: Devices > Configuration > Trusted certificate)."
        )
    }
}

/// Writes the checked chain into `dir`: `root.pem`, `root.cer`,
/// `intermediates.pem` and `intermediate-N.cer` (issuing CA first).
pub fn write(chain: &[Vec<u8>], dir: &Path) -> Result<CaOutReport, HostError> {
    let (root, inter) = chain
        .split_last()
        .ok_or_else(|| HostError::CaChain("no CA certificate".into()))?;
    std::fs::create_dir_all(dir).map_err(|err| HostError::Write {
        path: dir.to_path_buf(),
        err,
    })?;
    let subject = |d: &[u8]| {
        CertificateRef::parse(d)
            .map(|c| c.subject.to_string())
            .unwrap_or_default()
    };
    let mut files_written = Vec::new();
    let mut put = |name: &str, bytes: &[u8]| -> Result<(), HostError> {
        let p = dir.join(name);
        files::write_atomic(&p, bytes, 0o644)?;
        files_written.push(p);
        Ok(())
    };
    put("root.pem", files::to_pem("CERTIFICATE", root).as_bytes())?;
    put("root.cer", root)?;
    if !inter.is_empty() {
        let pem: String = inter
            .iter()
            .map(|d| files::to_pem("CERTIFICATE", d))
            .collect();
        put("intermediates.pem", pem.as_bytes())?;
        for (i, d) in inter.iter().enumerate() {
            put(&format!("intermediate-{}.cer", i + 1), d)?;
        }
    }
    Ok(CaOutReport {
        dir: dir.to_path_buf(),
        root: subject(root),
        intermediates: inter.iter().map(|d| subject(d)).collect(),
        files: files_written,
    })
}
