//! `raconn check`: one line per check, OK or FAIL with the remedy —
//! configuration, store, RA certificate and key (request and TLS
//! signatures), EKU, expiry, and each profile's TLS handshake and policy.

use std::fmt;
use std::path::Path;
use std::process::ExitCode;

use raconn_core::cert::CertificateRef;
use raconn_core::oid;
use serde::Serialize;

use super::{emit, load_config};
use crate::errors::{core, HostError};
use crate::{keys, store};

/// One check.
#[derive(Debug, Serialize)]
pub struct CheckLine {
    /// Passed.
    pub ok: bool,
    /// Passed, with something to act on soon (an RA certificate near its end).
    pub warn: bool,
    /// What was checked.
    pub what: String,
    /// What was found, or what is wrong and what to do.
    pub detail: String,
}

/// Every check.
#[derive(Debug, Default, Serialize)]
pub struct CheckReport {
    /// True when every check passed.
    pub ok: bool,
    /// The checks, in order.
    pub checks: Vec<CheckLine>,
}

impl CheckReport {
    fn line(&mut self, ok: bool, what: &str, detail: String) {
        self.checks.push(CheckLine {
            ok,
            warn: false,
            what: what.to_string(),
            detail,
        });
    }

    fn warn(&mut self, what: &str, detail: String) {
        self.checks.push(CheckLine {
            ok: true,
            warn: true,
            what: what.to_string(),
            detail,
        });
    }

    fn fail(&mut self, what: &str, e: &HostError) {
        self.line(false, what, format!("{e} — {}", e.remedy()));
    }

    /// The journal directory: present and private, or absent with a parent
    /// the first issuance can create it in. Nothing is created.
    fn journal(&mut self, dir: &Path) {
        const WHAT: &str = "issuance journal";
        if dir.exists() {
            match store::check_private_dir(dir) {
                Ok(()) => {
                    let records = std::fs::read_dir(dir)
                        .map(|d| {
                            d.flatten()
                                .filter(|e| e.path().extension().is_some_and(|x| x == "rec"))
                                .count()
                        })
                        .unwrap_or(0);
                    self.line(true, WHAT, format!("{} ({records} records)", dir.display()));
                }
                Err(e) => self.fail(WHAT, &e),
            }
            return;
        }
        let parent = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let usable =
            std::fs::metadata(parent).is_ok_and(|m| m.is_dir() && !m.permissions().readonly());
        if usable {
            self.line(
                true,
                WHAT,
                format!(
                    "{} does not exist yet: the first issuance creates it (mode 0700)",
                    dir.display()
                ),
            );
        } else {
            self.line(
                false,
                WHAT,
                format!(
                    "{} does not exist and its parent {} is missing or read-only — create the parent, or set `journal` in raconn.toml",
                    dir.display(),
                    parent.display()
                ),
            );
        }
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.checks {
            writeln!(
                f,
                "{} {}: {}",
                match (c.ok, c.warn) {
                    (true, false) => "OK  ",
                    (true, true) => "WARN",
                    _ => "FAIL",
                },
                c.what,
                c.detail
            )?;
        }
        Ok(())
    }
}

