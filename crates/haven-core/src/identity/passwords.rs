//! Passwords: the policy (length, a shipped list of common and breached passwords, zxcvbn strength
//! with its feedback, no reuse of recent ones, optional expiry) and changing a password.

use std::collections::HashSet;
use std::sync::LazyLock;

use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::Identity;
use super::records::{Account, LinkPurpose};
use crate::accounts::PASSWORD_MAX_CHARS;
use crate::audit::{NewAuditEvent, action};
use crate::authz::{Action, Resource, require};
use crate::caller::Caller;
use crate::{CoreError, Tx, to_micros, transact};

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../data/common-passwords.txt").lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect()
});

/// Why a password was refused, in words the user can act on.
fn refuse(message: impl Into<String>) -> CoreError {
    CoreError::invalid("password", message)
}

/// Who sets a new password, which decides what else the change does.
pub(crate) enum PasswordSetBy {
    /// The signed-in owner: their other sessions end, this one is kept.
    Owner { keep_session: [u8; 32] },
    /// Someone holding a reset link, used up in the same unit: every session ends.
    ResetLink { link: [u8; 32] },
}

impl Identity {
    /// Check a new password against the policy. The error message carries zxcvbn's feedback.
    pub fn check_new_password(&self, password: &str, account: &Account) -> Result<(), CoreError> {
        let chars = password.chars().count();
        let min = self.policy.password_min_chars;
        if chars < min {
            return Err(refuse(format!(
                "use at least {min} characters; a few unrelated words make a long password that is easy to remember"
            )));
        }
        if chars > PASSWORD_MAX_CHARS {
            return Err(refuse(format!("use at most {PASSWORD_MAX_CHARS} characters")));
        }
        let lower = password.to_lowercase();
        if COMMON.contains(lower.as_str()) {
            return Err(refuse("this password is on the list of common or breached passwords; choose another"));
        }
        if lower.contains(&account.id.to_lowercase()) {
            return Err(refuse("do not include your user id in your password"));
        }
        let local = account.email.split('@').next().unwrap_or_default();
        let inputs = [account.id.as_str(), account.email.as_str(), local, "haven"];
        let estimate = zxcvbn::zxcvbn(password, &inputs);
        let score = u8::from(estimate.score());
        if score < self.policy.password_min_score {
            let mut why = format!(
                "this password is too easy to guess (strength {score} of 4, {} needed)",
                self.policy.password_min_score
            );
            if let Some(feedback) = estimate.feedback() {
                if let Some(warning) = feedback.warning() {
                    why.push_str(&format!(". {warning}"));
                }
                for s in feedback.suggestions() {
                    why.push_str(&format!(". {s}"));
                }
            }
            return Err(refuse(why));
        }
        Ok(())
    }

    /// Whether the account's password is older than the policy allows.
    pub fn password_expired(&self, account: &Account, now_us: i64) -> bool {
        let days = self.policy.password_expiry_days;
        days > 0
            && account.has_password()
            && now_us - account.password_changed_us > Duration::days(i64::from(days)).whole_microseconds() as i64
    }

