-- Identity: sign-in state of accounts, password history, OTP tokens, sessions, single-use links,
-- security questions, emergency and recovery codes, attempt counters, service-wide settings.
ALTER TABLE users ADD COLUMN failed_signins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until_us BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN password_changed_us BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN ice_enabled BIGINT NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN last_signin_us BIGINT NOT NULL DEFAULT 0;
UPDATE users SET password_changed_us = created_us;

CREATE TABLE password_history (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    changed_us BIGINT NOT NULL,
    password_hash TEXT NOT NULL
);
CREATE INDEX password_history_user ON password_history (user_id, changed_us);

CREATE TABLE otp_tokens (
    serial TEXT PRIMARY KEY,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    product TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    digits BIGINT NOT NULL,
    period BIGINT NOT NULL,
    seed_sealed BLOB NOT NULL,
    counter BIGINT NOT NULL,
    last_step BIGINT NOT NULL,
    drift BIGINT NOT NULL,
    pin_hash TEXT,
    state TEXT NOT NULL,
    failures BIGINT NOT NULL,
    created_us BIGINT NOT NULL,
    last_used_us BIGINT NOT NULL
);
CREATE INDEX otp_tokens_user ON otp_tokens (user_id);

CREATE TABLE sessions (
    hash BLOB PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    created_us BIGINT NOT NULL,
    last_seen_us BIGINT NOT NULL,
    mfa_at_us BIGINT NOT NULL,
    source TEXT NOT NULL,
    user_agent TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE links (
    hash BLOB PRIMARY KEY,
    purpose TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    created_us BIGINT NOT NULL,
    expires_us BIGINT NOT NULL
);
CREATE INDEX links_user ON links (user_id, purpose);

CREATE TABLE security_answers (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    question TEXT NOT NULL,
    answer_hash TEXT NOT NULL,
    PRIMARY KEY (user_id, position)
);

CREATE TABLE emergency_codes (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    created_us BIGINT NOT NULL,
    expires_us BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash BLOB NOT NULL,
    PRIMARY KEY (user_id, hash)
);

-- Attempts counted in sliding windows (failed sign-ins per address, ICE attempts per account).
CREATE TABLE attempts (
    key TEXT NOT NULL,
    at_us BIGINT NOT NULL
);
CREATE INDEX attempts_key ON attempts (key, at_us);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
