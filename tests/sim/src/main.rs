//! `raconn-sim --dir DIR [--listen 127.0.0.1:0] [--profiles FILE] [--server-key rsa|p256] [--ra-csr FILE] [--fault NAME[@SERVICE]] [--ignore-repeated-ctid]`
//!
//! Makes a fresh test PKI, writes `DIR/root.pem` (trust anchor for the
//! server) and `DIR/ra-ca.pem`, signs `--ra-csr` into `DIR/ra.pem` when
//! given, prints the URL and serves until killed. `--fault` switches one
//! fault on for the whole run (for every service, or only `@policyService`,
//! `@enrollmentService`, `@certificateManagementService`): `delay-MS`,
//! `drop`, `http500`, `unknown-oid`, `policy-verification`,
//! `special-chars`, `pending-N`, `malformed-xml`, `wrong-key`,
//! `lose-reply`, `search-refused`, `endless-body`, `endless-chunked`,
//! `endless-head`, `slow-head`, `wrong-reply`, `down`. `--ignore-repeated-ctid` makes every
//! enrollment issue a new certificate even with a repeated clientTransactionID.

use std::path::PathBuf;

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn main() {
    let mut dir = PathBuf::from(".");
    let mut listen = "127.0.0.1:0".to_string();
    let mut profiles = raconn_sim::DEFAULT_PROFILES.to_string();
    let mut key = raconn_sim::ServerKey::P256;
    let mut ra_csr: Option<PathBuf> = None;
    let mut fault: Option<(raconn_sim::Fault, Option<String>)> = None;
    let mut ignore_repeats = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--ignore-repeated-ctid" {
            ignore_repeats = true;
            continue;
        }
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--fault" => {
                let (name, scope) = match v.split_once('@') {
                    Some((n, s)) => (n.to_string(), Some(s.to_string())),
                    None => (v.clone(), None),
                };
                let f = raconn_sim::Fault::parse(&name)
                    .unwrap_or_else(|| die(&format!("unknown fault {name:?}")));
                fault = Some((f, scope));
            }
            "--dir" => dir = v.into(),
            "--listen" => listen = v,
            "--profiles" => profiles = std::fs::read_to_string(&v).unwrap_or_else(|e| die(&format!("{v}: {e}"))),
            "--server-key" => key = if v == "rsa" { raconn_sim::ServerKey::Rsa2048 } else { raconn_sim::ServerKey::P256 },
            "--ra-csr" => ra_csr = Some(v.into()),
            _ => die("usage: raconn-sim --dir DIR [--listen ADDR] [--profiles FILE] [--server-key rsa|p256] [--ra-csr FILE] [--fault NAME[@SERVICE]] [--ignore-repeated-ctid]"),
        }
    }
    let profiles = raconn_sim::Profiles::from_toml(&profiles).unwrap_or_else(|e| die(&e));
    let sim = raconn_sim::Sim::new(profiles, key).unwrap_or_else(|e| die(&e));
    match fault {
        Some((f, Some(scope))) => sim.set_fault_for(&scope, f),
        Some((f, None)) => sim.set_fault(f),
        None => {}
    }
    sim.set_recognise_repeats(!ignore_repeats);
    let _ = std::fs::create_dir_all(&dir);
    let w = |name: &str, s: String| {
        std::fs::write(dir.join(name), s).unwrap_or_else(|e| die(&format!("{name}: {e}")))
    };
    w("root.pem", pem("CERTIFICATE", &sim.pki.root.der));
    w("ra-ca.pem", pem("CERTIFICATE", &sim.pki.ra_ca.der));
    if let Some(c) = ra_csr {
        let text =
            std::fs::read_to_string(&c).unwrap_or_else(|e| die(&format!("{}: {e}", c.display())));
        use base64::Engine as _;
        let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .unwrap_or_else(|e| die(&e.to_string()));
        let cert = sim.pki.issue_ra(&der, 1).unwrap_or_else(|e| die(&e));
        w("ra.pem", pem("CERTIFICATE", &cert));
    }
    let server = raconn_sim::server::start(sim, &listen, raconn_sim::server::Versions::Both)
        .unwrap_or_else(|e| die(&e));
    println!(
        "raconn-sim listening on https://{}/pki-ws/ (root: {})",
        server.addr,
        dir.join("root.pem").display()
    );
    loop {
        std::thread::park();
    }
}

fn die(msg: &str) -> ! {
    eprintln!("raconn-sim: {msg}");
    std::process::exit(2)
}
