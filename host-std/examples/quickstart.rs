//! `cargo run --release --example quickstart -- DIR`
//!
//! A full issuance on this machine, against raconn-sim (a local simulator of
//! the DigiCert PKI Web Services) started in this process on a free loopback
//! port. It makes the RA key and request from a certreq.ini like the
//! reference connector's, has the simulator sign it, accepts it, writes
//! `raconn.toml`, fetches the policy and issues a certificate for a sample
//! user with CN, email, UPN and a GUID other-name. Then it runs the
//! connector as a service — `raconn serve` on SQLite, loopback only —
//! submits a request through its API (`PUT /v1/requests/…`), waits for
//! `issued` and downloads the PFX (`GET …/pfx`). It leaves `DIR/user.pfx`,
//! `DIR/device.pfx`, their `.password` files and `DIR/root.pem`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use raconn_host::{cli, config, files, issue};
use raconn_sim::{Profiles, ServerKey, Sim};

const PROFILE_OID: &str = "2.16.840.1.113733.1.16.1.2.3.1.1.47196109";

fn step(n: u32, what: &str) {
    println!("\n[{n}] {what}");
}

fn main() -> ExitCode {
    let Some(dir) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: cargo run --release --example quickstart -- DIR");
        return ExitCode::from(2);
    };
    match run(&dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}\n  what to do: {}", e.remedy());
            ExitCode::from(1)
        }
    }
}

