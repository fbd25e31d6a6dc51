//! The service's request table on SQLite or PostgreSQL, through sqlx's
//! `Any` driver (one query API for both; runtime-checked queries, so no
//! database is needed at build time). One row per request id — the
//! caller's id is the primary key, so a repeated `PUT` is an
//! `INSERT … ON CONFLICT DO NOTHING` — holding the core's transaction
//! record ([`raconn_core::issuance::record`]) and the scheduling columns
//! (state, attempts, next run, lease owner and expiry).
//!
//! Claiming follows `service.md` §3: PostgreSQL selects `FOR UPDATE SKIP
//! LOCKED`, so instances never wait on each other's rows; SQLite has one
//! writer, so the claim is one `UPDATE … WHERE request_id = (SELECT …)
//! RETURNING`, and the pool holds one connection (a second writer in the
//! same process could only meet `SQLITE_BUSY`). Every write a worker makes
//! names its lease (`AND lease_owner = $me`): a worker whose lease another
//! took over changes nothing. Times are Unix milliseconds.
//!
//! Group commit on SQLite: a commit there is an fsync of the WAL
//! (`synchronous = FULL`, kept: a `Sent` record lost to a power cut could
//! send an enrollment again), about 480 a second on the CI machine's disk,
//! and a request takes four. So every write goes to one writer task; the
//! writes that queue while a commit is on disk go into the next
//! transaction together (at most [`MAX_GROUP`]), and each caller is
//! answered — with its own statement's rows or error — only once that
//! transaction is committed: nothing is acknowledged before it is durable.
//! A statement that fails inside the group is undone alone (SQLite's
//! statement journal); a failed COMMIT fails every caller of the group.
//! Reads use the pool directly. PostgreSQL commits concurrently from its
//! connections and needs none of this.
//!
//! Claims on PostgreSQL commit without waiting for the WAL flush (a small
//! pool of `synchronous_commit = off` connections): a claim must be
//! visible to other workers at once, but need not survive a crash — a lost
//! claim leaves the row claimable, and the worker's next write, which names
//! its lease, then changes nothing. Every write that records progress (the
//! `PUT`'s insert, the `Sent` record, `issued`) still waits for the disk,
//! and PostgreSQL flushes the WAL in order, so a durable write makes the
//! claims before it durable too. Connections are not pinged before each
//! use (sqlx pings them when they return to the pool); a connection that
//! died while idle fails its statement, which is retried like any database
//! error. Measured (P-256, 16 workers, a durable local server, same
//! session): 405 → 449 issued/s for the claims, → 459 without the ping.

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, AssertSqlSafe, Row, SqlSafeStr};

use crate::errors::{HostError, ServiceError};

/// Which database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `sqlite:FILE`.
    Sqlite,
    /// `postgres://…`.
    Postgres,
}

/// The open database.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    /// PostgreSQL: connections whose commits do not wait for the WAL to
    /// reach the disk (`synchronous_commit = off`), for claims only.
    claims: Option<AnyPool>,
    kind: Kind,
    /// SQLite: the group-commit writer's queue.
    writer: Option<tokio::sync::mpsc::UnboundedSender<Write>>,
    /// SQLite: (commits, statements) the writer made.
    groups: std::sync::Arc<GroupStats>,
}

/// What the SQLite writer did: commits and the statements they carried.
#[derive(Default)]
pub struct GroupStats {
    commits: std::sync::atomic::AtomicU64,
    statements: std::sync::atomic::AtomicU64,
}

/// The most statements one group commit carries.
pub const MAX_GROUP: usize = 64;

/// A bound value, owned (it crosses to the writer task).
enum Owned {
    S(String),
    I(i64),
    B(Vec<u8>),
    OB(Option<Vec<u8>>),
}

/// What a write returns: rows changed, or the row of a `RETURNING`.
enum Written {
    Rows(u64),
    Row(Option<AnyRow>),
}

