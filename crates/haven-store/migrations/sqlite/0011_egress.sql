-- Egress (haven_core::egress): output requests, who may make them, and release downloads.

-- Members an asset's IAO has allowed to request outputs (SATRE 3.1.06).
CREATE TABLE egress_permissions (
    asset TEXT NOT NULL,
    user_id TEXT NOT NULL,
    granted_by TEXT NOT NULL,
    granted_us BIGINT NOT NULL,
    PRIMARY KEY (asset, user_id)
);

-- An output request: the typed state machine's state as JSON (`doc`), with the columns lists
-- need. `version` grows by one with every change: a change saved over another is refused.
CREATE TABLE egress_requests (
    id TEXT PRIMARY KEY,
    asset TEXT NOT NULL,
    author TEXT NOT NULL,
    -- draft, submitted, in_review, returned, approved, rejected, released, withdrawn, revoked.
    state TEXT NOT NULL,
    title TEXT NOT NULL,
    created_us BIGINT NOT NULL,
    updated_us BIGINT NOT NULL,
    version BIGINT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX egress_requests_author ON egress_requests (author, updated_us);
CREATE INDEX egress_requests_state ON egress_requests (state, updated_us);
CREATE INDEX egress_requests_asset ON egress_requests (asset, updated_us);

-- Single-use, short-lived download links of released requests: the SHA-256 of the secret.
CREATE TABLE egress_downloads (
    token_hash BLOB PRIMARY KEY,
    request TEXT NOT NULL REFERENCES egress_requests (id),
    made_for TEXT NOT NULL,
    created_us BIGINT NOT NULL,
    expires_us BIGINT NOT NULL,
    -- 0 until used.
    used_us BIGINT NOT NULL
);
CREATE INDEX egress_downloads_request ON egress_downloads (request);
