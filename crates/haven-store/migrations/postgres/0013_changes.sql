-- Change counters (haven_core::changes): what a node keeps in memory (token checks, package
-- policies) is valid while its topic's counter has not moved. Triggers bump the counter in the
-- same transaction as any change that can alter it, so no code path (nor a hand-run SQL
-- statement) can forget to, and NOTIFY every node when it commits; a token's last use and an
-- account's sign-in counters do not count.
CREATE TABLE change_counters (
    topic TEXT PRIMARY KEY,
    n BIGINT NOT NULL
);
INSERT INTO change_counters (topic, n) VALUES ('credentials', 0), ('packages', 0);

CREATE FUNCTION haven_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE change_counters SET n = n + 1 WHERE topic = TG_ARGV[0];
    PERFORM pg_notify('haven_changes', TG_ARGV[0]);
    RETURN NULL;
END
$$;

CREATE TRIGGER repo_tokens_added_removed AFTER INSERT OR DELETE ON repo_tokens
FOR EACH STATEMENT EXECUTE FUNCTION haven_changed('credentials');
CREATE TRIGGER repo_tokens_changed AFTER UPDATE ON repo_tokens FOR EACH ROW
WHEN ((OLD.hash, OLD.user_id, OLD.scope, OLD.expires_us) IS DISTINCT FROM (NEW.hash, NEW.user_id, NEW.scope, NEW.expires_us))
EXECUTE FUNCTION haven_changed('credentials');

CREATE TRIGGER users_removed AFTER DELETE ON users
FOR EACH STATEMENT EXECUTE FUNCTION haven_changed('credentials');
CREATE TRIGGER users_changed AFTER UPDATE ON users FOR EACH ROW
WHEN ((OLD.id, OLD.status) IS DISTINCT FROM (NEW.id, NEW.status))
EXECUTE FUNCTION haven_changed('credentials');

CREATE TRIGGER user_roles_changed AFTER INSERT OR UPDATE OR DELETE ON user_roles
FOR EACH STATEMENT EXECUTE FUNCTION haven_changed('credentials');

CREATE TRIGGER package_rules_changed AFTER INSERT OR UPDATE OR DELETE ON package_rules
FOR EACH STATEMENT EXECUTE FUNCTION haven_changed('packages');
CREATE TRIGGER package_advisories_changed AFTER INSERT OR UPDATE OR DELETE ON package_advisories
FOR EACH STATEMENT EXECUTE FUNCTION haven_changed('packages');

-- TRUNCATE (by hand) empties a table without a row or statement trigger of the kinds above.
CREATE TRIGGER repo_tokens_truncated AFTER TRUNCATE ON repo_tokens
FOR EACH STATEMENT EXECUTE FUNCTION haven_changed('credentials');
CREATE TRIGGER users_truncated AFTER TRUNCATE ON users
FOR EACH STATEMENT EXECUTE FUNCTION haven_changed('credentials');
CREATE TRIGGER user_roles_truncated AFTER TRUNCATE ON user_roles
FOR EACH STATEMENT EXECUTE FUNCTION haven_changed('credentials');
CREATE TRIGGER package_rules_truncated AFTER TRUNCATE ON package_rules
FOR EACH STATEMENT EXECUTE FUNCTION haven_changed('packages');
CREATE TRIGGER package_advisories_truncated AFTER TRUNCATE ON package_advisories
FOR EACH STATEMENT EXECUTE FUNCTION haven_changed('packages');
