//! Device keys made ahead of time (`[service] key_pool`). An RSA-2048 key
//! costs 40–50 ms of prime search on this class of machine (the `rsa`
//! crate; aws-lc-rs measured 55 ms with its FIPS pairwise check, so it was
//! not swapped in), most of an RSA issuance. A bounded pool per RSA size
//! keeps up to `key_pool` keys ready, made by one background thread, so a
//! burst of requests after a quiet spell does not wait for prime search;
//! under sustained load the pool only moves that work to another thread.
//!
//! A size is pooled once a request asked for it (the profile's `key`, or
//! the size the CA's policy asks for). Each key is taken out of the pool
//! by exactly one request and exists only in this process's memory
//! (zeroized when dropped) until its request seals it into its row; a
//! restart discards the pool. P-256 and P-384 keys cost about 0.1 ms and
//! are made on demand.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raconn_core::inf::{HashAlgorithm, KeyKind};

use super::App;
use crate::keys::SoftKey;

/// Ready RSA device keys by size.
#[derive(Default)]
pub struct KeyPool {
    /// Keys kept ready per size (0: no pool).
    target: AtomicUsize,
    keys: Mutex<HashMap<u32, Vec<SoftKey>>>,
    /// RSA sizes requests asked for.
    wanted: Mutex<BTreeSet<u32>>,
}

impl KeyPool {
    /// A pool that keeps `target` keys per RSA size.
    pub fn new(target: usize) -> KeyPool {
        KeyPool {
            target: AtomicUsize::new(target),
            ..KeyPool::default()
        }
    }

    /// Changes how many keys are kept (`SIGHUP`); keys beyond it are dropped.
    pub fn set_target(&self, target: usize) {
        self.target.store(target, Ordering::SeqCst);
        if let Ok(mut k) = self.keys.lock() {
            for v in k.values_mut() {
                v.truncate(target);
            }
        }
    }

    /// A ready key of `kind`, taken out of the pool; `None` when there is
    /// none (the caller makes one). Marks an RSA size as wanted.
    pub fn take(&self, kind: KeyKind) -> Option<SoftKey> {
        let KeyKind::Rsa(bits) = kind else {
            return None;
        };
        if self.target.load(Ordering::SeqCst) == 0 {
            return None;
        }
        if let Ok(mut w) = self.wanted.lock() {
            w.insert(bits);
        }
        self.keys.lock().ok()?.get_mut(&bits)?.pop()
    }

    /// Keys ready, all sizes.
    pub fn ready(&self) -> usize {
        self.keys
            .lock()
            .map(|k| k.values().map(Vec::len).sum())
            .unwrap_or(0)
    }

    /// A wanted size with fewer keys than the target.
    fn short(&self) -> Option<u32> {
        let target = self.target.load(Ordering::SeqCst);
        let wanted: Vec<u32> = self.wanted.lock().ok()?.iter().copied().collect();
        let keys = self.keys.lock().ok()?;
        wanted
            .into_iter()
            .find(|b| keys.get(b).map_or(0, Vec::len) < target)
    }

    fn put(&self, bits: u32, key: SoftKey) {
        let target = self.target.load(Ordering::SeqCst);
        if let Ok(mut k) = self.keys.lock() {
            let v = k.entry(bits).or_default();
            if v.len() < target {
                v.push(key);
            }
        }
    }
}

/// Keeps the pool filled, one key at a time, until shutdown.
pub async fn fill_loop(app: Arc<App>) {
    while !app.stopping() {
        let Some(bits) = app.keys.short() else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let made = tokio::task::spawn_blocking(move || {
            SoftKey::generate(KeyKind::Rsa(bits), HashAlgorithm::Sha256)
        })
        .await;
        match made {
            Ok(Ok(k)) => app.keys.put(bits, k),
            Ok(Err(e)) => {
                tracing::warn!("key pool: RSA-{bits} key generation failed: {e}");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(e) => tracing::warn!("key pool: {e}"),
        }
    }
}
