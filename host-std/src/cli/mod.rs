//! The `raconn` command line: one module per command group, each command
//! returning a typed report (`Serialize` for `--json`, `Display` for
//! people) that [`emit`] prints — the one place output is written, so a
//! full or closed stdout is an error with a code, never a silent loss.
//!
//! | module | commands |
//! |---|---|
//! | [`ra`] | `ra new-request`, `ra accept`, `ra list` |
//! | [`issue`] | `policy`, `issue` |
//! | [`inspect`] | `inspect` |
//! | [`check`] | `check` |
//! | [`explain`] | `explain` |
//! | [`thumbprint`] | `thumbprint` |

pub mod check;
pub mod explain;
pub mod inspect;
pub mod issue;
pub mod ra;
pub mod revoke;
pub mod thumbprint;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::errors::HostError;

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
    /// Print the result as JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// RA certificate onboarding: make the key and request, accept the certificate, list.
    #[command(subcommand)]
    Ra(ra::RaCmd),
    /// Print certificate thumbprints, or check a pasted thumbprint.
    Thumbprint(thumbprint::ThumbArgs),
    /// Decode a CSR, certificate, PKCS#7 (PEM or DER) or a saved PKI Web Services message (XML).
    Inspect {
        /// The file.
        file: PathBuf,
    },
    /// Fetch and show a profile's policy: attributes (kind, name, mandatory, fixed value), key, validity, CA chain.
    Policy {
        /// Profile name from raconn.toml.
        profile: String,
        /// Also write the policy's CA certificates, checked to chain to a
        /// self-signed root, into this directory (root.pem, root.cer,
        /// intermediates.pem, intermediate-N.cer) for a trusted-certificate profile.
        #[arg(long)]
        ca_out: Option<PathBuf>,
    },
    /// Issue a certificate and write key + certificate + chain as a PFX.
    Issue(issue::IssueCli),
    /// Revoke a certificate at the CA (by serial, request id or file) and record it in the journal.
    Revoke(revoke::RevokeCli),
    /// Check the configuration, the RA certificate and key, and each profile's CA.
    Check {
        /// Only this profile.
        #[arg(long)]
        profile: Option<String>,
    },
    /// Run the connector as a service: the HTTP API and issuance workers on SQLite or PostgreSQL ([service] in raconn.toml).
    Serve {
        /// Make the key-encryption key if missing, create or migrate the database, and exit.
        #[arg(long)]
        init: bool,
    },
    /// Bearer tokens for the service's API.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Windows: run `raconn serve` as a Windows service (install, uninstall; `run` is what the SCM starts).
    #[cfg(windows)]
    #[command(subcommand)]
    Service(ServiceCmd),
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

#[derive(Subcommand, Debug)]
enum TokenCmd {
    /// Make a token for a caller: printed once; the tokens file keeps its SHA-256.
    Add {
        /// A name for the caller (letters, digits, . _ - @), shown in logs.
        name: String,
    },
}

#[cfg(windows)]
#[derive(Subcommand, Debug)]
enum ServiceCmd {
    /// Register the service for this raconn.toml (started automatically, delayed, as LocalSystem unless --account).
    Install {
        /// The service name.
        #[arg(long, default_value = crate::serve::winsvc::NAME)]
        name: String,
        /// Run as this account (DOMAIN\\user); its password from RACONN_SERVICE_PASSWORD.
        #[arg(long)]
        account: Option<String>,
    },
    /// Stop and remove the service.
    Uninstall {
        /// The service name.
        #[arg(long, default_value = crate::serve::winsvc::NAME)]
        name: String,
    },
    /// Started by the Service Control Manager: runs `raconn serve` under it.
    Run {
        /// The service name.
        #[arg(long, default_value = crate::serve::winsvc::NAME)]
        name: String,
    },
}

/// What a command prints: JSON for `--json`, text for people.
pub trait Report: serde::Serialize + std::fmt::Display {}

impl<T: serde::Serialize + std::fmt::Display> Report for T {}

/// Prints a report on stdout (the one place results are written).
pub fn emit<R: Report + ?Sized>(json: bool, r: &R) -> Result<(), HostError> {
    let text = if json {
        let mut s =
            serde_json::to_string_pretty(r).map_err(|e| HostError::Output(e.to_string()))?;
        s.push('\n');
        s
    } else {
        r.to_string()
    };
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())
        .and_then(|()| o.flush())
        .map_err(|e| HostError::Output(format!("stdout: {e}")))
}

/// Writes a line on stderr; a full or closed stderr is not worth a panic.
pub fn note(line: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{line}");
}

/// Runs the CLI; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help, --version and usage errors: clap's text, and a
            // non-zero exit when it could not be written.
            let code = e.exit_code();
            let printed = e.print().and_then(|()| {
                use std::io::Write as _;
                std::io::stdout().flush()
            });
            return match (printed, code) {
                (Err(_), 0) => ExitCode::FAILURE,
                (_, c) => ExitCode::from(u8::try_from(c).unwrap_or(2)),
            };
        }
    };
    init_logs(&cli.log_format, event_source(&cli));
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            note(&format!("error: {e}"));
            let r = e.remedy();
            if !r.is_empty() {
                note(&format!("  what to do: {r}"));
            }
            if let Some(h) = e.hint() {
                note(&format!("  with raconn: {h}"));
            }
            ExitCode::from(1)
        }
    }
}

