//! The service's HTTP API (axum 0.8; JSON; README "The service" lists
//! every endpoint with a `curl` example). Intake is shaped like ACME orders
//! (RFC 8555): the caller's request id is the resource, `PUT` creates it
//! once (`202` + `Location` + `Retry-After`), the same body again answers
//! `200` with the same resource, a different body `409`. Errors are
//! `{code, message, remedy, field}` with the catalogue's codes. Callers
//! authenticate with a bearer token (RFC 6750); `/livez`, `/readyz` and
//! `/metrics` carry no secrets and are open, as probes and scrapers expect.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use raconn_core::error::Explain;
use serde::Deserialize;
use serde_json::{json, Value};

use super::db::Job;
use super::{now_ms, App, CaStatus, LastError, Params};
use crate::errors::{HostError, ServiceError};

/// The largest request body read.
pub const MAX_BODY: usize = 64 * 1024;

/// An API error: status, code, message, remedy, field.
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    remedy: &'static str,
    field: Option<String>,
    retry_after: Option<i64>,
}

impl ApiError {
    fn new(status: StatusCode, e: &dyn Explain, detail: String, field: Option<String>) -> ApiError {
        ApiError {
            status,
            code: e.code(),
            message: if detail.is_empty() {
                e.message().to_string()
            } else {
                format!("{}: {detail}", e.message())
            },
            remedy: e.remedy(),
            field,
            retry_after: None,
        }
    }

    fn svc(status: StatusCode, e: ServiceError) -> ApiError {
        let (detail, field) = match &e {
            ServiceError::BadBody { field, msg } => (msg.clone(), Some(field.clone())),
            other => (detail_of(other), None),
        };
        ApiError::new(status, &e, detail, field)
    }

    fn internal(e: &HostError) -> ApiError {
        tracing::error!("{e}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e, detail_of(e), None)
    }
}

/// The detail of an error whose Display form is `CODE: message (detail)`.
fn detail_of<E: Explain + std::fmt::Display + ?Sized>(e: &E) -> String {
    let s = e.to_string();
    let head = format!("{}: {}", e.code(), e.message());
    match s.strip_prefix(&head) {
        Some(rest) => rest
            .trim()
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .unwrap_or(rest.trim())
            .to_string(),
        None => s,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code,
            "message": self.message,
            "remedy": self.remedy,
            "field": self.field,
        });
        let mut r = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"raconn\""),
            );
        }
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}

type ApiResult = Result<Response, ApiError>;

/// The router: `/v1` behind authentication, health and metrics open.
pub fn router(app: Arc<App>) -> Router {
    let v1 = Router::new()
        .route("/v1/requests", get(list))
        .route("/v1/requests/{id}", put(submit).get(status))
        .route("/v1/requests/{id}/pfx", get(pfx))
        .route("/v1/requests/{id}/revoke", post(revoke))
        .layer(middleware::from_fn_with_state(app.clone(), auth));
    Router::new()
        .merge(v1)
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}

