//! Load generator for `raconn serve`: N requests at a fixed rate against
//! the service (run in this process, its API on loopback HTTP) and
//! raconn-sim (in this process, schema validation off), reporting
//! throughput, p50/p99 submit-to-issued latency (the service's own
//! `created_at`/`issued_at`, milliseconds), enrollments at the simulator,
//! errors and duplicates — for P-256 and RSA-2048 device keys, on SQLite and
//! (with `--postgres URL`) PostgreSQL, next to sequential `raconn issue`
//! (the same driver, one request after another) measured in the same run.
//!
//! With `--key-pool K` the service keeps K RSA keys ready (`key_pool`,
//! off otherwise, so that the plain rows are sustained rates), and the RSA
//! runs start once one warm-up request made the pool fill: the figure of a
//! burst after a quiet spell.
//!
//! `--db sqlite` or `--db postgresql` runs one database only.
//!
//! `--pfx-iterations N` sets the profile's `pfx_iterations` (default
//! 10 000): the PFX's PBKDF2 is most of the service's own CPU.
//!
//! `cargo run --release --example serve_load -- [--n N] [--rate R] [--postgres URL] [--only p256|rsa] [--db sqlite|postgresql] [--workers W] [--key-pool K] [--pfx-iterations N]`

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use raconn_host::{cli, config, files, issue};
use raconn_sim::{Profiles, ServerKey, Sim};

const P256_OID: &str = "2.16.840.1.113733.1.16.1.2.3.1.1.47196112";
const RSA_OID: &str = "2.16.840.1.113733.1.16.1.2.3.1.1.47196110";

/// `--pfx-iterations`, for every profile this run writes.
static PFX_ITERATIONS: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

struct Row {
    key: &'static str,
    db: &'static str,
    n: usize,
    rate: f64,
    secs: f64,
    p50: i64,
    p99: i64,
    enrollments: usize,
    errors: usize,
    duplicates: usize,
}

fn main() {
    let mut n = 2000usize;
    let mut rate = 1000.0f64;
    let mut pg: Option<String> = None;
    let mut only: Option<String> = None;
    let mut db_only: Option<String> = None;
    let mut workers = 0usize;
    let mut pool = 0usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--n" => n = v.parse().expect("--n N"),
            "--rate" => rate = v.parse().expect("--rate R"),
            "--postgres" => pg = Some(v),
            "--only" => only = Some(v),
            "--db" => db_only = Some(v),
            "--workers" => workers = v.parse().expect("--workers W"),
            "--key-pool" => pool = v.parse().expect("--key-pool K"),
            "--pfx-iterations" => {
                let _ = PFX_ITERATIONS.set(v.parse().expect("--pfx-iterations N"));
            }
            _ => panic!("unknown argument {a}"),
        }
    }
    let mut rows = Vec::new();
    let mut seq = Vec::new();
    for (key, oid) in [("p256", P256_OID), ("rsa", RSA_OID)] {
        if only.as_deref().is_some_and(|o| o != key) {
            continue;
        }
        let label = if key == "p256" { "P-256" } else { "RSA-2048" };
        // The RSA run at a fraction of the rate and size: its keys cost the time.
        let (kn, krate) = if key == "rsa" {
            (n / 5, rate / 10.0)
        } else {
            (n, rate)
        };
        seq.push((label, sequential(oid, key, 50.min(kn))));
        let mut dbs: Vec<(&'static str, Option<String>)> = vec![("SQLite", None)];
        if let Some(u) = &pg {
            dbs.push(("PostgreSQL", Some(u.clone())));
        }
        dbs.retain(|(db, _)| {
            db_only
                .as_deref()
                .is_none_or(|o| db.eq_ignore_ascii_case(o))
        });
        for (db, url) in dbs {
            rows.push(run(
                label,
                oid,
                key,
                db,
                url.as_deref(),
                kn,
                krate,
                workers,
                pool,
            ));
        }
    }
    println!(
        "\nsequential raconn issue (one process, one request after another, journal on disk):"
    );
    for (k, r) in &seq {
        println!("  {k}: {r:.1} issued/s");
    }
    println!("\n| device key | database | requests | offered rate /s | issued/s | p50 ms | p99 ms | enrollments | errors | duplicates |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.0} | {:.1} | {} | {} | {} | {} | {} |",
            r.key,
            r.db,
            r.n,
            r.rate,
            r.n as f64 / r.secs,
            r.p50,
            r.p99,
            r.enrollments,
            r.errors,
            r.duplicates
        );
    }
}

