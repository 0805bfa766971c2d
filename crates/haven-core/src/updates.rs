//! Service updates: announcements the service desk publishes on the home page and its Atom feed.

use time::OffsetDateTime;

use crate::audit::{NewAuditEvent, action};
use crate::authz::{Action, Resource, require};
use crate::caller::Caller;
use crate::identity::records::AccountStatus;
use crate::{CoreError, Store, read, to_micros, transact};

pub const TITLE_MAX: usize = 200;
pub const BODY_MAX: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceUpdate {
    pub id: i64,
    pub title: String,
    /// Markdown source; rendered safely by the web layer.
    pub body: String,
    pub published_us: i64,
    pub author: String,
}

pub struct NewServiceUpdate {
    pub title: String,
    pub body: String,
    pub published_us: i64,
    pub author: String,
}

pub fn validate(title: &str, body: &str) -> Result<(), CoreError> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > TITLE_MAX {
        return Err(CoreError::invalid("title", format!("give a title of 1 to {TITLE_MAX} characters")));
    }
    if title.chars().any(char::is_control) {
        return Err(CoreError::invalid("title", "the title must be a single line"));
    }
    if body.trim().is_empty() || body.chars().count() > BODY_MAX {
        return Err(CoreError::invalid("body", format!("give a body of 1 to {BODY_MAX} characters")));
    }
    Ok(())
}

/// The newest `limit` updates, newest first (public: the home page and its feed show them).
pub async fn list(store: &dyn Store, limit: i64) -> Result<Vec<ServiceUpdate>, CoreError> {
    read(store, move |tx| Box::pin(async move { Ok(tx.service_updates(limit).await?) })).await
}

/// The console acting for the account `user_id` (for `updates publish --as`): its roles count
/// only while it is active. `None` if there is no such account.
pub async fn console_as(store: &dyn Store, user_id: &str) -> Result<Option<Caller>, CoreError> {
    let id = user_id.to_string();
    let account = read(store, move |tx| Box::pin(async move { Ok::<_, CoreError>(tx.account(&id).await?) })).await?;
    Ok(account.map(|a| {
        let roles = if a.status == AccountStatus::Active { a.roles } else { Vec::new() };
        Caller::console_as(&a.id, roles)
    }))
}

/// Publish an update (audited), by an administrator: its author.
pub async fn publish(
    store: &dyn Store,
    at: OffsetDateTime,
    who: &Caller,
    title: &str,
    body: &str,
) -> Result<i64, CoreError> {
    require(who, Action::PublishServiceUpdate, Resource::Service)?;
    validate(title, body)?;
    let author = who.user_id.as_str();
    let update = NewServiceUpdate {
        title: title.trim().to_string(),
        body: body.to_string(),
        published_us: to_micros(at),
        author: author.to_string(),
    };
    transact(store, move |tx| {
        Box::pin(async move {
            let id = tx.insert_update(&update).await?;
            tx.append_audit(
                NewAuditEvent::new(at, &update.author, action::SERVICE_UPDATE_PUBLISHED)
                    .target(&format!("service_update/{id}"))
                    .details(serde_json::json!({"title": update.title})),
            )
            .await?;
            Ok::<_, CoreError>(id)
        })
    })
    .await
}
