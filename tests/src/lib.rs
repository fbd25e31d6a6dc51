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
