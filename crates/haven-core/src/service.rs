//! The service as a whole, for what lies outside the portals: the service updates on the home
//! page and in the feed, the first administrator's bootstrap, readiness, and the refusals at the
//! door that name no account (a failed CSRF check).

use std::sync::Arc;

use zeroize::Zeroizing;

use crate::accounts::{self, BootstrapAdmin, User};
use crate::audit::{NewAuditEvent, action, actor};
use crate::blobs::{BlobError, BlobStore};
use crate::caller::Caller;
use crate::identity::Hasher;
use crate::updates::ServiceUpdate;
use crate::{Clock, CoreError, Store, StoreError, transact};

pub struct Service {
    store: Arc<dyn Store>,
    blobs: Arc<dyn BlobStore>,
    clock: Arc<dyn Clock>,
    hasher: Arc<dyn Hasher>,
}

/// What the bootstrap form asks for.
pub struct NewAdmin {
    pub user_id: String,
    pub email: String,
    pub password: Zeroizing<String>,
    pub confirm: Zeroizing<String>,
}

impl Service {
    pub fn new(
        store: Arc<dyn Store>,
        blobs: Arc<dyn BlobStore>,
        clock: Arc<dyn Clock>,
        hasher: Arc<dyn Hasher>,
    ) -> Self {
        Service { store, blobs, clock, hasher }
    }

    /// The newest `limit` service updates, newest first (public).
    pub async fn updates(&self, limit: i64) -> Result<Vec<ServiceUpdate>, CoreError> {
        crate::updates::list(self.store.as_ref(), limit).await
    }

    /// Whether the database and the blob store answer.
    pub async fn ready(&self) -> (Result<(), StoreError>, Result<(), BlobError>) {
        futures::join!(self.store.ping(), self.blobs.ping())
    }

    /// Whether the first administrator is still to be made (bootstrap links work only then).
    pub async fn needs_bootstrap(&self) -> Result<bool, CoreError> {
        Ok(!accounts::admin_exists(self.store.as_ref()).await?)
    }

    /// A bootstrap link used after an administrator exists: refused and audited.
    pub async fn bootstrap_refused(&self, who: &Caller, reason: &'static str) -> Result<(), CoreError> {
        accounts::audit_bootstrap_refused(self.store.as_ref(), self.clock.as_ref(), &who.source, reason).await
    }

    /// Create the first administrator from a bootstrap link: the input is checked, the password
    /// hashed (off the async threads), and the link used up with the account in one unit.
    pub async fn bootstrap_admin(&self, who: &Caller, token: &str, admin: NewAdmin) -> Result<User, CoreError> {
        let user_id = admin.user_id.trim().to_lowercase();
        let email = admin.email.trim().to_string();
        accounts::validate_user_id(&user_id)?;
        accounts::validate_email(&email)?;
        accounts::validate_new_password(&admin.password, &user_id)?;
        if !haven_crypto::ct_eq(admin.password.as_bytes(), admin.confirm.as_bytes()) {
            return Err(CoreError::invalid("password", "the two passwords differ; type the same password twice"));
        }
        let password_hash = self.hasher.hash(admin.password).await?;
        let admin = BootstrapAdmin { user_id, email, password_hash };
        accounts::redeem_bootstrap(self.store.as_ref(), self.clock.as_ref(), token, admin, &who.source).await
    }

    /// A state-changing request without a valid CSRF token: refused at the door, audited
    /// (aggregated per source, like other anonymous noise).
    pub async fn csrf_refused(&self, who: &Caller, path: &str, why: &'static str) -> Result<(), CoreError> {
        let event = NewAuditEvent::new(self.clock.now(), actor::ANONYMOUS, action::HTTP_CSRF_REFUSED)
            .source(&who.source)
            .target(&path.chars().take(200).collect::<String>())
            .details(serde_json::json!({"reason": why}));
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(crate::audit::append_refusal(tx, event).await.map(|_| ())?) })
        })
        .await
    }
}
