//! The desktop host's issuance journal: a directory (`journal` in
//! raconn.toml) that stores, per request id, the core's transaction record
//! ([`raconn_core::issuance::record`]) and the device key. The rules — what
//! a record means, when it is written, how a run resumes — are the core's;
//! this module only keeps the bytes.
//!
//! | file | what |
//! |---|---|
//! | `<id>.rec` | the record, written atomically, 0600 |
//! | `<id>.key.p8` | the device key (PKCS#8 DER, 0600) |
//! | `<id>.lock` | locked (`flock`) by the process working on the id: a second process with the same id waits, then answers from the first one's record |
//! | `<id>.json` | a journal entry of raconn 0.1, read once and converted to `<id>.rec` |
//!
//! The directory is created 0700, and refused when group or others may
//! write it (as ssh refuses such a ~/.ssh). Temp files that a killed process left
//! behind (`.<name>.tmp-<pid>-<nonce>`, from [`crate::files::write_atomic`])
//! are removed when the journal is opened, once their process is gone.

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use raconn_core::issuance::{self, record, Order, Record, RecordState, TxError};
use serde::Deserialize;
use sha2::Digest;

use crate::config::Profile;
use crate::errors::{core, HostError};
use crate::files;
use crate::keys::SoftKey;

/// An open journal directory.
pub struct Journal {
    dir: PathBuf,
}

/// The lock on one request id; released when dropped (or when the process dies).
pub struct Lock {
    _file: fs::File,
}

impl Journal {
    /// Opens (creating it 0700 if needed) the journal in `dir`, and removes
    /// temp files whose writer is gone.
    pub fn open(dir: &Path) -> Result<Journal, HostError> {
        if !dir.exists() {
            crate::store::mkdir_private(dir)?;
        }
        crate::store::check_private_dir(dir)?;
        let j = Journal {
            dir: dir.to_path_buf(),
        };
        j.sweep();
        Ok(j)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn sweep(&self) {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = temp_file_pid(&name) else {
                continue;
            };
            if !process_alive(pid, &e.path()) {
                tracing::info!(file = %name, "removing a temp file left by a stopped raconn process");
                let _ = fs::remove_file(e.path());
            }
        }
    }

    fn path(&self, id: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{id}.{ext}"))
    }