/// A simulator (validation off) and an onboarded RA in `dir`; returns the
/// sim, its server and the base of raconn.toml.
fn world(dir: &Path, oid: &str, key: &str) -> (Sim, raconn_sim::server::Server, String) {
    let mut sim = Sim::new(Profiles::default_set(), ServerKey::P256).expect("sim");
    sim.set_validator(None);
    let server = raconn_sim::server::start(
        sim.clone(),
        "127.0.0.1:0",
        raconn_sim::server::Versions::Both,
    )
    .expect("server");
    let store = raconn_host::store::StoreLocation::Dir(dir.join("store"));
    let inf = dir.join("ra.ini");
    std::fs::write(&inf, "[NewRequest]\nSubject = \"CN=load RA\"\nKeyAlgorithm = ECDSA_P256\nKeyUsage = 0xa0\n[EnhancedKeyUsageExtension]\nOID=1.3.6.1.5.5.7.3.2\n").expect("ini");
    let csr = dir.join("ra.csr");
    cli::ra::new_request(&inf, &csr, false, cli::ra::Encoding::Utf8, &store).expect("ra");
    let der = files::read_blocks(&csr).expect("csr")[0].der.clone();
    let ra = sim.pki.issue_ra(&der, 1).expect("ra cert");
    let ra_pem = dir.join("ra.pem");
    std::fs::write(&ra_pem, files::to_pem("CERTIFICATE", &ra)).expect("ra.pem");
    cli::ra::accept(&ra_pem, &store).expect("accept");
    std::fs::write(
        dir.join("root.pem"),
        files::to_pem("CERTIFICATE", &sim.pki.root.der),
    )
    .expect("root");
    let thumb = raconn_core::thumbprint::Thumbprint::of(&ra);
    let k = if key == "p256" { "p256" } else { "rsa-2048" };
    let san = if key == "p256" { "[\"email\"]" } else { "[]" };
    let cfg = format!(
        "ra_cert_thumbprint = \"{thumb}\"\nstore = \"store\"\nca_trust = \"root.pem\"\nkeep_device_keys = false\n\n[profiles.devices]\ncertification_authority = \"localhost:{port}\"\ncertification_authority_name = \"Symantec\"\ncertificate_template = \"{oid}\"\nsubject_name_format = \"common-name\"\nsubject_alternative_names = {san}\nkey = \"{k}\"\npfx_iterations = {iter}\n",
        port = server.addr.port(),
        iter = PFX_ITERATIONS.get().copied().unwrap_or(10_000)
    );
    (sim, server, cfg)
}

fn body(cn: &str, key: &str) -> serde_json::Value {
    if key == "p256" {
        serde_json::json!({"profile": "devices", "cn": cn, "email": format!("{cn}@contoso.com"), "pfx_password": "load test"})
    } else {
        serde_json::json!({"profile": "devices", "cn": cn, "pfx_password": "load test"})
    }
}

/// Sequential `raconn issue` (library call, as the command runs it): issued/s.
fn sequential(oid: &str, key: &str, n: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tmp");
    let (_sim, _server, cfg_text) = world(dir.path(), oid, key);
    let cp = dir.path().join("raconn.toml");
    std::fs::write(&cp, cfg_text).expect("cfg");
    let cfg = config::load(&cp).expect("config");
    let t0 = Instant::now();
    for i in 0..n {
        issue::issue(
            &cfg,
            "devices",
            &issue::IssueArgs {
                request_id: format!("seq-{i}"),
                cn: format!("seq-{i}"),
                email: (key == "p256").then(|| format!("seq-{i}@contoso.com")),
                upn: None,
                other_names: vec![],
                out: dir.path().join(format!("seq-{i}.pfx")),
                password: "load test".into(),
                sid: None,
            },
        )
        .expect("issue");
    }
    n as f64 / t0.elapsed().as_secs_f64()
}

fn parse_ms(t: &str) -> i64 {
    // 2026-12-02T22:50:51.123Z → ms within the day is enough for differences
    // under a day; days are counted from the date for safety.
    let (date, time) = t.split_once('T').unwrap_or(("", ""));
    let d: Vec<i64> = date.split('-').filter_map(|x| x.parse().ok()).collect();
    let time = time.trim_end_matches('Z');
    let (hms, ms) = time.split_once('.').unwrap_or((time, "0"));
    let h: Vec<i64> = hms.split(':').filter_map(|x| x.parse().ok()).collect();
    let days = d.first().copied().unwrap_or(0) * 372
        + d.get(1).copied().unwrap_or(0) * 31
        + d.get(2).copied().unwrap_or(0);
    ((days * 24 + h.first().copied().unwrap_or(0)) * 60 + h.get(1).copied().unwrap_or(0)) * 60_000
        + h.get(2).copied().unwrap_or(0) * 1000
        + ms.parse::<i64>().unwrap_or(0)
}

