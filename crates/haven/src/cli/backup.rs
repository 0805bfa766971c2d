//! `haven backup` and `haven restore`, for the embedded default (SQLite and a local blob
//! directory). A backup is an online, consistent copy: the sealed objects, the database from one
//! snapshot (`VACUUM INTO`), the objects written meanwhile, a check that every object the copy
//! records is in it, and the keys, encrypted under a passphrase. A restore is built beside the
//! target and becomes the data directory only once every part checked: the keys against the
//! database, the audit chain, and every object opened (its integrity tags verified). For
//! PostgreSQL and S3, docs/scale-out.md names their own tools.

use std::collections::HashSet;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use haven_core::audit::NewAuditEvent;
use haven_core::audit::{action, actor};
use haven_core::{CoreError, transact};
use haven_crypto::keys::{open_secret, seal_secret};
use haven_crypto::password::{PASSPHRASE_KDF, passphrase_key};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::usage;
use crate::app::{self, Mode};
use crate::config::Config;
use crate::datadir;

const FORMAT: &str = "haven-backup-v1";
const KEYS_FORMAT: &str = "haven-keys-v1";
const KEYS_CONTEXT: &[u8] = b"haven key backup v1";
const MANIFEST: &str = "backup.json";
const KEYS_FILE: &str = "keys.sealed";
const MIN_PASSPHRASE: usize = 12;

#[derive(clap::Args, Debug)]
pub struct Backup {
    /// A new (or empty) directory for the copy.
    #[arg(long)]
    to: PathBuf,
    /// A file holding the passphrase the keys are encrypted under (at least 12 characters).
    /// Keep the passphrase apart from the backup: with it, the backup opens everything.
    #[arg(long)]
    keys_passphrase_file: Option<PathBuf>,
    /// Leave the keys out (you keep `master.key` and `audit-signing.key` safe another way).
    #[arg(long, conflicts_with = "keys_passphrase_file")]
    without_keys: bool,
}

#[derive(clap::Args, Debug)]
pub struct Restore {
    /// The directory `haven backup --to` wrote.
    #[arg(long)]
    from: PathBuf,
    /// The file holding the passphrase the backup's keys were encrypted under.
    #[arg(long)]
    keys_passphrase_file: Option<PathBuf>,
}

/// What a backup holds, written last (a backup without it was interrupted).
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: String,
    created: String,
    haven: String,
    schema_version: i64,
    database_sha256: String,
    objects: u64,
    object_bytes: u64,
    keys: bool,
}

/// The two keys, sealed under a key from the passphrase.
#[derive(Serialize, Deserialize)]
struct SealedKeys {
    format: String,
    kdf: String,
    m_kib: u32,
    t: u32,
    p: u32,
    salt: String,
    sealed: String,
}

impl Backup {
    pub async fn run(self, config: Config) -> Result<i32> {
        if let Some(why) = not_embedded(&config, false) {
            return usage(why);
        }
        let passphrase = match (&self.keys_passphrase_file, self.without_keys) {
            (Some(file), _) => match passphrase(file) {
                Ok(p) => Some(p),
                Err(e) => return usage(e),
            },
            (None, true) => None,
            (None, false) => {
                return usage(
                    "give --keys-passphrase-file FILE (the keys are encrypted under it in the backup) or \
                     --without-keys (you keep the key files safe another way)"
                        .to_string(),
                );
            }
        };
        if let Err(e) = fresh_dir(&self.to) {
            return usage(e);
        }
        let blobs_dir = blobs_dir(&config);
        let key_paths = key_paths(&config);
        let app = app::open(config, Mode::Existing).await?;
        let to = self.to.clone();

        // The objects as they are, the database from one snapshot, then what was written between.
        let (mut copied, mut bytes) = (HashSet::new(), 0u64);
        let (src, dst) = (blobs_dir.clone(), to.join("blobs"));
        let (c, b) = blocking(move || copy_objects(&src, &dst, &HashSet::new(), "copying objects")).await?;
        copied.extend(c);
        bytes += b;
        app.store.snapshot_sqlite(&to.join("haven.db")).await.context("copy the database")?;
        let (src, dst, seen) = (blobs_dir.clone(), to.join("blobs"), copied.clone());
        let (c, b) = blocking(move || copy_objects(&src, &dst, &seen, "copying new objects")).await?;
        copied.extend(c);
        bytes += b;

        // Every object the copied database records must be in the copy.
        let db = to.join("haven.db");
        let (recorded, schema_version) =
            haven_store::snapshot_objects(&db).await.context("read the copied database")?;
        let missing: Vec<&String> = recorded.iter().filter(|id| !copied.contains(*id)).collect();
        if !missing.is_empty() {
            bail!(
                "{} object(s) the database records were deleted while it was copied (first: {}): an asset was shredded \
                 or an upload expired meanwhile. Nothing is wrong with Haven; run the backup again into a new directory.",
                missing.len(),
                missing[0]
            );
        }

        if let Some(passphrase) = passphrase {
            let sealed = seal_keys(&passphrase, &key_paths, app.rng.as_ref())?;
            datadir::write_private(&to.join(KEYS_FILE), &serde_json::to_vec_pretty(&sealed)?)?;
        }
        let manifest = Manifest {
            format: FORMAT.into(),
            created: app.clock.now().format(&time::format_description::well_known::Rfc3339)?,
            haven: env!("CARGO_PKG_VERSION").into(),
            schema_version,
            database_sha256: blocking(move || sha256_file(&db)).await?,
            objects: recorded.len() as u64,
            object_bytes: bytes,
            keys: self.keys_passphrase_file.is_some(),
        };
        datadir::write_private(&to.join(MANIFEST), &serde_json::to_vec_pretty(&manifest)?)?;
        sync_dir(&to);

        let details =
            serde_json::json!({"to": to.display().to_string(), "objects": manifest.objects, "keys": manifest.keys});
        audit(&app, action::BACKUP_CREATED, details).await?;
        app.store.close().await;
        super::say(format!(
            "Backed up to {}: the database (schema {}), {} object{}, {} bytes sealed, {}.",
            to.display(),
            manifest.schema_version,
            manifest.objects,
            if manifest.objects == 1 { "" } else { "s" },
            manifest.object_bytes,
            if manifest.keys {
                "the keys encrypted under your passphrase (keys.sealed)"
            } else {
                "no keys (keep master.key and audit-signing.key safe apart from it)"
            }
        ));
        super::say("Check it with `haven restore --from DIR --data-dir NEW` on another machine now and then.");
        Ok(0)
    }
}

