//! Accounts, and the bootstrap of the first service-desk administrator.
//!
//! While no administrator exists, `haven serve` issues a one-time bootstrap link (valid one hour,
//! single use, stored as a hash). Redeeming it creates the first administrator; issuing a new link
//! replaces the old one.

use serde::Serialize;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::audit::{NewAuditEvent, action, actor};
use crate::{Clock, CoreError, Rng, Store, Tx, read, to_micros, transact};

pub const BOOTSTRAP_VALIDITY: Duration = Duration::hours(1);
pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_CHARS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Service desk.
    Admin,
    Researcher,
    /// Decides software requests and the package policy.
    PackageReviewer,
    /// A member of staff: the attribute an Information Asset Owner must hold.
    Staff,
    /// Reads reports and the audit trail; changes nothing.
    Auditor,
    /// Checks output requests (egress).
    OutputChecker,
    /// The operator at the server's console. Never stored or granted: [`Role::parse`] refuses
    /// it, and only `Caller::console` holds it.
    System,
}

impl Role {
    /// The roles that can be granted, for messages.
    pub const GRANTABLE: [Role; 6] =
        [Role::Admin, Role::Researcher, Role::PackageReviewer, Role::Staff, Role::Auditor, Role::OutputChecker];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Researcher => "researcher",
            Role::PackageReviewer => "package_reviewer",
            Role::Staff => "staff",
            Role::Auditor => "auditor",
            Role::OutputChecker => "output_checker",
            Role::System => "system",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "researcher" => Some(Role::Researcher),
            "package_reviewer" => Some(Role::PackageReviewer),
            "staff" => Some(Role::Staff),
            "auditor" => Some(Role::Auditor),
            "output_checker" => Some(Role::OutputChecker),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub status: String,
    pub roles: Vec<Role>,
    pub created_us: i64,
}

pub struct NewUser {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub roles: Vec<Role>,
    pub created_us: i64,
}

/// A Haven user id: 2–32 characters, lower-case letters, digits, `.`, `_`, `-`, starting with a letter.
pub fn validate_user_id(id: &str) -> Result<(), CoreError> {
    let ok = (2..=32).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if !ok {
        return Err(CoreError::invalid(
            "user_id",
            "use 2 to 32 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter",
        ));
    }
    // The audit trail's names for actors that are not people.
    if [actor::SYSTEM, actor::HAVEN, actor::ANONYMOUS, actor::CONSOLE].contains(&id) {
        return Err(CoreError::invalid("user_id", format!("{id} is reserved; choose another user id")));
    }
    Ok(())
}

pub fn validate_email(email: &str) -> Result<(), CoreError> {
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
    if ok { Ok(()) } else { Err(CoreError::invalid("email", "enter an email address such as name@example.org")) }
}

/// The baseline password rule (length, not the user id). Strength scoring and breached-password
/// checks belong to the Security & Tokens portal and build on this.
pub fn validate_new_password(password: &str, user_id: &str) -> Result<(), CoreError> {
    let chars = password.chars().count();
    if chars < PASSWORD_MIN_CHARS {
        return Err(CoreError::invalid(
            "password",
            format!("use at least {PASSWORD_MIN_CHARS} characters (a few unrelated words work well)"),
        ));
    }
    if chars > PASSWORD_MAX_CHARS {
        return Err(CoreError::invalid("password", format!("use at most {PASSWORD_MAX_CHARS} characters")));
    }
    if password.to_lowercase().contains(&user_id.to_lowercase()) {
        return Err(CoreError::invalid("password", "do not include your user id in your password"));
    }
    Ok(())
}

/// Whether an administrator exists (after which bootstrap links are refused).
pub async fn admin_exists(store: &dyn Store) -> Result<bool, CoreError> {
    read(store, |tx| Box::pin(async move { Ok::<_, CoreError>(tx.count_admins().await? > 0) })).await
}

