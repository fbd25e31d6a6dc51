-- raconn serve: one row per request id (SQLite).
CREATE TABLE requests (
    request_id      TEXT PRIMARY KEY,
    profile         TEXT NOT NULL,
    params          TEXT NOT NULL,
    body_mac        TEXT NOT NULL,
    password_sealed BLOB,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    run_at          INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until     INTEGER,
    claimed_from    TEXT,
    record          BLOB,
    key_sealed      BLOB,
    pfx             BLOB,
    pfx_purged      INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    thumbprint      TEXT,
    serial          TEXT,
    not_after       TEXT,
    subject         TEXT,
    client_tx       TEXT,
    server_tx       TEXT,
    revoke_reason   TEXT,
    revoked_at      INTEGER,
    issued_at       INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX requests_run_at ON requests (run_at);
CREATE INDEX requests_state_created ON requests (state, created_at);
