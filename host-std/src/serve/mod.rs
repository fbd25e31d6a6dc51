//! `raconn serve`: the connector as a service. Callers (an MDM, IdM or
//! automation) `PUT` certificate requests under their own request id;
//! workers in one or many instances, sharing a SQLite file or a PostgreSQL
//! database, claim them, drive the core's issuance transaction from the
//! request's row ([`worker`]), and keep the PFX for `GET …/pfx`. The rules
//! of a transaction — one request id, one certificate; resume from the
//! record; search after a lost reply — are the core's
//! ([`raconn_core::issuance`]); this module schedules, stores and serves.
//!
//! | module | holds |
//! |---|---|
//! | [`db`] | the request table (SQLite / PostgreSQL), claims and leases |
//! | [`worker`] | claiming, driving, retry and poll scheduling, revocation |
//! | [`api`] | the HTTP API (axum), authentication, health, metrics |
//! | [`listen`] | the API's listener: loopback TCP, or TLS with optional client certificates |
//! | [`seal`] | the key-encryption key: sealed device keys and passwords |
//! | [`tokens`] | bearer tokens (hashes in a file) |
//! | [`metrics`] | Prometheus metrics |
//! | [`eventlog`] | event IDs on every log line; the Windows Event Log layer |
//!
//! Libraries: tokio and axum 0.8 (HTTP/1.1 server), sqlx 0.9 (both
//! databases, one API, migrations), prometheus-client, sd-notify.

pub mod api;
pub mod db;
pub mod eventlog;
pub mod keypool;
pub mod listen;
pub mod metrics;
pub mod seal;
pub mod tokens;
#[cfg(windows)]
pub mod winsvc;
pub mod worker;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use raconn_core::error::Explain;
use serde::{Deserialize, Serialize};

use crate::config::{Config, Profile};
use crate::errors::{HostError, ServiceError};
use crate::issue::{CaSlot, IssueArgs};

/// Unix milliseconds by this machine's clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The subject data of a request as stored in its row (no password).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Params {
    pub cn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub other_names: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl Params {
    /// The issuance arguments (`out` unused by the service).
    pub fn issue_args(&self, request_id: &str, password: &str) -> Result<IssueArgs, HostError> {
        let mut other_names = Vec::new();
        for (oid, v) in &self.other_names {
            let o = raconn_core::oid::Oid::new(oid.trim()).map_err(|_| ServiceError::BadBody {
                field: format!("other_names.{oid}"),
                msg: "not an OID (dotted decimal, e.g. 1.3.6.1.4.1.311.25.1)".into(),
            })?;
            other_names.push((o, v.clone()));
        }
        Ok(IssueArgs {
            request_id: request_id.to_string(),
            cn: self.cn.clone(),
            email: self.email.clone(),
            upn: self.upn.clone(),
            other_names,
            out: std::path::PathBuf::new(),
            password: password.to_string(),
            sid: self.sid.clone(),
        })
    }
}

/// `last_error` of a request, as stored and as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastError {
    pub code: String,
    pub message: String,
    pub remedy: String,
    pub retryable: bool,
}

impl LastError {
    /// Of an error with its detail.
    pub fn of(e: &dyn Explain, detail: String, retryable: bool) -> LastError {
        LastError {
            code: e.code().into(),
            message: if detail.is_empty() {
                e.message().to_string()
            } else if detail.starts_with(e.code()) {
                detail
            } else {
                format!("{}: {detail}", e.message())
            },
            remedy: e.remedy().into(),
            retryable,
        }
    }