async fn auth(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    // A client certificate verified against client_ca authenticates; one
    // that does not chain to it is refused, whatever else is presented.
    let caller = req
        .extensions()
        .get::<axum::extract::ConnectInfo<super::listen::Caller>>()
        .map(|c| c.0.clone())
        .unwrap_or_default();
    if let Some(why) = caller.cert_refused {
        tracing::warn!(method = %req.method(), path = %req.uri().path(), "refused: {why}");
        return ApiError::svc(StatusCode::UNAUTHORIZED, ServiceError::Unauthenticated(why))
            .into_response();
    }
    if let Some(subject) = caller.cert_subject {
        tracing::debug!(caller = %subject, "client certificate");
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let who = match presented {
        None => Err("no Authorization: Bearer header"),
        Some(t) => app
            .tokens()
            .check(t)
            .map(str::to_string)
            .ok_or("the token is not one the tokens file holds"),
    };
    match who {
        Ok(name) => {
            tracing::debug!(caller = %name, "bearer token");
            next.run(req).await
        }
        Err(why) => {
            tracing::warn!(method = %req.method(), path = %req.uri().path(), "refused: {why}");
            ApiError::svc(
                StatusCode::UNAUTHORIZED,
                ServiceError::Unauthenticated(why.into()),
            )
            .into_response()
        }
    }
}

/// RFC 3339 UTC of Unix milliseconds, with milliseconds
/// (`2026-12-02T22:50:51.123Z`).
pub fn rfc3339(ms: i64) -> String {
    let t = raconn_core::cert::Time::from_unix(ms.div_euclid(1000)).to_string();
    match t.strip_suffix('Z') {
        Some(head) => format!("{head}.{:03}Z", ms.rem_euclid(1000)),
        None => t,
    }
}

const TERMINAL: [&str; 3] = ["issued", "failed", "revoked"];

fn retry_after(j: &Job) -> Option<i64> {
    if TERMINAL.contains(&j.state.as_str()) && j.revoke_reason.is_none() {
        return None;
    }
    if j.state == "revoked" {
        return None;
    }
    let s = (j.run_at - now_ms() + 999).div_euclid(1000);
    Some(s.clamp(1, 3600))
}

/// The resource of a request.
pub fn resource(j: &Job) -> Value {
    let last_error: Option<LastError> = j
        .last_error
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok());
    let certificate = j.thumbprint.as_ref().map(|t| {
        json!({"thumbprint": t, "serial": j.serial, "not_after": j.not_after, "subject": j.subject})
    });
    let not_terminal = !TERMINAL.contains(&j.state.as_str());
    json!({
        "request_id": j.request_id,
        "profile": j.profile,
        "state": j.state,
        "attempts": j.attempts,
        "next_attempt_at": if not_terminal || j.revoke_reason.is_some() && j.state == "issued" { Some(rfc3339(j.run_at)) } else { None },
        "last_error": last_error,
        "certificate": certificate,
        "revocation": j.revoke_reason.as_ref().map(|r| json!({"reason": r, "revoked_at": j.revoked_at.map(rfc3339)})),
        "pfx_available": j.pfx.is_some(),
        "client_transaction_id": j.client_tx,
        "server_transaction_id": j.server_tx,
        "issued_at": j.issued_at.map(rfc3339),
        "created_at": rfc3339(j.created_at),
        "updated_at": rfc3339(j.updated_at),
    })
}

fn respond(status: StatusCode, j: &Job) -> Response {
    let mut r = (status, Json(resource(j))).into_response();
    if let Some(s) = retry_after(j) {
        if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    if status == StatusCode::ACCEPTED {
        if let Ok(v) = HeaderValue::from_str(&format!("/v1/requests/{}", j.request_id)) {
            r.headers_mut().insert(header::LOCATION, v);
        }
    }
    r
}

/// The body of `PUT /v1/requests/{id}`.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct Submit {
    profile: String,
    cn: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    upn: Option<String>,
    #[serde(default)]
    other_names: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    sid: Option<String>,
    pfx_password: String,
}

/// The field a core error is about, for the `field` of a `400`.
fn field_of(e: &HostError) -> String {
    use raconn_core::profile::ProfileError as P;
    match e {
        HostError::Password(_) => "pfx_password".into(),
        HostError::NoProfile(_) => "profile".into(),
        HostError::MissingOtherName(_) => "other_names".into(),
        HostError::Core(raconn_core::Error::Profile(p)) => match p {
            P::EmailMissing | P::SubjectEmailMissing => "email",
            P::UpnMissing => "upn",
            P::OtherNameEmpty
            | P::OtherNameBadHex { .. }
            | P::OtherNameBadBase64
            | P::OtherNameAmbiguous => "other_names",
            P::CnEmpty => "cn",
            P::ControlChar { field, .. } => match *field {
                "other-name" => "other_names",
                f if f.contains("mail") => "email",
                f if f.contains("upn") || f.contains("UPN") => "upn",
                _ => "cn",
            },
            P::BadSid { .. } => "sid",
            _ => "request",
        }
        .into(),
        _ => "request".into(),
    }
}