    /// Refuse `password` if it matches the current or one of the recent passwords.
    pub(crate) async fn refuse_reuse(&self, account: &Account, password: &str) -> Result<(), CoreError> {
        let id = account.id.clone();
        let keep = i64::from(self.policy.password_history);
        let mut recent = crate::read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.password_history(&id, keep).await?) })
        })
        .await?;
        if account.has_password() {
            recent.insert(0, account.password_hash.clone());
        }
        for old in recent.into_iter().take(self.policy.password_history.max(1) as usize) {
            if self.hasher.verify(old, Zeroizing::new(password.to_string())).await {
                return Err(refuse(format!(
                    "do not reuse one of your last {} passwords; choose a new one",
                    self.policy.password_history
                )));
            }
        }
        Ok(())
    }

    /// Whether the caller may change their password now (`StepUpRequired` unless both factors
    /// were proven recently).
    pub fn may_change_password(&self, who: &Caller) -> Result<(), CoreError> {
        require(who, Action::ChangeOwnPassword, Resource::Account(&who.user_id))?;
        self.check_fresh(who)
    }

    /// Change one's own password: needs a fresh MFA sign-in and the current password. Ends the
    /// user's other sessions and tells them by email.
    pub async fn change_password(
        &self,
        who: &Caller,
        current: &str,
        new: &str,
        confirm: &str,
    ) -> Result<(), CoreError> {
        let source = who.source.as_str();
        self.may_change_password(who)?;
        if !haven_crypto::ct_eq(new.as_bytes(), confirm.as_bytes()) {
            return Err(refuse("the two new passwords differ; type the same password twice"));
        }
        let account = self.load_account(&who.user_id).await?;
        self.check_allowed("current_password", &who.user_id).await?;
        if !self.hasher.verify(account.password_hash.clone(), Zeroizing::new(current.to_string())).await {
            let details = serde_json::json!({});
            self.check_failed(who, action::PASSWORD_CURRENT_CHECK_FAILED, details).await?;
            return Err(CoreError::invalid("current_password", "your current password is not right"));
        }
        self.check_new_password(new, &account)?;
        self.refuse_reuse(&account, new).await?;
        let hash = self.hasher.hash(Zeroizing::new(new.to_string())).await?;
        self.store_password(&account.id, hash, PasswordSetBy::Owner { keep_session: who.session()?.hash }, source)
            .await?;
        self.notify(
            &account.email,
            "Haven - your password was changed",
            super::messages::password_changed(&account.id, &self.public_url),
        )
        .await;
        Ok(())
    }

    /// Store a new password hash (already checked), remember the old one, end other sessions.
    pub(crate) async fn store_password(
        &self,
        user_id: &str,
        hash: String,
        by: PasswordSetBy,
        source: &str,
    ) -> Result<(), CoreError> {
        let now = self.now().0;
        let (id, src) = (user_id.to_string(), source.to_string());
        let keep = i64::from(self.policy.password_history);
        transact(self.store.as_ref(), move |tx| Box::pin(set_password(tx, id, src, hash, by, keep, now))).await
    }

    pub(crate) async fn load_account(&self, user_id: &str) -> Result<Account, CoreError> {
        let id = user_id.to_string();
        crate::read(self.store.as_ref(), move |tx| Box::pin(async move { Ok::<_, CoreError>(tx.account(&id).await?) }))
            .await?
            .ok_or(CoreError::NotFound)
    }
}

/// Set a checked password hash: the reset link used up with it, the old hash kept in the
/// history, other sessions ended, audited.
async fn set_password(
    tx: &mut dyn Tx,
    id: String,
    src: String,
    hash: String,
    by: PasswordSetBy,
    keep: i64,
    now: OffsetDateTime,
) -> Result<(), CoreError> {
    let now_us = to_micros(now);
    let (keep_session, reset_link, action, via) = match by {
        PasswordSetBy::Owner { keep_session } => (Some(keep_session), None, action::PASSWORD_CHANGED, "self"),
        PasswordSetBy::ResetLink { link } => (None, Some(link), action::PASSWORD_RESET, "reset_link"),
    };
    // A reset link is used up in the same unit as the change: never one without the other.
    if let Some(link) = reset_link {
        if tx.take_link(&link, LinkPurpose::PasswordReset, now_us).await?.is_none() {
            return Err(CoreError::LinkInvalid);
        }
        tx.append_audit(NewAuditEvent::new(now, &id, action::PASSWORD_RESET_LINK_USED).target(&id).source(&src))
            .await?;
    }
    let mut account = tx.account(&id).await?.ok_or(CoreError::NotFound)?;
    if account.has_password() {
        tx.push_password_history(&id, &account.password_hash, now_us, keep).await?;
    }
    account.password_hash = hash;
    account.password_changed_us = now_us;
    tx.update_account(&account).await?;
    let ended = tx.delete_sessions_of(&id, keep_session.as_ref()).await?;
    let revoked = crate::tokens::revoke_api_tokens(tx, &id).await?;
    tx.append_audit(
        NewAuditEvent::new(now, &id, action)
            .target(&id)
            .source(&src)
            .details(serde_json::json!({"via": via, "other_sessions_ended": ended, "api_tokens_revoked": revoked})),
    )
    .await?;
    Ok::<_, CoreError>(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_common_list_is_loaded() {
        assert!(super::COMMON.len() > 10_000);
        assert!(super::COMMON.contains("password1234"));
        assert!(super::COMMON.contains("qwertyuiop"));
    }
}
