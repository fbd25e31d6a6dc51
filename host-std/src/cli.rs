//! The `raconn` command line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use raconn_core::cert::CertificateRef;
use raconn_core::csr::{self, CsrRef};
use raconn_core::error::Explain;
use raconn_core::{inf, oid, pem, thumbprint};
use serde_json::json;

use crate::errors::{self, core, HostError};
use crate::store::{self, StoreLocation};
use crate::{files, inspect, keys};

/// raconn — a Registration Authority connector for the DigiCert PKI Platform.
#[derive(Parser, Debug)]
#[command(name = "raconn", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (default: $RACONN_CONFIG, else ./raconn.toml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Log format on stderr: human or json (level from RACONN_LOG, default info).
    #[arg(long, global = true, default_value = "human", value_parser = ["human", "json"])]
    log_format: String,
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// RA certificate onboarding: make the key and request, accept the certificate, list.
    #[command(subcommand)]
    Ra(RaCmd),
    /// Print certificate thumbprints, or check a pasted thumbprint.
    Thumbprint(ThumbArgs),
    /// Decode a CSR, certificate, PKCS#7 (PEM or DER) or a saved PKI Web Services message (XML).
    Inspect {
        /// The file.
        file: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Fetch and show a profile's policy: attributes (kind, name, mandatory, fixed value), key, validity, CA chain.
    Policy {
        /// Profile name from raconn.toml.
        profile: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Issue a certificate and write key + certificate + chain as a PFX.
    Issue(IssueCli),
    /// Check the configuration, the RA certificate and key, and each profile's CA.
    Check {
        /// Only this profile.
        #[arg(long)]
        profile: Option<String>,
    },
    /// Explain an error code (message and remedy).
    Explain {
        /// The code, e.g. RC-THUMB-002.
        code: Option<String>,
        /// List every code.
        #[arg(long)]
        all: bool,
        /// With --all: a Markdown table.
        #[arg(long)]
        markdown: bool,
    },
}

#[derive(Args, Debug, Clone)]
struct StoreArg {
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

#[derive(Subcommand, Debug)]
enum RaCmd {
    /// Make the RA key and CSR from a certreq.ini file.
    NewRequest {
        /// The certreq.ini policy file.
        #[arg(long)]
        inf: PathBuf,
        /// Where to write the PEM CSR.
        #[arg(long)]
        out: PathBuf,
        /// Use certreq's `NEW CERTIFICATE REQUEST` PEM label.
        #[arg(long)]
        certreq_label: bool,
        #[command(flatten)]
        store: StoreArg,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Accept the issued RA certificate: pair it with its stored key.
    Accept {
        /// The certificate (PEM, DER or PKCS#7).
        cert: PathBuf,
        #[command(flatten)]
        store: StoreArg,
    },
    /// List RA certificates in the store.
    List {
        #[command(flatten)]
        store: StoreArg,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
struct IssueCli {
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
    /// Where to write the PFX (mode 0600, atomically).
    #[arg(long)]
    out: PathBuf,
    /// Read the PFX password from this file (first line).
    #[arg(long, conflicts_with = "password_env")]
    password_file: Option<PathBuf>,
    /// Read the PFX password from this environment variable.
    #[arg(long)]
    password_env: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct ThumbArgs {
    /// Certificate files (PEM bundles, DER or PKCS#7).
    files: Vec<PathBuf>,
    /// SHA-256 instead of SHA-1.
    #[arg(long)]
    sha256: bool,
    /// Normalise and check a pasted thumbprint instead.
    #[arg(long, value_name = "TEXT", conflicts_with = "files")]
    check: Option<String>,
}

/// Runs the CLI; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(&cli.log_format);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            let r = e.remedy();
            if !r.is_empty() {
                eprintln!("  what to do: {r}");
            }
            if let Some(h) = e.hint() {
                eprintln!("  with raconn: {h}");
            }
            ExitCode::from(1)
        }
    }
}

fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RACONN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = if format == "json" {
        b.json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        b.with_ansi(false).without_time().try_init()
    };
}

/// Prints the text form, or the JSON form with `--json`.
fn show(json: bool, text: &str, value: &serde_json::Value) {
    if json {
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(value).unwrap_or_default()
        ));
    } else {
        out(text);
    }
}

fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
}

fn load_config(flag: Option<&Path>) -> Result<crate::config::Config, HostError> {
    let cfg = crate::config::load(&crate::config::locate(flag))?;
    for n in &cfg.thumbprint_notes {
        eprintln!("note: ra_cert_thumbprint: {n}");
    }
    for p in cfg.profiles.values() {
        for w in &p.warnings {
            eprintln!("warning: profiles.{}: {w}", p.name);
        }
    }
    Ok(cfg)
}

fn password(a: &IssueCli) -> Result<String, HostError> {
    let p = if let Some(f) = &a.password_file {
        let t = files::read(f)?;
        String::from_utf8_lossy(&t)
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    } else if let Some(v) = &a.password_env {
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

fn run(cli: Cli) -> Result<ExitCode, HostError> {
    let config = cli.config.clone();
    match cli.cmd {
        Command::Policy { profile, json } => {
            let cfg = load_config(config.as_deref())?;
            let (t, j) = crate::issue::policy(&cfg, &profile)?;
            show(json, &t, &j);
            Ok(ExitCode::SUCCESS)
        }
        Command::Issue(a) => {
            let cfg = load_config(config.as_deref())?;
            let mut other = Vec::new();
            for o in &a.other_name {
                let (oid, v) = o.split_once('=').ok_or_else(|| {
                    HostError::MissingOtherName(format!("{o:?} (write OID=VALUE)"))
                })?;
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
                password: password(&a)?,
            };
            let r = crate::issue::issue(&cfg, &a.profile, &args)?;
            for w in &r.warnings {
                eprintln!("warning: {w}");
            }
            if a.json {
                out(&format!(
                    "{}\n",
                    json!({"thumbprint": r.thumbprint, "serial": r.serial, "not_after": r.not_after, "subject": r.subject,
                        "pfx": a.out, "from_journal": r.from_journal, "client_transaction_id": r.client_transaction_id,
                        "server_transaction_id": r.server_transaction_id, "found_by_search": r.found_by_search})
                ));
            } else {
                out(&format!(
                    "{} {}\nSubject: {}\nThumbprint: {}\nSerial: {}\nNot After: {}\nPFX: {}\nclientTransactionID: {}  serverTransactionID: {}\n",
                    if r.from_journal { "Already issued for request id" } else { "Issued for request id" },
                    a.request_id,
                    r.subject,
                    r.thumbprint,
                    r.serial,
                    r.not_after,
                    a.out.display(),
                    r.client_transaction_id,
                    r.server_transaction_id
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { profile } => check(config.as_deref(), profile.as_deref()),
        Command::Ra(RaCmd::NewRequest {
            inf,
            out: dst,
            certreq_label,
            store,
            json,
        }) => new_request(
            &inf,
            &dst,
            certreq_label,
            &store.location(config.as_deref())?,
            json,
        ),
        Command::Ra(RaCmd::Accept { cert, store }) => {
            accept(&cert, &store.location(config.as_deref())?)
        }
        Command::Ra(RaCmd::List { store, json }) => list(&store.location(config.as_deref())?, json),
        Command::Thumbprint(a) => match a.check {
            Some(text) => Ok(check_thumbprint(&text)),
            None => thumbprints(&a.files, a.sha256),
        },
        Command::Inspect { file, json } => {
            let data = files::read(&file)?;
            if let Ok(text) = std::str::from_utf8(&data) {
                if text
                    .trim_start_matches('\u{FEFF}')
                    .trim_start()
                    .starts_with('<')
                {
                    let (t, j) = crate::soap::message(text)?;
                    show(json, &t, &j);
                    return Ok(ExitCode::SUCCESS);
                }
            }
            let blocks = files::read_blocks(&file)?;
            let mut texts = Vec::new();
            let mut js = Vec::new();
            for b in &blocks {
                let (t, j) = inspect::block(b).map_err(|e| match e {
                    HostError::Unrecognised { what, .. } => HostError::Unrecognised {
                        path: file.clone(),
                        what,
                    },
                    e => e,
                })?;
                texts.push(t);
                js.push(j);
            }
            if json {
                let v = if js.len() == 1 {
                    js.remove(0)
                } else {
                    json!(js)
                };
                out(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&v).unwrap_or_default()
                ));
            } else {
                out(&texts.join("\n"));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain {
            code,
            all,
            markdown,
        } => {
            if all {
                if markdown {
                    out("| code | message | what to do |\n|---|---|---|\n");
                }
                for c in errors::all_codes() {
                    let hint = crate::hints::hint(c.code);
                    if markdown {
                        let mut r = c.remedy.to_string();
                        if let Some(h) = hint {
                            r += &format!(" (with raconn: {h})");
                        }
                        out(&format!(
                            "| `{}` | {} | {} |\n",
                            c.code,
                            c.message,
                            r.replace('|', "\\|")
                        ));
                    } else {
                        out(&format!(
                            "{}  {}\n    what to do: {}\n",
                            c.code, c.message, c.remedy
                        ));
                        if let Some(h) = hint {
                            out(&format!("    with raconn: {h}\n"));
                        }
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            let code = code.unwrap_or_default();
            let (c, old) = raconn_core::catalogue::lookup(&code)
                .ok_or(HostError::UnknownCode(code.clone()))?;
            if let Some(old) = old {
                out(&format!("{old} is now {}\n", c.code));
            }
            out(&format!(
                "{}: {}\nwhat to do: {}\n",
                c.code, c.message, c.remedy
            ));
            if let Some(h) = crate::hints::hint(c.code) {
                out(&format!("with raconn: {h}\n"));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn check(config: Option<&Path>, only: Option<&str>) -> Result<ExitCode, HostError> {
    let mut failed = false;
    let mut line = |ok: bool, what: &str, detail: &str| {
        failed |= !ok;
        out(&format!(
            "{} {what}: {detail}\n",
            if ok { "OK  " } else { "FAIL" }
        ));
    };
    let cfg = match load_config(config) {
        Ok(c) => {
            line(true, "configuration", &c.path.display().to_string());
            c
        }
        Err(e) => {
            line(false, "configuration", &format!("{e} — {}", e.remedy()));
            return Ok(ExitCode::from(1));
        }
    };
    let fs = match store::open(&cfg.store) {
        Ok(s) => {
            line(true, "RA store", &s.describe());
            s
        }
        Err(e) => {
            line(false, "RA store", &format!("{e} — {}", e.remedy()));
            return Ok(ExitCode::from(1));
        }
    };
    match fs.certificate(&cfg.ra_thumbprint) {
        Err(e) => {
            let present: Vec<String> = fs
                .certificates()?
                .iter()
                .map(|c| c.thumbprint.to_string())
                .collect();
            let present = if present.is_empty() {
                "none".to_string()
            } else {
                present.join(", ")
            };
            line(
                false,
                "RA certificate",
                &format!("{e}; present: {present} — {}", e.remedy()),
            );
        }
        Ok(sc) => {
            let c = CertificateRef::parse(&sc.der).map_err(core)?;
            line(
                true,
                "RA certificate",
                &format!("{} {}", sc.thumbprint, c.subject),
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
                    line(ok, "RA key can sign", &k.describe());
                    // The same key must also sign a TLS CertificateVerify.
                    let tls = k
                        .tls_schemes()
                        .first()
                        .map(|s| k.sign_tls(*s, probe).map(|_| *s));
                    match tls {
                        Some(Ok(s)) => line(true, "RA key can sign TLS", &format!("{s:?}")),
                        Some(Err(e)) => line(false, "RA key can sign TLS", &e),
                        None => line(false, "RA key can sign TLS", "no TLS signature scheme"),
                    }
                }
                Ok(None) => line(
                    false,
                    "RA private key",
                    "not in the store: accept the certificate into the store that made its key",
                ),
                Err(e) => line(false, "RA private key", &format!("{e} — {}", e.remedy())),
            }
            let eku = c.allows_purpose(&oid::KP_CLIENT_AUTH);
            line(
                eku,
                "EKU clientAuth",
                if eku {
                    "present"
                } else {
                    "missing: the CA will refuse this certificate for mutual TLS"
                },
            );
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            let days = (c.not_after.unix() - now) / 86400;
            line(
                days > 0,
                "RA certificate expiry",
                &format!("{} ({days} days left)", c.not_after),
            );
        }
    }
    for (name, p) in &cfg.profiles {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        match crate::issue::policy(&cfg, name) {
            Ok((_, j)) => {
                let n = j["policies"][0]["attributes"]
                    .as_array()
                    .map(|a| a.len())
                    .unwrap_or(0);
                line(
                    true,
                    &format!("profile {name}"),
                    &format!(
                        "TLS to {}:{} and policy fetched ({n} attributes)",
                        p.host, p.port
                    ),
                );
            }
            Err(e) => line(
                false,
                &format!("profile {name}"),
                &format!("{e} — {}", e.remedy()),
            ),
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `raconn ra new-request`.
pub fn new_request(
    inf_path: &Path,
    dst: &Path,
    certreq_label: bool,
    store: &StoreLocation,
    json: bool,
) -> Result<ExitCode, HostError> {
    let text_bytes = files::read(inf_path)?;
    let text = String::from_utf8_lossy(&text_bytes);
    let parsed = inf::parse(&text).map_err(core)?;
    for w in &parsed.warnings {
        let line = w.line();
        let src = text
            .lines()
            .nth(line.saturating_sub(1))
            .unwrap_or("")
            .trim();
        eprintln!("note: {w}: {src}");
    }
    let mut subject_buf = vec![0u8; text.len()];
    let spec = parsed.csr_spec(&mut subject_buf).map_err(core)?;
    let mut extra_buf = vec![0u8; text.len()];
    let extra = parsed.decode_extra(&mut extra_buf).map_err(core)?;
    let spec = csr::CsrSpec {
        extra: &extra,
        ..spec
    };
    // Check the subject before making a key: a typo should cost nothing.
    {
        let mut scratch = vec![0u8; 4096];
        if !spec.subject.trim().is_empty() {
            raconn_core::name::subject_to_der(spec.subject, &mut scratch).map_err(core)?;
        }
    }
    let fs = store::open(store)?;
    let (key_id, key) = fs.generate_key(parsed.key, parsed.hash)?;
    let need = csr::max_len(&spec, key.as_ref()).map_err(core)?;
    let mut buf = vec![0u8; need];
    let der = csr::build(&spec, key.as_ref(), &mut buf).map_err(core)?;
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
    let pem_text = files::to_pem(label, der);
    files::write_atomic(dst, pem_text.as_bytes(), 0o644)?;
    if json {
        out(&format!(
            "{}\n",
            json!({"key_id": key_id, "key": key.describe(), "csr": dst, "store": fs.describe(), "subject": c.subject.to_string()})
        ));
    } else {
        out(&format!(
            "Key id: {key_id} ({}) stored in {}\nRequest: {} ({})\nSubject: {}\nNext: have the PKI Platform issue the RA certificate, then run `raconn ra accept CERT`.\n",
            key.describe(),
            fs.describe(),
            dst.display(),
            label,
            c.subject
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// `raconn ra accept`.
pub fn accept(cert: &Path, store: &StoreLocation) -> Result<ExitCode, HostError> {
    let fs = store::open(store)?;
    let certs = files::certificates_in(cert)?;
    if certs.is_empty() {
        return Err(HostError::Unrecognised {
            path: cert.to_path_buf(),
            what: "no certificate in the file".into(),
        });
    }
    // The RA certificate is the one whose key we hold (a PKCS#7 may carry the chain too).
    let mut last_err = None;
    for der in &certs {
        match fs.accept_certificate(der) {
            Ok(t) => {
                let c = CertificateRef::parse(der).map_err(core)?;
                if !c.allows_purpose(&oid::KP_CLIENT_AUTH) {
                    eprintln!("warning: the certificate's Extended Key Usage has no clientAuth: the CA will refuse it for mutual TLS");
                }
                if let Some(ku) = c.key_usage() {
                    if ku & raconn_core::ext::ku::DIGITAL_SIGNATURE == 0 {
                        eprintln!("warning: the certificate's Key Usage lacks digitalSignature: TLS client authentication needs it");
                    }
                }
                out(&format!(
                    "Subject: {}\nNot After: {}\n",
                    c.subject, c.not_after
                ));
                out(&format!("RA Cert Thumbprint: {t}\n"));
                return Ok(ExitCode::SUCCESS);
            }
            Err(e @ HostError::NoMatchingKey { .. }) => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or(HostError::Unrecognised {
        path: cert.to_path_buf(),
        what: "no certificate".into(),
    }))
}

fn list(store: &StoreLocation, json: bool) -> Result<ExitCode, HostError> {
    let fs = store::open(store)?;
    let certs = fs.certificates()?;
    let mut rows = Vec::new();
    for s in &certs {
        let c = CertificateRef::parse(&s.der).map_err(core)?;
        rows.push(json!({
            "thumbprint": s.thumbprint.to_string(),
            "subject": c.subject.to_string(),
            "not_after": c.not_after.to_string(),
            "has_key": s.has_key,
        }));
    }
    if json {
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        ));
    } else if rows.is_empty() {
        out(&format!("No RA certificates in {}.\n", fs.describe()));
    } else {
        out(&format!(
            "{:<40}  {:<20}  {:<7}  {}\n",
            "THUMBPRINT", "NOT AFTER", "HAS KEY", "SUBJECT"
        ));
        for r in rows {
            out(&format!(
                "{:<40}  {:<20}  {:<7}  {}\n",
                r["thumbprint"].as_str().unwrap_or(""),
                r["not_after"].as_str().unwrap_or(""),
                if r["has_key"].as_bool().unwrap_or(false) {
                    "yes"
                } else {
                    "NO"
                },
                r["subject"].as_str().unwrap_or("")
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn thumbprints(paths: &[PathBuf], sha256: bool) -> Result<ExitCode, HostError> {
    if paths.is_empty() {
        return Err(HostError::Unrecognised {
            path: PathBuf::from("-"),
            what: "no file given".into(),
        });
    }
    let mut s = String::new();
    for p in paths {
        let certs = files::certificates_in(p)?;
        if certs.is_empty() {
            return Err(HostError::Unrecognised {
                path: p.clone(),
                what: "no certificate in the file".into(),
            });
        }
        for der in certs {
            let c = CertificateRef::parse(&der).map_err(core)?;
            let t = if sha256 {
                thumbprint::Thumbprint256::of(&der).to_string()
            } else {
                thumbprint::Thumbprint::of(&der).to_string()
            };
            s += &format!("{t} {}\n", c.subject);
        }
    }
    out(&s);
    Ok(ExitCode::SUCCESS)
}

fn check_thumbprint(text: &str) -> ExitCode {
    match thumbprint::parse(text) {
        Ok(p) => {
            for n in &p.notes {
                eprintln!("note: {n}");
            }
            if p.invisible_removed > p.notes.len() {
                eprintln!(
                    "note: {} invisible characters removed in all",
                    p.invisible_removed
                );
            }
            out(&format!("{}\n", p.thumbprint));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("  what to do: {}", e.remedy());
            ExitCode::from(1)
        }
    }
}