/// Checks a submission as the core will see it, before anything is queued.
fn validate(app: &App, id: &str, s: &Submit) -> Result<Params, ApiError> {
    let bad = |e: HostError| {
        let f = field_of(&e);
        ApiError::new(StatusCode::BAD_REQUEST, &e, detail_of(&e), Some(f))
    };
    raconn_core::issuance::check_request_id(id).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            &e,
            format!("{id:?}"),
            Some("request_id".into()),
        )
    })?;
    let cfg = app.cfg();
    let p = crate::issue::profile(&cfg, &s.profile).map_err(bad)?;
    crate::issue::check_password(&s.pfx_password).map_err(bad)?;
    let params = Params {
        cn: s.cn.clone(),
        email: s.email.clone(),
        upn: s.upn.clone(),
        other_names: s.other_names.clone(),
        sid: s.sid.clone(),
    };
    let args = params
        .issue_args(id, &s.pfx_password)
        .map_err(|e| match e {
            HostError::Service(se) => ApiError::svc(StatusCode::BAD_REQUEST, se),
            other => bad(other),
        })?;
    for (oid, _) in &args.other_names {
        if !p
            .san
            .iter()
            .any(|k| matches!(k, raconn_core::profile::SanKindSel::OtherName(o) if o == oid))
        {
            return Err(ApiError::svc(
                StatusCode::BAD_REQUEST,
                ServiceError::BadBody {
                    field: format!("other_names.{oid}"),
                    msg: format!("profile {} asks for no such other-name", p.name),
                },
            ));
        }
    }
    let (mut ov, mut nv) = (Vec::new(), Vec::new());
    let order = crate::issue::order_of(p, &args, &mut ov, &mut nv).map_err(bad)?;
    // The core's own checks of subject, SAN and SID, without I/O.
    let (mut a, mut b, mut c, mut d) = (
        vec![0u8; 32768],
        vec![0u8; 32768],
        vec![0u8; 1024],
        vec![0u8; 1024],
    );
    raconn_core::issuance::Transaction::new(
        order,
        None,
        cfg.poll,
        raconn_core::issuance::Buffers {
            request: &mut a,
            work: &mut b,
            token: &mut c,
            record: &mut d,
        },
    )
    .map_err(|e| bad(HostError::Core(e)))?;
    Ok(params)
}

async fn submit(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::svc(
                StatusCode::PAYLOAD_TOO_LARGE,
                ServiceError::TooLarge(MAX_BODY + 1),
            )
        } else {
            ApiError::svc(
                StatusCode::BAD_REQUEST,
                ServiceError::BadBody {
                    field: "body".into(),
                    msg: r.body_text(),
                },
            )
        }
    })?;
    let s: Submit = serde_json::from_slice(&body).map_err(|e| {
        let msg = e.to_string();
        let field = [
            "profile",
            "cn",
            "pfx_password",
            "email",
            "upn",
            "other_names",
            "sid",
        ]
        .iter()
        .find(|f| msg.contains(&format!("`{f}`")))
        .map_or("body", |f| *f);
        ApiError::svc(
            StatusCode::BAD_REQUEST,
            ServiceError::BadBody {
                field: field.into(),
                msg,
            },
        )
    })?;
    let params = validate(&app, &id, &s)?;
    let canonical = serde_json::to_vec(&s)
        .map_err(|e| ApiError::internal(&HostError::Output(e.to_string())))?;
    let mac = app.kek.body_mac(&canonical);
    let params_json = serde_json::to_string(&params)
        .map_err(|e| ApiError::internal(&HostError::Output(e.to_string())))?;
    let sealed = app
        .kek
        .seal(&id, "password", s.pfx_password.as_bytes())
        .map_err(|e| ApiError::internal(&e))?;
    // One statement for a new id: the insert returns the row it made.
    if let Some(j) = app
        .db
        .insert(&id, &s.profile, &params_json, &mac, &sealed, now_ms())
        .await
        .map_err(|e| ApiError::internal(&e))?
    {
        app.metrics.count("submit", "accepted");
        app.wake();
        tracing::info!(request_id = %id, profile = %s.profile, "queued");
        return Ok(respond(StatusCode::ACCEPTED, &j));
    }
    let j = app
        .db
        .get(&id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::svc(StatusCode::NOT_FOUND, ServiceError::NotFound(id.clone())))?;
    if j.body_mac == mac {
        app.metrics.count("submit", "repeated");
        return Ok(respond(StatusCode::OK, &j));
    }
    app.metrics.count("submit", "conflict");
    Err(ApiError::svc(
        StatusCode::CONFLICT,
        ServiceError::Conflict(format!(
            "{id} was submitted with another body (profile, subject data or PFX password differ)"
        )),
    ))
}