fn run(dir: &Path) -> Result<(), raconn_host::errors::HostError> {
    let werr = |p: &Path| {
        let p = p.to_path_buf();
        move |err| raconn_host::errors::HostError::Write {
            path: p.clone(),
            err,
        }
    };
    std::fs::create_dir_all(dir).map_err(werr(dir))?;
    let dir = dir.canonicalize().map_err(werr(dir))?;
    let store = raconn_host::store::StoreLocation::Dir(dir.join("store"));

    step(
        1,
        "Starting raconn-sim, a local PKI Web Services simulator, on a free loopback port",
    );
    let sim = Sim::new(Profiles::default_set(), ServerKey::Rsa2048)
        .map_err(raconn_host::errors::HostError::Tls)?;
    let server = raconn_sim::server::start(
        sim.clone(),
        "127.0.0.1:0",
        raconn_sim::server::Versions::Both,
    )
    .map_err(raconn_host::errors::HostError::Tls)?;
    println!(
        "    https://localhost:{}/pki-ws/ — TLS 1.2/1.3, client certificate required",
        server.addr.port()
    );
    let root = dir.join("root.pem");
    files::write_atomic(
        &root,
        files::to_pem("CERTIFICATE", &sim.pki.root.der).as_bytes(),
        0o644,
    )?;
    println!("    its root certificate: {}", root.display());

    step(2, "Making the RA key and certificate request from a certreq.ini like the reference connector's");
    let inf = dir.join("ra-certreq.ini");
    let ini = include_str!("../../examples/ra-certreq.ini").replace(
        "C=US, O=Example Company, CN=CompanyName DigiCert MDM RA Cert",
        "C=US, O=Contoso, CN=raconn quickstart RA",
    );
    files::write_atomic(&inf, ini.as_bytes(), 0o644)?;
    let csr = dir.join("ra.csr");
    let made = cli::ra::new_request(&inf, &csr, false, cli::ra::Encoding::Utf8, &store)?;
    print!("{}", indent(&made.to_string()));

    step(
        3,
        "The CA signs the RA request (in real life: DigiCert PKI Manager, \"Get an RA Cert\")",
    );
    let blocks = files::read_blocks(&csr)?;
    let der = blocks.first().map(|b| b.der.clone()).unwrap_or_default();
    let ra = sim
        .pki
        .issue_ra(&der, 1)
        .map_err(raconn_host::errors::HostError::Tls)?;
    let ra_pem = dir.join("ra.pem");
    files::write_atomic(&ra_pem, files::to_pem("CERTIFICATE", &ra).as_bytes(), 0o644)?;
    println!("    {}", ra_pem.display());

    step(4, "Accepting the RA certificate into the store");
    let accepted = cli::ra::accept(&ra_pem, &store)?;
    print!("{}", indent(&accepted.to_string()));
    let thumb = raconn_core::thumbprint::Thumbprint::of(&ra);

    step(5, "Writing raconn.toml");
    let cfg_path = dir.join("raconn.toml");
    let cfg_text = format!(
        "ra_cert_thumbprint = \"{thumb}\"\nca_timeout_ms = 30000\nstore = \"store\"\nca_trust = \"root.pem\"\n\n[profiles.users]\ncertification_authority = \"localhost:{port}\"\ncertification_authority_name = \"Symantec\"\ncertificate_template = \"{PROFILE_OID}\"\nsubject_name_format = \"common-name-including-email\"\nsubject_alternative_names = [\"email\", \"upn\", \"other-name:1.3.6.1.4.1.311.25.1\"]\npfx = \"modern\"\n",
        port = server.addr.port()
    );
    files::write_atomic(&cfg_path, cfg_text.as_bytes(), 0o644)?;
    print!(
        "{}",
        cfg_text
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    );
    let cfg = config::load(&cfg_path)?;

    step(
        6,
        "Fetching the profile's policy over mutual TLS (raconn policy users)",
    );
    let text = issue::policy(&cfg, "users")?.to_string();
    print!(
        "{}",
        text.lines()
            .take_while(|l| !l.contains("CA certificate:"))
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    );

    step(7, "Issuing a certificate for a sample user (raconn issue)");
    let mut pw = [0u8; 18];
    let _ = getrandom::fill(&mut pw);
    let password: String = pw.iter().map(|b| format!("{b:02x}")).collect();
    let pw_path = dir.join("user.pfx.password");
    files::write_atomic(&pw_path, format!("{password}\n").as_bytes(), 0o600)?;
    let out = dir.join("user.pfx");
    let r = issue::issue(
        &cfg,
        "users",
        &issue::IssueArgs {
            request_id: "quickstart-user-1".into(),
            cn: "Zoë Müller".into(),
            email: Some("zoe@contoso.com".into()),
            upn: Some("zoe@corp.contoso.local".into()),
            other_names: vec![(
                raconn_core::oid::DS_OBJECT_GUID,
                "04 10 41 ac c3 f7 ce b8 b4 4f aa 58 3d 1d c0 e3 6b 39".into(),
            )],
            out: out.clone(),
            password,
            sid: None,
        },
    )?;
    for w in &r.warnings {
        println!("    warning: {w}");
    }
    println!(
        "    Subject:    {}\n    Thumbprint: {}\n    Serial:     {}\n    Not After:  {}",
        r.subject, r.thumbprint, r.serial, r.not_after
    );
    println!(
        "    clientTransactionID {} / serverTransactionID {}",
        r.client_transaction_id, r.server_transaction_id
    );

    let (device_pfx, device_pw) = service(&dir, &cfg_path, &cfg_text)?;

    step(12, "Done");
    println!(
        "    {}  (key + certificate + chain, mode 0600)",
        out.display()
    );
    println!("    {}  (its password)", pw_path.display());
    println!(
        "    {}  (from the service's API; password in {})",
        device_pfx.display(),
        device_pw.display()
    );
    println!("    {}  (the simulator's root)", root.display());
    println!(
        "\nLook inside:\n    openssl pkcs12 -info -in {} -passin file:{} -nodes\n    cargo run --release --bin raconn -- --config {} check",
        out.display(),
        pw_path.display(),
        cfg_path.display()
    );
    drop(server);
    Ok(())
}

