//! The service desk: find accounts, add them (with an onboarding link), lock, unlock, disable,
//! reset passwords (a link the user must still back with a second factor or ICE), revoke tokens,
//! reset fail counters, switch ICE, import and assign hardware tokens, and read a user's audit
//! events. The same operations serve the web pages (an administrator, through `can()`) and the
//! command line (the operator at the server's console, who already holds the data directory).

use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::Identity;
use super::ice::ICE_SETTING;
use super::pskc::ImportedKey;
use super::records::{
    Account, AccountStatus, LinkPurpose, LinkRecord, OtpTokenRecord, SessionKind, SessionRecord, TokenState,
};
use crate::accounts::{NewUser, Role, validate_email, validate_user_id};
use crate::audit::{AuditEvent, NewAuditEvent, action};
use crate::authz::{Action, Resource, require};
use crate::caller::{Caller, Level};
use crate::{CoreError, Tx, read, transact};

/// What the service desk sees of one account. Never a seed, password hash or code; personal
/// tokens carry their SHA-256, of which pages show only the short handle.
pub struct AccountView {
    pub account: Account,
    pub tokens: Vec<OtpTokenRecord>,
    /// Repository and API tokens (their hashes, never a secret).
    pub personal_tokens: Vec<crate::tokens::PersonalToken>,
    pub sessions: Vec<SessionRecord>,
    pub recovery_codes_left: i64,
    pub has_security_questions: bool,
    pub emergency_code_expires_us: Option<i64>,
    pub onboarded: bool,
}

/// One account of a bulk import, checked (see `governance::import::parse_accounts_csv`).
#[derive(Debug, Clone)]
pub struct NewAccountRow {
    pub line: u64,
    pub user_id: String,
    pub email: String,
    pub roles: Vec<Role>,
}

impl Identity {
    /// The audit name of whoever asks the service desk (an administrator, or `console`).
    fn desk_actor(&self, who: &Caller) -> Result<String, CoreError> {
        require(who, Action::ManageAccounts, Resource::Service)?;
        Ok(who.user_id.clone())
    }

    /// Who makes a service-desk change: as `desk_actor`, and from the web only with a second
    /// factor proven in the last few minutes (a stale or stolen session cannot add an
    /// administrator, issue links, revoke tokens or switch ICE).
    fn desk_change_actor(&self, who: &Caller) -> Result<String, CoreError> {
        let actor = self.desk_actor(who)?;
        if who.level != Level::Console {
            self.check_fresh(who)?;
        }
        Ok(actor)
    }