impl Restore {
    pub async fn run(self, config: Config) -> Result<i32> {
        if let Some(why) = not_embedded(&config, true) {
            return usage(why);
        }
        let manifest = match std::fs::read(self.from.join(MANIFEST))
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<Manifest>(&b).map_err(|e| e.to_string()))
        {
            Ok(m) if m.format == FORMAT => m,
            Ok(m) => {
                return usage(format!("{} is a backup in format {:?}, not {FORMAT}", self.from.display(), m.format));
            }
            Err(e) => {
                return usage(format!(
                    "{} holds no readable {MANIFEST} ({e}): it is not a backup, or its backup was interrupted",
                    self.from.display()
                ));
            }
        };
        if manifest.schema_version > haven_store::KNOWN_VERSION {
            return usage(format!(
                "the backup was made by a newer Haven (schema {}; this Haven knows up to {}): restore it with that version",
                manifest.schema_version,
                haven_store::KNOWN_VERSION
            ));
        }
        let target = config.data_dir.clone();
        let data = config.data();
        if [data.database(), data.master_key(), data.audit_key()].iter().any(|p| p.exists()) {
            return usage(format!(
                "{} already holds a Haven; restore into a new --data-dir (nothing was changed)",
                target.display()
            ));
        }
        if target.exists() && std::fs::read_dir(&target).map(|mut d| d.next().is_some()).unwrap_or(true) {
            return usage(format!("{} is not empty; restore into a new --data-dir", target.display()));
        }
        let keys = match (&self.keys_passphrase_file, self.from.join(KEYS_FILE).exists()) {
            (Some(file), true) => match passphrase(file) {
                Ok(p) => Some(p),
                Err(e) => return usage(e),
            },
            (Some(_), false) => return usage("the backup holds no keys (it was made --without-keys)".to_string()),
            (None, _) => None,
        };

