//! TOTP verifications per second with replay bookkeeping, on SQLite and on PostgreSQL (when
//! HAVEN_TEST_POSTGRES_URL is set): what sign-in does after its argon2 checks. Each verification
//! reads the token, checks the code (±1 step around the learned drift, above the last used step),
//! then in one unit of work re-reads the token, refuses a step already used, stores the new last
//! step and drift, and appends the audit event. 64 concurrent clients, 2,000 tokens.
//! Run: `cargo bench -p haven-store --bench totp_verify`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark code

use std::sync::Arc;
use std::time::Instant;

use haven_core::audit::NewAuditEvent;
use haven_core::identity::otp_check;
use haven_core::identity::records::{OtpKind, OtpTokenRecord, TokenState};
use haven_core::{CoreError, Store, read, transact};
use haven_crypto::otp::{Algorithm, OtpKey};

const TOKENS: usize = 2_000;
const CLIENTS: usize = 64;
const ROUNDS: i64 = 5;
const BASE_STEP: i64 = 60_000_000;

fn token(i: usize) -> OtpTokenRecord {
    OtpTokenRecord {
        serial: format!("BENCH{i:06}"),
        user_id: None,
        kind: OtpKind::Totp,
        product: "mobileid_totp".into(),
        algorithm: "SHA1".into(),
        digits: 6,
        period: 30,
        seed_sealed: vec![0; 48],
        counter: 0,
        last_step: -1,
        drift: 0,
        pin_hash: None,
        state: TokenState::Active,
        failures: 0,
        created_us: 0,
        last_used_us: 0,
    }
}

/// One verification as sign-in does it; whether the code was accepted.
async fn verify(store: &dyn Store, key: &OtpKey, serial: String, step: i64) -> bool {
    let code = key.code(step as u64);
    let now = step * 30 + 5;
    let s = serial.clone();
    let t =
        read(store, move |tx| Box::pin(async move { Ok::<_, CoreError>(tx.token(&s).await?) })).await.unwrap().unwrap();
    let Some(matched) = otp_check::check(&t, key, &code, now) else { return false };
    transact(store, move |tx| {
        Box::pin(async move {
            let mut t = tx.token(&serial).await?.ok_or(CoreError::NotFound)?;
            if matched.position <= t.last_step {
                return Ok::<_, CoreError>(false);
            }
            matched.apply(&mut t);
            t.last_used_us = now * 1_000_000;
            tx.put_token(&t).await?;
            tx.append_audit(
                NewAuditEvent::new(time::OffsetDateTime::UNIX_EPOCH, "bench", "signin.succeeded")
                    .target("bench")
                    .details(serde_json::json!({"factor": "token", "token": serial})),
            )
            .await?;
            Ok(true)
        })
    })
    .await
    .unwrap()
}

async fn run(name: &str, store: Arc<dyn Store>) {
    let key = Arc::new(OtpKey::new(b"12345678901234567890", Algorithm::Sha1, 6).unwrap());
    transact(store.as_ref(), |tx| {
        Box::pin(async move {
            for i in 0..TOKENS {
                tx.put_token(&token(i)).await?;
            }
            Ok::<_, CoreError>(())
        })
    })
    .await
    .unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move {
                let mut ok = 0u64;
                for round in 0..ROUNDS {
                    for i in (c..TOKENS).step_by(CLIENTS) {
                        ok += u64::from(verify(store.as_ref(), &key, format!("BENCH{i:06}"), BASE_STEP + round).await);
                    }
                }
                // A replay of the last step is refused.
                assert!(!verify(store.as_ref(), &key, format!("BENCH{c:06}"), BASE_STEP + ROUNDS - 1).await);
                ok
            })
        })
        .collect();
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(accepted, (TOKENS as u64) * ROUNDS as u64);
    println!(
        "{name}: {accepted} TOTP verifications in {secs:.2} s = {:.0}/s ({CLIENTS} concurrent clients)",
        accepted as f64 / secs
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sqlite = haven_testkit::db::sqlite().await;
    run("SQLite (WAL, synchronous=FULL)", Arc::new(sqlite.store.clone())).await;
    match haven_testkit::db::postgres().await {
        Some(pg) => run("PostgreSQL (loopback, fsync on)", Arc::new(pg.store.clone())).await,
        None => println!("PostgreSQL: skipped (set HAVEN_TEST_POSTGRES_URL)"),
    }
}
