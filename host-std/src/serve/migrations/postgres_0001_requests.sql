-- raconn serve: one row per request id (PostgreSQL).
CREATE TABLE requests (
    request_id      TEXT PRIMARY KEY,
    profile         TEXT NOT NULL,
    params          TEXT NOT NULL,
    body_mac        TEXT NOT NULL,
    password_sealed BYTEA,
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    run_at          BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT,
    claimed_from    TEXT,
    record          BYTEA,
    key_sealed      BYTEA,
    pfx             BYTEA,
    pfx_purged      BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    thumbprint      TEXT,
    serial          TEXT,
    not_after       TEXT,
    subject         TEXT,
    client_tx       TEXT,
    server_tx       TEXT,
    revoke_reason   TEXT,
    revoked_at      BIGINT,
    issued_at       BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX requests_run_at ON requests (run_at);
CREATE INDEX requests_state_created ON requests (state, created_at);
