//! `raconn inspect FILE`: a saved PKI Web Services message, or every PEM
//! block (or the DER object) of a file, as typed reports.

use std::fmt;
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

use super::emit;
use crate::errors::HostError;
use crate::files;
use crate::inspect::ObjectReport;
use crate::soap::MessageReport;

/// What a file holds.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum InspectReport {
    /// A SOAP message.
    Message(MessageReport),
    /// One object.
    One(ObjectReport),
    /// Several (a PEM bundle).
    Many(Vec<ObjectReport>),
}

impl fmt::Display for InspectReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Message(m) => m.fmt(f),
            Self::One(o) => o.fmt(f),
            Self::Many(v) => {
                for (i, o) in v.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    o.fmt(f)?;
                }
                Ok(())
            }
        }
    }
}

/// Decodes `file`.
pub fn report(file: &Path) -> Result<InspectReport, HostError> {
    let data = files::read(file)?;
    if let Ok(text) = std::str::from_utf8(&data) {
        if text
            .trim_start_matches('\u{FEFF}')
            .trim_start()
            .starts_with('<')
        {
            return MessageReport::of(text).map(InspectReport::Message);
        }
    }
    let blocks = files::read_blocks(file)?;
    let mut v = Vec::new();
    for b in &blocks {
        v.push(ObjectReport::of(b).map_err(|e| match e {
            HostError::Unrecognised { what, .. } => HostError::Unrecognised {
                path: file.to_path_buf(),
                what,
            },
            e => e,
        })?);
    }
    Ok(if v.len() == 1 {
        InspectReport::One(v.remove(0))
    } else {
        InspectReport::Many(v)
    })
}

/// Runs `raconn inspect`.
pub fn run(json: bool, file: &Path) -> Result<ExitCode, HostError> {
    emit(json, &report(file)?)?;
    Ok(ExitCode::SUCCESS)
}