    /// As JSON text.
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What the CA's health check last said, per profile.
#[derive(Debug, Clone)]
pub struct CaStatus {
    pub at_ms: i64,
    pub up: bool,
    pub detail: String,
}

/// A profile's policy reply, and when the CA gave it.
type KeptPolicy = (std::time::Instant, Arc<Vec<u8>>);

/// The running service, shared by the API and the workers.
pub struct App {
    cfg: RwLock<Arc<Config>>,
    pub db: db::Db,
    pub kek: seal::Kek,
    tokens: RwLock<tokens::Tokens>,
    pub metrics: metrics::Metrics,
    pub instance: String,
    ca_clients: Mutex<HashMap<String, CaSlot>>,
    /// Per profile: when its policy was fetched, and the CA's reply.
    policies: Mutex<HashMap<String, KeptPolicy>>,
    /// RSA device keys made ahead of time.
    pub keys: keypool::KeyPool,
    pub ca_status: Mutex<BTreeMap<String, CaStatus>>,
    notify: tokio::sync::Notify,
    stopping: AtomicBool,
}

impl App {
    /// The current configuration (replaced on `SIGHUP`).
    pub fn cfg(&self) -> Arc<Config> {
        self.cfg
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// The bearer tokens.
    pub fn tokens(&self) -> tokens::Tokens {
        self.tokens.read().map(|t| t.clone()).unwrap_or_default()
    }

    /// True once shutdown began.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Wakes a worker (a request was queued).
    pub fn wake(&self) {
        self.notify.notify_one();
    }

    /// Waits for new work, at most 250 ms (due retries and expired leases are found by polling).
    pub async fn idle(&self) {
        let _ = tokio::time::timeout(
            std::time::Duration::from_millis(250),
            self.notify.notified(),
        )
        .await;
    }

    /// A kept CA client for `p`, if any.
    pub fn ca_client(&self, _cfg: &Config, p: &Profile) -> Result<CaSlot, HostError> {
        let m = self
            .ca_clients
            .lock()
            .map_err(|_| ServiceError::Database("lock".into()))?;
        Ok(m.get(&p.name).cloned().flatten())
    }

    /// Keeps a CA client for the next request of profile `name`.
    pub fn keep_ca_client(&self, name: &str, slot: CaSlot) {
        if slot.is_some() {
            if let Ok(mut m) = self.ca_clients.lock() {
                m.entry(name.to_string()).or_insert(slot);
            }
        }
    }

    /// The policy of `profile` fetched less than `policy_cache_s` ago.
    pub fn policy(&self, profile: &str) -> Option<Arc<Vec<u8>>> {
        let ttl = std::time::Duration::from_secs(u64::from(self.cfg().service.policy_cache_s));
        let m = self.policies.lock().ok()?;
        m.get(profile)
            .filter(|(at, _)| at.elapsed() < ttl)
            .map(|(_, r)| r.clone())
    }

    /// Keeps the CA's policy reply for `profile`.
    pub fn keep_policy(&self, profile: &str, reply: &[u8]) {
        if self.cfg().service.policy_cache_s == 0 {
            return;
        }
        if let Ok(mut m) = self.policies.lock() {
            m.insert(
                profile.to_string(),
                (std::time::Instant::now(), Arc::new(reply.to_vec())),
            );
        }
    }

    /// Drops the kept policy of `profile` (all with `None`): the next
    /// request asks the CA.
    pub fn forget_policy(&self, profile: Option<&str>) {
        if let Ok(mut m) = self.policies.lock() {
            match profile {
                Some(p) => {
                    m.remove(p);
                }
                None => m.clear(),
            }
        }
    }

    /// `SIGHUP`: reads raconn.toml and the tokens again and drops the CA
    /// clients, so a rotated RA certificate is used from the next request.
    pub fn reload(&self) -> Result<(), HostError> {
        let path = self.cfg().path.clone();
        let cfg = crate::config::load(&path)?;
        let t = tokens::Tokens::load(&cfg.service.tokens)?;
        set_ra_not_after(&self.metrics, &cfg);
        if let Ok(mut c) = self.cfg.write() {
            *c = Arc::new(cfg);
        }
        if let Ok(mut tk) = self.tokens.write() {
            *tk = t;
        }
        if let Ok(mut m) = self.ca_clients.lock() {
            m.clear();
        }
        self.forget_policy(None);
        self.keys.set_target(self.cfg().service.key_pool);
        tracing::info!(
            event_id = eventlog::RELOADED,
            "configuration, tokens and RA certificate reloaded"
        );
        Ok(())
    }
}

fn set_ra_not_after(m: &metrics::Metrics, cfg: &Config) {
    if let Ok((der, _)) = crate::issue::ra_identity(cfg) {
        if let Ok(c) = raconn_core::cert::CertificateRef::parse(&der) {
            m.ra_not_after.set(c.not_after.unix());
        }
    }
}

fn instance_id(cfg: &Config) -> String {
    cfg.service.instance.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("COMPUTERNAME").ok())
            .unwrap_or_else(|| "raconn".into());
        format!("{host}-{}", std::process::id())
    })
}

