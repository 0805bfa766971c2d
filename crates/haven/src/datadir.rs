//! The data directory: [`DataDir`] names every path in it, and the helpers below create it
//! (0700) and its private files (0600); a key file that others can read is refused rather than
//! used.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use haven_crypto::Rng;
use zeroize::Zeroizing;

/// Every path in the data directory, named once.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// The SQLite database (unless `database.url` names another).
    pub fn database(&self) -> PathBuf {
        self.root.join("haven.db")
    }
    /// Local blob storage (unless `blobs.url` names another).
    /// N:, S: and outputs (`haven_store::drives`).
    pub fn drives(&self) -> PathBuf {
        self.root.join("drives")
    }
    /// Running sessions' run directories (configuration, the repository's socket).
    pub fn sessions(&self) -> PathBuf {
        self.root.join("sessions")
    }

    pub fn blobs(&self) -> PathBuf {
        self.root.join("blobs")
    }
    /// The master key (unless `keys.master_key_file` names another).
    pub fn master_key(&self) -> PathBuf {
        self.root.join("master.key")
    }
    /// The audit trail's signing key; its presence marks a Haven data directory.
    pub fn audit_key(&self) -> PathBuf {
        self.root.join("audit-signing.key")
    }
    /// The audit signing key's public half, for verifiers.
    pub fn audit_public_key(&self) -> PathBuf {
        self.root.join("audit-signing.pub")
    }
    /// Emails, while no SMTP relay is configured.
    pub fn outbox(&self) -> PathBuf {
        self.root.join("outbox")
    }
    /// The internal CA and the server certificate.
    pub fn tls(&self) -> PathBuf {
        self.root.join("tls")
    }
    /// Where `haven serve` records the URL it serves at, for console commands run beside it.
    fn served_url_file(&self) -> PathBuf {
        self.root.join("served-url")
    }

    /// Record the URL this data directory is being served at.
    pub fn record_served_url(&self, url: &str) -> Result<()> {
        write_private(&self.served_url_file(), format!("{url}\n").as_bytes())
    }

    /// The URL the last `haven serve` recorded, if it reads as one.
    pub fn served_url(&self) -> Option<String> {
        let text = fs::read_to_string(self.served_url_file()).ok()?;
        let url = text.trim();
        let plausible =
            url.starts_with("https://") && !url.ends_with('/') && url.len() < 512 && !url.contains(char::is_whitespace);
        plausible.then(|| url.to_string())
    }
}

/// Create `dir` (0700) if needed and check that Haven can write to it.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        if !dir.is_dir() {
            bail!("{} exists but is not a directory; choose another --data-dir", dir.display());
        }
    } else {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).with_context(|| {
            format!(
                "cannot create the data directory {}; check the parent's permissions or choose another --data-dir",
                dir.display()
            )
        })?;
    }
    let probe = dir.join(".haven-write-test");
    fs::write(&probe, b"").and_then(|_| fs::remove_file(&probe)).with_context(|| {
        format!(
            "the data directory {} is not writable by this user; fix its permissions or choose another --data-dir",
            dir.display()
        )
    })?;
    let mode = fs::metadata(dir)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        tracing::warn!(dir = %dir.display(), was = format!("{mode:o}"), "tightened the data directory's permissions to 0700");
    }
    Ok(())
}

/// A directory inside the data directory (see [`DataDir`]), created 0700 if missing.
pub fn ensure_private_dir(sub: &Path) -> Result<PathBuf> {
    let sub = sub.to_path_buf();
    if !sub.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&sub)
            .with_context(|| format!("cannot create {}", sub.display()))?;
    }
    Ok(sub)
}

/// Write `bytes` to a new file with mode 0600, atomically (temp file + rename).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Read a secret file, refusing one that group or others can read.
pub fn read_private(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "{} can be read by other users (mode {mode:o}); run `chmod 600 {}` and start again",
            path.display(),
            path.display()
        );
    }
    Ok(Zeroizing::new(fs::read(path).with_context(|| format!("cannot read {}", path.display()))?))
}

/// A 32-byte key file: read it, or create it with fresh random bytes.
pub fn key_file(path: &Path, rng: &dyn Rng, what: &str) -> Result<Zeroizing<[u8; 32]>> {
    if path.exists() {
        let bytes = read_private(path)?;
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            anyhow::anyhow!("{} is not a {what} (expected 32 bytes, found {})", path.display(), bytes.len())
        })?;
        return Ok(Zeroizing::new(key));
    }
    let key = Zeroizing::new(haven_crypto::rng::random_array::<32>(rng)?);
    write_private(path, key.as_ref())?;
    tracing::info!(path = %path.display(), "created the {what}");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_are_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let rng = haven_crypto::SystemRng::new();
        let path = dir.path().join("master.key");
        let a = key_file(&path, &rng, "master key").unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let b = key_file(&path, &rng, "master key").unwrap();
        assert_eq!(*a, *b);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(key_file(&path, &rng, "master key").unwrap_err().to_string().contains("chmod 600"));
    }

    #[test]
    fn data_dir_is_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("a/b");
        ensure_dir(&d).unwrap();
        assert_eq!(fs::metadata(&d).unwrap().permissions().mode() & 0o777, 0o700);
    }
}