        // Built beside the target, which it becomes only once everything checked.
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "haven-data".into());
        let staging = target.with_file_name(format!("{name}.restoring"));
        if staging.exists() {
            std::fs::remove_dir_all(&staging)
                .with_context(|| format!("remove {} (left by an interrupted restore)", staging.display()))?;
        }
        datadir::ensure_dir(&staging)?;
        let outcome = self.build(&config, &staging, keys, &manifest).await;
        match outcome {
            Ok(summary) => {
                if target.exists() {
                    std::fs::remove_dir(&target).with_context(|| format!("replace the empty {}", target.display()))?;
                }
                std::fs::rename(&staging, &target)
                    .with_context(|| format!("move {} to {}", staging.display(), target.display()))?;
                super::say(format!("Restored into {}: {summary}.", target.display()));
                super::say(format!("Start it with `haven serve --data-dir {}`.", target.display()));
                Ok(0)
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                eprintln!("haven: the restore failed, and nothing was kept: {e:#}");
                Ok(1)
            }
        }
    }

    async fn build(
        &self,
        config: &Config,
        staging: &Path,
        keys: Option<Zeroizing<String>>,
        manifest: &Manifest,
    ) -> Result<String> {
        let from = self.from.clone();
        let db = from.join("haven.db");
        let expected = manifest.database_sha256.clone();
        let dest = staging.join("haven.db");
        blocking(move || {
            if sha256_file(&db)? != expected {
                bail!("the backup's database is not the one it was made with (its SHA-256 differs)");
            }
            std::fs::copy(&db, &dest).with_context(|| format!("copy {}", db.display()))?;
            Ok(())
        })
        .await?;
        let (src, dst) = (from.join("blobs"), staging.join("blobs"));
        blocking(move || copy_objects(&src, &dst, &HashSet::new(), "copying objects")).await?;
        let data = crate::datadir::DataDir::new(staging);
        match keys {
            Some(passphrase) => {
                let sealed: SealedKeys = serde_json::from_slice(&std::fs::read(from.join(KEYS_FILE))?)
                    .context("read the backup's keys.sealed")?;
                let (master, audit) = open_keys(&passphrase, &sealed)?;
                datadir::write_private(&data.master_key(), master.as_ref())?;
                datadir::write_private(&data.audit_key(), audit.as_ref())?;
            }
            // The key files the operator kept: named by the configuration, checked on opening.
            None if config.keys.master_key_file.is_some() && config.keys.audit_key_file.is_some() => {}
            None => bail!(
                "give --keys-passphrase-file (to open the backup's keys.sealed), or set keys.master_key_file and \
                 keys.audit_key_file to the key files you kept"
            ),
        }

        // Open it as Haven would: the keys are checked against the database here.
        let mut restored = config.clone();
        restored.data_dir = staging.to_path_buf();
        let app = app::open(restored, Mode::Existing).await?;
        let mut progress = |_: u64| {};
        let v = haven_core::audit::verify_trail(app.store.as_ref(), app.audit_key.public_key(), &mut progress).await?;
        if let Some(p) = v.problem {
            bail!("the audit trail in the backup is BROKEN at event {}: {p}", p.first_bad_seq());
        }
        let (objects, bytes) = super::audit::open_every_object(&app).await?;
        let details =
            serde_json::json!({"from": self.from.display().to_string(), "made": manifest.created, "objects": objects});
        audit(&app, action::BACKUP_RESTORED, details).await?;
        app.store.close().await;
        let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        Ok(format!(
            "audit trail intact ({}, {}), {} opened and verified ({bytes} bytes), backup made {}",
            plural(v.events, "event", "events"),
            plural(v.checkpoints, "signed checkpoint", "signed checkpoints"),
            plural(objects, "object", "objects"),
            manifest.created
        ))
    }
}

/// Why this configuration is not the embedded default `haven backup` copies (for a restore,
/// the target must be the default layout too), or None.
fn not_embedded(config: &Config, restore: bool) -> Option<String> {
    let sqlite = config.database_url().starts_with("sqlite:");
    let local = config.blobs.url.as_deref().is_none_or(|u| u.starts_with("file://"));
    if !sqlite || !local {
        return Some(
            "haven backup and restore copy the embedded default (SQLite and a local blob directory); for PostgreSQL \
             and S3 use their own tools (docs/scale-out.md, \"Backups\")"
                .into(),
        );
    }
    if restore && (config.database.url.is_some() || config.blobs.url.is_some()) {
        return Some(
            "haven restore writes the default layout into --data-dir: unset database.url and blobs.url".into(),
        );
    }
    None
}

fn blobs_dir(config: &Config) -> PathBuf {
    match config.blobs.url.as_deref() {
        Some(url) => PathBuf::from(url.trim_start_matches("file://")),
        None => config.data().blobs(),
    }
}

fn key_paths(config: &Config) -> (PathBuf, PathBuf) {
    let data = config.data();
    (
        config.keys.master_key_file.clone().unwrap_or_else(|| data.master_key()),
        config.keys.audit_key_file.clone().unwrap_or_else(|| data.audit_key()),
    )
}

fn passphrase(file: &Path) -> Result<Zeroizing<String>, String> {
    let bytes = datadir::read_private(file).map_err(|e| format!("--keys-passphrase-file: {e:#}"))?;
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| "--keys-passphrase-file: not UTF-8 text".to_string())?;
    let text = Zeroizing::new(text.trim_end_matches(['\n', '\r']).to_string());
    if text.chars().count() < MIN_PASSPHRASE {
        return Err(format!("--keys-passphrase-file: the passphrase must be at least {MIN_PASSPHRASE} characters"));
    }
    Ok(text)
}

/// `dir` does not exist (it is made, 0700) or is an empty directory.
fn fresh_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(false);
        if !empty {
            return Err(format!("{} is not an empty directory; give a new one to --to", dir.display()));
        }
    }
    datadir::ensure_dir(dir).map_err(|e| format!("{e:#}"))
}