/// One statement for the writer task.
struct Write {
    sql: String,
    binds: Vec<Owned>,
    returning: bool,
    reply: Reply,
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    binds: Vec<Owned>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for b in binds {
        q = match b {
            Owned::S(s) => q.bind(s),
            Owned::I(i) => q.bind(i),
            Owned::B(b) => q.bind(b),
            Owned::OB(b) => q.bind(b),
        };
    }
    q
}

async fn run_one(
    conn: &mut sqlx::AnyConnection,
    sql: String,
    binds: Vec<Owned>,
    returning: bool,
) -> Result<Written, sqlx::Error> {
    let q = bind_all(sqlx::query(AssertSqlSafe(sql)), binds);
    if returning {
        q.fetch_optional(&mut *conn).await.map(Written::Row)
    } else {
        q.execute(&mut *conn)
            .await
            .map(|r| Written::Rows(r.rows_affected()))
    }
}

type Reply = tokio::sync::oneshot::Sender<Result<Written, sqlx::Error>>;

/// Answers every caller of a group that did not commit with `msg`.
fn fail_all(replies: impl Iterator<Item = Reply>, msg: &str) {
    for r in replies {
        let _ = r.send(Err(sqlx::Error::Protocol(msg.to_string())));
    }
}

/// The SQLite writer: one transaction per group of queued writes.
async fn group_writer(
    pool: AnyPool,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Write>,
    stats: std::sync::Arc<GroupStats>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(w) => group.push(w),
                Err(_) => break,
            }
        }
        let mut conn = match pool.acquire().await {
            Ok(c) => c,
            Err(e) => {
                fail_all(group.into_iter().map(|w| w.reply), &e.to_string());
                continue;
            }
        };
        let single = group.len() == 1;
        if !single {
            if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
                fail_all(group.into_iter().map(|w| w.reply), &e.to_string());
                continue;
            }
        }
        let mut done = Vec::with_capacity(group.len());
        for w in group {
            let r = run_one(&mut conn, w.sql, w.binds, w.returning).await;
            done.push((w.reply, r));
        }
        if !single {
            if let Err(e) = sqlx::query("COMMIT").execute(&mut *conn).await {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                fail_all(
                    done.into_iter().map(|(r, _)| r),
                    &format!("group commit: {e}"),
                );
                continue;
            }
        }
        stats.commits.fetch_add(1, Relaxed);
        stats.statements.fetch_add(done.len() as u64, Relaxed);
        for (reply, r) in done {
            let _ = reply.send(r);
        }
    }
}

/// A request row.
#[derive(Debug, Clone, Default)]
pub struct Job {
    pub request_id: String,
    pub profile: String,
    pub params: String,
    pub body_mac: String,
    pub password_sealed: Option<Vec<u8>>,
    pub state: String,
    pub attempts: i64,
    pub run_at: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub claimed_from: Option<String>,
    pub record: Option<Vec<u8>>,
    pub key_sealed: Option<Vec<u8>>,
    pub pfx: Option<Vec<u8>>,
    pub pfx_purged: bool,
    pub last_error: Option<String>,
    pub thumbprint: Option<String>,
    pub serial: Option<String>,
    pub not_after: Option<String>,
    pub subject: Option<String>,
    pub client_tx: Option<String>,
    pub server_tx: Option<String>,
    pub revoke_reason: Option<String>,
    pub revoked_at: Option<i64>,
    pub issued_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLS: &str = "request_id, profile, params, body_mac, password_sealed, state, attempts, run_at, lease_owner, lease_until, claimed_from, record, key_sealed, pfx, pfx_purged, last_error, thumbprint, serial, not_after, subject, client_tx, server_tx, revoke_reason, revoked_at, issued_at, created_at, updated_at";

/// Rows a worker may claim at `$1`: due, not leased (or the lease ran
/// out), and work left — an issuance, or an issued row with a revocation
/// queued. The last clause is, word for word, the WHERE of the
/// `requests_claimable` partial index (migration 0002).
const CLAIMABLE: &str = "run_at <= $1 AND (lease_until IS NULL OR lease_until < $1) AND (state IN ('queued', 'pending_ca', 'working') OR (state = 'issued' AND revoke_reason IS NOT NULL))";

fn db_err(what: &str) -> impl Fn(sqlx::Error) -> HostError + '_ {
    move |e| ServiceError::Database(format!("{what}: {e}")).into()
}