/// `raconn serve --init`: makes the key-encryption key if missing and
/// creates or migrates the database. Returns what it did, line by line.
pub fn init(cfg: &Config) -> Result<Vec<String>, HostError> {
    let mut did = Vec::new();
    if seal::Kek::init(&cfg.service.kek)? {
        did.push(format!(
            "key-encryption key made: {} (0600; every instance on this database needs a copy)",
            cfg.service.kek.display()
        ));
    } else {
        did.push(format!(
            "key-encryption key present: {}",
            cfg.service.kek.display()
        ));
    }
    seal::Kek::load(&cfg.service.kek)?;
    let rt = runtime(1)?;
    rt.block_on(db::Db::open(&cfg.service.database, 2))?;
    did.push(format!(
        "database ready: {}",
        redact_url(&cfg.service.database)
    ));
    if tokens::Tokens::load(&cfg.service.tokens)?.is_empty() {
        did.push("no bearer token yet: `raconn token add NAME` makes one".into());
    }
    Ok(did)
}

/// A database URL without its password.
pub fn redact_url(u: &str) -> String {
    match (u.find("://"), u.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let cred = &u[s + 3..at];
            match cred.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &u[..s + 3], &u[at..]),
                None => u.to_string(),
            }
        }
        _ => u.to_string(),
    }
}

fn runtime(workers: usize) -> Result<tokio::runtime::Runtime, HostError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .max_blocking_threads(512)
        .enable_all()
        .build()
        .map_err(|e| HostError::Output(format!("tokio runtime: {e}")))
}

fn is_loopback(a: &std::net::SocketAddr) -> bool {
    a.ip().is_loopback()
}

/// Runs the service until `SIGTERM`/`SIGINT` (`SIGHUP` reloads).
pub fn run(config_path: &Path) -> Result<(), HostError> {
    run_with(
        config_path,
        |addr, workers, instance, scheme| {
            eprintln!(
                "raconn serve: listening on {scheme}://{addr} ({workers} workers, instance {instance})"
            );
        },
        None,
    )
}

/// Runs the service; `ready` is told the bound address, the workers and
/// the instance id once it serves. It stops on `SIGTERM`/`SIGINT`, or
/// when `stop` (if given) receives — for a service embedded in a program,
/// as the quickstart runs it.
pub fn run_with(
    config_path: &Path,
    ready: impl FnOnce(std::net::SocketAddr, usize, &str, &str),
    stop: Option<tokio::sync::oneshot::Receiver<()>>,
) -> Result<(), HostError> {
    let cfg = crate::config::load(config_path)?;
    let sc = cfg.service.clone();
    if sc.tls.is_none() && !is_loopback(&sc.listen) {
        return Err(ServiceError::PlainHttp(format!(
            "listen = {} without tls_cert/tls_key in [service] of {}",
            sc.listen,
            cfg.path.display()
        ))
        .into());
    }
    if sc.client_ca.is_some() && sc.tls.is_none() {
        return Err(ServiceError::PlainHttp(format!(
            "client_ca in {} needs TLS on the API: set tls_cert and tls_key",
            cfg.path.display()
        ))
        .into());
    }
    let tls_cfg = match &sc.tls {
        Some((c, k)) => Some(listen::server_config(c, k, sc.client_ca.as_deref())?),
        None => None,
    };
    let toks = tokens::Tokens::load(&sc.tokens)?;
    if toks.is_empty() && sc.client_ca.is_none() {
        return Err(ServiceError::NoAuth(format!(
            "no token in {} and no client_ca",
            sc.tokens.display()
        ))
        .into());
    }
    let kek = seal::Kek::load(&sc.kek)?;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let workers = if sc.workers == 0 { cores } else { sc.workers };
    let rt = runtime(cores)?;
    rt.block_on(async move {
        let db = db::Db::open(&sc.database, u32::try_from(workers + 4).unwrap_or(64)).await?;
        let instance = instance_id(&cfg);
        let metrics = metrics::Metrics::new(&instance);
        set_ra_not_after(&metrics, &cfg);
        // The RA key must be there before READY=1.
        crate::issue::ra_identity(&cfg)?;
        let app = Arc::new(App {
            cfg: RwLock::new(Arc::new(cfg)),
            db,
            kek,
            tokens: RwLock::new(toks),
            metrics,
            instance: instance.clone(),
            ca_clients: Mutex::new(HashMap::new()),
            policies: Mutex::new(HashMap::new()),
            keys: keypool::KeyPool::new(sc.key_pool),
            ca_status: Mutex::new(BTreeMap::new()),
            notify: tokio::sync::Notify::new(),
            stopping: AtomicBool::new(false),
        });
        let listener = tokio::net::TcpListener::bind(sc.listen)
            .await
            .map_err(|e| HostError::Output(format!("listen on {}: {e}", sc.listen)))?;
        let addr = listener.local_addr().map_err(|e| HostError::Output(e.to_string()))?;
        let mut tasks = Vec::new();
        for n in 0..workers {
            tasks.push(tokio::spawn(worker::run(app.clone(), n)));
        }
        tokio::spawn(api::health_loop(app.clone()));
        tokio::spawn(purge_loop(app.clone()));
        tokio::spawn(keypool::fill_loop(app.clone()));
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let stopped = async move {
            let _ = stop_rx.changed().await;
        };
        let router = api::router(app.clone());
        let scheme = if tls_cfg.is_some() { "https" } else { "http" };
        let srv = match tls_cfg {
            None => tokio::spawn(async move {
                axum::serve(listener, router.into_make_service_with_connect_info::<listen::Caller>())
                    .with_graceful_shutdown(stopped)
                    .await
            }),
            Some(c) => {
                let l = listen::tls(listener, c)?;
                tokio::spawn(async move {
                    axum::serve(l, router.into_make_service_with_connect_info::<listen::Caller>())
                        .with_graceful_shutdown(stopped)
                        .await
                })
            }
        };
        tracing::info!(event_id = eventlog::SERVICE_STARTED, instance = %instance, listen = %addr, workers, database = %redact_url(&app.cfg().service.database), "raconn serve ready");
        ready(addr, workers, &instance, scheme);
        notify(&[sd_state("READY=1")]);
        let watchdog = tokio::spawn(watchdog_loop());
        match stop {
            None => wait_for_signals(&app).await,
            Some(rx) => {
                tokio::select! {
                    _ = wait_for_signals(&app) => {}
                    _ = rx => {}
                }
            }
        }
        app.stopping.store(true, Ordering::SeqCst);
        notify(&[sd_state("STOPPING=1")]);
        let _ = stop_tx.send(true);
        let grace = std::time::Duration::from_secs(u64::from(app.cfg().service.grace_s));
        let all = futures_join(tasks);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!("in-flight work did not finish within grace_s; releasing its leases");
        }
        let released = app.db.release_instance(&app.instance, now_ms()).await.unwrap_or(0);
        if released > 0 {
            tracing::info!(released, "leases released for other instances");
        }
        watchdog.abort();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), srv).await;
        tracing::info!(event_id = eventlog::SERVICE_STOPPED, instance = %app.instance, "raconn serve stopped");
        Ok(())
    })
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

