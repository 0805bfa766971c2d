//! The drives people work on inside the garden: each user's home drive (N:), each asset's shared
//! drive (S:) and its outputs area (what egress will read). They hold plaintext that applications
//! open, so they are directories (on the data directory's encrypted volume), not sealed blobs;
//! the [`Drives`] port keeps the file system out of the core. Data reaches S: from outside only
//! through File Transfer: an accepted arrival is placed there ([`Drives::place`]).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::blobs::ByteStream;

/// One drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drive {
    /// N:, a user's own home in one asset: a user has one per asset they work on, so that
    /// nothing of one asset's data travels to another's through it (its S: and outputs are
    /// kept apart by group; a home shared across assets would undo that).
    Home { user: String, asset: String },
    /// S:, shared by an asset's members.
    Shared(String),
    /// An asset's outputs area: results waiting for an egress request.
    Outputs(String),
    /// A batch job's own folder (its script and log), never mounted in a sandbox: Haven gives
    /// the script as the job's input and writes what it prints. Kept with the asset's data (it
    /// is erased with the asset).
    Job { asset: String, id: String },
}

impl Drive {
    /// What people call it.
    pub fn label(&self) -> String {
        match self {
            Drive::Home { user, asset } => format!("N: ({user}'s home in {asset})"),
            Drive::Shared(asset) => format!("S: (shared drive of {asset})"),
            Drive::Outputs(asset) => format!("outputs of {asset}"),
            Drive::Job { asset, id } => format!("batch job {id} of {asset}"),
        }
    }

    /// Its place under the drives directory. User ids and asset names are checked where they
    /// are made (lower-case letters, digits, `-`, `_`, `.`), so they are safe path components.
    pub fn relative_path(&self) -> String {
        match self {
            Drive::Home { user, asset } => format!("assets/{asset}/homes/{user}"),
            Drive::Shared(asset) => format!("assets/{asset}/shared"),
            Drive::Outputs(asset) => format!("assets/{asset}/outputs"),
            Drive::Job { asset, id } => format!("assets/{asset}/jobs/{id}"),
        }
    }
}

/// How much each kind of drive may hold, in GiB. Haven checks the quota before it writes into a
/// drive; what sessions write is bounded by the file system's own quotas (docs/applications.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DrivesConfig {
    /// Where the drives live; default `<data_dir>/drives`. Several nodes need one shared
    /// file system here (the same path on each), as sessions and jobs on any node use them.
    pub root: Option<std::path::PathBuf>,
    pub home_quota_gib: u64,
    pub shared_quota_gib: u64,
    pub outputs_quota_gib: u64,
}

impl Default for DrivesConfig {
    fn default() -> Self {
        DrivesConfig { root: None, home_quota_gib: 20, shared_quota_gib: 500, outputs_quota_gib: 20 }
    }
}

const GIB: u64 = 1024 * 1024 * 1024;

impl DrivesConfig {
    pub fn validate(&self) -> Result<(), String> {
        if let Some(root) = self.root.as_ref().filter(|r| !r.is_absolute()) {
            return Err(format!("drives.root is {}; give an absolute path", root.display()));
        }
        for (key, v) in [
            ("drives.home_quota_gib", self.home_quota_gib),
            ("drives.shared_quota_gib", self.shared_quota_gib),
            ("drives.outputs_quota_gib", self.outputs_quota_gib),
        ] {
            if !(1..=1_000_000).contains(&v) {
                return Err(format!("{key} is {v}; give a size in GiB from 1 to 1000000"));
            }
        }
        Ok(())
    }

    /// The quota of `drive`, in bytes.
    pub fn quota(&self, drive: &Drive) -> u64 {
        GIB * match drive {
            Drive::Home { .. } => self.home_quota_gib,
            Drive::Shared(_) => self.shared_quota_gib,
            Drive::Outputs(_) | Drive::Job { .. } => self.outputs_quota_gib,
        }
    }
}

/// A file or folder in a drive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
    pub modified_us: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error("{drive} is full: {used} of its {quota} bytes are used, and this needs {need} more")]
    Full { drive: String, used: u64, quota: u64, need: u64 },
    #[error("no such file or folder")]
    NotFound,
    #[error("{0}")]
    BadName(String),
    /// The bytes given did not arrive whole (the source failed part-way); nothing was kept.
    #[error("the file could not be read whole: {0}")]
    Input(String),
    #[error("the drive could not be written: {0}")]
    Io(String),
}

