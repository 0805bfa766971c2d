//! The key hierarchy in use: project keys, wrapped by the master key and kept in the database,
//! made on first use (audited); object keys, wrapped by their project key.

use std::sync::Arc;

use haven_crypto::keys::{Key256, unwrap_key, wrap_key};

use crate::audit::{NewAuditEvent, action, actor};
use crate::{Clock, CoreError, Rng, Store, StoreError, read, to_micros, transact};

pub struct KeyRing {
    master: Key256,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Rng>,
}

fn project_context(project: &str, version: i64) -> Vec<u8> {
    format!("haven/project-key/{project}/v{version}").into_bytes()
}

/// Whether `master` opens a project key the database holds (wrapped for `project`, `version`):
/// whether it is the master key that database was made with.
pub fn opens(master: &Key256, project: &str, version: i64, wrapped: &[u8]) -> bool {
    unwrap_key(master, wrapped, &project_context(project, version)).is_ok()
}

fn object_context(object_id: &str) -> Vec<u8> {
    format!("haven/object-key/{object_id}").into_bytes()
}

impl KeyRing {
    pub fn new(master: Key256, store: Arc<dyn Store>, clock: Arc<dyn Clock>, rng: Arc<dyn Rng>) -> Self {
        KeyRing { master, store, clock, rng }
    }

    pub fn rng(&self) -> &dyn Rng {
        self.rng.as_ref()
    }

    /// The key with which nodes vouch for the requests they forward to one another.
    pub fn forwarding_key(&self) -> zeroize::Zeroizing<[u8; 32]> {
        haven_crypto::peer::forwarding_key(&self.master)
    }

    /// The current key of `project`, made on first use; refused once it was destroyed.
    pub async fn project_key(&self, project: &str) -> Result<(i64, Key256), CoreError> {
        if let Some((version, wrapped)) = self.stored(project).await? {
            if version == DESTROYED {
                return Err(destroyed(project));
            }
            return Ok((version, unwrap_key(&self.master, &wrapped, &project_context(project, version))?));
        }
        let key = Key256::generate(self.rng.as_ref())?;
        let wrapped = wrap_key(&self.master, &key, &project_context(project, 1), self.rng.as_ref())?;
        let now = self.clock.now();
        let name = project.to_string();
        let stored = transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                if let Some(existing) = tx.project_key(&name).await? {
                    return Ok::<_, CoreError>(existing);
                }
                tx.insert_project_key(&name, 1, &wrapped, to_micros(now)).await?;
                tx.append_audit(
                    NewAuditEvent::new(now, actor::SYSTEM, action::KEY_PROJECT_KEY_CREATED)
                        .project(&name)
                        .details(serde_json::json!({"version": 1})),
                )
                .await?;
                Ok((1, wrapped))
            })
        })
        .await?;
        if stored.0 == DESTROYED {
            return Err(destroyed(project));
        }
        Ok((stored.0, unwrap_key(&self.master, &stored.1, &project_context(project, stored.0))?))
    }

    /// The key of a stored project-key version.
    pub async fn project_key_version(&self, project: &str, version: i64) -> Result<Key256, CoreError> {
        match self.stored(project).await? {
            Some((DESTROYED, _)) => Err(destroyed(project)),
            Some((v, wrapped)) if v == version => Ok(unwrap_key(&self.master, &wrapped, &project_context(project, v))?),
            _ => Err(CoreError::NotFound),
        }
    }

    /// The newest stored version of `project`'s key, wrapped.
    async fn stored(&self, project: &str) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
        let project = project.to_string();
        read(self.store.as_ref(), move |tx| Box::pin(async move { tx.project_key(&project).await })).await
    }

    /// A fresh object key and its wrapped form.
    pub fn new_object_key(&self, project_key: &Key256, object_id: &str) -> Result<(Key256, Vec<u8>), CoreError> {
        let key = Key256::generate(self.rng.as_ref())?;
        let wrapped = wrap_key(project_key, &key, &object_context(object_id), self.rng.as_ref())?;
        Ok((key, wrapped))
    }

    pub fn open_object_key(&self, project_key: &Key256, object_id: &str, wrapped: &[u8]) -> Result<Key256, CoreError> {
        Ok(unwrap_key(project_key, wrapped, &object_context(object_id))?)
    }
}

/// The version of the tombstone left where a project's keys were destroyed: without it the next
/// use would quietly make a fresh key, and new data would be sealed under a shredded project.
const DESTROYED: i64 = 0;

fn destroyed(project: &str) -> CoreError {
    CoreError::Refused(format!(
        "the key of {project} was destroyed when it closed: nothing sealed under it can be read, and nothing new can be sealed"
    ))
}

/// Destroy every version of `project`'s key (inside the caller's unit), leaving a tombstone so
/// that it is never made again: crypto-shredding everything sealed under it. How many versions
/// there were.
pub(crate) async fn destroy_project_keys(
    tx: &mut dyn crate::Tx,
    project: &str,
    now_us: i64,
) -> Result<u64, StoreError> {
    let n = tx.delete_project_keys(project).await?;
    tx.insert_project_key(project, DESTROYED, &[], now_us).await?;
    Ok(n)
}