/// The Event Log source a Windows service writes to: its name under
/// `service run` (the SCM discards stderr), none otherwise.
#[cfg(windows)]
fn event_source(cli: &Cli) -> Option<String> {
    match &cli.cmd {
        Command::Service(ServiceCmd::Run { name }) => Some(name.clone()),
        _ => None,
    }
}

#[cfg(not(windows))]
fn event_source(_cli: &Cli) -> Option<String> {
    None
}

/// stderr in the chosen format; under the SCM also the Windows Event Log
/// (INFO and above, event IDs as in [`crate::serve::eventlog`]).
fn init_logs(format: &str, event_source: Option<String>) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("RACONN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    let fmt = if format == "json" {
        fmt.json()
            .with_current_span(true)
            .with_span_list(false)
            .boxed()
    } else {
        fmt.with_ansi(false).without_time().boxed()
    };
    #[cfg(windows)]
    let events = event_source
        .and_then(|name| crate::serve::eventlog::windows::Source::open(&name))
        .map(|sink| crate::serve::eventlog::EventLogLayer::new(sink).boxed());
    #[cfg(not(windows))]
    let events: Option<Box<dyn tracing_subscriber::Layer<_> + Send + Sync>> = {
        let _ = event_source;
        None
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(events)
        .try_init();
}

/// Loads raconn.toml, printing what the thumbprint parser removed and the
/// profiles' warnings.
pub fn load_config(flag: Option<&Path>) -> Result<crate::config::Config, HostError> {
    let cfg = crate::config::load(&crate::config::locate(flag))?;
    for n in &cfg.thumbprint_notes {
        note(&format!("note: ra_cert_thumbprint: {n}"));
    }
    for p in cfg.profiles.values() {
        for w in &p.warnings {
            note(&format!("warning: profiles.{}: {w}", p.name));
        }
    }
    Ok(cfg)
}

fn run(cli: Cli) -> Result<ExitCode, HostError> {
    let config = cli.config.clone();
    let json = cli.json;
    match cli.cmd {
        Command::Policy { profile, ca_out } => {
            let cfg = load_config(config.as_deref())?;
            let (text, soap) = crate::issue::policy_text(&cfg, &profile)?;
            match ca_out {
                None => emit(json, &crate::soap::PoliciesReport::of(&text, soap)?)?,
                Some(dir) => {
                    let p = crate::issue::profile(&cfg, &profile)?;
                    let certs = crate::cacerts::from_policy(&text, &p.template)?;
                    let chain = crate::cacerts::check_chain(&certs)?;
                    emit(json, &crate::cacerts::write(&chain, &dir)?)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Issue(a) => issue::run(config.as_deref(), json, &a),
        Command::Revoke(a) => revoke::run(config.as_deref(), json, &a),
        Command::Check { profile } => check::run(config.as_deref(), json, profile.as_deref()),
        Command::Ra(c) => ra::run(config.as_deref(), json, c),
        Command::Thumbprint(a) => thumbprint::run(json, a),
        Command::Inspect { file } => inspect::run(json, &file),
        Command::Serve { init } => {
            let path = crate::config::locate(config.as_deref());
            if init {
                let cfg = load_config(config.as_deref())?;
                for l in crate::serve::init(&cfg)? {
                    note(&l);
                }
            } else {
                load_config(config.as_deref())?;
                crate::serve::run(&path)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(windows)]
        Command::Service(c) => {
            let path = crate::config::locate(config.as_deref());
            match c {
                ServiceCmd::Install { name, account } => {
                    load_config(config.as_deref())?;
                    let pw = std::env::var("RACONN_SERVICE_PASSWORD").unwrap_or_default();
                    crate::serve::winsvc::install(
                        &name,
                        &path,
                        account.as_deref().map(|a| (a, pw.as_str())),
                    )?;
                    if let Err(e) = crate::serve::eventlog::windows::register(&name) {
                        note(&format!(
                            "warning: event source {name} not registered (Win32 error {e}): \
                             Event Viewer will show its events without the message file"
                        ));
                    }
                    note(&format!(
                        "service {name} installed for {}; start it with `sc start {name}`",
                        path.display()
                    ));
                }
                ServiceCmd::Uninstall { name } => {
                    crate::serve::winsvc::uninstall(&name)?;
                    let _ = crate::serve::eventlog::windows::unregister(&name);
                    note(&format!("service {name} removed"));
                }
                ServiceCmd::Run { name } => crate::serve::winsvc::run(&name, &path)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(TokenCmd::Add { name }) => {
            let cfg = load_config(config.as_deref())?;
            let t = crate::serve::tokens::Tokens::add(&cfg.service.tokens, &name)?;
            note(&format!(
                "token for {name} added to {} (only its SHA-256 is kept; this is the one time it is shown):",
                cfg.service.tokens.display()
            ));
            let mut o = std::io::stdout().lock();
            o.write_all(format!("{t}\n").as_bytes())
                .and_then(|()| o.flush())
                .map_err(|e| HostError::Output(format!("stdout: {e}")))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain {
            code,
            all,
            markdown,
        } => explain::run(json, code, all, markdown),
    }
}