#[async_trait]
pub trait Drives: Send + Sync {
    /// Writes `data` (`size` bytes) into `drive` as a new file called `name` (a safe name,
    /// [`crate::transfer::names::sanitise`]), whole or not at all: never over a file already
    /// there (a taken name gets ` (2)`, ` (3)`… before its extension), never past `quota`
    /// bytes in the drive. The name it was given.
    async fn place(
        &self,
        drive: &Drive,
        name: &str,
        size: u64,
        quota: u64,
        data: ByteStream,
    ) -> Result<String, DriveError>;

    /// The bytes of the file at `path` (`/`-separated) in `drive`, and its size: a regular file,
    /// reached without following a link at any step (what a session made could point anywhere).
    async fn open(&self, drive: &Drive, path: &str) -> Result<(ByteStream, u64), DriveError>;

    /// Removes a file `place` wrote (when what it was for did not happen).
    async fn remove(&self, drive: &Drive, name: &str) -> Result<(), DriveError>;

    /// The files and folders in `dir` (a `/`-separated path inside the drive, `""` for its top),
    /// folders first, then by name.
    async fn list(&self, drive: &Drive, dir: &str) -> Result<Vec<Entry>, DriveError>;

    /// The last `max` bytes of the file `name` at the top of `drive`, and its whole size.
    async fn tail(&self, drive: &Drive, name: &str, max: u64) -> Result<(bytes::Bytes, u64), DriveError>;

    /// The bytes the drive's files hold.
    async fn usage(&self, drive: &Drive) -> Result<u64, DriveError>;

    /// Give `drive` to a session's identities, making it if new: N: to its user's `uid` (and
    /// group `gid`), mode 0700; S: and outputs to the asset's group `gid` (owner `uid`, root
    /// when 0), mode 2770, so that what one member writes the others can read. Files already
    /// in it that Haven placed (accepted arrivals) go to the same owner and group.
    async fn grant(&self, drive: &Drive, uid: u32, gid: u32) -> Result<(), DriveError>;

    /// Delete an asset's S:, outputs and its members' homes in it, everything in them (its data
    /// was crypto-shredded).
    /// Whether there was anything to delete.
    async fn erase_asset(&self, asset: &str) -> Result<bool, DriveError>;
}

/// The name to try after `name` was taken, the `n`th time (from 2): `data (2).csv`, the stem
/// cut (on a character boundary) so that it stays within 255 bytes.
pub fn numbered(name: &str, n: u32) -> String {
    let (stem, ext) = match name.rfind('.').filter(|&i| i > 0) {
        Some(i) => name.split_at(i),
        None => (name, ""),
    };
    let suffix = format!(" ({n}){ext}");
    let mut end = stem.len().min(255usize.saturating_sub(suffix.len()));
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", &stem[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taken_names_are_numbered_before_the_extension() {
        assert_eq!(numbered("data.csv", 2), "data (2).csv");
        assert_eq!(numbered("archive.tar.gz", 3), "archive.tar (3).gz");
        assert_eq!(numbered("README", 2), "README (2)");
        assert_eq!(numbered(".profile", 2), ".profile (2)");
        let long = format!("{}.csv", "é".repeat(125));
        let n = numbered(&long, 10);
        assert!(n.len() <= 255 && n.ends_with(" (10).csv"), "{n}");
    }

    #[test]
    fn each_drive_has_its_own_place_and_quota() {
        let c = DrivesConfig::default();
        let n = Drive::Home { user: "ada".into(), asset: "heart".into() };
        assert_eq!(n.relative_path(), "assets/heart/homes/ada");
        assert_eq!(Drive::Shared("heart".into()).relative_path(), "assets/heart/shared");
        assert_eq!(Drive::Outputs("heart".into()).relative_path(), "assets/heart/outputs");
        assert_eq!(c.quota(&n), 20 * GIB);
        assert!(DrivesConfig { home_quota_gib: 0, ..c.clone() }.validate().is_err());
        assert!(c.validate().is_ok());
    }
}
