//! Looking into the drives from the browser (the Applications & Data portal's drives page): the
//! caller's N: in an asset, the asset's S: and outputs, folder by folder, for a member who can
//! reach the asset now. Names and sizes only: nothing is read or downloaded through it (data
//! leaves only through an output request, and comes in only through File Transfer).

use super::drives::{Drive, DriveError, Entry};
use super::sessions::Sessions;
use crate::CoreError;
use crate::caller::Caller;

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

impl Sessions {
    /// The files and folders in `path` (`/`-separated, `""` for the top) of one of `asset`'s
    /// drives, for a caller who can reach the asset's data now: folders first, then by name.
    pub async fn browse(&self, who: &Caller, asset: &str, which: Which, path: &str) -> Result<Vec<Entry>, CoreError> {
        self.governance().reach(who, asset).await?;
        let drive = match which {
            Which::Home => Drive::Home { user: who.user_id.clone(), asset: asset.to_string() },
            Which::Shared => Drive::Shared(asset.to_string()),
            Which::Outputs => Drive::Outputs(asset.to_string()),
        };
        self.drives().list(&drive, path).await.map_err(|e| match e {
            DriveError::NotFound => CoreError::NotFound,
            DriveError::BadName(m) => CoreError::invalid("path", m),
            other => CoreError::Conflict(other.to_string()),
        })
    }
}