async fn find(app: &App, id: &str) -> Result<Job, ApiError> {
    app.db
        .get(id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| {
            ApiError::svc(
                StatusCode::NOT_FOUND,
                ServiceError::NotFound(id.to_string()),
            )
        })
}

async fn status(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    let j = find(&app, &id).await?;
    Ok(respond(StatusCode::OK, &j))
}

async fn pfx(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    let mut j = find(&app, &id).await?;
    // Past keep_issued_days: purged now, not at the next hourly sweep.
    let keep_ms = i64::from(app.cfg().service.keep_issued_days) * 86_400_000;
    if j.pfx.is_some() && j.issued_at.is_some_and(|t| t + keep_ms <= now_ms()) {
        app.db
            .purge_one(&id)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        j.pfx = None;
        j.pfx_purged = true;
    }
    if let Some(p) = j.pfx {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-pkcs12"),
        );
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.pfx\"")) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
        return Ok((StatusCode::OK, h, p).into_response());
    }
    if j.pfx_purged {
        return Err(ApiError::svc(
            StatusCode::GONE,
            ServiceError::PfxPurged(format!(
                "{id}: issued {}",
                j.issued_at.map(rfc3339).unwrap_or_default()
            )),
        ));
    }
    let mut e = ApiError::svc(
        StatusCode::CONFLICT,
        ServiceError::NotIssued(format!("{id} is {}", j.state)),
    );
    e.retry_after = retry_after(&j);
    Err(e)
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
    limit: Option<i64>,
}

const STATES: [&str; 6] = [
    "queued",
    "working",
    "pending_ca",
    "issued",
    "failed",
    "revoked",
];

