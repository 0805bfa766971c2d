//! SQL for the identity part of the storage port.

use async_trait::async_trait;
use haven_core::StoreError;
use haven_core::accounts::Role;
use haven_core::audit::AuditEvent;
use haven_core::identity::records::{
    Account, AccountStatus, EmergencyCode, LinkPurpose, LinkRecord, OtpKind, OtpTokenRecord, SecurityAnswer,
    SessionKind, SessionRecord, TokenState,
};
use haven_core::identity::store::IdentityTx;
use sqlx::any::AnyRow;

use super::rows::{AUDIT_COLUMNS, Columns, audit_event};
use super::unit::SqlTx;

const ACCOUNT_COLUMNS: &str = "id, email, status, password_hash, created_us, failed_signins, locked_until_us, \
     password_changed_us, ice_enabled, last_signin_us";
const TOKEN_COLUMNS: &str = "serial, user_id, kind, product, algorithm, digits, period, seed_sealed, counter, \
     last_step, drift, pin_hash, state, failures, created_us, last_used_us";
const SESSION_COLUMNS: &str = "hash, user_id, kind, created_us, last_seen_us, mfa_at_us, source, user_agent";

fn account(row: &AnyRow, roles: Vec<Role>) -> Result<Account, StoreError> {
    Ok(Account {
        id: row.col("id")?,
        email: row.col("email")?,
        status: row.parsed("status", AccountStatus::parse, "account status")?,
        roles,
        password_hash: row.col("password_hash")?,
        created_us: row.col("created_us")?,
        failed_signins: row.col("failed_signins")?,
        locked_until_us: row.col("locked_until_us")?,
        password_changed_us: row.col("password_changed_us")?,
        ice_enabled: row.flag("ice_enabled")?,
        last_signin_us: row.col("last_signin_us")?,
    })
}

fn token(row: &AnyRow) -> Result<OtpTokenRecord, StoreError> {
    Ok(OtpTokenRecord {
        serial: row.col("serial")?,
        user_id: row.col("user_id")?,
        kind: row.parsed("kind", OtpKind::parse, "token kind")?,
        product: row.col("product")?,
        algorithm: row.col("algorithm")?,
        digits: row.col("digits")?,
        period: row.col("period")?,
        seed_sealed: row.col("seed_sealed")?,
        counter: row.col("counter")?,
        last_step: row.col("last_step")?,
        drift: row.col("drift")?,
        pin_hash: row.col("pin_hash")?,
        state: row.parsed("state", TokenState::parse, "token state")?,
        failures: row.col("failures")?,
        created_us: row.col("created_us")?,
        last_used_us: row.col("last_used_us")?,
    })
}

fn session(row: &AnyRow) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        hash: row.hash32("hash")?,
        user_id: row.col("user_id")?,
        kind: row.parsed("kind", SessionKind::parse, "session kind")?,
        created_us: row.col("created_us")?,
        last_seen_us: row.col("last_seen_us")?,
        mfa_at_us: row.col("mfa_at_us")?,
        source: row.col("source")?,
        user_agent: row.col("user_agent")?,
    })
}

fn link(row: &AnyRow, purpose: LinkPurpose) -> Result<LinkRecord, StoreError> {
    Ok(LinkRecord {
        hash: row.hash32("hash")?,
        purpose,
        user_id: row.col("user_id")?,
        subject: row.col("subject")?,
        created_us: row.col("created_us")?,
        expires_us: row.col("expires_us")?,
    })
}

/// `%text%` for LIKE, with the wildcards in `text` escaped.
fn contains_pattern(text: &str) -> String {
    let escaped = text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

impl SqlTx<'_> {
    /// Account rows (`ACCOUNT_COLUMNS`) with their roles.
    async fn accounts(&mut self, rows: &[AnyRow]) -> Result<Vec<Account>, StoreError> {
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let roles = self.roles_of(&row.col::<String>("id")?).await?;
            out.push(account(row, roles)?);
        }
        Ok(out)
    }

    async fn roles_of(&mut self, user_id: &str) -> Result<Vec<Role>, StoreError> {
        let rows =
            self.all(sqlx::query("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role").bind(user_id)).await?;
        rows.iter().map(|r| r.parsed("role", Role::parse, "role")).collect()
    }
}

