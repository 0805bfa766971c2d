-- The application catalogue (haven_core::workspaces::catalogue): applications with versions side
-- by side, and which version opens each file type by default.
CREATE TABLE apps (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    -- terminal, web or desktop.
    kind TEXT NOT NULL,
    -- The program and its arguments, a JSON array of strings (run without a shell).
    command TEXT NOT NULL,
    description TEXT NOT NULL,
    added_by TEXT NOT NULL,
    added_us BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);

-- One default version per file extension (lower case, no dot).
CREATE TABLE app_defaults (
    extension TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    FOREIGN KEY (name, version) REFERENCES apps (name, version)
);
