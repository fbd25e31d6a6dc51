//! `raconn issue`: arguments, the PFX password, and the report (the work is
//! [`crate::issue::issue`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::{emit, load_config, note};
use crate::errors::HostError;
use crate::files;

/// `raconn issue` arguments.
#[derive(Args, Debug)]
pub struct IssueCli {
    /// Profile name from raconn.toml.
    #[arg(long)]
    profile: String,
    /// Idempotency key: the same id returns the same certificate.
    #[arg(long)]
    request_id: String,
    /// Common name.
    #[arg(long)]
    cn: String,
    /// E-mail (the user's mail attribute).
    #[arg(long)]
    email: Option<String>,
    /// User principal name.
    #[arg(long)]
    upn: Option<String>,
    /// Other-name value: OID=VALUE (hex, hex:…, b64:… or utf8:…); repeatable.
    #[arg(long = "other-name")]
    other_name: Vec<String>,
    /// The user's SID for strong certificate mapping (KB5014754), e.g.
    /// S-1-5-21-…; the profile's `sid` says where it goes.
    #[arg(long)]
    sid: Option<String>,
    /// Where to write the PFX (mode 0600, atomically; a regular file or a
    /// new path), or `-` for standard output.
    #[arg(long)]
    out: PathBuf,
    /// Read the PFX password from this file (first line).
    #[arg(long, conflicts_with = "password_env")]
    password_file: Option<PathBuf>,
    /// Read the PFX password from this environment variable.
    #[arg(long)]
    password_env: Option<String>,
}

fn password(a: &IssueCli) -> Result<String, HostError> {
    read_password(a.password_file.as_deref(), a.password_env.as_deref())
}

/// A password from a file (its first line; the bytes must be UTF-8) or an
/// environment variable; empty is refused.
pub fn read_password(file: Option<&Path>, env: Option<&str>) -> Result<String, HostError> {
    let p = if let Some(f) = file {
        let t = files::read(f)?;
        // The bytes exactly as given: a password that is not UTF-8 is
        // refused, never turned into something else.
        let text = String::from_utf8(t).map_err(|e| HostError::NotUtf8 {
            path: f.to_path_buf(),
            byte: e.utf8_error().valid_up_to(),
        })?;
        text.lines().next().unwrap_or("").to_string()
    } else if let Some(v) = env {
        std::env::var(v)
            .map_err(|_| HostError::Password(format!("environment variable {v} is not set")))?
    } else {
        return Err(HostError::Password(
            "give --password-file FILE or --password-env VAR".into(),
        ));
    };
    if p.is_empty() {
        return Err(HostError::Password("the password is empty".into()));
    }
    Ok(p)
}

/// Runs `raconn issue`.
pub fn run(config: Option<&Path>, json: bool, a: &IssueCli) -> Result<ExitCode, HostError> {
    let cfg = load_config(config)?;
    let mut other = Vec::new();
    for o in &a.other_name {
        let (oid, v) = o
            .split_once('=')
            .ok_or_else(|| HostError::MissingOtherName(format!("{o:?} (write OID=VALUE)")))?;
        let oid = raconn_core::oid::Oid::new(oid.trim())
            .map_err(|_| HostError::MissingOtherName(format!("{oid:?} is not an OID")))?;
        other.push((oid, v.to_string()));
    }
    let args = crate::issue::IssueArgs {
        request_id: a.request_id.clone(),
        cn: a.cn.clone(),
        email: a.email.clone(),
        upn: a.upn.clone(),
        other_names: other,
        out: a.out.clone(),
        password: password(a)?,
        sid: a.sid.clone(),
    };
    let r = crate::issue::issue(&cfg, &a.profile, &args)?;
    for w in &r.warnings {
        note(&format!("warning: {w}"));
    }
    if a.out == Path::new("-") {
        // The PFX went to stdout; the report goes to stderr.
        note(&if json {
            serde_json::to_string_pretty(&r).unwrap_or_default()
        } else {
            r.to_string().trim_end().to_string()
        });
    } else {
        emit(json, &r)?;
    }
    Ok(ExitCode::SUCCESS)
}
