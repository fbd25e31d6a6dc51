//! File helpers: atomic writes with a chosen mode, and reading PEM bundles or
//! DER files into labelled DER blocks.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use raconn_core::pem::{self, PemKind};

use crate::errors::HostError;

/// Refuses a target that exists and is not a regular file (a device node,
/// a FIFO, a directory): an atomic write would replace it.
pub fn check_target(path: &Path) -> Result<(), HostError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(m) if m.file_type().is_symlink() => match fs::metadata(path) {
            Ok(t) if t.is_file() => Ok(()),
            Ok(_) => Err(not_regular(path)),
            Err(_) => Ok(()),
        },
        Ok(_) => Err(not_regular(path)),
        Err(_) => Ok(()),
    }
}

/// Checks, before anything costly is made, that `path` can be written: the
/// target is a regular file or absent, and its directory exists and takes
/// a new file (probed with a temporary file, removed at once).
pub fn check_writable(path: &Path) -> Result<(), HostError> {
    check_target(path)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let probe = dir.join(format!(".raconn-probe-{}", std::process::id()));
    let r = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe);
    match r {
        Ok(f) => {
            drop(f);
            let _ = fs::remove_file(&probe);
            Ok(())
        }
        Err(err) => Err(HostError::Write {
            path: path.to_path_buf(),
            err,
        }),
    }
}

fn not_regular(path: &Path) -> HostError {
    HostError::Write {
        path: path.to_path_buf(),
        err: std::io::Error::other(
            "not a regular file: raconn writes only to a regular file or a new path (for standard output, give -)",
        ),
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory created with `mode` (never wider), flushed to disk, renamed over
/// the target, and the directory synced. A crash leaves either the old file
/// or the new one, never half of one. A target that is not a regular file
/// (a device, a FIFO) is refused, never replaced. On Windows `mode` is not
/// applied: the file takes the directory's ACL (keep the store directory's
/// ACL narrow).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), HostError> {
    check_target(path)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let werr = |err| HostError::Write {
        path: path.to_path_buf(),
        err,
    };
    let mut nonce = [0u8; 6];
    getrandom::fill(&mut nonce).map_err(|e| werr(std::io::Error::other(e.to_string())))?;
    let tmp: PathBuf = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        nonce.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ));
    let result = (|| {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, mode);
        #[cfg(not(unix))]
        let _ = mode;
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(werr)
}

/// Reads a file.
pub fn read(path: &Path) -> Result<Vec<u8>, HostError> {
    fs::read(path).map_err(|err| HostError::Read {
        path: path.to_path_buf(),
        err,
    })
}

/// One DER object from a file.
#[derive(Debug, Clone)]
pub struct Block {
    /// What the PEM label (or, for DER, the structure) says it is.
    pub kind: PemKind,
    /// The PEM label, or `DER`.
    pub label: String,
    /// The DER bytes.
    pub der: Vec<u8>,
}

/// Reads every PEM block of a file, or the file as one DER object.
pub fn read_blocks(path: &Path) -> Result<Vec<Block>, HostError> {
    let data = read(path)?;
    parse_blocks(&data).map_err(|what| HostError::Unrecognised {
        path: path.to_path_buf(),
        what,
    })
}

/// Splits PEM text into blocks, or takes binary input as one DER object.
pub fn parse_blocks(data: &[u8]) -> Result<Vec<Block>, String> {
    let text = std::str::from_utf8(data)
        .ok()
        .filter(|t| t.contains("-----BEGIN "));
    let Some(text) = text else {
        // DER: sniff the structure.
        let kind = sniff_der(data);
        return Ok(vec![Block {
            kind,
            label: "DER".into(),
            der: data.to_vec(),
        }]);
    };
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start..];
        let label_end = after[11..]
            .find("-----")
            .ok_or("PEM BEGIN line is not closed")?
            + 11;
        let label = &after[11..label_end];
        let end_marker = format!("-----END {label}-----");
        let end = after
            .find(&end_marker)
            .ok_or_else(|| format!("no END line for PEM block {label:?}"))?;
        let block = &after[..end + end_marker.len()];
        // Normalise line endings and strip trailing spaces, as people paste.
        let clean: String = block
            .lines()
            .map(|l| l.trim_end())
            .collect::<Vec<_>>()
            .join("\n")
            + "\n";
        let mut buf = vec![0u8; clean.len()];
        let (lbl, der) = pem::decode(clean.as_bytes(), &mut buf)
            .map_err(|e| format!("PEM block {label:?}: {e}"))?;
        let kind = match pem::kind_of(lbl) {
            PemKind::Other => sniff_der(der),
            k => k,
        };
        out.push(Block {
            kind,
            label: lbl.to_string(),
            der: der.to_vec(),
        });
        rest = &after[end + end_marker.len()..];
    }
    if out.is_empty() {
        return Err("no PEM block found".into());
    }
    Ok(out)
}

/// Guesses what a DER object is.
pub fn sniff_der(der: &[u8]) -> PemKind {
    if raconn_core::cert::CertificateRef::parse(der).is_ok() {
        PemKind::Certificate
    } else if raconn_core::csr::CsrRef::parse(der).is_ok() {
        PemKind::Csr
    } else if raconn_core::cert::Pkcs7Ref::parse(der).is_ok() {
        PemKind::Pkcs7
    } else {
        PemKind::Other
    }
}

/// Every certificate in a file: certificates, and those inside PKCS#7 blocks.
pub fn certificates_in(path: &Path) -> Result<Vec<Vec<u8>>, HostError> {
    let mut certs = Vec::new();
    for b in read_blocks(path)? {
        match b.kind {
            PemKind::Certificate => certs.push(b.der),
            PemKind::Pkcs7 => {
                let p = raconn_core::cert::Pkcs7Ref::parse(&b.der).map_err(crate::errors::core)?;
                for c in p.certificates() {
                    certs.push(c.map_err(crate::errors::core)?.der.to_vec());
                }
            }
            _ => {}
        }
    }
    Ok(certs)
}

/// PEM text of a DER object.
pub fn to_pem(label: &str, der: &[u8]) -> String {
    let mut buf = vec![0u8; pem::encoded_len(label, der) + 1];
    match pem::encode(label, der, &mut buf) {
        Ok(s) => s.to_string(),
        Err(_) => String::new(),
    }
}