/// Runs the checks (none of them changes anything).
pub fn report(config: Option<&Path>, only: Option<&str>) -> Result<CheckReport, HostError> {
    let mut r = CheckReport::default();
    let cfg = match load_config(config) {
        Ok(c) => {
            r.line(true, "configuration", c.path.display().to_string());
            c
        }
        Err(e) => {
            r.fail("configuration", &e);
            return Ok(r);
        }
    };
    r.journal(&cfg.journal);
    let fs = match store::open_existing(&cfg.store) {
        Ok(s) => {
            r.line(true, "RA store", s.describe());
            s
        }
        Err(e) => {
            r.fail("RA store", &e);
            r.ok = false;
            return Ok(r);
        }
    };
    let present: Vec<String> = fs
        .certificates()?
        .iter()
        .map(|c| c.thumbprint.to_string())
        .collect();
    let in_use = crate::issue::ra_identity(&cfg).ok().map(|(der, _)| der);
    let now = crate::issue::now_unix();
    for t in &cfg.ra_thumbprints {
        let sc = match fs.certificate(t) {
            Ok(sc) => sc,
            Err(e) => {
                let present = if present.is_empty() {
                    "none".to_string()
                } else {
                    present.join(", ")
                };
                r.line(
                    false,
                    "RA certificate",
                    format!("{e}; present: {present} — {}", e.remedy()),
                );
                continue;
            }
        };
        let c = CertificateRef::parse(&sc.der).map_err(core)?;
        let used = in_use.as_deref() == Some(sc.der.as_slice());
        r.line(
            true,
            "RA certificate",
            format!(
                "{} {}{}",
                sc.thumbprint,
                c.subject,
                if used && cfg.ra_thumbprints.len() > 1 {
                    " (in use)"
                } else {
                    ""
                }
            ),
        );
        match fs.key_for_spki(c.spki.der.raw) {
            Ok(Some(k)) => {
                let mut sig = vec![0u8; k.max_signature_len()];
                let probe = b"raconn check: can the RA key sign?";
                let ok = k
                    .sign(probe, &mut sig)
                    .ok()
                    .and_then(|n| {
                        keys::verify(k.public_key_der(), &k.algorithm().oid(), probe, &sig[..n])
                            .ok()
                    })
                    .unwrap_or(false);
                r.line(ok, "RA key can sign", k.describe());
                // The same key must also sign a TLS CertificateVerify.
                let tls = k
                    .tls_schemes()
                    .first()
                    .map(|s| k.sign_tls(*s, probe).map(|_| *s));
                match tls {
                    Some(Ok(s)) => r.line(true, "RA key can sign TLS", format!("{s:?}")),
                    Some(Err(e)) => r.line(false, "RA key can sign TLS", e),
                    None => r.line(
                        false,
                        "RA key can sign TLS",
                        "no TLS signature scheme".into(),
                    ),
                }
            }
            Ok(None) => r.line(
                false,
                "RA private key",
                "not in the store: accept the certificate into the store that made its key".into(),
            ),
            Err(e) => r.fail("RA private key", &e),
        }
        let eku = c.allows_purpose(&oid::KP_CLIENT_AUTH);
        r.line(
            eku,
            "EKU clientAuth",
            if eku {
                "present"
            } else {
                "missing: the CA will refuse this certificate for mutual TLS"
            }
            .into(),
        );
        expiry(&mut r, &c, now);
    }
    if in_use.is_none() && !cfg.ra_thumbprints.is_empty() {
        if let Err(e) = crate::issue::ra_identity(&cfg) {
            r.fail("RA identity", &e);
        }
    }
    for (name, p) in &cfg.profiles {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let what = format!("profile {name}");
        let fetched = crate::issue::policy_text(&cfg, name).and_then(|(text, soap)| {
            let pol = crate::soap::PoliciesReport::of(&text, soap)?;
            Ok((text, pol))
        });
        match fetched {
            Ok((text, pol)) => {
                let n = pol.policies.first().map_or(0, |p| p.attributes.len());
                r.line(
                    true,
                    &what,
                    format!(
                        "TLS to {}:{}{} and policy fetched ({n} attributes)",
                        p.host,
                        p.port,
                        match crate::issue::proxy_for(&cfg, p) {
                            Ok(Some(x)) => format!(" via proxy {x}"),
                            _ => String::new(),
                        }
                    ),
                );
                // The trusted root a device profile needs.
                let chain = crate::cacerts::from_policy(&text, &p.template)
                    .and_then(|c| crate::cacerts::check_chain(&c));
                match chain {
                    Ok(c) => {
                        let root = c
                            .last()
                            .and_then(|d| CertificateRef::parse(d).ok())
                            .map(|c| c.subject.to_string())
                            .unwrap_or_default();
                        r.line(
                            true,
                            &format!("profile {name} CA chain"),
                            format!("reaches the self-signed root {root}"),
                        );
                    }
                    Err(e) => r.fail(&format!("profile {name} CA chain"), &e),
                }
            }
            Err(e) => r.fail(&what, &e),
        }
    }
    r.ok = r.checks.iter().all(|c| c.ok);
    Ok(r)
}

/// The RA certificate's end: FAIL once passed (or before notBefore), WARN
/// within 28 days (certmonger's notice days: 28, 7, 3, 2, 1), else OK.
fn expiry(r: &mut CheckReport, c: &CertificateRef<'_>, now: i64) {
    const WHAT: &str = "RA certificate expiry";
    let left = c.not_after.unix() - now;
    let days = left.div_euclid(86_400);
    if now < c.not_before.unix() {
        r.line(
            false,
            WHAT,
            format!(
                "not valid before {} (check this machine's clock)",
                c.not_before
            ),
        );
    } else if left < 0 {
        r.line(
            false,
            WHAT,
            format!(
                "expired on {}: renew it (raconn ra renew) and accept the new certificate",
                c.not_after
            ),
        );
    } else if days <= 28 {
        let next = [28, 7, 3, 2, 1]
            .into_iter()
            .filter(|d| *d <= days)
            .max()
            .unwrap_or(0);
        r.warn(
            WHAT,
            format!(
                "{} ({days} days left{}): renew it now (raconn ra renew), then list both thumbprints in ra_cert_thumbprint",
                c.not_after,
                if next > 0 { format!(", inside the {next}-day notice") } else { ", last day".to_string() }
            ),
        );
    } else {
        r.line(true, WHAT, format!("{} ({days} days left)", c.not_after));
    }
}

/// Runs `raconn check`: exit 1 when anything failed.
pub fn run(config: Option<&Path>, json: bool, only: Option<&str>) -> Result<ExitCode, HostError> {
    let r = report(config, only)?;
    emit(json, &r)?;
    Ok(if r.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