/// The request row a write's `RETURNING` gave, if any.
fn returned_job(w: Written) -> Result<Option<Job>, HostError> {
    match w {
        Written::Row(Some(r)) => job(&r).map(Some).map_err(db_err("decode")),
        Written::Row(None) | Written::Rows(_) => Ok(None),
    }
}

fn job(r: &AnyRow) -> Result<Job, sqlx::Error> {
    Ok(Job {
        request_id: r.try_get("request_id")?,
        profile: r.try_get("profile")?,
        params: r.try_get("params")?,
        body_mac: r.try_get("body_mac")?,
        password_sealed: r.try_get("password_sealed")?,
        state: r.try_get("state")?,
        attempts: r.try_get("attempts")?,
        run_at: r.try_get("run_at")?,
        lease_owner: r.try_get("lease_owner")?,
        lease_until: r.try_get("lease_until")?,
        claimed_from: r.try_get("claimed_from")?,
        record: r.try_get("record")?,
        key_sealed: r.try_get("key_sealed")?,
        pfx: r.try_get("pfx")?,
        pfx_purged: r.try_get::<i64, _>("pfx_purged")? != 0,
        last_error: r.try_get("last_error")?,
        thumbprint: r.try_get("thumbprint")?,
        serial: r.try_get("serial")?,
        not_after: r.try_get("not_after")?,
        subject: r.try_get("subject")?,
        client_tx: r.try_get("client_tx")?,
        server_tx: r.try_get("server_tx")?,
        revoke_reason: r.try_get("revoke_reason")?,
        revoked_at: r.try_get("revoked_at")?,
        issued_at: r.try_get("issued_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// What a worker writes when an issuance ends with a certificate.
pub struct IssuedRow<'a> {
    pub pfx: &'a [u8],
    pub record: Option<&'a [u8]>,
    pub thumbprint: &'a str,
    pub serial: &'a str,
    pub not_after: &'a str,
    pub subject: &'a str,
    pub client_tx: &'a str,
    pub server_tx: &'a str,
}

impl Db {
    /// Opens (creating a SQLite file) and migrates.
    pub async fn open(url: &str, connections: u32) -> Result<Db, HostError> {
        sqlx::any::install_default_drivers();
        let kind = if url.starts_with("sqlite:") {
            Kind::Sqlite
        } else {
            Kind::Postgres
        };
        let url = match kind {
            Kind::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_string(),
        };
        if kind == Kind::Sqlite {
            // The file holds sealed keys and PFXs: created 0600 (SQLite
            // gives its -wal and -shm files the same mode).
            let file = url.trim_start_matches("sqlite:");
            let file = file.split('?').next().unwrap_or(file);
            let path = std::path::Path::new(file);
            if !path.exists() {
                let mut o = std::fs::OpenOptions::new();
                o.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
                o.open(path).map_err(|e| {
                    HostError::from(ServiceError::Database(format!("{}: {e}", path.display())))
                })?;
            }
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if kind == Kind::Sqlite {
                1
            } else {
                connections.max(2)
            })
            .acquire_timeout(std::time::Duration::from_secs(10))
            .test_before_acquire(false)
            .connect(&url)
            .await
            .map_err(db_err("connect"))?;
        let claims = match kind {
            Kind::Sqlite => None,
            Kind::Postgres => Some(
                AnyPoolOptions::new()
                    .max_connections((connections / 4).max(2))
                    .acquire_timeout(std::time::Duration::from_secs(10))
                    .test_before_acquire(false)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            sqlx::query("SET synchronous_commit = off")
                                .execute(conn)
                                .await
                                .map(|_| ())
                        })
                    })
                    .connect(&url)
                    .await
                    .map_err(db_err("connect"))?,
            ),
        };
        let groups = std::sync::Arc::<GroupStats>::default();
        let writer = (kind == Kind::Sqlite).then(|| {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(group_writer(pool.clone(), rx, groups.clone()));
            tx
        });
        let db = Db {
            pool,
            claims,
            kind,
            writer,
            groups,
        };
        db.migrate().await?;
        Ok(db)
    }

    /// Which database.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// SQLite: (commits, statements) of the group-commit writer so far.
    pub fn group_commits(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.groups.commits.load(Relaxed),
            self.groups.statements.load(Relaxed),
        )
    }

    async fn migrate(&self) -> Result<(), HostError> {
        use sqlx::migrate::{Migration, MigrationType, Migrator};
        let files = match self.kind {
            Kind::Sqlite => [
                include_str!("migrations/sqlite_0001_requests.sql"),
                include_str!("migrations/sqlite_0002_claimable.sql"),
                include_str!("migrations/sqlite_0003_created.sql"),
            ],
            Kind::Postgres => [
                include_str!("migrations/postgres_0001_requests.sql"),
                include_str!("migrations/postgres_0002_claimable.sql"),
                include_str!("migrations/postgres_0003_created.sql"),
            ],
        };
        let m = Migrator::with_migrations(
            files
                .into_iter()
                .zip([(1, "requests"), (2, "claimable"), (3, "created")])
                .map(|(sql, (version, name))| {
                    Migration::new(
                        version,
                        name.into(),
                        MigrationType::Simple,
                        AssertSqlSafe(sql).into_sql_str(),
                        false,
                    )
                })
                .collect(),
        );
        m.run(&self.pool)
            .await
            .map_err(|e| HostError::from(ServiceError::Database(format!("migration: {e}"))))
    }

    /// `$N` placeholders as this database writes them (SQLite: `?N`).
    fn sql(&self, q: &str) -> AssertSqlSafe<String> {
        AssertSqlSafe(match self.kind {
            Kind::Postgres => q.to_string(),
            Kind::Sqlite => q.replace('$', "?"),
        })
    }

    /// `SELECT 1`.
    pub async fn ping(&self) -> Result<(), HostError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(db_err("ping"))
    }

    /// Inserts a new queued request and returns its row; `None` when the
    /// id exists (nothing changed).
    pub async fn insert(
        &self,
        id: &str,
        profile: &str,
        params: &str,
        body_mac: &str,
        password_sealed: &[u8],
        now: i64,
    ) -> Result<Option<Job>, HostError> {
        let q = format!(
            "INSERT INTO requests (request_id, profile, params, body_mac, password_sealed, state, attempts, run_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $6, $6) ON CONFLICT (request_id) DO NOTHING RETURNING {COLS}"
        );
        let binds = [
            Val::S(id),
            Val::S(profile),
            Val::S(params),
            Val::S(body_mac),
            Val::B(password_sealed),
            Val::I(now),
        ]
        .into_iter()
        .map(Val::owned)
        .collect();
        let w = self.write(self.sql(&q).0, binds, true).await;
        returned_job(w.map_err(db_err("insert"))?)
    }

    /// The row of `id`.
    pub async fn get(&self, id: &str) -> Result<Option<Job>, HostError> {
        let q = self.sql(&format!(
            "SELECT {COLS} FROM requests WHERE request_id = $1"
        ));
        let r = sqlx::query(q)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("select"))?;
        r.as_ref().map(job).transpose().map_err(db_err("decode"))
    }

    /// Newest first, optionally of one state.
    pub async fn list(&self, state: Option<&str>, limit: i64) -> Result<Vec<Job>, HostError> {
        // Two statements, so each finds its index (requests_state_created,
        // requests_created) instead of sorting the table.
        let order = "ORDER BY created_at DESC, request_id DESC";
        let q = match state {
            Some(s) => sqlx::query(self.sql(&format!(
                "SELECT {COLS} FROM requests WHERE state = $1 {order} LIMIT $2"
            )))
            .bind(s.to_string()),
            None => sqlx::query(self.sql(&format!("SELECT {COLS} FROM requests {order} LIMIT $1"))),
        };
        let rows = q
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("list"))?;
        rows.iter()
            .map(job)
            .collect::<Result<_, _>>()
            .map_err(db_err("decode"))
    }

    /// Claims one due row for `owner` until `lease_until`.
    pub async fn claim(
        &self,
        now: i64,
        owner: &str,
        lease_until: i64,
    ) -> Result<Option<Job>, HostError> {
        let set = "claimed_from = state, state = CASE WHEN state = 'issued' THEN 'issued' ELSE 'working' END, lease_owner = $2, lease_until = $3, updated_at = $1";
        let q = match self.kind {
            Kind::Postgres => format!(
                "WITH c AS (SELECT request_id FROM requests WHERE {CLAIMABLE} ORDER BY run_at LIMIT 1 FOR UPDATE SKIP LOCKED) UPDATE requests SET {set} FROM c WHERE requests.request_id = c.request_id RETURNING {}",
                COLS.split(", ").map(|c| format!("requests.{c}")).collect::<Vec<_>>().join(", ")
            ),
            Kind::Sqlite => format!(
                // SQLite's planner prefers the state index and sorts every
                // queued row per claim; the partial index finds the first.
                "UPDATE requests SET {set} WHERE request_id = (SELECT request_id FROM requests INDEXED BY requests_claimable WHERE {CLAIMABLE} ORDER BY run_at LIMIT 1) RETURNING {COLS}"
            ),
        };
        let binds = vec![
            Owned::I(now),
            Owned::S(owner.to_string()),
            Owned::I(lease_until),
        ];
        // A claim need not be durable, only visible: if the database loses
        // it in a crash the row is claimable again, and the worker's next
        // write, which names its lease, changes nothing (LeaseLost). So on
        // PostgreSQL it commits without waiting for the WAL flush.
        let written = match &self.claims {
            Some(pool) => {
                let mut conn = pool.acquire().await.map_err(db_err("claim"))?;
                run_one(&mut conn, self.sql(&q).0, binds, true).await
            }
            None => self.write(self.sql(&q).0, binds, true).await,
        };
        returned_job(written.map_err(db_err("claim"))?)
    }

    /// Runs one statement with `binds` ($1, $2, … in order); rows changed.
    async fn exec(&self, what: &str, q: &str, binds: Vec<Val<'_>>) -> Result<u64, HostError> {
        let binds = binds.into_iter().map(Val::owned).collect();
        match self
            .write(self.sql(q).0, binds, false)
            .await
            .map_err(db_err(what))?
        {
            Written::Rows(n) => Ok(n),
            Written::Row(r) => Ok(u64::from(r.is_some())),
        }
    }

    /// Runs a write: through the group-commit writer on SQLite, on the
    /// pool on PostgreSQL.
    async fn write(
        &self,
        sql: String,
        binds: Vec<Owned>,
        returning: bool,
    ) -> Result<Written, sqlx::Error> {
        match &self.writer {
            Some(tx) => {
                let (reply, answer) = tokio::sync::oneshot::channel();
                tx.send(Write {
                    sql,
                    binds,
                    returning,
                    reply,
                })
                .map_err(|_| sqlx::Error::PoolClosed)?;
                answer.await.map_err(|_| sqlx::Error::PoolClosed)?
            }
            None => {
                let mut conn = self.pool.acquire().await?;
                run_one(&mut conn, sql, binds, returning).await
            }
        }
    }

    /// [`Db::exec`] of a write that names the worker's lease: no row
    /// changed means another worker holds the row now.
    async fn leased(&self, what: &str, q: String, binds: Vec<Val<'_>>) -> Result<(), HostError> {
        if self.exec(what, &q, binds).await? == 0 {
            return Err(ServiceError::LeaseLost(format!(
                "{what}: the row is leased by another worker now"
            ))
            .into());
        }
        Ok(())
    }

    /// Extends the lease.
    pub async fn heartbeat(&self, id: &str, owner: &str, until: i64) -> Result<(), HostError> {
        self.leased(
            "heartbeat",
            "UPDATE requests SET lease_until = $3 WHERE request_id = $1 AND lease_owner = $2"
                .into(),
            vec![Val::S(id), Val::S(owner), Val::I(until)],
        )
        .await
    }

    /// Stores the transaction record — with the sealed device key, when
    /// one is new, in the same statement — and extends the lease.
    pub async fn save_record(
        &self,
        id: &str,
        owner: &str,
        record: &[u8],
        key_sealed: Option<&[u8]>,
        now: i64,
        until: i64,
    ) -> Result<(), HostError> {
        self.leased(
            "save record",
            "UPDATE requests SET record = $3, key_sealed = COALESCE($6, key_sealed), updated_at = $4, lease_until = $5 WHERE request_id = $1 AND lease_owner = $2".into(),
            vec![Val::S(id), Val::S(owner), Val::B(record), Val::I(now), Val::I(until), Val::OB(key_sealed)],
        )
        .await
    }

    /// The certificate is here: PFX and certificate facts stored, the
    /// sealed key and password deleted, the lease released.
    pub async fn issued(
        &self,
        id: &str,
        owner: &str,
        r: &IssuedRow<'_>,
        now: i64,
    ) -> Result<(), HostError> {
        self.leased(
            "issued",
            "UPDATE requests SET state = 'issued', pfx = $3, record = COALESCE($4, record), thumbprint = $5, serial = $6, not_after = $7, subject = $8, client_tx = $9, server_tx = $10, key_sealed = NULL, password_sealed = NULL, last_error = NULL, lease_owner = NULL, lease_until = NULL, issued_at = $11, updated_at = $11 WHERE request_id = $1 AND lease_owner = $2".into(),
            vec![
                Val::S(id), Val::S(owner), Val::B(r.pfx), Val::OB(r.record), Val::S(r.thumbprint), Val::S(r.serial),
                Val::S(r.not_after), Val::S(r.subject), Val::S(r.client_tx), Val::S(r.server_tx), Val::I(now),
            ],
        )
        .await
    }

    /// Runs it again at `run_at` in `state` (`queued`, `pending_ca`, or
    /// `issued` for a revocation), counting the attempt; the lease is released.
    pub async fn reschedule(
        &self,
        id: &str,
        owner: &str,
        state: &str,
        run_at: i64,
        last_error: &str,
        now: i64,
    ) -> Result<(), HostError> {
        self.leased(
            "reschedule",
            "UPDATE requests SET state = $3, attempts = attempts + 1, run_at = $4, last_error = $5, lease_owner = NULL, lease_until = NULL, updated_at = $6 WHERE request_id = $1 AND lease_owner = $2".into(),
            vec![Val::S(id), Val::S(owner), Val::S(state), Val::I(run_at), Val::S(last_error), Val::I(now)],
        )
        .await
    }

    /// Ends it `failed`; the sealed key and password are deleted.
    pub async fn failed(
        &self,
        id: &str,
        owner: &str,
        last_error: &str,
        now: i64,
    ) -> Result<(), HostError> {
        self.leased(
            "failed",
            "UPDATE requests SET state = 'failed', attempts = attempts + 1, last_error = $3, key_sealed = NULL, password_sealed = NULL, lease_owner = NULL, lease_until = NULL, updated_at = $4 WHERE request_id = $1 AND lease_owner = $2".into(),
            vec![Val::S(id), Val::S(owner), Val::S(last_error), Val::I(now)],
        )
        .await
    }

    /// A queued revocation failed for good: the row stays issued, the
    /// revocation is dropped and the failure kept in `last_error`.
    pub async fn revoke_failed(
        &self,
        id: &str,
        owner: &str,
        last_error: &str,
        now: i64,
    ) -> Result<(), HostError> {
        self.leased(
            "revoke failed",
            "UPDATE requests SET revoke_reason = NULL, last_error = $3, lease_owner = NULL, lease_until = NULL, updated_at = $4 WHERE request_id = $1 AND lease_owner = $2".into(),
            vec![Val::S(id), Val::S(owner), Val::S(last_error), Val::I(now)],
        )
        .await
    }

    /// The CA revoked it.
    pub async fn revoked(
        &self,
        id: &str,
        owner: &str,
        record: Option<&[u8]>,
        now: i64,
    ) -> Result<(), HostError> {
        self.leased(
            "revoked",
            "UPDATE requests SET state = 'revoked', record = COALESCE($3, record), revoked_at = $4, last_error = NULL, lease_owner = NULL, lease_until = NULL, updated_at = $4 WHERE request_id = $1 AND lease_owner = $2".into(),
            vec![Val::S(id), Val::S(owner), Val::OB(record), Val::I(now)],
        )
        .await
    }

    /// Queues a revocation of an issued row; `false` when the row is not
    /// issued or has one queued.
    pub async fn queue_revoke(&self, id: &str, reason: &str, now: i64) -> Result<bool, HostError> {
        let n = self.exec(
            "queue revoke",
            "UPDATE requests SET revoke_reason = $2, attempts = 0, run_at = $3, updated_at = $3 WHERE request_id = $1 AND state = 'issued' AND revoke_reason IS NULL",
            vec![Val::S(id), Val::S(reason), Val::I(now)],
        )
        .await?;
        Ok(n == 1)
    }

    /// Rows per state.
    pub async fn counts(&self) -> Result<Vec<(String, i64)>, HostError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM requests GROUP BY state")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("count"))?;
        rows.iter()
            .map(|r| Ok((r.try_get("state")?, r.try_get("n")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db_err("count"))
    }

    /// `created_at` of the oldest request not yet issued, failed or revoked.
    pub async fn oldest_open(&self) -> Result<Option<i64>, HostError> {
        let r = sqlx::query("SELECT MIN(created_at) AS m FROM requests WHERE state IN ('queued', 'working', 'pending_ca')")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err("oldest"))?;
        r.try_get("m").map_err(db_err("oldest"))
    }

    /// Deletes PFXs of certificates issued before `before`; returns how many.
    pub async fn purge(&self, before: i64) -> Result<u64, HostError> {
        self.exec(
            "purge",
            "UPDATE requests SET pfx = NULL, pfx_purged = 1 WHERE pfx IS NOT NULL AND issued_at < $1",
            vec![Val::I(before)],
        )
        .await
    }

    /// Deletes the PFX of `id`.
    pub async fn purge_one(&self, id: &str) -> Result<(), HostError> {
        self.exec(
            "purge",
            "UPDATE requests SET pfx = NULL, pfx_purged = 1 WHERE request_id = $1",
            vec![Val::S(id)],
        )
        .await
        .map(|_| ())
    }

    /// Releases every lease the workers of `instance` hold (shutdown): the
    /// rows run again at once, here after a restart or in another instance,
    /// back in the state they were claimed from (`queued` or `pending_ca`),
    /// so the next claim is not counted as an expired lease.
    pub async fn release_instance(&self, instance: &str, now: i64) -> Result<u64, HostError> {
        let prefix = format!("{instance}/");
        self.exec(
            "release",
            "UPDATE requests SET state = CASE WHEN state <> 'working' THEN state WHEN claimed_from = 'pending_ca' THEN 'pending_ca' ELSE 'queued' END, lease_owner = NULL, lease_until = NULL, run_at = $2, updated_at = $2 WHERE substr(lease_owner, 1, CAST($3 AS INTEGER)) = $1",
            vec![Val::S(&prefix), Val::I(now), Val::I(i64::try_from(prefix.len()).unwrap_or(i64::MAX))],
        )
        .await
    }
}

