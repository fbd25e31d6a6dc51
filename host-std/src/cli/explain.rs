//! `raconn explain CODE` and `raconn explain --all [--markdown]`: the core's
//! catalogue of every crate's codes, with this host's hints.

use std::fmt;
use std::process::ExitCode;

use serde::Serialize;

use super::emit;
use crate::errors::HostError;

/// One code explained.
#[derive(Debug, Serialize)]
pub struct CodeReport {
    /// The code.
    pub code: &'static str,
    /// What it means.
    pub message: &'static str,
    /// What to do.
    pub remedy: &'static str,
    /// What to do with raconn, when this host has a command or setting for it.
    pub hint: Option<&'static str>,
    /// The code asked for, when it was renamed to this one.
    pub renamed_from: Option<&'static str>,
}

impl CodeReport {
    fn of(c: &'static raconn_core::error::Code, renamed_from: Option<&'static str>) -> Self {
        CodeReport {
            code: c.code,
            message: c.message,
            remedy: c.remedy,
            hint: crate::hints::hint(c.code),
            renamed_from,
        }
    }
}

impl fmt::Display for CodeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(old) = self.renamed_from {
            writeln!(f, "{old} is now {}", self.code)?;
        }
        writeln!(
            f,
            "{}: {}\nwhat to do: {}",
            self.code, self.message, self.remedy
        )?;
        if let Some(h) = self.hint {
            writeln!(f, "with raconn: {h}")?;
        }
        Ok(())
    }
}

/// Every code.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct AllCodes {
    codes: Vec<CodeReport>,
    #[serde(skip)]
    markdown: bool,
}

impl fmt::Display for AllCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.markdown {
            writeln!(f, "| code | message | what to do |\n|---|---|---|")?;
        }
        for c in &self.codes {
            if self.markdown {
                let mut r = c.remedy.to_string();
                if let Some(h) = c.hint {
                    r += &format!(" (with raconn: {h})");
                }
                writeln!(
                    f,
                    "| `{}` | {} | {} |",
                    c.code,
                    c.message,
                    r.replace('|', "\\|")
                )?;
            } else {
                writeln!(f, "{}  {}\n    what to do: {}", c.code, c.message, c.remedy)?;
                if let Some(h) = c.hint {
                    writeln!(f, "    with raconn: {h}")?;
                }
            }
        }
        Ok(())
    }
}

/// Runs `raconn explain`.
pub fn run(
    json: bool,
    code: Option<String>,
    all: bool,
    markdown: bool,
) -> Result<ExitCode, HostError> {
    if all {
        emit(
            json,
            &AllCodes {
                codes: raconn_core::catalogue::all()
                    .map(|c| CodeReport::of(c, None))
                    .collect(),
                markdown,
            },
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let code = code.unwrap_or_default();
    let (c, old) =
        raconn_core::catalogue::lookup(&code).ok_or(HostError::UnknownCode(code.clone()))?;
    emit(json, &CodeReport::of(c, old))?;
    Ok(ExitCode::SUCCESS)
}
