-- Package repository: policy rules, verified cached files, learnt upload times, repository tokens.
CREATE TABLE package_rules (
    id BIGSERIAL PRIMARY KEY,
    ecosystem TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    skip_cooldown BIGINT NOT NULL,
    reason TEXT NOT NULL,
    added_by TEXT NOT NULL,
    added_us BIGINT NOT NULL,
    UNIQUE (ecosystem, kind, name, spec)
);
CREATE INDEX package_rules_name ON package_rules (ecosystem, name);

CREATE TABLE package_files (
    ecosystem TEXT NOT NULL,
    path TEXT NOT NULL,
    object_id TEXT NOT NULL REFERENCES objects (id),
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    fetched_us BIGINT NOT NULL,
    PRIMARY KEY (ecosystem, path)
);

CREATE TABLE package_upload_times (
    ecosystem TEXT NOT NULL,
    key TEXT NOT NULL,
    at_us BIGINT NOT NULL,
    PRIMARY KEY (ecosystem, key)
);

CREATE TABLE repo_tokens (
    hash BYTEA PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    created_us BIGINT NOT NULL,
    last_used_us BIGINT NOT NULL,
    expires_us BIGINT NOT NULL
);
CREATE INDEX repo_tokens_user ON repo_tokens (user_id);

-- Known vulnerable and malicious versions, from OSV records imported offline; one row per
-- advisory and affected package (`affected` is the JSON of its versions and ranges).
CREATE TABLE package_advisories (
    id TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    malicious BIGINT NOT NULL,
    severity TEXT NOT NULL,
    summary TEXT NOT NULL,
    affected TEXT NOT NULL,
    imported_us BIGINT NOT NULL,
    PRIMARY KEY (id, ecosystem, name)
);
CREATE INDEX package_advisories_name ON package_advisories (ecosystem, name);

-- Software requests and their decisions (with the dependency closure approved).
CREATE TABLE package_requests (
    id BIGSERIAL PRIMARY KEY,
    requester TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    justification TEXT NOT NULL,
    status TEXT NOT NULL,
    created_us BIGINT NOT NULL,
    decided_by TEXT NOT NULL,
    decided_us BIGINT NOT NULL,
    note TEXT NOT NULL,
    closure TEXT NOT NULL
);
CREATE INDEX package_requests_status ON package_requests (status, created_us);
CREATE INDEX package_requests_requester ON package_requests (requester, created_us);
