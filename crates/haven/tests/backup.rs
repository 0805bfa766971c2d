//! `haven backup` and `haven restore` on the embedded default, as an operator runs them: a backup
//! taken while Haven serves, restored into a new directory that then serves and verifies; a
//! wrong passphrase, a damaged object and a directory in use are refused with nothing kept.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use haven_testkit::process::Haven;
use haven_testkit::web::{Browser, onboarding_link, tus_create};
use object_store::{ObjectStore, ObjectStoreExt};

const BIN: &str = env!("CARGO_BIN_EXE_haven");

fn haven(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("HAVEN_CONFIG")
        .env("HAVEN_METRICS__LISTEN", "127.0.0.1:0")
        .output()
        .expect("run haven")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn ok(args: &[&str]) -> String {
    let out = haven(args);
    assert!(out.status.success(), "haven {args:?}: {}", text(&out));
    text(&out)
}

fn secret_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Send `data` through a drop-off link, whole.
async fn send(client: &reqwest::Client, link: &str, name: &str, data: &[u8]) {
    let at = tus_create(client, link, name, data.len()).await;
    let sent = client
        .patch(&at)
        .header("tus-resumable", "1.0.0")
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", "0")
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_restores_verified_or_not_at_all() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("live");
    let d = data.to_str().unwrap();
    let server = Haven::start(Path::new(BIN), &data, &[], &[]);

    // An asset with an arrival: sealed objects in the blob store.
    let browser = Browser::new(&server.url, &server.ca_pem(), None);
    browser
        .onboard(&onboarding_link(&ok(&["users", "add", "iona", "--email", "iona@example.org", "--data-dir", d])))
        .await;
    ok(&["users", "role", "iona", "staff", "--data-dir", d]);
    let today = haven_core::Clock::now(&haven_core::clock::SystemClock).date();
    let today = format!("{:04}-{:02}-{:02}", today.year(), u8::from(today.month()), today.day());
    ok(&["ig", "record", "iona", "data-security-awareness", &today, "--data-dir", d]);
    let asset =
        ["assets", "create", "cohort", "--iao", "iona", "--ig-ref", "IG/00001", "--classification", "identifiable"];
    ok(&[&asset[..], &["--data-dir", d]].concat());
    let made = ok(&["transfer", "link", "create", "--asset", "cohort", "--as", "iona", "--data-dir", d]);
    let link = made.split_whitespace().find(|w| w.contains("/transfer/drop/")).unwrap().to_string();
    let first: Vec<u8> = (0..2_500_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8).collect();
    send(&browser.client, &link, "before.csv", &first).await;

    // Refused before anything is written: no way to keep the keys, a directory in use.
    let backup = tmp.path().join("backup");
    let b = backup.to_str().unwrap();
    let out = haven(&["backup", "--to", b, "--data-dir", d]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--keys-passphrase-file"), "{}", text(&out));
    assert!(!backup.exists());
    let passphrase = tmp.path().join("passphrase");
    secret_file(&passphrase, "violet harbour ledger 42\n");
    let p = passphrase.to_str().unwrap();
    let out = haven(&["backup", "--to", tmp.path().to_str().unwrap(), "--keys-passphrase-file", p, "--data-dir", d]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("is not an empty directory"), "{}", text(&out));

    // Taken while Haven serves.
    let said = ok(&["backup", "--to", b, "--keys-passphrase-file", p, "--data-dir", d]);
    assert!(said.contains("Backed up to") && said.contains("keys encrypted under your passphrase"), "{said}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(backup.join("backup.json")).unwrap()).unwrap();
    assert!(manifest["objects"].as_u64().unwrap() >= 1, "{manifest}");
    assert!(!backup.join("master.key").exists(), "the keys are in the backup only encrypted");
    let sealed = std::fs::read_to_string(backup.join("keys.sealed")).unwrap();
    let master = std::fs::read(data.join("master.key")).unwrap();
    assert!(!sealed.contains(&hex::encode(&master)), "the master key is not in keys.sealed in the clear");
    // What happens after the backup is not in it.
    send(&browser.client, &link, "after.csv", b"written after the backup").await;
    let live = ok(&["audit", "export", "--data-dir", d, "--since", "2000-01-01", "--format", "jsonl"]);
    assert!(live.contains("\"backup.created\""), "the backup is audited where it was taken");
    assert!(server.stop().success());

    // A wrong passphrase, and a damaged object: refused, and nothing is left behind.
    let wrong = tmp.path().join("wrong");
    secret_file(&wrong, "not the passphrase at all");
    let target = tmp.path().join("restored");
    let t = target.to_str().unwrap();
    let out = haven(&["restore", "--from", b, "--keys-passphrase-file", wrong.to_str().unwrap(), "--data-dir", t]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("the passphrase does not open the backup's keys"), "{}", text(&out));
    assert!(!target.exists() && !tmp.path().join("restored.restoring").exists());

    let damaged = tmp.path().join("damaged");
    copy_tree(&backup, &damaged);
    let object = first_object(&damaged.join("blobs/objects"));
    let mut bytes = std::fs::read(&object).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&object, bytes).unwrap();
    let out = haven(&["restore", "--from", damaged.to_str().unwrap(), "--keys-passphrase-file", p, "--data-dir", t]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("failed its integrity check"), "{}", text(&out));
    assert!(!target.exists() && !tmp.path().join("restored.restoring").exists());

    // The backup restores: keys checked, the audit chain verified, every object opened.
    let said = ok(&["restore", "--from", b, "--keys-passphrase-file", p, "--data-dir", t]);
    assert!(said.contains("audit trail intact") && said.contains("opened and verified"), "{said}");
    let out = haven(&["restore", "--from", b, "--keys-passphrase-file", p, "--data-dir", t]);
    assert_eq!(out.status.code(), Some(2), "a Haven is not restored over: {}", text(&out));
    assert!(text(&out).contains("already holds a Haven"), "{}", text(&out));
    let arrivals = ok(&["transfer", "arrivals", "--asset", "cohort", "--data-dir", t]);
    assert!(arrivals.contains(&hex::encode(haven_crypto::sha256(&first))), "{arrivals}");
    assert!(!arrivals.contains("after.csv"), "{arrivals}");
    let restored = Haven::start(Path::new(BIN), &target, &[], &[]);
    assert!(restored.stop().success());
    let verified = ok(&["audit", "verify", "--data-dir", t]);
    assert!(verified.contains("Audit trail intact"), "{verified}");
    let trail = ok(&["audit", "export", "--data-dir", t, "--since", "2000-01-01", "--format", "jsonl"]);
    assert!(trail.contains("\"backup.restored\""), "the restore is audited in the restored trail");
}

/// What an operator of several nodes does instead of `haven backup` (docs/scale-out.md): the
/// database with pg_dump, the bucket copied object by object, the key files kept apart; restored
/// with pg_restore into a new database and the copy as a new bucket, then checked with
/// `haven audit verify --objects`, which also finds a missing or damaged object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_and_s3_haven_restored_with_their_own_tools_verifies_every_object() {
    let (Some(live_db), Some(s3)) =
        (haven_testkit::db::empty_postgres().await, haven_testkit::tool("HAVEN_TEST_S3_ENDPOINT"))
    else {
        assert!(!haven_testkit::strict(), "HAVEN_TEST_POSTGRES_URL is required under CI=true");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let config = |name: &str, db: &str, bucket: &str| {
        let path = tmp.path().join(format!("{name}.toml"));
        let toml = format!(
            "[database]\nurl = \"{db}\"\n[blobs]\nurl = \"s3://{bucket}/blobs\"\n[blobs.s3]\nregion = \"us-east-1\"\n\
             endpoint = \"{s3}\"\naccess_key_id = \"testing\"\nsecret_access_key = \"testing\"\nallow_http = true\n\
             [keys]\nmaster_key_file = \"{k}/master.key\"\naudit_key_file = \"{k}/audit.key\"\n",
            k = keys.display()
        );
        std::fs::write(&path, toml).unwrap();
        path.to_str().unwrap().to_string()
    };
    let live_bucket = haven_testkit::app::s3_bucket(&s3).await;
    let live = config("live", &live_db, &live_bucket.bucket);
    let data = tmp.path().join("live-data");
    let d = data.to_str().unwrap();
    let server = Haven::start(Path::new(BIN), &data, &["--config", &live], &[]);
    let on_live = |args: &[&str]| ok(&[args, &["--config", &live, "--data-dir", d]].concat());
    let browser = Browser::new(&server.url, &server.ca_pem(), None);
    browser.onboard(&onboarding_link(&on_live(&["users", "add", "iona", "--email", "iona@example.org"]))).await;
    on_live(&["users", "role", "iona", "staff"]);
    let today = haven_core::Clock::now(&haven_core::clock::SystemClock).date();
    let today = format!("{:04}-{:02}-{:02}", today.year(), u8::from(today.month()), today.day());
    on_live(&["ig", "record", "iona", "data-security-awareness", &today]);
    on_live(&[
        "assets",
        "create",
        "cohort",
        "--iao",
        "iona",
        "--ig-ref",
        "IG/00001",
        "--classification",
        "identifiable",
    ]);
    let made = on_live(&["transfer", "link", "create", "--asset", "cohort", "--as", "iona"]);
    let link = made.split_whitespace().find(|w| w.contains("/transfer/drop/")).unwrap().to_string();
    let first: Vec<u8> = (0..1_500_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8).collect();
    send(&browser.client, &link, "cohort.csv", &first).await;
    assert!(server.stop().success());

    // Backed up with the database's and the store's own tools.
    let dump = tmp.path().join("haven.dump");
    let pg_dump = Command::new("pg_dump").args(["--format=custom", "--file"]).arg(&dump).arg(&live_db).output();
    let pg_dump = pg_dump.expect("pg_dump (postgresql-client) is needed");
    assert!(pg_dump.status.success(), "{}", text(&pg_dump));
    let copy_bucket = haven_testkit::app::s3_bucket(&s3).await;
    let (from, to) = (bucket_store(&s3, &live_bucket.bucket), bucket_store(&s3, &copy_bucket.bucket));
    let listed: Vec<_> = futures::TryStreamExt::try_collect(from.list(None)).await.unwrap();
    assert!(!listed.is_empty());
    for object in &listed {
        let bytes = from.get(&object.location).await.unwrap().bytes().await.unwrap();
        to.put(&object.location, bytes.into()).await.unwrap();
    }

    // Restored into a new database and bucket, and checked.
    let restored_db = haven_testkit::db::empty_postgres().await.unwrap();
    let pg_restore =
        Command::new("pg_restore").args(["--no-owner", "--dbname", &restored_db]).arg(&dump).output().unwrap();
    assert!(pg_restore.status.success(), "{}", text(&pg_restore));
    let restored = config("restored", &restored_db, &copy_bucket.bucket);
    let t = tmp.path().join("restored-data");
    let check = |args: &[&str]| haven(&[args, &["--config", &restored, "--data-dir", t.to_str().unwrap()]].concat());
    let out = check(&["audit", "verify", "--objects"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Audit trail intact"), "{}", text(&out));
    assert!(text(&out).contains("Every object opened and verified"), "{}", text(&out));

    // A damaged object, then a missing one, is found and named; the failure is recorded.
    let largest = listed.iter().max_by_key(|o| o.size).unwrap();
    let mut bytes = to.get(&largest.location).await.unwrap().bytes().await.unwrap().to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    to.put(&largest.location, bytes.into()).await.unwrap();
    let out = check(&["audit", "verify", "--objects"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("failed its integrity check"), "{}", text(&out));
    to.delete(&largest.location).await.unwrap();
    let out = check(&["audit", "verify", "--objects"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("cannot be opened"), "{}", text(&out));
    let trail = check(&["audit", "export", "--since", "2000-01-01"]);
    assert_eq!(String::from_utf8_lossy(&trail.stdout).matches("\"audit.verify_failed\"").count(), 2);
}

fn bucket_store(endpoint: &str, bucket: &str) -> object_store::aws::AmazonS3 {
    object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region("us-east-1")
        .with_endpoint(endpoint)
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .with_allow_http(true)
        .build()
        .unwrap()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The largest object file under `dir` (an uploaded part, not a small key record).
fn first_object(dir: &Path) -> std::path::PathBuf {
    let mut all = Vec::new();
    for shard in std::fs::read_dir(dir).unwrap() {
        for f in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            let f = f.unwrap();
            all.push((f.metadata().unwrap().len(), f.path()));
        }
    }
    all.sort();
    all.pop().expect("an object").1
}