    /// Apply `change` to an account and audit it, in one transaction.
    async fn change_account<F>(
        &self,
        who: &Caller,
        user_id: &str,
        action: &'static str,
        change: F,
    ) -> Result<serde_json::Value, CoreError>
    where
        F: for<'t> FnOnce(
                &'t mut dyn crate::Tx,
                Account,
            ) -> futures::future::BoxFuture<'t, Result<serde_json::Value, CoreError>>
            + Send
            + 'static,
    {
        let actor = self.desk_change_actor(who)?;
        if who.level != Level::Console && who.user_id == user_id && action != action::ACCOUNT_FAIL_COUNTERS_RESET {
            return Err(CoreError::Conflict("ask another administrator to do this to your own account".into()));
        }
        let (now, _) = self.now();
        let (id, src) = (user_id.to_string(), who.source.clone());
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let account = tx.account(&id).await?.ok_or(CoreError::NotFound)?;
                let details = change(tx, account).await?;
                tx.append_audit(
                    NewAuditEvent::new(now, &actor, action).target(&id).source(&src).details(details.clone()),
                )
                .await?;
                Ok(details)
            })
        })
        .await
    }

    pub async fn find_accounts(&self, who: &Caller, query: &str) -> Result<Vec<Account>, CoreError> {
        self.desk_actor(who)?;
        let q = query.trim().to_lowercase();
        read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.find_accounts(&q, 200).await?) })
        })
        .await
    }

    pub async fn account_view(&self, who: &Caller, user_id: &str) -> Result<AccountView, CoreError> {
        self.desk_actor(who)?;
        let id = user_id.to_string();
        let (_, now_us) = self.now();
        read(self.store.as_ref(), move |tx| Box::pin(account_view_of(tx, id, now_us))).await
    }

    /// A user's audit events (as actor or target), newest first.
    pub async fn account_audit(&self, who: &Caller, user_id: &str, limit: i64) -> Result<Vec<AuditEvent>, CoreError> {
        self.desk_actor(who)?;
        let id = user_id.to_string();
        read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.audit_about(&id, limit).await?) })
        })
        .await
    }

    async fn issue_link(
        &self,
        user_id: &str,
        purpose: LinkPurpose,
        hours: u32,
    ) -> Result<(Zeroizing<String>, LinkRecord), CoreError> {
        let (_, now_us) = self.now();
        let token = haven_crypto::token::new_token(self.rng.as_ref())?;
        let record = LinkRecord {
            hash: token.hash,
            purpose,
            user_id: user_id.to_string(),
            subject: String::new(),
            created_us: now_us,
            expires_us: now_us + Duration::hours(i64::from(hours)).whole_microseconds() as i64,
        };
        Ok((token.secret, record))
    }

    /// Add an account and email its onboarding link; returns the link (the CLI prints it).
    pub async fn add_account(
        &self,
        who: &Caller,
        user_id: &str,
        email: &str,
        admin: bool,
    ) -> Result<String, CoreError> {
        let source = who.source.as_str();
        let actor = self.desk_change_actor(who)?;
        let user_id = user_id.trim().to_lowercase();
        let email = email.trim().to_string();
        validate_user_id(&user_id)?;
        validate_email(&email)?;
        let hours = self.policy.onboarding_link_hours;
        let (secret, link) = self.issue_link(&user_id, LinkPurpose::Onboarding, hours).await?;
        let (now, now_us) = self.now();
        let roles = if admin { vec![Role::Admin] } else { vec![Role::Researcher] };
        let new = NewUser {
            id: user_id.clone(),
            email: email.clone(),
            password_hash: String::new(),
            roles,
            created_us: now_us,
        };
        let src = source.to_string();
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                if tx.account(&new.id).await?.is_some() {
                    return Err(CoreError::Conflict(format!("the user id {} is taken", new.id)));
                }
                if let Some(holder) = email_holder(tx, &new.email).await? {
                    return Err(CoreError::Conflict(format!(
                        "{} is the email of the account {holder} already; one person has one account",
                        new.email
                    )));
                }
                tx.insert_user(&new).await?;
                tx.replace_link(&link).await?;
                tx.append_audit(
                    NewAuditEvent::new(now, &actor, action::ACCOUNT_CREATED).target(&new.id).source(&src).details(
                        serde_json::json!({"roles": new.roles, "via": "service_desk", "onboarding_link_hours": hours}),
                    ),
                )
                .await?;
                Ok::<_, CoreError>(())
            })
        })
        .await
        .map_err(|e| match e {
            CoreError::Store(crate::StoreError::Duplicate(_)) => {
                CoreError::Conflict(format!("the user id {user_id} is taken"))
            }
            other => other,
        })?;
        let url = self.link_url(crate::paths::ONBOARD, &secret);
        let text = super::messages::onboarding(&user_id, &url, hours, &self.public_url);
        self.notify(&email, "Haven - your new account", text).await;
        Ok(url)
    }

    /// Add many accounts at once (`haven users import`): all or none. A user id that is taken
    /// refuses the whole file, naming its line. Each account gets its onboarding link by email,
    /// once every account is in; the count is returned.
    pub async fn import_accounts(&self, who: &Caller, rows: Vec<NewAccountRow>) -> Result<usize, CoreError> {
        let actor = self.desk_change_actor(who)?;
        let hours = self.policy.onboarding_link_hours;
        let (now, now_us) = self.now();
        let mut prepared = Vec::with_capacity(rows.len());
        for row in rows {
            let (secret, link) = self.issue_link(&row.user_id, LinkPurpose::Onboarding, hours).await?;
            prepared.push((row, secret, link));
        }
        let src = who.source.clone();
        let (rows, secrets): (Vec<_>, Vec<_>) =
            prepared.into_iter().map(|(row, secret, link)| ((row, link), secret)).unzip();
        let written = rows.iter().map(|(r, _)| (r.user_id.clone(), r.email.clone())).collect::<Vec<_>>();
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                // An email already on an account is most likely the same person under another
                // id: refuse rather than give them a second account.
                let emails: std::collections::BTreeMap<String, String> =
                    tx.account_emails().await?.into_iter().collect();
                for (row, link) in rows {
                    if tx.account(&row.user_id).await?.is_some() {
                        return Err(CoreError::invalid(
                            "csv",
                            format!("line {}: the user id {} is taken", row.line, row.user_id),
                        ));
                    }
                    if let Some(holder) = emails.get(&row.email.to_lowercase()) {
                        return Err(CoreError::invalid(
                            "csv",
                            format!("line {}: {} is the email of the account {holder} already", row.line, row.email),
                        ));
                    }
                    let new = NewUser {
                        id: row.user_id.clone(),
                        email: row.email.clone(),
                        password_hash: String::new(),
                        roles: row.roles.clone(),
                        created_us: now_us,
                    };
                    tx.insert_user(&new).await?;
                    tx.replace_link(&link).await?;
                    tx.append_audit(
                        NewAuditEvent::new(now, &actor, action::ACCOUNT_CREATED).target(&new.id).source(&src).details(
                            serde_json::json!({
                                "roles": new.roles, "via": "import", "line": row.line, "onboarding_link_hours": hours,
                            }),
                        ),
                    )
                    .await?;
                }
                Ok::<_, CoreError>(())
            })
        })
        .await?;
        for ((user_id, email), secret) in written.iter().zip(secrets) {
            let url = self.link_url(crate::paths::ONBOARD, &secret);
            let text = super::messages::onboarding(user_id, &url, hours, &self.public_url);
            self.notify(email, "Haven - your new account", text).await;
        }
        Ok(written.len())
    }

    /// A fresh onboarding link for an account that has not finished onboarding.
    pub async fn new_onboarding_link(&self, who: &Caller, user_id: &str) -> Result<String, CoreError> {
        let hours = self.policy.onboarding_link_hours;
        let (secret, link) = self.issue_link(user_id, LinkPurpose::Onboarding, hours).await?;
        let account = self.load_account(user_id).await?;
        if account.has_password() {
            return Err(CoreError::Conflict("this account is onboarded already; reset its password instead".into()));
        }
        self.change_account(who, user_id, action::ACCOUNT_ONBOARDING_LINK_ISSUED, move |tx, _| {
            Box::pin(async move {
                tx.replace_link(&link).await?;
                Ok(serde_json::json!({"valid_hours": hours}))
            })
        })
        .await?;
        let url = self.link_url(crate::paths::ONBOARD, &secret);
        self.notify(
            &account.email,
            "Haven - your new account",
            super::messages::onboarding(user_id, &url, hours, &self.public_url),
        )
        .await;
        Ok(url)
    }

    /// Lock (until unlocked), unlock (also clearing counters), or disable an account. Locking and
    /// disabling end its sessions.
    pub async fn set_account_status(
        &self,
        who: &Caller,
        user_id: &str,
        status: AccountStatus,
    ) -> Result<(), CoreError> {
        let action = match status {
            AccountStatus::Active => action::ACCOUNT_UNLOCKED,
            AccountStatus::Locked => action::ACCOUNT_LOCKED_BY_SERVICE_DESK,
            AccountStatus::Disabled => action::ACCOUNT_DISABLED,
        };
        self.change_account(who, user_id, action, move |tx, mut account| {
            Box::pin(async move {
                let before = account.status.as_str();
                account.status = status;
                if status == AccountStatus::Active {
                    account.failed_signins = 0;
                    account.locked_until_us = 0;
                }
                tx.update_account(&account).await?;
                // The desk's decision replaces the lifecycle job's: an account the desk disables
                // is never re-enabled by a new membership.
                if let Some(mut profile) = tx.profile(&account.id).await?
                    && profile.auto_disabled_us != 0
                {
                    profile.auto_disabled_us = 0;
                    tx.put_profile(&account.id, &profile).await?;
                }
                let ended =
                    if status == AccountStatus::Active { 0 } else { tx.delete_sessions_of(&account.id, None).await? };
                Ok(serde_json::json!({"from": before, "to": status.as_str(), "sessions_ended": ended}))
            })
        })
        .await
        .map(|_| ())
    }

    /// Grant or withdraw a role (`package_reviewer`, `admin`). The last administrator keeps
    /// theirs; nobody changes their own roles.
    pub async fn set_role(&self, who: &Caller, user_id: &str, role: Role, on: bool) -> Result<bool, CoreError> {
        let action = if on { action::ACCOUNT_ROLE_GRANTED } else { action::ACCOUNT_ROLE_WITHDRAWN };
        let changed = self
            .change_account(who, user_id, action, move |tx, account| {
                Box::pin(async move {
                    if !on
                        && role == Role::Admin
                        && account.roles.contains(&Role::Admin)
                        && tx.count_admins().await? <= 1
                    {
                        return Err(CoreError::Conflict(
                            "This is the last administrator; make another one first.".into(),
                        ));
                    }
                    let changed = tx.set_role(&account.id, role, on).await?;
                    Ok(serde_json::json!({"role": role.as_str(), "changed": changed}))
                })
            })
            .await?;
        Ok(changed.get("changed").and_then(serde_json::Value::as_bool).unwrap_or(false))
    }

    /// Start a password reset: the user gets a single-use link by email and must still prove a
    /// second factor or answer their security questions. The link goes to the user only: it is
    /// never returned to the administrator who asked for it (who could otherwise take the account
    /// over with ICE). Returns whether the email went out.
    pub async fn start_password_reset(&self, who: &Caller, user_id: &str) -> Result<bool, CoreError> {
        let hours = self.policy.reset_link_hours;
        let (secret, link) = self.issue_link(user_id, LinkPurpose::PasswordReset, hours).await?;
        self.change_account(who, user_id, action::PASSWORD_RESET_STARTED, move |tx, _| {
            Box::pin(async move {
                tx.replace_link(&link).await?;
                Ok(serde_json::json!({"valid_hours": hours}))
            })
        })
        .await?;
        let account = self.load_account(user_id).await?;
        let url = Zeroizing::new(self.link_url(crate::paths::RESET, &secret));
        Ok(self
            .notify(
                &account.email,
                "Haven - reset your password",
                super::messages::password_reset(user_id, &url, hours, &self.public_url),
            )
            .await)
    }

    /// Revoke (delete) every token of the account.
    pub async fn revoke_tokens(&self, who: &Caller, user_id: &str) -> Result<usize, CoreError> {
        let details = self
            .change_account(who, user_id, action::TOKEN_REVOKED_BY_SERVICE_DESK, move |tx, account| {
                Box::pin(async move {
                    let tokens = tx.tokens_of(&account.id).await?;
                    for t in &tokens {
                        tx.delete_token(&t.serial).await?;
                    }
                    let serials: Vec<&str> = tokens.iter().map(|t| t.serial.as_str()).collect();
                    Ok(serde_json::json!({"serials": serials}))
                })
            })
            .await?;
        Ok(details["serials"].as_array().map_or(0, Vec::len))
    }

    /// Revoke every repository and API token of the account: after a suspected compromise, or
    /// when a person leaves, whatever their scripts and package clients hold stops at once.
    pub async fn revoke_personal_tokens(&self, who: &Caller, user_id: &str) -> Result<usize, CoreError> {
        let details = self
            .change_account(who, user_id, action::PERSONAL_TOKENS_REVOKED_BY_SERVICE_DESK, move |tx, account| {
                Box::pin(async move {
                    let revoked: Vec<_> = crate::tokens::revoke_tokens(tx, &account.id, |_| true)
                        .await?
                        .iter()
                        .map(|t| serde_json::json!({"token": t.handle(), "label": t.label, "scope": t.scope.as_str()}))
                        .collect();
                    Ok(serde_json::json!({"tokens": revoked}))
                })
            })
            .await?;
        Ok(details["tokens"].as_array().map_or(0, Vec::len))
    }

    /// Clear the account's failure counter and lockout, and unlock its locked tokens.
    pub async fn reset_fail_counters(&self, who: &Caller, user_id: &str) -> Result<(), CoreError> {
        self.change_account(who, user_id, action::ACCOUNT_FAIL_COUNTERS_RESET, move |tx, mut account| {
            Box::pin(async move {
                account.failed_signins = 0;
                account.locked_until_us = 0;
                tx.update_account(&account).await?;
                let mut unlocked = Vec::new();
                for mut t in tx.tokens_of(&account.id).await? {
                    if t.failures > 0 || t.state == TokenState::Locked {
                        if t.state == TokenState::Locked {
                            t.state = TokenState::Active;
                            unlocked.push(t.serial.clone());
                        }
                        t.failures = 0;
                        tx.put_token(&t).await?;
                    }
                }
                Ok(serde_json::json!({"tokens_unlocked": unlocked}))
            })
        })
        .await
        .map(|_| ())
    }

    /// Turn ICE logon on or off for one account.
    pub async fn set_account_ice(&self, who: &Caller, user_id: &str, enabled: bool) -> Result<(), CoreError> {
        self.change_account(who, user_id, action::ICE_SWITCHED_FOR_USER, move |tx, mut account| {
            Box::pin(async move {
                account.ice_enabled = enabled;
                tx.update_account(&account).await?;
                let ended =
                    if enabled { 0 } else { tx.delete_sessions_of_kind(Some(&account.id), SessionKind::Ice).await? };
                Ok(serde_json::json!({"enabled": enabled, "ice_sessions_ended": ended}))
            })
        })
        .await
        .map(|_| ())
    }

    /// Turn ICE logon on or off for everyone.
    pub async fn set_global_ice(&self, who: &Caller, enabled: bool) -> Result<(), CoreError> {
        let source = who.source.as_str();
        let actor = self.desk_change_actor(who)?;
        let (now, _) = self.now();
        let src = source.to_string();
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.set_setting(ICE_SETTING, if enabled { "true" } else { "false" }).await?;
                let ended = if enabled { 0 } else { tx.delete_sessions_of_kind(None, SessionKind::Ice).await? };
                tx.append_audit(
                    NewAuditEvent::new(now, &actor, action::ICE_SWITCHED_FOR_EVERYONE)
                        .source(&src)
                        .details(serde_json::json!({"enabled": enabled, "ice_sessions_ended": ended})),
                )
                .await?;
                Ok::<_, CoreError>(())
            })
        })
        .await
    }

    /// Import hardware tokens from a parsed PSKC file: all or nothing. Seeds are sealed at once and
    /// never shown again.
    pub async fn import_tokens(&self, who: &Caller, keys: Vec<ImportedKey>) -> Result<Vec<String>, CoreError> {
        let source = who.source.as_str();
        let actor = self.desk_change_actor(who)?;
        let (now, now_us) = self.now();
        let mut records = Vec::with_capacity(keys.len());
        for key in &keys {
            records.push(OtpTokenRecord {
                serial: key.serial.clone(),
                user_id: None,
                kind: key.kind,
                product: "hardware".into(),
                algorithm: key.algorithm.as_str().into(),
                digits: i64::from(key.digits),
                period: i64::from(key.period),
                seed_sealed: self.seal_seed(&key.serial, &key.secret)?,
                counter: key.counter,
                last_step: -1,
                drift: 0,
                pin_hash: None,
                state: TokenState::Unassigned,
                failures: 0,
                created_us: now_us,
                last_used_us: 0,
            });
        }
        let serials: Vec<String> = records.iter().map(|r| r.serial.clone()).collect();
        let src = source.to_string();
        let listed = serials.clone();
        transact(self.store.as_ref(), move |tx| Box::pin(import_tokens(tx, actor, src, records, listed, now))).await?;
        Ok(serials)
    }

    /// Record a refused PSKC import (nothing was imported).
    pub async fn pskc_refused(&self, who: &Caller, reason: &str) -> Result<(), CoreError> {
        let source = who.source.as_str();
        let actor = self.desk_actor(who)?;
        let reason: String = reason.chars().take(300).collect();
        self.audit_simple(
            &actor,
            action::TOKEN_IMPORT_REFUSED,
            "",
            source,
            serde_json::json!({"format": "pskc", "reason": reason}),
        )
        .await
    }

    /// Hardware tokens imported and not yet assigned.
    pub async fn unassigned_tokens(&self, who: &Caller) -> Result<Vec<OtpTokenRecord>, CoreError> {
        self.desk_actor(who)?;
        read(self.store.as_ref(), |tx| Box::pin(async move { Ok::<_, CoreError>(tx.unassigned_tokens(500).await?) }))
            .await
    }

    /// Give a hardware token to a user; they set its PIN and confirm a code to activate it.
    pub async fn assign_token(&self, who: &Caller, serial: &str, user_id: &str) -> Result<(), CoreError> {
        let serial = serial.trim().to_string();
        self.change_account(who, user_id, action::TOKEN_ASSIGNED, move |tx, account| {
            Box::pin(async move {
                let mut token = tx.token(&serial).await?.ok_or(CoreError::NotFound)?;
                if token.user_id.is_some() || token.state != TokenState::Unassigned {
                    return Err(CoreError::Conflict(format!("token {serial} is assigned already")));
                }
                token.user_id = Some(account.id.clone());
                token.state = TokenState::Pending;
                tx.put_token(&token).await?;
                Ok(serde_json::json!({"serial": serial}))
            })
        })
        .await
        .map(|_| ())
    }
}