#[async_trait]
impl IdentityTx for SqlTx<'_> {
    async fn account(&mut self, id: &str) -> Result<Option<Account>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM users WHERE id = $1");
        let row = self.optional(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id)).await?;
        let Some(row) = row else { return Ok(None) };
        let roles = self.roles_of(id).await?;
        account(&row, roles).map(Some)
    }

    async fn account_emails(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self.all(sqlx::query("SELECT LOWER(email) AS email, id FROM users")).await?;
        rows.iter().map(|r| Ok((r.col("email")?, r.col("id")?))).collect()
    }

    async fn accounts_with_role(&mut self, role: &str) -> Result<Vec<Account>, StoreError> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM users WHERE status = 'active' AND id IN (SELECT user_id FROM user_roles WHERE role = $1) ORDER BY id"
        );
        let rows = self.all(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(role)).await?;
        self.accounts(&rows).await
    }

    async fn find_accounts(&mut self, query: &str, limit: i64) -> Result<Vec<Account>, StoreError> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM users WHERE id LIKE $1 ESCAPE '\\' OR LOWER(email) LIKE $1 ESCAPE '\\' ORDER BY id LIMIT $2"
        );
        let rows = self.all(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(contains_pattern(query)).bind(limit)).await?;
        self.accounts(&rows).await
    }

    async fn update_account(&mut self, a: &Account) -> Result<(), StoreError> {
        let q = sqlx::query(
            "UPDATE users SET email = $2, status = $3, password_hash = $4, failed_signins = $5, locked_until_us = $6, \
             password_changed_us = $7, ice_enabled = $8, last_signin_us = $9 WHERE id = $1",
        )
        .bind(a.id.as_str())
        .bind(a.email.as_str())
        .bind(a.status.as_str())
        .bind(a.password_hash.as_str())
        .bind(a.failed_signins)
        .bind(a.locked_until_us)
        .bind(a.password_changed_us)
        .bind(i64::from(a.ice_enabled))
        .bind(a.last_signin_us);
        self.exec(q).await.map(|_| ())
    }

    async fn password_history(&mut self, user_id: &str, limit: i64) -> Result<Vec<String>, StoreError> {
        self.all(
            sqlx::query(
                "SELECT password_hash FROM password_history WHERE user_id = $1 ORDER BY changed_us DESC LIMIT $2",
            )
            .bind(user_id)
            .bind(limit),
        )
        .await?
        .iter()
        .map(|r| r.col("password_hash"))
        .collect()
    }

    async fn push_password_history(
        &mut self,
        user_id: &str,
        hash: &str,
        at_us: i64,
        keep: i64,
    ) -> Result<(), StoreError> {
        let q = sqlx::query("INSERT INTO password_history (user_id, changed_us, password_hash) VALUES ($1, $2, $3)")
            .bind(user_id)
            .bind(at_us)
            .bind(hash);
        self.exec(q).await?;
        let q = sqlx::query(
            "DELETE FROM password_history WHERE user_id = $1 AND changed_us NOT IN \
             (SELECT changed_us FROM password_history WHERE user_id = $1 ORDER BY changed_us DESC LIMIT $2)",
        )
        .bind(user_id)
        .bind(keep);
        self.exec(q).await.map(|_| ())
    }

    async fn tokens_of(&mut self, user_id: &str) -> Result<Vec<OtpTokenRecord>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM otp_tokens WHERE user_id = $1 ORDER BY created_us, serial");
        self.all(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id)).await?.iter().map(token).collect()
    }

    async fn token(&mut self, serial: &str) -> Result<Option<OtpTokenRecord>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM otp_tokens WHERE serial = $1");
        let row = self.optional(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(serial)).await?;
        row.as_ref().map(token).transpose()
    }

    async fn put_token(&mut self, t: &OtpTokenRecord) -> Result<(), StoreError> {
        let q = sqlx::query("DELETE FROM otp_tokens WHERE serial = $1").bind(t.serial.as_str());
        self.exec(q).await?;
        let sql = format!(
            "INSERT INTO otp_tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        );
        let q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(t.serial.as_str())
            .bind(t.user_id.clone())
            .bind(t.kind.as_str())
            .bind(t.product.as_str())
            .bind(t.algorithm.as_str())
            .bind(t.digits)
            .bind(t.period)
            .bind(t.seed_sealed.clone())
            .bind(t.counter)
            .bind(t.last_step)
            .bind(t.drift)
            .bind(t.pin_hash.clone())
            .bind(t.state.as_str())
            .bind(t.failures)
            .bind(t.created_us)
            .bind(t.last_used_us);
        self.exec(q).await.map(|_| ())
    }

    async fn delete_token(&mut self, serial: &str) -> Result<bool, StoreError> {
        self.exec(sqlx::query("DELETE FROM otp_tokens WHERE serial = $1").bind(serial)).await.map(|n| n == 1)
    }

    async fn unassigned_tokens(&mut self, limit: i64) -> Result<Vec<OtpTokenRecord>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM otp_tokens WHERE user_id IS NULL ORDER BY serial LIMIT $1");
        self.all(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit)).await?.iter().map(token).collect()
    }

    async fn insert_session(&mut self, s: &SessionRecord) -> Result<(), StoreError> {
        let sql = format!("INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
        let q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(s.hash.to_vec())
            .bind(s.user_id.as_str())
            .bind(s.kind.as_str())
            .bind(s.created_us)
            .bind(s.last_seen_us)
            .bind(s.mfa_at_us)
            .bind(s.source.as_str())
            .bind(s.user_agent.as_str());
        self.exec(q).await.map(|_| ())
    }

    async fn session(&mut self, hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE hash = $1");
        let row = self.optional(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(hash.to_vec())).await?;
        row.as_ref().map(session).transpose()
    }

    async fn sessions_of(&mut self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 ORDER BY created_us DESC");
        self.all(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id)).await?.iter().map(session).collect()
    }

    async fn touch_session(&mut self, hash: &[u8; 32], at_us: i64) -> Result<(), StoreError> {
        let q = sqlx::query("UPDATE sessions SET last_seen_us = $2 WHERE hash = $1").bind(hash.to_vec()).bind(at_us);
        self.exec(q).await.map(|_| ())
    }

    async fn set_session_mfa(&mut self, hash: &[u8; 32], at_us: i64) -> Result<(), StoreError> {
        let q = sqlx::query("UPDATE sessions SET mfa_at_us = $2, last_seen_us = $2 WHERE hash = $1")
            .bind(hash.to_vec())
            .bind(at_us);
        self.exec(q).await.map(|_| ())
    }

    async fn delete_session(&mut self, hash: &[u8; 32]) -> Result<bool, StoreError> {
        self.exec(sqlx::query("DELETE FROM sessions WHERE hash = $1").bind(hash.to_vec())).await.map(|n| n == 1)
    }

    async fn delete_sessions_of(&mut self, user_id: &str, keep: Option<&[u8; 32]>) -> Result<u64, StoreError> {
        let keep = keep.map(|k| k.to_vec()).unwrap_or_default();
        let q = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND hash <> $2").bind(user_id).bind(keep);
        self.exec(q).await
    }

    async fn delete_sessions_of_kind(&mut self, user_id: Option<&str>, kind: SessionKind) -> Result<u64, StoreError> {
        let q = match user_id {
            Some(id) => {
                sqlx::query("DELETE FROM sessions WHERE kind = $1 AND user_id = $2").bind(kind.as_str()).bind(id)
            }
            None => sqlx::query("DELETE FROM sessions WHERE kind = $1").bind(kind.as_str()),
        };
        self.exec(q).await
    }

    async fn replace_link(&mut self, l: &LinkRecord) -> Result<(), StoreError> {
        let q = sqlx::query("DELETE FROM links WHERE user_id = $1 AND purpose = $2 AND subject = $3")
            .bind(l.user_id.as_str())
            .bind(l.purpose.as_str())
            .bind(l.subject.as_str());
        self.exec(q).await?;
        let q = sqlx::query(
            "INSERT INTO links (hash, purpose, user_id, subject, created_us, expires_us) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(l.hash.to_vec())
        .bind(l.purpose.as_str())
        .bind(l.user_id.as_str())
        .bind(l.subject.as_str())
        .bind(l.created_us)
        .bind(l.expires_us);
        self.exec(q).await.map(|_| ())
    }

    async fn link(
        &mut self,
        hash: &[u8; 32],
        purpose: LinkPurpose,
        now_us: i64,
    ) -> Result<Option<LinkRecord>, StoreError> {
        let row = self.optional(sqlx::query(
            "SELECT hash, user_id, subject, created_us, expires_us FROM links WHERE hash = $1 AND purpose = $2 AND expires_us > $3",
        )
        .bind(hash.to_vec())
        .bind(purpose.as_str())
        .bind(now_us)).await?;
        row.map(|r| link(&r, purpose)).transpose()
    }

    async fn take_link(
        &mut self,
        hash: &[u8; 32],
        purpose: LinkPurpose,
        now_us: i64,
    ) -> Result<Option<LinkRecord>, StoreError> {
        let found = self.link(hash, purpose, now_us).await?;
        if found.is_some() {
            self.exec(sqlx::query("DELETE FROM links WHERE hash = $1").bind(hash.to_vec())).await?;
        }
        Ok(found)
    }

    async fn security_answers(&mut self, user_id: &str) -> Result<Vec<SecurityAnswer>, StoreError> {
        self.all(
            sqlx::query(
                "SELECT position, question, answer_hash FROM security_answers WHERE user_id = $1 ORDER BY position",
            )
            .bind(user_id),
        )
        .await?
        .iter()
        .map(|r| {
            Ok(SecurityAnswer {
                position: r.col("position")?,
                question: r.col("question")?,
                answer_hash: r.col("answer_hash")?,
            })
        })
        .collect()
    }

    async fn set_security_answers(&mut self, user_id: &str, answers: &[SecurityAnswer]) -> Result<(), StoreError> {
        self.exec(sqlx::query("DELETE FROM security_answers WHERE user_id = $1").bind(user_id)).await?;
        for a in answers {
            let q = sqlx::query(
                "INSERT INTO security_answers (user_id, position, question, answer_hash) VALUES ($1, $2, $3, $4)",
            )
            .bind(user_id)
            .bind(a.position)
            .bind(a.question.as_str())
            .bind(a.answer_hash.as_str());
            self.exec(q).await?;
        }
        Ok(())
    }

    async fn emergency_code(&mut self, user_id: &str) -> Result<Option<EmergencyCode>, StoreError> {
        let row = self
            .optional(
                sqlx::query(
                    "SELECT user_id, code_hash, created_us, expires_us FROM emergency_codes WHERE user_id = $1",
                )
                .bind(user_id),
            )
            .await?;
        row.map(|r| {
            Ok(EmergencyCode {
                user_id: r.col("user_id")?,
                code_hash: r.col("code_hash")?,
                created_us: r.col("created_us")?,
                expires_us: r.col("expires_us")?,
            })
        })
        .transpose()
    }

    async fn put_emergency_code(&mut self, c: &EmergencyCode) -> Result<(), StoreError> {
        self.delete_emergency_code(&c.user_id).await?;
        let q = sqlx::query(
            "INSERT INTO emergency_codes (user_id, code_hash, created_us, expires_us) VALUES ($1, $2, $3, $4)",
        )
        .bind(c.user_id.as_str())
        .bind(c.code_hash.as_str())
        .bind(c.created_us)
        .bind(c.expires_us);
        self.exec(q).await.map(|_| ())
    }

    async fn delete_emergency_code(&mut self, user_id: &str) -> Result<bool, StoreError> {
        self.exec(sqlx::query("DELETE FROM emergency_codes WHERE user_id = $1").bind(user_id)).await.map(|n| n == 1)
    }

    async fn replace_recovery_codes(&mut self, user_id: &str, hashes: &[[u8; 32]]) -> Result<(), StoreError> {
        self.exec(sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id)).await?;
        for h in hashes {
            let q = sqlx::query("INSERT INTO recovery_codes (user_id, hash) VALUES ($1, $2)")
                .bind(user_id)
                .bind(h.to_vec());
            self.exec(q).await?;
        }
        Ok(())
    }

    async fn count_recovery_codes(&mut self, user_id: &str) -> Result<i64, StoreError> {
        let row =
            self.one(sqlx::query("SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = $1").bind(user_id)).await?;
        row.col("n")
    }

    async fn take_recovery_code(&mut self, user_id: &str, hash: &[u8; 32]) -> Result<bool, StoreError> {
        let q = sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1 AND hash = $2")
            .bind(user_id)
            .bind(hash.to_vec());
        self.exec(q).await.map(|n| n == 1)
    }

    async fn audit_about(&mut self, user_id: &str, limit: i64) -> Result<Vec<AuditEvent>, StoreError> {
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE actor = $1 OR target = $1 ORDER BY seq DESC LIMIT $2"
        );
        self.all(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id).bind(limit))
            .await?
            .iter()
            .map(audit_event)
            .collect()
    }

    async fn record_attempt(&mut self, key: &str, at_us: i64) -> Result<(), StoreError> {
        self.exec(sqlx::query("INSERT INTO attempts (key, at_us) VALUES ($1, $2)").bind(key).bind(at_us))
            .await
            .map(|_| ())
    }

    async fn count_attempts(&mut self, key: &str, since_us: i64) -> Result<i64, StoreError> {
        let row = self
            .one(
                sqlx::query("SELECT COUNT(*) AS n FROM attempts WHERE key = $1 AND at_us >= $2")
                    .bind(key)
                    .bind(since_us),
            )
            .await?;
        row.col("n")
    }

    async fn clear_attempts(&mut self, key: &str) -> Result<(), StoreError> {
        self.exec(sqlx::query("DELETE FROM attempts WHERE key = $1").bind(key)).await.map(|_| ())
    }

    async fn prune_attempts(&mut self, before_us: i64) -> Result<u64, StoreError> {
        self.exec(sqlx::query("DELETE FROM attempts WHERE at_us < $1").bind(before_us)).await
    }

    async fn setting(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        let row = self.optional(sqlx::query("SELECT value FROM settings WHERE key = $1").bind(key)).await?;
        row.map(|r| r.col("value")).transpose()
    }

    async fn set_setting(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.exec(sqlx::query("DELETE FROM settings WHERE key = $1").bind(key)).await?;
        self.exec(sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2)").bind(key).bind(value))
            .await
            .map(|_| ())
    }

    async fn set_role(&mut self, user_id: &str, role: Role, on: bool) -> Result<bool, StoreError> {
        let q = if on {
            sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        } else {
            sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND role = $2")
        };
        Ok(self.exec(q.bind(user_id).bind(role.as_str())).await? == 1)
    }
}
