//! Test databases: a fresh SQLite file per test, and a fresh PostgreSQL database per test when
//! `HAVEN_TEST_POSTGRES_URL` names a server (CI always sets it; without it under `CI=true` the
//! PostgreSQL tests fail rather than skip).

use std::sync::atomic::{AtomicU32, Ordering};

use haven_store::SqlStore;
use sqlx::Executor;

pub struct TestDb {
    pub store: SqlStore,
    pub url: String,
    /// Keeps the SQLite file alive for the test.
    pub dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// Run `sql` below the port (a test that tampers with what Haven wrote).
    pub async fn execute(&self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(self.store.pool()).await.expect("run SQL");
    }

    /// Another store over the same database, with its own connections and writer: what a
    /// second Haven node has.
    pub async fn another_node(&self) -> SqlStore {
        haven_store::connect(&self.url).await.expect("open the database again")
    }
}

/// Open (and migrate) the database at `url`, as `haven serve` does.
pub async fn connect(url: &str) -> Result<SqlStore, haven_core::StoreError> {
    haven_store::connect(url).await
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/haven.db", dir.path().display());
    let store = haven_store::connect(&url).await.expect("open sqlite");
    TestDb { store, url, dir: Some(dir) }
}

/// The PostgreSQL server for tests, or None to skip (never None under CI=true).
pub fn postgres_url() -> Option<String> {
    match std::env::var("HAVEN_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if crate::strict() => {
            panic!("HAVEN_TEST_POSTGRES_URL is not set, and CI=true forbids skipping the PostgreSQL tests")
        }
        _ => None,
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);
static PROCESS_TAG: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new().build_hasher().finish()
});

/// Drop the test databases of test processes that have ended.
async fn sweep(admin: &mut sqlx::AnyConnection) {
    use sqlx::Row;
    let Ok(rows) = sqlx::query("SELECT datname::text FROM pg_database WHERE datname LIKE 'haven_test_%'")
        .fetch_all(&mut *admin)
        .await
    else {
        return;
    };
    for row in rows {
        let Ok(name) = row.try_get::<String, _>(0) else {
            continue;
        };
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await;
        }
    }
}

pub async fn postgres() -> Option<TestDb> {
    let url = empty_postgres().await?;
    let store = haven_store::connect(&url).await.expect("open postgres");
    Some(TestDb { store, url, dir: None })
}

/// The URL of a new, empty PostgreSQL database (None to skip, as [`postgres_url`]).
pub async fn empty_postgres() -> Option<String> {
    use sqlx::Connection;
    let base = postgres_url()?;
    sqlx::any::install_default_drivers();
    let mut admin = sqlx::AnyConnection::connect(&base).await.expect("connect to HAVEN_TEST_POSTGRES_URL");
    sweep(&mut admin).await;
    // pid (so ended processes' databases can be swept), a per-process random tag (pids are
    // recycled quickly: pid_max can be 32768), and a counter.
    let name =
        format!("haven_test_{}_{:016x}_{}", std::process::id(), *PROCESS_TAG, COUNTER.fetch_add(1, Ordering::SeqCst));
    let _ = admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await;
    admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create test database");
    Some(replace_db(&base, &name))
}

fn replace_db(url: &str, db: &str) -> String {
    let (head, query) = url.split_once('?').map(|(h, q)| (h, Some(q))).unwrap_or((url, None));
    let base = match head.rfind('/') {
        Some(i) if i > "postgres://".len() => &head[..i],
        _ => head,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}
