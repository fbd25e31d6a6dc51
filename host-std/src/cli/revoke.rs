//! `raconn revoke`: arguments and the report (the work is [`crate::revoke`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgGroup, Args};
use raconn_core::pkiws::revoke::{Reason, Serial};

use super::{emit, load_config};
use crate::errors::{core, HostError};
use crate::revoke::{RevokeArgs, Target};

/// `raconn revoke` arguments.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("what").required(true).args(["serial", "request_id", "cert"])))]
pub struct RevokeCli {
    /// The serial number: hex in any pasted form (`01:0a:…`, `010A…`,
    /// `0x…`, leading zeros), or decimal with --serial-decimal.
    #[arg(long)]
    serial: Option<String>,
    /// --serial is a decimal number.
    #[arg(long, requires = "serial")]
    serial_decimal: bool,
    /// The request id the certificate was issued for (from the journal).
    #[arg(long)]
    request_id: Option<String>,
    /// The certificate file (PEM, DER or PKCS#7; the first certificate).
    #[arg(long)]
    cert: Option<PathBuf>,
    /// unspecified, keyCompromise, affiliationChanged, superseded,
    /// cessationOfOperation (also caCompromise, privilegeWithdrawn, aaCompromise).
    #[arg(long)]
    reason: String,
    /// A comment stored with the revocation at the CA (at most 512 characters).
    #[arg(long)]
    comment: Option<String>,
    /// Succeed when the certificate is revoked already.
    #[arg(long)]
    if_needed: bool,
    /// The profile whose CA issued it (default: the only profile).
    #[arg(long)]
    profile: Option<String>,
}

/// Runs `raconn revoke`.
pub fn run(config: Option<&Path>, json: bool, a: &RevokeCli) -> Result<ExitCode, HostError> {
    let reason = Reason::parse(&a.reason).map_err(core)?;
    // clap requires one of the three; no serial at all reads as an empty one.
    let target = if let Some(p) = &a.cert {
        Target::Cert(p.clone())
    } else if let Some(id) = &a.request_id {
        Target::RequestId(id.clone())
    } else {
        let s = a.serial.as_deref().unwrap_or("");
        Target::Serial(
            if a.serial_decimal {
                Serial::parse_decimal(s)
            } else {
                Serial::parse_hex(s)
            }
            .map_err(core)?,
        )
    };
    let cfg = load_config(config)?;
    let profile = match &a.profile {
        Some(p) => p.clone(),
        None => {
            let mut names = cfg.profiles.keys();
            match (names.next(), names.next()) {
                (Some(only), None) => only.clone(),
                _ => {
                    return Err(HostError::NoProfile(format!(
                        "give --profile: raconn.toml has {} profiles",
                        cfg.profiles.len()
                    )))
                }
            }
        }
    };
    let r = crate::revoke::revoke(
        &cfg,
        &RevokeArgs {
            target,
            profile,
            reason,
            comment: a.comment.clone(),
            if_needed: a.if_needed,
        },
    )?;
    emit(json, &r)?;
    Ok(ExitCode::SUCCESS)
}
