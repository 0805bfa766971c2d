-- Foundation: audit trail, accounts, bootstrap links, service updates, key hierarchy, objects.
CREATE TABLE audit_events (
    seq BIGINT PRIMARY KEY,
    at_us BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    project TEXT NOT NULL,
    source TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash BYTEA NOT NULL,
    hash BYTEA NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at_us);
-- The database refuses edits and deletions; the hash chain detects them if someone drops this.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit events are append-only'; END; $$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash BYTEA NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

CREATE TABLE audit_checkpoints (
    seq BIGINT PRIMARY KEY,
    hash BYTEA NOT NULL,
    at_us BIGINT NOT NULL,
    signature BYTEA NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    status TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_us BIGINT NOT NULL
);
CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    PRIMARY KEY (user_id, role)
);

CREATE TABLE bootstrap_tokens (
    hash BYTEA PRIMARY KEY,
    expires_us BIGINT NOT NULL
);

CREATE TABLE service_updates (
    id BIGSERIAL PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    published_us BIGINT NOT NULL,
    author TEXT NOT NULL
);
CREATE INDEX service_updates_published ON service_updates (published_us);

CREATE TABLE project_keys (
    project TEXT NOT NULL,
    version BIGINT NOT NULL,
    wrapped BYTEA NOT NULL,
    created_us BIGINT NOT NULL,
    PRIMARY KEY (project, version)
);

CREATE TABLE objects (
    id TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    key_version BIGINT NOT NULL,
    wrapped_key BYTEA NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_us BIGINT NOT NULL
);
