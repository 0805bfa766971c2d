-- Batch jobs (haven_core::workspaces::jobs): a script run against an asset's data by an
-- application of the catalogue, queued until the serving Haven runs it.
CREATE TABLE batch_jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    asset TEXT NOT NULL,
    app_name TEXT NOT NULL,
    app_version TEXT NOT NULL,
    script_name TEXT NOT NULL,
    -- queued, running, succeeded, failed or cancelled.
    state TEXT NOT NULL,
    exit_code BIGINT,
    -- Which backend ran it (empty until it starts), and the identities it ran as.
    backend TEXT NOT NULL,
    uid BIGINT NOT NULL,
    gid BIGINT NOT NULL,
    submitted_us BIGINT NOT NULL,
    started_us BIGINT NOT NULL,
    ended_us BIGINT NOT NULL,
    end_reason TEXT NOT NULL,
    -- The SHA-256 of the job's repository token while it runs.
    token_hash BYTEA
);
CREATE INDEX batch_jobs_owner ON batch_jobs (owner, submitted_us);
CREATE INDEX batch_jobs_state ON batch_jobs (state, submitted_us);
