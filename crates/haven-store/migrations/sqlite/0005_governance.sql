-- Governance: information assets with their owner (IAO), administrators (IAAs), storage areas and
-- compliance record; memberships as a history of periods; IG training records; access requests;
-- Acceptable Use Statement acceptances; the profile a request gives a new person.
CREATE TABLE assets (
    name TEXT PRIMARY KEY,
    ig_ref TEXT NOT NULL UNIQUE,
    classification TEXT NOT NULL,
    description TEXT NOT NULL,
    starts_us BIGINT NOT NULL,
    -- 0: no end date.
    ends_us BIGINT NOT NULL,
    status TEXT NOT NULL,
    iao TEXT NOT NULL REFERENCES users (id),
    created_us BIGINT NOT NULL,
    review_due_us BIGINT NOT NULL,
    closed_us BIGINT NOT NULL,
    -- '' while open; 'archive' or 'shred' as the IAO chose.
    closure TEXT NOT NULL
);
CREATE INDEX assets_iao ON assets (iao);

CREATE TABLE asset_admins (
    asset TEXT NOT NULL REFERENCES assets (name),
    user_id TEXT NOT NULL REFERENCES users (id),
    added_us BIGINT NOT NULL,
    PRIMARY KEY (asset, user_id)
);
CREATE INDEX asset_admins_user ON asset_admins (user_id);

CREATE TABLE storage_areas (
    asset TEXT NOT NULL REFERENCES assets (name),
    area TEXT NOT NULL,
    prefix TEXT NOT NULL,
    created_us BIGINT NOT NULL,
    PRIMARY KEY (asset, area)
);

-- One row per period of membership: a role change or an extension ends the row and starts
-- another, so "who had access between two dates" is a range query.
CREATE TABLE memberships (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    asset TEXT NOT NULL REFERENCES assets (name),
    user_id TEXT NOT NULL REFERENCES users (id),
    role TEXT NOT NULL,
    starts_us BIGINT NOT NULL,
    ends_us BIGINT NOT NULL,
    -- 0 while current.
    ended_us BIGINT NOT NULL,
    end_reason TEXT NOT NULL,
    -- The approved request behind it (0: imported at the console).
    request_id BIGINT NOT NULL,
    confirmed_us BIGINT NOT NULL,
    flagged_us BIGINT NOT NULL,
    suspended BIGINT NOT NULL
);
CREATE UNIQUE INDEX memberships_current ON memberships (asset, user_id) WHERE ended_us = 0;
CREATE INDEX memberships_user ON memberships (user_id, ended_us);
CREATE INDEX memberships_starts ON memberships (starts_us);

CREATE TABLE compliance_items (
    asset TEXT NOT NULL REFERENCES assets (name),
    kind TEXT NOT NULL,
    reference TEXT NOT NULL,
    expires_us BIGINT NOT NULL,
    updated_us BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    -- When "expiring soon" was sent for this expiry (0: not yet).
    flagged_us BIGINT NOT NULL,
    PRIMARY KEY (asset, kind)
);

CREATE TABLE training_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL REFERENCES users (id),
    course TEXT NOT NULL,
    completed_us BIGINT NOT NULL,
    expires_us BIGINT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_us BIGINT NOT NULL,
    -- Reminders sent for this record: 0 none, 1 the 30-day one, 2 the 7-day one too.
    reminders BIGINT NOT NULL
);
CREATE INDEX training_records_user ON training_records (user_id, course);

CREATE TABLE access_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    asset TEXT NOT NULL REFERENCES assets (name),
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    new_email TEXT NOT NULL,
    new_name TEXT NOT NULL,
    new_organisation TEXT NOT NULL,
    role TEXT NOT NULL,
    ends_us BIGINT NOT NULL,
    justification TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_us BIGINT NOT NULL,
    status TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    decided_us BIGINT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX access_requests_status ON access_requests (status, id);
CREATE INDEX access_requests_asset ON access_requests (asset, id);

CREATE TABLE aus_acceptances (
    user_id TEXT NOT NULL REFERENCES users (id),
    version BIGINT NOT NULL,
    accepted_us BIGINT NOT NULL,
    PRIMARY KEY (user_id, version)
);

-- What governance knows of a person beyond the account: the name and organisation a request
-- gave, and whether the lifecycle job disabled the account for having no access (so that a new
-- membership re-enables it, while a service-desk disabling stays).
CREATE TABLE user_profiles (
    user_id TEXT PRIMARY KEY REFERENCES users (id),
    name TEXT NOT NULL,
    organisation TEXT NOT NULL,
    auto_disabled_us BIGINT NOT NULL
);
