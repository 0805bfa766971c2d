-- Personal tokens gain a scope: the repository tokens made so far, or API tokens for /api/v1
-- (read only, or read and write).
ALTER TABLE repo_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'repository';

-- The access report of one asset reads its periods in report order straight from this index.
CREATE INDEX memberships_report ON memberships (asset, user_id, starts_us, id);