/// Issue a bootstrap link secret if no administrator exists yet (replacing any earlier link).
pub async fn issue_bootstrap_link(
    store: &dyn Store,
    clock: &dyn Clock,
    rng: &dyn Rng,
) -> Result<Option<Zeroizing<String>>, CoreError> {
    if admin_exists(store).await? {
        return Ok(None);
    }
    let token = haven_crypto::token::new_token(rng)?;
    let now = clock.now();
    let expires = to_micros(now + BOOTSTRAP_VALIDITY);
    let hash = token.hash;
    transact(store, move |tx| {
        Box::pin(async move {
            if tx.count_admins().await? > 0 {
                return Ok(false);
            }
            tx.replace_bootstrap_token(&hash, expires).await?;
            tx.append_audit(
                NewAuditEvent::new(now, actor::SYSTEM, action::BOOTSTRAP_LINK_ISSUED)
                    .details(serde_json::json!({"expires_in_seconds": BOOTSTRAP_VALIDITY.whole_seconds()})),
            )
            .await?;
            Ok::<_, CoreError>(true)
        })
    })
    .await
    .map(|issued| issued.then_some(token.secret))
}

pub struct BootstrapAdmin {
    pub user_id: String,
    pub email: String,
    /// argon2id PHC string, hashed by the caller off the async threads.
    pub password_hash: String,
}

/// Redeem a bootstrap link: create the first administrator. A bad link is refused and audited.
pub async fn redeem_bootstrap(
    store: &dyn Store,
    clock: &dyn Clock,
    token: &str,
    admin: BootstrapAdmin,
    source: &str,
) -> Result<User, CoreError> {
    validate_user_id(&admin.user_id)?;
    validate_email(&admin.email)?;
    let now = clock.now();
    let now_us = to_micros(now);
    let hash = haven_crypto::token::hash_token(token);
    let src = source.to_string();
    let created = User {
        id: admin.user_id.clone(),
        email: admin.email.clone(),
        status: "active".into(),
        roles: vec![Role::Admin],
        created_us: now_us,
    };
    let new = NewUser {
        id: admin.user_id,
        email: admin.email,
        password_hash: admin.password_hash,
        roles: vec![Role::Admin],
        created_us: now_us,
    };
    let outcome = transact(store, move |tx| Box::pin(redeem_bootstrap_token(tx, hash, new, created, src, now))).await;
    if let Err(e @ (CoreError::LinkInvalid | CoreError::Conflict(_))) = &outcome {
        audit_bootstrap_refused(store, clock, source, e.code()).await?;
    }
    outcome
}

/// Record a refused bootstrap attempt (bad, expired or reused link, or an administrator exists).
pub async fn audit_bootstrap_refused(
    store: &dyn Store,
    clock: &dyn Clock,
    source: &str,
    reason: &'static str,
) -> Result<(), CoreError> {
    let now = clock.now();
    let src = source.to_string();
    transact(store, move |tx| {
        Box::pin(async move {
            let event = NewAuditEvent::new(now, actor::ANONYMOUS, action::BOOTSTRAP_LINK_REFUSED)
                .source(&src)
                .details(serde_json::json!({"reason": reason}));
            crate::audit::append_refusal(tx, event).await?;
            Ok::<_, CoreError>(())
        })
    })
    .await
}

/// Use up the bootstrap link and make the first administrator, unless one exists.
async fn redeem_bootstrap_token(
    tx: &mut dyn Tx,
    hash: [u8; 32],
    new: NewUser,
    created: User,
    src: String,
    now: OffsetDateTime,
) -> Result<User, CoreError> {
    let now_us = to_micros(now);
    if !tx.take_bootstrap_token(&hash, now_us).await? {
        return Err(CoreError::LinkInvalid);
    }
    if tx.count_admins().await? > 0 {
        return Err(CoreError::Conflict("an administrator already exists; sign in instead".into()));
    }
    tx.insert_user(&new).await?;
    tx.append_audit(
        NewAuditEvent::new(now, &new.id, action::ACCOUNT_CREATED)
            .target(&new.id)
            .source(&src)
            .details(serde_json::json!({"roles": ["admin"], "via": "bootstrap_link"})),
    )
    .await?;
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_emails_and_passwords_are_checked() {
        assert!(validate_user_id("alice").is_ok());
        assert!(validate_user_id("a.b-c_9").is_ok());
        for bad in ["", "a", "Alice", "9lives", "al ice", "../x", &"a".repeat(33)] {
            assert!(validate_user_id(bad).is_err(), "{bad}");
        }
        assert!(validate_email("a@b.org").is_ok());
        for bad in ["", "a", "a@b", "@b.org", "a@.org", "a b@c.org", "a@b.org<script>"] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
        assert!(validate_new_password("short", "alice").is_err());
        assert!(validate_new_password("alice-is-my-name", "alice").is_err());
        assert!(validate_new_password("correct horse battery", "alice").is_ok());
        assert!(validate_new_password(&"x".repeat(257), "alice").is_err());
    }
}
