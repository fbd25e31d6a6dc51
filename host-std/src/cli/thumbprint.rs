//! `raconn thumbprint FILE...` and `raconn thumbprint --check TEXT`.

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use raconn_core::cert::CertificateRef;
use raconn_core::thumbprint;
use serde::Serialize;

use super::{emit, note};
use crate::errors::{core, HostError};
use crate::files;

/// `raconn thumbprint` arguments.
#[derive(Args, Debug)]
pub struct ThumbArgs {
    /// Certificate files (PEM bundles, DER or PKCS#7).
    files: Vec<PathBuf>,
    /// SHA-256 instead of SHA-1.
    #[arg(long)]
    sha256: bool,
    /// Normalise and check a pasted thumbprint instead.
    #[arg(long, value_name = "TEXT", conflicts_with = "files")]
    check: Option<String>,
}

/// One certificate's thumbprint.
#[derive(Debug, Serialize)]
pub struct ThumbprintRow {
    /// The file.
    pub file: PathBuf,
    /// The thumbprint (SHA-1, or SHA-256 with `--sha256`).
    pub thumbprint: String,
    /// The subject.
    pub subject: String,
}

/// Thumbprints of every certificate of the files.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct ThumbprintsReport(Vec<ThumbprintRow>);

impl fmt::Display for ThumbprintsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.0 {
            writeln!(f, "{} {}", r.thumbprint, r.subject)?;
        }
        Ok(())
    }
}

/// A pasted thumbprint, normalised.
#[derive(Debug, Serialize)]
pub struct CheckedThumbprint {
    /// The 40 hex digits.
    pub thumbprint: String,
    /// What was removed (invisible characters with their positions, a label).
    pub notes: Vec<String>,
}

impl fmt::Display for CheckedThumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.thumbprint)
    }
}

/// Runs `raconn thumbprint`.
pub fn run(json: bool, a: ThumbArgs) -> Result<ExitCode, HostError> {
    if let Some(text) = a.check {
        let p = thumbprint::parse(&text).map_err(core)?;
        let mut notes: Vec<String> = p.notes.iter().map(|n| n.to_string()).collect();
        if p.invisible_removed > p.notes.len() {
            notes.push(format!(
                "{} invisible characters removed in all",
                p.invisible_removed
            ));
        }
        if !json {
            for n in &notes {
                note(&format!("note: {n}"));
            }
        }
        emit(
            json,
            &CheckedThumbprint {
                thumbprint: p.thumbprint.to_string(),
                notes,
            },
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if a.files.is_empty() {
        return Err(HostError::Unrecognised {
            path: PathBuf::from("-"),
            what: "no file given".into(),
        });
    }
    let mut rows = Vec::new();
    for p in &a.files {
        let certs = files::certificates_in(p)?;
        if certs.is_empty() {
            return Err(HostError::Unrecognised {
                path: p.clone(),
                what: "no certificate in the file".into(),
            });
        }
        for der in certs {
            let c = CertificateRef::parse(&der).map_err(core)?;
            rows.push(ThumbprintRow {
                file: p.clone(),
                thumbprint: if a.sha256 {
                    thumbprint::Thumbprint256::of(&der).to_string()
                } else {
                    thumbprint::Thumbprint::of(&der).to_string()
                },
                subject: c.subject.to_string(),
            });
        }
    }
    emit(json, &ThumbprintsReport(rows))?;
    Ok(ExitCode::SUCCESS)
}
