//! Kept-alive CA connections (`ca_keep_alive_ms`) against raconn-sim, which
//! counts the TLS connections that carried requests: `raconn issue` makes
//! its policy and enrollment calls on one connection (two with
//! `ca_keep_alive_ms = 0`); a client's clones share kept connections; a
//! connection the server closed while idle, or one older than the setting,
//! is not used — the call opens a new one and succeeds, nothing is sent
//! twice; nor is one on which the server sent anything after its reply.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use raconn_core::pkiws::{policy, ACTION_POLICY, PATH_POLICY};
use raconn_sim::ServerKey;

/// raconn.toml with `ca_keep_alive_ms = ms` (None: the default).
fn config(e: &Env, name: &str, ms: Option<u64>) -> PathBuf {
    let p = e.config(name, &e.thumbprint, 10_000, "");
    if let Some(ms) = ms {
        let t = std::fs::read_to_string(&p).expect("read");
        std::fs::write(&p, format!("ca_keep_alive_ms = {ms}\n{t}")).expect("write");
    }
    p
}

fn issue_once(e: &Env, cfg: &Path, id: &str) {
    let out = e.path(&format!("{id}.pfx"));
    let i = IssueArgs::new(e, cfg, id, "Zoë Müller", s(&out));
    let o = raconn(&i.args());
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[test]
fn raconn_issue_uses_one_connection_for_policy_and_enrollment() {
    let e = env_with(ServerKey::P256, false);
    let kept = config(&e, "kept.toml", None);
    let before = (e.sim.connections(), e.sim.enrollments());
    issue_once(&e, &kept, "k-1");
    assert_eq!(e.sim.connections() - before.0, 1, "policy + enrollment");
    assert_eq!(e.sim.enrollments() - before.1, 1);

    let fresh = config(&e, "fresh.toml", Some(0));
    let before = (e.sim.connections(), e.sim.enrollments());
    issue_once(&e, &fresh, "f-1");
    assert_eq!(e.sim.connections() - before.0, 2, "one per call");
    assert_eq!(e.sim.enrollments() - before.1, 1);
}

/// Policy calls through the library's client: (status, connections the
/// client opened, connections the simulator counted) after each call.
fn policy_calls(e: &Env, cfg: &Path, gaps_ms: &[u64]) -> Vec<(u16, u64, usize)> {
    let cfg = raconn_host::config::load(cfg).expect("config");
    let p = cfg.profiles.get("users").expect("profile").clone();
    let client = raconn_host::issue::client(&cfg, &p).expect("client");
    let mut buf = vec![0u8; 4096];
    let body = policy::write_request(Some("ka-test"), &[&p.template], &mut buf)
        .expect("body")
        .to_string();
    let base = e.sim.connections();
    let mut seen = Vec::new();
    for gap in gaps_ms {
        std::thread::sleep(std::time::Duration::from_millis(*gap));
        // Each call through a clone of its own: clones share kept connections.
        let c = client.clone();
        let (status, reply) = c.post(PATH_POLICY, ACTION_POLICY, &body).expect("post");
        assert!(String::from_utf8_lossy(&reply).contains("getPoliciesResponse"));
        seen.push((
            status,
            client.connections_opened(),
            e.sim.connections() - base,
        ));
    }
    seen
}

/// The client's opened-connection counts after each call.
fn opened(seen: &[(u16, u64, usize)]) -> Vec<u64> {
    seen.iter().map(|x| x.1).collect()
}

#[test]
fn clones_share_kept_connections() {
    let e = env_with(ServerKey::P256, false);
    let cfg = config(&e, "kept.toml", Some(4000));
    let seen = policy_calls(&e, &cfg, &[0, 0, 10, 0, 50]);
    assert!(seen.iter().all(|(s, _, _)| *s == 200), "{seen:?}");
    assert_eq!(seen.last().map(|x| (x.1, x.2)), Some((1, 1)), "{seen:?}");
}

#[test]
fn a_connection_the_server_closed_is_not_used() {
    let e = env_with(ServerKey::P256, false);
    // The server closes idle connections after 100 ms; the client would
    // keep them 4 s: its peek sees the close and it connects again.
    e.sim.set_idle_close_ms(Some(100));
    let cfg = config(&e, "kept.toml", Some(4000));
    let seen = policy_calls(&e, &cfg, &[0, 0, 400, 0, 400]);
    assert!(seen.iter().all(|(s, _, _)| *s == 200), "{seen:?}");
    assert_eq!(opened(&seen), vec![1, 1, 2, 2, 3], "{seen:?}");
    assert_eq!(seen.last().map(|x| x.2), Some(3), "{seen:?}");
}

#[test]
fn a_connection_with_bytes_after_the_reply_is_not_used() {
    let e = env_with(ServerKey::P256, false);
    // A stray "200 OK" with an empty body follows every reply: on a reused
    // connection it would be read as the next call's reply. Whichever check
    // sees it first refuses the connection: the reply reader (it came with
    // the reply), rustls's buffer, or the peek before reuse.
    e.sim.set_stray_reply(true);
    let cfg = config(&e, "kept.toml", Some(4000));
    let seen = policy_calls(&e, &cfg, &[0, 20, 20]);
    assert_eq!(opened(&seen), vec![1, 2, 3], "{seen:?}");
}

#[test]
fn a_connection_older_than_the_setting_is_not_used() {
    let e = env_with(ServerKey::P256, false);
    let cfg = config(&e, "kept.toml", Some(150));
    let seen = policy_calls(&e, &cfg, &[0, 0, 400, 0]);
    assert_eq!(opened(&seen), vec![1, 1, 2, 2], "{seen:?}");

    let off = config(&e, "off.toml", Some(0));
    let seen = policy_calls(&e, &off, &[0, 0, 0]);
    assert_eq!(opened(&seen), vec![1, 2, 3], "{seen:?}");
}

#[test]
fn the_setting_is_bounded() {
    let e = env_with(ServerKey::P256, false);
    let bad = config(&e, "bad.toml", Some(300_001));
    let o = raconn(&["--config", s(&bad), "check"]);
    assert!(!o.status.success());
    let t = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(
        t.contains("ca_keep_alive_ms") && t.contains("RC-CONF-001"),
        "{t}"
    );
}