/// Steps 8–11: `raconn serve` on SQLite (loopback), a request through its
/// API, the PFX downloaded. Returns the PFX's path and its password file.
fn service(
    dir: &Path,
    cfg_path: &Path,
    cfg_text: &str,
) -> Result<(PathBuf, PathBuf), raconn_host::errors::HostError> {
    use raconn_host::errors::HostError;
    step(
        8,
        "Starting the connector as a service (raconn serve): SQLite, loopback only",
    );
    let service = "\n[service]\nlisten = \"127.0.0.1:0\"   # a free port; 127.0.0.1:8443 in real use\ndatabase = \"sqlite:raconn.db\"\n";
    files::write_atomic(cfg_path, format!("{cfg_text}{service}").as_bytes(), 0o644)?;
    print!("{}", indent(&format!("raconn.toml gains:{service}")));
    let cfg = config::load(cfg_path)?;
    for l in raconn_host::serve::init(&cfg)? {
        println!("    raconn serve --init: {l}");
    }
    let token = raconn_host::serve::tokens::Tokens::add(&cfg.service.tokens, "quickstart")?;
    println!("    raconn token add quickstart: a bearer token for the caller (the tokens file keeps only its SHA-256)");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let cp = cfg_path.to_path_buf();
    let th = std::thread::spawn(move || {
        raconn_host::serve::run_with(
            &cp,
            move |addr, workers, _, _| {
                let _ = addr_tx.send((addr, workers));
            },
            Some(stop_rx),
        )
    });
    let (addr, workers) = addr_rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .map_err(|_| HostError::Output("raconn serve did not start".into()))?;
    println!("    listening on http://{addr} with {workers} issuance workers");
    let base = format!("http://{addr}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let herr = |e: ureq::Error| HostError::Output(format!("HTTP: {e}"));
    let auth = format!("Bearer {token}");

    step(
        9,
        "Submitting a request through the API (PUT /v1/requests/quickstart-device-1)",
    );
    let mut pw = [0u8; 18];
    let _ = getrandom::fill(&mut pw);
    let password: String = pw.iter().map(|b| format!("{b:02x}")).collect();
    let pw_path = dir.join("device.pfx.password");
    files::write_atomic(&pw_path, format!("{password}\n").as_bytes(), 0o600)?;
    let body = serde_json::json!({
        "profile": "users",
        "cn": "Ola Nordmann",
        "email": "ola@contoso.com",
        "upn": "ola@corp.contoso.local",
        "other_names": {"1.3.6.1.4.1.311.25.1": "04 10 9b 1d 3c 0a 52 e4 4d 6f 8a 21 77 40 c2 5e 0b 13"},
        "pfx_password": password,
    });
    println!("    curl -X PUT -H 'Authorization: Bearer …' -H 'Content-Type: application/json' \\\n         {base}/v1/requests/quickstart-device-1 -d '{{\"profile\": \"users\", \"cn\": \"Ola Nordmann\", …}}'");
    let url = format!("{base}/v1/requests/quickstart-device-1");
    let mut r = agent
        .put(&url)
        .header("Authorization", &auth)
        .send_json(&body)
        .map_err(herr)?;
    let v: serde_json::Value = r.body_mut().read_json().map_err(herr)?;
    println!(
        "    {} {} — state {}",
        r.status().as_u16(),
        r.status().canonical_reason().unwrap_or(""),
        v["state"]
    );
    if r.status().as_u16() != 202 && r.status().as_u16() != 200 {
        return Err(HostError::Output(format!(
            "the service refused the request: {v}"
        )));
    }

    step(
        10,
        "Waiting until it is issued (GET /v1/requests/quickstart-device-1)",
    );
    let t0 = std::time::Instant::now();
    let mut last = String::new();
    let v = loop {
        let mut r = agent
            .get(&url)
            .header("Authorization", &auth)
            .call()
            .map_err(herr)?;
        let v: serde_json::Value = r.body_mut().read_json().map_err(herr)?;
        let state = v["state"].as_str().unwrap_or("").to_string();
        if state != last {
            println!("    {:>6} ms: {state}", t0.elapsed().as_millis());
            last = state.clone();
        }
        if state == "issued" {
            break v;
        }
        if state == "failed" || t0.elapsed() > std::time::Duration::from_secs(60) {
            return Err(HostError::Output(format!("the request did not issue: {v}")));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    println!(
        "    Subject: {}\n    Thumbprint: {}",
        v["certificate"]["subject"].as_str().unwrap_or(""),
        v["certificate"]["thumbprint"].as_str().unwrap_or("")
    );

    step(
        11,
        "Downloading the PFX (GET /v1/requests/quickstart-device-1/pfx)",
    );
    let mut r = agent
        .get(format!("{url}/pfx"))
        .header("Authorization", &auth)
        .call()
        .map_err(herr)?;
    if r.status().as_u16() != 200 {
        return Err(HostError::Output(format!(
            "GET …/pfx answered {}",
            r.status()
        )));
    }
    let pfx = r.body_mut().read_to_vec().map_err(herr)?;
    let out = dir.join("device.pfx");
    files::write_atomic(&out, &pfx, 0o600)?;
    println!(
        "    {} ({} bytes, application/x-pkcs12)",
        out.display(),
        pfx.len()
    );
    let _ = stop_tx.send(());
    match th.join() {
        Ok(r) => r?,
        Err(_) => return Err(HostError::Output("the service thread panicked".into())),
    }
    println!("    raconn serve stopped");
    Ok((out, pw_path))
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}\n")).collect()
}