fn seal_keys(passphrase: &str, (master, audit): &(PathBuf, PathBuf), rng: &dyn haven_core::Rng) -> Result<SealedKeys> {
    let mut both = Zeroizing::new(Vec::with_capacity(64));
    both.extend_from_slice(&datadir::read_private(master)?);
    both.extend_from_slice(&datadir::read_private(audit)?);
    if both.len() != 64 {
        bail!("the key files are not 32 bytes each");
    }
    let salt = haven_crypto::rng::random_array::<16>(rng)?;
    let key = passphrase_key(passphrase.as_bytes(), &salt)?;
    let (m_kib, t, p) = PASSPHRASE_KDF;
    Ok(SealedKeys {
        format: KEYS_FORMAT.into(),
        kdf: "argon2id".into(),
        m_kib,
        t,
        p,
        salt: hex::encode(salt),
        sealed: hex::encode(seal_secret(&key, &both, KEYS_CONTEXT, rng)?),
    })
}

type KeyBytes = Zeroizing<[u8; 32]>;

fn open_keys(passphrase: &str, sealed: &SealedKeys) -> Result<(KeyBytes, KeyBytes)> {
    if sealed.format != KEYS_FORMAT || sealed.kdf != "argon2id" || (sealed.m_kib, sealed.t, sealed.p) != PASSPHRASE_KDF
    {
        bail!("the backup's keys.sealed is in a form this Haven does not know ({})", sealed.format);
    }
    let salt: [u8; 16] = hex::decode(&sealed.salt)
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| anyhow!("the backup's keys.sealed is damaged (salt)"))?;
    let key = passphrase_key(passphrase.as_bytes(), &salt)?;
    let both = open_secret(&key, &hex::decode(&sealed.sealed).unwrap_or_default(), KEYS_CONTEXT)
        .map_err(|_| anyhow!("the passphrase does not open the backup's keys (or keys.sealed was changed)"))?;
    let split = |r: std::ops::Range<usize>| -> Result<KeyBytes> {
        let k: [u8; 32] =
            both.get(r).and_then(|s| s.try_into().ok()).ok_or_else(|| anyhow!("keys.sealed is damaged"))?;
        Ok(Zeroizing::new(k))
    };
    Ok((split(0..32)?, split(32..64)?))
}

/// Copy every object file under `src/objects` not in `skip` into `dst` (same layout, fsynced):
/// the ids copied and their bytes.
fn copy_objects(src: &Path, dst: &Path, skip: &HashSet<String>, what: &str) -> Result<(HashSet<String>, u64)> {
    let mut files = Vec::new();
    let objects = src.join("objects");
    if objects.exists() {
        for shard in std::fs::read_dir(&objects).with_context(|| format!("read {}", objects.display()))? {
            let shard = shard?.path();
            if !shard.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(&shard)? {
                let entry = entry?;
                let id = entry.file_name().to_string_lossy().into_owned();
                if haven_core::blobs::is_object_id(&id) && !skip.contains(&id) && entry.file_type()?.is_file() {
                    files.push((id, entry.path(), entry.metadata()?.len()));
                }
            }
        }
    }
    let bar = bar(files.iter().map(|f| f.2).sum(), what);
    let (mut ids, mut bytes) = (HashSet::new(), 0);
    for (id, path, _) in files {
        let dir = dst.join("objects").join(&id[..2]);
        datadir::ensure_private_dir(&dir)?;
        let target = dir.join(&id);
        match std::fs::copy(&path, &target) {
            Ok(n) => {
                std::fs::File::open(&target).and_then(|f| f.sync_all())?;
                bytes += n;
                bar.inc(n);
                ids.insert(id);
            }
            // Deleted since it was listed (a shred, an expiry): the check after names it if the
            // database still records it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("copy {}", path.display())),
        }
    }
    bar.finish_and_clear();
    Ok((ids, bytes))
}

/// Record `what` (done at the console) in the trail of `app`'s database.
async fn audit(app: &app::App, what: &str, details: serde_json::Value) -> Result<()> {
    let event = NewAuditEvent::new(app.clock.now(), actor::CONSOLE, what).details(details);
    transact(app.store.as_ref(), move |tx| {
        Box::pin(async move {
            tx.append_audit(event).await?;
            Ok::<_, CoreError>(())
        })
    })
    .await?;
    Ok(())
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut hash = haven_crypto::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(hex::encode(hash.finish()))
}

fn sync_dir(dir: &Path) {
    let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
}

/// A byte bar on a terminal (hidden otherwise, and for small copies).
fn bar(total: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() || total == 0 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}, {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| anyhow!("a copy stopped: {e}"))?
}
