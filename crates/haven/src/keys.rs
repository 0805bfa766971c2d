//! The deployment's two keys (master and audit-signing), checked against what the database
//! recorded when they were first used (or, on a database from before that record, against the
//! project keys and checkpoints it holds). Every node of a deployment, and a restored one, must
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

/// The master key at `path`, created only on a database that holds nothing it would protect.
/// A database from before the check was recorded is checked against a project key it holds.
pub async fn master(store: &dyn Store, path: &Path, rng: &dyn Rng) -> Result<Key256> {
    let (recorded, wrapped) = read(store, |tx| {
        Box::pin(async move {
            let check = tx.setting(MASTER_CHECK).await?;
            let wrapped = if check.is_none() { tx.any_project_key().await? } else { None };
            Ok::<_, CoreError>((check, wrapped))
        })
    })
    .await?;
    let known = recorded.is_some() || wrapped.is_some();
    let key = Key256::from_bytes(load(path, known, rng, "master key", "keys.master_key_file")?.as_ref())?;
    let opens =
        |check: &str| open_secret(&key, &hex::decode(check.trim()).unwrap_or_default(), MASTER_CHECK_CONTEXT).is_ok();
    let stored = match recorded {
        Some(check) => check,
        None => {
            if let Some((project, version, wrapped)) = wrapped
                && !haven_core::keyring::opens(&key, &project, version, &wrapped)
            {
                bail!(mismatch(path, "master key", "keys.master_key_file"));
            }
            let sealed = hex::encode(seal_secret(&key, b"haven", MASTER_CHECK_CONTEXT, rng)?);
            record(store, MASTER_CHECK, sealed).await?
        }
    };
    if !opens(&stored) {
        bail!(mismatch(path, "master key", "keys.master_key_file"));
    }
    Ok(key)
}

/// The audit signing key at `path`, created only on a database with no signed checkpoint. A
/// database from before the check was recorded is checked against its newest checkpoint.
pub async fn audit(store: &dyn Store, path: &Path, rng: &dyn Rng) -> Result<SigningKey> {
    let (recorded, newest) = read(store, |tx| {
        Box::pin(async move {
            let public = tx.setting(AUDIT_PUBLIC).await?;
            let newest = if public.is_none() { tx.audit_checkpoints().await?.pop() } else { None };
            Ok::<_, CoreError>((public, newest))
        })
    })
    .await?;
    let known = recorded.is_some() || newest.is_some();
    let seed = load(path, known, rng, "audit signing key", "keys.audit_key_file")?;
    let key = SigningKey::from_seed(seed.as_ref())?;
    let public = hex::encode(key.public_key());
    let stored = match recorded {
        Some(p) => p,
        None => {
            if let Some(c) = newest
                && !haven_crypto::signing::verify(&key.public_key(), &c.message(), &c.signature)
            {
                bail!(mismatch(path, "audit signing key", "keys.audit_key_file"));
            }
            record(store, AUDIT_PUBLIC, public.clone()).await?
        }
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
