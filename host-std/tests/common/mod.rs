//! Shared set-up for the tests that run `raconn` against raconn-sim: an RA
//! key and certificate in a store, the simulator's root as `ca_trust`, and a
//! `raconn.toml` pointing at the simulator.

// Each test binary uses a part of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use raconn_sim::{Profiles, ServerKey, Sim};

pub const USER: &str = "2.16.840.1.113733.1.16.1.2.3.1.1.47196109";

pub fn raconn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_raconn"))
        .args(args)
        .env_remove("RACONN_STORE")
        // A proxy of the machine running the tests must not stand between
        // raconn and the simulator (proxy tests set their own).
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("RACONN_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run raconn")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

pub struct Env {
    pub sim: Sim,
    pub server: raconn_sim::server::Server,
    pub dir: tempfile::TempDir,
    pub thumbprint: String,
}

impl Env {
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes raconn.toml; `extra` goes into the profile table.
    pub fn config(&self, name: &str, thumbprint: &str, timeout_ms: u64, extra: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(
            &p,
            format!(
                "ra_cert_thumbprint = \"{thumbprint}\"\nca_timeout_ms = {timeout_ms}\nstore = \"store\"\nca_trust = \"root.pem\"\n\n[profiles.users]\ncertification_authority = \"localhost:{port}\"\ncertification_authority_name = \"Symantec\"\ncertificate_template = \"{USER}\"\nsubject_name_format = \"common-name-including-email\"\nsubject_alternative_names = [\"email\", \"upn\", \"other-name:1.3.6.1.4.1.311.25.1\"]\n{extra}\n",
                port = self.server.addr.port()
            ),
        )
        .expect("write config");
        p
    }
}

/// Has the simulator's RA CA sign the PEM request at `csr`; writes the
/// certificate as PEM to `out` and returns its DER.
pub fn sim_signs(sim: &Sim, csr: &Path, out: &Path) -> Vec<u8> {
    let pem = std::fs::read_to_string(csr).expect("csr");
    let blocks = raconn_host::files::parse_blocks(pem.as_bytes()).expect("pem");
    let cert = sim.pki.issue_ra(&blocks[0].der, 1).expect("ra cert");
    std::fs::write(out, raconn_host::files::to_pem("CERTIFICATE", &cert)).expect("write ra.pem");
    cert
}

/// Starts the simulator and onboards an RA certificate with `raconn ra …`.
pub fn env(server_key: ServerKey) -> Env {
    env_with(server_key, true)
}

/// [`env`], with the simulator's schema validation of every request on or
/// off (off for load: each validation runs the external validator).
pub fn env_with(server_key: ServerKey, validate: bool) -> Env {
    let mut sim = Sim::new(Profiles::default_set(), server_key).expect("sim");
    if !validate {
        sim.set_validator(None);
    }
    let server = raconn_sim::server::start(
        sim.clone(),
        "127.0.0.1:0",
        raconn_sim::server::Versions::Both,
    )
    .expect("server");
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("store");
    let inf = dir.path().join("ra.ini");
    std::fs::write(&inf, "[NewRequest]\nSubject = \"CN=raconn test RA\"\nKeyAlgorithm = ECDSA_P256\nKeyUsage = 0xa0\n[EnhancedKeyUsageExtension]\nOID=1.3.6.1.5.5.7.3.2\n").expect("ini");
    let csr = dir.path().join("ra.csr");
    let o = raconn(&[
        "ra",
        "new-request",
        "--inf",
        s(&inf),
        "--out",
        s(&csr),
        "--store",
        s(&store),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let ra = dir.path().join("ra.pem");
    sim_signs(&sim, &csr, &ra);
    let o = raconn(&["ra", "accept", s(&ra), "--store", s(&store)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let thumbprint = text(&o.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("RA Cert Thumbprint: "))
        .expect("thumb")
        .to_string();
    std::fs::write(
        dir.path().join("root.pem"),
        raconn_host::files::to_pem("CERTIFICATE", &sim.pki.root.der),
    )
    .expect("root");
    Env {
        sim,
        server,
        dir,
        thumbprint,
    }
}

/// The password every test PFX gets.
pub const PASSWORD: &str = "correct horse battery";

/// One `raconn issue` for the `users` profile.
pub struct IssueArgs<'a> {
    pub config: &'a Path,
    pub request_id: &'a str,
    pub cn: &'a str,
    pub email: &'a str,
    pub upn: &'a str,
    /// `OID=VALUE` for the profile's other-name.
    pub other_name: &'a str,
    pub out: &'a str,
    pub password_file: PathBuf,
}

/// The objectGuid other-name the `users` profile asks for.
pub const GUID: &str = "1.3.6.1.4.1.311.25.1=04 10 41 ac c3 f7 ce b8 b4 4f aa 58 3d 1d c0 e3 6b 39";

impl<'a> IssueArgs<'a> {
    /// Zoë's request: `cn`, zoe@contoso.com, zoe_m@corp.contoso.local and
    /// [`GUID`], the password (written if missing) in `DIR/pw`.
    pub fn new(e: &Env, config: &'a Path, request_id: &'a str, cn: &'a str, out: &'a str) -> Self {
        let pw = e.path("pw");
        if !pw.exists() {
            std::fs::write(&pw, format!("{PASSWORD}\n")).expect("pw");
        }
        IssueArgs {
            config,
            request_id,
            cn,
            email: "zoe@contoso.com",
            upn: "zoe_m@corp.contoso.local",
            other_name: GUID,
            out,
            password_file: pw,
        }
    }

    /// The command line.
    pub fn args(&self) -> Vec<&str> {
        vec![
            "--config",
            s(self.config),
            "issue",
            "--profile",
            "users",
            "--request-id",
            self.request_id,
            "--cn",
            self.cn,
            "--email",
            self.email,
            "--upn",
            self.upn,
            "--other-name",
            self.other_name,
            "--out",
            self.out,
            "--password-file",
            s(&self.password_file),
        ]
    }
}

/// openssl writes the PFX's own certificate (not the chain) to `pem`.
pub fn pfx_leaf_pem(pfx: &Path, pem: &Path) {
    let o = Command::new("openssl")
        .args([
            "pkcs12",
            "-in",
            s(pfx),
            "-clcerts",
            "-nokeys",
            "-out",
            s(pem),
            "-passin",
        ])
        .arg(format!("pass:{PASSWORD}"))
        .output()
        .expect("openssl");
    assert!(o.status.success(), "{}", text(&o.stderr));
}
