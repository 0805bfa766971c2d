//! Looking into the drives from the browser (the Applications & Data portal's drives page): the
//! caller's N: in an asset, the asset's S: and outputs, folder by folder, for a member who can
//! reach the asset now. Names and sizes only: nothing is read or downloaded through it (data
//! leaves only through an output request, and comes in only through File Transfer). A file may be
//! copied from one of these drives to another (a result from N: to outputs, say): within the
//! garden, held to the target's quota, audited.

use serde_json::json;

use super::drives::{Drive, DriveError, Entry};
use super::sessions::Sessions;
use crate::audit::{NewAuditEvent, action};
use crate::caller::Caller;
use crate::{CoreError, transact};

/// Which of an asset's drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Home,
    Shared,
    Outputs,
}

impl Which {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "home" => Some(Which::Home),
            "shared" => Some(Which::Shared),
            "outputs" => Some(Which::Outputs),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Which::Home => "home",
            Which::Shared => "shared",
            Which::Outputs => "outputs",
        }
    }
}

impl Which {
    fn drive(self, who: &Caller, asset: &str) -> Drive {
        match self {
            Which::Home => Drive::Home { user: who.user_id.clone(), asset: asset.to_string() },
            Which::Shared => Drive::Shared(asset.to_string()),
            Which::Outputs => Drive::Outputs(asset.to_string()),
        }
    }
}

fn drive_error(e: DriveError) -> CoreError {
    match e {
        DriveError::NotFound => CoreError::NotFound,
        DriveError::BadName(m) => CoreError::invalid("path", m),
        other => CoreError::Conflict(other.to_string()),
    }
}

impl Sessions {
    /// Copy the file at `path` in one of `asset`'s drives to the top of another (`to`), for a
    /// caller who can reach the asset now: under the same name (numbered if taken), whole or not
    /// at all, within the target's quota. The name it was given. Audited.
    pub async fn copy_within(
        &self,
        who: &Caller,
        asset: &str,
        from: Which,
        path: &str,
        to: Which,
    ) -> Result<String, CoreError> {
        self.governance().reach(who, asset).await?;
        if from == to {
            return Err(CoreError::invalid("to", "choose another drive to copy it to"));
        }
        let (source, target) = (from.drive(who, asset), to.drive(who, asset));
        let name = path.rsplit('/').next().unwrap_or_default().to_string();
        let (bytes, size) = self.drives().open(&source, path).await.map_err(drive_error)?;
        let quota = self.quotas.quota(&target);
        let placed = self.drives().place(&target, &name, size, quota, bytes).await.map_err(drive_error)?;
        let event = NewAuditEvent::new(self.clock().now(), who.audit_name(), action::DRIVE_COPIED)
            .target(asset)
            .source(&who.source)
            .details(json!({
                "from": format!("{}:{path}", from.as_str()), "to": format!("{}:{placed}", to.as_str()), "bytes": size,
            }));
        let recorded = transact(self.store(), move |tx| {
            Box::pin(async move {
                tx.append_audit(event).await?;
                Ok::<_, CoreError>(())
            })
        })
        .await;
        if let Err(e) = recorded {
            // Not recorded, not kept.
            let _ = self.drives().remove(&target, &placed).await;
            return Err(e);
        }
        Ok(placed)
    }

    /// The files and folders in `path` (`/`-separated, `""` for the top) of one of `asset`'s
    /// drives, for a caller who can reach the asset's data now: folders first, then by name.
    pub async fn browse(&self, who: &Caller, asset: &str, which: Which, path: &str) -> Result<Vec<Entry>, CoreError> {
        self.governance().reach(who, asset).await?;
        self.drives().list(&which.drive(who, asset), path).await.map_err(drive_error)
    }
}