async fn list(State(app): State<Arc<App>>, Query(q): Query<ListQuery>) -> ApiResult {
    if let Some(s) = &q.state {
        if !STATES.contains(&s.as_str()) {
            return Err(ApiError::svc(
                StatusCode::BAD_REQUEST,
                ServiceError::BadBody {
                    field: "state".into(),
                    msg: format!("{s:?} is not one of {}", STATES.join(", ")),
                },
            ));
        }
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::svc(
            StatusCode::BAD_REQUEST,
            ServiceError::BadBody {
                field: "limit".into(),
                msg: "from 1 to 1000".into(),
            },
        ));
    }
    let rows = app
        .db
        .list(q.state.as_deref(), limit)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let items: Vec<Value> = rows.iter().map(resource).collect();
    Ok(Json(json!({ "requests": items })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    reason: String,
}

async fn revoke(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body = body.map_err(|_| {
        ApiError::svc(
            StatusCode::PAYLOAD_TOO_LARGE,
            ServiceError::TooLarge(MAX_BODY + 1),
        )
    })?;
    let b: RevokeBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::svc(
            StatusCode::BAD_REQUEST,
            ServiceError::BadBody {
                field: "reason".into(),
                msg: e.to_string(),
            },
        )
    })?;
    let reason = raconn_core::pkiws::revoke::Reason::parse(&b.reason).map_err(|e| {
        let e = raconn_core::Error::from(e);
        ApiError::new(
            StatusCode::BAD_REQUEST,
            &e,
            format!("{:?}", b.reason),
            Some("reason".into()),
        )
    })?;
    let j = find(&app, &id).await?;
    if j.state == "revoked" || j.revoke_reason.is_some() {
        return Err(ApiError::svc(
            StatusCode::CONFLICT,
            ServiceError::AlreadyRevoked(format!(
                "{id} is {}",
                if j.state == "revoked" {
                    "revoked"
                } else {
                    "being revoked"
                }
            )),
        ));
    }
    if j.state != "issued" {
        return Err(ApiError::svc(
            StatusCode::CONFLICT,
            ServiceError::NotIssued(format!("{id} is {}: nothing to revoke", j.state)),
        ));
    }
    // The API's spelling (keyCompromise), which Reason::parse reads back.
    let mut name = reason.as_str().to_string();
    if let Some(f) = name.get(..1).map(str::to_ascii_lowercase) {
        name.replace_range(..1, &f);
    }
    if !app
        .db
        .queue_revoke(&id, &name, now_ms())
        .await
        .map_err(|e| ApiError::internal(&e))?
    {
        return Err(ApiError::svc(
            StatusCode::CONFLICT,
            ServiceError::AlreadyRevoked(format!("{id}: a revocation is queued")),
        ));
    }
    app.metrics.count("revoke", "queued");
    app.wake();
    let j = find(&app, &id).await?;
    Ok(respond(StatusCode::ACCEPTED, &j))
}

async fn livez() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

/// How old the CA's last `UP` may be for `/readyz`.
const CA_FRESH_MS: i64 = 5 * 60 * 1000;

async fn readyz(State(app): State<Arc<App>>) -> Response {
    let mut checks = serde_json::Map::new();
    let mut ready = true;
    match app.db.ping().await {
        Ok(()) => {
            checks.insert("database".into(), json!("ok"));
        }
        Err(e) => {
            ready = false;
            checks.insert("database".into(), json!(e.to_string()));
        }
    }
    let cfg = app.cfg();
    let ra = tokio::task::spawn_blocking(move || ra_signs(&cfg)).await;
    match ra {
        Ok(Ok(desc)) => {
            checks.insert("ra_key".into(), json!(format!("ok: {desc}")));
        }
        Ok(Err(e)) => {
            ready = false;
            checks.insert("ra_key".into(), json!(e));
        }
        Err(e) => {
            ready = false;
            checks.insert("ra_key".into(), json!(e.to_string()));
        }
    }
    let now = now_ms();
    let status: Vec<(String, CaStatus)> = app
        .ca_status
        .lock()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    for name in app.cfg().profiles.keys() {
        let s = status
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone());
        let v = match s {
            Some(s) if s.up && now - s.at_ms <= CA_FRESH_MS => {
                format!("UP {} s ago", (now - s.at_ms) / 1000)
            }
            Some(s) if s.up => {
                ready = false;
                format!(
                    "last UP {} s ago (more than {} s)",
                    (now - s.at_ms) / 1000,
                    CA_FRESH_MS / 1000
                )
            }
            Some(s) => {
                ready = false;
                format!("not UP: {}", s.detail)
            }
            None => {
                ready = false;
                "not asked yet".into()
            }
        };
        checks.insert(format!("ca:{name}"), json!(v));
    }
    if ready {
        (
            StatusCode::OK,
            Json(json!({"ready": true, "checks": checks})),
        )
            .into_response()
    } else {
        let e = ServiceError::NotReady("see checks".into());
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "code": e.code(), "message": e.message(), "remedy": e.remedy(), "checks": checks})),
        )
            .into_response()
    }
}