#[allow(clippy::too_many_arguments)]
fn run(
    label: &'static str,
    oid: &str,
    key: &str,
    db: &'static str,
    pg: Option<&str>,
    n: usize,
    rate: f64,
    workers: usize,
    pool: usize,
) -> Row {
    let dir = tempfile::tempdir().expect("tmp");
    let (sim, _server, cfg_text) = world(dir.path(), oid, key);
    let database = match pg {
        None => "sqlite:raconn.db".to_string(),
        Some(u) => {
            let name = format!("raconn_load{}", raconn_sim::rand_u64() % 1_000_000_000);
            let o = std::process::Command::new("psql")
                .args([u, "-q", "-c", &format!("CREATE DATABASE {name}")])
                .output()
                .expect("psql");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            format!("{}/{name}", u.rsplit_once('/').expect("URL").0)
        }
    };
    let cp: PathBuf = dir.path().join("raconn.toml");
    std::fs::write(&cp, format!("{cfg_text}\n[service]\nlisten = \"127.0.0.1:0\"\ndatabase = \"{database}\"\nworkers = {workers}\nkey_pool = {pool}\n")).expect("cfg");
    let cfg = config::load(&cp).expect("config");
    raconn_host::serve::init(&cfg).expect("init");
    let token =
        raconn_host::serve::tokens::Tokens::add(&cfg.service.tokens, "load").expect("token");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let (atx, arx) = std::sync::mpsc::channel();
    let c2 = cp.clone();
    let th = std::thread::spawn(move || {
        raconn_host::serve::run_with(
            &c2,
            move |a, _, _, _| {
                let _ = atx.send(a);
            },
            Some(stop_rx),
        )
    });
    let addr = arx
        .recv_timeout(Duration::from_secs(30))
        .expect("serve started");
    let base = format!("http://{addr}");
    let auth = format!("Bearer {token}");
    let errors = AtomicUsize::new(0);
    let next = AtomicUsize::new(0);
    let warm = usize::from(pool > 0 && key == "rsa");
    if warm == 1 {
        warm_pool(&base, &auth, key, pool);
    }
    let t0 = Instant::now();
    // Submitters: request i is sent at t0 + i / rate.
    std::thread::scope(|sc| {
        for _ in 0..16 {
            sc.spawn(|| {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        return;
                    }
                    let due = Duration::from_secs_f64(i as f64 / rate);
                    if let Some(w) = due.checked_sub(t0.elapsed()) {
                        std::thread::sleep(w);
                    }
                    let r = agent
                        .put(format!("{base}/v1/requests/load-{i}"))
                        .header("Authorization", &auth)
                        .send_json(body(&format!("load-{i}"), key));
                    if !matches!(r.as_ref().map(|r| r.status().as_u16()), Ok(202)) {
                        errors.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    // Wait for all to end, then read each one's times.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let deadline = Instant::now() + Duration::from_secs(1800);
    let mut lat = Vec::new();
    let mut first_created = i64::MAX;
    let mut last_issued = 0i64;
    let mut failed = 0;
    let mut i = 0;
    while i < n {
        let mut r = agent
            .get(format!("{base}/v1/requests/load-{i}"))
            .header("Authorization", &auth)
            .call()
            .expect("GET");
        let v: serde_json::Value = r.body_mut().read_json().unwrap_or_default();
        match v["state"].as_str() {
            Some("issued") => {
                let c = parse_ms(v["created_at"].as_str().unwrap_or(""));
                let s = parse_ms(v["issued_at"].as_str().unwrap_or(""));
                first_created = first_created.min(c);
                last_issued = last_issued.max(s);
                lat.push(s - c);
                i += 1;
            }
            Some("failed") | None => {
                failed += 1;
                i += 1;
            }
            _ => {
                assert!(Instant::now() < deadline, "load-{i} did not finish");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    let _ = stop_tx.send(());
    let _ = th.join();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let secs = ((last_issued - first_created).max(1)) as f64 / 1000.0;
    let row = Row {
        key: label,
        db,
        n,
        rate,
        secs,
        p50: pct(0.50),
        p99: pct(0.99),
        enrollments: sim.enrollments() - warm,
        errors: errors.load(Ordering::SeqCst) + failed,
        duplicates: sim.certificates_issued().saturating_sub(lat.len() + warm),
    };
    eprintln!(
        "{label} on {db}: {n} requests at {rate}/s -> {:.1} issued/s, p50 {} ms, p99 {} ms",
        n as f64 / secs,
        row.p50,
        row.p99
    );
    row
}

/// One request of the RSA profile, then a wait until the service keeps
/// `pool` keys ready.
fn warm_pool(base: &str, auth: &str, key: &str, pool: usize) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let r = agent
        .put(format!("{base}/v1/requests/warm-0"))
        .header("Authorization", auth)
        .send_json(body("warm-0", key))
        .expect("PUT");
    assert_eq!(r.status().as_u16(), 202);
    let t0 = Instant::now();
    loop {
        let mut r = agent
            .get(format!("{base}/metrics"))
            .call()
            .expect("metrics");
        let m = r.body_mut().read_to_string().unwrap_or_default();
        let ready: usize = m
            .lines()
            .find_map(|l| l.strip_prefix("raconn_device_keys_ready "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if ready >= pool {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "the key pool did not fill"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
