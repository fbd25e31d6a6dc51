//! Helpers for raconn's interop tests: run the independent oracles
//! (openssl, Python `cryptography`) on what raconn produces.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Path of a file under `tests/`.
pub fn tests_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Runs a command, feeding `stdin`; returns (status ok, stdout, stderr).
pub fn run(cmd: &str, args: &[&str], stdin: Option<&[u8]>) -> (bool, String, String) {
    let mut c = Command::new(cmd);
    c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = c
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e} (CI installs it; see .ci/run)"));
    if let Some(data) = stdin {
        let mut si = child.stdin.take().expect("stdin");
        si.write_all(data).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `openssl req -verify -noout -text` on a DER CSR; panics unless it verifies.
pub fn openssl_req_text(der: &[u8]) -> String {
    let (ok, out, err) = run(
        "openssl",
        &["req", "-inform", "DER", "-verify", "-noout", "-text"],
        Some(der),
    );
    assert!(
        ok && (err.contains("verify OK") || out.contains("verify OK")),
        "openssl req -verify failed: {err}\n{out}"
    );
    out
}

/// Runs `tests/py/<script>` with JSON on stdin; returns its JSON answer.
pub fn python(script: &str, input: &serde_json::Value) -> serde_json::Value {
    let path = tests_path(&format!("py/{script}"));
    let (ok, out, err) = run(
        "python3",
        &[path.to_str().unwrap_or_default()],
        Some(input.to_string().as_bytes()),
    );
    assert!(ok, "python {script} failed:\n{err}\n{out}");
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("python {script} printed no JSON ({e}):\n{out}\n{err}"))
}

/// The appliance's flash image for a raconn-sim: the configuration (CA
/// `host:port`, the P-256 device profile, RA slot 0, device slot 1), an RA
/// certificate the simulator issues for the demo RA key, the simulator's
/// root as trust anchor and a cached policy reply — written through the
/// same `Store` the firmware reads with. `size` is the flash size.
pub fn appliance_flash_image(sim: &raconn_sim::Sim, host: &str, port: u16, size: usize) -> Vec<u8> {
    appliance_flash_image_with(sim, host, port, size, None)
}

/// [`appliance_flash_image`] whose configuration offers the CA
/// `max_fragment_length` (RFC 6066). Such an image has no cached policy:
/// the appliance's flash scratch is its TLS read buffer, 4 352 bytes for
/// 4 096, and sequential-storage reads an item whole (the policy reply is
/// 5.7 KB); the online issuance fetches the policy anyway.
pub fn appliance_flash_image_with(
    sim: &raconn_sim::Sim,
    host: &str,
    port: u16,
    size: usize,
    max_fragment_length: Option<u16>,
) -> Vec<u8> {
    use raconn_core::pkiws::{policy, ACTION_POLICY, PATH_POLICY};
    use raconn_embedded::hsm::SlotKey;
    use raconn_embedded::ram_flash::RamFlash;
    use raconn_embedded::soft_hsm::{SoftHsm, DEMO_RA_SCALAR};
    use raconn_embedded::store::{Config, Store};
    const PROFILE: &str = "2.16.840.1.113733.1.16.1.2.3.1.1.47196112";
    const MAX: usize = 64 * 1024;
    assert!(size <= MAX, "flash images up to {MAX} bytes");
    // The RA key as provisioned into the part at manufacturing (demo scalar).
    let mut hsm = SoftHsm::<2>::new([0; 32]);
    hsm.import_p256(0, &DEMO_RA_SCALAR).expect("import");
    let key = SlotKey::new(&hsm, 0).expect("slot");
    let mut der = [0u8; 1024];
    let csr = raconn_core::csr::build(
        &raconn_core::csr::CsrSpec::new("CN=raconn appliance RA"),
        &key,
        &mut der,
    )
    .expect("csr");
    let ra = sim.pki.issue_ra(csr, 1).expect("ra cert");
    let mut req = [0u8; 4096];
    let body = policy::write_request(Some("raconn-image-policy"), &[PROFILE], &mut req)
        .expect("policy request");
    let reply = sim.handle(PATH_POLICY, ACTION_POLICY, body.as_bytes());
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    embassy_futures::block_on(async {
        let mut store = Store::new(RamFlash::<MAX>::new(), 0..size as u32).expect("store");
        let mut scratch = vec![0u8; 8192];
        store
            .set_config(
                &Config {
                    host,
                    port,
                    profile_oid: PROFILE,
                    ra_slot: 0,
                    device_slot: 1,
                    max_fragment_length,
                },
                &mut scratch,
            )
            .await
            .expect("config");
        store.set_ra_cert(&ra, &mut scratch).await.expect("ra");
        store
            .set_anchor(&sim.pki.root.der, &mut scratch)
            .await
            .expect("anchor");
        if max_fragment_length.is_none() {
            store
                .set_policy(&reply.body, &mut scratch)
                .await
                .expect("policy");
        }
        store.into_flash().as_bytes()[..size].to_vec()
    })
}
