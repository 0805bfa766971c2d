-- Several nodes (haven_core::cluster): who holds each lease, and until when. A row is removed
-- when its holder gives it up (a clean stop), so another node takes it at once.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_us BIGINT NOT NULL,
    -- When the current holder first took it (kept across renewals).
    taken_us BIGINT NOT NULL
);
