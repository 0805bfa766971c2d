//! argon2id off the async threads: each hash runs on tokio's blocking pool, and a semaphore caps
//! how many run at once, so a burst of sign-ins queues for the hasher instead of taking every core
//! (and every 19 MiB of memory) and stalling the rest of the server.

use std::sync::Arc;

use async_trait::async_trait;
use haven_core::identity::Hasher;
use haven_core::{CoreError, Rng};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

pub struct PooledHasher {
    permits: Semaphore,
    rng: Arc<dyn Rng>,
}

impl PooledHasher {
    /// `concurrency` hashes at once (at least 1).
    pub fn new(rng: Arc<dyn Rng>, concurrency: usize) -> Self {
        PooledHasher { permits: Semaphore::new(concurrency.max(1)), rng }
    }
}

#[async_trait]
impl Hasher for PooledHasher {
    async fn hash(&self, secret: Zeroizing<String>) -> Result<String, CoreError> {
        let _permit = self.permits.acquire().await.map_err(|_| CoreError::Unavailable("the hasher stopped".into()))?;
        let rng = self.rng.clone();
        tokio::task::spawn_blocking(move || haven_crypto::password::hash_password(&secret, rng.as_ref()))
            .await
            .map_err(|_| CoreError::Unavailable("a hashing task failed".into()))?
            .map_err(CoreError::from)
    }

    async fn verify(&self, phc: String, secret: Zeroizing<String>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else { return false };
        tokio::task::spawn_blocking(move || haven_crypto::password::verify_password(&phc, &secret))
            .await
            .unwrap_or(false)
    }
}
