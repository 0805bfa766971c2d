-- File Transfer: resumable uploads into an asset's arrivals area. An upload is written as an
-- ordered list of parts, each a complete sealed object (see haven_core::transfer::uploads).
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    asset TEXT NOT NULL,
    uploader TEXT NOT NULL,
    name TEXT NOT NULL,
    original_name TEXT NOT NULL,
    metadata TEXT NOT NULL,
    length BIGINT NOT NULL,
    upload_offset BIGINT NOT NULL,
    parts BIGINT NOT NULL,
    created_us BIGINT NOT NULL,
    expires_us BIGINT NOT NULL,
    completed_us BIGINT NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE INDEX uploads_asset ON uploads (asset, created_us);

CREATE TABLE upload_parts (
    upload_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    start_offset BIGINT NOT NULL,
    object_id TEXT NOT NULL,
    PRIMARY KEY (upload_id, seq)
);