async fn purge_loop(app: Arc<App>) {
    loop {
        let days = i64::from(app.cfg().service.keep_issued_days);
        match app.db.purge(now_ms() - days * 86_400_000).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "PFXs older than keep_issued_days deleted"),
            Err(e) => tracing::warn!("{e}"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
}

#[cfg(unix)]
fn sd_state(s: &'static str) -> sd_notify::NotifyState<'static> {
    match s {
        "READY=1" => sd_notify::NotifyState::Ready,
        "STOPPING=1" => sd_notify::NotifyState::Stopping,
        _ => sd_notify::NotifyState::Watchdog,
    }
}

#[cfg(unix)]
fn notify(states: &[sd_notify::NotifyState<'_>]) {
    let _ = sd_notify::notify(states);
}

#[cfg(not(unix))]
fn sd_state(_s: &'static str) {}

#[cfg(not(unix))]
fn notify(_s: &[()]) {}

async fn watchdog_loop() {
    #[cfg(unix)]
    {
        if let Some(every) = sd_notify::watchdog_enabled() {
            loop {
                tokio::time::sleep(every / 2).await;
                notify(&[sd_notify::NotifyState::Watchdog]);
            }
        }
    }
}

#[cfg(unix)]
async fn wait_for_signals(app: &App) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: finishing in-flight work, then exiting"); return; }
            _ = int.recv() => { tracing::info!("SIGINT: finishing in-flight work, then exiting"); return; }
            _ = hup.recv() => {
                match sd_notify::NotifyState::monotonic_usec_now() {
                    Ok(m) => notify(&[sd_notify::NotifyState::Reloading, m]),
                    Err(_) => notify(&[sd_notify::NotifyState::Reloading]),
                }
                if let Err(e) = app.reload() { tracing::error!(event_id = eventlog::RELOADED, "SIGHUP: reload failed, keeping the running configuration: {e}"); }
                notify(&[sd_notify::NotifyState::Ready]);
            }
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signals(_app: &App) {
    let _ = tokio::signal::ctrl_c().await;
}
