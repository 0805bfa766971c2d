//! The deployment's two keys (master and audit-signing), checked against what the database
//! recorded when they were first used. Every node of a deployment, and a restored one, must
//! have the same keys: a node given another (a mistyped path, a key file not copied) is refused
//! before it writes anything, rather than making a key of its own that cannot read what the
//! first protects, or signing checkpoints that do not verify.

use std::path::Path;

use anyhow::{Result, bail};
use haven_core::{CoreError, Rng, Store, read, transact};
use haven_crypto::keys::{Key256, open_secret, seal_secret};
use haven_crypto::signing::SigningKey;

use crate::datadir;

/// The master key's check: a known value sealed under it.
const MASTER_CHECK: &str = "keys.master_check";
const MASTER_CHECK_CONTEXT: &[u8] = b"haven master key check v1";
/// The audit signing key's public half.
const AUDIT_PUBLIC: &str = "keys.audit_public_key";

/// The master key at `path`, created only if the database has never known one.
pub async fn master(store: &dyn Store, path: &Path, rng: &dyn Rng) -> Result<Key256> {
    let recorded = recorded(store, MASTER_CHECK).await?;
    let key = Key256::from_bytes(load(path, recorded.is_some(), rng, "master key", "keys.master_key_file")?.as_ref())?;
    match recorded {
        Some(check) => {
            let sealed = hex::decode(check.trim()).unwrap_or_default();
            if open_secret(&key, &sealed, MASTER_CHECK_CONTEXT).is_err() {
                bail!(mismatch(path, "master key", "keys.master_key_file"));
            }
        }
        None => {
            let sealed = hex::encode(seal_secret(&key, b"haven", MASTER_CHECK_CONTEXT, rng)?);
            let stored = record(store, MASTER_CHECK, sealed.clone()).await?;
            let ours = stored == sealed
                || open_secret(&key, &hex::decode(stored.trim()).unwrap_or_default(), MASTER_CHECK_CONTEXT).is_ok();
            if !ours {
                bail!(mismatch(path, "master key", "keys.master_key_file"));
            }
        }
    }
    Ok(key)
}

/// The audit signing key at `path`, created only if the database has never known one.
pub async fn audit(store: &dyn Store, path: &Path, rng: &dyn Rng) -> Result<SigningKey> {
    let recorded = recorded(store, AUDIT_PUBLIC).await?;
    let seed = load(path, recorded.is_some(), rng, "audit signing key", "keys.audit_key_file")?;
    let key = SigningKey::from_seed(seed.as_ref())?;
    let public = hex::encode(key.public_key());
    let stored = match recorded {
        Some(p) => p,
        None => record(store, AUDIT_PUBLIC, public.clone()).await?,
    };
    if stored.trim() != public {
        bail!(mismatch(path, "audit signing key", "keys.audit_key_file"));
    }
    Ok(key)
}

fn load(path: &Path, known: bool, rng: &dyn Rng, what: &str, setting: &str) -> Result<zeroize::Zeroizing<[u8; 32]>> {
    if known && !path.exists() {
        bail!(
            "the {what} file {} does not exist, but this database was made with a {what}. Copy the key file from a \
             node of this deployment (or restore it from the key backup) to that path, or set {setting} to where it \
             is. Haven does not make a new one: it could not read or vouch for what the old one protects.",
            path.display()
        );
    }
    datadir::key_file(path, rng, what)
}

fn mismatch(path: &Path, what: &str, setting: &str) -> String {
    format!(
        "{} is not the {what} this database was made with: every node of a deployment needs the same key file. \
         Copy it from a node that starts, or set {setting} to the right file.",
        path.display()
    )
}

async fn recorded(store: &dyn Store, name: &'static str) -> Result<Option<String>> {
    Ok(read(store, move |tx| Box::pin(async move { Ok::<_, CoreError>(tx.setting(name).await?) })).await?)
}

/// Record `value` unless a node starting at the same time recorded one first: what is stored.
async fn record(store: &dyn Store, name: &'static str, value: String) -> Result<String> {
    let stored = transact(store, move |tx| {
        Box::pin(async move {
            if let Some(first) = tx.setting(name).await? {
                return Ok::<_, CoreError>(first);
            }
            tx.set_setting(name, &value).await?;
            Ok(value)
        })
    })
    .await?;
    Ok(stored)
}
