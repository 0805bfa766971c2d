-- File Transfer: resumable uploads into an asset's arrivals area. An upload is written as an
-- ordered list of parts, each a complete sealed object (see haven_core::transfer::uploads). A
-- complete upload is an arrival: it is scanned (scan_*), then accepted or rejected (decision).
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    asset TEXT NOT NULL,
    uploader TEXT NOT NULL,
    -- The drop-off link it came through ('' for a member's upload).
    link_id TEXT NOT NULL,
    name TEXT NOT NULL,
    original_name TEXT NOT NULL,
    metadata TEXT NOT NULL,
    length BIGINT NOT NULL,
    upload_offset BIGINT NOT NULL,
    parts BIGINT NOT NULL,
    created_us BIGINT NOT NULL,
    expires_us BIGINT NOT NULL,
    completed_us BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    -- '' until complete; then pending, clean, infected or review.
    scan_status TEXT NOT NULL,
    scan_detail TEXT NOT NULL,
    scan_engine TEXT NOT NULL,
    scan_attempts BIGINT NOT NULL,
    scan_next_us BIGINT NOT NULL,
    scanned_us BIGINT NOT NULL,
    -- '' until decided; then accepted or rejected.
    decision TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    decided_us BIGINT NOT NULL
);
CREATE INDEX uploads_asset ON uploads (asset, created_us);
CREATE INDEX uploads_unfinished ON uploads (completed_us, expires_us);
CREATE INDEX uploads_scans ON uploads (scan_status, scan_next_us);
CREATE INDEX uploads_link ON uploads (link_id, completed_us);

CREATE TABLE upload_parts (
    upload_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    start_offset BIGINT NOT NULL,
    object_id TEXT NOT NULL,
    PRIMARY KEY (upload_id, seq)
);

-- Drop-off links: write-only capabilities an IAO or IAA gives an external provider. Only the
-- SHA-256 of the secret is kept; the password, if any, as an argon2id hash.
CREATE TABLE drop_links (
    id TEXT PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE,
    asset TEXT NOT NULL,
    created_by TEXT NOT NULL,
    label TEXT NOT NULL,
    created_us BIGINT NOT NULL,
    expires_us BIGINT NOT NULL,
    password_hash TEXT NOT NULL,
    -- 0: no limit.
    max_bytes BIGINT NOT NULL,
    max_files BIGINT NOT NULL,
    bytes_reserved BIGINT NOT NULL,
    files_started BIGINT NOT NULL,
    revoked_us BIGINT NOT NULL
);
CREATE INDEX drop_links_asset ON drop_links (asset, created_us);
