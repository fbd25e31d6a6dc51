//! `raconn serve` against raconn-sim, on SQLite and on a real PostgreSQL
//! server (`RACONN_TEST_POSTGRES`, a URL of a server the test script
//! started; a database per test is created in it). Every endpoint, status
//! and code; idempotency under 50 concurrent PUTs; faults; `kill -9` and
//! restart; two instances on one PostgreSQL with one killed mid-run; no
//! secret in logs or metrics. HTTP goes through ureq, certificates are
//! checked with openssl.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{env, env_with, raconn, s, text, Env};
use raconn_sim::{Fault, ServerKey};
use serde_json::{json, Value};

const DEVICES: &str = "2.16.840.1.113733.1.16.1.2.3.1.1.47196112";
const PW: &str = "pfx pass phrase";

/// A running `raconn serve`.
struct Serve {
    child: Child,
    base: String,
    log: Arc<Mutex<String>>,
}

impl Serve {
    fn start(config: &Path) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_raconn"))
            .args(["--config", s(config), "serve"])
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env("RACONN_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn raconn serve");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let err = child.stderr.take().expect("stderr");
        let l2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if let Some(a) = line.strip_prefix("raconn serve: listening on ") {
                    let _ = tx.send(a.split_whitespace().next().unwrap_or("").to_string());
                }
                l2.lock().unwrap().push_str(&line);
                l2.lock().unwrap().push('\n');
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(b) => b,
            Err(_) => {
                let _ = child.kill();
                panic!("raconn serve did not start: {}", log.lock().unwrap());
            }
        };
        Serve { child, base, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn call(method: &str, url: &str, token: Option<&str>, body: Option<&[u8]>) -> Reply {
    let a = agent();
    let auth = token.map(|t| format!("Bearer {t}"));
    let r = match (method, body) {
        ("GET", _) => {
            let mut rq = a.get(url);
            if let Some(h) = &auth {
                rq = rq.header("Authorization", h);
            }
            rq.call()
        }
        (m, b) => {
            let mut rq = if m == "PUT" { a.put(url) } else { a.post(url) };
            if let Some(h) = &auth {
                rq = rq.header("Authorization", h);
            }
            rq = rq.header("Content-Type", "application/json");
            rq.send(b.unwrap_or(b""))
        }
    };
    let mut r = r.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = r.status().as_u16();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = r
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_vec()
        .unwrap_or_default();
    Reply {
        status,
        headers,
        body,
    }
}

/// The database for one test: a new SQLite file, or a new database on the
/// PostgreSQL server `RACONN_TEST_POSTGRES` names.
fn database(e: &Env, pg: bool) -> String {
    if !pg {
        return format!("sqlite:{}", s(&e.path("raconn.db")));
    }
    let url = std::env::var("RACONN_TEST_POSTGRES").expect("RACONN_TEST_POSTGRES");
    let name = format!("raconn_t{}", raconn_sim::rand_u64() % 1_000_000_000);
    let o = Command::new("psql")
        .args([url.as_str(), "-q", "-c", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("psql");
    assert!(o.status.success(), "psql: {}", text(&o.stderr));
    let (head, _) = url.rsplit_once('/').expect("postgres URL ends with /DB");
    format!("{head}/{name}")
}

/// Whether the PostgreSQL tests run: `RACONN_TEST_POSTGRES` set. The test
/// script sets it and `RACONN_REQUIRE_POSTGRES=1`, so CI cannot skip them.
fn pg_available() -> bool {
    if std::env::var("RACONN_TEST_POSTGRES").is_ok() {
        return true;
    }
    assert!(
        std::env::var("RACONN_REQUIRE_POSTGRES").as_deref() != Ok("1"),
        "RACONN_REQUIRE_POSTGRES=1 but RACONN_TEST_POSTGRES is not set"
    );
    eprintln!("RACONN_TEST_POSTGRES not set: PostgreSQL variant skipped (scripts/test.sh starts a server)");
    false
}

/// raconn.toml with a `devices` (P-256) profile and `[service]`; makes the
/// KEK and one token. Returns (config, token).
fn setup(e: &Env, db: &str, service_extra: &str) -> (PathBuf, String) {
    let extra = format!(
        "\n[profiles.devices]\ncertification_authority = \"localhost:{port}\"\ncertification_authority_name = \"Symantec\"\ncertificate_template = \"{DEVICES}\"\nsubject_name_format = \"common-name\"\nsubject_alternative_names = [\"email\"]\nkey = \"p256\"\n\n[service]\nlisten = \"127.0.0.1:0\"\ndatabase = \"{db}\"\nretry = {{ first_s = 1, max_s = 2, max_attempts = 0 }}\nlease_s = 6\n{service_extra}\n",
        port = e.server.addr.port()
    );
    let cfg = e.config("raconn.toml", &e.thumbprint, 5000, &extra);
    let o = raconn(&["--config", s(&cfg), "serve", "--init"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = raconn(&["--config", s(&cfg), "token", "add", "mdm"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let token = text(&o.stdout).trim().to_string();
    assert!(token.starts_with("rct_"), "{token}");
    (cfg, token)
}

fn device_body(cn: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"profile": "devices", "cn": cn, "email": format!("{cn}@contoso.com"), "pfx_password": PW})).unwrap()
}

/// Polls GET until the state is terminal (or `want`), at most `secs`.
fn wait_state(sv: &Serve, tok: &str, id: &str, want: &str, secs: u64) -> Value {
    let t0 = Instant::now();
    loop {
        let r = call(
            "GET",
            &format!("{}/v1/requests/{id}", sv.base),
            Some(tok),
            None,
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        if v["state"] == want {
            return v;
        }
        if t0.elapsed() > Duration::from_secs(secs) {
            panic!(
                "{id} is {} after {secs} s, not {want}: {v}\n{}",
                v["state"],
                sv.log()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn openssl_pfx_leaf(pfx: &[u8], dir: &Path, name: &str) -> String {
    let p = dir.join(format!("{name}.pfx"));
    std::fs::write(&p, pfx).unwrap();
    let o = Command::new("openssl")
        .args(["pkcs12", "-in", s(&p), "-clcerts", "-nokeys", "-passin"])
        .arg(format!("pass:{PW}"))
        .output()
        .expect("openssl");
    assert!(o.status.success(), "openssl pkcs12: {}", text(&o.stderr));
    text(&o.stdout)
}

/// Every endpoint, status and code on one database.
fn endpoints(pg: bool) {
    let e = env(ServerKey::P256);
    let db = database(&e, pg);
    let (cfg, tok) = setup(&e, &db, "");
    let mut sv = Serve::start(&cfg);
    let b = sv.base.clone();
    assert_eq!(call("GET", &format!("{b}/livez"), None, None).status, 200);

    // Authentication.
    let r = call(
        "PUT",
        &format!("{b}/v1/requests/r1"),
        None,
        Some(&device_body("dev-1")),
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["code"], "RC-SVC-007");
    assert!(r
        .header("www-authenticate")
        .unwrap_or("")
        .starts_with("Bearer"));
    let r = call(
        "GET",
        &format!("{b}/v1/requests/r1"),
        Some("rct_not-a-token"),
        None,
    );
    assert_eq!(r.status, 401);

    // Validation before anything is queued.
    let big = vec![b' '; 70 * 1024];
    let r = call(
        "PUT",
        &format!("{b}/v1/requests/r1"),
        Some(&tok),
        Some(&big),
    );
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["code"], "RC-SVC-008");
    let r = call(
        "PUT",
        &format!("{b}/v1/requests/r1"),
        Some(&tok),
        Some(b"{not json"),
    );
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (400, Some("RC-SVC-004"))
    );
    let r = call(
        "PUT",
        &format!("{b}/v1/requests/r1"),
        Some(&tok),
        Some(br#"{"profile":"devices","cn":"x","pfx_password":"p","colour":"red"}"#),
    );
    assert_eq!(r.status, 400);
    let r = call(
        "PUT",
        &format!("{b}/v1/requests/r1"),
        Some(&tok),
        Some(br#"{"profile":"nope","cn":"x","pfx_password":"p"}"#),
    );
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (400, Some("profile"))
    );
    let r = call(
        "PUT",
        &format!("{b}/v1/requests/r1"),
        Some(&tok),
        Some(br#"{"profile":"devices","cn":"","email":"a@contoso.com","pfx_password":"p"}"#),
    );
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (400, Some("cn")),
        "{}",
        r.json()
    );
    let r = call(
        "PUT",
        &format!("{b}/v1/requests/r1"),
        Some(&tok),
        Some(br#"{"profile":"devices","cn":"x","pfx_password":""}"#),
    );
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (400, Some("pfx_password"))
    );
    let r = call(
        "PUT",
        &format!("{b}/v1/requests/bad%20id"),
        Some(&tok),
        Some(&device_body("x")),
    );
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (400, Some("request_id")),
        "{}",
        r.json()
    );
    let r = call("PUT", &format!("{b}/v1/requests/r1"), Some(&tok), Some(br#"{"profile":"users","cn":"x","email":"x@contoso.com","upn":"x@corp","other_names":{"1.2.3":"04 01 00"},"pfx_password":"p"}"#));
    assert_eq!(r.status, 400, "{}", r.json());
    assert!(
        r.json()["field"]
            .as_str()
            .unwrap_or("")
            .starts_with("other_names"),
        "{}",
        r.json()
    );
    let r = call("GET", &format!("{b}/v1/requests/none"), Some(&tok), None);
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (404, Some("RC-SVC-006"))
    );
    let r = call(
        "GET",
        &format!("{b}/v1/requests?state=bogus"),
        Some(&tok),
        None,
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        e.sim.enrollments(),
        0,
        "nothing was sent for an invalid request"
    );

    // Submit: 202 + Location + Retry-After; the same again 200; another body 409.
    e.sim.set_fault(Fault::Delay(1500));
    let r = call(
        "PUT",
        &format!("{b}/v1/requests/r1"),
        Some(&tok),
        Some(&device_body("dev-1")),
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("location"), Some("/v1/requests/r1"));
    assert!(r.header("retry-after").is_some());
    assert_eq!(r.json()["state"], "queued");
    let r = call(
        "PUT",
        &format!("{b}/v1/requests/r1"),
        Some(&tok),
        Some(&device_body("dev-1")),
    );
    assert_eq!(r.status, 200);
    let r = call(
        "PUT",
        &format!("{b}/v1/requests/r1"),
        Some(&tok),
        Some(&device_body("dev-2")),
    );
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (409, Some("RC-SVC-005"))
    );
    let r = call("GET", &format!("{b}/v1/requests/r1/pfx"), Some(&tok), None);
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (409, Some("RC-SVC-009"))
    );
    e.sim.set_fault(Fault::None);
    let v = wait_state(&sv, &tok, "r1", "issued", 60);
    assert_eq!(
        v["certificate"]["subject"]
            .as_str()
            .map(|s| s.contains("dev-1")),
        Some(true),
        "{v}"
    );
    assert!(v["client_transaction_id"].is_string());
    let p1 = call("GET", &format!("{b}/v1/requests/r1/pfx"), Some(&tok), None);
    assert_eq!(p1.status, 200);
    assert_eq!(p1.header("content-type"), Some("application/x-pkcs12"));
    let p2 = call("GET", &format!("{b}/v1/requests/r1/pfx"), Some(&tok), None);
    assert_eq!(p1.body, p2.body, "the same PFX bytes on every call");
    let leaf = openssl_pfx_leaf(&p1.body, e.dir.path(), "r1");
    std::fs::write(e.path("r1.pem"), &leaf).unwrap();
    let o = Command::new("openssl")
        .args(["x509", "-in", s(&e.path("r1.pem")), "-noout", "-subject"])
        .output()
        .unwrap();
    assert!(text(&o.stdout).contains("dev-1"), "{}", text(&o.stdout));
    assert_eq!(e.sim.enrollments(), 1);

    // List.
    let r = call(
        "GET",
        &format!("{b}/v1/requests?state=issued&limit=10"),
        Some(&tok),
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["requests"][0]["request_id"], "r1");

    // Revoke.
    let r = call(
        "POST",
        &format!("{b}/v1/requests/r1/revoke"),
        Some(&tok),
        Some(br#"{"reason":"sometimes"}"#),
    );
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (400, Some("RC-REV-006"))
    );
    let r = call(
        "POST",
        &format!("{b}/v1/requests/none/revoke"),
        Some(&tok),
        Some(br#"{"reason":"superseded"}"#),
    );
    assert_eq!(r.status, 404);
    let r = call(
        "POST",
        &format!("{b}/v1/requests/r1/revoke"),
        Some(&tok),
        Some(br#"{"reason":"keyCompromise"}"#),
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let v = wait_state(&sv, &tok, "r1", "revoked", 30);
    assert_eq!(v["revocation"]["reason"], "keyCompromise");
    let r = call(
        "POST",
        &format!("{b}/v1/requests/r1/revoke"),
        Some(&tok),
        Some(br#"{"reason":"keyCompromise"}"#),
    );
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (409, Some("RC-SVC-010"))
    );
    let revoked = e
        .sim
        .recorded()
        .iter()
        .filter(|r| r.body.contains("updateCertificateStatus"))
        .count();
    assert_eq!(revoked, 1, "one revocation reached the CA");

    // A policy-verification failure fails at once, with its code, no retry.
    e.sim.set_fault(Fault::PolicyVerification);
    let r = call(
        "PUT",
        &format!("{b}/v1/requests/r2"),
        Some(&tok),
        Some(&device_body("dev-2")),
    );
    assert_eq!(r.status, 202);
    let v = wait_state(&sv, &tok, "r2", "failed", 30);
    assert_eq!(v["attempts"], 1, "{v}");
    assert_eq!(v["last_error"]["retryable"], false, "{v}");
    assert!(
        v["last_error"]["code"]
            .as_str()
            .unwrap_or("")
            .starts_with("RC-"),
        "{v}"
    );
    let r = call("GET", &format!("{b}/v1/requests/r2/pfx"), Some(&tok), None);
    assert_eq!(r.status, 409);
    // The list without a state: every state, newest first, `limit` honoured.
    let r = call("GET", &format!("{b}/v1/requests"), Some(&tok), None);
    assert_eq!(r.status, 200);
    let ids: Vec<_> = r.json()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["request_id"].as_str().unwrap_or("").to_string(),
                v["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(ids.first().map(|x| x.0.as_str()), Some("r2"), "{ids:?}");
    assert!(
        ids.iter().any(|x| x.1 == "revoked") && ids.iter().any(|x| x.1 == "failed"),
        "{ids:?}"
    );
    let r = call("GET", &format!("{b}/v1/requests?limit=1"), Some(&tok), None);
    assert_eq!(r.json()["requests"].as_array().map(Vec::len), Some(1));
    e.sim.set_fault(Fault::None);

    // Readiness: database, RA key, CA status UP.
    let t0 = Instant::now();
    loop {
        let r = call("GET", &format!("{b}/readyz"), None, None);
        if r.status == 200 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "not ready: {}",
            String::from_utf8_lossy(&r.body)
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Metrics, and no secret in metrics or logs.
    let m = String::from_utf8(call("GET", &format!("{b}/metrics"), None, None).body).unwrap();
    assert!(
        m.contains("raconn_requests_total{op=\"issue\",outcome=\"issued\"} 1"),
        "{m}"
    );
    assert!(m.contains("raconn_jobs{state=\"revoked\"} 1"), "{m}");
    assert!(m.contains("raconn_ca_call_duration_seconds_bucket"), "{m}");
    assert!(
        m.contains("raconn_ra_cert_not_after_timestamp_seconds"),
        "{m}"
    );
    assert!(m.contains("raconn_build_info{"), "{m}");
    let log = sv.log();
    for secret in [PW, tok.as_str()] {
        assert!(!m.contains(secret), "metrics carry a secret");
        assert!(!log.contains(secret), "the log carries a secret: {log}");
    }
    assert!(!m.contains("r1"), "no request id as a label");
    // Event IDs (the reference connector's ranges) ride on the log lines.
    let line_with = |parts: &[&str]| log.lines().any(|l| parts.iter().all(|p| l.contains(p)));
    assert!(
        line_with(&["event_id=10010", "raconn serve ready"]),
        "{log}"
    );
    assert!(
        line_with(&["request_id=r1", "issued", "event_id=1001 "]),
        "{log}"
    );
    assert!(
        line_with(&["request_id=r1", "revoked", "event_id=3001 "]),
        "{log}"
    );
    assert!(
        line_with(&["ERROR", "event_id=1002 ", "code=\"RC-"]),
        "{log}"
    );
    sv.kill9();
}

#[test]
fn endpoints_on_sqlite() {
    endpoints(false);
}

#[test]
fn endpoints_on_postgres() {
    if pg_available() {
        endpoints(true);
    }
}

#[test]
fn refusals_before_serving() {
    let e = env(ServerKey::P256);
    let db = format!("sqlite:{}", s(&e.path("raconn.db")));
    let extra = format!("\n[service]\nlisten = \"127.0.0.1:0\"\ndatabase = \"{db}\"\n");
    let cfg = e.config("raconn.toml", &e.thumbprint, 5000, &extra);
    // No token yet.
    let o = raconn(&["--config", s(&cfg), "serve"]);
    assert!(
        text(&o.stderr).contains("RC-SVC-014"),
        "{}",
        text(&o.stderr)
    );
    let o = raconn(&["--config", s(&cfg), "token", "add", "mdm"]);
    assert!(o.status.success());
    let o = raconn(&["--config", s(&cfg), "token", "add", "mdm"]);
    assert!(
        text(&o.stderr).contains("RC-SVC-015"),
        "{}",
        text(&o.stderr)
    );
    // No key-encryption key yet.
    let o = raconn(&["--config", s(&cfg), "serve"]);
    assert!(
        text(&o.stderr).contains("RC-SVC-003"),
        "{}",
        text(&o.stderr)
    );
    assert!(
        text(&o.stderr).contains("serve --init"),
        "{}",
        text(&o.stderr)
    );
    // Plain HTTP beyond loopback.
    let extra = format!("\n[service]\nlisten = \"0.0.0.0:0\"\ndatabase = \"{db}\"\n");
    let cfg2 = e.config("open.toml", &e.thumbprint, 5000, &extra);
    let o = raconn(&["--config", s(&cfg2), "serve"]);
    assert!(
        text(&o.stderr).contains("RC-SVC-001"),
        "{}",
        text(&o.stderr)
    );
    // A database that cannot be opened.
    let extra =
        "\n[service]\nlisten = \"127.0.0.1:0\"\ndatabase = \"sqlite:no/such/dir/raconn.db\"\n";
    let cfg3 = e.config("nodb.toml", &e.thumbprint, 5000, extra);
    let o = raconn(&["--config", s(&cfg3), "serve", "--init"]);
    assert!(
        text(&o.stderr).contains("RC-SVC-002"),
        "{}",
        text(&o.stderr)
    );
    // Unknown keys are errors.
    let cfg4 = e.config(
        "typo.toml",
        &e.thumbprint,
        5000,
        "\n[service]\nlisten_on = \"x\"\n",
    );
    let o = raconn(&["--config", s(&cfg4), "serve"]);
    assert!(
        text(&o.stderr).contains("RC-CONF-001"),
        "{}",
        text(&o.stderr)
    );
}

/// Retries end after `retry.max_attempts` (RC-SVC-012); a PFX past
/// `keep_issued_days` is gone (410, RC-SVC-011); `/readyz` says 503
/// (RC-SVC-013) while the CA does not answer its status UP.
#[test]
fn retry_limit_purge_and_readiness() {
    let e = env_with(ServerKey::P256, false);
    let db = database(&e, false);
    // The CA down for maintenance: health DOWN, every service 503.
    e.sim.set_fault(Fault::Down);
    let (cfg, tok) = setup(&e, &db, "keep_issued_days = 0");
    let text_cfg = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("max_attempts = 0", "max_attempts = 2");
    std::fs::write(&cfg, text_cfg).unwrap();
    let sv = Serve::start(&cfg);
    let b = sv.base.clone();
    let t0 = Instant::now();
    loop {
        let r = call("GET", &format!("{b}/readyz"), None, None);
        assert_eq!(r.status, 503);
        let v = r.json();
        assert_eq!(v["code"], "RC-SVC-013");
        assert_eq!(v["checks"]["database"], "ok", "{v}");
        if v["checks"]["ca:devices"]
            .as_str()
            .is_some_and(|c| c.starts_with("not UP"))
        {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "{v}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = call(
        "PUT",
        &format!("{b}/v1/requests/x1"),
        Some(&tok),
        Some(&device_body("x1")),
    );
    assert_eq!(r.status, 202);
    let v = wait_state(&sv, &tok, "x1", "failed", 30);
    assert_eq!(v["last_error"]["code"], "RC-SVC-012", "{v}");
    assert_eq!(v["attempts"], 2, "{v}");
    e.sim.set_fault(Fault::None);
    let r = call(
        "PUT",
        &format!("{b}/v1/requests/x2"),
        Some(&tok),
        Some(&device_body("x2")),
    );
    assert_eq!(r.status, 202);
    wait_state(&sv, &tok, "x2", "issued", 30);
    let r = call("GET", &format!("{b}/v1/requests/x2/pfx"), Some(&tok), None);
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (410, Some("RC-SVC-011"))
    );
}

/// The RSA key pool: nothing is made before a request asks for a size;
/// then `key_pool` keys are kept ready, each used by one request only
/// (the issued certificates' public keys, read by openssl, all differ).
#[test]
fn rsa_key_pool() {
    let e = env_with(ServerKey::P256, false);
    let db = database(&e, false);
    let extra = format!(
        "key_pool = 3\n\n[profiles.rsadev]\ncertification_authority = \"localhost:{}\"\ncertification_authority_name = \"Symantec\"\ncertificate_template = \"2.16.840.1.113733.1.16.1.2.3.1.1.47196110\"\nsubject_name_format = \"common-name\"\nkey = \"policy\"\n",
        e.server.addr.port()
    );
    let (cfg, tok) = setup(&e, &db, &extra);
    let sv = Serve::start(&cfg);
    let ready = || -> u64 {
        let m = String::from_utf8(call("GET", &format!("{}/metrics", sv.base), None, None).body)
            .unwrap();
        m.lines()
            .find_map(|l| l.strip_prefix("raconn_device_keys_ready "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no raconn_device_keys_ready:\n{m}"))
    };
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(ready(), 0, "keys made before any request asked for RSA");
    let put = |id: &str| {
        let body = serde_json::to_vec(&json!({"profile": "rsadev", "cn": id, "pfx_password": PW}))
            .unwrap();
        let r = call(
            "PUT",
            &format!("{}/v1/requests/{id}", sv.base),
            Some(&tok),
            Some(&body),
        );
        assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    };
    put("rsa-0");
    wait_state(&sv, &tok, "rsa-0", "issued", 60);
    let t0 = Instant::now();
    while ready() < 3 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the pool did not fill\n{}",
            sv.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for i in 1..=4 {
        put(&format!("rsa-{i}"));
    }
    let mut keys = Vec::new();
    for i in 0..=4 {
        let id = format!("rsa-{i}");
        wait_state(&sv, &tok, &id, "issued", 60);
        let pfx = call(
            "GET",
            &format!("{}/v1/requests/{id}/pfx", sv.base),
            Some(&tok),
            None,
        )
        .body;
        let leaf = openssl_pfx_leaf(&pfx, e.dir.path(), &id);
        let mut c = Command::new("openssl")
            .args(["x509", "-noout", "-pubkey"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        c.stdin.take().unwrap().write_all(leaf.as_bytes()).unwrap();
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success());
        let k = text(&o.stdout);
        assert!(k.contains("BEGIN PUBLIC KEY"), "{k}");
        keys.push(k);
    }
    assert_eq!(distinct(&keys), 5, "a pooled key was used twice");
    assert_eq!(e.sim.enrollments(), 5);
}

/// The policy cache: one worker fetches the profile's policy once for a
/// run of requests; a request that fails drops it, so the next asks the CA
/// again; `policy_cache_s = 0` fetches it for every request.
#[test]
fn policy_cache_and_its_invalidation() {
    let e = env_with(ServerKey::P256, false);
    let policy_calls = || {
        e.sim
            .recorded()
            .iter()
            .filter(|r| r.path.ends_with("/policyService"))
            .count()
    };
    let db = database(&e, false);
    let (cfg, tok) = setup(&e, &db, "workers = 1");
    let sv = Serve::start(&cfg);
    submit_many(&sv.base, &tok, "pc", 5);
    all_issued(&sv.base, &tok, "pc", 5, 60, &|| sv.log());
    assert_eq!(policy_calls(), 1, "{}", sv.log());
    assert_eq!(e.sim.enrollments(), 5);
    // The CA refuses an enrollment: the kept policy is dropped.
    e.sim.set_fault(Fault::PolicyVerification);
    submit_many(&sv.base, &tok, "pv", 1);
    wait_state(&sv, &tok, "pv-0", "failed", 30);
    assert_eq!(policy_calls(), 1, "the failed request used the kept policy");
    e.sim.set_fault(Fault::None);
    submit_many(&sv.base, &tok, "pd", 2);
    all_issued(&sv.base, &tok, "pd", 2, 60, &|| sv.log());
    assert_eq!(
        policy_calls(),
        2,
        "after a failure the policy is fetched again\n{}",
        sv.log()
    );
    drop(sv);
    // Off: a policy call per request.
    let cfg_off = cfg.with_file_name("raconn-off.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg_off,
        text.replace("workers = 1", "workers = 1\npolicy_cache_s = 0"),
    )
    .unwrap();
    let sv = Serve::start(&cfg_off);
    submit_many(&sv.base, &tok, "off", 3);
    all_issued(&sv.base, &tok, "off", 3, 60, &|| sv.log());
    assert_eq!(policy_calls(), 5, "{}", sv.log());
}

/// The same PUT 50 times at once: one request, one enrollment.
fn idempotent(pg: bool) {
    let e = env(ServerKey::P256);
    let db = database(&e, pg);
    let (cfg, tok) = setup(&e, &db, "");
    let sv = Serve::start(&cfg);
    let url = format!("{}/v1/requests/same", sv.base);
    let statuses: Vec<u16> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..50)
            .map(|_| sc.spawn(|| call("PUT", &url, Some(&tok), Some(&device_body("same"))).status))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        49,
        "{statuses:?}"
    );
    wait_state(&sv, &tok, "same", "issued", 60);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(e.sim.enrollments(), 1);
}

#[test]
fn fifty_concurrent_puts_one_enrollment_sqlite() {
    idempotent(false);
}

#[test]
fn fifty_concurrent_puts_one_enrollment_postgres() {
    if pg_available() {
        idempotent(true);
    }
}

/// Submits `n` device requests `prefix-0…`.
fn submit_many(base: &str, tok: &str, prefix: &str, n: usize) {
    std::thread::scope(|sc| {
        for k in 0..4 {
            sc.spawn(move || {
                for i in (k..n).step_by(4) {
                    let r = call(
                        "PUT",
                        &format!("{base}/v1/requests/{prefix}-{i}"),
                        Some(tok),
                        Some(&device_body(&format!("{prefix}-{i}"))),
                    );
                    assert!(
                        r.status == 202 || r.status == 200,
                        "{}",
                        String::from_utf8_lossy(&r.body)
                    );
                }
            });
        }
    });
}

/// Waits until every one of `n` is issued; returns the thumbprints.
fn all_issued(
    base: &str,
    tok: &str,
    prefix: &str,
    n: usize,
    secs: u64,
    log: &dyn Fn() -> String,
) -> Vec<String> {
    let t0 = Instant::now();
    let mut thumbs = vec![String::new(); n];
    let mut left: Vec<usize> = (0..n).collect();
    while !left.is_empty() {
        left.retain(|i| {
            let r = call(
                "GET",
                &format!("{base}/v1/requests/{prefix}-{i}"),
                Some(tok),
                None,
            );
            let v = r.json();
            assert_ne!(v["state"], "failed", "{v}");
            if v["state"] == "issued" {
                thumbs[*i] = v["certificate"]["thumbprint"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                false
            } else {
                true
            }
        });
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "{} not issued after {secs} s\n{}",
            left.len(),
            log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    thumbs
}

fn distinct(v: &[String]) -> usize {
    let mut s = v.to_vec();
    s.sort();
    s.dedup();
    s.len()
}

/// Delay, drop and HTTP 500 faults on for a while: every request ends
/// issued, none twice.
#[test]
fn faults_heal_without_duplicates() {
    let e = env_with(ServerKey::P256, false);
    let db = database(&e, false);
    let (cfg, tok) = setup(&e, &db, "");
    let sv = Serve::start(&cfg);
    let n = 20;
    for (f, label) in [
        (Fault::Http500, "500"),
        (Fault::Drop, "drop"),
        (Fault::Delay(6000), "delay"),
        (Fault::Down, "down"),
    ] {
        e.sim.set_fault(f);
        submit_many(&sv.base, &tok, label, n);
        std::thread::sleep(Duration::from_secs(3));
        e.sim.set_fault(Fault::None);
    }
    let mut thumbs = Vec::new();
    for label in ["500", "drop", "delay", "down"] {
        thumbs.extend(all_issued(&sv.base, &tok, label, n, 120, &|| sv.log()));
    }
    assert_eq!(distinct(&thumbs), 4 * n);
    assert_eq!(
        e.sim.certificates_issued(),
        4 * n,
        "no request issued twice\n{}",
        sv.log()
    );
    let m =
        String::from_utf8(call("GET", &format!("{}/metrics", sv.base), None, None).body).unwrap();
    assert!(m.contains("raconn_retries_total{reason=\"RC-"), "{m}");
}

/// `kill -9` of the only SQLite instance mid-run, then a restart: all
/// finish, none twice.
#[test]
fn kill_and_restart_on_sqlite() {
    let e = env_with(ServerKey::P256, false);
    let db = database(&e, false);
    let (cfg, tok) = setup(&e, &db, "grace_s = 1");
    let mut sv = Serve::start(&cfg);
    let n = 40;
    e.sim.set_fault(Fault::Delay(300));
    submit_many(&sv.base, &tok, "k", n);
    std::thread::sleep(Duration::from_millis(800));
    sv.kill9();
    e.sim.set_fault(Fault::None);
    let mut sv = Serve::start(&cfg);
    let thumbs = all_issued(&sv.base, &tok, "k", n, 120, &|| sv.log());
    assert_eq!(distinct(&thumbs), n);
    assert_eq!(e.sim.certificates_issued(), n, "{}", sv.log());
    // SIGHUP reloads the tokens: a token added now works after it.
    let o = raconn(&["--config", s(&cfg), "token", "add", "second"]);
    assert!(o.status.success());
    let second = text(&o.stdout).trim().to_string();
    let url = format!("{}/v1/requests/k-0", sv.base);
    assert_eq!(call("GET", &url, Some(&second), None).status, 401);
    let st = Command::new("kill")
        .args(["-HUP", &sv.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let t0 = Instant::now();
    while call("GET", &url, Some(&second), None).status != 200 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "SIGHUP did not reload the tokens\n{}",
            sv.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(sv.log().contains("reloaded"), "{}", sv.log());
    // SIGTERM with work in flight that outlasts grace_s: stop claiming,
    // release the leases, exit 0.
    e.sim.set_fault(Fault::Delay(4000));
    submit_many(&sv.base, &tok, "g", 2);
    let t0 = Instant::now();
    while call(
        "GET",
        &format!("{}/v1/requests?state=working", sv.base),
        Some(&tok),
        None,
    )
    .json()["requests"]
        .as_array()
        .map_or(0, Vec::len)
        == 0
    {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "nothing in flight\n{}",
            sv.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    sigterm_and_wait(&mut sv);
    assert!(sv.log().contains("releasing"), "{}", sv.log());
    // The next instance takes the released rows as queued work, not as
    // expired leases, and issues each once.
    e.sim.set_fault(Fault::None);
    let mut sv = Serve::start(&cfg);
    let thumbs = all_issued(&sv.base, &tok, "g", 2, 60, &|| sv.log());
    assert_eq!(distinct(&thumbs), 2);
    assert_eq!(e.sim.certificates_issued(), n + 2, "{}", sv.log());
    let m =
        String::from_utf8(call("GET", &format!("{}/metrics", sv.base), None, None).body).unwrap();
    assert!(
        m.lines().any(|l| l == "raconn_lease_expired_total 0"),
        "released rows were counted as expired leases:\n{m}"
    );
    sigterm_and_wait(&mut sv);
}

/// SIGTERM, then the exit within the grace period: status 0.
fn sigterm_and_wait(sv: &mut Serve) {
    let st = Command::new("kill")
        .args(["-TERM", &sv.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let t0 = Instant::now();
    let code = loop {
        if let Some(c) = sv.child.try_wait().unwrap() {
            break c;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(40),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(code.success(), "exit after SIGTERM: {code:?}\n{}", sv.log());
}

/// Two instances on one PostgreSQL, requests in flight, one `kill -9`ed:
/// the other finishes all; one certificate per request.
#[test]
fn failover_between_two_instances_on_postgres() {
    if !pg_available() {
        return;
    }
    // Validation of each request by the external validator is off for load;
    // the endpoint tests keep it on.
    let e = env_with(ServerKey::P256, false);
    let db = database(&e, true);
    let (cfg, tok) = setup(&e, &db, "workers = 4");
    let mut a = Serve::start(&cfg);
    let b = Serve::start(&cfg);
    let n: usize = std::env::var("RACONN_FAILOVER_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    e.sim.set_fault(Fault::Delay(20));
    let (ba, bb) = (a.base.clone(), b.base.clone());
    std::thread::scope(|sc| {
        sc.spawn(|| submit_many(&ba, &tok, "fa", n / 2));
        sc.spawn(|| submit_many(&bb, &tok, "fb", n - n / 2));
    });
    // Kill A once work is under way on both: A holds leases then.
    let t0 = Instant::now();
    let issued_before = loop {
        let r = call(
            "GET",
            &format!("{bb}/v1/requests?state=issued&limit=1000"),
            Some(&tok),
            None,
        );
        let k = r.json()["requests"].as_array().map_or(0, Vec::len);
        if k >= n / 10 {
            break k;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "no progress\n{}",
            b.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    a.kill9();
    assert!(
        issued_before < n,
        "the kill must come while requests are in flight"
    );
    e.sim.set_fault(Fault::None);
    let mut thumbs = all_issued(&b.base, &tok, "fa", n / 2, 600, &|| b.log());
    thumbs.extend(all_issued(&b.base, &tok, "fb", n - n / 2, 600, &|| b.log()));
    assert_eq!(distinct(&thumbs), n);
    assert_eq!(
        e.sim.certificates_issued(),
        n,
        "exactly one certificate per request"
    );
    let m = String::from_utf8(call("GET", &format!("{bb}/metrics"), None, None).body).unwrap();
    let taken: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("raconn_lease_expired_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(taken >= 1, "B took over none of A's leased requests:\n{m}");
    eprintln!("failover: {n} requests, A killed with {issued_before} issued; B took over {taken} leased request(s); {} enrollments, {} distinct certificates", e.sim.enrollments(), distinct(&thumbs));
}

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(o.status.success(), "openssl {args:?}: {}", text(&o.stderr));
}

/// A CA `name` (key + self-signed certificate) in `dir`.
fn ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-subj",
            &format!("/CN={name}"),
            "-days",
            "2",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
}

/// A leaf `name` signed by CA `by`, with extensions `ext`.
fn leaf(dir: &Path, name: &str, by: &str, ext: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={name}"),
        ],
    );
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{by}.pem"),
            "-CAkey",
            &format!("{by}.key"),
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
}

/// curl: (exit code, HTTP status, body).
fn curl(dir: &Path, args: &[&str]) -> (i32, u16, String) {
    let out = dir.join("curl.out");
    let _ = std::fs::remove_file(&out);
    let o = Command::new("curl")
        .current_dir(dir)
        .args([
            "-sS",
            "-o",
            s(&out),
            "-w",
            "%{http_code}",
            "--max-time",
            "20",
        ])
        .args(args)
        .output()
        .expect("curl");
    let status = text(&o.stdout).trim().parse().unwrap_or(0);
    (
        o.status.code().unwrap_or(-1),
        status,
        std::fs::read_to_string(&out).unwrap_or_default(),
    )
}

/// TLS on the API (any address), client certificates from `client_ca`
/// (curl, openssl-made certificates): no credential 401; a client
/// certificate or a token authenticates; a certificate of another CA gets
/// 401 naming why, even with a valid token beside it.
#[test]
fn tls_listener_and_client_certificates() {
    let e = env_with(ServerKey::P256, false);
    let d = e.dir.path();
    ca(d, "api-ca");
    leaf(
        d,
        "api",
        "api-ca",
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    );
    ca(d, "callers-ca");
    leaf(
        d,
        "mdm-client",
        "callers-ca",
        "extendedKeyUsage=clientAuth\n",
    );
    ca(d, "rogue-ca");
    leaf(
        d,
        "rogue-client",
        "rogue-ca",
        "extendedKeyUsage=clientAuth\n",
    );
    let db = database(&e, false);
    let (cfg, tok) = setup(
        &e,
        &db,
        "tls_cert = \"api.pem\"\ntls_key = \"api.key\"\nclient_ca = \"callers-ca.pem\"",
    );
    let t = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("listen = \"127.0.0.1:0\"", "listen = \"0.0.0.0:0\"");
    std::fs::write(&cfg, t).unwrap();
    let sv = Serve::start(&cfg);
    assert!(sv.base.starts_with("https://0.0.0.0:"), "{}", sv.base);
    let port = sv.base.rsplit(':').next().unwrap().to_string();
    let url = |p: &str| format!("https://localhost:{port}{p}");
    let (_, st, body) = curl(d, &["--cacert", "api-ca.pem", &url("/v1/requests/none")]);
    assert_eq!(st, 401, "{body}");
    let (_, st, body) = curl(
        d,
        &[
            "--cacert",
            "api-ca.pem",
            "--cert",
            "mdm-client.pem",
            "--key",
            "mdm-client.key",
            &url("/v1/requests/none"),
        ],
    );
    assert_eq!(st, 404, "{body}");
    assert!(body.contains("RC-SVC-006"), "{body}");
    let (_, st, _) = curl(
        d,
        &[
            "--cacert",
            "api-ca.pem",
            "-H",
            &format!("Authorization: Bearer {tok}"),
            &url("/v1/requests/none"),
        ],
    );
    assert_eq!(st, 404);
    for with_token in [false, true] {
        let bearer = format!("Authorization: Bearer {tok}");
        let mut args = vec![
            "--cacert",
            "api-ca.pem",
            "--cert",
            "rogue-client.pem",
            "--key",
            "rogue-client.key",
        ];
        if with_token {
            args.extend(["-H", bearer.as_str()]);
        }
        let u = url("/v1/requests/none");
        args.push(&u);
        let (code, st, body) = curl(d, &args);
        assert_eq!(
            (code, st),
            (0, 401),
            "a client certificate of another CA (token: {with_token}): {body}"
        );
        assert!(
            body.contains("RC-SVC-007")
                && body.contains("CN=rogue-client")
                && body.contains("client_ca"),
            "{body}"
        );
    }
    std::fs::write(d.join("body.json"), device_body("tls-1")).unwrap();
    let (_, st, body) = curl(
        d,
        &[
            "--cacert",
            "api-ca.pem",
            "--cert",
            "mdm-client.pem",
            "--key",
            "mdm-client.key",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "@body.json",
            &url("/v1/requests/tls-1"),
        ],
    );
    assert_eq!(st, 202, "{body}");
    let t0 = Instant::now();
    loop {
        let (_, st, body) = curl(
            d,
            &[
                "--cacert",
                "api-ca.pem",
                "--cert",
                "mdm-client.pem",
                "--key",
                "mdm-client.key",
                &url("/v1/requests/tls-1"),
            ],
        );
        assert_eq!(st, 200);
        if body.contains("\"issued\"") {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{body}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Plain HTTP is not served on that port.
    let (_, st, _) = curl(d, &[&format!("http://127.0.0.1:{port}/livez")]);
    assert_ne!(st, 200);
    // client_ca without TLS is refused.
    let t = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("tls_cert = \"api.pem\"\ntls_key = \"api.key\"\n", "");
    std::fs::write(&cfg, t).unwrap();
    let o = raconn(&["--config", s(&cfg), "serve"]);
    assert!(
        text(&o.stderr).contains("RC-SVC-001"),
        "{}",
        text(&o.stderr)
    );
}