    /// Locks `id` for this process, waiting while another process holds it.
    pub fn lock(&self, id: &str) -> Result<Lock, HostError> {
        let p = self.path(id, "lock");
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|err| HostError::Write {
                path: p.clone(),
                err,
            })?;
        match f.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                tracing::info!(
                    "another raconn process is working on this request id; waiting for it"
                );
                f.lock().map_err(|err| HostError::Write {
                    path: p.clone(),
                    err,
                })?;
            }
            Err(fs::TryLockError::Error(err)) => return Err(HostError::Write { path: p, err }),
        }
        Ok(Lock { _file: f })
    }

    /// The stored record of `id`: `<id>.rec`, else a raconn 0.1 `<id>.json`
    /// converted (for `order`, whose raconn 0.1 digest is `v0_digest`).
    pub fn record(&self, order: &Order<'_>, v0_digest: &str) -> Result<Option<Vec<u8>>, HostError> {
        let p = self.path(order.request_id, "rec");
        match fs::read(&p) {
            Ok(b) => return Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(HostError::Read { path: p, err }),
        }
        let jp = self.path(order.request_id, "json");
        if !jp.exists() {
            return Ok(None);
        }
        let rec = self.import_v0(&jp, order, v0_digest)?;
        self.save(order.request_id, &rec)?;
        tracing::info!(file = %jp.display(), "journal entry of raconn 0.1 converted to a record");
        Ok(Some(rec))
    }

    /// The stored record of `id` (`<id>.rec`), if any.
    pub fn read(&self, id: &str) -> Result<Option<Vec<u8>>, HostError> {
        let p = self.path(id, "rec");
        match fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(HostError::Read { path: p, err }),
        }
    }

    /// The request ids that have a record, sorted.
    pub fn ids(&self) -> Result<Vec<String>, HostError> {
        let rd = fs::read_dir(&self.dir).map_err(|err| HostError::Read {
            path: self.dir.clone(),
            err,
        })?;
        let mut ids: Vec<String> = rd
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.strip_suffix(".rec").map(str::to_string)
            })
            .filter(|id| raconn_core::issuance::check_request_id(id).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Stores the record of `id`.
    pub fn save(&self, id: &str, record: &[u8]) -> Result<(), HostError> {
        files::write_atomic(&self.path(id, "rec"), record, 0o600)
    }

    /// The reference a record keeps for the device key of `id`.
    pub fn key_reference(id: &str) -> String {
        format!("{id}.key.p8")
    }

    fn key_path(&self, reference: &[u8]) -> Result<PathBuf, HostError> {
        let name = std::str::from_utf8(reference).ok().filter(|n| {
            !n.is_empty()
                && !n.starts_with('.')
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        });
        match name {
            Some(n) => Ok(self.dir.join(n)),
            None => Err(core(TxError::RecordCorrupt { at: 0 })),
        }
    }

    /// Stores a device key under `reference`.
    pub fn save_key(&self, reference: &[u8], key: &SoftKey) -> Result<(), HostError> {
        files::write_atomic(&self.key_path(reference)?, &key.to_pkcs8()?, 0o600)
    }

    /// Loads the device key `reference` names; `None` when the file is gone.
    pub fn load_key(&self, reference: &[u8]) -> Result<Option<SoftKey>, HostError> {
        let p = self.key_path(reference)?;
        match fs::read(&p) {
            Ok(b) => SoftKey::from_pkcs8(&zeroize::Zeroizing::new(b)).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(HostError::Read { path: p, err }),
        }
    }

    /// Deletes the device key `reference` names.
    pub fn delete_key(&self, reference: &[u8]) -> Result<(), HostError> {
        let p = self.key_path(reference)?;
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(HostError::Write { path: p, err }),
        }
    }

    /// Converts a raconn 0.1 journal entry into a record.
    fn import_v0(
        &self,
        path: &Path,
        order: &Order<'_>,
        v0_digest: &str,
    ) -> Result<Vec<u8>, HostError> {
        let corrupt = || core(TxError::RecordCorrupt { at: 0 });
        let j: V0Entry = serde_json::from_slice(&files::read(path)?).map_err(|_| corrupt())?;
        if j.fingerprint != v0_digest {
            return Err(core(TxError::Conflict));
        }
        let reference = Self::key_reference(order.request_id);
        let key = self
            .load_key(reference.as_bytes())?
            .ok_or_else(|| core(TxError::DeviceKeyMissing))?;
        let b64 = |s: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|_| corrupt())
        };
        let state = match j.state.as_str() {
            "keyed" => RecordState::KeyMade,
            "issued" => RecordState::Issued,
            _ => return Err(corrupt()),
        };
        let cert = b64(&j.certificate)?;
        let chain: Vec<Vec<u8>> = j.chain.iter().map(|c| b64(c)).collect::<Result<_, _>>()?;
        let chain_refs: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
        // The fields raconn 0.1 kept, under this release's fingerprint of the same request.
        let r = Record {
            key_digest: Some(issuance::key_digest(key.spki())),
            client_transaction_id: &j.client_transaction_id,
            key_ref: reference.as_bytes(),
            server_transaction_id: &j.server_transaction_id,
            certificate: &cert,
            chain: record::Chain::List(&chain_refs),
            ..Record::new(state, issuance::fingerprint(order), order.request_id)
        };
        let mut out = vec![0u8; record::encoded_len(&r)];
        let n = record::encode(&r, &mut out).map_err(core)?;
        out.truncate(n);
        Ok(out)
    }
}

/// A raconn 0.1 journal entry (`<id>.json`).
#[derive(Deserialize)]
struct V0Entry {
    fingerprint: String,
    client_transaction_id: String,
    state: String,
    #[serde(default)]
    server_transaction_id: String,
    #[serde(default)]
    certificate: String,
    #[serde(default)]
    chain: Vec<String>,
}

/// The digest raconn 0.1 kept in `<id>.json` (SHA-256 of a JSON text of the
/// profile and the request), to recognise the request of such an entry.
pub fn v0_request_digest(
    p: &Profile,
    cn: &str,
    email: Option<&str>,
    upn: Option<&str>,
    other_names: &[(raconn_core::oid::Oid, String)],
) -> String {
    let v = serde_json::json!({
        "template": p.template, "format": p.subject_format.as_str(),
        "san": p.san.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>(),
        "cn": cn, "email": email, "upn": upn,
        "other": other_names.iter().map(|(o, v)| format!("{o}={v}")).collect::<Vec<_>>(),
    });
    let d = sha2::Sha256::digest(v.to_string().as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The pid in a temp file name `.<name>.tmp-<pid>-<nonce>`.
fn temp_file_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (_, tail) = rest.rsplit_once(".tmp-")?;
    let (pid, nonce) = tail.split_once('-')?;
    if nonce.is_empty() || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    pid.parse().ok()
}

/// Whether the process that writes `file` may still be running.
fn process_alive(pid: u32, file: &Path) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if cfg!(target_os = "linux") {
        return Path::new(&format!("/proc/{pid}")).exists();
    }
    // Elsewhere: a temp file older than an hour has no writer any more.
    fs::metadata(file)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_none_or(|age| age.as_secs() < 3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names() {
        assert_eq!(temp_file_pid(".a.key.p8.tmp-1234-0a1b2c"), Some(1234));
        assert_eq!(temp_file_pid(".a.rec.tmp-99-ff"), Some(99));
        assert_eq!(temp_file_pid("a.rec"), None);
        assert_eq!(temp_file_pid(".a.tmp-x-ff"), None);
        assert_eq!(temp_file_pid(".a.tmp-12-"), None);
    }
}