/// The RA key signs (a throw-away message).
fn ra_signs(cfg: &crate::config::Config) -> Result<String, String> {
    let (_, key) = crate::issue::ra_identity(cfg).map_err(|e| e.to_string())?;
    let mut out = vec![0u8; key.max_signature_len()];
    key.sign(b"raconn readyz", &mut out)
        .map_err(|e| format!("the RA key does not sign: {e}"))?;
    Ok(key.describe())
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    if let Ok(counts) = app.db.counts().await {
        for s in STATES {
            let n = counts.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
            app.metrics
                .jobs
                .get_or_create(&super::metrics::StateLabel { state: s.into() })
                .set(n);
        }
    }
    if let Ok(o) = app.db.oldest_open().await {
        let age = o.map_or(0.0, |c| ((now_ms() - c).max(0) as f64) / 1000.0);
        app.metrics.oldest_pending_age.set(age);
    }
    app.metrics
        .device_keys_ready
        .set(i64::try_from(app.keys.ready()).unwrap_or(i64::MAX));
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    (StatusCode::OK, h, app.metrics.encode()).into_response()
}

/// Asks each profile's CA `healthcheckService getStatus` every 60 s, and
/// watches the RA certificate: its notAfter as a metric, and a warning once
/// a day from 28 days before it (certmonger's notice days; `raconn check`
/// warns at the same point).
pub async fn health_loop(app: Arc<App>) {
    let mut warned_at = i64::MIN / 2;
    loop {
        let cfg = app.cfg();
        let c2 = cfg.clone();
        if let Ok(Ok((der, _))) =
            tokio::task::spawn_blocking(move || crate::issue::ra_identity(&c2)).await
        {
            if let Ok(c) = raconn_core::cert::CertificateRef::parse(&der) {
                let not_after = c.not_after.unix();
                app.metrics.ra_not_after.set(not_after);
                let now = now_ms();
                let days = (not_after - now / 1000).div_euclid(86_400);
                if days < 28 && now - warned_at >= 86_400_000 {
                    warned_at = now;
                    tracing::warn!(
                        days_left = days,
                        not_after = %c.not_after,
                        "the RA certificate expires in {days} days: `raconn ra renew`, have DigiCert issue it, `raconn ra accept`, list both thumbprints in ra_cert_thumbprint and send SIGHUP"
                    );
                }
            }
        }
        for (name, p) in cfg.profiles.clone() {
            let c2 = cfg.clone();
            let r = tokio::task::spawn_blocking(move || ca_up(&c2, &p)).await;
            let (up, detail) = match r {
                Ok(Ok(())) => (true, String::new()),
                Ok(Err(e)) => (false, e),
                Err(e) => (false, e.to_string()),
            };
            if !up {
                tracing::warn!(profile = %name, "CA status: {detail}");
            }
            if let Ok(mut m) = app.ca_status.lock() {
                m.insert(
                    name,
                    CaStatus {
                        at_ms: now_ms(),
                        up,
                        detail,
                    },
                );
            }
        }
        if app.stopping() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    }
}

fn ca_up(cfg: &crate::config::Config, p: &crate::config::Profile) -> Result<(), String> {
    use raconn_core::pkiws::health;
    let c = crate::issue::client(cfg, p).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 2048];
    let body =
        health::write_request(None, Some(&p.template), &mut buf).map_err(|e| e.to_string())?;
    let (st, reply) = c
        .post(raconn_core::pkiws::PATH_HEALTH, health::ACTION_HEALTH, body)
        .map_err(|e| e.to_string())?;
    let text = raconn_core::pkiws::reply_text(st, &reply).map_err(|e| e.to_string())?;
    let s = health::parse_response(text).map_err(|e| e.to_string())?;
    if s.up {
        Ok(())
    } else {
        Err(format!(
            "statusCode is not UP ({})",
            s.message.map(|m| m.raw.to_string()).unwrap_or_default()
        ))
    }
}