/// Store imported tokens, all or none (a serial that exists refuses the import). Audited.
async fn import_tokens(
    tx: &mut dyn Tx,
    actor: String,
    src: String,
    records: Vec<OtpTokenRecord>,
    listed: Vec<String>,
    now: OffsetDateTime,
) -> Result<(), CoreError> {
    for r in &records {
        if tx.token(&r.serial).await?.is_some() {
            return Err(CoreError::Conflict(format!(
                "a token with serial {} exists already; nothing was imported",
                r.serial
            )));
        }
        tx.put_token(r).await?;
    }
    tx.append_audit(
        NewAuditEvent::new(now, &actor, action::TOKEN_IMPORTED)
            .source(&src)
            .details(serde_json::json!({"format": "pskc", "serials": listed})),
    )
    .await?;
    Ok::<_, CoreError>(())
}

/// What the service desk sees of an account.
async fn account_view_of(tx: &mut dyn Tx, id: String, now_us: i64) -> Result<AccountView, CoreError> {
    let account = tx.account(&id).await?.ok_or(CoreError::NotFound)?;
    Ok::<_, CoreError>(AccountView {
        onboarded: account.has_password(),
        tokens: tx.tokens_of(&id).await?,
        personal_tokens: tx.personal_tokens(&id).await?,
        sessions: tx.sessions_of(&id).await?,
        recovery_codes_left: tx.count_recovery_codes(&id).await?,
        has_security_questions: !tx.security_answers(&id).await?.is_empty(),
        emergency_code_expires_us: tx
            .emergency_code(&id)
            .await?
            .filter(|c| c.expires_us > now_us)
            .map(|c| c.expires_us),
        account,
    })
}

/// The account that has `email` already (compared without case), if any: one person, one
/// account (SATRE 3.2.01), so a second account for the same address is refused.
pub(crate) async fn email_holder(tx: &mut dyn Tx, email: &str) -> Result<Option<String>, crate::StoreError> {
    let wanted = email.trim().to_lowercase();
    Ok(tx.account_emails().await?.into_iter().find(|(e, _)| *e == wanted).map(|(_, id)| id))
}
