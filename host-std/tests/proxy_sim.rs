//! raconn through a real HTTP proxy no one here wrote: Debian's tinyproxy,
//! started on loopback by this test. Issuance, revocation and `check`
//! through its CONNECT tunnel (the proxy's log shows the tunnel, the
//! simulator still sees mutual TLS with the RA certificate); a proxy that
//! demands credentials (407 → RC-HTTP-005, then credentials from the URL or
//! RACONN_PROXY_PASSWORD); one that refuses CONNECT to the CA's port (403 →
//! RC-HTTP-006); none listening (RC-HTTP-007); HTTPS_PROXY with NO_PROXY.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use common::*;
use raconn_sim::ServerKey;

struct Tinyproxy {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Tinyproxy {
    /// Starts tinyproxy on a free loopback port allowing CONNECT to `connect_port`.
    fn start(dir: &Path, name: &str, connect_port: u16, extra: &str) -> Tinyproxy {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = dir.join(format!("{name}.conf"));
        let log = dir.join(format!("{name}.log"));
        std::fs::write(
            &conf,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nAllow 127.0.0.1\nConnectPort {connect_port}\nMaxClients 50\nLogLevel Connect\nLogFile \"{}\"\n{extra}\n",
                log.display()
            ),
        )
        .unwrap();
        let child = Command::new("tinyproxy")
            .args(["-d", "-c"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tinyproxy (apt install tinyproxy; scripts/test.sh does)");
        let t = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t.elapsed().as_secs() < 10, "tinyproxy did not start");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Tinyproxy { child, port, log }
    }

    fn url(&self, userinfo: &str) -> String {
        format!("http://{userinfo}127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `raconn.toml` with `proxy` set (or not).
fn config(e: &Env, name: &str, proxy: Option<&str>) -> PathBuf {
    let p = e.config(name, &e.thumbprint, 10_000, "");
    if let Some(u) = proxy {
        let t = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, format!("proxy = \"{u}\"\n{t}")).unwrap();
    }
    p
}

fn raconn_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_raconn"));
    c.args(args)
        .env_remove("RACONN_STORE")
        .env_remove("RACONN_CONFIG")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env_remove("RACONN_PROXY_PASSWORD")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn issue(e: &Env, cfg: &Path, id: &str, env: &[(&str, &str)]) -> Output {
    let out = e.path(&format!("{id}.pfx"));
    let out_s = s(&out).to_string();
    raconn_env(&IssueArgs::new(e, cfg, id, "Zoe", &out_s).args(), env)
}

#[test]
fn issue_revoke_and_check_through_tinyproxy() {
    let e = env(ServerKey::P256);
    let sim_port = e.server.addr.port();
    let tp = Tinyproxy::start(e.dir.path(), "open", sim_port, "");
    let cfg = config(&e, "proxied.toml", Some(&tp.url("")));
    let o = issue(&e, &cfg, "px-1", &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(e.sim.enrollments(), 1);
    let log = tp.log();
    assert!(
        log.contains(&format!("CONNECT localhost:{sim_port}")),
        "{log}"
    );
    let o = raconn_env(
        &[
            "--config",
            s(&cfg),
            "revoke",
            "--request-id",
            "px-1",
            "--reason",
            "superseded",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = raconn_env(&["--config", s(&cfg), "check"], &[]);
    let t = text(&o.stdout);
    assert!(
        t.contains(&format!("via proxy http://127.0.0.1:{}", tp.port)),
        "{t}"
    );

    // HTTPS_PROXY from the environment; NO_PROXY sends it direct.
    let direct = config(&e, "direct.toml", None);
    let before = tp.log().matches("CONNECT localhost").count();
    let o = issue(&e, &direct, "px-env", &[("HTTPS_PROXY", &tp.url(""))]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let mid = tp.log().matches("CONNECT localhost").count();
    // Policy and enrollment through the proxy, in one kept tunnel.
    assert_eq!(mid, before + 1, "one CONNECT for policy and enrollment");
    let o = issue(
        &e,
        &direct,
        "px-noproxy",
        &[
            ("HTTPS_PROXY", &tp.url("")),
            ("NO_PROXY", "example.org, localhost"),
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        tp.log().matches("CONNECT localhost").count(),
        mid,
        "NO_PROXY: direct"
    );
}

#[test]
fn proxies_that_refuse_say_why() {
    let e = env(ServerKey::P256);
    let sim_port = e.server.addr.port();
    // Credentials required.
    let auth = Tinyproxy::start(e.dir.path(), "auth", sim_port, "BasicAuth raconn s3cr3t-pw");
    let cfg = config(&e, "noauth.toml", Some(&auth.url("")));
    let o = issue(&e, &cfg, "pa-1", &[]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("RC-HTTP-005") && err.contains("407"), "{err}");
    let cfg = config(&e, "auth.toml", Some(&auth.url("raconn:s3cr3t%2Dpw@")));
    let o = issue(&e, &cfg, "pa-2", &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let cfg = config(&e, "auth-env.toml", Some(&auth.url("raconn@")));
    let o = issue(&e, &cfg, "pa-3", &[("RACONN_PROXY_PASSWORD", "s3cr3t-pw")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = issue(&e, &cfg, "pa-4", &[("RACONN_PROXY_PASSWORD", "wrong")]);
    assert!(
        text(&o.stderr).contains("RC-HTTP-005"),
        "{}",
        text(&o.stderr)
    );
    // CONNECT to the CA's port not allowed.
    let strict = Tinyproxy::start(e.dir.path(), "strict", 1, "");
    let cfg = config(&e, "strict.toml", Some(&strict.url("")));
    let o = issue(&e, &cfg, "pr-1", &[]);
    let err = text(&o.stderr);
    assert!(err.contains("RC-HTTP-006") && err.contains("403"), "{err}");
    // Nobody listening.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = config(
        &e,
        "closed.toml",
        Some(&format!("http://127.0.0.1:{closed}")),
    );
    let o = issue(&e, &cfg, "pu-1", &[]);
    let err = text(&o.stderr);
    assert!(err.contains("RC-HTTP-007"), "{err}");
    // A proxy URL raconn cannot use is a configuration error.
    let cfg = config(&e, "bad.toml", Some("https://proxy:3128"));
    let o = issue(&e, &cfg, "pb-1", &[]);
    let err = text(&o.stderr);
    assert!(
        err.contains("RC-CONF-001") && err.contains("proxy"),
        "{err}"
    );
    assert_eq!(
        e.sim.enrollments(),
        2,
        "only the two runs with credentials enrolled"
    );
    // The password never reaches a log line or an error.
    let o = issue(
        &e,
        &config(&e, "auth2.toml", Some(&auth.url("raconn:s3cr3t%2Dpw@"))),
        "pa-5",
        &[],
    );
    assert!(!text(&o.stderr).contains("s3cr"), "{}", text(&o.stderr));
}