enum Val<'a> {
    S(&'a str),
    I(i64),
    B(&'a [u8]),
    OB(Option<&'a [u8]>),
}

impl Val<'_> {
    fn owned(self) -> Owned {
        match self {
            Val::S(s) => Owned::S(s.to_string()),
            Val::I(i) => Owned::I(i),
            Val::B(b) => Owned::B(b.to_vec()),
            Val::OB(b) => Owned::OB(b.map(<[u8]>::to_vec)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes queued together share a commit; each caller gets its own
    /// statement's result, a failing statement fails alone, and what was
    /// acknowledged is in the file after it is reopened.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_group_commit_answers_each_writer() {
        let dir = tempfile::tempdir().expect("tmp");
        let url = format!("sqlite:{}", dir.path().join("g.db").display());
        let db = Db::open(&url, 1).await.expect("open");
        let mut tasks = Vec::new();
        for i in 0..40 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                if i == 17 {
                    db.exec(
                        "bad",
                        "INSERT INTO no_such_table VALUES ($1)",
                        vec![Val::I(1)],
                    )
                    .await
                    .map(|_| false)
                } else {
                    db.insert(&format!("g-{i}"), "users", "{}", "mac", b"pw", i)
                        .await
                        .map(|j| j.is_some())
                }
            }));
        }
        let mut ok = 0;
        for (i, t) in tasks.into_iter().enumerate() {
            let r = t.await.expect("task");
            if i == 17 {
                let e = r.expect_err("bad statement");
                assert!(e.to_string().contains("no_such_table"), "{e}");
            } else {
                assert!(r.expect("insert"), "g-{i} inserted");
                ok += 1;
            }
        }
        assert_eq!(ok, 39);
        // The same id again is no new row (ON CONFLICT DO NOTHING), answered per caller.
        assert!(db
            .insert("g-1", "users", "{}", "mac", b"pw", 0)
            .await
            .expect("again")
            .is_none());
        let (commits, statements) = db.group_commits();
        assert!(statements >= 41, "{statements}");
        assert!(
            commits < statements,
            "{commits} commits for {statements} statements"
        );
        drop(db);
        let db = Db::open(&url, 1).await.expect("reopen");
        let rows = db.list(None, 100).await.expect("list");
        assert_eq!(rows.len(), 39);
    }

    /// On PostgreSQL claims run on connections that do not wait for the
    /// WAL flush, every other write on connections that do; a claim there
    /// takes the due row and leases it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_claims_only_skip_the_flush() {
        let Ok(base) = std::env::var("RACONN_TEST_POSTGRES") else {
            assert!(
                std::env::var("RACONN_REQUIRE_POSTGRES").is_err(),
                "RACONN_REQUIRE_POSTGRES set without RACONN_TEST_POSTGRES"
            );
            return;
        };
        let name = format!("raconn_claims{}", std::process::id());
        let o = std::process::Command::new("psql")
            .args([
                base.as_str(),
                "-q",
                "-c",
                &format!("CREATE DATABASE {name}"),
            ])
            .output()
            .expect("psql");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let url = format!("{}/{name}", base.rsplit_once('/').expect("URL").0);
        let db = Db::open(&url, 8).await.expect("open");
        let show = |pool: &AnyPool| {
            let pool = pool.clone();
            async move {
                let mut c = pool.acquire().await.expect("connection");
                let r = sqlx::query("SHOW synchronous_commit")
                    .fetch_one(&mut *c)
                    .await
                    .expect("show");
                sqlx::Row::try_get::<String, _>(&r, 0).expect("text")
            }
        };
        assert_eq!(show(&db.pool).await, "on");
        assert_eq!(show(db.claims.as_ref().expect("claims pool")).await, "off");
        assert!(db
            .insert("c-1", "users", "{}", "mac", b"pw", 1)
            .await
            .expect("insert")
            .is_some());
        let job = db.claim(i64::MAX / 2, "me", i64::MAX / 2 + 60_000).await;
        let job = job.expect("claim").expect("a due row");
        assert_eq!(job.request_id, "c-1");
        assert!(db
            .claim(i64::MAX / 2, "other", i64::MAX / 2 + 60_000)
            .await
            .expect("claim")
            .is_none());
        drop(db);
        let _ = std::process::Command::new("psql")
            .args([
                base.as_str(),
                "-q",
                "-c",
                &format!("DROP DATABASE {name} WITH (FORCE)"),
            ])
            .output();
    }
}
