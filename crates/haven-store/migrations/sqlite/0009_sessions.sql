-- Sessions (haven_core::workspaces::sessions): the identities sessions run as, given out once
-- per user (uid) and per asset (gid) and kept, and each session's record.
CREATE TABLE session_identities (
    -- user or asset.
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    id BIGINT NOT NULL UNIQUE,
    PRIMARY KEY (kind, name)
);

CREATE TABLE app_sessions (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    asset TEXT NOT NULL,
    app_name TEXT NOT NULL,
    app_version TEXT NOT NULL,
    -- terminal, web or desktop.
    kind TEXT NOT NULL,
    backend TEXT NOT NULL,
    uid BIGINT NOT NULL,
    gid BIGINT NOT NULL,
    -- running or ended.
    state TEXT NOT NULL,
    started_us BIGINT NOT NULL,
    ended_us BIGINT NOT NULL,
    end_reason TEXT NOT NULL,
    -- The SHA-256 of the session's repository token (deleted with the session's end).
    token_hash BLOB
);
CREATE INDEX app_sessions_owner ON app_sessions (owner, started_us);
CREATE INDEX app_sessions_state ON app_sessions (state);
