-- Change counters (haven_core::changes): what a node keeps in memory (token checks, package
-- policies) is valid while its topic's counter has not moved. Triggers bump the counter in the
-- same transaction as any change that can alter it, so no code path (nor a hand-run SQL
-- statement) can forget to; a token's last use and an account's sign-in counters do not count.
CREATE TABLE change_counters (
    topic TEXT PRIMARY KEY,
    n BIGINT NOT NULL
);
INSERT INTO change_counters (topic, n) VALUES ('credentials', 0), ('packages', 0);

CREATE TRIGGER repo_tokens_added AFTER INSERT ON repo_tokens
BEGIN UPDATE change_counters SET n = n + 1 WHERE topic = 'credentials'; END;
CREATE TRIGGER repo_tokens_removed AFTER DELETE ON repo_tokens
BEGIN UPDATE change_counters SET n = n + 1 WHERE topic = 'credentials'; END;
CREATE TRIGGER repo_tokens_changed AFTER UPDATE ON repo_tokens
WHEN OLD.hash IS NOT NEW.hash OR OLD.user_id IS NOT NEW.user_id OR OLD.scope IS NOT NEW.scope
    OR OLD.expires_us IS NOT NEW.expires_us
BEGIN UPDATE change_counters SET n = n + 1 WHERE topic = 'credentials'; END;

CREATE TRIGGER users_removed AFTER DELETE ON users
BEGIN UPDATE change_counters SET n = n + 1 WHERE topic = 'credentials'; END;
CREATE TRIGGER users_changed AFTER UPDATE ON users
WHEN OLD.id IS NOT NEW.id OR OLD.status IS NOT NEW.status
BEGIN UPDATE change_counters SET n = n + 1 WHERE topic = 'credentials'; END;

CREATE TRIGGER user_roles_added AFTER INSERT ON user_roles
BEGIN UPDATE change_counters SET n = n + 1 WHERE topic = 'credentials'; END;
CREATE TRIGGER user_roles_removed AFTER DELETE ON user_roles
BEGIN UPDATE change_counters SET n = n + 1 WHERE topic = 'credentials'; END;
CREATE TRIGGER user_roles_changed AFTER UPDATE ON user_roles
BEGIN UPDATE change_counters SET n = n + 1 WHERE topic = 'credentials'; END;

CREATE TRIGGER package_rules_added AFTER INSERT ON package_rules
BEGIN UPDATE change_counters SET n = n + 1 WHERE topic = 'packages'; END;
CREATE TRIGGER package_rules_removed AFTER DELETE ON package_rules
BEGIN UPDATE change_counters SET n = n + 1 WHERE topic = 'packages'; END;
CREATE TRIGGER package_rules_changed AFTER UPDATE ON package_rules
BEGIN UPDATE change_counters SET n = n + 1 WHERE topic = 'packages'; END;

CREATE TRIGGER package_advisories_added AFTER INSERT ON package_advisories
BEGIN UPDATE change_counters SET n = n + 1 WHERE topic = 'packages'; END;
CREATE TRIGGER package_advisories_removed AFTER DELETE ON package_advisories
BEGIN UPDATE change_counters SET n = n + 1 WHERE topic = 'packages'; END;
CREATE TRIGGER package_advisories_changed AFTER UPDATE ON package_advisories
BEGIN UPDATE change_counters SET n = n + 1 WHERE topic = 'packages'; END;
